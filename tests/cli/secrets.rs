//! Secrets never reach output: TURN passwords (flag and environment), TURN
//! REST shared secrets (and the passwords derived from them) and credentials
//! from an iceServers file are searched for in stdout (JSON, HTML, table)
//! and stderr at every verbosity (none, -v, -vv, -vvv) of `natscope turn`,
//! `natscope ice`, `natscope diagnose` and `natscope stun --ice-servers`.
//!
//! The servers are natscope's embedded TURN server on loopback (so the
//! credentials are really used: the TURN runs authenticate) and closed
//! loopback ports.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use crate::support::{json_of, natscope};
use model::servers::Secret;
use probe::turn::creds::{rest_password, rest_username, unix_now};
use serde_json::Value;
use servers::turn::{TurnServer, TurnServerConfig};

/// The long-term TURN password given on the command line / environment.
const PASSWORD: &str = "Zq7TurnPasswordD41f9cNeverPrint";
/// The TURN REST API shared secret.
const REST_SECRET: &str = "Rk3RestSharedSecret77abNeverPrint";
/// The credential of the iceServers file's TURN entry.
const ICE_CREDENTIAL: &str = "Ic9IceServersCredential5e0dNeverPrint";
/// The TURN REST user part.
const REST_USER: &str = "rest-user";

const LIMIT: Duration = Duration::from_secs(60);
const VERBOSITY: &[&str] = &["", "-v", "-vv", "-vvv"];
const FORMATS: &[&str] = &["json", "html", "table"];

/// The embedded TURN server (users `alice`/[`PASSWORD`] and
/// `ice-user`/[`ICE_CREDENTIAL`]) with the runtime that drives it.
struct Turn {
    server: TurnServer,
    _rt: tokio::runtime::Runtime,
    dir: PathBuf,
}

impl Turn {
    fn start(tag: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut cfg = TurnServerConfig::new("secrets.test", "alice", Secret::new(PASSWORD));
        cfg.users
            .push(("ice-user".into(), Secret::new(ICE_CREDENTIAL)));
        let server = rt
            .block_on(TurnServer::start(cfg))
            .expect("TURN server starts");
        let dir =
            std::env::temp_dir().join(format!("natscope-secrets-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("ca.pem"), server.ca_pem()).expect("write CA");
        Self {
            server,
            _rt: rt,
            dir,
        }
    }

    fn ca(&self) -> String {
        self.dir.join("ca.pem").to_string_lossy().into_owned()
    }

    /// An iceServers file: a STUN entry on a closed port and a TURN entry
    /// (UDP) with [`ICE_CREDENTIAL`].
    fn ice_servers_file(&self, closed: SocketAddr) -> String {
        let path = self.dir.join("ice-servers.json");
        let doc = serde_json::json!({
            "iceServers": [
                { "urls": format!("stun:{closed}") },
                {
                    "urls": [format!("turn:{}?transport=udp", self.server.udp_addr)],
                    "username": "ice-user",
                    "credential": ICE_CREDENTIAL
                }
            ]
        });
        std::fs::write(&path, doc.to_string()).expect("write iceServers");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback UDP port with nothing listening (bound, then closed).
fn closed_port() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr")
}

/// The passwords natscope may derive from [`REST_SECRET`] during a run
/// that starts about now (expiry = now + ttl, give or take a minute).
fn derived_rest_passwords(ttl: i64) -> Vec<String> {
    let now = unix_now();
    (now + ttl - 60..=now + ttl + 120)
        .map(|expiry| {
            rest_password(
                &Secret::new(REST_SECRET),
                &rest_username(expiry, Some(REST_USER)),
            )
            .expose()
            .to_owned()
        })
        .collect()
}

/// Runs `args` at every verbosity and in every format (concurrently per
/// verbosity), with `env` set, asserting that no `secret` appears in stdout
/// or stderr. Returns the JSON reports (one per verbosity).
fn run_all(args: &[String], env: &[(&str, &str)], secrets: &[String]) -> Vec<Value> {
    let mut docs = Vec::new();
    for v in VERBOSITY {
        let handles: Vec<_> = FORMATS
            .iter()
            .map(|format| {
                let mut c = natscope();
                c.args(args).args(["--format", format]);
                if !v.is_empty() {
                    c.arg(v);
                }
                for (k, val) in env {
                    c.env(k, val);
                }
                let label = format!("{} {v} --format {format}", args.join(" "));
                std::thread::spawn(move || (label, crate::support::run_bounded(c, LIMIT)))
            })
            .collect();
        for h in handles {
            let (label, out) = h.join().expect("run thread");
            assert_no_secret(&label, &out, secrets);
            if label.ends_with("json") {
                docs.push(json_of(&out));
            }
        }
    }
    docs
}

fn assert_no_secret(label: &str, out: &Output, secrets: &[String]) {
    let code = out.status.code();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(code, Some(0 | 1)),
        "{label}: exit {code:?}\nstderr: {stderr}"
    );
    assert!(!stdout.is_empty(), "{label}: no output");
    for s in secrets {
        for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            let leaks: Vec<&str> = text.lines().filter(|l| l.contains(s.as_str())).collect();
            assert!(
                leaks.is_empty(),
                "{label}: secret {s:?} in {name}:\n{}",
                leaks.join("\n")
            );
        }
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Whether some TURN result of `doc` allocated successfully (so the
/// credential was really used).
fn some_turn_ok(doc: &Value) -> bool {
    doc["turn"]["results"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["ok"] == true))
}

#[test]
fn turn_password_from_the_command_line_is_never_output() {
    let t = Turn::start("turn-flag");
    let udp = format!("turn:{}?transport=udp", t.server.udp_addr);
    let tcp = format!("turn:{}?transport=tcp", t.server.tcp_addr);
    let tls = format!("turns:localhost:{}", t.server.tls_addr.port());
    let ca = t.ca();
    let args = strings(&[
        "turn",
        &udp,
        &tcp,
        &tls,
        "--username",
        "alice",
        "--password",
        PASSWORD,
        "--ca",
        &ca,
        "--no-quality",
        "--stage-timeout",
        "3000ms",
    ]);
    let docs = run_all(&args, &[], &strings(&[PASSWORD]));
    for doc in &docs {
        assert!(some_turn_ok(doc), "the password was not used: {doc:#}");
    }
}

#[test]
fn turn_password_from_the_environment_is_never_output() {
    let t = Turn::start("turn-env");
    let udp = format!("turn:{}?transport=udp", t.server.udp_addr);
    let args = strings(&["turn", &udp, "--no-quality", "--stage-timeout", "3000ms"]);
    let env = [
        ("NATSCOPE_TURN_USERNAME", "alice"),
        ("NATSCOPE_TURN_PASSWORD", PASSWORD),
    ];
    let docs = run_all(&args, &env, &strings(&[PASSWORD]));
    for doc in &docs {
        assert!(some_turn_ok(doc), "the password was not used: {doc:#}");
    }
}

#[test]
fn turn_rest_secret_and_derived_password_are_never_output() {
    let t = Turn::start("turn-rest");
    let udp = format!("turn:{}?transport=udp", t.server.udp_addr);
    let tcp = format!("turn:{}?transport=tcp", t.server.tcp_addr);
    let args = strings(&[
        "turn",
        &udp,
        &tcp,
        "--turn-secret",
        REST_SECRET,
        "--username",
        REST_USER,
        "--no-quality",
        "--stage-timeout",
        "2000ms",
    ]);
    let mut secrets = vec![REST_SECRET.to_string()];
    secrets.extend(derived_rest_passwords(3600));
    let docs = run_all(&args, &[], &secrets);
    // The embedded server does not know the REST secret: a named
    // rejection, with the secret still nowhere in the output.
    for doc in &docs {
        assert!(!some_turn_ok(doc), "{doc:#}");
    }
    // The environment route.
    let args = strings(&["turn", &udp, "--no-quality", "--stage-timeout", "2000ms"]);
    run_all(&args, &[("NATSCOPE_TURN_SECRET", REST_SECRET)], &secrets);
}

#[test]
fn ice_servers_credentials_are_never_output_by_stun() {
    let t = Turn::start("stun-ice");
    let file = t.ice_servers_file(closed_port());
    let args = strings(&["stun", "--ice-servers", &file, "--timeout", "1s"]);
    let docs = run_all(&args, &[], &strings(&[ICE_CREDENTIAL]));
    for doc in &docs {
        assert_eq!(doc["stun"]["status"], "tested", "{doc:#}");
    }
}

#[test]
fn turn_and_ice_server_credentials_are_never_output_by_ice() {
    let t = Turn::start("ice");
    let turn = format!("turn:{}?transport=udp", t.server.udp_addr);
    let args = strings(&[
        "ice",
        "--turn",
        &turn,
        "--username",
        "alice",
        "--password",
        PASSWORD,
        "--bind",
        "127.0.0.1",
        "--filter",
        "relay-relay",
        "--gather-timeout",
        "2000ms",
        "--connect-timeout",
        "3000ms",
        "--pings",
        "1",
    ]);
    run_all(&args, &[], &strings(&[PASSWORD]));
}

#[test]
fn credentials_are_never_output_by_diagnose() {
    let t = Turn::start("diagnose");
    let file = t.ice_servers_file(closed_port());
    let tcp = format!("turn:{}?transport=tcp", t.server.tcp_addr);
    let args = strings(&[
        "diagnose",
        &tcp,
        "--ice-servers",
        &file,
        "--username",
        "alice",
        "--password",
        PASSWORD,
        "--stun-timeout",
        "1s",
        "--timeout",
        "8s",
        "--port-samples",
        "0",
        "--no-hairpin",
    ]);
    let docs = run_all(&args, &[], &strings(&[PASSWORD, ICE_CREDENTIAL]));
    for doc in &docs {
        assert_eq!(doc["schema"], "natscope/3", "{doc:#}");
    }
}

//! `natscope peer` sessions in the netns lab, shared by tests/lab/peer.rs
//! and the `peer_run` bench: natscope serve (rendezvous + RFC 5780
//! responder) and coturn in the server namespace, two `natscope peer`
//! processes in two namespaces, both reports read back.
//!
//! Debug switches: `NATSCOPE_PEER_KEEP=1` copies both reports and the
//! joiner's `-vvv` log to /tmp (peer-creator.json, peer-joiner.json,
//! peer-joiner.log).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab::{CoturnOptions, Lab, Ns};

/// Waits for `child` at most `limit` (then kills it).
fn wait_child(mut child: std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub const RENDEZVOUS_PORT: u16 = 8478;
pub const STUN_PORT: u16 = 13478;
pub const STUN_ALT_PORT: u16 = 13479;

/// The lab's servers: natscope's responder + rendezvous, coturn.
pub struct Servers {
    pub rendezvous: String,
    pub stun: String,
    pub turn: Vec<String>,
    pub user: String,
    pub password: String,
}

/// `natscope serve` as the lab runs it in the server namespace: RFC 5780
/// STUN on both server addresses and the rendezvous on the primary.
fn serve_argv(lab: &Lab) -> Vec<String> {
    let a = lab.addrs();
    let (p, alt) = (a.server_primary.to_string(), a.server_alternate.to_string());
    let listen = format!("{}:{RENDEZVOUS_PORT}", a.server_primary);
    [
        env!("CARGO_BIN_EXE_natscope"),
        "serve",
        "--primary",
        &p,
        "--alternate",
        &alt,
        "--port",
        &STUN_PORT.to_string(),
        "--alt-port",
        &STUN_ALT_PORT.to_string(),
        "--rendezvous",
        "--rendezvous-listen",
        &listen,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub fn start_servers(lab: &Lab) -> Servers {
    let a = lab.addrs();
    let argv = serve_argv(lab);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    lab.spawn(Ns::Server, &argv)
        .expect("natscope serve starts in the server namespace");
    let copts = CoturnOptions::default();
    let coturn = lab
        .start_coturn(copts.clone())
        .expect("coturn starts in the server namespace");
    // The rendezvous answers before a client may use it.
    wait_rendezvous(lab, &lab.workdir().join("spawn-natscope.log"));
    Servers {
        rendezvous: format!("http://{}:{RENDEZVOUS_PORT}", a.server_primary),
        stun: format!("stun:{}:{STUN_PORT}", a.server_primary),
        turn: vec![
            format!("turn:{}?transport=udp", coturn.primary),
            format!("turn:{}?transport=tcp", coturn.primary),
        ],
        user: coturn.user.clone(),
        password: copts.password.clone(),
    }
}

pub fn peer_argv(s: &Servers, out: &str) -> Vec<String> {
    let mut v: Vec<String> = vec![
        env!("CARGO_BIN_EXE_natscope").into(),
        "peer".into(),
        "--rendezvous".into(),
        s.rendezvous.clone(),
        "--stun".into(),
        s.stun.clone(),
        "--username".into(),
        s.user.clone(),
        "--password".into(),
        s.password.clone(),
        "--gather-timeout".into(),
        "2s".into(),
        "--connect-timeout".into(),
        "3s".into(),
        "--step-timeout".into(),
        "8s".into(),
        "--join-timeout".into(),
        "20s".into(),
        "--format".into(),
        "json".into(),
        "-o".into(),
        out.into(),
    ];
    for t in &s.turn {
        v.push("--turn".into());
        v.push(t.clone());
    }
    v
}

pub fn in_ns(lab: &Lab, ns: Ns, argv: &[String]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &lab.ns_name(ns)]).args(argv);
    c.stdin(Stdio::null());
    c
}

/// One session: the creator in `a`, the joiner in `b`. Both reports.
pub fn session(lab: &Lab, s: &Servers, a: Ns, b: Ns) -> (serde_json::Value, serde_json::Value) {
    let dir = lab.workdir().to_path_buf();
    let (fa, fb) = (
        dir.join(format!("peer-{}.json", a.as_str())),
        dir.join(format!("peer-{}.json", b.as_str())),
    );
    let mut creator = in_ns(lab, a, &peer_argv(s, &fa.to_string_lossy()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natscope peer starts");
    let mut err = BufReader::new(creator.stderr.take().expect("piped"));
    let mut code = None;
    let mut creator_err = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        creator_err.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("natscope peer --rendezvous ") {
            code = rest.split_whitespace().nth(1).map(str::to_string);
            break;
        }
        line.clear();
    }
    let code = code.unwrap_or_else(|| {
        let _ = creator.kill();
        panic!("the creator printed no code: {creator_err}")
    });
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut rest);
        rest
    });
    let mut argv = peer_argv(s, &fb.to_string_lossy());
    argv.insert(4, code);
    if std::env::var("NATSCOPE_PEER_KEEP").is_ok() {
        argv.push("-vvv".into());
    }
    let joiner = in_ns(lab, b, &argv)
        .output()
        .expect("natscope peer (joiner) runs");
    let creator_status = wait_child(creator, Duration::from_secs(60));
    let creator_rest = drain.join().unwrap_or_default();
    let read = |f: &std::path::Path, what: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| {
            panic!(
                "no {what} report ({e}); joiner stderr: {}; creator stderr: {creator_err}{creator_rest}",
                String::from_utf8_lossy(&joiner.stderr)
            )
        });
        serde_json::from_str(&text).expect("a JSON report")
    };
    let (ra, rb) = (read(&fa, "creator"), read(&fb, "joiner"));
    if std::env::var("NATSCOPE_PEER_KEEP").is_ok() {
        let _ = std::fs::copy(&fa, "/tmp/peer-creator.json");
        let _ = std::fs::copy(&fb, "/tmp/peer-joiner.json");
        let _ = std::fs::write("/tmp/peer-joiner.log", &joiner.stderr);
    }
    let _ = creator_status;
    (ra, rb)
}

pub fn reason(r: &serde_json::Value, policy: &str) -> String {
    r["peer"]["policies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["policy"] == policy))
        .map(|p| format!("{} {}", p["reason"], p["path"]))
        .unwrap_or_default()
}

pub fn outcome<'a>(r: &'a serde_json::Value, policy: &str) -> &'a str {
    r["peer"]["policies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["policy"] == policy))
        .and_then(|p| p["outcome"].as_str())
        .unwrap_or("missing")
}

/// What a pair did, in one line (for failure messages and the log).
pub fn line(r: &serde_json::Value) -> String {
    let p = &r["peer"];
    format!(
        "role={} observed={} predicted={} held={} direct={} ({}) relay={} ({}) punch={} reach(l/r)={}/{} tcp={} ({}, {} attempts, {}) nat(l)={} nat(r)={} failure={}",
        p["role"],
        p["observed"],
        p["predicted"]["outcome"],
        p["prediction_held"],
        outcome(r, "direct"),
        reason(r, "direct"),
        outcome(r, "relay-allowed"),
        reason(r, "relay-allowed"),
        p["holepunch"]["success"],
        p["holepunch"]["local_reachable"],
        p["holepunch"]["remote_reachable"],
        p["tcp"]["success"],
        p["tcp"]["attempts"]
            .as_array()
            .and_then(|a| a.last())
            .map_or(serde_json::Value::Null, |a| a["open"].clone()),
        p["tcp"]["attempts"].as_array().map_or(0, Vec::len),
        p["tcp"]["reason"],
        p["local_nat"]["summary"],
        p["remote_nat"]["summary"],
        p["failure"],
    )
}

/// `natscope serve` as [`start_servers`] runs it, but as a child the test
/// owns (to kill or restart it mid-session): SIGKILLed and reaped on drop.
/// Its output goes to `<workdir>/serve-N.log`.
pub struct OwnedServe {
    child: std::process::Child,
    pub log: std::path::PathBuf,
}

impl OwnedServe {
    /// Starts it in the server namespace (the same addresses and ports as
    /// [`start_servers`]) and returns once the rendezvous accepts
    /// connections.
    pub fn start(lab: &Lab, n: u32) -> OwnedServe {
        let argv = serve_argv(lab);
        let log = lab.workdir().join(format!("serve-{n}.log"));
        std::fs::create_dir_all(lab.workdir()).expect("the lab's workdir");
        let out = std::fs::File::create(&log).expect("serve's log file");
        let err = out.try_clone().expect("serve's log file");
        let child = in_ns(lab, Ns::Server, &argv)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("natscope serve starts in the server namespace");
        let serve = OwnedServe { child, log };
        serve.wait_listening(lab);
        serve
    }

    fn wait_listening(&self, lab: &Lab) {
        wait_rendezvous(lab, &self.log);
    }

    /// The process id (`ip netns exec` execs natscope: the same process).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reaped: the rendezvous is gone at once, every session
    /// with it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnedServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// [`start_servers`] with `natscope serve` as an [`OwnedServe`] (coturn
/// is the lab's, as there).
pub fn start_servers_owned(lab: &Lab) -> (Servers, OwnedServe) {
    let serve = OwnedServe::start(lab, 1);
    let a = lab.addrs();
    let copts = CoturnOptions::default();
    let coturn = lab
        .start_coturn(copts.clone())
        .expect("coturn starts in the server namespace");
    let servers = Servers {
        rendezvous: format!("http://{}:{RENDEZVOUS_PORT}", a.server_primary),
        stun: format!("stun:{}:{STUN_PORT}", a.server_primary),
        turn: vec![
            format!("turn:{}?transport=udp", coturn.primary),
            format!("turn:{}?transport=tcp", coturn.primary),
        ],
        user: coturn.user.clone(),
        password: copts.password.clone(),
    };
    (servers, serve)
}

/// Waits until the rendezvous in the server namespace accepts a TCP
/// connection (at most 10 s; then fails with natscope serve's `log`).
fn wait_rendezvous(lab: &Lab, log: &std::path::Path) {
    let a = lab.addrs();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = lab
            .exec(
                Ns::Server,
                &[
                    "bash",
                    "-c",
                    &format!("exec 3<>/dev/tcp/{}/{RENDEZVOUS_PORT}", a.server_primary),
                ],
            )
            .expect("server namespace");
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the rendezvous never listened: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! `natscope peer` between two machines on real kernel NATs (the netns
//! lab): two `natscope peer` processes, one in each site's client
//! namespace (or one on the public peer host), meet through `natscope serve
//! --rendezvous` in the server namespace (which also answers RFC 5780 STUN
//! for their NAT tests); coturn in the server namespace is the relay.
//!
//! For every pair of NAT behaviours (EIM/EIF, EIM/ADF, EIM/APDF, ADM, APDM,
//! UDP blocked) and NATed ↔ public, both sides' reports must name the same
//! session, agree with each other, and say what happened; what happened
//! must match the prediction the two NAT verdicts give
//! (`natclass::holepunch`, docs/holepunch.md).
//!
//! Needs root. Without it every test FAILS with the reason (never skips).
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab::{CoturnOptions, Lab, LabSpec, NatBehaviour, Ns};

use crate::support::{assert_schema_valid, lab_up as up};

const RENDEZVOUS_PORT: u16 = 8478;
const STUN_PORT: u16 = 13478;
const STUN_ALT_PORT: u16 = 13479;

/// The lab's servers: natscope's responder + rendezvous, coturn.
struct Servers {
    rendezvous: String,
    stun: String,
    turn: Vec<String>,
    user: String,
    password: String,
}

fn start_servers(lab: &Lab) -> Servers {
    let a = lab.addrs();
    let (p, alt) = (a.server_primary.to_string(), a.server_alternate.to_string());
    let listen = format!("{}:{RENDEZVOUS_PORT}", a.server_primary);
    let bin = env!("CARGO_BIN_EXE_natscope");
    lab.spawn(
        Ns::Server,
        &[
            bin,
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
        ],
    )
    .expect("natscope serve starts in the server namespace");
    let copts = CoturnOptions::default();
    let coturn = lab
        .start_coturn(copts.clone())
        .expect("coturn starts in the server namespace");
    // The rendezvous answers before a client may use it.
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
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rendezvous never listened: {}",
            std::fs::read_to_string(lab.workdir().join("spawn-natscope.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Servers {
        rendezvous: format!("http://{listen}"),
        stun: format!("stun:{}:{STUN_PORT}", a.server_primary),
        turn: vec![
            format!("turn:{}?transport=udp", coturn.primary),
            format!("turn:{}?transport=tcp", coturn.primary),
        ],
        user: coturn.user.clone(),
        password: copts.password.clone(),
    }
}

fn peer_argv(s: &Servers, out: &str) -> Vec<String> {
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

fn in_ns(lab: &Lab, ns: Ns, argv: &[String]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &lab.ns_name(ns)]).args(argv);
    c.stdin(Stdio::null());
    c
}

/// One session: the creator in `a`, the joiner in `b`. Both reports.
fn session(lab: &Lab, s: &Servers, a: Ns, b: Ns) -> (serde_json::Value, serde_json::Value) {
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
    let creator_status = crate::support::wait_bounded(creator, Duration::from_secs(60));
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

fn reason(r: &serde_json::Value, policy: &str) -> String {
    r["peer"]["policies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["policy"] == policy))
        .map(|p| format!("{} {}", p["reason"], p["path"]))
        .unwrap_or_default()
}

fn outcome<'a>(r: &'a serde_json::Value, policy: &str) -> &'a str {
    r["peer"]["policies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["policy"] == policy))
        .and_then(|p| p["outcome"].as_str())
        .unwrap_or("missing")
}

/// What a pair did, in one line (for failure messages and the log).
fn line(r: &serde_json::Value) -> String {
    let p = &r["peer"];
    format!(
        "role={} observed={} predicted={} held={} direct={} ({}) relay={} ({}) punch={} reach(l/r)={}/{} nat(l)={} nat(r)={} failure={}",
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
        p["local_nat"]["summary"],
        p["remote_nat"]["summary"],
        p["failure"],
    )
}

/// Both reports name one session, agree, and the prediction held.
fn check_pair(label: &str, ra: &serde_json::Value, rb: &serde_json::Value) {
    for r in [ra, rb] {
        assert_schema_valid(r);
        assert!(
            r["peer"]["failure"].is_null(),
            "{label}: the session failed: {}",
            line(r)
        );
    }
    assert_eq!(ra["peer"]["session"], rb["peer"]["session"], "{label}");
    assert!(ra["peer"]["session"].is_string(), "{label}");
    assert_eq!(ra["peer"]["role"], "creator");
    assert_eq!(rb["peer"]["role"], "joiner");
    // The two ends saw the same thing.
    assert_eq!(
        ra["peer"]["observed"],
        rb["peer"]["observed"],
        "{label}: {} | {}",
        line(ra),
        line(rb)
    );
    for policy in ["direct", "relay-allowed"] {
        assert_eq!(
            outcome(ra, policy),
            outcome(rb, policy),
            "{label} {policy}: {} | {}",
            line(ra),
            line(rb)
        );
    }
    // Each side holds both verdicts, crosswise equal.
    assert_eq!(ra["peer"]["local_nat"], rb["peer"]["remote_nat"], "{label}");
    assert_eq!(rb["peer"]["local_nat"], ra["peer"]["remote_nat"], "{label}");
    // Whatever the NATs, the relay-allowed policy connects (coturn over
    // UDP, or TCP when UDP is blocked).
    assert_eq!(
        outcome(ra, "relay-allowed"),
        "success",
        "{label}: {}",
        line(ra)
    );
    assert_eq!(
        ra["peer"]["prediction_held"],
        true,
        "{label}: the prediction did not hold: {} | {}",
        line(ra),
        line(rb)
    );
}

const KINDS: [NatBehaviour; 6] = [
    NatBehaviour::EimEif,
    NatBehaviour::EimAdf,
    NatBehaviour::EimApdf,
    NatBehaviour::Adm,
    NatBehaviour::Apdm,
    NatBehaviour::UdpBlocked,
];

/// Every pair (a, b) with b at or after a in [`KINDS`], a in the first
/// site and b in the second.
fn row(a: NatBehaviour) {
    let start = KINDS.iter().position(|k| *k == a).expect("a listed kind");
    for b in &KINDS[start..] {
        if std::env::var("NATSCOPE_PEER_ONLY").is_ok_and(|o| o != b.as_str()) {
            continue;
        }
        let lab = up(LabSpec::new(a).second_site(*b));
        let s = start_servers(&lab);
        let label = format!("{} <-> {}", a.as_str(), b.as_str());
        let t = Instant::now();
        let (ra, rb) = session(&lab, &s, Ns::Client, Ns::Client2);
        eprintln!(
            "{label} ({:.1} s): {}",
            t.elapsed().as_secs_f64(),
            line(&ra)
        );
        check_pair(&label, &ra, &rb);
    }
}

#[test]
fn peer_pairs_from_eim_eif() {
    row(NatBehaviour::EimEif);
}

#[test]
fn peer_pairs_from_eim_adf() {
    row(NatBehaviour::EimAdf);
}

#[test]
fn peer_pairs_from_eim_apdf() {
    row(NatBehaviour::EimApdf);
}

#[test]
fn peer_pairs_from_adm() {
    row(NatBehaviour::Adm);
}

#[test]
fn peer_pairs_from_apdm() {
    row(NatBehaviour::Apdm);
}

#[test]
fn peer_pairs_udp_blocked_both() {
    row(NatBehaviour::UdpBlocked);
}

/// NATed ↔ public: the joiner on the lab's third public host.
#[test]
fn peer_nated_to_public() {
    for a in KINDS {
        let lab = up(LabSpec::new(a));
        let s = start_servers(&lab);
        let label = format!("{} <-> public", a.as_str());
        let t = Instant::now();
        let (ra, rb) = session(&lab, &s, Ns::Client, Ns::Peer);
        eprintln!(
            "{label} ({:.1} s): {}",
            t.elapsed().as_secs_f64(),
            line(&ra)
        );
        check_pair(&label, &ra, &rb);
    }
}

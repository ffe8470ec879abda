//! The diagnosis on real misconfigured servers: each scenario runs the
//! binary against a real server set up wrong (coturn with a wrong realm,
//! password or REST secret, a CA certificate as server certificate, no TLS
//! listener, relaying denied; a closed STUN port; a dead server; a server
//! without RFC 5780) and asserts the top finding, the checks it explains,
//! that a remedy is there, the exit code, and that no output (JSON, table,
//! HTML, stderr) carries a library's internals.
//!
//! `NATSCOPE_RECORD=1` saves each scenario's report under
//! `fixtures/diagnosis/` (the corpus natscope-rules checks offline).

use std::path::PathBuf;
use std::time::Duration;

use lab::{CoturnOptions, LoopbackCoturn};
use serde_json::Value;
use servers::pki::Pki;
use servers::responder::{Responder, ResponderConfig};

use crate::support::{TempDir, dead_port, run_natscope, stderr_text, stdout_text};

const LIMIT: Duration = Duration::from_secs(120);
const USER: &str = "alice";
const PASSWORD: &str = "c0rrect-h0rse-battery";
const REALM: &str = "natscope.test";
const SECRET: &str = "sh4red-rest-s3cret";

/// Text that must never reach a user: Rust `Debug` forms and identifiers.
const INTERNALS: &[&str] = &[
    "Other(",
    "Error {",
    "Some(",
    "OtherError",
    "CaUsedAsEndEntity",
    "InvalidCertificate",
    "UnauthenticatedAllocate",
    "TlsHandshake",
    "DtlsHandshake",
    "DataRoundTrip",
    "ChannelRoundTrip",
    "TcpConnect",
    "AllocateIpv6",
    "TcpAllocation",
    "NotTested",
    "TLSv1_",
];

struct Coturn {
    server: LoopbackCoturn,
    ca_pem: String,
}

fn coturn(rest: bool, extra: &[&str], pki: Option<Pki>) -> Coturn {
    let pki = match pki {
        Some(p) => p,
        None => Pki::generate(&["localhost", "127.0.0.1"]).expect("certificate"),
    };
    let ca_pem = pki.ca_pem.clone();
    let opts = CoturnOptions {
        user: USER.into(),
        password: PASSWORD.into(),
        realm: REALM.into(),
        rest_secret: rest.then(|| SECRET.to_owned()),
        extra_config: extra.iter().map(|l| l.to_string()).collect(),
        ready_timeout: Duration::from_secs(10),
        tls_pki: Some(pki),
        ..CoturnOptions::default()
    };
    let server = LoopbackCoturn::start(&opts, false).expect("coturn starts on loopback");
    Coturn { server, ca_pem }
}

/// One scenario's outputs: the report (JSON) and its table and HTML
/// renderings, plus the run's stderr and exit code.
struct Run {
    doc: Value,
    exit: i32,
    outputs: Vec<(&'static str, String)>,
}

/// Runs natscope with `args` writing JSON to a file, then renders that file
/// as a table and as HTML.
fn run(name: &str, args: &[String]) -> Run {
    let dir = TempDir::new(&format!("diag-{name}"));
    let json = dir.path("report.json");
    let mut full: Vec<String> = args.to_vec();
    full.extend([
        "--format".into(),
        "json".into(),
        "-o".into(),
        path_str(&json),
    ]);
    let out = run_natscope(&full, LIMIT);
    let exit = out.status.code().unwrap_or(-1);
    let stderr = stderr_text(&out);
    assert!(!stderr.contains("panicked"), "{name}: panic: {stderr}");
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("{name}: no report written ({e}); stderr: {stderr}"));
    let doc: Value = serde_json::from_str(&text).expect("the report is JSON");
    crate::support::assert_schema_valid(&doc);
    let mut outputs = vec![("json", text.clone()), ("stderr", stderr)];
    for format in ["table", "html"] {
        let r = run_natscope(
            ["report", "render", &path_str(&json), "--format", format],
            LIMIT,
        );
        assert_eq!(
            r.status.code(),
            Some(0),
            "{name}: render {format}: {}",
            stderr_text(&r)
        );
        outputs.push((format, stdout_text(&r)));
    }
    if std::env::var_os("NATSCOPE_RECORD").is_some() {
        let dest = fixtures().join(format!("{name}.json"));
        std::fs::write(&dest, &text).expect("fixtures/diagnosis is writable");
    }
    Run { doc, exit, outputs }
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/diagnosis")
}

fn path_str(p: &std::path::Path) -> String {
    p.to_str().expect("temp paths are UTF-8").to_owned()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What every scenario must show.
#[track_caller]
fn assert_diagnosis(name: &str, r: &Run, exit: i32, top: &str, explains: &[&str]) {
    assert_eq!(
        r.exit, exit,
        "{name}: exit code; report: {:#}",
        r.doc["diagnosis"]
    );
    let findings = r.doc["diagnosis"]["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no findings: {:#}", r.doc["diagnosis"]));
    let first = &findings[0];
    assert_eq!(
        first["id"], top,
        "{name}: top finding; all: {:#}",
        r.doc["diagnosis"]
    );
    let got = strings(&first["explains"]);
    for c in explains {
        assert!(
            got.iter().any(|g| g == c),
            "{name}: {top} should explain {c}: {got:?}"
        );
    }
    assert!(
        first["remedy"].as_str().is_some_and(|s| s.len() > 20),
        "{name}: remedy: {first:#}"
    );
    assert!(
        r.doc["diagnosis"]["verdict"]
            .as_str()
            .is_some_and(|s| s.len() > 20),
        "{name}: verdict"
    );
    assert_invariants(name, &r.doc);
    for (what, text) in &r.outputs {
        for bad in INTERNALS {
            assert!(
                !text.contains(bad),
                "{name}: {bad:?} in the {what} output:\n{text}"
            );
        }
        // Any CamelCase word is a type or variant name that leaked (the
        // HTML's style sheet and script are not text, so not scanned).
        if *what != "html" {
            let leaked = camel_case_words(text);
            assert!(
                leaked.is_empty(),
                "{name}: identifiers {leaked:?} in the {what} output:\n{text}"
            );
        }
    }
    let html = &r
        .outputs
        .iter()
        .find(|(w, _)| *w == "html")
        .expect("html")
        .1;
    let any_failed = r.doc["summary"]["checks"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["status"] == "failed"));
    if any_failed {
        assert!(
            !html.contains("nothing to do"),
            "{name}: 'nothing to do' with a failed check"
        );
        assert!(
            !r.doc["summary"]["advice"]
                .as_array()
                .is_some_and(|a| a.is_empty()),
            "{name}: no advice with a failed check"
        );
    }
}

/// Words such as `UnauthenticatedAllocate` or `CaUsedAsEndEntity`: an
/// upper-case letter, lower-case ones, then another upper-case letter
/// followed by a lower-case one. Product names people write that way are
/// allowed, and the TURN method names of RFC 8656 (what an operator sees in
/// Wireshark and server logs).
fn camel_case_words(text: &str) -> Vec<String> {
    const ALLOWED: &[&str] = &[
        "WireGuard",
        "OpenMetrics",
        "CreatePermission",
        "ChannelBind",
        "ChannelData",
    ];
    let mut found: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let b = word.as_bytes();
        let camel = b.first().is_some_and(u8::is_ascii_uppercase)
            && b.get(1).is_some_and(u8::is_ascii_lowercase)
            && b.windows(2)
                .skip(1)
                .any(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_lowercase());
        if camel && !ALLOWED.contains(&word) && !found.iter().any(|f| f == word) {
            found.push(word.to_owned());
        }
    }
    found
}

/// Every failed check is explained by a finding; no finding twice.
#[track_caller]
fn assert_invariants(name: &str, doc: &Value) {
    let findings = doc["diagnosis"]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in doc["summary"]["checks"].as_array().into_iter().flatten() {
        if c["status"] == "failed" {
            let id = c["id"].as_str().unwrap_or("");
            assert!(
                findings
                    .iter()
                    .any(|f| strings(&f["explains"]).iter().any(|e| e == id)),
                "{name}: failed check {id} explained by no finding: {findings:#?}"
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for f in &findings {
        let key = (f["id"].to_string(), f["title"].to_string());
        assert!(seen.insert(key), "{name}: finding twice: {f:#}");
    }
}

fn turn_args(c: &Coturn, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        "turn".to_owned(),
        format!("turn:127.0.0.1:{}", c.server.primary.port()),
        "--stage-timeout".into(),
        "3000ms".into(),
        "--no-quality".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn wrong_password_is_one_cause_for_turn_and_ice() {
    let c = coturn(false, &[], None);
    let port = c.server.primary.port();
    let args: Vec<String> = [
        "diagnose",
        &format!("stun:127.0.0.1:{port}"),
        &format!("turn:127.0.0.1:{port}"),
        "--username",
        USER,
        "--password",
        "not-the-password",
        "--no-portmap",
        "--no-nat",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let r = run("wrong-password", &args);
    assert_diagnosis(
        "wrong-password",
        &r,
        1,
        "turn-wrong-credentials",
        &["turn-udp", "turn-tcp", "ice-relay"],
    );
    // One cause, one finding: nothing else is critical.
    let critical: Vec<&Value> = r.doc["diagnosis"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "critical")
        .collect();
    assert_eq!(critical.len(), 1, "{critical:#?}");
}

#[test]
fn wrong_realm_is_named() {
    let c = coturn(false, &[], None);
    let args = turn_args(
        &c,
        &[
            "--username",
            USER,
            "--password",
            PASSWORD,
            "--realm",
            "other.example",
        ],
    );
    let r = run("wrong-realm", &args);
    assert_diagnosis(
        "wrong-realm",
        &r,
        1,
        "turn-realm-mismatch",
        &["turn-udp", "turn-tcp"],
    );
    let remedy = r.doc["diagnosis"]["findings"][0]["remedy"]
        .as_str()
        .unwrap_or("");
    assert!(remedy.contains(REALM), "{remedy}");
}

#[test]
fn expired_and_wrong_rest_credentials_are_told_apart() {
    let c = coturn(true, &[], None);
    let expired = run(
        "rest-expired",
        &turn_args(&c, &["--turn-secret", SECRET, "--rest-ttl", "-600"]),
    );
    assert_diagnosis(
        "rest-expired",
        &expired,
        1,
        "turn-rest-expired",
        &["turn-udp"],
    );
    let wrong = run(
        "rest-wrong-secret",
        &turn_args(&c, &["--turn-secret", "not-the-secret"]),
    );
    assert_diagnosis(
        "rest-wrong-secret",
        &wrong,
        1,
        "turn-rest-rejected",
        &["turn-udp"],
    );
}

#[test]
fn a_ca_certificate_as_server_certificate_is_named() {
    let pki = Pki::generate_ca_flagged_leaf(&["localhost", "127.0.0.1"]).expect("certificate");
    let c = coturn(false, &[], Some(pki));
    let dir = TempDir::new("diag-ca-leaf");
    let ca = dir.write("ca.pem", &c.ca_pem);
    let args: Vec<String> = [
        "turn".to_owned(),
        format!("turns:localhost:{}", c.server.tls.port()),
        "--username".into(),
        USER.into(),
        "--password".into(),
        PASSWORD.into(),
        "--ca".into(),
        path_str(&ca),
        "--no-quality".into(),
    ]
    .to_vec();
    let r = run("ca-as-server-certificate", &args);
    assert_diagnosis(
        "ca-as-server-certificate",
        &r,
        1,
        "turn-tls-ca-as-server-certificate",
        &["turn-tls"],
    );
}

#[test]
fn no_tls_listener_is_a_closed_port() {
    let args: Vec<String> = [
        "turn".to_owned(),
        format!("turns:127.0.0.1:{}", dead_port()),
        "--username".into(),
        USER.into(),
        "--password".into(),
        PASSWORD.into(),
        "--insecure".into(),
    ]
    .to_vec();
    let r = run("no-tls-listener", &args);
    assert_diagnosis("no-tls-listener", &r, 1, "turn-port-closed", &["turn-tls"]);
}

#[test]
fn relaying_denied_to_the_peer_is_named() {
    let c = coturn(false, &["denied-peer-ip=127.0.0.1"], None);
    let r = run(
        "peer-denied",
        &turn_args(&c, &["--username", USER, "--password", PASSWORD]),
    );
    assert_diagnosis(
        "peer-denied",
        &r,
        1,
        "turn-forbidden-peer",
        &["turn-udp", "turn-tcp"],
    );
}

#[test]
fn a_closed_stun_port_is_not_silence() {
    // Over UDP the host answers ICMP port unreachable, over TCP a reset:
    // both are "nothing listens", reported at once, not a timeout.
    let args: Vec<String> = [
        "stun".to_owned(),
        format!("stun:127.0.0.1:{}", dead_port()),
        "--tcp".into(),
        "--timeout".into(),
        "20s".into(),
    ]
    .to_vec();
    let r = run("stun-port-closed", &args);
    assert_diagnosis(
        "stun-port-closed",
        &r,
        1,
        "stun-port-closed",
        &["stun", "udp"],
    );
    let servers = r.doc["stun"]["servers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(servers.len(), 2, "UDP and TCP");
    for s in &servers {
        assert_eq!(s["outcome"], "refused", "{s:#}");
    }
    let udp = servers
        .iter()
        .find(|s| s["transport"] == "udp")
        .expect("the UDP probe");
    assert!(
        udp["error"]
            .as_str()
            .is_some_and(|e| e.contains("ICMP port unreachable")),
        "{udp:#}"
    );
    // The NAT tests and ICE gathering name the closed port the same way.
    let r = run(
        "nat-port-closed",
        &[
            "nat".to_owned(),
            format!("stun:127.0.0.1:{}", dead_port()),
            "--timeout".into(),
            "20s".into(),
        ],
    );
    assert_diagnosis("nat-port-closed", &r, 1, "stun-port-closed", &["nat"]);
    assert_eq!(r.doc["nat"]["servers"][0]["status"], "port-closed");
    let r = run(
        "ice-port-closed",
        &[
            "ice".to_owned(),
            "--stun".into(),
            format!("stun:127.0.0.1:{}", dead_port()),
        ],
    );
    assert_diagnosis("ice-port-closed", &r, 1, "stun-port-closed", &["ice-srflx"]);
    let srflx = &r.doc["ice"]["runs"]
        .as_array()
        .and_then(|runs| runs.iter().find(|x| x["filter"] == "srflx-srflx").cloned())
        .expect("a srflx run");
    assert!(
        srflx["agents"][0]["server_problems"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("port is closed")),
        "{srflx:#}"
    );
}

#[test]
fn a_dead_stun_server_is_unreachable() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    let addr = silent.local_addr().expect("bound");
    let args: Vec<String> = [
        "stun".to_owned(),
        format!("stun:{addr}"),
        "--timeout".into(),
        "2s".into(),
    ]
    .to_vec();
    let r = run("stun-dead-server", &args);
    assert_diagnosis(
        "stun-dead-server",
        &r,
        1,
        "stun-unreachable",
        &["stun", "udp"],
    );
    drop(silent);
}

#[test]
fn a_server_without_rfc5780_is_named() {
    // Worker threads serve the responder while the binary runs.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let single = ResponderConfig {
        alternate: None,
        ..ResponderConfig::loopback_lab()
    };
    let responder = rt
        .block_on(async { Responder::start(single) })
        .expect("responder starts");
    let addr = responder.addrs().primary;
    let r = run(
        "stun-not-rfc5780",
        &["nat".to_owned(), format!("stun:{addr}")],
    );
    assert_diagnosis("stun-not-rfc5780", &r, 0, "stun-not-rfc5780", &[]);
    rt.block_on(responder.shutdown());
}

#[test]
fn missing_turn_credentials_and_an_unwritable_output_are_usage_errors() {
    let c = coturn(false, &[], None);
    let out = run_natscope(turn_args(&c, &[]), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_text(&out));
    assert!(
        stderr_text(&out).contains("no TURN credentials"),
        "{}",
        stderr_text(&out)
    );
    let out = run_natscope(
        ["stun", "stun:127.0.0.1:9", "-o", "/nonexistent-dir/r.json"],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr_text(&out));
    assert!(stderr_text(&out).contains("/nonexistent-dir/r.json"));
}

#[test]
fn sections_cut_by_the_deadline_fail_the_run_and_render_exits_zero() {
    // The first example: everything cut short by the overall limit (--timeout) was
    // exit 0. Now it is one section-timeout finding and exit 1.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    let addr = silent.local_addr().expect("bound");
    let args: Vec<String> = [
        "diagnose".to_owned(),
        format!("stun:{addr}"),
        "--no-portmap".into(),
        "--timeout".into(),
        "1s".into(),
    ]
    .to_vec();
    let r = run("deadline", &args);
    assert_diagnosis("deadline", &r, 1, "section-timeout", &["stun"]);
    let verdict = r.doc["diagnosis"]["verdict"].as_str().unwrap_or("");
    assert!(verdict.contains("overall deadline"), "{verdict}");
    // Rendering a failed report succeeded: 0, unless asked to exit by the
    // report's verdict.
    let dir = TempDir::new("diag-render");
    let json = dir.write("r.json", r.doc.to_string());
    let html = dir.path("r.html");
    let out = run_natscope(
        ["report", "render", &path_str(&json), "-o", &path_str(&html)],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_text(&out));
    let out = run_natscope(
        [
            "report",
            "render",
            &path_str(&json),
            "--format",
            "table",
            "--exit-by-verdict",
        ],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_text(&out));
    assert!(stdout_text(&out).contains("Verdict"));
    drop(silent);
}

#[test]
fn ctrl_c_exits_130_without_cleanup_that_does_not_apply() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    let addr = silent.local_addr().expect("bound");
    let dir = TempDir::new("diag-sigint");
    let json = dir.path("r.json");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_natscope"))
        .args(["diagnose", &format!("stun:{addr}"), "--no-portmap"])
        .args(["--timeout", "60s", "--stun-timeout", "30s", "-o"])
        .arg(&json)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("natscope starts");
    // Wait until the run is under way (the progress line of the first
    // section, printed once the signal handler is installed), then
    // interrupt it.
    let mut child = child;
    let pipe = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains("interfaces:") => break,
            Ok(_) => {}
            Err(e) => panic!("no progress line from natscope: {e}"),
        }
    }
    let pid = libc::pid_t::try_from(child.id()).expect("pids fit pid_t");
    // SAFETY: kill(2) on the child this test started and has not reaped.
    let rc = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(rc, 0, "SIGINT delivered");
    let out = crate::support::wait_bounded(child, Duration::from_secs(20));
    let stderr = reader.join().expect("stderr reader");
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        !stderr.to_lowercase().contains("mapping"),
        "no port-mapping cleanup under --no-portmap: {stderr}"
    );
    drop(silent);
}

/// The status of check `id` in a report's summary.
fn check_status<'a>(doc: &'a Value, id: &str) -> &'a str {
    doc["summary"]["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"] == id)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("absent")
}

/// The same server inputs on every command that takes TURN servers: `ice`
/// and `diagnose` derive REST credentials from --turn-secret as `turn`
/// does, and `turn` reads its servers, with their credentials, from an
/// --ice-servers file. Against coturn, which checks both.
#[test]
fn rest_credentials_and_ice_servers_work_on_every_turn_command() {
    let rest = coturn(true, &[], None);
    let port = rest.server.primary.port();
    let turn = format!("turn:127.0.0.1:{port}");
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<String>>();

    let ice = run(
        "ice-rest",
        &args(&[
            "ice",
            "--turn",
            &turn,
            "--turn-secret",
            SECRET,
            "--filter",
            "relay-relay",
            "--bind",
            "127.0.0.1",
            "--no-data-channel",
            "--connect-timeout",
            "5s",
        ]),
    );
    assert_eq!(ice.exit, 0, "{:#}", ice.doc["ice"]);
    assert_eq!(check_status(&ice.doc, "ice-relay"), "passed");

    let diagnose = run(
        "diagnose-rest",
        &args(&[
            "diagnose",
            &turn,
            "--turn-secret",
            SECRET,
            "--rest-ttl",
            "10m",
            "--no-nat",
            "--no-ice",
            "--no-portmap",
            "--timeout",
            "20s",
        ]),
    );
    assert_eq!(
        check_status(&diagnose.doc, "turn-udp"),
        "passed",
        "{:#}",
        diagnose.doc["turn"]
    );

    let long_term = coturn(false, &[], None);
    let port = long_term.server.primary.port();
    let dir = TempDir::new("turn-ice-servers");
    let file = dir.path("ice.json");
    let ice_servers = serde_json::json!({"iceServers": [
        {"urls": [format!("stun:127.0.0.1:{port}")]},
        {"urls": [format!("turn:127.0.0.1:{port}")], "username": USER, "credential": PASSWORD},
    ]});
    std::fs::write(&file, ice_servers.to_string()).expect("write iceServers");
    let turn = run(
        "turn-ice-servers",
        &args(&[
            "turn",
            "--ice-servers",
            &path_str(&file),
            "--no-quality",
            "--stage-timeout",
            "3s",
        ]),
    );
    assert_eq!(turn.exit, 0, "{:#}", turn.doc["turn"]);
    assert_eq!(check_status(&turn.doc, "turn-udp"), "passed");
    let servers = turn.doc["options"]["servers"].to_string();
    assert!(
        !servers.contains("stun:"),
        "stun: entries are not TURN tests: {servers}"
    );
    assert!(!servers.contains(PASSWORD), "{servers}");
}

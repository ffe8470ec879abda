//! Hostile servers: natscope's CLI (`stun`, `nat`, `turn`) against UDP/TCP/TLS
//! servers on loopback that send garbage, truncated messages, wrong
//! transaction ids, answers from a spoofed source, 64 KiB datagrams,
//! floods of duplicates, SOFTWARE values and reason phrases full of HTML and
//! ANSI/OSC escapes, TCP connections that never speak, and a TLS server
//! with a bad certificate.
//!
//! For every case: natscope finishes within its deadline (`run_bounded`),
//! the JSON names a verdict and matches the schema, the exit code is 0 or 1
//! (never 2, never a panic's 101), `--format table` holds no ESC or other
//! control character, and `--format html` holds the hostile strings only
//! escaped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::support::{TempDir, assert_exit, report_of, run_natscope, stderr_text, stdout_text};
use probe::stun::types::attribute::{ErrorCode, RawAttribute, Software, XorMappedAddress};
use probe::stun::types::message::{Message, MessageWrite, MessageWriteExt, MessageWriteVec};
use serde_json::Value;

/// Upper bound of one natscope run (the runs themselves use 1.5–2 s
/// timeouts); only guards against a hang.
const LIMIT: Duration = Duration::from_secs(40);

/// A SOFTWARE value (≤ 127 characters) an attacker would like rendered: HTML
/// markup, a CSI clear-screen, an OSC window title, a C1 CSI.
const HOSTILE_SOFTWARE: &str =
    "<script>alert(1)</script>\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}31m<img src=x onerror=alert(2)>";

/// A reason phrase with an OSC 8 hyperlink, a table-breaking `</td>`, a CR/LF
/// line forgery and a blinking CSI.
const HOSTILE_REASON: &str = "</td><b>bad</b>\u{1b}]8;;http://x.invalid/\u{1b}\\click\u{1b}]8;;\u{1b}\\\u{1b}[5m\r\nFAKE: ok";

/// Markup fragments of the hostile strings that must never appear raw in
/// the HTML.
const RAW_MARKUP: &[&str] = &[
    "<script>alert(1)",
    "</script><",
    "<img src=x",
    "<b>bad</b>",
    "</td><b>",
];

// ---------------------------------------------------------------- servers

/// What a hostile UDP server does with one request.
type UdpBehaviour = dyn Fn(&UdpSocket, &[u8], SocketAddr) + Send + Sync;

/// A loopback server (UDP or TCP) whose thread runs until it is dropped.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A UDP socket and a TCP listener on the same loopback port (retrying: the
/// ephemeral UDP port's TCP twin may be in use by a parallel test).
fn udp_and_tcp_on_one_port() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind loopback UDP");
        let addr = udp.local_addr().expect("local addr");
        if let Ok(tcp) = TcpListener::bind(addr) {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

impl Server {
    /// Runs `behaviour` for every datagram to a fresh loopback UDP port.
    fn udp(behaviour: Box<UdpBehaviour>) -> Self {
        Self::udp_on(
            UdpSocket::bind("127.0.0.1:0").expect("bind loopback UDP"),
            behaviour,
        )
    }

    /// Runs `behaviour` for every datagram to `sock`.
    fn udp_on(sock: UdpSocket, behaviour: Box<UdpBehaviour>) -> Self {
        let addr = sock.local_addr().expect("local addr");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        Self::spawn(addr, move |stop| {
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    behaviour(&sock, &buf[..n], from);
                }
            }
        })
    }

    /// Hands every connection to a fresh loopback TCP port to `conn`.
    fn tcp(conn: impl Fn(std::net::TcpStream, Arc<AtomicBool>) + Send + Sync + 'static) -> Self {
        Self::tcp_on(
            TcpListener::bind("127.0.0.1:0").expect("bind loopback TCP"),
            conn,
        )
    }

    /// Hands every connection accepted on `listener` to `conn`, each on its
    /// own thread; connections are held open until the server is dropped.
    fn tcp_on(
        listener: TcpListener,
        conn: impl Fn(std::net::TcpStream, Arc<AtomicBool>) + Send + Sync + 'static,
    ) -> Self {
        let addr = listener.local_addr().expect("local addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let conn = Arc::new(conn);
        Self::spawn(addr, move |stop| {
            let mut workers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let (conn, stop) = (conn.clone(), stop.clone());
                        workers.push(std::thread::spawn(move || conn(s, stop)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            for w in workers {
                let _ = w.join();
            }
        })
    }

    /// Runs `serve` on a thread until the stop flag it is given is set.
    fn spawn(addr: SocketAddr, serve: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        Self {
            addr,
            stop,
            thread: Some(std::thread::spawn(move || serve(flag))),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Holds a TCP connection open without sending anything, reading (and
/// discarding) whatever comes, until the server stops.
fn silent(mut s: std::net::TcpStream, stop: Arc<AtomicBool>) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        if let Ok(0) = s.read(&mut buf) {
            // Peer closed; keep the socket until stop anyway.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

// -------------------------------------------------------------- messages

/// A Binding success response to `req` with XOR-MAPPED-ADDRESS `mapped`,
/// optionally a SOFTWARE value and an extra (comprehension-optional) raw
/// attribute.
fn success(
    req: &[u8],
    mapped: SocketAddr,
    software: Option<&str>,
    extra: Option<&[u8]>,
) -> Vec<u8> {
    let msg = Message::from_bytes(req).expect("natscope sends valid STUN requests");
    let mut b = Message::builder_success(&msg, MessageWriteVec::new());
    if let Some(extra) = extra {
        // 0x8fff: comprehension-optional, unknown to natscope.
        let raw = RawAttribute::new(0x8fff.into(), extra);
        b.add_attribute(&raw).expect("extra attribute fits");
    }
    b.add_attribute(&XorMappedAddress::new(mapped, msg.transaction_id()))
        .expect("xor-mapped fits");
    if let Some(sw) = software {
        b.add_attribute(&Software::new(sw).expect("software ≤ 763 bytes"))
            .expect("software fits");
    }
    b.finish()
}

/// An error response to `req` with `code` and `reason`.
fn error_response(req: &[u8], code: u16, reason: &str) -> Vec<u8> {
    let msg = Message::from_bytes(req).expect("natscope sends valid STUN requests");
    let mut b = Message::builder_error(&msg, MessageWriteVec::new());
    let ec = ErrorCode::builder(code)
        .reason(reason)
        .build()
        .expect("reason ≤ 763 bytes");
    b.add_attribute(&ec).expect("error code fits");
    b.finish()
}

/// `bytes` with its transaction id changed.
fn with_other_tid(mut bytes: Vec<u8>) -> Vec<u8> {
    for b in &mut bytes[8..20] {
        *b ^= 0x5a;
    }
    bytes
}

/// Deterministic junk (xorshift) of length `n`.
fn junk(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn mapped_v4() -> SocketAddr {
    // A documentation address: what the "server" claims to see.
    "203.0.113.77:40000".parse().expect("literal")
}

// ---------------------------------------------------------------- checks

/// One natscope invocation in the three output formats (run concurrently).
struct Outputs {
    json: Output,
    table: Output,
    html: Output,
}

fn run_formats(args: &[String]) -> Outputs {
    let run = |format: &'static str| {
        let args = args.to_vec();
        std::thread::spawn(move || {
            run_natscope(
                args.iter().map(String::as_str).chain(["--format", format]),
                LIMIT,
            )
        })
    };
    let (j, t, h) = (run("json"), run("table"), run("html"));
    Outputs {
        json: j.join().expect("json run"),
        table: t.join().expect("table run"),
        html: h.join().expect("html run"),
    }
}

/// The checks every hostile case shares; returns the JSON report.
fn check(o: &Outputs) -> Value {
    for (name, out) in [("json", &o.json), ("table", &o.table), ("html", &o.html)] {
        assert_exit(out, &[0, 1], name);
        let stderr = stderr_text(out);
        assert!(!stderr.contains("panicked"), "{name}: panic: {stderr}");
        assert!(
            !stderr.contains('\u{1b}'),
            "{name}: ESC on stderr: {stderr:?}"
        );
    }
    let table = stdout_text(&o.table);
    if let Some(c) = table.chars().find(|c| c.is_control() && *c != '\n') {
        panic!("control character {c:?} in table output:\n{table}");
    }
    let html = stdout_text(&o.html);
    assert!(html.starts_with("<!DOCTYPE html>"), "not HTML: {html}");
    if let Some(c) = html.chars().find(|c| c.is_control() && *c != '\n') {
        panic!("control character {c:?} in the HTML");
    }
    for raw in RAW_MARKUP {
        assert!(!html.contains(raw), "raw {raw:?} in the HTML");
    }
    report_of(&o.json)
}

/// The table shows `fragment` (the harmless part of a hostile string).
#[track_caller]
fn assert_table_shows(o: &Outputs, fragment: &str) {
    let table = stdout_text(&o.table);
    assert!(
        table.contains(fragment),
        "no {fragment:?} in the table:\n{table}"
    );
}

/// The HTML shows `fragment` (from a hostile string) escaped.
fn assert_html_escaped(o: &Outputs, fragment: &str) {
    let html = stdout_text(&o.html);
    let escaped = fragment
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    assert!(
        html.contains(&escaped),
        "the HTML does not show {escaped:?} (escaped {fragment:?})"
    );
}

/// `natscope stun` against `server` (1.5 s timeout, plus `extra`) in the
/// three formats, through the shared checks: the outputs and the report.
fn run_stun(server: SocketAddr, extra: &[&str]) -> (Outputs, Value) {
    let mut args = vec![
        "stun".to_string(),
        format!("stun:{server}"),
        "--timeout".into(),
        "1.5s".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = run_formats(&args);
    let doc = check(&o);
    (o, doc)
}

/// The tested `stun` section's entry over `transport`, after asserting
/// that its outcome is `want`.
#[track_caller]
fn stun_entry<'a>(doc: &'a Value, transport: &str, want: &str) -> &'a Value {
    assert_eq!(doc["stun"]["status"], "tested", "{doc:#}");
    let entry = doc["stun"]["servers"]
        .as_array()
        .expect("stun.servers")
        .iter()
        .find(|s| s["transport"] == transport)
        .unwrap_or_else(|| panic!("no {transport} entry: {doc:#}"));
    let outcome = entry["outcome"]
        .as_str()
        .expect("outcome is a named string");
    assert_eq!(outcome, want, "{doc:#}");
    entry
}

fn counter(doc: &Value, name: &str) -> u64 {
    doc["stun"]["counters"][name].as_u64().expect("counter")
}

// ------------------------------------------------------------- STUN cases

#[test]
fn stun_garbage_bytes_are_counted_and_time_out() {
    let server = Server::udp(Box::new(|s, _req, from| {
        for (i, n) in [0usize, 1, 19, 20, 100, 1500].into_iter().enumerate() {
            let _ = s.send_to(&junk(n, i as u64 + 7), from);
        }
        // STUN-looking garbage: a valid header shape with junk attributes.
        let mut fake = vec![0x01, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
        fake.extend(junk(12 + 8, 99));
        let _ = s.send_to(&fake, from);
    }));
    let (o, doc) = run_stun(server.addr, &[]);
    stun_entry(&doc, "udp", "timeout");
    assert!(counter(&doc, "malformed") >= 1, "{doc:#}");
    assert_exit(&o.json, &[1], "json");
}

#[test]
fn stun_truncated_messages_are_not_answers() {
    let server = Server::udp(Box::new(|s, req, from| {
        let full = success(req, mapped_v4(), Some("truncated"), None);
        for cut in [1, 10, 20, 24, full.len() - 4, full.len() - 1] {
            let _ = s.send_to(&full[..cut], from);
        }
        // A header that claims more than the datagram holds.
        let mut long = full.clone();
        long[2..4].copy_from_slice(&0x0400u16.to_be_bytes());
        let _ = s.send_to(&long, from);
    }));
    let (_, doc) = run_stun(server.addr, &[]);
    stun_entry(&doc, "udp", "timeout");
    assert!(counter(&doc, "malformed") >= 1, "{doc:#}");
}

#[test]
fn stun_wrong_transaction_ids_are_unmatched() {
    let server = Server::udp(Box::new(|s, req, from| {
        let ok = success(req, mapped_v4(), None, None);
        let _ = s.send_to(&with_other_tid(ok), from);
        let err = error_response(req, 400, "wrong tid");
        let _ = s.send_to(&with_other_tid(err), from);
    }));
    let (_, doc) = run_stun(server.addr, &[]);
    let entry = stun_entry(&doc, "udp", "timeout");
    assert!(counter(&doc, "unmatched") >= 1, "{doc:#}");
    assert!(entry["mapped"].is_null());
}

#[test]
fn stun_answers_from_a_spoofed_source_are_matched_by_transaction_id_only() {
    // The "real" server never answers; a socket on another loopback address
    // answers in its place: first with a wrong transaction id (ignored),
    // then with the right one (accepted: natscope matches by the 96-bit
    // transaction id, as RFC 5780 CHANGE-REQUEST answers come from other
    // addresses too).
    let spoofer = Arc::new(UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2"));
    let spoofed_from = spoofer.local_addr().expect("addr");
    let server = Server::udp(Box::new(move |_s, req, from| {
        let claimed: SocketAddr = "198.51.100.66:1234".parse().expect("literal");
        let ok = success(req, claimed, Some("spoofed"), None);
        let _ = spoofer.send_to(&with_other_tid(ok.clone()), from);
        let _ = spoofer.send_to(&ok, from);
    }));
    assert_ne!(server.addr, spoofed_from);
    let (_, doc) = run_stun(server.addr, &[]);
    let entry = stun_entry(&doc, "udp", "ok");
    assert_eq!(entry["mapped"], "198.51.100.66:1234");
    assert_eq!(entry["software"], "spoofed");
    assert!(counter(&doc, "unmatched") >= 1, "{doc:#}");
}

#[test]
fn stun_oversize_datagrams_are_survived() {
    let server = Server::udp(Box::new(|s, req, from| {
        // The largest IPv4 UDP payload, all junk.
        let _ = s.send_to(&junk(65_507, 3), from);
        // A valid response padded to 65 500 bytes by an unknown optional
        // attribute.
        let small = success(req, mapped_v4(), Some("big"), Some(&[]));
        let pad = 65_500 - small.len();
        let big = success(req, mapped_v4(), Some("big"), Some(&vec![0x41; pad]));
        assert_eq!(big.len(), 65_500);
        let _ = s.send_to(&big, from);
    }));
    let (_, doc) = run_stun(server.addr, &[]);
    let entry = stun_entry(&doc, "udp", "ok");
    assert_eq!(entry["mapped"], mapped_v4().to_string());
    assert!(counter(&doc, "malformed") >= 1, "{doc:#}");
}

#[test]
fn stun_floods_of_duplicates_are_survived() {
    let server = Server::udp(Box::new(|s, req, from| {
        let ok = success(req, mapped_v4(), Some("flood"), None);
        let wrong = with_other_tid(ok.clone());
        // The wrong-id copy goes first: the client handles datagrams in
        // order, so at least one is counted as unmatched before the valid
        // answer completes the transaction (whatever the machine's load).
        for _ in 0..400 {
            let _ = s.send_to(&wrong, from);
            let _ = s.send_to(&ok, from);
        }
    }));
    let (_, doc) = run_stun(server.addr, &[]);
    let entry = stun_entry(&doc, "udp", "ok");
    assert_eq!(entry["mapped"], mapped_v4().to_string());
    assert!(counter(&doc, "unmatched") >= 1, "{doc:#}");
}

#[test]
fn stun_hostile_software_is_kept_in_json_and_neutralised_in_table_and_html() {
    let server = Server::udp(Box::new(|s, req, from| {
        let _ = s.send_to(
            &success(req, mapped_v4(), Some(HOSTILE_SOFTWARE), None),
            from,
        );
    }));
    let (o, doc) = run_stun(server.addr, &[]);
    let entry = stun_entry(&doc, "udp", "ok");
    // JSON is data: the exact value, escaped by JSON itself.
    assert_eq!(entry["software"], HOSTILE_SOFTWARE);
    // The table shows the harmless part of it.
    assert_table_shows(&o, "alert(1)");
    assert_html_escaped(&o, "<script>alert(1)</script>");
    assert_exit(&o.json, &[0], "json");
}

#[test]
fn stun_hostile_error_reason_is_neutralised() {
    let server = Server::udp(Box::new(|s, req, from| {
        let _ = s.send_to(&error_response(req, 400, HOSTILE_REASON), from);
    }));
    let (o, doc) = run_stun(server.addr, &[]);
    let entry = stun_entry(&doc, "udp", "error");
    let err = entry["error"].as_str().expect("error text");
    assert!(err.contains("400"), "{err}");
    assert_table_shows(&o, "FAKE");
    assert_html_escaped(&o, "</td><b>bad</b>");
    assert_exit(&o.json, &[1], "json");
}

#[test]
fn stun_tcp_server_that_never_speaks_times_out() {
    // UDP answers normally; TCP on the same port accepts and stays silent.
    let (udp, listener) = udp_and_tcp_on_one_port();
    let _tcp = Server::tcp_on(listener, silent);
    let server = Server::udp_on(
        udp,
        Box::new(|s, req, from| {
            let _ = s.send_to(&success(req, mapped_v4(), None, None), from);
        }),
    );
    let (_, doc) = run_stun(server.addr, &["--tcp"]);
    stun_entry(&doc, "tcp", "timeout");
    stun_entry(&doc, "udp", "ok");
}

#[test]
fn stun_tcp_server_sending_garbage_is_an_error() {
    let (udp, listener) = udp_and_tcp_on_one_port();
    let _tcp = Server::tcp_on(listener, |mut s, stop| {
        // A STUN-looking header claiming a 64 KiB body (over the frame
        // cap), then junk; then silence.
        let mut hdr = vec![0x01, 0x01, 0xff, 0xfc, 0x21, 0x12, 0xa4, 0x42];
        hdr.extend([0u8; 12]);
        let _ = s.write_all(&hdr);
        let _ = s.write_all(&junk(65_536, 5));
        silent(s, stop);
    });
    let server = Server::udp_on(udp, Box::new(|_, _, _| {}));
    let (_, doc) = run_stun(server.addr, &["--tcp"]);
    stun_entry(&doc, "tcp", "error");
}

// -------------------------------------------------------------- NAT cases

/// `natscope nat` against `server` in the three formats, through the
/// shared checks: the report, whose `nat` section was tested.
fn run_nat(server: SocketAddr) -> Value {
    let args = [
        "nat".into(),
        format!("stun:{server}"),
        "--timeout".into(),
        "2s".into(),
        "--no-hairpin".into(),
        "--port-samples".into(),
        "1".into(),
    ];
    let doc = check(&run_formats(&args));
    assert_eq!(doc["nat"]["status"], "tested", "{doc:#}");
    doc
}

#[test]
fn nat_against_a_hostile_plain_stun_server_gives_a_named_verdict() {
    // Answers with hostile SOFTWARE, no OTHER-ADDRESS, and a flood of
    // wrong-tid and garbage datagrams around every answer.
    let server = Server::udp(Box::new(|s, req, from| {
        let ok = success(req, mapped_v4(), Some(HOSTILE_SOFTWARE), None);
        for i in 0..20 {
            let _ = s.send_to(&junk(64, i), from);
            let _ = s.send_to(&with_other_tid(ok.clone()), from);
        }
        let _ = s.send_to(&ok, from);
    }));
    let doc = run_nat(server.addr);
    assert_eq!(doc["nat"]["udp"], "ok", "{doc:#}");
    assert!(doc["nat"]["mapping"].is_string(), "{doc:#}");
    assert!(doc["nat"]["summary"].is_string(), "{doc:#}");
}

#[test]
fn nat_against_a_garbage_server_gives_a_named_verdict() {
    let server = Server::udp(Box::new(|s, _req, from| {
        let _ = s.send_to(&junk(200, 11), from);
    }));
    let doc = run_nat(server.addr);
    assert!(
        matches!(doc["nat"]["udp"].as_str(), Some("unknown" | "blocked")),
        "{doc:#}"
    );
}

// ------------------------------------------------------------- TURN cases

/// Every failed stage's named failure kind in a report.
fn failure_kinds(doc: &Value) -> Vec<String> {
    let mut kinds = Vec::new();
    collect_kinds(&doc["turn"], &mut kinds);
    kinds
}

fn collect_kinds(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(k)) = m.get("kind") {
                out.push(k.clone());
            }
            m.values().for_each(|v| collect_kinds(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_kinds(v, out)),
        _ => {}
    }
}

/// `natscope turn` against `uri` (plus `extra`) in the three formats,
/// through the shared checks: every TURN result failed, one of them with a
/// stage failure of `kind`. Returns the outputs.
fn turn_fails_with(uri: &str, extra: &[&str], kind: &str) -> Outputs {
    let args: Vec<String> = [
        "turn",
        uri,
        "--username",
        "hostile-user",
        "--password",
        "hostile-pass",
        "--stage-timeout",
        "1000ms",
        "--no-quality",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect();
    let o = run_formats(&args);
    let doc = check(&o);
    assert_eq!(doc["turn"]["status"], "tested", "{doc:#}");
    let results = doc["turn"]["results"].as_array().expect("turn.results");
    assert!(!results.is_empty(), "{doc:#}");
    for r in results {
        assert_eq!(r["ok"], false, "{doc:#}");
    }
    let kinds = failure_kinds(&doc);
    assert!(
        kinds.iter().any(|k| k == kind),
        "no {kind} among {kinds:?}: {doc:#}"
    );
    o
}

#[test]
fn turn_hostile_error_reason_is_named_and_neutralised() {
    // Every Allocate gets a 400 with a hostile reason phrase.
    let server = Server::udp(Box::new(|s, req, from| {
        if Message::from_bytes(req).is_ok() {
            let _ = s.send_to(&error_response(req, 400, HOSTILE_REASON), from);
        }
    }));
    let uri = format!("turn:{}?transport=udp", server.addr);
    let o = turn_fails_with(&uri, &[], "server-error");
    assert_table_shows(&o, "FAKE: ok");
    assert_html_escaped(&o, "</td><b>bad</b>");
    assert_exit(&o.json, &[1], "json");
}

/// A 401 whose NONCE carries the RFC 8489 nonce cookie followed by a
/// multi-byte character across byte 4: stun-proto 2.0.4 panics slicing it
/// (found by the turn_client fuzz target). natscope drops the answer: the
/// run ends with a named failure (exit 1), not a panic (exit 101).
#[test]
fn turn_nonce_that_panics_stun_proto_is_dropped() {
    let nonce = "obMatJos2AAAĞdl7W7PeDU4hKE72jda";
    let server = Server::udp(Box::new(move |s, req, from| {
        let Ok(msg) = Message::from_bytes(req) else {
            return;
        };
        let mut b = Message::builder_error(&msg, MessageWriteVec::new());
        let ec = ErrorCode::builder(401)
            .reason("Unauthorized")
            .build()
            .expect("a short reason");
        b.add_attribute(&ec).expect("error code fits");
        b.add_attribute(&RawAttribute::new(0x0014.into(), b"hostile.test"))
            .expect("realm fits");
        b.add_attribute(&RawAttribute::new(0x0015.into(), nonce.as_bytes()))
            .expect("nonce fits");
        let _ = s.send_to(&b.finish(), from);
    }));
    let uri = format!("turn:{}?transport=udp", server.addr);
    let o = turn_fails_with(&uri, &[], "timeout");
    assert_exit(&o.json, &[1], "json");
}

#[test]
fn turn_udp_garbage_times_out_with_a_named_failure() {
    let server = Server::udp(Box::new(|s, req, from| {
        let _ = s.send_to(&junk(req.len(), 21), from);
        let _ = s.send_to(&junk(65_507, 22), from);
    }));
    let uri = format!("turn:{}?transport=udp", server.addr);
    turn_fails_with(&uri, &[], "timeout");
}

#[test]
fn turn_tcp_server_that_never_speaks_times_out() {
    let tcp = Server::tcp(silent);
    let uri = format!("turn:{}?transport=tcp", tcp.addr);
    turn_fails_with(&uri, &[], "timeout");
}

#[test]
fn turn_tls_server_that_never_speaks_times_out() {
    let tcp = Server::tcp(silent);
    let uri = format!("turns:{}", tcp.addr);
    turn_fails_with(&uri, &["--insecure"], "timeout");
}

#[test]
fn turns_with_a_bad_certificate_is_a_named_tls_failure() {
    use model::servers::Secret;
    use servers::turn::{TurnServer, TurnServerConfig};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut cfg = TurnServerConfig::new("hostile.test", "u", Secret::new("p"));
    // A certificate for another name, from a CA natscope does not know.
    cfg.cert_names = vec!["turn.invalid".into()];
    let server = rt
        .block_on(TurnServer::start(cfg))
        .expect("TURN server starts");
    let uri = format!("turns:{}", server.tls_addr);

    // Unknown CA (system store only).
    turn_fails_with(&uri, &[], "tls-unknown-ca");

    // Trusted CA, wrong name.
    let dir = TempDir::new("hostile");
    let ca = dir.write("ca.pem", server.ca_pem());
    let ca = ca.to_string_lossy().into_owned();
    turn_fails_with(&uri, &["--ca", &ca], "tls-name-mismatch");
    drop(dir);
    drop(server);
}

//! End-to-end tests of the natscope CLI against real servers on loopback:
//! the embedded lab, natscope's RFC 5780 responder, a silent socket and a
//! garbage-spewing one. Checks outputs, the JSON contract and exit codes.

use std::net::{SocketAddr, UdpSocket};
use std::process::Output;
use std::time::Duration;

use crate::support::{
    TempDir, assert_exit, assert_schema_valid, json_of, natscope, report_of, run_bounded,
    run_natscope, stderr_text, stdout_text,
};
use serde_json::Value;
use servers::responder::{Responder, ResponderConfig};

const LIMIT: Duration = Duration::from_secs(30);

/// The report of a run that exited with `code`, checked against the schema.
#[track_caller]
fn report(out: &Output, code: i32) -> Value {
    assert_exit(out, &[code], "natscope");
    report_of(out)
}

/// The summary's check `id`, after asserting it has `status`.
#[track_caller]
fn summary_check<'a>(doc: &'a Value, id: &str, status: &str) -> &'a Value {
    let checks = &doc["summary"]["checks"];
    let check = checks
        .as_array()
        .expect("summary.checks is an array")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}: {checks:#}"));
    assert_eq!(check["status"], status, "check {id}: {checks:#}");
    check
}

/// A STUN server entry answered on loopback, where there is no NAT: the
/// server saw exactly our socket.
#[track_caller]
fn assert_seen_as_ourselves(s: &Value) {
    assert_eq!(s["outcome"], "ok", "{s:#?}");
    let addr = |field: &str| -> SocketAddr {
        s[field]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{field} is an address: {s:#?}"))
    };
    let (mapped, local) = (addr("mapped"), addr("local"));
    assert_eq!(mapped.ip().to_string(), "127.0.0.1", "{s:#?}");
    assert_eq!(mapped.port(), local.port(), "no NAT on loopback: {s:#?}");
}

/// `natscope stun` over UDP and TCP with a short timeout, JSON out; the
/// servers follow.
const STUN_JSON_TCP: [&str; 6] = ["stun", "--format", "json", "--tcp", "--timeout", "5s"];

/// `natscope stun` with a 1 s timeout against a UDP server that never
/// gives a valid answer: exit 1; the report.
fn stun_1s_against(server: SocketAddr) -> Value {
    let server = server.to_string();
    let out = run_natscope(
        ["stun", "--format", "json", "--timeout", "1s", &server],
        LIMIT,
    );
    report(&out, 1)
}

#[test]
fn diagnose_lab_works_on_a_fresh_machine() {
    let out = run_natscope(["diagnose", "--lab", "--format", "json"], LIMIT);
    let doc = report(&out, 0);
    assert_eq!(doc["schema"], "natscope/3");
    assert_eq!(doc["interfaces"]["status"], "tested");
    let servers = doc["stun"]["servers"].as_array().expect("servers array");
    assert_eq!(
        servers.len(),
        4,
        "primary + alternate, UDP + TCP: {servers:#?}"
    );
    for s in servers {
        assert_eq!(s["rfc5780"], true, "{s:#?}");
        assert_seen_as_ourselves(s);
    }
    assert_eq!(doc["stun"]["agreement"]["ipv4"]["same_ip"], true);
    assert_eq!(doc["stun"]["agreement"]["ipv4"]["same_port"], true);
    // Every section works against the embedded servers.
    for id in [
        "stun",
        "udp",
        "nat-eim",
        "turn-udp",
        "turn-tcp",
        "turn-tls",
        "ice-host",
        "ice-srflx",
        "ice-relay",
        "ice-relay-udp",
        "ice-relay-tcp",
        "ice-relay-tls",
    ] {
        summary_check(&doc, id, "passed");
    }
    for section in ["nat", "turn", "ice"] {
        assert_eq!(
            doc[section]["status"], "tested",
            "{section}: {:#?}",
            doc[section]
        );
    }
    assert_eq!(doc["nat"]["mapping"], "endpoint-independent");
    assert_eq!(doc["nat"]["filtering"], "endpoint-independent");
    assert_eq!(doc["nat"]["behind_nat"], false);
    let turn = doc["turn"]["results"].as_array().unwrap();
    assert_eq!(turn.len(), 3);
    assert!(turn.iter().all(|t| t["ok"] == true), "{turn:#?}");
    // Port mapping in the lab: only loopback is asked, nothing answers
    // there, so nothing is available and the check is not tested (never a
    // failure).
    let pm = &doc["portmap"];
    assert_eq!(pm["status"], "tested", "{pm:#?}");
    assert_eq!(pm["gateway"], "127.0.0.1", "{pm:#?}");
    let protocols: Vec<&str> = pm["protocols"]
        .as_array()
        .expect("protocols array")
        .iter()
        .map(|p| p["protocol"].as_str().expect("protocol name"))
        .collect();
    assert_eq!(protocols, ["upnp", "nat-pmp", "pcp"]);
    assert_eq!(pm["protocols"][0]["status"], "not-tested", "{pm:#?}");
    for p in &pm["protocols"].as_array().expect("protocols array")[1..] {
        assert_eq!(p["status"], "not-available", "{p:#?}");
        assert!(p["mapping"].is_null(), "{p:#?}");
    }
    assert_eq!(pm["leftover"], serde_json::json!([]));
    let check = summary_check(&doc, "portmap", "not-tested");
    assert!(
        check["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not available")),
        "{check:#?}"
    );
    // The embedded TURN password is generated per run and never printed.
    assert!(
        !stdout_text(&out).contains("lab-"),
        "no lab password in the output"
    );
}

#[test]
fn no_portmap_sends_nothing_and_says_so() {
    const LAB_STUN_ONLY: [&str; 5] = ["diagnose", "--lab", "--no-portmap", "--no-turn", "--no-ice"];
    let out = run_natscope(LAB_STUN_ONLY.iter().chain(&["--format", "json"]), LIMIT);
    let doc = report(&out, 0);
    assert_eq!(
        doc["portmap"]["status"], "not-tested",
        "{:#?}",
        doc["portmap"]
    );
    let reason = doc["portmap"]["reason"].as_str().expect("reason");
    assert!(reason.contains("--no-portmap"), "{reason}");
    summary_check(&doc, "portmap", "not-tested");

    // `natscope portmap` always tests: `--no-portmap` belongs to
    // `diagnose` only, and is a usage error there (exit 2, nothing sent).
    let out = run_natscope(["portmap", "--no-portmap", "--format", "json"], LIMIT);
    assert_exit(&out, &[2], "portmap --no-portmap");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--no-portmap"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `--require portmap` is a known check (not met here: exit 1).
    let out = run_natscope(
        LAB_STUN_ONLY
            .iter()
            .chain(&["--require", "portmap", "--format", "json"]),
        LIMIT,
    );
    assert_exit(&out, &[1], "--require portmap");
    assert!(stderr_text(&out).contains("required check portmap not tested"));
}

async fn responder() -> Responder {
    Responder::start(ResponderConfig::loopback_lab()).expect("responder starts on loopback")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stun_reports_mapping_and_rfc5780_capability() {
    let r = responder().await;
    let addrs = r.addrs();
    let alt = addrs.alternate.expect("two-address responder");
    let servers = [format!("stun:{}", addrs.primary), alt.to_string()];
    let args: Vec<String> = STUN_JSON_TCP
        .iter()
        .map(|a| a.to_string())
        .chain(servers)
        .collect();
    let out = tokio::task::spawn_blocking(move || run_natscope(args, LIMIT))
        .await
        .expect("the natscope run does not panic");
    let doc = report(&out, 0);
    let servers = doc["stun"]["servers"].as_array().expect("servers array");
    assert_eq!(servers.len(), 4);
    for s in servers {
        assert_seen_as_ourselves(s);
        assert!(s["other_address"].as_str().is_some(), "{s:#?}");
        assert!(
            s["software"]
                .as_str()
                .is_some_and(|sw| sw.starts_with("natscope")),
            "{s:#?}"
        );
    }
    // The primary's OTHER-ADDRESS names the alternate.
    assert_eq!(servers[0]["other_address"], alt.to_string());
    // RESPONSE-ORIGIN of the primary is the primary.
    assert_eq!(servers[0]["response_origin"], addrs.primary.to_string());
    r.shutdown().await;
}

#[test]
fn silent_server_times_out_within_the_deadline_and_exits_1() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let doc = stun_1s_against(silent.local_addr().unwrap());
    let s = &doc["stun"]["servers"][0];
    assert_eq!(s["outcome"], "timeout", "{s:#?}");
    assert!(
        s["transmissions"].as_u64().unwrap() >= 2,
        "retransmitted: {s:#?}"
    );
    summary_check(&doc, "udp", "failed");
    drop(silent);
}

#[test]
fn garbage_answers_are_counted_and_ignored() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let spewer = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let mut answered = 0;
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            // Garbage, a truncated STUN header, and a response with a wrong transaction id.
            let _ = sock.send_to(b"\x00\x01garbage\xff\xfe", from);
            let _ = sock.send_to(&buf[..n.min(10)], from);
            // A well-formed Binding success response, header only, whose
            // transaction id is not ours.
            let mut wrong = buf[..n.min(20)].to_vec();
            wrong[0] = 0x01;
            wrong[1] = 0x01;
            wrong[2] = 0;
            wrong[3] = 0;
            wrong[19] ^= 0xff;
            let _ = sock.send_to(&wrong, from);
            answered += 1;
            if answered > 8 {
                break;
            }
        }
    });
    let doc = stun_1s_against(addr);
    let s = &doc["stun"]["servers"][0];
    assert_eq!(s["outcome"], "timeout", "{s:#?}");
    let counters = &doc["stun"]["counters"];
    assert!(counters["malformed"].as_u64().unwrap() >= 1, "{counters}");
    assert!(counters["unmatched"].as_u64().unwrap() >= 1, "{counters}");
    let _ = spewer.join();
}

#[test]
fn bad_input_is_a_one_line_error_and_exit_2() {
    for args in [
        vec!["stun", "ftp://example.invalid"],
        vec!["stun", "stun:[::1"],
        vec!["stun", "--ice-servers", "/nonexistent/ice.json"],
        vec!["stun", "--timeout", "soon", "127.0.0.1:1"],
    ] {
        let out = run_natscope(&args, LIMIT);
        assert_exit(&out, &[2], &format!("{args:?}"));
        let err = stderr_text(&out);
        assert!(out.stdout.is_empty(), "{args:?}");
        let last = args.last().unwrap();
        assert!(
            err.contains(last) || err.contains("soon"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn table_output_honours_no_color_and_interfaces_lists_loopback() {
    let out = run_natscope(["interfaces", "--format", "table"], LIMIT);
    assert_exit(&out, &[0], "interfaces --format table");
    let text = String::from_utf8(out.stdout).expect("the table is UTF-8");
    assert!(
        !text.contains('\u{1b}'),
        "no escape sequences with NO_COLOR"
    );
    assert!(text.contains("127.0.0.1/8"), "{text}");

    let doc = report(&run_natscope(["interfaces", "--format", "json"], LIMIT), 0);
    let ifs = doc["interfaces"]["interfaces"].as_array().unwrap();
    let lo = ifs
        .iter()
        .find(|i| i["kind"] == "loopback")
        .expect("a loopback interface");
    assert!(
        lo["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["ip"] == "127.0.0.1" && a["scope"]["loopback"] == true)
    );
}

#[test]
fn output_file_is_written() {
    let dir = TempDir::new("cli");
    let path = dir.path("report.json");
    let mut cmd = natscope();
    cmd.args(["diagnose", "--lab", "-o"]).arg(&path);
    let out = run_bounded(cmd, LIMIT);
    assert_exit(&out, &[0], "diagnose -o");
    assert!(out.stdout.is_empty());
    let doc = read_report(&path);
    assert_eq!(doc["schema"], "natscope/3");
}

/// A report written to a file.
fn read_report(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the report file was written");
    serde_json::from_str(&text).expect("the report file is JSON")
}

#[test]
fn stun_against_real_coturn_reports_mapping_and_rfc5780() {
    use lab::{CoturnOptions, LoopbackCoturn};
    // Two listening addresses: coturn answers RFC 5780 (OTHER-ADDRESS).
    let two = LoopbackCoturn::start(&CoturnOptions::default(), true)
        .expect("coturn starts on loopback (scripts/test installs the coturn package)");
    // One address: a plain RFC 8489 server.
    let one = LoopbackCoturn::start(&CoturnOptions::default(), false).expect("coturn starts");
    let (two_uri, one_uri) = (
        format!("stun:{}", two.primary),
        format!("turn:{}", one.primary),
    );
    let out = run_natscope(
        STUN_JSON_TCP
            .iter()
            .chain(&[two_uri.as_str(), one_uri.as_str()]),
        LIMIT,
    );
    let doc = report(&out, 0);
    let servers = doc["stun"]["servers"].as_array().expect("servers array");
    assert_eq!(servers.len(), 4, "{servers:#?}");
    for s in servers {
        assert_seen_as_ourselves(s);
        assert!(
            s["software"].as_str().unwrap_or("").contains("Coturn"),
            "{s:#?}"
        );
    }
    let two_addr = two.primary.to_string();
    for s in servers {
        let is_two = s["address"] == two_addr.as_str();
        assert_eq!(
            s["rfc5780"], is_two,
            "RFC 5780 only with two addresses: {s:#?}"
        );
        if is_two {
            let other: SocketAddr = s["other_address"].as_str().unwrap().parse().unwrap();
            assert_eq!(other.ip().to_string(), "127.0.0.2");
            assert_eq!(other.port(), two.primary.port() + 1);
        }
    }
    assert_eq!(doc["stun"]["agreement"]["ipv4"]["same_port"], true);
}

#[test]
fn require_gates_ci_on_named_checks() {
    let out = run_natscope(
        ["diagnose", "--lab", "--format", "json"]
            .iter()
            .chain(&["--require", "udp,nat-eim,turn-tls,ice-relay"]),
        LIMIT,
    );
    assert_exit(&out, &[0], "requirements met");

    // A skipped section cannot satisfy a requirement: exit 1, one line each.
    let out = run_natscope(
        [
            "diagnose",
            "--lab",
            "--no-turn",
            "--no-ice",
            "--format",
            "json",
        ]
        .iter()
        .chain(&["--require", "udp,turn-udp,ice-relay"]),
        LIMIT,
    );
    assert_exit(&out, &[1], "requirements of skipped sections");
    let err = stderr_text(&out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("required check"))
        .collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines.iter().any(|l| l.contains("turn-udp")));
    assert!(lines.iter().any(|l| l.contains("ice-relay")));
    let doc = json_of(&out);
    assert_eq!(doc["turn"]["status"], "not-tested");
    assert_eq!(doc["turn"]["reason"], "skipped (--no-turn)");

    // An unknown check name is a usage error.
    let out = run_natscope(["diagnose", "--lab", "--require", "full-cone"], LIMIT);
    assert_exit(&out, &[2], "unknown check name");
    assert!(stderr_text(&out).contains("full-cone"));
}

#[test]
fn html_output_redaction_and_report_render() {
    let dir = TempDir::new("html");
    let json = dir.path("r.json");
    let html = dir.path("r.html");
    let mut cmd = natscope();
    cmd.args(["diagnose", "--lab", "--redact", "-o"]).arg(&json);
    assert_exit(&run_bounded(cmd, LIMIT), &[0], "diagnose --redact -o");
    let doc = read_report(&json);
    assert_eq!(doc["options"]["redacted"], true);
    assert_schema_valid(&doc);
    let mut cmd = natscope();
    cmd.args(["report", "render"])
        .arg(&json)
        .arg("-o")
        .arg(&html);
    assert_exit(&run_bounded(cmd, LIMIT), &[0], "report render");
    let page = std::fs::read_to_string(&html).expect("the page was written");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("id=\"natscope-report\""));
    // A report of an unknown schema is a one-line error, exit 2.
    let bad = dir.write("bad.json", "{\"schema\": \"natscope/9\"}");
    let mut cmd = natscope();
    cmd.args(["report", "render"]).arg(bad);
    let out = run_bounded(cmd, LIMIT);
    assert_exit(&out, &[2], "report render of an unknown schema");
    assert!(stderr_text(&out).contains("natscope/9"));
}

#[test]
fn serve_answers_rfc5780_exposes_metrics_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_natscope"))
        .args([
            "serve",
            "--primary",
            "127.0.0.1",
            "--alternate",
            "127.0.0.2",
        ])
        .args(["--port", "0", "--alt-port", "0", "--metrics", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("natscope serve starts");
    // Kill it whatever happens below; SIGTERM is the graceful path tested.
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().expect("piped stdout");
    let mut guard = Guard(child);
    // The startup lines: bound addresses, OTHER-ADDRESS, metrics URL.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let metrics_url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("serve printed no metrics line; so far: {lines:#?}"));
        lines.push(line.clone());
        if let Some(url) = line.strip_prefix("metrics http://") {
            break url.trim_end_matches("/metrics").to_string();
        }
    };
    let primary = lines
        .iter()
        .find_map(|l| l.strip_prefix("udp "))
        .expect("a udp line")
        .to_string();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("OTHER-ADDRESS 127.0.0.2:")),
        "{lines:#?}"
    );

    // A real client: natscope stun sees an RFC 5780 server.
    let uri = format!("stun:{primary}");
    let doc = json_of(&run_natscope(["stun", "--format", "json", &uri], LIMIT));
    assert_eq!(doc["stun"]["servers"][0]["outcome"], "ok");
    assert_eq!(doc["stun"]["servers"][0]["rfc5780"], true);

    // Prometheus metrics count it.
    let mut s = std::net::TcpStream::connect(&metrics_url).expect("metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let requests: f64 = body
        .lines()
        .find(|l| l.starts_with("natscope_serve_requests_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no requests counter in:\n{body}"));
    assert!(requests >= 1.0, "{body}");
    assert!(
        body.contains(&format!(
            "natscope_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{body}"
    );
    assert!(
        body.contains("# TYPE natscope_serve_start_time_seconds gauge\n"),
        "{body}"
    );

    // The serve bench's independent generator (Go, tests/peers/stun-load)
    // gets valid answers in both of its modes (what the bench counts).
    let go = crate::support::gobuild::build_peer(
        "stun-load",
        &std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stun-load"),
        Duration::from_secs(300),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for batch in ["-batch=true", "-batch=false"] {
        let mut cmd = std::process::Command::new(&go);
        cmd.args(["-server", &primary, batch, "-warmup", "100ms"])
            .args(["-duration", "300ms", "-sockets", "2", "-window", "4"]);
        let out = run_bounded(cmd, LIMIT);
        assert_exit(&out, &[0], &format!("stun-load {batch}"));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("stun-load output ({e}): {out:?}"));
        assert!(r["answers"].as_u64().unwrap_or(0) > 0, "{batch}: {r}");
        assert_eq!(r["unmatched"], 0, "{batch}: {r}");
    }

    // SIGTERM: a clean shutdown with exit 0.
    // SAFETY: kill(2) on the pid of a child we own and have not reaped.
    let rc = unsafe { libc::kill(guard.0.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = guard.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "serve ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

/// `--version` names the commit (that of this checkout when git can tell)
/// and the build date.
#[test]
fn version_names_the_commit_and_the_build_date() {
    let out = run_natscope(["--version"], LIMIT);
    assert_exit(&out, &[0], "--version");
    let text = stdout_text(&out);
    let prefix = format!("natscope {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&prefix), "{text}");
    let rest = &text[prefix.len()..];
    let (commit, rest) = rest
        .split_once(", built ")
        .expect("commit, then build date");
    let date = rest
        .trim_end()
        .strip_suffix(')')
        .expect("closing parenthesis");
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{text}"
    );
    let parts: Vec<&str> = date.split('-').collect();
    assert!(
        parts.len() == 3 && parts[0].len() == 4 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "{text}"
    );
    if let Ok(git) = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        && git.status.success()
    {
        assert_eq!(
            commit,
            String::from_utf8_lossy(&git.stdout).trim(),
            "{text}"
        );
    }
}

/// `serve` on a taken port, or with a taken metrics address: exit 2, the
/// OS reason said once, and no "listening" line printed before the failure.
#[test]
fn serve_bind_errors_are_said_once_and_nothing_claims_to_listen() {
    let taken_udp = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP port");
    let udp_port = taken_udp.local_addr().unwrap().port().to_string();
    let out = run_natscope(
        [
            "serve",
            "--primary",
            "127.0.0.1",
            "--port",
            &udp_port,
            "--no-tcp",
        ],
        LIMIT,
    );
    assert_exit(&out, &[2], "serve on a taken UDP port");
    let err = stderr_text(&out);
    let os = std::io::Error::from(std::io::ErrorKind::AddrInUse).to_string();
    let os_word = "in use";
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches(os_word).count(), 1, "{err} (OS text: {os})");
    assert!(err.contains(&format!("127.0.0.1:{udp_port}")), "{err}");
    assert!(stdout_text(&out).trim().is_empty(), "{}", stdout_text(&out));

    let taken_tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback TCP port");
    let metrics = taken_tcp.local_addr().unwrap().to_string();
    let out = run_natscope(
        [
            "serve",
            "--primary",
            "127.0.0.1",
            "--port",
            "0",
            "--no-tcp",
            "--metrics",
            &metrics,
        ],
        LIMIT,
    );
    assert_exit(&out, &[2], "serve with a taken metrics address");
    let err = stderr_text(&out);
    assert!(err.contains(&metrics), "{err}");
    assert_eq!(err.matches(os_word).count(), 1, "{err}");
    assert!(
        !stdout_text(&out).contains("udp "),
        "printed a listening line before failing: {}",
        stdout_text(&out)
    );
    drop((taken_udp, taken_tcp));
}

#[test]
fn every_probe_command_writes_schema_valid_json() {
    // `nat` and `ice` against the embedded responder; `portmap` skipped
    // (sends nothing). stun/diagnose/interfaces/turn are covered above and
    // in tests/hostile.rs.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(async { responder().await });
    let primary = format!("stun:{}", r.addrs().primary);
    for args in [
        vec!["nat", "--format", "json", primary.as_str()],
        vec![
            "ice",
            "--format",
            "json",
            "--no-data-channel",
            "--stun",
            primary.as_str(),
        ],
    ] {
        let out = run_natscope(&args, LIMIT);
        assert_exit(&out, &[0, 1], &format!("{args:?}"));
        let doc = report_of(&out);
        assert_eq!(doc["schema"], "natscope/3", "{args:?}");
    }
    drop(r);
}

/// `natscope ice` with TURN over TCP and over TLS (`turns:`, certificate
/// checked with `--ca`): relay↔relay connects over each, the report tags
/// relayed candidates with their relay protocol, and the per-transport
/// checks pass; the password appears nowhere.
#[test]
fn ice_relays_over_turn_tcp_and_tls_from_the_command_line() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let password = "tcp-and-tls-s3cret";
    let turn = rt
        .block_on(servers::turn::TurnServer::start(
            servers::turn::TurnServerConfig::new(
                "natscope.test",
                "alice",
                model::Secret::new(password),
            ),
        ))
        .expect("embedded TURN server starts");
    let dir = TempDir::new("ice-tls");
    let ca = dir.write("ca.pem", turn.ca_pem());
    let mut cmd = natscope();
    cmd.args([
        "ice",
        "--format",
        "json",
        "--filter",
        "relay-relay",
        "--username",
        "alice",
    ])
    .env("NATSCOPE_TURN_PASSWORD", password)
    .arg("--turn")
    .arg(format!("turn:{}?transport=tcp", turn.tcp_addr))
    .arg("--turn")
    .arg(format!("turns:localhost:{}", turn.tls_addr.port()))
    .arg("--ca")
    .arg(&ca);
    let out = run_bounded(cmd, LIMIT);
    let doc = report(&out, 0);
    assert!(!stdout_text(&out).contains(password) && !stderr_text(&out).contains(password));
    let runs = doc["ice"]["runs"].as_array().expect("runs");
    // relay-relay with both servers, then once over each transport.
    let only: Vec<&str> = runs
        .iter()
        .map(|r| r["relay_only"].as_str().unwrap_or("all"))
        .collect();
    assert_eq!(only, ["all", "tcp", "tls"], "{runs:#?}");
    for r in runs {
        assert_eq!(r["connected"], true, "{r:#?}");
        if let Some(p) = r["relay_only"].as_str() {
            assert_eq!(r["selected"]["local_relay_protocol"], p, "{r:#?}");
            assert_eq!(r["selected"]["remote_relay_protocol"], p, "{r:#?}");
        }
        for a in r["agents"].as_array().expect("agents") {
            for c in a["candidates"].as_array().expect("candidates") {
                assert!(
                    matches!(c["relay_protocol"].as_str(), Some("tcp" | "tls")),
                    "{c:#?}"
                );
            }
        }
    }
    summary_check(&doc, "ice-relay-tcp", "passed");
    summary_check(&doc, "ice-relay-tls", "passed");
    summary_check(&doc, "ice-relay-udp", "not-tested");
    drop(dir);
    turn.shutdown();
}

/// Shell completions come from the clap definitions: bash parses the script
/// and, sourced, registers a completion for natscope that knows the
/// subcommands and their flags; zsh's and fish's have their headers.
#[test]
fn completions_parse_in_bash_and_know_every_command() {
    let dir = TempDir::new("completions");
    let out = run_natscope(["completions", "bash"], LIMIT);
    assert_exit(&out, &[0], "completions bash");
    let script = stdout_text(&out);
    for word in [
        "diagnose",
        "portmap",
        "--stun-timeout",
        "--turn-secret",
        "--ice-servers",
    ] {
        assert!(script.contains(word), "bash completion lacks {word}");
    }
    let file = dir.path("natscope.bash");
    std::fs::write(&file, &script).expect("write the script");
    let parse = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("bash runs");
    assert!(
        parse.status.success(),
        "{}",
        String::from_utf8_lossy(&parse.stderr)
    );
    let sourced = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(". '{}' && complete -p natscope", file.display()))
        .output()
        .expect("bash runs");
    assert!(
        sourced.status.success() && String::from_utf8_lossy(&sourced.stdout).contains("natscope"),
        "{}{}",
        String::from_utf8_lossy(&sourced.stdout),
        String::from_utf8_lossy(&sourced.stderr)
    );
    let zsh = run_natscope(["completions", "zsh"], LIMIT);
    assert_exit(&zsh, &[0], "completions zsh");
    assert!(stdout_text(&zsh).starts_with("#compdef natscope"));
    let fish = run_natscope(["completions", "fish"], LIMIT);
    assert_exit(&fish, &[0], "completions fish");
    assert!(stdout_text(&fish).contains("complete -c natscope"));
    let bad = run_natscope(["completions", "tcsh"], LIMIT);
    assert_exit(&bad, &[2], "completions tcsh");
}

/// The man page comes from the clap definitions and is valid roff: groff
/// renders it without a warning, and it names every command.
#[test]
fn man_page_renders_and_names_every_command() {
    let dir = TempDir::new("man");
    let out = run_natscope(["man"], LIMIT);
    assert_exit(&out, &[0], "man");
    let page = stdout_text(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH natscope"),
        "{page}"
    );
    let file = dir.path("natscope.1");
    std::fs::write(&file, &page).expect("write the page");
    let render = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .arg(&file)
        .output()
        .expect("groff runs (Debian package groff-base)");
    let stderr = String::from_utf8_lossy(&render.stderr);
    assert!(
        render.status.success() && stderr.trim().is_empty(),
        "{stderr}"
    );
    let text = String::from_utf8_lossy(&render.stdout);
    for cmd in [
        "interfaces",
        "stun",
        "nat",
        "turn",
        "ice",
        "portmap",
        "diagnose",
        "serve",
        "report",
        "completions",
    ] {
        assert!(text.contains(cmd), "man page lacks {cmd}");
    }
}

/// A table written to a pipe fits `COLUMNS`, and the first screen is the
/// verdict; each command prints only its own sections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_fit_columns_and_commands_print_only_their_sections() {
    let out = tokio::task::spawn_blocking(|| {
        run_natscope_env(
            ["diagnose", "--lab", "--format", "table"],
            &[("COLUMNS", "100")],
        )
    })
    .await
    .expect("natscope ran");
    assert_exit(&out, &[0, 1], "diagnose --lab --format table");
    let text = stdout_text(&out);
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 100, "a line of {widest} columns:\n{text}");
    let first_screen: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
    assert!(first_screen.starts_with("natscope "), "{first_screen}");
    assert!(first_screen.contains("Verdict"), "{first_screen}");
    // `stun` prints its own sections only: no "not tested (not run)" lines.
    let r = responder().await;
    let target = format!("stun:{}", r.addrs().primary);
    let out = tokio::task::spawn_blocking(move || {
        run_natscope_env(["stun", &target, "--format", "table"], &[("COLUMNS", "80")])
    })
    .await
    .expect("natscope ran");
    assert_exit(&out, &[0], "stun --format table");
    let text = stdout_text(&out);
    assert!(!text.contains("not run"), "{text}");
    assert!(!text.contains("\nNAT"), "{text}");
    assert!(text.contains("STUN servers"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
}

fn run_natscope_env<'a>(args: impl IntoIterator<Item = &'a str>, env: &[(&str, &str)]) -> Output {
    let mut cmd = natscope();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(cmd, LIMIT)
}

/// Piped stdout makes the output JSON; a person watching stderr (a
/// terminal, here the pseudo-terminal `script` gives) is told so once, and
/// nobody is told when the format was asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_switching_to_json_is_said_once_on_a_watched_stderr() {
    let r = responder().await;
    let target = format!("stun:{}", r.addrs().primary);
    let bin = env!("CARGO_BIN_EXE_natscope");
    let say = |extra: &'static str| {
        let line = format!("'{bin}' stun {target} --timeout 2s {extra} | cat > /dev/null");
        tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new("script");
            cmd.args(["-qec", &line, "/dev/null"]).env("NO_COLOR", "1");
            run_bounded(cmd, LIMIT)
        })
    };
    let implicit = say("").await.expect("script ran");
    let text = stdout_text(&implicit);
    assert_eq!(
        text.matches("stdout is not a terminal").count(),
        1,
        "{text}"
    );
    assert!(text.contains("--format table"), "{text}");
    let explicit = say("--format json").await.expect("script ran");
    assert!(
        !stdout_text(&explicit).contains("not a terminal"),
        "{}",
        stdout_text(&explicit)
    );
}

//! `natscope browser`: real headless Chromium and Firefox ESR as the other
//! peer, connected to natscope's own WebRTC peer (str0m).
//!
//! - Against the embedded servers (`--lab`), inside a lab namespace (so
//!   every packet the browser sends stays in namespaces this test made):
//!   candidates of every type (host, srflx, relay over TURN/UDP, TCP and
//!   TLS), a data channel to natscope's peer under both ICE policies, and
//!   getStats figures, for each browser.
//! - Behind the netns lab's kernel NATs (the browser in the client
//!   namespace, natscope and coturn on the public side): the browser's
//!   srflx address is the NAT's public address; behind a NAT that drops
//!   UDP it gets relayed candidates over TURN/TCP and TURN/TLS only and
//!   still connects; natscope's own TURN test agrees.
//! - Bad input: no browser, a browser that dies, a page that never reports,
//!   requests without the token, and a hostile "page" that posts garbage
//!   and markup: bounded, named in the report, escaped in the HTML.
//!
//! `NATSCOPE_TEST_DUMP=1` prints each lab run's `browser` section and
//! coturn's (verbose) log.
//!
//! Needs root (namespaces), chromium, firefox-esr, coturn and certutil
//! (libnss3-tools): scripts/test installs them. Without them the tests fail
//! and say what is missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use lab::{CoturnOptions, Lab, LabSpec, NatBehaviour};
use serde_json::Value;

use crate::support::{self, assert_schema_valid, lab_up};

/// Longest one `natscope browser` run may take in these tests (a hang is a
/// bug; never a speed assertion).
const LIMIT: Duration = Duration::from_secs(120);

fn natscope_bin() -> &'static str {
    env!("CARGO_BIN_EXE_natscope")
}

/// `natscope ARGS` inside the namespace `ns` (`ip netns exec`), bounded.
fn natscope_in(ns: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, natscope_bin()])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("NATSCOPE_LOG");
    support::run_bounded(cmd, LIMIT)
}

fn report(out: &std::process::Output, what: &str) -> Value {
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not JSON ({e}); exit {:?}; stderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_schema_valid(&doc);
    doc
}

fn gathering<'a>(doc: &'a Value, policy: &str) -> &'a Value {
    doc["browser"]["gathering"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["policy"] == policy))
        .unwrap_or_else(|| panic!("no {policy} gathering in {:#}", doc["browser"]))
}

fn connection<'a>(doc: &'a Value, policy: &str) -> &'a Value {
    doc["browser"]["connections"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["policy"] == policy))
        .unwrap_or_else(|| panic!("no {policy} connection in {:#}", doc["browser"]))
}

fn candidates<'a>(g: &'a Value, kind: &str) -> Vec<&'a Value> {
    g["candidates"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["type"] == kind).collect())
        .unwrap_or_default()
}

fn relay_protocols(g: &Value) -> Vec<String> {
    let mut p: Vec<String> = candidates(g, "relay")
        .iter()
        .filter_map(|c| c["relay_protocol"].as_str().map(str::to_owned))
        .collect();
    p.sort();
    p.dedup();
    p
}

fn assert_connected(doc: &Value, policy: &str) {
    let c = connection(doc, policy);
    assert_eq!(c["outcome"], "connected", "{policy}: {c:#}");
    assert_eq!(c["echoed"], c["sent"], "{policy}: {c:#}");
    assert!(c["sent"].as_u64().unwrap_or(0) >= 1, "{policy}: {c:#}");
    assert!(c["round_trip_ms"].as_f64().is_some(), "{policy}: {c:#}");
    assert!(c["ice_connected_ms"].as_f64().is_some(), "{policy}: {c:#}");
    assert!(
        c["stats"]["bytes_sent"].as_u64().unwrap_or(0) > 0,
        "{policy}: getStats figures missing: {c:#}"
    );
    assert!(
        c["stats"]["bytes_received"].as_u64().unwrap_or(0) > 0,
        "{policy}: {c:#}"
    );
    assert!(c["selected"].is_object(), "{policy}: {c:#}");
    let saw = c["peer_saw"].as_str().unwrap_or_default();
    assert!(saw.starts_with("ICE connected, DTLS up"), "{policy}: {c:#}");
}

/// One `natscope browser --lab --headless BROWSER` run inside a lab's server
/// namespace (its loopback carries the embedded servers and the page).
fn embedded_run(browser: &str) {
    let lab = lab_up(LabSpec::new(NatBehaviour::None));
    let out = natscope_in(
        &lab.server_ns(),
        &[
            "browser",
            "--lab",
            "--headless",
            browser,
            "--format",
            "json",
        ],
    );
    let doc = report(&out, browser);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{browser}: stderr:\n{}\n{:#}",
        String::from_utf8_lossy(&out.stderr),
        doc["diagnosis"]
    );
    let b = &doc["browser"];
    assert_eq!(b["status"], "tested", "{b:#}");
    let name = b["browser"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(name.contains(browser), "{browser}: {:#}", b["browser"]);
    assert!(
        !b["browser"]["version"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
    let all = gathering(&doc, "all");
    assert_eq!(all["complete"], true, "{all:#}");
    for kind in ["host", "srflx", "relay"] {
        assert!(
            !candidates(all, kind).is_empty(),
            "{browser}: no {kind} candidate: {all:#}"
        );
    }
    assert_eq!(
        relay_protocols(all),
        ["tcp", "tls", "udp"],
        "{browser}: {all:#}"
    );
    let relay = gathering(&doc, "relay");
    for kind in ["host", "srflx", "prflx"] {
        assert!(
            candidates(relay, kind).is_empty(),
            "{browser}: relay policy gave {kind}: {relay:#}"
        );
    }
    assert_eq!(
        relay_protocols(relay),
        ["tcp", "tls", "udp"],
        "{browser}: {relay:#}"
    );
    assert_connected(&doc, "all");
    assert_connected(&doc, "relay");
    assert_eq!(connection(&doc, "relay")["selected"]["local"], "relay");
    // natscope's own TURN view of the same servers is beside it.
    assert_eq!(doc["turn"]["status"], "tested", "{:#}", doc["turn"]);
    // Credentials never reach the report.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("\"credential\""),
        "a credential field in the report"
    );
}

#[test]
fn chromium_gathers_every_candidate_type_and_connects_to_natscope() {
    embedded_run("chromium");
}

#[test]
fn firefox_gathers_every_candidate_type_and_connects_to_natscope() {
    embedded_run("firefox");
}

#[test]
fn a_missing_browser_is_a_usage_error_naming_what_was_looked_for() {
    let out = support::run_natscope(
        [
            "browser",
            "--lab",
            "--headless",
            "firefox",
            "--browser-path",
            "/nonexistent/firefox",
        ],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/firefox"), "{err}");
    assert!(err.contains("apt-get install firefox-esr"), "{err}");
    let bad = support::run_natscope(["browser", "--lab", "--headless", "lynx"], LIMIT);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("chromium, firefox"));
}

#[test]
fn a_browser_that_dies_is_named_in_the_report_within_the_limit() {
    let out = support::run_natscope(
        [
            "browser",
            "--lab",
            "--headless",
            "chromium",
            "--browser-path",
            "/bin/false",
            "--timeout",
            "30s",
            "--format",
            "json",
        ],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1));
    let doc = report(&out, "dead browser");
    let reason = doc["browser"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("the browser exited"), "{reason}");
}

/// Starts `natscope browser ARGS` (no browser) and returns the child and
/// the page URL it printed.
fn start_unopened(args: &[&str]) -> (std::process::Child, String, std::thread::JoinHandle<String>) {
    let mut child = support::natscope()
        .args(["browser", "--no-open", "--format", "json"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natscope starts");
    let mut err = BufReader::new(child.stderr.take().expect("stderr piped"));
    let mut url = String::new();
    let mut seen = String::new();
    for _ in 0..20 {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
        if let Some(u) = line.trim().strip_prefix("http://") {
            url = format!("http://{u}");
            break;
        }
    }
    assert!(!url.is_empty(), "no URL printed; stderr:\n{seen}");
    let rest = std::thread::spawn(move || {
        let mut s = seen;
        let _ = err.read_to_string(&mut s);
        s
    });
    (child, url, rest)
}

fn http(addr: SocketAddr, req: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(35)))
        .expect("timeout");
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// POSTs `body` to a step, with `cookie` (`name=value`, or empty).
fn post(addr: SocketAddr, cookie: &str, step: &str, body: &str) -> String {
    http(
        addr,
        &format!(
            "POST /api/{step} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// The session cookie (`name=value`) the page's answer sets.
fn session_cookie(page: &str) -> String {
    page.lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("the page sets a session cookie:\n{page}"))
        .to_owned()
}

fn addr_and_token(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let token = path.strip_prefix("s/").expect("/s/TOKEN").to_owned();
    (host.parse().expect("host:port"), token)
}

#[test]
fn a_page_that_never_reports_ends_the_run_at_the_limit_and_strangers_get_403() {
    let (child, url, stderr) = start_unopened(&["--lab", "--timeout", "3s", "--no-turn"]);
    let (addr, token) = addr_and_token(&url);
    // Without (or with a wrong) token: 403.
    let r = http(addr, "GET /s/0123 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 403"), "{r}");
    // The URL's token is not the session: it opens no step.
    let r = post(addr, &format!("natscope_session={token}"), "config", "{}");
    assert!(r.starts_with("HTTP/1.1 403"), "{r}");
    assert!(!r.contains("credential"), "{r}");
    let out = support::wait_bounded(child, LIMIT);
    let err = stderr.join().expect("stderr reader");
    assert_eq!(out.status.code(), Some(1), "{err}");
    let doc = report(&out, "unopened page");
    let reason = doc["browser"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("never reported back"), "{reason}");
    assert!(reason.contains("3s"), "{reason}");
    assert!(err.contains("refused 2 request(s)"), "{err}");
}

const HOSTILE: &str = "<script>alert(1)</script>\u{1b}[2J\u{1b}]8;;http://attacker.example/\u{7}x";

#[test]
fn a_hostile_page_is_bounded_named_and_escaped() {
    let (child, url, stderr) = start_unopened(&["--lab", "--timeout", "20s", "--no-turn"]);
    let (addr, token) = addr_and_token(&url);
    let page = http(addr, &format!("GET /s/{token} HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let cookie = session_cookie(&page);
    assert!(
        page.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'; script-src 'sha256-")
    );
    // The one-time link does not load twice.
    let again = http(addr, &format!("GET /s/{token} HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert!(again.starts_with("HTTP/1.1 403"), "{again}");
    // The config carries the credentials (to the page only, over POST),
    // once.
    let cfg = post(addr, &cookie, "config", "{}");
    assert!(cfg.contains("\"credential\""), "{cfg}");
    let again = post(addr, &cookie, "config", "{}");
    assert!(again.starts_with("HTTP/1.1 403"), "{again}");
    let h = serde_json::json!({ "user_agent": HOSTILE }).to_string();
    assert!(post(addr, &cookie, "hello", &h).starts_with("HTTP/1.1 200"));
    let g = serde_json::json!({"policy": "all", "complete": true, "total_ms": 1e300,
        "candidates": [{"type": "relay", "protocol": "udp", "address": HOSTILE, "port": 9, "url": HOSTILE, "relay_protocol": "udp", "at_ms": 1e308}],
        "errors": [{"code": 701, "url": HOSTILE, "text": HOSTILE, "at_ms": 3}]}).to_string();
    assert!(post(addr, &cookie, "gathered", &g).starts_with("HTTP/1.1 200"));
    // Garbage: named, not fatal.
    assert!(post(addr, &cookie, "gathered", "{not json").starts_with("HTTP/1.1 200"));
    let bad_offer = post(
        addr,
        &cookie,
        "offer",
        r#"{"policy":"all","sdp":"v=0 garbage"}"#,
    );
    assert!(bad_offer.contains("\"error\""), "{bad_offer}");
    let big = format!(r#"{{"policy":"relay","sdp":"{}"}}"#, "a".repeat(300_000));
    assert!(post(addr, &cookie, "offer", &big).starts_with("HTTP/1.1 413"));
    let c = serde_json::json!({"policy": "all", "outcome": "connected", "failure": HOSTILE, "echoed": 9, "sent": 1}).to_string();
    assert!(post(addr, &cookie, "connected", &c).starts_with("HTTP/1.1 200"));
    assert!(post(addr, &cookie, "done", "{}").starts_with("HTTP/1.1 200"));
    let out = support::wait_bounded(child, LIMIT);
    let _ = stderr.join();
    let doc = report(&out, "hostile page");
    let b = &doc["browser"];
    assert_eq!(b["status"], "tested", "{b:#}");
    let notes = b["not_tested"].to_string();
    assert!(notes.contains("the page's gathering report"), "{notes}");
    assert!(notes.contains("natscope's WebRTC peer"), "{notes}");
    // Counts are clamped (echoed never above sent), the deadline-free
    // policy the page skipped is named.
    let all = connection(&doc, "all");
    assert_eq!(all["echoed"], 1);
    assert_eq!(connection(&doc, "relay")["outcome"], "timed-out");
    // Rendered: escaped in HTML, sanitised in the terminal.
    let dir = support::TempDir::new("browser-hostile");
    let json = dir.write("r.json", &out.stdout);
    let html = support::run_natscope(
        [
            "report".as_ref(),
            "render".as_ref(),
            json.as_os_str(),
            "--format".as_ref(),
            "html".as_ref(),
        ],
        LIMIT,
    );
    let html = String::from_utf8_lossy(&html.stdout);
    assert!(!html.contains("<script>alert(1)"), "raw markup in the HTML");
    assert!(!html.contains('\u{1b}'), "an escape character in the HTML");
    let table = support::run_natscope(
        [
            "report".as_ref(),
            "render".as_ref(),
            json.as_os_str(),
            "--format".as_ref(),
            "table".as_ref(),
        ],
        LIMIT,
    );
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        !table.contains('\u{1b}'),
        "an escape character in the table"
    );
}

/// A script that runs the browser inside the lab's client namespace: the
/// browser is started by natscope (on the public side) but lives behind
/// the NAT.
fn wrapper(dir: &support::TempDir, ns: &str, browser: &str) -> PathBuf {
    let program = match browser {
        "chromium" => "/usr/bin/chromium",
        _ => "/usr/bin/firefox-esr",
    };
    let path = dir.write(
        &format!("{browser}-in-{ns}"),
        format!("#!/bin/sh\nexec ip netns exec {ns} {program} \"$@\"\n"),
    );
    let mut perm = std::fs::metadata(&path).expect("wrapper").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&path, perm).expect("chmod");
    path
}

/// The TURN server's name in the lab (`/etc/netns/NS/hosts`, which `ip
/// netns exec` mounts as `/etc/hosts`: no DNS server needed). Firefox makes
/// no relayed candidate from a `turns:` URL with an IP literal (checked:
/// Chromium does), and users name their TURN servers anyway.
const TURN_NAME: &str = "turn.lab.example";

/// `/etc/netns/NS/hosts` and `resolv.conf` for the namespaces of one
/// test, removed on drop.
struct NetnsHosts(Vec<PathBuf>);

impl NetnsHosts {
    fn new(namespaces: &[String], line: &str) -> Self {
        let dirs = namespaces
            .iter()
            .map(|ns| {
                let dir = PathBuf::from("/etc/netns").join(ns);
                std::fs::create_dir_all(&dir).expect("/etc/netns is writable (root)");
                std::fs::write(dir.join("hosts"), format!("127.0.0.1 localhost\n{line}\n"))
                    .expect("hosts file");
                // No name server in the lab: queries go to the namespace's
                // own loopback and are refused at once (never towards the
                // host's resolver address, never a wait for a timeout).
                std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.1\n")
                    .expect("resolv.conf");
                dir
            })
            .collect();
        NetnsHosts(dirs)
    }
}

impl Drop for NetnsHosts {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// One lab run: the lab, the report, and what a second command in the lab
/// needs (the servers and credentials, kept-alive files).
struct NatRun {
    lab: Lab,
    doc: Value,
    out: std::process::Output,
    server_args: Vec<String>,
    _hosts: NetnsHosts,
    _dir: support::TempDir,
}

/// The browser in the client namespace behind `nat`, natscope's page and
/// peer at the server's public address, coturn beside it. `turns_host` is
/// the host the `turns:` URL names (TURN_NAME, or the IP).
fn behind_nat(nat: NatBehaviour, browser: &str, turns_by_ip: bool) -> NatRun {
    behind_nat_with(nat, browser, turns_by_ip, false, &[])
}

/// The TURN REST shared secret of [`behind_nat_with`]'s `rest` runs.
const REST_SECRET: &str = "Rk3BrowserRestSecret0aNeverPrint";
/// coturn's long-term password in the lab.
const PASSWORD: &str = "natscope-secret";

/// [`behind_nat`] with TURN REST credentials (`rest`: coturn
/// `use-auth-secret`, natscope `--turn-secret`) and `extra` arguments.
fn behind_nat_with(
    nat: NatBehaviour,
    browser: &str,
    turns_by_ip: bool,
    rest: bool,
    extra: &[&str],
) -> NatRun {
    let lab = lab_up(LabSpec::new(nat));
    let server_ip = IpAddr::V4(lab.addrs().server_primary);
    let hosts = NetnsHosts::new(
        &[lab.client_ns(), lab.server_ns()],
        &format!("{server_ip} {TURN_NAME}"),
    );
    let pki = servers::pki::Pki::generate(&[TURN_NAME, &server_ip.to_string()]).expect("pki");
    let coturn = lab
        .start_coturn(CoturnOptions {
            tls_pki: Some(pki.clone()),
            rest_secret: rest.then(|| REST_SECRET.to_owned()),
            extra_config: if std::env::var_os("NATSCOPE_TEST_DUMP").is_some() {
                vec!["verbose".into()]
            } else {
                Vec::new()
            },
            ..CoturnOptions::default()
        })
        .expect("coturn starts in the server namespace");
    let dir = support::TempDir::new(&format!(
        "browser-{}-{browser}-{turns_by_ip}-{rest}",
        nat.as_str()
    ));
    let ca = dir.write("ca.pem", &pki.ca_pem);
    let wrap = wrapper(&dir, &lab.client_ns(), browser);
    let p = coturn.primary;
    let turns = if turns_by_ip {
        format!("turns:{}", coturn.tls)
    } else {
        format!("turns:{TURN_NAME}:{}", coturn.tls.port())
    };
    let server_args: Vec<String> = vec![
        format!("stun:{p}"),
        format!("turn:{p}?transport=udp"),
        format!("turn:{p}?transport=tcp"),
        turns,
        "--ca".into(),
        ca.display().to_string(),
    ];
    let mut server_args = server_args;
    if rest {
        server_args.extend(["--turn-secret".into(), REST_SECRET.into()]);
        server_args.extend(["--username".into(), "rest-user".into()]);
    } else {
        server_args.extend(["--username".into(), coturn.user.clone()]);
        server_args.extend(["--password".into(), PASSWORD.into()]);
    }
    let listen = format!("{server_ip}:0");
    let wrap = wrap.display().to_string();
    let mut args: Vec<&str> = vec!["browser"];
    args.extend(server_args.iter().map(String::as_str));
    args.extend([
        "--headless",
        browser,
        "--browser-path",
        &wrap,
        "--listen",
        &listen,
        "--gather-timeout",
        "12s",
        "--timeout",
        "100s",
        "--format",
        "json",
    ]);
    args.extend(extra);
    let out = natscope_in(&lab.server_ns(), &args);
    let doc = report(&out, &format!("{browser} behind {}", nat.as_str()));
    if std::env::var_os("NATSCOPE_TEST_DUMP").is_some() {
        eprintln!("{:#}", doc["browser"]);
        let log = std::fs::read_to_string(lab.workdir().join("turnserver.log")).unwrap_or_default();
        eprintln!("coturn log:\n{log}");
    }
    assert_eq!(
        doc["browser"]["status"],
        "tested",
        "{:#}\nstderr:\n{}",
        doc["browser"],
        String::from_utf8_lossy(&out.stderr)
    );
    NatRun {
        lab,
        doc,
        out,
        server_args,
        _hosts: hosts,
        _dir: dir,
    }
}

fn assert_srflx_is_the_nat(lab: &Lab, doc: &Value) {
    // The NAT's public address (the carrier's with a double NAT; the
    // client's own without NAT).
    let public = lab.addrs().expected_public.to_string();
    let all = gathering(doc, "all");
    let srflx = candidates(all, "srflx");
    assert!(!srflx.is_empty(), "{all:#}");
    for c in srflx {
        assert_eq!(c["address"], public.as_str(), "{c:#}");
    }
    assert_connected(doc, "all");
    assert_connected(doc, "relay");
    // natscope's peer saw the browser's packets come from the NAT.
    let saw = connection(doc, "all")["peer_saw"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(saw.contains(&format!("came from {public}:")), "{saw}");
}

#[test]
fn behind_an_eim_apdf_nat_chromium_srflx_is_the_nat_and_connects() {
    let run = behind_nat(NatBehaviour::EimApdf, "chromium", false);
    assert_srflx_is_the_nat(&run.lab, &run.doc);
    assert_eq!(
        relay_protocols(gathering(&run.doc, "all")),
        ["tcp", "tls", "udp"]
    );
}

#[test]
fn behind_a_symmetric_nat_firefox_srflx_is_the_nat_and_connects() {
    let run = behind_nat(NatBehaviour::Apdm, "firefox", false);
    assert_srflx_is_the_nat(&run.lab, &run.doc);
    assert_eq!(
        relay_protocols(gathering(&run.doc, "all")),
        ["tcp", "tls", "udp"]
    );
}

fn udp_blocked(browser: &str) {
    let run = behind_nat(NatBehaviour::UdpBlocked, browser, false);
    let doc = &run.doc;
    let all = gathering(doc, "all");
    assert!(candidates(all, "srflx").is_empty(), "{all:#}");
    assert_eq!(relay_protocols(all), ["tcp", "tls"], "{all:#}");
    let relay = gathering(doc, "relay");
    assert_eq!(relay_protocols(relay), ["tcp", "tls"], "{relay:#}");
    assert_connected(doc, "all");
    assert_connected(doc, "relay");
    for policy in ["all", "relay"] {
        let sel = &connection(doc, policy)["selected"];
        assert_eq!(sel["local"], "relay", "{policy}: {sel:#}");
        let rp = sel["relay_protocol"].as_str().unwrap_or_default();
        assert!(rp == "tcp" || rp == "tls", "{policy}: {sel:#}");
    }
    // natscope's own TURN test from the same namespace agrees: UDP to the
    // server fails, TCP and TLS relay.
    let mut args: Vec<&str> = vec!["turn"];
    args.extend(
        run.server_args
            .iter()
            .map(String::as_str)
            .filter(|a| !a.starts_with("stun:")),
    );
    args.extend(["--format", "json"]);
    let turn = natscope_in(&run.lab.client_ns(), &args);
    let turn: Value = serde_json::from_slice(&turn.stdout).expect("turn JSON");
    let results = turn["turn"]["results"].as_array().expect("turn results");
    let ok = |t: &str| {
        results
            .iter()
            .filter(|r| r["transport"] == t)
            .any(|r| r["ok"] == true)
    };
    assert!(!ok("udp"), "{results:#?}");
    assert!(ok("tcp") && ok("tls"), "{results:#?}");
}

#[test]
fn behind_a_udp_blocking_nat_chromium_relays_over_tcp_and_tls_only_and_connects() {
    udp_blocked("chromium");
}

#[test]
fn behind_a_udp_blocking_nat_firefox_relays_over_tcp_and_tls_only_and_connects() {
    udp_blocked("firefox");
}

fn finding<'a>(doc: &'a Value, id: &str) -> Option<&'a Value> {
    doc["diagnosis"]["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["id"] == id))
}

/// A browser rule, found in this lab: Firefox makes no relayed candidate
/// from a `turns:` URL that names an IP address (no error either), though
/// the certificate covers the IP and its CA is trusted; the same server by
/// name works (the tests above). The report says which rule.
#[test]
fn firefox_makes_no_relay_from_a_turns_url_with_an_ip_and_the_report_names_the_rule() {
    let run = behind_nat(NatBehaviour::EimEif, "firefox", true);
    assert_srflx_is_the_nat(&run.lab, &run.doc);
    assert_eq!(relay_protocols(gathering(&run.doc, "all")), ["tcp", "udp"]);
    assert_eq!(
        relay_protocols(gathering(&run.doc, "relay")),
        ["tcp", "udp"]
    );
    let f = finding(&run.doc, "browser-turns-ip-literal")
        .unwrap_or_else(|| panic!("{:#}", run.doc["diagnosis"]));
    assert_eq!(f["severity"], "warning", "{f:#}");
    assert!(
        f["title"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Firefox made no relay candidate from turns:203.0.113.100:5349"),
        "{f:#}"
    );
    // Not mistaken for a server problem: natscope's own TLS test relayed.
    assert!(
        finding(&run.doc, "browser-no-relay-candidate").is_none(),
        "{:#}",
        run.doc["diagnosis"]
    );
}

#[test]
fn chromium_relays_over_a_turns_url_with_an_ip_and_the_report_warns_for_firefox() {
    let run = behind_nat(NatBehaviour::EimAdf, "chromium", true);
    assert_srflx_is_the_nat(&run.lab, &run.doc);
    assert_eq!(
        relay_protocols(gathering(&run.doc, "all")),
        ["tcp", "tls", "udp"]
    );
    let f = finding(&run.doc, "browser-turns-ip-literal")
        .unwrap_or_else(|| panic!("{:#}", run.doc["diagnosis"]));
    assert_eq!(f["severity"], "info", "{f:#}");
}

#[test]
fn behind_an_address_dependent_nat_chromium_srflx_is_the_nat_and_connects() {
    let run = behind_nat(NatBehaviour::Adm, "chromium", false);
    assert_srflx_is_the_nat(&run.lab, &run.doc);
}

#[test]
fn behind_a_double_nat_firefox_srflx_is_the_carrier_and_connects() {
    let run = behind_nat(NatBehaviour::DoubleNat, "firefox", false);
    assert_srflx_is_the_nat(&run.lab, &run.doc);
}

#[test]
fn without_nat_chromium_srflx_is_its_own_address_and_connects() {
    let run = behind_nat(NatBehaviour::None, "chromium", false);
    assert_eq!(
        run.lab.addrs().expected_public,
        run.lab.addrs().client,
        "routed lab: the client's address is public"
    );
    assert_srflx_is_the_nat(&run.lab, &run.doc);
}

/// `natscope serve --embedded`: natscope's own servers alone, with their
/// iceServers JSON and CA, are enough for `browser` and `turn` (no coturn).
#[test]
fn embedded_servers_alone_serve_a_browser_and_natscope_turn() {
    let lab = lab_up(LabSpec::new(NatBehaviour::None));
    let dir = support::TempDir::new("browser-embedded-alone");
    let ca = dir.path("ca.pem");
    let mut serve = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.server_ns(),
            natscope_bin(),
            "serve",
            "--embedded",
            "--ca-out",
        ])
        .arg(&ca)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("natscope serve --embedded starts");
    let mut line = String::new();
    BufReader::new(serve.stdout.take().expect("stdout piped"))
        .read_line(&mut line)
        .expect("the iceServers line");
    let ice: Value = serde_json::from_str(&line).expect("iceServers JSON");
    let entries = ice["iceServers"].as_array().expect("iceServers array");
    assert!(
        entries.iter().any(|e| e["credential"].is_string()),
        "{ice:#}"
    );
    let ice_path = dir.write("ice.json", &line);
    let ice_arg = ice_path.display().to_string();
    let ca_arg = ca.display().to_string();
    let out = natscope_in(
        &lab.server_ns(),
        &[
            "browser",
            "--ice-servers",
            &ice_arg,
            "--ca",
            &ca_arg,
            "--headless",
            "firefox",
            "--no-turn",
            "--format",
            "json",
        ],
    );
    let doc = report(&out, "embedded alone");
    assert_eq!(
        relay_protocols(gathering(&doc, "all")),
        ["tcp", "tls", "udp"]
    );
    assert_connected(&doc, "all");
    assert_connected(&doc, "relay");
    let turn = natscope_in(
        &lab.server_ns(),
        &[
            "turn",
            "--ice-servers",
            &ice_arg,
            "--ca",
            &ca_arg,
            "--format",
            "json",
        ],
    );
    assert_eq!(
        turn.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&turn.stdout)
    );
    // SIGTERM stops it cleanly.
    let pid = i32::try_from(serve.id()).expect("pid");
    // SAFETY: kill(2) on the child this test started.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = serve.wait().expect("serve exits");
    assert!(status.success(), "{status}");
}

/// TURN REST credentials reach the browser (it relays with them) and never
/// the report, the terminal or the logs, at the highest verbosity.
#[test]
fn rest_credentials_reach_the_browser_and_nothing_else() {
    let run = behind_nat_with(NatBehaviour::EimApdf, "chromium", false, true, &["-vvv"]);
    assert_connected(&run.doc, "relay");
    assert_eq!(
        relay_protocols(gathering(&run.doc, "relay")),
        ["tcp", "tls", "udp"]
    );
    let now = probe::turn::creds::unix_now();
    let mut secrets = vec![REST_SECRET.to_owned()];
    // The passwords natscope may have derived (REST TTL 1 h, give or take).
    for expiry in now + 3600 - 120..=now + 3600 + 60 {
        let user = probe::turn::creds::rest_username(expiry, Some("rest-user"));
        let pass =
            probe::turn::creds::rest_password(&model::servers::Secret::new(REST_SECRET), &user);
        secrets.push(pass.expose().to_owned());
    }
    for (name, text) in [("stdout", &run.out.stdout), ("stderr", &run.out.stderr)] {
        let text = String::from_utf8_lossy(text);
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a secret in {name}");
        }
    }
}

/// A long-term password never reaches the report or the terminal.
#[test]
fn a_long_term_password_reaches_the_browser_and_nothing_else() {
    let run = behind_nat_with(NatBehaviour::EimApdf, "firefox", false, false, &["-vv"]);
    assert_connected(&run.doc, "relay");
    for (name, text) in [("stdout", &run.out.stdout), ("stderr", &run.out.stderr)] {
        assert!(
            !String::from_utf8_lossy(text).contains(PASSWORD),
            "the password in {name}"
        );
    }
}

#[test]
fn usage_errors_name_their_input() {
    let no_creds = support::run_natscope(
        [
            "browser",
            "turn:127.0.0.1:9",
            "stuns:127.0.0.1:9",
            "--no-open",
        ],
        LIMIT,
    );
    assert_eq!(no_creds.status.code(), Some(2));
    let err = String::from_utf8_lossy(&no_creds.stderr);
    assert!(
        err.contains("turn:127.0.0.1:9: no TURN credentials"),
        "{err}"
    );
    assert!(
        err.contains("stuns:127.0.0.1:9: browsers do not use stuns: URLs"),
        "{err}"
    );
    let any = support::run_natscope(["browser", "--lab", "--listen", "0.0.0.0:0"], LIMIT);
    assert_eq!(any.status.code(), Some(2));
    let err = String::from_utf8_lossy(&any.stderr);
    assert!(
        err.contains("--listen 0.0.0.0:0: give the address the browser will reach"),
        "{err}"
    );
    let none = support::run_natscope(["browser", "--no-open"], LIMIT);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("or use --lab"));
}

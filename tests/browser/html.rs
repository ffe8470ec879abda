//! The HTML report in a real browser (headless Chromium): the DOM holds the
//! hostile strings only as text, the key parts are there, nothing is logged
//! to the console (no script errors, no Content-Security-Policy violations),
//! and a screenshot is written to target/html-report.png for people to look
//! at (target/html-report-phone.png at phone width; the page itself is
//! target/html-report.html).
//!
//! Chromium is required: without it this test fails and says how to
//! install it (`apt-get install -y chromium`; scripts/test installs it).
//! `NATSCOPE_CHROMIUM` overrides the path of the browser.

use model::{Report, Section};
use serde_json::{Value, json};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Longest a single Chromium run may take before it is killed.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(90);

const HOSTILE: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>'><svg onload=alert(1)></script><script>alert(2)</script><!--\u{1b}[2J\u{1b}]8;;http://attacker.example/\u{7}link\u{1b}]8;;\u{1b}\\";

fn chromium() -> PathBuf {
    let path = std::env::var_os("NATSCOPE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "Chromium not found at {}: the HTML browser test needs it. Install it with \
         `apt-get install -y chromium` (scripts/test installs it), or point \
         NATSCOPE_CHROMIUM at a Chromium binary.",
        path.display()
    );
    path
}

/// The workspace's target directory (this test runs from target/<profile>/deps).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path is known");
    exe.ancestors()
        .nth(3)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "natscope-html-{what}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    stdout: String,
    stderr: String,
}

/// Run headless Chromium on `page` with `extra` arguments, in its own process
/// group, killing the whole group after [`CHROMIUM_DEADLINE`].
fn run_chromium(page: &Path, extra: &[String]) -> Run {
    let profile = TempDir::new("profile");
    let url = format!("file://{}", page.display());
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.0.display()))
    .args(extra)
    .arg(&url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let mut child = cmd.spawn().expect("start chromium");
    let pgid = child.id() as libc::pid_t;
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let deadline = Instant::now() + CHROMIUM_DEADLINE;
    let status = loop {
        match child.try_wait().expect("poll chromium") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    // Whatever is left of the browser's process group (renderer, GPU and
    // zygote helpers) goes too, so the pipes close and nothing lingers.
    // SAFETY: kill(2) on the process group this test created for chromium.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.wait();
    let stdout = out_thread.join().expect("stdout reader");
    let stderr = err_thread.join().expect("stderr reader");
    match status {
        None => panic!(
            "chromium did not finish within {CHROMIUM_DEADLINE:?}; killed. stderr:\n{stderr}"
        ),
        Some(s) if !s.success() => panic!("chromium failed ({s}); stderr:\n{stderr}"),
        Some(_) => Run { stdout, stderr },
    }
}

/// Console messages (script errors, CSP violations, console.*) Chromium
/// logged for `page`.
fn console_lines<'a>(run: &'a Run, page: &Path) -> Vec<&'a str> {
    let source = format!("source: file://{}", page.display());
    run.stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains(&source))
        .collect()
}

fn fixture(name: &str) -> Report {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/reports")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    report::from_json(&text).expect("fixture is a valid natscope report")
}

/// The synthetic fixture with TURN results (one working, one failing) and
/// the ICE runs of the real lab run (full.json), so every part of the page
/// is drawn.
fn showcase() -> Report {
    let mut r = fixture("synthetic.json");
    let none = |mut v: Value| {
        for k in [
            "relayed_address",
            "mapped_address",
            "lifetime_secs",
            "peer",
            "redirected_from",
            "software",
            "quality",
            "realm",
        ] {
            v.as_object_mut()
                .expect("literal is an object")
                .entry(k)
                .or_insert(Value::Null);
        }
        v["stale_nonce_retried"] = json!(false);
        v
    };
    let turn = json!({
        "results": [
            none(json!({"uri": "turn:turn.example.net:3478", "transport": "udp", "server": "198.51.100.5:3478",
             "ok": true, "failed_stage": null, "failure": null,
             "stages": [
                {"stage": "unauthenticated_allocate", "status": "passed", "duration_ms": 11.0, "error": null, "note": null},
                {"stage": "allocate", "status": "passed", "duration_ms": 14.0, "error": null, "note": "stale nonce, retried once"},
                {"stage": "create_permission", "status": "passed", "duration_ms": 6.2, "error": null, "note": null},
                {"stage": "channel_bind", "status": "passed", "duration_ms": 5.1, "error": null, "note": null},
                {"stage": "channel_round_trip", "status": "passed", "duration_ms": 3.5, "error": null, "note": null},
                {"stage": "deallocate", "status": "passed", "duration_ms": 4.0, "error": null, "note": null}
             ],
             "realm": "example.net", "relayed_address": "203.0.113.9:50000", "lifetime_secs": 600,
             "quality": {"sent": 20, "received": 20, "loss_percent": 0.0, "rtt_p50_ms": 3.1,
                         "rtt_p95_ms": 4.2, "throughput_kbps": 120.5}})),
            none(json!({"uri": "turns:turn.example.net:5349", "transport": "tls", "server": "198.51.100.5:5349",
             "ok": false, "failed_stage": "tls_handshake", "failure": {"kind": "tls_unknown_ca"},
             "stages": [
                {"stage": "tcp_connect", "status": "passed", "duration_ms": 2.0, "error": null, "note": null},
                {"stage": "tls_handshake", "status": "failed", "duration_ms": 5.0, "error": {"kind": "tls_unknown_ca"}, "note": null},
                {"stage": "allocate", "status": "not_tested", "duration_ms": null, "error": null, "note": null}
             ]}))
        ]
    });
    r.turn = Section::Tested(serde_json::from_value(turn).expect("typed TURN section"));
    r.ice = fixture("full.json").ice;
    r
}

/// The showcase with every free-text field replaced by [`HOSTILE`].
fn hostile() -> Report {
    let h = HOSTILE;
    let mut v: Value =
        serde_json::from_str(&showcase().to_json_pretty()).expect("report JSON parses");
    v["command"] = json!(h);
    for s in v["stun"]["servers"].as_array_mut().expect("stun servers") {
        s["label"] = json!(h);
        s["software"] = json!(h);
        s["error"] = json!(h);
    }
    for e in v["nat"]["evidence"].as_array_mut().expect("evidence") {
        e["detail"] = json!(h);
    }
    for i in v["interfaces"]["interfaces"]
        .as_array_mut()
        .expect("interfaces")
    {
        i["name"] = json!(h);
        i["vpn_hint"] = json!(h);
    }
    v["summary"]["problems"] = json!([h]);
    v["summary"]["checks"][0]["reason"] = json!(h);
    v["turn"]["results"][1]["stages"][1]["error"] =
        json!({"kind": "server_error", "code": 420, "reason": h});
    v["turn"]["results"][0]["realm"] = json!(h);
    v["turn"]["results"][0]["software"] = json!(h);
    v["turn"]["results"][0]["stages"][1]["note"] = json!(h);
    v["ice"]["status"] = json!("not-tested");
    v["ice"] = json!({"status": "not-tested", "reason": h});
    serde_json::from_value(v).expect("hostile report matches the model")
}

fn write_page(dir: &TempDir, name: &str, html: &str) -> PathBuf {
    let path = dir.0.join(name);
    std::fs::write(&path, html).expect("write the page");
    path
}

#[test]
fn hostile_report_is_inert_in_a_browser() {
    let dir = TempDir::new("page");
    let page = write_page(&dir, "report.html", &report::html::render(&hostile()));
    let run = run_chromium(&page, &["--dump-dom".to_owned()]);
    let dom = &run.stdout;

    for id in [
        "id=\"verdict\"",
        "<svg id=\"nat-diagram\"",
        "<table id=\"stun-table\"",
        "<svg id=\"stun-rtt-chart\"",
        "id=\"interfaces\"",
        "<table id=\"interfaces-table\"",
        "id=\"turn-waterfall-1\"",
        "<table id=\"turn-table\"",
        "<script type=\"application/json\" id=\"natscope-report\">",
    ] {
        assert!(dom.contains(id), "{id:?} missing from the DOM:\n{dom}");
    }
    // One script element (our inert JSON), no injected elements or handlers.
    assert_eq!(dom.matches("<script").count(), 1, "DOM:\n{dom}");
    // (The serializer quotes every attribute value; in text, `<` is `&lt;`.)
    for injected in ["<img", "onerror=\"", "onload=\"", "<svg onload", "<!--"] {
        assert!(!dom.contains(injected), "{injected:?} in the DOM:\n{dom}");
    }
    // The hostile strings are there, as text.
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(dom.contains("not tested: &lt;script&gt;alert(1)"));

    // The embedded JSON element's text reads back to the same report.
    let open = "<script type=\"application/json\" id=\"natscope-report\">";
    let start = dom.find(open).expect("JSON element") + open.len();
    let len = dom[start..].find("</script>").expect("JSON element closed");
    let back = report::from_json(&dom[start..start + len]).expect("embedded JSON parses");
    assert_eq!(back, hostile());

    let console = console_lines(&run, &page);
    assert!(
        console.is_empty(),
        "console messages (script errors / CSP violations) for the page:\n{}",
        console.join("\n")
    );
}

#[test]
fn console_capture_sees_violations() {
    // Control: the same capture must notice a blocked inline script under
    // the report's CSP, or the "no console messages" check above proves
    // nothing.
    let dir = TempDir::new("control");
    let html = format!(
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"{}\"><title>control</title></head><body><p id=\"x\">x</p><script>document.title = 'ran';</script></body></html>",
        report::html::CONTENT_SECURITY_POLICY
    );
    let page = write_page(&dir, "control.html", &html);
    let run = run_chromium(&page, &["--dump-dom".to_owned()]);
    assert!(
        run.stdout.contains("<title>control</title>"),
        "inline script blocked"
    );
    let console = console_lines(&run, &page);
    assert!(
        console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "the CSP violation was not captured; stderr:\n{}",
        run.stderr
    );
}

/// Checks a PNG's signature and returns its width and height (IHDR).
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "{} is not a PNG",
        path.display()
    );
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

#[test]
fn screenshots_for_review() {
    let target = target_dir();
    // Kept next to the screenshots, for people to open.
    let page = target.join("html-report.html");
    std::fs::write(&page, report::html::render(&showcase())).expect("write the page");
    for (name, size, min_bytes) in [
        ("html-report.png", "1280,2000", 50_000),
        ("html-report-phone.png", "390,1800", 20_000),
    ] {
        let png = target.join(name);
        let _ = std::fs::remove_file(&png);
        let run = run_chromium(
            &page,
            &[
                format!("--screenshot={}", png.display()),
                format!("--window-size={size}"),
            ],
        );
        let (w, h) = png_size(&png);
        let want: Vec<u32> = size
            .split(',')
            .map(|n| n.parse().expect("literal size"))
            .collect();
        assert_eq!((w, h), (want[0], want[1]), "screenshot size");
        // A blank page compresses to a few kilobytes; text and charts do not.
        let len = std::fs::metadata(&png).expect("screenshot written").len();
        assert!(
            len > min_bytes,
            "{name} is suspiciously small ({len} bytes)"
        );
        let console = console_lines(&run, &page);
        assert!(
            console.is_empty(),
            "console messages:\n{}",
            console.join("\n")
        );
        eprintln!("screenshot: {}", png.display());
    }
}

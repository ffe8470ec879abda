//! The HTML report in a real browser (headless Chromium): the DOM holds the
//! hostile strings only as text, the key parts are there, nothing is logged
//! to the console (no script errors, no Content-Security-Policy violations),
//! the layout is measured at 1280×800 and 390×844 (no sideways scrolling,
//! no text below 11 px, SVG text at its drawn scale, every `<details>`
//! closed, the verdict, findings and checks on the first desktop screen),
//! printing shows the collapsed details, and screenshots are written to
//! target/html-report.png (1280×800) and target/html-report-phone.png
//! (390×844) for people to look at (the page itself is
//! target/html-report.html, the measurements target/html-layout-*.json).
//!
//! The measurements run in a COPY of the page with a measuring script added
//! (the product page runs no script), laid out in an iframe of exactly the
//! viewport's size: a headless window cannot be narrower than 500 px, a
//! frame can, and the frame is the page's real viewport (media queries,
//! `innerWidth`).
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
    std::fs::write(&page, report::html::render(&lab_like())).expect("write the page");
    for (name, size, min_bytes) in [
        ("html-report.png", "1280,800", 30_000),
        ("html-report-phone.png", "390,844", 20_000),
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

/// The showcase concluded by the rules, as `natscope diagnose` writes it:
/// summary, checks, advice and the diagnosis with its findings.
fn lab_like() -> Report {
    let mut r = showcase();
    rules::conclude(&mut r);
    assert!(
        !r.diagnosis.findings.is_empty() && !r.summary.checks.is_empty(),
        "the concluded showcase has findings and checks"
    );
    r
}

/// Runs in a COPY of the page (the product page has no script and a CSP
/// that forbids one): measures the layout at the frame's viewport, once as
/// the page opens and once with every `<details>` opened, and logs the
/// numbers as one console line `NATSCOPE-MEASURE {json}`.
const MEASURE_JS: &str = r#"
(function () {
  function fontScan() {
    var min = 1e9, where = '', count = 0;
    var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    var n;
    while ((n = walker.nextNode())) {
      if (!n.nodeValue.trim()) continue;
      var el = n.parentElement;
      if (!el || el.closest('script,style,title')) continue;
      var range = document.createRange();
      range.selectNodeContents(n);
      var rects = range.getClientRects(), visible = false;
      for (var k = 0; k < rects.length; k++) {
        if (rects[k].width > 0 && rects[k].height > 0) { visible = true; break; }
      }
      if (!visible) continue;
      var size = parseFloat(getComputedStyle(el).fontSize);
      if (el instanceof SVGElement) {
        // The SVG's own scale: user units to screen pixels.
        var m = el.getScreenCTM();
        if (m) size = size * Math.sqrt(Math.abs(m.a * m.d - m.b * m.c));
      }
      count++;
      if (size < min) {
        min = size;
        where = el.tagName + ' in #' + ((el.closest('[id]') || {}).id || '') + ': ' + n.nodeValue.trim().slice(0, 40);
      }
    }
    return { min: min, where: where, count: count };
  }
  function bottom(sel) {
    var e = document.querySelector(sel);
    return e ? e.getBoundingClientRect().bottom + window.scrollY : null;
  }
  function state() {
    var de = document.documentElement, f = fontScan(), scrolling = [];
    var wraps = document.querySelectorAll('.scroll');
    for (var i = 0; i < wraps.length; i++) {
      var w = wraps[i];
      if (w.getClientRects().length && w.scrollWidth > w.clientWidth + 1) {
        var t = w.querySelector('[id]');
        scrolling.push((t && t.id) || (w.firstElementChild && w.firstElementChild.className) || '?');
      }
    }
    return { scrollWidth: de.scrollWidth, scrollHeight: de.scrollHeight,
             minFontPx: f.min, minFontWhere: f.where, textNodes: f.count,
             scrollingWrappers: scrolling };
  }
  var details = document.querySelectorAll('details'), open = 0;
  for (var i = 0; i < details.length; i++) { if (details[i].open) open++; }
  var out = { innerWidth: window.innerWidth, innerHeight: window.innerHeight,
              details: details.length, detailsOpen: open,
              headlineBottom: bottom('#verdict-headline'), findingsBottom: bottom('#findings'),
              checksBottom: bottom('#checks'), natTop: bottom('#nat') };
  out.closed = state();
  for (var j = 0; j < details.length; j++) details[j].open = true;
  out.opened = state();
  console.log('NATSCOPE-MEASURE ' + JSON.stringify(out));
})();
"#;

/// `html` with [`MEASURE_JS`] added and the CSP widened by exactly
/// `script-src 'unsafe-inline'` for it (still nothing may be fetched).
fn measuring_copy(html: &str) -> String {
    let csp = "content=\"default-src &#39;none&#39;;";
    assert!(html.contains(csp), "the page has its CSP");
    let html = html.replacen(
        csp,
        "content=\"default-src &#39;none&#39;; script-src &#39;unsafe-inline&#39;;",
        1,
    );
    let end = html.rfind("</body>").expect("page has a body");
    format!(
        "{}<script>{MEASURE_JS}</script>{}",
        &html[..end],
        &html[end..]
    )
}

/// Lays `html` out in a frame of exactly `width` × `height` CSS pixels (a
/// headless window cannot be narrower than 500 px, a frame can; the frame
/// is the page's viewport: its media queries and `innerWidth` are the
/// frame's) and returns what [`MEASURE_JS`] measured there.
fn measure(dir: &TempDir, html: &str, width: u32, height: u32) -> Value {
    let page = write_page(dir, &format!("measure-{width}.html"), &measuring_copy(html));
    let frame = write_page(
        dir,
        &format!("frame-{width}.html"),
        &format!(
            "<!DOCTYPE html><html><head><title>frame</title></head><body style=\"margin:0\"><iframe src=\"{}\" width=\"{width}\" height=\"{height}\" style=\"border:0;display:block\"></iframe></body></html>",
            page.file_name().expect("file name").to_string_lossy()
        ),
    );
    let run = run_chromium(
        &frame,
        &[
            "--dump-dom".to_owned(),
            format!("--window-size={},{}", width + 200, height + 300),
        ],
    );
    let line = run
        .stderr
        .lines()
        .find_map(|l| l.split_once("NATSCOPE-MEASURE ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no measurement logged; stderr:\n{}", run.stderr));
    let json = line
        .rsplit_once("\", source:")
        .map_or(line, |(json, _)| json);
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    // Kept for people to read next to the screenshots.
    let _ = std::fs::write(target_dir().join(format!("html-layout-{width}.json")), json);
    // Nothing else may be logged: no CSP violation, no script error.
    let others: Vec<&str> = console_lines(&run, &page)
        .into_iter()
        .filter(|l| !l.contains("NATSCOPE-MEASURE"))
        .collect();
    assert!(
        others.is_empty(),
        "console messages:\n{}",
        others.join("\n")
    );
    v
}

#[test]
fn layout_fits_desktop_and_phone() {
    let dir = TempDir::new("layout");
    let html = report::html::render(&lab_like());
    assert!(
        !html.contains("<script>"),
        "the product page runs no script"
    );
    for (width, height) in [(1280u32, 800u32), (390, 844)] {
        let m = measure(&dir, &html, width, height);
        eprintln!("{width}×{height}: {m:#}");
        let num = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("number expected: {m}"));
        assert_eq!(num(&m["innerWidth"]), f64::from(width), "viewport width");
        assert_eq!(num(&m["innerHeight"]), f64::from(height), "viewport height");
        // Every detail section is a <details>, closed as the page opens.
        assert!(
            num(&m["details"]) >= 7.0,
            "detail sections collapsible: {m}"
        );
        assert_eq!(num(&m["detailsOpen"]), 0.0, "all <details> closed: {m}");
        for state in ["closed", "opened"] {
            let s = &m[state];
            // No horizontal scroll of the document (wide tables scroll in
            // their own wrapper).
            assert!(
                num(&s["scrollWidth"]) <= f64::from(width),
                "{width} px, {state}: document scrolls sideways: {s}"
            );
            // No visible text below 11 px, SVG text at its drawn scale.
            assert!(
                num(&s["minFontPx"]) >= 11.0,
                "{width} px, {state}: text below 11 px: {s}"
            );
            assert!(num(&s["textNodes"]) > 50.0, "text was scanned: {s}");
        }
        if width == 1280 {
            // The first screen: the verdict, the findings and the checks.
            for key in ["headlineBottom", "findingsBottom", "checksBottom"] {
                let b = num(&m[key]);
                assert!(b <= 800.0, "{key} at {b} px, below the first screen: {m}");
            }
            // At desktop width no table needs to scroll (the ICE table fits).
            assert_eq!(
                m["opened"]["scrollingWrappers"],
                json!([]),
                "tables scrolling sideways at 1280 px: {m}"
            );
        } else {
            let b = num(&m["headlineBottom"]);
            assert!(
                b <= f64::from(height),
                "headline on the first phone screen: {m}"
            );
        }
    }
}

/// Pages of a PDF Chromium printed (its page objects).
fn pdf_pages(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"%PDF-"),
        "{} is not a PDF",
        path.display()
    );
    let needle = b"/Type /Page";
    (0..bytes.len().saturating_sub(needle.len()))
        .filter(|&i| &bytes[i..i + needle.len()] == needle && bytes[i + needle.len()] != b's')
        .count()
}

#[test]
fn print_shows_the_collapsed_details() {
    // The print stylesheet shows the content of closed <details>: the
    // printed page has more pages than the same page without that rule
    // (where only the verdict and the section headings print).
    let dir = TempDir::new("print");
    let html = report::html::render(&lab_like());
    let rule = "details::details-content { content-visibility: visible; display: block; }";
    assert!(html.contains(rule), "the print rule is in the stylesheet");
    let mut pages = Vec::new();
    for (name, page) in [
        ("report", html.clone()),
        ("control", html.replace(rule, "")),
    ] {
        let path = write_page(&dir, &format!("{name}.html"), &page);
        let pdf = target_dir().join(format!("html-report-{name}.pdf"));
        let _ = std::fs::remove_file(&pdf);
        let run = run_chromium(
            &path,
            &[
                format!("--print-to-pdf={}", pdf.display()),
                "--no-pdf-header-footer".to_owned(),
            ],
        );
        let console = console_lines(&run, &path);
        assert!(console.is_empty(), "console:\n{}", console.join("\n"));
        pages.push(pdf_pages(&pdf));
    }
    eprintln!(
        "printed pages: {} (without the print rule: {})",
        pages[0], pages[1]
    );
    assert!(
        pages[0] >= pages[1] + 3,
        "the printed report shows the details: {} pages, {} without the rule",
        pages[0],
        pages[1]
    );
}

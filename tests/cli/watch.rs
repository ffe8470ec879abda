//! `natscope watch` with the monitoring it is for: Debian's real
//! `prometheus` scrapes it and is queried through its HTTP API, the real
//! `prometheus-pushgateway` receives `--once --push`, `promtool` checks the
//! exposition, SIGHUP re-reads the configuration, SIGTERM stops it, and a
//! long run at a short interval keeps memory and file descriptors flat.
//! Everything on loopback (`--lab`, or natscope's responder).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TempDir, assert_exit, natscope, run_bounded, stdout_text};

const LIMIT: Duration = Duration::from_secs(60);

/// A `natscope watch` child with its metrics address (read from stderr;
/// the rest of stderr is drained by a thread so the child never blocks).
struct Watch {
    child: Child,
    metrics: SocketAddr,
    events: std::sync::mpsc::Receiver<String>,
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        let mut cmd = natscope();
        cmd.arg("watch")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("natscope starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(rest) = line.strip_prefix("natscope: metrics at http://") {
                    let addr = rest.trim_end_matches("/metrics").to_owned();
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("watch says where its metrics are");
        let stdout = child.stdout.take().expect("piped stdout");
        let (etx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = etx.send(line);
            }
        });
        Watch {
            child,
            metrics: addr.parse().expect("a socket address"),
            events,
        }
    }

    fn scrape(&self) -> String {
        http_get(self.metrics, "/metrics", "")
    }

    /// Scrapes until `pred` holds (bounded by [`LIMIT`]).
    fn until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.until_within(what, LIMIT, pred)
    }

    /// Scrapes until `pred` holds, within `limit`.
    fn until_within(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let text = self.scrape();
            if pred(&text) {
                return text;
            }
            assert!(start.elapsed() < limit, "{what} never happened:\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success());
    }

    /// SIGTERM, then the exit status (bounded).
    fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("watch did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 GET on loopback; the body ("" on any failure).
fn http_get(addr: SocketAddr, path: &str, accept: &str) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let accept = if accept.is_empty() {
        String::new()
    } else {
        format!("Accept: {accept}\r\n")
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// A loopback port free now (bound, then released; Prometheus and the
/// Pushgateway need a port on their command line).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.local_addr().expect("bound").port()
}

/// A started daemon, killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn daemon(program: &str, args: &[String]) -> Daemon {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts (scripts/test installs it): {e}"));
    Daemon(child)
}

/// Percent-encodes a PromQL query for a URL.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn prometheus_scrapes_watch_and_finds_every_family_with_its_labels() {
    let w = Watch::start(&["--lab", "--every", "2s", "--labels", "site=ci,network=lab"]);
    let text = w.until("a finished run", |t| {
        t.contains("natscope_runs_total{outcome=\"passed\",site=\"ci\",network=\"lab\"} 1")
            || t.contains("natscope_runs_total{outcome=\"failed\",site=\"ci\",network=\"lab\"} 1")
    });
    for family in [
        "natscope_build_info{",
        "natscope_check_status{check=\"udp\",status=\"passed\",site=\"ci\",network=\"lab\"} 1",
        "natscope_nat_info{mapping=\"endpoint-independent\"",
        "natscope_stun_rtt_seconds_bucket{",
        "natscope_turn_stage_duration_seconds_count{",
        "natscope_ice_time_to_connected_seconds_sum{",
        "natscope_last_success_timestamp_seconds{",
        "natscope_turn_certificate_expiry_timestamp_seconds{server=\"turns:localhost:",
    ] {
        assert!(text.contains(family), "no {family} in:\n{text}");
    }
    // The lab's certificate (generated for this run) expires in the future.
    let expiry: f64 = text
        .lines()
        .find(|l| l.starts_with("natscope_turn_certificate_expiry_timestamp_seconds{"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .expect("a certificate expiry");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64();
    assert!(expiry > now, "expiry {expiry} is not after now {now}");
    // promtool (Debian's prometheus package) accepts the exposition.
    let dir = TempDir::new("watch-prom");
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = check.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every series the shipped alert rules and dashboard use exists, and
    // promtool accepts the rules.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/watch");
    let rules = Command::new("promtool")
        .args(["check", "rules"])
        .arg(root.join("alerts.yml"))
        .output()
        .expect("promtool runs");
    assert!(
        rules.status.success(),
        "alerts.yml: {}{}",
        String::from_utf8_lossy(&rules.stdout),
        String::from_utf8_lossy(&rules.stderr)
    );
    let dashboard =
        std::fs::read_to_string(root.join("grafana-dashboard.json")).expect("dashboard");
    let _: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    let alerts = std::fs::read_to_string(root.join("alerts.yml")).expect("alerts");
    for source in [&dashboard, &alerts] {
        for (i, _) in source.match_indices("natscope_") {
            let name: String = source[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                text.contains(&format!("\n{name}{{")) || text.contains(&format!("\n{name} ")),
                "{name} (docs/watch) is not a series natscope watch serves"
            );
        }
    }
    // OpenMetrics when asked for.
    let om = http_get(
        w.metrics,
        "/metrics",
        "application/openmetrics-text; version=1.0.0",
    );
    assert!(om.ends_with("# EOF\n"), "{om}");

    // The real Prometheus scrapes it.
    let web = free_port();
    let config = dir.write(
        "prometheus.yml",
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: natscope\n    \
             static_configs:\n      - targets: ['{}']\n",
            w.metrics
        ),
    );
    let _prom = daemon(
        "prometheus",
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path("data").display()),
            format!("--web.listen-address=127.0.0.1:{web}"),
        ],
    );
    let api: SocketAddr = ([127, 0, 0, 1], web).into();
    let query = encode("natscope_check_status{check=\"udp\",status=\"passed\"}");
    let start = Instant::now();
    let answer = loop {
        let a = http_get(api, &format!("/api/v1/query?query={query}"), "");
        if a.contains("\"value\"") {
            break a;
        }
        assert!(
            start.elapsed() < LIMIT,
            "Prometheus never had the series: {a}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let doc: serde_json::Value = serde_json::from_str(&answer).expect("Prometheus answers JSON");
    let series = &doc["data"]["result"][0];
    assert_eq!(series["metric"]["job"], "natscope", "{doc:#}");
    assert_eq!(series["metric"]["site"], "ci", "{doc:#}");
    assert_eq!(series["metric"]["network"], "lab", "{doc:#}");
    assert_eq!(series["value"][1], "1", "{doc:#}");
    let status = w.stop();
    assert!(status.success(), "SIGTERM: {status:?}");
}

#[test]
fn once_pushes_to_the_real_pushgateway() {
    let port = free_port();
    let dir = TempDir::new("watch-push");
    let _gw = daemon(
        "prometheus-pushgateway",
        &[
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--persistence.file={}", dir.path("pg").display()),
        ],
    );
    let gw: SocketAddr = ([127, 0, 0, 1], port).into();
    let start = Instant::now();
    while http_get(gw, "/metrics", "").is_empty() {
        assert!(start.elapsed() < LIMIT, "the Pushgateway never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("http://127.0.0.1:{port}/metrics/job/natscope/site/ci");
    let mut cmd = natscope();
    cmd.args(["watch", "--once", "--lab", "--push", &url]);
    let out = run_bounded(cmd, LIMIT);
    assert_exit(&out, &[0, 1], "watch --once --push");
    assert!(stdout_text(&out).is_empty(), "{}", stdout_text(&out));
    let text = http_get(gw, "/metrics", "");
    let line = text
        .lines()
        .find(|l| l.starts_with("natscope_check_status{") && l.contains("check=\"udp\""))
        .unwrap_or_else(|| panic!("no pushed series in:\n{text}"));
    assert!(
        line.contains("job=\"natscope\"") && line.contains("site=\"ci\""),
        "{line}"
    );
    // A gateway that is not there: said, exit 1, nothing else lost.
    let mut cmd = natscope();
    cmd.args([
        "watch",
        "--once",
        "--lab",
        "--no-ice",
        "--no-turn",
        "--push",
        &format!(
            "http://127.0.0.1:{}/metrics/job/x",
            crate::support::dead_port()
        ),
    ]);
    let out = run_bounded(cmd, LIMIT);
    assert_exit(&out, &[1], "push to a closed port");
    assert!(crate::support::stderr_text(&out).contains("cannot push the metrics"));
}

#[test]
fn sighup_rereads_the_configuration_and_changes_are_events() {
    let dir = TempDir::new("watch-hup");
    let config = dir.write(
        "watch.args",
        "# natscope watch arguments\n--labels site=a\n--no-turn --no-ice --no-portmap\n",
    );
    let w = Watch::start(&[
        "--lab",
        "--every",
        "200ms",
        "--config",
        config.to_str().expect("utf-8 path"),
    ]);
    w.until("site a", |t| {
        t.contains("site=\"a\"") && t.contains("outcome=\"passed\",site=\"a\"} 1")
    });
    std::fs::write(
        &config,
        "--labels site=b\n--no-nat --no-turn --no-ice --no-portmap\n",
    )
    .expect("rewrite");
    w.signal("HUP");
    let text = w.until("site b", |t| t.contains("site=\"b\""));
    assert!(!text.contains("site=\"a\""), "{text}");
    // --no-nat now: the NAT checks left the summary, which is an event.
    let start = Instant::now();
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|l: &String| l.contains("\"check-changed\""))
    {
        assert!(start.elapsed() < LIMIT, "no event: {lines:?}");
        if let Ok(l) = w.events.recv_timeout(Duration::from_millis(200)) {
            lines.push(l);
        }
    }
    for l in &lines {
        let ev: serde_json::Value = serde_json::from_str(l).expect("each event is one JSON line");
        assert!(ev["event"].is_string() && ev["at"].is_string(), "{l}");
    }
    let status = w.stop();
    assert!(status.success(), "{status:?}");
}

/// The resident set and open file descriptors of `pid`.
fn rss_and_fds(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("proc fd")
        .count();
    (rss, fds)
}

fn runs_total(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("natscope_runs_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Thousands of runs at a 10 ms interval: memory and descriptors flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_watch_keeps_memory_and_descriptors_flat() {
    let responder =
        servers::responder::Responder::start(servers::responder::ResponderConfig::loopback_lab())
            .expect("responder");
    let target = format!("stun:{}", responder.addrs().primary);
    let figures = tokio::task::spawn_blocking(move || {
        let w = Watch::start(&[
            &target,
            "--no-nat",
            "--no-turn",
            "--no-ice",
            "--no-portmap",
            "--every",
            "10ms",
            "--stun-timeout",
            "1s",
        ]);
        let pid = w.child.id();
        w.until("300 runs", |t| runs_total(t) >= 300);
        let early = rss_and_fds(pid);
        // ~30 s on an idle 2-core machine; bounded generously for a busy one.
        let text = w.until_within("3000 runs", Duration::from_secs(300), |t| {
            runs_total(t) >= 3000
        });
        let late = rss_and_fds(pid);
        assert!(
            text.contains("natscope_runs_total{outcome=\"passed\"}"),
            "{text}"
        );
        let status = w.stop();
        assert!(status.success(), "{status:?}");
        (early, late)
    })
    .await
    .expect("the watch ran");
    let ((rss0, fd0), (rss1, fd1)) = figures;
    eprintln!(
        "watch soak: after 300 runs RSS {rss0} kB, {fd0} fds; after 3000 runs RSS {rss1} kB, {fd1} fds"
    );
    assert!(fd1 <= fd0 + 2, "descriptors grew: {fd0} -> {fd1}");
    assert!(rss1 <= rss0 + 4096, "memory grew: {rss0} kB -> {rss1} kB");
}

//! Soak of `natscope serve` (docs/security.md, "Soak"): a real `natscope
//! serve` process in RFC 5780 mode on 127.0.0.1 + 127.0.0.2, with its
//! default rate limit (50 requests/s per source IP), under a mixed load
//! until at least `SOAK_REQUESTS` (default 10^7) datagrams and TCP messages
//! have been sent:
//!
//! - **valid clients**: 64 source IPs (127.0.1.x), 2 sockets each, under the
//!   rate limit, one request outstanding at a time: RFC 8489 Binding,
//!   classic RFC 3489, CHANGE-REQUEST (change IP and port) and RESPONSE-PORT
//!   with PADDING; every answer is checked (transaction id, mapped address,
//!   where it comes from and goes to) and its round trip recorded; one TCP
//!   client does the same over a connection (25 requests/s);
//! - **a flood** from 8 source IPs (127.0.2.x) far above the rate limit:
//!   Binding requests, malformed datagrams (non-STUN bytes, bad length, bad
//!   FINGERPRINT) and non-request STUN (indications);
//! - **amplification attempts** from 128 source IPs (127.0.3.x) under the
//!   rate limit: RESPONSE-PORT towards a "victim" socket of the same IP with
//!   no room for the answer (must be refused), with PADDING (the victim may
//!   get at most the request's size), and PADDING 1200 asking for a big
//!   answer to the sender;
//! - **hostile TCP**: connections announcing a frame over the 4 KiB cap,
//!   and slow clients that trickle a byte every 2 s of a message they never
//!   finish (the server must close each within its 10 s message deadline).
//!
//! Then it checks, and prints: RSS and file descriptors of the server
//! sampled every second (flat after the warm-up), every counter in
//! /metrics against what was sent (kernel receive-buffer drops of the
//! server's sockets, from /proc/net/udp, accounted), valid clients'
//! p50/p99/max round trip (target p99 <= 1 ms) and that every one was
//! answered, and the amplification factor (bytes back / bytes sent) of the
//! flood and of the RESPONSE-PORT victims (must be <= 1). Exits 1 when a
//! check fails.
//!
//! `cargo bench -p natscope --bench serve_soak` (Linux; ~2 minutes on 2
//! cores; `SOAK_REQUESTS=1000000` for a short run). Loopback only.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const MAPPED_ADDRESS: u16 = 0x0001;
const CHANGE_REQUEST: u16 = 0x0003;
const RESPONSE_PORT: u16 = 0x0027;
const PADDING: u16 = 0x0026;
const FINGERPRINT: u16 = 0x8028;

/// Valid client source IPs and requests per second from each (the
/// server's default limit is 50/s).
const VALID_IPS: u8 = 64;
const VALID_RATE_PER_IP: f64 = 40.0;
/// Flood source IPs and the flood's total datagrams per second.
const FLOOD_IPS: u8 = 8;
const FLOOD_RATE: f64 = 80_000.0;
/// Amplification-attempt source IPs, requests per second from each.
const AMP_IPS: u8 = 128;
const AMP_RATE_PER_IP: f64 = 30.0;
/// Slow TCP clients kept connected at once.
const SLOW_CLIENTS: usize = 64;
/// Oversize-frame connections per second.
const OVERSIZE_RATE: f64 = 20.0;
/// The soak never runs longer than this, whatever `SOAK_REQUESTS` says.
const MAX_DURATION: Duration = Duration::from_secs(900);
/// RSS and fds are compared from this point on (allocator and tables
/// warmed up).
const WARMUP: Duration = Duration::from_secs(10);
/// How long a valid client waits for its answer before counting it lost.
const ANSWER_WAIT: Duration = Duration::from_millis(200);
/// A Binding request with PADDING 1200.
const PADDED_REQUEST_LEN: usize = 20 + 4 + 1200;
/// RSS growth after the warm-up still called flat.
const RSS_SLACK_KB: u64 = 2048;

fn main() {
    if !cfg!(target_os = "linux") {
        println!("serve_soak: Linux only");
        return;
    }
    let target: u64 = std::env::var("SOAK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_natscope"));
    let mut server = Server::start(&bin);
    let addrs = server.addrs.clone();
    println!(
        "serve_soak: natscope serve pid {} udp {:?} tcp {} metrics {}; until {target} requests sent",
        server.child.id(),
        addrs.udp,
        addrs.tcp,
        addrs.metrics
    );

    // The generators share core 0 (the server has core 1).
    let _ = Command::new("taskset")
        .args(["-cp", "0", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
    let plain_excess = plain_answer_len(addrs.primary) as i64 - 20;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let valid = {
        let (stop, sent, addrs) = (stop.clone(), sent.clone(), addrs.clone());
        std::thread::spawn(move || valid_clients(&addrs, &stop, &sent))
    };
    let tcp_valid = {
        let (stop, sent, addrs) = (stop.clone(), sent.clone(), addrs.clone());
        std::thread::spawn(move || tcp_valid_client(&addrs, &stop, &sent))
    };
    let flood = {
        let (stop, sent, addrs) = (stop.clone(), sent.clone(), addrs.clone());
        std::thread::spawn(move || flood(&addrs, &stop, &sent))
    };
    let amp = {
        let (stop, sent, addrs) = (stop.clone(), sent.clone(), addrs.clone());
        std::thread::spawn(move || amplification(&addrs, &stop, &sent))
    };
    let hostile_tcp = {
        let (stop, addrs) = (stop.clone(), addrs.clone());
        std::thread::spawn(move || hostile_tcp(&addrs, &stop))
    };

    // Sample the server every second until enough was sent.
    let pid = server.child.id();
    let mut samples: Vec<(Duration, u64, usize)> = Vec::new();
    let mut last_print = Instant::now();
    while sent.load(Ordering::Relaxed) < target && started.elapsed() < MAX_DURATION {
        std::thread::sleep(Duration::from_secs(1));
        let (rss, fds) = (rss_kb(pid), fd_count(pid));
        samples.push((started.elapsed(), rss, fds));
        if last_print.elapsed() >= Duration::from_secs(10) {
            last_print = Instant::now();
            println!(
                "  {:>4.0} s  sent {:>10}  rss {rss} kB  fds {fds}",
                started.elapsed().as_secs_f64(),
                sent.load(Ordering::Relaxed)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let valid = valid.join().expect("valid clients thread");
    let tcp_valid = tcp_valid.join().expect("tcp client thread");
    let flood = flood.join().expect("flood thread");
    let amp = amp.join().expect("amplification thread");
    let hostile_tcp = hostile_tcp.join().expect("hostile tcp thread");
    let elapsed = started.elapsed();
    // Let the server finish what is queued and count the closes.
    std::thread::sleep(Duration::from_millis(1500));
    let metrics = scrape(addrs.metrics).expect("GET /metrics");
    let drops = udp_drops(&addrs.udp);
    let (rss_end, fds_end) = (rss_kb(pid), fd_count(pid));
    server.stop();

    let mut checks = Checks::default();
    let m = |name: &str| metrics.get(name).copied().unwrap_or(0);
    println!();
    println!(
        "sent in {:.1} s: {} UDP datagrams ({} valid, {} flood, {} amplification attempts), {} TCP messages ({} valid), {} TCP connections",
        elapsed.as_secs_f64(),
        valid.sent + flood.sent() + amp.sent,
        valid.sent,
        flood.sent(),
        amp.sent,
        tcp_valid.sent + hostile_tcp.oversize,
        tcp_valid.sent,
        1 + hostile_tcp.oversize + hostile_tcp.slow
    );

    // Memory and file descriptors.
    let after: Vec<&(Duration, u64, usize)> = samples.iter().filter(|s| s.0 >= WARMUP).collect();
    if let (Some(first), Some(max_rss), Some(max_fds)) = (
        after.first(),
        after.iter().map(|s| s.1).max(),
        after.iter().map(|s| s.2).max(),
    ) {
        println!(
            "server RSS after {:?}: {} kB, max {} kB, end {} kB; fds {} -> max {} -> end {}",
            WARMUP, first.1, max_rss, rss_end, first.2, max_fds, fds_end
        );
        checks.check(
            "memory flat",
            max_rss <= first.1 + RSS_SLACK_KB,
            format!(
                "max {max_rss} kB vs {} kB after warm-up (+{RSS_SLACK_KB} kB allowed)",
                first.1
            ),
        );
        // Hostile TCP connections come and go; what must not grow is the
        // floor: at the end only the listeners and the metrics socket are
        // left.
        checks.check(
            "file descriptors bounded",
            max_fds <= first.2 + SLOW_CLIENTS + 16 && fds_end <= first.2,
            format!("max {max_fds}, end {fds_end}, after warm-up {}", first.2),
        );
    } else {
        checks.check(
            "memory flat",
            false,
            "the soak ended before the warm-up".into(),
        );
    }

    // Counters against what was sent.
    // + the one plain request that measured an unpadded answer.
    let udp_sent = valid.sent + flood.sent() + amp.sent + 1;
    println!("kernel receive drops on the server's UDP sockets: {drops}");
    checks.check(
        "UDP received + kernel drops = sent",
        m("natscope_serve_received_total{transport=\"udp\"}") + drops == udp_sent,
        format!(
            "received {} + drops {drops} vs sent {udp_sent}",
            m("natscope_serve_received_total{transport=\"udp\"}")
        ),
    );
    let tcp_msgs = tcp_valid.sent + hostile_tcp.oversize;
    checks.check(
        "TCP messages received = sent",
        m("natscope_serve_received_total{transport=\"tcp\"}") == tcp_msgs,
        format!(
            "received {} vs sent {tcp_msgs} ({} valid, {} oversize)",
            m("natscope_serve_received_total{transport=\"tcp\"}"),
            tcp_valid.sent,
            hostile_tcp.oversize
        ),
    );
    let conns = 1 + hostile_tcp.oversize + hostile_tcp.slow;
    checks.check(
        "TCP connections accepted = made",
        m("natscope_serve_tcp_connections_total{result=\"accepted\"}") == conns
            && m("natscope_serve_tcp_connections_total{result=\"refused\"}") == 0,
        format!(
            "accepted {} refused {} vs made {conns}",
            m("natscope_serve_tcp_connections_total{result=\"accepted\"}"),
            m("natscope_serve_tcp_connections_total{result=\"refused\"}")
        ),
    );
    let requests = m("natscope_serve_requests_total");
    let outcomes = m("natscope_serve_responses_total{class=\"success\"}")
        + m("natscope_serve_responses_total{class=\"error\"}")
        + m("natscope_serve_dropped_total{reason=\"rate_limited\"}")
        + m("natscope_serve_dropped_total{reason=\"amplification\"}");
    checks.check(
        "requests = answered + rate limited + refused",
        requests == outcomes,
        format!("{requests} requests, {outcomes} outcomes"),
    );
    let expect_requests = valid.sent + tcp_valid.sent + flood.binding + amp.sent + 1;
    let expect_malformed = flood.malformed + hostile_tcp.oversize + hostile_tcp.slow;
    let exact = drops == 0;
    let cmp = |got: u64, want: u64| if exact { got == want } else { got <= want };
    checks.check(
        "requests = Binding requests sent",
        cmp(requests, expect_requests),
        format!(
            "{requests} vs {expect_requests}{}",
            if exact { "" } else { " (at most: drops)" }
        ),
    );
    checks.check(
        "classic requests = sent",
        cmp(m("natscope_serve_classic_requests_total"), valid.classic),
        format!(
            "{} vs {}",
            m("natscope_serve_classic_requests_total"),
            valid.classic
        ),
    );
    checks.check(
        "malformed = malformed sent + oversize + slow TCP",
        cmp(
            m("natscope_serve_dropped_total{reason=\"malformed\"}"),
            expect_malformed,
        ),
        format!(
            "{} vs {} + {} + {}",
            m("natscope_serve_dropped_total{reason=\"malformed\"}"),
            flood.malformed,
            hostile_tcp.oversize,
            hostile_tcp.slow
        ),
    );
    checks.check(
        "not-a-request = indications sent",
        cmp(
            m("natscope_serve_dropped_total{reason=\"not_binding_request\"}"),
            flood.indications,
        ),
        format!(
            "{} vs {}",
            m("natscope_serve_dropped_total{reason=\"not_binding_request\"}"),
            flood.indications
        ),
    );
    checks.check(
        "RESPONSE-PORT without room refused",
        cmp(
            m("natscope_serve_dropped_total{reason=\"amplification\"}"),
            amp.no_room,
        ) && m("natscope_serve_dropped_total{reason=\"amplification\"}") > 0,
        format!(
            "{} vs {} sent",
            m("natscope_serve_dropped_total{reason=\"amplification\"}"),
            amp.no_room
        ),
    );
    checks.check(
        "send errors",
        m("natscope_serve_dropped_total{reason=\"send_error\"}") == 0,
        format!(
            "{}",
            m("natscope_serve_dropped_total{reason=\"send_error\"}")
        ),
    );

    // Valid clients: answered, right, fast.
    let mut rtts = valid.rtts_us.clone();
    rtts.sort_unstable();
    let pct = |v: &[u32], p: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        f64::from(v[i]) / 1000.0
    };
    println!(
        "valid UDP clients: {} sent, {} answered right, {} wrong, {} lost; RTT p50 {:.3} ms p99 {:.3} ms p99.9 {:.3} ms max {:.3} ms",
        valid.sent,
        rtts.len(),
        valid.wrong,
        valid.lost,
        pct(&rtts, 0.5),
        pct(&rtts, 0.99),
        pct(&rtts, 0.999),
        rtts.last().map_or(f64::NAN, |&m| f64::from(m) / 1000.0)
    );
    let mut trtts = tcp_valid.rtts_us.clone();
    trtts.sort_unstable();
    println!(
        "valid TCP client: {} sent, {} answered right; RTT p50 {:.3} ms p99 {:.3} ms",
        tcp_valid.sent,
        trtts.len(),
        pct(&trtts, 0.5),
        pct(&trtts, 0.99)
    );
    checks.check(
        "every valid client answered, right",
        valid.wrong == 0 && valid.lost <= drops && rtts.len() as u64 + valid.lost == valid.sent,
        format!(
            "{} wrong, {} lost (kernel drops {drops})",
            valid.wrong, valid.lost
        ),
    );
    checks.check(
        "valid TCP client answered",
        trtts.len() as u64 == tcp_valid.sent && tcp_valid.wrong == 0,
        format!(
            "{} of {}, {} wrong",
            trtts.len(),
            tcp_valid.sent,
            tcp_valid.wrong
        ),
    );
    checks.check(
        "valid clients p99 <= 1 ms",
        pct(&rtts, 0.99) <= 1.0,
        format!("UDP p99 {:.3} ms", pct(&rtts, 0.99)),
    );

    // The hostile ones are limited.
    let flood_factor = flood.bytes_back as f64 / flood.bytes_sent.max(1) as f64;
    println!(
        "flood: {} Binding, {} malformed, {} indications; {} answers ({} bytes back for {} sent: factor {:.5})",
        flood.binding,
        flood.malformed,
        flood.indications,
        flood.answers,
        flood.bytes_back,
        flood.bytes_sent,
        flood_factor
    );
    checks.check(
        "flood rate limited (amplification <= 1)",
        flood_factor <= 1.0
            && flood.answers
                <= (f64::from(FLOOD_IPS) * (50.0 * elapsed.as_secs_f64() + 100.0 + 50.0)) as u64,
        format!("factor {flood_factor:.5}, {} answers", flood.answers),
    );
    let victim_factor = amp.victim_bytes as f64 / amp.redirected_bytes_sent.max(1) as f64;
    println!(
        "amplification attempts: {} sent ({} RESPONSE-PORT without room, {} RESPONSE-PORT padded, {} PADDING 1200); victims got {} answers / {} bytes for {} bytes sent (factor {:.3}), largest answer/request {:.3}; padded answers to the sender {} bytes for {} sent",
        amp.sent,
        amp.no_room,
        amp.redirected,
        amp.padding,
        amp.victim_answers,
        amp.victim_bytes,
        amp.redirected_bytes_sent,
        victim_factor,
        amp.worst_ratio,
        amp.self_bytes_back,
        amp.self_bytes_sent
    );
    checks.check(
        "no amplification towards another port (factor <= 1)",
        victim_factor <= 1.0 && amp.worst_ratio <= 1.0 && amp.victim_answers > 0 && amp.stray == 0,
        format!(
            "factor {victim_factor:.3}, worst {:.3}, {} answers, {} to the wrong socket",
            amp.worst_ratio, amp.victim_answers, amp.stray
        ),
    );
    // RFC 5780 echoes the request's PADDING to the sender: the answer may
    // exceed the request by no more than an unpadded answer exceeds an
    // unpadded request.
    checks.check(
        "PADDING adds no amplification",
        amp.self_answers > 0 && amp.self_max_excess <= plain_excess,
        format!(
            "{} padded answers, each at most {} bytes over its request (an unpadded answer: {plain_excess})",
            amp.self_answers, amp.self_max_excess
        ),
    );
    println!(
        "hostile TCP: {} oversize-frame connections ({} closed by the server), {} slow clients, closed by the server after {:.1}-{:.1} s of trickling",
        hostile_tcp.oversize,
        hostile_tcp.oversize_closed,
        hostile_tcp.slow,
        hostile_tcp.slow_lifetime_min.as_secs_f64(),
        hostile_tcp.slow_lifetime_max.as_secs_f64()
    );
    checks.check(
        "oversize frames close the connection",
        hostile_tcp.oversize_closed == hostile_tcp.oversize && hostile_tcp.oversize > 0,
        format!(
            "{} of {}",
            hostile_tcp.oversize_closed, hostile_tcp.oversize
        ),
    );
    checks.check(
        "slow clients closed within the 10 s message deadline",
        hostile_tcp.slow_closed > 0 && hostile_tcp.slow_lifetime_max <= Duration::from_secs(13),
        format!(
            "{} closed, longest {:.1} s",
            hostile_tcp.slow_closed,
            hostile_tcp.slow_lifetime_max.as_secs_f64()
        ),
    );

    println!();
    for (name, ok, detail) in &checks.0 {
        println!("{} {name}: {detail}", if *ok { "ok  " } else { "FAIL" });
    }
    let _ = std::io::stdout().flush();
    if checks.0.iter().any(|c| !c.1) {
        std::process::exit(1);
    }
}

#[derive(Default)]
struct Checks(Vec<(&'static str, bool, String)>);

impl Checks {
    fn check(&mut self, name: &'static str, ok: bool, detail: String) {
        self.0.push((name, ok, detail));
    }
}

/// Where the server listens (from its stdout).
#[derive(Clone, Debug)]
struct Addrs {
    udp: Vec<SocketAddr>,
    /// The primary (first UDP) address.
    primary: SocketAddr,
    /// Where a change-IP-and-port answer comes from.
    diagonal: SocketAddr,
    tcp: SocketAddr,
    metrics: SocketAddr,
}

struct Server {
    child: Child,
    addrs: Addrs,
}

impl Server {
    fn start(bin: &std::path::Path) -> Server {
        // The server gets a core of its own when taskset is there.
        let mut cmd = if Command::new("taskset").arg("-V").output().is_ok() {
            let mut c = Command::new("taskset");
            c.args(["-c", "1"]).arg(bin);
            c
        } else {
            Command::new(bin)
        };
        let mut child = cmd
            .args([
                "serve",
                "--primary",
                "127.0.0.1",
                "--alternate",
                "127.0.0.2",
                "--port",
                "0",
                "--alt-port",
                "0",
                "--metrics",
                "127.0.0.1:0",
            ])
            // stun-types warns once per malformed datagram; the soak sends
            // millions (serve's default filter drops those too).
            .env("NATSCOPE_LOG", "warn,stun_types=off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn natscope serve");
        let out = child.stdout.take().expect("piped stdout");
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut metrics = None;
        for line in BufReader::new(out).lines() {
            let line = line.expect("read natscope serve's stdout");
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("udp"), Some(a)) => udp.push(a.parse::<SocketAddr>().expect("udp address")),
                (Some("tcp"), Some(a)) => tcp.push(a.parse::<SocketAddr>().expect("tcp address")),
                (Some("metrics"), Some(u)) => {
                    let a = u
                        .trim_start_matches("http://")
                        .trim_end_matches("/metrics")
                        .parse::<SocketAddr>()
                        .expect("metrics address");
                    metrics = Some(a);
                    break;
                }
                _ => {}
            }
        }
        let metrics = metrics.expect("natscope serve printed its metrics address");
        let primary = udp[0];
        let diagonal = *udp
            .iter()
            .find(|a| a.ip() != primary.ip() && a.port() != primary.port())
            .expect("an address on the other IP and port");
        Server {
            child,
            addrs: Addrs {
                udp,
                primary,
                diagonal,
                tcp: tcp[0],
                metrics,
            },
        }
    }

    /// SIGTERM, then SIGKILL after 3 s; always reaped.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn tid(&mut self) -> [u8; 12] {
        let mut t = [0u8; 12];
        t[..8].copy_from_slice(&self.next().to_be_bytes());
        t[8..].copy_from_slice(&self.next().to_be_bytes()[..4]);
        t
    }
}

/// A STUN message: type, RFC 8489 transaction id, attributes.
fn stun(mtype: u16, tid: &[u8; 12], attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&mtype.to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&MAGIC);
    m.extend_from_slice(tid);
    for (t, v) in attrs {
        m.extend_from_slice(&t.to_be_bytes());
        m.extend_from_slice(&(v.len() as u16).to_be_bytes());
        m.extend_from_slice(v);
        m.resize(m.len().div_ceil(4) * 4, 0);
    }
    let len = (m.len() - 20) as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// A classic RFC 3489 Binding request (128-bit id, no magic cookie),
/// optionally with CHANGE-REQUEST.
fn classic(rng: &mut Rng, change: Option<u8>) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0, 0];
    m.extend_from_slice(&rng.next().to_be_bytes());
    m.extend_from_slice(&rng.next().to_be_bytes());
    // Never the magic cookie by chance.
    m[4] = 0x7f;
    if let Some(c) = change {
        m.extend_from_slice(&CHANGE_REQUEST.to_be_bytes());
        m.extend_from_slice(&4u16.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, c]);
    }
    let len = (m.len() - 20) as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// The attributes of a whole STUN message.
fn attrs(msg: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 20;
    while at + 4 <= msg.len() {
        let t = u16::from_be_bytes([msg[at], msg[at + 1]]);
        let l = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
        let Some(v) = msg.get(at + 4..at + 4 + l) else {
            break;
        };
        out.push((t, v));
        at += 4 + l.div_ceil(4) * 4;
    }
    out
}

/// An IPv4 (XOR-)MAPPED-ADDRESS value.
fn addr_of(v: &[u8], xor: bool) -> Option<SocketAddr> {
    if v.len() != 8 || v[1] != 1 {
        return None;
    }
    let mut port = u16::from_be_bytes([v[2], v[3]]);
    let mut ip = [v[4], v[5], v[6], v[7]];
    if xor {
        port ^= 0x2112;
        for (b, m) in ip.iter_mut().zip(MAGIC) {
            *b ^= m;
        }
    }
    Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
}

/// True when `resp` is a Binding success for `req` naming `me`.
fn answers(resp: &[u8], req: &[u8], me: SocketAddr) -> bool {
    if resp.len() < 20 || resp[0..2] != [0x01, 0x01] || resp[4..20] != req[4..20] {
        return false;
    }
    let xor = req[4..8] == MAGIC;
    attrs(resp).iter().any(|(t, v)| {
        (xor && *t == XOR_MAPPED_ADDRESS && addr_of(v, true) == Some(me))
            || (!xor && *t == MAPPED_ADDRESS && addr_of(v, false) == Some(me))
    })
}

fn bind(ip: [u8; 4]) -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::from(ip), 0)).expect("bind a loopback client socket")
}

/// Paces a loop at `rate` per second: how many to send now.
struct Pace {
    start: Instant,
    done: u64,
    rate: f64,
}

impl Pace {
    fn new(rate: f64) -> Self {
        Pace {
            start: Instant::now(),
            done: 0,
            rate,
        }
    }
    fn due(&mut self) -> u64 {
        let want = (self.start.elapsed().as_secs_f64() * self.rate) as u64;
        let n = want.saturating_sub(self.done);
        self.done += n;
        n
    }
}

#[derive(Default)]
struct ValidRun {
    sent: u64,
    classic: u64,
    wrong: u64,
    lost: u64,
    rtts_us: Vec<u32>,
}

/// One request at a time, round robin over the clients, paced so each
/// source IP stays under the rate limit; the round trip of each.
fn valid_clients(a: &Addrs, stop: &AtomicBool, sent: &AtomicU64) -> ValidRun {
    let clients: Vec<(UdpSocket, UdpSocket)> = (1..=VALID_IPS)
        .map(|i| (bind([127, 0, 1, i]), bind([127, 0, 1, i])))
        .collect();
    for (s, r) in &clients {
        s.set_read_timeout(Some(ANSWER_WAIT)).expect("timeout");
        r.set_read_timeout(Some(ANSWER_WAIT)).expect("timeout");
    }
    let mut rng = Rng(0x5eed_0001);
    let mut run = ValidRun::default();
    let mut pace = Pace::new(f64::from(VALID_IPS) * VALID_RATE_PER_IP);
    let mut buf = [0u8; 2048];
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        if pace.due() == 0 {
            std::thread::sleep(Duration::from_micros(100));
            continue;
        }
        let (sock, rp) = &clients[i % clients.len()];
        i += 1;
        let me = sock.local_addr().expect("local address");
        let kind = rng.next() % 5;
        let tid = rng.tid();
        let rp_port = rp.local_addr().expect("local address").port();
        let (req, from, via) = match kind {
            0 | 1 => (stun(0x0001, &tid, &[]), a.primary, sock),
            2 => {
                run.classic += 1;
                (classic(&mut rng, None), a.primary, sock)
            }
            3 => (
                stun(0x0001, &tid, &[(CHANGE_REQUEST, &[0, 0, 0, 0x06])]),
                a.diagonal,
                sock,
            ),
            _ => (
                stun(
                    0x0001,
                    &tid,
                    &[
                        (RESPONSE_PORT, &[(rp_port >> 8) as u8, rp_port as u8, 0, 0]),
                        (PADDING, &[0u8; 96]),
                    ],
                ),
                a.primary,
                rp,
            ),
        };
        let t0 = Instant::now();
        if sock.send_to(&req, a.primary).is_err() {
            run.lost += 1;
            run.sent += 1;
            continue;
        }
        run.sent += 1;
        sent.fetch_add(1, Ordering::Relaxed);
        // Wait for this request's answer (late answers of earlier, lost
        // ones are skipped).
        let deadline = t0 + ANSWER_WAIT;
        let mut got = false;
        while Instant::now() < deadline {
            match via.recv_from(&mut buf) {
                Ok((n, src)) => {
                    if buf[4..20] != req[4..20] {
                        continue;
                    }
                    let rtt = t0.elapsed();
                    if src == from && answers(&buf[..n], &req, me) {
                        run.rtts_us
                            .push(rtt.as_micros().min(u128::from(u32::MAX)) as u32);
                    } else {
                        run.wrong += 1;
                    }
                    got = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if !got {
            run.lost += 1;
        }
    }
    run
}

/// One TCP connection, a request every 40 ms (under the rate limit).
fn tcp_valid_client(a: &Addrs, stop: &AtomicBool, sent: &AtomicU64) -> ValidRun {
    let mut run = ValidRun::default();
    let mut s = TcpStream::connect(a.tcp).expect("connect to the TCP listener");
    s.set_nodelay(true).expect("nodelay");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let me = s.local_addr().expect("local address");
    let mut rng = Rng(0x5eed_0002);
    while !stop.load(Ordering::Relaxed) {
        let req = stun(0x0001, &rng.tid(), &[]);
        let t0 = Instant::now();
        s.write_all(&req).expect("write a TCP request");
        run.sent += 1;
        sent.fetch_add(1, Ordering::Relaxed);
        let mut hdr = [0u8; 20];
        if s.read_exact(&mut hdr).is_err() {
            run.wrong += 1;
            break;
        }
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        let mut resp = hdr.to_vec();
        resp.resize(20 + len, 0);
        if s.read_exact(&mut resp[20..]).is_err() {
            run.wrong += 1;
            break;
        }
        if answers(&resp, &req, me) {
            run.rtts_us
                .push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        } else {
            run.wrong += 1;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    run
}

#[derive(Default)]
struct FloodRun {
    binding: u64,
    malformed: u64,
    indications: u64,
    bytes_sent: u64,
    bytes_back: u64,
    answers: u64,
}

impl FloodRun {
    fn sent(&self) -> u64 {
        self.binding + self.malformed + self.indications
    }
}

/// Far above the rate limit from a few IPs: Binding requests, malformed
/// datagrams, indications. Answers are counted, never waited for.
fn flood(a: &Addrs, stop: &AtomicBool, sent: &AtomicU64) -> FloodRun {
    let socks: Vec<UdpSocket> = (1..=FLOOD_IPS).map(|i| bind([127, 0, 2, i])).collect();
    for s in &socks {
        s.set_nonblocking(true).expect("nonblocking");
    }
    let mut rng = Rng(0x5eed_0003);
    let mut run = FloodRun::default();
    let mut pace = Pace::new(FLOOD_RATE);
    let mut buf = [0u8; 2048];
    let mut k = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let n = pace.due();
        if n == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        for _ in 0..n {
            let s = &socks[k % socks.len()];
            k += 1;
            let tid = rng.tid();
            let pick = rng.next() % 10;
            let d = match pick {
                0..=5 => {
                    run.binding += 1;
                    stun(0x0001, &tid, &[])
                }
                6 => {
                    // Not STUN at all (the first two bits set).
                    run.malformed += 1;
                    let len = 1 + (rng.next() % 200) as usize;
                    let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    d[0] |= 0xc0;
                    d
                }
                7 => {
                    // A STUN header whose length is not the datagram's.
                    run.malformed += 1;
                    let mut d = stun(0x0001, &tid, &[(PADDING, &[0; 8])]);
                    d[3] = d[3].wrapping_add(4);
                    d
                }
                8 => {
                    // A FINGERPRINT that does not match.
                    run.malformed += 1;
                    stun(0x0001, &tid, &[(FINGERPRINT, &[1, 2, 3, 4])])
                }
                _ => {
                    // A Binding indication.
                    run.indications += 1;
                    stun(0x0011, &tid, &[])
                }
            };
            // Loopback send errors (buffer full) would desynchronise the
            // accounting: retry the same datagram until it is taken.
            loop {
                match s.send_to(&d, a.primary) {
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_micros(50))
                    }
                    Err(e) => panic!("flood send: {e}"),
                }
            }
            run.bytes_sent += d.len() as u64;
            sent.fetch_add(1, Ordering::Relaxed);
        }
        for s in &socks {
            while let Ok(n) = s.recv(&mut buf) {
                run.answers += 1;
                run.bytes_back += n as u64;
            }
        }
    }
    // Late answers.
    std::thread::sleep(Duration::from_millis(300));
    for s in &socks {
        while let Ok(n) = s.recv(&mut buf) {
            run.answers += 1;
            run.bytes_back += n as u64;
        }
    }
    run
}

#[derive(Default)]
struct AmpRun {
    sent: u64,
    no_room: u64,
    redirected: u64,
    padding: u64,
    redirected_bytes_sent: u64,
    victim_answers: u64,
    victim_bytes: u64,
    worst_ratio: f64,
    stray: u64,
    self_bytes_sent: u64,
    self_bytes_back: u64,
    self_answers: u64,
    self_max_excess: i64,
}

/// Under the rate limit from many IPs, each with an attacker and a victim
/// socket: RESPONSE-PORT without room for the answer, RESPONSE-PORT with
/// PADDING (the victim may get at most the request's size), PADDING 1200
/// to the sender (it may get back at most what it sent).
fn amplification(a: &Addrs, stop: &AtomicBool, sent: &AtomicU64) -> AmpRun {
    let pairs: Vec<(UdpSocket, UdpSocket)> = (1..=AMP_IPS)
        .map(|i| (bind([127, 0, 3, i]), bind([127, 0, 3, i])))
        .collect();
    for (s, v) in &pairs {
        s.set_nonblocking(true).expect("nonblocking");
        v.set_nonblocking(true).expect("nonblocking");
    }
    let mut rng = Rng(0x5eed_0004);
    let mut run = AmpRun::default();
    // Request sizes by transaction id, to bound each answer by its request.
    let mut sizes: HashMap<[u8; 12], usize> = HashMap::new();
    let mut pace = Pace::new(f64::from(AMP_IPS) * AMP_RATE_PER_IP);
    let mut buf = [0u8; 4096];
    let mut k = 0usize;
    let mut drain = |run: &mut AmpRun, sizes: &mut HashMap<[u8; 12], usize>| {
        for (s, v) in &pairs {
            while let Ok(n) = v.recv(&mut buf) {
                let tid: [u8; 12] = buf[8..20].try_into().expect("12 bytes");
                match sizes.remove(&tid) {
                    Some(q) => {
                        run.victim_answers += 1;
                        run.victim_bytes += n as u64;
                        run.worst_ratio = run.worst_ratio.max(n as f64 / q as f64);
                    }
                    None => run.stray += 1,
                }
            }
            while let Ok(n) = s.recv(&mut buf) {
                run.self_answers += 1;
                run.self_bytes_back += n as u64;
                run.self_max_excess = run
                    .self_max_excess
                    .max(n as i64 - PADDED_REQUEST_LEN as i64);
            }
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let n = pace.due();
        if n == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        for _ in 0..n {
            let (s, v) = &pairs[k % pairs.len()];
            k += 1;
            let vport = v.local_addr().expect("local address").port();
            let rp = [(vport >> 8) as u8, vport as u8, 0, 0];
            let tid = rng.tid();
            let req = match rng.next() % 3 {
                0 => {
                    run.no_room += 1;
                    stun(0x0001, &tid, &[(RESPONSE_PORT, &rp)])
                }
                1 => {
                    run.redirected += 1;
                    let pad = [0u8; 128];
                    let r = stun(0x0001, &tid, &[(RESPONSE_PORT, &rp), (PADDING, &pad)]);
                    run.redirected_bytes_sent += r.len() as u64;
                    sizes.insert(tid, r.len());
                    r
                }
                _ => {
                    run.padding += 1;
                    let r = stun(0x0001, &tid, &[(PADDING, &[0u8; 1200])]);
                    debug_assert_eq!(r.len(), PADDED_REQUEST_LEN);
                    run.self_bytes_sent += r.len() as u64;
                    r
                }
            };
            if s.send_to(&req, a.primary).is_ok() {
                run.sent += 1;
                sent.fetch_add(1, Ordering::Relaxed);
            } else {
                // Not sent: not expected either.
                sizes.remove(&tid);
            }
        }
        drain(&mut run, &mut sizes);
        // Requests never answered (refused or lost) do not pile up.
        if sizes.len() > 100_000 {
            sizes.clear();
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    drain(&mut run, &mut sizes);
    run
}

#[derive(Default)]
struct HostileTcpRun {
    oversize: u64,
    oversize_closed: u64,
    slow: u64,
    slow_closed: u64,
    slow_lifetime_min: Duration,
    slow_lifetime_max: Duration,
}

/// Oversize frames on fresh connections, and slow clients trickling a
/// message they never finish.
fn hostile_tcp(a: &Addrs, stop: &AtomicBool) -> HostileTcpRun {
    let mut run = HostileTcpRun {
        slow_lifetime_min: Duration::MAX,
        ..Default::default()
    };
    // A header announcing 4000 bytes, trickled a byte at a time.
    let slow_msg = {
        let mut m = stun(0x0001, &[7; 12], &[(PADDING, &[0u8; 3976])]);
        m.truncate(40);
        m
    };
    let mut slow: Vec<(TcpStream, Instant, usize)> = Vec::new();
    let mut pace = Pace::new(OVERSIZE_RATE);
    let mut tick = Instant::now();
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        while slow.len() < SLOW_CLIENTS {
            let s = TcpStream::connect(a.tcp).expect("connect a slow client");
            s.set_nonblocking(true).expect("nonblocking");
            (&s).write_all(&slow_msg[..4]).expect("first bytes");
            slow.push((s, Instant::now(), 4));
            run.slow += 1;
        }
        if tick.elapsed() >= Duration::from_secs(2) {
            tick = Instant::now();
            slow.retain_mut(|(s, born, at)| {
                // EOF or a reset: the server closed it.
                let closed = matches!(s.read(&mut buf), Ok(0))
                    || matches!(s.read(&mut buf), Err(e) if e.kind() != std::io::ErrorKind::WouldBlock)
                    || s.write_all(&[slow_msg[*at % slow_msg.len()]]).is_err();
                *at += 1;
                if closed {
                    let life = born.elapsed();
                    run.slow_closed += 1;
                    run.slow_lifetime_min = run.slow_lifetime_min.min(life);
                    run.slow_lifetime_max = run.slow_lifetime_max.max(life);
                }
                !closed
            });
        }
        for _ in 0..pace.due() {
            let mut s = TcpStream::connect(a.tcp).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let mut hdr = stun(0x0001, &[9; 12], &[]);
            hdr[2..4].copy_from_slice(&0xfff0u16.to_be_bytes());
            let _ = s.write_all(&hdr);
            run.oversize += 1;
            if matches!(s.read(&mut buf), Ok(0) | Err(_)) {
                run.oversize_closed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // The rest of the slow clients hang up; each left a message unfinished.
    slow.clear();
    if run.slow_lifetime_min == Duration::MAX {
        run.slow_lifetime_min = Duration::ZERO;
    }
    run
}

/// The length of the answer to a plain Binding request (from its own
/// source IP, not counted in the soak's figures).
fn plain_answer_len(primary: SocketAddr) -> usize {
    let s = bind([127, 0, 4, 1]);
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 2048];
    let req = stun(0x0001, &Rng(0x5eed_0005).tid(), &[]);
    s.send_to(&req, primary).expect("send");
    s.recv(&mut buf)
        .expect("an answer to a plain Binding request")
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Datagrams the kernel dropped on the server's UDP sockets (receive
/// buffer full), from /proc/net/udp.
fn udp_drops(socks: &[SocketAddr]) -> u64 {
    let text = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let keys: Vec<String> = socks
        .iter()
        .filter_map(|a| match a.ip() {
            IpAddr::V4(ip) => Some(format!(
                "{:08X}:{:04X}",
                u32::from_le_bytes(ip.octets()),
                a.port()
            )),
            IpAddr::V6(_) => None,
        })
        .collect();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 12 && keys.iter().any(|k| k == f[1]))
                .then(|| f.last().and_then(|d| d.parse::<u64>().ok()))
                .flatten()
        })
        .sum()
}

/// `GET /metrics`: every sample as name{labels} -> value.
fn scrape(addr: SocketAddr) -> Result<HashMap<String, u64>, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    Ok(body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, v) = l.rsplit_once(' ')?;
            Some((name.to_string(), v.parse::<f64>().ok()? as u64))
        })
        .collect())
}

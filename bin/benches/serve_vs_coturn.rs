//! Binding requests answered per second on ONE core: `natscope serve` vs
//! coturn (`turnserver`), both in RFC 5780 mode (listening on 127.0.0.1 and
//! 127.0.0.2), measured by the same load generators in the same run.
//!
//! Each server is started pinned to core 1 (`taskset -c 1`); each load
//! generator runs on core 0, one after the other against the same server
//! process: this bench's own, then the independent Go generator
//! `tests/peers/stun-load` (built offline from Debian's golang-go and
//! golang-golang-x-net-dev) batched and one system call per datagram. A
//! ratio is printed per generator. The bench's own generator keeps a window of
//! outstanding Binding requests on a few UDP sockets (sendmmsg/recvmmsg, so
//! the generator is cheaper per request than any server), counts valid
//! answers (success class, matching transaction id, XOR-MAPPED-ADDRESS and
//! OTHER-ADDRESS present) and records each request's round-trip time.
//! Servers are measured alternately, `ROUNDS` times each; natscope runs with
//! its rate limit off (`--rate-limit 0`).
//!
//! Loopback only; every loop is bounded in count and time.
//!
//! `cargo bench -p natscope --bench serve_vs_coturn` (Linux, `coturn`
//! package, 2+ cores).

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../tests/support/gobuild.rs"]
mod gobuild;

/// Core the servers run on.
const SERVER_CORE: &str = "1";
/// Core the load generator runs on.
const GENERATOR_CORE: usize = 0;
/// Client sockets of the load generator.
const SOCKETS: usize = 4;
/// Outstanding requests per socket.
const WINDOW: usize = 64;
/// Warm-up before measuring.
const WARMUP: Duration = Duration::from_millis(500);
/// Measured time per server and round.
const MEASURE: Duration = Duration::from_secs(5);
/// Upper bound on requests sent per measurement (never reached at loopback
/// speeds of a single core; bounds the loop in count).
const MAX_REQUESTS: u64 = 50_000_000;
/// A request unanswered for this long is counted lost and its slot reused.
const LOSS_TIMEOUT: Duration = Duration::from_millis(200);
/// Measurement rounds per server (alternating).
const ROUNDS: usize = 2;
/// Time a server has to start answering.
const READY_WAIT: Duration = Duration::from_secs(10);

const MAGIC: u32 = 0x2112_a442;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const OTHER_ADDRESS: u16 = 0x802c;
/// Slots per socket for send times (power of two, ≫ WINDOW).
const RING: usize = 8192;

fn main() {
    if !cfg!(target_os = "linux") {
        println!("serve_vs_coturn: Linux only");
        return;
    }
    let natscope = PathBuf::from(env!("CARGO_BIN_EXE_natscope"));
    let work = std::env::temp_dir().join(format!("natscope-serve-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("create the bench work dir");
    let profile = if natscope.to_string_lossy().contains("/release/") {
        "release"
    } else {
        "debug"
    };
    println!(
        "serve_vs_coturn: natscope ({profile} build) vs coturn, one core each (core {SERVER_CORE}); \
         generator on core {GENERATOR_CORE}: {SOCKETS} sockets x {WINDOW} outstanding, \
         {MEASURE:?} per run, {ROUNDS} rounds"
    );

    // The independent generator (Go), in both of its modes; without Go the
    // bench still runs its own generator and says why the other is missing.
    let go_gen = gobuild::build_peer(
        "stun-load",
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stun-load"),
        GO_BUILD_LIMIT,
    );
    if let Err(e) = &go_gen {
        println!("independent Go generator unavailable: {e}");
    }
    let mut generators = vec![Generator::Own];
    if let Ok(bin) = &go_gen {
        generators.push(Generator::Go {
            bin: bin.clone(),
            batch: true,
        });
        generators.push(Generator::Go {
            bin: bin.clone(),
            batch: false,
        });
    }
    // rates[generator][server] over the rounds.
    let servers = ["natscope", "coturn"];
    let mut rates: Vec<[Vec<f64>; 2]> = generators.iter().map(|_| [vec![], vec![]]).collect();
    for round in 0..ROUNDS {
        for (si, name) in servers.iter().enumerate() {
            let port = free_port_pair();
            let mut server = match *name {
                "natscope" => Server::natscope(&natscope, port, &work),
                _ => Server::coturn(port, &work),
            };
            let target = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
            if let Err(e) = wait_ready(target) {
                let log = server.log_tail();
                server.stop();
                panic!("{name} did not answer on {target}: {e}\n{log}");
            }
            for (gi, generator) in generators.iter().enumerate() {
                let line = match generator {
                    Generator::Own => {
                        pin_self(GENERATOR_CORE);
                        let r = load(target);
                        rates[gi][si].push(r.rate());
                        format!(
                            "{:>9.0} answers/s  p50 {:>7.1} us  p99 {:>7.1} us  loss {:.3}% ({} of {} sent)",
                            r.rate(),
                            r.percentile(0.50),
                            r.percentile(0.99),
                            r.loss_percent(),
                            r.lost,
                            r.sent
                        )
                    }
                    Generator::Go { bin, batch } => match go_load(bin, *batch, target) {
                        Ok(g) => {
                            rates[gi][si].push(g.rate);
                            format!("{:>9.0} answers/s  lost {}", g.rate, g.lost)
                        }
                        Err(e) => format!("failed: {e}"),
                    },
                };
                println!("round {round} {name:>8} {:<24} {line}", generator.name());
            }
            server.stop();
            if *name == "natscope" {
                let tail = server.log_tail();
                if let Some(line) = tail.lines().find(|l| l.contains("stopped;")) {
                    println!("           {line}");
                }
            }
        }
    }
    println!();
    println!("best of {ROUNDS} rounds, natscope vs coturn:");
    for (generator, per_server) in generators.iter().zip(&rates) {
        let best = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
        let (n, c) = (best(&per_server[0]), best(&per_server[1]));
        println!(
            "  {:<24} natscope {:>9.0}/s  coturn {:>9.0}/s  ratio {:.2}x",
            generator.name(),
            n,
            c,
            n / c
        );
    }
    let _ = std::io::stdout().flush();
    let _ = std::fs::remove_dir_all(&work);
}

/// Time `go build` of the generator may take (offline, small program).
const GO_BUILD_LIMIT: Duration = Duration::from_secs(300);

/// A load generator the bench can drive.
enum Generator {
    /// This bench's own (sendmmsg/recvmmsg, RTT percentiles).
    Own,
    /// `tests/peers/stun-load` (Go): batched (x/net ReadBatch/WriteBatch)
    /// or a system call per datagram.
    Go { bin: PathBuf, batch: bool },
}

impl Generator {
    fn name(&self) -> &'static str {
        match self {
            Generator::Own => "bench generator",
            Generator::Go { batch: true, .. } => "Go stun-load (batched)",
            Generator::Go { batch: false, .. } => "Go stun-load (per-packet)",
        }
    }
}

/// One Go generator run's figures.
struct GoRun {
    rate: f64,
    lost: u64,
}

/// Runs the Go generator against `target` on [`GENERATOR_CORE`] with one
/// Go processor, for WARMUP + MEASURE (killed if it overruns by 10 s).
fn go_load(bin: &Path, batch: bool, target: SocketAddrV4) -> Result<GoRun, String> {
    let mut child = Command::new("taskset")
        .args(["-c", &GENERATOR_CORE.to_string()])
        .arg(bin)
        .arg("-server")
        .arg(target.to_string())
        .arg(format!("-batch={batch}"))
        .arg(format!("-sockets={SOCKETS}"))
        .arg(format!("-window={WINDOW}"))
        .arg(format!("-warmup={}ms", WARMUP.as_millis()))
        .arg(format!("-duration={}ms", MEASURE.as_millis()))
        .arg(format!("-loss={}ms", LOSS_TIMEOUT.as_millis()))
        .env("GOMAXPROCS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let deadline = Instant::now() + WARMUP + MEASURE + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the Go generator did not finish in time".into());
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| {
        format!(
            "unreadable output ({e}): {} {}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    let rate = v["answers_per_sec"]
        .as_f64()
        .ok_or_else(|| format!("no answers_per_sec in {}", text.trim()))?;
    Ok(GoRun {
        rate,
        lost: v["lost"].as_u64().unwrap_or(0),
    })
}

/// A server process, pinned to [`SERVER_CORE`].
struct Server {
    child: Child,
    log: PathBuf,
    graceful: bool,
}

impl Server {
    fn natscope(bin: &Path, port: u16, work: &Path) -> Server {
        let log = work.join(format!("natscope-{port}.log"));
        let out = std::fs::File::create(&log).expect("natscope log file");
        let err = out.try_clone().expect("natscope log file");
        let p = port.to_string();
        let p2 = (port + 1).to_string();
        let child = Command::new("taskset")
            .args(["-c", SERVER_CORE])
            .arg(bin)
            .args([
                "serve",
                "--primary",
                "127.0.0.1",
                "--alternate",
                "127.0.0.2",
                "--port",
                &p,
                "--alt-port",
                &p2,
                "--rate-limit",
                "0",
                "--no-tcp",
            ])
            .env("NATSCOPE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn taskset natscope serve (util-linux taskset needed)");
        Server {
            child,
            log,
            graceful: true,
        }
    }

    fn coturn(port: u16, work: &Path) -> Server {
        let conf = work.join(format!("turnserver-{port}.conf"));
        let log = work.join(format!("turnserver-{port}.log"));
        // Two listening IPs and no external-ip: RFC 5780 on. The alternate
        // port is listening-port + 1. One relay thread; the whole process
        // is pinned to one core anyway.
        let text = format!(
            "listening-ip=127.0.0.1\nlistening-ip=127.0.0.2\nlistening-port={port}\n\
             relay-ip=127.0.0.1\nrelay-threads=1\nno-tls\nno-dtls\nno-cli\nno-auth\n\
             fingerprint\nrealm=bench.example\nno-stdout-log\nsimple-log\nlog-file={log}\n\
             pidfile={pid}\n",
            log = log.display(),
            pid = work.join(format!("turnserver-{port}.pid")).display(),
        );
        std::fs::write(&conf, text).expect("write turnserver.conf");
        let child = Command::new("taskset")
            .args(["-c", SERVER_CORE, "turnserver", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn taskset turnserver (Debian package coturn)");
        Server {
            child,
            log,
            graceful: false,
        }
    }

    /// SIGTERM (natscope prints its counters) then SIGKILL; always reaped.
    fn stop(&mut self) {
        if self.graceful
            && let Ok(pid) = i32::try_from(self.child.id())
        {
            // SAFETY: kill(2) on our own child's pid; no memory involved.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port P such that P and P+1 are free for UDP on 127.0.0.1 and
/// 127.0.0.2 right now.
fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
        let p = probe.local_addr().expect("local addr").port();
        drop(probe);
        if !(20_000..60_000).contains(&p) {
            continue;
        }
        let ok = [p, p + 1].iter().all(|&q| {
            ["127.0.0.1", "127.0.0.2"]
                .iter()
                .all(|ip| UdpSocket::bind((*ip, q)).is_ok())
        });
        if ok {
            return p;
        }
    }
    panic!("no free UDP port pair on 127.0.0.1/127.0.0.2");
}

fn pin_self(core: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity(0) affects only
    // the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!(
                "warning: could not pin the generator to core {core}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

fn request(sock: u32, seq: u64) -> [u8; 20] {
    let mut r = [0u8; 20];
    r[0..2].copy_from_slice(&0x0001u16.to_be_bytes());
    r[4..8].copy_from_slice(&MAGIC.to_be_bytes());
    r[8..12].copy_from_slice(&sock.to_be_bytes());
    r[12..20].copy_from_slice(&seq.to_be_bytes());
    r
}

/// The (socket, sequence) of a valid Binding success response carrying
/// XOR-MAPPED-ADDRESS and OTHER-ADDRESS.
fn parse_response(b: &[u8]) -> Option<(u32, u64)> {
    if b.len() < 20 || b[0..2] != [0x01, 0x01] || b[4..8] != MAGIC.to_be_bytes() {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
    if 20 + len != b.len() {
        return None;
    }
    let (mut xor, mut other) = (false, false);
    let mut i = 20;
    while i + 4 <= b.len() {
        let t = u16::from_be_bytes([b[i], b[i + 1]]);
        let l = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        xor |= t == XOR_MAPPED_ADDRESS;
        other |= t == OTHER_ADDRESS;
        i += 4 + l.div_ceil(4) * 4;
    }
    if !(xor && other) {
        return None;
    }
    let sock = u32::from_be_bytes(b[8..12].try_into().ok()?);
    let seq = u64::from_be_bytes(b[12..20].try_into().ok()?);
    Some((sock, seq))
}

fn wait_ready(target: SocketAddrV4) -> Result<(), String> {
    let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + READY_WAIT;
    let mut buf = [0u8; 1500];
    let mut seq = 0u64;
    while Instant::now() < deadline {
        seq += 1;
        let _ = s.send_to(&request(u32::MAX, seq), target);
        while let Ok(n) = s.recv(&mut buf) {
            if parse_response(&buf[..n]).is_some_and(|(k, _)| k == u32::MAX) {
                return Ok(());
            }
        }
    }
    Err(format!("no RFC 5780 Binding answer within {READY_WAIT:?}"))
}

#[derive(Clone)]
struct RunResult {
    sent: u64,
    answered: u64,
    lost: u64,
    elapsed: Duration,
    /// Round-trip times in microseconds, sorted.
    rtts_us: Vec<f64>,
}

impl RunResult {
    fn rate(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64()
    }
    fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        100.0 * self.lost as f64 / self.sent as f64
    }
    fn percentile(&self, q: f64) -> f64 {
        if self.rtts_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.rtts_us.len() - 1) as f64 * q).round() as usize;
        self.rtts_us[i.min(self.rtts_us.len() - 1)]
    }
}

/// Per-socket generator state.
struct Flow {
    sock: UdpSocket,
    id: u32,
    next_seq: u64,
    /// Send time and sequence of each outstanding request, by `seq % RING`.
    slots: Vec<Option<(u64, Instant)>>,
    outstanding: usize,
}

/// Drives the window against `target` for WARMUP + MEASURE; counts only
/// requests sent during the measured interval.
fn load(target: SocketAddrV4) -> RunResult {
    let mut flows: Vec<Flow> = (0..SOCKETS)
        .map(|i| {
            let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a generator socket");
            sock.set_nonblocking(true).expect("nonblocking socket");
            Flow {
                sock,
                id: u32::try_from(i).expect("few sockets"),
                next_seq: 0,
                slots: vec![None; RING],
                outstanding: 0,
            }
        })
        .collect();
    let dest = sockaddr(target);
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let stop_at = measure_from + MEASURE;
    let mut res = RunResult {
        sent: 0,
        answered: 0,
        lost: 0,
        elapsed: MEASURE,
        rtts_us: Vec::with_capacity(4_000_000),
    };
    let mut total_sent = 0u64;
    let mut recv_bufs = vec![[0u8; 256]; WINDOW];
    let mut last_sweep = Instant::now();
    // Bounded: stops at `stop_at` or after MAX_REQUESTS sends.
    while total_sent < MAX_REQUESTS {
        let now = Instant::now();
        if now >= stop_at {
            break;
        }
        let mut progress = false;
        for f in flows.iter_mut() {
            // Receive what is there.
            let n = recv_batch(&f.sock, &mut recv_bufs);
            let now = Instant::now();
            for (buf, len) in recv_bufs.iter().zip(n.iter()) {
                let Some((id, seq)) = parse_response(&buf[..*len]) else {
                    continue;
                };
                if id != f.id {
                    continue;
                }
                let slot = &mut f.slots[(seq as usize) & (RING - 1)];
                if let Some((s, t)) = *slot
                    && s == seq
                {
                    *slot = None;
                    f.outstanding -= 1;
                    if t >= measure_from {
                        res.answered += 1;
                        res.rtts_us.push(now.duration_since(t).as_secs_f64() * 1e6);
                    }
                }
            }
            progress |= !n.is_empty();
            // Refill the window.
            let want = WINDOW - f.outstanding;
            if want > 0 {
                let reqs: Vec<[u8; 20]> = (0..want)
                    .map(|k| request(f.id, f.next_seq + k as u64))
                    .collect();
                let sent = send_batch(&f.sock, &dest, &reqs);
                let now = Instant::now();
                for k in 0..sent {
                    let seq = f.next_seq + k as u64;
                    f.slots[(seq as usize) & (RING - 1)] = Some((seq, now));
                    if now >= measure_from && now < stop_at {
                        res.sent += 1;
                    }
                }
                f.next_seq += sent as u64;
                f.outstanding += sent;
                total_sent += sent as u64;
                progress |= sent > 0;
            }
        }
        // Requests unanswered for LOSS_TIMEOUT are lost: free their slots.
        let now = Instant::now();
        if now.duration_since(last_sweep) >= LOSS_TIMEOUT / 4 {
            last_sweep = now;
            for f in flows.iter_mut() {
                for slot in f.slots.iter_mut() {
                    if let Some((_, t)) = *slot
                        && now.duration_since(t) >= LOSS_TIMEOUT
                    {
                        *slot = None;
                        f.outstanding -= 1;
                        if t >= measure_from {
                            res.lost += 1;
                        }
                    }
                }
            }
        }
        if !progress {
            wait_readable(&flows, Duration::from_millis(5));
        }
    }
    // Drain: answers to requests sent in the measured interval still count
    // towards latency/loss, not towards the rate (which is answers within
    // [measure_from, stop_at] divided by MEASURE, approximately).
    let drain_until = Instant::now() + LOSS_TIMEOUT;
    while Instant::now() < drain_until && flows.iter().any(|f| f.outstanding > 0) {
        for f in flows.iter_mut() {
            let n = recv_batch(&f.sock, &mut recv_bufs);
            let now = Instant::now();
            for (buf, len) in recv_bufs.iter().zip(n.iter()) {
                if let Some((id, seq)) = parse_response(&buf[..*len])
                    && id == f.id
                {
                    let slot = &mut f.slots[(seq as usize) & (RING - 1)];
                    if let Some((s, t)) = *slot
                        && s == seq
                    {
                        *slot = None;
                        f.outstanding -= 1;
                        if t >= measure_from {
                            res.rtts_us.push(now.duration_since(t).as_secs_f64() * 1e6);
                        }
                    }
                }
            }
        }
        wait_readable(&flows, Duration::from_millis(5));
    }
    for f in &flows {
        res.lost += f
            .slots
            .iter()
            .flatten()
            .filter(|(_, t)| *t >= measure_from && *t < stop_at)
            .count() as u64;
    }
    res.rtts_us.sort_by(f64::total_cmp);
    res
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr = libc::in_addr {
        s_addr: u32::from(*a.ip()).to_be(),
    };
    s
}

/// sendmmsg of every request to `dest`; returns how many were sent.
fn send_batch(sock: &UdpSocket, dest: &libc::sockaddr_in, reqs: &[[u8; 20]]) -> usize {
    let mut iovs: Vec<libc::iovec> = reqs
        .iter()
        .map(|r| libc::iovec {
            iov_base: r.as_ptr() as *mut libc::c_void,
            iov_len: r.len(),
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: mmsghdr is plain data; all-zero is valid.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = dest as *const libc::sockaddr_in as *mut libc::c_void;
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    // SAFETY: every pointer in `msgs` points into `iovs`, `reqs` or `dest`,
    // all alive for the call.
    let n = unsafe {
        libc::sendmmsg(
            sock.as_raw_fd(),
            msgs.as_mut_ptr(),
            u32::try_from(msgs.len()).unwrap_or(u32::MAX),
            libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(n).unwrap_or(0)
}

/// recvmmsg without waiting; returns the length of each datagram received
/// into `bufs` (in order).
fn recv_batch(sock: &UdpSocket, bufs: &mut [[u8; 256]]) -> Vec<usize> {
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: mmsghdr is plain data; all-zero is valid.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    // SAFETY: every pointer in `msgs` points into `iovs`/`bufs`, alive and
    // exclusively borrowed for the call.
    let n = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            msgs.as_mut_ptr(),
            u32::try_from(msgs.len()).unwrap_or(u32::MAX),
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    let n = usize::try_from(n).unwrap_or(0);
    msgs[..n].iter().map(|m| m.msg_len as usize).collect()
}

fn wait_readable(flows: &[Flow], timeout: Duration) {
    let mut fds: Vec<libc::pollfd> = flows
        .iter()
        .map(|f| libc::pollfd {
            fd: f.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `fds` is a valid array of pollfd for the call.
    unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms);
    }
}

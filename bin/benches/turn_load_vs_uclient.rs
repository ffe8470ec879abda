//! `natscope turn --load` beside coturn's own load generator,
//! `turnutils_uclient`, against the same coturn on loopback (one relay
//! thread, `relay-threads=1`), the server pinned to core 0 and each
//! generator to core 1 (`taskset`), one after the other (issue #18).
//!
//! Prints, for each generator at each setting: packets per second the
//! server delivered to it, loss, and the generator's CPU time, and then:
//! - the ratio of natscope's best delivered rate to uclient's best (the
//!   target: natscope is never the bottleneck, ≥ 1.0);
//! - natscope's packets handled (sent + received) per CPU-second: its
//!   capacity per core of its own (target ≥ 100 k/s).
//!
//! `LOAD_SOAK_SECS=600` adds a soak: one natscope run of that length at
//! 200 allocations × 50 packets/s, its resident memory sampled every 10 s
//! (target: flat).
//!
//! `cargo bench -p natscope --bench turn_load_vs_uclient` (Linux, coturn,
//! 2+ cores). Loopback only; every run is bounded.

use lab::{CoturnOptions, LoopbackCoturn};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "bench";
const PASS: &str = "bench-load-pw";

/// CPU seconds (user + system) of a reaped child, and its wall time.
fn run_timed(mut cmd: Command) -> (std::process::Output, f64, Duration) {
    let t0 = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the generator starts");
    let pid = child.id() as libc::pid_t;
    let out_thread = std::thread::spawn(move || child.wait_with_output());
    // The child's CPU time: read /proc until it exits (the last sample is
    // within 50 ms of the end).
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut cpu = 0.0;
    while let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        let rest = s.rsplit(')').next().unwrap_or_default();
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 13 {
            let ut: f64 = f[11].parse().unwrap_or(0.0);
            let st: f64 = f[12].parse().unwrap_or(0.0);
            cpu = (ut + st) / ticks;
        }
        if f.first() == Some(&"Z") || out_thread.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = out_thread
        .join()
        .expect("the waiting thread")
        .expect("the generator ran");
    (out, cpu, t0.elapsed())
}

fn pinned(core: &str, program: &str) -> Command {
    let mut c = Command::new("taskset");
    c.args(["-c", core, program]);
    c
}

/// turnutils_uclient, client to client (`-y`), no RTCP (`-c`): packets
/// per second delivered, loss %, CPU seconds.
fn uclient(port: u16, clients: u32, msgs: u32) -> Option<(f64, f64, f64)> {
    let mut c = pinned("1", "turnutils_uclient");
    c.args([
        "-y",
        "-c",
        "-m",
        &clients.to_string(),
        "-n",
        &msgs.to_string(),
        "-l",
        "160",
        "-z",
        "1",
        "-u",
        USER,
        "-w",
        PASS,
        "-p",
        &port.to_string(),
        "127.0.0.1",
    ]);
    let (out, cpu, _) = run_timed(c);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let recv: f64 = text
        .lines()
        .rev()
        .find_map(|l| l.split("tot_recv_msgs=").nth(1))
        .and_then(|v| v.trim().split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse().ok())?;
    let secs: f64 = text
        .lines()
        .find_map(|l| l.split("Total transmit time is ").nth(1))
        .and_then(|v| v.trim().parse().ok())?;
    let loss: f64 = text
        .lines()
        .find_map(|l| l.split("Total lost packets ").nth(1))
        .and_then(|v| v.split('(').nth(1))
        .and_then(|v| v.split('%').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    Some((recv / secs.max(1.0), loss, cpu))
}

/// natscope turn --load: delivered pps, loss %, CPU seconds, packets
/// handled (sent + received), packets received.
fn natscope(
    port: u16,
    allocations: u32,
    rate: u32,
    secs: u32,
) -> Option<(f64, f64, f64, f64, f64)> {
    let mut c = pinned("1", env!("CARGO_BIN_EXE_natscope"));
    c.args([
        "turn",
        "--load",
        &format!("turn:127.0.0.1:{port}?transport=udp"),
        "--username",
        USER,
        "--password",
        PASS,
        "--allocations",
        &allocations.to_string(),
        "--rate",
        &rate.to_string(),
        "--duration",
        &format!("{secs}s"),
        "--ramp",
        "0s",
        "--format",
        "json",
    ]);
    let (out, cpu, _) = run_timed(c);
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let t = &rep["load"]["traffic"];
    let handled = t["sent"].as_f64()? + t["received"].as_f64()?;
    Some((
        t["received_pps"].as_f64()?,
        t["loss_percent"].as_f64().unwrap_or(f64::NAN),
        cpu,
        handled,
        t["received"].as_f64()?,
    ))
}

fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn main() {
    let opts = CoturnOptions {
        user: USER.into(),
        password: PASS.into(),
        realm: "natscope.bench".into(),
        extra_config: vec!["relay-threads=1".into(), "no-tcp-relay".into()],
        ready_timeout: Duration::from_secs(10),
        ..CoturnOptions::default()
    };
    let coturn = LoopbackCoturn::start(&opts, false).expect("coturn starts on loopback");
    let port = coturn.primary.port();
    let _ = Command::new("taskset")
        .args(["-a", "-pc", "0", &coturn.pid().to_string()])
        .stdout(Stdio::null())
        .status();
    println!("coturn on 127.0.0.1:{port}, relay-threads=1, core 0; generators on core 1\n");

    println!("turnutils_uclient -y -c -z 1 -l 160 (client to client):");
    let mut best_uc: f64 = 0.0;
    for clients in [50u32, 100, 200] {
        let msgs = 10_000;
        match uclient(port, clients, msgs) {
            Some((pps, loss, cpu)) => {
                println!(
                    "  -m {clients:>3}: {pps:>9.0} packets/s delivered, loss {loss:.3} %, cpu {cpu:.2} s"
                );
                best_uc = best_uc.max(pps);
            }
            None => println!("  -m {clients:>3}: no result (uclient output not understood)"),
        }
    }

    println!("\nnatscope turn --load --size 160, 10 s, no ramp:");
    let mut best_ns: f64 = 0.0;
    let mut per_core: f64 = 0.0;
    let mut rx_per_core: f64 = 0.0;
    for (allocs, rate) in [(200u32, 100u32), (200, 250), (200, 500), (400, 500)] {
        match natscope(port, allocs, rate, 10) {
            Some((pps, loss, cpu, handled, received)) => {
                let pc = handled / cpu.max(1e-3);
                let rx = received / cpu.max(1e-3);
                println!(
                    "  {allocs:>3} × {rate:>3}/s: {pps:>9.0} packets/s delivered, loss {loss:.3} %, \
                     cpu {cpu:.2} s; per CPU-second {pc:>7.0} handled, {rx:>7.0} received"
                );
                best_ns = best_ns.max(pps);
                per_core = per_core.max(pc);
                rx_per_core = rx_per_core.max(rx);
            }
            None => println!("  {allocs:>3} × {rate:>3}/s: no result"),
        }
    }
    println!(
        "\nbest delivered: natscope {best_ns:.0}/s, uclient {best_uc:.0}/s: ratio {:.2} (target ≥ 1.0)",
        best_ns / best_uc.max(1.0)
    );
    println!(
        "natscope per CPU-second: {per_core:.0} packets handled (sent + received), \
         {rx_per_core:.0} relayed packets received (target ≥ 100000)"
    );

    if let Some(secs) = std::env::var("LOAD_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        println!("\nsoak: 200 allocations × 50/s for {secs} s, resident memory every 10 s:");
        let child = pinned("1", env!("CARGO_BIN_EXE_natscope"))
            .args([
                "turn",
                "--load",
                &format!("turn:127.0.0.1:{port}?transport=udp"),
                "--username",
                USER,
                "--password",
                PASS,
                "--allocations",
                "200",
                "--duration",
                &format!("{secs}s"),
                "--ramp",
                "5s",
                "--format",
                "json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("natscope starts");
        // taskset execs natscope: the same pid.
        let pid = child.id();
        let mut samples: Vec<u64> = Vec::new();
        let end = Instant::now() + Duration::from_secs(secs + 30);
        while Instant::now() < end {
            std::thread::sleep(Duration::from_secs(10));
            match rss_kib(pid) {
                Some(k) => samples.push(k),
                None => break,
            }
        }
        let out = child.wait_with_output().expect("natscope ran");
        let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let after_ramp: Vec<u64> = samples.iter().skip(1).copied().collect();
        println!(
            "  samples (KiB): first {:?}, after ramp min {:?} max {:?}, last {:?}; loss {} %, ended {}",
            samples.first(),
            after_ramp.iter().min(),
            after_ramp.iter().max(),
            samples.last(),
            rep["load"]["traffic"]["loss_percent"],
            rep["load"]["ended"]["reason"]
        );
    }
    drop(coturn);
}

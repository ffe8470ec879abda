//! NAT classification speed: natscope's probe vs coturn's
//! `turnutils_natdiscovery -m -f`, back to back, on the netns lab (real
//! kernel NATs), both against the same coturn in the server namespace
//! (queried on its first address). Prints wall times, the ratio and both
//! verdicts. Needs root and the `coturn` package.
//!
//! `cargo bench -p natscope --bench nat_vs_coturn`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lab::{CoturnOptions, Lab, LabSpec, NatBehaviour, Ns};

const ROUNDS: usize = 3;

fn main() {
    // `cargo bench` passes `--bench`; when built and run as a test
    // (`cargo test --benches`), do nothing: figures come from benchmarks
    // only, never from the test suite.
    if !std::env::args().any(|a| a == "--bench") {
        println!("nat_vs_coturn: run with `cargo bench -p natscope --bench nat_vs_coturn` (root)");
        return;
    }
    for nat in [NatBehaviour::EimApdf, NatBehaviour::Apdm] {
        let lab = Lab::up(LabSpec::new(nat)).expect("the NAT lab needs root");
        let info = lab
            .start_coturn(CoturnOptions::default())
            .expect("coturn starts in the server namespace");
        let client_ip = lab.addrs().client.to_string();
        let server = SocketAddr::V4(info.primary);
        let server_arg = info.primary.ip().to_string();
        println!("== {} (coturn at {server}) ==", nat.as_str());
        let mut ratios = Vec::new();
        for round in 0..ROUNDS {
            let t0 = Instant::now();
            let out = lab
                .exec(
                    Ns::Client,
                    &[
                        "turnutils_natdiscovery",
                        "-m",
                        "-f",
                        "-L",
                        &client_ip,
                        &server_arg,
                    ],
                )
                .expect("turnutils_natdiscovery runs");
            let coturn_time = t0.elapsed();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            let coturn_verdict: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    let l = l.to_ascii_lowercase();
                    (l.contains("mapping") || l.contains("filtering") || l.contains("nat"))
                        && !l.contains("binding")
                        && !l.is_empty()
                })
                .collect();

            let (verdict, natscope_time) = lab
                .run_in(Ns::Client, move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("tokio runtime");
                    // The same probe configuration `natscope nat` uses by default.
                    let cfg = probe::nat::NatProbeConfig {
                        servers: vec![server],
                        timeout: Duration::from_secs(5),
                        local: probe::nat::local_network(),
                        ..probe::nat::NatProbeConfig::default()
                    };
                    let t0 = Instant::now();
                    let out = rt.block_on(probe::nat::probe(&cfg));
                    (natclass::classify(&out.observations), t0.elapsed())
                })
                .expect("client namespace");
            let ratio = coturn_time.as_secs_f64() / natscope_time.as_secs_f64().max(1e-6);
            ratios.push(ratio);
            println!(
                "round {round}: natdiscovery {:>7.3} s | natscope {:>6.3} s | {:>5.1}x faster",
                coturn_time.as_secs_f64(),
                natscope_time.as_secs_f64(),
                ratio
            );
            if round == 0 {
                println!("  natdiscovery says: {}", coturn_verdict.join(" / "));
                println!(
                    "  natscope says:     mapping {:?}, filtering {:?}, confidence {:?}: {}",
                    verdict.mapping, verdict.filtering, verdict.confidence, verdict.summary
                );
            }
        }
        let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
        println!("mean speed-up on {}: {mean:.1}x\n", nat.as_str());
    }
}

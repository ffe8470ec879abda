//! ICE speed on loopback: natscope's two rice-proto agents vs two aioice
//! agents (`bin/benches/peers/aioice_ice.py`, PyPI `aioice`), run side by
//! side, host candidates only on 127.0.0.1, no data channel on either side
//! (aioice has none). Then natscope alone for srflx↔srflx (embedded STUN
//! responder) and relay↔relay (embedded TURN server) against the 150 ms
//! target, and `natscope diagnose --lab` wall time against 0.5 s.
//! Loopback only.
//!
//! `cargo bench -p natscope --bench ice_vs_aioice` (needs `pip install aioice`)

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use model::Secret;
use model::ice::IceFilter;
use probe::ice::{
    IceOptions, IceServers, IceTurnTransport, StunServerSpec, TurnServerSpec, run_filter,
};
use servers::responder::{Responder, ResponderConfig};
use servers::turn::{TurnServer, TurnServerConfig};

const RUNS: usize = 20;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn p90(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = (v.len() * 9).div_ceil(10).saturating_sub(1);
    v.get(i).copied().unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn opts() -> IceOptions {
    IceOptions {
        pings: 1,
        data_channel: false,
        ..IceOptions::loopback()
    }
}

/// `RUNS` runs of `filter`: (wall from gathering to connected and one ping,
/// checks → connected), in ms.
async fn natscope_runs(filter: IceFilter, servers: &IceServers) -> (Vec<f64>, Vec<f64>) {
    let (mut total, mut connect) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let r = run_filter(filter, servers, &opts()).await;
        let wall = t0.elapsed();
        match (r.failure, r.time_to_connected) {
            (None, Some(c)) => {
                total.push(ms(wall));
                connect.push(ms(c));
            }
            (f, _) => eprintln!("ice_vs_aioice: a natscope {filter:?} run failed: {f:?}"),
        }
    }
    (total, connect)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("ice_vs_aioice: run with `cargo bench -p natscope --bench ice_vs_aioice`");
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");

    // aioice first (its own process), then natscope, twice, alternated.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peers/aioice_ice.py");
    println!("== host<->host on 127.0.0.1, {RUNS} runs per round ==");
    for round in 1..=2 {
        let out = Command::new("python3")
            .args([script, "--runs", &RUNS.to_string()])
            .output()
            .expect("python3 runs");
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            panic!("the aioice peer failed (pip install aioice)");
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("the aioice peer prints JSON");
        let a_total = doc["total_ms"]["median"].as_f64().unwrap_or(f64::NAN);
        let a_connect = doc["connect_ms"]["median"].as_f64().unwrap_or(f64::NAN);
        let (total, connect) =
            rt.block_on(natscope_runs(IceFilter::HostHost, &IceServers::default()));
        let (n_total, n_connect) = (median(total.clone()), median(connect.clone()));
        println!(
            "round {round}: aioice {} total {a_total:.1} ms (connect {a_connect:.1} ms) | \
             natscope total {n_total:.1} ms p90 {:.1} (connect {n_connect:.1} ms p90 {:.1}) | \
             natscope/aioice total {:.2}x, connect {:.2}x",
            doc["version"].as_str().unwrap_or("?"),
            p90(total),
            p90(connect),
            n_total / a_total,
            n_connect / a_connect,
        );
    }

    println!("== natscope alone, against the 150 ms target (median / p90 of {RUNS}) ==");
    rt.block_on(async {
        let responder = Responder::start(ResponderConfig {
            primary: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            tcp: false,
            alternate: None,
            ..ResponderConfig::loopback_lab()
        })
        .expect("loopback responder starts");
        let stun = IceServers {
            stun: vec![StunServerSpec {
                url: format!("stun:{}", responder.addrs().primary),
                addr: responder.addrs().primary,
            }],
            turn: vec![],
        };
        let password = "bench-password";
        let turn = TurnServer::start(TurnServerConfig::new(
            "natscope.test",
            "alice",
            Secret::new(password),
        ))
        .await
        .expect("embedded TURN server starts");
        let relay = IceServers {
            stun: vec![],
            turn: vec![TurnServerSpec {
                url: format!("turn:{}?transport=udp", turn.udp_addr),
                addr: turn.udp_addr,
                transport: IceTurnTransport::Udp,
                username: "alice".into(),
                password: Secret::new(password),
            }],
        };
        for (filter, servers) in [
            (IceFilter::HostHost, IceServers::default()),
            (IceFilter::SrflxSrflx, stun),
            (IceFilter::RelayRelay, relay),
        ] {
            let (total, connect) = natscope_runs(filter, &servers).await;
            let p = p90(total.clone());
            println!(
                "{filter:?}: total {:.1} / {p:.1} ms, connect {:.1} / {:.1} ms: {}",
                median(total),
                median(connect.clone()),
                p90(connect),
                if p <= 150.0 {
                    "within 150 ms"
                } else {
                    "OVER 150 ms"
                }
            );
        }
        turn.shutdown();
        responder.shutdown().await;
    });

    println!("== natscope diagnose --lab (this build), 5 runs ==");
    let bin = env!("CARGO_BIN_EXE_natscope");
    let mut walls = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let out = Command::new(bin)
            .args(["diagnose", "--lab", "--format", "json"])
            .output()
            .expect("natscope runs");
        walls.push(ms(t0.elapsed()));
        if out.stdout.is_empty() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let m = median(walls.clone());
    println!(
        "diagnose --lab wall: median {m:.0} ms, max {:.0} ms: {}",
        walls.iter().copied().fold(0.0, f64::max),
        if m <= 500.0 {
            "within 0.5 s"
        } else {
            "OVER 0.5 s"
        }
    );
}

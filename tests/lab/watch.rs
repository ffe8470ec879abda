//! `natscope watch` behind a real kernel NAT whose behaviour changes
//! mid-watch: the netns lab's router goes from endpoint-independent to
//! address-and-port-dependent mapping (its nftables rules replaced, its
//! conntrack flushed), and within one interval the watch prints the
//! `nat-changed` event and its metrics say the new mapping.
//!
//! Needs root (the lab); fails with the reason otherwise.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use lab::{Lab, LabSpec, NatBehaviour, Ns};

use crate::support::lab_up as up;

const EVERY: Duration = Duration::from_secs(2);
/// Inside the client namespace: its own loopback, so a fixed port is free.
const METRICS: &str = "127.0.0.1:9464";

/// `GET /metrics` from inside the client namespace ("" when not up yet).
fn scrape(lab: &Lab) -> String {
    lab.run_in(Ns::Client, || {
        let addr: SocketAddr = METRICS.parse().expect("literal address");
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .expect("client namespace")
}

fn mapping_line(text: &str) -> Option<&str> {
    text.lines().find(|l| l.starts_with("natscope_nat_info{"))
}

fn wait_for(lab: &Lab, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let text = scrape(lab);
        if pred(&text) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{what} within {limit:?}: last nat_info {:?}",
            mapping_line(&text)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_nat_that_turns_symmetric_mid_watch_is_an_event_and_a_metric() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let lab = up(LabSpec::new(NatBehaviour::EimApdf));
    let _responder = lab
        .start_responder(rt.handle())
        .expect("responder in the server namespace");
    let server = SocketAddr::new(IpAddr::V4(lab.addrs().server_primary), 3478);
    let events =
        std::env::temp_dir().join(format!("natscope-watch-lab-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&events);
    let line = format!(
        "exec '{}' watch stun:{server} --no-turn --no-ice --no-portmap --port-samples 0 \
         --every {}s --listen {METRICS} > '{}'",
        env!("CARGO_BIN_EXE_natscope"),
        EVERY.as_secs(),
        events.display()
    );
    let pid = lab
        .spawn(Ns::Client, &["sh", "-c", &line])
        .expect("watch starts in the client namespace");
    wait_for(
        &lab,
        "endpoint-independent mapping first",
        Duration::from_secs(60),
        |t| mapping_line(t).is_some_and(|l| l.contains("mapping=\"endpoint-independent\"")),
    );

    // The router becomes address-and-port-dependent: new rules, and no old
    // mapping kept alive by conntrack.
    let apdm = LabSpec::new(NatBehaviour::Apdm);
    let rules = lab::ruleset(&apdm, lab.addrs()).expect("APDM has rules");
    let file = std::env::temp_dir().join(format!("natscope-watch-lab-{}.nft", std::process::id()));
    std::fs::write(&file, rules).expect("write the rule set");
    let path = file.to_str().expect("utf-8 path").to_owned();
    for argv in [
        vec!["nft", "delete", "table", "ip", "natlab"],
        vec!["nft", "-f", path.as_str()],
        vec!["conntrack", "-F"],
    ] {
        let out = lab.exec(Ns::Router, &argv).expect("router namespace");
        assert!(
            out.status.success() || argv[0] == "conntrack",
            "{argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // One interval, plus the run that sees it (a NAT run here takes about
    // a second), plus the run already under way when the rules changed.
    let bound = EVERY * 3 + Duration::from_secs(10);
    let took = wait_for(&lab, "address-and-port-dependent mapping", bound, |t| {
        mapping_line(t).is_some_and(|l| l.contains("mapping=\"address-and-port-dependent\""))
    });
    eprintln!(
        "watch saw the NAT change {} ms after the rules changed",
        took.as_millis()
    );
    let start = Instant::now();
    let event = loop {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains("\"nat-changed\"")) {
            break l.to_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no nat-changed event:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let ev: serde_json::Value = serde_json::from_str(&event).expect("one JSON object per line");
    assert_eq!(ev["subject"], "mapping", "{ev}");
    assert_eq!(ev["from"], "endpoint-independent", "{ev}");
    assert_eq!(ev["to"], "address-and-port-dependent", "{ev}");
    lab.kill(pid);
    let _ = std::fs::remove_file(&events);
    let _ = std::fs::remove_file(&file);
}

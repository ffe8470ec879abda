//! TURN on a real kernel NAT that drops all UDP (the netns lab): the
//! `natscope turn` binary runs in the client namespace against coturn in the
//! server namespace and relays to a UDP echo on the peer host
//! (203.0.113.200). UDP must fail with a named failure at the allocate
//! stage (a timeout: the NAT drops the request silently), TCP and TLS must
//! allocate, relay to the peer and back, and the report must advise a
//! `turns:` server on port 443.
//!
//! Needs root. Without it the test FAILS with the reason (never skips).
#![cfg(target_os = "linux")]

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering;

use lab::{CoturnOptions, LabSpec, NatBehaviour, Ns};

const ECHO_PORT: u16 = 7000;

use crate::support::LabEcho as Echo;
use crate::support::lab_up as up;

#[test]
fn udp_blocked_nat_turn_udp_fails_tcp_and_tls_relay_and_advice_says_turns_443() {
    let lab = up(LabSpec::new(NatBehaviour::UdpBlocked));
    let turn = lab
        .start_coturn(CoturnOptions::default())
        .unwrap_or_else(|e| panic!("coturn did not start in the lab: {e}"));
    let peer = SocketAddrV4::new(lab.addrs().peer, ECHO_PORT);
    let echo = Echo::start(&lab, Ns::Peer, peer);

    let primary = turn.primary;
    let tls = turn.tls;
    let uris = [
        format!("turn:{primary}?transport=udp"),
        format!("turn:{primary}?transport=tcp"),
        format!("turns:{tls}"),
    ];
    let peer_arg = peer.to_string();
    let ca = turn.cert_pem.display().to_string();
    let mut argv: Vec<&str> = vec![env!("CARGO_BIN_EXE_natscope"), "turn"];
    argv.extend(uris.iter().map(String::as_str));
    argv.extend([
        "--username",
        "natscope",
        "--password",
        "natscope-secret",
        "--realm",
        "lab.example",
        // The lab's coturn certificate (a self-signed leaf) is verified.
        "--ca",
        &ca,
        "--peer",
        &peer_arg,
        // Bounds every stage: the whole run is a few seconds.
        "--stage-timeout",
        "2000ms",
        "--no-quality",
        "--format",
        "json",
    ]);
    let out = lab
        .exec(Ns::Client, &argv)
        .expect("natscope runs in the client namespace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains("natscope-secret") && !stderr.contains("natscope-secret"),
        "the password leaked into the output"
    );
    let rep: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    let results = rep["turn"]["results"]
        .as_array()
        .or_else(|| rep["turn"]["transports"].as_array())
        .unwrap_or_else(|| panic!("no TURN results in the report: {:#}", rep["turn"]));
    let by_transport = |t: &str| {
        results
            .iter()
            .find(|r| {
                r["transport"]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(t))
            })
            .unwrap_or_else(|| panic!("no {t} result in {results:#?}"))
    };

    // UDP: dropped by the NAT, so the first TURN request is never answered.
    let udp = by_transport("udp");
    assert_eq!(
        udp["ok"], false,
        "TURN over UDP passed through a UDP-blocking NAT: {udp:#}"
    );
    let stage = udp["failed_stage"].as_str().unwrap_or_default();
    assert!(
        stage.contains("allocate") || stage.contains("unauth"),
        "UDP should fail at the (first) allocate stage, got {stage:?}: {udp:#}"
    );
    let failure = udp["failure"].to_string().to_lowercase();
    assert!(
        failure.contains("timeout")
            || failure.contains("no-response")
            || failure.contains("no response"),
        "UDP failure should be a named timeout, got {failure}"
    );
    assert!(udp["relayed_address"].is_null());

    // TCP and TLS: allocate on coturn's relay address and relay to the peer.
    for t in ["tcp", "tls"] {
        let r = by_transport(t);
        assert_eq!(
            r["ok"], true,
            "TURN over {t} failed behind the UDP-blocking NAT: {r:#}"
        );
        let relayed: SocketAddr = r["relayed_address"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{t}: no relayed address: {r:#}"));
        assert_eq!(
            relayed.ip(),
            std::net::IpAddr::V4(*primary.ip()),
            "{t}: {r:#}"
        );
        let mapped: SocketAddr = r["mapped_address"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{t}: no mapped address: {r:#}"));
        assert_eq!(
            mapped.ip(),
            std::net::IpAddr::V4(lab.addrs().router_public),
            "{t}: coturn should see the NAT's public address"
        );
        assert_eq!(r["peer"].as_str(), Some(peer_arg.as_str()), "{t}: {r:#}");
    }
    assert!(
        echo.seen.load(Ordering::Relaxed) >= 2,
        "the peer echo on {peer} saw fewer datagrams than the two relayed transports sent"
    );

    let advice: Vec<String> = rep["summary"]["advice"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        advice
            .iter()
            .any(|a| a.contains("turns:") && a.contains("443")),
        "the report should recommend turns: on port 443, advice: {advice:#?}"
    );
    // The diagnosis: one cause, the network's, not the server's.
    assert_eq!(out.status.code(), Some(1), "exit code");
    let top = &rep["diagnosis"]["findings"][0];
    assert_eq!(top["id"], "udp-blocked", "{:#}", rep["diagnosis"]);
    assert!(
        top["explains"]
            .as_array()
            .is_some_and(|e| e.iter().any(|c| c == "turn-udp")),
        "{top:#}"
    );
    let remedy = top["remedy"].as_str().unwrap_or_default();
    assert!(
        remedy.contains("turns:") && remedy.contains("443"),
        "{remedy}"
    );
    if std::env::var_os("NATSCOPE_RECORD").is_some() {
        let dest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/diagnosis/udp-blocked-lab.json");
        std::fs::write(dest, stdout.as_bytes()).expect("fixtures/diagnosis is writable");
    }
    drop(echo);
}

/// The default data test behind every lab NAT, no `--peer`: natscope
/// relays its test data to a second allocation on the same coturn (relay
/// to relay). The old default, a local socket behind the NAT, failed
/// DataRoundTrip behind every one of them (coturn's packets to the NAT's
/// public address have no mapping to follow).
#[test]
fn default_data_test_relays_behind_every_nat() {
    for nat in [
        NatBehaviour::EimEif,
        NatBehaviour::EimAdf,
        NatBehaviour::EimApdf,
        NatBehaviour::Apdm,
        NatBehaviour::Adm,
        NatBehaviour::DoubleNat,
    ] {
        let lab = up(LabSpec::new(nat));
        let turn = lab
            .start_coturn(CoturnOptions::default())
            .unwrap_or_else(|e| panic!("coturn did not start in the lab: {e}"));
        let primary = turn.primary;
        let uri = format!("turn:{primary}");
        let argv = [
            env!("CARGO_BIN_EXE_natscope"),
            "turn",
            uri.as_str(),
            "--username",
            "natscope",
            "--password",
            "natscope-secret",
            "--stage-timeout",
            "2000ms",
            "--no-quality",
            "--format",
            "json",
        ];
        let out = lab
            .exec(Ns::Client, &argv)
            .expect("natscope runs in the client namespace");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let rep: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{nat:?}: not JSON ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let results = rep["turn"]["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(results.len(), 2, "{nat:?}: UDP and TCP: {rep:#}");
        for r in &results {
            assert_eq!(r["ok"], true, "{nat:?}: {r:#}");
            assert_eq!(r["data_path"], "relay-to-relay", "{nat:?}: {r:#}");
            // The peer is the second allocation's relayed address, on the
            // server's public address.
            let peer: SocketAddr = r["peer"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{nat:?}: no peer: {r:#}"));
            assert_eq!(peer.ip(), std::net::IpAddr::V4(*primary.ip()), "{r:#}");
            for stage in ["data-round-trip", "channel-round-trip"] {
                let s = r["stages"]
                    .as_array()
                    .and_then(|st| st.iter().find(|s| s["stage"] == stage))
                    .unwrap_or_else(|| panic!("{nat:?}: no {stage}: {r:#}"));
                assert_eq!(s["status"], "passed", "{nat:?} {stage}: {r:#}");
            }
        }
        assert_eq!(
            out.status.code(),
            Some(0),
            "{nat:?}: {:#}",
            rep["diagnosis"]
        );
    }
}

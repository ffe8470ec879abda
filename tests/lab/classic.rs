//! RFC 3489-era peers behind every lab NAT, both directions:
//!
//! - natscope's NAT test against Debian's `stund` (stun-server 0.97, the
//!   classic RFC 3489 server: CHANGED-ADDRESS, no OTHER-ADDRESS, no magic
//!   cookie of its own) must get the lab's true mapping and filtering and
//!   name the server as RFC 3489;
//! - Debian's classic `stun` client (stun-client 0.97, cookieless requests)
//!   against `natscope serve` must classify the lab's NAT as what it is.
//!
//! Needs root and the stun-server / stun-client packages (`.ci/run`).

use std::time::{Duration, Instant};

use lab::{Lab, LabSpec, NatBehaviour, Ns};

use crate::support::lab_up as up;

/// What stun-client 0.97 prints for each lab NAT (its `Primary:` line).
fn classic_words(nat: NatBehaviour) -> &'static str {
    match nat {
        NatBehaviour::EimEif => "Independent Mapping, Independent Filter",
        NatBehaviour::EimAdf => "Independent Mapping, Address Dependent Filter",
        NatBehaviour::EimApdf | NatBehaviour::DoubleNat => {
            "Independent Mapping, Port Dependent Filter"
        }
        NatBehaviour::Apdm | NatBehaviour::Adm => "Dependent Mapping",
        NatBehaviour::None => "Open",
        NatBehaviour::UdpBlocked => "Blocked",
    }
}

/// The lab's truth in natscope's JSON words: (mapping, filtering).
fn natscope_words(nat: NatBehaviour) -> (&'static str, &'static str) {
    match nat {
        NatBehaviour::EimEif | NatBehaviour::None => {
            ("endpoint-independent", "endpoint-independent")
        }
        NatBehaviour::EimAdf => ("endpoint-independent", "address-dependent"),
        NatBehaviour::EimApdf | NatBehaviour::DoubleNat => {
            ("endpoint-independent", "address-and-port-dependent")
        }
        NatBehaviour::Apdm => ("address-and-port-dependent", "address-and-port-dependent"),
        NatBehaviour::Adm => ("address-dependent", "address-and-port-dependent"),
        NatBehaviour::UdpBlocked => ("unknown", "unknown"),
    }
}

const NATS: [NatBehaviour; 6] = [
    NatBehaviour::EimEif,
    NatBehaviour::EimAdf,
    NatBehaviour::EimApdf,
    NatBehaviour::Apdm,
    NatBehaviour::Adm,
    NatBehaviour::None,
];

/// Waits (bounded) until something listens on UDP `addr` in the server
/// namespace.
fn wait_udp_listener(lab: &Lab, addr: &str) {
    let start = Instant::now();
    loop {
        let out = lab
            .exec(Ns::Server, &["ss", "-Hunl"])
            .expect("ss runs in the server namespace");
        if String::from_utf8_lossy(&out.stdout).contains(addr) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nothing listens on {addr} in the server namespace"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn natscope_classifies_every_lab_nat_against_classic_stund() {
    for nat in NATS {
        let lab = up(LabSpec::new(nat));
        let a = lab.addrs().clone();
        let (p, alt) = (a.server_primary.to_string(), a.server_alternate.to_string());
        lab.spawn(
            Ns::Server,
            &["stund", "-h", &p, "-a", &alt, "-p", "3478", "-o", "3479"],
        )
        .expect("stund starts (package stun-server)");
        wait_udp_listener(&lab, &format!("{p}:3478"));
        let server = format!("stun:{p}:3478");
        let out = lab
            .exec(
                Ns::Client,
                &[
                    env!("CARGO_BIN_EXE_natscope"),
                    "nat",
                    &server,
                    "--format",
                    "json",
                ],
            )
            .expect("natscope runs in the client namespace");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{nat:?}: not JSON ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let v = &doc["nat"];
        let (mapping, filtering) = natscope_words(nat);
        assert_eq!(v["mapping"], mapping, "{nat:?}: {v:#}");
        assert_eq!(v["filtering"], filtering, "{nat:?}: {v:#}");
        assert_eq!(v["servers"][0]["status"], "rfc3489", "{nat:?}: {v:#}");
        assert_eq!(out.status.code(), Some(nat_exit(nat)), "{nat:?}: {v:#}");
    }
}

/// `natscope nat`'s exit code: the nat-eim check fails for the
/// endpoint-dependent mappings.
fn nat_exit(nat: NatBehaviour) -> i32 {
    match nat {
        NatBehaviour::Apdm | NatBehaviour::Adm => 1,
        _ => 0,
    }
}

#[test]
fn classic_stun_client_classifies_every_lab_nat_against_natscope_serve() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for nat in NATS {
        let lab = up(LabSpec::new(nat));
        let responder = lab
            .start_responder(rt.handle())
            .expect("natscope's responder starts in the server namespace");
        let server = lab.addrs().server_primary.to_string();
        let out = lab
            .exec(Ns::Client, &["stun", &server])
            .expect("stun (package stun-client) runs in the client namespace");
        let text = String::from_utf8_lossy(&out.stdout);
        let primary = text
            .lines()
            .find(|l| l.starts_with("Primary:"))
            .unwrap_or_else(|| panic!("{nat:?}: no Primary: line from stun:\n{text}"));
        assert!(
            primary.contains(classic_words(nat)),
            "{nat:?}: stun-client said {primary:?}, expected {:?}",
            classic_words(nat)
        );
        let m = responder.metrics().snapshot();
        assert!(
            m.classic_requests > 0 && m.classic_requests == m.requests,
            "{nat:?}: every request was a classic one: {m:?}"
        );
        rt.block_on(responder.shutdown());
    }
}

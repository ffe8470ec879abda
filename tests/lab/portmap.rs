//! Port mapping (UPnP IGD, NAT-PMP, PCP) against miniupnpd on the lab's NAT
//! router: detection, a mapping that passes traffic from the server
//! namespace, its removal (checked in the router's nftables), double NAT
//! through the external-address comparison, "not available" without
//! miniupnpd, and `skip` sending nothing.
//!
//! Needs root and the `miniupnpd` package. Without them the tests FAIL with
//! the reason (never skip).
#![cfg(target_os = "linux")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use lab::{Lab, LabSpec, MiniupnpdOptions, NatBehaviour, Ns};
use probe::portmap::{
    Availability, MappingLedger, PortmapConfig, PortmapOutcome, PortmapProtocol, Removal,
    TrafficCheck, UdpRemoteSender,
};
use servers::responder::{RateLimit, Responder, ResponderConfig};

use crate::support::lab_up as up;

fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// natscope's RFC 5780 responder in `ns` on two addresses (3478/3479).
fn responder(
    lab: &Lab,
    rt: &tokio::runtime::Runtime,
    ns: Ns,
    primary: Ipv4Addr,
    alternate: Ipv4Addr,
) -> Responder {
    let handle = rt.handle().clone();
    lab.run_in(ns, move || {
        let _g = handle.enter();
        Responder::start(ResponderConfig {
            primary: IpAddr::V4(primary),
            alternate: Some(IpAddr::V4(alternate)),
            port: 3478,
            alt_port: 3479,
            rate_limit: RateLimit::disabled(),
            ..ResponderConfig::default()
        })
    })
    .expect("namespace exists")
    .expect("responder starts")
}

/// A UDP socket living in the server namespace (the "outside" sender).
fn server_socket(lab: &Lab) -> std::net::UdpSocket {
    let ip = lab.addrs().server_primary;
    let s = lab
        .run_in(Ns::Server, move || std::net::UdpSocket::bind((ip, 0)))
        .expect("server namespace")
        .expect("bind in the server namespace");
    s.set_nonblocking(true).expect("nonblocking");
    s
}

/// Runs the probe in the client namespace; returns the outcome and the
/// number of mappings the ledger still holds afterwards.
fn run_probe(
    lab: &Lab,
    mut cfg: PortmapConfig,
    sender: Option<std::net::UdpSocket>,
) -> (PortmapOutcome, usize) {
    lab.run_in(Ns::Client, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async move {
            if let Some(s) = sender {
                let s = tokio::net::UdpSocket::from_std(s).expect("tokio socket");
                cfg.remote_sender = Some(Arc::new(UdpRemoteSender(s)));
            }
            let ledger = Arc::new(MappingLedger::new());
            let out = probe::portmap::probe(&cfg, &ledger).await;
            (out, ledger.outstanding())
        })
    })
    .expect("client namespace")
}

fn nft_chain(lab: &Lab, chain: &str) -> String {
    let out = lab
        .exec(
            Ns::Router,
            &["nft", "list", "chain", "inet", "filter", chain],
        )
        .expect("nft runs");
    assert!(
        out.status.success(),
        "nft list chain {chain}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cfg() -> PortmapConfig {
    PortmapConfig {
        discovery_timeout: Duration::from_secs(2),
        step_timeout: Duration::from_secs(2),
        traffic_timeout: Duration::from_secs(3),
        lifetime: Duration::from_secs(120),
        ..PortmapConfig::default()
    }
}

#[test]
fn upnp_natpmp_pcp_map_pass_traffic_and_are_removed() {
    let lab = up(LabSpec::new(NatBehaviour::EimApdf));
    let a = lab.addrs().clone();
    let rt = server_runtime();
    let _resp = responder(&lab, &rt, Ns::Server, a.server_primary, a.server_alternate);
    let mu = lab
        .start_miniupnpd(MiniupnpdOptions::new(SocketAddrV4::new(
            a.server_primary,
            3478,
        )))
        .unwrap_or_else(|e| panic!("miniupnpd: {e}"));
    let sender = server_socket(&lab);
    let mut c = cfg();
    c.stun_mapped = Some(IpAddr::V4(a.expected_public));
    let (out, outstanding) = run_probe(&lab, c, Some(sender));
    let log = std::fs::read_to_string(&mu.log).unwrap_or_default();

    assert_eq!(out.gateway, Some(IpAddr::V4(a.router_lan)));
    assert_eq!(out.local_ip, Some(IpAddr::V4(a.client)));
    for p in &out.protocols {
        let name = p.protocol.name();
        assert_eq!(
            p.availability,
            Availability::Available,
            "{name}: {p:?}\n{log}"
        );
        assert_eq!(
            p.external_ip,
            Some(IpAddr::V4(a.router_public)),
            "{name}: {p:?}"
        );
        let m = p
            .mapping
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no mapping: {p:?}\n{log}"));
        assert_eq!(m.internal.ip(), IpAddr::V4(a.client));
        assert_eq!(
            m.external,
            Some(SocketAddr::new(
                IpAddr::V4(a.router_public),
                m.external_port
            ))
        );
        assert_eq!(m.traffic, TrafficCheck::Passed, "{name}: {m:?}");
        assert_eq!(m.removal, Removal::Removed, "{name}: {m:?}");
    }
    let kinds: Vec<PortmapProtocol> = out.protocols.iter().map(|p| p.protocol).collect();
    assert_eq!(
        kinds,
        [
            PortmapProtocol::Upnp,
            PortmapProtocol::NatPmp,
            PortmapProtocol::Pcp
        ]
    );
    assert!(out.leftover.is_empty(), "{:?}", out.leftover);
    assert_eq!(outstanding, 0);
    assert_eq!(out.double_nat.detected, Some(false), "{:?}", out.double_nat);

    // The router holds no mapping any more: miniupnpd's chains are empty.
    for chain in ["miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"] {
        let text = nft_chain(&lab, chain);
        for p in &out.protocols {
            let port = p.mapping.as_ref().map(|m| m.external_port).unwrap_or(0);
            assert!(
                !text.contains(&format!("dport {port}"))
                    && !text.contains("dnat")
                    && !text.contains("accept"),
                "{chain} still holds a rule after the run:\n{text}"
            );
        }
    }
    // A traffic check that must fail: the external port of a deleted
    // mapping no longer reaches the client.
    let ext = out.protocols[1]
        .mapping
        .as_ref()
        .expect("checked above")
        .external_port;
    let client_ip = a.client;
    let internal_port = out.protocols[1]
        .mapping
        .as_ref()
        .expect("checked above")
        .internal
        .port();
    let listener = lab
        .run_in(Ns::Client, move || {
            std::net::UdpSocket::bind((client_ip, internal_port))
        })
        .expect("client ns")
        .expect("rebind the mapped port");
    listener
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let s = server_socket(&lab);
    let mut got = false;
    for _ in 0..3 {
        let _ = s.send_to(b"after-delete", (a.router_public, ext));
        let mut b = [0u8; 64];
        if listener.recv_from(&mut b).is_ok() {
            got = true;
        }
    }
    assert!(!got, "a deleted NAT-PMP mapping still passed traffic");
}

#[test]
fn double_nat_is_detected_by_external_address_comparison() {
    let lab = up(LabSpec::new(NatBehaviour::EimApdf).carrier_nat(true));
    let a = lab.addrs().clone();
    let rt = server_runtime();
    // miniupnpd asks a STUN server on the carrier's inside address, so it
    // learns (and reports) its CGNAT WAN address like a real CPE would.
    let inside = a.carrier_inside.expect("carrier lab");
    let _resp = responder(&lab, &rt, Ns::Carrier, inside, a.router_public);
    lab.start_miniupnpd(MiniupnpdOptions::new(SocketAddrV4::new(inside, 3478)))
        .unwrap_or_else(|e| panic!("miniupnpd: {e}"));
    let mut c = cfg();
    // What a STUN server on the internet sees for the client.
    c.stun_mapped = Some(IpAddr::V4(a.expected_public));
    let (out, outstanding) = run_probe(&lab, c, None);
    let mut reported = 0;
    for p in &out.protocols {
        assert_eq!(p.availability, Availability::Available, "{p:?}");
        if let Some(ip) = p.external_ip {
            assert_eq!(ip, IpAddr::V4(a.router_wan), "{p:?}");
            reported += 1;
        }
        if let Some(m) = &p.mapping {
            assert_eq!(m.removal, Removal::Removed, "{p:?}");
            assert!(matches!(m.traffic, TrafficCheck::NotTested { .. }));
        }
    }
    assert!(reported >= 2, "{out:#?}");
    assert_eq!(out.double_nat.detected, Some(true), "{:?}", out.double_nat);
    let ev = out.double_nat.evidence.join("\n");
    assert!(
        ev.contains("100.64.0.2") && ev.contains("203.0.113.1"),
        "{ev}"
    );
    assert_eq!(outstanding, 0);
}

#[test]
fn without_miniupnpd_each_protocol_is_not_available_within_the_bound() {
    let lab = up(LabSpec::new(NatBehaviour::EimApdf));
    let c = cfg();
    let bound = c.bound();
    let (out, outstanding) = run_probe(&lab, c, None);
    assert_eq!(out.protocols.len(), 3);
    for p in &out.protocols {
        assert!(
            matches!(&p.availability, Availability::NotAvailable { reason } if !reason.is_empty()),
            "{p:?}"
        );
        assert!(p.mapping.is_none());
    }
    assert!(
        out.elapsed <= bound,
        "{:?} > bound {:?}",
        out.elapsed,
        bound
    );
    assert_eq!(out.double_nat.detected, None);
    assert_eq!(outstanding, 0);
}

#[test]
fn skip_sends_nothing() {
    let lab = up(LabSpec::new(NatBehaviour::EimApdf));
    // Count every packet the router receives from the LAN, and everything
    // it forwards.
    let rules = "table inet natscope_count {\n\
        chain input { type filter hook input priority -300; policy accept; iifname \"lan\" counter; }\n\
        chain forwarded { type filter hook forward priority -300; policy accept; iifname \"lan\" counter; }\n}\n";
    let path = std::env::temp_dir().join(format!("natscope-count-{}.nft", std::process::id()));
    std::fs::write(&path, rules).expect("write nft file");
    let out = lab
        .exec(Ns::Router, &["nft", "-f", &path.to_string_lossy()])
        .expect("nft");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = || {
        let o = lab
            .exec(
                Ns::Router,
                &["nft", "list", "table", "inet", "natscope_count"],
            )
            .expect("nft");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split("packets ").nth(1))
            .filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    let before = count();
    let c = PortmapConfig {
        skip: true,
        ..cfg()
    };
    let (out, outstanding) = run_probe(&lab, c, None);
    assert!(out.skipped);
    for p in &out.protocols {
        assert!(
            matches!(p.availability, Availability::NotTested { .. }),
            "{p:?}"
        );
    }
    assert_eq!(outstanding, 0);
    assert_eq!(count(), before, "the skipped probe sent packets");
    // The counter works: an unskipped run is seen.
    let _ = run_probe(
        &lab,
        PortmapConfig {
            discovery_timeout: Duration::from_millis(300),
            step_timeout: Duration::from_millis(300),
            ..cfg()
        },
        None,
    );
    assert!(count() > before, "the packet counter saw nothing");
}

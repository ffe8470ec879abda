//! Per-family verdicts on real kernel firewalls and translators (issue 20):
//! for every IPv6 behaviour of the lab (routed, RFC 6092 stateful firewalls
//! with address-and-port-dependent, address-dependent and
//! endpoint-independent filtering, NAT66, NPTv6), `probe::nat` runs in the
//! client namespace against natscope's RFC 5780 responder on the server's
//! two IPv6 addresses, and the IPv6 verdict must equal the lab's truth on
//! every one of 10 runs; with 10 % loss it must be right or say it is
//! unsure on every one of 10 runs. A dual-stack site (IPv4 NAT + IPv6
//! firewall) must get both families right from one `natscope nat` run,
//! and its diagnosis must name both. The lab's own ground truth (what the
//! server sees, which answers get in) is proved independently of natscope
//! by tests/lab/ipv6.rs.
#![cfg(target_os = "linux")]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use lab::{Ipv6Behaviour, Lab, LabSpec, NatBehaviour, Ns};
use natclass::{
    Behaviour, Confidence, Family, NatVerdict, Observations, Translation, UdpStatus, classify,
};
use probe::nat::NatProbeConfig;

use crate::support::{assert_exit, json_of, lab_up};

const RUNS: usize = 10;
const LOSSY_RUNS: usize = 10;
const LOSS: u8 = 10;
const TIMEOUT: Duration = Duration::from_secs(3);

use Behaviour::{
    AddressAndPortDependent as Apd, AddressDependent as Ad, EndpointIndependent as Ei,
};

/// What the lab's IPv6 really is.
#[derive(Debug, Clone, Copy)]
struct Truth {
    translation: Translation,
    mapping: Behaviour,
    filtering: Behaviour,
}

fn truth(b: Ipv6Behaviour) -> Truth {
    let t = |translation, mapping, filtering| Truth {
        translation,
        mapping,
        filtering,
    };
    match b {
        Ipv6Behaviour::Routed => t(Translation::None, Ei, Ei),
        Ipv6Behaviour::FirewallApdf => t(Translation::None, Ei, Apd),
        Ipv6Behaviour::FirewallAdf => t(Translation::None, Ei, Ad),
        Ipv6Behaviour::FirewallEif => t(Translation::None, Ei, Ei),
        Ipv6Behaviour::Nat66 => t(Translation::Nat, Ei, Apd),
        Ipv6Behaviour::Npt => t(Translation::Nptv6, Ei, Ei),
    }
}

fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn probe_in_client(lab: &Lab, server: SocketAddr) -> (Observations, NatVerdict) {
    lab.run_in(Ns::Client, move || {
        let cfg = NatProbeConfig {
            servers: vec![server],
            timeout: TIMEOUT,
            local: probe::nat::local_network(),
            ..NatProbeConfig::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let out = rt.block_on(probe::nat::probe(&cfg));
        let v = classify(&out.observations);
        (out.observations, v)
    })
    .expect("client namespace")
}

fn server6(lab: &Lab) -> SocketAddr {
    let ip = lab.addrs().server6_primary.expect("the lab has IPv6");
    SocketAddr::new(IpAddr::V6(ip), 3478)
}

fn check_exact(lab: &Lab, t: Truth, v: &NatVerdict, o: &Observations, what: &str) {
    let dump = || format!("{what}\n{v:#?}\n{o:#?}");
    assert_eq!(v.family, Some(Family::Ipv6), "family: {}", dump());
    assert_eq!(v.udp, UdpStatus::Ok, "udp: {}", dump());
    assert_eq!(
        v.translation,
        Some(t.translation),
        "translation: {}",
        dump()
    );
    assert_eq!(
        v.behind_nat,
        Some(t.translation != Translation::None),
        "behind_nat: {}",
        dump()
    );
    assert_eq!(v.mapping, t.mapping, "mapping: {}", dump());
    assert_eq!(v.filtering, t.filtering, "filtering: {}", dump());
    assert!(v.disagreements.is_empty(), "disagreements: {}", dump());
    assert!(v.confidence >= Confidence::Medium, "{}", dump());
    let seen = v.public.map(|p| p.ip());
    let expected = lab.addrs().expected_public6.map(IpAddr::V6);
    assert_eq!(seen, expected, "public address: {}", dump());
    assert!(v.summary.starts_with("IPv6: "), "{}", v.summary);
}

/// Under loss: each aspect right, or unknown, or not claimed at high
/// confidence; the translation (from answers, never from silence) right.
fn check_honest(t: Truth, v: &NatVerdict, o: &Observations, what: &str) -> bool {
    let dump = || format!("{what}\n{v:#?}\n{o:#?}");
    assert_eq!(v.udp, UdpStatus::Ok, "udp: {}", dump());
    if v.translation.is_some() {
        assert_eq!(
            v.translation,
            Some(t.translation),
            "translation: {}",
            dump()
        );
    }
    let mut right = true;
    for (name, got, want, conf) in [
        ("mapping", v.mapping, t.mapping, v.mapping_confidence),
        (
            "filtering",
            v.filtering,
            t.filtering,
            v.filtering_confidence,
        ),
    ] {
        if got != want {
            right = false;
            assert!(
                got == Behaviour::Unknown || conf < Confidence::High,
                "wrong {name} at high confidence: {}",
                dump()
            );
        }
    }
    right
}

fn ipv6_suite(b: Ipv6Behaviour) {
    let rt = server_runtime();
    let t = truth(b);
    let lab = lab_up(LabSpec::new(NatBehaviour::EimApdf).ipv6(b));
    let _responder = lab
        .start_responder6(rt.handle())
        .expect("IPv6 responder in the server namespace");
    for run in 0..RUNS {
        let (o, v) = probe_in_client(&lab, server6(&lab));
        check_exact(&lab, t, &v, &o, &format!("{b:?} run {run}"));
    }
    drop(lab);
    let lossy = lab_up(
        LabSpec::new(NatBehaviour::EimApdf)
            .ipv6(b)
            .loss_percent(LOSS),
    );
    let _responder = lossy
        .start_responder6(rt.handle())
        .expect("IPv6 responder in the server namespace");
    let mut right = 0;
    for run in 0..LOSSY_RUNS {
        let (o, v) = probe_in_client(&lossy, server6(&lossy));
        right += usize::from(check_honest(
            t,
            &v,
            &o,
            &format!("{b:?} {LOSS}% loss run {run}"),
        ));
    }
    eprintln!("{b:?}: {right}/{LOSSY_RUNS} lossy runs fully right");
}

#[test]
fn ipv6_routed() {
    ipv6_suite(Ipv6Behaviour::Routed);
}

#[test]
fn ipv6_stateful_firewall_apdf() {
    ipv6_suite(Ipv6Behaviour::FirewallApdf);
}

#[test]
fn ipv6_firewall_adf() {
    ipv6_suite(Ipv6Behaviour::FirewallAdf);
}

#[test]
fn ipv6_firewall_eif() {
    ipv6_suite(Ipv6Behaviour::FirewallEif);
}

#[test]
fn ipv6_nat66() {
    ipv6_suite(Ipv6Behaviour::Nat66);
}

#[test]
fn ipv6_nptv6() {
    ipv6_suite(Ipv6Behaviour::Npt);
}

/// A dual-stack site: an IPv4 port-restricted NAT and an RFC 6092 IPv6
/// firewall. One `natscope nat` run in the client namespace (the binary, as
/// a user runs it) gets both families right and the diagnosis names both.
#[test]
fn dual_stack_site_names_both_families() {
    let rt = server_runtime();
    let lab = lab_up(LabSpec::new(NatBehaviour::EimApdf).ipv6(Ipv6Behaviour::FirewallApdf));
    let _r4 = lab
        .start_responder(rt.handle())
        .expect("IPv4 responder in the server namespace");
    let _r6 = lab
        .start_responder6(rt.handle())
        .expect("IPv6 responder in the server namespace");
    let v4 = format!("stun:{}:3478", lab.addrs().server_primary);
    let v6 = format!("stun:{}", server6(&lab));
    let bin = env!("CARGO_BIN_EXE_natscope");
    for run in 0..3 {
        let out = lab
            .exec(Ns::Client, &[bin, "nat", "--format", "json", &v4, &v6])
            .expect("natscope runs in the client namespace");
        assert_exit(&out, &[0], &format!("dual-stack nat run {run}"));
        let doc = json_of(&out);
        let (n4, n6) = (&doc["nat"], &doc["nat_ipv6"]);
        assert_eq!(n4["family"], "ipv4", "{doc:#}");
        assert_eq!(n4["translation"], "nat", "{doc:#}");
        assert_eq!(n4["mapping"], "endpoint-independent", "{doc:#}");
        assert_eq!(n4["filtering"], "address-and-port-dependent", "{doc:#}");
        assert_eq!(n6["family"], "ipv6", "{doc:#}");
        assert_eq!(n6["translation"], "none", "{doc:#}");
        assert_eq!(n6["behind_nat"], false, "{doc:#}");
        assert_eq!(n6["filtering"], "address-and-port-dependent", "{doc:#}");
        let verdict = doc["diagnosis"]["verdict"].as_str().expect("verdict");
        assert!(
            verdict.starts_with("Over IPv4, direct peer-to-peer"),
            "{verdict}"
        );
        assert!(
            verdict
                .contains("over IPv6 there is no NAT and a stateful firewall admits only replies"),
            "{verdict}"
        );
        let ids: Vec<&str> = doc["diagnosis"]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter_map(|f| f["id"].as_str())
            .collect();
        assert!(ids.contains(&"ipv6-firewall"), "{ids:?}");
        assert!(ids.contains(&"nat-port-restricted"), "{ids:?}");
    }
}

// ------------------------------------------------ a broken AAAA path

mod dns {
    //! A DNS zone served inside a lab namespace (hickory-server), and the
    //! `/etc/netns/<ns>/resolv.conf` that `ip netns exec` bind-mounts over
    //! `/etc/resolv.conf` for commands run there (removed on drop).

    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::path::PathBuf;
    use std::str::FromStr;
    use std::sync::Arc;
    use std::time::Duration;

    use hickory_server::Server;
    use hickory_server::proto::rr::rdata::{A, AAAA, SOA};
    use hickory_server::proto::rr::{LowerName, Name, RData, Record};
    use hickory_server::store::in_memory::InMemoryZoneHandler;
    use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
    use lab::{Lab, Ns};

    pub const ORIGIN: &str = "natscope.test.";

    fn n(s: &str) -> Name {
        Name::from_str(s).expect("valid test name")
    }

    /// The zone: `name` with one A and one AAAA record.
    fn zone(name: &str, v4: Ipv4Addr, v6: Ipv6Addr) -> InMemoryZoneHandler {
        let mut h = InMemoryZoneHandler::empty(n(ORIGIN), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            n("ns.natscope.test."),
            n("hostmaster.natscope.test."),
            1,
            3600,
            600,
            86400,
            60,
        );
        for (owner, rdata) in [
            (ORIGIN.to_owned(), RData::SOA(soa)),
            (name.to_owned(), RData::A(A(v4))),
            (name.to_owned(), RData::AAAA(AAAA(v6))),
        ] {
            assert!(
                h.upsert_mut(Record::from_rdata(n(&owner), 60, rdata), 1),
                "{owner}"
            );
        }
        h
    }

    /// A running zone on 127.0.0.1:53 inside a lab namespace.
    pub struct LabDns {
        resolv_dir: PathBuf,
        /// The test made the directory (else only its file is removed).
        made_dir: bool,
        _rt: tokio::runtime::Runtime,
    }

    impl Drop for LabDns {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.resolv_dir.join("resolv.conf"));
            if self.made_dir {
                let _ = std::fs::remove_dir(&self.resolv_dir);
            }
        }
    }

    pub fn start(lab: &Lab, ns: Ns, name: &str, v4: Ipv4Addr, v6: Ipv6Addr) -> LabDns {
        let (udp, tcp) = lab
            .run_in(ns, || {
                let udp = std::net::UdpSocket::bind("127.0.0.1:53")
                    .expect("DNS port 53 (UDP) in the lab");
                let tcp = std::net::TcpListener::bind("127.0.0.1:53")
                    .expect("DNS port 53 (TCP) in the lab");
                udp.set_nonblocking(true).expect("nonblocking");
                tcp.set_nonblocking(true).expect("nonblocking");
                (udp, tcp)
            })
            .expect("namespace");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let zone = zone(name, v4, v6);
        rt.spawn(async move {
            let mut catalog = Catalog::new();
            catalog.upsert(LowerName::from(n(ORIGIN)), vec![Arc::new(zone)]);
            let mut server = Server::new(catalog);
            server.register_socket(tokio::net::UdpSocket::from_std(udp).expect("tokio udp"));
            server.register_listener(
                tokio::net::TcpListener::from_std(tcp).expect("tokio tcp"),
                Duration::from_secs(5),
                16,
            );
            // Served until the runtime is dropped with the lab's DNS.
            std::future::pending::<()>().await;
            drop(server);
        });
        // The namespace name carries this run's unique prefix.
        let resolv_dir = PathBuf::from("/etc/netns").join(lab.ns_name(ns));
        let made_dir = !resolv_dir.exists();
        std::fs::create_dir_all(&resolv_dir).expect("/etc/netns/<ns>");
        std::fs::write(
            resolv_dir.join("resolv.conf"),
            "nameserver 127.0.0.1\noptions timeout:1 attempts:2\n",
        )
        .expect("resolv.conf for the namespace");
        LabDns {
            resolv_dir,
            made_dir,
            _rt: rt,
        }
    }
}

/// A dual-stack STUN name whose AAAA path is broken (the server's IPv6
/// silently drops STUN; IPv4 answers): `natscope stun` names it, with what
/// it cost this run, and `natscope nat` says IPv6 is broken while IPv4
/// works — in the client namespace, through the system resolver, as a user
/// would meet it.
#[test]
fn a_broken_aaaa_path_is_named_with_its_cost() {
    let rt = server_runtime();
    let lab = lab_up(LabSpec::new(NatBehaviour::EimApdf).ipv6(Ipv6Behaviour::Routed));
    let _r4 = lab.start_responder(rt.handle()).expect("IPv4 responder");
    let _r6 = lab.start_responder6(rt.handle()).expect("IPv6 responder");
    let a = lab.addrs().clone();
    let v6 = a.server6_primary.expect("IPv6 lab");
    // The break: the server drops everything to its IPv6 STUN ports (UDP
    // and TCP), silently.
    for cmd in [
        "add table ip6 brokenpath",
        "add chain ip6 brokenpath input { type filter hook input priority 0; policy accept; }",
        "add rule ip6 brokenpath input meta l4proto { tcp, udp } th dport { 3478, 3479 } drop",
    ] {
        let argv: Vec<&str> = std::iter::once("nft").chain(cmd.split(' ')).collect();
        let out = lab
            .exec(Ns::Server, &argv)
            .expect("nft in the server namespace");
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _dns = dns::start(
        &lab,
        Ns::Client,
        "stun.natscope.test.",
        a.server_primary,
        v6,
    );
    let bin = env!("CARGO_BIN_EXE_natscope");

    let out = lab
        .exec(
            Ns::Client,
            &[bin, "stun", "--format", "json", "stun.natscope.test:3478"],
        )
        .expect("natscope stun");
    let doc = json_of(&out);
    let servers = doc["stun"]["servers"].as_array().expect("servers");
    assert_eq!(
        servers.len(),
        2,
        "both families of the name were tried: {doc:#}"
    );
    let finding = doc["diagnosis"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "ipv6-path-broken")
        .unwrap_or_else(|| panic!("no ipv6-path-broken finding: {doc:#}"))
        .clone();
    let title = finding["title"].as_str().expect("title");
    assert!(title.contains(&format!("IPv6 address {v6}")), "{title}");
    assert!(title.contains(&a.server_primary.to_string()), "{title}");
    let evidence = finding["evidence"].to_string();
    assert!(evidence.contains("timeout after"), "{evidence}");
    let waited = servers
        .iter()
        .find(|s| s["outcome"] == "timeout")
        .and_then(|s| s["waited_ms"].as_f64())
        .expect("the silent address's wait is recorded");
    assert!(waited > 0.0, "{waited}");
    assert!(
        finding["remedy"]
            .as_str()
            .expect("remedy")
            .contains("tens of seconds"),
        "{finding:#}"
    );

    let out = lab
        .exec(
            Ns::Client,
            &[bin, "nat", "--format", "json", "stun.natscope.test:3478"],
        )
        .expect("natscope nat");
    assert_exit(&out, &[1], "nat with a broken IPv6 path fails udp-ipv6");
    let doc = json_of(&out);
    assert_eq!(doc["nat"]["family"], "ipv4", "{doc:#}");
    assert_eq!(doc["nat"]["mapping"], "endpoint-independent", "{doc:#}");
    assert_eq!(doc["nat_ipv6"]["status"], "tested", "{doc:#}");
    let verdict = doc["diagnosis"]["verdict"].as_str().expect("verdict");
    assert!(
        verdict.contains("IPv6 is broken on this network"),
        "{verdict}"
    );
    let broken = doc["diagnosis"]["findings"].to_string();
    assert!(broken.contains("while IPv4 works"), "{broken}");
}

/// coturn serves IPv6 in the lab (listening on the server's two IPv6
/// addresses after its two IPv4 ones): an independent RFC 5780 server gives
/// the same per-family verdicts, and TURN over an IPv6 transport allocates
/// and relays, with the IPv6 relayed address in the report.
#[test]
fn coturn_over_ipv6_classifies_and_relays() {
    let lab = lab_up(LabSpec::new(NatBehaviour::EimApdf).ipv6(Ipv6Behaviour::FirewallApdf));
    let info = lab
        .start_coturn(lab::CoturnOptions {
            ipv6: true,
            ..lab::CoturnOptions::default()
        })
        .expect("coturn starts with IPv6");
    let p4 = info.primary;
    let p6 = info.primary6.expect("coturn listens on IPv6");
    let bin = env!("CARGO_BIN_EXE_natscope");
    let (s4, s6) = (format!("stun:{p4}"), format!("stun:{p6}"));
    let out = lab
        .exec(Ns::Client, &[bin, "nat", "--format", "json", &s4, &s6])
        .expect("natscope nat");
    assert_exit(&out, &[0], "nat against coturn on both families");
    let doc = json_of(&out);
    assert_eq!(
        doc["nat"]["filtering"], "address-and-port-dependent",
        "{doc:#}"
    );
    assert_eq!(doc["nat"]["translation"], "nat", "{doc:#}");
    assert_eq!(doc["nat_ipv6"]["translation"], "none", "{doc:#}");
    assert_eq!(
        doc["nat_ipv6"]["filtering"], "address-and-port-dependent",
        "{doc:#}"
    );
    assert_eq!(
        doc["nat_ipv6"]["servers"][0]["status"], "rfc5780",
        "{doc:#}"
    );

    let uri = format!("turn:{p6}?transport=udp");
    let out = lab
        .exec(
            Ns::Client,
            &[
                bin,
                "turn",
                "--format",
                "json",
                &uri,
                "--username",
                "natscope",
                "--password",
                "natscope-secret",
                "--stage-timeout",
                "3s",
            ],
        )
        .expect("natscope turn");
    assert_exit(&out, &[0], "TURN over IPv6");
    let doc = json_of(&out);
    let r = &doc["turn"]["results"][0];
    assert_eq!(r["ok"], true, "{doc:#}");
    assert_eq!(r["server"], p6.to_string(), "{doc:#}");
    let relayed6 = r["relayed_address_ipv6"].as_str().unwrap_or_default();
    assert!(relayed6.starts_with("[2001:db8:ff::"), "{doc:#}");
}

/// ICE on a dual-stack site: natscope's two agents gather host and srflx
/// candidates of both families (the IPv6 srflx is the host's own address:
/// no NAT), connect, and report no server problem (each STUN server is
/// asked from the host socket of its own family).
#[test]
fn ice_gathers_and_connects_on_both_families() {
    let rt = server_runtime();
    let lab = lab_up(LabSpec::new(NatBehaviour::EimApdf).ipv6(Ipv6Behaviour::FirewallApdf));
    let _r4 = lab.start_responder(rt.handle()).expect("IPv4 responder");
    let _r6 = lab.start_responder6(rt.handle()).expect("IPv6 responder");
    let a = lab.addrs().clone();
    let (v4, v6) = (
        format!("stun:{}:3478", a.server_primary),
        format!("stun:{}", server6(&lab)),
    );
    let bin = env!("CARGO_BIN_EXE_natscope");
    let out = lab
        .exec(
            Ns::Client,
            &[
                bin,
                "ice",
                "--format",
                "json",
                "--filter",
                "srflx-srflx",
                "--filter",
                "host-host",
                &v4,
                &v6,
            ],
        )
        .expect("natscope ice");
    assert_exit(&out, &[0], "dual-stack ICE");
    let doc = json_of(&out);
    let runs = doc["ice"]["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{doc:#}");
    for run in runs {
        assert_eq!(run["connected"], true, "{doc:#}");
        for agent in run["agents"].as_array().expect("agents") {
            let addrs: Vec<&str> = agent["candidates"]
                .as_array()
                .expect("candidates")
                .iter()
                .filter_map(|c| c["address"].as_str())
                .collect();
            assert!(
                addrs.iter().any(|x| x.starts_with("[2001:db8:1::10]")),
                "{addrs:?}"
            );
            assert!(addrs.iter().any(|x| !x.starts_with('[')), "{addrs:?}");
            assert_eq!(agent["server_problems"], serde_json::json!([]), "{doc:#}");
        }
    }
    let srflx = &runs[0]["agents"][0]["candidates"];
    let public4 = a.router_public.to_string();
    assert!(
        srflx.as_array().expect("srflx").iter().any(|c| c["address"]
            .as_str()
            .is_some_and(|x| x.starts_with(&public4))),
        "{srflx:#}"
    );
}

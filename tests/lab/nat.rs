//! The NAT probe on real kernel NATs (the netns lab): for every lab
//! behaviour, `probe::nat` runs in the client namespace against natscope's
//! RFC 5780 responder (or coturn) in the server namespace, and the verdict
//! must equal the lab's ground truth on every run; with 10 % random loss it
//! must be right or say it is unsure (never wrong at high confidence).
//!
//! Needs root. Without it every test FAILS with the reason (never skips).
//! Each test builds its own lab, so the tests run in parallel.
#![cfg(target_os = "linux")]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use lab::{CoturnOptions, Lab, LabSpec, NatBehaviour, Ns};
use natclass::{
    Behaviour, Confidence, LifetimePlan, NatVerdict, Observations, UdpStatus, classify,
};
use probe::nat::{LifetimeConfig, NatProbeConfig};
use servers::responder::Responder;

const RUNS: usize = 5;
const LOSSY_RUNS: usize = 5;
const LOSS: u8 = 10;
const TIMEOUT: Duration = Duration::from_secs(3);

use Behaviour::{
    AddressAndPortDependent as Apd, AddressDependent as Ad, EndpointIndependent as Ei,
};

/// What the lab really is.
#[derive(Debug, Clone, Copy)]
struct Truth {
    behind_nat: Option<bool>,
    udp: UdpStatus,
    mapping: Behaviour,
    filtering: Behaviour,
    hairpinning: Option<bool>,
}

fn truth(nat: NatBehaviour, hairpin: bool) -> Truth {
    let nat_t = |mapping, filtering| Truth {
        behind_nat: Some(true),
        udp: UdpStatus::Ok,
        mapping,
        filtering,
        hairpinning: Some(hairpin),
    };
    match nat {
        NatBehaviour::EimApdf | NatBehaviour::DoubleNat => nat_t(Ei, Apd),
        NatBehaviour::Apdm => nat_t(Apd, Apd),
        NatBehaviour::Adm => nat_t(Ad, Apd),
        NatBehaviour::EimEif => nat_t(Ei, Ei),
        NatBehaviour::EimAdf => nat_t(Ei, Ad),
        NatBehaviour::None => Truth {
            behind_nat: Some(false),
            udp: UdpStatus::Ok,
            mapping: Ei,
            filtering: Ei,
            // No NAT: the "public" address is the socket itself.
            hairpinning: Some(true),
        },
        NatBehaviour::UdpBlocked => Truth {
            behind_nat: None,
            udp: UdpStatus::Blocked,
            mapping: Behaviour::Unknown,
            filtering: Behaviour::Unknown,
            hairpinning: None,
        },
    }
}

use crate::support::lab_up as up;

/// natscope's responder in the server namespace (probe::lab).
fn start_responder(lab: &Lab, rt: &tokio::runtime::Runtime) -> Responder {
    lab.start_responder(rt.handle())
        .expect("responder starts in the server namespace")
}

fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs the probe inside the client namespace (its own runtime there).
fn probe_in_client(lab: &Lab, mut cfg: NatProbeConfig) -> (Observations, NatVerdict, Duration) {
    lab.run_in(Ns::Client, move || {
        // Inside the namespace: its interfaces are the host's.
        cfg.local = probe::nat::local_network();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let out = rt.block_on(probe::nat::probe(&cfg));
        let v = classify(&out.observations);
        (out.observations, v, out.elapsed)
    })
    .expect("client namespace")
}

fn config(server: SocketAddr) -> NatProbeConfig {
    NatProbeConfig {
        servers: vec![server],
        timeout: TIMEOUT,
        ..NatProbeConfig::default()
    }
}

fn check_exact(t: Truth, v: &NatVerdict, o: &Observations, what: &str) {
    let dump = || format!("{what}\n{v:#?}\n{o:#?}");
    assert_eq!(v.udp, t.udp, "udp: {}", dump());
    assert_eq!(v.behind_nat, t.behind_nat, "behind_nat: {}", dump());
    assert_eq!(v.mapping, t.mapping, "mapping: {}", dump());
    assert_eq!(v.filtering, t.filtering, "filtering: {}", dump());
    assert_eq!(v.hairpinning, t.hairpinning, "hairpinning: {}", dump());
    assert!(v.disagreements.is_empty(), "disagreements: {}", dump());
    if t.udp == UdpStatus::Blocked {
        assert_eq!(v.confidence, Confidence::High, "{}", dump());
    } else {
        assert!(v.confidence >= Confidence::Medium, "{}", dump());
    }
}

/// Under loss: each aspect is right, or unknown, or (if wrong) not claimed
/// at high confidence.
fn check_honest(t: Truth, v: &NatVerdict, o: &Observations, what: &str) -> bool {
    let dump = || format!("{what}\n{v:#?}\n{o:#?}");
    assert_eq!(v.udp, t.udp, "udp: {}", dump());
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

fn behaviour_suite(nat: NatBehaviour, hairpin: bool) {
    let rt = server_runtime();
    let t = truth(nat, hairpin);
    let lab = up(LabSpec::new(nat).hairpin(hairpin));
    let _responder = start_responder(&lab, &rt);
    let server = SocketAddr::new(IpAddr::V4(lab.addrs().server_primary), 3478);
    let mut times = Vec::new();
    for run in 0..RUNS {
        let (o, v, took) = probe_in_client(&lab, config(server));
        check_exact(t, &v, &o, &format!("{nat:?} hairpin={hairpin} run {run}"));
        times.push(took);
    }
    drop(lab);
    let lossy = up(LabSpec::new(nat).hairpin(hairpin).loss_percent(LOSS));
    let _responder2 = start_responder(&lossy, &rt);
    let mut right = 0;
    for run in 0..LOSSY_RUNS {
        let (o, v, _) = probe_in_client(&lossy, config(server));
        let what = format!("{nat:?} hairpin={hairpin} {LOSS}% loss run {run}");
        right += usize::from(check_honest(t, &v, &o, &what));
    }
    eprintln!(
        "{nat:?} hairpin={hairpin}: probe times {times:?}; {right}/{LOSSY_RUNS} lossy runs fully right"
    );
}

#[test]
fn eim_apdf() {
    behaviour_suite(NatBehaviour::EimApdf, false);
}

#[test]
fn eim_apdf_with_hairpinning() {
    behaviour_suite(NatBehaviour::EimApdf, true);
}

#[test]
fn apdm() {
    behaviour_suite(NatBehaviour::Apdm, false);
}

#[test]
fn adm() {
    behaviour_suite(NatBehaviour::Adm, false);
}

#[test]
fn eim_eif() {
    behaviour_suite(NatBehaviour::EimEif, false);
}

#[test]
fn eim_adf() {
    behaviour_suite(NatBehaviour::EimAdf, false);
}

#[test]
fn no_nat() {
    behaviour_suite(NatBehaviour::None, false);
}

#[test]
fn udp_blocked() {
    behaviour_suite(NatBehaviour::UdpBlocked, false);
}

#[test]
fn double_nat() {
    behaviour_suite(NatBehaviour::DoubleNat, false);
}

/// coturn queried on its FIRST address gives the same verdicts.
fn coturn_suite(nat: NatBehaviour) {
    let t = truth(nat, false);
    let lab = up(LabSpec::new(nat));
    let info = lab
        .start_coturn(CoturnOptions::default())
        .expect("coturn starts in the server namespace");
    let server = SocketAddr::V4(info.primary);
    for run in 0..RUNS {
        let (o, v, _) = probe_in_client(&lab, config(server));
        check_exact(t, &v, &o, &format!("coturn {nat:?} run {run}"));
        assert_eq!(
            v.servers[0].status,
            natclass::ServerStatus::Rfc5780,
            "{v:#?}"
        );
    }
}

#[test]
fn coturn_eim_apdf() {
    coturn_suite(NatBehaviour::EimApdf);
}

#[test]
fn coturn_apdm() {
    coturn_suite(NatBehaviour::Apdm);
}

#[test]
fn coturn_eim_eif() {
    coturn_suite(NatBehaviour::EimEif);
}

/// Mapping lifetime (RFC 5780 §4.6) against a 3 s conntrack UDP timeout:
/// the bracket must contain it.
#[test]
fn mapping_lifetime_brackets_the_conntrack_timeout() {
    let rt = server_runtime();
    let lab = up(LabSpec::new(NatBehaviour::EimApdf).udp_timeout(Duration::from_secs(3)));
    let _responder = start_responder(&lab, &rt);
    let server = SocketAddr::new(IpAddr::V4(lab.addrs().server_primary), 3478);
    let cfg = NatProbeConfig {
        port_samples: 0,
        lifetime: Some(LifetimeConfig {
            budget: Duration::from_secs(30),
            plan: LifetimePlan {
                start: Duration::from_secs(1),
                max: Duration::from_secs(12),
                resolution: Duration::from_millis(1500),
            },
        }),
        ..config(server)
    };
    let (o, v, _) = probe_in_client(&lab, cfg);
    let l = v
        .mapping_lifetime
        .unwrap_or_else(|| panic!("no lifetime result: {o:#?}"));
    let dump = format!("{l:?} {:?}", o.lifetime);
    let lower = l
        .lower_ms
        .unwrap_or_else(|| panic!("no alive probe: {dump}"));
    let upper = l
        .upper_ms
        .unwrap_or_else(|| panic!("no expired probe: {dump}"));
    assert!(l.consistent, "{dump}");
    assert!(lower < upper, "{dump}");
    // Conntrack's garbage collection makes expiry a little late, never early.
    assert!(lower >= 1000 && (3000..=12_000).contains(&upper), "{dump}");
}

/// Issue 15 item 11: double NAT from the client alone (no port mapping
/// protocol on the gateway): TTL-limited probes find the carrier NAT's
/// inside address (100.64.0.1) at hop 2 behind a home NAT, and a public
/// path (the server right after the gateway) behind a single NAT — with
/// the hops as evidence.
#[test]
fn double_nat_from_ttl_limited_probes() {
    let rt = server_runtime();
    for (nat, want) in [
        (NatBehaviour::DoubleNat, true),
        (NatBehaviour::EimApdf, false),
    ] {
        let lab = up(LabSpec::new(nat));
        let _responder = start_responder(&lab, &rt);
        let server = SocketAddr::new(IpAddr::V4(lab.addrs().server_primary), 3478);
        let (o, v, _) = probe_in_client(&lab, config(server));
        let dump = || format!("{nat:?}: {:#?}\n{v:#?}", o.local);
        assert_eq!(v.double_nat, Some(want), "{}", dump());
        let trace = o
            .local
            .path
            .as_ref()
            .unwrap_or_else(|| panic!("no trace: {}", dump()));
        let gateway = lab.addrs().router_lan.to_string();
        assert_eq!(
            trace.hops.first().map(|h| h.address.to_string()),
            Some(gateway),
            "{}",
            dump()
        );
        let evidence: Vec<_> = v
            .evidence
            .iter()
            .filter(|e| e.test == "double-nat")
            .collect();
        assert_eq!(evidence.len(), 1, "{}", dump());
        if want {
            assert_eq!(v.cgnat, Some(true), "{}", dump());
            assert_eq!(trace.reached_at, Some(3), "{}", dump());
            let carrier = lab
                .addrs()
                .carrier_inside
                .expect("a carrier lab")
                .to_string();
            assert!(
                evidence[0].detail.contains("hop 2 towards")
                    && evidence[0].detail.contains(&carrier),
                "{}",
                dump()
            );
        } else {
            assert_eq!(trace.reached_at, Some(2), "{}", dump());
            assert!(evidence[0].detail.contains("single NAT"), "{}", dump());
        }
    }
}

//! `natscope peer` between two machines on real kernel NATs (the netns
//! lab): two `natscope peer` processes, one in each site's client
//! namespace (or one on the public peer host), meet through `natscope serve
//! --rendezvous` in the server namespace (which also answers RFC 5780 STUN
//! for their NAT tests); coturn in the server namespace is the relay.
//!
//! For every pair of NAT behaviours (EIM/EIF, EIM/ADF, EIM/APDF, ADM, APDM,
//! UDP blocked) and NATed ↔ public, both sides' reports must name the same
//! session, agree with each other, and say what happened; what happened
//! must match the prediction the two NAT verdicts give
//! (`natclass::holepunch`, docs/holepunch.md).
//!
//! Needs root. Without it every test FAILS with the reason (never skips).
#![cfg(target_os = "linux")]

use std::time::Instant;

use lab::{LabSpec, NatBehaviour, Ns};

use crate::support::peer::{line, outcome, session, start_servers};
use crate::support::{assert_schema_valid, lab_up as up};

/// Both reports name one session, agree, and the prediction held.
fn check_pair(label: &str, ra: &serde_json::Value, rb: &serde_json::Value) {
    for r in [ra, rb] {
        assert_schema_valid(r);
        assert!(
            r["peer"]["failure"].is_null(),
            "{label}: the session failed: {}",
            line(r)
        );
    }
    assert_eq!(ra["peer"]["session"], rb["peer"]["session"], "{label}");
    assert!(ra["peer"]["session"].is_string(), "{label}");
    assert_eq!(ra["peer"]["role"], "creator");
    assert_eq!(rb["peer"]["role"], "joiner");
    // The two ends saw the same thing.
    assert_eq!(
        ra["peer"]["observed"],
        rb["peer"]["observed"],
        "{label}: {} | {}",
        line(ra),
        line(rb)
    );
    for policy in ["direct", "relay-allowed"] {
        assert_eq!(
            outcome(ra, policy),
            outcome(rb, policy),
            "{label} {policy}: {} | {}",
            line(ra),
            line(rb)
        );
    }
    // Each side holds both verdicts, crosswise equal.
    assert_eq!(ra["peer"]["local_nat"], rb["peer"]["remote_nat"], "{label}");
    assert_eq!(rb["peer"]["local_nat"], ra["peer"]["remote_nat"], "{label}");
    // Whatever the NATs, the relay-allowed policy connects (coturn over
    // UDP, or TCP when UDP is blocked).
    assert_eq!(
        outcome(ra, "relay-allowed"),
        "success",
        "{label}: {}",
        line(ra)
    );
    assert_eq!(
        ra["peer"]["prediction_held"],
        true,
        "{label}: the prediction did not hold: {} | {}",
        line(ra),
        line(rb)
    );
}

const KINDS: [NatBehaviour; 6] = [
    NatBehaviour::EimEif,
    NatBehaviour::EimAdf,
    NatBehaviour::EimApdf,
    NatBehaviour::Adm,
    NatBehaviour::Apdm,
    NatBehaviour::UdpBlocked,
];

/// Every pair (a, b) with b at or after a in [`KINDS`], a in the first
/// site and b in the second.
fn row(a: NatBehaviour) {
    let start = KINDS.iter().position(|k| *k == a).expect("a listed kind");
    for b in &KINDS[start..] {
        if std::env::var("NATSCOPE_PEER_ONLY").is_ok_and(|o| o != b.as_str()) {
            continue;
        }
        let lab = up(LabSpec::new(a).second_site(*b));
        let s = start_servers(&lab);
        let label = format!("{} <-> {}", a.as_str(), b.as_str());
        let t = Instant::now();
        let (ra, rb) = session(&lab, &s, Ns::Client, Ns::Client2);
        eprintln!(
            "{label} ({:.1} s): {}",
            t.elapsed().as_secs_f64(),
            line(&ra)
        );
        check_pair(&label, &ra, &rb);
        // TCP simultaneous open: the lab's NATs filter TCP port-restricted
        // (their EIF/ADF maps are UDP only), so it opens exactly when both
        // mappings are endpoint-independent (UDP blocked is EIM for TCP).
        let symmetric = |k: &NatBehaviour| matches!(k, NatBehaviour::Adm | NatBehaviour::Apdm);
        let want = !symmetric(&a) && !symmetric(b);
        for r in [&ra, &rb] {
            assert_eq!(
                r["peer"]["tcp"]["success"],
                want,
                "{label}: TCP simultaneous open: {}",
                line(r)
            );
        }
    }
}

#[test]
fn peer_pairs_from_eim_eif() {
    row(NatBehaviour::EimEif);
}

#[test]
fn peer_pairs_from_eim_adf() {
    row(NatBehaviour::EimAdf);
}

#[test]
fn peer_pairs_from_eim_apdf() {
    row(NatBehaviour::EimApdf);
}

#[test]
fn peer_pairs_from_adm() {
    row(NatBehaviour::Adm);
}

#[test]
fn peer_pairs_from_apdm() {
    row(NatBehaviour::Apdm);
}

#[test]
fn peer_pairs_udp_blocked_both() {
    row(NatBehaviour::UdpBlocked);
}

/// NATed ↔ public: the joiner on the lab's third public host.
#[test]
fn peer_nated_to_public() {
    for a in KINDS {
        let lab = up(LabSpec::new(a));
        let s = start_servers(&lab);
        let label = format!("{} <-> public", a.as_str());
        let t = Instant::now();
        let (ra, rb) = session(&lab, &s, Ns::Client, Ns::Peer);
        eprintln!(
            "{label} ({:.1} s): {}",
            t.elapsed().as_secs_f64(),
            line(&ra)
        );
        check_pair(&label, &ra, &rb);
        // A host with a public address accepts the NATed side's TCP
        // connection like a server: TCP simultaneous open needs no punch
        // there, whatever the NAT.
        for r in [&ra, &rb] {
            assert_eq!(
                r["peer"]["tcp"]["success"],
                true,
                "{label}: TCP towards the public host: {}",
                line(r)
            );
        }
    }
}

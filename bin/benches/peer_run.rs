//! `cargo bench -p natscope --bench peer_run` (root): the whole `natscope
//! peer` run between two machines of the netns lab, against issue #17's
//! targets: ≤ 3 s when a direct path works, ≤ 6 s when it must fall back
//! to the relay. Two `natscope peer` processes (release build) in two
//! namespaces meet through `natscope serve --rendezvous`; coturn is the
//! relay. Prints, per pair of NATs, the creator's run time (its
//! `peer.duration_ms`: rendezvous to goodbye) over 5 rounds and the ratio
//! to the target (below 1 is within it). Lab bounds: gathering 2 s,
//! checks 3 s (tests/support/peer.rs).

#[path = "../../tests/support/peer.rs"]
mod peer;

use lab::{Lab, LabSpec, NatBehaviour, Ns};

const ROUNDS: usize = 5;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let cases = [
        (
            "EIM+APDF <-> EIM+APDF (hole punched)",
            NatBehaviour::EimApdf,
            NatBehaviour::EimApdf,
            3.0,
        ),
        (
            "EIM+EIF <-> APDM (reversed)",
            NatBehaviour::EimEif,
            NatBehaviour::Apdm,
            3.0,
        ),
        (
            "APDM <-> APDM (relay)",
            NatBehaviour::Apdm,
            NatBehaviour::Apdm,
            6.0,
        ),
        (
            "EIM+EIF <-> UDP blocked (relay over TCP)",
            NatBehaviour::EimEif,
            NatBehaviour::UdpBlocked,
            6.0,
        ),
    ];
    println!("| pair | observed | run time (min–median–max) | target | ratio (median / target) |");
    println!("|---|---|---|---|---|");
    for (label, a, b, target) in cases {
        let lab = Lab::up(LabSpec::new(a).second_site(b))
            .unwrap_or_else(|e| panic!("the NAT lab could not start: {e}"));
        let s = peer::start_servers(&lab);
        let mut times = Vec::new();
        let mut observed = String::new();
        for _ in 0..ROUNDS {
            let (ra, _rb) = peer::session(&lab, &s, Ns::Client, Ns::Client2);
            observed = ra["peer"]["observed"].as_str().unwrap_or("?").to_string();
            times.push(ra["peer"]["duration_ms"].as_f64().unwrap_or(f64::NAN) / 1e3);
        }
        times.sort_by(f64::total_cmp);
        let median = times[ROUNDS / 2];
        println!(
            "| {label} | {observed} | {:.2}–{median:.2}–{:.2} s | ≤ {target:.0} s | {:.2} |",
            times[0],
            times[ROUNDS - 1],
            median / target
        );
    }
}

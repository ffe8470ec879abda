//! Per-family verdicts: IPv6 without translation (a firewall's filtering),
//! RFC 6296 NPTv6 (told by its checksum-neutral rewrite) and NAT66.

use crate::common::*;
use natclass::*;
use std::net::SocketAddr;

const PRIMARY6: &str = "[2001:db8:ff::100]:3478";
const OTHER6: &str = "[2001:db8:ff::101]:3479";
const LOCAL6: &str = "[2001:db8:1::10]:40000";
const FRESH6: &str = "[2001:db8:1::10]:40001";

/// An IPv6 server observation where the servers see `seen(local)` for a
/// local socket, with filtering `f` and endpoint-independent mapping.
fn v6(f: B, seen: &dyn Fn(SocketAddr) -> SocketAddr) -> Observations {
    let (primary, other) = (sa(PRIMARY6), sa(OTHER6));
    let mut o = server_behind(primary, other, B::Ei, f, Hairpin::NotTested);
    o.local = Some(sa(LOCAL6));
    o.filtering.local = Some(sa(FRESH6));
    for r in [
        &mut o.mapping.test1,
        &mut o.mapping.test2,
        &mut o.mapping.test3,
    ] {
        if let Reply::Answered { mapped, .. } = r {
            *mapped = seen(sa(LOCAL6));
        }
    }
    for r in [
        &mut o.filtering.test1,
        &mut o.filtering.test2,
        &mut o.filtering.test3,
    ] {
        if let Reply::Answered { mapped, .. } = r {
            *mapped = seen(sa(FRESH6));
        }
    }
    let mut obs = one(o);
    obs.local.addresses = vec!["2001:db8:1::10".parse().expect("literal")];
    obs.local.gateways = vec!["2001:db8:1::1".parse().expect("literal")];
    obs
}

#[test]
fn ipv6_without_nat_is_a_firewall_in_rfc4787_terms() {
    for (f, words) in [
        (B::Ei, "admitted from anyone once this host has sent"),
        (B::Ad, "only from addresses this host has sent to"),
        (B::Apd, "only when both sides send"),
    ] {
        let v = classify(&v6(f, &|l| l));
        assert_eq!(v.family, Some(Family::Ipv6), "{v:#?}");
        assert_eq!(v.translation, Some(Translation::None));
        assert_eq!(v.behind_nat, Some(false));
        assert_eq!(v.filtering, behaviour(f));
        assert!(v.summary.starts_with("IPv6: no NAT; "), "{}", v.summary);
        assert!(v.summary.contains(words), "{f:?}: {}", v.summary);
    }
}

#[test]
fn nptv6_is_told_by_its_checksum_neutral_rewrite() {
    // 2001:db8:1::/48 -> 2001:db8:2::/48: the subnet word absorbs the
    // prefix's one's-complement difference (RFC 6296 §3.2), so ...:1::10
    // becomes ...:2:fffe::10.
    let npt =
        |l: SocketAddr| SocketAddr::new("2001:db8:2:fffe::10".parse().expect("lit"), l.port());
    let v = classify(&v6(B::Ei, &npt));
    assert_eq!(v.translation, Some(Translation::Nptv6), "{v:#?}");
    assert_eq!(v.behind_nat, Some(true));
    assert!(has(&v, "nptv6"));
    assert!(v.summary.starts_with("IPv6: NPTv6"), "{}", v.summary);

    // The same prefix swap without the checksum adjustment is not NPTv6.
    let plain = |l: SocketAddr| SocketAddr::new("2001:db8:2::10".parse().expect("lit"), l.port());
    let v = classify(&v6(B::Ei, &plain));
    assert_eq!(v.translation, Some(Translation::Nat), "{v:#?}");
}

#[test]
fn nat66_keeps_the_nat_vocabulary_with_the_family_named() {
    let nat66 = |l: SocketAddr| SocketAddr::new("2001:db8:ff::1".parse().expect("lit"), l.port());
    let v = classify(&v6(B::Apd, &nat66));
    assert_eq!(v.translation, Some(Translation::Nat), "{v:#?}");
    assert_eq!(v.family, Some(Family::Ipv6));
    assert_eq!(v.rfc3489, Rfc3489Type::PortRestrictedCone);
    assert!(
        v.summary.starts_with("IPv6: NAT66, port restricted cone"),
        "{}",
        v.summary
    );
}

#[test]
fn ipv4_verdicts_name_their_family_and_keep_their_words() {
    let v = classify(&one(default_server(B::Ei, B::Apd)));
    assert_eq!(v.family, Some(Family::Ipv4));
    assert_eq!(v.translation, Some(Translation::Nat));
    assert!(!v.summary.contains("IPv"), "{}", v.summary);

    let mut mixed = one(default_server(B::Ei, B::Apd));
    mixed.servers.push(server_behind(
        sa(PRIMARY6),
        sa(OTHER6),
        B::Ei,
        B::Apd,
        Hairpin::NotTested,
    ));
    assert_eq!(
        classify(&mixed).family,
        None,
        "a mix of families has no one family"
    );
}

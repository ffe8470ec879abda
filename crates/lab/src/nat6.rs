//! The IPv6 rules per [`Ipv6Behaviour`] (router namespace): one nft table
//! `ip6 natlab6` (firewalls, NAT66, loss), and for NPTv6 two ip6tables
//! rules (nftables has no NPT statement). Interface names as for IPv4:
//! `lan` and `wan`. The IPv4 table `ip natlab` is not touched.

use std::net::Ipv6Addr;

use crate::topology::SITE6_PREFIX;
use crate::{Ipv6Behaviour, LabAddrs, LabError, LabSpec, netns};

/// A router's IPv6 rules ([`ruleset6`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ipv6Rules {
    /// The `nft -f` text (table `ip6 natlab6`), `None` when nothing is
    /// needed (routed without loss, NPTv6 without loss).
    pub nft: Option<String>,
    /// ip6tables invocations, in order: the arguments after
    /// `ip6tables -w` (NPTv6 only).
    pub ip6tables: Vec<Vec<String>>,
}

impl Ipv6Rules {
    /// Loads the rules into the calling thread's network namespace.
    pub(crate) fn load(&self) -> Result<(), LabError> {
        if let Some(text) = &self.nft {
            netns::run_tool(&["nft", "-f", "-"], Some(text))?;
        }
        for args in &self.ip6tables {
            let mut argv = vec!["ip6tables", "-w"];
            argv.extend(args.iter().map(String::as_str));
            netns::run_tool(&argv, None)?;
        }
        Ok(())
    }
}

/// The router's IPv6 rules for `spec` (empty when `spec.ipv6` is `None`).
/// The site's inside prefix is the /48 of `a.client6`; NPTv6 maps it to the
/// /48 of `a.expected_public6`.
pub fn ruleset6(spec: &LabSpec, a: &LabAddrs) -> Ipv6Rules {
    let (Some(b), Some(client)) = (spec.ipv6, a.client6) else {
        return Ipv6Rules::default();
    };
    let inside = prefix_of(client, SITE6_PREFIX);
    let mut sets = Vec::<String>::new();
    let mut post = Vec::<String>::new(); // nat postrouting
    let mut forward = Vec::<String>::new(); // filter forward
    let mut input = Vec::<String>::new(); // filter input (the router itself)
    let mut ip6tables = Vec::<Vec<String>>::new();
    let timeout = spec.udp_timeout.map(|t| t.as_secs().max(1)).unwrap_or(120);

    if spec.loss_percent > 0 {
        // First, so that it hits every forwarded packet, both directions.
        forward.push(format!(
            "numgen random mod 100 < {} drop",
            spec.loss_percent
        ));
    }
    match b {
        Ipv6Behaviour::Routed => {}
        Ipv6Behaviour::FirewallApdf | Ipv6Behaviour::FirewallAdf | Ipv6Behaviour::FirewallEif => {
            // Learn on outbound (ADF: who the client endpoint talked to;
            // EIF: that it talked at all); `update` refreshes the timeout.
            let learned = match b {
                Ipv6Behaviour::FirewallAdf => {
                    sets.push(format!(
                        "set adf6 {{ type ipv6_addr . inet_service . ipv6_addr; flags dynamic, timeout; timeout {timeout}s; }}"
                    ));
                    forward.push(
                        r#"oifname "wan" meta l4proto udp update @adf6 { ip6 saddr . udp sport . ip6 daddr }"#.into(),
                    );
                    Some(
                        r#"iifname "wan" meta l4proto udp ip6 daddr . udp dport . ip6 saddr @adf6 accept"#,
                    )
                }
                Ipv6Behaviour::FirewallEif => {
                    sets.push(format!(
                        "set eif6 {{ type ipv6_addr . inet_service; flags dynamic, timeout; timeout {timeout}s; }}"
                    ));
                    forward.push(
                        r#"oifname "wan" meta l4proto udp update @eif6 { ip6 saddr . udp sport }"#
                            .into(),
                    );
                    Some(r#"iifname "wan" meta l4proto udp ip6 daddr . udp dport @eif6 accept"#)
                }
                _ => None,
            };
            // RFC 6092: replies and related ICMP errors in; ICMPv6 in
            // (echo, errors; neighbour discovery is link-local and never
            // forwarded, so it is not affected anyway); nothing else new.
            forward.push(r#"iifname "wan" ct state established,related accept"#.into());
            forward.push(r#"iifname "wan" meta l4proto ipv6-icmp accept"#.into());
            forward.extend(learned.map(String::from));
            forward.push(r#"iifname "wan" drop"#.into());
        }
        Ipv6Behaviour::Nat66 => {
            post.push(r#"oifname "wan" masquerade"#.into());
            // As for IPv4 (see nat.rs): unsolicited UDP and TCP from the WAN to the
            // router itself is dropped, so that its conntrack entry is never
            // confirmed and cannot make masquerade move a client's port.
            // No exemption: miniupnpd's STUN self-test is IPv4 only.
            input.push(r#"iifname "wan" meta l4proto { tcp, udp } ct state new drop"#.into());
        }
        Ipv6Behaviour::Npt => {
            let outside = prefix_of(a.expected_public6.unwrap_or(client), SITE6_PREFIX);
            let (inp, outp) = (
                format!("{inside}/{SITE6_PREFIX}"),
                format!("{outside}/{SITE6_PREFIX}"),
            );
            let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            ip6tables.push(argv(&[
                "-t",
                "mangle",
                "-A",
                "POSTROUTING",
                "-o",
                "wan",
                "-s",
                &inp,
                "-j",
                "SNPT",
                "--src-pfx",
                &inp,
                "--dst-pfx",
                &outp,
            ]));
            ip6tables.push(argv(&[
                "-t",
                "mangle",
                "-A",
                "PREROUTING",
                "-i",
                "wan",
                "-d",
                &outp,
                "-j",
                "DNPT",
                "--src-pfx",
                &outp,
                "--dst-pfx",
                &inp,
            ]));
        }
    }

    let nft = if sets.is_empty() && post.is_empty() && forward.is_empty() && input.is_empty() {
        None
    } else {
        let mut s = String::from("table ip6 natlab6 {\n");
        for set in &sets {
            s += &format!("  {set}\n");
        }
        let mut chain = |name: &str, hook: &str, rules: &[String]| {
            crate::nat::push_chain(&mut s, name, hook, rules)
        };
        chain(
            "postrouting",
            "type nat hook postrouting priority srcnat; policy accept;",
            &post,
        );
        chain(
            "filter_forward",
            "type filter hook forward priority filter; policy accept;",
            &forward,
        );
        chain(
            "filter_input",
            "type filter hook input priority filter; policy accept;",
            &input,
        );
        s += "}\n";
        Some(s)
    };
    Ipv6Rules { nft, ip6tables }
}

/// The first `len` bits of `addr` (the rest zero).
pub(crate) fn prefix_of(addr: Ipv6Addr, len: u8) -> Ipv6Addr {
    let bits = u128::from(addr);
    let mask = u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0);
    Ipv6Addr::from(bits & mask)
}

/// One's complement 16-bit addition (end-around carry).
fn ones_add(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    // The sum of two u16 is at most 0x1fffe, so one fold suffices and the
    // result fits 16 bits.
    ((s & 0xffff) + (s >> 16)) as u16
}

/// The one's complement sum of an address's eight 16-bit words.
fn ones_sum(addr: Ipv6Addr) -> u16 {
    addr.segments().into_iter().fold(0, ones_add)
}

/// RFC 6296 NPTv6, as Linux's `SNPT`/`DNPT` targets compute it: `addr`
/// (inside `from_prefix`/`len`) with its first `len` bits replaced by
/// `to_prefix`'s, and one 16-bit word adjusted so that the address's one's
/// complement checksum is unchanged (checksum-neutral: transport checksums
/// stay valid). The adjusted word is the one at bits 48..63 when `len <=
/// 48`, else the first word after the prefix that is not 0xFFFF; a result
/// of 0xFFFF is written as 0x0000. The interface identifier is kept.
///
/// `None` when `len > 64`, when `addr` is not inside `from_prefix`/`len`,
/// or when no word can carry the adjustment.
///
/// ```
/// use std::net::Ipv6Addr;
/// let ip = |s: &str| s.parse::<Ipv6Addr>().expect("a valid address");
/// let out = lab::npt_translate(ip("2001:db8:1::10"), ip("2001:db8:1::"), ip("2001:db8:2::"), 48);
/// assert_eq!(out, Some(ip("2001:db8:2:fffe::10")));
/// ```
pub fn npt_translate(
    addr: Ipv6Addr,
    from_prefix: Ipv6Addr,
    to_prefix: Ipv6Addr,
    len: u8,
) -> Option<Ipv6Addr> {
    if len > 64 {
        return None;
    }
    let (from, to) = (prefix_of(from_prefix, len), prefix_of(to_prefix, len));
    if prefix_of(addr, len) != from {
        return None;
    }
    let adjustment = ones_add(ones_sum(from), !ones_sum(to));
    let host_mask = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
    let mut w = Ipv6Addr::from((u128::from(addr) & host_mask) | u128::from(to)).segments();
    let idx = if len <= 48 {
        3
    } else {
        (4..8).find(|&i| w[i] != 0xffff)?
    };
    let v = ones_add(w[idx], adjustment);
    w[idx] = if v == 0xffff { 0 } else { v };
    Some(Ipv6Addr::from(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NatBehaviour;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().expect("a valid test address")
    }

    fn rules(b: Ipv6Behaviour) -> Ipv6Rules {
        let spec = LabSpec::new(NatBehaviour::EimApdf).ipv6(b);
        ruleset6(&spec, &LabAddrs::for_spec(&spec))
    }

    fn nft(b: Ipv6Behaviour) -> String {
        rules(b).nft.unwrap_or_default()
    }

    #[test]
    fn npt_translation_is_rfc_6296_and_checksum_neutral() {
        let (p1, p2) = (ip("2001:db8:1::"), ip("2001:db8:2::"));
        // Word 3 takes the adjustment 1 - 2 = 0xfffe (one's complement).
        let out = npt_translate(ip("2001:db8:1::10"), p1, p2, 48).expect("maps");
        assert_eq!(out, ip("2001:db8:2:fffe::10"));
        assert_eq!(ones_sum(out), ones_sum(ip("2001:db8:1::10")));
        // And back (DNPT): 0xfffe + 1 = 0xffff, written as 0.
        assert_eq!(npt_translate(out, p2, p1, 48), Some(ip("2001:db8:1::10")));
        // Subnet and interface identifier kept apart from the adjustment.
        let a = ip("2001:db8:1:5:1:2:3:4");
        let b = npt_translate(a, p1, p2, 48).expect("maps");
        assert_eq!(b, ip("2001:db8:2:4:1:2:3:4"));
        assert_eq!(ones_sum(a), ones_sum(b));
        // The second site's prefixes.
        let c = npt_translate(
            ip("2001:db8:3::20"),
            ip("2001:db8:3::"),
            ip("2001:db8:4::"),
            48,
        );
        assert_eq!(c, Some(ip("2001:db8:4:fffe::20")));
        // /56: the first non-0xffff word after the prefix is adjusted.
        let d = npt_translate(
            ip("2001:db8:1:100::1"),
            ip("2001:db8:1:100::"),
            ip("2001:db8:1:200::"),
            56,
        )
        .expect("maps");
        assert_eq!(ones_sum(d), ones_sum(ip("2001:db8:1:100::1")));
        assert_eq!(d.segments()[3], 0x0200);
        // Outside the prefix, or too long a prefix: no mapping.
        assert_eq!(npt_translate(ip("2001:db8:9::1"), p1, p2, 48), None);
        assert_eq!(npt_translate(ip("2001:db8:1::1"), p1, p2, 65), None);
    }

    #[test]
    fn expected_public6_per_behaviour() {
        for b in Ipv6Behaviour::ALL {
            let spec = LabSpec::new(NatBehaviour::EimApdf).ipv6(b);
            let a = LabAddrs::for_spec(&spec);
            let want = match b {
                Ipv6Behaviour::Nat66 => ip("2001:db8:ff::1"),
                Ipv6Behaviour::Npt => ip("2001:db8:2:fffe::10"),
                _ => ip("2001:db8:1::10"),
            };
            assert_eq!(a.expected_public6, Some(want), "{b:?}");
            assert_eq!(a.client6, Some(ip("2001:db8:1::10")));
            assert_eq!(a.server6_alternate, Some(ip("2001:db8:ff::101")));
        }
        let v4 = LabAddrs::for_spec(&LabSpec::new(NatBehaviour::EimApdf));
        assert_eq!((v4.client6, v4.expected_public6), (None, None));
    }

    #[test]
    fn routed_has_no_rules_unless_lossy() {
        assert_eq!(rules(Ipv6Behaviour::Routed), Ipv6Rules::default());
        let spec = LabSpec::new(NatBehaviour::EimApdf)
            .ipv6(Ipv6Behaviour::Routed)
            .loss_percent(9);
        let r = ruleset6(&spec, &LabAddrs::for_spec(&spec));
        let text = r.nft.expect("a loss rule");
        assert!(text.starts_with("table ip6 natlab6 {"), "{text}");
        assert!(text.contains("numgen random mod 100 < 9 drop"), "{text}");
        // No IPv6 at all: nothing.
        let v4 = LabSpec::new(NatBehaviour::EimApdf).loss_percent(9);
        assert_eq!(
            ruleset6(&v4, &LabAddrs::for_spec(&v4)),
            Ipv6Rules::default()
        );
    }

    #[test]
    fn firewall_apdf_lets_in_only_established_and_icmpv6() {
        let t = nft(Ipv6Behaviour::FirewallApdf);
        let want = "  chain filter_forward {\n    type filter hook forward priority filter; policy accept;\n    iifname \"wan\" ct state established,related accept\n    iifname \"wan\" meta l4proto ipv6-icmp accept\n    iifname \"wan\" drop\n  }\n";
        assert!(t.contains(want), "{t}");
        assert!(!t.contains("set ") && !t.contains("masquerade"), "{t}");
        assert!(rules(Ipv6Behaviour::FirewallApdf).ip6tables.is_empty());
    }

    #[test]
    fn firewall_adf_learns_remote_addresses() {
        let t = nft(Ipv6Behaviour::FirewallAdf);
        assert!(t.contains("set adf6 { type ipv6_addr . inet_service . ipv6_addr; flags dynamic, timeout; timeout 120s; }"), "{t}");
        let learn =
            r#"oifname "wan" meta l4proto udp update @adf6 { ip6 saddr . udp sport . ip6 daddr }"#;
        let admit =
            r#"iifname "wan" meta l4proto udp ip6 daddr . udp dport . ip6 saddr @adf6 accept"#;
        let drop = r#"iifname "wan" drop"#;
        let pos = |s: &str| t.find(s).unwrap_or_else(|| panic!("{s} missing:\n{t}"));
        assert!(pos(learn) < pos(admit) && pos(admit) < pos(drop), "{t}");
        assert!(t.contains("ct state established,related accept"), "{t}");
        // The set timeout follows the UDP timeout.
        let spec = LabSpec::new(NatBehaviour::EimApdf)
            .ipv6(Ipv6Behaviour::FirewallAdf)
            .udp_timeout(std::time::Duration::from_secs(4));
        let t4 = ruleset6(&spec, &LabAddrs::for_spec(&spec))
            .nft
            .unwrap_or_default();
        assert!(t4.contains("timeout 4s;"), "{t4}");
    }

    #[test]
    fn firewall_eif_learns_client_endpoints() {
        let t = nft(Ipv6Behaviour::FirewallEif);
        assert!(
            t.contains(
                "set eif6 { type ipv6_addr . inet_service; flags dynamic, timeout; timeout 120s; }"
            ),
            "{t}"
        );
        assert!(
            t.contains(r#"oifname "wan" meta l4proto udp update @eif6 { ip6 saddr . udp sport }"#),
            "{t}"
        );
        assert!(
            t.contains(r#"iifname "wan" meta l4proto udp ip6 daddr . udp dport @eif6 accept"#),
            "{t}"
        );
        assert!(t.contains(r#"iifname "wan" drop"#), "{t}");
        assert!(!t.contains("adf6"), "{t}");
    }

    #[test]
    fn nat66_masquerades_and_guards_the_router() {
        let t = nft(Ipv6Behaviour::Nat66);
        assert!(t.contains("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname \"wan\" masquerade\n  }\n"), "{t}");
        assert!(t.contains("  chain filter_input {\n    type filter hook input priority filter; policy accept;\n    iifname \"wan\" meta l4proto { tcp, udp } ct state new drop\n  }\n"), "{t}");
        assert!(!t.contains("filter_forward"), "{t}");
    }

    #[test]
    fn npt_is_two_ip6tables_rules_and_no_filter() {
        let r = rules(Ipv6Behaviour::Npt);
        assert_eq!(r.nft, None);
        let lines: Vec<String> = r.ip6tables.iter().map(|a| a.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "-t mangle -A POSTROUTING -o wan -s 2001:db8:1::/48 -j SNPT --src-pfx 2001:db8:1::/48 --dst-pfx 2001:db8:2::/48",
                "-t mangle -A PREROUTING -i wan -d 2001:db8:2::/48 -j DNPT --src-pfx 2001:db8:2::/48 --dst-pfx 2001:db8:1::/48",
            ]
        );
    }

    #[test]
    fn ipv4_rules_do_not_change_with_ipv6() {
        for nat in NatBehaviour::ALL {
            let v4 = LabSpec::new(nat);
            let dual = v4.clone().ipv6(Ipv6Behaviour::FirewallApdf);
            assert_eq!(
                crate::ruleset(&v4, &LabAddrs::for_spec(&v4)),
                crate::ruleset(&dual, &LabAddrs::for_spec(&dual)),
                "{nat:?}"
            );
        }
    }
}

//! The nftables rule sets per NAT behaviour (router namespace), loaded with
//! one `nft -f` per namespace. Interface names: `lan` (towards the client)
//! and `wan` (towards the internet or the carrier).

use crate::{LabAddrs, LabSpec, NatBehaviour};

/// The router's complete nftables rule set for `spec` (table `ip natlab`),
/// or `None` when it needs no rules at all (routed, no options).
pub fn ruleset(spec: &LabSpec, a: &LabAddrs) -> Option<String> {
    let public = a.router_wan;
    let lan = format!("{}/{}", lan_network(a), a.lan_prefix);
    let mut post = Vec::<String>::new(); // nat postrouting (srcnat)
    let mut pre = Vec::<String>::new(); // nat prerouting (dstnat)
    let mut learn = Vec::<String>::new(); // filter postrouting, after srcnat
    let mut forward = Vec::<String>::new(); // filter forward
    let mut input = Vec::<String>::new(); // filter input (the router itself)
    let mut eim_map = false;
    let mut adf_map = false;

    match spec.nat {
        NatBehaviour::EimApdf
        | NatBehaviour::UdpBlocked
        | NatBehaviour::DoubleNat
        | NatBehaviour::EimEif
        | NatBehaviour::EimAdf => {
            // Endpoint-independent mapping: conntrack keeps the source port
            // when free and reuses it towards every destination.
            post.push(r#"oifname "wan" masquerade"#.into());
        }
        NatBehaviour::Apdm => {
            // A fresh random port for every new 5-tuple.
            post.push(r#"oifname "wan" masquerade fully-random"#.into());
        }
        NatBehaviour::Adm => {
            // One port pool per destination address: conntrack reuses an
            // existing mapping only if it lies in the pool of the rule that
            // matched, so each destination address gets its own mapping.
            let pools = [
                (Some(a.server_primary), "20000-24999"),
                (Some(a.server_alternate), "25000-29999"),
                (Some(a.peer), "30000-34999"),
                (Some(a.router_public), "35000-39999"),
                (None, "40000-44999"),
            ];
            for (dst, ports) in pools {
                let m = dst.map(|d| format!("ip daddr {d} ")).unwrap_or_default();
                post.push(format!(
                    r#"oifname "wan" {m}meta l4proto {{ tcp, udp }} snat ip to {public}:{ports}"#
                ));
            }
            post.push(format!(r#"oifname "wan" snat ip to {public}"#));
        }
        NatBehaviour::None => {}
    }

    match spec.nat {
        NatBehaviour::EimEif => {
            // Learn public port -> LAN endpoint after srcnat; let anyone in.
            eim_map = true;
            pre.push(r#"iifname "wan" meta l4proto udp dnat ip to udp dport map @eim"#.into());
        }
        NatBehaviour::EimAdf => {
            // Learn (remote address, public port) -> LAN endpoint; let in
            // only remote addresses the client has sent to.
            adf_map = true;
            learn.push(
                r#"oifname "wan" meta l4proto udp ct direction original update @adf { ip daddr . udp sport : ct original ip saddr . ct original proto-src }"#.into(),
            );
            learn.push(
                r#"oifname "wan" meta l4proto udp ct direction reply update @adf { ip daddr . udp sport : ct reply ip saddr . ct reply proto-src }"#.into(),
            );
            pre.push(
                r#"iifname "wan" meta l4proto udp dnat ip to ip saddr . udp dport map @adf"#.into(),
            );
        }
        _ => {}
    }

    if spec.hairpin && spec.nat != NatBehaviour::None {
        // LAN host -> our public address: translate through the learned
        // mappings, and make the reply come back through the router by
        // presenting the public address as source.
        eim_map = true;
        pre.push(format!(
            r#"iifname "lan" ip daddr {public} meta l4proto udp dnat ip to udp dport map @eim"#
        ));
        post.push(format!(
            r#"oifname "lan" ip saddr {lan} ct status dnat snat ip to {public}"#
        ));
    }
    if eim_map {
        learn.push(
            r#"oifname "wan" meta l4proto udp ct direction original update @eim { udp sport : ct original ip saddr . ct original proto-src }"#.into(),
        );
        learn.push(
            r#"oifname "wan" meta l4proto udp ct direction reply update @eim { udp sport : ct reply ip saddr . ct reply proto-src }"#.into(),
        );
    }

    if spec.nat != NatBehaviour::None {
        // Like a real CPE's firewall: unsolicited UDP and TCP from the WAN
        // to the router itself are dropped. Without this, such a packet (e.g. a
        // peer's ICE check arriving before our client has sent anything)
        // is delivered locally, its conntrack entry gets confirmed, and
        // masquerade then has to give our client's later flow to that peer
        // a different port than the one it advertised (a lab artefact, not
        // RFC 4787 behaviour). A dropped packet's entry is never confirmed.
        // TCP the same way (RFC 5382): a peer's SYN of a simultaneous open
        // that arrives first would otherwise be answered by the router's
        // own reset, and the entry it leaves (closed, 10 s) moves the
        // client's port for its own SYN to that peer.
        // DNAT-ed packets (EIF/ADF) go through forward, not input.
        // The lab's own STUN servers stay reachable: miniupnpd's
        // `ext_perform_stun` self-test needs their CHANGE-REQUEST answers.
        let mut own = vec![a.server_primary.to_string(), a.server_alternate.to_string()];
        if let Some(c) = a.carrier_inside {
            own.push(c.to_string());
        }
        input.push(format!(
            r#"iifname "wan" ip saddr != {{ {} }} meta l4proto {{ tcp, udp }} ct state new drop"#,
            own.join(", ")
        ));
    }
    if spec.nat == NatBehaviour::UdpBlocked {
        forward.push("meta l4proto udp drop".into());
    }
    if spec.loss_percent > 0 {
        forward.push(format!(
            "numgen random mod 100 < {} drop",
            spec.loss_percent
        ));
    }

    if post.is_empty()
        && pre.is_empty()
        && learn.is_empty()
        && forward.is_empty()
        && input.is_empty()
    {
        return None;
    }
    let map_timeout = spec.udp_timeout.map(|t| t.as_secs().max(1)).unwrap_or(120);
    let mut s = String::from("table ip natlab {\n");
    if eim_map {
        s += &format!(
            "  map eim {{ type inet_service : ipv4_addr . inet_service; flags dynamic, timeout; timeout {map_timeout}s; }}\n"
        );
    }
    if adf_map {
        s += &format!(
            "  map adf {{ type ipv4_addr . inet_service : ipv4_addr . inet_service; flags dynamic, timeout; timeout {map_timeout}s; }}\n"
        );
    }
    let mut chain =
        |name: &str, hook: &str, rules: &[String]| push_chain(&mut s, name, hook, rules);
    chain(
        "prerouting",
        "type nat hook prerouting priority dstnat; policy accept;",
        &pre,
    );
    chain(
        "postrouting",
        "type nat hook postrouting priority srcnat; policy accept;",
        &post,
    );
    chain(
        "learn",
        "type filter hook postrouting priority srcnat + 1; policy accept;",
        &learn,
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
}

/// Appends `chain NAME { HOOK; rules }` to a table's text (nothing when
/// there are no rules). Shared by the IPv4 and IPv6 rule sets.
pub(crate) fn push_chain(s: &mut String, name: &str, hook: &str, rules: &[String]) {
    if rules.is_empty() {
        return;
    }
    *s += &format!("  chain {name} {{\n    {hook}\n");
    for r in rules {
        *s += &format!("    {r}\n");
    }
    *s += "  }\n";
}

/// The carrier NAT's rule set: plain EIM/APDF masquerade on its `wan`.
pub(crate) fn carrier_ruleset() -> String {
    "table ip natlab {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname \"wan\" masquerade\n  }\n}\n".into()
}

fn lan_network(a: &LabAddrs) -> std::net::Ipv4Addr {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(a.lan_prefix))
        .unwrap_or(0);
    std::net::Ipv4Addr::from(u32::from(a.client) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routed_without_options_has_no_rules() {
        let spec = LabSpec::new(NatBehaviour::None);
        assert!(ruleset(&spec, &LabAddrs::for_spec(&spec)).is_none());
    }

    #[test]
    fn options_show_up_in_rules() {
        let spec = LabSpec::new(NatBehaviour::EimAdf)
            .hairpin(true)
            .loss_percent(7);
        let r = ruleset(&spec, &LabAddrs::for_spec(&spec)).expect("rules");
        assert!(r.contains("map adf"));
        assert!(r.contains("map eim"));
        assert!(r.contains("numgen random mod 100 < 7 drop"));
        assert!(r.contains("snat ip to 203.0.113.1"));
    }
}

//! Combining everything into one [`NatVerdict`].

use crate::class::{Class, Finding};
use crate::observe::{ClassifyOptions, LocalNetwork, Observations, PathTrace};
use crate::server::{ServerResult, classify_server};
use crate::verdict::{
    Behaviour, Confidence, Disagreement, Evidence, Family, NatVerdict, P2pOutlook, Rfc3489Type,
    ServerStatus, Translation, UdpStatus,
};
use crate::{lifetime, plain, ports};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Classify with default options.
pub fn classify(obs: &Observations) -> NatVerdict {
    classify_with(obs, &ClassifyOptions::default())
}

/// Classify with explicit options.
pub fn classify_with(obs: &Observations, opts: &ClassifyOptions) -> NatVerdict {
    let mut v = NatVerdict::unknown();
    let mut ev = Vec::new();
    let mut results: Vec<ServerResult> = obs
        .servers
        .iter()
        .map(|o| classify_server(o, &obs.local, opts, &mut ev))
        .collect();
    let mut map_sources: Vec<(String, Finding)> = results
        .iter()
        .filter_map(|r| r.mapping.map(|m| (r.verdict.server.to_string(), m)))
        .collect();
    let filt_sources: Vec<(String, Finding)> = results
        .iter()
        .filter_map(|r| r.filtering.map(|f| (r.verdict.server.to_string(), f)))
        .collect();
    if let Some(p) = &obs.plain {
        let pr = plain::infer(p, &obs.local, opts, &mut ev);
        if let Some(m) = pr.mapping {
            map_sources.push(("plain servers".to_owned(), m));
        }
        results.extend(pr.servers);
    }

    // UDP.
    let udp_answered = results.iter().any(|r| r.udp_answered) || !obs.port_samples.is_empty();
    let blocked: Vec<&ServerResult> = results
        .iter()
        .filter(|r| r.verdict.status == ServerStatus::UdpBlocked)
        .collect();
    let mut udp_conf = Confidence::None;
    if udp_answered {
        v.udp = UdpStatus::Ok;
    } else if !blocked.is_empty() {
        v.udp = UdpStatus::Blocked;
        udp_conf = if blocked.iter().any(|r| r.udp_solid_silence) {
            Confidence::High
        } else {
            Confidence::Low
        };
        ev.push(Evidence::new(
            "udp-blocked",
            format!(
                "no UDP answer from any server while {} server(s) answered over TCP: UDP is blocked",
                blocked.len()
            ),
        ));
    }

    // Behind NAT?
    let no_nat: Vec<bool> = results.iter().filter_map(|r| r.no_nat).collect();
    if no_nat.contains(&true) {
        v.behind_nat = Some(false);
        if no_nat.contains(&false) {
            v.disagreements.push(Disagreement {
                aspect: "behind_nat".to_owned(),
                detail: "some servers saw our local address, others a translated one".to_owned(),
            });
        }
    } else if !no_nat.is_empty() {
        v.behind_nat = Some(true);
    }

    // Public address(es).
    let publics: Vec<(SocketAddr, SocketAddr)> = results
        .iter()
        .filter_map(|r| r.verdict.public.map(|p| (r.verdict.server, p)))
        .collect();
    v.public = publics.first().map(|(_, p)| *p);
    if publics
        .iter()
        .any(|(_, p)| Some(p.ip()) != v.public.map(|x| x.ip()))
    {
        let detail = publics
            .iter()
            .map(|(s, p)| format!("{s} saw {p}"))
            .collect::<Vec<_>>()
            .join(", ");
        ev.push(Evidence::new(
            "multi-server",
            format!("servers saw different public IPs: {detail}"),
        ));
        v.disagreements.push(Disagreement {
            aspect: "public".to_owned(),
            detail,
        });
    }

    // Mapping and filtering.
    let mut mapping = combine("mapping", &map_sources, &mut ev, &mut v.disagreements);
    let filtering = combine("filtering", &filt_sources, &mut ev, &mut v.disagreements);
    if mapping.is_none() && v.behind_nat == Some(false) {
        ev.push(Evidence::new(
            "no-nat",
            "no translation: mapping is trivially endpoint-independent",
        ));
        mapping = Some((Class::Ei, Confidence::Medium));
    }
    if let Some((c, conf)) = mapping {
        v.mapping = c.behaviour();
        v.mapping_confidence = conf;
    }
    if let Some((c, conf)) = filtering {
        v.filtering = c.behaviour();
        v.filtering_confidence = conf;
    }

    // Hairpinning.
    let hp: Vec<(SocketAddr, bool)> = results
        .iter()
        .filter_map(|r| r.verdict.hairpinning.map(|h| (r.verdict.server, h)))
        .collect();
    if hp.iter().any(|(_, h)| *h) {
        v.hairpinning = Some(true);
        if hp.iter().any(|(_, h)| !*h) {
            v.disagreements.push(Disagreement {
                aspect: "hairpinning".to_owned(),
                detail: hp
                    .iter()
                    .map(|(s, h)| {
                        format!("{s}: {}", if *h { "hairpinned" } else { "not hairpinned" })
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    } else if !hp.is_empty() {
        v.hairpinning = Some(false);
    }

    local_network(&obs.local, &mut v, &mut ev);

    v.port_allocation = ports::port_allocation(&obs.port_samples);
    if let Some(p) = &v.port_allocation {
        ev.push(ports::evidence(p));
    }
    v.mapping_lifetime = lifetime::mapping_lifetime(&obs.lifetime);
    if let Some(l) = &v.mapping_lifetime {
        ev.push(lifetime::evidence(l));
    }

    v.rfc3489 = rfc3489(
        v.udp,
        v.behind_nat,
        mapping.map(|m| m.0),
        filtering.map(|f| f.0),
    );
    v.p2p = p2p(
        v.udp,
        v.behind_nat,
        mapping.map(|m| m.0),
        filtering.map(|f| f.0),
    );
    v.confidence = if v.udp == UdpStatus::Blocked {
        udp_conf
    } else {
        match (mapping, filtering) {
            (Some(m), Some(f)) => m.1.min(f.1),
            (Some((_, c)), None) | (None, Some((_, c))) => c,
            (None, None) => Confidence::None,
        }
    };
    v.family = family(obs);
    v.translation = translation(obs, v.behind_nat, &mut ev);
    v.summary = summary(&v);
    v.servers = results.into_iter().map(|r| r.verdict).collect();
    v.evidence = ev;
    v
}

/// The one family of every server observed; `None` with no server or a mix
/// (callers probe each family on its own).
fn family(obs: &Observations) -> Option<Family> {
    let mut all = obs
        .servers
        .iter()
        .map(|o| o.server)
        .chain(
            obs.plain
                .iter()
                .flat_map(|p| p.answers.iter().map(|a| a.server)),
        )
        .map(|s| Family::of(s.ip()));
    let first = all.next()?;
    all.all(|f| f == first).then_some(first)
}

/// What rewrites the address: nothing (servers saw our own address), an
/// RFC 6296 NPTv6 prefix translation (IPv6, the port kept and the rewrite
/// checksum-neutral: the one's-complement sums of the local and the mapped
/// address are equal, which a NAT66 picking its own address matches only by
/// a 1-in-65535 chance), or a NAT.
fn translation(
    obs: &Observations,
    behind_nat: Option<bool>,
    ev: &mut Vec<Evidence>,
) -> Option<Translation> {
    match behind_nat {
        Some(false) => return Some(Translation::None),
        None => return None,
        Some(true) => {}
    }
    let pairs: Vec<(SocketAddr, SocketAddr)> = obs
        .servers
        .iter()
        .filter_map(|o| Some((o.local?, o.mapping.test1.mapped()?)))
        .chain(obs.plain.iter().flat_map(|p| {
            p.answers
                .iter()
                .filter_map(move |a| Some((p.local?, a.reply.mapped()?)))
        }))
        .filter(|(l, _)| !l.ip().is_unspecified())
        .collect();
    let npt = |(l, m): &(SocketAddr, SocketAddr)| match (l.ip(), m.ip()) {
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            a != b && l.port() == m.port() && ones_sum(a) == ones_sum(b)
        }
        _ => false,
    };
    match pairs.first() {
        Some(first) if pairs.iter().all(npt) => {
            ev.push(Evidence::new(
                "nptv6",
                format!(
                    "{} was seen as {} with the port kept, and the rewrite is checksum-neutral \
                     (RFC 6296): stateless NPTv6 prefix translation",
                    first.0.ip(),
                    first.1.ip()
                ),
            ));
            Some(Translation::Nptv6)
        }
        _ => Some(Translation::Nat),
    }
}

/// The 16-bit one's-complement sum of an IPv6 address (0xffff read as 0).
fn ones_sum(a: Ipv6Addr) -> u16 {
    let mut s: u32 = a.segments().iter().map(|w| u32::from(*w)).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    // Invariant: the loop above leaves s <= 0xffff.
    let s = u16::try_from(s).unwrap_or(0);
    if s == 0xffff { 0 } else { s }
}

/// Merge findings from several sources; agreement raises confidence,
/// disagreement is recorded and lowers it to `Low`, never hidden.
fn combine(
    aspect: &str,
    sources: &[(String, Finding)],
    ev: &mut Vec<Evidence>,
    dis: &mut Vec<Disagreement>,
) -> Option<Finding> {
    let top = sources.iter().map(|(_, (c, _))| *c).max()?;
    let compatible = sources
        .iter()
        .all(|(_, (a, _))| sources.iter().all(|(_, (b, _))| a.compatible(*b)));
    let listing = || {
        sources
            .iter()
            .map(|(s, (c, conf))| format!("{s}: {} ({conf:?})", c.label(aspect)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if !compatible {
        let detail = listing();
        ev.push(Evidence::new(
            "multi-server",
            format!(
                "{aspect} disagreement, reporting the most restrictive at low confidence: {detail}"
            ),
        ));
        dis.push(Disagreement {
            aspect: aspect.to_owned(),
            detail,
        });
        return Some((top, Confidence::Low));
    }
    let best = sources
        .iter()
        .map(|(_, (_, c))| *c)
        .max()
        .unwrap_or_default();
    let agreeing = sources.iter().filter(|(_, (c, _))| *c == top).count();
    if agreeing >= 2 {
        ev.push(Evidence::new(
            "multi-server",
            format!(
                "{agreeing} sources agree on {}: {}",
                top.label(aspect),
                listing()
            ),
        ));
        Some((top, best.raised()))
    } else {
        Some((top, best))
    }
}

/// RFC 6598 shared address space (carrier-grade NAT).
pub fn is_cgnat(ip: IpAddr) -> bool {
    crate::addr::classify(ip).cgnat
}

/// RFC 1918 private or IPv6 unique-local (RFC 4193).
pub fn is_private(ip: IpAddr) -> bool {
    let f = crate::addr::classify(ip);
    f.private || f.ula
}

fn local_network(net: &LocalNetwork, v: &mut NatVerdict, ev: &mut Vec<Evidence>) {
    let mut cg: Vec<String> = Vec::new();
    for ip in &net.addresses {
        if is_cgnat(*ip) {
            cg.push(format!("interface address {ip}"));
        }
    }
    for ip in &net.gateways {
        if is_cgnat(*ip) {
            cg.push(format!("gateway {ip}"));
        }
    }
    if let Some(ext) = net.port_mapping_external
        && is_cgnat(ext)
    {
        cg.push(format!("gateway's external address {ext}"));
    }
    if let Some(p) = v.public
        && is_cgnat(p.ip())
    {
        cg.push(format!("address seen by the server {}", p.ip()));
    }
    if !cg.is_empty() {
        v.cgnat = Some(true);
        ev.push(Evidence::new(
            "cgnat",
            format!(
                "RFC 6598 shared address space (100.64.0.0/10): {}: carrier-grade NAT",
                cg.join(", ")
            ),
        ));
    }
    if v.behind_nat == Some(false) {
        v.double_nat = Some(false);
        v.cgnat = v.cgnat.or(Some(false));
        return;
    }
    if let Some(trace) = &net.path {
        path_trace(trace, v, ev);
    }
    let Some(ext) = net.port_mapping_external else {
        return;
    };
    if is_private(ext) || is_cgnat(ext) {
        v.double_nat = Some(true);
        ev.push(Evidence::new(
            "double-nat",
            format!("the gateway's external address {ext} is itself private/shared: another NAT sits upstream"),
        ));
    } else if let Some(p) = v.public {
        if p.ip() == ext {
            v.double_nat = Some(false);
            v.cgnat = v.cgnat.or(Some(false));
            ev.push(Evidence::new(
                "double-nat",
                format!("the gateway's external address {ext} is the public address servers see: single NAT"),
            ));
        } else {
            v.double_nat = Some(true);
            ev.push(Evidence::new(
                "double-nat",
                format!(
                    "the gateway's external address {ext} differs from the public address {} servers see: another NAT (or another egress) upstream",
                    p.ip()
                ),
            ));
        }
    }
}

/// What the routers past the first one (the LAN gateway, the NAT natscope
/// knows about) say, walking TTL 2, 3, …: a private or shared (CGNAT)
/// address before the first public one means a second NAT; a public router
/// (or the server itself) with no silent TTL before it means none; a
/// silent TTL first leaves it unknown (a NAT that does not answer could
/// hide there). Private addresses after a public hop are ISP routers, not
/// NATs, and are ignored.
fn path_trace(t: &PathTrace, v: &mut NatVerdict, ev: &mut Vec<Evidence>) {
    let listing = || {
        let mut parts: Vec<String> = (1..=t.max_ttl)
            .take_while(|ttl| t.reached_at.is_none_or(|r| *ttl < r))
            .map(|ttl| match t.hops.iter().find(|h| h.ttl == ttl) {
                Some(h) => format!("{ttl}: {}", h.address),
                None => format!("{ttl}: no answer"),
            })
            .collect();
        if let Some(r) = t.reached_at {
            parts.push(format!("{r}: the server"));
        }
        parts.join(", ")
    };
    for ttl in 2..=t.max_ttl {
        if t.reached_at.is_some_and(|r| ttl >= r) {
            v.double_nat = Some(false);
            ev.push(Evidence::new(
                "double-nat",
                format!(
                    "the server {} is the next hop after your gateway (hops {}): single NAT",
                    t.destination,
                    listing()
                ),
            ));
            return;
        }
        let Some(hop) = t.hops.iter().find(|h| h.ttl == ttl) else {
            ev.push(Evidence::new(
                "double-nat",
                format!(
                    "hop {ttl} towards {} did not answer, so a NAT there cannot be ruled out \
                     (hops {})",
                    t.destination,
                    listing()
                ),
            ));
            return;
        };
        let ip = hop.address;
        if is_cgnat(ip) || is_private(ip) {
            v.double_nat = Some(true);
            let what = if is_cgnat(ip) {
                v.cgnat = Some(true);
                "in RFC 6598 shared address space (100.64.0.0/10): a carrier-grade NAT"
            } else {
                "private: a second NAT (an ISP router in front of yours, or a router behind a router)"
            };
            ev.push(Evidence::new(
                "double-nat",
                format!(
                    "hop {ttl} towards {}, {ip}, is {what} sits between your gateway and the \
                     internet (hops {}); a router that only forwards can also use such an \
                     address, so this is strong, not certain",
                    t.destination,
                    listing()
                ),
            ));
            return;
        }
        let flags = crate::addr::classify(ip);
        if flags.global || flags.documentation {
            v.double_nat = Some(false);
            ev.push(Evidence::new(
                "double-nat",
                format!(
                    "hop {ttl} towards {}, {ip}, is public and every hop before it answered \
                     (hops {}): single NAT",
                    t.destination,
                    listing()
                ),
            ));
            return;
        }
    }
}

fn rfc3489(
    udp: UdpStatus,
    behind: Option<bool>,
    m: Option<Class>,
    f: Option<Class>,
) -> Rfc3489Type {
    if udp == UdpStatus::Blocked {
        return Rfc3489Type::UdpBlocked;
    }
    if behind == Some(false) {
        return match f {
            Some(Class::Ei) => Rfc3489Type::OpenInternet,
            Some(_) => Rfc3489Type::SymmetricUdpFirewall,
            None => Rfc3489Type::Unknown,
        };
    }
    match (m, f) {
        (Some(Class::Ei), Some(Class::Ei)) => Rfc3489Type::FullCone,
        (Some(Class::Ei), Some(Class::Ad)) => Rfc3489Type::RestrictedCone,
        (Some(Class::Ei), Some(Class::Apd)) => Rfc3489Type::PortRestrictedCone,
        (Some(Class::Ei), _) => Rfc3489Type::Cone,
        (Some(_), _) => Rfc3489Type::Symmetric,
        (None, _) => Rfc3489Type::Unknown,
    }
}

fn p2p(udp: UdpStatus, behind: Option<bool>, m: Option<Class>, f: Option<Class>) -> P2pOutlook {
    if udp == UdpStatus::Blocked {
        return P2pOutlook::TurnNeeded;
    }
    let eim = behind == Some(false) || m == Some(Class::Ei);
    match (eim, m, f) {
        (true, _, Some(Class::Ei)) => P2pOutlook::Direct,
        (true, _, Some(Class::Ad)) => P2pOutlook::HolePunching,
        (true, _, _) => P2pOutlook::TurnForSymmetricPeers,
        (false, Some(_), Some(Class::Ei)) => P2pOutlook::HolePunching,
        (false, Some(_), _) => P2pOutlook::TurnNeeded,
        (false, None, _) => P2pOutlook::Unknown,
    }
}

/// What a firewall without translation does to inbound UDP (IPv6 words).
fn firewall_sentence(f: Behaviour) -> &'static str {
    match f {
        Behaviour::EndpointIndependent => {
            "inbound UDP is admitted from anyone once this host has sent from that port \
             (endpoint-independent filtering): direct connections likely"
        }
        Behaviour::AddressDependent => {
            "a stateful firewall admits UDP only from addresses this host has sent to \
             (address-dependent filtering): direct connections need hole punching"
        }
        Behaviour::AddressAndPortDependent => {
            "a stateful firewall admits only replies (address-and-port-dependent filtering, \
             the RFC 6092 default): a direct connection works only when both sides send \
             (hole punching)"
        }
        Behaviour::Unknown => "inbound filtering unknown",
    }
}

fn summary(v: &NatVerdict) -> String {
    if v.family == Some(Family::Ipv6) && v.udp != UdpStatus::Blocked {
        let head = match v.translation {
            Some(Translation::None) => {
                Some(format!("IPv6: no NAT; {}", firewall_sentence(v.filtering)))
            }
            Some(Translation::Nptv6) => Some(format!(
                "IPv6: NPTv6 prefix translation (RFC 6296), ports kept; {}",
                firewall_sentence(v.filtering)
            )),
            _ => None,
        };
        if let Some(mut s) = head {
            if !v.disagreements.is_empty() {
                s.push_str("; servers disagree (see evidence)");
            }
            s.push_str(&format!(" (confidence {})", confidence_word(v.confidence)));
            return s;
        }
    }
    let mut s = match (v.rfc3489, v.behind_nat) {
        (Rfc3489Type::Unknown, Some(false)) => "no NAT (filtering unknown)".to_owned(),
        (Rfc3489Type::Unknown, _) if v.udp == UdpStatus::Unknown => {
            "NAT type unknown: no server answered".to_owned()
        }
        (t, _) => t.name().to_owned(),
    };
    if v.p2p != crate::P2pOutlook::Unknown {
        s.push_str(&format!(": {}", v.p2p.sentence()));
    }
    if v.double_nat == Some(true) {
        s.push_str("; double NAT");
    }
    if v.cgnat == Some(true) {
        s.push_str("; carrier-grade NAT");
    }
    if !v.disagreements.is_empty() {
        s.push_str("; servers disagree (see evidence)");
    }
    s.push_str(&format!(" (confidence {})", confidence_word(v.confidence)));
    if v.family == Some(Family::Ipv6) {
        let nat = if v.translation == Some(Translation::Nat) {
            "NAT66, "
        } else {
            ""
        };
        s = format!("IPv6: {nat}{s}");
    }
    s
}

fn confidence_word(c: Confidence) -> &'static str {
    match c {
        Confidence::None => "none",
        Confidence::Low => "low",
        Confidence::Medium => "medium",
        Confidence::High => "high",
    }
}

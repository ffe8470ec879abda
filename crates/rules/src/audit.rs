//! The TURN audit's rules (`natscope turn --audit`): from what the server
//! let one client do (the `audit` section) to findings with a security
//! level and the fix in the server's own terms (coturn's `denied-peer-ip`,
//! `no-multicast-peers`, `user-quota`…; pion/turn's handlers), and the
//! `turn-audit` check, which fails on any high-level finding. Pure.

use model::audit::{AttemptOutcome, AuditSection, AuditServer, PeerAttempt, PeerCategory, PeerVia};
use model::diagnosis::{Finding, FindingId, SecurityLevel};
use model::{Check, CheckId, CheckStatus, Summary};

/// The `turn-audit` check and the summary lines.
pub(crate) fn summarize(a: &AuditSection, p: &mut Summary) {
    let all = findings(a);
    let high: Vec<&Finding> = all
        .iter()
        .filter(|f| f.security == Some(SecurityLevel::High))
        .collect();
    let impossible = all.iter().any(|f| f.id == FindingId::AuditNotPossible);
    for f in &all {
        if f.security.is_some() && f.security <= Some(SecurityLevel::Medium) {
            p.problems.push(f.title.clone());
        }
    }
    let refused: usize = a
        .servers
        .iter()
        .flat_map(|s| &s.peers)
        .filter(|x| x.outcome == AttemptOutcome::Refused)
        .count();
    if refused > 0 {
        p.works.push(format!(
            "The TURN server refused {refused} attempts to reach forbidden peers (403)"
        ));
    }
    let check = if impossible {
        Check::new(
            CheckId::TurnAudit,
            CheckStatus::Fail,
            "no allocation could be made, so the server could not be audited",
        )
    } else if high.is_empty() {
        Check::new(
            CheckId::TurnAudit,
            CheckStatus::Pass,
            match all.iter().filter(|f| f.security.is_some()).count() {
                0 => "no weakness found".to_string(),
                1 => "no high-level weakness (1 finding of lower level)".to_string(),
                n => format!("no high-level weakness ({n} findings of lower level)"),
            },
        )
    } else {
        Check::new(
            CheckId::TurnAudit,
            CheckStatus::Fail,
            format!(
                "{} high-level weakness{}: {}",
                high.len(),
                if high.len() == 1 { "" } else { "es" },
                high.iter()
                    .map(|f| f.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    p.checks.push(check);
}

/// Every audit finding, most serious first within each server.
pub(crate) fn findings(a: &AuditSection) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, s) in a.servers.iter().enumerate() {
        server(i, s, &mut out);
    }
    out
}

/// The server software the remedies are written for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Coturn,
    Pion,
    Natscope,
    Other,
}

fn flavour(s: &AuditServer) -> Flavour {
    match s.product.as_ref().map(|p| p.name.as_str()) {
        Some("coturn") => Flavour::Coturn,
        Some("pion") => Flavour::Pion,
        Some("natscope") => Flavour::Natscope,
        _ => Flavour::Other,
    }
}

fn security(id: FindingId, level: SecurityLevel, title: String, remedy: String) -> Finding {
    let mut f = Finding::new(id, level.severity(), title, remedy);
    f.security = Some(level);
    f
}

/// How a let-through attempt reads, e.g. `CreatePermission to 127.0.0.1
/// granted; a Binding request came back through the relay`.
fn attempt_words(x: &PeerAttempt) -> String {
    let what = match (&x.via, &x.outcome) {
        (PeerVia::Connect, AttemptOutcome::Attempted) => {
            "was tried by the server (447: it connected and failed, it did not refuse)".to_string()
        }
        (PeerVia::Connect, AttemptOutcome::Timeout { .. }) => {
            "was not refused (the server was still connecting when natscope stopped waiting)"
                .to_string()
        }
        (PeerVia::Connect, _) => "connected: the server opened a TCP connection to it".to_string(),
        (PeerVia::Send, _) => "was sent".to_string(),
        _ => "was granted".to_string(),
    };
    let peer = match x.via {
        PeerVia::CreatePermission => x.peer.ip().to_string(),
        _ => x.peer.to_string(),
    };
    let proof = match x.delivered {
        Some(true) if x.via == PeerVia::Send => "; an answer came back through the relay (proved)",
        Some(false) => "; nothing came back (not proof that nothing arrived)",
        _ => "",
    };
    format!(
        "{} to {peer} over TURN/{} {what}{proof}",
        x.via.label(),
        transport_word(x.transport),
    )
}

fn transport_word(t: model::turn::TurnTransport) -> &'static str {
    match t {
        model::turn::TurnTransport::Udp => "UDP",
        model::turn::TurnTransport::Tcp => "TCP",
        model::turn::TurnTransport::Tls => "TLS",
        model::turn::TurnTransport::Dtls => "DTLS",
    }
}

/// Whether the server let this attempt through: granted, connected, or
/// for Connect tried (447) or not refused before natscope stopped waiting.
fn let_through(x: &PeerAttempt) -> bool {
    x.let_through()
        || (x.via == PeerVia::Connect && matches!(x.outcome, AttemptOutcome::Timeout { .. }))
}

/// coturn's `denied-peer-ip` lines for a category.
fn coturn_ranges(cat: PeerCategory) -> &'static [&'static str] {
    match cat {
        PeerCategory::Loopback => &["127.0.0.0-127.255.255.255", "::1"],
        PeerCategory::Unspecified => &["0.0.0.0-0.255.255.255", "::"],
        PeerCategory::Private => &[
            "10.0.0.0-10.255.255.255",
            "172.16.0.0-172.31.255.255",
            "192.168.0.0-192.168.255.255",
        ],
        PeerCategory::SharedCgnat => &["100.64.0.0-100.127.255.255"],
        PeerCategory::LinkLocal => &[
            "169.254.0.0-169.254.255.255",
            "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ],
        PeerCategory::UniqueLocal => &["fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        PeerCategory::Multicast => &[],
        PeerCategory::ServerOwn => &[],
    }
}

/// pion/turn's fix for relaying where it should not.
const PION_PEERS: &str = "pion/turn relays wherever its relay sockets can reach: refuse these \
    peers in a PermissionHandler (on the PacketConnConfig / ListenerConfig, returning false \
    for them), or drop the relay sockets' traffic to them with a firewall rule on the relay host";

/// The fix for relaying into `cats`, in the server's own terms.
fn peer_remedy(fl: Flavour, cats: &[PeerCategory], s: &AuditServer) -> String {
    match fl {
        Flavour::Coturn => {
            let mut lines: Vec<String> = Vec::new();
            if cats.contains(&PeerCategory::Loopback) {
                lines.push(
                    "remove allow-loopback-peers (coturn refuses loopback peers without it)".into(),
                );
            }
            if cats.contains(&PeerCategory::Multicast) {
                lines.push("add no-multicast-peers".into());
            }
            if cats.contains(&PeerCategory::ServerOwn) {
                let own: Vec<String> = s
                    .address
                    .iter()
                    .map(|a| a.ip())
                    .chain(
                        s.transports
                            .iter()
                            .filter_map(|t| t.relayed.map(|r| r.ip())),
                    )
                    .map(|ip| ip.to_string())
                    .fold(Vec::new(), |mut v, x| {
                        if !v.contains(&x) {
                            v.push(x);
                        }
                        v
                    });
                for ip in own {
                    lines.push(format!("denied-peer-ip={ip}"));
                }
            }
            for c in cats {
                for r in coturn_ranges(*c) {
                    let l = format!("denied-peer-ip={r}");
                    if !lines.contains(&l) {
                        lines.push(l);
                    }
                }
            }
            let mut text = format!("In turnserver.conf: {}", lines.join("; "));
            if cats.contains(&PeerCategory::Unspecified) {
                text.push_str(
                    ". coturn before 4.5.2 let 0.0.0.0 and :: through even without \
                     allow-loopback-peers (CVE-2020-26262): upgrade",
                );
            }
            text.push_str(". Restart coturn and run natscope turn --audit again");
            text
        }
        Flavour::Pion => PION_PEERS.to_string(),
        Flavour::Natscope => "natscope serve's embedded TURN server is a test server for \
            labs and loopback: do not expose it; use coturn with denied-peer-ip for a public \
            relay"
            .to_string(),
        Flavour::Other => {
            let coturn = peer_remedy(Flavour::Coturn, cats, s);
            format!(
                "The server does not name its software (no SOFTWARE attribute), so here is the \
                 fix for the common ones. coturn: {}. pion/turn: {}. Any other server: refuse \
                 CreatePermission, ChannelBind and Connect to these peers (403 Forbidden) with \
                 its peer deny list, or drop the relay's traffic to them with a firewall rule \
                 on the relay host",
                coturn
                    .trim_start_matches("In turnserver.conf: ")
                    .trim_end_matches(". Restart coturn and run natscope turn --audit again"),
                PION_PEERS
            )
        }
    }
}

fn server(i: usize, s: &AuditServer, out: &mut Vec<Finding>) {
    let fl = flavour(s);
    let name = &s.label;
    let base = format!(".audit.servers[{i}]");
    if !s.transports.iter().any(|t| t.relayed.is_some()) {
        let why: Vec<String> = s
            .transports
            .iter()
            .map(|t| {
                format!(
                    "{}: {}",
                    t.uri,
                    t.failure
                        .as_ref()
                        .map(|f| f.describe())
                        .unwrap_or_else(|| "not tried (no credentials)".into())
                )
            })
            .collect();
        let mut f = Finding::new(
            FindingId::AuditNotPossible,
            model::Severity::Critical,
            format!("{name}: no allocation could be made, so nothing could be audited"),
            "Run natscope turn with the same server and credentials to see which stage fails, \
             fix that, then audit again",
        )
        .explaining([CheckId::TurnAudit]);
        for (j, w) in why.iter().enumerate() {
            f = f.with_evidence(format!("{base}.transports[{j}]"), w.clone());
        }
        if why.is_empty() {
            f = f.with_evidence(base.clone(), "no TURN credentials were given");
        }
        out.push(f);
        return;
    }

    // Peers let through, by finding.
    let groups: [(FindingId, SecurityLevel, &[PeerCategory], &str); 5] = [
        (
            FindingId::AuditRelaysLoopback,
            SecurityLevel::High,
            &[PeerCategory::Loopback, PeerCategory::Unspecified],
            "relays to its own host (loopback)",
        ),
        (
            FindingId::AuditRelaysPrivate,
            SecurityLevel::High,
            &[
                PeerCategory::Private,
                PeerCategory::SharedCgnat,
                PeerCategory::UniqueLocal,
            ],
            "relays into private networks",
        ),
        (
            FindingId::AuditRelaysLinkLocal,
            SecurityLevel::High,
            &[PeerCategory::LinkLocal],
            "relays to link-local addresses, where cloud metadata (169.254.169.254) lives",
        ),
        (
            FindingId::AuditRelaysOwnAddress,
            SecurityLevel::Medium,
            &[PeerCategory::ServerOwn],
            "relays to its own addresses",
        ),
        (
            FindingId::AuditRelaysMulticast,
            SecurityLevel::Low,
            &[PeerCategory::Multicast],
            "relays to multicast or broadcast addresses",
        ),
    ];
    for (id, level, cats, what) in groups {
        let hits: Vec<(usize, &PeerAttempt)> = s
            .peers
            .iter()
            .enumerate()
            .filter(|(_, x)| cats.contains(&x.category) && let_through(x))
            .collect();
        if hits.is_empty() {
            continue;
        }
        let proved = hits.iter().any(|(_, x)| x.delivered == Some(true));
        let mut seen: Vec<PeerCategory> = Vec::new();
        for (_, x) in &hits {
            if !seen.contains(&x.category) {
                seen.push(x.category);
            }
        }
        let kinds: Vec<&str> = seen.iter().map(|c| c.describe()).collect();
        let title = format!(
            "{name} {what}: {}{}",
            kinds.join("; "),
            if proved {
                " — data reached a peer there and came back"
            } else {
                ""
            }
        );
        let mut f = security(id, level, title, peer_remedy(fl, &seen, s));
        for (j, x) in &hits {
            f = f.with_evidence(format!("{base}.peers[{j}]"), attempt_words(x));
        }
        if level == SecurityLevel::High {
            f = f.explaining([CheckId::TurnAudit]);
        }
        out.push(f);
    }

    // The relayed address.
    if let Some(reached) = s.address {
        let reached_private = model::audit::forbidden_category(reached.ip()).is_some();
        for (j, t) in s.transports.iter().enumerate() {
            let Some(relayed) = t.relayed else { continue };
            let private = model::audit::forbidden_category(relayed.ip()).is_some();
            if private && !reached_private {
                let remedy = match fl {
                    Flavour::Coturn => format!(
                        "Set external-ip={}/{} in turnserver.conf (public/private), or \
                         relay-ip to a public address",
                        reached.ip(),
                        relayed.ip()
                    ),
                    _ => "Make the server advertise its public address in \
                          XOR-RELAYED-ADDRESS (pion/turn: RelayAddressGeneratorStatic's \
                          RelayAddress)"
                        .to_string(),
                };
                out.push(
                    security(
                        FindingId::AuditRelayedAddress,
                        SecurityLevel::Medium,
                        format!(
                            "{name} gives the private relayed address {relayed}: peers on \
                             the internet cannot send to it"
                        ),
                        remedy,
                    )
                    .with_evidence(
                        format!("{base}.transports[{j}].relayed"),
                        format!("{relayed}, while the server is reached at {reached}"),
                    ),
                );
                break;
            } else if !private && relayed.ip() != reached.ip() {
                out.push(
                    security(
                        FindingId::AuditRelayedAddress,
                        SecurityLevel::Low,
                        format!(
                            "{name} relays from {}, not from the address it is reached at \
                             ({})",
                            relayed.ip(),
                            reached.ip()
                        ),
                        format!(
                            "Fine when intended: make sure the relay port range on {} is \
                             open to the internet",
                            relayed.ip()
                        ),
                    )
                    .with_evidence(
                        format!("{base}.transports[{j}].relayed"),
                        format!("{relayed}, while the server is reached at {reached}"),
                    ),
                );
                break;
            }
        }
    }

    // Reachability for browsers behind strict firewalls.
    let tls443 = s.transports.iter().any(|t| {
        t.transport == model::turn::TurnTransport::Tls && t.port == 443 && t.relayed.is_some()
    });
    let stream = s.transports.iter().any(|t| {
        matches!(
            t.transport,
            model::turn::TurnTransport::Tcp | model::turn::TurnTransport::Tls
        ) && t.relayed.is_some()
    });
    if !stream {
        let mut f = security(
            FindingId::AuditNoTcp,
            SecurityLevel::Medium,
            format!(
                "{name} relays over UDP only: clients behind firewalls that block UDP get no \
                 relay at all"
            ),
            match fl {
                Flavour::Coturn => "Remove no-tcp and no-tls from turnserver.conf, set \
                    tls-listening-port=443 with cert= and pkey=, and list turn:HOST?transport=tcp \
                    and turns:HOST:443 in your iceServers"
                    .to_string(),
                _ => "Serve TURN over TCP and over TLS on port 443, and list both in your \
                      iceServers"
                    .to_string(),
            },
        );
        for (j, t) in s.transports.iter().enumerate() {
            if matches!(
                t.transport,
                model::turn::TurnTransport::Tcp | model::turn::TurnTransport::Tls
            ) {
                f = f.with_evidence(
                    format!("{base}.transports[{j}]"),
                    format!(
                        "{}: {}",
                        t.uri,
                        t.failure.as_ref().map(|f| f.describe()).unwrap_or_default()
                    ),
                );
            }
        }
        out.push(f);
    }
    if !tls443 {
        let mut f = security(
            FindingId::AuditNoTls443,
            SecurityLevel::Medium,
            format!(
                "{name} has no working TURN over TLS on port 443: browsers behind firewalls \
                 that allow only HTTPS cannot reach it"
            ),
            match fl {
                Flavour::Coturn => "Set tls-listening-port=443 (or alt-tls-listening-port=443) \
                    with cert= and pkey= in turnserver.conf, open TCP 443, and add \
                    turns:HOST:443?transport=tcp to your iceServers"
                    .to_string(),
                _ => "Serve TURN over TLS on TCP port 443 and add \
                      turns:HOST:443?transport=tcp to your iceServers"
                    .to_string(),
            },
        );
        for (j, t) in s.transports.iter().enumerate() {
            if t.transport == model::turn::TurnTransport::Tls && t.port == 443 {
                f = f.with_evidence(
                    format!("{base}.transports[{j}]"),
                    format!(
                        "{}: {}",
                        t.uri,
                        t.failure.as_ref().map(|f| f.describe()).unwrap_or_default()
                    ),
                );
            }
        }
        out.push(f);
    }

    // Quota.
    if let Some(q) = &s.quota
        && q.stopped_by.is_none()
        && q.granted >= q.bound
    {
        out.push(
            security(
                FindingId::AuditNoQuota,
                SecurityLevel::Medium,
                format!(
                    "{name} gave one credential {} allocations at once without a quota \
                     refusal (486): one client can take its relay ports",
                    q.granted
                ),
                match fl {
                    Flavour::Coturn => "Set user-quota= (e.g. user-quota=12: a few per call) \
                        and total-quota= in turnserver.conf"
                        .to_string(),
                    Flavour::Pion => "Count allocations per user in the AuthHandler and \
                        refuse beyond a limit; pion/turn has no quota of its own"
                        .to_string(),
                    _ => "Limit allocations per user (a few per call) and in total".to_string(),
                },
            )
            .with_evidence(
                format!("{base}.quota"),
                format!(
                    "{} granted, bound {}, {} released",
                    q.granted, q.bound, q.released
                ),
            ),
        );
    }

    // REST credentials.
    if let Some(r) = &s.rest {
        if r.expired_accepted == Some(true) {
            out.push(
                security(
                    FindingId::AuditRestExpiredAccepted,
                    SecurityLevel::High,
                    format!(
                        "{name} accepts a REST credential that expired a minute ago: a \
                         leaked credential never stops working"
                    ),
                    match fl {
                        Flavour::Coturn => "Use use-auth-secret with static-auth-secret \
                            (coturn then checks the expiry in the username); make sure the \
                            server's clock is right (NTP)"
                            .to_string(),
                        _ => "Check the expiry timestamp in the REST username and refuse \
                              expired ones (401)"
                            .to_string(),
                    },
                )
                .with_evidence(format!("{base}.rest.expired_accepted"), "true")
                .explaining([CheckId::TurnAudit]),
            );
        }
        if r.long_lived_accepted == Some(true) {
            let days = r.long_lived_secs / 86_400;
            out.push(
                security(
                    FindingId::AuditRestLongLived,
                    SecurityLevel::Low,
                    format!(
                        "{name} accepts a REST credential valid for {days} days: it checks \
                         only that the expiry is in the future"
                    ),
                    "Have your credential service issue short-lived credentials (hours, not \
                     days), and rotate the shared secret when one may have leaked"
                        .to_string(),
                )
                .with_evidence(
                    format!("{base}.rest.long_lived_accepted"),
                    format!("valid for {} s: accepted", r.long_lived_secs),
                ),
            );
        }
    }

    // SOFTWARE.
    if let Some(p) = &s.product
        && let Some(v) = &p.version
    {
        let sw = s.software.clone().unwrap_or_default();
        if let Some(advisories) = advisories(&p.name, v) {
            out.push(
                security(
                    FindingId::AuditSoftwareAdvisory,
                    SecurityLevel::High,
                    format!(
                        "{name} runs {} {v}, which has published advisories: {advisories}",
                        p.name
                    ),
                    format!("Upgrade {} to the current release", p.name),
                )
                .with_evidence(format!("{base}.software"), sw.clone())
                .explaining([CheckId::TurnAudit]),
            );
        }
        out.push(
            security(
                FindingId::AuditSoftwareVersion,
                SecurityLevel::Low,
                format!("{name} tells every client its version ({} {v})", p.name),
                match fl {
                    Flavour::Coturn => "Add no-software-attribute to turnserver.conf".to_string(),
                    _ => "Leave the version out of the SOFTWARE attribute".to_string(),
                },
            )
            .with_evidence(format!("{base}.software"), sw),
        );
    }
}

/// The advisories published for `product` at `version` that natscope
/// knows of (coturn's, from its GitHub security advisories).
fn advisories(product: &str, version: &str) -> Option<String> {
    if product != "coturn" {
        return None;
    }
    let v: Vec<u32> = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    let below = |limit: &[u32]| -> bool {
        for (i, l) in limit.iter().enumerate() {
            let x = v.get(i).copied().unwrap_or(0);
            if x != *l {
                return x < *l;
            }
        }
        false
    };
    let mut out = Vec::new();
    if below(&[4, 5, 1, 2]) {
        out.push("CVE-2020-6061 and CVE-2020-6062 (crafted requests crash it or overflow a buffer; fixed in 4.5.1.2)");
    }
    if below(&[4, 5, 1, 3]) {
        out.push("CVE-2020-4067 (answers leak uninitialised memory; fixed in 4.5.1.3)");
    }
    if below(&[4, 5, 2]) {
        out.push("CVE-2020-26262 (0.0.0.0 and :: bypass the loopback block; fixed in 4.5.2)");
    }
    (!out.is_empty()).then(|| out.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coturn_advisories_by_version() {
        assert!(
            advisories("coturn", "4.5.1.1")
                .unwrap()
                .contains("CVE-2020-26262")
        );
        assert!(
            advisories("coturn", "4.5.1.1")
                .unwrap()
                .contains("CVE-2020-6061")
        );
        let v = advisories("coturn", "4.5.1.3").unwrap();
        assert!(v.contains("CVE-2020-26262") && !v.contains("CVE-2020-4067"));
        assert_eq!(advisories("coturn", "4.5.2"), None);
        assert_eq!(advisories("coturn", "4.6.1"), None);
        assert_eq!(advisories("pion", "2.0.0"), None);
    }
}

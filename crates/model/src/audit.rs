//! The `audit` section (`natscope turn --audit`): what a TURN server lets
//! one authenticated client do that a public server should refuse — relay
//! into loopback, private, link-local, multicast or its own addresses;
//! unbounded allocations; long-lived or expired REST credentials — and how
//! it can be reached (TLS on 443, TCP). Observations only: the findings,
//! with their security level and the fix in the server's own terms, are
//! `natscope-rules`' (`rules::audit`).

use crate::turn::{TurnFailure, TurnTransport};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// Content of the `audit` section: one entry per server audited.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AuditSection {
    /// One audit per server host and port, in the order given.
    pub servers: Vec<AuditServer>,
}

/// The audit of one TURN server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditServer {
    /// The server as the user gave it.
    pub label: String,
    /// Normalised URI of the first transport audited. Never contains
    /// credentials.
    pub uri: String,
    /// The server address natscope reached (after resolution).
    pub address: Option<SocketAddr>,
    /// SOFTWARE attribute of its answers. Untrusted network text:
    /// renderers sanitise it.
    pub software: Option<String>,
    /// The product and version read from `software`, when recognised.
    pub product: Option<Product>,
    /// One allocation per transport: given, and implied (TLS on 443, TCP
    /// on the given port) to see how browsers behind strict firewalls fare.
    pub transports: Vec<AuditTransport>,
    /// Every forbidden-peer attempt, in the order made.
    pub peers: Vec<PeerAttempt>,
    /// Allocations made one after another until the server said 486, up to
    /// a bound; `None` when not tested.
    pub quota: Option<QuotaProbe>,
    /// Which REST credential lifetimes the server accepts; `None` when the
    /// run had no REST secret (`--turn-secret`).
    pub rest: Option<RestLifetime>,
}

/// A server product recognised from its SOFTWARE attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// `coturn`, `pion`, `natscope`, `stunner`, `eturnal` or `other`.
    pub name: String,
    /// The version it discloses, e.g. `4.6.1`; `None` when it gives none.
    pub version: Option<String>,
}

/// One allocation over one transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditTransport {
    /// Normalised URI of this transport, e.g. `turns:turn.example.org:443`.
    pub uri: String,
    /// Transport to the server.
    pub transport: TurnTransport,
    /// The port reached.
    pub port: u16,
    /// Whether the user named this transport (`false`: implied by the
    /// audit, e.g. TLS on 443).
    pub given: bool,
    /// The IPv4 relayed address granted; `None` when the allocation failed.
    pub relayed: Option<SocketAddr>,
    /// The IPv6 relayed address granted (REQUESTED-ADDRESS-FAMILY IPv6),
    /// when asked for and granted.
    #[serde(default)]
    pub relayed_ipv6: Option<SocketAddr>,
    /// Why the allocation failed; `None` when it succeeded.
    pub failure: Option<TurnFailure>,
}

/// A kind of peer address a public TURN server should not relay to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerCategory {
    /// 127.0.0.0/8, ::1: the server host itself.
    Loopback,
    /// 0.0.0.0, `::`: Linux delivers these to the host itself
    /// (CVE-2020-26262).
    Unspecified,
    /// RFC 1918 10/8, 172.16/12, 192.168/16: the operator's own network.
    Private,
    /// RFC 6598 100.64.0.0/10: carrier-grade NAT space, often internal.
    SharedCgnat,
    /// 169.254.0.0/16 and fe80::/10, including 169.254.169.254, the cloud
    /// metadata service.
    LinkLocal,
    /// fc00::/7 unique local addresses.
    UniqueLocal,
    /// 224.0.0.0/4, ff00::/8, 255.255.255.255.
    Multicast,
    /// The server's own address (the one natscope reached, or its relayed
    /// address).
    ServerOwn,
}

impl PeerCategory {
    /// Every category, in the order the audit tries them.
    pub const ALL: [PeerCategory; 8] = [
        PeerCategory::Loopback,
        PeerCategory::Unspecified,
        PeerCategory::Private,
        PeerCategory::SharedCgnat,
        PeerCategory::LinkLocal,
        PeerCategory::UniqueLocal,
        PeerCategory::Multicast,
        PeerCategory::ServerOwn,
    ];

    /// The JSON spelling, e.g. `link-local`.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerCategory::Loopback => "loopback",
            PeerCategory::Unspecified => "unspecified",
            PeerCategory::Private => "private",
            PeerCategory::SharedCgnat => "shared-cgnat",
            PeerCategory::LinkLocal => "link-local",
            PeerCategory::UniqueLocal => "unique-local",
            PeerCategory::Multicast => "multicast",
            PeerCategory::ServerOwn => "server-own",
        }
    }

    /// In words, e.g. `link-local addresses (cloud metadata at
    /// 169.254.169.254)`.
    pub fn describe(self) -> &'static str {
        match self {
            PeerCategory::Loopback => "loopback (the server host itself)",
            PeerCategory::Unspecified => {
                "the unspecified address 0.0.0.0 / :: (reaches the server host itself, CVE-2020-26262)"
            }
            PeerCategory::Private => "private networks (RFC 1918)",
            PeerCategory::SharedCgnat => "carrier-grade NAT space (100.64.0.0/10)",
            PeerCategory::LinkLocal => {
                "link-local addresses (including the cloud metadata service 169.254.169.254)"
            }
            PeerCategory::UniqueLocal => "IPv6 unique local addresses (fc00::/7)",
            PeerCategory::Multicast => "multicast and broadcast addresses",
            PeerCategory::ServerOwn => "the server's own addresses",
        }
    }
}

/// The request an attempt was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerVia {
    /// CreatePermission (RFC 8656 §9).
    CreatePermission,
    /// ChannelBind (RFC 8656 §11).
    ChannelBind,
    /// A STUN Binding request sent in a Send indication to the peer, once
    /// the permission was granted: a response (or the request echoed)
    /// coming back proves the relay reached it.
    Send,
    /// RFC 6062 Connect on a TCP allocation.
    Connect,
}

impl PeerVia {
    /// The request's name, e.g. `CreatePermission`.
    pub fn label(self) -> &'static str {
        match self {
            PeerVia::CreatePermission => "CreatePermission",
            PeerVia::ChannelBind => "ChannelBind",
            PeerVia::Send => "Send",
            PeerVia::Connect => "Connect (RFC 6062)",
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum AttemptOutcome {
    /// The server refused the peer (403 Forbidden): what a public server
    /// should answer.
    Refused,
    /// The server granted the request (for Send: data was sent, see
    /// `delivered`).
    Accepted,
    /// RFC 6062 Connect: the server tried to connect to the peer and
    /// failed (447): the peer is not refused by policy.
    Attempted,
    /// Another error answer.
    Error {
        /// The ERROR-CODE.
        code: u16,
        /// Its reason phrase (network text: sanitised by renderers).
        reason: String,
    },
    /// No answer before the deadline.
    Timeout {
        /// The deadline, in milliseconds.
        after_ms: u64,
    },
    /// Not tried, with the reason.
    NotTested {
        /// Why, in words.
        why: String,
    },
}

/// One attempt to reach a peer the server should refuse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerAttempt {
    /// What kind of address it is.
    pub category: PeerCategory,
    /// The peer address (and port, for ChannelBind, Send and Connect).
    pub peer: SocketAddr,
    /// The transport of the allocation used.
    pub transport: TurnTransport,
    /// The request.
    pub via: PeerVia,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// Whether data reached the peer and came back: `Some(true)` proved
    /// (an answer came back through the relay), `Some(false)` sent and
    /// nothing came back (not proof that nothing arrived), `None` not
    /// tried.
    pub delivered: Option<bool>,
    /// Time to the answer, in milliseconds.
    pub ms: Option<f64>,
}

impl PeerAttempt {
    /// Whether the server let this request through (granted, or for
    /// Connect tried).
    pub fn let_through(&self) -> bool {
        matches!(
            self.outcome,
            AttemptOutcome::Accepted | AttemptOutcome::Attempted
        )
    }
}

/// Allocations one after another, until 486 or a bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaProbe {
    /// The most allocations the probe would make.
    pub bound: u32,
    /// Allocations the server granted at once (the audit's main allocation
    /// included).
    pub granted: u32,
    /// The error code that ended it (486 Allocation Quota Reached, 508
    /// Insufficient Capacity…); `None` when the bound was reached first.
    pub stopped_by: Option<u16>,
    /// Allocations deleted afterwards (of `granted` minus the main one).
    pub released: u32,
}

/// The REST credential lifetimes (draft-uberti-behave-turn-rest) the server
/// accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestLifetime {
    /// A credential that expired a minute ago was accepted; `None` when the
    /// test did not get an answer.
    pub expired_accepted: Option<bool>,
    /// How far in the future the long-lived credential's expiry was, in
    /// seconds.
    pub long_lived_secs: u64,
    /// A credential valid for `long_lived_secs` was accepted.
    pub long_lived_accepted: Option<bool>,
}

/// The documentation addresses of each category the audit tries, per
/// family; the server's own addresses are added at run time.
pub fn audit_targets() -> Vec<(PeerCategory, IpAddr)> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    let v6 = |s: &str| -> IpAddr {
        // Invariant: the literals below are valid IPv6 addresses.
        IpAddr::V6(s.parse::<Ipv6Addr>().expect("literal IPv6 address"))
    };
    vec![
        (PeerCategory::Loopback, v4(127, 0, 0, 1)),
        (PeerCategory::Loopback, v6("::1")),
        (PeerCategory::Unspecified, v4(0, 0, 0, 0)),
        (PeerCategory::Unspecified, v6("::")),
        (PeerCategory::Private, v4(10, 0, 0, 1)),
        (PeerCategory::Private, v4(172, 16, 0, 1)),
        (PeerCategory::Private, v4(192, 168, 0, 1)),
        (PeerCategory::SharedCgnat, v4(100, 64, 0, 1)),
        (PeerCategory::LinkLocal, v4(169, 254, 169, 254)),
        (PeerCategory::LinkLocal, v6("fe80::1")),
        (PeerCategory::UniqueLocal, v6("fd00::1")),
        (PeerCategory::Multicast, v4(224, 0, 0, 1)),
        (PeerCategory::Multicast, v4(255, 255, 255, 255)),
        (PeerCategory::Multicast, v6("ff02::1")),
    ]
}

/// The category of `ip` when it is one a public TURN server should refuse
/// to relay to (the server's own addresses aside).
pub fn forbidden_category(ip: IpAddr) -> Option<PeerCategory> {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_loopback() {
                Some(PeerCategory::Loopback)
            } else if a.is_unspecified() {
                Some(PeerCategory::Unspecified)
            } else if a.is_private() {
                Some(PeerCategory::Private)
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some(PeerCategory::SharedCgnat)
            } else if a.is_link_local() {
                Some(PeerCategory::LinkLocal)
            } else if a.is_multicast() || a.is_broadcast() {
                Some(PeerCategory::Multicast)
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            if let Some(m) = a.to_ipv4_mapped() {
                return forbidden_category(IpAddr::V4(m));
            }
            let s = a.segments();
            if a.is_loopback() {
                Some(PeerCategory::Loopback)
            } else if a.is_unspecified() {
                Some(PeerCategory::Unspecified)
            } else if (s[0] & 0xffc0) == 0xfe80 {
                Some(PeerCategory::LinkLocal)
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Some(PeerCategory::UniqueLocal)
            } else if a.is_multicast() {
                Some(PeerCategory::Multicast)
            } else {
                None
            }
        }
    }
}

/// The product and version in a SOFTWARE attribute, e.g. `Coturn-4.6.1
/// 'Gorst'` → coturn 4.6.1; `None` for an empty one. Unknown products are
/// `other`, with the first version-like word.
pub fn parse_software(software: &str) -> Option<Product> {
    let s = software.trim();
    if s.is_empty() {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let name = [
        "coturn",
        "pion",
        "natscope",
        "stunner",
        "eturnal",
        "restund",
        "rfc5766-turn-server",
    ]
    .into_iter()
    .find(|n| lower.contains(n))
    .map(|n| {
        if n == "rfc5766-turn-server" {
            "coturn"
        } else {
            n
        }
    })
    .unwrap_or("other");
    let version = s
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| w.contains('.') && w.split('.').all(|p| !p.is_empty()))
        .map(str::to_string);
    Some(Product {
        name: name.to_string(),
        version,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn software_names_product_and_version() {
        let p = super::parse_software("Coturn-4.6.1 'Gorst'").unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_deref()),
            ("coturn", Some("4.6.1"))
        );
        let p = super::parse_software("Coturn-4.5.1.1 'dan Eider'").unwrap();
        assert_eq!(p.version.as_deref(), Some("4.5.1.1"));
        let p = super::parse_software("natscope 0.1.0").unwrap();
        assert_eq!(p.name, "natscope");
        let p = super::parse_software("some relay").unwrap();
        assert_eq!((p.name.as_str(), p.version), ("other", None));
        assert_eq!(super::parse_software("  "), None);
    }

    use super::*;

    #[test]
    fn every_target_is_in_its_own_category() {
        for (cat, ip) in audit_targets() {
            assert_eq!(forbidden_category(ip), Some(cat), "{ip}");
        }
        assert_eq!(forbidden_category("203.0.113.5".parse().unwrap()), None);
        assert_eq!(forbidden_category("2001:db8::5".parse().unwrap()), None);
        assert_eq!(
            forbidden_category("::ffff:10.1.2.3".parse().unwrap()),
            Some(PeerCategory::Private)
        );
        assert_eq!(
            forbidden_category("100.127.0.1".parse().unwrap()),
            Some(PeerCategory::SharedCgnat)
        );
        assert_eq!(forbidden_category("100.128.0.1".parse().unwrap()), None);
    }
}

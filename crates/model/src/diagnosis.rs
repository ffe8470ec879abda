//! The `diagnosis` section: why, in plain words — one verdict sentence a
//! person can act on, the root causes found (each with its evidence, the
//! checks it explains and a remedy written with the run's own values), and
//! what peer-to-peer looks like from here against each kind of peer NAT.
//! `natscope-rules` derives it from the rest of the report.

use crate::CheckId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The diagnosis of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Diagnosis {
    /// One sentence answering "will peer-to-peer work from here?".
    pub verdict: String,
    /// Direct connectivity against each kind of peer NAT, from this NAT's
    /// verdict and the hole-punch model (docs/holepunch.md); empty when the
    /// NAT was not classified.
    pub direct: Vec<PeerOutlook>,
    /// Whether a TURN relay works from here, and over which transports.
    pub relay: RelayOutlook,
    /// The root causes, most severe first. One cause is one finding, listing
    /// every check it explains.
    pub findings: Vec<Finding>,
}

/// Direct connectivity against peers behind one kind of NAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerOutlook {
    /// The peer's NAT, in RFC 3489 words.
    pub peer: PeerNat,
    /// `direct`, `direct-likely`, `relay-needed` or `unknown` (natclass's
    /// hole-punch outcome).
    pub outcome: natclass::HolePunchOutcome,
}

/// The kinds of peer NAT the verdict is worked out against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerNat {
    /// No NAT, no filtering.
    OpenInternet,
    /// Endpoint-independent mapping and filtering.
    FullCone,
    /// Endpoint-independent mapping, address-dependent filtering.
    RestrictedCone,
    /// Endpoint-independent mapping, address-and-port-dependent filtering.
    PortRestrictedCone,
    /// Endpoint-dependent mapping (most mobile carriers and CGNATs).
    Symmetric,
}

impl PeerNat {
    /// Every kind, from the most open to the most closed.
    pub const ALL: [PeerNat; 5] = [
        PeerNat::OpenInternet,
        PeerNat::FullCone,
        PeerNat::RestrictedCone,
        PeerNat::PortRestrictedCone,
        PeerNat::Symmetric,
    ];

    /// The words for people, e.g. `port-restricted cone NATs`.
    pub fn label(self) -> &'static str {
        match self {
            PeerNat::OpenInternet => "peers without NAT",
            PeerNat::FullCone => "full-cone NATs",
            PeerNat::RestrictedCone => "restricted-cone NATs",
            PeerNat::PortRestrictedCone => "port-restricted-cone NATs",
            PeerNat::Symmetric => "symmetric NATs",
        }
    }
}

/// Whether a TURN relay works from here.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RelayOutlook {
    /// `true` when some TURN transport relayed data, `false` when every one
    /// tried failed, `null` when no TURN server was tested.
    pub works: Option<bool>,
    /// The transports that relayed data (`udp`, `tcp`, `tls`, `dtls`).
    pub transports: Vec<String>,
    /// The transports tried that did not.
    pub failed: Vec<String>,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Something is broken: a check failed because of it.
    Critical,
    /// Something limits peer-to-peer (e.g. a NAT that needs a relay for
    /// some peers), or a test could not be made.
    Warning,
    /// Worth knowing; nothing to fix.
    Info,
}

impl Severity {
    /// `critical`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One root cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable, documented id (docs/diagnosis.md), e.g. `turn-wrong-credentials`.
    pub id: FindingId,
    /// How much it matters.
    pub severity: Severity,
    /// What is wrong, in one plain sentence naming the server or part.
    pub title: String,
    /// The measurements it rests on: report paths and what they hold.
    pub evidence: Vec<FindingEvidence>,
    /// The checks this cause explains (they failed, or could not be tested,
    /// because of it).
    pub explains: Vec<CheckId>,
    /// What to do, with the run's own values (server, port, transport,
    /// realm, certificate name).
    pub remedy: String,
    /// The security level of an audit finding (`natscope turn --audit`);
    /// absent for every other finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecurityLevel>,
}

/// How serious an audit finding is for the server's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityLevel {
    /// Someone with a credential can reach what must stay unreachable
    /// (the server host, its private network, cloud metadata): fix now.
    /// The audit exits 1.
    High,
    /// A weakness an attacker can use or that fails users (no quota,
    /// long-lived credentials, no TLS on 443).
    Medium,
    /// Worth tightening (a disclosed version, multicast accepted).
    Low,
}

impl SecurityLevel {
    /// `high`, `medium` or `low`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityLevel::High => "high",
            SecurityLevel::Medium => "medium",
            SecurityLevel::Low => "low",
        }
    }

    /// The diagnosis severity of a finding at this level.
    pub fn severity(self) -> Severity {
        match self {
            SecurityLevel::High => Severity::Critical,
            SecurityLevel::Medium => Severity::Warning,
            SecurityLevel::Low => Severity::Info,
        }
    }
}

impl Finding {
    /// A finding with no evidence yet and no check explained.
    pub fn new(
        id: FindingId,
        severity: Severity,
        title: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Finding {
        Finding {
            id,
            severity,
            title: title.into(),
            evidence: Vec::new(),
            explains: Vec::new(),
            remedy: remedy.into(),
            security: None,
        }
    }

    /// The same finding with one more piece of evidence.
    pub fn with_evidence(mut self, path: impl Into<String>, detail: impl Into<String>) -> Finding {
        self.evidence.push(FindingEvidence {
            path: path.into(),
            detail: detail.into(),
        });
        self
    }

    /// The same finding, also explaining `checks` (each once).
    pub fn explaining(mut self, checks: impl IntoIterator<Item = CheckId>) -> Finding {
        for c in checks {
            if !self.explains.contains(&c) {
                self.explains.push(c);
            }
        }
        self
    }
}

/// One piece of evidence behind a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingEvidence {
    /// Where in the report (jq-style, e.g. `.turn.results[0].failure`).
    pub path: String,
    /// What it says, in words. May quote network text: renderers escape it.
    pub detail: String,
}

macro_rules! finding_ids {
    ($($(#[doc = $doc:literal])* $variant:ident => $id:literal,)*) => {
        /// The id of a finding (kebab-case in JSON; docs/diagnosis.md lists
        /// them all). Ids a newer natscope writes are read as
        /// [`FindingId::Other`] and written back unchanged.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FindingId {
            $($(#[doc = $doc])* $variant,)*
            /// An id this natscope does not know (from a newer report).
            Other(String),
        }

        impl FindingId {
            /// Every id this natscope can write.
            pub const ALL: &'static [FindingId] = &[$(FindingId::$variant,)*];

            /// The JSON spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(FindingId::$variant => $id,)*
                    FindingId::Other(s) => s,
                }
            }

            /// The known id spelt `s`, else [`FindingId::Other`].
            pub fn parse(s: &str) -> FindingId {
                match s {
                    $($id => FindingId::$variant,)*
                    other => FindingId::Other(other.to_owned()),
                }
            }
        }
    };
}

finding_ids! {
    /// No UDP gets out: STUN over UDP unanswered while TCP/TLS reached a
    /// server, or the NAT test saw UDP blocked.
    UdpBlocked => "udp-blocked",
    /// No STUN server answered at all (over any transport tried).
    StunUnreachable => "stun-unreachable",
    /// A STUN server answered that its port is closed (ICMP port
    /// unreachable / TCP reset).
    StunPortClosed => "stun-port-closed",
    /// A STUN server did not answer while others did.
    StunServerSilent => "stun-server-silent",
    /// A server name did not resolve.
    ServerUnresolved => "server-unresolved",
    /// The STUN servers support plain RFC 8489 only (no OTHER-ADDRESS):
    /// NAT filtering could not be tested.
    StunNotRfc5780 => "stun-not-rfc5780",
    /// A server's RFC 5780 answers contradict themselves.
    StunServerInconsistent => "stun-server-inconsistent",
    /// Servers disagree about this host's public address or the NAT's
    /// behaviour.
    ServersDisagree => "servers-disagree",
    /// The NAT maps endpoint-dependently (symmetric): direct connections
    /// need a relay with most peers.
    NatSymmetric => "nat-symmetric",
    /// Endpoint-independent mapping with port-restricted filtering: peers
    /// behind symmetric NATs need a relay.
    NatPortRestricted => "nat-port-restricted",
    /// The NAT's mapping could not be determined.
    NatUnknown => "nat-unknown",
    /// The NAT does not hairpin: two devices behind it cannot reach each
    /// other through their public addresses.
    NoHairpinning => "no-hairpinning",
    /// IPv6 without translation, but a stateful firewall filters what comes
    /// in (RFC 6092): direct IPv6 needs both sides to send.
    Ipv6Firewall => "ipv6-firewall",
    /// IPv6 goes through a stateful NAT66.
    Ipv6Nat66 => "ipv6-nat66",
    /// IPv6 goes through RFC 6296 NPTv6 prefix translation.
    Ipv6Nptv6 => "ipv6-nptv6",
    /// An IPv6 path is broken: a server's AAAA address (or every IPv6
    /// server) stays silent while IPv4 answers.
    Ipv6PathBroken => "ipv6-path-broken",
    /// This host is behind two NATs (a CGNAT or a second router).
    DoubleNat => "double-nat",
    /// The TURN server rejected the username or password (401).
    TurnWrongCredentials => "turn-wrong-credentials",
    /// The TURN REST credential had expired.
    TurnRestExpired => "turn-rest-expired",
    /// The TURN REST credential was rejected although not expired.
    TurnRestRejected => "turn-rest-rejected",
    /// The TURN server's realm is not the one the credentials are for.
    TurnRealmMismatch => "turn-realm-mismatch",
    /// No TURN credentials were given, so only the 401 challenge was tested.
    TurnNoCredentials => "turn-no-credentials",
    /// The TURN server's certificate is not signed by a trusted CA.
    TurnTlsUnknownCa => "turn-tls-unknown-ca",
    /// The TURN server's certificate does not name the host.
    TurnTlsNameMismatch => "turn-tls-name-mismatch",
    /// The TURN server's certificate has expired or is not valid yet.
    TurnTlsExpired => "turn-tls-expired",
    /// The TURN server presents a CA certificate as its server certificate.
    TurnTlsCaAsServerCert => "turn-tls-ca-as-server-certificate",
    /// Another TLS or DTLS handshake failure.
    TurnTlsOther => "turn-tls-failed",
    /// Nothing listens on the TURN server's port (refused).
    TurnPortClosed => "turn-port-closed",
    /// The TURN server did not answer in time.
    TurnTimeout => "turn-timeout",
    /// The TURN server's name did not resolve.
    TurnDns => "turn-dns",
    /// The TURN server refuses to relay to the peer (403).
    TurnForbiddenPeer => "turn-forbidden-peer",
    /// The user's allocation quota is full (486).
    TurnAllocationQuota => "turn-allocation-quota",
    /// The TURN server has no relay capacity left (508).
    TurnInsufficientCapacity => "turn-insufficient-capacity",
    /// 438 Stale Nonce even after a retry.
    TurnStaleNonce => "turn-stale-nonce",
    /// The TURN server redirects in a loop (300).
    TurnRedirectLoop => "turn-redirect-loop",
    /// The allocation worked but relayed data did not come back.
    TurnNoRelayedData => "turn-no-relayed-data",
    /// The allocation worked, but the data test could not run (no echo
    /// peer: the server refused a second allocation).
    TurnDataNotTested => "turn-data-not-tested",
    /// The server has no relay address of the family asked for (440).
    TurnNoIpv6Relay => "turn-no-ipv6-relay",
    /// Another TURN error or unexpected answer.
    TurnServerError => "turn-server-error",
    /// A transport this natscope cannot test.
    TurnNotSupported => "turn-not-supported",
    /// A local socket error stopped a TURN test.
    TurnLocalError => "turn-local-error",
    /// ICE connectivity checks failed between candidates that were gathered.
    IceChecksFailed => "ice-checks-failed",
    /// An ICE agent gathered no candidate of the type a run needed.
    IceNoCandidates => "ice-no-candidates",
    /// ICE connected but the payload did not pass both ways.
    IcePayloadFailed => "ice-payload-failed",
    /// The WebRTC data channel did not open over a connected pair.
    IceDataChannelFailed => "ice-data-channel-failed",
    /// A local error stopped an ICE run.
    IceLocalError => "ice-local-error",
    /// A test port mapping could not be removed (it expires with its lease).
    PortmapLeftBehind => "portmap-left-behind",
    /// A port mapping protocol answered but refused the test mapping.
    PortmapRefused => "portmap-refused",
    /// A port mapped by the gateway did not pass traffic from outside.
    PortmapNoTraffic => "portmap-no-traffic",
    /// No port mapping protocol answered on the gateway.
    PortmapUnavailable => "portmap-unavailable",
    /// A real browser gathered no ICE candidate at all, not even a host
    /// one (WebRTC disabled or restricted in the browser).
    BrowserNoCandidates => "browser-no-candidates",
    /// A real browser got no relay candidate from a TURN server (natscope's
    /// own TURN test may have relayed through the same server).
    BrowserNoRelayCandidate => "browser-no-relay-candidate",
    /// A real browser reported candidate errors (`icecandidateerror`) for
    /// a STUN/TURN URL: server not reached (701), credentials refused
    /// (401)…
    BrowserCandidateError => "browser-candidate-error",
    /// A real browser gathered relay candidates but did not connect to
    /// natscope's peer under policy `relay`.
    BrowserRelayFailed => "browser-relay-failed",
    /// A real browser did not connect to natscope's peer under policy
    /// `all`.
    BrowserConnectFailed => "browser-connect-failed",
    /// A real browser connected to natscope's peer only through a TURN
    /// relay: no direct path worked.
    BrowserRelayOnly => "browser-relay-only",
    /// A `turns:` URL names an IP address: Firefox makes no relay
    /// candidate from it (Chromium does).
    BrowserTurnsIpLiteral => "browser-turns-ip-literal",
    /// `natscope peer`: the session with the other machine failed (the
    /// rendezvous, the session code, the other side never came or left).
    PeerSessionFailed => "peer-session-failed",
    /// `natscope peer`: the two machines did not connect under any policy.
    PeerNoConnection => "peer-no-connection",
    /// `natscope peer`: no direct path between the two machines; only the
    /// TURN relay connected them.
    PeerRelayNeeded => "peer-relay-needed",
    /// `natscope peer`: what happened is not what the two NAT verdicts
    /// predicted (docs/holepunch.md).
    PeerPredictionDiffers => "peer-prediction-differs",
    /// `natscope peer`: ICE with direct candidates and the plain UDP hole
    /// punch disagree (one got through, the other did not).
    PeerPunchDisagrees => "peer-punch-disagrees",
    /// Audit: the server relays to its own host (loopback, or 0.0.0.0 / ::
    /// as in CVE-2020-26262).
    AuditRelaysLoopback => "audit-relays-loopback",
    /// Audit: the server relays into private networks (RFC 1918, RFC 6598,
    /// fc00::/7).
    AuditRelaysPrivate => "audit-relays-private",
    /// Audit: the server relays to link-local addresses, cloud metadata
    /// (169.254.169.254) included.
    AuditRelaysLinkLocal => "audit-relays-link-local",
    /// Audit: the server relays to multicast or broadcast addresses.
    AuditRelaysMulticast => "audit-relays-multicast",
    /// Audit: the server relays to its own addresses.
    AuditRelaysOwnAddress => "audit-relays-own-address",
    /// Audit: the relayed address is private, or not the address the
    /// server is reached at.
    AuditRelayedAddress => "audit-relayed-address",
    /// Audit: no TURN over TLS on port 443 works (browsers behind strict
    /// firewalls reach nothing else).
    AuditNoTls443 => "audit-no-tls-443",
    /// Audit: no TURN over TCP or TLS works at all.
    AuditNoTcp => "audit-no-tcp",
    /// Audit: one credential got as many allocations as the audit's bound:
    /// no per-user quota.
    AuditNoQuota => "audit-no-quota",
    /// Audit: the server accepts an expired REST credential.
    AuditRestExpiredAccepted => "audit-rest-expired-accepted",
    /// Audit: the server accepts REST credentials valid for a very long
    /// time.
    AuditRestLongLived => "audit-rest-long-lived",
    /// Audit: the SOFTWARE attribute names a version with published
    /// advisories.
    AuditSoftwareAdvisory => "audit-software-advisory",
    /// Audit: the SOFTWARE attribute discloses the server's version.
    AuditSoftwareVersion => "audit-software-version",
    /// Audit: no allocation could be made, so nothing could be audited.
    AuditNotPossible => "audit-not-possible",
    /// Load: the server showed strain (loss over 1 % or the round trip
    /// doubled) before full load.
    LoadKnee => "load-knee",
    /// Load: the run ended early (server silent, allocations dropped,
    /// redirected, none made).
    LoadEndedEarly => "load-ended-early",
    /// Load: the server answered errors (quota, capacity…) during the run.
    LoadErrors => "load-errors",
    /// A section did not finish within the overall deadline.
    SectionTimeout => "section-timeout",
    /// A section could not produce a result (a local error).
    SectionFailed => "section-failed",
    /// A failed check no more specific rule explains.
    CheckFailed => "check-failed",
}

impl std::fmt::Display for FindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FindingId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FindingId, D::Error> {
        let s = String::deserialize(d)?;
        Ok(FindingId::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for id in FindingId::ALL {
            assert!(seen.insert(id.as_str()), "duplicate id {id}");
            let json = serde_json::to_string(id).expect("serializes");
            assert_eq!(
                serde_json::from_str::<FindingId>(&json).ok().as_ref(),
                Some(id)
            );
        }
        let future: FindingId = serde_json::from_str("\"quantum-nat\"").expect("parses");
        assert_eq!(future, FindingId::Other("quantum-nat".into()));
    }

    #[test]
    fn every_id_is_documented() {
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/diagnosis.md"),
        )
        .expect("docs/diagnosis.md exists");
        for id in FindingId::ALL {
            assert!(
                docs.contains(&format!("| `{id}` |")),
                "docs/diagnosis.md has no row for {id}"
            );
        }
    }
}

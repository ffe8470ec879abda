//! The `summary` section: plain-language findings and the pass/fail checks
//! the exit code derives from. The rules that fill it are `natscope-rules`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What works, what does not, what to do, and the individual checks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Things that work, one sentence each.
    pub works: Vec<String>,
    /// Things that do not work, one sentence each.
    pub problems: Vec<String>,
    /// What to do about the problems, one sentence each.
    pub advice: Vec<String>,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl Summary {
    /// True when at least one check failed (the CLI exits 1 then).
    pub fn any_failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == CheckStatus::Fail)
    }

    /// The check with this id, if the run made it.
    pub fn check(&self, id: &CheckId) -> Option<&Check> {
        self.checks.iter().find(|c| &c.id == id)
    }
}

/// One pass/fail check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable identifier (kebab-case in JSON): `udp`, `stun`, `turn-tls`...
    pub id: CheckId,
    /// Result.
    pub status: CheckStatus,
    /// Why, in plain words.
    pub reason: String,
}

impl Check {
    /// A check with this id, status and reason.
    pub fn new(id: CheckId, status: CheckStatus, reason: impl Into<String>) -> Check {
        Check {
            id,
            status,
            reason: reason.into(),
        }
    }
}

/// Result of a check: `passed`, `failed` or `not-tested` in JSON — the
/// words of TURN stages and port-mapping steps too (natscope/1 and /2 wrote
/// `pass` and `fail`, still read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// Passed.
    #[serde(rename = "passed", alias = "pass")]
    Pass,
    /// Failed.
    #[serde(rename = "failed", alias = "fail")]
    Fail,
    /// Not tested (skipped or not applicable); never makes the run fail.
    NotTested,
}

impl CheckStatus {
    /// The word for people, the same in every output: `passed`, `failed`,
    /// `not tested`.
    pub fn word(self) -> &'static str {
        match self {
            CheckStatus::Pass => "passed",
            CheckStatus::Fail => "failed",
            CheckStatus::NotTested => "not tested",
        }
    }

    /// Its one symbol: `✔`, `✘`, `–`.
    pub fn symbol(self) -> &'static str {
        match self {
            CheckStatus::Pass => "✔",
            CheckStatus::Fail => "✘",
            CheckStatus::NotTested => "–",
        }
    }

    /// How a set of checks adds up: failed if any failed, passed if any
    /// passed and none failed, else not tested.
    pub fn of<'a>(checks: impl IntoIterator<Item = &'a Check>) -> CheckStatus {
        let mut out = CheckStatus::NotTested;
        for c in checks {
            match c.status {
                CheckStatus::Fail => return CheckStatus::Fail,
                CheckStatus::Pass => out = CheckStatus::Pass,
                CheckStatus::NotTested => {}
            }
        }
        out
    }
}

macro_rules! check_ids {
    ($($(#[doc = $doc:literal])* $variant:ident => $id:literal,)*) => {
        /// The id of a check: an enum, so a rule cannot invent a misspelt
        /// one. JSON spells it in kebab-case (`turn-tls`). Ids a newer
        /// natscope writes are read as [`CheckId::Other`] and written back
        /// unchanged (the set may grow within a schema version).
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CheckId {
            $($(#[doc = $doc])* $variant,)*
            /// An id this natscope does not know (from a newer report).
            Other(String),
        }

        impl CheckId {
            /// Every id this natscope can write, in report order.
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant,)*];

            /// The JSON spelling, e.g. `turn-tls`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(CheckId::$variant => $id,)*
                    CheckId::Other(s) => s,
                }
            }

            /// The spelling of a known id (`None` for [`CheckId::Other`]).
            pub fn known_str(&self) -> Option<&'static str> {
                match self {
                    $(CheckId::$variant => Some($id),)*
                    CheckId::Other(_) => None,
                }
            }

            /// The known id spelt `s`, else [`CheckId::Other`].
            pub fn parse(s: &str) -> CheckId {
                match s {
                    $($id => CheckId::$variant,)*
                    other => CheckId::Other(other.to_owned()),
                }
            }
        }
    };
}

check_ids! {
    /// Some UDP Binding request was answered.
    Udp => "udp",
    /// Some STUN server answered.
    Stun => "stun",
    /// The NAT maps endpoint-independently (RFC 4787).
    NatEim => "nat-eim",
    /// Some UDP Binding request to an IPv6 server was answered (made when
    /// IPv6 servers were tested).
    UdpIpv6 => "udp-ipv6",
    /// IPv6 mapping is endpoint-independent (no translation, NPTv6, or an
    /// endpoint-independent NAT66).
    NatEimIpv6 => "nat-eim-ipv6",
    /// A TURN allocation over UDP relayed data.
    TurnUdp => "turn-udp",
    /// A TURN allocation over TCP relayed data.
    TurnTcp => "turn-tcp",
    /// A TURN allocation over TLS relayed data.
    TurnTls => "turn-tls",
    /// A TURN allocation over DTLS relayed data.
    TurnDtls => "turn-dtls",
    /// ICE host ↔ host connected.
    IceHost => "ice-host",
    /// ICE srflx ↔ srflx connected.
    IceSrflx => "ice-srflx",
    /// ICE relay ↔ relay connected.
    IceRelay => "ice-relay",
    /// ICE relay ↔ relay over TURN-UDP only connected.
    IceRelayUdp => "ice-relay-udp",
    /// ICE relay ↔ relay over TURN-TCP only connected.
    IceRelayTcp => "ice-relay-tcp",
    /// ICE relay ↔ relay over TURN-TLS only connected.
    IceRelayTls => "ice-relay-tls",
    /// A port mapping protocol made a test mapping and removed it.
    Portmap => "portmap",
    /// A real browser gathered a candidate under ICE transport policy
    /// `all` and, when TURN servers were configured, a relay candidate
    /// under policy `relay`.
    BrowserGather => "browser-gather",
    /// A real browser connected to natscope's WebRTC peer under policy
    /// `all`.
    BrowserConnect => "browser-connect",
    /// A real browser connected to natscope's WebRTC peer under policy
    /// `relay` (through a TURN server).
    BrowserRelay => "browser-relay",
    /// `natscope peer`: the session with the other machine ran to its end
    /// (fails when the rendezvous, the session code or the other side
    /// failed it).
    PeerSession => "peer-session",
    /// `natscope peer`: the two machines connected under some ICE policy
    /// (direct, or with TURN relays allowed).
    PeerConnect => "peer-connect",
    /// `natscope peer`: the two machines connected directly, without a
    /// relay (fails when only the TURN relay connected them).
    PeerDirect => "peer-direct",
    /// The TURN audit found no high-level weakness (`natscope turn
    /// --audit`).
    TurnAudit => "turn-audit",
    /// The TURN load test ran its course with relayed traffic (`natscope
    /// turn --load`).
    TurnLoad => "turn-load",
    /// The interfaces could be read (made only when they could not).
    Interfaces => "interfaces",
    /// The NAT classification finished (made only when it did not).
    Nat => "nat",
    /// The TURN tests finished (made only when they did not).
    Turn => "turn",
    /// The ICE runs finished (made only when they did not).
    Ice => "ice",
}

impl CheckId {
    /// `turn-udp`, `turn-tcp`, `turn-tls` or `turn-dtls`.
    pub fn turn(transport: crate::turn::TurnTransport) -> CheckId {
        use crate::turn::TurnTransport as T;
        match transport {
            T::Udp => CheckId::TurnUdp,
            T::Tcp => CheckId::TurnTcp,
            T::Tls => CheckId::TurnTls,
            T::Dtls => CheckId::TurnDtls,
        }
    }

    /// `ice-relay-udp`, `ice-relay-tcp` or `ice-relay-tls`.
    pub fn ice_relay(protocol: crate::ice::RelayProtocol) -> CheckId {
        use crate::ice::RelayProtocol as P;
        match protocol {
            P::Udp => CheckId::IceRelayUdp,
            P::Tcp => CheckId::IceRelayTcp,
            P::Tls => CheckId::IceRelayTls,
        }
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CheckId {
    type Err = String;

    /// Known ids only (for `--require`): an unknown one is an error listing
    /// the known ones.
    fn from_str(s: &str) -> Result<CheckId, String> {
        match CheckId::parse(s.trim()) {
            CheckId::Other(s) => Err(format!(
                "unknown check {s:?} (known: {})",
                CheckId::ALL
                    .iter()
                    .map(CheckId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            known => Ok(known),
        }
    }
}

impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CheckId, D::Error> {
        let s = String::deserialize(d)?;
        Ok(CheckId::parse(&s))
    }
}

#[cfg(feature = "clap")]
impl clap::ValueEnum for CheckId {
    fn value_variants<'a>() -> &'a [Self] {
        CheckId::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        self.known_str().map(clap::builder::PossibleValue::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ones_survive() {
        for id in CheckId::ALL {
            let json = serde_json::to_string(id).expect("serializes");
            assert_eq!(json, format!("\"{}\"", id.as_str()));
            let back: CheckId = serde_json::from_str(&json).expect("parses");
            assert_eq!(&back, id);
            assert_eq!(id.as_str().parse::<CheckId>().as_ref(), Ok(id));
        }
        let future: CheckId = serde_json::from_str("\"ice-tcp\"").expect("parses");
        assert_eq!(future, CheckId::Other("ice-tcp".into()));
        assert_eq!(serde_json::to_string(&future).expect("ok"), "\"ice-tcp\"");
        let err = "nat-cone".parse::<CheckId>().unwrap_err();
        assert!(
            err.contains("nat-cone") && err.contains("turn-tls"),
            "{err}"
        );
    }
}

//! The `ice-host`, `ice-srflx`, `ice-relay` and `ice-relay-<transport>`
//! checks and the ICE summary lines.

use model::ice::{IceFilter, IceRun, IceSection, RelayProtocol};
use model::servers::{Scheme, ServerUri};
use model::{Check, CheckId, CheckStatus, Summary};

/// What the ICE runs had to work with, from the servers the run was given
/// (`options.servers`): a candidate type or relay transport with no server
/// is "not tested", not a failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IceServersGiven {
    /// A `stun:` server for srflx candidates.
    pub(crate) stun: bool,
    /// The relay protocols of the TURN servers, in preference order.
    pub(crate) relay: Vec<RelayProtocol>,
}

impl IceServersGiven {
    /// From the servers as the user named them (labels that do not parse
    /// are no server).
    pub(crate) fn from_labels(labels: &[String]) -> IceServersGiven {
        let uris: Vec<ServerUri> = labels
            .iter()
            .filter_map(|l| ServerUri::parse(l).ok())
            .filter(|u| u.ice_transport().is_ok())
            .collect();
        IceServersGiven {
            stun: uris.iter().any(|u| u.scheme == Scheme::Stun),
            relay: RelayProtocol::ALL
                .into_iter()
                .filter(|p| uris.iter().any(|u| u.ice_relay_protocol() == Some(*p)))
                .collect(),
        }
    }
}

/// The runs (indices into `section.runs`) whose outcome decides the ICE
/// check `check`, given the servers the run was given (`options.servers`);
/// empty for other checks.
pub fn ice_check_runs(section: &IceSection, servers: &[String], check: &CheckId) -> Vec<usize> {
    let runs = |f: IceFilter, only: Option<RelayProtocol>| -> Vec<usize> {
        section
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.filter == f && r.relay_only == only)
            .map(|(i, _)| i)
            .collect()
    };
    match check {
        CheckId::IceHost => runs(IceFilter::HostHost, None),
        CheckId::IceSrflx => runs(IceFilter::SrflxSrflx, None),
        CheckId::IceRelay => runs(IceFilter::RelayRelay, None),
        CheckId::IceRelayUdp | CheckId::IceRelayTcp | CheckId::IceRelayTls => {
            let p = match check {
                CheckId::IceRelayUdp => RelayProtocol::Udp,
                CheckId::IceRelayTcp => RelayProtocol::Tcp,
                _ => RelayProtocol::Tls,
            };
            let only = runs(IceFilter::RelayRelay, Some(p));
            if only.is_empty() && IceServersGiven::from_labels(servers).relay == [p] {
                runs(IceFilter::RelayRelay, None)
            } else {
                only
            }
        }
        _ => Vec::new(),
    }
}

/// The name of a run in summary lines: the filter, and the relay
/// transport when the run was restricted to one.
fn run_name(r: &IceRun) -> String {
    match r.relay_only {
        Some(p) => format!("{} over TURN-{}", r.filter, p.upper()),
        None => r.filter.to_string(),
    }
}

/// Summary lines and the ICE checks.
impl IceServersGiven {
    /// Whether the servers a run needs were given (host runs need none).
    pub(crate) fn configured(&self, filter: IceFilter) -> bool {
        match filter {
            IceFilter::HostHost | IceFilter::All => true,
            IceFilter::SrflxSrflx => self.stun,
            IceFilter::RelayRelay | IceFilter::RelayHost => !self.relay.is_empty(),
        }
    }
}

pub(crate) fn summarize(section: &IceSection, given: &IceServersGiven, summary: &mut Summary) {
    let results = &section.runs;
    for r in results {
        let configured = given.configured(r.filter);
        let id = match r.filter {
            IceFilter::HostHost => Some(CheckId::IceHost),
            IceFilter::SrflxSrflx => Some(CheckId::IceSrflx),
            IceFilter::RelayRelay => Some(CheckId::IceRelay),
            IceFilter::RelayHost | IceFilter::All => None,
        };
        let name = run_name(r);
        if r.connected {
            let via = r
                .selected
                .as_ref()
                .and_then(|s| s.local_relay_protocol.or(s.remote_relay_protocol))
                .filter(|_| r.relay_only.is_none())
                .map(|p| format!(" (relayed via TURN-{})", p.upper()))
                .unwrap_or_default();
            let dc = if r.data_channel.as_ref().is_some_and(|d| d.works) {
                "; a WebRTC data channel (DTLS + SCTP) opened over it"
            } else {
                ""
            };
            summary.works.push(format!(
                "ICE {name}: connected and exchanged data both ways{via}{dc}"
            ));
        } else if configured {
            let why = r
                .failure
                .as_ref()
                .map(|f| f.describe())
                .unwrap_or_else(|| "did not connect".into());
            summary.problems.push(format!("ICE {name}: {why}"));
        }
        let Some(id) = id.filter(|_| r.relay_only.is_none()) else {
            continue;
        };
        summary.checks.push(Check::new(
            id,
            match (configured, r.connected) {
                (false, _) => CheckStatus::NotTested,
                (true, true) => CheckStatus::Pass,
                (true, false) => CheckStatus::Fail,
            },
            if !configured {
                format!("no server configured for {name}")
            } else if r.connected {
                format!("{name} connected")
            } else {
                format!("{name} did not connect")
            },
        ));
    }
    // One check per relay transport: the run restricted to it, or the
    // relay-relay run when it is the only transport configured.
    let relay_run = |p: RelayProtocol| {
        results
            .iter()
            .find(|r| r.filter == IceFilter::RelayRelay && r.relay_only == Some(p))
            .or_else(|| {
                (given.relay == [p])
                    .then(|| {
                        results
                            .iter()
                            .find(|r| r.filter == IceFilter::RelayRelay && r.relay_only.is_none())
                    })
                    .flatten()
            })
    };
    if !results.iter().any(|r| r.filter == IceFilter::RelayRelay) {
        return;
    }
    for p in RelayProtocol::ALL {
        let upper = p.upper();
        let (status, reason) = match relay_run(p) {
            _ if !given.relay.contains(&p) => (
                CheckStatus::NotTested,
                format!("no TURN server over {upper} configured for ICE"),
            ),
            None => (
                CheckStatus::NotTested,
                format!("relay-relay over TURN-{upper} was not run"),
            ),
            Some(r) if r.connected => (
                CheckStatus::Pass,
                format!("relay-relay over TURN-{upper} connected"),
            ),
            Some(r) => (
                CheckStatus::Fail,
                format!(
                    "relay-relay over TURN-{upper} did not connect: {}",
                    r.failure
                        .as_ref()
                        .map(|f| f.describe())
                        .unwrap_or_else(|| "no pair".into())
                ),
            ),
        };
        summary
            .checks
            .push(Check::new(CheckId::ice_relay(p), status, reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_given_follow_the_ice_transport_of_each_uri() {
        let labels = [
            "stun:192.0.2.1:3478",
            "turn:192.0.2.2?transport=tcp",
            "turns:turn.example.org",
            "turns:turn.example.org?transport=udp",
            "not a uri",
        ]
        .map(String::from);
        let given = IceServersGiven::from_labels(&labels);
        assert!(given.stun);
        assert_eq!(given.relay, [RelayProtocol::Tcp, RelayProtocol::Tls]);
        let none = IceServersGiven::from_labels(&["turn:192.0.2.2".to_owned()]);
        assert!(!none.stun);
        assert_eq!(none.relay, [RelayProtocol::Udp]);
    }
}

//! Which ICE runs to make (pure): one per candidate-type filter, and
//! relay↔relay once more per relay protocol when the TURN servers span
//! several, so that each transport is proved on its own.

use super::{IceServers, IceTurnTransport, TurnServerSpec};
use model::ice::{IceFilter, RelayProtocol};
use std::collections::HashMap;
use std::net::SocketAddr;

/// One planned run: a candidate-type filter, and optionally a restriction
/// to the TURN servers reached over one relay protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IceRunPlan {
    /// The candidate-type filter.
    pub filter: IceFilter,
    /// `Some(p)`: only TURN servers reached over `p`.
    pub relay_only: Option<RelayProtocol>,
}

/// The runs for `filters` (pure): each filter once with every server, and
/// — when the TURN servers span more than one relay protocol — relay↔relay
/// once more per protocol, so that each transport (TURN over UDP, TCP,
/// TLS) is proved on its own instead of only the one ICE prefers.
pub fn plan_runs(filters: &[IceFilter], servers: &IceServers) -> Vec<IceRunPlan> {
    let protocols = servers.relay_protocols();
    let mut out = Vec::new();
    for &filter in filters {
        out.push(IceRunPlan {
            filter,
            relay_only: None,
        });
        if filter == IceFilter::RelayRelay && protocols.len() > 1 {
            out.extend(protocols.iter().map(|p| IceRunPlan {
                filter,
                relay_only: Some(*p),
            }));
        }
    }
    out
}

/// TURN servers reached over TCP or TLS at the same address as an earlier
/// one (e.g. `turn:…:443?transport=tcp` and `turns:…:443` on a server that
/// tells them apart by the first byte): index → the earlier one's index.
/// rice-proto keeps one TCP connection per server address, so in a run with
/// both only the first gets one; the other is proved in its own
/// per-transport run ([`plan_runs`]).
pub(crate) fn shared_tcp_addresses(turn: &[TurnServerSpec]) -> HashMap<usize, usize> {
    let mut first: HashMap<SocketAddr, usize> = HashMap::new();
    let mut out = HashMap::new();
    for (i, t) in turn.iter().enumerate() {
        if matches!(t.transport, IceTurnTransport::Udp) {
            continue;
        }
        match first.get(&t.addr) {
            Some(&j) => {
                out.insert(i, j);
            }
            None => {
                first.insert(t.addr, i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ice::{IceTurnTransport, StunServerSpec, TurnServerSpec};
    use model::Secret;
    use std::net::SocketAddr;

    fn turn(port: u16, transport: IceTurnTransport) -> TurnServerSpec {
        TurnServerSpec {
            url: format!("turn:192.0.2.1:{port}"),
            addr: SocketAddr::from(([192, 0, 2, 1], port)),
            transport,
            username: "u".into(),
            password: Secret::new("p".to_string()),
        }
    }

    fn tls() -> IceTurnTransport {
        let config = crate::turn::tls::client_config(&crate::turn::TlsOptions {
            ca_pem: None,
            insecure: true,
        })
        .expect("an insecure client config needs no roots");
        IceTurnTransport::Tls {
            server_name: crate::turn::tls::server_name("turn.example.net").expect("a DNS name"),
            config,
        }
    }

    #[test]
    fn relay_relay_is_run_once_more_per_protocol_when_several_are_configured() {
        let servers = IceServers {
            stun: vec![StunServerSpec {
                url: "stun:192.0.2.1".into(),
                addr: SocketAddr::from(([192, 0, 2, 1], 3478)),
            }],
            turn: vec![
                turn(5349, tls()),
                turn(3478, IceTurnTransport::Udp),
                turn(3479, IceTurnTransport::Tcp),
            ],
        };
        let plan = plan_runs(&IceFilter::ALL_FILTERS, &servers);
        let relay: Vec<Option<RelayProtocol>> = plan
            .iter()
            .filter(|p| p.filter == IceFilter::RelayRelay)
            .map(|p| p.relay_only)
            .collect();
        assert_eq!(
            relay,
            [
                None,
                Some(RelayProtocol::Udp),
                Some(RelayProtocol::Tcp),
                Some(RelayProtocol::Tls)
            ]
        );
        assert_eq!(plan.len(), IceFilter::ALL_FILTERS.len() + 3);
        // Each restricted run sees only its own servers (and all STUN).
        let tcp_only = servers.only_relay(RelayProtocol::Tcp);
        assert_eq!(tcp_only.turn.len(), 1);
        assert_eq!(tcp_only.turn[0].addr.port(), 3479);
        assert_eq!(tcp_only.stun.len(), 1);
    }

    #[test]
    fn tcp_and_tls_on_one_address_share_it_with_the_first() {
        let turn_list = vec![
            turn(443, IceTurnTransport::Tcp),
            turn(443, IceTurnTransport::Udp),
            turn(443, tls()),
            turn(5349, tls()),
        ];
        let shared = shared_tcp_addresses(&turn_list);
        // Only the TLS server on :443 collides (with the TCP one); UDP on
        // the same port and TLS elsewhere do not.
        assert_eq!(shared.len(), 1);
        assert_eq!(shared.get(&2), Some(&0));
        // Each still gets its own per-transport run.
        let servers = IceServers {
            stun: Vec::new(),
            turn: turn_list,
        };
        assert_eq!(servers.only_relay(RelayProtocol::Tls).turn.len(), 2);
        assert!(shared_tcp_addresses(&servers.only_relay(RelayProtocol::Tls).turn).is_empty());
    }

    #[test]
    fn one_protocol_needs_no_extra_run() {
        let servers = IceServers {
            stun: Vec::new(),
            turn: vec![turn(5349, tls()), turn(5350, tls())],
        };
        let plan = plan_runs(&[IceFilter::RelayRelay], &servers);
        assert_eq!(
            plan,
            [IceRunPlan {
                filter: IceFilter::RelayRelay,
                relay_only: None
            }]
        );
        assert_eq!(servers.relay_protocols(), [RelayProtocol::Tls]);
    }
}

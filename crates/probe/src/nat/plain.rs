//! Plain RFC 8489 servers (no OTHER-ADDRESS): queried again, all from ONE
//! socket, so natclass can infer the mapping from the (server, mapped)
//! pairs. Filtering cannot be inferred this way (natclass says why).

use std::net::{IpAddr, SocketAddr};

use natclass::{PlainAnswer, PlainProbe, ServerObservation};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::plan::{TestPlan, discovery_config};
use super::rfc5780::{ServerRun, timed_request};
use super::{effective_local, unspecified_for};
use crate::stun::transaction::UdpStunClient;

/// Splits the runs into RFC 5780 observations and the plain probe. Plain
/// servers of the first plain server's address family go to the shared
/// socket; any of the other family stay as (not-RFC 5780) observations.
pub(crate) async fn split(
    runs: Vec<ServerRun>,
    bind: Option<IpAddr>,
    deadline: Instant,
) -> (Vec<ServerObservation>, Option<PlainProbe>) {
    let family_v4 = runs
        .iter()
        .find(|r| r.plain)
        .map(|r| r.obs.server.is_ipv4());
    let Some(v4) = family_v4 else {
        return (runs.into_iter().map(|r| r.obs).collect(), None);
    };
    let (plain, rest): (Vec<ServerRun>, Vec<ServerRun>) = runs
        .into_iter()
        .partition(|r| r.plain && r.obs.server.is_ipv4() == v4);
    let first = plain[0].obs.server; // `plain` holds at least the run found above
    let local = SocketAddr::new(bind.unwrap_or_else(|| unspecified_for(first)), 0);
    let mut probe = PlainProbe::default();
    match UdpStunClient::bind(local).await {
        Err(e) => {
            // Keep what each server's own test I showed.
            tracing::debug!("plain socket: {e}");
            return (rest.into_iter().chain(plain).map(|r| r.obs).collect(), None);
        }
        Ok(client) => {
            let client = std::sync::Arc::new(client);
            probe.local = Some(effective_local(client.local_addr(), first));
            let mut set = JoinSet::new();
            for (i, run) in plain.iter().enumerate() {
                let server = run.obs.server;
                let client = client.clone();
                set.spawn(async move {
                    let test = TestPlan {
                        to: server,
                        change: None,
                        expected_source: server,
                    };
                    (
                        i,
                        timed_request(&client, test, discovery_config(), deadline)
                            .await
                            .0,
                    )
                });
            }
            let mut replies = vec![natclass::Reply::NotRun; plain.len()];
            while let Some(joined) = set.join_next().await {
                if let Ok((i, reply)) = joined
                    && let Some(slot) = replies.get_mut(i)
                {
                    *slot = reply;
                }
            }
            probe.answers = plain
                .iter()
                .zip(replies)
                .map(|(run, reply)| PlainAnswer {
                    server: run.obs.server,
                    reply,
                    tcp_answered: run.obs.tcp_answered,
                })
                .collect();
        }
    }
    (rest.into_iter().map(|r| r.obs).collect(), Some(probe))
}

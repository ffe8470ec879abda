//! Port allocation samples: fresh sockets, one Binding each, in order, to
//! the server's address/port pairs ([`super::plan::port_sample_destinations`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use natclass::PortSample;
use tokio::time::Instant;

use super::plan::{TestPlan, fast_config, port_sample_destinations};
use super::rfc5780::timed_request;
use super::{effective_local, unspecified_for};
use crate::stun::transaction::UdpStunClient;

/// Takes up to `n` samples one after the other (the order is the NAT's
/// allocation order); a sample whose Binding fails is left out.
pub(crate) async fn port_samples(
    primary: SocketAddr,
    other: Option<SocketAddr>,
    n: usize,
    bind: Option<IpAddr>,
    rtt: Option<Duration>,
    deadline: Instant,
) -> Vec<PortSample> {
    let cfg = fast_config(rtt);
    let mut samples = Vec::new();
    for to in port_sample_destinations(primary, other, n) {
        if Instant::now() >= deadline {
            break;
        }
        let local = SocketAddr::new(bind.unwrap_or_else(|| unspecified_for(to)), 0);
        let Ok(client) = UdpStunClient::bind(local)
            .await
            .inspect(|c| super::fresh::mark(c.local_addr()))
        else {
            continue;
        };
        let test = TestPlan {
            to,
            change: None,
            expected_source: to,
        };
        let (reply, _, _) = timed_request(&client, test, cfg, deadline).await;
        if let Some(mapped) = reply.mapped() {
            samples.push(PortSample {
                local: effective_local(client.local_addr(), to),
                destination: to,
                mapped,
            });
        }
    }
    samples
}

//! Mapping lifetime (RFC 5780 §4.6, opt-in): socket X gets a mapping, stays
//! idle for T, then a second socket Y asks the server (RESPONSE-PORT = X's
//! public port) to answer to X's mapping. X receiving it means the mapping
//! outlived T. The idle intervals come from `natclass::next_lifetime_probe`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use natclass::{LifetimePlan, LifetimeProbe, next_lifetime_probe};
use tokio::time::Instant;

use super::plan::{TestPlan, discovery_config, fast_config};
use super::rfc5780::timed_request;
use super::unspecified_for;
use crate::stun::transaction::{UdpStunClient, binding_request};

/// Runs lifetime probes one after the other until the planner is done or
/// `deadline` (the lifetime budget) leaves no room for another.
pub(crate) async fn lifetime_probes(
    server: SocketAddr,
    bind: Option<IpAddr>,
    rtt: Option<Duration>,
    plan: LifetimePlan,
    deadline: Instant,
) -> Vec<LifetimeProbe> {
    let mut probes = Vec::new();
    // What one probe costs besides its idle time: test I plus the checks.
    let overhead = Duration::from_millis(500) + fast_config(rtt).total_wait();
    loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(overhead);
        let Some(idle) = next_lifetime_probe(&probes, left, &plan) else {
            break;
        };
        match one_probe(server, bind, idle, rtt, deadline).await {
            Some(alive) => probes.push(LifetimeProbe { idle, alive }),
            // Test I failed (loss, server gone): no observation; stop rather
            // than loop on a server that no longer answers.
            None => break,
        }
    }
    probes
}

/// One probe: `Some(alive)`, or `None` when X could not get a mapping.
async fn one_probe(
    server: SocketAddr,
    bind: Option<IpAddr>,
    idle: Duration,
    rtt: Option<Duration>,
    deadline: Instant,
) -> Option<bool> {
    let local = SocketAddr::new(bind.unwrap_or_else(|| unspecified_for(server)), 0);
    let x = UdpStunClient::bind(local).await.ok()?;
    let test = TestPlan {
        to: server,
        change: None,
        expected_source: server,
    };
    let (reply, _, _) = timed_request(&x, test, discovery_config(), deadline).await;
    let mapped = reply.mapped()?;
    tokio::time::sleep(idle).await;
    let y = UdpStunClient::bind(local).await.ok()?;
    let baseline = x.counters().received;
    let cfg = fast_config(rtt);
    let (_, req) = binding_request(None, Some(mapped.port()), Some(64), true);
    // The checks are not cut by `deadline`: their cost is part of the
    // overhead the planner's budget already leaves room for.
    for i in 0..cfg.rc.max(1) {
        // Sent from Y: only the server's answer can reach X, so X's
        // mapping is not refreshed by our own traffic.
        let _ = y.send_raw(&req, server).await;
        let wait = if i + 1 == cfg.rc.max(1) {
            cfg.final_wait()
        } else {
            cfg.initial_rto
        };
        tokio::time::sleep(wait).await;
        if x.counters().received > baseline {
            return Some(true);
        }
    }
    Some(false)
}

//! The RFC 5780 tests against one server: mapping tests I → II ∥ III on one
//! socket (§4.3), filtering tests I → II ∥ III on fresh sockets (§4.4,
//! repeated on [`super::plan::FILTERING_ROUNDS`] sockets and merged),
//! hairpinning (§4.5) and a TCP Binding in parallel (UDP blocked vs down).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use natclass::{FilteringTests, Hairpin, Reply, ServerObservation};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::hairpin::hairpin_test;
use super::plan::{
    TestPlan, best_rtt, discovery_config, fast_config, merge_filtering, reply_from, rtt_sample,
    server_plan, usable_other,
};
use super::{effective_local, unspecified_for};
use crate::stun::tcp::TcpStunClient;
use crate::stun::transaction::{
    RetransmitConfig, StunResponse, TransactionError, UdpStunClient, binding_request,
};

/// What test I against a server showed; shared with the filtering rounds,
/// the port sampler and the lifetime probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TestI {
    /// The server's primary address.
    pub server: SocketAddr,
    /// The mapped address, when answered.
    pub mapped: Option<SocketAddr>,
    /// OTHER-ADDRESS, when present.
    pub other: Option<SocketAddr>,
    /// A safe RTT sample (Karn), when answered.
    pub rtt: Option<Duration>,
}

impl TestI {
    /// Answered with a usable OTHER-ADDRESS.
    pub(crate) fn rfc5780(&self) -> bool {
        self.mapped.is_some() && self.other.is_some_and(|o| usable_other(self.server, o))
    }
}

/// Settings shared by every server's run.
#[derive(Debug, Clone)]
pub(crate) struct ServerCtx {
    pub bind: Option<IpAddr>,
    pub hairpin: bool,
    pub tcp: bool,
    pub filtering_rounds: usize,
    pub deadline: Instant,
}

/// The outcome of one server's run.
#[derive(Debug, Clone)]
pub(crate) struct ServerRun {
    pub obs: ServerObservation,
    /// Test I answered without OTHER-ADDRESS: a plain RFC 8489 server.
    pub plain: bool,
}

/// Runs one transaction and times it; returns the reply, the raw result
/// and a Karn-safe RTT sample.
pub(crate) async fn timed_request(
    client: &UdpStunClient,
    test: TestPlan,
    cfg: RetransmitConfig,
    deadline: Instant,
) -> (
    Reply,
    Result<StunResponse, TransactionError>,
    Option<Duration>,
) {
    let (_, req) = binding_request(test.change, None, None, true);
    let t0 = Instant::now();
    let result = client.request(req, test.to, cfg, deadline).await;
    let sample = result.as_ref().ok().map(|r| rtt_sample(r, t0.elapsed()));
    (reply_from(&result), result, sample)
}

fn bind_addr(server: SocketAddr, bind: Option<IpAddr>) -> SocketAddr {
    SocketAddr::new(bind.unwrap_or_else(|| unspecified_for(server)), 0)
}

/// A new TCP Binding attempt starts this often until one is answered: one
/// lost SYN (the kernel's first retransmission comes a second later) or a
/// lost segment never decides "not answered" on a lossy path.
const TCP_ATTEMPT_SPACING: Duration = Duration::from_millis(400);

/// The TCP Binding: `Some(true)` answered, `Some(false)` tried and not
/// answered (refused, or no attempt answered by `deadline`), `None` when it
/// could not be tried. Attempts are staggered ([`TCP_ATTEMPT_SPACING`]), each
/// on its own connection, so loss does not look like a dead server; a
/// refused connection (RST: loss cannot fake one) ends it at once.
async fn tcp_binding(server: SocketAddr, bind: Option<IpAddr>, deadline: Instant) -> Option<bool> {
    let mut attempts = JoinSet::new();
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next && now < deadline {
            attempts.spawn(tcp_binding_once(server, bind, deadline));
            next = now + TCP_ATTEMPT_SPACING;
        }
        let wake = next.min(deadline);
        tokio::select! {
            done = attempts.join_next(), if !attempts.is_empty() => match done {
                Some(Ok(TcpAttempt::Answered)) => return Some(true),
                Some(Ok(TcpAttempt::Refused)) => return Some(false),
                Some(Ok(TcpAttempt::CannotTry)) => return None,
                Some(Ok(TcpAttempt::NotAnswered) | Err(_)) | None => {}
            },
            _ = tokio::time::sleep_until(wake) => {
                if Instant::now() >= deadline {
                    return Some(false);
                }
            }
        }
    }
}

/// How one TCP Binding attempt ended.
enum TcpAttempt {
    Answered,
    Refused,
    NotAnswered,
    CannotTry,
}

async fn tcp_binding_once(
    server: SocketAddr,
    bind: Option<IpAddr>,
    deadline: Instant,
) -> TcpAttempt {
    let local = bind.map(|ip| SocketAddr::new(ip, 0));
    let mut client = match TcpStunClient::connect(server, local, deadline).await {
        Ok(c) => c,
        Err(TransactionError::Bind { .. }) => return TcpAttempt::CannotTry,
        Err(TransactionError::ConnectRefused(_)) => return TcpAttempt::Refused,
        Err(e) => {
            tracing::debug!("TCP Binding to {server}: {e}");
            return TcpAttempt::NotAnswered;
        }
    };
    let (_, req) = binding_request(None, None, None, true);
    match client.request(req, deadline).await {
        Ok(r) if r.is_success() => TcpAttempt::Answered,
        _ => TcpAttempt::NotAnswered,
    }
}

/// One filtering round on a fresh socket: control, then (once test I showed
/// an RFC 5780 server) tests II ∥ III with the RTT-adapted schedule.
async fn filtering_round(
    server: SocketAddr,
    bind: Option<IpAddr>,
    mut test1: watch::Receiver<Option<TestI>>,
    deadline: Instant,
) -> FilteringTests {
    let mut f = FilteringTests::default();
    let client = match super::fresh::bind_fresh(bind_addr(server, bind)).await {
        Ok(c) => c,
        Err(e) => {
            f.test1 = Reply::Error {
                message: e.to_string(),
            };
            return f;
        }
    };
    f.local = Some(effective_local(client.local_addr(), server));
    let control = TestPlan {
        to: server,
        change: None,
        expected_source: server,
    };
    let (reply, _, own_rtt) = timed_request(&client, control, discovery_config(), deadline).await;
    f.test1 = reply;
    if !f.test1.answered() {
        return f;
    }
    let ti = match tokio::time::timeout_at(deadline, test1.wait_for(Option::is_some)).await {
        Ok(Ok(v)) => *v,
        _ => None,
    };
    let Some(ti) = ti.filter(TestI::rfc5780) else {
        return f;
    };
    let Some(other) = ti.other else {
        return f;
    };
    let plan = server_plan(server, other);
    let cfg = fast_config(best_rtt([ti.rtt, own_rtt]));
    let (r2, r3) = tokio::join!(
        timed_request(&client, plan.filtering2, cfg, deadline),
        timed_request(&client, plan.filtering3, cfg, deadline),
    );
    f.test2 = r2.0;
    f.test3 = r3.0;
    f
}

/// Runs every RFC 5780 test against `server`. Test I's outcome is offered
/// on `first` (for the port sampler / lifetime probe).
pub(crate) async fn run_server(
    server: SocketAddr,
    ctx: ServerCtx,
    first: mpsc::Sender<TestI>,
) -> ServerRun {
    let deadline = ctx.deadline;
    let mut obs = ServerObservation::new(server);
    let tcp_task = ctx
        .tcp
        .then(|| tokio::spawn(tcp_binding(server, ctx.bind, deadline)));
    let (ti_tx, ti_rx) = watch::channel(None::<TestI>);
    let mut rounds = JoinSet::new();
    for i in 0..ctx.filtering_rounds.max(1) {
        rounds.spawn({
            let rx = ti_rx.clone();
            let bind = ctx.bind;
            async move { (i, filtering_round(server, bind, rx, deadline).await) }
        });
    }
    drop(ti_rx);

    let mut plain = false;
    match UdpStunClient::bind(bind_addr(server, ctx.bind))
        .await
        .inspect(|s| super::fresh::mark(s.local_addr()))
    {
        Err(e) => {
            obs.mapping.test1 = Reply::Error {
                message: e.to_string(),
            };
            let _ = ti_tx.send(Some(TestI {
                server,
                mapped: None,
                other: None,
                rtt: None,
            }));
            drop(first);
        }
        Ok(s1) => {
            obs.local = Some(effective_local(s1.local_addr(), server));
            let mut incoming = s1.incoming();
            let t1 = TestPlan {
                to: server,
                change: None,
                expected_source: server,
            };
            let (reply, result, rtt) = timed_request(&s1, t1, discovery_config(), deadline).await;
            let other = result.as_ref().ok().and_then(|r| r.parsed.other_address);
            obs.rfc3489 = result.as_ref().is_ok_and(|r| r.parsed.rfc3489);
            let ti = TestI {
                server,
                mapped: reply.mapped(),
                other,
                rtt,
            };
            obs.mapping.test1 = reply;
            obs.other_address = other;
            let _ = ti_tx.send(Some(ti));
            if ti.mapped.is_some() {
                // The port sampler only needs the first answer; a full
                // channel just means it has enough candidates.
                let _ = first.try_send(ti);
            }
            drop(first);
            plain = ti.mapped.is_some() && other.is_none();
            if let (Some(mapped), Some(other)) = (ti.mapped, other) {
                let cfg = fast_config(rtt);
                let plan = server_plan(server, other);
                let usable = ti.rfc5780();
                let hairpin_local =
                    SocketAddr::new(ctx.bind.unwrap_or_else(|| unspecified_for(server)), 0);
                let (r2, r3, hp) = tokio::join!(
                    async {
                        if usable {
                            Some(timed_request(&s1, plan.mapping2, cfg, deadline).await.0)
                        } else {
                            None
                        }
                    },
                    async {
                        if usable {
                            Some(timed_request(&s1, plan.mapping3, cfg, deadline).await.0)
                        } else {
                            None
                        }
                    },
                    async {
                        match (&mut incoming, ctx.hairpin) {
                            (Some(rx), true) => {
                                hairpin_test(rx, hairpin_local, mapped, cfg, deadline).await
                            }
                            _ => Hairpin::NotTested,
                        }
                    },
                );
                obs.mapping.test2 = r2.unwrap_or_default();
                obs.mapping.test3 = r3.unwrap_or_default();
                obs.hairpin = hp;
            }
        }
    }

    let mut results: Vec<Option<FilteringTests>> = vec![None; ctx.filtering_rounds.max(1)];
    while let Some(joined) = rounds.join_next().await {
        if let Ok((i, f)) = joined
            && let Some(slot) = results.get_mut(i)
        {
            *slot = Some(f);
        }
    }
    let rounds: Vec<FilteringTests> = results.into_iter().flatten().collect();
    obs.filtering = merge_filtering(&rounds);

    if let Some(mut task) = tcp_task {
        let udp_answered = obs.mapping.test1.answered() || obs.filtering.test1.answered();
        // With UDP working, TCP only adds a note: give it a short grace; it
        // does not hold the run up. Without UDP it decides blocked vs down.
        let until = if udp_answered {
            deadline.min(Instant::now() + Duration::from_millis(250))
        } else {
            deadline
        };
        obs.tcp_answered = match tokio::time::timeout_at(until, &mut task).await {
            Ok(Ok(v)) => v,
            _ => {
                task.abort();
                None
            }
        };
    }
    ServerRun { obs, plain }
}

//! `natscope peer`: this machine's side of a session with natscope on
//! another machine, met through a rendezvous (`crate::rendezvous`).
//!
//! Both sides run the same steps in lock step over the signalling
//! [`Channel`]:
//!
//! 1. `hello` both ways (protocol version, natscope version, whether the
//!    side has a TURN server);
//! 2. both policies at the same time (`direct`: host and srflx only;
//!    `relay-allowed`: TURN too; each message names its policy), each a
//!    real ICE session (rice-proto, [`crate::ice::run_remote`]):
//!    candidates through the channel, checks, pings and a short burst over
//!    the selected pair, a WebRTC data channel (str0m) whose SDP also goes
//!    through the channel, then `policy-done` with what was received of
//!    the other side's burst (its throughput);
//! 3. meanwhile, the plain UDP hole-punch measurement ([`punch`]) and TCP
//!    simultaneous open ([`tcp`]);
//! 4. each side's NAT verdict (the caller's NAT test, run meanwhile), so
//!    both reports hold both verdicts, the prediction
//!    (`natclass::holepunch`) and whether it held;
//! 5. `bye`.
//!
//! Every wait is bounded; a side that leaves, a message that cannot be
//! read, or a rendezvous that fails ends the session with a named
//! [`PeerFailure`] and what was measured so far.
//!
//! What happened is named by [`observe`] (pure): libp2p's vocabulary for
//! the `direct` policy (`success` = hole punched, `reversed` = one side
//! reachable unsolicited, `failed`).

pub mod punch;
pub mod signal;
pub mod tcp;

pub use signal::{
    Channel, RendezvousTransport, SignalFailure, SignalTransport, memory_pair, rendezvous_failure,
};

use crate::ice::{IceOptions, IceServers, run_remote};
use model::Section;
use model::ice::Side;
use model::peer::{
    HolePunch, PeerFailure, PeerObserved, PeerOutcome, PeerPolicy, PeerPolicyResult, PeerRole,
    PeerSection, SIGNAL_VERSION, Signal, path_name,
};
use natclass::{HolePunchOutcome, HolePunchPrediction, NatVerdict};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::time::Instant;

/// Bounds of a session.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// The ICE runs' bounds and host addresses.
    pub ice: IceOptions,
    /// The longest wait for one step of the other side (its hello, its
    /// `policy-done`, a hole-punch step).
    pub step_timeout: Duration,
    /// Make the plain UDP hole-punch measurement.
    pub punch: bool,
}

impl PeerOptions {
    /// Defaults for two machines on the internet: 5 s gathering, 5 s
    /// checks, 2 s per ping, 3 pings, data channel on, 10 s per step.
    pub fn internet(host_ips: Vec<IpAddr>) -> PeerOptions {
        PeerOptions {
            ice: IceOptions {
                host_ips,
                gather_timeout: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(5),
                payload_timeout: Duration::from_secs(2),
                pings: 3,
                data_channel: true,
            },
            step_timeout: Duration::from_secs(10),
            punch: true,
        }
    }
}

/// What the caller knows of the session before it starts.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// This side.
    pub role: PeerRole,
    /// The session's label from the rendezvous (not the code).
    pub session: Option<String>,
    /// The rendezvous URL, as shown.
    pub rendezvous: String,
}

fn side_of(role: PeerRole) -> Side {
    match role {
        PeerRole::Creator => Side::A,
        PeerRole::Joiner => Side::B,
    }
}

/// A signalling failure as the section's `failure`, with its remedy.
pub fn failure_of(e: &SignalFailure) -> PeerFailure {
    let (kind, remedy) = match e {
        SignalFailure::Timeout(_) => (
            "peer-timeout",
            "Check that the other side is still running; a very slow link or a stalled rendezvous also does this.",
        ),
        SignalFailure::PeerLeft(_) => (
            "peer-left",
            "See the other side's report for why it stopped.",
        ),
        SignalFailure::BadMessage(_) => (
            "peer-message",
            "Run the same natscope version on both sides; if it persists, the rendezvous or the other side is not natscope.",
        ),
        SignalFailure::Transport { kind, remedy, .. } => {
            return PeerFailure {
                kind: kind.clone(),
                message: e.to_string(),
                remedy: remedy.clone(),
            };
        }
    };
    PeerFailure {
        kind: kind.into(),
        message: e.to_string(),
        remedy: remedy.into(),
    }
}

/// Runs this side of the session over `channel` (the other side already
/// joined). `local_nat` is this side's NAT test, run meanwhile (its
/// verdict is sent near the end). Never fails: a failure is the section's
/// `failure` with what was measured before it.
pub async fn run(
    channel: &mut Channel,
    info: SessionInfo,
    servers: &IceServers,
    opts: &PeerOptions,
    local_nat: impl Future<Output = Option<NatVerdict>> + Send,
) -> PeerSection {
    let t0 = Instant::now();
    let nat_task = local_nat;
    tokio::pin!(nat_task);
    let mut section = PeerSection {
        session: info.session.clone(),
        ..PeerSection::empty(
            &info.rendezvous,
            info.role,
            "the session ended before the measurement",
        )
    };
    // Whether the NAT test's future has finished (it must not be polled
    // again then).
    let mut nat_done = false;
    let steps = steps(
        channel,
        &info,
        servers,
        opts,
        &mut section,
        (&mut nat_task, &mut nat_done),
    );
    let result = steps.await;
    if let Err(e) = &result {
        section.failure = Some(failure_of(e));
        // This side's NAT test ran meanwhile: keep its verdict (briefly
        // bounded: it has usually finished).
        if !nat_done {
            let bound = opts.step_timeout.min(Duration::from_secs(2));
            section.local_nat = tokio::time::timeout(bound, nat_task.as_mut())
                .await
                .ok()
                .flatten();
        }
        let bye = Signal::Bye {
            reason: Some(format!("this side stopped: {e}")),
        };
        let _ = channel.send(&bye).await;
    }
    for policy in PeerPolicy::ALL {
        if section.policy(policy).is_none() {
            section.policies.push(PeerPolicyResult {
                policy,
                outcome: PeerOutcome::NotTested,
                reason: Some("the session ended before this run".into()),
                path: None,
                throughput_kbps: None,
                ice: None,
            });
        }
    }
    if let Some(local) = &section.local_nat
        && let Some(remote) = &section.remote_nat
    {
        section.predicted = Some(natclass::holepunch(local, remote));
    }
    let (observed, held) = observe(
        &mut section.policies,
        &section.holepunch,
        section.predicted.as_ref(),
    );
    section.observed = observed;
    section.prediction_held = held;
    section.duration_ms = t0.elapsed().as_secs_f64() * 1e3;
    section
}

async fn steps(
    channel: &mut Channel,
    info: &SessionInfo,
    servers: &IceServers,
    opts: &PeerOptions,
    section: &mut PeerSection,
    (nat, nat_done): (
        &mut std::pin::Pin<&mut (impl Future<Output = Option<NatVerdict>> + Send)>,
        &mut bool,
    ),
) -> Result<(), SignalFailure> {
    let side = side_of(info.role);
    let hello = Signal::Hello {
        version: SIGNAL_VERSION,
        natscope: env!("CARGO_PKG_VERSION").into(),
        relay: !servers.turn.is_empty(),
    };
    channel.send(&hello).await?;
    let deadline = Instant::now() + opts.step_timeout;
    let (version, natscope, their_relay) = channel
        .recv("hello", deadline, None, |s| match s {
            Signal::Hello {
                version,
                natscope,
                relay,
            } => Some((*version, natscope.clone(), *relay)),
            _ => None,
        })
        .await?;
    section.remote_version = Some(natscope);
    if version != SIGNAL_VERSION {
        return Err(SignalFailure::BadMessage(format!(
            "signalling version {version}, this natscope speaks {SIGNAL_VERSION}"
        )));
    }

    // Both policies, the UDP hole punch and TCP simultaneous open, all at
    // once (each message names its step): a relay fallback does not wait
    // for the direct run to fail, nor the punches for either.
    let shared: &Channel = channel;
    let host_ip = opts
        .ice
        .host_ips
        .iter()
        .copied()
        .find(IpAddr::is_ipv4)
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let udp_punch = async {
        if !opts.punch {
            return Ok(Section::not_tested("turned off (--no-punch)"));
        }
        match punch::measure(shared, &servers.stun, host_ip, opts.step_timeout).await {
            Ok(h) => Ok(Section::Tested(h)),
            Err(punch::PunchSkipped::NotTested(why)) => Ok(Section::not_tested(why)),
            Err(punch::PunchSkipped::Signal(e)) => Err(e),
        }
    };
    // Its STUN request goes over TCP, so a STUN server silent over UDP is
    // still asked.
    let tcp_punch = async {
        if !opts.punch {
            return Ok(Section::not_tested("turned off (--no-punch)"));
        }
        match tcp::measure(shared, &servers.stun, host_ip, opts.step_timeout).await {
            Ok(t) => Ok(Section::Tested(t)),
            Err(punch::PunchSkipped::NotTested(why)) => Ok(Section::not_tested(why)),
            Err(punch::PunchSkipped::Signal(e)) => Err(e),
        }
    };
    let (direct, relay, udp, tcp) = tokio::join!(
        policy_run(shared, side, servers, opts, PeerPolicy::Direct, their_relay),
        policy_run(
            shared,
            side,
            servers,
            opts,
            PeerPolicy::RelayAllowed,
            their_relay
        ),
        udp_punch,
        tcp_punch,
    );
    // What was measured is kept even when the signalling failed in one
    // of them; the first failure then ends the session.
    let mut failed = None;
    for (result, e) in [direct, relay] {
        section.policies.push(result);
        failed = failed.or(e);
    }
    match udp {
        Ok(h) => section.holepunch = h,
        Err(e) => failed = failed.or(Some(e)),
    }
    match tcp {
        Ok(t) => section.tcp = t,
        Err(e) => failed = failed.or(Some(e)),
    }
    if let Some(e) = failed {
        return Err(e);
    }

    // This side's NAT verdict (its test ran meanwhile), bounded.
    let verdict = match tokio::time::timeout(opts.step_timeout, nat.as_mut()).await {
        Ok(v) => {
            *nat_done = true;
            v
        }
        Err(_) => None,
    };
    section.local_nat = verdict.clone();
    channel.send(&Signal::Nat { nat: verdict }).await?;
    let deadline = Instant::now() + opts.step_timeout * 2;
    section.remote_nat = channel
        .recv("NAT verdict", deadline, None, |s| match s {
            Signal::Nat { nat } => Some(nat.clone()),
            _ => None,
        })
        .await?;
    channel.send(&Signal::Bye { reason: None }).await?;
    // Its goodbye, briefly (a side that closes the session first makes
    // the other's wait end with "unknown session": that is fine here).
    let _ = channel
        .recv(
            "goodbye",
            Instant::now() + Duration::from_secs(2),
            None,
            |s| matches!(s, Signal::Bye { .. }).then_some(()),
        )
        .await;
    Ok(())
}

/// One policy's ICE run with the other side; with the signalling failure
/// that cut its end short, if any (what was measured is kept).
async fn policy_run(
    channel: &Channel,
    side: Side,
    servers: &IceServers,
    opts: &PeerOptions,
    policy: PeerPolicy,
    their_relay: bool,
) -> (PeerPolicyResult, Option<SignalFailure>) {
    if policy == PeerPolicy::RelayAllowed && servers.turn.is_empty() && !their_relay {
        let result = PeerPolicyResult {
            policy,
            outcome: PeerOutcome::NotTested,
            reason: Some("neither side has a TURN server (give one with --turn)".into()),
            path: None,
            throughput_kbps: None,
            ice: None,
        };
        return (result, None);
    }
    let servers = match policy {
        PeerPolicy::Direct => IceServers {
            stun: servers.stun.clone(),
            turn: Vec::new(),
        },
        PeerPolicy::RelayAllowed => servers.clone(),
    };
    let mut ps = signal::PolicySignal { channel, policy };
    let (result, burst) = run_remote(side, &servers, &opts.ice, &mut ps).await;
    let connected = result.failure.is_none();
    let done = Signal::PolicyDone {
        policy,
        connected,
        burst_received: burst.bytes,
        burst_span_us: u64::try_from(burst.span.as_micros()).unwrap_or(u64::MAX),
    };
    let their_end = async {
        channel.send(&done).await?;
        let deadline = Instant::now() + opts.step_timeout + opts.ice.run_bound();
        channel
            .recv("end of the run", deadline, None, |s| match s {
                Signal::PolicyDone {
                    policy: p,
                    connected,
                    burst_received,
                    burst_span_us,
                } if *p == policy => Some((*connected, *burst_received, *burst_span_us)),
                _ => None,
            })
            .await
    };
    let (their, failure) = match their_end.await {
        Ok(t) => (Some(t), None),
        Err(e) => (None, Some(e)),
    };
    channel.forget_policy(policy);
    let model_run = model::ice::IceRun::from(&result);
    let path = result
        .selected
        .as_ref()
        .map(|p| path_name(p.local_kind, p.remote_kind));
    let (outcome, reason) = match (connected, their.map(|t| t.0)) {
        (true, Some(true)) => (PeerOutcome::Success, None),
        (true, Some(false)) => (
            PeerOutcome::Failed,
            Some("this side connected, the other side did not".to_string()),
        ),
        (true, None) => (
            PeerOutcome::Failed,
            Some("this side connected; the other side's end of the run never came".to_string()),
        ),
        (false, _) => (
            PeerOutcome::Failed,
            result.failure.as_ref().map(ToString::to_string),
        ),
    };
    let result = PeerPolicyResult {
        policy,
        outcome,
        reason,
        path,
        throughput_kbps: their.and_then(|t| throughput(t.1, t.2)),
        ice: Some(model_run),
    };
    (result, failure)
}

/// kbit/s from bytes received over a span in µs (a span under 1 ms counts
/// as 1 ms: the figure is short, not exact).
fn throughput(bytes: u64, span_us: u64) -> Option<f64> {
    (bytes > 0).then(|| bytes as f64 * 8.0 / (span_us.max(1000) as f64 / 1e6) / 1e3)
}

/// Names what happened (pure): refines the `direct` outcome with the hole
/// punch (`reversed` when a side was reachable unsolicited), says what was
/// observed, and whether the prediction held (by category: direct without
/// punching, direct by punching, or relay).
pub fn observe(
    policies: &mut [PeerPolicyResult],
    punch: &Section<HolePunch>,
    predicted: Option<&HolePunchPrediction>,
) -> (PeerObserved, Option<bool>) {
    let reachable = punch
        .tested()
        .map(|h| h.local_reachable || h.remote_reachable);
    let mut direct_ok = false;
    let mut relay_ok = false;
    let mut relay_path = false;
    let mut tested = false;
    for p in policies.iter_mut() {
        match (p.policy, p.outcome) {
            (_, PeerOutcome::NotTested) => {}
            (PeerPolicy::Direct, PeerOutcome::Success | PeerOutcome::Reversed) => {
                tested = true;
                direct_ok = true;
                if reachable == Some(true) {
                    p.outcome = PeerOutcome::Reversed;
                }
            }
            (PeerPolicy::RelayAllowed, PeerOutcome::Success | PeerOutcome::Reversed) => {
                tested = true;
                relay_ok = true;
                relay_path = p.path.as_deref().is_some_and(|s| s.contains("relay"));
            }
            (_, PeerOutcome::Failed) => tested = true,
        }
    }
    let observed = if direct_ok {
        match reachable {
            Some(true) => PeerObserved::Direct,
            // Without the measurement, a direct path is counted as punched.
            Some(false) | None => PeerObserved::HolePunched,
        }
    } else if relay_ok && relay_path {
        PeerObserved::Relayed
    } else if relay_ok {
        // relay-allowed found a direct path the direct policy missed.
        PeerObserved::HolePunched
    } else if tested {
        PeerObserved::NoConnection
    } else {
        PeerObserved::Unknown
    };
    let held = predicted.and_then(|p| {
        let direct = matches!(observed, PeerObserved::Direct | PeerObserved::HolePunched);
        match (p.outcome, observed) {
            (_, PeerObserved::Unknown) | (HolePunchOutcome::Unknown, _) => None,
            (HolePunchOutcome::Direct, _) => Some(observed == PeerObserved::Direct),
            (HolePunchOutcome::DirectLikely, _) => Some(direct),
            (HolePunchOutcome::RelayNeeded, _) => Some(!direct),
        }
    });
    (observed, held)
}

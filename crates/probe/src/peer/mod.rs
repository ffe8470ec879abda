//! `natscope peer`: this machine's side of a session with natscope on
//! another machine, met through a rendezvous (`crate::rendezvous`).
//!
//! Both sides run the same steps in lock step over the signalling
//! [`Channel`]:
//!
//! 1. `hello` both ways (protocol version, natscope version, whether the
//!    side has a TURN server);
//! 2. per policy (`direct`: host and srflx only; `relay-allowed`: TURN
//!    too), a real ICE session (rice-proto, [`crate::ice::run_remote`]):
//!    candidates through the channel, checks, pings and a short burst over
//!    the selected pair, a WebRTC data channel (str0m) whose SDP also goes
//!    through the channel, then `policy-done` with what was received of
//!    the other side's burst (its throughput);
//! 3. the plain UDP hole-punch measurement ([`punch`]);
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
    let steps = steps(channel, &info, servers, opts, &mut section, &mut nat_task);
    let result = steps.await;
    if let Err(e) = &result {
        section.failure = Some(failure_of(e));
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
    nat: &mut std::pin::Pin<&mut (impl Future<Output = Option<NatVerdict>> + Send)>,
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

    let mut stun_silent = false;
    for policy in PeerPolicy::ALL {
        if policy == PeerPolicy::RelayAllowed && servers.turn.is_empty() && !their_relay {
            section.policies.push(PeerPolicyResult {
                policy,
                outcome: PeerOutcome::NotTested,
                reason: Some("neither side has a TURN server (give one with --turn)".into()),
                path: None,
                throughput_kbps: None,
                ice: None,
            });
            continue;
        }
        // STUN servers that gave the direct run nothing are not asked
        // again (each silent one costs the whole gathering deadline).
        let stun = if stun_silent {
            Vec::new()
        } else {
            servers.stun.clone()
        };
        let servers = match policy {
            PeerPolicy::Direct => IceServers {
                stun,
                turn: Vec::new(),
            },
            PeerPolicy::RelayAllowed => IceServers {
                stun,
                turn: servers.turn.clone(),
            },
        };
        let mut ps = signal::PolicySignal {
            channel: &mut *channel,
            policy,
        };
        let (result, burst) = run_remote(side, &servers, &opts.ice, &mut ps).await;
        let connected = result.failure.is_none();
        stun_silent |= !servers.stun.is_empty() && no_srflx_answer(&result);
        let done = Signal::PolicyDone {
            policy,
            connected,
            burst_received: burst.bytes,
            burst_span_us: u64::try_from(burst.span.as_micros()).unwrap_or(u64::MAX),
        };
        channel.send(&done).await?;
        let deadline = Instant::now() + opts.step_timeout + opts.ice.run_bound();
        let (their_connected, their_bytes, their_span) = channel
            .recv("end of the run", deadline, None, |s| match s {
                Signal::PolicyDone {
                    policy: p,
                    connected,
                    burst_received,
                    burst_span_us,
                } if *p == policy => Some((*connected, *burst_received, *burst_span_us)),
                _ => None,
            })
            .await?;
        channel.forget_policy(policy);
        let model_run = model::ice::IceRun::from(&result);
        let path = result
            .selected
            .as_ref()
            .map(|p| path_name(p.local_kind, p.remote_kind));
        let (outcome, reason) = match (connected, their_connected) {
            (true, true) => (PeerOutcome::Success, None),
            (true, false) => (
                PeerOutcome::Failed,
                Some("this side connected, the other side did not".to_string()),
            ),
            (false, _) => (
                PeerOutcome::Failed,
                result.failure.as_ref().map(ToString::to_string),
            ),
        };
        section.policies.push(PeerPolicyResult {
            policy,
            outcome,
            reason,
            path,
            throughput_kbps: throughput(their_bytes, their_span),
            ice: Some(model_run),
        });
    }

    if opts.punch {
        let host_ip = opts
            .ice
            .host_ips
            .iter()
            .copied()
            .find(IpAddr::is_ipv4)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let stun = if stun_silent {
            &[][..]
        } else {
            &servers.stun[..]
        };
        section.holepunch = match punch::measure(channel, stun, host_ip, opts.step_timeout).await {
            Ok(h) => Section::Tested(h),
            Err(punch::PunchSkipped::NotTested(why)) => Section::not_tested(why),
            Err(punch::PunchSkipped::Signal(e)) => return Err(e),
        };
    } else {
        section.holepunch = Section::not_tested("turned off (--no-punch)");
    }

    // This side's NAT verdict (its test ran meanwhile), bounded.
    let verdict = tokio::time::timeout(opts.step_timeout, nat.as_mut())
        .await
        .ok()
        .flatten();
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

/// Whether every STUN server stayed silent for this side's srflx requests
/// (UDP to them is blocked): no srflx candidate, and each problem is "no
/// response".
fn no_srflx_answer(r: &crate::ice::IceRunResult) -> bool {
    use crate::ice::GatherError;
    use model::ice::CandidateType;
    r.agents.iter().all(|a| {
        !a.candidates.iter().any(|c| c.kind == CandidateType::Srflx)
            && a.server_problems
                .iter()
                .filter(|p| p.kind == CandidateType::Srflx)
                .all(|p| matches!(p.error, GatherError::NoResponse))
            && a.server_problems
                .iter()
                .any(|p| p.kind == CandidateType::Srflx)
    })
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

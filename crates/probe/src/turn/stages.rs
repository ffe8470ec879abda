//! The stage script: unauthenticated Allocate (the 401 challenge),
//! Allocate, CreatePermission, Send/Data round trip, ChannelBind and
//! ChannelData round trip, Refresh, quality, Deallocate — each timed and
//! recorded in the model's result, each failure named — plus what the
//! additive stages share.

use super::config::TurnProbeConfig;
use super::creds::{ResolvedCredentials, TurnAuth, unix_now};
use super::echo::EchoAllocation;
use super::failure::{PumpError, map_pump, name_code, name_failure};
use super::quality::run_burst;
use super::refresh::DEFAULT_LIFETIME_SECS;
use super::session::{Session, allocation_outcome, boxed, permission_outcome};
use model::servers::ServerUri;
use model::turn::{DataPath, TurnFailure, TurnStage, TurnTransportResult};
use std::net::SocketAddr;
use std::time::Duration;
use turn_client_proto::api::{TurnClientApi, TurnEvent};
use turn_client_proto::types::TransportType;
use turn_client_proto::types::message::{ALLOCATE, CHANNEL_BIND, CREATE_PERMISSION, REFRESH};

pub(super) fn ms_since(t: tokio::time::Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

impl Session {
    /// A request stage's time: the server's answer time on the wire for
    /// its `method` requests since `mark` ([`super::tap::Tap::wire_ms`]),
    /// else (no answer) the time waited since `started`. turn-client-proto
    /// paces requests at least 50 ms apart; that wait is the client's, not
    /// the server's, and is left out.
    fn stage_ms(
        &self,
        mark: super::tap::WireMark,
        method: turn_client_proto::types::stun::message::Method,
        started: tokio::time::Instant,
    ) -> f64 {
        self.tap
            .wire_ms(mark, method)
            .unwrap_or_else(|| ms_since(started))
    }
}

/// Appends `note` to the note of `stage`, if that stage was recorded.
pub(super) fn add_note(r: &mut TurnTransportResult, stage: TurnStage, note: &str) {
    if let Some(st) = r.stages.iter_mut().find(|s| s.stage == stage) {
        st.note = Some(match st.note.take() {
            Some(n) => format!("{n}; {note}"),
            None => note.to_string(),
        });
    }
}

/// Records every main TURN stage after `from` that has no result yet as not
/// tested, with `note`.
pub(super) fn all_later(r: &mut TurnTransportResult, from: TurnStage, note: &str) {
    later_than(r, from, note, true);
}

/// [`all_later`] except `deallocate`, for when the allocation exists and is
/// still deleted (and recorded) afterwards.
pub(super) fn all_later_but_deallocate(r: &mut TurnTransportResult, from: TurnStage, note: &str) {
    later_than(r, from, note, false);
}

pub(super) fn later_than(
    r: &mut TurnTransportResult,
    from: TurnStage,
    note: &str,
    deallocate: bool,
) {
    for st in TurnStage::MAIN {
        if st as u8 > from as u8
            && r.stage(st).is_none()
            && (deallocate || st != TurnStage::Deallocate)
        {
            r.not_tested(st, note);
        }
    }
}

pub(super) enum Flow {
    Done,
    /// 300 Try Alternate with ALTERNATE-SERVER `to`, answered to the
    /// Allocate of `stage`.
    Redirect {
        to: SocketAddr,
        stage: TurnStage,
    },
}

/// What an additive stage (IPv6 relay, RFC 6062) needs before it runs: the
/// IPv4 allocation passed, a server address and credentials. `None` after
/// recording the stage as not tested with the reason.
pub(super) fn additive_inputs(
    uri: &ServerUri,
    cfg: &TurnProbeConfig,
    r: &mut TurnTransportResult,
    stage: TurnStage,
    not_allocated: &str,
) -> Option<(SocketAddr, ResolvedCredentials)> {
    let allocated = matches!(
        r.stage(TurnStage::Allocate).map(|s| &s.status),
        Some(model::turn::StageStatus::Passed)
    );
    if !allocated {
        r.not_tested(stage, not_allocated);
        return None;
    }
    let auth = cfg.auth.clone().or_else(|| TurnAuth::from_uri(uri));
    let (Some(server), Some(auth)) = (r.server, auth) else {
        r.not_tested(stage, "no server address or credentials");
        return None;
    };
    Some((server, auth.resolve(unix_now())))
}

/// `fut` within `limit`; running out is `TurnFailure::Timeout`.
pub(super) async fn bounded<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, TurnFailure>>,
) -> Result<T, TurnFailure> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or(Err(TurnFailure::Timeout {
            after_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
        }))
}

/// Records `stage` as failed with `f`, timed from `since`, and ends the
/// transport's run.
pub(super) fn stage_failed(
    r: &mut TurnTransportResult,
    stage: TurnStage,
    since: tokio::time::Instant,
    f: TurnFailure,
) -> Flow {
    r.fail(stage, Some(ms_since(since)), f);
    Flow::Done
}

impl Session {
    /// Times one relay round-trip stage (`DataRoundTrip` through Send/Data
    /// indications, or `ChannelRoundTrip` through ChannelData) and records
    /// it: a timeout means no relayed data came back.
    pub(super) async fn round_trip_stage(
        &mut self,
        r: &mut TurnTransportResult,
        stage: TurnStage,
        peer: SocketAddr,
        payload: &[u8],
        timeout: Duration,
    ) {
        let started = tokio::time::Instant::now();
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        match self.round_trip(peer, payload, timeout).await {
            Ok(()) => r.pass(stage, ms_since(started), None),
            Err(PumpError::Timeout) => r.fail(
                stage,
                Some(ms_since(started)),
                TurnFailure::NoRelayedData {
                    after_ms: timeout_ms,
                },
            ),
            Err(e) => r.fail(stage, Some(ms_since(started)), map_pump(e, timeout_ms)),
        }
    }

    /// The stage script. Each phase is its own boxed future: in one
    /// function, the futures of every stage made a poll frame of more than
    /// half a megabyte in debug builds (tokio's worker stacks are 2 MiB).
    pub(super) async fn run_stages(
        &mut self,
        uri: &ServerUri,
        transport: model::turn::TurnTransport,
        server: SocketAddr,
        cfg: &TurnProbeConfig,
        creds: Option<&ResolvedCredentials>,
        r: &mut TurnTransportResult,
    ) -> Flow {
        if let Some(flow) = boxed(|| self.challenge(cfg, r)).await {
            return flow;
        }
        let Some(creds) = creds else {
            r.not_tested(TurnStage::Allocate, "no credentials given");
            all_later(r, TurnStage::Allocate, "no credentials given");
            return Flow::Done;
        };

        if let Some(flow) = boxed(|| self.authenticate(cfg, creds, r)).await {
            return flow;
        }
        boxed(|| self.relay_stages(uri, transport, server, cfg, creds, r)).await
    }

    /// The unauthenticated Allocate and its 401 challenge (realm checked).
    /// `Some` when the script ends here.
    async fn challenge(
        &mut self,
        cfg: &TurnProbeConfig,
        r: &mut TurnTransportResult,
    ) -> Option<Flow> {
        let timeout_ms = cfg.stage_timeout.as_millis() as u64;
        let stage_deadline = || tokio::time::Instant::now() + cfg.stage_timeout;
        // --- unauthenticated Allocate -> 401 ---
        let t0 = tokio::time::Instant::now();
        let m0 = self.tap.wire_mark();
        let res = self
            .pump(stage_deadline(), |s| {
                s.tap.first_401.is_some()
                    || s.tap.last_error_for(ALLOCATE).is_some()
                    || s.events.iter().any(|e| allocation_outcome(e).is_some())
            })
            .await;
        if let Err(e) = res {
            r.fail(
                TurnStage::UnauthenticatedAllocate,
                Some(ms_since(t0)),
                map_pump(e, timeout_ms),
            );
            all_later(
                r,
                TurnStage::UnauthenticatedAllocate,
                "earlier stage failed",
            );
            return Some(Flow::Done);
        }
        r.realm = self.tap.realm.clone();
        let Some(_) = self.tap.first_401 else {
            if let Some((300, _)) = self.tap.last_error_for(ALLOCATE)
                && let Some(alt) = self.tap.alternate
            {
                return Some(Flow::Redirect {
                    to: alt,
                    stage: TurnStage::UnauthenticatedAllocate,
                });
            }
            let f = match self.tap.last_error_for(ALLOCATE) {
                Some((code, reason)) => name_code(ALLOCATE, code, reason),
                None => TurnFailure::UnexpectedResponse {
                    detail: "Allocate without credentials succeeded (no 401 challenge)".into(),
                },
            };
            r.fail(
                TurnStage::UnauthenticatedAllocate,
                Some(self.stage_ms(m0, ALLOCATE, t0)),
                f,
            );
            all_later(
                r,
                TurnStage::UnauthenticatedAllocate,
                "earlier stage failed",
            );
            return Some(Flow::Done);
        };
        r.pass(
            TurnStage::UnauthenticatedAllocate,
            self.stage_ms(m0, ALLOCATE, t0),
            self.tap
                .realm
                .as_ref()
                .map(|rl| format!("401 with realm {rl:?}")),
        );
        if let (Some(exp), Some(srv)) = (&cfg.expected_realm, &self.tap.realm)
            && exp != srv
        {
            r.fail(
                TurnStage::Allocate,
                None,
                TurnFailure::RealmMismatch {
                    expected: exp.clone(),
                    server: srv.clone(),
                },
            );
            all_later(r, TurnStage::Allocate, "earlier stage failed");
            return Some(Flow::Done);
        }
        None
    }

    /// The authenticated Allocate. `Some` when the script ends here.
    async fn authenticate(
        &mut self,
        cfg: &TurnProbeConfig,
        creds: &ResolvedCredentials,
        r: &mut TurnTransportResult,
    ) -> Option<Flow> {
        let timeout_ms = cfg.stage_timeout.as_millis() as u64;
        let stage_deadline = || tokio::time::Instant::now() + cfg.stage_timeout;
        // --- authenticated Allocate ---
        let t1 = tokio::time::Instant::now();
        let m1 = self.tap.wire_mark();
        let (res, created) = self.await_allocation(stage_deadline()).await;
        if !created {
            let errs_after_401: Vec<_> = self
                .tap
                .last_error
                .iter()
                .filter(|(m, _, _)| *m == ALLOCATE)
                .skip(1)
                .cloned()
                .collect();
            if let Some((_, 300, _)) = errs_after_401.last()
                && let Some(alt) = self.tap.alternate
            {
                return Some(Flow::Redirect {
                    to: alt,
                    stage: TurnStage::Allocate,
                });
            }
            let f = match (res, errs_after_401.last()) {
                // One 438 and no answer to the retry: not a stale nonce.
                (Err(e), Some((_, 438, _))) if self.tap.allocate_stale_in_a_row() < 2 => {
                    map_pump(e, timeout_ms)
                }
                (_, Some((_, 401, _))) => match creds.rest_expiry_unix {
                    Some(exp) if exp <= unix_now() => TurnFailure::RestCredentialExpired {
                        expiry_unix: exp,
                        now_unix: unix_now(),
                    },
                    Some(_) => TurnFailure::RestCredentialRejected,
                    None => TurnFailure::WrongCredentials,
                },
                (res, last) => name_failure(
                    ALLOCATE,
                    last.map(|(_, code, reason)| (*code, reason.clone())),
                    res,
                    timeout_ms,
                ),
            };
            r.fail(
                TurnStage::Allocate,
                Some(self.stage_ms(m1, ALLOCATE, t1)),
                f,
            );
            all_later(r, TurnStage::Allocate, "earlier stage failed");
            return Some(Flow::Done);
        }
        self.events.clear();
        r.relayed_address = self
            .client
            .relayed_addresses()
            .next()
            .map(|(_, a)| a)
            .or(self.tap.relayed);
        r.mapped_address = self.tap.mapped;
        r.lifetime_secs = self.tap.lifetime;
        let note = if self.tap.stale_nonces > 0 {
            Some("stale nonce (438), retried once".to_string())
        } else {
            None
        };
        r.pass(TurnStage::Allocate, self.stage_ms(m1, ALLOCATE, t1), note);

        None
    }

    /// The peer, CreatePermission, the two round trips, Refresh, quality
    /// and Deallocate.
    async fn relay_stages(
        &mut self,
        uri: &ServerUri,
        transport: model::turn::TurnTransport,
        server: SocketAddr,
        cfg: &TurnProbeConfig,
        creds: &ResolvedCredentials,
        r: &mut TurnTransportResult,
    ) -> Flow {
        let timeout_ms = cfg.stage_timeout.as_millis() as u64;
        let stage_deadline = || tokio::time::Instant::now() + cfg.stage_timeout;
        // --- the peer: by default a second allocation on the same server
        // (relay to relay: works behind any NAT that lets TURN work) ---
        let mut echo = None;
        let peer = match (cfg.peer, r.relayed_address) {
            (Some(p), _) => {
                r.data_path = Some(DataPath::GivenPeer);
                p
            }
            (None, Some(main_relayed)) => {
                let start = boxed(|| {
                    EchoAllocation::start(uri, transport, server, cfg, creds, main_relayed)
                });
                match start.await {
                    Ok(e) => {
                        r.data_path = Some(DataPath::RelayToRelay);
                        let a = e.relayed;
                        echo = Some(e);
                        a
                    }
                    Err(f) => {
                        // The relay cannot be tested without a peer: said,
                        // not failed.
                        let why = format!(
                            "no echo peer: a second allocation on the server failed ({}); \
                             pass --peer ADDR to test relaying",
                            f.describe()
                        );
                        all_later_but_deallocate(r, TurnStage::Allocate, &why);
                        boxed(|| self.deallocate(cfg, creds, r)).await;
                        return Flow::Done;
                    }
                }
            }
            (None, None) => {
                let why = "no echo peer: the allocation has no relayed address";
                all_later_but_deallocate(r, TurnStage::Allocate, why);
                boxed(|| self.deallocate(cfg, creds, r)).await;
                return Flow::Done;
            }
        };
        r.peer = Some(peer);
        // A relay reaches peers of its own family only (RFC 6156 §4): an
        // IPv6 --peer on an IPv4 relay (or the reverse) cannot be tested.
        if let Some(relayed) = r.relayed_address
            && relayed.is_ipv4() != peer.is_ipv4()
        {
            let why = format!(
                "the peer {peer} is {} but the relayed address {relayed} is {}: a relay reaches \
                 peers of its own family only (RFC 6156); pass a --peer of the relay's family",
                family_word(peer),
                family_word(relayed)
            );
            all_later_but_deallocate(r, TurnStage::Allocate, &why);
            boxed(|| self.deallocate(cfg, creds, r)).await;
            if let Some(e) = echo.take() {
                boxed(|| e.stop()).await;
            }
            return Flow::Done;
        }

        // --- CreatePermission ---
        let t2 = tokio::time::Instant::now();
        let m2 = self.tap.wire_mark();
        let now = self.now();
        let issued = self
            .client
            .create_permission(TransportType::Udp, peer.ip(), now)
            .is_ok();
        let deadline = stage_deadline();
        let (created, res) = boxed(|| self.settle(issued, deadline, permission_outcome)).await;
        if !created {
            let answer = self.tap.last_error_for(CREATE_PERMISSION);
            let f = name_failure(CREATE_PERMISSION, answer, res, timeout_ms);
            r.fail(
                TurnStage::CreatePermission,
                Some(self.stage_ms(m2, CREATE_PERMISSION, t2)),
                f,
            );
            all_later_but_deallocate(r, TurnStage::CreatePermission, "earlier stage failed");
            boxed(|| self.deallocate(cfg, creds, r)).await;
            if let Some(e) = echo.take() {
                boxed(|| e.stop()).await;
            }
            return Flow::Done;
        }
        r.pass(
            TurnStage::CreatePermission,
            self.stage_ms(m2, CREATE_PERMISSION, t2),
            None,
        );
        // The echo allocation permits ours, and starts returning our data.
        if let (Some(e), Some(main_relayed)) = (echo.as_mut(), r.relayed_address)
            && let Err(f) = boxed(|| e.run(main_relayed, cfg)).await
        {
            let why = format!(
                "no echo peer: the second allocation could not permit ours ({}); \
                 pass --peer ADDR to test relaying",
                f.describe()
            );
            all_later_but_deallocate(r, TurnStage::CreatePermission, &why);
            boxed(|| self.deallocate(cfg, creds, r)).await;
            if let Some(e) = echo.take() {
                boxed(|| e.stop()).await;
            }
            return Flow::Done;
        }

        // --- Send/Data indication round trip ---
        boxed(|| {
            self.round_trip_stage(
                r,
                TurnStage::DataRoundTrip,
                peer,
                b"natscope-turn-data-indication...",
                cfg.stage_timeout,
            )
        })
        .await;

        // --- ChannelBind ---
        let t4 = tokio::time::Instant::now();
        let m4 = self.tap.wire_mark();
        let now = self.now();
        let issued = self
            .client
            .bind_channel(TransportType::Udp, peer, now)
            .is_ok();
        let deadline = stage_deadline();
        let (bound, res) = boxed(|| {
            self.settle(issued, deadline, |e| match e {
                TurnEvent::ChannelCreated(..) => Some(true),
                TurnEvent::ChannelCreateFailed(..) => Some(false),
                _ => None,
            })
        })
        .await;
        if bound {
            r.pass(
                TurnStage::ChannelBind,
                self.stage_ms(m4, CHANNEL_BIND, t4),
                None,
            );
            boxed(|| {
                self.round_trip_stage(
                    r,
                    TurnStage::ChannelRoundTrip,
                    peer,
                    b"natscope-turn-channel-data..",
                    cfg.stage_timeout,
                )
            })
            .await;
        } else {
            let answer = self.tap.last_error_for(CHANNEL_BIND);
            let f = name_failure(CHANNEL_BIND, answer, res, timeout_ms);
            r.fail(
                TurnStage::ChannelBind,
                Some(self.stage_ms(m4, CHANNEL_BIND, t4)),
                f,
            );
            r.not_tested(TurnStage::ChannelRoundTrip, "channel bind failed");
        }

        // --- Refresh ---
        boxed(|| self.refresh(cfg, creds, r)).await;

        // --- quality ---
        let channel_ok = matches!(
            r.stage(TurnStage::ChannelRoundTrip).map(|s| &s.status),
            Some(model::turn::StageStatus::Passed)
        );
        match (&cfg.quality, channel_ok) {
            (Some(q), true) => {
                let t6 = tokio::time::Instant::now();
                let qr = boxed(|| run_burst(self, peer, q)).await;
                r.pass(TurnStage::Quality, ms_since(t6), None);
                r.quality = Some(qr);
            }
            (Some(_), false) => r.not_tested(TurnStage::Quality, "channel round trip failed"),
            (None, _) => r.not_tested(TurnStage::Quality, "disabled"),
        }

        // The main allocation is deleted first: its `deallocate` stage is
        // the first deletion on the connection's listener, as before there
        // was an echo allocation.
        boxed(|| self.deallocate(cfg, creds, r)).await;
        if let Some(e) = echo.take() {
            boxed(|| e.stop()).await;
        }
        Flow::Done
    }

    /// The `refresh` stage: an authenticated Refresh asking for the lifetime
    /// the server granted, built from the same credentials, realm and latest
    /// nonce the client authenticated with (turn-client-proto only refreshes
    /// by itself near expiry and exposes no refresh call). A 438 is retried
    /// once with the fresh nonce; over UDP the request is retransmitted
    /// every 500 ms until the stage deadline. The 438 answer also reaches
    /// turn-client-proto (every frame does, through `handle_frame`): its
    /// long-term auth takes the new NONCE from any 438 with NONCE and REALM,
    /// even one to a request it did not send, so its own later requests
    /// (the deleting Refresh) carry it (tests/turn.rs checks this).
    pub(super) async fn refresh(
        &mut self,
        cfg: &TurnProbeConfig,
        creds: &ResolvedCredentials,
        r: &mut TurnTransportResult,
    ) {
        let t = tokio::time::Instant::now();
        let mark = self.tap.wire_mark();
        let timeout_ms = cfg.stage_timeout.as_millis() as u64;
        let deadline = tokio::time::Instant::now() + cfg.stage_timeout;
        let lifetime = r.lifetime_secs.unwrap_or(DEFAULT_LIFETIME_SECS);
        let mut stale_retried = false;
        let outcome = loop {
            let (mark, res) = match self.send_refresh(creds, lifetime, deadline).await {
                Ok(sent) => sent,
                Err(f) => break Err(f),
            };
            match (self.tap.refresh_answer(mark), res) {
                (Some(Ok(())), _) => break Ok(()),
                (Some(Err((438, _))), _) if !stale_retried => stale_retried = true,
                (Some(Err((401, _))), _) => break Err(TurnFailure::WrongCredentials),
                (answer, res) => {
                    let answer = answer.and_then(Result::err);
                    break Err(name_failure(REFRESH, answer, res, timeout_ms));
                }
            }
        };
        match outcome {
            Ok(()) => {
                let granted = self.tap.refresh_lifetime;
                let mut note = format!(
                    "LIFETIME {lifetime} s requested, {} granted",
                    granted.map_or("no LIFETIME".to_string(), |g| format!("{g} s"))
                );
                if stale_retried {
                    note.push_str("; stale nonce (438), retried once");
                }
                r.pass(
                    TurnStage::Refresh,
                    self.stage_ms(mark, REFRESH, t),
                    Some(note),
                );
            }
            Err(f) => r.fail(TurnStage::Refresh, Some(self.stage_ms(mark, REFRESH, t)), f),
        }
    }

    /// The `deallocate` stage: [`Self::delete_allocation`], whose one retry
    /// of a 438 Stale Nonce is noted; a second 438 in a row is named
    /// `stale_nonce`.
    pub(super) async fn deallocate(
        &mut self,
        cfg: &TurnProbeConfig,
        creds: &ResolvedCredentials,
        r: &mut TurnTransportResult,
    ) {
        let t = tokio::time::Instant::now();
        let mark = self.tap.wire_mark();
        let timeout_ms = cfg.stage_timeout.as_millis() as u64;
        let deadline = tokio::time::Instant::now() + cfg.stage_timeout;
        let d = match self.delete_allocation(creds, deadline).await {
            Some(Ok(d)) => d,
            Some(Err(f)) => {
                r.fail(
                    TurnStage::Deallocate,
                    Some(self.stage_ms(mark, REFRESH, t)),
                    f,
                );
                return;
            }
            None => {
                r.not_tested(TurnStage::Deallocate, "no allocation");
                return;
            }
        };
        let retried = d
            .stale_retried
            .then(|| "stale nonce (438), retried once".to_string());
        if self.closed_after_delete(&d) {
            let closed = "server closed the connection after deleting the allocation";
            let note = match retried {
                Some(n) => format!("{n}; {closed}"),
                None => closed.to_string(),
            };
            r.pass(TurnStage::Deallocate, ms_since(t), Some(note));
            return;
        }
        let f = match (d.answer, d.wait) {
            (Some(Ok(())), _) => {
                r.pass(
                    TurnStage::Deallocate,
                    self.stage_ms(mark, REFRESH, t),
                    retried,
                );
                return;
            }
            (answer, wait) => name_failure(REFRESH, answer.and_then(Result::err), wait, timeout_ms),
        };
        r.fail(
            TurnStage::Deallocate,
            Some(self.stage_ms(mark, REFRESH, t)),
            f,
        );
    }
}

/// "IPv4" or "IPv6", for sentences.
fn family_word(a: SocketAddr) -> &'static str {
    if a.is_ipv4() { "IPv4" } else { "IPv6" }
}

//! The tap: what the server told us, read from every frame on its way to
//! turn-client-proto (realm, nonce, error answers per method, the first 401,
//! 300 redirects, lifetime, addresses, SOFTWARE) and how the client signs
//! its requests, and the request→response gap on the wire of every
//! transaction (what a stage's time is: the server's answer time, not the
//! client's pacing). Pure: frames and the times they passed in, facts out.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;
use turn_client_proto::types::attribute::{Lifetime, XorRelayedAddress};
use turn_client_proto::types::message::{ALLOCATE, REFRESH};
use turn_client_proto::types::stun::attribute::{
    AlternateServer, ErrorCode, MessageIntegritySha256, Nonce, PasswordAlgorithm,
    PasswordAlgorithmValue, PasswordAlgorithms, Realm, Software, Userhash, XorMappedAddress,
};
use turn_client_proto::types::stun::message::{Message, MessageClass, Method, TransactionId};

/// What the server told us, read from responses on their way to the client.
#[derive(Default, Debug)]
pub(super) struct Tap {
    /// When the first 401 to an Allocate arrived.
    pub(super) first_401: Option<Instant>,
    pub(super) last_error: Vec<(Method, u16, String)>,
    pub(super) realm: Option<String>,
    pub(super) alternate: Option<SocketAddr>,
    pub(super) stale_nonces: u32,
    pub(super) software: Option<String>,
    pub(super) lifetime: Option<u32>,
    pub(super) mapped: Option<SocketAddr>,
    pub(super) relayed: Option<SocketAddr>,
    pub(super) refresh_ok: u32,
    /// LIFETIME of the last successful Refresh.
    pub(super) refresh_lifetime: Option<u32>,
    /// The last NONCE the server sent (for natscope's own Refresh).
    pub(super) nonce: Option<String>,
    /// How the client signed its last authenticated request, so natscope's
    /// own Refresh authenticates the same way.
    pub(super) signing: Option<Signing>,
    pub(super) responses: u32,
    /// Transactions whose error answer is recorded: a retransmitted
    /// request's duplicate answer is not a second error. Bounded.
    pub(super) error_tx: VecDeque<TransactionId>,
    /// Requests on the wire and not answered yet: when each last left.
    /// Bounded.
    pub(super) in_flight: VecDeque<(TransactionId, Instant)>,
    /// Answered transactions, oldest first: method and the gap between the
    /// request's last transmission and the answer. Bounded.
    pub(super) gaps: Vec<(Method, Duration)>,
}

/// Most requests [`Tap::in_flight`] and answers [`Tap::gaps`] remember.
const MAX_TRACKED: usize = 256;

/// Where [`Tap::gaps`] stood when a stage began ([`Tap::wire_mark`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct WireMark(usize);

impl Tap {
    /// Reads one frame the server sent, which arrived at `at` (time is an
    /// input: the tap never reads a clock). True when it was an answer to a
    /// request.
    pub(super) fn inspect(&mut self, frame: &[u8], at: Instant) -> bool {
        let Ok(msg) = Message::from_bytes(frame) else {
            return false;
        };
        if !msg.is_response() {
            return false;
        }
        self.responses += 1;
        let tx = msg.transaction_id();
        if let Some(i) = self.in_flight.iter().position(|(t, _)| *t == tx)
            && let Some((_, sent)) = self.in_flight.remove(i)
            && self.gaps.len() < MAX_TRACKED
        {
            self.gaps
                .push((msg.method(), at.saturating_duration_since(sent)));
        }
        if let Ok(sw) = msg.attribute::<Software>() {
            self.software = Some(sw.software().to_string());
        }
        if let Ok(realm) = msg.attribute::<Realm>() {
            self.realm = Some(realm.realm().to_string());
        }
        if let Ok(nonce) = msg.attribute::<Nonce>() {
            self.nonce = Some(nonce.nonce().to_string());
        }
        let method = msg.method();
        if msg.has_class(MessageClass::Error) {
            if self.error_tx.contains(&tx) {
                // A retransmitted request's duplicate answer: not new.
                return false;
            }
            if self.error_tx.len() >= 64 {
                self.error_tx.pop_front();
            }
            self.error_tx.push_back(tx);
            let (code, reason) = match msg.attribute::<ErrorCode>() {
                Ok(e) => (e.code(), e.reason().to_string()),
                Err(_) => (0, String::new()),
            };
            if method == ALLOCATE && code == 401 && self.first_401.is_none() {
                self.first_401 = Some(at);
            }
            if code == 438 {
                self.stale_nonces += 1;
            }
            if code == 300
                && let Ok(alt) = msg.attribute::<AlternateServer>()
            {
                self.alternate = Some(alt.server());
            }
            if self.last_error.len() < 64 {
                self.last_error.push((method, code, reason));
            }
        } else if method == ALLOCATE {
            if let Ok(l) = msg.attribute::<Lifetime>() {
                self.lifetime = Some(l.seconds());
            }
            if let Ok(m) = msg.attribute::<XorMappedAddress>() {
                self.mapped = Some(m.addr(tx));
            }
            if let Ok(m) = msg.attribute::<XorRelayedAddress>() {
                self.relayed = Some(m.addr(tx));
            }
        } else if method == REFRESH {
            self.refresh_ok += 1;
            self.refresh_lifetime = msg.attribute::<Lifetime>().ok().map(|l| l.seconds());
        }
        true
    }

    /// Notes a request leaving at `at` (for the wire gap of its answer;
    /// a retransmission moves the time) and how the client authenticates
    /// (USERHASH or USERNAME, which integrity and password algorithms).
    pub(super) fn inspect_outgoing(&mut self, frame: &[u8], at: Instant) {
        let Ok(msg) = Message::from_bytes(frame) else {
            return;
        };
        if !msg.has_class(MessageClass::Request) {
            return;
        }
        let tx = msg.transaction_id();
        match self.in_flight.iter_mut().find(|(t, _)| *t == tx) {
            Some(entry) => entry.1 = at,
            None => {
                if self.in_flight.len() >= MAX_TRACKED {
                    self.in_flight.pop_front();
                }
                self.in_flight.push_back((tx, at));
            }
        }
        if msg.attribute::<Nonce>().is_err() {
            return;
        }
        self.signing = Some(Signing {
            userhash: msg.attribute::<Userhash>().ok().map(|u| *u.hash()),
            sha256: msg.attribute::<MessageIntegritySha256>().is_ok(),
            password_algorithms: msg
                .attribute::<PasswordAlgorithms>()
                .ok()
                .map(|a| a.algorithms().to_vec()),
            password_algorithm: msg
                .attribute::<PasswordAlgorithm>()
                .ok()
                .map(|a| a.algorithm()),
        });
    }

    /// The codes of the error answers to authenticated Allocates: those
    /// after the first (the 401 challenge to the Allocate without
    /// credentials), oldest first.
    pub(super) fn allocate_errors_after_challenge(&self) -> impl Iterator<Item = u16> + '_ {
        self.last_error
            .iter()
            .filter(|(m, _, _)| *m == ALLOCATE)
            .skip(1)
            .map(|(_, c, _)| *c)
    }

    /// How many 438 Stale Nonce answers the authenticated Allocate got in a
    /// row, most recent last.
    pub(super) fn allocate_stale_in_a_row(&self) -> usize {
        let codes: Vec<u16> = self.allocate_errors_after_challenge().collect();
        codes.iter().rev().take_while(|c| **c == 438).count()
    }

    /// True once the authenticated Allocate got an error answer that ends
    /// the stage: anything but a first 438 Stale Nonce, which is retried
    /// once with the new nonce (a second 438 in a row ends it).
    pub(super) fn allocate_failed_for_good(&self) -> bool {
        match self.allocate_errors_after_challenge().last() {
            None => false,
            Some(438) => self.allocate_stale_in_a_row() >= 2,
            Some(_) => true,
        }
    }

    /// Where the wire gaps stand now, before a stage's requests go out.
    pub(super) fn wire_mark(&self) -> WireMark {
        WireMark(self.gaps.len())
    }

    /// The server's answer time for the `method` requests answered since
    /// `mark`, in ms: the sum of their request→response gaps on the wire
    /// (two when a 438 was retried). `None` when none was answered.
    pub(super) fn wire_ms(&self, mark: WireMark, method: Method) -> Option<f64> {
        let gaps: Vec<Duration> = self.gaps[mark.0.min(self.gaps.len())..]
            .iter()
            .filter(|(m, _)| *m == method)
            .map(|(_, d)| *d)
            .collect();
        (!gaps.is_empty()).then(|| gaps.iter().sum::<Duration>().as_secs_f64() * 1000.0)
    }

    /// Where the tap stands now, to tell the answer to a Refresh about to
    /// go out from earlier ones.
    pub(super) fn refresh_mark(&self) -> RefreshMark {
        RefreshMark {
            ok: self.refresh_ok,
            errors: self.last_error.len(),
        }
    }

    /// The answer to a Refresh sent at `mark`: success, the last error
    /// answer to a Refresh (code, reason) since, or `None` yet.
    pub(super) fn refresh_answer(&self, mark: RefreshMark) -> Option<Result<(), (u16, String)>> {
        if self.refresh_ok > mark.ok {
            return Some(Ok(()));
        }
        self.last_error[mark.errors.min(self.last_error.len())..]
            .iter()
            .rev()
            .find(|(m, _, _)| *m == REFRESH)
            .map(|(_, c, reason)| Err((*c, reason.clone())))
    }

    pub(super) fn last_error_for(&self, method: Method) -> Option<(u16, String)> {
        self.last_error
            .iter()
            .rev()
            .find(|(m, _, _)| *m == method)
            .map(|(_, c, r)| (*c, r.clone()))
    }

    /// The last error answer (code, reason) to a `method` request, not
    /// counting the 401 challenge to the first Allocate.
    pub(super) fn last_error_after_challenge(&self, method: Method) -> Option<(u16, String)> {
        let mut errors = self
            .last_error
            .iter()
            .filter(|(m, _, _)| *m == method)
            .peekable();
        if method == ALLOCATE
            && let Some((_, 401, _)) = errors.peek()
        {
            errors.next();
        }
        errors.last().map(|(_, c, r)| (*c, r.clone()))
    }
}

/// Where the [`Tap`] stood when a Refresh went out ([`Tap::refresh_mark`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct RefreshMark {
    /// Successful Refresh answers seen before.
    pub(super) ok: u32,
    /// Error answers recorded before.
    pub(super) errors: usize,
}

/// How turn-client-proto signs its requests after the 401 challenge.
#[derive(Clone, Debug, Default)]
pub(super) struct Signing {
    pub(super) userhash: Option<[u8; 32]>,
    pub(super) sha256: bool,
    pub(super) password_algorithms: Option<Vec<PasswordAlgorithmValue>>,
    pub(super) password_algorithm: Option<PasswordAlgorithmValue>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use turn_client_proto::types::stun::message::{MessageWrite, MessageWriteExt, MessageWriteVec};

    impl Tap {
        /// [`Tap::inspect`] at a fixed time (the tap never reads a clock).
        fn inspect_at(&mut self, frame: &[u8]) {
            let _ = self.inspect(frame, Instant::now());
        }
    }

    /// An Allocate error answer with ERROR-CODE `code` in transaction `tx`.
    fn allocate_error(code: u16, tx: TransactionId) -> Vec<u8> {
        use turn_client_proto::types::stun::message::MessageType;
        let mtype = MessageType::from_class_method(MessageClass::Error, ALLOCATE);
        let mut b = Message::builder(mtype, tx, MessageWriteVec::new());
        b.add_attribute(&ErrorCode::new(code, "x").expect("valid code"))
            .expect("fits");
        b.finish()
    }

    #[test]
    fn allocate_stage_ends_on_a_second_stale_nonce_or_any_other_error() {
        let tx = |n: u128| TransactionId::from(n);
        let mut tap = Tap::default();
        tap.inspect_at(&allocate_error(401, tx(1)));
        assert!(!tap.allocate_failed_for_good());
        tap.inspect_at(&allocate_error(438, tx(2)));
        assert!(!tap.allocate_failed_for_good(), "one 438 is retried");
        // The same answer again (a retransmitted request): not a second 438.
        tap.inspect_at(&allocate_error(438, tx(2)));
        assert!(!tap.allocate_failed_for_good());
        assert_eq!(tap.stale_nonces, 1);
        tap.inspect_at(&allocate_error(438, tx(3)));
        assert!(tap.allocate_failed_for_good(), "two in a row end it");
        assert_eq!(tap.allocate_stale_in_a_row(), 2);

        let mut quota = Tap::default();
        quota.inspect_at(&allocate_error(401, tx(1)));
        quota.inspect_at(&allocate_error(401, tx(1)));
        assert!(!quota.allocate_failed_for_good(), "duplicate challenge");
        quota.inspect_at(&allocate_error(486, tx(2)));
        assert!(quota.allocate_failed_for_good());
    }
}

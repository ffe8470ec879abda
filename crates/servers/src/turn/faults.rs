//! Fault injection for the embedded TURN server: answers a healthy
//! turn-server-proto server never gives, to provoke the failures natscope's
//! TURN probe must name (438 Stale Nonce on Allocate, Refresh and the
//! deleting Refresh). The knobs ([`TurnFaults`]) are public only with the
//! `test-support` feature; without it every listener runs with none.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Test support: answers the embedded server gives on purpose, to provoke
/// failures a healthy turn-server-proto server never shows. All off by
/// default. Counted per listener (UDP, TCP and TLS each on their own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))]
pub struct TurnFaults {
    /// The first N authenticated Allocate requests (those carrying
    /// MESSAGE-INTEGRITY, each new transaction counted once) find their
    /// nonce expired, so the server answers 438 Stale Nonce with REALM and a
    /// fresh NONCE, exactly as when a nonce's lifetime runs out: the nonce
    /// lifetime is set to turn-server-proto's minimum (30 s) and the
    /// listener's clock is moved 31 s forward before such a request is
    /// handled. Allocations of that listener age by as much (their default
    /// lifetime is 600 s). 1 lets a client that retries once with the new
    /// nonce succeed; 2 or more answers that retry with 438 again.
    pub stale_nonce_allocates: u32,
    /// The same for Refresh: the first N authenticated Refresh requests
    /// (deleting ones, LIFETIME 0, included) are answered 438 Stale Nonce
    /// after the listener's clock jumps past the nonce lifetime. A probe's
    /// `refresh` stage sends the first Refresh of a connection, so 1
    /// provokes exactly one 438 there (retried), 2 answers its retry 438
    /// too; the deleting Refresh after it is then not touched.
    pub stale_nonce_refreshes: u32,
    /// The same for deleting Refreshes only (LIFETIME 0; counted apart, and
    /// used before `stale_nonce_refreshes` for them): the first N are
    /// answered 438 Stale Nonce, other Refreshes are left alone. A probe's
    /// `deallocate` stage sends the first deleting Refresh of a connection,
    /// so 1 provokes exactly one 438 there (retried), 2 answers its retry
    /// 438 too.
    pub stale_nonce_deletes: u32,
}

impl TurnFaults {
    /// True when any fault is asked for.
    pub(super) fn any(&self) -> bool {
        self != &TurnFaults::default()
    }
}

/// turn-server-proto's shortest nonce lifetime (it panics below it).
pub(super) const NONCE_LIFETIME: Duration = Duration::from_secs(30);

/// One listener's fault state.
pub(super) struct Faults {
    /// Stale-nonce answers still to give to Allocates.
    allocates_left: u32,
    /// Stale-nonce answers still to give to Refreshes.
    refreshes_left: u32,
    /// Stale-nonce answers still to give to deleting Refreshes (LIFETIME 0)
    /// before `refreshes_left` is used for them.
    deletes_left: u32,
    /// Transactions already answered stale (a retransmission is not a new
    /// fault); bounded.
    seen: VecDeque<[u8; 12]>,
    /// Faults injected by the whole server.
    injected: Arc<AtomicU32>,
}

impl Faults {
    pub(super) fn new(cfg: &TurnFaults, injected: Arc<AtomicU32>) -> Self {
        Self {
            allocates_left: cfg.stale_nonce_allocates,
            refreshes_left: cfg.stale_nonce_refreshes,
            deletes_left: cfg.stale_nonce_deletes,
            seen: VecDeque::new(),
            injected,
        }
    }

    /// How far to move the listener's clock before `data` is handled.
    pub(super) fn clock_jump(&mut self, data: &[u8]) -> Option<Duration> {
        if self.allocates_left == 0 && self.refreshes_left == 0 && self.deletes_left == 0 {
            return None;
        }
        let req = authenticated_request(data)?;
        let tx = req.tx;
        let left = match req.method {
            ALLOCATE => &mut self.allocates_left,
            REFRESH if req.deleting && self.deletes_left > 0 => &mut self.deletes_left,
            REFRESH => &mut self.refreshes_left,
            _ => return None,
        };
        if *left == 0 || self.seen.contains(&tx) {
            return None;
        }
        *left -= 1;
        if self.seen.len() >= 64 {
            self.seen.pop_front();
        }
        self.seen.push_back(tx);
        self.injected.fetch_add(1, Ordering::Relaxed);
        Some(NONCE_LIFETIME + Duration::from_secs(1))
    }
}

/// STUN attribute types of MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256.
const INTEGRITY_TYPES: [u16; 2] = [0x0008, 0x001C];
/// STUN attribute type of LIFETIME.
const LIFETIME: u16 = 0x000D;
/// Message types of an Allocate and a Refresh request.
const ALLOCATE: u16 = 0x0003;
const REFRESH: u16 = 0x0004;

/// An authenticated request, as far as fault injection needs it.
#[derive(Debug, PartialEq, Eq)]
struct SignedRequest {
    /// The message type.
    method: u16,
    /// The transaction id.
    tx: [u8; 12],
    /// LIFETIME 0 came before the integrity attribute (a deleting Refresh).
    deleting: bool,
}

/// The request `data` starts with, when it carries MESSAGE-INTEGRITY(-SHA256),
/// i.e. is an authenticated one.
fn authenticated_request(data: &[u8]) -> Option<SignedRequest> {
    if data.len() < 20 || data[0] & 0xC0 != 0 || data[4..8] != wire::MAGIC_COOKIE {
        return None;
    }
    let mtype = u16::from_be_bytes([data[0], data[1]]);
    // Class bits (0x0110) zero: a request.
    if mtype & 0x0110 != 0 {
        return None;
    }
    let end = 20 + usize::from(u16::from_be_bytes([data[2], data[3]]));
    let msg = data.get(..end)?;
    let mut at = 20;
    let mut deleting = false;
    while at + 4 <= msg.len() {
        let kind = u16::from_be_bytes([msg[at], msg[at + 1]]);
        if INTEGRITY_TYPES.contains(&kind) {
            let mut tx = [0u8; 12];
            tx.copy_from_slice(&msg[8..20]);
            return Some(SignedRequest {
                method: mtype,
                tx,
                deleting,
            });
        }
        let len = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
        if kind == LIFETIME && len == 4 {
            deleting = msg.get(at + 4..at + 8) == Some(&[0u8; 4][..]);
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN message: `method` request with attributes `(type, len)`.
    fn request(method: u8, attrs: &[(u16, u16)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, len) in attrs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&len.to_be_bytes());
            body.resize(body.len() + usize::from(*len).div_ceil(4) * 4, 0);
        }
        let mut m = vec![0, method];
        m.extend_from_slice(&u16::try_from(body.len()).expect("small").to_be_bytes());
        m.extend_from_slice(&wire::MAGIC_COOKIE);
        m.extend_from_slice(b"natscope-txn");
        m.extend_from_slice(&body);
        m
    }

    /// What [`authenticated_request`] finds in one of [`request`]'s messages.
    fn signed_request(method: u16, deleting: bool) -> Option<SignedRequest> {
        Some(SignedRequest {
            method,
            tx: *b"natscope-txn",
            deleting,
        })
    }

    /// A Refresh with LIFETIME `secs`, signed.
    fn refresh_for(secs: u32) -> Vec<u8> {
        let mut m = request(4, &[(LIFETIME, 4), (0x0008, 20)]);
        // The LIFETIME value follows the 20-byte header and its own 4.
        m[24..28].copy_from_slice(&secs.to_be_bytes());
        m
    }

    #[test]
    fn recognises_authenticated_requests_only() {
        // REQUESTED-TRANSPORT, USERNAME (odd length, padded), then integrity.
        let signed = request(3, &[(0x0019, 4), (0x0006, 5), (0x0008, 20)]);
        assert_eq!(
            authenticated_request(&signed),
            signed_request(ALLOCATE, false)
        );
        let sha256 = request(3, &[(0x001C, 32)]);
        assert_eq!(
            authenticated_request(&sha256),
            signed_request(ALLOCATE, false)
        );
        // Followed by more stream data: still recognised.
        let mut more = signed.clone();
        more.extend_from_slice(&[0x40, 0, 0, 4]);
        assert_eq!(
            authenticated_request(&more),
            signed_request(ALLOCATE, false)
        );
        assert_eq!(
            authenticated_request(&refresh_for(0)),
            signed_request(REFRESH, true)
        );
        assert_eq!(
            authenticated_request(&refresh_for(600)),
            signed_request(REFRESH, false)
        );
        assert_eq!(authenticated_request(&request(3, &[(0x0019, 4)])), None);
        assert_eq!(authenticated_request(&signed[..signed.len() - 1]), None);
        assert_eq!(authenticated_request(&[0u8; 8]), None);
        // A response (class bits set) is not a request.
        let mut answer = signed.clone();
        answer[1] |= 0x10;
        assert_eq!(authenticated_request(&answer), None);
    }

    /// `m` with another transaction id (first byte `b`): a new transaction.
    fn new_tx(mut m: Vec<u8>, b: u8) -> Vec<u8> {
        m[8] = b;
        m
    }

    /// Feeds `steps` (a message, whether the clock must jump past the nonce
    /// lifetime for it, why) in order to one listener's faults set by
    /// `cfg`; returns how many faults the server counted.
    fn run_faults(cfg: &TurnFaults, steps: &[(Vec<u8>, bool, &str)]) -> u32 {
        let injected = Arc::new(AtomicU32::new(0));
        let mut f = Faults::new(cfg, injected.clone());
        for (msg, jumps, why) in steps {
            let jump = f.clock_jump(msg);
            if *jumps {
                assert!(jump.is_some_and(|d| d > NONCE_LIFETIME), "{why}: {jump:?}");
            } else {
                assert_eq!(jump, None, "{why}");
            }
        }
        injected.load(Ordering::Relaxed)
    }

    #[test]
    fn stale_nonce_faults_count_each_transaction_once() {
        let cfg = TurnFaults {
            stale_nonce_allocates: 2,
            ..TurnFaults::default()
        };
        let signed = request(3, &[(0x0008, 20)]);
        let steps = [
            (request(3, &[]), false, "not authenticated"),
            (request(4, &[(0x0008, 20)]), false, "a Refresh"),
            (signed.clone(), true, "the first Allocate"),
            (signed.clone(), false, "a retransmission"),
            (new_tx(signed.clone(), b'N'), true, "the second Allocate"),
            (new_tx(signed, b'O'), false, "only the first two"),
        ];
        assert_eq!(run_faults(&cfg, &steps), 2);
    }

    #[test]
    fn stale_nonce_refresh_faults_leave_allocates_alone() {
        let cfg = TurnFaults {
            stale_nonce_refreshes: 1,
            ..TurnFaults::default()
        };
        let refresh = request(4, &[(0x000D, 4), (0x0008, 20)]);
        let steps = [
            (request(3, &[(0x0008, 20)]), false, "an Allocate"),
            (refresh.clone(), true, "the first Refresh"),
            (refresh.clone(), false, "a retransmission"),
            (new_tx(refresh, b'R'), false, "only the first"),
        ];
        assert_eq!(run_faults(&cfg, &steps), 1);
    }

    #[test]
    fn stale_nonce_delete_faults_touch_deleting_refreshes_only() {
        let cfg = TurnFaults {
            stale_nonce_deletes: 2,
            ..TurnFaults::default()
        };
        let steps = [
            (request(3, &[(0x0008, 20)]), false, "an Allocate"),
            (refresh_for(600), false, "not deleting"),
            (refresh_for(0), true, "the deleting Refresh"),
            (refresh_for(0), false, "a retransmission"),
            (new_tx(refresh_for(0), b'R'), true, "the retry"),
            (new_tx(refresh_for(0), b'S'), false, "only the first two"),
        ];
        assert_eq!(run_faults(&cfg, &steps), 2);

        // With both knobs a deleting Refresh uses up its own first.
        let both = TurnFaults {
            stale_nonce_refreshes: 1,
            stale_nonce_deletes: 1,
            ..TurnFaults::default()
        };
        let steps = [
            (refresh_for(0), true, "the deleting Refresh"),
            (
                new_tx(refresh_for(600), b'R'),
                true,
                "refreshes_left untouched",
            ),
        ];
        assert_eq!(run_faults(&both, &steps), 2);
    }
}

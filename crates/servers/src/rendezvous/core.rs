//! The rendezvous' sans-IO core: every request's answer as a function of
//! the request, the source address, `now` and the random bytes the caller
//! drew. Deterministic; it never reads a clock or a random source.
//!
//! What it holds, and for how long:
//!
//! - per session: the SHA-256 digest of its code (never the code), the
//!   digest of each side's token (never the token), a random label, each
//!   side's unacknowledged messages (at most [`MAX_PENDING_BYTES`]), and
//!   its expiry ([`UNJOINED_TTL`] until the second side joins,
//!   [`SESSION_TTL`] from its opening after);
//! - per source: two token buckets (opens, failed joins) in tables of
//!   bounded size.
//!
//! A closed session keeps only its token digests for [`CLOSED_LINGER`]
//! (so the other side learns it was closed); an expired one is removed
//! whole. Lookups are by digest, and the final comparison of the digests is
//! constant-time.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use wire::rendezvous::{
    self as api, CLOSED_LINGER, CODE_BYTES, ErrorBody, ErrorKind, FAILED_JOINS_PER_MINUTE,
    LABEL_BYTES, LONG_POLL, MAX_BATCH_TEXT, MAX_MESSAGES, MAX_PENDING_BYTES, MAX_REQUEST_BODY,
    MAX_SESSIONS, MAX_TOTAL_BYTES, OPENS_PER_MINUTE, Op, SESSION_TTL, TOKEN_BYTES, UNJOINED_TTL,
};

/// A SHA-256 digest (of a code or a token).
type Digest = [u8; 32];

/// The rendezvous' bounds; [`Limits::default`] is what `natscope serve
/// --rendezvous` runs with (the constants of `wire::rendezvous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sessions held at once.
    pub max_sessions: usize,
    /// Message bytes held in all sessions at once.
    pub max_total_bytes: usize,
    /// Opens per source per minute (0: unlimited).
    pub opens_per_minute: u32,
    /// Failed joins and unknown-token requests per source per minute (0:
    /// unlimited).
    pub failed_joins_per_minute: u32,
    /// Sources tracked by each rate limiter; the oldest is evicted beyond.
    pub max_sources: usize,
    /// A joined session's lifetime from its opening.
    pub session_ttl: Duration,
    /// An unjoined session's lifetime.
    pub unjoined_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sessions: MAX_SESSIONS,
            max_total_bytes: MAX_TOTAL_BYTES,
            opens_per_minute: OPENS_PER_MINUTE,
            failed_joins_per_minute: FAILED_JOINS_PER_MINUTE,
            max_sources: 65_536,
            session_ttl: SESSION_TTL,
            unjoined_ttl: UNJOINED_TTL,
        }
    }
}

/// The random bytes one request may use (drawn by the caller from a CSPRNG;
/// only `open` and `join` use them).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Randomness {
    /// A new session's code.
    pub code: [u8; CODE_BYTES],
    /// A new side's token.
    pub token: [u8; TOKEN_BYTES],
    /// A new session's label.
    pub label: [u8; LABEL_BYTES],
}

impl std::fmt::Debug for Randomness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Randomness(<redacted>)")
    }
}

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The JSON body.
    pub body: String,
    /// The refusal it is, if any.
    pub refusal: Option<ErrorKind>,
    /// True when the request changed what waiting requests would see (a
    /// join, a message, a close).
    pub changed: bool,
}

impl Answer {
    fn ok(body: String, changed: bool) -> Self {
        Self {
            status: 200,
            body,
            refusal: None,
            changed,
        }
    }

    fn refuse(kind: ErrorKind, reason: &str) -> Self {
        Self {
            status: kind.status(),
            body: api::to_body(&ErrorBody {
                error: kind,
                reason: reason.to_owned(),
            }),
            refusal: Some(kind),
            changed: false,
        }
    }
}

/// What a request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This answer, now.
    Answer(Answer),
    /// Nothing yet (a `wait` before the join, a `recv` with nothing
    /// pending): ask again with the same request when something
    /// [`Answer::changed`], and answer `empty` once `wait` has passed.
    Pending {
        /// How long the request may be held (at most [`LONG_POLL`]).
        wait: Duration,
        /// The answer when nothing came.
        empty: Answer,
    },
}

/// Counters of a [`Core`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Sessions opened.
    pub opened: u64,
    /// Sessions joined by their second side.
    pub joined: u64,
    /// Sessions closed by a side.
    pub closed: u64,
    /// Sessions removed at their expiry, not closed.
    pub expired: u64,
    /// Messages relayed (accepted from a sender).
    pub messages: u64,
    /// Sessions open or joined now (not closed).
    pub live: u64,
    /// Refusals, by [`REFUSALS`] index.
    pub refusals: [u64; REFUSALS.len()],
}

/// The refusals counted, in [`Metrics::refusals`] order.
pub const REFUSALS: [ErrorKind; 9] = [
    ErrorKind::Malformed,
    ErrorKind::NotFound,
    ErrorKind::UnknownSession,
    ErrorKind::SessionFull,
    ErrorKind::Closed,
    ErrorKind::RateLimited,
    ErrorKind::TooLarge,
    ErrorKind::TooManyMessages,
    ErrorKind::ServerFull,
];

impl Metrics {
    /// The Prometheus text of these counters (`natscope_rendezvous_*`).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            out.push_str(&format!(
                "# HELP natscope_rendezvous_{name} {help}\n# TYPE natscope_rendezvous_{name} counter\nnatscope_rendezvous_{name} {v}\n"
            ));
        };
        counter(
            "sessions_opened_total",
            "Rendezvous sessions opened.",
            self.opened,
        );
        counter(
            "sessions_joined_total",
            "Rendezvous sessions joined by their second side.",
            self.joined,
        );
        counter(
            "sessions_closed_total",
            "Rendezvous sessions closed by a side.",
            self.closed,
        );
        counter(
            "sessions_expired_total",
            "Rendezvous sessions removed at their expiry.",
            self.expired,
        );
        counter(
            "messages_total",
            "Signalling messages relayed.",
            self.messages,
        );
        out.push_str(
            "# HELP natscope_rendezvous_sessions Rendezvous sessions open now.\n# TYPE natscope_rendezvous_sessions gauge\n",
        );
        out.push_str(&format!("natscope_rendezvous_sessions {}\n", self.live));
        out.push_str(
            "# HELP natscope_rendezvous_refusals_total Rendezvous requests refused, by reason.\n# TYPE natscope_rendezvous_refusals_total counter\n",
        );
        for (kind, n) in REFUSALS.iter().zip(self.refusals) {
            out.push_str(&format!(
                "natscope_rendezvous_refusals_total{{reason=\"{}\"}} {n}\n",
                kind.name()
            ));
        }
        out
    }

    /// The refusals counted for `kind`.
    pub fn refused(&self, kind: ErrorKind) -> u64 {
        REFUSALS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.refusals[i])
    }
}

/// Per-source token buckets refilled per minute, in a table of bounded
/// size (the oldest source is evicted beyond): the responder's scheme
/// (`responder::ratelimit`, per second) at a per-minute rate.
#[derive(Debug)]
struct Limiter {
    per_minute: u32,
    max_sources: usize,
    buckets: HashMap<IpAddr, (f64, Instant)>,
    order: VecDeque<IpAddr>,
}

/// A source's key: the IPv4 address, or the IPv6 /64.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::V6(o.into())
        }
    }
}

impl Limiter {
    fn new(per_minute: u32, max_sources: usize) -> Self {
        Self {
            per_minute,
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The source's tokens at `now` (a full bucket for a new source).
    fn tokens(&mut self, ip: IpAddr, now: Instant) -> &mut f64 {
        let k = source_key(ip);
        let full = f64::from(self.per_minute);
        if !self.buckets.contains_key(&k) {
            while self.buckets.len() >= self.max_sources {
                match self.order.pop_front() {
                    Some(old) => {
                        self.buckets.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(k);
        }
        let b = self.buckets.entry(k).or_insert((full, now));
        let elapsed = now.saturating_duration_since(b.1).as_secs_f64();
        b.0 = (b.0 + elapsed * full / 60.0).min(full);
        b.1 = now;
        &mut b.0
    }

    /// True when the source has a token left (none is taken).
    fn available(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.per_minute == 0 || *self.tokens(ip, now) >= 1.0
    }

    /// Takes a token; false when the source has none left.
    fn take(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let t = self.tokens(ip, now);
        if *t >= 1.0 {
            *t -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Side {
    token: Digest,
    /// Messages accepted from this side (its last seq).
    sent: u32,
    /// This side's messages the other side has not acknowledged.
    outbox: VecDeque<api::Message>,
    /// Their bytes.
    held: usize,
}

impl Side {
    fn new(token: Digest) -> Self {
        Self {
            token,
            sent: 0,
            outbox: VecDeque::new(),
            held: 0,
        }
    }
}

#[derive(Debug)]
struct Session {
    code: Digest,
    label: String,
    opened: Instant,
    expires: Instant,
    /// Creator, then joiner.
    sides: [Option<Side>; 2],
    closed: bool,
}

impl Session {
    fn held(&self) -> usize {
        self.sides.iter().flatten().map(|s| s.held).sum()
    }
}

/// The rendezvous' state: sessions and rate limiters.
#[derive(Debug)]
pub struct Core {
    limits: Limits,
    sessions: HashMap<u64, Session>,
    by_code: HashMap<Digest, u64>,
    by_token: HashMap<Digest, (u64, usize)>,
    next_id: u64,
    opens: Limiter,
    fails: Limiter,
    held: usize,
    metrics: Metrics,
}

fn sha256(data: &[u8]) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Constant-time equality of two digests.
fn same(a: &Digest, b: &Digest) -> bool {
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(diff) == 0
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

/// The request of a token-bearing call.
enum Call {
    Wait(api::WaitRequest),
    Send(api::SendRequest),
    Recv(api::RecvRequest),
    Close(api::CloseRequest),
}

impl Core {
    /// An empty rendezvous with these bounds.
    pub fn new(limits: Limits) -> Self {
        Self {
            opens: Limiter::new(limits.opens_per_minute, limits.max_sources),
            fails: Limiter::new(limits.failed_joins_per_minute, limits.max_sources),
            limits,
            sessions: HashMap::new(),
            by_code: HashMap::new(),
            by_token: HashMap::new(),
            next_id: 1,
            held: 0,
            metrics: Metrics::default(),
        }
    }

    /// The counters.
    pub fn metrics(&self) -> Metrics {
        self.metrics
    }

    /// Sessions held (open, joined, or closed and lingering).
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Message bytes held in all sessions.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Removes every session whose time has passed; true when one was.
    pub fn sweep(&mut self, now: Instant) -> bool {
        let gone: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            if let Some(s) = self.sessions.get(id)
                && !s.closed
            {
                self.metrics.expired += 1;
            }
            self.remove(*id);
        }
        !gone.is_empty()
    }

    fn remove(&mut self, id: u64) {
        if let Some(s) = self.sessions.remove(&id) {
            if !s.closed {
                self.metrics.live = self.metrics.live.saturating_sub(1);
            }
            self.held -= s.held();
            self.by_code.remove(&s.code);
            for side in s.sides.iter().flatten() {
                self.by_token.remove(&side.token);
            }
        }
    }

    fn refuse(&mut self, kind: ErrorKind, reason: &str) -> Outcome {
        if let Some(i) = REFUSALS.iter().position(|k| *k == kind) {
            self.metrics.refusals[i] += 1;
        }
        Outcome::Answer(Answer::refuse(kind, reason))
    }

    /// Answers one request: `method` and `path` of the HTTP request, its
    /// `body`, the `source` address, `now`, and `random` bytes for a new
    /// code, token and label. A [`Outcome::Pending`] request is asked
    /// again, unchanged, until it gets an answer or its wait passes.
    pub fn handle(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        source: IpAddr,
        now: Instant,
        random: &Randomness,
    ) -> Outcome {
        self.sweep(now);
        let Some(op) = Op::from_path(path) else {
            return self.refuse(ErrorKind::NotFound, "no such rendezvous call");
        };
        if method != "POST" {
            return self.refuse(ErrorKind::NotFound, "rendezvous calls are POST");
        }
        if body.len() > MAX_REQUEST_BODY {
            return self.refuse(ErrorKind::TooLarge, "request body over its bound");
        }
        let bad = |e: api::ParseError| match e {
            api::ParseError::Invalid(why) if why.starts_with("message is over") => {
                (ErrorKind::TooLarge, why)
            }
            api::ParseError::TooLarge { .. } => {
                (ErrorKind::TooLarge, "request body over its bound")
            }
            api::ParseError::Json(why) | api::ParseError::Invalid(why) => {
                (ErrorKind::Malformed, why)
            }
        };
        macro_rules! parse {
            ($t:ty) => {
                match api::parse::<$t>(body, MAX_REQUEST_BODY) {
                    Ok(r) => r,
                    Err(e) => {
                        let (kind, why) = bad(e);
                        return self.refuse(kind, why);
                    }
                }
            };
        }
        match op {
            Op::Open => {
                if !body.iter().all(u8::is_ascii_whitespace) {
                    let _: api::OpenRequest = parse!(api::OpenRequest);
                }
                self.open(source, now, random)
            }
            Op::Join => {
                let req = parse!(api::JoinRequest);
                self.join(&req.code, source, now, random)
            }
            Op::Wait => {
                let req = parse!(api::WaitRequest);
                self.call(Call::Wait(req), source, now)
            }
            Op::Send => {
                let req = parse!(api::SendRequest);
                self.call(Call::Send(req), source, now)
            }
            Op::Recv => {
                let req = parse!(api::RecvRequest);
                self.call(Call::Recv(req), source, now)
            }
            Op::Close => {
                let req = parse!(api::CloseRequest);
                self.call(Call::Close(req), source, now)
            }
        }
    }

    fn open(&mut self, source: IpAddr, now: Instant, random: &Randomness) -> Outcome {
        if self.sessions.len() >= self.limits.max_sessions {
            return self.refuse(
                ErrorKind::ServerFull,
                "the rendezvous holds as many sessions as it may; try again later",
            );
        }
        if !self.opens.take(source, now) {
            return self.refuse(
                ErrorKind::RateLimited,
                "too many sessions opened from this address; wait a minute",
            );
        }
        let code = api::encode_code(&random.code);
        let code_digest = sha256(code.as_bytes());
        let token = api::hex(&random.token);
        let token_digest = sha256(token.as_bytes());
        if self.by_code.contains_key(&code_digest) || self.by_token.contains_key(&token_digest) {
            // 2^-80: a retry draws new bytes.
            return self.refuse(ErrorKind::ServerFull, "try again");
        }
        let id = self.next_id;
        self.next_id += 1;
        let label = api::hex(&random.label);
        self.sessions.insert(
            id,
            Session {
                code: code_digest,
                label: label.clone(),
                opened: now,
                expires: now + self.limits.unjoined_ttl,
                sides: [Some(Side::new(token_digest)), None],
                closed: false,
            },
        );
        self.by_code.insert(code_digest, id);
        self.by_token.insert(token_digest, (id, 0));
        self.metrics.opened += 1;
        self.metrics.live += 1;
        tracing::debug!(session = %label, "rendezvous session opened");
        Outcome::Answer(Answer::ok(
            api::to_body(&api::OpenResponse {
                code,
                token,
                label,
                ttl_s: secs(self.limits.unjoined_ttl),
            }),
            true,
        ))
    }

    fn join(&mut self, code: &str, source: IpAddr, now: Instant, random: &Randomness) -> Outcome {
        if !self.fails.available(source, now) {
            return self.refuse(
                ErrorKind::RateLimited,
                "too many failed joins from this address; wait a minute",
            );
        }
        let unknown = "the rendezvous knows no session by this code: wrong, expired, or the rendezvous restarted";
        let Ok(canonical) = api::normalize_code(code) else {
            self.fails.take(source, now);
            return self.refuse(ErrorKind::UnknownSession, unknown);
        };
        let digest = sha256(canonical.as_bytes());
        let found = self.by_code.get(&digest).copied().filter(|id| {
            self.sessions
                .get(id)
                .is_some_and(|s| same(&s.code, &digest))
        });
        let Some(id) = found else {
            self.fails.take(source, now);
            return self.refuse(ErrorKind::UnknownSession, unknown);
        };
        let token = api::hex(&random.token);
        let token_digest = sha256(token.as_bytes());
        let full = self
            .sessions
            .get(&id)
            .is_none_or(|s| s.sides[1].is_some() || s.closed);
        if full {
            self.fails.take(source, now);
            return self.refuse(
                ErrorKind::SessionFull,
                "this session already has both sides",
            );
        }
        if self.by_token.contains_key(&token_digest) {
            return self.refuse(ErrorKind::ServerFull, "try again");
        }
        let ttl = self.limits.session_ttl;
        let Some(s) = self.sessions.get_mut(&id) else {
            return self.refuse(ErrorKind::UnknownSession, unknown);
        };
        s.sides[1] = Some(Side::new(token_digest));
        s.expires = s.opened + ttl;
        let label = s.label.clone();
        let left = s.expires.saturating_duration_since(now);
        self.by_token.insert(token_digest, (id, 1));
        self.metrics.joined += 1;
        tracing::debug!(session = %label, "rendezvous session joined");
        Outcome::Answer(Answer::ok(
            api::to_body(&api::JoinResponse {
                token,
                label,
                ttl_s: secs(left),
            }),
            true,
        ))
    }

    fn call(&mut self, call: Call, source: IpAddr, now: Instant) -> Outcome {
        let token = match &call {
            Call::Wait(r) => &r.token,
            Call::Send(r) => &r.token,
            Call::Recv(r) => &r.token,
            Call::Close(r) => &r.token,
        };
        let digest = sha256(token.as_bytes());
        let found = self.by_token.get(&digest).copied().filter(|(id, side)| {
            self.sessions
                .get(id)
                .and_then(|s| s.sides[*side].as_ref())
                .is_some_and(|s| same(&s.token, &digest))
        });
        let Some((id, side)) = found else {
            if !self.fails.take(source, now) {
                return self.refuse(
                    ErrorKind::RateLimited,
                    "too many requests for unknown sessions from this address; wait a minute",
                );
            }
            return self.refuse(
                ErrorKind::UnknownSession,
                "the rendezvous no longer knows this session: it restarted or the session expired",
            );
        };
        let closed = self.sessions.get(&id).is_some_and(|s| s.closed);
        if closed {
            if matches!(call, Call::Close(_)) {
                return Outcome::Answer(Answer::ok(api::to_body(&api::Empty {}), false));
            }
            return self.refuse(ErrorKind::Closed, "the other side ended the session");
        }
        match call {
            Call::Wait(r) => self.wait(id, side, r.wait_ms),
            Call::Send(r) => self.send(id, side, r),
            Call::Recv(r) => self.recv(id, side, r),
            Call::Close(_) => self.close(id, now),
        }
    }

    fn wait(&mut self, id: u64, side: usize, wait_ms: u64) -> Outcome {
        let joined = side == 1 || self.sessions.get(&id).is_some_and(|s| s.sides[1].is_some());
        let answer = |joined| Answer::ok(api::to_body(&api::WaitResponse { joined }), false);
        let wait = Duration::from_millis(wait_ms).min(LONG_POLL);
        if joined || wait.is_zero() {
            Outcome::Answer(answer(joined))
        } else {
            Outcome::Pending {
                wait,
                empty: answer(false),
            }
        }
    }

    fn send(&mut self, id: u64, side: usize, r: api::SendRequest) -> Outcome {
        let total = self.held;
        let max_total = self.limits.max_total_bytes;
        let Some(me) = self
            .sessions
            .get_mut(&id)
            .and_then(|s| s.sides[side].as_mut())
        else {
            return self.refuse(ErrorKind::UnknownSession, "the session is gone");
        };
        if r.n <= me.sent {
            // A retry whose answer was lost: the same answer, delivered once.
            return Outcome::Answer(Answer::ok(
                api::to_body(&api::SendResponse { seq: r.n }),
                false,
            ));
        }
        if r.n > MAX_MESSAGES {
            return self.refuse(
                ErrorKind::TooManyMessages,
                "this side sent as many messages as a session allows",
            );
        }
        if r.n != me.sent + 1 {
            return self.refuse(ErrorKind::Malformed, "message number out of order");
        }
        let len = r.text.len();
        if me.held + len > MAX_PENDING_BYTES {
            return self.refuse(
                ErrorKind::TooManyMessages,
                "the other side has not read this side's messages yet",
            );
        }
        if total + len > max_total {
            return self.refuse(
                ErrorKind::ServerFull,
                "the rendezvous holds as many messages as it may; try again later",
            );
        }
        me.sent = r.n;
        me.held += len;
        me.outbox.push_back(api::Message {
            seq: r.n,
            text: r.text,
        });
        self.held += len;
        self.metrics.messages += 1;
        Outcome::Answer(Answer::ok(
            api::to_body(&api::SendResponse { seq: r.n }),
            true,
        ))
    }

    fn recv(&mut self, id: u64, side: usize, r: api::RecvRequest) -> Outcome {
        let Some(s) = self.sessions.get_mut(&id) else {
            return self.refuse(ErrorKind::UnknownSession, "the session is gone");
        };
        let wait = Duration::from_millis(r.wait_ms).min(LONG_POLL);
        let empty = Answer::ok(api::to_body(&api::RecvResponse::default()), false);
        let Some(other) = s.sides[1 - side].as_mut() else {
            // The joiner is not there yet: nothing can be pending.
            if r.after > 0 {
                return self.refuse(ErrorKind::Malformed, "after is beyond what was sent");
            }
            return if wait.is_zero() {
                Outcome::Answer(empty)
            } else {
                Outcome::Pending { wait, empty }
            };
        };
        if r.after > other.sent {
            return self.refuse(ErrorKind::Malformed, "after is beyond what was sent");
        }
        let mut freed = 0;
        while other.outbox.front().is_some_and(|m| m.seq <= r.after) {
            if let Some(m) = other.outbox.pop_front() {
                freed += m.text.len();
            }
        }
        other.held -= freed;
        let mut batch = Vec::new();
        let mut text = 0;
        for m in &other.outbox {
            if !batch.is_empty() && text + m.text.len() > MAX_BATCH_TEXT {
                break;
            }
            text += m.text.len();
            batch.push(m.clone());
        }
        self.held -= freed;
        if batch.is_empty() {
            if wait.is_zero() {
                Outcome::Answer(empty)
            } else {
                Outcome::Pending { wait, empty }
            }
        } else {
            Outcome::Answer(Answer::ok(
                api::to_body(&api::RecvResponse { messages: batch }),
                false,
            ))
        }
    }

    fn close(&mut self, id: u64, now: Instant) -> Outcome {
        let Some(s) = self.sessions.get_mut(&id) else {
            return self.refuse(ErrorKind::UnknownSession, "the session is gone");
        };
        let freed = s.held();
        for side in s.sides.iter_mut().flatten() {
            side.outbox.clear();
            side.held = 0;
        }
        s.closed = true;
        s.expires = s.expires.min(now + CLOSED_LINGER);
        let code = s.code;
        tracing::debug!(session = %s.label, "rendezvous session closed");
        self.by_code.remove(&code);
        self.held -= freed;
        self.metrics.closed += 1;
        self.metrics.live = self.metrics.live.saturating_sub(1);
        Outcome::Answer(Answer::ok(api::to_body(&api::Empty {}), true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::rendezvous::{JoinResponse, OpenResponse, RecvResponse, SendResponse, WaitResponse};

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 2));

    struct T {
        core: Core,
        now: Instant,
        n: u8,
    }

    impl T {
        fn new(limits: Limits) -> Self {
            Self {
                core: Core::new(limits),
                now: Instant::now(),
                n: 0,
            }
        }

        fn random(&mut self) -> Randomness {
            self.n = self.n.wrapping_add(1);
            Randomness {
                code: [self.n; CODE_BYTES],
                token: [self.n; TOKEN_BYTES],
                label: [self.n; LABEL_BYTES],
            }
        }

        fn call(&mut self, op: &str, body: &str, from: IpAddr) -> Outcome {
            let r = self.random();
            self.core.handle(
                "POST",
                &format!("/v1/{op}"),
                body.as_bytes(),
                from,
                self.now,
                &r,
            )
        }

        fn answer(&mut self, op: &str, body: &str, from: IpAddr) -> Answer {
            match self.call(op, body, from) {
                Outcome::Answer(a) => a,
                Outcome::Pending { empty, .. } => empty,
            }
        }

        fn ok<R: serde::de::DeserializeOwned + api::Bounded>(
            &mut self,
            op: &str,
            body: &str,
            from: IpAddr,
        ) -> R {
            let a = self.answer(op, body, from);
            assert_eq!(a.status, 200, "{op}: {}", a.body);
            api::parse(a.body.as_bytes(), api::MAX_RESPONSE_BODY).expect("a valid answer")
        }

        fn open_join(&mut self) -> (OpenResponse, JoinResponse) {
            let o: OpenResponse = self.ok("open", "{}", A);
            let j: JoinResponse = self.ok("join", &format!(r#"{{"code":"{}"}}"#, o.code), B);
            (o, j)
        }
    }

    fn send(token: &str, n: u32, text: &str) -> String {
        api::to_body(&api::SendRequest {
            token: token.into(),
            n,
            text: text.into(),
        })
    }

    fn recv(token: &str, after: u32) -> String {
        format!(r#"{{"token":"{token}","after":{after},"wait_ms":0}}"#)
    }

    fn kind(a: &Answer) -> ErrorKind {
        api::parse::<ErrorBody>(a.body.as_bytes(), 4096)
            .expect("an error body")
            .error
    }

    #[test]
    fn open_join_exchange_in_order_exactly_once_then_close() {
        let mut t = T::new(Limits::default());
        let (o, j) = t.open_join();
        assert_eq!(o.label, j.label);
        assert_ne!(o.token, j.token);
        let w: WaitResponse = t.ok("wait", &format!(r#"{{"token":"{}"}}"#, o.token), A);
        assert!(w.joined);
        for (n, text) in [(1, "one"), (2, "two")] {
            let s: SendResponse = t.ok("send", &send(&o.token, n, text), A);
            assert_eq!(s.seq, n);
        }
        // A retried send is answered again, not delivered twice.
        let s: SendResponse = t.ok("send", &send(&o.token, 2, "two"), A);
        assert_eq!(s.seq, 2);
        let r: RecvResponse = t.ok("recv", &recv(&j.token, 0), B);
        assert_eq!(
            r.messages
                .iter()
                .map(|m| (m.seq, m.text.as_str()))
                .collect::<Vec<_>>(),
            [(1, "one"), (2, "two")]
        );
        // The answer was lost: asked again from 0, the same; from 2, none.
        let again: RecvResponse = t.ok("recv", &recv(&j.token, 0), B);
        assert_eq!(again, r);
        let none: RecvResponse = t.ok("recv", &recv(&j.token, 2), B);
        assert!(none.messages.is_empty());
        assert_eq!(t.core.held_bytes(), 0);
        // Acknowledged ones are gone: asking from 0 now gives nothing.
        let gone: RecvResponse = t.ok("recv", &recv(&j.token, 0), B);
        assert!(gone.messages.is_empty());
        // A gap and an `after` beyond what was sent are refused.
        let a = t.answer("send", &send(&j.token, 2, "x"), B);
        assert_eq!(kind(&a), ErrorKind::Malformed);
        let a = t.answer("recv", &recv(&o.token, 1), A);
        assert_eq!(kind(&a), ErrorKind::Malformed);
        let _: api::Empty = t.ok("close", &format!(r#"{{"token":"{}"}}"#, j.token), B);
        let a = t.answer("recv", &recv(&o.token, 0), A);
        assert_eq!((a.status, kind(&a)), (410, ErrorKind::Closed));
        let a = t.answer("join", &format!(r#"{{"code":"{}"}}"#, o.code), B);
        assert_eq!(kind(&a), ErrorKind::UnknownSession);
        let m = t.core.metrics();
        assert_eq!((m.opened, m.joined, m.closed, m.live), (1, 1, 1, 0));
        // Lingering tokens go after CLOSED_LINGER.
        t.now += CLOSED_LINGER;
        let a = t.answer("recv", &recv(&o.token, 0), A);
        assert_eq!(kind(&a), ErrorKind::UnknownSession);
        assert_eq!(t.core.sessions(), 0);
        assert_eq!(t.core.metrics().expired, 0);
    }

    #[test]
    fn a_third_side_wrong_codes_and_codes_as_typed() {
        let mut t = T::new(Limits::default());
        let o: OpenResponse = t.ok("open", "{}", A);
        let typed = api::group_code(&o.code).to_uppercase();
        let _: JoinResponse = t.ok("join", &format!(r#"{{"code":"{typed}"}}"#), B);
        let a = t.answer("join", &format!(r#"{{"code":"{}"}}"#, o.code), B);
        assert_eq!((a.status, kind(&a)), (409, ErrorKind::SessionFull));
        let a = t.answer("join", r#"{"code":"zzzz-zzzz-zzzz-zzzz"}"#, B);
        assert_eq!((a.status, kind(&a)), (404, ErrorKind::UnknownSession));
        let a = t.answer("join", r#"{"code":"not a code"}"#, B);
        assert_eq!(kind(&a), ErrorKind::UnknownSession);
        // An unknown token.
        let a = t.answer("recv", &recv(&"0".repeat(32), 0), B);
        assert_eq!(kind(&a), ErrorKind::UnknownSession);
        // Answers never carry the code or a token in a refusal.
        assert!(!a.body.contains(&o.code));
        let m = t.core.metrics();
        assert_eq!(m.refused(ErrorKind::SessionFull), 1);
        assert_eq!(m.refused(ErrorKind::UnknownSession), 3);
    }

    #[test]
    fn opens_and_failed_joins_are_rate_limited_per_source() {
        let mut t = T::new(Limits::default());
        for _ in 0..OPENS_PER_MINUTE {
            let _: OpenResponse = t.ok("open", "{}", A);
        }
        let a = t.answer("open", "{}", A);
        assert_eq!((a.status, kind(&a)), (429, ErrorKind::RateLimited));
        // Another source is not affected; the same one refills over a minute.
        let _: OpenResponse = t.ok("open", "{}", B);
        t.now += Duration::from_secs(6);
        let _: OpenResponse = t.ok("open", "{}", A);
        let a = t.answer("open", "{}", A);
        assert_eq!(kind(&a), ErrorKind::RateLimited);

        let o: OpenResponse = t.ok("open", "{}", B);
        for _ in 0..FAILED_JOINS_PER_MINUTE {
            let a = t.answer("join", r#"{"code":"zzzzzzzzzzzzzzzz"}"#, A);
            assert_eq!(kind(&a), ErrorKind::UnknownSession);
        }
        // Now even the right code is refused from this source.
        let a = t.answer("join", &format!(r#"{{"code":"{}"}}"#, o.code), A);
        assert_eq!(kind(&a), ErrorKind::RateLimited);
        let _: JoinResponse = t.ok("join", &format!(r#"{{"code":"{}"}}"#, o.code), B);
    }

    #[test]
    fn sessions_expire_unjoined_sooner_and_the_cap_holds() {
        let mut t = T::new(Limits {
            max_sessions: 2,
            opens_per_minute: 0,
            ..Limits::default()
        });
        let (o, _) = t.open_join();
        let lone: OpenResponse = t.ok("open", "{}", A);
        let a = t.answer("open", "{}", A);
        assert_eq!((a.status, kind(&a)), (503, ErrorKind::ServerFull));
        t.now += UNJOINED_TTL;
        let a = t.answer("wait", &format!(r#"{{"token":"{}"}}"#, lone.token), A);
        assert_eq!(kind(&a), ErrorKind::UnknownSession);
        let w: WaitResponse = t.ok("wait", &format!(r#"{{"token":"{}"}}"#, o.token), A);
        assert!(w.joined);
        t.now += SESSION_TTL - UNJOINED_TTL;
        assert!(!t.core.sweep(t.now - Duration::from_millis(1)));
        assert!(t.core.sweep(t.now));
        assert_eq!(t.core.sessions(), 0);
        let m = t.core.metrics();
        assert_eq!((m.expired, m.live), (2, 0));
    }

    #[test]
    fn messages_are_bounded_in_size_count_and_pending_bytes() {
        let mut t = T::new(Limits::default());
        let (o, j) = t.open_join();
        let big = "x".repeat(api::MAX_MESSAGE + 1);
        let a = t.answer("send", &send(&o.token, 1, &big), A);
        assert_eq!((a.status, kind(&a)), (413, ErrorKind::TooLarge));
        let a = t.answer("send", &"x".repeat(MAX_REQUEST_BODY + 1), A);
        assert_eq!(kind(&a), ErrorKind::TooLarge);
        let full = "y".repeat(api::MAX_MESSAGE);
        let fits = MAX_PENDING_BYTES / api::MAX_MESSAGE;
        for n in 1..=fits as u32 {
            let _: SendResponse = t.ok("send", &send(&o.token, n, &full), A);
        }
        let a = t.answer("send", &send(&o.token, fits as u32 + 1, "z"), A);
        assert_eq!(kind(&a), ErrorKind::TooManyMessages);
        // One recv answer carries at most MAX_BATCH_TEXT.
        let r: RecvResponse = t.ok("recv", &recv(&j.token, 0), B);
        assert_eq!(r.messages.len(), 1);
        let r: RecvResponse = t.ok("recv", &recv(&j.token, fits as u32), B);
        assert!(r.messages.is_empty());
        let mut n = fits as u32;
        while n < MAX_MESSAGES {
            n += 1;
            let _: SendResponse = t.ok("send", &send(&o.token, n, "c"), A);
        }
        let a = t.answer("send", &send(&o.token, n + 1, "c"), A);
        assert_eq!(kind(&a), ErrorKind::TooManyMessages);
        let r: RecvResponse = t.ok("recv", &recv(&j.token, fits as u32), B);
        assert_eq!(r.messages.len(), (MAX_MESSAGES - fits as u32) as usize);
    }

    #[test]
    fn long_polls_are_pending_and_bounded_below_the_http_timeout() {
        let mut t = T::new(Limits::default());
        let o: OpenResponse = t.ok("open", "{}", A);
        let body = format!(r#"{{"token":"{}","wait_ms":60000}}"#, o.token);
        match t.call("wait", &body, A) {
            Outcome::Pending { wait, empty } => {
                assert_eq!(wait, LONG_POLL);
                assert!(wait < crate::http::IO_TIMEOUT);
                assert_eq!(empty.body, r#"{"joined":false}"#);
            }
            other => panic!("{other:?}"),
        }
        let j: JoinResponse = t.ok("join", &format!(r#"{{"code":"{}"}}"#, o.code), B);
        assert!(
            matches!(t.call("wait", &body, A), Outcome::Answer(a) if a.body == r#"{"joined":true}"#)
        );
        let body = format!(r#"{{"token":"{}","after":0,"wait_ms":2000}}"#, j.token);
        assert!(matches!(t.call("recv", &body, B), Outcome::Pending { .. }));
    }

    #[test]
    fn hostile_requests_are_refused_with_names() {
        let mut t = T::new(Limits::default());
        let r = t.random();
        let a = |o: Outcome| match o {
            Outcome::Answer(a) => a,
            Outcome::Pending { .. } => panic!("pending"),
        };
        let got = a(t.core.handle("GET", "/v1/open", b"", A, t.now, &r));
        assert_eq!(kind(&got), ErrorKind::NotFound);
        let got = a(t.core.handle("POST", "/metrics", b"", A, t.now, &r));
        assert_eq!(kind(&got), ErrorKind::NotFound);
        for body in ["", "{", "null", r#"{"token":"x"}"#, r#"{"token":"GG"}"#] {
            let got = t.answer("recv", body, A);
            assert_eq!(kind(&got), ErrorKind::Malformed, "{body}");
        }
        let got = t.answer("open", "[1]", A);
        assert_eq!(kind(&got), ErrorKind::Malformed);
        let _: OpenResponse = t.ok("open", "", A);
        assert_eq!(t.core.metrics().refused(ErrorKind::Malformed), 6);
    }

    #[test]
    fn prometheus_text_names_every_refusal() {
        let text = Metrics::default().to_prometheus();
        for k in REFUSALS {
            assert!(text.contains(&format!("reason=\"{}\"", k.name())), "{text}");
        }
        assert!(text.contains("natscope_rendezvous_sessions 0"));
    }
}

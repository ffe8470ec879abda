//! The rendezvous of `natscope serve --rendezvous` (docs/rendezvous.md): the
//! HTTP API's JSON bodies, its bounds, the session code's format, and the
//! bounded parsers both ends use (`servers::rendezvous` reads requests,
//! `probe::rendezvous` reads answers).
//!
//! Every body is refused when longer than its bound *before* it is parsed
//! ([`parse`]), and checked against the bounds after ([`Bounded`]). A
//! parse error never echoes the input (the input may hold a code or a
//! token).
//!
//! ## The API
//!
//! Every call is a `POST` of a JSON body to `BASE/v1/OP`; secrets travel in
//! bodies only, never in the path or query.
//!
//! | op | request | answer (200) |
//! |---|---|---|
//! | `open` | `{}` | [`OpenResponse`]: code, token, label |
//! | `join` | [`JoinRequest`]: code | [`JoinResponse`]: token, label |
//! | `wait` | [`WaitRequest`]: token, wait_ms | [`WaitResponse`]: joined |
//! | `send` | [`SendRequest`]: token, n, text | [`SendResponse`]: seq |
//! | `recv` | [`RecvRequest`]: token, after, wait_ms | [`RecvResponse`]: messages |
//! | `close` | [`CloseRequest`]: token | `{}` |
//!
//! A refusal is a 4xx/5xx with an [`ErrorBody`] naming an [`ErrorKind`].

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The largest message one side sends (UTF-8 bytes): ICE candidate lists
/// and an SDP fit easily.
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Messages one side may send in a session.
pub const MAX_MESSAGES: u32 = 64;
/// Bytes of one side's messages the server holds that the other side has
/// not acknowledged yet.
pub const MAX_PENDING_BYTES: usize = 64 * 1024;
/// The longest a session lives once both sides are in.
pub const SESSION_TTL: Duration = Duration::from_secs(10 * 60);
/// The longest a session waits for its second side.
pub const UNJOINED_TTL: Duration = Duration::from_secs(3 * 60);
/// How long a closed session is remembered (its tokens only, no messages),
/// so the other side learns it was closed rather than forgotten.
pub const CLOSED_LINGER: Duration = Duration::from_secs(60);
/// Message bytes a server holds in all its sessions at once; sends beyond
/// are refused until some are read.
pub const MAX_TOTAL_BYTES: usize = 32 * 1024 * 1024;
/// Sessions a server holds at once (open, joined or closed-lingering);
/// opens beyond are refused.
pub const MAX_SESSIONS: usize = 1024;
/// The longest one `wait` or `recv` request is held open by the server:
/// below the HTTP server's per-connection time (5 s).
pub const LONG_POLL: Duration = Duration::from_secs(4);
/// Sessions one source (IPv4 address, IPv6 /64) may open per minute.
pub const OPENS_PER_MINUTE: u32 = 10;
/// Failed joins (a wrong code, a full session) and requests with an
/// unknown token one source may make per minute.
pub const FAILED_JOINS_PER_MINUTE: u32 = 20;
/// Total message text of one `recv` answer (it always carries at least one
/// pending message when there is one).
pub const MAX_BATCH_TEXT: usize = MAX_MESSAGE;
/// The largest request body: a `send` of [`MAX_MESSAGE`] bytes, every one
/// JSON-escaped as `\u00XX`, plus room for the other fields.
pub const MAX_REQUEST_BODY: usize = 6 * MAX_MESSAGE + 1024;
/// The largest answer body a client reads: a `recv` of [`MAX_BATCH_TEXT`]
/// bytes, escaped, plus each message's framing.
pub const MAX_RESPONSE_BODY: usize = 6 * MAX_BATCH_TEXT + 64 * (MAX_MESSAGES as usize) + 1024;
/// Random bytes in a session code (80 bits).
pub const CODE_BYTES: usize = 10;
/// Characters of a session code in its canonical form (5 bits each).
pub const CODE_LEN: usize = 16;
/// The longest code text accepted before normalising (dashes and spaces
/// around the 16 characters).
pub const MAX_CODE_INPUT: usize = 64;
/// Random bytes in a side's bearer token (128 bits; 32 hex digits).
pub const TOKEN_BYTES: usize = 16;
/// Random bytes in a session label (64 bits; 16 hex digits).
pub const LABEL_BYTES: usize = 8;
/// The longest session label a client accepts from a server.
pub const MAX_LABEL: usize = 64;
/// The longest `reason` a client keeps from an error answer.
pub const MAX_REASON: usize = 200;

/// Crockford's base32 alphabet (no I, L, O, U), lower case.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// An API call: the last path segment after `v1/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Open a session: the creator gets a code and its token.
    Open,
    /// Join a session by its code: the joiner gets its token.
    Join,
    /// The creator waits (long poll) until the joiner is in.
    Wait,
    /// Send one message to the other side.
    Send,
    /// Receive the other side's messages after a sequence number (long
    /// poll); acknowledges those up to it.
    Recv,
    /// End the session: everything about it is deleted.
    Close,
}

impl Op {
    /// Every call.
    pub const ALL: [Op; 6] = [Op::Open, Op::Join, Op::Wait, Op::Send, Op::Recv, Op::Close];

    /// The path segment (`open`, `join`, …).
    pub fn name(self) -> &'static str {
        match self {
            Op::Open => "open",
            Op::Join => "join",
            Op::Wait => "wait",
            Op::Send => "send",
            Op::Recv => "recv",
            Op::Close => "close",
        }
    }

    /// The call a request path names: any prefix, then `/v1/OP` (so the
    /// server may sit behind a proxy that keeps its prefix).
    pub fn from_path(path: &str) -> Option<Op> {
        let rest = path.strip_suffix('/').unwrap_or(path);
        let (head, op) = rest.rsplit_once('/')?;
        if !(head == "/v1" || head.ends_with("/v1")) {
            return None;
        }
        Op::ALL.into_iter().find(|o| o.name() == op)
    }

    /// The path of this call under `base` (a path without a trailing
    /// slash, or empty).
    pub fn path(self, base: &str) -> String {
        format!("{}/v1/{}", base.trim_end_matches('/'), self.name())
    }
}

/// The canonical form of a code's bytes: 16 lower-case Crockford base32
/// characters.
pub fn encode_code(bytes: &[u8; CODE_BYTES]) -> String {
    let mut acc: u128 = 0;
    for b in bytes {
        acc = (acc << 8) | u128::from(*b);
    }
    (0..CODE_LEN)
        .rev()
        .map(|i| char::from(ALPHABET[((acc >> (i * 5)) & 31) as usize]))
        .collect()
}

/// Why a code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Longer than [`MAX_CODE_INPUT`] characters.
    #[error("a session code is 16 letters and digits; this is far longer")]
    TooLong,
    /// Not 16 characters once dashes and spaces are removed.
    #[error("a session code is 16 letters and digits (dashes and spaces do not count)")]
    Length,
    /// A character outside the code's alphabet.
    #[error("a session code has only digits and letters other than U")]
    Character,
}

/// Reads a code as a human typed it: case, dashes and spaces do not
/// matter, `o` reads as `0` and `i`/`l` as `1`. Gives the canonical form.
pub fn normalize_code(text: &str) -> Result<String, CodeError> {
    if text.len() > MAX_CODE_INPUT {
        return Err(CodeError::TooLong);
    }
    let mut out = String::with_capacity(CODE_LEN);
    for c in text.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' | '\t' | '_' | '.' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return Err(CodeError::Character),
        };
        out.push(c);
    }
    if out.len() != CODE_LEN {
        return Err(CodeError::Length);
    }
    Ok(out)
}

/// The canonical code grouped by four for humans (`k7qd-2mfa-x9rt-w3hc`).
pub fn group_code(canonical: &str) -> String {
    let mut out = String::with_capacity(canonical.len() + canonical.len() / 4);
    for (i, c) in canonical.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// Lower-case hex of `bytes` (tokens, labels).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// True for a well-formed token: [`TOKEN_BYTES`] × 2 lower-case hex digits.
pub fn is_token(s: &str) -> bool {
    s.len() == TOKEN_BYTES * 2 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// True for a label a client may write into its report: 1 to
/// [`MAX_LABEL`] characters of `[0-9a-z-]`.
pub fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LABEL
        && s.bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'-'))
}

/// The bounds a parsed body must hold (beyond its JSON shape).
pub trait Bounded {
    /// `Err(what)` when a field is out of bounds.
    fn check(&self) -> Result<(), &'static str>;
}

/// Why a body was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Longer than its bound: refused before parsing.
    #[error("body of {len} bytes is over the {max}-byte bound")]
    TooLarge {
        /// The body's length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Not JSON, or not the expected fields (the input is not echoed).
    #[error("{0}")]
    Json(&'static str),
    /// A field out of bounds.
    #[error("{0}")]
    Invalid(&'static str),
}

/// Parses a body of at most `max` bytes into `T` and checks its bounds.
/// Never panics; an oversize body is refused unread.
pub fn parse<T: DeserializeOwned + Bounded>(body: &[u8], max: usize) -> Result<T, ParseError> {
    if body.len() > max {
        return Err(ParseError::TooLarge {
            len: body.len(),
            max,
        });
    }
    let value: T = serde_json::from_slice(body).map_err(|e| {
        ParseError::Json(match e.classify() {
            serde_json::error::Category::Data => "JSON with missing or mistyped fields",
            serde_json::error::Category::Eof => "JSON cut short",
            _ => "not JSON",
        })
    })?;
    value.check().map_err(ParseError::Invalid)?;
    Ok(value)
}

/// Serializes a body (the types here cannot fail to serialize).
pub fn to_body<T: Serialize>(value: &T) -> String {
    // Plain structs of strings and integers: serde_json cannot fail on them.
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

fn token_ok(t: &str) -> Result<(), &'static str> {
    if is_token(t) {
        Ok(())
    } else {
        Err("token is not 32 hex digits")
    }
}

fn wait_ok(ms: u64) -> Result<(), &'static str> {
    // Any value is accepted and clamped to LONG_POLL by the server; this
    // only refuses nonsense far beyond it.
    if ms <= 3_600_000 {
        Ok(())
    } else {
        Err("wait_ms is over an hour")
    }
}

/// `open`'s request: nothing (an empty body is accepted too).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRequest {}

impl Bounded for OpenRequest {
    fn check(&self) -> Result<(), &'static str> {
        Ok(())
    }
}

/// `open`'s answer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenResponse {
    /// The session code, canonical (the creator shows it grouped).
    pub code: String,
    /// The creator's bearer token.
    pub token: String,
    /// The session's non-secret label (random, not derived from the code).
    pub label: String,
    /// Seconds the session waits for its second side.
    pub ttl_s: u64,
}

impl std::fmt::Debug for OpenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenResponse")
            .field("label", &self.label)
            .field("ttl_s", &self.ttl_s)
            .finish_non_exhaustive()
    }
}

impl Bounded for OpenResponse {
    fn check(&self) -> Result<(), &'static str> {
        normalize_code(&self.code).map_err(|_| "code is not a session code")?;
        token_ok(&self.token)?;
        if !is_label(&self.label) {
            return Err("label is not a session label");
        }
        Ok(())
    }
}

/// `join`'s request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The session code (any form [`normalize_code`] reads).
    pub code: String,
}

impl std::fmt::Debug for JoinRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinRequest { code: <redacted> }")
    }
}

impl Bounded for JoinRequest {
    fn check(&self) -> Result<(), &'static str> {
        if self.code.len() > MAX_CODE_INPUT {
            return Err("code is too long");
        }
        Ok(())
    }
}

/// `join`'s answer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    /// The joiner's bearer token.
    pub token: String,
    /// The session's label (the same the creator got).
    pub label: String,
    /// Seconds the session lives from now, at most.
    pub ttl_s: u64,
}

impl std::fmt::Debug for JoinResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinResponse")
            .field("label", &self.label)
            .field("ttl_s", &self.ttl_s)
            .finish_non_exhaustive()
    }
}

impl Bounded for JoinResponse {
    fn check(&self) -> Result<(), &'static str> {
        token_ok(&self.token)?;
        if !is_label(&self.label) {
            return Err("label is not a session label");
        }
        Ok(())
    }
}

/// `wait`'s request (creator only).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitRequest {
    /// The creator's token.
    pub token: String,
    /// How long the server may hold the request (clamped to
    /// [`LONG_POLL`]).
    #[serde(default)]
    pub wait_ms: u64,
}

impl Bounded for WaitRequest {
    fn check(&self) -> Result<(), &'static str> {
        token_ok(&self.token)?;
        wait_ok(self.wait_ms)
    }
}

/// `wait`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitResponse {
    /// True once the other side joined.
    pub joined: bool,
}

impl Bounded for WaitResponse {
    fn check(&self) -> Result<(), &'static str> {
        Ok(())
    }
}

/// `send`'s request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequest {
    /// The sender's token.
    pub token: String,
    /// The sender's count of this message (1, 2, …): a repeated `n` (a
    /// retry whose answer was lost) is answered again and not delivered
    /// twice; a gap is refused.
    pub n: u32,
    /// The message, at most [`MAX_MESSAGE`] bytes of UTF-8.
    pub text: String,
}

impl Bounded for SendRequest {
    fn check(&self) -> Result<(), &'static str> {
        token_ok(&self.token)?;
        if self.text.len() > MAX_MESSAGE {
            return Err("message is over MAX_MESSAGE bytes");
        }
        if self.n == 0 {
            return Err("n starts at 1");
        }
        Ok(())
    }
}

/// `send`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    /// The message's sequence number (the same as its `n`).
    pub seq: u32,
}

impl Bounded for SendResponse {
    fn check(&self) -> Result<(), &'static str> {
        if self.seq == 0 || self.seq > MAX_MESSAGES {
            return Err("seq out of range");
        }
        Ok(())
    }
}

/// `recv`'s request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecvRequest {
    /// The receiver's token.
    pub token: String,
    /// The last sequence number the receiver has; the server drops every
    /// message up to it and answers those after it.
    #[serde(default)]
    pub after: u32,
    /// How long the server may hold the request when nothing is pending
    /// (clamped to [`LONG_POLL`]).
    #[serde(default)]
    pub wait_ms: u64,
}

impl Bounded for RecvRequest {
    fn check(&self) -> Result<(), &'static str> {
        token_ok(&self.token)?;
        if self.after > MAX_MESSAGES {
            return Err("after is beyond MAX_MESSAGES");
        }
        wait_ok(self.wait_ms)
    }
}

/// One relayed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its sequence number: 1, 2, … per sender.
    pub seq: u32,
    /// Its text.
    pub text: String,
}

/// `recv`'s answer: the pending messages after `after`, in order (none
/// when the long poll ended empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecvResponse {
    /// The messages, in sequence order.
    pub messages: Vec<Message>,
}

impl Bounded for RecvResponse {
    fn check(&self) -> Result<(), &'static str> {
        if self.messages.len() > MAX_MESSAGES as usize {
            return Err("more messages than MAX_MESSAGES");
        }
        let mut total = 0usize;
        for m in &self.messages {
            if m.text.len() > MAX_MESSAGE {
                return Err("a message over MAX_MESSAGE bytes");
            }
            if m.seq == 0 || m.seq > MAX_MESSAGES {
                return Err("a message's seq out of range");
            }
            total += m.text.len();
        }
        if total > MAX_BATCH_TEXT {
            return Err("messages over MAX_BATCH_TEXT bytes in all");
        }
        Ok(())
    }
}

/// `close`'s request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseRequest {
    /// Either side's token.
    pub token: String,
}

impl Bounded for CloseRequest {
    fn check(&self) -> Result<(), &'static str> {
        token_ok(&self.token)
    }
}

/// `close`'s answer (and any empty success).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

impl Bounded for Empty {
    fn check(&self) -> Result<(), &'static str> {
        Ok(())
    }
}

macro_rules! redacted_debug {
    ($($t:ident),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), " { <redacted> }"))
            }
        }
    )*};
}
redacted_debug!(WaitRequest, SendRequest, RecvRequest, CloseRequest);

/// What a refusal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The request body was not one this API reads (400).
    Malformed,
    /// No such path or method (404 from a non-API path).
    NotFound,
    /// The code or token names no session: wrong, expired, or the server
    /// restarted (404).
    UnknownSession,
    /// The session already has both sides (409).
    SessionFull,
    /// The other side closed the session (410).
    Closed,
    /// This source made too many opens or failed joins (429).
    RateLimited,
    /// A message over [`MAX_MESSAGE`] or a body over its bound (413).
    TooLarge,
    /// A side sent [`MAX_MESSAGES`], or the other side left
    /// [`MAX_PENDING_BYTES`] unread (429).
    TooManyMessages,
    /// The server holds [`MAX_SESSIONS`] (or [`MAX_TOTAL_BYTES`]) already
    /// (503).
    ServerFull,
    /// A kind this version does not know (from a newer server).
    #[serde(other)]
    Other,
}

impl ErrorKind {
    /// The HTTP status a server answers it with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::Malformed => 400,
            ErrorKind::NotFound | ErrorKind::UnknownSession => 404,
            ErrorKind::SessionFull => 409,
            ErrorKind::Closed => 410,
            ErrorKind::TooLarge => 413,
            ErrorKind::RateLimited | ErrorKind::TooManyMessages => 429,
            ErrorKind::ServerFull => 503,
            ErrorKind::Other => 500,
        }
    }

    /// The kebab-case name (as in JSON and metrics labels).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::NotFound => "not-found",
            ErrorKind::UnknownSession => "unknown-session",
            ErrorKind::SessionFull => "session-full",
            ErrorKind::Closed => "closed",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::TooManyMessages => "too-many-messages",
            ErrorKind::ServerFull => "server-full",
            ErrorKind::Other => "other",
        }
    }
}

/// The body of every refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorKind,
    /// In plain words (never a code or token).
    #[serde(default)]
    pub reason: String,
}

impl Bounded for ErrorBody {
    fn check(&self) -> Result<(), &'static str> {
        Ok(())
    }
}

/// A server's `reason` made safe to show: control characters removed, at
/// most [`MAX_REASON`] characters.
pub fn sanitize_reason(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REASON)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_read_as_typed() {
        let bytes = [0xa7, 0x3c, 0x55, 0x00, 0xff, 0x12, 0x34, 0x56, 0x78, 0x9a];
        let code = encode_code(&bytes);
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)));
        let grouped = group_code(&code);
        assert_eq!(grouped.len(), 19);
        assert_eq!(normalize_code(&grouped), Ok(code.clone()));
        assert_eq!(normalize_code(&grouped.to_uppercase()), Ok(code.clone()));
        assert_eq!(
            normalize_code(&format!(" {} ", grouped.replace('-', " "))),
            Ok(code.clone())
        );
        assert_eq!(encode_code(&[0; CODE_BYTES]), "0000000000000000");
        assert_eq!(
            normalize_code("oooo-iiii-llll-0000"),
            Ok("0000111111110000".into())
        );
        assert_eq!(normalize_code("k7qd-2mfa-x9rt-w3h"), Err(CodeError::Length));
        assert_eq!(
            normalize_code("k7qd-2mfa-x9rt-w3hu"),
            Err(CodeError::Character)
        );
        assert_eq!(
            normalize_code("k7qd-2mfa-x9rt-w3hé"),
            Err(CodeError::Character)
        );
        assert_eq!(normalize_code(&"-".repeat(100)), Err(CodeError::TooLong));
        assert_eq!(group_code("k7qd2mfax9rtw3hc"), "k7qd-2mfa-x9rt-w3hc");
    }

    #[test]
    fn ops_by_path() {
        assert_eq!(Op::from_path("/v1/open"), Some(Op::Open));
        assert_eq!(Op::from_path("/natscope/v1/recv"), Some(Op::Recv));
        assert_eq!(Op::from_path("/v1/recv/"), Some(Op::Recv));
        assert_eq!(Op::from_path("/v2/recv"), None);
        assert_eq!(Op::from_path("/xv1/recv"), None);
        assert_eq!(Op::from_path("/v1/other"), None);
        assert_eq!(Op::from_path(""), None);
        assert_eq!(Op::Send.path(""), "/v1/send");
        assert_eq!(Op::Send.path("/rv/"), "/rv/v1/send");
    }

    #[test]
    fn bodies_are_bounded_before_and_after_parsing() {
        let token = hex(&[7; TOKEN_BYTES]);
        let ok = to_body(&SendRequest {
            token: token.clone(),
            n: 1,
            text: "a=candidate".into(),
        });
        let r: SendRequest = parse(ok.as_bytes(), MAX_REQUEST_BODY).expect("valid");
        assert_eq!(r.n, 1);
        assert_eq!(
            parse::<SendRequest>(ok.as_bytes(), 10),
            Err(ParseError::TooLarge {
                len: ok.len(),
                max: 10
            })
        );
        let big = to_body(&SendRequest {
            token: token.clone(),
            n: 1,
            text: "x".repeat(MAX_MESSAGE + 1),
        });
        assert!(matches!(
            parse::<SendRequest>(big.as_bytes(), MAX_REQUEST_BODY),
            Err(ParseError::Invalid(_))
        ));
        // The worst-case escaping of a full message still fits.
        let escaped = to_body(&SendRequest {
            token,
            n: 64,
            text: "\u{1}".repeat(MAX_MESSAGE),
        });
        assert!(escaped.len() <= MAX_REQUEST_BODY, "{}", escaped.len());
        for bad in [&b"not json"[..], b"{\"token\":1}", b"{", b"[[[[[[[[[[[[[["] {
            let e = parse::<SendRequest>(bad, MAX_REQUEST_BODY).expect_err("refused");
            assert!(matches!(e, ParseError::Json(_)), "{e:?}");
        }
        let deep = "[".repeat(100_000);
        assert!(parse::<RecvResponse>(deep.as_bytes(), usize::MAX).is_err());
        assert!(parse::<OpenRequest>(b"{}", 16).is_ok());
    }

    #[test]
    fn a_full_recv_answer_fits_the_client_bound() {
        let messages = (1..=MAX_MESSAGES)
            .map(|seq| Message {
                seq,
                text: "\u{1}".repeat(MAX_BATCH_TEXT / MAX_MESSAGES as usize),
            })
            .collect();
        let body = to_body(&RecvResponse { messages });
        assert!(body.len() <= MAX_RESPONSE_BODY, "{}", body.len());
        let r: RecvResponse = parse(body.as_bytes(), MAX_RESPONSE_BODY).expect("valid");
        assert_eq!(r.messages.len(), MAX_MESSAGES as usize);
    }

    #[test]
    fn error_kinds_read_unknown_ones_as_other_and_debug_hides_secrets() {
        let e: ErrorBody = parse(br#"{"error":"new-thing","reason":"x"}"#, 1024).expect("valid");
        assert_eq!(e.error, ErrorKind::Other);
        let e: ErrorBody = parse(br#"{"error":"session-full"}"#, 1024).expect("valid");
        assert_eq!(e.error, ErrorKind::SessionFull);
        assert_eq!(sanitize_reason("a\u{1b}[31mb\n"), "a[31mb");
        let token = hex(&[0xab; TOKEN_BYTES]);
        let dbg = format!(
            "{:?} {:?}",
            SendRequest {
                token: token.clone(),
                n: 1,
                text: String::new()
            },
            OpenResponse {
                code: "0000000000000000".into(),
                token: token.clone(),
                label: "l".into(),
                ttl_s: 1
            }
        );
        assert!(
            !dbg.contains(&token) && !dbg.contains("0000000000000000"),
            "{dbg}"
        );
    }
}

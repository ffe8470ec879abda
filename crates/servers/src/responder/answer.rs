//! Turning one received request into (at most) one response: the part of
//! the responder shared by the UDP and TCP loops. No sockets here; the
//! response is written into the caller's buffer (no per-packet allocation
//! on the success path).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use stun_proto::types::attribute::{
    Attribute, AttributeFromRaw, AttributeStaticType, AttributeType, ErrorCode, MessageIntegrity,
    MessageIntegritySha256, Nonce, Realm, Software, UnknownAttributes, Userhash, Username,
    XorMappedAddress,
};
use stun_proto::types::message::{
    BINDING, Message, MessageClass, MessageHeader, MessageWrite, MessageWriteExt,
    MessageWriteMutSlice, StunWriteError,
};

use super::metrics::{Metrics, inc};
use super::ratelimit::RateLimiter;
use wire::attrs::{
    CHANGE_REQUEST, ChangeRequest, MappedAddress, OtherAddress, PADDING, RESPONSE_PORT,
    ResponseOrigin, ResponsePort,
};

/// Room for every attribute of a response except PADDING: header,
/// 4 addresses of at most 24 bytes, SOFTWARE (≤ 767), FINGERPRINT, and
/// slack. PADDING (4 + max_padding rounded up) comes on top.
pub(crate) const RESPONSE_BASE_LEN: usize = 1024;

/// The largest request the responder reads (UDP datagram or TCP message).
pub(crate) const MAX_REQUEST_LEN: usize = 4096;

/// Most distinct unknown attributes listed in one 420 response.
const MAX_UNKNOWN: usize = 16;

/// Comprehension-required attributes a Binding request may carry that the
/// responder understands (RFC 5780) or may safely ignore (RFC 8489
/// authentication attributes: this server does not authenticate).
const KNOWN: &[AttributeType] = &[
    CHANGE_REQUEST,
    RESPONSE_PORT,
    PADDING,
    Username::TYPE,
    Userhash::TYPE,
    MessageIntegrity::TYPE,
    MessageIntegritySha256::TYPE,
    Realm::TYPE,
    Nonce::TYPE,
];

/// How a request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// A UDP datagram.
    Udp,
    /// A message on a TCP connection (the answer goes back on it).
    Tcp,
}

impl Transport {
    /// "udp" or "tcp", for logs.
    fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// How and when one request arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    /// Its source.
    pub(crate) src: SocketAddr,
    /// The index of the socket/listener it arrived on (`ip * 2 + port`).
    pub(crate) local: usize,
    /// The RESPONSE-ORIGIN of that socket, when it has one.
    pub(crate) origin: Option<SocketAddr>,
    /// UDP or TCP.
    pub(crate) transport: Transport,
    /// When it arrived.
    pub(crate) at: Instant,
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing to send (already counted).
    Drop,
    /// Send `out[..len]` from socket `via` to `to`.
    Reply {
        /// Bytes of the response in the output buffer.
        len: usize,
        /// Index of the sending socket (`ip * 2 + port`; see `mod.rs`).
        via: usize,
        /// Destination.
        to: SocketAddr,
    },
}

/// Everything the answering needs, shared by all receive loops.
#[derive(Debug)]
pub(crate) struct Answerer {
    /// RFC 5780 mode (four sockets, OTHER-ADDRESS, CHANGE-REQUEST).
    pub(crate) two_addr: bool,
    /// RESPONSE-ORIGIN for each UDP socket index (advertised address when
    /// configured); `None` when bound to an unspecified address.
    pub(crate) origins: Vec<Option<SocketAddr>>,
    /// Advertised IP per IP index (0 primary, 1 alternate), if any.
    pub(crate) advertised: [Option<IpAddr>; 2],
    /// OTHER-ADDRESS per receiving socket index, in two-address mode: the
    /// alternate address (alternate IP and port), except for requests to
    /// the alternate itself, which are told the primary (see `Responder::start`).
    pub(crate) others: Vec<Option<SocketAddr>>,
    /// SOFTWARE, when configured.
    pub(crate) software: Option<Software>,
    /// Cap on response PADDING.
    pub(crate) max_padding: u16,
    /// Per-source rate limiter, when enabled.
    pub(crate) limiter: Option<Mutex<RateLimiter>>,
    /// Counters.
    pub(crate) metrics: Arc<Metrics>,
}

/// The addresses a success response carries.
#[derive(Clone, Copy)]
struct Addrs {
    /// XOR-MAPPED-ADDRESS / MAPPED-ADDRESS: the request's source.
    mapped: SocketAddr,
    /// RESPONSE-ORIGIN: the socket the response leaves from.
    origin: Option<SocketAddr>,
    /// OTHER-ADDRESS relative to the socket the request arrived on.
    other: Option<SocketAddr>,
}

/// Why a request is answered with an error.
enum Refusal<'a> {
    Unknown(&'a [AttributeType]),
    BadRequest(&'static str),
}

impl Answerer {
    /// Plain single-address answers for a server that answers Binding
    /// requests beside another protocol on its sockets (the embedded TURN
    /// server, `crate::turn::server`): XOR-MAPPED-ADDRESS and MAPPED-ADDRESS
    /// of the request's source, RESPONSE-ORIGIN when the caller passes one,
    /// FINGERPRINT; 420 to a CHANGE-REQUEST that asks for a change (RFC 5780
    /// §6.1: no alternate address) and to unknown comprehension-required
    /// attributes. No OTHER-ADDRESS or SOFTWARE, PADDING capped at 0
    /// bytes, no rate limit. Socket index 0 is the only one.
    pub(crate) fn single_address() -> Self {
        Self {
            two_addr: false,
            origins: vec![None],
            advertised: [None, None],
            others: vec![None],
            software: None,
            max_padding: 0,
            limiter: None,
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// RESPONSE-ORIGIN for a TCP connection accepted on listener `idx`
    /// whose local address is `local`.
    pub(crate) fn tcp_origin(&self, idx: usize, local: SocketAddr) -> SocketAddr {
        match self.advertised.get(idx / 2).copied().flatten() {
            Some(ip) => SocketAddr::new(ip, local.port()),
            None => local,
        }
    }

    /// The socket an answer to a request that arrived on socket `local`
    /// leaves from (CHANGE-REQUEST: the other IP and/or port), and that
    /// socket's origin address. Only called where a change can be honoured.
    fn sender(
        &self,
        local: usize,
        origin: Option<SocketAddr>,
        change_ip: bool,
        change_port: bool,
    ) -> (usize, Option<SocketAddr>) {
        if !(change_ip || change_port) {
            return (local, origin);
        }
        let ip = (local / 2) ^ usize::from(change_ip);
        let port = (local % 2) ^ usize::from(change_port);
        let via = ip * 2 + port;
        (via, self.origins.get(via).copied().flatten())
    }

    fn allowed(&self, ip: IpAddr, now: Instant) -> bool {
        let Some(limiter) = &self.limiter else {
            return true;
        };
        // A poisoned lock only means another loop panicked mid-update; the
        // table is still usable.
        let mut guard = limiter.lock().unwrap_or_else(|p| p.into_inner());
        guard.allow(ip, now)
    }

    /// Counts and answers one received UDP datagram (what the UDP loops
    /// call for every datagram; see [`Answerer::answer`]).
    pub(crate) fn answer_datagram(&self, data: &[u8], arrival: Arrival, out: &mut [u8]) -> Outcome {
        inc(&self.metrics.udp_received);
        self.answer(data, arrival, out)
    }

    /// Answers `req` (one whole datagram or TCP message) that arrived as
    /// `arrival` says. Writes the response into `out` (at least
    /// `RESPONSE_BASE_LEN + max_padding + 4` bytes). Time is an input
    /// (`arrival.at`, for the rate limiter): the answer never reads a clock.
    pub(crate) fn answer(&self, req: &[u8], arrival: Arrival, out: &mut [u8]) -> Outcome {
        let Arrival {
            src,
            local,
            origin,
            transport,
            at,
        } = arrival;
        let m = &*self.metrics;
        if !wire::has_magic_cookie(req)
            && let Ok(classic) = wire::classic::parse_request(req)
        {
            return self.answer_classic(&classic, arrival, out);
        }
        let Some(msg) = parse_request(req) else {
            inc(&m.malformed_dropped);
            tracing::trace!(%src, len = req.len(), "dropped malformed input");
            return Outcome::Drop;
        };
        if !(msg.has_class(MessageClass::Request) && msg.has_method(BINDING)) {
            inc(&m.ignored_dropped);
            tracing::trace!(%src, mtype = %msg.get_type(), "dropped non-Binding-request");
            return Outcome::Drop;
        }
        inc(&m.requests);
        if !self.allowed(src.ip(), at) {
            inc(&m.rate_limited);
            tracing::debug!(%src, "rate limited");
            return Outcome::Drop;
        }
        let error_reply = |refusal: Refusal<'_>, out: &mut [u8]| -> Outcome {
            match self.write_error(&msg, refusal, out) {
                Ok(len) => {
                    inc(&m.error_responses);
                    Outcome::Reply {
                        len,
                        via: local,
                        to: src,
                    }
                }
                Err(e) => {
                    tracing::warn!(%src, error = %e, "could not write an error response");
                    Outcome::Drop
                }
            }
        };

        // Unknown comprehension-required attributes → 420.
        let mut unknown = [AttributeType::new(0); MAX_UNKNOWN];
        let mut n_unknown = 0;
        for (_, attr) in msg.iter_attributes() {
            let t = attr.get_type();
            if t.comprehension_required()
                && !KNOWN.contains(&t)
                && !unknown[..n_unknown].contains(&t)
                && n_unknown < MAX_UNKNOWN
            {
                unknown[n_unknown] = t;
                n_unknown += 1;
            }
        }
        if n_unknown > 0 {
            tracing::debug!(%src, n_unknown, "420: unknown comprehension-required attributes");
            return error_reply(Refusal::Unknown(&unknown[..n_unknown]), out);
        }

        let change = match msg.raw_attribute(CHANGE_REQUEST) {
            None => ChangeRequest::default(),
            Some(raw) => match ChangeRequest::from_raw_ref(&raw) {
                Ok(c) => c,
                Err(_) => return error_reply(Refusal::BadRequest("Bad CHANGE-REQUEST"), out),
            },
        };
        let response_port = match msg.raw_attribute(RESPONSE_PORT) {
            None => None,
            Some(raw) => match ResponsePort::from_raw_ref(&raw) {
                Ok(p) if p.port() != 0 => Some(p.port()),
                _ => return error_reply(Refusal::BadRequest("Bad RESPONSE-PORT"), out),
            },
        };
        let requested_padding = msg
            .raw_attribute(PADDING)
            .map(|raw| u16::try_from(raw.value.len()).unwrap_or(u16::MAX));

        // RFC 5780 §6.1: a server without an alternate address answers
        // CHANGE-REQUEST with 420. Over TCP neither CHANGE-REQUEST nor
        // RESPONSE-PORT can be honoured (RFC 5780 §7.2, §7.5): 420 too.
        // A CHANGE-REQUEST with no flag set asks for nothing: answered.
        let wants_change = change.change_ip || change.change_port;
        if wants_change && (!self.two_addr || transport == Transport::Tcp) {
            return error_reply(Refusal::Unknown(&[CHANGE_REQUEST]), out);
        }
        if response_port.is_some() && transport == Transport::Tcp {
            return error_reply(Refusal::Unknown(&[RESPONSE_PORT]), out);
        }

        let (via, origin) = self.sender(local, origin, change.change_ip, change.change_port);
        let mapped = SocketAddr::new(src.ip().to_canonical(), src.port());
        let other = self.others.get(local).copied().flatten();
        let to = SocketAddr::new(src.ip(), response_port.unwrap_or(src.port()));
        let redirected = to.port() != src.port();

        let cap = self
            .max_padding
            .min(u16::try_from(out.len().saturating_sub(RESPONSE_BASE_LEN + 4)).unwrap_or(0));
        let padding = requested_padding.map(|p| p.min(cap));
        let written = if redirected {
            self.write_bounded(
                &msg,
                Addrs {
                    mapped,
                    origin,
                    other,
                },
                padding,
                req.len(),
                out,
            )
        } else {
            self.write_success(
                &msg,
                Addrs {
                    mapped,
                    origin,
                    other,
                },
                true,
                padding,
                out,
            )
            .map(|len| Some((len, padding.is_some())))
        };
        let (len, padded) = match written {
            Ok(Some(r)) => r,
            Ok(None) => {
                inc(&m.amplification_refused);
                tracing::debug!(%src, %to, req_len = req.len(), "RESPONSE-PORT refused: would amplify");
                return Outcome::Drop;
            }
            Err(e) => {
                tracing::warn!(%src, error = %e, "could not write a response");
                return Outcome::Drop;
            }
        };
        inc(&m.success_responses);
        if change.change_ip {
            inc(&m.change_ip);
        }
        if change.change_port {
            inc(&m.change_port);
        }
        if response_port.is_some() {
            inc(&m.response_port);
        }
        if padded {
            inc(&m.padding);
        }
        tracing::debug!(
            %src,
            %to,
            transport = transport.name(),
            change_ip = change.change_ip,
            change_port = change.change_port,
            response_port = %response_port.map_or_else(|| "none".into(), |p| p.to_string()),
            padding = %padding.map_or_else(|| "none".into(), |p| p.to_string()),
            len,
            "binding success"
        );
        Outcome::Reply { len, via, to }
    }

    /// Answers a classic RFC 3489 Binding request (RFC 3489 §8.2):
    /// MAPPED-ADDRESS, SOURCE-ADDRESS and CHANGED-ADDRESS, CHANGE-REQUEST
    /// honoured as for RFC 5780 requests (420 where it cannot be: one
    /// address, or TCP). RESPONSE-ADDRESS is never honoured (it would aim
    /// answers at a third party); the answer goes to the source.
    fn answer_classic(
        &self,
        req: &wire::classic::ClassicRequest,
        arrival: Arrival,
        out: &mut [u8],
    ) -> Outcome {
        let Arrival {
            src,
            local,
            origin,
            transport,
            at,
        } = arrival;
        let m = &*self.metrics;
        inc(&m.requests);
        inc(&m.classic_requests);
        if !self.allowed(src.ip(), at) {
            inc(&m.rate_limited);
            return Outcome::Drop;
        }
        let reply = |written: Result<usize, wire::classic::ClassicError>, via: usize| match written
        {
            Ok(len) => Outcome::Reply { len, via, to: src },
            Err(e) => {
                tracing::warn!(%src, error = %e, "could not write a classic response");
                Outcome::Drop
            }
        };
        let wants_change = req.change_ip || req.change_port;
        if req.unknown_len > 0 || (wants_change && (!self.two_addr || transport == Transport::Tcp))
        {
            inc(&m.error_responses);
            let unknown: &[u16] = if req.unknown_len > 0 {
                &req.unknown[..req.unknown_len]
            } else {
                &[CHANGE_REQUEST.value()]
            };
            return reply(
                wire::classic::write_error(req, 420, "Unknown Attribute", unknown, out),
                local,
            );
        }
        let (via, source) = self.sender(local, origin, req.change_ip, req.change_port);
        let mapped = SocketAddr::new(src.ip().to_canonical(), src.port());
        let changed = self.others.get(local).copied().flatten();
        inc(&m.success_responses);
        if req.change_ip {
            inc(&m.change_ip);
        }
        if req.change_port {
            inc(&m.change_port);
        }
        tracing::debug!(%src, change_ip = req.change_ip, change_port = req.change_port, "classic binding success");
        reply(
            wire::classic::write_success(req, mapped, source, changed, out),
            via,
        )
    }

    /// A response to a RESPONSE-PORT request that goes to another port:
    /// never larger than the request. Shrinks PADDING to fit, then drops the
    /// optional attributes (MAPPED-ADDRESS, SOFTWARE); `None` when even
    /// that is larger than the request. Returns the length and whether
    /// PADDING was included.
    fn write_bounded(
        &self,
        msg: &Message<'_>,
        addrs: Addrs,
        padding: Option<u16>,
        budget: usize,
        out: &mut [u8],
    ) -> Result<Option<(usize, bool)>, StunWriteError> {
        for optional in [true, false] {
            let base = self.write_success(msg, addrs, optional, None, out)?;
            if base > budget {
                continue;
            }
            // PADDING costs 4 header bytes plus its value rounded up to 4.
            let room = budget - base;
            let pad = match padding {
                Some(p) if room >= 4 => Some(p.min(u16::try_from((room - 4) & !3).unwrap_or(0))),
                _ => None,
            };
            if pad.is_none() {
                return Ok(Some((base, false)));
            }
            let len = self.write_success(msg, addrs, optional, pad, out)?;
            return Ok(Some((len, true)));
        }
        Ok(None)
    }

    fn write_success(
        &self,
        msg: &Message<'_>,
        addrs: Addrs,
        optional: bool,
        padding: Option<u16>,
        out: &mut [u8],
    ) -> Result<usize, StunWriteError> {
        let Addrs {
            mapped,
            origin,
            other,
        } = addrs;
        // `answer` only gets here for requests, so builder_success cannot
        // panic.
        let mut w = Message::builder_success(msg, MessageWriteMutSlice::new(out));
        w.add_attribute(&XorMappedAddress::new(mapped, msg.transaction_id()))?;
        if optional {
            w.add_attribute(&MappedAddress(mapped))?;
        }
        if let Some(origin) = origin {
            w.add_attribute(&ResponseOrigin(origin))?;
        }
        if let Some(other) = other {
            w.add_attribute(&OtherAddress(other))?;
        }
        if optional && let Some(sw) = &self.software {
            w.add_attribute(sw)?;
        }
        if let Some(p) = padding {
            w.add_attribute(&wire::attrs::Padding(p))?;
        }
        w.add_fingerprint()?;
        Ok(w.finish())
    }

    fn write_error(
        &self,
        msg: &Message<'_>,
        refusal: Refusal<'_>,
        out: &mut [u8],
    ) -> Result<usize, StunWriteError> {
        // Only requests reach here, so builder_error cannot panic.
        let mut w = Message::builder_error(msg, MessageWriteMutSlice::new(out));
        if let Some(sw) = &self.software {
            w.add_attribute(sw)?;
        }
        match refusal {
            Refusal::Unknown(types) => {
                w.add_attribute(&ErrorCode::new(420, "Unknown Attribute")?)?;
                w.add_attribute(&UnknownAttributes::new(types))?;
            }
            Refusal::BadRequest(reason) => {
                w.add_attribute(&ErrorCode::new(400, reason)?)?;
            }
        }
        w.add_fingerprint()?;
        Ok(w.finish())
    }
}

/// Parses one whole STUN message: the header's length must match the input
/// exactly (RFC 8489 §6: a datagram holds one message), with the magic
/// cookie and a valid FINGERPRINT if present. RFC 3489 requests (no magic
/// cookie) are answered by `Answerer::answer_classic` instead.
fn parse_request(req: &[u8]) -> Option<Message<'_>> {
    // Cheap rejections first: most garbage never reaches the full parser
    // (which logs a warning for malformed input).
    if req.len() < MessageHeader::LENGTH || req[0] & 0xc0 != 0 {
        return None;
    }
    let header = MessageHeader::from_bytes(req).ok()?;
    let body = usize::from(header.data_length());
    if body % 4 != 0 || MessageHeader::LENGTH + body != req.len() {
        return None;
    }
    Message::from_bytes(req).ok()
}

//! Classic RFC 3489 Binding messages: the requests of STUN clients from
//! before RFC 5389 (Debian's `stun` client, old VoIP phones), which carry
//! no magic cookie and a 128-bit transaction id, so `stun-types` (an RFC
//! 8489 parser) refuses them. Only what a server needs to answer them:
//! parse a Binding request (its CHANGE-REQUEST), write a Binding success
//! (MAPPED-ADDRESS, SOURCE-ADDRESS, CHANGED-ADDRESS) or error response.
//!
//! Pure and allocation-free: reads a slice, writes into the caller's
//! buffer.

use std::net::SocketAddr;

use crate::HEADER_LEN;

/// RFC 3489 §11.1 message types.
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_RESPONSE: u16 = 0x0101;
const BINDING_ERROR: u16 = 0x0111;
/// RFC 3489 §11.2 attribute types.
const MAPPED_ADDRESS: u16 = 0x0001;
const RESPONSE_ADDRESS: u16 = 0x0002;
const CHANGE_REQUEST: u16 = 0x0003;
const SOURCE_ADDRESS: u16 = 0x0004;
const CHANGED_ADDRESS: u16 = 0x0005;
const USERNAME: u16 = 0x0006;
const PASSWORD: u16 = 0x0007;
const MESSAGE_INTEGRITY: u16 = 0x0008;
const ERROR_CODE: u16 = 0x0009;
const UNKNOWN_ATTRIBUTES: u16 = 0x000a;
const REFLECTED_FROM: u16 = 0x000b;

/// Most unknown mandatory attributes listed in a 420 answer.
pub const MAX_UNKNOWN: usize = 8;

/// A parsed RFC 3489 Binding request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassicRequest {
    /// The 128-bit transaction id (bytes 4..20 of the header).
    pub transaction_id: [u8; 16],
    /// CHANGE-REQUEST "change IP" flag.
    pub change_ip: bool,
    /// CHANGE-REQUEST "change port" flag.
    pub change_port: bool,
    /// A RESPONSE-ADDRESS was present (natscope never sends to it: it
    /// would let anyone aim answers at a third party).
    pub response_address: bool,
    /// Unknown attributes in the mandatory range (≤ 0x7fff), which RFC 3489
    /// §8.2 answers with 420; `unknown_len` of them are set.
    pub unknown: [u16; MAX_UNKNOWN],
    /// How many of `unknown` are set.
    pub unknown_len: usize,
}

/// Why bytes are not a classic Binding request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClassicError {
    /// Shorter than a header, length not matching the input, or attributes
    /// running past the end.
    #[error("truncated message")]
    Truncated,
    /// An RFC 8489 message (magic cookie present): not classic.
    #[error("not an RFC 3489 message (it has the RFC 8489 magic cookie)")]
    HasCookie,
    /// Not a Binding request.
    #[error("not a Binding request")]
    NotBindingRequest,
    /// A CHANGE-REQUEST whose value is not 4 bytes.
    #[error("CHANGE-REQUEST is not 4 bytes long")]
    BadChangeRequest,
    /// The output buffer is too small for the response.
    #[error("the response does not fit in the output buffer")]
    BufferTooSmall,
}

/// Parses a classic RFC 3489 Binding request: a 20-byte header with no
/// magic cookie whose length matches the input, then attributes (each a
/// multiple of 4 bytes, as RFC 3489 requires).
pub fn parse_request(data: &[u8]) -> Result<ClassicRequest, ClassicError> {
    if data.len() < HEADER_LEN || data[0] & 0xc0 != 0 {
        return Err(ClassicError::Truncated);
    }
    if crate::has_magic_cookie(data) {
        return Err(ClassicError::HasCookie);
    }
    let ty = u16::from_be_bytes([data[0], data[1]]);
    let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
    if HEADER_LEN + len != data.len() || len % 4 != 0 {
        return Err(ClassicError::Truncated);
    }
    if ty != BINDING_REQUEST {
        return Err(ClassicError::NotBindingRequest);
    }
    let mut req = ClassicRequest {
        transaction_id: [0; 16],
        change_ip: false,
        change_port: false,
        response_address: false,
        unknown: [0; MAX_UNKNOWN],
        unknown_len: 0,
    };
    req.transaction_id.copy_from_slice(&data[4..HEADER_LEN]);
    let mut at = HEADER_LEN;
    while at < data.len() {
        let head = data.get(at..at + 4).ok_or(ClassicError::Truncated)?;
        let t = u16::from_be_bytes([head[0], head[1]]);
        let l = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let value = data
            .get(at + 4..at + 4 + l)
            .ok_or(ClassicError::Truncated)?;
        match t {
            CHANGE_REQUEST => {
                let v: [u8; 4] = value
                    .try_into()
                    .map_err(|_| ClassicError::BadChangeRequest)?;
                req.change_ip = v[3] & 0x04 != 0;
                req.change_port = v[3] & 0x02 != 0;
            }
            RESPONSE_ADDRESS => req.response_address = true,
            // Known, and nothing for an answering server to do with them
            // (no shared-secret authentication here).
            USERNAME | PASSWORD | MESSAGE_INTEGRITY | MAPPED_ADDRESS | SOURCE_ADDRESS
            | CHANGED_ADDRESS | ERROR_CODE | UNKNOWN_ATTRIBUTES | REFLECTED_FROM => {}
            t if t <= 0x7fff
                && req.unknown_len < MAX_UNKNOWN
                && !req.unknown[..req.unknown_len].contains(&t) =>
            {
                req.unknown[req.unknown_len] = t;
                req.unknown_len += 1;
            }
            _ => {}
        }
        // RFC 3489 attributes are multiples of 4; be lenient with a
        // padded one as RFC 8489 writes them.
        at += 4 + l.div_ceil(4) * 4;
    }
    Ok(req)
}

/// Writes the header and returns the offset after it.
fn header(out: &mut [u8], ty: u16, tid: &[u8; 16]) -> Result<usize, ClassicError> {
    let h = out
        .get_mut(..HEADER_LEN)
        .ok_or(ClassicError::BufferTooSmall)?;
    h[0..2].copy_from_slice(&ty.to_be_bytes());
    h[2..4].copy_from_slice(&[0, 0]);
    h[4..20].copy_from_slice(tid);
    Ok(HEADER_LEN)
}

/// Appends one address attribute (RFC 3489 §11.2.1: family, port, address;
/// IPv6 as in RFC 5389).
fn address(out: &mut [u8], at: usize, ty: u16, a: SocketAddr) -> Result<usize, ClassicError> {
    let mut ip = [0u8; 16];
    let (family, n) = match a {
        SocketAddr::V4(v4) => {
            ip[..4].copy_from_slice(&v4.ip().octets());
            (0x01, 4)
        }
        SocketAddr::V6(v6) => {
            ip.copy_from_slice(&v6.ip().octets());
            (0x02, 16)
        }
    };
    let len = 4 + n;
    let o = out
        .get_mut(at..at + 4 + len)
        .ok_or(ClassicError::BufferTooSmall)?;
    o[0..2].copy_from_slice(&ty.to_be_bytes());
    // 8 or 20: fits a u16.
    o[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    o[4] = 0;
    o[5] = family;
    o[6..8].copy_from_slice(&a.port().to_be_bytes());
    o[8..].copy_from_slice(&ip[..n]);
    Ok(at + 4 + len)
}

fn finish(out: &mut [u8], end: usize) -> usize {
    // `end` ≥ HEADER_LEN and a response is far below 64 KiB.
    let body = (end - HEADER_LEN) as u16;
    out[2..4].copy_from_slice(&body.to_be_bytes());
    end
}

/// Writes a Binding success response to `req` into `out`: MAPPED-ADDRESS
/// (the request's source), SOURCE-ADDRESS (where the answer leaves from)
/// and CHANGED-ADDRESS (the alternate), each when known. Returns its
/// length.
pub fn write_success(
    req: &ClassicRequest,
    mapped: SocketAddr,
    source: Option<SocketAddr>,
    changed: Option<SocketAddr>,
    out: &mut [u8],
) -> Result<usize, ClassicError> {
    let mut at = header(out, BINDING_RESPONSE, &req.transaction_id)?;
    at = address(out, at, MAPPED_ADDRESS, mapped)?;
    if let Some(s) = source {
        at = address(out, at, SOURCE_ADDRESS, s)?;
    }
    if let Some(c) = changed {
        at = address(out, at, CHANGED_ADDRESS, c)?;
    }
    Ok(finish(out, at))
}

/// Writes a Binding error response (RFC 3489 §11.2.9 ERROR-CODE; with
/// `unknown`, §11.2.10 UNKNOWN-ATTRIBUTES) into `out`. `reason` is cut to
/// 64 bytes. Returns its length.
pub fn write_error(
    req: &ClassicRequest,
    code: u16,
    reason: &str,
    unknown: &[u16],
    out: &mut [u8],
) -> Result<usize, ClassicError> {
    let mut at = header(out, BINDING_ERROR, &req.transaction_id)?;
    let reason = &reason.as_bytes()[..reason.len().min(64)];
    let padded = reason.len().div_ceil(4) * 4;
    let len = 4 + padded;
    let o = out
        .get_mut(at..at + 4 + len)
        .ok_or(ClassicError::BufferTooSmall)?;
    o[0..2].copy_from_slice(&ERROR_CODE.to_be_bytes());
    o[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    o[4] = 0;
    o[5] = 0;
    o[6] = (code / 100) as u8;
    o[7] = (code % 100) as u8;
    o[8..8 + reason.len()].copy_from_slice(reason);
    o[8 + reason.len()..].fill(b' ');
    at += 4 + len;
    if !unknown.is_empty() {
        // RFC 3489 §11.2.10: an odd count repeats one to fill 4 bytes.
        let n = unknown.len().div_ceil(2) * 2;
        let o = out
            .get_mut(at..at + 4 + 2 * n)
            .ok_or(ClassicError::BufferTooSmall)?;
        o[0..2].copy_from_slice(&UNKNOWN_ATTRIBUTES.to_be_bytes());
        o[2..4].copy_from_slice(&((2 * n) as u16).to_be_bytes());
        for i in 0..n {
            let t = unknown[i.min(unknown.len() - 1)];
            o[4 + 2 * i..6 + 2 * i].copy_from_slice(&t.to_be_bytes());
        }
        at += 4 + 2 * n;
    }
    Ok(finish(out, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic request as Debian's `stun` client sends it: type, length,
    /// 16 random transaction bytes, CHANGE-REQUEST (change IP and port).
    fn request(change: u8, extra: &[u8]) -> Vec<u8> {
        let mut v = vec![0x00, 0x01, 0, 0];
        v.extend_from_slice(&[0x5a; 16]);
        v.extend_from_slice(&[0x00, 0x03, 0x00, 0x04, 0, 0, 0, change]);
        v.extend_from_slice(extra);
        let len = (v.len() - HEADER_LEN) as u16;
        v[2..4].copy_from_slice(&len.to_be_bytes());
        v
    }

    #[test]
    fn reads_change_request_and_unknown_mandatory_attributes() {
        let r = parse_request(&request(0x06, &[])).expect("classic request");
        assert!(r.change_ip && r.change_port);
        assert_eq!(r.transaction_id, [0x5a; 16]);
        let r = parse_request(&request(0x02, &[0x00, 0x2f, 0x00, 0x00])).expect("parses");
        assert!(!r.change_ip && r.change_port);
        assert_eq!(&r.unknown[..r.unknown_len], &[0x002f]);
    }

    #[test]
    fn refuses_what_is_not_a_classic_binding_request() {
        assert_eq!(parse_request(&[0; 10]), Err(ClassicError::Truncated));
        let mut with_cookie = request(0, &[]);
        with_cookie[4..8].copy_from_slice(&crate::MAGIC_COOKIE);
        assert_eq!(parse_request(&with_cookie), Err(ClassicError::HasCookie));
        let mut indication = request(0, &[]);
        indication[1] = 0x11;
        assert_eq!(
            parse_request(&indication),
            Err(ClassicError::NotBindingRequest)
        );
        let mut short = request(0, &[]);
        short.pop();
        assert_eq!(parse_request(&short), Err(ClassicError::Truncated));
        // An attribute running past the end.
        let mut past = request(0, &[0x80, 0x22, 0x00, 0x10]);
        let len = (past.len() - HEADER_LEN) as u16;
        past[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(parse_request(&past), Err(ClassicError::Truncated));
    }

    #[test]
    fn writes_a_response_a_classic_client_reads() {
        let r = parse_request(&request(0, &[])).expect("parses");
        let mut out = [0u8; 128];
        let n = write_success(
            &r,
            "203.0.113.7:40000".parse().expect("literal"),
            Some("198.51.100.1:3478".parse().expect("literal")),
            Some("198.51.100.2:3479".parse().expect("literal")),
            &mut out,
        )
        .expect("fits");
        assert_eq!(n, 20 + 3 * 12);
        assert_eq!(&out[0..4], &[0x01, 0x01, 0x00, 36]);
        assert_eq!(&out[4..20], &[0x5a; 16]);
        // MAPPED-ADDRESS 203.0.113.7:40000.
        assert_eq!(
            &out[20..32],
            &[0, 1, 0, 8, 0, 1, 0x9c, 0x40, 203, 0, 113, 7]
        );
        // CHANGED-ADDRESS last.
        assert_eq!(&out[44..48], &[0, 5, 0, 8]);
        assert!(
            write_success(
                &r,
                "[2001:db8::1]:1".parse().expect("v6"),
                None,
                None,
                &mut out[..30]
            )
            .is_err()
        );
    }

    #[test]
    fn writes_420_with_the_unknown_attributes() {
        let r = parse_request(&request(0, &[0x00, 0x2f, 0x00, 0x00])).expect("parses");
        let mut out = [0u8; 128];
        let n = write_error(
            &r,
            420,
            "Unknown Attribute",
            &r.unknown[..r.unknown_len],
            &mut out,
        )
        .expect("fits");
        assert_eq!(&out[0..2], &[0x01, 0x11]);
        assert_eq!(&out[20..24], &[0x00, 0x09, 0x00, 24]);
        assert_eq!(&out[26..28], &[4, 20]);
        // UNKNOWN-ATTRIBUTES: 0x002f twice (odd count padded).
        assert_eq!(
            &out[48..56],
            &[0x00, 0x0a, 0x00, 0x04, 0x00, 0x2f, 0x00, 0x2f]
        );
        assert_eq!(n, 56);
    }
}

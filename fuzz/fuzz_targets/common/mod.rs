//! Shared by the record-based targets: how an input is cut into steps, and
//! small STUN readers that do not trust the code under test.
#![allow(dead_code)]

/// One step of a record-based input: an operation byte and its bytes.
pub struct Record<'a> {
    pub op: u8,
    pub data: &'a [u8],
}

/// Cuts `data` into records: `op`, a 16-bit big-endian length, that many
/// bytes (fewer at the end of the input). A seed is a sequence of them.
pub fn records(mut data: &[u8]) -> impl Iterator<Item = Record<'_>> {
    std::iter::from_fn(move || {
        if data.len() < 3 {
            return None;
        }
        let op = data[0];
        let len = usize::from(u16::from_be_bytes([data[1], data[2]]));
        let rest = &data[3..];
        let n = len.min(rest.len());
        let (d, tail) = rest.split_at(n);
        data = tail;
        Some(Record { op, data: d })
    })
}

/// The 16 bytes after the type and length: magic cookie + transaction id
/// (RFC 8489), or the whole 128-bit id (RFC 3489).
pub fn tid(msg: &[u8]) -> Option<[u8; 16]> {
    msg.get(4..20).map(|t| t.try_into().expect("16 bytes"))
}

/// The value of the first attribute of type `atype` in a whole STUN
/// message (walked here, not by the code under test), as RFC 8489 reads
/// one: nothing after FINGERPRINT counts (§14.7), and after
/// MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT do
/// (§14.5, §14.6).
pub fn attribute(msg: &[u8], atype: u16) -> Option<&[u8]> {
    const MESSAGE_INTEGRITY: u16 = 0x0008;
    const MESSAGE_INTEGRITY_SHA256: u16 = 0x001c;
    const FINGERPRINT: u16 = 0x8028;
    let mut at = 20;
    let mut integrity = false;
    while at + 4 <= msg.len() {
        let t = u16::from_be_bytes([msg[at], msg[at + 1]]);
        let len = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
        let value = msg.get(at + 4..at + 4 + len)?;
        let counts = !integrity || t == FINGERPRINT || t == MESSAGE_INTEGRITY_SHA256;
        if !counts {
            return None;
        }
        if t == atype {
            return Some(value);
        }
        if t == FINGERPRINT {
            return None;
        }
        integrity |= t == MESSAGE_INTEGRITY || t == MESSAGE_INTEGRITY_SHA256;
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

/// True when `msg` is one whole STUN-shaped message: header length =
/// bytes after the header, a multiple of 4.
pub fn whole_message(msg: &[u8]) -> bool {
    msg.len() >= 20
        && msg[0] & 0xc0 == 0
        && usize::from(u16::from_be_bytes([msg[2], msg[3]])) == msg.len() - 20
        && (msg.len() - 20) % 4 == 0
}

/// The STUN class bits of a message type (0 request, 1 indication,
/// 2 success, 3 error).
pub fn class(msg: &[u8]) -> u8 {
    let t = u16::from_be_bytes([msg[0], msg[1]]);
    (((t >> 4) & 1) | ((t >> 7) & 2)) as u8
}

/// The STUN method of a message type.
pub fn method(msg: &[u8]) -> u16 {
    let t = u16::from_be_bytes([msg[0], msg[1]]);
    (t & 0x000f) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0f80)
}

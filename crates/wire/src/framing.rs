//! The one framer for STUN and TURN over a byte stream (TCP, TLS): every
//! stream user in natscope — the STUN TCP client, the TURN client, the ICE
//! driver, the RFC 5780 responder and the embedded TURN server — splits its
//! stream here.
//!
//! - RFC 8489 §6.2.2: STUN messages are framed by the 20-byte header's
//!   length field (a multiple of 4; the first two bits are zero).
//! - RFC 8656 §12.5: over TCP and TLS, ChannelData (first two bits `01`) is
//!   padded to a multiple of 4. Some servers (turn-server-proto) do not pad;
//!   the framer accepts both: after a ChannelData frame it skips the
//!   padding only when the next bytes are zeros and not the start of a STUN
//!   header (whose magic cookie it checks).
//!
//! Frames are returned without padding, one per call, so a consumer that
//! must not see two messages in one call (rice-proto 0.4.3 panics on two
//! TURN messages with peer data in one call) never does. Pure and bounded:
//! no I/O, at most `cap` bytes per frame and [`MAX_BUFFERED`] held.

use crate::MAGIC_COOKIE;

/// The largest frame a STUN/TURN stream can carry: a 20-byte header plus
/// the 16-bit length.
pub const MAX_FRAME: usize = 20 + 65535;

/// The most bytes a framer holds: one whole largest frame waiting for its
/// end, plus one read's worth arriving behind it.
pub const MAX_BUFFERED: usize = 2 * MAX_FRAME;

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A STUN message (request, response or indication).
    Stun,
    /// TURN ChannelData (RFC 8656 §12.4), padding removed.
    ChannelData,
}

/// Why the stream cannot be split any further. The connection should be
/// closed: nothing after a framing error can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The bytes are neither STUN nor ChannelData (or ChannelData where the
    /// framer was told to accept STUN only).
    #[error("the peer sent bytes that are neither STUN nor ChannelData")]
    Garbage,
    /// A STUN header whose length is not a multiple of 4.
    #[error("a STUN header announced a length that is not a multiple of 4")]
    BadLength,
    /// More than [`MAX_BUFFERED`] bytes were pushed without being taken out
    /// as frames.
    #[error("more than {MAX_BUFFERED} bytes arrived without a complete frame")]
    Overfull,
    /// A frame longer than the framer's cap was announced.
    #[error("a frame of {len} bytes was announced; at most {cap} are accepted")]
    TooLarge {
        /// The announced frame length.
        len: usize,
        /// The cap.
        cap: usize,
    },
}

/// Reassembly of one stream into frames.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    cap: usize,
    stun_only: bool,
    /// Padding still expected after the last ChannelData frame.
    pad: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(MAX_FRAME)
    }
}

impl Framer {
    /// A framer for STUN and ChannelData frames of at most `cap` bytes
    /// (clamped to [`MAX_FRAME`]).
    pub fn new(cap: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            cap: cap.min(MAX_FRAME),
            stun_only: false,
            pad: 0,
        }
    }

    /// A framer for a STUN-only stream (a STUN server's TCP connection):
    /// ChannelData is [`FrameError::Garbage`].
    pub fn stun_only(cap: usize) -> Framer {
        Framer {
            stun_only: true,
            ..Framer::new(cap)
        }
    }

    /// Appends bytes read from the stream; refuses to hold more than
    /// [`MAX_BUFFERED`] (the caller takes frames out after every read).
    pub fn push(&mut self, data: &[u8]) -> Result<(), FrameError> {
        if self.buf.len() + data.len() > MAX_BUFFERED {
            return Err(FrameError::Overfull);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Bytes held that are not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, if the buffer holds one; `Ok(None)` when
    /// more bytes are needed. Never returns a frame longer than the cap.
    pub fn next_frame(&mut self) -> Result<Option<(FrameKind, Vec<u8>)>, FrameError> {
        if !self.skip_padding() {
            return Ok(None);
        }
        let b = &self.buf;
        if b.len() < 4 {
            return Ok(None);
        }
        let body = usize::from(u16::from_be_bytes([b[2], b[3]]));
        let (kind, len) = match b[0] >> 6 {
            0 if body % 4 != 0 => return Err(FrameError::BadLength),
            0 => (FrameKind::Stun, 20 + body),
            1 if !self.stun_only => (FrameKind::ChannelData, 4 + body),
            _ => return Err(FrameError::Garbage),
        };
        if len > self.cap {
            return Err(FrameError::TooLarge { len, cap: self.cap });
        }
        if b.len() < len {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..len).collect();
        if kind == FrameKind::ChannelData {
            self.pad = (4 - len % 4) % 4;
        }
        Ok(Some((kind, frame)))
    }

    /// Drops the padding after a ChannelData frame, when it is there.
    /// Returns false when more bytes are needed to decide.
    fn skip_padding(&mut self) -> bool {
        if self.pad == 0 {
            return true;
        }
        let zeros = self
            .buf
            .iter()
            .take(self.pad)
            .take_while(|&&b| b == 0)
            .count();
        if zeros == 0 {
            // The next frame starts here (ChannelData or a STUN type with a
            // non-zero first byte): the peer does not pad.
            if !self.buf.is_empty() {
                self.pad = 0;
            }
            return !self.buf.is_empty();
        }
        // Zeros: padding, unless a STUN header starts right here.
        if self.buf.len() < 8 {
            return false;
        }
        if self.buf[4..8] != MAGIC_COOKIE && zeros == self.pad {
            self.buf.drain(..self.pad);
        }
        self.pad = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(f: &mut Framer) -> Vec<(FrameKind, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(frame) = f.next_frame().expect("valid stream") {
            out.push(frame);
        }
        out
    }

    fn stun(method_lo: u8, body: usize) -> Vec<u8> {
        let mut m = vec![0x00, method_lo];
        m.extend_from_slice(&u16::try_from(body).expect("small").to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.resize(20 + body, 0xab);
        m
    }

    fn channel(len: u16) -> Vec<u8> {
        let mut m = vec![0x40, 0x00];
        m.extend_from_slice(&len.to_be_bytes());
        m.resize(4 + usize::from(len), 0xcd);
        m
    }

    #[test]
    fn splits_coalesced_stun_and_padded_channel_data() {
        let mut f = Framer::default();
        let mut wire = stun(0x17, 8);
        let mut c = channel(5);
        wire.extend_from_slice(&c);
        wire.extend_from_slice(&[0, 0, 0]); // RFC 8656 §12.5 padding
        // A Data indication (type 0x0017: first byte zero) right after.
        wire.extend_from_slice(&stun(0x17, 4));
        f.push(&wire).expect("bounded");
        let frames = drain(&mut f);
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert_eq!(frames[0], (FrameKind::Stun, stun(0x17, 8)));
        c.truncate(9);
        assert_eq!(frames[1], (FrameKind::ChannelData, c));
        assert_eq!(frames[2], (FrameKind::Stun, stun(0x17, 4)));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn accepts_unpadded_channel_data_before_stun_and_channel_data() {
        let mut f = Framer::default();
        let mut wire = channel(5);
        wire.extend_from_slice(&stun(0x17, 4)); // starts with a zero byte
        wire.extend_from_slice(&channel(3));
        wire.extend_from_slice(&channel(4));
        f.push(&wire).expect("bounded");
        let frames = drain(&mut f);
        let kinds: Vec<FrameKind> = frames.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                FrameKind::ChannelData,
                FrameKind::Stun,
                FrameKind::ChannelData,
                FrameKind::ChannelData
            ]
        );
        assert_eq!(frames[1].1, stun(0x17, 4));
        assert_eq!(frames[2].1.len(), 7);
    }

    #[test]
    fn byte_by_byte_gives_the_same_frames() {
        let mut wire = stun(0x01, 12);
        wire.extend_from_slice(&channel(6));
        wire.extend_from_slice(&[0, 0]);
        wire.extend_from_slice(&stun(0x17, 0));
        let mut whole = Framer::default();
        whole.push(&wire).expect("bounded");
        let expected = drain(&mut whole);
        let mut f = Framer::default();
        let mut got = Vec::new();
        for b in &wire {
            f.push(std::slice::from_ref(b)).expect("bounded");
            got.extend(drain(&mut f));
        }
        assert_eq!(got, expected);
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn garbage_oversize_and_bad_lengths_are_errors() {
        let mut f = Framer::default();
        f.push(&[0xff, 0, 0, 4]).expect("bounded");
        assert_eq!(f.next_frame(), Err(FrameError::Garbage));

        let mut f = Framer::new(100);
        f.push(&stun(0x01, 200)[..4]).expect("bounded");
        assert_eq!(
            f.next_frame(),
            Err(FrameError::TooLarge { len: 220, cap: 100 })
        );

        let mut f = Framer::default();
        f.push(&[0x00, 0x01, 0x00, 0x03]).expect("bounded");
        assert_eq!(f.next_frame(), Err(FrameError::BadLength));

        let mut f = Framer::stun_only(548);
        f.push(&channel(4)).expect("bounded");
        assert_eq!(f.next_frame(), Err(FrameError::Garbage));
    }

    #[test]
    fn waits_for_the_rest() {
        let mut f = Framer::default();
        let m = stun(0x01, 8);
        f.push(&m[..10]).expect("bounded");
        assert_eq!(f.next_frame(), Ok(None));
        f.push(&m[10..]).expect("bounded");
        assert_eq!(f.next_frame(), Ok(Some((FrameKind::Stun, m))));
        // Padding that has not fully arrived yet: undecided until 8 bytes.
        f.push(&channel(1)).expect("bounded");
        assert!(matches!(
            f.next_frame(),
            Ok(Some((FrameKind::ChannelData, _)))
        ));
        f.push(&[0, 0]).expect("bounded");
        assert_eq!(f.next_frame(), Ok(None));
        f.push(&[0]).expect("bounded");
        f.push(&channel(4)).expect("bounded");
        assert!(matches!(
            f.next_frame(),
            Ok(Some((FrameKind::ChannelData, _)))
        ));
    }

    // The tests of ice/stream_frames.rs, the ICE driver's framer this one
    // replaced, kept with every assertion.

    #[test]
    fn two_coalesced_stun_messages_come_out_one_by_one() {
        let (a, b) = (stun(0x01, 8), stun(0x01, 4));
        let mut f = Framer::default();
        f.push(&[a.clone(), b.clone()].concat()).expect("bounded");
        let got: Vec<Vec<u8>> = drain(&mut f).into_iter().map(|(_, m)| m).collect();
        assert_eq!(got, vec![a, b]);
    }

    #[test]
    fn a_message_split_across_reads_waits_for_its_end() {
        let a = stun(0x01, 12);
        let mut f = Framer::default();
        for chunk in a.chunks(5) {
            assert!(drain(&mut f).is_empty());
            f.push(chunk).expect("bounded");
        }
        assert_eq!(drain(&mut f), vec![(FrameKind::Stun, a)]);
    }

    #[test]
    fn channel_data_padding_is_dropped() {
        // channel 0x4000, 5 bytes of data, 3 bytes of padding, then STUN.
        let cd = [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5];
        let s = stun(0x01, 12);
        let mut f = Framer::default();
        f.push(&[&cd[..], &[0, 0, 0], &s[..]].concat())
            .expect("bounded");
        assert_eq!(
            drain(&mut f),
            vec![(FrameKind::ChannelData, cd.to_vec()), (FrameKind::Stun, s)]
        );
    }

    #[test]
    fn garbage_is_named_not_buffered_forever() {
        let mut f = Framer::default();
        f.push(&[0xff, 0, 0, 0]).expect("bounded");
        assert_eq!(f.next_frame(), Err(FrameError::Garbage));
        let mut g = Framer::default();
        g.push(b"HTTP/1.1 400").expect("bounded");
        // 'H' = 0x48: looks like ChannelData 0x4854 of 0x5450 bytes: it
        // waits for them (bounded by MAX_BUFFERED), never panics.
        assert_eq!(g.next_frame(), Ok(None));
    }

    #[test]
    fn the_buffer_is_bounded() {
        let mut f = Framer::default();
        assert_eq!(
            f.push(&vec![0u8; MAX_BUFFERED + 1]),
            Err(FrameError::Overfull)
        );
    }
}

//! Splits the byte stream from a TURN server over TCP (plaintext, also
//! after natscope's own TLS) into single TURN messages, which the ICE agent
//! is fed one at a time.
//!
//! Why: rice-proto 0.4.3 panics ("Previous data has not been complete
//! handled yet") when one call hands it two TURN messages that both carry
//! peer data — which TCP does whenever the server's writes coalesce (coturn
//! over TLS does). Fed one message per call, it never sees two. Pure and
//! bounded: no I/O, at most [`MAX_BUFFERED`] bytes held.

/// Most bytes held while waiting for the rest of a unit.
pub(crate) const MAX_BUFFERED: usize = 128 * 1024;

/// Why the stream cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// The bytes are neither STUN nor ChannelData.
    #[error("the server sent bytes that are neither STUN nor ChannelData")]
    Garbage,
    /// More than the buffer bound arrived without completing a message.
    #[error("more than {MAX_BUFFERED} bytes arrived without a complete message")]
    TooLarge,
}

/// Reassembly buffer for one TCP connection: STUN messages and
/// ChannelData (RFC 8656 §12.5: padded to 4 bytes over TCP; the padding is
/// dropped here).
#[derive(Debug, Default)]
pub(crate) struct StreamFrames {
    buf: Vec<u8>,
}

impl StreamFrames {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the connection.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<(), FrameError> {
        if self.buf.len() + data.len() > MAX_BUFFERED {
            return Err(FrameError::TooLarge);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next complete unit, if the buffer holds one.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some((len, consumed)) = self.unit_len()? else {
            return Ok(None);
        };
        if consumed > self.buf.len() {
            return Ok(None);
        }
        let frame = self.buf[..len].to_vec();
        self.buf.drain(..consumed);
        Ok(Some(frame))
    }

    /// (bytes of the unit, bytes it occupies on the wire), once the header
    /// is in.
    fn unit_len(&self) -> Result<Option<(usize, usize)>, FrameError> {
        let b = &self.buf;
        if b.len() < 4 {
            return Ok(None);
        }
        let body = usize::from(u16::from_be_bytes([b[2], b[3]]));
        match b[0] >> 6 {
            // STUN: 20-byte header, attributes padded to 4.
            0 if body % 4 == 0 => Ok(Some((20 + body, 20 + body))),
            // ChannelData: 4-byte header; padded to 4 over TCP.
            1 => Ok(Some((4 + body, (4 + body).next_multiple_of(4)))),
            _ => Err(FrameError::Garbage),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun(body: usize, fill: u8) -> Vec<u8> {
        let mut m = vec![0x00, 0x17];
        m.extend_from_slice(&(body as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&[fill; 12]);
        m.extend(std::iter::repeat_n(fill, body));
        m
    }

    fn drain(f: &mut StreamFrames) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(x) = f.next_frame().unwrap() {
            out.push(x);
        }
        out
    }

    #[test]
    fn two_coalesced_stun_messages_come_out_one_by_one() {
        let (a, b) = (stun(8, 1), stun(4, 2));
        let mut f = StreamFrames::new();
        f.push(&[a.clone(), b.clone()].concat()).unwrap();
        assert_eq!(drain(&mut f), vec![a, b]);
    }

    #[test]
    fn a_message_split_across_reads_waits_for_its_end() {
        let a = stun(12, 3);
        let mut f = StreamFrames::new();
        for chunk in a.chunks(5) {
            assert!(drain(&mut f).is_empty());
            f.push(chunk).unwrap();
        }
        assert_eq!(drain(&mut f), vec![a]);
    }

    #[test]
    fn channel_data_padding_is_dropped() {
        // channel 0x4000, 5 bytes of data, 3 bytes of padding, then STUN.
        let cd = [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5];
        let s = stun(0, 9);
        let mut f = StreamFrames::new();
        f.push(&[&cd[..], &[0, 0, 0], &s[..]].concat()).unwrap();
        assert_eq!(drain(&mut f), vec![cd.to_vec(), s]);
    }

    #[test]
    fn garbage_is_named_not_buffered_forever() {
        let mut f = StreamFrames::new();
        f.push(&[0xff, 0, 0, 0]).unwrap();
        assert_eq!(f.next_frame(), Err(FrameError::Garbage));
        let mut g = StreamFrames::new();
        g.push(b"HTTP/1.1 400").unwrap();
        // 'H' = 0x48: looks like ChannelData 0x4854 of 0x5450 bytes: it
        // waits for them (bounded by MAX_BUFFERED), never panics.
        assert_eq!(g.next_frame(), Ok(None));
    }

    #[test]
    fn the_buffer_is_bounded() {
        let mut f = StreamFrames::new();
        assert_eq!(
            f.push(&vec![0u8; MAX_BUFFERED + 1]),
            Err(FrameError::TooLarge)
        );
    }
}

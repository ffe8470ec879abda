//! The one STUN/ChannelData stream framer (`wire::Framer`, RFC 8489
//! §6.2.2, RFC 8656 §12.5), as every stream user drives it: push a read,
//! take frames out until it needs more.
//!
//! Invariants:
//! - no frame is longer than the cap; a STUN frame is a 20-byte header plus
//!   the length it announces (a multiple of 4), a ChannelData frame 4 bytes
//!   plus its length; STUN-only framers never yield ChannelData;
//! - frames are the stream's bytes, in order, with nothing left out but at
//!   most 3 zero bytes of padding after a ChannelData frame;
//! - the framer never holds more than `MAX_BUFFERED`;
//! - cutting the stream into other reads gives the same frames and the
//!   same end (error or not): framing does not depend on read boundaries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::framing::{FrameKind, Framer, MAX_BUFFERED, MAX_FRAME};

/// Runs the stream through a framer in reads of the sizes `cuts` gives
/// (cycled), as the stream users do. The frames and the error, if any.
fn run(
    mk: &dyn Fn() -> Framer,
    stream: &[u8],
    cuts: &[u8],
) -> (Vec<(FrameKind, Vec<u8>)>, Option<wire::FrameError>) {
    let mut f = mk();
    let mut frames = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < stream.len() {
        let n = if cuts.is_empty() {
            stream.len()
        } else {
            usize::from(cuts[i % cuts.len()]).max(1) * 7
        };
        i += 1;
        let end = (at + n).min(stream.len());
        if let Err(e) = f.push(&stream[at..end]) {
            return (frames, Some(e));
        }
        at = end;
        assert!(f.buffered() <= MAX_BUFFERED);
        loop {
            match f.next_frame() {
                Ok(Some(fr)) => frames.push(fr),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let sel = data[0];
    let ncuts = usize::from(data[1] % 8);
    let Some(cuts) = data.get(2..2 + ncuts) else {
        return;
    };
    let stream = &data[2 + ncuts..];
    let cap = match sel & 3 {
        0 => MAX_FRAME,
        1 => 4096,
        2 => 548,
        _ => usize::from(sel),
    };
    let stun_only = sel & 4 != 0;
    let mk = move || {
        if stun_only {
            Framer::stun_only(cap)
        } else {
            Framer::new(cap)
        }
    };
    let (frames, end) = run(&mk, stream, cuts);
    let cap = cap.min(MAX_FRAME);

    // Frames are the stream, in order, with only ChannelData padding left
    // out.
    let mut pos = 0usize;
    let mut pad = 0usize;
    for (kind, frame) in &frames {
        assert!(frame.len() <= cap, "frame of {} > cap {cap}", frame.len());
        assert!(frame.len() >= 4);
        let announced = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
        match kind {
            FrameKind::Stun => {
                assert_eq!(frame[0] >> 6, 0);
                assert_eq!(frame.len(), 20 + announced);
                assert_eq!(announced % 4, 0);
            }
            FrameKind::ChannelData => {
                assert!(!stun_only, "ChannelData from a STUN-only framer");
                assert_eq!(frame[0] >> 6, 1);
                assert_eq!(frame.len(), 4 + announced);
            }
        }
        // RFC 8656 §12.5 padding after ChannelData: skipped when it is
        // there (zeros) and the bytes are not the start of a STUN message
        // (magic cookie at 4..8).
        let skip = if pad > 0
            && stream
                .get(pos..pos + pad)
                .is_some_and(|z| z.iter().all(|&b| b == 0))
            && stream.get(pos + 4..pos + 8) != Some(&wire::MAGIC_COOKIE[..])
        {
            pad
        } else {
            0
        };
        assert_eq!(
            stream.get(pos + skip..pos + skip + frame.len()),
            Some(&frame[..]),
            "frame not at {} of the stream",
            pos + skip
        );
        pos += skip + frame.len();
        pad = if *kind == FrameKind::ChannelData {
            (4 - frame.len() % 4) % 4
        } else {
            0
        };
    }
    assert!(pos <= stream.len());

    // Read boundaries do not matter.
    let (whole, whole_end) = run(&mk, stream, &[]);
    assert_eq!(frames, whole, "frames depend on read boundaries");
    assert_eq!(end, whole_end, "the end depends on read boundaries");
    let (bytes, bytes_end) = run(&mk, stream, &[0]);
    assert_eq!(frames, bytes);
    assert_eq!(end, bytes_end);
});

//! Video depacketizers: RTP payloads in sequence order (from the jitter buffer) become
//! whole encoded frames for the decoder. VP8 follows RFC 7741, H.264 RFC 6184
//! (single NAL units, STAP-A and FU-A, as browsers send).
//!
//! After a loss, the frame in progress is dropped and so is every frame until the
//! next keyframe: a decoder fed a frame whose reference is missing shows garbage,
//! and the compositor would rather hold the last good picture (and ask for a keyframe).

/// A complete encoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// RTP timestamp (90 kHz).
    pub timestamp: u32,
    pub keyframe: bool,
    /// VP8: the frame as the decoder takes it. H.264: Annex B NAL units.
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Vp8,
    H264,
}

#[derive(Debug)]
pub struct Depacketizer {
    codec: Codec,
    current: Option<(u32, Vec<u8>, bool)>,
    /// True from a loss until the next keyframe starts.
    need_keyframe: bool,
    /// Set when a keyframe should be requested (consumed by `take_keyframe_request`).
    keyframe_wanted: bool,
    /// The timestamp of a frame dropped part way (a loss, or past [`MAX_FRAME_BYTES`]):
    /// its later packets are not the start of a frame (H.264 has no start flag, and
    /// would otherwise make a truncated keyframe of them).
    dropped: Option<u32>,
}

const ANNEX_B_START: [u8; 4] = [0, 0, 0, 1];
/// The most one frame may hold. A 1080p keyframe of a screen full of text is a few
/// hundred KB; a sender that never ends a frame (no marker, one timestamp) would
/// otherwise grow it until the recorder runs out of memory.
pub const MAX_FRAME_BYTES: usize = 8 << 20;

impl Depacketizer {
    pub fn new(codec: Codec) -> Self {
        // Nothing decodes before a keyframe.
        Self { codec, current: None, need_keyframe: true, keyframe_wanted: true, dropped: None }
    }

    /// Packets were lost (or the stream restarted): drop the frame in progress and wait
    /// for a keyframe.
    pub fn lost(&mut self) {
        if let Some((ts, _, _)) = self.current.take() {
            self.dropped = Some(ts);
        }
        self.need_keyframe = true;
        self.keyframe_wanted = true;
    }

    /// True once after a loss (or at the start) until a keyframe arrives: the caller
    /// sends a PLI and rate-limits it.
    #[cfg(test)]
    pub fn take_keyframe_request(&mut self) -> bool {
        std::mem::take(&mut self.keyframe_wanted) && self.need_keyframe
    }

    pub fn waiting_for_keyframe(&self) -> bool {
        self.need_keyframe
    }

    /// One RTP payload; returns a frame when `marker` ends one.
    pub fn push(&mut self, timestamp: u32, marker: bool, payload: &[u8]) -> Option<Frame> {
        // A new timestamp without the previous frame's marker: its end was lost.
        if self.current.as_ref().is_some_and(|(ts, _, _)| *ts != timestamp) {
            self.lost();
        }
        if self.dropped == Some(timestamp) {
            return None;
        }
        self.dropped = None;
        let ok = match self.codec {
            Codec::Vp8 => self.push_vp8(timestamp, payload),
            Codec::H264 => self.push_h264(timestamp, payload),
        };
        let too_big = self.current.as_ref().is_some_and(|(_, buf, _)| buf.len() > MAX_FRAME_BYTES);
        if !ok || too_big {
            self.lost();
            return None;
        }
        if !marker {
            return None;
        }
        let (ts, data, keyframe) = self.current.take()?;
        if data.is_empty() {
            return None;
        }
        if self.need_keyframe && !keyframe {
            return None;
        }
        self.need_keyframe = false;
        Some(Frame { timestamp: ts, keyframe, data })
    }

    /// RFC 7741 section 4.2: the payload descriptor, then the VP8 data. Returns false
    /// on a malformed payload or a frame whose start was lost.
    fn push_vp8(&mut self, timestamp: u32, payload: &[u8]) -> bool {
        let Some(&b0) = payload.first() else { return false };
        let extended = b0 & 0x80 != 0;
        let start = b0 & 0x10 != 0;
        let partition = b0 & 0x07;
        let mut offset = 1;
        if extended {
            let Some(&x) = payload.get(offset) else { return false };
            offset += 1;
            if x & 0x80 != 0 {
                // PictureID: 7 bits, or 15 with the M bit.
                let Some(&p) = payload.get(offset) else { return false };
                offset += if p & 0x80 != 0 { 2 } else { 1 };
            }
            if x & 0x40 != 0 {
                offset += 1; // TL0PICIDX
            }
            if x & 0x30 != 0 {
                offset += 1; // TID / Y / KEYIDX
            }
        }
        let Some(data) = payload.get(offset..) else { return false };
        if data.is_empty() {
            return false;
        }
        if start && partition == 0 {
            // The first byte of a VP8 frame: bit 0 is 0 for a keyframe (RFC 6386 9.1).
            let keyframe = data[0] & 0x01 == 0;
            self.current = Some((timestamp, Vec::with_capacity(16 * 1024), keyframe));
        }
        match &mut self.current {
            Some((_, buf, _)) => {
                buf.extend_from_slice(data);
                true
            }
            None => false, // the frame's first packet was lost
        }
    }

    /// RFC 6184 section 5.6–5.8.
    fn push_h264(&mut self, timestamp: u32, payload: &[u8]) -> bool {
        let Some(&header) = payload.first() else { return false };
        let nal_type = header & 0x1f;
        // H.264 has no frame-start flag: a frame begins with the first packet of its timestamp.
        let (_, buf, key) = self.current.get_or_insert_with(|| (timestamp, Vec::with_capacity(16 * 1024), false));
        // Only an IDR slice makes a frame decodable on its own. Parameter sets travel with
        // it, but an encoder may also repeat them before an ordinary P frame: counting the
        // SPS would end a wait for a keyframe on a frame whose references are missing.
        let is_key = |t: u8| t == 5;
        match nal_type {
            1..=23 => {
                *key |= is_key(nal_type);
                buf.extend_from_slice(&ANNEX_B_START);
                buf.extend_from_slice(payload);
                true
            }
            24 => {
                // STAP-A: 16-bit size, NAL unit, repeated.
                let mut rest = &payload[1..];
                while rest.len() >= 2 {
                    let size = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                    let Some(nal) = rest.get(2..2 + size) else { return false };
                    if let Some(&h) = nal.first() {
                        *key |= is_key(h & 0x1f);
                    }
                    buf.extend_from_slice(&ANNEX_B_START);
                    buf.extend_from_slice(nal);
                    rest = &rest[2 + size..];
                }
                rest.is_empty()
            }
            28 => {
                // FU-A: FU indicator, FU header (S, E, type), fragment.
                let Some(&fu) = payload.get(1) else { return false };
                let fragment = &payload[2..];
                let start = fu & 0x80 != 0;
                let original = (header & 0xe0) | (fu & 0x1f);
                if start {
                    *key |= is_key(fu & 0x1f);
                    buf.extend_from_slice(&ANNEX_B_START);
                    buf.push(original);
                } else if buf.is_empty() {
                    return false; // the fragment's start was lost
                }
                buf.extend_from_slice(fragment);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_that_never_ends_is_dropped_at_its_bound() {
        for codec in [Codec::Vp8, Codec::H264] {
            let mut d = Depacketizer::new(codec);
            let payload: Vec<u8> = match codec {
                // VP8: the first packet starts a keyframe, the rest go on with it.
                Codec::Vp8 => [0x10u8].into_iter().chain(std::iter::repeat_n(0u8, 1200)).collect(),
                Codec::H264 => [0x65u8].into_iter().chain(std::iter::repeat_n(0u8, 1200)).collect(),
            };
            let mut rest = payload.clone();
            rest[0] = if codec == Codec::Vp8 { 0x00 } else { 0x41 };
            assert!(d.push(7, false, &payload).is_none());
            for _ in 0..(MAX_FRAME_BYTES / 1200 + 10) {
                assert!(d.push(7, false, &rest).is_none());
            }
            let held = d.current.as_ref().map_or(0, |(_, buf, _)| buf.len());
            assert!(held <= MAX_FRAME_BYTES + 1300, "{codec:?}: {held} bytes held");
            assert!(d.waiting_for_keyframe(), "{codec:?}");
            // The rest of that frame, a keyframe's start included, is no frame of its own.
            assert!(d.push(7, true, &payload).is_none(), "{codec:?}: a truncated frame came out");
            // The next frame is.
            assert!(d.push(8, true, &payload).is_some_and(|f| f.keyframe && f.timestamp == 8), "{codec:?}");
        }
    }

    /// VP8 payloads of one frame: descriptor with S on the first, 3 packets.
    fn vp8_frame(keyframe: bool, picture_id: u16) -> Vec<Vec<u8>> {
        let first_byte = if keyframe { 0x10 } else { 0x11 };
        let body: Vec<u8> = std::iter::once(first_byte).chain((1..30).map(|i| i as u8)).collect();
        body.chunks(10)
            .enumerate()
            .map(|(i, chunk)| {
                let s = if i == 0 { 0x10 } else { 0x00 };
                // X=1, I=1, 15-bit picture id
                let mut p = vec![0x80 | s, 0x80, 0x80 | (picture_id >> 8) as u8, picture_id as u8];
                p.extend_from_slice(chunk);
                p
            })
            .collect()
    }

    fn feed(d: &mut Depacketizer, ts: u32, packets: &[Vec<u8>]) -> Option<Frame> {
        let mut out = None;
        for (i, p) in packets.iter().enumerate() {
            out = d.push(ts, i == packets.len() - 1, p);
        }
        out
    }

    #[test]
    fn vp8_assembles_frames_and_finds_keyframes() {
        let mut d = Depacketizer::new(Codec::Vp8);
        assert!(d.take_keyframe_request(), "asks for a keyframe at the start");
        assert_eq!(feed(&mut d, 3000, &vp8_frame(false, 1)), None, "no delta frame before a keyframe");
        let key = feed(&mut d, 6000, &vp8_frame(true, 2)).unwrap();
        assert!(key.keyframe);
        assert_eq!(key.data.len(), 30);
        assert_eq!(key.data[0], 0x10);
        let delta = feed(&mut d, 9000, &vp8_frame(false, 3)).unwrap();
        assert!(!delta.keyframe);
        assert_eq!(delta.timestamp, 9000);
    }

    #[test]
    fn vp8_loss_drops_frames_until_the_next_keyframe() {
        let mut d = Depacketizer::new(Codec::Vp8);
        feed(&mut d, 0, &vp8_frame(true, 1)).unwrap();
        let mut frame = vp8_frame(false, 2);
        frame.remove(1); // a middle packet lost (the jitter buffer reports it)
        d.push(3000, false, &frame[0]);
        d.lost();
        assert!(d.take_keyframe_request());
        assert!(!d.take_keyframe_request(), "asked once");
        assert_eq!(d.push(3000, true, &frame[1]), None);
        assert_eq!(feed(&mut d, 6000, &vp8_frame(false, 3)), None, "delta after loss is dropped");
        assert!(feed(&mut d, 9000, &vp8_frame(true, 4)).unwrap().keyframe);
        assert!(feed(&mut d, 12000, &vp8_frame(false, 5)).is_some());
    }

    #[test]
    fn vp8_missing_marker_is_a_loss() {
        let mut d = Depacketizer::new(Codec::Vp8);
        feed(&mut d, 0, &vp8_frame(true, 1)).unwrap();
        let partial = vp8_frame(false, 2);
        d.push(3000, false, &partial[0]); // the end never comes
        assert_eq!(feed(&mut d, 6000, &vp8_frame(false, 3)), None);
        assert!(d.waiting_for_keyframe());
    }

    #[test]
    fn h264_single_stap_a_and_fu_a() {
        let mut d = Depacketizer::new(Codec::H264);
        // STAP-A with SPS (7) and PPS (8), then an IDR (5) in FU-A fragments.
        let sps = [0x67, 1, 2, 3];
        let pps = [0x68, 4, 5];
        let mut stap = vec![0x78];
        for nal in [&sps[..], &pps[..]] {
            stap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            stap.extend_from_slice(nal);
        }
        assert_eq!(d.push(90, false, &stap), None);
        assert_eq!(d.push(90, false, &[0x7c, 0x85, 10, 11]), None); // FU-A start, IDR
        let key = d.push(90, true, &[0x7c, 0x45, 12]).unwrap(); // FU-A end
        assert!(key.keyframe);
        assert_eq!(key.data, [0, 0, 0, 1, 0x67, 1, 2, 3, 0, 0, 0, 1, 0x68, 4, 5, 0, 0, 0, 1, 0x65, 10, 11, 12]);
        let delta = d.push(180, true, &[0x41, 9, 9]).unwrap(); // single NAL, non-IDR slice
        assert!(!delta.keyframe);
        assert_eq!(delta.data, [0, 0, 0, 1, 0x41, 9, 9]);
        // Parameter sets repeated before a P slice do not make it a keyframe.
        assert_eq!(d.push(270, false, &stap), None);
        let repeated = d.push(270, true, &[0x41, 8, 8]).unwrap();
        assert!(!repeated.keyframe);
    }

    #[test]
    fn h264_parameter_sets_alone_do_not_end_a_wait_for_a_keyframe() {
        let mut d = Depacketizer::new(Codec::H264);
        let sps_then_p = [0x78, 0, 4, 0x67, 1, 2, 3, 0, 2, 0x41, 9];
        assert_eq!(d.push(90, true, &sps_then_p), None, "a P frame cannot start the stream");
        assert!(d.waiting_for_keyframe());
        let idr = d.push(180, true, &[0x65, 7, 7]).unwrap();
        assert!(idr.keyframe && !d.waiting_for_keyframe());
    }

    #[test]
    fn malformed_payloads_are_losses_not_panics() {
        let vp8: [&[u8]; 6] = [
            &[],                 // empty
            &[0x80],             // X set, extension byte missing
            &[0x90, 0x80],       // picture id missing
            &[0x90, 0xff, 0xff], // all extensions announced, none there
            &[0x10],             // frame start with no VP8 data
            &[0x00, 5],          // a continuation whose start was lost
        ];
        let h264: [&[u8]; 5] = [
            &[],
            &[0x78, 0, 9, 1],    // STAP-A announcing 9 bytes, holding 1
            &[0x7c],             // FU-A without its FU header
            &[0x1f, 1],          // reserved NAL type 31
            &[0x7c, 0x05, 1],    // FU-A continuation whose start was lost
        ];
        for (codec, payloads) in [(Codec::Vp8, &vp8[..]), (Codec::H264, &h264[..])] {
            for payload in payloads {
                let mut d = Depacketizer::new(codec);
                assert_eq!(d.push(1, true, payload), None, "{codec:?} {payload:?}");
                assert!(d.waiting_for_keyframe());
            }
        }
    }
}

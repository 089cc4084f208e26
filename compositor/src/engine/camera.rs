//! One camera's stream in a recording: its packets reordered, reassembled into encoded
//! frames placed on the recording's clock, and decoded when the output reaches them.
//!
//! Every camera of a meeting flows to the compositor (a cut may land on anyone's first
//! word, up to a second in the past, and a decoder can only start at a keyframe), but
//! only the cameras a frame draws are decoded. What is *kept* is what is cheap: the
//! encoded frames (a few hundred kB), not decoded pictures (345 kB each at 640x360). A
//! frame is decoded only when the output is about to show its time, so a camera holds
//! one decoded picture at a time, whatever the lookahead.
//!
//! A camera no frame draws is *dormant*: it decodes nothing, and keeps its encoded
//! frames from where its decoder stopped, or from the newest keyframe the output has
//! passed (decoding can start again there, so what precedes it goes). When a frame
//! draws it again (a cut to its participant), it decodes what it kept up to that frame
//! in one go: a catch-up, at 640x360 under a millisecond a frame. A camera is asked
//! for a keyframe when its catch-up would pass [`MAX_CATCH_UP_MS`], so the catch-up
//! stays bounded (browsers send keyframes only when asked). Decoding the cameras nobody
//! sees was a quarter of a recording's CPU (docs/benchmarks.md, issue 13).
use crate::input::clock::MediaClock;
use crate::input::decode::{VideoDecoder, MAX_PICTURE};
use crate::input::depacketize::{Codec, Depacketizer, Frame};
use crate::input::jitter::{JitterBuffer, Released};
use crate::input::rtp::RtpPacket;
use ffmpeg_next::frame;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Encoded frames kept for one camera at most (20 s at 30 fps): only an output that
/// stopped rendering could fill it; past it, the oldest go, and the stream waits for
/// a keyframe as after a loss.
const MAX_ENCODED_FRAMES: usize = 600;
/// Encoded bytes kept for one camera at most: 600 frames of a 2.5 Mbit/s camera are
/// 6 MB; a sender of huge frames (each up to the depacketizer's 8 MiB) must not make a
/// recorder hold gigabytes. Past it, frames go as past [`MAX_ENCODED_FRAMES`].
const MAX_ENCODED_BYTES: usize = 64 << 20;
/// A stream whose last packet is older than this is not flowing (no keyframe requests).
const FLOWING_WITHIN: Duration = Duration::from_secs(1);
/// The longest stretch a dormant camera keeps to decode when it is drawn again, before
/// it is asked for a keyframe. With the lookahead and the keyframe's round trip, a
/// catch-up is at most about 4.5 s of frames (110 frames at 25 fps: about 75 ms of
/// decoding at 640x360), and a dormant camera sends a keyframe about every 4.5 s.
pub const MAX_CATCH_UP_MS: u64 = 3000;
/// Keyframe requests that bound a catch-up go at most this often (a sender slow to
/// answer is not flooded).
const CATCH_UP_PLI_INTERVAL: Duration = Duration::from_secs(1);

pub struct Camera {
    pub participant: String,
    /// A shared screen rather than a camera (the share layout shows it).
    pub screen: bool,
    ssrc: u32,
    payload_type: u8,
    jitter: JitterBuffer,
    depack: Depacketizer,
    decoder: VideoDecoder,
    /// Encoded frames not decoded yet: (media time ms, frame), in arrival order.
    encoded: EncodedFrames,
    last_packet: Option<Instant>,
    last_pli: Option<Instant>,
    /// No frame draws this camera: it keeps its frames instead of decoding them.
    dormant: bool,
    /// The output's horizon at the last decode or skip (ms of the recording).
    horizon_ms: u64,
    /// The stream left the source map at this time (ms of the recording): it is
    /// dropped once the output gets there.
    retire_at: Option<u64>,
    /// Frames the decoder refused: the first is a warning (a stream past the picture
    /// bound is refused frame after frame), the rest are counted at debug level.
    decode_errors: u64,
}

/// A camera's encoded frames not decoded yet, with the bytes they hold.
#[derive(Default)]
struct EncodedFrames {
    frames: VecDeque<(u64, Frame)>,
    bytes: usize,
}

impl EncodedFrames {
    fn push_back(&mut self, frame: (u64, Frame)) {
        self.bytes += frame.1.data.len();
        self.frames.push_back(frame);
    }

    fn pop_front(&mut self) -> Option<(u64, Frame)> {
        let frame = self.frames.pop_front()?;
        self.bytes -= frame.1.data.len();
        Some(frame)
    }

    /// Drops the first `n` frames.
    fn drain_front(&mut self, n: usize) {
        for _ in 0..n {
            self.pop_front();
        }
    }
}

impl std::ops::Deref for EncodedFrames {
    type Target = VecDeque<(u64, Frame)>;
    fn deref(&self) -> &Self::Target {
        &self.frames
    }
}

impl Camera {
    pub fn new(participant: String, screen: bool, ssrc: u32, payload_type: u8, codec: Codec, jitter_delay: Duration) -> Result<Self, ffmpeg_next::Error> {
        Ok(Self {
            participant,
            screen,
            ssrc,
            payload_type,
            jitter: JitterBuffer::new(jitter_delay),
            depack: Depacketizer::new(codec),
            decoder: VideoDecoder::new(codec)?,
            encoded: EncodedFrames::default(),
            last_packet: None,
            last_pli: None,
            dormant: false,
            horizon_ms: 0,
            retire_at: None,
            decode_errors: 0,
        })
    }

    /// A packet of this stream arrived at `now` (one of another payload type, such as
    /// a probe, is ignored).
    pub fn push(&mut self, now: Instant, packet: RtpPacket) {
        if packet.payload_type == self.payload_type {
            self.last_packet = Some(now);
            self.jitter.push(now, packet);
        }
    }

    /// Reassembles what the jitter buffer lets go at `release_at` into encoded frames,
    /// each placed on the recording's clock (`now_ms`: the time of arrival, for a
    /// stream with no sender report yet).
    pub fn drain(&mut self, release_at: Instant, now_ms: f64, clock: &mut MediaClock) {
        while let Some(released) = self.jitter.pop(release_at) {
            let packet = match released {
                Released::Packet(p) => p,
                Released::Lost(_) | Released::Discontinuity => {
                    self.depack.lost();
                    continue;
                }
            };
            let Some(frame) = self.depack.push(packet.timestamp, packet.marker, &packet.payload) else { continue };
            let at = clock.local_time(self.ssrc, frame.timestamp, now_ms).unwrap_or(now_ms).max(0.0) as u64;
            if let Some((last, _)) = self.encoded.back() {
                if at > last + 500 || at + 100 < *last {
                    tracing::debug!(ssrc = self.ssrc, at, last, "video time jumped");
                }
            }
            self.encoded.push_back((at, frame));
            if self.encoded.len() > MAX_ENCODED_FRAMES || self.encoded.bytes > MAX_ENCODED_BYTES {
                // The frames up to the next keyframe refer to the one dropped: they go
                // too (all of them, and the stream waits for a keyframe, if none is
                // queued).
                self.encoded.pop_front();
                while self.encoded.front().is_some_and(|(_, f)| !f.keyframe) {
                    self.encoded.pop_front();
                }
                if self.encoded.is_empty() {
                    self.depack.lost();
                }
                tracing::warn!(ssrc = self.ssrc, "the output fell {MAX_ENCODED_FRAMES} frames or {} MiB behind a camera: frames dropped up to its next keyframe", MAX_ENCODED_BYTES >> 20);
            }
        }
    }

    /// Decodes the frames whose time is at or before `horizon_ms`, in order, and
    /// returns how many pictures came out and the newest, with its time (only the newest
    /// is kept: a catch-up of a hundred frames holds one picture, not a hundred). A
    /// frame the decoder rejects is never shown: the stream waits for its next keyframe
    /// (and asks for it). A dormant camera drawn again catches up here.
    pub fn decode_until(&mut self, horizon_ms: u64) -> (usize, Option<(u64, frame::Video)>) {
        (self.dormant, self.horizon_ms) = (false, horizon_ms);
        let (mut count, mut newest) = (0, None);
        while self.encoded.front().is_some_and(|(at, _)| *at <= horizon_ms) {
            let (at, frame) = self.encoded.pop_front().expect("just seen");
            match self.decoder.decode(&frame) {
                Ok(decoded) => {
                    count += decoded.len();
                    if let Some(picture) = decoded.into_iter().last() {
                        newest = Some((at, picture));
                    }
                }
                Err(e) => {
                    self.decode_errors += 1;
                    if self.decode_errors == 1 {
                        tracing::warn!(ssrc = self.ssrc, participant = %self.participant, "a video frame did not decode ({e}): its frames are dropped up to the next keyframe (after a loss, or a picture over the {}x{} bound); later errors of this stream are logged at debug level", MAX_PICTURE.0, MAX_PICTURE.1);
                    } else {
                        tracing::debug!(ssrc = self.ssrc, errors = self.decode_errors, "video decode error: {e}");
                    }
                    // Up to the next keyframe, the queued frames refer to a broken one.
                    while self.encoded.front().is_some_and(|(_, f)| !f.keyframe) {
                        self.encoded.pop_front();
                    }
                    if self.encoded.is_empty() {
                        self.depack.lost();
                    }
                }
            }
        }
        (count, newest)
    }

    /// The output reached `horizon_ms` and no frame draws this camera: it decodes
    /// nothing, and drops only what a later catch-up will not need (the frames before
    /// the newest keyframe at or before the horizon).
    pub fn skip_until(&mut self, horizon_ms: u64) {
        (self.dormant, self.horizon_ms) = (true, horizon_ms);
        let passed = self.encoded.iter().take_while(|(at, _)| *at <= horizon_ms).count();
        if let Some(keyframe) = self.encoded.range(..passed).rposition(|(_, f)| f.keyframe) {
            self.encoded.drain_front(keyframe);
        }
    }

    /// How much a dormant camera would decode to catch up with the output (ms).
    pub fn catch_up_ms(&self) -> u64 {
        match self.encoded.front() {
            Some((at, _)) if self.dormant => self.horizon_ms.saturating_sub(*at),
            _ => 0,
        }
    }

    /// Whether to send this stream a keyframe request now: it flows, and either a loss
    /// left it waiting for a keyframe (at most every `interval`), or it is dormant and
    /// its catch-up passed [`MAX_CATCH_UP_MS`] with no keyframe on its way.
    pub fn wants_keyframe(&mut self, now: Instant, interval: Duration) -> bool {
        let flowing = self.last_packet.is_some_and(|t| now.saturating_duration_since(t) < FLOWING_WITHIN);
        let since_last = |every: Duration| self.last_pli.map_or(true, |t| now.saturating_duration_since(t) >= every);
        let lost = self.depack.waiting_for_keyframe() && since_last(interval);
        let catch_up_too_long =
            self.catch_up_ms() > MAX_CATCH_UP_MS && since_last(CATCH_UP_PLI_INTERVAL) && !self.encoded.iter().skip(1).any(|(_, f)| f.keyframe);
        if flowing && (lost || catch_up_too_long) {
            self.last_pli = Some(now);
            return true;
        }
        false
    }

    /// The stream left the source map at `at_ms`.
    pub fn retire(&mut self, at_ms: u64) {
        self.retire_at.get_or_insert(at_ms);
    }

    /// Whether the output at `t_ms` is past the stream's end.
    pub fn retired_by(&self, t_ms: u64) -> bool {
        self.retire_at.is_some_and(|at| t_ms >= at)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.jitter.next_deadline()
    }

    /// The time of the newest frame received, and how many wait to be decoded.
    pub fn backlog(&self) -> (u64, usize) {
        (self.encoded.back().map_or(0, |(at, _)| *at), self.encoded.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_of_huge_frames_holds_at_most_its_byte_budget() {
        let mut camera = Camera::new("p".into(), false, 9, 96, Codec::Vp8, Duration::ZERO).unwrap();
        let (start, mut clock) = (Instant::now(), MediaClock::new());
        clock.add_stream(9, 90_000);
        // 1 MiB keyframes (VP8: S set, then a key frame's first byte), which nothing
        // decodes (the output does not run here): 100 of them would be 100 MiB.
        let mut sequence = 0u16;
        for f in 0..100u32 {
            let now = start + Duration::from_millis(u64::from(f) * 40);
            for i in 0..874 {
                let mut payload = vec![0u8; 1200];
                payload[0] = if i == 0 { 0x10 } else { 0x00 };
                camera.push(now, RtpPacket { payload_type: 96, marker: i == 873, sequence, timestamp: f * 3600, ssrc: 9, payload });
                sequence = sequence.wrapping_add(1);
            }
            camera.drain(now, f64::from(f) * 40.0, &mut clock);
        }
        let (_, frames) = camera.backlog();
        assert!(frames > 10, "frames are kept: {frames}");
        assert!(camera.encoded.bytes <= MAX_ENCODED_BYTES, "{} MiB held", camera.encoded.bytes >> 20);
        assert_eq!(camera.encoded.bytes, camera.encoded.iter().map(|(_, f)| f.data.len()).sum::<usize>());
    }
}

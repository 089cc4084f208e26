//! One microphone's stream in a recording: its packets reordered, decoded (Opus) and
//! placed at a sample position of the recording, for the mixer.
use crate::input::clock::MediaClock;
use crate::input::decode::AudioDecoder;
use crate::input::jitter::{JitterBuffer, Released};
use crate::input::rtp::RtpPacket;
use crate::output::mp4::SAMPLE_RATE;
use std::time::{Duration, Instant};

/// A stream's positions follow its RTP timestamps; if a sender report moves its
/// mapping further than this, the stream is placed anew.
const REANCHOR_SAMPLES: i64 = SAMPLE_RATE as i64 * 40 / 1000;

pub struct Microphone {
    ssrc: u32,
    payload_type: u8,
    jitter: JitterBuffer,
    decoder: AudioDecoder,
    /// (extended RTP timestamp, sample position) this stream's positions count from.
    anchor: Option<(i64, i64)>,
    /// The last extended timestamp, to unwrap the next.
    last_ts: Option<i64>,
}

impl Microphone {
    pub fn new(ssrc: u32, payload_type: u8, jitter_delay: Duration) -> Result<Self, ffmpeg_next::Error> {
        Ok(Self { ssrc, payload_type, jitter: JitterBuffer::new(jitter_delay), decoder: AudioDecoder::new()?, anchor: None, last_ts: None })
    }

    /// A packet of this stream arrived at `now`.
    pub fn push(&mut self, now: Instant, packet: RtpPacket) {
        if packet.payload_type == self.payload_type {
            self.jitter.push(now, packet);
        }
    }

    /// Decodes what the jitter buffer lets go at `release_at`: (sample position,
    /// interleaved stereo samples) per packet. A loss leaves a gap in the positions,
    /// which the mixer conceals.
    pub fn drain(&mut self, release_at: Instant, now_ms: f64, clock: &mut MediaClock) -> Vec<(i64, Vec<f32>)> {
        let mut out = Vec::new();
        while let Some(released) = self.jitter.pop(release_at) {
            let Released::Packet(packet) = released else { continue };
            let samples = match self.decoder.decode(&packet.payload) {
                Ok(s) if !s.is_empty() => s,
                _ => continue,
            };
            let ext = match self.last_ts {
                Some(last) => last + i64::from(packet.timestamp.wrapping_sub(last as u32) as i32),
                None => i64::from(packet.timestamp),
            };
            self.last_ts = Some(ext);
            let mapped = clock.local_time(self.ssrc, packet.timestamp, now_ms).unwrap_or(now_ms) * f64::from(SAMPLE_RATE) / 1000.0;
            let mapped = mapped as i64;
            let pos = match self.anchor {
                Some((ts, pos)) if (pos + (ext - ts) - mapped).abs() <= REANCHOR_SAMPLES => pos + (ext - ts),
                _ => {
                    self.anchor = Some((ext, mapped));
                    mapped
                }
            };
            out.push((pos, samples));
        }
        out
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.jitter.next_deadline()
    }
}

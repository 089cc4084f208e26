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
/// How far ahead of its arrival a packet may be placed. Sound cannot arrive before it
/// was captured: a position further on comes of timestamps (or sender reports) that
/// jumped, and the mixer would fill the gap up to it with silence, gigabytes of it for a
/// jump of hours. Such a packet is placed at its arrival instead.
const MAX_AHEAD_OF_ARRIVAL: i64 = SAMPLE_RATE as i64;

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
            // A mapping further ahead than sound can be is not believed: the stream is
            // anchored at the packet's arrival, and follows its timestamps from there
            // (packets drained together keep their spacing) until a sane mapping comes.
            let limit = (now_ms * f64::from(SAMPLE_RATE) / 1000.0) as i64 + MAX_AHEAD_OF_ARRIVAL;
            let mapped = (mapped as i64).min(limit);
            let pos = match self.anchor {
                Some((ts, pos)) if pos + (ext - ts) <= limit && (mapped == limit || (pos + (ext - ts) - mapped).abs() <= REANCHOR_SAMPLES) => pos + (ext - ts),
                _ => {
                    let pos = if mapped == limit { limit - MAX_AHEAD_OF_ARRIVAL } else { mapped };
                    self.anchor = Some((ext, pos));
                    pos
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{tone, AudioSource};

    /// Positions of `n` packets pushed at once and drained together at `at_ms`, each
    /// packet's timestamp moved on by `jump` samples.
    fn send(mic: &mut Microphone, source: &mut AudioSource, clock: &mut MediaClock, start: Instant, at_ms: u64, n: usize, jump: u32) -> Vec<i64> {
        let now = start + Duration::from_millis(at_ms);
        for _ in 0..n {
            let mut packet = RtpPacket::parse(&source.next_packet(&tone(440.0, 0.3, 0, 960)).unwrap()).unwrap();
            packet.timestamp = packet.timestamp.wrapping_add(jump);
            mic.push(now, packet);
        }
        mic.drain(now + Duration::from_secs(1), at_ms as f64, clock).into_iter().map(|(pos, _)| pos).collect()
    }

    #[test]
    fn timestamps_that_jump_hours_on_are_placed_at_their_arrival_and_keep_their_spacing() {
        let (start, mut clock) = (Instant::now(), MediaClock::new());
        clock.add_stream(7, SAMPLE_RATE);
        let mut source = AudioSource::new(7, 111).unwrap();
        let mut mic = Microphone::new(7, 111, Duration::ZERO).unwrap();
        // 1 s of sound in packets as they come: positions follow the timestamps.
        let mut before = Vec::new();
        for i in 0..50 {
            before.extend(send(&mut mic, &mut source, &mut clock, start, 1000 + i * 20, 1, 0));
        }
        assert!(before.windows(2).all(|w| w[1] - w[0] == 960), "{before:?}");
        // Then its timestamps jump 11 hours on, and five packets are drained at once.
        let jump = SAMPLE_RATE * 3600 * 11;
        let after = send(&mut mic, &mut source, &mut clock, start, 2100, 5, jump);
        let arrival = 2100 * i64::from(SAMPLE_RATE) / 1000;
        assert!(after.iter().all(|&p| (arrival..=arrival + MAX_AHEAD_OF_ARRIVAL).contains(&p)), "placed near their arrival: {after:?}");
        assert!(after.windows(2).all(|w| w[1] - w[0] == 960), "kept apart, not piled on one position: {after:?}");
        // And the stream goes on from there.
        let next = send(&mut mic, &mut source, &mut clock, start, 2200, 1, jump);
        assert_eq!(next, vec![after[4] + 960]);
    }
}

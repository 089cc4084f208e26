//! Mixes the participants' decoded audio into one stream, sans-IO: each source's
//! packets (interleaved stereo f32, 48 kHz) are placed at the sample position their RTP
//! time maps to; the mixer hands out spans of the sum through a limiter, so that
//! several loud voices never clip.
//!
//! A source with nothing placed in a span (a muted or late participant) adds silence:
//! the mix never waits for one participant. A short gap (a lost packet) is concealed.
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

pub const CHANNELS: usize = 2;

/// A peak limiter: the gain falls at once to keep every sample within `ceiling`, and
/// recovers over `release_samples`. No look-ahead, so no added delay; the instant
/// attack is what guarantees no sample exceeds the ceiling.
#[derive(Debug, Clone)]
pub struct Limiter {
    ceiling: f32,
    gain: f32,
    release_per_frame: f32,
}

impl Limiter {
    pub fn new(ceiling: f32, release_samples: usize) -> Self {
        Self { ceiling, gain: 1.0, release_per_frame: 1.0 / release_samples.max(1) as f32 }
    }

    /// Processes interleaved stereo in place.
    pub fn process(&mut self, samples: &mut [f32]) {
        for frame in samples.chunks_mut(CHANNELS) {
            let peak = frame.iter().fold(0.0_f32, |m, s| m.max(s.abs()));
            // Recover towards unity, then cut as far as this frame needs.
            self.gain = (self.gain + self.release_per_frame).min(1.0);
            if peak * self.gain > self.ceiling {
                self.gain = self.ceiling / peak;
            }
            for s in frame {
                *s *= self.gain;
            }
        }
    }

    #[cfg(test)]
    pub fn gain(&self) -> f32 {
        self.gain
    }
}

/// How far a packet may land from where its stream's audio ends and still be appended
/// right there. Positions come from RTP timestamps, which are exact within a stream
/// (the engine keeps them continuous across sender-report updates), so this only
/// absorbs rounding: a lost 20 ms packet is well beyond it.
pub const PLACEMENT_TOLERANCE: i64 = 48_000 * 2 / 1000;
/// Gaps up to this long are concealed by the last audio heard, repeated and fading out;
/// longer ones are silence (the speaker stopped sending, or muted).
pub const CONCEAL_MAX: i64 = 48_000 * 120 / 1000;
/// The longest gap filled within a stretch of a source's audio. A longer one (its
/// positions jumped) is not materialized as silence: the packet is refused, and the
/// source starts a new stretch once its pending audio is mixed.
pub const MAX_GAP: i64 = 48_000 * 10;
/// The audio kept to conceal a gap with: one Opus packet (20 ms).
const CONCEAL_SOURCE: usize = 960;

/// One source's audio, placed on the recording's sample clock.
#[derive(Debug)]
struct Track {
    /// Sample position (per channel) of `buf[0]`; the end of the audio when `buf` is empty.
    start: i64,
    /// Interleaved stereo, not mixed yet.
    buf: VecDeque<f32>,
    /// The last packet's audio, to conceal a gap with.
    last: Vec<f32>,
}

impl Track {
    fn end(&self) -> i64 {
        self.start + (self.buf.len() / CHANNELS) as i64
    }

    fn remember(&mut self, samples: &[f32]) {
        self.last.clear();
        self.last.extend_from_slice(&samples[samples.len().saturating_sub(CONCEAL_SOURCE * CHANNELS)..]);
    }

    /// Fills `gap` samples from the end: the last audio heard, repeated and fading out
    /// (a lost packet or two should not click), up to CONCEAL_MAX, then silence.
    fn conceal(&mut self, gap: i64) {
        let concealed = gap.min(CONCEAL_MAX) as usize;
        let source_frames = self.last.len() / CHANNELS;
        for i in 0..concealed {
            let fade = 1.0 - i as f32 / concealed as f32;
            for ch in 0..CHANNELS {
                let s = if source_frames == 0 { 0.0 } else { self.last[(i % source_frames) * CHANNELS + ch] };
                self.buf.push_back(s * fade * fade);
            }
        }
        self.buf.extend(std::iter::repeat_n(0.0, (gap as usize - concealed) * CHANNELS));
    }
}

/// Where `push_at` put a packet, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Right after the source's previous audio (or starting a new stretch of it).
    Appended,
    /// After a gap of this many samples (lost packets), concealed or silent.
    AfterGap(i64),
    /// Its first this many samples overlapped audio already placed or mixed, and were dropped.
    Trimmed(i64),
    /// It ended before what was already mixed: too late to be heard.
    Late,
    /// It lay more than [`MAX_GAP`] after the source's unmixed audio: not placed.
    TooFarAhead,
}

/// Mixes sources placed by position on one sample clock (48 kHz, per channel), sans-IO.
/// Each source's packets are placed where their RTP time maps (see `clock`), so the mix
/// is in sync with the video whatever order packets arrive in; the caller mixes a span
/// once the recording's lookahead has passed it.
#[derive(Debug)]
pub struct Mixer<S> {
    tracks: HashMap<S, Track>,
    limiter: Limiter,
    /// Everything before this position was mixed already.
    mixed_to: i64,
}

impl<S: Clone + Eq + Hash> Mixer<S> {
    /// -0.3 dBFS ceiling, 200 ms release.
    pub fn new() -> Self {
        Self { tracks: HashMap::new(), limiter: Limiter::new(0.966, 48_000 / 5), mixed_to: 0 }
    }

    /// Places interleaved stereo `samples` of `source` starting at sample `pos`.
    pub fn push_at(&mut self, source: &S, pos: i64, samples: &[f32]) -> Placement {
        let n = (samples.len() / CHANNELS) as i64;
        if pos + n <= self.mixed_to {
            return Placement::Late;
        }
        let mixed_to = self.mixed_to;
        let track = self.tracks.entry(source.clone()).or_insert_with(|| Track { start: mixed_to, buf: VecDeque::new(), last: Vec::new() });
        let end = track.end();
        let placement = if end <= mixed_to && pos > end + PLACEMENT_TOLERANCE || end < mixed_to {
            // A new source, or one whose audio ran out (silence was mixed since): a new
            // stretch where the packet says, minus what was mixed already.
            let skip = (mixed_to - pos).max(0);
            track.start = pos + skip;
            track.buf.clear();
            track.buf.extend(&samples[(skip as usize) * CHANNELS..]);
            if skip > 0 { Placement::Trimmed(skip) } else { Placement::Appended }
        } else if (pos - end).abs() <= PLACEMENT_TOLERANCE {
            track.buf.extend(samples);
            Placement::Appended
        } else if pos - end > MAX_GAP {
            return Placement::TooFarAhead;
        } else if pos > end {
            track.conceal(pos - end);
            track.buf.extend(samples);
            Placement::AfterGap(pos - end)
        } else {
            let overlap = end - pos;
            if overlap >= n {
                return Placement::Trimmed(n);
            }
            track.buf.extend(&samples[(overlap as usize) * CHANNELS..]);
            Placement::Trimmed(overlap)
        };
        track.remember(samples);
        placement
    }

    /// Forgets a source at once (what it had placed is not mixed).
    #[cfg(test)]
    pub fn remove(&mut self, source: &S) {
        self.tracks.remove(source);
    }

    /// Whether the source has audio placed but not mixed yet.
    pub fn has_pending(&self, source: &S) -> bool {
        self.tracks.get(source).is_some_and(|t| !t.buf.is_empty())
    }

    /// Mixes the next `n` samples per channel (from where the last mix ended): each
    /// source adds what it placed there, silence where it placed nothing.
    pub fn mix(&mut self, n: usize) -> Vec<f32> {
        let (from, to) = (self.mixed_to, self.mixed_to + n as i64);
        let mut out = vec![0.0_f32; n * CHANNELS];
        for track in self.tracks.values_mut() {
            // Placement never puts audio before what was mixed, so start >= from.
            debug_assert!(track.start >= from || track.buf.is_empty());
            if track.buf.is_empty() || track.start >= to {
                continue;
            }
            let offset = ((track.start - from).max(0) as usize) * CHANNELS;
            let take = track.buf.len().min(out.len() - offset);
            for (o, s) in out[offset..offset + take].iter_mut().zip(track.buf.drain(..take)) {
                *o += s;
            }
            track.start += (take / CHANNELS) as i64;
        }
        self.mixed_to = to;
        self.limiter.process(&mut out);
        out
    }

    /// The position the next `mix` starts at.
    pub fn position(&self) -> i64 {
        self.mixed_to
    }
}

impl<S: Clone + Eq + Hash> Default for Mixer<S> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, amplitude: f32, frames: usize) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let s = amplitude * (2.0 * std::f32::consts::PI * freq * i as f32 / 48_000.0).sin();
                [s, s]
            })
            .collect()
    }

    fn peak(samples: &[f32]) -> f32 {
        samples.iter().fold(0.0, |m, s| m.max(s.abs()))
    }

    #[test]
    fn quiet_sources_pass_unchanged() {
        let mut m = Mixer::new();
        let a = tone(440.0, 0.2, 1024);
        let b = tone(660.0, 0.2, 1024);
        m.push_at(&"a", 0, &a);
        m.push_at(&"b", 0, &b);
        let out = m.mix(1024);
        for i in 0..out.len() {
            assert!((out[i] - (a[i] + b[i])).abs() < 1e-6, "sample {i} changed");
        }
    }

    #[test]
    fn a_jump_of_hours_is_not_filled_with_silence() {
        let mut m = Mixer::new();
        let t = tone(440.0, 0.2, 960);
        assert_eq!(m.push_at(&"a", 0, &t), Placement::Appended);
        // Its timestamps jump 12 hours on: nothing is placed, nothing allocated.
        assert_eq!(m.push_at(&"a", 48_000 * 3600 * 12, &t), Placement::TooFarAhead);
        assert_eq!(m.tracks[&"a"].buf.len(), 960 * CHANNELS);
        // A real loss within the bound is still concealed.
        assert_eq!(m.push_at(&"a", 960 + 4800, &t), Placement::AfterGap(4800));
        let out = m.mix(960);
        assert!((out[0] - t[0]).abs() < 1e-6);
    }

    #[test]
    fn loud_sources_never_clip() {
        let mut m = Mixer::new();
        for k in 0..20 {
            for (id, f) in [("a", 300.0), ("b", 450.0), ("c", 700.0), ("d", 1000.0)] {
                m.push_at(&id, k * 1024, &tone(f, 0.95, 1024));
            }
            let out = m.mix(1024);
            assert!(peak(&out) <= 0.966 + 1e-6, "peak {}", peak(&out));
        }
    }

    #[test]
    fn the_limiter_recovers_after_a_loud_burst() {
        let mut m = Mixer::new();
        m.push_at(&"a", 0, &tone(440.0, 0.9, 1024));
        m.push_at(&"b", 0, &tone(440.0, 0.9, 1024));
        m.mix(1024);
        assert!(m.limiter.gain() < 0.6);
        // Half a second of a quiet voice later, the gain is back at unity.
        for k in 1..25 {
            m.push_at(&"a", k * 1024, &tone(440.0, 0.1, 1024));
            m.mix(1024);
        }
        assert!((m.limiter.gain() - 1.0).abs() < 1e-6, "gain {}", m.limiter.gain());
    }

    #[test]
    fn sources_are_placed_by_time_not_by_arrival() {
        // b's packet for 0..1024 arrives after its packet for 1024..2048.
        let mut m = Mixer::new();
        let (early, late) = (tone(440.0, 0.3, 1024), tone(440.0, 0.6, 1024));
        m.push_at(&"b", 1024, &late);
        assert_eq!(m.push_at(&"b", 0, &early), Placement::Trimmed(1024), "a stretch started at 1024 cannot take earlier audio");
        let mut m = Mixer::new();
        m.push_at(&"a", 0, &early);
        m.push_at(&"a", 1024 + 50, &late); // rounding: appended at 1024
        let out = [m.mix(1024), m.mix(1024)].concat();
        assert!(peak(&out[..2048]) > 0.29 && peak(&out[..2048]) < 0.31);
        assert!(peak(&out[2048..]) > 0.59);
    }

    #[test]
    fn a_missing_source_is_silence_not_a_stall() {
        let mut m = Mixer::new();
        m.push_at(&"a", 0, &tone(440.0, 0.3, 1024));
        m.push_at(&"b", 0, &tone(440.0, 0.3, 100)); // b is late
        let out = m.mix(1024);
        assert_eq!(out.len(), 2048);
        assert!(peak(&out) > 0.29, "a is in the mix");
        // Both sources are used up: the next frame is silence.
        let out = m.mix(1024);
        assert_eq!(peak(&out), 0.0);
        // Audio for a span already mixed is late, not mixed twice.
        assert_eq!(m.push_at(&"a", 0, &tone(440.0, 0.3, 1024)), Placement::Late);
    }

    #[test]
    fn a_short_gap_is_concealed_and_a_long_one_is_silent() {
        let mut m = Mixer::new();
        m.push_at(&"a", 0, &tone(440.0, 0.5, 960));
        // One 20 ms packet lost: the next lands 1920 samples on.
        assert_eq!(m.push_at(&"a", 1920, &tone(440.0, 0.5, 960)), Placement::AfterGap(960));
        let out = m.mix(2880);
        let gap = &out[960 * 2..1920 * 2];
        assert!(peak(&gap[..200]) > 0.2, "the start of the gap continues the voice");
        assert!(peak(&gap[gap.len() - 20..]) < 0.05, "and fades out");
        // A second of silence (muted), then speech: a new stretch, silence in between.
        let out_pos = m.position();
        assert_eq!(m.push_at(&"a", out_pos + 48_000, &tone(440.0, 0.5, 960)), Placement::Appended);
        let out = m.mix(48_000 + 960);
        assert_eq!(peak(&out[CONCEAL_MAX as usize * 2..48_000 * 2]), 0.0);
        assert!(peak(&out[48_000 * 2..]) > 0.49);
    }

    #[test]
    fn a_removed_source_leaves_the_mix() {
        let mut m = Mixer::new();
        m.push_at(&"a", 0, &tone(440.0, 0.3, 4096));
        m.remove(&"a");
        assert_eq!(peak(&m.mix(1024)), 0.0);
    }
}

//! Mixes the participants' decoded audio into one stream, sans-IO: each source pushes
//! interleaved stereo f32 samples (48 kHz), already placed on the recording's clock;
//! the mixer hands out fixed-size frames (AAC takes 1024 samples per channel) of
//! their sum through a limiter, so that several loud voices never clip.
//!
//! A source with nothing buffered for a frame (a muted or late participant) adds
//! silence: the mix never waits for one participant.
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

    pub fn gain(&self) -> f32 {
        self.gain
    }
}

#[derive(Debug)]
pub struct Mixer<S> {
    sources: HashMap<S, VecDeque<f32>>,
    samples_per_channel: usize,
    limiter: Limiter,
    /// Most buffered per source (samples); older ones are dropped, so a source that
    /// runs ahead (clock drift) cannot grow the buffer without bound.
    max_buffered: usize,
}

impl<S: Clone + Eq + Hash> Mixer<S> {
    /// `samples_per_channel` per output frame; -0.3 dBFS ceiling, 200 ms release.
    pub fn new(samples_per_channel: usize) -> Self {
        Self {
            sources: HashMap::new(),
            samples_per_channel,
            limiter: Limiter::new(0.966, 48_000 / 5),
            max_buffered: 48_000 * CHANNELS, // one second
        }
    }

    pub fn push(&mut self, source: &S, interleaved: &[f32]) {
        let buf = self.sources.entry(source.clone()).or_default();
        buf.extend(interleaved.iter().copied());
        let excess = buf.len().saturating_sub(self.max_buffered);
        buf.drain(..excess - excess % CHANNELS);
    }

    pub fn remove(&mut self, source: &S) {
        self.sources.remove(source);
    }

    /// One mixed frame, taking what each source has (silence for what it lacks).
    pub fn mix_frame(&mut self) -> Vec<f32> {
        let len = self.samples_per_channel * CHANNELS;
        let mut out = vec![0.0_f32; len];
        for buf in self.sources.values_mut() {
            let take = buf.len().min(len);
            for (o, s) in out.iter_mut().zip(buf.drain(..take)) {
                *o += s;
            }
        }
        self.limiter.process(&mut out);
        out
    }

    /// Whether every source has a whole frame buffered (a caller can wait for that,
    /// up to its latency budget, before mixing).
    pub fn all_ready(&self) -> bool {
        let len = self.samples_per_channel * CHANNELS;
        self.sources.values().all(|b| b.len() >= len)
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
        let mut m = Mixer::new(1024);
        let a = tone(440.0, 0.2, 1024);
        let b = tone(660.0, 0.2, 1024);
        m.push(&"a", &a);
        m.push(&"b", &b);
        let out = m.mix_frame();
        for i in 0..out.len() {
            assert!((out[i] - (a[i] + b[i])).abs() < 1e-6, "sample {i} changed");
        }
    }

    #[test]
    fn loud_sources_never_clip() {
        let mut m = Mixer::new(1024);
        for _ in 0..20 {
            for (id, f) in [("a", 300.0), ("b", 450.0), ("c", 700.0), ("d", 1000.0)] {
                m.push(&id, &tone(f, 0.95, 1024));
            }
            let out = m.mix_frame();
            assert!(peak(&out) <= 0.966 + 1e-6, "peak {}", peak(&out));
        }
    }

    #[test]
    fn the_limiter_recovers_after_a_loud_burst() {
        let mut m = Mixer::new(1024);
        m.push(&"a", &tone(440.0, 0.9, 1024));
        m.push(&"b", &tone(440.0, 0.9, 1024));
        m.mix_frame();
        assert!(m.limiter.gain() < 0.6);
        // Half a second of a quiet voice later, the gain is back at unity.
        for _ in 0..24 {
            m.push(&"a", &tone(440.0, 0.1, 1024));
            m.mix_frame();
        }
        assert!((m.limiter.gain() - 1.0).abs() < 1e-6, "gain {}", m.limiter.gain());
    }

    #[test]
    fn a_missing_source_is_silence_not_a_stall() {
        let mut m = Mixer::new(1024);
        m.push(&"a", &tone(440.0, 0.3, 1024));
        m.push(&"b", &tone(440.0, 0.3, 100)); // b is late
        assert!(!m.all_ready());
        let out = m.mix_frame();
        assert_eq!(out.len(), 2048);
        assert!(peak(&out) > 0.29, "a is in the mix");
        // Both sources are used up: the next frame is silence.
        let out = m.mix_frame();
        assert_eq!(peak(&out), 0.0);
    }

    #[test]
    fn a_source_running_ahead_is_bounded() {
        let mut m = Mixer::new(1024);
        for _ in 0..100 {
            m.push(&"fast", &tone(440.0, 0.1, 1024));
        }
        assert!(m.sources[&"fast"].len() <= 48_000 * CHANNELS);
        m.remove(&"fast");
        assert_eq!(peak(&m.mix_frame()), 0.0);
    }
}

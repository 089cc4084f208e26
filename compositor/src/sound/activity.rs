//! The per-second activity the sidecar keeps (`loudness_db`, `voices`), sans-IO: each
//! source's decoded packets and the mix go in; each finished second comes out as the
//! mix's level and how many sources spoke in it. The highlight reel scores with it.
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// A 20 ms packet this loud (dBFS) is a voice.
const VOICE_DB: f32 = -45.0;
/// A source spoke in a second when this many of its packets there were voice (200 ms
/// of the 1000).
const VOICE_PACKETS: u16 = 10;

/// One finished second of the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Second {
    /// The mix's level, dBFS, one decimal (-100: silence).
    pub loudness_db: f32,
    /// How many sources spoke in it (cross-talk at 2+).
    pub voices: u8,
}

#[derive(Debug)]
pub struct ActivityMeter<S> {
    sample_rate: u32,
    /// Voiced packets per second and source, for the seconds not finished yet.
    voiced: BTreeMap<u64, HashMap<S, u16>>,
    /// The mix's sum of squares and sample count in the second being mixed.
    energy: (f64, u64),
    second: u64,
}

/// The level of samples in dBFS (RMS; -100 for silence).
pub fn level_dbfs(samples: &[f32]) -> f32 {
    let mean = samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32;
    if mean > 0.0 { (10.0 * mean.log10()).max(-100.0) } else { -100.0 }
}

impl<S: Eq + Hash> ActivityMeter<S> {
    pub fn new(sample_rate: u32) -> Self {
        Self { sample_rate, voiced: BTreeMap::new(), energy: (0.0, 0), second: 0 }
    }

    /// A decoded packet of `source` at sample position `pos` of the file.
    pub fn packet(&mut self, source: S, pos: i64, samples: &[f32]) {
        if level_dbfs(samples) >= VOICE_DB {
            let second = pos.max(0) as u64 / u64::from(self.sample_rate);
            let count = self.voiced.entry(second).or_default().entry(source).or_default();
            *count = count.saturating_add(1);
        }
    }

    /// A stretch of the mix that ends at sample position `end`; returns the seconds it
    /// finished.
    pub fn mixed(&mut self, mixed: &[f32], end: i64) -> Vec<Second> {
        self.energy.0 += mixed.iter().map(|s| f64::from(*s) * f64::from(*s)).sum::<f64>();
        self.energy.1 += mixed.len() as u64;
        let second = end.max(0) as u64 / u64::from(self.sample_rate);
        let mut done = Vec::new();
        while self.second < second {
            let mean = self.energy.0 / self.energy.1.max(1) as f64;
            let db = if mean > 0.0 { (10.0 * mean.log10()).max(-100.0) } else { -100.0 };
            let voices = self.voiced.get(&self.second).map_or(0, |by_source| by_source.values().filter(|&&n| n >= VOICE_PACKETS).count());
            done.push(Second { loudness_db: (db * 10.0).round() as f32 / 10.0, voices: voices.min(255) as u8 });
            let finished = self.second;
            self.voiced.retain(|s, _| *s > finished);
            self.energy = (0.0, 0);
            self.second += 1;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_counts_who_spoke_in_it_and_how_loud_the_mix_was() {
        let mut meter = ActivityMeter::new(1000);
        let voice = vec![0.3f32; 20];
        let silence = vec![0.0f32; 20];
        // In second 0, "a" speaks 12 packets, "b" 5 (not enough), "c" is silent.
        for i in 0..12 {
            meter.packet("a", i * 20, &voice);
        }
        for i in 0..5 {
            meter.packet("b", i * 20, &voice);
        }
        meter.packet("c", 0, &silence);
        assert!(meter.mixed(&vec![0.1; 1000], 999).is_empty(), "the second is not over");
        let seconds = meter.mixed(&[0.0; 2], 1001);
        assert_eq!(seconds.len(), 1);
        assert_eq!(seconds[0].voices, 1);
        assert!((seconds[0].loudness_db - -20.0).abs() < 0.2, "{seconds:?}");
        // A silent second after it.
        let seconds = meter.mixed(&vec![0.0; 1000], 2001);
        assert_eq!(seconds, vec![Second { loudness_db: -100.0, voices: 0 }]);
    }
}

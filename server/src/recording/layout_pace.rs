//! How often a running recording's layout may change. Each change goes to every member
//! of the room (the picker and the badge), to the compositor, and into the sidecar's
//! `layout_changes` for good: a host's script PATCHing in a loop grew the sidecar and
//! kept the whole room re-rendering. People pick a layout a few times a meeting, so a
//! burst of [`BURST`] passes, then one a second, and a recording takes at most
//! [`MOST_CHANGES`]. Asking for the layout it has already changes nothing and costs
//! nothing. Sans-IO: it is told the time.
use crate::rate_limit::TokenBucket;
use compositor::picture::layout::LayoutKind;
use std::time::{Duration, Instant};

/// Changes that pass at once (a person trying each layout in turn).
pub const BURST: u32 = 10;
/// Changes a second after the burst.
pub const PER_SECOND: f64 = 1.0;
/// Changes in one recording's life.
pub const MOST_CHANGES: usize = 1000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LayoutRefused {
    #[error("the layout is changing too often: try again in {:.1} s", crate::rate_limit::seconds_to_wait(*retry_after))]
    TooFast { retry_after: Duration },
    #[error("this recording has changed its layout {MOST_CHANGES} times, the most one recording keeps: stop it and start a new one to change it again")]
    TooMany,
}

/// A running recording's layout as last asked for, and the pace of its changes.
#[derive(Debug, Clone)]
pub struct LayoutPace {
    current: LayoutKind,
    bucket: TokenBucket,
    changes: usize,
}

impl LayoutPace {
    pub fn new(initial: LayoutKind) -> Self {
        Self { current: initial, bucket: TokenBucket::new(BURST, PER_SECOND), changes: 0 }
    }

    /// `Ok(true)`: `layout` is a change to pass on; `Ok(false)`: it is the layout
    /// already asked for, and nothing needs to happen.
    pub fn ask(&mut self, layout: LayoutKind, now: Instant) -> Result<bool, LayoutRefused> {
        if layout == self.current {
            return Ok(false);
        }
        if self.changes >= MOST_CHANGES {
            return Err(LayoutRefused::TooMany);
        }
        self.bucket.take(now).map_err(|retry_after| LayoutRefused::TooFast { retry_after })?;
        self.current = layout;
        self.changes += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: LayoutKind = LayoutKind::Speaker;
    const B: LayoutKind = LayoutKind::Grid;

    #[test]
    fn the_same_layout_again_changes_nothing_and_costs_nothing() {
        let t0 = Instant::now();
        let mut pace = LayoutPace::new(A);
        for _ in 0..1000 {
            assert_eq!(pace.ask(A, t0), Ok(false));
        }
        // The burst is whole still.
        for i in 0..BURST as usize {
            assert_eq!(pace.ask(if i % 2 == 0 { B } else { A }, t0), Ok(true), "change {i}");
        }
    }

    #[test]
    fn a_burst_passes_then_one_a_second() {
        let t0 = Instant::now();
        let mut pace = LayoutPace::new(A);
        let mut next = B;
        let mut flip = |pace: &mut LayoutPace, at: Instant| {
            let r = pace.ask(next, at);
            if r == Ok(true) {
                next = if next == A { B } else { A };
            }
            r
        };
        for _ in 0..BURST {
            assert_eq!(flip(&mut pace, t0), Ok(true));
        }
        let Err(LayoutRefused::TooFast { retry_after }) = flip(&mut pace, t0) else { panic!("an 11th change at once passed") };
        assert_eq!(retry_after, Duration::from_secs(1));
        assert!(LayoutRefused::TooFast { retry_after }.to_string().contains("try again in 1.0 s"));
        let soon = LayoutRefused::TooFast { retry_after: Duration::from_millis(20) };
        assert!(soon.to_string().contains("try again in 0.1 s"), "{soon}");
        // A script asking every 10 ms for a minute: about one a second passes.
        let mut passed = 0;
        for i in 1..=6000 {
            if flip(&mut pace, t0 + Duration::from_millis(10 * i)) == Ok(true) {
                passed += 1;
            }
        }
        assert!((59..=61).contains(&passed), "{passed}");
    }

    #[test]
    fn a_recording_takes_at_most_its_share_of_changes() {
        let t0 = Instant::now();
        let mut pace = LayoutPace::new(A);
        for i in 0..MOST_CHANGES {
            let layout = if i % 2 == 0 { B } else { A };
            assert_eq!(pace.ask(layout, t0 + Duration::from_secs(i as u64)), Ok(true), "change {i}");
        }
        let later = t0 + Duration::from_secs(10_000);
        let other = if MOST_CHANGES % 2 == 0 { B } else { A };
        assert_eq!(pace.ask(other, later), Err(LayoutRefused::TooMany));
        assert!(LayoutRefused::TooMany.to_string().contains("start a new one"));
        // Asking for what it shows still answers.
        assert_eq!(pace.ask(if other == A { B } else { A }, later), Ok(false));
    }
}

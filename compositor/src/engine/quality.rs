//! How a compositor keeps up on a machine too busy for it: it steps its own cost down
//! before its output falls far behind real time, and back up once the machine has room
//! again. Sans-IO: fed the lag and how busy the loop was, at the times given.
//!
//! The file's timing comes first (a picture late by seconds is a broken recording;
//! a softer or less fluid one is not). The steps, cheapest loss first:
//! 1. the x264 preset one step faster (when the faster preset's H.264 headers are the
//!    file's own: the encoder is re-opened at a keyframe, in the same track);
//! 2. half the frame rate;
//! 3. in multi-tile layouts, thumbnails refreshed at [`THUMBNAIL_FPS`].
//!
//! A step down is taken when the lag passes [`LAG_LIMIT_MS`], and a further one only if
//! the lag still grows [`SETTLE`] after the last; a step up, one at a time, after
//! [`HEADROOM_FOR`] with headroom (caught up, and the loop idle most of the time).
//!
//! The steps bring the cost down for good, but each shows only after a while (a
//! preset at the next keyframe, and the lag built up meanwhile must still be worked
//! off). Beneath them is a bound that acts at once: output more than
//! [`CATCH_UP_BEHIND_MS`] behind real time is drawn at [`CATCH_UP_FPS`] (the frames
//! between repeat the one before, as in any variable-frame-rate stretch) until it is
//! back within [`CATCH_UP_UNTIL_MS`]. Decoding and sound go on in full, so the file's
//! timing and its A/V sync hold; only fluidity is lost, for as long as it takes. Having
//! had to catch up counts as a lag still growing: the next step is taken.
use std::time::{Duration, Instant};

/// Behind real time by more than this (beyond the lookahead): step down.
pub const LAG_LIMIT_MS: u64 = 500;
/// A further step down waits this long and is taken only if the lag grew meanwhile:
/// one observation (they come once a second). Longer let a machine at 1.5x its
/// capacity push recordings past 2 s behind before their second step
/// (docs/benchmarks.md, `overload`); a step that has not shown yet (a preset waits for
/// the next keyframe) at worst costs one step more, undone 10 s into headroom.
pub const SETTLE: Duration = Duration::from_secs(1);
/// … by more than this (the lag's own jitter, one encoded frame or two).
const GROWTH_MS: u64 = 100;
/// Headroom: caught up (the lag at most this) …
const HEADROOM_LAG_MS: u64 = 100;
/// … and the loop busy at most this share of the time: stepping up doubles the encoding
/// at worst (the frame rate's step), and must still fit.
const HEADROOM_BUSY: f32 = 0.5;
/// How long headroom must last before each step up.
pub const HEADROOM_FOR: Duration = Duration::from_secs(10);
/// The thumbnails' refresh rate at the last step.
pub const THUMBNAIL_FPS: u32 = 5;
/// Output further behind real time than this is caught up on (well under the 2 s a
/// recording under 1.5x its machine's capacity may lag, and above the ladder's limit:
/// the steps are the cheaper loss, and come first).
pub const CATCH_UP_BEHIND_MS: u64 = 1000;
/// … until it is back within this.
pub const CATCH_UP_UNTIL_MS: u64 = 300;
/// The frame rate drawn while catching up: a second of backlog costs a sixth of its
/// encoding at 30 fps, and a cut still lands within 200 ms of its place.
pub const CATCH_UP_FPS: u32 = 5;

/// One way of saving work, in the order they are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    FasterPreset,
    HalfFrameRate,
    SlowThumbnails,
}

/// A change of level to apply, and which way it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub step: Step,
    pub down: bool,
}

pub struct QualityLadder {
    /// Whether a faster preset can take over in this file (see `Mp4Writer::change_preset`).
    faster_preset: bool,
    /// Steps taken, in order: a step up undoes the last.
    taken: Vec<Step>,
    /// The lag when it was last compared, and when: a further step needs it to grow.
    reference: Option<(Instant, u64)>,
    headroom_since: Option<Instant>,
    /// Whether output had to be caught up on since the last observation.
    caught_up: bool,
}

impl QualityLadder {
    pub fn new(faster_preset: bool) -> Self {
        Self { faster_preset, taken: Vec::new(), reference: None, headroom_since: None, caught_up: false }
    }

    pub fn has(&self, step: Step) -> bool {
        self.taken.contains(&step)
    }

    pub fn degraded(&self) -> bool {
        !self.taken.is_empty()
    }

    /// Output fell [`CATCH_UP_BEHIND_MS`] behind and was caught up on: the lag grew
    /// past the steps taken so far, whatever it is when next observed.
    pub fn caught_up(&mut self) {
        self.caught_up = true;
    }

    /// The output's lag (ms behind real time beyond the lookahead) and the share of
    /// wall time the loop was busy, at `now`; `multi_tile` when the layout shows more
    /// than one camera. Called about once a second. Returns the change to make, if any.
    pub fn observe(&mut self, now: Instant, lag_ms: u64, busy: f32, multi_tile: bool) -> Option<Change> {
        let caught_up = std::mem::take(&mut self.caught_up);
        if lag_ms > LAG_LIMIT_MS || caught_up {
            self.headroom_since = None;
            let grew = match self.reference {
                None => true,
                Some((at, _)) if now.saturating_duration_since(at) < SETTLE => {
                    // Still counts once the settling is over.
                    self.caught_up |= caught_up;
                    return None;
                }
                Some((_, lag)) => caught_up || lag_ms > lag + GROWTH_MS,
            };
            self.reference = Some((now, lag_ms));
            if !grew {
                return None;
            }
            let step = self.next_down(multi_tile)?;
            self.taken.push(step);
            return Some(Change { step, down: true });
        }
        self.reference = None;
        if lag_ms > HEADROOM_LAG_MS || busy > HEADROOM_BUSY || self.taken.is_empty() {
            self.headroom_since = None;
            return None;
        }
        let since = *self.headroom_since.get_or_insert(now);
        if now.saturating_duration_since(since) < HEADROOM_FOR {
            return None;
        }
        // The next step up needs headroom of its own.
        self.headroom_since = Some(now);
        let step = self.taken.pop()?;
        Some(Change { step, down: false })
    }

    fn next_down(&self, multi_tile: bool) -> Option<Step> {
        let available = |s: &Step| match s {
            Step::FasterPreset => self.faster_preset,
            Step::HalfFrameRate => true,
            Step::SlowThumbnails => multi_tile,
        };
        [Step::FasterPreset, Step::HalfFrameRate, Step::SlowThumbnails].into_iter().find(|s| !self.taken.contains(s) && available(s))
    }
}

/// The x264 preset one step faster than `preset`, if there is one.
pub fn faster_preset(preset: &str) -> Option<&'static str> {
    const PRESETS: [&str; 10] = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];
    let i = PRESETS.iter().position(|p| *p == preset)?;
    i.checked_sub(1).map(|i| PRESETS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds one observation a second from `from` (s) for `seconds`, returning the changes
    /// with the second they came at.
    fn run(l: &mut QualityLadder, t0: Instant, from: u64, seconds: u64, lag: impl Fn(u64) -> u64, busy: f32, multi: bool) -> Vec<(u64, Change)> {
        (from..from + seconds).filter_map(|s| l.observe(t0 + Duration::from_secs(s), lag(s), busy, multi).map(|c| (s, c))).collect()
    }

    fn down(step: Step) -> Change {
        Change { step, down: true }
    }

    fn up(step: Step) -> Change {
        Change { step, down: false }
    }

    #[test]
    fn keeping_up_changes_nothing() {
        let (mut l, t0) = (QualityLadder::new(true), Instant::now());
        assert!(run(&mut l, t0, 0, 60, |_| 0, 0.9, true).is_empty());
        assert!(run(&mut l, t0, 60, 60, |s| if s % 7 == 0 { 480 } else { 30 }, 0.95, true).is_empty());
    }

    #[test]
    fn steps_down_in_order_only_while_the_lag_still_grows() {
        let (mut l, t0) = (QualityLadder::new(true), Instant::now());
        // Behind and falling further: 300 ms more every second.
        let changes = run(&mut l, t0, 0, 20, |s| 600 + 300 * s, 1.0, true);
        assert_eq!(changes, [(0, down(Step::FasterPreset)), (1, down(Step::HalfFrameRate)), (2, down(Step::SlowThumbnails))]);
        assert!(l.has(Step::HalfFrameRate) && l.degraded());
    }

    #[test]
    fn a_lag_that_shrinks_after_a_step_takes_no_further_step() {
        let (mut l, t0) = (QualityLadder::new(true), Instant::now());
        // 1.5 s behind, then catching up by 100 ms a second after the first step.
        let changes = run(&mut l, t0, 0, 12, |s| 1500 - 100 * s, 1.0, true);
        assert_eq!(changes, [(0, down(Step::FasterPreset))]);
        // A lag that stays put (no growth) takes none either.
        let (mut l, t0) = (QualityLadder::new(true), Instant::now());
        assert_eq!(run(&mut l, t0, 0, 12, |s| 900 + (s % 2) * 50, 1.0, true), [(0, down(Step::FasterPreset))]);
    }

    #[test]
    fn steps_that_do_not_apply_are_skipped() {
        // No compatible faster preset, and one camera on the frame: the frame rate only.
        let (mut l, t0) = (QualityLadder::new(false), Instant::now());
        let changes = run(&mut l, t0, 0, 20, |s| 600 + 300 * s, 1.0, false);
        assert_eq!(changes, [(0, down(Step::HalfFrameRate))]);
        assert_eq!(faster_preset("veryfast"), Some("superfast"));
        assert_eq!(faster_preset("ultrafast"), None);
        assert_eq!(faster_preset("nonsense"), None);
    }

    #[test]
    fn steps_up_one_at_a_time_after_ten_seconds_of_headroom() {
        let (mut l, t0) = (QualityLadder::new(true), Instant::now());
        run(&mut l, t0, 0, 5, |s| 600 + 300 * s, 1.0, true);
        assert!(l.has(Step::SlowThumbnails));
        // Caught up and mostly idle from 5 s: a step back every 10 s, last taken first.
        let changes = run(&mut l, t0, 5, 60, |_| 20, 0.3, true);
        assert_eq!(changes, [(15, up(Step::SlowThumbnails)), (25, up(Step::HalfFrameRate)), (35, up(Step::FasterPreset))]);
        assert!(!l.degraded());
    }

    #[test]
    fn having_to_catch_up_takes_the_next_step_even_when_the_lag_looks_small() {
        let (mut l, t0) = (QualityLadder::new(true), Instant::now());
        // Caught up on between observations: the lag seen is small, yet a step is due.
        l.caught_up();
        assert_eq!(l.observe(t0, 250, 1.0, false), Some(down(Step::FasterPreset)));
        // Again within the settling time: not yet, but not forgotten either.
        l.caught_up();
        assert_eq!(l.observe(t0 + Duration::from_millis(500), 250, 1.0, false), None);
        assert_eq!(l.observe(t0 + Duration::from_millis(1500), 250, 1.0, false), Some(down(Step::HalfFrameRate)));
        // Nothing more to catch up on, the lag small: no further step, and the settled
        // lag is headroom again.
        assert_eq!(l.observe(t0 + Duration::from_secs(3), 250, 1.0, false), None);
        assert!(run(&mut l, t0, 4, 20, |_| 20, 0.3, false).iter().any(|(_, c)| *c == up(Step::HalfFrameRate)));
    }

    #[test]
    fn headroom_must_be_unbroken_and_real() {
        let (mut l, t0) = (QualityLadder::new(true), Instant::now());
        run(&mut l, t0, 0, 1, |_| 800, 1.0, true);
        // Caught up but the loop is busy 80 % of the time: no room to step up.
        assert!(run(&mut l, t0, 1, 30, |_| 10, 0.8, true).is_empty());
        // Room, but broken at 38 s by a spike: the ten seconds count again from 39 s.
        let changes = run(&mut l, t0, 31, 30, |s| if s == 38 { 300 } else { 10 }, 0.3, true);
        assert_eq!(changes, [(49, up(Step::FasterPreset))]);
    }
}

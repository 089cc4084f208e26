//! What the recording shows, frame by frame, sans-IO: the speaker's video, their name
//! card, or the waiting card. The server names the speaker; this decides, at each output
//! frame's time, whether their video can be shown yet.
//!
//! The rules (docs/architecture.md, "Inside the compositor"):
//! - Before anyone has spoken (no speaker), the waiting card.
//! - When the speaker changes, the previous picture stays (the last good frame, with its
//!   own name) until the new speaker has a fresh picture: never a grey or broken frame.
//!   If none comes within [`KEYFRAME_WAIT`], or the speaker sends no video at all (audio
//!   only, camera off), their name card shows instead; their video replaces it as
//!   soon as it comes.
//! - A shown video whose pictures stop for [`STALE_AFTER`] (the speaker left, closed their
//!   camera, or the stream broke) gives way to the speaker's name card: the recording
//!   never freezes on a closed stream.
//!
//! A *turn* (a chapter, a timeline entry) starts when the shown participant changes,
//! which is when the viewer sees the new face and name. With the compositor's
//! lookahead that is where the turn began (its first word), up to a second before the
//! decision was made; the wait for a keyframe counts from the later of the two, since a
//! camera resumed only at the decision cannot have pictures before it.
use std::collections::HashMap;
use std::hash::Hash;

/// How long a new speaker's video may take to arrive (their first keyframe) before their
/// name card is shown instead. Keyframes usually arrive within 100–300 ms.
pub const KEYFRAME_WAIT_MS: u64 = 1000;
/// A shown video with no new picture for this long is taken as stopped. A camera turned
/// off (paused) is a card at once, told by the server, so this only covers a stream
/// that stalls while it should be sending: a sender starved of CPU or bandwidth, whose
/// encoder drops a layer and waits for a keyframe of another, or one that is gone. A
/// stall of a second or so is held as a frozen picture, as a live meeting shows it:
/// at 1 s, a reloaded participant's camera showed "camera off" for 0.6 s mid-turn on a
/// loaded machine, and then came back (two cuts, and a card that said the wrong thing).
pub const STALE_AFTER_MS: u64 = 2000;

/// What one output frame shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Show<P> {
    Waiting,
    Card(P),
    Video(P),
}

impl<P> Show<P> {
    pub fn participant(&self) -> Option<&P> {
        match self {
            Show::Waiting => None,
            Show::Card(p) | Show::Video(p) => Some(p),
        }
    }
}

#[derive(Debug, Default)]
struct VideoState {
    /// Media time (ms) of the newest picture.
    last_picture_ms: Option<u64>,
    /// The participant sends video (a camera that is on).
    sending: bool,
}

#[derive(Debug)]
pub struct Stage<P> {
    /// The speaker the server named, and from when their keyframe is waited for (ms).
    speaker: Option<(P, u64)>,
    shown: Show<P>,
    videos: HashMap<P, VideoState>,
}

impl<P: Clone + Eq + Hash> Default for Stage<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Clone + Eq + Hash> Stage<P> {
    pub fn new() -> Self {
        Self { speaker: None, shown: Show::Waiting, videos: HashMap::new() }
    }

    /// The server named a new speaker at `at_ms` (`None`: nobody).
    #[cfg(test)]
    pub fn set_speaker(&mut self, at_ms: u64, speaker: Option<P>) {
        self.set_speaker_decided(at_ms, at_ms, speaker);
    }

    /// A new speaker from `at_ms` (where the turn began), decided at `decided_ms` (when
    /// the compositor learnt of it, in the same time): a missing picture is waited for
    /// [`KEYFRAME_WAIT_MS`] from the later of the two.
    pub fn set_speaker_decided(&mut self, at_ms: u64, decided_ms: u64, speaker: Option<P>) {
        if self.speaker.as_ref().map(|(p, ..)| p) == speaker.as_ref() {
            return;
        }
        self.speaker = speaker.map(|p| (p, decided_ms.max(at_ms)));
    }

    /// Whether `p` sends video (its camera is on), as the source map says.
    pub fn set_sending_video(&mut self, p: &P, sending: bool) {
        let state = self.videos.entry(p.clone()).or_default();
        if !sending {
            // Pictures from before a pause are no reason to show video after it.
            state.last_picture_ms = None;
        }
        state.sending = sending;
    }

    /// A picture of `p` with media time `at_ms` became available.
    pub fn picture(&mut self, p: &P, at_ms: u64) {
        let state = self.videos.entry(p.clone()).or_default();
        state.last_picture_ms = Some(state.last_picture_ms.map_or(at_ms, |t| t.max(at_ms)));
    }

    /// Whether `p`'s video has a fresh picture at `now_ms` (a tile of theirs shows it,
    /// else their card).
    pub fn has_live_video(&self, p: &P, now_ms: u64) -> bool {
        self.videos.get(p).is_some_and(|v| {
            // (A picture may be up to half a frame ahead: it shows at its nearest frame.)
            v.sending && v.last_picture_ms.is_some_and(|t| now_ms.saturating_sub(t) < STALE_AFTER_MS)
        })
    }

    /// What the frame at `now_ms` shows.
    pub fn decide(&mut self, now_ms: u64) -> &Show<P> {
        let next = match &self.speaker {
            None => match &self.shown {
                // Nobody named any more (everyone who spoke left): keep a card of the
                // last one only while their video is still live, else wait.
                Show::Video(p) if self.has_live_video(p, now_ms) => Show::Video(p.clone()),
                _ => Show::Waiting,
            },
            Some((p, wait_from)) => {
                if self.has_live_video(p, now_ms) {
                    Show::Video(p.clone())
                } else {
                    let expecting_video = self.videos.get(p).is_some_and(|v| v.sending);
                    let waited = now_ms.saturating_sub(*wait_from);
                    if self.shown.participant() != Some(p) && expecting_video && waited < KEYFRAME_WAIT_MS {
                        // Hold what shows (the previous speaker's last good frame, or
                        // the waiting card) while the new speaker's keyframe is on its
                        // way: a card in between would flicker.
                        self.shown.clone()
                    } else {
                        Show::Card(p.clone())
                    }
                }
            }
        };
        self.shown = next;
        &self.shown
    }

    pub fn shown(&self) -> &Show<P> {
        &self.shown
    }

    /// The speaker the server named last (whose picture the stage wants).
    pub fn speaker(&self) -> Option<&P> {
        self.speaker.as_ref().map(|(p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs frames every 33 ms from `from` to `to`, feeding pictures of `pics` (who, from,
    /// to, every ms), and returns the changes of what was shown: (time, show).
    fn run(stage: &mut Stage<&'static str>, from: u64, to: u64, pics: &[(&'static str, u64, u64, u64)]) -> Vec<(u64, Show<&'static str>)> {
        let mut changes = Vec::new();
        let mut last: Option<Show<&str>> = None;
        let mut t = from;
        while t < to {
            for &(p, start, end, every) in pics {
                if t >= start && t < end && (t - start) % every < 33 {
                    stage.picture(&p, t - (t - start) % every);
                }
            }
            let shown = stage.decide(t).clone();
            if last.as_ref() != Some(&shown) {
                changes.push((t, shown.clone()));
                last = Some(shown);
            }
            t += 33;
        }
        changes
    }

    #[test]
    fn waits_then_follows_the_speaker_with_their_video() {
        let mut s = Stage::new();
        s.set_sending_video(&"a", true);
        s.set_sending_video(&"b", true);
        let pics = [("a", 0, 10_000, 40), ("b", 0, 10_000, 40)];
        assert_eq!(run(&mut s, 0, 990, &pics), [(0, Show::Waiting)]);
        s.set_speaker(990, Some("a"));
        assert_eq!(run(&mut s, 990, 3000, &pics), [(990, Show::Video("a"))]);
        s.set_speaker(3000, Some("b"));
        assert_eq!(run(&mut s, 3000, 5000, &pics), [(3000, Show::Video("b"))]);
    }

    #[test]
    fn holds_the_last_frame_until_the_new_speakers_keyframe() {
        let mut s = Stage::new();
        s.set_sending_video(&"a", true);
        s.set_sending_video(&"b", true);
        s.set_speaker(0, Some("a"));
        run(&mut s, 0, 2000, &[("a", 0, 2000, 40)]);
        // The switch to b at 2000; a's stream is paused at once; b's first picture
        // (its keyframe) arrives 250 ms later.
        s.set_speaker(2000, Some("b"));
        let changes = run(&mut s, 2000, 4000, &[("b", 2250, 4000, 40)]);
        assert_eq!(changes[0].1, Show::Video("a"), "a's last frame is held, not a card or a grey frame");
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[1].1, Show::Video("b"));
        assert!((2250..2300).contains(&changes[1].0), "{changes:?}");
    }

    #[test]
    fn the_first_speaker_replaces_the_waiting_card_with_no_card_in_between() {
        let mut s = Stage::new();
        s.set_sending_video(&"a", true);
        s.set_speaker(1000, Some("a"));
        let changes = run(&mut s, 1000, 2000, &[("a", 1100, 2000, 40)]);
        assert_eq!(changes.iter().map(|(_, show)| show.clone()).collect::<Vec<_>>(), [Show::Waiting, Show::Video("a")]);
    }

    #[test]
    fn a_speaker_without_video_gets_their_card_at_once() {
        let mut s = Stage::new();
        s.set_sending_video(&"a", true);
        s.set_speaker(0, Some("a"));
        run(&mut s, 0, 1000, &[("a", 0, 1000, 40)]);
        s.set_speaker(1000, Some("c")); // audio only: never said to send video
        assert_eq!(run(&mut s, 1000, 2000, &[("a", 1000, 2000, 40)]), [(1000, Show::Card("c"))]);
    }

    #[test]
    fn a_keyframe_that_never_comes_gives_the_card_after_the_wait() {
        let mut s = Stage::new();
        s.set_sending_video(&"a", true);
        s.set_sending_video(&"b", true);
        s.set_speaker(0, Some("a"));
        run(&mut s, 0, 1000, &[("a", 0, 1000, 40)]);
        s.set_speaker(1000, Some("b"));
        let changes = run(&mut s, 1000, 4000, &[("b", 3000, 4000, 40)]);
        let times: Vec<_> = changes.iter().map(|(t, show)| (*t, show.clone())).collect();
        assert_eq!(times[0], (1000, Show::Video("a")));
        assert_eq!(times[1].1, Show::Card("b"));
        assert!((1000 + KEYFRAME_WAIT_MS..1000 + KEYFRAME_WAIT_MS + 34).contains(&times[1].0), "{times:?}");
        assert_eq!(times[2].1, Show::Video("b"), "the video replaces the card when it comes");
    }

    #[test]
    fn a_stopped_stream_does_not_freeze_the_recording() {
        let mut s = Stage::new();
        s.set_sending_video(&"a", true);
        s.set_speaker(0, Some("a"));
        // a's pictures stop at 2000 (left mid-sentence, before the server names another).
        let changes = run(&mut s, 0, 5000, &[("a", 0, 2000, 40)]);
        assert_eq!(changes[0], (0, Show::Video("a")));
        let (t, show) = &changes[1];
        assert_eq!(*show, Show::Card("a"));
        assert!(*t <= 2000 + STALE_AFTER_MS + 33, "frozen until {t}");
    }

    #[test]
    fn a_camera_turned_off_shows_the_card_and_on_again_the_video() {
        let mut s = Stage::new();
        s.set_sending_video(&"a", true);
        s.set_speaker(0, Some("a"));
        run(&mut s, 0, 1000, &[("a", 0, 1000, 40)]);
        s.set_sending_video(&"a", false);
        assert_eq!(run(&mut s, 1000, 1500, &[]), [(1000, Show::Card("a"))]);
        s.set_sending_video(&"a", true);
        assert_eq!(run(&mut s, 1500, 2500, &[("a", 1800, 2500, 40)]), [(1500, Show::Card("a")), (1830, Show::Video("a"))]);
    }

    #[test]
    fn the_same_speaker_named_again_changes_nothing() {
        let mut s = Stage::new();
        s.set_sending_video(&"a", true);
        s.set_speaker(0, Some("a"));
        run(&mut s, 0, 1000, &[("a", 0, 3000, 40)]);
        s.set_speaker(1000, Some("a"));
        assert_eq!(run(&mut s, 1000, 3000, &[("a", 0, 3000, 40)]), [(1000, Show::Video("a"))]);
    }

    #[test]
    fn nobody_left_to_show_is_the_waiting_card() {
        let mut s = Stage::new();
        s.set_sending_video(&"a", true);
        s.set_speaker(0, Some("a"));
        run(&mut s, 0, 1000, &[("a", 0, 1000, 40)]);
        // a left: nobody is named, and a's last picture goes stale.
        s.set_speaker(1000, None);
        let changes = run(&mut s, 1000, 1000 + STALE_AFTER_MS + 500, &[]);
        assert_eq!(changes[0], (1000, Show::Video("a")), "a's last frame, while it is fresh");
        assert_eq!(changes[1].1, Show::Waiting);
        assert!(changes[1].0 <= 960 + STALE_AFTER_MS + 33, "{changes:?}");
    }

    #[test]
    fn a_cut_back_in_time_waits_for_a_late_camera_from_the_decision() {
        // The turn began at 2000, decided at 2850; b's camera only resumed then, its
        // keyframe at 3100: a's last frame is held (no card) until it.
        let mut s = Stage::new();
        s.set_sending_video(&"a", true);
        s.set_sending_video(&"b", true);
        s.set_speaker(0, Some("a"));
        run(&mut s, 0, 2000, &[("a", 0, 2000, 40)]);
        s.set_speaker_decided(2000, 2850, Some("b"));
        let changes = run(&mut s, 2000, 4000, &[("b", 3100, 4000, 40)]);
        assert_eq!(changes.iter().map(|(_, show)| show.clone()).collect::<Vec<_>>(), [Show::Video("a"), Show::Video("b")], "{changes:?}");
    }
}

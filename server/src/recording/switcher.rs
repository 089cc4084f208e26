//! Which cameras a recording receives, sans-IO. Every camera has a consumer on the
//! recording's PlainTransport, created paused; the switcher says which to resume and
//! which to pause, from the speaker decisions (the same ones that drive the stage).
//!
//! By default ([`SwitchMode::EveryCamera`]) every camera flows all the time: a
//! recording cuts on a turn's first word, up to a second before the detector is sure,
//! so the new speaker's picture must already be decoded then (docs/benchmarks.md
//! measures what that costs). The other modes are kept to measure against:
//!
//! - [`SwitchMode::PauseResume`]: the speaker's camera is resumed, and so is the camera
//!   of anyone *speaking* (the flag rises at the first loud report, about 0.75 s before
//!   the detector would hand them the stage). A camera stays resumed for [`WARM_GRACE`]
//!   after it stopped being needed, so a quick back-and-forth does not pause and resume
//!   it again. Its keyframe arrives 100–300 ms after the first word: cuts land late.
//! - [`SwitchMode::Recreate`]: one consumer, re-created on the speaker's camera.
//!
//! Resuming a consumer makes mediasoup ask the camera for a keyframe; the recording
//! task also asks explicitly.
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::time::{Duration, Instant};

pub const WARM_GRACE: Duration = Duration::from_secs(3);

/// How the recorder points its video at the speaker (docs/benchmarks.md compares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchMode {
    /// One consumer per camera, every one flowing: any cut has its picture at once.
    EveryCamera,
    /// One paused consumer per camera; the speaker's (and whoever is speaking) resumed.
    PauseResume,
    /// One consumer, re-created on the new speaker's camera at each switch.
    Recreate,
}

impl SwitchMode {
    pub const NAMES: [&'static str; 3] = ["every-camera", "pause-resume", "recreate"];

    /// Whether the mode keeps a consumer per camera (and so a [`Switcher`]).
    pub fn consumer_per_camera(self) -> bool {
        self != SwitchMode::Recreate
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown switch mode \"{0}\": every-camera, pause-resume or recreate")]
pub struct UnknownSwitchMode(pub String);

impl std::str::FromStr for SwitchMode {
    type Err = UnknownSwitchMode;

    fn from_str(s: &str) -> Result<Self, UnknownSwitchMode> {
        match s {
            "every-camera" => Ok(SwitchMode::EveryCamera),
            "pause-resume" => Ok(SwitchMode::PauseResume),
            "recreate" => Ok(SwitchMode::Recreate),
            other => Err(UnknownSwitchMode(other.chars().take(40).collect())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<V> {
    Resume(V),
    Pause(V),
}

#[derive(Debug)]
pub struct Switcher<P, V> {
    cameras: HashMap<P, V>,
    speaker: Option<P>,
    speaking: HashSet<P>,
    /// When a participant stopped being needed (their grace runs from there).
    released_at: HashMap<P, Instant>,
    resumed: HashSet<P>,
    grace: Duration,
    /// Every camera is wanted, whoever speaks.
    every_camera: bool,
}

impl<P: Clone + Eq + Hash, V: Clone> Switcher<P, V> {
    /// The switcher of `mode`. [`SwitchMode::Recreate`] keeps no consumer per camera
    /// and so never asks one: its switcher is never fed cameras.
    pub fn new(mode: SwitchMode, grace: Duration) -> Self {
        Self {
            cameras: HashMap::new(),
            speaker: None,
            speaking: HashSet::new(),
            released_at: HashMap::new(),
            resumed: HashSet::new(),
            grace,
            every_camera: mode == SwitchMode::EveryCamera,
        }
    }

    fn needed(&self, p: &P) -> bool {
        self.every_camera || self.speaker.as_ref() == Some(p) || self.speaking.contains(p)
    }

    /// Runs `change`, and starts the grace of whoever it made unneeded.
    fn change(&mut self, now: Instant, change: impl FnOnce(&mut Self)) {
        let before: Vec<P> = self.cameras.keys().filter(|p| self.needed(p)).cloned().collect();
        change(self);
        for p in before {
            if !self.needed(&p) {
                self.released_at.insert(p, now);
            }
        }
    }

    /// A participant's camera (its paused consumer) appeared, or went (`None`).
    pub fn set_camera(&mut self, p: P, camera: Option<V>) {
        match camera {
            Some(v) => {
                self.cameras.insert(p, v);
            }
            None => {
                self.cameras.remove(&p);
                self.resumed.remove(&p);
                self.released_at.remove(&p);
            }
        }
    }

    pub fn set_speaker(&mut self, now: Instant, speaker: Option<P>) {
        self.change(now, |s| s.speaker = speaker);
    }

    pub fn set_speaking(&mut self, now: Instant, p: P, speaking: bool) {
        self.change(now, |s| {
            if speaking {
                s.speaking.insert(p);
            } else {
                s.speaking.remove(&p);
            }
        });
    }

    fn wanted(&self, p: &P, now: Instant) -> bool {
        self.needed(p) || self.released_at.get(p).is_some_and(|t| now.saturating_duration_since(*t) < self.grace)
    }

    /// What to do now to the consumers.
    pub fn poll(&mut self, now: Instant) -> Vec<Action<V>> {
        let mut actions = Vec::new();
        for (p, v) in &self.cameras {
            let wanted = self.wanted(p, now);
            if wanted && !self.resumed.contains(p) {
                actions.push(Action::Resume(v.clone()));
            } else if !wanted && self.resumed.contains(p) {
                actions.push(Action::Pause(v.clone()));
            }
        }
        let wanted: Vec<P> = self.cameras.keys().filter(|p| self.wanted(p, now)).cloned().collect();
        self.resumed = wanted.into_iter().collect();
        self.released_at.retain(|_, t| now.saturating_duration_since(*t) < self.grace);
        actions
    }

    /// When `poll` next has something to do without any other change.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.released_at.iter().filter(|(p, _)| self.resumed.contains(*p)).map(|(_, t)| *t + self.grace).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn sorted(mut a: Vec<Action<&'static str>>) -> Vec<Action<&'static str>> {
        a.sort_by_key(|a| format!("{a:?}"));
        a
    }

    fn with_cameras() -> Switcher<&'static str, &'static str> {
        let mut s = Switcher::new(SwitchMode::PauseResume, WARM_GRACE);
        s.set_camera("alice", Some("cam-a"));
        s.set_camera("bob", Some("cam-b"));
        s.set_camera("carol", Some("cam-c"));
        s
    }

    #[test]
    fn only_the_speakers_camera_flows() {
        let t0 = Instant::now();
        let mut s = with_cameras();
        assert_eq!(s.poll(t0), vec![], "nobody speaks: every camera stays paused");
        s.set_speaker(t0, Some("alice"));
        assert_eq!(s.poll(t0), vec![Action::Resume("cam-a")]);
        assert_eq!(s.poll(t0 + S), vec![], "nothing twice");
        s.set_speaker(t0 + S, Some("bob"));
        assert_eq!(s.poll(t0 + S), vec![Action::Resume("cam-b")], "alice stays warm for the grace");
        assert_eq!(s.next_timeout(), Some(t0 + S + WARM_GRACE));
        assert_eq!(s.poll(t0 + S + WARM_GRACE), vec![Action::Pause("cam-a")]);
        assert_eq!(s.next_timeout(), None);
    }

    #[test]
    fn someone_who_starts_speaking_is_warmed_before_taking_the_stage() {
        let t0 = Instant::now();
        let mut s = with_cameras();
        s.set_speaker(t0, Some("alice"));
        s.poll(t0);
        // Carol's first loud report: her camera resumes now, 0.75 s before her turn.
        s.set_speaking(t0 + S, "carol", true);
        assert_eq!(s.poll(t0 + S), vec![Action::Resume("cam-c")]);
        s.set_speaker(t0 + 2 * S, Some("carol"));
        assert_eq!(s.poll(t0 + 2 * S), vec![], "already flowing: the switch waits for nothing");
        // A backchannel from Bob warms his camera; it pauses after the grace.
        s.set_speaking(t0 + 3 * S, "bob", true);
        s.set_speaking(t0 + 3 * S + S / 2, "bob", false);
        assert_eq!(s.poll(t0 + 3 * S + S / 2), vec![Action::Resume("cam-b")]);
        let later = t0 + 3 * S + S / 2 + WARM_GRACE;
        assert_eq!(sorted(s.poll(later)), sorted(vec![Action::Pause("cam-a"), Action::Pause("cam-b")]));
    }

    #[test]
    fn a_camera_that_goes_is_forgotten() {
        let t0 = Instant::now();
        let mut s = with_cameras();
        s.set_speaker(t0, Some("alice"));
        s.poll(t0);
        s.set_camera("alice", None);
        assert_eq!(s.poll(t0), vec![], "its consumer closed with it: nothing to pause");
        s.set_camera("alice", Some("cam-a2"));
        assert_eq!(s.poll(t0), vec![Action::Resume("cam-a2")], "a new camera of the speaker flows");
    }

    #[test]
    fn every_camera_flows_whoever_speaks() {
        let t0 = Instant::now();
        let mut s = Switcher::new(SwitchMode::EveryCamera, WARM_GRACE);
        s.set_camera("alice", Some("cam-a"));
        s.set_camera("bob", Some("cam-b"));
        assert_eq!(sorted(s.poll(t0)), sorted(vec![Action::Resume("cam-a"), Action::Resume("cam-b")]), "before anyone speaks");
        s.set_speaker(t0 + S, Some("alice"));
        s.set_speaking(t0 + S, "bob", false);
        assert_eq!(s.poll(t0 + S + 2 * WARM_GRACE), vec![], "nothing is ever paused");
        assert_eq!(s.next_timeout(), None);
        s.set_camera("carol", Some("cam-c"));
        assert_eq!(s.poll(t0 + 9 * S), vec![Action::Resume("cam-c")], "a new camera flows at once");
    }

    #[test]
    fn modes_parse_by_their_names() {
        for name in SwitchMode::NAMES {
            assert!(name.parse::<SwitchMode>().is_ok(), "{name}");
        }
        assert!("sometimes".parse::<SwitchMode>().unwrap_err().to_string().contains("every-camera"));
    }
}

//! Who is speaking, and who has the stage: a sans-IO state machine.
//!
//! The detector is fed mediasoup's AudioLevelObserver volumes (dBov per participant,
//! every observer interval), optionally the ActiveSpeakerObserver's dominant-speaker
//! hint, and membership changes (leave, mute). It is given the time with every call and
//! has no timers of its own: the caller reports every 50 ms, heard or not. It returns decisions as
//! [`SpeakerEvent`]s. The same decisions drive the stage in the browser and the
//! recorder's switcher, so they come from here only.
//!
//! Hysteresis (docs/speaker-detection.md explains the tuning):
//! - A participant is *speaking* from their first loud observation until
//!   [`Tuning::hangover`] passes without one, so the gaps between words do not toggle it.
//! - A *talk spurt* is one such speaking stretch. A challenger takes the stage only once
//!   its spurt has lasted [`Tuning::min_turn`]: a short interjection ("mm-hmm") never
//!   switches.
//! - If the holder of the stage is still speaking (crosstalk), the challenger must also
//!   have the larger recent speech energy (loudness × time over [`Tuning::window`]) by
//!   [`Tuning::crosstalk_margin`]: the louder and longer speaker wins.
//! - Through silence the stage stays with the last speaker.
//! - When the holder leaves or mutes, the stage goes to whoever is speaking most, or
//!   else to the most recent speaker, or else to nobody.
//!
//! Every decision also says where the turn began (`since`), for a recording that cuts
//! on the first word rather than when the decision was sure (docs/speaker-detection.md,
//! "Where a recording cuts"):
//! - the onset of the winner's talk spurt, when the previous holder was silent by then;
//! - if the previous holder was still voiced after that onset (crosstalk), the end of
//!   the overlap (the holder's last voiced report), so that the cut never lands inside
//!   their last word; unless the winner clearly dominated the overlap (more energy over
//!   it by [`Tuning::crosstalk_margin`]), and then the onset;
//! - the time of the change itself when the holder left or muted.
pub mod packet_levels;
pub mod send_clock;

pub use packet_levels::PacketLevels;

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The detector's thresholds. [`Tuning::default`] is what the server runs with.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// A level at or above this (dBov, 0 = full scale) counts as speech.
    pub speech_dbov: f32,
    /// Levels are scored relative to this floor; quieter ones score nothing.
    pub floor_dbov: f32,
    /// How long speech may pause (between words) before the spurt ends.
    pub hangover: Duration,
    /// How long a challenger must have been speaking before it takes the stage.
    pub min_turn: Duration,
    /// The stretch of recent levels whose energy is compared in crosstalk.
    pub window: Duration,
    /// In crosstalk, the challenger's energy must exceed the holder's by this factor.
    pub crosstalk_margin: f32,
    /// Weight given to the participant the ActiveSpeakerObserver names as dominant.
    pub dominant_hint_weight: f32,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            speech_dbov: -55.0,
            floor_dbov: -65.0,
            hangover: Duration::from_millis(800),
            min_turn: Duration::from_millis(750),
            window: Duration::from_millis(2000),
            crosstalk_margin: 1.3,
            dominant_hint_weight: 1.25,
        }
    }
}

/// What one report says of one participant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heard {
    /// The mean level of their packets in the report's window (dBov).
    pub dbov: f32,
    /// When the last of those packets at the speech level was sent, on the caller's
    /// clock (from its RTP timestamp: [`send_clock`]), if known: [`PacketLevels`]. A
    /// turn's length is measured with these, so that packets held up on the way (a
    /// loaded sender, a busy server) and then delivered at once do not make a short
    /// sound look long.
    pub sent: Option<Instant>,
}

impl Heard {
    /// A level with no send times: the report's own time stands for them.
    pub fn level(dbov: f32) -> Self {
        Self { dbov, sent: None }
    }
}

/// A decision of the detector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeakerEvent<P> {
    /// The stage changed hands (`speaker: None`: nobody has spoken yet, or everyone
    /// left). `since`: where the turn began (see the module's notes), at or before the
    /// time of the decision.
    ActiveSpeaker { speaker: Option<P>, since: Instant },
    /// A participant started or stopped speaking.
    Speaking(P, bool),
}

#[derive(Debug)]
struct Voice {
    /// Observations in the last `window`: (time, level above the floor).
    recent: VecDeque<(Instant, f32)>,
    /// Last loud observation.
    last_voice: Option<Instant>,
    /// Start of the current talk spurt, while speaking: its first loud report.
    spurt_start: Option<Instant>,
    /// The current spurt's voiced span as sent: from the last loud packet of its first
    /// loud report to the last loud packet of its latest (the reports' times when send
    /// times are unknown).
    voiced: Option<(Instant, Instant)>,
    /// Where the current spurt's speech began: the start of the report window in which
    /// it was first heard (a report covers the levels since the one before it).
    onset: Option<Instant>,
}

impl Voice {
    fn new() -> Self {
        Self { recent: VecDeque::new(), last_voice: None, spurt_start: None, voiced: None, onset: None }
    }

    fn speaking(&self) -> bool {
        self.spurt_start.is_some()
    }

    /// How long the current spurt has been voiced: as sent, and never longer than
    /// between its loud reports. Late delivery then only ever shortens a spurt, and no
    /// artefact of a sender's clock (a re-anchoring, a crafted timestamp) lengthens one.
    fn voiced_for(&self) -> Duration {
        let as_sent = self.voiced.map_or(Duration::ZERO, |(from, to)| to.saturating_duration_since(from));
        let as_reported = match (self.spurt_start, self.last_voice) {
            (Some(start), Some(last)) => last.saturating_duration_since(start),
            _ => Duration::ZERO,
        };
        as_sent.min(as_reported)
    }

    fn energy(&self) -> f32 {
        self.recent.iter().map(|(_, e)| e).sum()
    }

    /// The energy of the observations in `[from, to]`.
    fn energy_between(&self, from: Instant, to: Instant) -> f32 {
        self.recent.iter().filter(|(at, _)| *at >= from && *at <= to).map(|(_, e)| e).sum()
    }
}

/// The speaker detector of one room. `P` identifies a participant.
#[derive(Debug)]
pub struct SpeakerDetector<P> {
    tuning: Tuning,
    voices: HashMap<P, Voice>,
    active: Option<P>,
    dominant_hint: Option<P>,
    events: Vec<SpeakerEvent<P>>,
    /// When the last report of levels came (the start of the next one's window).
    last_report: Option<Instant>,
}

impl<P: Clone + Eq + Hash> SpeakerDetector<P> {
    pub fn new(tuning: Tuning) -> Self {
        Self { tuning, voices: HashMap::new(), active: None, dominant_hint: None, events: Vec::new(), last_report: None }
    }

    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    pub fn active_speaker(&self) -> Option<&P> {
        self.active.as_ref()
    }

    pub fn is_speaking(&self, participant: &P) -> bool {
        self.voices.get(participant).is_some_and(Voice::speaking)
    }

    /// One report: the levels of the participants heard since the last one, with no
    /// send times (the report's time stands for them). See [`Self::observe`].
    pub fn observe_levels(&mut self, now: Instant, levels: &[(P, f32)]) {
        let heard: Vec<(P, Heard)> = levels.iter().map(|(p, dbov)| (p.clone(), Heard::level(*dbov))).collect();
        self.observe(now, &heard);
    }

    /// One report: what was heard of each participant since the last one. Those not
    /// listed are silent at `now`. Call it regularly (every 50 ms in the server), with
    /// an empty list when nobody was heard: time advancing ends spurts.
    pub fn observe(&mut self, now: Instant, heard: &[(P, Heard)]) {
        let window_start = self.last_report.filter(|t| *t <= now).unwrap_or(now);
        self.last_report = Some(now);
        for (participant, heard) in heard {
            let tuning = &self.tuning;
            let voice = self.voices.entry(participant.clone()).or_insert_with(Voice::new);
            let above_floor = (heard.dbov - tuning.floor_dbov).max(0.0);
            if above_floor > 0.0 {
                voice.recent.push_back((now, above_floor));
            }
            if heard.dbov >= tuning.speech_dbov {
                voice.last_voice = Some(now);
                let sent = heard.sent.unwrap_or(now);
                if voice.spurt_start.is_none() {
                    voice.spurt_start = Some(now);
                    voice.voiced = Some((sent, sent));
                    voice.onset = Some(window_start);
                    self.events.push(SpeakerEvent::Speaking(participant.clone(), true));
                } else if let Some((_, to)) = &mut voice.voiced {
                    *to = (*to).max(sent);
                }
            }
        }
        self.update(now);
    }

    /// The ActiveSpeakerObserver's dominant speaker: weighs in crosstalk, never switches
    /// the stage by itself (it reacts to short sounds the levels rule filters out).
    pub fn observe_dominant(&mut self, now: Instant, participant: P) {
        self.dominant_hint = Some(participant);
        self.update(now);
    }

    /// A participant's microphone was muted (or their audio producer closed).
    pub fn mute(&mut self, now: Instant, participant: &P) {
        if let Some(voice) = self.voices.get_mut(participant) {
            voice.recent.clear();
            voice.onset = None;
            voice.voiced = None;
            if voice.spurt_start.take().is_some() {
                self.events.push(SpeakerEvent::Speaking(participant.clone(), false));
            }
        }
        if self.active.as_ref() == Some(participant) {
            self.hand_over(now, participant);
        }
        self.update(now);
    }

    /// A participant left the room.
    pub fn remove(&mut self, now: Instant, participant: &P) {
        if self.voices.remove(participant).is_some_and(|v| v.speaking()) {
            self.events.push(SpeakerEvent::Speaking(participant.clone(), false));
        }
        if self.dominant_hint.as_ref() == Some(participant) {
            self.dominant_hint = None;
        }
        if self.active.as_ref() == Some(participant) {
            self.hand_over(now, participant);
        }
        self.update(now);
    }

    /// Decisions made since the last call.
    pub fn drain_events(&mut self) -> Vec<SpeakerEvent<P>> {
        std::mem::take(&mut self.events)
    }

    fn update(&mut self, now: Instant) {
        let window = self.tuning.window;
        let hangover = self.tuning.hangover;
        for (participant, voice) in &mut self.voices {
            while voice.recent.front().is_some_and(|(at, _)| now.saturating_duration_since(*at) > window) {
                voice.recent.pop_front();
            }
            let quiet_for = voice.last_voice.map(|at| now.saturating_duration_since(at));
            if voice.speaking() && quiet_for.is_some_and(|q| q > hangover) {
                voice.spurt_start = None;
                voice.voiced = None;
                voice.onset = None;
                self.events.push(SpeakerEvent::Speaking(participant.clone(), false));
            }
        }

        let Some(challenger) = self.strongest_long_speaker() else { return };
        if self.active.as_ref() == Some(&challenger) {
            return;
        }
        let takes_stage = match &self.active {
            None => true,
            Some(holder) => match self.voices.get(holder) {
                Some(h) if h.speaking() => {
                    // Crosstalk: the louder and longer speaker wins, by a margin.
                    self.weighted_energy(&challenger) > self.weighted_energy(holder) * self.tuning.crosstalk_margin
                }
                _ => true,
            },
        };
        if takes_stage {
            let since = self.turn_start(&challenger, now);
            self.set_active(Some(challenger), since);
        }
    }

    /// Where `challenger`'s turn began, as a cut would place it: its spurt's onset,
    /// moved to the end of any overlap with the holder's speech unless the challenger
    /// clearly dominated that overlap.
    fn turn_start(&self, challenger: &P, now: Instant) -> Instant {
        let Some(onset) = self.voices.get(challenger).and_then(|v| v.onset) else { return now };
        let Some(h) = self.active.as_ref().and_then(|p| self.voices.get(p)) else { return onset };
        match h.last_voice {
            Some(overlap_end) if overlap_end >= onset => {
                let challenger_energy = self.voices.get(challenger).map_or(0.0, |v| v.energy_between(onset, overlap_end));
                let holder_energy = h.energy_between(onset, overlap_end);
                if challenger_energy > holder_energy * self.tuning.crosstalk_margin {
                    onset
                } else {
                    overlap_end.min(now)
                }
            }
            _ => onset,
        }
    }

    /// The speaking participant, with a spurt of at least `min_turn`, with the most
    /// recent energy. A spurt's length is its voiced span as sent (first to last loud
    /// packet), so neither the hangover after a short interjection nor its packets'
    /// late delivery lengthens it.
    fn strongest_long_speaker(&self) -> Option<P> {
        self.voices
            .iter()
            .filter(|(_, v)| v.speaking() && v.voiced_for() >= self.tuning.min_turn)
            .map(|(p, _)| (p, self.weighted_energy(p)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(p, _)| p.clone())
    }

    fn weighted_energy(&self, participant: &P) -> f32 {
        let energy = self.voices.get(participant).map_or(0.0, Voice::energy);
        if self.dominant_hint.as_ref() == Some(participant) {
            energy * self.tuning.dominant_hint_weight
        } else {
            energy
        }
    }

    /// The holder is gone (left or muted): the stage goes to whoever speaks most now,
    /// else to the most recent speaker, else to nobody, from `now` (the holder was on
    /// stage until then).
    fn hand_over(&mut self, now: Instant, leaving: &P) {
        let candidates = self.voices.iter().filter(|(p, _)| *p != leaving);
        let speaking_now = candidates
            .clone()
            .filter(|(_, v)| v.speaking())
            .max_by(|a, b| a.1.energy().total_cmp(&b.1.energy()))
            .map(|(p, _)| p.clone());
        let most_recent = || {
            candidates
                .filter_map(|(p, v)| v.last_voice.map(|at| (p, at)))
                .max_by_key(|(_, at)| *at)
                .map(|(p, _)| p.clone())
        };
        let next = speaking_now.or_else(most_recent);
        self.set_active(next, now);
    }

    fn set_active(&mut self, next: Option<P>, since: Instant) {
        if self.active != next {
            self.active = next.clone();
            self.events.push(SpeakerEvent::ActiveSpeaker { speaker: next, since });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake clock and a script of who talks, at what level, when.
    struct Sim {
        det: SpeakerDetector<&'static str>,
        start: Instant,
        t: Duration,
        /// (name, from, to, dBov)
        talk: Vec<(&'static str, Duration, Duration, f32)>,
        /// Every stage change: (time, new holder).
        stage: Vec<(Duration, Option<&'static str>)>,
        /// Where each change said its turn began (ms of the simulation).
        since: Vec<Duration>,
    }

    const TICK: Duration = Duration::from_millis(100); // the observer's interval

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    impl Sim {
        fn new() -> Self {
            Self { det: SpeakerDetector::new(Tuning::default()), start: Instant::now(), t: Duration::ZERO, talk: vec![], stage: vec![], since: vec![] }
        }

        fn says(mut self, who: &'static str, from_ms: u64, to_ms: u64, dbov: f32) -> Self {
            self.talk.push((who, ms(from_ms), ms(to_ms), dbov));
            self
        }

        fn run_until(&mut self, end_ms: u64) {
            while self.t < ms(end_ms) {
                self.t += TICK;
                let levels: Vec<_> = self
                    .talk
                    .iter()
                    .filter(|(_, from, to, _)| self.t >= *from && self.t < *to)
                    .map(|(who, _, _, db)| (*who, *db))
                    .collect();
                self.det.observe_levels(self.start + self.t, &levels);
                self.collect();
            }
        }

        fn collect(&mut self) {
            for event in self.det.drain_events() {
                if let SpeakerEvent::ActiveSpeaker { speaker, since } = event {
                    self.stage.push((self.t, speaker));
                    self.since.push(since - self.start);
                }
            }
        }

        fn holders(&self) -> Vec<Option<&'static str>> {
            self.stage.iter().map(|(_, p)| *p).collect()
        }

        fn switch_time(&self, to: &'static str) -> Duration {
            self.stage.iter().find(|(_, p)| *p == Some(to)).unwrap_or_else(|| panic!("{to} never took the stage: {:?}", self.stage)).0
        }
    }

    #[test]
    fn clean_hand_over_switches_within_a_second() {
        let mut sim = Sim::new().says("alice", 0, 4000, -25.0).says("bob", 5000, 9000, -28.0);
        sim.run_until(10_000);
        assert_eq!(sim.holders(), vec![Some("alice"), Some("bob")]);
        let latency = sim.switch_time("bob") - ms(5000);
        assert!(latency >= ms(750) && latency <= ms(900), "switch latency {latency:?}");
    }

    #[test]
    fn stage_stays_with_the_last_speaker_through_silence() {
        let mut sim = Sim::new().says("alice", 0, 3000, -30.0);
        sim.run_until(30_000);
        assert_eq!(sim.holders(), vec![Some("alice")]);
        assert_eq!(sim.det.active_speaker(), Some(&"alice"));
        assert!(!sim.det.is_speaking(&"alice"));
    }

    #[test]
    fn backchannel_under_a_second_never_takes_the_stage() {
        // Bob's "mm-hmm" in Alice's pause, and another one over her speech.
        let mut sim = Sim::new()
            .says("alice", 0, 4000, -30.0)
            .says("bob", 5000, 5600, -20.0)
            .says("alice", 7000, 10_000, -30.0)
            .says("bob", 8000, 8600, -15.0);
        sim.run_until(12_000);
        assert_eq!(sim.holders(), vec![Some("alice")]);
    }

    #[test]
    fn backchannels_of_up_to_650_ms_never_switch_at_the_servers_50_ms_reports() {
        // The server's observer reports every 50 ms: a "mm-hmm" of 0.65 s is at most
        // 0.65 s of voiced reports, under the minimum turn.
        let mut det = SpeakerDetector::new(Tuning::default());
        let t0 = Instant::now();
        let mut t = Duration::ZERO;
        let mut stage = Vec::new();
        while t < ms(9000) {
            t += ms(50);
            let mut levels = Vec::new();
            if t < ms(3000) || (t >= ms(6000) && t < ms(6650)) {
                levels.push((if t < ms(3000) { "alice" } else { "bob" }, -20.0));
            }
            det.observe_levels(t0 + t, &levels);
            stage.extend(det.drain_events().into_iter().filter_map(|e| match e {
                SpeakerEvent::ActiveSpeaker { speaker, .. } => Some(speaker),
                SpeakerEvent::Speaking(..) => None,
            }));
        }
        assert_eq!(stage, vec![Some("alice")]);
    }

    /// The server's reports every 50 ms for 10 s, Alice talking until 3 s and Bob as
    /// `bob(t0, tick)` says (what a report hears of him, the clock starting at `t0`);
    /// returns every stage change, with its tick.
    fn alice_then_bob(bob: impl Fn(Instant, u64) -> Option<Heard>) -> Vec<(u64, Option<&'static str>)> {
        let t0 = Instant::now();
        let mut det = SpeakerDetector::new(Tuning::default());
        let mut stage = Vec::new();
        for tick in (50..10_000u64).step_by(50) {
            let alice = (tick <= 3000).then(|| ("alice", Heard { dbov: -20.0, sent: Some(t0 + ms(tick)) }));
            let heard: Vec<_> = alice.into_iter().chain(bob(t0, tick).map(|h| ("bob", h))).collect();
            det.observe(t0 + ms(tick), &heard);
            stage.extend(det.drain_events().into_iter().filter_map(|e| match e {
                SpeakerEvent::ActiveSpeaker { speaker, .. } => Some((tick, speaker)),
                _ => None,
            }));
        }
        stage
    }

    /// Bob says "mm-hmm" for 0.6 s in Alice's pause; his packets (one every 20 ms, sent
    /// from 6 s) are delivered as they are sent, except that those sent from
    /// `held_from_ms` on are held up and delivered at once at `delivered_at_ms` (a
    /// starved sender, a busy server). The stage's holders, with the reports carrying
    /// send times (`as_sent`) or by arrival only.
    fn late_backchannel(held_from_ms: u64, delivered_at_ms: u64, as_sent: bool) -> Vec<Option<&'static str>> {
        let packets: Vec<(u64, u64)> = (0..30u64)
            .map(|k| 6000 + 20 * k)
            .map(|sent| (sent, if sent >= held_from_ms { delivered_at_ms } else { sent }))
            .collect();
        let stage = alice_then_bob(|t0, tick| {
            let last = packets.iter().filter(|(_, at)| *at > tick - 50 && *at <= tick).map(|(sent, _)| *sent).max()?;
            Some(Heard { dbov: -20.0, sent: as_sent.then(|| t0 + ms(last)) })
        });
        stage.into_iter().map(|(_, holder)| holder).collect()
    }

    #[test]
    fn a_backchannel_delivered_late_is_measured_as_sent_and_never_switches() {
        // Its last 300 ms held up 500 ms: by arrival it spans 6.0–6.8 s, a turn.
        assert_eq!(late_backchannel(6300, 6800, false), vec![Some("alice"), Some("bob")], "the arrival measure this guards against");
        assert_eq!(late_backchannel(6300, 6800, true), vec![Some("alice")]);
        // Delivered on time, either measure agrees.
        assert_eq!(late_backchannel(u64::MAX, 0, true), vec![Some("alice")]);
        assert_eq!(late_backchannel(u64::MAX, 0, false), vec![Some("alice")]);
    }

    #[test]
    fn a_turn_delivered_in_bursts_still_takes_the_stage_as_sent() {
        // Bob talks for 2 s from 6 s, his packets delivered in 200 ms bursts: measured
        // as sent, his turn is long, and he takes the stage once 0.75 s of it was sent
        // and heard, at the burst of 7.0 s.
        let stage = alice_then_bob(|t0, tick| ((6200..=8000).contains(&tick) && tick % 200 == 0).then(|| Heard { dbov: -20.0, sent: Some(t0 + ms(tick - 20)) }));
        let holders: Vec<_> = stage.iter().map(|(_, holder)| *holder).collect();
        assert_eq!(holders, vec![Some("alice"), Some("bob")]);
        assert_eq!(stage[1].0, 7000);
    }

    #[test]
    fn crosstalk_the_louder_and_longer_speaker_wins() {
        // Alice holds the stage; Bob talks over her, louder and for longer: Bob wins.
        let mut sim = Sim::new().says("alice", 0, 6000, -35.0).says("bob", 2000, 7000, -18.0);
        sim.run_until(8000);
        assert_eq!(sim.holders(), vec![Some("alice"), Some("bob")]);
        // Carol mutters over Bob, quieter: the stage stays with Bob.
        let mut sim = Sim::new().says("bob", 0, 6000, -20.0).says("carol", 1500, 5000, -42.0);
        sim.run_until(8000);
        assert_eq!(sim.holders(), vec![Some("bob")]);
    }

    #[test]
    fn crosstalk_does_not_flicker_between_equal_speakers() {
        let mut sim = Sim::new().says("alice", 0, 8000, -25.0).says("bob", 1000, 8000, -25.0);
        sim.run_until(9000);
        assert_eq!(sim.holders(), vec![Some("alice")]);
    }

    #[test]
    fn pauses_between_words_and_sentences_do_not_end_a_turn() {
        // Alice speaks in phrases of 600 ms with 600 ms gaps (a sentence pause after
        // Chrome's processing and the observer's averaging): one spurt.
        let mut sim = Sim::new();
        for w in 0..5 {
            sim = sim.says("alice", w * 1200, w * 1200 + 600, -30.0);
        }
        let mut falls = 0;
        while sim.t < ms(5400) {
            sim.run_until((sim.t + TICK).as_millis() as u64);
            falls += sim.det.drain_events().iter().filter(|e| matches!(e, SpeakerEvent::Speaking(_, false))).count();
        }
        assert_eq!(falls, 0, "speaking flag dropped between words");
    }

    #[test]
    fn speaking_flags_rise_and_fall() {
        let mut det = SpeakerDetector::new(Tuning::default());
        let t0 = Instant::now();
        det.observe_levels(t0, &[("alice", -30.0)]);
        assert_eq!(det.drain_events(), vec![SpeakerEvent::Speaking("alice", true)]);
        det.observe_levels(t0 + ms(700), &[]);
        assert!(det.drain_events().is_empty(), "fell inside the hangover");
        det.observe_levels(t0 + ms(900), &[]);
        assert_eq!(det.drain_events(), vec![SpeakerEvent::Speaking("alice", false)]);
    }

    #[test]
    fn a_leaving_speaker_hands_the_stage_to_the_next() {
        let mut sim = Sim::new().says("alice", 0, 3000, -30.0).says("bob", 4000, 6000, -30.0).says("carol", 7000, 20_000, -30.0);
        sim.run_until(8000); // Carol talking but not yet for min_turn... she is past it at 7800
        assert_eq!(sim.det.active_speaker(), Some(&"carol"));
        // Carol leaves mid-sentence: nobody else speaks, so the most recent speaker (Bob).
        sim.talk.retain(|(who, ..)| *who != "carol");
        sim.det.remove(sim.start + sim.t, &"carol");
        sim.collect();
        assert_eq!(sim.det.active_speaker(), Some(&"bob"));
        // Bob leaves too, then Alice: nobody is left.
        sim.det.remove(sim.start + sim.t, &"bob");
        assert_eq!(sim.det.active_speaker(), Some(&"alice"));
        sim.det.remove(sim.start + sim.t, &"alice");
        assert_eq!(sim.det.active_speaker(), None);
    }

    #[test]
    fn leaving_prefers_whoever_is_speaking_now() {
        let mut sim = Sim::new().says("alice", 0, 10_000, -20.0).says("bob", 2000, 10_000, -40.0);
        sim.run_until(4000);
        assert_eq!(sim.det.active_speaker(), Some(&"alice"));
        sim.talk.retain(|(who, ..)| *who != "alice");
        sim.det.remove(sim.start + sim.t, &"alice");
        assert_eq!(sim.det.active_speaker(), Some(&"bob"));
    }

    #[test]
    fn muting_hands_the_stage_on() {
        let mut sim = Sim::new().says("alice", 0, 3000, -30.0).says("bob", 4000, 20_000, -30.0);
        sim.run_until(6000);
        assert_eq!(sim.det.active_speaker(), Some(&"bob"));
        sim.talk.retain(|(who, ..)| *who != "bob");
        sim.det.mute(sim.start + sim.t, &"bob");
        assert_eq!(sim.det.active_speaker(), Some(&"alice"));
        assert!(!sim.det.is_speaking(&"bob"));
        // Bob is still in the room and takes the stage back when he speaks again.
        sim = sim.says("bob", 7000, 9000, -30.0);
        sim.run_until(9000);
        assert_eq!(sim.det.active_speaker(), Some(&"bob"));
    }

    #[test]
    fn the_dominant_hint_breaks_a_tie_but_never_switches_alone() {
        // Two equal voices: the hint makes Bob win the crosstalk.
        let mut sim = Sim::new().says("alice", 0, 8000, -25.0).says("bob", 1000, 8000, -25.0);
        sim.run_until(900);
        let mut tuning = Tuning::default();
        tuning.dominant_hint_weight = 2.0;
        sim.det.tuning = tuning;
        sim.run_until(2000);
        sim.det.observe_dominant(sim.start + sim.t, "bob");
        sim.run_until(8000);
        assert_eq!(sim.det.active_speaker(), Some(&"bob"));
        // A hint for someone silent changes nothing.
        sim.det.observe_dominant(sim.start + sim.t, "carol");
        sim.run_until(9000);
        assert_eq!(sim.det.active_speaker(), Some(&"bob"));
    }

    /// The onset a decision reports, and how late the decision came after it.
    fn onset_and_delay(sim: &Sim, to: &'static str) -> (Duration, Duration) {
        let k = sim.stage.iter().position(|(_, p)| *p == Some(to)).unwrap_or_else(|| panic!("{to} never took the stage: {:?}", sim.stage));
        (sim.since[k], sim.stage[k].0 - sim.since[k])
    }

    #[test]
    fn a_turn_reports_its_onset_not_the_decision_time() {
        // Bob is first heard in the report at 5000, whose window began at the report
        // before (4900): that is his onset.
        let mut sim = Sim::new().says("alice", 1000, 4000, -25.0).says("bob", 5000, 9000, -28.0);
        sim.run_until(10_000);
        assert_eq!(onset_and_delay(&sim, "alice").0, ms(900), "the first speaker's turn begins at her first word");
        let (onset, delay) = onset_and_delay(&sim, "bob");
        assert_eq!(onset, ms(4900));
        assert!(delay >= ms(750) && delay <= ms(1000), "the stage still waits to be sure: {delay:?}");
    }

    #[test]
    fn a_pause_inside_the_new_turn_keeps_its_onset() {
        // Bob: a word, a 500 ms pause (under the hangover), then the rest of his turn.
        let mut sim = Sim::new().says("alice", 0, 3000, -25.0).says("bob", 4000, 4400, -28.0).says("bob", 4900, 8000, -28.0);
        sim.run_until(9000);
        assert_eq!(onset_and_delay(&sim, "bob").0, ms(3900));
    }

    #[test]
    fn backchannels_report_no_turn_and_do_not_move_the_next_onset() {
        // Bob's "mm-hmm" at 5000 never takes the stage; his real turn at 8000 starts
        // there, not at the backchannel two seconds earlier.
        let mut sim = Sim::new().says("alice", 0, 4000, -30.0).says("bob", 5000, 5600, -20.0).says("bob", 8000, 11_000, -25.0);
        sim.run_until(12_000);
        assert_eq!(sim.holders(), vec![Some("alice"), Some("bob")]);
        assert_eq!(onset_and_delay(&sim, "bob").0, ms(7900));
    }

    #[test]
    fn in_crosstalk_the_cut_waits_for_the_end_of_the_holders_last_word() {
        // Bob starts at 3000 while Alice finishes her sentence until 3500, as loud as
        // him: the cut goes after her last word (her last loud report, 3400), not
        // inside it.
        let mut sim = Sim::new().says("alice", 0, 3500, -25.0).says("bob", 3000, 8000, -25.0);
        sim.run_until(9000);
        assert_eq!(sim.holders(), vec![Some("alice"), Some("bob")]);
        assert_eq!(onset_and_delay(&sim, "bob").0, ms(3400));
    }

    #[test]
    fn in_crosstalk_a_clearly_dominant_newcomer_cuts_at_the_onset() {
        // Alice mumbles a quiet "yes" over Bob's loud start: Bob dominates the overlap,
        // so his turn starts at his first word.
        let mut sim = Sim::new().says("alice", 0, 2500, -25.0).says("bob", 3000, 8000, -18.0).says("alice", 3200, 3500, -50.0);
        sim.run_until(9000);
        assert_eq!(sim.holders(), vec![Some("alice"), Some("bob")]);
        assert_eq!(onset_and_delay(&sim, "bob").0, ms(2900));
    }

    #[test]
    fn a_hand_over_on_leaving_starts_when_the_holder_left() {
        let mut sim = Sim::new().says("alice", 0, 3000, -30.0).says("bob", 4000, 20_000, -30.0);
        sim.run_until(6000);
        sim.talk.retain(|(who, ..)| *who != "bob");
        sim.det.remove(sim.start + sim.t, &"bob");
        sim.collect();
        assert_eq!(sim.stage.last().map(|(_, p)| *p), Some(Some("alice")));
        assert_eq!(*sim.since.last().unwrap(), ms(6000));
    }

    #[test]
    fn decision_delays_over_a_scripted_meeting() {
        // The spread the compositor's lookahead must cover (docs/speaker-detection.md):
        // clean hand-overs at the server's 50 ms reports decide 800–850 ms after the
        // onset (the minimum turn, and the report window the first word fell in).
        let mut det = SpeakerDetector::new(Tuning::default());
        let t0 = Instant::now();
        let turns = [("a", 0, 3000), ("b", 3600, 7000), ("c", 7300, 11_000), ("a", 12_000, 15_000)];
        let mut delays = Vec::new();
        let mut t = Duration::ZERO;
        det.observe_levels(t0, &[]);
        while t < ms(16_000) {
            t += ms(50);
            let levels: Vec<_> = turns.iter().filter(|(_, from, to)| t >= ms(*from) && t < ms(*to)).map(|(p, ..)| (*p, -25.0)).collect();
            det.observe_levels(t0 + t, &levels);
            for e in det.drain_events() {
                if let SpeakerEvent::ActiveSpeaker { since, .. } = e {
                    delays.push((t0 + t) - since);
                }
            }
        }
        assert_eq!(delays.len(), 4, "{delays:?}");
        assert!(delays.iter().all(|d| *d >= ms(800) && *d <= ms(850)), "{delays:?}");
    }
}

//! The speaker timeline of a recording, sans-IO: speaker changes go in with their time
//! in the recording (ms from its start); turns come out, one per stretch a participant
//! held the stage. They become the mp4's chapters and the sidecar's `timeline`.
//!
//! A change to the speaker who already holds the stage is no new turn, and a stretch
//! with nobody on stage (before anyone spoke) is not a turn.

/// A turn is what the sidecar keeps of it.
pub type Turn = crate::output::sidecar::TimelineEntry;

#[derive(Debug, Default)]
pub struct Timeline {
    done: Vec<Turn>,
    /// The turn in progress: (start, participant id, name).
    open: Option<(u64, String, String)>,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stage went to `speaker` (id, name) at `at_ms`; `None`: to nobody.
    /// Times that go backwards are taken as `at_ms` = the last known time.
    pub fn speaker_changed(&mut self, at_ms: u64, speaker: Option<(&str, &str)>) {
        let at_ms = at_ms.max(self.last_ms());
        if let (Some((_, id, _)), Some((new_id, _))) = (&self.open, speaker) {
            if id == new_id {
                return;
            }
        }
        self.close(at_ms);
        self.open = speaker.map(|(id, name)| (at_ms, id.to_string(), name.to_string()));
    }

    /// Ends the turn in progress at `at_ms` (the recording stopped).
    pub fn finish(&mut self, at_ms: u64) {
        let at_ms = at_ms.max(self.last_ms());
        self.close(at_ms);
    }

    /// Every turn, the one in progress ending at `now_ms`.
    pub fn turns(&self, now_ms: u64) -> Vec<Turn> {
        let mut turns = self.done.clone();
        if let Some((start, id, name)) = &self.open {
            turns.push(Turn { start_ms: *start, end_ms: now_ms.max(*start), participant_id: id.clone(), name: name.clone() });
        }
        turns
    }

    fn last_ms(&self) -> u64 {
        match (&self.open, self.done.last()) {
            (Some((start, ..)), _) => *start,
            (None, Some(turn)) => turn.end_ms,
            (None, None) => 0,
        }
    }

    fn close(&mut self, at_ms: u64) {
        if let Some((start, participant_id, name)) = self.open.take() {
            // A zero-length turn (two changes at one instant) carries nothing.
            if at_ms > start {
                self.done.push(Turn { start_ms: start, end_ms: at_ms, participant_id, name });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(turns: &[Turn]) -> Vec<(u64, u64, &str)> {
        turns.iter().map(|t| (t.start_ms, t.end_ms, t.name.as_str())).collect()
    }

    #[test]
    fn turns_follow_the_speaker_changes() {
        let mut t = Timeline::new();
        t.speaker_changed(1200, Some(("a", "Alice")));
        t.speaker_changed(5000, Some(("b", "Bob")));
        t.speaker_changed(9000, Some(("a", "Alice")));
        assert_eq!(names(&t.turns(10_000)), [(1200, 5000, "Alice"), (5000, 9000, "Bob"), (9000, 10_000, "Alice")]);
        t.finish(12_000);
        assert_eq!(names(&t.turns(99_999)), [(1200, 5000, "Alice"), (5000, 9000, "Bob"), (9000, 12_000, "Alice")]);
    }

    #[test]
    fn the_same_speaker_again_is_not_a_new_turn() {
        let mut t = Timeline::new();
        t.speaker_changed(0, Some(("a", "Alice")));
        t.speaker_changed(3000, Some(("a", "Alice")));
        t.finish(4000);
        assert_eq!(names(&t.turns(4000)), [(0, 4000, "Alice")]);
    }

    #[test]
    fn nobody_on_stage_is_no_turn_and_instants_are_dropped() {
        let mut t = Timeline::new();
        t.speaker_changed(0, None);
        t.speaker_changed(2000, Some(("a", "Alice")));
        t.speaker_changed(2000, Some(("b", "Bob"))); // same instant: Alice's turn is empty
        t.speaker_changed(6000, None); // everyone left
        t.finish(8000);
        assert_eq!(names(&t.turns(8000)), [(2000, 6000, "Bob")]);
    }

    #[test]
    fn time_never_runs_backwards() {
        let mut t = Timeline::new();
        t.speaker_changed(5000, Some(("a", "Alice")));
        t.speaker_changed(4000, Some(("b", "Bob"))); // a late event: taken at 5000
        assert_eq!(names(&t.turns(1000)), [(5000, 5000, "Bob")], "an open turn never ends before it starts");
        t.finish(9000);
        assert_eq!(names(&t.turns(0)), [(5000, 9000, "Bob")]);
    }
}

//! Choosing the moments of a highlight reel, sans-IO and deterministic: the same
//! recording always gives the same clips. docs/highlights.md explains the rules; in
//! short:
//!
//! 1. **Candidates**: at most one clip per speaker turn, in its middle (a turn's first
//!    and last 15 % are hand-overs and wind-downs), starting and ending on keyframes (so
//!    it is cut without re-encoding), 4 to 12 s long: about 40 % of the turn.
//! 2. **Quality of a window**: each second counts when it holds speech (the mix above
//!    −50 dBFS), half-counts when two or more people speak at once (cross-talk), and is
//!    weighed by its loudness against the recording's typical speech (±50 %). Windows
//!    mostly silent or mostly cross-talk are skipped. Among a turn's windows the best
//!    wins; a window nearer the turn's middle wins a tie.
//! 3. **Score** of a candidate: its quality times a factor for the turn's length (long
//!    turns carry the meeting).
//! 4. **Selection**: first the best clip of everyone who spoke 10 s or more (their talk
//!    time: the length of their turns; the most talkative first), then the best
//!    remaining clips while they fit in the total (60 s); if the guaranteed clips alone
//!    are too long, they are shortened to the minimum, then the lowest-scored dropped.
//!    The clips play in meeting order. Someone guaranteed whose turns have no candidate
//!    (they spoke at a turn's start, then the turn ran on in silence) gets the best
//!    window anywhere in their turns, margins included; failing that, their best 4 s
//!    window without the 60 % floor, if any has speech and is not mostly cross-talk
//!    ([`Reach`]).
use crate::output::sidecar::TimelineEntry;

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub max_total_ms: u64,
    pub min_clip_ms: u64,
    pub max_clip_ms: u64,
    /// Everyone who spoke this long in all gets at least one clip.
    pub guaranteed_talk_ms: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self { max_total_ms: 60_000, min_clip_ms: 4_000, max_clip_ms: 12_000, guaranteed_talk_ms: 10_000 }
    }
}

/// Per second of the recording: the mix's level (dBFS) and how many people spoke.
#[derive(Debug, Clone, Copy, Default)]
pub struct Activity<'a> {
    pub loudness_db: &'a [f32],
    pub voices: &'a [u8],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub source_start_ms: u64,
    pub source_end_ms: u64,
    pub participant_id: String,
    pub name: String,
    pub score: f64,
}

impl Clip {
    pub fn len_ms(&self) -> u64 {
        self.source_end_ms - self.source_start_ms
    }
}

/// Below this the mix is silence.
pub(crate) const SILENCE_DB: f32 = -50.0;
/// A turn's first and last share that no clip takes.
const MARGIN: f64 = 0.15;
/// A clip takes about this share of its turn.
const TURN_SHARE: f64 = 0.4;
/// A window with less speech than this (share of its seconds) is not a highlight.
const MIN_SPEECH: f64 = 0.6;
/// Nor one with more cross-talk than this.
const MAX_CROSSTALK: f64 = 0.5;

/// Where a turn is searched for its window, and how good the window must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// The turn's middle (its first and last 15 % are hand-overs), by the quality
    /// rules: every turn's candidate.
    Middle,
    /// The whole turn, by the same rules: for someone guaranteed a clip none of whose
    /// turns has a candidate (they spoke at the start of long turns, say).
    WholeTurn,
    /// The whole turn, in windows of the minimum length, without the 60 % floor (the
    /// best by the same quality, speech share weighted by loudness), as long as it has
    /// some speech and is not mostly cross-talk. The guarantee's last resort.
    MostSpeech,
}

/// The highlight clips of a recording, in meeting order. `keyframes` are the times (ms,
/// ascending) where a clip may start or end.
pub fn select(turns: &[TimelineEntry], activity: Activity<'_>, keyframes: &[u64], rules: &Rules) -> Vec<Clip> {
    let typical = typical_speech_db(activity);
    // (turn index, its best clip)
    let mut candidates: Vec<(usize, Clip)> =
        turns.iter().enumerate().filter_map(|(i, t)| Some((i, best_window(t, activity, typical, keyframes, rules, Reach::Middle, None)?))).collect();
    // Everyone's talk time, for the guarantee.
    let mut talk: Vec<(String, u64, usize)> = Vec::new(); // (participant, ms, first turn index)
    for (i, t) in turns.iter().enumerate() {
        match talk.iter_mut().find(|(p, ..)| *p == t.participant_id) {
            Some(entry) => entry.1 += t.end_ms - t.start_ms,
            None => talk.push((t.participant_id.clone(), t.end_ms - t.start_ms, i)),
        }
    }
    talk.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    let by_score = |a: &(usize, Clip), b: &(usize, Clip)| b.1.score.total_cmp(&a.1.score).then(a.1.source_start_ms.cmp(&b.1.source_start_ms));
    candidates.sort_by(by_score);

    // (turn index, how its window was found, the clip)
    let mut chosen: Vec<(usize, Reach, Clip)> = Vec::new();
    for (participant, _, _) in talk.iter().filter(|(_, ms, _)| *ms >= rules.guaranteed_talk_ms) {
        if let Some((i, c)) = candidates.iter().find(|(_, c)| &c.participant_id == participant) {
            chosen.push((*i, Reach::Middle, c.clone()));
            continue;
        }
        // None of their turns has a candidate: look where they did speak.
        let fallback = [Reach::WholeTurn, Reach::MostSpeech].into_iter().find_map(|reach| {
            let length = (reach == Reach::MostSpeech).then_some(rules.min_clip_ms);
            turns
                .iter()
                .enumerate()
                .filter(|(_, t)| &t.participant_id == participant)
                .filter_map(|(i, t)| Some((i, reach, best_window(t, activity, typical, keyframes, rules, reach, length)?)))
                // The best score; the earliest wins a tie.
                .max_by(|a, b| a.2.score.total_cmp(&b.2.score).then(b.2.source_start_ms.cmp(&a.2.source_start_ms)))
        });
        chosen.extend(fallback);
    }
    // Guaranteed clips that do not fit: shortened to the minimum, then the weakest go.
    if total(&chosen) > rules.max_total_ms {
        chosen = chosen
            .into_iter()
            .map(|(i, reach, c)| (i, reach, best_window(&turns[i], activity, typical, keyframes, rules, reach, Some(rules.min_clip_ms)).unwrap_or(c)))
            .collect();
        chosen.sort_by(|a, b| b.2.score.total_cmp(&a.2.score).then(a.2.source_start_ms.cmp(&b.2.source_start_ms)));
        while total(&chosen) > rules.max_total_ms {
            chosen.pop();
        }
    }
    for candidate in &candidates {
        if total(&chosen) + rules.min_clip_ms > rules.max_total_ms {
            break;
        }
        let fits = total(&chosen) + candidate.1.len_ms() <= rules.max_total_ms;
        if fits && !chosen.iter().any(|(i, ..)| *i == candidate.0) {
            chosen.push((candidate.0, Reach::Middle, candidate.1.clone()));
        }
    }
    let mut clips: Vec<Clip> = chosen.into_iter().map(|(.., c)| c).collect();
    clips.sort_by_key(|c| c.source_start_ms);
    clips
}

fn total(clips: &[(usize, Reach, Clip)]) -> u64 {
    clips.iter().map(|(.., c)| c.len_ms()).sum()
}

/// The median loudness of the seconds with speech: what "normal" sounds like here.
fn typical_speech_db(a: Activity<'_>) -> f32 {
    let mut speech: Vec<f32> = a.loudness_db.iter().copied().filter(|&d| d > SILENCE_DB).collect();
    if speech.is_empty() {
        return -30.0;
    }
    speech.sort_by(f32::total_cmp);
    speech[speech.len() / 2]
}

/// The best keyframe-aligned window of a turn where `reach` looks (of `length` if
/// given, else ~40 % of the turn within the clip limits), or None if it has no good one.
fn best_window(turn: &TimelineEntry, a: Activity<'_>, typical: f32, keyframes: &[u64], rules: &Rules, reach: Reach, length: Option<u64>) -> Option<Clip> {
    let len = turn.end_ms.saturating_sub(turn.start_ms);
    if len < rules.min_clip_ms {
        return None;
    }
    let margin = (len as f64 * MARGIN) as u64;
    let (mut from, mut to) = (turn.start_ms + margin, turn.end_ms - margin);
    if reach != Reach::Middle || to - from < rules.min_clip_ms {
        (from, to) = (turn.start_ms, turn.end_ms);
    }
    let min_speech = if reach == Reach::MostSpeech { 0.0 } else { MIN_SPEECH };
    let want = length.unwrap_or_else(|| ((len as f64 * TURN_SHARE) as u64).clamp(rules.min_clip_ms, rules.max_clip_ms));
    let starts: Vec<u64> = keyframes.iter().copied().filter(|&k| k >= from && k + rules.min_clip_ms <= to).collect();
    let middle = (turn.start_ms + turn.end_ms) as f64 / 2.0;
    let mut best: Option<(f64, Clip)> = None;
    for &start in &starts {
        // The keyframe nearest start + want, within the limits and the turn.
        let Some(end) = keyframes
            .iter()
            .copied()
            .filter(|&k| k >= start + rules.min_clip_ms && k <= start + rules.max_clip_ms && k <= to)
            .min_by_key(|&k| (k as i64 - (start + want) as i64).unsigned_abs())
        else {
            continue;
        };
        let Some(quality) = window_quality(a, typical, start, end, min_speech) else { continue };
        let off_centre = (((start + end) as f64 / 2.0 - middle).abs() / len as f64).min(0.5);
        // Nearer the middle wins when the audio says nothing (and breaks ties).
        let rank = quality * (1.0 - 0.2 * off_centre);
        if best.as_ref().map_or(true, |(r, _)| rank > *r + 1e-9) {
            let length_factor = ((1.0 + len as f64 / 1000.0).ln() / (61.0f64).ln()).min(1.0);
            let score = (quality * length_factor * 1000.0).round() / 1000.0;
            best = Some((rank, Clip { source_start_ms: start, source_end_ms: end, participant_id: turn.participant_id.clone(), name: turn.name.clone(), score }));
        }
    }
    best.map(|(_, c)| c)
}

/// Speech share × loudness weight, or None for a window with no speech, with less than
/// `min_speech` (a share of its seconds), or mostly in cross-talk. Without activity
/// data every second counts as plain speech.
fn window_quality(a: Activity<'_>, typical: f32, start_ms: u64, end_ms: u64, min_speech: f64) -> Option<f64> {
    if a.loudness_db.is_empty() {
        return Some(1.0);
    }
    let (s0, s1) = ((start_ms / 1000) as usize, (end_ms.div_ceil(1000)) as usize);
    let (mut sum, mut speech, mut crosstalk, mut n) = (0.0f64, 0usize, 0usize, 0usize);
    for s in s0..s1.min(a.loudness_db.len()) {
        n += 1;
        let db = a.loudness_db[s];
        if db <= SILENCE_DB {
            continue;
        }
        speech += 1;
        let both = a.voices.get(s).is_some_and(|&v| v >= 2);
        crosstalk += usize::from(both);
        let weight = 1.0 + f64::from(((db - typical) / 20.0).clamp(-0.5, 0.5));
        sum += weight * if both { 0.5 } else { 1.0 };
    }
    if speech == 0 || (speech as f64) < min_speech * n as f64 || crosstalk as f64 > MAX_CROSSTALK * n as f64 {
        return None;
    }
    Some(sum / n as f64)
}

/// The keyframe times of a recording Podium wrote: the first frame, then every second
/// from the end of the AAC priming on (its encoder makes a keyframe exactly every
/// `fps` frames), rounded down to the ms.
pub(crate) fn recorder_keyframes(duration_ms: u64) -> Vec<u64> {
    let start_us = crate::output::mp4::START_US;
    std::iter::once(0).chain((1..).map(|k| (start_us + k * 1_000_000) / 1000).take_while(|&t| t <= duration_ms)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(start_s: u64, end_s: u64, who: &str) -> TimelineEntry {
        TimelineEntry { start_ms: start_s * 1000, end_ms: end_s * 1000, participant_id: who.to_lowercase(), name: who.into() }
    }

    fn grid(duration_s: u64) -> Vec<u64> {
        (0..=duration_s).map(|s| s * 1000).collect()
    }

    fn spans(clips: &[Clip]) -> Vec<(u64, u64, &str)> {
        clips.iter().map(|c| (c.source_start_ms / 1000, c.source_end_ms / 1000, c.name.as_str())).collect()
    }

    #[test]
    fn clips_sit_in_the_middle_of_turns_on_keyframes_in_meeting_order() {
        let turns = [turn(0, 20, "Ada"), turn(20, 50, "Bob"), turn(50, 60, "Ada")];
        let clips = select(&turns, Activity::default(), &grid(60), &Rules::default());
        // Ada 20 s -> 8 s in the middle of 3..17; Bob 30 s -> 12 s around 35; Ada 10 s -> 4 s.
        assert_eq!(spans(&clips), [(6, 14, "Ada"), (29, 41, "Bob"), (53, 57, "Ada")]);
        for c in &clips {
            assert_eq!(c.source_start_ms % 1000, 0, "starts on a keyframe");
            assert_eq!(c.source_end_ms % 1000, 0, "ends on a keyframe");
            assert!((4000..=12_000).contains(&c.len_ms()));
        }
        assert_eq!(select(&turns, Activity::default(), &grid(60), &Rules::default()), clips, "deterministic");
    }

    #[test]
    fn the_total_stays_within_the_limit_and_everyone_who_spoke_10_s_is_in() {
        // An hour: Ada talks most; Cy speaks only 12 s, once, early on.
        let mut turns = vec![turn(0, 12, "Cy")];
        let mut t = 12;
        for i in 0..120 {
            let (who, len) = if i % 3 == 0 { ("Bob", 20) } else { ("Ada", 35) };
            turns.push(turn(t, t + len, who));
            t += len;
        }
        let clips = select(&turns, Activity::default(), &grid(t), &Rules::default());
        assert!(clips.iter().map(Clip::len_ms).sum::<u64>() <= 60_000);
        for who in ["Ada", "Bob", "Cy"] {
            assert!(clips.iter().any(|c| c.name == who), "{who} has no clip: {:?}", spans(&clips));
        }
        assert!(clips.windows(2).all(|w| w[0].source_end_ms <= w[1].source_start_ms), "in meeting order, no overlap");
    }

    #[test]
    fn someone_who_barely_spoke_is_not_guaranteed_and_short_turns_give_no_clip() {
        let turns = [turn(0, 40, "Ada"), turn(40, 43, "Bob"), turn(43, 80, "Ada")];
        let clips = select(&turns, Activity::default(), &grid(80), &Rules::default());
        assert!(clips.iter().all(|c| c.name == "Ada"), "{:?}", spans(&clips));
        assert_eq!(clips.len(), 2);
    }

    #[test]
    fn loud_clean_speech_wins_and_silence_and_crosstalk_are_skipped() {
        // One 60 s turn: quiet speech, a silent stretch, a loud stretch, cross-talk.
        let mut loudness = vec![-35.0f32; 60];
        let mut voices = vec![1u8; 60];
        for s in 12..24 {
            loudness[s] = -70.0; // silence
        }
        for s in 30..42 {
            loudness[s] = -20.0; // loud
        }
        for s in 44..60 {
            voices[s] = 2; // cross-talk
        }
        let a = Activity { loudness_db: &loudness, voices: &voices };
        let turns = [turn(0, 60, "Ada")];
        let clips = select(&turns, a, &grid(60), &Rules::default());
        assert_eq!(clips.len(), 1);
        let c = &clips[0];
        assert!(c.source_start_ms >= 24_000 && c.source_end_ms <= 44_000, "picked {:?}, not the loud stretch", spans(&clips));
        // The silent and the cross-talk stretches alone are no highlight at all.
        let silent = [turn(12, 24, "Ada")];
        assert!(select(&silent, a, &grid(60), &Rules::default()).is_empty());
        let crosstalk = [turn(44, 60, "Ada")];
        assert!(select(&crosstalk, a, &grid(60), &Rules::default()).is_empty());
    }

    #[test]
    fn longer_turns_score_higher_and_fill_the_rest() {
        // No guarantee: the clips are the best scores that fit in 16 s.
        let rules = Rules { max_total_ms: 16_000, guaranteed_talk_ms: u64::MAX, ..Rules::default() };
        let turns = [turn(0, 9, "Ada"), turn(9, 60, "Bob"), turn(60, 70, "Cy"), turn(70, 75, "Ada")];
        let clips = select(&turns, Activity::default(), &grid(75), &rules);
        assert!(clips.iter().map(Clip::len_ms).sum::<u64>() <= 20_000);
        assert_eq!(clips.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Bob", "Cy"], "{:?}", spans(&clips));
        assert!(clips[0].score > clips[1].score);
    }

    #[test]
    fn too_many_guaranteed_speakers_are_shortened_then_the_weakest_dropped() {
        let rules = Rules { max_total_ms: 10_000, ..Rules::default() };
        let turns = [turn(0, 30, "Ada"), turn(30, 60, "Bob"), turn(60, 90, "Cy")];
        let clips = select(&turns, Activity::default(), &grid(90), &rules);
        assert_eq!(clips.iter().map(Clip::len_ms).collect::<Vec<_>>(), [4000, 4000], "{:?}", spans(&clips));
    }

    #[test]
    fn someone_who_spoke_at_the_start_of_long_turns_gets_a_clip_of_their_speech() {
        // Ada's two 20 s turns: she speaks their first 6 s (30 %), then silence until Bob
        // takes over; Bob speaks all through his. Ada's middles (3..17 s) are mostly
        // silent, so neither turn has a candidate, yet she spoke 40 s.
        let mut loudness = vec![-95.0f32; 60];
        let mut voices = vec![0u8; 60];
        for s in (0..6).chain(20..30).chain(30..36).chain(50..60) {
            loudness[s] = -20.0;
            voices[s] = 1;
        }
        let a = Activity { loudness_db: &loudness, voices: &voices };
        let turns = [turn(0, 20, "Ada"), turn(20, 30, "Bob"), turn(30, 50, "Ada"), turn(50, 60, "Bob")];
        let clips = select(&turns, a, &grid(60), &Rules::default());
        // Her clip is where she spoke, from her turn's first keyframe: the usual 40 % of
        // the turn (8 s), 6 s of it speech; the earlier turn wins the tie.
        assert_eq!(spans(&clips), [(0, 8, "Ada"), (23, 27, "Bob"), (53, 57, "Bob")]);
        assert!(clips[0].score > 0.0);
    }

    #[test]
    fn the_guarantee_falls_back_to_the_window_with_the_most_speech() {
        // Ada says 2 s at the start of each 12 s turn: no window of the usual length is
        // 60 % speech anywhere, so she gets the 4 s window holding the most.
        let mut loudness = vec![-95.0f32; 40];
        let mut voices = vec![0u8; 40];
        for s in (0..2).chain(12..20).chain(20..22).chain(32..40) {
            loudness[s] = -20.0;
            voices[s] = 1;
        }
        let a = Activity { loudness_db: &loudness, voices: &voices };
        let turns = [turn(0, 12, "Ada"), turn(12, 20, "Bob"), turn(20, 32, "Ada"), turn(32, 40, "Bob")];
        let clips = select(&turns, a, &grid(40), &Rules::default());
        assert_eq!(spans(&clips).iter().filter(|c| c.2 == "Ada").collect::<Vec<_>>(), [&(0, 4, "Ada")], "{:?}", spans(&clips));
        // A turn-taker who is not guaranteed gets no such clip.
        let rules = Rules { guaranteed_talk_ms: u64::MAX, ..Rules::default() };
        assert!(select(&turns, a, &grid(40), &rules).iter().all(|c| c.name == "Bob"));
        // Nor does anyone whose turns hold no speech at all, however long.
        let mut silent = loudness.clone();
        silent[0..2].fill(-95.0);
        silent[20..22].fill(-95.0);
        let a = Activity { loudness_db: &silent, voices: &voices };
        assert!(select(&turns, a, &grid(40), &Rules::default()).iter().all(|c| c.name == "Bob"));
    }

    #[test]
    fn a_fallback_clip_is_shortened_like_the_others_when_the_guaranteed_do_not_fit() {
        // As above (Ada's speech in her turns' first 6 s), with room for 12 s only.
        let mut loudness = vec![-95.0f32; 60];
        for s in (0..6).chain(20..30).chain(30..36).chain(50..60) {
            loudness[s] = -20.0;
        }
        let a = Activity { loudness_db: &loudness, voices: &[] };
        let turns = [turn(0, 20, "Ada"), turn(20, 30, "Bob"), turn(30, 50, "Ada"), turn(50, 60, "Bob")];
        let rules = Rules { max_total_ms: 10_000, ..Rules::default() };
        let clips = select(&turns, a, &grid(60), &rules);
        // Ada's is cut to 4 s of her speech (the one of the equals nearest the middle).
        assert_eq!(spans(&clips), [(2, 6, "Ada"), (23, 27, "Bob")]);
    }

    #[test]
    fn recorder_keyframes_follow_the_encoder() {
        assert_eq!(recorder_keyframes(3100), [0, 1021, 2021, 3021]);
    }
}

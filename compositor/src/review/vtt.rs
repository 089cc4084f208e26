//! The speaker timeline as WebVTT: one cue per turn, its text the speaker's name (also
//! as the cue's voice), so that any player can show who speaks as subtitles.
use crate::output::sidecar::TimelineEntry;
use std::fmt::Write;

pub fn speakers_vtt(timeline: &[TimelineEntry]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for (i, turn) in timeline.iter().filter(|t| t.end_ms > t.start_ms).enumerate() {
        let name = escape(&turn.name);
        let _ = write!(out, "{}\n{} --> {}\n<v {name}>{name}</v>\n\n", i + 1, timestamp(turn.start_ms), timestamp(turn.end_ms));
    }
    out
}

/// `HH:MM:SS.mmm`.
fn timestamp(ms: u64) -> String {
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Cue text may not hold `&`, `<` or `>` as they are; nor may a cue contain `-->`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(start_ms: u64, end_ms: u64, name: &str) -> TimelineEntry {
        TimelineEntry { start_ms, end_ms, participant_id: "p".into(), name: name.into() }
    }

    #[test]
    fn one_cue_per_turn_with_the_name() {
        let vtt = speakers_vtt(&[entry(4300, 10_900, "Ada"), entry(10_900, 3_725_042, "Bob <the builder> & co")]);
        assert_eq!(
            vtt,
            "WEBVTT\n\n1\n00:00:04.300 --> 00:00:10.900\n<v Ada>Ada</v>\n\n2\n00:00:10.900 --> 01:02:05.042\n<v Bob &lt;the builder&gt; &amp; co>Bob &lt;the builder&gt; &amp; co</v>\n\n"
        );
        assert_eq!(speakers_vtt(&[]), "WEBVTT\n\n");
    }
}

//! The speaker timeline as WebVTT: one cue per turn, its text the speaker's name (also
//! as the cue's voice), so that any player can show who speaks as subtitles; and one
//! cue per screen share ("NAME shares their screen"), over the turns it spans.
use crate::output::sidecar::{ScreenShare, TimelineEntry};
use std::fmt::Write;

pub fn speakers_vtt(timeline: &[TimelineEntry], shares: &[ScreenShare]) -> String {
    // (start, end, text), in start order (a cue may not start before the one above it).
    let mut cues: Vec<(u64, u64, String)> = timeline
        .iter()
        .filter(|t| t.end_ms > t.start_ms)
        .map(|turn| {
            let name = escape(&turn.name);
            (turn.start_ms, turn.end_ms, format!("<v {name}>{name}</v>"))
        })
        .collect();
    for share in shares {
        let end = share.end_ms.unwrap_or(share.start_ms);
        if end > share.start_ms {
            cues.push((share.start_ms, end, format!("{} shares their screen", escape(&share.name))));
        }
    }
    cues.sort_by_key(|(start, end, _)| (*start, *end));
    let mut out = String::from("WEBVTT\n\n");
    for (i, (start, end, text)) in cues.iter().enumerate() {
        let _ = write!(out, "{}\n{} --> {}\n{text}\n\n", i + 1, timestamp(*start), timestamp(*end));
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
        let vtt = speakers_vtt(&[entry(4300, 10_900, "Ada"), entry(10_900, 3_725_042, "Bob <the builder> & co")], &[]);
        assert_eq!(
            vtt,
            "WEBVTT\n\n1\n00:00:04.300 --> 00:00:10.900\n<v Ada>Ada</v>\n\n2\n00:00:10.900 --> 01:02:05.042\n<v Bob &lt;the builder&gt; &amp; co>Bob &lt;the builder&gt; &amp; co</v>\n\n"
        );
        assert_eq!(speakers_vtt(&[], &[]), "WEBVTT\n\n");
    }

    #[test]
    fn a_share_is_a_cue_of_its_own_in_time_order() {
        let share = ScreenShare { start_ms: 6000, end_ms: Some(9000), participant_id: "c".into(), name: "Cy".into() };
        let vtt = speakers_vtt(&[entry(4300, 10_900, "Ada"), entry(10_900, 12_000, "Bob")], &[share]);
        assert_eq!(
            vtt,
            "WEBVTT\n\n1\n00:00:04.300 --> 00:00:10.900\n<v Ada>Ada</v>\n\n2\n00:00:06.000 --> 00:00:09.000\nCy shares their screen\n\n3\n00:00:10.900 --> 00:00:12.000\n<v Bob>Bob</v>\n\n"
        );
    }
}

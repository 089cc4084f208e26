//! The highlight reel and the speaker track of a real recording: the engine records
//! three synthetic participants taking turns, then the reel is cut from its mp4 and
//! checked with ffprobe and frame by frame, and the WebVTT against the timeline.
mod common;

use common::{close, record, Network, Person};
use compositor::review::highlights::{self, ReelClip};
use compositor::review::probe;
use compositor::review::reel::Rules;
use std::process::Command;

const RED: [u8; 3] = [200, 40, 40];
const BLUE: [u8; 3] = [40, 60, 210];
const GREEN: [u8; 3] = [40, 170, 60];

fn ffprobe_json(path: &std::path::Path) -> serde_json::Value {
    let out = Command::new("ffprobe").args(["-v", "error", "-show_chapters", "-show_format", "-show_streams", "-of", "json"]).arg(path).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_reel_cuts_each_speakers_best_moment_on_keyframes_with_a_chapter_each() {
    // Ada 0.5-15.5 s, Bo 15.5-27.5 s, Cy 27.5-33 s (5.5 s: under the 10 s guarantee), Ada again.
    let mut ada = Person::new("a", "Ada", RED, 440.0);
    ada.talks = vec![(500, 15_500), (33_000, 42_000)];
    let mut bo = Person::new("b", "Bo", BLUE, 550.0);
    bo.talks = vec![(15_500, 27_500)];
    let mut cy = Person::new("c", "Cy", GREEN, 660.0);
    cy.talks = vec![(27_500, 33_000)];
    let speakers = [(600, Some("a")), (15_600, Some("b")), (27_600, Some("c")), (33_100, Some("a"))];
    let out = record("reel", vec![ada, bo, cy], &speakers, 42_500, Network::clean());
    let s = &out.sidecar;
    assert_eq!(s.timeline.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["Ada", "Bo", "Cy", "Ada"]);

    // The activity the reel scores with: a level per second, one voice in a turn.
    assert!((41..=43).contains(&s.loudness_db.len()), "{} seconds of loudness", s.loudness_db.len());
    assert_eq!(s.voices.len(), s.loudness_db.len());
    assert!(s.loudness_db[5] > -20.0 && s.voices[5] == 1, "Ada speaking at 5 s: {} dB, {} voices", s.loudness_db[5], s.voices[5]);

    let reel = out.path.with_file_name("rec.highlights.mp4");
    let mut progress = Vec::new();
    let clips = highlights::build(&out.path, s, &Rules::default(), &reel, |p| progress.push(p)).unwrap();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]) && progress.last() == Some(&1.0), "{progress:?}");
    let saved: Vec<ReelClip> = serde_json::from_slice(&std::fs::read(highlights::clips_path(&reel)).unwrap()).unwrap();
    assert_eq!(saved, clips);

    // Everyone who spoke 10 s gets a clip; Cy (5.5 s) may; the total fits, in order.
    let names: Vec<&str> = clips.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&"Ada") && names.contains(&"Bo"), "{names:?}");
    assert!(clips.windows(2).all(|w| w[0].source_end_ms <= w[1].source_start_ms), "meeting order: {clips:?}");
    let total: u64 = clips.iter().map(|c| c.source_end_ms - c.source_start_ms).sum();
    assert!(total <= 60_000);
    for c in &clips {
        let len = c.source_end_ms - c.source_start_ms;
        assert!((3_900..=12_100).contains(&len), "a clip of {len} ms");
        let turn = s.timeline.iter().find(|t| t.start_ms <= c.source_start_ms && c.source_end_ms <= t.end_ms + 50).unwrap_or_else(|| panic!("{c:?} outside any turn"));
        assert_eq!(turn.name, c.name);
    }

    // On the source's keyframes: each clip starts where the source has one.
    let source_frames = probe::video_frames(&out.path).unwrap();
    for c in &clips {
        let kf = source_frames.iter().filter(|f| f.keyframe).map(|f| f.t_ms).min_by_key(|t| t.abs_diff(c.source_start_ms)).unwrap();
        assert!(kf.abs_diff(c.source_start_ms) <= 1, "clip at {} ms, nearest keyframe {kf} ms", c.source_start_ms);
    }

    // The reel: h264 + aac, as long as its clips, a chapter per clip with the name, and
    // each clip showing its speaker from its first frame (a keyframe: no re-encoding).
    let info = ffprobe_json(&reel);
    // (A third, data stream is the chapter track QuickTime players read.)
    let media: Vec<&str> = info["streams"].as_array().unwrap().iter().filter(|s| s["codec_type"] != "data").map(|s| s["codec_name"].as_str().unwrap()).collect();
    assert_eq!(media, ["h264", "aac"]);
    let duration_ms = (info["format"]["duration"].as_str().unwrap().parse::<f64>().unwrap() * 1000.0) as u64;
    assert!(duration_ms.abs_diff(total) <= 100, "reel of {duration_ms} ms for {total} ms of clips");
    let chapters = info["chapters"].as_array().unwrap();
    assert_eq!(chapters.len(), clips.len());
    let reel_frames = probe::video_frames(&reel).unwrap();
    let mut at = 0u64;
    for (c, chapter) in clips.iter().zip(chapters) {
        assert_eq!(chapter["tags"]["title"], c.name.as_str());
        let start = (chapter["start_time"].as_str().unwrap().parse::<f64>().unwrap() * 1000.0).round() as u64;
        assert!(start.abs_diff(at) <= 40, "chapter at {start} ms, expected {at} ms");
        let first = reel_frames.iter().find(|f| f.t_ms + 20 >= start).unwrap();
        assert!(first.keyframe, "the clip at {start} ms does not start on a keyframe");
        let colour = match c.name.as_str() { "Ada" => RED, "Bo" => BLUE, _ => GREEN };
        let span: Vec<_> = reel_frames.iter().filter(|f| f.t_ms + 20 >= start && f.t_ms < start + c.source_end_ms - c.source_start_ms - 20).collect();
        assert!(span.iter().all(|f| close(f.centre_rgb, colour)), "{}'s clip shows someone else", c.name);
        at = start + (c.source_end_ms - c.source_start_ms);
    }
    // Its audio carries the speakers' voices.
    let (rate, audio) = probe::audio_mono(&reel).unwrap();
    assert!(audio.len() as u64 * 1000 / u64::from(rate) + 100 >= total);
    let first = &clips[0];
    let hz = match first.name.as_str() { "Ada" => 440.0, "Bo" => 550.0, _ => 660.0 };
    let n = (rate as usize) * 2;
    assert!(probe::tone_power(&audio[1000..n], rate, hz) > 0.005, "the first clip's voice is not in the reel");
}

#[test]
fn the_speaker_track_matches_the_timeline() {
    let mut ada = Person::new("a", "Ada", RED, 440.0);
    ada.talks = vec![(500, 3000)];
    let mut bo = Person::new("b", "Bo <&> Co", BLUE, 550.0);
    bo.talks = vec![(3000, 5000)];
    let out = record("vtt", vec![ada, bo], &[(600, Some("a")), (3100, Some("b"))], 5500, Network::clean());
    let vtt = compositor::review::vtt::speakers_vtt(&out.sidecar.timeline, &out.sidecar.screen_shares);
    // Parsed back as a player would: header, then cues of "start --> end" and text.
    let mut lines = vtt.lines();
    assert_eq!(lines.next(), Some("WEBVTT"));
    let mut cues = Vec::new();
    let parse = |t: &str| {
        let p: Vec<f64> = t.split(':').map(|x| x.parse().unwrap()).collect();
        ((p[0] * 3600.0 + p[1] * 60.0 + p[2]) * 1000.0).round() as u64
    };
    while let Some(line) = lines.next() {
        if let Some((a, b)) = line.split_once(" --> ") {
            let text = lines.next().unwrap();
            cues.push((parse(a), parse(b), text.to_string()));
        }
    }
    let expected: Vec<(u64, u64, String)> = out.sidecar.timeline.iter().map(|t| (t.start_ms, t.end_ms, t.name.clone())).collect();
    assert_eq!(cues.len(), expected.len());
    for ((a, b, text), (ea, eb, name)) in cues.iter().zip(&expected) {
        assert_eq!((a, b), (ea, eb));
        let shown = text.trim_start_matches(|c| c != '>').trim_start_matches('>').trim_end_matches("</v>");
        assert_eq!(shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"), *name);
    }
}

//! The compositor's engine end to end, on a fake clock: synthetic participants with
//! known colours and tones in, an mp4 out, read back frame by frame and tone by tone.
mod common;

use common::{chapters, close, first_showing, record, share_showing, tone_in, Network, Person};
use compositor::render::compose::rgb_for;
use compositor::output::sidecar::Status;

const RED: [u8; 3] = [200, 40, 40];
const BLUE: [u8; 3] = [40, 60, 210];
const GREEN: [u8; 3] = [40, 170, 60];
/// The waiting card's grey (Y=24).
const WAITING: [u8; 3] = [9, 9, 9];


#[test]
fn the_video_follows_the_speaker_with_chapters_and_everyones_audio() {
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(1000, 4000)];
    let mut bob = Person::new("b2", "Bob", BLUE, 660.0);
    bob.talks = vec![(4000, 7000)];
    let out = record("switch", vec![alice, bob], &[(1000, Some("a1")), (4000, Some("b2"))], 8000, Network::clean());

    // Before anyone spoke: the waiting card. Then each turn shows its speaker, switching
    // within a few frames of the decision (the keyframe's trip), and never anything else.
    assert!(share_showing(&out.frames, 0, 900, WAITING) > 0.99);
    let a = first_showing(&out.frames, 900, RED).expect("Alice never shown");
    let b = first_showing(&out.frames, 3900, BLUE).expect("Bob never shown");
    assert!((1000..1200).contains(&a), "Alice shown from {a} ms, her turn began at 1000");
    assert!((4000..4200).contains(&b), "Bob shown from {b} ms, his turn began at 4000");
    assert!(share_showing(&out.frames, a, 4000, RED) > 0.99, "Alice's turn shows Alice");
    assert!(share_showing(&out.frames, b, 8000, BLUE) > 0.99, "Bob's turn shows Bob");
    for f in &out.frames {
        assert!(close(f.centre_rgb, RED) || close(f.centre_rgb, BLUE) || close(f.centre_rgb, WAITING), "a frame at {} ms shows {:?}: neither speaker nor the waiting card", f.t_ms, f.centre_rgb);
    }
    // Between the decision and Bob's keyframe, Alice's last frame is held: no gap.
    // (The first frame lasts 21 ms longer: the muxer starts each track at 0, and audio
    // starts with the AAC encoder's priming.)
    let gaps: Vec<_> = out.frames.windows(2).skip(1).filter(|w| w[1].t_ms - w[0].t_ms > 34).map(|w| (w[0].t_ms, w[1].t_ms)).collect();
    assert!(gaps.is_empty(), "frames missing: {gaps:?} of {}", out.frames.len());

    // Everyone's audio, each in its turn.
    let (a440, a660) = (tone_in(&out, 1500, 3500, 440.0), tone_in(&out, 1500, 3500, 660.0));
    let (b440, b660) = (tone_in(&out, 4500, 6500, 440.0), tone_in(&out, 4500, 6500, 660.0));
    assert!(a440 > 0.01 && a440 > 100.0 * a660, "Alice's turn: 440 Hz {a440}, 660 Hz {a660}");
    assert!(b660 > 0.01 && b660 > 100.0 * b440, "Bob's turn: 660 Hz {b660}, 440 Hz {b440}");
    let silence: f32 = out.audio[..(out.rate as usize * 8 / 10)].iter().map(|s| s.abs()).fold(0.0, f32::max);
    assert!(silence < 0.01, "noise before anyone spoke: {silence}");

    // Chapters and the sidecar's timeline: one per turn, from when the face changed.
    let listed = chapters(&out.path);
    assert_eq!(listed.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>(), ["Alice", "Bob"], "{listed:?}");
    assert!((listed[0].0 * 1000.0 - a as f64).abs() < 40.0 && (listed[1].0 * 1000.0 - b as f64).abs() < 40.0, "{listed:?} vs {a} {b}");
    let s = &out.sidecar;
    assert_eq!(s.status, Status::Finished);
    assert_eq!(s.participants.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Alice", "Bob"]);
    let turns: Vec<_> = s.timeline.iter().map(|t| (t.name.as_str(), t.start_ms, t.end_ms)).collect();
    assert_eq!(turns.len(), 2, "{turns:?}");
    assert_eq!((turns[0].0, turns[1].0), ("Alice", "Bob"));
    assert_eq!(turns[0].2, turns[1].1, "turns meet");
    assert!(turns[1].2 >= 7950, "the last turn runs to the end: {turns:?}");
    assert!(s.duration_ms >= 7950 && s.duration_ms <= 8100, "{}", s.duration_ms);
}

#[test]
fn reordering_and_five_percent_loss_keep_the_recording_going() {
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 5000)];
    let mut bob = Person::new("b2", "Bob", BLUE, 660.0);
    bob.talks = vec![(5000, 9000)];
    let out = record("lossy", vec![alice, bob], &[(500, Some("a1")), (5000, Some("b2"))], 9500, Network { delay: 20, reorder: 0.1, loss: 0.05 });

    // Losses break frames; keyframe requests recover them, and in between the last good
    // frame is held: every frame still shows its speaker (or the held one), no garbage.
    assert!(out.keyframe_requests > 0, "no keyframe was ever asked for");
    assert!(share_showing(&out.frames, 1000, 5000, RED) > 0.95);
    assert!(share_showing(&out.frames, 5400, 9500, BLUE) > 0.95);
    for f in out.frames.iter().filter(|f| f.t_ms > 600) {
        assert!(close(f.centre_rgb, RED) || close(f.centre_rgb, BLUE), "a broken or grey frame at {} ms: {:?}", f.t_ms, f.centre_rgb);
    }
    // The audio stays continuous: every 100 ms of each turn carries its tone.
    for (from, to, hz) in [(1000, 5000, 440.0), (5500, 9000, 660.0)] {
        for w in (from..to).step_by(100) {
            let p = tone_in(&out, w, w + 100, hz);
            assert!(p > 0.003, "{hz} Hz drops out at {w} ms (power {p})");
        }
    }
}

#[test]
fn a_speaker_without_video_gets_a_name_card() {
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 3000)];
    let mut carol = Person::new("c3", "Carol Danvers", GREEN, 550.0);
    carol.has_video = false;
    carol.talks = vec![(3000, 6000)];
    let out = record("card", vec![alice, carol], &[(500, Some("a1")), (3000, Some("c3"))], 6000, Network::clean());
    let card = rgb_for("Carol Danvers");
    // Her initials are at the centre; her colour is all around them.
    let carol_frames: Vec<_> = out.frames.iter().filter(|f| f.t_ms >= 3100).collect();
    assert!(!carol_frames.is_empty());
    let first_card = carol_frames.iter().position(|f| !close(f.centre_rgb, RED)).expect("never left Alice");
    assert!(carol_frames[first_card].t_ms < 3100 + 50, "Carol's card came at {} ms", carol_frames[first_card].t_ms);
    for f in &carol_frames {
        assert!(!close(f.centre_rgb, RED), "Alice still shown at {} ms", f.t_ms);
        assert!(close(f.corner_rgb, card), "frame at {} ms is {:?}, not Carol's card {:?}", f.t_ms, f.corner_rgb, card);
        assert!(f.centre_rgb.iter().map(|&c| u32::from(c)).sum::<u32>() > card.iter().map(|&c| u32::from(c)).sum::<u32>() + 40, "no initials at {} ms", f.t_ms);
    }
    assert!(tone_in(&out, 3500, 5500, 550.0) > 0.01, "Carol is not heard");
    assert_eq!(chapters(&out.path).iter().map(|(_, n)| n.clone()).collect::<Vec<_>>(), ["Alice", "Carol Danvers"]);
}

#[test]
fn a_participant_who_joins_mid_recording_is_heard_and_seen() {
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 4000)];
    let mut dave = Person::new("d4", "Dave", GREEN, 880.0);
    dave.present = (3000, u64::MAX);
    dave.talks = vec![(4000, 7000)];
    let out = record("join", vec![alice, dave], &[(500, Some("a1")), (4000, Some("d4"))], 7500, Network::clean());
    let d = first_showing(&out.frames, 3900, GREEN).expect("Dave never shown");
    assert!((4000..4200).contains(&d), "Dave shown from {d}");
    assert!(share_showing(&out.frames, d, 7500, GREEN) > 0.99);
    assert!(tone_in(&out, 4500, 6500, 880.0) > 0.01, "Dave is not heard");
    let names: Vec<_> = out.sidecar.participants.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Alice", "Dave"]);
}

#[test]
fn audio_and_video_stay_together() {
    // A camera that flashes white exactly when its microphone beeps.
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.flashes = vec![2000, 3000, 4000, 5000];
    let out = record("sync", vec![alice], &[(500, Some("a1"))], 6000, Network { delay: 30, reorder: 0.05, loss: 0.0 });
    let rate = out.rate as f64;
    for flash in [2000u64, 3000, 4000, 5000] {
        let video = first_showing(&out.frames, flash - 200, [255, 255, 255]).expect("flash not seen") as f64;
        let from = ((flash - 200) as f64 * rate / 1000.0) as usize;
        let onset = out.audio[from..].iter().position(|s| s.abs() > 0.1).expect("beep not heard");
        let audio = (from + onset) as f64 * 1000.0 / rate;
        let offset = video - audio;
        // One frame (33 ms) is the resolution of a video time; ±45 ms is the target.
        assert!(offset.abs() <= 45.0, "flash at {video} ms, beep at {audio:.1} ms: offset {offset:.1} ms");
    }
}

//! The compositor's engine end to end, on a fake clock: synthetic participants with
//! known colours and tones in, an mp4 out, read back frame by frame and tone by tone.
mod common;

use common::{chapters, close, first_showing, record, record_decisions, record_layouts, record_stalled, share_showing, tone_in, Decision, Forward, Network, Person};
use compositor::picture::layout::LayoutKind;
use compositor::engine::DEFAULT_LOOKAHEAD;
use std::time::Duration;
use compositor::picture::compose::rgb_for;
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
    // The file holds a frame for each new picture: the waiting card once a second (each
    // second starts with a keyframe), each camera's 25 pictures a second, and nothing
    // in between. (The first frame is at 0: the muxer starts each track there, and
    // audio starts with the AAC encoder's priming, 21 ms.)
    let keyframes: Vec<u64> = out.encoded.iter().filter(|f| f.keyframe).map(|f| f.t_ms).collect();
    let seconds: Vec<u64> = (0..=8).map(|s| if s == 0 { 0 } else { s * 1000 + 21 }).collect();
    assert_eq!(keyframes, seconds, "one keyframe at the start of every second");
    // The file's first second is the exception: written at the full rate, repeats and
    // all, so that tools guessing a file's rate from its first frames (ffprobe, and
    // ffmpeg re-encoding it) read the recording's own 30 fps.
    let first_second = out.encoded.iter().filter(|f| f.t_ms < 1000).count();
    assert_eq!(first_second, 30, "the first second at the full rate: {:?}", &out.encoded[..5]);
    let alice = out.encoded.iter().filter(|f| (2021..3021).contains(&f.t_ms) && close(f.centre_rgb, RED)).count();
    assert!((24..=27).contains(&alice), "{alice} frames in a second of Alice's 25 fps camera");

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
fn a_recording_of_15_fps_cameras_reads_as_its_own_30_fps() {
    // Half the output's rate: without its first second at the full rate, every gap in
    // the file would be 1/15 s, FFmpeg would guess 15 fps, and `ffmpeg -i` re-encoding
    // it would drop every other frame of a 30 fps share (and trip on 1/30 s steps).
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.camera_fps = 15;
    alice.talks = vec![(0, 3000)];
    let out = record("fifteen", vec![alice], &[(0, Some("a1"))], 3000, Network::clean());
    let alice_second = out.encoded.iter().filter(|f| (2021..3021).contains(&f.t_ms)).count();
    assert!((14..=16).contains(&alice_second), "{alice_second} frames in a second of a 15 fps camera: still only what changed");
    assert_eq!(compositor::review::probe::guessed_frame_rate(&out.path).unwrap(), (30, 1), "the rate FFmpeg guesses");
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
    // Her still card is encoded once a second (each second starts with a keyframe).
    let card_frames = out.encoded.iter().filter(|f| (4021..5021).contains(&f.t_ms)).count();
    assert_eq!(card_frames, 1, "a still card costs one frame a second");
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
fn someone_who_rejoins_is_seen_and_heard_again_and_listed_once() {
    // Alice's connection drops and comes back: a new session under the same name.
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.present = (0, 2500);
    alice.talks = vec![(500, 2000)];
    let mut bob = Person::new("b2", "Bob", GREEN, 550.0);
    bob.talks = vec![(2500, 4500)];
    let mut again = Person::new("a9", "Alice", RED, 660.0);
    again.present = (3500, u64::MAX);
    again.talks = vec![(5000, 7000)];
    let out = record("rejoin", vec![alice, bob, again], &[(500, Some("a1")), (2500, Some("b2")), (5000, Some("a9"))], 7500, Network::clean());
    let back = first_showing(&out.frames, 4900, RED).expect("Alice's second session never shown");
    assert!((5000..5200).contains(&back), "Alice shown again from {back}");
    assert!(tone_in(&out, 5500, 6800, 660.0) > 0.01, "Alice's second session is not heard");
    let names: Vec<_> = out.sidecar.participants.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Alice", "Bob"], "a person is listed once, however often they join");
    let turns: Vec<_> = out.sidecar.timeline.iter().map(|t| (t.participant_id.as_str(), t.name.as_str())).collect();
    assert_eq!(turns, [("a1", "Alice"), ("b2", "Bob"), ("a9", "Alice")], "each turn names its session");
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
    // The file has a variable frame rate: the camera's pictures, and a keyframe at the
    // start of every second.
    let keyframes: Vec<u64> = out.encoded.iter().filter(|f| f.keyframe).map(|f| f.t_ms).collect();
    assert_eq!(keyframes, (0..=6).map(|s| if s == 0 { 0 } else { s * 1000 + 21 }).collect::<Vec<u64>>());
}

/// Offsets (video − audio, ms) of the flashes at `flashes` in `out`, over someone's
/// voice (`voice_hz`): the beep is found by its own pitch, in 10 ms windows.
fn flash_offsets(out: &common::Outcome, flashes: &[u64], voice_hz: f32) -> Vec<f64> {
    flashes
        .iter()
        .map(|&flash| {
            let video = first_showing(&out.frames, flash - 200, [255, 255, 255]).expect("flash not seen") as f64;
            let beep = (flash - 200..flash + 200).find(|&w| {
                let (p, voice) = (tone_in(out, w, w + 10, 1000.0), tone_in(out, w, w + 10, voice_hz));
                p > 0.01 && p > voice
            });
            video - beep.expect("beep not heard") as f64
        })
        .collect()
}

#[test]
fn a_recorder_behind_real_time_steps_down_then_back_up_and_its_file_stays_whole() {
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 12_000)];
    alice.flashes = vec![2500, 8500, 10_500];
    let mut bob = Person::new("b2", "Bob", BLUE, 660.0);
    bob.talks = vec![(12_000, 29_000)];
    bob.flashes = vec![20_500, 28_500];
    // The machine takes the CPU away for 1 s at 3 s (the lag passes 500 ms: a step
    // down), then for 1.3 s at 5 s: the output falls more than 1 s behind, is caught up
    // on at 5 fps, and the lag having grown, the next step follows.
    let stalls = [(3000, 4000), (5000, 6300)];
    let decisions = [Decision::after(500, 0, "a1"), Decision::after(12_000, 0, "b2")];
    let out = record_stalled("stalled", vec![alice, bob], &decisions, 29_500, Network::clean(), Forward::EveryCamera, DEFAULT_LOOKAHEAD, LayoutKind::Speaker, &[], &stalls);

    // Down: the faster preset; the catch-up (5 fps, then back); half the frame rate;
    // back up after 10 s of headroom each, one at a time. (One camera on the frame: no
    // thumbnails to slow.)
    let steps: Vec<(&str, u32, Option<u32>, bool)> = out.sidecar.quality_steps.iter().map(|q| (q.preset.as_str(), q.fps, q.thumbnail_fps, q.degraded)).collect();
    let expected =
        [("superfast", 30, None, true), ("superfast", 5, None, true), ("superfast", 30, None, true), ("superfast", 15, None, true), ("superfast", 30, None, true), ("veryfast", 30, None, false)];
    assert_eq!(steps, expected, "{:?}", out.sidecar.quality_steps);
    let at: Vec<u64> = out.sidecar.quality_steps.iter().map(|q| q.at_ms).collect();
    // In the file's time, which runs the lookahead (1.3 s) behind: decided at 4 s; the
    // output stalled at 3.7 s was caught up on until 300 ms from real time, and the
    // half rate decided at 6.3 s; then 10 s after each second of headroom began.
    assert!((2700..2900).contains(&at[0]), "stepped down at {at:?}");
    assert!((3600..3800).contains(&at[1]) && (4600..4800).contains(&at[2]) && (5000..5200).contains(&at[3]), "caught up, then stepped down at {at:?}");
    assert!((16_000..16_300).contains(&at[4]) && (26_000..26_300).contains(&at[5]), "stepped up at {at:?}");
    // Caught up on at 5 fps (its second's keyframe among them), at full rate before.
    let in_range = |from: u64, to: u64| out.encoded.iter().filter(|f| (from..to).contains(&f.t_ms)).count();
    assert!((5..=6).contains(&in_range(at[1], at[2])), "{} frames drawn while catching up", in_range(at[1], at[2]));
    assert!((23..=27).contains(&in_range(at[0], at[0] + 900)), "{} frames in the 0.9 s before", in_range(at[0], at[0] + 900));

    // The file stays whole: every frame decodes, a keyframe starts every second, each
    // turn shows its speaker throughout, and the audio never drops out.
    let decoded = std::process::Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&out.path).args(["-f", "null", "-"]).output().unwrap();
    assert!(decoded.status.success() && decoded.stderr.is_empty(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let keyframes: Vec<u64> = out.encoded.iter().filter(|f| f.keyframe).map(|f| f.t_ms).collect();
    assert_eq!(keyframes, (0..=29).map(|s| if s == 0 { 0 } else { s * 1000 + 21 }).collect::<Vec<u64>>());
    assert!(share_showing(&out.frames, 600, 12_000, RED) > 0.97, "Alice's turn");
    assert!(share_showing(&out.frames, 12_100, 29_500, BLUE) > 0.97, "Bob's turn");
    let flashes = [2500, 8500, 10_500, 20_500, 28_500];
    for (from, to, hz) in [(1000, 11_900, 440.0), (12_100, 29_000, 660.0)] {
        // (A flash's beep takes the tone's place for 100 ms.)
        for w in (from..to).step_by(100).filter(|w| !flashes.iter().any(|f| (w + 100 > *f) && (*w < f + 100))) {
            let p = tone_in(&out, w, w + 100, hz);
            assert!(p > 0.003, "{hz} Hz drops out at {w} ms (power {p})");
        }
    }
    // Half the frame rate between the steps, all of the camera's 25 after them.
    let per_second = |from: u64| out.encoded.iter().filter(|f| (from..from + 1000).contains(&f.t_ms)).count();
    assert!((14..=16).contains(&per_second(9000)), "{} frames in a second at half rate", per_second(9000));
    assert!((24..=27).contains(&per_second(22_000)), "{} frames in a second at full rate", per_second(22_000));
    // Sound and picture stay together at either rate.
    let offsets = [flash_offsets(&out, &flashes[..3], 440.0), flash_offsets(&out, &flashes[3..], 660.0)].concat();
    assert!(offsets.iter().all(|o| o.abs() <= 45.0), "flashes off their beeps by {offsets:?} ms");
}

/// The last frame showing `rgb` before `before` ms.
fn last_showing(frames: &[compositor::review::probe::FrameSample], before: u64, rgb: [u8; 3]) -> Option<u64> {
    frames.iter().filter(|f| f.t_ms < before && close(f.centre_rgb, rgb)).map(|f| f.t_ms).last()
}

#[test]
fn a_decision_that_comes_after_the_first_word_cuts_at_the_first_word() {
    // The server is sure of each turn 0.8 s after its first word; the recording cuts
    // where the word is, and the chapters start there.
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(1000, 4000)];
    let mut bob = Person::new("b2", "Bob", BLUE, 660.0);
    bob.talks = vec![(4000, 7000)];
    let decisions = [Decision::after(1000, 800, "a1"), Decision::after(4000, 800, "b2")];
    let out = record_decisions("onset", vec![alice, bob], &decisions, 8000, Network::clean(), Forward::EveryCamera, DEFAULT_LOOKAHEAD);
    let frame = 1000 / common::FPS as i64 + 1;
    let a = first_showing(&out.frames, 0, RED).expect("Alice never shown") as i64;
    let b = first_showing(&out.frames, 3000, BLUE).expect("Bob never shown") as i64;
    assert!((a - 1000).abs() <= frame, "Alice's cut at {a} ms, her first word at 1000");
    assert!((b - 4000).abs() <= frame, "Bob's cut at {b} ms, his first word at 4000");
    let alice_last = last_showing(&out.frames, 5000, RED).unwrap();
    assert!(alice_last < 4000, "Alice still shown at {alice_last} ms, inside Bob's turn");
    assert!(share_showing(&out.frames, 0, 990, WAITING) > 0.99, "before the first word: the waiting card");
    // The turns start at the cuts.
    let listed = chapters(&out.path);
    assert_eq!(listed.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>(), ["Alice", "Bob"]);
    for ((start, _), cut) in listed.iter().zip([a, b]) {
        assert!((start * 1000.0 - cut as f64).abs() <= 40.0, "chapter at {start} s, cut at {cut} ms");
    }
    let turns: Vec<_> = out.sidecar.timeline.iter().map(|t| t.start_ms as i64).collect();
    assert!((turns[1] - b).abs() <= 40, "{turns:?} vs the cut at {b}");
}

#[test]
fn a_flowing_camera_shows_only_on_its_turn_and_then_from_its_first_word() {
    // Bob's camera flows all along. His "mm-hmm" in Alice's turn gets no decision, so
    // he never appears then; his real turn, decided 0.8 s in, shows him from its first
    // word: his camera was decoded all along (were it resumed at the decision, the cut
    // would wait 0.8 s for it).
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 5000)];
    let mut bob = Person::new("b2", "Bob", BLUE, 660.0);
    bob.talks = vec![(3000, 3600), (5000, 8000)];
    let decisions = [Decision::after(500, 800, "a1"), Decision::after(5000, 800, "b2")];
    let out = record_decisions("backchannel", vec![alice, bob], &decisions, 8000, Network::clean(), Forward::EveryCamera, DEFAULT_LOOKAHEAD);
    let bob_in_alices_turn: Vec<u64> = out.frames.iter().filter(|f| f.t_ms < 4900 && close(f.centre_rgb, BLUE)).map(|f| f.t_ms).collect();
    assert!(bob_in_alices_turn.is_empty(), "Bob shown at {bob_in_alices_turn:?}");
    assert!(share_showing(&out.frames, 600, 4990, RED) > 0.99);
    assert!(tone_in(&out, 3100, 3500, 660.0) > 0.01, "his mm-hmm is heard all the same");
    let b = first_showing(&out.frames, 4000, BLUE).expect("Bob never shown") as i64;
    assert!((b - 5000).abs() <= 34, "Bob's cut at {b} ms, his first word at 5000");
}

#[test]
fn cameras_nobody_sees_are_not_decoded_yet_a_cut_to_one_lands_on_the_first_word() {
    // Alice speaks for 10 s; Bob and Carol's cameras flow all along but no frame draws
    // them, so they stay dormant: nothing decoded, their frames kept from their newest
    // keyframe (these cameras send one every 10 s unless asked). Bob's turn, decided
    // 0.8 s after his first word, still shows him from that word, and never a broken
    // frame: his camera catches up when the cut is announced.
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 10_000)];
    let mut bob = Person::new("b2", "Bob", BLUE, 660.0);
    bob.talks = vec![(10_000, 14_000)];
    let carol = Person::new("c3", "Carol", GREEN, 550.0);
    let carol_ssrc = carol.video_ssrc(2);
    let decisions = [Decision::after(500, 0, "a1"), Decision::after(10_000, 800, "b2")];
    let out = record_decisions("dormant", vec![alice, bob, carol], &decisions, 14_000, Network::clean(), Forward::EveryCamera, DEFAULT_LOOKAHEAD);
    let frame = 1000 / common::FPS as i64 + 1;
    let b = first_showing(&out.frames, 5000, BLUE).expect("Bob never shown") as i64;
    assert!((b - 10_000).abs() <= frame, "Bob's cut at {b} ms, his first word at 10000");
    assert!(share_showing(&out.frames, 600, 9990, RED) > 0.99, "Alice until then");
    for f in out.frames.iter().filter(|f| f.t_ms > 600) {
        assert!(close(f.centre_rgb, RED) || close(f.centre_rgb, BLUE), "a frame at {} ms shows {:?}", f.t_ms, f.centre_rgb);
    }
    // Three cameras sent 25 pictures a second for 14 s (1050); decoded were Alice's
    // until her turn ended, Bob's catch-up and his turn: under 600.
    assert!(out.camera_pictures_decoded < 600, "{} camera pictures decoded: the hidden cameras were decoded", out.camera_pictures_decoded);
    // Carol's camera is asked for a keyframe when her catch-up would pass 3 s, so a cut
    // to her never decodes more than about 4.5 s; and not more often than that. (The
    // first second's request is every camera's, for its first keyframe.)
    let carol_asked: Vec<u64> = out.keyframe_requests_at.iter().filter(|(t, ssrc)| *ssrc == carol_ssrc && *t > 1000).map(|(t, _)| *t).collect();
    assert!((2..=3).contains(&carol_asked.len()), "Carol's camera asked for keyframes at {carol_asked:?} ms");
    assert!(carol_asked.windows(2).all(|w| w[1] - w[0] >= 3000), "too often: {carol_asked:?}");
}

#[test]
fn a_dormant_camera_cut_to_late_shows_its_newest_picture_on_the_cut() {
    // Bob's turn is decided 1.4 s after his first word, 0.1 s past the lookahead: the cut
    // lands on the first frame not yet rendered, and his dormant camera, which has kept
    // seconds of frames from its last keyframe, decodes all of them in that frame. He
    // flashes white just after his first word: the cut shows the flash (his newest
    // picture), not the older one the catch-up started from.
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 10_000)];
    let mut bob = Person::new("b2", "Bob", BLUE, 660.0);
    bob.talks = vec![(10_000, 12_000)];
    bob.flashes = vec![10_040];
    let carol = Person::new("c3", "Carol", GREEN, 550.0);
    let decisions = [Decision::after(500, 0, "a1"), Decision::after(10_000, 1400, "b2")];
    let out = record_decisions("dormant-late", vec![alice, bob, carol], &decisions, 12_000, Network::clean(), Forward::EveryCamera, DEFAULT_LOOKAHEAD);
    let cut = out.frames.iter().find(|f| f.t_ms > 9000 && !close(f.centre_rgb, RED)).expect("Bob never shown");
    assert!((10_050..10_140).contains(&cut.t_ms), "Bob's cut at {} ms: the decision came at 11400, 1300 ms of lookahead", cut.t_ms);
    assert!(close(cut.centre_rgb, [255, 255, 255]), "the cut's frame at {} ms shows {:?}, not Bob's newest picture (his flash)", cut.t_ms, cut.centre_rgb);
    assert!(share_showing(&out.frames, 10_300, 12_000, BLUE) > 0.99, "Bob after his flash");
}

#[test]
fn a_cut_never_goes_before_an_earlier_one() {
    // Bob's turn is decided first (onset 3000); a decision for Carol follows, saying
    // her turn began at 2900, before his cut: hers lands with his, at 3000, and Bob's
    // turn carries no frame. What shows never goes back in time.
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 2800)];
    let bob = Person::new("b2", "Bob", BLUE, 660.0);
    let mut carol = Person::new("c3", "Carol", GREEN, 550.0);
    carol.talks = vec![(2900, 6000)];
    let decisions = [Decision::after(500, 0, "a1"), Decision::after(3000, 800, "b2"), Decision { decided: 3850, since: 2900, who: Some("c3") }];
    let out = record_decisions("clamp", vec![alice, bob, carol], &decisions, 6000, Network::clean(), Forward::EveryCamera, DEFAULT_LOOKAHEAD);
    let c = first_showing(&out.frames, 2000, GREEN).expect("Carol never shown") as i64;
    assert!((c - 3000).abs() <= 34, "Carol's cut at {c} ms: at Bob's, not before it");
    assert!(share_showing(&out.frames, 600, 2990, RED) > 0.99, "Alice until then");
    let bob: Vec<u64> = out.frames.iter().filter(|f| close(f.centre_rgb, BLUE)).map(|f| f.t_ms).collect();
    assert!(bob.len() <= 1, "Bob shown at {bob:?}");
}

#[test]
fn a_decision_later_than_the_lookahead_cuts_as_soon_as_it_can_never_before_the_last() {
    // With a 0.5 s lookahead, a decision 0.8 s late cannot reach back to the word: the
    // cut lands at the first frame not rendered yet, about 0.3 s late, and the frames
    // in between hold the previous speaker (no grey frame, no flicker).
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 3000)];
    let mut bob = Person::new("b2", "Bob", BLUE, 660.0);
    bob.talks = vec![(3000, 6000)];
    let decisions = [Decision::after(500, 0, "a1"), Decision::after(3000, 800, "b2")];
    let out = record_decisions("late", vec![alice, bob], &decisions, 6000, Network::clean(), Forward::EveryCamera, Duration::from_millis(500));
    let b = first_showing(&out.frames, 2000, BLUE).expect("Bob never shown");
    assert!((3250..3400).contains(&b), "Bob's cut at {b} ms");
    for f in out.frames.iter().filter(|f| f.t_ms > 600) {
        assert!(close(f.centre_rgb, RED) || close(f.centre_rgb, BLUE), "a frame at {} ms shows {:?}", f.t_ms, f.centre_rgb);
    }
    let runs = out.frames.iter().filter(|f| f.t_ms > 600).map(|f| close(f.centre_rgb, BLUE)).collect::<Vec<_>>();
    assert_eq!(runs.windows(2).filter(|w| w[0] != w[1]).count(), 1, "one switch, no flicker");
}

#[test]
fn with_only_the_speakers_camera_forwarded_the_cut_waits_for_its_keyframe_holding_the_last_frame() {
    // The old way (`--recording-switch pause-resume`, Bob's camera resumed only at the
    // decision): the onset has no picture, so the previous frame is held, never a grey
    // or broken one, and Bob shows from his first keyframe.
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 3000)];
    let mut bob = Person::new("b2", "Bob", BLUE, 660.0);
    bob.talks = vec![(3000, 6000)];
    let decisions = [Decision::after(500, 0, "a1"), Decision::after(3000, 800, "b2")];
    let out = record_decisions("speaker-only", vec![alice, bob], &decisions, 6000, Network::clean(), Forward::SpeakerOnly, DEFAULT_LOOKAHEAD);
    let b = first_showing(&out.frames, 2000, BLUE).expect("Bob never shown");
    assert!((3790..3900).contains(&b), "Bob shown from {b} ms: his camera came at the decision");
    assert!(share_showing(&out.frames, 600, b, RED) > 0.99, "Alice's last frame is held until then");
}

#[test]
fn a_file_cut_off_part_way_through_a_fragment_header_opens_again_once_trimmed() {
    // What a full disk or a kill can leave, about one time in a hundred: the last
    // fragment's header cut short. FFmpeg refuses such a file whole; trimmed back to the
    // last whole fragment, it plays up to there.
    let alice = Person::new("a1", "Alice", RED, 440.0);
    let out = record("trim", vec![alice], &[(0, Some("a1"))], 4000, Network::clean());
    let bytes = std::fs::read(&out.path).unwrap();
    let mut pos = 0;
    let mut last_moof = None;
    let mut fragments = 0;
    while pos + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        // The biggest fragment header (a whole second's, not the short tail's): the file
        // ends part-way through it, as the disk filled there.
        if &bytes[pos + 4..pos + 8] == b"moof" {
            fragments += 1;
            // After the first (a second of media stays).
            if fragments > 1 && last_moof.is_none_or(|(_, s)| size > s) {
                last_moof = Some((pos, size));
            }
        }
        pos += size;
    }
    let (moof, size) = last_moof.expect("a fragmented file");
    assert!(size > 200, "a fragment header of {size} bytes");
    let cut = out.path.with_file_name("trim-cut.mp4");
    // The file ending at each point of that header: FFmpeg refuses it at some of them;
    // trimmed, it opens at every one, up to the fragment before.
    let mut refused = 0;
    for at in (8..size).step_by(8) {
        std::fs::write(&cut, &bytes[..moof + at]).unwrap();
        refused += usize::from(compositor::review::probe::video_frames(&cut).is_err());
        assert_eq!(compositor::output::mp4::trim_partial_box(&cut).unwrap(), at as u64);
        let frames = compositor::review::probe::video_frames(&cut).unwrap_or_else(|e| panic!("cut at {at} of {size}: it does not open once trimmed: {e}"));
        assert!(frames.len() >= 25, "{} frames", frames.len());
        assert!(close(frames.last().unwrap().corner_rgb, RED), "{:?}", frames.last().unwrap().corner_rgb);
    }
    assert!(refused > 0, "FFmpeg opened the file cut at every point of a fragment's header: the trim is not needed");
    std::fs::remove_file(&cut).unwrap();
}

#[test]
fn a_grid_shows_everyone_in_their_own_tile_and_a_layout_change_mid_recording_takes_effect() {
    // Three cameras in a 2x2 grid (the fourth quarter black), then the speaker layout
    // from 4 s: the file changes there, and the sidecar says so.
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 2500)];
    let mut bob = Person::new("b2", "Bob", BLUE, 660.0);
    bob.talks = vec![(2500, 6000)];
    let carol = Person::new("c3", "Carol", GREEN, 550.0);
    let decisions = [Decision::after(500, 800, "a1"), Decision::after(2500, 800, "b2")];
    let out = record_layouts("grid", vec![alice, bob, carol], &decisions, 6000, Network::clean(), Forward::EveryCamera, DEFAULT_LOOKAHEAD, LayoutKind::Grid, &[(4000, LayoutKind::Speaker, 0)]);
    // Each quarter's upper part (away from the name labels), frame by frame.
    let patches = compositor::review::probe::video_patches(&out.path, &[(0.25, 0.15), (0.75, 0.15), (0.25, 0.65), (0.75, 0.65)]).unwrap();
    let quarters = |t_ms: u64| -> Vec<[u8; 3]> { patches.iter().find(|(t, _)| *t >= t_ms).expect("a frame then").1.clone() };
    let grid = quarters(2000);
    assert!(close(grid[0], RED) && close(grid[1], BLUE) && close(grid[2], GREEN), "the grid at 2 s: {grid:?}");
    assert!(grid[3].iter().all(|&c| c < 30), "the empty quarter is black: {:?}", grid[3]);
    let speaker = quarters(5000);
    assert!(speaker.iter().all(|c| close(*c, BLUE)), "Bob fills the frame at 5 s: {speaker:?}");
    assert_eq!(out.sidecar.layout, LayoutKind::Grid);
    let changes: Vec<_> = out.sidecar.layout_changes.iter().map(|c| (c.at_ms, c.layout)).collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!((changes[0].0 as i64 - 4000).abs() <= 60 && changes[0].1 == LayoutKind::Speaker, "{changes:?}");
}

#[test]
fn a_layout_changes_the_file_when_it_was_chosen_even_one_chosen_just_before_the_end() {
    // The room's picker sends a choice once it has been held 0.8 s, and at Stop at once:
    // each says how long ago it was chosen, and the file changes there.
    // - speaker, chosen at 2.2 s, arrives at 3 s: Carol joins at 2.5 s between the two
    //   (a change of who is present, queued for the output, which the layout's must not
    //   wait behind);
    // - grid chosen at 4.4 s, then speaker-strip said to be chosen before it (two hosts):
    //   the one asked last wins from the first's moment, one change in the file;
    // - grid chosen at 5.2 s, arriving 100 ms before the end.
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(300, 6000)];
    let bob = Person::new("b2", "Bob", BLUE, 660.0);
    let mut carol = Person::new("c3", "Carol", GREEN, 550.0);
    carol.present = (2500, 6000);
    let decisions = [Decision::after(300, 800, "a1")];
    let changes = [(3000, LayoutKind::Speaker, 800), (4500, LayoutKind::Grid, 100), (4520, LayoutKind::SpeakerStrip, 900), (5900, LayoutKind::Grid, 700)];
    let out = record_layouts("chosen", vec![alice, bob, carol], &decisions, 6000, Network::clean(), Forward::EveryCamera, DEFAULT_LOOKAHEAD, LayoutKind::Grid, &changes);
    let at: Vec<_> = out.sidecar.layout_changes.iter().map(|c| (c.at_ms, c.layout)).collect();
    assert_eq!(at.iter().map(|c| c.1).collect::<Vec<_>>(), [LayoutKind::Speaker, LayoutKind::SpeakerStrip, LayoutKind::Grid], "{at:?}");
    for ((got, _), want) in at.iter().zip([2200, 4400, 5200]) {
        assert!((*got as i64 - want).abs() <= 60, "a change at {got} ms, chosen at {want}: {at:?}");
    }
    assert_eq!(out.sidecar.layout, LayoutKind::Grid);
    // The frames agree: Alice alone from 2.2 s (then over the strip), the grid again from
    // 5.2 s to the end.
    let patches = compositor::review::probe::video_patches(&out.path, &[(0.25, 0.3), (0.75, 0.3)]).unwrap();
    let halves = |t_ms: u64| -> Vec<[u8; 3]> { patches.iter().find(|(t, _)| *t >= t_ms).expect("a frame then").1.clone() };
    assert!(halves(1900).iter().zip([RED, BLUE]).all(|(c, want)| close(*c, want)), "the grid before: {:?}", halves(1900));
    assert!(halves(2400).iter().all(|c| close(*c, RED)), "Alice alone from 2.2 s: {:?}", halves(2400));
    assert!(halves(4900).iter().all(|c| close(*c, RED)), "Alice above the strip at 4.9 s: {:?}", halves(4900));
    assert!(halves(5600).iter().zip([RED, BLUE]).all(|(c, want)| close(*c, want)), "the grid again in the last 0.8 s: {:?}", halves(5600));
}

#[test]
fn with_a_short_lookahead_a_layout_chosen_further_back_changes_at_the_first_frame_not_written() {
    // A lookahead of 300 ms (the least) keeps 300 ms unwritten: a choice 800 ms old
    // arriving at 3 s changes the file where the output is, about 2.7 s, never in frames
    // written already.
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(300, 4000)];
    let bob = Person::new("b2", "Bob", BLUE, 660.0);
    let decisions = [Decision::after(300, 800, "a1")];
    let out = record_layouts("short", vec![alice, bob], &decisions, 4000, Network::clean(), Forward::EveryCamera, compositor::engine::MIN_LOOKAHEAD, LayoutKind::Grid, &[(3000, LayoutKind::Speaker, 800)]);
    let at: Vec<_> = out.sidecar.layout_changes.iter().map(|c| (c.at_ms, c.layout)).collect();
    assert_eq!(at.len(), 1, "{at:?}");
    assert!((2640..=2760).contains(&at[0].0), "at the output's place when it arrived, 2.7 s: {at:?}");
}

#[test]
fn a_screen_share_fills_the_frame_with_the_speaker_in_the_corner_and_ends_with_the_share() {
    // Carol shares a yellow screen from 1.5 s to 5 s while Alice, then Bob, speak.
    const YELLOW: [u8; 3] = [230, 200, 30];
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(500, 3000)];
    let mut bob = Person::new("b2", "Bob", BLUE, 660.0);
    bob.talks = vec![(3000, 7000)];
    let mut carol = Person::new("c3", "Carol", GREEN, 550.0);
    carol.shares = vec![(1500, 5000, YELLOW)];
    let decisions = [Decision::after(500, 800, "a1"), Decision::after(3000, 800, "b2")];
    let out = record_layouts("share", vec![alice, bob, carol], &decisions, 7000, Network::clean(), Forward::EveryCamera, DEFAULT_LOOKAHEAD, LayoutKind::Speaker, &[]);
    // The share's upper left (away from the corner), and the corner's picture.
    let patches = compositor::review::probe::video_patches(&out.path, &[(0.3, 0.3), (0.875, 0.8)]).unwrap();
    let at = |t_ms: u64| -> Vec<[u8; 3]> { patches.iter().find(|(t, _)| *t >= t_ms).expect("a frame then").1.clone() };
    for t in (1800..2900).step_by(100) {
        let p = at(t);
        assert!(close(p[0], YELLOW) && close(p[1], RED), "at {t} ms the share with Alice in the corner: {p:?}");
    }
    for t in (3300..4900).step_by(100) {
        let p = at(t);
        assert!(close(p[0], YELLOW) && close(p[1], BLUE), "at {t} ms the share with Bob (the speaker now) in the corner: {p:?}");
    }
    for t in [1000, 1300, 5100, 5500, 6500] {
        let p = at(t);
        let speaker = if t < 3000 { RED } else { BLUE };
        assert!(close(p[0], speaker) && close(p[1], speaker), "at {t} ms no share, the speaker full frame: {p:?}");
    }
    // The sidecar has the share, from its first picture to its end, in the file's time.
    let shares = &out.sidecar.screen_shares;
    assert_eq!(shares.len(), 1, "{shares:?}");
    let share = &shares[0];
    assert_eq!((share.participant_id.as_str(), share.name.as_str()), ("c3", "Carol"));
    assert!((1500..1700).contains(&share.start_ms), "{share:?}");
    assert!(share.end_ms.is_some_and(|e| (5000..5100).contains(&e)), "{share:?}");
}

#[test]
fn simulcast_layer_switches_under_loss_never_show_a_broken_frame() {
    // Alice's camera goes from the lowest layer to the top one and back to the middle,
    // as the SFU switches it, on a network that loses 5 % and reorders 10 %: every
    // frame of her turn shows her, at every size (a lost keyframe holds the last one).
    let mut alice = Person::new("a1", "Alice", RED, 440.0);
    alice.talks = vec![(300, 6000)];
    alice.layer_switches = vec![(2000, 1280, 720), (4000, 640, 360)];
    let decisions = [Decision::after(300, 800, "a1")];
    let net = Network { delay: 20, reorder: 0.1, loss: 0.05 };
    let out = record_decisions("layers", vec![alice], &decisions, 6000, net, Forward::EveryCamera, DEFAULT_LOOKAHEAD);
    let shown: Vec<_> = out.frames.iter().filter(|f| f.t_ms >= 800 && f.t_ms < 5800).collect();
    assert!(shown.len() > 140, "{} frames", shown.len());
    for f in shown {
        assert!(close(f.centre_rgb, RED), "at {} ms: {:?}", f.t_ms, f.centre_rgb);
    }
    assert!(out.keyframe_requests >= 1, "losses ask for keyframes");
}

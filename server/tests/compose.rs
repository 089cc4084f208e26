//! The compositor as a process (`podium compose`), fed real RTP over UDP in real time:
//! how each way of ending leaves the file. kill -9 (the file plays, all but its last
//! second), stop (final, under a second), a server that vanishes (final all the same),
//! a full disk (a clear error, the file up to then plays), and a server restarted over
//! a cut-off recording (listed as interrupted).
mod common;

use common::compose::{feed, feed_flashing, Compose, ID};
use common::synthetic::{spawn_sender, spawn_sender_on, Camera, Options};
use compositor::control::{Codec, FromCompositor, MediaKind, Source, ToCompositor, CONTROL_VERSION};
use compositor::review::probe;
use compositor::output::sidecar::{Sidecar, Status};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(format!("{ID}.mp4")), dir.join(format!("{ID}.json")))
}

#[test]
fn a_stop_finalizes_in_under_a_second_with_its_chapters() {
    let dir = common::temp_dir("compose-stop");
    let mut c = Compose::spawn(&dir, None);
    let stop = Arc::new(AtomicBool::new(false));
    let sender = feed(c.port, Arc::clone(&stop));
    std::thread::sleep(Duration::from_secs(3));
    let asked = Instant::now();
    c.send(&ToCompositor::Stop { v: CONTROL_VERSION });
    let outcome = c.next_outcome(Duration::from_secs(5));
    let took = asked.elapsed();
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    assert!(matches!(outcome, Some(FromCompositor::Finished { .. })), "{outcome:?}");
    assert!(c.wait().success());
    eprintln!("stop to final file: {} ms", took.as_millis());
    let (mp4, json) = files(&dir);
    let sidecar = Sidecar::read(&json).unwrap();
    assert_eq!(sidecar.status, Status::Finished);
    assert_eq!(common::chapters(&mp4), ["Ada"]);
    let duration = probe::duration_ms(&mp4).unwrap();
    assert!((2800..3600).contains(&duration), "{duration} ms for a 3 s recording");
    // A stop takes the lookahead's worth of media with it: nothing said is cut.
    assert!((duration as i64 - sidecar.duration_ms as i64).abs() < 100, "{duration} vs {}", sidecar.duration_ms);
}

/// The compositor hears the server's transport alone (`--peer`). A sender elsewhere
/// that knows the SSRCs of a participant the server is not sending (Bob's, muted) is
/// not recorded: without the filter its green camera took the stage and its voice
/// was mixed in, and the compositor sent its keyframe requests, SSRCs and all, to
/// whoever sent last.
#[test]
fn only_the_servers_transport_is_heard() {
    let dir = common::temp_dir("compose-peer");
    // Stands for the server's PlainTransport: bound before the compositor starts.
    let transport = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut c = Compose::spawn_with(&dir, None, Some(transport.local_addr().unwrap()));
    let source = |ssrc, participant: &str, name: &str, kind, codec, payload_type, clock_rate| Source {
        ssrc, participant_id: participant.into(), name: name.into(), kind, codec, payload_type, clock_rate, paused: false, screen: false,
    };
    c.send(&ToCompositor::Sources {
        v: CONTROL_VERSION,
        sources: vec![
            source(11, "p1", "Ada", MediaKind::Audio, Codec::Opus, 111, 48_000),
            source(12, "p1", "Ada", MediaKind::Video, Codec::Vp8, 96, 90_000),
            source(21, "p2", "Bob", MediaKind::Audio, Codec::Opus, 111, 48_000),
            source(22, "p2", "Bob", MediaKind::Video, Codec::Vp8, 96, 90_000),
        ],
    });
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    c.send(&ToCompositor::Speaker { v: CONTROL_VERSION, participant_id: Some("p2".into()), since: now, decided: now });
    let stop = Arc::new(AtomicBool::new(false));
    let talking = || Arc::new(AtomicBool::new(true));
    // Ada, through the transport: red, 660 Hz. The forger, as Bob: green, 440 Hz.
    let ada = spawn_sender_on(transport, c.port, 11, 12, Options::new(Camera::Live([200, 40, 40]), 660.0), talking(), Arc::clone(&stop));
    let forger = spawn_sender(c.port, 21, 22, Options::new(Camera::Live([40, 200, 40]), 440.0), talking(), Arc::clone(&stop));
    std::thread::sleep(Duration::from_secs(4));
    c.send(&ToCompositor::Stop { v: CONTROL_VERSION });
    let outcome = c.next_outcome(Duration::from_secs(5));
    stop.store(true, Ordering::SeqCst);
    ada.join().unwrap();
    forger.join().unwrap();
    assert!(matches!(outcome, Some(FromCompositor::Finished { .. })), "{outcome:?}");

    let (mp4, _) = files(&dir);
    let frames = probe::video_frames(&mp4).unwrap();
    assert!(frames.len() >= 4, "{} frames", frames.len());
    let green = |c: [u8; 3]| c[1] > 150 && c[0] < 110 && c[2] < 110;
    let forged: Vec<u64> = frames.iter().filter(|f| green(f.centre_rgb)).map(|f| f.t_ms).collect();
    assert!(forged.is_empty(), "the forger's camera is on stage at {forged:?} ms");
    let (rate, audio) = probe::audio_mono(&mp4).unwrap();
    let from = rate as usize; // after the first second
    let (ada_voice, forged_voice) = (probe::tone_power(&audio[from..], rate, 660.0), probe::tone_power(&audio[from..], rate, 440.0));
    assert!(ada_voice > 0.005, "Ada, through the server's transport, is not heard ({ada_voice})");
    assert!(forged_voice < ada_voice / 50.0, "the forger is heard: {forged_voice} against Ada's {ada_voice}");
}

#[test]
fn kill_9_leaves_a_file_that_plays_all_but_its_last_second() {
    let dir = common::temp_dir("compose-kill");
    let mut c = Compose::spawn(&dir, None);
    let stop = Arc::new(AtomicBool::new(false));
    let sender = feed(c.port, Arc::clone(&stop));
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(4500));
    c.child.kill().unwrap(); // SIGKILL
    let recorded = started.elapsed().as_millis() as u64;
    c.wait();
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    let (mp4, json) = files(&dir);
    // What a player shows at each 1/30 s (the file holds only pictures that changed).
    let frames = probe::as_shown(&probe::video_frames(&mp4).expect("the cut file must open"), 30);
    let duration = probe::duration_ms(&mp4).unwrap();
    // Output runs the lookahead (1.3 s) behind, and the fragment in progress (up to
    // 1 s) is lost: under 3 s in all.
    eprintln!("kill -9 after {recorded} ms kept {duration} ms: {} ms lost", recorded - duration.min(recorded));
    assert!(duration + 3000 > recorded, "{duration} ms of {recorded} ms kept");
    assert!(frames.len() as u64 >= (duration.saturating_sub(100)) * 30 / 1000, "{} frames in {duration} ms", frames.len());
    assert!(frames.iter().filter(|f| f.t_ms > 500).all(|f| f.centre_rgb[0] > 120 && f.centre_rgb[2] < 120), "a frame that is not the red camera");
    // Its sidecar still says recording: the server will find it cut off.
    assert_eq!(Sidecar::read(&json).unwrap().status, Status::Recording);

    // A server started over the directory lists it as interrupted, chapters mended.
    let server = common::Server::start_in(&dir, &["--workers", "1"]);
    let view: serde_json::Value = ureq::get(&server.url(&format!("/api/recordings/{ID}"))).call().unwrap().body_mut().read_json().unwrap();
    assert_eq!(view["status"], "interrupted", "{view}");
    assert!(view["error"].as_str().unwrap().contains("cut off"), "{view}");
    let listed = view["duration_ms"].as_u64().unwrap();
    assert!(listed.abs_diff(duration) < 100, "listed {listed} ms, file {duration} ms");
    assert_eq!(common::chapters(&mp4), ["Ada"]);
    let list: serde_json::Value = ureq::get(&server.url("/api/recordings")).call().unwrap().body_mut().read_json().unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn a_server_of_another_control_version_is_refused_with_a_clear_error() {
    use std::io::Write;
    let dir = common::temp_dir("compose-version");
    let mut c = Compose::spawn(&dir, None);
    // What a server of the first protocol would send: a speaker with no `since`.
    let stdin = c.stdin.as_mut().unwrap();
    stdin.write_all(b"{\"type\":\"speaker\",\"v\":1,\"participant_id\":\"p1\"}\n").unwrap();
    stdin.flush().unwrap();
    let outcome = c.next_outcome(Duration::from_secs(5));
    let Some(FromCompositor::Failed { message, .. }) = outcome else { panic!("not refused: {outcome:?}") };
    assert!(message.contains("version 1") && message.contains("different builds"), "{message}");
    assert_eq!(c.wait().code(), Some(1));
    let (_, json) = files(&dir);
    let sidecar = Sidecar::read(&json).unwrap();
    assert_eq!(sidecar.status, Status::Failed);
    assert!(sidecar.error.unwrap().contains("version 1"));
}

#[test]
fn a_vanished_server_still_gets_a_final_file() {
    let dir = common::temp_dir("compose-eof");
    let mut c = Compose::spawn(&dir, None);
    let stop = Arc::new(AtomicBool::new(false));
    let sender = feed(c.port, Arc::clone(&stop));
    std::thread::sleep(Duration::from_secs(2));
    drop(c.stdin.take()); // as when the server dies: its end of the pipe closes
    let status = c.wait();
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    assert!(status.success(), "{status}");
    let (mp4, json) = files(&dir);
    assert_eq!(Sidecar::read(&json).unwrap().status, Status::Interrupted);
    assert_eq!(common::chapters(&mp4), ["Ada"]);
    assert!(probe::duration_ms(&mp4).unwrap() >= 1800);
}

#[test]
fn a_full_disk_stops_the_recording_with_a_clear_error_and_the_file_plays() {
    let dir = common::temp_dir("compose-full");
    let disk = common::temp_dir("compose-disk");
    // A private 256 KiB disk for the compositor; what it wrote is copied out after.
    let script = format!(
        "mount -t tmpfs -o size=256k podium-test {disk} && {{podium}}; code=$?; cp {disk}/* {dir}/; exit $code",
        disk = disk.display(),
        dir = dir.display()
    );
    let c = Compose::spawn(&disk, Some(&script));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = feed(c.port, Arc::clone(&stop));
    let outcome = c.next_outcome(Duration::from_secs(60));
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    let Some(FromCompositor::Failed { message, .. }) = outcome else { panic!("{outcome:?}") };
    assert!(message.contains("disk is full"), "{message}");
    let mut c = c;
    assert!(!c.wait().success());
    let (mp4, _) = files(&dir);
    // What a player shows at each 1/30 s (the file holds only pictures that changed).
    let frames = probe::as_shown(&probe::video_frames(&mp4).expect("the file up to the full disk must open"), 30);
    assert!(frames.len() > 30, "only {} frames", frames.len());
}

/// Stops the process `pid` for `stopped`, then lets it run for `running`: a machine
/// that gives it a third of a core, or less.
fn starve(pid: u32, stopped: Duration, running: Duration) {
    // SAFETY: signalling our own child, which we have not reaped.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    std::thread::sleep(stopped);
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    std::thread::sleep(running);
}

#[test]
fn a_compositor_starved_of_cpu_steps_down_then_back_up_and_keeps_its_file_in_sync() {
    let dir = common::temp_dir("compose-starved");
    let mut c = Compose::spawn(&dir, None);
    let stop = Arc::new(AtomicBool::new(false));
    let fed_at = std::time::SystemTime::now();
    // On the camera's frame times (25 fps: every 40 ms), so that each flash's first
    // white frame is captured with its beep: what is measured is the recorder's sync,
    // not the synthetic camera's capture phase (up to a frame late otherwise).
    let flashes: Vec<u64> = (0..22).map(|k| 2000 + k * 1520).collect();
    let sender = feed_flashing(c.port, flashes.clone(), Arc::clone(&stop));
    std::thread::sleep(Duration::from_secs(2));
    // Starved from 2 s, worse and worse (the lag grows: a step, then another), then
    // given the machine back at about 10 s.
    for ms in [600, 700, 900, 1100, 1300, 1500] {
        starve(c.child.id(), Duration::from_millis(ms), Duration::from_millis(400));
    }
    // Ten seconds of room for each step back up.
    std::thread::sleep(Duration::from_secs(26));
    c.send(&ToCompositor::Stop { v: CONTROL_VERSION });
    let outcome = c.next_outcome(Duration::from_secs(10));
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    assert!(matches!(outcome, Some(FromCompositor::Finished { .. })), "{outcome:?}");
    assert!(c.wait().success());

    let (mp4, json) = files(&dir);
    let sidecar = Sidecar::read(&json).unwrap();
    let all: Vec<(u64, &str, u32, bool, bool)> = sidecar.quality_steps.iter().map(|q| (q.at_ms, q.preset.as_str(), q.fps, q.degraded, q.catch_up)).collect();
    eprintln!("quality steps {all:?}, max lag {} ms", sidecar.max_lag_ms);
    // Down: the faster preset, then (the lag still growing) half the frame rate; up
    // again one step at a time, 10 s apart, back to its own settings.
    // (A catch-up is two steps: its start, marked, and the next, which ends it.)
    let ends_catch_up = |i: usize| i > 0 && all[i - 1].4;
    let steps: Vec<(u64, &str, u32, bool)> = all.iter().enumerate().filter(|(i, s)| !s.4 && !ends_catch_up(*i)).map(|(_, s)| (s.0, s.1, s.2, s.3)).collect();
    let kinds: Vec<(&str, u32, bool)> = steps.iter().map(|s| (s.1, s.2, s.3)).collect();
    assert_eq!(kinds, [("ultrafast", 30, true), ("ultrafast", 15, true), ("ultrafast", 30, true), ("superfast", 30, false)], "{all:?}");
    assert!(steps[2].0 >= steps[1].0 + 10_000 && steps[3].0 >= steps[2].0 + 10_000, "a step up at most every 10 s: {all:?}");
    // Where a burst put it more than a second behind (the 1.1 s and longer ones), it
    // caught up at 5 fps, and went on at the ladder's rate once within 300 ms of real
    // time.
    assert!(all.iter().any(|s| s.4), "stopped for up to 1.5 s, it never caught up: {all:?}");
    for (i, start) in all.iter().enumerate().filter(|(_, s)| s.4) {
        let end = all.get(i + 1).filter(|end| !end.4 && end.2 >= 15 && end.0 > start.0);
        assert!(start.2 == 5 && start.3 && end.is_some(), "a catch-up that did not end: {all:?}");
    }
    assert!(sidecar.max_lag_ms < 2000, "{} ms behind at worst", sidecar.max_lag_ms);

    // The file: every frame decodes, a keyframe starts every second, and sound and
    // picture stay together through the steps (the flashes against their beeps).
    let decoded = std::process::Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&mp4).args(["-f", "null", "-"]).output().unwrap();
    assert!(decoded.status.success() && decoded.stderr.is_empty(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let encoded = probe::video_frames(&mp4).unwrap();
    let keyframes: Vec<u64> = encoded.iter().filter(|f| f.keyframe).map(|f| f.t_ms).collect();
    // (The first frame is at 0, where the file's edit list starts; the next second's
    // at 1 s after the AAC priming, 21 ms.)
    assert!(keyframes[0] == 0 && keyframes[1] <= 1022 && keyframes[1..].windows(2).all(|w| w[1] - w[0] <= 1001), "a second without a keyframe: {keyframes:?}");
    let shown = probe::as_shown(&encoded, 30);
    let (rate, audio) = probe::audio_mono(&mp4).unwrap();
    let t0 = compositor::output::sidecar::parse_rfc3339_ms(&sidecar.started_at).unwrap();
    let fed = fed_at.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let (mut offsets, mut cut_beeps) = (Vec::new(), Vec::new());
    for flash in &flashes {
        let from = (fed + *flash as i64 - t0 - 500).max(0) as u64;
        let Some(video) = shown.iter().find(|f| f.t_ms >= from && f.t_ms < from + 1000 && f.centre_rgb.iter().all(|&c| c > 200)) else { continue };
        let a = (from * u64::from(rate) / 1000) as usize;
        let onset = audio[a.min(audio.len())..].iter().position(|s| s.abs() > 0.1).expect("a flash without its beep");
        // The beep is five 20 ms packets. Starved, the recorder may lose one at its
        // edge (its socket's queue overflows while it is stopped): concealed, the beep
        // then starts (or ends) 20 ms off where it was placed, which is loss, not sync,
        // and such a beep says nothing of sync. A whole beep is kept.
        let heard = &audio[(a + onset).min(audio.len())..(a + onset + rate as usize * 300 / 1000).min(audio.len())];
        let length_ms = heard.iter().rposition(|s| s.abs() > 0.1).map_or(0, |end| (end + 1) * 1000 / rate as usize);
        if length_ms < 90 {
            cut_beeps.push((*flash, length_ms));
            continue;
        }
        let beep = ((a + onset) as u64 * 1000).div_ceil(u64::from(rate));
        // The rate frames were drawn at there: a picture shows from the drawn frame
        // nearest its time, so at 15 fps it may show up to 33 ms early or late where
        // 30 fps allows 17, at a catch-up's 5 fps 100 ms. That is the picture's own
        // granularity, allowed for on top of the bound; the sound is never moved.
        let fps = sidecar.quality_steps.iter().take_while(|q| q.at_ms <= video.t_ms).last().map_or(30, |q| q.fps);
        let allowed = 45 + (1000 / i64::from(fps) - 1000 / 30) / 2;
        offsets.push((video.t_ms as i64 - beep as i64, fps, allowed));
    }
    eprintln!("A/V offsets through the steps (ms, fps drawn, allowed): {offsets:?}; beeps cut by a loss (flash, ms heard): {cut_beeps:?}");
    assert!(offsets.len() >= 15, "only {} of {} flashes found", offsets.len(), flashes.len());
    assert!(offsets.iter().all(|(o, _, allowed)| o.abs() <= *allowed), "sound and picture apart: {offsets:?}");
    assert!(offsets.iter().filter(|(_, fps, _)| *fps == 30).all(|(o, _, _)| o.abs() <= 45), "apart at the full rate: {offsets:?}");
}

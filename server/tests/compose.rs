//! The compositor as a process (`podium compose`), fed real RTP over UDP in real time:
//! how each way of ending leaves the file. kill -9 (the file plays, all but its last
//! second), stop (final, under a second), a server that vanishes (final all the same),
//! a full disk (a clear error, the file up to then plays), and a server restarted over
//! a cut-off recording (listed as interrupted).
mod common;

use common::compose::{feed, Compose, ID};
use compositor::control::{FromCompositor, ToCompositor, CONTROL_VERSION};
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
    let frames = probe::video_frames(&mp4).expect("the cut file must open");
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
    let frames = probe::video_frames(&mp4).expect("the file up to the full disk must open");
    assert!(frames.len() > 30, "only {} frames", frames.len());
}

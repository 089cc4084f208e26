//! The compositor as a process (`podium compose`), fed real RTP over UDP in real time:
//! how each way of ending leaves the file. kill -9 (the file plays, all but its last
//! second), stop (final, under a second), a server that vanishes (final all the same),
//! a full disk (a clear error, the file up to then plays), and a server restarted over
//! a cut-off recording (listed as interrupted).
mod common;

use compositor::control::{self, Codec, FromCompositor, MediaKind, Source, ToCompositor, CONTROL_VERSION};
use compositor::probe;
use compositor::sidecar::{Sidecar, Status};
use compositor::synth::{self, AudioSource, Pattern, VideoSource};
use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const ID: &str = "20261202-120000-proc01";

struct Compose {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: mpsc::Receiver<FromCompositor>,
    port: u16,
}

impl Compose {
    /// `podium compose` writing into `dir`; `wrap` runs it through another command
    /// (a shell that mounts a small disk first).
    fn spawn(dir: &Path, wrap: Option<&str>) -> Compose {
        let args = format!(
            "compose --id {ID} --room proc --output {out} --sidecar {side} --recording-size 320x180 --recording-fps 30",
            out = dir.join(format!("{ID}.mp4")).display(),
            side = dir.join(format!("{ID}.json")).display()
        );
        let bin = env!("CARGO_BIN_EXE_podium");
        let mut command = match wrap {
            None => {
                let mut c = Command::new(bin);
                c.args(args.split(' '));
                c
            }
            Some(script) => {
                let mut c = Command::new("unshare");
                c.args(["--map-root-user", "--mount", "sh", "-c", &script.replace("{podium}", &format!("{bin} {args}"))]);
                c
            }
        };
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(m) = control::from_line::<FromCompositor>(&line) {
                    let _ = tx.send(m);
                }
            }
        });
        let port = match messages.recv_timeout(Duration::from_secs(10)).expect("no ready") {
            FromCompositor::Ready { rtp_port, .. } => rtp_port,
            other => panic!("not ready: {other:?}"),
        };
        let mut c = Compose { stdin: child.stdin.take(), child, messages, port };
        let source = |ssrc, kind, codec, payload_type, clock_rate| Source { ssrc, participant_id: "p1".into(), name: "Ada".into(), kind, codec, payload_type, clock_rate, paused: false };
        c.send(&ToCompositor::Sources { v: CONTROL_VERSION, sources: vec![source(11, MediaKind::Audio, Codec::Opus, 111, 48_000), source(12, MediaKind::Video, Codec::Vp8, 96, 90_000)] });
        c.send(&ToCompositor::Speaker { v: CONTROL_VERSION, participant_id: Some("p1".into()) });
        c
    }

    fn send(&mut self, message: &ToCompositor) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(control::to_line(message).as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The next message that is not progress, within `limit`.
    fn next_outcome(&self, limit: Duration) -> Option<FromCompositor> {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.messages.recv_timeout(left) {
                Ok(FromCompositor::Progress { .. } | FromCompositor::Warning { .. }) => {}
                Ok(m) => return Some(m),
                Err(_) => return None,
            }
        }
        None
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a participant's media (a moving red picture at 25 fps, a 440 Hz voice) to the
/// compositor in real time until `stop`, answering its keyframe requests.
fn feed(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(("127.0.0.1", port)).unwrap();
        socket.set_nonblocking(true).unwrap();
        let mut cam = VideoSource::new(12, 96, 320, 180, 25).unwrap();
        let mut mic = AudioSource::new(11, 111).unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 1500];
        for tick in 0u64.. {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let t = tick * 20;
            while let Ok(n) = socket.recv(&mut buf) {
                if !compositor::rtp::pli_targets(&buf[..n]).is_empty() {
                    cam.request_keyframe();
                }
            }
            let _ = socket.send(&mic.next_packet(&synth::tone(440.0, 0.3, t * 48, 960)).unwrap());
            if tick % 2 == 0 {
                for p in cam.next_frame(Pattern::Moving([200, 40, 40]), t).unwrap() {
                    let _ = socket.send(&p.to_bytes());
                }
            }
            if tick % 50 == 5 {
                let ntp = 3_900_000_000_000.0 + t as f64;
                let _ = socket.send(&synth::sender_report(12, ntp, cam.timestamp_at(t)));
                let _ = socket.send(&synth::sender_report(11, ntp, mic.timestamp_of(t * 48)));
            }
            if let Some(wait) = (start + Duration::from_millis((tick + 1) * 20)).checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    })
}

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
    // A stop takes the latency's worth of media with it: nothing said is cut.
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
    // Output runs 0.3 s behind, and the fragment in progress (up to 1 s) is lost.
    assert!(duration + 1500 >= recorded, "{duration} ms of {recorded} ms kept");
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

//! `podium compose` as a process, fed real RTP in real time: one participant ("Ada",
//! a moving red camera, a 440 Hz voice), as the server's recorder would.
use compositor::control::{self, Codec, FromCompositor, MediaKind, Source, ToCompositor, CONTROL_VERSION};
use compositor::synth::Pattern;
use super::synthetic::{spawn_sender, Camera, Options};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub const ID: &str = "20261202-120000-proc01";

pub struct Compose {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    messages: mpsc::Receiver<FromCompositor>,
    pub port: u16,
}

impl Compose {
    /// `podium compose` writing into `dir`; `wrap` runs it through another command
    /// (a shell that mounts a small disk first).
    pub fn spawn(dir: &Path, wrap: Option<&str>) -> Compose {
        Self::spawn_with(dir, wrap, None)
    }

    /// As [`Compose::spawn`], hearing only `peer` (`--peer`, as the recorder starts it).
    pub fn spawn_with(dir: &Path, wrap: Option<&str>, peer: Option<std::net::SocketAddr>) -> Compose {
        let mut args = format!(
            "compose --id {ID} --room proc --output {out} --sidecar {side} --recording-size 320x180 --recording-fps 30",
            out = dir.join(format!("{ID}.mp4")).display(),
            side = dir.join(format!("{ID}.json")).display()
        );
        if let Some(peer) = peer {
            args.push_str(&format!(" --peer {peer}"));
        }
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
        let source = |ssrc, kind, codec, payload_type, clock_rate| Source { ssrc, participant_id: "p1".into(), name: "Ada".into(), kind, codec, payload_type, clock_rate, paused: false, screen: false };
        c.send(&ToCompositor::Sources { v: CONTROL_VERSION, sources: vec![source(11, MediaKind::Audio, Codec::Opus, 111, 48_000), source(12, MediaKind::Video, Codec::Vp8, 96, 90_000)] });
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        c.send(&ToCompositor::Speaker { v: CONTROL_VERSION, participant_id: Some("p1".into()), since: now, decided: now });
        c
    }

    pub fn send(&mut self, message: &ToCompositor) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(control::to_line(message).as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The next message that is not progress (or a warning, or a quality step), within
    /// `limit`.
    pub fn next_outcome(&self, limit: Duration) -> Option<FromCompositor> {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.messages.recv_timeout(left) {
                Ok(FromCompositor::Progress { .. } | FromCompositor::Warning { .. } | FromCompositor::Quality { .. }) => {}
                Ok(m) => return Some(m),
                Err(_) => return None,
            }
        }
        None
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a participant's media (a moving red camera at 25 fps, a 440 Hz voice) to the
/// compositor in real time until `stop`, answering its keyframe requests.
pub fn feed(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let camera = Camera::Replay { pattern: Pattern::Moving([200, 40, 40]), width: 320, height: 180, seconds: 4 };
    spawn_sender(port, 11, 12, Options::new(camera, 440.0), Arc::new(AtomicBool::new(true)), stop)
}

/// The same participant with a live camera that flashes white exactly when the
/// microphone beeps, at `flashes` (ms after this call), silent otherwise: the beeps'
/// onsets stand out.
pub fn feed_flashing(port: u16, flashes: Vec<u64>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let mut options = Options::new(Camera::Live([200, 40, 40]), 440.0);
    options.flashes = flashes;
    spawn_sender(port, 11, 12, options, Arc::new(AtomicBool::new(false)), stop)
}

/// A finished recording of `seconds` in `dir`, made by a real compositor.
pub fn record_for(dir: &Path, seconds: u64) {
    let mut c = Compose::spawn(dir, None);
    let stop = Arc::new(AtomicBool::new(false));
    let sender = feed(c.port, Arc::clone(&stop));
    std::thread::sleep(Duration::from_secs(seconds));
    c.send(&ToCompositor::Stop { v: CONTROL_VERSION });
    assert!(matches!(c.next_outcome(Duration::from_secs(10)), Some(FromCompositor::Finished { .. })));
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    c.wait();
}

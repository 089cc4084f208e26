//! The browser-compositing recorder, as LiveKit Egress and Jitsi Jibri record: a
//! Chromium window on an Xvfb display shows the meeting's own room page, joined as a
//! viewer, and `ffmpeg` grabs the display (x11grab) and the browser's sound (a
//! PulseAudio null sink's monitor) into an mp4. It records the same synthetic 4-person
//! meeting at the same time as Podium's compositor, and both are measured over the same
//! window: every process of the browser recorder (Xvfb, every Chromium process,
//! PulseAudio, ffmpeg) against `podium compose`.
//!
//! The viewer joins by URL alone: `/rooms/ROOM?name=Recorder&autojoin=1&camera=0&mic=0`
//! (docs/api.md) opens no device and produces nothing, so the SFU gets no media from it;
//! the bench checks that the room holds no producer of it. It still appears in the
//! meeting as a participant (its own name card in the page's filmstrip): Jibri joins as
//! a hidden participant, a role Podium does not have.
//!
//! Both files are checked to show the meeting (whose camera is on the stage, whose voice
//! is heard); `PODIUM_BENCH_BROWSER_FRAMES=DIR` saves a frame from the middle of each.
//!
//! Needs `Xvfb`, `pulseaudio`/`pactl`, `xdpyinfo` (x11-utils) and Debian's `chromium`
//! (scripts/setup.sh installs them).
use super::{compositors, cmdline, cpu_seconds, rotate_speakers, Env, COLOURS, HZ, IP, NAMES};
use compositor::review::probe;
use server::http::{AppState, Security};
use server::recording::switcher::SwitchMode;
use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROOM: &str = "browser";
const VIEWER: &str = "Recorder";
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const FPS: u32 = 30;
const WARMUP: Duration = Duration::from_secs(5);
const WINDOW: Duration = Duration::from_secs(20);
const SINK: &str = "podium_bench";

pub async fn run(env: &Env) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| c.lines().find(|l| l.starts_with("model name")).and_then(|l| Some(l.split(':').nth(1)?.trim().to_string()))).unwrap_or_default();
    println!("\n## browser: the same 4-person meeting (simulcast VP8 25 fps, mesh forwarded) recorded at once by Podium at its default (1280x720@30, x264 superfast CAVLC, mono AAC) and by a browser-compositing recorder (Xvfb + Chromium showing the room page + PulseAudio + ffmpeg x11grab, as LiveKit Egress and Jitsi Jibri: 1280x720@30 x264 veryfast, AAC), {} s measured after {} s, on {} cores ({cpu})\n", WINDOW.as_secs(), WARMUP.as_secs(), std::thread::available_parallelism().map_or(0, |n| n.get()));
    let people = env.simulcast_meeting(ROOM, 4, true).await;
    let room = Arc::clone(&people[0].room);
    super::settle(Duration::from_secs(90)).await;
    // Podium's defaults (`podium serve` without flags).
    let recorder = env.recorder((WIDTH, HEIGHT), FPS, "superfast", SwitchMode::EveryCamera);
    let http = Http::serve(env, Arc::clone(&recorder)).await;
    let mut browser = BrowserRecorder::start(http.port);

    // The page joins by itself; wait for the viewer to be in the room.
    let joined_by = Instant::now() + Duration::from_secs(40);
    let viewer_id = loop {
        if let Some(p) = room.view().participants.into_iter().find(|p| p.name == VIEWER) {
            break p.id;
        }
        assert!(Instant::now() < joined_by, "the browser's page did not join {ROOM} within 40 s; chromium's log:\n{}", browser.chromium_log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Its consumers start, their keyframes come, the stage shows a camera.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let started = recorder.start(Arc::clone(&room)).await.expect("Podium's recording starts");
    browser.start_capture();
    let until = Instant::now() + WARMUP + WINDOW;
    let measuring = async {
        tokio::time::sleep(WARMUP).await;
        let compositor = *compositors().iter().find(|p| cmdline(**p).contains(started.id.as_str())).expect("its compositor");
        let mut podium = Meter::new(vec![("podium compose", compositor)]);
        let mut theirs = Meter::new(browser.roots());
        let (machine, this) = (machine_busy_seconds(), cpu_seconds(std::process::id()));
        let end = Instant::now() + WINDOW;
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_secs(1).min(end.saturating_duration_since(Instant::now()))).await;
            podium.tick();
            theirs.tick();
        }
        (podium, theirs, machine_busy_seconds() - machine, cpu_seconds(std::process::id()) - this)
    };
    let ((podium, theirs, machine, this), ()) = tokio::join!(measuring, rotate_speakers(&people, Duration::from_secs(5), until));
    // The viewer sent nothing for the whole meeting (checked before it leaves).
    let sources = room.media_snapshot().sources;
    let viewer_producers = sources.iter().filter(|s| s.participant_id == viewer_id).count();
    let view = recorder.stop(&room.id).await.expect("Podium's recording stops");
    let browser_mp4 = browser.stop_capture().await;

    let secs = WINDOW.as_secs_f64();
    let (ours, theirs_cpu) = (podium.cpu_cores(secs), theirs.cpu_cores(secs));
    println!("| recorder | processes | CPU (cores) | peak RSS, sum of each process's VmHWM (MB) | peak PSS, summed each second (MB) |");
    println!("|---|---|---|---|---|");
    println!("| Podium (`podium compose`, speaker layout) | {} | {ours:.3} | {:.1} | {:.1} |", podium.processes(), podium.peak_hwm_mb(), podium.peak_pss_mb);
    println!("| browser (Xvfb + Chromium + PulseAudio + ffmpeg) | {} | {theirs_cpu:.3} | {:.1} | {:.1} |", theirs.processes(), theirs.peak_hwm_mb(), theirs.peak_pss_mb);
    println!("\nBrowser / Podium: CPU {:.2}x, peak RSS {:.2}x, peak PSS {:.2}x.", theirs_cpu / ours.max(1e-6), theirs.peak_hwm_mb() / podium.peak_hwm_mb().max(1e-6), theirs.peak_pss_mb / podium.peak_pss_mb.max(1e-6));
    println!("Browser CPU by part (cores): {}.", theirs.by_root(secs).iter().map(|(name, n, c)| format!("{name} ({n} process{}) {c:.3}", if *n == 1 { "" } else { "es" })).collect::<Vec<_>>().join(", "));
    // Both sides share a small machine with the meeting itself: how busy it was says how
    // far either may have been held back.
    println!("Machine over the window: {:.2} of {} cores busy, of which this process (the SFU and the synthetic senders) {:.2}.", machine / secs, std::thread::available_parallelism().map_or(0, |n| n.get()), this / secs);
    println!("Not counted on either side: the SFU's forwarding to each (mediasoup's workers are threads of the bench process, beside the synthetic senders): the viewer's WebRTC consumers (SRTP) against the compositor's plain RTP. VmHWM sums count pages shared between Chromium's processes once per process; PSS shares them out.");
    println!("The viewer joined by URL (`?name={VIEWER}&autojoin=1&camera=0&mic=0`): {viewer_producers} producers of it in the room (of {} sources).", sources.len());
    assert_eq!(viewer_producers, 0, "the viewer must send no media");

    // Neither file is worth comparing unless it shows the meeting.
    let podium_mp4 = env.dir.join(format!("{}.mp4", view.id));
    let ours = Check::of(&podium_mp4, (0.5, 0.5));
    // Read loosely: newer compositors note the steps down they took to keep up.
    let sidecar: serde_json::Value = serde_json::from_slice(&std::fs::read(env.dir.join(format!("{}.json", view.id))).expect("Podium's sidecar")).expect("a JSON sidecar");
    let steps = sidecar["quality_steps"].as_array().map(|s| s.iter().map(|q| format!("{} ms: {} {} fps", q["at_ms"], q["preset"].as_str().unwrap_or("?"), q["fps"])).collect::<Vec<_>>()).unwrap_or_default();
    println!("Podium's compositor: max lag {} ms; quality steps: {}.", sidecar["max_lag_ms"], if steps.is_empty() { "none".to_string() } else { steps.join(", ") });
    // The room page's stage: the left part of the window, above the filmstrip.
    let theirs = Check::of(&browser_mp4, (0.35, 0.4));
    for (name, c) in [("Podium", &ours), ("browser", &theirs)] {
        println!("{name}'s mp4: {c}");
    }
    // Podium's stage follows the speaker decisions: its turns are in the sidecar.
    let speakers: std::collections::HashSet<&str> = view.timeline.iter().map(|t| t.name.as_str()).collect();
    assert!(speakers.len() >= 3, "Podium's recording put only {speakers:?} on stage, the speakers took turns");
    ours.assert_shows_meeting("Podium", false);
    theirs.assert_shows_meeting("browser", true);
    drop(browser);
    http.stop().await;
    for p in people {
        p.leave(&env.rooms).await;
    }
}

/// The real HTTP app (pages, API, signaling) over the bench's own rooms, in open
/// loopback mode as `podium serve` runs without a secret.
struct Http {
    port: u16,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Http {
    async fn serve(env: &Env, recorder: Arc<server::recording::Recorder>) -> Http {
        let listener = tokio::net::TcpListener::bind((IP, 0)).await.expect("a free port for the HTTP app");
        let port = listener.local_addr().expect("its address").port();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let state = Arc::new(AppState::new(Arc::clone(&env._pool), Arc::clone(&env.rooms), recorder, stop_rx.clone(), Security::open(port)));
        let app = server::http::router(state);
        let task = tokio::spawn(server::net::serve(listener, None, app, server::net::Timeouts::default(), Vec::new(), stop_rx));
        Http { port, stop, task }
    }

    async fn stop(mut self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(3), &mut self.task).await;
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

/// A process started in a process group of its own, so that it and whatever it spawned
/// (Chromium's zygote, renderers, GPU and utility processes) end together on drop, even
/// when the bench panics. SIGTERM first: Xvfb removes its display lock then. Out of the
/// terminal's group, a Ctrl-C no longer reaches it: it gets a SIGTERM when the bench
/// dies instead (Chromium's other processes follow their browser process).
struct Proc {
    child: Child,
}

impl Proc {
    fn spawn(name: &'static str, command: &mut Command) -> Proc {
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) });
        }
        let child = command.process_group(0).spawn().unwrap_or_else(|e| panic!("cannot start {name} ({e}): run scripts/setup.sh"));
        Proc { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let group = -(self.child.id() as i32);
        // SAFETY: kill only sends a signal, to the group this process leads.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // The leader may be gone while its group lives on (Chromium's children).
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
        // Orphans are reaped by init: leave only once they are gone.
        let deadline = Instant::now() + Duration::from_secs(3);
        while unsafe { libc::kill(group, 0) } == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Removed on drop, after the processes using it (declared after them).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Processes that detached from the bench (parent init) and name `dir` on their command
/// line: Chromium's crash handlers (crashpad), which no flag turns off.
fn detached(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)) == Some("1") && cmdline(*pid).contains(&needle)
        })
        .collect()
}

/// Kills, once Chromium is gone, its crash handlers (they would leave soon after it).
struct Detached(PathBuf);

impl Drop for Detached {
    fn drop(&mut self) {
        for pid in detached(&self.0) {
            // SAFETY: a signal to a process this bench started (its dir is on its command line).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

/// Xvfb, PulseAudio and Chromium showing the room; ffmpeg once capturing. Fields drop
/// in order: the capture, the browser and its crash handlers, the sound server, the
/// display, then the files.
struct BrowserRecorder {
    ffmpeg: Option<Proc>,
    chromium: Proc,
    _crash_handlers: Detached,
    pulseaudio: Proc,
    xvfb: Proc,
    display: String,
    pulse_server: String,
    out: PathBuf,
    dir: TempDir,
}

impl BrowserRecorder {
    fn start(port: u16) -> BrowserRecorder {
        let dir = TempDir(std::env::temp_dir().join(format!("podium-bench-browser-{}", std::process::id())));
        let _ = std::fs::remove_dir_all(&dir.0);
        std::fs::create_dir_all(dir.0.join("home")).expect("the browser recorder's temp dir");
        let (xvfb, display) = start_xvfb(&dir.0);
        // A sound server of our own (not the machine's), with nothing but a null sink:
        // the browser plays into it and ffmpeg records its monitor.
        let socket = dir.0.join("pulse.sock");
        let pulse_server = format!("unix:{}", socket.display());
        let pulseaudio = Proc::spawn(
            "pulseaudio",
            Command::new("pulseaudio")
                .args(["-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no", "--log-target=stderr"])
                .arg("-L")
                .arg(format!("module-null-sink sink_name={SINK} rate=48000 channels=2"))
                .arg("-L")
                .arg(format!("module-native-protocol-unix socket={} auth-anonymous=1", socket.display()))
                .env("HOME", dir.0.join("home"))
                .env("XDG_RUNTIME_DIR", &dir.0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file(&dir.0, "pulseaudio.log")),
        );
        let up = Instant::now() + Duration::from_secs(10);
        while !Command::new("pactl").arg("info").env("PULSE_SERVER", &pulse_server).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success()) {
            assert!(Instant::now() < up, "pulseaudio did not start: {}", std::fs::read_to_string(dir.0.join("pulseaudio.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(100));
        }
        let url = format!("http://127.0.0.1:{port}/rooms/{ROOM}?name={VIEWER}&autojoin=1&camera=0&mic=0");
        let chromium = Proc::spawn(
            "chromium",
            Command::new("/usr/bin/chromium")
                .args(["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check", "--disable-background-networking", "--disable-component-update", "--disable-sync"])
                .args(["--autoplay-policy=no-user-gesture-required", "--disable-features=Translate,MediaRouter", "--password-store=basic", "--noerrdialogs"])
                // No "unsupported command-line flag" bar over the page for --no-sandbox.
                .arg("--test-type")
                .args(["--kiosk", "--window-position=0,0"])
                .arg(format!("--window-size={WIDTH},{HEIGHT}"))
                .arg(format!("--user-data-dir={}", dir.0.join("profile").display()))
                .arg(&url)
                .env("DISPLAY", &display)
                .env("PULSE_SERVER", &pulse_server)
                .env("HOME", dir.0.join("home"))
                .stdin(Stdio::null())
                .stdout(log_file(&dir.0, "chromium.log"))
                .stderr(log_file(&dir.0, "chromium.log")),
        );
        let out = dir.0.join("browser.mp4");
        BrowserRecorder { ffmpeg: None, chromium, _crash_handlers: Detached(dir.0.clone()), pulseaudio, xvfb, display, pulse_server, out, dir }
    }

    /// ffmpeg grabs the display and the sink's monitor as the browser recorder
    /// does: x264 veryfast (zerolatency, rate factor 23, a keyframe a second, no
    /// B-frames, as Podium's mp4 but for its default superfast preset) and AAC 128
    /// kbit/s stereo at 48 kHz (Podium records mono at 64 kbit/s by default).
    fn start_capture(&mut self) {
        self.ffmpeg = Some(Proc::spawn(
            "ffmpeg",
            Command::new("ffmpeg")
                .args(["-loglevel", "error", "-nostdin"])
                .args(["-y", "-f", "x11grab", "-draw_mouse", "0", "-thread_queue_size", "1024"])
                .args(["-video_size", &format!("{WIDTH}x{HEIGHT}"), "-framerate", &FPS.to_string(), "-i", &self.display])
                .args(["-f", "pulse", "-thread_queue_size", "1024", "-i", &format!("{SINK}.monitor")])
                .args(["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-crf", "23", "-g", &FPS.to_string(), "-bf", "0", "-pix_fmt", "yuv420p"])
                .args(["-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"])
                .arg(&self.out)
                .env("PULSE_SERVER", &self.pulse_server)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file(&self.dir.0, "ffmpeg.log")),
        ));
    }

    /// Stops the capture cleanly, so that the mp4 is finished.
    async fn stop_capture(&mut self) -> PathBuf {
        let mut ffmpeg = self.ffmpeg.take().expect("capturing");
        // SAFETY: a signal to our own child. SIGINT is ffmpeg's clean stop, as "q" is.
        unsafe { libc::kill(ffmpeg.pid() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(s) = ffmpeg.exited() {
                break Some(s);
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let log = std::fs::read_to_string(self.dir.0.join("ffmpeg.log")).unwrap_or_default();
        assert!(status.is_some(), "ffmpeg did not stop within 15 s: {log}");
        if !log.trim().is_empty() {
            eprintln!("browser recorder's ffmpeg said:\n{}", log.trim());
        }
        drop(ffmpeg);
        self.out.clone()
    }

    /// The processes to measure, each with its descendants.
    fn roots(&self) -> Vec<(&'static str, u32)> {
        let mut roots = vec![("Xvfb", self.xvfb.pid()), ("Chromium", self.chromium.pid())];
        roots.extend(detached(&self.dir.0).into_iter().map(|pid| ("Chromium", pid)));
        roots.push(("PulseAudio", self.pulseaudio.pid()));
        roots.extend(self.ffmpeg.as_ref().map(|f| ("ffmpeg", f.pid())));
        roots
    }

    fn chromium_log(&mut self) -> String {
        let log = std::fs::read_to_string(self.dir.0.join("chromium.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let exited = self.chromium.exited().map(|s| format!("(exited: {s})\n")).unwrap_or_default();
        format!("{exited}{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
    }
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new().create(true).append(true).open(dir.join(name)).expect("a log file in the temp dir")
}

/// A display no one else holds: the first free number from 99, waiting until it answers.
fn start_xvfb(dir: &Path) -> (Proc, String) {
    for n in 99..199 {
        if Path::new(&format!("/tmp/.X{n}-lock")).exists() || Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            continue;
        }
        let display = format!(":{n}");
        let mut xvfb = Proc::spawn(
            "Xvfb",
            Command::new("Xvfb").arg(&display).args(["-screen", "0", &format!("{WIDTH}x{HEIGHT}x24"), "-nolisten", "tcp", "-noreset"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log_file(dir, "xvfb.log")),
        );
        let up = Instant::now() + Duration::from_secs(10);
        loop {
            if Command::new("xdpyinfo").args(["-display", &display]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success()) {
                return (xvfb, display);
            }
            // Lost a race for this display to someone else: the next one.
            if xvfb.exited().is_some() || Instant::now() > up {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("no Xvfb display could be started: {}", std::fs::read_to_string(dir.join("xvfb.log")).unwrap_or_default());
}

/// CPU and memory of process trees over a window: every process under the roots,
/// including those born during it (from zero) and those gone before its end (up to
/// their last sample, a second at most before they went).
struct Meter {
    roots: Vec<(&'static str, u32)>,
    /// Per process: its root's index, CPU seconds at the start (or 0 if born later),
    /// at the last sample, and its VmHWM at the last sample (MB).
    seen: HashMap<u32, (usize, f64, f64, f64)>,
    peak_pss_mb: f64,
}

impl Meter {
    fn new(roots: Vec<(&'static str, u32)>) -> Meter {
        let mut meter = Meter { roots, seen: HashMap::new(), peak_pss_mb: 0.0 };
        for (pid, root, cpu) in meter.tree() {
            meter.seen.insert(pid, (root, cpu, cpu, 0.0));
        }
        meter
    }

    /// (pid, index of its root, CPU seconds) for every process under a root.
    fn tree(&self) -> Vec<(u32, usize, f64)> {
        let mut stats: HashMap<u32, (u32, f64)> = HashMap::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
            let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            // ppid; utime + stime in clock ticks (USER_HZ = 100)
            stats.insert(pid, (field(1) as u32, (field(11) + field(12)) / 100.0));
        }
        let root_of = |mut pid: u32| {
            for _ in 0..64 {
                if let Some(i) = self.roots.iter().position(|(_, r)| *r == pid) {
                    return Some(i);
                }
                pid = stats.get(&pid)?.0;
            }
            None
        };
        stats.iter().filter_map(|(pid, (_, cpu))| Some((*pid, root_of(*pid)?, *cpu))).collect()
    }

    fn tick(&mut self) {
        let mut pss = 0.0;
        for (pid, root, cpu) in self.tree() {
            let hwm = status_mb(pid, "VmHWM:");
            pss += smaps_pss_mb(pid);
            let e = self.seen.entry(pid).or_insert((root, 0.0, 0.0, 0.0));
            e.2 = cpu;
            e.3 = hwm;
        }
        self.peak_pss_mb = self.peak_pss_mb.max(pss);
    }

    fn cpu_cores(&self, secs: f64) -> f64 {
        self.seen.values().map(|(_, a, b, _)| b - a).sum::<f64>() / secs
    }

    fn peak_hwm_mb(&self) -> f64 {
        self.seen.values().map(|e| e.3).sum()
    }

    fn processes(&self) -> usize {
        self.seen.len()
    }

    /// Per name of root (several roots may share one): processes and CPU cores.
    fn by_root(&self, secs: f64) -> Vec<(&'static str, usize, f64)> {
        let mut parts: Vec<(&'static str, usize, f64)> = Vec::new();
        for (root, cpu_at_start, cpu, _) in self.seen.values() {
            let name = self.roots[*root].0;
            let i = parts.iter().position(|p| p.0 == name).unwrap_or_else(|| {
                parts.push((name, 0, 0.0));
                parts.len() - 1
            });
            parts[i].1 += 1;
            parts[i].2 += (cpu - cpu_at_start) / secs;
        }
        parts.sort_by_key(|p| self.roots.iter().position(|r| r.0 == p.0));
        parts
    }
}

/// CPU seconds the whole machine spent busy (all but idle and iowait), from /proc/stat.
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user)
    (ticks.iter().take(8).sum::<f64>() - ticks.get(3).unwrap_or(&0.0) - ticks.get(4).unwrap_or(&0.0)) / 100.0
}

fn status_mb(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()).map_or(0.0, |kb| kb / 1024.0)
}

fn smaps_pss_mb(pid: u32) -> f64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    rollup.lines().find_map(|l| l.strip_prefix("Pss:")).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()).map_or(0.0, |kb| kb / 1024.0)
}

/// What a recording shows: its length, whose camera is at a point of the stage and for
/// how long (by time, not frames: Podium writes a frame only when the picture changes),
/// whose voices are in its sound, and whether a frame is more than one colour.
struct Check {
    duration_ms: u64,
    streams: String,
    frames: usize,
    /// What the stage point showed, in turns: a participant's camera (by index), or
    /// anything else (`None`: a name card, a cut's black frame), and for how long (ms).
    stage: Vec<(Option<usize>, u64)>,
    /// Whose tones are in the sound.
    heard: Vec<&'static str>,
    /// The spread of luma in one frame from the middle of the file (0 for a uniform one).
    luma_stddev: f64,
}

impl Check {
    fn of(path: &Path, point: (f32, f32)) -> Check {
        let (streams, duration_ms) = ffprobe(path);
        let patches = probe::video_patches(path, &[point]).expect("its video decodes");
        let mut stage: Vec<(Option<usize>, u64)> = Vec::new();
        for (k, (t, p)) in patches.iter().enumerate() {
            let until = patches.get(k + 1).map_or(duration_ms.max(*t), |(next, _)| *next);
            let who = whose_camera(p[0]);
            match stage.last_mut() {
                Some(last) if last.0 == who => last.1 += until - t,
                _ => stage.push((who, until - t)),
            }
        }
        let (rate, audio) = probe::audio_mono(path).expect("its audio decodes");
        // Each half second, the loudest voice's tone, if it is clearly there.
        let mut heard = Vec::new();
        for chunk in audio.chunks(rate as usize / 2) {
            let powers: Vec<f32> = HZ.iter().map(|hz| probe::tone_power(chunk, rate, *hz)).collect();
            let loudest = (0..4).max_by(|a, b| powers[*a].total_cmp(&powers[*b])).expect("four");
            if powers[loudest] > 0.002 && !heard.contains(&NAMES[loudest]) {
                heard.push(NAMES[loudest]);
            }
        }
        Check { duration_ms, streams, frames: patches.len(), stage, heard, luma_stddev: luma_stddev(path, duration_ms / 2) }
    }

    fn camera_ms(&self) -> u64 {
        self.stage.iter().filter(|s| s.0.is_some()).map(|s| s.1).sum()
    }

    /// Whose cameras were on the stage for a second or more in all.
    fn cameras_seen(&self) -> Vec<&'static str> {
        (0..NAMES.len()).filter(|i| self.stage.iter().filter(|s| s.0 == Some(*i)).map(|s| s.1).sum::<u64>() >= 1000).map(|i| NAMES[i]).collect()
    }

    /// The file is the meeting: as long, a picture, voices, cameras on its stage. With
    /// `cameras_most_of_the_time`, a camera must be on the stage most of the time;
    /// without, too little is only said (Podium shows a name card for a speaker whose
    /// camera has no fresh picture, which is a finding about Podium, not a broken run).
    fn assert_shows_meeting(&self, name: &str, cameras_most_of_the_time: bool) {
        let expected = (WARMUP + WINDOW).as_millis() as u64;
        assert!(self.duration_ms + 2000 >= expected, "{name}'s mp4 is {} ms long, the meeting was recorded for {expected} ms", self.duration_ms);
        assert!(self.luma_stddev > 10.0, "{name}'s mp4 shows a uniform picture (luma spread {:.1}): a blank screen", self.luma_stddev);
        assert!(self.heard.len() >= 3, "{name}'s mp4 has only {:?} in its sound", self.heard);
        assert!(!self.cameras_seen().is_empty(), "{name}'s mp4 never shows a camera on its stage");
        if cameras_most_of_the_time {
            assert!(self.camera_ms() * 2 > self.duration_ms, "{name}'s mp4 shows a camera on its stage for only {} of {} ms", self.camera_ms(), self.duration_ms);
            assert!(self.cameras_seen().len() >= 3, "{name}'s mp4 showed only {:?} on stage, the speakers took turns", self.cameras_seen());
        } else if self.camera_ms() * 2 <= self.duration_ms {
            println!("WARNING: {name}'s mp4 shows a camera on its stage only {:.0} % of the time (name cards the rest): its CPU figure is of a recording that decoded every camera but drew fewer of them.", 100.0 * self.camera_ms() as f64 / self.duration_ms.max(1) as f64);
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        // Turns of a third of a second or more: shorter breaks are left out, and the
        // parts of a turn they split are one again.
        let mut turns: Vec<(Option<usize>, u64)> = Vec::new();
        for &(who, ms) in self.stage.iter().filter(|s| s.1 >= 300) {
            match turns.last_mut() {
                Some(last) if last.0 == who => last.1 += ms,
                _ => turns.push((who, ms)),
            }
        }
        let turns: Vec<String> = turns.iter().map(|(who, ms)| format!("{} {:.1} s", who.map_or("no camera", |i| NAMES[i]), *ms as f64 / 1000.0)).collect();
        write!(
            f,
            "{} ({:.1} s, {} frames); a camera on stage {:.0} % of the time, in turns: {}; voices heard: {}; luma spread of a middle frame {:.1}",
            self.streams,
            self.duration_ms as f64 / 1000.0,
            self.frames,
            100.0 * self.camera_ms() as f64 / self.duration_ms.max(1) as f64,
            turns.join(", "),
            self.heard.join(", "),
            self.luma_stddev
        )
    }
}

/// Whose synthetic camera a colour is: the cameras differ in chroma (their sweeping bar
/// and texture change only the luma), and nothing else on either stage (name cards,
/// labels, black) is as close to one in chroma.
fn whose_camera(rgb: [u8; 3]) -> Option<usize> {
    let chroma = |[r, g, b]: [u8; 3]| {
        let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
        (-0.148 * r - 0.291 * g + 0.439 * b, 0.439 * r - 0.368 * g - 0.071 * b)
    };
    let (u, v) = chroma(rgb);
    (0..COLOURS.len()).find(|i| {
        let (cu, cv) = chroma(COLOURS[*i]);
        (u - cu).hypot(v - cv) < 20.0
    })
}

/// The streams and duration as ffprobe sees them: ("h264 1280x720 30/1 fps, aac 48000 Hz 2 ch", ms).
fn ffprobe(path: &Path) -> (String, u64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height,avg_frame_rate,sample_rate,channels:format=duration", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("ffprobe cannot read {} ({e}): {}", path.display(), String::from_utf8_lossy(&out.stderr)));
    let streams = json["streams"].as_array().map(Vec::as_slice).unwrap_or_default();
    let described = streams
        .iter()
        .map(|s| match s["codec_type"].as_str() {
            Some("video") => format!("{} {}x{} {} fps", s["codec_name"].as_str().unwrap_or("?"), s["width"], s["height"], s["avg_frame_rate"].as_str().unwrap_or("?")),
            Some("audio") => format!("{} {} Hz {} ch", s["codec_name"].as_str().unwrap_or("?"), s["sample_rate"].as_str().unwrap_or("?"), s["channels"]),
            _ => format!("{}", s["codec_type"]),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let seconds = json["format"]["duration"].as_str().and_then(|d| d.parse::<f64>().ok()).unwrap_or(0.0);
    (described, (seconds * 1000.0) as u64)
}

/// The standard deviation of the luma of the frame at `at_ms`, read through ffmpeg.
fn luma_stddev(path: &Path, at_ms: u64) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{:.3}", at_ms as f64 / 1000.0), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg");
    if let Ok(frame) = std::env::var("PODIUM_BENCH_BROWSER_FRAMES") {
        let name = path.file_stem().map_or("frame".into(), |s| s.to_string_lossy().to_string());
        let _ = Command::new("ffmpeg").args(["-v", "error", "-y", "-ss", &format!("{:.3}", at_ms as f64 / 1000.0), "-i"]).arg(path).args(["-frames:v", "1"]).arg(Path::new(&frame).join(format!("{name}.png"))).status();
    }
    let px = &out.stdout;
    if px.is_empty() {
        return 0.0;
    }
    let mean = px.iter().map(|&v| f64::from(v)).sum::<f64>() / px.len() as f64;
    (px.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / px.len() as f64).sqrt()
}

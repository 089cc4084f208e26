//! Recording benchmarks (docs/benchmarks.md): the real recorder (mediasoup, the
//! switcher, `podium compose` processes) recording meetings of synthetic participants
//! that send like browsers (640x360 VP8 at 25 fps, Opus with levels), optionally with
//! the full mesh forwarded as in a real meeting.
//!
//!     cargo bench -p server --bench recording -- [load|cameras|layouts|baseline|switch|sync|concurrency|all]
//!
//! - load: CPU and peak memory of one compositor, 4 participants, at several settings;
//!   stop-to-final time.
//! - cameras: what keeping every camera decodable costs (every camera flowing and
//!   decoded, as cuts on the first word need) against resuming only the speaker's and
//!   whoever starts speaking, side by side, alternating, in one run.
//! - layouts: CPU of the speaker-strip and grid layouts, and of a 5 fps 1920x1080
//!   screen share (the share layout; a page of text with a small block that changes in
//!   every frame), against speaker, side by side, alternating in one run, as ratios; the cameras are sent in simulcast (320x180, 640x360, 1280x720),
//!   as browsers do, and each tile takes the layer it needs.
//! - baseline: the same meeting recorded at once by Podium and by the naive way it
//!   replaces (one ffmpeg CLI per participant reading RTP from its own PlainTransports
//!   through an SDP file), CPU side by side.
//! - switch: offset from a speaker's first word to their first frame in the mp4, with
//!   every camera flowing (the default), the pause/resume switcher and the re-creating
//!   one.
//! - sync: audio/video offset in the mp4 of a camera that flashes when its mic beeps.
//! - concurrency: how many 4-person recordings run at once in real time.
//! - reel: the time `podium reel` takes over a 1-hour recording (a real minute of a
//!   4-person meeting, repeated 60 times by stream copy, its sidecar likewise).
use compositor::review::probe;
use compositor::output::sidecar::Sidecar;
use compositor::synth::Pattern;
use mediasoup::prelude::*;
use compositor::output::mp4::VideoSettings;
use compositor::picture::layout::LayoutKind;
use server::recording::switcher::SwitchMode;
use server::media::{PoolOptions, WorkerPool};
use server::recording::{Recorder, RecorderConfig, RecordingView};
use server::room::{Room, Rooms};
// The tests' synthetic participants (test code, not the server's library).
#[path = "../tests/common/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;
/// The browser-compositing recorder (Xvfb, Chromium, x11grab), as LiveKit Egress and
/// Jitsi Jibri record, side by side with Podium.
#[path = "recording/browser.rs"]
mod browser_recorder;
/// This build's cost against the previous one's, with quality; recordings past capacity.
#[path = "recording/cheaper.rs"]
mod cheaper;
use synthetic::{Camera, Options, Participant};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const COLOURS: [[u8; 3]; 4] = [[200, 40, 40], [40, 160, 60], [50, 80, 210], [200, 160, 30]];
const NAMES: [&str; 4] = ["Alice", "Bob", "Carol", "Dave"];
const HZ: [f32; 4] = [440.0, 550.0, 660.0, 770.0];
const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Env {
    rooms: Arc<Rooms>,
    dir: PathBuf,
    _pool: Arc<WorkerPool>,
}

impl Env {
    async fn new() -> Env {
        let pool = Arc::new(WorkerPool::start(&PoolOptions { workers: 2, listen_ip: IP, announced_ip: IP, first_port: 0, tcp: true }).await.unwrap());
        let rooms = Arc::new(Rooms::new(Arc::clone(&pool), 16));
        let dir = std::env::temp_dir().join(format!("podium-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Env { rooms, dir, _pool: pool }
    }

    fn recorder(&self, size: (u32, u32), fps: u32, preset: &str, switch: SwitchMode) -> Arc<Recorder> {
        Recorder::new(RecorderConfig {
            dir: self.dir.clone(),
            program: PathBuf::from(env!("CARGO_BIN_EXE_podium")),
            video: VideoSettings { width: size.0, height: size.1, fps, preset: preset.into(), coder: Default::default() },
            audio: compositor::output::mp4::AudioChannels::default(),
            lookahead: compositor::engine::DEFAULT_LOOKAHEAD,
            switch,
            bind: IP,
            max_running: 64,
            admission: server::recording::admission::Settings::OFF,
            min_free_bytes: 0,
            retention: None,
        })
    }

    /// `n` participants with replayed 640x360 cameras; with `mesh`, each also receives
    /// everyone who joined before (so the full mesh is forwarded).
    async fn meeting(&self, room: &str, n: usize, mesh: bool) -> Vec<Participant> {
        self.meeting_with(room, n, mesh, |i| Camera::Replay { pattern: Pattern::Moving(COLOURS[i % 4]), width: 640, height: 360, seconds: 4 }).await
    }

    /// The same, with cameras sent in simulcast layers, as browsers send them.
    async fn simulcast_meeting(&self, room: &str, n: usize, mesh: bool) -> Vec<Participant> {
        self.meeting_with(room, n, mesh, |i| Camera::Simulcast { patterns: [Pattern::Moving(COLOURS[i % 4]); 3], seconds: 4 }).await
    }

    async fn meeting_with(&self, room: &str, n: usize, mesh: bool, camera_of: impl Fn(usize) -> Camera) -> Vec<Participant> {
        let mut people = Vec::new();
        for i in 0..n {
            let camera = camera_of(i);
            let mut options = Options::new(camera, HZ[i % 4]);
            options.mesh = mesh;
            people.push(Participant::join_with(&self.rooms, room, NAMES[i % 4], options).await);
        }
        people
    }
}

/// CPU seconds a process has used (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // utime, stime in clock ticks (USER_HZ = 100)
}

/// Peak resident memory of a process, MB.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()).map_or(0.0, |kb| kb / 1024.0)
}

fn compositors() -> Vec<u32> {
    children(std::process::id()).into_iter().filter(|p| cmdline(*p).contains(" compose ")).collect()
}

fn children(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok()) == Some(parent)
        })
        .collect()
}

fn cmdline(pid: u32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).replace('\0', " ")
}

/// Cores used over `window`, after `warmup`: (all compositors running at its start,
/// this process: the SFU and the synthetic senders).
async fn cores_over(warmup: Duration, window: Duration) -> (f64, f64) {
    tokio::time::sleep(warmup).await;
    let pids = compositors();
    let used = || (pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>(), cpu_seconds(std::process::id()));
    let (c0, s0) = used();
    tokio::time::sleep(window).await;
    let (c1, s1) = used();
    ((c1 - c0) / window.as_secs_f64(), (s1 - s0) / window.as_secs_f64())
}

/// Waits until this process (the SFU and the synthetic senders) is quiet: each sender
/// encodes its camera's replay when it joins (about a second of a core per camera),
/// and recordings started meanwhile would measure the senders, not themselves. Up to
/// `limit`.
async fn settle(limit: Duration) {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        let before = cpu_seconds(std::process::id());
        tokio::time::sleep(Duration::from_secs(1)).await;
        if cpu_seconds(std::process::id()) - before < 0.6 {
            return;
        }
    }
}

/// Speakers take turns of `every` ms, in order, until `until`.
fn rotate_speakers(people: &[Participant], every: Duration, until: Instant) -> impl std::future::Future<Output = ()> + '_ {
    async move {
        let mut k = 0;
        while Instant::now() < until {
            for (i, p) in people.iter().enumerate() {
                p.speak(i == k % people.len());
            }
            k += 1;
            tokio::time::sleep(every.min(until.saturating_duration_since(Instant::now()))).await;
        }
        for p in people {
            p.speak(false);
        }
    }
}

struct Load {
    cpu_cores: f64,
    rss_mb: f64,
    stop_ms: u128,
    lag_ms: u64,
    kbps: f64,
    view: RecordingView,
}

/// Records the room for `warmup + window`, measuring the compositor over `window`.
async fn measure_recording(env: &Env, recorder: &Arc<Recorder>, room: &Arc<Room>, people: &[Participant], warmup: Duration, window: Duration) -> Load {
    measure_layout(env, recorder, room, people, warmup, window, LayoutKind::Speaker).await
}

/// The same, in `layout`.
async fn measure_layout(env: &Env, recorder: &Arc<Recorder>, room: &Arc<Room>, people: &[Participant], warmup: Duration, window: Duration, layout: LayoutKind) -> Load {
    let started = recorder.start_with(Arc::clone(room), layout).await.unwrap();
    let until = Instant::now() + warmup + window;
    let speaking = rotate_speakers(people, Duration::from_secs(5), until);
    let measuring = async {
        tokio::time::sleep(warmup).await;
        let pid = *compositors().iter().find(|p| cmdline(**p).contains(started.id.as_str())).expect("its compositor");
        let before = cpu_seconds(pid);
        tokio::time::sleep(window).await;
        ((cpu_seconds(pid) - before) / window.as_secs_f64(), peak_rss_mb(pid))
    };
    let ((cpu_cores, rss_mb), ()) = tokio::join!(measuring, speaking);
    let t = Instant::now();
    let view = recorder.stop(&room.id).await.unwrap();
    let stop_ms = t.elapsed().as_millis();
    let sidecar = Sidecar::read(&env.dir.join(format!("{}.json", view.id))).unwrap();
    let kbps = view.size_bytes as f64 * 8.0 / view.duration_ms.max(1) as f64;
    Load { cpu_cores, rss_mb, stop_ms, lag_ms: sidecar.max_lag_ms, kbps, view }
}

async fn load(env: &Env) {
    println!("\n## load: one recording of 4 participants (640x360 VP8 25 fps cameras, mesh forwarded), 20 s measured after 5 s\n");
    println!("| setting | compositor CPU (cores) | peak RSS (MB) | stop to final (ms) | max lag (ms) | file (kbit/s) |");
    println!("|---|---|---|---|---|---|");
    let people = env.meeting("load", 4, true).await;
    let room = Arc::clone(&people[0].room);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (size, fps, preset) in [((1280, 720), 30, cheaper::DEFAULT_PRESET), ((1280, 720), 30, "veryfast"), ((1280, 720), 30, "ultrafast"), ((1280, 720), 15, "ultrafast"), ((640, 360), 15, "ultrafast")] {
        let recorder = env.recorder(size, fps, preset, SwitchMode::EveryCamera);
        let l = measure_recording(env, &recorder, &room, &people, Duration::from_secs(5), Duration::from_secs(20)).await;
        println!("| {}x{}@{} {preset}{} | {:.3} | {:.1} | {} | {} | {:.0} |", size.0, size.1, fps, if preset == cheaper::DEFAULT_PRESET && fps == 30 && size.0 == 1280 { " (default)" } else { "" }, l.cpu_cores, l.rss_mb, l.stop_ms, l.lag_ms, l.kbps);
        assert!(!l.view.timeline.is_empty(), "nobody was on stage");
    }
    drop(people);
}

/// Every camera flowing and decoded, against only the speaker's (and whoever starts
/// speaking), at the default setting: alternating rounds, so that both see the same
/// machine.
async fn cameras(env: &Env) {
    println!("\n## cameras: what keeping every camera decodable costs, 4 participants (640x360 VP8 25 fps, mesh forwarded), 1280x720@30 veryfast, 20 s measured after 5 s, rounds alternating\n");
    println!("| round | cameras reaching the compositor | compositor CPU (cores) | SFU + synthetic senders CPU (cores) | compositor peak RSS (MB) | stop to final (ms) | max lag (ms) |");
    println!("|---|---|---|---|---|---|---|");
    let people = env.meeting("cameras", 4, true).await;
    let room = Arc::clone(&people[0].room);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // mediasoup's workers are threads of this process, beside the synthetic senders:
    // the difference between the modes is the SFU's forwarding.
    let this = std::process::id();
    let mut totals: std::collections::HashMap<&str, (f64, f64, f64, u32)> = Default::default();
    for round in 1..=3 {
        for (mode, label) in [(SwitchMode::EveryCamera, "every camera (default)"), (SwitchMode::PauseResume, "speaker's + speaking")] {
            let recorder = env.recorder((1280, 720), 30, "veryfast", mode);
            let sfu_before = cpu_seconds(this);
            let t = Instant::now();
            let l = measure_recording(env, &recorder, &room, &people, Duration::from_secs(5), Duration::from_secs(20)).await;
            let sfu = (cpu_seconds(this) - sfu_before) / t.elapsed().as_secs_f64();
            println!("| {round} | {label} | {:.3} | {sfu:.3} | {:.1} | {} | {} |", l.cpu_cores, l.rss_mb, l.stop_ms, l.lag_ms);
            let e = totals.entry(label).or_default();
            *e = (e.0 + l.cpu_cores, e.1 + sfu, e.2.max(l.rss_mb), e.3 + 1);
        }
    }
    let mean = |label: &str| totals.get(label).map_or((0.0, 0.0, 0.0), |(c, s, r, n)| (c / f64::from(*n), s / f64::from(*n), *r));
    let (every, only) = (mean("every camera (default)"), mean("speaker's + speaking"));
    println!("\nMeans: every camera {:.3} cores (compositor) + {:.3} (SFU and senders), {:.1} MB peak; speaker's only {:.3} + {:.3}, {:.1} MB. Every camera costs {:+.1} % compositor CPU, {:+.1} % of all, {:+.1} MB.",
        every.0, every.1, every.2, only.0, only.1, only.2, (every.0 / only.0 - 1.0) * 100.0, ((every.0 + every.1) / (only.0 + only.1) - 1.0) * 100.0, every.2 - only.2);
    drop(people);
}

/// The layouts' CPU side by side: speaker, speaker-strip, grid and a screen share in
/// turn, two rounds. The share round adds a fifth participant who only shares a
/// 1920x1080 screen at 5 fps (in the speaker layout, which the share layout wins).
async fn layouts(env: &Env) {
    println!("\n## layouts: compositor CPU per layout, 4 participants (simulcast VP8 25 fps: 320x180, 640x360, 1280x720; mesh forwarded), 1280x720@30 veryfast, 20 s measured after 5 s, rounds alternating\n");
    println!("| round | layout | compositor CPU (cores) | peak RSS (MB) | max lag (ms) |");
    println!("|---|---|---|---|---|");
    let people = env.simulcast_meeting("layouts", 4, true).await;
    let room = Arc::clone(&people[0].room);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recorder = env.recorder((1280, 720), 30, "veryfast", SwitchMode::EveryCamera);
    let kinds = [(LayoutKind::Speaker, false), (LayoutKind::SpeakerStrip, false), (LayoutKind::Grid, false), (LayoutKind::Speaker, true)];
    let mut sums = [0.0f64; 4];
    let rounds = 2;
    for round in 1..=rounds {
        for (k, (kind, share)) in kinds.iter().enumerate() {
            let sharer = if *share {
                let mut options = Options::new(Camera::None, 880.0);
                options.screen = Some(synthetic::Screen { pattern: Pattern::Screen([240, 240, 240]), width: 1920, height: 1080, fps: 5 });
                let p = Participant::join_with(&env.rooms, "layouts", "Erin", options).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                Some(p)
            } else {
                None
            };
            let l = measure_layout(env, &recorder, &room, &people, Duration::from_secs(5), Duration::from_secs(20), *kind).await;
            let label = if *share { "screen share (5 fps 1920x1080)" } else { kind.name() };
            println!("| {round} | {label} | {:.3} | {:.1} | {} |", l.cpu_cores, l.rss_mb, l.lag_ms);
            if *share {
                assert_eq!(l.view.screen_shares.len(), 1, "the share is recorded");
            }
            if let Some(p) = sharer {
                p.leave(&env.rooms).await;
            }
            sums[k] += l.cpu_cores;
        }
    }
    let mean = |k: usize| sums[k] / f64::from(rounds);
    println!(
        "\nMeans: speaker {:.3}, speaker-strip {:.3} ({:.2}x), grid {:.3} ({:.2}x), screen share {:.3} ({:.2}x) cores.",
        mean(0),
        mean(1),
        mean(1) / mean(0),
        mean(2),
        mean(2) / mean(0),
        mean(3),
        mean(3) / mean(0)
    );
    drop(people);
}

/// The naive recorder Podium replaces: per participant, one PlainTransport per kind
/// sending plain RTP to one ffmpeg CLI that reads them through an SDP file and
/// transcodes to its own mp4 (VP8 cannot go into mp4 as it is).
struct Naive {
    ffmpeg: Vec<Child>,
    _transports: Vec<PlainTransport>,
    consumers: Vec<Consumer>,
}

fn free_port_pair() -> u16 {
    loop {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        if port % 2 == 0 && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

async fn naive(room: &Room, dir: &Path) -> Naive {
    let caps: RtpCapabilities = serde_json::to_value(room.router.rtp_capabilities()).and_then(serde_json::from_value).unwrap();
    let mut by_participant: Vec<(String, Vec<server::room::MediaSource>)> = Vec::new();
    for s in room.media_snapshot().sources {
        match by_participant.iter_mut().find(|(p, _)| *p == s.participant_id) {
            Some((_, v)) => v.push(s),
            None => by_participant.push((s.participant_id.clone(), vec![s])),
        }
    }
    let (mut ffmpeg, mut transports, mut consumers) = (Vec::new(), Vec::new(), Vec::new());
    for (participant, sources) in by_participant {
        let mut sdp = String::from("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=podium-naive\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n");
        let mut pending = Vec::new();
        for s in &sources {
            let port = free_port_pair();
            let mut o = PlainTransportOptions::new(server::media::udp_listen(IP));
            o.rtcp_mux = false;
            let t = room.router.create_plain_transport(o).await.unwrap();
            let mut co = ConsumerOptions::new(s.producer_id, caps.clone());
            co.paused = true;
            let c = t.consume(co).await.unwrap();
            match c.rtp_parameters().codecs.first().unwrap() {
                RtpCodecParameters::Audio { payload_type, .. } => sdp += &format!("m=audio {port} RTP/AVP {payload_type}\r\na=rtpmap:{payload_type} opus/48000/2\r\n"),
                RtpCodecParameters::Video { payload_type, .. } => sdp += &format!("m=video {port} RTP/AVP {payload_type}\r\na=rtpmap:{payload_type} VP8/90000\r\n"),
            }
            pending.push((t, c, port));
        }
        let sdp_path = dir.join(format!("naive-{participant}.sdp"));
        std::fs::write(&sdp_path, sdp).unwrap();
        let child = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-protocol_whitelist", "file,udp,rtp", "-fflags", "+genpts", "-i"])
            .arg(&sdp_path)
            // Every frame received, encoded once (no duplicates to a guessed rate).
            .args(["-map", "0", "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac"])
            .arg(dir.join(format!("naive-{participant}.mp4")))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg");
        ffmpeg.push(child);
        tokio::time::sleep(Duration::from_millis(500)).await;
        for (t, c, port) in pending {
            t.connect(PlainTransportRemoteParameters { ip: Some(IP), port: Some(port), rtcp_port: Some(port + 1), srtp_parameters: None }).await.unwrap();
            c.resume().await.unwrap();
            let _ = c.request_key_frame().await;
            transports.push(t);
            consumers.push(c);
        }
    }
    Naive { ffmpeg, _transports: transports, consumers }
}

async fn baseline(env: &Env) {
    println!("\n## baseline: the same 4-person meeting recorded by Podium and by one ffmpeg CLI per participant, at once, 20 s measured\n");
    println!("| Podium's setting | Podium (1 compositor): CPU (cores) | peak RSS (MB) | naive (4 ffmpeg CLIs, 640x360 veryfast each): CPU (cores) | peak RSS (MB) | naive / Podium CPU |");
    println!("|---|---|---|---|---|---|");
    let people = env.meeting("naive", 4, true).await;
    let room = Arc::clone(&people[0].room);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (size, fps) in [((1280, 720), 30), ((640, 360), 25)] {
        let recorder = env.recorder(size, fps, cheaper::DEFAULT_PRESET, SwitchMode::EveryCamera);
        let started = recorder.start(Arc::clone(&room)).await.unwrap();
        let mut naive = naive(&room, &env.dir).await;
        let until = Instant::now() + Duration::from_secs(27);
        let measuring = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            // ffmpeg needs a keyframe to start; it asks for none itself.
            for c in &naive.consumers {
                let _ = c.request_key_frame().await;
            }
            let ours = *compositors().iter().find(|p| cmdline(**p).contains(started.id.as_str())).unwrap();
            let theirs: Vec<u32> = naive.ffmpeg.iter().map(Child::id).collect();
            let (a0, b0) = (cpu_seconds(ours), theirs.iter().map(|p| cpu_seconds(*p)).sum::<f64>());
            tokio::time::sleep(Duration::from_secs(20)).await;
            let (a1, b1) = (cpu_seconds(ours), theirs.iter().map(|p| cpu_seconds(*p)).sum::<f64>());
            ((a1 - a0) / 20.0, (b1 - b0) / 20.0, peak_rss_mb(ours), theirs.iter().map(|p| peak_rss_mb(*p)).sum::<f64>())
        };
        let ((ours, theirs, our_rss, their_rss), ()) = tokio::join!(measuring, rotate_speakers(&people, Duration::from_secs(5), until));
        recorder.stop(&room.id).await.unwrap();
        for child in &mut naive.ffmpeg {
            use std::io::Write;
            // Stopped as the article did: "q" on its stdin.
            let _ = child.stdin.as_mut().unwrap().write_all(b"q");
        }
        for child in &mut naive.ffmpeg {
            let _ = child.wait();
        }
        // What the naive recorder wrote, to be sure it was working.
        let mut naive_frames = Vec::new();
        for entry in std::fs::read_dir(&env.dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("naive-") && name.ends_with(".mp4") {
                naive_frames.push(probe::video_frames(&entry.path()).map_or(0, |f| f.len()));
                let _ = std::fs::remove_file(entry.path());
            }
        }
        println!("| {}x{}@{fps} {} | {ours:.3} | {our_rss:.1} | {theirs:.3} | {their_rss:.1} | {:.2}x |", size.0, size.1, cheaper::DEFAULT_PRESET, theirs / ours.max(1e-6));
        eprintln!("naive files' frames: {naive_frames:?}");
        drop(naive);
    }
    println!("\nPodium writes one mp4 that follows the speaker, with every voice mixed and a chapter per turn; the naive recorder writes one 640x360 mp4 per participant, with no switching and no mix (making one video of them is another decode and encode of everything, not counted).");
    drop(people);
}

/// The onsets and who, then the recording's frames: latency of each turn.
async fn switch(env: &Env) {
    println!("\n## switch: from a speaker's first word to their first frame in the mp4 (3 participants, turns of 4 s; negative: the cut leads the word)\n");
    println!("| switcher | turns | median (ms) | worst (ms) |");
    println!("|---|---|---|---|");
    for mode in [SwitchMode::EveryCamera, SwitchMode::PauseResume, SwitchMode::Recreate] {
        let room_name = format!("switch{}", mode as u8);
        let mut people = Vec::new();
        for i in 0..3 {
            people.push(Participant::join_with(&env.rooms, &room_name, NAMES[i], Options::new(Camera::Live(COLOURS[i]), HZ[i])).await);
        }
        let room = Arc::clone(&people[0].room);
        let recorder = env.recorder((640, 360), 30, "veryfast", mode);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = recorder.start(Arc::clone(&room)).await.unwrap();
        let t0 = compositor::output::sidecar::parse_rfc3339_ms(&started.started_at).unwrap();
        let mut onsets = Vec::new();
        for k in 0..7 {
            let who = k % 3;
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let now_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64;
            people[who].speak(true);
            onsets.push((who, now_ms - t0));
            tokio::time::sleep(Duration::from_millis(3000)).await;
            people[who].speak(false);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let view = recorder.stop(&room.id).await.unwrap();
        let frames = probe::video_frames(&env.dir.join(format!("{}.mp4", view.id))).unwrap();
        let mut latencies: Vec<i64> = onsets
            .iter()
            .filter_map(|(who, onset)| {
                let close = |c: [u8; 3]| (0..3).map(|i| (f32::from(c[i]) - f32::from(COLOURS[*who][i])).powi(2)).sum::<f32>().sqrt() < 40.0;
                // From half a second before the word: the previous turn (another
                // colour) ended a second before it.
                frames.iter().find(|f| f.t_ms as i64 >= *onset - 500 && close(f.corner_rgb)).map(|f| f.t_ms as i64 - onset)
            })
            .collect();
        let n = latencies.len();
        latencies.sort_unstable();
        let worst = latencies.iter().copied().max_by_key(|l| l.abs()).unwrap_or(-1);
        println!("| {mode:?} | {n} of {} | {} | {worst} |", onsets.len(), latencies.get(n / 2).copied().unwrap_or(-1));
        for p in people {
            p.leave(&env.rooms).await;
        }
    }
}

async fn sync(env: &Env) {
    println!("\n## sync: a camera that flashes white exactly when its microphone beeps, through mediasoup and the compositor\n");
    let mut options = Options::new(Camera::Live([200, 40, 40]), 440.0);
    // On the camera's frame times (25 fps: every 40 ms), so that each flash's first
    // white frame is captured with its beep (1500 ms apart, every other one came 20 ms
    // after it: the synthetic camera's phase, not the recorder's sync).
    let flashes: Vec<u64> = (0..8).map(|k| 4000 + k * 1520).collect();
    options.flashes = flashes.clone();
    let alice = Participant::join_with(&env.rooms, "sync", "Alice", options).await;
    let room = Arc::clone(&alice.room);
    let recorder = env.recorder((1280, 720), 30, cheaper::DEFAULT_PRESET, SwitchMode::EveryCamera);
    let started = recorder.start(Arc::clone(&room)).await.unwrap();
    alice.speak(true);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    alice.speak(false);
    tokio::time::sleep(Duration::from_millis(14_000)).await;
    let view = recorder.stop(&room.id).await.unwrap();
    let path = env.dir.join(format!("{}.mp4", view.id));
    let frames = probe::video_frames(&path).unwrap();
    let (rate, audio) = probe::audio_mono(&path).unwrap();
    let t0 = compositor::output::sidecar::parse_rfc3339_ms(&started.started_at).unwrap();
    let joined = alice.joined_at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64;
    let mut offsets = Vec::new();
    for &flash in &flashes {
        let expected = joined + flash as i64 - t0; // roughly, in file time
        let from = (expected - 600).max(0) as u64;
        let Some(video) = frames.iter().find(|f| f.t_ms >= from && f.centre_rgb.iter().all(|&c| c > 200)).map(|f| f.t_ms as f64) else { continue };
        let a = (from * u64::from(rate) / 1000) as usize;
        let Some(onset) = audio[a.min(audio.len())..].iter().position(|s| s.abs() > 0.1) else { continue };
        let audio_ms = (a + onset) as f64 * 1000.0 / f64::from(rate);
        offsets.push(video - audio_ms);
    }
    offsets.sort_by(f64::total_cmp);
    let n = offsets.len();
    println!("video minus audio, {n} flashes (ms): {}", offsets.iter().map(|o| format!("{o:.0}")).collect::<Vec<_>>().join(", "));
    if n > 0 {
        println!("median {:.0} ms, worst {:.0} ms (a video time is known to one frame: 33 ms)", offsets[n / 2], offsets.iter().fold(0.0f64, |m, o| m.max(o.abs())));
    }
    alice.leave(&env.rooms).await;
}

async fn concurrency(env: &Env) {
    println!("\n## concurrency: k rooms of 4 participants (mesh forwarded), all recorded at 1280x720@30 {}, 20 s\n", cheaper::DEFAULT_PRESET);
    println!("| recordings | compositors' CPU (cores) | this process (SFU + senders, cores) | worst lag (ms) | worst stop (ms) | recordings that stepped quality down | real time |");
    println!("|---|---|---|---|---|---|---|");
    for k in [1, 4, 6, 7, 8, 9, 10, 11, 12] {
        let mut meetings = Vec::new();
        for r in 0..k {
            meetings.push(env.meeting(&format!("c{k}r{r}"), 4, true).await);
        }
        let recorder = env.recorder((1280, 720), 30, cheaper::DEFAULT_PRESET, SwitchMode::EveryCamera);
        settle(Duration::from_secs(60)).await;
        let mut ids = Vec::new();
        for m in &meetings {
            ids.push(recorder.start(Arc::clone(&m[0].room)).await.unwrap().id);
        }
        let until = Instant::now() + Duration::from_secs(25);
        let speaking = futures_util::future::join_all(meetings.iter().map(|m| rotate_speakers(m, Duration::from_secs(5), until)));
        let measuring = cores_over(Duration::from_secs(5), Duration::from_secs(20));
        let ((compositors_cpu, own_cpu), _) = tokio::join!(measuring, speaking);
        let (mut worst_lag, mut worst_stop, mut stepped) = (0u64, 0u128, 0);
        for m in &meetings {
            let t = Instant::now();
            let view = recorder.stop(&m[0].room.id).await.unwrap();
            worst_stop = worst_stop.max(t.elapsed().as_millis());
            let sidecar = Sidecar::read(&env.dir.join(format!("{}.json", view.id))).unwrap();
            worst_lag = worst_lag.max(sidecar.max_lag_ms);
            stepped += usize::from(!sidecar.quality_steps.is_empty());
        }
        // Real time at full quality: no compositor fell behind, or had to step down.
        let real_time = worst_lag < 500 && worst_stop < 1000 && stepped == 0;
        println!("| {k} | {compositors_cpu:.2} | {own_cpu:.2} | {worst_lag} | {worst_stop} | {stepped} | {} |", if real_time { "yes" } else { "no" });
        for m in meetings {
            for p in m {
                p.leave(&env.rooms).await;
            }
        }
        if !real_time {
            break;
        }
    }
}

async fn reel(env: &Env) {
    println!("\n## reel: `podium reel` over a 1-hour recording (4 participants, 1280x720@30 veryfast)\n");
    let people = env.meeting("reel", 4, false).await;
    let room = Arc::clone(&people[0].room);
    let recorder = env.recorder((1280, 720), 30, "veryfast", SwitchMode::EveryCamera);
    tokio::time::sleep(Duration::from_secs(1)).await;
    recorder.start(Arc::clone(&room)).await.unwrap();
    // Turns of varied length: 7, 9, 11 and 13 s.
    let mut k = 0;
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        for (i, p) in people.iter().enumerate() {
            p.speak(i == k % 4);
        }
        tokio::time::sleep(Duration::from_secs(7 + 2 * (k % 4) as u64).min(until.saturating_duration_since(Instant::now()))).await;
        k += 1;
    }
    let minute = recorder.stop(&room.id).await.unwrap();
    drop(people);
    let source = env.dir.join(format!("{}.mp4", minute.id));
    let sidecar = Sidecar::read(&env.dir.join(format!("{}.json", minute.id))).unwrap();
    // An hour of it: the minute 60 times over, by stream copy, fragmented as ours are.
    let list = env.dir.join("hour.txt");
    std::fs::write(&list, (0..60).map(|_| format!("file '{}'\n", source.display())).collect::<String>()).unwrap();
    let hour = env.dir.join("20261202-000000-hour01.mp4");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i"])
        .arg(&list)
        .args(["-map", "0", "-map_chapters", "-1", "-c", "copy", "-movflags", "frag_keyframe+empty_moov+default_base_moof"])
        .arg(&hour)
        .status()
        .unwrap();
    assert!(made.success(), "ffmpeg concat failed");
    let segment = probe::duration_ms(&source).unwrap();
    let mut long = sidecar.clone();
    long.id = "20261202-000000-hour01".into();
    long.timeline = (0..60u64).flat_map(|k| sidecar.timeline.iter().map(move |t| compositor::output::sidecar::TimelineEntry { start_ms: t.start_ms + k * segment, end_ms: t.end_ms + k * segment, ..t.clone() })).collect();
    long.loudness_db = (0..60).flat_map(|_| sidecar.loudness_db.iter().copied()).collect();
    long.voices = (0..60).flat_map(|_| sidecar.voices.iter().copied()).collect();
    long.duration_ms = probe::duration_ms(&hour).unwrap();
    long.write(&hour.with_extension("json")).unwrap();
    let size_mb = std::fs::metadata(&hour).unwrap().len() as f64 / 1e6;
    println!("| page cache | reel of the hour ({:.0} min, {size_mb:.0} MB, {} turns) | clips | reel length |", long.duration_ms as f64 / 60_000.0, long.timeline.len());
    println!("|---|---|---|---|");
    for cold in [true, false] {
        if cold {
            // As after a restart: nothing of the file in memory (needs root; skipped otherwise).
            let _ = Command::new("sync").status();
            let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
        }
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_podium")).arg("reel").arg(&hour).output().unwrap();
        let took = t.elapsed();
        assert!(out.status.success(), "podium reel failed: {}", String::from_utf8_lossy(&out.stderr));
        let clips: Vec<compositor::review::highlights::ReelClip> = serde_json::from_slice(&std::fs::read(hour.with_extension("highlights.json")).unwrap()).unwrap();
        let length: u64 = clips.iter().map(|c| c.source_end_ms - c.source_start_ms).sum();
        println!("| {} | {:.2} s | {} | {:.1} s |", if cold { "cold (dropped)" } else { "warm" }, took.as_secs_f64(), clips.len(), length as f64 / 1000.0);
    }
}

fn main() {
    let what = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_else(|| "all".into());
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))).with_writer(std::io::stderr).init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let env = Env::new().await;
        let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())).unwrap_or_default();
        println!("# recording benchmarks: {} cores ({cpu}), {}", std::thread::available_parallelism().map_or(0, |n| n.get()), compositor::output::sidecar::rfc3339(SystemTime::now()));
        let all = what == "all";
        if all || what == "load" {
            load(&env).await;
        }
        if all || what == "cameras" {
            cameras(&env).await;
        }
        if all || what == "layouts" {
            layouts(&env).await;
        }
        if all || what == "baseline" {
            baseline(&env).await;
        }
        if all || what == "cost" {
            cheaper::cost(&env).await;
        }
        if all || what == "overload" {
            cheaper::overload(&env).await;
        }
        if all || what == "browser" {
            browser_recorder::run(&env).await;
        }
        if all || what == "switch" {
            switch(&env).await;
        }
        if all || what == "sync" {
            sync(&env).await;
        }
        if all || what == "concurrency" {
            concurrency(&env).await;
        }
        if all || what == "reel" {
            reel(&env).await;
        }
        let _ = std::fs::remove_dir_all(&env.dir);
    });
}

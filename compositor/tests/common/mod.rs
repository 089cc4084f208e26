//! A simulated meeting for the compositor's engine: synthetic participants (real VP8
//! and Opus) send RTP and sender reports through a simulated network (delay, reorder,
//! loss) to an [`Engine`], on a fake clock, and the server's part is played by a script
//! of speaker decisions (when each is sent, and where its turn began). The mp4 that
//! comes out is then read back with `probe`.
#![allow(dead_code)]
use compositor::control::{Codec, MediaKind, Source, ToCompositor, CONTROL_VERSION};
use compositor::engine::{Config, Engine, DEFAULT_LOOKAHEAD};
use compositor::picture::layout::LayoutKind;
use compositor::output::mp4::{AudioChannels, VideoSettings};
use compositor::review::probe::{self, FrameSample};
use compositor::output::sidecar::{Sidecar, Status};
use compositor::synth::{self, AudioSource, Pattern, VideoSource};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 360;
pub const FPS: u32 = 30;
const CAMERA_FPS: u64 = 25;
/// A shared screen's rate: screens send few pictures.
pub const SCREEN_FPS: u64 = 5;

pub struct Person {
    pub id: &'static str,
    pub name: &'static str,
    pub rgb: [u8; 3],
    pub hz: f32,
    pub has_video: bool,
    /// When they join and leave (ms of the recording).
    pub present: (u64, u64),
    /// When they speak.
    pub talks: Vec<(u64, u64)>,
    /// Extra: a white flash and a 1 kHz beep together at these times (100 ms each).
    pub flashes: Vec<u64>,
    /// When they share their screen (ms of the recording): a 1280x720 screen of this
    /// colour at [`SCREEN_FPS`].
    pub shares: Vec<(u64, u64, [u8; 3])>,
    /// The camera's picture changes size at these times (ms), as when the SFU
    /// switches a simulcast camera's layer: (at, width, height).
    pub layer_switches: Vec<(u64, u32, u32)>,
    /// Pictures a second the camera sends (25 unless set).
    pub camera_fps: u64,
    video: Option<VideoSource>,
    screen: Option<VideoSource>,
    audio: Option<AudioSource>,
}

impl Person {
    pub fn new(id: &'static str, name: &'static str, rgb: [u8; 3], hz: f32) -> Self {
        Self { id, name, rgb, hz, has_video: true, present: (0, u64::MAX), talks: Vec::new(), flashes: Vec::new(), shares: Vec::new(), layer_switches: Vec::new(), camera_fps: CAMERA_FPS, video: None, screen: None, audio: None }
    }
    pub fn video_ssrc(&self, index: usize) -> u32 {
        1000 + index as u32 * 2
    }
    fn audio_ssrc(&self, index: usize) -> u32 {
        1001 + index as u32 * 2
    }
    fn screen_ssrc(&self, index: usize) -> u32 {
        3000 + index as u32
    }
    fn sharing(&self, t: u64) -> Option<[u8; 3]> {
        self.shares.iter().find(|&&(s, e, _)| t >= s && t < e && self.here(t)).map(|&(_, _, rgb)| rgb)
    }
    fn here(&self, t: u64) -> bool {
        t >= self.present.0 && t < self.present.1
    }
    fn flashing(&self, t: u64) -> bool {
        self.flashes.iter().any(|&f| t >= f && t < f + 100)
    }
}

pub struct Network {
    /// One-way delay, ms.
    pub delay: u64,
    /// Swap each packet with the next with this probability.
    pub reorder: f64,
    /// Drop this share of media packets.
    pub loss: f64,
}

impl Network {
    pub fn clean() -> Self {
        Self { delay: 5, reorder: 0.0, loss: 0.0 }
    }
}

pub struct Outcome {
    dir: PathBuf,
    pub path: PathBuf,
    pub sidecar: Sidecar,
    /// What a player shows at each of the output's frame times.
    pub frames: Vec<FrameSample>,
    /// The frames the file holds (a variable frame rate: only pictures that changed,
    /// and a keyframe a second).
    pub encoded: Vec<FrameSample>,
    pub rate: u32,
    pub audio: Vec<f32>,
    pub keyframe_requests: usize,
    /// Each keyframe request the engine sent: (ms of the recording, SSRC).
    pub keyframe_requests_at: Vec<(u64, u32)>,
    /// Camera pictures the engine decoded.
    pub camera_pictures_decoded: u64,
}

/// A deterministic pseudo-random sequence (xorshift), so a lossy run is the same run
/// every time.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as f64 / 1_000_000.0
    }
}

/// Which cameras reach the compositor, as the server's switch modes forward them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Every camera, all the time (the server's default).
    EveryCamera,
    /// Only the current speaker's, resumed at the decision with a keyframe request.
    SpeakerOnly,
}

/// A speaker decision of the script: sent at `decided` (ms), saying the turn began at
/// `since`.
#[derive(Clone, Copy, Debug)]
pub struct Decision {
    pub decided: u64,
    pub since: u64,
    pub who: Option<&'static str>,
}

impl Decision {
    /// A decision `delay` ms after the turn's onset at `onset`.
    pub fn after(onset: u64, delay: u64, who: &'static str) -> Self {
        Self { decided: onset + delay, since: onset, who: Some(who) }
    }
}

/// Runs the meeting for `duration` ms with the speaker changes `speakers` (ms, id), each
/// decided at its turn's start, every camera forwarded; returns what was recorded.
pub fn record(name: &str, people: Vec<Person>, speakers: &[(u64, Option<&'static str>)], duration: u64, net: Network) -> Outcome {
    let decisions: Vec<Decision> = speakers.iter().map(|&(at, who)| Decision { decided: at, since: at, who }).collect();
    record_decisions(name, people, &decisions, duration, net, Forward::EveryCamera, DEFAULT_LOOKAHEAD)
}

/// Runs the meeting with the given decisions, forwarding, and lookahead.
pub fn record_decisions(name: &str, people: Vec<Person>, decisions: &[Decision], duration: u64, net: Network, forward: Forward, lookahead: Duration) -> Outcome {
    record_layouts(name, people, decisions, duration, net, forward, lookahead, LayoutKind::Speaker, &[])
}

/// Runs the meeting starting in `layout`, changed at the times of `changes` (ms).
#[allow(clippy::too_many_arguments)]
pub fn record_layouts(name: &str, people: Vec<Person>, decisions: &[Decision], duration: u64, net: Network, forward: Forward, lookahead: Duration, layout: LayoutKind, changes: &[(u64, LayoutKind, u64)]) -> Outcome {
    record_stalled(name, people, decisions, duration, net, forward, lookahead, layout, changes, &[])
}

/// … with the engine not polled at all in each of `stalls` ([from, to) ms), as on a
/// machine too busy to give it the CPU: its output falls behind real time.
#[allow(clippy::too_many_arguments)]
pub fn record_stalled(name: &str, mut people: Vec<Person>, decisions: &[Decision], duration: u64, net: Network, forward: Forward, lookahead: Duration, layout: LayoutKind, changes: &[(u64, LayoutKind, u64)], stalls: &[(u64, u64)]) -> Outcome {
    let dir = std::env::temp_dir().join(format!("podium-engine-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rec.mp4");
    let sidecar_path = dir.join("rec.json");
    let t0 = Instant::now();
    let config = Config {
        id: "20261202-160000-test01".into(),
        room: "sim".into(),
        output: path.clone(),
        sidecar: sidecar_path.clone(),
        video: VideoSettings { width: WIDTH, height: HEIGHT, fps: FPS, preset: "veryfast".into(), coder: Default::default() },
        audio: AudioChannels::default(),
        font: compositor::picture::compose::DEFAULT_FONT.into(),
        layout,
        lookahead,
    };
    let mut engine = Engine::new(config, t0, SystemTime::now()).unwrap();
    for (i, p) in people.iter_mut().enumerate() {
        if p.has_video {
            p.video = Some(VideoSource::new(p.video_ssrc(i), 96, 320, 180, p.camera_fps as u32).unwrap());
        }
        p.audio = Some(AudioSource::new(p.audio_ssrc(i), 111).unwrap());
    }
    // A share starts with a keyframe: a new encoder each time.
    let mut sharing_before: Vec<bool> = vec![false; people.len()];
    let ntp_base = 3_900_000_000_000.0; // the senders' wall clock at t = 0, ms since 1900
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut in_flight: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut speaker: Option<&str> = None;
    let mut next_speaker = 0;
    let mut present_before: Vec<bool> = vec![false; people.len()];
    let mut keyframe_requests = 0;
    let mut keyframe_requests_at = Vec::new();
    let at = |t: u64| t0 + Duration::from_millis(t);

    for t in 0..duration {
        // The server's side: the source map when someone joins or leaves, speaker changes.
        let present_now: Vec<bool> = people.iter().map(|p| p.here(t)).collect();
        let sharing_now: Vec<bool> = people.iter().map(|p| p.sharing(t).is_some()).collect();
        for (i, p) in people.iter_mut().enumerate() {
            if sharing_now[i] && !sharing_before[i] {
                p.screen = Some(VideoSource::new(p.screen_ssrc(i), 96, 1280, 720, SCREEN_FPS as u32).unwrap());
            }
        }
        if present_now != present_before || sharing_now != sharing_before {
            let sources = people
                .iter()
                .enumerate()
                .filter(|(_, p)| p.here(t))
                .flat_map(|(i, p)| {
                    let mut s = vec![Source { ssrc: p.audio_ssrc(i), participant_id: p.id.into(), name: p.name.into(), kind: MediaKind::Audio, codec: Codec::Opus, payload_type: 111, clock_rate: 48_000, paused: false, screen: false }];
                    if p.has_video {
                        s.push(Source { ssrc: p.video_ssrc(i), participant_id: p.id.into(), name: p.name.into(), kind: MediaKind::Video, codec: Codec::Vp8, payload_type: 96, clock_rate: 90_000, paused: false, screen: false });
                    }
                    if p.sharing(t).is_some() {
                        s.push(Source { ssrc: p.screen_ssrc(i), participant_id: p.id.into(), name: p.name.into(), kind: MediaKind::Video, codec: Codec::Vp8, payload_type: 96, clock_rate: 90_000, paused: false, screen: true });
                    }
                    s
                })
                .collect();
            engine.handle_control(at(t), ToCompositor::Sources { v: CONTROL_VERSION, sources });
            present_before = present_now;
            sharing_before = sharing_now;
        }
        for (_, kind, chosen_ms_ago) in changes.iter().filter(|(at, ..)| *at == t) {
            engine.handle_control(at(t), ToCompositor::Layout { v: CONTROL_VERSION, layout: *kind, chosen_ms_ago: *chosen_ms_ago });
        }
        while next_speaker < decisions.len() && decisions[next_speaker].decided <= t {
            let d = decisions[next_speaker];
            speaker = d.who;
            // The server's clock is another host's: only the difference counts.
            let server_clock = 1_780_000_000_000;
            let message = ToCompositor::Speaker { v: CONTROL_VERSION, participant_id: speaker.map(String::from), since: server_clock + d.since, decided: server_clock + d.decided };
            engine.handle_control(at(t), message);
            // Resuming the new speaker's consumer asks their camera for a keyframe.
            if forward == Forward::SpeakerOnly {
                if let Some(p) = people.iter_mut().find(|p| Some(p.id) == speaker) {
                    if let Some(v) = p.video.as_mut() {
                        v.request_keyframe();
                    }
                }
            }
            next_speaker += 1;
        }
        // The participants send.
        let mut sent: Vec<Vec<u8>> = Vec::new();
        for p in people.iter_mut().filter(|p| p.here(t)) {
            let local = t - p.present.0;
            let flashing = p.flashing(t);
            if let (Some(v), Some(&(_, w, h))) = (p.video.as_mut(), p.layer_switches.iter().find(|(at, ..)| *at == t)) {
                v.switch_layer(w, h, p.camera_fps as u32).unwrap();
            }
            if let Some(v) = p.video.as_mut() {
                let forwarded = forward == Forward::EveryCamera || Some(p.id) == speaker;
                if (local * p.camera_fps) % 1000 < p.camera_fps && forwarded {
                    let pattern = Pattern::Solid(if flashing { [255, 255, 255] } else { p.rgb });
                    sent.extend(v.next_frame(pattern, local).unwrap().iter().map(|pk| pk.to_bytes()));
                }
                if local % 1000 == 500 {
                    let ts = v.timestamp_at(local);
                    sent.push(synth::sender_report(v.ssrc, ntp_base + t as f64, ts));
                }
            }
            if let (Some(rgb), Some(screen)) = (p.sharing(t), p.screen.as_mut()) {
                if (local * SCREEN_FPS) % 1000 < SCREEN_FPS {
                    sent.extend(screen.next_frame(Pattern::Solid(rgb), local).unwrap().iter().map(|pk| pk.to_bytes()));
                }
                if local % 1000 == 300 {
                    let ts = screen.timestamp_at(local);
                    sent.push(synth::sender_report(screen.ssrc, ntp_base + t as f64, ts));
                }
            }
            let a = p.audio.as_mut().unwrap();
            if local % 20 == 0 {
                let first = local * 48;
                let talking = p.talks.iter().any(|&(s, e)| t >= s && t < e);
                let samples = if flashing {
                    synth::tone(1000.0, 0.5, first, 960)
                } else if talking {
                    synth::tone(p.hz, 0.3, first, 960)
                } else {
                    vec![0.0; 960]
                };
                sent.push(a.next_packet(&samples).unwrap());
            }
            if local % 1000 == 700 {
                sent.push(synth::sender_report(a.ssrc, ntp_base + t as f64, a.timestamp_of(local * 48)));
            }
        }
        for bytes in sent {
            let is_rtcp = compositor::input::rtp::is_rtcp(&bytes);
            if !is_rtcp && rng.next() < net.loss {
                continue;
            }
            in_flight.push((t + net.delay, bytes));
            let n = in_flight.len();
            if n >= 2 && rng.next() < net.reorder {
                in_flight.swap(n - 1, n - 2);
            }
        }
        // The network delivers; the engine works.
        let due: Vec<Vec<u8>> = {
            let (now, later): (Vec<_>, Vec<_>) = in_flight.drain(..).partition(|(d, _)| *d <= t);
            in_flight = later;
            now.into_iter().map(|(_, b)| b).collect()
        };
        for bytes in due {
            engine.handle_datagram(at(t), &bytes);
        }
        if t % 5 == 0 && !stalls.iter().any(|&(from, to)| (from..to).contains(&t)) {
            engine.poll(at(t)).unwrap();
            for rtcp in engine.take_rtcp() {
                for ssrc in compositor::input::rtp::pli_targets(&rtcp) {
                    keyframe_requests += 1;
                    keyframe_requests_at.push((t, ssrc));
                    for (i, p) in people.iter_mut().enumerate() {
                        if p.video_ssrc(i) == ssrc {
                            if let Some(v) = p.video.as_mut() {
                                v.request_keyframe();
                            }
                        }
                        if p.screen_ssrc(i) == ssrc {
                            if let Some(v) = p.screen.as_mut() {
                                v.request_keyframe();
                            }
                        }
                    }
                }
            }
            engine.take_messages();
        }
    }
    let camera_pictures_decoded = engine.camera_pictures_decoded();
    let summary = engine.finish(at(duration), Status::Finished).unwrap();
    assert!(summary.duration_ms + 50 >= duration, "{summary:?}");
    let sidecar = Sidecar::read(&sidecar_path).unwrap();
    let encoded = probe::video_frames(&path).unwrap();
    let frames = probe::as_shown(&encoded, FPS as u32);
    let (rate, audio) = probe::audio_mono(&path).unwrap();
    Outcome { dir, path, sidecar, frames, encoded, rate, audio, keyframe_requests, keyframe_requests_at, camera_pictures_decoded }
}

impl Drop for Outcome {
    /// The recording is removed unless PODIUM_KEEP_TEST_FILES is set (to look at it).
    fn drop(&mut self) {
        if std::env::var_os("PODIUM_KEEP_TEST_FILES").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("kept {}", self.path.display());
        }
    }
}

/// The colour of frames in [from, to) ms: the share showing `rgb` (within a distance).
pub fn share_showing(frames: &[FrameSample], from: u64, to: u64, rgb: [u8; 3]) -> f64 {
    let span: Vec<_> = frames.iter().filter(|f| f.t_ms >= from && f.t_ms < to).collect();
    let hits = span.iter().filter(|f| close(f.centre_rgb, rgb)).count();
    hits as f64 / span.len().max(1) as f64
}

pub fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    let d: f32 = (0..3).map(|i| (f32::from(a[i]) - f32::from(b[i])).powi(2)).sum::<f32>().sqrt();
    d < 40.0
}

/// The first frame at or after `from` showing `rgb`.
pub fn first_showing(frames: &[FrameSample], from: u64, rgb: [u8; 3]) -> Option<u64> {
    frames.iter().find(|f| f.t_ms >= from && close(f.centre_rgb, rgb)).map(|f| f.t_ms)
}

/// The power of `hz` in the audio between `from` and `to` ms.
pub fn tone_in(out: &Outcome, from: u64, to: u64, hz: f32) -> f32 {
    let r = u64::from(out.rate);
    let (a, b) = ((from * r / 1000) as usize, ((to * r / 1000) as usize).min(out.audio.len()));
    compositor::review::probe::tone_power(&out.audio[a..b], out.rate, hz)
}

pub fn chapters(path: &std::path::Path) -> Vec<(f64, String)> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "chapter=start_time:chapter_tags=title", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(','))
        .map(|(t, n)| (t.parse().unwrap(), n.to_string()))
        .collect()
}

//! Synthetic participants in a real room, without a browser, for integration tests and
//! benchmarks. Each joins through the room's API (as a WebSocket session would),
//! produces audio and video on a PlainTransport (comedia, rtcp-mux), and a thread of
//! its own sends real VP8 and Opus RTP with RFC 6464 audio levels and sender reports,
//! in real time, answering the PLIs mediasoup sends back. The room's speaker detector
//! hears their levels as it hears a browser's.
//!
//! A camera is either encoded live (a flat colour, cheap to check in a recording), or
//! replayed: a loop encoded once at start, so that a benchmark's load generator costs
//! little; a PLI restarts the loop at its keyframe. With `mesh`, the participant also
//! receives everyone else's streams (into a socket that discards them), so the SFU
//! forwards as much as in a real meeting.
use server::room::{Room, RoomId, Rooms};
use compositor::input::rtp::RtpPacket;
use compositor::synth::{self, AudioSource, Pattern, VideoSource};
use mediasoup::prelude::*;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::num::{NonZeroU32, NonZeroU8};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const AUDIO_LEVEL_ID: u8 = 1;
const CAMERA_FPS: u64 = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Camera {
    None,
    /// Encoded live at 320x180: a flat colour.
    Live([u8; 3]),
    /// A loop of `seconds` of the pattern at `width`x`height`, encoded once.
    Replay { pattern: Pattern, width: u32, height: u32, seconds: u32 },
}

pub struct Options {
    pub camera: Camera,
    /// The voice: a tone of this pitch while speaking.
    pub hz: f32,
    /// Moments (ms after joining) at which the camera flashes white and the voice
    /// beeps at 1 kHz, together, for 100 ms: audio/video sync is measured on them.
    pub flashes: Vec<u64>,
    /// Receive everyone else's streams, as a browser in the meeting does.
    pub mesh: bool,
}

impl Options {
    pub fn new(camera: Camera, hz: f32) -> Self {
        Self { camera, hz, flashes: Vec::new(), mesh: false }
    }
}

pub struct Participant {
    pub id: String,
    pub name: String,
    pub room: Arc<Room>,
    /// When the participant's media clock started (flashes count from here).
    pub joined_at: SystemTime,
    speaking: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _transport: PlainTransport,
    _downlink: Option<(PlainTransport, Vec<Consumer>)>,
}

fn listen() -> ListenInfo {
    server::media::udp_listen(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

impl Participant {
    /// Joins `room` as `name` with a live flat-colour camera (or none) and a voice of
    /// `hz` that sounds while `speak(true)`.
    pub async fn join(rooms: &Rooms, room: &str, name: &str, rgb: Option<[u8; 3]>, hz: f32) -> Participant {
        let camera = rgb.map_or(Camera::None, Camera::Live);
        Self::join_with(rooms, room, name, Options::new(camera, hz)).await
    }

    pub async fn join_with(rooms: &Rooms, room: &str, name: &str, options: Options) -> Participant {
        let room_id = RoomId::parse(room).expect("a valid room id");
        let (room, joined) = rooms.join(&room_id, name, None).await.expect("joining");
        let mut transport_options = PlainTransportOptions::new(listen());
        transport_options.comedia = true;
        transport_options.rtcp_mux = true;
        let transport = room.router.create_plain_transport(transport_options).await.expect("a transport");
        let port = transport.tuple().local_port();
        let seed = name.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        let (audio_ssrc, video_ssrc) = (seed | 1, seed & !1);
        let audio = transport.produce(ProducerOptions::new(MediaKind::Audio, opus_parameters(audio_ssrc))).await.expect("producing audio");
        room.add_producer(&joined.participant_id, audio, server::protocol::Source::Mic).await.expect("adding audio");
        if options.camera != Camera::None {
            let video = transport.produce(ProducerOptions::new(MediaKind::Video, vp8_parameters(video_ssrc))).await.expect("producing video");
            room.add_producer(&joined.participant_id, video, server::protocol::Source::Camera).await.expect("adding video");
        }
        let downlink = if options.mesh { Some(receive_everyone(&room, &joined.participant_id).await) } else { None };
        let speaking = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let joined_at = SystemTime::now();
        let thread = spawn_sender(port, audio_ssrc, video_ssrc, options, Arc::clone(&speaking), Arc::clone(&stop));
        Participant { id: joined.participant_id, name: name.into(), room, joined_at, speaking, stop, thread: Some(thread), _transport: transport, _downlink: downlink }
    }

    pub fn speak(&self, on: bool) {
        self.speaking.store(on, Ordering::SeqCst);
    }

    /// Leaves the room (its producers close).
    pub async fn leave(mut self, rooms: &Rooms) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        rooms.leave(&self.room, &self.id).await;
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn opus_parameters(ssrc: u32) -> RtpParameters {
    RtpParameters {
        codecs: vec![RtpCodecParameters::Audio {
            mime_type: MimeTypeAudio::Opus,
            payload_type: 111,
            clock_rate: NonZeroU32::new(48_000).expect("non-zero"),
            channels: NonZeroU8::new(2).expect("non-zero"),
            parameters: RtpCodecParametersParameters::default(),
            rtcp_feedback: vec![],
        }],
        header_extensions: vec![RtpHeaderExtensionParameters { uri: RtpHeaderExtensionUri::SsrcAudioLevel, id: u16::from(AUDIO_LEVEL_ID), encrypt: false }],
        encodings: vec![RtpEncodingParameters { ssrc: Some(ssrc), ..Default::default() }],
        ..Default::default()
    }
}

fn vp8_parameters(ssrc: u32) -> RtpParameters {
    RtpParameters {
        codecs: vec![RtpCodecParameters::Video {
            mime_type: MimeTypeVideo::Vp8,
            payload_type: 96,
            clock_rate: NonZeroU32::new(90_000).expect("non-zero"),
            parameters: RtpCodecParametersParameters::default(),
            rtcp_feedback: vec![RtcpFeedback::NackPli],
        }],
        encodings: vec![RtpEncodingParameters { ssrc: Some(ssrc), ..Default::default() }],
        ..Default::default()
    }
}

/// A PlainTransport consuming every other producer of the room (those there now),
/// sending into a socket nobody reads from but a draining thread.
async fn receive_everyone(room: &Room, me: &str) -> (PlainTransport, Vec<Consumer>) {
    let sink = UdpSocket::bind("127.0.0.1:0").expect("a sink socket");
    let sink_port = sink.local_addr().expect("bound").port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let _ = sink.set_read_timeout(Some(Duration::from_secs(5)));
        while sink.recv(&mut buf).is_ok() {}
    });
    let mut options = PlainTransportOptions::new(listen());
    options.rtcp_mux = true;
    let transport = room.router.create_plain_transport(options).await.expect("a transport");
    transport
        .connect(PlainTransportRemoteParameters { ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), port: Some(sink_port), rtcp_port: None, srtp_parameters: None })
        .await
        .expect("connecting");
    let caps: RtpCapabilities = serde_json::to_value(room.router.rtp_capabilities()).and_then(serde_json::from_value).expect("capabilities");
    let mut consumers = Vec::new();
    for source in room.media_snapshot().sources.into_iter().filter(|s| s.participant_id != me) {
        if let Ok(c) = transport.consume(ConsumerOptions::new(source.producer_id, caps.clone())).await {
            consumers.push(c);
        }
    }
    (transport, consumers)
}

fn ntp_now_ms() -> f64 {
    let since_unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    since_unix + 2_208_988_800_000.0 // 1900 to 1970
}

/// A camera loop encoded once: the packets of each frame (the first is a keyframe).
struct Replay {
    frames: Vec<Vec<RtpPacket>>,
    next: usize,
    sequence: u16,
}

impl Replay {
    fn new(ssrc: u32, pattern: Pattern, width: u32, height: u32, seconds: u32) -> Self {
        let mut cam = VideoSource::new(ssrc, 96, width, height, CAMERA_FPS as u32).expect("libvpx");
        let frames = (0..u64::from(seconds) * CAMERA_FPS).map(|n| cam.next_frame(pattern, n * 1000 / CAMERA_FPS).expect("encoding")).collect();
        Self { frames, next: 0, sequence: 0 }
    }

    /// The next frame's packets, restamped for `capture_ms` (90 kHz from `base`).
    fn next_frame(&mut self, base: u32, capture_ms: u64) -> Vec<Vec<u8>> {
        let frame = &self.frames[self.next];
        self.next = (self.next + 1) % self.frames.len();
        frame
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.timestamp = base.wrapping_add((capture_ms * 90) as u32);
                p.sequence = self.sequence;
                self.sequence = self.sequence.wrapping_add(1);
                p.to_bytes()
            })
            .collect()
    }
}

/// Sends a participant's media to 127.0.0.1:`port` from a thread of its own until
/// `stop` (a PlainTransport in comedia mode, or a compositor directly).
pub fn spawn_sender(port: u16, audio_ssrc: u32, video_ssrc: u32, options: Options, speaking: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || send_media(port, audio_ssrc, video_ssrc, &options, &speaking, &stop))
}

/// The sending loop: 20 ms of Opus each tick (the voice while speaking, silence
/// otherwise), a 25 fps camera, sender reports every second, keyframes when asked.
fn send_media(port: u16, audio_ssrc: u32, video_ssrc: u32, options: &Options, speaking: &AtomicBool, stop: &AtomicBool) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a socket");
    socket.connect(("127.0.0.1", port)).expect("connecting");
    socket.set_nonblocking(true).expect("non-blocking");
    let mut mic = AudioSource::new(audio_ssrc, 111).expect("libopus");
    mic.audio_level_id = Some(AUDIO_LEVEL_ID);
    let mut live = match options.camera {
        Camera::Live(_) => Some(VideoSource::new(video_ssrc, 96, 320, 180, CAMERA_FPS as u32).expect("libvpx")),
        _ => None,
    };
    let mut replay = match options.camera {
        Camera::Replay { pattern, width, height, seconds } => Some(Replay::new(video_ssrc, pattern, width, height, seconds)),
        _ => None,
    };
    let video_base = video_ssrc.wrapping_mul(2_654_435_761);
    let flashing = |t: u64| options.flashes.iter().any(|&f| t >= f && t < f + 100);
    let start = Instant::now();
    let mut buf = [0u8; 1500];
    for tick in 0u64.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let t = tick * 20;
        let samples = if flashing(t) {
            synth::tone(1000.0, 0.5, t * 48, 960)
        } else if speaking.load(Ordering::SeqCst) {
            synth::tone(options.hz, 0.3, t * 48, 960)
        } else {
            vec![0.0; 960]
        };
        let _ = socket.send(&mic.next_packet(&samples).unwrap_or_default());
        // Keyframe requests (PLIs) from mediasoup.
        while let Ok(n) = socket.recv(&mut buf) {
            if !compositor::input::rtp::pli_targets(&buf[..n]).is_empty() {
                if let Some(cam) = live.as_mut() {
                    cam.request_keyframe();
                }
                if let Some(r) = replay.as_mut() {
                    r.next = 0;
                }
            }
        }
        if tick % 2 == 0 {
            let packets: Vec<Vec<u8>> = match (options.camera, live.as_mut(), replay.as_mut()) {
                (Camera::Live(rgb), Some(cam), _) => {
                    let pattern = Pattern::Solid(if flashing(t) { [255, 255, 255] } else { rgb });
                    cam.next_frame(pattern, t).map(|ps| ps.iter().map(RtpPacket::to_bytes).collect()).unwrap_or_default()
                }
                (_, _, Some(r)) => r.next_frame(video_base, t),
                _ => Vec::new(),
            };
            for packet in packets {
                let _ = socket.send(&packet);
            }
        }
        if tick % 50 == 25 && options.camera != Camera::None {
            let ts = match live.as_ref() {
                Some(cam) => cam.timestamp_at(t),
                None => video_base.wrapping_add((t * 90) as u32),
            };
            let _ = socket.send(&synth::sender_report(video_ssrc, ntp_now_ms(), ts));
        }
        if tick % 50 == 10 {
            let _ = socket.send(&synth::sender_report(audio_ssrc, ntp_now_ms(), mic.timestamp_of(t * 48)));
        }
        let next = start + Duration::from_millis((tick + 1) * 20);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

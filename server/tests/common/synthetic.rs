//! Synthetic participants in a real room, without a browser, for integration tests and
//! benchmarks. Each joins through the room's API (as a WebSocket session would),
//! produces audio and video on a PlainTransport (comedia, rtcp-mux), and a thread of
//! its own sends real VP8 and Opus RTP with RFC 6464 audio levels and sender reports,
//! in real time, answering the PLIs mediasoup sends back. The room's speaker detector
//! hears their levels as it hears a browser's.
//!
//! A camera is either encoded live (a flat colour, cheap to check in a recording), or
//! replayed: a loop encoded once at start, so that a benchmark's load generator costs
//! little; a PLI restarts the loop at its keyframe. A simulcast camera sends three
//! replayed layers (320x180, 640x360, 1280x720) as a browser does, each on its own
//! SSRC. A participant may also share a screen: a second video producer, of source
//! `screen`, replayed at a screen's few frames a second. With `mesh`, the participant
//! also receives everyone else's streams (into a socket that discards them), so the
//! SFU forwards as much as in a real meeting.
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
    /// Three replayed layers, as a browser's simulcast sends them, each of its own
    /// pattern (the same for a real camera; tinted apart, a test sees which layer a
    /// recording shows).
    Simulcast { patterns: [Pattern; 3], seconds: u32 },
}

/// The simulcast layers' sizes, lowest first (web/src/meeting.js sends these).
pub const SIMULCAST_LAYERS: [(u32, u32); 3] = [(320, 180), (640, 360), (1280, 720)];

/// The layers' bitrates (bit/s), lowest first, as web/src/meeting.js caps them. They
/// matter to mediasoup: a transport that estimates its bandwidth shares that estimate
/// out among its consumers, each simulcast layer priced at what it carries: layers all
/// sent at a single camera's 600 kbit/s, as they once were here, found no room even for
/// layer 0 under a 600 kbit/s estimate, where a browser's lowest layer (150) does.
pub const SIMULCAST_BITRATES: [usize; 3] = [150_000, 500_000, 1_500_000];

/// A shared screen: a replayed loop of the pattern at its size and rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screen {
    pub pattern: Pattern,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
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
    /// Share a screen from the start.
    pub screen: Option<Screen>,
}

impl Options {
    pub fn new(camera: Camera, hz: f32) -> Self {
        Self { camera, hz, flashes: Vec::new(), mesh: false, screen: None }
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
        let (room, joined) = rooms.join(&room_id, name, server::name::Naming::Chosen, None).await.expect("joining");
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
            let layers = if matches!(options.camera, Camera::Simulcast { .. }) { SIMULCAST_LAYERS.len() } else { 1 };
            let ssrcs: Vec<u32> = (0..layers as u32).map(|i| video_ssrc.wrapping_add(2 * i)).collect();
            let video = transport.produce(ProducerOptions::new(MediaKind::Video, vp8_parameters(&ssrcs))).await.expect("producing video");
            room.add_producer(&joined.participant_id, video, server::protocol::Source::Camera).await.expect("adding video");
        }
        if options.screen.is_some() {
            let screen = transport.produce(ProducerOptions::new(MediaKind::Video, vp8_parameters(&[screen_ssrc(video_ssrc)]))).await.expect("producing the screen");
            room.add_producer(&joined.participant_id, screen, server::protocol::Source::Screen).await.expect("adding the screen");
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

/// A screen's SSRC, beside its sharer's camera's.
fn screen_ssrc(video_ssrc: u32) -> u32 {
    video_ssrc.wrapping_add(100)
}

/// VP8 on `ssrcs`: one stream, or a simulcast camera's layers, lowest first.
fn vp8_parameters(ssrcs: &[u32]) -> RtpParameters {
    RtpParameters {
        codecs: vec![RtpCodecParameters::Video {
            mime_type: MimeTypeVideo::Vp8,
            payload_type: 96,
            clock_rate: NonZeroU32::new(90_000).expect("non-zero"),
            parameters: RtpCodecParametersParameters::default(),
            rtcp_feedback: vec![RtcpFeedback::NackPli],
        }],
        encodings: ssrcs.iter().map(|&ssrc| RtpEncodingParameters { ssrc: Some(ssrc), ..Default::default() }).collect(),
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
    // The sink sends no RTCP feedback, so mediasoup's estimate would stay at its 600
    // kbit/s start for good and starve the simulcast consumers (a browser reports).
    options.enable_bwe = false;
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
    picture_id: u16,
}

impl Replay {
    /// `bitrate`: a simulcast layer's; by default a screen at a screen share's rate
    /// (browsers send one at up to a few Mbit/s: its still text is sharp and does not
    /// change between frames), a camera at a single-layer camera's.
    fn new(ssrc: u32, pattern: Pattern, width: u32, height: u32, seconds: u32, fps: u32, bitrate: Option<usize>) -> Self {
        let bitrate = bitrate.unwrap_or(if matches!(pattern, Pattern::Screen(_)) { 2_500_000 } else { 600_000 });
        let mut cam = VideoSource::with_bitrate(ssrc, 96, width, height, fps, bitrate).expect("libvpx");
        let fps = u64::from(fps);
        let frames = (0..u64::from(seconds) * fps).map(|n| cam.next_frame(pattern, n * 1000 / fps).expect("encoding")).collect();
        Self { frames, next: 0, sequence: 0, picture_id: 0 }
    }

    /// The next frame's packets, restamped for `capture_ms` (90 kHz from `base`) and
    /// numbered on: the VP8 picture id goes on counting when the replay starts over (at
    /// its end, or at a keyframe request), as a camera's does. A picture id that went
    /// back would be taken for an old frame: mediasoup drops those, and the camera
    /// would freeze until the replay caught up with its highest id.
    fn next_frame(&mut self, base: u32, capture_ms: u64) -> Vec<Vec<u8>> {
        let frame = &self.frames[self.next];
        self.next = (self.next + 1) % self.frames.len();
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        frame
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.timestamp = base.wrapping_add((capture_ms * 90) as u32);
                p.sequence = self.sequence;
                self.sequence = self.sequence.wrapping_add(1);
                // The descriptor (RFC 7741): X, then I (a 15-bit picture id) in bytes 2-3.
                if p.payload.len() > 4 && p.payload[0] & 0x80 != 0 && p.payload[1] & 0x80 != 0 {
                    p.payload[2] = 0x80 | (self.picture_id >> 8) as u8;
                    p.payload[3] = self.picture_id as u8;
                }
                p.to_bytes()
            })
            .collect()
    }
}

/// Sends a participant's media to 127.0.0.1:`port` from a thread of its own until
/// `stop` (a PlainTransport in comedia mode, or a compositor directly).
pub fn spawn_sender(port: u16, audio_ssrc: u32, video_ssrc: u32, options: Options, speaking: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a socket");
    spawn_sender_on(socket, port, audio_ssrc, video_ssrc, options, speaking, stop)
}

/// [`spawn_sender`] from a socket of the caller's (whose address the receiver knows).
pub fn spawn_sender_on(socket: UdpSocket, port: u16, audio_ssrc: u32, video_ssrc: u32, options: Options, speaking: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || send_media(socket, port, audio_ssrc, video_ssrc, &options, &speaking, &stop))
}

/// One video stream a participant sends, and how.
struct VideoStream {
    ssrc: u32,
    /// A frame every this many 20 ms ticks.
    every: u64,
    /// Encoded live, a flat colour (flashing white at the flashes).
    live: Option<(VideoSource, [u8; 3])>,
    replay: Option<Replay>,
    /// The replay's RTP timestamp at time 0.
    base: u32,
}

impl VideoStream {
    fn replayed(ssrc: u32, pattern: Pattern, width: u32, height: u32, seconds: u32, fps: u32, bitrate: Option<usize>) -> Self {
        Self { ssrc, every: 50 / u64::from(fps), live: None, replay: Some(Replay::new(ssrc, pattern, width, height, seconds, fps, bitrate)), base: ssrc.wrapping_mul(2_654_435_761) }
    }

    fn keyframe(&mut self) {
        if let Some((cam, _)) = self.live.as_mut() {
            cam.request_keyframe();
        }
        if let Some(r) = self.replay.as_mut() {
            r.next = 0;
        }
    }

    fn frame(&mut self, t: u64, flash: bool) -> Vec<Vec<u8>> {
        match (self.live.as_mut(), self.replay.as_mut()) {
            (Some((cam, rgb)), _) => {
                let pattern = Pattern::Solid(if flash { [255, 255, 255] } else { *rgb });
                cam.next_frame(pattern, t).map(|ps| ps.iter().map(RtpPacket::to_bytes).collect()).unwrap_or_default()
            }
            (_, Some(r)) => r.next_frame(self.base, t),
            _ => Vec::new(),
        }
    }

    fn timestamp_at(&self, t: u64) -> u32 {
        match self.live.as_ref() {
            Some((cam, _)) => cam.timestamp_at(t),
            None => self.base.wrapping_add((t * 90) as u32),
        }
    }
}

/// The video streams `options` ask for: the camera (one stream, or its simulcast
/// layers) and the screen.
fn video_streams(video_ssrc: u32, options: &Options) -> Vec<VideoStream> {
    let camera_every = 50 / CAMERA_FPS;
    let mut streams = match options.camera {
        Camera::None => Vec::new(),
        Camera::Live(rgb) => {
            let cam = VideoSource::new(video_ssrc, 96, 320, 180, CAMERA_FPS as u32).expect("libvpx");
            vec![VideoStream { ssrc: video_ssrc, every: camera_every, live: Some((cam, rgb)), replay: None, base: 0 }]
        }
        Camera::Replay { pattern, width, height, seconds } => vec![VideoStream::replayed(video_ssrc, pattern, width, height, seconds, CAMERA_FPS as u32, None)],
        Camera::Simulcast { patterns, seconds } => SIMULCAST_LAYERS
            .iter()
            .zip(patterns)
            .enumerate()
            .map(|(i, (&(w, h), pattern))| {
                VideoStream::replayed(video_ssrc.wrapping_add(2 * i as u32), pattern, w, h, seconds, CAMERA_FPS as u32, Some(SIMULCAST_BITRATES[i]))
            })
            .collect(),
    };
    if let Some(screen) = options.screen {
        streams.push(VideoStream::replayed(screen_ssrc(video_ssrc), screen.pattern, screen.width, screen.height, 8, screen.fps, None));
    }
    streams
}

/// The sending loop: 20 ms of Opus each tick (the voice while speaking, silence
/// otherwise), the video streams at their rates, sender reports every second,
/// keyframes when asked.
fn send_media(socket: UdpSocket, port: u16, audio_ssrc: u32, video_ssrc: u32, options: &Options, speaking: &AtomicBool, stop: &AtomicBool) {
    socket.connect(("127.0.0.1", port)).expect("connecting");
    socket.set_nonblocking(true).expect("non-blocking");
    let mut mic = AudioSource::new(audio_ssrc, 111).expect("libopus");
    mic.audio_level_id = Some(AUDIO_LEVEL_ID);
    let mut videos = video_streams(video_ssrc, options);
    let flashing = |t: u64| options.flashes.iter().any(|&f| t >= f && t < f + 100);
    let start = Instant::now();
    // Sender reports pair each RTP time with the same clock's wall time, as a browser's
    // do (its capture clock stamps both): from the start, not from when this thread
    // got round to sending (on a busy machine, late), which would move one stream
    // against the other.
    let ntp_start = ntp_now_ms();
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
        // Keyframe requests (PLIs) from mediasoup, each for one stream.
        while let Ok(n) = socket.recv(&mut buf) {
            for ssrc in compositor::input::rtp::pli_targets(&buf[..n]) {
                for video in videos.iter_mut().filter(|v| v.ssrc == ssrc) {
                    video.keyframe();
                }
            }
        }
        for video in &mut videos {
            if tick % video.every == 0 {
                for (i, packet) in video.frame(t, flashing(t)).iter().enumerate() {
                    // Paced, as a browser's sender is: a 720p keyframe (dozens of
                    // packets) sent as one burst overflows a socket buffer the
                    // kernel caps at its 212 kB default, which no browser does.
                    if i > 0 && i % 8 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    let _ = socket.send(packet);
                }
            }
            if tick % 50 == 25 {
                let _ = socket.send(&synth::sender_report(video.ssrc, ntp_start + t as f64, video.timestamp_at(t)));
            }
        }
        if tick % 50 == 10 {
            let _ = socket.send(&synth::sender_report(audio_ssrc, ntp_start + t as f64, mic.timestamp_of(t * 48)));
        }
        let next = start + Duration::from_millis((tick + 1) * 20);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

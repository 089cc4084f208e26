//! Synthetic participants in a real room, without a browser: each joins through the
//! room's API (as a WebSocket session would), produces audio and video on a
//! PlainTransport (comedia, rtcp-mux), and a thread of its own sends real VP8 and Opus
//! RTP with RFC 6464 audio levels and sender reports, in real time, answering the PLIs
//! mediasoup sends back. The room's speaker detector hears their levels like a
//! browser's.
use compositor::synth::{self, AudioSource, Pattern, VideoSource};
use mediasoup::prelude::*;
use server::room::{Room, RoomId, Rooms};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::num::{NonZeroU32, NonZeroU8};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const AUDIO_LEVEL_ID: u8 = 1;

pub struct Participant {
    pub id: String,
    pub name: String,
    pub room: Arc<Room>,
    speaking: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _transport: PlainTransport,
}

fn listen() -> ListenInfo {
    ListenInfo {
        protocol: Protocol::Udp,
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        announced_address: None,
        expose_internal_ip: false,
        port: None,
        port_range: None,
        flags: None,
        send_buffer_size: None,
        recv_buffer_size: None,
    }
}

impl Participant {
    /// Joins `room` as `name`, with a camera of colour `rgb` (or none) and a voice of
    /// `hz` that sounds while `speak(true)`.
    pub async fn join(rooms: &Rooms, room: &str, name: &str, rgb: Option<[u8; 3]>, hz: f32) -> Participant {
        let room_id = RoomId::parse(room).unwrap();
        let (room, joined) = rooms.join(&room_id, name, None).await.unwrap();
        let mut options = PlainTransportOptions::new(listen());
        options.comedia = true;
        options.rtcp_mux = true;
        let transport = room.router.create_plain_transport(options).await.unwrap();
        let port = transport.tuple().local_port();
        let seed = rand_seed(name);
        let (audio_ssrc, video_ssrc) = (seed | 1, seed & !1);
        let audio = transport
            .produce(ProducerOptions::new(
                MediaKind::Audio,
                RtpParameters {
                    codecs: vec![RtpCodecParameters::Audio {
                        mime_type: MimeTypeAudio::Opus,
                        payload_type: 111,
                        clock_rate: NonZeroU32::new(48_000).unwrap(),
                        channels: NonZeroU8::new(2).unwrap(),
                        parameters: RtpCodecParametersParameters::default(),
                        rtcp_feedback: vec![],
                    }],
                    header_extensions: vec![RtpHeaderExtensionParameters { uri: RtpHeaderExtensionUri::SsrcAudioLevel, id: u16::from(AUDIO_LEVEL_ID), encrypt: false }],
                    encodings: vec![RtpEncodingParameters { ssrc: Some(audio_ssrc), ..Default::default() }],
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
        room.add_producer(&joined.participant_id, audio).await.unwrap();
        if rgb.is_some() {
            let video = transport
                .produce(ProducerOptions::new(
                    MediaKind::Video,
                    RtpParameters {
                        codecs: vec![RtpCodecParameters::Video {
                            mime_type: MimeTypeVideo::Vp8,
                            payload_type: 96,
                            clock_rate: NonZeroU32::new(90_000).unwrap(),
                            parameters: RtpCodecParametersParameters::default(),
                            rtcp_feedback: vec![RtcpFeedback::NackPli],
                        }],
                        encodings: vec![RtpEncodingParameters { ssrc: Some(video_ssrc), ..Default::default() }],
                        ..Default::default()
                    },
                ))
                .await
                .unwrap();
            room.add_producer(&joined.participant_id, video).await.unwrap();
        }
        let speaking = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (speaking, stop) = (Arc::clone(&speaking), Arc::clone(&stop));
            std::thread::spawn(move || send_media(port, audio_ssrc, rgb.map(|c| (video_ssrc, c)), hz, &speaking, &stop))
        };
        Participant { id: joined.participant_id, name: name.into(), room, speaking, stop, thread: Some(thread), _transport: transport }
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

fn rand_seed(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

fn ntp_now_ms() -> f64 {
    let since_unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0;
    since_unix + 2_208_988_800_000.0 // 1900 to 1970
}

/// The sending loop: 20 ms of Opus each tick (a tone while speaking, silence
/// otherwise), a 25 fps camera, sender reports every second, keyframes when asked.
fn send_media(port: u16, audio_ssrc: u32, video: Option<(u32, [u8; 3])>, hz: f32, speaking: &AtomicBool, stop: &AtomicBool) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", port)).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut mic = AudioSource::new(audio_ssrc, 111).unwrap();
    mic.audio_level_id = Some(AUDIO_LEVEL_ID);
    let mut cam = video.map(|(ssrc, _)| VideoSource::new(ssrc, 96, 320, 180, 25).unwrap());
    let start = Instant::now();
    let mut tick = 0u64;
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::SeqCst) {
        let t = tick * 20;
        let samples = if speaking.load(Ordering::SeqCst) { synth::tone(hz, 0.3, t * 48, 960) } else { vec![0.0; 960] };
        let _ = socket.send(&mic.next_packet(&samples).unwrap());
        if let (Some(cam), Some((_, rgb))) = (cam.as_mut(), video) {
            // Answer keyframe requests (PLIs) from mediasoup.
            while let Ok(n) = socket.recv(&mut buf) {
                if !compositor::rtp::pli_targets(&buf[..n]).is_empty() {
                    cam.request_keyframe();
                }
            }
            if tick % 2 == 0 {
                for packet in cam.next_frame(Pattern::Solid(rgb), t).unwrap() {
                    let _ = socket.send(&packet.to_bytes());
                }
            }
            if tick % 50 == 25 {
                let _ = socket.send(&synth::sender_report(cam.ssrc, ntp_now_ms(), cam.timestamp_at(t)));
            }
        } else {
            while socket.recv(&mut buf).is_ok() {}
        }
        if tick % 50 == 10 {
            let _ = socket.send(&synth::sender_report(audio_ssrc, ntp_now_ms(), mic.timestamp_of(t * 48)));
        }
        tick += 1;
        let next = start + Duration::from_millis(tick * 20);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

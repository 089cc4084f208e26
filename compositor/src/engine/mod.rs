//! One recording's pipeline, fed datagrams, control messages and `Instant`s by its
//! caller (the process shell in `process`, or a test with a fake clock): it owns no
//! socket, thread or timer. Out come the mp4, the sidecar, RTCP keyframe requests for
//! the caller to send, and control messages for the server.
//!
//! The engine conducts; each stream's work is on its own type. The path of a camera's
//! packet ([`camera::Camera`]): RTP → reorder (`jitter`) → depacketize → placed on the
//! recording's clock (`clock`: RTP time through the sender reports) → decoded when the
//! output reaches its time → at each output frame's time, `stage` decides what shows →
//! `compose` → `mp4`. Audio ([`microphone::Microphone`]): RTP → reorder → Opus decode →
//! placed by RTP position in the `mixer` → AAC.
//!
//! Output runs the *lookahead* behind real time (`Config::lookahead`, 1.3 s by
//! default). It lets reordered and late packets land where they belong, and it lets a
//! speaker decision, which the server's detector makes about 0.8 s after the turn's
//! first word, arrive before the output reaches that word: the cut goes where the turn
//! began (`speaker`'s `since`), as an editor would place it. A stop renders that last
//! stretch at once.
mod camera;
mod microphone;
pub mod quality;
mod roster;

use crate::input::clock::{self, MediaClock};
use crate::picture::compose::{self, Composer};
use crate::control::{self, FromCompositor, MediaKind, Source, ToCompositor, CONTROL_VERSION, MAX_LAYOUT_AGE_MS};
use crate::input::depacketize::Codec;
use crate::sound::activity::ActivityMeter;
use crate::sound::mixer::Mixer;
use crate::output::mp4::{self, AudioChannels, Mp4Writer, VideoSettings, WriteError, AUDIO_FRAME, SAMPLE_RATE};
use crate::input::rtp::{self, RtpPacket};
use crate::output::sidecar::{self, LayoutChange, QualityStep, ScreenShare, Sidecar, Status};
use crate::picture::layout::{Fill, Layout, LayoutKind, Rect};
use crate::picture::stage::{Show, Stage};
use crate::output::timeline::Timeline;
use ffmpeg_next::frame;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use camera::Camera;
use microphone::Microphone;
use quality::{QualityLadder, Step, CATCH_UP_BEHIND_MS, CATCH_UP_FPS, CATCH_UP_UNTIL_MS, THUMBNAIL_FPS};
use std::time::{Duration, Instant, SystemTime};

/// How far output runs behind real time by default. The server's detector decides
/// 800–850 ms after a turn's first word (797–851 ms measured, docs/benchmarks.md); the
/// rest covers the control message's trip, the jitter buffer's wait, the spread of
/// arrival around the RTP clock and a loaded machine.
pub const DEFAULT_LOOKAHEAD: Duration = Duration::from_millis(1300);
/// The least lookahead `--recording-lookahead-ms` accepts: the jitter buffer's wait
/// and decoding fit in it, though cuts then land up to 0.5 s after the first word (a
/// decision later than the lookahead cuts at the first frame not rendered yet).
pub const MIN_LOOKAHEAD: Duration = Duration::from_millis(300);
/// How long a gap in a stream is waited for (a reordered or retransmitted packet).
const JITTER_DELAY: Duration = Duration::from_millis(100);
/// Keyframe requests for one stream are at most this frequent.
const PLI_INTERVAL: Duration = Duration::from_millis(300);
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Packets of an SSRC not in the source map yet (the server creates a consumer, then
/// tells us) are kept this long, up to this many, and replayed when the map names it.
const PENDING_AGE: Duration = Duration::from_secs(2);
const PENDING_PACKETS: usize = 500;

pub struct Config {
    pub id: String,
    pub room: String,
    pub output: PathBuf,
    pub sidecar: PathBuf,
    pub video: VideoSettings,
    /// The AAC track's channels.
    pub audio: AudioChannels,
    pub font: String,
    /// The layout the recording starts with.
    pub layout: LayoutKind,
    /// How far output runs behind real time; a cut can move back at most this far
    /// (less the detector's delay).
    pub lookahead: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Compose(#[from] compose::ComposeError),
    #[error("cannot start a decoder: {0}")]
    Decoder(ffmpeg_next::Error),
}

/// What a finished recording amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub duration_ms: u64,
    pub size_bytes: u64,
}

/// A speaker change, placed.
struct Cut {
    /// Where the cut goes (ms of the recording): where the turn began.
    at_ms: u64,
    /// When the decision reached us (ms of the recording).
    decided_ms: u64,
    speaker: Option<String>,
}

/// A participant's camera turned on or off (or came or went) at `at_ms`.
struct SendingChange {
    at_ms: u64,
    participant: String,
    on: bool,
}

/// What the last output frame was made of, to reuse it when nothing changed: each
/// tile's place, whether it is marked as the speaker's, and its content (which picture
/// of whom, or a card).
#[derive(PartialEq)]
struct FrameKey(Vec<(Rect, bool, TileKey)>);

/// The grid's mark on the speaker's tile: the web UI's "speaking" green (#3dd68c, its
/// `--ok`), which no name card's colour is (they are all at 38 % lightness).
const SPEAKING_BORDER_RGB: [u8; 3] = [0x3d, 0xd6, 0x8c];

#[derive(PartialEq)]
enum TileKey {
    Stage(Show<String>, Option<u64>),
    Camera(String, Option<u64>),
    /// A sharer's screen, and the time of its picture.
    Screen(String, u64),
}

impl TileKey {
    /// A number that is the same for the same content, for the composer to leave a
    /// tile that did not change as it is.
    fn id(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        match self {
            TileKey::Stage(show, at) => (0u8, show, at).hash(&mut h),
            TileKey::Camera(p, at) => (1u8, p, at).hash(&mut h),
            TileKey::Screen(p, at) => (2u8, p, at).hash(&mut h),
        }
        h.finish()
    }
}

/// A change of the frame's layout not rendered yet: who is present, the layout, or
/// whose screen share is live (it shows once its first picture is decoded).
enum LayoutEvent {
    Present(Vec<String>),
    Kind(LayoutKind),
    Share(Option<String>),
}

pub struct Engine {
    cfg: Config,
    start: Instant,
    sidecar: Sidecar,
    sources: HashMap<u32, Source>,
    video: HashMap<u32, Camera>,
    audio: HashMap<u32, Microphone>,
    /// Removed audio sources whose audio is still being mixed.
    draining: Vec<u32>,
    pending: HashMap<u32, VecDeque<(Instant, Vec<u8>)>>,
    /// Each session's name and join order; who the sidecar lists.
    roster: roster::Roster,
    clock: MediaClock,
    mixer: Mixer<u32>,
    stage: Stage<String>,
    layout: Layout<String>,
    /// The waiting card's title (the room's name), made once.
    waiting_title: String,
    /// Layout changes not rendered yet: (from when, ms of the recording; what).
    layout_events: VecDeque<(u64, LayoutEvent)>,
    /// Speaker changes not rendered yet, in the order of their cuts.
    cuts: VecDeque<Cut>,
    /// Camera pictures decoded (a measure of the work dormant cameras save).
    camera_pictures_decoded: u64,
    /// Whether each participant sends video, as the source map last said.
    sending: HashMap<String, bool>,
    /// Changes of that not rendered yet, in time order.
    sending_changes: VecDeque<SendingChange>,
    /// The newest due picture of each participant.
    current: HashMap<String, (u64, frame::Video)>,
    /// The newest due picture of each shared screen, by sharer.
    screens: HashMap<String, (u64, frame::Video)>,
    /// Whose share the source map names (from when the output gets there).
    share_live: Option<String>,
    /// Whose share the source map last named (to notice changes).
    share_mapped: Option<String>,
    timeline: Timeline,
    composer: Composer,
    writer: Option<Mp4Writer>,
    last_frame: Option<FrameKey>,
    frames_out: u64,
    rtcp_out: Vec<Vec<u8>>,
    messages: Vec<FromCompositor>,
    next_progress: Instant,
    /// The per-second activity the sidecar keeps, by audio source.
    activity: ActivityMeter<u32>,
    /// How far behind real time the last poll found the output.
    lag_ms: u64,
    warned: HashSet<String>,
    /// The recorder's own steps down (and back up) to keep up on a busy machine.
    quality: QualityLadder,
    /// The preset one step faster than the configured one, if it can take over in
    /// this file.
    faster_preset: Option<&'static str>,
    /// A preset to change to at the next keyframe.
    preset_at_keyframe: Option<String>,
    /// Time the caller spent working for this recording since `work_since`.
    work: Duration,
    work_since: Instant,
    /// The last output frame encoded (the frames after it repeat it until one changes).
    last_encoded: Option<u64>,
    /// With thumbnails slowed down: the time of the picture each one shows.
    thumbnails: HashMap<String, u64>,
    /// Whether output is being caught up on (`quality`'s bound beneath the steps).
    catching_up: bool,
}

impl Engine {
    /// Creates the mp4 (header written) and the sidecar; `now` and `wall` are the
    /// recording's time 0.
    pub fn new(cfg: Config, now: Instant, wall: SystemTime) -> Result<Self, EngineError> {
        let writer = Mp4Writer::create(&cfg.output, &cfg.video, cfg.audio)?;
        let faster_preset = quality::faster_preset(&cfg.video.preset).filter(|p| writer.accepts_preset(p));
        let composer = Composer::new(cfg.video.width, cfg.video.height, &cfg.font)?;
        let sidecar = Sidecar {
            version: sidecar::SIDECAR_VERSION,
            id: cfg.id.clone(),
            room: cfg.room.clone(),
            status: Status::Recording,
            started_at: sidecar::rfc3339(wall),
            duration_ms: 0,
            participants: Vec::new(),
            timeline: Vec::new(),
            error: None,
            width: cfg.video.width,
            height: cfg.video.height,
            fps: cfg.video.fps,
            max_lag_ms: 0,
            loudness_db: Vec::new(),
            voices: Vec::new(),
            layout: cfg.layout,
            layout_changes: Vec::new(),
            screen_shares: Vec::new(),
            quality_steps: Vec::new(),
        };
        let layout = Layout::new(cfg.layout, cfg.video.width, cfg.video.height);
        let waiting_title = format!("{} \u{2014} waiting for someone to speak", cfg.room);
        let mut engine = Self {
            cfg,
            start: now,
            sidecar,
            sources: HashMap::new(),
            video: HashMap::new(),
            audio: HashMap::new(),
            draining: Vec::new(),
            pending: HashMap::new(),
            roster: roster::Roster::default(),
            clock: MediaClock::new(),
            mixer: Mixer::new(),
            stage: Stage::new(),
            layout,
            waiting_title,
            layout_events: VecDeque::new(),
            cuts: VecDeque::new(),
            camera_pictures_decoded: 0,
            sending: HashMap::new(),
            sending_changes: VecDeque::new(),
            current: HashMap::new(),
            screens: HashMap::new(),
            share_live: None,
            share_mapped: None,
            timeline: Timeline::new(),
            composer,
            writer: Some(writer),
            last_frame: None,
            frames_out: 0,
            rtcp_out: Vec::new(),
            messages: Vec::new(),
            next_progress: now + PROGRESS_EVERY,
            activity: ActivityMeter::new(SAMPLE_RATE),
            lag_ms: 0,
            warned: HashSet::new(),
            quality: QualityLadder::new(faster_preset.is_some()),
            faster_preset,
            preset_at_keyframe: None,
            work: Duration::ZERO,
            work_since: now,
            last_encoded: None,
            thumbnails: HashMap::new(),
            catching_up: false,
        };
        engine.write_sidecar();
        Ok(engine)
    }

    pub fn started_at(&self) -> &str {
        &self.sidecar.started_at
    }

    fn ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_millis() as u64
    }

    fn ms_f64(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.start).as_secs_f64() * 1000.0
    }

    fn writer(&mut self) -> &mut Mp4Writer {
        self.writer.as_mut().expect("the writer lives until finish")
    }

    /// Control messages for the server (progress, warnings), oldest first.
    pub fn take_messages(&mut self) -> Vec<FromCompositor> {
        std::mem::take(&mut self.messages)
    }

    /// RTCP packets to send back to the media's sender (keyframe requests).
    /// How many camera pictures (shares aside) were decoded so far: those of the
    /// cameras drawn, and the catch-ups of dormant ones drawn again.
    pub fn camera_pictures_decoded(&self) -> u64 {
        self.camera_pictures_decoded
    }

    pub fn take_rtcp(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.rtcp_out)
    }

    fn warn_once(&mut self, key: &str, message: String) {
        if self.warned.insert(key.to_string()) {
            tracing::warn!(recording = %self.cfg.id, "{message}");
            self.messages.push(FromCompositor::Warning { v: CONTROL_VERSION, message });
        }
    }

    /// The caller spent `took` working for this recording (taking input, polling):
    /// how busy it is tells whether there is room to step quality back up.
    pub fn worked(&mut self, took: Duration) {
        self.work += took;
    }

    /// A control message from the server (`Stop` is the caller's to act on).
    pub fn handle_control(&mut self, now: Instant, message: ToCompositor) {
        match message {
            ToCompositor::Sources { sources, .. } => self.set_sources(now, sources),
            ToCompositor::Speaker { participant_id, since, decided, .. } => {
                let at_ms = self.place_cut(now, decided.saturating_sub(since));
                self.cuts.push_back(Cut { at_ms, decided_ms: self.ms(now), speaker: participant_id });
            }
            ToCompositor::Layout { layout, chosen_ms_ago, .. } => self.place_layout(now, layout, chosen_ms_ago),
            ToCompositor::Stop { .. } => {}
        }
    }

    /// A layout chosen `chosen_ms_ago` before `now` (at most [`MAX_LAYOUT_AGE_MS`]): the
    /// file changes when it was chosen, as the output, a lookahead behind, has not got
    /// there yet; else (a lookahead shorter than the age) at the first frame not drawn. Never before a change asked earlier,
    /// so the last one asked is the one that stays. Kept in time order with the other
    /// changes of the frame (who is present, a share), which it does not touch.
    fn place_layout(&mut self, now: Instant, layout: LayoutKind, chosen_ms_ago: u64) {
        let chosen = self.ms(now).saturating_sub(chosen_ms_ago.min(MAX_LAYOUT_AGE_MS));
        let after_last_asked = self.layout_events.iter().filter(|(_, e)| matches!(e, LayoutEvent::Kind(_))).map(|(at, _)| *at).max().unwrap_or(0);
        let at = chosen.max(self.next_frame_ms()).max(after_last_asked);
        // One asked for the same moment as the last is its correction.
        self.layout_events.retain(|(t, e)| !(*t == at && matches!(e, LayoutEvent::Kind(_))));
        let place = self.layout_events.partition_point(|(t, _)| *t <= at);
        self.layout_events.insert(place, (at, LayoutEvent::Kind(layout)));
    }

    /// Where a speaker change that arrives at `now`, saying its turn began
    /// `turn_age_ms` before the decision, is cut: at the turn's beginning, unless the
    /// output has passed it already (a decision later than the lookahead allows), then
    /// at the first frame not rendered yet. Never before an earlier change.
    fn place_cut(&mut self, now: Instant, turn_age_ms: u64) -> u64 {
        let began = self.ms(now).saturating_sub(turn_age_ms);
        let next_frame = self.next_frame_ms();
        let after_previous = self.cuts.back().map_or(0, |c| c.at_ms);
        if began < next_frame {
            tracing::debug!(recording = %self.cfg.id, turn_age_ms, late_ms = next_frame - began, "a speaker decision came after the lookahead: cutting late");
        }
        began.max(next_frame).max(after_previous)
    }

    fn next_frame_ms(&self) -> u64 {
        self.frames_out * 1000 / u64::from(self.cfg.video.fps)
    }

    /// The server's source map changed at `now`. New streams are taken at once (their
    /// packets are placed by their own times); what ends or pauses takes effect when
    /// the output reaches `now`, a lookahead later: a camera that goes keeps decoding
    /// what it sent until then, so nobody's picture stops before they did.
    fn set_sources(&mut self, now: Instant, sources: Vec<Source>) {
        let now_ms = self.ms(now);
        // Participants in the order the server lists them (its join order).
        for source in &sources {
            let listed = self.roster.see(&source.participant_id, &source.name, &self.sidecar.participants);
            self.sidecar.participants.extend(listed);
        }
        let new: HashMap<u32, Source> = sources.into_iter().map(|s| (s.ssrc, s)).collect();
        for ssrc in self.sources.keys().copied().collect::<Vec<_>>() {
            if !new.contains_key(&ssrc) {
                if let Some(camera) = self.video.get_mut(&ssrc) {
                    // Dropped (and its clock with it) once the output is there.
                    camera.retire(now_ms);
                } else {
                    if self.audio.remove(&ssrc).is_some() {
                        self.draining.push(ssrc);
                    }
                    self.clock.remove_stream(ssrc);
                }
            }
        }
        for (ssrc, source) in &new {
            if self.sources.contains_key(ssrc) {
                continue;
            }
            self.clock.add_stream(*ssrc, source.clock_rate);
            match (source.kind, source.codec) {
                (MediaKind::Video, codec @ (control::Codec::Vp8 | control::Codec::H264)) => {
                    let codec = if codec == control::Codec::Vp8 { Codec::Vp8 } else { Codec::H264 };
                    match Camera::new(source.participant_id.clone(), source.screen, *ssrc, source.payload_type, codec, JITTER_DELAY) {
                        Ok(camera) => {
                            self.video.insert(*ssrc, camera);
                        }
                        Err(e) => self.warn_once(&format!("decoder{ssrc}"), format!("cannot decode {}'s video: {e}", source.name)),
                    }
                }
                (MediaKind::Audio, control::Codec::Opus) => match Microphone::new(*ssrc, source.payload_type, JITTER_DELAY) {
                    Ok(microphone) => {
                        self.draining.retain(|s| s != ssrc);
                        self.audio.insert(*ssrc, microphone);
                    }
                    Err(e) => self.warn_once(&format!("decoder{ssrc}"), format!("cannot decode {}'s audio: {e}", source.name)),
                },
                (kind, codec) => self.warn_once(&format!("codec{ssrc}"), format!("{}'s {kind:?} stream is {codec:?}, which a recording cannot carry", source.name)),
            }
        }
        // Who sends video now, for the stage, from when the output reaches now. A
        // camera paused is a card from there; a stream that left the map (its consumer
        // re-created, its owner gone) is held like a stopped one: until its pictures go
        // stale, or another speaker shows.
        let mut sending: HashMap<String, bool> = HashMap::new();
        for source in new.values().filter(|s| s.kind == MediaKind::Video && !s.screen) {
            *sending.entry(source.participant_id.clone()).or_default() |= !source.paused;
        }
        // Those no longer in the map are forgotten (the stage holds them as above), so
        // that the map does not grow with every session of a long meeting.
        self.sending.retain(|participant, _| sending.contains_key(participant));
        for (participant, on) in sending {
            if self.sending.insert(participant.clone(), on) != Some(on) {
                self.sending_changes.push_back(SendingChange { at_ms: now_ms, participant, on });
            }
        }
        // Who is in the layout's tiles, in join order, from when the output gets here.
        let present = self.roster.in_join_order(new.values().map(|s| &s.participant_id));
        self.layout_events.push_back((now_ms, LayoutEvent::Present(present)));
        // The share on stage: one at a time (the server sees to it; if two were named,
        // the first listed).
        let share = new.values().filter(|s| s.kind == MediaKind::Video && s.screen && !s.paused).map(|s| s.participant_id.clone()).min_by_key(|p| self.roster.order(p));
        if share != self.share_mapped {
            self.share_mapped = share.clone();
            self.layout_events.push_back((now_ms, LayoutEvent::Share(share)));
        }
        self.sources = new;
        // Packets that came before their source was named.
        let named: Vec<u32> = self.pending.keys().copied().filter(|s| self.sources.contains_key(s)).collect();
        for ssrc in named {
            for (arrived, bytes) in self.pending.remove(&ssrc).unwrap_or_default() {
                self.handle_datagram(arrived, &bytes);
            }
        }
    }

    /// One UDP datagram from the media's sender: RTP or (rtcp-mux) RTCP.
    /// `now`: when the datagram arrived.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) {
        if rtp::is_rtcp(bytes) {
            let at = self.ms_f64(now);
            for report in clock::sender_reports(bytes) {
                let before = self.clock.local_time(report.ssrc, report.rtp_timestamp, at);
                self.clock.on_sender_report(&report, at);
                let after = self.clock.local_time(report.ssrc, report.rtp_timestamp, at);
                tracing::debug!(recording = %self.cfg.id, ssrc = report.ssrc, at, ?before, ?after, "sender report");
            }
            return;
        }
        let packet = match RtpPacket::parse(bytes) {
            Ok(p) => p,
            Err(e) => return self.warn_once("badrtp", format!("dropping malformed RTP packets ({e})")),
        };
        let ssrc = packet.ssrc;
        if self.sources.contains_key(&ssrc) {
            // A stream without a sender report yet is anchored by its first packet's
            // arrival: note it now, not when the jitter buffer lets the packet go.
            let at = self.ms_f64(now);
            self.clock.local_time(ssrc, packet.timestamp, at);
        }
        if let Some(camera) = self.video.get_mut(&ssrc) {
            camera.push(now, packet);
            self.drain_video(ssrc, now, now);
        } else if let Some(microphone) = self.audio.get_mut(&ssrc) {
            microphone.push(now, packet);
            self.drain_audio(ssrc, now, now);
        } else if !self.sources.contains_key(&ssrc) {
            let queue = self.pending.entry(ssrc).or_default();
            queue.push_back((now, bytes.to_vec()));
            while queue.len() > PENDING_PACKETS || queue.front().is_some_and(|(t, _)| now.saturating_duration_since(*t) > PENDING_AGE) {
                queue.pop_front();
            }
        }
    }

    /// Releases what the jitter buffer lets go at `release_at`; `now` is arrival time.
    fn drain_video(&mut self, ssrc: u32, release_at: Instant, now: Instant) {
        let now_ms = self.ms_f64(now);
        if let Some(camera) = self.video.get_mut(&ssrc) {
            camera.drain(release_at, now_ms, &mut self.clock);
        }
    }

    fn drain_audio(&mut self, ssrc: u32, release_at: Instant, now: Instant) {
        let now_ms = self.ms_f64(now);
        let Some(microphone) = self.audio.get_mut(&ssrc) else { return };
        for (pos, samples) in microphone.drain(release_at, now_ms, &mut self.clock) {
            self.activity.packet(ssrc, pos, &samples);
            let placement = self.mixer.push_at(&ssrc, pos, &samples);
            tracing::trace!(ssrc, pos, mixed_to = self.mixer.position(), ?placement, "audio placed");
        }
    }

    /// Does what is due at `now`: late gaps given up on, keyframe requests, output frames
    /// and audio up to `now - lookahead`, progress.
    pub fn poll(&mut self, now: Instant) -> Result<(), EngineError> {
        for ssrc in self.video.keys().copied().collect::<Vec<_>>() {
            self.drain_video(ssrc, now, now);
        }
        for ssrc in self.audio.keys().copied().collect::<Vec<_>>() {
            self.drain_audio(ssrc, now, now);
        }
        self.request_keyframes(now);
        let due = self.ms(now).saturating_sub(self.cfg.lookahead.as_millis() as u64);
        // How late the most overdue frame is: a loop that keeps up renders each frame
        // within a wakeup of its time.
        let lag = due.saturating_sub(self.next_frame_ms());
        self.lag_ms = lag;
        let worst = self.sidecar.max_lag_ms;
        if lag > worst {
            // Said once per whole second it falls further behind.
            if lag / 1000 > worst / 1000 {
                tracing::warn!(recording = %self.cfg.id, lag_ms = lag, "the recorder is behind real time: the machine is too busy");
            }
            self.sidecar.max_lag_ms = lag;
        }
        self.render_until(due, true)?;
        if now >= self.next_progress {
            self.next_progress = now + PROGRESS_EVERY;
            let busy = self.work.as_secs_f32() / now.saturating_duration_since(self.work_since).as_secs_f32().max(0.001);
            (self.work, self.work_since) = (Duration::ZERO, now);
            let multi_tile = self.layout.tiles().iter().any(|tile| matches!(tile.fill, Fill::Camera(_)));
            if let Some(change) = self.quality.observe(now, self.lag_ms, busy, multi_tile) {
                self.change_quality(change, busy);
            }
            let (duration_ms, size_bytes) = (self.writer().duration_ms(), self.writer().size_bytes());
            self.messages.push(FromCompositor::Progress { v: CONTROL_VERSION, duration_ms, size_bytes, lag_ms: self.lag_ms });
            // The one place the sidecar is rewritten while recording (besides its first
            // and last writes): once a second, with whatever changed meanwhile (a join, a
            // turn, a layout, a share, a quality step). Each write is a synced rewrite of
            // the whole file; written on every change, a client toggling its streams made
            // dozens a second.
            self.write_sidecar();
        }
        Ok(())
    }

    /// When `poll` has something to do next (at the latest).
    pub fn next_wakeup(&self) -> Instant {
        let mut at = self.start + Duration::from_millis(self.next_frame_ms()) + self.cfg.lookahead;
        at = at.min(self.next_progress);
        let deadlines = self.video.values().filter_map(Camera::next_deadline).chain(self.audio.values().filter_map(Microphone::next_deadline));
        deadlines.fold(at, Instant::min)
    }

    fn request_keyframes(&mut self, now: Instant) {
        for (ssrc, camera) in &mut self.video {
            if camera.wants_keyframe(now, PLI_INTERVAL) {
                self.rtcp_out.push(rtp::pli(*ssrc));
            }
        }
    }

    /// Renders output frames and sound up to `due_ms`; `real_time` when that is real
    /// time less the lookahead (a frame far behind it is caught up on), not a stop's
    /// last stretch (rendered in full).
    fn render_until(&mut self, due_ms: u64, real_time: bool) -> Result<(), EngineError> {
        let fps = u64::from(self.cfg.video.fps);
        loop {
            let tick = self.frames_out;
            let t = tick * 1000 / fps;
            if t > due_ms {
                break;
            }
            if real_time {
                self.pace_catch_up(t, due_ms - t);
            } else if self.catching_up {
                // A stop's last stretch is rendered in full, whatever the rate was. (A
                // catch-up ends within the call that started it, unless the frame rate
                // is so low that its last frame is more than the catch-up's end away.)
                self.pace_catch_up(t, 0);
            }
            // Every second starts with a keyframe (fragments, reel cuts); between them
            // only the frames the rate allows are looked at.
            let keyframe = tick % fps == 0;
            if keyframe || tick % self.frame_step() == 0 {
                self.render_frame(tick, keyframe)?;
            } else {
                self.writer().pass(tick);
            }
            self.frames_out += 1;
        }
        let due_samples = due_ms as i64 * i64::from(SAMPLE_RATE) / 1000;
        while self.mixer.position() + AUDIO_FRAME as i64 <= due_samples {
            let mixed = self.mixer.mix(AUDIO_FRAME);
            self.writer().write_audio(&mixed)?;
            for second in self.activity.mixed(&mixed, self.mixer.position()) {
                self.sidecar.loudness_db.push(second.loudness_db);
                self.sidecar.voices.push(second.voices);
            }
        }
        let mixer = &self.mixer;
        self.draining.retain(|ssrc| mixer.has_pending(ssrc));
        Ok(())
    }

    /// Output frames per frame looked at: 2 at half the frame rate, more while catching up.
    fn frame_step(&self) -> u64 {
        let step = self.ladder_frame_step();
        if self.catching_up { step.max(self.catch_up_frame_step()) } else { step }
    }

    /// … as the ladder has it.
    fn ladder_frame_step(&self) -> u64 {
        if self.quality.has(Step::HalfFrameRate) { 2 } else { 1 }
    }

    /// … while catching up: about [`CATCH_UP_FPS`] frames a second.
    fn catch_up_frame_step(&self) -> u64 {
        (u64::from(self.cfg.video.fps) / u64::from(CATCH_UP_FPS)).max(1)
    }

    /// Starts catching up on output that fell [`CATCH_UP_BEHIND_MS`] behind real time,
    /// and stops once the frame at `t` is back within [`CATCH_UP_UNTIL_MS`] of it.
    /// Both ends are quality steps in the sidecar (the frame rate drawn meanwhile) and
    /// messages to the server, like the ladder's.
    /// (A recording whose own rate is at or below that already has nothing to save.)
    fn pace_catch_up(&mut self, t: u64, behind_ms: u64) {
        let catch_up = if self.catching_up {
            behind_ms > CATCH_UP_UNTIL_MS
        } else {
            behind_ms > CATCH_UP_BEHIND_MS && self.catch_up_frame_step() > self.ladder_frame_step()
        };
        if catch_up == self.catching_up {
            return;
        }
        self.catching_up = catch_up;
        if catch_up {
            self.quality.caught_up();
        }
        let (_, fps, _) = self.quality_now();
        let at_ms = t + mp4::START_MS;
        if catch_up {
            tracing::warn!(recording = %self.cfg.id, behind_ms, fps, at_ms, "far behind real time: drawing fewer frames until caught up");
        } else {
            tracing::info!(recording = %self.cfg.id, fps, at_ms, "caught up with real time");
        }
        self.record_quality(at_ms, behind_ms, catch_up, true);
    }

    /// The x264 preset from the next frame on (a step's preset waits for a keyframe),
    /// the frame rate drawn, and the thumbnails' refresh rate (`None`: every frame).
    fn quality_now(&self) -> (String, u32, Option<u32>) {
        let encoding = self.writer.as_ref().map_or(self.cfg.video.preset.as_str(), Mp4Writer::preset);
        let preset = self.preset_at_keyframe.clone().unwrap_or_else(|| encoding.to_string());
        let fps = self.cfg.video.fps / self.frame_step() as u32;
        (preset, fps, self.quality.has(Step::SlowThumbnails).then_some(THUMBNAIL_FPS))
    }

    /// Where the recording's quality stands from `at_ms` (the file's time), after a
    /// ladder step or a catch-up's start or end: told to the server (a `quality`
    /// message) and kept in the sidecar (`quality_steps`).
    fn record_quality(&mut self, at_ms: u64, lag_ms: u64, down: bool, catch_up: bool) {
        let (preset, fps, thumbnail_fps) = self.quality_now();
        let degraded = self.catching_up || self.quality.degraded();
        self.messages.push(FromCompositor::Quality { v: CONTROL_VERSION, at_ms, preset: preset.clone(), fps, thumbnail_fps, lag_ms, down, catch_up });
        // In the sidecar, a catch-up's end is an ordinary entry: the state from there.
        self.sidecar.quality_steps.push(QualityStep { at_ms, preset, fps, thumbnail_fps, degraded, catch_up: catch_up && down });
    }

    fn render_frame(&mut self, tick: u64, keyframe: bool) -> Result<(), EngineError> {
        let t = tick * 1000 / u64::from(self.cfg.video.fps);
        while self.cuts.front().is_some_and(|c| c.at_ms <= t) {
            let cut = self.cuts.pop_front().expect("just seen");
            self.layout.set_speaker(cut.at_ms, cut.speaker.clone());
            self.stage.set_speaker_decided(cut.at_ms, cut.decided_ms, cut.speaker);
        }
        while self.sending_changes.front().is_some_and(|c| c.at_ms <= t) {
            let change = self.sending_changes.pop_front().expect("just seen");
            self.stage.set_sending_video(&change.participant, change.on);
        }
        // Of the layouts due by this frame the last asked is the one drawn: two asked
        // for moments apart (both due before a frame) are one change in the file.
        let mut kind_due = None;
        while self.layout_events.front().is_some_and(|(at, _)| *at <= t) {
            match self.layout_events.pop_front().expect("just seen").1 {
                LayoutEvent::Present(present) => self.layout.set_present(present),
                LayoutEvent::Kind(kind) => kind_due = Some(kind),
                LayoutEvent::Share(sharer) => self.share_live = sharer,
            }
        }
        if let Some(kind) = kind_due.filter(|kind| *kind != self.layout.kind()) {
            self.layout.set_kind(kind);
            self.sidecar.layout_changes.push(LayoutChange { at_ms: t + mp4::START_MS, layout: kind });
            tracing::info!(recording = %self.cfg.id, layout = kind.name(), at_ms = t, "layout changed");
        }
        // A picture shows from the output frame nearest its time (not the next one), so
        // the frame-rate mismatch spreads around zero instead of always lagging.
        let horizon = t + 500 * self.frame_step() / u64::from(self.cfg.video.fps);
        // Shares first, always: the share layout starts at a share's first picture.
        for camera in self.video.values_mut().filter(|c| c.screen) {
            if let (_, Some((at, picture))) = camera.decode_until(horizon) {
                self.screens.insert(camera.participant.clone(), (at, picture));
            }
        }
        let retired: Vec<u32> = self.video.iter().filter(|(_, c)| c.retired_by(t)).map(|(ssrc, _)| *ssrc).collect();
        for ssrc in retired {
            if let Some(camera) = self.video.remove(&ssrc) {
                if camera.screen {
                    self.screens.remove(&camera.participant);
                }
            }
            self.clock.remove_stream(ssrc);
        }
        self.update_share(t);
        let tiles = self.layout.tiles();
        // Only the cameras this frame may draw decode: the stage's (the speaker's, and
        // what shows until their picture comes), the tiles', and those of cuts already
        // announced (their catch-up starts before the cut). The others keep their frames
        // for a later cut (`engine::camera`).
        let drawn: Vec<String> = tiles
            .iter()
            .filter_map(|tile| match &tile.fill {
                Fill::Camera(p) => Some(p),
                Fill::Stage | Fill::Screen(_) => None,
            })
            .chain(self.stage.speaker())
            .chain(self.stage.shown().participant())
            .chain(self.cuts.iter().filter_map(|c| c.speaker.as_ref()))
            .cloned()
            .collect();
        for camera in self.video.values_mut().filter(|c| !c.screen) {
            if !drawn.contains(&camera.participant) {
                camera.skip_until(horizon);
                continue;
            }
            let (count, newest) = camera.decode_until(horizon);
            self.camera_pictures_decoded += count as u64;
            if let Some((at, picture)) = newest {
                self.stage.picture(&camera.participant, at);
                self.current.insert(camera.participant.clone(), (at, picture));
            }
        }
        let before_show = self.stage.shown().clone();
        let before = before_show.participant().cloned();
        let show = self.stage.decide(t).clone();
        if show != before_show {
            let newest: Vec<(&str, (u64, usize))> = self.video.values().map(|c| (c.participant.as_str(), c.backlog())).collect();
            tracing::debug!(recording = %self.cfg.id, t, ?show, ?newest, "stage");
        }
        if show.participant() != before.as_ref() {
            self.turn_changed(t, show.participant().cloned());
        }
        let mut key = FrameKey(Vec::with_capacity(tiles.len()));
        for tile in &tiles {
            let content = self.tile_key(&tile.fill, tile.speaking, &show, t);
            key.0.push((tile.rect, tile.speaking && matches!(tile.fill, Fill::Camera(_)), content));
        }
        if keyframe {
            if let Some(preset) = self.preset_at_keyframe.take() {
                if !self.writer().change_preset(&preset)? {
                    self.warn_once("preset", format!("the encoder cannot change to the {preset} preset in this file; it keeps its own"));
                }
            }
        }
        let writer = self.writer.as_mut().expect("open until finish");
        if self.last_frame.as_ref() == Some(&key) {
            // Nothing changed (the cameras' rate is below ours, a card, a still share):
            // the frame before lasts, unless a second starts here, or the file's first
            // second is being written. That one is written at the full rate, repeats
            // and all (a few cheap frames): tools guess a file's frame rate from its
            // first frames (ffprobe's r_frame_rate), and ffmpeg re-encodes an mp4 at the
            // rate it guessed, so a recording whose cameras send 15 fps would otherwise
            // be read as 15 fps and lose every other frame of a 30 fps screen share.
            let first_second = tick < u64::from(self.cfg.video.fps);
            if keyframe || first_second {
                writer.write_video(self.composer.last(), tick, keyframe)?;
                self.last_encoded = Some(tick);
            } else {
                writer.pass(tick);
            }
            return Ok(());
        }
        let name_of = |p: &String| self.roster.name(p).unwrap_or("");
        let mut drawn = Vec::with_capacity(tiles.len());
        for (tile, (_, marked, content)) in tiles.iter().zip(&key.0) {
            let stage = match content {
                TileKey::Stage(Show::Video(p), _) | TileKey::Camera(p, _) => match self.current.get(p) {
                    Some((_, picture)) if !matches!(content, TileKey::Camera(_, None)) => compose::Stage::Video { picture, name: name_of(p) },
                    _ => compose::Stage::Card { name: name_of(p) },
                },
                TileKey::Stage(Show::Card(p), _) => compose::Stage::Card { name: self.roster.name(p).unwrap_or("Speaker") },
                TileKey::Stage(Show::Waiting, _) => compose::Stage::Waiting { title: &self.waiting_title },
                TileKey::Screen(p, _) => match self.screens.get(p) {
                    Some((_, picture)) => compose::Stage::Screen { picture },
                    None => compose::Stage::Card { name: name_of(p) },
                },
            };
            // The grid marks the speaker's tile, as the web UI marks whoever speaks.
            let border = marked.then(|| compose::rgb_to_yuv(SPEAKING_BORDER_RGB));
            drawn.push(compose::Tile { rect: tile.rect, stage, border, id: Some(content.id()) });
        }
        let canvas = self.composer.compose_tiles(&drawn)?;
        writer.write_video(canvas, tick, keyframe)?;
        self.last_encoded = Some(tick);
        self.last_frame = Some(key);
        // Only pictures of participants whose cameras still flow are needed past this
        // frame (and the shown one's, held).
        let shown = show.participant().cloned();
        self.current.retain(|p, _| Some(p) == shown.as_ref() || self.video.values().any(|v| &v.participant == p && !v.screen));
        Ok(())
    }

    /// What a tile of `fill` shows in the frame at `t`: the stage's decision, or a
    /// participant's fresh picture (else their card).
    fn tile_key(&mut self, fill: &Fill<String>, speaking: bool, show: &Show<String>, t: u64) -> TileKey {
        match fill {
            Fill::Stage => {
                let picture_ms = match show {
                    Show::Video(p) => self.current.get(p).map(|(at, _)| *at),
                    _ => None,
                };
                TileKey::Stage(show.clone(), picture_ms)
            }
            Fill::Camera(p) => {
                let live = self.stage.has_live_video(p, t);
                let at = self.current.get(p).filter(|_| live).map(|(at, _)| *at);
                if !self.quality.has(Step::SlowThumbnails) || speaking {
                    return TileKey::Camera(p.clone(), at);
                }
                // A thumbnail keeps its picture until a newer one is due at the slow rate
                // (the composer leaves an unchanged tile's pixels as they are).
                let Some(at) = at else { return TileKey::Camera(p.clone(), None) };
                let held = self.thumbnails.entry(p.clone()).or_insert(at);
                if at >= *held + 1000 / u64::from(THUMBNAIL_FPS) || at < *held {
                    *held = at;
                }
                TileKey::Camera(p.clone(), Some(*held))
            }
            Fill::Screen(p) => TileKey::Screen(p.clone(), self.screens.get(p).map_or(0, |(at, _)| *at)),
        }
    }

    /// Takes a step of the quality ladder: at once for the frame rate and thumbnails, at
    /// the next keyframe for the preset (a new encoder starts with one). The sidecar,
    /// the server and the log hear of it.
    fn change_quality(&mut self, change: quality::Change, busy: f32) {
        if change.step == Step::FasterPreset {
            let preset = if change.down { self.faster_preset.unwrap_or(&self.cfg.video.preset) } else { &self.cfg.video.preset };
            self.preset_at_keyframe = Some(preset.to_string());
        }
        if change.step == Step::SlowThumbnails {
            self.thumbnails.clear();
        }
        let (preset, fps, thumbnail_fps) = self.quality_now();
        let at_ms = self.next_frame_ms() + mp4::START_MS;
        if change.down {
            tracing::warn!(recording = %self.cfg.id, step = ?change.step, preset, fps, ?thumbnail_fps, lag_ms = self.lag_ms, at_ms, "behind real time: stepping the recording's quality down");
        } else {
            tracing::info!(recording = %self.cfg.id, step = ?change.step, preset, fps, ?thumbnail_fps, busy, at_ms, "room again: stepping the recording's quality back up");
        }
        self.record_quality(at_ms, self.lag_ms, change.down, false);
    }

    /// The share layout is on while a share is live and has a picture to show (from
    /// its first decoded frame, not its announcement: no empty frame first), and ends
    /// with the share. The sidecar and the encoder's quality follow.
    fn update_share(&mut self, t: u64) {
        // Compared before it is cloned: this runs for every output frame.
        let showing = self.share_live.as_ref().filter(|p| self.screens.contains_key(*p));
        if showing == self.layout.share() {
            return;
        }
        let showing = showing.cloned();
        let at = t + mp4::START_MS;
        if let Some(open) = self.sidecar.screen_shares.last_mut().filter(|s| s.end_ms.is_none()) {
            open.end_ms = Some(at);
        }
        if let Some(p) = &showing {
            let name = self.roster.name(p).unwrap_or_default().to_string();
            self.sidecar.screen_shares.push(ScreenShare { start_ms: at, end_ms: None, participant_id: p.clone(), name });
        }
        tracing::info!(recording = %self.cfg.id, sharer = ?showing, at_ms = t, "screen share on the recording");
        self.writer().set_share_quality(showing.is_some());
        self.layout.set_share(showing);
    }

    /// The shown participant changed with the frame at `t` (recording time); turns are
    /// kept in the file's time, where players and chapters count.
    fn turn_changed(&mut self, t: u64, participant: Option<String>) {
        let at = t + mp4::START_MS;
        let speaker = participant.as_ref().map(|p| (p.as_str(), self.roster.name(p).unwrap_or("")));
        self.timeline.speaker_changed(at, speaker);
        self.update_chapters(at);
    }

    fn update_chapters(&mut self, now_ms: u64) {
        let turns = self.timeline.turns(now_ms);
        let chapters: Vec<(u64, &str)> = turns.iter().map(|t| (t.start_ms, t.name.as_str())).collect();
        match self.writer.as_mut().expect("open").set_chapters(&chapters) {
            Ok(n) if n < chapters.len() => {
                let message = format!("only the first {n} turns fit in the mp4's chapters; the sidecar has all of them");
                self.warn_once("chapters-full", message);
            }
            Ok(_) => {}
            Err(e) => self.warn_once("chapters", e.to_string()),
        }
    }

    /// Rewrites the sidecar with the duration and turns so far (once the file is
    /// closed, with the duration it ended at).
    fn write_sidecar(&mut self) {
        self.refresh_sidecar();
        if let Err(e) = self.sidecar.write(&self.cfg.sidecar) {
            self.warn_once("sidecar", e.to_string());
        }
    }

    /// Ends the recording at `now`: everything received is placed and rendered, the
    /// encoders are flushed, the file is closed, and the sidecar says `status`.
    pub fn finish(mut self, now: Instant, status: Status) -> Result<Summary, EngineError> {
        let far = now + Duration::from_secs(10);
        for ssrc in self.video.keys().copied().collect::<Vec<_>>() {
            self.drain_video(ssrc, far, now);
        }
        for ssrc in self.audio.keys().copied().collect::<Vec<_>>() {
            self.drain_audio(ssrc, far, now);
        }
        let end = self.ms(now);
        self.render_until(end, false)?;
        // The last frame is written even if it repeats the one before, so that the file
        // lasts to its end.
        if let Some(last) = self.frames_out.checked_sub(1).filter(|last| self.last_encoded != Some(*last)) {
            let writer = self.writer.as_mut().expect("open until finish");
            writer.write_video(self.composer.last(), last, false)?;
        }
        let duration_ms = self.writer().duration_ms();
        self.timeline.finish(duration_ms);
        if let Some(open) = self.sidecar.screen_shares.last_mut().filter(|s| s.end_ms.is_none()) {
            open.end_ms = Some(duration_ms);
        }
        self.update_chapters(duration_ms);
        self.writer.take().expect("open").finish()?;
        self.sidecar.status = status;
        self.sidecar.duration_ms = duration_ms;
        self.write_sidecar();
        let size_bytes = std::fs::metadata(&self.cfg.output).map_or(0, |m| m.len());
        Ok(Summary { duration_ms, size_bytes })
    }

    /// The sidecar's duration and turns as of now (the rest is kept as it changes).
    fn refresh_sidecar(&mut self) {
        let now_ms = self.writer.as_ref().map_or(self.sidecar.duration_ms, Mp4Writer::duration_ms);
        self.sidecar.duration_ms = now_ms;
        self.sidecar.timeline = self.timeline.turns(now_ms);
    }

    /// Gives up after an error: the sidecar says why; the file keeps what was written
    /// (its fragments play).
    pub fn fail(mut self, message: &str) {
        // With the turns since the last write (it is once a second), while the writer
        // still says how long the file is.
        self.refresh_sidecar();
        if let Some(writer) = self.writer.take() {
            // Best effort: a full disk may refuse even the last fragment.
            let _ = writer.finish();
        }
        // The disk filled part-way through a fragment's header: a file FFmpeg would not
        // open at all, unless that part goes.
        match crate::output::mp4::trim_partial_box(&self.cfg.output) {
            Ok(0) => {}
            Ok(cut) => tracing::warn!(recording = %self.cfg.id, cut, "the file ended part-way through a fragment's header: cut back to its last whole fragment"),
            Err(e) => tracing::warn!(recording = %self.cfg.id, "cannot check the file's end: {e}"),
        }
        self.sidecar.status = Status::Failed;
        self.sidecar.error = Some(message.to_string());
        if let Err(e) = self.sidecar.write(&self.cfg.sidecar) {
            tracing::warn!(recording = %self.cfg.id, "{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::picture::compose::DEFAULT_FONT;

    fn dir(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("podium-engine-unit-{}-{name}", std::process::id()))
    }

    fn engine(fps: u32, name: &str, t0: Instant) -> Engine {
        ffmpeg_next::init().unwrap();
        let dir = dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        let video = VideoSettings { width: 320, height: 180, fps, preset: "superfast".into(), coder: Default::default() };
        let cfg = Config {
            id: "20261204-170000-unit01".into(),
            room: "room".into(),
            output: dir.join("rec.mp4"),
            sidecar: dir.join("rec.json"),
            video,
            audio: AudioChannels::default(),
            font: DEFAULT_FONT.into(),
            layout: LayoutKind::Speaker,
            lookahead: DEFAULT_LOOKAHEAD,
        };
        Engine::new(cfg, t0, SystemTime::now()).unwrap()
    }

    /// Polls every 10 ms up to `until_ms`, but not in [`stall.0`, `stall.1`) (ms), as
    /// on a machine that gave the recorder no CPU then.
    fn run(engine: &mut Engine, t0: Instant, until_ms: u64, stall: (u64, u64)) {
        for t in (0..until_ms).step_by(10).filter(|t| !(stall.0..stall.1).contains(t)) {
            engine.poll(t0 + Duration::from_millis(t)).unwrap();
        }
    }

    #[test]
    fn a_catch_up_is_taken_only_where_drawing_5_frames_a_second_saves_some() {
        // 1.6 s without the CPU: output 1.6 s behind when it comes back.
        let t0 = Instant::now();
        let mut at_30 = engine(30, "30", t0);
        run(&mut at_30, t0, 6000, (2000, 3600));
        let catch_ups: Vec<(u64, u32)> = at_30.sidecar.quality_steps.iter().filter(|q| q.catch_up).map(|q| (q.at_ms, q.fps)).collect();
        assert!(matches!(catch_ups.as_slice(), [(700..=800, 5)]), "{:?}", at_30.sidecar.quality_steps);
        // At 8 fps, "about 5 a second" is every frame: drawing less saves nothing, so no
        // catch-up is claimed, and the ladder still steps down.
        let mut at_8 = engine(8, "8", t0);
        run(&mut at_8, t0, 6000, (2000, 3600));
        assert!(at_8.sidecar.quality_steps.iter().all(|q| !q.catch_up), "{:?}", at_8.sidecar.quality_steps);
        assert!(at_8.sidecar.quality_steps.iter().any(|q| q.degraded), "{:?}", at_8.sidecar.quality_steps);
        drop((at_30, at_8));
        for name in ["30", "8"] {
            let _ = std::fs::remove_dir_all(dir(name));
        }
    }
}

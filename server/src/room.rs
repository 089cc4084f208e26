//! Rooms: one mediasoup Router each, created on first join and closed when the last
//! participant leaves, spread over the workers. A room owns its members' producers and
//! the speaker detection; each member's transports and consumers belong to their
//! WebSocket session (`session.rs`), so they close with it.
use crate::media::WorkerPool;
use crate::name::{validate_name, NameError, NameKey, Naming};
use crate::protocol::{LevelView, ParticipantView, ProducerView, RecordingBadge, ScreenShareView, Source};
use crate::speaker::send_clock::SendClock;
use crate::speaker::{Heard, PacketLevels, SpeakerDetector, SpeakerEvent, Tuning};
use mediasoup::prelude::*;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::num::{NonZeroU16, NonZeroU32, NonZeroU8};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};

/// The detector gets each participant's mean packet level over this window, and is
/// polled at the same pace. Browsers put a level in every Opus packet (20 ms).
const SPEAKER_TICK: Duration = Duration::from_millis(50);
/// mediasoup's AudioLevelObserver reports no more often than every 250 ms (it clamps
/// shorter intervals): fine for the UI's level rings, too coarse for switching
/// quickly, which is why the detector reads the packets' levels itself.
const OBSERVER_INTERVAL: Duration = Duration::from_millis(250);
/// `levels` events go out every this many ticks (200 ms: 5 Hz).
const LEVELS_EVERY_TICKS: u32 = 4;
const EVENT_BUFFER: usize = 1024;

/// A validated room id: `[A-Za-z0-9_-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RoomId(String);

/// Text that is not a room id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a room id is 1 to 64 characters among letters, digits, '-' and '_'")]
pub struct InvalidRoomId;

impl RoomId {
    pub fn parse(text: &str) -> Result<Self, InvalidRoomId> {
        let ok = (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(InvalidRoomId)
        }
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type ParticipantId = String;

/// Why a member's session is ended by the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// The same browser tab joined again (a lost connection came back).
    Replaced,
    /// A host removed them.
    Removed,
}

/// Why a name is refused, so that the person can choose one that passes (or, with a
/// token, knows whom to ask).
fn name_taken(name: &str, existing: &str, naming: Naming) -> String {
    match naming {
        Naming::Issued => format!("the name \"{name}\" is taken in this room by someone named \"{existing}\": ask whoever gave you your link for one with a name of your own"),
        Naming::Chosen if name == existing => format!("the name \"{name}\" is taken in this room: choose another (add an initial, say)"),
        Naming::Chosen => format!("the name \"{name}\" is taken in this room: it looks like \"{existing}\", who is here. Choose another (add an initial, say)"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    InvalidName(#[from] NameError),
    #[error("{}", name_taken(.name, .existing, *.naming))]
    NameTaken { name: String, existing: String, naming: Naming },
    #[error("the room is full ({0} participants): try again later or use another room")]
    RoomFull(usize),
    #[error("no media worker is available: every worker has died")]
    NoWorker,
    #[error("cannot set up the room's media: {0}")]
    RoomSetup(#[from] CreateRoomError),
    #[error("this server has {0} rooms open, the most it allows: try again later")]
    TooManyRooms(usize),
}

/// What happens in a room, for its members' sessions (and, later, its recorder).
#[derive(Debug, Clone)]
pub enum RoomEvent {
    Joined(ParticipantView),
    Updated(ParticipantView),
    Left(ParticipantId),
    NewProducer(ProducerView),
    ProducerPaused { producer_id: ProducerId, participant_id: ParticipantId },
    ProducerResumed { producer_id: ProducerId, participant_id: ParticipantId },
    ProducerClosed { producer_id: ProducerId },
    /// The server closed `participant_id`'s screen share (someone else shared); only
    /// its owner is told, with `reason`, besides everyone's `ProducerClosed`.
    ShareStopped { participant_id: ParticipantId, producer_id: ProducerId, reason: String },
    /// The stage changed hands. `since`: where the turn began (its first word, or the
    /// end of an overlap; docs/speaker-detection.md); `decided`: when the detector was
    /// sure. Both in Unix milliseconds on the server's clock.
    ActiveSpeaker { speaker: Option<ParticipantId>, since: u64, decided: u64 },
    Speaking(ParticipantId, bool),
    Levels(Arc<Vec<LevelView>>),
    /// A recording started, or ended (`None`, with the error when it failed).
    Recording { recording: Option<RecordingBadge>, error: Option<String> },
}

struct Member {
    name: String,
    /// What the name is compared by, computed once.
    key: NameKey,
    client_id: Option<String>,
    producers: Vec<Producer>,
    /// What each producer sends (one of each source and kind).
    sources: HashMap<ProducerId, Source>,
    /// Fired when a newer session of the same client replaces this one.
    kick: Option<oneshot::Sender<Kick>>,
}

impl Member {
    fn source_of(&self, producer: &Producer) -> Source {
        self.sources.get(&producer.id()).copied().unwrap_or_else(|| Source::default_for(producer.kind()))
    }

    fn producer(&self, source: Source, kind: MediaKind) -> Option<&Producer> {
        self.producers.iter().find(|p| p.kind() == kind && self.source_of(p) == source)
    }

    fn has_live(&self, source: Source, kind: MediaKind) -> bool {
        self.producer(source, kind).is_some_and(|p| !p.paused())
    }
}

struct RoomState {
    /// In join order.
    members: Vec<(ParticipantId, Member)>,
    audio_producers: HashMap<ProducerId, ParticipantId>,
    /// Per microphone, a consumer on the room's level tap (closed with the producer).
    level_taps: HashMap<ProducerId, Consumer>,
    /// The AudioLevelObserver's last report per participant, for the UI's rings.
    observed: HashMap<ParticipantId, (Instant, f32)>,
    detector: SpeakerDetector<ParticipantId>,
    recording: Option<RecordingBadge>,
}

impl RoomState {
    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|(m, _)| m == id).map(|(_, m)| m)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|(m, _)| m == id).map(|(_, m)| m)
    }

    fn view(&self, id: &str) -> Option<ParticipantView> {
        self.member(id).map(|m| ParticipantView {
            id: id.to_string(),
            name: m.name.clone(),
            audio: m.has_live(Source::Mic, MediaKind::Audio),
            video: m.has_live(Source::Camera, MediaKind::Video),
            screen: m.producer(Source::Screen, MediaKind::Video).is_some(),
        })
    }

    /// The screen share on stage: the (only) screen video producer of the room.
    fn screen_share(&self) -> Option<(ParticipantId, ProducerId, String)> {
        self.members.iter().find_map(|(id, m)| m.producer(Source::Screen, MediaKind::Video).map(|p| (id.clone(), p.id(), m.name.clone())))
    }
}

pub struct Room {
    pub id: RoomId,
    pub worker_index: usize,
    pub router: Router,
    pub webrtc_server: WebRtcServer,
    /// Whether the worker offers WebRTC over TCP, and where transports are registered
    /// for its guard (`media::tcp_guard`).
    pub tcp: bool,
    pub tcp_in_use: crate::media::TcpInUse,
    audio_observer: AudioLevelObserver,
    speaker_observer: ActiveSpeakerObserver,
    /// A DirectTransport that consumes every microphone, so the speaker task reads
    /// the audio level each RTP packet carries (RFC 6464).
    level_tap: DirectTransport,
    input: mpsc::UnboundedSender<ObserverInput>,
    state: Mutex<RoomState>,
    events: broadcast::Sender<RoomEvent>,
}

/// A member's view of the room right after joining.
pub struct Joined {
    pub participant_id: ParticipantId,
    /// The name as the room shows it to everyone (normalised: docs/security.md#names).
    pub name: String,
    pub events: broadcast::Receiver<RoomEvent>,
    pub kicked: oneshot::Receiver<Kick>,
    pub participants: Vec<ParticipantView>,
    pub producers: Vec<ProducerView>,
    pub active_speaker: Option<ParticipantId>,
    pub recording: Option<RecordingBadge>,
}

/// The room as `GET /api/rooms/{room}` shows it.
#[derive(Debug, Serialize)]
pub struct RoomView {
    pub id: RoomId,
    pub participants: Vec<ParticipantView>,
    pub active_speaker: Option<ParticipantId>,
    /// The screen share on everyone's stage, if any.
    pub screen_share: Option<ScreenShareView>,
    /// The running recording, if any.
    pub recording: Option<RecordingBadge>,
}

/// One producer of the room, for the recorder.
#[derive(Debug, Clone)]
pub struct MediaSource {
    pub producer_id: ProducerId,
    pub participant_id: ParticipantId,
    pub name: String,
    pub kind: MediaKind,
    pub source: Source,
    pub paused: bool,
}

/// What the recorder starts from: every producer, the speaker decisions, and the
/// events that follow (subscribed at the same instant: none falls in between).
pub struct MediaSnapshot {
    pub events: broadcast::Receiver<RoomEvent>,
    pub sources: Vec<MediaSource>,
    pub active_speaker: Option<ParticipantId>,
    pub speaking: Vec<ParticipantId>,
    /// Everyone had left by the time of the snapshot (after the recording was asked
    /// for, before its task listened): no `Left` event will come to end it.
    pub empty: bool,
}

/// Why a room's media (its router, observers and level tap) could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateRoomError {
    #[error(transparent)]
    Router(#[from] mediasoup::worker::CreateRouterError),
    #[error(transparent)]
    Worker(#[from] mediasoup::worker::RequestError),
}

/// Why a producer could not join its room's speaker detection and membership.
#[derive(Debug, thiserror::Error)]
pub enum AddProducerError {
    #[error("cannot watch the microphone's level: {0}")]
    Observer(#[from] mediasoup::worker::RequestError),
    #[error("cannot tap the microphone's level: {0}")]
    Tap(#[from] ConsumeError),
    /// The router's capabilities did not read back as a receiver's (a mediasoup change).
    #[error("the router's capabilities cannot be read back: {0}")]
    Capabilities(#[from] serde_json::Error),
    #[error("the microphone's stream carries no audio level")]
    NoAudioLevel,
    /// The member left while the producer was being set up.
    #[error("not in the room")]
    NotInRoom,
}

/// What mediasoup itself holds for a room, to find leaks.
#[derive(Debug, Serialize)]
pub struct RoomDump {
    pub id: RoomId,
    pub worker: usize,
    pub transports: usize,
    pub producers: usize,
    pub consumers: usize,
    pub rtp_observers: usize,
}

enum ObserverInput {
    Volumes(Vec<(ProducerId, i8)>),
    Silence,
    Dominant(ProducerId),
    /// One RTP packet's audio level (dBov) from the level tap, and when it was sent
    /// (its [`SendClock`] place).
    PacketLevel(ProducerId, f32, Instant),
}

impl Room {
    async fn create(id: RoomId, media: &crate::media::MediaWorker) -> Result<Arc<Self>, CreateRoomError> {
        let router = media.worker.create_router(RouterOptions::new(media_codecs())).await?;
        let mut level_options = AudioLevelObserverOptions::default();
        level_options.interval = OBSERVER_INTERVAL.as_millis() as u16;
        level_options.threshold = -80;
        // Report every producer, not just the loudest: the detector compares them.
        level_options.max_entries = NonZeroU16::new(64).unwrap();
        let audio_observer = router.create_audio_level_observer(level_options).await?;
        let speaker_observer = router.create_active_speaker_observer(ActiveSpeakerObserverOptions::default()).await?;

        let (input_tx, input_rx) = mpsc::unbounded_channel();
        // These callbacks run on the worker's thread: hand the data to the room's task.
        audio_observer
            .on_volumes({
                let tx = input_tx.clone();
                move |volumes| {
                    let _ = tx.send(ObserverInput::Volumes(volumes.iter().map(|v| (v.producer.id(), v.volume)).collect()));
                }
            })
            .detach();
        audio_observer
            .on_silence({
                let tx = input_tx.clone();
                move || {
                    let _ = tx.send(ObserverInput::Silence);
                }
            })
            .detach();
        speaker_observer
            .on_dominant_speaker({
                let tx = input_tx.clone();
                move |d| {
                    let _ = tx.send(ObserverInput::Dominant(d.producer.id()));
                }
            })
            .detach();
        let level_tap = router.create_direct_transport(DirectTransportOptions::default()).await?;

        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let room = Arc::new(Room {
            id,
            worker_index: media.index,
            router,
            webrtc_server: media.webrtc_server.clone(),
            tcp: media.tcp_port != 0,
            tcp_in_use: media.tcp_in_use.clone(),
            audio_observer,
            speaker_observer,
            level_tap,
            input: input_tx,
            state: Mutex::new(RoomState {
                members: Vec::new(),
                audio_producers: HashMap::new(),
                level_taps: HashMap::new(),
                observed: HashMap::new(),
                detector: SpeakerDetector::new(Tuning::default()),
                recording: None,
            }),
            events,
        });
        tokio::spawn(run_speaker_detection(Arc::downgrade(&room), input_rx));
        tracing::info!(room = %room.id, worker = room.worker_index, "room opened");
        Ok(room)
    }

    fn emit(&self, event: RoomEvent) {
        // No receivers is fine (nobody left to tell).
        let _ = self.events.send(event);
    }

    fn join(&self, name: String, naming: Naming, client_id: Option<String>, max_participants: usize) -> Result<Joined, JoinError> {
        let mut state = self.state.lock();
        // A rejoin of the same browser tab replaces its old session (lost connection).
        let replaced = client_id.as_ref().and_then(|c| {
            state.members.iter().find(|(_, m)| m.client_id.as_ref() == Some(c)).map(|(id, _)| id.clone())
        });
        if let Some(old) = &replaced {
            if let Some(kick) = state.member_mut(old).and_then(|m| m.kick.take()) {
                let _ = kick.send(Kick::Replaced);
            }
            self.remove_member(&mut state, old);
        }
        let key = NameKey::of(&name);
        if let Some((_, m)) = state.members.iter().find(|(_, m)| key.clashes(&m.key, naming)) {
            return Err(JoinError::NameTaken { name, existing: m.name.clone(), naming });
        }
        if state.members.len() >= max_participants {
            return Err(JoinError::RoomFull(max_participants));
        }
        let participant_id: ParticipantId = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let (kick_tx, kicked) = oneshot::channel();
        // Subscribe before the snapshot, under the lock: no event falls between them.
        let events = self.events.subscribe();
        let participants = state.members.iter().filter_map(|(id, _)| state.view(id)).collect();
        let producers = state
            .members
            .iter()
            .flat_map(|(id, m)| m.producers.iter().map(move |p| producer_view(id, p, m.source_of(p))))
            .collect();
        let active_speaker = state.detector.active_speaker().cloned();
        state.members.push((participant_id.clone(), Member { name: name.clone(), key, client_id, producers: Vec::new(), sources: HashMap::new(), kick: Some(kick_tx) }));
        let view = state.view(&participant_id).expect("just added");
        self.emit(RoomEvent::Joined(view));
        tracing::info!(room = %self.id, participant = %participant_id, "joined");
        let recording = state.recording.clone();
        Ok(Joined { participant_id, name, events, kicked, participants, producers, active_speaker, recording })
    }

    /// A host removes a member: they leave the room now, and their session is told and
    /// ends. `false` when there is no such member.
    pub fn remove_participant(&self, participant_id: &str) -> bool {
        let mut state = self.state.lock();
        let Some(member) = state.member_mut(participant_id) else { return false };
        if let Some(kick) = member.kick.take() {
            let _ = kick.send(Kick::Removed);
        }
        // Out of the room at once, not when their session gets round to leaving: a
        // client that stopped reading holds its session in a send for a while
        // (`session::SEND_WITHIN`), and the host sees them gone now. (Their session's
        // own leave later finds nobody to remove; ids are never reused.)
        self.remove_member(&mut state, participant_id);
        true
    }

    /// Removes a member and their producers; returns whether the room is now empty.
    fn leave(&self, participant_id: &str) -> bool {
        let mut state = self.state.lock();
        self.remove_member(&mut state, participant_id);
        state.members.is_empty()
    }

    fn remove_member(&self, state: &mut RoomState, participant_id: &str) {
        let Some(index) = state.members.iter().position(|(id, _)| id == participant_id) else { return };
        let (id, member) = state.members.remove(index);
        for producer in &member.producers {
            state.audio_producers.remove(&producer.id());
            state.level_taps.remove(&producer.id());
            self.emit(RoomEvent::ProducerClosed { producer_id: producer.id() });
        }
        // Dropping the producers closes them (if their transport has not already).
        drop(member);
        state.detector.remove(Instant::now(), &id);
        state.observed.remove(&id);
        self.emit(RoomEvent::Left(id.clone()));
        self.emit_speaker_events(state);
        tracing::info!(room = %self.id, participant = %id, "left");
    }

    /// Adds a member's producer of `source`. A screen share takes the stage: another
    /// member's share is closed, and they are told why.
    pub async fn add_producer(&self, participant_id: &str, producer: Producer, source: Source) -> Result<(), AddProducerError> {
        // Only microphones speak: a shared screen's audio (a video playing) never makes
        // its sharer the speaker.
        let tap = if producer.kind() == MediaKind::Audio && source == Source::Mic {
            let options = RtpObserverAddProducerOptions::new(producer.id());
            self.audio_observer.add_producer(options.clone()).await?;
            self.speaker_observer.add_producer(options).await?;
            Some(self.tap_levels(&producer).await?)
        } else {
            None
        };
        let mut state = self.state.lock();
        let view = producer_view(participant_id, &producer, source);
        if producer.kind() == MediaKind::Audio && source == Source::Mic {
            state.audio_producers.insert(producer.id(), participant_id.to_string());
        }
        if state.member(participant_id).is_none() {
            return Err(AddProducerError::NotInRoom);
        }
        if source == Source::Screen && producer.kind() == MediaKind::Video {
            if let Some((owner, _, _)) = state.screen_share().filter(|(owner, ..)| owner != participant_id) {
                let by = state.member(participant_id).map_or_else(String::new, |m| m.name.clone());
                // The whole share goes: its picture and its sound.
                let screens: Vec<ProducerId> = state.member(&owner).map_or_else(Vec::new, |m| m.producers.iter().filter(|p| m.source_of(p) == Source::Screen).map(Producer::id).collect());
                for previous in screens {
                    self.close_producer_locked(&mut state, &owner, previous);
                    let reason = format!("{by} started sharing their screen, which replaced yours");
                    self.emit(RoomEvent::ShareStopped { participant_id: owner.clone(), producer_id: previous, reason });
                }
                tracing::info!(room = %self.id, participant = %owner, by = %participant_id, "screen share taken over");
            }
        }
        if let Some(tap) = tap {
            state.level_taps.insert(producer.id(), tap);
        }
        let Some(member) = state.member_mut(participant_id) else {
            return Err(AddProducerError::NotInRoom);
        };
        member.sources.insert(producer.id(), source);
        member.producers.push(producer);
        self.emit(RoomEvent::NewProducer(view));
        if let Some(updated) = state.view(participant_id) {
            self.emit(RoomEvent::Updated(updated));
        }
        Ok(())
    }

    /// Consumes a microphone on the level tap and hands each packet's level and send
    /// time to the speaker task (the callback runs on the worker's thread: parse and
    /// send only).
    async fn tap_levels(&self, producer: &Producer) -> Result<Consumer, AddProducerError> {
        // The router's own capabilities, as a receiver that takes everything it offers.
        let caps: RtpCapabilities = serde_json::to_value(self.router.rtp_capabilities()).and_then(serde_json::from_value)?;
        let consumer = self.level_tap.consume(ConsumerOptions::new(producer.id(), caps)).await?;
        let ext_id = consumer
            .rtp_parameters()
            .header_extensions
            .iter()
            .find(|h| h.uri == RtpHeaderExtensionUri::SsrcAudioLevel)
            .and_then(|h| u8::try_from(h.id).ok())
            .ok_or(AddProducerError::NoAudioLevel)?;
        let rate = consumer.rtp_parameters().codecs.first().map_or(48_000, |c| c.clock_rate().get());
        let clock = Mutex::new(SendClock::new(rate));
        let (tx, producer_id) = (self.input.clone(), producer.id());
        consumer
            .on_rtp(move |packet| {
                use compositor::input::rtp;
                if let (Some(dbov), Some(timestamp)) = (rtp::audio_level_dbov(packet, ext_id), rtp::timestamp(packet)) {
                    let sent = clock.lock().sent(timestamp, Instant::now());
                    let _ = tx.send(ObserverInput::PacketLevel(producer_id, dbov, sent));
                }
            })
            .detach();
        Ok(consumer)
    }

    /// The member's producer of this source and kind, if any (one of each).
    pub fn producer_of_source(&self, participant_id: &str, source: Source, kind: MediaKind) -> Option<ProducerId> {
        let state = self.state.lock();
        state.member(participant_id)?.producer(source, kind).map(Producer::id)
    }

    /// The producer of this member, if it is theirs.
    pub fn producer_of(&self, participant_id: &str, producer_id: ProducerId) -> Option<Producer> {
        let state = self.state.lock();
        state.member(participant_id)?.producers.iter().find(|p| p.id() == producer_id).cloned()
    }

    /// Tells the room that a producer was paused or resumed (the caller did it).
    pub fn producer_paused_changed(&self, participant_id: &str, producer: &Producer) {
        let mut state = self.state.lock();
        let (producer_id, participant) = (producer.id(), participant_id.to_string());
        if producer.paused() {
            let is_mic = state.member(participant_id).is_some_and(|m| m.source_of(producer) == Source::Mic);
            if is_mic {
                state.detector.mute(Instant::now(), &participant);
            }
            self.emit(RoomEvent::ProducerPaused { producer_id, participant_id: participant });
        } else {
            self.emit(RoomEvent::ProducerResumed { producer_id, participant_id: participant });
        }
        if let Some(updated) = state.view(participant_id) {
            self.emit(RoomEvent::Updated(updated));
        }
        self.emit_speaker_events(&mut state);
    }

    pub fn close_producer(&self, participant_id: &str, producer_id: ProducerId) -> bool {
        let mut state = self.state.lock();
        self.close_producer_locked(&mut state, participant_id, producer_id)
    }

    fn close_producer_locked(&self, state: &mut RoomState, participant_id: &str, producer_id: ProducerId) -> bool {
        let Some(member) = state.member_mut(participant_id) else { return false };
        let Some(index) = member.producers.iter().position(|p| p.id() == producer_id) else { return false };
        let producer = member.producers.remove(index);
        let source = member.sources.remove(&producer_id).unwrap_or_else(|| Source::default_for(producer.kind()));
        drop(producer);
        state.audio_producers.remove(&producer_id);
        state.level_taps.remove(&producer_id);
        if source == Source::Mic {
            state.detector.mute(Instant::now(), &participant_id.to_string());
        }
        self.emit(RoomEvent::ProducerClosed { producer_id });
        if let Some(updated) = state.view(participant_id) {
            self.emit(RoomEvent::Updated(updated));
        }
        self.emit_speaker_events(state);
        true
    }

    /// How many simulcast layers a producer sends (`None`: one stream, not simulcast).
    pub fn producer_layers(&self, producer_id: ProducerId) -> Option<u8> {
        let state = self.state.lock();
        let producer = state.members.iter().find_map(|(_, m)| m.producers.iter().find(|p| p.id() == producer_id))?;
        let n = producer.rtp_parameters().encodings.len();
        (producer.r#type() == mediasoup::producer::ProducerType::Simulcast && n > 1).then_some(n as u8)
    }

    /// Whose producer this is, and what it sends.
    pub fn producer_owner(&self, producer_id: ProducerId) -> Option<(ParticipantId, Source)> {
        let state = self.state.lock();
        state.members.iter().find_map(|(id, m)| m.producers.iter().find(|p| p.id() == producer_id).map(|p| (id.clone(), m.source_of(p))))
    }

    /// What every page's stage shows: the active speaker (else the first to have
    /// joined, as the pages do), and whose screen share is live.
    pub fn stage(&self) -> crate::simulcast::Stage {
        let state = self.state.lock();
        let speaker = state.detector.active_speaker().cloned().or_else(|| state.members.first().map(|(id, _)| id.clone()));
        crate::simulcast::Stage { speaker, sharer: state.screen_share().map(|(owner, ..)| owner) }
    }

    pub fn view(&self) -> RoomView {
        let state = self.state.lock();
        RoomView {
            id: self.id.clone(),
            participants: state.members.iter().filter_map(|(id, _)| state.view(id)).collect(),
            active_speaker: state.detector.active_speaker().cloned(),
            screen_share: state.screen_share().map(|(participant_id, _, name)| ScreenShareView { participant_id, name }),
            recording: state.recording.clone(),
        }
    }

    /// How many people are in the room now.
    pub fn participant_count(&self) -> usize {
        self.state.lock().members.len()
    }

    /// Every producer and the speaker state, with the events that follow them.
    pub fn media_snapshot(&self) -> MediaSnapshot {
        let state = self.state.lock();
        let events = self.events.subscribe();
        let sources = state
            .members
            .iter()
            .flat_map(|(id, m)| {
                m.producers.iter().map(move |p| MediaSource { producer_id: p.id(), participant_id: id.clone(), name: m.name.clone(), kind: p.kind(), source: m.source_of(p), paused: p.paused() })
            })
            .collect();
        let speaking = state.members.iter().map(|(id, _)| id).filter(|id| state.detector.is_speaking(id)).cloned().collect();
        MediaSnapshot { events, sources, active_speaker: state.detector.active_speaker().cloned(), speaking, empty: state.members.is_empty() }
    }

    pub fn member_name(&self, participant_id: &str) -> Option<String> {
        self.state.lock().member(participant_id).map(|m| m.name.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.state.lock().members.is_empty()
    }

    /// The recorder says a recording started or ended; every participant is told.
    pub fn set_recording(&self, recording: Option<RecordingBadge>, error: Option<String>) {
        let mut state = self.state.lock();
        state.recording = recording.clone();
        self.emit(RoomEvent::Recording { recording, error });
    }

    pub async fn dump(&self) -> Result<RoomDump, mediasoup::worker::RequestError> {
        let dump = self.router.dump().await?;
        Ok(RoomDump {
            id: self.id.clone(),
            worker: self.worker_index,
            transports: dump.transport_ids.len(),
            producers: dump.map_producer_id_consumer_ids.len(),
            consumers: dump.map_consumer_id_producer_id.len(),
            rtp_observers: dump.rtp_observer_ids.len(),
        })
    }

    fn emit_speaker_events(&self, state: &mut RoomState) {
        let now = Instant::now();
        for event in state.detector.drain_events() {
            self.emit(match event {
                SpeakerEvent::ActiveSpeaker { speaker, since } => {
                    let onset_ms_before = now.saturating_duration_since(since).as_millis() as u64;
                    // The spread of these delays chose the recordings' lookahead
                    // (docs/benchmarks.md): the line is there to measure it again.
                    tracing::debug!(room = %self.id, speaker = ?speaker, onset_ms_before, "stage changed");
                    let decided = unix_ms(now, now);
                    RoomEvent::ActiveSpeaker { speaker, since: unix_ms(since, now), decided }
                }
                SpeakerEvent::Speaking(p, on) => {
                    tracing::trace!(room = %self.id, participant = %p, on, "speaking");
                    RoomEvent::Speaking(p, on)
                }
            });
        }
    }
}

/// `at` in Unix milliseconds, through the wall clock read at `now` (an `Instant` has no
/// meaning outside this process; the browser and the compositor get wall time).
pub fn unix_ms(at: Instant, now: Instant) -> u64 {
    let wall = std::time::SystemTime::now();
    let wall_at = match now.checked_duration_since(at) {
        Some(ago) => wall.checked_sub(ago).unwrap_or(wall),
        None => wall + at.duration_since(now),
    };
    wall_at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Now, in Unix milliseconds.
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn producer_view(participant_id: &str, producer: &Producer, source: Source) -> ProducerView {
    ProducerView {
        producer_id: producer.id(),
        participant_id: participant_id.to_string(),
        kind: producer.kind(),
        source,
        paused: producer.paused(),
    }
}

/// The room's speaker task: feeds observer reports to the detector, polls it every
/// tick and publishes `levels`. Ends when the room is gone (its observers drop the
/// senders, or the upgrade fails).
async fn run_speaker_detection(room: Weak<Room>, mut input: mpsc::UnboundedReceiver<ObserverInput>) {
    let mut tick = tokio::time::interval(SPEAKER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u32;
    // The packets of the current window, per microphone, loud by the detector's rule.
    let Some(speech_dbov) = room.upgrade().map(|room| room.state.lock().detector.tuning().speech_dbov) else { return };
    let mut window: HashMap<ProducerId, PacketLevels> = HashMap::new();
    loop {
        let next = tokio::select! {
            input = input.recv() => match input { Some(i) => Some(i), None => return },
            _ = tick.tick() => None,
        };
        if let Some(ObserverInput::PacketLevel(producer, dbov, sent)) = next {
            window.entry(producer).or_default().add(dbov, sent, speech_dbov);
            continue;
        }
        let Some(room) = room.upgrade() else { return };
        let now = Instant::now();
        let mut state = room.state.lock();
        match next {
            Some(ObserverInput::PacketLevel(..)) => unreachable!("handled above"),
            Some(ObserverInput::Volumes(volumes)) => {
                for (producer, dbov) in volumes {
                    if let Some(p) = state.audio_producers.get(&producer).cloned() {
                        state.observed.insert(p, (now, f32::from(dbov)));
                    }
                }
            }
            Some(ObserverInput::Silence) => state.observed.clear(),
            Some(ObserverInput::Dominant(producer)) => {
                if let Some(p) = state.audio_producers.get(&producer).cloned() {
                    state.detector.observe_dominant(now, p);
                }
            }
            None => {
                // The window's mean level per participant; those with no packets are silent.
                let heard: Vec<(ParticipantId, Heard)> = window
                    .drain()
                    .filter_map(|(producer, levels)| state.audio_producers.get(&producer).map(|p| (p.clone(), levels.heard())))
                    .collect();
                tracing::trace!(room = %room.id, ?heard, "levels");
                state.detector.observe(now, &heard);
                ticks = ticks.wrapping_add(1);
                if ticks % LEVELS_EVERY_TICKS == 0 && !state.members.is_empty() {
                    let levels: Vec<LevelView> = state
                        .members
                        .iter()
                        .map(|(p, _)| LevelView {
                            participant_id: p.clone(),
                            dbov: state
                                .observed
                                .get(p)
                                .filter(|(at, _)| now.saturating_duration_since(*at) <= OBSERVER_INTERVAL * 2)
                                .map_or(-127.0, |(_, level)| *level),
                            speaking: state.detector.is_speaking(p),
                        })
                        .collect();
                    room.emit(RoomEvent::Levels(Arc::new(levels)));
                }
            }
        }
        room.emit_speaker_events(&mut state);
    }
}

/// All rooms of the server.
pub struct Rooms {
    pool: Arc<WorkerPool>,
    max_participants: usize,
    max_rooms: usize,
    rooms: tokio::sync::Mutex<HashMap<RoomId, Arc<Room>>>,
}

impl Rooms {
    pub fn new(pool: Arc<WorkerPool>, max_participants: usize) -> Self {
        Self::with_limits(pool, max_participants, usize::MAX)
    }

    /// With at most `max_rooms` open at once (`--max-rooms`).
    pub fn with_limits(pool: Arc<WorkerPool>, max_participants: usize, max_rooms: usize) -> Self {
        Self { pool, max_participants, max_rooms, rooms: tokio::sync::Mutex::new(HashMap::new()) }
    }

    /// Joins (creating the room on the least busy worker if needed).
    pub async fn join(&self, id: &RoomId, name: &str, naming: Naming, client_id: Option<String>) -> Result<(Arc<Room>, Joined), JoinError> {
        let name = validate_name(name)?;
        let mut rooms = self.rooms.lock().await;
        let room = match rooms.get(id) {
            Some(room) => Arc::clone(room),
            None if rooms.len() >= self.max_rooms => return Err(JoinError::TooManyRooms(rooms.len())),
            None => {
                let worker = self.least_busy_worker(&rooms).ok_or(JoinError::NoWorker)?;
                let room = Room::create(id.clone(), worker).await?;
                rooms.insert(id.clone(), Arc::clone(&room));
                room
            }
        };
        match room.join(name, naming, client_id, self.max_participants) {
            Ok(joined) => Ok((room, joined)),
            Err(err) => {
                if room.state.lock().members.is_empty() {
                    rooms.remove(id);
                }
                Err(err)
            }
        }
    }

    pub async fn leave(&self, room: &Arc<Room>, participant_id: &str) {
        let mut rooms = self.rooms.lock().await;
        if room.leave(participant_id) {
            // Only remove the map's entry if it is this room (not a newer one).
            if rooms.get(&room.id).is_some_and(|r| Arc::ptr_eq(r, room)) {
                rooms.remove(&room.id);
                tracing::info!(room = %room.id, "room closed");
            }
        }
    }

    pub async fn get(&self, id: &RoomId) -> Option<Arc<Room>> {
        self.rooms.lock().await.get(id).cloned()
    }

    pub async fn list(&self) -> Vec<Arc<Room>> {
        let mut rooms: Vec<_> = self.rooms.lock().await.values().cloned().collect();
        rooms.sort_by(|a, b| a.id.cmp(&b.id));
        rooms
    }

    fn least_busy_worker(&self, rooms: &HashMap<RoomId, Arc<Room>>) -> Option<&crate::media::MediaWorker> {
        self.pool
            .workers()
            .iter()
            .filter(|w| w.is_alive())
            .min_by_key(|w| rooms.values().filter(|r| r.worker_index == w.index).count())
    }
}

/// Retransmission, keyframe requests and congestion control for video.
fn video_feedback() -> Vec<RtcpFeedback> {
    vec![RtcpFeedback::Nack, RtcpFeedback::NackPli, RtcpFeedback::CcmFir, RtcpFeedback::GoogRemb, RtcpFeedback::TransportCc]
}

/// The codecs rooms offer: Opus for audio; VP8 first for video (what browsers send
/// best), H.264 as an alternative.
pub fn media_codecs() -> Vec<RtpCodecCapability> {
    vec![
        RtpCodecCapability::Audio {
            mime_type: MimeTypeAudio::Opus,
            preferred_payload_type: None,
            clock_rate: NonZeroU32::new(48000).unwrap(),
            channels: NonZeroU8::new(2).unwrap(),
            parameters: RtpCodecParametersParameters::from([("useinbandfec", 1_u32.into())]),
            rtcp_feedback: vec![RtcpFeedback::TransportCc],
        },
        RtpCodecCapability::Video {
            mime_type: MimeTypeVideo::Vp8,
            preferred_payload_type: None,
            clock_rate: NonZeroU32::new(90000).unwrap(),
            parameters: RtpCodecParametersParameters::default(),
            rtcp_feedback: video_feedback(),
        },
        RtpCodecCapability::Video {
            mime_type: MimeTypeVideo::H264,
            preferred_payload_type: None,
            clock_rate: NonZeroU32::new(90000).unwrap(),
            parameters: RtpCodecParametersParameters::from([
                ("packetization-mode", 1_u32.into()),
                ("level-asymmetry-allowed", 1_u32.into()),
                ("profile-level-id", "42e01f".into()),
            ]),
            rtcp_feedback: video_feedback(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_validated() {
        for ok in ["a", "standup", "Team_42-b", &"x".repeat(64)] {
            assert!(RoomId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../etc", "a b", "é", "a/b", &"x".repeat(65), "a.b"] {
            assert!(RoomId::parse(bad).is_err(), "{bad}");
        }
    }
}

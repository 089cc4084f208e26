//! Recording: per recording, one PlainTransport on the room's router, connected to its
//! own compositor process. Every microphone is consumed on it, and every camera (the
//! [`switcher`] says which flow: by default all of them, so that a cut on a turn's
//! first word has its picture). The compositor gets the source map and each speaker
//! decision, with where the turn began, on its control channel, and writes the mp4 and
//! its sidecar ([`store`]).
//!
//! A recording's task lives as long as the recording: it follows the room's events
//! (joins, leaves, mutes, speakers), and ends on a stop (the API, or the room
//! emptying), a compositor failure, or the server shutting down (which stops every
//! recording and waits for their files before it exits).
pub mod admission;
pub mod highlights;
pub mod compose_args;
pub mod counts;
mod cpu;
pub mod disk;
mod id;
pub mod layout_pace;
pub mod listing;
pub mod redact;
pub mod retention;
pub mod shares;
pub mod size;
pub mod start_pace;
pub mod process;
pub mod store;
pub mod switcher;

pub use id::{InvalidRecordingId, RecordingId};
pub use size::{RecordingSize, SizeError};
pub use store::{RecordingView, Store, StoreError};

use compose_args::ComposeInvocation;
use layout_pace::LayoutPace;
use compositor::output::mp4::{AudioChannels, VideoSettings};
use crate::protocol::RecordingBadge;
use crate::room::{MediaSource, ParticipantId, Room, RoomEvent, RoomId};
use compositor::control::{self as ctl, FromCompositor, ToCompositor, CONTROL_VERSION};
use compositor::output::sidecar::{Participant, Sidecar, Status};
use compositor::picture::layout::LayoutKind;
use mediasoup::prelude::*;
use parking_lot::Mutex;
use process::{CompositorChild, SpawnOptions};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switcher::{Action, SwitchMode, Switcher, WARM_GRACE};
use tokio::sync::{broadcast, mpsc, oneshot};

/// How long a stopped compositor may take to finish its file before it is killed, on
/// top of how far behind real time it last said it was (a busy machine's compositor
/// renders its backlog first: that is slow, not dead).
const FINISH_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RecorderConfig {
    pub dir: PathBuf,
    /// The `podium` binary whose `compose` subcommand is the compositor.
    pub program: PathBuf,
    pub video: VideoSettings,
    /// The sound's channels (`--recording-audio`).
    pub audio: AudioChannels,
    /// How far each recording runs behind real time (`--recording-lookahead-ms`).
    pub lookahead: Duration,
    pub switch: SwitchMode,
    /// Where compositors bind their RTP port (and where the PlainTransports send).
    pub bind: IpAddr,
    /// Most recordings running at once (`--max-recordings`); a running recording is
    /// never stopped to make room.
    pub max_running: usize,
    /// Whether a recording that would not run in real time is refused, and the cores
    /// counted on (`--recording-admission`, `--recording-cores`).
    pub admission: admission::Settings,
    /// The free space kept on the recordings' disk (`--recording-min-free-mb`): a start
    /// below it is refused ([`disk`]). 0 keeps none.
    pub min_free_bytes: u64,
    /// How long recordings are kept after they end (`--recording-retention-days`);
    /// `None`: until someone deletes them.
    pub retention: Option<retention::Retention>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("nobody is in room {0} right now: a recording needs a meeting")]
    NoMeeting(RoomId),
    #[error("room {room} is already being recorded{}", id.as_ref().map(|i| format!(" (recording {i})")).unwrap_or_default())]
    AlreadyRecording { room: RoomId, id: Option<RecordingId> },
    #[error("room {0} is not being recorded")]
    NotRecording(RoomId),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("this server is at its recording capacity ({running} running): try again when one of them ends, or ask the operator to raise --max-recordings")]
    AtCapacity { running: usize },
    /// A size asked at the start larger than the server's: its operator's setting is
    /// the most a recording here may cost.
    #[error("a recording here is at most {}x{} (the server's size): ask for that or smaller", .largest.0, .largest.1)]
    LargerThanServer { largest: (u32, u32) },
    /// Admission's estimate: one more would not run in real time (the CPU it would need
    /// is not free, or a compositor is already behind).
    /// `smaller`: a size (half the asked one's width and height) that the estimate
    /// would admit now, if any: the refusal's "try a smaller size", made concrete.
    #[error("{}", admission::refusal_message(*running, *too_big))]
    NoHeadroom { running: usize, needed_cores: f64, free_cores: f64, worst_lag_ms: u64, smaller: Option<RecordingSize>, too_big: bool },
    #[error(transparent)]
    StartingTooOften(#[from] start_pace::StartRefused),
    #[error(transparent)]
    DiskLow(#[from] disk::DiskLow),
    #[error("recording {0} is still running: stop it first")]
    StillRecording(RecordingId),
    #[error("the highlight reel of {0} is being built: try again in a moment")]
    ReelBuilding(RecordingId),
    #[error("recording {0} has no video file")]
    NoVideo(RecordingId),
    /// Past the server's retention and about to be deleted by the next sweep: a link to
    /// it would open nothing.
    #[error("recording {0} is past this server's retention and about to be deleted: it can no longer be shared")]
    PastRetention(RecordingId),
    #[error("the recording could not start: {0}")]
    Start(#[from] StartError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RecordError {
    /// The reason a start was refused for want of room (what `/api/metrics` counts);
    /// `None` for an error that is not a refusal.
    pub fn refusal(&self) -> Option<counts::Refusal> {
        match self {
            RecordError::AtCapacity { .. } => Some(counts::Refusal::MaxRecordings),
            RecordError::NoHeadroom { .. } => Some(counts::Refusal::Cpu),
            RecordError::DiskLow(_) => Some(counts::Refusal::Disk),
            RecordError::StartingTooOften(_) => Some(counts::Refusal::Pace),
            _ => None,
        }
    }
}

/// Why a running recording's layout was not changed.
#[derive(Debug, thiserror::Error)]
pub enum SetLayoutError {
    #[error("room {0} is not being recorded")]
    NotRecording(RoomId),
    #[error(transparent)]
    Refused(#[from] layout_pace::LayoutRefused),
}

/// Why a recording could not start (after admission let it).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the recording's transport: {0}")]
    Transport(#[source] mediasoup::worker::RequestError),
    #[error(transparent)]
    Compositor(#[from] process::SpawnError),
    #[error("cannot connect the recording's transport to its compositor: {0}")]
    Connect(#[source] mediasoup::worker::RequestError),
    #[error("the start ended abnormally: {0}")]
    Aborted(#[source] tokio::task::JoinError),
}

type StopReply = oneshot::Sender<RecordingView>;

/// How long a shutdown gives starts under way to give up: a compositor's start takes
/// well under a second, its time limit is 10 s, and its exit 2 s more.
const SHUTDOWN_START_WAIT: Duration = Duration::from_secs(13);

/// Held by a start's task: however it ends (run, given up, or a panic as it unwinds),
/// its slot is not left starting, and whoever waits for it hears.
struct StartSettles {
    recorder: Arc<Recorder>,
    room: RoomId,
}

impl Drop for StartSettles {
    fn drop(&mut self) {
        {
            let mut slots = self.recorder.slots.lock();
            if matches!(slots.get(&self.room), Some(Slot::Starting { .. })) {
                slots.remove(&self.room);
            }
        }
        self.recorder.settled.notify_waiters();
    }
}

/// A recording that started, and who it starts with.
struct Launched {
    id: RecordingId,
    participants: Vec<Participant>,
}

/// A layout a host chose for a running recording, and how long before it reached the
/// recorder they chose it (the room's picker waits for a choice to settle): the file
/// changes there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutAsk {
    pub layout: LayoutKind,
    pub chosen_ago: Duration,
}

impl LayoutAsk {
    /// Chosen `chosen_ms_ago` before it was asked: at most
    /// [`compositor::control::MAX_LAYOUT_AGE_MS`], which the recording's lookahead keeps
    /// unwritten (a client may not rewrite what the file holds already).
    pub fn chosen_ago(layout: LayoutKind, chosen_ms_ago: u64) -> Result<Self, LayoutAgeError> {
        if chosen_ms_ago > compositor::control::MAX_LAYOUT_AGE_MS {
            return Err(LayoutAgeError(chosen_ms_ago));
        }
        Ok(LayoutAsk { layout, chosen_ago: Duration::from_millis(chosen_ms_ago) })
    }
}

/// A layout said to be chosen further back than a recording changes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chosen_ms_ago is how long before this request the layout was chosen, from 0 to {max} ms (not {0})", max = compositor::control::MAX_LAYOUT_AGE_MS)]
pub struct LayoutAgeError(pub u64);

/// What [`Recorder::set_layout`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutSet {
    pub recording: RecordingId,
    /// False when the recording had that layout already.
    pub changed: bool,
}

enum Slot {
    /// Its compositor is starting; `predicted`: its cost from admission's table.
    Starting { predicted: f64 },
    Running { id: RecordingId, stop: mpsc::Sender<StopReply>, layout: mpsc::UnboundedSender<LayoutAsk>, pace: LayoutPace, usage: Usage },
}

/// What admission needs of a running recording.
struct Usage {
    compositor: Option<u32>,
    predicted: f64,
    /// What its compositor said last of its lag, and when.
    lag: Duration,
    heard: Instant,
}

impl Slot {
    fn admission(&self, now: Instant) -> admission::Recording {
        match self {
            Slot::Starting { predicted } => admission::Recording { pid: None, predicted: *predicted, lag: Duration::ZERO },
            Slot::Running { usage, .. } => admission::Recording {
                pid: usage.compositor,
                predicted: usage.predicted,
                lag: admission::lag(usage.lag, now.saturating_duration_since(usage.heard)),
            },
        }
    }
}

pub struct Recorder {
    config: RecorderConfig,
    store: Store,
    shares: shares::Shares,
    highlights: Arc<highlights::Highlights>,
    slots: Mutex<HashMap<RoomId, Slot>>,
    closing: AtomicBool,
    /// The CPU readings admission counts (lock order: `slots` first).
    load: Mutex<admission::Load>,
    /// How often each room's recording starts (lock order: `slots` first).
    starts: Mutex<start_pace::StartPace>,
    /// Told when a starting recording runs or gives up: a stop or a shutdown asked for
    /// meanwhile waits for it.
    settled: tokio::sync::Notify,
    /// Held by what makes or removes a recording's files (a delete, a share link, a
    /// reel's start), so that a link or a reel is never made for a recording as it is
    /// deleted (lock order: before the reels' jobs).
    files: Mutex<()>,
    /// Starts, ends and refusals since the server started (`/api/metrics`).
    counts: counts::Counts,
    /// The last free-space reading of the recordings' disk, for health and metrics
    /// (anyone may poll health): at most one statvfs at a time, and one per
    /// [`disk::READING_LASTS`]; a start reads afresh.
    disk: disk::Gauge,
}

impl Recorder {
    /// The recorder of a server; recordings that a crash cut off are marked first.
    pub fn new(config: RecorderConfig) -> Arc<Self> {
        let store = Store::new(config.dir.clone()).with_retention(config.retention);
        let found = store.recover_interrupted();
        if found > 0 {
            tracing::warn!(found, "recordings cut off by a crash are listed as interrupted");
        }
        let shares = shares::Shares::new(&config.dir);
        let disk = disk::Gauge::new(config.dir.clone());
        let load = match config.admission.budget {
            admission::Budget::Machine => admission::Load::new(std::thread::available_parallelism().map_or(1, |n| n.get()) as f64, true),
            admission::Budget::Cores(cores) => admission::Load::new(cores, false),
        };
        let recorder = Arc::new(Self { config, store, shares, highlights: Arc::default(), slots: Mutex::new(HashMap::new()), closing: AtomicBool::new(false), load: Mutex::new(load), starts: Mutex::default(), settled: tokio::sync::Notify::new(), files: Mutex::new(()), counts: counts::Counts::default(), disk });
        cpu::spawn_sampler(Arc::downgrade(&recorder));
        recorder
    }

    /// Reads the CPU counters once (the sampler's tick): the counted load and each
    /// running compositor's.
    fn sample_cpu(&self) {
        let recordings: Vec<admission::Recording> = {
            let now = Instant::now();
            self.slots.lock().values().map(|s| s.admission(now)).collect()
        };
        let counted = match self.config.admission.budget {
            admission::Budget::Machine => cpu::machine_busy_seconds(),
            admission::Budget::Cores(_) => cpu::own_seconds(),
        };
        let compositors: Vec<(admission::Recording, f64)> = recordings.iter().filter_map(|r| Some((*r, cpu::process_seconds(r.pid?).ok()?))).collect();
        self.load.lock().observe(Instant::now(), counted.ok(), &compositors);
    }

    /// Admission's view of the load now, with the recordings in `slots`.
    fn estimate(&self, slots: &HashMap<RoomId, Slot>) -> admission::Estimate {
        let now = Instant::now();
        let recordings: Vec<admission::Recording> = slots.values().map(|s| s.admission(now)).collect();
        self.load.lock().estimate(&recordings)
    }

    /// How many recordings run, and how many of the server's settings (in the default
    /// layout) could run now in all.
    pub async fn capacity(&self) -> admission::Capacity {
        let free = self.disk_free().await;
        let slots = self.slots.lock();
        let predicted = admission::predicted_cores(&self.config.video, LayoutKind::DEFAULT);
        let capacity = self.estimate(&slots).capacity(predicted, self.config.max_running);
        // On a disk below the kept space no further recording starts.
        match free.map(|free| disk::check(free, self.config.min_free_bytes)) {
            Some(Err(_)) => admission::Capacity { capacity_estimate: capacity.running, ..capacity },
            _ => capacity,
        }
    }

    /// Whether the recordings' disk has the space the operator keeps free, read afresh.
    /// A disk whose free space cannot be read (an error, no answer within
    /// [`disk::READ_TIMEOUT`], or an earlier reading still hanging) does not refuse the
    /// start: it fails where it writes, with the system's reason; the log says why it was
    /// not checked.
    async fn disk_allows(&self) -> Result<(), disk::DiskLow> {
        let min_free = self.config.min_free_bytes;
        if min_free == 0 {
            return Ok(());
        }
        match self.disk.read().await {
            Ok(free) => disk::check(free, min_free),
            Err(e) => {
                tracing::warn!("{e}: the recording starts without the check");
                Ok(())
            }
        }
    }

    /// Free bytes on the recordings' disk, as last read (within
    /// [`disk::READING_LASTS`]), if they can be read: `None` while a reading hangs.
    pub async fn disk_free(&self) -> Option<u64> {
        self.disk.latest().await
    }

    /// A compositor's progress: how far behind real time it is.
    fn note_lag(&self, room: &RoomId, id: &RecordingId, lag_ms: u64) {
        if let Some(Slot::Running { id: running, usage, .. }) = self.slots.lock().get_mut(room) {
            if running == id {
                usage.lag = Duration::from_millis(lag_ms);
                usage.heard = Instant::now();
            }
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn shares(&self) -> &shares::Shares {
        &self.shares
    }

    pub fn highlights(&self) -> &Arc<highlights::Highlights> {
        &self.highlights
    }

    /// A recording with its reel's state, as the API shows it.
    pub fn view(&self, id: &RecordingId) -> Result<RecordingView, StoreError> {
        let sidecar = self.store.read_sidecar(id)?;
        Ok(self.view_of(id, sidecar))
    }

    /// The view of a recording whose sidecar the caller has read (and checked).
    pub fn view_of(&self, id: &RecordingId, sidecar: compositor::output::sidecar::Sidecar) -> RecordingView {
        let mut view = self.store.view_of(id, sidecar);
        view.highlights = Some(self.highlights.status(id, &self.store.reel_files(id)));
        view
    }

    /// A page of the library of `room` (all: `None`) as `query` asks, each with its
    /// reel's state.
    pub fn page(&self, room: Option<&str>, query: &listing::ListQuery) -> listing::Page {
        let mut page = self.store.page(room, query);
        for view in &mut page.recordings {
            view.highlights = Some(self.highlights.status(&view.id, &self.store.reel_files(&view.id)));
        }
        page
    }

    /// Starts recording `room` in the default layout.
    pub async fn start(self: &Arc<Self>, room: Arc<Room>) -> Result<RecordingView, RecordError> {
        self.start_with(room, LayoutKind::DEFAULT).await
    }

    /// Starts recording `room` in `layout`, for a caller inside the process (tests,
    /// benchmarks): paced per room only.
    pub async fn start_with(self: &Arc<Self>, room: Arc<Room>, layout: LayoutKind) -> Result<RecordingView, RecordError> {
        self.start_for(room, layout, None, None).await
    }

    /// Starts recording `room` in `layout`, at `size` (at most the server's; by default
    /// the server's), asked by `caller` (paced with the caller's other starts:
    /// [`start_pace`]).
    pub async fn start_for(self: &Arc<Self>, room: Arc<Room>, layout: LayoutKind, size: Option<RecordingSize>, caller: Option<crate::auth::PaceKey>) -> Result<RecordingView, RecordError> {
        // Refusals are counted here; a start when its slot runs (in `launch`, which goes
        // on when the caller has gone away), a start that failed in `start_failed`.
        let started = self.try_start(room, layout, size, caller).await;
        if let Some(why) = started.as_ref().err().and_then(RecordError::refusal) {
            self.counts.refused(why);
        }
        started
    }

    async fn try_start(self: &Arc<Self>, room: Arc<Room>, layout: LayoutKind, size: Option<RecordingSize>, caller: Option<crate::auth::PaceKey>) -> Result<RecordingView, RecordError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(RecordError::ShuttingDown);
        }
        let video = self.video_at(size)?;
        // A room already recording says so (409) whatever the disk; checked again below,
        // under the lock that reserves the slot.
        self.not_recording(&room.id)?;
        self.disk_allows().await?;
        let predicted = admission::predicted_cores(&video, layout);
        {
            let mut slots = self.slots.lock();
            Self::free_in(&slots, &room.id)?;
            if slots.len() >= self.config.max_running {
                return Err(RecordError::AtCapacity { running: slots.len() });
            }
            // Decided and reserved under the one lock, so that two starts at once are
            // both counted.
            self.admit(&room.id, &self.estimate(&slots), &video, layout)?;
            // Under the lock a shutdown looks for starts under way in: either it sees
            // this one, or this one sees it.
            if self.closing.load(Ordering::SeqCst) {
                return Err(RecordError::ShuttingDown);
            }
            // Last: a start refused for another reason takes nothing of the room's pace.
            self.starts.lock().take(&room.id, caller.as_ref(), Instant::now())?;
            slots.insert(room.id.clone(), Slot::Starting { predicted });
        }
        // On a task of its own: a caller that goes away (a closed tab, a proxy's
        // timeout) drops this future, and with it a start half done would have left the
        // room's slot "starting" for good and its compositor killed. Started once
        // admitted, it runs or gives up whole.
        let this = Arc::clone(self);
        let launched = tokio::spawn(async move {
            let _settles = StartSettles { recorder: Arc::clone(&this), room: room.id.clone() };
            this.launch(&room, layout, &video, predicted).await
        });
        let Launched { id, participants } = launched.await.map_err(|e| self.start_failed(StartError::Aborted(e)))??;
        let mut view = self.store.read(&id)?;
        // The compositor lists people from the source map the recording's task sends
        // it, in its sidecar within a second: the answer to the start already names
        // who is being recorded (a start stopped at once lists what its file does).
        if view.status == Status::Recording {
            view.participants = store::people(view.participants.into_iter().chain(participants).collect());
        }
        Ok(view)
    }

    /// Refuses a start in a room that records or starts to.
    fn not_recording(&self, room: &RoomId) -> Result<(), RecordError> {
        Self::free_in(&self.slots.lock(), room)
    }

    fn free_in(slots: &HashMap<RoomId, Slot>, room: &RoomId) -> Result<(), RecordError> {
        match slots.get(room) {
            Some(Slot::Running { id, .. }) => Err(RecordError::AlreadyRecording { room: room.clone(), id: Some(id.clone()) }),
            Some(Slot::Starting { .. }) => Err(RecordError::AlreadyRecording { room: room.clone(), id: None }),
            None => Ok(()),
        }
    }

    /// A recording's picture: the server's settings, at a smaller size when one is asked.
    /// A smaller picture costs less (admission prices it by its pixels), so a server too
    /// busy for its own size may still have room for it: what a refusal's "try a smaller
    /// size" offers.
    fn video_at(&self, size: Option<RecordingSize>) -> Result<VideoSettings, RecordError> {
        let mut video = self.config.video.clone();
        if let Some(size) = size {
            if !size.fits_within(video.width, video.height) {
                return Err(RecordError::LargerThanServer { largest: (video.width, video.height) });
            }
            (video.width, video.height) = (size.width(), size.height());
        }
        Ok(video)
    }

    /// Admission's rule: a recording that would not run in real time is refused, unless
    /// admission is off (then it is only logged).
    fn admit(&self, room: &RoomId, estimate: &admission::Estimate, video: &VideoSettings, layout: LayoutKind) -> Result<(), RecordError> {
        let Err(refusal) = estimate.admit(admission::predicted_cores(video, layout)) else { return Ok(()) };
        let worst_lag_ms = refusal.worst_lag.as_millis() as u64;
        // Cores to the thousandth, for the log.
        let c = |cores: f64| (cores * 1000.0).round() / 1000.0;
        if !self.config.admission.enabled {
            tracing::info!(room = %room, running = refusal.running, needed_cores = c(refusal.needed), free_cores = c(refusal.free), worst_lag_ms, "admission is off: starting a recording beyond the estimate of what runs in real time");
            return Ok(());
        }
        tracing::warn!(
            room = %room,
            running = refusal.running,
            needed_cores = c(refusal.needed),
            free_cores = c(refusal.free),
            usable_cores = c(estimate.usable),
            other_load_cores = c(estimate.other),
            committed_cores = c(estimate.committed),
            correction = c(estimate.correction),
            worst_lag_ms,
            "recording refused: it would not run in real time"
        );
        let smaller = RecordingSize::new(video.width, video.height)
            .ok()
            .and_then(RecordingSize::half)
            .filter(|half| estimate.admit(admission::predicted_cores(&VideoSettings { width: half.width(), height: half.height(), ..video.clone() }, layout)).is_ok());
        let too_big = refusal.needed > estimate.usable;
        Err(RecordError::NoHeadroom { running: refusal.running, needed_cores: refusal.needed, free_cores: refusal.free, worst_lag_ms, smaller, too_big })
    }

    /// Starts the compositor and the recording's task; the room's slot is `Running` by
    /// the time the task runs.
    async fn launch(self: &Arc<Self>, room: &Arc<Room>, layout: LayoutKind, video: &VideoSettings, predicted: f64) -> Result<Launched, RecordError> {
        if room.is_empty() {
            return Err(RecordError::NoMeeting(room.id.clone()));
        }
        let id = RecordingId::generate(std::time::SystemTime::now());
        let (output, sidecar) = (self.store.video_path(&id), self.store.sidecar_path(&id));
        // The transport first: its port is the one address the compositor will hear.
        let transport = self.open_transport(room).await.map_err(|e| self.start_failed(StartError::Transport(e)))?;
        let peer = SocketAddr::new(self.config.bind, transport.tuple().local_port());
        let spawned = CompositorChild::spawn(SpawnOptions {
            program: &self.config.program,
            compose: ComposeInvocation {
                id: id.as_str(),
                room: &room.id.to_string(),
                output: &output,
                sidecar: &sidecar,
                video,
                audio: self.config.audio,
                lookahead: self.config.lookahead,
                layout,
                bind: self.config.bind,
                peer,
            },
        })
        .await
        .map_err(|e| self.start_failed(StartError::Compositor(e)))?;
        let mut child = spawned.child;
        let remote = PlainTransportRemoteParameters { ip: Some(self.config.bind), port: Some(spawned.rtp_port), rtcp_port: None, srtp_parameters: None };
        if let Err(e) = transport.connect(remote).await {
            child.kill();
            let error = self.start_failed(StartError::Connect(e));
            self.store.mark_failed(&id, &error.to_string());
            return Err(error);
        }
        let badge = RecordingBadge { id: id.to_string(), started_at: spawned.started_at.clone(), layout };
        let pid = child.pid();
        tracing::info!(room = %room.id, recording = %id, rtp_port = spawned.rtp_port, compositor = ?pid, "recording started");
        let (stop_tx, stop_rx) = mpsc::channel(1);
        let (layout_tx, layout_rx) = mpsc::unbounded_channel();
        let task = Task {
            recorder: Arc::clone(self),
            room: Arc::clone(room),
            id: id.clone(),
            compositor: child,
            caps: compositor_capabilities(&room.router),
            transport,
            mode: self.config.switch,
            badge: badge.clone(),
            cameras: HashMap::new(),
            audio: HashMap::new(),
            video: HashMap::new(),
            switcher: Switcher::new(self.config.switch, WARM_GRACE),
            speaker: None,
            speaking: HashSet::new(),
            order: Vec::new(),
            lag_ms: 0,
            frame: (video.width, video.height),
        };
        // Running before the task is: a task that ends at once (everyone left as it
        // started) then finds its own slot to clear, and none is left behind for good.
        let usage = Usage { compositor: pid, predicted, lag: Duration::ZERO, heard: Instant::now() };
        {
            let mut slots = self.slots.lock();
            // A shutdown that began meanwhile stops only what runs: this one, not begun
            // for anyone yet, gives up and leaves nothing (the shutdown's answer is 503).
            if !self.closing.load(Ordering::SeqCst) {
                slots.insert(room.id.clone(), Slot::Running { id: id.clone(), stop: stop_tx, layout: layout_tx, pace: LayoutPace::new(layout), usage });
                self.counts.started();
            } else {
                drop(slots);
                let Task { mut compositor, .. } = task;
                compositor.kill();
                let how = compositor.exit_description().await;
                tracing::info!(room = %room.id, recording = %id, compositor = how, "a recording that started as the server shut down was given up");
                let sidecar = self.store.sidecar_path(&id);
                for path in [self.store.video_path(&id), sidecar.with_extension("json.tmp"), sidecar] {
                    match tokio::fs::remove_file(&path).await {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => tracing::warn!(recording = %id, "cannot remove {}: {e}", path.display()),
                        _ => {}
                    }
                }
                return Err(RecordError::ShuttingDown);
            }
        }
        let snapshot = room.media_snapshot();
        // Who the recording starts with: those whose media it records, in join order
        // (the compositor's sidecar lists them so; `store::people` makes each one once).
        let participants = snapshot.sources.iter().map(|s| Participant { participant_id: s.participant_id.clone(), name: s.name.clone() }).collect();
        room.set_recording(Some(badge), None);
        tokio::spawn(task.run(snapshot, stop_rx, layout_rx));
        Ok(Launched { id, participants })
    }

    /// A recording that could not start: the log gets why, the caller the same without
    /// paths on this server (the compositor's words may name its file).
    fn start_failed(&self, error: StartError) -> RecordError {
        tracing::error!("the recording could not start: {error}");
        self.counts.start_failed();
        let shown = match error {
            StartError::Compositor(e) => StartError::Compositor(e.map_text(|text| self.public(text))),
            other => other,
        };
        RecordError::Start(shown)
    }

    /// `message` as a client may read it (the log keeps it whole): [`redact`].
    fn public(&self, message: &str) -> String {
        self.store.shown(message)
    }

    /// The recording's transport, not yet connected: the compositor is started with its
    /// address, and it is connected to the compositor's port once that is known.
    async fn open_transport(&self, room: &Room) -> Result<PlainTransport, mediasoup::worker::RequestError> {
        let mut options = PlainTransportOptions::new(crate::media::udp_listen(self.config.bind));
        options.rtcp_mux = true;
        options.comedia = false;
        // The compositor sends keyframe requests only: no receiver reports, no
        // transport-cc. A bandwidth estimate would stay at its 600 kbit/s start for
        // good, and mediasoup would share that among the recording's simulcast
        // consumers: the speaker recorded from a camera's lowest layer, other cameras
        // cut off. The switcher chooses every consumer's layers itself.
        options.enable_bwe = false;
        room.router.create_plain_transport(options).await
    }

    /// Changes the layout of `room`'s recording from now on; the file changes where it
    /// is when the compositor gets there (within its lookahead). The layout it has
    /// already is no change (`changed` is false, and nobody hears of it); changes are
    /// paced ([`layout_pace`]).
    /// A change asked for while the recording starts waits for it to run, as a stop does.
    pub async fn set_layout(&self, room: &RoomId, ask: LayoutAsk, now: Instant) -> Result<LayoutSet, SetLayoutError> {
        loop {
            let settled = self.settled.notified();
            match self.slots.lock().get_mut(room) {
                Some(Slot::Running { id, layout: tx, pace, .. }) if !tx.is_closed() => {
                    let changed = pace.ask(ask.layout, now)?;
                    if changed && tx.send(ask).is_err() {
                        return Err(SetLayoutError::NotRecording(room.clone()));
                    }
                    return Ok(LayoutSet { recording: id.clone(), changed });
                }
                Some(Slot::Starting { .. }) => {}
                _ => return Err(SetLayoutError::NotRecording(room.clone())),
            }
            settled.await;
        }
    }

    /// Stops the recording of `room` and returns it once its file is final.
    /// A stop asked for while the recording starts waits for it to run (a start at that
    /// moment is refused as "already being recorded": the two agree).
    pub async fn stop(&self, room: &RoomId) -> Result<RecordingView, RecordError> {
        let stop = loop {
            let settled = self.settled.notified();
            match self.slots.lock().get(room) {
                Some(Slot::Running { stop, .. }) => break stop.clone(),
                Some(Slot::Starting { .. }) => {}
                None => return Err(RecordError::NotRecording(room.clone())),
            }
            settled.await;
        };
        let (tx, rx) = oneshot::channel();
        if stop.send(tx).await.is_err() {
            return Err(RecordError::NotRecording(room.clone()));
        }
        // The task ended for another reason meanwhile: then it is no longer recording.
        rx.await.map_err(|_| RecordError::NotRecording(room.clone()))
    }

    /// The recording running in `room`, if any.
    pub fn active_in(&self, room: &RoomId) -> Option<RecordingId> {
        match self.slots.lock().get(room) {
            Some(Slot::Running { id, .. }) => Some(id.clone()),
            _ => None,
        }
    }

    pub fn is_active(&self, id: &RecordingId) -> bool {
        self.slots.lock().values().any(|s| matches!(s, Slot::Running { id: r, .. } if r == id))
    }

    /// Deletes a recording's files and share links: not while it records or its reel is
    /// being built.
    pub fn delete(&self, id: &RecordingId) -> Result<(), RecordError> {
        let _files = self.files.lock();
        if self.is_active(id) {
            return Err(RecordError::StillRecording(id.clone()));
        }
        // A reel waiting for its turn is dropped; one being built holds the files.
        if !self.highlights.drop_unless_building(id) {
            return Err(RecordError::ReelBuilding(id.clone()));
        }
        self.store.delete(id)?;
        self.highlights.forget(id);
        Ok(())
    }

    /// Deletes the recordings past their retention at `now` (none without one), as an
    /// admin's delete would: not one still recording or whose reel is being built (the
    /// next sweep takes it). Returns the ids deleted. Blocking file work: call it off the
    /// async threads.
    pub fn sweep_expired(&self, now: time::OffsetDateTime) -> Vec<RecordingId> {
        let Some(retention) = self.config.retention else { return Vec::new() };
        let mut deleted = Vec::new();
        for view in self.store.list() {
            if view.status == Status::Recording || !retention.expired(&view.started_at, view.duration_ms, now) {
                continue;
            }
            match self.delete(&view.id) {
                Ok(()) => {
                    tracing::info!(target: "audit", action = "recording.expire", recording = %view.id, room = %view.room, started_at = %view.started_at, keep_days = retention.keep.as_secs() / 86_400, "recording deleted: past the server's retention");
                    deleted.push(view.id);
                }
                Err(e) => tracing::warn!(recording = %view.id, "past the server's retention, but kept for now: {e}"),
            }
        }
        deleted
    }

    /// Sweeps the recordings past their retention now and every `period`, until `stop`
    /// turns true (the server's shutdown).
    pub async fn sweep_expired_every(self: Arc<Self>, period: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let this = Arc::clone(&self);
            let swept = tokio::task::spawn_blocking(move || this.sweep_expired(time::OffsetDateTime::now_utc())).await;
            match swept {
                Ok(deleted) if !deleted.is_empty() => tracing::info!(deleted = deleted.len(), "recordings past the server's retention deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!("the retention sweep did not finish: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }

    /// When a share link to `recording`, asked at `now` to last until `asked` (unix
    /// seconds), ends: never after the recording is deleted by the server's retention, so
    /// that nobody is promised a link that outlives its recording. One still recording
    /// ends at `now` or later, so it is deleted no sooner than the retention after
    /// `now`: its links may last that long (give or take the seconds between the
    /// recording's first frame, its `started_at`, and its start being asked). A recording
    /// already past its retention (the sweep has not come yet) cannot be shared.
    pub fn share_ends(&self, id: &RecordingId, recording: &Sidecar, now: u64, asked: u64) -> Result<u64, RecordError> {
        let Some(retention) = self.config.retention else { return Ok(asked) };
        let Some(deleted) = retention.expires_at(&recording.started_at, recording.duration_ms) else { return Ok(asked) };
        let mut deleted = u64::try_from(deleted.unix_timestamp()).unwrap_or(0);
        if recording.status == Status::Recording || self.is_active(id) {
            deleted = deleted.max(now.saturating_add(retention.keep.as_secs()));
        }
        if deleted <= now {
            return Err(RecordError::PastRetention(id.clone()));
        }
        Ok(asked.min(deleted))
    }

    /// Adds a share link to recording `id`, unless it is gone (deleted meanwhile).
    pub fn add_share(&self, id: &RecordingId, share: shares::Share, now: u64) -> Result<(), shares::AddShareError> {
        let _files = self.files.lock();
        if !self.store.sidecar_path(id).is_file() {
            return Err(shares::AddShareError::Gone { id: id.clone() });
        }
        self.shares.add(id, share, now)
    }

    /// Builds the highlight reel of a finished recording (or joins the running build),
    /// and says where it stands.
    pub fn build_reel(&self, id: &RecordingId) -> Result<highlights::ReelStatus, RecordError> {
        use highlights::ReelStatus;
        let _files = self.files.lock();
        let sidecar = self.store.read_sidecar(id)?;
        if sidecar.status == Status::Recording || self.is_active(id) {
            return Err(RecordError::StillRecording(id.clone()));
        }
        let files = self.store.reel_files(id);
        if !files.recording.is_file() {
            return Err(RecordError::NoVideo(id.clone()));
        }
        match self.highlights.status(id, &files) {
            status @ (ReelStatus::Ready { .. } | ReelStatus::Building { .. }) => return Ok(status),
            ReelStatus::None | ReelStatus::Failed { .. } => {}
        }
        self.highlights.forget(id);
        Ok(self.highlights.start(id, sidecar, files, compositor::review::reel::Rules::default(), self.store.redactor().clone()))
    }

    /// Waits until no recording is starting.
    async fn starts_settled(&self) {
        loop {
            let settled = self.settled.notified();
            if !self.slots.lock().values().any(|s| matches!(s, Slot::Starting { .. })) {
                return;
            }
            settled.await;
        }
    }

    /// How many recordings run (or start) now.
    pub fn running(&self) -> usize {
        self.slots.lock().len()
    }

    /// Starts, ends and refusals since the server started.
    pub fn counts(&self) -> counts::CountsNow {
        self.counts.now()
    }

    /// How far the running recording furthest behind real time is (zero with none):
    /// what admission reads, as the compositors last reported it.
    pub fn worst_lag(&self) -> Duration {
        let now = Instant::now();
        self.slots.lock().values().filter_map(|slot| match slot {
            Slot::Running { usage, .. } => Some(admission::lag(usage.lag, now.saturating_duration_since(usage.heard))),
            Slot::Starting { .. } => None,
        }).max().unwrap_or_default()
    }


    /// Stops every recording and waits for their files (the server is stopping).
    pub async fn shutdown(&self) {
        self.closing.store(true, Ordering::SeqCst);
        // From here no start runs: one under way gives up when it would (it sees
        // `closing` under the slots' lock), so what runs now is all there is to stop.
        let running: Vec<(RoomId, mpsc::Sender<StopReply>)> = self
            .slots
            .lock()
            .iter()
            .filter_map(|(room, slot)| match slot {
                Slot::Running { stop, .. } => Some((room.clone(), stop.clone())),
                Slot::Starting { .. } => None,
            })
            .collect();
        let waits = running.into_iter().map(|(room, stop)| async move {
            let (tx, rx) = oneshot::channel();
            if stop.send(tx).await.is_ok() {
                match rx.await {
                    Ok(view) => tracing::info!(room = %room, recording = %view.id, status = ?view.status, "recording finalized for shutdown"),
                    Err(_) => tracing::warn!(room = %room, "a recording ended on its own during shutdown"),
                }
            }
        });
        // Beside the stops, the starts under way are given time to give up and remove
        // their files; a start stuck in its compositor's start is cut off at the exit
        // (its files then read as interrupted at the next start).
        let starts = async {
            if tokio::time::timeout(SHUTDOWN_START_WAIT, self.starts_settled()).await.is_err() {
                tracing::warn!("a recording was still starting {SHUTDOWN_START_WAIT:?} into the shutdown: it is cut off");
            }
        };
        futures_util::future::join(futures_util::future::join_all(waits), starts).await;
    }

    fn finished(&self, room: &RoomId, id: &RecordingId) {
        let mut slots = self.slots.lock();
        if matches!(slots.get(room), Some(Slot::Running { id: r, .. }) if r == id) {
            slots.remove(room);
        }
    }
}

/// What the compositor may receive: the router's codecs without RTX (it asks for
/// keyframes, not retransmissions) and only the feedback it gives, so that the
/// consumers send plain streams.
fn compositor_capabilities(router: &Router) -> RtpCapabilities {
    let mut caps: RtpCapabilities = serde_json::to_value(router.rtp_capabilities())
        .and_then(serde_json::from_value)
        .expect("the router's capabilities are capabilities");
    caps.codecs.retain(|c| !matches!(c, RtpCodecCapability::Video { mime_type: MimeTypeVideo::Rtx, .. }));
    for codec in &mut caps.codecs {
        let feedback = match codec {
            RtpCodecCapability::Audio { rtcp_feedback, .. } | RtpCodecCapability::Video { rtcp_feedback, .. } => rtcp_feedback,
        };
        feedback.retain(|f| matches!(f, RtcpFeedback::NackPli | RtcpFeedback::CcmFir));
    }
    caps.header_extensions.retain(|h| h.uri == RtpHeaderExtensionUri::SsrcAudioLevel);
    caps
}

/// One stream the compositor receives.
struct Feed {
    participant_id: ParticipantId,
    name: String,
    consumer: Consumer,
    /// Its producer is paused (a muted mic, a camera turned off).
    paused: bool,
    /// What its producer sends (a screen's video is framed as a share).
    source: crate::protocol::Source,
    /// A simulcast camera's layer count and the layer asked for last.
    layers: Option<(u8, u8)>,
}

impl Feed {
    fn new(participant_id: ParticipantId, name: String, consumer: Consumer, paused: bool, source: crate::protocol::Source) -> Self {
        let layers = crate::simulcast::layers_of(&consumer).map(|n| (n, n - 1));
        Self { participant_id, name, consumer, paused, source, layers }
    }
}

impl Feed {
    fn source(&self) -> Option<ctl::Source> {
        let params = self.consumer.rtp_parameters();
        let ssrc = params.encodings.first()?.ssrc?;
        let (kind, codec, payload_type, clock_rate) = match params.codecs.first()? {
            RtpCodecParameters::Audio { mime_type: MimeTypeAudio::Opus, payload_type, clock_rate, .. } => (ctl::MediaKind::Audio, ctl::Codec::Opus, *payload_type, clock_rate.get()),
            RtpCodecParameters::Video { mime_type: MimeTypeVideo::Vp8, payload_type, clock_rate, .. } => (ctl::MediaKind::Video, ctl::Codec::Vp8, *payload_type, clock_rate.get()),
            RtpCodecParameters::Video { mime_type: MimeTypeVideo::H264, payload_type, clock_rate, .. } => (ctl::MediaKind::Video, ctl::Codec::H264, *payload_type, clock_rate.get()),
            _ => return None,
        };
        Some(ctl::Source { ssrc, participant_id: self.participant_id.clone(), name: self.name.clone(), kind, codec, payload_type, clock_rate, paused: self.paused, screen: self.source == crate::protocol::Source::Screen })
    }
}

/// A stage change's times, Unix ms on this server's clock.
struct TurnTimes {
    /// Where the turn began.
    since: u64,
    /// When the detector was sure.
    decided: u64,
}

enum Outcome {
    Finished,
    Failed(String),
}

enum Step {
    Event(Result<RoomEvent, broadcast::error::RecvError>),
    Layout(Option<LayoutAsk>),
    Message(Option<FromCompositor>),
    Stop(Option<StopReply>),
    Timer,
}

struct Task {
    recorder: Arc<Recorder>,
    room: Arc<Room>,
    id: RecordingId,
    compositor: CompositorChild,
    caps: RtpCapabilities,
    transport: PlainTransport,
    mode: SwitchMode,
    /// What the room shows of this recording (its layout changes).
    badge: RecordingBadge,
    /// Every camera of the room, by participant.
    cameras: HashMap<ParticipantId, MediaSource>,
    audio: HashMap<ProducerId, Feed>,
    video: HashMap<ProducerId, Feed>,
    switcher: Switcher<ParticipantId, ProducerId>,
    speaker: Option<ParticipantId>,
    /// Participants in the order they were first recorded (the room's join order), so
    /// that the source map, and the sidecar after it, lists them so.
    order: Vec<ParticipantId>,
    /// How far behind real time the compositor last said it was.
    lag_ms: u64,
    /// Who is speaking now (the detector's flag, before it hands them the stage).
    speaking: HashSet<ParticipantId>,
    /// The recording's picture size, to size the cameras' layers to their tiles.
    frame: (u32, u32),
}

impl Task {
    async fn run(mut self, snapshot: crate::room::MediaSnapshot, mut stop_rx: mpsc::Receiver<StopReply>, mut layout_rx: mpsc::UnboundedReceiver<LayoutAsk>) {
        let mut events = snapshot.events;
        let mut left_before_listening = snapshot.empty;
        for source in snapshot.sources {
            self.add_source(source).await;
        }
        let now = Instant::now();
        for p in snapshot.speaking {
            self.speaking.insert(p.clone());
            self.switcher.set_speaking(now, p, true);
        }
        self.send_sources().await;
        self.apply_switcher().await;
        self.set_speaker(snapshot.active_speaker, None).await;

        let mut stop_reply = None;
        let mut layout_open = true;
        let outcome = loop {
            if std::mem::take(&mut left_before_listening) {
                // The last person left while the compositor started: the event that
                // ends a recording came before this task listened (a probe found such
                // recordings running on, unseen, holding their slots).
                tracing::info!(room = %self.room.id, recording = %self.id, "everyone left as the recording started: stopping it");
                break self.stop(&mut layout_rx).await;
            }
            let wake = self.switcher.next_timeout().map(tokio::time::Instant::from_std);
            let step = tokio::select! {
                event = events.recv() => Step::Event(event),
                message = self.compositor.next() => Step::Message(message),
                reply = stop_rx.recv() => Step::Stop(reply),
                layout = layout_rx.recv(), if layout_open => Step::Layout(layout),
                () = sleep_until(wake) => Step::Timer,
            };
            match step {
                Step::Event(Ok(event)) => {
                    if self.on_event(event).await {
                        tracing::info!(room = %self.room.id, recording = %self.id, "everyone left: stopping the recording");
                        break self.stop(&mut layout_rx).await;
                    }
                }
                Step::Event(Err(broadcast::error::RecvError::Lagged(n))) => {
                    tracing::warn!(room = %self.room.id, skipped = n, "the recorder fell behind the room's events: catching up");
                    let snapshot = self.room.media_snapshot();
                    events = snapshot.events;
                    self.resync(snapshot.sources).await;
                    self.apply_switcher().await;
                    self.set_speaker(snapshot.active_speaker, None).await;
                }
                Step::Event(Err(broadcast::error::RecvError::Closed)) => break self.stop(&mut layout_rx).await,
                Step::Message(Some(message)) => match message {
                    FromCompositor::Progress { lag_ms, .. } => {
                        if lag_ms >= 1000 && self.lag_ms < 1000 {
                            tracing::warn!(room = %self.room.id, recording = %self.id, lag_ms, "the recorder is falling behind real time: this machine is too busy for its recordings");
                        }
                        self.lag_ms = lag_ms;
                        self.recorder.note_lag(&self.room.id, &self.id, lag_ms);
                    }
                    FromCompositor::Ready { .. } => {}
                    FromCompositor::Quality { at_ms, preset, fps, thumbnail_fps, lag_ms, down, catch_up, .. } => {
                        if catch_up && down {
                            tracing::warn!(room = %self.room.id, recording = %self.id, at_ms, fps, lag_ms, "the recorder fell more than a second behind real time: it draws fewer frames until it catches up");
                        } else if catch_up {
                            tracing::info!(room = %self.room.id, recording = %self.id, at_ms, "the recorder caught up with real time");
                        } else if down {
                            tracing::warn!(room = %self.room.id, recording = %self.id, at_ms, preset, fps, ?thumbnail_fps, lag_ms, "the recorder stepped its quality down to keep up with real time");
                        } else {
                            tracing::info!(room = %self.room.id, recording = %self.id, at_ms, preset, fps, ?thumbnail_fps, "the recorder stepped its quality back up");
                        }
                    }
                    FromCompositor::Warning { message, .. } => tracing::warn!(recording = %self.id, "recorder: {message}"),
                    FromCompositor::Finished { .. } => break Outcome::Finished,
                    FromCompositor::Failed { message, .. } => break Outcome::Failed(message),
                },
                Step::Message(None) => {
                    let how = self.compositor.exit_description().await;
                    break Outcome::Failed(format!("the recorder process stopped unexpectedly ({how}); the file up to then is kept and plays"));
                }
                Step::Stop(reply) => {
                    stop_reply = reply;
                    break self.stop(&mut layout_rx).await;
                }
                Step::Timer => self.apply_switcher().await,
                Step::Layout(Some(ask)) => self.change_layout(ask).await,
                // Closed (the recording is stopping) or its sender gone: stop listening.
                Step::Layout(None) => layout_open = false,
            }
        };
        self.end(outcome, stop_reply);
    }

    /// Tells the compositor of a layout change, and the room.
    async fn change_layout(&mut self, ask: LayoutAsk) {
        let message = ToCompositor::Layout { v: CONTROL_VERSION, layout: ask.layout, chosen_ms_ago: ask.chosen_ago.as_millis() as u64 };
        if let Err(e) = self.compositor.send(&message).await {
            tracing::warn!(recording = %self.id, "cannot reach the recorder: {e}");
        }
        // Everyone's picker and the rooms API show it.
        self.badge.layout = ask.layout;
        self.apply_layers().await;
        self.room.set_recording(Some(self.badge.clone()), None);
    }

    /// Asks the compositor to finish, and waits for it. Layout changes are refused from
    /// here on (their sender sees the channel closed, and the API answers 404).
    async fn stop(&mut self, layout_rx: &mut mpsc::UnboundedReceiver<LayoutAsk>) -> Outcome {
        layout_rx.close();
        let started = Instant::now();
        let limit = FINISH_TIMEOUT + Duration::from_millis(self.lag_ms) * 3;
        // All within the limit: a compositor that no longer reads its input is killed,
        // not waited on.
        let outcome = tokio::time::timeout(limit, async {
            // A change asked for just before the stop (the room's picker sends one it was
            // still waiting on when Stop is pressed, and the stop only after its answer)
            // is in the file: the loop may have taken the stop first.
            while let Ok(ask) = layout_rx.try_recv() {
                self.change_layout(ask).await;
            }
            if let Err(e) = self.compositor.send(&ToCompositor::Stop { v: CONTROL_VERSION }).await {
                tracing::warn!(recording = %self.id, "cannot send stop: {e}");
            }
            loop {
                match self.compositor.next().await {
                    Some(FromCompositor::Finished { .. }) => return Outcome::Finished,
                    Some(FromCompositor::Failed { message, .. }) => return Outcome::Failed(message),
                    Some(_) => {}
                    None => {
                        let how = self.compositor.exit_description().await;
                        return Outcome::Failed(format!("the recorder process stopped before finishing the file ({how}); the file up to then is kept and plays"));
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            self.compositor.kill();
            Outcome::Failed(format!("the recorder did not finish within {limit:?} and was stopped; the file up to then plays"))
        });
        tracing::info!(recording = %self.id, stop_ms = started.elapsed().as_millis() as u64, "recording stopped");
        outcome
    }

    fn end(self, outcome: Outcome, reply: Option<StopReply>) {
        let Task { recorder, room, id, audio, video, transport, .. } = self;
        // The consumers and the transport close with their handles.
        drop(audio);
        drop(video);
        drop(transport);
        let error = match outcome {
            Outcome::Finished => None,
            Outcome::Failed(message) => {
                tracing::error!(room = %room.id, recording = %id, "recording failed: {message}");
                // The sidecar's `error` and the banner are read by the room's people.
                let shown = recorder.public(&message);
                recorder.store.mark_failed(&id, &shown);
                Some(format!("The recording stopped: {shown}"))
            }
        };
        recorder.counts.ended(error.is_some());
        recorder.finished(&room.id, &id);
        room.set_recording(None, error);
        let view = recorder.store.read(&id);
        match (&view, reply) {
            (Ok(view), Some(reply)) => {
                let _ = reply.send(view.clone());
            }
            (Err(e), _) => tracing::error!(recording = %id, "cannot read the finished recording: {e}"),
            _ => {}
        }
        if let Ok(v) = view {
            if v.status != Status::Finished {
                tracing::warn!(recording = %id, status = ?v.status, "recording ended");
            }
        }
    }

    /// Returns true when the room is now empty.
    async fn on_event(&mut self, event: RoomEvent) -> bool {
        let now = Instant::now();
        match event {
            RoomEvent::NewProducer(p) => {
                let name = self.room.member_name(&p.participant_id).unwrap_or_default();
                self.add_source(MediaSource { producer_id: p.producer_id, participant_id: p.participant_id, name, kind: p.kind, source: p.source, paused: p.paused }).await;
                self.send_sources().await;
                self.apply_switcher().await;
            }
            RoomEvent::ProducerClosed { producer_id } => {
                self.remove_source(producer_id);
                self.send_sources().await;
            }
            RoomEvent::ProducerPaused { producer_id, .. } | RoomEvent::ProducerResumed { producer_id, .. } => {
                let paused = matches!(event, RoomEvent::ProducerPaused { .. });
                for feed in self.audio.get_mut(&producer_id).into_iter().chain(self.video.get_mut(&producer_id)) {
                    feed.paused = paused;
                }
                for camera in self.cameras.values_mut().filter(|c| c.producer_id == producer_id) {
                    camera.paused = paused;
                }
                self.send_sources().await;
            }
            RoomEvent::ActiveSpeaker { speaker, since, decided } => self.set_speaker(speaker, Some(TurnTimes { since, decided })).await,
            RoomEvent::Speaking(p, on) => {
                if on {
                    self.speaking.insert(p.clone());
                } else {
                    self.speaking.remove(&p);
                }
                self.apply_layers().await;
                self.switcher.set_speaking(now, p, on);
                self.apply_switcher().await;
            }
            RoomEvent::Left(p) => {
                // Forgotten, so that what a recording keeps per participant does not
                // grow with every join of a long meeting (a rejoin is a new session).
                self.order.retain(|o| *o != p);
                if self.speaking.remove(&p) {
                    self.switcher.set_speaking(now, p, false);
                    self.apply_switcher().await;
                }
                return self.room.is_empty();
            }
            RoomEvent::Joined(_) | RoomEvent::Updated(_) | RoomEvent::Levels(_) | RoomEvent::Recording { .. } | RoomEvent::ShareStopped { .. } => {}
        }
        false
    }

    async fn add_source(&mut self, source: MediaSource) {
        if !self.order.contains(&source.participant_id) {
            self.order.push(source.participant_id.clone());
        }
        match source.kind {
            MediaKind::Audio => {
                // A microphone, or a shared screen's sound: both are mixed.
                if let Some(consumer) = self.consume(source.producer_id, false).await {
                    self.audio.insert(source.producer_id, Feed::new(source.participant_id, source.name, consumer, source.paused, source.source));
                }
            }
            MediaKind::Video if source.source == crate::protocol::Source::Screen => {
                // The share is on the recording whoever speaks: it always flows (and is
                // not one of the cameras the switcher points at the speaker).
                if let Some(consumer) = self.consume(source.producer_id, false).await {
                    let _ = consumer.request_key_frame().await;
                    self.video.insert(source.producer_id, Feed::new(source.participant_id, source.name, consumer, source.paused, source.source));
                }
            }
            MediaKind::Video => {
                self.cameras.insert(source.participant_id.clone(), source.clone());
                if self.mode.consumer_per_camera() {
                    // Paused until the switcher wants it.
                    if let Some(consumer) = self.consume(source.producer_id, true).await {
                        self.switcher.set_camera(source.participant_id.clone(), Some(source.producer_id));
                        self.video.insert(source.producer_id, Feed::new(source.participant_id, source.name, consumer, source.paused, source.source));
                    }
                } else if self.speaker.as_ref() == Some(&source.participant_id) {
                    self.retarget().await;
                }
            }
        }
    }

    fn remove_source(&mut self, producer_id: ProducerId) {
        self.audio.remove(&producer_id);
        if let Some(feed) = self.video.remove(&producer_id).filter(|f| f.source != crate::protocol::Source::Screen) {
            self.switcher.set_camera(feed.participant_id, None);
        }
        self.cameras.retain(|_, c| c.producer_id != producer_id);
    }

    /// After lost events: the room's producers now, consumed or dropped to match.
    async fn resync(&mut self, sources: Vec<MediaSource>) {
        let screens = self.video.iter().filter(|(_, f)| f.source == crate::protocol::Source::Screen).map(|(id, _)| id);
        let known: Vec<ProducerId> = self.audio.keys().chain(self.cameras.values().map(|c| &c.producer_id)).chain(screens).copied().collect();
        for gone in known.iter().filter(|k| !sources.iter().any(|s| s.producer_id == **k)) {
            self.remove_source(*gone);
        }
        for source in sources {
            if !known.contains(&source.producer_id) {
                self.add_source(source).await;
            }
        }
        self.send_sources().await;
    }

    async fn consume(&self, producer_id: ProducerId, paused: bool) -> Option<Consumer> {
        let mut options = ConsumerOptions::new(producer_id, self.caps.clone());
        options.paused = paused;
        match self.transport.consume(options).await {
            Ok(c) => Some(c),
            Err(e) => {
                // The producer closed meanwhile (its owner left): nothing to record.
                tracing::debug!(recording = %self.id, "cannot consume {producer_id}: {e}");
                None
            }
        }
    }

    /// Points each simulcast camera at the smallest layer that fills its tile in the
    /// recording's layout now: the speaker's (and anyone speaking, who may be cut to
    /// at their first word) at the stage's width; the others at their tiles' (in the
    /// speaker layout, where they are not drawn, at half the stage's, so that a cut to
    /// them starts sharp enough until their larger layer's keyframe comes). mediasoup
    /// switches at a keyframe (it asks for one), so the compositor's stream changes
    /// size cleanly.
    async fn apply_layers(&mut self) {
        use crate::protocol::Source;
        let share = self.video.values().any(|f| f.source == Source::Screen && !f.paused);
        let present: HashSet<&ParticipantId> = self.audio.values().chain(self.video.values()).map(|f| &f.participant_id).collect();
        let (width, height) = self.frame;
        let widths = compositor::picture::layout::camera_widths(self.badge.layout, present.len(), share, width, height);
        // Not the cameras of someone leaving (their producers are closing).
        let room = &self.room;
        for feed in self.video.values_mut().filter(|f| f.source != Source::Screen && !f.consumer.closed() && room.member_name(&f.participant_id).is_some()) {
            let Some((count, current)) = feed.layers else { continue };
            let on_stage = self.speaker.as_ref() == Some(&feed.participant_id) || self.speaking.contains(&feed.participant_id);
            let need = match (on_stage, widths.others) {
                // Under a share, the speaker is the small picture; but at least half the
                // frame's width: the share shows only once its first picture is decoded
                // (or never, if it cannot be), and until then the speaker fills the frame.
                (true, _) if share => widths.speaker.max(width / 2),
                (true, _) => widths.speaker,
                // Not drawn (the speaker layout): kept at half the stage's width.
                (false, 0) => widths.speaker / 2,
                (false, tile) => tile,
            };
            let wanted = crate::simulcast::for_width(need, count);
            if wanted != current {
                tracing::debug!(recording = %self.id, participant = %feed.participant_id, layer = wanted, "simulcast layer");
                match feed.consumer.set_preferred_layers(ConsumerLayers { spatial_layer: wanted, temporal_layer: None }).await {
                    // Noted only once done: a failed request is tried again at the next change.
                    Ok(()) => feed.layers = Some((count, wanted)),
                    Err(e) => tracing::debug!(recording = %self.id, "cannot set the preferred layer: {e}"),
                }
            }
        }
    }

    async fn send_sources(&mut self) {
        self.apply_layers().await;
        let mut sources: Vec<ctl::Source> = self.audio.values().chain(self.video.values()).filter_map(Feed::source).collect();
        let rank = |p: &str| self.order.iter().position(|o| o == p).unwrap_or(usize::MAX);
        sources.sort_by_key(|s| (rank(&s.participant_id), s.kind == ctl::MediaKind::Video));
        if let Err(e) = self.compositor.send(&ToCompositor::Sources { v: CONTROL_VERSION, sources }).await {
            tracing::warn!(recording = %self.id, "cannot reach the recorder: {e}");
        }
    }

    /// The stage's new holder; `turn`: where the turn began and when it was decided, as
    /// the room's detector said (`None`: no decision to go by, as at the start: now).
    async fn set_speaker(&mut self, speaker: Option<ParticipantId>, turn: Option<TurnTimes>) {
        if self.speaker == speaker {
            return;
        }
        self.speaker = speaker.clone();
        // The switch first, so that the speaker's video is on its way when the
        // compositor hears of them; then their layer (already the top one if they were
        // speaking).
        self.switcher.set_speaker(Instant::now(), speaker.clone());
        if self.mode == SwitchMode::Recreate {
            self.retarget().await;
        } else {
            self.apply_switcher().await;
        }
        self.apply_layers().await;
        let TurnTimes { since, decided } = turn.unwrap_or_else(|| {
            let now = crate::room::unix_ms_now();
            TurnTimes { since: now, decided: now }
        });
        let message = ToCompositor::Speaker { v: CONTROL_VERSION, participant_id: speaker, since, decided };
        if let Err(e) = self.compositor.send(&message).await {
            tracing::warn!(recording = %self.id, "cannot reach the recorder: {e}");
        }
    }

    async fn apply_switcher(&mut self) {
        if !self.mode.consumer_per_camera() {
            return;
        }
        for action in self.switcher.poll(Instant::now()) {
            let (producer_id, resume) = match action {
                Action::Resume(p) => (p, true),
                Action::Pause(p) => (p, false),
            };
            let Some(feed) = self.video.get(&producer_id) else { continue };
            let result = if resume {
                // Resuming asks for a keyframe already; asking too costs nothing.
                let r = feed.consumer.resume().await;
                let _ = feed.consumer.request_key_frame().await;
                r
            } else {
                feed.consumer.pause().await
            };
            if let Err(e) = result {
                tracing::debug!(recording = %self.id, "switching {producer_id}: {e}");
            }
        }
    }

    /// The re-creating switcher: one video consumer, on the speaker's camera.
    async fn retarget(&mut self) {
        let want = self.speaker.as_ref().and_then(|p| self.cameras.get(p)).cloned();
        let camera_feed = self.video.iter().find(|(_, f)| f.source != crate::protocol::Source::Screen).map(|(id, _)| *id);
        if want.as_ref().map(|c| c.producer_id) == camera_feed {
            return;
        }
        // Screens stay: only the camera is re-targeted.
        self.video.retain(|_, f| f.source == crate::protocol::Source::Screen);
        if let Some(camera) = want {
            // Paused until the compositor knows its SSRC, so its keyframe is not dropped.
            if let Some(consumer) = self.consume(camera.producer_id, true).await {
                self.video.insert(camera.producer_id, Feed::new(camera.participant_id, camera.name, consumer, camera.paused, camera.source));
                self.send_sources().await;
                let feed = &self.video[&camera.producer_id];
                let _ = feed.consumer.resume().await;
                let _ = feed.consumer.request_key_frame().await;
                return;
            }
        }
        self.send_sources().await;
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn recorder_keeping(retention: retention::Retention) -> (Arc<Recorder>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("podium-sweep-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let recorder = Recorder::new(RecorderConfig {
            dir: dir.clone(),
            program: "podium".into(),
            video: VideoSettings { width: 640, height: 360, fps: 15, preset: "ultrafast".into(), coder: Default::default() },
            audio: AudioChannels::default(),
            lookahead: compositor::engine::DEFAULT_LOOKAHEAD,
            switch: switcher::SwitchMode::EveryCamera,
            bind: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            max_running: 4,
            admission: admission::Settings::OFF,
            min_free_bytes: 0,
            retention: Some(retention),
        });
        (recorder, dir)
    }

    #[test]
    fn the_retention_sweep_deletes_only_recordings_ended_past_it() {
        let (recorder, dir) = recorder_keeping(retention::Retention::days(7));
        // Written after the recorder started (its crash recovery has run): a sidecar
        // saying `recording` is one being written now, whatever its date says.
        let write = |id: &str, status: Status, started_at: &str| {
            let id = RecordingId::parse(id).unwrap();
            store::tests::sidecar(id.as_str(), status, started_at).write(&recorder.store.sidecar_path(&id)).unwrap();
            std::fs::write(recorder.store.video_path(&id), b"mp4").unwrap();
        };
        write("20261101-100000-oldfin", Status::Finished, "2026-11-01T10:00:00.000Z");
        write("20261101-100000-oldbad", Status::Failed, "2026-11-01T10:00:00.000Z");
        write("20261101-100000-oldint", Status::Interrupted, "2026-11-01T10:00:00+02:00");
        write("20261101-100000-oldrec", Status::Recording, "2026-11-01T10:00:00.000Z");
        write("20261130-100000-border", Status::Finished, "2026-11-30T11:59:52.000Z");
        write("20261101-100000-nodate", Status::Finished, "1 Nov 2026");
        let now = datetime!(2026-12-07 12:00 UTC);
        let mut deleted: Vec<String> = recorder.sweep_expired(now).iter().map(|id| id.to_string()).collect();
        deleted.sort();
        assert_eq!(deleted, ["20261101-100000-oldbad", "20261101-100000-oldfin", "20261101-100000-oldint"]);
        let left: Vec<String> = recorder.store.list().into_iter().map(|v| v.id.to_string()).collect();
        // Ended at 12:00:01 on 30 Nov (9 s long): kept until 12:00:01 on 7 Dec.
        assert_eq!(left, ["20261130-100000-border", "20261101-100000-oldrec", "20261101-100000-nodate"]);
        assert!(!dir.join("20261101-100000-oldfin.mp4").exists(), "the video goes with it");
        // A share link asked for 30 days from now ends with the recording, 1 s from now.
        let now_unix = now.unix_timestamp() as u64;
        let ends = |id: &str, now: u64, asked: u64| {
            let id = RecordingId::parse(id).unwrap();
            recorder.share_ends(&id, &recorder.store.read_sidecar(&id).unwrap(), now, asked)
        };
        assert_eq!(ends("20261130-100000-border", now_unix, now_unix + 30 * 86_400).unwrap(), now_unix + 1);
        assert_eq!(ends("20261130-100000-border", now_unix, now_unix + 1).unwrap(), now_unix + 1);
        let gone = ends("20261130-100000-border", now_unix + 1, now_unix + 30 * 86_400).unwrap_err();
        assert!(matches!(gone, RecordError::PastRetention(_)), "past its retention, before the sweep: no link ({gone})");
        assert_eq!(ends("20261101-100000-nodate", now_unix, now_unix + 30 * 86_400).unwrap(), now_unix + 30 * 86_400, "what is never deleted is shared as asked");
        // Still recording, started a month ago (its sidecar says 9 s so far): it ends now
        // or later, so a link may last the retention from now.
        assert_eq!(ends("20261101-100000-oldrec", now_unix, now_unix + 30 * 86_400).unwrap(), now_unix + 7 * 86_400);
        let a_second_later = recorder.sweep_expired(now + time::Duration::seconds(1));
        assert_eq!(a_second_later.iter().map(|id| id.to_string()).collect::<Vec<_>>(), ["20261130-100000-border"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}

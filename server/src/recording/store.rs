//! The recordings directory: `ID.mp4` and its sidecar `ID.json` per recording. Paths
//! are made from validated [`RecordingId`]s only, never from what a client sent.
//!
//! At start the server looks for recordings a crash cut off (their sidecar still says
//! `recording`, and no compositor runs for them) and marks them `interrupted`, with
//! their real duration and chapters, so that they list and play like the others.
use super::redact::Redactor;
use super::listing::{ListQuery, Page};
use super::retention::Retention;
use super::RecordingId;
use compositor::output::sidecar::{LayoutChange, Participant, QualityStep, ScreenShare, Sidecar, SidecarError, Status, TimelineEntry};
use compositor::picture::layout::LayoutKind;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A recording as the API shows it (docs/api.md).
#[derive(Debug, Clone, Serialize)]
pub struct RecordingView {
    pub id: RecordingId,
    pub room: String,
    pub status: Status,
    pub started_at: String,
    pub duration_ms: u64,
    pub participants: Vec<Participant>,
    pub timeline: Vec<TimelineEntry>,
    pub size_bytes: u64,
    /// The picture's size: the server's `--recording-size`, or a smaller one asked at
    /// the start.
    pub width: u32,
    pub height: u32,
    /// Its layout now (or at its end): the last of `layout_changes`, else the one it
    /// started with.
    pub layout: LayoutKind,
    /// Every change of layout after the start, in the file's time.
    pub layout_changes: Vec<LayoutChange>,
    /// The stretches that show someone's shared screen (`end_ms` null while it is on).
    pub screen_shares: Vec<ScreenShare>,
    /// The recorder's steps down (and back up) to keep up on a busy machine, in the
    /// file's time; empty when it never had to.
    pub quality_steps: Vec<QualityStep>,
    /// When the server deletes it (`--recording-retention-days`, from its end; RFC 3339,
    /// UTC); null when recordings are kept until someone deletes them, or while it runs.
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The highlight reel's state (filled in by the API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highlights: Option<super::highlights::ReelStatus>,
    /// Its live share links (filled in by the API for those who may share it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<Vec<super::shares::Share>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no recording {0}")]
    NotFound(RecordingId),
    #[error("recording {id} cannot be read: {message}")]
    Unreadable { id: RecordingId, message: String },
}

pub struct Store {
    dir: PathBuf,
    /// Takes this server's paths out of the failure texts clients read.
    redactor: Redactor,
    /// How long recordings are kept after they end, if not until deleted.
    retention: Option<Retention>,
    /// What a listing sorts and searches by (each recording's view without its timeline
    /// and other lists: [`index_entry`]), by the sidecar it was read from. A listing
    /// orders every recording, and parsing 2000 hour-long sidecars (110 MB of JSON, a
    /// loudness per second) took 0.65 s a time; whole views kept 65 MB for them, where
    /// these keep about 2 MB (docs/benchmarks.md). A page reads its own sidecars again.
    listed: Mutex<Listed>,
}

/// The listing's index, and whether the folder has changed since it was read.
#[derive(Default)]
struct Listed {
    views: HashMap<RecordingId, (FileStamp, RecordingView)>,
    /// The folder's modification time when the views were read, once it is far enough in
    /// the past to tell a later change ([`FOLDER_CLOCK_TICK`]). Podium writes every
    /// sidecar beside and renames it in, and deletes whole files: each changes the
    /// folder's time. While it stands still, a listing skips reading the folder and a
    /// stat of every sidecar: that was work in the size of the whole server's library,
    /// for every request, under this lock (a host's loop of `?limit=1` slowed everyone's
    /// library to a second at 5000 recordings, and timed how many other rooms hold).
    /// A sidecar edited in place by hand is found at the folder's next change; its
    /// page's rows are read whole, as they are, either way.
    unchanged_since: Option<SystemTime>,
}

/// Filesystems stamp times from a coarse clock: a tick of a few ms on ext4 and xfs, a
/// whole second on ext4 with small inodes and ext3, two on FAT. A change in the same tick
/// as the folder's last one leaves its time as it was. A time older than this, when the
/// folder is read, is one a later change cannot repeat. (A network filesystem stamps by
/// its server's clock: one skewed far behind with whole-second stamps could still hide
/// a change until the next.)
const FOLDER_CLOCK_TICK: Duration = Duration::from_millis(2100);

/// Which version of a sidecar is on disk. Podium replaces sidecars whole (written beside,
/// then renamed: a new inode). A file edited in place by hand changes its length or its
/// time; two edits of the same length within one tick of the filesystem's clock would
/// look like one, and the next write shows the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp { inode: meta.ino(), len: meta.len(), modified: meta.modified().ok() })
    }
}

impl Store {
    pub fn new(dir: PathBuf) -> Self {
        Self { redactor: Redactor::new(&dir), dir, retention: None, listed: Mutex::default() }
    }

    /// Recordings deleted `retention` after they end ([`super::retention`]): their
    /// views say when.
    pub fn with_retention(self, retention: Option<Retention>) -> Self {
        Self { retention, ..self }
    }

    pub fn retention(&self) -> Option<Retention> {
        self.retention
    }

    /// `message` as a client may read it: [`super::redact`].
    pub fn shown(&self, message: &str) -> String {
        self.redactor.shown(message)
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn video_path(&self, id: &RecordingId) -> PathBuf {
        self.dir.join(format!("{id}.mp4"))
    }

    pub fn sidecar_path(&self, id: &RecordingId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    pub fn reel_files(&self, id: &RecordingId) -> super::highlights::ReelFiles {
        super::highlights::ReelFiles { recording: self.video_path(id), reel: self.dir.join(format!("{id}.highlights.mp4")) }
    }

    pub fn read_sidecar(&self, id: &RecordingId) -> Result<Sidecar, StoreError> {
        let path = self.sidecar_path(id);
        let sidecar = match Sidecar::read(&path) {
            Ok(s) => s,
            Err(SidecarError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::NotFound(id.clone())),
            Err(e) => {
                // The path is for the operator's log; the API's answer never names it.
                tracing::warn!(recording = %id, "{e}");
                let message = match e {
                    SidecarError::Parse { source, .. } => format!("{id}.json is not a valid recording sidecar ({source}); the server log has its folder"),
                    SidecarError::Read { source, .. } | SidecarError::Write { source, .. } => format!("its sidecar {id}.json cannot be read ({source}); the server log has its folder"),
                };
                return Err(StoreError::Unreadable { id: id.clone(), message });
            }
        };
        if sidecar.id != id.as_str() {
            tracing::warn!(recording = %id, "{} names another recording ({})", path.display(), sidecar.id);
            return Err(StoreError::Unreadable { id: id.clone(), message: format!("its sidecar names another recording ({})", sidecar.id) });
        }
        Ok(sidecar)
    }

    pub fn read(&self, id: &RecordingId) -> Result<RecordingView, StoreError> {
        let sidecar = self.read_sidecar(id)?;
        Ok(self.view_of(id, sidecar))
    }

    /// What the API shows of a recording whose sidecar was read.
    pub fn view_of(&self, id: &RecordingId, sidecar: Sidecar) -> RecordingView {
        let size_bytes = std::fs::metadata(self.video_path(id)).map_or(0, |m| m.len());
        view(id.clone(), sidecar, size_bytes, &self.redactor, self.retention)
    }

    /// Removes a recording's files: its reel, its video, then its sidecar (last, so a
    /// recording that could not be removed whole still lists).
    pub fn delete(&self, id: &RecordingId) -> Result<(), StoreError> {
        if !self.sidecar_path(id).exists() {
            return Err(StoreError::NotFound(id.clone()));
        }
        let reel = self.reel_files(id);
        let shares = self.dir.join(format!("{id}.shares.json"));
        for path in [shares, reel.clips(), reel.reel, self.video_path(id), self.sidecar_path(id)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(recording = %id, "cannot delete {}: {e}", path.display());
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    return Err(StoreError::Unreadable { id: id.clone(), message: format!("cannot delete its file {name} ({e})") });
                }
            }
        }
        tracing::info!(recording = %id, "recording deleted");
        Ok(())
    }

    /// Every recording on disk, newest first; unreadable ones are left out (logged once,
    /// by `read_sidecar`, which names the file).
    pub fn list(&self) -> Vec<RecordingView> {
        self.page(None, &ListQuery::default()).recordings
    }

    /// The page `query` asks for of the recordings in `room` (all: `None`): only that
    /// page is copied out ([`super::listing`]).
    pub fn page(&self, room: Option<&str>, query: &ListQuery) -> Page {
        let mut page = {
            let mut listed = self.listed.lock();
            self.read_again(&mut listed);
            Page::of(listed.views.values().map(|(_, v)| v).filter(|v| room.is_none_or(|room| v.room == room)), query)
        };
        // The page's own views, whole and as they are now (a running recording's grow);
        // one deleted since it was ordered is left out.
        page.recordings = page.recordings.iter().filter_map(|entry| self.read(&entry.id).ok()).collect();
        page
    }

    /// Reads what a listing orders by, for every recording on disk, and says how many:
    /// at the server's start, so that its first visitor does not wait for that.
    pub fn index(&self) -> usize {
        let mut listed = self.listed.lock();
        self.read_again(&mut listed);
        listed.views.len()
    }

    /// The room of a recording the index holds, without reading anything (`None`: not
    /// indexed yet). A recording's room never changes, so an index from before is still
    /// right about it. It waits for a listing reading the folder (not `try_lock`: a host
    /// keeping the lock busy with listings would have sent another room's recording
    /// through the slow parse again, and timed it).
    pub fn indexed_room(&self, id: &RecordingId) -> Option<String> {
        self.listed.lock().views.get(id).map(|(_, v)| v.room.clone())
    }

    /// Brings the kept views up to the disk: reads what is new or changed, drops what
    /// is gone. Called with the views locked: one listing at a time, and the next one
    /// finds what this one read.
    fn read_again(&self, listed: &mut Listed) {
        // Both before the folder is read: a change while it is read leaves a newer time.
        let now = SystemTime::now();
        let folder_time = std::fs::metadata(&self.dir).and_then(|m| m.modified()).ok();
        if folder_time.is_some() && folder_time == listed.unchanged_since {
            return;
        }
        let mut now_listed = HashMap::new();
        // Whether every sidecar was read: a reading that failed (a full file table, a
        // network filesystem's hiccup) must be tried again by the next listing, not kept
        // until the folder changes. (A damaged sidecar fails every time: while one lies
        // there, each listing reads the folder, as before the folder's time was used.)
        let (ids, mut complete) = self.ids();
        for id in ids {
            // Stamped before it is read: a sidecar replaced meanwhile is read again next time.
            let Some(stamp) = FileStamp::of(&self.sidecar_path(&id)) else {
                complete = false;
                continue;
            };
            let view = match listed.views.remove(&id) {
                Some((was, view)) if was == stamp => view,
                _ => match self.read(&id) {
                    Ok(view) => index_entry(view),
                    Err(_) => {
                        complete = false;
                        continue;
                    }
                },
            };
            now_listed.insert(id, (stamp, view));
        }
        // What is gone from the disk is gone from here too.
        listed.views = now_listed;
        listed.unchanged_since = folder_time.filter(|&t| complete && now.duration_since(t).is_ok_and(|age| age > FOLDER_CLOCK_TICK));
    }

    /// The ids of the sidecars in the directory (other files are not ours: ignored), and
    /// whether the whole directory was read.
    fn ids(&self) -> (Vec<RecordingId>, bool) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return (Vec::new(), false) };
        let mut whole = true;
        let ids = entries
            .filter_map(|e| {
                let Ok(e) = e else {
                    whole = false;
                    return None;
                };
                let name = e.file_name().into_string().ok()?;
                RecordingId::parse(name.strip_suffix(".json")?).ok()
            })
            .collect();
        (ids, whole)
    }

    /// Rewrites a recording's sidecar as failed, with why (the compositor died and
    /// cannot say so itself).
    pub fn mark_failed(&self, id: &RecordingId, message: &str) {
        let path = self.sidecar_path(id);
        match Sidecar::read(&path) {
            Ok(mut sidecar) => {
                sidecar.status = Status::Failed;
                sidecar.error = Some(message.to_string());
                let video = self.video_path(id);
                trim_cut_off(id, &video);
                if let Ok(ms) = compositor::review::probe::duration_ms(&video) {
                    sidecar.duration_ms = ms;
                }
                settle_timeline(&mut sidecar);
                let chapters: Vec<(u64, &str)> = sidecar.timeline.iter().map(|t| (t.start_ms, t.name.as_str())).collect();
                if let Err(e) = compositor::output::chapters::patch_file(&video, &chapters) {
                    tracing::warn!(recording = %id, "cannot update the chapters: {e}");
                }
                if let Err(e) = sidecar.write(&path) {
                    tracing::error!(recording = %id, "cannot mark the recording failed: {e}");
                }
            }
            Err(e) => tracing::error!(recording = %id, "cannot mark the recording failed: {e}"),
        }
    }

    /// Marks every recording still saying `recording` as `interrupted` (call at start,
    /// before any compositor runs). Returns how many were found.
    pub fn recover_interrupted(&self) -> usize {
        let mut found = 0;
        for id in self.ids().0 {
            let path = self.sidecar_path(&id);
            let _ = std::fs::remove_file(path.with_extension("json.tmp"));
            let Ok(mut sidecar) = Sidecar::read(&path) else { continue };
            if sidecar.status != Status::Recording {
                continue;
            }
            found += 1;
            let video = self.video_path(&id);
            trim_cut_off(&id, &video);
            match compositor::review::probe::duration_ms(&video) {
                Ok(ms) => sidecar.duration_ms = ms,
                Err(e) => tracing::warn!(recording = %id, "cannot read the cut-off file: {e}"),
            }
            settle_timeline(&mut sidecar);
            let chapters: Vec<(u64, &str)> = sidecar.timeline.iter().map(|t| (t.start_ms, t.name.as_str())).collect();
            if let Err(e) = compositor::output::chapters::patch_file(&video, &chapters) {
                tracing::warn!(recording = %id, "cannot update the chapters: {e}");
            }
            sidecar.status = Status::Interrupted;
            sidecar.error = Some(format!("cut off by a crash after {}; the file plays up to there", human_duration(sidecar.duration_ms)));
            match sidecar.write(&path) {
                Ok(()) => tracing::warn!(recording = %id, duration_ms = sidecar.duration_ms, "found a recording cut off by a crash: marked interrupted"),
                Err(e) => tracing::error!(recording = %id, "cannot mark the recording interrupted: {e}"),
            }
        }
        found
    }
}

/// A file whose compositor died part-way through a fragment's header would not open at
/// all: cut back to its last whole fragment ([`compositor::output::mp4::trim_partial_box`]).
fn trim_cut_off(id: &RecordingId, video: &Path) {
    match compositor::output::mp4::trim_partial_box(video) {
        Ok(0) => {}
        Ok(cut) => tracing::warn!(recording = %id, cut, "the file ended part-way through a fragment's header: cut back to its last whole fragment"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(recording = %id, "cannot check the end of the cut-off file: {e}"),
    }
}

/// What the listing keeps of a view: what it orders and searches by ([`super::listing`]),
/// not the lists that grow with a recording's length.
fn index_entry(view: RecordingView) -> RecordingView {
    RecordingView { timeline: Vec::new(), layout_changes: Vec::new(), screen_shares: Vec::new(), quality_steps: Vec::new(), ..view }
}

fn view(id: RecordingId, s: Sidecar, size_bytes: u64, redactor: &Redactor, retention: Option<Retention>) -> RecordingView {
    let layout = s.layout_changes.last().map_or(s.layout, |c| c.layout);
    // A running recording has no end yet to age from.
    let expires_at = retention.filter(|_| s.status != Status::Recording).and_then(|r| r.expires_at(&s.started_at, s.duration_ms)).map(super::retention::format);
    RecordingView {
        id,
        room: s.room,
        status: s.status,
        started_at: s.started_at,
        duration_ms: s.duration_ms,
        participants: people(s.participants),
        timeline: s.timeline,
        size_bytes,
        width: s.width,
        height: s.height,
        layout,
        layout_changes: s.layout_changes,
        screen_shares: s.screen_shares,
        quality_steps: s.quality_steps,
        expires_at,
        // The compositor writes its own failures into the sidecar, and an older server
        // may have kept a path there: clients see none.
        error: s.error.map(|e| redactor.shown(&e)),
        highlights: None,
        shares: None,
    }
}

/// Each person once, in the order they first joined. The sidecar lists every session
/// (the compositor keeps its tiles in join order by them), so someone whose connection
/// dropped and came back would be listed twice on the review page and in the library.
pub(super) fn people(sessions: Vec<Participant>) -> Vec<Participant> {
    let mut seen = std::collections::HashSet::new();
    sessions.into_iter().filter(|p| seen.insert(p.name.clone())).collect()
}

/// Keeps the timeline within what the file holds; the last turn ran until the cut.
fn settle_timeline(sidecar: &mut Sidecar) {
    let end = sidecar.duration_ms;
    sidecar.timeline.retain(|t| t.start_ms < end);
    // A change the file never reached (rendered after its last fragment) did not happen.
    sidecar.layout_changes.retain(|c| c.at_ms < end);
    for t in &mut sidecar.timeline {
        t.end_ms = t.end_ms.min(end);
    }
    sidecar.quality_steps.retain(|q| q.at_ms < end);
    // A share still on when the file was cut off ran until the cut.
    sidecar.screen_shares.retain(|s| s.start_ms < end);
    for share in &mut sidecar.screen_shares {
        share.end_ms = Some(share.end_ms.map_or(end, |e| e.min(end)));
    }
    if let Some(last) = sidecar.timeline.last_mut() {
        last.end_ms = end;
    }
}

/// "1 min 05 s", "42 s".
pub fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, s) => format!("{h} h {m:02} min {s:02} s"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sidecar(id: &str, status: Status, started_at: &str) -> Sidecar {
        Sidecar {
            version: 1,
            id: id.into(),
            room: "standup".into(),
            status,
            started_at: started_at.into(),
            duration_ms: 9000,
            participants: vec![],
            timeline: vec![
                TimelineEntry { start_ms: 100, end_ms: 5000, participant_id: "a".into(), name: "Ada".into() },
                TimelineEntry { start_ms: 5000, end_ms: 9000, participant_id: "b".into(), name: "Bob".into() },
            ],
            error: None,
            width: 1280,
            height: 720,
            fps: 30,
            max_lag_ms: 0,
            loudness_db: Vec::new(),
            voices: Vec::new(),
            layout: compositor::picture::layout::LayoutKind::DEFAULT,
            layout_changes: Vec::new(),
            screen_shares: Vec::new(),
            quality_steps: Vec::new(),
        }
    }

    fn store() -> (Store, PathBuf) {
        let dir = std::env::temp_dir().join(format!("podium-store-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        (Store::new(dir.clone()), dir)
    }

    #[test]
    fn lists_newest_first_and_ignores_what_is_not_a_recording() {
        let (store, dir) = store();
        let old = RecordingId::parse("20261201-090000-aaaaaa").unwrap();
        let new = RecordingId::parse("20261202-090000-bbbbbb").unwrap();
        sidecar(old.as_str(), Status::Finished, "2026-12-01T09:00:00.000Z").write(&store.sidecar_path(&old)).unwrap();
        sidecar(new.as_str(), Status::Finished, "2026-12-02T09:00:00.000Z").write(&store.sidecar_path(&new)).unwrap();
        std::fs::write(dir.join("notes.json"), "{}").unwrap();
        std::fs::write(dir.join("20261203-090000-cccccc.json"), "{ not json").unwrap();
        let ids: Vec<String> = store.list().into_iter().map(|v| v.id.to_string()).collect();
        assert_eq!(ids, [new.to_string(), old.to_string()]);
        let bad = RecordingId::parse("20261203-090000-cccccc").unwrap();
        assert!(matches!(store.read(&bad), Err(StoreError::Unreadable { .. })));
        let missing = RecordingId::parse("20261204-090000-dddddd").unwrap();
        assert!(matches!(store.read(&missing), Err(StoreError::NotFound(_))));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_listing_reads_again_what_changed_since_the_last_and_only_that_is_new() {
        let (store, dir) = store();
        let a = RecordingId::parse("20261201-090000-aaaaaa").unwrap();
        let b = RecordingId::parse("20261202-090000-bbbbbb").unwrap();
        sidecar(a.as_str(), Status::Recording, "2026-12-01T09:00:00.000Z").write(&store.sidecar_path(&a)).unwrap();
        sidecar(b.as_str(), Status::Finished, "2026-12-02T09:00:00.000Z").write(&store.sidecar_path(&b)).unwrap();
        std::fs::write(store.video_path(&a), b"1234").unwrap();
        let status = |list: &[RecordingView], id: &RecordingId| list.iter().find(|v| &v.id == id).map(|v| (v.status, v.size_bytes, v.duration_ms));
        let first = store.list();
        assert_eq!(status(&first, &a), Some((Status::Recording, 4, 9000)));
        assert!(first.iter().all(|v| v.timeline.len() == 2), "the views listed are whole");
        assert!(store.listed.lock().views.values().all(|(_, v)| v.timeline.is_empty()), "what is kept to order them is not");
        // The video grows; the sidecar is written as the compositor does (a new file).
        std::fs::write(store.video_path(&a), b"12345678").unwrap();
        assert_eq!(status(&store.list(), &a), Some((Status::Recording, 8, 9000)), "the video's size, read each time");
        let mut done = sidecar(a.as_str(), Status::Finished, "2026-12-01T09:00:00.000Z");
        done.duration_ms = 12_000;
        done.write(&store.sidecar_path(&a)).unwrap();
        assert_eq!(status(&store.list(), &a), Some((Status::Finished, 8, 12_000)), "a sidecar replaced is read again");
        // Written in place by hand (the same file): its length or time tells.
        let mut text = std::fs::read_to_string(store.sidecar_path(&b)).unwrap();
        text = text.replace("\"finished\"", "\"failed\"");
        std::fs::write(store.sidecar_path(&b), text).unwrap();
        assert_eq!(status(&store.list(), &b).map(|s| s.0), Some(Status::Failed));
        std::fs::remove_file(store.sidecar_path(&b)).unwrap();
        let ids: Vec<RecordingId> = store.list().into_iter().map(|v| v.id).collect();
        assert_eq!(ids, std::slice::from_ref(&a), "gone from the disk, gone from the list");
        assert_eq!(store.listed.lock().views.len(), 1, "and from what the next listing starts from");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_listing_reads_the_folder_again_only_once_it_changed() {
        let (store, dir) = store();
        let write = |id: &str, day: u32| {
            sidecar(id, Status::Finished, &format!("2026-12-{day:02}T09:00:00.000Z")).write(&store.sidecar_path(&RecordingId::parse(id).unwrap())).unwrap();
        };
        let in_room = |text: &str| store.page(None, &ListQuery::parse(Some(text), None, None).unwrap()).recordings.len();
        write("20261201-090000-aaaaaa", 1);
        assert_eq!(store.list().len(), 1);
        // Renamed in right after that listing, within the folder's clock tick: found.
        write("20261202-090000-bbbbbb", 2);
        assert_eq!(store.list().len(), 2, "a sidecar renamed in within the same tick");
        std::thread::sleep(FOLDER_CLOCK_TICK + Duration::from_millis(50));
        assert_eq!(store.list().len(), 2);
        assert!(store.listed.lock().unchanged_since.is_some(), "a folder time old enough to tell a change by");
        // Edited in place by hand (the folder's time stays): the index is not read again
        // while nothing is added, replaced or removed…
        let b = store.sidecar_path(&RecordingId::parse("20261202-090000-bbbbbb").unwrap());
        std::fs::write(&b, std::fs::read_to_string(&b).unwrap().replace("\"standup\"", "\"retro\"")).unwrap();
        assert_eq!(in_room("retro"), 0, "the folder did not change: it was not read again");
        // … and is, at the next change.
        write("20261203-090000-cccccc", 3);
        assert_eq!(in_room("retro"), 1);
        std::fs::remove_file(store.sidecar_path(&RecordingId::parse("20261201-090000-aaaaaa").unwrap())).unwrap();
        assert_eq!(store.list().iter().map(|v| v.id.to_string()).collect::<Vec<_>>(), ["20261203-090000-cccccc", "20261202-090000-bbbbbb"]);
        // A sidecar that cannot be read: the next listing tries the folder again.
        std::fs::write(dir.join("20261204-090000-dddddd.json"), "{ not json").unwrap();
        std::thread::sleep(FOLDER_CLOCK_TICK + Duration::from_millis(50));
        assert_eq!(store.list().len(), 2);
        assert!(store.listed.lock().unchanged_since.is_none(), "a folder not read whole is read again");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_recording_cut_off_by_a_crash_is_marked_interrupted() {
        let (store, dir) = store();
        let id = RecordingId::parse("20261202-100000-cutoff").unwrap();
        sidecar(id.as_str(), Status::Recording, "2026-12-02T10:00:00.000Z").write(&store.sidecar_path(&id)).unwrap();
        let done = RecordingId::parse("20261202-110000-finish").unwrap();
        sidecar(done.as_str(), Status::Finished, "2026-12-02T11:00:00.000Z").write(&store.sidecar_path(&done)).unwrap();
        // (No mp4: its duration stays the sidecar's last word.)
        assert_eq!(store.recover_interrupted(), 1);
        let v = store.read(&id).unwrap();
        assert_eq!(v.status, Status::Interrupted);
        assert!(v.error.unwrap().contains("cut off"));
        assert_eq!(store.read(&done).unwrap().status, Status::Finished);
        assert_eq!(store.recover_interrupted(), 0, "only once");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn someone_who_rejoined_is_listed_once() {
        let (store, dir) = store();
        let id = RecordingId::parse("20261202-120000-rejoin").unwrap();
        let mut s = sidecar(id.as_str(), Status::Finished, "2026-12-02T12:00:00.000Z");
        let session = |id: &str, name: &str| compositor::output::sidecar::Participant { participant_id: id.into(), name: name.into() };
        s.participants = vec![session("a1", "Ada"), session("b1", "Bob"), session("a2", "Ada"), session("a3", "Ada")];
        s.write(&store.sidecar_path(&id)).unwrap();
        let names: Vec<String> = store.read(&id).unwrap().participants.into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["Ada", "Bob"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn durations_read_like_people_say_them() {
        assert_eq!(human_duration(42_500), "42 s");
        assert_eq!(human_duration(65_000), "1 min 05 s");
        assert_eq!(human_duration(3_725_000), "1 h 02 min 05 s");
    }
}

//! Highlight reels of finished recordings (`ID.highlights.mp4` and
//! `ID.highlights.json`), built on request in a blocking thread (it reads and writes
//! files; it never re-encodes). One build per recording at a time: a second request
//! while one runs joins it; and [`AT_ONCE`] builds over all recordings, the others
//! waiting their turn (shown as building, at 0). A failed build's reason is kept until
//! the next request.
use super::redact::Redactor;
use super::RecordingId;
use compositor::review::highlights::{self, ReelClip};
use compositor::review::reel::Rules;
use compositor::output::sidecar::Sidecar;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

/// A recording's reel, as the API shows it (`highlights` in a recording).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReelStatus {
    None,
    /// `progress`: 0 to 1. `queued`: waiting for other reels' builds to finish
    /// ([`AT_ONCE`] run at once); left out when not.
    Building {
        progress: f32,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        queued: bool,
    },
    Ready { clips: usize, duration_ms: u64 },
    Failed { error: String },
}

enum Job {
    /// Waiting for its turn, or building.
    Running(Arc<Progress>),
    Failed(String),
}

/// Builds running at once: each reads a whole recording from disk. Requests for many
/// recordings at once (an admin may ask for all of them) queue instead of taking the
/// disk, and the blocking threads, from the recordings being written.
pub const AT_ONCE: usize = 2;

pub struct Highlights {
    jobs: Mutex<HashMap<RecordingId, Job>>,
    turns: Arc<tokio::sync::Semaphore>,
}

impl Default for Highlights {
    fn default() -> Self {
        Self { jobs: Mutex::default(), turns: Arc::new(tokio::sync::Semaphore::new(AT_ONCE)) }
    }
}

pub struct ReelFiles {
    pub recording: PathBuf,
    pub reel: PathBuf,
}

impl ReelFiles {
    pub fn clips(&self) -> PathBuf {
        highlights::clips_path(&self.reel)
    }
}

/// A build's progress, as its thread reports it.
#[derive(Default)]
struct Progress {
    /// In thousandths.
    done: AtomicU32,
    /// Its turn came.
    started: AtomicBool,
}

impl Progress {
    fn status(&self) -> ReelStatus {
        ReelStatus::Building { progress: self.done.load(Ordering::Relaxed) as f32 / 1000.0, queued: !self.started.load(Ordering::Relaxed) }
    }
}

impl Highlights {
    /// The reel's state: being built, on disk, failed, or none.
    pub fn status(&self, id: &RecordingId, files: &ReelFiles) -> ReelStatus {
        match self.jobs.lock().get(id) {
            Some(Job::Running(progress)) => return progress.status(),
            Some(Job::Failed(error)) => return ReelStatus::Failed { error: error.clone() },
            None => {}
        }
        match read_clips(files) {
            Some(clips) => ReelStatus::Ready { clips: clips.len(), duration_ms: clips.iter().map(|c| c.source_end_ms - c.source_start_ms).sum() },
            None => ReelStatus::None,
        }
    }

    /// Whether no build of `id` runs now: one waiting for its turn is dropped (its
    /// recording is being deleted); one running says `false`.
    pub fn drop_unless_building(&self, id: &RecordingId) -> bool {
        let mut jobs = self.jobs.lock();
        match jobs.get(id) {
            Some(Job::Running(progress)) if progress.started.load(Ordering::Relaxed) => false,
            Some(Job::Running(_)) => {
                jobs.remove(id);
                true
            }
            _ => true,
        }
    }

    /// Starts building (or joins the build running): returns the state right after.
    /// A failure's text is kept as `redactor` shows it (it is `highlights.error`).
    pub fn start(self: &Arc<Self>, id: &RecordingId, sidecar: Sidecar, files: ReelFiles, rules: Rules, redactor: Redactor) -> ReelStatus {
        let progress = {
            let mut jobs = self.jobs.lock();
            if let Some(Job::Running(progress)) = jobs.get(id) {
                return progress.status();
            }
            let progress = Arc::new(Progress::default());
            jobs.insert(id.clone(), Job::Running(Arc::clone(&progress)));
            progress
        };
        // A turn free now is taken now, so the answer says truly whether it waits.
        let turn = Arc::clone(&self.turns).try_acquire_owned().ok();
        let queued = turn.is_none();
        // Its turn taken now: shown as building, not waiting, from this answer on.
        progress.started.store(!queued, Ordering::Relaxed);
        let (this, id) = (Arc::clone(self), id.clone());
        tokio::spawn(async move {
            let _turn = match turn {
                Some(turn) => turn,
                // Never closed: a permit always comes.
                None => match Arc::clone(&this.turns).acquire_owned().await {
                    Ok(turn) => turn,
                    Err(_) => return,
                },
            };
            // Its turn came: still wanted? (Deleting the recording drops a waiting job.)
            // Marked started under the lock, so a delete from now on waits for it.
            {
                let jobs = this.jobs.lock();
                match jobs.get(&id) {
                    Some(Job::Running(current)) if Arc::ptr_eq(current, &progress) => progress.started.store(true, Ordering::Relaxed),
                    _ => return,
                }
            }
            let (builder, building) = (Arc::clone(&this), id.clone());
            let built = tokio::task::spawn_blocking(move || builder.build(building, sidecar, files, rules, redactor, progress)).await;
            if let Err(e) = built {
                // Not left "building" for good.
                tracing::error!(recording = %id, "a highlight reel's build ended abnormally: {e}");
                this.jobs.lock().insert(id, Job::Failed("the reel could not be built: try again".into()));
            }
        });
        ReelStatus::Building { progress: 0.0, queued }
    }

    fn build(&self, id: RecordingId, sidecar: Sidecar, files: ReelFiles, rules: Rules, redactor: Redactor, progress: Arc<Progress>) {
        let started = std::time::Instant::now();
        let result = highlights::build(&files.recording, &sidecar, &rules, &files.reel, |p| progress.done.store((p * 1000.0) as u32, Ordering::Relaxed));
        let mut jobs = self.jobs.lock();
        match result {
            Ok(clips) => {
                tracing::info!(recording = %id, clips = clips.len(), took_ms = started.elapsed().as_millis() as u64, "highlight reel built");
                jobs.remove(&id);
            }
            Err(e) => {
                tracing::warn!(recording = %id, "highlight reel failed: {e}");
                jobs.insert(id, Job::Failed(redactor.shown(&e.to_string())));
            }
        }
    }

    /// Forgets a failure (the recording was deleted, or a new build starts).
    pub fn forget(&self, id: &RecordingId) {
        let mut jobs = self.jobs.lock();
        if matches!(jobs.get(id), Some(Job::Failed(_))) {
            jobs.remove(id);
        }
    }
}

/// The clips of a built reel (None unless both its files are there).
pub fn read_clips(files: &ReelFiles) -> Option<Vec<ReelClip>> {
    if !files.reel.is_file() {
        return None;
    }
    serde_json::from_slice(&std::fs::read(files.clips()).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reel_waiting_for_its_turn_is_dropped_when_its_recording_goes() {
        let highlights = Arc::new(Highlights::default());
        // Both turns taken (two other reels building).
        let turns: Vec<_> = (0..AT_ONCE).map(|_| Arc::clone(&highlights.turns).try_acquire_owned().unwrap()).collect();
        let dir = std::env::temp_dir().join(format!("podium-reel-queue-{}", std::process::id()));
        let id = RecordingId::parse("20261202-120000-proc01").unwrap();
        let files = ReelFiles { recording: dir.join("none.mp4"), reel: dir.join("none.highlights.mp4") };
        let sidecar = super::super::store::tests::sidecar(id.as_str(), compositor::output::sidecar::Status::Finished, "2026-12-02T12:00:00.000Z");
        let status = highlights.start(&id, sidecar, files, Rules::default(), Redactor::new(&dir));
        assert_eq!(status, ReelStatus::Building { progress: 0.0, queued: true });
        // A delete of its recording does not wait for it.
        assert!(highlights.drop_unless_building(&id));
        assert!(!highlights.jobs.lock().contains_key(&id));
        // Its turn comes, and nothing is built (a build of the missing file would fail).
        drop(turns);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!highlights.jobs.lock().contains_key(&id), "a dropped job ran");
        assert_eq!(highlights.turns.available_permits(), AT_ONCE);
    }
}

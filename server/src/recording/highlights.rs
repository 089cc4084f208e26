//! Highlight reels of finished recordings (`ID.highlights.mp4` and
//! `ID.highlights.json`), built on request in a blocking thread (it reads and writes
//! files; it never re-encodes). One build per recording at a time: a second request
//! while one runs joins it. A failed build's reason is kept until the next request.
use super::redact::Redactor;
use super::RecordingId;
use compositor::review::highlights::{self, ReelClip};
use compositor::review::reel::Rules;
use compositor::output::sidecar::Sidecar;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A recording's reel, as the API shows it (`highlights` in a recording).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReelStatus {
    None,
    /// `progress`: 0 to 1.
    Building { progress: f32 },
    Ready { clips: usize, duration_ms: u64 },
    Failed { error: String },
}

enum Job {
    /// Progress in thousandths.
    Running(Arc<AtomicU32>),
    Failed(String),
}

#[derive(Default)]
pub struct Highlights {
    jobs: Mutex<HashMap<RecordingId, Job>>,
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

impl Highlights {
    /// The reel's state: being built, on disk, failed, or none.
    pub fn status(&self, id: &RecordingId, files: &ReelFiles) -> ReelStatus {
        match self.jobs.lock().get(id) {
            Some(Job::Running(progress)) => return ReelStatus::Building { progress: progress.load(Ordering::Relaxed) as f32 / 1000.0 },
            Some(Job::Failed(error)) => return ReelStatus::Failed { error: error.clone() },
            None => {}
        }
        match read_clips(files) {
            Some(clips) => ReelStatus::Ready { clips: clips.len(), duration_ms: clips.iter().map(|c| c.source_end_ms - c.source_start_ms).sum() },
            None => ReelStatus::None,
        }
    }

    pub fn is_building(&self, id: &RecordingId) -> bool {
        matches!(self.jobs.lock().get(id), Some(Job::Running(_)))
    }

    /// Starts building (or joins the build running): returns the state right after.
    /// A failure's text is kept as `redactor` shows it (it is `highlights.error`).
    pub fn start(self: &Arc<Self>, id: &RecordingId, sidecar: Sidecar, files: ReelFiles, rules: Rules, redactor: Redactor) -> ReelStatus {
        let progress = {
            let mut jobs = self.jobs.lock();
            if let Some(Job::Running(progress)) = jobs.get(id) {
                return ReelStatus::Building { progress: progress.load(Ordering::Relaxed) as f32 / 1000.0 };
            }
            let progress = Arc::new(AtomicU32::new(0));
            jobs.insert(id.clone(), Job::Running(Arc::clone(&progress)));
            progress
        };
        let (this, id) = (Arc::clone(self), id.clone());
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let result = highlights::build(&files.recording, &sidecar, &rules, &files.reel, |p| progress.store((p * 1000.0) as u32, Ordering::Relaxed));
            let mut jobs = this.jobs.lock();
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
        });
        ReelStatus::Building { progress: 0.0 }
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

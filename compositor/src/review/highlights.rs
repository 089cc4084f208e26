//! Builds a recording's highlight reel: the moments `reel` picks, cut out by `cutter`
//! without re-encoding, and the list of clips beside it (`ID.highlights.json`). The
//! server (`POST /api/recordings/{id}/highlights`) and `podium reel` both come here.
use crate::review::cutter::{self, Span};
use crate::review::reel::{self, Activity, Rules};
use crate::output::sidecar::Sidecar;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A clip of the reel, as `highlights.json` lists it: where it is in the recording,
/// whose turn, and how it scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReelClip {
    pub source_start_ms: u64,
    pub source_end_ms: u64,
    pub name: String,
    pub score: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReelError {
    #[error("nobody spoke long enough for a highlight (a clip is at least {0} s of one speaker's turn)")]
    NothingToShow(u64),
    #[error(transparent)]
    Cut(#[from] cutter::CutError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Where the reel of `recording` goes by default: `NAME.highlights.mp4` beside it.
pub fn default_output(recording: &Path) -> PathBuf {
    recording.with_extension("highlights.mp4")
}

/// The clip list beside a reel: `NAME.highlights.json` for `NAME.highlights.mp4`.
pub fn clips_path(reel: &Path) -> PathBuf {
    reel.with_extension("json")
}

/// Makes the reel of `recording` (with its `sidecar`) into `output`, and its clip list
/// into [`clips_path`]; `progress` gets the share done.
pub fn build(recording: &Path, sidecar: &Sidecar, rules: &Rules, output: &Path, mut progress: impl FnMut(f32)) -> Result<Vec<ReelClip>, ReelError> {
    let activity = Activity { loudness_db: &sidecar.loudness_db, voices: &sidecar.voices };
    let keyframes = reel::recorder_keyframes(sidecar.duration_ms);
    let chosen = reel::select(&sidecar.timeline, activity, &keyframes, rules);
    if chosen.is_empty() {
        return Err(ReelError::NothingToShow(rules.min_clip_ms / 1000));
    }
    progress(0.05);
    let spans: Vec<Span> = chosen.iter().map(|c| Span { start_ms: c.source_start_ms, end_ms: c.source_end_ms, title: c.name.clone() }).collect();
    let cut = cutter::cut(recording, output, &spans, |p| progress(0.05 + 0.9 * p))?;
    let clips: Vec<ReelClip> = cut
        .iter()
        .map(|&(i, start, end)| ReelClip { source_start_ms: start, source_end_ms: end, name: chosen[i].name.clone(), score: chosen[i].score })
        .collect();
    let path = clips_path(output);
    let tmp = path.with_extension("json.tmp");
    let mut json = serde_json::to_vec_pretty(&clips).expect("clips serialize");
    json.push(b'\n');
    std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, &path)).map_err(|source| ReelError::Write { path, source })?;
    progress(1.0);
    Ok(clips)
}

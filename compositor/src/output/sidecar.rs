//! The JSON file beside each recording (`ID.json` next to `ID.mp4`): room, start time,
//! participants and the speaker timeline. The compositor writes it as it goes (at the
//! start, once a second with what changed, and at the end), so a recording cut off by a crash
//! still has its timeline; the server reads it to list recordings, and marks the
//! recordings it finds cut off.
//!
//! Every write goes to a temporary file that is then renamed over the old one, so a
//! crash mid-write never leaves half a sidecar.
use crate::picture::layout::LayoutKind;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const SIDECAR_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A compositor is writing it (or was, until a crash nobody has noticed yet).
    Recording,
    /// Stopped normally: the file is complete.
    Finished,
    /// An error stopped it (the compositor died, the disk filled); the file up to then plays.
    Failed,
    /// Cut off without a stop (a crash of the server, or of the whole machine); the file
    /// up to then plays.
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub participant_id: String,
    pub name: String,
}

/// One speaker turn: `start_ms`..`end_ms` of the recording showed this participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub start_ms: u64,
    pub end_ms: u64,
    pub participant_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    pub version: u32,
    pub id: String,
    pub room: String,
    pub status: Status,
    /// RFC 3339, UTC, milliseconds: the wall-clock time of the recording's first frame.
    pub started_at: String,
    pub duration_ms: u64,
    /// Everyone who was in the meeting while it was recorded, in order of arrival.
    pub participants: Vec<Participant>,
    pub timeline: Vec<TimelineEntry>,
    /// Why it failed or was interrupted, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// How far the recorder ever fell behind real time beyond its lookahead, ms: 0 to a
    /// few tens when the machine keeps up (a diagnostic; benchmarks read it).
    #[serde(default)]
    pub max_lag_ms: u64,
    /// Per second of the file: the mix's level, dBFS (one decimal).
    #[serde(default)]
    pub loudness_db: Vec<f32>,
    /// Per second of the file: how many participants spoke in it (cross-talk at 2+).
    #[serde(default)]
    pub voices: Vec<u8>,
    /// The layout the recording started with.
    #[serde(default = "default_layout")]
    pub layout: LayoutKind,
    /// Every change of layout after the start, in the file's time.
    #[serde(default)]
    pub layout_changes: Vec<LayoutChange>,
    /// Every screen share the file shows, in the file's time (`end_ms` is `None` while
    /// the share is still on).
    #[serde(default)]
    pub screen_shares: Vec<ScreenShare>,
    /// Every change of the recorder's own quality to keep up with real time on a busy
    /// machine (a step down, and back up), in the file's time; empty when it never had
    /// to.
    #[serde(default)]
    pub quality_steps: Vec<QualityStep>,
}

/// From `at_ms` of the file on, the recorder encoded at `preset` and `fps` (and, in
/// multi-tile layouts, refreshed thumbnails `thumbnail_fps` times a second; `None`:
/// with every frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityStep {
    pub at_ms: u64,
    pub preset: String,
    pub fps: u32,
    #[serde(default)]
    pub thumbnail_fps: Option<u32>,
    /// Whether the recording is below its own settings from here (false: a step back up
    /// to them).
    #[serde(default)]
    pub degraded: bool,
    /// Whether this starts a stretch the recorder was far behind real time and caught
    /// up on, drawing `fps` frames a second until the next step (which ends it).
    #[serde(default)]
    pub catch_up: bool,
}

/// A stretch of the file that shows `participant_id`'s shared screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenShare {
    pub start_ms: u64,
    pub end_ms: Option<u64>,
    pub participant_id: String,
    pub name: String,
}

fn default_layout() -> LayoutKind {
    LayoutKind::DEFAULT
}

/// A change of a recording's layout at `at_ms` of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutChange {
    pub at_ms: u64,
    pub layout: LayoutKind,
}

#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid recording sidecar: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

impl Sidecar {
    pub fn read(path: &Path) -> Result<Self, SidecarError> {
        let bytes = std::fs::read(path).map_err(|source| SidecarError::Read { path: path.into(), source })?;
        serde_json::from_slice(&bytes).map_err(|source| SidecarError::Parse { path: path.into(), source })
    }

    /// Writes atomically: a temporary file beside it, synced, then renamed over it.
    pub fn write(&self, path: &Path) -> Result<(), SidecarError> {
        let err = |source| SidecarError::Write { path: path.into(), source };
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(err)?;
        let mut bytes = serde_json::to_vec_pretty(self).expect("sidecars serialize");
        bytes.push(b'\n');
        file.write_all(&bytes).and_then(|()| file.sync_data()).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(e)
        })?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// Now, as RFC 3339 UTC with milliseconds (the sidecar's and the API's time format).
pub fn rfc3339(time: std::time::SystemTime) -> String {
    let t: time::OffsetDateTime = time.into();
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&format).expect("a UTC time formats")
}

/// Parses what [`rfc3339`] writes (and any RFC 3339 time) to milliseconds since the epoch.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sidecar {
        Sidecar {
            version: SIDECAR_VERSION,
            id: "20261202-160808-ab12cd".into(),
            room: "standup".into(),
            status: Status::Recording,
            started_at: "2026-12-02T16:08:08.123Z".into(),
            duration_ms: 4200,
            participants: vec![Participant { participant_id: "p1".into(), name: "Ada".into() }],
            timeline: vec![TimelineEntry { start_ms: 100, end_ms: 4200, participant_id: "p1".into(), name: "Ada".into() }],
            error: None,
            width: 1280,
            height: 720,
            fps: 30,
            max_lag_ms: 0,
            loudness_db: vec![-23.5, -60.0],
            voices: vec![1, 0],
            layout: LayoutKind::Grid,
            layout_changes: vec![LayoutChange { at_ms: 1500, layout: LayoutKind::Speaker }],
            screen_shares: vec![ScreenShare { start_ms: 2000, end_ms: Some(3500), participant_id: "p1".into(), name: "Ada".into() }],
            quality_steps: vec![QualityStep { at_ms: 2500, preset: "superfast".into(), fps: 30, thumbnail_fps: None, degraded: true, catch_up: false }, QualityStep { at_ms: 4500, preset: "veryfast".into(), fps: 30, thumbnail_fps: None, degraded: false, catch_up: false }],
        }
    }

    #[test]
    fn round_trips_through_an_atomic_write() {
        let dir = std::env::temp_dir().join(format!("podium-sidecar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.json");
        let mut s = sample();
        s.write(&path).unwrap();
        assert_eq!(Sidecar::read(&path).unwrap(), s);
        s.status = Status::Finished;
        s.write(&path).unwrap();
        assert_eq!(Sidecar::read(&path).unwrap().status, Status::Finished);
        assert!(!path.with_extension("json.tmp").exists(), "no temporary file left");
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["status"], "finished");
        assert!(json.get("error").is_none());
        assert_eq!(json["layout"], "grid");
        assert_eq!(json["layout_changes"], serde_json::json!([{"at_ms": 1500, "layout": "speaker"}]));
        // A sidecar from before layouts reads as the speaker layout, unchanged.
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("layout");
        old.as_object_mut().unwrap().remove("layout_changes");
        std::fs::write(&path, old.to_string()).unwrap();
        let read = Sidecar::read(&path).unwrap();
        assert_eq!((read.layout, read.layout_changes.len()), (LayoutKind::Speaker, 0));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_sidecar_is_an_error_naming_the_file() {
        let path = std::env::temp_dir().join(format!("podium-sidecar-bad-{}.json", std::process::id()));
        std::fs::write(&path, b"{\"version\": 1, \"id\": ").unwrap();
        let err = Sidecar::read(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()) && err.contains("not a valid"), "{err}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_796_227_688_123);
        let text = rfc3339(t);
        assert_eq!(text, "2026-12-02T16:08:08.123Z");
        assert_eq!(parse_rfc3339_ms(&text), Some(1_796_227_688_123));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }
}

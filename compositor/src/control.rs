//! The control channel between the server and a compositor process: one JSON object
//! per line, the server writing to the compositor's stdin and reading its stdout.
//! Every message carries the protocol's version, `"v": 5`; a line of any other version
//! is refused as such (the two ends are from different builds), before its fields are
//! read. Media never goes this way: it arrives as RTP on the UDP port the compositor
//! reports in `ready`.
//!
//! Version 2 (issue #11) added `since` and `decided` to `speaker`: a recording cuts
//! where the turn began, not when the message arrives. Version 3 (issue #12) added
//! `screen` to a source: a shared screen is framed as a share, not as a camera.
//! Version 4 added the `quality` message. Version 5 added `chosen_ms_ago` to `layout`:
//! the file changes layout when the person chose it, not when the choice arrived.
use serde::{Deserialize, Serialize};

pub const CONTROL_VERSION: u32 = 5;

/// The furthest back a layout change may be placed (`Layout::chosen_ms_ago`): a picker
/// waits 0.8 s for the person to settle before it sends, and the default lookahead, 1.3
/// s, keeps that much of the output unwritten.
pub const MAX_LAYOUT_AGE_MS: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    Opus,
    Vp8,
    H264,
}

/// One RTP stream the compositor receives, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub ssrc: u32,
    pub participant_id: String,
    pub name: String,
    pub kind: MediaKind,
    pub codec: Codec,
    pub payload_type: u8,
    pub clock_rate: u32,
    /// The producer is paused (a muted microphone, a camera turned off): nothing will
    /// come, and a speaker whose video is paused gets their name card at once.
    #[serde(default)]
    pub paused: bool,
    /// A video source that is a shared screen (the share layout shows it), not a camera.
    /// The screen's audio, if any, is mixed like any other.
    #[serde(default)]
    pub screen: bool,
}

/// Server to compositor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToCompositor {
    /// The whole source map, sent again whenever it changes (joins, leaves, and the
    /// switcher's new video consumer).
    Sources { v: u32, sources: Vec<Source> },
    /// The stage changed hands (`null`: nobody). `since`: where the turn began (its
    /// first word, or the end of an overlap); `decided`: when the server's detector was
    /// sure. Both Unix milliseconds on the *server's* clock: the compositor uses only
    /// their difference (how long before this message the turn began), so the two
    /// hosts' clocks need not agree. The recording cuts at `since`, as far as its
    /// lookahead reaches back.
    Speaker { v: u32, participant_id: Option<String>, since: u64, decided: u64 },
    /// Frame the recording this way (`speaker`, `speaker-strip`, `grid`) from when it
    /// was chosen: `chosen_ms_ago` before this message (the server bounds it, to
    /// [`MAX_LAYOUT_AGE_MS`]), as far back as the lookahead reaches.
    Layout {
        v: u32,
        layout: crate::picture::layout::LayoutKind,
        #[serde(default)]
        chosen_ms_ago: u64,
    },
    /// Finish the file and exit.
    Stop { v: u32 },
}

/// Compositor to server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FromCompositor {
    /// Listening for RTP and RTCP (rtcp-mux) on this UDP port (of the address it was
    /// told to bind); the recording's time 0 is `started_at` (RFC 3339).
    Ready { v: u32, rtp_port: u16, started_at: String },
    /// About once a second while recording. `lag_ms`: how far output is behind real
    /// time beyond the lookahead (0 when the machine keeps up).
    Progress { v: u32, duration_ms: u64, size_bytes: u64, lag_ms: u64 },
    /// The compositor changed its own cost to keep up with real time (a step down when
    /// it fell behind, a step back up after 10 s with headroom): the x264 preset, the
    /// output's frame rate, and the thumbnails' refresh rate in multi-tile layouts
    /// (`null`: every frame). `at_ms`: the file's time where it applies; `lag_ms`: how
    /// far behind it was when it decided. `catch_up`: the output fell more than 1 s
    /// behind, and is drawn at `fps` until caught up (`down`), or was (not `down`).
    Quality {
        v: u32,
        at_ms: u64,
        preset: String,
        fps: u32,
        thumbnail_fps: Option<u32>,
        lag_ms: u64,
        down: bool,
        #[serde(default)]
        catch_up: bool,
    },
    /// Something the server should log or show (loss, a source without keyframes, …).
    Warning { v: u32, message: String },
    /// The file is complete and closed.
    Finished { v: u32, duration_ms: u64, size_bytes: u64 },
    /// The recording could not go on; the file up to now is kept.
    Failed { v: u32, message: String },
}

/// Encodes one message as a line (with its newline).
pub fn to_line<T: Serialize>(message: &T) -> String {
    let mut line = serde_json::to_string(message).expect("control messages serialize");
    line.push('\n');
    line
}

/// Why a control line was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("bad control message ({error}): {line}")]
    Malformed { error: serde_json::Error, line: String },
    #[error("control protocol version {got} is not spoken here (this build speaks version {CONTROL_VERSION}): the server and the compositor come from different builds of Podium; install them together")]
    Version { got: u64 },
}

/// Decodes one line. Its version is checked first, so that a peer of another version
/// is told as much rather than that some field is missing.
pub fn from_line<T: for<'de> Deserialize<'de>>(line: &str) -> Result<T, ControlError> {
    let line = line.trim_end();
    let malformed = |error| ControlError::Malformed { error, line: line.to_string() };
    let value: serde_json::Value = serde_json::from_str(line).map_err(malformed)?;
    if let Some(got) = value.get("v").and_then(serde_json::Value::as_u64) {
        if got != u64::from(CONTROL_VERSION) {
            return Err(ControlError::Version { got });
        }
    }
    serde_json::from_value(value).map_err(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_single_lines() {
        let sources = ToCompositor::Sources {
            v: CONTROL_VERSION,
            sources: vec![Source {
                ssrc: 1234,
                participant_id: "4f2a9c0d1e7b".into(),
                name: "Ada \"the first\"\nLovelace".into(),
                kind: MediaKind::Video,
                codec: Codec::Vp8,
                payload_type: 101,
                clock_rate: 90_000,
                paused: false,
                screen: true,
            }],
        };
        let line = to_line(&sources);
        assert_eq!(line.matches('\n').count(), 1, "one line even when a name holds a newline");
        assert_eq!(from_line::<ToCompositor>(&line).unwrap(), sources);
        let ready = FromCompositor::Ready { v: CONTROL_VERSION, rtp_port: 40_123, started_at: "2026-12-02T16:08:08.123Z".into() };
        assert_eq!(to_line(&ready), "{\"type\":\"ready\",\"v\":5,\"rtp_port\":40123,\"started_at\":\"2026-12-02T16:08:08.123Z\"}\n");
        assert_eq!(from_line::<FromCompositor>(&to_line(&ready)).unwrap(), ready);
        let speaker = ToCompositor::Speaker { v: 5, participant_id: None, since: 1_780_000_000_000, decided: 1_780_000_000_850 };
        assert_eq!(to_line(&speaker), "{\"type\":\"speaker\",\"v\":5,\"participant_id\":null,\"since\":1780000000000,\"decided\":1780000000850}\n");
        assert_eq!(from_line::<ToCompositor>(&to_line(&speaker)).unwrap(), speaker);
    }

    #[test]
    fn bad_lines_are_errors_that_say_why() {
        for bad in ["", "{}", "{\"type\":\"explode\",\"v\":5}", "{\"type\":\"stop\"}", "{\"type\":\"stop\",\"v\":5,\"extra\":2}", "not json", "{\"type\":\"speaker\",\"v\":5,\"participant_id\":null}"] {
            let err = from_line::<ToCompositor>(bad).unwrap_err().to_string();
            assert!(err.starts_with("bad control message"), "{err}");
        }
    }

    #[test]
    fn another_version_is_refused_as_such() {
        // A version 2 speaker message is refused for its version, not for
        // a missing field, and so is a future one.
        for (line, got) in [("{\"type\":\"speaker\",\"v\":2,\"participant_id\":null}", 2), ("{\"type\":\"stop\",\"v\":6}", 6)] {
            let err = from_line::<ToCompositor>(line).unwrap_err();
            assert!(matches!(err, ControlError::Version { got: g } if g == got), "{err}");
            let text = err.to_string();
            assert!(text.contains(&format!("version {got}")) && text.contains("different builds"), "{text}");
        }
    }
}

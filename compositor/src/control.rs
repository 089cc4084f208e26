//! The control channel between the server and a compositor process: one JSON object
//! per line, the server writing to the compositor's stdin and reading its stdout.
//! Every message carries `"v": 1`. Media never goes this way: it arrives as RTP on
//! the UDP port the compositor reports in `ready`.
use serde::{Deserialize, Serialize};

pub const CONTROL_VERSION: u32 = 1;

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
}

/// Server to compositor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToCompositor {
    /// The whole source map, sent again whenever it changes (joins, leaves, and the
    /// switcher's new video consumer).
    Sources { v: u32, sources: Vec<Source> },
    /// The stage changed hands (`null`: nobody). The video that follows comes from
    /// that participant's source, from their next keyframe on.
    Speaker { v: u32, participant_id: Option<String> },
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
    /// time beyond the latency (0 when the machine keeps up).
    Progress { v: u32, duration_ms: u64, size_bytes: u64, lag_ms: u64 },
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

/// Decodes one line; the error says what was wrong, for the log.
pub fn from_line<T: for<'de> Deserialize<'de>>(line: &str) -> Result<T, String> {
    serde_json::from_str(line.trim_end()).map_err(|e| format!("bad control message ({e}): {}", line.trim_end()))
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
            }],
        };
        let line = to_line(&sources);
        assert_eq!(line.matches('\n').count(), 1, "one line even when a name holds a newline");
        assert_eq!(from_line::<ToCompositor>(&line).unwrap(), sources);
        let ready = FromCompositor::Ready { v: CONTROL_VERSION, rtp_port: 40_123, started_at: "2026-12-02T16:08:08.123Z".into() };
        assert_eq!(to_line(&ready), "{\"type\":\"ready\",\"v\":1,\"rtp_port\":40123,\"started_at\":\"2026-12-02T16:08:08.123Z\"}\n");
        assert_eq!(from_line::<FromCompositor>(&to_line(&ready)).unwrap(), ready);
        let speaker = ToCompositor::Speaker { v: 1, participant_id: None };
        assert_eq!(to_line(&speaker), "{\"type\":\"speaker\",\"v\":1,\"participant_id\":null}\n");
    }

    #[test]
    fn bad_lines_are_errors_that_say_why() {
        for bad in ["", "{}", "{\"type\":\"explode\",\"v\":1}", "{\"type\":\"stop\"}", "{\"type\":\"stop\",\"v\":1,\"extra\":2}", "not json"] {
            let err = from_line::<ToCompositor>(bad).unwrap_err();
            assert!(err.starts_with("bad control message"), "{err}");
        }
    }
}

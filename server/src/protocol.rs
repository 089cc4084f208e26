//! The signaling protocol: JSON messages over one WebSocket per participant
//! (`/api/rooms/{room}/ws`). docs/signaling.md documents it for client writers.
//!
//! Every message carries `"v": 1`. Client requests carry an `id`; the server answers
//! each with a `response` of the same `id`. Server events have no `id`.
use mediasoup::prelude::*;
use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;
/// Larger messages get an error reply (the connection stays up).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
pub struct ClientEnvelope {
    /// Checked by [`parse_client_message`] before the rest is parsed.
    #[allow(dead_code)]
    pub v: u32,
    pub id: u64,
    #[serde(flatten)]
    pub request: ClientRequest,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientRequest {
    /// The reply carries the router's RTP capabilities, to load a mediasoup-client
    /// Device with.
    Join {
        /// Ignored in secured mode, where the access token names the participant.
        #[serde(default)]
        name: String,
        /// Stable per browser tab: a rejoin with the same one replaces the old session
        /// (after a lost connection) instead of being refused as a taken name.
        #[serde(default)]
        client_id: Option<String>,
    },
    /// The loaded Device's capabilities: needed before `consume`.
    SetRtpCapabilities { rtp_capabilities: RtpCapabilities },
    CreateTransport { direction: Direction },
    ConnectTransport { transport_id: TransportId, dtls_parameters: DtlsParameters },
    /// `source` says what is sent: `mic` (audio), `camera` (video), or `screen` (video,
    /// or its audio); by default the microphone or the camera, by `kind`.
    Produce {
        transport_id: TransportId,
        kind: MediaKind,
        rtp_parameters: RtpParameters,
        #[serde(default)]
        source: Option<Source>,
        /// Made paused: a stream that was muted before a reconnect comes back muted,
        /// and nobody is told it was live meanwhile.
        #[serde(default)]
        paused: bool,
    },
    CloseProducer { producer_id: ProducerId },
    PauseProducer { producer_id: ProducerId },
    ResumeProducer { producer_id: ProducerId },
    Consume { producer_id: ProducerId },
    ResumeConsumer { consumer_id: ConsumerId },
    /// A struct variant (not a unit one) so that stray fields are refused here too.
    Leave {},
}

/// What a producer sends. A participant has at most one producer of each source and
/// kind: a microphone, a camera, a shared screen (and that screen's audio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Mic,
    Camera,
    Screen,
}

impl Source {
    /// The source a producer of `kind` is when the client does not say.
    pub fn default_for(kind: MediaKind) -> Source {
        match kind {
            MediaKind::Audio => Source::Mic,
            MediaKind::Video => Source::Camera,
        }
    }

    /// Whether a producer of `kind` can be this source.
    pub fn carries(self, kind: MediaKind) -> bool {
        match self {
            Source::Mic => kind == MediaKind::Audio,
            Source::Camera => kind == MediaKind::Video,
            Source::Screen => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Send,
    Recv,
}

/// Machine-readable error codes; `message` says what to do in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    UnsupportedVersion,
    TooLarge,
    NotJoined,
    AlreadyJoined,
    InvalidName,
    NameTaken,
    RoomFull,
    TooManyRooms,
    NotFound,
    CannotConsume,
    RateLimited,
    Internal,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// A participant as the room API and the join reply show it.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantView {
    pub id: String,
    pub name: String,
    /// Has an unmuted microphone.
    pub audio: bool,
    /// Has an unmuted camera.
    pub video: bool,
    /// Shares their screen now.
    pub screen: bool,
}

/// The screen share on everyone's stage (one per room at a time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScreenShareView {
    pub participant_id: String,
    pub name: String,
}

/// The recording running in a room, as every participant and the rooms API see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingBadge {
    pub id: String,
    pub started_at: String,
    /// How it frames the meeting now (a change is told to everyone, like the start).
    pub layout: compositor::picture::layout::LayoutKind,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProducerView {
    pub producer_id: ProducerId,
    pub participant_id: String,
    pub kind: MediaKind,
    pub source: Source,
    pub paused: bool,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ResponseData {
    Joined {
        participant_id: String,
        /// This participant's name as everyone sees it: normalised, or the token's.
        name: String,
        rtp_capabilities: RtpCapabilitiesFinalized,
        participants: Vec<ParticipantView>,
        producers: Vec<ProducerView>,
        active_speaker: Option<String>,
        recording: Option<RecordingBadge>,
        /// What this participant may do: `guest`, `host` or `admin` (open mode: `admin`).
        role: &'static str,
    },
    Transport {
        transport_id: TransportId,
        ice_parameters: IceParameters,
        ice_candidates: Vec<IceCandidate>,
        dtls_parameters: DtlsParameters,
    },
    Produced { producer_id: ProducerId },
    Consumer {
        consumer_id: ConsumerId,
        producer_id: ProducerId,
        participant_id: String,
        kind: MediaKind,
        /// What the producer sends (`mic`, `camera`, `screen`): a screen is not a camera.
        source: Source,
        rtp_parameters: RtpParameters,
        producer_paused: bool,
    },
    Empty {},
}

/// Messages from the server.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Response {
        v: u32,
        id: Option<u64>,
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<ResponseData>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<ErrorBody>,
    },
    ParticipantJoined { v: u32, participant: ParticipantView },
    ParticipantUpdated { v: u32, participant: ParticipantView },
    ParticipantLeft { v: u32, participant_id: String },
    NewProducer { v: u32, producer: ProducerView },
    ProducerPaused { v: u32, producer_id: ProducerId, participant_id: String },
    ProducerResumed { v: u32, producer_id: ProducerId, participant_id: String },
    /// The consumer's producer closed (its owner left or stopped the device).
    ConsumerClosed { v: u32, consumer_id: ConsumerId, producer_id: ProducerId },
    /// The server closed one of your producers: your screen share, because someone
    /// else started one (`reason` says who, for people).
    ProducerClosed { v: u32, producer_id: ProducerId, reason: String },
    /// The stage changed hands. `since`: where the new turn began (its first word, or
    /// the end of an overlap), in Unix milliseconds on the server's clock; the live
    /// stage moves now all the same, and a recording cuts there.
    ActiveSpeaker { v: u32, participant_id: Option<String>, since: u64 },
    Speaking { v: u32, participant_id: String, speaking: bool },
    /// Audio levels in dBov (-127 silent … 0 loudest) of the participants heard lately.
    Levels { v: u32, levels: Vec<LevelView> },
    /// A recording started (`recording` set) or ended (`null`; `error` says why when it
    /// failed).
    Recording {
        v: u32,
        recording: Option<RecordingBadge>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// This session ends: replaced by a newer one of the same client, removed by a
    /// host, too slow to keep up, refused too often in a row, or the server stops.
    /// Clients reconnect except after `replaced` and `removed`.
    Bye { v: u32, code: ByeCode, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ByeCode {
    Replaced,
    /// A host removed this participant: clients do not rejoin.
    Removed,
    TooSlow,
    /// The client's requests were refused many times in a row (a script in a loop):
    /// the connection is not worth answering further.
    TooManyErrors,
    Shutdown,
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelView {
    pub participant_id: String,
    pub dbov: f32,
    pub speaking: bool,
}

impl ServerMessage {
    pub fn ok(id: u64, data: ResponseData) -> Self {
        ServerMessage::Response { v: PROTOCOL_VERSION, id: Some(id), ok: true, data: Some(data), error: None }
    }

    pub fn error(id: Option<u64>, error: ErrorBody) -> Self {
        ServerMessage::Response { v: PROTOCOL_VERSION, id, ok: false, data: None, error: Some(error) }
    }
}

/// Parses one client message. On failure, returns the request id (when one could be
/// read) with an error that says what was wrong.
pub fn parse_client_message(text: &str) -> Result<ClientEnvelope, (Option<u64>, ErrorBody)> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err((None, ErrorBody::new(ErrorCode::TooLarge, format!("message of {} bytes is over the limit of {MAX_MESSAGE_BYTES}", text.len()))));
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| (None, ErrorBody::new(ErrorCode::BadRequest, format!("not JSON: {e}"))))?;
    let id = value.get("id").and_then(serde_json::Value::as_u64);
    match value.get("v").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => {}
        Some(v) => return Err((id, ErrorBody::new(ErrorCode::UnsupportedVersion, format!("protocol version {v} is not supported; this server speaks {PROTOCOL_VERSION}")))),
        None => return Err((id, ErrorBody::new(ErrorCode::BadRequest, "missing \"v\" (protocol version)"))),
    }
    if id.is_none() {
        return Err((None, ErrorBody::new(ErrorCode::BadRequest, "missing \"id\" (a request number)")));
    }
    serde_json::from_value(value).map_err(|e| (id, ErrorBody::new(ErrorCode::BadRequest, quoted_briefly(format!("invalid request: {e}")))))
}

/// serde's message quotes what the client sent (an unknown field's name, a type): cut
/// to a length a person reads, so that a reply is never the size of the request (a
/// client that sends 60 KB field names and reads nothing would fill the server's send
/// buffers at the rate it writes).
pub fn quoted_briefly(mut message: String) -> String {
    const MAX_ERROR_CHARS: usize = 300;
    if let Some((cut, _)) = message.char_indices().nth(MAX_ERROR_CHARS) {
        message.truncate(cut);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request() {
        let msg = parse_client_message(r#"{"v":1,"id":3,"type":"create_transport","direction":"send"}"#).unwrap();
        assert_eq!(msg.id, 3);
        assert!(matches!(msg.request, ClientRequest::CreateTransport { direction: Direction::Send }));
    }

    #[test]
    fn rejects_bad_messages_with_the_request_id_when_readable() {
        let (id, err) = parse_client_message("not json").unwrap_err();
        assert_eq!((id, err.code), (None, ErrorCode::BadRequest));
        let (id, err) = parse_client_message(r#"{"v":1,"id":9,"type":"fly_to_the_moon"}"#).unwrap_err();
        assert_eq!((id, err.code), (Some(9), ErrorCode::BadRequest));
        assert!(err.message.contains("fly_to_the_moon"), "{}", err.message);
        let (id, err) = parse_client_message(r#"{"v":1,"id":7,"type":"leave","extra":true}"#).unwrap_err();
        assert_eq!((id, err.code), (Some(7), ErrorCode::BadRequest));
        assert!(parse_client_message(r#"{"v":1,"id":7,"type":"leave"}"#).is_ok());
        // A client's long field name is not echoed whole.
        let long = format!(r#"{{"v":1,"id":7,"type":"leave","{}é":1}}"#, "f".repeat(60_000));
        let (_, err) = parse_client_message(&long).unwrap_err();
        assert!(err.message.starts_with("invalid request: unknown field `fff") && err.message.chars().count() == 301, "{}", err.message);
        let (_, err) = parse_client_message(r#"{"v":1,"id":7,"type":"join","name":"A","admin":true}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        let (id, err) = parse_client_message(r#"{"v":2,"id":4,"type":"leave"}"#).unwrap_err();
        assert_eq!((id, err.code), (Some(4), ErrorCode::UnsupportedVersion));
        let (_, err) = parse_client_message(r#"{"v":1,"type":"leave"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        let (_, err) = parse_client_message(r#"{"v":1,"id":5,"type":"consume","producer_id":"not-a-uuid"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        let big = format!(r#"{{"v":1,"id":1,"type":"join","name":"{}"}}"#, "a".repeat(MAX_MESSAGE_BYTES));
        assert_eq!(parse_client_message(&big).unwrap_err().1.code, ErrorCode::TooLarge);
    }

    /// Fuzzing, bounded (a fixed number of cases, so CI time is bounded): no input a
    /// client can send makes the parser panic, and whatever it accepts is well-formed.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        const TYPES: [&str; 12] = ["join", "set_rtp_capabilities", "create_transport", "connect_transport", "produce", "close_producer", "pause_producer", "resume_producer", "consume", "resume_consumer", "leave", "nope"];

        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(|f| serde_json::json!(f)),
                ".{0,24}".prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(3, 24, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                    prop::collection::hash_map("[a-z_]{1,12}", inner, 0..6).prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_text_never_panics(text in ".{0,300}") {
                let _ = parse_client_message(&text);
            }

            #[test]
            fn arbitrary_messages_of_every_type_never_panic(kind in prop::sample::select(TYPES.to_vec()), id in any::<u64>(), v in 0u64..3, fields in prop::collection::hash_map("[a-z_]{1,16}", json_value(), 0..5)) {
                let mut msg = serde_json::Map::new();
                msg.insert("v".into(), v.into());
                msg.insert("id".into(), id.into());
                msg.insert("type".into(), kind.into());
                msg.extend(fields);
                let text = serde_json::Value::Object(msg).to_string();
                if let Ok(envelope) = parse_client_message(&text) {
                    prop_assert_eq!(envelope.id, id);
                    prop_assert_eq!(v, 1);
                }
            }
        }
    }
}

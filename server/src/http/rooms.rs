//! Rooms: who is in them, their signaling sockets, their recordings, removing someone.
use super::extract::{Auth, Body, ParticipantIdSegment, ValidPath};
use super::guard::check_origin;
use super::{ApiError, AppState};
use crate::recording::{LayoutAsk, LayoutSet, RecordError, RecordingSize, RecordingView};
use crate::room::{RoomId, RoomView};
use crate::session::{self, SessionContext};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::body::Bytes;
use axum::Json;
use compositor::picture::layout::LayoutKind;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// Every open room: an admin's view.
pub async fn list(State(state): State<Arc<AppState>>, auth: Auth) -> Result<Json<Vec<RoomView>>, ApiError> {
    auth.check(|a| a.may_administer("list every room"))?;
    Ok(Json(state.rooms.list().await.iter().map(|r| r.view()).collect()))
}

pub async fn get_one(State(state): State<Arc<AppState>>, auth: Auth, ValidPath(id): ValidPath<RoomId>) -> Result<Json<RoomView>, ApiError> {
    auth.check(|a| a.may_join(&id))?;
    match state.rooms.get(&id).await {
        Some(room) => Ok(Json(room.view())),
        None => Err(ApiError::NotFound(format!("no meeting in room {id} right now"))),
    }
}

/// One signaling socket of a client IP; released when the socket ends.
pub struct SocketSlot {
    state: Arc<AppState>,
    ip: IpAddr,
}

impl SocketSlot {
    fn take(state: &Arc<AppState>, ip: IpAddr) -> Result<Self, ApiError> {
        let mut sockets = state.sockets.lock();
        let open = sockets.entry(ip).or_insert(0);
        if *open >= state.security.max_sockets_per_ip {
            return Err(ApiError::TooManyRequests(format!("{open} signaling connections are open from your address, the most allowed: close some tabs and try again")));
        }
        *open += 1;
        Ok(Self { state: Arc::clone(state), ip })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut sockets = self.state.sockets.lock();
        if let Some(open) = sockets.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                sockets.remove(&self.ip);
            }
        }
    }
}

/// The signaling WebSocket of one participant (protocol in docs/signaling.md). Every
/// refusal is an HTTP status before the upgrade.
pub async fn socket(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    auth: Result<Auth, ApiError>,
    ValidPath(id): ValidPath<RoomId>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    let auth = auth?;
    auth.check(|a| a.may_join(&id))?;
    // JSON like every other refusal, after the checks of who may ask.
    let ws = ws.map_err(|_| ApiError::BadRequest("this address is the meeting's WebSocket: open it with a WebSocket upgrade (the room page does)".into()))?;
    let slot = SocketSlot::take(&state, crate::net::counted_as(auth.ip))?;
    let ctx = SessionContext { rooms: Arc::clone(&state.rooms), shutdown: state.shutdown.clone(), access: auth.access.clone(), client_ip: auth.ip, paces: Arc::clone(&state.paces) };
    // Frames over 64 KiB get an error reply from the session; only far larger ones
    // (which no client of ours sends) end the connection at this transport limit.
    Ok(ws.max_message_size(1 << 20).max_frame_size(1 << 20).on_upgrade(move |socket| async move {
        let _slot = slot;
        session::run(socket, id, ctx).await;
    }))
}

/// The body of a recording's change: `{"layout": "speaker" | "speaker-strip" |
/// "grid", "chosen_ms_ago": N}`, the second optional (docs/api.md).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutBody {
    pub layout: LayoutKind,
    #[serde(default)]
    pub chosen_ms_ago: u64,
}

/// The optional body of `POST …/recording`: `{"layout": …, "size": "WIDTHxHEIGHT"}`,
/// both optional (docs/api.md). A smaller size is what a refusal at capacity offers.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    #[serde(default)]
    pub layout: Option<LayoutKind>,
    #[serde(default)]
    pub size: Option<String>,
}

/// What a start asks for: its layout, and a size smaller than the server's, if any.
fn start_body(body: &Bytes) -> Result<(LayoutKind, Option<RecordingSize>), ApiError> {
    let start = if body.iter().all(u8::is_ascii_whitespace) {
        StartBody::default()
    } else {
        // A fixed message: serde's would quote the client's text back.
        Body::object::<StartBody>(body).ok_or_else(|| {
            ApiError::BadRequest("expected no body, or a JSON body {\"layout\": \"speaker\" | \"speaker-strip\" | \"grid\", \"size\": \"WIDTHxHEIGHT\"}, both optional".into())
        })?
    };
    let size = start.size.as_deref().map(str::parse::<RecordingSize>).transpose()?;
    Ok((start.layout.unwrap_or(LayoutKind::DEFAULT), size))
}

fn layout_body(body: &Bytes) -> Result<LayoutAsk, ApiError> {
    // A fixed message: serde's would quote the client's text back.
    let body = Body::object::<LayoutBody>(body)
        .ok_or_else(|| ApiError::BadRequest("expected a JSON body {\"layout\": \"speaker\" | \"speaker-strip\" | \"grid\", \"chosen_ms_ago\": N}, the second optional".into()))?;
    Ok(LayoutAsk::chosen_ago(body.layout, body.chosen_ms_ago)?)
}

pub async fn start_recording(State(state): State<Arc<AppState>>, auth: Auth, ValidPath(id): ValidPath<RoomId>, Body(body): Body) -> Result<(StatusCode, Json<RecordingView>), ApiError> {
    auth.check(|a| a.may_record(&id))?;
    let (layout, size) = start_body(&body)?;
    let room = state.rooms.get(&id).await.ok_or_else(|| ApiError::from(RecordError::NoMeeting(id.clone())))?;
    let (sub, role, ip) = auth.who();
    let result = state.recorder.start_for(room, layout, size, Some(auth.access.pace_key(auth.ip))).await;
    match &result {
        Ok(view) => tracing::info!(target: "audit", action = "recording.start", %sub, role = %role, %ip, room = %id, recording = %view.id, width = view.width, height = view.height, "recording started"),
        Err(e) => tracing::info!(target: "audit", action = "recording.start", %sub, role = %role, %ip, room = %id, size = ?size, refused = %e, "recording refused"),
    }
    Ok((StatusCode::CREATED, Json(result?)))
}

/// Changes the running recording's layout; answers with the recording as it is now.
pub async fn change_recording(State(state): State<Arc<AppState>>, auth: Auth, ValidPath(id): ValidPath<RoomId>, Body(body): Body) -> Result<Json<RecordingView>, ApiError> {
    auth.check(|a| a.may_record(&id))?;
    let ask = layout_body(&body)?;
    let layout = ask.layout;
    let LayoutSet { recording, changed } = state.recorder.set_layout(&id, ask, Instant::now()).await?;
    if changed {
        let (sub, role, ip) = auth.who();
        tracing::info!(target: "audit", action = "recording.layout", %sub, role = %role, %ip, room = %id, recording = %recording, layout = layout.name(), "recording layout changed");
    }
    let mut view = state.recorder.view(&recording).map_err(RecordError::from)?;
    // The sidecar learns of it when the output gets there; the answer says it now.
    if view.status == compositor::output::sidecar::Status::Recording {
        view.layout = layout;
    }
    Ok(Json(view))
}

/// Answers once the file is final.
pub async fn stop_recording(State(state): State<Arc<AppState>>, auth: Auth, ValidPath(id): ValidPath<RoomId>) -> Result<Json<RecordingView>, ApiError> {
    auth.check(|a| a.may_record(&id))?;
    let view = state.recorder.stop(&id).await?;
    let (sub, role, ip) = auth.who();
    tracing::info!(target: "audit", action = "recording.stop", %sub, role = %role, %ip, room = %id, recording = %view.id, "recording stopped");
    Ok(Json(view))
}

/// Removes a participant from the meeting (a host's call): their session ends with a
/// `bye` of code `removed`.
pub async fn remove_participant(State(state): State<Arc<AppState>>, auth: Auth, ValidPath((id, participant)): ValidPath<(RoomId, ParticipantIdSegment)>) -> Result<StatusCode, ApiError> {
    auth.check(|a| a.may_remove_participant(&id))?;
    let room = state.rooms.get(&id).await.ok_or_else(|| ApiError::NotFound(format!("no meeting in room {id} right now")))?;
    if !room.remove_participant(&participant.0) {
        return Err(ApiError::NotFound(format!("no participant {} in room {id}", participant.0)));
    }
    let (sub, role, ip) = auth.who();
    tracing::info!(target: "audit", action = "participant.remove", %sub, role = %role, %ip, room = %id, participant = %participant.0, "participant removed");
    Ok(StatusCode::NO_CONTENT)
}

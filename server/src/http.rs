//! HTTP routes. Handlers stay thin: they read shared state and turn it into JSON.
use crate::assets;
use crate::media::{WorkerHealth, WorkerPool};
use crate::recording::highlights::{self, ReelStatus};
use crate::recording::{RecordError, Recorder, RecordingId, RecordingView, StoreError};
use compositor::sidecar::Status;
use crate::room::{RoomDump, RoomId, RoomView, Rooms};
use crate::session::{self, SessionContext};
use axum::extract::{Path, Request, State, WebSocketUpgrade};
use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::watch;
use tower::ServiceExt;

pub struct AppState {
    pub pool: Arc<WorkerPool>,
    pub rooms: Arc<Rooms>,
    pub recorder: Arc<Recorder>,
    /// Becomes true when the server starts shutting down.
    pub shutdown: watch::Receiver<bool>,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/rooms", get(list_rooms))
        .route("/api/rooms/{room}", get(get_room))
        .route("/api/rooms/{room}/recording", axum::routing::post(start_recording).delete(stop_recording))
        .route("/api/rooms/{room}/ws", get(room_socket))
        .route("/api/recordings", get(list_recordings))
        .route("/api/recordings/{id}", get(get_recording).delete(delete_recording))
        .route("/api/recordings/{id}/video", get(recording_video))
        .route("/api/recordings/{id}/speakers.vtt", get(speakers_vtt))
        .route("/api/recordings/{id}/highlights", get(highlights_video).post(build_highlights))
        .route("/api/recordings/{id}/highlights.json", get(highlights_clips))
        .route("/api/debug/dump", get(debug_dump))
        .route("/api/{*rest}", get(api_not_found))
        .fallback(get(web_asset))
        .with_state(state)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    workers: Vec<WorkerHealth>,
}

/// 200 `{"status":"ok",...}` while every worker is alive; 503 with status "degraded"
/// otherwise, so that a load balancer or a supervisor can act on it.
async fn health(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    let workers = state.pool.health().await;
    let ok = !workers.is_empty() && workers.iter().all(|w| w.alive);
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let status = if ok { "ok" } else { "degraded" };
    (code, Json(Health { status, version: env!("CARGO_PKG_VERSION"), workers }))
}

#[derive(Serialize)]
pub struct ApiError {
    pub error: String,
}

/// An error answer of the API: a status and `{"error": "..."}`.
pub struct ApiFailure(StatusCode, String);

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

/// The `{room}` path segment, validated (`[A-Za-z0-9_-]{1,64}`): a 400 otherwise.
pub struct ValidRoomId(RoomId);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ValidRoomId {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiFailure(StatusCode::BAD_REQUEST, e.to_string()))?;
        RoomId::parse(&raw).map(ValidRoomId).map_err(|e| ApiFailure(StatusCode::BAD_REQUEST, format!("invalid room id: {e}")))
    }
}

/// The `{id}` path segment of a recording, validated (a 400 otherwise): the only way a
/// request names a recording's files.
pub struct ValidRecordingId(RecordingId);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ValidRecordingId {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiFailure(StatusCode::BAD_REQUEST, e.to_string()))?;
        RecordingId::parse(&raw).map(ValidRecordingId).map_err(|e| ApiFailure(StatusCode::BAD_REQUEST, format!("invalid recording id: {e}")))
    }
}

impl From<RecordError> for ApiFailure {
    fn from(e: RecordError) -> Self {
        let status = match &e {
            RecordError::NoMeeting(_) | RecordError::NotRecording(_) | RecordError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            RecordError::AlreadyRecording { .. } => StatusCode::CONFLICT,
            RecordError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            RecordError::Start(_) | RecordError::Store(StoreError::Unreadable { .. }) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiFailure(status, e.to_string())
    }
}

impl From<StoreError> for ApiFailure {
    fn from(e: StoreError) -> Self {
        RecordError::Store(e).into()
    }
}

async fn start_recording(State(state): State<Arc<AppState>>, ValidRoomId(id): ValidRoomId) -> Result<(StatusCode, Json<RecordingView>), ApiFailure> {
    let room = state.rooms.get(&id).await.ok_or_else(|| ApiFailure::from(RecordError::NoMeeting(id.clone())))?;
    let view = state.recorder.start(room).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Answers once the file is final.
async fn stop_recording(State(state): State<Arc<AppState>>, ValidRoomId(id): ValidRoomId) -> Result<Json<RecordingView>, ApiFailure> {
    Ok(Json(state.recorder.stop(&id).await?))
}

async fn list_recordings(State(state): State<Arc<AppState>>) -> Json<Vec<RecordingView>> {
    let recorder = Arc::clone(&state.recorder);
    // Reading every sidecar touches the disk: off the async workers.
    Json(tokio::task::spawn_blocking(move || recorder.list()).await.unwrap_or_default())
}

async fn get_recording(State(state): State<Arc<AppState>>, ValidRecordingId(id): ValidRecordingId) -> Result<Json<RecordingView>, ApiFailure> {
    Ok(Json(state.recorder.view(&id)?))
}

/// Removes the recording's files (video, sidecar, reel). Not while it records or its
/// reel is being built.
async fn delete_recording(State(state): State<Arc<AppState>>, ValidRecordingId(id): ValidRecordingId) -> Result<StatusCode, ApiFailure> {
    let recorder = &state.recorder;
    if recorder.is_active(&id) {
        return Err(ApiFailure(StatusCode::CONFLICT, format!("recording {id} is still running: stop it first")));
    }
    if recorder.highlights().is_building(&id) {
        return Err(ApiFailure(StatusCode::CONFLICT, format!("the highlight reel of {id} is being built: try again in a moment")));
    }
    recorder.store().delete(&id)?;
    recorder.highlights().forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// The mp4, with Range requests (players seek with them). A recording still running
/// serves what is written so far.
async fn recording_video(State(state): State<Arc<AppState>>, ValidRecordingId(id): ValidRecordingId, request: Request) -> Result<Response, ApiFailure> {
    let path = state.recorder.store().video_path(&id);
    if !path.is_file() {
        state.recorder.store().read(&id)?;
        return Err(ApiFailure(StatusCode::NOT_FOUND, format!("recording {id} has no video file")));
    }
    serve_mp4(path, request).await
}

async fn serve_mp4(path: std::path::PathBuf, request: Request) -> Result<Response, ApiFailure> {
    let response = tower_http::services::ServeFile::new_with_mime(path, &"video/mp4".parse().expect("a mime type"))
        .oneshot(request)
        .await
        .map_err(|e| ApiFailure(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the video: {e}")))?;
    Ok(response.into_response())
}

/// The speaker timeline as WebVTT, one cue per turn.
async fn speakers_vtt(State(state): State<Arc<AppState>>, ValidRecordingId(id): ValidRecordingId) -> Result<Response, ApiFailure> {
    let view = state.recorder.store().read(&id)?;
    let body = compositor::vtt::speakers_vtt(&view.timeline);
    Ok(([(header::CONTENT_TYPE, "text/vtt; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], body).into_response())
}

/// Builds the highlight reel: 202 while it builds (a second request joins the running
/// build), 200 once it exists. Not for a recording still running (409).
async fn build_highlights(State(state): State<Arc<AppState>>, ValidRecordingId(id): ValidRecordingId) -> Result<(StatusCode, Json<ReelStatus>), ApiFailure> {
    let recorder = &state.recorder;
    let sidecar = recorder.store().read_sidecar(&id)?;
    if sidecar.status == Status::Recording || recorder.is_active(&id) {
        return Err(ApiFailure(StatusCode::CONFLICT, format!("recording {id} is still running: stop it, then build its highlights")));
    }
    let files = recorder.store().reel_files(&id);
    if !files.recording.is_file() {
        return Err(ApiFailure(StatusCode::NOT_FOUND, format!("recording {id} has no video file to cut highlights from")));
    }
    match recorder.highlights().status(&id, &files) {
        ready @ ReelStatus::Ready { .. } => return Ok((StatusCode::OK, Json(ready))),
        building @ ReelStatus::Building { .. } => return Ok((StatusCode::ACCEPTED, Json(building))),
        ReelStatus::None | ReelStatus::Failed { .. } => {}
    }
    recorder.highlights().forget(&id);
    let status = recorder.highlights().start(&id, sidecar, files, compositor::reel::Rules::default());
    Ok((StatusCode::ACCEPTED, Json(status)))
}

fn no_reel(id: &RecordingId) -> ApiFailure {
    ApiFailure(StatusCode::NOT_FOUND, format!("recording {id} has no highlight reel yet: POST /api/recordings/{id}/highlights builds it"))
}

async fn highlights_video(State(state): State<Arc<AppState>>, ValidRecordingId(id): ValidRecordingId, request: Request) -> Result<Response, ApiFailure> {
    state.recorder.store().read_sidecar(&id)?;
    let files = state.recorder.store().reel_files(&id);
    if highlights::read_clips(&files).is_none() {
        return Err(no_reel(&id));
    }
    serve_mp4(files.reel, request).await
}

async fn highlights_clips(State(state): State<Arc<AppState>>, ValidRecordingId(id): ValidRecordingId) -> Result<Json<Vec<compositor::highlights::ReelClip>>, ApiFailure> {
    state.recorder.store().read_sidecar(&id)?;
    highlights::read_clips(&state.recorder.store().reel_files(&id)).map(Json).ok_or_else(|| no_reel(&id))
}

async fn list_rooms(State(state): State<Arc<AppState>>) -> Json<Vec<RoomView>> {
    Json(state.rooms.list().await.iter().map(|r| r.view()).collect())
}

async fn get_room(State(state): State<Arc<AppState>>, ValidRoomId(id): ValidRoomId) -> Result<Json<RoomView>, ApiFailure> {
    match state.rooms.get(&id).await {
        Some(room) => Ok(Json(room.view())),
        None => Err(ApiFailure(StatusCode::NOT_FOUND, format!("no meeting in room {id} right now"))),
    }
}

/// The signaling WebSocket of one participant (protocol in docs/signaling.md).
async fn room_socket(State(state): State<Arc<AppState>>, ValidRoomId(id): ValidRoomId, ws: WebSocketUpgrade) -> Response {
    let ctx = SessionContext { rooms: Arc::clone(&state.rooms), shutdown: state.shutdown.clone() };
    // Frames over 64 KiB get an error reply from the session; only far larger ones
    // (which no client of ours sends) end the connection at this transport limit.
    ws.max_message_size(1 << 20).max_frame_size(1 << 20).on_upgrade(move |socket| session::run(socket, id, ctx))
}

#[derive(Serialize)]
struct DebugDump {
    workers: Vec<WorkerHealth>,
    webrtc_transports: usize,
    rooms: Vec<RoomDump>,
}

/// What mediasoup holds, for operators and leak tests: routers per worker, WebRTC
/// transports on the WebRtcServers, and each room's transports, producers, consumers.
async fn debug_dump(State(state): State<Arc<AppState>>) -> Result<Json<DebugDump>, ApiFailure> {
    let mut webrtc_transports = 0;
    for w in state.pool.workers() {
        let dump = w.webrtc_server.dump().await.map_err(|e| ApiFailure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        webrtc_transports += dump.webrtc_transport_ids.len();
    }
    let mut rooms = Vec::new();
    for room in state.rooms.list().await {
        rooms.push(room.dump().await.map_err(|e| ApiFailure(StatusCode::INTERNAL_SERVER_ERROR, e))?);
    }
    Ok(Json(DebugDump { workers: state.pool.health().await, webrtc_transports, rooms }))
}

async fn api_not_found(uri: Uri) -> (StatusCode, Json<ApiError>) {
    (StatusCode::NOT_FOUND, Json(ApiError { error: format!("no such API endpoint: {}", uri.path()) }))
}

/// Serves the embedded web bundle. Page routes of the single-page UI (`/`,
/// `/rooms/...`, `/recordings/...`) all get index.html; the script routes on the URL.
async fn web_asset(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if let Some(asset) = assets::find(path) {
        return ([(header::CONTENT_TYPE, asset.content_type)], asset.bytes).into_response();
    }
    let is_page = path.is_empty() || path.starts_with("rooms/") || path == "recordings" || path.starts_with("recordings/");
    if !is_page {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    match assets::find("index.html") {
        Some(index) => ([(header::CONTENT_TYPE, index.content_type), (header::CACHE_CONTROL, "no-cache")], index.bytes).into_response(),
        None => Html(assets::NOT_BUILT_PAGE).into_response(),
    }
}

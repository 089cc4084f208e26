//! HTTP routes. Handlers stay thin: they read shared state and turn it into JSON.
use crate::assets;
use crate::media::{WorkerHealth, WorkerPool};
use crate::recording::{RecordError, Recorder, RecordingId, RecordingView, StoreError};
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
        .route("/api/recordings/{id}", get(get_recording))
        .route("/api/recordings/{id}/video", get(recording_video))
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
    let store = Arc::clone(&state.recorder);
    // Reading every sidecar touches the disk: off the async workers.
    Json(tokio::task::spawn_blocking(move || store.store().list()).await.unwrap_or_default())
}

async fn get_recording(State(state): State<Arc<AppState>>, ValidRecordingId(id): ValidRecordingId) -> Result<Json<RecordingView>, ApiFailure> {
    Ok(Json(state.recorder.store().read(&id)?))
}

/// The mp4, with Range requests (players seek with them). A recording still running
/// serves what is written so far.
async fn recording_video(State(state): State<Arc<AppState>>, ValidRecordingId(id): ValidRecordingId, request: Request) -> Result<Response, ApiFailure> {
    let path = state.recorder.store().video_path(&id);
    if !path.is_file() {
        state.recorder.store().read(&id)?;
        return Err(ApiFailure(StatusCode::NOT_FOUND, format!("recording {id} has no video file")));
    }
    let response = tower_http::services::ServeFile::new_with_mime(path, &"video/mp4".parse().expect("a mime type"))
        .oneshot(request)
        .await
        .map_err(|e| ApiFailure(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the video: {e}")))?;
    Ok(response.into_response())
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

//! For operators: health, the debug dump, and the JSON answers for unknown endpoints
//! and methods.
use super::extract::Auth;
use super::{ApiError, AppState};
use crate::media::WorkerHealth;
use crate::room::RoomDump;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    version: &'static str,
    workers: Vec<WorkerHealth>,
    recordings: RecordingsHealth,
}

/// How many recordings run, and how many of the server's settings could run now in all
/// (admission's estimate, at most `--max-recordings`; only the running ones while the
/// recordings' disk is below `--recording-min-free-mb`).
#[derive(Serialize)]
pub struct RecordingsHealth {
    running: usize,
    capacity_estimate: usize,
}

/// 200 `{"status":"ok",...}` while every worker is alive; 503 with status "degraded"
/// otherwise, so that a load balancer or a supervisor can act on it.
pub async fn health(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    let workers = state.pool.health().await;
    let ok = !workers.is_empty() && workers.iter().all(|w| w.alive);
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let status = if ok { "ok" } else { "degraded" };
    let capacity = state.recorder.capacity().await;
    let recordings = RecordingsHealth { running: capacity.running, capacity_estimate: capacity.capacity_estimate };
    (code, Json(Health { status, version: env!("CARGO_PKG_VERSION"), workers, recordings }))
}

#[derive(Serialize)]
pub struct DebugDump {
    workers: Vec<WorkerHealth>,
    webrtc_transports: usize,
    rooms: Vec<RoomDump>,
}

/// What mediasoup holds, for operators and leak tests: routers per worker, WebRTC
/// transports on the WebRtcServers, and each room's transports, producers, consumers.
pub async fn debug_dump(State(state): State<Arc<AppState>>, auth: Auth) -> Result<Json<DebugDump>, ApiError> {
    auth.check(|a| a.may_administer("read the debug dump"))?;
    let mut webrtc_transports = 0;
    for w in state.pool.workers() {
        let dump = w.webrtc_server.dump().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        webrtc_transports += dump.webrtc_transport_ids.len();
    }
    let mut rooms = Vec::new();
    for room in state.rooms.list().await {
        rooms.push(room.dump().await.map_err(|e| ApiError::Internal(e.to_string()))?);
    }
    Ok(Json(DebugDump { workers: state.pool.health().await, webrtc_transports, rooms }))
}

pub async fn api_not_found(uri: Uri) -> ApiError {
    // The path is the client's own text: quoted briefly (a 60,000-character path came
    // back whole).
    ApiError::NotFound(crate::protocol::quoted_briefly(format!("no such API endpoint: {}", uri.path())))
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

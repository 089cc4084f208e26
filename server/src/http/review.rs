//! What the review page reads besides the video: the speaker track and the highlight reel.
use super::extract::{Auth, ValidPath};
use super::recordings::serve_mp4;
use super::{ApiError, AppState};
use crate::recording::highlights::{self, ReelStatus};
use crate::recording::RecordingId;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

/// The recording's sidecar, once the caller may view it.
fn check_viewer(state: &AppState, auth: &Auth, id: &RecordingId) -> Result<compositor::output::sidecar::Sidecar, ApiError> {
    let sidecar = super::recordings::known_sidecar(state, auth, id)?;
    auth.check(|a| a.may_view_recording(id, &sidecar.room))?;
    Ok(sidecar)
}

/// The speaker timeline as WebVTT, one cue per turn.
pub async fn speakers_vtt(State(state): State<Arc<AppState>>, auth: Auth, ValidPath(id): ValidPath<RecordingId>) -> Result<Response, ApiError> {
    let sidecar = check_viewer(&state, &auth, &id)?;
    let body = compositor::review::vtt::speakers_vtt(&sidecar.timeline, &sidecar.screen_shares);
    Ok(([(header::CONTENT_TYPE, "text/vtt; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], body).into_response())
}

/// Builds the highlight reel: 202 while it builds (a second request joins the running
/// build), 200 once it exists; the recorder refuses one still recording (409).
pub async fn build_highlights(State(state): State<Arc<AppState>>, auth: Auth, ValidPath(id): ValidPath<RecordingId>) -> Result<(StatusCode, Json<ReelStatus>), ApiError> {
    check_viewer(&state, &auth, &id)?;
    let status = state.recorder.build_reel(&id)?;
    let code = if matches!(status, ReelStatus::Ready { .. }) { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((code, Json(status)))
}

fn no_reel(id: &RecordingId) -> ApiError {
    ApiError::NotFound(format!("recording {id} has no highlight reel yet: POST /api/recordings/{id}/highlights builds it"))
}

pub async fn highlights_video(State(state): State<Arc<AppState>>, auth: Auth, ValidPath(id): ValidPath<RecordingId>, request: Request) -> Result<Response, ApiError> {
    check_viewer(&state, &auth, &id)?;
    let files = state.recorder.store().reel_files(&id);
    if highlights::read_clips(&files).is_none() {
        return Err(no_reel(&id));
    }
    serve_mp4(files.reel, request).await
}

pub async fn highlights_clips(State(state): State<Arc<AppState>>, auth: Auth, ValidPath(id): ValidPath<RecordingId>) -> Result<Json<Vec<compositor::review::highlights::ReelClip>>, ApiError> {
    check_viewer(&state, &auth, &id)?;
    highlights::read_clips(&state.recorder.store().reel_files(&id)).map(Json).ok_or_else(|| no_reel(&id))
}

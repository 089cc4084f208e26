//! `/api/session`: a page trades the token of its link for an HttpOnly cookie (so the
//! token leaves the address bar, history and Referer), and asks who it is.
use super::extract::{access_of, bearer, Auth, ClientIp, SESSION_COOKIE, SHARE_COOKIE};
use super::{ApiError, AppState};
use crate::auth::token::{rfc3339, unix_now};
use crate::auth::{Access, RoomGrant};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Serialize)]
pub struct SessionView {
    /// `open` (no secret) or `secured`.
    mode: &'static str,
    /// `open`, `access` (a role in a room) or `share` (one recording).
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    name: Option<String>,
    room: Option<String>,
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recording: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

fn view(secured: bool, access: &Access) -> SessionView {
    let mode = if secured { "secured" } else { "open" };
    match access {
        Access::Open => SessionView { mode, kind: "open", sub: None, name: None, room: Some("*".into()), role: Some("admin"), recording: None, expires_at: None },
        Access::User(c) => SessionView {
            mode,
            kind: "access",
            sub: Some(c.sub.clone()),
            name: Some(c.name.clone()),
            room: Some(match &c.room {
                RoomGrant::All => "*".into(),
                RoomGrant::One(r) => r.to_string(),
            }),
            role: Some(c.role.as_str()),
            recording: None,
            expires_at: Some(rfc3339(c.exp)),
        },
        Access::Share(s) => SessionView { mode, kind: "share", sub: None, name: None, room: None, role: None, recording: Some(s.recording.to_string()), expires_at: Some(rfc3339(s.exp)) },
    }
}

pub async fn current(State(state): State<Arc<AppState>>, auth: Auth) -> Json<SessionView> {
    Json(view(state.security.secured, &auth.access))
}

fn cookie_header(name: &str, value: &str, path: &str, max_age: u64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")).expect("a token is a valid header value")
}

/// Trades `Authorization: Bearer TOKEN` for a session cookie.
pub async fn start(State(state): State<Arc<AppState>>, ClientIp(ip): ClientIp, parts: Parts) -> Result<Response, ApiError> {
    let token = bearer(&parts).ok_or_else(|| ApiError::Unauthorized("send the link's token as `Authorization: Bearer TOKEN`".into()))??;
    let access = access_of(&state, token)?;
    let now = unix_now();
    let tls = state.security.https();
    let cookie = match &access {
        Access::User(c) => cookie_header(SESSION_COOKIE, token, "/", c.exp.saturating_sub(now), tls),
        // Sent by the browser only to that recording's API.
        Access::Share(s) => cookie_header(SHARE_COOKIE, token, &format!("/api/recordings/{}", s.recording), s.exp.saturating_sub(now), tls),
        Access::Open => unreachable!("a token never verifies to open mode"),
    };
    tracing::info!(target: "audit", action = "session.start", sub = %access.audit_sub(), role = %access.audit_role(), ip = %ip, "session started");
    let mut response = Json(view(state.security.secured, &access)).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Forgets the session (and a share link's cookie is left to expire on its own path).
pub async fn end(State(state): State<Arc<AppState>>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie_header(SESSION_COOKIE, "", "/", 0, state.security.https()));
    response
}

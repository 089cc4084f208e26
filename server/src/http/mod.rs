//! The HTTP API and pages. Laid out by concern: [`error`] (the one error type),
//! [`extract`] (validated path segments, who is asking), [`guard`] (the checks every
//! request passes: Host, cross-site, headers), and one file per resource. Handlers
//! stay thin: they ask [`crate::auth::Access`] whether the caller may, then the domain
//! types (rooms, the recorder) do the work and keep their own rules.
pub mod error;
pub mod extract;
pub mod client_addr;
mod compression;
pub mod guard;
pub mod host_rule;
mod metrics;
mod ops;
mod pages;
mod recordings;
mod review;
mod rooms;
mod session;

pub use error::ApiError;

use crate::auth::Keys;
use crate::media::WorkerPool;
use crate::recording::Recorder;
use crate::room::Rooms;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// How the server guards itself (from `podium serve`'s flags).
pub struct Security {
    /// Signs and checks tokens: the configured secret, or in open mode a secret of this
    /// process (for share links only).
    pub keys: Keys,
    /// A secret is configured: every page and API call needs a token.
    pub secured: bool,
    /// Which `Host` names are answered: any when secured, loopback names in open mode,
    /// the machine's addresses and names with `--insecure-open` (stops DNS rebinding).
    pub hosts: host_rule::HostRule,
    /// Served over TLS (cookies get `Secure`, links `https://`).
    pub tls: bool,
    /// `--allowed-origin`: may open sockets, send requests and frame the pages.
    pub allowed_origins: Vec<String>,
    /// `--public-url`: the origin people reach the server at, behind a reverse proxy.
    /// Links are built with it, and requests from it are this server's own.
    pub public_origin: Option<String>,
    pub max_sockets_per_ip: usize,
    /// `--trusted-proxy`: peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<crate::net::IpRange>,
}

impl Security {
    /// Open mode on loopback, as `podium serve` runs with no secret (and as in-process
    /// tests use the router).
    pub fn open(port: u16) -> Self {
        Self {
            keys: Keys::new(&crate::auth::Secret::ephemeral()),
            secured: false,
            hosts: host_rule::HostRule::loopback(port, false, []),
            tls: false,
            allowed_origins: Vec::new(),
            public_origin: None,
            max_sockets_per_ip: 50,
            trusted_proxies: Vec::new(),
        }
    }

    /// Pages reach the server over HTTPS: its own TLS, or a proxy's in front of it
    /// (`--public-url https://…`). Cookies are then `Secure`.
    pub fn https(&self) -> bool {
        self.tls || self.public_origin.as_deref().is_some_and(|o| o.starts_with("https://"))
    }

    /// Open mode for callers inside the process (tests driving the router directly):
    /// their requests carry no `Host` to check.
    pub fn in_process() -> Self {
        Self { hosts: host_rule::HostRule::Any, ..Self::open(0) }
    }
}

pub struct AppState {
    pub pool: Arc<WorkerPool>,
    pub rooms: Arc<Rooms>,
    pub recorder: Arc<Recorder>,
    /// Becomes true when the server starts shutting down.
    pub shutdown: watch::Receiver<bool>,
    pub security: Security,
    /// Open signaling sockets per client IP.
    pub sockets: Mutex<HashMap<IpAddr, usize>>,
    /// Signaling's paces per client address, shared by its sockets.
    pub paces: Arc<crate::session::ClientPaces>,
}

impl AppState {
    pub fn new(pool: Arc<WorkerPool>, rooms: Arc<Rooms>, recorder: Arc<Recorder>, shutdown: watch::Receiver<bool>, security: Security) -> Self {
        Self { pool, rooms, recorder, shutdown, security, sockets: Mutex::new(HashMap::new()), paces: Arc::default() }
    }
}

/// Who may call a route (docs/security.md). Every route is listed in [`ROUTES`] with
/// its rule; a route missing from it is refused with a 500 (see [`guard`]), and a test
/// checks every rule against the running server for every role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone (health, static assets).
    Public,
    /// Anyone; what it answers depends on the credentials (the session itself).
    Session,
    /// A member of the room in the path: guest, host or admin.
    RoomMember,
    /// A host of the room in the path, or an admin.
    RoomHost,
    /// A host of the recording's room, an admin, or a share link of that recording.
    RecordingViewer,
    /// A host of the recording's room, or an admin (not a share link).
    RecordingHost,
    /// A host (their room's recordings) or an admin (all).
    Library,
    Admin,
}

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub rule: Rule,
}

const fn route(method: &'static str, path: &'static str, rule: Rule) -> Route {
    Route { method, path, rule }
}

/// A recording's start or layout change carries at most a small JSON object.
const LAYOUT_BODY_LIMIT: usize = 1024;
/// `{"expires_in_s": N}`.
const SHARE_BODY_LIMIT: usize = 1024;

/// Every API route and its rule.
pub const ROUTES: &[Route] = &[
    route("GET", "/api/health", Rule::Public),
    route("GET", "/api/session", Rule::Session),
    route("POST", "/api/session", Rule::Session),
    route("DELETE", "/api/session", Rule::Session),
    route("GET", "/api/rooms", Rule::Admin),
    route("GET", "/api/rooms/{room}", Rule::RoomMember),
    route("GET", "/api/rooms/{room}/ws", Rule::RoomMember),
    route("POST", "/api/rooms/{room}/recording", Rule::RoomHost),
    route("PATCH", "/api/rooms/{room}/recording", Rule::RoomHost),
    route("DELETE", "/api/rooms/{room}/recording", Rule::RoomHost),
    route("DELETE", "/api/rooms/{room}/participants/{participant}", Rule::RoomHost),
    route("GET", "/api/recordings", Rule::Library),
    route("GET", "/api/recordings/{id}", Rule::RecordingViewer),
    route("DELETE", "/api/recordings/{id}", Rule::Admin),
    route("GET", "/api/recordings/{id}/video", Rule::RecordingViewer),
    route("GET", "/api/recordings/{id}/speakers.vtt", Rule::RecordingViewer),
    route("GET", "/api/recordings/{id}/highlights", Rule::RecordingViewer),
    route("POST", "/api/recordings/{id}/highlights", Rule::RecordingViewer),
    route("GET", "/api/recordings/{id}/highlights.json", Rule::RecordingViewer),
    route("POST", "/api/recordings/{id}/share", Rule::RecordingHost),
    route("DELETE", "/api/recordings/{id}/share/{share}", Rule::RecordingHost),
    route("GET", "/api/debug/dump", Rule::Admin),
    route("GET", "/api/metrics", Rule::Admin),
];

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/health", get(ops::health))
        .route("/api/session", get(session::current).post(session::start).delete(session::end))
        .route("/api/rooms", get(rooms::list))
        .route("/api/rooms/{room}", get(rooms::get_one))
        .route("/api/rooms/{room}/ws", get(rooms::socket))
        .route("/api/rooms/{room}/recording", post(rooms::start_recording).patch(rooms::change_recording).delete(rooms::stop_recording).layer(DefaultBodyLimit::max(LAYOUT_BODY_LIMIT)))
        .route("/api/rooms/{room}/participants/{participant}", delete(rooms::remove_participant))
        .route("/api/recordings", get(recordings::list))
        .route("/api/recordings/{id}", get(recordings::get_one).delete(recordings::delete_one))
        .route("/api/recordings/{id}/video", get(recordings::video))
        .route("/api/recordings/{id}/speakers.vtt", get(review::speakers_vtt))
        .route("/api/recordings/{id}/highlights", get(review::highlights_video).post(review::build_highlights))
        .route("/api/recordings/{id}/highlights.json", get(review::highlights_clips))
        .route("/api/recordings/{id}/share", post(recordings::share).layer(DefaultBodyLimit::max(SHARE_BODY_LIMIT)))
        .route("/api/recordings/{id}/share/{share}", delete(recordings::revoke_share))
        .route("/api/debug/dump", get(ops::debug_dump))
        .route("/api/metrics", get(metrics::metrics))
        .route("/api/{*rest}", axum::routing::any(ops::api_not_found))
        .fallback(pages::page_or_asset)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), guard::guard))
        .layer(compression::layer())
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route(` in this file has a rule in ROUTES, and every rule a route.
    #[test]
    fn every_route_has_a_rule() {
        let source = include_str!("mod.rs");
        let start = source.find("pub fn router").unwrap();
        let end = source[start..].find("\n}\n").unwrap() + start;
        let mut registered: Vec<&str> = source[start..end].split(".route(\"").skip(1).map(|s| s.split('"').next().unwrap()).filter(|p| *p != "/api/{*rest}").collect();
        registered.sort_unstable();
        registered.dedup();
        let mut ruled: Vec<&str> = ROUTES.iter().map(|r| r.path).collect();
        ruled.sort_unstable();
        ruled.dedup();
        assert_eq!(registered, ruled, "a route without a rule in ROUTES (or a rule without a route)");
    }
}

//! Typed extractors: validated path segments (the only way a request names a room, a
//! recording or a share), [`Auth`], who is asking, and [`Body`], a request body whose
//! refusals are JSON like every other error.
use super::{ApiError, AppState};
use crate::auth::{Access, Token, TokenError};
use crate::recording::RecordingId;
use crate::room::RoomId;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::header;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "podium_session";
pub const SHARE_COOKIE: &str = "podium_share";

/// A path segment that parses into a domain id, or a 400 saying what it should be.
pub trait PathSegment: Sized {
    const WHAT: &'static str;
    /// Says what a segment of this kind looks like.
    type Invalid: std::fmt::Display;
    fn parse_segment(raw: &str) -> Result<Self, Self::Invalid>;
}

impl PathSegment for RoomId {
    const WHAT: &'static str = "room id";
    type Invalid = crate::room::InvalidRoomId;
    fn parse_segment(raw: &str) -> Result<Self, Self::Invalid> {
        RoomId::parse(raw)
    }
}

impl PathSegment for RecordingId {
    const WHAT: &'static str = "recording id";
    type Invalid = crate::recording::InvalidRecordingId;
    fn parse_segment(raw: &str) -> Result<Self, Self::Invalid> {
        RecordingId::parse(raw)
    }
}

/// A share's id (`[a-z0-9]{12}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareId(pub String);

impl PathSegment for ShareId {
    const WHAT: &'static str = "share id";
    type Invalid = &'static str;
    fn parse_segment(raw: &str) -> Result<Self, Self::Invalid> {
        if crate::auth::token::is_valid_share_id(raw) {
            Ok(ShareId(raw.to_string()))
        } else {
            Err("a share id is 12 letters and digits")
        }
    }
}

/// A participant's id (as the room made it: 12 hex digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantIdSegment(pub String);

impl PathSegment for ParticipantIdSegment {
    const WHAT: &'static str = "participant id";
    type Invalid = &'static str;
    fn parse_segment(raw: &str) -> Result<Self, Self::Invalid> {
        if raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(raw.to_string()))
        } else {
            Err("a participant id is 12 hexadecimal digits")
        }
    }
}

/// The validated path segments of a route: one (`ValidPath<RoomId>`) or two
/// (`ValidPath<(RecordingId, ShareId)>`).
pub struct ValidPath<T>(pub T);

fn segment<T: PathSegment>(raw: &str) -> Result<T, ApiError> {
    T::parse_segment(raw).map_err(|e| ApiError::BadRequest(format!("invalid {}: {e}", T::WHAT)))
}

impl<S: Send + Sync, T: PathSegment> FromRequestParts<S> for ValidPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await.map_err(|e| ApiError::BadRequest(e.to_string()))?;
        segment(&raw).map(ValidPath)
    }
}

impl<S: Send + Sync, A: PathSegment, B: PathSegment> FromRequestParts<S> for ValidPath<(A, B)> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state).await.map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok(ValidPath((segment(&a)?, segment(&b)?)))
    }
}

/// The client's IP address: as the guard resolved it (behind a trusted proxy, the one
/// it names), else the TCP peer's (loopback when the request came from inside the
/// process).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(super::client_addr::ClientAddr(ip)) = parts.extensions.get() {
            return Ok(ClientIp(*ip));
        }
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
        Ok(ClientIp(ip))
    }
}

/// Who is asking: from `Authorization: Bearer`, then (for the signaling socket only)
/// `?token=`, then the session cookie. A share link's cookie rides along as a second
/// credential, since browsers send it only to its own recording's API.
#[derive(Debug, Clone)]
pub struct Auth {
    pub access: Access,
    pub share: Option<Access>,
    pub ip: IpAddr,
}

impl Auth {
    /// Whether `rule` lets this caller through, with the session first, then the share.
    pub fn check<T>(&self, rule: impl Fn(&Access) -> Result<T, crate::auth::Denied>) -> Result<T, ApiError> {
        match rule(&self.access) {
            Ok(v) => Ok(v),
            Err(denied) => match &self.share {
                Some(share) => rule(share).map_err(ApiError::from),
                None => Err(denied.into()),
            },
        }
    }

    /// Whether the access, or else the share link beside it, passes `test`.
    pub fn any(&self, test: impl Fn(&Access) -> bool) -> bool {
        test(&self.access) || self.share.as_ref().is_some_and(test)
    }

    /// For the audit log: `sub`, role and client IP.
    pub fn who(&self) -> (crate::auth::AuditSub, &'static str, IpAddr) {
        (self.access.audit_sub(), self.access.audit_role(), self.ip)
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn bearer(parts: &Parts) -> Option<Result<&str, ApiError>> {
    let value = parts.headers.get(header::AUTHORIZATION)?;
    let value = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    Some(value.map(str::trim).ok_or_else(|| ApiError::Unauthorized("the Authorization header is not `Bearer TOKEN`".into())))
}

/// The signaling socket's `?token=`.
fn query_token(parts: &Parts) -> Option<String> {
    if !parts.uri.path().ends_with("/ws") {
        return None;
    }
    let query = parts.uri.query()?;
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == "token").map(|(_, v)| v.to_string())
}

/// Turns a verified token into an access; a share is honoured only while it is live.
pub fn access_of(state: &AppState, token: &str) -> Result<Access, ApiError> {
    let now = crate::auth::token::unix_now();
    match state.security.keys.verify(token, now)? {
        Token::Access(claims) => Ok(Access::User(claims)),
        Token::Share(share) => {
            if state.recorder.shares().is_live(&share.recording, &share.share_id, now) {
                Ok(Access::Share(share))
            } else {
                Err(ApiError::Gone("this share link was revoked or has expired: ask whoever shared it for a new one".into()))
            }
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await.expect("infallible");
        if !state.security.secured {
            return Ok(Auth { access: Access::Open, share: None, ip });
        }
        // A share cookie that no longer opens anything is answered as such (410) when
        // the request has no other credential.
        let (share, share_error) = match cookie(parts, SHARE_COOKIE).map(|t| access_of(state, t)) {
            Some(Ok(share)) => (Some(share), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let token = match bearer(parts) {
            Some(token) => Some(token?.to_string()),
            None => query_token(parts).or_else(|| cookie(parts, SESSION_COOKIE).map(str::to_string)),
        };
        match (token, share) {
            (Some(token), share) => match access_of(state, &token) {
                Ok(access) => Ok(Auth { access, share, ip }),
                // A stale session cookie does not hide a live share link.
                Err(_) if share.is_some() => Ok(Auth { access: share.clone().expect("checked"), share: None, ip }),
                Err(e) => Err(e),
            },
            (None, Some(share)) => Ok(Auth { access: share, share: None, ip }),
            (None, None) => Err(share_error.unwrap_or_else(|| TokenError::Missing.into())),
        }
    }
}

/// A request's body (within the route's `DefaultBodyLimit`). Over the limit it is a 413
/// `{"error": …}`, not axum's plain-text answer; a handler parses it itself and answers
/// a fixed message, never serde's (which quotes the client's text back).
pub struct Body(pub axum::body::Bytes);

impl Body {
    /// The body as the JSON object `T` is, or `None`. Only an object: serde fills a
    /// struct from an array too (`["grid", 500]` by position), past `deny_unknown_fields`
    /// and the API's "a JSON object" (a probe started a recording with `["grid","320x180"]`).
    pub fn object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
        if body.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(body).ok()
    }
}

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::PayloadTooLarge("the request body is too large: these requests take a small JSON object".into())),
            Err(_) => Err(ApiError::BadRequest("the request body could not be read".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Body;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Share {
        expires_in_s: u64,
    }

    #[test]
    fn a_body_is_taken_only_as_a_json_object() {
        assert_eq!(Body::object::<Share>(br#" {"expires_in_s": 60}"#), Some(Share { expires_in_s: 60 }));
        // serde alone takes an array by position: not a body the API accepts.
        assert_eq!(serde_json::from_slice::<Share>(b"[60]").unwrap(), Share { expires_in_s: 60 });
        for bad in [&b"[60]"[..], b" \n[60]", b"[]", b"60", b"\"60\"", b"null", b"", br#"{"expires_in_s": 60, "x": 1}"#] {
            assert_eq!(Body::object::<Share>(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}

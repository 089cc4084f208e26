//! What every request passes before its handler, in both modes:
//! - one `Host` header at most (two are a 400);
//! - open mode: the `Host` must be a loopback name, or with `--insecure-open` an
//!   address or a name of the machine (stops DNS rebinding, [`super::host_rule`]);
//! - a state-changing request from another site is refused (stops CSRF): its `Origin`
//!   must be ours or allowed, and `Sec-Fetch-Site` must not say `cross-site`;
//! - an API route must have an access rule in [`super::ROUTES`];
//! - every answer carries the security headers (CSP, nosniff, no referrer, framing).
use super::client_addr::{client_addr, ClientAddr};
use super::{ApiError, AppState, ROUTES};
use axum::extract::ConnectInfo;
use std::net::SocketAddr;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub async fn guard(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    // Counted before an absolute-form target replaces them all (which would hide a second).
    let hosts = request.headers().get_all(header::HOST).iter().count();
    name_client(&state, &mut request);
    name_host_from_authority(&mut request);
    let mut response = match admit(&state, &request, hosts) {
        Err(e) => e.into_response(),
        Ok(()) => next.run(request).await,
    };
    if api {
        // What the API answers depends on who asks, and a revoked share or a deleted
        // recording must not live on in a cache.
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    with_headers(&state, response)
}

fn admit(state: &AppState, request: &Request, hosts: usize) -> Result<(), ApiError> {
    let headers = request.headers();
    // RFC 9112 §3.2: a request with more than one Host is a 400. The checks below and
    // the links built from Host read the first; a proxy might forward by another.
    if hosts > 1 {
        return Err(ApiError::BadRequest("the request has more than one Host header".into()));
    }
    let host = headers.get(header::HOST).map(|h| h.to_str().unwrap_or("\u{fffd}"));
    state.security.hosts.check(host).map_err(|refused| ApiError::Forbidden(refused.to_string()))?;
    let changes_state = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    if changes_state {
        check_same_site(state, headers)?;
    }
    if let Some(matched) = request.extensions().get::<MatchedPath>() {
        let path = matched.as_str();
        // HEAD is a GET without its body (axum answers it from the GET handler).
        let method = if request.method() == Method::HEAD { "GET" } else { request.method().as_str() };
        let known = path == "/api/{*rest}" || !path.starts_with("/api/") || ROUTES.iter().any(|r| r.path == path && r.method == method);
        if !known && ROUTES.iter().any(|r| r.path == path) {
            return Err(ApiError::MethodNotAllowed);
        }
        if !known {
            return Err(ApiError::Internal(format!("route {path} has no access rule")));
        }
    }
    Ok(())
}

/// Who the request comes from, for the limits and the audit log: the TCP peer, or
/// behind a trusted proxy the client it names ([`super::client_addr`]).
fn name_client(state: &AppState, request: &mut Request) {
    let Some(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) else { return };
    let forwarded = request.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    let client = client_addr(peer, forwarded.into_iter(), &state.security.trusted_proxies);
    request.extensions_mut().insert(ClientAddr(client));
}

/// HTTP/2 names the host in `:authority`, which hyper leaves in the URI, and sends no
/// `Host`; an HTTP/1.1 request in absolute form (`GET http://a.example/ HTTP/1.1`)
/// names it in its target, which wins over its `Host` (RFC 9112 §3.2.2). The checks
/// below and the handlers read `Host`, so it is set from the URI's authority when there
/// is one.
fn name_host_from_authority(request: &mut Request) {
    let Some(authority) = request.uri().authority() else { return };
    let host = match authority.port() {
        Some(port) => format!("{}:{}", authority.host(), port.as_str()),
        None => authority.host().to_string(),
    };
    match HeaderValue::from_str(&host) {
        // `insert` replaces every `Host` there was.
        Ok(value) => {
            request.headers_mut().insert(header::HOST, value);
        }
        // An authority that is no header value: no `Host` is left to pass for it.
        Err(_) => {
            request.headers_mut().remove(header::HOST);
        }
    }
}

/// `scheme://host` of this server as the request names it, if its `Host` is a host name
/// or address with an optional port (and nothing that could bend a URL built from it).
pub fn own_origin(headers: &HeaderMap, tls: bool) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?.to_ascii_lowercase();
    let plain = !host.is_empty() && host.len() <= 255 && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
    plain.then(|| format!("{}://{host}", if tls { "https" } else { "http" }))
}

/// Where links to this server point: `--public-url` when set (a reverse proxy may pass
/// on a `Host` of its own), else the origin the request names.
pub fn link_origin(state: &AppState, headers: &HeaderMap) -> Option<String> {
    state.security.public_origin.clone().or_else(|| own_origin(headers, state.security.tls))
}

/// An `Origin` header that is neither ours nor allowed: `Err` with why.
pub fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
    let ours = own_origin(headers, state.security.tls);
    let public = state.security.public_origin.as_ref();
    if Some(&origin) == ours.as_ref() || Some(&origin) == public || state.security.allowed_origins.iter().any(|o| *o == origin) {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!("requests from {origin} are not accepted: only this server's own pages (and --allowed-origin) may")))
}

fn check_same_site(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let cross_site = headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    let has_origin = headers.contains_key(header::ORIGIN);
    // An allowed embedding origin is cross-site by definition: its Origin decides.
    if cross_site && !has_origin {
        return Err(ApiError::Forbidden("cross-site requests are not accepted".into()));
    }
    check_origin(state, headers)
}

fn with_headers(state: &AppState, mut response: Response) -> Response {
    let frame_ancestors = if state.security.allowed_origins.is_empty() {
        "'none'".to_string()
    } else {
        format!("'self' {}", state.security.allowed_origins.join(" "))
    };
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
    );
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // No other site may embed a recording's video or any answer in its page (`<video
    // src>` or `<img>` need no CORS, and a sibling subdomain is same-site, so it gets
    // the SameSite cookie). An embedding frame loads from this origin: unaffected.
    headers.insert(HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin"));
    if state.security.allowed_origins.is_empty() {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

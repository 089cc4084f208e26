//! The recordings library: list, view, play, delete, share.
use super::extract::{Auth, Body, ShareId, ValidPath};
use super::guard::link_origin;
use super::{ApiError, AppState};
use crate::auth::token::{rfc3339, unix_now};
use crate::auth::{Access, Library, ShareClaims};
use crate::recording::shares::{new_share_id, Share, MAX_SHARE_SECONDS};
use crate::recording::listing::{Cursor, ListQuery};
use crate::recording::{RecordError, RecordingId, RecordingView, StoreError};
use compositor::output::sidecar::Sidecar;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::header::LINK;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tower::ServiceExt;

/// Recording `id`'s sidecar, once the caller may know it exists. Guests and other
/// recordings' share links are refused before the disk is read; a host of another room
/// is answered "no recording", as for an id that does not exist, and so is anyone but an
/// admin asking for one whose sidecar is damaged (its room cannot be told).
pub(super) fn known_sidecar(state: &AppState, auth: &Auth, id: &RecordingId) -> Result<Sidecar, ApiError> {
    auth.check(|a| a.may_view_some_recording(id))?;
    let hidden = || ApiError::from(StoreError::NotFound(id.clone()));
    // Another room's recording is hidden before its sidecar is read: parsing it first
    // made the same 404 take 20 ms for an hour-long recording against 0.5 ms for no
    // recording at all, which told a host of one room that an id exists in another.
    if let Some(room) = state.recorder.store().indexed_room(id) {
        if !auth.any(|a| a.may_know_of_recording(id, &room)) {
            return Err(hidden());
        }
    }
    match state.recorder.store().read_sidecar(id) {
        Ok(sidecar) if auth.any(|a| a.may_know_of_recording(id, &sidecar.room)) => Ok(sidecar),
        Ok(_) => Err(hidden()),
        Err(e @ StoreError::Unreadable { .. }) if auth.any(Access::may_know_of_damage) => Err(e.into()),
        Err(StoreError::Unreadable { .. } | StoreError::NotFound(_)) => Err(hidden()),
    }
}

/// The recording, once the caller may view it; its share list for those who may share.
fn viewable(state: &AppState, auth: &Auth, id: &RecordingId) -> Result<RecordingView, ApiError> {
    let sidecar = known_sidecar(state, auth, id)?;
    auth.check(|a| a.may_view_recording(id, &sidecar.room))?;
    let mut view = state.recorder.view_of(id, sidecar);
    if auth.check(|a| a.may_share(&view.room)).is_ok() {
        // The API shows each share's id and expiry, not who made it.
        let shares = state.recorder.shares().list(id, unix_now()).into_iter().map(|s| Share { exp: 0, created_by: String::new(), ..s });
        view.shares = Some(shares.collect());
    }
    Ok(view)
}

/// `GET /api/recordings[?q=&limit=&after=]`: a page of the library, newest first
/// (docs/api.md). The body stays the array it always was; the counts and the next
/// page's link come in headers.
pub async fn list(State(state): State<Arc<AppState>>, auth: Auth, query: Result<Query<ListParams>, QueryRejection>) -> Result<Response, ApiError> {
    let library = auth.check(|a| a.library())?;
    let Query(params) = query.map_err(|e| ApiError::BadRequest(format!("the query is not q, limit and after: {}", e.body_text())))?;
    let query = ListQuery::parse(params.q.as_deref(), params.limit.as_deref(), params.after.as_deref())?;
    let recorder = Arc::clone(&state.recorder);
    let room = match library {
        Library::Room(room) => Some(room.to_string()),
        Library::All => None,
    };
    // Reading every sidecar touches the disk: off the async workers.
    let query_for_page = query.clone();
    let page = tokio::task::spawn_blocking(move || recorder.page(room.as_deref(), &query_for_page)).await.unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", page.matched.into());
    headers.insert("x-library-count", page.library.into());
    if let Some(next) = &page.next {
        headers.insert(LINK, next_link(&query, next));
    }
    Ok((headers, Json(page.recordings)).into_response())
}

/// The query string of `GET /api/recordings`, as sent (checked by [`ListQuery::parse`]).
#[derive(Deserialize)]
pub struct ListParams {
    q: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// `<URL>; rel="next"` (RFC 8288): the same search and limit, after `next`. Every value
/// is percent-encoded, so a search's text cannot break out of the header.
fn next_link(query: &ListQuery, next: &Cursor) -> HeaderValue {
    let mut url = form_urlencoded::Serializer::new(String::new());
    if let Some(search) = &query.search {
        url.append_pair("q", search.as_str());
    }
    if let Some(limit) = query.limit {
        url.append_pair("limit", &limit.to_string());
    }
    url.append_pair("after", &next.to_string());
    HeaderValue::from_str(&format!("</api/recordings?{}>; rel=\"next\"", url.finish())).expect("percent-encoded text is a header value")
}

pub async fn get_one(State(state): State<Arc<AppState>>, auth: Auth, ValidPath(id): ValidPath<RecordingId>) -> Result<Json<RecordingView>, ApiError> {
    Ok(Json(viewable(&state, &auth, &id)?))
}

/// Removes the recording's files (video, sidecar, reel, shares): an admin's call.
pub async fn delete_one(State(state): State<Arc<AppState>>, auth: Auth, ValidPath(id): ValidPath<RecordingId>) -> Result<StatusCode, ApiError> {
    auth.check(|a| a.may_administer("delete recordings"))?;
    state.recorder.delete(&id)?;
    let (sub, role, ip) = auth.who();
    tracing::info!(target: "audit", action = "recording.delete", %sub, role = %role, %ip, recording = %id, "recording deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The mp4, with Range requests (players seek with them). A recording still running
/// serves what is written so far.
pub async fn video(State(state): State<Arc<AppState>>, auth: Auth, ValidPath(id): ValidPath<RecordingId>, request: Request) -> Result<Response, ApiError> {
    viewable(&state, &auth, &id)?;
    let path = state.recorder.store().video_path(&id);
    if !path.is_file() {
        return Err(RecordError::NoVideo(id).into());
    }
    serve_mp4(path, request).await
}

/// An mp4 with Range requests, and what tower-http's `ServeFile` leaves out of RFC 9110:
/// an entity tag ([`entity_tag`]) with `If-Match`, `If-None-Match` and `If-Range` by it
/// (each standing in for its date form, 13.2.2), one range of bytes (another unit, or
/// several ranges, get the whole file: 14.2), and a suffix longer than the file (the
/// whole file, 14.1.3). A range it cannot serve, or a condition that fails, is the usual
/// JSON error.
pub async fn serve_mp4(path: std::path::PathBuf, request: Request) -> Result<Response, ApiError> {
    use axum::http::header::{ETAG, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE};
    let (parts, _) = request.into_parts();
    let mut headers = parts.headers;
    let meta = match tokio::fs::metadata(&path).await {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ApiError::NotFound("the file is gone: it was deleted".into())),
        Err(e) => return Err(ApiError::Internal(format!("cannot read the video: {e}"))),
    };
    let size = meta.len();
    let etag = entity_tag(&meta);
    if let Some(v) = take_list(&mut headers, IF_MATCH) {
        let holds = v.trim_ascii() == b"*" || entity_tags(&v).any(|(weak, tag)| !weak && tag == etag.as_bytes());
        if !holds {
            return Err(ApiError::PreconditionFailed("this file is not the version If-Match names: it changed since (a recording being written grows); ask again without If-Match".into()));
        }
        headers.remove(IF_UNMODIFIED_SINCE);
    }
    // Weighed after If-Unmodified-Since (ServeFile's), below, and in place of
    // If-Modified-Since; by the weak comparison (13.1.2).
    let none_match = take_list(&mut headers, IF_NONE_MATCH).map(|v| {
        headers.remove(IF_MODIFIED_SINCE);
        v.trim_ascii() == b"*" || entity_tags(&v).any(|(_, tag)| opaque(tag) == opaque(etag.as_bytes()))
    });
    let range = headers.remove(RANGE).and_then(|v| v.to_str().ok().map(|r| r.trim().to_string()));
    let if_range = headers.remove(IF_RANGE);
    // If-Range: the entity tag, compared strongly; or a date, the file's to the second,
    // and only once the file is a second old: a date is a strong validator only then
    // (8.8.2.2), and a recording being written changes within its second.
    let same_version = match if_range.as_ref().map(|v| v.as_bytes().trim_ascii()) {
        None => true,
        // A strong comparison: a weak tag, ours or theirs, never holds.
        Some(tag) if tag.starts_with(b"\"") || tag.starts_with(b"W/") => !etag.starts_with("W/") && tag == etag.as_bytes(),
        Some(date) => meta.modified().is_ok_and(|modified| {
            let settled = std::time::SystemTime::now().duration_since(modified).is_ok_and(|age| age >= std::time::Duration::from_secs(1));
            settled && std::str::from_utf8(date).ok().and_then(|date| date.parse::<httpdate::HttpDate>().ok()) == Some(httpdate::HttpDate::from(modified))
        }),
    };
    let one_range = range.as_deref().filter(|_| same_version).and_then(|r| r.get(..6).filter(|unit| unit.eq_ignore_ascii_case("bytes=")).map(|_| &r[6..])).filter(|spec| !spec.contains(','));
    if let Some(spec) = one_range {
        let spec = match spec.strip_prefix('-').and_then(|n| n.trim().parse::<u64>().ok()) {
            Some(n) if n >= size && size > 0 => "0-",
            _ => spec,
        };
        if let Ok(value) = format!("bytes={spec}").parse() {
            headers.insert(RANGE, value);
        }
    }
    let mut request = Request::new(axum::body::Body::empty());
    (*request.method_mut(), *request.uri_mut(), *request.headers_mut()) = (parts.method, parts.uri, headers);
    let response = tower_http::services::ServeFile::new_with_mime(&path, &"video/mp4".parse().expect("a mime type"))
        .oneshot(request)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot read the video: {e}")))?
        .into_response();
    let tagged = |mut response: Response| {
        if let Ok(value) = etag.parse() {
            response.headers_mut().insert(ETAG, value);
        }
        response
    };
    // The body is of the version the tag names only if ServeFile found the size the tag
    // was made of (the file grows while it records): else the answer goes untagged.
    let served_size = |response: &Response| {
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        match response.status() {
            StatusCode::PARTIAL_CONTENT => header(axum::http::header::CONTENT_RANGE).and_then(|r| r.rsplit('/').next()).and_then(|n| n.parse::<u64>().ok()),
            _ => header(axum::http::header::CONTENT_LENGTH).and_then(|n| n.parse::<u64>().ok()),
        }
    };
    match response.status() {
        StatusCode::PRECONDITION_FAILED => Err(ApiError::PreconditionFailed("the file changed after the time If-Unmodified-Since gives: ask without it".into())),
        // If-None-Match is weighed before the range (13.2.2).
        // Tagged only if the file ServeFile found is the one the tag was made of.
        status if (status.is_success() && served_size(&response) == Some(size) || status == StatusCode::RANGE_NOT_SATISFIABLE) && none_match == Some(true) => {
            Ok(tagged(StatusCode::NOT_MODIFIED.into_response()))
        }
        StatusCode::RANGE_NOT_SATISFIABLE => Err(ApiError::RangeNotSatisfiable { size }),
        StatusCode::NOT_MODIFIED => Ok(tagged(response)),
        status if status.is_success() && served_size(&response) == Some(size) => Ok(tagged(response)),
        _ => Ok(response),
    }
}

/// Every line of a list header (a list may be split over several), joined, and taken
/// out of `headers`.
fn take_list(headers: &mut HeaderMap, name: axum::http::HeaderName) -> Option<Vec<u8>> {
    let lines: Vec<Vec<u8>> = headers.get_all(&name).iter().map(|v| v.as_bytes().to_vec()).collect();
    headers.remove(&name);
    (!lines.is_empty()).then(|| lines.join(&b','))
}

/// An entity tag without its weakness mark, for the weak comparison (8.8.3.2).
fn opaque(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

/// A file's entity tag: its size and when it last changed, to the nanosecond. A
/// recording being written changes both with every fragment, and the chapters box
/// rewritten in place changes the time, so the tag is strong: a resumed download goes
/// on only with the version it began with. But the kernel stamps times from a clock
/// that moves every few milliseconds, so two writes within one tick can share a tag:
/// while the file changed within the last second the tag is weak (If-Range and
/// If-Match then never hold), as Apache does, with a value of its own, so that a cache
/// holding a version under the weak tag never takes the settled file for it.
fn entity_tag(meta: &std::fs::Metadata) -> String {
    let modified = meta.modified().ok();
    let nanos = modified.and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let settled = modified.is_some_and(|m| std::time::SystemTime::now().duration_since(m).is_ok_and(|age| age >= std::time::Duration::from_secs(1)));
    if settled {
        format!("\"{:x}-{nanos:x}\"", meta.len())
    } else {
        format!("W/\"{:x}-{nanos:x}-w\"", meta.len())
    }
}

/// The entity tags of an `If-Match` or `If-None-Match` list (RFC 9110 8.8.3), each
/// with whether it is weak and as written, quotes included; parsing stops at anything
/// else.
fn entity_tags(list: &[u8]) -> impl Iterator<Item = (bool, &[u8])> {
    let mut rest = list;
    std::iter::from_fn(move || {
        rest = rest.trim_ascii_start();
        while let Some(after) = rest.strip_prefix(b",") {
            rest = after.trim_ascii_start();
        }
        let (weak, tag) = match rest.strip_prefix(b"W/") {
            Some(tag) => (true, tag),
            None => (false, rest),
        };
        let close = tag.strip_prefix(b"\"")?.iter().position(|&b| b == b'"')? + 2;
        rest = &tag[close..];
        Some((weak, &tag[..close]))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    expires_in_s: u64,
}

#[derive(Serialize)]
pub struct ShareCreated {
    id: String,
    url: String,
    expires_at: String,
}

/// A link that opens this one recording's review page, until it expires or is revoked.
pub async fn share(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    headers: HeaderMap,
    ValidPath(id): ValidPath<RecordingId>,
    Body(body): Body,
) -> Result<(StatusCode, Json<ShareCreated>), ApiError> {
    let sidecar = known_sidecar(&state, &auth, &id)?;
    auth.check(|a| a.may_share(&sidecar.room))?;
    // A fixed message: serde's would quote the client's text back (a probe sent a
    // 1.5 MB field name and got it back).
    let request: ShareRequest = Body::object(&body)
        .ok_or_else(|| ApiError::BadRequest(format!("expected a JSON body {{\"expires_in_s\": N}}, N from 1 to {MAX_SHARE_SECONDS} (30 days)")))?;
    if !(1..=MAX_SHARE_SECONDS).contains(&request.expires_in_s) {
        return Err(ApiError::BadRequest(format!("expires_in_s is from 1 to {MAX_SHARE_SECONDS} (30 days)")));
    }
    // Before the share exists: a refused request leaves no live link behind.
    let base = link_origin(&state, &headers)
        .ok_or_else(|| ApiError::BadRequest("the request's Host header is missing or not a host name: send one, or start the server with --public-url".into()))?;
    let now = unix_now();
    let exp = state.recorder.share_ends(&id, &sidecar, now, now + request.expires_in_s)?;
    let share_id = new_share_id();
    let token = state.security.keys.mint_share(&ShareClaims { share_id: share_id.clone(), recording: id.clone(), exp });
    let (sub, role, ip) = auth.who();
    state.recorder.add_share(&id, Share { id: share_id.clone(), expires_at: rfc3339(exp), exp, created_by: sub.0.clone() }, now)?;
    tracing::info!(target: "audit", action = "recording.share", %sub, role = %role, %ip, recording = %id, share = %share_id, expires_at = %rfc3339(exp), "recording shared");
    Ok((StatusCode::CREATED, Json(ShareCreated { id: share_id, url: format!("{base}/s/{token}"), expires_at: rfc3339(exp) })))
}

pub async fn revoke_share(State(state): State<Arc<AppState>>, auth: Auth, ValidPath((id, share)): ValidPath<(RecordingId, ShareId)>) -> Result<StatusCode, ApiError> {
    let room = known_sidecar(&state, &auth, &id)?.room;
    auth.check(|a| a.may_share(&room))?;
    if !state.recorder.shares().revoke(&id, &share.0)? {
        return Err(ApiError::NotFound(format!("recording {id} has no share {}", share.0)));
    }
    let (sub, role, ip) = auth.who();
    tracing::info!(target: "audit", action = "recording.revoke", %sub, role = %role, %ip, recording = %id, share = %share.0, "share revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::{entity_tags, next_link};
    use crate::recording::listing::{Cursor, ListQuery};

    #[test]
    fn a_next_link_keeps_the_search_and_no_text_of_it_breaks_out_of_the_header() {
        let query = ListQuery::parse(Some("Ada>; rel=\"x\"\r\nSet-Cookie: a=b"), Some("100"), None).unwrap();
        let next = Cursor::parse("2026-12-01T10:00:00.000+01:00~20261201-090000-abc123").unwrap();
        let link = next_link(&query, &next);
        let text = link.to_str().unwrap();
        assert_eq!(
            text,
            "</api/recordings?q=Ada%3E%3B+rel%3D%22x%22%0D%0ASet-Cookie%3A+a%3Db&limit=100&after=2026-12-01T10%3A00%3A00.000%2B01%3A00%7E20261201-090000-abc123>; rel=\"next\""
        );
        // The cursor comes back as it was sent, once the query string is decoded.
        let after = form_urlencoded::parse(text.split_once('?').unwrap().1.split_once('>').unwrap().0.as_bytes()).find(|(k, _)| k == "after").unwrap().1;
        assert_eq!(Cursor::parse(&after).unwrap(), next);
    }

    #[test]
    fn entity_tag_lists_are_read_with_their_weakness_and_garbage_ends_them() {
        let tags: Vec<(bool, &[u8])> = entity_tags(br#" "a-1" ,W/"b,2",, "" "#).collect();
        assert_eq!(tags, vec![(false, &br#""a-1""#[..]), (true, &br#""b,2""#[..]), (false, &br#""""#[..])]);
        assert_eq!(entity_tags(br#""open"#).count(), 0);
        assert_eq!(entity_tags(br#"nope, "a""#).count(), 0);
        assert_eq!(entity_tags(b"").count(), 0);
    }
}

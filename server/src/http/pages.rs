//! The embedded web bundle. Page routes of the single-page UI (`/`, `/rooms/...`,
//! `/recordings/...`, a share link's `/s/...`) all get index.html, which holds no data:
//! the script asks the API, whose answers depend on the caller's access.
use crate::assets;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

pub async fn page_or_asset(method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return super::ApiError::MethodNotAllowed.into_response();
    }
    let path = uri.path().trim_start_matches('/');
    if let Some(asset) = assets::find(path) {
        return ([(header::CONTENT_TYPE, asset.content_type)], asset.bytes).into_response();
    }
    let is_page = path.is_empty() || path.starts_with("rooms/") || path == "recordings" || path.starts_with("recordings/") || path.starts_with("s/");
    if !is_page {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    match assets::find("index.html") {
        Some(index) => ([(header::CONTENT_TYPE, index.content_type), (header::CACHE_CONTROL, "no-cache")], index.bytes).into_response(),
        None => Html(assets::NOT_BUILT_PAGE).into_response(),
    }
}

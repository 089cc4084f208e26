//! gzip for what the browser reads as text, when it asks (`Accept-Encoding`). The
//! library's list carries every recording's speaker turns: 2000 hour-long meetings are a
//! 34 MB answer, 4 MB gzipped (docs/benchmarks.md); the page's script bundle likewise.
//! Video, reels and anything answered in ranges are left alone: they are compressed
//! already, and a player seeks in them by byte ranges.
use axum::http::{header, Extensions, HeaderMap, StatusCode, Version};
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Below this a response is sent as it is: gzip's header and the work are not worth it.
const SMALLEST: u16 = 1024;

/// The content types compressed: text of every kind, JSON and the page's scripts.
fn is_text(headers: &HeaderMap) -> bool {
    let Some(kind) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let kind = kind.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    kind.starts_with("text/") || matches!(kind.as_str(), "application/json" | "application/javascript" | "image/svg+xml")
}

pub fn layer() -> CompressionLayer<impl Predicate> {
    let text = |_: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions| is_text(headers);
    CompressionLayer::new().gzip(true).no_br().no_deflate().no_zstd().quality(CompressionLevel::Fastest).compress_when(SizeAbove::new(SMALLEST).and(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_json_and_scripts_are_compressed_and_media_is_not() {
        let with = |kind: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, kind.parse().unwrap());
            is_text(&headers)
        };
        for kind in ["application/json", "text/html; charset=utf-8", "text/css", "text/javascript", "application/javascript", "text/vtt", "text/plain; version=0.0.4", "image/svg+xml", "Application/JSON"] {
            assert!(with(kind), "{kind}");
        }
        for kind in ["video/mp4", "audio/webm", "image/png", "application/octet-stream", "application/jsonx"] {
            assert!(!with(kind), "{kind}");
        }
        assert!(!is_text(&HeaderMap::new()), "no type: left alone");
    }
}

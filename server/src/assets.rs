//! The web UI, embedded at build time from web/dist (built by `make build`), so that
//! the release binary is one self-contained file that runs from any directory.

pub struct Asset {
    pub path: &'static str,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

pub fn find(path: &str) -> Option<&'static Asset> {
    WEB_ASSETS.iter().find(|a| a.path == path)
}

/// Served at `/` when the binary was built without web/dist (plain `cargo build`).
pub const NOT_BUILT_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Podium</title>\
<body style=\"font-family:system-ui;margin:3rem\"><h1>Podium</h1>\
<p>This binary was built without its web UI. Run <code>make build</code> (or <code>make run</code>) \
to bundle web/ and embed it.</p></body>";

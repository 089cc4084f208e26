//! Embeds the web bundle (web/dist, made by `npm run build` in web/) into the binary.
//! Without it the server still builds and serves a page saying how to build the UI.
//!
//! Nothing here names the checkout's absolute path: cargo shares a build script's
//! output between checkouts of the same workspace that use one target dir (CI's clones,
//! a developer's tree), so an absolute path would embed another checkout's bundle. The
//! watched path is relative to the package, and the generated code finds the files
//! through `CARGO_MANIFEST_DIR` when the crate compiles.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    // From the environment cargo runs this with, not `env!` (the path this script was
    // compiled in): a script built in one checkout is run again for another that shares
    // the target dir, and looked for the bundle in the first, gone or stale ("web/dist
    // is missing" with web/dist right there: a binary with no UI).
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for build scripts");
    let dist = Path::new(&manifest_dir).join("../web/dist");
    // Relative: cargo resolves it against this checkout's package root.
    println!("cargo:rerun-if-changed=../web/dist");
    let mut files = Vec::new();
    if dist.is_dir() {
        collect(&dist, &mut files);
    } else {
        println!("cargo:warning=web/dist is missing: the UI is not embedded (run `make build`)");
    }
    files.sort();
    let mut code = String::from("pub static WEB_ASSETS: &[Asset] = &[\n");
    for file in &files {
        let rel = file.strip_prefix(&dist).unwrap().to_string_lossy().replace('\\', "/");
        let from_manifest = format!("/../web/dist/{rel}");
        writeln!(
            code,
            "    Asset {{ path: {rel:?}, bytes: include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {from_manifest:?})), content_type: {:?} }},",
            content_type(&rel)
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("web_assets.rs");
    std::fs::write(out, code).unwrap();
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

//! The review API over real recordings, through the real `podium serve`: the speaker
//! track, building the highlight reel (a second request joins it), the reel and its
//! clips, deleting, and bad input (ids, missing and corrupt files) answered clearly.
mod common;

use common::compose::{record_for, ID};
use common::Server;
use serde_json::Value;
use std::time::{Duration, Instant};

fn call(method: &str, url: &str) -> (u16, Value, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = match method {
        "POST" => agent.post(url).send_empty(),
        "DELETE" => agent.delete(url).call(),
        _ => agent.get(url).call(),
    }
    .unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), format!("{content_type}\n{text}"))
}

/// A copy of the recording `ID` in `dir` under `id` (its video, and its sidecar naming
/// `id`, changed further by `edit`).
fn copy_recording(dir: &std::path::Path, id: &str, edit: impl FnOnce(&mut Value)) {
    std::fs::copy(dir.join(format!("{ID}.mp4")), dir.join(format!("{id}.mp4"))).unwrap();
    let mut sidecar: Value = serde_json::from_slice(&std::fs::read(dir.join(format!("{ID}.json"))).unwrap()).unwrap();
    sidecar["id"] = Value::from(id);
    edit(&mut sidecar);
    std::fs::write(dir.join(format!("{id}.json")), sidecar.to_string()).unwrap();
}

/// The recording's `highlights` once its reel is no longer building (within 20 s).
fn reel_once_built(recording_url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, rec, _) = call("GET", recording_url);
        if rec["highlights"]["status"] != "building" {
            return rec["highlights"].clone();
        }
        assert!(Instant::now() < deadline, "still building");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn speaker_track_reel_and_delete_over_a_real_recording() {
    let dir = common::temp_dir("review");
    record_for(&dir, 11);
    let server = Server::start_in(&dir, &["--workers", "1"]);
    let url = |path: &str| server.url(path);

    let (status, list, _) = call("GET", &url("/api/recordings"));
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], ID);
    assert_eq!(list[0]["highlights"]["status"], "none", "{list}");

    // The speaker track: WebVTT, a cue for Ada's turn.
    let (status, _, body) = call("GET", &url(&format!("/api/recordings/{ID}/speakers.vtt")));
    assert_eq!(status, 200);
    assert!(body.starts_with("text/vtt"), "{body}");
    assert!(body.contains("WEBVTT") && body.contains("-->") && body.contains("<v Ada>Ada</v>"), "{body}");

    // No reel yet.
    assert_eq!(call("GET", &url(&format!("/api/recordings/{ID}/highlights"))).0, 404);
    let (status, err, _) = call("GET", &url(&format!("/api/recordings/{ID}/highlights.json")));
    assert_eq!(status, 404);
    assert!(err["error"].as_str().unwrap().contains("POST"), "{err}");

    // Build it; a second request while it builds joins (no second build).
    let (status, first, _) = call("POST", &url(&format!("/api/recordings/{ID}/highlights")));
    assert!(status == 202 || status == 200, "{status} {first}");
    let (status, second, _) = call("POST", &url(&format!("/api/recordings/{ID}/highlights")));
    assert!((status == 202 && second["status"] == "building") || (status == 200 && second["status"] == "ready"), "{status} {second}");
    let state = reel_once_built(&url(&format!("/api/recordings/{ID}")));
    assert_eq!(state["status"], "ready", "{state}");
    let (status, clips, _) = call("GET", &url(&format!("/api/recordings/{ID}/highlights.json")));
    assert_eq!(status, 200);
    let clips = clips.as_array().unwrap().clone();
    assert!(!clips.is_empty());
    for c in &clips {
        assert!(c["source_start_ms"].as_u64().unwrap() < c["source_end_ms"].as_u64().unwrap(), "{c}");
        assert_eq!(c["name"], "Ada");
        assert!(c["score"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(state["clips"].as_u64().unwrap() as usize, clips.len());
    let reel = ureq::get(&url(&format!("/api/recordings/{ID}/highlights"))).header("Range", "bytes=0-9").call().unwrap();
    assert_eq!(reel.status(), 206);
    assert_eq!(reel.headers().get("content-type").unwrap(), "video/mp4");
    assert_eq!(call("POST", &url(&format!("/api/recordings/{ID}/highlights"))).0, 200, "built already: no rebuild");

    // Delete: the recording and everything with it go.
    let (status, _, _) = call("DELETE", &url(&format!("/api/recordings/{ID}")));
    assert_eq!(status, 204);
    assert_eq!(call("GET", &url(&format!("/api/recordings/{ID}"))).0, 404);
    assert_eq!(call("DELETE", &url(&format!("/api/recordings/{ID}"))).0, 404);
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "files left: {left:?}");
}

#[test]
fn reels_asked_for_many_recordings_at_once_are_built_two_at_a_time() {
    // Each build reads a whole recording: asked for every recording at once (an admin
    // may), they take turns instead of the disk and the blocking threads.
    let dir = common::temp_dir("review-queue");
    record_for(&dir, 11);
    let ids: Vec<String> = (1..=6).map(|i| format!("20261202-12000{i}-proc0{i}")).collect();
    for id in &ids {
        copy_recording(&dir, id, |_| {});
    }
    let server = Server::start_in(&dir, &["--workers", "1"]);
    let mut seen_queued = 0;
    for id in &ids {
        let (status, state, _) = call("POST", &server.url(&format!("/api/recordings/{id}/highlights")));
        assert_eq!(status, 202, "{state}");
        seen_queued += usize::from(state["queued"] == true);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, list, _) = call("GET", &server.url("/api/recordings"));
        let reels: Vec<&Value> = list.as_array().unwrap().iter().filter(|r| r["id"] != ID).map(|r| &r["highlights"]).collect();
        let running = reels.iter().filter(|h| h["status"] == "building" && h["queued"] != true).count();
        assert!(running <= 2, "{running} reels building at once: {reels:?}");
        seen_queued += reels.iter().filter(|h| h["queued"] == true).count();
        if reels.iter().all(|h| h["status"] == "ready") {
            break;
        }
        assert!(reels.iter().all(|h| h["status"] != "failed"), "{reels:?}");
        assert!(Instant::now() < deadline, "not all built within 60 s: {reels:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Six asked for at once: the ones past the first two waited their turn, and said so.
    assert!(seen_queued >= 1, "no reel was ever queued");
}

#[test]
fn bad_ids_missing_and_corrupt_files_get_clear_answers() {
    let dir = common::temp_dir("review-bad");
    // A sidecar that is not JSON, and a good sidecar whose video is gone.
    std::fs::write(dir.join("20261202-090000-broken.json"), "{ this is not").unwrap();
    std::fs::write(dir.join("20261202-090000-broken.mp4"), b"not an mp4").unwrap();
    record_for(&dir, 3);
    std::fs::remove_file(dir.join(format!("{ID}.mp4"))).unwrap();
    let server = Server::start_in(&dir, &["--workers", "1"]);
    let url = |path: &str| server.url(path);

    for path in ["/api/recordings/..%2f..%2fetc%2fpasswd", "/api/recordings/nope/video", "/api/recordings/20261202-090000-BROKEN/highlights", "/api/recordings/x/speakers.vtt"] {
        let (status, body, _) = call("GET", &url(path));
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("invalid recording id"), "{path}: {body}");
    }
    let unknown = "20261202-090000-zzzzzz";
    for (method, path) in [("GET", ""), ("GET", "/video"), ("GET", "/speakers.vtt"), ("POST", "/highlights"), ("GET", "/highlights"), ("GET", "/highlights.json"), ("DELETE", "")] {
        let (status, body, _) = call(method, &url(&format!("/api/recordings/{unknown}{path}")));
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert!(body["error"].as_str().unwrap().contains(unknown), "{body}");
    }
    // The corrupt one: a clear error naming the file, and the list goes on without it.
    let (status, body, _) = call("GET", &url("/api/recordings/20261202-090000-broken"));
    assert_eq!(status, 500);
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("20261202-090000-broken.json") && error.contains("not a valid"), "{error}");
    assert_eq!(call("POST", &url("/api/recordings/20261202-090000-broken/highlights")).0, 500);
    let (_, list, _) = call("GET", &url("/api/recordings"));
    assert_eq!(list.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect::<Vec<_>>(), [ID]);
    // The one whose video is gone: no reel, and why.
    let (status, body, _) = call("POST", &url(&format!("/api/recordings/{ID}/highlights")));
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("no video file"), "{body}");
    assert_eq!(call("GET", &url(&format!("/api/recordings/{ID}/video"))).0, 404);
}

#[test]
fn podium_reel_makes_the_same_reel_from_a_copied_recording() {
    let dir = common::temp_dir("reel-cli");
    record_for(&dir, 11);
    let mp4 = dir.join(format!("{ID}.mp4"));
    let out = dir.join("short.mp4");
    let run = |args: &[&std::ffi::OsStr]| std::process::Command::new(env!("CARGO_BIN_EXE_podium")).arg("reel").args(args).output().unwrap();
    let done = run(&[mp4.as_os_str(), "--max-seconds".as_ref(), "5".as_ref(), "-o".as_ref(), out.as_os_str()]);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{stdout}{}", String::from_utf8_lossy(&done.stderr));
    assert!(stdout.contains("Ada") && stdout.contains("short.json"), "{stdout}");
    let clips: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("short.json")).unwrap()).unwrap();
    let total: u64 = clips.iter().map(|c| c["source_end_ms"].as_u64().unwrap() - c["source_start_ms"].as_u64().unwrap()).sum();
    assert!(!clips.is_empty() && total <= 5100, "{clips:?}");
    assert_eq!(common::chapters(&out), ["Ada"]);
    // Without -o, beside the recording.
    assert!(run(&[mp4.as_os_str()]).status.success());
    assert!(dir.join(format!("{ID}.highlights.mp4")).is_file() && dir.join(format!("{ID}.highlights.json")).is_file());

    // A recording without its sidecar, or no file at all: a clear error and exit 1.
    std::fs::rename(dir.join(format!("{ID}.json")), dir.join("elsewhere.json")).unwrap();
    let failed = run(&[mp4.as_os_str()]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1));
    assert!(stderr.contains("sidecar") && stderr.contains(&format!("{ID}.json")), "{stderr}");
    let failed = run(&[dir.join("nothing.mp4").as_os_str()]);
    assert!(String::from_utf8_lossy(&failed.stderr).contains("is not a file"));
    let bad = run(&[mp4.as_os_str(), "--max-seconds".as_ref(), "0".as_ref()]);
    assert_eq!(bad.status.code(), Some(2), "a bad flag");
}

#[test]
fn errors_shown_to_clients_name_no_path_on_the_server() {
    // A reel whose clip list cannot be written, and a recording whose compositor wrote
    // its failure (with the file's path) into the sidecar: the API says what failed,
    // and where on the server is for the log alone.
    let dir = common::temp_dir("review-paths");
    record_for(&dir, 11);
    std::fs::create_dir(dir.join(format!("{ID}.highlights.json.tmp"))).unwrap();
    let sidecar_path = dir.join(format!("{ID}.json"));
    let mut sidecar: Value = serde_json::from_slice(&std::fs::read(&sidecar_path).unwrap()).unwrap();
    sidecar["status"] = "failed".into();
    sidecar["error"] = format!("cannot write {}: Permission denied (os error 13); see /var/log/podium/x.log", dir.join(format!("{ID}.mp4")).display()).into();
    std::fs::write(&sidecar_path, sidecar.to_string()).unwrap();
    let server = Server::start_in(&dir, &["--workers", "1"]);
    let url = |path: &str| server.url(path);
    let secret_parts = [dir.to_str().unwrap(), "/tmp", "/var/log"];

    let (_, rec, _) = call("GET", &url(&format!("/api/recordings/{ID}")));
    let error = rec["error"].as_str().expect("the recording says why it failed");
    assert!(error.contains(&format!("cannot write {ID}.mp4: Permission denied")) && error.contains("x.log"), "{error}");
    assert!(secret_parts.iter().all(|p| !error.contains(p)), "{error}");

    let (status, _, body) = call("POST", &url(&format!("/api/recordings/{ID}/highlights")));
    assert!(status == 202 || status == 200, "{status} {body}");
    let reel = reel_once_built(&url(&format!("/api/recordings/{ID}")));
    assert_eq!(reel["status"], "failed", "{reel}");
    let error = reel["error"].as_str().unwrap();
    assert!(error.contains(&format!("cannot write {ID}.highlights.json")), "{error}");
    assert!(secret_parts.iter().all(|p| !error.contains(p)) && !error.contains('/'), "{error}");
}

#[test]
fn downloads_answer_ranges_and_conditions_as_http_says_and_refuse_in_json() {
    let dir = common::temp_dir("ranges");
    record_for(&dir, 3);
    let server = Server::start_in(&dir, &["--workers", "1"]);
    let addr = server.base_url.trim_start_matches("http://").to_string();
    let video = format!("/api/recordings/{ID}/video");
    let get = |headers: &[(&str, &str)]| common::http::request(&addr, "GET", &video, headers, None);
    let whole = get(&[]);
    assert_eq!(whole.status, 200);
    let size: u64 = whole.header("content-length").unwrap().parse().unwrap();
    let modified = whole.header("last-modified").unwrap().to_string();

    // A suffix longer than the file is the whole file (RFC 9110 14.1.3), as a part.
    let long_suffix = get(&[("Range", "bytes=-99999999")]);
    assert_eq!(long_suffix.status, 206, "{}", long_suffix.body);
    assert_eq!(long_suffix.header("content-range"), Some(format!("bytes 0-{}/{size}", size - 1).as_str()));
    // If-Range: the part only of the version the client has (a date is a strong
    // validator once the file is a second old); else the whole file.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(get(&[("Range", "bytes=0-9"), ("If-Range", &modified)]).status, 206);
    // The entity tag: strong, the file being a second old (weak while it changes).
    let etag = get(&[]).header("etag").expect("an entity tag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 4, "a strong tag: {etag}");
    let part = get(&[("Range", "bytes=0-9"), ("If-Range", &etag)]);
    assert_eq!((part.status, part.header("etag")), (206, Some(etag.as_str())), "If-Range by the entity tag");
    let weak = format!("W/{etag}");
    for other in ["\"bogus\"", "Wed, 21 Oct 2015 07:28:00 GMT", weak.as_str()] {
        let reply = get(&[("Range", "bytes=0-9"), ("If-Range", other)]);
        assert_eq!((reply.status, reply.header("content-length")), (200, Some(size.to_string().as_str())), "If-Range {other}");
    }
    // A range of another unit is ignored (RFC 9110 14.2): the whole file.
    assert_eq!(get(&[("Range", "items=0-1")]).status, 200);
    // If-None-Match: * or the file's tag (weak or not, in a list) is 304, with the tag;
    // another tag is the file. If-Unmodified-Since before it changed fails.
    assert_eq!(get(&[("If-None-Match", "*")]).status, 304);
    for list in [etag.clone(), format!("\"other\", W/{etag}")] {
        let reply = get(&[("If-None-Match", &list)]);
        assert_eq!((reply.status, reply.header("etag")), (304, Some(etag.as_str())), "If-None-Match {list}");
    }
    assert_eq!(get(&[("If-None-Match", "\"other\"")]).status, 200);
    // A list over two header lines; and If-None-Match is weighed before the range.
    assert_eq!(get(&[("If-None-Match", "\"other\""), ("If-None-Match", &etag)]).status, 304);
    assert_eq!(get(&[("If-None-Match", &etag), ("Range", &format!("bytes={}-", size + 10))]).status, 304);
    let stale = get(&[("If-Unmodified-Since", "Wed, 21 Oct 2015 07:28:00 GMT")]);
    assert_eq!(stale.status, 412);
    assert!(stale.json()["error"].is_string(), "{}", stale.body);
    // If-Match: * or the file's tag holds (a weak one never does); another is 412.
    assert_eq!(get(&[("If-Match", "*")]).status, 200);
    assert_eq!(get(&[("If-Match", &format!("\"nope\", {etag}"))]).status, 200);
    assert_eq!(get(&[("If-Match", &weak)]).status, 412);
    let refused = get(&[("If-Match", "\"nope\"")]);
    assert_eq!(refused.status, 412);
    assert!(refused.json()["error"].as_str().is_some_and(|e| e.contains("If-Match")), "{}", refused.body);
    // Several ranges: the whole file (a server may ignore Range, RFC 9110 14.2).
    assert_eq!(get(&[("Range", "bytes=0-1,5-9")]).status, 200);
    // A range past the end: JSON, with the size to ask within (also under a false
    // If-Range: the whole file then).
    assert_eq!(get(&[("Range", &format!("bytes={size}-")), ("If-Range", "\"bogus\"")]).status, 200);
    for range in [format!("bytes={size}-"), format!("Bytes={}-", size + 10)] {
        let range = range.as_str();
        let reply = get(&[("Range", range)]);
        assert_eq!(reply.status, 416, "{range}");
        assert_eq!(reply.header("content-type"), Some("application/json"), "{range}");
        assert_eq!(reply.header("content-range"), Some(format!("bytes */{size}").as_str()), "{range}");
        assert!(reply.json()["error"].as_str().is_some_and(|e| e.contains(&size.to_string())), "{range}: {}", reply.body);
    }

    // While the file changes (a recording being written), its tag is weak and its own:
    // If-Range and If-Match never hold by it, If-None-Match does.
    let mp4 = std::fs::File::options().append(true).open(dir.join(format!("{ID}.mp4"))).unwrap();
    mp4.set_modified(std::time::SystemTime::now()).unwrap();
    let weak_tag = get(&[]).header("etag").expect("an entity tag").to_string();
    assert!(weak_tag.starts_with("W/\"") && weak_tag.ends_with("-w\""), "{weak_tag}");
    let whole_again = get(&[("Range", "bytes=0-9"), ("If-Range", &weak_tag)]);
    assert_eq!(whole_again.status, 200, "If-Range by a weak tag");
    for tag in [&weak_tag, &weak_tag[2..]] {
        assert_eq!(get(&[("If-Match", tag)]).status, 412, "If-Match {tag}");
    }
    let cached = get(&[("If-None-Match", &weak_tag)]);
    assert_eq!((cached.status, cached.header("etag")), (304, Some(weak_tag.as_str())));

    // An unknown API path is quoted briefly, not echoed whole.
    let long = format!("/api/x/{}", "a".repeat(60_000));
    let reply = common::http::request(&addr, "GET", &long, &[], None);
    assert_eq!(reply.status, 404);
    assert!(reply.body.len() < 1000, "{} bytes", reply.body.len());
}

#[test]
fn recordings_past_the_retention_are_deleted_at_start_and_the_others_say_when_they_will_be() {
    let dir = common::temp_dir("retention");
    record_for(&dir, 3);
    let now = time::OffsetDateTime::now_utc();
    let rfc3339 = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    // With a week's retention: ended 8 days ago, gone; 6 days ago, kept a day more; a
    // start that cannot be read, kept (what cannot be dated is never deleted).
    let copies = [("20261120-100000-old001", rfc3339(now - time::Duration::days(8))), ("20261125-100000-recent", rfc3339(now - time::Duration::days(6))), ("20261120-100000-undate", "not a date".to_string())];
    for (id, started_at) in &copies {
        copy_recording(&dir, id, |sidecar| sidecar["started_at"] = Value::from(started_at.as_str()));
    }
    let server = Server::start_in(&dir, &["--workers", "1", "--recording-retention-days", "7"]);

    // The sweep runs at start, off the listener's path: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let list = loop {
        let (status, list, _) = call("GET", &server.url("/api/recordings"));
        assert_eq!(status, 200);
        if list.as_array().unwrap().len() == 3 || Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&"20261120-100000-old001"), "{ids:?}");
    assert_eq!(ids.len(), 3, "{ids:?}");
    for ext in ["mp4", "json"] {
        assert!(!dir.join(format!("20261120-100000-old001.{ext}")).exists(), "its {ext} is gone too");
    }
    assert_eq!(call("GET", &server.url("/api/recordings/20261120-100000-old001")).0, 404);

    let recent = list.as_array().unwrap().iter().find(|r| r["id"] == "20261125-100000-recent").unwrap();
    let expires = time::OffsetDateTime::parse(recent["expires_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    let ends = now - time::Duration::days(6) + time::Duration::milliseconds(recent["duration_ms"].as_i64().unwrap());
    assert!((expires - (ends + time::Duration::days(7))).abs() < time::Duration::seconds(1), "{recent}");
    let undated = list.as_array().unwrap().iter().find(|r| r["id"] == "20261120-100000-undate").unwrap();
    assert!(undated["expires_at"].is_null(), "{undated}");
}

#[test]
fn text_is_gzipped_for_a_browser_that_asks_and_video_never() {
    let dir = common::temp_dir("gzip");
    record_for(&dir, 3);
    // A library of a few: a list over a kilobyte, as any real one is.
    for i in 1..=4 {
        copy_recording(&dir, &format!("20261202-12000{i}-gzip0{i}"), |_| {});
    }
    let server = Server::start_in(&dir, &["--workers", "1"]);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut request = agent.get(server.url(path));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let mut response = request.call().unwrap();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (encoding, vary, length, ranges) = (header("content-encoding"), header("vary"), header("content-length"), header("accept-ranges"));
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
        (status, encoding, vary, length, ranges, body)
    };
    let gunzip = |bytes: &[u8]| {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).expect("a gzip stream");
        out
    };
    for path in ["/api/recordings", &format!("/api/recordings/{ID}"), "/app.js", &format!("/api/recordings/{ID}/speakers.vtt")] {
        let (status, encoding, _, _, _, plain) = get(path, &[]);
        assert_eq!((status, encoding), (200, None), "{path}: not compressed for a client that did not ask");
        let (status, encoding, vary, _, _, packed) = get(path, &[("Accept-Encoding", "gzip, deflate, br")]);
        if plain.len() < 1024 {
            assert_eq!(encoding, None, "{path}: {} bytes, sent as they are", plain.len());
            continue;
        }
        assert_eq!((status, encoding.as_deref(), vary.as_deref()), (200, Some("gzip"), Some("accept-encoding")), "{path}");
        assert!(packed.len() < plain.len(), "{path}: {} bytes gzipped from {}", packed.len(), plain.len());
        assert_eq!(gunzip(&packed), plain, "{path}: the same answer");
    }
    assert!(get("/app.js", &[("Accept-Encoding", "gzip")]).1.is_some(), "the page's script is compressed");
    assert!(get("/api/recordings", &[("Accept-Encoding", "gzip")]).1.is_some(), "the library's list is compressed");
    // The video, whole or in a range: as it is, with its length, seekable.
    let size = std::fs::metadata(dir.join(format!("{ID}.mp4"))).unwrap().len();
    let (status, encoding, _, length, ranges, body) = get(&format!("/api/recordings/{ID}/video"), &[("Accept-Encoding", "gzip")]);
    assert_eq!((status, encoding, length, ranges.as_deref(), body.len() as u64), (200, None, Some(size.to_string()), Some("bytes"), size));
    let (status, encoding, _, length, _, _) = get(&format!("/api/recordings/{ID}/video"), &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-99")]);
    assert_eq!((status, encoding, length.as_deref()), (206, None, Some("100")));
}

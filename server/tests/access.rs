//! Access control and hardening against the real `podium serve` (docs/security.md):
//! every role against every route, cross-site requests and sockets, DNS rebinding in
//! open mode, slowloris and idle sockets, the per-IP, room and recording limits,
//! refusing to start exposed, HTTPS, share links, the audit log and the default log filter.
mod common;

use common::compose::{record_for, ID};
use common::http::{request, Reply, UPGRADE};
use common::ws::Client;
use serde_json::{json, Value};
use server::http::{Rule, ROUTES};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "test-secret-of-at-least-32-bytes-0123456789";
/// A recording id that names no recording (for routes checked before the disk is read).
const MISSING: &str = "20261202-120000-zzzzzz";

/// `podium serve` with its environment chosen and its stderr kept (the logs).
struct Podium {
    child: Child,
    base: String,
    addr: String,
    logs: Arc<Mutex<String>>,
    /// What it printed on stdout before its address.
    banner: Vec<String>,
}

impl Podium {
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Podium {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_podium"));
        cmd.args(["serve", "--rtc-port", "0", "--workers", "1", "--recordings-dir"]).arg(dir);
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        // Admission off (tests beside it share the cores): --max-recordings is tested here.
        cmd.args(args).env_remove("RUST_LOG").env_remove("PODIUM_SECRET").env("PODIUM_RECORDING_ADMISSION", "off").stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn podium");
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut banner = Vec::new();
        let base = loop {
            let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("podium did not report its address");
            if let Some(url) = line.strip_prefix("Podium is running on ") {
                break url.trim().to_string();
            }
            banner.push(line);
        };
        let addr = base.split("://").nth(1).unwrap().to_string();
        Podium { child, base, addr, logs, banner }
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(b) = &bearer {
            all.push(("Authorization", b));
        }
        request(&self.addr, method, path, &all, body)
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The logs once they hold every one of `needles`, or after 5 s as they are.
    /// The server may write a line (an audit line after the reply, say) a moment after
    /// the client has seen the effect, and stderr reaches us through a pipe and a thread.
    fn logs_with(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let logs = self.logs();
            if needles.iter().all(|n| logs.contains(n)) || Instant::now() > deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Podium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `podium token … --json`, as an operator would mint it.
fn mint(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_podium")).arg("token").args(args).arg("--json").env("PODIUM_SECRET", SECRET).output().unwrap();
    assert!(out.status.success(), "podium token {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn token(args: &[&str]) -> String {
    mint(args)["token"].as_str().unwrap().to_string()
}

/// A second recording: the first one copied under another id, in another room.
fn copy_recording(dir: &Path, id: &str, room: &str) {
    std::fs::copy(dir.join(format!("{ID}.mp4")), dir.join(format!("{id}.mp4"))).unwrap();
    let mut sidecar: Value = serde_json::from_slice(&std::fs::read(dir.join(format!("{ID}.json"))).unwrap()).unwrap();
    sidecar["id"] = json!(id);
    sidecar["room"] = json!(room);
    std::fs::write(dir.join(format!("{id}.json")), sidecar.to_string()).unwrap();
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Nobody,
    Guest,
    Host,
    OtherHost,
    Admin,
    Share,
}

/// What a rule answers each caller: `None` when let through (any status but 401/403).
fn expected(rule: Rule, method: &str, who: Who) -> Option<u16> {
    use Who::*;
    let allowed = match rule {
        Rule::Public => true,
        Rule::Session => who != Nobody || method == "DELETE",
        Rule::RoomMember => matches!(who, Guest | Host | Admin),
        Rule::RoomHost => matches!(who, Host | Admin),
        Rule::RecordingViewer => matches!(who, Host | Admin | Share),
        Rule::RecordingHost => matches!(who, Host | Admin),
        Rule::Library => matches!(who, Host | OtherHost | Admin),
        Rule::Admin => who == Admin,
    };
    match (allowed, who) {
        (true, _) => None,
        (false, Nobody) => Some(401),
        // Another room's recording is "no recording" to its host: ids cannot be probed.
        (false, OtherHost) if matches!(rule, Rule::RecordingViewer | Rule::RecordingHost) => Some(404),
        (false, _) => Some(403),
    }
}

#[test]
fn every_role_against_every_route() {
    let dir = common::temp_dir("access-table");
    record_for(&dir, 3);
    let server = Podium::start(&dir, &[], &[("PODIUM_SECRET", SECRET)]);
    let admin = token(&["--role", "admin"]);
    let created = server.call("POST", &format!("/api/recordings/{ID}/share"), Some(&admin), &[], Some(r#"{"expires_in_s": 600}"#));
    assert_eq!(created.status, 201, "{}", created.body);
    let share_url = created.json()["url"].as_str().unwrap().to_string();
    assert!(share_url.starts_with(&format!("{}/s/", server.base)), "{share_url}");
    let share = share_url.rsplit("/s/").next().unwrap().to_string();

    let callers = [
        (Who::Nobody, None),
        (Who::Guest, Some(token(&["--room", "proc", "--name", "Gus", "--role", "guest"]))),
        (Who::Host, Some(token(&["--room", "proc", "--name", "Hana", "--role", "host"]))),
        (Who::OtherHost, Some(token(&["--room", "elsewhere", "--name", "Otto", "--role", "host"]))),
        (Who::Admin, Some(admin.clone())),
        (Who::Share, Some(share)),
    ];
    let mut checked = 0;
    for route in ROUTES {
        // Routes that act on a recording are checked before the disk is read only for
        // admins (delete): they get an id that names nothing, so nothing is lost.
        let id = if route.rule == Rule::Admin { MISSING } else { ID };
        let path = route.path.replace("{room}", "proc").replace("{id}", id).replace("{share}", "aaaaaaaaaaaa").replace("{participant}", "0123456789ab");
        let body = (route.method == "POST").then_some(r#"{"expires_in_s": 600}"#);
        for (who, token) in &callers {
            let headers: &[(&str, &str)] = if path.ends_with("/ws") { &UPGRADE } else { &[] };
            let reply = server.call(route.method, &path, token.as_deref(), headers, body);
            match expected(route.rule, route.method, *who) {
                Some(status) => {
                    assert_eq!(reply.status, status, "{who:?} {} {path}: {}", route.method, reply.body);
                    assert!(reply.json()["error"].as_str().is_some_and(|e| !e.is_empty()), "{who:?} {} {path}: no error text: {}", route.method, reply.body);
                }
                None => assert!(![401, 403].contains(&reply.status), "{who:?} {} {path} refused: {} {}", route.method, reply.status, reply.body),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ROUTES.len() * callers.len());
    // The recording is still there: nothing in the table deleted it.
    assert_eq!(server.call("GET", &format!("/api/recordings/{ID}"), Some(&admin), &[], None).status, 200);
    // A host's library is their room's; the other room's host sees none of it.
    let host = callers[2].1.clone().unwrap();
    let other = callers[3].1.clone().unwrap();
    assert_eq!(server.call("GET", "/api/recordings", Some(&host), &[], None).json().as_array().unwrap().len(), 1);
    assert_eq!(server.call("GET", "/api/recordings", Some(&other), &[], None).json(), json!([]));
}

#[test]
fn tokens_that_are_missing_tampered_expired_or_unsigned_get_401() {
    let dir = common::temp_dir("access-tokens");
    let server = Podium::start(&dir, &[], &[("PODIUM_SECRET", SECRET)]);
    let good = token(&["--role", "admin"]);
    assert_eq!(server.call("GET", "/api/recordings", Some(&good), &[], None).status, 200);
    let short = token(&["--role", "admin", "--ttl", "1s"]);
    std::thread::sleep(Duration::from_millis(2100));
    let tampered = format!("{}x", &good[..good.len() - 1]);
    let unsigned = format!("{}.{}.", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", good.split('.').nth(1).unwrap());
    for (what, t) in [("expired", short.as_str()), ("tampered", &tampered), ("alg none", &unsigned), ("junk", "abc")] {
        let r = server.call("GET", "/api/recordings", Some(t), &[], None);
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        assert!(r.json()["error"].as_str().unwrap().contains("link"), "{what}: {}", r.body);
    }
    // The signaling socket answers the same, before the upgrade.
    for t in [None, Some(tampered.as_str())] {
        let path = format!("/api/rooms/proc/ws{}", t.map(|t| format!("?token={t}")).unwrap_or_default());
        assert_eq!(server.call("GET", &path, None, &UPGRADE, None).status, 401);
    }
    let other_room = token(&["--room", "other", "--name", "Ann"]);
    assert_eq!(server.call("GET", &format!("/api/rooms/proc/ws?token={other_room}"), None, &UPGRADE, None).status, 403);
    // Without the upgrade, a guest of the room gets a JSON 400 that says what the address is.
    let guest = token(&["--room", "proc", "--name", "Gus"]);
    let plain = server.call("GET", &format!("/api/rooms/proc/ws?token={guest}"), None, &[], None);
    assert_eq!(plain.status, 400, "{}", plain.body);
    assert!(plain.json()["error"].as_str().unwrap().contains("WebSocket upgrade"), "{}", plain.body);
    // Pages and assets still load (they hold no data), with the security headers.
    let page = server.call("GET", "/rooms/proc", None, &[], None);
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    let health = server.call("GET", "/api/health", None, &[], None);
    assert_eq!(health.status, 200);
    // No other site embeds an answer (a recording's video above all) in its page.
    for r in [&page, &health] {
        assert_eq!(r.header("cross-origin-resource-policy"), Some("same-origin"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_name_comes_from_the_token_and_the_role_is_told() {
    let dir = common::temp_dir("access-name");
    let server = Podium::start(&dir, &[], &[("PODIUM_SECRET", SECRET)]);
    let ada = token(&["--room", "proc", "--name", "Ada", "--role", "guest"]);
    let ws = format!("{}/api/rooms/proc/ws?token={ada}", server.base.replacen("http", "ws", 1));
    let mut c = Client::connect_url(&ws).await;
    let joined = c.ok("join", json!({"name": "Mallory the Admin"})).await;
    assert_eq!((&joined["role"], &joined["name"]), (&json!("guest"), &json!("Ada")), "{joined}");
    let me = joined["participant_id"].as_str().unwrap();
    let host = token(&["--room", "proc", "--name", "Hana", "--role", "host"]);
    let room = server.call("GET", "/api/rooms/proc", Some(&host), &[], None).json();
    assert_eq!(room["participants"][0]["name"], "Ada", "{room}");
    // A guest cannot remove anyone; the host can, and the guest is told.
    let path = format!("/api/rooms/proc/participants/{me}");
    assert_eq!(server.call("DELETE", &path, Some(&ada), &[], None).status, 403);
    assert_eq!(server.call("DELETE", &path, Some(&host), &[], None).status, 204);
    let bye = c.event("bye").await;
    assert_eq!(bye["code"], "removed", "{bye}");
    assert!(server.logs_with(&["participant.remove"]).contains("participant.remove"));
    // A guest who reuses the host's client id does not push the host out.
    let ws_of = |t: &str| format!("{}/api/rooms/proc/ws?token={t}", server.base.replacen("http", "ws", 1));
    let mut h = Client::connect_url(&ws_of(&host)).await;
    h.ok("join", json!({"client_id": "tab-1"})).await;
    let mut g = Client::connect_url(&ws_of(&ada)).await;
    g.ok("join", json!({"client_id": "tab-1"})).await;
    let room = server.call("GET", "/api/rooms/proc", Some(&host), &[], None).json();
    assert_eq!(room["participants"].as_array().unwrap().len(), 2, "the host was replaced: {room}");
    // A token's name is the issuer's: a look-alike of Hana's (Cyrillic а) is another
    // person's, and joins; the same name in other case is taken, and says whom to ask.
    let mut twin = Client::connect_url(&ws_of(&token(&["--room", "proc", "--name", "H\u{430}na", "--role", "guest"]))).await;
    twin.ok("join", json!({})).await;
    let mut same = Client::connect_url(&ws_of(&token(&["--room", "proc", "--name", "hana", "--role", "guest"]))).await;
    let r = same.request("join", json!({})).await;
    assert_eq!(r["error"]["code"], "name_taken", "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("ask whoever gave you your link"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn producers_no_consumer_could_be_made_of_are_refused() {
    let dir = common::temp_dir("access-produce");
    let server = common::Server::start_in(&dir, &["--workers", "1"]);
    let mut c = Client::connect(&server.base_url, "produce").await;
    let joined = c.ok("join", json!({"name": "Pat"})).await;
    c.ok("set_rtp_capabilities", json!({"rtp_capabilities": joined["rtp_capabilities"]})).await;
    let send = c.ok("create_transport", json!({"direction": "send"})).await;
    let vp8 = json!({"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000, "parameters": {}, "rtcpFeedback": []});
    let opus = json!({"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2, "parameters": {}, "rtcpFeedback": []});
    let produce = |kind: &str, codec: &Value, encodings: usize| {
        let encodings: Vec<Value> = (0..encodings).map(|i| json!({"ssrc": 5000 + i, "rid": format!("r{i}")})).collect();
        json!({"transport_id": send["transport_id"], "kind": kind, "rtp_parameters": {"mid": "0", "codecs": [codec], "headerExtensions": [], "encodings": encodings, "rtcp": {"cname": "x", "reducedSize": true}}})
    };
    for (body, why) in [(produce("video", &vp8, 100), "encodings"), (produce("video", &vp8, 4), "encodings"), (produce("audio", &vp8, 1), "codecs")] {
        let r = c.request("produce", body).await;
        assert_eq!(r["error"]["code"], "bad_request", "{r}");
        assert!(r["error"]["message"].as_str().unwrap().contains(why), "{r}");
    }
    // Text that mediasoup copies into others' consumers, and mediasoup-client into their
    // SDP: a line break would add a line of the sender's choosing (found by a probe:
    // a candidate revealing their address, or a line that broke their receiving).
    let injected = "cn\r\na=candidate:9 1 udp 2130706431 192.0.2.2 9999 typ host";
    let mut with_cname = produce("audio", &opus, 1);
    with_cname["rtp_parameters"]["rtcp"]["cname"] = json!(injected);
    let mut with_msid = produce("audio", &opus, 1);
    with_msid["rtp_parameters"]["msid"] = json!(format!("s {injected}"));
    let mut with_fmtp_value = produce("audio", &opus, 1);
    with_fmtp_value["rtp_parameters"]["codecs"][0]["parameters"] = json!({"useinbandfec": format!("1{injected}")});
    let mut with_fmtp_key = produce("audio", &opus, 1);
    with_fmtp_key["rtp_parameters"]["codecs"][0]["parameters"] = json!({injected: 1});
    let mut with_rid = produce("video", &vp8, 2);
    with_rid["rtp_parameters"]["encodings"][1]["rid"] = json!(injected);
    // mediasoup itself takes any mode that starts like one (found by a probe).
    let mut with_mode = produce("video", &vp8, 1);
    with_mode["rtp_parameters"]["encodings"][0]["scalabilityMode"] = json!(format!("L1T3{injected}"));
    for (body, field) in [(with_cname, "rtcp.cname"), (with_msid, "msid"), (with_fmtp_value, "codecs[].parameters"), (with_fmtp_key, "codecs[].parameters"), (with_rid, "rid"), (with_mode, "scalabilityMode")] {
        let r = c.request("produce", body).await;
        assert_eq!(r["error"]["code"], "bad_request", "{field}: {r}");
        assert!(r["error"]["message"].as_str().unwrap().contains(field), "{field}: {r}");
    }
    // Nothing was left behind, and the room still works (with what browsers send).
    let mut browser_like = produce("audio", &opus, 1);
    browser_like["rtp_parameters"]["rtcp"]["cname"] = json!("f8Uq1C+Lh2eF0Y7x");
    browser_like["rtp_parameters"]["msid"] = json!("{1b3f-stream} {9a7c-track}");
    browser_like["rtp_parameters"]["codecs"][0]["parameters"] = json!({"minptime": 10, "useinbandfec": 1, "sprop-maxcapturerate": "48000"});
    assert_eq!(c.request("produce", browser_like).await["ok"], true);
    let mut layered = produce("video", &vp8, 1);
    layered["rtp_parameters"]["mid"] = json!("1");
    layered["rtp_parameters"]["encodings"][0] = json!({"ssrc": 6000, "scalabilityMode": "L1T3_KEY"});
    let r = c.request("produce", layered).await;
    assert_eq!(r["ok"], true, "{r}");
    let dump = ureq::get(&server.url("/api/debug/dump")).call().unwrap().body_mut().read_json::<Value>().unwrap();
    assert_eq!(dump["rooms"][0]["producers"], 2, "{dump}");
}

#[test]
fn api_answers_are_not_cached_head_works_and_guests_cannot_probe_for_recordings() {
    let dir = common::temp_dir("access-misc");
    let server = Podium::start(&dir, &[], &[("PODIUM_SECRET", SECRET)]);
    let admin = token(&["--role", "admin"]);
    let r = server.call("GET", "/api/recordings", Some(&admin), &[], None);
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    assert_eq!(server.call("HEAD", "/api/health", None, &[], None).status, 200);
    let guest = token(&["--room", "proc", "--name", "Gus"]);
    // Missing or not, a guest gets the same 403.
    assert_eq!(server.call("GET", &format!("/api/recordings/{MISSING}"), Some(&guest), &[], None).status, 403);
}

#[test]
fn a_host_cannot_tell_another_rooms_recordings_or_damaged_ones_from_none() {
    let dir = common::temp_dir("access-probe");
    record_for(&dir, 2);
    let damaged = "20261202-140000-broken";
    std::fs::write(dir.join(format!("{damaged}.json")), "{ not json").unwrap();
    let server = Podium::start(&dir, &[], &[("PODIUM_SECRET", SECRET)]);
    let other_host = token(&["--room", "elsewhere", "--name", "Otto", "--role", "host"]);
    let host = token(&["--room", "proc", "--name", "Hana", "--role", "host"]);
    let answer = |token: &str, method: &str, path: &str, id: &str| {
        let path = path.replace("{id}", id).replace("{share}", "aaaaaaaaaaaa");
        let r = server.call(method, &path, Some(token), &[], (method == "POST").then_some(r#"{"expires_in_s": 60}"#));
        (r.status, r.json()["error"].as_str().unwrap_or_default().replace(id, "ID"))
    };
    let admin = token(&["--role", "admin"]);
    let dir_text = dir.to_string_lossy().into_owned();
    let routes: Vec<_> = ROUTES.iter().filter(|r| matches!(r.rule, Rule::RecordingViewer | Rule::RecordingHost)).collect();
    assert!(routes.len() >= 8, "{} recording routes", routes.len());
    for route in routes {
        let (method, path) = (route.method, route.path);
        let missing = answer(&other_host, method, path, MISSING);
        assert_eq!(missing, (404, "no recording ID".to_string()), "{method} {path}");
        // The other room's recording, and a damaged one, answer exactly as a missing id.
        assert_eq!(answer(&other_host, method, path, ID), missing, "{method} {path}: another room's recording");
        assert_eq!(answer(&host, method, path, damaged), missing, "{method} {path}: a damaged recording, to a host");
        // An admin is told of the damage, without the server's paths.
        let (status, error) = answer(&admin, method, path, damaged);
        assert_eq!(status, 500, "{method} {path}: {error}");
        assert!(error.contains("not a valid recording sidecar") && error.contains("server log"), "{error}");
        assert!(!error.contains(&dir_text) && !error.contains("/tmp"), "the answer names the server's folders: {error}");
    }
    // The room's own host sees it.
    assert_eq!(answer(&host, "GET", "/api/recordings/{id}", ID).0, 200);
    assert!(server.logs_with(&[&format!("{damaged}.json")]).contains(&dir_text), "the log should name the file for the operator");
}

#[test]
fn a_hosts_search_and_pages_stay_inside_their_room_and_bad_queries_are_refused() {
    let dir = common::temp_dir("access-pages");
    record_for(&dir, 2);
    // Six of the room's (the recording and five copies), and five of another room's, one
    // with the host's own name among its participants.
    for n in 1..=5 {
        copy_recording(&dir, &format!("20261202-12000{n}-proc0{n}"), "proc");
        copy_recording(&dir, &format!("20261202-13000{n}-else0{n}"), "elsewhere");
    }
    let path = dir.join("20261202-130003-else03.json");
    let mut sidecar: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    sidecar["participants"] = json!([{ "participant_id": "h1", "name": "Hana" }]);
    std::fs::write(&path, sidecar.to_string()).unwrap();
    let server = Podium::start(&dir, &[], &[("PODIUM_SECRET", SECRET)]);
    let admin = token(&["--role", "admin"]);
    let host = token(&["--room", "proc", "--name", "Hana", "--role", "host"]);

    // Every page, following each answer's next link, and the counts of the first.
    let walk = |token: &str, first: &str| {
        let mut ids = Vec::new();
        let mut rooms = std::collections::BTreeSet::new();
        let mut path = Some(first.to_string());
        let mut counts = None;
        while let Some(p) = path.take() {
            let r = server.call("GET", &p, Some(token), &[], None);
            assert_eq!(r.status, 200, "{p}: {}", r.body);
            counts.get_or_insert((r.header("x-total-count").unwrap().to_string(), r.header("x-library-count").unwrap().to_string()));
            for v in r.json().as_array().unwrap() {
                ids.push(v["id"].as_str().unwrap().to_string());
                rooms.insert(v["room"].as_str().unwrap().to_string());
            }
            path = r.header("link").map(|l| l.strip_prefix('<').and_then(|l| l.split_once(">; rel=\"next\"")).expect(l).0.to_string());
        }
        (ids, rooms, counts.unwrap())
    };
    let (ids, rooms, counts) = walk(&admin, "/api/recordings?limit=4");
    assert_eq!(ids.len(), 11, "{ids:?}");
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first, "each once, newest first");
    assert_eq!(rooms.len(), 2);
    assert_eq!(counts, ("11".into(), "11".into()));

    let (ids, rooms, counts) = walk(&host, "/api/recordings?limit=4");
    assert_eq!((ids.len(), rooms.into_iter().collect::<Vec<_>>(), counts), (6, vec!["proc".to_string()], ("6".into(), "6".into())));
    // Searching for the other room, or a name only its recordings hold, finds nothing
    // of it, and its recordings are not counted.
    for q in ["elsewhere", "else", "hana", "HANA"] {
        let (ids, _, counts) = walk(&host, &format!("/api/recordings?q={q}&limit=2"));
        assert_eq!((ids, counts), (vec![], ("0".into(), "6".into())), "q={q}");
    }
    let (ids, _, counts) = walk(&admin, "/api/recordings?q=Hana");
    assert_eq!((ids, counts), (vec!["20261202-130003-else03".to_string()], ("1".into(), "11".into())));
    // A next link made from a search keeps it, percent-encoded.
    let r = server.call("GET", "/api/recordings?q=else%20&limit=2", Some(&admin), &[], None);
    let link = r.header("link").expect("more than 2 match");
    assert!(link.starts_with("</api/recordings?q=else&limit=2&after=") && link.ends_with("20261202-130004-else04>; rel=\"next\""), "{link}");

    for bad in ["limit=0", "limit=1001", "limit=ten", "limit=1&limit=2", "after=..%2F..%2Fetc", "after=x~20261202-120000-proc01%2F", &format!("q={}", "a".repeat(101))] {
        let r = server.call("GET", &format!("/api/recordings?{bad}"), Some(&admin), &[], None);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.json()["error"].as_str().is_some_and(|e| !e.is_empty() && !e.contains(&*dir.to_string_lossy())), "{bad}: {}", r.body);
    }
    // A guest has no library, whatever it asks.
    let guest = token(&["--room", "proc", "--name", "Gus", "--role", "guest"]);
    assert_eq!(server.call("GET", "/api/recordings?q=proc&limit=1", Some(&guest), &[], None).status, 403);
}

#[test]
fn cross_site_requests_and_sockets_are_refused() {
    let dir = common::temp_dir("access-csrf");
    let server = Podium::start(&dir, &["--allowed-origin", "https://app.example.com"], &[]);
    let own = format!("http://{}", server.addr);
    let start = "/api/rooms/standup/recording";
    // Another site's page: refused before anything happens.
    for headers in [vec![("Origin", "https://evil.example")], vec![("Sec-Fetch-Site", "cross-site")], vec![("Origin", "null")]] {
        let r = server.call("POST", start, None, &headers, None);
        assert_eq!(r.status, 403, "{headers:?}: {}", r.body);
        assert!(r.json()["error"].is_string());
    }
    assert_eq!(server.call("DELETE", "/api/recordings/20261202-120000-proc01", None, &[("Origin", "https://evil.example")], None).status, 403);
    // Our own page, the embedding application and curl reach the handler (no meeting: 404).
    for headers in [vec![("Origin", own.as_str()), ("Sec-Fetch-Site", "same-origin")], vec![("Origin", "https://app.example.com"), ("Sec-Fetch-Site", "cross-site")], vec![]] {
        assert_eq!(server.call("POST", start, None, &headers, None).status, 404, "{headers:?}");
    }
    // The signaling socket: another site's page cannot open it; ours and the allowed one can.
    let ws = "/api/rooms/standup/ws";
    let with = |origin: &str| {
        let mut h = UPGRADE.to_vec();
        h.push(("Origin", origin));
        server.call("GET", ws, None, &h, None).status
    };
    assert_eq!(with("https://evil.example"), 403);
    assert_eq!(with(&own), 101);
    assert_eq!(with("https://app.example.com"), 101);
    // With an allowed origin, the pages may be framed by it.
    let csp = server.call("GET", "/", None, &[], None).header("content-security-policy").unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'self' https://app.example.com"), "{csp}");
    // An unknown method is a JSON error too.
    assert!(server.call("PUT", "/api/health", None, &[], None).json()["error"].is_string());
}

#[test]
fn open_mode_answers_loopback_names_only() {
    let dir = common::temp_dir("access-host");
    let server = Podium::start(&dir, &[], &[]);
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
        assert_eq!(server.call("GET", "/api/recordings", None, &[("Host", &host)], None).status, 200, "{host}");
    }
    // DNS rebinding: attacker.example resolves to 127.0.0.1, the browser sends its name.
    for host in [format!("attacker.example:{port}"), "localhost:1".to_string(), "localhost".to_string(), "127.0.0.2".to_string()] {
        let r = server.call("GET", "/api/recordings", None, &[("Host", &host)], None);
        assert_eq!(r.status, 403, "{host}");
        assert!(r.json()["error"].as_str().unwrap().contains("PODIUM_SECRET"), "{}", r.body);
    }
    // Two Host headers are a 400 (RFC 9112 §3.2), whichever comes first.
    let loopback = format!("127.0.0.1:{port}");
    for hosts in [[loopback.as_str(), "attacker.example"], ["attacker.example", loopback.as_str()]] {
        let r = server.call("GET", "/api/recordings", None, &[("Host", hosts[0]), ("Host", hosts[1])], None);
        assert_eq!(r.status, 400, "{hosts:?}: {}", r.body);
        assert!(r.json()["error"].as_str().unwrap().contains("more than one Host"), "{}", r.body);
    }
    // A request in absolute form names its host in the target, which wins over Host
    // (RFC 9112 §3.2.2): a proxy that forwards by the target must not reach us past the check.
    let local = format!("localhost:{port}");
    let r = request(&server.addr, "GET", "http://attacker.example/api/recordings", &[("Host", &local)], None);
    assert_eq!(r.status, 403, "{}", r.body);
    let r = request(&server.addr, "GET", &format!("http://{local}/api/recordings"), &[("Host", "attacker.example")], None);
    assert_eq!(r.status, 200, "{}", r.body);
    // Two Host headers stay a 400 there too (the target does not hide the second).
    let r = request(&server.addr, "GET", &format!("http://{local}/api/recordings"), &[("Host", &local), ("Host", "attacker.example")], None);
    assert_eq!(r.status, 400, "{}", r.body);
    // HTTP/2 sends no Host: its `:authority` is checked the same way.
    let h2 = |authority: String| {
        let addr = server.addr.clone();
        tokio::runtime::Runtime::new().unwrap().block_on(async move {
            let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
            tokio::spawn(connection);
            let request = http::Request::get(format!("http://{authority}/api/recordings")).body(()).unwrap();
            let (response, _) = client.send_request(request, true).unwrap();
            response.await.unwrap().status().as_u16()
        })
    };
    assert_eq!(h2(format!("127.0.0.1:{port}")), 200);
    assert_eq!(h2(format!("localhost:{port}")), 200);
    assert_eq!(h2(format!("attacker.example:{port}")), 403);
    // Unknown methods get JSON too.
    let r = server.call("PATCH", "/api/recordings", None, &[], None);
    assert_eq!(r.status, 405);
    assert!(r.json()["error"].is_string(), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_heads_silent_and_idle_connections_and_unjoined_sockets_are_closed_on_time() {
    let dir = common::temp_dir("access-slow");
    let server = Podium::start(&dir, &[], &[]);
    // Slowloris: a request head that never ends.
    let slow = {
        let addr = server.addr.clone();
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ").as_bytes()).unwrap();
            closed_after(s)
        })
    };
    // A connection that sends nothing at all owes its head within the same 10 s.
    let silent = {
        let addr = server.addr.clone();
        std::thread::spawn(move || closed_after(std::net::TcpStream::connect(&addr).unwrap()))
    };
    // A keep-alive connection idle after a request is kept for 60 s, not cut at 10.
    let keep_alive = {
        let addr = server.addr.clone();
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.ends_with(b"}") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "closed before answering");
                got.extend_from_slice(&buf[..n]);
            }
            closed_after(s)
        })
    };
    // A socket that never joins.
    let started = Instant::now();
    let url = format!("{}/api/rooms/lobby/ws", server.base.replacen("http", "ws", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use futures_util::StreamExt;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("not closed within 20 s") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    };
    let unjoined = started.elapsed();
    assert!(close.is_some_and(|f| f.reason.contains("join")), "closed without saying why");
    assert!((Duration::from_secs(9)..Duration::from_secs(13)).contains(&unjoined), "unjoined socket closed after {unjoined:?}");
    let slowloris = slow.join().unwrap();
    assert!((Duration::from_secs(9)..Duration::from_secs(13)).contains(&slowloris), "half-sent head closed after {slowloris:?}");
    let silent = silent.join().unwrap();
    assert!((Duration::from_secs(9)..Duration::from_secs(13)).contains(&silent), "silent connection closed after {silent:?}");
    let idle = keep_alive.join().unwrap();
    assert!((Duration::from_secs(59)..Duration::from_secs(64)).contains(&idle), "idle keep-alive closed after {idle:?}");
}

/// How long until the server closes this connection (reading and discarding).
fn closed_after(mut s: std::net::TcpStream) -> Duration {
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sockets_per_ip_and_rooms_are_limited() {
    let dir = common::temp_dir("access-limits");
    let server = Podium::start(&dir, &["--max-sockets-per-ip", "3", "--max-rooms", "2"], &[]);
    let mut a = Client::connect(&server.base, "one").await;
    a.ok("join", json!({"name": "A"})).await;
    let mut b = Client::connect(&server.base, "two").await;
    b.ok("join", json!({"name": "B"})).await;
    let mut c = Client::connect(&server.base, "three").await;
    let r = c.request("join", json!({"name": "C"})).await;
    assert_eq!(r["error"]["code"], "too_many_rooms", "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("2 rooms"), "{r}");
    // Three sockets are open from 127.0.0.1: a fourth is refused before the upgrade.
    let refused = server.call("GET", "/api/rooms/one/ws", None, &UPGRADE, None);
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.json()["error"].as_str().unwrap().contains("signaling connections"));
    drop(c);
    // The slot comes back once a socket closes.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.call("GET", "/api/rooms/one/ws", None, &UPGRADE, None).status != 101 {
        assert!(Instant::now() < deadline, "the closed socket's slot never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn behind_a_trusted_proxy_each_client_has_its_own_limits() {
    // Behind a reverse proxy every TCP peer is the proxy: with --trusted-proxy, the
    // client it names in X-Forwarded-For is the one counted; without, the header is
    // anyone's to forge and is ignored.
    let dir = common::temp_dir("access-proxy");
    let open_socket = |addr: &str, forwarded_for: &str| -> (u16, std::net::TcpStream) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = format!("GET /api/rooms/lobby/ws HTTP/1.1\r\nHost: {addr}\r\nX-Forwarded-For: {forwarded_for}\r\n");
        for (k, v) in UPGRADE {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        s.write_all(format!("{head}\r\n").as_bytes()).unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).unwrap();
        (String::from_utf8_lossy(&buf[9..12]).parse().unwrap(), s)
    };
    // The proxy by its address, and by a range it is in (a container network's).
    for proxy in ["127.0.0.1", "127.0.0.0/8"] {
        let proxied = Podium::start(&dir, &["--max-sockets-per-ip", "1", "--trusted-proxy", proxy], &[]);
        let (status, _ada) = open_socket(&proxied.addr, "203.0.113.5");
        assert_eq!(status, 101, "{proxy}");
        // The same client again is over its limit; another behind the same proxy is not.
        assert_eq!(open_socket(&proxied.addr, "203.0.113.5").0, 429, "{proxy}");
        let (status, _grace) = open_socket(&proxied.addr, "198.51.100.7, 203.0.113.9");
        assert_eq!(status, 101, "a second client behind the proxy {proxy}");
        // A client's forged entry left of the proxy's does not make it someone else, nor
        // does a forged entry inside the trusted range.
        assert_eq!(open_socket(&proxied.addr, "192.0.2.1, 203.0.113.5").0, 429, "{proxy}");
        assert_eq!(open_socket(&proxied.addr, "127.0.0.9, 203.0.113.5").0, 429, "{proxy}");
    }

    let direct = Podium::start(&dir, &["--max-sockets-per-ip", "1"], &[]);
    let (status, _first) = open_socket(&direct.addr, "203.0.113.5");
    assert_eq!(status, 101);
    assert_eq!(open_socket(&direct.addr, "198.51.100.7").0, 429, "X-Forwarded-For from an untrusted peer counts for nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_recordings_refuses_with_503_and_the_running_one_goes_on() {
    let dir = common::temp_dir("access-capacity");
    let server = Podium::start(&dir, &["--max-recordings", "1", "--recording-size", "320x180"], &[]);
    let mut a = Client::connect(&server.base, "first").await;
    a.join_with_audio("Ada").await;
    let mut b = Client::connect(&server.base, "second").await;
    b.join_with_audio("Bob").await;
    let first = server.call("POST", "/api/rooms/first/recording", None, &[], None);
    assert_eq!(first.status, 201, "{}", first.body);
    let refused = server.call("POST", "/api/rooms/second/recording", None, &[], None);
    assert_eq!(refused.status, 503, "{}", refused.body);
    let message = refused.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("recording capacity (1 running)"), "{message}");
    // The room hears it from the API answer; the running recording goes on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let room = server.call("GET", "/api/rooms/first", None, &[], None).json();
    assert_eq!(room["recording"]["id"], first.json()["id"], "{room}");
    let stopped = server.call("DELETE", "/api/rooms/first/recording", None, &[], None);
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    assert!(stopped.json()["duration_ms"].as_u64().unwrap() >= 1500, "{}", stopped.body);
    // Capacity is back.
    assert_eq!(server.call("POST", "/api/rooms/second/recording", None, &[], None).status, 201);
    // The default log filter keeps Podium's info lines (the library is `server`), and
    // the audit log says who started it.
    let logs = server.logs_with(&["recording started", "recording.start", "recording.stop", "room.join"]);
    assert!(logs.contains("recording started"), "a default run does not log a recording's start:\n{logs}");
    assert!(logs.contains("recording.start") && logs.contains("sub=\"open\"") && logs.contains("ip=127.0.0.1"), "no audit line:\n{logs}");
    assert!(logs.contains("recording.stop"), "{logs}");
    assert!(logs.contains("room.join"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compositor_never_holds_the_secret_and_links_use_the_public_url() {
    let dir = common::temp_dir("access-public-url");
    let server = Podium::start(&dir, &["--public-url", "https://Meet.example.com/", "--recording-size", "320x180"], &[("PODIUM_SECRET", SECRET)]);
    let host = token(&["--room", "proc", "--name", "Hana", "--role", "host"]);
    let mut c = Client::connect_url(&format!("{}/api/rooms/proc/ws?token={host}", server.base.replacen("http", "ws", 1))).await;
    c.join_with_audio("Hana").await;
    let started = server.call("POST", "/api/rooms/proc/recording", Some(&host), &[], None);
    assert_eq!(started.status, 201, "{}", started.body);
    let id = started.json()["id"].as_str().unwrap().to_string();
    // The server holds the secret (so this can fail); its compositor must not.
    let environ = |pid: u32| String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default()).into_owned();
    assert!(environ(server.child.id()).contains(SECRET));
    let children = common::descendants(server.child.id());
    assert!(!children.is_empty(), "no compositor is running");
    for pid in children {
        let env = environ(pid);
        assert!(!env.contains(SECRET) && !env.contains("PODIUM_SECRET="), "process {pid} holds the secret");
    }
    assert_eq!(server.call("DELETE", "/api/rooms/proc/recording", Some(&host), &[], None).status, 200);

    // A proxy in front passes a Host of its own: links use --public-url all the same.
    let share = |headers: &[(&str, &str)]| server.call("POST", &format!("/api/recordings/{id}/share"), Some(&host), headers, Some(r#"{"expires_in_s": 60}"#));
    for headers in [vec![], vec![("Host", "evil.example")], vec![("Host", "evil.example/phish?")]] {
        let r = share(&headers);
        assert_eq!(r.status, 201, "{headers:?}: {}", r.body);
        assert!(r.json()["url"].as_str().unwrap().starts_with("https://meet.example.com/s/"), "{headers:?}: {}", r.body);
    }
    // Behind the proxy's HTTPS, the session cookie is Secure though this server speaks HTTP.
    let session = server.call("POST", "/api/session", Some(&host), &[], None);
    assert!(session.header("set-cookie").is_some_and(|c| c.contains("; Secure")), "{:?}", session.header("set-cookie"));
    // Pages served from the public origin are this server's own: not refused as cross-site.
    let from_public = server.call("DELETE", "/api/rooms/proc/recording", Some(&host), &[("Origin", "https://meet.example.com"), ("Sec-Fetch-Site", "same-origin")], None);
    assert_eq!(from_public.status, 404, "{}", from_public.body);
    let from_elsewhere = server.call("DELETE", "/api/rooms/proc/recording", Some(&host), &[("Origin", "https://evil.example")], None);
    assert_eq!(from_elsewhere.status, 403, "{}", from_elsewhere.body);

    // Without --public-url, a Host that is not a host name builds no link.
    drop(server);
    let plain = Podium::start(&dir, &[], &[("PODIUM_SECRET", SECRET)]);
    let r = plain.call("POST", &format!("/api/recordings/{id}/share"), Some(&host), &[("Host", "evil.example/phish?")], Some(r#"{"expires_in_s": 60}"#));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("--public-url"), "{}", r.body);
    let r = plain.call("POST", &format!("/api/recordings/{id}/share"), Some(&host), &[], Some(r#"{"expires_in_s": 60}"#));
    assert!(r.json()["url"].as_str().unwrap().starts_with(&format!("{}/s/", plain.base)), "{}", r.body);
}

#[test]
fn listening_beyond_loopback_needs_a_secret() {
    let dir = common::temp_dir("access-exposed");
    let out = Command::new(env!("CARGO_BIN_EXE_podium"))
        .args(["serve", "--listen", "0.0.0.0:0", "--announced-ip", "127.0.0.1", "--rtc-port", "0", "--recordings-dir"])
        .arg(&dir)
        .env_remove("PODIUM_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PODIUM_SECRET"), "{stderr}");
    // With a secret, or an explicit --insecure-open (which warns), it starts.
    let secured = Podium::start(&dir, &["--listen", "0.0.0.0:0", "--announced-ip", "127.0.0.1"], &[("PODIUM_SECRET", SECRET)]);
    assert_eq!(request(&format!("127.0.0.1:{}", secured.addr.rsplit(':').next().unwrap()), "GET", "/api/recordings", &[], None).status, 401);
    drop(secured);
    let open = Podium::start(&dir, &["--listen", "0.0.0.0:0", "--announced-ip", "127.0.0.1", "--insecure-open"], &[]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(open.logs_with(&["--insecure-open"]).contains("--insecure-open"), "{}", open.logs());
    // A short secret is refused with a clear line.
    let out = Command::new(env!("CARGO_BIN_EXE_podium")).args(["serve", "--recordings-dir"]).arg(&dir).env("PODIUM_SECRET", "short").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32"));
}

#[test]
fn insecure_open_answers_its_addresses_and_names_only() {
    // Open on a LAN, a DNS rebinding still must not reach it: attacker.example resolved
    // to the server's address names itself in Host, and with no token nothing else tells.
    let dir = common::temp_dir("access-lan-host");
    record_for(&dir, 1);
    let server = Podium::start(&dir, &["--listen", "0.0.0.0:0", "--announced-ip", "127.0.0.1", "--insecure-open", "--allowed-host", "podium.office.lan"], &[]);
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    // The server's own reading of it (a hostname that is not a DNS name is not used).
    let hostname = server::net::hostname().unwrap_or_else(|| "localhost".into());
    let listed = server.call("GET", "/api/recordings", None, &[], None).json();
    let id = listed[0]["id"].as_str().expect("the recording is listed").to_string();
    for host in [format!("127.0.0.1:{port}"), format!("[::1]:{port}"), format!("localhost:{port}"), format!("podium.office.lan:{port}"), "podium.office.lan".into(), format!("{hostname}:{port}")] {
        let r = server.call("GET", "/api/recordings", None, &[("Host", &host)], None);
        assert_eq!(r.status, 200, "{host}: {}", r.body);
        assert_eq!(r.json().as_array().map(Vec::len), Some(1), "{host}: {}", r.body);
    }
    for host in [format!("attacker.example:{port}"), format!("podium.office.lan.attacker.example:{port}"), format!("{hostname}.attacker.example"), String::new()] {
        let r = server.call("GET", "/api/recordings", None, &[("Host", &host)], None);
        assert_eq!(r.status, 403, "{host}: {}", r.body);
        let error = r.json()["error"].as_str().unwrap().to_string();
        // It says what to do, and names none of the names that pass: a rebound page reads it.
        let told = error.replace(&host, "");
        let names_a = |name: &str| told.split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-')).any(|word| word == name);
        assert!(error.contains("--allowed-host") && !names_a("podium.office.lan") && !names_a(&hostname), "{error}");
        // A rebound page changing state, and opening the signaling socket, fare the same.
        assert_eq!(server.call("DELETE", &format!("/api/recordings/{id}"), None, &[("Host", &host)], None).status, 403, "{host}");
        assert_eq!(server.call("POST", "/api/rooms/lan/recording", None, &[("Host", &host)], Some("{}")).status, 403, "{host}");
        let upgrade: Vec<(&str, &str)> = UPGRADE.iter().copied().chain([("Host", host.as_str())]).collect();
        assert_eq!(server.call("GET", "/api/rooms/lan/ws", None, &upgrade, None).status, 403, "{host}");
    }
    // Nothing was deleted or started by the refused requests.
    let r = server.call("GET", "/api/recordings", None, &[("Host", &format!("127.0.0.1:{port}"))], None);
    assert_eq!(r.json().as_array().map(Vec::len), Some(1), "{}", r.body);
}

#[test]
fn a_share_link_opens_its_recording_and_nothing_else_then_expires_or_is_revoked() {
    let dir = common::temp_dir("access-share");
    record_for(&dir, 3);
    let other = "20261202-130000-other1";
    copy_recording(&dir, other, "proc");
    let server = Podium::start(&dir, &[], &[("PODIUM_SECRET", SECRET)]);
    let host = token(&["--room", "proc", "--name", "Hana", "--role", "host"]);
    let share = |seconds: u64| {
        let r = server.call("POST", &format!("/api/recordings/{ID}/share"), Some(&host), &[], Some(&format!(r#"{{"expires_in_s": {seconds}}}"#)));
        assert_eq!(r.status, 201, "{}", r.body);
        let v = r.json();
        (v["id"].as_str().unwrap().to_string(), v["url"].as_str().unwrap().rsplit("/s/").next().unwrap().to_string())
    };
    // A body that is not the expected one gets a fixed message, never its own text
    // back (a probe sent a 1.5 MB field name and got it back); a large one a JSON 413.
    let field = "A".repeat(600);
    for (body, status) in [(format!(r#"{{"{field}": 1}}"#), 400), (format!(r#"{{"{}": 1}}"#, "B".repeat(4096)), 413)] {
        let r = server.call("POST", &format!("/api/recordings/{ID}/share"), Some(&host), &[], Some(&body));
        assert_eq!(r.status, status, "{}", r.body);
        assert!(r.body.len() < 200 && !r.body.contains("AAAA") && !r.body.contains("BBBB"), "{}", r.body);
        assert!(r.json()["error"].is_string(), "{}", r.body);
    }
    let (long_id, long) = share(600);
    // The page trades it for a cookie scoped to that recording's API.
    let session = server.call("POST", "/api/session", Some(&long), &[], None);
    assert_eq!(session.status, 200, "{}", session.body);
    assert_eq!(session.json()["recording"], ID);
    let cookie = session.header("set-cookie").unwrap().to_string();
    assert!(cookie.contains(&format!("Path=/api/recordings/{ID}")) && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let jar = cookie.split(';').next().unwrap().to_string();
    for path in ["", "/video", "/speakers.vtt"] {
        let r = server.call("GET", &format!("/api/recordings/{ID}{path}"), None, &[("Cookie", &jar)], None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    // It opens nothing else, and cannot delete or share.
    for (method, path) in [("GET", format!("/api/recordings/{other}")), ("GET", format!("/api/recordings/{other}/video")), ("GET", "/api/recordings".to_string()), ("DELETE", format!("/api/recordings/{ID}")), ("POST", format!("/api/recordings/{ID}/share"))] {
        let r = server.call(method, &path, Some(&long), &[], Some(r#"{"expires_in_s": 60}"#));
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
    }
    assert_eq!(server.call("GET", "/api/rooms/proc/ws", Some(&long), &UPGRADE, None).status, 403);
    // The recording lists its shares for the host.
    let rec = server.call("GET", &format!("/api/recordings/{ID}"), Some(&host), &[], None).json();
    assert!(rec["shares"].as_array().unwrap().iter().any(|s| s["id"] == long_id.as_str() && s["expires_at"].is_string()), "{rec}");
    // A share viewer does not see the share list.
    assert!(server.call("GET", &format!("/api/recordings/{ID}"), Some(&long), &[], None).json()["shares"].is_null());
    // Revoked: 410 at once.
    assert_eq!(server.call("DELETE", &format!("/api/recordings/{ID}/share/{long_id}"), Some(&host), &[], None).status, 204);
    let gone = server.call("GET", &format!("/api/recordings/{ID}/video"), Some(&long), &[], None);
    assert_eq!(gone.status, 410, "{}", gone.body);
    let gone = server.call("GET", &format!("/api/recordings/{ID}/video"), None, &[("Cookie", &jar)], None);
    assert_eq!(gone.status, 410, "the revoked share's cookie: {}", gone.body);
    assert_eq!(server.call("POST", "/api/session", Some(&long), &[], None).status, 410);
    // Expired: 410.
    let (_, short) = share(1);
    assert_eq!(server.call("GET", &format!("/api/recordings/{ID}"), Some(&short), &[], None).status, 200);
    std::thread::sleep(Duration::from_millis(2100));
    let expired = server.call("GET", &format!("/api/recordings/{ID}"), Some(&short), &[], None);
    assert_eq!(expired.status, 410, "{}", expired.body);
    assert!(expired.json()["error"].as_str().unwrap().contains("expired"), "{}", expired.body);
    // Bad requests are clear.
    for body in [r#"{"expires_in_s": 0}"#, r#"{"expires_in_s": 99999999}"#, r#"{"expires":5}"#, "nope"] {
        let r = server.call("POST", &format!("/api/recordings/{ID}/share"), Some(&host), &[], Some(body));
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
    let logs = server.logs_with(&["recording.share", "recording.revoke"]);
    assert!(logs.contains("recording.share") && logs.contains("recording.revoke") && logs.contains("role=host"), "{logs}");
}

#[test]
fn open_mode_share_links_work_until_restart() {
    let dir = common::temp_dir("access-open-share");
    record_for(&dir, 3);
    let server = Podium::start(&dir, &[], &[]);
    let r = server.call("POST", &format!("/api/recordings/{ID}/share"), None, &[], Some(r#"{"expires_in_s": 600}"#));
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.json()["url"].as_str().unwrap().rsplit("/s/").next().unwrap().to_string();
    let session = server.call("POST", "/api/session", Some(&token), &[], None);
    assert_eq!((session.status, session.json()["kind"].clone()), (200, json!("share")), "{}", session.body);
    assert_eq!(server.call("GET", "/api/session", None, &[], None).json()["mode"], "open");
}

/// Trusts exactly the certificate whose SHA-256 the server printed (as a person checks
/// a self-signed certificate's fingerprint in the browser).
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<tokio_rustls::rustls::crypto::CryptoProvider>,
}

mod pin {
    use super::Pinned;
    use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use tokio_rustls::rustls::{DigitallySignedStruct, Error, SignatureScheme};

    impl ServerCertVerifier for Pinned {
        fn verify_server_cert(&self, cert: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, Error> {
            let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
            let seen = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
            if seen == self.fingerprint {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(Error::General(format!("fingerprint {seen} is not the printed {}", self.fingerprint)))
            }
        }
        fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
            tokio_rustls::rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
        }
        fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
            tokio_rustls::rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_a_self_signed_certificate_serves_health_and_a_wss_join() {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    let dir = common::temp_dir("access-tls");
    let server = Podium::start(&dir, &["--tls-self-signed"], &[]);
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let line = server.banner.iter().find(|l| l.starts_with("Self-signed certificate for")).expect("the fingerprint is printed");
    assert!(line.contains("127.0.0.1") && line.contains("localhost"), "{line}");
    let fingerprint = line.rsplit("SHA-256 ").next().unwrap().trim().to_string();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { fingerprint, provider }))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
        connector.connect(rustls::pki_types::ServerName::try_from("localhost").unwrap(), tcp).await.expect("TLS handshake")
    };
    let mut tls = connect().await;
    tls.write_all(format!("GET /api/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr).as_bytes()).await.unwrap();
    let mut reply = String::new();
    tls.read_to_string(&mut reply).await.ok();
    assert!(reply.starts_with("HTTP/1.1 200") && reply.contains("\"status\":\"ok\""), "{reply}");

    // A WSS join, as a browser on the LAN makes it.
    let (mut ws, _) = tokio_tungstenite::client_async(format!("wss://{}/api/rooms/tls/ws", server.addr), connect().await).await.expect("WSS upgrade");
    ws.send(tokio_tungstenite::tungstenite::Message::Text(json!({"v": 1, "id": 1, "type": "join", "name": "Tess"}).to_string().into())).await.unwrap();
    let joined = loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "response" {
                break v;
            }
        }
    };
    assert_eq!(joined["ok"], true, "{joined}");
    assert_eq!(joined["data"]["role"], "admin", "open mode acts as admin: {joined}");
    // Plain HTTP on the TLS port gets nothing useful.
    let mut plain = std::net::TcpStream::connect(&server.addr).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    plain.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}

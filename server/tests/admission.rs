//! Admission control against the real `podium serve` (docs/api.md, "Recording"): with
//! its own core budget (`--recording-cores`, so that the machine's other work does not
//! move the estimate), the server refuses a recording with a 503 exactly where
//! `/api/health` said its capacity ends, and a compositor frozen behind real time
//! (SIGSTOP) refuses the next one whatever the cores say. The running recordings are
//! never touched: they go on and finish with files that play.
mod common;

use common::ws::Client;
use common::Server;
use compositor::output::mp4::VideoSettings;
use compositor::picture::layout::LayoutKind;
use compositor::review::probe;
use futures_util::StreamExt;
use serde_json::Value;
use server::recording::admission::{predicted_cores, HEADROOM, SFU_PER_RECORDING};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn call(server: &Server, method: &str, path: &str) -> (u16, Value) {
    call_with(server, method, path, None)
}

fn call_with(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = server.url(path);
    let mut response = match method {
        "POST" => match body {
            Some(body) => agent.post(&url).header("content-type", "application/json").send(body.to_string()),
            None => agent.post(&url).send_empty(),
        },
        "DELETE" => agent.delete(&url).call(),
        _ => agent.get(&url).call(),
    }
    .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `(running, capacity_estimate)` from `/api/health`.
fn health(server: &Server) -> (u64, u64) {
    let (status, body) = call(server, "GET", "/api/health");
    assert_eq!(status, 200, "{body}");
    (body["recordings"]["running"].as_u64().expect("recordings.running"), body["recordings"]["capacity_estimate"].as_u64().expect("recordings.capacity_estimate"))
}

/// The `/api/metrics` samples, by name with its labels (`podium_x{reason="disk"}`).
fn metrics(server: &Server) -> std::collections::HashMap<String, f64> {
    let mut response = ureq::get(&server.url("/api/metrics")).call().unwrap();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.body_mut().read_to_string().unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {l:?}"));
            (name.to_string(), value.parse().unwrap_or_else(|_| panic!("not a number: {l:?}")))
        })
        .collect()
}

/// Someone in `room` with a microphone, answering the server's pings from then on (a
/// participant not heard from for 8 s is gone, and the room's recording with them).
async fn join(server: &Server, room: &str, name: &str) {
    let mut client = Client::connect(&server.base_url, room).await;
    client.join_with_audio(name).await;
    let mut ws = client.freeze();
    tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
}

/// The compositor process of a recording (its id is on its command line).
fn compositor_of(server: &Server, id: &str) -> u32 {
    common::descendants(server.pid())
        .into_iter()
        .find(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(id)))
        .unwrap_or_else(|| panic!("no compositor for {id}"))
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success(), "kill {sig} {pid}");
}

/// Continues a stopped process however the test ends.
struct Frozen(u32);

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.0.to_string()]).status();
    }
}

/// Stops `room`'s recording and checks it finished, at least `min_ms` long, and plays:
/// every frame decodes from a first keyframe to its end, and its sound decodes.
fn stop_and_check(server: &Server, room: &str, id: &str, min_ms: u64) {
    let (status, stopped) = call(server, "DELETE", &format!("/api/rooms/{room}/recording"));
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["id"], id, "{stopped}");
    assert_eq!(stopped["status"], "finished", "{stopped}");
    let duration = stopped["duration_ms"].as_u64().unwrap();
    assert!(duration >= min_ms, "{room}: {duration} ms < {min_ms} ms");
    let mp4 = server.recordings_dir.join(format!("{id}.mp4"));
    check_plays(&mp4, duration);
}

fn check_plays(mp4: &Path, duration: u64) {
    let frames = probe::video_frames(mp4).unwrap_or_else(|e| panic!("{}: {e}", mp4.display()));
    assert!(frames.first().is_some_and(|f| f.keyframe), "{} does not start on a keyframe", mp4.display());
    let last = frames.last().unwrap().t_ms;
    assert!(last + 1500 >= duration, "{}: the pictures end at {last} ms of {duration}", mp4.display());
    assert!(probe::duration_ms(mp4).unwrap() + 1500 >= duration);
    let (rate, audio) = probe::audio_mono(mp4).unwrap();
    assert!(audio.len() as u64 * 1000 / u64::from(rate) + 1500 >= duration, "{}: the sound is short", mp4.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_beyond_the_estimate_gets_a_503_and_the_running_ones_go_on() {
    // A budget of two recordings at the default settings and 1.5 at 640x360: the
    // estimate's capacity is 2 (the server's own load, a few thousandths of a core
    // here, would have to exceed the room left to make it 1), a third cannot fit
    // whatever that load is, and a smaller one (what the refusal offers) does.
    let default = VideoSettings { width: 1280, height: 720, fps: 30, preset: "superfast".into(), coder: Default::default() };
    let per = predicted_cores(&default, LayoutKind::DEFAULT) + SFU_PER_RECORDING;
    let small = predicted_cores(&VideoSettings { width: 640, height: 360, ..default.clone() }, LayoutKind::DEFAULT) + SFU_PER_RECORDING;
    assert!(1.5 * small < per, "a 640x360 recording costs {small} cores against {per}: the test needs it cheaper");
    let cores = format!("{:.4}", (2.0 * per + 1.5 * small) / HEADROOM);
    let server = Server::start(&["--workers", "1", "--recording-admission", "on", "--recording-cores", &cores]);
    for room in ["one", "two", "three"] {
        join(&server, room, &format!("In-{room}")).await;
    }
    assert_eq!(health(&server), (0, 2), "the estimate with {cores} cores");

    let (status, first) = call(&server, "POST", "/api/rooms/one/recording");
    assert_eq!(status, 201, "{first}");
    let (status, second) = call(&server, "POST", "/api/rooms/two/recording");
    assert_eq!(status, 201, "{second}");
    let (status, refused) = call(&server, "POST", "/api/rooms/three/recording");
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"], "this server is at its recording capacity: 2 recordings running; try a smaller size or stop one");
    assert_eq!(refused["smaller_size"], "640x360", "the size that would fit now: {refused}");
    assert_eq!(health(&server), (2, 2));
    let m = metrics(&server);
    assert_eq!((m["podium_recordings_running"], m["podium_recordings_capacity_estimate"], m["podium_recordings_started_total"]), (2.0, 2.0, 2.0), "{m:?}");
    assert_eq!((m["podium_recordings_refused_total{reason=\"cpu\"}"], m["podium_recordings_refused_total{reason=\"disk\"}"]), (1.0, 0.0), "{m:?}");
    assert_eq!((m["podium_rooms"], m["podium_participants"], m["podium_workers_alive"]), (3.0, 3.0, 1.0), "{m:?}");
    assert!(m["podium_recordings_disk_free_bytes"] > 0.0 && m["podium_recording_lag_seconds_max"] < 5.0, "{m:?}");
    let (_, three) = call(&server, "GET", "/api/rooms/three");
    assert!(three["recording"].is_null(), "{three}");
    // A size larger than the server's is no way around it; a smaller one fits.
    let (status, larger) = call_with(&server, "POST", "/api/rooms/three/recording", Some(serde_json::json!({"size": "1920x1080"})));
    assert_eq!(status, 400, "{larger}");
    assert!(larger["error"].as_str().unwrap().contains("at most 1280x720"), "{larger}");
    let (status, smaller) = call_with(&server, "POST", "/api/rooms/three/recording", Some(serde_json::json!({"size": refused["smaller_size"]})));
    assert_eq!(status, 201, "{smaller}");
    assert_eq!((smaller["width"].as_u64(), smaller["height"].as_u64()), (Some(640), Some(360)), "{smaller}");
    assert_eq!(health(&server).0, 3);

    // The running recordings go on: still recording, growing.
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (room, rec) in [("one", &first), ("two", &second)] {
        let (_, view) = call(&server, "GET", &format!("/api/rooms/{room}"));
        assert_eq!(view["recording"]["id"], rec["id"], "{view}");
        let (_, now) = call(&server, "GET", &format!("/api/recordings/{}", rec["id"].as_str().unwrap()));
        assert_eq!(now["status"], "recording", "{now}");
        assert!(now["duration_ms"].as_u64().unwrap() >= 1000, "{now}");
    }
    let lived = started.elapsed().as_millis() as u64;
    stop_and_check(&server, "one", first["id"].as_str().unwrap(), lived);
    stop_and_check(&server, "two", second["id"].as_str().unwrap(), lived);
    stop_and_check(&server, "three", smaller["id"].as_str().unwrap(), lived);
    let small_file = server.recordings_dir.join(format!("{}.mp4", smaller["id"].as_str().unwrap()));
    assert_eq!(probe::video_size(&small_file).unwrap(), (640, 360), "the file is the size asked");
    let m = metrics(&server);
    assert_eq!((m["podium_recordings_running"], m["podium_recordings_started_total"], m["podium_recordings_finished_total"], m["podium_recordings_failed_total"]), (0.0, 3.0, 3.0, 0.0), "{m:?}");

    // Room for one again.
    let (status, third) = call(&server, "POST", "/api/rooms/three/recording");
    assert_eq!(status, 201, "{third}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_and_check(&server, "three", third["id"].as_str().unwrap(), 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compositor_behind_real_time_refuses_the_next_recording_and_still_finishes() {
    // Cores to spare: only the lag can refuse.
    let server = Server::start(&["--workers", "1", "--recording-admission", "on", "--recording-cores", "64", "--recording-size", "640x360", "--recording-fps", "15", "--recording-preset", "ultrafast"]);
    for room in ["busy", "next"] {
        join(&server, room, &format!("In-{room}")).await;
    }
    let (status, busy) = call(&server, "POST", "/api/rooms/busy/recording");
    assert_eq!(status, 201, "{busy}");
    let id = busy["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(health(&server).1 >= 2, "cores to spare");

    // Frozen: it says nothing for 2.5 s, so it is at least 1.5 s behind.
    let pid = compositor_of(&server, &id);
    signal(pid, "-STOP");
    let frozen = Frozen(pid);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(health(&server), (1, 1), "nothing more while one is behind");
    let (status, refused) = call(&server, "POST", "/api/rooms/next/recording");
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"], "this server is at its recording capacity: 1 recording running; try a smaller size or stop one");
    assert!(refused.get("smaller_size").is_none(), "behind real time, no size fits: {refused}");
    drop(frozen);

    // It catches up; then the next one is admitted.
    let deadline = Instant::now() + Duration::from_secs(30);
    let next = loop {
        let (status, body) = call(&server, "POST", "/api/rooms/next/recording");
        if status == 201 {
            break body;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "the compositor never caught up: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (_, view) = call(&server, "GET", "/api/rooms/busy");
    assert_eq!(view["recording"]["id"], id.as_str(), "the frozen recording goes on: {view}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_and_check(&server, "busy", &id, 4500);
    stop_and_check(&server, "next", next["id"].as_str().unwrap(), 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_on_a_disk_below_the_kept_free_space_gets_a_503_that_says_so() {
    // More space kept free than any disk here has.
    let server = Server::start(&["--workers", "1", "--recording-min-free-mb", "100000000", "--recording-size", "640x360", "--recording-fps", "15", "--recording-preset", "ultrafast"]);
    join(&server, "full", "Dee").await;
    assert_eq!(health(&server), (0, 0), "no room for a recording on this disk");
    let (status, refused) = call(&server, "POST", "/api/rooms/full/recording");
    assert_eq!(status, 503, "{refused}");
    let message = refused["error"].as_str().unwrap();
    assert!(message.starts_with("the recordings' disk has ") && message.contains("this server keeps at least 100000000 MB free: delete recordings you no longer need"), "{message}");
    assert!(refused.get("smaller_size").is_none(), "no size needs less disk to start: {refused}");
    // Nothing was started: the room is not recording and no file was made.
    let (_, view) = call(&server, "GET", "/api/rooms/full");
    assert!(view["recording"].is_null(), "{view}");
    let m = metrics(&server);
    assert_eq!((m["podium_recordings_refused_total{reason=\"disk\"}"], m["podium_recordings_started_total"], m["podium_recordings_capacity_estimate"]), (1.0, 0.0, 0.0), "{m:?}");
    let files: Vec<_> = std::fs::read_dir(&server.recordings_dir).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(files.iter().all(|f| !f.to_string_lossy().ends_with(".mp4")), "{files:?}");
}

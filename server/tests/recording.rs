//! Recording end to end inside the server, without a browser: synthetic participants
//! (real VP8 and Opus with audio levels) in a real room, the real speaker detector,
//! the recorder's PlainTransport and switcher, and the real `podium compose` process.
//! The mp4 is then read back: who is on screen when, who is heard, the chapters.
mod common;

use common::synthetic::Participant;
use compositor::review::probe;
use compositor::output::sidecar::Status;
use compositor::output::mp4::VideoSettings;
use server::recording::switcher::SwitchMode;
use server::media::{PoolOptions, WorkerPool};
use server::protocol::RecordingBadge;
use server::recording::{RecordError, Recorder, RecorderConfig, RecordingView};
use server::room::{Room, RoomEvent, RoomId, Rooms};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RED: [u8; 3] = [200, 40, 40];
const BLUE: [u8; 3] = [40, 60, 210];
/// A simulcast camera's layers, each tinted apart: which one a frame shows is which
/// layer reached the recording.
const LOW: [u8; 3] = [40, 160, 60];
const MID: [u8; 3] = BLUE;
const TOP: [u8; 3] = RED;

struct Setup {
    rooms: Arc<Rooms>,
    recorder: Arc<Recorder>,
    dir: common::TempDir,
    pool: Arc<WorkerPool>,
}

async fn setup(size: (u32, u32)) -> Setup {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let pool = Arc::new(WorkerPool::start(&PoolOptions { workers: 1, listen_ip: ip, announced_ip: ip, first_port: 0, tcp: true }).await.unwrap());
    let rooms = Arc::new(Rooms::new(Arc::clone(&pool), 16));
    let dir = common::temp_dir("recordings");
    let recorder = Recorder::new(RecorderConfig {
        dir: dir.to_path_buf(),
        program: PathBuf::from(env!("CARGO_BIN_EXE_podium")),
        video: VideoSettings { width: size.0, height: size.1, fps: 30, preset: "veryfast".into(), coder: Default::default() },
        audio: compositor::output::mp4::AudioChannels::default(),
        lookahead: compositor::engine::DEFAULT_LOOKAHEAD,
        switch: SwitchMode::EveryCamera,
        bind: ip,
        max_running: 64,
        admission: server::recording::admission::Settings::OFF,
        min_free_bytes: 0,
        retention: None,
    });
    Setup { rooms, recorder, dir, pool }
}

/// The HTTP API of the setup's rooms and recorder, called in process.
struct Api {
    app: axum::Router,
    _shutdown: tokio::sync::watch::Sender<bool>,
}

impl Api {
    fn new(s: &Setup) -> Api {
        let (_shutdown, shutdown) = tokio::sync::watch::channel(false);
        let state = Arc::new(server::http::AppState::new(Arc::clone(&s.pool), Arc::clone(&s.rooms), Arc::clone(&s.recorder), shutdown, server::http::Security::in_process()));
        Api { app: server::http::router(state), _shutdown }
    }

    /// One request with a JSON body (empty: none); the status and the JSON answer.
    async fn call(&self, method: &'static str, uri: String, body: String) -> (u16, serde_json::Value) {
        use tower::ServiceExt;
        let request = axum::http::Request::builder().method(method).uri(uri).header("content-type", "application/json").body(axum::body::Body::from(body)).unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    (0..3).map(|i| (f32::from(a[i]) - f32::from(b[i])).powi(2)).sum::<f32>().sqrt() < 40.0
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_recording_follows_the_speaker_hears_everyone_and_adds_who_joins() {
    let s = setup((640, 360)).await;
    let alice = Participant::join(&s.rooms, "rec", "Alice", Some(RED), 440.0).await;
    let bob = Participant::join(&s.rooms, "rec", "Bob", Some(BLUE), 660.0).await;
    let room = Arc::clone(&alice.room);
    let mut events = room.media_snapshot().events;
    sleep_ms(500).await;

    let started = s.recorder.start(Arc::clone(&room)).await.unwrap();
    let t0 = Instant::now();
    assert_eq!(started.status, Status::Recording);
    let names: Vec<&str> = started.participants.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Alice", "Bob"], "the start's answer names who is recorded, in join order");
    assert_eq!(room.view().recording.map(|r| r.id), Some(started.id.to_string()), "the room shows the recording");
    match s.recorder.start(Arc::clone(&room)).await {
        Err(RecordError::AlreadyRecording { id, .. }) => assert_eq!(id, Some(started.id.clone())),
        other => panic!("a second start: {other:?}"),
    }

    // Alice, then Bob; Carol (no camera) joins during Bob's turn and speaks last.
    let at = |ms: u64| async move { tokio::time::sleep_until(tokio::time::Instant::from_std(t0 + Duration::from_millis(ms))).await };
    at(500).await;
    alice.speak(true);
    at(3500).await;
    alice.speak(false);
    at(4000).await;
    bob.speak(true);
    at(5000).await;
    let carol = Participant::join(&s.rooms, "rec", "Carol", None, 880.0).await;
    at(7000).await;
    bob.speak(false);
    at(7500).await;
    carol.speak(true);
    at(10_000).await;
    carol.speak(false);
    at(10_500).await;
    let view: RecordingView = s.recorder.stop(&room.id).await.unwrap();
    assert!(room.view().recording.is_none(), "the room no longer shows a recording");

    // Every participant was told it started and ended.
    let mut told = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let RoomEvent::Recording { recording, error } = event {
            told.push((recording.map(|r: RecordingBadge| r.id), error));
        }
    }
    assert_eq!(told, [(Some(started.id.to_string()), None), (None, None)]);

    assert_eq!(view.status, Status::Finished);
    let names: Vec<&str> = view.participants.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Alice", "Bob", "Carol"]);
    let turns: Vec<(&str, u64, u64)> = view.timeline.iter().map(|t| (t.name.as_str(), t.start_ms, t.end_ms)).collect();
    assert_eq!(turns.iter().map(|t| t.0).collect::<Vec<_>>(), ["Alice", "Bob", "Carol"], "{turns:?}");
    // The recording starts when the compositor does: a turn starts after its speech
    // (the detector needs 0.75 s of it), within 1.5 s.
    for ((_, start, _), speech) in turns.iter().zip([500u64, 4000, 7500]) {
        assert!(*start > speech && *start < speech + 1500, "a turn at {start} ms for speech at {speech} ms: {turns:?}");
    }

    let path = s.dir.join(format!("{}.mp4", view.id));
    // What a player shows at each 1/30 s (the file holds only pictures that changed).
    let frames = probe::as_shown(&probe::video_frames(&path).unwrap(), 30);
    let share = |from: u64, to: u64, check: &dyn Fn([u8; 3], [u8; 3]) -> bool| {
        let span: Vec<_> = frames.iter().filter(|f| f.t_ms >= from && f.t_ms < to).collect();
        span.iter().filter(|f| check(f.centre_rgb, f.corner_rgb)).count() as f64 / span.len().max(1) as f64
    };
    assert!(share(turns[0].1, turns[0].2, &|c, _| close(c, RED)) > 0.98, "Alice's turn shows Alice");
    assert!(share(turns[1].1, turns[1].2, &|c, _| close(c, BLUE)) > 0.98, "Bob's turn shows Bob");
    let card_rgb = compositor::picture::compose::rgb_for("Carol");
    assert!(share(turns[2].1, turns[2].2, &|_, corner| close(corner, card_rgb)) > 0.98, "Carol's turn shows her name card");

    let (rate, audio) = probe::audio_mono(&path).unwrap();
    let tone = |from: u64, to: u64, hz: f32| {
        let (a, b) = ((from * u64::from(rate) / 1000) as usize, (to * u64::from(rate) / 1000) as usize);
        probe::tone_power(&audio[a..b.min(audio.len())], rate, hz)
    };
    for (name, from, to, hz, others) in [("Alice", 1000, 3000, 440.0, [660.0, 880.0]), ("Bob", 4500, 6500, 660.0, [440.0, 880.0]), ("Carol", 8000, 9500, 880.0, [440.0, 660.0])] {
        let p = tone(from, to, hz);
        assert!(p > 0.005, "{name} is not heard ({p})");
        for other in others {
            assert!(tone(from, to, other) < p / 50.0, "{name}'s turn holds another voice ({other} Hz)");
        }
    }
    assert_eq!(common::chapters(&path), ["Alice", "Bob", "Carol"]);
    drop((alice, bob, carol));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_compositor_fails_the_recording_keeps_its_file_and_the_meeting_goes_on() {
    let s = setup((320, 180)).await;
    let alice = Participant::join(&s.rooms, "crash", "Alice", Some(RED), 440.0).await;
    let room = Arc::clone(&alice.room);
    let mut events = room.media_snapshot().events;
    alice.speak(true);
    let started = s.recorder.start(Arc::clone(&room)).await.unwrap();
    sleep_ms(5000).await;
    // This recording's compositor (by its id: other tests' run in this process too).
    let compositor = common::descendants(std::process::id())
        .into_iter()
        .find(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(started.id.as_str())))
        .expect("no compositor process");
    assert!(std::process::Command::new("kill").args(["-9", &compositor.to_string()]).status().unwrap().success());

    // Participants are told, with the reason.
    let error = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(RoomEvent::Recording { recording: None, error }) = events.recv().await {
                return error;
            }
        }
    })
    .await
    .expect("nobody was told the recording stopped")
    .expect("no error given");
    assert!(error.contains("stopped unexpectedly") && error.contains("SIGKILL"), "{error}");
    let view = s.recorder.store().read(&started.id).unwrap();
    assert_eq!(view.status, Status::Failed);
    assert!(view.error.unwrap().contains("SIGKILL"));
    // The file up to the kill plays: all but the lookahead (1.3 s) and its last
    // fragment (up to a second), under 3 s in all.
    let path = s.dir.join(format!("{}.mp4", started.id));
    // What a player shows at each 1/30 s (the file holds only pictures that changed).
    let frames = probe::as_shown(&probe::video_frames(&path).unwrap(), 30);
    assert!(frames.len() as f64 >= 30.0 * 2.0, "only {} frames after 5 s", frames.len());
    assert!(view.duration_ms >= 2000, "{}", view.duration_ms);
    // The meeting goes on, and can be recorded again.
    assert!(!room.is_empty());
    assert!(s.recorder.active_in(&RoomId::parse("crash").unwrap()).is_none());
    let again = s.recorder.start(Arc::clone(&room)).await.unwrap();
    sleep_ms(1500).await;
    let done = s.recorder.stop(&room.id).await.unwrap();
    assert_eq!((done.id, done.status), (again.id, Status::Finished));
    drop(alice);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_recording_ends_when_everyone_leaves() {
    let s = setup((320, 180)).await;
    let alice = Participant::join(&s.rooms, "empty", "Alice", Some(RED), 440.0).await;
    let room = Arc::clone(&alice.room);
    let started = s.recorder.start(Arc::clone(&room)).await.unwrap();
    sleep_ms(1500).await;
    alice.leave(&s.rooms).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.recorder.active_in(&room.id).is_some() {
        assert!(Instant::now() < deadline, "still recording an empty room");
        sleep_ms(50).await;
    }
    assert_eq!(s.recorder.store().read(&started.id).unwrap().status, Status::Finished);
    assert!(matches!(s.recorder.stop(&room.id).await, Err(RecordError::NotRecording(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_asked_for_as_the_last_person_leaves_does_not_run_on_unseen() {
    // A probe's race: start a recording and leave 10-40 ms later. The compositor takes
    // longer than that to start, so the room's `Left` event came before the recording's
    // task listened, and the recording ran on in an empty room, holding its slot.
    let s = setup((320, 180)).await;
    let mut left_while_starting = 0;
    for (i, delay_ms) in [5u64, 15, 30, 45, 60].into_iter().enumerate() {
        let alice = Participant::join(&s.rooms, &format!("race{i}"), "Alice", Some(RED), 440.0).await;
        let room = Arc::clone(&alice.room);
        let start = tokio::spawn({
            let (recorder, room) = (Arc::clone(&s.recorder), Arc::clone(&room));
            async move { recorder.start(room).await }
        });
        sleep_ms(delay_ms).await;
        alice.leave(&s.rooms).await;
        match start.await.unwrap() {
            // Gone before the recording was asked for: nothing to record.
            Err(RecordError::NoMeeting(_)) => continue,
            Err(e) => panic!("{e}"),
            Ok(started) => {
                left_while_starting += 1;
                // The server allows a stop 5 s and more to finish the file; then it is over.
                let deadline = Instant::now() + Duration::from_secs(15);
                while s.recorder.active_in(&room.id).is_some() {
                    assert!(Instant::now() < deadline, "still recording the empty room {} (left {delay_ms} ms after asking)", room.id);
                    sleep_ms(50).await;
                }
                assert_eq!(s.recorder.store().read(&started.id).unwrap().status, Status::Finished);
            }
        }
    }
    assert!(left_while_starting >= 1, "nobody left while a recording started: the race was not run");
    assert_eq!(s.recorder.running(), 0, "slots held by recordings of empty rooms");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_speaker_who_leaves_mid_sentence_never_freezes_the_recording() {
    let s = setup((320, 180)).await;
    let alice = Participant::join(&s.rooms, "leave", "Alice", Some(RED), 440.0).await;
    let bob = Participant::join(&s.rooms, "leave", "Bob", Some(BLUE), 660.0).await;
    let room = Arc::clone(&alice.room);
    let started = s.recorder.start(Arc::clone(&room)).await.unwrap();
    let t0 = compositor::output::sidecar::parse_rfc3339_ms(&started.started_at).unwrap();
    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 - t0;
    // Bob speaks, then Alice takes over, and leaves while still speaking.
    bob.speak(true);
    sleep_ms(2500).await;
    bob.speak(false);
    sleep_ms(500).await;
    alice.speak(true);
    sleep_ms(3000).await;
    let left_at = now_ms();
    alice.leave(&s.rooms).await;
    sleep_ms(4000).await;
    let view = s.recorder.stop(&room.id).await.unwrap();
    let frames = probe::video_frames(&s.dir.join(format!("{}.mp4", view.id))).unwrap();
    let alice_shown: Vec<u64> = frames.iter().filter(|f| close(f.centre_rgb, RED)).map(|f| f.t_ms).collect();
    assert!(!alice_shown.is_empty(), "Alice never on screen");
    let last_alice = *alice_shown.last().unwrap() as i64;
    assert!(last_alice < left_at + 2000, "Alice's closed stream shown until {last_alice} ms, she left at {left_at} ms");
    // And not gone before she left: the output runs a lookahead behind, and her
    // camera's last second is still shown in its place.
    assert!(last_alice > left_at - 400, "Alice gone from the screen at {last_alice} ms, she left at {left_at} ms");
    let bob_back = frames.iter().find(|f| f.t_ms as i64 > left_at && close(f.centre_rgb, BLUE)).map(|f| f.t_ms as i64).expect("the stage never moved on to Bob");
    assert!(bob_back < left_at + 2000, "Bob back on screen at {bob_back} ms, Alice left at {left_at} ms");
    let names: Vec<&str> = view.timeline.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Bob", "Alice", "Bob"]);
    drop(bob);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_refuses_to_cut_or_delete_a_running_recording() {
    let s = setup((320, 180)).await;
    let alice = Participant::join(&s.rooms, "busy", "Alice", Some(RED), 440.0).await;
    let api = Api::new(&s);
    let call = |method: &'static str, uri: String| api.call(method, uri, String::new());
    let (status, started) = call("POST", "/api/rooms/busy/recording".into()).await;
    assert_eq!(status, 201, "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    assert_eq!(started["status"], "recording");
    let (status, conflict) = call("POST", "/api/rooms/busy/recording".into()).await;
    assert_eq!(status, 409);
    assert!(conflict["error"].as_str().unwrap().contains(&id), "the conflict names the running recording: {conflict}");
    assert_eq!(call("POST", "/api/rooms/nobody-here/recording".into()).await.0, 404);
    assert_eq!(call("POST", "/api/rooms/bad%20room/recording".into()).await.0, 400);
    assert_eq!(call("GET", "/api/rooms/busy".into()).await.1["recording"]["id"], id.as_str());
    sleep_ms(1500).await;
    let (status, body) = call("POST", format!("/api/recordings/{id}/highlights")).await;
    assert_eq!(status, 409, "a reel of a running recording: {body}");
    assert!(body["error"].as_str().unwrap().contains("still running"), "{body}");
    assert_eq!(call("DELETE", format!("/api/recordings/{id}")).await.0, 409, "deleting a running recording");
    let (status, live) = call("GET", format!("/api/recordings/{id}")).await;
    assert_eq!((status, live["status"].as_str()), (200, Some("recording")));
    let (status, stopped) = call("DELETE", "/api/rooms/busy/recording".into()).await;
    assert_eq!((status, stopped["status"].as_str()), (200, Some("finished")), "{stopped}");
    assert_eq!(call("DELETE", "/api/rooms/busy/recording".into()).await.0, 404, "nothing left to stop");
    assert_eq!(call("DELETE", format!("/api/recordings/{id}")).await.0, 204);
    // A share link asked for as it was deleted (after the handler's check): refused,
    // and no list of links is left for a recording that is gone.
    let recording = server::recording::RecordingId::parse(&id).unwrap();
    let share = server::recording::shares::Share { id: "abcdefabcdef".into(), expires_at: String::new(), exp: u64::MAX, created_by: "t".into() };
    assert!(matches!(s.recorder.add_share(&recording, share, 0), Err(server::recording::shares::AddShareError::Gone { .. })));
    assert!(!s.dir.join(format!("{id}.shares.json")).exists());
    drop(alice);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_starts_in_the_layout_asked_for_and_changes_it_while_running() {
    let s = setup((320, 180)).await;
    let alice = Participant::join(&s.rooms, "layouts", "Alice", Some(RED), 440.0).await;
    let bob = Participant::join(&s.rooms, "layouts", "Bob", Some(BLUE), 660.0).await;
    let api = Api::new(&s);
    let call = |method: &'static str, uri: &str, body: &str| api.call(method, uri.to_string(), body.to_string());
    // Bad bodies are refused before anything starts.
    // (An array is no object, though serde would fill the body from it by position.)
    for bad in [r#"{"layout": "mosaic"}"#, r#"{"layout": "grid", "extra": 1}"#, "grid", r#"{"layout": 3}"#, r#"["grid", "320x180"]"#, "[]"] {
        let (status, body) = call("POST", "/api/rooms/layouts/recording", bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().unwrap().contains("speaker-strip"), "{body}");
    }
    // And sizes that are not a picture this server records (the size's own words, not
    // the client's text quoted back).
    for (bad, why) in [(r#"{"size": "640x361"}"#, "even"), (r#"{"size": "big"}"#, "WIDTHxHEIGHT"), (r#"{"size": "100x50"}"#, "160x90"), (r#"{"size": "640x720"}"#, "at most 320x180")] {
        let (status, body) = call("POST", "/api/rooms/layouts/recording", bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().unwrap().contains(why), "{bad}: {body}");
    }
    assert!(s.recorder.active_in(&RoomId::parse("layouts").unwrap()).is_none());
    assert_eq!(call("PATCH", "/api/rooms/layouts/recording", r#"{"layout": "grid"}"#).await.0, 404, "nothing to change");
    let (status, started) = call("POST", "/api/rooms/layouts/recording", r#"{"layout": "grid"}"#).await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["layout"], "grid");
    alice.speak(true);
    sleep_ms(3000).await;
    let (status, changed) = call("PATCH", "/api/rooms/layouts/recording", r#"{"layout": "speaker"}"#).await;
    assert_eq!((status, changed["layout"].as_str()), (200, Some("speaker")), "{changed}");
    // Asking again for the layout it has is no change: 200, and nobody hears of it.
    let room = s.rooms.get(&RoomId::parse("layouts").unwrap()).await.unwrap();
    sleep_ms(1000).await; // the real change above reaches the room first
    let mut events = room.media_snapshot().events;
    for _ in 0..30 {
        let (status, same) = call("PATCH", "/api/rooms/layouts/recording", r#"{"layout": "speaker"}"#).await;
        assert_eq!((status, same["layout"].as_str()), (200, Some("speaker")), "{same}");
    }
    sleep_ms(300).await;
    while let Ok(event) = events.try_recv() {
        assert!(!matches!(event, server::room::RoomEvent::Recording { .. }), "the room heard of a layout that did not change");
    }
    assert_eq!(call("PATCH", "/api/rooms/layouts/recording", "{}").await.0, 400);
    for (bad, why) in [(r#"{"layout": "grid", "chosen_ms_ago": 1001}"#, "from 0 to 1000 ms (not 1001)"), (r#"{"layout": "grid", "chosen_ms_ago": -5}"#, "expected a JSON body"), (r#"{"layout": "grid", "chosen_ms_ago": "soon"}"#, "expected a JSON body"), (r#"["grid", 500]"#, "expected a JSON body")] {
        let (status, body) = call("PATCH", "/api/rooms/layouts/recording", bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().unwrap().contains(why), "{bad}: {body}");
    }
    sleep_ms(3000).await;
    alice.speak(false);
    // A layout chosen 700 ms before Stop, sent as Stop is pressed (the room's picker
    // was still letting it settle), and the stop at once, with no turn of the recording's
    // task between them: it is in the file, from when it was chosen.
    let room_id = RoomId::parse("layouts").unwrap();
    let ask = server::recording::LayoutAsk::chosen_ago(compositor::picture::layout::LayoutKind::Grid, 700).unwrap();
    assert!(s.recorder.set_layout(&room_id, ask, Instant::now()).await.unwrap().changed);
    let stopped = serde_json::to_value(s.recorder.stop(&room_id).await.unwrap()).unwrap();
    assert_eq!(stopped["layout"], "grid");
    assert_eq!(call("PATCH", "/api/rooms/layouts/recording", r#"{"layout": "grid"}"#).await.0, 404, "a stopped recording takes no change");
    let (status, body) = call("POST", "/api/rooms/layouts/recording", &format!(r#"{{"layout": "{}"}}"#, "x".repeat(4096))).await;
    assert_eq!(status, 413, "an oversized body: {body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("too large")), "a 413 is JSON like every error: {body}");
    let changes = stopped["layout_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{stopped}");
    assert_eq!(changes[0]["layout"], "speaker");
    let at = changes[0]["at_ms"].as_u64().unwrap();
    assert!((2500..4500).contains(&at), "changed at {at} ms of the file, asked at about 3 s");
    let end = stopped["duration_ms"].as_u64().unwrap();
    let last = changes[1]["at_ms"].as_u64().unwrap();
    assert_eq!(changes[1]["layout"], "grid");
    assert!((end - 1000..end - 450).contains(&last), "the last change at {last} ms of {end}: chosen 700 ms before the stop");
    // The frames agree: both cameras side by side before the change, Alice alone after.
    let path = s.dir.join(format!("{}.mp4", stopped["id"].as_str().unwrap()));
    let patches = probe::video_patches(&path, &[(0.25, 0.3), (0.75, 0.3)]).unwrap();
    let at_time = |t: u64| patches.iter().find(|(ms, _)| *ms >= t).unwrap().1.clone();
    let grid = at_time(at - 800);
    assert!(close(grid[0], RED) && close(grid[1], BLUE), "the grid before the change: {grid:?}");
    let speaker = at_time(at + 800);
    assert!(close(speaker[0], RED) && close(speaker[1], RED), "Alice fills the frame after it: {speaker:?}");
    let regrid = at_time(last + 200);
    assert!(close(regrid[0], RED) && close(regrid[1], BLUE), "the grid again at the end: {regrid:?}");
    drop((alice, bob));
}

#[tokio::test(flavor = "multi_thread")]
async fn layout_changes_in_a_loop_are_paced_and_the_room_hears_only_real_ones() {
    // A host's script flipping the layout as fast as it can: the changes let through
    // reach every member and the compositor, and the file ends in the last one.
    let s = setup((320, 180)).await;
    let alice = Participant::join(&s.rooms, "flipping", "Alice", Some(RED), 440.0).await;
    let room = s.rooms.get(&RoomId::parse("flipping").unwrap()).await.unwrap();
    let api = Api::new(&s);
    let call = |method: &'static str, body: &str| api.call(method, "/api/rooms/flipping/recording".to_string(), body.to_string());
    let (status, started) = call("POST", r#"{"layout": "speaker"}"#).await;
    assert_eq!(status, 201, "{started}");
    let mut events = room.media_snapshot().events;
    let (mut passed, mut paced, mut same) = (0, 0, 0);
    let mut first_refusal = None;
    let mut current = "speaker";
    let began = Instant::now();
    for i in 0..200 {
        let layout = ["grid", "speaker", "speaker"][i % 3];
        let (status, body) = call("PATCH", &format!(r#"{{"layout": "{layout}"}}"#)).await;
        match status {
            // The layout it has already: never refused.
            200 if layout == current => same += 1,
            200 => {
                passed += 1;
                current = layout;
            }
            429 if layout != current => {
                paced += 1;
                assert!(body["error"].as_str().unwrap().contains("try again in"), "{body}");
                first_refusal.get_or_insert(i);
            }
            _ => panic!("change {i}: {status} {body}"),
        }
    }
    // The burst of 10 and one a second after it, however long the loop took.
    let most = 10 + began.elapsed().as_secs_f64().ceil() as usize + 1;
    assert!((10..=most).contains(&passed), "{passed} passed (at most {most}), {paced} paced");
    assert!(paced >= 60 - (passed - 10), "{passed} passed, {paced} paced");
    assert!(first_refusal.is_some_and(|i| i <= 20), "{first_refusal:?}");
    // Once the recorder has passed them on, the room has heard of each change once.
    sleep_ms(1500).await;
    let mut heard = 0;
    loop {
        match events.try_recv() {
            Ok(server::room::RoomEvent::Recording { .. }) => heard += 1,
            Ok(_) => {}
            // So many that the room's channel dropped some: each was one too many.
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => heard += n as usize,
            Err(_) => break,
        }
    }
    assert!((1..=passed).contains(&heard), "the room heard of {heard} layout changes, {passed} were made");
    let (status, stopped) = call("DELETE", "").await;
    assert_eq!(status, 200, "{stopped}");
    // The file ends in the last layout asked for, and holds no more changes than were
    // made, each a real one: changes asked for within one frame are that frame's last,
    // not entries of no length.
    let kept = stopped["layout_changes"].as_array().unwrap();
    assert!(kept.len() <= passed, "{} changes kept in the file, {passed} made: {stopped}", kept.len());
    assert_eq!(stopped["layout"], current, "{stopped}");
    let mut before = ("speaker", None);
    for change in kept {
        let (layout, at) = (change["layout"].as_str().unwrap(), change["at_ms"].as_u64().unwrap());
        assert!(layout != before.0 && before.1.is_none_or(|b| at > b), "{change} after {before:?}: {stopped}");
        before = (layout, Some(at));
    }
    assert!(same > 50);
    drop(alice);
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_and_stopping_in_a_loop_is_paced_per_room() {
    // Each start launches a compositor and leaves a file: a host's script looping
    // start and stop (with a fresh burst of layout changes each time) is held to a pace.
    let s = setup((320, 180)).await;
    let alice = Participant::join(&s.rooms, "churn", "Alice", Some(RED), 440.0).await;
    let bob = Participant::join(&s.rooms, "elsewhere", "Bob", Some(BLUE), 660.0).await;
    let api = Api::new(&s);
    let began = Instant::now();
    let (mut started, mut refused) = (0, None);
    for i in 0..10 {
        let (status, body) = api.call("POST", "/api/rooms/churn/recording".into(), String::new()).await;
        match status {
            201 => {
                started += 1;
                assert_eq!(api.call("DELETE", "/api/rooms/churn/recording".into(), String::new()).await.0, 200);
            }
            429 => {
                assert!(body["error"].as_str().unwrap().contains("too often: try again in"), "{body}");
                refused.get_or_insert(i);
            }
            _ => panic!("start {i}: {status} {body}"),
        }
    }
    // 6 at once, then one per 10 s (a loaded machine may take that long).
    let refills = (began.elapsed().as_secs_f64() / 10.0).ceil() as usize;
    assert!(started >= 6 && started <= 6 + refills, "{started} recordings started");
    assert!(refused.is_some() || refills >= 4, "{refused:?}");
    // Another room keeps its own pace, but the caller's address has one too: a new
    // room for each start (a probe made 20 a second so) soon gets the same answer.
    let mut others = Vec::new();
    for i in 0..8 {
        others.push(Participant::join(&s.rooms, &format!("fresh{i}"), "Carol", Some(BLUE), 550.0).await);
    }
    let mut fresh_started = 0;
    let mut caller_refused = false;
    for room in ["elsewhere", "fresh0", "fresh1", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6", "fresh7"] {
        let (status, body) = api.call("POST", format!("/api/rooms/{room}/recording"), String::new()).await;
        match status {
            201 => {
                fresh_started += 1;
                assert_eq!(api.call("DELETE", format!("/api/rooms/{room}/recording"), String::new()).await.0, 200);
            }
            429 => {
                assert!(body["error"].as_str().unwrap().contains("from your address"), "{body}");
                caller_refused = true;
            }
            _ => panic!("{room}: {status} {body}"),
        }
    }
    // The caller's 12 at once: 6 above (the room's refusals cost it nothing), 6 here.
    let refills = (began.elapsed().as_secs_f64() / 10.0).ceil() as usize;
    assert!(fresh_started >= 6 && fresh_started + started <= 12 + refills, "{fresh_started} started in other rooms");
    assert!(caller_refused || refills >= 3, "{fresh_started} started in other rooms, none refused");
    assert_eq!(s.recorder.running(), 0, "nothing is left running");
    let files = std::fs::read_dir(&s.dir).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "mp4")).count();
    assert_eq!(files, started + fresh_started, "one file per recording that started");
    drop((alice, bob, others));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_speaker_sending_simulcast_at_a_browsers_bitrates_is_recorded_from_the_top_layer_throughout() {
    use common::synthetic::{Camera, Options};
    use compositor::synth::Pattern;
    // Moving pictures at the browser's layer bitrates (150 kbit/s, 500 kbit/s, 1.5
    // Mbit/s), each layer tinted apart, with everyone's camera forwarded to the
    // recorder. The compositor gives mediasoup no bandwidth feedback: an estimate left
    // at its 600 kbit/s start would not fit the top layer, or any layer at times, and
    // the speaker would be recorded from a lower layer or not at all (a name card).
    // (Two seconds of replay and plain cameras beside it: encoding more, at start,
    // held up the simulcast test that runs beside this one.)
    let s = setup((1280, 720)).await;
    let camera = Camera::Simulcast { patterns: [LOW, MID, TOP].map(Pattern::Moving), seconds: 2 };
    let alice = Participant::join_with(&s.rooms, "bitrates", "Alice", Options::new(camera, 440.0)).await;
    let bob = Participant::join(&s.rooms, "bitrates", "Bob", Some([200, 160, 30]), 660.0).await;
    let carol = Participant::join(&s.rooms, "bitrates", "Carol", Some([150, 150, 150]), 550.0).await;
    let api = Api::new(&s);
    let (status, started) = api.call("POST", "/api/rooms/bitrates/recording".into(), r#"{"layout": "speaker"}"#.into()).await;
    assert_eq!(status, 201, "{started}");
    alice.speak(true);
    sleep_ms(12_000).await;
    let (status, stopped) = api.call("DELETE", "/api/rooms/bitrates/recording".into(), String::new()).await;
    assert_eq!(status, 200, "{stopped}");
    let path = s.dir.join(format!("{}.mp4", stopped["id"].as_str().unwrap()));
    // Three points across the stage: the layer's bar passes one at a time.
    let patches = probe::video_patches(&path, &[(0.2, 0.3), (0.5, 0.3), (0.8, 0.3)]).unwrap();
    let end = stopped["duration_ms"].as_u64().unwrap();
    let shown: Vec<(u64, [u8; 3])> = patches
        .iter()
        .filter(|(ms, _)| *ms < end - 300)
        .map(|(ms, p)| (*ms, p.iter().copied().find(|rgb| close(*rgb, TOP) || close(*rgb, MID) || close(*rgb, LOW)).unwrap_or(p[0])))
        .collect();
    // The senders encode their replays first (seconds on a busy machine): from the top
    // layer's first frame on, every frame is of it.
    let first = shown.iter().find(|(_, rgb)| close(*rgb, TOP)).map(|(ms, _)| *ms);
    let first = first.unwrap_or_else(|| panic!("Alice never from her top layer: {:?}", shown.iter().step_by(10).collect::<Vec<_>>()));
    assert!(first < 6000, "Alice's top layer first at {first} ms of {end}");
    let after: Vec<&(u64, [u8; 3])> = shown.iter().filter(|(ms, _)| *ms > first + 300).collect();
    let top = after.iter().filter(|(_, rgb)| close(*rgb, TOP)).count();
    assert!(after.len() > 100, "{} frames after the first top one at {first} ms", after.len());
    let not_top: Vec<_> = after.iter().filter(|(_, rgb)| !close(*rgb, TOP)).take(10).collect();
    assert!(top as f64 > 0.97 * after.len() as f64, "Alice from her top layer in {top} of {} frames after {first} ms; others: {not_top:?}", after.len());
    drop((alice, bob, carol));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_camera_is_recorded_from_the_simulcast_layer_its_tile_needs() {
    use common::synthetic::{Camera, Options};
    use compositor::synth::Pattern;
    // Alice sends three layers tinted apart: which one a frame shows is which layer
    // reached the recording. Bob sends one plain camera.
    let s = setup((1280, 720)).await;
    let camera = Camera::Simulcast { patterns: [Pattern::Solid(LOW), Pattern::Solid(MID), Pattern::Solid(TOP)], seconds: 2 };
    let alice = Participant::join_with(&s.rooms, "layers", "Alice", Options::new(camera, 440.0)).await;
    let bob = Participant::join(&s.rooms, "layers", "Bob", Some([200, 160, 30]), 660.0).await;
    let api = Api::new(&s);
    let call = |method: &'static str, uri: &str, body: &str| api.call(method, uri.to_string(), body.to_string());
    let (status, started) = call("POST", "/api/rooms/layers/recording", r#"{"layout": "speaker"}"#).await;
    assert_eq!(status, 201, "{started}");
    let t0 = Instant::now();
    let at_file_ms = |t: Instant| t.duration_since(t0).as_millis() as u64;
    // Alice speaks, full frame: the top layer (a 720p recording is 720p).
    alice.speak(true);
    sleep_ms(4000).await;
    let grid_from = at_file_ms(Instant::now());
    // Two side by side, 640 px each: the middle layer.
    assert_eq!(call("PATCH", "/api/rooms/layers/recording", r#"{"layout": "grid"}"#).await.0, 200);
    sleep_ms(4000).await;
    // Bob on the stage, Alice in the strip under him: the lowest layer.
    alice.speak(false);
    bob.speak(true);
    sleep_ms(1500).await;
    let strip_from = at_file_ms(Instant::now());
    assert_eq!(call("PATCH", "/api/rooms/layers/recording", r#"{"layout": "speaker-strip"}"#).await.0, 200);
    sleep_ms(4000).await;
    let (status, stopped) = call("DELETE", "/api/rooms/layers/recording", "").await;
    assert_eq!(status, 200, "{stopped}");
    let path = s.dir.join(format!("{}.mp4", stopped["id"].as_str().unwrap()));
    // Full frame; the grid's left tile (Alice joined first); the strip's middle.
    let patches = probe::video_patches(&path, &[(0.3, 0.3), (0.2, 0.3), (0.48, 0.84)]).unwrap();
    let at = |t: u64| patches.iter().find(|(ms, _)| *ms >= t).unwrap().1.clone();
    for t in (2500..grid_from).step_by(250) {
        assert!(close(at(t)[0], TOP), "Alice full frame at {t} ms: {:?} (the top layer is {TOP:?})", at(t)[0]);
    }
    for t in (grid_from + 2000..strip_from - 1500).step_by(250) {
        assert!(close(at(t)[1], MID), "Alice's grid tile at {t} ms: {:?} (the middle layer is {MID:?})", at(t)[1]);
    }
    let end = stopped["duration_ms"].as_u64().unwrap();
    for t in (strip_from + 2000..end - 500).step_by(250) {
        assert!(close(at(t)[2], LOW), "Alice's strip tile at {t} ms: {:?} (the lowest layer is {LOW:?})", at(t)[2]);
    }
    drop((alice, bob));
}

/// Asks for `room`'s recording on a task of its own and returns once it is starting
/// (its slot taken, no recording running yet), with the start's outcome to come.
async fn start_in_background(s: &Setup, room: &Arc<Room>) -> tokio::task::JoinHandle<Result<RecordingView, RecordError>> {
    let start = tokio::spawn({
        let (recorder, room) = (Arc::clone(&s.recorder), Arc::clone(room));
        async move { recorder.start(room).await }
    });
    while s.recorder.running() == 0 {
        tokio::task::yield_now().await;
    }
    assert!(s.recorder.active_in(&room.id).is_none(), "the start was done already: the race was not run");
    start
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_whose_caller_goes_away_still_runs_whole() {
    // A probe's finding: a client that closed its request 30 ms into a start (a closed
    // tab, a proxy's timeout) left the room "already being recorded" with nothing
    // running, until a restart; eight of them took every recording slot.
    let s = setup((320, 180)).await;
    let alice = Participant::join(&s.rooms, "dropped", "Alice", Some(RED), 440.0).await;
    let room = Arc::clone(&alice.room);
    let asked = tokio::time::timeout(Duration::from_millis(5), s.recorder.start(Arc::clone(&room))).await;
    assert!(asked.is_err(), "the start took under 5 ms: the race was not run");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.recorder.active_in(&room.id).is_none() {
        assert!(Instant::now() < deadline, "the start its caller gave up on never ran ({} slots taken)", s.recorder.running());
        sleep_ms(20).await;
    }
    sleep_ms(1000).await;
    let stopped = s.recorder.stop(&room.id).await.unwrap();
    assert_eq!(stopped.status, Status::Finished);
    assert_eq!(s.recorder.running(), 0);
    alice.leave(&s.rooms).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_asked_for_while_the_recording_starts_stops_it() {
    // Before, the stop answered "not being recorded" while a second start answered
    // "already being recorded", and the recording went on.
    let s = setup((320, 180)).await;
    let alice = Participant::join(&s.rooms, "quick-stop", "Alice", Some(RED), 440.0).await;
    let room = Arc::clone(&alice.room);
    let start = start_in_background(&s, &room).await;
    let stopped = s.recorder.stop(&room.id).await.expect("a stop during the start");
    let started = start.await.unwrap().unwrap();
    assert_eq!((stopped.id.as_str(), stopped.status), (started.id.as_str(), Status::Finished));
    assert_eq!(s.recorder.running(), 0);
    alice.leave(&s.rooms).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_layout_change_asked_for_while_the_recording_starts_waits_for_it() {
    // A probe's finding: it answered "not being recorded" (where a stop waits), and
    // the change was lost.
    let s = setup((320, 180)).await;
    let alice = Participant::join(&s.rooms, "quick-grid", "Alice", Some(RED), 440.0).await;
    let room = Arc::clone(&alice.room);
    let start = start_in_background(&s, &room).await;
    let grid = server::recording::LayoutAsk::chosen_ago(compositor::picture::layout::LayoutKind::Grid, 0).unwrap();
    let changed = s.recorder.set_layout(&room.id, grid, Instant::now()).await.expect("a layout change during the start");
    let started = start.await.unwrap().unwrap();
    assert_eq!((changed.recording.as_str(), changed.changed), (started.id.as_str(), true));
    sleep_ms(1500).await;
    let stopped = serde_json::to_value(s.recorder.stop(&room.id).await.unwrap()).unwrap();
    assert_eq!(stopped["layout"], "grid", "the change is in the file: {}", stopped["layout_changes"]);
    alice.leave(&s.rooms).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shutdown_during_a_start_refuses_it_and_leaves_no_file() {
    // Before, the start answered 201 after the shutdown began, and the server exited
    // with the recording's sidecar still saying "recording".
    let s = setup((320, 180)).await;
    let alice = Participant::join(&s.rooms, "closing", "Alice", Some(RED), 440.0).await;
    let room = Arc::clone(&alice.room);
    let start = start_in_background(&s, &room).await;
    s.recorder.shutdown().await;
    assert!(matches!(start.await.unwrap(), Err(RecordError::ShuttingDown)), "a start that ended after the shutdown began");
    assert_eq!(s.recorder.running(), 0);
    let left: Vec<_> = std::fs::read_dir(&s.dir).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "files of a start given up: {left:?}");
    alice.leave(&s.rooms).await;
}

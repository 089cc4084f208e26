//! Issue 13's figures: the default recording's cost against the previous build's,
//! side by side in one run, with a quality figure (SSIM) next to every CPU figure; and
//! recordings forced past the machine's capacity (admission off), where each
//! compositor must step its own quality down to stay near real time.
use super::*;
use compositor::synth;
use compositor::output::mp4::{AudioChannels, EntropyCoder};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

/// The previous build's `podium` (its compositor), for the side-by-side run: a binary
/// of the commit before issue 13 with only the control protocol's version raised (see
/// docs/benchmarks.md for how it was built).
const BEFORE_BIN: &str = "PODIUM_BEFORE_BIN";
/// Each build's default x264 preset (`--recording-preset`).
const PREVIOUS_DEFAULT: &str = "veryfast";
pub const DEFAULT_PRESET: &str = "superfast";

fn recorder_running(env: &Env, program: PathBuf, size: (u32, u32), fps: u32, preset: &str, coder: EntropyCoder, audio: AudioChannels) -> Arc<Recorder> {
    Recorder::new(RecorderConfig {
        dir: env.dir.clone(),
        program,
        video: VideoSettings { width: size.0, height: size.1, fps, preset: preset.into(), coder },
        audio,
        lookahead: compositor::engine::DEFAULT_LOOKAHEAD,
        switch: SwitchMode::EveryCamera,
        bind: IP,
        max_running: 64,
        // The bench measures what it starts: nothing is refused.
        admission: server::recording::admission::Settings::OFF,
        min_free_bytes: 0,
        retention: None,
    })
}

/// The cost of the default recording (1280x720@30, each build's default preset, 4
/// people, the mesh forwarded, the speaker layout), this build against the previous
/// one; then every setting of the load table with its quality. The cameras are the
/// `load` benchmark's (640x360 at 25 fps, one layer), where the "today" figures
/// come from, so that the builds compare on the same pictures (the previous build
/// recorded simulcast speakers from their lowest layer: docs/benchmarks.md).
///
/// The builds record at the same time, each its own copy of the meeting (the same
/// synthetic people), and the copies rotate between the builds from round to round:
/// this machine's speed moves by up to 15 % from one half-minute to the next (a
/// virtual machine's neighbours), which recordings taken one after the other each saw
/// differently.
pub async fn cost(env: &Env) {
    let before = std::env::var_os(BEFORE_BIN).map(PathBuf::from);
    let now = PathBuf::from(env!("CARGO_BIN_EXE_podium"));
    // The previous build records stereo with CABAC; this one mono with CAVLC by
    // default, and each of those as the previous did, to show what each part of the
    // saving is. (The previous build's coder is its preset's: the wrapper drops the
    // flag.)
    let builds: Vec<(&str, PathBuf, &str, EntropyCoder, AudioChannels)> = before
        .iter()
        .map(|b| ("previous", previous_build(env, b), PREVIOUS_DEFAULT, EntropyCoder::Cabac, AudioChannels::Stereo))
        .chain([
            ("this", now.clone(), DEFAULT_PRESET, EntropyCoder::default(), AudioChannels::Mono),
            ("this, stereo", now.clone(), DEFAULT_PRESET, EntropyCoder::default(), AudioChannels::Stereo),
            ("this, cabac", now.clone(), DEFAULT_PRESET, EntropyCoder::Cabac, AudioChannels::Mono),
        ])
        .collect();
    println!("\n## cost: the default recording (1280x720@30, each build's default preset), this build against the previous one ({BEFORE_BIN}), 4 people (640x360 VP8 at 25 fps, mesh forwarded), 20 s measured after 5 s; the {} builds at the same time, each on its own copy of the meeting, the copies rotating between rounds\n", builds.len());
    println!("SSIM: the speaker's area of the file (above the name label) at the camera's size, one picture a second, against the frame the recorder received (the best match of the replay's frames near the bar's place).\n");
    if before.is_none() {
        println!("({BEFORE_BIN} is not set: this build only)\n");
    }
    println!("| round | build | meeting | compositor CPU (cores) | peak RSS (MB) | file (kbit/s) | SSIM | max lag (ms) |");
    println!("|---|---|---|---|---|---|---|---|");
    let refs = references(CAMERA);
    let mut meetings = Vec::new();
    for copy in 0..builds.len() {
        meetings.push(env.meeting(&format!("cost-{copy}"), 4, true).await);
    }
    settle(Duration::from_secs(45)).await;
    let mut sums: HashMap<&str, (f64, f64, f64, u32)> = HashMap::new();
    for round in 0..builds.len() {
        let runs = builds.iter().enumerate().map(|(i, (label, program, preset, coder, audio))| {
            let copy = (i + round) % meetings.len();
            let people = &meetings[copy];
            let recorder = recorder_running(env, program.clone(), (1280, 720), 30, preset, *coder, *audio);
            async move {
                let room = Arc::clone(&people[0].room);
                (label, preset, coder, audio, copy, measure_recording(env, &recorder, &room, people, Duration::from_secs(5), Duration::from_secs(20)).await)
            }
        });
        for (label, preset, coder, audio, copy, l) in futures_util::future::join_all(runs).await {
            let ssim = speaker_ssim(&env.dir.join(format!("{}.mp4", l.view.id)), CAMERA, &refs);
            println!("| {} | {label} ({preset}, {}, {}) | {} | {:.3} | {:.1} | {:.0} | {ssim:.4} | {} |", round + 1, coder.name(), audio.name(), copy + 1, l.cpu_cores, l.rss_mb, l.kbps, l.lag_ms);
            let s = sums.entry(label).or_default();
            (s.0, s.1, s.2, s.3) = (s.0 + l.cpu_cores, s.1 + l.kbps, s.2 + ssim, s.3 + 1);
        }
    }
    for (this, base) in [("this", "previous"), ("this, stereo", "previous"), ("this, cabac", "previous"), ("this", "this, cabac")] {
        if let (Some(b), Some(a)) = (sums.get(base), sums.get(this)) {
            let (bn, an) = (f64::from(b.3), f64::from(a.3));
            println!("\n{this} / {base}: CPU {:.2}x, file size {:.2}x, SSIM {:.4} against {:.4}", (a.0 / an) / (b.0 / bn), (a.1 / an) / (b.1 / bn), a.2 / an, b.2 / bn);
        }
    }
    let people = meetings.swap_remove(0);
    drop(meetings);
    let room = Arc::clone(&people[0].room);
    println!("\n### the load table, this build, with quality\n");
    println!("| setting | compositor CPU (cores) | peak RSS (MB) | file (kbit/s) | SSIM | max lag (ms) |");
    println!("|---|---|---|---|---|---|");
    for (size, fps, preset) in [((1280, 720), 30, DEFAULT_PRESET), ((1280, 720), 30, "veryfast"), ((1280, 720), 30, "ultrafast"), ((1280, 720), 15, "ultrafast"), ((640, 360), 15, "ultrafast")] {
        let recorder = recorder_running(env, now.clone(), size, fps, preset, EntropyCoder::default(), AudioChannels::default());
        let l = measure_recording(env, &recorder, &room, &people, Duration::from_secs(5), Duration::from_secs(20)).await;
        let ssim = speaker_ssim(&env.dir.join(format!("{}.mp4", l.view.id)), CAMERA, &refs);
        println!("| {}x{}@{fps} {preset} | {:.3} | {:.1} | {:.0} | {ssim:.4} | {} |", size.0, size.1, l.cpu_cores, l.rss_mb, l.kbps, l.lag_ms);
    }
    drop(people);
}

/// The previous build's `podium`, started through a wrapper that drops
/// `--recording-audio` and `--recording-coder` (flags it does not know: it records
/// stereo, with CABAC at veryfast), so that this
/// server can drive it. `exec` keeps the compositor's PID, whose CPU is measured.
fn previous_build(env: &Env, bin: &Path) -> PathBuf {
    let wrapper = env.dir.join("previous-podium");
    let script = format!(
        "#!/bin/sh\nskip=0\nfor a do\n  shift\n  if [ $skip = 1 ]; then skip=0; continue; fi\n  case \"$a\" in --recording-audio|--recording-coder) skip=1; continue;; esac\n  set -- \"$@\" \"$a\"\ndone\nexec '{}' \"$@\"\n",
        bin.display().to_string().replace('\'', "'\\''")
    );
    std::fs::write(&wrapper, script).expect("writing the previous build's wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("making the wrapper runnable");
    wrapper
}

/// Mean SSIM of the speaker's picture in the file at `path`, one picture a second after
/// the first 3 s, scaled to the camera's `size`, each against the picture it shows as
/// the recorder received it: the replayed camera's frame (`references`, by
/// participant) whose bar is where the file's bar is (the best of the frames near it:
/// the bar moves 8 px a frame). The name label is left out; a name card scores low.
pub fn speaker_ssim(path: &Path, (width, height): (u32, u32), references: &[Vec<Vec<u8>>]) -> f64 {
    let (w, h) = (width as usize, speaker_rows(height) as usize);
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", &format!("fps=1,scale={width}:{height}:flags=area,crop={w}:{h}:0:0,format=gray"), "-f", "rawvideo", "-"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success(), "ffmpeg could not read {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let mut scores = Vec::new();
    for picture in out.stdout.chunks_exact(w * h).skip(3) {
        let bar = bar_centre(picture, w, h);
        let mut best = 0.0f64;
        for frames in references {
            for (_, reference) in frames.iter().enumerate().filter(|(n, _)| ((n * 8) % w).abs_diff(bar) <= 24) {
                best = best.max(ssim(picture, reference, w, h));
            }
        }
        scores.push(best);
    }
    scores.iter().sum::<f64>() / scores.len().max(1) as f64
}

/// The rows of a `height` picture above the name label.
fn speaker_rows(height: u32) -> u32 {
    (height * 5 / 6) & !1
}

/// What each participant's camera layer of `size` sends (its replay, decoded), the
/// speaker area only: the references of `speaker_ssim`.
fn references(size: (u32, u32)) -> Vec<Vec<Vec<u8>>> {
    COLOURS.iter().map(|&c| synth::received_luma(Pattern::Moving(c), size, speaker_rows(size.1), 25, 600_000, REPLAY_SECONDS * 25).expect("libvpx")).collect()
}

/// The meeting's replays' length and size (`Env::meeting`).
const REPLAY_SECONDS: u64 = 4;
const CAMERA: (u32, u32) = (640, 360);

/// Where the synthetic camera's bright bar is: the centre of the brightest band a tenth
/// of the width wide.
fn bar_centre(luma: &[u8], w: usize, h: usize) -> usize {
    let columns: Vec<u64> = (0..w).map(|x| (0..h).step_by(4).map(|y| u64::from(luma[y * w + x])).sum()).collect();
    let band = w / 10;
    let mut sum: u64 = columns[..band].iter().sum();
    let (mut best, mut at) = (sum, band / 2);
    for x in band..w {
        sum = sum + columns[x] - columns[x - band];
        if sum > best {
            (best, at) = (sum, x + 1 - band / 2);
        }
    }
    at
}

/// SSIM of two luma pictures (8x8 windows every 4 px, the usual constants).
fn ssim(a: &[u8], b: &[u8], w: usize, h: usize) -> f64 {
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    let (mut total, mut n) = (0.0, 0u32);
    for y0 in (0..h.saturating_sub(7)).step_by(4) {
        for x0 in (0..w.saturating_sub(7)).step_by(4) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0u32, 0u32, 0u32, 0u32, 0u32);
            for y in y0..y0 + 8 {
                let (ra, rb) = (&a[y * w + x0..y * w + x0 + 8], &b[y * w + x0..y * w + x0 + 8]);
                for (&p, &q) in ra.iter().zip(rb) {
                    let (p, q) = (u32::from(p), u32::from(q));
                    (sa, sb, saa, sbb, sab) = (sa + p, sb + q, saa + p * p, sbb + q * q, sab + p * q);
                }
            }
            let (ma, mb) = (f64::from(sa) / 64.0, f64::from(sb) / 64.0);
            let va = f64::from(saa) / 64.0 - ma * ma;
            let vb = f64::from(sbb) / 64.0 - mb * mb;
            let cov = f64::from(sab) / 64.0 - ma * mb;
            total += ((2.0 * ma * mb + C1) * (2.0 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
            n += 1;
        }
    }
    total / f64::from(n.max(1))
}

/// Recordings forced past capacity: `PODIUM_BENCH_CAPACITY` (the concurrency figure,
/// default 9) × 1.5 four-person meetings, all recorded at the default setting with no
/// admission (the recorder here never refuses), 40 s. One meeting's first participant
/// flashes their camera when their microphone beeps, and speaks throughout: the A/V
/// offset under overload. Every file must finish and decode.
pub async fn overload(env: &Env) {
    /// The sync participant's flashes, one every 1.72 s from 6 s after joining: enough
    /// to outlast the joining, the settling and the 40 s recorded.
    const FLASHES: u64 = 150;
    const FLASH_EVERY: u64 = 1720;
    // Through the whole run: the recordings start only once every meeting has joined
    // and settled, which takes longer the more meetings there are. On the camera's
    // frame times (25 fps: every 40 ms), so that each flash's first white frame is
    // captured with its beep: what is measured is the recorder's sync, not the
    // synthetic camera's capture phase (with 1700 ms apart, every other flash's first
    // white frame came 20 ms after its beep).
    let flashes: Vec<u64> = (0..FLASHES).map(|i| 6000 + i * FLASH_EVERY).collect();
    let capacity: usize = std::env::var("PODIUM_BENCH_CAPACITY").ok().and_then(|v| v.parse().ok()).unwrap_or(9);
    let k = (capacity * 3).div_ceil(2);
    println!("\n## overload: {k} recordings (1.5 x a capacity of {capacity}), 4 people each (mesh forwarded), 1280x720@30 {DEFAULT_PRESET}, admission off, 40 s\n");
    let mut meetings = Vec::new();
    for r in 0..k {
        if r == 0 {
            let mut options = Options::new(Camera::Live([200, 40, 40]), 440.0);
            options.flashes = flashes.clone();
            options.mesh = true;
            let mut people = vec![Participant::join_with(&env.rooms, "overload-sync", "Alice", options).await];
            for i in 1..4 {
                let mut options = Options::new(Camera::Replay { pattern: Pattern::Moving(COLOURS[i]), width: 640, height: 360, seconds: 4 }, HZ[i]);
                options.mesh = true;
                people.push(Participant::join_with(&env.rooms, "overload-sync", NAMES[i], options).await);
            }
            meetings.push(people);
        } else {
            meetings.push(env.meeting(&format!("overload{r}"), 4, true).await);
        }
    }
    let recorder = recorder_running(env, PathBuf::from(env!("CARGO_BIN_EXE_podium")), (1280, 720), 30, DEFAULT_PRESET, EntropyCoder::default(), AudioChannels::default());
    settle(Duration::from_secs(90)).await;
    let mut started = Vec::new();
    for m in &meetings {
        started.push(recorder.start(Arc::clone(&m[0].room)).await.unwrap());
    }
    meetings[0][0].speak(true);
    let until = Instant::now() + Duration::from_secs(40);
    let speaking = futures_util::future::join_all(meetings.iter().skip(1).map(|m| rotate_speakers(m, Duration::from_secs(5), until)));
    let measuring = cores_over(Duration::from_secs(5), Duration::from_secs(30));
    let ((compositors_cpu, own_cpu), (), _) = tokio::join!(measuring, tokio::time::sleep_until(until.into()), speaking);
    meetings[0][0].speak(false);
    println!("compositors {compositors_cpu:.2} cores, this process (SFU + senders) {own_cpu:.2} cores\n");
    println!("| recording | max lag (ms) | quality steps (at s: preset fps) | stop (ms) | status | decodes cleanly | duration (s) |");
    println!("|---|---|---|---|---|---|---|");
    let mut worst_lag = 0;
    let mut views = Vec::new();
    for m in &meetings {
        let t = Instant::now();
        let view = recorder.stop(&m[0].room.id).await.unwrap();
        views.push((view, t.elapsed().as_millis()));
    }
    for (i, (view, stop_ms)) in views.iter().enumerate() {
        let path = env.dir.join(format!("{}.mp4", view.id));
        let sidecar = Sidecar::read(&env.dir.join(format!("{}.json", view.id))).unwrap();
        worst_lag = worst_lag.max(sidecar.max_lag_ms);
        let steps: Vec<String> = sidecar.quality_steps.iter().map(|q| format!("{:.1}: {} {}{}", q.at_ms as f64 / 1000.0, q.preset, q.fps, q.thumbnail_fps.map_or(String::new(), |t| format!(" thumbs {t}")))).collect();
        let decoded = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
        let clean = decoded.status.success() && decoded.stderr.is_empty();
        let duration = probe::duration_ms(&path).unwrap_or(0) as f64 / 1000.0;
        println!("| {} | {} | {} | {stop_ms} | {:?} | {} | {duration:.1} |", i + 1, sidecar.max_lag_ms, if steps.is_empty() { "none".into() } else { steps.join(", ") }, view.status, if clean { "yes" } else { "NO" });
    }
    // The sync meeting: each flash's first white frame against its beep's onset.
    let (view, _) = &views[0];
    let path = env.dir.join(format!("{}.mp4", view.id));
    let frames = probe::as_shown(&probe::video_frames(&path).unwrap(), 30);
    let (rate, audio) = probe::audio_mono(&path).unwrap();
    let t0 = compositor::output::sidecar::parse_rfc3339_ms(&started[0].started_at).unwrap();
    let joined = meetings[0][0].joined_at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64;
    let mut offsets = Vec::new();
    let duration_ms = probe::duration_ms(&path).expect("the sync recording's duration") as i64;
    for &flash in &flashes {
        let expected = joined + flash as i64 - t0;
        if expected < 600 || expected + 600 > duration_ms {
            continue; // not recorded
        }
        let from = (expected - 600) as u64;
        let Some(video) = frames.iter().find(|f| f.t_ms >= from && f.t_ms < from + 1200 && f.centre_rgb.iter().all(|&c| c > 200)).map(|f| f.t_ms as f64) else { continue };
        // The beep by its pitch (1 kHz), over Alice's voice (440 Hz), in 10 ms windows.
        let window = |ms: u64| {
            let (a, b) = ((ms * u64::from(rate) / 1000) as usize, (((ms + 10) * u64::from(rate) / 1000) as usize).min(audio.len()));
            (probe::tone_power(&audio[a.min(b)..b], rate, 1000.0), probe::tone_power(&audio[a.min(b)..b], rate, 440.0))
        };
        let Some(beep) = (from..from + 1200).find(|&ms| { let (p, v) = window(ms); p > 0.01 && p > v }) else { continue };
        offsets.push((beep, video - beep as f64));
    }
    // The 40 s hold about 23 flashes: fewer found means the figure is not measured.
    assert!(offsets.len() >= 15, "only {} flashes found in the sync recording: its A/V offset is not measured", offsets.len());
    let worst = offsets.iter().fold(0.0f64, |m, (_, o)| m.max(o.abs()));
    // In the file's time, beside the sync recording's quality steps (row 1): a frame
    // drawn at half the rate, or while catching up, can show a flash up to a frame late.
    println!(
        "\nworst lag {worst_lag} ms (target 2000); A/V offsets of {} flashes during the overload (at s: ms): {}; worst {worst:.0} ms (target 45)",
        offsets.len(),
        offsets.iter().map(|(at, o)| format!("{:.1}: {o:.0}", *at as f64 / 1000.0)).collect::<Vec<_>>().join(", ")
    );
    for m in meetings {
        for p in m {
            p.leave(&env.rooms).await;
        }
    }
}

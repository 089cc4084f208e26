//! Admission control for recordings, sans-IO: would one more recording run in real time
//! here? The recorder asks before it starts a compositor (a refusal is a 503 that says
//! so), and `/api/health` reports how many recordings of the server's settings would
//! fit. A running recording is never stopped or degraded to make room: admission only
//! says no to the next one.
//!
//! The estimate adds up, in cores:
//! - the load that is not recordings: the machine's CPU use over the last [`WINDOW`]
//!   minus what the compositors used in that time (with `--recording-cores`, this
//!   server's own use instead: the SFU and everything else in the process);
//! - each running recording: the larger of what its compositor used over the window and
//!   its corrected prediction; a compositor younger than the window is counted at its
//!   prediction, plus the SFU's forwarding to it ([`SFU_PER_RECORDING`]), which the
//!   reading does not hold yet;
//! - the new recording: its settings' and layout's cost from [`COSTS`], times the
//!   correction factor, plus the SFU's forwarding to it.
//!
//! It admits when that fits in [`HEADROOM`] of the cores and no compositor is more than
//! [`LAG_LIMIT`] behind real time. The readings come from `super::cpu`, the one place
//! that reads /proc; everything here is numbers and `Instant`s (tested on a fake clock).
use super::compose_args::PRESETS;
use compositor::output::mp4::{EntropyCoder, VideoSettings};
use compositor::picture::layout::LayoutKind;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// One measured recording: 4 participants at these settings and layout.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub preset: &'static str,
    /// The entropy coder it was measured with.
    pub coder: EntropyCoder,
    pub layout: LayoutKind,
    /// The compositor's CPU, in cores of the benchmark machine (2 cores of an AMD EPYC,
    /// virtualized).
    pub cores: f64,
}

/// What a 4-person recording's compositor costs, as measured in docs/benchmarks.md
/// ("Recording under pressure (issue 13)": `cargo bench -p server --bench recording --
/// cost`, 640x360 cameras at 25 fps, the mesh forwarded, the variable-frame-rate
/// compositor). Update the rows when the benchmark's figures change: they are where
/// the estimate starts on a new server, before the correction factor has learnt this
/// machine.
/// - speaker layout: the `cost` run's load table, superfast the default (the rounds'
///   mean for it), mono sound, the cameras not drawn dormant;
/// - speaker-strip and grid: the earlier build's figures (issue 12's `layouts` ratios
///   to that build's speaker row, stereo sound), kept as they were: these layouts draw
///   every camera, so dormant cameras save them nothing, and mono sound a little; they
///   overstate the cost by about that.
///
/// Each row says the entropy coder it was measured with: these rows come from before
/// `--recording-coder`, when a recording used its preset's own (CABAC from superfast
/// on, CAVLC at ultrafast). The `cost` run's load table now records every row with
/// CAVLC, the default: rows taken from it say so. Another coder is priced by
/// [`CAVLC_TO_CABAC`].
///
/// Settings between rows are priced along the ultrafast rows' shape over pixels × fps
/// (a part that does not scale: decoding the cameras, the audio; and a part that
/// does: composing, x264); see [`predicted_cores`].
pub const COSTS: [Cost; 7] = [
    Cost { width: 1280, height: 720, fps: 30, preset: "superfast", coder: EntropyCoder::Cabac, layout: LayoutKind::Speaker, cores: 0.202 },
    Cost { width: 1280, height: 720, fps: 30, preset: "superfast", coder: EntropyCoder::Cabac, layout: LayoutKind::SpeakerStrip, cores: 0.224 },
    Cost { width: 1280, height: 720, fps: 30, preset: "superfast", coder: EntropyCoder::Cabac, layout: LayoutKind::Grid, cores: 0.229 },
    Cost { width: 1280, height: 720, fps: 30, preset: "veryfast", coder: EntropyCoder::Cabac, layout: LayoutKind::Speaker, cores: 0.243 },
    Cost { width: 1280, height: 720, fps: 30, preset: "ultrafast", coder: EntropyCoder::Cavlc, layout: LayoutKind::Speaker, cores: 0.147 },
    Cost { width: 1280, height: 720, fps: 15, preset: "ultrafast", coder: EntropyCoder::Cavlc, layout: LayoutKind::Speaker, cores: 0.118 },
    Cost { width: 640, height: 360, fps: 15, preset: "ultrafast", coder: EntropyCoder::Cavlc, layout: LayoutKind::Speaker, cores: 0.070 },
];

/// The share of the cores that recordings and everything else may fill. The
/// `concurrency` benchmark (docs/benchmarks.md) held real time with 5 recordings and
/// their meetings at 1.67–1.83 cores of 2 (84–92 %, worst lag 366 ms), and lost it with 6
/// at 1.97 (98 %): 85 % stays below that knee and leaves ~0.3 of a core on 2 for bursts
/// (keyframes, a share's first pictures, a layout change, people joining) and for the
/// estimate's own error.
pub const HEADROOM: f64 = 0.85;

/// What the SFU spends forwarding one recording's streams to its compositor: a
/// 4-person recording consumes 8 (a camera and a microphone each), at 0.39 % of a core
/// per forwarded stream (docs/benchmarks.md, the meeting's 4-participant row).
pub const SFU_PER_RECORDING: f64 = 0.03;

/// A compositor further behind real time than this means the machine is already full.
pub const LAG_LIMIT: Duration = Duration::from_millis(500);

/// How far back "the CPU use now" looks: long enough to smooth a keyframe or a
/// scheduling hiccup, short enough to see a recording that just ended.
pub const WINDOW: Duration = Duration::from_secs(5);

/// Readings closer together than this say too little (a fresh server): left out.
const MIN_SPAN: Duration = Duration::from_secs(1);

/// How often a compositor reports its progress (with its lag).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// A slower x264 preset than any measured one costs this much more per step: x264's
/// own time grows 1.3–2× per step and is about half of a compositor's at veryfast, so
/// 1.5 overprices the near steps and is about right for the slowest (the correction
/// factor then learns the truth: every recording of a server has the same settings).
const UNMEASURED_STEP: f64 = 1.5;

/// How far the correction factor may move the table: a machine 2.5× faster than the
/// benchmark's, or 4× slower.
const CORRECTION_RANGE: (f64, f64) = (0.4, 4.0);
/// The correction follows a costlier machine quickly (a third of the way each second)
/// and a cheaper one slowly (a twentieth): underpricing hurts the running recordings,
/// overpricing only refuses the next one.
const CORRECTION_RISE: f64 = 0.3;
const CORRECTION_FALL: f64 = 0.05;

/// Admission's settings (`--recording-admission`, `--recording-cores`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Refuse a recording that would not fit. Off, every recording is started (up to
    /// `--max-recordings`), for measuring overload; the estimate is still reported.
    pub enabled: bool,
    pub budget: Budget,
}

impl Settings {
    pub const DEFAULT: Settings = Settings { enabled: true, budget: Budget::Machine };
    /// Admission off: benchmarks and tests that run recordings beside other load.
    pub const OFF: Settings = Settings { enabled: false, budget: Budget::Machine };
}

impl Default for Settings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The cores recordings count on, and whose CPU use is counted against them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Every core of the machine, against the whole machine's use (/proc/stat).
    Machine,
    /// This many cores, against this server's own use (its process and its
    /// compositors): for a machine shared with other work, or a container given N cores.
    Cores(f64),
}

/// A recording as admission sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recording {
    /// Its compositor's process, once started.
    pub pid: Option<u32>,
    /// Its settings' and layout's cost from the table ([`predicted_cores`]).
    pub predicted: f64,
    /// How far behind real time its compositor is ([`lag`]).
    pub lag: Duration,
}

/// How far behind a compositor is: what it said last, or, when it has been silent for
/// longer than its progress period (a frozen or starved process says nothing), at
/// least the time beyond that.
pub fn lag(reported: Duration, silent_for: Duration) -> Duration {
    reported.max(silent_for.saturating_sub(PROGRESS_EVERY))
}

/// The predicted cost of a 4-person recording at `video` in `layout`, in cores of the
/// benchmark machine. Rows of the preset are followed along pixels × fps (straight
/// lines between them, the end ones extended, never under half the cheapest row); a
/// preset with one row takes the shape of the preset with the most; a preset with none
/// lies between its measured neighbours (geometrically), or [`UNMEASURED_STEP`] per step
/// beyond the slowest. A layout costs its measured ratio to `speaker` at equal settings.
pub fn predicted_cores(video: &VideoSettings, layout: LayoutKind) -> f64 {
    let rate = pixel_rate(video.width, video.height, video.fps);
    speaker_cores(&video.preset, video.coder, rate) * layout_factor(layout)
}

/// A whole compositor's CPU with CABAC against CAVLC, the rest the same: the `cost`
/// benchmark's side-by-side rounds at the default (superfast, 0.146 against 0.135
/// cores; docs/benchmarks.md, "CAVLC by default").
pub const CAVLC_TO_CABAC: f64 = 1.08;

/// What a row measured with `measured` costs with `asked`.
fn coder_factor(measured: EntropyCoder, asked: EntropyCoder) -> f64 {
    match (measured, asked) {
        (EntropyCoder::Cavlc, EntropyCoder::Cabac) => CAVLC_TO_CABAC,
        (EntropyCoder::Cabac, EntropyCoder::Cavlc) => 1.0 / CAVLC_TO_CABAC,
        _ => 1.0,
    }
}

fn pixel_rate(width: u32, height: u32, fps: u32) -> f64 {
    f64::from(width) * f64::from(height) * f64::from(fps)
}

/// The speaker layout's rows of `preset`, priced with `coder`: (pixel rate, cores),
/// cheapest first.
fn speaker_rows(preset: &str, coder: EntropyCoder) -> Vec<(f64, f64)> {
    let mut rows: Vec<(f64, f64)> = COSTS
        .iter()
        .filter(|c| c.preset == preset && c.layout == LayoutKind::Speaker)
        .map(|c| (pixel_rate(c.width, c.height, c.fps), c.cores * coder_factor(c.coder, coder)))
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    rows
}

/// Through the rows (two or more), straight between them and along the end segments
/// beyond; one row scales in proportion.
fn along(rows: &[(f64, f64)], rate: f64) -> f64 {
    match rows {
        [] => 0.0,
        [(r, c)] => c * rate / r,
        _ => {
            let i = rows.windows(2).position(|w| rate <= w[1].0).unwrap_or(rows.len() - 2);
            let ((r0, c0), (r1, c1)) = (rows[i], rows[i + 1]);
            let line = c0 + (c1 - c0) * (rate - r0) / (r1 - r0);
            line.max(rows[0].1 / 2.0)
        }
    }
}

fn at_rate(preset: &str, coder: EntropyCoder, rate: f64) -> f64 {
    let rows = speaker_rows(preset, coder);
    match rows.as_slice() {
        [] => 0.0,
        [(r, c)] => {
            // One row: the shape of the best-measured preset, through this row.
            let reference = PRESETS.iter().map(|p| speaker_rows(p, coder)).max_by_key(Vec::len).unwrap_or_default();
            if reference.len() < 2 {
                return c * rate / r;
            }
            c * along(&reference, rate) / along(&reference, *r)
        }
        _ => along(&rows, rate),
    }
}

fn speaker_cores(preset: &str, coder: EntropyCoder, rate: f64) -> f64 {
    let index = |p: &str| PRESETS.iter().position(|q| *q == p);
    // An unknown preset (the flag only takes PRESETS) is priced as the slowest.
    let here = index(preset).unwrap_or(PRESETS.len() - 1);
    let measured: Vec<usize> = (0..PRESETS.len()).filter(|&i| !speaker_rows(PRESETS[i], coder).is_empty()).collect();
    if measured.contains(&here) {
        return at_rate(PRESETS[here], coder, rate);
    }
    let faster = measured.iter().copied().filter(|&i| i < here).max();
    let slower = measured.iter().copied().filter(|&i| i > here).min();
    match (faster, slower) {
        (Some(f), Some(s)) => {
            let t = (here - f) as f64 / (s - f) as f64;
            at_rate(PRESETS[f], coder, rate).powf(1.0 - t) * at_rate(PRESETS[s], coder, rate).powf(t)
        }
        (Some(f), None) => at_rate(PRESETS[f], coder, rate) * UNMEASURED_STEP.powi((here - f) as i32),
        (None, Some(s)) => at_rate(PRESETS[s], coder, rate) / UNMEASURED_STEP.powi((s - here) as i32),
        (None, None) => 0.0,
    }
}

/// A layout's cost against `speaker` at the same settings: the mean of the table's
/// pairs (1 when the table has none).
fn layout_factor(layout: LayoutKind) -> f64 {
    let ratios: Vec<f64> = COSTS
        .iter()
        .filter(|c| c.layout == layout)
        .filter_map(|c| {
            let speaker = COSTS.iter().find(|s| s.layout == LayoutKind::Speaker && (s.width, s.height, s.fps, s.preset) == (c.width, c.height, c.fps, c.preset))?;
            Some(c.cores / speaker.cores)
        })
        .collect();
    if ratios.is_empty() {
        1.0
    } else {
        ratios.iter().sum::<f64>() / ratios.len() as f64
    }
}

/// One reading of the counters, in seconds of CPU.
#[derive(Debug, Clone)]
struct Tick {
    at: Instant,
    /// The counted load's CPU time (the machine's busy time, or this server's own);
    /// `None` when it could not be read.
    counted: Option<f64>,
    /// Each compositor's CPU time since it started, by process id.
    compositors: HashMap<u32, f64>,
}

/// The CPU readings of the last [`WINDOW`] and the correction factor learnt from them:
/// fed by the sampler, asked by the recorder.
#[derive(Debug)]
pub struct Load {
    cores: f64,
    /// Whether the counted load holds the compositors (the whole machine) or not (this
    /// server's own process).
    counts_compositors: bool,
    ticks: VecDeque<Tick>,
    correction: f64,
}

/// What admission thinks of the load now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Recordings running or starting.
    pub running: usize,
    /// The cores recordings may fill: the budget times [`HEADROOM`].
    pub usable: f64,
    /// The load that is not recordings, in cores (0 until there is a reading).
    pub other: f64,
    /// `other` plus what the running recordings are expected to cost.
    pub committed: f64,
    /// The table's costs are multiplied by this (learnt from the running compositors).
    pub correction: f64,
    /// The running compositor furthest behind real time.
    pub worst_lag: Duration,
}

/// Why a recording would not fit, with the numbers behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refusal {
    pub running: usize,
    /// What the new recording would cost, in cores.
    pub needed: f64,
    /// What is left of the usable cores.
    pub free: f64,
    pub worst_lag: Duration,
}

/// What `/api/health` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub running: usize,
    /// Recordings of the server's settings (default layout) that could run now, in
    /// all: the running ones and those that would still fit, at most `--max-recordings`.
    pub capacity_estimate: usize,
}

impl Load {
    /// `cores`: what recordings count on; `counts_compositors`: whether the readings
    /// passed to [`Load::observe`] as `counted` hold the compositors' CPU (the whole
    /// machine's) or not (the server's own process).
    pub fn new(cores: f64, counts_compositors: bool) -> Self {
        Self { cores, counts_compositors, ticks: VecDeque::new(), correction: 1.0 }
    }

    pub fn correction(&self) -> f64 {
        self.correction
    }

    /// A reading taken at `at`: the counted load's CPU time (`None`: unreadable), and
    /// each running compositor's with its recording. Keeps the last [`WINDOW`] (plus the
    /// reading at its start) and moves the correction factor.
    pub fn observe(&mut self, at: Instant, counted: Option<f64>, compositors: &[(Recording, f64)]) {
        // A counter that went back (another reading source, a clock step) restarts the window.
        if self.ticks.back().is_some_and(|last| at < last.at || counted.zip(last.counted).is_some_and(|(now, then)| now < then)) {
            self.ticks.clear();
        }
        let compositors_now = compositors.iter().filter_map(|(r, cpu)| Some((r.pid?, *cpu))).collect();
        self.ticks.push_back(Tick { at, counted, compositors: compositors_now });
        while self.ticks.len() > 2 && self.ticks[1].at + WINDOW <= at {
            self.ticks.pop_front();
        }
        self.learn(compositors);
    }

    /// The window's first and last readings and its length in seconds.
    fn window(&self) -> Option<(&Tick, &Tick, f64)> {
        let (first, last) = (self.ticks.front()?, self.ticks.back()?);
        let span = last.at.duration_since(first.at);
        (span >= MIN_SPAN).then_some((first, last, span.as_secs_f64()))
    }

    /// What a compositor used over the whole window, in cores: `None` if it started
    /// within it (its first seconds say little, and its prediction stands in).
    fn measured(&self, pid: u32) -> Option<f64> {
        let (first, last, span) = self.window()?;
        let (then, now) = (*first.compositors.get(&pid)?, *last.compositors.get(&pid)?);
        // A process id reused by a new compositor: its counter started again.
        (now >= then).then(|| (now - then) / span)
    }

    /// The load that is not recordings over the window, in cores.
    fn other(&self) -> f64 {
        let Some((first, last, span)) = self.window() else { return 0.0 };
        let (Some(then), Some(now)) = (first.counted, last.counted) else { return 0.0 };
        let mut cpu = now - then;
        if self.counts_compositors {
            // Each compositor's share of the window: all of its time if it started
            // within it (a process's counter starts at 0).
            for (pid, now) in &last.compositors {
                let then = first.compositors.get(pid).copied().filter(|then| then <= now).unwrap_or(0.0);
                cpu -= now - then;
            }
        }
        (cpu / span).max(0.0)
    }

    /// What one running recording is expected to cost, in cores.
    fn expected(&self, recording: &Recording) -> f64 {
        let predicted = recording.predicted * self.correction;
        match recording.pid.and_then(|pid| self.measured(pid)) {
            // Never under the prediction: a quiet moment (nobody's camera on yet) is not
            // what the next minute costs.
            Some(measured) => measured.max(predicted),
            None => predicted + SFU_PER_RECORDING,
        }
    }

    /// The load now, with `recordings` running (or starting).
    pub fn estimate(&self, recordings: &[Recording]) -> Estimate {
        let other = self.other();
        let committed = other + recordings.iter().map(|r| self.expected(r)).sum::<f64>();
        Estimate {
            running: recordings.len(),
            usable: self.cores * HEADROOM,
            other,
            committed,
            correction: self.correction,
            worst_lag: recordings.iter().map(|r| r.lag).max().unwrap_or_default(),
        }
    }

    /// The correction factor follows measured / predicted of the compositors that ran
    /// through the whole window: rising fast, falling slowly, within
    /// [`CORRECTION_RANGE`]. Not while one is behind: a starved compositor's CPU says
    /// nothing of what it needs.
    fn learn(&mut self, compositors: &[(Recording, f64)]) {
        if compositors.iter().any(|(r, _)| r.lag > LAG_LIMIT) {
            return;
        }
        let (mut measured, mut predicted) = (0.0, 0.0);
        for (recording, _) in compositors {
            if let Some(m) = recording.pid.and_then(|pid| self.measured(pid)) {
                measured += m;
                predicted += recording.predicted;
            }
        }
        if predicted <= 0.0 {
            return;
        }
        let ratio = (measured / predicted).clamp(CORRECTION_RANGE.0, CORRECTION_RANGE.1);
        let rate = if ratio > self.correction { CORRECTION_RISE } else { CORRECTION_FALL };
        self.correction += rate * (ratio - self.correction);
    }
}

impl Estimate {
    /// What a recording of this predicted cost would add, in cores.
    pub fn cost(&self, predicted: f64) -> f64 {
        predicted * self.correction + SFU_PER_RECORDING
    }

    /// What is left of the usable cores.
    pub fn free(&self) -> f64 {
        (self.usable - self.committed).max(0.0)
    }

    fn lagging(&self) -> bool {
        self.worst_lag > LAG_LIMIT
    }

    /// Whether one more recording of this predicted cost fits.
    pub fn admit(&self, predicted: f64) -> Result<(), Refusal> {
        let needed = self.cost(predicted);
        if self.lagging() || self.committed + needed > self.usable {
            return Err(Refusal { running: self.running, needed, free: self.free(), worst_lag: self.worst_lag });
        }
        Ok(())
    }

    /// How many recordings of this predicted cost could run in all: the running ones
    /// and how many more fit, at most `max_running`.
    pub fn capacity(&self, predicted: f64, max_running: usize) -> Capacity {
        let more = if self.lagging() { 0 } else { (self.free() / self.cost(predicted)).floor() as usize };
        Capacity { running: self.running, capacity_estimate: (self.running + more).min(max_running) }
    }
}

/// What a person is told when a recording is refused: how full the server is, and what
/// to do about it. `too_big`: the recording would not fit even on an idle server (its
/// size costs more than the cores recordings may count on), so stopping others would
/// not help and the message does not suggest it.
pub fn refusal_message(running: usize, too_big: bool) -> String {
    match running {
        _ if too_big => "this server is at its recording capacity: a recording of this size needs more CPU than it has; try a smaller size".into(),
        0 => "this server is at its recording capacity: its CPU is busy with other work; try a smaller size or try again later".into(),
        1 => "this server is at its recording capacity: 1 recording running; try a smaller size or stop one".into(),
        n => format!("this server is at its recording capacity: {n} recordings running; try a smaller size or stop one"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn video(width: u32, height: u32, fps: u32, preset: &str) -> VideoSettings {
        VideoSettings { width, height, fps, preset: preset.into(), coder: EntropyCoder::default() }
    }

    /// The table's row of the default preset, as measured (CABAC): the arithmetic of
    /// the tests below is in its figures.
    fn row_cost() -> f64 {
        predicted_cores(&VideoSettings { coder: EntropyCoder::Cabac, ..video(1280, 720, 30, "superfast") }, LayoutKind::Speaker)
    }

    fn running(pid: u32, predicted: f64) -> Recording {
        Recording { pid: Some(pid), predicted, lag: Duration::ZERO }
    }

    /// Feeds `seconds` one-second readings from `t0`: the counted load grows by
    /// `other` cores plus the compositors' (when counted), each compositor by `cpu`.
    fn feed(load: &mut Load, t0: Instant, seconds: u32, other: f64, compositors: &[(Recording, f64)]) -> Instant {
        let per_second: f64 = compositors.iter().map(|(_, c)| c).sum();
        let counted_per_second = other + if load.counts_compositors { per_second } else { 0.0 };
        for s in 0..=seconds {
            let readings: Vec<(Recording, f64)> = compositors.iter().map(|(r, c)| (*r, c * f64::from(s))).collect();
            load.observe(t0 + S * s, Some(100.0 + counted_per_second * f64::from(s)), &readings);
        }
        t0 + S * seconds
    }

    #[test]
    fn the_table_gives_its_rows_and_follows_them_between() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        let cabac = |v: VideoSettings| VideoSettings { coder: EntropyCoder::Cabac, ..v };
        for row in COSTS {
            let settings = VideoSettings { coder: row.coder, ..video(row.width, row.height, row.fps, row.preset) };
            assert!(close(predicted_cores(&settings, row.layout), row.cores), "{row:?}");
        }
        // Halfway between two ultrafast rows in pixels × fps: halfway in cost.
        let mid = predicted_cores(&video(1280, 720, 20, "ultrafast"), LayoutKind::Speaker);
        assert!(mid > 0.118 && mid < 0.147, "{mid}");
        // Cheaper settings cost less, dearer ones more, within reason.
        let small = predicted_cores(&video(320, 180, 15, "ultrafast"), LayoutKind::Speaker);
        assert!((0.035..0.070).contains(&small), "{small}");
        let big = predicted_cores(&video(1920, 1080, 30, "superfast"), LayoutKind::Speaker);
        assert!(big > row_cost() && big < 1.0, "{big}");
        // superfast and veryfast have one speaker row each: they take ultrafast's shape
        // through it.
        let sf15 = predicted_cores(&cabac(video(1280, 720, 15, "superfast")), LayoutKind::Speaker);
        assert!(close(sf15, 0.202 * 0.118 / 0.147), "{sf15}");
        // Unmeasured presets: dearer beyond the slowest measured.
        let medium = predicted_cores(&cabac(video(1280, 720, 30, "medium")), LayoutKind::Speaker);
        assert!(close(medium, 0.243 * 1.5f64.powi(3)), "{medium}");
        let faster = predicted_cores(&cabac(video(1280, 720, 30, "faster")), LayoutKind::Speaker);
        assert!(close(faster, 0.243 * 1.5), "{faster}");
        // Layouts keep their measured ratio at other settings too.
        let grid = predicted_cores(&video(640, 360, 15, "ultrafast"), LayoutKind::Grid);
        assert!(close(grid, 0.070 * 0.229 / 0.202), "{grid}");
        // Each coder from the rows of the other: CAVLC, the default, for less than the
        // CABAC rows; CABAC for more than the CAVLC ones.
        let default = predicted_cores(&video(1280, 720, 30, "superfast"), LayoutKind::Speaker);
        assert!(close(default, 0.202 / CAVLC_TO_CABAC), "{default}");
        let ultrafast_cabac = predicted_cores(&cabac(video(1280, 720, 30, "ultrafast")), LayoutKind::Speaker);
        assert!(close(ultrafast_cabac, 0.147 * CAVLC_TO_CABAC), "{ultrafast_cabac}");
    }

    #[test]
    fn recordings_fit_until_the_usable_cores_are_full() {
        let t0 = Instant::now();
        // 2 cores, 0.1 of a core of other load (the SFU): 1.7 usable, 1.6 free.
        let mut load = Load::new(2.0, true);
        feed(&mut load, t0, 5, 0.1, &[]);
        let estimate = load.estimate(&[]);
        assert!((estimate.other - 0.1).abs() < 1e-9, "{estimate:?}");
        assert!((estimate.usable - 1.7).abs() < 1e-9);
        assert_eq!(estimate.admit(row_cost()), Ok(()));
        // Each new one costs its prediction plus the SFU's forwarding: 0.232.
        let per = row_cost() + SFU_PER_RECORDING;
        let fit = (1.6 / per).floor() as usize;
        assert_eq!(fit, 6);
        let mut recordings = Vec::new();
        for n in 0..fit {
            assert_eq!(load.estimate(&recordings).admit(row_cost()), Ok(()), "the recording {n} fits");
            // Just started: no pid yet, then a pid with no window of its own.
            recordings.push(Recording { pid: (n % 2 == 1).then_some(100 + n as u32), predicted: row_cost(), lag: Duration::ZERO });
        }
        let refusal = load.estimate(&recordings).admit(row_cost()).unwrap_err();
        assert_eq!(refusal.running, 6);
        assert!((refusal.needed - per).abs() < 1e-9);
        assert!(refusal.free < per && refusal.free >= 0.0, "{refusal:?}");
        // A cheaper recording still fits in what is left (0.208 cores).
        let small = predicted_cores(&video(320, 180, 15, "ultrafast"), LayoutKind::Speaker);
        assert!(load.estimate(&recordings).admit(small).is_ok());
    }

    #[test]
    fn a_busy_machine_leaves_no_room() {
        let t0 = Instant::now();
        let mut load = Load::new(2.0, true);
        // Something else takes 1.6 cores: 0.1 is left, a recording needs 0.232.
        feed(&mut load, t0, 5, 1.6, &[]);
        let refusal = load.estimate(&[]).admit(row_cost()).unwrap_err();
        assert_eq!(refusal.running, 0);
        assert!((refusal.free - 0.1).abs() < 1e-9, "{refusal:?}");
        // With a budget of its own (--recording-cores), the server counts only itself.
        let mut own = Load::new(2.0, false);
        feed(&mut own, t0, 5, 0.1, &[]);
        assert!(own.estimate(&[]).admit(row_cost()).is_ok());
    }

    #[test]
    fn running_compositors_count_at_what_they_use_but_never_under_their_prediction() {
        let t0 = Instant::now();
        let p = row_cost();
        // Two compositors ran through the window: one at 0.6 cores (a big meeting), one
        // at 0.1 (nobody's camera on). The machine counts them: 0.2 + 0.7 in all.
        let big = running(11, p);
        let quiet = running(12, p);
        let mut load = Load::new(2.0, true);
        feed(&mut load, t0, 6, 0.2, &[(big, 0.6), (quiet, 0.1)]);
        let e = load.estimate(&[big, quiet]);
        assert!((e.other - 0.2).abs() < 1e-9, "the compositors are not other load: {e:?}");
        // The quiet one counts at its (corrected) prediction.
        let expected = 0.2 + 0.6 + p * e.correction;
        assert!((e.committed - expected).abs() < 1e-9, "{e:?} vs {expected}");
    }

    #[test]
    fn a_compositor_behind_real_time_refuses_whatever_the_cores_say() {
        let t0 = Instant::now();
        let mut load = Load::new(64.0, true);
        feed(&mut load, t0, 5, 0.1, &[]);
        let mut behind = running(7, row_cost());
        behind.lag = Duration::from_millis(499);
        assert!(load.estimate(&[behind]).admit(row_cost()).is_ok(), "499 ms is within the limit");
        behind.lag = Duration::from_millis(501);
        let estimate = load.estimate(&[behind]);
        let refusal = estimate.admit(row_cost()).unwrap_err();
        assert_eq!(refusal.worst_lag, Duration::from_millis(501));
        assert_eq!(estimate.capacity(row_cost(), 100).capacity_estimate, 1, "no more while one is behind");
        // A compositor that stopped reporting counts as behind by its silence.
        assert_eq!(lag(Duration::from_millis(20), Duration::from_millis(900)), Duration::from_millis(20));
        assert_eq!(lag(Duration::ZERO, Duration::from_millis(2600)), Duration::from_millis(1600));
        assert!(lag(Duration::ZERO, Duration::from_millis(1600)) > LAG_LIMIT);
    }

    #[test]
    fn capacity_counts_the_running_and_what_still_fits_capped_by_max_recordings() {
        let t0 = Instant::now();
        let p = row_cost();
        let mut load = Load::new(2.0, true);
        feed(&mut load, t0, 5, 0.2, &[]);
        assert_eq!(load.estimate(&[]).capacity(p, 100), Capacity { running: 0, capacity_estimate: 6 });
        // --max-recordings is smaller: it caps.
        assert_eq!(load.estimate(&[]).capacity(p, 4), Capacity { running: 0, capacity_estimate: 4 });
        // Some starting: still 6 in all; the estimate agrees with admit at every count.
        let starting = Recording { pid: None, predicted: p, lag: Duration::ZERO };
        for n in 0..8 {
            let recordings = vec![starting; n];
            let estimate = load.estimate(&recordings);
            let capacity = estimate.capacity(p, 100);
            assert_eq!(capacity.running, n);
            assert_eq!(capacity.capacity_estimate, n.max(6));
            assert_eq!(estimate.admit(p).is_ok(), capacity.capacity_estimate > n, "{n} running");
        }
    }

    #[test]
    fn the_correction_factor_learns_what_the_compositors_really_cost() {
        let t0 = Instant::now();
        let p = row_cost();
        let r = running(21, p);
        let mut load = Load::new(2.0, true);
        let t = feed(&mut load, t0, 5, 0.1, &[]);
        let before = load.estimate(&[]).capacity(p, 100).capacity_estimate;
        // A compositor starts; on this machine it costs twice the table's figure.
        let reading = |s: u32| (Some(100.0 + 0.5 + (0.1 + 2.0 * p) * f64::from(s)), vec![(r, 2.0 * p * f64::from(s))]);
        for s in 1..=4 {
            let (counted, compositors) = reading(s);
            load.observe(t + S * s, counted, &compositors);
        }
        assert_eq!(load.correction(), 1.0, "nothing learnt before it ran through a window");
        let young = load.estimate(&[r]);
        assert!((young.committed - (young.other + p + SFU_PER_RECORDING)).abs() < 1e-9, "a young one counts at its prediction: {young:?}");
        for s in 5..=25 {
            let (counted, compositors) = reading(s);
            load.observe(t + S * s, counted, &compositors);
        }
        assert!((load.correction() - 2.0).abs() < 0.05, "{}", load.correction());
        // A new recording is now priced at about twice the table: fewer fit than before.
        let e = load.estimate(&[r]);
        assert!(e.cost(p) > 1.9 * p + SFU_PER_RECORDING, "{e:?}");
        let after = e.capacity(p, 100).capacity_estimate;
        assert!(after < before - 1, "{after} against {before}");

        // A cheaper machine is learnt too, but slowly, and not below the range.
        let cheap = running(22, p);
        let mut load = Load::new(2.0, true);
        let mut cpu = 0.0;
        for s in 0..=10u32 {
            load.observe(t0 + S * s, Some(100.0 + f64::from(s)), &[(cheap, cpu)]);
            cpu += 0.1 * p;
        }
        let after_ten = load.correction();
        assert!(after_ten < 1.0 && after_ten > 0.6, "falls slowly: {after_ten}");
        for s in 11..=200u32 {
            load.observe(t0 + S * s, Some(100.0 + f64::from(s)), &[(cheap, cpu)]);
            cpu += 0.1 * p;
        }
        assert!((load.correction() - CORRECTION_RANGE.0).abs() < 0.01, "{}", load.correction());
    }

    #[test]
    fn nothing_is_learnt_from_a_compositor_behind_real_time() {
        let t0 = Instant::now();
        let mut starved = running(31, row_cost());
        starved.lag = Duration::from_secs(2);
        let mut load = Load::new(2.0, true);
        feed(&mut load, t0, 10, 0.1, &[(starved, 0.05)]);
        assert_eq!(load.correction(), 1.0);
    }

    #[test]
    fn the_window_is_the_last_seconds_and_a_fresh_reading_counts_nothing() {
        let t0 = Instant::now();
        let mut load = Load::new(2.0, true);
        load.observe(t0, Some(0.0), &[]);
        load.observe(t0 + Duration::from_millis(500), Some(0.5), &[]);
        assert_eq!(load.estimate(&[]).other, 0.0, "half a second says too little");
        // A busy minute, then five quiet seconds: only the quiet ones count.
        let mut load = Load::new(2.0, true);
        let mut cpu = 0.0;
        for s in 0..=60u32 {
            load.observe(t0 + S * s, Some(cpu), &[]);
            cpu += 1.9;
        }
        for s in 61..=66u32 {
            cpu += 0.1;
            load.observe(t0 + S * s, Some(cpu), &[]);
        }
        let other = load.estimate(&[]).other;
        assert!(other < 0.11, "{other}");
        assert!(load.ticks.len() <= 7, "{}", load.ticks.len());
        // An unreadable machine counter: no other load is assumed, recordings still count.
        let mut blind = Load::new(2.0, true);
        blind.observe(t0, None, &[]);
        blind.observe(t0 + S * 5, None, &[]);
        let e = blind.estimate(&[Recording { pid: None, predicted: 0.2, lag: Duration::ZERO }]);
        assert!((e.committed - (0.2 + SFU_PER_RECORDING)).abs() < 1e-9);
    }

    #[test]
    fn the_message_says_how_many_run_and_what_to_do() {
        assert_eq!(refusal_message(5, false), "this server is at its recording capacity: 5 recordings running; try a smaller size or stop one");
        assert_eq!(refusal_message(1, false), "this server is at its recording capacity: 1 recording running; try a smaller size or stop one");
        assert!(refusal_message(0, false).contains("busy with other work"));
        for running in [0, 1, 5] {
            let message = refusal_message(running, true);
            assert!(message.contains("needs more CPU than it has") && !message.contains("stop one"), "stopping others would not help: {message}");
        }
    }
}

//! What the recorder has done since the server started, for `/api/metrics`: recordings
//! started, how they ended, and the starts refused by reason. Counters only (they never
//! go down), so that a scraper's rate() over them is right across its own restarts.
//! A start the client got wrong (an empty room, a bad size, a room already recording), or
//! refused as the server shuts down, is in none of them: nothing was refused for want of
//! room and nothing failed.
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a start was refused, as the metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-recordings` running.
    MaxRecordings,
    /// Admission: it would not run in real time.
    Cpu,
    /// The disk below `--recording-min-free-mb`.
    Disk,
    /// The room's starts too often.
    Pace,
}

impl Refusal {
    pub const ALL: [Refusal; 4] = [Refusal::MaxRecordings, Refusal::Cpu, Refusal::Disk, Refusal::Pace];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::MaxRecordings => "max_recordings",
            Refusal::Cpu => "cpu",
            Refusal::Disk => "disk",
            Refusal::Pace => "pace",
        }
    }
}

#[derive(Debug, Default)]
pub struct Counts {
    started: AtomicU64,
    start_failed: AtomicU64,
    finished: AtomicU64,
    failed: AtomicU64,
    refused: [AtomicU64; 4],
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountsNow {
    /// Recordings that ran (their compositor up, their slot running).
    pub started: u64,
    /// Starts admitted that failed before running (a 500: the transport, the
    /// compositor, the connection).
    pub start_failed: u64,
    pub finished: u64,
    pub failed: u64,
    /// By [`Refusal::ALL`]'s order.
    pub refused: [u64; 4],
}

impl CountsNow {
    pub fn refused(&self, why: Refusal) -> u64 {
        self.refused[why as usize]
    }
}

impl Counts {
    pub fn started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    pub fn start_failed(&self) {
        self.start_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A recording ended: `failed` when an error stopped it (the file up to then plays).
    pub fn ended(&self, failed: bool) {
        if failed { &self.failed } else { &self.finished }.fetch_add(1, Ordering::Relaxed);
    }

    pub fn refused(&self, why: Refusal) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn now(&self) -> CountsNow {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountsNow { started: get(&self.started), start_failed: get(&self.start_failed), finished: get(&self.finished), failed: get(&self.failed), refused: self.refused.each_ref().map(get) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_counts_once_under_its_own_name() {
        let counts = Counts::default();
        counts.started();
        counts.started();
        counts.start_failed();
        counts.ended(false);
        counts.ended(true);
        counts.refused(Refusal::Disk);
        counts.refused(Refusal::Cpu);
        counts.refused(Refusal::Cpu);
        let now = counts.now();
        assert_eq!((now.started, now.start_failed, now.finished, now.failed), (2, 1, 1, 1));
        assert_eq!(Refusal::ALL.map(|r| now.refused(r)), [0, 2, 1, 0]);
        assert_eq!(Refusal::ALL.map(Refusal::label), ["max_recordings", "cpu", "disk", "pace"]);
    }
}

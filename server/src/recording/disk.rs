//! The recordings' disk. A recording started on a nearly full disk fails minutes later
//! with "the disk is full", and takes the space the running ones need to finish their
//! files. So a start is refused while the disk holding the recordings has less free space
//! than the operator keeps (`--recording-min-free-mb`), with a message that says what to
//! do, and `/api/health` counts no room for another recording then.
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const MB: u64 = 1024 * 1024;

/// The free space the operator keeps, by default: about 50 minutes of one recording at
/// the default settings (2.5 Mbit/s, docs/benchmarks.md), room for the running ones to
/// finish and for their reels.
pub const DEFAULT_MIN_FREE_MB: u64 = 1024;

/// How long a reading serves health and metrics.
pub const READING_LASTS: Duration = Duration::from_secs(5);
/// How long a caller waits for a reading before it goes on without (a hung network
/// filesystem).
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// The free space of the recordings' disk, read off the async threads and never by more
/// than one thread at a time: a statvfs that hangs (a network filesystem gone away)
/// cannot be cancelled, so a second reading while one still hangs would only pile up
/// blocked threads, one per health poll. The reading thread itself marks the end of its
/// reading (however it ends, a panic too), so a caller that gave up waiting (the
/// timeout, a poll dropped) does not free the way for another; while it hangs past the
/// timeout the disk reads as unknown, not as its last answer from before the hang.
#[derive(Debug, Clone)]
pub struct Gauge {
    dir: PathBuf,
    reading: Arc<Mutex<Reading>>,
    /// The syscall and the times, parameters so that a test can make it hang.
    read: fn(&Path) -> std::io::Result<u64>,
    lasts: Duration,
    timeout: Duration,
}

/// The last reading, for those who poll.
#[derive(Debug, Default)]
struct Reading {
    at: Option<Instant>,
    /// `None`: it could not be read.
    free: Option<u64>,
    /// When the reading under way (or hanging) began: others take the last one rather
    /// than start another.
    in_flight: Option<Instant>,
}

/// Ends the reading under way when dropped: on the reading thread when the syscall
/// returns or panics, or with the task if it never ran (the runtime shutting down).
struct EndOfReading {
    shared: Arc<Mutex<Reading>>,
    free: Option<u64>,
}

impl Drop for EndOfReading {
    fn drop(&mut self) {
        *self.shared.lock() = Reading { at: Some(Instant::now()), free: self.free, in_flight: None };
    }
}

impl Gauge {
    pub fn new(dir: PathBuf) -> Self {
        Self::reading_with(dir, free_bytes, READING_LASTS, READ_TIMEOUT)
    }

    fn reading_with(dir: PathBuf, read: fn(&Path) -> std::io::Result<u64>, lasts: Duration, timeout: Duration) -> Self {
        Self { dir, reading: Arc::default(), read, lasts, timeout }
    }

    fn fresh(&self, reading: &Reading, now: Instant) -> bool {
        reading.at.is_some_and(|at| now.saturating_duration_since(at) < self.lasts)
    }

    /// Free bytes, as last read within [`READING_LASTS`] (or while a reading is under
    /// way, the one before it), for health and metrics. `None`: the disk could not be
    /// read, or a reading hangs past [`READ_TIMEOUT`].
    pub async fn latest(&self) -> Option<u64> {
        {
            let reading = self.reading.lock();
            let now = Instant::now();
            match reading.in_flight {
                Some(since) if now.saturating_duration_since(since) >= self.timeout => return None,
                Some(_) => return reading.free,
                None if self.fresh(&reading, now) => return reading.free,
                None => {}
            }
        }
        self.read().await.ok()
    }

    /// Free bytes read afresh, for a start. While another reading is under way (a health
    /// poll's, which takes microseconds) it waits for that one's answer; while one hangs
    /// past the timeout it says the disk is busy.
    pub async fn read(&self) -> Result<u64, ReadError> {
        let mut waited = false;
        let end = loop {
            {
                let mut reading = self.reading.lock();
                let now = Instant::now();
                match reading.in_flight {
                    None => {
                        // The answer of the reading waited for, taken as it is.
                        if let Some(free) = reading.free.filter(|_| waited && self.fresh(&reading, now)) {
                            return Ok(free);
                        }
                        reading.in_flight = Some(now);
                        break EndOfReading { shared: Arc::clone(&self.reading), free: None };
                    }
                    Some(since) if now.saturating_duration_since(since) >= self.timeout => {
                        return match (self.fresh(&reading, now), reading.free) {
                            (true, Some(free)) => Ok(free),
                            _ => Err(ReadError::Busy),
                        };
                    }
                    Some(_) => {}
                }
            }
            // Its answer comes on the blocking pool, in microseconds unless the disk hangs.
            tokio::time::sleep(Duration::from_millis(2)).await;
            waited = true;
        };
        let (dir, read) = (self.dir.clone(), self.read);
        let blocking = tokio::task::spawn_blocking(move || {
            let mut end = end;
            let free = read(&dir)?;
            end.free = Some(free);
            Ok(free)
        });
        match tokio::time::timeout(self.timeout, blocking).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(ReadError::Gone(join)),
            Err(_) => Err(ReadError::TimedOut(self.timeout)),
        }
    }
}

/// A start refused for want of disk space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the recordings' disk has {} MB free, and this server keeps at least {} MB free: delete recordings you no longer need from the library, or ask the operator for more space", .free / MB, .min_free / MB)]
pub struct DiskLow {
    pub free: u64,
    pub min_free: u64,
}

/// Why the free space could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the free space of the recordings' directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("the recordings' disk gave no free space within {0:?}")]
    TimedOut(Duration),
    #[error("an earlier reading of the recordings' disk has not returned yet")]
    Busy,
    /// The reading's task panicked, or the runtime shut down before it ran.
    #[error("the reading of the recordings' disk ended abnormally: {0}")]
    Gone(tokio::task::JoinError),
}

/// The rule, on numbers (the syscall stays out of it): `min_free` 0 keeps nothing free.
pub fn check(free: u64, min_free: u64) -> Result<(), DiskLow> {
    if free < min_free {
        Err(DiskLow { free, min_free })
    } else {
        Ok(())
    }
}

/// Bytes an unprivileged writer may still write on the filesystem that holds `dir`
/// (statvfs: the blocks free to non-root users, as `df` shows as available).
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let path = CString::new(dir.as_os_str().as_bytes()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and `stat` is a
    // properly sized, writable statvfs the call fills in.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn a_start_needs_the_kept_space_free() {
        assert_eq!(check(2048 * MB, 1024 * MB), Ok(()));
        assert_eq!(check(1024 * MB, 1024 * MB), Ok(()), "exactly the kept space is enough");
        let low = check(300 * MB + 5, 1024 * MB).unwrap_err();
        assert_eq!(low, DiskLow { free: 300 * MB + 5, min_free: 1024 * MB });
        assert_eq!(
            low.to_string(),
            "the recordings' disk has 300 MB free, and this server keeps at least 1024 MB free: delete recordings you no longer need from the library, or ask the operator for more space"
        );
        assert_eq!(check(0, 0), Ok(()), "0 keeps nothing free");
    }

    #[test]
    fn the_free_space_of_a_real_directory_is_read_and_a_missing_one_is_an_error() {
        let dir = std::env::temp_dir();
        let free = free_bytes(&dir).unwrap();
        assert!(free > 0, "the temp dir's filesystem has some space free");
        let err = free_bytes(Path::new("/nonexistent/podium-disk-test")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    }

    /// How many readings the hanging disk below has begun, and the gate that holds them.
    static BEGUN: AtomicU64 = AtomicU64::new(0);
    static GATE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// A disk whose n-th reading says n MB free, once the gate lets it.
    fn hanging_disk(_: &Path) -> std::io::Result<u64> {
        let n = BEGUN.fetch_add(1, Ordering::SeqCst) + 1;
        drop(GATE.lock().unwrap());
        Ok(n * MB)
    }

    async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done().await {
            assert!(Instant::now() < deadline, "{what}: not within 10 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    // The held gate is the hang: the blocking reader waits on it, not this task.
    #[allow(clippy::await_holding_lock)]
    async fn a_hanging_disk_holds_one_thread_however_often_it_is_polled_reads_as_unknown_and_is_read_again_once_it_answers() {
        let (lasts, timeout) = (Duration::from_secs(60), Duration::from_millis(300));
        let gauge = Gauge::reading_with(PathBuf::from("/hangs"), hanging_disk, lasts, timeout);
        assert_eq!(gauge.read().await.unwrap(), MB, "a disk that answers");
        let gate = GATE.lock().unwrap();
        // That reading grows old (as if `lasts` went by): the next poll reads again, and
        // the disk hangs.
        gauge.reading.lock().at = None;
        let hung = Instant::now();
        assert_eq!(gauge.latest().await, None, "no answer within the timeout");
        assert!(hung.elapsed() >= timeout);
        until("the second reading begins", async || BEGUN.load(Ordering::SeqCst) == 2).await;
        for _ in 0..50 {
            assert_eq!(gauge.latest().await, None, "while it hangs, unknown: not the answer from before the hang");
        }
        let busy = Instant::now();
        assert!(matches!(gauge.read().await, Err(ReadError::Busy)), "a start while it hangs is told the disk is busy");
        assert!(busy.elapsed() < timeout, "at once: the hang is known");
        assert_eq!(BEGUN.load(Ordering::SeqCst), 2, "one thread blocked, not one per poll");
        drop(gate);
        // The hung thread stores its answer when it finally returns.
        until("the hung reading's answer", async || gauge.latest().await == Some(2 * MB)).await;
        assert_eq!(gauge.read().await.unwrap(), 3 * MB, "the next start reads afresh");
    }

    fn slow_disk(_: &Path) -> std::io::Result<u64> {
        std::thread::sleep(Duration::from_millis(50));
        Ok(5 * MB)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_start_during_a_polls_reading_waits_for_its_answer_instead_of_going_unchecked() {
        let gauge = Gauge::reading_with(PathBuf::from("/slow"), slow_disk, READING_LASTS, Duration::from_secs(10));
        let poll = tokio::spawn({
            let gauge = gauge.clone();
            async move { gauge.latest().await }
        });
        // The poll's reading is under way (50 ms): a start now waits for it.
        while gauge.reading.lock().in_flight.is_none() {
            tokio::task::yield_now().await;
        }
        assert_eq!(gauge.read().await.unwrap(), 5 * MB);
        assert_eq!(poll.await.unwrap(), Some(5 * MB));
    }

    fn panicking_disk(_: &Path) -> std::io::Result<u64> {
        panic!("a reading that panics")
    }

    #[tokio::test]
    async fn a_reading_that_panics_ends_and_does_not_leave_the_disk_busy() {
        let gauge = Gauge::reading_with(PathBuf::from("/panics"), panicking_disk, READING_LASTS, Duration::from_secs(10));
        for _ in 0..2 {
            let gone = gauge.read().await;
            assert!(matches!(gone, Err(ReadError::Gone(_))), "{gone:?}: read again, not busy");
        }
        assert_eq!(gauge.latest().await, None);
    }
}

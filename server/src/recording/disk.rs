//! The recordings' disk. A recording started on a nearly full disk fails minutes later
//! with "the disk is full", and takes the space the running ones need to finish their
//! files. So a start is refused while the disk holding the recordings has less free space
//! than the operator keeps (`--recording-min-free-mb`), with a message that says what to
//! do, and `/api/health` counts no room for another recording then.
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const MB: u64 = 1024 * 1024;

/// The free space the operator keeps, by default: about 50 minutes of one recording at
/// the default settings (2.5 Mbit/s, docs/benchmarks.md), room for the running ones to
/// finish and for their reels.
pub const DEFAULT_MIN_FREE_MB: u64 = 1024;

/// How long a reading serves health and metrics.
pub const READING_LASTS: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a reading may take before it is given up (a hung network filesystem).
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The last reading, for those who poll.
#[derive(Debug, Default)]
pub struct Reading {
    pub at: Option<std::time::Instant>,
    /// `None`: it could not be read.
    pub free: Option<u64>,
    /// A reading runs now: others take the last one rather than start another.
    pub in_flight: bool,
}

impl Reading {
    pub fn fresh(&self, now: std::time::Instant) -> bool {
        self.at.is_some_and(|at| now.saturating_duration_since(at) < READING_LASTS)
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
#[error("cannot read the free space of the recordings' directory: {0}")]
pub struct FreeSpaceError(#[from] pub std::io::Error);

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
pub fn free_bytes(dir: &Path) -> Result<u64, FreeSpaceError> {
    let path = CString::new(dir.as_os_str().as_bytes()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and `stat` is a
    // properly sized, writable statvfs the call fills in.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(err.0.kind(), std::io::ErrorKind::NotFound, "{err}");
    }
}

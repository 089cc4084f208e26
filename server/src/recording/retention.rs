//! Retention: a recording older than the operator keeps recordings
//! (`--recording-retention-days`) is deleted with its reel and share links, as an admin's
//! delete would, by a sweep at start and every hour. A recording ages from its end (its
//! start plus its length), so an hour's meeting is kept as long after it as a minute's.
//! One still recording, or whose reel is being built, waits for the next sweep; one whose
//! start cannot be read is kept (what cannot be dated is never deleted).
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How often the sweep runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// How long recordings are kept after they end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub keep: Duration,
}

impl Retention {
    pub fn days(days: u32) -> Self {
        Retention { keep: Duration::from_secs(u64::from(days) * 86_400) }
    }

    /// When a recording that started at `started_at` (RFC 3339, as its sidecar says) and
    /// lasted `duration_ms` is deleted; `None` when the start does not parse.
    pub fn expires_at(&self, started_at: &str, duration_ms: u64) -> Option<OffsetDateTime> {
        let started = OffsetDateTime::parse(started_at, &Rfc3339).ok()?;
        started.checked_add(time::Duration::milliseconds(i64::try_from(duration_ms).ok()?))?.checked_add(self.keep.try_into().ok()?)
    }

    /// Whether that recording is past its retention at `now`.
    pub fn expired(&self, started_at: &str, duration_ms: u64, now: OffsetDateTime) -> bool {
        self.expires_at(started_at, duration_ms).is_some_and(|at| at <= now)
    }
}

/// `at` as the API writes times (as `started_at`): RFC 3339 in UTC, to the millisecond.
pub fn format(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_recording_expires_its_retention_after_its_end() {
        let week = Retention::days(7);
        // Started 1 Dec 10:00, an hour long: ends 11:00, kept until 8 Dec 11:00.
        let (start, hour) = ("2026-12-01T10:00:00.000Z", 3_600_000);
        assert_eq!(week.expires_at(start, hour), Some(datetime!(2026-12-08 11:00 UTC)));
        assert!(!week.expired(start, hour, datetime!(2026-12-08 10:59:59 UTC)), "an hour's meeting ages from its end, not its start");
        assert!(week.expired(start, hour, datetime!(2026-12-08 11:00 UTC)));
        assert!(week.expired(start, 0, datetime!(2026-12-08 10:00 UTC)));
        assert_eq!(format(week.expires_at(start, hour).unwrap()), "2026-12-08T11:00:00.000Z");
        assert_eq!(format(week.expires_at("2026-12-01T10:00:00.123+01:00", 0).unwrap()), "2026-12-08T09:00:00.123Z", "UTC, to the millisecond");
    }

    #[test]
    fn what_cannot_be_dated_is_never_deleted() {
        let day = Retention::days(1);
        let long_after = datetime!(2100-01-01 0:00 UTC);
        for start in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-12-01 10:00:00"] {
            assert_eq!(day.expires_at(start, 0), None, "{start:?}");
            assert!(!day.expired(start, 0, long_after), "{start:?}");
        }
        assert!(!day.expired("2026-12-01T10:00:00Z", u64::MAX, long_after), "a length past any date");
    }
}

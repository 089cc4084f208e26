//! A token bucket: at most `burst` actions at once, refilled at `per_second`. Sans-IO:
//! it is told the time, so its tests need no clock.
//!
//! Signaling uses it for the requests whose every call is fanned out to the whole room
//! and its recorder (`pause_producer`, `resume_producer`): one client sending them in a
//! loop made every other client and the recorder's compositor re-read the room's
//! sources thousands of times a second.
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket. `per_second` must be above 0.
    pub fn new(burst: u32, per_second: f64) -> Self {
        assert!(per_second > 0.0, "a bucket that never refills");
        Self { burst: f64::from(burst), per_second, tokens: f64::from(burst), last: None }
    }

    /// Whether the bucket would be full at `now`: it then remembers nothing a new
    /// bucket would not, and can be dropped.
    pub fn is_full(&self, now: Instant) -> bool {
        let elapsed = self.last.map_or(f64::INFINITY, |last| now.saturating_duration_since(last).as_secs_f64());
        self.tokens + elapsed * self.per_second >= self.burst
    }

    /// Takes one token at `now`; when there is none, how long until there is.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(last) = self.last {
            // A clock read out of order (two sessions' instants) only refills nothing.
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        }
        self.last = Some(now.max(self.last.unwrap_or(now)));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(4, 2.0);
        for _ in 0..4 {
            assert_eq!(bucket.take(t0), Ok(()));
        }
        let wait = bucket.take(t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Refused calls cost nothing: half a second later, one more passes.
        assert!(bucket.take(t0 + Duration::from_millis(499)).is_err());
        assert_eq!(bucket.take(t0 + Duration::from_millis(500)), Ok(()));
        // Over 10 s of a client calling every 10 ms, about 2 per second pass.
        let mut passed = 0;
        for i in 1..=1000 {
            passed += bucket.take(t0 + Duration::from_millis(500 + 10 * i)).is_ok() as u32;
        }
        assert!((19..=21).contains(&passed), "{passed}");
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| bucket.take(later).is_ok()).count(), 4);
    }

    #[test]
    fn a_bucket_is_full_again_once_it_has_refilled() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(2, 1.0);
        assert!(bucket.is_full(t0));
        bucket.take(t0).unwrap();
        assert!(!bucket.is_full(t0 + Duration::from_millis(999)));
        assert!(bucket.is_full(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn an_earlier_instant_neither_refills_nor_panics() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut bucket = TokenBucket::new(1, 1.0);
        assert_eq!(bucket.take(t0), Ok(()));
        assert!(bucket.take(t0 - Duration::from_secs(5)).is_err());
        assert_eq!(bucket.take(t0 + Duration::from_secs(1)), Ok(()));
    }
}

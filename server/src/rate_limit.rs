//! A token bucket: at most `burst` actions at once, refilled at `per_second`. Sans-IO:
//! it is told the time, so its tests need no clock.
//!
//! Signaling uses it for the requests whose every call is fanned out to the whole room
//! and its recorder (`join`, `produce`, `pause_producer`, `resume_producer`): one client
//! sending them in a loop made every other client and the recorder's compositor re-read
//! the room's sources thousands of times a second. Each connection has its buckets, and
//! each client address ([`KeyedBuckets`]) too: a client reconnecting in a loop would
//! otherwise get a fresh burst each time.
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A wait in seconds as a refusal says it: rounded up to a tenth, since "try again in
/// 0.0 s" would send the client straight into another refusal.
pub fn seconds_to_wait(wait: Duration) -> f64 {
    (wait.as_secs_f64() * 10.0).ceil() / 10.0
}

/// A pace: `burst` actions at once, then `per_second`. The pair that names a limit,
/// kept together so that a refusal quotes the rate it is held to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub burst: u32,
    pub per_second: f64,
}

impl Pace {
    pub const fn new(burst: u32, per_second: f64) -> Self {
        Self { burst, per_second }
    }

    /// A full bucket of this pace.
    pub fn bucket(self) -> TokenBucket {
        TokenBucket::new(self.burst, self.per_second)
    }

    /// A bucket of this pace per key.
    pub fn per_key<K: Hash + Eq + Clone>(self) -> KeyedBuckets<K> {
        KeyedBuckets::new(self.burst, self.per_second)
    }
}

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

    /// Whether [`Self::take`] at `now` would pass, taking nothing: for an action paced
    /// by several buckets, which must take from none unless all have a token.
    pub fn check(&self, now: Instant) -> Result<(), Duration> {
        let elapsed = self.last.map_or(0.0, |last| now.saturating_duration_since(last).as_secs_f64());
        let tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_second))
        }
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

/// One bucket per key (a client's address, a room), made full on first use. A full
/// bucket says nothing a new one would not, so those are dropped (at most once a
/// second): the map holds only the keys that acted lately.
#[derive(Debug)]
pub struct KeyedBuckets<K> {
    burst: u32,
    per_second: f64,
    buckets: HashMap<K, TokenBucket>,
    pruned: Option<Instant>,
}

impl<K: Hash + Eq + Clone> KeyedBuckets<K> {
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self { burst, per_second, buckets: HashMap::new(), pruned: None }
    }

    /// Takes one token of `key` at `now`; when there is none, how long until there is.
    pub fn take(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.pruned.is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1)) {
            self.buckets.retain(|_, bucket| !bucket.is_full(now));
            self.pruned = Some(now);
        }
        let (burst, per_second) = (self.burst, self.per_second);
        self.buckets.entry(key.clone()).or_insert_with(|| TokenBucket::new(burst, per_second)).take(now)
    }

    /// Whether [`Self::take`] of `key` at `now` would pass, taking nothing.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        self.buckets.get(key).map_or(Ok(()), |bucket| bucket.check(now))
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
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
    fn a_check_says_what_a_take_would_and_takes_nothing() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1, 2.0);
        assert_eq!(bucket.check(t0), Ok(()));
        assert_eq!(bucket.check(t0), Ok(()));
        bucket.take(t0).unwrap();
        assert_eq!(bucket.check(t0), Err(Duration::from_millis(500)));
        assert_eq!(bucket.check(t0 + Duration::from_millis(500)), Ok(()));
        assert_eq!(bucket.take(t0 + Duration::from_millis(500)), Ok(()));
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
    fn each_key_has_its_bucket_and_idle_keys_are_forgotten() {
        let t0 = Instant::now();
        let key = |k: &str| k.to_string();
        let mut keyed = KeyedBuckets::new(2, 1.0);
        assert_eq!((keyed.take(&key("a"), t0), keyed.take(&key("a"), t0)), (Ok(()), Ok(())));
        assert!(keyed.take(&key("a"), t0).is_err());
        assert_eq!(keyed.take(&key("b"), t0), Ok(()));
        for i in 0..1000 {
            keyed.take(&i.to_string(), t0).unwrap();
        }
        assert_eq!(keyed.len(), 1002);
        // Two seconds on, every bucket is full again: only the one used now is kept.
        assert_eq!(keyed.take(&key("a"), t0 + Duration::from_secs(2)), Ok(()));
        assert_eq!(keyed.len(), 1);
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

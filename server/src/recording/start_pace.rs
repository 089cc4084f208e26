//! How often a room's recording may start. Each start launches a compositor process
//! and leaves a file and a sidecar on disk; a probe looping start, ten layout changes
//! and stop made nine recordings a second, each with a fresh layout burst. People start
//! a recording a few times a meeting (a false start, a break), so a burst of
//! [`BURST`] passes, then one every [`EVERY`]. Sans-IO: it is told the time.
use crate::rate_limit::TokenBucket;
use crate::room::RoomId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Starts that pass at once in one room.
pub const BURST: u32 = 6;
/// Then one start per this long.
pub const EVERY: Duration = Duration::from_secs(10);

/// The rooms that started recordings lately, each with its bucket.
#[derive(Debug, Default)]
pub struct StartPace {
    rooms: HashMap<RoomId, TokenBucket>,
}

impl StartPace {
    /// Takes one start of `room` at `now`; when there is none, how long until there is.
    pub fn take(&mut self, room: &RoomId, now: Instant) -> Result<(), Duration> {
        // A full bucket says nothing a new one would not: the map holds only the rooms
        // that started a recording within the last minute.
        self.rooms.retain(|_, bucket| !bucket.is_full(now));
        let per_second = 1.0 / EVERY.as_secs_f64();
        self.rooms.entry(room.clone()).or_insert_with(|| TokenBucket::new(BURST, per_second)).take(now)
    }

    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_room_then_one_every_ten_seconds() {
        let t0 = Instant::now();
        let (a, b) = (RoomId::parse("a").unwrap(), RoomId::parse("b").unwrap());
        let mut pace = StartPace::default();
        for _ in 0..BURST {
            assert_eq!(pace.take(&a, t0), Ok(()));
        }
        assert_eq!(pace.take(&a, t0), Err(EVERY));
        // Another room is another bucket.
        assert_eq!(pace.take(&b, t0), Ok(()));
        assert_eq!(pace.take(&a, t0 + EVERY), Ok(()));
        assert!(pace.take(&a, t0 + EVERY + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn rooms_are_forgotten_once_their_bucket_is_full() {
        let t0 = Instant::now();
        let mut pace = StartPace::default();
        for i in 0..1000 {
            pace.take(&RoomId::parse(&format!("r{i}")).unwrap(), t0).unwrap();
        }
        assert_eq!(pace.rooms(), 1000);
        pace.take(&RoomId::parse("late").unwrap(), t0 + EVERY).unwrap();
        assert_eq!(pace.rooms(), 1, "the rooms that started once were kept");
    }
}

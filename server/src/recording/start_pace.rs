//! How often recordings may start. Each start launches a compositor process and leaves
//! a file and a sidecar on disk: a probe looping start, ten layout changes and stop
//! made nine recordings a second in one room, each with a fresh layout burst, and
//! another made twenty a second by using a new room for each. People start a recording
//! a few times a meeting (a false start, a break), so each room has a burst of
//! [`ROOM_BURST`], and each caller's address one of [`CALLER_BURST`] over all rooms,
//! then one start every [`EVERY`]. Sans-IO: it is told the time.
use crate::auth::PaceKey;
use crate::rate_limit::KeyedBuckets;
use crate::room::RoomId;
use std::time::{Duration, Instant};

/// Starts that pass at once in one room.
pub const ROOM_BURST: u32 = 6;
/// Starts that pass at once from one caller (its address and token: `auth::PaceKey`),
/// over every room.
pub const CALLER_BURST: u32 = 12;
/// Then one start per this long, in each.
pub const EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StartRefused {
    #[error("recordings of room {room} are being started too often: try again in {} s", retry_after.as_secs_f64().ceil())]
    Room { room: RoomId, retry_after: Duration },
    #[error("recordings are being started too often from your address: try again in {} s", retry_after.as_secs_f64().ceil())]
    Caller { retry_after: Duration },
}

pub struct StartPace {
    rooms: KeyedBuckets<RoomId>,
    callers: KeyedBuckets<PaceKey>,
}

impl Default for StartPace {
    fn default() -> Self {
        let per_second = 1.0 / EVERY.as_secs_f64();
        Self { rooms: KeyedBuckets::new(ROOM_BURST, per_second), callers: KeyedBuckets::new(CALLER_BURST, per_second) }
    }
}

impl StartPace {
    /// Takes one start of `room`, asked by `caller` (`None`: a caller inside the
    /// process), at `now`: from both buckets, or from neither when one has no token
    /// (a host clicking Record in a paced room must not use up their other rooms').
    pub fn take(&mut self, room: &RoomId, caller: Option<&PaceKey>, now: Instant) -> Result<(), StartRefused> {
        if let Some(caller) = caller {
            self.callers.check(caller, now).map_err(|retry_after| StartRefused::Caller { retry_after })?;
        }
        self.rooms.take(room, now).map_err(|retry_after| StartRefused::Room { room: room.clone(), retry_after })?;
        if let Some(caller) = caller {
            let _ = self.callers.take(caller, now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomId {
        RoomId::parse(name).unwrap()
    }

    #[test]
    fn a_burst_per_room_then_one_every_ten_seconds() {
        let t0 = Instant::now();
        let mut pace = StartPace::default();
        for _ in 0..ROOM_BURST {
            assert_eq!(pace.take(&room("a"), None, t0), Ok(()));
        }
        assert_eq!(pace.take(&room("a"), None, t0), Err(StartRefused::Room { room: room("a"), retry_after: EVERY }));
        // Another room is another bucket.
        assert_eq!(pace.take(&room("b"), None, t0), Ok(()));
        assert_eq!(pace.take(&room("a"), None, t0 + EVERY), Ok(()));
        assert!(pace.take(&room("a"), None, t0 + EVERY + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn a_caller_using_a_new_room_each_time_is_held_too() {
        let t0 = Instant::now();
        let mut pace = StartPace::default();
        let ip = "198.51.100.7".parse().unwrap();
        let (attacker, colleague): (PaceKey, PaceKey) = ((ip, Some("admin-1".into())), (ip, Some("host-2".into())));
        for i in 0..CALLER_BURST {
            assert_eq!(pace.take(&room(&format!("r{i}")), Some(&attacker), t0), Ok(()));
        }
        let refused = pace.take(&room("fresh"), Some(&attacker), t0).unwrap_err();
        assert_eq!(refused, StartRefused::Caller { retry_after: EVERY });
        assert!(refused.to_string().contains("from your address"), "{refused}");
        // Someone else with their own link behind the same address starts as usual.
        assert_eq!(pace.take(&room("fresh"), Some(&colleague), t0), Ok(()));
    }

    #[test]
    fn a_start_refused_by_its_room_costs_the_caller_nothing() {
        let t0 = Instant::now();
        let mut pace = StartPace::default();
        let host: PaceKey = ("198.51.100.9".parse().unwrap(), None);
        for _ in 0..ROOM_BURST {
            pace.take(&room("busy"), Some(&host), t0).unwrap();
        }
        for _ in 0..100 {
            assert!(matches!(pace.take(&room("busy"), Some(&host), t0), Err(StartRefused::Room { .. })));
        }
        for i in 0..CALLER_BURST - ROOM_BURST {
            assert_eq!(pace.take(&room(&format!("other{i}")), Some(&host), t0), Ok(()), "start {i} elsewhere");
        }
    }
}

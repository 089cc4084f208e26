//! How often recordings may start. Each start launches a compositor process and leaves
//! a file and a sidecar on disk: a probe looping start, ten layout changes and stop
//! made nine recordings a second in one room, each with a fresh layout burst, and
//! another made twenty a second by using a new room for each. People start a recording
//! a few times a meeting (a false start, a break), so each room has a burst of
//! [`ROOM_BURST`], and each caller's address one of [`CALLER_BURST`] over all rooms,
//! then one start every [`EVERY`]. Sans-IO: it is told the time.
use crate::rate_limit::KeyedBuckets;
use crate::room::RoomId;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Starts that pass at once in one room.
pub const ROOM_BURST: u32 = 6;
/// Starts that pass at once from one address (an IPv6 /64), over every room.
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
    callers: KeyedBuckets<IpAddr>,
}

impl Default for StartPace {
    fn default() -> Self {
        let per_second = 1.0 / EVERY.as_secs_f64();
        Self { rooms: KeyedBuckets::new(ROOM_BURST, per_second), callers: KeyedBuckets::new(CALLER_BURST, per_second) }
    }
}

impl StartPace {
    /// Takes one start of `room`, asked by `caller` (its address as counted,
    /// `net::counted_as`; `None` for the server's own callers), at `now`.
    pub fn take(&mut self, room: &RoomId, caller: Option<IpAddr>, now: Instant) -> Result<(), StartRefused> {
        if let Some(caller) = caller {
            self.callers.take(&caller, now).map_err(|retry_after| StartRefused::Caller { retry_after })?;
        }
        self.rooms.take(room, now).map_err(|retry_after| StartRefused::Room { room: room.clone(), retry_after })
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
        let (attacker, other): (IpAddr, IpAddr) = ("198.51.100.7".parse().unwrap(), "198.51.100.8".parse().unwrap());
        for i in 0..CALLER_BURST {
            assert_eq!(pace.take(&room(&format!("r{i}")), Some(attacker), t0), Ok(()));
        }
        let refused = pace.take(&room("fresh"), Some(attacker), t0).unwrap_err();
        assert_eq!(refused, StartRefused::Caller { retry_after: EVERY });
        assert!(refused.to_string().contains("from your address"), "{refused}");
        // Someone else starts as usual.
        assert_eq!(pace.take(&room("fresh"), Some(other), t0), Ok(()));
    }
}

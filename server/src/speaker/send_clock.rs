//! When a microphone's packets were sent, read from their RTP timestamps: a sans-IO
//! clock fed each packet's timestamp and arrival `Instant`.
//!
//! The speaker detector measures a turn by how long it was voiced. Measured by when
//! the packets arrive, a loaded machine lengthens short sounds: a sender's audio
//! thread starved for a moment, or a server task that drains a backlog late, delivers
//! the end of a 0.6 s "mm-hmm" 200 ms late, and it looks like a 0.8 s turn. The RTP
//! timestamps say how far apart the packets were sent, whatever happened on the way.
//!
//! The clock is anchored on the packet that came soonest after it was sent (the
//! least delayed one so far): each packet is placed at the anchor's arrival plus the
//! media time between them, and a packet that arrives before its place becomes the new
//! anchor. The anchor also follows a delay that grows slowly, by up to 1/[`SendClock::FOLLOW`]
//! of the time that passes: a sender's clock slower than ours (by tens of ppm, 0.1–0.4 s
//! an hour), or a path that queues more, would otherwise build up delay over the anchor
//! until the bound below, where a re-anchoring moves the places forward at once. A place
//! more than [`SendClock::MAX_DELAY`] before the packet's arrival is not believed (a
//! long stall, or timestamps that jump back): the packet becomes the anchor, so a
//! sender's timestamps can move its own turns by at most that much.
use std::time::{Duration, Instant};

/// One RTP stream's send clock.
#[derive(Debug, Clone)]
pub struct SendClock {
    rate: u32,
    /// The last timestamp, unwrapped (the RTP timestamp is 32 bits and wraps).
    last: Option<(u32, i64)>,
    /// The least delayed packet so far (moved later as the delay grows slowly): its
    /// arrival and unwrapped timestamp.
    anchor: Option<(Instant, i64)>,
    last_arrival: Option<Instant>,
}

impl SendClock {
    /// The furthest a packet is placed before its arrival.
    pub const MAX_DELAY: Duration = Duration::from_secs(1);
    /// How fast the anchor follows a growing delay: by at most 1/50 (20 ms a second) of
    /// the time since the previous packet arrived. A packet held up 0.5 s in a flowing
    /// stream is placed at most 10 ms late.
    pub const FOLLOW: u32 = 50;

    /// A clock for a stream whose timestamps count `rate` per second (48000 for Opus).
    pub fn new(rate: u32) -> Self {
        Self { rate: rate.max(1), last: None, anchor: None, last_arrival: None }
    }

    /// When the packet with `timestamp`, which arrived at `arrival`, was sent: at or
    /// before `arrival`, by at most [`Self::MAX_DELAY`].
    pub fn sent(&mut self, timestamp: u32, arrival: Instant) -> Instant {
        // Reordered packets step back: the difference is signed.
        let unwrapped = match self.last {
            Some((raw, last)) => last.saturating_add(i64::from(timestamp.wrapping_sub(raw) as i32)),
            None => 0,
        };
        self.last = Some((timestamp, unwrapped));
        let since_last = self.last_arrival.map_or(Duration::ZERO, |t| arrival.saturating_duration_since(t));
        self.last_arrival = Some(arrival);
        if let Some((at, from)) = self.anchor {
            let samples = i128::from(unwrapped) - i128::from(from);
            let nanos = samples * 1_000_000_000 / i128::from(self.rate);
            let placed = if nanos >= 0 {
                u64::try_from(nanos).ok().and_then(|n| at.checked_add(Duration::from_nanos(n)))
            } else {
                u64::try_from(-nanos).ok().and_then(|n| at.checked_sub(Duration::from_nanos(n)))
            };
            if let Some(placed) = placed.filter(|p| *p <= arrival && arrival.duration_since(*p) <= Self::MAX_DELAY) {
                let lift = arrival.duration_since(placed).min(since_last / Self::FOLLOW);
                let (Some(at), Some(placed)) = (at.checked_add(lift), placed.checked_add(lift)) else { return placed };
                self.anchor = Some((at, from));
                return placed;
            }
        }
        self.anchor = Some((arrival, unwrapped));
        arrival
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;
    /// 20 ms of Opus.
    const PACKET: u32 = 960;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// `placed` is `sent`, or later by at most `slack` (the anchor following the delay).
    #[track_caller]
    fn assert_near(placed: Instant, sent: Instant, slack: Duration) {
        assert!(placed >= sent && placed - sent <= slack, "placed {:?} after its send time", placed.saturating_duration_since(sent));
    }

    #[test]
    fn packets_held_up_and_delivered_at_once_are_placed_where_they_were_sent() {
        let t0 = Instant::now();
        let mut clock = SendClock::new(RATE);
        let start = u32::MAX - 15 * PACKET; // wraps among the packets held up
        // Ten packets on time, then ten held up 300 ms and delivered within 10 ms.
        for k in 0..10u32 {
            let at = t0 + ms(20 * u64::from(k));
            assert_eq!(clock.sent(start.wrapping_add(k * PACKET), at), at);
        }
        for k in 10..20u32 {
            let arrival = t0 + ms(200 + 300) + Duration::from_micros(500 * u64::from(k));
            let sent = clock.sent(start.wrapping_add(k * PACKET), arrival);
            // The 320 ms without packets lets the anchor follow by 6.4 ms at most.
            assert_near(sent, t0 + ms(20 * u64::from(k)), ms(7));
        }
    }

    #[test]
    fn late_first_packets_are_corrected_by_the_next_ones_on_time() {
        // The stream starts late: its first packets come in a burst 100 ms after the
        // first was sent, then each on time. The first on time arrives before the place
        // the burst gives it and becomes the anchor: from there, places are exact.
        let t0 = Instant::now();
        let mut clock = SendClock::new(RATE);
        for k in 0..20u32 {
            let sent = t0 + ms(20 * u64::from(k));
            let arrival = sent.max(t0 + ms(100) + Duration::from_micros(250 * u64::from(k)));
            let placed = clock.sent(k * PACKET, arrival);
            assert!(placed <= arrival);
            if k >= 6 {
                assert_eq!(placed, sent, "packet {k}");
            }
        }
    }

    #[test]
    fn reordered_packets_step_back_and_do_not_unwrap_a_whole_cycle() {
        let t0 = Instant::now();
        let mut clock = SendClock::new(RATE);
        assert_eq!(clock.sent(10 * PACKET, t0), t0);
        assert_near(clock.sent(12 * PACKET, t0 + ms(45)), t0 + ms(40), ms(1));
        assert_near(clock.sent(11 * PACKET, t0 + ms(46)), t0 + ms(20), ms(1));
    }

    #[test]
    fn a_sender_clock_slower_than_ours_is_followed_and_never_jumps() {
        // 100 ppm slow, for three hours: the delay over a fixed anchor would grow by
        // 0.36 s an hour and pass the 1 s bound, where places jump forward at once.
        let t0 = Instant::now();
        let mut clock = SendClock::new(RATE);
        let mut worst = Duration::ZERO;
        for k in 0..(3 * 3600 * 50u64) {
            let arrival = t0 + ms(20 * k);
            let timestamp = ((k as f64) * f64::from(PACKET) * (1.0 - 1e-4)) as u64 as u32;
            let placed = clock.sent(timestamp, arrival);
            assert!(placed <= arrival, "packet {k} placed after its arrival");
            worst = worst.max(arrival - placed);
        }
        assert!(worst <= ms(5), "the delay over the anchor grew to {worst:?}");
    }

    #[test]
    fn timestamps_that_jump_move_a_place_by_at_most_the_bound() {
        let t0 = Instant::now();
        let mut clock = SendClock::new(RATE);
        clock.sent(0, t0);
        // Back an hour: placed at arrival, not an hour before it.
        let back = 0u32.wrapping_sub(RATE * 3600);
        assert_eq!(clock.sent(back, t0 + ms(20)), t0 + ms(20));
        // Forward a day (it wraps, so it reads as any 32-bit step): never after arrival.
        let arrival = t0 + ms(40);
        let placed = clock.sent(back.wrapping_add(RATE * 86_400), arrival);
        assert!(placed <= arrival && arrival - placed <= SendClock::MAX_DELAY);
        // A stall longer than the bound re-anchors too.
        let mut clock = SendClock::new(RATE);
        clock.sent(0, t0);
        assert_eq!(clock.sent(PACKET, t0 + ms(1500)), t0 + ms(1500));
        assert_eq!(clock.sent(2 * PACKET, t0 + ms(1510)), t0 + ms(1510));
    }
}

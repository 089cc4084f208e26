//! A reorder buffer for one RTP stream, sans-IO: packets go in with their arrival time,
//! and come out in sequence order (the first only after `max_delay`, so that a packet
//! overtaken at the very start is not lost). A gap is waited for up to `max_delay` (a late packet
//! or a retransmission may still fill it), then reported as lost so that decoding can
//! conceal it or ask for a keyframe. Duplicates and packets older than what was
//! already released are dropped.
use crate::input::rtp::RtpPacket;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, PartialEq, Eq)]
pub enum Released {
    Packet(RtpPacket),
    /// This many packets before the next one never came.
    Lost(u64),
    /// The sequence jumped far (the sender restarted): decoders must resync.
    Discontinuity,
}

#[derive(Debug)]
pub struct JitterBuffer {
    max_delay: Duration,
    /// Extended (32+ bit, rollover-free) sequence number -> (arrival, packet).
    waiting: BTreeMap<u64, (Instant, RtpPacket)>,
    /// The extended sequence number expected next.
    next: Option<u64>,
    /// The highest extended sequence number seen, to extend the next ones.
    highest: Option<u64>,
    /// A restart was seen and not yet reported.
    discontinuity: bool,
    /// Arrival of the stream's first packet while nothing was released yet: the start
    /// is held for `max_delay` so a packet that overtook the first does not orphan it.
    first_arrival: Option<Instant>,
    released_any: bool,
}

/// A packet further than this from the stream (behind what was released, or ahead of
/// the highest seen) starts it over: a restarted sender, not very late or lost packets.
const RESTART_DISTANCE: u64 = 3000;

impl JitterBuffer {
    pub fn new(max_delay: Duration) -> Self {
        Self { max_delay, waiting: BTreeMap::new(), next: None, highest: None, discontinuity: false, first_arrival: None, released_any: false }
    }

    /// Extends a 16-bit sequence number to the one closest to the highest seen.
    fn extend(&self, seq: u16) -> u64 {
        let Some(highest) = self.highest else { return u64::from(seq) + (1 << 16) };
        let base = highest & !0xffff;
        let candidates = [base.wrapping_sub(1 << 16), base, base + (1 << 16)];
        candidates
            .iter()
            .map(|b| b.wrapping_add(u64::from(seq)))
            .min_by_key(|c| c.abs_diff(highest))
            .expect("three candidates")
    }

    pub fn push(&mut self, now: Instant, packet: RtpPacket) {
        let ext = self.extend(packet.sequence);
        self.first_arrival.get_or_insert(now);
        if !self.released_any && self.next.is_some_and(|next| ext < next && next - ext < RESTART_DISTANCE) {
            // Before anything left, an earlier packet moves the start back.
            self.next = Some(ext);
        }
        let behind = self.next.is_some_and(|next| ext < next);
        let jumped = self.next.is_some_and(|next| next.abs_diff(ext) >= RESTART_DISTANCE)
            && self.highest.is_some_and(|h| h.abs_diff(ext) >= RESTART_DISTANCE);
        if jumped {
            self.waiting.clear();
            self.next = Some(ext);
            self.highest = Some(ext);
            self.discontinuity = true;
        } else if behind {
            return; // a duplicate, or too late: already released or declared lost
        }
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        self.next.get_or_insert(ext);
        self.waiting.entry(ext).or_insert((now, packet));
    }

    /// The next packet in order, a loss once a gap has waited `max_delay`, or None.
    pub fn pop(&mut self, now: Instant) -> Option<Released> {
        if std::mem::take(&mut self.discontinuity) {
            return Some(Released::Discontinuity);
        }
        let next = self.next?;
        if !self.released_any && self.first_arrival.is_some_and(|t| now.saturating_duration_since(t) < self.max_delay) {
            return None; // holding the start for packets that may still overtake
        }
        let (&first, (arrived, _)) = self.waiting.iter().next()?;
        if first == next {
            let (_, (_, packet)) = self.waiting.pop_first().expect("just seen");
            self.next = Some(next + 1);
            self.released_any = true;
            return Some(Released::Packet(packet));
        }
        // A gap before `first`: wait for it, unless the oldest packet waited enough.
        if now.saturating_duration_since(*arrived) >= self.max_delay {
            self.next = Some(first);
            self.released_any = true;
            return Some(Released::Lost(first - next));
        }
        None
    }

    /// When to call `pop` again if it returned None with packets waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.released_any {
            return self.first_arrival.map(|t| t + self.max_delay);
        }
        self.waiting.values().next().map(|(arrived, _)| *arrived + self.max_delay)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u16) -> RtpPacket {
        RtpPacket { payload_type: 96, marker: false, sequence: seq, timestamp: u32::from(seq) * 3000, ssrc: 1, payload: vec![seq as u8] }
    }

    fn drain(jb: &mut JitterBuffer, now: Instant) -> Vec<String> {
        std::iter::from_fn(|| jb.pop(now))
            .map(|r| match r {
                Released::Packet(p) => p.sequence.to_string(),
                Released::Lost(n) => format!("lost{n}"),
                Released::Discontinuity => "restart".to_string(),
            })
            .collect()
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn releases_in_order_across_reordering() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        for seq in [10, 12, 11, 13] {
            jb.push(t0, pkt(seq));
        }
        assert_eq!(drain(&mut jb, t0 + 100 * MS), ["10", "11", "12", "13"]);
    }

    #[test]
    fn a_packet_that_overtook_the_first_does_not_orphan_it() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        jb.push(t0, pkt(21));
        assert_eq!(drain(&mut jb, t0 + 10 * MS), Vec::<String>::new(), "the start is held");
        assert_eq!(jb.next_deadline(), Some(t0 + 100 * MS));
        jb.push(t0 + 20 * MS, pkt(20));
        assert_eq!(drain(&mut jb, t0 + 100 * MS), ["20", "21"]);
    }

    #[test]
    fn waits_for_a_gap_then_reports_the_loss() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        jb.push(t0, pkt(1));
        jb.push(t0 + 30 * MS, pkt(4));
        assert_eq!(drain(&mut jb, t0 + 100 * MS), ["1"], "2 and 3 may still come");
        assert_eq!(jb.next_deadline(), Some(t0 + 130 * MS));
        assert_eq!(drain(&mut jb, t0 + 130 * MS), ["lost2", "4"]);
        // 2 arrives after all: too late, dropped.
        jb.push(t0 + 140 * MS, pkt(2));
        assert!(jb.is_empty());
    }

    #[test]
    fn a_late_packet_inside_the_delay_fills_the_gap() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        jb.push(t0, pkt(1));
        assert_eq!(drain(&mut jb, t0 + 100 * MS), ["1"]);
        jb.push(t0 + 100 * MS, pkt(3));
        assert_eq!(drain(&mut jb, t0 + 100 * MS), Vec::<String>::new());
        jb.push(t0 + 160 * MS, pkt(2));
        assert_eq!(drain(&mut jb, t0 + 160 * MS), ["2", "3"]);
    }

    #[test]
    fn sequence_numbers_roll_over() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        for seq in [65534, 0, 65535, 1] {
            jb.push(t0, pkt(seq));
        }
        assert_eq!(drain(&mut jb, t0 + 100 * MS), ["65534", "65535", "0", "1"]);
    }

    #[test]
    fn duplicates_are_dropped() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        jb.push(t0, pkt(5));
        jb.push(t0, pkt(5));
        assert_eq!(drain(&mut jb, t0 + 100 * MS), ["5"]);
        jb.push(t0 + 100 * MS, pkt(5));
        assert!(jb.is_empty());
    }

    #[test]
    fn a_restarted_sender_starts_over() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        jb.push(t0, pkt(40_000));
        assert_eq!(drain(&mut jb, t0 + 100 * MS), ["40000"]);
        jb.push(t0 + 100 * MS, pkt(7));
        jb.push(t0 + 100 * MS, pkt(8));
        // 7 is far from 40001 in both directions: a new stream, not 33k lost packets.
        assert_eq!(drain(&mut jb, t0 + 100 * MS), ["restart", "7", "8"]);
    }
}

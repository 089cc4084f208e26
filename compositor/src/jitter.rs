//! A reorder buffer for one RTP stream, sans-IO: packets go in with their arrival time,
//! and come out in sequence order. A gap is waited for up to `max_delay` (a late packet
//! or a retransmission may still fill it), then reported as lost so that decoding can
//! conceal it or ask for a keyframe. Duplicates and packets older than what was
//! already released are dropped.
use crate::rtp::RtpPacket;
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
}

/// A packet further than this from the stream (behind what was released, or ahead of
/// the highest seen) starts it over: a restarted sender, not very late or lost packets.
const RESTART_DISTANCE: u64 = 3000;

impl JitterBuffer {
    pub fn new(max_delay: Duration) -> Self {
        Self { max_delay, waiting: BTreeMap::new(), next: None, highest: None, discontinuity: false }
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
        let (&first, (arrived, _)) = self.waiting.iter().next()?;
        if first == next {
            let (_, (_, packet)) = self.waiting.pop_first().expect("just seen");
            self.next = Some(next + 1);
            return Some(Released::Packet(packet));
        }
        // A gap before `first`: wait for it, unless the oldest packet waited enough.
        if now.saturating_duration_since(*arrived) >= self.max_delay {
            self.next = Some(first);
            return Some(Released::Lost(first - next));
        }
        None
    }

    /// When to call `pop` again if it returned None with packets waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.waiting.values().next().map(|(arrived, _)| *arrived + self.max_delay)
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

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
        assert_eq!(drain(&mut jb, t0), ["10", "11", "12", "13"]);
    }

    #[test]
    fn waits_for_a_gap_then_reports_the_loss() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        jb.push(t0, pkt(1));
        jb.push(t0 + 5 * MS, pkt(4));
        assert_eq!(drain(&mut jb, t0 + 50 * MS), ["1"], "2 and 3 may still come");
        assert_eq!(jb.next_deadline(), Some(t0 + 105 * MS));
        assert_eq!(drain(&mut jb, t0 + 105 * MS), ["lost2", "4"]);
        // 2 arrives after all: too late, dropped.
        jb.push(t0 + 110 * MS, pkt(2));
        assert!(jb.is_empty());
    }

    #[test]
    fn a_late_packet_inside_the_delay_fills_the_gap() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        jb.push(t0, pkt(1));
        jb.push(t0, pkt(3));
        assert_eq!(drain(&mut jb, t0), ["1"]);
        jb.push(t0 + 60 * MS, pkt(2));
        assert_eq!(drain(&mut jb, t0 + 60 * MS), ["2", "3"]);
    }

    #[test]
    fn sequence_numbers_roll_over() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        for seq in [65534, 0, 65535, 1] {
            jb.push(t0, pkt(seq));
        }
        assert_eq!(drain(&mut jb, t0), ["65534", "65535", "0", "1"]);
    }

    #[test]
    fn duplicates_are_dropped() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        jb.push(t0, pkt(5));
        jb.push(t0, pkt(5));
        assert_eq!(drain(&mut jb, t0), ["5"]);
        jb.push(t0, pkt(5));
        assert!(jb.is_empty());
    }

    #[test]
    fn a_restarted_sender_starts_over() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(100 * MS);
        jb.push(t0, pkt(40_000));
        assert_eq!(drain(&mut jb, t0), ["40000"]);
        jb.push(t0, pkt(7));
        jb.push(t0, pkt(8));
        // 7 is far from 40001 in both directions: a new stream, not 33k lost packets.
        assert_eq!(drain(&mut jb, t0), ["restart", "7", "8"]);
    }
}

//! Puts every stream on one timeline, sans-IO. Each sender stamps its RTP packets with
//! its own clock (48 kHz for Opus, 90 kHz for video, random start), and its RTCP sender
//! reports pair an RTP timestamp with the sender's wall clock (NTP). Mapping RTP time
//! through the latest report gives every participant's audio and video a common time,
//! which is what keeps lips and voices together (arrival order does not: audio and
//! video take different paths and buffers).
//!
//! Until a stream's first sender report, its first packet's arrival anchors it.

use std::collections::HashMap;

/// A sender report's clock pair (RFC 3550 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    /// NTP timestamp: seconds since 1900 in the high 32 bits, fraction in the low.
    pub ntp: u64,
    pub rtp_timestamp: u32,
}

/// The sender reports in a (compound) RTCP packet; other report types are skipped and
/// anything malformed ends the walk without a panic.
pub fn sender_reports(packet: &[u8]) -> Vec<SenderReport> {
    let mut reports = Vec::new();
    let mut rest = packet;
    while rest.len() >= 4 {
        if rest[0] >> 6 != 2 {
            break;
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        let Some(block) = rest.get(..len) else { break };
        if block[1] == 200 && block.len() >= 20 {
            reports.push(SenderReport {
                ssrc: u32::from_be_bytes(block[4..8].try_into().expect("4 bytes")),
                ntp: u64::from_be_bytes(block[8..16].try_into().expect("8 bytes")),
                rtp_timestamp: u32::from_be_bytes(block[16..20].try_into().expect("4 bytes")),
            });
        }
        rest = &rest[len..];
    }
    reports
}

/// NTP time in milliseconds (since 1900).
fn ntp_ms(ntp: u64) -> f64 {
    (ntp >> 32) as f64 * 1000.0 + (ntp & 0xffff_ffff) as f64 * 1000.0 / 4_294_967_296.0
}

#[derive(Debug)]
struct Stream {
    clock_rate: u32,
    /// Extended (unwrapped) timestamp of the last packet.
    last: Option<i64>,
    /// (extended RTP timestamp, NTP ms) from the latest sender report.
    report: Option<(i64, f64)>,
    /// (extended RTP timestamp, arrival ms) of the first packet: the fallback anchor.
    first: Option<(i64, f64)>,
}

impl Stream {
    /// Unwraps a 32-bit timestamp to the one nearest the last seen.
    fn extend(&self, ts: u32) -> i64 {
        let Some(last) = self.last else { return i64::from(ts) };
        let delta = ts.wrapping_sub(last as u32) as i32; // signed distance, mod 2^32
        last + i64::from(delta)
    }
}

/// Maps (SSRC, RTP timestamp) to milliseconds on a common clock. The recording's own
/// time is that minus the wall-clock time it started at.
#[derive(Debug, Default)]
pub struct MediaClock {
    streams: HashMap<u32, Stream>,
    /// Offset from arrival time to NTP time, learnt from the first report: it lets a
    /// stream anchored by arrival share the timeline with those that have reports.
    arrival_to_ntp: Option<f64>,
}

impl MediaClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_stream(&mut self, ssrc: u32, clock_rate: u32) {
        self.streams.entry(ssrc).or_insert(Stream { clock_rate, last: None, report: None, first: None });
    }

    /// A sender report arrived at `arrival_ms` (the receiver's clock).
    pub fn on_sender_report(&mut self, report: &SenderReport, arrival_ms: f64) {
        let Some(stream) = self.streams.get_mut(&report.ssrc) else { return };
        let ext = stream.extend(report.rtp_timestamp);
        let ntp = ntp_ms(report.ntp);
        stream.report = Some((ext, ntp));
        self.arrival_to_ntp.get_or_insert(ntp - arrival_ms);
    }

    /// A packet's time on the common clock (ms), or None for an unknown SSRC.
    pub fn packet_time(&mut self, ssrc: u32, rtp_timestamp: u32, arrival_ms: f64) -> Option<f64> {
        let offset = self.arrival_to_ntp;
        let stream = self.streams.get_mut(&ssrc)?;
        let ext = stream.extend(rtp_timestamp);
        stream.last = Some(stream.last.map_or(ext, |l| l.max(ext)));
        let rate = f64::from(stream.clock_rate) / 1000.0;
        if let Some((ref_ts, ref_ntp)) = stream.report {
            return Some(ref_ntp + (ext - ref_ts) as f64 / rate);
        }
        let (first_ts, first_arrival) = *stream.first.get_or_insert((ext, arrival_ms));
        Some(first_arrival + offset.unwrap_or(0.0) + (ext - first_ts) as f64 / rate)
    }

    /// `packet_time` on the receiver's own clock (the one arrivals are given in), where
    /// the recording's timeline lives. A stream anchored by arrival keeps its times
    /// when the first report arrives.
    pub fn local_time(&mut self, ssrc: u32, rtp_timestamp: u32, arrival_ms: f64) -> Option<f64> {
        let t = self.packet_time(ssrc, rtp_timestamp, arrival_ms)?;
        Some(t - self.arrival_to_ntp.unwrap_or(0.0))
    }

    pub fn remove_stream(&mut self, ssrc: u32) {
        self.streams.remove(&ssrc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ntp_of(ms: f64) -> u64 {
        let secs = (ms / 1000.0).floor();
        let frac = ((ms / 1000.0 - secs) * 4_294_967_296.0) as u64;
        ((secs as u64) << 32) | frac
    }

    fn sr_bytes(ssrc: u32, ntp: u64, rtp: u32) -> Vec<u8> {
        let mut b = vec![0x80, 200, 0, 6];
        b.extend_from_slice(&ssrc.to_be_bytes());
        b.extend_from_slice(&ntp.to_be_bytes());
        b.extend_from_slice(&rtp.to_be_bytes());
        b.extend_from_slice(&[0; 8]); // packet and octet counts
        b
    }

    #[test]
    fn parses_sender_reports_in_compound_packets() {
        let mut compound = sr_bytes(7, 0x1234_5678_9abc_def0, 99);
        compound.extend_from_slice(&[0x81, 202, 0, 1, 0, 0, 0, 7]); // an SDES to skip
        compound.extend_from_slice(&sr_bytes(8, 1, 2));
        let reports = sender_reports(&compound);
        assert_eq!(reports, vec![
            SenderReport { ssrc: 7, ntp: 0x1234_5678_9abc_def0, rtp_timestamp: 99 },
            SenderReport { ssrc: 8, ntp: 1, rtp_timestamp: 2 },
        ]);
        // Truncated or garbage input: no panic, nothing invented.
        for n in 0..compound.len() {
            let _ = sender_reports(&compound[..n]);
        }
        assert!(sender_reports(&[0xff; 40]).is_empty());
    }

    #[test]
    fn audio_and_video_captured_together_map_to_the_same_time() {
        // A sender captures a flash and a beep at wall time T = 1000 s. Its audio clock
        // (48 kHz) and video clock (90 kHz) start at unrelated random values, and video
        // arrives 180 ms later than audio (a longer buffer): the clock must not care.
        let mut clock = MediaClock::new();
        clock.add_stream(1, 48_000);
        clock.add_stream(2, 90_000);
        let t = 1_000_000.0; // ms
        clock.on_sender_report(&SenderReport { ssrc: 1, ntp: ntp_of(t - 500.0), rtp_timestamp: 1_000_000 }, 5_000.0);
        clock.on_sender_report(&SenderReport { ssrc: 2, ntp: ntp_of(t - 2000.0), rtp_timestamp: 4_000_000_000 }, 5_000.0);
        let audio = clock.packet_time(1, 1_000_000 + 24_000, 5_600.0).unwrap(); // 500 ms later
        let video = clock.packet_time(2, 4_000_000_000u32.wrapping_add(180_000), 5_780.0).unwrap(); // 2 s later
        assert!((audio - t).abs() < 0.01, "{audio}");
        assert!((video - t).abs() < 0.01, "{video}");
    }

    #[test]
    fn timestamps_wrap_around() {
        let mut clock = MediaClock::new();
        clock.add_stream(2, 90_000);
        clock.on_sender_report(&SenderReport { ssrc: 2, ntp: ntp_of(10_000.0), rtp_timestamp: u32::MAX - 8_999 }, 0.0);
        let before = clock.packet_time(2, u32::MAX - 8_999, 0.0).unwrap();
        let after = clock.packet_time(2, 81_000, 0.0).unwrap(); // 90 000 ticks later, past the wrap
        assert!((after - before - 1000.0).abs() < 0.01, "{before} {after}");
    }

    #[test]
    fn before_any_report_arrival_anchors_each_stream() {
        let mut clock = MediaClock::new();
        clock.add_stream(1, 48_000);
        assert_eq!(clock.packet_time(1, 500, 100.0), Some(100.0));
        assert_eq!(clock.packet_time(1, 500 + 4_800, 250.0), Some(200.0), "RTP time, not arrival");
        assert_eq!(clock.packet_time(9, 0, 0.0), None, "unknown SSRC");
    }

    #[test]
    fn local_time_is_on_the_receivers_clock_before_and_after_the_first_report() {
        // The sender's wall clock is 1e6 s ahead of ours; packets arrive 20 ms after
        // capture. Before a report, arrival anchors; after it, the report maps.
        let mut clock = MediaClock::new();
        clock.add_stream(1, 48_000);
        clock.add_stream(2, 90_000);
        assert_eq!(clock.local_time(1, 0, 1020.0), Some(1020.0));
        // At our 2000 ms the sender says its RTP 48 000 (captured at our 1000+1000 ms) is now.
        clock.on_sender_report(&SenderReport { ssrc: 2, ntp: ntp_of(1e9 + 2000.0), rtp_timestamp: 90_000 }, 2000.0);
        let audio = clock.local_time(1, 48_000, 2020.0).unwrap();
        assert!((audio - 2020.0).abs() < 0.01, "still anchored by arrival: {audio}");
        let video = clock.local_time(2, 90_000 + 9_000, 2150.0).unwrap();
        assert!((video - 2100.0).abs() < 0.01, "mapped by the report: {video}");
    }
}

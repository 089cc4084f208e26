//! One report's worth of a microphone's packets: their mean level, and when the last
//! one at the speech level was sent. The speaker task keeps one per microphone and
//! hands the detector [`PacketLevels::heard`] every 50 ms.
//!
//! The send time is the last *loud* packet's, not the window's last packet's: browsers
//! go on sending quiet packets after speech (no DTX), and a held-up burst that carries
//! the end of a "mm-hmm" and the quiet after it would otherwise stretch the sound to
//! the end of the quiet.
use super::Heard;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default)]
pub struct PacketLevels {
    sum_dbov: f32,
    packets: u32,
    last_loud_sent: Option<Instant>,
}

impl PacketLevels {
    /// One packet of the report: its level (dBov), when it was sent, and the level
    /// that counts as speech.
    pub fn add(&mut self, dbov: f32, sent: Instant, speech_dbov: f32) {
        self.sum_dbov += dbov;
        self.packets += 1;
        if dbov >= speech_dbov {
            // Reordered packets come late: the latest send time is kept.
            self.last_loud_sent = Some(self.last_loud_sent.map_or(sent, |t| t.max(sent)));
        }
    }

    /// What the report hears: the mean level, and when its last loud packet was sent.
    pub fn heard(&self) -> Heard {
        Heard { dbov: self.sum_dbov / self.packets.max(1) as f32, sent: self.last_loud_sent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speaker::{SpeakerDetector, SpeakerEvent, Tuning};
    use std::time::Duration;

    const SPEECH: f32 = -55.0;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn a_reports_send_time_is_its_last_loud_packets() {
        let t0 = Instant::now();
        let mut levels = PacketLevels::default();
        levels.add(-20.0, t0, SPEECH);
        levels.add(-25.0, t0 + ms(40), SPEECH);
        levels.add(-20.0, t0 + ms(20), SPEECH); // reordered
        levels.add(-70.0, t0 + ms(60), SPEECH); // the quiet after
        let heard = levels.heard();
        assert_eq!(heard.sent, Some(t0 + ms(40)));
        assert!((heard.dbov - (-33.75)).abs() < 1e-3, "{}", heard.dbov);
        let mut quiet = PacketLevels::default();
        quiet.add(-90.0, t0, SPEECH);
        assert_eq!(quiet.heard().sent, None);
    }

    #[test]
    fn a_backchannel_held_up_with_the_quiet_after_it_is_still_short() {
        // Bob's 0.65 s "mm-hmm" from 6 s, one packet every 20 ms, then quiet packets
        // (-70 dBov) as browsers send them. From 6.35 s on, his packets are held up and
        // delivered at once at 6.8 s: the end of the sound and 300 ms of quiet after it,
        // one report loud on average. Alice spoke until 3 s and holds the stage.
        let t0 = Instant::now();
        let mut det = SpeakerDetector::new(Tuning::default());
        let packets: Vec<(u64, f32, u64)> = (0..50u64)
            .map(|k| 6000 + 20 * k)
            .map(|sent| (sent, if sent < 6650 { -20.0 } else { -70.0 }, if (6350..6950).contains(&sent) { 6800 } else { sent }))
            .collect();
        let mut stage = Vec::new();
        for tick in (50..10_000u64).step_by(50) {
            let mut heard = Vec::new();
            if tick <= 3000 {
                heard.push(("alice", Heard { dbov: -20.0, sent: Some(t0 + ms(tick)) }));
            }
            let arrived: Vec<_> = packets.iter().filter(|(_, _, at)| *at > tick - 50 && *at <= tick).collect();
            if !arrived.is_empty() {
                let mut levels = PacketLevels::default();
                for (sent, dbov, _) in arrived {
                    levels.add(*dbov, t0 + ms(*sent), SPEECH);
                }
                if tick == 6800 {
                    assert!(levels.heard().dbov >= SPEECH, "the burst must be loud on average for this test to mean anything");
                }
                heard.push(("bob", levels.heard()));
            }
            det.observe(t0 + ms(tick), &heard);
            stage.extend(det.drain_events().into_iter().filter_map(|e| match e {
                SpeakerEvent::ActiveSpeaker { speaker, .. } => Some(speaker),
                _ => None,
            }));
        }
        assert_eq!(stage, vec![Some("alice")]);
    }
}

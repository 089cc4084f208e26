//! RTP packets (RFC 3550) as the compositor receives them: parsing with every length
//! checked, since the bytes come from the network. RTCP shares the port (rtcp-mux) and
//! is told apart by its packet type (RFC 5761).
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    TooShort,
    NotVersion2,
    BadPadding,
    BadExtension,
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RtpError::TooShort => "packet shorter than its RTP header",
            RtpError::NotVersion2 => "not RTP version 2",
            RtpError::BadPadding => "padding longer than the payload",
            RtpError::BadExtension => "header extension runs past the packet",
        })
    }
}

impl std::error::Error for RtpError {}

/// True for RTCP multiplexed on the RTP port: packet types 192–223 sit where RTP's
/// marker bit and payload type would be (RFC 5761 section 4).
pub fn is_rtcp(packet: &[u8]) -> bool {
    packet.len() >= 2 && (192..=223).contains(&packet[1])
}

/// The value of header extension `id` in an RTP packet (RFC 8285, one-byte and
/// two-byte forms), or None.
pub(crate) fn header_extension(buf: &[u8], id: u8) -> Option<&[u8]> {
    if buf.len() < 12 || buf[0] >> 6 != 2 || buf[0] & 0x10 == 0 {
        return None;
    }
    let start = 12 + 4 * usize::from(buf[0] & 0x0f);
    let profile = u16::from_be_bytes([*buf.get(start)?, *buf.get(start + 1)?]);
    let words = usize::from(u16::from_be_bytes([*buf.get(start + 2)?, *buf.get(start + 3)?]));
    let ext = buf.get(start + 4..start + 4 + 4 * words)?;
    let two_byte = profile & 0xfff0 == 0x1000;
    if profile != 0xbede && !two_byte {
        return None;
    }
    let mut i = 0;
    while i < ext.len() {
        if ext[i] == 0 {
            i += 1; // padding
            continue;
        }
        let (elem_id, len, header) = if two_byte {
            (ext[i], usize::from(*ext.get(i + 1)?), 2)
        } else {
            (ext[i] >> 4, usize::from(ext[i] & 0x0f) + 1, 1)
        };
        if !two_byte && elem_id == 15 {
            return None; // reserved: stop parsing (RFC 8285 4.2)
        }
        let value = ext.get(i + header..i + header + len)?;
        if elem_id == id {
            return Some(value);
        }
        i += header + len;
    }
    None
}

/// The audio level of a packet (RFC 6464) in dBov (0 loudest, -127 silent), from the
/// ssrc-audio-level header extension with this id.
pub fn audio_level_dbov(buf: &[u8], id: u8) -> Option<f32> {
    header_extension(buf, id).and_then(|v| v.first()).map(|b| -f32::from(b & 0x7f))
}

/// The RTP timestamp of a packet (RFC 3550 5.1), if it is long enough to have one.
pub fn timestamp(buf: &[u8]) -> Option<u32> {
    buf.get(4..8).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// An RTCP picture loss indication (RFC 4585 6.3.1): asks the sender of `media_ssrc`
/// for a keyframe. mediasoup passes it on to the producer.
pub(crate) fn pli(media_ssrc: u32) -> Vec<u8> {
    /// Our own SSRC as an RTCP sender ("PODM"); mediasoup does not check it.
    const SENDER_SSRC: u32 = 0x504f_444d;
    let mut b = vec![0x81, 206, 0, 2];
    b.extend_from_slice(&SENDER_SSRC.to_be_bytes());
    b.extend_from_slice(&media_ssrc.to_be_bytes());
    b
}

/// The SSRCs the PLIs of a (compound) RTCP packet ask keyframes of.
pub fn pli_targets(packet: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rest = packet;
    while rest.len() >= 4 {
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if rest[1] == 206 && rest[0] & 0x1f == 1 && len >= 12 && rest.len() >= 12 {
            out.push(u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]));
        }
        let Some(next) = rest.get(len..) else { break };
        rest = next;
    }
    out
}

impl RtpPacket {
    pub fn parse(buf: &[u8]) -> Result<RtpPacket, RtpError> {
        if buf.len() < 12 {
            return Err(RtpError::TooShort);
        }
        if buf[0] >> 6 != 2 {
            return Err(RtpError::NotVersion2);
        }
        let has_padding = buf[0] & 0x20 != 0;
        let has_extension = buf[0] & 0x10 != 0;
        let csrc_count = usize::from(buf[0] & 0x0f);
        let mut offset = 12 + 4 * csrc_count;
        if buf.len() < offset {
            return Err(RtpError::TooShort);
        }
        if has_extension {
            if buf.len() < offset + 4 {
                return Err(RtpError::BadExtension);
            }
            let words = usize::from(u16::from_be_bytes([buf[offset + 2], buf[offset + 3]]));
            offset += 4 + 4 * words;
            if buf.len() < offset {
                return Err(RtpError::BadExtension);
            }
        }
        let mut end = buf.len();
        if has_padding {
            let pad = usize::from(buf[end - 1]);
            if pad == 0 || end - offset < pad {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            payload_type: buf[1] & 0x7f,
            marker: buf[1] & 0x80 != 0,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: buf[offset..end].to_vec(),
        })
    }

    /// The packet on the wire (no CSRCs, extensions or padding); for tests and tools.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.payload.len());
        out.push(0x80);
        out.push(self.payload_type & 0x7f | if self.marker { 0x80 } else { 0 });
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet() -> RtpPacket {
        RtpPacket { payload_type: 96, marker: true, sequence: 65535, timestamp: 0xdead_beef, ssrc: 0x1234_5678, payload: vec![1, 2, 3] }
    }

    #[test]
    fn round_trips() {
        let p = packet();
        assert_eq!(RtpPacket::parse(&p.to_bytes()).unwrap(), p);
    }

    #[test]
    fn skips_csrcs_extensions_and_padding() {
        let mut b = vec![0x80 | 0x20 | 0x10 | 0x01, 96, 0, 1, 0, 0, 0, 9, 0, 0, 0, 7];
        b.extend_from_slice(&[0xaa; 4]); // one CSRC
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]); // one-word extension
        b.extend_from_slice(&[5, 6, 7]); // payload
        b.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.payload, vec![5, 6, 7]);
        assert_eq!((p.sequence, p.timestamp, p.ssrc, p.marker), (1, 9, 7, false));
    }

    #[test]
    fn rejects_malformed_packets_without_panicking() {
        assert_eq!(RtpPacket::parse(&[0x80; 11]), Err(RtpError::TooShort));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::NotVersion2));
        let mut b = packet().to_bytes();
        b[0] |= 0x0f; // 15 CSRCs that are not there
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::TooShort));
        let mut b = packet().to_bytes();
        b[0] |= 0x10; // an extension that is not there
        assert!(RtpPacket::parse(&b).is_err());
        let mut b = packet().to_bytes();
        b[0] |= 0x20;
        *b.last_mut().unwrap() = 200; // padding longer than the payload
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadPadding));
        // Every truncation of a valid packet is an error or a shorter payload, never a panic.
        let full = packet().to_bytes();
        for n in 0..full.len() {
            let _ = RtpPacket::parse(&full[..n]);
        }
    }

    #[test]
    fn reads_audio_levels_from_header_extensions() {
        // One-byte form: padding, id 3 (len 2), id 1 (len 1) = level 42 with the V bit.
        let mut b = vec![0x90, 111, 0, 1, 0, 0, 0, 9, 0, 0, 0, 7, 0xbe, 0xde, 0, 2];
        b.extend_from_slice(&[0x00, 0x31, 0xaa, 0xbb, 0x10, 0x80 | 42, 0, 0]);
        b.extend_from_slice(&[1, 2, 3]);
        assert_eq!(audio_level_dbov(&b, 1), Some(-42.0));
        assert_eq!(timestamp(&b), Some(9));
        assert_eq!(timestamp(&b[..7]), None);
        assert_eq!(header_extension(&b, 3), Some(&[0xaa, 0xbb][..]));
        assert_eq!(audio_level_dbov(&b, 5), None);
        // Two-byte form.
        let mut b = vec![0x90, 111, 0, 1, 0, 0, 0, 9, 0, 0, 0, 7, 0x10, 0x00, 0, 1];
        b.extend_from_slice(&[1, 1, 127, 0]);
        assert_eq!(audio_level_dbov(&b, 1), Some(-127.0));
        // No extension, or a truncated one.
        assert_eq!(audio_level_dbov(&packet().to_bytes(), 1), None);
        let mut cut = vec![0x90, 111, 0, 1, 0, 0, 0, 9, 0, 0, 0, 7, 0xbe, 0xde, 0, 9, 0x10];
        assert_eq!(audio_level_dbov(&cut, 1), None);
        cut.truncate(13);
        assert_eq!(audio_level_dbov(&cut, 1), None);
    }

    #[test]
    fn plis_round_trip_and_garbage_reads_as_none() {
        let mut compound = pli(42);
        compound.extend_from_slice(&pli(7));
        assert!(is_rtcp(&compound));
        assert_eq!(pli_targets(&compound), vec![42, 7]);
        assert!(pli_targets(&[0x81, 206, 0xff, 0xff]).is_empty());
        assert!(pli_targets(&[0x81, 206, 0, 0, 1, 2]).is_empty());
    }

    #[test]
    fn tells_rtcp_from_rtp() {
        assert!(is_rtcp(&[0x80, 200, 0, 6])); // sender report
        assert!(is_rtcp(&[0x81, 206, 0, 2])); // PLI
        assert!(!is_rtcp(&packet().to_bytes()));
    }
}

//! Synthetic participants for tests and benchmarks: real VP8 (libvpx) and Opus
//! (libopus) encoded by FFmpeg's libraries, packetized as browsers send them (RFC 7741,
//! one Opus frame per 20 ms packet, RFC 6464 audio levels), with RTCP sender reports.
//! Known colours and tones go in, so a test can tell from the recording's pixels and
//! samples who is on screen and who is heard.
use crate::input::rtp::RtpPacket;
use ffmpeg_next as ffmpeg;
use ffmpeg::{codec, encoder, format, frame, Packet, Rational};

/// RTP payload bytes per packet (browsers keep packets near 1200 bytes).
const MAX_PAYLOAD: usize = 1100;
pub const OPUS_FRAME: usize = 960;

pub use crate::picture::compose::rgb_to_yuv;

/// What a synthetic camera shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// One flat colour.
    Solid([u8; 3]),
    /// The colour with a moving bright bar and fine texture: content that costs
    /// encoders and decoders about what a camera does.
    Moving([u8; 3]),
    /// A shared screen: dark lines of "text" on the colour, still, but for a small
    /// block that changes in every frame (a cursor, a ticking clock), as slides and
    /// code are while someone talks over them.
    Screen([u8; 3]),
}

/// A VP8 camera: frames in, RTP packets out.
pub struct VideoSource {
    pub ssrc: u32,
    pub payload_type: u8,
    width: u32,
    height: u32,
    encoder: encoder::Video,
    sequence: u16,
    timestamp_base: u32,
    frames: u64,
    keyframe_requested: bool,
    picture_id: u16,
}

impl VideoSource {
    pub fn new(ssrc: u32, payload_type: u8, width: u32, height: u32, fps: u32) -> Result<Self, ffmpeg::Error> {
        Self::with_bitrate(ssrc, payload_type, width, height, fps, 600_000)
    }

    /// The same at another bitrate (bit/s): a screen share is sent at a few Mbit/s,
    /// so that its text converges to sharp and stays still between changes.
    pub fn with_bitrate(ssrc: u32, payload_type: u8, width: u32, height: u32, fps: u32, bitrate: usize) -> Result<Self, ffmpeg::Error> {
        crate::init_ffmpeg()?;
        let vpx = encoder::find_by_name("libvpx").ok_or(ffmpeg::Error::EncoderNotFound)?;
        let mut enc = codec::context::Context::new_with_codec(vpx).encoder().video()?;
        enc.set_width(width);
        enc.set_height(height);
        enc.set_format(format::Pixel::YUV420P);
        enc.set_time_base(Rational(1, fps as i32));
        enc.set_bit_rate(bitrate);
        // Browsers send a keyframe when asked and rarely otherwise.
        enc.set_gop(fps * 10);
        let mut opts = ffmpeg::Dictionary::new();
        opts.set("deadline", "realtime");
        opts.set("cpu-used", "8");
        opts.set("lag-in-frames", "0");
        let encoder = enc.open_with(opts)?;
        Ok(Self {
            ssrc,
            payload_type,
            width,
            height,
            encoder,
            sequence: (ssrc as u16).wrapping_mul(7),
            timestamp_base: ssrc.wrapping_mul(2_654_435_761),
            frames: 0,
            keyframe_requested: true,
            picture_id: 0,
        })
    }

    /// Goes on at another size, from a keyframe, on the same stream (the same SSRC,
    /// sequence numbers and clock): what a receiver of a simulcast camera sees when the
    /// SFU switches it to another layer.
    pub fn switch_layer(&mut self, width: u32, height: u32, fps: u32) -> Result<(), ffmpeg::Error> {
        let fresh = Self::new(self.ssrc, self.payload_type, width, height, fps)?;
        self.encoder = fresh.encoder;
        (self.width, self.height) = (width, height);
        self.keyframe_requested = true;
        Ok(())
    }

    /// The next frame is a keyframe (as a browser answers a PLI).
    pub fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// The RTP timestamp (90 kHz) of a frame captured `capture_ms` after the camera opened.
    pub fn timestamp_at(&self, capture_ms: u64) -> u32 {
        self.timestamp_base.wrapping_add((capture_ms * 90) as u32)
    }

    /// Frames encoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Encodes the frame captured at `capture_ms` (after the camera opened; a camera
    /// that is paused and resumed keeps counting) and returns its packets.
    pub fn next_frame(&mut self, pattern: Pattern, capture_ms: u64) -> Result<Vec<RtpPacket>, ffmpeg::Error> {
        let mut picture = frame::Video::new(format::Pixel::YUV420P, self.width, self.height);
        draw(&mut picture, pattern, self.frames);
        picture.set_pts(Some(self.frames as i64));
        if std::mem::take(&mut self.keyframe_requested) {
            picture.set_kind(ffmpeg::picture::Type::I);
        }
        self.encoder.send_frame(&picture)?;
        let timestamp = self.timestamp_at(capture_ms);
        self.frames += 1;
        let mut packets = Vec::new();
        let mut encoded = Packet::empty();
        while self.encoder.receive_packet(&mut encoded).is_ok() {
            let data = encoded.data().unwrap_or(&[]);
            let chunks: Vec<&[u8]> = data.chunks(MAX_PAYLOAD).collect();
            self.picture_id = (self.picture_id + 1) & 0x7fff;
            for (i, chunk) in chunks.iter().enumerate() {
                // RFC 7741 descriptor: X, S on the first packet, partition 0; a 15-bit
                // picture id, as Chrome sends.
                let mut payload = vec![0x80 | if i == 0 { 0x10 } else { 0 }, 0x80, 0x80 | (self.picture_id >> 8) as u8, self.picture_id as u8];
                payload.extend_from_slice(chunk);
                packets.push(RtpPacket { payload_type: self.payload_type, marker: i == chunks.len() - 1, sequence: self.sequence, timestamp, ssrc: self.ssrc, payload });
                self.sequence = self.sequence.wrapping_add(1);
            }
        }
        Ok(packets)
    }
}

/// The luma planes (`width` x `rows`, no padding) a receiver decodes from the first
/// `frames` frames a `VideoSource::with_bitrate(…, width, height, fps, bitrate)` camera
/// sends of `pattern`: the very pictures a recorder of such a camera gets, for a
/// quality measure of what it made of them.
pub fn received_luma(pattern: Pattern, (width, height): (u32, u32), rows: u32, fps: u32, bitrate: usize, frames: u64) -> Result<Vec<Vec<u8>>, ffmpeg::Error> {
    let mut camera = VideoSource::with_bitrate(0, 96, width, height, fps, bitrate)?;
    let vp8 = ffmpeg::decoder::find(codec::Id::VP8).ok_or(ffmpeg::Error::DecoderNotFound)?;
    let mut decoder = codec::context::Context::new_with_codec(vp8).decoder().video()?;
    let mut out = Vec::new();
    let mut picture = frame::Video::empty();
    for n in 0..frames {
        // The RTP payloads without their 4-byte VP8 descriptors are the frame.
        let data: Vec<u8> = camera.next_frame(pattern, n * 1000 / u64::from(fps))?.iter().flat_map(|p| p.payload[4..].to_vec()).collect();
        decoder.send_packet(&Packet::copy(&data))?;
        while decoder.receive_frame(&mut picture).is_ok() {
            let stride = picture.stride(0);
            out.push(picture.data(0).chunks(stride).take(rows as usize).flat_map(|row| &row[..width as usize]).copied().collect());
        }
    }
    Ok(out)
}

fn draw(picture: &mut frame::Video, pattern: Pattern, n: u64) {
    let (rgb, moving) = match pattern {
        Pattern::Solid(rgb) => (rgb, false),
        Pattern::Moving(rgb) => (rgb, true),
        Pattern::Screen(rgb) => {
            draw_screen(picture, rgb, n);
            return;
        }
    };
    let [y, u, v] = rgb_to_yuv(rgb);
    let (w, h) = (picture.width() as usize, picture.height() as usize);
    let stride = picture.stride(0);
    let luma = picture.data_mut(0);
    for row in 0..h {
        let line = &mut luma[row * stride..row * stride + w];
        if moving {
            let bar = (n as usize * 8) % w;
            for (x, px) in line.iter_mut().enumerate() {
                // A noisy texture (fixed per pixel) and a bar sweeping across.
                let noise = ((x * 7919 + row * 104_729) % 23) as u8;
                *px = if x.abs_diff(bar) < w / 20 { 220 } else { y.saturating_add(noise).saturating_sub(11) };
            }
        } else {
            line.fill(y);
        }
    }
    picture.data_mut(1).fill(u);
    picture.data_mut(2).fill(v);
}

/// Lines of glyph-sized dark marks on the colour (fixed), and a block near the top
/// right whose shade changes with every frame.
fn draw_screen(picture: &mut frame::Video, rgb: [u8; 3], n: u64) {
    let [y, u, v] = rgb_to_yuv(rgb);
    let (w, h) = (picture.width() as usize, picture.height() as usize);
    let stride = picture.stride(0);
    let line_h = (h / 30).max(4);
    let glyph = (line_h * 3 / 5).max(2);
    let luma = picture.data_mut(0);
    for row in 0..h {
        let line = &mut luma[row * stride..row * stride + w];
        let in_line = row % line_h;
        let text_row = row / line_h;
        for (x, px) in line.iter_mut().enumerate() {
            // A glyph cell is ink where a fixed hash says so, within the line's height
            // and the text's margins (lines of varying length).
            let cell = x / glyph;
            let margin = w / 10;
            let length = w / 2 + (text_row * 7919 % (w / 3).max(1));
            let ink = in_line < glyph && x > margin && x < margin + length && (cell * 31 + text_row * 17 + in_line) % 3 != 0 && (cell % 6) != 5;
            *px = if ink { 40 } else { y };
        }
    }
    // The changing block: a tenth of the width.
    let (bw, bh) = (w / 10, h / 20);
    let shade = 60 + (n * 37 % 150) as u8;
    for row in h / 20..h / 20 + bh {
        luma[row * stride + w - bw - w / 20..row * stride + w - w / 20].fill(shade);
    }
    picture.data_mut(1).fill(u);
    picture.data_mut(2).fill(v);
}

/// An Opus microphone: 20 ms of samples in, one RTP packet out.
pub struct AudioSource {
    pub ssrc: u32,
    pub payload_type: u8,
    encoder: encoder::Audio,
    sequence: u16,
    timestamp_base: u32,
    packets: u64,
    /// The id of the ssrc-audio-level extension to put in each packet, if any.
    pub audio_level_id: Option<u8>,
}

impl AudioSource {
    pub fn new(ssrc: u32, payload_type: u8) -> Result<Self, ffmpeg::Error> {
        crate::init_ffmpeg()?;
        let opus = encoder::find_by_name("libopus").ok_or(ffmpeg::Error::EncoderNotFound)?;
        let mut enc = codec::context::Context::new_with_codec(opus).encoder().audio()?;
        enc.set_rate(48_000);
        enc.set_channel_layout(ffmpeg::ChannelLayout::STEREO);
        enc.set_format(format::Sample::F32(format::sample::Type::Packed));
        enc.set_bit_rate(64_000);
        enc.set_time_base(Rational(1, 48_000));
        let encoder = enc.open_as(opus)?;
        Ok(Self {
            ssrc,
            payload_type,
            encoder,
            sequence: (ssrc as u16).wrapping_mul(13),
            timestamp_base: ssrc.wrapping_mul(2_246_822_519),
            packets: 0,
            audio_level_id: None,
        })
    }

    /// The RTP timestamp of sample `n` (48 kHz).
    pub fn timestamp_of(&self, sample: u64) -> u32 {
        self.timestamp_base.wrapping_add(sample as u32)
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Encodes 20 ms (OPUS_FRAME mono samples, copied to both channels) as one packet,
    /// with its audio level when `audio_level_id` is set.
    pub fn next_packet(&mut self, mono: &[f32]) -> Result<Vec<u8>, ffmpeg::Error> {
        let mut f = frame::Audio::new(format::Sample::F32(format::sample::Type::Packed), OPUS_FRAME, ffmpeg::ChannelLayout::STEREO);
        f.set_rate(48_000);
        let pts = self.packets * OPUS_FRAME as u64;
        f.set_pts(Some(pts as i64));
        let data = f.plane_mut::<(f32, f32)>(0);
        for (i, s) in data.iter_mut().enumerate() {
            let v = mono.get(i).copied().unwrap_or(0.0);
            *s = (v, v);
        }
        self.encoder.send_frame(&f)?;
        let mut encoded = Packet::empty();
        let mut payload = Vec::new();
        while self.encoder.receive_packet(&mut encoded).is_ok() {
            payload = encoded.data().unwrap_or(&[]).to_vec();
        }
        let packet = RtpPacket { payload_type: self.payload_type, marker: false, sequence: self.sequence, timestamp: self.timestamp_of(pts), ssrc: self.ssrc, payload };
        self.sequence = self.sequence.wrapping_add(1);
        self.packets += 1;
        Ok(match self.audio_level_id {
            Some(id) => with_audio_level(&packet, id, level_dbov(mono)),
            None => packet.to_bytes(),
        })
    }
}

/// The RFC 6464 level of 20 ms of samples: -dBov, 0 (loud) to 127 (silent).
pub fn level_dbov(mono: &[f32]) -> u8 {
    let rms = (mono.iter().map(|s| s * s).sum::<f32>() / mono.len().max(1) as f32).sqrt();
    if rms <= 0.0 {
        return 127;
    }
    (-20.0 * rms.log10()).round().clamp(0.0, 127.0) as u8
}

/// The packet with a one-byte header extension (RFC 8285) holding its audio level.
pub fn with_audio_level(packet: &RtpPacket, id: u8, level: u8) -> Vec<u8> {
    let mut bytes = packet.to_bytes();
    bytes[0] |= 0x10;
    let ext = [0xbe, 0xde, 0x00, 0x01, (id << 4), 0x80 | level, 0, 0];
    bytes.splice(12..12, ext);
    bytes
}

/// Samples of a sine tone, mono.
pub fn tone(freq: f32, amplitude: f32, first_sample: u64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| amplitude * (2.0 * std::f32::consts::PI * freq * (first_sample + i as u64) as f32 / 48_000.0).sin())
        .collect()
}

/// An RTCP sender report (RFC 3550 6.4.1) pairing `rtp_timestamp` with `ntp_ms`
/// (milliseconds since 1900).
pub fn sender_report(ssrc: u32, ntp_ms: f64, rtp_timestamp: u32) -> Vec<u8> {
    let secs = (ntp_ms / 1000.0).floor();
    let frac = ((ntp_ms / 1000.0 - secs) * 4_294_967_296.0) as u64;
    let ntp = ((secs as u64) << 32) | frac;
    let mut b = vec![0x80, 200, 0, 6];
    b.extend_from_slice(&ssrc.to_be_bytes());
    b.extend_from_slice(&ntp.to_be_bytes());
    b.extend_from_slice(&rtp_timestamp.to_be_bytes());
    b.extend_from_slice(&[0; 8]); // packet and octet counts
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::depacketize::{Codec, Depacketizer};
    use crate::input::decode::{AudioDecoder, VideoDecoder};

    #[test]
    fn its_video_decodes_to_its_colour_and_answers_keyframe_requests() {
        let mut cam = VideoSource::new(7, 96, 320, 180, 30).unwrap();
        let mut depack = Depacketizer::new(Codec::Vp8);
        let mut dec = VideoDecoder::new(Codec::Vp8).unwrap();
        let red = rgb_to_yuv([200, 40, 40]);
        let mut keyframes = 0;
        for i in 0..20 {
            if i == 10 {
                cam.request_keyframe();
            }
            for p in cam.next_frame(Pattern::Solid([200, 40, 40]), i * 33).unwrap() {
                if let Some(frame) = depack.push(p.timestamp, p.marker, &p.payload) {
                    keyframes += usize::from(frame.keyframe);
                    for pic in dec.decode(&frame).unwrap() {
                        assert!(pic.data(0)[0].abs_diff(red[0]) <= 3, "luma {}", pic.data(0)[0]);
                    }
                }
            }
        }
        assert_eq!(keyframes, 2, "the first frame and the requested one");
        assert_eq!(cam.timestamp_at(1000).wrapping_sub(cam.timestamp_at(0)), 90_000);
    }

    #[test]
    fn its_audio_decodes_to_its_tone_and_carries_its_level() {
        let mut mic = AudioSource::new(9, 111).unwrap();
        mic.audio_level_id = Some(1);
        let mut dec = AudioDecoder::new().unwrap();
        let mut energy = 0.0;
        for k in 0..25 {
            let bytes = mic.next_packet(&tone(440.0, 0.5, k * 960, 960)).unwrap();
            let level = crate::input::rtp::audio_level_dbov(&bytes, 1).unwrap();
            assert!((-10.0..=-8.0).contains(&level), "0.5 amplitude sine: about -9 dBov, not {level}");
            let packet = RtpPacket::parse(&bytes).unwrap();
            assert_eq!(packet.timestamp, mic.timestamp_of(k * 960));
            energy += dec.decode(&packet.payload).unwrap().iter().map(|s| s * s).sum::<f32>();
        }
        assert!(energy > 1000.0, "energy {energy}");
        assert_eq!(level_dbov(&[0.0; 960]), 127);
    }

    #[test]
    fn reads_back_its_own_reports_and_keyframe_requests() {
        let sr = sender_report(5, 3_000_000_000_000.5, 1234);
        let parsed = crate::input::clock::sender_reports(&sr);
        assert_eq!((parsed[0].ssrc, parsed[0].rtp_timestamp), (5, 1234));
        let pli = [0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 42];
        assert_eq!(crate::input::rtp::pli_targets(&pli), vec![42]);
        assert!(crate::input::rtp::pli_targets(&sr).is_empty());
    }
}

//! Decodes with FFmpeg: the depacketizer's frames (VP8 or H.264) into pictures, and
//! Opus payloads (one packet, one frame) into the mixer's interleaved stereo f32.
use crate::input::depacketize::{Codec, Frame};
use ffmpeg_next as ffmpeg;
use ffmpeg::{codec, decoder, frame, Packet};

/// The largest picture a participant's stream may decode to: 4K UHD. The page sends
/// at most 1280x720 cameras and 1920x1080 shares, but the size is the sender's word
/// (a keyframe's header, an SPS): without a bound, one crafted keyframe claiming
/// 16000x9000 would make FFmpeg allocate hundreds of MB a picture, and the recording
/// fall behind scaling it. FFmpeg refuses a larger frame as a decode error, which
/// drops the stream's frames up to a keyframe that fits.
pub const MAX_PICTURE: (u32, u32) = (3840, 2160);
const MAX_PICTURE_PIXELS: i64 = MAX_PICTURE.0 as i64 * MAX_PICTURE.1 as i64;

pub struct VideoDecoder {
    decoder: decoder::Video,
}

impl VideoDecoder {
    pub fn new(codec: Codec) -> Result<Self, ffmpeg::Error> {
        crate::init_ffmpeg()?;
        let id = match codec {
            Codec::Vp8 => codec::Id::VP8,
            Codec::H264 => codec::Id::H264,
        };
        let found = decoder::find(id).ok_or(ffmpeg::Error::DecoderNotFound)?;
        let mut context = codec::context::Context::new_with_codec(found);
        // SAFETY: the context was just allocated and is owned here; max_pixels is a
        // plain field that the decoder reads whenever a frame sets its size.
        unsafe {
            (*context.as_mut_ptr()).max_pixels = MAX_PICTURE_PIXELS;
        }
        Ok(Self { decoder: context.decoder().video()? })
    }

    /// The pictures this frame completes (usually one). A frame the decoder rejects is
    /// an error for the caller to log; the next keyframe recovers.
    pub fn decode(&mut self, frame: &Frame) -> Result<Vec<frame::Video>, ffmpeg::Error> {
        let mut packet = Packet::copy(&frame.data);
        packet.set_pts(Some(i64::from(frame.timestamp)));
        self.decoder.send_packet(&packet)?;
        let mut pictures = Vec::new();
        loop {
            let mut picture = frame::Video::empty();
            match self.decoder.receive_frame(&mut picture) {
                Ok(()) => pictures.push(picture),
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => break,
                Err(ffmpeg::Error::Eof) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(pictures)
    }
}

/// Decodes one participant's Opus stream to 48 kHz interleaved stereo f32.
pub struct AudioDecoder {
    decoder: decoder::Audio,
}

impl AudioDecoder {
    pub fn new() -> Result<Self, ffmpeg::Error> {
        crate::init_ffmpeg()?;
        let found = decoder::find(codec::Id::OPUS).ok_or(ffmpeg::Error::DecoderNotFound)?;
        let mut context = codec::context::Context::new_with_codec(found);
        // WebRTC's Opus is 48 kHz, stereo in the SDP whatever the microphone: decode
        // to two channels so every source mixes alike. ffmpeg-next has no setter for a
        // decoder's channels on FFmpeg 5.1.
        // SAFETY: the context was just allocated and is owned here; these are plain
        // fields that avcodec_open2 reads when the decoder opens below.
        unsafe {
            (*context.as_mut_ptr()).sample_rate = 48_000;
            (*context.as_mut_ptr()).channels = 2;
            (*context.as_mut_ptr()).channel_layout = ffmpeg::ChannelLayout::STEREO.bits();
        }
        Ok(Self { decoder: context.decoder().audio()? })
    }

    /// The samples of one RTP payload, interleaved stereo.
    pub fn decode(&mut self, payload: &[u8]) -> Result<Vec<f32>, ffmpeg::Error> {
        self.decoder.send_packet(&Packet::copy(payload))?;
        let mut out = Vec::new();
        let mut samples = frame::Audio::empty();
        while self.decoder.receive_frame(&mut samples).is_ok() {
            let n = samples.samples();
            let channels = usize::from(samples.channels());
            match samples.format() {
                ffmpeg::format::Sample::F32(ffmpeg::format::sample::Type::Planar) => {
                    let left = samples.plane::<f32>(0);
                    let right = samples.plane::<f32>(if channels > 1 { 1 } else { 0 });
                    out.extend((0..n).flat_map(|i| [left[i], right[i]]));
                }
                ffmpeg::format::Sample::F32(ffmpeg::format::sample::Type::Packed) => {
                    let data: &[f32] = samples.plane::<f32>(0);
                    out.extend((0..n).flat_map(|i| {
                        let l = data[i * channels];
                        [l, if channels > 1 { data[i * channels + 1] } else { l }]
                    }));
                }
                _ => return Err(ffmpeg::Error::InvalidData),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::depacketize::Depacketizer;
    use crate::input::jitter::{JitterBuffer, Released};
    use crate::input::rtp::RtpPacket;
    use ffmpeg::{encoder, format, Rational};
    use std::time::{Duration, Instant};

    #[test]
    fn opus_payloads_decode_to_the_tone_that_was_sent() {
        ffmpeg::init().unwrap();
        let opus = encoder::find_by_name("libopus").expect("libopus in Debian's libavcodec");
        let mut enc = codec::context::Context::new_with_codec(opus).encoder().audio().unwrap();
        enc.set_rate(48_000);
        enc.set_channel_layout(ffmpeg::ChannelLayout::STEREO);
        enc.set_format(format::Sample::I16(format::sample::Type::Packed));
        enc.set_bit_rate(64_000);
        enc.set_time_base(Rational(1, 48_000));
        let mut enc = enc.open_as(opus).unwrap();
        let frame_size = enc.frame_size() as usize; // 960: 20 ms, as WebRTC sends
        let mut payloads = Vec::new();
        for k in 0..50 {
            let mut f = frame::Audio::new(format::Sample::I16(format::sample::Type::Packed), frame_size, ffmpeg::ChannelLayout::STEREO);
            f.set_rate(48_000);
            f.set_pts(Some((k * frame_size) as i64));
            let data = f.plane_mut::<(i16, i16)>(0);
            for (i, s) in data.iter_mut().enumerate() {
                let t = (k * frame_size + i) as f32 / 48_000.0;
                let v = (0.5 * (2.0 * std::f32::consts::PI * 440.0 * t).sin() * 32767.0) as i16;
                *s = (v, v);
            }
            enc.send_frame(&f).unwrap();
            let mut p = Packet::empty();
            while enc.receive_packet(&mut p).is_ok() {
                payloads.push(p.data().unwrap().to_vec());
            }
        }
        let mut dec = AudioDecoder::new().unwrap();
        let samples: Vec<f32> = payloads.iter().flat_map(|p| dec.decode(p).unwrap()).collect();
        assert!(samples.len() >= 40 * 960 * 2, "only {} samples", samples.len());
        // Skip the codec's start-up, then check level and pitch on the left channel.
        let left: Vec<f32> = samples.iter().step_by(2).skip(4800).copied().collect();
        let rms = (left.iter().map(|s| s * s).sum::<f32>() / left.len() as f32).sqrt();
        assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.05, "rms {rms}");
        let crossings = left.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        let hz = crossings as f32 / (left.len() as f32 / 48_000.0);
        assert!((hz - 440.0).abs() < 10.0, "pitch {hz} Hz");
        // A corrupt payload is an error, not a panic, and decoding goes on after it.
        let _ = dec.decode(&[0xff, 0x00, 0x13]);
        assert!(!dec.decode(&payloads[10]).unwrap().is_empty());
    }

    /// VP8 frames from libvpx: `n` frames of 160x90, luma `y` for frame i given by `luma`.
    fn vp8_frames(n: usize, luma: impl Fn(usize) -> u8) -> Vec<(Vec<u8>, bool)> {
        vp8_frames_of(n, (160, 90), luma)
    }

    /// VP8 frames from libvpx: `n` frames of `size`, luma `y` for frame i given by `luma`.
    fn vp8_frames_of(n: usize, (width, height): (u32, u32), luma: impl Fn(usize) -> u8) -> Vec<(Vec<u8>, bool)> {
        ffmpeg::init().unwrap();
        let vpx = encoder::find_by_name("libvpx").expect("libvpx in Debian's libavcodec");
        let mut enc = codec::context::Context::new_with_codec(vpx).encoder().video().unwrap();
        enc.set_width(width);
        enc.set_height(height);
        enc.set_format(format::Pixel::YUV420P);
        enc.set_time_base(Rational(1, 30));
        enc.set_gop(10); // a keyframe every 10 frames
        let mut opts = ffmpeg::Dictionary::new();
        opts.set("deadline", "realtime");
        opts.set("lag-in-frames", "0");
        let mut enc = enc.open_with(opts).unwrap();
        let mut out = Vec::new();
        let collect = |enc: &mut encoder::Video, out: &mut Vec<(Vec<u8>, bool)>| {
            let mut p = Packet::empty();
            while enc.receive_packet(&mut p).is_ok() {
                out.push((p.data().unwrap().to_vec(), p.is_key()));
            }
        };
        for i in 0..n {
            let mut f = frame::Video::new(format::Pixel::YUV420P, width, height);
            f.data_mut(0).fill(luma(i));
            f.data_mut(1).fill(128);
            f.data_mut(2).fill(128);
            f.set_pts(Some(i as i64));
            enc.send_frame(&f).unwrap();
            collect(&mut enc, &mut out);
        }
        enc.send_eof().unwrap();
        collect(&mut enc, &mut out);
        out
    }

    #[test]
    fn a_keyframe_claiming_a_huge_picture_is_refused_and_the_stream_recovers_at_the_next() {
        let frames = vp8_frames(3, |_| 120);
        let mut decoder = VideoDecoder::new(Codec::Vp8).unwrap();
        let frame = |data: &[u8], timestamp| Frame { timestamp, keyframe: true, data: data.to_vec() };
        assert_eq!(decoder.decode(&frame(&frames[0].0, 0)).unwrap().len(), 1);
        // A VP8 keyframe: a 3-byte tag, the start code 9d 01 2a, then 14-bit width and
        // height (little-endian, 2 bits of scaling above). Claim 16000x9000.
        let mut huge = frames[0].0.clone();
        assert_eq!(huge[3..6], [0x9d, 0x01, 0x2a], "a keyframe");
        assert_eq!((u16::from_le_bytes([huge[6], huge[7]]), u16::from_le_bytes([huge[8], huge[9]])), (160, 90));
        huge[6..8].copy_from_slice(&16000u16.to_le_bytes());
        huge[8..10].copy_from_slice(&9000u16.to_le_bytes());
        assert!(decoder.decode(&frame(&huge, 3000)).is_err(), "16000x9000 is past the bound");
        // Within the bound, a size change decodes: a real 4K UHD keyframe, the bound itself.
        let uhd = vp8_frames_of(1, MAX_PICTURE, |_| 200);
        let pictures = decoder.decode(&frame(&uhd[0].0, 6000)).expect("3840x2160 is within the bound");
        assert_eq!(pictures.iter().map(|p| (p.width(), p.height())).collect::<Vec<_>>(), [MAX_PICTURE]);
        // The real stream goes on at its own size.
        let pictures = decoder.decode(&frame(&frames[0].0, 9000)).unwrap();
        assert_eq!(pictures.iter().map(|p| (p.width(), p.height())).collect::<Vec<_>>(), [(160, 90)]);
    }

    /// RFC 7741 packets of 300-byte payloads: S on the first, marker on the last.
    fn packetize(frames: &[(Vec<u8>, bool)]) -> Vec<RtpPacket> {
        let mut seq = 1000u16;
        let mut packets = Vec::new();
        for (i, (data, _)) in frames.iter().enumerate() {
            let chunks: Vec<&[u8]> = data.chunks(300).collect();
            for (k, chunk) in chunks.iter().enumerate() {
                let mut payload = vec![if k == 0 { 0x10 } else { 0x00 }];
                payload.extend_from_slice(chunk);
                packets.push(RtpPacket { payload_type: 96, marker: k == chunks.len() - 1, sequence: seq, timestamp: i as u32 * 3000, ssrc: 5, payload });
                seq = seq.wrapping_add(1);
            }
        }
        packets
    }

    #[test]
    fn vp8_over_rtp_decodes_to_the_right_pictures_through_reordering_and_loss() {
        // Frames 0-9 dark (luma 40), 10-29 bright (luma 200); keyframes at 0, 10, 20.
        let frames = vp8_frames(30, |i| if i < 10 { 40 } else { 200 });
        assert!(frames[0].1 && frames[10].1 && frames[20].1, "keyframes where asked");
        let mut packets = packetize(&frames);
        // Reorder neighbours throughout, and lose one packet of frame 12.
        for i in (0..packets.len() - 1).step_by(3) {
            packets.swap(i, i + 1);
        }
        let lost_at = packets.iter().position(|p| p.timestamp == 12 * 3000).unwrap();
        packets.remove(lost_at);

        let t0 = Instant::now();
        let mut jitter = JitterBuffer::new(Duration::from_millis(50));
        let mut depack = Depacketizer::new(Codec::Vp8);
        let mut decoder = VideoDecoder::new(Codec::Vp8).unwrap();
        let mut decoded: Vec<(u32, u8)> = Vec::new(); // (frame index, luma)
        let mut release = |out: Released, decoded: &mut Vec<(u32, u8)>| match out {
            Released::Packet(p) => {
                if let Some(frame) = depack.push(p.timestamp, p.marker, &p.payload) {
                    for picture in decoder.decode(&frame).unwrap() {
                        decoded.push((frame.timestamp / 3000, picture.data(0)[0]));
                    }
                }
            }
            Released::Lost(_) | Released::Discontinuity => depack.lost(),
        };
        // A packet every 2 ms; the gap is declared lost once the packet after it waited 50 ms.
        let mut now = t0;
        for packet in packets {
            jitter.push(now, packet);
            while let Some(out) = jitter.pop(now) {
                release(out, &mut decoded);
            }
            now += Duration::from_millis(2);
        }
        while let Some(out) = jitter.pop(now + Duration::from_secs(1)) {
            release(out, &mut decoded);
        }
        let indices: Vec<u32> = decoded.iter().map(|(i, _)| *i).collect();
        // Every frame decodes except the damaged 12 and what depends on it (13-19),
        // until the keyframe at 20 recovers the stream.
        let expected: Vec<u32> = (0..12).chain(20..30).collect();
        assert_eq!(indices, expected);
        for (i, luma) in decoded {
            let want = if i < 10 { 40 } else { 200 };
            assert!(luma.abs_diff(want) <= 6, "frame {i}: luma {luma}, want {want}");
        }
    }
}

//! Reads recordings back with FFmpeg's libraries: duration, the colour of each video
//! frame, the audio as samples. The tests check recordings with it (who is on screen,
//! who is heard), and the server uses it for files it finds cut off.
use ffmpeg_next as ffmpeg;
use ffmpeg::{format, frame, media};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot read {path}: {source}")]
    Open { path: String, source: ffmpeg::Error },
    #[error("{path} has no {kind} stream")]
    NoStream { path: String, kind: &'static str },
    #[error("cannot decode {path}: {source}")]
    Decode { path: String, source: ffmpeg::Error },
}

fn open(path: &Path) -> Result<format::context::Input, ProbeError> {
    crate::init_ffmpeg().map_err(|source| ProbeError::Open { path: path.display().to_string(), source })?;
    format::input(&path).map_err(|source| ProbeError::Open { path: path.display().to_string(), source })
}

/// The file's duration as its demuxer reads it (for a fragmented file cut off by a
/// crash, up to its last complete fragment).
pub fn duration_ms(path: &Path) -> Result<u64, ProbeError> {
    let input = open(path)?;
    let d = input.duration();
    if d > 0 {
        return Ok((d as u64) / 1000);
    }
    // No duration in the header: the end of the last packet of any stream.
    let mut end_ms = 0u64;
    let mut input = input;
    let bases: Vec<_> = input.streams().map(|s| s.time_base()).collect();
    for (stream, packet) in input.packets() {
        let tb = bases[stream.index()];
        if let Some(pts) = packet.pts() {
            let end = (pts + packet.duration()) as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()) * 1000.0;
            end_ms = end_ms.max(end as u64);
        }
    }
    Ok(end_ms)
}

/// The video's picture size, as its stream's parameters say.
pub fn video_size(path: &Path) -> Result<(u32, u32), ProbeError> {
    let input = open(path)?;
    let stream = input.streams().best(media::Type::Video).ok_or_else(|| ProbeError::NoStream { path: path.display().to_string(), kind: "video" })?;
    let decode = |source| ProbeError::Decode { path: path.display().to_string(), source };
    let decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).map_err(decode)?.decoder().video().map_err(decode)?;
    Ok((decoder.width(), decoder.height()))
}

/// The video's frame rate as FFmpeg guesses it from the first frames (`r_frame_rate`,
/// what ffprobe shows and what ffmpeg's command line re-encodes an mp4 at).
pub fn guessed_frame_rate(path: &Path) -> Result<(i32, i32), ProbeError> {
    let input = open(path)?;
    let stream = input.streams().best(media::Type::Video).ok_or_else(|| ProbeError::NoStream { path: path.display().to_string(), kind: "video" })?;
    let rate = stream.rate();
    Ok((rate.numerator(), rate.denominator()))
}

/// One decoded video frame, reduced to what tests look at.
#[derive(Debug, Clone)]
pub struct FrameSample {
    pub t_ms: u64,
    /// Mean RGB of the centre of the picture (a fifth of its width and height).
    pub centre_rgb: [u8; 3],
    /// Mean RGB near the top-left corner (a card's background, away from its letters and
    /// from the name label at the bottom).
    pub corner_rgb: [u8; 3],
    pub keyframe: bool,
}

/// Every video frame's time and centre colour.
pub fn video_frames(path: &Path) -> Result<Vec<FrameSample>, ProbeError> {
    let mut out = Vec::new();
    each_frame(path, |t_ms, picture| {
        let (w, h) = (picture.width() as usize, picture.height() as usize);
        let centre = mean_rgb(picture, (w * 2 / 5, w * 3 / 5, h * 2 / 5, h * 3 / 5));
        let corner = mean_rgb(picture, (w / 20, w / 5, h / 20, h / 5));
        out.push(FrameSample { t_ms, centre_rgb: centre, corner_rgb: corner, keyframe: picture.is_key() });
    })?;
    Ok(out)
}

/// What a player shows at each frame time of an `fps` recording, from its encoded
/// `frames` (in order): the file has a variable frame rate, a frame lasting until the
/// next one, and a still picture is encoded once a second. The first frame keeps its
/// time (0: the file's edit list starts there); those after it fall on the output's
/// ticks, the priming after 0.
pub fn as_shown(frames: &[FrameSample], fps: u32) -> Vec<FrameSample> {
    let Some(last) = frames.last() else { return Vec::new() };
    let mut shown = Vec::new();
    let mut current = 0;
    for tick in 0u64.. {
        let t_ms = ((crate::output::mp4::START_US + tick * 1_000_000 / u64::from(fps)) as f64 / 1000.0).round() as u64;
        if t_ms > last.t_ms + 1 {
            break;
        }
        // The newest frame that has started by then (times are rounded to the ms).
        let mut fresh = false;
        while current + 1 < frames.len() && frames[current + 1].t_ms <= t_ms + 1 {
            current += 1;
            fresh = true;
        }
        let frame = &frames[current];
        let t_ms = if tick == 0 { frame.t_ms } else { t_ms };
        shown.push(FrameSample { t_ms, keyframe: frame.keyframe && (fresh || tick == 0), ..frame.clone() });
    }
    shown
}

/// Every video frame's time and the mean colour of a small patch (a fiftieth of the
/// picture's width) around each of `points`, given as fractions of the width and height:
/// what a layout's tiles show.
pub fn video_patches(path: &Path, points: &[(f32, f32)]) -> Result<Vec<(u64, Vec<[u8; 3]>)>, ProbeError> {
    let mut out = Vec::new();
    each_frame(path, |t_ms, picture| {
        let (w, h) = (picture.width() as usize, picture.height() as usize);
        let r = (w / 100).max(1);
        let patches = points
            .iter()
            .map(|&(fx, fy)| {
                let (x, y) = (((fx * w as f32) as usize).clamp(r, w - r), ((fy * h as f32) as usize).clamp(r, h - r));
                mean_rgb(picture, (x - r, x + r, y - r, y + r))
            })
            .collect();
        out.push((t_ms, patches));
    })?;
    Ok(out)
}

/// Decodes every video frame of `path` and gives each, with its time, to `f`.
fn each_frame(path: &Path, mut f: impl FnMut(u64, &frame::Video)) -> Result<(), ProbeError> {
    let p = path.display().to_string();
    let mut input = open(path)?;
    let stream = input.streams().best(media::Type::Video).ok_or(ProbeError::NoStream { path: p.clone(), kind: "video" })?;
    let index = stream.index();
    let tb = stream.time_base();
    let ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).map_err(|source| ProbeError::Decode { path: p.clone(), source })?;
    let mut decoder = ctx.decoder().video().map_err(|source| ProbeError::Decode { path: p.clone(), source })?;
    let mut picture = frame::Video::empty();
    let mut take = |decoder: &mut ffmpeg::decoder::Video| {
        while decoder.receive_frame(&mut picture).is_ok() {
            let pts = picture.timestamp().or(picture.pts()).unwrap_or(0);
            let t_ms = (pts as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()) * 1000.0).round().max(0.0) as u64;
            f(t_ms, &picture);
        }
    };
    for (s, packet) in input.packets() {
        if s.index() != index {
            continue;
        }
        // A damaged packet at a cut-off end is skipped, as players do.
        if decoder.send_packet(&packet).is_ok() {
            take(&mut decoder);
        }
    }
    let _ = decoder.send_eof();
    take(&mut decoder);
    Ok(())
}

/// Mean colour of a region (x0, x1, y0, y1) of a YUV420P picture, as RGB (BT.601 limited).
fn mean_rgb(picture: &frame::Video, (x0, x1, y0, y1): (usize, usize, usize, usize)) -> [u8; 3] {
    let mean = |plane: usize, div: usize| {
        let stride = picture.stride(plane);
        let data = picture.data(plane);
        let (mut sum, mut n) = (0u64, 0u64);
        for y in (y0 / div)..(y1 / div) {
            for x in (x0 / div)..(x1 / div) {
                sum += u64::from(data[y * stride + x]);
                n += 1;
            }
        }
        sum as f32 / n.max(1) as f32
    };
    let (y, u, v) = (mean(0, 1) - 16.0, mean(1, 2) - 128.0, mean(2, 2) - 128.0);
    let r = 1.164 * y + 1.596 * v;
    let g = 1.164 * y - 0.392 * u - 0.813 * v;
    let b = 1.164 * y + 2.017 * u;
    [r.round().clamp(0.0, 255.0) as u8, g.round().clamp(0.0, 255.0) as u8, b.round().clamp(0.0, 255.0) as u8]
}

/// The audio, mixed to mono, at its own rate; returns (rate, samples).
pub fn audio_mono(path: &Path) -> Result<(u32, Vec<f32>), ProbeError> {
    let p = path.display().to_string();
    let mut input = open(path)?;
    let stream = input.streams().best(media::Type::Audio).ok_or(ProbeError::NoStream { path: p.clone(), kind: "audio" })?;
    let index = stream.index();
    let ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).map_err(|source| ProbeError::Decode { path: p.clone(), source })?;
    let mut decoder = ctx.decoder().audio().map_err(|source| ProbeError::Decode { path: p.clone(), source })?;
    let rate = decoder.rate();
    let mut out = Vec::new();
    let mut samples = frame::Audio::empty();
    let mut take = |decoder: &mut ffmpeg::decoder::Audio, out: &mut Vec<f32>| {
        while decoder.receive_frame(&mut samples).is_ok() {
            let n = samples.samples();
            let channels = usize::from(samples.channels()).max(1);
            match samples.format() {
                format::Sample::F32(format::sample::Type::Planar) => {
                    for i in 0..n {
                        let sum: f32 = (0..channels).map(|c| samples.plane::<f32>(c)[i]).sum();
                        out.push(sum / channels as f32);
                    }
                }
                format::Sample::F32(format::sample::Type::Packed) => {
                    let data = samples.plane::<f32>(0);
                    for i in 0..n {
                        out.push(data[i * channels..(i + 1) * channels].iter().sum::<f32>() / channels as f32);
                    }
                }
                _ => {}
            }
        }
    };
    for (s, packet) in input.packets() {
        if s.index() == index && decoder.send_packet(&packet).is_ok() {
            take(&mut decoder, &mut out);
        }
    }
    let _ = decoder.send_eof();
    take(&mut decoder, &mut out);
    Ok((rate, out))
}

/// The power of `freq` in `samples` (Goertzel), normalised so a full-scale sine is ~0.25.
pub fn tone_power(samples: &[f32], rate: u32, freq: f32) -> f32 {
    let k = 2.0 * (2.0 * std::f32::consts::PI * freq / rate as f32).cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = x + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - k * s1 * s2;
    power / (samples.len().max(1) as f32).powi(2)
}

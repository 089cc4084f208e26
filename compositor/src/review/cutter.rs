//! Cuts clips out of a recording into a new mp4 without re-encoding: each clip starts
//! on a video keyframe and ends before the next clip's (the recorder makes one a
//! second), packets are copied and their times shifted so the clips play back to back,
//! and each clip is a chapter titled with its speaker's name. The name label is in the
//! recording's pictures already, so nothing needs burning in.
use ffmpeg_next as ffmpeg;
use ffmpeg::{codec, format, media, Rational};
use std::path::Path;

/// A clip to cut: [start_ms, end_ms) of the source, and its chapter's title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start_ms: u64,
    pub end_ms: u64,
    pub title: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CutError {
    #[error("cannot read the recording {path}: {source}")]
    Open { path: String, source: ffmpeg::Error },
    #[error("the recording {0} has no video")]
    NoVideo(String),
    #[error("cannot write the highlights: {0}")]
    Write(ffmpeg::Error),
    #[error("cannot write the highlights: {0}")]
    Io(#[from] std::io::Error),
    #[error("none of the clips holds a keyframe: the recording may be damaged")]
    Empty,
}

/// A keyframe up to this far before a clip's start counts as its start (times are
/// rounded to the ms, keyframes may be 0.4 ms off the grid).
const KEYFRAME_TOLERANCE_MS: f64 = 50.0;

fn ms(ts: i64, tb: Rational) -> f64 {
    ts as f64 * f64::from(tb.numerator()) * 1000.0 / f64::from(tb.denominator())
}

/// Cuts `spans` (in order) out of `input` into `output` (written to a temporary file
/// beside it, then renamed: never half a file). Returns the spans as cut: on the
/// source's keyframes, as (index in `spans`, start ms, end ms); a span that holds no
/// keyframe is left out. `progress` gets the share done after each clip.
pub fn cut(input: &Path, output: &Path, spans: &[Span], mut progress: impl FnMut(f32)) -> Result<Vec<(usize, u64, u64)>, CutError> {
    crate::init_ffmpeg().map_err(|source| CutError::Open { path: input.display().to_string(), source })?;
    let path = input.display().to_string();
    let mut ictx = format::input(&input).map_err(|source| CutError::Open { path: path.clone(), source })?;
    let video = ictx.streams().best(media::Type::Video).map(|s| s.index()).ok_or_else(|| CutError::NoVideo(path.clone()))?;
    let tmp = output.with_extension("mp4.tmp");
    let mut octx = format::output_as(&tmp, "mp4").map_err(CutError::Write)?;
    // Every stream of the source (video and audio), copied as it is.
    let mut map: Vec<Option<usize>> = vec![None; ictx.nb_streams() as usize];
    let mut in_tbs = Vec::new();
    for ist in ictx.streams() {
        let kind = ist.parameters().medium();
        if kind != media::Type::Video && kind != media::Type::Audio {
            continue;
        }
        let mut ost = octx.add_stream(ffmpeg::encoder::find(codec::Id::None)).map_err(CutError::Write)?;
        ost.set_parameters(ist.parameters());
        // SAFETY: the parameters were just copied into this stream, which we own; a
        // zero tag lets the mp4 muxer choose its own.
        unsafe { (*ost.parameters().as_mut_ptr()).codec_tag = 0 };
        map[ist.index()] = Some(ost.index());
        in_tbs.push((ist.index(), ist.time_base()));
    }
    let in_tb = |i: usize| in_tbs.iter().find(|(k, _)| *k == i).map(|(_, tb)| *tb).expect("a mapped stream");
    let mut opts = ffmpeg::Dictionary::new();
    // The index at the front, for players that stream it (a rewrite of a short file).
    opts.set("movflags", "+faststart");
    octx.write_header_with(opts).map_err(CutError::Write)?;
    let out_tbs: Vec<Rational> = octx.streams().map(|s| s.time_base()).collect();

    let mut cut_spans = Vec::new();
    let mut offset_ms = 0.0f64;
    for (n, span) in spans.iter().enumerate() {
        // Land on the keyframe at or before the start.
        let target = (span.start_ms as i64) * 1000;
        ictx.seek(target, ..target).map_err(|source| CutError::Open { path: path.clone(), source })?;
        let mut clip = ClipState { start: None, end: None, audio_done: false, held: Vec::new(), tail: Vec::new() };
        let (from, to) = (span.start_ms as f64 - KEYFRAME_TOLERANCE_MS, span.end_ms as f64 - KEYFRAME_TOLERANCE_MS);
        for (stream, packet) in ictx.packets() {
            let i = stream.index();
            let Some(o) = map[i] else { continue };
            let Some(pts) = packet.pts().or(packet.dts()) else { continue };
            let at = ms(pts, in_tb(i));
            if i == video {
                match (clip.start, clip.end) {
                    (None, _) if packet.is_key() && at >= from => {
                        clip.start = Some(at);
                        // Audio read before the picture began: what lies in the clip.
                        for (o, tb, held) in std::mem::take(&mut clip.held) {
                            if ms(held.pts().unwrap_or(0), tb) >= at {
                                write_shifted(held, tb, out_tbs[o], o, at, offset_ms, &mut octx)?;
                            }
                        }
                    }
                    (None, _) => continue,
                    (Some(start), None) if packet.is_key() && at >= to => {
                        clip.end = Some(at);
                        // Audio read past the nominal end: what lies before the real one.
                        for (o, tb, held) in std::mem::take(&mut clip.tail) {
                            if ms(held.pts().unwrap_or(0), tb) < at {
                                write_shifted(held, tb, out_tbs[o], o, start, offset_ms, &mut octx)?;
                            } else {
                                clip.audio_done = true;
                            }
                        }
                    }
                    _ => {}
                }
                if clip.end.is_some() {
                    if clip.audio_done {
                        break;
                    }
                    continue;
                }
            } else {
                match clip.end {
                    Some(end) if at >= end => {
                        clip.audio_done = true;
                        break;
                    }
                    // The clip ends at the keyframe after its nominal end: hold on.
                    None if at >= span.end_ms as f64 => {
                        clip.tail.push((o, in_tb(i), packet));
                        continue;
                    }
                    _ => {}
                }
                if at < from {
                    continue;
                }
                if clip.start.is_none() {
                    clip.held.push((o, in_tb(i), packet));
                    continue;
                }
            }
            let start = clip.start.expect("set above");
            if at < start {
                continue;
            }
            write_shifted(packet, in_tb(i), out_tbs[o], o, start, offset_ms, &mut octx)?;
            // Safety against a file without keyframes where expected.
            if at > span.end_ms as f64 + 3000.0 {
                break;
            }
        }
        if let Some(s) = clip.start {
            let e = clip.end.unwrap_or(span.end_ms as f64);
            cut_spans.push((n, s.round() as u64, e.round() as u64));
            offset_ms += e - s;
        }
        progress((n + 1) as f32 / spans.len() as f32);
    }
    if cut_spans.is_empty() {
        drop(octx);
        let _ = std::fs::remove_file(&tmp);
        return Err(CutError::Empty);
    }
    // Chapters: one per clip, where it is in the reel. (Added now, from the cuts as
    // made; the muxer writes chapters it learns of before its trailer.)
    let mut t = 0u64;
    for (i, (n, start, end)) in cut_spans.iter().enumerate() {
        let len = end - start;
        octx.add_chapter(i as i64, Rational(1, 1000), t as i64, (t + len) as i64, &spans[*n].title).map_err(CutError::Write)?;
        t += len;
    }
    octx.write_trailer().map_err(CutError::Write)?;
    std::fs::rename(&tmp, output)?;
    Ok(cut_spans)
}

struct ClipState {
    start: Option<f64>,
    end: Option<f64>,
    audio_done: bool,
    /// Audio read before the clip's first keyframe: (output stream, its time base, packet).
    held: Vec<(usize, Rational, ffmpeg::Packet)>,
    /// Audio read past the clip's nominal end before its last keyframe was found.
    tail: Vec<(usize, Rational, ffmpeg::Packet)>,
}

/// Writes a packet to output stream `o`, its times moved from the source's (where the
/// clip starts at `clip_start_ms`) to the reel's (where it starts at `offset_ms`).
fn write_shifted(mut packet: ffmpeg::Packet, in_tb: Rational, out_tb: Rational, o: usize, clip_start_ms: f64, offset_ms: f64, octx: &mut format::context::Output) -> Result<(), CutError> {
    let to_out = |ms_value: f64| (ms_value * f64::from(out_tb.denominator()) / (1000.0 * f64::from(out_tb.numerator()))).round() as i64;
    let shift = |ts: i64| to_out(ms(ts, in_tb) - clip_start_ms + offset_ms);
    packet.set_pts(packet.pts().map(shift));
    packet.set_dts(packet.dts().map(shift));
    packet.set_duration(to_out(ms(packet.duration(), in_tb)));
    packet.set_stream(o);
    packet.set_position(-1);
    packet.write_interleaved(octx).map_err(CutError::Write)
}

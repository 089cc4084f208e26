//! Writes the recording: H.264 (libx264) and AAC in a fragmented mp4. Every keyframe
//! (one a second) starts a fragment, and packets are flushed as they are written, so a
//! file cut off by a kill of the process still plays up to its last fragment. A normal
//! finish writes nothing more than the last fragment and an index: no second pass.
//!
//! Chapters live in a box reserved in the header and rewritten in place as turns come
//! (`chapters`).
use crate::output::chapters::{self, ChapterBox};
use ffmpeg_next as ffmpeg;
use ffmpeg::{codec, encoder, format, frame, Dictionary, Packet, Rational};
use std::fs::File;
use std::path::{Path, PathBuf};

pub const SAMPLE_RATE: u32 = 48_000;
/// AAC codes 1024 samples per channel a frame.
pub(crate) const AUDIO_FRAME: usize = 1024;
/// The AAC encoder's priming: its first packet decodes to this many samples of nothing.
/// Audio is fed from this pts on (so no packet has a negative time, which the muxer
/// would shift every stream for, bar the first video frame already written), and
/// video starts at the same time: the file's first 21.3 ms are the priming.
const AAC_PRIMING: i64 = 1024;
/// Video timestamps are in 90 kHz ticks, fine enough for that start.
const VIDEO_TIME_BASE: Rational = Rational(1, 90_000);
/// Where the recording's time 0 is in the file (the priming), in µs, and in ms rounded
/// up (a seek there shows the frame that starts there).
pub(crate) const START_US: u64 = AAC_PRIMING as u64 * 1_000_000 / SAMPLE_RATE as u64;
pub const START_MS: u64 = START_US.div_ceil(1000);

/// What an encoder re-opened at another preset keeps of the presets from superfast to
/// veryfast, whose headers are the same (besides the entropy coder, which is the
/// file's): without them, ultrafast would drop the 8x8 transform and weighted
/// prediction, and could not go on in the same track.
const STEP_HEADER_PARAMS: &str = "8x8dct=1:weightp=1:ref=1";

/// x264's constant rate factor for cameras (its default).
const CRF: u32 = 23;
/// … and while a screen share is on: finer, so that its text stays sharp.
const SHARE_CRF: u32 = 17;

/// The recording's sound: one channel or two in the AAC track. The mix is the sum of
/// the participants' audio, which browsers send in mono (a microphone), so a stereo
/// track carries the same signal twice, at twice the bits and 2.5 times the AAC
/// encoder's CPU (docs/benchmarks.md). Mono by default; stereo keeps the sides of a
/// screen share's stereo sound, which mono folds to the middle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioChannels {
    #[default]
    Mono,
    Stereo,
}

impl AudioChannels {
    pub const NAMES: [&'static str; 2] = ["mono", "stereo"];

    pub fn name(self) -> &'static str {
        match self {
            AudioChannels::Mono => "mono",
            AudioChannels::Stereo => "stereo",
        }
    }

    fn layout(self) -> ffmpeg::ChannelLayout {
        match self {
            AudioChannels::Mono => ffmpeg::ChannelLayout::MONO,
            AudioChannels::Stereo => ffmpeg::ChannelLayout::STEREO,
        }
    }

    /// AAC-LC's bit rate: 64 kbit/s a channel, transparent for speech.
    fn bit_rate(self) -> usize {
        match self {
            AudioChannels::Mono => 64_000,
            AudioChannels::Stereo => 128_000,
        }
    }
}

impl std::str::FromStr for AudioChannels {
    type Err = UnknownAudioChannels;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mono" => Ok(AudioChannels::Mono),
            "stereo" => Ok(AudioChannels::Stereo),
            _ => Err(UnknownAudioChannels(s.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown audio channels {0:?}: mono or stereo")]
pub struct UnknownAudioChannels(String);

/// H.264's entropy coder: how the encoded picture is packed into bits. From ultrafast
/// to veryfast it changes the size and the encoder's time, not the picture (slower
/// presets choose by its bit costs, and quantize with trellis only under CABAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntropyCoder {
    /// Variable-length codes: x264 spends about 9 % less time for a sixth to a fifth
    /// more bytes (docs/benchmarks.md). The default: a recorder's capacity is bound by its
    /// CPU, and disk is the cheaper of the two.
    #[default]
    Cavlc,
    /// Arithmetic coding: the smaller file.
    Cabac,
}

impl EntropyCoder {
    pub const NAMES: [&'static str; 2] = ["cavlc", "cabac"];

    pub fn name(self) -> &'static str {
        match self {
            EntropyCoder::Cavlc => "cavlc",
            EntropyCoder::Cabac => "cabac",
        }
    }

    /// x264's own parameter for it.
    fn x264_param(self) -> &'static str {
        match self {
            EntropyCoder::Cavlc => "cabac=0",
            EntropyCoder::Cabac => "cabac=1",
        }
    }
}

impl std::str::FromStr for EntropyCoder {
    type Err = UnknownEntropyCoder;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cavlc" => Ok(EntropyCoder::Cavlc),
            "cabac" => Ok(EntropyCoder::Cabac),
            _ => Err(UnknownEntropyCoder(s.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown entropy coder {0:?}: cavlc or cabac")]
pub struct UnknownEntropyCoder(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSettings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// libx264 preset (superfast by default, see the server's `--recording-preset`).
    pub preset: String,
    pub coder: EntropyCoder,
}

/// Why the file could not be written, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the disk is full: the recording stopped, and the file up to now plays (free some space for the next one)")]
    DiskFull,
    #[error("the recording reached the largest file this system allows; the file up to now plays")]
    FileTooLarge,
    #[error("cannot write the recording: {0}")]
    Ffmpeg(ffmpeg::Error),
    #[error("cannot write the recording's chapters: {0}")]
    Chapters(#[from] chapters::ChapterError),
    #[error("cannot open the recording's file: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ffmpeg::Error> for WriteError {
    fn from(e: ffmpeg::Error) -> Self {
        match e {
            ffmpeg::Error::Other { errno } if errno == libc::ENOSPC => WriteError::DiskFull,
            ffmpeg::Error::Other { errno } if errno == libc::EFBIG => WriteError::FileTooLarge,
            e => WriteError::Ffmpeg(e),
        }
    }
}

pub(crate) struct Mp4Writer {
    output: format::context::Output,
    path: PathBuf,
    /// The file again, for in-place chapter updates, and where the chapter box is.
    chapters: (File, ChapterBox),
    video: encoder::Video,
    video_stream: usize,
    audio: encoder::Audio,
    audio_stream: usize,
    channels: AudioChannels,
    settings: VideoSettings,
    /// The x264 preset the encoder runs at now (`settings.preset` until a step).
    preset: String,
    /// The rate factor now (finer while a share is on).
    crf: u32,
    /// The H.264 parameter sets in the file's header: an encoder re-opened at another
    /// preset must produce these very bytes, or its pictures would not decode.
    extradata: Vec<u8>,
    global_header: bool,
    /// Output frame times passed (encoded or not): the next frame's index.
    ticks: u64,
    /// The last frame time encoded: frames are written in time order (a tick passed
    /// over may still be written, as the file's last frame is).
    written: Option<u64>,
    samples: i64,
}

impl Mp4Writer {
    pub fn create(path: &Path, settings: &VideoSettings, channels: AudioChannels) -> Result<Self, WriteError> {
        crate::init_ffmpeg()?;
        let mut output = format::output_as(&path, "mp4")?;
        let global_header = output.format().flags().contains(format::Flags::GLOBAL_HEADER);

        let h264 = encoder::find_by_name("libx264").ok_or(ffmpeg::Error::EncoderNotFound)?;
        let mut stream = output.add_stream(h264)?;
        let video_stream = stream.index();
        let video = open_video(settings, &settings.preset, global_header)?;
        let extradata = extradata_of(&video);
        stream.set_parameters(&video);
        stream.set_time_base(VIDEO_TIME_BASE);

        let aac = encoder::find(codec::Id::AAC).ok_or(ffmpeg::Error::EncoderNotFound)?;
        let mut stream = output.add_stream(aac)?;
        let audio_stream = stream.index();
        let mut audio = codec::context::Context::new_with_codec(aac).encoder().audio()?;
        audio.set_rate(SAMPLE_RATE as i32);
        audio.set_channel_layout(channels.layout());
        audio.set_format(format::Sample::F32(format::sample::Type::Planar));
        audio.set_bit_rate(channels.bit_rate());
        audio.set_time_base(Rational(1, SAMPLE_RATE as i32));
        if global_header {
            audio.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let audio = audio.open_as(aac)?;
        stream.set_parameters(&audio);
        stream.set_time_base(Rational(1, SAMPLE_RATE as i32));

        // The room for chapters, in moov/udta (see `chapters`).
        let mut metadata = Dictionary::new();
        metadata.set(chapters::RESERVE_KEY, &chapters::reserve_value());
        output.set_metadata(metadata);
        let mut mux = Dictionary::new();
        mux.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
        mux.set("flush_packets", "1");
        output.write_header_with(mux)?;
        // The header must be on disk before its box is patched through another handle.
        // SAFETY: the context is open and owns a valid AVIOContext after write_header.
        unsafe { ffmpeg::ffi::avio_flush((*output.as_mut_ptr()).pb) };
        let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
        let chapter_box = ChapterBox::locate(&mut file)?;
        chapter_box.write(&file, &[])?;
        Ok(Self {
            output,
            path: path.to_path_buf(),
            chapters: (file, chapter_box),
            video,
            video_stream,
            audio,
            audio_stream,
            channels,
            preset: settings.preset.clone(),
            settings: settings.clone(),
            crf: CRF,
            extradata,
            global_header,
            ticks: 0,
            written: None,
            samples: AAC_PRIMING,
        })
    }

    /// Rewrites the chapter list (start ms, title), in place; returns how many fit.
    pub fn set_chapters(&mut self, chapters: &[(u64, &str)]) -> Result<usize, WriteError> {
        Ok(self.chapters.1.write(&self.chapters.0, chapters)?)
    }

    /// The file's size on disk now.
    pub fn size_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Raises the quality floor while a screen share is on (text must stay legible:
    /// small glyphs on flat colour are what x264 blurs first at the camera's rate
    /// factor), and lowers it again after. The share changes little from frame to
    /// frame, so the better quality costs few bits.
    pub fn set_share_quality(&mut self, share: bool) {
        self.crf = if share { SHARE_CRF } else { CRF };
        set_crf(&mut self.video, self.crf);
    }

    /// Encodes `picture` (YUV420P at the configured size) as the output frame of
    /// `tick` (its time is `tick / fps`), a keyframe if asked. Frames are written only
    /// when the picture changed (a variable frame rate): a tick not written shows the
    /// frame before it for longer. Written ticks only move forward.
    pub fn write_video(&mut self, picture: &mut frame::Video, tick: u64, keyframe: bool) -> Result<(), WriteError> {
        debug_assert!(self.written.is_none_or(|w| tick > w), "frame of tick {tick} after {:?}", self.written);
        self.written = Some(tick);
        let pts = AAC_PRIMING * 90_000 / i64::from(SAMPLE_RATE) + tick as i64 * 90_000 / i64::from(self.settings.fps);
        picture.set_pts(Some(pts));
        // The canvas is reused: a keyframe's mark must not stick to the next picture.
        picture.set_kind(if keyframe { ffmpeg::picture::Type::I } else { ffmpeg::picture::Type::None });
        self.ticks = self.ticks.max(tick + 1);
        self.video.send_frame(picture)?;
        self.drain_video()
    }

    /// Output frame times up to `tick` passed with nothing new to show (the last
    /// frame lasts): the file's duration counts them.
    pub fn pass(&mut self, tick: u64) {
        self.ticks = self.ticks.max(tick + 1);
    }

    /// The x264 preset the encoder runs at now.
    pub fn preset(&self) -> &str {
        &self.preset
    }

    /// Whether an encoder at `preset` could go on in this file (see `change_preset`).
    pub fn accepts_preset(&self, preset: &str) -> bool {
        open_video(&self.settings, preset, self.global_header).is_ok_and(|fresh| extradata_of(&fresh) == self.extradata)
    }

    /// Re-opens the video encoder at `preset`, to run from the next frame, which must
    /// be a keyframe (the new encoder starts with one). Only an encoder whose H.264
    /// parameter sets are the very bytes of the file's header can go on in the same
    /// track (a preset that changes what `STEP_HEADER_PARAMS` does not hold, such as
    /// the reference count, cannot): false, and nothing changed, otherwise.
    pub fn change_preset(&mut self, preset: &str) -> Result<bool, WriteError> {
        if preset == self.preset {
            return Ok(true);
        }
        // Opened at the file's rate factor, whatever a share has it at now: x264's
        // picture parameter set starts from the rate factor (its initial QP), and
        // must be the file's. A share's finer one is set after, as `set_share_quality`
        // does mid-stream.
        let mut fresh = open_video(&self.settings, preset, self.global_header)?;
        if extradata_of(&fresh) != self.extradata {
            return Ok(false);
        }
        if self.crf != CRF {
            set_crf(&mut fresh, self.crf);
        }
        tracing::debug!(from = %self.preset, to = preset, "x264 preset changed at a keyframe");
        // Zero latency and no B-frames: nothing is held back, but what is goes first.
        self.video.send_eof()?;
        self.drain_video()?;
        self.video = fresh;
        self.preset = preset.to_string();
        Ok(true)
    }

    /// The next AUDIO_FRAME samples of interleaved stereo f32 (the mixer's output).
    pub fn write_audio(&mut self, interleaved: &[f32]) -> Result<(), WriteError> {
        let n = interleaved.len() / 2;
        let mut samples = frame::Audio::new(format::Sample::F32(format::sample::Type::Planar), n, self.channels.layout());
        samples.set_rate(SAMPLE_RATE);
        match self.channels {
            AudioChannels::Stereo => {
                for ch in 0..2 {
                    let plane = samples.plane_mut::<f32>(ch);
                    for (i, s) in plane.iter_mut().enumerate() {
                        *s = interleaved[2 * i + ch];
                    }
                }
            }
            AudioChannels::Mono => {
                // The usual downmix: a microphone's two equal channels give it back
                // as it was, and nothing can clip (the mix is limited already).
                let plane = samples.plane_mut::<f32>(0);
                for (i, s) in plane.iter_mut().enumerate() {
                    *s = 0.5 * (interleaved[2 * i] + interleaved[2 * i + 1]);
                }
            }
        }
        samples.set_pts(Some(self.samples));
        self.samples += n as i64;
        self.audio.send_frame(&samples)?;
        self.drain_audio()
    }

    /// Flushes the encoders and writes the last fragment and the index.
    pub fn finish(mut self) -> Result<(), WriteError> {
        self.video.send_eof()?;
        self.drain_video()?;
        self.audio.send_eof()?;
        self.drain_audio()?;
        Ok(self.output.write_trailer()?)
    }

    /// The file's duration so far (priming included), ms.
    pub fn duration_ms(&self) -> u64 {
        START_MS + (self.ticks * 1000) / u64::from(self.settings.fps)
    }

    /// Audio samples (per channel) written so far.
    #[cfg(test)]
    pub fn samples(&self) -> i64 {
        self.samples - AAC_PRIMING
    }

    fn drain_video(&mut self) -> Result<(), WriteError> {
        let time_base = self.output.stream(self.video_stream).expect("added").time_base();
        let mut packet = Packet::empty();
        while self.video.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.video_stream);
            // A frame lasts until the next one; the muxer knows that for all but the
            // file's last, which must not take the gap before it (seconds, when the
            // picture was still) but one frame's time.
            if packet.duration() == 0 {
                packet.set_duration(90_000 / i64::from(self.settings.fps));
            }
            packet.rescale_ts(VIDEO_TIME_BASE, time_base);
            packet.write_interleaved(&mut self.output)?;
        }
        Ok(())
    }

    fn drain_audio(&mut self) -> Result<(), WriteError> {
        let time_base = self.output.stream(self.audio_stream).expect("added").time_base();
        let mut packet = Packet::empty();
        while self.audio.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.audio_stream);
            packet.rescale_ts(Rational(1, SAMPLE_RATE as i32), time_base);
            packet.write_interleaved(&mut self.output)?;
        }
        Ok(())
    }
}

/// A libx264 encoder for `settings` at `preset`, at the camera's rate factor.
fn open_video(settings: &VideoSettings, preset: &str, global_header: bool) -> Result<encoder::Video, WriteError> {
    let h264 = encoder::find_by_name("libx264").ok_or(ffmpeg::Error::EncoderNotFound)?;
    let mut video = codec::context::Context::new_with_codec(h264).encoder().video()?;
    video.set_width(settings.width);
    video.set_height(settings.height);
    video.set_format(format::Pixel::YUV420P);
    video.set_time_base(VIDEO_TIME_BASE);
    video.set_frame_rate(Some(Rational(settings.fps as i32, 1)));
    // Keyframes are asked for, one at the start of every second of the file (each
    // starts a fragment, so a cut-off file loses at most the fragment in progress, and
    // the highlight reel cuts on them). x264 counts frames, not time, and with a
    // variable frame rate a second holds from 1 to fps of them: its own interval must
    // never come first.
    video.set_gop(settings.fps.saturating_mul(4).max(4));
    video.set_max_b_frames(0);
    if global_header {
        video.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut options = Dictionary::new();
    options.set("preset", preset);
    if preset == settings.preset {
        options.set("x264-params", settings.coder.x264_param());
    } else {
        // A step to another preset within the file: what its H.264 headers say (the
        // entropy coder, the 8x8 transform, weighted prediction, one reference) stays
        // the file's, the rest is the faster preset's. `change_preset` checks the
        // headers came out the same.
        options.set("x264-params", &format!("{}:{STEP_HEADER_PARAMS}", settings.coder.x264_param()));
    }
    options.set("tune", "zerolatency");
    // Said explicitly (x264's default), so that `set_share_quality` can change it
    // mid-stream: libx264 reconfigures when the option differs from its own.
    options.set("crf", &CRF.to_string());
    options.set("forced-idr", "1");
    // No extra keyframes at scene changes (a speaker switch is one): keyframes stay
    // exactly one a second, where the highlight reel can cut without re-encoding.
    options.set("sc_threshold", "0");
    // One thread: a recorder shares the machine with other recordings and the SFU, and
    // x264's slice threads cost a wake-up of every thread for every frame (the kernel
    // was 17 % of the compositor's time) for a latency nobody waits for here.
    options.set("threads", "1");
    Ok(video.open_with(options)?)
}

/// Changes an open encoder's rate factor from its next frame: libx264 reconfigures
/// when the option differs from its own, and keeps its parameter sets.
fn set_crf(video: &mut encoder::Video, crf: u32) {
    let value = std::ffi::CString::new(crf.to_string()).expect("digits");
    // SAFETY: the codec context is open and its priv_data is libx264's option struct,
    // which has the "crf" option; av_opt_set copies the value.
    let ret = unsafe { ffmpeg::ffi::av_opt_set((*video.as_mut_ptr()).priv_data, c"crf".as_ptr(), value.as_ptr(), 0) };
    if ret < 0 {
        tracing::warn!("cannot change the encoder's quality for a screen share: {}", ffmpeg::Error::from(ret));
    }
}

/// The encoder's global header (SPS and PPS).
fn extradata_of(video: &encoder::Video) -> Vec<u8> {
    // SAFETY: an open encoder's context; extradata is extradata_size bytes or null.
    unsafe {
        let ctx = video.as_ptr();
        if (*ctx).extradata.is_null() || (*ctx).extradata_size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts((*ctx).extradata, (*ctx).extradata_size as usize).to_vec()
    }
}

/// Cuts a recording whose writing stopped part-way through a box (a full disk, a kill)
/// back to its last whole box, unless that part is media data. FFmpeg's reader takes a
/// file whose last `mdat` is cut short (it plays the samples that are there), but not
/// one whose last `moof` is: it refuses the whole file ("error reading header"). A
/// fragment's header is a few hundred bytes of its second of media, so about one cut in
/// a hundred falls there. Cutting needs no space on a full disk. Returns the bytes cut.
pub fn trim_partial_box(path: &Path) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut pos = 0u64;
    while pos < len {
        let mut head = [0u8; 16];
        file.seek(SeekFrom::Start(pos))?;
        let got = file.read(&mut head)?;
        let size = match got {
            n if n < 8 => None,
            _ => match u32::from_be_bytes(head[0..4].try_into().expect("4 bytes")) {
                1 if got >= 16 => Some(u64::from_be_bytes(head[8..16].try_into().expect("8 bytes"))),
                1 => None,
                // Runs to the end of the file: whole by definition.
                0 => Some(len - pos),
                n => Some(u64::from(n)),
            },
        };
        match size {
            Some(size) if size >= 8 && pos + size <= len => pos += size,
            // A box that is not whole. Its samples are the media: kept, for what of
            // them is there.
            _ if got >= 8 && &head[4..8] == b"mdat" => return Ok(0),
            _ => {
                file.set_len(pos)?;
                file.sync_all()?;
                return Ok(len - pos);
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn solid(width: u32, height: u32, yuv: [u8; 3]) -> frame::Video {
        let mut f = frame::Video::new(format::Pixel::YUV420P, width, height);
        for (plane, value) in yuv.iter().enumerate() {
            f.data_mut(plane).fill(*value);
        }
        f
    }

    fn ffprobe(path: &Path, args: &[&str]) -> String {
        let out = Command::new("ffprobe").args(["-v", "error"]).args(args).arg(path).output().expect("ffprobe");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn write_seconds(w: &mut Mp4Writer, seconds: u32) {
        let fps = u64::from(w.settings.fps);
        for _ in 0..u64::from(seconds) * fps {
            // Red for the first second, then blue.
            let tick = w.ticks;
            let mut picture = if tick < fps { solid(320, 180, [81, 90, 240]) } else { solid(320, 180, [41, 240, 110]) };
            w.write_video(&mut picture, tick, tick % fps == 0).unwrap();
            audio_until(w, tick + 1);
        }
    }

    /// Audio up to the time of output frame `tick`.
    fn audio_until(w: &mut Mp4Writer, tick: u64) {
        let tone: Vec<f32> = (0..AUDIO_FRAME * 2).map(|i| 0.3 * ((i / 2) as f32 * 0.0575).sin()).collect();
        let fps = u64::from(w.settings.fps);
        while (w.samples() as u64) * fps < tick * u64::from(SAMPLE_RATE) {
            w.write_audio(&tone).unwrap();
        }
    }

    fn settings() -> VideoSettings {
        VideoSettings { width: 320, height: 180, fps: 30, preset: "veryfast".into(), coder: Default::default() }
    }

    #[test]
    fn writes_h264_and_aac_that_ffprobe_reads() {
        let path = std::env::temp_dir().join(format!("podium-mp4-{}.mp4", std::process::id()));
        let mut w = Mp4Writer::create(&path, &settings(), AudioChannels::Stereo).unwrap();
        write_seconds(&mut w, 3);
        w.finish().unwrap();
        let codecs = ffprobe(&path, &["-show_entries", "stream=codec_name", "-of", "csv=p=0"]);
        assert_eq!(codecs.lines().collect::<Vec<_>>(), ["h264", "aac"]);
        let duration: f64 = ffprobe(&path, &["-show_entries", "format=duration", "-of", "csv=p=0"]).parse().unwrap();
        assert!((duration - 3.0).abs() < 0.1, "duration {duration}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_mono_track_carries_both_sides_of_the_mix_and_a_stereo_one_keeps_them_apart() {
        // The mix's left side a 440 Hz tone, its right 660 Hz (a stereo share's sound).
        let mix: Vec<f32> = (0..AUDIO_FRAME * 47)
            .flat_map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                [0.3 * (std::f32::consts::TAU * 440.0 * t).sin(), 0.3 * (std::f32::consts::TAU * 660.0 * t).sin()]
            })
            .collect();
        for (channels, count) in [(AudioChannels::Mono, "1"), (AudioChannels::Stereo, "2")] {
            let path = std::env::temp_dir().join(format!("podium-mp4-{}-{}.mp4", channels.name(), std::process::id()));
            let mut w = Mp4Writer::create(&path, &settings(), channels).unwrap();
            for tick in 0..30 {
                w.write_video(&mut solid(320, 180, [81, 90, 240]), tick, tick == 0).unwrap();
            }
            for frame in mix.chunks(AUDIO_FRAME * 2) {
                w.write_audio(frame).unwrap();
            }
            w.finish().unwrap();
            assert_eq!(ffprobe(&path, &["-select_streams", "a", "-show_entries", "stream=channels", "-of", "csv=p=0"]), count, "{channels:?}");
            let (rate, mono) = crate::review::probe::audio_mono(&path).unwrap();
            let middle = &mono[rate as usize / 4..rate as usize * 3 / 4];
            for hz in [440.0, 660.0] {
                let power = crate::review::probe::tone_power(middle, rate, hz);
                // (A 0.3 sine alone is 0.0225; folded to mono, 0.0056.)
                assert!(power > 0.003, "{channels:?}: the {hz} Hz side is missing ({power})");
            }
            if channels == AudioChannels::Stereo {
                // Each side on its own: a track that carried the folded mix twice would
                // pass the check above, but not this one.
                for (side, (here, other)) in [(440.0, 660.0), (660.0, 440.0)].into_iter().enumerate() {
                    let samples = one_side(&path, side);
                    let rate = SAMPLE_RATE;
                    let middle = &samples[rate as usize / 4..rate as usize * 3 / 4];
                    let (here, other) = (crate::review::probe::tone_power(middle, rate, here), crate::review::probe::tone_power(middle, rate, other));
                    assert!(here > 0.015 && other < here / 20.0, "side {side}: its own tone {here}, the other's {other}");
                }
            }
            let _ = std::fs::remove_file(path);
        }
    }

    /// One side of a stereo track as 48 kHz f32 samples, read back by the ffmpeg tool.
    fn one_side(path: &Path, side: usize) -> Vec<f32> {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-af", &format!("pan=mono|c0=c{side}"), "-ar", &SAMPLE_RATE.to_string(), "-f", "f32le", "-"])
            .output()
            .expect("ffmpeg");
        assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }

    fn chapters_of(path: &Path) -> Vec<(String, String)> {
        let out = ffprobe(path, &["-show_entries", "chapter=start_time:chapter_tags=title", "-of", "csv=p=0"]);
        out.lines().filter_map(|l| l.split_once(',')).map(|(t, n)| (t.to_string(), n.to_string())).collect()
    }

    #[test]
    fn chapters_written_as_it_goes_are_listed_in_a_finished_and_in_a_cut_off_file() {
        let path = std::env::temp_dir().join(format!("podium-mp4-chapters-{}.mp4", std::process::id()));
        let mut w = Mp4Writer::create(&path, &settings(), AudioChannels::Stereo).unwrap();
        write_seconds(&mut w, 2);
        assert_eq!(w.set_chapters(&[(0, "Ada Lovelace"), (1200, "Grace")]).unwrap(), 2);
        write_seconds(&mut w, 2);
        assert_eq!(chapters_of(&path), [("0.000000".into(), "Ada Lovelace".into()), ("1.200000".into(), "Grace".into())], "listed while still recording");
        w.set_chapters(&[(0, "Ada Lovelace"), (1200, "Grace"), (3000, "Zoë")]).unwrap();
        w.finish().unwrap();
        let listed = chapters_of(&path);
        assert_eq!(listed.len(), 3, "{listed:?}");
        assert_eq!(listed[2], ("3.000000".into(), "Zoë".into()));
        // The reserving tag never reaches the file's metadata.
        let tags = ffprobe(&path, &["-show_entries", "format_tags", "-of", "flat"]);
        assert!(!tags.contains("podium chapters"), "{tags}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_file_cut_off_without_finishing_still_plays() {
        let path = std::env::temp_dir().join(format!("podium-mp4-cut-{}.mp4", std::process::id()));
        let mut w = Mp4Writer::create(&path, &settings(), AudioChannels::Stereo).unwrap();
        write_seconds(&mut w, 4);
        // As a kill would: no encoder flush, no trailer, nothing more written.
        std::mem::forget(w);
        let frames = ffprobe(&path, &["-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"]);
        let frames: u32 = frames.parse().unwrap_or_else(|_| panic!("ffprobe could not read the cut file: {frames:?}"));
        // Whole fragments are on disk: all but (at most) the last second of 4.
        assert!(frames >= 3 * 30 - 1, "only {frames} frames readable");
        let _ = std::fs::remove_file(path);
    }

    /// (time, keyframe) of every video frame in the file, by ffprobe.
    fn video_frames(path: &Path) -> Vec<(f64, bool)> {
        let out = ffprobe(path, &["-select_streams", "v:0", "-show_entries", "frame=pts_time,key_frame", "-of", "csv=p=0"]);
        // Lines are "key_frame,pts_time" (with a trailing field for side data, and blank
        // lines between frames in some ffprobe versions).
        out.lines().filter_map(|l| {
            let mut fields = l.split(',');
            let (k, t) = (fields.next()?, fields.next()?);
            Some((t.parse().unwrap_or_else(|_| panic!("ffprobe said {l:?}")), k == "1"))
        }).collect()
    }

    #[test]
    fn a_still_picture_is_written_once_a_second_as_a_keyframe_and_the_file_keeps_its_length() {
        let path = std::env::temp_dir().join(format!("podium-mp4-vfr-{}.mp4", std::process::id()));
        let mut w = Mp4Writer::create(&path, &settings(), AudioChannels::Stereo).unwrap();
        let (fps, mut changed) = (30, Vec::new());
        for tick in 0..3 * fps {
            // Red, blue from 1.5 s: one change; else only each second's keyframe.
            let keyframe = tick % fps == 0;
            let new = tick == 45;
            if keyframe || new {
                let mut picture = if tick < 45 { solid(320, 180, [81, 90, 240]) } else { solid(320, 180, [41, 240, 110]) };
                w.write_video(&mut picture, tick, keyframe).unwrap();
                changed.push(tick);
            } else {
                w.pass(tick);
            }
            audio_until(&mut w, tick + 1);
        }
        // The last frame is written, so that the file lasts to its end.
        let mut last = solid(320, 180, [41, 240, 110]);
        w.write_video(&mut last, 3 * fps, false).unwrap();
        assert_eq!(w.duration_ms(), START_MS + 3033);
        w.finish().unwrap();
        let frames = video_frames(&path);
        let start = START_US as f64 / 1e6;
        let expected: Vec<(f64, bool)> = [(0.0, true), (1.0, true), (1.5, false), (2.0, true), (3.0, false)].iter().map(|(t, k)| (t + start, *k)).collect();
        assert_eq!(frames.len(), expected.len(), "{frames:?}");
        // (ffprobe puts the first frame at 0: the file's edit list starts there.)
        assert!(frames[0].1 && frames[0].0 <= start + 0.002, "{frames:?}");
        for ((t, k), (et, ek)) in frames.iter().zip(&expected).skip(1) {
            assert!((t - et).abs() < 0.002 && k == ek, "{frames:?} against {expected:?}");
        }
        let duration: f64 = ffprobe(&path, &["-show_entries", "format=duration", "-of", "csv=p=0"]).parse().unwrap();
        assert!((duration - 3.05).abs() < 0.06, "duration {duration}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_preset_whose_headers_differ_cannot_take_over() -> Result<(), WriteError> {
        let path = std::env::temp_dir().join(format!("podium-mp4-preset-refused-{}.mp4", std::process::id()));
        // faster uses two reference frames: its sequence header says so.
        let mut w = Mp4Writer::create(&path, &VideoSettings { preset: "faster".into(), ..settings() }, AudioChannels::Mono)?;
        assert!(!w.accepts_preset("veryfast"));
        assert!(!w.change_preset("veryfast")?);
        assert_eq!(w.preset(), "faster");
        write_seconds(&mut w, 1);
        w.finish()?;
        let _ = std::fs::remove_file(path);
        Ok(())
    }

    #[test]
    fn a_faster_preset_takes_over_while_a_share_raises_the_quality() -> Result<(), WriteError> {
        let path = std::env::temp_dir().join(format!("podium-mp4-preset-share-{}.mp4", std::process::id()));
        let mut w = Mp4Writer::create(&path, &VideoSettings { preset: "superfast".into(), ..settings() }, AudioChannels::Mono)?;
        w.set_share_quality(true);
        write_seconds(&mut w, 1);
        // The file's header was written at the camera's rate factor; the step must not
        // need another one.
        assert!(w.accepts_preset("ultrafast"));
        assert!(w.change_preset("ultrafast")?);
        write_seconds(&mut w, 1);
        w.set_share_quality(false);
        write_seconds(&mut w, 1);
        w.finish()?;
        let out = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
        assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(video_frames(&path).len(), 90);
        let _ = std::fs::remove_file(path);
        Ok(())
    }

    /// The H.264 picture parameter set's entropy_coding_mode_flag (true: CABAC) in the
    /// encoder's header (Annex B), where both ids are 0, as x264 writes them.
    fn cabac_in(extradata: &[u8]) -> bool {
        let at = extradata.windows(4).position(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 8).expect("a picture parameter set");
        let first = extradata[at + 4];
        assert_eq!(first & 0xc0, 0xc0, "pic_parameter_set_id and seq_parameter_set_id are 0");
        first & 0x20 != 0
    }

    #[test]
    fn a_faster_preset_takes_over_at_a_keyframe_when_its_parameter_sets_match() -> Result<(), WriteError> {
        for coder in [EntropyCoder::Cavlc, EntropyCoder::Cabac] {
            let path = std::env::temp_dir().join(format!("podium-mp4-preset-{}-{}.mp4", coder.name(), std::process::id()));
            let mut w = Mp4Writer::create(&path, &VideoSettings { preset: "superfast".into(), coder, ..settings() }, AudioChannels::Mono)?;
            assert_eq!(cabac_in(&w.extradata), coder == EntropyCoder::Cabac, "{coder:?}");
            write_seconds(&mut w, 1);
            // ultrafast, keeping the file's entropy coder, 8x8 transform and weighted
            // prediction.
            assert!(w.accepts_preset("ultrafast"), "{coder:?}");
            assert!(w.change_preset("ultrafast").unwrap());
            assert_eq!(w.preset(), "ultrafast");
            write_seconds(&mut w, 2);
            w.finish().unwrap();
            // Every frame decodes, with no complaint from the decoder.
            let out = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
            assert!(out.status.success() && out.stderr.is_empty(), "{coder:?}: {}", String::from_utf8_lossy(&out.stderr));
            let frames = video_frames(&path);
            assert_eq!(frames.len(), 90);
            assert_eq!(frames.iter().filter(|(_, k)| *k).count(), 3, "one keyframe a second");
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }
}

#[cfg(test)]
mod trim_tests {
    use super::trim_partial_box;

    fn boxed(kind: &[u8; 4], body: usize) -> Vec<u8> {
        let mut b = ((body + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.resize(body + 8, 0);
        b
    }

    fn trimmed(bytes: &[u8]) -> (u64, usize) {
        let path = std::env::temp_dir().join(format!("podium-trim-{}.mp4", uuid_like()));
        std::fs::write(&path, bytes).unwrap();
        let cut = trim_partial_box(&path).unwrap();
        let left = std::fs::metadata(&path).unwrap().len() as usize;
        std::fs::remove_file(&path).unwrap();
        (cut, left)
    }

    fn uuid_like() -> String {
        format!("{}-{:?}", std::process::id(), std::thread::current().id()).replace(['(', ')'], "")
    }

    #[test]
    fn a_fragment_header_cut_short_is_cut_off_and_media_cut_short_is_kept() {
        let whole: Vec<u8> = [boxed(b"ftyp", 20), boxed(b"moov", 100), boxed(b"moof", 50), boxed(b"mdat", 400)].concat();
        assert_eq!(trimmed(&whole), (0, whole.len()), "a whole file is left alone");
        let moof = boxed(b"moof", 50);
        let cut_in_moof = [whole.clone(), moof[..30].to_vec()].concat();
        assert_eq!(trimmed(&cut_in_moof), (30, whole.len()), "a fragment header cut short goes");
        let cut_in_head = [whole.clone(), moof[..5].to_vec()].concat();
        assert_eq!(trimmed(&cut_in_head), (5, whole.len()), "so does a box's head cut short");
        let mdat = boxed(b"mdat", 400);
        let cut_in_mdat = [whole.clone(), moof.clone(), mdat[..100].to_vec()].concat();
        assert_eq!(trimmed(&cut_in_mdat), (0, cut_in_mdat.len()), "media cut short is kept: what is there plays");
        let mut garbage = whole.clone();
        garbage.extend_from_slice(&[0, 0, 0, 3, b'x', b'x', b'x', b'x']);
        assert_eq!(trimmed(&garbage), (8, whole.len()), "a box size that cannot be goes");
    }
}

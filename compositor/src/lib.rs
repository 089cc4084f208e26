//! Podium's compositor: per recording, it receives the active speaker's video and every
//! participant's audio as RTP, and writes one fragmented mp4 (H.264 + AAC).
//!
//! The sans-IO pieces (fed bytes, samples and times; no threads; tested with a fake
//! clock) come first: RTP parsing (`rtp`), reordering (`jitter`), depacketizing
//! (`depacketize`), the audio mix with its limiter (`mixer`) and the speaker turns that
//! become chapters (`timeline`). Decoding, composing and muxing with FFmpeg, and the
//! process around them, build on these.

pub mod chapters;
pub mod clock;
pub mod compose;
pub mod control;
pub mod cutter;
pub mod decode;
pub mod depacketize;
pub mod engine;
pub mod highlights;
pub mod jitter;
pub mod mixer;
pub mod mp4;
pub mod probe;
pub mod reel;
pub mod process;
pub mod rtp;
pub mod sidecar;
pub mod stage;
pub mod synth;
pub mod timeline;
pub mod vtt;

/// Initializes FFmpeg's libraries once (idempotent), with their log at errors only: the
/// encoders' banners and per-fragment notes are noise in a server's log.
pub fn init_ffmpeg() -> Result<(), ffmpeg_next::Error> {
    ffmpeg_next::init()?;
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    Ok(())
}

/// Versions of the FFmpeg libraries this build runs against, for logs and diagnostics.
pub fn ffmpeg_versions() -> String {
    fn v(n: u32) -> String {
        format!("{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff)
    }
    format!(
        "avcodec {}, avformat {}, avutil {}",
        v(ffmpeg_next::codec::version()),
        v(ffmpeg_next::format::version()),
        v(ffmpeg_next::util::version())
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_against_ffmpeg_5_1() {
        // Debian 12's FFmpeg 5.1 ships libavcodec 59 and libavformat 59.
        let versions = super::ffmpeg_versions();
        assert!(versions.starts_with("avcodec 59."), "{versions}");
        assert!(versions.contains("avformat 59."), "{versions}");
    }
}

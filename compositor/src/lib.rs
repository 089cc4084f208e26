//! Podium's compositor: per recording, it receives every participant's camera and
//! audio as RTP, and writes one fragmented mp4 (H.264 + AAC) that follows the speaker.
//!
//! The folders are its layers, in the order a packet goes through them:
//! - `input`: RTP in, reordered, reassembled, decoded and placed on the recording's clock;
//! - `picture`: what each output frame shows (the stage, the layout, the composed
//!   picture);
//! - `sound`: the mix;
//! - `output`: the mp4 with its chapters from the speaker turns, and the sidecar;
//! - `review`: what works on a finished recording (probe, highlights, the reel, the
//!   WebVTT speaker track).
//!
//! `engine` conducts one recording (sans-IO: fed datagrams, control lines and times),
//! `process` is the IO around it, `control` the protocol with the server, and `synth`
//! makes synthetic participants for tests and benchmarks.

pub mod control;
pub mod input;
pub mod output;
pub mod picture;
pub mod review;
pub(crate) mod sound;

pub mod engine;
pub mod process;
#[cfg(any(test, feature = "testing"))]
pub mod synth;

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

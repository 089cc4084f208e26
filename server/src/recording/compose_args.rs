//! The `podium compose` command line, both ways: its parser ([`ComposeArgs`], which the
//! CLI mounts as a subcommand) and the argument list the recorder starts it with
//! ([`command_line`]), side by side so that they cannot drift apart.
use super::size::RecordingSize;
use super::RecordingId;
use clap::builder::TypedValueParser;
use clap::Args;
use compositor::output::mp4::{AudioChannels, EntropyCoder, VideoSettings};
use compositor::picture::layout::LayoutKind;
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The x264 presets, fastest first.
pub const PRESETS: [&str; 9] = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"];

/// The recording's picture, sound and timing: `--recording-size`, `--recording-fps`,
/// `--recording-preset`, `--recording-coder`, `--recording-audio`, `--recording-lookahead-ms` (shared by
/// `serve`, which passes them on, and `compose`).
#[derive(Debug, Clone, Args)]
pub struct RecordingVideoArgs {
    /// Size of the recording's picture, WIDTHxHEIGHT (even numbers, 160x90 to 3840x2160).
    #[arg(long = "recording-size", env = "PODIUM_RECORDING_SIZE", default_value = "1280x720", value_name = "WxH")]
    pub size: RecordingSize,

    /// Frames per second of the recording (1 to 60).
    #[arg(long = "recording-fps", env = "PODIUM_RECORDING_FPS", default_value_t = 30, value_name = "FPS",
          value_parser = clap::value_parser!(u32).range(1..=60))]
    pub fps: u32,

    /// libx264 preset: faster presets cost less CPU for a larger file. superfast by
    /// default: on what a recording shows (upscaled cameras, cards, screens) it matches
    /// veryfast's quality (SSIM) for two thirds of the encoding's CPU and a fifth more
    /// bytes (docs/benchmarks.md).
    #[arg(long = "recording-preset", env = "PODIUM_RECORDING_PRESET", default_value = "superfast", value_name = "PRESET",
          value_parser = clap::builder::PossibleValuesParser::new(PRESETS))]
    pub preset: String,

    /// H.264's entropy coder: cavlc (the default: x264 spends about 9 % less time, for
    /// a sixth to a fifth more bytes) or cabac (the smaller file). Up to veryfast the
    /// picture is the same.
    #[arg(long = "recording-coder", env = "PODIUM_RECORDING_CODER", default_value = "cavlc", value_name = "CODER",
          value_parser = clap::builder::PossibleValuesParser::new(EntropyCoder::NAMES).map(|s| s.parse::<EntropyCoder>().expect("a listed value")))]
    pub coder: EntropyCoder,

    /// The sound's channels: mono (the default; microphones are mono, and a stereo
    /// track of them costs twice the bits and 2.5 times the AAC encoding) or stereo
    /// (keeps a screen share's stereo sound apart).
    #[arg(long = "recording-audio", env = "PODIUM_RECORDING_AUDIO", default_value = "mono", value_name = "CHANNELS",
          value_parser = clap::builder::PossibleValuesParser::new(AudioChannels::NAMES).map(|s| s.parse::<AudioChannels>().expect("a listed value")))]
    pub audio: AudioChannels,

    /// How far the recording runs behind real time, in ms. Within it, a cut moves back
    /// to where the turn began (the speaker's first word): the detector is sure about
    /// 0.8 s after it. Also what a kill -9 loses, besides the last fragment (1 s).
    #[arg(long = "recording-lookahead-ms", env = "PODIUM_RECORDING_LOOKAHEAD_MS", default_value_t = compositor::engine::DEFAULT_LOOKAHEAD.as_millis() as u64,
          value_name = "MS", value_parser = clap::value_parser!(u64).range(compositor::engine::MIN_LOOKAHEAD.as_millis() as u64..=5000))]
    pub lookahead_ms: u64,
}

impl RecordingVideoArgs {
    pub fn settings(&self) -> VideoSettings {
        VideoSettings { width: self.size.width(), height: self.size.height(), fps: self.fps, preset: self.preset.clone(), coder: self.coder }
    }

    pub fn lookahead(&self) -> Duration {
        Duration::from_millis(self.lookahead_ms)
    }
}

#[derive(Debug, Clone, Args)]
pub struct ComposeArgs {
    /// The mp4 to write (created; an existing file is replaced).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// The sidecar JSON to keep beside it.
    #[arg(long, value_name = "FILE")]
    pub sidecar: PathBuf,
    /// The recording's id, for the sidecar and logs.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// The room's id, for the sidecar and the waiting card.
    #[arg(long, value_name = "ROOM")]
    pub room: String,
    /// The address to bind the RTP port on (the server's PlainTransport sends there).
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub bind: IpAddr,
    /// The server's transport: the only address whose datagrams are read, and where
    /// keyframe requests go (the recorder always passes it). Without it, anyone who can
    /// reach the port is heard.
    #[arg(long, value_name = "IP:PORT")]
    pub peer: Option<SocketAddr>,
    /// The layout the recording starts with: speaker, speaker-strip or grid.
    #[arg(long, default_value = "speaker", value_name = "LAYOUT",
          value_parser = clap::builder::PossibleValuesParser::new(LayoutKind::NAMES).map(|s| s.parse::<LayoutKind>().expect("a listed layout")))]
    pub layout: LayoutKind,
    /// The font of the name labels and cards.
    #[arg(long, default_value = compositor::picture::compose::DEFAULT_FONT, value_name = "FILE")]
    pub font: String,
    #[command(flatten)]
    pub video: RecordingVideoArgs,
}

/// What the recorder starts a compositor with.
pub struct ComposeInvocation<'a> {
    pub id: &'a str,
    pub room: &'a str,
    pub output: &'a Path,
    pub sidecar: &'a Path,
    pub video: &'a VideoSettings,
    pub audio: AudioChannels,
    pub lookahead: Duration,
    pub layout: LayoutKind,
    pub bind: IpAddr,
    /// The server's transport, which the compositor hears alone.
    pub peer: SocketAddr,
}

/// The arguments of `podium compose` for `o`, in the form [`ComposeArgs`] parses.
pub fn command_line(o: &ComposeInvocation<'_>) -> Vec<OsString> {
    // A value that may start with `-` (a room named `-h`, a folder named `-out`) is
    // joined to its flag: given apart, the parser would take it for a flag.
    let joined = |flag: &str, value: &std::ffi::OsStr| {
        let mut arg = OsString::from(flag);
        arg.push("=");
        arg.push(value);
        arg
    };
    let mut args: Vec<OsString> = vec!["compose".into(), "--id".into(), o.id.into(), joined("--room", o.room.as_ref()), "--layout".into(), o.layout.name().into()];
    args.extend([joined("--output", o.output.as_os_str()), joined("--sidecar", o.sidecar.as_os_str())]);
    args.extend(
        [
            "--recording-size".to_string(),
            format!("{}x{}", o.video.width, o.video.height),
            "--recording-fps".into(),
            o.video.fps.to_string(),
            "--recording-preset".into(),
            o.video.preset.clone(),
            "--recording-coder".into(),
            o.video.coder.name().into(),
            "--recording-audio".into(),
            o.audio.name().into(),
            "--recording-lookahead-ms".into(),
            o.lookahead.as_millis().to_string(),
            "--bind".into(),
            o.bind.to_string(),
            "--peer".into(),
            o.peer.to_string(),
        ]
        .map(OsString::from),
    );
    args
}

#[derive(Debug, thiserror::Error)]
#[error("invalid value '{value}' for '{flag}': {why}")]
pub struct ComposeArgsError {
    pub flag: &'static str,
    pub value: String,
    pub why: &'static str,
}

impl ComposeArgs {
    pub fn into_config(self) -> Result<(compositor::engine::Config, compositor::process::Udp), ComposeArgsError> {
        if !RecordingId::is_valid(&self.id) {
            return Err(ComposeArgsError { flag: "--id", value: self.id, why: "not a recording id (YYYYMMDD-HHMMSS-xxxxxx)" });
        }
        if let Some(peer) = self.peer {
            if peer.port() == 0 || peer.is_ipv4() != self.bind.is_ipv4() {
                return Err(ComposeArgsError { flag: "--peer", value: peer.to_string(), why: "not an address the --bind socket can reach (a port, and the same IP version)" });
            }
        }
        let config = compositor::engine::Config {
            id: self.id,
            room: self.room,
            output: self.output,
            sidecar: self.sidecar,
            video: self.video.settings(),
            audio: self.video.audio,
            font: self.font,
            layout: self.layout,
            lookahead: self.video.lookahead(),
        };
        Ok((config, compositor::process::Udp { bind: self.bind, peer: self.peer }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ComposeArgs,
    }

    #[test]
    fn the_command_line_parses_back_into_the_same_settings() {
        let video = VideoSettings { width: 640, height: 360, fps: 15, preset: "ultrafast".into(), coder: EntropyCoder::Cabac };
        let o = ComposeInvocation { id: "20261203-101500-abcdef", room: "-h", output: Path::new("-out/x.mp4"), sidecar: Path::new("-out/x.json"), video: &video, audio: AudioChannels::Stereo, lookahead: Duration::from_millis(1700), layout: LayoutKind::Grid, bind: "127.0.0.1".parse().unwrap(), peer: "127.0.0.1:40000".parse().unwrap() };
        let mut argv = command_line(&o);
        assert_eq!(argv.remove(0), "compose");
        argv.insert(0, "compose".into());
        let parsed = Wrapper::try_parse_from(argv).unwrap().args;
        let (config, udp) = parsed.into_config().unwrap();
        assert_eq!((config.video.width, config.video.height, config.video.fps, config.video.preset.as_str()), (640, 360, 15, "ultrafast"));
        assert_eq!(config.video.coder, EntropyCoder::Cabac);
        assert_eq!((config.id.as_str(), config.room.as_str(), udp.bind.to_string().as_str()), ("20261203-101500-abcdef", "-h", "127.0.0.1"));
        assert_eq!((config.output.as_path(), config.sidecar.as_path()), (Path::new("-out/x.mp4"), Path::new("-out/x.json")), "a value starting with - is the value");
        assert_eq!(udp.peer, Some("127.0.0.1:40000".parse().unwrap()));
        for peer in ["127.0.0.1:0", "[::1]:40000"] {
            let argv = ["compose", "--id", "20261203-101500-abcdef", "--room", "r", "--output", "x.mp4", "--sidecar", "x.json", "--peer", peer];
            let Err(err) = Wrapper::try_parse_from(argv).unwrap().args.into_config() else { panic!("{peer} accepted") };
            assert_eq!(err.flag, "--peer", "{peer}");
        }
        assert_eq!(config.lookahead, Duration::from_millis(1700));
        assert_eq!(config.layout, LayoutKind::Grid);
        assert_eq!(config.audio, AudioChannels::Stereo);
    }

    #[test]
    fn a_bad_recording_size_on_the_command_line_says_which_rule_it_breaks() {
        let argv = |size: &str| ["compose", "--id", "20261203-101500-abcdef", "--room", "r", "--output", "x.mp4", "--sidecar", "x.json", "--recording-size", size].map(String::from);
        let parsed = Wrapper::try_parse_from(argv("640x360")).unwrap().args;
        assert_eq!((parsed.video.size.width(), parsed.video.size.height()), (640, 360));
        let Err(err) = Wrapper::try_parse_from(argv("641x360")) else { panic!("an odd width accepted") };
        assert!(err.to_string().contains("the width and height must be even"), "{err}");
    }
}

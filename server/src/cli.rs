//! Command-line interface. Every flag has an environment fallback (PODIUM_*), and a
//! bad flag or value ends the process with a one-line error naming it and exit code 2.
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "podium", version, about = "Self-hosted meeting room and active-speaker recorder")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the meeting server: web UI, signaling, mediasoup workers and recorders.
    Serve(ServeArgs),
    /// Record one meeting into an mp4: the compositor process that `podium serve` starts
    /// for each recording. It binds a UDP port for RTP, reports it on stdout, and takes
    /// its control messages on stdin (JSON lines; see docs/architecture.md).
    Compose(ComposeArgs),
    /// Make the highlight reel of a recording (as the review page's button does), for
    /// recordings copied elsewhere: RECORDING.mp4 with its sidecar RECORDING.json beside it.
    Reel(ReelArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ReelArgs {
    /// The recording's mp4 (its sidecar, the same name ending in .json, beside it).
    #[arg(value_name = "RECORDING.mp4")]
    pub recording: PathBuf,
    /// The longest the reel may be, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(4..=3600))]
    pub max_seconds: u64,
    /// Where to write the reel (default: RECORDING.highlights.mp4); its list of clips goes
    /// beside it, ending in .json.
    #[arg(short = 'o', long, value_name = "OUT.mp4")]
    pub output: Option<PathBuf>,
}

/// The x264 presets, fastest first.
pub const PRESETS: [&str; 9] = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"];

/// The recording's picture: `--recording-size`, `--recording-fps`, `--recording-preset`.
#[derive(Debug, Clone, Args)]
pub struct RecordingVideoArgs {
    /// Size of the recording's picture, WIDTHxHEIGHT (even numbers, 160x90 to 3840x2160).
    #[arg(long = "recording-size", env = "PODIUM_RECORDING_SIZE", default_value = "1280x720", value_name = "WxH", value_parser = parse_size)]
    pub size: (u32, u32),

    /// Frames per second of the recording (1 to 60).
    #[arg(long = "recording-fps", env = "PODIUM_RECORDING_FPS", default_value_t = 30, value_name = "FPS",
          value_parser = clap::value_parser!(u32).range(1..=60))]
    pub fps: u32,

    /// libx264 preset: faster presets cost less CPU for a larger file.
    #[arg(long = "recording-preset", env = "PODIUM_RECORDING_PRESET", default_value = "veryfast", value_name = "PRESET",
          value_parser = clap::builder::PossibleValuesParser::new(PRESETS))]
    pub preset: String,
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
    /// The font of the name labels and cards.
    #[arg(long, default_value = compositor::compose::DEFAULT_FONT, value_name = "FILE")]
    pub font: String,
    #[command(flatten)]
    pub video: RecordingVideoArgs,
}

impl ComposeArgs {
    pub fn into_config(self) -> Result<(compositor::engine::Config, IpAddr), clap::Error> {
        if !crate::recording::RecordingId::is_valid(&self.id) {
            return Err(flag_error("--id", &self.id, "not a recording id (YYYYMMDD-HHMMSS-xxxxxx)"));
        }
        let config = compositor::engine::Config {
            id: self.id,
            room: self.room,
            output: self.output,
            sidecar: self.sidecar,
            video: compositor::mp4::VideoSettings { width: self.video.size.0, height: self.video.size.1, fps: self.video.fps, preset: self.video.preset },
            font: self.font,
            latency: compositor::engine::DEFAULT_LATENCY,
        };
        Ok((config, self.bind))
    }
}

/// How the recorder points its video at the speaker (docs/benchmarks.md compares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SwitchMode {
    /// One paused consumer per camera; the speaker's (and whoever is speaking) resumed.
    PauseResume,
    /// One consumer, re-created on the new speaker's camera at each switch.
    Recreate,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port of the web UI and API. Port 0 picks a free port (logged at start).
    #[arg(long, env = "PODIUM_LISTEN", default_value = "127.0.0.1:3000", value_name = "ADDR")]
    pub listen: SocketAddr,

    /// Where recordings are written. Created if missing.
    #[arg(long, env = "PODIUM_RECORDINGS_DIR", default_value = "./recordings", value_name = "DIR",
          value_parser = parse_recordings_dir)]
    pub recordings_dir: PathBuf,

    /// The IP address browsers use to reach this server's media ports. Defaults to the
    /// --listen IP; required when --listen binds all interfaces (0.0.0.0 or ::).
    #[arg(long, env = "PODIUM_ANNOUNCED_IP", value_name = "IP")]
    pub announced_ip: Option<IpAddr>,

    /// First WebRTC media port. Worker N listens on UDP and TCP port RTC_PORT+N (one
    /// port per worker, shared by all its participants). 0 picks free ports.
    #[arg(long, env = "PODIUM_RTC_PORT", default_value_t = 40000, value_name = "PORT")]
    pub rtc_port: u16,

    /// Number of mediasoup workers (one per core is best). Default: the number of cores.
    #[arg(long, env = "PODIUM_WORKERS", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,

    /// Most participants in one room; the next gets a "room full" error.
    #[arg(long, env = "PODIUM_MAX_PARTICIPANTS", default_value_t = 16, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub max_participants: u16,

    #[command(flatten)]
    pub recording: RecordingVideoArgs,

    /// How the recorder's video follows the speaker (for measurements).
    #[arg(long, env = "PODIUM_RECORDING_SWITCH", default_value = "pause-resume", value_name = "MODE", hide = true)]
    pub recording_switch: SwitchMode,
}

/// ServeArgs after the checks that involve more than one flag.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub recordings_dir: PathBuf,
    pub announced_ip: IpAddr,
    pub rtc_port: u16,
    pub workers: usize,
    pub max_participants: usize,
    pub recording: RecordingVideoArgs,
    pub recording_switch: SwitchMode,
}

impl ServeArgs {
    pub fn validate(self) -> Result<ServeConfig, clap::Error> {
        let announced_ip = match self.announced_ip {
            Some(ip) if ip.is_unspecified() => {
                return Err(flag_error("--announced-ip", &ip.to_string(), "must be an address browsers can reach, not an unspecified one"));
            }
            Some(ip) => ip,
            None if self.listen.ip().is_unspecified() => {
                return Err(Cli::command().error(
                    ErrorKind::MissingRequiredArgument,
                    format!("--announced-ip is required when --listen binds all interfaces ({}): give the address browsers reach", self.listen.ip()),
                ));
            }
            None => self.listen.ip(),
        };
        let workers = match self.workers {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        if self.rtc_port != 0 && usize::from(self.rtc_port) + workers - 1 > usize::from(u16::MAX) {
            return Err(flag_error("--rtc-port", &self.rtc_port.to_string(), &format!("{workers} workers need ports up to {}", usize::from(self.rtc_port) + workers - 1)));
        }
        Ok(ServeConfig {
            listen: self.listen,
            recordings_dir: self.recordings_dir,
            announced_ip,
            rtc_port: self.rtc_port,
            workers,
            max_participants: usize::from(self.max_participants),
            recording: self.recording,
            recording_switch: self.recording_switch,
        })
    }
}

fn flag_error(flag: &str, value: &str, why: &str) -> clap::Error {
    Cli::command().error(ErrorKind::ValueValidation, format!("invalid value '{value}' for '{flag}': {why}"))
}

/// `WIDTHxHEIGHT`, both even (YUV 4:2:0) and within what libx264 and players handle.
fn parse_size(value: &str) -> Result<(u32, u32), String> {
    let (w, h) = value.split_once(['x', 'X']).ok_or("expected WIDTHxHEIGHT, like 1280x720")?;
    let (w, h): (u32, u32) = (w.trim().parse().map_err(|_| "the width is not a number")?, h.trim().parse().map_err(|_| "the height is not a number")?);
    if !(160..=3840).contains(&w) || !(90..=2160).contains(&h) {
        return Err("the size must be between 160x90 and 3840x2160".into());
    }
    if w % 2 != 0 || h % 2 != 0 {
        return Err("the width and height must be even".into());
    }
    Ok((w, h))
}

/// Creates the directory (and checks that it is one we can write to) while parsing, so
/// that a bad value is reported as a bad flag, before anything starts.
fn parse_recordings_dir(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    let path = PathBuf::from(value);
    std::fs::create_dir_all(&path).map_err(|e| format!("cannot create the directory: {e}"))?;
    let probe = path.join(".podium-write-check");
    std::fs::write(&probe, b"").map_err(|e| format!("cannot write in the directory: {e}"))?;
    let _ = std::fs::remove_file(probe);
    Ok(path)
}

/// Prints help and version as clap does; any other error as ONE line (clap adds a
/// usage tip on further lines) and exit code 2.
pub fn exit_on_parse_error(err: clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::from(if err.use_stderr() { 2 } else { 0 })
        }
        _ => {
            let text = err.render().to_string();
            let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("error: invalid arguments");
            eprintln!("{line}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeConfig, clap::Error> {
        let mut argv = vec!["podium", "serve"];
        argv.extend_from_slice(args);
        let Command::Serve(serve) = Cli::try_parse_from(argv)?.command else { panic!("not serve") };
        serve.validate()
    }

    #[test]
    fn announced_ip_defaults_to_the_listen_ip() {
        let dir = std::env::temp_dir().join("podium-cli-test");
        let config = parse(&["--listen", "127.0.0.2:9", "--recordings-dir", dir.to_str().unwrap()]).unwrap();
        assert_eq!(config.announced_ip.to_string(), "127.0.0.2");
    }

    #[test]
    fn listening_on_all_interfaces_needs_an_announced_ip() {
        let dir = std::env::temp_dir().join("podium-cli-test");
        let err = parse(&["--listen", "0.0.0.0:3000", "--recordings-dir", dir.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("--announced-ip"), "{err}");
        let ok = parse(&["--listen", "0.0.0.0:3000", "--announced-ip", "192.0.2.7", "--recordings-dir", dir.to_str().unwrap()]).unwrap();
        assert_eq!(ok.announced_ip.to_string(), "192.0.2.7");
    }

    #[test]
    fn recording_sizes_are_checked() {
        assert_eq!(parse_size("1280x720"), Ok((1280, 720)));
        assert_eq!(parse_size("640X360"), Ok((640, 360)));
        for bad in ["1280", "axb", "1281x720", "100x50", "8000x4000", ""] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        let dir = std::env::temp_dir().join("podium-cli-test");
        let config = parse(&["--recording-size", "640x360", "--recording-fps", "15", "--recording-preset", "ultrafast", "--recording-dir-is-not-a-flag"]);
        assert!(config.is_err());
        let config = parse(&["--recording-size", "640x360", "--recording-fps", "15", "--recording-preset", "ultrafast", "--recordings-dir", dir.to_str().unwrap()]).unwrap();
        assert_eq!((config.recording.size, config.recording.fps, config.recording.preset.as_str()), ((640, 360), 15, "ultrafast"));
        assert!(parse(&["--recording-preset", "warp", "--recordings-dir", dir.to_str().unwrap()]).is_err());
        assert!(parse(&["--recording-fps", "0", "--recordings-dir", dir.to_str().unwrap()]).is_err());
    }

    #[test]
    fn rtc_ports_must_fit_every_worker() {
        let dir = std::env::temp_dir().join("podium-cli-test");
        let err = parse(&["--rtc-port", "65535", "--workers", "2", "--recordings-dir", dir.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("--rtc-port"), "{err}");
    }
}

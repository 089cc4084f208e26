//! Command-line interface. Every flag has an environment fallback (PODIUM_*), and a
//! bad flag or value ends the process with a one-line error naming it and exit code 2.
use clap::error::ErrorKind;
use clap::builder::TypedValueParser as _;
use clap::{Args, CommandFactory, Parser, Subcommand};
use crate::recording::admission;
use crate::recording::compose_args::RecordingVideoArgs;
use crate::recording::switcher::SwitchMode;
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
    Compose(crate::recording::compose_args::ComposeArgs),
    /// Make the highlight reel of a recording (as the review page's button does), for
    /// recordings copied elsewhere: RECORDING.mp4 with its sidecar RECORDING.json beside it.
    Reel(ReelArgs),
    /// Mint an access token and print a ready join link (BASE/rooms/ROOM?token=…), or
    /// for an admin a link to the recordings library. Reads the secret as `serve` does.
    Token(TokenArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The room the link is for (not for an admin, whose token covers every room).
    #[arg(long, value_name = "ROOM")]
    pub room: Option<String>,
    /// The participant's display name (1 to 40 characters), shown in the room and in
    /// recordings. Default for an admin: "Admin".
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// guest: join and publish; host: also record and share the room's recordings;
    /// admin: everything, in every room.
    #[arg(long, default_value = "guest", value_name = "ROLE", value_parser = clap::builder::PossibleValuesParser::new(["guest", "host", "admin"]))]
    pub role: String,
    /// How long the token is valid: 90s, 30m, 24h, 7d.
    #[arg(long, default_value = "24h", value_name = "DURATION", value_parser = parse_ttl)]
    pub ttl: u64,
    /// The server's address as people reach it, for the link.
    #[arg(long, env = "PODIUM_URL", default_value = "http://127.0.0.1:3000", value_name = "BASE", value_parser = parse_base_url)]
    pub url: String,
    /// The participant's identity (`sub`); default: a new random one.
    #[arg(long, value_name = "ID")]
    pub sub: Option<String>,
    /// Print {"url","token","expires_at"} as JSON.
    #[arg(long)]
    pub json: bool,
    /// A file holding the secret (at least 32 bytes), instead of env PODIUM_SECRET.
    #[arg(long, env = "PODIUM_SECRET_FILE", value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
}

/// `90s`, `30m`, `24h`, `7d` (or a bare number of seconds), from 1 s to 365 days.
pub fn parse_ttl(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let n: u64 = digits.parse().map_err(|_| "expected a duration like 90s, 30m, 24h or 7d".to_string())?;
    let unit = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown unit \"{other}\": use s, m, h or d")),
    };
    let seconds = n.checked_mul(unit).ok_or("too long")?;
    if !(1..=365 * 86_400).contains(&seconds) {
        return Err("a token lives from 1 second to 365 days".into());
    }
    Ok(seconds)
}

/// `http(s)://host[:port]`, without a path; a trailing `/` is dropped.
fn parse_base_url(value: &str) -> Result<String, String> {
    let trimmed = value.trim_end_matches('/');
    let rest = trimmed.strip_prefix("https://").or_else(|| trimmed.strip_prefix("http://")).ok_or("the URL starts with http:// or https://")?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err("give the server's address only, like https://meet.example.com".into());
    }
    Ok(trimmed.to_string())
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

    /// Whether browsers may send media over TCP (on the --rtc-port ports) when UDP is
    /// blocked. TCP connections that carry no media are closed after 30 s, and at
    /// most --rtc-tcp-per-ip wait at once from one address (docs/security.md).
    #[arg(long, env = "PODIUM_RTC_TCP", default_value = "on", value_name = "on|off",
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub rtc_tcp: bool,

    /// Most WebRTC TCP connections from one client address (IPv6: one /64) that are
    /// not carrying media yet; the newest beyond it are closed.
    #[arg(long, env = "PODIUM_RTC_TCP_PER_IP", default_value_t = 64, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rtc_tcp_per_ip: u32,

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
    #[arg(long, env = "PODIUM_RECORDING_SWITCH", default_value = "every-camera", value_name = "MODE", hide = true,
          value_parser = clap::builder::PossibleValuesParser::new(SwitchMode::NAMES).map(|s| s.parse::<SwitchMode>().expect("a listed mode")))]
    pub recording_switch: SwitchMode,

    /// A file holding the signing secret (at least 32 bytes), instead of env
    /// PODIUM_SECRET. With a secret, every page and API call needs a token.
    #[arg(long, env = "PODIUM_SECRET_FILE", value_name = "PATH")]
    pub secret_file: Option<PathBuf>,

    /// Listen beyond loopback with no secret (open mode on a trusted LAN only: anyone
    /// who reaches the server can join, record and delete).
    #[arg(long, env = "PODIUM_INSECURE_OPEN")]
    pub insecure_open: bool,

    /// An origin (https://app.example.com) allowed to open the signaling socket, send
    /// requests and frame the pages: an application that embeds Podium. Repeatable.
    #[arg(long = "allowed-origin", env = "PODIUM_ALLOWED_ORIGINS", value_delimiter = ',', value_name = "URL", value_parser = parse_origin)]
    pub allowed_origins: Vec<String>,

    /// A host name (podium.office.lan) an open-mode server also answers to: on loopback
    /// beside localhost, 127.0.0.1 and [::1]; with --insecure-open beside its IP
    /// addresses and hostname. A name a LAN's DNS gives it, or one a reverse proxy on
    /// this machine forwards. Any other name is refused (it stops DNS rebinding).
    /// Repeatable. A secured server answers any name (tokens decide).
    #[arg(long = "allowed-host", env = "PODIUM_ALLOWED_HOSTS", value_delimiter = ',', value_name = "NAME", value_parser = parse_host_name)]
    pub allowed_hosts: Vec<String>,

    /// The address of a reverse proxy in front of this server (127.0.0.1), or the range
    /// its addresses come from (172.18.0.0/16, a network of the proxy alone): requests from it
    /// are taken to come from the client it names in X-Forwarded-For, for the
    /// per-client limits and the audit log, and it is not held to the per-address
    /// connection limit. Repeatable. Without it, X-Forwarded-For is ignored.
    #[arg(long = "trusted-proxy", env = "PODIUM_TRUSTED_PROXIES", value_delimiter = ',', value_name = "IP[/PREFIX]")]
    pub trusted_proxies: Vec<crate::net::IpRange>,

    /// The address people reach this server at (https://meet.example.com) when a reverse
    /// proxy stands in front of it: share links are built with it, and requests from it
    /// count as this server's own. Default: the address each request names.
    #[arg(long, env = "PODIUM_PUBLIC_URL", value_name = "URL", value_parser = parse_origin)]
    pub public_url: Option<String>,

    /// Most recordings running at once; a further one gets a 503 (running ones go on).
    /// Default: 2 per core, the measured capacity (docs/benchmarks.md).
    #[arg(long, env = "PODIUM_MAX_RECORDINGS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub max_recordings: Option<u16>,

    /// Refuse a recording that would not run in real time, with a 503 (from the measured
    /// cost of its settings, the running recordings' CPU and lag, and the CPU use of the
    /// last seconds): on, or off to force recordings through (up to --max-recordings),
    /// as the overload benchmark does. /api/health reports the estimate either way.
    #[arg(long, env = "PODIUM_RECORDING_ADMISSION", default_value = "on", value_name = "on|off", action = clap::ArgAction::Set,
          value_parser = clap::builder::PossibleValuesParser::new(["on", "off"]).map(|s| s == "on"))]
    pub recording_admission: bool,

    /// The CPU cores recordings may count on (a decimal number). Default: all of the
    /// machine's, against the whole machine's CPU use (/proc/stat). With N, only Podium's
    /// own use (this server and its recorders) counts against N: for a machine shared
    /// with other work, or a container given N cores.
    #[arg(long, env = "PODIUM_RECORDING_CORES", value_name = "CORES", value_parser = parse_cores)]
    pub recording_cores: Option<f64>,

    /// Free space, in MB, kept on the disk of --recordings-dir: a recording asked for
    /// while less is free gets a 503 saying so, rather than failing later with "the disk
    /// is full" and taking the space the running ones need to finish. 0 keeps none.
    #[arg(long, env = "PODIUM_RECORDING_MIN_FREE_MB", default_value_t = crate::recording::disk::DEFAULT_MIN_FREE_MB, value_name = "MB",
          value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub recording_min_free_mb: u64,

    /// Delete recordings this many days after they end (with their reels and share
    /// links), checked at start and every hour; each deletion is in the audit log. By
    /// default recordings are kept until someone deletes them.
    #[arg(long, env = "PODIUM_RECORDING_RETENTION_DAYS", value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub recording_retention_days: Option<u32>,

    /// Most rooms open at once; joining a new room beyond it is refused.
    #[arg(long, env = "PODIUM_MAX_ROOMS", default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_rooms: u32,

    /// Most signaling sockets from one client IP; beyond it, 429.
    #[arg(long, env = "PODIUM_MAX_SOCKETS_PER_IP", default_value_t = 50, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_sockets_per_ip: u32,

    /// Serve HTTPS and WSS with this certificate chain (PEM), with --tls-key.
    #[arg(long, env = "PODIUM_TLS_CERT", value_name = "PEM", requires = "tls_key", conflicts_with = "tls_self_signed")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "PODIUM_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve HTTPS with a certificate made at start for the announced IP and this
    /// machine's hostname (its SHA-256 fingerprint is printed): for a LAN trial.
    #[arg(long, env = "PODIUM_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,
}

/// A number of cores, more than 0 and at most 1024 (fractions allowed).
fn parse_cores(value: &str) -> Result<f64, String> {
    let cores: f64 = value.trim().parse().map_err(|_| "expected a number of cores, like 2 or 1.5".to_string())?;
    if !(cores > 0.0 && cores <= 1024.0) {
        return Err("from more than 0 to 1024 cores".into());
    }
    Ok(cores)
}

/// A DNS name, lowercase, without a port or wildcard.
fn parse_host_name(value: &str) -> Result<String, String> {
    let name = value.trim().trim_end_matches('.').to_ascii_lowercase();
    let plain = !name.is_empty() && name.len() <= 253 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !plain || name.starts_with(['.', '-']) || name.contains("..") {
        return Err("a host name like podium.office.lan (letters, digits, '-' and '.', no port or scheme)".into());
    }
    Ok(name)
}

/// `scheme://host[:port]` as a browser writes it in `Origin`: lowercase, without the
/// scheme's default port (so that it compares equal), and without user info (which
/// would make a link built on it point elsewhere: `https://a.example@evil.example`).
fn parse_origin(value: &str) -> Result<String, String> {
    let origin = value.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, default_port) = if origin.starts_with("https://") { ("https://", ":443") } else { ("http://", ":80") };
    let rest = origin.strip_prefix(scheme).ok_or("an origin starts with http:// or https://")?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ', '*', '@', '\\']) {
        return Err("an origin is scheme://host[:port], like https://app.example.com".into());
    }
    Ok(format!("{scheme}{}", rest.strip_suffix(default_port).unwrap_or(rest)))
}

/// ServeArgs after the checks that involve more than one flag.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub recordings_dir: PathBuf,
    pub announced_ip: IpAddr,
    pub rtc_port: u16,
    pub rtc_tcp: Option<crate::media::tcp_guard::Rules>,
    pub workers: usize,
    pub max_participants: usize,
    pub recording: compositor::output::mp4::VideoSettings,
    pub recording_audio: compositor::output::mp4::AudioChannels,
    pub recording_lookahead: std::time::Duration,
    pub recording_switch: SwitchMode,
    /// `None`: open mode.
    pub secret: Option<crate::auth::Secret>,
    pub insecure_open: bool,
    pub allowed_origins: Vec<String>,
    pub allowed_hosts: Vec<String>,
    pub trusted_proxies: Vec<crate::net::IpRange>,
    pub public_url: Option<String>,
    pub max_recordings: usize,
    pub recording_admission: admission::Settings,
    pub recording_min_free_mb: u64,
    pub recording_retention_days: Option<u32>,
    pub max_rooms: usize,
    pub max_sockets_per_ip: usize,
    pub tls: crate::net::TlsMode,
}

impl ServeArgs {
    /// Checks the flags together, with the secret from env PODIUM_SECRET.
    pub fn validate(self) -> Result<ServeConfig, clap::Error> {
        self.validate_with(std::env::var("PODIUM_SECRET").ok())
    }

    pub fn validate_with(self, secret_env: Option<String>) -> Result<ServeConfig, clap::Error> {
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
        let secret = crate::auth::Secret::load(secret_env, self.secret_file.as_deref())
            .map_err(|e| Cli::command().error(ErrorKind::ValueValidation, format!("PODIUM_SECRET / --secret-file: {e}")))?;
        if secret.is_none() && !self.insecure_open && !self.listen.ip().is_loopback() {
            return Err(Cli::command().error(
                ErrorKind::MissingRequiredArgument,
                format!("--listen {} is reachable from other machines: set PODIUM_SECRET (32+ bytes) or --secret-file to require access tokens, or pass --insecure-open for a trusted LAN", self.listen),
            ));
        }
        let workers = match self.workers {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        if self.rtc_port != 0 && usize::from(self.rtc_port) + workers - 1 > usize::from(u16::MAX) {
            return Err(flag_error("--rtc-port", &self.rtc_port.to_string(), &format!("{workers} workers need ports up to {}", usize::from(self.rtc_port) + workers - 1)));
        }
        let tls = match (self.tls_cert, self.tls_key, self.tls_self_signed) {
            (Some(cert), Some(key), _) => crate::net::TlsMode::Files { cert, key },
            (_, _, true) => crate::net::TlsMode::SelfSigned { ip: announced_ip },
            _ => crate::net::TlsMode::Off,
        };
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Ok(ServeConfig {
            listen: self.listen,
            recordings_dir: self.recordings_dir,
            announced_ip,
            rtc_port: self.rtc_port,
            rtc_tcp: self.rtc_tcp.then(|| crate::media::tcp_guard::Rules { per_source: self.rtc_tcp_per_ip as usize, ..Default::default() }),
            workers,
            max_participants: usize::from(self.max_participants),
            recording: self.recording.settings(),
            recording_audio: self.recording.audio,
            recording_lookahead: self.recording.lookahead(),
            recording_switch: self.recording_switch,
            secret,
            insecure_open: self.insecure_open,
            allowed_origins: self.allowed_origins,
            allowed_hosts: self.allowed_hosts,
            trusted_proxies: self.trusted_proxies,
            public_url: self.public_url,
            max_recordings: self.max_recordings.map_or(2 * cores, usize::from),
            recording_admission: admission::Settings {
                enabled: self.recording_admission,
                budget: self.recording_cores.map_or(admission::Budget::Machine, admission::Budget::Cores),
            },
            recording_min_free_mb: self.recording_min_free_mb,
            recording_retention_days: self.recording_retention_days,
            max_rooms: self.max_rooms as usize,
            max_sockets_per_ip: self.max_sockets_per_ip as usize,
            tls,
        })
    }
}

fn flag_error(flag: &str, value: &str, why: &str) -> clap::Error {
    Cli::command().error(ErrorKind::ValueValidation, format!("invalid value '{value}' for '{flag}': {why}"))
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
        serve.validate_with(None)
    }

    fn parse_with_secret(args: &[&str], secret: &str) -> Result<ServeConfig, clap::Error> {
        let mut argv = vec!["podium", "serve"];
        argv.extend_from_slice(args);
        let Command::Serve(serve) = Cli::try_parse_from(argv)?.command else { panic!("not serve") };
        serve.validate_with(Some(secret.to_string()))
    }

    #[test]
    fn beyond_loopback_a_secret_or_insecure_open_is_required() {
        let dir = std::env::temp_dir().join("podium-cli-test");
        let dir = dir.to_str().unwrap();
        let all = ["--listen", "0.0.0.0:3000", "--announced-ip", "192.0.2.7", "--recordings-dir", dir];
        let err = parse(&all).unwrap_err();
        assert!(err.to_string().contains("PODIUM_SECRET"), "{err}");
        assert_eq!(err.exit_code(), 2);
        let mut open = all.to_vec();
        open.push("--insecure-open");
        assert!(parse(&open).unwrap().secret.is_none());
        assert!(parse_with_secret(&all, &"k".repeat(32)).unwrap().secret.is_some());
        let err = parse_with_secret(&all, "short").unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
        // Loopback stays open mode, one command.
        assert!(parse(&["--recordings-dir", dir]).unwrap().secret.is_none());
    }

    #[test]
    fn limits_and_origins_have_defaults_and_are_checked() {
        let dir = std::env::temp_dir().join("podium-cli-test");
        let dir = dir.to_str().unwrap();
        let c = parse(&["--recordings-dir", dir]).unwrap();
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!((c.max_recordings, c.max_rooms, c.max_sockets_per_ip), (2 * cores, 500, 50));
        let c = parse(&["--recordings-dir", dir, "--allowed-origin", "https://App.example.com/", "--allowed-origin", "http://localhost:5173", "--max-recordings", "1"]).unwrap();
        assert_eq!(c.allowed_origins, ["https://app.example.com", "http://localhost:5173"]);
        assert_eq!(c.max_recordings, 1);
        assert_eq!(c.public_url, None);
        let c = parse(&["--recordings-dir", dir, "--public-url", "https://meet.example.com:443", "--allowed-origin", "http://app.example.com:80"]).unwrap();
        assert_eq!((c.public_url.as_deref(), c.allowed_origins.as_slice()), (Some("https://meet.example.com"), ["http://app.example.com".to_string()].as_slice()));
        for bad in ["*", "app.example.com", "https://a.example.com/path", "https://meet.example.com@evil.example", "ftp://a.example.com"] {
            assert!(parse(&["--recordings-dir", dir, "--allowed-origin", bad]).is_err(), "{bad}");
            assert!(parse(&["--recordings-dir", dir, "--public-url", bad]).is_err(), "{bad}");
        }
        let c = parse(&["--recordings-dir", dir, "--trusted-proxy", "127.0.0.1,::1", "--trusted-proxy", "172.16.0.0/12"]).unwrap();
        assert_eq!(c.trusted_proxies.iter().map(|r| r.to_string()).collect::<Vec<_>>(), ["127.0.0.1", "::1", "172.16.0.0/12"]);
        for (bad, says) in [("proxy.lan", "names are not looked up"), ("10.0.0.0/0", "from 1 to 32"), ("10.0.0.1/8", "did you mean 10.0.0.0/8?")] {
            let err = parse(&["--recordings-dir", dir, "--trusted-proxy", bad]).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
        let c = parse(&["--recordings-dir", dir, "--allowed-host", "Podium.Office.LAN.", "--allowed-host", "studio"]).unwrap();
        assert_eq!(c.allowed_hosts, ["podium.office.lan", "studio"]);
        for bad in ["", "*.example.com", "podium.lan:3000", "http://podium.lan", "a..b", ".lan", "-x", "a b"] {
            let err = parse(&["--recordings-dir", dir, &format!("--allowed-host={bad}")]).unwrap_err();
            assert!(err.to_string().contains("host name like"), "{bad}: {err}");
        }
        let c = parse(&["--recordings-dir", dir, "--public-url", "https://Meet.example.com/"]).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://meet.example.com"));
        assert!(parse(&["--recordings-dir", dir, "--max-recordings", "0"]).is_err());
        assert!(parse(&["--recordings-dir", dir, "--tls-cert", "/x.pem"]).is_err(), "a cert needs its key");
    }

    #[test]
    fn admission_is_on_by_default_and_its_flags_are_checked() {
        let dir = std::env::temp_dir().join("podium-cli-test");
        let dir = dir.to_str().unwrap();
        let c = parse(&["--recordings-dir", dir]).unwrap();
        assert_eq!(c.recording_admission, admission::Settings::DEFAULT);
        let c = parse(&["--recordings-dir", dir, "--recording-admission", "off", "--recording-cores", "1.5"]).unwrap();
        assert_eq!(c.recording_admission, admission::Settings { enabled: false, budget: admission::Budget::Cores(1.5) });
        assert!(parse(&["--recordings-dir", dir, "--recording-admission", "on"]).unwrap().recording_admission.enabled);
        assert_eq!(c.recording_min_free_mb, 1024, "a recording is refused below 1 GB free by default");
        assert_eq!(parse(&["--recordings-dir", dir, "--recording-min-free-mb", "0"]).unwrap().recording_min_free_mb, 0);
        assert_eq!(c.recording_retention_days, None, "kept until deleted by default");
        assert_eq!(parse(&["--recordings-dir", dir, "--recording-retention-days", "30"]).unwrap().recording_retention_days, Some(30));
        for bad in [["--recording-admission", "maybe"], ["--recording-cores", "0"], ["--recording-cores", "lots"], ["--recording-cores", "NaN"], ["--recording-cores", "5000"], ["--recording-min-free-mb", "200000000"], ["--recording-min-free-mb", "lots"], ["--recording-retention-days", "0"], ["--recording-retention-days", "1.5"]] {
            let err = parse(&[&["--recordings-dir", dir][..], &bad[..]].concat()).unwrap_err();
            assert!(err.to_string().contains(bad[0]), "{bad:?}: {err}");
        }
    }

    #[test]
    fn token_durations_and_urls_are_checked() {
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("24h"), Ok(86_400));
        assert_eq!(parse_ttl("7d"), Ok(604_800));
        assert_eq!(parse_ttl("15"), Ok(15));
        for bad in ["", "0s", "1y", "-5m", "h", "400d", "99999999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_base_url("https://meet.example.com/").unwrap(), "https://meet.example.com");
        for bad in ["meet.example.com", "https://", "https://x/rooms", "ftp://x"] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
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
        let ok = parse(&["--listen", "0.0.0.0:3000", "--announced-ip", "192.0.2.7", "--insecure-open", "--recordings-dir", dir.to_str().unwrap()]).unwrap();
        assert_eq!(ok.announced_ip.to_string(), "192.0.2.7");
    }

    #[test]
    fn recording_flags_are_checked() {
        let dir = std::env::temp_dir().join("podium-cli-test");
        let config = parse(&["--recording-size", "640x360", "--recording-fps", "15", "--recording-preset", "ultrafast", "--recording-dir-is-not-a-flag"]);
        assert!(config.is_err());
        let config = parse(&["--recording-size", "640x360", "--recording-fps", "15", "--recording-preset", "ultrafast", "--recordings-dir", dir.to_str().unwrap()]).unwrap();
        assert_eq!((config.recording.width, config.recording.height, config.recording.fps, config.recording.preset.as_str()), (640, 360, 15, "ultrafast"));
        assert!(parse(&["--recording-preset", "warp", "--recordings-dir", dir.to_str().unwrap()]).is_err());
        assert!(parse(&["--recording-fps", "0", "--recordings-dir", dir.to_str().unwrap()]).is_err());
    }

    #[test]
    fn webrtc_over_tcp_is_on_by_default_and_can_be_turned_off() {
        let dir = std::env::temp_dir().join("podium-cli-test");
        let dir = dir.to_str().unwrap();
        let rules = parse(&["--recordings-dir", dir]).unwrap().rtc_tcp.expect("TCP is on by default");
        assert_eq!(rules, crate::media::tcp_guard::Rules::default());
        assert_eq!(parse(&["--recordings-dir", dir, "--rtc-tcp", "off"]).unwrap().rtc_tcp, None);
        let rules = parse(&["--recordings-dir", dir, "--rtc-tcp", "on", "--rtc-tcp-per-ip", "8"]).unwrap().rtc_tcp.unwrap();
        assert_eq!(rules.per_source, 8);
        for bad in [["--rtc-tcp", "sometimes"], ["--rtc-tcp-per-ip", "0"], ["--rtc-tcp-per-ip", "many"]] {
            let err = parse(&[&["--recordings-dir", dir][..], &bad[..]].concat()).unwrap_err();
            assert!(err.to_string().contains(bad[0]), "{bad:?}: {err}");
        }
    }

    #[test]
    fn rtc_ports_must_fit_every_worker() {
        let dir = std::env::temp_dir().join("podium-cli-test");
        let err = parse(&["--rtc-port", "65535", "--workers", "2", "--recordings-dir", dir.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("--rtc-port"), "{err}");
    }
}

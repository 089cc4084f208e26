//! `podium`: the meeting server (mediasoup SFU), the recorder's control side and the
//! web UI, in one self-contained binary.
use clap::Parser;
use server::{cli, serve};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return cli::exit_on_parse_error(err),
    };
    init_tracing();
    match cli.command {
        cli::Command::Compose(args) => match args.into_config() {
            Ok((config, udp)) => ExitCode::from(compositor::process::run(config, udp) as u8),
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::from(2)
            }
        },
        cli::Command::Token(args) => match server::token::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::from(2)
            }
        },
        cli::Command::Reel(args) => match server::reel::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        },
        cli::Command::Serve(args) => {
            let args = match args.validate() {
                Ok(args) => args,
                Err(err) => return cli::exit_on_parse_error(err),
            };
            match serve::run(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    // `{:#}` prints the whole anyhow context chain on one line.
                    eprintln!("error: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Logs go to stderr through tracing; RUST_LOG selects what (default: info for Podium's
/// crates, the `server` library and `compositor`, plus the audit log; warnings for
/// libraries).
fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(server::DEFAULT_LOG_FILTER));
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; plain text for journald, files and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    tracing_subscriber::registry().with(filter).with(server::log_noise::DropBenign).with(output).init();
}

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
            Ok((config, bind)) => ExitCode::from(compositor::process::run(config, bind) as u8),
            Err(err) => cli::exit_on_parse_error(err),
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

/// Logs go to stderr through tracing; RUST_LOG selects what (default: info for Podium,
/// warnings for libraries).
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,podium=info,compositor=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

//! A compositor child process (`podium compose`) and its control channel, seen from
//! the server: JSON lines to its stdin, JSON lines from its stdout, its logs on our
//! stderr. Killed if the handle is dropped without a stop (a recording task that ends
//! abnormally must not leave a recorder behind).
use super::compose_args::{command_line, ComposeInvocation};
use compositor::control::{self, FromCompositor, ToCompositor, CONTROL_VERSION};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// How long a new compositor may take to open its file and port.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SpawnOptions<'a> {
    pub program: &'a Path,
    pub compose: ComposeInvocation<'a>,
}

pub struct CompositorChild {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

/// Why a compositor did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The program's path is the operator's to see (logged where it fails), not a
    /// host's.
    #[error("cannot start the recorder: {0} (the server log has details)")]
    Exec(std::io::Error),
    /// It started and said why it cannot record (its file, its port, its encoder).
    #[error("{0}")]
    Refused(String),
    #[error("the recorder said {0} before it was ready")]
    Unexpected(String),
    #[error("the recorder exited at once ({0})")]
    Exited(String),
    #[error("the recorder was not ready within {0:?}")]
    NotReady(Duration),
}

impl SpawnError {
    /// The same failure with its free text (the compositor's own words) passed
    /// through `shown`: what a client may read of it.
    pub fn map_text(self, shown: impl Fn(&str) -> String) -> Self {
        match self {
            Self::Refused(text) => Self::Refused(shown(&text)),
            Self::Exited(text) => Self::Exited(shown(&text)),
            Self::Unexpected(text) => Self::Unexpected(shown(&text)),
            other => other,
        }
    }
}

pub struct Spawned {
    pub child: CompositorChild,
    pub rtp_port: u16,
    pub started_at: String,
}

impl CompositorChild {
    /// Starts a compositor and waits for its `ready`.
    pub async fn spawn(o: SpawnOptions<'_>) -> Result<Spawned, SpawnError> {
        let mut child = tokio::process::Command::new(o.program)
            .args(command_line(&o.compose))
            // The compositor signs nothing: the signing secret stays in the server
            // (a child's environment is readable in /proc by the same user).
            .env_remove("PODIUM_SECRET")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                // The program's path is the operator's to see (in the log), not a host's.
                tracing::error!("cannot start the compositor {}: {e}", o.program.display());
                SpawnError::Exec(e)
            })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let mut this = Self { child, stdin, lines: BufReader::new(stdout).lines() };
        let first = tokio::time::timeout(READY_TIMEOUT, this.next()).await;
        match first {
            Ok(Some(FromCompositor::Ready { rtp_port, started_at, .. })) => Ok(Spawned { child: this, rtp_port, started_at }),
            Ok(Some(FromCompositor::Failed { message, .. })) => Err(SpawnError::Refused(message)),
            Ok(Some(other)) => Err(SpawnError::Unexpected(format!("{other:?}"))),
            Ok(None) => Err(SpawnError::Exited(this.exit_description().await)),
            Err(_) => Err(SpawnError::NotReady(READY_TIMEOUT)),
        }
    }

    pub async fn send(&mut self, message: &ToCompositor) -> std::io::Result<()> {
        self.stdin.write_all(control::to_line(message).as_bytes()).await?;
        self.stdin.flush().await
    }

    /// The next message; `None` once its stdout closed (it exited). Lines it should not
    /// have written are logged and skipped.
    pub async fn next(&mut self) -> Option<FromCompositor> {
        loop {
            match self.lines.next_line().await {
                Ok(Some(line)) => match control::from_line::<FromCompositor>(&line) {
                    Ok(message) => return Some(message),
                    // A compositor of another build: what it says cannot be read.
                    Err(e @ control::ControlError::Version { .. }) => return Some(FromCompositor::Failed { v: CONTROL_VERSION, message: e.to_string() }),
                    Err(e) => tracing::warn!("{e}"),
                },
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Waits for the exit and says how it went ("exit code 1", "killed by signal 9").
    pub async fn exit_description(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(Ok(status)) => describe(status),
            Ok(Err(e)) => format!("its status is unknown: {e}"),
            Err(_) => {
                let _ = self.child.start_kill();
                "it hung and was killed".into()
            }
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.start_kill();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(9)) => "killed by signal 9 (SIGKILL)".into(),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => "ended".into(),
    }
}

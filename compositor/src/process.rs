//! The compositor process (`podium compose`): the IO around one [`Engine`]. It binds an
//! ephemeral UDP port, says `ready` with it on stdout, reads control lines from stdin,
//! and gives the engine every datagram and the time.
//!
//! How it ends:
//! - `stop` on stdin, SIGTERM or SIGINT: the file is finalized (`finished`);
//! - stdin closes without a stop (the server died): the file is finalized all the
//!   same, and the sidecar says `interrupted`;
//! - an error (the disk is full): `failed` with the reason; the file keeps what was
//!   written;
//! - SIGKILL: nothing more is written, and the file plays up to its last fragment.
use crate::control::{self, FromCompositor, ToCompositor, CONTROL_VERSION};
use crate::engine::{Config, Engine, EngineError};
use crate::sidecar::Status;
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

/// The loop wakes at least this often, to read control messages without a second
/// thread in the media path.
const MAX_WAIT: Duration = Duration::from_millis(10);
/// Asked of the kernel for the UDP socket: a keyframe burst while a frame encodes.
const RECV_BUFFER: usize = 4 << 20;

enum Control {
    Line(String),
    Closed,
}

/// Runs one recording to its end. Returns the process's exit code: 0 when the file was
/// finalized, 1 when it failed (after telling the server why).
pub fn run(config: Config, bind: IpAddr) -> i32 {
    let mut out = std::io::stdout().lock();
    let socket = match bind_socket(bind) {
        Ok(s) => s,
        Err(e) => {
            say(&mut out, &FromCompositor::Failed { v: CONTROL_VERSION, message: format!("cannot open a UDP port on {bind}: {e}") });
            return 1;
        }
    };
    let rtp_port = socket.local_addr().map_or(0, |a| a.port());
    let id = config.id.clone();
    let mut engine = match Engine::new(config, Instant::now(), SystemTime::now()) {
        Ok(e) => e,
        Err(e) => {
            say(&mut out, &FromCompositor::Failed { v: CONTROL_VERSION, message: e.to_string() });
            return 1;
        }
    };
    let started_at = engine.started_at().to_string();
    say(&mut out, &FromCompositor::Ready { v: CONTROL_VERSION, rtp_port, started_at });
    tracing::info!(recording = %id, rtp_port, "compositor ready");

    let stop_signal = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // Cannot fail for these signals; if it did, a signal would end us unfinalized.
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop_signal));
    }
    let control = spawn_stdin_reader();
    let mut peer: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 4096];

    let status = 'run: loop {
        loop {
            match control.try_recv() {
                Ok(Control::Line(line)) => match control::from_line::<ToCompositor>(&line) {
                    Ok(ToCompositor::Stop { .. }) => break 'run Status::Finished,
                    Ok(message) => engine.handle_control(Instant::now(), message),
                    Err(e) => {
                        tracing::warn!(recording = %id, "{e}");
                        say(&mut out, &FromCompositor::Warning { v: CONTROL_VERSION, message: e });
                    }
                },
                Ok(Control::Closed) | Err(mpsc::TryRecvError::Disconnected) => {
                    tracing::warn!(recording = %id, "the server closed the control channel without a stop: finishing the file");
                    break 'run Status::Interrupted;
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        if stop_signal.load(Ordering::Relaxed) {
            tracing::info!(recording = %id, "signalled: finishing the file");
            break Status::Finished;
        }
        if let Err(e) = engine.poll(Instant::now()) {
            return fail(&mut out, engine, &e);
        }
        if let Some(peer) = peer {
            for packet in engine.take_rtcp() {
                let _ = socket.send_to(&packet, peer);
            }
        }
        for message in engine.take_messages() {
            if !say(&mut out, &message) {
                // Nobody reads us any more: the server is gone.
                break 'run Status::Interrupted;
            }
        }
        let wait = engine.next_wakeup().saturating_duration_since(Instant::now()).clamp(Duration::from_millis(1), MAX_WAIT);
        let _ = socket.set_read_timeout(Some(wait));
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                peer = Some(from);
                engine.handle_datagram(Instant::now(), &buf[..n]);
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted) => {}
            Err(e) => tracing::warn!(recording = %id, "receiving RTP: {e}"),
        }
    };
    let stopping = Instant::now();
    match engine.finish(Instant::now(), status) {
        Ok(summary) => {
            tracing::info!(recording = %id, duration_ms = summary.duration_ms, size_bytes = summary.size_bytes, finalize_ms = stopping.elapsed().as_millis() as u64, "recording finished");
            say(&mut out, &FromCompositor::Finished { v: CONTROL_VERSION, duration_ms: summary.duration_ms, size_bytes: summary.size_bytes });
            0
        }
        Err(e) => {
            let message = e.to_string();
            tracing::error!(recording = %id, "{message}");
            say(&mut out, &FromCompositor::Failed { v: CONTROL_VERSION, message });
            1
        }
    }
}

fn fail(out: &mut impl Write, engine: Engine, error: &EngineError) -> i32 {
    let message = error.to_string();
    tracing::error!("recording failed: {message}");
    engine.fail(&message);
    say(out, &FromCompositor::Failed { v: CONTROL_VERSION, message });
    1
}

fn bind_socket(ip: IpAddr) -> std::io::Result<UdpSocket> {
    let domain = if ip.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // The kernel may grant less (net.core.rmem_max); that is fine at these rates.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket.bind(&SocketAddr::new(ip, 0).into())?;
    Ok(socket.into())
}

/// Writes one control line; false if stdout is gone.
fn say(out: &mut impl Write, message: &FromCompositor) -> bool {
    out.write_all(control::to_line(message).as_bytes()).and_then(|()| out.flush()).is_ok()
}

/// Stdin is read on its own thread (a blocking read cannot share the media loop); the
/// loop takes the lines from a channel.
fn spawn_stdin_reader() -> mpsc::Receiver<Control> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                match line {
                    Ok(line) if line.trim().is_empty() => {}
                    Ok(line) => {
                        if tx.send(Control::Line(line)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(Control::Closed);
        })
        .expect("spawning the control reader");
    rx
}

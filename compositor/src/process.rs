//! The compositor process (`podium compose`): the IO around one [`Engine`]. It binds an
//! ephemeral UDP port, says `ready` with it on stdout, reads control lines from stdin,
//! and gives the engine every datagram (stamped when it arrived) and the time. Two
//! small threads only read (the socket, stdin); everything else is the one loop.
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
use crate::output::sidecar::Status;
use crate::input::receive::{self, Datagram};
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

/// The loop wakes at least this often (to notice a signal).
const MAX_WAIT: Duration = Duration::from_millis(50);
/// The loop takes what arrived in rounds at most this often, unless a deadline (a frame
/// to render, a jitter buffer's gap) comes first. Datagrams come hundreds a second, each
/// stamped on arrival by the receiving thread, and nothing in them is urgent (the output
/// runs a lookahead behind): waking the loop for each cost more in the kernel than the
/// work it did.
const ROUND_EVERY: Duration = Duration::from_millis(10);
/// Asked of the kernel for the UDP socket: a keyframe burst while a frame encodes.
const RECV_BUFFER: usize = 4 << 20;
/// The receiving thread takes what arrived this often (when the kernel stamps
/// arrivals): a few datagrams each time instead of a wake-up for each, and a small
/// share of what the kernel's buffer holds.
const GATHER: Duration = Duration::from_millis(5);

/// What reaches the media loop, from the receiving thread and the control reader.
enum Input {
    /// Datagrams, each with when it arrived: stamped on arrival, not when the loop gets
    /// to it, because streams without a sender report yet are placed by arrival, and a
    /// loop busy encoding a frame must not shift them.
    Datagrams(Vec<Datagram>),
    /// A control line, and when it arrived (a speaker change counts from then).
    Line(Instant, String),
    ControlClosed,
}

/// Where the recording's RTP comes from.
#[derive(Debug, Clone, Copy)]
pub struct Udp {
    /// The address to open the ephemeral port on.
    pub bind: IpAddr,
    /// The server's transport, the one sender heard: the socket is connected to it, so
    /// the kernel drops datagrams from anywhere else, and keyframe requests go there.
    /// Without it (a test's or a benchmark's sender), whoever sent last is answered,
    /// and anyone who can reach the port is heard: a forged datagram would draw the
    /// keyframe requests, and with them the streams' SSRCs, to its sender.
    pub peer: Option<SocketAddr>,
}

/// Runs one recording to its end. Returns the process's exit code: 0 when the file was
/// finalized, 1 when it failed (after telling the server why).
pub fn run(config: Config, udp: Udp) -> i32 {
    let mut out = std::io::stdout().lock();
    let socket = match bind_socket(udp) {
        Ok(s) => s,
        Err(e) => {
            say(&mut out, &FromCompositor::Failed { v: CONTROL_VERSION, message: format!("cannot open a UDP port on {}: {e}", udp.bind) });
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
    let (tx, inputs) = mpsc::channel();
    let receiving = match socket.try_clone() {
        Ok(s) => spawn_receiver(s, tx.clone()),
        Err(e) => {
            say(&mut out, &FromCompositor::Failed { v: CONTROL_VERSION, message: format!("cannot read the UDP port: {e}") });
            return 1;
        }
    };
    spawn_stdin_reader(tx);
    let mut peer: Option<SocketAddr> = udp.peer;

    let mut last_round = Instant::now();
    let status = 'run: loop {
        let deadline = engine.next_wakeup().min(Instant::now() + MAX_WAIT);
        let gather_until = deadline.min(last_round + ROUND_EVERY);
        let gather = gather_until.saturating_duration_since(Instant::now());
        if !gather.is_zero() {
            std::thread::sleep(gather);
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let mut next = match inputs.recv_timeout(wait) {
            Ok(input) => Some(input),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break Status::Interrupted,
        };
        // From here to the next wait the loop works: how much of its time that takes
        // tells the engine whether it has room to step its quality back up.
        let working = Instant::now();
        last_round = working;
        // Take everything that is waiting before rendering.
        while let Some(input) = next {
            match input {
                Input::Datagrams(datagrams) => {
                    for d in datagrams {
                        if udp.peer.is_none() {
                            peer = Some(d.from);
                        }
                        engine.handle_datagram(d.arrived, &d.bytes);
                    }
                }
                Input::Line(at, line) => match control::from_line::<ToCompositor>(&line) {
                    Ok(ToCompositor::Stop { .. }) => break 'run Status::Finished,
                    Ok(message) => engine.handle_control(at, message),
                    Err(e @ control::ControlError::Version { .. }) => {
                        // Nothing this server says can be trusted to mean what we read.
                        let message = e.to_string();
                        tracing::error!(recording = %id, "{message}");
                        engine.fail(&message);
                        say(&mut out, &FromCompositor::Failed { v: CONTROL_VERSION, message });
                        return 1;
                    }
                    Err(e) => {
                        let message = e.to_string();
                        tracing::warn!(recording = %id, "{message}");
                        say(&mut out, &FromCompositor::Warning { v: CONTROL_VERSION, message });
                    }
                },
                Input::ControlClosed => {
                    tracing::warn!(recording = %id, "the server closed the control channel without a stop: finishing the file");
                    break 'run Status::Interrupted;
                }
            }
            next = inputs.try_recv().ok();
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
        engine.worked(working.elapsed());
    };
    receiving.store(false, Ordering::Relaxed);
    // What arrived up to the stop still belongs in the file: what the receiving thread
    // handed on, and what it had not taken yet.
    while let Ok(Input::Datagrams(datagrams)) = inputs.try_recv() {
        for d in datagrams {
            engine.handle_datagram(d.arrived, &d.bytes);
        }
    }
    let mut buf = vec![0u8; 4096];
    while let Ok(Some(d)) = receive::receive(&socket, &mut buf, false) {
        engine.handle_datagram(d.arrived, &d.bytes);
    }
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

/// Reads the socket on its own thread, so that datagrams leave the kernel's buffer
/// while the loop encodes; returns the flag that keeps it going. With the kernel
/// stamping arrivals, it takes what has come every [`GATHER`], not each datagram as it
/// comes (`input::receive`).
fn spawn_receiver(socket: UdpSocket, tx: mpsc::Sender<Input>) -> Arc<AtomicBool> {
    let running = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&running);
    // A timeout so that the thread notices when it is no longer wanted.
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let stamped = receive::stamp_arrivals(&socket);
    if !stamped {
        tracing::debug!("the kernel does not stamp datagrams: reading each as it comes");
    }
    std::thread::Builder::new()
        .name("rtp-receive".into())
        .spawn(move || {
            let mut buf = vec![0u8; 4096];
            while flag.load(Ordering::Relaxed) {
                let mut batch = Vec::new();
                let mut wait = true;
                loop {
                    match receive::receive(&socket, &mut buf, wait) {
                        Ok(Some(datagram)) => batch.push(datagram),
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!("receiving RTP: {e}");
                            // Not again at once: an error that lasts would spin.
                            std::thread::sleep(GATHER);
                            break;
                        }
                    }
                    if !stamped {
                        break;
                    }
                    wait = false;
                }
                if batch.is_empty() {
                    continue;
                }
                if tx.send(Input::Datagrams(batch)).is_err() {
                    return;
                }
                if stamped {
                    std::thread::sleep(GATHER);
                }
            }
        })
        .expect("spawning the RTP receiver");
    running
}

fn fail(out: &mut impl Write, engine: Engine, error: &EngineError) -> i32 {
    let message = error.to_string();
    tracing::error!("recording failed: {message}");
    engine.fail(&message);
    say(out, &FromCompositor::Failed { v: CONTROL_VERSION, message });
    1
}

fn bind_socket(udp: Udp) -> std::io::Result<UdpSocket> {
    let domain = if udp.bind.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // The kernel may grant less (net.core.rmem_max); that is fine at these rates.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket.bind(&SocketAddr::new(udp.bind, 0).into())?;
    let socket: UdpSocket = socket.into();
    if let Some(peer) = udp.peer {
        socket.connect(peer).map_err(|e| std::io::Error::new(e.kind(), format!("cannot connect to the server's transport at {peer}: {e}")))?;
        // What came between bind and connect stays queued from anywhere: let it go.
        socket.set_nonblocking(true)?;
        let mut buf = [0u8; 2048];
        while socket.recv(&mut buf).is_ok() {}
        socket.set_nonblocking(false)?;
    }
    Ok(socket)
}

/// Writes one control line; false if stdout is gone.
fn say(out: &mut impl Write, message: &FromCompositor) -> bool {
    out.write_all(control::to_line(message).as_bytes()).and_then(|()| out.flush()).is_ok()
}

/// Stdin is read on its own thread (a blocking read cannot share the media loop); the
/// loop takes the lines from the same channel as the datagrams.
fn spawn_stdin_reader(tx: mpsc::Sender<Input>) {
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                match line {
                    Ok(line) if line.trim().is_empty() => {}
                    Ok(line) => {
                        if tx.send(Input::Line(Instant::now(), line)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(Input::ControlClosed);
        })
        .expect("spawning the control reader");
}

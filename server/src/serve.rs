//! `podium serve`: starts the workers and the HTTP server, and shuts both down cleanly
//! on SIGINT or SIGTERM.
use crate::cli::ServeConfig;
use crate::auth::{Keys, Secret};
use crate::http::host_rule::{origin_host, HostRule};
use crate::http::{self, AppState, Security};
use crate::media::{PoolOptions, WorkerPool};
use crate::recording::{Recorder, RecorderConfig};
use crate::room::Rooms;
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// How long open connections (WebSockets included) get to finish after a signal before
/// the server closes them. The whole shutdown must stay well under 5 s.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

pub fn run(config: ServeConfig) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("podium")
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(serve(config));
    // Do not wait for blocking tasks that may still hold a connection.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
}

async fn serve(config: ServeConfig) -> Result<()> {
    let pool = WorkerPool::start(&PoolOptions {
        workers: config.workers,
        listen_ip: config.listen.ip(),
        announced_ip: config.announced_ip,
        first_port: config.rtc_port,
        tcp: config.rtc_tcp.is_some(),
    })
    .await?;
    let pool = Arc::new(pool);
    crate::net::raise_open_files_limit();
    let tls = crate::net::tls::load(&config.tls)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen): is another server using it?", config.listen))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let rooms = Arc::new(Rooms::with_limits(Arc::clone(&pool), config.max_participants, config.max_rooms));
    let recorder = Recorder::new(RecorderConfig {
        dir: config.recordings_dir.clone(),
        program: std::env::current_exe().context("finding the podium binary (the recorder runs `podium compose`)")?,
        video: config.recording.clone(),
        audio: config.recording_audio,
        lookahead: config.recording_lookahead,
        switch: config.recording_switch,
        bind: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        max_running: config.max_recordings,
        admission: config.recording_admission,
        min_free_bytes: config.recording_min_free_mb.saturating_mul(1024 * 1024),
        retention: config.recording_retention_days.map(crate::recording::retention::Retention::days),
    });
    let secured = config.secret.is_some();
    let security = Security {
        keys: Keys::new(config.secret.as_ref().unwrap_or(&Secret::ephemeral())),
        secured,
        hosts: host_rule(&config, addr.port(), tls.is_some()),
        tls: tls.is_some(),
        allowed_origins: config.allowed_origins.clone(),
        public_origin: config.public_url.clone(),
        max_sockets_per_ip: config.max_sockets_per_ip,
        trusted_proxies: config.trusted_proxies.clone(),
    };
    let state = Arc::new(AppState::new(Arc::clone(&pool), rooms, Arc::clone(&recorder), stop_rx.clone(), security));
    let app = http::router(Arc::clone(&state));

    tracing::info!(ffmpeg = %compositor::ffmpeg_versions(), "media libraries");
    let mode = match (secured, config.insecure_open) {
        (true, _) => "secured",
        (false, true) => "open (--insecure-open)",
        (false, false) => "open (loopback only)",
    };
    let admission = if config.recording_admission.enabled { "on" } else { "off" };
    let recording_cores = match config.recording_admission.budget {
        crate::recording::admission::Budget::Machine => "the machine's".to_string(),
        crate::recording::admission::Budget::Cores(n) => n.to_string(),
    };
    let retention_days = config.recording_retention_days.map_or("none (kept until deleted)".to_string(), |d| d.to_string());
    tracing::info!(%addr, workers = config.workers, recordings_dir = %config.recordings_dir.display(), mode, max_recordings = config.max_recordings, admission, recording_cores, retention_days, "podium serving");
    if !config.trusted_proxies.is_empty() {
        let proxies: Vec<String> = config.trusted_proxies.iter().map(|p| p.to_string()).collect();
        tracing::info!(proxies = %proxies.join(", "), "requests from these trusted proxies count as coming from the client their X-Forwarded-For names");
        for broad in config.trusted_proxies.iter().filter(|r| r.is_broad()) {
            tracing::warn!("--trusted-proxy {broad}: every host in it may name any client it likes (and so escape the per-client limits) and is not held to the per-address connection limit; give the proxy's own address or network");
        }
    }
    if let (false, Some(public)) = (secured, &config.public_url) {
        tracing::warn!("--public-url {public} with no secret: anyone the proxy lets through can join any room, record, and delete recordings; set PODIUM_SECRET to require tokens");
    }
    if !secured && config.insecure_open && !config.listen.ip().is_loopback() {
        tracing::warn!("--insecure-open: anyone who reaches {addr} can join any room, record, and delete recordings; set PODIUM_SECRET to require tokens");
    }
    let scheme = if let Some(tls) = &tls {
        if !tls.names.is_empty() {
            println!("Self-signed certificate for {}: SHA-256 {}", tls.names.join(", "), tls.fingerprint);
        }
        "https"
    } else {
        "http"
    };
    // A plain line on stdout for people and scripts (tests read the port from it).
    println!("Podium is running on {scheme}://{addr}");

    // The library's first listing reads every sidecar (0.7 s for 2000 hour-long
    // recordings): done now, off the async threads, not in its first visitor's request.
    let library = Arc::clone(&recorder);
    tokio::task::spawn_blocking(move || {
        let began = std::time::Instant::now();
        let recordings = library.store().index();
        tracing::info!(recordings, ms = began.elapsed().as_millis() as u64, "recordings library read");
    });
    if config.recording_retention_days.is_some() {
        tokio::spawn(Arc::clone(&recorder).sweep_expired_every(crate::recording::retention::SWEEP_EVERY, stop_rx.clone()));
    }
    if let Some(rules) = config.rtc_tcp {
        tokio::spawn(pool.guard_tcp(rules, stop_rx.clone()));
    }
    let timeouts = crate::net::Timeouts::default();
    let server = tokio::spawn(crate::net::serve(listener, tls.map(|t| t.acceptor), app, timeouts, config.trusted_proxies.clone(), stop_rx.clone()));
    let signal = shutdown_signal().await;
    tracing::info!(signal, "shutting down");
    // Recordings first: their files are finalized while the meeting still runs.
    recorder.shutdown().await;
    let _ = stop_tx.send(true);
    // Signaling sessions run on tasks of their own (their connections were upgraded out
    // of the server's drain): each says `bye` (code `shutdown`, so pages tell a restart
    // from a lost network) and closes. Waited for too, or the runtime's end drops them
    // mid-word.
    let sessions_ended = async {
        while !state.sockets.lock().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let drained = async {
        let _ = server.await;
        sessions_ended.await;
    };
    if tokio::time::timeout(DRAIN_TIMEOUT + Duration::from_millis(500), drained).await.is_err() {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}: closing them");
    }
    // Sessions saw the stop signal and closed; dropping the last handle to each worker
    // closes it (and its routers and transports).
    drop(state);
    drop(recorder);
    drop(pool);
    tracing::info!("stopped");
    Ok(())
}

/// Which `Host` names the server answers: any when secured (tokens decide); in open
/// mode, loopback names, or with `--insecure-open` its addresses and hostname; in both,
/// `--public-url` and `--allowed-host`.
fn host_rule(config: &ServeConfig, port: u16, tls: bool) -> HostRule {
    let given = config.allowed_hosts.iter().cloned().chain(config.public_url.as_deref().and_then(origin_host));
    match (config.secret.is_some(), config.insecure_open) {
        (true, _) => HostRule::Any,
        (false, true) => {
            let rule = HostRule::lan(crate::net::hostname().as_deref(), given);
            // The refusals do not list them (a rebound page reads those): the log does.
            if let HostRule::Lan { names } = &rule {
                tracing::info!(names = %names.join(", "), "open mode answers to IP addresses, localhost and these names");
            }
            rule
        }
        (false, false) => HostRule::loopback(port, tls, given),
    }
}

async fn shutdown_signal() -> &'static str {
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

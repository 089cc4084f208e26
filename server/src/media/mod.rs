//! The mediasoup side of the server: a pool of workers (threads of this process), each
//! with one WebRtcServer so that all of a worker's WebRTC transports share a single
//! UDP+TCP port. Rooms are spread over the workers.
pub mod tcp_guard;
pub mod tcp_sockets;

use anyhow::{Context, Result};
use mediasoup::prelude::*;
use mediasoup::webrtc_server::{WebRtcServer, WebRtcServerListenInfos, WebRtcServerOptions};
use mediasoup::worker::{WorkerLogLevel, WorkerSettings};
use serde::Serialize;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
pub use tcp_sockets::TcpInUse;

/// What the worker's UDP sockets ask of the kernel, each way. One worker thread drains
/// every participant's media from one socket: Linux's default (212 kB) overflows when
/// keyframes arrive together while the thread is busy, and each drop costs a camera a
/// keyframe request and a frozen picture. The kernel grants at most
/// `net.core.rmem_max` / `wmem_max` (see [`warn_if_socket_buffers_capped`]).
pub const SOCKET_BUFFER: u32 = 4 << 20;

/// A UDP listening address on `ip`, on a port the system picks: what every
/// PlainTransport of the server and its tools binds.
pub fn udp_listen(ip: IpAddr) -> ListenInfo {
    ListenInfo {
        protocol: Protocol::Udp,
        ip,
        announced_address: None,
        expose_internal_ip: false,
        port: None,
        port_range: None,
        flags: None,
        send_buffer_size: Some(SOCKET_BUFFER),
        recv_buffer_size: Some(SOCKET_BUFFER),
    }
}

/// Says once, at start, when the kernel caps the sockets' buffers below
/// [`SOCKET_BUFFER`] (Linux's default `net.core.rmem_max` is 212 kB): media then drops
/// in bursts under load, and the operator can raise the limit (README, `make setup`).
pub fn warn_if_socket_buffers_capped() {
    for (name, path) in [("net.core.rmem_max", "/proc/sys/net/core/rmem_max"), ("net.core.wmem_max", "/proc/sys/net/core/wmem_max")] {
        let Some(max) = std::fs::read_to_string(path).ok().and_then(|v| v.trim().parse::<u64>().ok()) else { continue };
        if max < u64::from(SOCKET_BUFFER) {
            tracing::warn!(
                "{name} is {max} bytes: the media sockets get less than the {SOCKET_BUFFER} they ask for and may drop packets in bursts under load; raise it with `sysctl -w {name}={SOCKET_BUFFER}` (and keep it in /etc/sysctl.d; `make setup` does both where it may)"
            );
        }
    }
}

/// One mediasoup worker and the WebRtcServer that carries its participants' media.
pub struct MediaWorker {
    pub index: usize,
    pub worker: Worker,
    pub webrtc_server: WebRtcServer,
    pub udp_port: u16,
    /// 0: WebRTC over TCP is off (`--rtc-tcp off`).
    pub tcp_port: u16,
    /// Where this worker's transports are registered, so the TCP guard knows which
    /// connections carry media.
    pub tcp_in_use: TcpInUse,
    dead: Arc<AtomicBool>,
}

impl MediaWorker {
    pub fn is_alive(&self) -> bool {
        !self.dead.load(Ordering::SeqCst) && !self.worker.closed()
    }
}

/// What `/api/health` says of a worker.
#[derive(Debug, Serialize)]
pub struct WorkerHealth {
    pub index: usize,
    pub id: String,
    pub alive: bool,
    pub udp_port: u16,
    pub tcp_port: u16,
    pub routers: usize,
}

pub struct WorkerPool {
    // Kept so that the manager (and its executor thread) lives as long as the workers.
    _manager: WorkerManager,
    workers: Vec<MediaWorker>,
}

pub struct PoolOptions {
    pub workers: usize,
    pub listen_ip: IpAddr,
    pub announced_ip: IpAddr,
    /// First port; worker i uses first_port + i. 0: free ports chosen by the system.
    pub first_port: u16,
    /// Whether browsers may send media over TCP when UDP is blocked.
    pub tcp: bool,
}

impl WorkerPool {
    pub async fn start(options: &PoolOptions) -> Result<Self> {
        warn_if_socket_buffers_capped();
        let manager = WorkerManager::new();
        let tcp_in_use = TcpInUse::default();
        let mut workers = Vec::with_capacity(options.workers);
        for index in 0..options.workers {
            let mut settings = WorkerSettings::default();
            // The worker's own logs go to stderr unstructured; keep them to warnings.
            settings.log_level = WorkerLogLevel::Warn;
            settings.log_tags = vec![];
            let worker = manager
                .create_worker(settings)
                .await
                .with_context(|| format!("starting mediasoup worker {index}"))?;
            let dead = Arc::new(AtomicBool::new(false));
            worker
                .on_dead({
                    let dead = Arc::clone(&dead);
                    move |result| {
                        dead.store(true, Ordering::SeqCst);
                        tracing::error!(worker = index, ?result, "mediasoup worker died");
                    }
                })
                .detach();

            let port = match options.first_port {
                0 => None,
                first => Some(first + u16::try_from(index).context("too many workers")?),
            };
            let listen = |protocol| ListenInfo {
                protocol,
                ip: options.listen_ip,
                announced_address: (options.announced_ip != options.listen_ip)
                    .then(|| options.announced_ip.to_string()),
                expose_internal_ip: false,
                port,
                port_range: None,
                flags: None,
                // UDP only: a fixed size would turn off TCP's own buffer tuning.
                send_buffer_size: (protocol == Protocol::Udp).then_some(SOCKET_BUFFER),
                recv_buffer_size: (protocol == Protocol::Udp).then_some(SOCKET_BUFFER),
            };
            let mut listen_infos = WebRtcServerListenInfos::new(listen(Protocol::Udp));
            if options.tcp {
                listen_infos = listen_infos.insert(listen(Protocol::Tcp));
            }
            let webrtc_server = worker
                .create_webrtc_server(WebRtcServerOptions::new(listen_infos))
                .await
                .map_err(anyhow::Error::from)
                .with_context(|| match port {
                    Some(p) => format!("opening WebRTC port {p} ({}) on {} for worker {index}: is it in use? choose another with --rtc-port", if options.tcp { "UDP+TCP" } else { "UDP" }, options.listen_ip),
                    None => format!("opening a WebRTC port on {} for worker {index}", options.listen_ip),
                })?;
            let dump = webrtc_server.dump().await.context("reading the WebRtcServer's ports")?;
            let udp_port = dump.udp_sockets.first().map_or(0, |s| s.port);
            let tcp_port = dump.tcp_servers.first().map_or(0, |s| s.port);
            tracing::info!(worker = index, udp_port, tcp_port, "mediasoup worker ready");
            workers.push(MediaWorker { index, worker, webrtc_server, udp_port, tcp_port, tcp_in_use: tcp_in_use.clone(), dead });
        }
        Ok(Self { _manager: manager, workers })
    }

    pub fn workers(&self) -> &[MediaWorker] {
        &self.workers
    }

    /// Closes WebRTC TCP connections that carry no media (see [`tcp_guard`]), until
    /// `stop` turns true. Nothing to do when TCP is off.
    pub fn guard_tcp(&self, rules: tcp_guard::Rules, stop: tokio::sync::watch::Receiver<bool>) -> impl std::future::Future<Output = ()> + Send + 'static {
        let ports = self.workers.iter().map(|w| w.tcp_port).collect();
        // Every worker holds a clone of the one registry.
        let in_use = self.workers.first().map(|w| w.tcp_in_use.clone()).unwrap_or_default();
        tcp_sockets::watch(ports, in_use, rules, stop)
    }

    pub async fn health(&self) -> Vec<WorkerHealth> {
        let mut out = Vec::with_capacity(self.workers.len());
        for w in &self.workers {
            let alive = w.is_alive();
            let routers = if alive {
                w.worker.dump().await.map(|d| d.router_ids.len()).unwrap_or(0)
            } else {
                0
            };
            out.push(WorkerHealth {
                index: w.index,
                id: w.worker.id().to_string(),
                alive,
                udp_port: w.udp_port,
                tcp_port: w.tcp_port,
                routers,
            });
        }
        out
    }
}

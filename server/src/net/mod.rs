//! The HTTP listener: our own accept loop over hyper, for what `axum::serve` does not
//! do: TLS, a deadline on the request head (slowloris), closing idle keep-alive
//! connections, and the client's address for limits and the audit log.
mod idle;
mod ip_range;
pub mod tls;

pub use ip_range::{IpRange, IpRangeError};

pub use tls::{Tls, TlsMode};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use idle::{Activity, GuardedBody, Tracked, Verdict};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// This machine's hostname, lowercase, if it is a plain DNS name (for the self-signed
/// certificate and the names an open LAN server answers to).
pub fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    let ok = !name.is_empty() && name.len() <= 253 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| name.to_ascii_lowercase())
}

/// The address a client is counted by in per-address limits (connections, signaling
/// sockets, WebRTC TCP): an IPv6 client by its /64, which one host is given whole and
/// can use every address of; an IPv4-mapped IPv6 address as its IPv4 address.
pub fn counted_as(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::V6(octets.into())
            }
        },
    }
}

/// The network a client address belongs to, for sharing a total fairly between
/// networks: an IPv4 address's /24, an IPv6 address's /48 (what one site or customer
/// is commonly given whole, so its holder can spread over 65 536 /64s).
pub fn network_of(ip: IpAddr) -> IpAddr {
    match counted_as(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4([a, b, c, 0].into())
        }
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[6..].fill(0);
            IpAddr::V6(octets.into())
        }
    }
}

/// Connection deadlines and limits (docs/security.md).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// The whole request head (and the TLS handshake) must arrive within this.
    pub head: Duration,
    /// A connection with no bytes either way for this long is closed.
    pub idle: Duration,
    /// Open connections from one client address; more are closed at once.
    pub per_ip: usize,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { head: Duration::from_secs(10), idle: Duration::from_secs(60), per_ip: 256 }
    }
}

/// Raises the soft limit of open files to the hard one: every connection, WebRTC
/// transport and compositor pipe is a descriptor, and Debian's soft default is 1024.
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            let wanted = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                tracing::debug!(from = limit.rlim_cur, to = limit.rlim_max, "raised the open files limit");
            }
        }
    }
}

/// How long open connections get to finish once the server stops.
const DRAIN: Duration = Duration::from_secs(2);

/// Serves `app` on `listener` until `stop` turns true; then lets requests in flight
/// finish (up to [`DRAIN`]).
/// Peers in the `unlimited` ranges (trusted reverse proxies, which carry everyone's
/// connections) are not held to `timeouts.per_ip`.
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, app: Router, timeouts: Timeouts, unlimited: Vec<IpRange>, mut stop: watch::Receiver<bool>) {
    let tls = tls.map(Arc::new);
    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let slot = if unlimited.iter().any(|range| range.contains(&peer.ip())) {
            None
        } else {
            let Some(slot) = ConnectionSlot::take(&per_ip, counted_as(peer.ip()), timeouts.per_ip) else {
                tracing::debug!(%peer, "too many connections from this address: closed");
                continue;
            };
            Some(slot)
        };
        let _ = tcp.set_nodelay(true);
        let (tls, app, stop) = (tls.clone(), app.clone(), stop.clone());
        tasks.spawn(async move {
            let _slot = slot;
            connection(tcp, peer, tls, app, timeouts, stop).await;
        });
        // Reap finished connection tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
}

/// One open connection of a client address, given back when it closes.
struct ConnectionSlot {
    table: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl ConnectionSlot {
    fn take(table: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr, max: usize) -> Option<Self> {
        let mut open = table.lock();
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Self { table: Arc::clone(table), ip })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.table.lock();
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

async fn connection(tcp: TcpStream, peer: SocketAddr, tls: Option<Arc<TlsAcceptor>>, app: Router, timeouts: Timeouts, stop: watch::Receiver<bool>) {
    let activity = Activity::new();
    let tcp = Tracked::new(tcp, activity.clone());
    match tls {
        None => drive(TokioIo::new(tcp), peer, app, timeouts, activity, stop).await,
        Some(acceptor) => match tokio::time::timeout(timeouts.head, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => drive(TokioIo::new(stream), peer, app, timeouts, activity, stop).await,
            Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
            Err(_) => tracing::debug!(%peer, "TLS handshake not done in {:?}: closed", timeouts.head),
        },
    }
}

async fn drive<I>(io: TokioIo<I>, peer: SocketAddr, app: Router, timeouts: Timeouts, activity: Activity, mut stop: watch::Receiver<bool>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let activity = activity.clone();
        tower::service_fn(move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = activity.request_started();
            let app = app.clone();
            async move {
                let response = app.oneshot(request.map(axum::body::Body::new)).await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| GuardedBody { inner: body, _in_flight: in_flight }))
            }
        })
    };
    let service = hyper_util::service::TowerToHyperService::new(service);
    // No hyper timer: the watchdog below keeps the deadlines, since hyper's own header
    // timeout would also cut idle keep-alive connections at the head deadline.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true);
    let conn = builder.serve_connection_with_upgrades(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut check = tokio::time::interval(Duration::from_millis(250).min(timeouts.head));
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            _ = check.tick() => match activity.verdict(timeouts.head, timeouts.idle) {
                Verdict::KeepOpen => {}
                verdict => {
                    tracing::debug!(%peer, ?verdict, "connection closed");
                    return;
                }
            },
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_counts_by_its_64_and_a_mapped_one_as_ipv4() {
        let key = |s: &str| counted_as(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:198.51.100.7"), key("198.51.100.7"));
        assert_ne!(key("198.51.100.7"), key("198.51.100.8"));
    }

    #[test]
    fn a_network_is_an_ipv4_slash_24_or_an_ipv6_slash_48() {
        let net = |s: &str| network_of(s.parse().unwrap());
        assert_eq!(net("2001:db8:1:2::1"), net("2001:db8:1:ffff::9"));
        assert_eq!(net("2001:db8:1::"), "2001:db8:1::".parse::<IpAddr>().unwrap());
        assert_ne!(net("2001:db8:1:2::1"), net("2001:db8:2:2::1"));
        assert_eq!(net("198.51.100.7"), net("::ffff:198.51.100.200"));
        assert_eq!(net("198.51.100.7"), "198.51.100.0".parse::<IpAddr>().unwrap());
        assert_ne!(net("198.51.100.7"), net("198.51.101.7"));
    }
}

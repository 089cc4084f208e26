//! The IO side of [`TcpGuard`](super::tcp_guard): lists this process's TCP connections
//! on the WebRTC ports from `/proc`, learns which ones ICE uses from the registered
//! transports, and closes the ones the guard gives up on.
//!
//! The connections belong to mediasoup's worker threads, inside this process, and
//! mediasoup has no call to close one. `shutdown(2)` on the socket does it the way a
//! peer hanging up would: the worker reads end-of-file and closes the connection
//! itself, freeing the descriptor. The descriptor is never closed from here, so it
//! cannot be reused under the worker's feet.
use super::tcp_guard::{Connection, Reason, Rules, TcpGuard};
use mediasoup::prelude::*;
use mediasoup::types::data_structures::TransportTuple;
use mediasoup::webrtc_transport::WeakWebRtcTransport;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the sockets are looked at.
pub const PERIOD: Duration = Duration::from_secs(1);

/// The WebRTC transports whose selected TCP tuples are in use. Sessions register each
/// transport they create; closed ones drop out on their own.
#[derive(Clone, Default)]
pub struct TcpInUse(Arc<Mutex<Vec<WeakWebRtcTransport>>>);

impl TcpInUse {
    pub fn register(&self, transport: &WebRtcTransport) {
        self.0.lock().push(transport.downgrade());
    }

    /// The remote ends of the TCP tuples ICE has selected.
    fn remotes(&self) -> HashSet<SocketAddr> {
        let mut transports = self.0.lock();
        let mut remotes = HashSet::new();
        transports.retain(|weak| {
            let Some(transport) = weak.upgrade() else { return false };
            if let Some(TransportTuple::WithRemote { remote_ip, remote_port, protocol: Protocol::Tcp, .. }) = transport.ice_selected_tuple() {
                remotes.insert(SocketAddr::new(canonical(remote_ip), remote_port));
            }
            true
        });
        remotes
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so both lists name a client the same way.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Watches the WebRTC TCP ports until `stop` turns true. Runs on the blocking pool:
/// reading `/proc` is file IO.
pub async fn watch(ports: Vec<u16>, in_use: TcpInUse, rules: Rules, mut stop: tokio::sync::watch::Receiver<bool>) {
    let ports: HashSet<u16> = ports.into_iter().filter(|p| *p != 0).collect();
    if ports.is_empty() {
        return;
    }
    let guard = Arc::new(Mutex::new(TcpGuard::new(rules)));
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let (guard, ports, in_use) = (Arc::clone(&guard), ports.clone(), in_use.clone());
        let look = tokio::task::spawn_blocking(move || look_once(&mut guard.lock(), &ports, &in_use)).await;
        if let Ok(Err(e)) = look {
            tracing::warn!("cannot list the WebRTC TCP connections (idle ones will not be closed): {e}");
            return;
        }
    }
}

fn look_once(guard: &mut TcpGuard, ports: &HashSet<u16>, in_use: &TcpInUse) -> std::io::Result<()> {
    let mut connections = Vec::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        // No IPv6 in this kernel: no tcp6 table.
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        connections.extend(parse_table(&text, ports));
    }
    // The usual case, nobody on TCP: no need to read every descriptor's link. The
    // guard still hears of it, so it forgets connections that are gone.
    let sockets = if connections.is_empty() { HashMap::new() } else { socket_fds()? };
    // The tables list the whole network namespace: keep this process's own.
    connections.retain(|c| sockets.contains_key(&c.inode));
    let remotes = in_use.remotes();
    let close = guard.observe(Instant::now(), &connections, &remotes);
    let mut counts: HashMap<Reason, usize> = HashMap::new();
    for (connection, reason) in &close {
        if shut_down(sockets[&connection.inode], connection.inode) {
            *counts.entry(*reason).or_default() += 1;
        }
    }
    if !counts.is_empty() {
        let count = |r| counts.get(&r).copied().unwrap_or(0);
        tracing::warn!(
            not_used_in_time = count(Reason::NotUsedInTime),
            too_many_from_one_source = count(Reason::TooManyFromSource),
            too_many_pending = count(Reason::TooManyPending),
            still_pending = guard.pending(),
            "closed WebRTC TCP connections that carried no media (docs/security.md#webrtc-over-tcp)"
        );
    }
    Ok(())
}

/// This process's sockets: inode → descriptor.
fn socket_fds() -> std::io::Result<HashMap<u64, i32>> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Ok(entry) = entry else { continue };
        let Ok(target) = std::fs::read_link(entry.path()) else { continue };
        let target = target.to_string_lossy();
        let Some(inode) = target.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']')).and_then(|t| t.parse().ok()) else { continue };
        if let Ok(fd) = entry.file_name().to_string_lossy().parse() {
            out.insert(inode, fd);
        }
    }
    Ok(out)
}

/// The connections (not listeners) on `ports` in a `/proc/net/tcp` or `tcp6` table.
fn parse_table(text: &str, ports: &HashSet<u16>) -> Vec<Connection> {
    const LISTEN: &str = "0A";
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, state, inode) = (fields.get(1)?, fields.get(2)?, fields.get(3)?, fields.get(9)?);
            let (_, local_port) = parse_endpoint(local)?;
            if *state == LISTEN || !ports.contains(&local_port) {
                return None;
            }
            let (ip, port) = parse_endpoint(remote)?;
            Some(Connection { inode: inode.parse().ok()?, remote: SocketAddr::new(canonical(ip), port) })
        })
        .collect()
}

/// `0100007F:9C40` (IPv4) or 32 hex digits and a port (IPv6). The kernel prints each
/// 32-bit word of the address as a number in host byte order, the port as a number.
fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok().map(u32::to_ne_bytes);
    let ip = match addr.len() {
        8 => IpAddr::from(word(0)?),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Shuts the socket down if descriptor `fd` still is socket `inode`.
fn shut_down(fd: i32, inode: u64) -> bool {
    let same = std::fs::metadata(format!("/proc/self/fd/{fd}")).is_ok_and(|m| m.ino() == inode);
    // SAFETY: shutdown(2) takes a descriptor number and touches no memory of ours; on a
    // descriptor that is not a socket it fails with ENOTSOCK.
    same && unsafe { libc::shutdown(fd, libc::SHUT_RDWR) } == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernels_tables() {
        let ports: HashSet<u16> = [40000].into();
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            0: 0100007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0\n\
            1: 0100007F:9C40 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0 20 4 30 10 -1\n\
            2: 0100007F:0BB8 0100007F:D432 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 20 4 30 10 -1\n";
        assert_eq!(parse_table(v4, &ports), vec![Connection { inode: 222, remote: "127.0.0.1:54321".parse().unwrap() }]);
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            0: 00000000000000000000000001000000:9C40 B80D0120000000000000000001000000:C350 01 00000000:00000000 00:00000000 00000000     0        0 444 1\n\
            1: 0000000000000000FFFF00000100007F:9C40 0000000000000000FFFF00000700A8C0:C351 01 00000000:00000000 00:00000000 00000000     0        0 555 1\n";
        if cfg!(target_endian = "little") {
            assert_eq!(
                parse_table(v6, &ports),
                vec![
                    Connection { inode: 444, remote: "[2001:db8::1]:50000".parse().unwrap() },
                    Connection { inode: 555, remote: "192.168.0.7:50001".parse().unwrap() },
                ]
            );
        }
    }

    #[test]
    fn a_connection_is_shut_down_only_while_its_descriptor_is_still_that_socket() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let fd = server.as_raw_fd();
        let inode = std::fs::metadata(format!("/proc/self/fd/{fd}")).unwrap().ino();
        assert!(!shut_down(fd, inode + 1), "another inode: left alone");
        assert!(shut_down(fd, inode));
        let mut buf = [0u8; 1];
        assert_eq!(client.read(&mut buf).unwrap(), 0, "the client sees the server hang up");
    }
}

//! Which WebRTC-over-TCP connections to close. mediasoup's WebRtcServer accepts every
//! TCP connection on `--rtc-port` and keeps it until the peer hangs up: a client that
//! opens thousands and sends nothing (or junk) holds them all, until the process runs
//! out of file descriptors and the HTTP listener stops answering too.
//!
//! A browser's TCP connection becomes *in use* within a second or two: ICE picks it as
//! its transport's selected tuple. Every other connection is *pending*, and pending
//! connections are bounded three ways:
//! - by age: a connection still pending after [`Rules::grace`] is closed (a browser
//!   that chose UDP drops its spare TCP pair then; nothing is lost);
//! - per source address (an IPv6 source counts by its /64, which one host can fill):
//!   beyond [`Rules::per_source`], the newest are closed, so a flood from one address
//!   cannot evict other people's;
//! - in total: beyond [`Rules::total`], the network holding the most pending
//!   connections (an IPv4 /24, an IPv6 /48: see [`crate::net::network_of`]) loses its
//!   newest, again and again until the total fits. A flood from one network that
//!   filled the total first cannot keep newcomers out, however many of its addresses
//!   it spreads over: whoever holds the most gives way. (A flood from more networks
//!   than the total, one connection each, is a firewall's to stop.)
//!
//! A connection in use is never closed here. This is sans-IO: [`TcpGuard::observe`] is
//! fed what the sockets look like and when, and answers which to close
//! (`tcp_sockets.rs` reads the sockets and closes them).
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The limits on pending connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub grace: Duration,
    pub per_source: usize,
    pub total: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Self { grace: Duration::from_secs(30), per_source: 64, total: 4096 }
    }
}

/// One established TCP connection on a WebRTC port, as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The socket's inode: what identifies it between two looks.
    pub inode: u64,
    pub remote: SocketAddr,
}

/// Why a connection is closed (logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    NotUsedInTime,
    TooManyFromSource,
    TooManyPending,
}

/// Remembers when each pending connection was first seen.
#[derive(Debug, Default)]
pub struct TcpGuard {
    rules: Rules,
    first_seen: HashMap<u64, Instant>,
}

impl TcpGuard {
    pub fn new(rules: Rules) -> Self {
        Self { rules, first_seen: HashMap::new() }
    }

    /// Takes the connections open `now` and the remote addresses of the TCP tuples ICE
    /// has selected; answers which connections to close, and why.
    pub fn observe(&mut self, now: Instant, connections: &[Connection], in_use: &HashSet<SocketAddr>) -> Vec<(Connection, Reason)> {
        let pending: Vec<Connection> = connections.iter().filter(|c| !in_use.contains(&c.remote)).copied().collect();
        // Forget connections that closed or came into use.
        let still: HashSet<u64> = pending.iter().map(|c| c.inode).collect();
        self.first_seen.retain(|inode, _| still.contains(inode));
        for c in &pending {
            self.first_seen.entry(c.inode).or_insert(now);
        }
        // Oldest first, so the limits keep the oldest and close the newest. Inodes
        // break ties between connections first seen together (the kernel numbers them
        // in order of creation).
        let mut pending: Vec<(Instant, Connection)> = pending.into_iter().map(|c| (self.first_seen[&c.inode], c)).collect();
        pending.sort_by_key(|(seen, c)| (*seen, c.inode));

        let mut close = Vec::new();
        let mut per_source: HashMap<IpAddr, usize> = HashMap::new();
        // What the age and the per-source limit leave, by network, oldest first.
        let mut by_network: HashMap<IpAddr, Vec<(Instant, Connection)>> = HashMap::new();
        let mut kept: usize = 0;
        for (seen, c) in pending {
            let count = per_source.entry(crate::net::counted_as(c.remote.ip())).or_default();
            let reason = if now.saturating_duration_since(seen) >= self.rules.grace {
                Some(Reason::NotUsedInTime)
            } else if *count >= self.rules.per_source {
                Some(Reason::TooManyFromSource)
            } else {
                None
            };
            match reason {
                Some(reason) => close.push((c, reason)),
                None => {
                    *count += 1;
                    kept += 1;
                    by_network.entry(crate::net::network_of(c.remote.ip())).or_default().push((seen, c));
                }
            }
        }
        close.extend(fair_share(by_network, kept.saturating_sub(self.rules.total)).into_iter().map(|c| (c, Reason::TooManyPending)));
        for (c, _) in &close {
            self.first_seen.remove(&c.inode);
        }
        close
    }

    /// Pending connections being watched.
    pub fn pending(&self) -> usize {
        self.first_seen.len()
    }
}

/// A network in the queue to give way: how many it holds, when its newest was first
/// seen (and its inode), and its index in the lists. The greatest gives way first.
type Holding = (usize, Option<(Instant, u64)>, usize);

/// Picks `excess` connections to close, each time the newest of the network holding
/// the most (between equal holdings, the one whose newest came last). Each network's
/// list is oldest first.
fn fair_share(by_network: HashMap<IpAddr, Vec<(Instant, Connection)>>, excess: usize) -> Vec<Connection> {
    if excess == 0 {
        return Vec::new();
    }
    let newest = |list: &[(Instant, Connection)]| list.last().map(|(seen, c)| (*seen, c.inode));
    let mut lists: Vec<Vec<(Instant, Connection)>> = by_network.into_values().collect();
    let mut heap: BinaryHeap<Holding> = lists.iter().enumerate().map(|(i, list)| (list.len(), newest(list), i)).collect();
    let mut close = Vec::with_capacity(excess);
    while close.len() < excess {
        let Some((_, _, i)) = heap.pop() else { break };
        let Some((_, c)) = lists[i].pop() else { continue };
        close.push(c);
        if !lists[i].is_empty() {
            heap.push((lists[i].len(), newest(&lists[i]), i));
        }
    }
    close
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(inode: u64, remote: &str) -> Connection {
        Connection { inode, remote: remote.parse().unwrap() }
    }

    fn rules() -> Rules {
        Rules { grace: Duration::from_secs(30), per_source: 3, total: 5 }
    }

    fn closed(out: &[(Connection, Reason)]) -> Vec<(u64, Reason)> {
        let mut v: Vec<_> = out.iter().map(|(c, r)| (c.inode, *r)).collect();
        v.sort_by_key(|(i, _)| *i);
        v
    }

    #[test]
    fn a_pending_connection_is_closed_after_the_grace_and_not_before() {
        let t0 = Instant::now();
        let mut guard = TcpGuard::new(rules());
        let c = [conn(1, "198.51.100.7:50000")];
        assert!(guard.observe(t0, &c, &HashSet::new()).is_empty());
        assert!(guard.observe(t0 + Duration::from_secs(29), &c, &HashSet::new()).is_empty());
        assert_eq!(closed(&guard.observe(t0 + Duration::from_secs(30), &c, &HashSet::new())), vec![(1, Reason::NotUsedInTime)]);
        assert_eq!(guard.pending(), 0);
    }

    #[test]
    fn a_connection_in_use_is_never_closed_and_its_age_restarts_if_it_falls_out_of_use() {
        let t0 = Instant::now();
        let mut guard = TcpGuard::new(rules());
        let c = [conn(1, "198.51.100.7:50000")];
        let in_use: HashSet<SocketAddr> = [c[0].remote].into();
        assert!(guard.observe(t0, &c, &HashSet::new()).is_empty());
        for s in [5, 60, 3600] {
            assert!(guard.observe(t0 + Duration::from_secs(s), &c, &in_use).is_empty());
        }
        // ICE moved to another pair: the old connection gets a grace of its own.
        assert!(guard.observe(t0 + Duration::from_secs(3601), &c, &HashSet::new()).is_empty());
        assert_eq!(closed(&guard.observe(t0 + Duration::from_secs(3631), &c, &HashSet::new())), vec![(1, Reason::NotUsedInTime)]);
    }

    #[test]
    fn a_flood_from_one_source_loses_its_newest_and_spares_everyone_else() {
        let t0 = Instant::now();
        let mut guard = TcpGuard::new(rules());
        let other = conn(100, "203.0.113.9:40000");
        assert!(guard.observe(t0, &[other], &HashSet::new()).is_empty());
        let mut all = vec![other];
        all.extend((1..=6).map(|i| conn(i, &format!("198.51.100.7:{}", 50000 + i))));
        let out = guard.observe(t0 + Duration::from_secs(1), &all, &HashSet::new());
        assert_eq!(closed(&out), vec![(4, Reason::TooManyFromSource), (5, Reason::TooManyFromSource), (6, Reason::TooManyFromSource)]);
        // The survivors stay until their grace runs out.
        let left: Vec<_> = all.iter().filter(|c| c.inode <= 3 || c.inode == 100).copied().collect();
        assert!(guard.observe(t0 + Duration::from_secs(2), &left, &HashSet::new()).is_empty());
    }

    #[test]
    fn an_ipv6_source_counts_by_its_slash_64() {
        let t0 = Instant::now();
        let mut guard = TcpGuard::new(rules());
        let all: Vec<_> = (1..=4).map(|i| conn(i, &format!("[2001:db8:1:2::{i:x}]:5000"))).collect();
        assert_eq!(closed(&guard.observe(t0, &all, &HashSet::new())), vec![(4, Reason::TooManyFromSource)]);
        // Another /64 is another source; an IPv4-mapped address is its IPv4 address.
        let mut guard = TcpGuard::new(rules());
        let all = [conn(1, "[2001:db8:1:2::1]:5000"), conn(2, "[2001:db8:1:3::1]:5000"), conn(3, "[::ffff:198.51.100.7]:5000"), conn(4, "198.51.100.7:5001")];
        assert!(guard.observe(t0, &all, &HashSet::new()).is_empty());
    }

    #[test]
    fn a_flood_over_many_slash_64s_that_filled_the_total_gives_way_to_newcomers() {
        let t0 = Instant::now();
        let mut guard = TcpGuard::new(rules());
        // One /48, five /64s, one connection each: the per-source limit never bites,
        // and the total (5) is full.
        let flood: Vec<_> = (1..=5).map(|i| conn(i, &format!("[2001:db8:7:{i:x}::1]:5000"))).collect();
        assert!(guard.observe(t0, &flood, &HashSet::new()).is_empty());
        // Two people from elsewhere come after it: the flood's newest two give way.
        let mut all = flood.clone();
        all.extend([conn(10, "198.51.100.7:5000"), conn(11, "[2001:db8:8::1]:5000")]);
        assert_eq!(closed(&guard.observe(t0 + Duration::from_secs(1), &all, &HashSet::new())), vec![(4, Reason::TooManyPending), (5, Reason::TooManyPending)]);
        // A refill of the flood loses again, the newcomers stay.
        let mut all: Vec<_> = all.into_iter().filter(|c| c.inode < 4 || c.inode >= 10).collect();
        all.extend((20..=22).map(|i| conn(i, &format!("[2001:db8:7:{i:x}::1]:5000"))));
        assert_eq!(closed(&guard.observe(t0 + Duration::from_secs(2), &all, &HashSet::new())), (20..=22).map(|i| (i, Reason::TooManyPending)).collect::<Vec<_>>());
    }

    #[test]
    fn between_equal_holdings_the_network_whose_newest_came_last_gives_way() {
        let t0 = Instant::now();
        let mut guard = TcpGuard::new(Rules { total: 3, ..rules() });
        let a = [conn(1, "198.51.100.1:5000"), conn(2, "198.51.100.2:5000")];
        assert!(guard.observe(t0, &a, &HashSet::new()).is_empty());
        let mut all = a.to_vec();
        all.extend([conn(3, "203.0.113.1:5000"), conn(4, "203.0.113.2:5000")]);
        assert_eq!(closed(&guard.observe(t0 + Duration::from_secs(1), &all, &HashSet::new())), vec![(4, Reason::TooManyPending)]);
    }

    #[test]
    fn the_total_keeps_the_oldest_pending_connections() {
        let t0 = Instant::now();
        let mut guard = TcpGuard::new(rules());
        let first: Vec<_> = (1..=4).map(|i| conn(i, &format!("198.51.100.{i}:5000"))).collect();
        assert!(guard.observe(t0, &first, &HashSet::new()).is_empty());
        let mut all = first.clone();
        all.extend((5..=7).map(|i| conn(i, &format!("198.51.100.{i}:5000"))));
        // In use: not counted against the total.
        all.push(conn(8, "198.51.100.8:5000"));
        let in_use: HashSet<SocketAddr> = [all[7].remote].into();
        let out = guard.observe(t0 + Duration::from_secs(1), &all, &in_use);
        assert_eq!(closed(&out), vec![(6, Reason::TooManyPending), (7, Reason::TooManyPending)]);
    }
}

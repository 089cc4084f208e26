//! The client's address behind a reverse proxy. Every per-client limit (signaling
//! sockets, the paces of joins, producers and recording starts) and the audit log read
//! the client's address; behind a proxy the TCP peer is the proxy for everyone, so a
//! few people would use up the limits of all. With `--trusted-proxy`, a request whose
//! peer is a trusted proxy is taken to come from the address that proxy put in
//! `X-Forwarded-For`: the rightmost one that is not itself a trusted proxy (everything
//! left of it is what the client claimed, which anyone can forge). A peer that is not
//! trusted is the client, whatever headers it sends.
use crate::net::IpRange;
use std::net::IpAddr;

/// The address a request comes from, as the guard resolved it (an extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client of a request from `peer` carrying `forwarded_for` (each `X-Forwarded-For`
/// header's value, in order), given the `trusted` proxies' addresses.
pub fn client_addr<'a>(peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>, trusted: &[IpRange]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|range| range.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Right to left: the hop nearest us first. An entry that does not parse ends the
    // walk: what lies left of it cannot be told apart from a client's forgery.
    let hops: Vec<&str> = forwarded_for.into_iter().flat_map(|value| value.split(',')).collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { return peer };
        if !is_trusted(&ip) {
            return ip;
        }
    }
    peer
}

/// `203.0.113.5`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.5:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_anyone_else_is_the_client() {
        let trusted: [IpRange; 2] = [ip("127.0.0.1").into(), ip("10.0.0.2").into()];
        // Behind the proxy: the address it added, the rightmost.
        assert_eq!(client_addr(ip("127.0.0.1"), ["203.0.113.5"].into_iter(), &trusted), ip("203.0.113.5"));
        // A client's forged entries stand left of what the proxy added.
        assert_eq!(client_addr(ip("127.0.0.1"), ["1.2.3.4, 203.0.113.5"].into_iter(), &trusted), ip("203.0.113.5"));
        assert_eq!(client_addr(ip("127.0.0.1"), ["1.2.3.4", "203.0.113.5"].into_iter(), &trusted), ip("203.0.113.5"));
        // Two trusted proxies in a row: the first address that is not one of them.
        assert_eq!(client_addr(ip("127.0.0.1"), ["203.0.113.5, 10.0.0.2"].into_iter(), &trusted), ip("203.0.113.5"));
        assert_eq!(client_addr(ip("::ffff:127.0.0.1"), ["[2001:db8::1]:4711"].into_iter(), &trusted), ip("2001:db8::1"));
        // No header, or one that does not parse: the proxy itself.
        assert_eq!(client_addr(ip("127.0.0.1"), [].into_iter(), &trusted), ip("127.0.0.1"));
        assert_eq!(client_addr(ip("127.0.0.1"), ["1.2.3.4, unknown"].into_iter(), &trusted), ip("127.0.0.1"));
        // Anyone else is the client, whatever it claims.
        assert_eq!(client_addr(ip("198.51.100.7"), ["127.0.0.1"].into_iter(), &trusted), ip("198.51.100.7"));
        assert_eq!(client_addr(ip("127.0.0.1"), ["203.0.113.5"].into_iter(), &[]), ip("127.0.0.1"));
    }

    #[test]
    fn proxies_in_a_trusted_range_are_walked_past() {
        // A load balancer and an ingress, both in the container network.
        let trusted: [IpRange; 1] = ["172.16.0.0/12".parse().unwrap()];
        assert_eq!(client_addr(ip("172.18.0.5"), ["1.2.3.4, 203.0.113.5, 172.17.0.9"].into_iter(), &trusted), ip("203.0.113.5"));
        assert_eq!(client_addr(ip("::ffff:172.18.0.5"), ["203.0.113.5"].into_iter(), &trusted), ip("203.0.113.5"));
        // Just outside the range: the peer is the client.
        assert_eq!(client_addr(ip("172.32.0.5"), ["203.0.113.5"].into_iter(), &trusted), ip("172.32.0.5"));
        // Every entry inside the range: the nearest proxy, never a forged entry past it.
        assert_eq!(client_addr(ip("172.18.0.5"), ["172.17.0.9"].into_iter(), &trusted), ip("172.18.0.5"));
    }
}

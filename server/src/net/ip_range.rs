//! An address range in CIDR form (`10.0.0.0/8`, `fd00::/8`) or a single address, for
//! `--trusted-proxy`: a proxy in a container network or behind a load balancer comes
//! from an address in a range, not from one fixed address.
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// `network/prefix`; a single address is a range of one (/32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

/// Why a `--trusted-proxy` value is not a range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpRangeError {
    #[error("`{0}` is not an IP address or a range like 10.0.0.0/8 or fd00::/8 (names are not looked up)")]
    NotAnAddress(String),
    #[error("`{value}`: the prefix length must be a number from 1 to {max}")]
    BadPrefix { value: String, max: u8 },
    #[error("`{value}` has address bits set past its /{prefix}; did you mean {suggestion}?")]
    HostBitsSet { value: String, prefix: u8, suggestion: String },
}

impl IpRange {
    /// Wider than one network's worth of hosts (an IPv4 /16, an IPv6 /48): every host
    /// in a trusted range may name any client it likes, so such a range likely holds
    /// more than the proxies.
    pub fn is_broad(&self) -> bool {
        self.prefix < if self.network.is_ipv4() { 16 } else { 48 }
    }

    /// Whether `ip` lies in the range. An IPv4-mapped IPv6 address (how a dual-stack
    /// listener sees an IPv4 peer) is taken as its IPv4 address, on either side.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => masked(u32::from(ip) as u128, 32, self.prefix) == u32::from(net) as u128,
            (IpAddr::V6(net), IpAddr::V6(ip)) => masked(u128::from(ip), 128, self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

/// `bits` (of a `width`-bit address) with everything past the first `prefix` cleared.
fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
    let host_bits = width - prefix;
    if host_bits >= 128 {
        0
    } else {
        bits >> host_bits << host_bits
    }
}

impl FromStr for IpRange {
    type Err = IpRangeError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let not_an_address = || IpRangeError::NotAnAddress(value.to_string());
        let (address, prefix) = match value.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (value, None),
        };
        let network = address.parse::<IpAddr>().map_err(|_| not_an_address())?.to_canonical();
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            // /0 would trust every address on the internet to name its own client, which
            // lets anyone pick the address it is counted as: refused, not just warned of.
            Some(p) => match p.parse::<u8>() {
                Ok(p) if (1..=width).contains(&p) && p.to_string().len() == value.len() - address.len() - 1 => p,
                _ => return Err(IpRangeError::BadPrefix { value: value.to_string(), max: width }),
            },
        };
        let range = IpRange { network, prefix };
        let cleared = IpRange { network: range.first(), prefix };
        if cleared.network != network {
            return Err(IpRangeError::HostBitsSet { value: value.to_string(), prefix, suggestion: cleared.to_string() });
        }
        Ok(range)
    }
}

impl IpRange {
    /// The range's first address: its network address with the host bits cleared.
    fn first(&self) -> IpAddr {
        match self.network {
            IpAddr::V4(net) => IpAddr::V4((masked(u32::from(net) as u128, 32, self.prefix) as u32).into()),
            IpAddr::V6(net) => IpAddr::V6(masked(u128::from(net), 128, self.prefix).into()),
        }
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = if self.network.is_ipv4() { 32 } else { 128 };
        if self.prefix == width {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

impl From<IpAddr> for IpRange {
    fn from(ip: IpAddr) -> Self {
        let network = ip.to_canonical();
        IpRange { network, prefix: if network.is_ipv4() { 32 } else { 128 } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn range(s: &str) -> IpRange {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_range_holds_the_addresses_under_its_prefix() {
        let docker = range("172.16.0.0/12");
        assert!(docker.contains(&ip("172.16.0.1")));
        assert!(docker.contains(&ip("172.31.255.254")));
        assert!(docker.contains(&ip("::ffff:172.20.0.3")), "a dual-stack listener's view of an IPv4 peer");
        assert!(!docker.contains(&ip("172.32.0.1")));
        assert!(!docker.contains(&ip("172.15.255.255")));
        assert!(!docker.contains(&ip("::1")));

        let ula = range("fd00::/8");
        assert!(ula.contains(&ip("fd12:3456::1")));
        assert!(!ula.contains(&ip("fe80::1")));
        assert!(!ula.contains(&ip("10.0.0.1")));

        let one = range("127.0.0.1");
        assert!(one.contains(&ip("127.0.0.1")) && one.contains(&ip("::ffff:127.0.0.1")));
        assert!(!one.contains(&ip("127.0.0.2")));
        assert!(range("::1").contains(&ip("::1")));
        assert!(range("::ffff:10.0.0.2").contains(&ip("10.0.0.2")), "a mapped address given is its IPv4 one");
        assert!(range("10.1.2.3/32").contains(&ip("10.1.2.3")) && !range("10.1.2.3/32").contains(&ip("10.1.2.4")));
        assert!(range("2001:db8::/128").contains(&ip("2001:db8::")));
        assert!(range("128.0.0.0/1").contains(&ip("255.255.255.255")) && !range("128.0.0.0/1").contains(&ip("127.255.255.255")));
        assert!(range("8000::/1").contains(&ip("ffff::1")) && !range("8000::/1").contains(&ip("7fff::1")));
    }

    #[test]
    fn a_value_that_is_not_a_range_says_what_would_be() {
        for bad in ["proxy.lan", "", "10.0.0.0/", "/8", "10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0.0/+8", "10.0.0.0/08", "10.0.0.0/x", "[::1]"] {
            let err = bad.parse::<IpRange>().unwrap_err();
            assert!(matches!(err, IpRangeError::NotAnAddress(_) | IpRangeError::BadPrefix { .. }), "{bad}: {err:?}");
        }
        for bad in ["10.0.0.0/0", "::/0", "10.0.0.0/33", "fd00::/129"] {
            assert!(matches!(bad.parse::<IpRange>(), Err(IpRangeError::BadPrefix { .. })), "{bad}");
        }
        let err = "10.0.0.1/8".parse::<IpRange>().unwrap_err();
        assert_eq!(err.to_string(), "`10.0.0.1/8` has address bits set past its /8; did you mean 10.0.0.0/8?");
        assert!("fd00::1/8".parse::<IpRange>().unwrap_err().to_string().contains("did you mean fd00::/8?"));
    }

    #[test]
    fn ranges_wider_than_a_network_are_broad() {
        assert!(range("172.16.0.0/12").is_broad() && range("10.0.0.0/8").is_broad() && range("2001:db8::/32").is_broad());
        assert!(!range("172.18.0.0/16").is_broad() && !range("127.0.0.1").is_broad() && !range("fd00:1:2::/48").is_broad());
    }

    #[test]
    fn a_range_prints_as_given() {
        for s in ["10.0.0.0/8", "127.0.0.1", "fd00::/8", "::1"] {
            assert_eq!(range(s).to_string(), s);
        }
        assert_eq!(IpRange::from(ip("::ffff:127.0.0.1")).to_string(), "127.0.0.1");
    }
}

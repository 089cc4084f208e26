//! Which `Host` names an open-mode server answers to. With no secret, nothing but the
//! `Host` header tells a page on this server from a page of another site that a DNS
//! rebinding made resolve to it (`attacker.example` → 127.0.0.1 or 192.168.1.5): the
//! browser then sends `Host: attacker.example`, and with no token to check, the attacker's
//! page could join rooms and delete recordings. So open mode answers only names that
//! this server's operator gave or the machine has. A secured server needs no such rule:
//! a rebound page holds no token.

/// How `Host` is checked (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRule {
    /// Secured (tokens decide), or a caller inside the process.
    Any,
    /// Open mode on loopback: `localhost`, `127.0.0.1` or `[::1]` with the server's
    /// port, or one of `names` on any port (`--public-url` and `--allowed-host`: the
    /// names a reverse proxy on this machine forwards).
    Loopback { port: u16, tls: bool, names: Vec<String> },
    /// `--insecure-open` (on a LAN, or on loopback all the same): an IP address (a
    /// rebound page always names a domain), `localhost`, or one of `names` (the
    /// machine's hostname, `--public-url`, `--allowed-host`), on any port (a proxy or
    /// NAT may change it).
    Lan { names: Vec<String> },
}

/// The refusal, worded for the person whose browser sent the name. It names none of
/// the names that pass: after a rebinding, the attacker's page reads this answer, and
/// the machine's hostname and internal DNS names are not its business.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostRefused {
    #[error("this server runs in open mode and answers only on localhost, 127.0.0.1 or [::1] (port {port}), not \"{host}\": to reach it by another name, add the name with --allowed-host; from elsewhere, set PODIUM_SECRET")]
    NotLoopback { host: String, port: u16 },
    #[error("this server runs in open mode (--insecure-open) and does not answer to \"{host}\": reach it by an IP address or its hostname, add the name with --allowed-host, or set PODIUM_SECRET")]
    UnknownName { host: String },
}

impl HostRule {
    /// Open mode on loopback, with the names the operator gave.
    pub fn loopback(port: u16, tls: bool, given: impl IntoIterator<Item = String>) -> Self {
        Self::Loopback { port, tls, names: normalized(given) }
    }

    /// `--insecure-open`: the names the operator gave, the machine's hostname and its
    /// mDNS `.local` name.
    pub fn lan(machine_hostname: Option<&str>, given: impl IntoIterator<Item = String>) -> Self {
        let machine = machine_hostname.map(|h| h.to_ascii_lowercase());
        let local = machine.as_ref().filter(|h| !h.contains('.')).map(|h| format!("{h}.local"));
        Self::Lan { names: normalized(given.into_iter().chain(machine).chain(local)) }
    }

    /// `Host`'s value (`None` when absent) against the rule.
    pub fn check(&self, host: Option<&str>) -> Result<(), HostRefused> {
        let raw = host.unwrap_or("").trim().to_ascii_lowercase();
        let (name, port) = split_host(&raw);
        // The refusal quotes it: not the whole of an 8 KiB header.
        let quoted = || raw.chars().take(100).collect::<String>();
        let named = |names: &[String]| names.iter().any(|n| n == name.trim_end_matches('.'));
        match self {
            Self::Any => Ok(()),
            Self::Loopback { port: ours, tls, names } => {
                let default_port = if *tls { 443 } else { 80 };
                let port_ok = port.map_or(*ours == default_port, |p| p == *ours);
                let loopback = ["localhost", "127.0.0.1", "[::1]"].contains(&name) && port_ok;
                if loopback || named(names) {
                    Ok(())
                } else {
                    Err(HostRefused::NotLoopback { host: quoted(), port: *ours })
                }
            }
            Self::Lan { names } => {
                let name = name.trim_end_matches('.');
                // IPv6 in one pair of brackets, IPv4 bare: as a browser writes them.
                let address = match name.strip_prefix('[') {
                    Some(inner) => inner.strip_suffix(']').is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok()),
                    None => name.parse::<std::net::Ipv4Addr>().is_ok(),
                };
                if address || name == "localhost" || named(names) {
                    Ok(())
                } else {
                    Err(HostRefused::UnknownName { host: quoted() })
                }
            }
        }
    }
}

/// Lowercase, without a port (`--public-url https://meet.example.com:8443` names
/// `meet.example.com`) or a final dot, each once.
fn normalized(given: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in given {
        let name = name.trim().to_ascii_lowercase();
        let name = split_host(&name).0.trim_end_matches('.').to_string();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `name[:port]` or `[v6][:port]` into the name (brackets kept) and the port; a port
/// that is not a number stays part of the name, which then matches nothing.
fn split_host(host: &str) -> (&str, Option<u16>) {
    let split_at = if host.starts_with('[') { host.find("]:").map(|i| i + 1) } else { host.rfind(':') };
    match split_at {
        Some(i) => match host[i + 1..].parse::<u16>() {
            Ok(port) => (&host[..i], Some(port)),
            Err(_) => (host, None),
        },
        None => (host, None),
    }
}

/// The `host[:port]` of an origin (`https://meet.example.com` → `meet.example.com`).
pub fn origin_host(origin: &str) -> Option<String> {
    let rest = origin.split_once("://")?.1;
    (!rest.is_empty()).then(|| rest.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> HostRule {
        HostRule::loopback(3000, false, ["https://meet.example.com".to_string()].iter().filter_map(|o| origin_host(o)))
    }

    #[test]
    fn loopback_answers_its_names_on_its_port_only() {
        for ok in ["localhost:3000", "127.0.0.1:3000", "[::1]:3000", "LOCALHOST:3000", "meet.example.com", "meet.example.com:443"] {
            assert_eq!(loopback().check(Some(ok)), Ok(()), "{ok}");
        }
        for bad in ["attacker.example:3000", "localhost:1", "localhost", "127.0.0.2:3000", "", "meet.example.com.attacker.example", "localhost:3000:3000"] {
            let refused = loopback().check(Some(bad)).unwrap_err();
            assert!(matches!(refused, HostRefused::NotLoopback { .. }), "{bad}");
            assert!(!refused.to_string().contains("meet.example.com") || bad.contains("meet.example.com"), "{refused}");
        }
        assert!(loopback().check(None).is_err());
        let on_80 = HostRule::loopback(80, false, []);
        assert_eq!(on_80.check(Some("localhost")), Ok(()));
    }

    #[test]
    fn a_lan_server_answers_addresses_and_the_names_it_was_given() {
        let rule = HostRule::lan(Some("Studio-PC"), ["podium.office.lan".to_string(), "meet.example.com:8443".into()]);
        for ok in [
            "192.168.1.5:3000", "192.168.1.5", "10.0.0.1:8080", "[fe80::1]:3000", "[::1]", "localhost:3000",
            "studio-pc:3000", "studio-pc.local:3000", "podium.office.lan", "PODIUM.OFFICE.LAN.:3000", "meet.example.com",
        ] {
            assert_eq!(rule.check(Some(ok)), Ok(()), "{ok}");
        }
        // A rebound page names the attacker's domain, whatever address it resolves to.
        for bad in [
            "attacker.example:3000", "192.168.1.5.attacker.example", "studio-pc.attacker.example", "fe80::1", "[192.168.1.5]", "", "evil.local",
            "[[::1]]", "[::1]]]", "1.2.3.4]", "[::1", "[fe80::1%25eth0]", "127.1",
        ] {
            let refused = rule.check(Some(bad)).unwrap_err().to_string();
            assert!(refused.contains("--allowed-host"), "{refused}");
            // A rebound page reads this: it learns no name that passes.
            assert!(!refused.contains("studio-pc") || bad.contains("studio-pc"), "{refused}");
            assert!(!refused.contains("podium.office.lan"), "{refused}");
        }
        assert!(rule.check(None).is_err());
        // A long name is quoted in part, and never split inside a character.
        let long = "é".repeat(5000);
        assert!(rule.check(Some(&long)).unwrap_err().to_string().len() < 600);
    }

    #[test]
    fn a_dotted_hostname_gets_no_local_alias_and_names_are_not_repeated() {
        let HostRule::Lan { names } = HostRule::lan(Some("box.corp.example"), ["box.corp.example".to_string(), " Other. ".into()]) else { unreachable!() };
        assert_eq!(names, ["box.corp.example", "other"]);
        let HostRule::Lan { names } = HostRule::lan(None, []) else { unreachable!() };
        assert!(names.is_empty());
    }

    #[test]
    fn an_origin_gives_its_host() {
        assert_eq!(origin_host("https://meet.example.com").as_deref(), Some("meet.example.com"));
        assert_eq!(origin_host("http://10.0.0.2:8080").as_deref(), Some("10.0.0.2:8080"));
        assert_eq!(origin_host("nothing"), None);
    }
}

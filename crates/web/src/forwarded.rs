//! Trusted proxies (`LATCHKEY_TRUSTED_PROXIES`): which TCP peers may say who the client is,
//! through `X-Forwarded-For` or RFC 7239 `Forwarded`.
//!
//! Behind a reverse proxy every connection comes from the proxy, so without this every client
//! shares one admission bucket and the audit log shows the proxy. The headers cannot simply
//! be believed, though: any client can send them, with any address in them. So they are read
//! only when the peer is a configured proxy, and only the part the proxies wrote: each proxy
//! appends the address it received the request from, so walking the list from the right and
//! skipping the trusted proxies' own entries reaches the first address that no trusted proxy
//! vouches for — the client. Everything to its left was written by the client and is ignored.
//! Nothing is trusted by default.
//!
//! Deliberately lenient in one way: the lists are split at every comma, without honouring
//! quoted strings. A client can end its own `Forwarded` header inside an open quote; a
//! quote-aware parser would then swallow the entry the proxy appended after it, while a plain
//! split still finds it on the right.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed. Empty by default: the headers are then
/// ignored entirely and the client is the TCP peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of IP addresses and CIDR ranges, such as
    /// `127.0.0.1,10.0.0.0/8,::1`. The error names the entry that is neither.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = if entry.contains('/') {
                entry.parse::<IpNet>().ok().map(|net| net.trunc())
            } else {
                entry.parse::<IpAddr>().ok().map(IpNet::from)
            };
            match net {
                Some(net) => nets.push(net),
                None => {
                    return Err(format!(
                        "{entry:?} is not an IP address or a CIDR range such as 10.0.0.0/8"
                    ));
                }
            }
        }
        Ok(Self(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the proxies. An IPv4 address on a dual-stack socket
    /// (`::ffff:10.0.0.1`) matches IPv4 entries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind the connection from `peer`: the peer itself unless it is a trusted
    /// proxy, else what the forwarding headers the proxies wrote say (see [`client_addr`]).
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        client_addr(
            self,
            peer,
            joined(headers, "x-forwarded-for").as_deref(),
            joined(headers, "forwarded").as_deref(),
        )
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        f.write_str(&list.join(", "))
    }
}

/// Every line of header `name`, in order, joined as one list (RFC 9110 §5.3); `None` when
/// absent. A line that is not text becomes an entry that is not an address.
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let lines: Vec<&str> = headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .collect();
    (!lines.is_empty()).then(|| lines.join(","))
}

/// The client of a request that trusted proxy `peer` passed on with these headers
/// (`X-Forwarded-For`, `Forwarded`, each every line joined by commas).
///
/// When both headers are present and name different clients, neither is believed and the
/// client is the peer: the proxy wrote one of them, the client may have written the other,
/// and nothing tells which is which.
fn client_addr(
    trusted: &TrustedProxies,
    peer: IpAddr,
    x_forwarded_for: Option<&str>,
    forwarded: Option<&str>,
) -> IpAddr {
    let from_xff = x_forwarded_for.map(|list| {
        let chain: Vec<Option<IpAddr>> = list.split(',').map(parse_node).collect();
        walk(trusted, peer, &chain)
    });
    let from_forwarded = forwarded.map(|list| {
        let chain: Vec<Option<IpAddr>> = list.split(',').map(forwarded_for).collect();
        walk(trusted, peer, &chain)
    });
    match (from_xff, from_forwarded) {
        (Some(a), Some(b)) if a != b => peer,
        (Some(client), _) | (None, Some(client)) => client,
        (None, None) => peer,
    }
}

/// Walks the chain from the right (the entry the nearest proxy wrote), skipping trusted
/// proxies, to the first address no trusted proxy vouches for. An entry that is not an
/// address stops the walk: what lies left of it cannot be placed, so the last address
/// reached (the peer, or the last trusted proxy passed) is the client.
fn walk(trusted: &TrustedProxies, peer: IpAddr, chain: &[Option<IpAddr>]) -> IpAddr {
    let mut client = peer;
    for entry in chain.iter().rev() {
        match entry {
            None => return client,
            Some(ip) if trusted.contains(*ip) => client = *ip,
            Some(ip) => return *ip,
        }
    }
    client
}

/// The `for=` node of one `Forwarded` element (`for=192.0.2.60;proto=https;by=…`); `None`
/// when there is none or it is not an address (`unknown`, an obfuscated `_name`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
        .and_then(|(_, value)| parse_node(value))
}

/// One address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`, optionally in double quotes. The port is dropped.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let is_port = |p: &str| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    let ip = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        IpAddr::V6(inside.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(ip) = text.parse::<IpAddr>() {
        ip
    } else {
        let (host, port) = text.split_once(':')?;
        if !is_port(port) {
            return None;
        }
        IpAddr::V4(host.parse().ok()?)
    };
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_setting_takes_addresses_and_ranges_and_names_what_it_refuses() {
        let proxies = TrustedProxies::parse(" 127.0.0.1, 10.0.0.0/8,::1 ,fd00::/8,").unwrap();
        assert_eq!(
            proxies.to_string(),
            "127.0.0.1/32, 10.0.0.0/8, ::1/128, fd00::/8"
        );
        for (addr, trusted) in [
            ("127.0.0.1", true),
            ("127.0.0.2", false),
            ("10.200.3.4", true),
            ("11.0.0.1", false),
            ("::1", true),
            ("fd12::1", true),
            ("fe80::1", false),
            ("::ffff:10.1.2.3", true),
            ("::ffff:127.0.0.1", true),
        ] {
            assert_eq!(proxies.contains(ip(addr)), trusted, "{addr}");
        }
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert_eq!(
            TrustedProxies::parse("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8",
            "host bits are dropped"
        );
        for bad in [
            "10.0.0.0/33",
            "localhost",
            "10.0.0.0/8/1",
            "10.0.0",
            "[::1]",
            "127.0.0.1:80",
            "::1/129",
        ] {
            let message = TrustedProxies::parse(&format!("127.0.0.1,{bad}")).unwrap_err();
            assert!(message.contains(bad), "{bad}: {message}");
        }
    }

    #[test]
    fn nodes_are_read_as_proxies_write_them() {
        for (text, expected) in [
            ("192.0.2.1", Some("192.0.2.1")),
            (" 192.0.2.1 ", Some("192.0.2.1")),
            ("192.0.2.1:4711", Some("192.0.2.1")),
            ("\"192.0.2.1:4711\"", Some("192.0.2.1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("\"[2001:db8::1]:4711\"", Some("2001:db8::1")),
            ("::ffff:192.0.2.1", Some("192.0.2.1")),
            ("unknown", None),
            ("_hidden", None),
            ("", None),
            ("\"", None),
            ("192.0.2.1:", None),
            ("192.0.2.1:123456", None),
            ("192.0.2.1:port", None),
            ("[2001:db8::1]x", None),
            ("[192.0.2.1]", None),
            ("example.com", None),
            ("example.com:80", None),
        ] {
            assert_eq!(parse_node(text), expected.map(ip), "{text:?}");
        }
        for (element, expected) in [
            (
                "for=192.0.2.60;proto=http;by=203.0.113.43",
                Some("192.0.2.60"),
            ),
            (
                "proto=https; For=\"[2001:db8:cafe::17]:4711\"",
                Some("2001:db8:cafe::17"),
            ),
            (" for = 192.0.2.60 ", Some("192.0.2.60")),
            ("by=203.0.113.43", None),
            ("for=unknown", None),
            ("for=_hidden", None),
            ("", None),
        ] {
            assert_eq!(forwarded_for(element), expected.map(ip), "{element:?}");
        }
    }

    /// Peer, `X-Forwarded-For`, `Forwarded`, the client. Trusted: 127.0.0.1, 10.0.0.0/8, ::1.
    #[test]
    fn the_client_is_the_right_most_address_no_trusted_proxy_vouches_for() {
        let trusted = TrustedProxies::parse("127.0.0.1,10.0.0.0/8,::1").unwrap();
        #[rustfmt::skip]
        let table: &[(&str, Option<&str>, Option<&str>, &str)] = &[
            // No headers: the peer.
            ("127.0.0.1", None, None, "127.0.0.1"),
            // One proxy.
            ("127.0.0.1", Some("198.51.100.1"), None, "198.51.100.1"),
            ("127.0.0.1", None, Some("for=198.51.100.1"), "198.51.100.1"),
            ("::1", Some("2001:db8::7"), None, "2001:db8::7"),
            // The client's own entries are left of the proxy's: ignored.
            ("127.0.0.1", Some("6.6.6.6, 198.51.100.1"), None, "198.51.100.1"),
            ("127.0.0.1", None, Some("for=6.6.6.6, for=198.51.100.1;proto=https"), "198.51.100.1"),
            // A chain of trusted proxies is skipped.
            ("127.0.0.1", Some("6.6.6.6, 198.51.100.1, 10.0.0.2, 10.9.9.9"), None, "198.51.100.1"),
            ("127.0.0.1", None, Some("for=198.51.100.1, for=\"10.0.0.2:3000\""), "198.51.100.1"),
            // Every entry trusted: the left-most proxy.
            ("127.0.0.1", Some("10.0.0.3, 10.0.0.2"), None, "10.0.0.3"),
            // Malformed entries stop the walk: the last good address, else the peer.
            ("127.0.0.1", Some("198.51.100.1, unknown"), None, "127.0.0.1"),
            ("127.0.0.1", Some("198.51.100.1, garbage, 10.0.0.2"), None, "10.0.0.2"),
            ("127.0.0.1", Some(""), None, "127.0.0.1"),
            ("127.0.0.1", None, Some("for=_hidden"), "127.0.0.1"),
            ("127.0.0.1", None, Some("by=10.0.0.1"), "127.0.0.1"),
            // A client ending its header inside an open quote cannot hide the proxy's entry.
            ("127.0.0.1", None, Some("for=\"6.6.6.6, for=198.51.100.1"), "198.51.100.1"),
            // Ports and brackets are dropped; IPv4-mapped addresses are IPv4.
            ("127.0.0.1", Some("[2001:db8::9]:443"), None, "2001:db8::9"),
            ("127.0.0.1", Some("::ffff:198.51.100.4"), None, "198.51.100.4"),
            // Both headers: believed when they agree, else neither.
            ("127.0.0.1", Some("198.51.100.1"), Some("for=198.51.100.1"), "198.51.100.1"),
            ("127.0.0.1", Some("198.51.100.1"), Some("for=6.6.6.6"), "127.0.0.1"),
            ("127.0.0.1", Some("6.6.6.6"), Some("for=198.51.100.1"), "127.0.0.1"),
        ];
        for (peer, xff, forwarded, expected) in table {
            assert_eq!(
                client_addr(&trusted, ip(peer), *xff, *forwarded),
                ip(expected),
                "peer {peer}, X-Forwarded-For {xff:?}, Forwarded {forwarded:?}"
            );
        }
    }

    #[test]
    fn headers_from_an_untrusted_peer_or_without_configuration_are_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.1".parse().unwrap());
        headers.insert("forwarded", "for=198.51.100.1".parse().unwrap());
        let none = TrustedProxies::default();
        assert_eq!(none.client_addr(ip("127.0.0.1"), &headers), ip("127.0.0.1"));
        let some = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(some.client_addr(ip("192.0.2.9"), &headers), ip("192.0.2.9"));
        assert_eq!(
            some.client_addr(ip("::ffff:192.0.2.9"), &headers),
            ip("192.0.2.9")
        );
        assert_eq!(
            some.client_addr(ip("10.0.0.1"), &headers),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn several_header_lines_form_one_list_in_order() {
        let trusted = TrustedProxies::parse("127.0.0.1,10.0.0.0/8").unwrap();
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", "6.6.6.6".parse().unwrap());
        headers.append("x-forwarded-for", "198.51.100.1, 10.0.0.2".parse().unwrap());
        assert_eq!(
            trusted.client_addr(ip("127.0.0.1"), &headers),
            ip("198.51.100.1")
        );
        let mut not_text = HeaderMap::new();
        not_text.append("x-forwarded-for", "198.51.100.1".parse().unwrap());
        not_text.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        assert_eq!(
            trusted.client_addr(ip("127.0.0.1"), &not_text),
            ip("127.0.0.1"),
            "a line that is not text stops the walk"
        );
    }
}

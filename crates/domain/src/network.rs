//! The network a client address belongs to, for per-source throttling.
//!
//! An IPv4 address is one source: a household or an office behind one NAT shares one. An IPv6
//! client, though, is usually given a whole /64 (RFC 6177 suggests more, and SLAAC and privacy
//! extensions pick a fresh address inside it at will), so one machine can present 2⁶⁴
//! addresses, and a bucket per address would give it 2⁶⁴ buckets. Throttling by /64 gives
//! it one, as by address gives an IPv4 client one. The audit log keeps the full address.
//!
//! Deliberately text in, text out: the web layer hands over whatever address it determined,
//! and anything that is not an IP address (an operator's `cli`) is its own network.

use std::net::{IpAddr, Ipv6Addr};

/// The network `client_addr` belongs to: an IPv4 address itself; an IPv6 address its /64
/// prefix, written `2001:db8:1:2::/64`; an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, how a
/// dual-stack socket shows an IPv4 peer) the IPv4 address; anything unparsable, the text as
/// given.
pub fn network_of(client_addr: &str) -> String {
    match client_addr.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V4(ip)) => ip.to_string(),
        Ok(IpAddr::V6(ip)) => {
            let prefix = u128::from(ip) & !(u128::MAX >> 64);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
        Err(_) => client_addr.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_grouped_by_64_and_everything_else_stands_alone() {
        for (addr, network) in [
            ("192.0.2.1", "192.0.2.1"),
            ("127.0.0.1", "127.0.0.1"),
            ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
            ("2001:0db8:0001:0002:a:b:c:d", "2001:db8:1:2::/64"),
            ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
            ("2001:db8::1", "2001:db8::/64"),
            ("fe80::1", "fe80::/64"),
            ("::1", "::/64"),
            ("::ffff:192.0.2.1", "192.0.2.1"),
            ("::ffff:127.0.0.1", "127.0.0.1"),
            ("cli", "cli"),
            ("unknown", "unknown"),
            ("", ""),
            ("192.0.2.1:8080", "192.0.2.1:8080"),
            ("[2001:db8::1]", "[2001:db8::1]"),
            ("2001:db8::1/64", "2001:db8::1/64"),
        ] {
            assert_eq!(network_of(addr), network, "{addr}");
        }
    }

    #[test]
    fn one_64_is_one_network_and_its_neighbour_is_another() {
        let a = network_of("2001:db8:1:2::1");
        let b = network_of("2001:db8:1:2:dead:beef:0:1");
        let c = network_of("2001:db8:1:3::1");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}

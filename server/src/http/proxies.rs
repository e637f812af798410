//! Where a request really comes from. The peer address is the client's unless the peer is one of
//! `server.trusted_proxies`: then `X-Forwarded-For` is read from the right, past every trusted
//! hop, and the first address that is not a trusted proxy is the client. Nobody else's
//! `X-Forwarded-For` is believed: any client can send one.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// The proxies whose `X-Forwarded-For` is believed (addresses or CIDR networks).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let nets = entries
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an IP address or network (such as 10.0.0.0/8)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(nets))
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client's address: see the module documentation.
    pub fn client_address(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
        Some(self.client_of(peer, forwarded))
    }

    fn client_of<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            // A hop that is not an address ends what can be believed: the last trusted one stands.
            let Ok(address) = hop.parse::<IpAddr>() else { return client };
            client = address;
            if !self.trusts(address) {
                return address;
            }
        }
        client
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        Self::parse(&entries).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.7".into()]).expect("valid");
        let client = |peer: &str, xff: &[&str]| proxies.client_of(ip(peer), xff.iter().copied());
        assert_eq!(client("203.0.113.9", &["1.2.3.4"]), ip("203.0.113.9"), "an untrusted peer's header is ignored");
        assert_eq!(client("10.1.2.3", &["203.0.113.5"]), ip("203.0.113.5"));
        assert_eq!(client("10.1.2.3", &["1.2.3.4, 203.0.113.5"]), ip("203.0.113.5"), "a spoofed left part is ignored");
        assert_eq!(client("10.1.2.3", &["203.0.113.5, 192.0.2.7"]), ip("203.0.113.5"), "past every trusted hop");
        assert_eq!(client("10.1.2.3", &["203.0.113.5", "10.9.9.9"]), ip("203.0.113.5"), "several headers");
        assert_eq!(client("10.1.2.3", &[]), ip("10.1.2.3"), "no header: the proxy itself");
        assert_eq!(client("10.1.2.3", &["garbage, 10.2.2.2"]), ip("10.2.2.2"));
        assert!(TrustedProxies::parse(&["not-an-ip".into()]).is_err());
    }
}

//! The client's own address, also behind the TLS-terminating proxy every https deployment
//! sits behind.
//!
//! The socket peer is the client unless it is one of `POSTIQO_TRUSTED_PROXIES`. Then the
//! forwarding header the proxies write (`X-Forwarded-For`, or RFC 7239 `Forwarded`) is read
//! from the right: each proxy appends the address it was connected from, so the right-most
//! address that is not itself a trusted proxy is the first one nobody can have forged. What a
//! client writes into the header itself sits to the left of that and is never reached. Only
//! one header is read (the operator says which): a proxy passes the other one through as the
//! client sent it.
//!
//! Computed once per request by [`ClientAddrLayer`] and kept in the request's extensions, so
//! the rate limits and the access log agree on who the client is.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::middleware::Next;
use ipnet::IpNet;

/// Which forwarding header the trusted proxies write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, AWS load balancers, Cloudflare…).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for="[2001:db8::1]:4711"`.
    Forwarded,
}

impl FromStr for ForwardedHeader {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            _ => Err(()),
        }
    }
}

/// The networks whose connections are proxies of ours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// Why a `POSTIQO_TRUSTED_PROXIES` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustedProxiesError {
    Malformed,
    /// `/0` trusts every address, so every client could choose its own.
    Everything,
}

impl TrustedProxies {
    /// Comma-separated CIDRs (`10.0.0.0/8, fd00::/8`); a bare address is one host.
    pub fn parse(raw: &str) -> Result<Self, TrustedProxiesError> {
        let mut nets = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = match IpNet::from_str(entry) {
                Ok(net) => net.trunc(),
                Err(_) => IpAddr::from_str(entry)
                    .map(|ip| IpNet::from(ip.to_canonical()))
                    .map_err(|_| TrustedProxiesError::Malformed)?,
            };
            if net.prefix_len() == 0 {
                return Err(TrustedProxiesError::Everything);
            }
            nets.push(net);
        }
        Ok(Self { nets })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// The client of a request, as [`resolve`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client's address: the peer, or the right-most forwarded address that is not a trusted
/// proxy when the peer is one. A hop that is not an address (garbage, `unknown`, an RFC 7239
/// obfuscated name) ends the walk: nothing to its left can be believed, so the last trusted
/// hop stands for the client.
pub fn resolve(
    peer: IpAddr,
    headers: &HeaderMap,
    proxies: &TrustedProxies,
    which: ForwardedHeader,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !proxies.contains(peer) {
        return peer;
    }
    let name = match which {
        ForwardedHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
        ForwardedHeader::Forwarded => HeaderName::from_static("forwarded"),
    };
    // Several header lines are one list, in order (RFC 9110 §5.3).
    let lines: Vec<&[u8]> = headers.get_all(&name).map(|v| v.as_bytes()).collect();
    let mut client = peer;
    for line in lines.into_iter().rev() {
        let Ok(line) = std::str::from_utf8(line) else {
            return client;
        };
        let hops = match which {
            ForwardedHeader::XForwardedFor => line.split(',').map(xff_hop).collect::<Vec<_>>(),
            ForwardedHeader::Forwarded => split_unquoted(line, ',')
                .into_iter()
                .map(forwarded_hop)
                .collect(),
        };
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop else {
                return client;
            };
            let ip = ip.to_canonical();
            client = ip;
            if !proxies.contains(ip) {
                return ip;
            }
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, some proxies adding a port.
fn xff_hop(raw: &str) -> Option<IpAddr> {
    node(raw.trim())
}

/// An address, `v4:port`, `[v6]` or `[v6]:port`.
fn node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(s) {
        return Some(ip);
    }
    if let Ok(sa) = SocketAddr::from_str(s) {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|v6| IpAddr::from_str(v6).ok())
        .filter(IpAddr::is_ipv6)
}

/// The `for=` node of one RFC 7239 element (`for=…;proto=…;by=…`).
fn forwarded_hop(element: &str) -> Option<IpAddr> {
    split_unquoted(element, ';').into_iter().find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => quoted.replace('\\', ""),
            None => value.to_owned(),
        };
        node(&value)
    })
}

/// Splits on `sep` outside double-quoted strings (RFC 7239 quotes `"[v6]:port"`).
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Puts the request's [`ClientAddr`] into its extensions, before anything else reads it.
#[derive(Clone)]
pub struct ClientAddrLayer {
    pub proxies: std::sync::Arc<TrustedProxies>,
    pub header: ForwardedHeader,
}

impl ClientAddrLayer {
    pub async fn handle(
        self,
        req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
        if let Some(peer) = req.peer_addr() {
            let ip = resolve(peer.ip(), req.headers(), &self.proxies, self.header);
            req.extensions_mut().insert(ClientAddr(ip));
        }
        next.call(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn headers(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(HeaderName::from_static(name), HeaderValue::from_static(v));
        }
        h
    }

    fn proxies(raw: &str) -> TrustedProxies {
        TrustedProxies::parse(raw).expect("valid")
    }

    fn xff(peer: &str, values: &[&'static str], trusted: &str) -> IpAddr {
        resolve(
            ip(peer),
            &headers("x-forwarded-for", values),
            &proxies(trusted),
            ForwardedHeader::XForwardedFor,
        )
    }

    fn fwd(peer: &str, values: &[&'static str], trusted: &str) -> IpAddr {
        resolve(
            ip(peer),
            &headers("forwarded", values),
            &proxies(trusted),
            ForwardedHeader::Forwarded,
        )
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(
            xff("198.51.100.9", &["203.0.113.7"], ""),
            ip("198.51.100.9")
        );
        assert_eq!(
            xff("198.51.100.9", &["203.0.113.7"], "10.0.0.0/8"),
            ip("198.51.100.9")
        );
        assert_eq!(
            fwd("198.51.100.9", &["for=203.0.113.7"], "10.0.0.0/8"),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let t = "10.0.0.0/8, 127.0.0.1";
        assert_eq!(xff("10.1.2.3", &["203.0.113.7"], t), ip("203.0.113.7"));
        // What the client wrote itself is to the left of what our proxy appended.
        assert_eq!(
            xff("10.1.2.3", &["1.1.1.1, 8.8.8.8, 203.0.113.7"], t),
            ip("203.0.113.7")
        );
        // Two of our proxies in a row are skipped.
        assert_eq!(
            xff("127.0.0.1", &["203.0.113.7, 10.9.9.9"], t),
            ip("203.0.113.7")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            xff("10.1.2.3", &["1.1.1.1", "203.0.113.7, 10.0.0.2"], t),
            ip("203.0.113.7")
        );
        // Nothing forwarded: the peer itself (a health check from the proxy).
        assert_eq!(xff("10.1.2.3", &[], t), ip("10.1.2.3"));
        // Only proxies: the left-most of them.
        assert_eq!(xff("10.1.2.3", &["10.0.0.5, 10.0.0.6"], t), ip("10.0.0.5"));
        // Ports and brackets some proxies add.
        assert_eq!(xff("10.1.2.3", &["203.0.113.7:5555"], t), ip("203.0.113.7"));
        assert_eq!(
            xff("10.1.2.3", &["[2001:db8::1]:443"], t),
            ip("2001:db8::1")
        );
        assert_eq!(xff("10.1.2.3", &["[2001:db8::1]"], t), ip("2001:db8::1"));
        assert_eq!(xff("10.1.2.3", &[" 2001:db8::2 "], t), ip("2001:db8::2"));
    }

    #[test]
    fn garbage_never_becomes_an_address() {
        let t = "10.0.0.0/8";
        for bad in [
            "not-an-ip",
            "unknown",
            "",
            "203.0.113.7 203.0.113.8",
            "999.1.1.1",
            "[203.0.113.7]",
            "\"203.0.113.7\"",
        ] {
            let value = HeaderValue::from_str(bad).expect("header");
            let mut h = HeaderMap::new();
            h.insert(HeaderName::from_static("x-forwarded-for"), value);
            assert_eq!(
                resolve(
                    ip("10.1.2.3"),
                    &h,
                    &proxies(t),
                    ForwardedHeader::XForwardedFor
                ),
                ip("10.1.2.3"),
                "{bad:?}"
            );
        }
        // Garbage left of the real client is never reached.
        assert_eq!(
            xff("10.1.2.3", &["junk, 203.0.113.7"], t),
            ip("203.0.113.7")
        );
        // Garbage right of it stops the walk at the last trusted hop.
        assert_eq!(
            xff("10.1.2.3", &["203.0.113.7, junk, 10.0.0.9"], t),
            ip("10.0.0.9")
        );
        // Bytes that are not UTF-8.
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_bytes(b"\xff\xfe").expect("obs-text"),
        );
        assert_eq!(
            resolve(
                ip("10.1.2.3"),
                &h,
                &proxies(t),
                ForwardedHeader::XForwardedFor
            ),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn rfc_7239_forwarded() {
        let t = "10.0.0.0/8";
        assert_eq!(
            fwd("10.1.2.3", &["for=203.0.113.7;proto=https;by=10.1.2.3"], t),
            ip("203.0.113.7")
        );
        assert_eq!(
            fwd(
                "10.1.2.3",
                &["for=1.1.1.1, For=\"[2001:db8:cafe::17]:4711\";proto=https"],
                t
            ),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            fwd("10.1.2.3", &["for=203.0.113.7", "for=10.0.0.4"], t),
            ip("203.0.113.7")
        );
        // A quoted comma does not split elements.
        assert_eq!(
            fwd("10.1.2.3", &["for=203.0.113.7;x=\"a,b\""], t),
            ip("203.0.113.7")
        );
        for unknown in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=\"unterminated",
        ] {
            let mut h = HeaderMap::new();
            h.insert(
                HeaderName::from_static("forwarded"),
                HeaderValue::from_str(unknown).expect("header"),
            );
            assert_eq!(
                resolve(ip("10.1.2.3"), &h, &proxies(t), ForwardedHeader::Forwarded),
                ip("10.1.2.3"),
                "{unknown}"
            );
        }
        // X-Forwarded-For is not read when the proxies write Forwarded, and the reverse.
        let mut h = headers("x-forwarded-for", &["203.0.113.7"]);
        h.insert(
            HeaderName::from_static("forwarded"),
            HeaderValue::from_static("for=203.0.113.8"),
        );
        assert_eq!(
            resolve(ip("10.1.2.3"), &h, &proxies(t), ForwardedHeader::Forwarded),
            ip("203.0.113.8")
        );
        assert_eq!(
            resolve(
                ip("10.1.2.3"),
                &h,
                &proxies(t),
                ForwardedHeader::XForwardedFor
            ),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn mapped_ipv4_is_ipv4() {
        let t = "127.0.0.1/32";
        assert_eq!(
            xff("::ffff:127.0.0.1", &["::ffff:203.0.113.7"], t),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn trusted_proxy_lists() {
        let p = proxies(" 10.0.0.0/8 , fd00::/8,192.0.2.1 ,");
        assert!(p.contains(ip("10.200.0.1")));
        assert!(p.contains(ip("fd12::1")));
        assert!(p.contains(ip("192.0.2.1")));
        assert!(!p.contains(ip("192.0.2.2")));
        assert!(!p.contains(ip("11.0.0.1")));
        // Host bits beyond the prefix are ignored, as routers do.
        assert!(proxies("10.1.2.3/8").contains(ip("10.9.9.9")));
        assert!(proxies("").is_empty());
        assert_eq!(
            TrustedProxies::parse("10.0.0.0/33"),
            Err(TrustedProxiesError::Malformed)
        );
        assert_eq!(
            TrustedProxies::parse("proxy.internal"),
            Err(TrustedProxiesError::Malformed)
        );
        assert_eq!(
            TrustedProxies::parse("0.0.0.0/0"),
            Err(TrustedProxiesError::Everything)
        );
        assert_eq!(
            TrustedProxies::parse("10.0.0.0/8,::/0"),
            Err(TrustedProxiesError::Everything)
        );
    }
}

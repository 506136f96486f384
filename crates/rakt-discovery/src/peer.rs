//! The nodes a provider finds.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// Why a peer, or a peer address, is not valid.
///
/// ```
/// use rakt_discovery::{Peer, PeerError};
///
/// assert_eq!(Peer::new("", 3322), Err(PeerError::EmptyHost));
/// assert_eq!(Peer::new("node-1", 0), Err(PeerError::ZeroPort { port: "discovery" }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The host is empty.
    #[error("peer host is empty")]
    EmptyHost,
    /// The host is neither an IP address nor a valid DNS name.
    #[error("peer host {host:?} is neither an ip address nor a dns name")]
    InvalidHost {
        /// The host given.
        host: String,
    },
    /// A port is zero.
    #[error("peer {port} port is zero")]
    ZeroPort {
        /// Which port: `discovery` or `remoting`.
        port: &'static str,
    },
    /// The node id is empty.
    #[error("peer node id is empty")]
    EmptyNodeId,
    /// A `host:port` address cannot be read.
    #[error("peer address {address:?} is not host:port: {reason}")]
    InvalidAddress {
        /// The address given.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A node of the cluster, as a discovery provider sees it.
///
/// A peer is identified by its host and discovery port ([`Peer::same_node`]). The remoting
/// port, node id and metadata travel with it when the backend carries them (NATS, mDNS and
/// Kubernetes do; a static list or DNS A records know only the discovery port), and the cluster
/// learns the rest from the peer itself.
///
/// ```
/// use rakt_discovery::Peer;
///
/// let peer = Peer::new("10.0.0.7", 3322)?
///     .with_remoting_port(3321)?
///     .with_node_id("node-7")?
///     .with_metadata("zone", "eu-west-1a");
/// assert_eq!(peer.to_string(), "10.0.0.7:3322");
/// assert_eq!(peer.remoting_port(), Some(3321));
/// assert_eq!(peer.metadata()["zone"], "eu-west-1a");
///
/// let v6: Peer = "[::1]:3322".parse()?;
/// assert_eq!(v6.host(), "::1");
/// assert_eq!(v6.to_string(), "[::1]:3322");
/// # Ok::<(), rakt_discovery::PeerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer {
    host: String,
    discovery_port: u16,
    remoting_port: Option<u16>,
    node_id: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl Peer {
    /// A peer at `host` (an IP address or a DNS name) whose discovery endpoint listens on
    /// `discovery_port`.
    ///
    /// # Errors
    ///
    /// [`PeerError::EmptyHost`], [`PeerError::InvalidHost`] or [`PeerError::ZeroPort`].
    pub fn new(host: impl Into<String>, discovery_port: u16) -> Result<Self, PeerError> {
        let host = normalize_host(host.into())?;
        if discovery_port == 0 {
            return Err(PeerError::ZeroPort { port: "discovery" });
        }
        Ok(Self {
            host,
            discovery_port,
            remoting_port: None,
            node_id: None,
            metadata: BTreeMap::new(),
        })
    }

    /// The same peer, with the port its remoting listens on.
    ///
    /// # Errors
    ///
    /// [`PeerError::ZeroPort`] when `port` is zero.
    pub fn with_remoting_port(mut self, port: u16) -> Result<Self, PeerError> {
        if port == 0 {
            return Err(PeerError::ZeroPort { port: "remoting" });
        }
        self.remoting_port = Some(port);
        Ok(self)
    }

    /// The same peer, with the id of the node.
    ///
    /// # Errors
    ///
    /// [`PeerError::EmptyNodeId`] when `id` is empty.
    pub fn with_node_id(mut self, id: impl Into<String>) -> Result<Self, PeerError> {
        let id = id.into();
        if id.is_empty() {
            return Err(PeerError::EmptyNodeId);
        }
        self.node_id = Some(id);
        Ok(self)
    }

    /// The same peer, with one more metadata entry (replacing an entry of the same key).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The host: an IP address (without brackets) or a DNS name (without a trailing dot).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port of the peer's discovery endpoint.
    pub fn discovery_port(&self) -> u16 {
        self.discovery_port
    }

    /// The port of the peer's remoting, when the backend carries it.
    pub fn remoting_port(&self) -> Option<u16> {
        self.remoting_port
    }

    /// The id of the node, when the backend carries it.
    pub fn node_id(&self) -> Option<&str> {
        self.node_id.as_deref()
    }

    /// The metadata the node announced.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Whether `other` is the same node: the same host and discovery port.
    ///
    /// ```
    /// use rakt_discovery::Peer;
    ///
    /// let a = Peer::new("10.0.0.7", 3322)?;
    /// let b = Peer::new("10.0.0.7", 3322)?.with_node_id("node-7")?;
    /// assert!(a.same_node(&b));
    /// assert!(!a.same_node(&Peer::new("10.0.0.8", 3322)?));
    /// # Ok::<(), rakt_discovery::PeerError>(())
    /// ```
    pub fn same_node(&self, other: &Peer) -> bool {
        self.host.eq_ignore_ascii_case(&other.host) && self.discovery_port == other.discovery_port
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.discovery_port)
        } else {
            write!(f, "{}:{}", self.host, self.discovery_port)
        }
    }
}

impl std::str::FromStr for Peer {
    type Err = PeerError;

    /// Reads `host:port` or `[ipv6]:port`; the port is the discovery port.
    fn from_str(address: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| PeerError::InvalidAddress {
            address: address.to_owned(),
            reason,
        };
        let (host, port) = if let Some(rest) = address.strip_prefix('[') {
            let (host, rest) = rest.split_once(']').ok_or_else(|| invalid("unclosed ["))?;
            let port = rest.strip_prefix(':').ok_or_else(|| invalid("no port"))?;
            (host, port)
        } else {
            let (host, port) = address.rsplit_once(':').ok_or_else(|| invalid("no port"))?;
            if host.contains(':') {
                return Err(invalid("an ipv6 host must be in brackets"));
            }
            (host, port)
        };
        let port: u16 = port
            .parse()
            .map_err(|_| invalid("the port is not a number from 1 to 65535"))?;
        Peer::new(host, port)
    }
}

/// Checks a host and brings it to one spelling: IPv6 without brackets, names without the
/// trailing dot of a fully qualified name.
fn normalize_host(host: String) -> Result<String, PeerError> {
    if host.is_empty() {
        return Err(PeerError::EmptyHost);
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(&host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let name = host.strip_suffix('.').unwrap_or(&host);
    if is_dns_name(name) {
        Ok(name.to_owned())
    } else {
        Err(PeerError::InvalidHost { host })
    }
}

/// RFC 1123 host names: dot-separated labels of 1 to 63 letters, digits and hyphens, not
/// starting or ending with a hyphen, 253 characters at most.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_checked_and_normalized() {
        assert_eq!(
            Peer::new("Node-1.rakt.test.", 1).map(|p| p.host),
            Ok("Node-1.rakt.test".into())
        );
        assert_eq!(Peer::new("[::1]", 1).map(|p| p.host), Ok("::1".into()));
        assert_eq!(Peer::new("0:0::1", 1).map(|p| p.host), Ok("::1".into()));
        for bad in [
            "-a",
            "a-",
            "a..b",
            "a b",
            "a_b",
            ".",
            "[a]",
            &"x".repeat(64),
        ] {
            assert_eq!(
                Peer::new(bad, 1),
                Err(PeerError::InvalidHost { host: bad.into() }),
                "{bad}"
            );
        }
        assert_eq!(
            Peer::new("a", 1).and_then(|p| p.with_remoting_port(0)),
            Err(PeerError::ZeroPort { port: "remoting" })
        );
        assert_eq!(
            Peer::new("a", 1).and_then(|p| p.with_node_id("")),
            Err(PeerError::EmptyNodeId)
        );
    }

    #[test]
    fn addresses_parse() {
        let peer: Peer = "node-1:3322".parse().expect("valid");
        assert_eq!((peer.host(), peer.discovery_port()), ("node-1", 3322));
        assert_eq!(
            "[fe80::1]:7".parse::<Peer>().map(|p| p.to_string()),
            Ok("[fe80::1]:7".into())
        );
        for (bad, reason) in [
            ("node-1", "no port"),
            ("node-1:", "the port is not a number from 1 to 65535"),
            ("node-1:65536", "the port is not a number from 1 to 65535"),
            ("::1:80", "an ipv6 host must be in brackets"),
            ("[::1", "unclosed ["),
            ("[::1]80", "no port"),
        ] {
            assert_eq!(
                bad.parse::<Peer>(),
                Err(PeerError::InvalidAddress {
                    address: bad.into(),
                    reason
                }),
                "{bad}"
            );
        }
        assert_eq!(":80".parse::<Peer>(), Err(PeerError::EmptyHost));
        assert_eq!(
            "a:0".parse::<Peer>(),
            Err(PeerError::ZeroPort { port: "discovery" })
        );
    }

    #[test]
    fn the_same_node_ignores_what_travels_with_it() {
        let a = Peer::new("HOST", 1).expect("valid");
        let b = Peer::new("host", 1)
            .and_then(|p| p.with_node_id("n"))
            .expect("valid")
            .with_metadata("k", "v");
        assert!(a.same_node(&b));
        assert_ne!(a, b);
        assert!(!a.same_node(&Peer::new("host", 2).expect("valid")));
    }
}

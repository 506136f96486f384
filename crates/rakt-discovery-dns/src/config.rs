//! What to look up, and where.

use std::net::SocketAddr;
use std::time::Duration;

use rakt_discovery::DiscoveryError;

/// The records that name the nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupKind {
    /// A records (and AAAA with `ipv6`): every node listens on `discovery_port`.
    #[default]
    Address,
    /// SRV records: each names a target host and its discovery port.
    Srv,
}

/// The settings of [`DnsDiscovery`](crate::DnsDiscovery), as code or a configuration file
/// gives them.
///
/// | field | meaning | default |
/// |---|---|---|
/// | `domain_name` | the name to look up | required |
/// | `lookup` | `address` (A/AAAA) or `srv` | `address` |
/// | `discovery_port` | the discovery port of every node, for `address` lookups | required for `address`, unset for `srv` |
/// | `remoting_port` | the remoting port every node uses, when they share one | none |
/// | `ipv6` | also AAAA records | `false` |
/// | `name_servers` | `ip:port` of the servers to ask | the system's (`/etc/resolv.conf`) |
/// | `timeout` | the bound of one lookup, as `"5s"`, `"500ms"` | 5 s |
///
/// ```
/// use std::time::Duration;
/// use rakt_discovery_dns::{DnsConfig, LookupKind};
///
/// let config: DnsConfig = serde_json::from_str(r#"{
///     "domain_name": "_rakt._tcp.example.internal",
///     "lookup": "srv",
///     "name_servers": ["10.0.0.53:53"],
///     "timeout": "2s"
/// }"#)?;
/// assert_eq!(config.lookup, LookupKind::Srv);
/// assert_eq!(config.timeout, Duration::from_secs(2));
/// assert!(!config.ipv6);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// The name to look up.
    pub domain_name: String,
    /// The records to look up.
    #[serde(default)]
    pub lookup: LookupKind,
    /// The discovery port of every node, for [`LookupKind::Address`].
    #[serde(default)]
    pub discovery_port: Option<u16>,
    /// The remoting port every node uses, when they share one.
    #[serde(default)]
    pub remoting_port: Option<u16>,
    /// Whether to look up AAAA records too.
    #[serde(default)]
    pub ipv6: bool,
    /// The name servers to ask; empty means the system's.
    #[serde(default)]
    pub name_servers: Vec<SocketAddr>,
    /// The bound of one `discover_peers`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    DnsConfig::DEFAULT_TIMEOUT
}

impl DnsConfig {
    /// The default of [`timeout`](Self::timeout): 5 seconds.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// A lookup of the A records of `domain_name`, every node listening on `discovery_port`.
    ///
    /// ```
    /// use rakt_discovery_dns::{DnsConfig, LookupKind};
    ///
    /// let config = DnsConfig::address("rakt.default.svc.cluster.local", 3322);
    /// assert_eq!((config.lookup, config.discovery_port), (LookupKind::Address, Some(3322)));
    /// ```
    pub fn address(domain_name: impl Into<String>, discovery_port: u16) -> Self {
        Self {
            discovery_port: Some(discovery_port),
            ..Self::base(domain_name.into(), LookupKind::Address)
        }
    }

    /// A lookup of the SRV records of `domain_name`.
    ///
    /// ```
    /// use rakt_discovery_dns::{DnsConfig, LookupKind};
    ///
    /// let config = DnsConfig::srv("_rakt._tcp.example.internal");
    /// assert_eq!(config.lookup, LookupKind::Srv);
    /// ```
    pub fn srv(domain_name: impl Into<String>) -> Self {
        Self::base(domain_name.into(), LookupKind::Srv)
    }

    fn base(domain_name: String, lookup: LookupKind) -> Self {
        Self {
            domain_name,
            lookup,
            discovery_port: None,
            remoting_port: None,
            ipv6: false,
            name_servers: Vec::new(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Checks the settings that do not need the network.
    pub(crate) fn validate(&self) -> Result<(), DiscoveryError> {
        let name = self
            .domain_name
            .strip_suffix('.')
            .unwrap_or(&self.domain_name);
        let labels_ok = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !labels_ok {
            return Err(DiscoveryError::invalid_config(
                "domain_name",
                format!("{:?} is not a domain name", self.domain_name),
            ));
        }
        match (self.lookup, self.discovery_port) {
            (LookupKind::Address, None) => {
                return Err(DiscoveryError::invalid_config(
                    "discovery_port",
                    "an address lookup needs the nodes' discovery port",
                ));
            }
            (LookupKind::Address, Some(0)) => {
                return Err(DiscoveryError::invalid_config(
                    "discovery_port",
                    "must not be zero",
                ));
            }
            (LookupKind::Srv, Some(_)) => {
                return Err(DiscoveryError::invalid_config(
                    "discovery_port",
                    "srv records carry each node's port; leave it unset",
                ));
            }
            _ => {}
        }
        if self.remoting_port == Some(0) {
            return Err(DiscoveryError::invalid_config(
                "remoting_port",
                "must not be zero",
            ));
        }
        if self.timeout.is_zero() {
            return Err(DiscoveryError::invalid_config(
                "timeout",
                "must be more than zero",
            ));
        }
        if let Some(server) = self.name_servers.iter().find(|server| server.port() == 0) {
            return Err(DiscoveryError::invalid_config(
                "name_servers",
                format!("{server} has port zero"),
            ));
        }
        Ok(())
    }
}

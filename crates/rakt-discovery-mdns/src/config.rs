//! What to announce and browse.

use rakt_discovery::DiscoveryError;

/// The settings of [`MdnsDiscovery`](crate::MdnsDiscovery), as code or a configuration file
/// gives them.
///
/// | field | meaning | default |
/// |---|---|---|
/// | `cluster_name` | announced in a TXT record; nodes of other clusters are ignored | required |
/// | `service` | the DNS-SD service type | `_rakt._tcp` |
/// | `domain` | the mDNS domain | `local.` |
/// | `port` | the UDP port of mDNS, the same on every node | `5353` |
/// | `ipv6` | also announce and accept IPv6 addresses | `false` |
///
/// ```
/// use rakt_discovery_mdns::MdnsConfig;
///
/// let config: MdnsConfig = serde_json::from_str(r#"{ "cluster_name": "orders" }"#)?;
/// assert_eq!(config.service_type(), "_rakt._tcp.local.");
/// assert_eq!(config.port, 5353);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdnsConfig {
    /// The cluster's name, announced in a TXT record; nodes of other clusters are ignored.
    pub cluster_name: String,
    /// The DNS-SD service type.
    #[serde(default = "default_service")]
    pub service: String,
    /// The mDNS domain.
    #[serde(default = "default_domain")]
    pub domain: String,
    /// The UDP port of mDNS; every node of a cluster must use the same.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Whether IPv6 addresses are announced and accepted.
    #[serde(default)]
    pub ipv6: bool,
}

fn default_service() -> String {
    MdnsConfig::DEFAULT_SERVICE.to_owned()
}

fn default_domain() -> String {
    MdnsConfig::DEFAULT_DOMAIN.to_owned()
}

fn default_port() -> u16 {
    MdnsConfig::DEFAULT_PORT
}

impl MdnsConfig {
    /// The default of [`service`](Self::service).
    pub const DEFAULT_SERVICE: &str = "_rakt._tcp";
    /// The default of [`domain`](Self::domain).
    pub const DEFAULT_DOMAIN: &str = "local.";
    /// The default of [`port`](Self::port), mDNS's own.
    pub const DEFAULT_PORT: u16 = 5353;

    /// A configuration for the cluster `cluster_name`, with the defaults.
    ///
    /// ```
    /// use rakt_discovery_mdns::MdnsConfig;
    ///
    /// assert_eq!(MdnsConfig::new("orders").cluster_name, "orders");
    /// ```
    pub fn new(cluster_name: impl Into<String>) -> Self {
        Self {
            cluster_name: cluster_name.into(),
            service: default_service(),
            domain: default_domain(),
            port: default_port(),
            ipv6: false,
        }
    }

    /// The full service type browsed and announced: `<service>.<domain>`, ending in a dot.
    pub fn service_type(&self) -> String {
        let domain = self.domain.trim_end_matches('.');
        format!("{}.{domain}.", self.service.trim_end_matches('.'))
    }

    pub(crate) fn validate(&self) -> Result<(), DiscoveryError> {
        let name_ok = !self.cluster_name.is_empty()
            && self.cluster_name.len() <= 63
            && self.cluster_name.bytes().all(|b| b.is_ascii_graphic());
        if !name_ok {
            return Err(DiscoveryError::invalid_config(
                "cluster_name",
                "must be 1 to 63 printable ascii characters without spaces",
            ));
        }
        let labels: Vec<&str> = self.service.trim_end_matches('.').split('.').collect();
        let service_ok = labels.len() == 2
            && labels
                .iter()
                .all(|label| label.len() > 1 && label.starts_with('_'))
            && matches!(labels[1], "_tcp" | "_udp");
        if !service_ok {
            return Err(DiscoveryError::invalid_config(
                "service",
                format!("{:?} is not a service type like _rakt._tcp", self.service),
            ));
        }
        if self.domain.trim_end_matches('.').is_empty() {
            return Err(DiscoveryError::invalid_config("domain", "is empty"));
        }
        if self.port == 0 {
            return Err(DiscoveryError::invalid_config("port", "must not be zero"));
        }
        Ok(())
    }
}

//! Discovery for Rakt clusters from a fixed list of peers.
//!
//! [`StaticDiscovery`] is the [`Provider`] for clusters whose nodes are known in advance: a list
//! of `host:port` addresses (the port is the discovery port), checked when the provider is made,
//! read from code or from a configuration file ([`StaticConfig`] is `serde::Deserialize`).
//! `discover_peers` returns the list without this node; registering announces nothing, since the
//! list never changes.
//!
//! # Position
//!
//! Layer 3, a leaf over `rakt-discovery`. Nothing but the facade depends on it.
//!
//! ```
//! use rakt_discovery::{Peer, Provider};
//! use rakt_discovery_static::{StaticConfig, StaticDiscovery};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = StaticConfig {
//!     peers: vec!["10.0.0.1:3322".into(), "10.0.0.2:3322".into(), "[fd00::3]:3322".into()],
//!     remoting_port: Some(3321),
//! };
//! let discovery = StaticDiscovery::new(config)?;
//! discovery.initialize().await?;
//! discovery.register(&"10.0.0.1:3322".parse::<Peer>()?).await?;
//! let peers = discovery.discover_peers().await?;
//! let addresses: Vec<String> = peers.iter().map(|peer| peer.to_string()).collect();
//! assert_eq!(addresses, ["10.0.0.2:3322", "[fd00::3]:3322"]);
//! assert!(peers.iter().all(|peer| peer.remoting_port() == Some(3321)));
//! # Ok(())
//! # }
//! ```

use rakt_discovery::{DiscoveryError, Lifecycle, Operation, Peer, Provider, async_trait};

/// The settings of [`StaticDiscovery`], as code or a configuration file gives them.
///
/// ```
/// use rakt_discovery_static::StaticConfig;
///
/// let config: StaticConfig = serde_json::from_str(
///     r#"{ "peers": ["node-1.rakt.internal:3322", "node-2.rakt.internal:3322"], "remoting_port": 3321 }"#,
/// )?;
/// assert_eq!(config.peers.len(), 2);
/// assert_eq!(config.remoting_port, Some(3321));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// Every node of the cluster as `host:port` or `[ipv6]:port`, the port being the discovery
    /// port. Required, not empty, no repeats.
    pub peers: Vec<String>,
    /// The remoting port every listed node uses, when they share one; otherwise the cluster
    /// learns each node's from the node. Default: none.
    #[serde(default)]
    pub remoting_port: Option<u16>,
}

impl StaticConfig {
    /// A configuration listing `peers`, with no shared remoting port.
    ///
    /// ```
    /// use rakt_discovery_static::StaticConfig;
    ///
    /// let config = StaticConfig::new(["10.0.0.1:3322", "10.0.0.2:3322"]);
    /// assert_eq!(config.peers, ["10.0.0.1:3322", "10.0.0.2:3322"]);
    /// ```
    pub fn new(peers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            peers: peers.into_iter().map(Into::into).collect(),
            remoting_port: None,
        }
    }
}

/// A [`Provider`] over a fixed list of peers.
///
/// See the [crate documentation](crate) for an example.
#[derive(Debug)]
pub struct StaticDiscovery {
    peers: Vec<Peer>,
    lifecycle: Lifecycle,
}

impl StaticDiscovery {
    /// A provider over the peers of `config`.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::InvalidConfig`] naming the field: `peers` when the list is empty, an
    /// entry is not a valid `host:port` or a node is listed twice; `remoting_port` when it is
    /// zero.
    ///
    /// ```
    /// use rakt_discovery::DiscoveryError;
    /// use rakt_discovery_static::{StaticConfig, StaticDiscovery};
    ///
    /// let error = StaticDiscovery::new(StaticConfig::new(["10.0.0.1:3322", "10.0.0.1"])).unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "invalid discovery setting peers: entry 2: peer address \"10.0.0.1\" is not host:port: no port"
    /// );
    /// assert!(matches!(
    ///     StaticDiscovery::new(StaticConfig::new(Vec::<String>::new())),
    ///     Err(DiscoveryError::InvalidConfig { field: "peers", .. })
    /// ));
    /// ```
    pub fn new(config: StaticConfig) -> Result<Self, DiscoveryError> {
        let peers = config
            .peers
            .iter()
            .enumerate()
            .map(|(index, address)| {
                let peer: Peer = address.parse().map_err(|error| {
                    DiscoveryError::invalid_config("peers", format!("entry {}: {error}", index + 1))
                })?;
                match config.remoting_port {
                    None => Ok(peer),
                    Some(port) => peer.with_remoting_port(port).map_err(|error| {
                        DiscoveryError::invalid_config("remoting_port", error.to_string())
                    }),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_peers(peers)
    }

    /// A provider over `peers`, built in code with whatever details each carries.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::InvalidConfig`] for field `peers` when the list is empty or names a node
    /// twice.
    ///
    /// ```
    /// use rakt_discovery::Peer;
    /// use rakt_discovery_static::StaticDiscovery;
    ///
    /// let peers = [Peer::new("10.0.0.1", 3322)?.with_node_id("node-1")?, Peer::new("10.0.0.2", 3322)?];
    /// let discovery = StaticDiscovery::from_peers(peers)?;
    /// assert_eq!(discovery.peers().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_peers(peers: impl IntoIterator<Item = Peer>) -> Result<Self, DiscoveryError> {
        let mut listed: Vec<Peer> = Vec::new();
        for peer in peers {
            if listed.iter().any(|seen| seen.same_node(&peer)) {
                return Err(DiscoveryError::invalid_config(
                    "peers",
                    format!("{peer} is listed twice"),
                ));
            }
            listed.push(peer);
        }
        if listed.is_empty() {
            return Err(DiscoveryError::invalid_config("peers", "the list is empty"));
        }
        Ok(Self {
            peers: listed,
            lifecycle: Lifecycle::new(),
        })
    }

    /// Every listed node, this one included.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }
}

#[async_trait]
impl Provider for StaticDiscovery {
    fn id(&self) -> &'static str {
        "static"
    }

    async fn initialize(&self) -> Result<(), DiscoveryError> {
        self.lifecycle.initialize().await
    }

    async fn register(&self, local: &Peer) -> Result<(), DiscoveryError> {
        self.lifecycle.register(local).await
    }

    async fn deregister(&self) -> Result<(), DiscoveryError> {
        self.lifecycle.deregister().await
    }

    async fn discover_peers(&self) -> Result<Vec<Peer>, DiscoveryError> {
        let stage = self.lifecycle.lock().await;
        stage.permit(Operation::Discover)?;
        Ok(stage.others(self.peers.iter().cloned()))
    }

    async fn close(&self) -> Result<(), DiscoveryError> {
        self.lifecycle.close().await;
        Ok(())
    }
}

//! The provider: one lookup per `discover_peers`.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::Name;
use hickory_resolver::proto::rr::{RData, Record};
use rakt_discovery::{
    DiscoveryError, Lifecycle, Operation, Peer, Provider, Stage, async_trait, within,
};

use crate::{DnsConfig, LookupKind};

const BACKEND: &str = "dns";

/// A [`Provider`] over DNS records.
///
/// See the [crate documentation](crate) for what it looks up and an example.
#[derive(Debug)]
pub struct DnsDiscovery {
    config: DnsConfig,
    name: Name,
    resolver: OnceLock<TokioResolver>,
    lifecycle: Lifecycle,
}

impl DnsDiscovery {
    /// A provider with `config`, checked.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::InvalidConfig`] naming the field: `domain_name` when it is not a
    /// domain name, `discovery_port` when an address lookup lacks it (or it is zero) or an SRV
    /// lookup sets it, `remoting_port` when zero, `timeout` when zero, `name_servers` when one
    /// has port zero.
    ///
    /// ```
    /// use rakt_discovery::DiscoveryError;
    /// use rakt_discovery_dns::{DnsConfig, DnsDiscovery};
    ///
    /// let mut config = DnsConfig::address("peers.example.internal", 3322);
    /// config.discovery_port = None;
    /// assert!(matches!(
    ///     DnsDiscovery::new(config),
    ///     Err(DiscoveryError::InvalidConfig { field: "discovery_port", .. })
    /// ));
    /// assert!(matches!(
    ///     DnsDiscovery::new(DnsConfig::address("not a name", 3322)),
    ///     Err(DiscoveryError::InvalidConfig { field: "domain_name", .. })
    /// ));
    /// ```
    pub fn new(config: DnsConfig) -> Result<Self, DiscoveryError> {
        config.validate()?;
        let mut name = Name::from_utf8(&config.domain_name)
            .map_err(|error| DiscoveryError::invalid_config("domain_name", error.to_string()))?;
        // The name is asked as given, never completed with the system's search domains.
        name.set_fqdn(true);
        Ok(Self {
            config,
            name,
            resolver: OnceLock::new(),
            lifecycle: Lifecycle::new(),
        })
    }

    /// The configuration the provider runs with.
    pub fn config(&self) -> &DnsConfig {
        &self.config
    }

    fn build_resolver(&self) -> Result<TokioResolver, DiscoveryError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if self.config.name_servers.is_empty() {
            TokioResolver::builder(provider).map_err(|error| {
                DiscoveryError::invalid_config(
                    "name_servers",
                    format!("none given and the system's cannot be read: {error}"),
                )
            })?
        } else {
            let servers = self
                .config
                .name_servers
                .iter()
                .map(|server| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = server.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = server.port();
                    NameServerConfig::new(server.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
        };
        let options: &mut ResolverOpts = builder.options_mut();
        // Every call asks afresh: a cluster polls discovery to see changes.
        options.cache_size = 0;
        options.timeout = self.config.timeout;
        options.attempts = 1;
        options.ip_strategy = if self.config.ipv6 {
            LookupIpStrategy::Ipv4AndIpv6
        } else {
            LookupIpStrategy::Ipv4Only
        };
        builder
            .build()
            .map_err(|error| DiscoveryError::unavailable(BACKEND, error))
    }

    /// The nodes of `lookup`, as `(address, discovery port)`.
    async fn lookup(&self, resolver: &TokioResolver) -> Result<Vec<(IpAddr, u16)>, DiscoveryError> {
        match self.config.lookup {
            LookupKind::Address => {
                let port = self.config.discovery_port.unwrap_or_default();
                let addresses = self.addresses(resolver, &self.name, &[]).await?;
                Ok(addresses.into_iter().map(|ip| (ip, port)).collect())
            }
            LookupKind::Srv => {
                let lookup = match resolver.srv_lookup(self.name.clone()).await {
                    Ok(lookup) => lookup,
                    Err(error) if no_records(&error) => return Ok(Vec::new()),
                    Err(error) => return Err(failure(error, self.config.timeout)),
                };
                let mut nodes = Vec::new();
                for record in lookup.answers() {
                    let RData::SRV(srv) = &record.data else {
                        continue;
                    };
                    // A target of "." says the service is not offered there.
                    if srv.target.is_root() || srv.port == 0 {
                        continue;
                    }
                    let addresses = self
                        .addresses(resolver, &srv.target, lookup.additionals())
                        .await?;
                    if addresses.is_empty() {
                        tracing::debug!(target = %srv.target, "an srv target has no address; skipped");
                    }
                    nodes.extend(addresses.into_iter().map(|ip| (ip, srv.port)));
                }
                Ok(nodes)
            }
        }
    }

    /// The addresses of `name`: from `additionals` when the server sent them, else asked.
    async fn addresses(
        &self,
        resolver: &TokioResolver,
        name: &Name,
        additionals: &[Record],
    ) -> Result<Vec<IpAddr>, DiscoveryError> {
        let sent = addresses_of(additionals, Some(name), self.config.ipv6);
        if !sent.is_empty() {
            return Ok(sent);
        }
        let v4 = async {
            match resolver.ipv4_lookup(name.clone()).await {
                Ok(lookup) => Ok(addresses_of(lookup.answers(), None, false)),
                Err(error) if no_records(&error) => Ok(Vec::new()),
                Err(error) => Err(failure(error, self.config.timeout)),
            }
        };
        let v6 = async {
            if !self.config.ipv6 {
                return Ok(Vec::new());
            }
            match resolver.ipv6_lookup(name.clone()).await {
                Ok(lookup) => Ok(addresses_of(lookup.answers(), None, true)),
                Err(error) if no_records(&error) => Ok(Vec::new()),
                Err(error) => Err(failure(error, self.config.timeout)),
            }
        };
        let (v4, v6) = tokio::join!(v4, v6);
        let mut addresses = v4?;
        addresses.extend(v6?);
        Ok(addresses)
    }
}

/// The A (and, with `ipv6`, AAAA) addresses among `records`, of `only` when given (the
/// additional records of an SRV answer hold the addresses of every target).
fn addresses_of(records: &[Record], only: Option<&Name>, ipv6: bool) -> Vec<IpAddr> {
    records
        .iter()
        .filter(|record| only.is_none_or(|name| record.name == *name))
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) if ipv6 => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect()
}

fn no_records(error: &NetError) -> bool {
    error.is_no_records_found() || error.is_nx_domain()
}

/// A failed lookup, typed: the resolver's own timeout is the configured one.
fn failure(error: NetError, timeout: Duration) -> DiscoveryError {
    match error {
        NetError::Timeout => DiscoveryError::Timeout {
            backend: BACKEND,
            operation: "discover_peers",
            after: timeout,
        },
        other => DiscoveryError::unavailable(BACKEND, other),
    }
}

#[async_trait]
impl Provider for DnsDiscovery {
    fn id(&self) -> &'static str {
        BACKEND
    }

    async fn initialize(&self) -> Result<(), DiscoveryError> {
        let mut stage = self.lifecycle.lock().await;
        stage.permit(Operation::Initialize)?;
        if self.resolver.get().is_none() {
            let resolver = self.build_resolver()?;
            let _ = self.resolver.set(resolver);
        }
        *stage = Stage::Initialized;
        Ok(())
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
        let resolver = self.resolver.get().ok_or(DiscoveryError::NotInitialized)?;
        let nodes = within(
            BACKEND,
            "discover_peers",
            self.config.timeout,
            self.lookup(resolver),
        )
        .await?;
        let mut peers = Vec::with_capacity(nodes.len());
        for (ip, port) in nodes {
            let peer = Peer::new(ip.to_string(), port)?;
            peers.push(match self.config.remoting_port {
                Some(remoting) => peer.with_remoting_port(remoting)?,
                None => peer,
            });
        }
        Ok(stage.others(peers))
    }

    async fn close(&self) -> Result<(), DiscoveryError> {
        self.lifecycle.close().await;
        Ok(())
    }
}

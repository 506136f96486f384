//! Discovery for Rakt clusters from DNS: the A and AAAA records of a name, or its SRV records.
//!
//! [`DnsDiscovery`] is the [`Provider`] for clusters whose nodes are published in DNS, such as
//! a Kubernetes headless service (one A record per pod) or a service with SRV records (one
//! `target:port` per node, so nodes may listen on different ports). It asks on every
//! [`discover_peers`](Provider::discover_peers), without caching, so a record added or removed
//! shows at the next call; registration announces nothing, since the records are managed
//! outside.
//!
//! - [`LookupKind::Address`]: the A records of `domain_name` (and its AAAA records when `ipv6`
//!   is set), each an address of a node listening on `discovery_port`.
//! - [`LookupKind::Srv`]: the SRV records of `domain_name` (`_rakt._tcp.example.com`), each a
//!   target and a port; targets are resolved to their addresses (A, and AAAA when `ipv6` is
//!   set), from the answer's additional records when the server sent them.
//!
//! A name that does not exist (NXDOMAIN) or has no records of the kind asked is a cluster with
//! no nodes now, not an error: a headless service whose pods are all gone answers so. A name
//! server that does not answer within `timeout` is [`DiscoveryError::Timeout`](rakt_discovery::DiscoveryError::Timeout); one that
//! fails is [`DiscoveryError::Unavailable`](rakt_discovery::DiscoveryError::Unavailable).
//!
//! # Position
//!
//! Layer 3, a leaf over `rakt-discovery`; the only crate of Rakt's that uses `hickory-resolver`.
//!
//! ```no_run
//! use rakt_discovery::{Peer, Provider};
//! use rakt_discovery_dns::{DnsConfig, DnsDiscovery};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The pods of a headless service, each listening on 3322; the system's name servers.
//! let discovery = DnsDiscovery::new(DnsConfig::address("rakt.default.svc.cluster.local", 3322))?;
//! discovery.initialize().await?;
//! discovery.register(&Peer::new("10.1.0.7", 3322)?).await?;
//! for peer in discovery.discover_peers().await? {
//!     println!("found {peer}");
//! }
//! # Ok(())
//! # }
//! ```

mod config;
mod provider;

pub use config::{DnsConfig, LookupKind};
pub use provider::DnsDiscovery;

pub use rakt_discovery::Provider;

//! Discovery for Rakt clusters on one LAN over multicast DNS, with the cluster's name in a TXT
//! record so that two clusters on one network do not mix.
//!
//! [`MdnsDiscovery`] is the [`Provider`](rakt_discovery::Provider) for clusters without any
//! infrastructure: each node announces itself as a DNS-SD service (`_rakt._tcp.local.` by
//! default) with its discovery port, and its cluster name, node id, remoting port and metadata
//! in TXT; each browses the same service type from `initialize` on, keeping the nodes of its own
//! cluster, so [`discover_peers`](rakt_discovery::Provider::discover_peers) answers at once from
//! what the browse has seen and [`watch`](rakt_discovery::Provider::watch) reports nodes as they
//! are resolved and as they say goodbye. Resolution takes about a second on a quiet network.
//!
//! Multicast reaches every host of the LAN segment: run tests and demos inside a network
//! namespace, as this crate's tests do.
//!
//! # Position
//!
//! Layer 3, a leaf over `rakt-discovery`; the only crate of Rakt's that uses `mdns-sd`.
//!
//! ```no_run
//! use rakt_discovery::{Peer, Provider};
//! use rakt_discovery_mdns::{MdnsConfig, MdnsDiscovery};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let discovery = MdnsDiscovery::new(MdnsConfig::new("orders"))?;
//! discovery.initialize().await?;
//! discovery.register(&Peer::new("192.168.1.20", 3322)?.with_node_id("node-a")?).await?;
//! tokio::time::sleep(std::time::Duration::from_secs(2)).await;
//! println!("peers: {:?}", discovery.discover_peers().await?);
//! discovery.close().await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod provider;

pub use config::MdnsConfig;
pub use provider::MdnsDiscovery;

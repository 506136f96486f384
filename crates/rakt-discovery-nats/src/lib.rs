//! Discovery for Rakt clusters over NATS: nodes announce themselves on a subject and answer
//! each other's requests.
//!
//! [`NatsDiscovery`] is the [`Provider`](rakt_discovery::Provider) for clusters that share a NATS
//! server (core NATS, no JetStream). A registered node subscribes to the cluster's subject and
//! answers every "who is there?" with itself; [`discover_peers`](rakt_discovery::Provider::discover_peers)
//! asks on the subject and collects the answers for `timeout`. Nodes also publish when they
//! join and leave on `<subject>.events`, which [`watch`](rakt_discovery::Provider::watch) turns
//! into [`PeerEvent`](rakt_discovery::PeerEvent)s, so a cluster learns of a node at once instead
//! of at its next poll. Messages are JSON, readable with `nats sub`.
//!
//! The defaults are GoAkt's: a 1 s timeout, 5 connection attempts at `initialize`, 2 s
//! between attempts and between reconnections. A lost connection is re-established in the
//! background, the responder's subscription with it; while it is down, `discover_peers`
//! fails with [`DiscoveryError::Unavailable`](rakt_discovery::DiscoveryError::Unavailable)
//! rather than pass off silence as an empty cluster.
//!
//! # Position
//!
//! Layer 3, a leaf over `rakt-discovery`; with `rakt-controlplane-nats`, the only crates of
//! Rakt's that use `async-nats`.
//!
//! ```no_run
//! use rakt_discovery::{Peer, PeerEvent, Provider};
//! use rakt_discovery_nats::{NatsConfig, NatsDiscovery};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let discovery = NatsDiscovery::new(NatsConfig::new(["nats://127.0.0.1:4222"], "rakt.discovery.orders"))?;
//! discovery.initialize().await?;
//! discovery.register(&Peer::new("10.0.0.7", 3322)?.with_remoting_port(3321)?).await?;
//! println!("peers now: {:?}", discovery.discover_peers().await?);
//! let mut changes = discovery.watch().await?;
//! while let Some(change) = changes.recv().await {
//!     match change {
//!         PeerEvent::Joined(peer) => println!("{peer} joined"),
//!         PeerEvent::Left(peer) => println!("{peer} left"),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod config;
mod provider;
mod wire;

pub use config::NatsConfig;
pub use provider::NatsDiscovery;

//! Node discovery for Rakt clusters: how a node finds its peers.
//!
//! A [`Provider`] is a discovery backend behind one async trait with the lifecycle GoAkt users
//! know: [`initialize`](Provider::initialize), [`register`](Provider::register) this node,
//! [`discover_peers`](Provider::discover_peers), [`deregister`](Provider::deregister),
//! [`close`](Provider::close), and, for backends that can, a [`watch`](Provider::watch) stream of
//! [`PeerEvent`]s so a cluster reacts without polling. Nodes are [`Peer`]s, validated on
//! construction; every failure is a [`DiscoveryError`].
//!
//! Backends live in their own crates, so a program compiles only the client it uses:
//! `rakt-discovery-static` (a fixed list), `rakt-discovery-dns` (A, AAAA and SRV records),
//! `rakt-discovery-mdns`, `rakt-discovery-nats` and `rakt-discovery-k8s`. Each runs the
//! [`conformance`] suite (feature `conformance`) against its real service.
//!
//! # Position
//!
//! Layer 2. It depends on tokio (`sync`, `time`) and nothing of Rakt's; the backends (layer 3)
//! and `rakt-cluster` depend on it.
//!
//! ```
//! use std::sync::Arc;
//! use rakt_discovery::{DiscoveryError, Peer, Provider};
//!
//! /// What a cluster does at start, whatever the backend.
//! async fn join(provider: Arc<dyn Provider>, local: Peer) -> Result<Vec<Peer>, DiscoveryError> {
//!     provider.initialize().await?;
//!     provider.register(&local).await?;
//!     provider.discover_peers().await
//! }
//! # let _ = join;
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
mod error;
mod lifecycle;
mod peer;
mod provider;

pub use error::{BoxError, DiscoveryError};
pub use lifecycle::{Lifecycle, Operation, Stage};
pub use peer::{Peer, PeerError};
pub use provider::{PeerEvent, PeerWatch, Provider, within};

/// The attribute that makes an `impl Provider` block's `async fn`s object safe, re-exported so
/// backends need not depend on `async-trait` themselves.
pub use async_trait::async_trait;

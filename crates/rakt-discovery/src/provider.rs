//! The provider trait and what it hands out.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::{DiscoveryError, Peer};

/// A way for a node to find the other nodes of its cluster.
///
/// A provider goes through `initialize`, `register` (announce this node), any number of
/// `discover_peers`, `deregister` and `close`, in that order; a call out of order fails with a
/// typed error ([`DiscoveryError::NotInitialized`], [`AlreadyRegistered`](DiscoveryError::AlreadyRegistered),
/// ...), `close` may be called any number of times, and every call that talks to the backend is
/// bounded by the backend's configured timeout. [`Lifecycle`](crate::Lifecycle) keeps that order
/// for implementations.
///
/// The trait is object safe: a cluster holds an `Arc<dyn Provider>`.
///
/// ```
/// use rakt_discovery::{async_trait, DiscoveryError, Lifecycle, Operation, Peer, Provider, Stage};
///
/// /// Every node of the cluster is one of a few known hosts.
/// #[derive(Debug)]
/// struct Fixed {
///     nodes: Vec<Peer>,
///     lifecycle: Lifecycle,
/// }
///
/// #[async_trait]
/// impl Provider for Fixed {
///     fn id(&self) -> &'static str {
///         "fixed"
///     }
///     async fn initialize(&self) -> Result<(), DiscoveryError> {
///         self.lifecycle.initialize().await
///     }
///     async fn register(&self, local: &Peer) -> Result<(), DiscoveryError> {
///         let mut stage = self.lifecycle.lock().await;
///         stage.permit(Operation::Register)?;
///         *stage = Stage::Registered(local.clone());
///         Ok(())
///     }
///     async fn deregister(&self) -> Result<(), DiscoveryError> {
///         let mut stage = self.lifecycle.lock().await;
///         stage.permit(Operation::Deregister)?;
///         *stage = Stage::Initialized;
///         Ok(())
///     }
///     async fn discover_peers(&self) -> Result<Vec<Peer>, DiscoveryError> {
///         let stage = self.lifecycle.lock().await;
///         stage.permit(Operation::Discover)?;
///         Ok(stage.others(self.nodes.iter().cloned()))
///     }
///     async fn close(&self) -> Result<(), DiscoveryError> {
///         self.lifecycle.close().await;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let a = Peer::new("10.0.0.1", 3322)?;
/// let b = Peer::new("10.0.0.2", 3322)?;
/// let provider = Fixed { nodes: vec![a.clone(), b.clone()], lifecycle: Lifecycle::new() };
/// assert!(matches!(provider.register(&a).await, Err(DiscoveryError::NotInitialized)));
/// provider.initialize().await?;
/// provider.register(&a).await?;
/// assert_eq!(provider.discover_peers().await?, vec![b]);
/// provider.close().await?;
/// # Ok(())
/// # }
/// ```
#[async_trait::async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug + 'static {
    /// The backend's name (`static`, `dns`, `nats`, ...), used in logs and errors.
    fn id(&self) -> &'static str;

    /// Prepares the provider: checks the configuration, connects to the backend.
    async fn initialize(&self) -> Result<(), DiscoveryError>;

    /// Announces this node, so that the others find it; `discover_peers` leaves it out from then
    /// on.
    async fn register(&self, local: &Peer) -> Result<(), DiscoveryError>;

    /// Withdraws this node's announcement.
    async fn deregister(&self) -> Result<(), DiscoveryError>;

    /// The peers the backend knows now, this node left out, each once.
    async fn discover_peers(&self) -> Result<Vec<Peer>, DiscoveryError>;

    /// Releases the backend; later calls fail with [`DiscoveryError::Closed`]. Closing twice is
    /// not an error.
    async fn close(&self) -> Result<(), DiscoveryError>;

    /// A stream of changes, for backends that can watch, so the cluster reacts without polling.
    ///
    /// The default is [`DiscoveryError::WatchNotSupported`].
    async fn watch(&self) -> Result<PeerWatch, DiscoveryError> {
        Err(DiscoveryError::WatchNotSupported { backend: self.id() })
    }
}

/// A change in the set of peers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerEvent {
    /// A node appeared, or announced itself again with other details.
    Joined(Peer),
    /// A node went away.
    Left(Peer),
}

/// The changes a watching provider sees, in the order it saw them.
///
/// The stream ends when the provider is closed.
///
/// ```
/// use rakt_discovery::{Peer, PeerEvent, PeerWatch};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (events, mut watch) = PeerWatch::channel(16);
/// let peer = Peer::new("10.0.0.2", 3322)?;
/// events.send(PeerEvent::Joined(peer.clone())).await?;
/// drop(events);
/// assert_eq!(watch.recv().await, Some(PeerEvent::Joined(peer)));
/// assert_eq!(watch.recv().await, None);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PeerWatch {
    events: mpsc::Receiver<PeerEvent>,
}

impl PeerWatch {
    /// A watch and the sender a backend feeds it with; the sender waits when `capacity` events
    /// are unread.
    pub fn channel(capacity: usize) -> (mpsc::Sender<PeerEvent>, PeerWatch) {
        let (sender, events) = mpsc::channel(capacity.max(1));
        (sender, PeerWatch { events })
    }

    /// The next change, or `None` once the provider is closed.
    pub async fn recv(&mut self) -> Option<PeerEvent> {
        self.events.recv().await
    }

    /// The next change if one is waiting.
    pub fn try_recv(&mut self) -> Option<PeerEvent> {
        self.events.try_recv().ok()
    }
}

/// Runs `call`, failing with [`DiscoveryError::Timeout`] when it takes more than `timeout`.
///
/// ```
/// use std::time::Duration;
/// use rakt_discovery::{within, DiscoveryError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let never = std::future::pending::<Result<(), DiscoveryError>>();
/// let error = within("dns", "discover_peers", Duration::from_millis(10), never).await.unwrap_err();
/// assert!(matches!(error, DiscoveryError::Timeout { operation: "discover_peers", .. }));
/// # }
/// ```
pub async fn within<T>(
    backend: &'static str,
    operation: &'static str,
    timeout: Duration,
    call: impl Future<Output = Result<T, DiscoveryError>>,
) -> Result<T, DiscoveryError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(DiscoveryError::Timeout {
            backend,
            operation,
            after: timeout,
        }))
}

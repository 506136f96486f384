//! The order of a provider's calls, kept in one place for every backend.

use tokio::sync::{Mutex, MutexGuard};

use crate::{DiscoveryError, Peer};

/// Where a provider is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Stage {
    /// Made, not initialized.
    #[default]
    New,
    /// Initialized; this node is not registered.
    Initialized,
    /// This node is registered as the peer held.
    Registered(Peer),
    /// Closed for good.
    Closed,
}

/// A provider call, as [`Stage::permit`] checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// [`Provider::initialize`](crate::Provider::initialize).
    Initialize,
    /// [`Provider::register`](crate::Provider::register).
    Register,
    /// [`Provider::deregister`](crate::Provider::deregister).
    Deregister,
    /// [`Provider::discover_peers`](crate::Provider::discover_peers).
    Discover,
    /// [`Provider::watch`](crate::Provider::watch).
    Watch,
}

impl Stage {
    /// Whether `operation` may run now, or the typed error that says why not.
    ///
    /// ```
    /// use rakt_discovery::{DiscoveryError, Operation, Stage};
    ///
    /// assert!(matches!(Stage::New.permit(Operation::Register), Err(DiscoveryError::NotInitialized)));
    /// assert!(Stage::Initialized.permit(Operation::Discover).is_ok());
    /// assert!(matches!(Stage::Initialized.permit(Operation::Deregister), Err(DiscoveryError::NotRegistered)));
    /// assert!(matches!(Stage::Closed.permit(Operation::Discover), Err(DiscoveryError::Closed)));
    /// ```
    pub fn permit(&self, operation: Operation) -> Result<(), DiscoveryError> {
        use Operation::*;
        match (self, operation) {
            (Stage::Closed, _) => Err(DiscoveryError::Closed),
            (Stage::New, Initialize) => Ok(()),
            (Stage::New, _) => Err(DiscoveryError::NotInitialized),
            (_, Initialize) => Err(DiscoveryError::AlreadyInitialized),
            (Stage::Initialized, Deregister) => Err(DiscoveryError::NotRegistered),
            (Stage::Registered(_), Register) => Err(DiscoveryError::AlreadyRegistered),
            (Stage::Initialized | Stage::Registered(_), _) => Ok(()),
        }
    }

    /// This node, once registered.
    pub fn local(&self) -> Option<&Peer> {
        match self {
            Stage::Registered(peer) => Some(peer),
            _ => None,
        }
    }

    /// `peers` without this node (once registered) and without repeats, in a stable order.
    ///
    /// A peer found twice keeps the details it was found with first.
    ///
    /// ```
    /// use rakt_discovery::{Peer, Stage};
    ///
    /// let a = Peer::new("10.0.0.1", 3322)?;
    /// let b = Peer::new("10.0.0.2", 3322)?;
    /// let stage = Stage::Registered(a.clone());
    /// assert_eq!(stage.others([b.clone(), a, b.clone()]), vec![b]);
    /// # Ok::<(), rakt_discovery::PeerError>(())
    /// ```
    pub fn others(&self, peers: impl IntoIterator<Item = Peer>) -> Vec<Peer> {
        let local = self.local();
        let mut found: Vec<Peer> = Vec::new();
        for peer in peers {
            if local.is_some_and(|local| local.same_node(&peer))
                || found.iter().any(|seen| seen.same_node(&peer))
            {
                continue;
            }
            found.push(peer);
        }
        found.sort_by(|a, b| (a.host(), a.discovery_port()).cmp(&(b.host(), b.discovery_port())));
        found
    }
}

/// A provider's [`Stage`] behind an async lock, so that one call runs at a time and the order of
/// calls is kept even when the work in between awaits the backend.
///
/// Hold the guard from [`lock`](Self::lock) across the backend call and set the new stage only
/// when it succeeded; [`initialize`](Self::initialize), [`register`](Self::register),
/// [`deregister`](Self::deregister) and [`close`](Self::close) cover the providers with nothing
/// to do at those steps.
///
/// ```
/// use rakt_discovery::{DiscoveryError, Lifecycle, Operation, Peer, Stage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let lifecycle = Lifecycle::new();
/// lifecycle.initialize().await?;
/// {
///     let mut stage = lifecycle.lock().await;
///     stage.permit(Operation::Register)?;
///     // ... announce the node to the backend ...
///     *stage = Stage::Registered(Peer::new("10.0.0.1", 3322)?);
/// }
/// assert!(matches!(lifecycle.initialize().await, Err(DiscoveryError::AlreadyInitialized)));
/// assert!(lifecycle.close().await);
/// assert!(!lifecycle.close().await);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Lifecycle {
    stage: Mutex<Stage>,
}

impl Lifecycle {
    /// A lifecycle at [`Stage::New`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for the other calls and hands out the stage.
    pub async fn lock(&self) -> MutexGuard<'_, Stage> {
        self.stage.lock().await
    }

    /// Moves to [`Stage::Initialized`], for providers with nothing else to do there.
    pub async fn initialize(&self) -> Result<(), DiscoveryError> {
        let mut stage = self.lock().await;
        stage.permit(Operation::Initialize)?;
        *stage = Stage::Initialized;
        Ok(())
    }

    /// Moves to [`Stage::Registered`], for providers with nothing to announce (the backend's
    /// records are managed outside).
    pub async fn register(&self, local: &Peer) -> Result<(), DiscoveryError> {
        let mut stage = self.lock().await;
        stage.permit(Operation::Register)?;
        *stage = Stage::Registered(local.clone());
        Ok(())
    }

    /// Moves back to [`Stage::Initialized`], for providers with nothing to withdraw.
    pub async fn deregister(&self) -> Result<(), DiscoveryError> {
        let mut stage = self.lock().await;
        stage.permit(Operation::Deregister)?;
        *stage = Stage::Initialized;
        Ok(())
    }

    /// Moves to [`Stage::Closed`]; `true` when this call closed it, `false` when it already was.
    pub async fn close(&self) -> bool {
        let mut stage = self.lock().await;
        !matches!(std::mem::replace(&mut *stage, Stage::Closed), Stage::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_answers_every_operation() {
        use Operation::*;
        let peer = Peer::new("a", 1).expect("valid");
        let stages = [
            Stage::New,
            Stage::Initialized,
            Stage::Registered(peer),
            Stage::Closed,
        ];
        let operations = [Initialize, Register, Deregister, Discover, Watch];
        let answers: Vec<Vec<&str>> = stages
            .iter()
            .map(|stage| {
                operations
                    .iter()
                    .map(|op| match stage.permit(*op) {
                        Ok(()) => "ok",
                        Err(DiscoveryError::NotInitialized) => "not initialized",
                        Err(DiscoveryError::AlreadyInitialized) => "already initialized",
                        Err(DiscoveryError::NotRegistered) => "not registered",
                        Err(DiscoveryError::AlreadyRegistered) => "already registered",
                        Err(DiscoveryError::Closed) => "closed",
                        Err(other) => panic!("unexpected {other}"),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            answers,
            [
                [
                    "ok",
                    "not initialized",
                    "not initialized",
                    "not initialized",
                    "not initialized"
                ],
                ["already initialized", "ok", "not registered", "ok", "ok"],
                [
                    "already initialized",
                    "already registered",
                    "ok",
                    "ok",
                    "ok"
                ],
                ["closed", "closed", "closed", "closed", "closed"],
            ]
        );
    }
}

//! Discovery's errors.

use std::time::Duration;

use crate::PeerError;

/// The error of a backend's client, boxed so that no backend's types appear in the API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a discovery call failed.
///
/// ```
/// use std::time::Duration;
/// use rakt_discovery::DiscoveryError;
///
/// let error = DiscoveryError::Timeout { backend: "nats", operation: "discover_peers", after: Duration::from_secs(1) };
/// assert_eq!(error.to_string(), "nats did not complete discover_peers within 1s");
///
/// let error = DiscoveryError::InvalidConfig { field: "hosts", reason: "the list is empty".into() };
/// assert_eq!(error.to_string(), "invalid discovery setting hosts: the list is empty");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The call needs [`Provider::initialize`](crate::Provider::initialize) first.
    #[error("the discovery provider is not initialized")]
    NotInitialized,
    /// [`Provider::initialize`](crate::Provider::initialize) was called twice.
    #[error("the discovery provider is already initialized")]
    AlreadyInitialized,
    /// [`Provider::deregister`](crate::Provider::deregister) came before any registration.
    #[error("this node is not registered")]
    NotRegistered,
    /// [`Provider::register`](crate::Provider::register) was called twice.
    #[error("this node is already registered")]
    AlreadyRegistered,
    /// The provider was closed.
    #[error("the discovery provider is closed")]
    Closed,
    /// The backend cannot be reached, or refused the call.
    #[error("{backend} is unavailable: {source}")]
    Unavailable {
        /// The backend (`nats`, `dns`, ...).
        backend: &'static str,
        /// What its client reported.
        source: BoxError,
    },
    /// The backend did not answer within the configured timeout.
    #[error("{backend} did not complete {operation} within {after:?}")]
    Timeout {
        /// The backend (`nats`, `dns`, ...).
        backend: &'static str,
        /// The call that timed out.
        operation: &'static str,
        /// The configured timeout.
        after: Duration,
    },
    /// A setting is invalid.
    #[error("invalid discovery setting {field}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A peer, given or found, is invalid.
    #[error(transparent)]
    InvalidPeer(#[from] PeerError),
    /// The backend cannot watch for changes; poll
    /// [`Provider::discover_peers`](crate::Provider::discover_peers) instead.
    #[error("{backend} cannot watch peers")]
    WatchNotSupported {
        /// The backend.
        backend: &'static str,
    },
}

impl DiscoveryError {
    /// An [`Unavailable`](Self::Unavailable) error from any client error.
    ///
    /// ```
    /// use rakt_discovery::DiscoveryError;
    ///
    /// let error = DiscoveryError::unavailable("dns", std::io::Error::other("connection refused"));
    /// assert_eq!(error.to_string(), "dns is unavailable: connection refused");
    /// ```
    pub fn unavailable(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            backend,
            source: source.into(),
        }
    }

    /// An [`InvalidConfig`](Self::InvalidConfig) error.
    ///
    /// ```
    /// use rakt_discovery::DiscoveryError;
    ///
    /// let error = DiscoveryError::invalid_config("timeout", "must be more than zero");
    /// assert_eq!(error.to_string(), "invalid discovery setting timeout: must be more than zero");
    /// ```
    pub fn invalid_config(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }
}

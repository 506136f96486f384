//! Remoting settings.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::RemoteError;
use crate::tls::TlsConfig;

/// How a node compresses the messages it sends; see [`RemoteConfig::compression`].
///
/// ```
/// use rakt_remote::{Compression, RemoteConfig};
///
/// assert_eq!(RemoteConfig::default().compression, Compression::None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Sends messages as they are.
    #[default]
    None,
    /// Gzip: widely supported, slower.
    Gzip,
    /// Zstandard: faster, and usually smaller.
    Zstd,
}

impl Compression {
    pub(crate) fn encoding(self) -> Option<tonic::codec::CompressionEncoding> {
        match self {
            Self::None => None,
            Self::Gzip => Some(tonic::codec::CompressionEncoding::Gzip),
            Self::Zstd => Some(tonic::codec::CompressionEncoding::Zstd),
        }
    }
}

/// How a node listens and talks to its peers. Every setting has a default; see
/// [`RemotingBuilder`](crate::RemotingBuilder) for the setters.
///
/// ```
/// use rakt_remote::RemoteConfig;
///
/// let config = RemoteConfig::default();
/// assert_eq!(config.max_message_size, 16 * 1024 * 1024);
/// assert_eq!(config.max_batch, 256);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RemoteConfig {
    /// Where to listen; port 0 picks a free port. Default `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// The host peers use to reach this node, when it differs from the bound IP (a DNS name,
    /// or the public address behind a wildcard bind).
    pub advertise_host: Option<String>,
    /// The largest message, encoded, that a node sends or accepts. Default 16 MiB.
    pub max_message_size: usize,
    /// How long opening a connection may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long a request-response call (lookup, spawn, stop, restart, reinstate) may wait
    /// for its answer. Default 30 s. Asks keep their own timeouts.
    pub request_timeout: Duration,
    /// How often an idle connection is checked with an HTTP/2 ping. Default 10 s.
    pub keepalive_interval: Duration,
    /// How long a ping may go unanswered before the peer counts as unreachable. Default 5 s.
    pub keepalive_timeout: Duration,
    /// The first wait after a failed connection, while sends to the peer fail at once; it
    /// doubles with each failure. Default 100 ms.
    pub reconnect_backoff_min: Duration,
    /// The longest such wait. Default 10 s.
    pub reconnect_backoff_max: Duration,
    /// The most envelopes in one frame. Default 256.
    pub max_batch: usize,
    /// Frames queued for one stream before the link waits for the network. Default 16.
    pub frames_in_flight: usize,
    /// The most messages a link to one peer holds before they leave: beyond it, sends to that
    /// peer fail with [`SendError::Overloaded`](rakt_actor::SendError::Overloaded) and become
    /// dead letters, so a slow peer or network cannot make this node's memory grow without
    /// bound. Default 1,048,576.
    pub max_queued: usize,
    /// How the node compresses what it sends. Default none. Every node accepts gzip and zstd
    /// whatever it sends, and answers a peer compressed only when the peer accepts it.
    pub compression: Compression,
    /// TLS, or mutual TLS, on every connection in and out. Default none: plain HTTP/2, for
    /// a trusted network.
    pub tls: Option<TlsConfig>,
    /// The most peers this node keeps links to. A message whose sender names a node beyond
    /// it is delivered without a sender, so a peer cannot make this node hold links to any
    /// number of addresses. Default 4096.
    pub max_peers: usize,
}

/// The largest `max_batch` and `frames_in_flight` accepted: far above any useful value, and
/// safely below what the queues can hold.
const MAX_QUEUE_SETTING: usize = 1 << 16;

impl Default for RemoteConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise_host: None,
            max_message_size: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(5),
            reconnect_backoff_min: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(10),
            max_batch: 256,
            frames_in_flight: 16,
            max_queued: 1 << 20,
            max_peers: 4096,
            compression: Compression::None,
            tls: None,
        }
    }
}

impl RemoteConfig {
    pub(crate) fn validate(&self) -> Result<(), RemoteError> {
        let invalid = |field, reason: &str| {
            Err(RemoteError::InvalidConfig {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.max_message_size == 0 {
            return invalid("max_message_size", "must be greater than zero");
        }
        for (field, value) in [
            ("max_batch", self.max_batch),
            ("frames_in_flight", self.frames_in_flight),
        ] {
            if value == 0 || value > MAX_QUEUE_SETTING {
                return invalid(field, "must be between 1 and 65536");
            }
        }
        if self.max_queued == 0 {
            return invalid("max_queued", "must be greater than zero");
        }
        if self.max_peers == 0 {
            return invalid("max_peers", "must be greater than zero");
        }
        for (field, value) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
            ("keepalive_interval", self.keepalive_interval),
            ("keepalive_timeout", self.keepalive_timeout),
            ("reconnect_backoff_min", self.reconnect_backoff_min),
        ] {
            if value.is_zero() {
                return invalid(field, "must be greater than zero");
            }
        }
        if self.reconnect_backoff_max < self.reconnect_backoff_min {
            return invalid(
                "reconnect_backoff_max",
                "must not be below reconnect_backoff_min",
            );
        }
        if let Some(tls) = &self.tls {
            tls.validate()?;
        }
        Ok(())
    }
}

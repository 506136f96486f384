//! Remoting's errors.

/// Why a payload could not be turned back into a message.
///
/// ```
/// use rakt_remote::DecodeError;
///
/// let error = DecodeError::UnknownType { type_name: "shop.v1.Order".into() };
/// assert_eq!(error.to_string(), "unknown message type shop.v1.Order");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The type is not registered on this node.
    #[error("unknown message type {type_name}")]
    UnknownType {
        /// The message's full protobuf name.
        type_name: String,
    },
    /// The bytes are not a valid message of the type.
    #[error("malformed {type_name}: {reason}")]
    Malformed {
        /// The message's full protobuf name.
        type_name: String,
        /// What the decoder found wrong.
        reason: String,
    },
}

/// Why starting remoting, or a remote operation, failed.
///
/// ```
/// use rakt_remote::RemoteError;
///
/// let error = RemoteError::Unreachable { node: "127.0.0.1:4000".into(), reason: "connection refused".into() };
/// assert_eq!(error.to_string(), "node 127.0.0.1:4000 is unreachable: connection refused");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: std::net::SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The system could not take its network location.
    #[error(transparent)]
    System(#[from] rakt_actor::SystemError),
    /// A setting is invalid.
    #[error("invalid remoting setting {field}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An address names no node, or is malformed.
    #[error(transparent)]
    Address(#[from] rakt_actor::AddressError),
    /// The node could not be reached.
    #[error("node {node} is unreachable: {reason}")]
    Unreachable {
        /// The node, as `host:port`.
        node: String,
        /// What failed.
        reason: String,
    },
    /// The node answered with an error.
    #[error("node {node} refused the request: {message}")]
    Refused {
        /// The node, as `host:port`.
        node: String,
        /// The gRPC status code.
        code: tonic::Code,
        /// The node's explanation.
        message: String,
    },
    /// The node did not answer within the request timeout.
    #[error("node {node} did not answer within {timeout:?}")]
    Timeout {
        /// The node, as `host:port`.
        node: String,
        /// The request timeout.
        timeout: std::time::Duration,
    },
    /// The node has no actor kind of that name.
    #[error("node {node} has no actor kind {kind:?}")]
    UnknownKind {
        /// The node, as `host:port`.
        node: String,
        /// The kind asked for.
        kind: String,
    },
    /// A live actor of the node already has the name.
    #[error("an actor named {name:?} already exists on node {node}")]
    NameTaken {
        /// The node, as `host:port`.
        node: String,
        /// The name asked for.
        name: String,
    },
    /// The node has no dependency of that id.
    #[error("node {node} has no dependency {id:?}")]
    UnknownDependency {
        /// The node, as `host:port`.
        node: String,
        /// The dependency's stable id.
        id: String,
    },
    /// The node did not spawn the actor: an invalid name or option, or a failed `pre_start`.
    #[error("node {node} could not spawn {name:?}: {reason}")]
    SpawnFailed {
        /// The node, as `host:port`.
        node: String,
        /// The name asked for.
        name: String,
        /// Why.
        reason: String,
    },
}

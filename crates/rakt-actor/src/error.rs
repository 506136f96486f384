//! Typed errors of the runtime. "Could not deliver" and "the handler failed" are kept apart.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// Why a name was rejected.
///
/// ```
/// use rakt_actor::NameError;
///
/// assert_eq!(NameError::Empty.to_string(), "name is empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("name is empty")]
    Empty,
    /// The name is longer than 255 bytes.
    #[error("name is {len} bytes long, the limit is 255")]
    TooLong {
        /// The length of the rejected name.
        len: usize,
    },
    /// The name holds a character outside `[a-zA-Z0-9-_.]` or does not start with a letter or digit.
    #[error(
        "name {name:?} has an invalid character at byte {position}: use letters, digits, '-', '_' and '.', starting with a letter or digit"
    )]
    InvalidCharacter {
        /// The rejected name.
        name: String,
        /// The byte offset of the first bad character.
        position: usize,
    },
}

/// Why a text is not an [`Address`](crate::Address).
///
/// ```
/// use rakt_actor::{Address, AddressError};
///
/// let err = "http://shop/cart".parse::<Address>().unwrap_err();
/// assert!(matches!(err, AddressError::MissingScheme { .. }));
/// assert_eq!(err.to_string(), "address \"http://shop/cart\" does not start with rakt://");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// It does not start with `rakt://`.
    #[error("address {address:?} does not start with rakt://")]
    MissingScheme {
        /// The rejected text.
        address: String,
    },
    /// There is no `/name` after the system and its location.
    #[error("address {address:?} has no actor name")]
    MissingName {
        /// The rejected text.
        address: String,
    },
    /// The system's name is invalid.
    #[error("address {address:?} has an invalid system name: {source}")]
    InvalidSystem {
        /// The rejected text.
        address: String,
        /// What is wrong with the name.
        source: NameError,
    },
    /// The actor's name is invalid.
    #[error("address {address:?} has an invalid actor name: {source}")]
    InvalidName {
        /// The rejected text.
        address: String,
        /// What is wrong with the name.
        source: NameError,
    },
    /// The host is empty, has a character that no host name or IP address has, or is an
    /// IPv6 address without brackets.
    #[error("address {address:?} has an invalid host: {reason}")]
    InvalidHost {
        /// The rejected text.
        address: String,
        /// What is wrong with the host.
        reason: &'static str,
    },
    /// The port is missing, not a number, zero, or above 65535.
    #[error("address {address:?} has an invalid port: {reason}")]
    InvalidPort {
        /// The rejected text.
        address: String,
        /// What is wrong with the port.
        reason: &'static str,
    },
    /// The address names no node, where one is needed, as for a remote actor.
    #[error("address {address:?} names no host and port")]
    MissingLocation {
        /// The address.
        address: String,
    },
}

/// A failure of an actor: an error returned by a handler, a panic, or an error signalled with
/// [`Context::err`](crate::Context::err).
///
/// Any error converts into it with `?`, like `anyhow::Error`; it deliberately does not
/// implement [`std::error::Error`] itself so that the blanket conversion can exist.
///
/// ```
/// use rakt_actor::ActorError;
///
/// fn parse(input: &str) -> Result<u32, ActorError> {
///     Ok(input.parse::<u32>()?)
/// }
/// assert!(parse("x").is_err());
/// assert_eq!(ActorError::msg("boom").to_string(), "boom");
/// ```
pub struct ActorError {
    /// One thin pointer, so that `Result<(), ActorError>`, what every handler returns, is a
    /// single word that is null on success.
    inner: Box<Failure>,
}

/// What an [`ActorError`] holds.
struct Failure {
    error: Box<dyn StdError + Send + Sync + 'static>,
    panic: bool,
}

impl ActorError {
    fn new(error: Box<dyn StdError + Send + Sync + 'static>, panic: bool) -> Self {
        Self {
            inner: Box::new(Failure { error, panic }),
        }
    }

    /// A failure carrying a plain message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::new(message.to_string().into(), false)
    }

    pub(crate) fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let text = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-string payload".to_owned()
        };
        Self::new(format!("panicked: {text}").into(), true)
    }

    /// Whether the failure was a panic caught by the runtime.
    pub fn is_panic(&self) -> bool {
        self.inner.panic
    }

    /// The underlying error.
    pub fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self.inner.error.as_ref()
    }

    /// The underlying error, by value.
    pub fn into_inner(self) -> Box<dyn StdError + Send + Sync + 'static> {
        self.inner.error
    }
}

impl<E> From<E> for ActorError
where
    E: StdError + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Self::new(Box::new(error), false)
    }
}

impl fmt::Display for ActorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner.error, f)
    }
}

impl fmt::Debug for ActorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorError")
            .field("error", &self.inner.error)
            .field("panic", &self.inner.panic)
            .finish()
    }
}

// Every handler returns this; keep it one word.
const _: () = assert!(size_of::<Result<(), ActorError>>() == size_of::<usize>());

/// Why an actor could not be spawned.
///
/// ```
/// use rakt_actor::{NameError, SpawnError};
///
/// let err = SpawnError::InvalidName(NameError::Empty);
/// assert_eq!(err.to_string(), "invalid actor name: name is empty");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The name is not a valid actor name.
    #[error("invalid actor name: {0}")]
    InvalidName(#[from] NameError),
    /// Another live actor of this system already has the name.
    #[error("an actor named {name:?} already exists")]
    NameTaken {
        /// The name asked for.
        name: String,
    },
    /// The actor system is stopping or stopped.
    #[error("the actor system is not running")]
    SystemStopped,
    /// The parent of a child actor is not running.
    #[error("parent actor {parent:?} is not running")]
    ParentStopped {
        /// The parent's name.
        parent: String,
    },
    /// The mailbox settings are invalid.
    #[error("invalid mailbox: {reason}")]
    InvalidMailbox {
        /// What is wrong.
        reason: String,
    },
    /// `pre_start` failed on every attempt.
    #[error("pre_start of {name:?} failed after {attempts} attempt(s): {error}")]
    PreStartFailed {
        /// The actor's name.
        name: String,
        /// How many times `pre_start` ran.
        attempts: u32,
        /// The last failure.
        error: ActorError,
    },
    /// `pre_start` did not finish within the init timeout.
    #[error("pre_start of {name:?} did not finish within {timeout:?}")]
    PreStartTimeout {
        /// The actor's name.
        name: String,
        /// The init timeout.
        timeout: Duration,
    },
    /// The supervisor's settings are invalid.
    #[error("invalid supervisor: {reason}")]
    InvalidSupervisor {
        /// What is wrong.
        reason: String,
    },
    /// The reentrancy has an in-flight limit of zero.
    #[error("invalid reentrancy: {reason}")]
    InvalidReentrancy {
        /// What is wrong.
        reason: String,
    },
    /// The passivation has a zero idle time or message count.
    #[error("invalid passivation: {reason}")]
    InvalidPassivation {
        /// What is wrong.
        reason: String,
    },
    /// A dependency has an empty id, or two have the same.
    #[error("invalid dependency: {reason}")]
    InvalidDependency {
        /// What is wrong.
        reason: String,
    },
    /// The router's settings are invalid: an empty pool, a zero duration or no virtual
    /// nodes; see [`Router`](crate::Router).
    #[error("invalid router: {reason}")]
    InvalidRouter {
        /// What is wrong.
        reason: String,
    },
    /// The factory of [`ActorSystem::spawn_factory`](crate::ActorSystem::spawn_factory)
    /// panicked.
    #[error("the factory of actor {name:?} panicked: {error}")]
    FactoryPanicked {
        /// The actor's name.
        name: String,
        /// The panic.
        error: ActorError,
    },
    /// The stash capacity is zero or larger than `u32::MAX`.
    #[error("invalid stash capacity {capacity}: it must be between 1 and 4294967295")]
    InvalidStashCapacity {
        /// The capacity asked for.
        capacity: usize,
    },
}

/// Why [`Context::stash`](crate::Context::stash) could not set the message aside.
///
/// ```
/// use rakt_actor::StashError;
///
/// assert_eq!(StashError::Full { capacity: 8 }.to_string(), "the stash is full (8 messages); the message became a dead letter");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StashError {
    /// The actor was spawned without a stash; give it one with
    /// [`SpawnOptions::stash_capacity`](crate::SpawnOptions::stash_capacity).
    #[error("the actor has no stash")]
    Disabled,
    /// The stash holds its capacity already: the message became a dead letter.
    #[error("the stash is full ({capacity} messages); the message became a dead letter")]
    Full {
        /// The stash's capacity.
        capacity: usize,
    },
    /// There is no message to stash: it was already taken, forwarded or stashed.
    #[error("no message to stash")]
    NoMessage,
}

/// Why a message could not be delivered. The message itself went to dead letters.
///
/// ```
/// use rakt_actor::SendError;
///
/// let err = SendError::ActorStopped { name: "worker".into() };
/// assert_eq!(err.to_string(), "actor \"worker\" is not running");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The receiver has stopped or is stopping.
    #[error("actor {name:?} is not running")]
    ActorStopped {
        /// The receiver's name.
        name: String,
    },
    /// The receiver's bounded, non-blocking mailbox is full.
    #[error("the mailbox of actor {name:?} is full")]
    MailboxFull {
        /// The receiver's name.
        name: String,
    },
    /// The receiver's bounded mailbox stayed full for the whole push timeout.
    #[error("timed out waiting for space in the mailbox of actor {name:?}")]
    MailboxTimeout {
        /// The receiver's name.
        name: String,
    },
    /// No actor of that name exists.
    #[error("no actor named {name:?}")]
    NotFound {
        /// The name looked up.
        name: String,
    },
    /// The receiver's node could not be reached: the connection failed or was lost.
    #[error("node {node} is unreachable: {reason}")]
    Unreachable {
        /// The node, as `host:port`.
        node: String,
        /// What failed.
        reason: String,
    },
    /// The receiver's node refused the message, for instance because it does not know its
    /// type or it is too large.
    #[error("node {node} refused the message for actor {name:?}: {reason}")]
    Refused {
        /// The node, as `host:port`.
        node: String,
        /// The receiver's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The link to the receiver's node holds as many messages as it may: the network or the
    /// peer is slower than the senders. Sending again later may succeed.
    #[error("the link to node {node} holds {queued} messages already")]
    Overloaded {
        /// The node, as `host:port`.
        node: String,
        /// How many messages the link holds.
        queued: usize,
    },
}

/// Why an ask got no reply.
///
/// ```
/// use rakt_actor::AskError;
///
/// assert_eq!(AskError::ZeroTimeout.to_string(), "ask timeout must be greater than zero");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AskError {
    /// The question could not be delivered.
    #[error(transparent)]
    Send(#[from] SendError),
    /// No reply arrived within the timeout.
    #[error("no reply from actor {name:?} within {timeout:?}")]
    Timeout {
        /// The receiver's name.
        name: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// The timeout was zero.
    #[error("ask timeout must be greater than zero")]
    ZeroTimeout,
    /// An actor asked itself from its own handler, which could only time out.
    #[error("actor {name:?} asked itself, which would block until the timeout")]
    SelfAsk {
        /// The actor's name.
        name: String,
    },
    /// The receiver handled the question without responding.
    #[error("actor {name:?} handled the message without responding")]
    NoReply {
        /// The receiver's name.
        name: String,
    },
    /// The receiver declared the question unhandled.
    #[error("actor {name:?} did not handle the message")]
    Unhandled {
        /// The receiver's name.
        name: String,
    },
    /// The receiver tried to set the question aside and its stash was full.
    #[error("actor {name:?} could not stash the message: its stash is full")]
    StashFull {
        /// The receiver's name.
        name: String,
    },
    /// The receiver's handler failed while handling the question.
    #[error("actor {name:?} failed while handling the message: {error}")]
    HandlerFailed {
        /// The receiver's name.
        name: String,
        /// The failure, rendered as text.
        error: String,
    },
    /// The request was cancelled before its reply arrived.
    #[error("the request to actor {name:?} was cancelled")]
    Cancelled {
        /// The receiver's name.
        name: String,
    },
    /// The reply was not of the expected type.
    #[error("expected a reply of type {expected}, got {actual}")]
    UnexpectedReply {
        /// The protobuf name of the expected type.
        expected: String,
        /// The protobuf name of the reply.
        actual: String,
    },
}

/// Why stopping, killing or restarting an actor failed.
///
/// ```
/// use rakt_actor::StopError;
///
/// let err = StopError::NotRunning { name: "a".into() };
/// assert_eq!(err.to_string(), "actor \"a\" is not running");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StopError {
    /// The actor had already stopped.
    #[error("actor {name:?} is not running")]
    NotRunning {
        /// The actor's name.
        name: String,
    },
    /// The actor did not finish within the timeout; it goes on stopping in the background.
    #[error("actor {name:?} did not stop within {timeout:?}")]
    Timeout {
        /// The actor's name.
        name: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// An actor awaited its own stop, kill or restart from its handler, which could only
    /// wait forever: use [`Context::stop_self`](crate::Context::stop_self) instead.
    #[error("actor {name:?} cannot wait for its own stop or restart; use Context::stop_self")]
    OwnActor {
        /// The actor's name.
        name: String,
    },
    /// The actor is not suspended, so there is nothing to reinstate.
    #[error("actor {name:?} is not suspended")]
    NotSuspended {
        /// The actor's name.
        name: String,
    },
    /// A restart failed, in `pre_start` or in handling the new `PostStart`; the actor was
    /// stopped.
    #[error("restart of actor {name:?} failed: {error}")]
    RestartFailed {
        /// The actor's name.
        name: String,
        /// The `pre_start` failure, rendered as text.
        error: String,
    },
    /// Waiting for the stop of an actor on another node; watch it instead.
    #[error("actor {name:?} is on another node: watch it to learn when it stops")]
    NotLocal {
        /// The actor's name.
        name: String,
    },
    /// The remote actor's node could not be reached, or did not answer.
    #[error("node {node} is unreachable: {reason}")]
    Unreachable {
        /// The node, as `host:port`.
        node: String,
        /// What failed.
        reason: String,
    },
    /// No actor of that name exists on its node.
    #[error("no actor named {name:?}")]
    NotFound {
        /// The name.
        name: String,
    },
    /// The remote actor's node answered and failed the request, for instance because the
    /// actor did not stop within that node's shutdown timeout.
    #[error("node {node} refused to act on actor {name:?}: {reason}")]
    Refused {
        /// The node, as `host:port`.
        node: String,
        /// The actor's name.
        name: String,
        /// The node's explanation.
        reason: String,
    },
}

/// Why building or stopping an actor system failed.
///
/// ```
/// use rakt_actor::SystemError;
///
/// let err = SystemError::NoRuntime;
/// assert_eq!(err.to_string(), "an actor system must be built inside a tokio runtime");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SystemError {
    /// The system name is invalid.
    #[error("invalid actor system name: {0}")]
    InvalidName(#[from] NameError),
    /// A duration setting is zero.
    #[error("{field} must be greater than zero")]
    ZeroDuration {
        /// The setting's name.
        field: &'static str,
    },
    /// The default mailbox settings are invalid.
    #[error("invalid default mailbox: {reason}")]
    InvalidMailbox {
        /// What is wrong.
        reason: String,
    },
    /// `build` was called outside a tokio runtime.
    #[error("an actor system must be built inside a tokio runtime")]
    NoRuntime,
    /// The tokio runtime was built without its time driver (`enable_time` or `enable_all`),
    /// which timeouts need.
    #[error("the tokio runtime has no time driver: build it with enable_time() or enable_all()")]
    NoTimeDriver,
    /// Two extensions of one type were registered.
    #[error("an extension of type {type_name} is already registered")]
    DuplicateExtension {
        /// The extension's type.
        type_name: &'static str,
    },
    /// A supervisor setting is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidSupervisor {
        /// The setting's name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The system already has a network location; see
    /// [`ActorSystem::set_location`](crate::ActorSystem::set_location).
    #[error("the actor system already listens for remote messages")]
    AlreadyListening,
    /// The host or port given to
    /// [`ActorSystem::set_location`](crate::ActorSystem::set_location) is invalid.
    #[error("invalid location: {0}")]
    InvalidLocation(AddressError),
    /// The default passivation has a zero idle time or message count.
    #[error("invalid default passivation: {reason}")]
    InvalidPassivation {
        /// What is wrong.
        reason: String,
    },
    /// The eviction's limit or interval is zero, or its percentage is over 100.
    #[error("invalid eviction: {reason}")]
    InvalidEviction {
        /// What is wrong.
        reason: String,
    },
    /// A shutdown hook has a zero timeout.
    #[error("invalid shutdown hook: {reason}")]
    InvalidShutdownHook {
        /// What is wrong.
        reason: String,
    },
    /// A shutdown hook whose failure aborts the stop failed: the system runs on.
    #[error("shutdown hook {hook:?} failed, so the system was not stopped: {error}")]
    ShutdownHookFailed {
        /// The hook's name.
        hook: String,
        /// Its last failure.
        error: String,
    },
    /// `stop` was called on a system that is already stopping or stopped.
    #[error("the actor system is already stopped")]
    AlreadyStopped,
    /// Some actors were still running when the shutdown timeout passed; they were aborted.
    #[error("{} actor(s) did not stop within {timeout:?}: {}", actors.len(), actors.join(", "))]
    ShutdownTimeout {
        /// The shutdown timeout.
        timeout: Duration,
        /// The names of the actors that were aborted.
        actors: Vec<String>,
    },
}

/// Why a lookup found no actor.
///
/// ```
/// use rakt_actor::LookupError;
///
/// let err = LookupError::NotFound { name: "ghost".into() };
/// assert_eq!(err.to_string(), "no actor named \"ghost\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// No live actor has the name.
    #[error("no actor named {name:?}")]
    NotFound {
        /// The name looked up.
        name: String,
    },
}

//! The seam between the runtime and a transport that reaches actors on other nodes.
//!
//! `rakt-actor` has no network code. A [`Pid`] for an actor on another node (a remote `Pid`)
//! holds a [`Transport`], which `rakt-remote` implements over gRPC. Everything a `Pid` does
//! for a remote actor goes through it: sends arrive as an [`Outbound`], and asks keep their
//! timeout in the local system, so a remote ask times out exactly as a local one does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::address::Address;
use crate::ask::ReplyTo;
use crate::error::{AskError, SendError, StopError};
use crate::event::DeadLetterReason;
use crate::message::AnyMessage;
use crate::payload::Payload;
use crate::pid::Pid;
use crate::system::SystemShared;
use crate::telemetry::Trace;

/// Sets the parent of the span a message is handled in, when that parent is not a `tracing`
/// span of this process but, say, a span on the node the message came from (feature
/// `spans`). A transport makes one from the trace context it received with the message, and
/// delivers with [`Pid::tell_any_traced`] or [`Ask::trace_parent`](crate::Ask::trace_parent);
/// it runs once, on the `rakt.receive` span, before the span is entered.
///
/// ```
/// use rakt_actor::remote::TraceParent;
///
/// let adopt: TraceParent = Box::new(|span: &tracing::Span| {
///     span.record("otel.kind", "consumer");
/// });
/// # let _ = adopt;
/// ```
#[cfg(feature = "spans")]
pub type TraceParent = Box<dyn FnOnce(&tracing::Span) + Send + Sync>;

/// A boxed future of a transport's control operation.
pub type ControlFuture = Pin<Box<dyn Future<Output = Result<(), StopError>> + Send + 'static>>;

/// What a transport does for a remote [`Pid`].
///
/// Implemented by `rakt-remote`; an application never calls it directly. Every method is
/// called with the remote `Pid` it acts on. A method must not block: sends queue their
/// message and return.
///
/// ```
/// use std::sync::Arc;
/// use rakt_actor::remote::{ControlFuture, Control, Outbound, Transport};
/// use rakt_actor::{Pid, SendError};
///
/// /// Refuses everything, as a transport for a node that is gone would.
/// #[derive(Debug)]
/// struct Gone;
///
/// impl Transport for Gone {
///     fn send(&self, to: &Pid, outbound: Outbound) -> Result<(), SendError> {
///         let error = SendError::Unreachable { node: "127.0.0.1:4000".into(), reason: "gone".into() };
///         Err(outbound.undeliverable(to, rakt_actor::DeadLetterReason::Unreachable, error))
///     }
///     fn control(&self, to: &Pid, _control: Control) -> ControlFuture {
///         let name = to.name().to_owned();
///         Box::pin(async move { Err(rakt_actor::StopError::NotRunning { name }) })
///     }
///     fn watch(&self, _target: &Pid, _watcher: &Pid) {}
///     fn unwatch(&self, _target: &Pid, _watcher: &Pid) {}
///     fn terminated(&self, _watcher: &Pid, _target: &Pid) {}
/// }
/// # let _: Arc<dyn Transport> = Arc::new(Gone);
/// ```
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// Sends a message to the remote actor `to`, queueing it without waiting.
    ///
    /// When it cannot, the transport hands the message to
    /// [`Outbound::undeliverable`], which dead-letters it and fails its asker, and returns
    /// the error. A message the transport accepts and later cannot deliver goes the same way.
    ///
    /// # Errors
    ///
    /// Why the message was not accepted.
    fn send(&self, to: &Pid, outbound: Outbound) -> Result<(), SendError>;

    /// Stops, kills, restarts or reinstates the remote actor `to`, and reports the outcome.
    fn control(&self, to: &Pid, control: Control) -> ControlFuture;

    /// Starts watching the remote actor `target` for `watcher`, a local actor: when `target`
    /// stops, or its node becomes unreachable, the transport calls
    /// [`Pid::notify_terminated`] on `watcher`.
    fn watch(&self, target: &Pid, watcher: &Pid);

    /// Stops watching the remote actor `target` for `watcher`.
    fn unwatch(&self, target: &Pid, watcher: &Pid);

    /// Tells the remote actor `watcher` that `target`, a local actor it watched, stopped.
    fn terminated(&self, watcher: &Pid, target: &Pid);
}

/// A control operation on a remote actor; see [`Transport::control`].
///
/// ```
/// use rakt_actor::remote::Control;
///
/// assert_ne!(Control::Stop, Control::Kill);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Control {
    /// [`Pid::stop`]: handle what is queued, then stop.
    Stop,
    /// [`Pid::kill`]: stop after the current message.
    Kill,
    /// [`Pid::restart`].
    Restart,
    /// [`Pid::reinstate`].
    Reinstate,
}

/// A message on its way to a remote actor, with its sender and, for an ask, its asker.
///
/// The transport reads the message to encode it, keeps the asker's side
/// ([`take_reply`](Self::take_reply)) until the reply arrives, and hands undeliverable
/// messages to [`undeliverable`](Self::undeliverable).
///
/// ```
/// use rakt_actor::remote::Outbound;
/// use rakt_proto::v1::StatusFailure;
///
/// let outbound = Outbound::tell(StatusFailure { error: "hi".into() });
/// assert_eq!(outbound.message().full_name(), "rakt.v1.StatusFailure");
/// assert!(outbound.sender().is_none() && !outbound.is_ask());
/// ```
pub struct Outbound {
    message: Payload,
    sender: Option<Pid>,
    reply: Option<RemoteReply>,
    #[cfg_attr(not(feature = "spans"), allow(dead_code))]
    trace: Trace,
}

impl Outbound {
    pub(crate) fn new(
        message: Payload,
        sender: Option<Pid>,
        reply: Option<RemoteReply>,
        trace: Trace,
    ) -> Self {
        Self {
            message,
            sender,
            reply,
            trace,
        }
    }

    /// A tell of `message` without a sender, as the transport's own tests build one.
    pub fn tell<M: crate::Message>(message: M) -> Self {
        Self::new(Payload::new(message), None, None, Trace::current())
    }

    /// The span current when the message was sent (feature `spans`): its context is what a
    /// transport carries to the receiving node, so that the handling span there is its child.
    ///
    /// ```
    /// use rakt_actor::remote::Outbound;
    /// use rakt_proto::v1::StatusFailure;
    ///
    /// let outbound = Outbound::tell(StatusFailure::default());
    /// assert!(outbound.span().is_none(), "sent outside any span");
    /// ```
    #[cfg(feature = "spans")]
    pub fn span(&self) -> &tracing::Span {
        self.trace.span()
    }

    /// The message.
    pub fn message(&self) -> &dyn AnyMessage {
        self.message.as_dyn()
    }

    /// The actor that sent it, when one did.
    pub fn sender(&self) -> Option<&Pid> {
        self.sender.as_ref()
    }

    /// Whether an asker waits for the reply.
    pub fn is_ask(&self) -> bool {
        self.reply.as_ref().is_some_and(|r| !r.reply.is_closed())
    }

    /// Whether this is an ask whose asker already gave up (timed out, or dropped its future):
    /// a transport need not send it, as a local mailbox skips such a question.
    ///
    /// ```
    /// use rakt_actor::remote::Outbound;
    /// use rakt_proto::v1::StatusFailure;
    ///
    /// assert!(!Outbound::tell(StatusFailure::default()).is_abandoned(), "a tell has no asker");
    /// ```
    pub fn is_abandoned(&self) -> bool {
        self.reply.as_ref().is_some_and(|r| r.reply.is_closed())
    }

    /// How long the asker still waits, for an ask: measured now, so a message that waited in
    /// a transport's queue carries only the time its asker has left.
    pub fn timeout(&self) -> Option<Duration> {
        self.reply.as_ref().map(|r| r.reply.time_left())
    }

    /// Takes the asker's side, to answer when the reply comes back.
    pub fn take_reply(&mut self) -> Option<RemoteReply> {
        self.reply.take()
    }

    /// Reports the message undeliverable to `to`: it becomes a dead letter for `reason`,
    /// its asker fails with `error`, and `error` is handed back for the sender.
    #[must_use = "the error is the sender's to return"]
    pub fn undeliverable(self, to: &Pid, reason: DeadLetterReason, error: SendError) -> SendError {
        let system = to.system_shared();
        if let Some(reply) = self.reply {
            reply.fail(AskError::Send(error.clone()));
        }
        system.dead_letter(self.sender, to.name(), self.message, reason);
        error
    }
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("message", &self.message.as_dyn())
            .field("sender", &self.sender)
            .field("ask", &self.is_ask())
            .finish()
    }
}

/// The asker's side of an ask sent to a remote actor: the transport answers it when the reply
/// arrives, or fails it. Its timeout is kept by the asker's system, so a transport that never
/// answers leaves the asker with [`AskError::Timeout`], not waiting forever; dropping it
/// unanswered fails the asker at once with [`AskError::NoReply`].
///
/// ```
/// # use rakt_actor::remote::RemoteReply;
/// fn lost(reply: RemoteReply) {
///     reply.fail(rakt_actor::AskError::Send(rakt_actor::SendError::Unreachable {
///         node: "127.0.0.1:4000".into(),
///         reason: "connection reset".into(),
///     }));
/// }
/// # let _ = lost;
/// ```
pub struct RemoteReply {
    reply: ReplyTo,
    /// The remote actor asked, for dead letters of late replies.
    target: Pid,
}

impl RemoteReply {
    pub(crate) fn new(reply: ReplyTo, target: Pid) -> Self {
        Self { reply, target }
    }

    /// Answers the asker with the reply decoded from the wire. A reply the asker no longer
    /// waits for becomes a dead letter.
    pub fn respond(self, message: Box<dyn AnyMessage>) {
        crate::letter::answer(
            &self.target,
            Some(self.reply),
            None,
            Payload::from_box(message),
        );
    }

    /// Fails the asker with `error`.
    pub fn fail(self, error: AskError) {
        // The asker may have stopped waiting; then nobody needs to hear it.
        let _ = self.reply.send(Err(error));
    }

    /// Whether the asker has stopped waiting.
    pub fn is_closed(&self) -> bool {
        self.reply.is_closed()
    }
}

impl fmt::Debug for RemoteReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteReply")
            .field("target", &self.target)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A remote `Pid`'s identity and the transport that reaches it.
pub(crate) struct RemoteActor {
    pub(crate) address: Address,
    pub(crate) id: u64,
    /// The local system: asks to the remote actor keep their deadlines in it, and its
    /// dead letters count what the transport cannot deliver.
    pub(crate) system: Arc<SystemShared>,
    pub(crate) transport: Arc<dyn Transport>,
}

impl fmt::Debug for RemoteActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteActor")
            .field("address", &self.address)
            .field("id", &self.id)
            .finish()
    }
}

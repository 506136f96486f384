//! `Pid`: the handle through which everything talks to an actor.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::hash::{Hash, Hasher};
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::address::Address;
use crate::ask::{AskWait, Outcome};
use crate::cell::{ActorCell, Envelope, SystemMessage, state};
use crate::error::{AskError, SendError, StopError};
use crate::message::{AnyMessage, Message};
use crate::payload::Payload;
use crate::remote::{Control, Outbound, RemoteActor, RemoteReply, Transport};
use crate::system::SystemShared;
use crate::telemetry::Trace;

/// A handle to an actor: cheap to clone, `Send + Sync`, comparable and hashable.
///
/// Two `Pid`s are equal when they name the same incarnation of an actor: an actor spawned
/// again under the same name gets a different `Pid`.
///
/// ```
/// use rakt_actor::{ActorSystem, Context};
/// use rakt_proto::v1::StatusFailure;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("pids").build()?;
/// let echo = system
///     .spawn_fn("echo", |ctx: &mut Context<'_, _>| {
///         if let Some(msg) = ctx.take_message::<StatusFailure>() {
///             ctx.respond(msg);
///         }
///         Ok(())
///     })
///     .await?;
/// let reply: StatusFailure = echo.ask(StatusFailure { error: "hi".into() }).await?;
/// assert_eq!(reply.error, "hi");
/// assert_eq!(echo.name(), "echo");
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
///
/// A `Pid` may also name an actor on another node (a remote `Pid`, made by the remoting
/// layer): sending, asking, forwarding, watching and stopping work the same, through its
/// [`Transport`](crate::remote::Transport). What only the actor's own node knows (its
/// parent, children, dependencies, passivation and counters) reads as empty or zero on a
/// remote `Pid`; ask its node instead.
#[derive(Clone)]
pub struct Pid {
    /// One pointer, so that a `Pid`, and the sender of every queued envelope, is one word; a
    /// remote actor's cell holds its [`RemoteActor`] instead of running anything.
    cell: Arc<ActorCell>,
}

/// Where the actor lives, as borrowed from its `Pid`.
enum Target<'a> {
    Local(&'a Arc<ActorCell>),
    Remote(&'a RemoteActor),
}

impl Pid {
    pub(crate) fn from_cell(cell: Arc<ActorCell>) -> Self {
        Self { cell }
    }

    #[inline]
    fn target(&self) -> Target<'_> {
        match self.cell.remote.as_deref() {
            None => Target::Local(&self.cell),
            Some(remote) => Target::Remote(remote),
        }
    }

    /// A handle to the actor at `address` on another node, reached through `transport`.
    /// `system` is the local system: asks to the actor keep their timeouts in it, and what
    /// cannot be delivered counts among its dead letters. `id` is the actor's incarnation, as
    /// its node reports it (zero when unknown).
    ///
    /// # Errors
    ///
    /// [`AddressError::MissingLocation`](crate::AddressError::MissingLocation) when `address`
    /// names no host and port.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rakt_actor::remote::{Control, ControlFuture, Outbound, Transport};
    /// use rakt_actor::{ActorSystem, Address, DeadLetterReason, Pid, SendError, StopError};
    /// use rakt_proto::v1::StatusFailure;
    ///
    /// #[derive(Debug)]
    /// struct Unplugged;
    ///
    /// impl Transport for Unplugged {
    ///     fn send(&self, to: &Pid, outbound: Outbound) -> Result<(), SendError> {
    ///         let error = SendError::Unreachable { node: "127.0.0.1:4000".into(), reason: "unplugged".into() };
    ///         Err(outbound.undeliverable(to, DeadLetterReason::Unreachable, error))
    ///     }
    ///     fn control(&self, to: &Pid, _: Control) -> ControlFuture {
    ///         let name = to.name().to_owned();
    ///         Box::pin(async move { Err(StopError::NotRunning { name }) })
    ///     }
    ///     fn watch(&self, _: &Pid, _: &Pid) {}
    ///     fn unwatch(&self, _: &Pid, _: &Pid) {}
    ///     fn terminated(&self, _: &Pid, _: &Pid) {}
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("a").build()?;
    /// let address = Address::remote("b", "127.0.0.1", 4000, "worker");
    /// let worker = Pid::remote(&system, address, 7, Arc::new(Unplugged))?;
    /// assert!(worker.is_remote());
    /// assert!(worker.tell(StatusFailure::default()).await.is_err());
    /// assert_eq!(system.dead_letter_count(), 1);
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn remote(
        system: &crate::ActorSystem,
        address: Address,
        id: u64,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, crate::AddressError> {
        if address.host().is_none() {
            return Err(crate::AddressError::MissingLocation {
                address: address.to_string(),
            });
        }
        Ok(Self {
            cell: Arc::new(ActorCell::remote(RemoteActor {
                address,
                id,
                system: system.shared().clone(),
                transport,
            })),
        })
    }

    /// The actor's cell, when it lives in this process.
    #[inline]
    pub(crate) fn local(&self) -> Option<&Arc<ActorCell>> {
        match self.target() {
            Target::Local(cell) => Some(cell),
            Target::Remote(_) => None,
        }
    }

    /// Sends a system message to a local actor; false when it has stopped, or is remote
    /// (children, parents and registered actors are always local).
    pub(crate) fn push_system(&self, message: SystemMessage) -> bool {
        self.local()
            .is_some_and(|cell| cell.lanes.push_system(message).is_ok())
    }

    /// Whether a local actor stops or has stopped; a remote actor is not known to.
    pub(crate) fn is_stopping(&self) -> bool {
        self.local()
            .is_some_and(|cell| cell.state() >= state::STOPPING)
    }

    /// Waits until a local actor has stopped; returns at once for a remote one.
    pub(crate) async fn wait_terminated(&self) {
        if let Some(cell) = self.local() {
            cell.wait_terminated().await;
        }
    }

    /// The system this handle belongs to: the actor's own, or for a remote actor the local
    /// system that made the handle.
    pub(crate) fn system_shared(&self) -> &Arc<SystemShared> {
        match self.target() {
            Target::Local(cell) => &cell.system,
            Target::Remote(remote) => &remote.system,
        }
    }

    /// Whether the actor lives in this process.
    pub fn is_local(&self) -> bool {
        self.cell.remote.is_none()
    }

    /// Whether the actor lives on another node.
    pub fn is_remote(&self) -> bool {
        self.cell.remote.is_some()
    }

    /// The actor's name, unique within its system.
    pub fn name(&self) -> &str {
        match self.target() {
            Target::Local(cell) => &cell.name,
            Target::Remote(remote) => remote.address.name(),
        }
    }

    /// A number identifying this incarnation of the actor within its system.
    pub fn id(&self) -> u64 {
        match self.target() {
            Target::Local(cell) => cell.id,
            Target::Remote(remote) => remote.id,
        }
    }

    /// The actor's address: with its node's host and port when the node listens for remote
    /// messages.
    pub fn address(&self) -> Address {
        match self.target() {
            Target::Local(cell) => cell.system.address_of(&cell.name),
            Target::Remote(remote) => remote.address.clone(),
        }
    }

    /// Whether the actor handles messages: started, not suspended and not stopping. Always
    /// true for a remote actor, whose state only its node knows: watch it to learn when it
    /// stops.
    pub fn is_running(&self) -> bool {
        match self.target() {
            Target::Local(cell) => cell.state() == state::RUNNING,
            Target::Remote(_) => true,
        }
    }

    /// Whether the actor is suspended after a failure: waiting for a backoff to pass or for
    /// its parent to decide. It handles no message meanwhile; they stay queued. Always false
    /// for a remote actor.
    pub fn is_suspended(&self) -> bool {
        self.local()
            .is_some_and(|cell| cell.state() == state::SUSPENDED)
    }

    /// Brings a suspended actor back to handling messages, with the state it has: a pending
    /// restart is cancelled, an escalation is settled. The actor publishes
    /// [`Event::ActorReinstated`](crate::Event::ActorReinstated) when it resumes.
    ///
    /// # Errors
    ///
    /// [`StopError::NotSuspended`] when the actor is not suspended, and
    /// [`StopError::NotRunning`] when it has stopped. For a remote actor the request is only
    /// sent, and `Ok` means it left; its node's refusal is logged, as this returns at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_actor::{ActorError, ActorSystem, Backoff, Context, FnActor, SpawnOptions, StopError, Supervisor};
    /// use rakt_proto::v1::StatusFailure;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("reinstate").build()?;
    /// // Restarts wait an hour: a failure leaves the actor suspended.
    /// let hour = Duration::from_secs(3600);
    /// let slow = Supervisor::new().backoff(Backoff::exponential(hour, hour));
    /// let fragile = FnActor::new(|ctx: &mut Context<'_, _>| {
    ///     if ctx.is::<StatusFailure>() {
    ///         return Err(ActorError::msg("boom"));
    ///     }
    ///     Ok(())
    /// });
    /// let pid = system.spawn_with("fragile", fragile, SpawnOptions::new().supervisor(slow)).await?;
    /// assert!(matches!(pid.reinstate(), Err(StopError::NotSuspended { .. })));
    ///
    /// pid.tell(StatusFailure::default()).await?;
    /// for _ in 0..1000 {
    ///     if pid.is_suspended() {
    ///         break;
    ///     }
    ///     tokio::time::sleep(Duration::from_millis(5)).await;
    /// }
    /// assert!(pid.is_suspended());
    /// pid.reinstate()?;
    /// # for _ in 0..1000 { if pid.is_running() { break; } tokio::time::sleep(Duration::from_millis(5)).await; }
    /// # assert!(pid.is_running());
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn reinstate(&self) -> Result<(), StopError> {
        let name = || self.name().to_owned();
        let cell = match self.target() {
            Target::Local(cell) => cell,
            Target::Remote(remote) => {
                // The outcome arrives later, so a failure can only be logged.
                let control = remote.transport.control(self, Control::Reinstate);
                let name = self.name().to_owned();
                remote.system.runtime.spawn(async move {
                    if let Err(error) = control.await {
                        tracing::warn!(actor = %name, %error, "remote reinstate failed");
                    }
                });
                return Ok(());
            }
        };
        match cell.state() {
            state::SUSPENDED => {}
            state::STARTING | state::RUNNING => {
                return Err(StopError::NotSuspended { name: name() });
            }
            _ => return Err(StopError::NotRunning { name: name() }),
        }
        cell.lanes
            .push_system(SystemMessage::Reinstate)
            .map_err(|_| StopError::NotRunning { name: name() })
    }

    /// The parent, for a child actor.
    pub fn parent(&self) -> Option<&Pid> {
        self.local()?.parent.as_ref()
    }

    /// The running children.
    pub fn children(&self) -> Vec<Pid> {
        self.local().map(|cell| cell.children()).unwrap_or_default()
    }

    /// The dependencies the actor was spawned with, kept across its restarts; empty once it
    /// has stopped.
    pub fn dependencies(&self) -> Vec<Arc<dyn crate::Dependency>> {
        self.local()
            .map(|cell| cell.dependencies())
            .unwrap_or_default()
    }

    /// When the actor passivates; [`Passivation::LongLived`] once it has stopped.
    ///
    /// [`Passivation::LongLived`]: crate::Passivation::LongLived
    pub fn passivation(&self) -> crate::Passivation {
        let Some(cell) = self.local() else {
            return crate::Passivation::LongLived;
        };
        cell.system
            .passivator
            .lookup(cell.id)
            .map_or(crate::Passivation::LongLived, |w| w.strategy)
    }

    /// Holds the actor's passivation and eviction until
    /// [`resume_passivation`](Self::resume_passivation), for example while it waits on
    /// something that is not a message (GoAkt's `PausePassivation`). False when the actor
    /// does not passivate or has stopped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_actor::{ActorSystem, FnActor, Passivation, SpawnOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("paused").build()?;
    /// let idle = SpawnOptions::new().passivation(Passivation::AfterIdle(Duration::from_millis(10)));
    /// let pid = system.spawn_with("busy-elsewhere", FnActor::new(|_ctx| Ok(())), idle).await?;
    /// assert!(pid.pause_passivation());
    /// tokio::time::sleep(Duration::from_millis(50)).await;
    /// assert!(pid.is_running(), "paused, so not passivated");
    /// assert!(pid.resume_passivation());
    /// pid.wait_stopped().await?;
    ///
    /// let long_lived = system.spawn_fn("forever", |_ctx| Ok(())).await?;
    /// assert!(!long_lived.pause_passivation());
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pause_passivation(&self) -> bool {
        self.local()
            .is_some_and(|cell| cell.system.passivator.set_paused(cell.id, true))
    }

    /// Lets a paused actor passivate again: its idle time starts afresh, and an actor that
    /// reached its message count while paused passivates now. False when the actor does not
    /// passivate or has stopped.
    pub fn resume_passivation(&self) -> bool {
        self.local()
            .is_some_and(|cell| cell.system.passivator.set_paused(cell.id, false))
    }

    /// Counters of this actor.
    pub fn metrics(&self) -> ActorMetrics {
        let Some(cell) = self.local() else {
            return ActorMetrics::default();
        };
        let stats = &cell.stats;
        ActorMetrics {
            processed: stats.processed.load(Ordering::Relaxed),
            failures: stats.failures.load(Ordering::Relaxed),
            restarts: stats.restarts.load(Ordering::Relaxed),
            reinstates: stats.reinstates.load(Ordering::Relaxed),
            dead_letters: stats.dead_letters.load(Ordering::Relaxed),
            mailbox_len: cell.lanes.user_len(),
            last_processing_latency: Duration::from_nanos(
                crate::cell::clock().map_or(0, |clock| {
                    clock.delta_as_nanos(0, stats.last_latency_ticks.load(Ordering::Relaxed))
                }),
            ),
            uptime: cell.started_at.elapsed(),
            idle: crate::cell::clock().map_or(Duration::ZERO, |clock| {
                match stats.last_active_ticks.load(Ordering::Relaxed) {
                    0 => Duration::ZERO,
                    stamp => clock.delta(stamp, clock.raw()),
                }
            }),
            children: cell.children().len(),
            stash_len: stats.stashed.load(Ordering::Relaxed) as usize,
        }
    }

    /// Sends a message without a sender. Waits only when the actor has a bounded mailbox that
    /// is full. An undeliverable message goes to dead letters and the error says why.
    pub async fn tell<M: Message>(&self, message: M) -> Result<(), SendError> {
        match self.target() {
            Target::Local(cell) => {
                let pushed = cell.lanes.try_push_user(Envelope {
                    message: Payload::new(message),
                    sender: None,
                    reply: None,
                    trace: crate::telemetry::Trace::current(),
                });
                match pushed {
                    Ok(()) => Ok(()),
                    Err(err) => cell.refused(err).await,
                }
            }
            Target::Remote(remote) => remote.transport.send(
                self,
                Outbound::new(Payload::new(message), None, None, Trace::current()),
            ),
        }
    }

    /// Sends a message whose sender is `sender`: the receiver's
    /// [`Context::sender`](crate::Context::sender) is `sender`, and its
    /// [`respond`](crate::Context::respond) replies to `sender`. This is for code that acts
    /// for an actor outside its handler, such as a test probe; a handler sends with
    /// [`Context::tell`](crate::Context::tell).
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, Context};
    /// use rakt_proto::v1::StatusFailure as Text;
    /// use tokio::sync::mpsc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("tell-from").build()?;
    /// let (heard, mut replies) = mpsc::unbounded_channel();
    /// let listener = system
    ///     .spawn_fn("listener", move |ctx: &mut Context<'_, _>| {
    ///         if let Some(text) = ctx.take_message::<Text>() {
    ///             let _ = heard.send(text.error);
    ///         }
    ///         Ok(())
    ///     })
    ///     .await?;
    /// let echo = system
    ///     .spawn_fn("echo", |ctx: &mut Context<'_, _>| {
    ///         if let Some(text) = ctx.take_message::<Text>() {
    ///             ctx.respond(text);
    ///         }
    ///         Ok(())
    ///     })
    ///     .await?;
    /// // The echo answers the listener, not the caller.
    /// echo.tell_from(&listener, Text { error: "hi".into() }).await?;
    /// assert_eq!(replies.recv().await.as_deref(), Some("hi"));
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn tell_from<M: Message>(&self, sender: &Pid, message: M) -> Result<(), SendError> {
        self.send(Payload::new(message), Some(sender.clone())).await
    }

    /// Sends a message without ever waiting: a full bounded mailbox fails at once with
    /// [`SendError::MailboxFull`]. An undeliverable message goes to dead letters.
    pub fn try_tell<M: Message>(&self, message: M) -> Result<(), SendError> {
        self.try_deliver(Envelope {
            message: Payload::new(message),
            sender: None,
            reply: None,
            trace: crate::telemetry::Trace::current(),
        })
    }

    /// Sends a message of any type, as a transport delivers one it decoded from the wire.
    /// `sender`, when given, is the receiver's [`Context::sender`](crate::Context::sender).
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, AnyMessage, Context};
    /// use rakt_proto::v1::StatusFailure as Text;
    /// use tokio::sync::mpsc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("tell-any").build()?;
    /// let (heard, mut texts) = mpsc::unbounded_channel();
    /// let listener = system
    ///     .spawn_fn("listener", move |ctx: &mut Context<'_, _>| {
    ///         if let Some(text) = ctx.take_message::<Text>() {
    ///             let _ = heard.send(text.error);
    ///         }
    ///         Ok(())
    ///     })
    ///     .await?;
    /// let decoded: Box<dyn AnyMessage> = Box::new(Text { error: "from afar".into() });
    /// listener.tell_any(decoded, None).await?;
    /// assert_eq!(texts.recv().await.as_deref(), Some("from afar"));
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn tell_any(
        &self,
        message: Box<dyn AnyMessage>,
        sender: Option<&Pid>,
    ) -> Result<(), SendError> {
        self.send(Payload::from_box(message), sender.cloned()).await
    }

    /// Like [`tell_any`](Self::tell_any), with the handling span's parent set by `parent`
    /// (feature `spans`): how a transport links the handling of a message to the span that
    /// sent it on another node. See [`TraceParent`](crate::remote::TraceParent).
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, AnyMessage};
    /// use rakt_proto::v1::StatusFailure as Text;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("traced").build()?;
    /// let sink = system.spawn_fn("sink", |_ctx| Ok(())).await?;
    /// let decoded: Box<dyn AnyMessage> = Box::new(Text::default());
    /// sink.tell_any_traced(decoded, None, Box::new(|_span: &tracing::Span| {})).await?;
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "spans")]
    pub async fn tell_any_traced(
        &self,
        message: Box<dyn AnyMessage>,
        sender: Option<&Pid>,
        parent: crate::remote::TraceParent,
    ) -> Result<(), SendError> {
        self.send_traced(
            Payload::from_box(message),
            sender.cloned(),
            Trace::adopted(parent),
        )
        .await
    }

    pub(crate) async fn send(
        &self,
        message: Payload,
        sender: Option<Pid>,
    ) -> Result<(), SendError> {
        self.send_traced(message, sender, Trace::current()).await
    }

    async fn send_traced(
        &self,
        message: Payload,
        sender: Option<Pid>,
        trace: Trace,
    ) -> Result<(), SendError> {
        match self.target() {
            Target::Local(cell) => {
                let pushed = cell.lanes.try_push_user(Envelope {
                    message,
                    sender,
                    reply: None,
                    trace,
                });
                match pushed {
                    Ok(()) => Ok(()),
                    Err(err) => cell.refused(err).await,
                }
            }
            Target::Remote(remote) => remote
                .transport
                .send(self, Outbound::new(message, sender, None, trace)),
        }
    }

    /// Enqueues an envelope without waiting: a local actor's mailbox, or a remote actor's
    /// transport, which carries its asker along. What cannot be delivered is a dead letter.
    pub(crate) fn try_deliver(&self, envelope: Envelope) -> Result<(), SendError> {
        match self.target() {
            Target::Local(cell) => cell.try_deliver(envelope),
            Target::Remote(remote) => remote.transport.send(self, self.outbound(envelope)),
        }
    }

    /// Enqueues an envelope, waiting for space when a local mailbox makes senders wait.
    pub(crate) async fn deliver(&self, envelope: Envelope) -> Result<(), SendError> {
        match self.target() {
            Target::Local(cell) => cell.deliver(envelope).await,
            Target::Remote(remote) => remote.transport.send(self, self.outbound(envelope)),
        }
    }

    /// An envelope for a remote actor as its transport takes it; an asker's deadline stays in
    /// the asker's system.
    fn outbound(&self, envelope: Envelope) -> Outbound {
        let Envelope {
            message,
            sender,
            reply,
            trace,
        } = envelope;
        let reply = reply.map(|reply| RemoteReply::new(reply, self.clone()));
        Outbound::new(message, sender, reply, trace)
    }

    /// Sends several messages in order. Every message is attempted; the undeliverable ones go
    /// to dead letters and the first error is returned.
    pub async fn batch_tell<M: Message>(
        &self,
        messages: impl IntoIterator<Item = M>,
    ) -> Result<(), SendError> {
        let mut first_error = None;
        for message in messages {
            if let Err(err) = self.tell(message).await {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Asks the actor and waits for a reply of type `R`, within the system's ask timeout
    /// unless [`Ask::timeout`] says otherwise.
    ///
    /// A timed-out ask leaves nothing behind: a late reply becomes a dead letter, and a
    /// question still queued when its asker gave up is not handled.
    pub fn ask<R: Message, M: Message>(&self, message: M) -> Ask<'_, R> {
        Ask::new(self, Payload::new(message), None, decode_typed::<R>)
    }

    /// Like [`Pid::ask`], for a reply of any type.
    pub fn ask_any<M: Message>(&self, message: M) -> Ask<'_, Box<dyn AnyMessage>> {
        Ask::new(self, Payload::new(message), None, |reply| {
            Ok(reply.into_box())
        })
    }

    /// Asks with a message of any type, as a transport asks with one it decoded from the wire,
    /// for a reply of any type.
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, AnyMessage, Context};
    /// use rakt_proto::v1::StatusFailure as Text;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("ask-boxed").build()?;
    /// let echo = system
    ///     .spawn_fn("echo", |ctx: &mut Context<'_, _>| {
    ///         if let Some(text) = ctx.take_message::<Text>() {
    ///             ctx.respond(text);
    ///         }
    ///         Ok(())
    ///     })
    ///     .await?;
    /// let decoded: Box<dyn AnyMessage> = Box::new(Text { error: "ping".into() });
    /// let reply = echo.ask_boxed(decoded).await?;
    /// assert_eq!(reply.downcast_ref::<Text>().map(|t| t.error.as_str()), Some("ping"));
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn ask_boxed(&self, message: Box<dyn AnyMessage>) -> Ask<'_, Box<dyn AnyMessage>> {
        Ask::new(self, Payload::from_box(message), None, |reply| {
            Ok(reply.into_box())
        })
    }

    /// Asks several questions at once and waits for all replies, in order, within one timeout.
    pub async fn batch_ask<R: Message, M: Message>(
        &self,
        messages: impl IntoIterator<Item = M>,
        timeout: Duration,
    ) -> Vec<Result<R, AskError>> {
        let pending: Vec<_> = messages
            .into_iter()
            .map(|m| self.ask::<R, M>(m).timeout(timeout).into_future())
            .collect();
        futures_util::future::join_all(pending).await
    }

    /// Runs `future` on the runtime and tells its output to this actor; a failure arrives as
    /// a [`StatusFailure`](rakt_proto::v1::StatusFailure) message.
    pub fn pipe_to<M, E, F>(&self, future: F)
    where
        M: Message,
        E: fmt::Display,
        F: Future<Output = Result<M, E>> + Send + 'static,
    {
        let target = self.clone();
        // In the caller's span, so the result's handling keeps the caller's trace.
        self.system_shared()
            .runtime
            .spawn(crate::telemetry::in_current_span(async move {
                let message = match future.await {
                    Ok(message) => Payload::new(message),
                    Err(error) => Payload::new(rakt_proto::v1::StatusFailure {
                        error: error.to_string(),
                    }),
                };
                // Undeliverable results are already in dead letters.
                let _ = target.send(message, None).await;
            }));
    }

    /// Stops the actor gracefully: it handles what is already queued, stops its children,
    /// runs `post_stop`, and is gone when this returns. Messages sent meanwhile become dead
    /// letters. Waits at most the system's shutdown timeout.
    pub async fn stop(&self) -> Result<(), StopError> {
        match self.target() {
            Target::Local(cell) => self.signal_and_wait(cell, SystemMessage::Stop).await,
            Target::Remote(remote) => remote.transport.control(self, Control::Stop).await,
        }
    }

    /// Stops the actor after its current message: queued messages become dead letters.
    pub async fn kill(&self) -> Result<(), StopError> {
        match self.target() {
            Target::Local(cell) => self.signal_and_wait(cell, SystemMessage::Kill).await,
            Target::Remote(remote) => remote.transport.control(self, Control::Kill).await,
        }
    }

    /// Restarts the actor: `post_stop`, then `pre_start`, then a new `PostStart`. The mailbox,
    /// name and watchers are kept and the restart count grows.
    pub async fn restart(&self) -> Result<(), StopError> {
        let cell = match self.target() {
            Target::Local(cell) => cell,
            Target::Remote(remote) => {
                return remote.transport.control(self, Control::Restart).await;
            }
        };
        self.not_own_actor(cell)?;
        let (tx, rx) = oneshot::channel();
        if cell
            .lanes
            .push_system(SystemMessage::Restart(Some(tx)))
            .is_err()
            || cell.state() >= state::STOPPING
        {
            return Err(StopError::NotRunning {
                name: self.name().to_owned(),
            });
        }
        let timeout = cell.system.config.shutdown_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(error))) => Err(StopError::RestartFailed {
                name: self.name().to_owned(),
                error,
            }),
            Ok(Err(_)) => Err(StopError::NotRunning {
                name: self.name().to_owned(),
            }),
            Err(_) => Err(StopError::Timeout {
                name: self.name().to_owned(),
                timeout,
            }),
        }
    }

    /// An actor waiting for its own stop or restart would wait forever.
    fn not_own_actor(&self, cell: &Arc<ActorCell>) -> Result<(), StopError> {
        if crate::runner::is_current(cell) {
            return Err(StopError::OwnActor {
                name: self.name().to_owned(),
            });
        }
        Ok(())
    }

    async fn signal_and_wait(
        &self,
        cell: &Arc<ActorCell>,
        signal: SystemMessage,
    ) -> Result<(), StopError> {
        self.not_own_actor(cell)?;
        if cell.state() >= state::STOPPING || cell.lanes.push_system(signal).is_err() {
            return Err(StopError::NotRunning {
                name: self.name().to_owned(),
            });
        }
        let timeout = cell.system.config.shutdown_timeout;
        tokio::time::timeout(timeout, cell.wait_terminated())
            .await
            .map_err(|_| StopError::Timeout {
                name: self.name().to_owned(),
                timeout,
            })
    }

    /// Waits until the actor has stopped, without asking it to. An actor cannot wait for its
    /// own stop: that fails with [`StopError::OwnActor`]; a remote actor is waited for by
    /// watching it, and this fails with [`StopError::NotLocal`].
    pub async fn wait_stopped(&self) -> Result<(), StopError> {
        let Some(cell) = self.local() else {
            return Err(StopError::NotLocal {
                name: self.name().to_owned(),
            });
        };
        self.not_own_actor(cell)?;
        cell.wait_terminated().await;
        Ok(())
    }

    /// Makes this actor watch `target`: when `target` stops, this actor receives a
    /// [`Terminated`](rakt_proto::v1::Terminated) message whose sender is `target`. Watching
    /// an actor that has already stopped delivers `Terminated` at once. A remote `target` is
    /// watched through its transport, which also reports it terminated, with a reason, when
    /// its node becomes unreachable.
    pub fn watch(&self, target: &Pid) {
        match (self.target(), target.target()) {
            (Target::Local(cell), Target::Local(target_cell)) => {
                cell.add_watching(target);
                if !target_cell.add_watcher(self) {
                    // Already gone: tell the watcher now. If the watcher is gone too, nobody
                    // is left to tell.
                    let _ = cell
                        .lanes
                        .push_system(SystemMessage::Terminated(target.clone(), None));
                }
            }
            (Target::Local(cell), Target::Remote(remote)) => {
                cell.add_watching(target);
                remote.transport.watch(target, self);
            }
            (Target::Remote(remote), Target::Local(target_cell)) => {
                if !target_cell.add_watcher(self) {
                    remote.transport.terminated(self, target);
                }
            }
            (Target::Remote(_), Target::Remote(remote)) => remote.transport.watch(target, self),
        }
    }

    /// Stops watching `target`; no `Terminated` for it arrives after this returns.
    pub fn unwatch(&self, target: &Pid) {
        if let Some(cell) = self.local() {
            cell.remove_watching(target);
        }
        match target.target() {
            Target::Local(target_cell) => target_cell.remove_watcher(self),
            Target::Remote(remote) => remote.transport.unwatch(target, self),
        }
    }

    /// Tells this actor, a local watcher, that `target` has terminated, as a transport does
    /// for a remote `target` whose node reported its stop or became unreachable; `reason`
    /// says why when it is not an ordinary stop. The actor receives
    /// [`Terminated`](rakt_proto::v1::Terminated) only if it watches `target`; false when it
    /// is remote or has stopped.
    pub fn notify_terminated(&self, target: &Pid, reason: Option<String>) -> bool {
        self.local().is_some_and(|cell| {
            cell.lanes
                .push_system(SystemMessage::Terminated(target.clone(), reason))
                .is_ok()
        })
    }

    /// Tells `watcher` that this actor, a local one, has stopped: a system message to a
    /// local watcher, a notice through the transport to a remote one.
    pub(crate) fn tell_terminated_to(&self, watcher: &Pid) {
        match watcher.target() {
            // A watcher that has stopped has nobody left to tell.
            Target::Local(cell) => {
                let _ = cell
                    .lanes
                    .push_system(SystemMessage::Terminated(self.clone(), None));
            }
            Target::Remote(remote) => remote.transport.terminated(watcher, self),
        }
    }

    /// Stops `watcher` watching this actor, after `watcher` stopped.
    pub(crate) fn drop_watcher(&self, watcher: &Pid) {
        match self.target() {
            Target::Local(cell) => cell.remove_watcher(watcher),
            Target::Remote(remote) => remote.transport.unwatch(self, watcher),
        }
    }
}

pub(crate) fn decode_typed<R: Message>(reply: Payload) -> Result<R, AskError> {
    reply
        .take::<R>()
        .map_err(|other| AskError::UnexpectedReply {
            expected: R::full_name(),
            actual: other.as_dyn().full_name(),
        })
}

impl PartialEq for Pid {
    fn eq(&self, other: &Self) -> bool {
        match (self.target(), other.target()) {
            (Target::Local(a), Target::Local(b)) => {
                Arc::ptr_eq(a, b)
                    || (a.id == b.id && a.name == b.name && a.system.name == b.system.name)
            }
            (Target::Remote(a), Target::Remote(b)) => a.id == b.id && a.address == b.address,
            _ => false,
        }
    }
}

impl Eq for Pid {}

impl Hash for Pid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pid")
            .field("name", &self.name())
            .field("id", &self.id())
            .field("remote", &self.is_remote())
            .finish()
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.address(), f)
    }
}

/// A snapshot of an actor's counters.
///
/// ```
/// use rakt_actor::ActorMetrics;
///
/// let idle = ActorMetrics::default();
/// assert_eq!(idle.processed, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActorMetrics {
    /// Messages handled, including `PostStart` and `Terminated`.
    pub processed: u64,
    /// Handler failures: errors, signalled errors and panics.
    pub failures: u64,
    /// Restarts so far.
    pub restarts: u32,
    /// Times the actor came back from a suspension by [`Pid::reinstate`] or its parent's
    /// decision.
    pub reinstates: u32,
    /// Messages addressed to this actor that became dead letters.
    pub dead_letters: u64,
    /// Messages waiting in the user lane.
    pub mailbox_len: usize,
    /// How long the last message took to handle.
    pub last_processing_latency: Duration,
    /// Time since spawn.
    pub uptime: Duration,
    /// Time since the actor last handled a message, or since spawn when it has handled none;
    /// zero until the latency clock is calibrated, in the first moments of the process.
    pub idle: Duration,
    /// Running children.
    pub children: usize,
    /// Messages in the stash.
    pub stash_len: usize,
}

type Decode<R> = fn(Payload) -> Result<R, AskError>;

/// A pending ask, built by [`Pid::ask`] or [`Context::ask`](crate::Context::ask); `.await` it.
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::{ActorSystem, AskError};
/// use rakt_proto::v1::PostStart;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("asks").build()?;
/// // This actor never responds.
/// let silent = system.spawn_fn("silent", |_ctx| Ok(())).await?;
/// let outcome = silent.ask::<PostStart, _>(PostStart {}).timeout(Duration::from_millis(20)).await;
/// assert!(matches!(outcome, Err(AskError::NoReply { .. })));
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "an ask does nothing until awaited"]
pub struct Ask<'a, R> {
    target: &'a Pid,
    message: Payload,
    sender: Option<Pid>,
    timeout: Duration,
    decode: Decode<R>,
    #[cfg(feature = "spans")]
    parent: Option<crate::remote::TraceParent>,
}

impl<'a, R> Ask<'a, R> {
    pub(crate) fn new(
        target: &'a Pid,
        message: Payload,
        sender: Option<Pid>,
        decode: Decode<R>,
    ) -> Self {
        let timeout = target.system_shared().config.ask_timeout;
        Self {
            target,
            message,
            sender,
            timeout,
            decode,
            #[cfg(feature = "spans")]
            parent: None,
        }
    }

    /// Handles the question in a span whose parent `parent` sets (feature `spans`), instead
    /// of the span current at the ask: how a transport links the handling to the span that
    /// asked on another node. See [`TraceParent`](crate::remote::TraceParent).
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, AnyMessage, Context};
    /// use rakt_proto::v1::StatusFailure as Text;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("traced").build()?;
    /// let echo = system
    ///     .spawn_fn("echo", |ctx: &mut Context<'_, _>| {
    ///         if let Some(text) = ctx.take_message::<Text>() {
    ///             ctx.respond(text);
    ///         }
    ///         Ok(())
    ///     })
    ///     .await?;
    /// let question: Box<dyn AnyMessage> = Box::new(Text::default());
    /// let reply = echo
    ///     .ask_boxed(question)
    ///     .trace_parent(Box::new(|_span: &tracing::Span| {}))
    ///     .await?;
    /// assert!(reply.downcast_ref::<Text>().is_some());
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "spans")]
    pub fn trace_parent(mut self, parent: crate::remote::TraceParent) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Asks on behalf of `sender`: the receiver's [`Context::sender`](crate::Context::sender)
    /// is `sender`, while the reply still comes back to this ask. For code that acts for an
    /// actor outside its handler, such as a test probe.
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, Context};
    /// use rakt_proto::v1::StatusFailure as Text;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("ask-sender").build()?;
    /// let teller = system
    ///     .spawn_fn("who", |ctx: &mut Context<'_, _>| {
    ///         let name = ctx.sender().map(|s| s.name().to_owned()).unwrap_or_default();
    ///         ctx.respond(Text { error: name });
    ///         Ok(())
    ///     })
    ///     .await?;
    /// let probe = system.spawn_fn("probe", |_ctx| Ok(())).await?;
    /// let reply: Text = teller.ask(Text::default()).sender(&probe).await?;
    /// assert_eq!(reply.error, "probe");
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn sender(mut self, sender: &Pid) -> Self {
        self.sender = Some(sender.clone());
        self
    }

    /// How long to wait for the reply; zero is rejected with [`AskError::ZeroTimeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<'a, R: Send + 'a> IntoFuture for Ask<'a, R> {
    type Output = Result<R, AskError>;
    type IntoFuture = AskFuture<'a, R>;

    fn into_future(self) -> Self::IntoFuture {
        AskFuture {
            state: AskState::Start(self),
        }
    }
}

/// The future of an [`Ask`], made by `.await` (or [`IntoFuture::into_future`]): it queues
/// the question when first polled and resolves to the typed reply.
///
/// It is a named type rather than a boxed `async` block, so an ask allocates no future;
/// dropping it before the reply abandons the ask, and the question is not handled if it is
/// still queued.
///
/// ```
/// use std::future::IntoFuture;
/// use rakt_actor::{ActorSystem, AskFuture, Context};
/// use rakt_proto::v1::StatusFailure;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("named").build()?;
/// let echo = system
///     .spawn_fn("echo", |ctx: &mut Context<'_, _>| {
///         if let Some(question) = ctx.take_message::<StatusFailure>() {
///             ctx.respond(question);
///         }
///         Ok(())
///     })
///     .await?;
/// let pending: AskFuture<'_, StatusFailure> =
///     echo.ask(StatusFailure { error: "ping".into() }).into_future();
/// assert_eq!(pending.await?.error, "ping");
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "an ask does nothing until awaited"]
pub struct AskFuture<'a, R> {
    state: AskState<'a, R>,
}

/// Where an [`AskFuture`] is.
enum AskState<'a, R> {
    /// Not polled yet.
    Start(Ask<'a, R>),
    /// The target's mailbox is full and makes senders wait: the question waits for space.
    /// Boxed, as that wait is rare.
    Sending {
        send: Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>,
        question: Question<'a, R>,
    },
    /// The question is queued; waiting for the reply.
    Waiting(Question<'a, R>),
    /// The output was returned.
    Done,
}

/// A queued question, from the asker's side.
struct Question<'a, R> {
    wait: AskWait,
    target: &'a Pid,
    timeout: Duration,
    decode: Decode<R>,
}

impl<R> Question<'_, R> {
    fn poll_reply(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<R, AskError>> {
        let outcome = match Pin::new(&mut self.wait).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(outcome) => outcome,
        };
        Poll::Ready(match outcome {
            Outcome::Replied(Ok(reply)) => (self.decode)(reply),
            Outcome::Replied(Err(error)) => Err(error),
            Outcome::NoReply => Err(AskError::NoReply {
                name: self.target.name().to_owned(),
            }),
            Outcome::TimedOut => Err(AskError::Timeout {
                name: self.target.name().to_owned(),
                timeout: self.timeout,
            }),
        })
    }
}

impl<'a, R> AskFuture<'a, R> {
    /// Checks the ask, registers its deadline and queues the question.
    fn start(ask: Ask<'a, R>) -> Result<AskState<'a, R>, AskError> {
        let Ask {
            target,
            message,
            sender,
            timeout,
            decode,
            #[cfg(feature = "spans")]
            parent,
        } = ask;
        if timeout.is_zero() {
            return Err(AskError::ZeroTimeout);
        }
        #[cfg(feature = "spans")]
        let trace = match parent {
            Some(parent) => Trace::adopted(parent),
            None => Trace::current(),
        };
        #[cfg(not(feature = "spans"))]
        let trace = Trace::current();
        // From its own handler, through `Context::ask` or straight through a `Pid`, an actor
        // asking itself would wait for a reply it cannot give until the timeout. Outside its
        // handler nothing waits on it: naming an actor as the sender of an ask to itself,
        // with `Ask::sender`, is no cycle.
        let cell = match target.target() {
            Target::Local(cell) => cell,
            Target::Remote(remote) => {
                let (reply_to, wait) = remote.system.asks.start(timeout);
                let reply = RemoteReply::new(reply_to, target.clone());
                let outbound = Outbound::new(message, sender, Some(reply), trace);
                remote.transport.send(target, outbound)?;
                return Ok(AskState::Waiting(Question {
                    wait,
                    target,
                    timeout,
                    decode,
                }));
            }
        };
        if crate::runner::is_current(cell) {
            return Err(AskError::SelfAsk {
                name: target.name().to_owned(),
            });
        }
        let (reply_to, wait) = cell.system.asks.start(timeout);
        let question = Question {
            wait,
            target,
            timeout,
            decode,
        };
        let pushed = cell.lanes.try_push_user(Envelope {
            message,
            sender,
            reply: Some(reply_to),
            trace,
        });
        Ok(match pushed {
            Ok(()) => AskState::Waiting(question),
            Err(err) => AskState::Sending {
                send: Box::pin(cell.refused(err)),
                question,
            },
        })
    }
}

impl<R> Future for AskFuture<'_, R> {
    type Output = Result<R, AskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            // Each arm puts back the state it leaves the future in; `Done` stays otherwise.
            match mem::replace(&mut this.state, AskState::Done) {
                AskState::Waiting(mut question) => {
                    let poll = question.poll_reply(cx);
                    if poll.is_pending() {
                        this.state = AskState::Waiting(question);
                    }
                    return poll;
                }
                AskState::Sending { mut send, question } => match send.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = AskState::Sending { send, question };
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(())) => this.state = AskState::Waiting(question),
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error.into())),
                },
                AskState::Start(ask) => match Self::start(ask) {
                    Ok(state) => this.state = state,
                    Err(error) => return Poll::Ready(Err(error)),
                },
                AskState::Done => panic!("`AskFuture` polled after it completed"),
            }
        }
    }
}

impl<R> fmt::Debug for AskFuture<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            AskState::Start(_) => "start",
            AskState::Sending { .. } => "sending",
            AskState::Waiting(_) => "waiting",
            AskState::Done => "done",
        };
        f.debug_struct("AskFuture").field("state", &state).finish()
    }
}

impl<R> fmt::Debug for Ask<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ask")
            .field("target", self.target)
            .field("message", &self.message)
            .field("timeout", &self.timeout)
            .finish()
    }
}

//! What a handler sees: the message, its sender, and the actor's own powers.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::actor::Actor;
use crate::behavior::{Behavior, Extras};
use crate::cell::{ActorCell, Envelope, ReplyTo, SystemMessage};
use crate::error::{ActorError, AskError, SendError, SpawnError, StashError};
use crate::event::DeadLetterReason;
use crate::message::{AnyMessage, Message};
use crate::payload::Payload;
use crate::pid::{Ask, Pid};
use crate::system::{ActorSystem, Incarnation, SpawnOptions, spawn_actor};

/// The context of one message being handled by an actor of type `A`.
///
/// ```
/// use rakt_actor::{Actor, ActorError, Context};
/// use rakt_proto::v1::{PostStart, Terminated};
///
/// struct Greeter;
///
/// impl Actor for Greeter {
///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
///         if ctx.is::<PostStart>() {
///             tracing::info!(name = ctx.pid().name(), "started");
///         } else if let Some(gone) = ctx.message::<Terminated>() {
///             tracing::info!(address = %gone.address, "watched actor stopped");
///         } else {
///             ctx.unhandled();
///         }
///         Ok(())
///     }
/// }
/// # let _ = Greeter;
/// ```
pub struct Context<'a, A> {
    cell: &'a Arc<ActorCell>,
    pid: &'a Pid,
    message: Option<Payload>,
    sender: Option<Pid>,
    reply: Option<ReplyTo>,
    failure: Option<ActorError>,
    /// The behavior stack and the stash, once the actor uses either.
    extras: Option<Box<Extras<A>>>,
    _actor: PhantomData<fn(&mut A)>,
}

impl<'a, A: Actor> Context<'a, A> {
    /// A context with no message yet: the actor's loop keeps one for its whole life and
    /// [loads](Self::load) each message into it, so that handling a message builds nothing.
    pub(crate) fn new(cell: &'a Arc<ActorCell>, pid: &'a Pid) -> Self {
        Self {
            cell,
            pid,
            message: None,
            sender: None,
            reply: None,
            failure: None,
            extras: None,
            _actor: PhantomData,
        }
    }

    /// The actor's cell.
    pub(crate) fn cell(&self) -> &'a Arc<ActorCell> {
        self.cell
    }

    /// Makes `envelope` the message to handle. Returns `false`, and dead-letters it, when it
    /// is an ask whose asker stopped waiting: handling it would answer nobody.
    #[inline]
    pub(crate) fn load(&mut self, envelope: Envelope) -> bool {
        let Envelope {
            message,
            sender,
            reply,
            trace,
        } = envelope;
        if reply.as_ref().is_some_and(ReplyTo::is_closed) {
            self.cell.dead_letter(
                Envelope {
                    message,
                    sender,
                    reply: None,
                    trace,
                },
                DeadLetterReason::AskerGone,
            );
            return false;
        }
        self.message = Some(message);
        self.sender = sender;
        self.reply = reply;
        true
    }

    /// Ends the handling of the loaded message, whose handler ended with `outcome` (a panic
    /// already turned into an error): reports a failure to a waiting asker, drops what is left
    /// of the message, and returns the failure (returned, panicked or signalled with
    /// [`Context::err`]), if any.
    #[inline]
    pub(crate) fn conclude(&mut self, outcome: Result<(), ActorError>) -> Option<ActorError> {
        let failure = match outcome {
            Ok(()) => self.failure.take(),
            Err(error) => Some(error),
        };
        self.message = None;
        self.sender = None;
        self.failure = None;
        if let Some(reply) = self.reply.take() {
            if let Some(failure) = &failure {
                // The asker may be gone; then nobody is waiting to hear about the failure.
                let _ = reply.send(Err(AskError::HandlerFailed {
                    name: self.cell.name.to_string(),
                    error: failure.to_string(),
                }));
            }
            // An ask left without a response is dropped here, and its asker gets `NoReply`.
        }
        failure
    }

    /// This actor's own `Pid`.
    pub fn pid(&self) -> &Pid {
        self.pid
    }

    /// The actor system this actor runs in.
    pub fn system(&self) -> ActorSystem {
        ActorSystem::from_shared(self.cell.system.clone())
    }

    /// The system's extension of type `T`, registered with
    /// [`ActorSystemBuilder::extension`](crate::ActorSystemBuilder::extension), if any.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use rakt_actor::{Actor, ActorError, Context};
    ///
    /// /// Shared by every actor of the system.
    /// #[derive(Default)]
    /// struct Counters {
    ///     seen: AtomicU64,
    /// }
    ///
    /// struct Counted;
    ///
    /// impl Actor for Counted {
    ///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
    ///         if let Some(counters) = ctx.extension::<Counters>() {
    ///             counters.seen.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Counted;
    /// ```
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&'a T> {
        self.cell.system.extensions.get::<T>()
    }

    /// The actor's dependency of type `T`, given at spawn with
    /// [`SpawnOptions::dependency`](crate::SpawnOptions::dependency); see
    /// [`Dependency`](crate::Dependency).
    pub fn dependency<T: crate::Dependency>(&self) -> Option<std::sync::Arc<T>> {
        self.cell.dependency::<T>()
    }

    /// The message as a `T`, when it is one.
    pub fn message<T: Message>(&self) -> Option<&T> {
        self.message.as_ref().and_then(|m| m.downcast_ref::<T>())
    }

    /// The message, whatever its type; `None` once taken or forwarded.
    pub fn message_any(&self) -> Option<&dyn AnyMessage> {
        self.message.as_ref().map(Payload::as_dyn)
    }

    /// Whether the message is a `T`.
    pub fn is<T: Message>(&self) -> bool {
        self.message.as_ref().is_some_and(|m| m.is::<T>())
    }

    /// Takes the message by value when it is a `T`; local messages were never encoded, so
    /// this is a move.
    pub fn take_message<T: Message>(&mut self) -> Option<T> {
        match self.message.take()?.take::<T>() {
            Ok(message) => Some(message),
            Err(other) => {
                self.message = Some(other);
                None
            }
        }
    }

    /// Who sent the message, when it was sent by an actor.
    pub fn sender(&self) -> Option<&Pid> {
        self.sender.as_ref()
    }

    /// Replies to the message: to the asker when it is an ask, else to the sender. A reply
    /// with nowhere to go becomes a dead letter.
    pub fn respond<M: Message>(&mut self, message: M) {
        crate::letter::answer(
            self.pid,
            self.reply.take(),
            self.sender.as_ref(),
            Payload::new(message),
        );
    }

    /// Takes the message out with its sender and its asker, as a [`Letter`](crate::Letter)
    /// to answer or forward later, from outside this handler. `None` when the message was
    /// already taken or forwarded. [`sender`](Self::sender) still answers afterwards.
    ///
    /// ```
    /// use rakt_actor::{Actor, ActorError, Context, Letter};
    /// use rakt_proto::v1::PostStart;
    /// use tokio::sync::mpsc::UnboundedSender;
    ///
    /// /// Passes every message to the test, or to a worker task, that owns the receiver.
    /// struct Inbox {
    ///     letters: UnboundedSender<Letter>,
    /// }
    ///
    /// impl Actor for Inbox {
    ///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
    ///         if !ctx.is::<PostStart>() {
    ///             if let Some(letter) = ctx.take_letter() {
    ///                 // A closed receiver drops the letter; its asker gets `NoReply`.
    ///                 let _ = self.letters.send(letter);
    ///             }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Inbox { letters: tokio::sync::mpsc::unbounded_channel().0 };
    /// ```
    pub fn take_letter(&mut self) -> Option<crate::Letter> {
        let message = self.message.take()?;
        Some(crate::Letter::new(
            message,
            self.sender.clone(),
            self.reply.take(),
            self.pid.clone(),
        ))
    }

    /// Sends a message with this actor as sender.
    pub async fn tell<M: Message>(&self, to: &Pid, message: M) -> Result<(), SendError> {
        to.send(Payload::new(message), Some(self.pid.clone())).await
    }

    /// Sends a message with this actor as sender, without waiting for mailbox space.
    pub fn try_tell<M: Message>(&self, to: &Pid, message: M) -> Result<(), SendError> {
        to.try_deliver(Envelope {
            message: Payload::new(message),
            sender: Some(self.pid.clone()),
            reply: None,
            trace: crate::telemetry::Trace::current(),
        })
    }

    /// Asks another actor with this actor as sender. Awaiting the reply does not block other
    /// actors; this actor's own mailbox waits. Asking itself fails with
    /// [`AskError::SelfAsk`](crate::AskError::SelfAsk) instead of timing out.
    pub fn ask<'t, R: Message, M: Message>(&self, to: &'t Pid, message: M) -> Ask<'t, R> {
        Ask::new(
            to,
            Payload::new(message),
            Some(self.pid.clone()),
            crate::pid::decode_typed::<R>,
        )
    }

    /// Asks `to` without waiting: `continuation` runs later in this actor's own task, with
    /// the reply, an error or a timeout, while the actor handles its other messages as its
    /// [`ReentrancyMode`](crate::ReentrancyMode) says (GoAkt's `Request`). The actor needs a
    /// reentrancy mode other than `Off`, from
    /// [`SpawnOptions::reentrancy`](crate::SpawnOptions::reentrancy).
    ///
    /// A continuation never runs beside a handler: it is a message of its own. Two actors
    /// that request from each other do not deadlock, as two that ask each other would.
    ///
    /// ```
    /// use rakt_actor::{
    ///     Actor, ActorError, ActorSystem, Context, Reentrancy, ReentrancyMode, SpawnOptions,
    /// };
    /// use rakt_proto::v1::{PostStart, StatusFailure as Text};
    ///
    /// /// Asks the upper-caser for a word, and passes the answer to its own asker.
    /// struct Coordinator {
    ///     upper: rakt_actor::Pid,
    /// }
    ///
    /// impl Actor for Coordinator {
    ///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
    ///         if let Some(word) = ctx.take_message::<Text>() {
    ///             let asker = ctx.defer_reply();
    ///             let upper = self.upper.clone();
    ///             ctx.request::<Text, _>(&upper, word).then(move |_me, _ctx, reply| {
    ///                 if let Some(asker) = asker {
    ///                     match reply {
    ///                         Ok(text) => asker.respond(text),
    ///                         Err(error) => asker.fail(error),
    ///                     }
    ///                 }
    ///                 Ok(())
    ///             })?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("requests").build()?;
    /// let upper = system
    ///     .spawn_fn("upper", |ctx: &mut Context<'_, _>| {
    ///         if let Some(text) = ctx.take_message::<Text>() {
    ///             ctx.respond(Text { error: text.error.to_uppercase() });
    ///         }
    ///         Ok(())
    ///     })
    ///     .await?;
    /// let reentrant = SpawnOptions::new().reentrancy(Reentrancy::new(ReentrancyMode::AllowAll));
    /// let coordinator = system.spawn_with("coordinator", Coordinator { upper }, reentrant).await?;
    /// let reply: Text = coordinator.ask(Text { error: "hello".into() }).await?;
    /// assert_eq!(reply.error, "HELLO");
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn request<'c, R: Message, M: Message>(
        &'c mut self,
        to: &'c Pid,
        message: M,
    ) -> crate::reentrancy::Request<'c, 'a, A, R> {
        crate::reentrancy::Request::new(self, to, Payload::new(message))
    }

    /// Takes the asker's side of the current message, to answer it later, from a
    /// continuation or another task; see [`Responder`](crate::Responder). `None` when the
    /// message is not an ask, or its reply was already given or taken. The handler's own
    /// [`respond`](Self::respond) then goes to the sender instead.
    pub fn defer_reply(&mut self) -> Option<crate::reentrancy::Responder> {
        let reply = self.reply.take()?;
        Some(crate::reentrancy::Responder::new(reply, self.pid.clone()))
    }

    /// Takes the current message out, leaving the sender and the asker in place.
    pub(crate) fn take_payload(&mut self) -> Option<Payload> {
        self.message.take()
    }

    /// Whether the current message is an ask still waiting for its reply.
    pub(crate) fn is_ask(&self) -> bool {
        self.reply.is_some()
    }

    /// The actor's requests, when its reentrancy is on.
    pub(crate) fn requests(&mut self) -> Option<&mut crate::reentrancy::Requests<A>> {
        self.extras.as_mut()?.requests.as_mut()
    }

    /// Turns requests on, for an actor spawned with a reentrancy mode.
    pub(crate) fn enable_requests(&mut self, config: crate::Reentrancy) {
        self.extras().requests = Some(crate::reentrancy::Requests::new(config));
    }

    /// The continuation of request `id`, now complete; `None` when the request was
    /// cancelled.
    pub(crate) fn complete_request(
        &mut self,
        id: u64,
    ) -> Option<crate::reentrancy::Continuation<A>> {
        self.requests()?.complete(id)
    }

    /// Cancels the requests in flight of a stopping actor, and turns requests off: a handler
    /// run by the stop's drain cannot make new ones.
    pub(crate) fn end_requests(&mut self) {
        if let Some(extras) = self.extras.as_mut() {
            if let Some(mut requests) = extras.requests.take() {
                requests.abandon();
            }
        }
        self.shrink_extras();
    }

    /// Whether the actor keeps behaviors, a stash or requests: if not, none of them changes
    /// which message comes next.
    #[inline]
    pub(crate) fn has_extras(&self) -> bool {
        self.extras.is_some()
    }

    /// Whether user messages wait for a `StashNonReentrant` request.
    #[inline]
    pub(crate) fn is_holding(&self) -> bool {
        self.extras
            .as_ref()
            .and_then(|extras| extras.requests.as_ref())
            .is_some_and(crate::reentrancy::Requests::is_holding)
    }

    /// Whether the actor waits on requests, or has messages given back to handle first: not
    /// idle, whatever its mailbox says.
    pub(crate) fn is_busy(&self) -> bool {
        self.extras.as_ref().is_some_and(|extras| {
            !extras.unstashed.is_empty()
                || extras
                    .requests
                    .as_ref()
                    .is_some_and(crate::reentrancy::Requests::in_flight)
        })
    }

    /// Sends the current message on to `to`, keeping its original sender, and its asker
    /// when it is an ask, so the reply goes straight back. Does nothing when the message was
    /// already taken or forwarded.
    pub async fn forward(&mut self, to: &Pid) -> Result<(), SendError> {
        let Some(message) = self.message.take() else {
            return Ok(());
        };
        to.deliver(Envelope {
            message,
            sender: self.sender.clone(),
            reply: self.reply.take(),
            trace: crate::telemetry::Trace::current(),
        })
        .await
    }

    /// Spawns a child of this actor. Children stop before their parent.
    pub async fn spawn_child<C: Actor>(&self, name: &str, actor: C) -> Result<Pid, SpawnError> {
        self.spawn_child_with(name, actor, SpawnOptions::default())
            .await
    }

    /// Spawns a child of this actor with options.
    pub async fn spawn_child_with<C: Actor>(
        &self,
        name: &str,
        actor: C,
        options: SpawnOptions,
    ) -> Result<Pid, SpawnError> {
        let first = Incarnation::Value(actor);
        spawn_actor(&self.cell.system, Some(self.pid), name, first, options).await
    }

    /// Spawns a child whose state comes from `factory`, now and at every restart; see
    /// [`ActorSystem::spawn_factory`].
    ///
    /// ```
    /// use rakt_actor::{Actor, ActorError, Context, FnActor, SpawnOptions};
    /// use rakt_proto::v1::PostStart;
    ///
    /// struct Parent;
    ///
    /// impl Actor for Parent {
    ///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
    ///         if ctx.is::<PostStart>() {
    ///             let worker = || FnActor::new(|_ctx| Ok(()));
    ///             ctx.spawn_child_factory("worker", worker, SpawnOptions::new()).await?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Parent;
    /// ```
    pub async fn spawn_child_factory<C: Actor>(
        &self,
        name: &str,
        factory: impl Fn() -> C + Send + Sync + 'static,
        options: SpawnOptions,
    ) -> Result<Pid, SpawnError> {
        let first = Incarnation::Factory(std::sync::Arc::new(factory));
        spawn_actor(&self.cell.system, Some(self.pid), name, first, options).await
    }

    /// Spawns a [`Router`](crate::Router) as a child of this actor; see
    /// [`ActorSystem::spawn_router`].
    ///
    /// ```
    /// use rakt_actor::{Actor, ActorError, Context, FnActor, Router, Routing};
    /// use rakt_proto::v1::PostStart;
    ///
    /// struct Supervisor;
    ///
    /// impl Actor for Supervisor {
    ///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
    ///         if ctx.is::<PostStart>() {
    ///             let workers = Router::pool(4, || FnActor::new(|_ctx| Ok(())))
    ///                 .routing(Routing::Random);
    ///             ctx.spawn_router("workers", workers).await?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Supervisor;
    /// ```
    pub async fn spawn_router(&self, name: &str, router: crate::Router) -> Result<Pid, SpawnError> {
        let (first, options) = crate::router::incarnation(router)?;
        spawn_actor(&self.cell.system, Some(self.pid), name, first, options).await
    }

    /// The running children.
    pub fn children(&self) -> Vec<Pid> {
        self.cell.children()
    }

    /// Watches `target`: a [`Terminated`](rakt_proto::v1::Terminated) arrives when it stops.
    pub fn watch(&self, target: &Pid) {
        self.pid.watch(target);
    }

    /// Stops watching `target`.
    pub fn unwatch(&self, target: &Pid) {
        self.pid.unwatch(target);
    }

    /// Stops this actor gracefully once the current message is handled.
    pub fn stop_self(&self) {
        // Only fails when the actor is already stopping, which is what was asked for.
        let _ = self.cell.lanes.push_system(SystemMessage::Stop);
    }

    /// Signals a failure without returning an error, as GoAkt's `ctx.Err`. The actor fails
    /// once the handler returns.
    pub fn err(&mut self, error: impl Into<ActorError>) {
        self.failure = Some(error.into());
    }

    /// Makes `behavior` handle messages instead of [`Actor::receive`], from the next message
    /// on, replacing the whole behavior stack (GoAkt's `Become`).
    ///
    /// A restart goes back to `receive`. See [`Behavior`] for an example.
    #[doc(alias = "become")]
    pub fn set_behavior(&mut self, behavior: Behavior<A>) {
        let extras = self.extras();
        extras.behaviors.clear();
        extras.behaviors.push(behavior);
    }

    /// Pushes `behavior` on the behavior stack: it handles messages from the next one on,
    /// until [`pop_behavior`](Self::pop_behavior) goes back to the one below (GoAkt's
    /// `BecomeStacked`).
    ///
    /// ```
    /// use rakt_actor::{Actor, ActorError, Context, HandlerFuture};
    /// use rakt_proto::v1::StatusFailure;
    ///
    /// struct Menu;
    ///
    /// // A sub-menu: "back" returns to whatever was below it.
    /// fn settings<'a>(_: &'a mut Menu, ctx: &'a mut Context<'_, Menu>) -> HandlerFuture<'a> {
    ///     Box::pin(async move {
    ///         if ctx.message::<StatusFailure>().is_some_and(|m| m.error == "back") {
    ///             ctx.pop_behavior();
    ///         }
    ///         Ok(())
    ///     })
    /// }
    ///
    /// impl Actor for Menu {
    ///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
    ///         if ctx.message::<StatusFailure>().is_some_and(|m| m.error == "settings") {
    ///             ctx.push_behavior(settings);
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Menu;
    /// ```
    #[doc(alias = "become_stacked")]
    pub fn push_behavior(&mut self, behavior: Behavior<A>) {
        self.extras().behaviors.push(behavior);
    }

    /// Pops the top of the behavior stack, going back to the behavior below it, or to
    /// [`Actor::receive`] once the stack is empty (GoAkt's `UnBecomeStacked`). Returns
    /// whether there was one to pop.
    #[doc(alias = "unbecome_stacked")]
    pub fn pop_behavior(&mut self) -> bool {
        let popped = self
            .extras
            .as_mut()
            .is_some_and(|extras| extras.behaviors.pop().is_some());
        self.shrink_extras();
        popped
    }

    /// Goes back to [`Actor::receive`], emptying the behavior stack (GoAkt's `UnBecome`).
    #[doc(alias = "unbecome")]
    pub fn reset_behavior(&mut self) {
        if let Some(extras) = self.extras.as_mut() {
            extras.behaviors.clear();
        }
        self.shrink_extras();
    }

    /// Sets the current message aside, with its sender and asker, until
    /// [`unstash`](Self::unstash) or [`unstash_all`](Self::unstash_all) gives it back.
    /// Given-back messages are handled before the mailbox's user messages, oldest first.
    /// An asker keeps waiting meanwhile, within its own timeout.
    ///
    /// The actor needs a stash, from
    /// [`SpawnOptions::stash_capacity`](crate::SpawnOptions::stash_capacity).
    ///
    /// # Errors
    ///
    /// [`StashError::Disabled`] without a stash and [`StashError::NoMessage`] when the
    /// message was already taken; the message, if any, stays. [`StashError::Full`] when the
    /// stash is full: then the message becomes a dead letter.
    ///
    /// ```
    /// use rakt_actor::{Actor, ActorError, Context};
    /// use rakt_proto::v1::{PostStart, StatusFailure};
    ///
    /// /// Holds every message until it hears "open".
    /// struct Gate {
    ///     open: bool,
    /// }
    ///
    /// impl Actor for Gate {
    ///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
    ///         if ctx.is::<PostStart>() {
    ///             return Ok(());
    ///         }
    ///         if ctx.message::<StatusFailure>().is_some_and(|m| m.error == "open") {
    ///             self.open = true;
    ///             ctx.unstash_all();
    ///         } else if !self.open {
    ///             ctx.stash()?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Gate { open: false };
    /// ```
    pub fn stash(&mut self) -> Result<(), StashError> {
        let capacity = self.cell.stash_capacity;
        if capacity == 0 {
            return Err(StashError::Disabled);
        }
        let Some(message) = self.message.take() else {
            return Err(StashError::NoMessage);
        };
        let envelope = Envelope {
            message,
            sender: self.sender.take(),
            reply: self.reply.take(),
            trace: crate::telemetry::Trace::current(),
        };
        let extras = self.extras();
        if extras.stash.len() >= capacity as usize {
            self.cell.dead_letter(envelope, DeadLetterReason::StashFull);
            return Err(StashError::Full {
                capacity: capacity as usize,
            });
        }
        extras.stash.push_back(envelope);
        let len = extras.stash.len();
        self.record_stash_len(len);
        Ok(())
    }

    /// Gives the oldest stashed message back: it is handled before the mailbox's user
    /// messages. Returns whether there was one.
    pub fn unstash(&mut self) -> bool {
        let Some(extras) = self.extras.as_mut() else {
            return false;
        };
        let Some(envelope) = extras.stash.pop_front() else {
            return false;
        };
        extras.unstashed.push_back(envelope);
        let len = extras.stash.len();
        self.record_stash_len(len);
        true
    }

    /// Gives every stashed message back, in the order they were stashed; they are handled
    /// before the mailbox's user messages. Returns how many there were.
    pub fn unstash_all(&mut self) -> usize {
        let Some(extras) = self.extras.as_mut() else {
            return 0;
        };
        let count = extras.stash.len();
        let stashed = std::mem::take(&mut extras.stash);
        extras.unstashed.extend(stashed);
        self.record_stash_len(0);
        count
    }

    /// How many messages are in the stash.
    pub fn stash_len(&self) -> usize {
        self.extras.as_ref().map_or(0, |extras| extras.stash.len())
    }

    /// The behavior that handles the next message, if not `receive`.
    #[inline]
    pub(crate) fn behavior(&self) -> Option<Behavior<A>> {
        self.extras
            .as_ref()
            .and_then(|extras| extras.behaviors.last().copied())
    }

    /// Whether messages given back by `unstash` wait to be handled.
    #[inline]
    pub(crate) fn has_unstashed(&self) -> bool {
        self.extras
            .as_ref()
            .is_some_and(|extras| !extras.unstashed.is_empty())
    }

    /// The next message given back by `unstash`.
    pub(crate) fn pop_unstashed(&mut self) -> Option<Envelope> {
        let envelope = self.extras.as_mut()?.unstashed.pop_front();
        self.shrink_extras();
        envelope
    }

    /// What a restart does to behaviors and the stash: back to `receive`, stashed messages
    /// given back.
    pub(crate) fn restart_extras(&mut self) {
        if let Some(extras) = self.extras.as_mut() {
            extras.restart();
        }
        self.record_stash_len(0);
        self.shrink_extras();
    }

    /// Takes the messages still in the stash, for a stopped actor to dead-letter.
    pub(crate) fn take_stash(&mut self) -> VecDeque<Envelope> {
        let taken = match self.extras.as_mut() {
            Some(extras) => std::mem::take(&mut extras.stash),
            None => return VecDeque::new(),
        };
        self.record_stash_len(0);
        self.shrink_extras();
        taken
    }

    fn extras(&mut self) -> &mut Extras<A> {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Frees the box once it keeps nothing, so that an actor that has gone back to normal
    /// costs one word again.
    fn shrink_extras(&mut self) {
        if self.extras.as_ref().is_some_and(|extras| extras.is_empty()) {
            self.extras = None;
        }
    }

    fn record_stash_len(&self, len: usize) {
        // Only this actor's task writes it; a reader may see it one message late.
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.cell.stats.stashed.store(len, Ordering::Relaxed);
    }

    /// Declares the message unhandled: it becomes a dead letter.
    pub fn unhandled(&mut self) {
        if let Some(message) = self.message.take() {
            let envelope = Envelope {
                message,
                sender: self.sender.clone(),
                reply: self.reply.take(),
                trace: crate::telemetry::Trace::current(),
            };
            self.cell.dead_letter(envelope, DeadLetterReason::Unhandled);
        }
    }
}

/// A context dropped with messages still stashed or given back belongs to an actor whose task
/// was aborted (a normal stop drains and dead-letters them first): they become dead letters
/// rather than vanish.
impl<A> Drop for Context<'_, A> {
    fn drop(&mut self) {
        if let Some(extras) = self.extras.take() {
            let Extras {
                stash,
                unstashed,
                requests,
                ..
            } = *extras;
            if let Some(mut requests) = requests {
                requests.abandon();
            }
            for envelope in unstashed.into_iter().chain(stash) {
                self.cell
                    .dead_letter(envelope, DeadLetterReason::ActorKilled);
            }
        }
    }
}

impl<A> fmt::Debug for Context<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("pid", self.pid)
            .field("message", &self.message)
            .field("sender", &self.sender)
            .field("is_ask", &self.reply.is_some())
            .finish()
    }
}

/// The context of `pre_start` and `post_stop`.
///
/// ```
/// use rakt_actor::{Actor, ActorError, Context, LifecycleContext};
///
/// struct Worker;
///
/// impl Actor for Worker {
///     async fn pre_start(&mut self, ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
///         tracing::info!(name = ctx.pid().name(), system = ctx.system().name(), "starting");
///         Ok(())
///     }
///
///     async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
///         Ok(())
///     }
/// }
/// # let _ = Worker;
/// ```
pub struct LifecycleContext<'a> {
    pid: &'a Pid,
}

impl<'a> LifecycleContext<'a> {
    pub(crate) fn new(pid: &'a Pid) -> Self {
        Self { pid }
    }

    /// The actor's `Pid`.
    pub fn pid(&self) -> &Pid {
        self.pid
    }

    /// The actor system the actor runs in.
    pub fn system(&self) -> ActorSystem {
        ActorSystem::from_shared(self.pid.system_shared().clone())
    }

    /// The system's extension of type `T`, registered with
    /// [`ActorSystemBuilder::extension`](crate::ActorSystemBuilder::extension), if any.
    ///
    /// ```
    /// use rakt_actor::{Actor, ActorError, Context, LifecycleContext};
    ///
    /// struct Settings {
    ///     greeting: String,
    /// }
    ///
    /// struct Greeter {
    ///     greeting: String,
    /// }
    ///
    /// impl Actor for Greeter {
    ///     async fn pre_start(&mut self, ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
    ///         let settings = ctx
    ///             .extension::<Settings>()
    ///             .ok_or_else(|| ActorError::msg("no settings"))?;
    ///         self.greeting = settings.greeting.clone();
    ///         Ok(())
    ///     }
    ///
    ///     async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = (Greeter { greeting: String::new() }, Settings { greeting: String::new() });
    /// ```
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&'a T> {
        self.pid.system_shared().extensions.get::<T>()
    }

    /// The actor's dependency of type `T`: at a restart, a fresh state takes its
    /// dependencies back from here. See [`Dependency`](crate::Dependency).
    pub fn dependency<T: crate::Dependency>(&self) -> Option<std::sync::Arc<T>> {
        self.pid.local()?.dependency::<T>()
    }
}

impl fmt::Debug for LifecycleContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LifecycleContext")
            .field("pid", self.pid)
            .finish()
    }
}

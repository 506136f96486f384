//! Reentrancy: an actor asks another from a handler without blocking its own mailbox, and
//! handles the reply later, in a continuation run by its own task.
//!
//! A request is an ask whose asker is no future: a waker registered on the ask's slot pushes
//! the outcome onto the requester's system lane when the ask is decided (replied, dropped,
//! timed out by the system's deadline task, or cancelled). The requester's loop takes it from
//! there like any other message, so a continuation never runs beside a handler, and no task
//! or timer is made per request.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Duration;

use parking_lot::Mutex;

use crate::actor::Actor;
use crate::ask::{AskWait, Outcome};
use crate::cell::{ActorCell, Envelope, ReplyTo, SystemMessage};
use crate::context::Context;
use crate::error::{ActorError, AskError, SendError};
use crate::event::DeadLetterReason;
use crate::message::Message;
use crate::payload::Payload;
use crate::pid::Pid;

/// How an actor treats its other messages while its requests are in flight (GoAkt's
/// reentrancy modes).
///
/// ```
/// use rakt_actor::ReentrancyMode;
///
/// assert_eq!(ReentrancyMode::default(), ReentrancyMode::Off);
/// assert_eq!(ReentrancyMode::StashNonReentrant.to_string(), "stash non-reentrant");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReentrancyMode {
    /// Strictly one message at a time, and no requests: [`Context::request`] fails with
    /// [`RequestError::Disabled`]. Plain asks still work, and block the handler.
    #[default]
    Off,
    /// Other messages are handled while requests are in flight.
    AllowAll,
    /// User messages wait, in order, until every request made in this mode has completed;
    /// system messages and the continuations themselves go on.
    StashNonReentrant,
}

impl fmt::Display for ReentrancyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::AllowAll => "allow all",
            Self::StashNonReentrant => "stash non-reentrant",
        })
    }
}

/// An actor's reentrancy: its mode and how many requests it may have in flight, set with
/// [`SpawnOptions::reentrancy`](crate::SpawnOptions::reentrancy).
///
/// ```
/// use rakt_actor::{Reentrancy, ReentrancyMode, SpawnOptions};
///
/// let reentrancy = Reentrancy::new(ReentrancyMode::AllowAll).max_in_flight(64);
/// assert_eq!(reentrancy.mode(), ReentrancyMode::AllowAll);
/// let options = SpawnOptions::new().reentrancy(reentrancy);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reentrancy {
    mode: ReentrancyMode,
    max_in_flight: Option<usize>,
}

impl Reentrancy {
    /// Requests in `mode`, with no limit on how many are in flight.
    pub fn new(mode: ReentrancyMode) -> Self {
        Self {
            mode,
            max_in_flight: None,
        }
    }

    /// At most `max` requests in flight; a further one fails with
    /// [`RequestError::InFlightLimit`]. Zero makes the spawn fail.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = Some(max);
        self
    }

    /// The mode.
    pub fn mode(&self) -> ReentrancyMode {
        self.mode
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        match self.max_in_flight {
            Some(0) => Err("the in-flight limit must be greater than zero".to_owned()),
            _ => Ok(()),
        }
    }
}

/// Why a request could not be made. The continuation is not run.
///
/// ```
/// use rakt_actor::RequestError;
///
/// assert_eq!(
///     RequestError::InFlightLimit { limit: 8 }.to_string(),
///     "8 requests are already in flight, the limit"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The actor's reentrancy is off, or the request asked for mode off.
    #[error("reentrancy is off for this actor: use ask, or spawn it with a reentrancy mode")]
    Disabled,
    /// The actor has its limit of requests in flight.
    #[error("{limit} requests are already in flight, the limit")]
    InFlightLimit {
        /// The limit.
        limit: usize,
    },
    /// The timeout was zero.
    #[error("request timeout must be greater than zero")]
    ZeroTimeout,
    /// An actor requested from itself: its continuation would wait on its own handler.
    #[error("actor {name:?} sent a request to itself")]
    SelfRequest {
        /// The actor's name.
        name: String,
    },
    /// The request could not be delivered; it is a dead letter.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// A continuation, typed by the actor and erased over the reply type.
pub(crate) type Continuation<A> = Box<
    dyn FnOnce(&mut A, &mut Context<'_, A>, Result<Payload, AskError>) -> Result<(), ActorError>
        + Send,
>;

/// A request in flight, from its requester's side.
struct InFlight<A> {
    /// In a mutex only so that the context stays `Sync` without asking the same of every
    /// continuation; it is never locked, only taken apart.
    continuation: Mutex<Continuation<A>>,
    /// Made in `StashNonReentrant` mode: user messages wait for it.
    holds: bool,
    /// Its waiting side, so that a restart or a stop can cancel it.
    pending: Arc<Pending>,
}

/// What a reentrant actor keeps about its requests, in its context's extras.
pub(crate) struct Requests<A> {
    config: Reentrancy,
    next_id: u64,
    in_flight: HashMap<u64, InFlight<A>, foldhash::fast::RandomState>,
    /// Requests in flight that hold user messages: while there are any, the actor takes no
    /// user message from its mailbox, where they wait in order.
    holding: usize,
}

impl<A> Requests<A> {
    pub(crate) fn new(config: Reentrancy) -> Self {
        Self {
            config,
            next_id: 1,
            in_flight: HashMap::default(),
            holding: 0,
        }
    }

    /// Whether user messages wait now.
    pub(crate) fn is_holding(&self) -> bool {
        self.holding > 0
    }

    /// Whether requests are in flight.
    pub(crate) fn in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// The continuation of request `id`, which has completed; `None` when the request was
    /// cancelled.
    pub(crate) fn complete(&mut self, id: u64) -> Option<Continuation<A>> {
        let InFlight {
            continuation,
            holds,
            ..
        } = self.in_flight.remove(&id)?;
        if holds {
            self.holding -= 1;
        }
        Some(continuation.into_inner())
    }

    /// Cancels every request in flight without running its continuation (a restart or a
    /// stop).
    pub(crate) fn abandon(&mut self) {
        for (_, request) in self.in_flight.drain() {
            request.pending.abandon();
        }
        self.holding = 0;
    }
}

/// The requester's side of one request: the ask's waiting half until the ask is decided,
/// then nothing. Woken by the ask's slot.
pub(crate) struct Pending {
    wait: Mutex<Option<AskWait>>,
    requester: Arc<ActorCell>,
    id: u64,
    target: Pid,
    timeout: Duration,
}

impl Pending {
    /// Hands the outcome to the requester, once: on the ask's decision, or on `cancel`.
    /// Returns whether this call settled the request as it asked: a decision for a wake, a
    /// cancellation for a cancel (a cancel that comes after the decision delivers the
    /// decision, and returns false).
    fn settle(&self, cancelled: bool) -> bool {
        let abandoned;
        let settled;
        let outcome = {
            let mut guard = self.wait.lock();
            let Some(wait) = guard.as_ref() else {
                return false;
            };
            match wait.outcome() {
                // Not decided: a cancel ends it, a wake was spurious.
                None if cancelled => {
                    // Dropped once the lock is released: dropping a pending ask wakes this.
                    abandoned = guard.take();
                    settled = true;
                    Err(AskError::Cancelled {
                        name: self.target.name().to_owned(),
                    })
                }
                None => return false,
                // Decided, maybe just before a cancel: the outcome stands.
                Some(outcome) => {
                    abandoned = guard.take();
                    settled = !cancelled;
                    match outcome {
                        Outcome::Replied(reply) => reply,
                        Outcome::NoReply => Err(AskError::NoReply {
                            name: self.target.name().to_owned(),
                        }),
                        Outcome::TimedOut => Err(AskError::Timeout {
                            name: self.target.name().to_owned(),
                            timeout: self.timeout,
                        }),
                    }
                }
            }
        };
        drop(abandoned);
        let pushed = self
            .requester
            .lanes
            .push_system(SystemMessage::Reply(self.id, outcome));
        if let Err(SystemMessage::Reply(_, Ok(reply))) = pushed {
            // The requester has stopped: its reply has nobody left.
            self.requester.system.dead_letter(
                None,
                &self.requester.name,
                reply,
                DeadLetterReason::ActorStopped,
            );
        }
        settled
    }

    /// Drops the ask without telling the requester: it already forgot the request.
    fn abandon(&self) {
        // Dropped once the lock is released: dropping a pending ask wakes this.
        let abandoned = self.wait.lock().take();
        drop(abandoned);
    }
}

impl Wake for Pending {
    fn wake(self: Arc<Self>) {
        self.settle(false);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.settle(false);
    }
}

/// A request in flight; see [`Context::request`]. Dropping it leaves the request running.
///
/// ```
/// # use rakt_actor::RequestRef;
/// fn give_up(request: &RequestRef) {
///     if request.cancel() {
///         // The continuation runs with `AskError::Cancelled`.
///     }
/// }
/// # let _ = give_up;
/// ```
#[derive(Clone)]
pub struct RequestRef {
    pending: Arc<Pending>,
}

impl RequestRef {
    /// Cancels the request, best effort: true when it was still in flight, and then its
    /// continuation runs with [`AskError::Cancelled`]; false when it had completed already.
    /// A reply that arrives after the cancel is a dead letter at the responder.
    pub fn cancel(&self) -> bool {
        self.pending.settle(true)
    }

    /// Whether the outcome is decided, or the request was cancelled.
    pub fn is_done(&self) -> bool {
        self.pending.wait.lock().is_none()
    }
}

impl fmt::Debug for RequestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestRef")
            .field("id", &self.pending.id)
            .field("target", &self.pending.target.name())
            .field("done", &self.is_done())
            .finish()
    }
}

/// A request being made, built by [`Context::request`]; [`then`](Self::then) sends it.
#[must_use = "a request is only sent by `then`"]
pub struct Request<'c, 'a, A, R> {
    ctx: &'c mut Context<'a, A>,
    to: &'c Pid,
    message: Payload,
    timeout: Duration,
    mode: Option<ReentrancyMode>,
    _reply: PhantomData<fn() -> R>,
}

impl<'c, 'a, A: Actor, R: Message> Request<'c, 'a, A, R> {
    pub(crate) fn new(ctx: &'c mut Context<'a, A>, to: &'c Pid, message: Payload) -> Self {
        let timeout = ctx.cell().system.config.ask_timeout;
        Self {
            ctx,
            to,
            message,
            timeout,
            mode: None,
            _reply: PhantomData,
        }
    }

    /// How long to wait for the reply before the continuation runs with
    /// [`AskError::Timeout`]: the system's ask timeout unless set.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// This request's mode instead of the actor's: `AllowAll` or `StashNonReentrant`.
    /// `Off`, or any mode for an actor whose reentrancy is off, fails with
    /// [`RequestError::Disabled`].
    pub fn mode(mut self, mode: ReentrancyMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Sends the request; `continuation` runs in this actor's task when the reply arrives,
    /// the request fails or times out, or it is cancelled, with the actor's state and a
    /// context of its own (no current message). An error it returns, or a panic, is a
    /// failure of the actor, as from a handler.
    ///
    /// A restart or a stop of this actor cancels its requests in flight without running
    /// their continuations.
    pub fn then<F>(self, continuation: F) -> Result<RequestRef, RequestError>
    where
        F: FnOnce(&mut A, &mut Context<'_, A>, Result<R, AskError>) -> Result<(), ActorError>
            + Send
            + 'static,
    {
        let Self {
            ctx,
            to,
            message,
            timeout,
            mode,
            ..
        } = self;
        let cell = ctx.cell().clone();
        let Some(requests) = ctx.requests() else {
            return Err(RequestError::Disabled);
        };
        let mode = match (requests.config.mode, mode) {
            (ReentrancyMode::Off, _) | (_, Some(ReentrancyMode::Off)) => {
                return Err(RequestError::Disabled);
            }
            (own, None) => own,
            (_, Some(chosen)) => chosen,
        };
        if let Some(limit) = requests.config.max_in_flight {
            if requests.in_flight.len() >= limit {
                return Err(RequestError::InFlightLimit { limit });
            }
        }
        if timeout.is_zero() {
            return Err(RequestError::ZeroTimeout);
        }
        if to.local().is_some_and(|target| Arc::ptr_eq(&cell, target)) {
            return Err(RequestError::SelfRequest {
                name: cell.name.to_string(),
            });
        }
        let (reply_to, wait): (ReplyTo, AskWait) = cell.system.asks.start(timeout);
        let envelope = Envelope {
            message,
            sender: Some(Pid::from_cell(cell.clone())),
            reply: Some(reply_to),
            trace: crate::telemetry::Trace::current(),
        };
        // Never waits: a handler must not block on a full mailbox for a request.
        to.try_deliver(envelope)?;
        let id = requests.next_id;
        requests.next_id += 1;
        let holds = mode == ReentrancyMode::StashNonReentrant;
        let typed: Continuation<A> = Box::new(move |actor, ctx, reply| {
            continuation(actor, ctx, reply.and_then(crate::pid::decode_typed::<R>))
        });
        let pending = Arc::new(Pending {
            wait: Mutex::new(None),
            requester: cell,
            id,
            target: to.clone(),
            timeout,
        });
        requests.in_flight.insert(
            id,
            InFlight {
                continuation: Mutex::new(typed),
                holds,
                pending: pending.clone(),
            },
        );
        if holds {
            requests.holding += 1;
        }
        // Registered before the ask is put in its place, with no lock held: a decision made
        // meanwhile may call the waker right inside `register`, and finds nothing to settle.
        wait.register(&Waker::from(pending.clone()));
        let decided = wait.is_decided();
        *pending.wait.lock() = Some(wait);
        if decided {
            // Decided before the ask was in place: its wake found nothing, so settle now.
            pending.settle(false);
        }
        Ok(RequestRef { pending })
    }
}

impl<A, R> fmt::Debug for Request<'_, '_, A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("to", self.to)
            .field("timeout", &self.timeout)
            .field("mode", &self.mode)
            .finish()
    }
}

/// The asker's side of an ask, kept by a handler that answers later; see
/// [`Context::defer_reply`]. Dropping it unanswered tells the asker at once
/// ([`AskError::NoReply`]).
///
/// ```
/// # use rakt_actor::Responder;
/// # use rakt_proto::v1::StatusFailure;
/// fn answer_later(responder: Responder) {
///     responder.respond(StatusFailure { error: "done".into() });
/// }
/// # let _ = answer_later;
/// ```
pub struct Responder {
    reply: ReplyTo,
    responder: Pid,
}

impl Responder {
    pub(crate) fn new(reply: ReplyTo, responder: Pid) -> Self {
        Self { reply, responder }
    }

    /// Answers the ask. A reply the asker no longer waits for is a dead letter.
    pub fn respond<M: Message>(self, message: M) {
        self.respond_payload(Payload::new(message));
    }

    /// Answers the ask with a message of any type, as a router passes a routee's reply on.
    pub(crate) fn respond_payload(self, message: Payload) {
        crate::letter::answer(&self.responder, Some(self.reply), None, message);
    }

    /// Answers the ask with a failure: the asker gets [`AskError::HandlerFailed`].
    pub fn fail(self, error: impl fmt::Display) {
        // The asker may have stopped waiting; then nobody needs to hear it.
        let _ = self.reply.send(Err(AskError::HandlerFailed {
            name: self.responder.name().to_owned(),
            error: error.to_string(),
        }));
    }

    /// Gives the asker's side back, to travel on with the question.
    pub(crate) fn into_reply(self) -> ReplyTo {
        self.reply
    }

    /// Whether the asker has stopped waiting.
    pub fn is_closed(&self) -> bool {
        self.reply.is_closed()
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("responder", &self.responder)
            .field("closed", &self.is_closed())
            .finish()
    }
}

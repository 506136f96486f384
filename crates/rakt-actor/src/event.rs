//! The event stream: what happens to actors, published to every subscriber.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::SystemTime;

use parking_lot::RwLock;
use tokio::sync::mpsc;

use crate::message::AnyMessage;
use crate::pid::Pid;

/// Why a message became a dead letter.
///
/// ```
/// use rakt_actor::DeadLetterReason;
///
/// assert_eq!(DeadLetterReason::ActorStopped.to_string(), "actor stopped");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// The receiver had stopped, or stopped before handling it.
    ActorStopped,
    /// The receiver was killed with messages still queued.
    ActorKilled,
    /// It was queued behind a `PoisonPill`.
    BehindPoisonPill,
    /// The receiver's non-blocking bounded mailbox was full.
    MailboxFull,
    /// The receiver's bounded mailbox stayed full for the whole push timeout.
    MailboxTimeout,
    /// No actor had the receiver's name.
    UnknownActor,
    /// The receiver's handler declared it unhandled.
    Unhandled,
    /// It was a reply to an ask whose caller had stopped waiting (timed out or dropped).
    LateReply,
    /// It was an ask whose caller stopped waiting before the receiver got to it.
    AskerGone,
    /// It was a reply to a message that had neither an asker nor a sender.
    NoRecipient,
    /// Its receiver tried to stash it, and the stash was full.
    StashFull,
    /// A router had no live routee for it, or its consistent-hash key was missing.
    NoRoutee,
    /// The receiver's node could not be reached, or the connection to it broke before it
    /// confirmed the message.
    Unreachable,
    /// The receiver's node refused it: an unknown type, too large, or a malformed frame.
    Refused,
    /// The link to the receiver's node already held as many messages as it may: the network
    /// or the peer is slower than the senders.
    Overloaded,
}

impl DeadLetterReason {
    /// The reason in words, as `Display` writes it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ActorStopped => "actor stopped",
            Self::ActorKilled => "actor killed",
            Self::BehindPoisonPill => "queued behind a poison pill",
            Self::MailboxFull => "mailbox full",
            Self::MailboxTimeout => "timed out waiting for mailbox space",
            Self::UnknownActor => "unknown actor",
            Self::Unhandled => "unhandled",
            Self::LateReply => "reply arrived after the asker stopped waiting",
            Self::AskerGone => "asker stopped waiting",
            Self::NoRecipient => "reply without asker or sender",
            Self::StashFull => "stash full",
            Self::NoRoutee => "no routee for the message",
            Self::Unreachable => "node unreachable",
            Self::Refused => "refused by the receiver's node",
            Self::Overloaded => "the link to the receiver's node is full",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message that could not be delivered.
///
/// ```
/// use rakt_actor::{DeadLetter, DeadLetterReason};
/// use rakt_proto::v1::PoisonPill;
///
/// let letter = DeadLetter::new(None, "rakt://shop/cart", Box::new(PoisonPill {}), DeadLetterReason::UnknownActor);
/// assert!(letter.message().downcast_ref::<PoisonPill>().is_some());
/// assert_eq!(letter.to_proto().message_type, "rakt.v1.PoisonPill");
/// ```
#[derive(Debug)]
pub struct DeadLetter {
    sender: Option<Pid>,
    receiver: String,
    message: Box<dyn AnyMessage>,
    reason: DeadLetterReason,
    at: SystemTime,
}

impl DeadLetter {
    /// A dead letter for `message`, addressed to `receiver` (an address or a name).
    pub fn new(
        sender: Option<Pid>,
        receiver: impl Into<String>,
        message: Box<dyn AnyMessage>,
        reason: DeadLetterReason,
    ) -> Self {
        Self {
            sender,
            receiver: receiver.into(),
            message,
            reason,
            at: SystemTime::now(),
        }
    }

    /// The sender, when there was one.
    pub fn sender(&self) -> Option<&Pid> {
        self.sender.as_ref()
    }

    /// The intended receiver's address or name.
    pub fn receiver(&self) -> &str {
        &self.receiver
    }

    /// The undelivered message.
    pub fn message(&self) -> &dyn AnyMessage {
        self.message.as_ref()
    }

    /// Why it was not delivered.
    pub fn reason(&self) -> DeadLetterReason {
        self.reason
    }

    /// When it became a dead letter.
    pub fn at(&self) -> SystemTime {
        self.at
    }

    /// The wire form, with the message encoded.
    pub fn to_proto(&self) -> rakt_proto::v1::DeadLetter {
        rakt_proto::v1::DeadLetter {
            sender: self
                .sender
                .as_ref()
                .map(|p| p.address().to_string())
                .unwrap_or_default(),
            receiver: self.receiver.clone(),
            message_type: self.message.full_name(),
            message: self.message.encode_to_vec(),
            reason: self.reason.to_string(),
            at: Some(prost_types::Timestamp::from(self.at)),
        }
    }
}

/// Something that happened in an actor system.
///
/// ```
/// use rakt_actor::Event;
///
/// fn describe(event: &Event) -> String {
///     match event {
///         Event::ActorStarted { pid } => format!("started {pid}"),
///         Event::DeadLetter(letter) => format!("dead letter: {}", letter.reason()),
///         other => format!("{other:?}"),
///     }
/// }
/// # let _ = describe;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// An actor finished `pre_start` and runs.
    ActorStarted {
        /// The actor.
        pid: Pid,
    },
    /// An actor stopped for good.
    ActorStopped {
        /// The actor.
        pid: Pid,
    },
    /// An actor was restarted, after a failure or on request.
    ActorRestarted {
        /// The actor.
        pid: Pid,
        /// How many times it has been restarted so far.
        restarts: u32,
    },
    /// An actor failed: its handler returned an error, signalled one or panicked.
    ActorFailed {
        /// The actor.
        pid: Pid,
        /// The failure, rendered as text.
        error: String,
    },
    /// A failed actor was suspended: it handles no message until it is restarted,
    /// reinstated or stopped.
    ActorSuspended {
        /// The actor.
        pid: Pid,
        /// Why, and what it waits for.
        reason: String,
    },
    /// A suspended actor was reinstated and handles messages again, with the state it had.
    ActorReinstated {
        /// The actor.
        pid: Pid,
    },
    /// An actor passivated: it stops, and [`Event::ActorStopped`] follows once it has.
    ActorPassivated {
        /// The actor.
        pid: Pid,
        /// Why.
        reason: crate::passivation::PassivationReason,
    },
    /// An actor spawned a child.
    ChildCreated {
        /// The parent.
        parent: Pid,
        /// The new child.
        child: Pid,
    },
    /// A message could not be delivered.
    DeadLetter(Arc<DeadLetter>),
}

struct Subscriber {
    id: u64,
    tx: mpsc::UnboundedSender<Event>,
}

/// The publishing side of the event stream, owned by the actor system.
pub(crate) struct EventStream {
    subscribers: RwLock<Vec<Subscriber>>,
    count: AtomicUsize,
    next_id: AtomicU64,
}

impl EventStream {
    pub(crate) fn new() -> Self {
        Self {
            subscribers: RwLock::new(Vec::new()),
            count: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
        }
    }

    /// Whether anybody listens; lets hot paths skip building events nobody reads.
    pub(crate) fn has_subscribers(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    pub(crate) fn publish(&self, event: Event) {
        if !self.has_subscribers() {
            return;
        }
        let subscribers = self.subscribers.read();
        if let Some((last, rest)) = subscribers.split_last() {
            for sub in rest {
                // A closed receiver is unsubscribing right now; its events have no reader.
                let _ = sub.tx.send(event.clone());
            }
            let _ = last.tx.send(event);
        }
    }

    pub(crate) fn subscribe(self: &Arc<Self>) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut subscribers = self.subscribers.write();
        subscribers.push(Subscriber { id, tx });
        self.count.store(subscribers.len(), Ordering::Release);
        Subscription {
            id,
            rx,
            stream: Arc::downgrade(self),
        }
    }

    fn unsubscribe(&self, id: u64) {
        let mut subscribers = self.subscribers.write();
        subscribers.retain(|s| s.id != id);
        self.count.store(subscribers.len(), Ordering::Release);
    }

    /// Ends every subscription: their `recv` returns `None` once drained.
    pub(crate) fn close(&self) {
        let mut subscribers = self.subscribers.write();
        subscribers.clear();
        self.count.store(0, Ordering::Release);
    }
}

/// A subscription to the event stream; dropping it unsubscribes.
///
/// Every subscriber has its own unbounded queue, so a slow subscriber never makes the system
/// lose events for the others.
///
/// ```
/// use rakt_actor::{ActorSystem, Event};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("events").build()?;
/// let mut events = system.subscribe();
/// let pid = system.spawn_fn("echo", |_ctx| Ok(())).await?;
/// match events.recv().await {
///     Some(Event::ActorStarted { pid: started }) => assert_eq!(started, pid),
///     other => panic!("unexpected {other:?}"),
/// }
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
pub struct Subscription {
    id: u64,
    rx: mpsc::UnboundedReceiver<Event>,
    stream: std::sync::Weak<EventStream>,
}

impl Subscription {
    /// The next event; `None` once the system has stopped and every event was read.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Polls for the next event, for code that implements a future or a stream by hand:
    /// `Ready(None)` once the system has stopped and every event was read; on `Pending`, the
    /// task of `cx` is woken when an event arrives. Only the last task to poll is woken.
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use rakt_actor::{ActorSystem, Event};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("poll").build()?;
    /// let mut events = system.subscribe();
    /// system.spawn_fn("echo", |_ctx| Ok(())).await?;
    /// let event = poll_fn(|cx| events.poll_recv(cx)).await;
    /// assert!(matches!(event, Some(Event::ActorStarted { .. })));
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.upgrade() {
            stream.unsubscribe(self.id);
        }
    }
}

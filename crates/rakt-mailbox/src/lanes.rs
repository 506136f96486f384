//! [`Lanes`]: the two mailboxes of one actor, with a wake-up and a close protocol.
//!
//! An actor has a **system lane**, an unbounded queue for the runtime's own messages (stop,
//! supervision, watch notices), and a **user lane**, any [`Mailbox`] for the messages users
//! send.
//! The system lane always pops first, so control messages never wait behind user traffic.
//! One consumer (the actor's task) waits for either lane with [`Lanes::ready`]; every
//! successful push wakes it (see [Wake-ups](self#wake-ups)).
//!
//! # The close protocol
//!
//! A stopping actor must not silently lose a message: each one is either handled (popped) or
//! handed back to its sender as [`PushError::Closed`].
//! `Lanes` keeps a single atomic word: a closed bit per lane, a bit telling whether the system
//! lane holds messages, and a count of pushes in flight.
//!
//! * A push adds one to the in-flight count, and in the same atomic step learns whether its
//!   lane is closed.
//!   If it is, the push takes the count back and returns the message.
//!   Otherwise it enqueues, takes the count back, and wakes the consumer if it is parked.
//! * [`close_user`](Lanes::close_user) and [`close_system`](Lanes::close_system) set their
//!   lane's closed bit.
//!
//! Every push that starts after the bit is set sees it; every push that started before is
//! counted until its message is in the queue.
//! So once a lane is closed and [`is_quiescent`](Lanes::is_quiescent) reports no push in
//! flight, nothing more can ever enter that lane, and a consumer that drains until then
//! has seen every accepted message:
//!
//! ```
//! use rakt_mailbox::Lanes;
//!
//! let lanes: Lanes<(), u32> = Lanes::unbounded();
//! lanes.try_push_user(1).unwrap();
//! lanes.close_user();
//! assert!(lanes.try_push_user(2).unwrap_err().is_closed());
//!
//! let mut handled = Vec::new();
//! loop {
//!     while let Some(msg) = lanes.pop_user() {
//!         handled.push(msg);
//!     }
//!     if lanes.is_quiescent() && lanes.user_len() == 0 {
//!         break;
//!     }
//!     // A push is still in flight: let it finish (an async consumer yields here).
//!     std::thread::yield_now();
//! }
//! assert_eq!(handled, [1]);
//! ```
//!
//! A sender waiting for space in a bounded user lane ([`Lanes::push_user`]) is counted only
//! while its future is being polled, never while it sleeps, so a draining consumer never
//! waits on a sender that is itself waiting for the consumer.
//! Such a sender stays safe through the [`Mailbox`] closing rule: `close_user` closes the
//! mailbox before setting the bit, and a closed mailbox resolves every later poll of a
//! waiting push to `Closed` without enqueuing.
//!
//! # Wake-ups
//!
//! The consumer's [`AtomicWaker`] is only touched when the consumer is parked.
//! The same atomic word holds a parked bit: [`poll_ready`](Lanes::poll_ready) registers the
//! waker, sets the bit and checks both lanes once more before returning `Pending`.
//! A push learns the bit for free from the read-modify-write that takes back its in-flight
//! count, and only then clears it and wakes the consumer.
//! Because the bit and the count share one atomic, either the push sees the bit (and wakes the
//! registered waker) or the consumer's second check sees the message: no wake-up is lost, and
//! a user push to a busy consumer costs no atomic operation beyond the protocol's two.
//! (The default queue is not empty from the moment a push claims its slot, before the message
//! is even written, so that check cannot miss a finished push; it may see one still writing.
//! Then `poll_ready` says `Ready` while `pop` finds nothing, until the message is written: a
//! consumer that finds nothing right after `Ready` should yield before it polls again, as the
//! actor runtime does, rather than spin.)
//! A system push sets the system lane's bit before it takes back its count, so the same
//! argument covers it.
//!
//! # Memory
//!
//! Every actor holds one `Lanes`, most of them idle, so it is kept small and never
//! over-aligned: on x86_64, `Lanes<u64, [u64; 6]>` is 96 bytes with 8-byte alignment, and
//! [`Lanes::unbounded`] allocates nothing, so an actor that is never sent a message costs its
//! `Lanes` and no more.
//! Control messages are rare, so the system lane is a `VecDeque` behind a lock, which holds no
//! buffer while empty, and a bit in the state word lets the consumer skip it without locking.
//! The user lane stores only the mailbox in use.
//! The default [`UnboundedMailbox`] is a lock-free queue whose two cache-padded ends take
//! 256 bytes at 128-byte alignment; it lives in its own allocation, so that alignment does not
//! pad `Lanes` and every structure embedding it, and it is still called without dynamic
//! dispatch.
//! That allocation is made by the first user push, not when the lanes are created.
//! Until then the consumer treats the missing queue as an empty one, without allocating or
//! locking, and a push refused because the lane is closed allocates nothing either.
//! The push that allocates does so while counted in flight, so the close protocol and the
//! wake-ups above cover it like any other.
//! Keeping the queue in a [`OnceLock`] costs 8 bytes of `Lanes` and one acquire load on each
//! push and pop.
//! Once that queue has held a message it keeps one block of 32 message slots allocated, even
//! while empty, and once messages have filled a block, a second one as a spare, so that a
//! steady stream of messages allocates nothing: a block is a 72-byte header and the bare
//! messages, 1,608 bytes for 48-byte messages on x86_64.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::mem;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use parking_lot::Mutex;

use crate::{Mailbox, PushError, UnboundedMailbox};

/// Set in [`Lanes::state`] once the user lane is closed.
const USER_CLOSED: usize = 0b001;
/// Set in [`Lanes::state`] once the system lane is closed.
const SYSTEM_CLOSED: usize = 0b010;
/// Set in [`Lanes::state`] while the consumer is parked in `poll_ready` and needs a wake-up.
const PARKED: usize = 0b100;
/// Set in [`Lanes::state`] while the system lane holds messages.
///
/// It only changes while the system lane's lock is held, so whenever that lock is free the bit
/// says exactly whether the lane is empty, and the consumer can skip an empty lane without
/// taking the lock.
const SYSTEM_QUEUED: usize = 0b1000;
/// One push in flight; the count lives above the flag bits.
const IN_FLIGHT: usize = 0b1_0000;

/// The next message of an actor, tagged with the lane it came from.
///
/// # Examples
///
/// ```
/// use rakt_mailbox::{Lanes, Next};
///
/// let lanes: Lanes<&str, u32> = Lanes::unbounded();
/// lanes.try_push_user(42).unwrap();
/// match lanes.pop() {
///     Some(Next::System(msg)) => println!("system: {msg}"),
///     Some(Next::User(msg)) => assert_eq!(msg, 42),
///     None => unreachable!(),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Next<S, U> {
    /// A message from the system lane.
    System(S),
    /// A message from the user lane.
    User(U),
}

/// The two lanes of one actor's mailbox: an unbounded system lane of `S` and a user lane of
/// `U` with a pluggable discipline, one consumer waker and a close protocol.
///
/// Pushes may come from any number of threads; popping and waiting are for a single consumer.
/// See the [module documentation](self) for the close protocol.
///
/// # Examples
///
/// ```
/// use rakt_mailbox::{Lanes, Next};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let lanes: Lanes<&str, u32> = Lanes::unbounded();
/// lanes.try_push_user(1).unwrap();
/// lanes.push_system("stop").unwrap();
///
/// lanes.ready().await;
/// // The system lane goes first even though the user message arrived earlier.
/// assert_eq!(lanes.pop(), Some(Next::System("stop")));
/// assert_eq!(lanes.pop(), Some(Next::User(1)));
/// assert_eq!(lanes.pop(), None);
/// # });
/// ```
pub struct Lanes<S, U> {
    /// Rare control messages: a `VecDeque` allocates nothing while empty, and
    /// [`SYSTEM_QUEUED`] spares the consumer the lock then.
    system: Mutex<VecDeque<S>>,
    user: UserLane<U>,
    waker: AtomicWaker,
    /// The closed bits, the parked bit, the system-queued bit and, above them, the number of
    /// pushes in flight.
    state: AtomicUsize,
}

/// The user lane's mailbox: only the one in use is stored.
enum UserLane<U> {
    /// The default. Boxed because its queue is aligned to 128 bytes, which would otherwise pad
    /// `Lanes` and everything embedding it; matched rather than called through a vtable, so
    /// its hot path stays a direct, inlinable call.
    ///
    /// The box is allocated by the first user push (see [`default_queue`]), so an actor that is
    /// never sent a message never pays for it.
    /// A `OnceLock` rather than an `AtomicPtr` swapped in with `compare_exchange`: it needs no
    /// `unsafe` to read or free the queue, and its one way of blocking is acceptable here.
    /// Pushes racing the first one wait for it, but initializing is a single allocation, done
    /// once per actor, so they wait for at most that; with an `AtomicPtr` every loser of the
    /// race would allocate and free a queue of its own instead.
    /// The price is 8 bytes of `Lanes` (the `OnceLock` takes 16 bytes and has no niche, so the
    /// enum needs a tag of its own, where a bare pointer would have shared `Custom`'s) and,
    /// once the queue exists, one more acquire load and branch per push and pop than the
    /// pointer would cost.
    Unbounded(OnceLock<Box<UnboundedMailbox<U>>>),
    /// Any other discipline, called dynamically.
    Custom(Box<dyn Mailbox<U>>),
}

/// Runs `$body` with `$mailbox` bound to the user lane's mailbox, statically dispatched for
/// the default.
///
/// The `push` form is for pushes, and allocates the default queue if it is not yet.
/// The other form never allocates: while the default queue is not allocated it evaluates
/// `$empty`, what an empty queue would answer, without touching any lock.
macro_rules! with_user {
    ($lanes:expr, push $mailbox:ident => $body:expr) => {
        match &$lanes.user {
            UserLane::Unbounded(queue) => {
                let $mailbox = default_queue(queue);
                $body
            }
            UserLane::Custom($mailbox) => $body,
        }
    };
    ($lanes:expr, $mailbox:ident => $body:expr, unallocated => $empty:expr) => {
        match &$lanes.user {
            UserLane::Unbounded(queue) => match queue.get() {
                Some($mailbox) => $body,
                None => $empty,
            },
            UserLane::Custom($mailbox) => $body,
        }
    };
}

/// The default user queue, allocated by the first push that needs it.
///
/// Concurrent first pushes install exactly one queue: the `OnceLock` runs one allocation and
/// the others wait for it, then all push into the queue it installed.
/// A push calls this only once counted in flight and found the lane open, so the allocation
/// is covered by the close protocol like the enqueue that follows it.
#[inline]
fn default_queue<U>(queue: &OnceLock<Box<UnboundedMailbox<U>>>) -> &UnboundedMailbox<U> {
    queue.get_or_init(allocate_default_queue)
}

/// Allocates the default user queue; out of line because each actor does it at most once.
#[cold]
#[inline(never)]
fn allocate_default_queue<U>() -> Box<UnboundedMailbox<U>> {
    Box::new(UnboundedMailbox::new())
}

/// Stands in for the default user queue in `Debug` output until it is allocated, printing
/// what an empty one prints.
struct UnallocatedQueue;

impl fmt::Debug for UnallocatedQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedMailbox")
            .field("len", &0_usize)
            .finish()
    }
}

/// Counts one push in flight for as long as it lives, even if the push panics.
struct InFlight<'a, S: Send, U: Send> {
    lanes: &'a Lanes<S, U>,
    /// The state word just before this push was counted.
    seen: usize,
}

impl<'a, S: Send, U: Send> InFlight<'a, S, U> {
    #[inline]
    fn enter(lanes: &'a Lanes<S, U>) -> Self {
        // Acquire keeps the enqueue after the increment and, when the increment lands after a
        // close, makes everything the closer did beforehand (such as closing the mailbox)
        // visible here.
        let seen = lanes.state.fetch_add(IN_FLIGHT, Ordering::Acquire);
        Self { lanes, seen }
    }

    #[inline]
    fn is_closed(&self, lane: usize) -> bool {
        self.seen & lane != 0
    }

    /// Takes the count back after a push that enqueued nothing, so there is nobody to wake.
    #[inline]
    fn cancel(self) {
        self.lanes.state.fetch_sub(IN_FLIGHT, Ordering::Release);
        mem::forget(self);
    }
}

/// Takes the count back after a push that enqueued (or panicked: waking then is harmless).
impl<S: Send, U: Send> Drop for InFlight<'_, S, U> {
    #[inline]
    fn drop(&mut self) {
        // Release publishes the enqueue to a consumer that sees the count drop to zero or
        // parks after this; Acquire makes the waker it registered before parking visible.
        let before = self.lanes.state.fetch_sub(IN_FLIGHT, Ordering::AcqRel);
        if before & PARKED != 0 {
            self.lanes.wake_parked();
        }
    }
}

impl<S: Send, U: Send> Lanes<S, U> {
    /// Creates lanes whose user lane is `user`.
    ///
    /// ```
    /// use rakt_mailbox::{Lanes, NonBlockingBoundedMailbox};
    ///
    /// let user = NonBlockingBoundedMailbox::new(16).unwrap();
    /// let lanes: Lanes<(), String> = Lanes::new(Box::new(user));
    /// assert_eq!(lanes.user_capacity(), Some(16));
    /// ```
    pub fn new(user: Box<dyn Mailbox<U>>) -> Self {
        Self::with_user(UserLane::Custom(user))
    }

    fn with_user(user: UserLane<U>) -> Self {
        Self {
            system: Mutex::new(VecDeque::new()),
            user,
            waker: AtomicWaker::new(),
            state: AtomicUsize::new(0),
        }
    }

    /// Creates lanes with the default [`UnboundedMailbox`] as the user lane.
    ///
    /// Prefer this to passing an `UnboundedMailbox` to [`new`](Self::new): the default lane is
    /// called without dynamic dispatch, and its queue is only allocated by the first user push,
    /// so creating these lanes allocates nothing.
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<(), u8> = Lanes::unbounded();
    /// assert_eq!(lanes.user_capacity(), None);
    /// ```
    pub fn unbounded() -> Self {
        Self::with_user(UserLane::Unbounded(OnceLock::new()))
    }

    /// Enqueues a system message.
    ///
    /// # Errors
    ///
    /// Hands `msg` back only once [`close_system`](Self::close_system) was called.
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<&str, ()> = Lanes::unbounded();
    /// lanes.push_system("ping").unwrap();
    /// lanes.close_system();
    /// assert_eq!(lanes.push_system("late"), Err("late"));
    /// assert_eq!(lanes.pop_system(), Some("ping"));
    /// ```
    #[inline]
    pub fn push_system(&self, msg: S) -> Result<(), S> {
        let in_flight = InFlight::enter(self);
        if in_flight.is_closed(SYSTEM_CLOSED) {
            in_flight.cancel();
            return Err(msg);
        }
        {
            let mut system = self.system.lock();
            let was_empty = system.is_empty();
            system.push_back(msg);
            if was_empty {
                // Set under the lock, after the message is in, so the bit never promises a
                // message that is not there. The lock publishes the message itself; the bit
                // only has to precede this push's exit from the in-flight count, which it does
                // on the same atomic.
                self.state.fetch_or(SYSTEM_QUEUED, Ordering::Relaxed);
            }
        }
        // Leaving the in-flight count wakes the consumer if it is parked.
        drop(in_flight);
        Ok(())
    }

    /// Enqueues a user message without waiting.
    ///
    /// # Errors
    ///
    /// [`PushError::Closed`] after [`close_user`](Self::close_user), or whatever the user
    /// mailbox's [`try_push`](Mailbox::try_push) reports (typically [`PushError::Full`]);
    /// the message is handed back.
    ///
    /// ```
    /// use rakt_mailbox::{Lanes, PushError};
    ///
    /// let lanes: Lanes<(), u32> = Lanes::unbounded();
    /// lanes.try_push_user(1).unwrap();
    /// lanes.close_user();
    /// assert_eq!(lanes.try_push_user(2), Err(PushError::Closed(2)));
    /// ```
    #[inline]
    pub fn try_push_user(&self, msg: U) -> Result<(), PushError<U>> {
        let in_flight = InFlight::enter(self);
        if in_flight.is_closed(USER_CLOSED) {
            in_flight.cancel();
            return Err(PushError::Closed(msg));
        }
        let result = with_user!(self, push user => user.try_push(msg));
        if result.is_ok() {
            drop(in_flight);
        } else {
            in_flight.cancel();
        }
        result
    }

    /// Enqueues a user message, waiting for space when the user mailbox makes senders wait.
    ///
    /// This is [`try_push_user`](Self::try_push_user), and when that finds the mailbox full
    /// and the mailbox [waits when full](Mailbox::waits_when_full), the mailbox's
    /// [`push`](Mailbox::push).
    /// Dropping the future while it waits drops the message.
    ///
    /// # Errors
    ///
    /// As for `try_push_user`, plus [`PushError::Timeout`] when a waiting mailbox stayed full
    /// for its push timeout; a sender waiting when the lane closes gets
    /// [`PushError::Closed`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_mailbox::{BoundedMailbox, Lanes, PushError};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let user = BoundedMailbox::new(1, Duration::from_millis(10)).unwrap();
    /// let lanes: Lanes<(), u32> = Lanes::new(Box::new(user));
    /// lanes.push_user(1).await.unwrap();
    /// assert_eq!(lanes.push_user(2).await, Err(PushError::Timeout(2)));
    /// assert_eq!(lanes.pop_user(), Some(1));
    /// lanes.push_user(2).await.unwrap();
    /// # });
    /// ```
    pub async fn push_user(&self, msg: U) -> Result<(), PushError<U>> {
        let msg = match self.try_push_user(msg) {
            Err(PushError::Full(msg)) if self.user_waits_when_full() => msg,
            done => return done,
        };
        // The slow path counts itself in flight only inside each poll (and while creating the
        // future, in case the mailbox does work there), never across a wait. The mailbox's
        // closing rule makes a poll after `close_user` hand the message back.
        let mut pending = {
            let in_flight = InFlight::enter(self);
            if in_flight.is_closed(USER_CLOSED) {
                in_flight.cancel();
                return Err(PushError::Closed(msg));
            }
            let pending = with_user!(self, push user => user.push(msg));
            // Mailboxes are expected to do their work when polled, but one that enqueued
            // right here must still wake the consumer.
            drop(in_flight);
            pending
        };
        poll_fn(|cx| {
            let in_flight = InFlight::enter(self);
            let poll = pending.as_mut().poll(cx);
            if let Poll::Ready(Ok(())) = poll {
                drop(in_flight);
            } else {
                in_flight.cancel();
            }
            poll
        })
        .await
    }

    /// Takes the next message, from the system lane if it has one, else from the user lane.
    ///
    /// ```
    /// use rakt_mailbox::{Lanes, Next};
    ///
    /// let lanes: Lanes<char, u32> = Lanes::unbounded();
    /// lanes.try_push_user(7).unwrap();
    /// lanes.push_system('s').unwrap();
    /// assert_eq!(lanes.pop(), Some(Next::System('s')));
    /// assert_eq!(lanes.pop(), Some(Next::User(7)));
    /// ```
    #[inline]
    pub fn pop(&self) -> Option<Next<S, U>> {
        match self.pop_system() {
            Some(msg) => Some(Next::System(msg)),
            None => self.pop_user().map(Next::User),
        }
    }

    /// Takes the next system message.
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<u8, ()> = Lanes::unbounded();
    /// assert_eq!(lanes.pop_system(), None);
    /// lanes.push_system(1).unwrap();
    /// assert_eq!(lanes.pop_system(), Some(1));
    /// ```
    #[inline]
    pub fn pop_system(&self) -> Option<S> {
        // One load keeps a stream of user messages from ever touching the system lane's lock.
        if self.state.load(Ordering::Acquire) & SYSTEM_QUEUED == 0 {
            return None;
        }
        self.pop_system_locked()
    }

    /// The slow path of [`pop_system`](Self::pop_system), out of line because control
    /// messages are rare.
    #[cold]
    fn pop_system_locked(&self) -> Option<S> {
        let mut system = self.system.lock();
        let msg = system.pop_front();
        if !system.is_empty() {
            return msg;
        }
        // Cleared under the lock, like the push sets it.
        self.state.fetch_and(!SYSTEM_QUEUED, Ordering::Relaxed);
        // An idle actor keeps no buffer for a lane that is usually empty; the buffer is freed
        // after the lock is released.
        let buffer = mem::take(&mut *system);
        drop(system);
        drop(buffer);
        msg
    }

    /// Takes the next user message.
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<(), u8> = Lanes::unbounded();
    /// lanes.try_push_user(1).unwrap();
    /// assert_eq!(lanes.pop_user(), Some(1));
    /// ```
    #[inline]
    pub fn pop_user(&self) -> Option<U> {
        with_user!(self, user => user.pop(), unallocated => None)
    }

    /// Polls for a message: `Ready` when either lane has one, else `Pending` with the
    /// consumer's waker registered so that the next push wakes it.
    ///
    /// `Ready` means a message was there when checked; the consumer then pops, and goes back
    /// to waiting if it finds nothing.
    /// Only the most recently registered waker is woken: there is one consumer.
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<(), u8> = Lanes::unbounded();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
    /// lanes.try_push_user(1).unwrap();
    /// assert_eq!(lanes.poll_ready(&mut cx), Poll::Ready(()));
    /// ```
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.has_message() {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // Pushes only wake a parked consumer. A push that leaves its in-flight count after
        // this sees the bit and wakes the waker registered above; one that left before is
        // ordered before this read-modify-write, so the check below sees its message.
        self.state.fetch_or(PARKED, Ordering::AcqRel);
        if self.has_message() {
            // Not parking after all: spare the next push a needless wake-up.
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Polls for a system message only: `Ready` when the system lane has one, else `Pending`
    /// with the consumer's waker registered.
    ///
    /// For a consumer that must leave user messages queued for a while (an actor suspended by
    /// its supervisor): a user push still wakes it, but this then parks again rather than
    /// reporting a message it will not take, so the consumer never spins.
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<char, u8> = Lanes::unbounded();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// lanes.try_push_user(1).unwrap();
    /// assert_eq!(lanes.poll_system_ready(&mut cx), Poll::Pending);
    /// lanes.push_system('s').unwrap();
    /// assert_eq!(lanes.poll_system_ready(&mut cx), Poll::Ready(()));
    /// ```
    pub fn poll_system_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.load(Ordering::Acquire) & SYSTEM_QUEUED != 0 {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // The same handshake as `poll_ready`: a system push sets its bit while counted in
        // flight, and wakes a parked consumer when it leaves the count.
        let state = self.state.fetch_or(PARKED, Ordering::AcqRel);
        if state & SYSTEM_QUEUED != 0 {
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Waits until the system lane has a message (see
    /// [`poll_system_ready`](Self::poll_system_ready)).
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let lanes: Lanes<char, u8> = Lanes::unbounded();
    /// lanes.try_push_user(1).unwrap();
    /// lanes.push_system('s').unwrap();
    /// lanes.system_ready().await;
    /// assert_eq!(lanes.pop_system(), Some('s'));
    /// # });
    /// ```
    pub fn system_ready(&self) -> impl Future<Output = ()> + Send + '_ {
        poll_fn(move |cx| self.poll_system_ready(cx))
    }

    /// Waits until either lane has a message (see [`poll_ready`](Self::poll_ready)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rakt_mailbox::Lanes;
    ///
    /// # tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap().block_on(async {
    /// let lanes: Arc<Lanes<(), u8>> = Arc::new(Lanes::unbounded());
    /// let producer = Arc::clone(&lanes);
    /// std::thread::spawn(move || producer.try_push_user(5).unwrap());
    /// let five = loop {
    ///     lanes.ready().await;
    ///     if let Some(five) = lanes.pop_user() {
    ///         break five;
    ///     }
    ///     // The push was seen claiming its slot, before it wrote it: yield, then wait again.
    ///     tokio::task::yield_now().await;
    /// };
    /// assert_eq!(five, 5);
    /// # });
    /// ```
    pub fn ready(&self) -> impl Future<Output = ()> + Send + '_ {
        poll_fn(move |cx| self.poll_ready(cx))
    }

    /// Closes the user lane: later user pushes fail with [`PushError::Closed`], and senders
    /// waiting for space are woken to fail the same way ([`Mailbox::close`]).
    ///
    /// Messages already queued stay poppable; drain them as the
    /// [module documentation](self#the-close-protocol) shows.
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<(), u8> = Lanes::unbounded();
    /// assert!(!lanes.is_user_closed());
    /// lanes.close_user();
    /// assert!(lanes.is_user_closed());
    /// ```
    pub fn close_user(&self) {
        // The mailbox closes first: a push that sees the bit then also sees a closed mailbox,
        // which is what lets a waiting `push_user` skip checking the bit on every poll.
        // Closing the default queue is a no-op (its senders never wait), so one that is not
        // allocated yet is left alone rather than allocated just to be closed.
        with_user!(self, user => user.close(), unallocated => ());
        self.state.fetch_or(USER_CLOSED, Ordering::AcqRel);
        // A consumer parked in `ready` gets a chance to notice the close.
        self.wake_parked();
    }

    /// Closes the system lane: later [`push_system`](Self::push_system) calls hand their
    /// message back.
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<u8, ()> = Lanes::unbounded();
    /// lanes.close_system();
    /// assert!(lanes.is_system_closed());
    /// assert_eq!(lanes.push_system(1), Err(1));
    /// ```
    pub fn close_system(&self) {
        self.state.fetch_or(SYSTEM_CLOSED, Ordering::AcqRel);
        self.wake_parked();
    }

    /// Whether [`close_user`](Self::close_user) was called.
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<(), ()> = Lanes::unbounded();
    /// assert!(!lanes.is_user_closed());
    /// ```
    pub fn is_user_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & USER_CLOSED != 0
    }

    /// Whether [`close_system`](Self::close_system) was called.
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<(), ()> = Lanes::unbounded();
    /// assert!(!lanes.is_system_closed());
    /// ```
    pub fn is_system_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & SYSTEM_CLOSED != 0
    }

    /// Whether no push, on either lane, is in flight right now.
    ///
    /// Together with a closed lane this means nothing more can enter that lane, and every
    /// message that did is visible to the consumer; see the
    /// [module documentation](self#the-close-protocol).
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<(), u8> = Lanes::unbounded();
    /// lanes.try_push_user(1).unwrap();
    /// assert!(lanes.is_quiescent());
    /// ```
    pub fn is_quiescent(&self) -> bool {
        self.state.load(Ordering::Acquire) < IN_FLIGHT
    }

    /// The number of queued user messages.
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<(), u8> = Lanes::unbounded();
    /// lanes.try_push_user(1).unwrap();
    /// assert_eq!(lanes.user_len(), 1);
    /// ```
    pub fn user_len(&self) -> usize {
        with_user!(self, user => user.len(), unallocated => 0)
    }

    /// The number of queued system messages.
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<u8, ()> = Lanes::unbounded();
    /// lanes.push_system(1).unwrap();
    /// assert_eq!(lanes.system_len(), 1);
    /// ```
    pub fn system_len(&self) -> usize {
        if self.state.load(Ordering::Acquire) & SYSTEM_QUEUED == 0 {
            // A push that has not set the bit yet is still in flight: it has not happened.
            return 0;
        }
        self.system.lock().len()
    }

    /// The user mailbox's capacity, or `None` when it is unbounded.
    ///
    /// ```
    /// use rakt_mailbox::Lanes;
    ///
    /// let lanes: Lanes<(), u8> = Lanes::unbounded();
    /// assert_eq!(lanes.user_capacity(), None);
    /// ```
    pub fn user_capacity(&self) -> Option<usize> {
        // The default queue is unbounded whether or not it is allocated yet.
        with_user!(self, user => user.capacity(), unallocated => None)
    }

    /// Whether the user mailbox makes senders wait when full; the default queue, allocated
    /// or not, is never full.
    fn user_waits_when_full(&self) -> bool {
        with_user!(self, user => user.waits_when_full(), unallocated => false)
    }

    #[inline]
    fn has_message(&self) -> bool {
        // A default queue found not yet allocated is empty, and that misses no message: a push
        // installs the queue before it enqueues, both before it leaves the in-flight count, so
        // the state word orders the installation before this check exactly as it orders the
        // enqueue (see the module documentation).
        self.state.load(Ordering::Acquire) & SYSTEM_QUEUED != 0
            || !with_user!(self, user => user.is_empty(), unallocated => true)
    }

    /// Wakes the consumer parked in [`poll_ready`](Self::poll_ready), if any; kept out of
    /// line because pushes to a busy consumer never get here.
    #[cold]
    fn wake_parked(&self) {
        self.state.fetch_and(!PARKED, Ordering::AcqRel);
        self.waker.wake();
    }
}

impl<S: Send, U: Send> Default for Lanes<S, U> {
    fn default() -> Self {
        Self::unbounded()
    }
}

impl<S, U> fmt::Debug for Lanes<S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.load(Ordering::Acquire);
        let user: &dyn fmt::Debug = match &self.user {
            UserLane::Unbounded(queue) => match queue.get() {
                Some(user) => user,
                None => &UnallocatedQueue,
            },
            UserLane::Custom(user) => user,
        };
        f.debug_struct("Lanes")
            .field("system_len", &self.system.lock().len())
            .field("user", user)
            .field("user_closed", &(state & USER_CLOSED != 0))
            .field("system_closed", &(state & SYSTEM_CLOSED != 0))
            .field("in_flight", &(state / IN_FLIGHT))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::task::{Wake, Waker};
    use std::thread::{self, Thread};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{BoundedMailbox, NonBlockingBoundedMailbox, PriorityMailbox};

    const DEADLINE: Duration = Duration::from_secs(20);

    /// A waker that counts how often it was woken.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A waker that unparks a consumer thread and notes that it did.
    struct ThreadWaker {
        thread: Thread,
        woken: AtomicBool,
    }

    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.woken.store(true, Ordering::SeqCst);
            self.thread.unpark();
        }
    }

    fn assert_send<T: Send>(_: &T) {}

    fn assert_send_sync<T: Send + Sync>() {}

    fn system_queued<S: Send, U: Send>(lanes: &Lanes<S, U>) -> bool {
        lanes.state.load(Ordering::SeqCst) & SYSTEM_QUEUED != 0
    }

    fn default_queue_allocated<S: Send, U: Send>(lanes: &Lanes<S, U>) -> bool {
        match &lanes.user {
            UserLane::Unbounded(queue) => queue.get().is_some(),
            UserLane::Custom(_) => panic!("the lanes have a custom user lane"),
        }
    }

    #[test]
    fn default_queue_is_allocated_by_the_first_user_push() {
        let lanes: Lanes<u32, u32> = Lanes::unbounded();
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        // Every consumer-side call sees an empty lane and leaves it unallocated.
        assert_eq!(lanes.pop(), None);
        assert_eq!(lanes.pop_user(), None);
        assert_eq!(lanes.user_len(), 0);
        assert_eq!(lanes.user_capacity(), None);
        assert!(lanes.is_quiescent());
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        let text = format!("{lanes:?}");
        assert!(
            text.starts_with("Lanes { system_len: 0, user: UnboundedMailbox { len: 0 }"),
            "{text}"
        );
        // System traffic does not need the user queue either.
        lanes.push_system(1).unwrap();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(lanes.pop(), Some(Next::System(1)));
        assert!(!default_queue_allocated(&lanes));

        // The first user push allocates the queue and still wakes the parked consumer.
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        lanes.try_push_user(2).unwrap();
        assert!(default_queue_allocated(&lanes));
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
        assert!(lanes.is_quiescent());
        assert_eq!(lanes.user_len(), 1);
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Ready(()));
        assert_eq!(lanes.pop(), Some(Next::User(2)));
        // The queue stays: later pushes go to the same one.
        lanes.try_push_user(3).unwrap();
        assert_eq!(lanes.pop_user(), Some(3));
        assert!(default_queue_allocated(&lanes));
    }

    #[test]
    fn first_push_user_allocates_the_default_queue_too() {
        let lanes: Lanes<(), u32> = Lanes::unbounded();
        let mut cx = Context::from_waker(Waker::noop());
        let mut push = std::pin::pin!(lanes.push_user(1));
        assert_eq!(push.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        assert!(default_queue_allocated(&lanes));
        assert_eq!(lanes.pop_user(), Some(1));
    }

    #[test]
    fn close_before_the_first_push_allocates_no_queue() {
        let lanes: Lanes<(), u32> = Lanes::unbounded();
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        lanes.close_user();
        assert!(lanes.is_user_closed());
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        // Refused pushes, waiting or not, neither allocate nor wake anybody.
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        assert_eq!(lanes.try_push_user(1), Err(PushError::Closed(1)));
        let mut push = std::pin::pin!(lanes.push_user(2));
        assert_eq!(
            push.as_mut().poll(&mut cx),
            Poll::Ready(Err(PushError::Closed(2)))
        );
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(!default_queue_allocated(&lanes));
        // A drain finishes at once: nothing is in flight and the lane is empty.
        assert!(lanes.is_quiescent());
        assert_eq!(lanes.user_len(), 0);
        assert_eq!(lanes.pop(), None);
        assert!(!default_queue_allocated(&lanes));
    }

    #[test]
    fn system_before_user_even_when_user_filled_first() {
        let lanes: Lanes<u32, u32> = Lanes::unbounded();
        for n in 0..5 {
            lanes.try_push_user(n).unwrap();
        }
        lanes.push_system(100).unwrap();
        lanes.push_system(101).unwrap();
        assert_eq!(lanes.system_len(), 2);
        assert_eq!(lanes.user_len(), 5);
        assert_eq!(lanes.pop(), Some(Next::System(100)));
        assert_eq!(lanes.pop(), Some(Next::System(101)));
        assert_eq!(lanes.pop(), Some(Next::User(0)));
        // A system message arriving mid-stream still overtakes the queued user messages.
        lanes.push_system(102).unwrap();
        assert_eq!(lanes.pop(), Some(Next::System(102)));
        let rest: Vec<_> = std::iter::from_fn(|| lanes.pop()).collect();
        assert_eq!(rest, (1..5).map(Next::User).collect::<Vec<_>>());
    }

    #[test]
    fn system_before_user_with_a_custom_user_lane() {
        let user = NonBlockingBoundedMailbox::new(4).unwrap();
        let lanes: Lanes<u32, u32> = Lanes::new(Box::new(user));
        lanes.try_push_user(1).unwrap();
        lanes.push_system(10).unwrap();
        lanes.try_push_user(2).unwrap();
        lanes.push_system(11).unwrap();
        assert_eq!(lanes.pop(), Some(Next::System(10)));
        assert_eq!(lanes.pop(), Some(Next::System(11)));
        assert_eq!(lanes.pop(), Some(Next::User(1)));
        // The system lane was drained and emptied; a new message still goes first.
        lanes.push_system(12).unwrap();
        assert_eq!(lanes.pop(), Some(Next::System(12)));
        assert_eq!(lanes.pop(), Some(Next::User(2)));
        assert_eq!(lanes.pop(), None);
    }

    #[test]
    fn system_queued_bit_follows_the_system_lane() {
        let lanes: Lanes<u32, u32> = Lanes::unbounded();
        assert!(!system_queued(&lanes));
        lanes.push_system(1).unwrap();
        lanes.push_system(2).unwrap();
        assert!(system_queued(&lanes));
        assert_eq!(lanes.system_len(), 2);
        assert_eq!(lanes.pop_system(), Some(1));
        assert!(system_queued(&lanes));
        assert_eq!(lanes.pop_system(), Some(2));
        assert!(!system_queued(&lanes));
        assert_eq!(lanes.system_len(), 0);
        assert_eq!(lanes.pop_system(), None);
        // A drained system lane keeps no buffer, and the state word is back to zero.
        assert_eq!(lanes.system.lock().capacity(), 0);
        assert_eq!(lanes.state.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn empty_system_lane_is_skipped_without_its_lock() {
        let lanes: Lanes<u32, u32> = Lanes::unbounded();
        lanes.try_push_user(1).unwrap();
        // Any path that took the system lane's lock would deadlock while this is held.
        let guard = lanes.system.lock();
        assert_eq!(lanes.system_len(), 0);
        assert_eq!(lanes.pop(), Some(Next::User(1)));
        assert_eq!(lanes.pop(), None);
        assert_eq!(lanes.pop_system(), None);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        drop(guard);
    }

    #[test]
    fn system_pushes_are_refused_after_close_system() {
        let lanes: Lanes<u32, u32> = Lanes::unbounded();
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        lanes.push_system(1).unwrap();
        lanes.close_system();
        assert_eq!(lanes.push_system(2), Err(2));
        assert!(lanes.is_quiescent());
        // What was queued before the close stays poppable, and nothing after it got in.
        assert_eq!(lanes.system_len(), 1);
        assert_eq!(lanes.pop(), Some(Next::System(1)));
        assert_eq!(lanes.pop(), None);
        // A refused system push neither queues nor wakes a parked consumer.
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        assert_eq!(lanes.push_system(3), Err(3));
        assert!(!system_queued(&lanes));
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
        assert!(lanes.is_quiescent());
        // The user lane is still open and still wakes the consumer.
        lanes.try_push_user(4).unwrap();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(lanes.pop(), Some(Next::User(4)));
    }

    /// The consumer thread parks over and over while another thread pushes one system message
    /// per round, at varying delays, so pushes land before, during and after the consumer
    /// parks. Every round must end with a wake-up well within the deadline.
    #[test]
    fn parked_consumer_is_woken_by_system_pushes_from_another_thread() {
        const ROUNDS: u32 = 1_000;
        let deadline = Instant::now() + DEADLINE;
        let lanes: Arc<Lanes<u32, ()>> = Arc::new(Lanes::unbounded());
        let (go, rounds) = std::sync::mpsc::channel::<u32>();
        let producer = thread::spawn({
            let lanes = Arc::clone(&lanes);
            move || {
                for round in rounds {
                    match round % 4 {
                        0 => {}
                        1 => thread::yield_now(),
                        2 => thread::sleep(Duration::from_micros(50)),
                        _ => thread::sleep(Duration::from_millis(1)),
                    }
                    lanes.push_system(round).unwrap();
                }
            }
        });
        let waker = Arc::new(ThreadWaker {
            thread: thread::current(),
            woken: AtomicBool::new(false),
        });
        let std_waker = Waker::from(Arc::clone(&waker));
        let mut cx = Context::from_waker(&std_waker);
        let mut parked_rounds = 0;
        for round in 0..ROUNDS {
            go.send(round).unwrap();
            let mut parked = false;
            loop {
                waker.woken.store(false, Ordering::SeqCst);
                if lanes.poll_ready(&mut cx).is_ready() {
                    break;
                }
                parked = true;
                while !waker.woken.load(Ordering::SeqCst) {
                    assert!(
                        Instant::now() < deadline,
                        "round {round}: the parked consumer was never woken"
                    );
                    thread::park_timeout(Duration::from_millis(10));
                }
            }
            parked_rounds += usize::from(parked);
            assert_eq!(lanes.pop(), Some(Next::System(round)));
            assert_eq!(lanes.pop(), None);
        }
        drop(go);
        producer.join().unwrap();
        // The slow rounds leave the consumer parked long before the push arrives.
        assert!(parked_rounds > 0, "no round exercised the parked path");
        assert!(lanes.is_quiescent());
    }

    #[test]
    fn lanes_are_send_and_sync_for_send_messages() {
        // `Cell` is `Send` but not `Sync`: a mailbox only ever moves messages between threads.
        assert_send_sync::<Lanes<Cell<u8>, Cell<u8>>>();
    }

    #[test]
    fn lanes_are_not_over_aligned() {
        // An over-aligned `Lanes` would pad every actor cell that embeds it.
        assert_eq!(align_of::<Lanes<u8, u8>>(), align_of::<usize>());
        // Messages are never stored inline, so their alignment does not matter either.
        assert_eq!(align_of::<Lanes<u128, [u64; 6]>>(), align_of::<usize>());
    }

    #[test]
    fn user_lane_discipline_is_respected() {
        let lanes: Lanes<(), u32> = Lanes::new(Box::new(PriorityMailbox::new(u32::cmp)));
        for n in [2, 9, 4] {
            lanes.try_push_user(n).unwrap();
        }
        assert_eq!(lanes.pop_user(), Some(9));
        assert_eq!(lanes.pop_user(), Some(4));
        assert_eq!(lanes.pop_user(), Some(2));
    }

    #[test]
    fn full_non_waiting_lane_hands_back_at_once() {
        let user = NonBlockingBoundedMailbox::new(1).unwrap();
        let lanes: Lanes<(), u32> = Lanes::new(Box::new(user));
        lanes.try_push_user(1).unwrap();
        assert_eq!(lanes.try_push_user(2), Err(PushError::Full(2)));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // `push_user` does not wait on a mailbox that does not make senders wait.
        assert_eq!(rt.block_on(lanes.push_user(3)), Err(PushError::Full(3)));
        assert!(lanes.is_quiescent());
    }

    #[test]
    fn closing_each_lane_is_independent() {
        let lanes: Lanes<u32, u32> = Lanes::unbounded();
        lanes.close_user();
        assert!(lanes.is_user_closed() && !lanes.is_system_closed());
        assert_eq!(lanes.try_push_user(1), Err(PushError::Closed(1)));
        lanes.push_system(2).unwrap();
        lanes.close_system();
        assert!(lanes.is_system_closed());
        assert_eq!(lanes.push_system(3), Err(3));
        assert_eq!(lanes.pop(), Some(Next::System(2)));
        assert_eq!(lanes.pop(), None);
        assert!(lanes.is_quiescent());
    }

    #[test]
    fn every_push_wakes_the_registered_consumer() {
        let lanes: Lanes<u32, u32> = Lanes::unbounded();
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        lanes.try_push_user(1).unwrap();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Ready(()));
        lanes.pop().unwrap();
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        lanes.push_system(1).unwrap();
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
        lanes.pop().unwrap();
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        // Closing wakes a parked consumer so it can notice.
        lanes.close_user();
        assert_eq!(counter.0.load(Ordering::SeqCst), 3);
        // A refused push wakes nobody.
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        assert!(lanes.try_push_user(2).is_err());
        assert_eq!(counter.0.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn pushes_to_a_busy_consumer_skip_the_waker() {
        let lanes: Lanes<u32, u32> = Lanes::unbounded();
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        lanes.try_push_user(1).unwrap();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(lanes.state.load(Ordering::SeqCst) & PARKED, 0);
        // The consumer has not parked again: these pushes leave the waker alone.
        for n in 2..10 {
            lanes.try_push_user(n).unwrap();
            lanes.push_system(n).unwrap();
        }
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Ready(()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_push_user_wakes_consumer_when_space_frees() {
        let user = BoundedMailbox::new(1, DEADLINE).unwrap();
        let lanes: Arc<Lanes<(), u32>> = Arc::new(Lanes::new(Box::new(user)));
        lanes.push_user(1).await.unwrap();
        let sender = tokio::spawn({
            let lanes = Arc::clone(&lanes);
            async move { lanes.push_user(2).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!sender.is_finished());
        // Waiting does not count as in flight, so a draining consumer is never blocked by it.
        assert!(lanes.is_quiescent());
        assert_eq!(lanes.pop_user(), Some(1));
        tokio::time::timeout(DEADLINE, lanes.ready()).await.unwrap();
        assert_eq!(lanes.pop_user(), Some(2));
        assert_eq!(sender.await.unwrap(), Ok(()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_user_hands_waiting_senders_closed() {
        let user = BoundedMailbox::new(1, DEADLINE).unwrap();
        let lanes: Arc<Lanes<(), u32>> = Arc::new(Lanes::new(Box::new(user)));
        lanes.push_user(0).await.unwrap();
        let senders: Vec<_> = (1..=4)
            .map(|n| {
                let lanes = Arc::clone(&lanes);
                tokio::spawn(async move { lanes.push_user(n).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(30)).await;
        lanes.close_user();
        for (n, sender) in (1..=4).zip(senders) {
            let result = tokio::time::timeout(DEADLINE, sender)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(result, Err(PushError::Closed(n)));
        }
        assert!(lanes.is_quiescent());
        assert_eq!(lanes.pop_user(), Some(0));
        assert_eq!(lanes.pop_user(), None);
    }

    #[test]
    fn futures_are_send() {
        let lanes: Lanes<u32, u32> = Lanes::unbounded();
        assert_send(&lanes.push_user(1));
        assert_send(&lanes.ready());
    }

    #[test]
    fn quiescence_waits_for_a_push_in_flight() {
        let lanes: Lanes<(), u32> = Lanes::unbounded();
        let in_flight = InFlight::enter(&lanes);
        assert!(!lanes.is_quiescent());
        drop(in_flight);
        assert!(lanes.is_quiescent());
    }

    #[test]
    fn ready_resolves_across_threads() {
        let lanes: Arc<Lanes<(), u32>> = Arc::new(Lanes::unbounded());
        let producer = std::thread::spawn({
            let lanes = Arc::clone(&lanes);
            move || {
                std::thread::sleep(Duration::from_millis(20));
                lanes.try_push_user(7).unwrap();
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let start = Instant::now();
        let popped = rt
            .block_on(async {
                tokio::time::timeout(DEADLINE, async {
                    loop {
                        lanes.ready().await;
                        if let Some(popped) = lanes.pop_user() {
                            break popped;
                        }
                        // The push was seen claiming its slot, before it wrote it.
                        tokio::task::yield_now().await;
                    }
                })
                .await
            })
            .unwrap();
        assert!(start.elapsed() < DEADLINE);
        assert_eq!(popped, 7);
        producer.join().unwrap();
    }

    #[test]
    fn debug_needs_no_message_debug() {
        struct Opaque;
        let lanes: Lanes<Opaque, Opaque> = Lanes::unbounded();
        lanes.push_system(Opaque).unwrap_or_else(|_| unreachable!());
        let text = format!("{lanes:?}");
        assert!(
            text.starts_with("Lanes { system_len: 1, user: UnboundedMailbox"),
            "{text}"
        );
    }
}

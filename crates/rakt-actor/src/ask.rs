//! Asks: a reply slot shared by asker and responder, and one deadline task per system.
//!
//! A tokio timer per ask would be the simple design, but it costs as much as the whole round
//! trip of a local ask: arming and cancelling a timer takes the timer wheel's lock and reads the
//! clock, and arming one into an empty wheel wakes a parked runtime thread. Nearly every local
//! ask is answered within microseconds, long before any deadline, so the timer is almost always
//! wasted.
//!
//! Here an ask registers its slot with the system's [`AskDeadlines`] instead: one lock-free
//! push. A single task per system drains new registrations every [`DRAIN_INTERVAL`], drops those
//! already answered (nearly all of them), keeps the rest ordered by deadline, and sleeps exactly
//! until the earliest one, so a timeout fires on time, not on a tick. An ask whose deadline is
//! earlier than the task's next wake-up nudges it.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering, fence};
use std::task::{Context, Poll};
use std::time::Duration;

use crossbeam_queue::SegQueue;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::AskError;
use crate::payload::Payload;

/// How often the deadline task takes in new registrations while asks are in flight.
pub(crate) const DRAIN_INTERVAL: Duration = Duration::from_millis(10);

/// The deadline task compacts its heap when it holds more answered entries than this.
const COMPACT_ABOVE: usize = 4096;

const PENDING: u8 = 0;
const REPLIED: u8 = 1;
const TIMED_OUT: u8 = 2;
/// The responder let go of the question without answering.
const DROPPED: u8 = 3;
/// The asker stopped waiting.
const ABANDONED: u8 = 4;

/// What an asker can receive.
pub(crate) type Reply = Result<Payload, AskError>;

/// The state one ask shares between its asker, its responder and the deadline task. Every
/// state change happens under `reply`'s lock, so exactly one of them decides the outcome.
pub(crate) struct AskSlot {
    state: AtomicU8,
    reply: Mutex<Option<Reply>>,
    waker: AtomicWaker,
    deadline: Instant,
}

impl AskSlot {
    fn new(deadline: Instant) -> Self {
        Self {
            state: AtomicU8::new(PENDING),
            reply: Mutex::new(None),
            waker: AtomicWaker::new(),
            deadline,
        }
    }

    fn is_pending(&self) -> bool {
        self.state.load(Ordering::Acquire) == PENDING
    }

    /// Decides a pending ask with `reply`; hands the reply back when the outcome was already
    /// decided.
    fn answer(&self, reply: Reply) -> Result<(), Reply> {
        let mut guard = self.reply.lock();
        if self.state.load(Ordering::Acquire) != PENDING {
            return Err(reply);
        }
        *guard = Some(reply);
        self.state.store(REPLIED, Ordering::Release);
        drop(guard);
        self.waker.wake();
        Ok(())
    }

    /// Decides a pending ask without a reply (`TIMED_OUT`, `DROPPED`, `ABANDONED`); does
    /// nothing when the outcome was already decided.
    fn end(&self, state: u8) {
        let guard = self.reply.lock();
        if self.state.load(Ordering::Acquire) != PENDING {
            return;
        }
        self.state.store(state, Ordering::Release);
        drop(guard);
        self.waker.wake();
    }
}

/// The responder's side of an ask, carried in the envelope. Dropping it unanswered tells the
/// asker at once ([`AskError::NoReply`]).
pub(crate) struct ReplyTo {
    slot: Arc<AskSlot>,
}

impl ReplyTo {
    /// Answers the ask; hands the reply back when the asker has stopped waiting.
    pub(crate) fn send(self, reply: Reply) -> Result<(), Reply> {
        self.slot.answer(reply)
    }

    /// Whether nobody waits for the answer any more.
    pub(crate) fn is_closed(&self) -> bool {
        !self.slot.is_pending()
    }

    /// How long the asker still waits.
    pub(crate) fn time_left(&self) -> Duration {
        self.slot.deadline.saturating_duration_since(Instant::now())
    }
}

impl Drop for ReplyTo {
    fn drop(&mut self) {
        // After `send`, or once timed out or abandoned, the outcome stands: one load skips the
        // lock. Only a question let go unanswered gets here pending.
        if self.slot.is_pending() {
            self.slot.end(DROPPED);
        }
    }
}

impl fmt::Debug for ReplyTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyTo")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// How an ask ended, seen from the asker.
#[derive(Debug)]
pub(crate) enum Outcome {
    Replied(Reply),
    TimedOut,
    NoReply,
}

/// The asker's side of an ask: resolves when the ask is answered, dropped or timed out.
/// Dropping it abandons the ask, so the responder can skip the question.
pub(crate) struct AskWait {
    slot: Arc<AskSlot>,
}

impl Future for AskWait {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let slot = &self.slot;
        if slot.is_pending() {
            // Register, then look again: a decision made after that look wakes this waker,
            // and one made before it is seen. No lock is taken while the ask is pending.
            slot.waker.register(cx.waker());
            if slot.is_pending() {
                return Poll::Pending;
            }
        }
        // Decided, so the state no longer changes; the lock is only needed to take the reply.
        match slot.state.load(Ordering::Acquire) {
            REPLIED => match slot.reply.lock().take() {
                Some(reply) => Poll::Ready(Outcome::Replied(reply)),
                // Taken by an earlier poll that returned it: a future is not polled after
                // completion, so this is only reached by misuse.
                None => Poll::Ready(Outcome::NoReply),
            },
            TIMED_OUT => Poll::Ready(Outcome::TimedOut),
            _ => Poll::Ready(Outcome::NoReply),
        }
    }
}

impl AskWait {
    /// The outcome, once decided; `None` while pending. Takes the reply.
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        let slot = &self.slot;
        if slot.is_pending() {
            return None;
        }
        Some(match slot.state.load(Ordering::Acquire) {
            REPLIED => match slot.reply.lock().take() {
                Some(reply) => Outcome::Replied(reply),
                None => Outcome::NoReply,
            },
            TIMED_OUT => Outcome::TimedOut,
            _ => Outcome::NoReply,
        })
    }

    /// Makes the decision wake `waker` instead of a polling future. A decision made before
    /// may not wake it: look at [`is_decided`](Self::is_decided) afterwards.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.slot.waker.register(waker);
    }

    /// Whether the ask is decided.
    pub(crate) fn is_decided(&self) -> bool {
        !self.slot.is_pending()
    }
}

impl Drop for AskWait {
    fn drop(&mut self) {
        // If still pending, the asker gives up; otherwise the outcome stands, and one load
        // skips the lock.
        if self.slot.is_pending() {
            self.slot.end(ABANDONED);
        }
    }
}

impl fmt::Debug for AskWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AskWait")
            .field("state", &self.slot.state.load(Ordering::Relaxed))
            .finish()
    }
}

/// The instant `timeout` from now; a timeout too long to add (such as `Duration::MAX`) means
/// about thirty years, as tokio's own timeouts do, rather than a panic.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    later(Instant::now(), timeout)
}

/// `at + by`, or thirty years after `at` when the sum overflows tokio's `Instant` (which
/// panics): the one guard every deadline of the runtime goes through.
pub(crate) fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by)
        .unwrap_or_else(|| at + Duration::from_secs(86_400 * 365 * 30))
}

/// The deadlines of one system's asks, watched by one task.
pub(crate) struct AskDeadlines {
    incoming: SegQueue<Arc<AskSlot>>,
    closed: AtomicBool,
    /// When the task will next look, in nanoseconds since `base`; `u64::MAX` while idle.
    wake_at: AtomicU64,
    idle: AtomicBool,
    nudge: Notify,
    base: Instant,
}

impl AskDeadlines {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            incoming: SegQueue::new(),
            closed: AtomicBool::new(false),
            wake_at: AtomicU64::new(u64::MAX),
            idle: AtomicBool::new(true),
            nudge: Notify::new(),
            base: Instant::now(),
        })
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Starts an ask due at `deadline`: the responder's and the asker's sides.
    pub(crate) fn start(&self, timeout: Duration) -> (ReplyTo, AskWait) {
        let deadline = deadline_after(timeout);
        let slot = Arc::new(AskSlot::new(deadline));
        self.incoming.push(slot.clone());
        // Pairs with the fence in `run` before it goes idle: either this sees the task idle and
        // nudges it, or the task sees this registration and does not go to sleep.
        fence(Ordering::SeqCst);
        let due = self.nanos(deadline);
        if due < self.wake_at.load(Ordering::Relaxed) || self.idle.load(Ordering::Relaxed) {
            self.nudge.notify_one();
        }
        (ReplyTo { slot: slot.clone() }, AskWait { slot })
    }

    /// Ends the task; asks still pending then time out at once.
    pub(crate) fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        self.nudge.notify_one();
    }

    /// The task, until [`AskDeadlines::shutdown`].
    pub(crate) async fn run(self: Arc<Self>) {
        let mut heap: BinaryHeap<Due> = BinaryHeap::new();
        let mut compact_at = COMPACT_ABOVE;
        loop {
            if self.closed.load(Ordering::Acquire) {
                break;
            }
            let mut registered = false;
            while let Some(slot) = self.incoming.pop() {
                registered = true;
                if slot.is_pending() {
                    heap.push(Due(slot));
                }
            }
            let now = Instant::now();
            while let Some(Due(slot)) = heap.peek() {
                if !slot.is_pending() {
                    heap.pop();
                } else if slot.deadline <= now {
                    // Answered in the meantime is fine: then this does nothing.
                    slot.end(TIMED_OUT);
                    heap.pop();
                } else {
                    break;
                }
            }
            if heap.len() > compact_at {
                heap.retain(|Due(slot)| slot.is_pending());
                compact_at = (heap.len() * 2).max(COMPACT_ABOVE);
            }
            let nudged = self.nudge.notified();
            tokio::pin!(nudged);
            nudged.as_mut().enable();
            match heap.peek() {
                // Idle only after a whole drain interval without a registration: a steady
                // stream of quickly answered asks never has to nudge a sleeping task.
                None if !registered && self.incoming.is_empty() => {
                    self.idle.store(true, Ordering::Relaxed);
                    self.wake_at.store(u64::MAX, Ordering::Relaxed);
                    // Pairs with the fence in `start`: a registration that came in between
                    // the drain and the flag is seen here, or it sees the flag and nudges.
                    fence(Ordering::SeqCst);
                    if self.incoming.is_empty() {
                        nudged.await;
                    }
                    self.idle.store(false, Ordering::Relaxed);
                }
                next => {
                    let drain = Instant::now() + DRAIN_INTERVAL;
                    let wake = next.map_or(drain, |Due(slot)| slot.deadline.min(drain));
                    self.wake_at.store(self.nanos(wake), Ordering::Relaxed);
                    // As above: a registration due before `wake` either is seen at the next
                    // drain in time, or sees this `wake_at` and nudges.
                    fence(Ordering::SeqCst);
                    if !self.incoming.is_empty() {
                        // Registered after the drain but before `wake_at` was stored, so it may
                        // have read an old `wake_at` and not nudged: look at it now.
                        continue;
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(wake) => {}
                        () = &mut nudged => {}
                    }
                }
            }
        }
        // The system is gone: end what is left rather than leave askers waiting.
        while let Some(slot) = self.incoming.pop() {
            slot.end(TIMED_OUT);
        }
        for Due(slot) in heap {
            slot.end(TIMED_OUT);
        }
    }
}

/// A heap entry: the earliest deadline first.
struct Due(Arc<AskSlot>);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.0.deadline == other.0.deadline
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.0.deadline.cmp(&self.0.deadline)
    }
}

impl fmt::Debug for AskDeadlines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AskDeadlines")
            .field("idle", &self.idle.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {

    use rakt_proto::v1::StatusFailure;

    use super::*;

    fn reply(text: &str) -> Reply {
        Ok(Payload::new(StatusFailure { error: text.into() }))
    }

    fn text(outcome: Outcome) -> String {
        match outcome {
            Outcome::Replied(Ok(payload)) => payload
                .take::<StatusFailure>()
                .map(|m| m.error)
                .unwrap_or_default(),
            other => format!("{other:?}"),
        }
    }

    async fn deadlines() -> Arc<AskDeadlines> {
        let deadlines = AskDeadlines::new();
        tokio::spawn(deadlines.clone().run());
        deadlines
    }

    #[test]
    fn a_reply_handle_is_one_pointer() {
        // It travels in every envelope: `Option<ReplyTo>` must stay one word.
        assert_eq!(size_of::<Option<ReplyTo>>(), size_of::<usize>());
    }

    #[tokio::test]
    async fn a_reply_reaches_the_asker() {
        let deadlines = deadlines().await;
        let (reply_to, wait) = deadlines.start(Duration::from_secs(5));
        assert!(!reply_to.is_closed());
        reply_to.send(reply("pong")).expect("the asker waits");
        assert_eq!(text(wait.await), "pong");
    }

    #[tokio::test]
    async fn an_unanswered_question_is_no_reply_at_once() {
        let deadlines = deadlines().await;
        let (reply_to, wait) = deadlines.start(Duration::from_secs(5));
        drop(reply_to);
        assert!(matches!(wait.await, Outcome::NoReply));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_fires_on_time_and_a_late_reply_comes_back() {
        let deadlines = deadlines().await;
        let (reply_to, wait) = deadlines.start(Duration::from_millis(250));
        let started = Instant::now();
        assert!(matches!(wait.await, Outcome::TimedOut));
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_millis(260),
            "{waited:?}"
        );
        assert!(reply_to.is_closed());
        let late = reply_to.send(reply("late")).expect_err("nobody waits");
        assert!(late.is_ok(), "the late reply is handed back whole");
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_deadline_registered_while_the_task_sleeps_long_still_fires_on_time() {
        let deadlines = deadlines().await;
        let (_slow_reply, slow) = deadlines.start(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(3)).await;
        let (_fast_reply, fast) = deadlines.start(Duration::from_millis(20));
        let started = Instant::now();
        assert!(matches!(fast.await, Outcome::TimedOut));
        assert!(
            started.elapsed() < Duration::from_millis(25),
            "{:?}",
            started.elapsed()
        );
        drop(slow);
    }

    #[tokio::test]
    async fn an_abandoned_ask_is_closed_for_the_responder() {
        let deadlines = deadlines().await;
        let (reply_to, wait) = deadlines.start(Duration::from_secs(5));
        drop(wait);
        assert!(reply_to.is_closed());
        assert!(reply_to.send(reply("x")).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_replies_and_deadlines_decide_each_ask_exactly_once() {
        let deadlines = deadlines().await;
        let mut responders = Vec::new();
        let mut askers = Vec::new();
        for n in 0..2_000u64 {
            let (reply_to, wait) = deadlines.start(Duration::from_micros(20 + n % 300));
            responders.push(tokio::spawn(async move {
                if n % 2 == 0 {
                    tokio::task::yield_now().await;
                }
                u32::from(reply_to.send(reply("r")).is_ok())
            }));
            askers.push(tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), wait).await {
                    Ok(Outcome::Replied(_)) => 1u32,
                    Ok(Outcome::TimedOut) => 0,
                    Ok(Outcome::NoReply) => panic!("the responder always answers"),
                    Err(_) => panic!("an ask was never decided"),
                }
            }));
        }
        let mut accepted = 0;
        for responder in responders {
            accepted += responder.await.expect("responder");
        }
        let mut received = 0;
        for asker in askers {
            received += asker.await.expect("asker");
        }
        // A reply is accepted exactly when its asker receives it; the rest timed out.
        assert_eq!(accepted, received);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn asks_started_as_the_task_goes_idle_still_time_out() {
        let deadlines = deadlines().await;
        for round in 0..60u64 {
            // Around one drain interval apart, so that registrations race the task going idle.
            let pause = DRAIN_INTERVAL + Duration::from_micros(round * 37 % 900);
            tokio::time::sleep(pause).await;
            let (reply_to, wait) = deadlines.start(Duration::from_millis(1));
            let outcome = tokio::time::timeout(Duration::from_secs(2), wait).await;
            assert!(
                matches!(outcome, Ok(Outcome::TimedOut)),
                "round {round}: {outcome:?}"
            );
            drop(reply_to);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn answered_asks_do_not_pile_up_in_the_task() {
        let deadlines = deadlines().await;
        for _ in 0..20_000 {
            let (reply_to, wait) = deadlines.start(Duration::from_secs(60));
            tokio::time::sleep(Duration::from_micros(5)).await;
            reply_to.send(reply("r")).expect("waiting");
            drop(wait);
        }
        tokio::time::sleep(DRAIN_INTERVAL * 3).await;
        assert!(
            deadlines.incoming.is_empty(),
            "the task drained its registrations"
        );
    }
}

//! The scheduler: messages delivered to actors later, at an interval, or on a cron expression.
//!
//! One task per system serves every schedule from a single timer heap, so a hundred thousand
//! pending schedules cost a hundred thousand heap entries and one timer, not a task each.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::ask::later;
use crate::cell::Envelope;
use crate::cron::{CronError, CronExpr};
use crate::error::SendError;
use crate::message::Message;
use crate::payload::Payload;
use crate::pid::Pid;

/// The wall clock that cron schedules are computed with.
///
/// [`Clock::system`] reads the machine's clock. [`Clock::manual`] starts at a given instant
/// when the system is built and then advances with tokio's clock, so that a test which pauses
/// tokio's time (`#[tokio::test(start_paused = true)]`, `tokio::time::advance`) decides what
/// time it is, and can check that a cron schedule fires at the right instants without waiting
/// for them.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use rakt_actor::{ActorSystem, Clock};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let new_year = UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01T00:00:00Z
/// let system = ActorSystem::builder("tests").clock(Clock::manual(new_year)).build()?;
/// assert!(system.now() >= new_year);
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clock {
    start: Option<SystemTime>,
}

impl Clock {
    /// The machine's clock; the default.
    pub fn system() -> Self {
        Self { start: None }
    }

    /// A clock that reads `start` when the system is built and advances with tokio's clock.
    pub fn manual(start: SystemTime) -> Self {
        Self { start: Some(start) }
    }
}

/// A [`Clock`] running: a manual clock anchored to tokio's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    anchor: Option<(SystemTime, Instant)>,
}

impl WallClock {
    /// Starts `clock`; must run inside the runtime whose clock a manual clock follows.
    pub(crate) fn start(clock: Clock) -> Self {
        Self {
            anchor: clock.start.map(|start| (start, Instant::now())),
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        match self.anchor {
            None => SystemTime::now(),
            Some((start, at)) => start + at.elapsed(),
        }
    }
}

/// What a schedule delivers and when.
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::ScheduleKind;
///
/// let kind = ScheduleKind::Interval { every: Duration::from_secs(5) };
/// assert_eq!(kind.to_string(), "every 5s");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScheduleKind {
    /// Once, after a delay.
    Once {
        /// The delay from scheduling.
        delay: Duration,
    },
    /// Repeatedly, first after one interval.
    Interval {
        /// The interval.
        every: Duration,
    },
    /// At every instant a cron expression matches.
    Cron {
        /// The expression.
        expression: CronExpr,
    },
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Once { delay } => write!(f, "once after {delay:?}"),
            Self::Interval { every } => write!(f, "every {every:?}"),
            Self::Cron { expression } => write!(f, "cron {expression}"),
        }
    }
}

/// Why a schedule could not be made or changed.
///
/// ```
/// use rakt_actor::ScheduleError;
///
/// assert_eq!(ScheduleError::NotFound { id: 7 }.to_string(), "no schedule 7: it was cancelled or has finished");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// An interval of zero.
    #[error("the interval must be greater than zero")]
    ZeroInterval,
    /// The cron expression does not parse.
    #[error(transparent)]
    InvalidCron(#[from] CronError),
    /// The cron expression matches no instant after now.
    #[error("cron expression {expression:?} never fires again")]
    NeverFires {
        /// The expression.
        expression: String,
    },
    /// The target actor has stopped.
    #[error("actor {name:?} is not running")]
    TargetStopped {
        /// The target's name.
        name: String,
    },
    /// The actor system is stopping or stopped.
    #[error("the actor system is not running")]
    SystemStopped,
    /// The schedule was cancelled, or has finished: a one-off that fired, a cron schedule with
    /// no instant left, or any schedule whose target stopped.
    #[error("no schedule {id}: it was cancelled or has finished")]
    NotFound {
        /// The schedule's id.
        id: u64,
    },
}

/// A schedule as [`ActorSystem::schedules`](crate::ActorSystem::schedules) lists it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScheduleInfo {
    /// The schedule's id, as [`ScheduleRef::id`] gives it.
    pub id: u64,
    /// Who receives the messages.
    pub target: Pid,
    /// When it fires.
    pub kind: ScheduleKind,
    /// Whether it is paused.
    pub paused: bool,
    /// How many messages it has delivered.
    pub fired: u64,
    /// Time until it next fires; `None` while paused.
    pub next_in: Option<Duration>,
}

type MakeMessage = Box<dyn Fn() -> Payload + Send + Sync>;

enum Status {
    /// Due at this instant; the heap holds a matching entry.
    Due(Instant),
    /// Paused with this much left before it was due.
    Paused(Duration),
}

/// A [`ScheduleKind`] as the table keeps it: an entry stays small (a cron expression is
/// boxed) since the table moves entries as it grows.
enum Plan {
    Once(Duration),
    Every(Duration),
    Cron(Box<CronExpr>),
}

impl Plan {
    fn kind(&self) -> ScheduleKind {
        match self {
            Self::Once(delay) => ScheduleKind::Once { delay: *delay },
            Self::Every(every) => ScheduleKind::Interval { every: *every },
            Self::Cron(expression) => ScheduleKind::Cron {
                expression: (**expression).clone(),
            },
        }
    }
}

struct Entry {
    target: Pid,
    make: MakeMessage,
    plan: Plan,
    status: Status,
    fired: u64,
}

#[derive(Default)]
struct Table {
    entries: HashMap<u64, Entry, foldhash::fast::RandomState>,
    /// Due instants; an entry whose schedule was paused, cancelled or moved is skipped when
    /// it surfaces, so changing a schedule never searches the heap.
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Heap entries known to be stale; past a bound the heap is rebuilt, so that schedules
    /// cancelled long before they were due do not pile up in it.
    stale: usize,
    closed: bool,
}

impl Table {
    /// Counts one more stale heap entry, and rebuilds the heap from the live schedules once
    /// stale entries outnumber them (and are more than a few).
    fn went_stale(&mut self) {
        self.stale += 1;
        if self.stale > 1_024 && self.stale > self.entries.len() {
            self.heap = self
                .entries
                .iter()
                .filter_map(|(id, entry)| match entry.status {
                    Status::Due(due) => Some(Reverse((due, *id))),
                    Status::Paused(_) => None,
                })
                .collect();
            self.stale = 0;
        }
    }
}

/// The scheduler of one actor system.
pub(crate) struct Scheduler {
    table: Mutex<Table>,
    wake: Notify,
    clock: WallClock,
    next_id: AtomicU64,
}

impl Scheduler {
    pub(crate) fn new(clock: WallClock) -> Arc<Self> {
        Arc::new(Self {
            table: Mutex::new(Table::default()),
            wake: Notify::new(),
            clock,
            next_id: AtomicU64::new(1),
        })
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Adds a schedule and wakes the task if it is now the first due.
    pub(crate) fn add<M: Message + Clone>(
        self: &Arc<Self>,
        target: &Pid,
        message: M,
        kind: ScheduleKind,
    ) -> Result<ScheduleRef, ScheduleError> {
        if target.is_stopping() {
            return Err(ScheduleError::TargetStopped {
                name: target.name().to_owned(),
            });
        }
        let now = Instant::now();
        let (due, plan) = match kind {
            ScheduleKind::Once { delay } => (later(now, delay), Plan::Once(delay)),
            ScheduleKind::Interval { every } if every.is_zero() => {
                return Err(ScheduleError::ZeroInterval);
            }
            ScheduleKind::Interval { every } => (later(now, every), Plan::Every(every)),
            ScheduleKind::Cron { expression } => {
                let due =
                    self.next_cron(&expression, now)
                        .ok_or_else(|| ScheduleError::NeverFires {
                            expression: expression.to_string(),
                        })?;
                (due, Plan::Cron(Box::new(expression)))
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            target: target.clone(),
            make: Box::new(move || Payload::new(message.clone())),
            plan,
            status: Status::Due(due),
            fired: 0,
        };
        let first = {
            let mut table = self.table.lock();
            if table.closed {
                return Err(ScheduleError::SystemStopped);
            }
            table.entries.insert(id, entry);
            let first = table.heap.peek().is_none_or(|Reverse((at, _))| due < *at);
            table.heap.push(Reverse((due, id)));
            first
        };
        if first {
            self.wake.notify_one();
        }
        Ok(ScheduleRef {
            id,
            scheduler: self.clone(),
        })
    }

    /// The tokio instant of the cron expression's next match after the wall clock's now.
    fn next_cron(&self, expression: &CronExpr, now: Instant) -> Option<Instant> {
        let wall = self.clock.now();
        let next = expression.next_after(wall)?;
        Some(later(now, next.duration_since(wall).unwrap_or_default()))
    }

    fn pause(&self, id: u64) -> Result<(), ScheduleError> {
        let mut table = self.table.lock();
        let entry = table
            .entries
            .get_mut(&id)
            .ok_or(ScheduleError::NotFound { id })?;
        if let Status::Due(due) = entry.status {
            entry.status = Status::Paused(due.saturating_duration_since(Instant::now()));
            table.went_stale();
        }
        Ok(())
    }

    fn resume(&self, id: u64) -> Result<(), ScheduleError> {
        let now = Instant::now();
        {
            let mut table = self.table.lock();
            let entry = table
                .entries
                .get_mut(&id)
                .ok_or(ScheduleError::NotFound { id })?;
            let Status::Paused(left) = entry.status else {
                return Ok(());
            };
            let due = match &entry.plan {
                // A cron schedule skips the instants it was paused through.
                Plan::Cron(expression) => match self.next_cron(expression, now) {
                    Some(due) => due,
                    None => {
                        table.entries.remove(&id);
                        return Err(ScheduleError::NotFound { id });
                    }
                },
                _ => later(now, left),
            };
            entry.status = Status::Due(due);
            table.heap.push(Reverse((due, id)));
        }
        self.wake.notify_one();
        Ok(())
    }

    fn cancel(&self, id: u64) -> Result<(), ScheduleError> {
        let mut table = self.table.lock();
        let removed = table
            .entries
            .remove(&id)
            .ok_or(ScheduleError::NotFound { id })?;
        if matches!(removed.status, Status::Due(_)) {
            table.went_stale();
        }
        drop(table);
        // The message is dropped outside the lock.
        drop(removed);
        Ok(())
    }

    pub(crate) fn list(&self) -> Vec<ScheduleInfo> {
        let now = Instant::now();
        let table = self.table.lock();
        let mut list: Vec<ScheduleInfo> = table
            .entries
            .iter()
            .map(|(id, entry)| describe(*id, entry, now))
            .collect();
        list.sort_unstable_by_key(|info| info.id);
        list
    }

    fn status(&self, id: u64) -> Option<ScheduleInfo> {
        let table = self.table.lock();
        let entry = table.entries.get(&id)?;
        Some(describe(id, entry, Instant::now()))
    }

    /// Ends the task and drops every schedule.
    pub(crate) fn close(&self) {
        {
            let mut table = self.table.lock();
            table.closed = true;
            table.entries.clear();
            table.heap.clear();
        }
        self.wake.notify_one();
    }

    /// Delivers every schedule due by `now`, moving repeating ones to their next instant, and
    /// returns when the next one is due.
    ///
    /// Delivery happens under the table's lock, which is what makes a `cancel` that returned
    /// final: it cannot race a message already taken out for delivery. A delivery never waits
    /// (a full mailbox makes a dead letter), so the lock is held briefly.
    fn fire_due(&self, now: Instant) -> Option<Instant> {
        let mut table = self.table.lock();
        let Table {
            entries,
            heap,
            stale,
            ..
        } = &mut *table;
        while let Some(Reverse((at, id))) = heap.peek().copied() {
            if at > now {
                return Some(at);
            }
            heap.pop();
            let Some(entry) = entries.get_mut(&id) else {
                *stale = stale.saturating_sub(1);
                continue;
            };
            if !matches!(entry.status, Status::Due(due) if due == at) {
                // Paused, or moved by a pause and resume: a stale heap entry.
                *stale = stale.saturating_sub(1);
                continue;
            }
            entry.fired += 1;
            let envelope = Envelope {
                message: (entry.make)(),
                sender: None,
                reply: None,
                trace: crate::telemetry::Trace::current(),
            };
            // An undeliverable message is a dead letter either way; a stopped target also ends
            // the schedule.
            let stopped = matches!(
                entry.target.try_deliver(envelope),
                Err(SendError::ActorStopped { .. })
            );
            let next = match &entry.plan {
                _ if stopped => None,
                Plan::Once(_) => None,
                Plan::Every(every) => {
                    // Fixed rate, without a burst to catch up after a stall.
                    let next = later(at, *every);
                    Some(if next > now { next } else { later(now, *every) })
                }
                Plan::Cron(expression) => self.next_cron(expression, now),
            };
            match next {
                Some(next) => {
                    entry.status = Status::Due(next);
                    heap.push(Reverse((next, id)));
                }
                None => {
                    entries.remove(&id);
                }
            }
        }
        None
    }

    /// The scheduler's task: waits for the first due schedule, delivers, repeats.
    pub(crate) async fn run(self: Arc<Self>) {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = self.fire_due(Instant::now());
            if self.table.lock().closed {
                return;
            }
            match next {
                Some(at) => {
                    let _ = tokio::time::timeout_at(at, notified).await;
                }
                None => notified.await,
            }
        }
    }
}

/// A schedule as listed, at `now`.
fn describe(id: u64, entry: &Entry, now: Instant) -> ScheduleInfo {
    let (paused, next_in) = match entry.status {
        Status::Due(due) => (false, Some(due.saturating_duration_since(now))),
        Status::Paused(_) => (true, None),
    };
    ScheduleInfo {
        id,
        target: entry.target.clone(),
        kind: entry.plan.kind(),
        paused,
        fired: entry.fired,
        next_in,
    }
}

/// A handle to one schedule: pause, resume, cancel, or look at it.
///
/// Dropping the handle leaves the schedule running.
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::{ActorSystem, ScheduleError};
/// use rakt_proto::v1::PostStart;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("ticks").build()?;
/// let sink = system.spawn_fn("sink", |_ctx| Ok(())).await?;
/// let tick = system.schedule_interval(&sink, PostStart {}, Duration::from_secs(60))?;
/// tick.pause()?;
/// assert!(tick.info().is_some_and(|info| info.paused));
/// tick.resume()?;
/// tick.cancel()?;
/// assert_eq!(tick.cancel(), Err(ScheduleError::NotFound { id: tick.id() }));
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ScheduleRef {
    id: u64,
    scheduler: Arc<Scheduler>,
}

impl ScheduleRef {
    /// The schedule's id, unique within its system.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Stops firing until [`resume`](Self::resume); the time left until the next firing is
    /// kept. Pausing a paused schedule does nothing.
    pub fn pause(&self) -> Result<(), ScheduleError> {
        self.scheduler.pause(self.id)
    }

    /// Fires again: a one-off or an interval after the time that was left when it was
    /// paused, a cron schedule at its next instant from now (those passed while paused are
    /// skipped). Resuming a running schedule does nothing.
    pub fn resume(&self) -> Result<(), ScheduleError> {
        self.scheduler.resume(self.id)
    }

    /// Ends the schedule; no message is delivered after this returns.
    pub fn cancel(&self) -> Result<(), ScheduleError> {
        self.scheduler.cancel(self.id)
    }

    /// The schedule as it is now, or `None` once it has been cancelled or has finished.
    pub fn info(&self) -> Option<ScheduleInfo> {
        self.scheduler.status(self.id)
    }
}

impl fmt::Debug for ScheduleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScheduleRef").field("id", &self.id).finish()
    }
}

//! Passivation: actors that stop themselves when idle or after enough messages, and the
//! system-wide eviction that passivates actors when too many are alive.
//!
//! One task per system serves every passivating actor from a single deadline heap, as the
//! scheduler does for schedules: a hundred thousand idle actors cost a hundred thousand heap
//! entries and one timer. The task only asks; an actor decides in its own task, between two
//! messages, whether it is still idle, so that a message that arrives at the last moment is
//! handled rather than lost, and no actor is passivated in the middle of a message.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::ask::later;
use crate::cell::{ActorCell, SystemMessage, state};
use crate::system::Registry;

/// When an actor passivates: stops by itself to give its memory back (GoAkt's passivation
/// strategies). A passivated actor stops gracefully: what is queued is still handled,
/// `post_stop` runs, watchers hear `Terminated`, and [`Event::ActorPassivated`] precedes
/// [`Event::ActorStopped`]. Messages sent to it afterwards are dead letters.
///
/// An actor with live children is not idle: it passivates once they have gone.
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::{Passivation, SpawnOptions};
///
/// let idle = Passivation::AfterIdle(Duration::from_secs(120));
/// assert_eq!(idle.to_string(), "after 120s idle");
/// let options = SpawnOptions::new().passivation(idle);
/// # let _ = options;
/// ```
///
/// [`Event::ActorPassivated`]: crate::Event::ActorPassivated
/// [`Event::ActorStopped`]: crate::Event::ActorStopped
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Passivation {
    /// Never passivates, and is never evicted. The default: unlike GoAkt, which passivates
    /// every actor after two idle minutes, an actor here lives until it is stopped unless
    /// asked otherwise (see
    /// [`ActorSystemBuilder::default_passivation`](crate::ActorSystemBuilder::default_passivation)).
    #[default]
    LongLived,
    /// Passivates once it has handled no message for this long.
    AfterIdle(Duration),
    /// Passivates once it has handled this many messages since it was spawned, `PostStart`
    /// included.
    AfterMessages(u64),
}

impl Passivation {
    /// Whether an actor with this strategy ever passivates, and may be evicted.
    pub fn passivates(&self) -> bool {
        !matches!(self, Self::LongLived)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Self::AfterIdle(idle) if idle.is_zero() => {
                Err("the idle time must be greater than zero".to_owned())
            }
            Self::AfterMessages(0) => Err("the message count must be greater than zero".to_owned()),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Passivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LongLived => f.write_str("long-lived"),
            Self::AfterIdle(idle) => write!(f, "after {idle:?} idle"),
            Self::AfterMessages(count) => write!(f, "after {count} messages"),
        }
    }
}

/// Why an actor passivated, in [`Event::ActorPassivated`](crate::Event::ActorPassivated).
///
/// ```
/// use rakt_actor::PassivationReason;
///
/// assert_eq!(PassivationReason::Evicted.to_string(), "evicted");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PassivationReason {
    /// It was idle for its [`Passivation::AfterIdle`] time.
    Idle,
    /// It handled its [`Passivation::AfterMessages`] count.
    MessageLimit,
    /// The system had more live actors than its [`Eviction`] limit.
    Evicted,
}

impl fmt::Display for PassivationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Idle => "idle",
            Self::MessageLimit => "message limit reached",
            Self::Evicted => "evicted",
        })
    }
}

/// Which actors eviction passivates first.
///
/// ```
/// use rakt_actor::EvictionPolicy;
///
/// assert_eq!(EvictionPolicy::Lru.to_string(), "least recently used");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvictionPolicy {
    /// Those that handled a message the longest time ago.
    Lru,
    /// Those that handled the fewest messages.
    Lfu,
    /// Those that handled a message most recently.
    Mru,
}

impl fmt::Display for EvictionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Lru => "least recently used",
            Self::Lfu => "least frequently used",
            Self::Mru => "most recently used",
        })
    }
}

/// A limit on the live actors of a system, kept by passivating some (GoAkt's eviction
/// strategy). Every `interval`, when more actors are alive than `limit`, the system
/// passivates the excess, at least `percentage` percent of the live actors, chosen by the
/// policy among the actors that passivate (long-lived ones are never evicted), that are
/// running, and that have no children. Their passivation is reported as
/// [`PassivationReason::Evicted`].
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::{ActorSystem, Eviction, EvictionPolicy};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let eviction = Eviction::new(10_000, EvictionPolicy::Lru)
///     .percentage(5)
///     .interval(Duration::from_secs(10));
/// let system = ActorSystem::builder("bounded").eviction(eviction).build()?;
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eviction {
    limit: usize,
    policy: EvictionPolicy,
    percentage: u8,
    interval: Duration,
}

impl Eviction {
    /// Keeps at most `limit` live actors, evicting by `policy`; checks every second, and
    /// evicts exactly the excess.
    pub fn new(limit: usize, policy: EvictionPolicy) -> Self {
        Self {
            limit,
            policy,
            percentage: 0,
            interval: Duration::from_secs(1),
        }
    }

    /// Evicts at least this percentage (0 to 100) of the live actors when over the limit,
    /// to make room for a while rather than evict a few at every check: 0.
    pub fn percentage(mut self, percentage: u8) -> Self {
        self.percentage = percentage;
        self
    }

    /// How often the limit is checked: 1 s.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.limit == 0 {
            return Err("the limit must be greater than zero".to_owned());
        }
        if self.percentage > 100 {
            return Err(format!(
                "the percentage must be at most 100, not {}",
                self.percentage
            ));
        }
        if self.interval.is_zero() {
            return Err("the interval must be greater than zero".to_owned());
        }
        Ok(())
    }

    /// How many actors to evict when `live` are alive.
    fn excess(&self, live: usize) -> usize {
        let over = live.saturating_sub(self.limit);
        if over == 0 {
            return 0;
        }
        let share = (live * usize::from(self.percentage)).div_ceil(100);
        over.max(share)
    }
}

/// One passivating actor, as the task knows it.
struct Entry {
    cell: Arc<ActorCell>,
    strategy: Passivation,
    paused: bool,
    /// A `Passivate` was pushed and the actor has not handled it yet: no other is pushed
    /// meanwhile, so an actor that is slow to get to it is not flooded with them.
    asked: bool,
    /// The deadline of this entry's live heap item, in [`Table::epoch`] nanoseconds; other
    /// heap items for it are stale. 0 when it has none.
    due: u64,
    /// The processed count last seen, and when it was first seen: how idleness is measured
    /// while the latency clock is still calibrating and the actor's stamp says nothing.
    seen: u64,
    seen_at: u64,
}

/// What the task keeps. Instants are stored as nanoseconds since `epoch`, half the size of an
/// `Instant`, since there is one of each per passivating actor.
struct Table {
    epoch: Instant,
    entries: HashMap<u64, Entry, foldhash::fast::RandomState>,
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    /// Heap items whose entry was removed or re-armed; compacted when they dominate.
    stale: usize,
    closed: bool,
}

impl Table {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            entries: HashMap::default(),
            heap: BinaryHeap::new(),
            stale: 0,
            closed: false,
        }
    }

    /// `at` in nanoseconds since the epoch; never 0, which means "none".
    fn nanos(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(since).unwrap_or(u64::MAX).max(1)
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    fn arm(&mut self, id: u64, at: Instant) {
        let at = self.nanos(at);
        if let Some(entry) = self.entries.get_mut(&id) {
            if std::mem::replace(&mut entry.due, at) != 0 {
                self.stale += 1;
            }
            self.heap.push(Reverse((at, id)));
        }
    }

    /// The first deadline in the heap, stale or not.
    fn first(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| self.instant(*at))
    }

    fn compact(&mut self) {
        if self.stale > 64 && self.stale > self.heap.len() / 2 {
            self.heap = self
                .entries
                .iter()
                .filter(|(_, entry)| entry.due != 0)
                .map(|(id, entry)| Reverse((entry.due, *id)))
                .collect();
            self.stale = 0;
        }
    }
}

/// How many due actors the task checks under one hold of its lock, before it lets the
/// actors it asked, and everybody else, run.
const BATCH: usize = 1024;

/// What the passivation task knows of one actor.
pub(crate) struct Watched {
    pub(crate) strategy: Passivation,
    pub(crate) paused: bool,
    /// The processed count the task last saw.
    seen: u64,
}

impl Watched {
    fn of(entry: &Entry) -> Self {
        Self {
            strategy: entry.strategy,
            paused: entry.paused,
            seen: entry.seen,
        }
    }
}

/// The passivation task of one actor system, and what it knows of passivating actors.
pub(crate) struct Passivator {
    table: Mutex<Table>,
    wake: Notify,
    eviction: Option<Eviction>,
}

impl Passivator {
    pub(crate) fn new(eviction: Option<Eviction>) -> Arc<Self> {
        Arc::new(Self {
            table: Mutex::new(Table::new()),
            wake: Notify::new(),
            eviction,
        })
    }

    /// Starts watching a running actor that passivates.
    pub(crate) fn register(&self, cell: &Arc<ActorCell>, strategy: Passivation) {
        let now = Instant::now();
        let mut table = self.table.lock();
        if table.closed {
            return;
        }
        let seen_at = table.nanos(now);
        table.entries.insert(
            cell.id,
            Entry {
                cell: cell.clone(),
                strategy,
                paused: false,
                asked: false,
                due: 0,
                seen: 0,
                seen_at,
            },
        );
        if let Passivation::AfterIdle(idle) = strategy {
            let first = table.first();
            let due = later(now, idle);
            table.arm(cell.id, due);
            if first.is_none_or(|first| due < first) {
                drop(table);
                self.wake.notify_one();
            }
        }
    }

    /// Forgets a stopped actor.
    pub(crate) fn remove(&self, id: u64) {
        let mut table = self.table.lock();
        if let Some(entry) = table.entries.remove(&id) {
            if entry.due != 0 {
                table.stale += 1;
            }
        }
    }

    /// The actor's strategy and whether its passivation is paused; `None` when it does not
    /// passivate (or has stopped).
    pub(crate) fn lookup(&self, id: u64) -> Option<Watched> {
        self.table.lock().entries.get(&id).map(Watched::of)
    }

    /// What `lookup` says, for an actor handling a `Passivate`: from now on, another may be
    /// pushed to it.
    fn answer(&self, id: u64) -> Option<Watched> {
        let mut table = self.table.lock();
        let entry = table.entries.get_mut(&id)?;
        entry.asked = false;
        Some(Watched::of(entry))
    }

    /// An actor declined a passivation: an idle-passivating one is checked again when its
    /// idle time could next be over, or a whole idle time from now if it is over already
    /// (it declined for its children or a waiting message).
    fn declined(&self, id: u64) {
        let now = Instant::now();
        let mut table = self.table.lock();
        let Some(entry) = table.entries.get_mut(&id) else {
            return;
        };
        let Passivation::AfterIdle(limit) = entry.strategy else {
            return;
        };
        if entry.paused || entry.due != 0 {
            return;
        }
        let now_nanos = table.nanos(now);
        let Some(entry) = table.entries.get_mut(&id) else {
            return;
        };
        let idle = idle_for(entry, now_nanos);
        let at = later(now, if idle >= limit { limit } else { limit - idle });
        table.arm(id, at);
        drop(table);
        self.wake.notify_one();
    }

    /// Pauses or resumes an actor's passivation; false when it does not passivate. Resuming
    /// starts the idle time afresh, and passivates at once an actor that reached its message
    /// count while paused.
    pub(crate) fn set_paused(&self, id: u64, paused: bool) -> bool {
        let now = Instant::now();
        let mut table = self.table.lock();
        let now_nanos = table.nanos(now);
        let Some(entry) = table.entries.get_mut(&id) else {
            return false;
        };
        let was = std::mem::replace(&mut entry.paused, paused);
        if paused || !was {
            return true;
        }
        match entry.strategy {
            Passivation::AfterIdle(idle) => {
                entry.seen = entry.cell.stats.processed.load(Ordering::Relaxed);
                entry.seen_at = now_nanos;
                table.arm(id, later(now, idle));
                drop(table);
                self.wake.notify_one();
            }
            Passivation::AfterMessages(limit) => {
                if entry.cell.stats.processed.load(Ordering::Relaxed) >= limit {
                    ask(entry, PassivationReason::MessageLimit);
                }
            }
            Passivation::LongLived => {}
        }
        true
    }

    /// Ends the task and forgets every actor.
    pub(crate) fn close(&self) {
        {
            let mut table = self.table.lock();
            table.closed = true;
            table.entries.clear();
            table.heap.clear();
        }
        self.wake.notify_one();
    }

    /// Asks actors idle past their time to passivate and re-arms the others, at most
    /// [`BATCH`] of them, and returns when the next one is due: `now` when some are left.
    fn check_idle(&self, now: Instant) -> Option<Instant> {
        let mut table = self.table.lock();
        let now_nanos = table.nanos(now);
        let mut rearm = Vec::new();
        let mut checked = 0;
        let next = loop {
            let Some(Reverse((at, id))) = table.heap.peek().copied() else {
                break None;
            };
            if at > now_nanos {
                break Some(table.instant(at));
            }
            if checked == BATCH {
                break Some(now);
            }
            table.heap.pop();
            let Some(entry) = table.entries.get_mut(&id) else {
                table.stale = table.stale.saturating_sub(1);
                continue;
            };
            if entry.due != at {
                table.stale = table.stale.saturating_sub(1);
                continue;
            }
            entry.due = 0;
            checked += 1;
            let Passivation::AfterIdle(limit) = entry.strategy else {
                continue;
            };
            if entry.paused || entry.asked {
                // Resuming re-arms it; so does its answer to what it was asked.
                continue;
            }
            let idle = idle_for(entry, now_nanos);
            if idle >= limit {
                // The actor checks again itself, and re-arms when it declines. An actor that
                // cannot be asked is stopping, and needs no more checks.
                ask(entry, PassivationReason::Idle);
            } else {
                rearm.push((id, later(now, limit - idle)));
            }
        };
        let mut next = next;
        for (id, at) in rearm {
            table.arm(id, at);
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        table.compact();
        next
    }

    /// Passivates the excess of live actors over the eviction limit.
    fn evict(&self, eviction: &Eviction, registry: &Registry) {
        let live = registry.len();
        if eviction.excess(live) == 0 {
            return;
        }
        let mut table = self.table.lock();
        // Actors already passivating or stopping are on their way out: not live any more.
        let leaving = table
            .entries
            .values()
            .filter(|e| e.cell.state() >= state::STOPPING)
            .count();
        let excess = eviction.excess(live.saturating_sub(leaving));
        if excess == 0 {
            return;
        }
        let mut candidates: Vec<(u64, u64)> = table
            .entries
            .iter()
            .filter(|(_, e)| {
                !e.paused && !e.asked && e.cell.state() == state::RUNNING && !e.cell.has_children()
            })
            .map(|(id, e)| {
                let stats = &e.cell.stats;
                let key = match eviction.policy {
                    EvictionPolicy::Lru => stats.last_active_ticks.load(Ordering::Relaxed),
                    EvictionPolicy::Mru => !stats.last_active_ticks.load(Ordering::Relaxed),
                    EvictionPolicy::Lfu => stats.processed.load(Ordering::Relaxed),
                };
                (key, *id)
            })
            .collect();
        let count = excess.min(candidates.len());
        if count == 0 {
            return;
        }
        if count < candidates.len() {
            candidates.select_nth_unstable(count - 1);
        }
        tracing::debug!(count, policy = %eviction.policy, "evicting actors");
        for (_, id) in &candidates[..count] {
            if let Some(entry) = table.entries.get_mut(id) {
                ask(entry, PassivationReason::Evicted);
            }
        }
    }

    /// The passivation task: wakes at the first idle deadline or eviction check, whichever
    /// comes first.
    pub(crate) async fn run(self: Arc<Self>, system: std::sync::Weak<crate::system::SystemShared>) {
        let mut next_eviction = self.eviction.map(|e| later(Instant::now(), e.interval));
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            let next_idle = self.check_idle(now);
            if next_idle == Some(now) {
                // More are due: let the asked actors run first.
                tokio::task::yield_now().await;
                continue;
            }
            if let (Some(eviction), Some(at)) = (&self.eviction, next_eviction) {
                if at <= now {
                    let Some(shared) = system.upgrade() else {
                        return;
                    };
                    self.evict(eviction, &shared.registry);
                    next_eviction = Some(later(now, eviction.interval));
                }
            }
            if self.table.lock().closed {
                return;
            }
            let wake_at = match (next_idle, next_eviction) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match wake_at {
                Some(at) => {
                    let _ = tokio::time::timeout_at(at, notified).await;
                }
                None => notified.await,
            }
        }
    }
}

/// Asks the entry's actor to passivate, unless it has not answered the last request yet.
fn ask(entry: &mut Entry, reason: PassivationReason) {
    if !entry.asked {
        // A stopping actor needs no passivation.
        entry.asked = entry
            .cell
            .lanes
            .push_system(SystemMessage::Passivate(reason))
            .is_ok();
    }
}

/// How long the entry's actor has handled nothing: from its last-activity stamp once the
/// latency clock runs, else from the last change of its processed count.
fn idle_for(entry: &mut Entry, now: u64) -> Duration {
    let stamp = entry.cell.stats.last_active_ticks.load(Ordering::Relaxed);
    if let Some(clock) = crate::cell::clock() {
        if stamp != 0 {
            return clock.delta(stamp, clock.raw());
        }
    }
    let processed = entry.cell.stats.processed.load(Ordering::Relaxed);
    if processed != entry.seen {
        entry.seen = processed;
        entry.seen_at = now;
    }
    Duration::from_nanos(now.saturating_sub(entry.seen_at))
}

/// Whether the actor of `cell`, asked to passivate for `reason`, should: not paused, not
/// `busy` (waiting on requests, or with messages given back to handle), and for an idle
/// passivation or an eviction, without children; for an idle passivation, also with nothing
/// queued and still idle. Runs in the actor's own task, between two messages. An actor that
/// declines is checked again later.
pub(crate) fn confirm(cell: &ActorCell, reason: PassivationReason, busy: bool) -> bool {
    let passivator = &cell.system.passivator;
    let Some(watched) = passivator.answer(cell.id) else {
        return false;
    };
    let accept = !watched.paused
        && !busy
        && match reason {
            PassivationReason::MessageLimit => true,
            PassivationReason::Evicted => !cell.has_children(),
            PassivationReason::Idle => !cell.has_children() && still_idle(cell, &watched),
        };
    if !accept {
        passivator.declined(cell.id);
    }
    accept
}

/// Declines a passivation without considering it: the actor is suspended.
pub(crate) fn refuse(cell: &ActorCell) {
    let passivator = &cell.system.passivator;
    if passivator.answer(cell.id).is_some() {
        passivator.declined(cell.id);
    }
}

fn still_idle(cell: &ActorCell, watched: &Watched) -> bool {
    let Passivation::AfterIdle(limit) = watched.strategy else {
        return false;
    };
    if cell.lanes.user_len() > 0 {
        return false;
    }
    let stamp = cell.stats.last_active_ticks.load(Ordering::Relaxed);
    match crate::cell::clock() {
        Some(clock) if stamp != 0 => clock.delta(stamp, clock.raw()) >= limit,
        // The task measured it by the processed count: still idle if nothing was handled
        // since.
        _ => cell.stats.processed.load(Ordering::Relaxed) == watched.seen,
    }
}

//! The shared state of one actor: its mailbox lanes, lifecycle state, relations and counters.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;
use rakt_mailbox::{Lanes, PushError};
use tokio::sync::{Notify, oneshot};
use tokio::task::AbortHandle;

use crate::error::{AskError, SendError};
use crate::event::DeadLetterReason;
use crate::payload::Payload;
use crate::pid::Pid;
use crate::system::SystemShared;

pub(crate) use crate::ask::ReplyTo;

/// A user message in a mailbox: the value itself (never encoded locally), who sent it, and
/// where a reply goes when it is an ask.
pub(crate) struct Envelope {
    pub(crate) message: Payload,
    pub(crate) sender: Option<Pid>,
    pub(crate) reply: Option<ReplyTo>,
    /// The sender's trace context: empty unless the `spans` feature is on.
    pub(crate) trace: crate::telemetry::Trace,
}

/// Control messages, on their own lane, always handled before user messages.
pub(crate) enum SystemMessage {
    /// Stop after handling what is queued.
    Stop,
    /// Stop now; queued messages become dead letters.
    Kill,
    /// Run `post_stop` then `pre_start`, keeping the mailbox.
    Restart(Option<oneshot::Sender<Result<(), String>>>),
    /// An actor this one watches has stopped.
    /// The reason is `None` for an ordinary stop; a transport gives one when the actor's node
    /// became unreachable.
    Terminated(Pid, Option<String>),
    /// A request of this actor completed: run its continuation.
    Reply(u64, Result<Payload, AskError>),
    /// The passivation task asks the actor to passivate; it checks that it should first.
    Passivate(crate::passivation::PassivationReason),
    /// Bring the actor back from a suspension.
    Reinstate,
    /// A child failed, is suspended, and hands the decision to this actor's supervisor.
    Escalated(Pid, crate::error::ActorError),
}

/// Lifecycle states, stored in one byte.
pub(crate) mod state {
    /// `pre_start` runs; messages are queued.
    pub(crate) const STARTING: u8 = 0;
    /// Handling messages.
    pub(crate) const RUNNING: u8 = 1;
    /// Failed, and waiting for a backoff to pass or for its parent to decide: only system
    /// messages are handled, user messages stay queued.
    pub(crate) const SUSPENDED: u8 = 2;
    /// Draining or dead-lettering its mailbox, stopping children, running `post_stop`.
    pub(crate) const STOPPING: u8 = 3;
    /// No longer handling messages, its relations taken; unregistering and telling the
    /// watchers follow at once.
    pub(crate) const STOPPED: u8 = 4;
    /// Stopped, and everything that follows a stop is done: the name is free, the parent and
    /// the watchers know. Waiters for the stop wake here.
    pub(crate) const TERMINATED: u8 = 5;
}

/// Parent, child and watch links, and the actor's dependencies. Boxed lazily: most actors
/// never have any.
#[derive(Default)]
pub(crate) struct Relations {
    pub(crate) children: Vec<Pid>,
    pub(crate) watchers: Vec<Pid>,
    pub(crate) watching: Vec<Pid>,
    /// Given at spawn and kept across restarts.
    pub(crate) dependencies: Vec<Arc<dyn crate::dependency::Dependency>>,
}

/// Per-actor counters, read by [`Pid::metrics`](crate::Pid::metrics).
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) processed: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) restarts: AtomicU32,
    pub(crate) reinstates: AtomicU32,
    /// Messages in the stash; written only by the actor's own task.
    pub(crate) stashed: AtomicU32,
    pub(crate) dead_letters: AtomicU64,
    pub(crate) last_latency_ticks: AtomicU64,
    /// When the actor last handled a message, in raw clock ticks; 0 when not measured yet.
    pub(crate) last_active_ticks: AtomicU64,
}

pub(crate) struct ActorCell {
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    pub(crate) system: Arc<SystemShared>,
    pub(crate) parent: Option<Pid>,
    pub(crate) lanes: Lanes<SystemMessage, Envelope>,
    state: AtomicU8,
    relations: Mutex<Option<Box<Relations>>>,
    pub(crate) stats: Stats,
    terminated: Notify,
    pub(crate) abort: OnceLock<AbortHandle>,
    pub(crate) started_at: Instant,
    /// How many messages the stash holds; 0 when the actor has no stash.
    pub(crate) stash_capacity: u32,
    /// Whether the passivation task knows this actor, and must forget it when it stops.
    pub(crate) passivates: bool,
    /// Set for the handle of an actor on another node: a remote `Pid` is a cell too, so that
    /// every `Pid` is one pointer, and this part tells it apart. Its other parts stay unused
    /// (its lanes allocate nothing until a push, and nothing pushes to it).
    pub(crate) remote: Option<Box<crate::remote::RemoteActor>>,
}

impl ActorCell {
    pub(crate) fn new(
        id: u64,
        name: Arc<str>,
        system: Arc<SystemShared>,
        parent: Option<Pid>,
        lanes: Lanes<SystemMessage, Envelope>,
        stash_capacity: u32,
        passivates: bool,
    ) -> Self {
        Self {
            id,
            name,
            system,
            parent,
            lanes,
            state: AtomicU8::new(state::STARTING),
            relations: Mutex::new(None),
            stats: Stats {
                last_active_ticks: AtomicU64::new(crate::runner::ticks()),
                ..Stats::default()
            },
            terminated: Notify::new(),
            abort: OnceLock::new(),
            started_at: Instant::now(),
            stash_capacity,
            passivates,
            remote: None,
        }
    }

    /// The cell of a remote `Pid`: the actor's identity and transport, nothing else used.
    pub(crate) fn remote(remote: crate::remote::RemoteActor) -> Self {
        let name: Arc<str> = Arc::from(remote.address.name());
        let mut cell = Self::new(
            remote.id,
            name,
            remote.system.clone(),
            None,
            Lanes::unbounded(),
            0,
            false,
        );
        cell.state = AtomicU8::new(state::RUNNING);
        cell.remote = Some(Box::new(remote));
        // Nothing runs here: a push that reached these lanes by mistake fails, and its
        // message becomes a dead letter, instead of waiting forever.
        cell.lanes.close_user();
        cell.lanes.close_system();
        cell
    }

    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    pub(crate) fn set_running(&self) {
        self.state.store(state::RUNNING, Ordering::Release);
    }

    /// Moves between running and suspended; never out of a stop.
    pub(crate) fn set_suspended(&self, suspended: bool) {
        let (from, to) = if suspended {
            (state::RUNNING, state::SUSPENDED)
        } else {
            (state::SUSPENDED, state::RUNNING)
        };
        let _ = self
            .state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Marks the actor as stopping and takes its children, atomically with respect to
    /// `add_child`, so that no child can be added behind the parent's back.
    pub(crate) fn begin_stopping(&self) -> Vec<Pid> {
        let mut relations = self.relations.lock();
        self.state.store(state::STOPPING, Ordering::Release);
        relations
            .as_mut()
            .map(|r| std::mem::take(&mut r.children))
            .unwrap_or_default()
    }

    /// Marks the actor as stopped and takes who watched it and whom it watched, atomically
    /// with respect to `add_watcher`. `None` when it had already stopped.
    pub(crate) fn finish_stopping(&self) -> Option<Relations> {
        let mut relations = self.relations.lock();
        if self.state() >= state::STOPPED {
            return None;
        }
        self.state.store(state::STOPPED, Ordering::Release);
        Some(relations.take().map(|r| *r).unwrap_or_default())
    }

    /// Marks the end of the stop and wakes everybody waiting in
    /// [`ActorCell::wait_terminated`].
    pub(crate) fn notify_terminated(&self) {
        self.state.store(state::TERMINATED, Ordering::Release);
        self.terminated.notify_waiters();
    }

    pub(crate) async fn wait_terminated(&self) {
        let notified = self.terminated.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.state() == state::TERMINATED {
            return;
        }
        notified.await;
    }

    /// Installs the dependencies given at spawn, before the actor runs.
    pub(crate) fn set_dependencies(
        &self,
        dependencies: Vec<Arc<dyn crate::dependency::Dependency>>,
    ) {
        if dependencies.is_empty() {
            return;
        }
        let mut relations = self.relations.lock();
        relations.get_or_insert_with(Box::default).dependencies = dependencies;
    }

    /// The actor's dependencies; empty once it has stopped.
    pub(crate) fn dependencies(&self) -> Vec<Arc<dyn crate::dependency::Dependency>> {
        self.relations
            .lock()
            .as_ref()
            .map(|r| r.dependencies.clone())
            .unwrap_or_default()
    }

    /// The first dependency of type `T`.
    pub(crate) fn dependency<T: crate::dependency::Dependency>(&self) -> Option<Arc<T>> {
        let relations = self.relations.lock();
        crate::dependency::find(&relations.as_ref()?.dependencies)
    }

    pub(crate) fn add_child(&self, child: &Pid) -> bool {
        let mut relations = self.relations.lock();
        if self.state() >= state::STOPPING {
            return false;
        }
        relations
            .get_or_insert_with(Box::default)
            .children
            .push(child.clone());
        true
    }

    pub(crate) fn remove_child(&self, child: &Pid) {
        if let Some(r) = self.relations.lock().as_mut() {
            r.children.retain(|c| c != child);
        }
    }

    pub(crate) fn has_children(&self) -> bool {
        self.relations
            .lock()
            .as_ref()
            .is_some_and(|r| !r.children.is_empty())
    }

    pub(crate) fn children(&self) -> Vec<Pid> {
        self.relations
            .lock()
            .as_ref()
            .map(|r| r.children.clone())
            .unwrap_or_default()
    }

    /// Registers `watcher`; false when this actor has already stopped.
    pub(crate) fn add_watcher(&self, watcher: &Pid) -> bool {
        let mut relations = self.relations.lock();
        if self.state() >= state::STOPPED {
            return false;
        }
        let r = relations.get_or_insert_with(Box::default);
        if !r.watchers.contains(watcher) {
            r.watchers.push(watcher.clone());
        }
        true
    }

    pub(crate) fn remove_watcher(&self, watcher: &Pid) {
        if let Some(r) = self.relations.lock().as_mut() {
            r.watchers.retain(|w| w != watcher);
        }
    }

    pub(crate) fn add_watching(&self, target: &Pid) {
        let mut relations = self.relations.lock();
        let r = relations.get_or_insert_with(Box::default);
        if !r.watching.contains(target) {
            r.watching.push(target.clone());
        }
    }

    /// Forgets `target`; true when it was watched.
    pub(crate) fn remove_watching(&self, target: &Pid) -> bool {
        match self.relations.lock().as_mut() {
            Some(r) => {
                let before = r.watching.len();
                r.watching.retain(|t| t != target);
                r.watching.len() != before
            }
            None => false,
        }
    }

    /// Records one handled message, how long it took and when it ended, in raw clock ticks
    /// (see [`clock`]). Only the actor's own task writes these counters, so plain stores
    /// suffice where an atomic increment would cost a locked instruction per message.
    pub(crate) fn record_handled(&self, ticks: u64, now: u64) {
        self.stats
            .last_latency_ticks
            .store(ticks, Ordering::Relaxed);
        self.stats.last_active_ticks.store(now, Ordering::Relaxed);
        let processed = self.stats.processed.load(Ordering::Relaxed);
        self.stats.processed.store(processed + 1, Ordering::Relaxed);
        #[cfg(feature = "opentelemetry")]
        if let Some(instruments) = self.system.instruments.get() {
            instruments.handled(clock().map_or(0, |clock| clock.delta_as_nanos(0, ticks)));
        }
    }

    /// Enqueues a user message without waiting; what cannot be enqueued becomes a dead letter.
    pub(crate) fn try_deliver(&self, envelope: Envelope) -> Result<(), SendError> {
        match self.lanes.try_push_user(envelope) {
            Ok(()) => Ok(()),
            Err(err) => Err(self.reject(err)),
        }
    }

    /// Enqueues a user message, waiting for space when the mailbox makes senders wait.
    pub(crate) async fn deliver(&self, envelope: Envelope) -> Result<(), SendError> {
        match self.lanes.try_push_user(envelope) {
            Ok(()) => Ok(()),
            Err(err) => self.refused(err).await,
        }
    }

    /// What a send does with an envelope its first, non-waiting push could not enqueue:
    /// waits for space when the mailbox is full and makes senders wait, else dead-letters it.
    ///
    /// Senders on the hot path call `lanes.try_push_user` themselves and only await this on
    /// failure: building the envelope straight into the push, rather than into a helper
    /// future first, saves copying it twice per message.
    pub(crate) async fn refused(&self, err: PushError<Envelope>) -> Result<(), SendError> {
        match err {
            PushError::Full(envelope) => {
                // Only a full bounded mailbox gets here; `push_user` waits when the mailbox
                // makes senders wait, else hands the envelope back. The waiting future is
                // boxed so that every send's own future stays small on the common path.
                match Box::pin(self.lanes.push_user(envelope)).await {
                    Ok(()) => Ok(()),
                    Err(err) => Err(self.reject(err)),
                }
            }
            err => Err(self.reject(err)),
        }
    }

    fn reject(&self, err: PushError<Envelope>) -> SendError {
        let name = self.name.to_string();
        let (envelope, reason, error) = match err {
            PushError::Full(e) => (
                e,
                DeadLetterReason::MailboxFull,
                SendError::MailboxFull { name },
            ),
            PushError::Timeout(e) => (
                e,
                DeadLetterReason::MailboxTimeout,
                SendError::MailboxTimeout { name },
            ),
            PushError::Closed(e) => (
                e,
                DeadLetterReason::ActorStopped,
                SendError::ActorStopped { name },
            ),
            // A future kind of push failure: hand the message to dead letters as undeliverable.
            other => (
                other.into_inner(),
                DeadLetterReason::ActorStopped,
                SendError::ActorStopped { name },
            ),
        };
        self.dead_letter(envelope, reason);
        error
    }

    /// Sends an undeliverable envelope to dead letters. An asker waiting on it learns why at
    /// once instead of waiting for its timeout.
    pub(crate) fn dead_letter(&self, envelope: Envelope, reason: DeadLetterReason) {
        let Envelope {
            message,
            sender,
            reply,
            trace: _,
        } = envelope;
        if let Some(reply) = reply {
            let name = self.name.to_string();
            let error = match reason {
                DeadLetterReason::MailboxFull => AskError::Send(SendError::MailboxFull { name }),
                DeadLetterReason::MailboxTimeout => {
                    AskError::Send(SendError::MailboxTimeout { name })
                }
                DeadLetterReason::Unhandled => AskError::Unhandled { name },
                DeadLetterReason::StashFull => AskError::StashFull { name },
                _ => AskError::Send(SendError::ActorStopped { name }),
            };
            // The asker may have stopped waiting already; then nobody needs to hear it.
            let _ = reply.send(Err(error));
        }
        self.stats.dead_letters.fetch_add(1, Ordering::Relaxed);
        self.system.dead_letter(sender, &self.name, message, reason);
    }
}

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

/// The clock of per-message latencies: the CPU's time-stamp counter where it is usable (a few
/// nanoseconds a read), else the system clock. Raw readings are stored and scaled to
/// nanoseconds only when metrics are read. `None` until [`calibrate_clock`] is done.
pub(crate) fn clock() -> Option<&'static quanta::Clock> {
    CLOCK.get()
}

/// Calibrates the latency clock once per process, on a thread of its own: calibration spins
/// for up to a few hundred milliseconds, which must not stall an async caller. Latencies of
/// messages handled before it is done are not measured.
pub(crate) fn calibrate_clock() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("rakt-clock".to_owned())
            .spawn(|| {
                CLOCK.get_or_init(quanta::Clock::new);
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot calibrate the latency clock; latencies will read zero");
        }
    });
}

//! The recorder of a test kit: every event of its system, and every dead letter, from the
//! moment the kit starts, kept until an expectation takes them.
//!
//! A small task (the pump) receives the kit's event subscription and wakes the waiting
//! expectations. Readers also drain the subscription themselves, under the same lock, so a
//! dead letter made before a read is always seen by it, whether or not the pump ran since.
//! No lock is held across an await: concurrent expectations and reads never wait on each
//! other beyond their own deadline.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use rakt_actor::{ActorSystem, DeadLetter, Event, Subscription};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

struct State {
    subscription: Subscription,
    /// Events no expectation took yet, dead letters among them.
    events: VecDeque<Event>,
    /// Dead letters no dead-letter expectation took yet.
    dead_letters: VecDeque<Arc<DeadLetter>>,
    /// Every dead letter since the start.
    history: Vec<Arc<DeadLetter>>,
    /// Whether the system stopped: no event comes any more.
    closed: bool,
}

impl State {
    fn record(&mut self, event: Event) {
        if let Event::DeadLetter(letter) = &event {
            self.dead_letters.push_back(letter.clone());
            self.history.push(letter.clone());
        }
        self.events.push_back(event);
    }
}

struct Shared {
    state: Mutex<State>,
    /// Signalled whenever new events were recorded or the subscription closed.
    arrived: Notify,
}

impl Shared {
    /// The state, with everything published so far recorded. A panic of another thread
    /// while it held the lock left the queues as they were, so the lock is taken anyway.
    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut recorded = false;
        while let Some(event) = state.subscription.try_recv() {
            state.record(event);
            recorded = true;
        }
        if recorded {
            self.arrived.notify_waiters();
        }
        state
    }
}

/// Records a system's events and dead letters for the expectations of a test kit.
pub(crate) struct Recorder {
    shared: Arc<Shared>,
    pump: JoinHandle<()>,
}

impl Recorder {
    /// Subscribes to `system`'s events, and starts the pump on `runtime`; what happened
    /// before is not seen.
    pub(crate) fn new(system: &ActorSystem, runtime: &Handle) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                subscription: system.subscribe(),
                events: VecDeque::new(),
                dead_letters: VecDeque::new(),
                history: Vec::new(),
                closed: false,
            }),
            arrived: Notify::new(),
        });
        let pump = runtime.spawn(pump(shared.clone()));
        Self { shared, pump }
    }

    /// Takes the first event for which `predicate` holds, waiting until `deadline`; on
    /// failure, returns the events that were there and did not match, in words.
    pub(crate) async fn take_event(
        &self,
        deadline: Instant,
        mut predicate: impl FnMut(&Event) -> bool,
    ) -> Result<Event, Vec<String>> {
        self.take(deadline, |state| {
            let i = state.events.iter().position(&mut predicate)?;
            state.events.remove(i)
        })
        .await
        .ok_or_else(|| {
            let state = self.shared.state();
            state.events.iter().map(|e| format!("{e:?}")).collect()
        })
    }

    /// Takes the first dead letter for which `predicate` holds, waiting until `deadline`; on
    /// failure, returns the dead letters that were there and did not match, in words.
    pub(crate) async fn take_dead_letter(
        &self,
        deadline: Instant,
        mut predicate: impl FnMut(&DeadLetter) -> bool,
    ) -> Result<Arc<DeadLetter>, Vec<String>> {
        self.take(deadline, |state| {
            let i = state.dead_letters.iter().position(|l| predicate(l))?;
            state.dead_letters.remove(i)
        })
        .await
        .ok_or_else(|| {
            let state = self.shared.state();
            let left = state.dead_letters.iter();
            left.map(|l| crate::expect::describe_dead_letter(l))
                .collect()
        })
    }

    /// The first dead letter to arrive from now until `deadline`, if any; the ones recorded
    /// before are left alone.
    pub(crate) async fn next_dead_letter(&self, deadline: Instant) -> Option<Arc<DeadLetter>> {
        let before = self.shared.state().history.len();
        self.take(deadline, |state| state.history.get(before).cloned())
            .await
    }

    /// Every dead letter since the start, taken by expectations or not.
    pub(crate) fn dead_letters(&self) -> Vec<Arc<DeadLetter>> {
        self.shared.state().history.clone()
    }

    /// What `find` finds in the state, waiting for new events until `deadline`, or until
    /// the system stops. `find` runs again on every new event, over the whole state.
    async fn take<T>(
        &self,
        deadline: Instant,
        mut find: impl FnMut(&mut State) -> Option<T>,
    ) -> Option<T> {
        loop {
            // Registered before looking, so an event recorded in between still wakes us.
            let mut arrived = pin!(self.shared.arrived.notified());
            arrived.as_mut().enable();
            {
                let mut state = self.shared.state();
                if let Some(found) = find(&mut state) {
                    return Some(found);
                }
                if state.closed {
                    return None;
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return find(&mut self.shared.state());
            }
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

/// Receives the subscription and wakes waiting expectations, until the system stops.
async fn pump(shared: Arc<Shared>) {
    loop {
        let open = poll_fn(|cx| {
            let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            match state.subscription.poll_recv(cx) {
                Poll::Ready(Some(event)) => {
                    state.record(event);
                    Poll::Ready(true)
                }
                Poll::Ready(None) => {
                    state.closed = true;
                    Poll::Ready(false)
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        shared.arrived.notify_waiters();
        if !open {
            return;
        }
    }
}

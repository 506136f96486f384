//! The recorder of a test kit: every event of its system, and every dead letter, from the
//! moment the kit starts, kept until an expectation takes them.

use std::collections::VecDeque;
use std::sync::Arc;

use rakt_actor::{ActorSystem, DeadLetter, Event, Subscription};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Which of the recorder's two queues an expectation takes from.
#[derive(Clone, Copy)]
pub(crate) enum Queue {
    Events,
    DeadLetters,
}

struct State {
    subscription: Subscription,
    /// Events no expectation took yet, dead letters among them.
    events: VecDeque<Event>,
    /// Dead letters no dead-letter expectation took yet.
    dead_letters: VecDeque<Arc<DeadLetter>>,
    /// Every dead letter since the start.
    history: Vec<Arc<DeadLetter>>,
}

impl State {
    fn record(&mut self, event: Event) {
        if let Event::DeadLetter(letter) = &event {
            self.dead_letters.push_back(letter.clone());
            self.history.push(letter.clone());
        }
        self.events.push_back(event);
    }

    /// Records what the system published since the last look, without waiting.
    fn catch_up(&mut self) {
        while let Some(event) = self.subscription.try_recv() {
            self.record(event);
        }
    }

    /// Waits for the next event until `deadline`; `false` when none came.
    async fn wait(&mut self, deadline: Instant) -> bool {
        match tokio::time::timeout_at(deadline, self.subscription.recv()).await {
            Ok(Some(event)) => {
                self.record(event);
                true
            }
            Ok(None) | Err(_) => false,
        }
    }

    fn len(&self, queue: Queue) -> usize {
        match queue {
            Queue::Events => self.events.len(),
            Queue::DeadLetters => self.dead_letters.len(),
        }
    }
}

/// Records a system's events and dead letters for the expectations of a test kit.
pub(crate) struct Recorder {
    state: Mutex<State>,
}

impl Recorder {
    /// Subscribes to `system`'s events; what happened before is not seen.
    pub(crate) fn new(system: &ActorSystem) -> Self {
        Self {
            state: Mutex::new(State {
                subscription: system.subscribe(),
                events: VecDeque::new(),
                dead_letters: VecDeque::new(),
                history: Vec::new(),
            }),
        }
    }

    /// Takes the first event for which `predicate` holds, waiting until `deadline`; on
    /// failure, returns the events that were there and did not match, in words.
    pub(crate) async fn take_event(
        &self,
        deadline: Instant,
        mut predicate: impl FnMut(&Event) -> bool,
    ) -> Result<Event, Vec<String>> {
        let mut state = self.state.lock().await;
        let found = find(&mut state, Queue::Events, deadline, |state, i| {
            predicate(&state.events[i])
        })
        .await;
        match found.and_then(|i| state.events.remove(i)) {
            Some(event) => Ok(event),
            None => Err(state.events.iter().map(|e| format!("{e:?}")).collect()),
        }
    }

    /// Takes the first dead letter for which `predicate` holds, waiting until `deadline`; on
    /// failure, returns the dead letters that were there and did not match, in words.
    pub(crate) async fn take_dead_letter(
        &self,
        deadline: Instant,
        mut predicate: impl FnMut(&DeadLetter) -> bool,
    ) -> Result<Arc<DeadLetter>, Vec<String>> {
        let mut state = self.state.lock().await;
        let found = find(&mut state, Queue::DeadLetters, deadline, |state, i| {
            predicate(&state.dead_letters[i])
        })
        .await;
        match found.and_then(|i| state.dead_letters.remove(i)) {
            Some(letter) => Ok(letter),
            None => Err(state
                .dead_letters
                .iter()
                .map(|l| crate::expect::describe_dead_letter(l))
                .collect()),
        }
    }

    /// The first dead letter to arrive from now until `deadline`, if any; the ones recorded
    /// before are left alone.
    pub(crate) async fn next_dead_letter(&self, deadline: Instant) -> Option<Arc<DeadLetter>> {
        let mut state = self.state.lock().await;
        state.catch_up();
        let before = state.history.len();
        while state.history.len() == before {
            if !state.wait(deadline).await {
                return None;
            }
        }
        state.history.get(before).cloned()
    }

    /// Every dead letter since the start, taken by expectations or not.
    pub(crate) async fn dead_letters(&self) -> Vec<Arc<DeadLetter>> {
        let mut state = self.state.lock().await;
        state.catch_up();
        state.history.clone()
    }
}

/// The index of the first entry of `queue` for which `matches` holds, waiting for new
/// entries until `deadline`. Each entry is checked once.
async fn find(
    state: &mut State,
    queue: Queue,
    deadline: Instant,
    mut matches: impl FnMut(&State, usize) -> bool,
) -> Option<usize> {
    let mut checked = 0;
    state.catch_up();
    loop {
        while checked < state.len(queue) {
            if matches(state, checked) {
                return Some(checked);
            }
            checked += 1;
        }
        if !state.wait(deadline).await {
            return None;
        }
        state.catch_up();
    }
}

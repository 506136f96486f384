//! An unbounded mailbox that serves senders round-robin.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::{Mailbox, PushError};

/// How many emptied sub-queues are kept for reuse, so a sender that alternates between having
/// one message queued and none does not allocate on every message.
const SPARE_QUEUES: usize = 16;

/// Emptied sub-queues that grew larger than this are freed rather than kept, so one burst
/// does not pin its memory for the mailbox's lifetime.
const SPARE_QUEUE_MAX_CAPACITY: usize = 256;

struct State<T> {
    /// One FIFO per sender key; a key is present exactly while its queue is non-empty.
    queues: HashMap<u64, VecDeque<T>>,
    /// The keys present in `queues`, each once, in the order they will next be served.
    ring: VecDeque<u64>,
    spare: Vec<VecDeque<T>>,
    len: usize,
}

/// An unbounded mailbox that serves senders round-robin, so one noisy sender cannot starve
/// the others.
///
/// A user-supplied key function names the sender of each item.
/// Items with the same key keep their order in a FIFO sub-queue of their own; `pop` takes one
/// item from each sender with queued items in turn.
/// A sub-queue is removed as soon as it is empty, so the mailbox tracks only senders that have
/// something queued, however many distinct keys it sees over time.
/// The state sits behind a [`parking_lot::Mutex`]; [`len`](Mailbox::len) reads a counter and
/// takes no lock.
///
/// # Examples
///
/// ```
/// use rakt_mailbox::{FairMailbox, Mailbox};
///
/// // Items are (sender, payload); the sender is the key.
/// let mailbox = FairMailbox::new(|item: &(u64, u32)| item.0);
/// for n in 0..3 {
///     mailbox.try_push((1, n)).unwrap();
/// }
/// mailbox.try_push((2, 0)).unwrap();
/// let order: Vec<_> = std::iter::from_fn(|| mailbox.pop()).collect();
/// assert_eq!(order, [(1, 0), (2, 0), (1, 1), (1, 2)]);
/// ```
pub struct FairMailbox<T> {
    state: Mutex<State<T>>,
    /// Mirrors `State::len`, written under the lock, so `len` needs none.
    len: AtomicUsize,
    key: Box<dyn Fn(&T) -> u64 + Send + Sync>,
}

impl<T> FairMailbox<T> {
    /// Creates an empty mailbox that takes each item's sender from `key`.
    ///
    /// ```
    /// use rakt_mailbox::{FairMailbox, Mailbox};
    ///
    /// struct Msg {
    ///     from: u64,
    /// }
    ///
    /// let mailbox = FairMailbox::new(|msg: &Msg| msg.from);
    /// mailbox.try_push(Msg { from: 7 }).unwrap();
    /// assert_eq!(mailbox.pop().map(|msg| msg.from), Some(7));
    /// ```
    pub fn new(key: impl Fn(&T) -> u64 + Send + Sync + 'static) -> Self {
        Self {
            state: Mutex::new(State {
                queues: HashMap::new(),
                ring: VecDeque::new(),
                spare: Vec::new(),
                len: 0,
            }),
            len: AtomicUsize::new(0),
            key: Box::new(key),
        }
    }

    /// The number of senders that have items queued right now.
    ///
    /// ```
    /// use rakt_mailbox::{FairMailbox, Mailbox};
    ///
    /// let mailbox = FairMailbox::new(|n: &u64| n % 2);
    /// for n in 0..10 {
    ///     mailbox.try_push(n).unwrap();
    /// }
    /// assert_eq!(mailbox.active_senders(), 2);
    /// while mailbox.pop().is_some() {}
    /// assert_eq!(mailbox.active_senders(), 0);
    /// ```
    pub fn active_senders(&self) -> usize {
        self.state.lock().queues.len()
    }
}

impl<T> fmt::Debug for FairMailbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FairMailbox")
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: Send> Mailbox<T> for FairMailbox<T> {
    fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        // The key function is user code: run it before taking the lock.
        let key = (self.key)(&item);
        let mut guard = self.state.lock();
        let state = &mut *guard;
        match state.queues.entry(key) {
            Entry::Occupied(queue) => queue.into_mut().push_back(item),
            Entry::Vacant(slot) => {
                let mut queue = state.spare.pop().unwrap_or_default();
                queue.push_back(item);
                slot.insert(queue);
                state.ring.push_back(key);
            }
        }
        state.len += 1;
        self.len.store(state.len, Ordering::Relaxed);
        Ok(())
    }

    fn pop(&self) -> Option<T> {
        // Skipping the lock when empty keeps an idle consumer's polling cheap.
        if self.is_empty() {
            return None;
        }
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let key = state.ring.pop_front()?;
        let Entry::Occupied(mut queue) = state.queues.entry(key) else {
            debug_assert!(false, "a key in the ring has no queue");
            return None;
        };
        let item = queue.get_mut().pop_front();
        if queue.get().is_empty() {
            let emptied = queue.remove();
            if state.spare.len() < SPARE_QUEUES && emptied.capacity() <= SPARE_QUEUE_MAX_CAPACITY {
                state.spare.push(emptied);
            }
        } else {
            state.ring.push_back(key);
        }
        if item.is_some() {
            state.len -= 1;
            self.len.store(state.len, Ordering::Relaxed);
        }
        item
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_sender() -> FairMailbox<(u64, u32)> {
        FairMailbox::new(|item: &(u64, u32)| item.0)
    }

    #[test]
    fn quiet_sender_is_not_starved() {
        let mailbox = by_sender();
        for n in 0..1000 {
            mailbox.try_push((1, n)).unwrap();
        }
        for n in 0..10 {
            mailbox.try_push((2, n)).unwrap();
        }
        let first: Vec<_> = (0..20).map(|_| mailbox.pop().unwrap()).collect();
        let quiet: Vec<_> = first
            .iter()
            .filter(|item| item.0 == 2)
            .map(|item| item.1)
            .collect();
        assert_eq!(quiet, (0..10).collect::<Vec<_>>());
        assert_eq!(mailbox.len(), 990);
    }

    #[test]
    fn per_sender_order_is_kept() {
        let mailbox = by_sender();
        for n in 0..100 {
            mailbox.try_push((n as u64 % 7, n)).unwrap();
        }
        let mut last: HashMap<u64, u32> = HashMap::new();
        let mut count = 0;
        while let Some((sender, n)) = mailbox.pop() {
            if let Some(previous) = last.insert(sender, n) {
                assert!(
                    previous < n,
                    "sender {sender} reordered: {previous} then {n}"
                );
            }
            count += 1;
        }
        assert_eq!(count, 100);
    }

    #[test]
    fn round_robin_across_senders() {
        let mailbox = by_sender();
        for sender in 1..=3 {
            for n in 0..2 {
                mailbox.try_push((sender, n)).unwrap();
            }
        }
        let order: Vec<_> = std::iter::from_fn(|| mailbox.pop()).collect();
        assert_eq!(order, [(1, 0), (2, 0), (3, 0), (1, 1), (2, 1), (3, 1)]);
    }

    #[test]
    fn empty_sub_queues_are_removed() {
        let mailbox = by_sender();
        for round in 0..100 {
            for sender in 0..50 {
                mailbox.try_push((round * 50 + sender, 0)).unwrap();
            }
            assert_eq!(mailbox.active_senders(), 50);
            while mailbox.pop().is_some() {}
            assert_eq!(mailbox.active_senders(), 0);
        }
        let state = mailbox.state.lock();
        assert!(state.queues.is_empty() && state.ring.is_empty());
        assert!(state.spare.len() <= SPARE_QUEUES);
    }

    #[test]
    fn len_tracks_pushes_and_pops() {
        let mailbox = by_sender();
        assert!(mailbox.is_empty());
        assert_eq!(mailbox.capacity(), None);
        for n in 0..30 {
            mailbox.try_push((u64::from(n % 4), n)).unwrap();
            assert_eq!(mailbox.len(), n as usize + 1);
        }
        for left in (0..30).rev() {
            mailbox.pop().unwrap();
            assert_eq!(mailbox.len(), left);
        }
        assert_eq!(mailbox.pop(), None);
    }

    #[test]
    fn rejoining_sender_goes_to_the_back() {
        let mailbox = by_sender();
        mailbox.try_push((1, 0)).unwrap();
        mailbox.try_push((2, 0)).unwrap();
        mailbox.try_push((2, 1)).unwrap();
        assert_eq!(mailbox.pop(), Some((1, 0)));
        // Sender 1 emptied its queue and left; it rejoins behind sender 2.
        mailbox.try_push((1, 1)).unwrap();
        assert_eq!(mailbox.pop(), Some((2, 0)));
        assert_eq!(mailbox.pop(), Some((1, 1)));
        assert_eq!(mailbox.pop(), Some((2, 1)));
    }
}

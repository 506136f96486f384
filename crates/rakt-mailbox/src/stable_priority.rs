//! An unbounded priority mailbox that keeps equal items in arrival order.

use std::cmp::Ordering;
use std::fmt;
use std::sync::atomic::{self, AtomicUsize};

use parking_lot::Mutex;

use crate::heap::Heap;
use crate::priority::Compare;
use crate::{Mailbox, PushError};

/// An item stamped with its arrival number, which breaks ties.
struct Stamped<T> {
    seq: u64,
    item: T,
}

struct State<T> {
    heap: Heap<Stamped<T>>,
    next_seq: u64,
}

/// An unbounded mailbox that pops the greatest item first, by a user-supplied ordering, and
/// pops items that compare equal in the order they arrived.
///
/// Every item is stamped with a 64-bit arrival number under the lock; ties go to the smaller
/// number.
/// Otherwise it is [`PriorityMailbox`](crate::PriorityMailbox).
///
/// # Examples
///
/// ```
/// use rakt_mailbox::{Mailbox, StablePriorityMailbox};
///
/// let mailbox = StablePriorityMailbox::new(|a: &(u8, char), b: &(u8, char)| a.0.cmp(&b.0));
/// for item in [(1, 'a'), (2, 'b'), (1, 'c'), (2, 'd')] {
///     mailbox.try_push(item).unwrap();
/// }
/// let order: String = std::iter::from_fn(|| mailbox.pop()).map(|(_, c)| c).collect();
/// assert_eq!(order, "bdac");
/// ```
pub struct StablePriorityMailbox<T> {
    state: Mutex<State<T>>,
    /// Mirrors the heap's length, written under the lock, so `len` needs none.
    len: AtomicUsize,
    cmp: Compare<T>,
}

impl<T> StablePriorityMailbox<T> {
    /// Creates an empty mailbox ordered by `cmp`: an item that compares
    /// [`Greater`](Ordering::Greater) than another pops before it, and equal items pop first
    /// in, first out.
    ///
    /// ```
    /// use rakt_mailbox::{Mailbox, StablePriorityMailbox};
    ///
    /// // Every item is equal, so the mailbox behaves as a FIFO.
    /// let mailbox = StablePriorityMailbox::new(|_: &u8, _: &u8| std::cmp::Ordering::Equal);
    /// mailbox.try_push(1).unwrap();
    /// mailbox.try_push(2).unwrap();
    /// assert_eq!(mailbox.pop(), Some(1));
    /// ```
    pub fn new(cmp: impl Fn(&T, &T) -> Ordering + Send + Sync + 'static) -> Self {
        Self {
            state: Mutex::new(State {
                heap: Heap::new(),
                next_seq: 0,
            }),
            len: AtomicUsize::new(0),
            cmp: Box::new(cmp),
        }
    }

    fn compare(&self, a: &Stamped<T>, b: &Stamped<T>) -> Ordering {
        // The earlier arrival is the greater one among equals.
        (self.cmp)(&a.item, &b.item).then_with(|| b.seq.cmp(&a.seq))
    }
}

impl<T> fmt::Debug for StablePriorityMailbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StablePriorityMailbox")
            .field("len", &self.len.load(atomic::Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: Send> Mailbox<T> for StablePriorityMailbox<T> {
    fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let mut state = self.state.lock();
        let seq = state.next_seq;
        // 2^64 pushes will not happen; wrapping only avoids a panic path.
        state.next_seq = seq.wrapping_add(1);
        state
            .heap
            .push(Stamped { seq, item }, |a, b| self.compare(a, b));
        self.len.store(state.heap.len(), atomic::Ordering::Relaxed);
        Ok(())
    }

    fn pop(&self) -> Option<T> {
        // Skipping the lock when empty keeps an idle consumer's polling cheap.
        if self.is_empty() {
            return None;
        }
        let mut state = self.state.lock();
        let stamped = state.heap.pop(|a, b| self.compare(a, b));
        self.len.store(state.heap.len(), atomic::Ordering::Relaxed);
        stamped.map(|stamped| stamped.item)
    }

    fn len(&self) -> usize {
        self.len.load(atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_items_pop_in_arrival_order() {
        // Priority in the first field, arrival index in the second.
        let mailbox = StablePriorityMailbox::new(|a: &(u8, u32), b: &(u8, u32)| a.0.cmp(&b.0));
        for index in 0..300 {
            mailbox.try_push(((index % 3) as u8, index)).unwrap();
        }
        let popped: Vec<_> = std::iter::from_fn(|| mailbox.pop()).collect();
        assert_eq!(popped.len(), 300);
        let mut expected: Vec<_> = (0..300).map(|index| ((index % 3) as u8, index)).collect();
        // A stable sort by descending priority is exactly the required order.
        expected.sort_by_key(|item| std::cmp::Reverse(item.0));
        assert_eq!(popped, expected);
    }

    #[test]
    fn ties_stay_fifo_across_interleaved_pops() {
        let mailbox = StablePriorityMailbox::new(|a: &(u8, char), b: &(u8, char)| a.0.cmp(&b.0));
        mailbox.try_push((0, 'a')).unwrap();
        mailbox.try_push((0, 'b')).unwrap();
        assert_eq!(mailbox.pop(), Some((0, 'a')));
        mailbox.try_push((0, 'c')).unwrap();
        mailbox.try_push((1, 'd')).unwrap();
        assert_eq!(mailbox.pop(), Some((1, 'd')));
        assert_eq!(mailbox.pop(), Some((0, 'b')));
        assert_eq!(mailbox.pop(), Some((0, 'c')));
        assert_eq!(mailbox.pop(), None);
    }

    #[test]
    fn len_tracks_pushes_and_pops() {
        let mailbox = StablePriorityMailbox::new(u8::cmp);
        assert!(mailbox.is_empty());
        assert_eq!(mailbox.capacity(), None);
        for n in 0..5 {
            mailbox.try_push(n).unwrap();
        }
        assert_eq!(mailbox.len(), 5);
        assert_eq!(mailbox.pop(), Some(4));
        assert_eq!(mailbox.len(), 4);
        while mailbox.pop().is_some() {}
        assert_eq!(mailbox.len(), 0);
    }
}

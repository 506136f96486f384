//! An unbounded mailbox that pops the greatest item first.

use std::cmp::Ordering;
use std::fmt;
use std::sync::atomic::{self, AtomicUsize};

use parking_lot::Mutex;

use crate::heap::Heap;
use crate::{Mailbox, PushError};

/// The ordering of a priority mailbox: `Greater` pops first.
pub(crate) type Compare<T> = Box<dyn Fn(&T, &T) -> Ordering + Send + Sync>;

/// An unbounded mailbox that pops the greatest item first, by a user-supplied ordering.
///
/// Items that compare equal pop in an unspecified order; use
/// [`StablePriorityMailbox`](crate::StablePriorityMailbox) to keep them in arrival order.
/// The queue is a binary heap behind a [`parking_lot::Mutex`]; [`len`](Mailbox::len) reads
/// a counter and takes no lock.
///
/// # Examples
///
/// ```
/// use rakt_mailbox::{Mailbox, PriorityMailbox};
///
/// // Lower numbers are more urgent here, so reverse the natural order.
/// let mailbox = PriorityMailbox::new(|a: &u8, b: &u8| b.cmp(a));
/// for n in [3, 1, 2] {
///     mailbox.try_push(n).unwrap();
/// }
/// assert_eq!(mailbox.pop(), Some(1));
/// assert_eq!(mailbox.pop(), Some(2));
/// assert_eq!(mailbox.pop(), Some(3));
/// ```
pub struct PriorityMailbox<T> {
    heap: Mutex<Heap<T>>,
    /// Mirrors the heap's length, written under the lock, so `len` needs none.
    len: AtomicUsize,
    cmp: Compare<T>,
}

impl<T> PriorityMailbox<T> {
    /// Creates an empty mailbox ordered by `cmp`: an item that compares
    /// [`Greater`](Ordering::Greater) than another pops before it.
    ///
    /// ```
    /// use rakt_mailbox::{Mailbox, PriorityMailbox};
    ///
    /// // Longest message first.
    /// let mailbox = PriorityMailbox::new(|a: &String, b: &String| a.len().cmp(&b.len()));
    /// mailbox.try_push("hi".to_string()).unwrap();
    /// mailbox.try_push("hello".to_string()).unwrap();
    /// assert_eq!(mailbox.pop().as_deref(), Some("hello"));
    /// ```
    pub fn new(cmp: impl Fn(&T, &T) -> Ordering + Send + Sync + 'static) -> Self {
        Self {
            heap: Mutex::new(Heap::new()),
            len: AtomicUsize::new(0),
            cmp: Box::new(cmp),
        }
    }
}

impl<T> fmt::Debug for PriorityMailbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PriorityMailbox")
            .field("len", &self.len.load(atomic::Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: Send> Mailbox<T> for PriorityMailbox<T> {
    fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let mut heap = self.heap.lock();
        heap.push(item, &self.cmp);
        self.len.store(heap.len(), atomic::Ordering::Relaxed);
        Ok(())
    }

    fn pop(&self) -> Option<T> {
        // Skipping the lock when empty keeps an idle consumer's polling cheap.
        if self.is_empty() {
            return None;
        }
        let mut heap = self.heap.lock();
        let item = heap.pop(&self.cmp);
        self.len.store(heap.len(), atomic::Ordering::Relaxed);
        item
    }

    fn len(&self) -> usize {
        self.len.load(atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greatest_pops_first() {
        let mailbox = PriorityMailbox::new(u32::cmp);
        for n in [4, 8, 1, 9, 3, 8] {
            mailbox.try_push(n).unwrap();
        }
        let popped: Vec<_> = std::iter::from_fn(|| mailbox.pop()).collect();
        assert_eq!(popped, [9, 8, 8, 4, 3, 1]);
    }

    #[test]
    fn len_tracks_pushes_and_pops() {
        let mailbox = PriorityMailbox::new(u32::cmp);
        assert!(mailbox.is_empty());
        assert_eq!(mailbox.capacity(), None);
        assert!(!mailbox.waits_when_full());
        for n in 0..10 {
            mailbox.try_push(n).unwrap();
            assert_eq!(mailbox.len(), n as usize + 1);
        }
        for left in (0..10).rev() {
            mailbox.pop().unwrap();
            assert_eq!(mailbox.len(), left);
        }
        assert_eq!(mailbox.pop(), None);
        assert_eq!(mailbox.len(), 0);
    }

    #[test]
    fn orders_by_key_not_by_value() {
        let mailbox = PriorityMailbox::new(|a: &(u8, &str), b: &(u8, &str)| a.0.cmp(&b.0));
        mailbox.try_push((1, "low")).unwrap();
        mailbox.try_push((5, "high")).unwrap();
        mailbox.try_push((3, "mid")).unwrap();
        assert_eq!(mailbox.pop(), Some((5, "high")));
        mailbox.try_push((4, "late")).unwrap();
        assert_eq!(mailbox.pop(), Some((4, "late")));
        assert_eq!(mailbox.pop(), Some((3, "mid")));
        assert_eq!(mailbox.pop(), Some((1, "low")));
    }

    #[test]
    fn debug_needs_no_item_debug() {
        struct Opaque;
        let mailbox = PriorityMailbox::new(|_: &Opaque, _: &Opaque| Ordering::Equal);
        mailbox.try_push(Opaque).unwrap();
        assert_eq!(format!("{mailbox:?}"), "PriorityMailbox { len: 1, .. }");
    }
}

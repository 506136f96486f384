//! The default mailbox: an unbounded, lock-free FIFO.

use std::fmt;

use crate::queue::Queue;
use crate::{Mailbox, PushError};

/// The default mailbox: an unbounded, lock-free, multi-producer FIFO.
///
/// Items are kept in blocks of 32 rather than one node per item, and neither push nor pop takes
/// a lock: a push claims its slot with a single atomic add, and a pop costs one uncontended
/// atomic swap (which keeps a second thread popping at the same time from doing harm).
/// A block the consumer is done with is handed back to the producers, so a steady stream of
/// items allocates nothing, and an emptied mailbox keeps at most two blocks.
/// `try_push` never fails.
///
/// [`len`](Mailbox::len) counts pushes that have claimed a slot and not been popped, including
/// one still writing its item, which [`pop`](Mailbox::pop) does not return yet: a mailbox may
/// briefly be non-empty while `pop` returns `None`, but is never empty while an item is ready.
///
/// # Examples
///
/// ```
/// use rakt_mailbox::{Mailbox, UnboundedMailbox};
///
/// let mailbox = UnboundedMailbox::new();
/// for n in 0..3 {
///     mailbox.try_push(n).unwrap();
/// }
/// assert_eq!(mailbox.len(), 3);
/// assert_eq!(mailbox.pop(), Some(0));
/// assert_eq!(mailbox.pop(), Some(1));
/// ```
pub struct UnboundedMailbox<T> {
    queue: Queue<T>,
}

impl<T> UnboundedMailbox<T> {
    /// Creates an empty mailbox.
    ///
    /// ```
    /// use rakt_mailbox::{Mailbox, UnboundedMailbox};
    ///
    /// let mailbox = UnboundedMailbox::<String>::new();
    /// assert!(mailbox.is_empty());
    /// ```
    pub const fn new() -> Self {
        Self {
            queue: Queue::new(),
        }
    }
}

impl<T> Default for UnboundedMailbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for UnboundedMailbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedMailbox")
            .field("len", &self.queue.len())
            .finish()
    }
}

impl<T: Send> Mailbox<T> for UnboundedMailbox<T> {
    #[inline]
    fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        self.queue.push(item);
        Ok(())
    }

    #[inline]
    fn pop(&self) -> Option<T> {
        self.queue.pop()
    }

    #[inline]
    fn len(&self) -> usize {
        self.queue.len()
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_order() {
        let mailbox = UnboundedMailbox::new();
        for n in 0..100 {
            mailbox.try_push(n).unwrap();
        }
        let popped: Vec<_> = std::iter::from_fn(|| mailbox.pop()).collect();
        assert_eq!(popped, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn len_and_capacity() {
        let mailbox = UnboundedMailbox::new();
        assert_eq!(mailbox.capacity(), None);
        assert!(!mailbox.waits_when_full());
        assert!(mailbox.is_empty());
        mailbox.try_push("a").unwrap();
        mailbox.try_push("b").unwrap();
        assert_eq!(mailbox.len(), 2);
        mailbox.pop();
        assert_eq!(mailbox.len(), 1);
        mailbox.pop();
        assert!(mailbox.is_empty());
        assert_eq!(mailbox.pop(), None);
    }

    #[test]
    fn close_is_a_no_op() {
        let mailbox = UnboundedMailbox::new();
        mailbox.close();
        mailbox.try_push(1).unwrap();
        assert_eq!(mailbox.pop(), Some(1));
    }

    #[test]
    fn default_push_resolves_immediately() {
        let mailbox = UnboundedMailbox::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(mailbox.push(9)).unwrap();
        assert_eq!(mailbox.pop(), Some(9));
    }

    #[test]
    fn debug_shows_len_without_item_debug() {
        struct Opaque;
        let mailbox = UnboundedMailbox::new();
        mailbox.try_push(Opaque).unwrap();
        assert_eq!(format!("{mailbox:?}"), "UnboundedMailbox { len: 1 }");
    }
}

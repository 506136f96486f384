//! A bounded, lock-free FIFO that fails fast when full.

use std::fmt;
use std::mem;

use crossbeam_queue::ArrayQueue;

use crate::{Mailbox, MailboxConfigError, PushError};

/// A bounded, lock-free FIFO mailbox that never makes a sender wait.
///
/// It holds exactly `capacity` items (the capacity is not rounded) in an [`ArrayQueue`]
/// allocated once at construction.
/// When it is full, [`try_push`](Mailbox::try_push) hands the item back as
/// [`PushError::Full`]: nothing waits and nothing is dropped.
///
/// # Examples
///
/// ```
/// use rakt_mailbox::{Mailbox, NonBlockingBoundedMailbox, PushError};
///
/// let mailbox = NonBlockingBoundedMailbox::new(2)?;
/// mailbox.try_push(1).unwrap();
/// mailbox.try_push(2).unwrap();
/// assert_eq!(mailbox.try_push(3), Err(PushError::Full(3)));
/// assert_eq!(mailbox.pop(), Some(1));
/// # Ok::<(), rakt_mailbox::MailboxConfigError>(())
/// ```
pub struct NonBlockingBoundedMailbox<T> {
    queue: ArrayQueue<T>,
}

impl<T> NonBlockingBoundedMailbox<T> {
    /// The largest capacity accepted for items of type `T`: the buffer, one slot per item,
    /// must fit in `isize::MAX` bytes.
    ///
    /// ```
    /// use rakt_mailbox::NonBlockingBoundedMailbox;
    ///
    /// assert!(NonBlockingBoundedMailbox::<u64>::max_capacity() > 1 << 40);
    /// ```
    pub const fn max_capacity() -> usize {
        // A slot is the item plus the queue's stamp word; rounding the item up to a word keeps
        // the estimate on the safe side of the real layout.
        let slot =
            mem::size_of::<T>().next_multiple_of(mem::size_of::<usize>()) + mem::size_of::<usize>();
        isize::MAX as usize / slot
    }

    /// Creates an empty mailbox holding at most `capacity` items.
    ///
    /// The whole buffer is allocated here, so pushes never allocate.
    ///
    /// # Errors
    ///
    /// [`MailboxConfigError::ZeroCapacity`] for a capacity of zero, and
    /// [`MailboxConfigError::CapacityTooLarge`] above [`Self::max_capacity`].
    ///
    /// ```
    /// use rakt_mailbox::{Mailbox, MailboxConfigError, NonBlockingBoundedMailbox};
    ///
    /// let mailbox = NonBlockingBoundedMailbox::<String>::new(1000).unwrap();
    /// assert_eq!(mailbox.capacity(), Some(1000));
    /// assert_eq!(
    ///     NonBlockingBoundedMailbox::<String>::new(0).unwrap_err(),
    ///     MailboxConfigError::ZeroCapacity,
    /// );
    /// ```
    pub fn new(capacity: usize) -> Result<Self, MailboxConfigError> {
        if capacity == 0 {
            return Err(MailboxConfigError::ZeroCapacity);
        }
        let max = Self::max_capacity();
        if capacity > max {
            return Err(MailboxConfigError::CapacityTooLarge { capacity, max });
        }
        Ok(Self {
            queue: ArrayQueue::new(capacity),
        })
    }
}

impl<T> fmt::Debug for NonBlockingBoundedMailbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonBlockingBoundedMailbox")
            .field("len", &self.queue.len())
            .field("capacity", &self.queue.capacity())
            .finish()
    }
}

impl<T: Send> Mailbox<T> for NonBlockingBoundedMailbox<T> {
    #[inline]
    fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        self.queue.push(item).map_err(PushError::Full)
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

    fn capacity(&self) -> Option<usize> {
        Some(self.queue.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_capacity() {
        assert_eq!(
            NonBlockingBoundedMailbox::<u8>::new(0).unwrap_err(),
            MailboxConfigError::ZeroCapacity
        );
        let max = NonBlockingBoundedMailbox::<[u8; 64]>::max_capacity();
        assert!(matches!(
            NonBlockingBoundedMailbox::<[u8; 64]>::new(max + 1),
            Err(MailboxConfigError::CapacityTooLarge { capacity, .. }) if capacity == max + 1
        ));
    }

    #[test]
    fn exact_capacity_not_rounded() {
        for capacity in [1, 3, 5, 100] {
            let mailbox = NonBlockingBoundedMailbox::new(capacity).unwrap();
            assert_eq!(mailbox.capacity(), Some(capacity));
            for n in 0..capacity {
                mailbox.try_push(n).unwrap();
            }
            assert_eq!(mailbox.len(), capacity);
            assert_eq!(
                mailbox.try_push(usize::MAX),
                Err(PushError::Full(usize::MAX))
            );
        }
    }

    #[test]
    fn full_hands_item_back_and_keeps_fifo() {
        let mailbox = NonBlockingBoundedMailbox::new(2).unwrap();
        assert!(!mailbox.waits_when_full());
        mailbox.try_push(String::from("a")).unwrap();
        mailbox.try_push(String::from("b")).unwrap();
        let err = mailbox.try_push(String::from("c")).unwrap_err();
        assert!(err.is_full());
        assert_eq!(err.into_inner(), "c");
        assert_eq!(mailbox.pop().as_deref(), Some("a"));
        mailbox.try_push(String::from("c")).unwrap();
        assert_eq!(mailbox.pop().as_deref(), Some("b"));
        assert_eq!(mailbox.pop().as_deref(), Some("c"));
        assert!(mailbox.is_empty());
        assert_eq!(mailbox.pop(), None);
    }

    #[test]
    fn fifo_across_wraparound() {
        let mailbox = NonBlockingBoundedMailbox::new(3).unwrap();
        let mut next_in = 0;
        let mut next_out = 0;
        for _ in 0..50 {
            while mailbox.try_push(next_in).is_ok() {
                next_in += 1;
            }
            for _ in 0..2 {
                assert_eq!(mailbox.pop(), Some(next_out));
                next_out += 1;
            }
        }
    }
}

//! The [`Mailbox`] trait: one queue discipline for an actor's user lane.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::PushError;

/// The future returned by [`Mailbox::push`].
///
/// It is boxed so that `Mailbox` stays object safe; it is only created on the slow path,
/// when a mailbox that makes senders wait was found full.
pub type PushFuture<'a, T> = Pin<Box<dyn Future<Output = Result<(), PushError<T>>> + Send + 'a>>;

/// A queue discipline for the user lane.
///
/// Multi-producer, single-consumer: any number of threads may push at once, but `pop` is only
/// ever called by one task at a time (the actor that owns the mailbox).
///
/// # Closing
///
/// [`close`](Mailbox::close) exists for mailboxes whose senders wait
/// ([`waits_when_full`](Mailbox::waits_when_full) returns `true`).
/// Such a mailbox must uphold one rule, which [`Lanes`](crate::Lanes) relies on to never lose a
/// message: once `close` has returned, a [`push`](Mailbox::push) future that is polled must not
/// enqueue its item but resolve to [`PushError::Closed`] with it, and waiters must be woken so
/// that they do so promptly.
/// Mailboxes that never make senders wait can keep the default no-op, because `Lanes` refuses
/// their pushes itself once the lane is closed.
///
/// # Examples
///
/// A last-in, first-out mailbox, written against the trait:
///
/// ```
/// use std::sync::Mutex;
/// use rakt_mailbox::{Lanes, Mailbox, PushError};
///
/// #[derive(Debug, Default)]
/// struct Stack<T>(Mutex<Vec<T>>);
///
/// impl<T: Send + std::fmt::Debug> Mailbox<T> for Stack<T> {
///     fn try_push(&self, item: T) -> Result<(), PushError<T>> {
///         self.0.lock().unwrap().push(item);
///         Ok(())
///     }
///
///     fn pop(&self) -> Option<T> {
///         self.0.lock().unwrap().pop()
///     }
///
///     fn len(&self) -> usize {
///         self.0.lock().unwrap().len()
///     }
/// }
///
/// let lanes: Lanes<(), u32> = Lanes::new(Box::new(Stack::default()));
/// lanes.try_push_user(1).unwrap();
/// lanes.try_push_user(2).unwrap();
/// assert_eq!(lanes.pop_user(), Some(2));
/// assert_eq!(lanes.pop_user(), Some(1));
/// ```
pub trait Mailbox<T: Send>: Send + Sync + fmt::Debug {
    /// Enqueues `item` without ever waiting.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] when there is no room, [`PushError::Closed`] when the mailbox was
    /// closed; the item is handed back either way.
    ///
    /// ```
    /// use rakt_mailbox::{Mailbox, UnboundedMailbox};
    ///
    /// let mailbox = UnboundedMailbox::new();
    /// mailbox.try_push("hello").unwrap();
    /// assert_eq!(mailbox.pop(), Some("hello"));
    /// ```
    fn try_push(&self, item: T) -> Result<(), PushError<T>>;

    /// Enqueues `item`, waiting for space when the mailbox makes senders wait.
    ///
    /// Only the bounded waiting mailbox ([`BoundedMailbox`](crate::BoundedMailbox)) waits;
    /// the default resolves at once to the result of [`try_push`](Mailbox::try_push), called
    /// on the first poll.
    /// Dropping the future before it resolves drops the item.
    ///
    /// # Errors
    ///
    /// As for `try_push`, plus [`PushError::Timeout`] when the mailbox stayed full for its
    /// whole push timeout.
    ///
    /// ```
    /// use rakt_mailbox::{Mailbox, UnboundedMailbox};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let mailbox = UnboundedMailbox::new();
    /// mailbox.push(1).await.unwrap();
    /// assert_eq!(mailbox.pop(), Some(1));
    /// # });
    /// ```
    fn push<'a>(
        &'a self,
        item: T,
    ) -> Pin<Box<dyn Future<Output = Result<(), PushError<T>>> + Send + 'a>>
    where
        T: 'a,
    {
        // Deferring the attempt to the first poll keeps every enqueue inside a poll, which is
        // where `Lanes` accounts for pushes in flight.
        let mut item = Some(item);
        Box::pin(std::future::poll_fn(move |_| match item.take() {
            Some(item) => std::task::Poll::Ready(self.try_push(item)),
            // Polling a completed future is a caller bug; stay pending rather than panic.
            None => std::task::Poll::Pending,
        }))
    }

    /// Whether a [`PushError::Full`] from `try_push` should be retried through `push`, because
    /// this mailbox makes senders wait for space.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_mailbox::{BoundedMailbox, Mailbox, NonBlockingBoundedMailbox};
    ///
    /// let waiting = BoundedMailbox::<u8>::new(4, Duration::from_secs(1)).unwrap();
    /// let failing = NonBlockingBoundedMailbox::<u8>::new(4).unwrap();
    /// assert!(waiting.waits_when_full());
    /// assert!(!failing.waits_when_full());
    /// ```
    fn waits_when_full(&self) -> bool {
        false
    }

    /// Dequeues the next item, or `None` when the mailbox is empty.
    ///
    /// Only one task at a time may call this.
    ///
    /// ```
    /// use rakt_mailbox::{Mailbox, UnboundedMailbox};
    ///
    /// let mailbox = UnboundedMailbox::<u8>::new();
    /// assert_eq!(mailbox.pop(), None);
    /// ```
    fn pop(&self) -> Option<T>;

    /// The number of queued items.
    ///
    /// Under concurrent pushes this is a snapshot that may already be stale.
    ///
    /// ```
    /// use rakt_mailbox::{Mailbox, UnboundedMailbox};
    ///
    /// let mailbox = UnboundedMailbox::new();
    /// mailbox.try_push('a').unwrap();
    /// assert_eq!(mailbox.len(), 1);
    /// ```
    fn len(&self) -> usize;

    /// Whether no item is queued.
    ///
    /// ```
    /// use rakt_mailbox::{Mailbox, UnboundedMailbox};
    ///
    /// assert!(UnboundedMailbox::<u8>::new().is_empty());
    /// ```
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most items the mailbox holds, or `None` when it is unbounded.
    ///
    /// ```
    /// use rakt_mailbox::{Mailbox, NonBlockingBoundedMailbox, UnboundedMailbox};
    ///
    /// assert_eq!(UnboundedMailbox::<u8>::new().capacity(), None);
    /// assert_eq!(NonBlockingBoundedMailbox::<u8>::new(3).unwrap().capacity(), Some(3));
    /// ```
    fn capacity(&self) -> Option<usize> {
        None
    }

    /// Wakes every sender waiting in `push` so that it fails with [`PushError::Closed`].
    ///
    /// See [Closing](Mailbox#closing) for the rule a waiting mailbox must follow.
    /// The default does nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_mailbox::{BoundedMailbox, Mailbox};
    ///
    /// let mailbox = BoundedMailbox::new(1, Duration::from_secs(1)).unwrap();
    /// mailbox.close();
    /// assert!(mailbox.try_push(1).unwrap_err().is_closed());
    /// ```
    fn close(&self) {}
}

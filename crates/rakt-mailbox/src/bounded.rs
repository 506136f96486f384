//! A bounded FIFO whose senders wait, fairly, for space.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_queue::SegQueue;
use tokio::sync::{Semaphore, TryAcquireError};

use crate::{Mailbox, MailboxConfigError, PushError, PushFuture};

/// A bounded FIFO mailbox whose senders wait for space, up to a push timeout.
///
/// Each queued item holds one permit of a [`tokio::sync::Semaphore`] with `capacity` permits;
/// `pop` gives the permit back.
/// Senders that find the mailbox full queue up on the semaphore, so they are served in the
/// order they started waiting, and none can overtake a waiter with `try_push`.
/// Items live in a lock-free [`SegQueue`], so memory follows the number of queued items rather
/// than the capacity.
///
/// [`try_push`](Mailbox::try_push) never waits and reports [`PushError::Full`].
/// [`push`](Mailbox::push) waits for space for at most the push timeout given at construction,
/// then fails with [`PushError::Timeout`]; waiting needs a Tokio runtime with the time driver
/// enabled, as [`tokio::time::timeout`] does.
/// [`close`](Mailbox::close) makes waiting and later senders fail with [`PushError::Closed`];
/// items already queued can still be popped.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rakt_mailbox::{BoundedMailbox, Mailbox, PushError};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let mailbox = BoundedMailbox::new(1, Duration::from_millis(10))?;
/// mailbox.try_push("first").unwrap();
/// assert_eq!(mailbox.try_push("second"), Err(PushError::Full("second")));
/// // Nobody pops, so a waiting push gives up after the push timeout.
/// assert_eq!(mailbox.push("second").await, Err(PushError::Timeout("second")));
/// assert_eq!(mailbox.pop(), Some("first"));
/// mailbox.push("second").await.unwrap();
/// # Ok::<(), rakt_mailbox::MailboxConfigError>(())
/// # }).unwrap();
/// ```
pub struct BoundedMailbox<T> {
    queue: SegQueue<T>,
    /// One permit per free slot.
    permits: Semaphore,
    capacity: usize,
    push_timeout: Duration,
    closed: AtomicBool,
}

impl<T> BoundedMailbox<T> {
    /// The largest capacity accepted, set by the semaphore behind the mailbox.
    pub const MAX_CAPACITY: usize = Semaphore::MAX_PERMITS;

    /// Creates an empty mailbox holding at most `capacity` items, whose waiting senders give
    /// up after `push_timeout`.
    ///
    /// # Errors
    ///
    /// [`MailboxConfigError::ZeroCapacity`] for a capacity of zero, and
    /// [`MailboxConfigError::CapacityTooLarge`] above [`Self::MAX_CAPACITY`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_mailbox::{BoundedMailbox, Mailbox, MailboxConfigError};
    ///
    /// let mailbox = BoundedMailbox::<u64>::new(128, Duration::from_secs(5)).unwrap();
    /// assert_eq!(mailbox.capacity(), Some(128));
    /// assert_eq!(
    ///     BoundedMailbox::<u64>::new(0, Duration::from_secs(5)).unwrap_err(),
    ///     MailboxConfigError::ZeroCapacity,
    /// );
    /// ```
    pub fn new(capacity: usize, push_timeout: Duration) -> Result<Self, MailboxConfigError> {
        if capacity == 0 {
            return Err(MailboxConfigError::ZeroCapacity);
        }
        if capacity > Self::MAX_CAPACITY {
            return Err(MailboxConfigError::CapacityTooLarge {
                capacity,
                max: Self::MAX_CAPACITY,
            });
        }
        Ok(Self {
            queue: SegQueue::new(),
            permits: Semaphore::new(capacity),
            capacity,
            push_timeout,
            closed: AtomicBool::new(false),
        })
    }

    /// How long [`push`](Mailbox::push) waits for space before failing with
    /// [`PushError::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_mailbox::BoundedMailbox;
    ///
    /// let mailbox = BoundedMailbox::<u8>::new(1, Duration::from_millis(250)).unwrap();
    /// assert_eq!(mailbox.push_timeout(), Duration::from_millis(250));
    /// ```
    pub fn push_timeout(&self) -> Duration {
        self.push_timeout
    }

    /// Whether [`close`](Mailbox::close) was called.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_mailbox::{BoundedMailbox, Mailbox};
    ///
    /// let mailbox = BoundedMailbox::<u8>::new(1, Duration::from_secs(1)).unwrap();
    /// assert!(!mailbox.is_closed());
    /// mailbox.close();
    /// assert!(mailbox.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl<T> fmt::Debug for BoundedMailbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedMailbox")
            .field("len", &self.queue.len())
            .field("capacity", &self.capacity)
            .field("push_timeout", &self.push_timeout)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T: Send> Mailbox<T> for BoundedMailbox<T> {
    fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        // `close` closes the semaphore, so a closed mailbox is also caught by `try_acquire`;
        // checking the flag first just skips the atomic update.
        if self.is_closed() {
            return Err(PushError::Closed(item));
        }
        match self.permits.try_acquire() {
            Ok(permit) => {
                // The permit now belongs to the queued item and comes back in `pop`.
                permit.forget();
                self.queue.push(item);
                Ok(())
            }
            Err(TryAcquireError::NoPermits) => Err(PushError::Full(item)),
            Err(TryAcquireError::Closed) => Err(PushError::Closed(item)),
        }
    }

    fn push<'a>(&'a self, item: T) -> PushFuture<'a, T>
    where
        T: 'a,
    {
        Box::pin(async move {
            let item = match self.try_push(item) {
                Err(PushError::Full(item)) => item,
                done => return done,
            };
            match tokio::time::timeout(self.push_timeout, self.permits.acquire()).await {
                Ok(Ok(permit)) => {
                    // A permit handed to this waiter just before `close` must not let the item
                    // in afterwards: `Lanes` counts on a closed mailbox taking nothing more.
                    // Dropping the permit returns it to the semaphore.
                    if self.is_closed() {
                        return Err(PushError::Closed(item));
                    }
                    permit.forget();
                    self.queue.push(item);
                    Ok(())
                }
                Ok(Err(_closed)) => Err(PushError::Closed(item)),
                Err(_elapsed) => Err(PushError::Timeout(item)),
            }
        })
    }

    fn waits_when_full(&self) -> bool {
        true
    }

    fn pop(&self) -> Option<T> {
        let item = self.queue.pop()?;
        self.permits.add_permits(1);
        Some(item)
    }

    fn len(&self) -> usize {
        self.queue.len()
    }

    fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    fn capacity(&self) -> Option<usize> {
        Some(self.capacity)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.permits.close();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    /// Bounds every wait in these tests, so a bug fails instead of hanging.
    const DEADLINE: Duration = Duration::from_secs(20);

    fn mailbox(capacity: usize, push_timeout: Duration) -> Arc<BoundedMailbox<u32>> {
        Arc::new(BoundedMailbox::new(capacity, push_timeout).unwrap())
    }

    /// Waits until `pred` holds, failing the test after [`DEADLINE`].
    async fn eventually(mut pred: impl FnMut() -> bool) {
        let start = Instant::now();
        while !pred() {
            assert!(start.elapsed() < DEADLINE, "condition not reached in time");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[test]
    fn rejects_bad_capacity() {
        let timeout = Duration::from_secs(1);
        assert_eq!(
            BoundedMailbox::<u8>::new(0, timeout).unwrap_err(),
            MailboxConfigError::ZeroCapacity
        );
        let too_large = BoundedMailbox::<u8>::MAX_CAPACITY + 1;
        assert_eq!(
            BoundedMailbox::<u8>::new(too_large, timeout).unwrap_err(),
            MailboxConfigError::CapacityTooLarge {
                capacity: too_large,
                max: BoundedMailbox::<u8>::MAX_CAPACITY
            }
        );
    }

    #[test]
    fn fifo_and_capacity() {
        let mailbox = mailbox(3, Duration::from_secs(1));
        assert!(mailbox.waits_when_full());
        assert_eq!(mailbox.capacity(), Some(3));
        for n in 0..3 {
            mailbox.try_push(n).unwrap();
        }
        assert_eq!(mailbox.len(), 3);
        assert_eq!(mailbox.try_push(3), Err(PushError::Full(3)));
        assert_eq!(mailbox.pop(), Some(0));
        mailbox.try_push(3).unwrap();
        assert_eq!(mailbox.try_push(4), Err(PushError::Full(4)));
        let rest: Vec<_> = std::iter::from_fn(|| mailbox.pop()).collect();
        assert_eq!(rest, [1, 2, 3]);
        assert!(mailbox.is_empty());
        // Every permit came back: the mailbox takes `capacity` items again.
        for n in 0..3 {
            mailbox.try_push(n).unwrap();
        }
        assert!(mailbox.try_push(9).unwrap_err().is_full());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn push_waits_then_succeeds_when_consumer_pops() {
        let mailbox = mailbox(1, DEADLINE);
        mailbox.try_push(1).unwrap();
        let sender = tokio::spawn({
            let mailbox = Arc::clone(&mailbox);
            async move { mailbox.push(2).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            !sender.is_finished(),
            "push must wait while the mailbox is full"
        );
        assert_eq!(mailbox.pop(), Some(1));
        let result = tokio::time::timeout(DEADLINE, sender)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(result, Ok(()));
        assert_eq!(mailbox.pop(), Some(2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn push_times_out_with_item() {
        let push_timeout = Duration::from_millis(50);
        let mailbox = mailbox(1, push_timeout);
        mailbox.try_push(1).unwrap();
        let start = Instant::now();
        let result = tokio::time::timeout(DEADLINE, mailbox.push(2))
            .await
            .unwrap();
        assert_eq!(result, Err(PushError::Timeout(2)));
        assert!(start.elapsed() >= push_timeout);
        // The abandoned wait left no permit behind.
        assert_eq!(mailbox.pop(), Some(1));
        mailbox.try_push(3).unwrap();
        assert!(mailbox.try_push(4).unwrap_err().is_full());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_wakes_waiters_with_closed() {
        let mailbox = mailbox(1, DEADLINE);
        mailbox.try_push(0).unwrap();
        let senders: Vec<_> = (1..=3)
            .map(|n| {
                let mailbox = Arc::clone(&mailbox);
                tokio::spawn(async move { mailbox.push(n).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(30)).await;
        mailbox.close();
        let mut returned = Vec::new();
        for sender in senders {
            let result = tokio::time::timeout(DEADLINE, sender)
                .await
                .unwrap()
                .unwrap();
            match result {
                Err(PushError::Closed(n)) => returned.push(n),
                other => panic!("expected Closed, got {other:?}"),
            }
        }
        returned.sort_unstable();
        assert_eq!(returned, [1, 2, 3]);
        assert!(mailbox.try_push(4).unwrap_err().is_closed());
        assert!(mailbox.push(5).await.unwrap_err().is_closed());
        // Items queued before the close are still delivered.
        assert_eq!(mailbox.pop(), Some(0));
        assert_eq!(mailbox.pop(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_senders_are_served_in_order() {
        let mailbox = mailbox(1, DEADLINE);
        mailbox.try_push(0).unwrap();
        let mut senders = Vec::new();
        for n in 1..=3 {
            let sender = tokio::spawn({
                let mailbox = Arc::clone(&mailbox);
                async move { mailbox.push(n).await }
            });
            senders.push(sender);
            // Let this sender join the wait queue before the next one starts.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A newcomer cannot overtake the queued waiters.
        assert!(mailbox.try_push(99).unwrap_err().is_full());
        let mut popped = vec![mailbox.pop().unwrap()];
        for _ in 0..3 {
            eventually(|| !mailbox.is_empty()).await;
            popped.push(mailbox.pop().unwrap());
        }
        assert_eq!(popped, [0, 1, 2, 3]);
        for sender in senders {
            assert_eq!(sender.await.unwrap(), Ok(()));
        }
    }

    #[test]
    fn try_push_fails_after_close_but_queued_items_remain() {
        let mailbox = mailbox(2, Duration::from_secs(1));
        mailbox.try_push(1).unwrap();
        mailbox.close();
        assert!(mailbox.is_closed());
        assert_eq!(mailbox.try_push(2), Err(PushError::Closed(2)));
        assert_eq!(mailbox.len(), 1);
        assert_eq!(mailbox.pop(), Some(1));
    }
}

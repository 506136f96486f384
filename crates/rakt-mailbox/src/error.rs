//! Errors of the mailbox crate.

use std::fmt;

/// Why an item was not enqueued; the item is always handed back.
///
/// The `Debug` output names the variant only, so `PushError<T>` is `Debug` (and an
/// [`Error`](std::error::Error)) for every `T`, which lets callers `unwrap` or `?` it
/// even when the message type is opaque.
///
/// # Examples
///
/// ```
/// use rakt_mailbox::{Mailbox, NonBlockingBoundedMailbox, PushError};
///
/// let mailbox = NonBlockingBoundedMailbox::new(1).unwrap();
/// mailbox.try_push("first").unwrap();
/// let err = mailbox.try_push("second").unwrap_err();
/// assert!(err.is_full());
/// assert_eq!(err.to_string(), "mailbox is full");
/// assert_eq!(err.into_inner(), "second");
/// ```
#[derive(thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError<T> {
    /// The mailbox had no room and does not make this caller wait.
    #[error("mailbox is full")]
    Full(T),
    /// The mailbox (or its lane) was closed; nothing more is accepted.
    #[error("mailbox is closed")]
    Closed(T),
    /// The mailbox stayed full for the whole push timeout.
    #[error("timed out waiting for mailbox space")]
    Timeout(T),
}

impl<T> PushError<T> {
    /// Takes back the item that was not enqueued.
    ///
    /// ```
    /// use rakt_mailbox::PushError;
    ///
    /// assert_eq!(PushError::Closed(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Closed(item) | Self::Timeout(item) => item,
        }
    }

    /// Borrows the item that was not enqueued.
    ///
    /// ```
    /// use rakt_mailbox::PushError;
    ///
    /// assert_eq!(PushError::Full("hello").inner(), &"hello");
    /// ```
    pub fn inner(&self) -> &T {
        match self {
            Self::Full(item) | Self::Closed(item) | Self::Timeout(item) => item,
        }
    }

    /// Whether the mailbox was full and the caller was not made to wait.
    ///
    /// ```
    /// use rakt_mailbox::PushError;
    ///
    /// assert!(PushError::Full(()).is_full());
    /// assert!(!PushError::Closed(()).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the mailbox was closed.
    ///
    /// ```
    /// use rakt_mailbox::PushError;
    ///
    /// assert!(PushError::Closed(()).is_closed());
    /// assert!(!PushError::Timeout(()).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }

    /// Whether the caller waited for space for the whole push timeout.
    ///
    /// ```
    /// use rakt_mailbox::PushError;
    ///
    /// assert!(PushError::Timeout(()).is_timeout());
    /// assert!(!PushError::Full(()).is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// Converts the handed-back item, keeping the reason.
    ///
    /// The runtime uses this to unwrap its envelope and return the user's message.
    ///
    /// ```
    /// use rakt_mailbox::PushError;
    ///
    /// let err = PushError::Full((1, "payload")).map(|(_, msg)| msg);
    /// assert_eq!(err, PushError::Full("payload"));
    /// ```
    pub fn map<V>(self, f: impl FnOnce(T) -> V) -> PushError<V> {
        match self {
            Self::Full(item) => PushError::Full(f(item)),
            Self::Closed(item) => PushError::Closed(f(item)),
            Self::Timeout(item) => PushError::Timeout(f(item)),
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The item is deliberately left out: message types need not be `Debug`.
        f.write_str(match self {
            Self::Full(_) => "Full",
            Self::Closed(_) => "Closed",
            Self::Timeout(_) => "Timeout",
        })
    }
}

/// A mailbox could not be built from the given settings.
///
/// # Examples
///
/// ```
/// use rakt_mailbox::{MailboxConfigError, NonBlockingBoundedMailbox};
///
/// let err = NonBlockingBoundedMailbox::<u32>::new(0).unwrap_err();
/// assert_eq!(err, MailboxConfigError::ZeroCapacity);
/// assert_eq!(err.to_string(), "mailbox capacity must be at least 1");
/// ```
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailboxConfigError {
    /// A bounded mailbox was asked for a capacity of zero, which could never accept a message.
    #[error("mailbox capacity must be at least 1")]
    ZeroCapacity,
    /// The capacity is larger than the mailbox can represent or allocate.
    #[error("mailbox capacity {capacity} exceeds the maximum of {max}")]
    CapacityTooLarge {
        /// The capacity that was asked for.
        capacity: usize,
        /// The largest capacity this mailbox kind accepts.
        max: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Opaque;

    #[test]
    fn debug_does_not_need_debug_items() {
        assert_eq!(format!("{:?}", PushError::Full(Opaque)), "Full");
        assert_eq!(format!("{:?}", PushError::Closed(Opaque)), "Closed");
        assert_eq!(format!("{:?}", PushError::Timeout(Opaque)), "Timeout");
    }

    #[test]
    fn push_error_is_a_std_error() {
        fn assert_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
        let err = PushError::Timeout(Opaque);
        assert_error(&err);
        assert_eq!(err.to_string(), "timed out waiting for mailbox space");
        assert_eq!(PushError::Closed(Opaque).to_string(), "mailbox is closed");
    }

    #[test]
    fn accessors_agree_with_variant() {
        let err = PushError::Closed(5);
        assert!(err.is_closed() && !err.is_full() && !err.is_timeout());
        assert_eq!(*err.inner(), 5);
        assert_eq!(err.map(|n| n * 2).into_inner(), 10);
    }

    #[test]
    fn config_error_messages() {
        let err = MailboxConfigError::CapacityTooLarge {
            capacity: 10,
            max: 5,
        };
        assert_eq!(
            err.to_string(),
            "mailbox capacity 10 exceeds the maximum of 5"
        );
    }
}

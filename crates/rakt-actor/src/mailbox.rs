//! Mailbox choice per actor, mapped onto the queues of `rakt-mailbox`.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rakt_mailbox::{
    BoundedMailbox, FairMailbox, Lanes, Mailbox, MailboxConfigError, NonBlockingBoundedMailbox,
    PriorityMailbox, StablePriorityMailbox,
};

use crate::cell::{Envelope, SystemMessage};
use crate::message::AnyMessage;

/// An ordering over messages for the priority mailboxes: the greatest message is handled first.
///
/// ```
/// use rakt_actor::{AnyMessage, MessageOrder};
/// use rakt_proto::v1::PoisonPill;
///
/// // Poison pills jump the queue; everything else keeps its rank.
/// let order = MessageOrder::new(|a: &dyn AnyMessage, b: &dyn AnyMessage| {
///     a.is::<PoisonPill>().cmp(&b.is::<PoisonPill>())
/// });
/// # let _ = order;
/// ```
#[derive(Clone)]
pub struct MessageOrder(Arc<OrderFn>);

type OrderFn = dyn Fn(&dyn AnyMessage, &dyn AnyMessage) -> Ordering + Send + Sync + 'static;

impl MessageOrder {
    /// Wraps a comparison function.
    pub fn new(
        order: impl Fn(&dyn AnyMessage, &dyn AnyMessage) -> Ordering + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(order))
    }
}

impl fmt::Debug for MessageOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageOrder(..)")
    }
}

/// Which mailbox an actor gets. The default is [`MailboxConfig::Unbounded`].
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::{MailboxConfig, SpawnOptions};
///
/// let options = SpawnOptions::new().mailbox(MailboxConfig::Bounded {
///     capacity: 1024,
///     push_timeout: Duration::from_millis(100),
/// });
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum MailboxConfig {
    /// Unbounded, lock-free FIFO: senders never wait and nothing is dropped.
    #[default]
    Unbounded,
    /// Bounded FIFO: a sender waits for space up to `push_timeout`, then the message becomes a
    /// dead letter and the send fails with [`SendError::MailboxTimeout`](crate::SendError::MailboxTimeout).
    Bounded {
        /// How many messages the mailbox holds.
        capacity: usize,
        /// How long a sender waits for space.
        push_timeout: Duration,
    },
    /// Bounded FIFO that never makes a sender wait: when full, the message becomes a dead
    /// letter and the send fails with [`SendError::MailboxFull`](crate::SendError::MailboxFull).
    NonBlockingBounded {
        /// How many messages the mailbox holds.
        capacity: usize,
    },
    /// Unbounded, greatest message first; ties in no particular order.
    Priority(MessageOrder),
    /// Unbounded, greatest message first; equal messages keep their arrival order.
    StablePriority(MessageOrder),
    /// Unbounded; messages of different senders interleave, so one busy sender cannot starve
    /// the others. Messages without a sender count as one sender.
    Fair,
}

impl MailboxConfig {
    /// Checks the settings without building a mailbox (a large bounded one would allocate
    /// its whole capacity just to be checked).
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Self::Bounded {
                capacity,
                push_timeout,
            } => {
                if push_timeout.is_zero() {
                    return Err("push_timeout must be greater than zero".to_owned());
                }
                check_capacity(*capacity, BoundedMailbox::<Envelope>::MAX_CAPACITY)
            }
            Self::NonBlockingBounded { capacity } => check_capacity(
                *capacity,
                NonBlockingBoundedMailbox::<Envelope>::max_capacity(),
            ),
            Self::Unbounded | Self::Priority(_) | Self::StablePriority(_) | Self::Fair => Ok(()),
        }
    }

    pub(crate) fn build(&self) -> Result<Lanes<SystemMessage, Envelope>, String> {
        self.validate()?;
        let user: Box<dyn Mailbox<Envelope>> = match self {
            Self::Unbounded => return Ok(Lanes::unbounded()),
            Self::Bounded {
                capacity,
                push_timeout,
            } => {
                Box::new(BoundedMailbox::new(*capacity, *push_timeout).map_err(|e| e.to_string())?)
            }
            Self::NonBlockingBounded { capacity } => {
                Box::new(NonBlockingBoundedMailbox::new(*capacity).map_err(|e| e.to_string())?)
            }
            Self::Priority(order) => {
                let order = order.clone();
                Box::new(PriorityMailbox::new(move |a: &Envelope, b: &Envelope| {
                    (order.0)(a.message.as_dyn(), b.message.as_dyn())
                }))
            }
            Self::StablePriority(order) => {
                let order = order.clone();
                Box::new(StablePriorityMailbox::new(
                    move |a: &Envelope, b: &Envelope| {
                        (order.0)(a.message.as_dyn(), b.message.as_dyn())
                    },
                ))
            }
            Self::Fair => Box::new(FairMailbox::new(|env: &Envelope| {
                env.sender.as_ref().map_or(0, |p| p.id())
            })),
        };
        Ok(Lanes::new(user))
    }
}

fn check_capacity(capacity: usize, max: usize) -> Result<(), String> {
    if capacity == 0 {
        Err(MailboxConfigError::ZeroCapacity.to_string())
    } else if capacity > max {
        Err(MailboxConfigError::CapacityTooLarge { capacity, max }.to_string())
    } else {
        Ok(())
    }
}

//! Mailbox queues for Rakt actors: the queue disciplines an actor's messages wait in, and the
//! two-lane wrapper the runtime drives.
//!
//! **Position.** Layer 0: this crate depends on no Rakt crate.
//! `rakt-actor` uses it, storing its private envelope type in the user lane and its system
//! messages in the system lane of a [`Lanes`].
//!
//! The user lane is any [`Mailbox`]:
//!
//! | Mailbox | Bound | When full | Order |
//! |---|---|---|---|
//! | [`UnboundedMailbox`] (default) | none | never full | FIFO, lock-free |
//! | [`BoundedMailbox`] | `capacity` | `push` waits up to a timeout | FIFO, fair to waiting senders |
//! | [`NonBlockingBoundedMailbox`] | `capacity` | `Full(item)` handed back | FIFO, lock-free |
//! | [`PriorityMailbox`] | none | never full | greatest first |
//! | [`StablePriorityMailbox`] | none | never full | greatest first, ties FIFO |
//! | [`FairMailbox`] | none | never full | round-robin over senders, FIFO per sender |
//!
//! A message that is not enqueued always comes back to its sender inside a [`PushError`].
//!
//! # Examples
//!
//! ```
//! use rakt_mailbox::{Lanes, Next};
//!
//! let lanes: Lanes<&str, u32> = Lanes::unbounded();
//! lanes.try_push_user(1).unwrap();
//! lanes.push_system("stop").unwrap();
//!
//! // System messages always come first.
//! assert_eq!(lanes.pop(), Some(Next::System("stop")));
//! assert_eq!(lanes.pop(), Some(Next::User(1)));
//! assert_eq!(lanes.pop(), None);
//! ```

mod bounded;
mod error;
mod fair;
mod heap;
pub mod lanes;
mod mailbox;
mod non_blocking;
mod priority;
mod queue;
mod stable_priority;
mod unbounded;

pub use bounded::BoundedMailbox;
pub use error::{MailboxConfigError, PushError};
pub use fair::FairMailbox;
pub use lanes::{Lanes, Next};
pub use mailbox::{Mailbox, PushFuture};
pub use non_blocking::NonBlockingBoundedMailbox;
pub use priority::PriorityMailbox;
pub use stable_priority::StablePriorityMailbox;
pub use unbounded::UnboundedMailbox;

//! Behaviors (receive functions swapped at run time, as a stack) and the stash.
//!
//! Both live in the actor's own task, next to its [`Context`], in one box that is allocated
//! the first time an actor uses either, so that an actor that never does pays one word.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use crate::cell::Envelope;
use crate::context::Context;
use crate::error::ActorError;

/// The future a [`Behavior`] returns: a boxed handler, borrowing the actor and its context.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ActorError>> + Send + 'a>>;

/// A receive function that takes the place of [`Actor::receive`](crate::Actor::receive)
/// once installed with [`Context::set_behavior`] or [`Context::push_behavior`].
///
/// A behavior is a plain function, not a closure: what it remembers belongs in the actor,
/// which it gets by `&mut`. Its future is boxed, one allocation per message handled by it;
/// the default `receive` costs none.
///
/// ```
/// use rakt_actor::{Actor, ActorError, Context, HandlerFuture};
/// use rakt_proto::v1::StatusFailure;
///
/// struct Door {
///     knocks: u32,
/// }
///
/// // While locked, every message is a knock.
/// fn locked<'a>(door: &'a mut Door, ctx: &'a mut Context<'_, Door>) -> HandlerFuture<'a> {
///     Box::pin(async move {
///         door.knocks += 1;
///         if ctx.message::<StatusFailure>().is_some_and(|m| m.error == "key") {
///             ctx.reset_behavior();
///         }
///         Ok(())
///     })
/// }
///
/// impl Actor for Door {
///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
///         if ctx.message::<StatusFailure>().is_some_and(|m| m.error == "lock") {
///             ctx.set_behavior(locked);
///         }
///         Ok(())
///     }
/// }
/// # let _ = Door { knocks: 0 };
/// ```
pub type Behavior<A> = for<'a, 'c> fn(&'a mut A, &'a mut Context<'c, A>) -> HandlerFuture<'a>;

/// What an actor that uses behaviors or the stash keeps: boxed in its context, and only
/// allocated once it uses one of them.
pub(crate) struct Extras<A> {
    /// The behavior stack; the last one handles messages. Empty means `Actor::receive`.
    pub(crate) behaviors: Vec<Behavior<A>>,
    /// Messages set aside with `stash`, oldest first.
    pub(crate) stash: VecDeque<Envelope>,
    /// Messages given back with `unstash`, handled before the mailbox's user messages.
    pub(crate) unstashed: VecDeque<Envelope>,
    /// The requests of a reentrant actor; `None` when its reentrancy is off.
    pub(crate) requests: Option<crate::reentrancy::Requests<A>>,
}

impl<A> Default for Extras<A> {
    fn default() -> Self {
        Self {
            behaviors: Vec::new(),
            stash: VecDeque::new(),
            unstashed: VecDeque::new(),
            requests: None,
        }
    }
}

impl<A> Extras<A> {
    /// What a restart keeps: the new incarnation starts with `receive`, and stashed messages
    /// are given back, behind those already given back, rather than lost.
    pub(crate) fn restart(&mut self) {
        self.behaviors.clear();
        // Requests of the old incarnation are cancelled.
        if let Some(requests) = self.requests.as_mut() {
            requests.abandon();
        }
        let stashed = std::mem::take(&mut self.stash);
        self.unstashed.extend(stashed);
    }

    /// Whether nothing is kept, so the box can go.
    pub(crate) fn is_empty(&self) -> bool {
        self.behaviors.is_empty()
            && self.stash.is_empty()
            && self.unstashed.is_empty()
            && self.requests.is_none()
    }
}

//! The `Actor` trait and actors made from closures.

use std::fmt;
use std::future::Future;

use crate::context::{Context, LifecycleContext};
use crate::error::ActorError;

/// An actor: state plus a handler that receives one message at a time.
///
/// `pre_start` runs before the first message (a failure fails the spawn), `receive` runs for
/// every message, starting with [`PostStart`](rakt_proto::v1::PostStart), and `post_stop`
/// runs once the actor stops. Handlers are `async`: a handler may await (even an ask to
/// another actor) without blocking other actors, while its own mailbox waits.
///
/// An error returned from `receive`, an error signalled with [`Context::err`], and a panic
/// are all failures of the actor, handled by its [`Supervisor`](crate::Supervisor): by
/// default it is restarted (its children stop, then `post_stop`, then `pre_start` on a fresh
/// state for an actor spawned from a factory or on the same value otherwise, then
/// `PostStart`), keeping its mailbox and name.
///
/// ```
/// use rakt_actor::{Actor, ActorError, ActorSystem, Context};
/// use rakt_proto::v1::StatusFailure;
///
/// #[derive(Default)]
/// struct Counter {
///     seen: u64,
/// }
///
/// impl Actor for Counter {
///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
///         if ctx.message::<StatusFailure>().is_some() {
///             self.seen += 1;
///             ctx.respond(StatusFailure { error: self.seen.to_string() });
///         }
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("counter").build()?;
/// let counter = system.spawn("counter", Counter::default()).await?;
/// let reply: StatusFailure = counter.ask(StatusFailure::default()).await?;
/// assert_eq!(reply.error, "1");
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
pub trait Actor: Send + Sized + 'static {
    /// Runs before the first message. An error fails the spawn.
    fn pre_start(
        &mut self,
        ctx: &mut LifecycleContext<'_>,
    ) -> impl Future<Output = Result<(), ActorError>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Handles one message; [`Context::message`] says which.
    fn receive(
        &mut self,
        ctx: &mut Context<'_, Self>,
    ) -> impl Future<Output = Result<(), ActorError>> + Send;

    /// Runs once the actor has stopped handling messages and its children have stopped.
    fn post_stop(
        &mut self,
        ctx: &mut LifecycleContext<'_>,
    ) -> impl Future<Output = Result<(), ActorError>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }
}

type ReceiveFn = Box<dyn FnMut(&mut Context<'_, FnActor>) -> Result<(), ActorError> + Send>;

/// An actor made from a closure, by [`ActorSystem::spawn_fn`](crate::ActorSystem::spawn_fn).
///
/// The closure runs synchronously for each message; state lives in what it captures. Use
/// [`Context::try_tell`] to send from it, or implement [`Actor`] when a handler must await.
///
/// ```
/// use rakt_actor::{ActorSystem, Context, FnActor};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("fn").build()?;
/// let mut handled = 0u64;
/// let pid = system
///     .spawn_fn("counter", move |_ctx: &mut Context<'_, FnActor>| {
///         handled += 1;
///         Ok(())
///     })
///     .await?;
/// assert!(pid.is_running());
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
pub struct FnActor {
    receive: ReceiveFn,
}

impl FnActor {
    /// Wraps a closure.
    pub fn new(
        receive: impl FnMut(&mut Context<'_, FnActor>) -> Result<(), ActorError> + Send + 'static,
    ) -> Self {
        Self {
            receive: Box::new(receive),
        }
    }
}

impl Actor for FnActor {
    fn receive(
        &mut self,
        ctx: &mut Context<'_, Self>,
    ) -> impl Future<Output = Result<(), ActorError>> + Send {
        std::future::ready((self.receive)(ctx))
    }
}

impl fmt::Debug for FnActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnActor(..)")
    }
}

//! Coordinated shutdown: hooks that run, in order, when the system stops, before its actors.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;

use crate::error::ActorError;
use crate::system::ActorSystem;

type HookFuture = Pin<Box<dyn Future<Output = Result<(), ActorError>> + Send>>;
type HookFn = Arc<dyn Fn(ActorSystem) -> HookFuture + Send + Sync>;

/// What [`ActorSystem::stop`] does when a hook fails, after its retries: returned an error,
/// panicked, or ran out of time.
///
/// ```
/// use rakt_actor::HookFailure;
///
/// assert_eq!(HookFailure::default(), HookFailure::Continue);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HookFailure {
    /// Log it and go on with the next hook, then stop the actors.
    #[default]
    Continue,
    /// Abandon the stop: the hooks after it do not run, the actors keep running, the system
    /// accepts spawns again, and `stop` returns
    /// [`SystemError::ShutdownHookFailed`](crate::SystemError::ShutdownHookFailed). A later
    /// `stop` runs every hook again.
    Abort,
}

/// A task to run when the system stops, before any actor is stopped (GoAkt's
/// `WithCoordinatedShutdown`): flushing a buffer, deregistering from a load balancer, closing
/// a connection.
///
/// Hooks run one at a time, in ascending [`order`](Self::order), and in the order they were
/// added when their orders are equal. Each attempt gets [`timeout`](Self::timeout) (default
/// 10 s); a failed attempt is retried up to [`retries`](Self::retries) times; a hook that
/// still fails is handled as its [`on_failure`](Self::on_failure) says.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// use rakt_actor::{ActorSystem, HookFailure, ShutdownHook};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let flushed = Arc::new(AtomicBool::new(false));
/// let flag = flushed.clone();
/// let flush = ShutdownHook::new("flush", move |system| {
///     let flag = flag.clone();
///     async move {
///         // The actors still run here: the hook can still talk to them.
///         assert_eq!(system.actor_count(), 0);
///         flag.store(true, Ordering::SeqCst);
///         Ok(())
///     }
/// })
/// .timeout(Duration::from_secs(2))
/// .retries(3, Duration::from_millis(100))
/// .on_failure(HookFailure::Abort);
///
/// let system = ActorSystem::builder("hooks").shutdown_hook(flush).build()?;
/// system.stop().await?;
/// assert!(flushed.load(Ordering::SeqCst));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ShutdownHook {
    name: String,
    run: HookFn,
    order: i32,
    timeout: Duration,
    retries: u32,
    retry_interval: Duration,
    on_failure: HookFailure,
}

impl ShutdownHook {
    /// A hook named `name` (for logs and errors) that runs `hook` with the stopping system.
    pub fn new<F, Fut>(name: impl Into<String>, hook: F) -> Self
    where
        F: Fn(ActorSystem) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ActorError>> + Send + 'static,
    {
        Self {
            name: name.into(),
            run: Arc::new(move |system| Box::pin(hook(system))),
            order: 0,
            timeout: Duration::from_secs(10),
            retries: 0,
            retry_interval: Duration::ZERO,
            on_failure: HookFailure::Continue,
        }
    }

    /// Where the hook runs among the others: lower first; 0 unless set.
    pub fn order(mut self, order: i32) -> Self {
        self.order = order;
        self
    }

    /// How long one attempt may take: 10 s unless set.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries a failed attempt up to `retries` times, `interval` apart.
    pub fn retries(mut self, retries: u32, interval: Duration) -> Self {
        self.retries = retries;
        self.retry_interval = interval;
        self
    }

    /// What a failure that outlived the retries does: [`HookFailure::Continue`] unless set.
    pub fn on_failure(mut self, on_failure: HookFailure) -> Self {
        self.on_failure = on_failure;
        self
    }

    /// The hook's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn ordering(&self) -> i32 {
        self.order
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.timeout.is_zero() {
            return Err(format!("shutdown hook {:?} has a zero timeout", self.name));
        }
        Ok(())
    }

    /// Runs the hook with its retries; the last failure, if every attempt failed.
    pub(crate) async fn run(&self, system: &ActorSystem) -> Result<(), String> {
        let attempts = self.retries.saturating_add(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 && !self.retry_interval.is_zero() {
                tokio::time::sleep(self.retry_interval).await;
            }
            let running = std::panic::AssertUnwindSafe((self.run)(system.clone())).catch_unwind();
            last = match tokio::time::timeout(self.timeout, running).await {
                Ok(Ok(Ok(()))) => return Ok(()),
                Ok(Ok(Err(error))) => error.to_string(),
                Ok(Err(panic)) => ActorError::from_panic(panic).to_string(),
                Err(_) => format!("timed out after {:?}", self.timeout),
            };
            tracing::warn!(hook = %self.name, attempt, attempts, error = %last, "shutdown hook failed");
        }
        Err(last)
    }

    pub(crate) fn failure_policy(&self) -> HookFailure {
        self.on_failure
    }
}

impl fmt::Debug for ShutdownHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHook")
            .field("name", &self.name)
            .field("order", &self.order)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("retry_interval", &self.retry_interval)
            .field("on_failure", &self.on_failure)
            .finish()
    }
}

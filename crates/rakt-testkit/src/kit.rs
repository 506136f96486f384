//! `TestKit`: an actor system for one test, with probes and a recorder of its events.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rakt_actor::{
    Actor, ActorError, ActorSystem, ActorSystemBuilder, Context, DeadLetter, Event, FnActor,
    Message, Pid, Router, SpawnError, SpawnOptions, Subscription, SystemError,
};
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::expect::{Expect, Failure, describe, describe_dead_letter, list};
use crate::probe::Probe;
use crate::recorder::Recorder;

/// How long an expectation waits by default, as in GoAkt's test kit.
pub const DEFAULT_EXPECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The ask timeout of a test system: short, so a missing reply fails a test quickly.
const TEST_ASK_TIMEOUT: Duration = Duration::from_secs(1);

/// The shutdown timeout of a test system: a test never waits minutes for a stuck actor.
const TEST_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

type Configure = Box<dyn FnOnce(ActorSystemBuilder) -> ActorSystemBuilder>;

/// Builds a [`TestKit`]; see [`TestKit::builder`].
pub struct TestKitBuilder {
    name: String,
    expect_timeout: Duration,
    configure: Option<Configure>,
}

impl TestKitBuilder {
    /// The actor system's name; `testkit` by default.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The default timeout of expectations; 3 s by default.
    pub fn expect_timeout(mut self, timeout: Duration) -> Self {
        self.expect_timeout = timeout;
        self
    }

    /// Configures the actor system further (extensions, supervisors, mailboxes, …). The
    /// builder `configure` receives already has the test defaults, which it may override: an
    /// ask timeout of 1 s, a shutdown timeout of 5 s, and dead letters not logged, as the kit
    /// records them.
    pub fn system(
        mut self,
        configure: impl FnOnce(ActorSystemBuilder) -> ActorSystemBuilder + 'static,
    ) -> Self {
        self.configure = Some(Box::new(configure));
        self
    }

    /// Builds the actor system and starts recording its events. Must run inside a tokio
    /// runtime, such as the one of `#[tokio::test]`.
    pub fn build(self) -> Result<TestKit, SystemError> {
        let builder = ActorSystem::builder(self.name.as_str())
            .ask_timeout(TEST_ASK_TIMEOUT)
            .shutdown_timeout(TEST_SHUTDOWN_TIMEOUT)
            .log_dead_letters(false);
        let builder = match self.configure {
            Some(configure) => configure(builder),
            None => builder,
        };
        let system = builder.build()?;
        TestKit::with(system, self.expect_timeout)
    }

    /// Makes a kit over a system built elsewhere, such as a node of a cluster: the kit
    /// records its events from now on and stops the system when it is stopped or dropped.
    /// The name and system settings of this builder do not apply. Fails with
    /// [`SystemError::NoRuntime`] outside a tokio runtime.
    pub fn attach(self, system: ActorSystem) -> Result<TestKit, SystemError> {
        TestKit::with(system, self.expect_timeout)
    }
}

impl fmt::Debug for TestKitBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKitBuilder")
            .field("name", &self.name)
            .field("expect_timeout", &self.expect_timeout)
            .field("configured", &self.configure.is_some())
            .finish()
    }
}

/// An actor system for one test: test-friendly defaults, [`Probe`]s, and a recorder of every
/// event and dead letter, for expectations on them.
///
/// The kit stops its system when [`stop`](Self::stop) is awaited, or, failing that, when it
/// is dropped. On the multi-thread runtime the drop waits for a graceful stop; on the
/// current-thread runtime it starts the stop as a task, which completes if the test goes on
/// awaiting, and the runtime aborts the actors when the test returns first. Either way no
/// task outlives the test's runtime. The kit works with `#[tokio::test]` on both runtimes.
///
/// The expectations of the kit (`expect_dead_letter*`, `expect_event`) look at everything
/// recorded since the kit started and take the first match, so the order of unrelated
/// events does not matter. Like a probe's, they panic when not met.
///
/// ```
/// use rakt_testkit::TestKit;
/// use rakt_actor::DeadLetterReason;
/// use rakt_proto::v1::StatusFailure as Text;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let kit = TestKit::new();
/// let quiet = kit.system().spawn_fn("quiet", |_ctx| Ok(())).await?;
/// quiet.stop().await?;
/// // A message to a stopped actor is a dead letter, and the kit sees it.
/// let _ = quiet.tell(Text { error: "anyone?".into() }).await;
/// let letter = kit.expect_dead_letter(Text { error: "anyone?".into() }).await;
/// assert_eq!(letter.reason(), DeadLetterReason::ActorStopped);
/// kit.stop().await?;
/// # Ok(())
/// # }
/// ```
pub struct TestKit {
    system: ActorSystem,
    recorder: Recorder,
    expect_timeout: Duration,
    probes: AtomicU64,
}

impl TestKit {
    /// A kit with the default settings.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime with its time driver, which `#[tokio::test]`
    /// provides. [`TestKit::builder`] returns that failure as an error instead.
    #[track_caller]
    pub fn new() -> Self {
        match Self::builder().build() {
            Ok(kit) => kit,
            Err(error) => panic!("cannot start a test kit: {error}"),
        }
    }

    /// A builder, to change the defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_testkit::TestKit;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let kit = TestKit::builder()
    ///     .name("orders")
    ///     .expect_timeout(Duration::from_millis(500))
    ///     .system(|system| system.extension(42u32))
    ///     .build()?;
    /// assert_eq!(kit.system().name(), "orders");
    /// assert_eq!(kit.system().extension::<u32>(), Some(&42));
    /// assert_eq!(kit.probe().await?.expect_timeout(), Duration::from_millis(500));
    /// kit.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> TestKitBuilder {
        TestKitBuilder {
            name: "testkit".to_owned(),
            expect_timeout: DEFAULT_EXPECT_TIMEOUT,
            configure: None,
        }
    }

    fn with(system: ActorSystem, expect_timeout: Duration) -> Result<Self, SystemError> {
        let runtime = Handle::try_current().map_err(|_| SystemError::NoRuntime)?;
        let recorder = Recorder::new(&system, &runtime);
        Ok(Self {
            system,
            recorder,
            expect_timeout,
            probes: AtomicU64::new(0),
        })
    }

    /// The actor system under test.
    pub fn system(&self) -> &ActorSystem {
        &self.system
    }

    /// The default timeout of expectations.
    pub fn expect_timeout(&self) -> Duration {
        self.expect_timeout
    }

    /// Spawns a top-level actor.
    pub async fn spawn<A: Actor>(&self, name: &str, actor: A) -> Result<Pid, SpawnError> {
        self.system.spawn(name, actor).await
    }

    /// Spawns a top-level actor with options.
    pub async fn spawn_with<A: Actor>(
        &self,
        name: &str,
        actor: A,
        options: SpawnOptions,
    ) -> Result<Pid, SpawnError> {
        self.system.spawn_with(name, actor, options).await
    }

    /// Spawns a top-level actor whose state comes from `factory`, now and at every restart.
    pub async fn spawn_factory<A: Actor>(
        &self,
        name: &str,
        factory: impl Fn() -> A + Send + Sync + 'static,
        options: SpawnOptions,
    ) -> Result<Pid, SpawnError> {
        self.system.spawn_factory(name, factory, options).await
    }

    /// Spawns a top-level actor made from a closure.
    pub async fn spawn_fn(
        &self,
        name: &str,
        receive: impl FnMut(&mut Context<'_, FnActor>) -> Result<(), ActorError> + Send + 'static,
    ) -> Result<Pid, SpawnError> {
        self.system.spawn_fn(name, receive).await
    }

    /// Spawns a router.
    pub async fn spawn_router(&self, name: &str, router: Router) -> Result<Pid, SpawnError> {
        self.system.spawn_router(name, router).await
    }

    /// A new probe, named `probe-<n>`, with the kit's expectation timeout.
    pub async fn probe(&self) -> Result<Probe, SpawnError> {
        let n = self.probes.fetch_add(1, Ordering::Relaxed) + 1;
        self.probe_named(&format!("probe-{n}")).await
    }

    /// A new probe with a name of the test's choosing.
    pub async fn probe_named(&self, name: &str) -> Result<Probe, SpawnError> {
        Probe::spawn(&self.system, name, self.expect_timeout).await
    }

    /// A subscription of the test's own to the system's events, from now on.
    pub fn subscribe(&self) -> Subscription {
        self.system.subscribe()
    }

    /// Expects a dead letter whose message equals `message`, and returns it.
    ///
    /// Dead letters recorded since the kit started count, so the expectation may come after
    /// the message was lost.
    #[track_caller]
    pub fn expect_dead_letter<M: Message + PartialEq>(
        &self,
        message: M,
    ) -> Expect<'_, Arc<DeadLetter>> {
        let expected = format!("a dead letter {}", describe(&message));
        self.dead_letter_where("expect_dead_letter", expected, move |letter| {
            letter.message().downcast_ref::<M>() == Some(&message)
        })
    }

    /// Expects a dead letter for which `predicate` holds, and returns it.
    #[track_caller]
    pub fn expect_dead_letter_matching<'a>(
        &'a self,
        predicate: impl FnMut(&DeadLetter) -> bool + Send + 'a,
    ) -> Expect<'a, Arc<DeadLetter>> {
        let expected = "a dead letter matching the predicate".to_owned();
        self.dead_letter_where("expect_dead_letter_matching", expected, predicate)
    }

    /// Expects no new dead letter during `window`; the ones recorded before are ignored.
    #[track_caller]
    pub fn expect_no_dead_letter(&self, window: Duration) -> Expect<'_, ()> {
        Expect::new(
            "expect_no_dead_letter",
            self.subject(),
            window,
            move |deadline| async move {
                match self.recorder.next_dead_letter(deadline).await {
                    None => Ok(()),
                    Some(letter) => Err(Failure::new(
                        format!("no dead letter within {window:?}"),
                        Some(describe_dead_letter(&letter)),
                    )),
                }
            },
        )
    }

    /// Expects an event for which `predicate` holds, and returns it.
    ///
    /// ```
    /// use rakt_testkit::TestKit;
    /// use rakt_actor::Event;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let kit = TestKit::new();
    /// let worker = kit.system().spawn_fn("worker", |_ctx| Ok(())).await?;
    /// worker.stop().await?;
    /// kit.expect_event(|event| matches!(event, Event::ActorStopped { pid } if *pid == worker))
    ///     .await;
    /// kit.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn expect_event<'a>(
        &'a self,
        predicate: impl FnMut(&Event) -> bool + Send + 'a,
    ) -> Expect<'a, Event> {
        let timeout = self.expect_timeout;
        Expect::new(
            "expect_event",
            self.subject(),
            timeout,
            move |deadline| async move {
                self.recorder
                    .take_event(deadline, predicate)
                    .await
                    .map_err(|seen| {
                        let text = format!("only other events: {}", list(&seen));
                        Failure::new(
                            "an event matching the predicate",
                            (!seen.is_empty()).then_some(text),
                        )
                    })
            },
        )
    }

    /// Every dead letter since the kit started, expected or not, including those made by
    /// sends that have returned.
    pub fn dead_letters(&self) -> Vec<Arc<DeadLetter>> {
        self.recorder.dead_letters()
    }

    /// Stops the system: every actor stops gracefully, within the shutdown timeout.
    pub async fn stop(self) -> Result<(), SystemError> {
        self.system.stop().await
    }

    #[track_caller]
    fn dead_letter_where<'a>(
        &'a self,
        expectation: &'static str,
        expected: String,
        predicate: impl FnMut(&DeadLetter) -> bool + Send + 'a,
    ) -> Expect<'a, Arc<DeadLetter>> {
        let timeout = self.expect_timeout;
        Expect::new(
            expectation,
            self.subject(),
            timeout,
            move |deadline| async move {
                self.recorder
                    .take_dead_letter(deadline, predicate)
                    .await
                    .map_err(|seen| {
                        let text = format!("only other dead letters: {}", list(&seen));
                        Failure::new(expected, (!seen.is_empty()).then_some(text))
                    })
            },
        )
    }

    fn subject(&self) -> String {
        format!("test kit `{}`", self.system.name())
    }
}

impl Default for TestKit {
    #[track_caller]
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TestKit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKit")
            .field("system", &self.system.name())
            .field("expect_timeout", &self.expect_timeout)
            .finish_non_exhaustive()
    }
}

impl Drop for TestKit {
    fn drop(&mut self) {
        if !self.system.is_running() {
            return;
        }
        let Ok(runtime) = Handle::try_current() else {
            tracing::warn!(
                system = self.system.name(),
                "test kit dropped outside a tokio runtime: its actors end with their runtime"
            );
            return;
        };
        let system = self.system.clone();
        let stop = async move {
            if let Err(error) = system.stop().await {
                tracing::warn!(system = system.name(), %error, "test kit stop failed");
            }
        };
        // On the multi-thread runtime the stop completes here, gracefully: `post_stop`s and
        // shutdown hooks run before the test goes on. The current-thread runtime cannot be
        // blocked from its own thread, and a panicking test is not held up, so there the stop
        // runs as a task: it finishes while the runtime runs on, and the runtime aborts the
        // actors' tasks when it ends first.
        if runtime.runtime_flavor() == RuntimeFlavor::MultiThread && !std::thread::panicking() {
            tokio::task::block_in_place(|| runtime.block_on(stop));
        } else {
            runtime.spawn(stop);
        }
    }
}

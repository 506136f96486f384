//! The actor system: spawning, lookup, dead letters, events and shutdown.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use parking_lot::Mutex;

use crate::actor::{Actor, FnActor};
use crate::address::{Address, validate_name};
use crate::ask::{AskDeadlines, deadline_after};
use crate::cell::{ActorCell, Envelope, SystemMessage};
use crate::context::{Context, LifecycleContext};
use crate::dependency::Dependency;
use crate::error::{ActorError, LookupError, SendError, SpawnError, SystemError};
use crate::event::{DeadLetter, DeadLetterReason, Event, EventStream, Subscription};
use crate::extension::Extensions;
use crate::mailbox::MailboxConfig;
use crate::message::{AnyMessage, Message};
use crate::passivation::{Eviction, Passivation, Passivator};
use crate::payload::Payload;
use crate::pid::Pid;
use crate::runner::{self, Factory, Spec};
use crate::scheduler::{
    Clock, ScheduleError, ScheduleInfo, ScheduleKind, ScheduleRef, Scheduler, WallClock,
};
use crate::shutdown::{HookFailure, ShutdownHook};
use crate::supervision::Supervisor;

const RUNNING: u8 = 0;
const STOPPING: u8 = 1;
const STOPPED: u8 = 2;

/// Settings shared by every actor of a system.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) ask_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) init_timeout: Duration,
    pub(crate) init_retries: u32,
    pub(crate) default_mailbox: MailboxConfig,
    pub(crate) log_dead_letters: bool,
    /// Supervises actors spawned without a supervisor of their own.
    pub(crate) default_supervisor: Supervisor,
    /// Decides for top-level actors that escalate.
    pub(crate) guardian_supervisor: Supervisor,
    /// Run by `stop` before the actors stop, sorted by their order.
    pub(crate) shutdown_hooks: Vec<ShutdownHook>,
    /// The passivation of actors spawned without one.
    pub(crate) default_passivation: Passivation,
}

pub(crate) struct SystemShared {
    pub(crate) name: Arc<str>,
    pub(crate) config: Config,
    pub(crate) registry: Registry,
    pub(crate) events: Arc<EventStream>,
    pub(crate) scheduler: Arc<Scheduler>,
    pub(crate) passivator: Arc<Passivator>,
    pub(crate) runtime: tokio::runtime::Handle,
    state: AtomicU8,
    next_id: AtomicU64,
    dead_letters: AtomicU64,
    started_at: Instant,
    /// Where remoting reaches this system, once it listens.
    location: OnceLock<crate::address::Location>,
    /// The task of [`timer_anchor`], ended by `stop`.
    anchor: OnceLock<tokio::task::AbortHandle>,
    /// The deadlines of asks to this system's actors, watched by one task.
    pub(crate) asks: Arc<AskDeadlines>,
    pub(crate) extensions: Extensions,
    /// Where metrics go, once `build` made them from the builder's meter.
    #[cfg(feature = "opentelemetry")]
    pub(crate) instruments: OnceLock<crate::telemetry::Instruments>,
}

impl SystemShared {
    pub(crate) fn address_of(&self, name: &Arc<str>) -> Address {
        Address::from_parts(
            self.name.clone(),
            self.location.get().cloned(),
            name.clone(),
        )
    }

    fn is_running(&self) -> bool {
        self.state.load(Ordering::SeqCst) == RUNNING
    }

    /// Counts an undeliverable message, logs it when asked to, and publishes it when anybody
    /// listens. Nothing is built for nobody.
    pub(crate) fn dead_letter(
        &self,
        sender: Option<Pid>,
        receiver: &str,
        message: Payload,
        reason: DeadLetterReason,
    ) {
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "opentelemetry")]
        if let Some(instruments) = self.instruments.get() {
            instruments.dead_letter(reason);
        }
        if self.config.log_dead_letters {
            tracing::info!(system = %self.name, receiver, %reason, message = ?message, "dead letter");
        }
        if self.events.has_subscribers() {
            let letter = DeadLetter::new(sender, receiver, message.into_box(), reason);
            self.events.publish(Event::DeadLetter(Arc::new(letter)));
        }
    }
}

impl Drop for SystemShared {
    fn drop(&mut self) {
        // A system dropped without `stop` (it can only be dropped once no actor is left) must
        // not leave its deadline task or its scheduler waiting forever. (Pending schedules hold
        // their targets, which hold the system, as live actors do: a system with either is
        // not dropped until `stop`.)
        self.asks.shutdown();
        self.scheduler.close();
        self.passivator.close();
    }
}

/// Names to actors, sharded so that spawns on different threads rarely meet on one lock.
pub(crate) struct Registry {
    shards: Box<[Shard]>,
}

/// foldhash: several times faster than SipHash on short names, and seeded per process.
type Shard = Mutex<HashMap<Arc<str>, Pid, foldhash::fast::RandomState>>;

const SHARDS: usize = 16;

impl Registry {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
        }
    }

    fn shard(&self, name: &str) -> &Shard {
        // FNV-1a: only spreads names over shards; each shard's map hashes properly itself.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        &self.shards[(hash as usize) % SHARDS]
    }

    /// Claims `name` for `pid`; `false` when a live actor holds it. One lookup.
    fn insert(&self, name: &Arc<str>, pid: &Pid) -> bool {
        match self.shard(name).lock().entry(name.clone()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(vacant) => {
                vacant.insert(pid.clone());
                true
            }
        }
    }

    /// Removes `name` only while it still belongs to incarnation `id`.
    ///
    /// Nearly always it does, so the entry is removed in one lookup and put back in the rare
    /// case that a newer incarnation already holds the name.
    pub(crate) fn remove(&self, name: &str, id: u64) {
        let mut shard = self.shard(name).lock();
        if let Some((key, holder)) = shard.remove_entry(name) {
            if holder.id() != id {
                shard.insert(key, holder);
            }
        }
    }

    fn get(&self, name: &str) -> Option<Pid> {
        self.shard(name).lock().get(name).cloned()
    }

    pub(crate) fn all(&self) -> Vec<Pid> {
        self.shards
            .iter()
            .flat_map(|s| s.lock().values().cloned().collect::<Vec<_>>())
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

/// Options for one spawn; the defaults come from the system.
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::{MailboxConfig, SpawnOptions};
///
/// let options = SpawnOptions::new()
///     .mailbox(MailboxConfig::NonBlockingBounded { capacity: 64 })
///     .init_timeout(Duration::from_secs(3));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    mailbox: Option<MailboxConfig>,
    init_timeout: Option<Duration>,
    stash_capacity: Option<usize>,
    supervisor: Option<Supervisor>,
    dependencies: Vec<Arc<dyn Dependency>>,
    passivation: Option<Passivation>,
    reentrancy: Option<crate::Reentrancy>,
}

impl SpawnOptions {
    /// Options that take every default from the system.
    pub fn new() -> Self {
        Self::default()
    }

    /// The actor's mailbox, instead of the system's default.
    pub fn mailbox(mut self, mailbox: MailboxConfig) -> Self {
        self.mailbox = Some(mailbox);
        self
    }

    /// How long `pre_start` may take, all attempts together.
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = Some(timeout);
        self
    }

    /// Gives the actor a stash of `capacity` messages (see [`Context::stash`]); without
    /// one, `stash` fails with [`StashError::Disabled`](crate::StashError::Disabled).
    /// The stash takes no memory until the actor first uses it.
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, FnActor, SpawnError, SpawnOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("stashing").build()?;
    /// let options = SpawnOptions::new().stash_capacity(100);
    /// let holder = FnActor::new(|_ctx| Ok(()));
    /// let holder = system.spawn_with("holder", holder, options).await?;
    /// assert_eq!(holder.metrics().stash_len, 0);
    ///
    /// let zero = SpawnOptions::new().stash_capacity(0);
    /// let refused = system.spawn_with("none", FnActor::new(|_ctx| Ok(())), zero).await;
    /// assert!(matches!(refused, Err(SpawnError::InvalidStashCapacity { capacity: 0 })));
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`Context::stash`]: crate::Context::stash
    pub fn stash_capacity(mut self, capacity: usize) -> Self {
        self.stash_capacity = Some(capacity);
        self
    }

    /// How the actor's failures are handled, instead of the system's default supervisor.
    /// Invalid settings make the spawn fail with
    /// [`SpawnError::InvalidSupervisor`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_actor::{Directive, SpawnOptions, Supervisor};
    ///
    /// let options = SpawnOptions::new().supervisor(
    ///     Supervisor::new()
    ///         .on_panic(Directive::Stop)
    ///         .retry(5, Duration::from_secs(60)),
    /// );
    /// # let _ = options;
    /// ```
    pub fn supervisor(mut self, supervisor: Supervisor) -> Self {
        self.supervisor = Some(supervisor);
        self
    }

    /// When the actor passivates, instead of the system's
    /// [default](ActorSystemBuilder::default_passivation); see [`Passivation`]. A zero idle
    /// time or message count makes the spawn fail with [`SpawnError::InvalidPassivation`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_actor::{ActorSystem, Event, FnActor, Passivation, PassivationReason, SpawnOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("sessions").build()?;
    /// let mut events = system.subscribe();
    /// let idle = Passivation::AfterIdle(Duration::from_millis(50));
    /// let options = SpawnOptions::new().passivation(idle);
    /// let session = system.spawn_with("session", FnActor::new(|_ctx| Ok(())), options).await?;
    /// assert_eq!(session.passivation(), idle);
    /// loop {
    ///     if let Some(Event::ActorPassivated { pid, reason }) = events.recv().await {
    ///         assert_eq!((pid.name(), reason), ("session", PassivationReason::Idle));
    ///         break;
    ///     }
    /// }
    /// session.wait_stopped().await?;
    /// assert_eq!(system.actor_count(), 0);
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn passivation(mut self, passivation: Passivation) -> Self {
        self.passivation = Some(passivation);
        self
    }

    /// Lets the actor make requests (see [`Context::request`](crate::Context::request)): asks
    /// that do not block its mailbox, answered in continuations. Off by default. An
    /// in-flight limit of zero makes the spawn fail with [`SpawnError::InvalidReentrancy`].
    ///
    /// ```
    /// use rakt_actor::{Reentrancy, ReentrancyMode, SpawnOptions};
    ///
    /// let options = SpawnOptions::new()
    ///     .reentrancy(Reentrancy::new(ReentrancyMode::StashNonReentrant).max_in_flight(16));
    /// # let _ = options;
    /// ```
    pub fn reentrancy(mut self, reentrancy: crate::Reentrancy) -> Self {
        self.reentrancy = Some(reentrancy);
        self
    }

    /// Whether a supervisor was set.
    pub(crate) fn has_supervisor(&self) -> bool {
        self.supervisor.is_some()
    }

    /// Injects a dependency, kept across restarts; see [`Dependency`]. Ids must be non-empty
    /// and distinct, else the spawn fails with [`SpawnError::InvalidDependency`].
    pub fn dependency(mut self, dependency: impl Dependency) -> Self {
        self.dependencies.push(Arc::new(dependency));
        self
    }
}

/// Builds an [`ActorSystem`]. Every setting has a default taken from GoAkt where it has one.
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::{ActorSystem, MailboxConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("orders")
///     .ask_timeout(Duration::from_secs(2))
///     .shutdown_timeout(Duration::from_secs(30))
///     .default_mailbox(MailboxConfig::Fair)
///     .log_dead_letters(true)
///     .build()?;
/// assert_eq!(system.name(), "orders");
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ActorSystemBuilder {
    name: String,
    ask_timeout: Duration,
    shutdown_timeout: Duration,
    init_timeout: Duration,
    init_retries: u32,
    default_mailbox: MailboxConfig,
    log_dead_letters: bool,
    default_supervisor: Supervisor,
    guardian_supervisor: Supervisor,
    clock: Clock,
    shutdown_hooks: Vec<ShutdownHook>,
    default_passivation: Passivation,
    eviction: Option<Eviction>,
    extensions: Extensions,
    /// The type of the first extension registered twice, reported by `build`.
    duplicate_extension: Option<&'static str>,
    #[cfg(feature = "opentelemetry")]
    meter: Option<opentelemetry::metrics::Meter>,
}

impl ActorSystemBuilder {
    /// Registers an extension: a value shared by the whole system, one per type, reachable
    /// from every actor with [`Context::extension`](crate::Context::extension) and from the
    /// system with [`ActorSystem::extension`] (GoAkt's `WithExtensions`). Typical extensions
    /// are a database pool, a configuration, or a client for another service.
    ///
    /// A second extension of the same type makes `build` fail with
    /// [`SystemError::DuplicateExtension`].
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, Context};
    ///
    /// #[derive(Debug)]
    /// struct Settings {
    ///     greeting: String,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("greeter")
    ///     .extension(Settings { greeting: "hello".into() })
    ///     .build()?;
    /// let greeter = system
    ///     .spawn_fn("greeter", |ctx: &mut Context<'_, _>| {
    ///         let settings = ctx.extension::<Settings>().expect("registered at build");
    ///         assert_eq!(settings.greeting, "hello");
    ///         Ok(())
    ///     })
    ///     .await?;
    /// # let _ = greeter;
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn extension<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        if let Err(type_name) = self.extensions.insert(value) {
            self.duplicate_extension.get_or_insert(type_name);
        }
        self
    }

    /// Default timeout of [`Pid::ask`]: 5 s.
    pub fn ask_timeout(mut self, timeout: Duration) -> Self {
        self.ask_timeout = timeout;
        self
    }

    /// How long [`ActorSystem::stop`] and [`Pid::stop`] wait for actors: 5 minutes.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long `pre_start` may take, all attempts together: 1 s.
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// How many more times a failing `pre_start` is tried: 4 (five attempts in all).
    pub fn init_retries(mut self, retries: u32) -> Self {
        self.init_retries = retries;
        self
    }

    /// The mailbox of actors spawned without one: unbounded.
    pub fn default_mailbox(mut self, mailbox: MailboxConfig) -> Self {
        self.default_mailbox = mailbox;
        self
    }

    /// Whether every dead letter is also logged with `tracing` at info level: off.
    pub fn log_dead_letters(mut self, log: bool) -> Self {
        self.log_dead_letters = log;
        self
    }

    /// The supervisor of actors spawned without one of their own (GoAkt's
    /// `WithDefaultSupervisor`): [`Supervisor::new`], which restarts on every failure.
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, Directive, Supervisor};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // Panics stop an actor; other failures restart it.
    /// let system = ActorSystem::builder("strict")
    ///     .default_supervisor(Supervisor::new().on_panic(Directive::Stop))
    ///     .build()?;
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn default_supervisor(mut self, supervisor: Supervisor) -> Self {
        self.default_supervisor = supervisor;
        self
    }

    /// The supervisor of the guardian, the parent of top-level actors: it decides for a
    /// top-level actor whose own supervisor escalates, and its strategy says whether the
    /// other top-level actors share the directive. [`Directive::Escalate`] from the guardian
    /// stops the actor. Default: [`Supervisor::new`], which restarts.
    ///
    /// [`Directive::Escalate`]: crate::Directive::Escalate
    pub fn guardian_supervisor(mut self, supervisor: Supervisor) -> Self {
        self.guardian_supervisor = supervisor;
        self
    }

    /// The wall clock of cron schedules and [`ActorSystem::now`]: [`Clock::system`]. Tests
    /// use [`Clock::manual`] to control it through tokio's paused time.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Adds a hook that [`ActorSystem::stop`] runs before it stops the actors; see
    /// [`ShutdownHook`]. A hook with a zero timeout makes `build` fail with
    /// [`SystemError::InvalidShutdownHook`].
    pub fn shutdown_hook(mut self, hook: ShutdownHook) -> Self {
        self.shutdown_hooks.push(hook);
        self
    }

    /// The passivation of actors spawned without one: [`Passivation::LongLived`], so that an
    /// actor lives until it is stopped. GoAkt passivates every actor after two idle minutes;
    /// `Passivation::AfterIdle(Duration::from_secs(120))` does the same here. A zero idle
    /// time or message count makes `build` fail with [`SystemError::InvalidPassivation`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_actor::{ActorSystem, Passivation};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("like-goakt")
    ///     .default_passivation(Passivation::AfterIdle(Duration::from_secs(120)))
    ///     .build()?;
    /// let worker = system.spawn_fn("worker", |_ctx| Ok(())).await?;
    /// assert_eq!(worker.passivation(), Passivation::AfterIdle(Duration::from_secs(120)));
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn default_passivation(mut self, passivation: Passivation) -> Self {
        self.default_passivation = passivation;
        self
    }

    /// Limits the live actors by evicting some (GoAkt's `WithEvictionStrategy`); see
    /// [`Eviction`]. No limit by default. Invalid settings make `build` fail with
    /// [`SystemError::InvalidEviction`].
    pub fn eviction(mut self, eviction: Eviction) -> Self {
        self.eviction = Some(eviction);
        self
    }

    /// Records the system's metrics on `meter` (feature `opentelemetry`): live actors
    /// (`rakt.actor.count`), messages handled (`rakt.actor.messages.processed`) and the time
    /// each took (`rakt.actor.process.duration`, in seconds), restarts
    /// (`rakt.actor.restarts`), dead letters by reason (`rakt.dead_letters`), and messages
    /// waiting in mailboxes (`rakt.actor.mailbox.size`), each with the attribute
    /// `rakt.system.name`. Without a meter nothing is recorded.
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider;
    /// use rakt_actor::ActorSystem;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// let system = ActorSystem::builder("metered").meter(provider.meter("rakt")).build()?;
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "opentelemetry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
    pub fn meter(mut self, meter: opentelemetry::metrics::Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Checks the settings and starts the system on the current tokio runtime.
    pub fn build(self) -> Result<ActorSystem, SystemError> {
        validate_name(&self.name)?;
        for (field, value) in [
            ("ask_timeout", self.ask_timeout),
            ("shutdown_timeout", self.shutdown_timeout),
            ("init_timeout", self.init_timeout),
        ] {
            if value.is_zero() {
                return Err(SystemError::ZeroDuration { field });
            }
        }
        if let Err(reason) = self.default_mailbox.validate() {
            return Err(SystemError::InvalidMailbox { reason });
        }
        if let Some(type_name) = self.duplicate_extension {
            return Err(SystemError::DuplicateExtension { type_name });
        }
        for hook in &self.shutdown_hooks {
            hook.validate()
                .map_err(|reason| SystemError::InvalidShutdownHook { reason })?;
        }
        self.default_passivation
            .validate()
            .map_err(|reason| SystemError::InvalidPassivation { reason })?;
        if let Some(eviction) = &self.eviction {
            eviction
                .validate()
                .map_err(|reason| SystemError::InvalidEviction { reason })?;
        }
        let mut shutdown_hooks = self.shutdown_hooks;
        // Stable: hooks of equal order keep the order they were added in.
        shutdown_hooks.sort_by_key(ShutdownHook::ordering);
        for (field, supervisor) in [
            ("default_supervisor", &self.default_supervisor),
            ("guardian_supervisor", &self.guardian_supervisor),
        ] {
            if let Err(reason) = supervisor.validate() {
                return Err(SystemError::InvalidSupervisor { field, reason });
            }
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SystemError::NoRuntime)?;
        if !has_time_driver() {
            return Err(SystemError::NoTimeDriver);
        }
        crate::cell::calibrate_clock();
        let shared = SystemShared {
            name: Arc::from(self.name),
            config: Config {
                ask_timeout: self.ask_timeout,
                shutdown_timeout: self.shutdown_timeout,
                init_timeout: self.init_timeout,
                init_retries: self.init_retries,
                default_mailbox: self.default_mailbox,
                log_dead_letters: self.log_dead_letters,
                default_supervisor: self.default_supervisor,
                guardian_supervisor: self.guardian_supervisor,
                shutdown_hooks,
                default_passivation: self.default_passivation,
            },
            registry: Registry::new(),
            events: Arc::new(EventStream::new()),
            scheduler: Scheduler::new(WallClock::start(self.clock)),
            passivator: Passivator::new(self.eviction),
            runtime,
            state: AtomicU8::new(RUNNING),
            next_id: AtomicU64::new(1),
            dead_letters: AtomicU64::new(0),
            started_at: Instant::now(),
            anchor: OnceLock::new(),
            location: OnceLock::new(),
            asks: AskDeadlines::new(),
            extensions: self.extensions,
            #[cfg(feature = "opentelemetry")]
            instruments: OnceLock::new(),
        };
        let shared = Arc::new(shared);
        #[cfg(feature = "opentelemetry")]
        if let Some(meter) = &self.meter {
            let instruments =
                crate::telemetry::Instruments::new(meter, &shared.name, Arc::downgrade(&shared));
            // Set once, right after creation, so it cannot already hold a value.
            let _ = shared.instruments.set(instruments);
        }
        let handle = shared.runtime.spawn(timer_anchor(Arc::downgrade(&shared)));
        // Set once, right after creation, so it cannot already hold a value.
        let _ = shared.anchor.set(handle.abort_handle());
        shared.runtime.spawn(shared.asks.clone().run());
        shared.runtime.spawn(shared.scheduler.clone().run());
        let passivator = shared.passivator.clone();
        shared
            .runtime
            .spawn(passivator.run(Arc::downgrade(&shared)));
        Ok(ActorSystem { shared })
    }
}

/// A set of actors in one process, with their names, dead letters and events.
///
/// Cheap to clone: clones share the same system. Build one with [`ActorSystem::builder`]
/// inside a tokio runtime, and end it with [`ActorSystem::stop`].
///
/// ```
/// use rakt_actor::{ActorSystem, Event};
/// use rakt_proto::v1::PostStart;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("demo").build()?;
/// system.spawn_fn("sink", |_ctx| Ok(())).await?;
/// assert_eq!(system.actor_count(), 1);
///
/// // A message for nobody is a dead letter, counted and published.
/// let mut events = system.subscribe();
/// assert!(system.tell("nobody", PostStart {}).await.is_err());
/// assert!(matches!(events.recv().await, Some(Event::DeadLetter(_))));
/// assert_eq!(system.dead_letter_count(), 1);
///
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ActorSystem {
    shared: Arc<SystemShared>,
}

impl ActorSystem {
    /// Starts building a system with the given name (`[a-zA-Z0-9][a-zA-Z0-9-_.]*`).
    pub fn builder(name: impl Into<String>) -> ActorSystemBuilder {
        ActorSystemBuilder {
            name: name.into(),
            ask_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(300),
            init_timeout: Duration::from_secs(1),
            init_retries: 4,
            default_mailbox: MailboxConfig::Unbounded,
            log_dead_letters: false,
            default_supervisor: Supervisor::new(),
            guardian_supervisor: Supervisor::new(),
            clock: Clock::system(),
            shutdown_hooks: Vec::new(),
            default_passivation: Passivation::LongLived,
            eviction: None,
            extensions: Extensions::default(),
            duplicate_extension: None,
            #[cfg(feature = "opentelemetry")]
            meter: None,
        }
    }

    /// The extension of type `T` registered with
    /// [`ActorSystemBuilder::extension`], if any.
    ///
    /// ```
    /// use rakt_actor::ActorSystem;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("limits").extension(64_u32).build()?;
    /// assert_eq!(system.extension::<u32>(), Some(&64));
    /// assert_eq!(system.extension::<u64>(), None);
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.shared.extensions.get::<T>()
    }

    pub(crate) fn from_shared(shared: Arc<SystemShared>) -> Self {
        Self { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<SystemShared> {
        &self.shared
    }

    /// Records a message that could not be delivered to `receiver`, as the runtime records its
    /// own: counted, logged when the system logs dead letters, and published as
    /// [`Event::DeadLetter`](crate::Event::DeadLetter). For transports, which meet
    /// undeliverable messages outside any actor, such as one for an unknown actor name.
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, DeadLetterReason};
    /// use rakt_proto::v1::PoisonPill;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("letters").build()?;
    /// system.report_dead_letter("nobody", Box::new(PoisonPill {}), None, DeadLetterReason::UnknownActor);
    /// assert_eq!(system.dead_letter_count(), 1);
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn report_dead_letter(
        &self,
        receiver: &str,
        message: Box<dyn AnyMessage>,
        sender: Option<&Pid>,
        reason: DeadLetterReason,
    ) {
        self.shared.dead_letter(
            sender.cloned(),
            receiver,
            Payload::from_box(message),
            reason,
        );
    }

    /// Sets where other nodes reach this system, once: from then on every local actor's
    /// [`Address`] carries this host and port. The remoting layer calls it when it starts
    /// listening.
    ///
    /// # Errors
    ///
    /// [`SystemError::InvalidLocation`] when `host` is not a valid host name or IP address or
    /// `port` is zero, and [`SystemError::AlreadyListening`] when a location was set before.
    ///
    /// ```
    /// use rakt_actor::ActorSystem;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("shop").build()?;
    /// system.set_location("127.0.0.1", 4000)?;
    /// let cart = system.spawn_fn("cart", |_ctx| Ok(())).await?;
    /// assert_eq!(cart.address().to_string(), "rakt://shop@127.0.0.1:4000/cart");
    /// assert_eq!(system.location(), Some(("127.0.0.1", 4000)));
    /// assert!(system.set_location("127.0.0.1", 4001).is_err());
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_location(&self, host: &str, port: u16) -> Result<(), SystemError> {
        // Parsing what the addresses will print checks the host and port exactly as a peer
        // parsing them will.
        let probe = Address::remote(self.name(), host, port, "probe").to_string();
        probe
            .parse::<Address>()
            .map_err(SystemError::InvalidLocation)?;
        let location = crate::address::Location {
            host: host.into(),
            port,
        };
        self.shared
            .location
            .set(location)
            .map_err(|_| SystemError::AlreadyListening)
    }

    /// Where other nodes reach this system, once set with [`set_location`](Self::set_location).
    pub fn location(&self) -> Option<(&str, u16)> {
        self.shared
            .location
            .get()
            .map(|location| (&*location.host, location.port))
    }

    /// The system's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Whether the system accepts spawns: built and not stopping.
    pub fn is_running(&self) -> bool {
        self.shared.is_running()
    }

    /// Time since `build`.
    pub fn uptime(&self) -> Duration {
        self.shared.started_at.elapsed()
    }

    /// Spawns a top-level actor. `pre_start` runs before this returns; its failure is the
    /// spawn's failure. The actor then receives `PostStart` before any other message.
    ///
    /// A restart keeps this value: `post_stop` and `pre_start` run on it again, so
    /// `pre_start` must reset what a new incarnation must not inherit. Spawn with
    /// [`spawn_factory`](Self::spawn_factory) to restart on a fresh state instead.
    pub async fn spawn<A: Actor>(&self, name: &str, actor: A) -> Result<Pid, SpawnError> {
        let first = Incarnation::Value(actor);
        spawn_actor(&self.shared, None, name, first, SpawnOptions::default()).await
    }

    /// Spawns a top-level actor with options.
    pub async fn spawn_with<A: Actor>(
        &self,
        name: &str,
        actor: A,
        options: SpawnOptions,
    ) -> Result<Pid, SpawnError> {
        spawn_actor(&self.shared, None, name, Incarnation::Value(actor), options).await
    }

    /// Spawns a top-level actor whose state comes from `factory`: once now, and again at
    /// every restart, so that a restarted actor starts from a fresh state (Akka's `Props`).
    /// A panic in the factory fails the spawn with [`SpawnError::FactoryPanicked`], or stops
    /// the actor when it happens at a restart.
    ///
    /// ```
    /// use rakt_actor::{Actor, ActorError, ActorSystem, Context, SpawnOptions};
    /// use rakt_proto::v1::StatusFailure;
    ///
    /// #[derive(Default)]
    /// struct Tally {
    ///     seen: u32,
    /// }
    ///
    /// impl Actor for Tally {
    ///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
    ///         if ctx.is::<StatusFailure>() {
    ///             self.seen += 1;
    ///             ctx.respond(StatusFailure { error: self.seen.to_string() });
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("fresh").build()?;
    /// let tally = system.spawn_factory("tally", Tally::default, SpawnOptions::new()).await?;
    /// let _: StatusFailure = tally.ask(StatusFailure::default()).await?;
    /// tally.restart().await?;
    /// let after: StatusFailure = tally.ask(StatusFailure::default()).await?;
    /// assert_eq!(after.error, "1", "the restart began from a fresh state");
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn spawn_factory<A: Actor>(
        &self,
        name: &str,
        factory: impl Fn() -> A + Send + Sync + 'static,
        options: SpawnOptions,
    ) -> Result<Pid, SpawnError> {
        let first = Incarnation::Factory(Arc::new(factory));
        spawn_actor(&self.shared, None, name, first, options).await
    }

    /// Spawns a top-level [`Router`](crate::Router) and its routees, which are its children:
    /// they are all running when this returns. Invalid settings fail with
    /// [`SpawnError::InvalidRouter`]; a routee that cannot be spawned fails the spawn.
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, Broadcast, FnActor, Router};
    /// use rakt_proto::v1::{GetRoutees, PoisonPill, Routees};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("pool").build()?;
    /// let router = system
    ///     .spawn_router("pool", Router::pool(2, || FnActor::new(|_ctx| Ok(()))))
    ///     .await?;
    /// let routees: Routees = router.ask(GetRoutees {}).await?;
    /// assert_eq!(routees.names.len(), 2);
    /// // Every routee swallows the pill; the router, left with none, stops.
    /// router.tell(Broadcast::new(PoisonPill {})).await?;
    /// router.wait_stopped().await?;
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn spawn_router(&self, name: &str, router: crate::Router) -> Result<Pid, SpawnError> {
        let (first, options) = crate::router::incarnation(router)?;
        spawn_actor(&self.shared, None, name, first, options).await
    }

    /// Spawns a top-level actor from a closure; see [`FnActor`].
    pub async fn spawn_fn(
        &self,
        name: &str,
        receive: impl FnMut(&mut Context<'_, FnActor>) -> Result<(), ActorError> + Send + 'static,
    ) -> Result<Pid, SpawnError> {
        self.spawn(name, FnActor::new(receive)).await
    }

    /// Looks an actor up by name. Today this searches this system; with a cluster it will
    /// search the cluster too, which is why it is `async`.
    pub async fn actor_of(&self, name: &str) -> Result<Pid, LookupError> {
        self.local_actor(name).ok_or_else(|| LookupError::NotFound {
            name: name.to_owned(),
        })
    }

    /// Looks an actor up by name in this system only.
    pub fn local_actor(&self, name: &str) -> Option<Pid> {
        self.shared.registry.get(name)
    }

    /// Every live actor of this system.
    pub fn actors(&self) -> Vec<Pid> {
        self.shared.registry.all()
    }

    /// How many actors live in this system.
    pub fn actor_count(&self) -> usize {
        self.shared.registry.len()
    }

    /// Sends a message to the actor with this name. An unknown name makes the message a
    /// dead letter and the send fails with [`SendError::NotFound`].
    pub async fn tell<M: Message>(&self, name: &str, message: M) -> Result<(), SendError> {
        match self.shared.registry.get(name) {
            Some(pid) => pid.tell(message).await,
            None => {
                let envelope = Envelope {
                    message: Payload::new(message),
                    sender: None,
                    reply: None,
                    trace: crate::telemetry::Trace::current(),
                };
                self.shared.dead_letter(
                    None,
                    name,
                    envelope.message,
                    DeadLetterReason::UnknownActor,
                );
                Err(SendError::NotFound {
                    name: name.to_owned(),
                })
            }
        }
    }

    /// The system's wall clock: the machine's, or a [`Clock::manual`] one.
    pub fn now(&self) -> std::time::SystemTime {
        self.shared.scheduler.now()
    }

    /// Delivers `message` to `to` once, after `delay`, with no sender (GoAkt's
    /// `ScheduleOnce`). The schedule survives restarts of the target; if the target has
    /// stopped when it fires, the message is a dead letter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_actor::{ActorSystem, Context};
    /// use rakt_proto::v1::StatusFailure as Reminder;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("later").build()?;
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// let mut tx = Some(tx);
    /// let pid = system
    ///     .spawn_fn("reminded", move |ctx: &mut Context<'_, _>| {
    ///         if let Some(reminder) = ctx.take_message::<Reminder>() {
    ///             if let Some(tx) = tx.take() {
    ///                 let _ = tx.send(reminder.error);
    ///             }
    ///         }
    ///         Ok(())
    ///     })
    ///     .await?;
    /// let reminder = Reminder { error: "stand up".into() };
    /// system.schedule_once(&pid, reminder, Duration::from_millis(20))?;
    /// assert_eq!(rx.await?, "stand up");
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn schedule_once<M: Message + Clone>(
        &self,
        to: &Pid,
        message: M,
        delay: Duration,
    ) -> Result<ScheduleRef, ScheduleError> {
        self.schedule(to, message, ScheduleKind::Once { delay })
    }

    /// Delivers `message` to `to` every `every`, the first time after one interval (GoAkt's
    /// `Schedule`). The rate is fixed: a late firing does not move the ones after it, and a
    /// stall is not caught up with a burst. The schedule ends when the target stops.
    pub fn schedule_interval<M: Message + Clone>(
        &self,
        to: &Pid,
        message: M,
        every: Duration,
    ) -> Result<ScheduleRef, ScheduleError> {
        self.schedule(to, message, ScheduleKind::Interval { every })
    }

    /// Delivers `message` to `to` at every instant the cron expression matches, in UTC on
    /// the system's [`clock`](ActorSystemBuilder::clock) (GoAkt's `ScheduleWithCron`); see
    /// [`CronExpr`](crate::CronExpr) for the syntax, six fields with seconds, or seven with
    /// years. The schedule ends when the target stops or the expression has no instant left.
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, ScheduleError};
    /// use rakt_proto::v1::PostStart;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("cron").build()?;
    /// let sink = system.spawn_fn("sink", |_ctx| Ok(())).await?;
    /// // Every weekday at 09:30:00.
    /// let standup = system.schedule_cron(&sink, PostStart {}, "0 30 9 ? * MON-FRI")?;
    /// assert_eq!(system.schedules().len(), 1);
    /// standup.cancel()?;
    /// let bad = system.schedule_cron(&sink, PostStart {}, "every monday");
    /// assert!(matches!(bad, Err(ScheduleError::InvalidCron(_))));
    /// system.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn schedule_cron<M: Message + Clone>(
        &self,
        to: &Pid,
        message: M,
        expression: &str,
    ) -> Result<ScheduleRef, ScheduleError> {
        let expression = crate::cron::CronExpr::parse(expression)?;
        self.schedule(to, message, ScheduleKind::Cron { expression })
    }

    fn schedule<M: Message + Clone>(
        &self,
        to: &Pid,
        message: M,
        kind: ScheduleKind,
    ) -> Result<ScheduleRef, ScheduleError> {
        if !self.shared.is_running() {
            return Err(ScheduleError::SystemStopped);
        }
        self.shared.scheduler.add(to, message, kind)
    }

    /// Every live schedule, oldest first.
    pub fn schedules(&self) -> Vec<ScheduleInfo> {
        self.shared.scheduler.list()
    }

    /// Subscribes to the event stream.
    pub fn subscribe(&self) -> Subscription {
        self.shared.events.subscribe()
    }

    /// How many messages became dead letters since the system started.
    pub fn dead_letter_count(&self) -> u64 {
        self.shared.dead_letters.load(Ordering::Relaxed)
    }

    /// Stops the system: no more spawns; the [shutdown hooks](ShutdownHook) run, in order,
    /// while the actors still run; then every scheduled message is cancelled and every actor
    /// stops gracefully, children before their parents, within the shutdown timeout. Actors
    /// still running at the deadline are aborted and named in the error.
    ///
    /// A hook that fails with [`HookFailure::Abort`] abandons the stop: the system runs on
    /// and this returns [`SystemError::ShutdownHookFailed`]. A hook that fails with
    /// [`HookFailure::Continue`] is logged and the stop goes on.
    pub async fn stop(&self) -> Result<(), SystemError> {
        let shared = &self.shared;
        if shared
            .state
            .compare_exchange(RUNNING, STOPPING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(SystemError::AlreadyStopped);
        }
        for hook in &shared.config.shutdown_hooks {
            let Err(error) = hook.run(self).await else {
                continue;
            };
            match hook.failure_policy() {
                HookFailure::Abort => {
                    tracing::error!(hook = hook.name(), %error, "shutdown hook failed, stop abandoned");
                    shared.state.store(RUNNING, Ordering::SeqCst);
                    return Err(SystemError::ShutdownHookFailed {
                        hook: hook.name().to_owned(),
                        error,
                    });
                }
                _ => {
                    tracing::error!(hook = hook.name(), %error, "shutdown hook failed, stopping anyway")
                }
            }
        }
        // Nothing scheduled is delivered to actors that are stopping, and none passivates.
        shared.scheduler.close();
        shared.passivator.close();
        let timeout = shared.config.shutdown_timeout;
        let deadline = deadline_after(timeout);
        let top: Vec<Pid> = shared
            .registry
            .all()
            .into_iter()
            .filter(|p| p.parent().is_none())
            .collect();
        for pid in &top {
            // An actor already stopping needs no signal.
            let _ = pid.push_system(SystemMessage::Stop);
        }
        let _ = tokio::time::timeout_at(deadline, async {
            for pid in &top {
                pid.wait_terminated().await;
            }
        })
        .await;
        let leftovers = shared.registry.all();
        for pid in &leftovers {
            if let Some(handle) = pid.local().and_then(|cell| cell.abort.get()) {
                handle.abort();
            }
        }
        // An abort takes effect when the task next yields; until then it may still be handling
        // a message. Give the aborted tasks a moment to end, so that the cleanup below is
        // normally the mailbox's only consumer; a handler that never yields is not waited for.
        let grace = tokio::time::Instant::now() + ABORT_GRACE;
        for pid in &leftovers {
            if let Some(handle) = pid.local().and_then(|cell| cell.abort.get()) {
                while !handle.is_finished() && tokio::time::Instant::now() < grace {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        for pid in &leftovers {
            if let Some(cell) = pid.local() {
                runner::finish(cell, pid);
            }
        }
        shared.state.store(STOPPED, Ordering::SeqCst);
        if let Some(anchor) = shared.anchor.get() {
            anchor.abort();
        }
        shared.asks.shutdown();
        shared.scheduler.close();
        shared.passivator.close();
        shared.events.close();
        if leftovers.is_empty() {
            Ok(())
        } else {
            let actors = leftovers.iter().map(|p| p.name().to_owned()).collect();
            Err(SystemError::ShutdownTimeout { timeout, actors })
        }
    }
}

impl fmt::Debug for ActorSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorSystem")
            .field("name", &self.shared.name)
            .field("actors", &self.shared.registry.len())
            .finish()
    }
}

/// Whether the current runtime has tokio's time driver. tokio offers no query for it, and
/// creating a timer without it panics, so the check creates one under `catch_unwind`.
fn has_time_driver() -> bool {
    std::panic::catch_unwind(|| drop(tokio::time::sleep(Duration::ZERO))).is_ok()
}

/// How long `stop` waits for aborted actors' tasks to end before cleaning up after them.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// How often the timer anchor re-arms itself.
const ANCHOR_PERIOD: Duration = Duration::from_secs(1);

/// Keeps one timer due within [`ANCHOR_PERIOD`] in the runtime's timer wheel while the system
/// runs.
///
/// Every stop and restart arms a tokio timeout that is nearly always cancelled early (asks do
/// not: see `ask.rs`). tokio wakes a parked runtime thread whenever a timer is armed that is
/// due before everything else in the wheel, so with an empty wheel each of them would cost a
/// thread wake-up (a system call and a context switch). With this anchor in the wheel,
/// timeouts due later than the next second never need that wake-up. It costs one timer firing
/// per second.
async fn timer_anchor(shared: std::sync::Weak<SystemShared>) {
    loop {
        tokio::time::sleep(ANCHOR_PERIOD).await;
        if !shared.upgrade().is_some_and(|s| s.is_running()) {
            break;
        }
    }
}

/// Where an actor's state comes from.
pub(crate) enum Incarnation<A> {
    /// A value, kept across restarts.
    Value(A),
    /// A factory, called for the first state and at every restart.
    Factory(Factory<A>),
}

pub(crate) async fn spawn_actor<A: Actor>(
    shared: &Arc<SystemShared>,
    parent: Option<&Pid>,
    name: &str,
    first: Incarnation<A>,
    options: SpawnOptions,
) -> Result<Pid, SpawnError> {
    if !shared.is_running() {
        return Err(SpawnError::SystemStopped);
    }
    validate_name(name)?;
    crate::dependency::validate(&options.dependencies)
        .map_err(|reason| SpawnError::InvalidDependency { reason })?;
    if let Some(supervisor) = &options.supervisor {
        supervisor
            .validate()
            .map_err(|reason| SpawnError::InvalidSupervisor { reason })?;
    }
    let (mut actor, factory) = match first {
        Incarnation::Value(actor) => (actor, None),
        Incarnation::Factory(factory) => {
            match std::panic::catch_unwind(AssertUnwindSafe(|| factory())) {
                Ok(actor) => (actor, Some(factory)),
                Err(panic) => {
                    return Err(SpawnError::FactoryPanicked {
                        name: name.to_owned(),
                        error: ActorError::from_panic(panic),
                    });
                }
            }
        }
    };
    let passivation = options
        .passivation
        .unwrap_or(shared.config.default_passivation);
    passivation
        .validate()
        .map_err(|reason| SpawnError::InvalidPassivation { reason })?;
    let message_limit = match passivation {
        Passivation::AfterMessages(limit) => Some(limit),
        _ => None,
    };
    if let Some(reentrancy) = &options.reentrancy {
        reentrancy
            .validate()
            .map_err(|reason| SpawnError::InvalidReentrancy { reason })?;
    }
    let reentrancy = options
        .reentrancy
        .filter(|r| r.mode() != crate::ReentrancyMode::Off);
    let spec = match (factory, options.supervisor, options.init_timeout) {
        (None, None, None) if message_limit.is_none() && reentrancy.is_none() => None,
        (factory, supervisor, init_timeout) => Some(Box::new(Spec {
            factory,
            supervisor,
            init_timeout,
            message_limit: message_limit.unwrap_or(u64::MAX),
            reentrancy,
            ..Spec::default()
        })),
    };
    // Checked before the mailbox is built, which may allocate its whole capacity.
    let stash_capacity = match options.stash_capacity {
        None => 0,
        Some(capacity) => match u32::try_from(capacity) {
            Ok(valid) if valid > 0 => valid,
            _ => return Err(SpawnError::InvalidStashCapacity { capacity }),
        },
    };
    let mailbox = options
        .mailbox
        .as_ref()
        .unwrap_or(&shared.config.default_mailbox);
    let lanes = mailbox
        .build()
        .map_err(|reason| SpawnError::InvalidMailbox { reason })?;
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let name: Arc<str> = Arc::from(name);
    let timeout = options.init_timeout.unwrap_or(shared.config.init_timeout);
    let cell = Arc::new(ActorCell::new(
        id,
        name.clone(),
        shared.clone(),
        parent.cloned(),
        lanes,
        stash_capacity,
        passivation.passivates(),
    ));
    cell.set_dependencies(options.dependencies);
    let pid = Pid::from_cell(cell.clone());
    if !shared.registry.insert(&name, &pid) {
        return Err(SpawnError::NameTaken {
            name: name.to_string(),
        });
    }
    // `stop` marks the system stopping before it collects actors; an insert it missed sees
    // the mark here.
    if !shared.is_running() {
        shared.registry.remove(&name, id);
        return Err(SpawnError::SystemStopped);
    }
    if let Some(parent) = parent {
        if !parent.local().is_some_and(|cell| cell.add_child(&pid)) {
            shared.registry.remove(&name, id);
            return Err(SpawnError::ParentStopped {
                parent: parent.name().to_owned(),
            });
        }
    }
    if let Err(error) = run_pre_start(&mut actor, &pid, timeout, shared.config.init_retries).await {
        // Messages sent to it meanwhile become dead letters; watchers hear it stopped.
        runner::finish(&cell, &pid);
        return Err(error);
    }
    cell.set_running();
    if passivation.passivates() {
        shared.passivator.register(&cell, passivation);
    }
    let handle = shared.runtime.spawn(runner::run(cell.clone(), actor, spec));
    // Set once, right after creation, so it cannot already hold a value.
    let _ = cell.abort.set(handle.abort_handle());
    if shared.events.has_subscribers() {
        shared
            .events
            .publish(Event::ActorStarted { pid: pid.clone() });
        if let Some(parent) = parent {
            shared.events.publish(Event::ChildCreated {
                parent: parent.clone(),
                child: pid.clone(),
            });
        }
    }
    Ok(pid)
}

/// Runs `pre_start`, retrying failures, all attempts within `timeout`.
pub(crate) async fn run_pre_start<A: Actor>(
    actor: &mut A,
    pid: &Pid,
    timeout: Duration,
    retries: u32,
) -> Result<(), SpawnError> {
    let deadline = deadline_after(timeout);
    let mut last = None;
    let attempts = retries.saturating_add(1);
    for _ in 0..attempts {
        let mut ctx = LifecycleContext::new(pid);
        let mut attempt = pin!(AssertUnwindSafe(actor.pre_start(&mut ctx)).catch_unwind());
        // Most `pre_start`s finish without waiting: poll once before arming a timer.
        let first = poll_fn(|cx| Poll::Ready(attempt.as_mut().poll(cx))).await;
        let outcome = match first {
            Poll::Ready(outcome) => Ok(outcome),
            Poll::Pending => tokio::time::timeout_at(deadline, attempt).await,
        };
        match outcome {
            Err(_) => {
                return Err(SpawnError::PreStartTimeout {
                    name: pid.name().to_owned(),
                    timeout,
                });
            }
            Ok(Ok(Ok(()))) => return Ok(()),
            Ok(Ok(Err(error))) => last = Some(error),
            Ok(Err(panic)) => last = Some(ActorError::from_panic(panic)),
        }
    }
    Err(SpawnError::PreStartFailed {
        name: pid.name().to_owned(),
        attempts,
        error: last.unwrap_or_else(|| ActorError::msg("pre_start never ran")),
    })
}

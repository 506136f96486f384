//! Routers: an actor that spreads what it receives over a pool of routees it spawned.
//!
//! A router is an ordinary actor, so it is addressed, watched and stopped like any other. Its
//! routees are its children: they stop with it, and it watches them, so a routee that stops
//! is removed or replaced as its [`DeadRoutee`] policy says. A routee found stopped when a
//! message is routed is dealt with at once, before the message goes elsewhere, rather than
//! when its `Terminated` arrives.
//!
//! Routing moves the message, as a local send does: a router that forwards to one routee
//! copies nothing, and one that sends to many makes one copy per extra routee, inline when
//! the message is small. Replies go straight from the routee to the asker; the
//! reply-collecting routings (scatter-gather-first and tail-chopping) wait in a task of their
//! own, so the router goes on routing while they wait.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use rakt_proto::v1::{
    AdjustRouterPoolSize, GetRoutees, PostStart, Routees, StatusFailure, Terminated,
};

use crate::actor::Actor;
use crate::cell::{Envelope, SystemMessage};
use crate::context::{Context, LifecycleContext};
use crate::error::{ActorError, AskError, SpawnError};
use crate::event::DeadLetterReason;
use crate::message::AnyMessage;
use crate::passivation::Passivation;
use crate::payload::Payload;
use crate::pid::{Ask, Pid};
use crate::reentrancy::Responder;
use crate::runner::Factory;
use crate::supervision::{Directive, Supervisor};
use crate::system::{Incarnation, SpawnOptions, spawn_actor};

/// GoAkt's number of points per routee on a consistent-hash ring.
const DEFAULT_VIRTUAL_NODES: usize = 150;

/// The seed of the ring's hash: fixed, so that a key lands on the same routee for the life
/// of the process whatever router instance computes it.
const RING_SEED: u64 = 0x5241_4b54_5f52_494e;

/// How a router picks the routees of a message.
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::{ConsistentHash, Routing};
/// use rakt_proto::v1::StatusFailure as Order;
///
/// let by_customer = Routing::ConsistentHash(ConsistentHash::new(|message| {
///     message.downcast_ref::<Order>().map(|order| order.error.clone())
/// }));
/// let fastest = Routing::ScatterGatherFirst { within: Duration::from_millis(200) };
/// # let _ = (by_customer, fastest);
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Routing {
    /// Every live routee gets a copy (GoAkt's default). An ask goes, with its asker, to the
    /// last routee only; the others get copies without an asker, whose `respond` goes to the
    /// sender (or, with no sender, to dead letters).
    #[default]
    FanOut,
    /// One routee, picked at random.
    Random,
    /// One routee after the other.
    RoundRobin,
    /// The routee that owns the message's key on a hash ring, so that messages with one key
    /// always reach one routee while the pool stays the same, and most keys stay put when it
    /// changes. A message without a key is a dead letter.
    ConsistentHash(ConsistentHash),
    /// Every routee is asked; the first reply within `within` goes to the asker, or to the
    /// sender of a tell. When none comes, the asker fails, or the sender gets a
    /// [`StatusFailure`].
    ScatterGatherFirst {
        /// How long to wait for the first reply.
        within: Duration,
    },
    /// One routee is asked, then another after each `interval`, until one replies or
    /// `within` has passed since the first; the reply goes where scatter-gather-first's goes.
    TailChopping {
        /// How long to wait, in all, for a reply.
        within: Duration,
        /// How long to wait for one routee before asking the next as well.
        interval: Duration,
    },
}

impl Routing {
    fn validate(&self) -> Result<(), String> {
        match self {
            Self::ConsistentHash(hash) if hash.virtual_nodes == 0 => {
                Err("a consistent-hash ring needs at least one virtual node per routee".into())
            }
            Self::ScatterGatherFirst { within } if within.is_zero() => {
                Err("scatter-gather-first needs a non-zero `within`".into())
            }
            Self::TailChopping { within, interval } if within.is_zero() || interval.is_zero() => {
                Err("tail-chopping needs a non-zero `within` and `interval`".into())
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FanOut => f.write_str("FanOut"),
            Self::Random => f.write_str("Random"),
            Self::RoundRobin => f.write_str("RoundRobin"),
            Self::ConsistentHash(hash) => f.debug_tuple("ConsistentHash").field(hash).finish(),
            Self::ScatterGatherFirst { within } => f
                .debug_struct("ScatterGatherFirst")
                .field("within", within)
                .finish(),
            Self::TailChopping { within, interval } => f
                .debug_struct("TailChopping")
                .field("within", within)
                .field("interval", interval)
                .finish(),
        }
    }
}

/// The key of a message, hashed.
type KeyFn = dyn Fn(&dyn AnyMessage) -> Option<u64> + Send + Sync;

/// Consistent-hash routing: a key taken from each message, and the number of points each
/// routee has on the ring.
///
/// ```
/// use rakt_actor::ConsistentHash;
/// use rakt_proto::v1::Terminated;
///
/// // Keys may be of any hashable type; `None` means the message has no key.
/// let by_address = ConsistentHash::new(|message| {
///     message.downcast_ref::<Terminated>().map(|t| t.address.clone())
/// })
/// .virtual_nodes(300);
/// assert_eq!(by_address.virtual_node_count(), 300);
/// ```
#[derive(Clone)]
pub struct ConsistentHash {
    key: Arc<KeyFn>,
    virtual_nodes: usize,
}

impl ConsistentHash {
    /// Routes by the key `key` finds in a message, with 150 virtual nodes per routee.
    pub fn new<K, F>(key: F) -> Self
    where
        K: Hash,
        F: Fn(&dyn AnyMessage) -> Option<K> + Send + Sync + 'static,
    {
        Self {
            key: Arc::new(move |message| key(message).map(|key| ring_hash(&key))),
            virtual_nodes: DEFAULT_VIRTUAL_NODES,
        }
    }

    /// How many points each routee has on the ring: more spread keys more evenly, at the
    /// cost of a larger ring. Zero makes the spawn fail with
    /// [`SpawnError::InvalidRouter`].
    pub fn virtual_nodes(mut self, count: usize) -> Self {
        self.virtual_nodes = count;
        self
    }

    /// The number of points each routee has on the ring.
    pub fn virtual_node_count(&self) -> usize {
        self.virtual_nodes
    }
}

impl fmt::Debug for ConsistentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsistentHash")
            .field("virtual_nodes", &self.virtual_nodes)
            .finish_non_exhaustive()
    }
}

fn ring_hash(value: &impl Hash) -> u64 {
    foldhash::fast::FixedState::with_seed(RING_SEED).hash_one(value)
}

/// What a router does when one of its routees stops (after its supervisor gave up on it, or
/// because it was stopped).
///
/// ```
/// use rakt_actor::DeadRoutee;
///
/// assert_eq!(DeadRoutee::default(), DeadRoutee::Remove);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadRoutee {
    /// The pool shrinks; a router left with no routee stops (GoAkt's behaviour).
    #[default]
    Remove,
    /// A new routee takes the dead one's place in the routing order.
    Replace,
}

/// Spawns routees of one actor type, whatever that type is.
trait Pool: Send + Sync {
    fn spawn<'a>(
        &'a self,
        router: &'a Pid,
        name: &'a str,
        options: SpawnOptions,
    ) -> BoxFuture<'a, Result<Pid, SpawnError>>;
}

struct FactoryPool<C>(Factory<C>);

impl<C: Actor> Pool for FactoryPool<C> {
    fn spawn<'a>(
        &'a self,
        router: &'a Pid,
        name: &'a str,
        options: SpawnOptions,
    ) -> BoxFuture<'a, Result<Pid, SpawnError>> {
        let first = Incarnation::Factory(self.0.clone());
        Box::pin(spawn_actor(
            router.system_shared(),
            Some(router),
            name,
            first,
            options,
        ))
    }
}

/// A pool router, to spawn with
/// [`ActorSystem::spawn_router`](crate::ActorSystem::spawn_router): routees made by one
/// factory, a [`Routing`], and what to do with routees that fail or stop.
///
/// Routees are named `<router>-<n>`, with `n` never reused, and are never passivated. By
/// default a failing routee stops (GoAkt's default) and a stopped routee is removed; give
/// the routees a [`Supervisor`] with [`Router::routee_options`] to restart them instead.
///
/// The router also answers [`GetRoutees`] with [`Routees`], grows or shrinks its pool on
/// [`AdjustRouterPoolSize`] (answering an ask with the routees after the change), and hands
/// a [`Broadcast`]'s message to every routee whatever its routing.
///
/// ```
/// use rakt_actor::{ActorSystem, Context, DeadRoutee, FnActor, Router, Routing};
/// use rakt_proto::v1::{GetRoutees, Routees, StatusFailure as Job};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("routing").build()?;
/// let worker = || {
///     FnActor::new(|ctx: &mut Context<'_, _>| {
///         if let Some(job) = ctx.take_message::<Job>() {
///             let done = format!("{} by {}", job.error, ctx.pid().name());
///             ctx.respond(Job { error: done });
///         }
///         Ok(())
///     })
/// };
/// let router = Router::pool(3, worker)
///     .routing(Routing::RoundRobin)
///     .on_dead_routee(DeadRoutee::Replace);
/// let workers = system.spawn_router("workers", router).await?;
/// let done: Job = workers.ask(Job { error: "job".into() }).await?;
/// assert_eq!(done.error, "job by workers-0");
/// let routees: Routees = workers.ask(GetRoutees {}).await?;
/// assert_eq!(routees.names, ["workers-0", "workers-1", "workers-2"]);
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
pub struct Router {
    pool_size: usize,
    routing: Routing,
    on_dead_routee: DeadRoutee,
    routee_options: SpawnOptions,
    pool: Arc<dyn Pool>,
}

impl Router {
    /// A router of `pool_size` routees, each made by `factory` (again at each restart), with
    /// [`Routing::FanOut`]. A pool of zero makes the spawn fail with
    /// [`SpawnError::InvalidRouter`].
    pub fn pool<C: Actor>(
        pool_size: usize,
        factory: impl Fn() -> C + Send + Sync + 'static,
    ) -> Self {
        Self {
            pool_size,
            routing: Routing::default(),
            on_dead_routee: DeadRoutee::default(),
            routee_options: SpawnOptions::new(),
            pool: Arc::new(FactoryPool::<C>(Arc::new(factory))),
        }
    }

    /// How messages are routed.
    pub fn routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
    }

    /// What happens when a routee stops.
    pub fn on_dead_routee(mut self, policy: DeadRoutee) -> Self {
        self.on_dead_routee = policy;
        self
    }

    /// The options every routee is spawned with: its mailbox, its supervisor (stop on any
    /// failure unless set), its dependencies. Their passivation is ignored: routees live as
    /// long as their router.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rakt_actor::{Directive, FnActor, Router, SpawnOptions, Supervisor};
    ///
    /// let restart = Supervisor::new()
    ///     .default_directive(Directive::Restart)
    ///     .retry(3, Duration::from_secs(10));
    /// let router = Router::pool(4, || FnActor::new(|_ctx| Ok(())))
    ///     .routee_options(SpawnOptions::new().supervisor(restart));
    /// # let _ = router;
    /// ```
    pub fn routee_options(mut self, options: SpawnOptions) -> Self {
        self.routee_options = options;
        self
    }

    /// Checks the settings, and turns them into what the router actor shares across its
    /// restarts.
    pub(crate) fn into_spec(self) -> Result<Arc<Spec>, SpawnError> {
        if self.pool_size == 0 {
            return Err(SpawnError::InvalidRouter {
                reason: "a router needs at least one routee".into(),
            });
        }
        self.routing
            .validate()
            .map_err(|reason| SpawnError::InvalidRouter { reason })?;
        let mut options = self.routee_options.passivation(Passivation::LongLived);
        if !options.has_supervisor() {
            options = options.supervisor(
                Supervisor::new()
                    .on_panic(Directive::Stop)
                    .default_directive(Directive::Stop),
            );
        }
        Ok(Arc::new(Spec {
            pool_size: self.pool_size,
            routing: self.routing,
            on_dead_routee: self.on_dead_routee,
            routee_options: options,
            pool: self.pool,
            serial: AtomicU64::new(0),
        }))
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("pool_size", &self.pool_size)
            .field("routing", &self.routing)
            .field("on_dead_routee", &self.on_dead_routee)
            .finish_non_exhaustive()
    }
}

/// What the router actor is spawned from: a factory, so that a restart starts from no
/// routees (the restart stopped them, as the router's children) and spawns a fresh pool.
pub(crate) fn incarnation(
    router: Router,
) -> Result<(Incarnation<RouterActor>, SpawnOptions), SpawnError> {
    let spec = router.into_spec()?;
    let factory: Factory<RouterActor> = Arc::new(move || RouterActor::new(spec.clone()));
    let options = SpawnOptions::new().passivation(Passivation::LongLived);
    Ok((Incarnation::Factory(factory), options))
}

/// A router's settings, shared by its incarnations.
pub(crate) struct Spec {
    pool_size: usize,
    routing: Routing,
    on_dead_routee: DeadRoutee,
    routee_options: SpawnOptions,
    pool: Arc<dyn Pool>,
    /// The number in the next routee's name: shared, so that no incarnation reuses a name.
    serial: AtomicU64,
}

/// The router itself: an actor whose state is its routees.
pub(crate) struct RouterActor {
    spec: Arc<Spec>,
    routees: Vec<Pid>,
    /// The next round-robin position.
    cursor: usize,
    /// The consistent-hash ring, rebuilt after the routees change.
    ring: Option<Vec<(u64, usize)>>,
    /// The random-routing generator's state (xorshift64*), never zero.
    rng: u64,
}

impl RouterActor {
    pub(crate) fn new(spec: Arc<Spec>) -> Self {
        let seed = foldhash::fast::RandomState::default().hash_one(Arc::as_ptr(&spec) as usize);
        Self {
            spec,
            routees: Vec::new(),
            cursor: 0,
            ring: None,
            rng: seed | 1,
        }
    }

    async fn spawn_routee(&self, router: &Pid) -> Result<Pid, SpawnError> {
        let serial = self.spec.serial.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{serial}", router.name());
        let routee = self
            .spec
            .pool
            .spawn(router, &name, self.spec.routee_options.clone())
            .await?;
        router.watch(&routee);
        Ok(routee)
    }

    async fn grow(&mut self, router: &Pid, count: usize) -> Result<(), SpawnError> {
        for _ in 0..count {
            let routee = self.spawn_routee(router).await?;
            self.routees.push(routee);
            self.ring = None;
        }
        Ok(())
    }

    fn shrink(&mut self, router: &Pid, count: usize) {
        for _ in 0..count {
            let Some(routee) = self.routees.pop() else {
                break;
            };
            self.ring = None;
            router.unwatch(&routee);
            // A routee already stopping needs no signal.
            let _ = routee.push_system(SystemMessage::Stop);
        }
        self.stop_when_empty(router);
    }

    fn stop_when_empty(&self, router: &Pid) {
        if self.routees.is_empty() {
            tracing::debug!(router = router.name(), "no routee left: the router stops");
            // Only fails when the router already stops, which is what was wanted.
            let _ = router.push_system(SystemMessage::Stop);
        }
    }

    /// Deals with a routee that stopped: removes it, or replaces it in place.
    async fn lost(&mut self, router: &Pid, gone: &Pid) {
        let Some(index) = self.routees.iter().position(|routee| routee == gone) else {
            return;
        };
        self.routees.remove(index);
        self.ring = None;
        if self.spec.on_dead_routee == DeadRoutee::Replace && router.is_running() {
            match self.spawn_routee(router).await {
                Ok(routee) => self.routees.insert(index, routee),
                Err(error) => {
                    tracing::warn!(router = router.name(), routee = gone.name(), %error, "could not replace a dead routee");
                }
            }
        }
        self.stop_when_empty(router);
    }

    /// Deals with every routee found stopped.
    async fn prune(&mut self, router: &Pid) {
        // Bounded by the pool: each pass removes or replaces one stopped routee, and a
        // replacement is alive when made.
        for _ in 0..self.routees.len() {
            let Some(gone) = self.routees.iter().find(|routee| !alive(routee)).cloned() else {
                return;
            };
            self.lost(router, &gone).await;
        }
    }

    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The position on the ring of the routee that owns `key`.
    fn owner(&mut self, key: u64, virtual_nodes: usize) -> usize {
        let routees = &self.routees;
        let ring = self.ring.get_or_insert_with(|| {
            let mut points = Vec::with_capacity(routees.len() * virtual_nodes);
            for (index, routee) in routees.iter().enumerate() {
                for node in 0..virtual_nodes {
                    points.push((ring_hash(&(routee.name(), node)), index));
                }
            }
            points.sort_unstable();
            points
        });
        let at = ring.partition_point(|(point, _)| *point < key);
        ring.get(at).or(ring.first()).map_or(0, |(_, index)| *index)
    }

    /// The routee of the current message, for the routings that pick one.
    async fn pick(&mut self, ctx: &Context<'_, Self>) -> Option<usize> {
        /// What picking needs from the routing, copied out so that picking can change `self`.
        #[derive(Clone, Copy)]
        enum Pick {
            Owner { key: u64, virtual_nodes: usize },
            Next,
            Random,
        }
        let pick = match &self.spec.routing {
            Routing::ConsistentHash(hash) => Pick::Owner {
                key: (hash.key)(ctx.message_any()?)?,
                virtual_nodes: hash.virtual_nodes,
            },
            Routing::RoundRobin => Pick::Next,
            _ => Pick::Random,
        };
        // Bounded by the pool: each turn deals with one stopped routee.
        for _ in 0..=self.routees.len() {
            let count = self.routees.len();
            if count == 0 {
                return None;
            }
            let index = match pick {
                Pick::Owner { key, virtual_nodes } => self.owner(key, virtual_nodes),
                Pick::Next => {
                    let index = self.cursor % count;
                    self.cursor = index + 1;
                    index
                }
                // A modulo bias of at most `count / 2^64` does not matter here.
                Pick::Random => (self.next_random() % count as u64) as usize,
            };
            if alive(&self.routees[index]) {
                return Some(index);
            }
            let gone = self.routees[index].clone();
            self.lost(ctx.pid(), &gone).await;
        }
        None
    }

    /// Sends copies of the current message to every live routee, and the original, with its
    /// asker, to the last.
    async fn fan_out(&mut self, ctx: &mut Context<'_, Self>) {
        self.prune(ctx.pid()).await;
        let Some((last, others)) = self.routees.split_last() else {
            no_routee(ctx);
            return;
        };
        let Some(payload) = ctx.take_payload() else {
            return;
        };
        let sender = ctx.sender().cloned();
        for routee in others {
            // An undeliverable copy is already a dead letter.
            let _ = routee.send(payload.duplicate(), sender.clone()).await;
        }
        let _ = last
            .deliver(Envelope {
                message: payload,
                sender,
                reply: ctx.defer_reply().map(Responder::into_reply),
                trace: crate::telemetry::Trace::current(),
            })
            .await;
    }

    /// Hands the message of a [`Broadcast`] to every live routee.
    async fn broadcast(&mut self, ctx: &mut Context<'_, Self>, message: Box<dyn AnyMessage>) {
        self.prune(ctx.pid()).await;
        let sender = ctx.sender().cloned();
        let Some((last, others)) = self.routees.split_last() else {
            ctx.cell().system.dead_letter(
                sender,
                ctx.pid().name(),
                Payload::from_box(message),
                DeadLetterReason::NoRoutee,
            );
            return;
        };
        for routee in others {
            let _ = routee
                .send(Payload::from_box(message.clone_box()), sender.clone())
                .await;
        }
        let _ = last.send(Payload::from_box(message), sender).await;
    }

    /// Starts a scatter-gather-first or tail-chopping exchange, which answers from a task of
    /// its own.
    async fn gather(
        &mut self,
        ctx: &mut Context<'_, Self>,
        within: Duration,
        interval: Option<Duration>,
    ) {
        self.prune(ctx.pid()).await;
        if self.routees.is_empty() {
            no_routee(ctx);
            return;
        }
        let Some(question) = ctx.take_payload() else {
            return;
        };
        let mut routees = self.routees.clone();
        if interval.is_some() {
            // Tail-chopping starts at a random routee, so that the first asked is not always
            // the same one.
            let start = (self.next_random() % routees.len() as u64) as usize;
            routees.rotate_left(start);
        }
        let target = ReplyTarget {
            asker: ctx.defer_reply(),
            sender: ctx.sender().cloned(),
            router: ctx.pid().clone(),
        };
        // In the router's handling span, so the routees' handling keeps the asker's trace.
        let exchange = crate::telemetry::in_current_span(async move {
            let outcome = match interval {
                None => scatter_gather(&routees, question, target.sender.clone(), within).await,
                Some(interval) => {
                    tail_chop(&routees, question, target.sender.clone(), within, interval).await
                }
            };
            target.deliver(outcome);
        });
        ctx.cell().system.runtime.spawn(exchange);
    }
}

/// Whether a routee can still take messages (running, starting or suspended).
fn alive(routee: &Pid) -> bool {
    !routee.is_stopping()
}

/// Dead-letters the current message: there is no routee for it. An asker hears why at once.
fn no_routee(ctx: &mut Context<'_, RouterActor>) {
    if let Some(asker) = ctx.defer_reply() {
        asker.fail("no routee for the message");
    }
    if let Some(payload) = ctx.take_payload() {
        ctx.cell().system.dead_letter(
            ctx.sender().cloned(),
            ctx.pid().name(),
            payload,
            DeadLetterReason::NoRoutee,
        );
    }
}

fn keep_reply(reply: Payload) -> Result<Payload, AskError> {
    Ok(reply)
}

/// Why a reply-collecting exchange found no reply.
fn explain(within: Duration, last: Option<AskError>) -> String {
    match last {
        None | Some(AskError::Timeout { .. }) => format!("no routee replied within {within:?}"),
        Some(error) => format!("no routee replied: {error}"),
    }
}

/// Asks every routee at once; the first reply wins.
async fn scatter_gather(
    routees: &[Pid],
    question: Payload,
    sender: Option<Pid>,
    within: Duration,
) -> Result<Payload, String> {
    // Copies for all routees but one, which gets the question itself.
    let mut questions: Vec<Payload> = (1..routees.len()).map(|_| question.duplicate()).collect();
    questions.push(question);
    let mut asks: FuturesUnordered<_> = routees
        .iter()
        .zip(questions)
        .map(|(routee, question)| {
            Ask::new(routee, question, sender.clone(), keep_reply)
                .timeout(within)
                .into_future()
        })
        .collect();
    let mut last = None;
    // Ends when a reply comes or every ask has failed; each ask ends within `within`.
    while let Some(outcome) = asks.next().await {
        match outcome {
            Ok(reply) => return Ok(reply),
            Err(error) => last = Some(error),
        }
    }
    Err(explain(within, last))
}

/// Asks one routee, then the next after each `interval`, until a reply or `within`.
async fn tail_chop(
    routees: &[Pid],
    question: Payload,
    sender: Option<Pid>,
    within: Duration,
    interval: Duration,
) -> Result<Payload, String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut next = 0;
    let mut asks = FuturesUnordered::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let expiry = tokio::time::sleep_until(deadline);
    tokio::pin!(expiry);
    let mut last = None;
    // Ends at the deadline at the latest.
    loop {
        tokio::select! {
            biased;
            Some(outcome) = asks.next(), if !asks.is_empty() => match outcome {
                Ok(reply) => return Ok(reply),
                Err(error) => {
                    last = Some(error);
                    if asks.is_empty() && next == routees.len() {
                        return Err(explain(within, last));
                    }
                }
            },
            () = &mut expiry => return Err(explain(within, last)),
            _ = tick.tick(), if next < routees.len() => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if !left.is_zero() {
                    let ask = Ask::new(&routees[next], question.duplicate(), sender.clone(), keep_reply)
                        .timeout(left);
                    asks.push(ask.into_future());
                }
                next += 1;
            }
        }
    }
}

/// Where the outcome of a reply-collecting exchange goes: to the asker, else to the sender.
struct ReplyTarget {
    asker: Option<Responder>,
    sender: Option<Pid>,
    router: Pid,
}

impl ReplyTarget {
    /// Answers as a handler would: the reply, or the failure as `HandlerFailed` to an asker
    /// and as a `StatusFailure` to a sender; with neither, a dead letter.
    fn deliver(self, outcome: Result<Payload, String>) {
        match (self.asker, outcome) {
            (Some(asker), Ok(reply)) => asker.respond_payload(reply),
            (Some(asker), Err(error)) => asker.fail(error),
            (None, outcome) => {
                let message = outcome.unwrap_or_else(|error| Payload::new(StatusFailure { error }));
                crate::letter::answer(&self.router, None, self.sender.as_ref(), message);
            }
        }
    }
}

impl Actor for RouterActor {
    async fn pre_start(&mut self, ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        // A `pre_start` retried after a failure keeps the routees it already made.
        let router = ctx.pid();
        self.routees = router.children();
        self.ring = None;
        let missing = self.spec.pool_size.saturating_sub(self.routees.len());
        self.grow(router, missing).await?;
        Ok(())
    }

    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            return Ok(());
        }
        if ctx.is::<Terminated>() {
            // From a routee (its children are all routees), maybe one already dealt with when
            // it was found stopped, or one of a previous incarnation: never routed on.
            let own = ctx.pid();
            if let Some(gone) = ctx.sender().filter(|sender| sender.parent() == Some(own)) {
                let gone = gone.clone();
                self.lost(ctx.pid(), &gone).await;
                return Ok(());
            }
        }
        if ctx.is::<GetRoutees>() {
            ctx.respond(self.names());
            return Ok(());
        }
        if let Some(adjust) = ctx.take_message::<AdjustRouterPoolSize>() {
            let router = ctx.pid().clone();
            let delta = adjust.pool_size;
            let grown = match usize::try_from(delta) {
                Ok(more) => self.grow(&router, more).await,
                Err(_) => {
                    self.shrink(&router, delta.unsigned_abs() as usize);
                    Ok(())
                }
            };
            match (grown, ctx.is_ask()) {
                (Ok(()), true) => ctx.respond(self.names()),
                (Err(error), true) => {
                    if let Some(asker) = ctx.defer_reply() {
                        asker.fail(error);
                    }
                }
                (Err(error), false) => {
                    tracing::warn!(router = router.name(), %error, "could not grow the pool");
                }
                (Ok(()), false) => {}
            }
            return Ok(());
        }
        if let Some(broadcast) = ctx.take_message::<Broadcast>() {
            if let Some(message) = broadcast.message {
                self.broadcast(ctx, message).await;
            }
            return Ok(());
        }
        match &self.spec.routing {
            Routing::FanOut => self.fan_out(ctx).await,
            Routing::ScatterGatherFirst { within } => {
                let within = *within;
                self.gather(ctx, within, None).await;
            }
            Routing::TailChopping { within, interval } => {
                let (within, interval) = (*within, *interval);
                self.gather(ctx, within, Some(interval)).await;
            }
            Routing::Random | Routing::RoundRobin | Routing::ConsistentHash(_) => {
                match self.pick(ctx).await {
                    // An undeliverable message is already a dead letter.
                    Some(index) => {
                        let _ = ctx.forward(&self.routees[index]).await;
                    }
                    None => no_routee(ctx),
                }
            }
        }
        Ok(())
    }
}

impl RouterActor {
    fn names(&self) -> Routees {
        Routees {
            names: self
                .routees
                .iter()
                .map(|routee| routee.name().to_owned())
                .collect(),
        }
    }
}

/// Wraps a message that a router hands to every routee, whatever its [`Routing`] (GoAkt's
/// `Broadcast`). A broadcast is a tell: an ask of one gets no reply.
///
/// Locally the message is moved, not encoded. On the wire a `Broadcast` is the protobuf
/// message `rakt.v1.Broadcast { google.protobuf.Any message = 1; }`; one decoded from bytes
/// holds the [`prost_types::Any`] itself, since only a registry of message types could
/// decode what it packs.
///
/// ```
/// use rakt_actor::Broadcast;
/// use rakt_proto::v1::StatusFailure as Reload;
///
/// let broadcast = Broadcast::new(Reload { error: "config".into() });
/// let inner = broadcast.message().expect("a message");
/// assert_eq!(inner.downcast_ref::<Reload>().map(|r| r.error.as_str()), Some("config"));
///
/// let bytes = prost::Message::encode_to_vec(&broadcast);
/// let decoded: Broadcast = prost::Message::decode(bytes.as_slice())?;
/// let packed = decoded.message().and_then(|m| m.downcast_ref::<prost_types::Any>());
/// assert_eq!(packed.map(|any| any.type_url.as_str()), Some("type.googleapis.com/rakt.v1.StatusFailure"));
/// # Ok::<(), prost::DecodeError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Broadcast {
    message: Option<Box<dyn AnyMessage>>,
}

impl Broadcast {
    /// Wraps `message`.
    pub fn new(message: impl crate::Message) -> Self {
        Self {
            message: Some(Box::new(message)),
        }
    }

    /// The wrapped message; `None` for an empty broadcast, which a router ignores.
    pub fn message(&self) -> Option<&dyn AnyMessage> {
        self.message.as_deref()
    }

    /// Takes the wrapped message out.
    pub fn into_message(self) -> Option<Box<dyn AnyMessage>> {
        self.message
    }

    /// The wrapped message as a `google.protobuf.Any`.
    fn packed(&self) -> Option<prost_types::Any> {
        let message = self.message.as_deref()?;
        if let Some(any) = message.downcast_ref::<prost_types::Any>() {
            return Some(any.clone());
        }
        Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{}", message.full_name()),
            value: message.encode_to_vec(),
        })
    }
}

impl prost::Message for Broadcast {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        if let Some(any) = self.packed() {
            prost::encoding::message::encode(1, &any, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        if tag != 1 {
            return prost::encoding::skip_field(wire_type, tag, buf, ctx);
        }
        let mut any = self
            .message
            .take()
            .and_then(|message| message.downcast::<prost_types::Any>().ok())
            .unwrap_or_default();
        prost::encoding::message::merge(wire_type, &mut any, buf, ctx)?;
        self.message = Some(Box::new(any));
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.packed()
            .map_or(0, |any| prost::encoding::message::encoded_len(1, &any))
    }

    fn clear(&mut self) {
        self.message = None;
    }
}

impl prost::Name for Broadcast {
    const NAME: &'static str = "Broadcast";
    const PACKAGE: &'static str = "rakt.v1";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_settings_are_typed_errors() {
        let worker = || crate::FnActor::new(|_ctx| Ok(()));
        let cases = [
            Router::pool(0, worker),
            Router::pool(1, worker).routing(Routing::ScatterGatherFirst {
                within: Duration::ZERO,
            }),
            Router::pool(1, worker).routing(Routing::TailChopping {
                within: Duration::from_secs(1),
                interval: Duration::ZERO,
            }),
            Router::pool(1, worker).routing(Routing::ConsistentHash(
                ConsistentHash::new(|_| Some(1)).virtual_nodes(0),
            )),
        ];
        for router in cases {
            assert!(matches!(
                router.into_spec(),
                Err(SpawnError::InvalidRouter { .. })
            ));
        }
    }

    #[test]
    fn an_empty_broadcast_encodes_to_nothing_and_a_packed_one_is_not_packed_twice() {
        assert!(prost::Message::encode_to_vec(&Broadcast::default()).is_empty());
        let once =
            prost::Message::encode_to_vec(&Broadcast::new(StatusFailure { error: "x".into() }));
        let decoded = <Broadcast as prost::Message>::decode(once.as_slice()).expect("decodes");
        assert_eq!(prost::Message::encode_to_vec(&decoded), once);
        assert_eq!(prost::Message::encoded_len(&decoded), once.len());
    }
}

//! Time taken by two workloads on Rakt and on its peers actix, ractor and kameo, in one run on
//! one machine, each beside the bare tokio baseline of the `runtime` bench.
//!
//! Every workload is a criterion group with five functions: `rakt`, `actix`, `ractor`, `kameo`
//! and `baseline`. Each framework is used as its documentation shows, with its idiomatic calls
//! and hand-written trait impls in place of its derive macros, which are not built here. The
//! message is the same 8-byte `Ping` (one `u64`) for all of them, and so is the actor's work.
//! A measurement times the workload only: spawning the actor and stopping it afterwards are
//! left out, as in the `runtime` bench.
//!
//! - `peers_tell_1m`: one producer task tells 1,000,000 messages to one actor that counts them,
//!   until the actor has handled them all; the actor itself signals when its count is reached.
//!   The sends are Rakt's `tell`, actix's `do_send`, ractor's `cast` and kameo's `tell`.
//! - `peers_ask_100k`: one task asks one actor 100,000 times, one ask after the other. The
//!   requests are Rakt's `ask`, actix's `send`, ractor's `call` and kameo's `ask`.
//!
//! Rakt, ractor, kameo and the baseline run on one multi-thread tokio runtime with two workers
//! per group, the runtime all three frameworks are built for. No producer ever waits for room:
//! Rakt's default mailbox and ractor's only one are unbounded, kameo is given an unbounded one
//! with `mailbox::unbounded()` instead of its default bounded one, and actix's `do_send` queues
//! past its mailbox's capacity. actix runs as its users run it: on its own `actix_rt::System`,
//! a single-threaded tokio runtime where the producer and the actor share one thread.
//!
//! `cargo xtask bench` runs this after the `runtime` bench and renders a second table in
//! `docs/benchmarks.md`; `cargo bench -p rakt-benches --bench peers` runs it alone.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

const TELLS: u64 = 1_000_000;
const ASKS: u64 = 100_000;

/// The longest any single wait may take before the bench gives up, so that a framework that
/// loses a message fails the run instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(120);

/// The message of every workload and every framework: 8 bytes, so that it is not a zero-sized
/// value that costs nothing to box. Rakt needs a protobuf message; the peers take any type.
#[derive(Clone, PartialEq, prost::Message)]
struct Ping {
    #[prost(uint64, tag = "1")]
    n: u64,
}

impl prost::Name for Ping {
    const NAME: &'static str = "Ping";
    const PACKAGE: &'static str = "bench.v1";
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a two-worker tokio runtime can be built")
}

/// Awaits `future`, panicking with `what` if it takes longer than [`PATIENCE`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not happen within {PATIENCE:?}"),
    }
}

/// Runs `iters` measurements on `rt` and adds up the time each reports for its timed part.
fn measure<F, Fut>(rt: &Runtime, iters: u64, mut run: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Duration>,
{
    (0..iters).map(|_| rt.block_on(run())).sum()
}

/// Runs `iters` measurements, each in a fresh `actix_rt::System`, and adds up the time each
/// reports for its timed part.
///
/// A fresh system per measurement matches the fresh `ActorSystem` of the Rakt side, and
/// dropping it cleans up whatever the measurement left on its thread.
fn measure_actix<F, Fut>(iters: u64, mut run: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Duration>,
{
    (0..iters)
        .map(|_| actix_rt::System::new().block_on(run()))
        .sum()
}

/// Counts handled messages and reports once `expected` were handled: the state of the actor
/// in `peers_tell_1m`, whichever framework runs it.
struct Countdown {
    seen: u64,
    expected: u64,
    done: Option<oneshot::Sender<()>>,
}

impl Countdown {
    fn new(expected: u64) -> (Self, oneshot::Receiver<()>) {
        let (done, finished) = oneshot::channel();
        (
            Self {
                seen: 0,
                expected,
                done: Some(done),
            },
            finished,
        )
    }

    fn count(&mut self, ping: &Ping) {
        black_box(ping.n);
        self.seen += 1;
        if self.seen == self.expected
            && let Some(done) = self.done.take()
        {
            // The bench only drops the receiver after it has heard from us.
            let _ = done.send(());
        }
    }
}

/// The reply of every echo: the next number.
fn answer(ping: &Ping) -> u64 {
    ping.n + 1
}

mod on_rakt {
    use super::*;
    use rakt_actor::{Actor, ActorError, ActorSystem, Context, Pid};

    struct Counter(Countdown);

    impl Actor for Counter {
        async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
            if let Some(ping) = ctx.message::<Ping>() {
                self.0.count(ping);
            }
            Ok(())
        }
    }

    struct Echo;

    impl Actor for Echo {
        async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
            if let Some(ping) = ctx.take_message::<Ping>() {
                ctx.respond(Ping { n: answer(&ping) });
            }
            Ok(())
        }
    }

    fn actor_system() -> ActorSystem {
        ActorSystem::builder("bench")
            .build()
            .expect("the bench actor system can be built")
    }

    /// Waits until the actor has handled its `PostStart`, so that the measurement does not
    /// time the tail of its start.
    async fn started(pid: &Pid) {
        within("the actor handling PostStart", async {
            while pid.metrics().processed == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    }

    async fn stop(system: ActorSystem) {
        within("the actor system stopping", system.stop())
            .await
            .expect("the bench actor stops within the shutdown timeout");
    }

    pub(super) async fn tell() -> Duration {
        let system = actor_system();
        let (countdown, finished) = Countdown::new(TELLS);
        let pid = system
            .spawn("countdown", Counter(countdown))
            .await
            .expect("spawning the countdown");
        started(&pid).await;

        let start = Instant::now();
        let producer = tokio::spawn(async move {
            for n in 0..TELLS {
                pid.tell(Ping { n })
                    .await
                    .expect("the countdown is running");
            }
        });
        within("the countdown reaching zero", finished)
            .await
            .expect("the countdown reports before it stops");
        producer.await.expect("the producer does not panic");
        let elapsed = start.elapsed();

        stop(system).await;
        elapsed
    }

    /// Every Rakt ask carries a timeout, the system's `ask_timeout`, so each one also pays for
    /// a deadline; the peers' plain requests below have none.
    pub(super) async fn ask() -> Duration {
        let system = actor_system();
        let pid = system.spawn("echo", Echo).await.expect("spawning the echo");
        started(&pid).await;

        let start = Instant::now();
        let asker = tokio::spawn(async move {
            for n in 0..ASKS {
                let reply: Ping = pid.ask(Ping { n }).await.expect("the echo answers");
                black_box(reply);
            }
        });
        within("the asks being answered", asker)
            .await
            .expect("the asker does not panic");
        let elapsed = start.elapsed();

        stop(system).await;
        elapsed
    }
}

/// Plain tokio tasks, each reading its own unbounded `mpsc` channel, with `oneshot` for
/// replies: the same baseline as in the `runtime` bench.
mod on_tokio {
    use super::*;
    use tokio::sync::mpsc;

    pub(super) async fn tell() -> Duration {
        let (tx, mut rx) = mpsc::unbounded_channel::<Ping>();
        let (mut countdown, finished) = Countdown::new(TELLS);
        let reader = tokio::spawn(async move {
            while let Some(ping) = rx.recv().await {
                countdown.count(&ping);
            }
        });

        let start = Instant::now();
        let producer = tokio::spawn(async move {
            for n in 0..TELLS {
                tx.send(Ping { n }).expect("the reader is running");
            }
        });
        within("the countdown reaching zero", finished)
            .await
            .expect("the countdown reports before it stops");
        producer.await.expect("the producer does not panic");
        let elapsed = start.elapsed();

        within("the reader ending", reader)
            .await
            .expect("the reader does not panic");
        elapsed
    }

    pub(super) async fn ask() -> Duration {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Ping, oneshot::Sender<Ping>)>();
        let echo = tokio::spawn(async move {
            while let Some((ping, reply)) = rx.recv().await {
                // An asker that gave up needs no answer.
                let _ = reply.send(Ping { n: answer(&ping) });
            }
        });

        let start = Instant::now();
        let asker = tokio::spawn(async move {
            for n in 0..ASKS {
                let (reply_tx, reply_rx) = oneshot::channel();
                tx.send((Ping { n }, reply_tx))
                    .expect("the echo is running");
                let reply = reply_rx.await.expect("the echo answers");
                black_box(reply);
            }
        });
        within("the asks being answered", asker)
            .await
            .expect("the asker does not panic");
        let elapsed = start.elapsed();

        within("the echo ending", echo)
            .await
            .expect("the echo does not panic");
        elapsed
    }
}

/// actix 0.13 on `actix_rt`. Both functions run inside an `actix_rt::System`
/// (see [`measure_actix`]): `Actor::start` spawns the actor on the system's thread.
mod on_actix {
    use super::*;
    use actix::{Actor, Context, Handler, Message};

    impl Message for Ping {
        type Result = ();
    }

    /// A request for the next number. actix ties the reply type to the message type, so the
    /// ask carries the same 8 bytes in a type of its own.
    struct Ask(Ping);

    impl Message for Ask {
        type Result = u64;
    }

    /// Reports once actix has started the actor on its thread, so that the measurement does
    /// not time the tail of its start.
    struct Ready(Option<oneshot::Sender<()>>);

    impl Ready {
        fn new() -> (Self, oneshot::Receiver<()>) {
            let (ready, started) = oneshot::channel();
            (Self(Some(ready)), started)
        }

        fn report(&mut self) {
            if let Some(ready) = self.0.take() {
                // The bench only drops the receiver after it has heard from us.
                let _ = ready.send(());
            }
        }
    }

    async fn started(started: oneshot::Receiver<()>) {
        within("the actor starting", started)
            .await
            .expect("the actor reports its start");
    }

    struct Counter {
        countdown: Countdown,
        ready: Ready,
    }

    impl Actor for Counter {
        type Context = Context<Self>;

        fn started(&mut self, _ctx: &mut Context<Self>) {
            self.ready.report();
        }
    }

    impl Handler<Ping> for Counter {
        type Result = ();

        fn handle(&mut self, ping: Ping, _ctx: &mut Context<Self>) {
            self.countdown.count(&ping);
        }
    }

    struct Echo {
        ready: Ready,
    }

    impl Actor for Echo {
        type Context = Context<Self>;

        fn started(&mut self, _ctx: &mut Context<Self>) {
            self.ready.report();
        }
    }

    impl Handler<Ask> for Echo {
        type Result = u64;

        fn handle(&mut self, Ask(ping): Ask, _ctx: &mut Context<Self>) -> u64 {
            answer(&ping)
        }
    }

    pub(super) async fn tell() -> Duration {
        let (countdown, finished) = Countdown::new(TELLS);
        let (ready, start_signal) = Ready::new();
        let addr = Counter { countdown, ready }.start();
        started(start_signal).await;

        let start = Instant::now();
        // `do_send` queues the message whether or not the mailbox is full, like the other
        // frameworks' tells into their unbounded mailboxes; `try_send` would fail once 16
        // messages wait. The actor stops when this, its only address, is dropped, and whatever
        // is left of it goes with its `System`.
        let producer = actix_rt::spawn(async move {
            for n in 0..TELLS {
                addr.do_send(Ping { n });
            }
        });
        within("the countdown reaching zero", finished)
            .await
            .expect("the countdown reports before it stops");
        producer.await.expect("the producer does not panic");
        start.elapsed()
    }

    pub(super) async fn ask() -> Duration {
        let (ready, start_signal) = Ready::new();
        let addr = Echo { ready }.start();
        started(start_signal).await;

        let start = Instant::now();
        let asker = actix_rt::spawn(async move {
            for n in 0..ASKS {
                let reply = addr.send(Ask(Ping { n })).await.expect("the echo answers");
                black_box(reply);
            }
        });
        within("the asks being answered", asker)
            .await
            .expect("the asker does not panic");
        start.elapsed()
    }
}

/// ractor 0.16, on the shared tokio runtime.
mod on_ractor {
    use super::*;
    use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

    struct Counter;

    impl Actor for Counter {
        type Msg = Ping;
        type State = Countdown;
        type Arguments = Countdown;

        async fn pre_start(
            &self,
            _myself: ActorRef<Ping>,
            countdown: Countdown,
        ) -> Result<Countdown, ActorProcessingErr> {
            Ok(countdown)
        }

        async fn handle(
            &self,
            _myself: ActorRef<Ping>,
            ping: Ping,
            countdown: &mut Countdown,
        ) -> Result<(), ActorProcessingErr> {
            countdown.count(&ping);
            Ok(())
        }
    }

    /// ractor passes the reply port inside the message, so a request is its own type.
    enum EchoMessage {
        Ask(Ping, RpcReplyPort<u64>),
    }

    struct Echo;

    impl Actor for Echo {
        type Msg = EchoMessage;
        type State = ();
        type Arguments = ();

        async fn pre_start(
            &self,
            _myself: ActorRef<EchoMessage>,
            _: (),
        ) -> Result<(), ActorProcessingErr> {
            Ok(())
        }

        async fn handle(
            &self,
            _myself: ActorRef<EchoMessage>,
            EchoMessage::Ask(ping, reply): EchoMessage,
            _state: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            // An asker that gave up needs no answer.
            let _ = reply.send(answer(&ping));
            Ok(())
        }
    }

    /// Stops the actor and waits for its task to end.
    async fn stop<M: ractor::Message>(actor: ActorRef<M>, task: tokio::task::JoinHandle<()>) {
        actor.stop(None);
        within("the actor stopping", task)
            .await
            .expect("the actor task does not panic");
    }

    /// `Actor::spawn` returns once `pre_start` has run, so the actor is started.
    pub(super) async fn tell() -> Duration {
        let (countdown, finished) = Countdown::new(TELLS);
        let (actor, task) = Actor::spawn(None, Counter, countdown)
            .await
            .expect("spawning the countdown");

        let start = Instant::now();
        let sender = actor.clone();
        let producer = tokio::spawn(async move {
            for n in 0..TELLS {
                sender.cast(Ping { n }).expect("the countdown is running");
            }
        });
        within("the countdown reaching zero", finished)
            .await
            .expect("the countdown reports before it stops");
        producer.await.expect("the producer does not panic");
        let elapsed = start.elapsed();

        stop(actor, task).await;
        elapsed
    }

    /// `call` with no timeout, as `call!` makes it.
    pub(super) async fn ask() -> Duration {
        let (actor, task) = Actor::spawn(None, Echo, ())
            .await
            .expect("spawning the echo");

        let start = Instant::now();
        let asker_ref = actor.clone();
        let asker = tokio::spawn(async move {
            for n in 0..ASKS {
                let reply: u64 = ractor::call!(asker_ref, EchoMessage::Ask, Ping { n })
                    .expect("the echo answers");
                black_box(reply);
            }
        });
        within("the asks being answered", asker)
            .await
            .expect("the asker does not panic");
        let elapsed = start.elapsed();

        stop(actor, task).await;
        elapsed
    }
}

/// kameo 0.22, on the shared tokio runtime.
mod on_kameo {
    use super::*;
    use kameo::actor::{ActorRef, Spawn};
    use kameo::mailbox;
    use kameo::message::{Context, Message};
    use std::convert::Infallible;

    struct Counter(Countdown);

    impl kameo::Actor for Counter {
        type Args = Self;
        type Error = Infallible;

        async fn on_start(counter: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
            Ok(counter)
        }
    }

    impl Message<Ping> for Counter {
        type Reply = ();

        async fn handle(&mut self, ping: Ping, _ctx: &mut Context<Self, ()>) {
            self.0.count(&ping);
        }
    }

    struct Echo;

    impl kameo::Actor for Echo {
        type Args = Self;
        type Error = Infallible;

        async fn on_start(echo: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
            Ok(echo)
        }
    }

    impl Message<Ping> for Echo {
        type Reply = u64;

        async fn handle(&mut self, ping: Ping, _ctx: &mut Context<Self, u64>) -> u64 {
            answer(&ping)
        }
    }

    async fn spawn<A: kameo::Actor<Args = A>>(actor: A) -> ActorRef<A> {
        let actor_ref = A::spawn_with_mailbox(actor, mailbox::unbounded());
        within("the actor starting", actor_ref.wait_for_startup()).await;
        actor_ref
    }

    async fn stop<A: kameo::Actor>(actor_ref: ActorRef<A>) {
        within("the actor stopping", async {
            actor_ref
                .stop_gracefully()
                .await
                .expect("the actor is running");
            actor_ref.wait_for_shutdown().await;
        })
        .await;
    }

    pub(super) async fn tell() -> Duration {
        let (countdown, finished) = Countdown::new(TELLS);
        let actor_ref = spawn(Counter(countdown)).await;

        let start = Instant::now();
        let sender = actor_ref.clone();
        let producer = tokio::spawn(async move {
            for n in 0..TELLS {
                sender
                    .tell(Ping { n })
                    .await
                    .expect("the countdown is running");
            }
        });
        within("the countdown reaching zero", finished)
            .await
            .expect("the countdown reports before it stops");
        producer.await.expect("the producer does not panic");
        let elapsed = start.elapsed();

        stop(actor_ref).await;
        elapsed
    }

    /// `ask` with no reply timeout, as kameo makes it by default.
    pub(super) async fn ask() -> Duration {
        let actor_ref = spawn(Echo).await;

        let start = Instant::now();
        let asker_ref = actor_ref.clone();
        let asker = tokio::spawn(async move {
            for n in 0..ASKS {
                let reply = asker_ref.ask(Ping { n }).await.expect("the echo answers");
                black_box(reply);
            }
        });
        within("the asks being answered", asker)
            .await
            .expect("the asker does not panic");
        let elapsed = start.elapsed();

        stop(actor_ref).await;
        elapsed
    }
}

fn peers_tell_1m(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("peers_tell_1m");
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(TELLS));
    group.bench_function("rakt", |b| {
        b.iter_custom(|iters| measure(&rt, iters, on_rakt::tell));
    });
    group.bench_function("actix", |b| {
        b.iter_custom(|iters| measure_actix(iters, on_actix::tell));
    });
    group.bench_function("ractor", |b| {
        b.iter_custom(|iters| measure(&rt, iters, on_ractor::tell));
    });
    group.bench_function("kameo", |b| {
        b.iter_custom(|iters| measure(&rt, iters, on_kameo::tell));
    });
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| measure(&rt, iters, on_tokio::tell));
    });
    group.finish();
}

fn peers_ask_100k(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("peers_ask_100k");
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(ASKS));
    group.bench_function("rakt", |b| {
        b.iter_custom(|iters| measure(&rt, iters, on_rakt::ask));
    });
    group.bench_function("actix", |b| {
        b.iter_custom(|iters| measure_actix(iters, on_actix::ask));
    });
    group.bench_function("ractor", |b| {
        b.iter_custom(|iters| measure(&rt, iters, on_ractor::ask));
    });
    group.bench_function("kameo", |b| {
        b.iter_custom(|iters| measure(&rt, iters, on_kameo::ask));
    });
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| measure(&rt, iters, on_tokio::ask));
    });
    group.finish();
}

/// Ten samples of a few seconds each, as in the `runtime` bench, keep the run to a few minutes
/// on two cores.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = peers_tell_1m, peers_ask_100k
}
criterion_main!(benches);

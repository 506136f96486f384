//! Time taken by whole workloads on the Rakt runtime, each beside a bare tokio baseline.
//!
//! Every workload is a criterion group with two functions measured in the same run: `rakt`
//! does the work with actors, and `baseline` does the same work with plain tokio tasks, each
//! reading its own unbounded `tokio::sync::mpsc` channel, with `tokio::sync::oneshot` for
//! replies. Both run on one multi-thread tokio runtime with two workers per group. A
//! measurement times the workload only: spawning the actors or tasks and stopping them
//! afterwards are left out, except in `spawn_stop_100k`, where they are the workload.
//!
//! - `tell_1m`: one producer task tells 1,000,000 messages to one actor, until the actor has
//!   handled them all.
//! - `ask_100k`: one task asks one actor 100,000 times, one ask after the other.
//! - `fanout_1000x1000`: one producer task tells 1,000,000 messages round robin to 1,000
//!   actors, until all were handled.
//! - `spawn_stop_100k`: spawns 100,000 actors, then stops them all.
//! - `ping_pong_100k`: two actors tell one message back and forth, 100,000 round trips.
//!
//! `cargo xtask bench` runs this and the `idle_actor` bench and updates `docs/benchmarks.md`
//! from the medians; `cargo bench -p rakt-benches --bench runtime` runs this one alone, and
//! `cargo bench -p rakt-benches --bench runtime -- --test` runs each workload once.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;
use rakt_actor::{Actor, ActorError, ActorSystem, Context, Pid};
use tokio::runtime::Runtime;
use tokio::sync::{Notify, mpsc, oneshot};

const TELLS: u64 = 1_000_000;
const ASKS: u64 = 100_000;
const FANOUT_ACTORS: usize = 1_000;
const FANOUT_TELLS: u64 = 1_000_000;
const SPAWNS: usize = 100_000;
const ROUND_TRIPS: u64 = 100_000;

/// The longest any single wait may take before the bench gives up, so that a runtime that
/// loses a message fails the run instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(120);

/// The message of every workload. It carries a number so that it is not a zero-sized value,
/// which would cost nothing to box and flatter the runtime.
#[derive(Clone, PartialEq, prost::Message)]
struct Ping {
    #[prost(uint64, tag = "1")]
    n: u64,
}

impl prost::Name for Ping {
    const NAME: &'static str = "Ping";
    const PACKAGE: &'static str = "bench.v1";
}

/// Starts a ping-pong match of `rounds` round trips.
#[derive(Clone, PartialEq, prost::Message)]
struct Serve {
    #[prost(uint64, tag = "1")]
    rounds: u64,
}

impl prost::Name for Serve {
    const NAME: &'static str = "Serve";
    const PACKAGE: &'static str = "bench.v1";
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a two-worker tokio runtime can be built")
}

/// A fresh actor system; must be called inside the runtime.
fn actor_system() -> ActorSystem {
    ActorSystem::builder("bench")
        .build()
        .expect("the bench actor system can be built")
}

async fn stop(system: ActorSystem) {
    system
        .stop()
        .await
        .expect("every bench actor stops within the shutdown timeout");
}

/// Awaits `future`, panicking with `what` if it takes longer than [`PATIENCE`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not happen within {PATIENCE:?}"),
    }
}

/// Waits until every actor has handled its `PostStart`, so that a measurement starts with
/// idle actors and does not time the tail of their start.
async fn started(pids: &[Pid]) {
    within("every actor handling PostStart", async {
        for pid in pids {
            while pid.metrics().processed == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    })
    .await;
}

/// Runs `iters` measurements and adds up the time each reports for its timed part.
fn measure<F, Fut>(rt: &Runtime, iters: u64, mut run: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Duration>,
{
    (0..iters).map(|_| rt.block_on(run())).sum()
}

/// Counts handled messages and reports once `expected` were handled.
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

impl Actor for Countdown {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(ping) = ctx.message::<Ping>() {
            self.count(ping);
        }
        Ok(())
    }
}

/// Messages handled by many receivers together, with a signal once `expected` were handled.
#[derive(Debug)]
struct Tally {
    seen: AtomicU64,
    expected: u64,
    done: Notify,
}

impl Tally {
    fn new(expected: u64) -> Arc<Self> {
        Arc::new(Self {
            seen: AtomicU64::new(0),
            expected,
            done: Notify::new(),
        })
    }

    fn count(&self, ping: &Ping) {
        black_box(ping.n);
        if self.seen.fetch_add(1, Ordering::Relaxed) + 1 == self.expected {
            // `notify_one` keeps a permit when nobody waits yet, so the signal is not lost.
            self.done.notify_one();
        }
    }
}

struct Member {
    tally: Arc<Tally>,
}

impl Actor for Member {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(ping) = ctx.message::<Ping>() {
            self.tally.count(ping);
        }
        Ok(())
    }
}

/// Answers a `Ping` with the next number.
struct Echo;

impl Actor for Echo {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(ping) = ctx.take_message::<Ping>() {
            ctx.respond(Ping { n: ping.n + 1 });
        }
        Ok(())
    }
}

/// An actor that does nothing.
struct Idle;

impl Actor for Idle {
    async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        Ok(())
    }
}

/// Serves a ping-pong match against `peer` and reports once the last round trip is done.
struct Server {
    peer: Pid,
    rounds: u64,
    done: Option<oneshot::Sender<()>>,
}

impl Actor for Server {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(serve) = ctx.message::<Serve>() {
            self.rounds = serve.rounds;
            ctx.try_tell(&self.peer, Ping { n: 0 })?;
        } else if let Some(ping) = ctx.message::<Ping>() {
            let n = ping.n + 1;
            if n < self.rounds {
                ctx.try_tell(&self.peer, Ping { n })?;
            } else if let Some(done) = self.done.take() {
                // The bench only drops the receiver after it has heard from us.
                let _ = done.send(());
            }
        }
        Ok(())
    }
}

/// Tells every `Ping` back to whoever sent it.
struct Returner;

impl Actor for Returner {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(ping) = ctx.take_message::<Ping>()
            && let Some(sender) = ctx.sender()
        {
            ctx.try_tell(sender, ping)?;
        }
        Ok(())
    }
}

/// A task that reads `rx` until every sender is gone, handing each message to `handle`.
fn consumer<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
    mut handle: impl FnMut(T) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            handle(message);
        }
    })
}

async fn tell_rakt() -> Duration {
    let system = actor_system();
    let (countdown, finished) = Countdown::new(TELLS);
    let pid = system
        .spawn("countdown", countdown)
        .await
        .expect("spawning the countdown");
    started(std::slice::from_ref(&pid)).await;

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

async fn tell_baseline() -> Duration {
    let (tx, rx) = mpsc::unbounded_channel::<Ping>();
    let (mut countdown, finished) = Countdown::new(TELLS);
    let reader = consumer(rx, move |ping| countdown.count(&ping));

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

    reader.await.expect("the reader does not panic");
    elapsed
}

async fn ask_rakt() -> Duration {
    let system = actor_system();
    let pid = system.spawn("echo", Echo).await.expect("spawning the echo");
    started(std::slice::from_ref(&pid)).await;

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

async fn ask_baseline() -> Duration {
    let (tx, rx) = mpsc::unbounded_channel::<(Ping, oneshot::Sender<Ping>)>();
    let echo = consumer(rx, |(ping, reply): (Ping, oneshot::Sender<Ping>)| {
        // An asker that gave up needs no answer.
        let _ = reply.send(Ping { n: ping.n + 1 });
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

    echo.await.expect("the echo does not panic");
    elapsed
}

async fn fanout_rakt() -> Duration {
    let system = actor_system();
    let tally = Tally::new(FANOUT_TELLS);
    let mut pids = Vec::with_capacity(FANOUT_ACTORS);
    for i in 0..FANOUT_ACTORS {
        let member = Member {
            tally: tally.clone(),
        };
        pids.push(
            system
                .spawn(&format!("member-{i}"), member)
                .await
                .expect("spawning a member"),
        );
    }
    started(&pids).await;

    let start = Instant::now();
    let producer = tokio::spawn(async move {
        for (pid, n) in pids.iter().cycle().zip(0..FANOUT_TELLS) {
            pid.tell(Ping { n }).await.expect("every member is running");
        }
    });
    within("every tell being handled", tally.done.notified()).await;
    producer.await.expect("the producer does not panic");
    let elapsed = start.elapsed();

    stop(system).await;
    elapsed
}

async fn fanout_baseline() -> Duration {
    let tally = Tally::new(FANOUT_TELLS);
    let mut senders = Vec::with_capacity(FANOUT_ACTORS);
    let mut readers = Vec::with_capacity(FANOUT_ACTORS);
    for _ in 0..FANOUT_ACTORS {
        let (tx, rx) = mpsc::unbounded_channel::<Ping>();
        let tally = tally.clone();
        readers.push(consumer(rx, move |ping| tally.count(&ping)));
        senders.push(tx);
    }

    let start = Instant::now();
    let producer = tokio::spawn(async move {
        for (tx, n) in senders.iter().cycle().zip(0..FANOUT_TELLS) {
            tx.send(Ping { n }).expect("every reader is running");
        }
    });
    within("every tell being handled", tally.done.notified()).await;
    producer.await.expect("the producer does not panic");
    let elapsed = start.elapsed();

    for reader in readers {
        reader.await.expect("a reader does not panic");
    }
    elapsed
}

/// Spawns an actor under each name, then stops them all at once, as a user stopping many
/// actors would: every stop is signalled before any is awaited, like the baseline dropping all
/// its senders before it joins its tasks.
async fn spawn_stop_rakt(names: Arc<[String]>) -> Duration {
    let system = actor_system();
    let spawner = system.clone();

    let start = Instant::now();
    let driver = tokio::spawn(async move {
        let mut pids = Vec::with_capacity(names.len());
        for name in names.iter() {
            pids.push(
                spawner
                    .spawn(name, Idle)
                    .await
                    .expect("spawning an idle actor"),
            );
        }
        for stopped in join_all(pids.iter().map(Pid::stop)).await {
            stopped.expect("an idle actor stops");
        }
    });
    within("spawning and stopping every actor", driver)
        .await
        .expect("the driver does not panic");
    let elapsed = start.elapsed();

    stop(system).await;
    elapsed
}

async fn spawn_stop_baseline() -> Duration {
    let start = Instant::now();
    let driver = tokio::spawn(async {
        let mut senders = Vec::with_capacity(SPAWNS);
        let mut readers = Vec::with_capacity(SPAWNS);
        for _ in 0..SPAWNS {
            let (tx, rx) = mpsc::unbounded_channel::<Ping>();
            readers.push(consumer(rx, |ping| {
                black_box(ping);
            }));
            senders.push(tx);
        }
        drop(senders);
        for reader in readers {
            reader.await.expect("a reader does not panic");
        }
    });
    within("spawning and stopping every task", driver)
        .await
        .expect("the driver does not panic");
    start.elapsed()
}

async fn ping_pong_rakt() -> Duration {
    let system = actor_system();
    let returner = system
        .spawn("returner", Returner)
        .await
        .expect("spawning the returner");
    let (done, finished) = oneshot::channel();
    let server = Server {
        peer: returner.clone(),
        rounds: 0,
        done: Some(done),
    };
    let server = system
        .spawn("server", server)
        .await
        .expect("spawning the server");
    started(&[returner, server.clone()]).await;

    let start = Instant::now();
    server
        .tell(Serve {
            rounds: ROUND_TRIPS,
        })
        .await
        .expect("the server is running");
    within("the last round trip", finished)
        .await
        .expect("the server reports before it stops");
    let elapsed = start.elapsed();

    stop(system).await;
    elapsed
}

async fn ping_pong_baseline() -> Duration {
    let (server_tx, mut server_rx) = mpsc::unbounded_channel::<Ping>();
    let (returner_tx, returner_rx) = mpsc::unbounded_channel::<Ping>();
    let (serve_tx, serve_rx) = oneshot::channel::<Serve>();
    let (done, finished) = oneshot::channel();
    let returner = consumer(returner_rx, move |ping| {
        // The server hangs up after the last round trip; what comes back then is not needed.
        let _ = server_tx.send(ping);
    });
    let server = tokio::spawn(async move {
        let serve = serve_rx.await.expect("the bench serves");
        returner_tx
            .send(Ping { n: 0 })
            .expect("the returner is running");
        while let Some(ping) = server_rx.recv().await {
            let n = ping.n + 1;
            if n == serve.rounds {
                break;
            }
            returner_tx
                .send(Ping { n })
                .expect("the returner is running");
        }
        // The bench only drops the receiver after it has heard from us.
        let _ = done.send(());
    });

    let start = Instant::now();
    serve_tx
        .send(Serve {
            rounds: ROUND_TRIPS,
        })
        .expect("the server is waiting");
    within("the last round trip", finished)
        .await
        .expect("the server reports before it stops");
    let elapsed = start.elapsed();

    server.await.expect("the server does not panic");
    returner.await.expect("the returner does not panic");
    elapsed
}

fn tell_1m(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("tell_1m");
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(TELLS));
    group.bench_function("rakt", |b| {
        b.iter_custom(|iters| measure(&rt, iters, tell_rakt))
    });
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| measure(&rt, iters, tell_baseline));
    });
    group.finish();
}

fn ask_100k(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("ask_100k");
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(ASKS));
    group.bench_function("rakt", |b| {
        b.iter_custom(|iters| measure(&rt, iters, ask_rakt))
    });
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| measure(&rt, iters, ask_baseline))
    });
    group.finish();
}

fn fanout_1000x1000(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("fanout_1000x1000");
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(FANOUT_TELLS));
    group.bench_function("rakt", |b| {
        b.iter_custom(|iters| measure(&rt, iters, fanout_rakt))
    });
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| measure(&rt, iters, fanout_baseline));
    });
    group.finish();
}

fn spawn_stop_100k(c: &mut Criterion) {
    let rt = runtime();
    // Names are made once: formatting them is the user's work, not the runtime's.
    let names: Arc<[String]> = (0..SPAWNS).map(|i| format!("idle-{i}")).collect();
    let mut group = c.benchmark_group("spawn_stop_100k");
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(SPAWNS as u64));
    group.bench_function("rakt", |b| {
        b.iter_custom(|iters| measure(&rt, iters, || spawn_stop_rakt(names.clone())));
    });
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| measure(&rt, iters, spawn_stop_baseline));
    });
    group.finish();
}

fn ping_pong_100k(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("ping_pong_100k");
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(ROUND_TRIPS));
    group.bench_function("rakt", |b| {
        b.iter_custom(|iters| measure(&rt, iters, ping_pong_rakt))
    });
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| measure(&rt, iters, ping_pong_baseline));
    });
    group.finish();
}

/// Ten samples of a few seconds each keep the whole run to a few minutes on two cores.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = tell_1m, ask_100k, fanout_1000x1000, spawn_stop_100k, ping_pong_100k
}
criterion_main!(benches);

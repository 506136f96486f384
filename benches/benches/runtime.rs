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
//! - `router_fanout_100k`: one producer task tells 100,000 messages to a fan-out router of 10
//!   routees, until the routees have handled all 1,000,000 copies; the baseline is a tokio
//!   task that clones each message from its channel into 10 worker tasks' channels.
//! - `spawn_stop_100k`: spawns 100,000 actors, then stops them all.
//! - `ping_pong_100k`: two actors tell one message back and forth, 100,000 round trips.
//! - `restart_10k`: one actor spawned from a factory fails on 9,999 queued messages in a row,
//!   and its supervisor restarts it on a fresh state each time; the baseline is a tokio task
//!   that spawns a fresh worker task on the same channel each time the previous one fails.
//! - `schedule_100k`: makes 100,000 one-off schedules due in an hour, then cancels them; the
//!   baseline spawns a tokio task per message that sleeps until it is due, then aborts them.
//! - `passivate_100k`: spawns 100,000 actors that passivate after 10 ms idle, and waits until
//!   all have passivated; the baseline spawns 100,000 tokio tasks, each waiting on its own
//!   channel with its own 10 ms idle timeout, and waits until all have ended.
//!
//! The tell and ask workloads live in `rakt_benches::workloads`, because the `peers` bench
//! measures them again beside actix, ractor and kameo; the others are here.
//!
//! `cargo xtask bench` runs this and the `idle_actor` bench and updates `docs/benchmarks.md`
//! from the medians; `cargo bench -p rakt-benches --bench runtime` runs this one alone, and
//! `cargo bench -p rakt-benches --bench runtime -- --test` runs each workload once.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::future::join_all;
use rakt_actor::{Actor, ActorError, Context, Passivation, Pid, Router, SpawnOptions};
use rakt_benches::messages::{Ping, Serve};
use rakt_benches::support::{self, actor_system, consumer, started, stop, within};
use rakt_benches::workloads::{ASKS, Idle, TELLS, baseline, rakt};
use tokio::sync::{Notify, mpsc, oneshot};

const FANOUT_ACTORS: usize = 1_000;
const FANOUT_TELLS: u64 = 1_000_000;
const ROUTEES: usize = 10;
const ROUTED_TELLS: u64 = 100_000;
const SPAWNS: usize = 100_000;
const ROUND_TRIPS: u64 = 100_000;
const RESTARTS: u64 = 10_000;
const SCHEDULES: usize = 100_000;
const PASSIVATING: usize = 100_000;
const PASSIVATE_AFTER: Duration = Duration::from_millis(10);

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

async fn router_fanout_rakt() -> Duration {
    let system = actor_system();
    let tally = Tally::new(ROUTED_TELLS * ROUTEES as u64);
    let member = {
        let tally = tally.clone();
        move || Member {
            tally: tally.clone(),
        }
    };
    let router = system
        .spawn_router("router", Router::pool(ROUTEES, member))
        .await
        .expect("spawning the router");
    started(std::slice::from_ref(&router)).await;

    let start = Instant::now();
    let producer = tokio::spawn(async move {
        for n in 0..ROUTED_TELLS {
            router
                .tell(Ping { n })
                .await
                .expect("the router is running");
        }
    });
    within("every copy being handled", tally.done.notified()).await;
    producer.await.expect("the producer does not panic");
    let elapsed = start.elapsed();

    stop(system).await;
    elapsed
}

async fn router_fanout_baseline() -> Duration {
    let tally = Tally::new(ROUTED_TELLS * ROUTEES as u64);
    let mut senders = Vec::with_capacity(ROUTEES);
    let mut readers = Vec::with_capacity(ROUTEES);
    for _ in 0..ROUTEES {
        let (tx, rx) = mpsc::unbounded_channel::<Ping>();
        let tally = tally.clone();
        readers.push(consumer(rx, move |ping| tally.count(&ping)));
        senders.push(tx);
    }
    let (to_router, from_producer) = mpsc::unbounded_channel::<Ping>();
    let router = consumer(from_producer, move |ping| {
        for tx in &senders {
            tx.send(ping.clone()).expect("every reader is running");
        }
    });

    let start = Instant::now();
    let producer = tokio::spawn(async move {
        for n in 0..ROUTED_TELLS {
            to_router.send(Ping { n }).expect("the router is running");
        }
    });
    within("every copy being handled", tally.done.notified()).await;
    producer.await.expect("the producer does not panic");
    let elapsed = start.elapsed();

    router.await.expect("the router does not panic");
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

/// The failure of every ping but the last one.
#[derive(Debug, thiserror::Error)]
#[error("fail again")]
struct Again;

/// Fails on every ping but the last one, which it reports: spawned from a factory, so each
/// failure restarts it on a fresh state.
struct Phoenix {
    last: Arc<Notify>,
}

impl Actor for Phoenix {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        match ctx.message::<Ping>() {
            Some(ping) if ping.n + 1 == RESTARTS => {
                self.last.notify_one();
                Ok(())
            }
            Some(_) => Err(Again.into()),
            None => Ok(()),
        }
    }
}

/// Restarts one actor `RESTARTS - 1` times, by the default supervisor, on failures queued all
/// at once.
async fn restart_rakt() -> Duration {
    let system = actor_system();
    let last = Arc::new(Notify::new());
    let seed = last.clone();
    let factory = move || Phoenix { last: seed.clone() };
    let phoenix = system
        .spawn_factory("phoenix", factory, SpawnOptions::new())
        .await
        .expect("spawning the phoenix");

    let start = Instant::now();
    for n in 0..RESTARTS {
        phoenix.tell(Ping { n }).await.expect("the phoenix lives");
    }
    within("restarting the phoenix", last.notified()).await;
    let elapsed = start.elapsed();

    stop(system).await;
    elapsed
}

/// One incarnation of the baseline's worker: hands its mailbox back when it fails, and
/// reports the last ping.
async fn phoenix_task(
    mut mailbox: mpsc::UnboundedReceiver<Ping>,
    last: Arc<Notify>,
) -> Option<mpsc::UnboundedReceiver<Ping>> {
    while let Some(ping) = mailbox.recv().await {
        if ping.n + 1 == RESTARTS {
            last.notify_one();
        } else {
            return Some(mailbox);
        }
    }
    None
}

/// The same restarts by hand on tokio: a supervising task spawns a fresh worker task on the
/// same channel whenever the previous one fails.
async fn restart_baseline() -> Duration {
    let (tx, rx) = mpsc::unbounded_channel::<Ping>();
    let last = Arc::new(Notify::new());
    let start = Instant::now();
    let seed = last.clone();
    let supervisor = tokio::spawn(async move {
        let mut mailbox = rx;
        loop {
            let worker = tokio::spawn(phoenix_task(mailbox, seed.clone()));
            match worker.await.expect("a worker does not panic") {
                Some(back) => mailbox = back,
                None => break,
            }
        }
    });
    for n in 0..RESTARTS {
        tx.send(Ping { n }).expect("the supervisor lives");
    }
    within("restarting the worker", last.notified()).await;
    let elapsed = start.elapsed();
    drop(tx);
    within("ending the supervisor", supervisor)
        .await
        .expect("the supervisor does not panic");
    elapsed
}

/// Makes 100,000 one-off schedules due in an hour, then cancels them all.
async fn schedule_rakt() -> Duration {
    let system = actor_system();
    let target = system
        .spawn("target", Idle)
        .await
        .expect("spawning the target");

    let start = Instant::now();
    let mut schedules = Vec::with_capacity(SCHEDULES);
    for n in 0..SCHEDULES as u64 {
        let schedule = system
            .schedule_once(&target, Ping { n }, Duration::from_secs(3_600))
            .expect("scheduling");
        schedules.push(schedule);
    }
    for schedule in &schedules {
        schedule.cancel().expect("cancelling");
    }
    let elapsed = start.elapsed();

    stop(system).await;
    elapsed
}

/// The same by hand on tokio: a task per pending message, sleeping until it is due, then
/// aborted.
async fn schedule_baseline() -> Duration {
    let (tx, mut rx) = mpsc::unbounded_channel::<Ping>();
    let start = Instant::now();
    let mut timers = Vec::with_capacity(SCHEDULES);
    for n in 0..SCHEDULES as u64 {
        let tx = tx.clone();
        timers.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            let _ = tx.send(Ping { n });
        }));
    }
    for timer in &timers {
        timer.abort();
    }
    let elapsed = start.elapsed();
    for timer in timers {
        let _ = timer.await;
    }
    drop(tx);
    black_box(rx.try_recv().is_err());
    elapsed
}

async fn passivate_rakt(names: Arc<[String]>) -> Duration {
    let system = actor_system();
    let spawner = system.clone();
    let options = SpawnOptions::new().passivation(Passivation::AfterIdle(PASSIVATE_AFTER));

    let start = Instant::now();
    let driver = tokio::spawn(async move {
        let mut pids = Vec::with_capacity(names.len());
        for name in names.iter() {
            let spawned = spawner.spawn_with(name, Idle, options.clone()).await;
            pids.push(spawned.expect("spawning a passivating actor"));
        }
        for stopped in join_all(pids.iter().map(Pid::wait_stopped)).await {
            stopped.expect("an actor passivates");
        }
    });
    within("every actor passivating", driver)
        .await
        .expect("the driver does not panic");
    let elapsed = start.elapsed();

    stop(system).await;
    elapsed
}

/// The same by hand on tokio: a task per actor, with a channel and an idle timeout of its own.
async fn passivate_baseline() -> Duration {
    let start = Instant::now();
    let driver = tokio::spawn(async {
        let mut senders = Vec::with_capacity(PASSIVATING);
        let mut tasks = Vec::with_capacity(PASSIVATING);
        for _ in 0..PASSIVATING {
            let (tx, mut rx) = mpsc::unbounded_channel::<Ping>();
            tasks.push(tokio::spawn(async move {
                while let Ok(Some(ping)) = tokio::time::timeout(PASSIVATE_AFTER, rx.recv()).await {
                    black_box(ping);
                }
            }));
            senders.push(tx);
        }
        for task in tasks {
            task.await.expect("a task does not panic");
        }
        drop(senders);
    });
    within("every task timing out", driver)
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

/// One criterion group: the workload `rakt` on Rakt beside `baseline` on bare tokio, on a
/// runtime of the group's own.
fn versus<R, RFut, B, BFut>(c: &mut Criterion, name: &str, elements: u64, rakt: R, baseline: B)
where
    R: FnMut() -> RFut,
    RFut: Future<Output = Duration>,
    B: FnMut() -> BFut,
    BFut: Future<Output = Duration>,
{
    let rt = support::runtime();
    let mut group = support::group(c, name, elements);
    support::bench_on(&mut group, "rakt", &rt, rakt);
    support::bench_on(&mut group, "baseline", &rt, baseline);
    group.finish();
}

fn tell_1m(c: &mut Criterion) {
    versus(c, "tell_1m", TELLS, rakt::tell, baseline::tell);
}

fn ask_100k(c: &mut Criterion) {
    versus(c, "ask_100k", ASKS, rakt::ask, baseline::ask);
}

fn fanout_1000x1000(c: &mut Criterion) {
    versus(
        c,
        "fanout_1000x1000",
        FANOUT_TELLS,
        fanout_rakt,
        fanout_baseline,
    );
}

fn router_fanout_100k(c: &mut Criterion) {
    versus(
        c,
        "router_fanout_100k",
        ROUTED_TELLS * ROUTEES as u64,
        router_fanout_rakt,
        router_fanout_baseline,
    );
}

fn spawn_stop_100k(c: &mut Criterion) {
    // Names are made once: formatting them is the user's work, not the runtime's.
    let names: Arc<[String]> = (0..SPAWNS).map(|i| format!("idle-{i}")).collect();
    versus(
        c,
        "spawn_stop_100k",
        SPAWNS as u64,
        || spawn_stop_rakt(names.clone()),
        spawn_stop_baseline,
    );
}

fn ping_pong_100k(c: &mut Criterion) {
    versus(
        c,
        "ping_pong_100k",
        ROUND_TRIPS,
        ping_pong_rakt,
        ping_pong_baseline,
    );
}

fn restart_10k(c: &mut Criterion) {
    versus(c, "restart_10k", RESTARTS, restart_rakt, restart_baseline);
}

fn schedule_100k(c: &mut Criterion) {
    versus(
        c,
        "schedule_100k",
        SCHEDULES as u64,
        schedule_rakt,
        schedule_baseline,
    );
}

fn passivate_100k(c: &mut Criterion) {
    let names: Arc<[String]> = (0..PASSIVATING).map(|i| format!("idle-{i}")).collect();
    versus(
        c,
        "passivate_100k",
        PASSIVATING as u64,
        || passivate_rakt(names.clone()),
        passivate_baseline,
    );
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = tell_1m, ask_100k, fanout_1000x1000, router_fanout_100k, spawn_stop_100k, ping_pong_100k, restart_10k,
        schedule_100k, passivate_100k
}
criterion_main!(benches);

//! Routers: each routing, broadcast, resizing, and what happens to routees that fail or stop.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rakt_actor::messages::{AdjustRouterPoolSize, GetRoutees, Routees};
use rakt_actor::{
    Actor, ActorError, ActorSystem, AskError, Broadcast, ConsistentHash, Context, DeadLetterReason,
    DeadRoutee, Directive, Event, Pid, Responder, Router, Routing, SpawnError, SpawnOptions,
    Supervisor,
};
use support::{Fail, Log, Ping, Pong, eventually, log, next_event, wait_for};
use tokio::time::Instant;

/// A routee: logs `name:n` for each `Ping`, waits its delay, then answers an ask with a
/// `Pong` carrying its own number, or holds the ask unanswered.
struct Worker {
    log: Log,
    delay_ms: Arc<dyn Fn(u64) -> u64 + Send + Sync>,
    hold: bool,
    held: Vec<Responder>,
    /// When each `Ping` arrived.
    arrivals: Arrivals,
}

type Arrivals = Arc<parking_lot::Mutex<Vec<Instant>>>;

impl Actor for Worker {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        let name = ctx.pid().name().to_owned();
        let number: u64 = name
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX);
        if let Some(ping) = ctx.message::<Ping>() {
            self.arrivals.lock().push(Instant::now());
            self.log.lock().push(format!("{name}:{}", ping.n));
            let delay = (self.delay_ms)(number);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            if let Some(asker) = ctx.defer_reply() {
                if self.hold {
                    self.held.push(asker);
                } else {
                    asker.respond(Pong { n: number });
                }
            }
        } else if ctx.is::<Fail>() {
            return Err(ActorError::msg("told to fail"));
        }
        Ok(())
    }
}

/// A routee whose `pre_start` always fails.
struct Unstartable;

impl Actor for Unstartable {
    async fn pre_start(
        &mut self,
        _ctx: &mut rakt_actor::LifecycleContext<'_>,
    ) -> Result<(), ActorError> {
        Err(ActorError::msg("cannot start"))
    }

    async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        Ok(())
    }
}

fn workers(log: &Log) -> impl Fn() -> Worker + Send + Sync + 'static {
    workers_with(log, |_| 0, false)
}

fn workers_with(
    log: &Log,
    delay_ms: impl Fn(u64) -> u64 + Send + Sync + 'static,
    hold: bool,
) -> impl Fn() -> Worker + Send + Sync + 'static {
    workers_timed(log.clone(), Arrivals::default(), delay_ms, hold)
}

fn workers_timed(
    log: Log,
    arrivals: Arrivals,
    delay_ms: impl Fn(u64) -> u64 + Send + Sync + 'static,
    hold: bool,
) -> impl Fn() -> Worker + Send + Sync + 'static {
    let delay_ms: Arc<dyn Fn(u64) -> u64 + Send + Sync> = Arc::new(delay_ms);
    move || Worker {
        log: log.clone(),
        delay_ms: delay_ms.clone(),
        hold,
        held: Vec::new(),
        arrivals: arrivals.clone(),
    }
}

/// A round-robin router of `size` logging workers, spawned as `name`.
async fn round_robin(system: &ActorSystem, name: &str, size: usize, seen: &Log) -> Pid {
    let router = Router::pool(size, workers(seen)).routing(Routing::RoundRobin);
    system.spawn_router(name, router).await.expect("spawn")
}

async fn routees(router: &Pid) -> Vec<String> {
    let routees: Routees = router.ask(GetRoutees {}).await.expect("routees");
    routees.names
}

fn system(name: &str) -> ActorSystem {
    ActorSystem::builder(name).build().expect("system")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_takes_routees_in_turn() {
    let system = system("round-robin");
    let seen = log();
    let router = round_robin(&system, "rr", 3, &seen).await;
    assert_eq!(routees(&router).await, ["rr-0", "rr-1", "rr-2"]);
    for n in 0..9 {
        router.tell(Ping { n }).await.expect("tell");
    }
    let entries = wait_for(&seen, |e| e.len() == 9).await;
    for n in 0..9 {
        let expected = format!("rr-{}:{n}", n % 3);
        assert!(entries.contains(&expected), "{expected} in {entries:?}");
    }
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_copies_to_every_routee_and_one_answers_an_ask() {
    let system = system("fan-out");
    let seen = log();
    let router = system
        .spawn_router("fan", Router::pool(4, workers(&seen)))
        .await
        .expect("spawn");
    router.tell(Ping { n: 1 }).await.expect("tell");
    let entries = wait_for(&seen, |e| e.len() == 4).await;
    let names: HashSet<_> = entries.iter().map(|e| e.as_str()).collect();
    assert_eq!(
        names,
        HashSet::from(["fan-0:1", "fan-1:1", "fan-2:1", "fan-3:1"])
    );

    let reply: Pong = router.ask(Ping { n: 2 }).await.expect("one reply");
    assert_eq!(reply.n, 3, "the last routee holds the asker");
    wait_for(&seen, |e| e.len() == 8).await;
    assert_eq!(system.dead_letter_count(), 0);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_routing_delivers_everything_over_several_routees() {
    let system = system("random");
    let seen = log();
    let router = Router::pool(4, workers(&seen)).routing(Routing::Random);
    let router = system.spawn_router("dice", router).await.expect("spawn");
    for n in 0..400 {
        router.tell(Ping { n }).await.expect("tell");
    }
    let entries = wait_for(&seen, |e| e.len() == 400).await;
    let used: HashSet<_> = entries.iter().map(|e| e.split(':').next()).collect();
    // All 400 on one routee has a chance of 4^-399.
    assert!(used.len() > 1, "random routing used {used:?}");
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_keeps_each_key_on_one_routee_across_a_resize() {
    let system = system("hashing");
    let seen = log();
    let by_key = ConsistentHash::new(|message| message.downcast_ref::<Ping>().map(|p| p.n % 40));
    let router = Router::pool(4, workers(&seen)).routing(Routing::ConsistentHash(by_key));
    let router = system.spawn_router("ring", router).await.expect("spawn");

    let owners = |entries: &[String]| {
        let mut owners: HashMap<u64, HashSet<String>> = HashMap::new();
        for entry in entries {
            let (routee, n) = entry.split_once(':').expect("name:n");
            let n: u64 = n.parse().expect("n");
            owners.entry(n % 40).or_default().insert(routee.to_owned());
        }
        owners
    };
    for n in 0..200 {
        router.tell(Ping { n }).await.expect("tell");
    }
    let before = owners(&wait_for(&seen, |e| e.len() == 200).await);
    assert_eq!(before.len(), 40);
    assert!(
        before.values().all(|owners| owners.len() == 1),
        "one routee per key: {before:?}"
    );
    let used: HashSet<_> = before.values().flatten().collect();
    assert!(used.len() > 1, "keys spread over routees: {used:?}");

    let grown: Routees = router
        .ask(AdjustRouterPoolSize { pool_size: 1 })
        .await
        .expect("grown");
    assert_eq!(grown.names.len(), 5);
    seen.lock().clear();
    for n in 0..40 {
        router.tell(Ping { n }).await.expect("tell");
    }
    let after = owners(&wait_for(&seen, |e| e.len() == 40).await);
    let stayed = (0..40).filter(|key| before[key] == after[key]).count();
    // A fifth routee should take about a fifth of the keys; a ring that rehashed everything
    // would keep about a fifth in place instead.
    assert!(stayed >= 24, "only {stayed} of 40 keys stayed");

    // A message without a key has no routee: a dead letter, and a failed ask.
    let mut events = system.subscribe();
    let error = router
        .ask::<Pong, _>(Pong { n: 1 })
        .await
        .expect_err("no key");
    assert!(matches!(error, AskError::HandlerFailed { .. }), "{error:?}");
    let letter = next_event(&mut events, |e| matches!(e, Event::DeadLetter(_))).await;
    let Event::DeadLetter(letter) = letter else {
        unreachable!()
    };
    assert_eq!(letter.reason(), DeadLetterReason::NoRoutee);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_gather_first_answers_with_the_fastest_reply_or_fails_in_time() {
    let system = system("scatter");
    let seen = log();
    // Routee 1 answers at once; the others take longer than the asker will wait.
    let slow_but_one = workers_with(&seen, |n| if n == 1 { 0 } else { 600 }, false);
    let within = Duration::from_millis(300);
    let router = Router::pool(3, slow_but_one).routing(Routing::ScatterGatherFirst { within });
    let router = system.spawn_router("sg", router).await.expect("spawn");
    let started = Instant::now();
    let reply: Pong = router.ask(Ping { n: 1 }).await.expect("a reply");
    assert_eq!(reply.n, 1);
    assert!(started.elapsed() < within, "the fastest reply wins at once");
    wait_for(&seen, |e| e.len() == 3).await;

    let silent = workers_with(&seen, |_| 0, true);
    let router = Router::pool(2, silent).routing(Routing::ScatterGatherFirst { within });
    let router = system
        .spawn_router("sg-silent", router)
        .await
        .expect("spawn");
    let started = Instant::now();
    let error = router
        .ask::<Pong, _>(Ping { n: 2 })
        .timeout(Duration::from_secs(5))
        .await
        .expect_err("nobody answers");
    let waited = started.elapsed();
    assert!(
        matches!(&error, AskError::HandlerFailed { error, .. } if error.contains("within")),
        "{error:?}"
    );
    assert!(
        waited >= within && waited < within * 5,
        "failed after {waited:?}"
    );
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_chopping_asks_one_routee_per_interval_until_the_deadline() {
    let system = system("tail");
    let seen = log();
    let (within, interval) = (Duration::from_millis(400), Duration::from_millis(60));
    let arrivals = Arrivals::default();
    let silent = workers_timed(seen.clone(), arrivals.clone(), |_| 0, true);
    let router = Router::pool(3, silent).routing(Routing::TailChopping { within, interval });
    let router = system.spawn_router("tc", router).await.expect("spawn");
    let started = Instant::now();
    let error = router
        .ask::<Pong, _>(Ping { n: 1 })
        .timeout(Duration::from_secs(5))
        .await
        .expect_err("nobody answers");
    assert!(started.elapsed() >= within, "{error:?}");
    assert!(matches!(error, AskError::HandlerFailed { .. }), "{error:?}");
    let times = arrivals.lock().clone();
    let asked = seen.lock().clone();
    assert_eq!(asked.len(), 3, "every routee asked once: {asked:?}");
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= interval - Duration::from_millis(15),
            "the next routee was asked too early: {times:?}"
        );
    }

    // A routee that answers at once leaves the others unasked.
    let quick = log();
    let router =
        Router::pool(3, workers(&quick)).routing(Routing::TailChopping { within, interval });
    let router = system
        .spawn_router("tc-quick", router)
        .await
        .expect("spawn");
    let _: Pong = router.ask(Ping { n: 2 }).await.expect("a reply");
    tokio::time::sleep(interval * 3).await;
    let asked = quick.lock().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_collecting_router_answers_an_actor_sender_by_message() {
    let system = system("gather-tell");
    let seen = log();
    let replies = log();
    let within = Duration::from_millis(300);
    let router = Router::pool(2, workers(&seen)).routing(Routing::ScatterGatherFirst { within });
    let router = system.spawn_router("sg", router).await.expect("spawn");
    let client = {
        let (router, replies) = (router.clone(), replies.clone());
        system
            .spawn_fn("client", move |ctx: &mut Context<'_, _>| {
                if let Some(ping) = ctx.take_message::<Ping>() {
                    ctx.try_tell(&router, ping)?;
                } else if let Some(pong) = ctx.message::<Pong>() {
                    replies.lock().push(format!("pong from {}", pong.n));
                }
                Ok(())
            })
            .await
            .expect("spawn")
    };
    client.tell(Ping { n: 1 }).await.expect("tell");
    let got = wait_for(&replies, |r| !r.is_empty()).await;
    assert_eq!(got.len(), 1);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_replaces_a_dead_routee_in_its_place() {
    let system = system("replace");
    let seen = log();
    let router = Router::pool(3, workers(&seen))
        .routing(Routing::RoundRobin)
        .on_dead_routee(DeadRoutee::Replace);
    let router = system.spawn_router("pool", router).await.expect("spawn");
    let doomed = system.local_actor("pool-1").expect("a routee");
    doomed.tell(Fail { panic: false }).await.expect("tell");
    doomed
        .wait_stopped()
        .await
        .expect("stopped: routees stop on failure");
    let mut names = Vec::new();
    for _ in 0..200 {
        names = routees(&router).await;
        if names.iter().any(|name| name == "pool-3") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(names, ["pool-0", "pool-3", "pool-2"]);
    for n in 0..3 {
        router.tell(Ping { n }).await.expect("tell");
    }
    let entries = wait_for(&seen, |e| e.len() == 3).await;
    assert!(entries.contains(&"pool-3:1".to_owned()), "{entries:?}");
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_routees_shrink_the_pool_and_the_last_one_stops_the_router() {
    let system = system("remove");
    let seen = log();
    let router = round_robin(&system, "pool", 2, &seen).await;
    let first = system.local_actor("pool-0").expect("routee");
    first.stop().await.expect("stop");
    // Whether or not its `Terminated` has arrived, nothing goes to the stopped routee.
    for n in 0..4 {
        router.tell(Ping { n }).await.expect("tell");
    }
    let entries = wait_for(&seen, |e| e.len() == 4).await;
    assert!(
        entries.iter().all(|e| e.starts_with("pool-1:")),
        "{entries:?}"
    );
    assert_eq!(routees(&router).await, ["pool-1"]);
    assert_eq!(system.dead_letter_count(), 0);

    system
        .local_actor("pool-1")
        .expect("routee")
        .stop()
        .await
        .expect("stop");
    tokio::time::timeout(Duration::from_secs(5), router.wait_stopped())
        .await
        .expect("the router stops with no routee left")
        .expect("stopped");
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_grows_and_shrinks_at_run_time() {
    let system = system("resize");
    let seen = log();
    let router = round_robin(&system, "pool", 3, &seen).await;
    let grown: Routees = router
        .ask(AdjustRouterPoolSize { pool_size: 2 })
        .await
        .expect("grow");
    assert_eq!(
        grown.names,
        ["pool-0", "pool-1", "pool-2", "pool-3", "pool-4"]
    );
    let shrunk: Routees = router
        .ask(AdjustRouterPoolSize { pool_size: -4 })
        .await
        .expect("shrink");
    assert_eq!(shrunk.names, ["pool-0"]);
    assert!(
        eventually(|| system.local_actor("pool-4").is_none()).await,
        "removed routees stop"
    );
    for n in 0..3 {
        router.tell(Ping { n }).await.expect("tell");
    }
    let entries = wait_for(&seen, |e| e.len() == 3).await;
    assert!(
        entries.iter().all(|e| e.starts_with("pool-0:")),
        "{entries:?}"
    );

    router
        .tell(AdjustRouterPoolSize { pool_size: -1 })
        .await
        .expect("tell");
    tokio::time::timeout(Duration::from_secs(5), router.wait_stopped())
        .await
        .expect("an empty router stops")
        .expect("stopped");
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_reaches_every_routee_whatever_the_routing() {
    let system = system("broadcast");
    let seen = log();
    let router = round_robin(&system, "pool", 3, &seen).await;
    router
        .tell(Broadcast::new(Ping { n: 7 }))
        .await
        .expect("tell");
    let entries = wait_for(&seen, |e| e.len() == 3).await;
    let names: HashSet<_> = entries.iter().map(|e| e.as_str()).collect();
    assert_eq!(names, HashSet::from(["pool-0:7", "pool-1:7", "pool-2:7"]));
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routee_supervisor_can_restart_routees_in_place() {
    let system = system("restart-routee");
    let seen = log();
    let restart = Supervisor::new()
        .default_directive(Directive::Restart)
        .retry(3, Duration::from_secs(10));
    let router = Router::pool(2, workers(&seen))
        .routing(Routing::RoundRobin)
        .routee_options(SpawnOptions::new().supervisor(restart));
    let router = system.spawn_router("pool", router).await.expect("spawn");
    let routee = system.local_actor("pool-0").expect("routee");
    routee.tell(Fail { panic: true }).await.expect("tell");
    assert!(eventually(|| routee.metrics().restarts == 1).await);
    assert!(routee.is_running());
    assert_eq!(routees(&router).await, ["pool-0", "pool-1"]);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_router_starts_a_fresh_pool() {
    let system = system("restart-router");
    let seen = log();
    let router = system
        .spawn_router("pool", Router::pool(2, workers(&seen)))
        .await
        .expect("spawn");
    let old = system.local_actor("pool-0").expect("routee");
    router.restart().await.expect("restart");
    assert!(!old.is_running(), "the restart stopped the old routees");
    assert_eq!(routees(&router).await, ["pool-2", "pool-3"]);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_routers_and_unspawnable_routees_fail_the_spawn() {
    let system = system("invalid");
    let seen = log();
    let error = system
        .spawn_router("none", Router::pool(0, workers(&seen)))
        .await
        .expect_err("empty pool");
    assert!(matches!(error, SpawnError::InvalidRouter { .. }), "{error}");
    assert!(system.local_actor("none").is_none());

    // A routee that cannot start fails the router's spawn, typed, and leaves nothing behind.
    let error = system
        .spawn_router("broken", Router::pool(2, || Unstartable))
        .await
        .expect_err("routees cannot start");
    assert!(
        matches!(error, SpawnError::PreStartFailed { .. }),
        "{error}"
    );
    assert!(system.local_actor("broken").is_none());
    assert!(
        eventually(|| system.actor_count() == 0).await,
        "{:?}",
        system.actors()
    );
    system.stop().await.expect("stop");
}

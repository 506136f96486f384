//! Passivation (idle time, message count, long-lived, pause and resume) and system-wide
//! eviction (LRU, LFU, MRU). Idle times are measured on the machine's monotonic clock, so
//! these tests run in real time with short idle times and generous upper bounds.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rakt_actor::messages::PostStart;
use rakt_actor::{
    Actor, ActorError, ActorSystem, Backoff, Context, Event, Eviction, EvictionPolicy, FnActor,
    Passivation, PassivationReason, Pid, SendError, SpawnError, SpawnOptions, Supervisor,
    SystemError,
};
use rakt_actor::{Reentrancy, ReentrancyMode};
use support::{Fail, Ping, Pong, Recorder, eventually, log, next_event, wait_for};
use tokio::time::Instant;

fn idle(millis: u64) -> SpawnOptions {
    SpawnOptions::new().passivation(Passivation::AfterIdle(Duration::from_millis(millis)))
}

/// Waits (bounded) until the latency clock runs, so that activity stamps are real: until then
/// idleness is measured by processed counts, which LRU and MRU cannot order.
async fn clock_running(system: &ActorSystem) {
    let probe = system
        .spawn_fn("clock-probe", |_ctx| Ok(()))
        .await
        .expect("spawn");
    for _ in 0..400 {
        probe.tell(Ping { n: 0 }).await.expect("tell");
        tokio::time::sleep(Duration::from_millis(5)).await;
        if probe.metrics().idle > Duration::ZERO {
            probe.stop().await.expect("stop");
            return;
        }
    }
    panic!("the latency clock did not start within 2 s");
}

fn passivated(name: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::ActorPassivated { pid, .. } if pid.name() == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_actor_passivates_after_its_idle_time_and_not_before() {
    let system = ActorSystem::builder("idle").build().expect("build");
    clock_running(&system).await;
    let mut events = system.subscribe();
    let log = log();
    let pid = system
        .spawn_with("session", Recorder::new(&log, "s"), idle(150))
        .await
        .expect("spawn");
    // Busy for 600 ms, a message every 50 ms: never idle for 150 ms.
    for n in 0..12 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _: Pong = pid.ask(Ping { n }).await.expect("alive while busy");
    }
    let last = Instant::now();
    let event = next_event(&mut events, passivated("session")).await;
    let after = last.elapsed();
    assert!(
        matches!(
            event,
            Event::ActorPassivated {
                reason: PassivationReason::Idle,
                ..
            }
        ),
        "{event:?}"
    );
    assert!(
        after >= Duration::from_millis(140),
        "passivated after only {after:?} idle"
    );
    assert!(
        after < Duration::from_millis(1500),
        "passivated only after {after:?} idle"
    );
    next_event(
        &mut events,
        |e| matches!(e, Event::ActorStopped { pid } if pid.name() == "session"),
    )
    .await;
    wait_for(&log, |l| l.last().is_some_and(|e| e == "s:post_stop")).await;
    assert!(matches!(
        pid.tell(Ping { n: 99 }).await,
        Err(SendError::ActorStopped { .. })
    ));
    assert!(system.local_actor("session").is_none());
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_passivates_after_its_message_count() {
    let system = ActorSystem::builder("count").build().expect("build");
    let mut events = system.subscribe();
    let log = log();
    let options = SpawnOptions::new().passivation(Passivation::AfterMessages(3));
    let pid = system
        .spawn_with("counted", Recorder::new(&log, "c"), options)
        .await
        .expect("spawn");
    // `PostStart` is the first of the three.
    let _: Pong = pid.ask(Ping { n: 1 }).await.expect("second message");
    let _: Pong = pid.ask(Ping { n: 2 }).await.expect("third message");
    let event = next_event(&mut events, passivated("counted")).await;
    assert!(matches!(
        event,
        Event::ActorPassivated {
            reason: PassivationReason::MessageLimit,
            ..
        }
    ));
    tokio::time::timeout(Duration::from_secs(5), pid.wait_stopped())
        .await
        .expect("stops")
        .expect("not its own");
    assert_eq!(pid.metrics().processed, 3);
    assert_eq!(
        *log.lock(),
        [
            "c:pre_start",
            "c:post_start",
            "c:ping1",
            "c:ping2",
            "c:post_stop"
        ]
    );
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_racing_a_passivation_is_handled_or_a_dead_letter_never_lost() {
    let system = ActorSystem::builder("race").build().expect("build");
    let handled = Arc::new(AtomicU64::new(0));
    let (mut sent, mut refused) = (0_u64, 0_u64);
    // Each round: an actor passivating after 2 ms idle, and messages sent around that time.
    for round in 0..40_u64 {
        let seen = handled.clone();
        let pid = system
            .spawn_with(
                &format!("racer-{round}"),
                FnActor::new(move |ctx| {
                    if ctx.is::<Ping>() {
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                }),
                idle(2),
            )
            .await
            .expect("spawn");
        for n in 0..20 {
            sent += 1;
            match pid.tell(Ping { n }).await {
                Ok(()) => {}
                Err(SendError::ActorStopped { .. }) => refused += 1,
                Err(other) => panic!("unexpected {other}"),
            }
            tokio::time::sleep(Duration::from_micros(200 * (n % 15))).await;
        }
        tokio::time::timeout(Duration::from_secs(5), pid.wait_stopped())
            .await
            .expect("passivates")
            .expect("not its own");
    }
    assert_eq!(handled.load(Ordering::Relaxed) + refused, sent);
    assert_eq!(system.dead_letter_count(), refused);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_passivation_waits_for_the_resume() {
    let system = ActorSystem::builder("paused").build().expect("build");
    let log = log();
    let pid = system
        .spawn_with("idler", Recorder::new(&log, "i"), idle(30))
        .await
        .expect("spawn");
    assert!(pid.pause_passivation());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(pid.is_running(), "paused, so not passivated");
    assert!(pid.resume_passivation());
    tokio::time::timeout(Duration::from_secs(5), pid.wait_stopped())
        .await
        .expect("passivates after the resume")
        .expect("not its own");

    // A message count reached while paused passivates at the resume.
    let options = SpawnOptions::new().passivation(Passivation::AfterMessages(2));
    let pid = system
        .spawn_with("counter", Recorder::new(&log, "n"), options)
        .await
        .expect("spawn");
    assert!(pid.pause_passivation());
    for n in 0..3 {
        let _: Pong = pid.ask(Ping { n }).await.expect("paused, so still running");
    }
    assert!(pid.is_running());
    assert!(pid.resume_passivation());
    tokio::time::timeout(Duration::from_secs(5), pid.wait_stopped())
        .await
        .expect("passivates at the resume")
        .expect("not its own");
    assert!(!pid.resume_passivation(), "stopped");

    let long_lived = system
        .spawn_fn("forever", |_ctx| Ok(()))
        .await
        .expect("spawn");
    assert_eq!(long_lived.passivation(), Passivation::LongLived);
    assert!(!long_lived.pause_passivation());
    system.stop().await.expect("stop");
}

/// Spawns a long-lived child when it starts.
struct Parent;

impl Actor for Parent {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            ctx.spawn_child("child", FnActor::new(|_ctx| Ok(())))
                .await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_with_children_is_not_idle_and_a_suspended_actor_is_not_passivated() {
    let system = ActorSystem::builder("tree").build().expect("build");
    let parent = system
        .spawn_with("parent", Parent, idle(30))
        .await
        .expect("spawn");
    eventually(|| !parent.children().is_empty()).await;
    let child = parent
        .children()
        .pop()
        .expect("the parent spawns its child");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(parent.is_running(), "its child keeps it");
    child.stop().await.expect("stop child");
    tokio::time::timeout(Duration::from_secs(5), parent.wait_stopped())
        .await
        .expect("passivates once childless")
        .expect("not its own");

    // A failure with an hour of backoff leaves the actor suspended, and suspended it stays.
    let hour = Duration::from_secs(3600);
    let options = idle(30).supervisor(Supervisor::new().backoff(Backoff::exponential(hour, hour)));
    let log = log();
    let fragile = system
        .spawn_with("fragile", Recorder::new(&log, "f"), options)
        .await
        .expect("spawn");
    fragile.tell(Fail { panic: false }).await.expect("tell");
    eventually(|| fragile.is_suspended()).await;
    assert!(fragile.is_suspended());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(fragile.is_suspended(), "not passivated while suspended");
    fragile.reinstate().expect("reinstate");
    tokio::time::timeout(Duration::from_secs(5), fragile.wait_stopped())
        .await
        .expect("passivates once reinstated and idle")
        .expect("not its own");
    system.stop().await.expect("stop");
}

/// Six evictable actors touched in order a..f, `touches[i]` times each, and one long-lived
/// actor; the limit of 3 evicts four of the six. Returns the names still alive, sorted.
async fn survivors(policy: EvictionPolicy, touches: [u64; 6]) -> Vec<String> {
    // The touches below must all happen before the first eviction pass, or it may evict an
    // actor the test is about to touch: the interval leaves room for a loaded machine.
    let eviction = Eviction::new(3, policy).interval(Duration::from_millis(500));
    let system = ActorSystem::builder("evicting")
        .eviction(eviction)
        .build()
        .expect("build");
    clock_running(&system).await;
    let hour = idle(3_600_000);
    let mut pids: Vec<Pid> = Vec::new();
    let log = log();
    for name in ["a", "b", "c", "d", "e", "f"] {
        let actor = Recorder::new(&log, "x");
        pids.push(
            system
                .spawn_with(name, actor, hour.clone())
                .await
                .expect("spawn"),
        );
    }
    system
        .spawn_fn("keeper", |_ctx| Ok(()))
        .await
        .expect("spawn");
    let mut events = system.subscribe();
    for (pid, count) in pids.iter().zip(touches) {
        for n in 0..count {
            let _: Pong = pid.ask(Ping { n }).await.expect("ask");
        }
        // Distinct activity stamps, in order.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for _ in 0..4 {
        let event = next_event(&mut events, |e| matches!(e, Event::ActorPassivated { .. })).await;
        assert!(matches!(
            event,
            Event::ActorPassivated {
                reason: PassivationReason::Evicted,
                ..
            }
        ));
    }
    for pid in &pids {
        if !pid.is_running() {
            tokio::time::timeout(Duration::from_secs(5), pid.wait_stopped())
                .await
                .expect("stops")
                .expect("not its own");
        }
    }
    // One more interval: the limit is met, nothing else goes.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut alive: Vec<String> = system
        .actors()
        .iter()
        .map(|p| p.name().to_owned())
        .collect();
    alive.sort();
    system.stop().await.expect("stop");
    alive
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_keeps_the_limit_by_lru_lfu_and_mru() {
    assert_eq!(
        survivors(EvictionPolicy::Lru, [1; 6]).await,
        ["e", "f", "keeper"]
    );
    assert_eq!(
        survivors(EvictionPolicy::Mru, [1; 6]).await,
        ["a", "b", "keeper"]
    );
    assert_eq!(
        survivors(EvictionPolicy::Lfu, [5, 1, 6, 2, 3, 1]).await,
        ["a", "c", "keeper"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passivation_timers_are_shared_not_a_task_per_actor() {
    let system = ActorSystem::builder("many").build().expect("build");
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let count = 2_000;
    for i in 0..count {
        system
            .spawn_with(
                &format!("idle-{i}"),
                FnActor::new(|_ctx| Ok(())),
                idle(3_600_000),
            )
            .await
            .expect("spawn");
    }
    // One task per actor, and nothing per passivation timer.
    assert_eq!(metrics.num_alive_tasks() - before, count);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_passivation_applies_and_bad_settings_are_refused() {
    let every_minute = Passivation::AfterIdle(Duration::from_secs(60));
    let system = ActorSystem::builder("defaults")
        .default_passivation(every_minute)
        .build()
        .expect("build");
    let pid = system
        .spawn_fn("worker", |_ctx| Ok(()))
        .await
        .expect("spawn");
    assert_eq!(pid.passivation(), every_minute);
    let options = SpawnOptions::new().passivation(Passivation::LongLived);
    let kept = system
        .spawn_with("kept", FnActor::new(|_ctx| Ok(())), options)
        .await
        .expect("spawn");
    assert_eq!(kept.passivation(), Passivation::LongLived);

    let zero = SpawnOptions::new().passivation(Passivation::AfterMessages(0));
    let refused = system
        .spawn_with("zero", FnActor::new(|_ctx| Ok(())), zero)
        .await;
    assert!(
        matches!(refused, Err(SpawnError::InvalidPassivation { .. })),
        "{refused:?}"
    );
    system.stop().await.expect("stop");

    let bad = ActorSystem::builder("bad")
        .default_passivation(Passivation::AfterIdle(Duration::ZERO))
        .build();
    assert!(matches!(bad, Err(SystemError::InvalidPassivation { .. })));
    for eviction in [
        Eviction::new(0, EvictionPolicy::Lru),
        Eviction::new(10, EvictionPolicy::Lru).percentage(101),
        Eviction::new(10, EvictionPolicy::Lru).interval(Duration::ZERO),
    ] {
        let bad = ActorSystem::builder("bad").eviction(eviction).build();
        assert!(
            matches!(bad, Err(SystemError::InvalidEviction { .. })),
            "{eviction:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_count_of_one_passivates_right_after_post_start() {
    let system = ActorSystem::builder("one").build().expect("build");
    let log = log();
    let options = SpawnOptions::new().passivation(Passivation::AfterMessages(1));
    let pid = system
        .spawn_with("once", Recorder::new(&log, "o"), options)
        .await
        .expect("spawn");
    tokio::time::timeout(Duration::from_secs(5), pid.wait_stopped())
        .await
        .expect("passivates")
        .expect("not its own");
    assert_eq!(pid.metrics().processed, 1);
    assert_eq!(*log.lock(), ["o:pre_start", "o:post_start", "o:post_stop"]);
    system.stop().await.expect("stop");
}

/// Requests a `Ping` from its worker when it starts, and logs the reply.
struct Waiting {
    worker: Pid,
    log: support::Log,
}

impl Actor for Waiting {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            let worker = self.worker.clone();
            ctx.request::<Pong, _>(&worker, Ping { n: 1 })
                .then(|me: &mut Self, _ctx, reply| {
                    me.log.lock().push(format!("reply:{}", reply.is_ok()));
                    Ok(())
                })?;
        }
        Ok(())
    }

    async fn post_stop(
        &mut self,
        _ctx: &mut rakt_actor::LifecycleContext<'_>,
    ) -> Result<(), ActorError> {
        self.log.lock().push("post_stop".into());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_waiting_on_a_request_is_not_idle() {
    let system = ActorSystem::builder("waiting").build().expect("build");
    clock_running(&system).await;
    // Answers 300 ms after it is asked.
    let worker = system
        .spawn_fn("worker", |ctx| {
            if let Some(responder) = ctx.defer_reply() {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    responder.respond(Pong { n: 1 });
                });
            }
            Ok(())
        })
        .await
        .expect("spawn");
    let log = log();
    let options = idle(50).reentrancy(Reentrancy::new(ReentrancyMode::AllowAll));
    let waiting = Waiting {
        worker,
        log: log.clone(),
    };
    let pid = system
        .spawn_with("waiting", waiting, options)
        .await
        .expect("spawn");
    tokio::time::timeout(Duration::from_secs(5), pid.wait_stopped())
        .await
        .expect("passivates once the reply is in")
        .expect("not its own");
    assert_eq!(*log.lock(), ["reply:true", "post_stop"]);
    system.stop().await.expect("stop");
}

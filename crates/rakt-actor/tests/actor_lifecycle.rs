//! Spawning, names, pre_start, stop, kill, poison pill, restart, failures, watch, children and
//! system shutdown.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rakt_actor::{
    Actor, ActorError, ActorSystem, Context, DeadLetterReason, Event, LifecycleContext, NameError,
    SpawnError, SpawnOptions, StopError, SystemError,
};
use rakt_proto::v1::PoisonPill;
use support::{Fail, Ping, Pong, Recorder, Sleep, log, next_event, wait_for};

#[tokio::test]
async fn names_are_unique_and_validated() {
    let system = ActorSystem::builder("names").build().expect("system");
    system
        .spawn("a", Recorder::new(&log(), "a"))
        .await
        .expect("spawn");
    let err = system
        .spawn("a", Recorder::new(&log(), "a"))
        .await
        .expect_err("duplicate");
    assert!(
        matches!(err, SpawnError::NameTaken { ref name } if name == "a"),
        "{err}"
    );
    let err = system
        .spawn("", Recorder::new(&log(), "a"))
        .await
        .expect_err("empty");
    assert!(matches!(err, SpawnError::InvalidName(NameError::Empty)));
    let err = system
        .spawn("a b", Recorder::new(&log(), "a"))
        .await
        .expect_err("space");
    assert!(matches!(
        err,
        SpawnError::InvalidName(NameError::InvalidCharacter { .. })
    ));
    assert_eq!(system.actor_count(), 1);
    assert!(system.actor_of("a").await.is_ok());
    assert!(system.actor_of("zz").await.is_err());
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn a_stopped_actor_frees_its_name() {
    let system = ActorSystem::builder("rename").build().expect("system");
    let first = system
        .spawn("a", Recorder::new(&log(), "a"))
        .await
        .expect("spawn");
    first.stop().await.expect("stop");
    let second = system
        .spawn("a", Recorder::new(&log(), "a"))
        .await
        .expect("respawn");
    assert_ne!(first, second, "a new incarnation is a different pid");
    assert_eq!(system.local_actor("a"), Some(second));
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn system_settings_and_runtime_are_checked() {
    let err = ActorSystem::builder("bad name").build().expect_err("name");
    assert!(matches!(err, SystemError::InvalidName(_)));
    let err = ActorSystem::builder("s")
        .ask_timeout(Duration::ZERO)
        .build()
        .expect_err("zero");
    assert!(matches!(
        err,
        SystemError::ZeroDuration {
            field: "ask_timeout"
        }
    ));
    let err = std::thread::spawn(|| ActorSystem::builder("s").build().map(|_| ()))
        .join()
        .expect("thread")
        .expect_err("no runtime");
    assert!(matches!(err, SystemError::NoRuntime));
}

#[tokio::test]
async fn spawning_on_a_stopped_system_fails() {
    let system = ActorSystem::builder("gone").build().expect("system");
    system.stop().await.expect("stop");
    let err = system
        .spawn("a", Recorder::new(&log(), "a"))
        .await
        .expect_err("stopped");
    assert!(matches!(err, SpawnError::SystemStopped));
    assert!(matches!(
        system.stop().await,
        Err(SystemError::AlreadyStopped)
    ));
}

struct FlakyStart {
    attempts: Arc<AtomicU32>,
    succeed_on: u32,
}

impl Actor for FlakyStart {
    async fn pre_start(&mut self, _ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if n < self.succeed_on {
            return Err(ActorError::msg(format!("attempt {n} failed")));
        }
        Ok(())
    }

    async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        Ok(())
    }
}

#[tokio::test]
async fn pre_start_is_retried_then_fails_the_spawn() {
    let system = ActorSystem::builder("prestart")
        .init_retries(2)
        .build()
        .expect("system");
    let attempts = Arc::new(AtomicU32::new(0));
    system
        .spawn(
            "ok",
            FlakyStart {
                attempts: attempts.clone(),
                succeed_on: 3,
            },
        )
        .await
        .expect("third attempt succeeds");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);

    let attempts = Arc::new(AtomicU32::new(0));
    let err = system
        .spawn(
            "never",
            FlakyStart {
                attempts: attempts.clone(),
                succeed_on: 99,
            },
        )
        .await
        .expect_err("fails");
    match err {
        SpawnError::PreStartFailed {
            name,
            attempts,
            error,
        } => {
            assert_eq!(name, "never");
            assert_eq!(attempts, 3);
            assert_eq!(error.to_string(), "attempt 3 failed");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(
        system.local_actor("never").is_none(),
        "the name is free again"
    );
    system.stop().await.expect("stop");
}

struct SlowStart;

impl Actor for SlowStart {
    async fn pre_start(&mut self, _ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(())
    }

    async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        Ok(())
    }
}

#[tokio::test]
async fn pre_start_is_bounded_by_the_init_timeout() {
    let system = ActorSystem::builder("slow").build().expect("system");
    let options = SpawnOptions::new().init_timeout(Duration::from_millis(30));
    let err = system
        .spawn_with("slow", SlowStart, options)
        .await
        .expect_err("timeout");
    assert!(matches!(err, SpawnError::PreStartTimeout { .. }), "{err}");
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_handles_queued_messages_first() {
    let system = ActorSystem::builder("drain").build().expect("system");
    let log = log();
    let pid = system
        .spawn("a", Recorder::new(&log, "a"))
        .await
        .expect("spawn");
    pid.tell(Sleep { millis: 50 }).await.expect("tell");
    for n in 0..3 {
        pid.tell(Ping { n }).await.expect("tell");
    }
    pid.stop().await.expect("stop");
    let seen = log.lock().clone();
    assert_eq!(
        seen,
        [
            "a:pre_start",
            "a:post_start",
            "a:sleeping",
            "a:slept",
            "a:ping0",
            "a:ping1",
            "a:ping2",
            "a:post_stop",
        ]
    );
    assert!(!pid.is_running());
    assert!(matches!(
        pid.stop().await,
        Err(StopError::NotRunning { .. })
    ));
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dead_letters_queued_messages() {
    let system = ActorSystem::builder("kill").build().expect("system");
    let mut events = system.subscribe();
    let log = log();
    let pid = system
        .spawn("a", Recorder::new(&log, "a"))
        .await
        .expect("spawn");
    pid.tell(Sleep { millis: 50 }).await.expect("tell");
    // Kill travels on the system lane: it overtakes everything not yet being handled.
    wait_for(&log, |l| l.iter().any(|e| e == "a:sleeping")).await;
    for n in 0..3 {
        pid.tell(Ping { n }).await.expect("tell");
    }
    pid.kill().await.expect("kill");
    let seen = log.lock().clone();
    assert_eq!(
        seen,
        [
            "a:pre_start",
            "a:post_start",
            "a:sleeping",
            "a:slept",
            "a:post_stop"
        ]
    );
    for _ in 0..3 {
        let event = next_event(&mut events, |e| matches!(e, Event::DeadLetter(_))).await;
        let Event::DeadLetter(letter) = event else {
            unreachable!()
        };
        assert_eq!(letter.reason(), DeadLetterReason::ActorKilled);
    }
    assert_eq!(system.dead_letter_count(), 3);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_pill_stops_in_order_and_dead_letters_what_follows() {
    let system = ActorSystem::builder("poison").build().expect("system");
    let mut events = system.subscribe();
    let log = log();
    let pid = system
        .spawn("a", Recorder::new(&log, "a"))
        .await
        .expect("spawn");
    pid.tell(Sleep { millis: 30 }).await.expect("tell");
    pid.tell(Ping { n: 1 }).await.expect("tell");
    pid.tell(PoisonPill {}).await.expect("tell");
    pid.tell(Ping { n: 2 }).await.expect("tell");
    tokio::time::timeout(Duration::from_secs(2), pid.wait_stopped())
        .await
        .expect("stops")
        .expect("not its own stop");
    assert_eq!(
        log.lock().clone(),
        [
            "a:pre_start",
            "a:post_start",
            "a:sleeping",
            "a:slept",
            "a:ping1",
            "a:post_stop"
        ]
    );
    // Two dead letters: the `Pong` reply to a tell that had no sender, and `Ping 2`.
    let mut reasons = Vec::new();
    while let Some(event) = events.try_recv() {
        if let Event::DeadLetter(letter) = event {
            reasons.push(letter.reason());
        }
    }
    assert_eq!(
        reasons,
        [
            DeadLetterReason::NoRecipient,
            DeadLetterReason::BehindPoisonPill
        ]
    );
    assert_eq!(system.dead_letter_count(), 2);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_restarts_the_actor_and_keeps_its_mailbox() {
    let system = ActorSystem::builder("restart").build().expect("system");
    let mut events = system.subscribe();
    let log = log();
    let pid = system
        .spawn("a", Recorder::new(&log, "a"))
        .await
        .expect("spawn");
    pid.tell(Fail { panic: false }).await.expect("tell");
    pid.tell(Ping { n: 1 }).await.expect("tell");
    pid.tell(Fail { panic: true }).await.expect("tell");
    pid.tell(Ping { n: 2 }).await.expect("tell");
    let seen = wait_for(&log, |l| l.iter().any(|e| e == "a:ping2")).await;
    assert_eq!(
        seen,
        [
            "a:pre_start",
            "a:post_start",
            "a:post_stop",
            "a:pre_start",
            "a:post_start",
            "a:ping1",
            "a:post_stop",
            "a:pre_start",
            "a:post_start",
            "a:ping2",
        ]
    );
    let metrics = pid.metrics();
    assert_eq!(metrics.restarts, 2);
    assert_eq!(metrics.failures, 2);
    let event = next_event(&mut events, |e| matches!(e, Event::ActorFailed { .. })).await;
    let Event::ActorFailed { error, .. } = event else {
        unreachable!()
    };
    assert_eq!(error, "asked to fail");
    let event = next_event(&mut events, |e| matches!(e, Event::ActorRestarted { .. })).await;
    assert!(matches!(event, Event::ActorRestarted { restarts: 1, .. }));
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_request_keeps_name_and_counts() {
    let system = ActorSystem::builder("restart-req").build().expect("system");
    let log = log();
    let pid = system
        .spawn("a", Recorder::new(&log, "a"))
        .await
        .expect("spawn");
    pid.restart().await.expect("restart");
    let pong: Pong = pid.ask(Ping { n: 4 }).await.expect("alive");
    assert_eq!(pong.n, 4);
    assert_eq!(pid.metrics().restarts, 1);
    assert_eq!(system.local_actor("a"), Some(pid.clone()));
    pid.stop().await.expect("stop");
    assert!(matches!(
        pid.restart().await,
        Err(StopError::NotRunning { .. })
    ));
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_receive_terminated_and_unwatch_stops_it() {
    let system = ActorSystem::builder("watch").build().expect("system");
    let log = log();
    let watcher = system
        .spawn("w", Recorder::new(&log, "w"))
        .await
        .expect("spawn");
    let a = system
        .spawn("a", Recorder::new(&support::log(), "a"))
        .await
        .expect("spawn");
    let b = system
        .spawn("b", Recorder::new(&support::log(), "b"))
        .await
        .expect("spawn");
    watcher.watch(&a);
    watcher.watch(&b);
    watcher.unwatch(&b);
    a.stop().await.expect("stop");
    b.stop().await.expect("stop");
    wait_for(&log, |l| l.iter().any(|e| e == "w:terminated:a")).await;
    // Watching an actor that is already gone reports at once.
    watcher.watch(&b);
    wait_for(&log, |l| l.iter().any(|e| e == "w:terminated:b")).await;
    let seen = log.lock().clone();
    assert_eq!(
        seen.iter()
            .filter(|e| e.starts_with("w:terminated"))
            .count(),
        2
    );
    system.stop().await.expect("stop");
}

struct Parent {
    log: support::Log,
}

impl Actor for Parent {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<rakt_proto::v1::PostStart>() {
            let child = ctx
                .spawn_child("child", Recorder::new(&self.log, "child"))
                .await?;
            ctx.watch(&child);
        } else if let Some(ping) = ctx.message::<Ping>() {
            let n = ping.n;
            ctx.respond(Pong {
                n: n + ctx.children().len() as u64,
            });
        }
        Ok(())
    }

    async fn post_stop(&mut self, _ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        self.log.lock().push("parent:post_stop".into());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_stop_before_their_parent() {
    let system = ActorSystem::builder("tree").build().expect("system");
    let mut events = system.subscribe();
    let log = log();
    let parent = system
        .spawn("parent", Parent { log: log.clone() })
        .await
        .expect("spawn");
    let event = next_event(&mut events, |e| matches!(e, Event::ChildCreated { .. })).await;
    let Event::ChildCreated { parent: p, child } = event else {
        unreachable!()
    };
    assert_eq!(p, parent);
    assert_eq!(child.parent(), Some(&parent));
    let pong: Pong = parent.ask(Ping { n: 10 }).await.expect("reply");
    assert_eq!(pong.n, 11, "one child");
    assert_eq!(parent.children(), vec![child.clone()]);

    // A name is unique in the whole system, children included.
    let err = system
        .spawn("child", Recorder::new(&log, "x"))
        .await
        .expect_err("taken");
    assert!(matches!(err, SpawnError::NameTaken { .. }));

    parent.stop().await.expect("stop");
    assert!(!child.is_running());
    let seen = log.lock().clone();
    let child_stop = seen
        .iter()
        .position(|e| e == "child:post_stop")
        .expect("child stopped");
    let parent_stop = seen
        .iter()
        .position(|e| e == "parent:post_stop")
        .expect("parent stopped");
    assert!(child_stop < parent_stop, "{seen:?}");
    assert_eq!(system.actor_count(), 0);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_stop_stops_every_actor_children_first() {
    let system = ActorSystem::builder("shutdown").build().expect("system");
    let log = log();
    system
        .spawn("parent", Parent { log: log.clone() })
        .await
        .expect("spawn");
    for name in ["x", "y", "z"] {
        system
            .spawn(name, Recorder::new(&log, "leaf"))
            .await
            .expect("spawn");
    }
    wait_for(&log, |l| l.iter().any(|e| e == "child:post_start")).await;
    system.stop().await.expect("stop");
    let seen = log.lock().clone();
    assert_eq!(
        seen.iter().filter(|e| e.ends_with("post_stop")).count(),
        5,
        "{seen:?}"
    );
    let child_stop = seen
        .iter()
        .position(|e| e == "child:post_stop")
        .expect("child");
    let parent_stop = seen
        .iter()
        .position(|e| e == "parent:post_stop")
        .expect("parent");
    assert!(child_stop < parent_stop);
    assert_eq!(system.actor_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_stop_reports_and_aborts_actors_that_do_not_stop() {
    let system = ActorSystem::builder("stuck")
        .shutdown_timeout(Duration::from_millis(100))
        .build()
        .expect("system");
    let log = log();
    let stuck = system
        .spawn("stuck", Recorder::new(&log, "s"))
        .await
        .expect("spawn");
    system
        .spawn("fine", Recorder::new(&log, "f"))
        .await
        .expect("spawn");
    stuck.tell(Sleep { millis: 60_000 }).await.expect("tell");
    let started = tokio::time::Instant::now();
    let err = system.stop().await.expect_err("one actor is stuck");
    assert!(started.elapsed() < Duration::from_secs(5));
    match err {
        SystemError::ShutdownTimeout { actors, .. } => assert_eq!(actors, vec!["stuck".to_owned()]),
        other => panic!("unexpected {other}"),
    }
    assert!(!stuck.is_running());
    assert_eq!(system.actor_count(), 0);
    assert!(stuck.tell(Ping { n: 1 }).await.is_err());
}

#[tokio::test]
async fn lifecycle_events_are_published() {
    let system = ActorSystem::builder("events").build().expect("system");
    let mut events = system.subscribe();
    let pid = system
        .spawn("a", Recorder::new(&log(), "a"))
        .await
        .expect("spawn");
    let event = next_event(&mut events, |e| matches!(e, Event::ActorStarted { .. })).await;
    assert!(matches!(event, Event::ActorStarted { pid: ref p } if *p == pid));
    pid.stop().await.expect("stop");
    let event = next_event(&mut events, |e| matches!(e, Event::ActorStopped { .. })).await;
    assert!(matches!(event, Event::ActorStopped { pid: ref p } if *p == pid));
    system.stop().await.expect("stop");
    assert!(
        events.recv().await.is_none(),
        "the stream ends with the system"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_many_busy_actors_reports_no_stragglers() {
    // An actor counts as stopped only once its name is free and its watchers know; a system
    // stop that looked earlier used to report actors still finishing as stuck.
    for round in 0..5 {
        let system = ActorSystem::builder(format!("many-{round}"))
            .build()
            .expect("system");
        let mut pids = Vec::new();
        for i in 0..500 {
            let pid = system
                .spawn_fn(&format!("a{i}"), |_ctx| Ok(()))
                .await
                .expect("spawn");
            pids.push(pid);
        }
        for (n, pid) in pids.iter().enumerate() {
            pid.tell(Ping { n: n as u64 }).await.expect("tell");
        }
        system.stop().await.expect("every actor stops in time");
        assert_eq!(system.actor_count(), 0);
        assert!(pids.iter().all(|p| !p.is_running()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_system_leaves_no_task_behind() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let system = ActorSystem::builder("no-leak").build().expect("system");
    let log = log();
    let parent = system
        .spawn("parent", Parent { log: log.clone() })
        .await
        .expect("spawn");
    for i in 0..20 {
        system
            .spawn(&format!("leaf{i}"), Recorder::new(&log, "leaf"))
            .await
            .expect("spawn");
    }
    parent.pipe_to(async { Ok::<_, std::io::Error>(Ping { n: 1 }) });
    wait_for(&log, |l| l.iter().any(|e| e == "child:post_start")).await;
    assert!(metrics.num_alive_tasks() > before);
    system.stop().await.expect("stop");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while metrics.num_alive_tasks() > before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} task(s) still alive after stop",
            metrics.num_alive_tasks() - before
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_dropped_without_stop_leaves_no_task_behind() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let system = ActorSystem::builder("dropped").build().expect("system");
    let pid = system
        .spawn("a", Recorder::new(&log(), "a"))
        .await
        .expect("spawn");
    let _: Pong = pid.ask(Ping { n: 1 }).await.expect("reply");
    pid.stop().await.expect("stop");
    drop(pid);
    drop(system);
    // The timer anchor notices within its one-second period; the ask-deadline task at once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while metrics.num_alive_tasks() > before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} task(s) still alive after the system was dropped",
            metrics.num_alive_tasks() - before
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

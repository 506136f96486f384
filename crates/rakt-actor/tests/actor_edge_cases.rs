//! Corner cases of failure, restart and stopping.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rakt_actor::{
    Actor, ActorError, ActorSystem, AskError, Context, DeadLetterReason, Event, LifecycleContext,
    MailboxConfig, SpawnOptions, StopError,
};
use rakt_proto::v1::PoisonPill;
use support::{Fail, Ping, Pong, Recorder, Sleep, log, next_event, wait_for};

#[tokio::test]
async fn an_unhandled_ask_reports_unhandled() {
    let system = ActorSystem::builder("unhandled").build().expect("system");
    let pid = system
        .spawn("rec", Recorder::new(&log(), "a"))
        .await
        .expect("spawn");
    // The recorder does not know `PoisonPill`-free `Pong`s: it calls `unhandled`.
    let err = pid
        .ask::<Pong, _>(Pong { n: 1 })
        .await
        .expect_err("unhandled");
    assert!(
        matches!(err, AskError::Unhandled { ref name } if name == "rec"),
        "{err}"
    );
    system.stop().await.expect("stop");
}

/// Starts once; every later `pre_start` fails.
struct StartsOnce {
    starts: Arc<AtomicU32>,
    stops: Arc<AtomicU32>,
}

impl Actor for StartsOnce {
    async fn pre_start(&mut self, _ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        if self.starts.fetch_add(1, Ordering::SeqCst) > 0 {
            return Err(ActorError::msg("cannot start twice"));
        }
        Ok(())
    }

    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<Fail>() {
            return Err(ActorError::msg("boom"));
        }
        if ctx.is::<Sleep>() {
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        Ok(())
    }

    async fn post_stop(&mut self, _ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        self.stops.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_restart_stops_the_actor_once_and_dead_letters_its_mailbox() {
    let system = ActorSystem::builder("broken")
        .init_retries(0)
        .build()
        .expect("system");
    let mut events = system.subscribe();
    let starts = Arc::new(AtomicU32::new(0));
    let stops = Arc::new(AtomicU32::new(0));
    let actor = StartsOnce {
        starts: starts.clone(),
        stops: stops.clone(),
    };
    let pid = system.spawn("once", actor).await.expect("spawn");
    pid.tell(Sleep { millis: 30 }).await.expect("tell");
    pid.tell(Fail { panic: false }).await.expect("tell");
    pid.tell(Ping { n: 1 }).await.expect("tell");
    tokio::time::timeout(Duration::from_secs(2), pid.wait_stopped())
        .await
        .expect("stops")
        .expect("not its own stop");
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    assert_eq!(stops.load(Ordering::SeqCst), 1, "post_stop runs once");
    let event = next_event(&mut events, |e| matches!(e, Event::DeadLetter(_))).await;
    let Event::DeadLetter(letter) = event else {
        unreachable!()
    };
    assert_eq!(letter.reason(), DeadLetterReason::ActorKilled);
    assert!(letter.message().downcast_ref::<Ping>().is_some());
    assert!(system.local_actor("once").is_none());
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn restart_on_request_reports_a_failed_pre_start() {
    let system = ActorSystem::builder("restart-fails")
        .init_retries(0)
        .build()
        .expect("system");
    let actor = StartsOnce {
        starts: Arc::default(),
        stops: Arc::default(),
    };
    let pid = system.spawn("once", actor).await.expect("spawn");
    let err = pid.restart().await.expect_err("pre_start fails");
    assert!(
        matches!(err, StopError::RestartFailed { ref error, .. } if error.contains("cannot start twice")),
        "{err}"
    );
    tokio::time::timeout(Duration::from_secs(2), pid.wait_stopped())
        .await
        .expect("stops")
        .expect("not its own stop");
    system.stop().await.expect("stop");
}

/// `pre_start` is fast the first time and slow afterwards.
struct SlowRestart {
    starts: u32,
}

impl Actor for SlowRestart {
    async fn pre_start(&mut self, _ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        self.starts += 1;
        if self.starts > 1 {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Ok(())
    }

    async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_restart_uses_the_actors_own_init_timeout() {
    // The system default would wait 60 s; the actor's own 50 ms applies.
    let system = ActorSystem::builder("init")
        .init_timeout(Duration::from_secs(60))
        .build()
        .expect("system");
    let options = SpawnOptions::new().init_timeout(Duration::from_millis(50));
    let pid = system
        .spawn_with("slow", SlowRestart { starts: 0 }, options)
        .await
        .expect("spawn");
    let started = tokio::time::Instant::now();
    let err = pid.restart().await.expect_err("times out");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(err, StopError::RestartFailed { ref error, .. } if error.contains("did not finish")),
        "{err}"
    );
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_pill_met_during_a_graceful_stop_still_cuts_the_queue() {
    let system = ActorSystem::builder("pill-drain").build().expect("system");
    let log = log();
    let pid = system
        .spawn("a", Recorder::new(&log, "a"))
        .await
        .expect("spawn");
    pid.tell(Sleep { millis: 50 }).await.expect("tell");
    wait_for(&log, |l| l.iter().any(|e| e == "a:sleeping")).await;
    pid.tell(Ping { n: 1 }).await.expect("tell");
    pid.tell(PoisonPill {}).await.expect("tell");
    pid.tell(Ping { n: 2 }).await.expect("tell");
    pid.stop().await.expect("stop");
    let seen = log.lock().clone();
    assert!(seen.contains(&"a:ping1".to_owned()));
    assert!(!seen.contains(&"a:ping2".to_owned()), "{seen:?}");
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn mailbox_errors_say_what_is_wrong() {
    let system = ActorSystem::builder("mb-errors").build().expect("system");
    let options = SpawnOptions::new().mailbox(MailboxConfig::NonBlockingBounded { capacity: 0 });
    let err = system
        .spawn_with("a", Recorder::new(&log(), "a"), options)
        .await
        .expect_err("zero");
    assert_eq!(
        err.to_string(),
        "invalid mailbox: mailbox capacity must be at least 1"
    );
    let bounded = MailboxConfig::Bounded {
        capacity: 4,
        push_timeout: Duration::ZERO,
    };
    let err = ActorSystem::builder("x")
        .default_mailbox(bounded)
        .build()
        .expect_err("zero timeout");
    assert_eq!(
        err.to_string(),
        "invalid default mailbox: push_timeout must be greater than zero"
    );
    // The system default is still valid and used when a spawn names no mailbox.
    system
        .spawn("b", Recorder::new(&log(), "b"))
        .await
        .expect("default mailbox");
    system.stop().await.expect("stop");
}

/// Tries to stop itself the wrong way, then the right way.
struct SelfStopper {
    outcome: Arc<Mutex<Option<String>>>,
}

impl Actor for SelfStopper {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<Ping>() {
            let me = ctx.pid().clone();
            let outcome = me.stop().await;
            *self.outcome.lock() = Some(format!("{outcome:?}"));
            ctx.stop_self();
        }
        Ok(())
    }
}

#[tokio::test]
async fn an_actor_awaiting_its_own_stop_gets_an_error_not_a_hang() {
    let system = ActorSystem::builder("own-stop").build().expect("system");
    let outcome = Arc::new(Mutex::new(None));
    let pid = system
        .spawn(
            "me",
            SelfStopper {
                outcome: outcome.clone(),
            },
        )
        .await
        .expect("spawn");
    pid.tell(Ping { n: 0 }).await.expect("tell");
    tokio::time::timeout(Duration::from_secs(2), pid.wait_stopped())
        .await
        .expect("stop_self works")
        .expect("not its own stop");
    let outcome = outcome.lock().clone().expect("ran");
    assert!(outcome.contains("OwnActor"), "{outcome}");
    system.stop().await.expect("stop");
}

#[test]
fn a_runtime_without_a_time_driver_is_a_typed_error() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let outcome = runtime.block_on(async { ActorSystem::builder("no-timers").build().map(drop) });
    assert!(
        matches!(outcome, Err(rakt_actor::SystemError::NoTimeDriver)),
        "{outcome:?}"
    );
}

/// Awaits its own `wait_stopped`, which must fail at once.
struct WaitsForItself {
    outcome: Arc<Mutex<Option<String>>>,
}

impl Actor for WaitsForItself {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<Ping>() {
            let me = ctx.pid().clone();
            *self.outcome.lock() = Some(format!("{:?}", me.wait_stopped().await));
        }
        Ok(())
    }
}

#[tokio::test]
async fn an_actor_waiting_for_its_own_stop_gets_an_error() {
    let system = ActorSystem::builder("own-wait").build().expect("system");
    let outcome = Arc::new(Mutex::new(None));
    let pid = system
        .spawn(
            "me",
            WaitsForItself {
                outcome: outcome.clone(),
            },
        )
        .await
        .expect("spawn");
    // The handler does not respond, so the ask ends (with `NoReply`) once it has run.
    let outcome_of_ask = pid.ask::<Pong, _>(Ping { n: 0 }).await;
    assert!(matches!(outcome_of_ask, Err(AskError::NoReply { .. })));
    let outcome = outcome.lock().clone().expect("ran");
    assert!(outcome.contains("OwnActor"), "{outcome}");
    system.stop().await.expect("stop");
}

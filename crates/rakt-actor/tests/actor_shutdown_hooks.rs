//! Coordinated shutdown: hook order, timeouts, retries and failure policies.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rakt_actor::{ActorError, ActorSystem, HookFailure, ShutdownHook, SystemError};
use support::{Ping, Pong, Recorder, log};

/// A hook that records its name in `trail` and then behaves as `outcome` says.
fn hook(
    trail: &Arc<Mutex<Vec<String>>>,
    name: &'static str,
    outcome: &'static str,
) -> ShutdownHook {
    let trail = trail.clone();
    ShutdownHook::new(name, move |_system| {
        let trail = trail.clone();
        async move {
            trail.lock().push(name.to_owned());
            match outcome {
                "fail" => Err(ActorError::msg(format!("{name} failed"))),
                "panic" => panic!("{name} panicked"),
                "hang" => {
                    tokio::time::sleep(Duration::from_secs(3_600)).await;
                    Ok(())
                }
                _ => Ok(()),
            }
        }
    })
}

#[tokio::test]
async fn hooks_run_in_order_before_the_actors_stop() {
    let trail = Arc::new(Mutex::new(Vec::new()));
    let actors = log();
    // The hook asks an actor: actors still run while hooks do.
    let asked = {
        let trail = trail.clone();
        ShutdownHook::new("asks", move |system: ActorSystem| {
            let trail = trail.clone();
            async move {
                let pid = system
                    .local_actor("a")
                    .ok_or_else(|| ActorError::msg("gone"))?;
                let pong: Pong = pid.ask(Ping { n: 7 }).await?;
                trail.lock().push(format!("asks:{}", pong.n));
                Ok(())
            }
        })
        .order(5)
    };
    let system = ActorSystem::builder("ordered")
        .shutdown_hook(hook(&trail, "late", "ok").order(10))
        .shutdown_hook(asked)
        .shutdown_hook(hook(&trail, "first-added", "ok"))
        .shutdown_hook(hook(&trail, "early", "ok").order(-1))
        .shutdown_hook(hook(&trail, "second-added", "ok"))
        .build()
        .expect("system");
    system
        .spawn("a", Recorder::new(&actors, "a"))
        .await
        .expect("spawn");
    system.stop().await.expect("stop");
    assert_eq!(
        *trail.lock(),
        ["early", "first-added", "second-added", "asks:7", "late"]
    );
    assert!(actors.lock().iter().any(|e| e == "a:post_stop"));
}

#[tokio::test(start_paused = true)]
async fn a_failing_hook_is_retried_then_continued_past() {
    let trail = Arc::new(Mutex::new(Vec::new()));
    let attempts = Arc::new(AtomicU32::new(0));
    let flaky = {
        let attempts = attempts.clone();
        ShutdownHook::new("flaky", move |_system| {
            let attempts = attempts.clone();
            async move {
                // Fails twice, then succeeds.
                if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(ActorError::msg("not yet"))
                } else {
                    Ok(())
                }
            }
        })
        .retries(3, Duration::from_millis(100))
    };
    let system = ActorSystem::builder("retry")
        .shutdown_hook(flaky)
        .shutdown_hook(hook(&trail, "broken", "fail").retries(2, Duration::ZERO))
        .shutdown_hook(hook(&trail, "panics", "panic"))
        .shutdown_hook(hook(&trail, "hangs", "hang").timeout(Duration::from_millis(50)))
        .shutdown_hook(hook(&trail, "after", "ok"))
        .build()
        .expect("system");
    system.stop().await.expect("continue is the default policy");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(
        *trail.lock(),
        ["broken", "broken", "broken", "panics", "hangs", "after"]
    );
    assert!(!system.is_running());
}

#[tokio::test(start_paused = true)]
async fn an_aborting_hook_abandons_the_stop() {
    let trail = Arc::new(Mutex::new(Vec::new()));
    let actors = log();
    let system = ActorSystem::builder("abort")
        .shutdown_hook(hook(&trail, "before", "ok"))
        .shutdown_hook(
            hook(&trail, "gate", "hang")
                .timeout(Duration::from_millis(20))
                .on_failure(HookFailure::Abort),
        )
        .shutdown_hook(hook(&trail, "after", "ok"))
        .build()
        .expect("system");
    let pid = system
        .spawn("a", Recorder::new(&actors, "a"))
        .await
        .expect("spawn");
    let err = system.stop().await.expect_err("aborted");
    assert!(
        matches!(err, SystemError::ShutdownHookFailed { ref hook, ref error } if hook == "gate" && error.contains("timed out")),
        "{err}"
    );
    assert_eq!(*trail.lock(), ["before", "gate"]);
    assert!(system.is_running());
    let pong: Pong = pid.ask(Ping { n: 1 }).await.expect("the actor still runs");
    assert_eq!(pong.n, 1);
    system
        .spawn("b", Recorder::new(&actors, "b"))
        .await
        .expect("spawns work again");
    // A second stop runs every hook again; the gate still aborts.
    assert!(system.stop().await.is_err());
    assert_eq!(*trail.lock(), ["before", "gate", "before", "gate"]);
}

#[tokio::test]
async fn a_hook_with_a_zero_timeout_is_refused() {
    let trail = Arc::new(Mutex::new(Vec::new()));
    let err = ActorSystem::builder("zero")
        .shutdown_hook(hook(&trail, "instant", "ok").timeout(Duration::ZERO))
        .build()
        .expect_err("invalid");
    assert!(
        matches!(err, SystemError::InvalidShutdownHook { .. }),
        "{err}"
    );
}

//! The kit itself: dead-letter and event expectations, settings, and shutting down without
//! leaving tasks behind, on both tokio runtimes.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rakt_actor::{
    Actor, ActorError, ActorSystem, AskError, Context, DeadLetterReason, Event, LifecycleContext,
    SystemError,
};
use rakt_testkit::{DEFAULT_EXPECT_TIMEOUT, TestKit};
use support::{Echo, Hold, Ping, Pong, assert_points_at, panic_message};

const SHORT: Duration = Duration::from_millis(60);

#[tokio::test]
async fn expect_dead_letter_finds_a_lost_message_even_after_the_fact() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    echo.stop().await.unwrap();
    assert!(echo.tell(Ping { n: 1 }).await.is_err());
    assert!(echo.tell(Ping { n: 2 }).await.is_err());

    // Out of order: the kit takes the first match, wherever it is.
    let second = kit.expect_dead_letter(Ping { n: 2 }).await;
    assert_eq!(second.reason(), DeadLetterReason::ActorStopped);
    assert!(second.receiver().ends_with("echo"), "{}", second.receiver());
    let first = kit
        .expect_dead_letter_matching(|letter| {
            letter.message().downcast_ref() == Some(&Ping { n: 1 })
        })
        .await;
    assert_eq!(first.reason(), DeadLetterReason::ActorStopped);
    assert_eq!(kit.dead_letters().len(), 2);

    // Each dead letter is taken once.
    let line = line!();
    let message = panic_message(kit.expect_dead_letter(Ping { n: 2 })).await;
    assert!(message.contains("expect_dead_letter failed"), "{message}");
    assert!(message.contains("test kit `testkit`"), "{message}");
    assert!(
        message.contains("expected: a dead letter Ping { n: 2 }"),
        "{message}"
    );
    assert!(message.contains("nothing arrived within 60ms"), "{message}");
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expect_dead_letter_lists_the_other_dead_letters_when_it_fails() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    echo.stop().await.unwrap();
    let _ = echo.tell(Pong { n: 5 }).await;
    let error = kit
        .expect_dead_letter(Ping { n: 5 })
        .outcome()
        .await
        .unwrap_err();
    let received = error.received().unwrap();
    assert!(
        received.starts_with("only other dead letters: dead letter Pong { n: 5 }"),
        "{received}"
    );
    assert!(received.contains("(actor stopped)"), "{received}");
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expect_no_dead_letter_looks_only_forward() {
    let kit = TestKit::new();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    echo.stop().await.unwrap();
    let _ = echo.tell(Ping { n: 1 }).await;
    // That one was before: it does not count.
    kit.expect_no_dead_letter(SHORT).await;

    let lose = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let _ = echo.tell(Ping { n: 2 }).await;
    };
    let line = line!();
    let (message, ()) = tokio::join!(panic_message(kit.expect_no_dead_letter(SHORT)), lose);
    assert!(
        message.contains("expected: no dead letter within 60ms"),
        "{message}"
    );
    assert!(
        message.contains("received: dead letter Ping { n: 2 }"),
        "{message}"
    );
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expect_event_takes_the_first_matching_event() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    let started = kit
        .expect_event(|event| matches!(event, Event::ActorStarted { pid } if pid.name() == "echo"))
        .await;
    assert!(matches!(started, Event::ActorStarted { pid } if pid == echo));
    kit.spawn("bystander", Echo).await.unwrap();

    let line = line!();
    let message =
        panic_message(kit.expect_event(|event| matches!(event, Event::ActorStopped { .. }))).await;
    assert!(message.contains("expect_event failed"), "{message}");
    assert!(
        message.contains("expected: an event matching the predicate"),
        "{message}"
    );
    assert!(
        message.contains("received: only other events: "),
        "{message}"
    );
    assert_points_at(&message, file!(), line);

    echo.stop().await.unwrap();
    kit.expect_event(|event| matches!(event, Event::ActorStopped { pid } if *pid == echo))
        .await;
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn the_builder_sets_the_name_timeouts_and_system_settings() {
    let kit = TestKit::builder()
        .name("settings")
        .expect_timeout(Duration::from_millis(250))
        .system(|system| system.extension(7u8).ask_timeout(Duration::from_millis(30)))
        .build()
        .unwrap();
    assert_eq!(kit.system().name(), "settings");
    assert_eq!(kit.expect_timeout(), Duration::from_millis(250));
    assert_eq!(kit.system().extension::<u8>(), Some(&7));
    let mut probe = kit.probe().await.unwrap();
    assert_eq!(probe.expect_timeout(), Duration::from_millis(250));
    probe.set_expect_timeout(Duration::from_millis(20));
    let error = probe.expect_any_message().outcome().await.unwrap_err();
    assert_eq!(error.timeout(), Duration::from_millis(20));

    // The system's own ask timeout, overridden by the configuration, applies to asks.
    let silent = kit.spawn("silent", Hold::default()).await.unwrap();
    let started = tokio::time::Instant::now();
    let outcome = probe.ask::<Pong, _>(&silent, Ping { n: 1 }).await;
    assert!(matches!(outcome, Err(AskError::Timeout { .. })));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(30) && waited < Duration::from_secs(1));

    // Bad settings are the system's errors.
    let bad = TestKit::builder()
        .system(|system| system.ask_timeout(Duration::ZERO))
        .build();
    assert!(matches!(bad, Err(SystemError::ZeroDuration { .. })));
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn defaults_are_test_friendly() {
    let kit = TestKit::new();
    assert_eq!(kit.expect_timeout(), DEFAULT_EXPECT_TIMEOUT);
    assert_eq!(DEFAULT_EXPECT_TIMEOUT, Duration::from_secs(3));
    let silent = kit.spawn("silent", Hold::default()).await.unwrap();
    let probe = kit.probe().await.unwrap();
    let started = tokio::time::Instant::now();
    let outcome = probe.ask::<Pong, _>(&silent, Ping { n: 1 }).await;
    assert!(matches!(outcome, Err(AskError::Timeout { .. })));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "the default ask timeout is 1 s, waited {waited:?}"
    );
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn attach_wraps_a_system_built_elsewhere() {
    let system = ActorSystem::builder("elsewhere").build().unwrap();
    let kit = TestKit::builder()
        .expect_timeout(SHORT)
        .attach(system.clone())
        .unwrap();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    let mut probe = kit.probe().await.unwrap();
    probe.tell(&echo, Ping { n: 3 }).await.unwrap();
    probe.expect_message(Pong { n: 3 }).await;
    kit.stop().await.unwrap();
    assert!(!system.is_running());
}

#[test]
fn a_kit_needs_a_runtime_and_says_so() {
    assert!(matches!(
        TestKit::builder().build(),
        Err(SystemError::NoRuntime)
    ));
    let panic = std::panic::catch_unwind(TestKit::new).unwrap_err();
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        text.starts_with(
            "cannot start a test kit: an actor system must be built inside a tokio runtime"
        ),
        "{text}"
    );
}

/// Uses a kit fully, drops it without `shutdown`, and checks that every task it started
/// ends: the runtime's count of live tasks comes back to what it was.
async fn dropping_a_kit_ends_its_tasks() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    {
        let kit = TestKit::new();
        let mut probes = Vec::new();
        for n in 0..3 {
            let echo = kit.spawn(&format!("echo-{n}"), Echo).await.unwrap();
            let mut probe = kit.probe().await.unwrap();
            probe.tell(&echo, Ping { n }).await.unwrap();
            probe.expect_message(Pong { n }).await;
            probes.push(probe);
        }
        let system = kit.system().clone();
        assert!(metrics.num_alive_tasks() > before);
        drop(probes);
        drop(kit);
        // Bounded: 500 rounds of 10 ms.
        for _ in 0..500 {
            if !system.is_running() && system.actor_count() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!system.is_running(), "the dropped kit's system still runs");
        assert_eq!(system.actor_count(), 0);
    }
    for _ in 0..500 {
        if metrics.num_alive_tasks() == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metrics.num_alive_tasks(), before, "tasks left behind");
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_a_kit_ends_its_tasks_on_the_current_thread_runtime() {
    dropping_a_kit_ends_its_tasks().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_kit_ends_its_tasks_on_the_multi_thread_runtime() {
    dropping_a_kit_ends_its_tasks().await;
}

/// A probe conversation, the same on both runtimes.
async fn a_conversation() {
    let kit = TestKit::new();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    let mut probe = kit.probe().await.unwrap();
    for n in 0..100 {
        probe.tell(&echo, Ping { n }).await.unwrap();
    }
    for n in 0..100 {
        probe.expect_message(Pong { n }).await;
    }
    probe.expect_no_message(Duration::from_millis(20)).await;
    let failure = panic_message(probe.expect_any_message().within(Duration::from_millis(20))).await;
    assert!(failure.contains("nothing arrived"));
    kit.stop().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn probes_work_on_the_current_thread_runtime() {
    a_conversation().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_work_on_the_multi_thread_runtime() {
    a_conversation().await;
}

#[tokio::test]
async fn expect_dead_letter_matching_fails_with_the_callers_line() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    echo.stop().await.unwrap();
    let _ = echo.tell(Ping { n: 1 }).await;
    let line = line!();
    let message = panic_message(
        kit.expect_dead_letter_matching(|l| l.reason() == DeadLetterReason::MailboxFull),
    )
    .await;
    assert!(
        message.starts_with("expect_dead_letter_matching failed at "),
        "{message}"
    );
    assert!(
        message.contains("expected: a dead letter matching the predicate"),
        "{message}"
    );
    assert!(
        message.contains("only other dead letters: dead letter Ping { n: 1 }"),
        "{message}"
    );
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expectations_and_reads_of_the_kit_do_not_wait_on_each_other() {
    let kit = TestKit::new();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    // A long expectation waits while a short one and a read go on beside it.
    let quiet = kit
        .expect_no_dead_letter(Duration::from_millis(400))
        .outcome();
    let others = async {
        let started = tokio::time::Instant::now();
        assert!(kit.dead_letters().is_empty());
        echo.stop().await.unwrap();
        let stopped = kit
            .expect_event(|e| matches!(e, Event::ActorStopped { pid } if *pid == echo))
            .within(Duration::from_millis(300))
            .outcome()
            .await;
        assert!(stopped.is_ok(), "{stopped:?}");
        assert!(started.elapsed() < Duration::from_millis(300));
        // A read sees a dead letter made by a send that returned, at once.
        let _ = echo.tell(Ping { n: 1 }).await;
        assert_eq!(kit.dead_letters().len(), 1);
    };
    let (quiet, ()) = tokio::join!(quiet, others);
    let error = quiet.unwrap_err();
    assert!(
        error.received().unwrap().contains("Ping { n: 1 }"),
        "{error}"
    );
    kit.stop().await.unwrap();
}

/// Counts `post_stop`s, to see whether a stop was graceful.
struct Graceful(Arc<AtomicUsize>);

impl Actor for Graceful {
    async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        Ok(())
    }

    async fn post_stop(&mut self, _ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kit_dropped_on_the_multi_thread_runtime_stops_gracefully_before_the_test_goes_on() {
    let stopped = Arc::new(AtomicUsize::new(0));
    let kit = TestKit::new();
    for n in 0..3 {
        kit.spawn(&format!("graceful-{n}"), Graceful(stopped.clone()))
            .await
            .unwrap();
    }
    let system = kit.system().clone();
    drop(kit);
    // No await since the drop: the stop happened inside it.
    assert_eq!(stopped.load(Ordering::SeqCst), 3);
    assert!(!system.is_running());
    assert_eq!(system.actor_count(), 0);
}

#[test]
fn a_runtime_that_ends_right_after_the_kit_takes_every_task_with_it() {
    let stopped = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let system = runtime.block_on(async {
        let kit = TestKit::new();
        kit.spawn("graceful", Graceful(stopped.clone()))
            .await
            .unwrap();
        kit.system().clone()
        // The kit drops here; on this runtime its stop is a task that never gets to run.
    });
    let metrics = runtime.metrics();
    assert!(metrics.num_alive_tasks() > 0);
    drop(runtime);
    // The runtime dropped the actors' tasks, and with them the last handles on the system:
    // what is left is this handle.
    assert_eq!(stopped.load(Ordering::SeqCst), 0, "no graceful stop ran");
    assert_eq!(metrics.num_alive_tasks(), 0);
    drop(system);
}

//! Each mailbox kind, seen through the actor API.

mod support;

use std::time::Duration;

use rakt_actor::{
    ActorSystem, AnyMessage, Context, DeadLetterReason, Event, FnActor, MailboxConfig,
    MessageOrder, Pid, SendError, SpawnError, SpawnOptions,
};
use support::{Ping, Pong, Recorder, Sleep, log, next_event, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_non_blocking_mailbox_dead_letters_and_counts() {
    let system = ActorSystem::builder("nb").build().expect("system");
    let mut events = system.subscribe();
    let log = log();
    let options = SpawnOptions::new().mailbox(MailboxConfig::NonBlockingBounded { capacity: 2 });
    let pid = system
        .spawn_with("a", Recorder::new(&log, "a"), options)
        .await
        .expect("spawn");
    pid.tell(Sleep { millis: 100 }).await.expect("tell");
    wait_for(&log, |l| l.iter().any(|e| e == "a:sleeping")).await;
    pid.try_tell(Ping { n: 1 }).expect("room");
    pid.try_tell(Ping { n: 2 }).expect("room");
    let err = pid.try_tell(Ping { n: 3 }).expect_err("full");
    assert_eq!(err, SendError::MailboxFull { name: "a".into() });
    let err = pid
        .tell(Ping { n: 4 })
        .await
        .expect_err("full, never waits");
    assert_eq!(err, SendError::MailboxFull { name: "a".into() });
    let event = next_event(&mut events, |e| matches!(e, Event::DeadLetter(_))).await;
    let Event::DeadLetter(letter) = event else {
        unreachable!()
    };
    assert_eq!(letter.reason(), DeadLetterReason::MailboxFull);
    assert_eq!(
        letter.message().downcast_ref::<Ping>().map(|p| p.n),
        Some(3)
    );
    assert_eq!(pid.metrics().dead_letters, 2);
    wait_for(&log, |l| l.iter().any(|e| e == "a:ping2")).await;
    system.stop().await.expect("stop");
}

/// A `Recorder` named `a` with a bounded mailbox of one, sleeping for 100 ms in a handler
/// while `Ping 1` fills its mailbox.
async fn busy_with_a_full_mailbox(
    system: &ActorSystem,
    log: &support::Log,
    push_timeout: Duration,
) -> Pid {
    let options = SpawnOptions::new().mailbox(MailboxConfig::Bounded {
        capacity: 1,
        push_timeout,
    });
    let pid = system
        .spawn_with("a", Recorder::new(log, "a"), options)
        .await
        .expect("spawn");
    pid.tell(Sleep { millis: 100 }).await.expect("tell");
    wait_for(log, |l| l.iter().any(|e| e == "a:sleeping")).await;
    pid.tell(Ping { n: 1 }).await.expect("fills the mailbox");
    pid
}

/// Asserts that a send started at `started` had to wait for the sleeping handler.
fn assert_waited(started: tokio::time::Instant) {
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_mailbox_makes_senders_wait_then_times_out() {
    let system = ActorSystem::builder("bounded").build().expect("system");
    let log = log();
    let pid = busy_with_a_full_mailbox(&system, &log, Duration::from_millis(500)).await;
    // Waits until the sleep ends and the actor takes `Ping 1`.
    let started = tokio::time::Instant::now();
    pid.tell(Ping { n: 2 }).await.expect("waits for space");
    assert_waited(started);
    wait_for(&log, |l| l.iter().any(|e| e == "a:ping2")).await;

    pid.tell(Sleep { millis: 2_000 }).await.expect("tell");
    wait_for(&log, |l| {
        l.iter().filter(|e| *e == "a:sleeping").count() == 2
    })
    .await;
    pid.tell(Ping { n: 3 }).await.expect("fills the mailbox");
    let err = pid.tell(Ping { n: 4 }).await.expect_err("times out");
    assert_eq!(err, SendError::MailboxTimeout { name: "a".into() });
    // System-wide, the `Pong` replies to sender-less pings are dead letters too.
    assert_eq!(pid.metrics().dead_letters, 1);
    assert_eq!(system.dead_letter_count(), 3);
    pid.kill().await.expect("kill");
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_waits_for_space_in_a_bounded_mailbox_then_gets_its_reply() {
    let system = ActorSystem::builder("bounded-ask").build().expect("system");
    let log = log();
    let pid = busy_with_a_full_mailbox(&system, &log, Duration::from_secs(5)).await;
    // The question cannot be queued before the sleep ends and `Ping 1` leaves the mailbox.
    let started = tokio::time::Instant::now();
    let reply: Pong = pid.ask(Ping { n: 2 }).await.expect("answered once queued");
    assert_eq!(reply.n, 2);
    assert_waited(started);
    let entries = log.lock().clone();
    let first = entries.iter().position(|e| e == "a:ping1");
    let second = entries.iter().position(|e| e == "a:ping2");
    assert!(first.is_some() && first < second, "{entries:?}");
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn invalid_mailbox_settings_are_rejected() {
    let system = ActorSystem::builder("badbox").build().expect("system");
    let options = SpawnOptions::new().mailbox(MailboxConfig::NonBlockingBounded { capacity: 0 });
    let err = system
        .spawn_with("a", Recorder::new(&log(), "a"), options)
        .await
        .expect_err("zero");
    assert!(matches!(err, SpawnError::InvalidMailbox { .. }), "{err}");
    system.stop().await.expect("stop");
}

fn rank(message: &dyn AnyMessage) -> u64 {
    message.downcast_ref::<Ping>().map_or(0, |p| p.n / 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_mailboxes_order_messages() {
    let system = ActorSystem::builder("prio").build().expect("system");
    let order = MessageOrder::new(|a: &dyn AnyMessage, b: &dyn AnyMessage| rank(a).cmp(&rank(b)));
    for (name, config) in [
        ("stable", MailboxConfig::StablePriority(order.clone())),
        ("plain", MailboxConfig::Priority(order.clone())),
    ] {
        let log = log();
        let options = SpawnOptions::new().mailbox(config);
        let pid = system
            .spawn_with(name, Recorder::new(&log, "p"), options)
            .await
            .expect("spawn");
        pid.tell(Sleep { millis: 50 }).await.expect("tell");
        wait_for(&log, |l| l.iter().any(|e| e == "p:sleeping")).await;
        for n in [1, 31, 2, 32, 21, 3] {
            pid.tell(Ping { n }).await.expect("tell");
        }
        let seen = wait_for(&log, |l| l.len() == 10).await;
        let pings: Vec<&str> = seen[4..].iter().map(String::as_str).collect();
        if name == "stable" {
            assert_eq!(
                pings,
                [
                    "p:ping31", "p:ping32", "p:ping21", "p:ping1", "p:ping2", "p:ping3"
                ]
            );
        } else {
            let ranks: Vec<u64> = pings
                .iter()
                .map(|p| {
                    p.trim_start_matches("p:ping")
                        .parse::<u64>()
                        .expect("number")
                        / 10
                })
                .collect();
            assert_eq!(ranks, [3, 3, 2, 0, 0, 0]);
        }
    }
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fair_mailbox_interleaves_senders() {
    let system = ActorSystem::builder("fair").build().expect("system");
    let log = log();
    let options = SpawnOptions::new().mailbox(MailboxConfig::Fair);
    let sink = system
        .spawn_with("sink", Recorder::new(&log, "s"), options)
        .await
        .expect("spawn");
    sink.tell(Sleep { millis: 100 }).await.expect("tell");
    wait_for(&log, |l| l.iter().any(|e| e == "s:sleeping")).await;
    // A noisy sender queues 200 messages, then a quiet one queues 2.
    let noisy_target = sink.clone();
    let noisy = system
        .spawn_fn("noisy", move |ctx: &mut Context<'_, FnActor>| {
            if ctx.is::<rakt_proto::v1::PostStart>() {
                for n in 0..200 {
                    ctx.try_tell(&noisy_target, Ping { n })?;
                }
            }
            Ok(())
        })
        .await
        .expect("spawn");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sink.metrics().mailbox_len < 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "noisy sender never queued"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let quiet_target = sink.clone();
    system
        .spawn_fn("quiet", move |ctx: &mut Context<'_, FnActor>| {
            if ctx.is::<rakt_proto::v1::PostStart>() {
                ctx.try_tell(&quiet_target, Ping { n: 1000 })?;
                ctx.try_tell(&quiet_target, Ping { n: 1001 })?;
            }
            Ok(())
        })
        .await
        .expect("spawn");
    let seen = wait_for(&log, |l| l.iter().any(|e| e == "s:ping1001")).await;
    let first_quiet = seen
        .iter()
        .position(|e| e == "s:ping1000")
        .expect("quiet handled");
    let pings_before = seen[..first_quiet]
        .iter()
        .filter(|e| e.starts_with("s:ping"))
        .count();
    assert!(
        pings_before <= 3,
        "quiet sender waited behind {pings_before} noisy messages"
    );
    assert!(noisy.is_running());
    system.stop().await.expect("stop");
}

//! Every probe expectation, met and failed, and what a probe does as a sender.

mod support;

use std::time::Duration;

use rakt_actor::messages::Terminated;
use rakt_actor::{Actor, ActorError, AskError, Context, MailboxConfig, Passivation, Pid};
use rakt_proto::v1::{PostStart, StatusFailure};
use rakt_testkit::{TestKit, TestKitError};
use support::{Echo, Fail, Hold, Open, Ping, Pong, assert_points_at, panic_message};

const SHORT: Duration = Duration::from_millis(60);

#[tokio::test]
async fn expect_message_takes_the_equal_message() {
    let kit = TestKit::new();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    let mut probe = kit.probe().await.unwrap();
    probe.tell(&echo, Ping { n: 1 }).await.unwrap();
    let pong = probe.expect_message(Pong { n: 1 }).await;
    assert_eq!(pong, Pong { n: 1 });
    assert_eq!(probe.sender(), Some(&echo));
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expect_message_fails_on_another_message_and_says_what_came() {
    let kit = TestKit::new();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    let mut probe = kit.probe().await.unwrap();
    probe.tell(&echo, Ping { n: 2 }).await.unwrap();
    let line = line!();
    let message = panic_message(probe.expect_message(Pong { n: 1 })).await;
    assert!(
        message.starts_with("expect_message failed at "),
        "{message}"
    );
    assert!(message.contains("probe `probe-1`"), "{message}");
    assert!(
        message.contains("expected: Pong { n: 1 } (testkit.v1.Pong)"),
        "{message}"
    );
    assert!(
        message.contains("received: Pong { n: 2 } (testkit.v1.Pong) after "),
        "{message}"
    );
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expect_message_fails_when_nothing_arrives_in_time() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let mut probe = kit.probe().await.unwrap();
    let line = line!();
    let message = panic_message(probe.expect_message(Pong { n: 1 })).await;
    assert!(
        message.contains("received: nothing arrived within 60ms"),
        "{message}"
    );
    assert_points_at(&message, file!(), line);

    // The outcome form gives the same failure as a value.
    let error = probe
        .expect_message(Pong { n: 1 })
        .within(Duration::from_millis(10))
        .outcome()
        .await
        .unwrap_err();
    assert_eq!(error.expectation(), "expect_message");
    assert_eq!(error.received(), None);
    assert_eq!(error.timeout(), Duration::from_millis(10));
    assert!(error.after() >= Duration::from_millis(10));
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expect_message_within_waits_as_long_as_it_is_told() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let mut probe = kit.probe().await.unwrap();
    let me = probe.pid().clone();
    // The reply comes after the default timeout, but within the explicit one.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        me.tell(Pong { n: 7 }).await
    });
    probe
        .expect_message_within(Duration::from_secs(3), Pong { n: 7 })
        .await;

    let line = line!();
    let message =
        panic_message(probe.expect_message_within(Duration::from_millis(20), Pong { n: 8 })).await;
    assert!(message.contains("nothing arrived within 20ms"), "{message}");
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expect_message_of_type_takes_any_value_of_the_type() {
    let kit = TestKit::new();
    let mut probe = kit.probe().await.unwrap();
    probe.pid().tell(Pong { n: 42 }).await.unwrap();
    let pong: Pong = probe.expect_message_of_type().await;
    assert_eq!(pong.n, 42);

    probe.pid().tell(Ping { n: 1 }).await.unwrap();
    let line = line!();
    let message = panic_message(probe.expect_message_of_type::<Pong>()).await;
    assert!(
        message.contains("expected: a message of type testkit.v1.Pong"),
        "{message}"
    );
    assert!(message.contains("received: Ping { n: 1 }"), "{message}");
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expect_message_matching_checks_the_predicate() {
    let kit = TestKit::new();
    let mut probe = kit.probe().await.unwrap();
    probe.pid().tell(Pong { n: 10 }).await.unwrap();
    let pong = probe.expect_message_matching(|p: &Pong| p.n > 5).await;
    assert_eq!(pong.n, 10);

    probe.pid().tell(Pong { n: 1 }).await.unwrap();
    let line = line!();
    let message = panic_message(probe.expect_message_matching(|p: &Pong| p.n > 5)).await;
    assert!(message.contains("matching the predicate"), "{message}");
    assert!(message.contains("received: Pong { n: 1 }"), "{message}");
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expect_any_message_takes_whatever_comes() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let mut probe = kit.probe().await.unwrap();
    probe.pid().tell(Ping { n: 3 }).await.unwrap();
    let any = probe.expect_any_message().await;
    assert_eq!(any.downcast_ref::<Ping>(), Some(&Ping { n: 3 }));
    assert_eq!(
        probe.last_message().and_then(|m| m.downcast_ref::<Ping>()),
        Some(&Ping { n: 3 })
    );

    let line = line!();
    let message = panic_message(probe.expect_any_message()).await;
    assert!(message.contains("expected: any message"), "{message}");
    assert!(message.contains("nothing arrived within 60ms"), "{message}");
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expect_no_message_fails_when_one_arrives() {
    let kit = TestKit::new();
    let mut probe = kit.probe().await.unwrap();
    probe.expect_no_message(SHORT).await;

    probe.pid().tell(Ping { n: 9 }).await.unwrap();
    let line = line!();
    let message = panic_message(probe.expect_no_message(SHORT)).await;
    assert!(
        message.contains("expected: no message within 60ms"),
        "{message}"
    );
    assert!(message.contains("received: Ping { n: 9 }"), "{message}");
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expect_terminated_sees_a_watched_actor_stop() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    let other = kit.spawn("other", Echo).await.unwrap();
    let mut probe = kit.probe().await.unwrap();
    probe.watch(&echo);
    echo.stop().await.unwrap();
    let terminated: Terminated = probe.expect_terminated(&echo).await;
    assert_eq!(terminated.address, echo.address().to_string());
    assert_eq!(probe.sender(), Some(&echo));

    // `other` runs, so no Terminated of it comes.
    probe.watch(&other);
    let line = line!();
    let message = panic_message(probe.expect_terminated(&other)).await;
    assert!(
        message.contains("expected: Terminated of `rakt://testkit/other`"),
        "{message}"
    );
    assert!(message.contains("nothing arrived"), "{message}");
    assert_points_at(&message, file!(), line);

    // Another message in its place fails too.
    probe.pid().tell(Ping { n: 1 }).await.unwrap();
    let message = panic_message(probe.expect_terminated(&other)).await;
    assert!(message.contains("received: Ping { n: 1 }"), "{message}");
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn watch_named_finds_the_actor_by_name() {
    let kit = TestKit::new();
    let echo = kit.spawn("named", Echo).await.unwrap();
    let mut probe = kit.probe().await.unwrap();
    let watched = probe.watch_named("named").await.unwrap();
    assert_eq!(watched, echo);
    echo.kill().await.unwrap();
    probe.expect_terminated(&echo).await;
    assert!(probe.watch_named("nobody").await.is_err());
    kit.stop().await.unwrap();
}

/// Spawns a child named after each `Open { n }`: `child-<n>`.
struct Parent;

impl Actor for Parent {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(open) = ctx.take_message::<Open>() {
            ctx.spawn_child(&format!("child-{}", open.n), Echo).await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn expect_child_spawned_sees_children_spawned_before_and_after() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let parent = kit.spawn("parent", Parent).await.unwrap();
    let probe = kit.probe().await.unwrap();

    // Spawned before the expectation.
    parent.tell(Open { n: 1 }).await.unwrap();
    let child = probe.expect_child_spawned(&parent, "child-1").await;
    assert_eq!(child.parent(), Some(&parent));

    // Spawned while the expectation waits.
    let expectation = probe.expect_child_spawned(&parent, "child-2");
    let (child, sent) = tokio::join!(expectation.outcome(), parent.tell(Open { n: 2 }));
    sent.unwrap();
    assert_eq!(child.unwrap().name(), "child-2");

    // A child of another name does not count, and the failure names it.
    let outcome = probe.expect_child_spawned(&parent, "child-9").outcome();
    let (error, sent) = tokio::join!(outcome, parent.tell(Open { n: 3 }));
    sent.unwrap();
    let error = error.unwrap_err();
    assert_eq!(error.expected(), "a child `child-9` of `parent`");
    assert_eq!(
        error.received(),
        Some("only other children: child `child-3`")
    );

    let line = line!();
    let message = panic_message(probe.expect_child_spawned(&parent, "child-9")).await;
    assert!(message.contains("expect_child_spawned failed"), "{message}");
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn receive_n_collects_in_order_or_reports_what_came() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let mut probe = kit.probe().await.unwrap();
    for n in 0..3 {
        probe.pid().tell(Ping { n }).await.unwrap();
    }
    let received = probe.receive_n(3).await;
    let numbers: Vec<u64> = received
        .iter()
        .filter_map(|m| m.downcast_ref::<Ping>())
        .map(|p| p.n)
        .collect();
    assert_eq!(numbers, [0, 1, 2]);

    probe.pid().tell(Ping { n: 5 }).await.unwrap();
    let line = line!();
    let message = panic_message(probe.receive_n(2)).await;
    assert!(message.contains("expected: 2 messages"), "{message}");
    assert!(
        message.contains("received: 1 message(s): Ping { n: 5 }"),
        "{message}"
    );
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn fish_for_message_skips_until_a_match() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let mut probe = kit.probe().await.unwrap();
    probe.pid().tell(Ping { n: 1 }).await.unwrap();
    probe.pid().tell(Pong { n: 1 }).await.unwrap();
    probe.pid().tell(Pong { n: 2 }).await.unwrap();
    probe.pid().tell(Pong { n: 3 }).await.unwrap();
    let pong = probe.fish_for_message(|p: &Pong| p.n == 2).await;
    assert_eq!(pong.n, 2);
    // What came after the match stays for later.
    probe.expect_message(Pong { n: 3 }).await;

    probe.pid().tell(Pong { n: 4 }).await.unwrap();
    let line = line!();
    let message = panic_message(probe.fish_for_message(|p: &Pong| p.n == 99)).await;
    assert!(
        message.contains("only non-matching messages: Pong { n: 4 }"),
        "{message}"
    );
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn clear_messages_drops_what_is_queued() {
    let kit = TestKit::new();
    let mut probe = kit.probe().await.unwrap();
    for n in 0..4 {
        probe.pid().tell(Ping { n }).await.unwrap();
    }
    // Wait for the last one, so that all four reached the probe.
    let mut cleared = 0;
    for _ in 0..100 {
        cleared += probe.clear_messages();
        if cleared == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(cleared, 4);
    probe.expect_no_message(SHORT).await;
    kit.stop().await.unwrap();
}

/// Asks the actor it was told about for a `Pong` and passes the answer to its own sender.
struct Middle {
    backend: Pid,
}

impl Actor for Middle {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(ping) = ctx.take_message::<Ping>() {
            let reply: Pong = ctx.ask(&self.backend, Ping { n: ping.n }).await?;
            ctx.respond(reply);
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_probe_answers_an_ask_from_the_actor_under_test() {
    let kit = TestKit::new();
    let mut backend = kit.probe_named("backend").await.unwrap();
    let middle = kit
        .spawn(
            "middle",
            Middle {
                backend: backend.pid().clone(),
            },
        )
        .await
        .unwrap();
    let mut client = kit.probe().await.unwrap();

    client.tell(&middle, Ping { n: 4 }).await.unwrap();
    // The backend probe gets the question from `middle`, and answers it.
    backend.expect_message(Ping { n: 4 }).await;
    assert_eq!(backend.sender(), Some(&middle));
    backend.respond(Pong { n: 40 }).unwrap();
    client.expect_message(Pong { n: 40 }).await;
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn forward_keeps_the_original_sender_and_asker() {
    let kit = TestKit::new();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    let mut relay = kit.probe_named("relay").await.unwrap();
    let mut client = kit.probe_named("client").await.unwrap();

    // A tell: the echo answers the client, not the relay.
    client.tell(relay.pid(), Ping { n: 1 }).await.unwrap();
    relay.expect_message(Ping { n: 1 }).await;
    relay.forward(&echo).await.unwrap();
    client.expect_message(Pong { n: 1 }).await;
    assert_eq!(client.sender(), Some(&echo));
    relay.expect_no_message(SHORT).await;

    // An ask: the echo answers the asker directly.
    let relay_pid = relay.pid().clone();
    let asking = client.ask::<Pong, _>(&relay_pid, Ping { n: 2 });
    let relaying = async {
        relay.expect_message(Ping { n: 2 }).await;
        relay.forward(&echo).await
    };
    let (reply, forwarded) = tokio::join!(asking, relaying);
    forwarded.unwrap();
    assert_eq!(reply.unwrap(), Pong { n: 2 });

    // The forwarded message is used up.
    assert!(matches!(
        relay.forward(&echo).await,
        Err(TestKitError::NoMessage {
            operation: "forward",
            ..
        })
    ));
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn ask_from_a_probe_names_the_probe_as_sender() {
    let kit = TestKit::new();
    let who = kit
        .system()
        .spawn_fn("who", |ctx: &mut Context<'_, _>| {
            let n = ctx.sender().map_or(0, |s| s.name().len() as u64);
            ctx.respond(Pong { n });
            Ok(())
        })
        .await
        .unwrap();
    let probe = kit.probe_named("seven").await.unwrap();
    let reply: Pong = probe.ask(&who, Ping { n: 0 }).await.unwrap();
    assert_eq!(reply.n, "seven".len() as u64);

    // An actor that never answers: the ask's own timeout decides.
    let silent = kit.spawn("silent", Hold::default()).await.unwrap();
    let started = tokio::time::Instant::now();
    let outcome = probe
        .ask::<Pong, _>(&silent, Ping { n: 0 })
        .timeout(Duration::from_millis(20))
        .await;
    assert!(
        matches!(outcome, Err(AskError::Timeout { .. })),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(900));
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_actor_is_seen_through_the_probe() {
    let kit = TestKit::builder().expect_timeout(SHORT).build().unwrap();
    let echo = kit.spawn("echo", Echo).await.unwrap();
    let mut probe = kit.probe().await.unwrap();
    probe
        .tell(
            &echo,
            Fail {
                reason: "boom".into(),
            },
        )
        .await
        .unwrap();
    // The default supervisor restarts it: it still answers.
    probe.tell(&echo, Ping { n: 1 }).await.unwrap();
    probe.expect_message(Pong { n: 1 }).await;
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn a_dropped_probe_stops_its_actor() {
    let kit = TestKit::new();
    let probe = kit.probe().await.unwrap();
    let pid = probe.pid().clone();
    let watcher = kit.probe().await.unwrap();
    watcher.watch(&pid);
    drop(probe);
    let mut watcher = watcher;
    watcher.expect_terminated(&pid).await;
    // The probe's own PostStart never reached the test.
    let mut other = kit.probe().await.unwrap();
    let line = line!();
    let message = panic_message(other.expect_message(PostStart {}).within(SHORT)).await;
    assert!(message.contains("nothing arrived"), "{message}");
    assert_points_at(&message, file!(), line);
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn a_probe_fails_an_ask_or_tells_the_sender_of_the_failure() {
    let kit = TestKit::new();
    let mut backend = kit.probe_named("backend").await.unwrap();
    let mut client = kit.probe_named("client").await.unwrap();

    let backend_pid = backend.pid().clone();
    let asking = client.ask::<Pong, _>(&backend_pid, Ping { n: 1 });
    let failing = async {
        backend.expect_message(Ping { n: 1 }).await;
        backend.fail("database down")
    };
    let (reply, failed) = tokio::join!(asking, failing);
    failed.unwrap();
    let Err(AskError::HandlerFailed { name, error }) = reply else {
        panic!("expected a handler failure, got {reply:?}");
    };
    assert_eq!(
        (name.as_str(), error.as_str()),
        ("backend", "database down")
    );

    // A tell's sender gets a StatusFailure instead.
    client.tell(&backend_pid, Ping { n: 2 }).await.unwrap();
    backend.expect_message(Ping { n: 2 }).await;
    backend.fail("still down").unwrap();
    let failure: StatusFailure = client.expect_message_of_type().await;
    assert_eq!(failure.error, "still down");
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn expectations_on_a_stopped_probe_fail_at_once_and_say_why() {
    let kit = TestKit::new();
    let mut probe = kit.probe().await.unwrap();
    probe.pid().kill().await.unwrap();

    let started = tokio::time::Instant::now();
    let error = probe.expect_any_message().outcome().await.unwrap_err();
    assert_eq!(
        error.received(),
        Some("no message: the probe's actor stopped")
    );
    // The probe could no longer receive anything, so "no message" is no success either.
    let line = line!();
    let message = panic_message(probe.expect_no_message(Duration::from_secs(2))).await;
    assert!(message.contains("the probe's actor stopped"), "{message}");
    assert_points_at(&message, file!(), line);
    let error = probe.receive_n(2).outcome().await.unwrap_err();
    assert!(
        error
            .received()
            .unwrap()
            .ends_with("then no message: the probe's actor stopped")
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "waited for nothing"
    );
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn a_probe_ignores_the_systems_passivation_and_mailbox_defaults() {
    let kit = TestKit::builder()
        .system(|system| {
            system
                .default_passivation(Passivation::AfterIdle(Duration::from_millis(20)))
                .default_mailbox(MailboxConfig::NonBlockingBounded { capacity: 1 })
        })
        .build()
        .unwrap();
    let mut probe = kit.probe().await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(probe.pid().is_running(), "the probe passivated");
    for n in 0..10 {
        probe.pid().tell(Ping { n }).await.unwrap();
    }
    assert_eq!(probe.receive_n(10).await.len(), 10);
    kit.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn expectations_follow_tokios_paused_clock() {
    let kit = TestKit::new();
    let mut probe = kit.probe().await.unwrap();
    let real = std::time::Instant::now();
    // A minute of silence, and a 30 s wait for nothing, take no real time.
    probe.expect_no_message(Duration::from_secs(60)).await;
    let error = probe
        .expect_message(Pong { n: 1 })
        .within(Duration::from_secs(30))
        .outcome()
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("nothing arrived within 30s"),
        "{error}"
    );
    assert!(real.elapsed() < Duration::from_secs(10));
    kit.stop().await.unwrap();
}

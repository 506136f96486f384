//! Tell, ask, batch, forward and pipe_to between local actors.

mod support;

use std::time::Duration;

use rakt_actor::{ActorSystem, AskError, Context, DeadLetterReason, Event, FnActor, SendError};
use rakt_proto::v1::{PostStart, StatusFailure};
use support::{Fail, Ping, Pong, Recorder, Sleep, log, next_event, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_arrive_in_order_after_post_start() {
    let system = ActorSystem::builder("order").build().expect("system");
    let log = log();
    let pid = system
        .spawn("rec", Recorder::new(&log, "a"))
        .await
        .expect("spawn");
    for n in 0..100 {
        pid.tell(Ping { n }).await.expect("tell");
    }
    let seen = wait_for(&log, |l| l.len() == 102).await;
    assert_eq!(seen[0], "a:pre_start");
    assert_eq!(seen[1], "a:post_start");
    let expected: Vec<String> = (0..100).map(|n| format!("a:ping{n}")).collect();
    assert_eq!(&seen[2..], expected.as_slice());
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn typed_ask_gets_the_reply() {
    let system = ActorSystem::builder("ask").build().expect("system");
    let pid = system
        .spawn("rec", Recorder::new(&log(), "a"))
        .await
        .expect("spawn");
    let pong: Pong = pid.ask(Ping { n: 7 }).await.expect("reply");
    assert_eq!(pong.n, 7);
    let any = pid.ask_any(Ping { n: 8 }).await.expect("reply");
    assert_eq!(any.full_name(), "test.v1.Pong");
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn ask_with_the_wrong_reply_type_names_both_types() {
    let system = ActorSystem::builder("ask-type").build().expect("system");
    let pid = system
        .spawn("rec", Recorder::new(&log(), "a"))
        .await
        .expect("spawn");
    let err = pid
        .ask::<StatusFailure, _>(Ping { n: 1 })
        .await
        .expect_err("wrong type");
    match err {
        AskError::UnexpectedReply { expected, actual } => {
            assert_eq!(expected, "rakt.v1.StatusFailure");
            assert_eq!(actual, "test.v1.Pong");
        }
        other => panic!("unexpected {other:?}"),
    }
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn ask_rejects_a_zero_timeout() {
    let system = ActorSystem::builder("ask-zero").build().expect("system");
    let pid = system
        .spawn("rec", Recorder::new(&log(), "a"))
        .await
        .expect("spawn");
    let err = pid
        .ask::<Pong, _>(Ping { n: 1 })
        .timeout(Duration::ZERO)
        .await
        .expect_err("zero");
    assert!(matches!(err, AskError::ZeroTimeout));
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn ask_without_a_response_fails_fast_with_no_reply() {
    let system = ActorSystem::builder("ask-none").build().expect("system");
    let pid = system
        .spawn_fn("quiet", |_ctx| Ok(()))
        .await
        .expect("spawn");
    let started = tokio::time::Instant::now();
    let err = pid
        .ask::<Pong, _>(Ping { n: 1 })
        .timeout(Duration::from_secs(5))
        .await
        .expect_err("none");
    assert!(matches!(err, AskError::NoReply { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "did not wait for the timeout"
    );
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn ask_to_a_failing_handler_reports_the_failure() {
    let system = ActorSystem::builder("ask-fail").build().expect("system");
    let pid = system
        .spawn("rec", Recorder::new(&log(), "a"))
        .await
        .expect("spawn");
    let err = pid
        .ask::<Pong, _>(Fail { panic: true })
        .await
        .expect_err("fails");
    match err {
        AskError::HandlerFailed { name, error } => {
            assert_eq!(name, "rec");
            assert!(error.contains("asked to panic"), "{error}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // The actor was restarted and still answers.
    let pong: Pong = pid.ask(Ping { n: 2 }).await.expect("still alive");
    assert_eq!(pong.n, 2);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_ask_is_not_handled_and_a_late_reply_is_a_dead_letter() {
    let system = ActorSystem::builder("ask-late").build().expect("system");
    let mut events = system.subscribe();
    let log = log();
    let pid = system
        .spawn("rec", Recorder::new(&log, "a"))
        .await
        .expect("spawn");

    // The handler is busy for 200 ms: the first ask times out while queued behind it.
    pid.tell(Sleep { millis: 200 }).await.expect("tell");
    let err = pid
        .ask::<Pong, _>(Ping { n: 1 })
        .timeout(Duration::from_millis(50))
        .await
        .expect_err("times out");
    assert!(matches!(err, AskError::Timeout { .. }), "{err:?}");
    let event = next_event(&mut events, |e| matches!(e, Event::DeadLetter(_))).await;
    let Event::DeadLetter(letter) = event else {
        unreachable!()
    };
    assert_eq!(letter.reason(), DeadLetterReason::AskerGone);
    assert!(letter.message().downcast_ref::<Ping>().is_some());
    assert!(
        !log.lock().iter().any(|l| l == "a:ping1"),
        "a question nobody waits for is skipped"
    );

    // A reply that comes after its asker gave up becomes a dead letter too.
    let slow = system
        .spawn_fn("slow", |ctx: &mut Context<'_, FnActor>| {
            if ctx.is::<Ping>() {
                std::thread::sleep(Duration::from_millis(100));
                ctx.respond(Pong { n: 9 });
            }
            Ok(())
        })
        .await
        .expect("spawn");
    let err = slow
        .ask::<Pong, _>(Ping { n: 9 })
        .timeout(Duration::from_millis(20))
        .await
        .expect_err("times out");
    assert!(matches!(err, AskError::Timeout { .. }));
    let event = next_event(&mut events, |e| matches!(e, Event::DeadLetter(_))).await;
    let Event::DeadLetter(letter) = event else {
        unreachable!()
    };
    assert_eq!(letter.reason(), DeadLetterReason::LateReply);
    assert_eq!(
        letter.message().downcast_ref::<Pong>().map(|p| p.n),
        Some(9)
    );
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn an_actor_asking_itself_gets_a_typed_error() {
    let system = ActorSystem::builder("self-ask").build().expect("system");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    struct SelfAsker(Option<tokio::sync::oneshot::Sender<String>>);
    impl rakt_actor::Actor for SelfAsker {
        async fn receive(
            &mut self,
            ctx: &mut Context<'_, Self>,
        ) -> Result<(), rakt_actor::ActorError> {
            if ctx.is::<Ping>() {
                let me = ctx.pid().clone();
                let outcome = ctx.ask::<Pong, _>(&me, Ping { n: 1 }).await;
                // Straight through the `Pid`, with no sender, from its own handler.
                let direct = me.ask::<Pong, _>(Ping { n: 2 }).await;
                if let Some(tx) = self.0.take() {
                    let _ = tx.send(format!("{outcome:?} / {direct:?}"));
                }
            }
            Ok(())
        }
    }
    let pid = system
        .spawn("me", SelfAsker(tx.take()))
        .await
        .expect("spawn");
    pid.tell(Ping { n: 0 }).await.expect("tell");
    let outcome = tokio::time::timeout(Duration::from_secs(2), rx)
        .await
        .expect("in time")
        .expect("sent");
    assert!(outcome.contains("SelfAsk"), "{outcome}");
    assert_eq!(outcome.matches("SelfAsk").count(), 2, "{outcome}");
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_inside_a_handler_does_not_deadlock() {
    let system = ActorSystem::builder("nested-ask").build().expect("system");
    let backend = system
        .spawn("backend", Recorder::new(&log(), "b"))
        .await
        .expect("spawn");
    struct Front(rakt_actor::Pid);
    impl rakt_actor::Actor for Front {
        async fn receive(
            &mut self,
            ctx: &mut Context<'_, Self>,
        ) -> Result<(), rakt_actor::ActorError> {
            if let Some(ping) = ctx.message::<Ping>() {
                let n = ping.n;
                let pong: Pong = ctx.ask(&self.0, Ping { n: n + 1 }).await?;
                ctx.respond(pong);
            }
            Ok(())
        }
    }
    let front = system.spawn("front", Front(backend)).await.expect("spawn");
    let pong: Pong = front
        .ask(Ping { n: 1 })
        .await
        .expect("reply through the chain");
    assert_eq!(pong.n, 2);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn batch_tell_and_batch_ask() {
    let system = ActorSystem::builder("batch").build().expect("system");
    let log = log();
    let pid = system
        .spawn("rec", Recorder::new(&log, "a"))
        .await
        .expect("spawn");
    pid.batch_tell((0..5).map(|n| Ping { n }))
        .await
        .expect("batch tell");
    let replies = pid
        .batch_ask::<Pong, _>((10..13).map(|n| Ping { n }), Duration::from_secs(2))
        .await;
    let ns: Vec<u64> = replies.into_iter().map(|r| r.expect("reply").n).collect();
    assert_eq!(ns, vec![10, 11, 12]);
    let seen = wait_for(&log, |l| l.len() == 10).await;
    assert_eq!(
        seen[2..7],
        ["a:ping0", "a:ping1", "a:ping2", "a:ping3", "a:ping4"]
    );
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_keeps_the_original_asker_and_sender() {
    let system = ActorSystem::builder("forward").build().expect("system");
    let log = log();
    let target = system
        .spawn("target", Recorder::new(&log, "t"))
        .await
        .expect("spawn");
    let target_for_router = target.clone();
    struct Router(rakt_actor::Pid);
    impl rakt_actor::Actor for Router {
        async fn receive(
            &mut self,
            ctx: &mut Context<'_, Self>,
        ) -> Result<(), rakt_actor::ActorError> {
            if ctx.is::<Ping>() {
                ctx.forward(&self.0).await?;
            }
            Ok(())
        }
    }
    let router = system
        .spawn("router", Router(target_for_router))
        .await
        .expect("spawn");
    // The reply comes from the target, straight to the asker.
    let pong: Pong = router.ask(Ping { n: 5 }).await.expect("reply");
    assert_eq!(pong.n, 5);

    // A forwarded tell keeps its sender.
    let (tx, rx) = tokio::sync::oneshot::channel::<Option<String>>();
    let mut tx = Some(tx);
    let probe_target = system
        .spawn_fn("probe-target", move |ctx: &mut Context<'_, FnActor>| {
            if ctx.is::<Pong>() {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(ctx.sender().map(|p| p.name().to_owned()));
                }
            }
            Ok(())
        })
        .await
        .expect("spawn");
    let relay_to = probe_target.clone();
    let relay = system.spawn("relay", Relay(relay_to)).await.expect("spawn");
    struct Relay(rakt_actor::Pid);
    impl rakt_actor::Actor for Relay {
        async fn receive(
            &mut self,
            ctx: &mut Context<'_, Self>,
        ) -> Result<(), rakt_actor::ActorError> {
            if ctx.is::<Pong>() {
                ctx.forward(&self.0).await?;
            }
            Ok(())
        }
    }
    let origin = system
        .spawn_fn("origin", move |ctx: &mut Context<'_, FnActor>| {
            if ctx.is::<Ping>() {
                ctx.try_tell(&relay, Pong { n: 1 })?;
            }
            Ok(())
        })
        .await
        .expect("spawn");
    origin.tell(Ping { n: 0 }).await.expect("tell");
    let sender = tokio::time::timeout(Duration::from_secs(2), rx)
        .await
        .expect("in time")
        .expect("sent");
    assert_eq!(sender.as_deref(), Some("origin"));
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn pipe_to_delivers_results_and_failures() {
    let system = ActorSystem::builder("pipe").build().expect("system");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let pid = system
        .spawn_fn("sink", move |ctx: &mut Context<'_, FnActor>| {
            if let Some(p) = ctx.message::<Pong>() {
                let _ = tx.send(format!("pong{}", p.n));
            } else if let Some(f) = ctx.message::<StatusFailure>() {
                let _ = tx.send(format!("failure:{}", f.error));
            }
            Ok(())
        })
        .await
        .expect("spawn");
    pid.pipe_to(async { Ok::<_, std::io::Error>(Pong { n: 3 }) });
    let got = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .expect("in time");
    assert_eq!(got.as_deref(), Some("pong3"));
    pid.pipe_to(async { Err::<Pong, _>(std::io::Error::other("disk on fire")) });
    let got = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .expect("in time");
    assert_eq!(got.as_deref(), Some("failure:disk on fire"));
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn respond_to_a_tell_goes_to_the_sender() {
    let system = ActorSystem::builder("respond").build().expect("system");
    let log = log();
    let rec = system
        .spawn("rec", Recorder::new(&log, "r"))
        .await
        .expect("spawn");
    let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
    let mut tx = Some(tx);
    let client = system
        .spawn_fn("client", move |ctx: &mut Context<'_, FnActor>| {
            if ctx.is::<PostStart>() {
                ctx.try_tell(&rec, Ping { n: 42 })?;
            } else if let Some(p) = ctx.message::<Pong>() {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(p.n);
                }
            }
            Ok(())
        })
        .await
        .expect("spawn");
    let n = tokio::time::timeout(Duration::from_secs(2), rx)
        .await
        .expect("in time")
        .expect("sent");
    assert_eq!(n, 42);
    assert!(client.is_running());
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn sending_to_a_stopped_actor_is_a_typed_error_and_a_dead_letter() {
    let system = ActorSystem::builder("stopped").build().expect("system");
    let pid = system
        .spawn("rec", Recorder::new(&log(), "a"))
        .await
        .expect("spawn");
    pid.stop().await.expect("stop");
    let mut events = system.subscribe();
    let err = pid.tell(Ping { n: 1 }).await.expect_err("stopped");
    assert_eq!(err, SendError::ActorStopped { name: "rec".into() });
    let err = pid
        .ask::<Pong, _>(Ping { n: 2 })
        .await
        .expect_err("stopped");
    assert!(matches!(
        err,
        AskError::Send(SendError::ActorStopped { .. })
    ));
    let event = next_event(&mut events, |e| matches!(e, Event::DeadLetter(_))).await;
    let Event::DeadLetter(letter) = event else {
        unreachable!()
    };
    assert_eq!(letter.reason(), DeadLetterReason::ActorStopped);
    assert_eq!(system.dead_letter_count(), 2);
    assert_eq!(pid.metrics().dead_letters, 2);
    system.stop().await.expect("stop");
}

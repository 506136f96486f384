//! Two nodes in one process, on loopback: every remote operation, and what faults do.

use std::time::Duration;

use rakt_actor::{
    ActorSystem, AskError, Context, DeadLetterReason, Event, Pid, SendError, StopError,
};
use rakt_proto::v1::{StatusFailure as Text, Terminated};
use rakt_remote::Remoting;
use tokio::sync::mpsc;

/// How long any expectation waits.
const WAIT: Duration = Duration::from_secs(5);

struct Node {
    system: ActorSystem,
    remoting: Remoting,
}

impl Node {
    async fn start(name: &str) -> Self {
        let system = ActorSystem::builder(name)
            .ask_timeout(Duration::from_secs(2))
            .log_dead_letters(false)
            .build()
            .expect("system");
        let remoting = Remoting::builder(&system)
            .connect_timeout(Duration::from_secs(1))
            .start()
            .await
            .expect("remoting");
        Self { system, remoting }
    }

    async fn stop(self) {
        self.remoting.shutdown().await;
        self.system.stop().await.expect("stops");
    }

    /// The echo actor: answers every `Text` with itself.
    async fn echo(&self, name: &str) -> Pid {
        self.system
            .spawn_fn(name, |ctx: &mut Context<'_, _>| {
                if let Some(text) = ctx.take_message::<Text>() {
                    ctx.respond(text);
                }
                Ok(())
            })
            .await
            .expect("spawns")
    }

    /// An actor that reports every `Text` it gets, and its sender's address.
    async fn listener(&self, name: &str) -> (Pid, mpsc::UnboundedReceiver<(String, String)>) {
        let (heard, texts) = mpsc::unbounded_channel();
        let pid = self
            .system
            .spawn_fn(name, move |ctx: &mut Context<'_, _>| {
                let sender = ctx
                    .sender()
                    .map(|s| s.address().to_string())
                    .unwrap_or_default();
                if let Some(text) = ctx.take_message::<Text>() {
                    let _ = heard.send((text.error, sender));
                }
                Ok(())
            })
            .await
            .expect("spawns");
        (pid, texts)
    }

    async fn remote(&self, other: &Node, name: &str) -> Pid {
        self.remoting
            .lookup(&other.remoting.address_of(name))
            .await
            .expect("reachable")
            .expect("exists")
    }
}

async fn next<T>(receiver: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, receiver.recv())
        .await
        .expect("in time")
        .expect("open")
}

/// The next dead letter that the node of `events` refused.
async fn refused_letter(
    events: &mut rakt_actor::Subscription,
) -> std::sync::Arc<rakt_actor::DeadLetter> {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(Event::DeadLetter(letter)) = events.recv().await {
                if letter.reason() == DeadLetterReason::Refused {
                    return letter;
                }
            }
        }
    })
    .await
    .expect("a refused dead letter in time")
}

fn text(s: &str) -> Text {
    Text { error: s.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tell_and_ask_cross_nodes_in_order_with_the_sender() {
    let a = Node::start("a").await;
    let b = Node::start("b").await;
    let (_listener, mut heard) = b.listener("listener").await;
    b.echo("echo").await;

    let listener = a.remote(&b, "listener").await;
    assert!(listener.is_remote());
    assert_eq!(listener.address(), b.remoting.address_of("listener"));
    for i in 0..500 {
        listener.tell(text(&i.to_string())).await.expect("sent");
    }
    for i in 0..500 {
        let (got, sender) = next(&mut heard).await;
        assert_eq!(got, i.to_string(), "in order");
        assert_eq!(sender, "", "a tell from outside any actor has no sender");
    }

    // A tell from an actor of a carries it as sender, and b's reply reaches it.
    let (me, mut my_replies) = a.listener("me").await;
    let echo = a.remote(&b, "echo").await;
    echo.tell_from(&me, text("bounce")).await.expect("sent");
    let (got, sender) = next(&mut my_replies).await;
    assert_eq!(got, "bounce");
    assert_eq!(sender, b.remoting.address_of("echo").to_string());

    let reply: Text = echo.ask(text("hello")).await.expect("a reply");
    assert_eq!(reply.error, "hello");
    let replies = echo
        .batch_ask::<Text, _>((0..50).map(|i| text(&i.to_string())), WAIT)
        .await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.expect("a reply").error, i.to_string());
    }
    echo.batch_tell((0..3).map(|i| text(&i.to_string())))
        .await
        .expect("sent");

    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_keeps_the_original_asker_across_nodes() {
    let a = Node::start("a").await;
    let b = Node::start("b").await;
    // b's relay forwards everything to a's echo: the reply goes straight back to the asker.
    a.echo("echo").await;
    let echo_on_a = b.remote(&a, "echo").await;
    b.system
        .spawn_fn("relay", move |ctx: &mut Context<'_, _>| {
            if ctx.is::<Text>() {
                let echo = echo_on_a.clone();
                if let Some(letter) = ctx.take_letter() {
                    tokio::spawn(async move { letter.forward(&echo).await });
                }
            }
            Ok(())
        })
        .await
        .expect("spawns");
    let relay = a.remote(&b, "relay").await;
    let reply: Text = relay.ask(text("round trip")).await.expect("a reply");
    assert_eq!(reply.error, "round trip");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_actors_and_unknown_types_get_typed_errors_and_dead_letters() {
    let a = Node::start("a").await;
    let b = Node::start("b").await;
    let mut b_events = b.system.subscribe();

    assert!(
        a.remoting
            .lookup(&b.remoting.address_of("nobody"))
            .await
            .expect("reachable")
            .is_none()
    );
    let nobody = a
        .remoting
        .actor(&b.remoting.address_of("nobody"))
        .expect("a pid");
    let error = nobody
        .ask::<Text, _>(text("hi"))
        .await
        .expect_err("no such actor");
    assert!(
        matches!(error, AskError::Send(SendError::NotFound { ref name }) if name == "nobody"),
        "{error}"
    );

    // a type b never registered
    #[derive(Clone, PartialEq, prost::Message)]
    struct Secret {
        #[prost(string, tag = "1")]
        code: String,
    }
    impl prost::Name for Secret {
        const NAME: &'static str = "Secret";
        const PACKAGE: &'static str = "spy.v1";
    }
    b.echo("echo").await;
    let echo = a.remote(&b, "echo").await;
    let error = echo
        .ask::<Text, _>(Secret { code: "x".into() })
        .await
        .expect_err("unknown type");
    assert!(error.to_string().contains("spy.v1.Secret"), "{error}");
    // Counted on the receiver, as a refused dead letter.
    let refused = refused_letter(&mut b_events).await;
    assert_eq!(refused.receiver(), "echo");
    // The stream survived: the node answers the next valid ask.
    let reply: Text = echo.ask(text("still here")).await.expect("a reply");
    assert_eq!(reply.error, "still here");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_stop_and_watch_deliver_terminated() {
    let a = Node::start("a").await;
    let b = Node::start("b").await;
    b.echo("doomed").await;
    let doomed = a.remote(&b, "doomed").await;

    let (terminated, mut gone) = mpsc::unbounded_channel();
    let watcher = a
        .system
        .spawn_fn("watcher", move |ctx: &mut Context<'_, _>| {
            if let Some(t) = ctx.take_message::<Terminated>() {
                let _ = terminated.send((t.address, t.reason));
            }
            Ok(())
        })
        .await
        .expect("spawns");
    watcher.watch(&doomed);
    // The watch travels on the same stream as this ask, so it is in place once it returns.
    let _: Text = doomed.ask(text("sync")).await.expect("a reply");
    doomed.stop().await.expect("stops remotely");
    let (address, reason) = next(&mut gone).await;
    assert_eq!(address, b.remoting.address_of("doomed").to_string());
    assert_eq!(reason, "", "an ordinary stop");
    assert!(b.system.local_actor("doomed").is_none());
    assert!(matches!(
        doomed.stop().await,
        Err(StopError::NotRunning { .. })
    ));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_node_fails_asks_and_tells_its_watchers() {
    let a = Node::start("a").await;
    let b = Node::start("b").await;
    // b's actor holds every question unanswered: the ask is in flight when b goes.
    let mut held = Vec::new();
    b.system
        .spawn_fn("silent", move |ctx: &mut Context<'_, _>| {
            held.extend(ctx.defer_reply());
            Ok(())
        })
        .await
        .expect("spawns");
    let silent = a.remote(&b, "silent").await;

    let (terminated, mut gone) = mpsc::unbounded_channel();
    let watcher = a
        .system
        .spawn_fn("watcher", move |ctx: &mut Context<'_, _>| {
            if let Some(t) = ctx.take_message::<Terminated>() {
                let _ = terminated.send(t.reason);
            }
            Ok(())
        })
        .await
        .expect("spawns");
    watcher.watch(&silent);
    let asking = {
        let silent = silent.clone();
        tokio::spawn(async move {
            silent
                .ask::<Text, _>(text("anyone?"))
                .timeout(Duration::from_secs(30))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.stop().await;

    let outcome = tokio::time::timeout(WAIT, asking)
        .await
        .expect("fails well before its timeout")
        .expect("joins");
    let reason = next(&mut gone).await;
    assert!(!reason.is_empty(), "a reason for an unreachable node");
    assert!(
        matches!(outcome, Err(AskError::Send(SendError::Unreachable { .. }))),
        "{outcome:?}"
    );

    // Sends to a node that is gone fail, and count as dead letters.
    let before = a.system.dead_letter_count();
    let error = silent
        .ask::<Text, _>(text("again"))
        .await
        .expect_err("gone");
    assert!(
        matches!(error, AskError::Send(SendError::Unreachable { .. })),
        "{error}"
    );
    assert!(a.system.dead_letter_count() > before);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_is_reached_again_after_the_backoff() {
    let a = Node::start("a").await;
    let b = Node::start("b").await;
    let port = b.remoting.local_addr().port();
    b.echo("echo").await;
    let echo = a.remote(&b, "echo").await;
    let reply: Text = echo.ask(text("before")).await.expect("a reply");
    assert_eq!(reply.error, "before");
    b.stop().await;

    // While b is gone, asks fail fast with a typed error instead of waiting out their timeout.
    let error = echo
        .ask::<Text, _>(text("gone"))
        .timeout(Duration::from_secs(30))
        .await
        .expect_err("b is gone");
    assert!(
        matches!(error, AskError::Send(SendError::Unreachable { .. })),
        "{error}"
    );

    // b comes back on the same port; after the backoff, the same Pid reaches it.
    let system = ActorSystem::builder("b").build().expect("system");
    let remoting = Remoting::builder(&system)
        .bind(([127, 0, 0, 1], port).into())
        .start()
        .await
        .expect("the port is free again");
    let b = Node { system, remoting };
    b.echo("echo").await;
    let mut reached = None;
    for _ in 0..100 {
        match echo.ask::<Text, _>(text("after")).await {
            Ok(reply) => {
                reached = Some(reply.error);
                break;
            }
            Err(AskError::Send(SendError::Unreachable { .. })) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(reached.as_deref(), Some("after"), "reconnected within 5 s");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_and_a_tell_in_one_frame_arrive_in_order() {
    let a = Node::start("a").await;
    let b = Node::start("b").await;
    // Answers asks, and reports the order of everything it gets.
    let (heard, mut order) = mpsc::unbounded_channel();
    b.system
        .spawn_fn("recorder", move |ctx: &mut Context<'_, _>| {
            if let Some(text) = ctx.take_message::<Text>() {
                let _ = heard.send(text.error.clone());
                ctx.respond(text);
            }
            Ok(())
        })
        .await
        .expect("spawns");
    let recorder = a.remote(&b, "recorder").await;
    for round in 0..20 {
        let ask = recorder.ask::<Text, _>(text(&format!("ask {round}")));
        let mut ask = std::pin::pin!(std::future::IntoFuture::into_future(ask));
        // Polled once: the question is queued on the link before the tell. (On a busy
        // machine the whole round trip may even finish within that poll.)
        let early = tokio::select! {
            biased;
            early = &mut ask => Some(early),
            () = std::future::ready(()) => None,
        };
        recorder
            .tell(text(&format!("tell {round}")))
            .await
            .expect("sent");
        let reply = match early {
            Some(early) => early,
            None => ask.await,
        };
        assert_eq!(reply.expect("a reply").error, format!("ask {round}"));
        assert_eq!(next(&mut order).await, format!("ask {round}"));
        assert_eq!(next(&mut order).await, format!("tell {round}"));
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_stay_within_the_size_limit_and_oversized_messages_are_refused() {
    async fn small_node(name: &str) -> Node {
        let system = ActorSystem::builder(name)
            .log_dead_letters(false)
            .build()
            .expect("system");
        let remoting = Remoting::builder(&system)
            .max_message_size(1024)
            .start()
            .await
            .expect("remoting");
        Node { system, remoting }
    }
    let a = small_node("a").await;
    let b = small_node("b").await;
    let (_listener, mut heard) = b.listener("listener").await;
    let listener = a.remote(&b, "listener").await;
    let mut a_events = a.system.subscribe();

    // Ten messages of 600 bytes cannot share one frame: they go in several, in order.
    let big = |i: usize| text(&format!("{i}:{}", "x".repeat(600)));
    for i in 0..10 {
        listener.tell(big(i)).await.expect("sent");
    }
    // One over the limit is refused on the sender, and the stream goes on.
    listener
        .tell(text(&"y".repeat(2000)))
        .await
        .expect("queued");
    listener.tell(text("after")).await.expect("sent");
    for i in 0..10 {
        let (got, _) = next(&mut heard).await;
        assert_eq!(got, big(i).error);
    }
    assert_eq!(next(&mut heard).await.0, "after");
    let refused = refused_letter(&mut a_events).await;
    assert_eq!(refused.receiver(), "listener");
    a.stop().await;
    b.stop().await;
}

/// Forwards every connection to `listener` on to `target`, both ways.
async fn forward(listener: tokio::net::TcpListener, target: std::net::SocketAddr) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_notice_waits_for_a_watcher_node_that_cannot_be_reached_yet() {
    // Node a listens on 127.0.0.1 but tells its peers it is at 127.0.0.2, where nothing
    // listens yet: a reaches b, b cannot reach a.
    let a_system = ActorSystem::builder("a")
        .log_dead_letters(false)
        .build()
        .expect("system");
    let a_remoting = Remoting::builder(&a_system)
        .advertise_host("127.0.0.2")
        .start()
        .await
        .expect("remoting");
    let b = Node::start("b").await;
    b.echo("doomed").await;
    let doomed = a_remoting
        .lookup(&b.remoting.address_of("doomed"))
        .await
        .expect("reachable")
        .expect("exists");
    let (terminated, mut gone) = mpsc::unbounded_channel();
    let watcher = a_system
        .spawn_fn("watcher", move |ctx: &mut Context<'_, _>| {
            if let Some(t) = ctx.take_message::<Terminated>() {
                let _ = terminated.send(t.reason);
            }
            Ok(())
        })
        .await
        .expect("spawns");
    watcher.watch(&doomed);
    // The watch travels on the same stream as this ask, so it is in place once it returns.
    let _: Text = doomed.ask(text("sync")).await.expect("a reply");

    // b cannot tell a yet: the notice waits.
    b.system
        .local_actor("doomed")
        .expect("alive")
        .stop()
        .await
        .expect("stops");
    let early = tokio::time::timeout(Duration::from_millis(300), gone.recv()).await;
    assert!(early.is_err(), "nothing can reach a yet: {early:?}");

    // Once a can be reached where it said, the notice arrives without any other traffic.
    let port = a_remoting.local_addr().port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.2", port))
        .await
        .expect("binds the advertised address");
    let forwarding = tokio::spawn(forward(listener, a_remoting.local_addr()));
    let reason = tokio::time::timeout(Duration::from_secs(15), gone.recv())
        .await
        .expect("the notice arrives after b's backoff")
        .expect("open");
    assert_eq!(reason, "", "an ordinary stop, reported late");

    forwarding.abort();
    a_remoting.shutdown().await;
    a_system.stop().await.expect("stops");
    b.stop().await;
}

/// Answers every `Text`, a second after it came.
struct Slow;

impl rakt_actor::Actor for Slow {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), rakt_actor::ActorError> {
        if let Some(text) = ctx.take_message::<Text>() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            ctx.respond(text);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_ask_times_out_like_a_local_one() {
    let a = Node::start("a").await;
    let b = Node::start("b").await;
    b.system.spawn("slow", Slow).await.expect("spawns");
    let slow = a.remote(&b, "slow").await;
    let started = tokio::time::Instant::now();
    let outcome = slow
        .ask::<Text, _>(text("hurry"))
        .timeout(Duration::from_millis(200))
        .await;
    // Whichever deadline fires first, the asker's or the one the answering node keeps with
    // the time the asker had left, the ask fails as timed out.
    assert!(
        matches!(&outcome, Err(AskError::Timeout { name, timeout })
            if name == "slow" && *timeout <= Duration::from_millis(200)),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "by the asker's deadline"
    );
    // The link still works, and a patient ask gets its answer.
    let reply: Text = slow
        .ask(text("take your time"))
        .timeout(Duration::from_secs(5))
        .await
        .expect("answers in time");
    assert_eq!(reply.error, "take your time");
    a.stop().await;
    b.stop().await;
}

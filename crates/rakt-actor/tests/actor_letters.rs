//! Letters (messages taken out of their handler), sends on behalf of another actor, and asks
//! on behalf of another actor.

mod support;

use std::time::Duration;

use rakt_actor::{
    Actor, ActorError, ActorSystem, AskError, Context, DeadLetterReason, Event, Letter, Pid,
};
use rakt_proto::v1::{PostStart, StatusFailure};
use support::{Ping, Pong, next_event};
use tokio::sync::mpsc;

/// Hands every message to the test as a letter.
struct Inbox {
    letters: mpsc::UnboundedSender<Letter>,
}

impl Actor for Inbox {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if !ctx.is::<PostStart>() {
            let letter = ctx.take_letter().expect("a message to take");
            // Taken once: the message is gone from the context, the sender is not.
            assert!(ctx.take_letter().is_none());
            assert_eq!(ctx.sender(), letter.sender());
            let _ = self.letters.send(letter);
        }
        Ok(())
    }
}

async fn inbox(system: &ActorSystem, name: &str) -> (Pid, mpsc::UnboundedReceiver<Letter>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let pid = system.spawn(name, Inbox { letters: tx }).await.unwrap();
    (pid, rx)
}

async fn next(letters: &mut mpsc::UnboundedReceiver<Letter>) -> Letter {
    tokio::time::timeout(Duration::from_secs(5), letters.recv())
        .await
        .expect("a letter within 5 s")
        .expect("the inbox is open")
}

/// Answers every `Ping { n }` with `Pong { n }`.
async fn echo(system: &ActorSystem) -> Pid {
    system
        .spawn_fn("echo", |ctx: &mut Context<'_, _>| {
            if let Some(ping) = ctx.take_message::<Ping>() {
                ctx.respond(Pong { n: ping.n });
            }
            Ok(())
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_letter_answers_its_asker_after_the_handler_returned() {
    let system = ActorSystem::builder("letters").build().unwrap();
    let (pid, mut letters) = inbox(&system, "inbox").await;
    let asking = pid.ask::<Pong, _>(Ping { n: 1 });
    let answering = async {
        let mut letter = next(&mut letters).await;
        assert!(letter.is_ask());
        assert_eq!(letter.receiver(), &pid);
        assert_eq!(
            letter.message().downcast_ref::<Ping>(),
            Some(&Ping { n: 1 })
        );
        letter.respond(Pong { n: 10 });
        assert!(!letter.is_ask(), "the reply was given");
    };
    let (reply, ()) = tokio::join!(asking, answering);
    assert_eq!(reply.unwrap(), Pong { n: 10 });
    system.stop().await.unwrap();
}

#[tokio::test]
async fn a_dropped_letter_fails_its_asker_at_once() {
    let system = ActorSystem::builder("letters").build().unwrap();
    let (pid, mut letters) = inbox(&system, "inbox").await;
    let asking = pid
        .ask::<Pong, _>(Ping { n: 1 })
        .timeout(Duration::from_secs(30));
    let dropping = async {
        let letter = next(&mut letters).await;
        let message = letter.into_message();
        assert!(message.is::<Ping>());
    };
    let (reply, ()) = tokio::join!(asking, dropping);
    assert!(matches!(reply, Err(AskError::NoReply { .. })), "{reply:?}");
    system.stop().await.unwrap();
}

#[tokio::test]
async fn tell_from_makes_replies_go_to_the_named_sender() {
    let system = ActorSystem::builder("letters").build().unwrap();
    let (listener, mut heard) = inbox(&system, "listener").await;
    let echo = echo(&system).await;
    echo.tell_from(&listener, Ping { n: 3 }).await.unwrap();
    let letter = next(&mut heard).await;
    assert_eq!(
        letter.message().downcast_ref::<Pong>(),
        Some(&Pong { n: 3 })
    );
    assert_eq!(letter.sender(), Some(&echo));
    assert!(!letter.is_ask());
    system.stop().await.unwrap();
}

#[tokio::test]
async fn a_letter_of_a_tell_answers_its_sender_or_becomes_a_dead_letter() {
    let system = ActorSystem::builder("letters").build().unwrap();
    let (pid, mut letters) = inbox(&system, "inbox").await;
    let (listener, mut heard) = inbox(&system, "listener").await;

    pid.tell_from(&listener, Ping { n: 1 }).await.unwrap();
    let mut letter = next(&mut letters).await;
    letter.respond(Pong { n: 2 });
    let reply = next(&mut heard).await;
    assert_eq!(reply.message().downcast_ref::<Pong>(), Some(&Pong { n: 2 }));
    assert_eq!(
        reply.sender(),
        Some(&pid),
        "the reply comes from the receiver"
    );

    // Without sender or asker, a reply has nowhere to go.
    let mut events = system.subscribe();
    pid.tell(Ping { n: 3 }).await.unwrap();
    let mut letter = next(&mut letters).await;
    letter.respond(Pong { n: 4 });
    let event = next_event(&mut events, |e| matches!(e, Event::DeadLetter(_))).await;
    let Event::DeadLetter(dead) = event else {
        unreachable!()
    };
    assert_eq!(dead.reason(), DeadLetterReason::NoRecipient);
    assert_eq!(dead.message().downcast_ref::<Pong>(), Some(&Pong { n: 4 }));
    system.stop().await.unwrap();
}

#[tokio::test]
async fn a_forwarded_letter_keeps_its_sender_and_asker() {
    let system = ActorSystem::builder("letters").build().unwrap();
    let (relay, mut letters) = inbox(&system, "relay").await;
    let (listener, mut heard) = inbox(&system, "listener").await;
    let echo = echo(&system).await;

    // A tell: the echo answers the original sender.
    relay.tell_from(&listener, Ping { n: 5 }).await.unwrap();
    next(&mut letters).await.forward(&echo).await.unwrap();
    let reply = next(&mut heard).await;
    assert_eq!(reply.message().downcast_ref::<Pong>(), Some(&Pong { n: 5 }));
    assert_eq!(reply.sender(), Some(&echo));

    // An ask: the echo answers the asker.
    let asking = relay.ask::<Pong, _>(Ping { n: 6 });
    let forwarding = async { next(&mut letters).await.forward(&echo).await };
    let (reply, forwarded) = tokio::join!(asking, forwarding);
    forwarded.unwrap();
    assert_eq!(reply.unwrap(), Pong { n: 6 });

    // Forwarding to a stopped actor fails, and the asker hears at once.
    let gone = system.spawn_fn("gone", |_ctx| Ok(())).await.unwrap();
    gone.stop().await.unwrap();
    let asking = relay
        .ask::<Pong, _>(Ping { n: 7 })
        .timeout(Duration::from_secs(30));
    let forwarding = async { next(&mut letters).await.forward(&gone).await };
    let (reply, forwarded) = tokio::join!(asking, forwarding);
    assert!(forwarded.is_err());
    assert!(reply.is_err());
    system.stop().await.unwrap();
}

#[tokio::test]
async fn an_ask_on_behalf_of_another_actor_names_it_as_sender() {
    let system = ActorSystem::builder("letters").build().unwrap();
    let (pid, mut letters) = inbox(&system, "inbox").await;
    let (on_behalf, _unused) = inbox(&system, "behalf").await;
    let asking = pid.ask::<Pong, _>(Ping { n: 8 }).sender(&on_behalf);
    let answering = async {
        let mut letter = next(&mut letters).await;
        assert_eq!(letter.sender(), Some(&on_behalf));
        letter.respond(Pong { n: 80 });
    };
    let (reply, ()) = tokio::join!(asking, answering);
    // The reply comes back to the ask, not to the named sender.
    assert_eq!(reply.unwrap(), Pong { n: 80 });

    // From outside its handler, an ask may even name the asked actor as its sender: nothing
    // waits on the actor itself, so it is no self-ask.
    let asking = pid.ask::<Pong, _>(Ping { n: 9 }).sender(&pid);
    let answering = async {
        let mut letter = next(&mut letters).await;
        assert_eq!(letter.sender(), Some(&pid));
        letter.respond(Pong { n: 90 });
    };
    let (reply, ()) = tokio::join!(asking, answering);
    assert_eq!(reply.unwrap(), Pong { n: 90 });
    system.stop().await.unwrap();
}

#[tokio::test]
async fn a_letter_fails_its_asker_or_tells_its_sender_of_the_failure() {
    let system = ActorSystem::builder("letters").build().unwrap();
    let (pid, mut letters) = inbox(&system, "inbox").await;
    let (listener, mut heard) = inbox(&system, "listener").await;

    let asking = pid.ask::<Pong, _>(Ping { n: 1 });
    let failing = async { next(&mut letters).await.fail("no pongs today") };
    let (reply, ()) = tokio::join!(asking, failing);
    let Err(AskError::HandlerFailed { name, error }) = reply else {
        panic!("expected a handler failure, got {reply:?}");
    };
    assert_eq!((name.as_str(), error.as_str()), ("inbox", "no pongs today"));

    pid.tell_from(&listener, Ping { n: 2 }).await.unwrap();
    next(&mut letters).await.fail("still none");
    let failure = next(&mut heard).await;
    let status = failure.message().downcast_ref::<StatusFailure>();
    assert_eq!(status.map(|s| s.error.as_str()), Some("still none"));
    assert_eq!(failure.sender(), Some(&pid));
    system.stop().await.unwrap();
}

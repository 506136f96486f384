//! Behaviors (swapping the receive function as a stack) and the stash.

mod support;

use rakt_actor::{
    Actor, ActorError, ActorSystem, Context, DeadLetterReason, Event, HandlerFuture, SpawnError,
    SpawnOptions, StashError,
};
use rakt_proto::v1::PostStart;
use support::{Log, log, next_event, wait_for};

/// A word for the actors below: a command or just something to record.
#[derive(Clone, PartialEq, prost::Message)]
struct Word {
    #[prost(string, tag = "1")]
    text: String,
}

impl prost::Name for Word {
    const NAME: &'static str = "Word";
    const PACKAGE: &'static str = "test.v1";
}

fn word(text: &str) -> Word {
    Word {
        text: text.to_owned(),
    }
}

/// The text of the current message, when it is a `Word`.
fn text<A: Actor>(ctx: &Context<'_, A>) -> Option<String> {
    ctx.message::<Word>().map(|w| w.text.clone())
}

/// Records which behavior handled each word; the words switch behaviors.
struct Mood {
    log: Log,
}

impl Mood {
    fn record(&self, behavior: &str, word: &str) {
        self.log.lock().push(format!("{behavior}:{word}"));
    }
}

/// What every behavior of `Mood` does with a command word.
fn obey(ctx: &mut Context<'_, Mood>, word: &str) {
    match word {
        "stack-angry" => ctx.push_behavior(angry),
        "stack-happy" => ctx.push_behavior(happy),
        "become-angry" => ctx.set_behavior(angry),
        "become-happy" => ctx.set_behavior(happy),
        "pop" => {
            ctx.pop_behavior();
        }
        "reset" => ctx.reset_behavior(),
        _ => {}
    }
}

fn angry<'a>(mood: &'a mut Mood, ctx: &'a mut Context<'_, Mood>) -> HandlerFuture<'a> {
    Box::pin(async move {
        if let Some(word) = text(ctx) {
            mood.record("angry", &word);
            obey(ctx, &word);
        }
        Ok(())
    })
}

fn happy<'a>(mood: &'a mut Mood, ctx: &'a mut Context<'_, Mood>) -> HandlerFuture<'a> {
    Box::pin(async move {
        if let Some(word) = text(ctx) {
            mood.record("happy", &word);
            if word == "fail" {
                return Err(ActorError::msg("asked to fail"));
            }
            obey(ctx, &word);
        }
        Ok(())
    })
}

impl Actor for Mood {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(word) = text(ctx) {
            self.record("receive", &word);
            obey(ctx, &word);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviors_swap_and_stack() {
    let system = ActorSystem::builder("moods").build().expect("system");
    let log = log();
    let pid = system
        .spawn("mood", Mood { log: log.clone() })
        .await
        .expect("spawn");
    let words = [
        "a",
        "stack-angry",
        "b",
        "stack-happy",
        "c",
        "pop",
        "d",
        "pop",
        "e",
        "stack-angry",
        "stack-happy",
        // Replaces the whole stack: one `pop` then goes back to `receive`.
        "become-angry",
        "f",
        "pop",
        "g",
        "become-happy",
        "h",
        "reset",
        "i",
    ];
    for w in words {
        pid.tell(word(w)).await.expect("tell");
    }
    let seen = wait_for(&log, |l| l.len() == words.len()).await;
    let expected = [
        "receive:a",
        "receive:stack-angry",
        "angry:b",
        "angry:stack-happy",
        "happy:c",
        "happy:pop",
        "angry:d",
        "angry:pop",
        "receive:e",
        "receive:stack-angry",
        "angry:stack-happy",
        "happy:become-angry",
        "angry:f",
        "angry:pop",
        "receive:g",
        "receive:become-happy",
        "happy:h",
        "happy:reset",
        "receive:i",
    ];
    assert_eq!(seen, expected);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_goes_back_to_receive() {
    let system = ActorSystem::builder("moods").build().expect("system");
    let log = log();
    let pid = system
        .spawn("mood", Mood { log: log.clone() })
        .await
        .expect("spawn");
    for w in ["stack-happy", "fail", "after"] {
        pid.tell(word(w)).await.expect("tell");
    }
    let seen = wait_for(&log, |l| l.len() == 3).await;
    assert_eq!(seen, ["receive:stack-happy", "happy:fail", "receive:after"]);
    assert_eq!(pid.metrics().restarts, 1);
    system.stop().await.expect("stop");
}

/// Stashes every word until it hears "open", then gives them all back; "fail" fails it,
/// "one" gives back one stashed word.
struct Gate {
    log: Log,
    open: bool,
}

impl Actor for Gate {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            return Ok(());
        }
        let Some(word) = text(ctx) else {
            return Ok(());
        };
        match word.as_str() {
            "open" => {
                self.open = true;
                let given_back = ctx.unstash_all();
                self.log.lock().push(format!("open:{given_back}"));
            }
            "one" => {
                let given_back = ctx.unstash();
                self.log.lock().push(format!("one:{given_back}"));
            }
            "fail" => return Err(ActorError::msg("asked to fail")),
            _ if !self.open => match ctx.stash() {
                Ok(()) => self.log.lock().push(format!("stashed:{word}")),
                Err(error) => self.log.lock().push(format!("refused:{word}:{error}")),
            },
            _ => self.log.lock().push(format!("handled:{word}")),
        }
        Ok(())
    }
}

fn gate(log: &Log) -> Gate {
    Gate {
        log: log.clone(),
        open: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstashed_messages_come_back_in_order_before_the_mailbox() {
    let system = ActorSystem::builder("gates").build().expect("system");
    let log = log();
    let options = SpawnOptions::new().stash_capacity(8);
    let pid = system
        .spawn_with("gate", gate(&log), options)
        .await
        .expect("spawn");
    for w in ["x1", "x2", "x3"] {
        pid.tell(word(w)).await.expect("tell");
    }
    wait_for(&log, |l| l.len() == 3).await;
    assert_eq!(pid.metrics().stash_len, 3);
    // "y" is in the mailbox before "open" gives the stash back, and is still handled after.
    pid.tell(word("open")).await.expect("tell");
    pid.tell(word("y")).await.expect("tell");
    let seen = wait_for(&log, |l| l.len() == 8).await;
    assert_eq!(
        seen[3..],
        [
            "open:3",
            "handled:x1",
            "handled:x2",
            "handled:x3",
            "handled:y"
        ]
    );
    assert_eq!(pid.metrics().stash_len, 0);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_gives_the_stash_back() {
    let system = ActorSystem::builder("gates").build().expect("system");
    let log = log();
    let options = SpawnOptions::new().stash_capacity(8);
    let pid = system
        .spawn_with("gate", gate(&log), options)
        .await
        .expect("spawn");
    for w in ["x1", "x2", "fail"] {
        pid.tell(word(w)).await.expect("tell");
    }
    // The new incarnation gets both words back and, still closed, stashes them again.
    let seen = wait_for(&log, |l| l.len() == 4).await;
    assert_eq!(
        seen,
        ["stashed:x1", "stashed:x2", "stashed:x1", "stashed:x2"]
    );
    assert_eq!(pid.metrics().restarts, 1);
    assert_eq!(pid.metrics().stash_len, 2);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stash_overflow_is_a_typed_error_and_a_dead_letter() {
    let system = ActorSystem::builder("gates").build().expect("system");
    let mut events = system.subscribe();
    let log = log();
    let options = SpawnOptions::new().stash_capacity(2);
    let pid = system
        .spawn_with("gate", gate(&log), options)
        .await
        .expect("spawn");
    for w in ["x1", "x2", "x3"] {
        pid.tell(word(w)).await.expect("tell");
    }
    let seen = wait_for(&log, |l| l.len() == 3).await;
    let full = StashError::Full { capacity: 2 }.to_string();
    assert_eq!(
        seen,
        [
            "stashed:x1".to_owned(),
            "stashed:x2".to_owned(),
            format!("refused:x3:{full}")
        ]
    );
    let event = next_event(&mut events, |e| matches!(e, Event::DeadLetter(_))).await;
    let Event::DeadLetter(letter) = event else {
        unreachable!("matched a dead letter")
    };
    assert_eq!(letter.reason(), DeadLetterReason::StashFull);
    assert_eq!(
        letter
            .message()
            .downcast_ref::<Word>()
            .map(|w| w.text.as_str()),
        Some("x3")
    );
    let metrics = pid.metrics();
    assert_eq!(metrics.stash_len, 2);
    assert_eq!(metrics.dead_letters, 1);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stashing_without_a_stash_is_refused_and_keeps_the_message() {
    let system = ActorSystem::builder("gates").build().expect("system");
    let log = log();
    let pid = system
        .spawn_fn("plain", {
            let log = log.clone();
            move |ctx| {
                if let Some(word) = text(ctx) {
                    let refused = ctx.stash().expect_err("no stash");
                    let kept = text(ctx).is_some_and(|kept| kept == word);
                    log.lock().push(format!("{refused}:{kept}"));
                }
                Ok(())
            }
        })
        .await
        .expect("spawn");
    pid.tell(word("x")).await.expect("tell");
    let seen = wait_for(&log, |l| l.len() == 1).await;
    assert_eq!(seen, [format!("{}:true", StashError::Disabled)]);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_handles_given_back_messages_and_dead_letters_the_stash() {
    let system = ActorSystem::builder("gates").build().expect("system");
    let mut events = system.subscribe();
    let log = log();
    let options = SpawnOptions::new().stash_capacity(8);
    let pid = system
        .spawn_with("gate", gate(&log), options)
        .await
        .expect("spawn");
    for w in ["x1", "x2", "one"] {
        pid.tell(word(w)).await.expect("tell");
    }
    pid.stop().await.expect("stop");
    let seen = log.lock().clone();
    // "x1", given back, is stashed again, still closed; nothing is handled twice or lost.
    assert_eq!(
        seen,
        ["stashed:x1", "stashed:x2", "one:true", "stashed:x1"],
        "{seen:?}"
    );
    let mut stopped = Vec::new();
    for _ in 0..2 {
        let event = next_event(&mut events, |e| matches!(e, Event::DeadLetter(_))).await;
        let Event::DeadLetter(letter) = event else {
            unreachable!("matched a dead letter")
        };
        assert_eq!(letter.reason(), DeadLetterReason::ActorStopped);
        let text = letter
            .message()
            .downcast_ref::<Word>()
            .map(|w| w.text.clone());
        stopped.push(text.unwrap_or_default());
    }
    stopped.sort();
    assert_eq!(stopped, ["x1", "x2"]);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn an_invalid_stash_capacity_is_rejected() {
    let system = ActorSystem::builder("gates").build().expect("system");
    for capacity in [0, usize::MAX] {
        let options = SpawnOptions::new().stash_capacity(capacity);
        let err = system
            .spawn_with("gate", gate(&log()), options)
            .await
            .expect_err("invalid");
        assert!(
            matches!(err, SpawnError::InvalidStashCapacity { capacity: c } if c == capacity),
            "{err}"
        );
    }
    system.stop().await.expect("stop");
}

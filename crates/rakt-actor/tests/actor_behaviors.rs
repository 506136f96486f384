//! Behaviors (swapping the receive function as a stack) and the stash.

mod support;

use std::sync::Arc;

use rakt_actor::{
    Actor, ActorError, ActorSystem, AskError, Context, DeadLetter, DeadLetterReason, Event,
    HandlerFuture, Pid, SpawnError, SpawnOptions, StashError, Subscription,
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
        "stack-brittle" => ctx.push_behavior(brittle),
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
    tell_words(&pid, &words).await;
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
    tell_words(&pid, &["stack-happy", "fail", "after"]).await;
    let seen = wait_for(&log, |l| l.len() == 3).await;
    assert_eq!(seen, ["receive:stack-happy", "happy:fail", "receive:after"]);
    assert_eq!(pid.metrics().restarts, 1);
    system.stop().await.expect("stop");
}

/// Stashes every word until it hears "open", then gives them all back; "fail" fails it,
/// "one" gives back one stashed word; "nap" sleeps 100 ms and "hang" 30 s.
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
            "nap" | "hang" => {
                // Keeps the actor busy while the test queues what must wait behind it.
                let (entry, millis) = if word == "nap" {
                    ("napping", 100)
                } else {
                    ("hanging", 30_000)
                };
                self.log.lock().push(entry.to_owned());
                tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
            }
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

/// A `Gate` named `gate` with a stash of `capacity`.
async fn spawn_gate(system: &ActorSystem, log: &Log, capacity: usize) -> Pid {
    let options = SpawnOptions::new().stash_capacity(capacity);
    system
        .spawn_with("gate", gate(log), options)
        .await
        .expect("spawn")
}

/// Tells `words` to `pid`, in order.
async fn tell_words(pid: &Pid, words: &[&str]) {
    for w in words {
        pid.tell(word(w)).await.expect("tell");
    }
}

/// The next dead letter published on `events`, within 5 s.
async fn next_dead_letter(events: &mut Subscription) -> Arc<DeadLetter> {
    match next_event(events, |e| matches!(e, Event::DeadLetter(_))).await {
        Event::DeadLetter(letter) => letter,
        other => panic!("not a dead letter: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstashed_messages_come_back_in_order_before_the_mailbox() {
    let system = ActorSystem::builder("gates").build().expect("system");
    let log = log();
    let pid = spawn_gate(&system, &log, 8).await;
    tell_words(&pid, &["x1", "x2", "x3"]).await;
    wait_for(&log, |l| l.len() == 3).await;
    assert_eq!(pid.metrics().stash_len, 3);
    // "open" and "y" are both queued while the actor naps, so "y" is in the mailbox before
    // "open" gives the stash back, and is still handled after it.
    tell_words(&pid, &["nap", "open", "y"]).await;
    let seen = wait_for(&log, |l| l.len() == 9).await;
    assert_eq!(
        seen[3..],
        [
            "napping",
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
    let pid = spawn_gate(&system, &log, 8).await;
    // "fail" and "y" are queued while the actor naps.
    tell_words(&pid, &["x1", "x2", "nap", "fail", "y"]).await;
    // The new incarnation gets both words back before "y" and, still closed, stashes them
    // again.
    let seen = wait_for(&log, |l| l.len() == 6).await;
    assert_eq!(
        seen,
        [
            "stashed:x1",
            "stashed:x2",
            "napping",
            "stashed:x1",
            "stashed:x2",
            "stashed:y"
        ]
    );
    assert_eq!(pid.metrics().restarts, 1);
    assert_eq!(pid.metrics().stash_len, 3);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stash_overflow_is_a_typed_error_and_a_dead_letter() {
    let system = ActorSystem::builder("gates").build().expect("system");
    let mut events = system.subscribe();
    let log = log();
    let pid = spawn_gate(&system, &log, 2).await;
    tell_words(&pid, &["x1", "x2", "x3"]).await;
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
    let letter = next_dead_letter(&mut events).await;
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
    let pid = spawn_gate(&system, &log, 8).await;
    tell_words(&pid, &["x1", "x2", "nap", "one", "z"]).await;
    wait_for(&log, |l| l.iter().any(|e| e == "napping")).await;
    // The stop is queued while the actor naps, ahead of "one" and "z": they are handled by
    // the drain, which gives "x1" back before "z".
    pid.stop().await.expect("stop");
    let seen = log.lock().clone();
    // "x1", given back, is stashed again, still closed; nothing is handled twice or lost.
    assert_eq!(
        seen,
        [
            "stashed:x1",
            "stashed:x2",
            "napping",
            "one:true",
            "stashed:x1",
            "stashed:z"
        ],
        "{seen:?}"
    );
    let mut stopped = Vec::new();
    for _ in 0..3 {
        let letter = next_dead_letter(&mut events).await;
        assert_eq!(letter.reason(), DeadLetterReason::ActorStopped);
        let text = letter
            .message()
            .downcast_ref::<Word>()
            .map(|w| w.text.clone());
        stopped.push(text.unwrap_or_default());
    }
    stopped.sort();
    assert_eq!(stopped, ["x1", "x2", "z"]);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn an_invalid_stash_capacity_is_rejected() {
    let system = ActorSystem::builder("gates").build().expect("system");
    // Zero, and one more than `u32::MAX` where a `usize` can hold it.
    let too_large = usize::try_from(u64::from(u32::MAX) + 1).ok();
    for capacity in [Some(0), too_large].into_iter().flatten() {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_refused_by_a_full_stash_fails_its_asker_at_once() {
    let system = ActorSystem::builder("gates").build().expect("system");
    let log = log();
    let pid = spawn_gate(&system, &log, 1).await;
    tell_words(&pid, &["x1"]).await;
    let started = tokio::time::Instant::now();
    let error = pid
        .ask::<Word, _>(word("x2"))
        .timeout(std::time::Duration::from_secs(5))
        .await
        .expect_err("the stash is full");
    assert!(
        matches!(&error, AskError::StashFull { name } if name == "gate"),
        "{error}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    system.stop().await.expect("stop");
}

/// Panics in its body before building its future, when the word is "boom".
fn brittle<'a>(mood: &'a mut Mood, ctx: &'a mut Context<'_, Mood>) -> HandlerFuture<'a> {
    let word = text(ctx).unwrap_or_default();
    assert_ne!(word, "boom", "asked to panic");
    Box::pin(async move {
        mood.record("brittle", &word);
        Ok(())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_before_a_handler_builds_its_future_is_a_failure_too() {
    let system = ActorSystem::builder("panics").build().expect("system");
    let log = log();
    // A `spawn_fn` closure runs entirely when `receive` is called, before any poll.
    let closure = system
        .spawn_fn("closure", {
            let log = log.clone();
            move |ctx| {
                if let Some(word) = text(ctx) {
                    assert_ne!(word, "boom", "asked to panic");
                    log.lock().push(format!("closure:{word}"));
                }
                Ok(())
            }
        })
        .await
        .expect("spawn");
    tell_words(&closure, &["boom", "after"]).await;
    wait_for(&log, |l| l.iter().any(|e| e == "closure:after")).await;
    assert_eq!(closure.metrics().restarts, 1);
    assert!(closure.is_running());

    // A behavior's body before its `Box::pin`.
    let mood = system
        .spawn("mood", Mood { log: log.clone() })
        .await
        .expect("spawn");
    tell_words(&mood, &["stack-brittle", "ok", "boom", "after"]).await;
    wait_for(&log, |l| l.iter().any(|e| e == "receive:after")).await;
    assert_eq!(mood.metrics().restarts, 1);
    assert!(mood.is_running());
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_actor_dead_letters_its_stash() {
    let system = ActorSystem::builder("gates")
        .shutdown_timeout(std::time::Duration::from_millis(200))
        .build()
        .expect("system");
    let log = log();
    let pid = spawn_gate(&system, &log, 8).await;
    tell_words(&pid, &["x1", "hang"]).await;
    wait_for(&log, |l| l.iter().any(|e| e == "hanging")).await;
    let error = system
        .stop()
        .await
        .expect_err("the hanging actor is aborted");
    assert!(
        matches!(error, rakt_actor::SystemError::ShutdownTimeout { .. }),
        "{error}"
    );
    // The stashed "x1" is counted as a dead letter, not dropped with the aborted task.
    assert_eq!(system.dead_letter_count(), 1);
    assert_eq!(pid.metrics().dead_letters, 1);
}

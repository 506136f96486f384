//! `Probe`: an actor the test drives and inspects.

use std::fmt;
use std::time::Duration;

use rakt_actor::{
    Actor, ActorError, ActorSystem, AnyMessage, Ask, Context, Event, Letter, LookupError,
    MailboxConfig, Message, Passivation, Pid, SendError, SpawnOptions, StopError,
};
use rakt_proto::v1::{PoisonPill, PostStart, Terminated};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::TestKitError;
use crate::expect::{Expect, Failure, describe, list};

/// What a failed expectation says when the probe's actor stopped: no message can come.
const STOPPED: &str = "no message: the probe's actor stopped";

/// What the probe's next message was.
enum Next<'p> {
    /// A message, now the last message.
    Message(&'p dyn AnyMessage),
    /// None before the deadline.
    Nothing,
    /// None, ever: the probe's actor stopped (killed, stopped, or its system stopped).
    Stopped,
}

/// The actor behind a probe: it hands every message, with its sender and asker, to the test.
struct Inbox {
    letters: mpsc::UnboundedSender<Letter>,
}

impl Actor for Inbox {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            return Ok(());
        }
        if let Some(letter) = ctx.take_letter() {
            // Once the probe is dropped nobody reads letters; an asker then gets `NoReply`.
            let _ = self.letters.send(letter);
        }
        Ok(())
    }
}

/// An actor under the test's control: it sends, asks and forwards as any actor would, and
/// the test checks what it receives with expectations.
///
/// Made by [`TestKit::probe`](crate::TestKit::probe). Every `expect_*` method returns an
/// [`Expect`] to await: it waits at most the probe's timeout (3 s by default, see
/// [`set_expect_timeout`](Self::set_expect_timeout)) or the one given to [`Expect::within`], and panics
/// with what was expected, what arrived instead and the test's line when it is not met. The
/// message an expectation takes becomes the probe's *last message*: [`sender`](Self::sender),
/// [`respond`](Self::respond), [`fail`](Self::fail) and [`forward`](Self::forward) act on it.
///
/// Operations that can fail for reasons other than a broken expectation (`tell`, `ask`,
/// `forward`, `respond`, `fail`, `watch_named`, `stop`) return a `Result` instead of
/// panicking, so a test can check those failures too.
///
/// ```
/// use rakt_testkit::TestKit;
/// use rakt_actor::Context;
/// use rakt_proto::v1::StatusFailure as Text;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let kit = TestKit::new();
/// let shout = kit
///     .system()
///     .spawn_fn("shout", |ctx: &mut Context<'_, _>| {
///         if let Some(text) = ctx.take_message::<Text>() {
///             ctx.respond(Text { error: text.error.to_uppercase() });
///         }
///         Ok(())
///     })
///     .await?;
/// let mut probe = kit.probe().await?;
/// probe.tell(&shout, Text { error: "hey".into() }).await?;
/// probe.expect_message(Text { error: "HEY".into() }).await;
/// assert_eq!(probe.sender(), Some(&shout));
/// kit.stop().await?;
/// # Ok(())
/// # }
/// ```
pub struct Probe {
    pid: Pid,
    system: ActorSystem,
    letters: mpsc::UnboundedReceiver<Letter>,
    last: Option<Letter>,
    timeout: Duration,
}

impl Probe {
    /// Spawns a probe named `name` on `system`.
    pub(crate) async fn spawn(
        system: &ActorSystem,
        name: &str,
        timeout: Duration,
    ) -> Result<Self, rakt_actor::SpawnError> {
        let (tx, letters) = mpsc::unbounded_channel();
        // Whatever the system's defaults, a probe keeps every message, in arrival order, and
        // lives until the test is done with it.
        let options = SpawnOptions::new()
            .mailbox(MailboxConfig::Unbounded)
            .passivation(Passivation::LongLived);
        let pid = system
            .spawn_with(name, Inbox { letters: tx }, options)
            .await?;
        Ok(Self {
            pid,
            system: system.clone(),
            letters,
            last: None,
            timeout,
        })
    }

    /// The probe's own `Pid`, to give to the actors under test.
    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    /// The default timeout of this probe's expectations.
    pub fn expect_timeout(&self) -> Duration {
        self.timeout
    }

    /// Changes the default timeout of this probe's expectations.
    pub fn set_expect_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Tells `to` a message with the probe as its sender, so replies come to the probe.
    pub async fn tell<M: Message>(&self, to: &Pid, message: M) -> Result<(), SendError> {
        to.tell_from(&self.pid, message).await
    }

    /// Asks `to` with the probe as the sender and returns the typed reply, within the
    /// system's ask timeout unless [`Ask::timeout`] says otherwise. The reply comes back to
    /// this call, not to the probe's messages.
    pub fn ask<'t, R: Message, M: Message>(&self, to: &'t Pid, message: M) -> Ask<'t, R> {
        to.ask(message).sender(&self.pid)
    }

    /// Sends the last message on to `to` with its original sender, and its asker when it was
    /// an ask, so that `to` answers that asker directly. The last message is used up.
    pub async fn forward(&mut self, to: &Pid) -> Result<(), TestKitError> {
        let letter = self.last.take().ok_or_else(|| self.no_message("forward"))?;
        letter.forward(to).await.map_err(TestKitError::from)
    }

    /// Answers the last message as a handler would: to its asker when it was an ask, else to
    /// its sender. A reply with nowhere to go becomes a dead letter.
    pub fn respond<M: Message>(&mut self, message: M) -> Result<(), TestKitError> {
        self.last_letter("respond")?.respond(message);
        Ok(())
    }

    /// Answers the last message with a failure: its asker gets
    /// [`AskError::HandlerFailed`](rakt_actor::AskError::HandlerFailed), its sender a
    /// [`StatusFailure`](rakt_proto::v1::StatusFailure).
    pub fn fail(&mut self, error: impl fmt::Display) -> Result<(), TestKitError> {
        self.last_letter("fail")?.fail(error);
        Ok(())
    }

    /// The sender of the last message, when an actor sent it.
    pub fn sender(&self) -> Option<&Pid> {
        self.last.as_ref().and_then(Letter::sender)
    }

    /// The last message, unless it was forwarded.
    pub fn last_message(&self) -> Option<&dyn AnyMessage> {
        self.last.as_ref().map(Letter::message)
    }

    /// Watches `target`: when it stops, the probe receives a [`Terminated`] message, which
    /// [`expect_terminated`](Self::expect_terminated) checks.
    pub fn watch(&self, target: &Pid) {
        self.pid.watch(target);
    }

    /// Watches the actor named `name` and returns its `Pid`.
    pub async fn watch_named(&self, name: &str) -> Result<Pid, LookupError> {
        let target = self.system.actor_of(name).await?;
        self.pid.watch(&target);
        Ok(target)
    }

    /// Stops watching `target`.
    pub fn unwatch(&self, target: &Pid) {
        self.pid.unwatch(target);
    }

    /// Drops every message that reached the test and was not expected yet; returns how many
    /// there were. A message still in the probe's mailbox at that moment stays.
    pub fn clear_messages(&mut self) -> usize {
        let mut cleared = 0;
        while self.letters.try_recv().is_ok() {
            cleared += 1;
        }
        cleared
    }

    /// Stops the probe's actor and waits until it has stopped.
    pub async fn stop(self) -> Result<(), StopError> {
        self.pid.stop().await
    }

    /// Expects the next message to equal `message`, and returns it.
    #[track_caller]
    pub fn expect_message<M: Message + PartialEq>(&mut self, message: M) -> Expect<'_, M> {
        let expected = describe(&message);
        self.expect_next("expect_message", expected, move |got| {
            got.downcast_ref::<M>().filter(|m| **m == message).cloned()
        })
    }

    /// Expects the next message to equal `message` within `timeout`, and returns it; the same
    /// as [`expect_message`](Self::expect_message) followed by [`Expect::within`].
    #[track_caller]
    pub fn expect_message_within<M: Message + PartialEq>(
        &mut self,
        timeout: Duration,
        message: M,
    ) -> Expect<'_, M> {
        self.expect_message(message).within(timeout)
    }

    /// Expects the next message to be an `M`, whatever its value, and returns it.
    #[track_caller]
    pub fn expect_message_of_type<M: Message>(&mut self) -> Expect<'_, M> {
        let expected = format!("a message of type {}", M::full_name());
        self.expect_next("expect_message_of_type", expected, |got| {
            got.downcast_ref::<M>().cloned()
        })
    }

    /// Expects the next message to be an `M` for which `predicate` holds, and returns it.
    #[track_caller]
    pub fn expect_message_matching<'a, M: Message>(
        &'a mut self,
        predicate: impl FnOnce(&M) -> bool + Send + 'a,
    ) -> Expect<'a, M> {
        let expected = format!(
            "a message of type {} matching the predicate",
            M::full_name()
        );
        self.expect_next("expect_message_matching", expected, move |got| {
            got.downcast_ref::<M>().filter(|m| predicate(m)).cloned()
        })
    }

    /// Expects a message of any type, and returns it.
    #[track_caller]
    pub fn expect_any_message(&mut self) -> Expect<'_, Box<dyn AnyMessage>> {
        self.expect_next("expect_any_message", "any message".to_owned(), |got| {
            Some(got.clone_box())
        })
    }

    /// Expects the next message to be the [`Terminated`] of `target`, which the probe must
    /// [`watch`](Self::watch), and returns it.
    #[track_caller]
    pub fn expect_terminated(&mut self, target: &Pid) -> Expect<'_, Terminated> {
        let target = target.clone();
        let expected = format!("Terminated of `{}`", target.address());
        self.expect_next("expect_terminated", expected, move |got| {
            let terminated = got.downcast_ref::<Terminated>()?;
            (terminated.address == target.address().to_string()).then(|| terminated.clone())
        })
    }

    /// Expects no message at all during `window`.
    #[track_caller]
    pub fn expect_no_message(&mut self, window: Duration) -> Expect<'_, ()> {
        let subject = self.subject();
        Expect::new(
            "expect_no_message",
            subject,
            window,
            move |deadline| async move {
                let expected = format!("no message within {window:?}");
                match self.next(deadline).await {
                    Next::Nothing => Ok(()),
                    Next::Message(got) => Err(Failure::new(expected, Some(describe(got)))),
                    Next::Stopped => Err(Failure::new(expected, Some(STOPPED.to_owned()))),
                }
            },
        )
    }

    /// Expects `count` messages, of any types, and returns them in arrival order.
    #[track_caller]
    pub fn receive_n(&mut self, count: usize) -> Expect<'_, Vec<Box<dyn AnyMessage>>> {
        let subject = self.subject();
        let timeout = self.timeout;
        Expect::new("receive_n", subject, timeout, move |deadline| async move {
            let mut received = Vec::with_capacity(count);
            while received.len() < count {
                let stopped = match self.next(deadline).await {
                    Next::Message(got) => {
                        received.push(got.clone_box());
                        continue;
                    }
                    Next::Nothing => false,
                    Next::Stopped => true,
                };
                let seen: Vec<_> = received.iter().map(|m| describe(m.as_ref())).collect();
                let mut text = format!("{} message(s): {}", seen.len(), list(&seen));
                if stopped {
                    text = format!("{text}; then {STOPPED}");
                }
                return Err(Failure::new(
                    format!("{count} messages"),
                    (stopped || !seen.is_empty()).then_some(text),
                ));
            }
            Ok(received)
        })
    }

    /// Skips messages until an `M` for which `predicate` holds arrives, and returns it.
    /// Messages of other types and `M`s that do not match are dropped.
    #[track_caller]
    pub fn fish_for_message<'a, M: Message>(
        &'a mut self,
        mut predicate: impl FnMut(&M) -> bool + Send + 'a,
    ) -> Expect<'a, M> {
        let subject = self.subject();
        let timeout = self.timeout;
        Expect::new(
            "fish_for_message",
            subject,
            timeout,
            move |deadline| async move {
                let mut skipped = Vec::new();
                loop {
                    let stopped = match self.next(deadline).await {
                        Next::Message(got) => {
                            match got.downcast_ref::<M>() {
                                Some(m) if predicate(m) => return Ok(m.clone()),
                                _ => skipped.push(describe(got)),
                            }
                            continue;
                        }
                        Next::Nothing => false,
                        Next::Stopped => true,
                    };
                    let mut text = format!("only non-matching messages: {}", list(&skipped));
                    if stopped {
                        text = format!("{text}; then {STOPPED}");
                    }
                    let expected = format!(
                        "a message of type {} matching the predicate",
                        M::full_name()
                    );
                    return Err(Failure::new(
                        expected,
                        (stopped || !skipped.is_empty()).then_some(text),
                    ));
                }
            },
        )
    }

    /// Expects `parent` to have, or to spawn, a child named `name`, and returns the child.
    /// The probe's own messages are left alone.
    #[track_caller]
    pub fn expect_child_spawned(&self, parent: &Pid, name: &str) -> Expect<'_, Pid> {
        let subject = self.subject();
        let timeout = self.timeout;
        let system = self.system.clone();
        let parent = parent.clone();
        let name = name.to_owned();
        Expect::new("expect_child_spawned", subject, timeout, move |deadline| {
            child_spawned(system, parent, name, deadline)
        })
    }

    /// An expectation on the next message: `accept` returns what the expectation yields, or
    /// `None` when the message is not the one expected.
    #[track_caller]
    fn expect_next<'a, T: Send + 'a>(
        &'a mut self,
        expectation: &'static str,
        expected: String,
        accept: impl FnOnce(&dyn AnyMessage) -> Option<T> + Send + 'a,
    ) -> Expect<'a, T> {
        let subject = self.subject();
        let timeout = self.timeout;
        Expect::new(expectation, subject, timeout, move |deadline| async move {
            match self.next(deadline).await {
                Next::Nothing => Err(Failure::new(expected, None)),
                Next::Stopped => Err(Failure::new(expected, Some(STOPPED.to_owned()))),
                Next::Message(got) => {
                    accept(got).ok_or_else(|| Failure::new(expected, Some(describe(got))))
                }
            }
        })
    }

    /// The next message, received before `deadline`, which becomes the last message.
    async fn next(&mut self, deadline: Instant) -> Next<'_> {
        match tokio::time::timeout_at(deadline, self.letters.recv()).await {
            Ok(Some(letter)) => Next::Message(self.last.insert(letter).message()),
            Ok(None) => Next::Stopped,
            Err(_) => Next::Nothing,
        }
    }

    fn last_letter(&mut self, operation: &'static str) -> Result<&mut Letter, TestKitError> {
        let probe = self.pid.name();
        self.last.as_mut().ok_or_else(|| TestKitError::NoMessage {
            probe: probe.to_owned(),
            operation,
        })
    }

    fn subject(&self) -> String {
        format!("probe `{}`", self.pid.name())
    }

    fn no_message(&self, operation: &'static str) -> TestKitError {
        TestKitError::NoMessage {
            probe: self.pid.name().to_owned(),
            operation,
        }
    }
}

/// Waits until `parent` has a child named `name`. Subscribes before looking at the children,
/// so that a child spawned in between is seen in the events.
async fn child_spawned(
    system: ActorSystem,
    parent: Pid,
    name: String,
    deadline: Instant,
) -> Result<Pid, Failure> {
    let mut events = system.subscribe();
    if let Some(child) = parent.children().into_iter().find(|c| c.name() == name) {
        return Ok(child);
    }
    let expected = format!("a child `{name}` of `{}`", parent.name());
    let mut others = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::ChildCreated { parent: p, child })) if p == parent => {
                if child.name() == name {
                    return Ok(child);
                }
                others.push(format!("child `{}`", child.name()));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                let text = format!("only other children: {}", list(&others));
                return Err(Failure::new(expected, (!others.is_empty()).then_some(text)));
            }
        }
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("pid", &self.pid)
            .field("timeout", &self.timeout)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // The probe's actor goes with it. A stopped probe, or one whose system stopped,
        // needs nothing, and sending to it would only make a dead letter.
        if self.pid.is_running() {
            let _ = self.pid.try_tell(PoisonPill {});
        }
    }
}

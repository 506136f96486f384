//! A message taken out of its handler with its sender and its asker, to answer or forward
//! later, from outside the actor's loop.

use std::fmt;

use crate::cell::{Envelope, ReplyTo};
use crate::error::SendError;
use crate::event::DeadLetterReason;
use crate::message::{AnyMessage, Message};
use crate::payload::Payload;
use crate::pid::Pid;

/// A received message with its return addresses, taken from its handler by
/// [`Context::take_letter`](crate::Context::take_letter).
///
/// A letter outlives the handler: code outside the actor's loop (a task, a test probe, a
/// bridge to another transport) can read it, answer it with [`respond`](Self::respond) as the
/// handler would, or [`forward`](Self::forward) it with its original sender and asker. An ask
/// whose letter is dropped unanswered fails at once for its asker with
/// [`AskError::NoReply`](crate::AskError::NoReply).
///
/// ```
/// use rakt_actor::{Actor, ActorError, ActorSystem, Context, Pid};
/// use rakt_proto::v1::{PostStart, StatusFailure as Text};
///
/// /// Hands every message to a task, which forwards it to the echo actor.
/// struct Relay {
///     echo: Pid,
/// }
///
/// impl Actor for Relay {
///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
///         if ctx.is::<PostStart>() {
///             return Ok(());
///         }
///         if let Some(letter) = ctx.take_letter() {
///             let echo = self.echo.clone();
///             tokio::spawn(async move { letter.forward(&echo).await });
///         }
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("letters").build()?;
/// let echo = system
///     .spawn_fn("echo", |ctx: &mut Context<'_, _>| {
///         if let Some(text) = ctx.take_message::<Text>() {
///             ctx.respond(text);
///         }
///         Ok(())
///     })
///     .await?;
/// let relay = system.spawn("relay", Relay { echo }).await?;
/// // The echo answers the original asker directly.
/// let reply: Text = relay.ask(Text { error: "hi".into() }).await?;
/// assert_eq!(reply.error, "hi");
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
pub struct Letter {
    message: Payload,
    sender: Option<Pid>,
    reply: Option<ReplyTo>,
    receiver: Pid,
}

impl Letter {
    pub(crate) fn new(
        message: Payload,
        sender: Option<Pid>,
        reply: Option<ReplyTo>,
        receiver: Pid,
    ) -> Self {
        Self {
            message,
            sender,
            reply,
            receiver,
        }
    }

    /// The message.
    pub fn message(&self) -> &dyn AnyMessage {
        self.message.as_dyn()
    }

    /// Who sent it, when an actor did.
    pub fn sender(&self) -> Option<&Pid> {
        self.sender.as_ref()
    }

    /// The actor that received it; replies come from this actor.
    pub fn receiver(&self) -> &Pid {
        &self.receiver
    }

    /// Whether it is an ask whose asker still waits for the reply this letter can give.
    pub fn is_ask(&self) -> bool {
        self.reply.as_ref().is_some_and(|reply| !reply.is_closed())
    }

    /// Replies as the receiver's handler would: to the asker when it is an ask, else to the
    /// sender. A reply with nowhere to go becomes a dead letter.
    pub fn respond<M: Message>(&mut self, message: M) {
        answer(
            &self.receiver,
            self.reply.take(),
            self.sender.as_ref(),
            Payload::new(message),
        );
    }

    /// Answers with a failure: an asker gets
    /// [`AskError::HandlerFailed`](crate::AskError::HandlerFailed), a sender gets a
    /// [`StatusFailure`](rakt_proto::v1::StatusFailure) message, as a failed
    /// [`Pid::pipe_to`](crate::Pid::pipe_to) delivers; with neither, the failure becomes a
    /// dead letter.
    pub fn fail(&mut self, error: impl fmt::Display) {
        match self.reply.take() {
            Some(reply) => crate::Responder::new(reply, self.receiver.clone()).fail(error),
            None => {
                let failure = rakt_proto::v1::StatusFailure {
                    error: error.to_string(),
                };
                answer(
                    &self.receiver,
                    None,
                    self.sender.as_ref(),
                    Payload::new(failure),
                );
            }
        }
    }

    /// Sends the message on to `to` with its original sender, and with its asker when it is
    /// an ask, so that `to` answers the asker directly.
    pub async fn forward(self, to: &Pid) -> Result<(), SendError> {
        to.deliver(Envelope {
            message: self.message,
            sender: self.sender,
            reply: self.reply,
            trace: crate::telemetry::Trace::current(),
        })
        .await
    }

    /// The message alone; an asker still waiting gets [`AskError::NoReply`](crate::AskError::NoReply).
    pub fn into_message(self) -> Box<dyn AnyMessage> {
        self.message.into_box()
    }
}

impl fmt::Debug for Letter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Letter")
            .field("message", &self.message.as_dyn())
            .field("sender", &self.sender)
            .field("receiver", &self.receiver)
            .field("ask", &self.is_ask())
            .finish()
    }
}

/// Delivers a reply from `from`: to the asker when there is one, else to the sender, else to
/// dead letters. Shared by handlers, letters and responders, so all reply the same way.
#[inline]
pub(crate) fn answer(from: &Pid, reply: Option<ReplyTo>, sender: Option<&Pid>, message: Payload) {
    let system = from.system_shared();
    if let Some(reply) = reply {
        if let Err(Ok(late)) = reply.send(Ok(message)) {
            system.dead_letter(
                Some(from.clone()),
                "ask reply",
                late,
                DeadLetterReason::LateReply,
            );
        }
    } else if let Some(sender) = sender {
        // Failures are already dead letters; a reply has no one else to go to.
        let _ = sender.try_deliver(Envelope {
            message,
            sender: Some(from.clone()),
            reply: None,
            trace: crate::telemetry::Trace::current(),
        });
    } else {
        system.dead_letter(
            Some(from.clone()),
            "no recipient",
            message,
            DeadLetterReason::NoRecipient,
        );
    }
}

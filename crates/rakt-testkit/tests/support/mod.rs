//! Messages and actors shared by the test kit's tests, and a helper that catches a failed
//! expectation's panic.

#![allow(dead_code, unreachable_pub)]

use std::future::IntoFuture;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use rakt_actor::{Actor, ActorError, Context, Responder};

/// A question carrying a number.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ping {
    #[prost(uint64, tag = "1")]
    pub n: u64,
}

impl prost::Name for Ping {
    const NAME: &'static str = "Ping";
    const PACKAGE: &'static str = "testkit.v1";
}

/// The answer to a `Ping` with the same number.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Pong {
    #[prost(uint64, tag = "1")]
    pub n: u64,
}

impl prost::Name for Pong {
    const NAME: &'static str = "Pong";
    const PACKAGE: &'static str = "testkit.v1";
}

/// Makes `Echo` fail with this reason.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Fail {
    #[prost(string, tag = "1")]
    pub reason: String,
}

impl prost::Name for Fail {
    const NAME: &'static str = "Fail";
    const PACKAGE: &'static str = "testkit.v1";
}

/// A signal carrying a number, for actors of single tests.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Open {
    #[prost(uint64, tag = "1")]
    pub n: u64,
}

impl prost::Name for Open {
    const NAME: &'static str = "Open";
    const PACKAGE: &'static str = "testkit.v1";
}

/// Answers each `Ping { n }` with `Pong { n }`, to its asker or its sender; fails on `Fail`.
pub struct Echo;

impl Actor for Echo {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(ping) = ctx.take_message::<Ping>() {
            ctx.respond(Pong { n: ping.n });
        } else if let Some(fail) = ctx.take_message::<Fail>() {
            return Err(ActorError::msg(fail.reason));
        }
        Ok(())
    }
}

/// Keeps every ask unanswered, so that its asker times out.
#[derive(Default)]
pub struct Hold {
    held: Vec<Responder>,
}

impl Actor for Hold {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(asker) = ctx.defer_reply() {
            self.held.push(asker);
        }
        Ok(())
    }
}

/// Runs an expectation that must fail and returns its panic message.
pub async fn panic_message(expectation: impl IntoFuture) -> String {
    match AssertUnwindSafe(expectation.into_future())
        .catch_unwind()
        .await
    {
        Ok(_) => panic!("the expectation was met, but it should have failed"),
        Err(payload) => match payload.downcast::<String>() {
            Ok(text) => *text,
            Err(payload) => match payload.downcast::<&'static str>() {
                Ok(text) => (*text).to_owned(),
                Err(_) => panic!("the expectation panicked with a payload that is not text"),
            },
        },
    }
}

/// Checks that a failure message points at `file`, on a line from `from` to a few lines
/// after it: the expectation's own line, wherever rustfmt breaks the call.
pub fn assert_points_at(message: &str, file: &str, from: u32) {
    let marker = format!(" at {file}:");
    let start = message
        .find(&marker)
        .unwrap_or_else(|| panic!("no `{marker}` in {message:?}"))
        + marker.len();
    let line: u32 = message[start..]
        .split(':')
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no line number in {message:?}"));
    assert!(
        (from..=from + 4).contains(&line),
        "failure points at line {line}, expected {from}..={}: {message}",
        from + 4
    );
}

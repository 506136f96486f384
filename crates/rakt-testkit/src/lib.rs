//! The test kit of Rakt: an actor system for one test, probes that send, ask and forward
//! as actors do, and expectations on what they receive, on dead letters and on events.
//!
//! **Position**: layer 4. It depends on `rakt-actor` and `rakt-proto`, and on tokio; nothing
//! in Rakt depends on it, and users take it as a dev-dependency. The multi-node kit of the
//! cluster will build on the same names: a node of a test cluster is a [`TestKit`] over that
//! node's system ([`TestKitBuilder::attach`]), with the same probes and expectations.
//!
//! - [`TestKit`] starts a system with test-friendly defaults (a 1 s ask timeout, a 5 s
//!   shutdown timeout, dead letters recorded rather than logged) and stops it when shut down
//!   or dropped.
//! - [`Probe`] is an actor the test drives. Its `expect_*` methods, `receive_n` and
//!   `fish_for_message` wait at most 3 s by default, or what [`Expect::within`] says.
//! - A failed expectation panics with an [`ExpectError`]: what was expected, what arrived
//!   instead (or that nothing did), after how long, and the test's line that expected it.
//!   [`Expect::outcome`] returns that error instead.
//!
//! Works with `#[tokio::test]`, on the current-thread and the multi-thread runtime.
//!
//! # A complete test
//!
//! A counter that answers every `Add` with the new total, to its asker or to its sender:
//!
//! ```
//! use rakt_actor::{Actor, ActorError, Context};
//! use rakt_testkit::TestKit;
//! use std::time::Duration;
//!
//! #[derive(Clone, PartialEq, prost::Message)]
//! pub struct Add {
//!     #[prost(int64, tag = "1")]
//!     pub amount: i64,
//! }
//! impl prost::Name for Add {
//!     const NAME: &'static str = "Add";
//!     const PACKAGE: &'static str = "counter.v1";
//! }
//!
//! #[derive(Clone, PartialEq, prost::Message)]
//! pub struct Total {
//!     #[prost(int64, tag = "1")]
//!     pub value: i64,
//! }
//! impl prost::Name for Total {
//!     const NAME: &'static str = "Total";
//!     const PACKAGE: &'static str = "counter.v1";
//! }
//!
//! #[derive(Default)]
//! struct Counter {
//!     total: i64,
//! }
//!
//! impl Actor for Counter {
//!     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
//!         if let Some(add) = ctx.take_message::<Add>() {
//!             self.total += add.amount;
//!             ctx.respond(Total { value: self.total });
//!         }
//!         Ok(())
//!     }
//! }
//!
//! // In a test crate this is `#[tokio::test] async fn counter_adds_up()`.
//! async fn counter_adds_up() -> Result<(), Box<dyn std::error::Error>> {
//!     let kit = TestKit::new();
//!     let counter = kit.spawn("counter", Counter::default()).await?;
//!     let mut probe = kit.probe().await?;
//!
//!     // Tells: the counter answers its sender, the probe.
//!     probe.tell(&counter, Add { amount: 2 }).await?;
//!     probe.tell(&counter, Add { amount: 3 }).await?;
//!     probe.expect_message(Total { value: 2 }).await;
//!     probe.expect_message(Total { value: 5 }).await;
//!     assert_eq!(probe.sender(), Some(&counter));
//!     probe.expect_no_message(Duration::from_millis(50)).await;
//!
//!     // Asks: the reply comes back to the call.
//!     let total: Total = probe.ask(&counter, Add { amount: 1 }).await?;
//!     assert_eq!(total.value, 6);
//!
//!     // Stopping: the probe sees the counter go, and later messages are dead letters.
//!     probe.watch(&counter);
//!     counter.stop().await?;
//!     probe.expect_terminated(&counter).await;
//!     let _ = probe.tell(&counter, Add { amount: 1 }).await;
//!     kit.expect_dead_letter(Add { amount: 1 }).await;
//!
//!     kit.stop().await?;
//!     Ok(())
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! #     counter_adds_up().await
//! # }
//! ```

mod error;
mod expect;
mod kit;
mod probe;
mod recorder;

pub use error::{ExpectError, TestKitError};
pub use expect::Expect;
pub use kit::{DEFAULT_EXPECT_TIMEOUT, TestKit, TestKitBuilder};
pub use probe::Probe;

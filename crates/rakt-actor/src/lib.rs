//! The local actor runtime of Rakt: actor systems, actors, `Pid`s, mailboxes, supervision,
//! dead letters, the event stream, behaviors, the stash, the scheduler, passivation and
//! eviction, reentrant requests, routers, system extensions and optional telemetry, in one
//! process, with no network code.
//!
//! **Position**: layer 1. It depends on `rakt-mailbox` (the queues) and `rakt-proto` (the
//! runtime's own wire messages), and on tokio; never on tonic, hyper or any discovery or
//! control-plane client (`cargo xtask layering` checks it). Remoting, the cluster, the
//! testkit and the `rakt` facade build on it.
//!
//! Messages are protobuf messages ([`Message`]): a local send moves the value into the
//! receiver's mailbox without encoding it, and the same message can cross the wire later.
//! Each actor runs as one tokio task that handles one message at a time; system messages
//! (stop, kill, restart, terminated) travel on their own lane and always come first.
//!
//! ```
//! use rakt_actor::{Actor, ActorError, ActorSystem, Context};
//! use rakt_proto::v1::StatusFailure as Note;
//!
//! struct Upper;
//!
//! impl Actor for Upper {
//!     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
//!         if let Some(note) = ctx.take_message::<Note>() {
//!             ctx.respond(Note { error: note.error.to_uppercase() });
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let system = ActorSystem::builder("hello").build()?;
//! let upper = system.spawn("upper", Upper).await?;
//! let reply: Note = upper.ask(Note { error: "hi".into() }).await?;
//! assert_eq!(reply.error, "HI");
//! system.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Features, both off by default:
//!
//! - `opentelemetry`: OpenTelemetry metrics, recorded on the meter given to
//!   [`ActorSystemBuilder::meter`].
//! - `spans`: a `tracing` span around the handling of each message, whose parent is the span
//!   the message was sent from.
//!
//! `docs/runtime-semantics.md` in the repository states the ordering, delivery, stop and
//! ask-timeout rules this crate keeps.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod actor;
mod address;
mod ask;
mod behavior;
mod cell;
mod context;
mod cron;
mod dependency;
mod error;
mod event;
mod extension;
mod letter;
mod mailbox;
mod message;
mod passivation;
mod payload;
mod pid;
mod reentrancy;
pub mod remote;
mod router;
mod runner;
mod scheduler;
mod shutdown;
mod supervision;
mod system;
mod telemetry;

pub use actor::{Actor, FnActor};
pub use address::{Address, MAX_NAME_LEN, validate_name};
pub use behavior::{Behavior, HandlerFuture};
pub use context::{Context, LifecycleContext};
pub use cron::{CronError, CronExpr};
pub use dependency::Dependency;
pub use error::{
    ActorError, AddressError, AskError, LookupError, NameError, SendError, SpawnError, StashError,
    StopError, SystemError,
};
pub use event::{DeadLetter, DeadLetterReason, Event, Subscription};
pub use letter::Letter;
pub use mailbox::{MailboxConfig, MessageOrder};
pub use message::{AnyMessage, Message};
pub use passivation::{Eviction, EvictionPolicy, Passivation, PassivationReason};
pub use pid::{ActorMetrics, Ask, AskFuture, Pid};
pub use reentrancy::{Reentrancy, ReentrancyMode, Request, RequestError, RequestRef, Responder};
pub use router::{Broadcast, ConsistentHash, DeadRoutee, Router, Routing};
pub use scheduler::{Clock, ScheduleError, ScheduleInfo, ScheduleKind, ScheduleRef};
pub use shutdown::{HookFailure, ShutdownHook};
pub use supervision::{Backoff, Directive, Escalated, Strategy, Supervisor};
pub use system::{ActorSystem, ActorSystemBuilder, SpawnOptions};

/// The runtime's own messages, re-exported from `rakt-proto`.
pub mod messages {
    pub use rakt_proto::v1::{
        AdjustRouterPoolSize, GetRoutees, PoisonPill, PostStart, Routees, StatusFailure, Terminated,
    };
}

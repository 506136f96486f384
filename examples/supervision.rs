//! Supervision: a payment desk whose clerks fail in three ways, each handled differently.
//!
//! Run it with `cargo run --example supervision`; it needs nothing installed.
//!
//! - A declined card is the clerk's everyday business: the supervisor resumes the clerk, which
//!   keeps its tally.
//! - A bank outage restarts the clerk on a fresh state, after an exponential backoff, at most
//!   three times a minute.
//! - A corrupted ledger is beyond a clerk: it escalates to the desk, whose supervisor restarts
//!   the desk, and with it every clerk.

#![allow(clippy::print_stdout)]

use std::time::Duration;

use rakt_actor::{
    Actor, ActorError, ActorSystem, Backoff, Context, Directive, Event, Pid, SpawnOptions,
    Supervisor,
};
use rakt_proto::v1::PostStart;

/// A payment for a clerk; `problem` makes it fail.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payment {
    /// Cents to take.
    #[prost(uint64, tag = "1")]
    pub cents: u64,
    /// `declined`, `outage`, `ledger`, or empty for a payment that goes through.
    #[prost(string, tag = "2")]
    pub problem: String,
}

impl prost::Name for Payment {
    const NAME: &'static str = "Payment";
    const PACKAGE: &'static str = "supervision.v1";
}

/// The answer to a payment: the clerk's tally so far.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Tally {
    /// Cents taken by this incarnation of the clerk.
    #[prost(uint64, tag = "1")]
    pub cents: u64,
}

impl prost::Name for Tally {
    const NAME: &'static str = "Tally";
    const PACKAGE: &'static str = "supervision.v1";
}

#[derive(Debug, thiserror::Error)]
#[error("card declined")]
struct Declined;

#[derive(Debug, thiserror::Error)]
#[error("the bank is unreachable")]
struct Outage;

#[derive(Debug, thiserror::Error)]
#[error("the ledger is corrupted")]
struct Ledger;

/// Takes payments and keeps a tally.
#[derive(Default)]
struct Clerk {
    cents: u64,
}

impl Actor for Clerk {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        let Some(payment) = ctx.take_message::<Payment>() else {
            return Ok(());
        };
        match payment.problem.as_str() {
            "declined" => return Err(Declined.into()),
            "outage" => return Err(Outage.into()),
            "ledger" => return Err(Ledger.into()),
            _ => self.cents += payment.cents,
        }
        ctx.respond(Tally { cents: self.cents });
        Ok(())
    }
}

/// Spawns the clerks, on every start.
struct Desk;

impl Actor for Desk {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            let clerks = Supervisor::new()
                .on_error::<Declined>(Directive::Resume)
                .on_error::<Outage>(Directive::Restart)
                .on_error::<Ledger>(Directive::Escalate)
                .retry(3, Duration::from_secs(60))
                .backoff(Backoff::exponential(
                    Duration::from_millis(50),
                    Duration::from_secs(1),
                ));
            for name in ["alice", "bob"] {
                let options = SpawnOptions::new().supervisor(clerks.clone());
                ctx.spawn_child_factory(name, Clerk::default, options)
                    .await?;
            }
        }
        Ok(())
    }
}

async fn pay(clerk: &Pid, cents: u64, problem: &str) {
    let payment = Payment {
        cents,
        problem: problem.to_owned(),
    };
    match clerk.ask::<Tally, _>(payment).await {
        Ok(tally) => println!("{}: took {cents}, tally {}", clerk.name(), tally.cents),
        Err(error) => println!("{}: {error}", clerk.name()),
    }
}

/// The clerk named `name`, once there is one other than `old`.
async fn clerk(
    system: &ActorSystem,
    name: &str,
    old: Option<&Pid>,
) -> Result<Pid, Box<dyn std::error::Error>> {
    // The desk spawns its clerks on `PostStart`, just after it starts.
    for _ in 0..200 {
        match system.local_actor(name) {
            Some(pid) if Some(&pid) != old => return Ok(pid),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err(format!("no clerk named {name}").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let system = ActorSystem::builder("payments").build()?;
    let mut events = system.subscribe();
    let desk = Supervisor::new().default_directive(Directive::Restart);
    system
        .spawn_with("desk", Desk, SpawnOptions::new().supervisor(desk))
        .await?;
    let alice = clerk(&system, "alice", None).await?;

    pay(&alice, 500, "").await;
    pay(&alice, 700, "declined").await;
    pay(&alice, 300, "").await; // resumed: the tally goes on

    pay(&alice, 100, "outage").await;
    pay(&alice, 200, "").await; // restarted after 50 ms on a fresh state

    pay(&alice, 100, "ledger").await;
    let alice = clerk(&system, "alice", Some(&alice)).await?;
    pay(&alice, 900, "").await; // a new clerk of the restarted desk

    system.stop().await?;
    while let Some(event) = events.recv().await {
        match event {
            Event::ActorFailed { pid, error } => println!("event: {} failed: {error}", pid.name()),
            Event::ActorSuspended { pid, reason } => {
                println!("event: {} suspended: {reason}", pid.name());
            }
            Event::ActorRestarted { pid, restarts } => {
                println!("event: {} restarted ({restarts} so far)", pid.name());
            }
            _ => {}
        }
    }
    Ok(())
}

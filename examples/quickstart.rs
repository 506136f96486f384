//! Quickstart: a small actor system showing tell, ask, watch and a graceful stop.
//!
//! Run it with `cargo run --example quickstart`; it needs nothing installed.

#![allow(clippy::print_stdout)]

use std::time::Duration;

use rakt_actor::{
    Actor, ActorError, ActorSystem, Context, DeadLetterReason, Event, LifecycleContext,
};
use rakt_proto::v1::{PostStart, Terminated};

/// Deposits money into an account.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Deposit {
    /// Amount in cents.
    #[prost(uint64, tag = "1")]
    pub cents: u64,
}

impl prost::Name for Deposit {
    const NAME: &'static str = "Deposit";
    const PACKAGE: &'static str = "quickstart.v1";
}

/// Asks an account for its balance.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetBalance {}

impl prost::Name for GetBalance {
    const NAME: &'static str = "GetBalance";
    const PACKAGE: &'static str = "quickstart.v1";
}

/// The reply to `GetBalance`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Balance {
    /// Amount in cents.
    #[prost(uint64, tag = "1")]
    pub cents: u64,
}

impl prost::Name for Balance {
    const NAME: &'static str = "Balance";
    const PACKAGE: &'static str = "quickstart.v1";
}

/// An account: its state is private, and only messages change it.
struct Account {
    cents: u64,
}

impl Actor for Account {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            println!("[{}] open", ctx.pid().name());
        } else if let Some(deposit) = ctx.message::<Deposit>() {
            self.cents += deposit.cents;
            println!(
                "[{}] deposit {} -> balance {}",
                ctx.pid().name(),
                deposit.cents,
                self.cents
            );
        } else if ctx.is::<GetBalance>() {
            ctx.respond(Balance { cents: self.cents });
        } else {
            ctx.unhandled();
        }
        Ok(())
    }

    async fn post_stop(&mut self, ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        println!("[{}] closed with balance {}", ctx.pid().name(), self.cents);
        Ok(())
    }
}

/// Watches the account and reports when it is gone.
struct Auditor;

impl Actor for Auditor {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(gone) = ctx.message::<Terminated>() {
            println!("[auditor] {} has stopped", gone.address);
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let system = ActorSystem::builder("quickstart")
        .ask_timeout(Duration::from_secs(2))
        .build()?;
    let mut events = system.subscribe();

    let account = system.spawn("account-1", Account { cents: 0 }).await?;
    let auditor = system.spawn("auditor", Auditor).await?;
    auditor.watch(&account);

    // Tell: fire and forget, in order.
    account.tell(Deposit { cents: 1_500 }).await?;
    account.tell(Deposit { cents: 250 }).await?;

    // Ask: a typed reply within the timeout.
    let balance: Balance = account.ask(GetBalance {}).await?;
    println!("[main] balance is {} cents", balance.cents);

    // Graceful stop: queued messages are handled first, then the watcher hears of it.
    account.stop().await?;
    if let Err(error) = account.tell(Deposit { cents: 1 }).await {
        println!("[main] after stop: {error}");
    }

    // What the event stream saw, including the undeliverable deposit.
    while let Some(event) = events.try_recv() {
        match event {
            Event::ActorStarted { pid } => println!("[events] started {pid}"),
            Event::ActorStopped { pid } => println!("[events] stopped {pid}"),
            Event::DeadLetter(letter) if letter.reason() == DeadLetterReason::ActorStopped => {
                println!(
                    "[events] dead letter for {}: {:?}",
                    letter.receiver(),
                    letter.message()
                );
            }
            _ => {}
        }
    }

    system.stop().await?;
    println!(
        "[main] system stopped, {} dead letter(s)",
        system.dead_letter_count()
    );
    Ok(())
}

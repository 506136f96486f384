//! Behaviors and the stash: a printer that holds jobs while it is offline or paused.
//!
//! Run it with `cargo run --example behaviors`; it needs nothing installed.
//!
//! The printer starts offline: `receive` stashes every job. `Online` gives the jobs back and
//! swaps in the `online` behavior, which prints them. `Pause` pushes the `paused` behavior on
//! top, which stashes jobs again, and `Resume` pops it and gives them back.

#![allow(clippy::print_stdout)]

use std::time::Duration;

use rakt_actor::{Actor, ActorError, ActorSystem, Context, HandlerFuture, SpawnOptions};
use rakt_proto::v1::PostStart;

/// A page to print.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Job {
    /// What to print.
    #[prost(string, tag = "1")]
    pub text: String,
}

impl prost::Name for Job {
    const NAME: &'static str = "Job";
    const PACKAGE: &'static str = "behaviors.v1";
}

/// A change of the printer's state.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Control {
    /// `online`, `pause` or `resume`.
    #[prost(string, tag = "1")]
    pub command: String,
}

impl prost::Name for Control {
    const NAME: &'static str = "Control";
    const PACKAGE: &'static str = "behaviors.v1";
}

/// Asks how many pages were printed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Printed {
    /// The answer.
    #[prost(uint32, tag = "1")]
    pub pages: u32,
}

impl prost::Name for Printed {
    const NAME: &'static str = "Printed";
    const PACKAGE: &'static str = "behaviors.v1";
}

struct Printer {
    pages: u32,
}

fn command<A: Actor>(ctx: &Context<'_, A>) -> Option<String> {
    ctx.message::<Control>().map(|c| c.command.clone())
}

/// Holds a job for later, saying so.
fn hold<A: Actor>(ctx: &mut Context<'_, A>, why: &str) -> Result<(), ActorError> {
    if let Some(job) = ctx.message::<Job>() {
        println!("[printer] {why}: holding {:?}", job.text);
        ctx.stash()?;
    }
    Ok(())
}

/// Online: prints jobs, answers `Printed`, and can be paused.
fn online<'a>(printer: &'a mut Printer, ctx: &'a mut Context<'_, Printer>) -> HandlerFuture<'a> {
    Box::pin(async move {
        if let Some(job) = ctx.message::<Job>() {
            printer.pages += 1;
            println!("[printer] printing page {}: {:?}", printer.pages, job.text);
        } else if ctx.is::<Printed>() {
            ctx.respond(Printed {
                pages: printer.pages,
            });
        } else if command(ctx).as_deref() == Some("pause") {
            println!("[printer] paused");
            ctx.push_behavior(paused);
        }
        Ok(())
    })
}

/// Paused, on top of `online`: holds jobs until `resume`.
fn paused<'a>(_: &'a mut Printer, ctx: &'a mut Context<'_, Printer>) -> HandlerFuture<'a> {
    Box::pin(async move {
        if command(ctx).as_deref() == Some("resume") {
            ctx.pop_behavior();
            let held = ctx.unstash_all();
            println!("[printer] resumed with {held} held job(s)");
            return Ok(());
        }
        hold(ctx, "paused")
    })
}

impl Actor for Printer {
    /// Offline, the initial behavior: holds jobs until `online`.
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            println!("[printer] offline");
        } else if command(ctx).as_deref() == Some("online") {
            ctx.set_behavior(online);
            let held = ctx.unstash_all();
            println!("[printer] online with {held} held job(s)");
        } else {
            hold(ctx, "offline")?;
        }
        Ok(())
    }
}

fn job(text: &str) -> Job {
    Job {
        text: text.to_owned(),
    }
}

fn control(command: &str) -> Control {
    Control {
        command: command.to_owned(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let system = ActorSystem::builder("behaviors")
        .ask_timeout(Duration::from_secs(2))
        .build()?;
    let options = SpawnOptions::new().stash_capacity(16);
    let printer = system
        .spawn_with("printer", Printer { pages: 0 }, options)
        .await?;

    printer.tell(job("cover letter")).await?;
    printer.tell(job("resume")).await?;
    printer.tell(control("online")).await?;
    printer.tell(job("invoice")).await?;
    printer.tell(control("pause")).await?;
    printer.tell(job("receipt")).await?;
    printer.tell(control("resume")).await?;

    let printed: Printed = printer.ask(Printed::default()).await?;
    println!("[main] {} page(s) printed", printed.pages);
    assert_eq!(printed.pages, 4);

    system.stop().await?;
    Ok(())
}

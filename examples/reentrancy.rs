//! Reentrant requests: a coordinator asks a slow pricing service without blocking its
//! mailbox, answers status queries meanwhile, and replies to its own asker from the
//! continuation; then the same coordinator in stash-non-reentrant mode, where queries wait
//! for the reply.
//!
//! Run it with `cargo run --example reentrancy`; it needs nothing installed.

#![allow(clippy::print_stdout)]

use std::future::IntoFuture;
use std::time::Duration;

use rakt_actor::{
    Actor, ActorError, ActorSystem, Context, FnActor, Pid, Reentrancy, ReentrancyMode, SpawnOptions,
};

/// A question for a price, and its answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Quote {
    /// What is priced.
    #[prost(string, tag = "1")]
    pub sku: String,
    /// The price in cents, in the answer.
    #[prost(uint64, tag = "2")]
    pub cents: u64,
}

impl prost::Name for Quote {
    const NAME: &'static str = "Quote";
    const PACKAGE: &'static str = "reentrancy.v1";
}

/// A status query, answered with how many quotes are pending.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// Quotes in flight, in the answer.
    #[prost(uint32, tag = "1")]
    pub pending: u32,
}

impl prost::Name for Status {
    const NAME: &'static str = "Status";
    const PACKAGE: &'static str = "reentrancy.v1";
}

/// Forwards quotes to the pricing service as requests and answers its askers from the
/// continuations.
struct Coordinator {
    pricing: Pid,
    pending: u32,
}

impl Actor for Coordinator {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(quote) = ctx.take_message::<Quote>() {
            println!("  coordinator: asking for {} without waiting", quote.sku);
            self.pending += 1;
            let asker = ctx.defer_reply();
            let pricing = self.pricing.clone();
            ctx.request::<Quote, _>(&pricing, quote)
                .timeout(Duration::from_secs(2))
                .then(move |me: &mut Self, _ctx, reply| {
                    me.pending -= 1;
                    match (asker, reply) {
                        (Some(asker), Ok(priced)) => {
                            println!("  coordinator: {} costs {} cents", priced.sku, priced.cents);
                            asker.respond(priced);
                        }
                        (Some(asker), Err(error)) => asker.fail(error),
                        (None, _) => {}
                    }
                    Ok(())
                })?;
        } else if ctx.is::<Status>() {
            println!("  coordinator: status asked, {} pending", self.pending);
            ctx.respond(Status {
                pending: self.pending,
            });
        }
        Ok(())
    }
}

async fn run(
    system: &ActorSystem,
    name: &str,
    mode: ReentrancyMode,
) -> Result<(), Box<dyn std::error::Error>> {
    let pricing = system.local_actor("pricing").ok_or("no pricing service")?;
    let options = SpawnOptions::new().reentrancy(Reentrancy::new(mode));
    let coordinator = Coordinator {
        pricing,
        pending: 0,
    };
    let coordinator = system.spawn_with(name, coordinator, options).await?;
    let quote = coordinator.ask::<Quote, _>(Quote {
        sku: "teapot".into(),
        cents: 0,
    });
    let status = async {
        // Asked just after the quote.
        tokio::time::sleep(Duration::from_millis(20)).await;
        coordinator.ask::<Status, _>(Status::default()).await
    };
    let (quote, status) = tokio::join!(quote.into_future(), status);
    println!(
        "  caller: quote {} cents, status said {} pending",
        quote?.cents, status?.pending
    );
    coordinator.stop().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let system = ActorSystem::builder("shop").build()?;
    // A pricing service that takes 200 ms per quote, answering from a task of its own.
    system
        .spawn(
            "pricing",
            FnActor::new(|ctx: &mut Context<'_, FnActor>| {
                if let Some(quote) = ctx.take_message::<Quote>() {
                    if let Some(asker) = ctx.defer_reply() {
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            asker.respond(Quote {
                                cents: 1_250,
                                ..quote
                            });
                        });
                    }
                }
                Ok(())
            }),
        )
        .await?;

    println!("allow all: the status query is answered while the quote is pending");
    run(&system, "coordinator", ReentrancyMode::AllowAll).await?;
    println!("stash non-reentrant: the status query waits for the quote");
    run(
        &system,
        "strict-coordinator",
        ReentrancyMode::StashNonReentrant,
    )
    .await?;
    system.stop().await?;
    Ok(())
}

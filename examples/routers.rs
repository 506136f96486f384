//! Routers: a round-robin pool of resizers that grows at run time and replaces a routee that
//! crashed, a consistent-hash pool that keeps each user's events on one routee, a broadcast,
//! and a scatter-gather-first pool of replicas where the fastest answer wins.
//!
//! Run it with `cargo run --example routers`; it needs nothing installed.

#![allow(clippy::print_stdout)]

use std::time::Duration;

use rakt_actor::messages::{AdjustRouterPoolSize, GetRoutees, Routees};
use rakt_actor::{
    ActorError, ActorSystem, Broadcast, ConsistentHash, Context, DeadRoutee, FnActor, Router,
    Routing,
};

/// A job for a worker, and its result.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Job {
    /// Whose job it is.
    #[prost(string, tag = "1")]
    pub user: String,
    /// What is done, in the result.
    #[prost(string, tag = "2")]
    pub done_by: String,
    /// When true, the worker crashes on it.
    #[prost(bool, tag = "3")]
    pub crash: bool,
}

impl prost::Name for Job {
    const NAME: &'static str = "Job";
    const PACKAGE: &'static str = "routers.v1";
}

/// A worker answers an asked job with its own name, and crashes when asked to.
fn worker() -> FnActor {
    FnActor::new(|ctx: &mut Context<'_, FnActor>| {
        if let Some(job) = ctx.take_message::<Job>() {
            if job.crash {
                return Err(ActorError::msg("crashed on purpose"));
            }
            let done_by = ctx.pid().name().to_owned();
            match ctx.defer_reply() {
                Some(asker) => asker.respond(Job { done_by, ..job }),
                None => println!("{done_by} did {}'s job, told without an answer", job.user),
            }
        }
        Ok(())
    })
}

/// A replica answers after a delay that depends on which replica it is.
fn replica() -> FnActor {
    FnActor::new(|ctx: &mut Context<'_, FnActor>| {
        if let Some(job) = ctx.take_message::<Job>() {
            let name = ctx.pid().name().to_owned();
            let delay = if name.ends_with('1') { 5 } else { 200 };
            if let Some(asker) = ctx.defer_reply() {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    asker.respond(Job {
                        done_by: name,
                        ..job
                    });
                });
            }
        }
        Ok(())
    })
}

fn job(user: &str) -> Job {
    Job {
        user: user.into(),
        ..Job::default()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let system = ActorSystem::builder("routers").build()?;

    // Round robin, with crashed routees replaced in place.
    let pool = Router::pool(3, worker)
        .routing(Routing::RoundRobin)
        .on_dead_routee(DeadRoutee::Replace);
    let workers = system.spawn_router("workers", pool).await?;
    for user in ["ada", "bob", "cy", "dee"] {
        let done: Job = workers.ask(job(user)).await?;
        println!("round robin: {user}'s job done by {}", done.done_by);
    }
    let grown: Routees = workers.ask(AdjustRouterPoolSize { pool_size: 2 }).await?;
    println!("grown to {:?}", grown.names);
    let crash = Job {
        crash: true,
        ..job("eve")
    };
    // The routee that takes it crashes, stops, and is replaced.
    workers.tell(crash).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after: Routees = workers.ask(GetRoutees {}).await?;
    println!("after a crash: {:?}", after.names);
    workers.tell(Broadcast::new(job("everyone"))).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Consistent hashing: each user's jobs always reach the same routee.
    let by_user = ConsistentHash::new(|m| m.downcast_ref::<Job>().map(|job| job.user.clone()));
    let pool = Router::pool(4, worker).routing(Routing::ConsistentHash(by_user));
    let sharded = system.spawn_router("sharded", pool).await?;
    for user in ["ada", "bob", "ada", "bob", "ada"] {
        let done: Job = sharded.ask(job(user)).await?;
        println!("consistent hash: {user} -> {}", done.done_by);
    }

    // Scatter-gather-first: every replica is asked; the first answer wins.
    let within = Duration::from_millis(500);
    let pool = Router::pool(3, replica).routing(Routing::ScatterGatherFirst { within });
    let replicas = system.spawn_router("replicas", pool).await?;
    let fastest: Job = replicas.ask(job("ada")).await?;
    println!("scatter-gather-first: answered by {}", fastest.done_by);

    system.stop().await?;
    Ok(())
}

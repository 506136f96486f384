//! Extensions, dependencies and coordinated shutdown: a system-wide setting every actor
//! reads, a per-actor dependency that survives a restart, and ordered shutdown hooks, one of
//! them retried, that run before the actors stop.
//!
//! Run it with `cargo run --example lifecycle`; it needs nothing installed.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rakt_actor::messages::StatusFailure as Text;
use rakt_actor::{
    ActorError, ActorSystem, Context, Dependency, FnActor, HookFailure, ShutdownHook, SpawnOptions,
};

/// A system-wide setting, registered once as an extension.
struct Greeting(String);

/// A per-actor dependency with a stable id, kept across restarts.
struct Store {
    name: String,
}

impl Dependency for Store {
    fn id(&self) -> &str {
        "store"
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let attempts = Arc::new(AtomicU32::new(0));
    let flaky = attempts.clone();
    let system = ActorSystem::builder("lifecycle")
        .extension(Greeting("hello".into()))
        .shutdown_hook(
            ShutdownHook::new("flush metrics", move |_system| {
                let attempt = flaky.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    println!("hook: flush metrics, attempt {attempt}");
                    if attempt < 2 {
                        return Err(ActorError::msg("exporter busy"));
                    }
                    Ok(())
                }
            })
            .order(2)
            .retries(2, Duration::from_millis(20)),
        )
        .shutdown_hook(
            ShutdownHook::new("deregister", |system: ActorSystem| async move {
                println!("hook: deregister {} actors first", system.actor_count());
                Ok(())
            })
            .order(1)
            .on_failure(HookFailure::Continue),
        )
        .build()?;

    let options = SpawnOptions::new().dependency(Store {
        name: "orders-db".into(),
    });
    let greeter = system
        .spawn_with(
            "greeter",
            FnActor::new(|ctx: &mut Context<'_, _>| {
                if let Some(who) = ctx.take_message::<Text>() {
                    let greeting = ctx.extension::<Greeting>().map_or("hi", |g| g.0.as_str());
                    let store = ctx.dependency::<Store>().map(|s| s.name.clone());
                    let reply = format!("{greeting} {}, via {store:?}", who.error);
                    ctx.respond(Text { error: reply });
                }
                Ok(())
            }),
            options,
        )
        .await?;
    let reply: Text = greeter
        .ask(Text {
            error: "ada".into(),
        })
        .await?;
    println!("{}", reply.error);
    greeter.restart().await?;
    let reply: Text = greeter
        .ask(Text {
            error: "bob".into(),
        })
        .await?;
    println!("after a restart: {}", reply.error);

    system.stop().await?;
    println!(
        "stopped after {} attempts of the flaky hook",
        attempts.load(Ordering::SeqCst)
    );
    Ok(())
}

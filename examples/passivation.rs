//! Passivation and eviction: shopping carts that passivate when idle or after a number of
//! items, one that pauses its passivation, and a system that keeps at most three carts alive.
//!
//! Run it with `cargo run --example passivation`; it needs nothing installed. Idle times are
//! real, but short: the whole example takes about a second.

#![allow(clippy::print_stdout)]

use std::time::Duration;

use rakt_actor::{
    Actor, ActorError, ActorSystem, Context, Event, Eviction, EvictionPolicy, LifecycleContext,
    Passivation, SpawnOptions, Subscription,
};

/// An item put in a cart.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AddItem {
    /// What it is.
    #[prost(string, tag = "1")]
    pub sku: String,
}

impl prost::Name for AddItem {
    const NAME: &'static str = "AddItem";
    const PACKAGE: &'static str = "passivation.v1";
}

/// A cart: it counts items, and says goodbye when it stops.
struct Cart {
    items: usize,
}

impl Actor for Cart {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<AddItem>() {
            self.items += 1;
        }
        Ok(())
    }

    async fn post_stop(&mut self, ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        // A real cart would save itself here.
        println!("  {} stops with {} item(s)", ctx.pid().name(), self.items);
        Ok(())
    }
}

fn item(sku: &str) -> AddItem {
    AddItem { sku: sku.into() }
}

/// Prints passivations until `count` were seen, or a second passed.
async fn report(events: &mut Subscription, count: usize) {
    let mut seen = 0;
    while seen < count {
        match tokio::time::timeout(Duration::from_secs(1), events.recv()).await {
            Ok(Some(Event::ActorPassivated { pid, reason })) => {
                println!("  {} passivated: {reason}", pid.name());
                seen += 1;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // At most three carts alive, checked every 100 ms; the least recently used go first.
    let eviction = Eviction::new(3, EvictionPolicy::Lru).interval(Duration::from_millis(100));
    let system = ActorSystem::builder("shop").eviction(eviction).build()?;
    let mut events = system.subscribe();
    let idle = SpawnOptions::new().passivation(Passivation::AfterIdle(Duration::from_millis(150)));

    println!("a cart idle for 150 ms passivates:");
    let alice = system
        .spawn_with("cart-alice", Cart { items: 0 }, idle.clone())
        .await?;
    alice.tell(item("tea")).await?;
    report(&mut events, 1).await;

    println!("a cart passivates after three messages (PostStart and two items):");
    let counted = SpawnOptions::new().passivation(Passivation::AfterMessages(3));
    let bob = system
        .spawn_with("cart-bob", Cart { items: 0 }, counted)
        .await?;
    bob.tell(item("bread")).await?;
    bob.tell(item("jam")).await?;
    report(&mut events, 1).await;

    println!("a paused cart stays, and passivates once resumed:");
    let carol = system
        .spawn_with("cart-carol", Cart { items: 0 }, idle.clone())
        .await?;
    carol.pause_passivation();
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!(
        "  cart-carol still running after 300 ms: {}",
        carol.is_running()
    );
    carol.resume_passivation();
    report(&mut events, 1).await;

    println!("five carts, a limit of three: the two least recently used are evicted:");
    let hour = SpawnOptions::new().passivation(Passivation::AfterIdle(Duration::from_secs(3600)));
    for name in ["cart-1", "cart-2", "cart-3", "cart-4", "cart-5"] {
        let cart = system
            .spawn_with(name, Cart { items: 0 }, hour.clone())
            .await?;
        cart.tell(item("milk")).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    report(&mut events, 2).await;

    let mut alive: Vec<String> = system
        .actors()
        .iter()
        .map(|p| p.name().to_owned())
        .collect();
    alive.sort();
    println!("alive: {}", alive.join(", "));
    system.stop().await?;
    Ok(())
}

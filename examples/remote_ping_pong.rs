//! Remote ping-pong: two nodes on loopback, each with its own actor system, playing over gRPC.
//!
//! Node "table" registers the `pong` kind; node "player" spawns a pong actor there by kind
//! name, then a local ping actor and the remote pong actor send each other messages, each
//! replying to the sender of what it got. Finally the player asks, watches and stops the
//! remote actor. Run it with `cargo run --example remote_ping_pong`.

#![allow(clippy::print_stdout)]

use std::time::Duration;

use rakt_actor::{Actor, ActorError, ActorSystem, Context, Pid};
use rakt_proto::v1::Terminated;
use rakt_remote::{RemoteSpawnOptions, Remoting};
use tokio::sync::oneshot;

/// A ball going one way: the round it belongs to.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ping {
    /// The round, from 1.
    #[prost(uint32, tag = "1")]
    pub round: u32,
}

impl prost::Name for Ping {
    const NAME: &'static str = "Ping";
    const PACKAGE: &'static str = "pingpong.v1";
}

/// The ball coming back.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Pong {
    /// The round it answers.
    #[prost(uint32, tag = "1")]
    pub round: u32,
}

impl prost::Name for Pong {
    const NAME: &'static str = "Pong";
    const PACKAGE: &'static str = "pingpong.v1";
}

/// Returns every ball to whoever sent it, and answers an ask with the rounds played.
#[derive(Default)]
struct Paddle {
    returned: u32,
}

impl Actor for Paddle {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(ping) = ctx.message::<Ping>() {
            let round = ping.round;
            if round == 0 {
                // An ask: how many balls came back so far.
                ctx.respond(Pong {
                    round: self.returned,
                });
            } else if let Some(player) = ctx.sender().cloned() {
                self.returned += 1;
                ctx.tell(&player, Pong { round }).await?;
            }
        }
        Ok(())
    }
}

/// Serves `rounds` balls to the remote paddle, one after the other.
struct Player {
    table: Pid,
    rounds: u32,
    done: Option<oneshot::Sender<u32>>,
}

impl Actor for Player {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<rakt_proto::v1::PostStart>() {
            ctx.tell(&self.table, Ping { round: 1 }).await?;
        } else if let Some(pong) = ctx.message::<Pong>() {
            let round = pong.round;
            if round < self.rounds {
                ctx.tell(&self.table, Ping { round: round + 1 }).await?;
            } else if let Some(done) = self.done.take() {
                let _ = done.send(round);
            }
        } else if let Some(terminated) = ctx.message::<Terminated>() {
            println!("[player] the paddle at {} stopped", terminated.address);
        }
        Ok(())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The table's node: knows the ball types, and the `pong` kind.
    let table_system = ActorSystem::builder("table").build()?;
    let table = Remoting::builder(&table_system)
        .register::<Ping>()
        .register::<Pong>()
        .kind("pong", Paddle::default)
        .start()
        .await?;
    println!("[table] listening on {}", table.local_addr());

    // The player's node spawns a paddle on the table's node, by kind name.
    let player_system = ActorSystem::builder("player").build()?;
    let player_node = Remoting::builder(&player_system)
        .register::<Ping>()
        .register::<Pong>()
        .start()
        .await?;
    let port = table.local_addr().port();
    let paddle = player_node
        .spawn(
            "127.0.0.1",
            port,
            "paddle",
            "pong",
            RemoteSpawnOptions::new(),
        )
        .await?;
    println!("[player] spawned {}", paddle.address());

    let rounds = 1_000;
    let (done, finished) = oneshot::channel();
    let started = std::time::Instant::now();
    let player = player_system
        .spawn(
            "player",
            Player {
                table: paddle.clone(),
                rounds,
                done: Some(done),
            },
        )
        .await?;
    let last = tokio::time::timeout(Duration::from_secs(30), finished).await??;
    let elapsed = started.elapsed();
    println!(
        "[player] {last} rounds in {elapsed:.2?} ({:.0} round trips/s)",
        f64::from(last) / elapsed.as_secs_f64()
    );

    let played: Pong = paddle.ask(Ping { round: 0 }).await?;
    println!("[player] the paddle returned {} balls", played.round);

    // Watching works across nodes: the player hears when the paddle stops.
    player.watch(&paddle);
    paddle.stop().await?;
    tokio::time::sleep(Duration::from_millis(100)).await;

    player_node.shutdown().await;
    table.shutdown().await;
    player_system.stop().await?;
    table_system.stop().await?;
    Ok(())
}

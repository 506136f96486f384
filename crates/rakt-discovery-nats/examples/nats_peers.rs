//! Three nodes of one cluster find each other through a NATS server, and one watches the
//! others come and go.
//!
//! Run with `cargo run -p rakt-discovery-nats --example nats_peers`. It starts its own
//! `nats-server` (Debian package `nats-server`, or the one `cargo xtask ci` names in
//! `RAKT_NATS_SERVER`) on a free port of 127.0.0.1 and stops it at the end.

#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use rakt_discovery::{Peer, PeerEvent, Provider};
use rakt_discovery_nats::{NatsConfig, NatsDiscovery};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut server = support::NatsServer::start(&[]).await;
    let config = NatsConfig::new([server.url()], "rakt.discovery.example");

    let mut nodes = Vec::new();
    for n in 1..=3u16 {
        let local = Peer::new("127.0.0.1", 3300 + n)?
            .with_remoting_port(3400 + n)?
            .with_node_id(format!("node-{n}"))?;
        let discovery = NatsDiscovery::new(config.clone())?;
        discovery.initialize().await?;
        discovery.register(&local).await?;
        nodes.push((local, discovery));
    }
    let (first, watcher) = &nodes[0];
    let mut changes = watcher.watch().await?;

    for (local, discovery) in &nodes {
        let peers: Vec<String> = discovery
            .discover_peers()
            .await?
            .iter()
            .map(describe)
            .collect();
        println!("{local} sees {}", peers.join(", "));
    }

    // Node 3 leaves, then comes back: node 1 hears both at once.
    let (_, third) = &nodes[2];
    third.deregister().await?;
    third.register(&nodes[2].0).await?;
    for _ in 0..2 {
        match tokio::time::timeout(Duration::from_secs(5), changes.recv()).await? {
            Some(PeerEvent::Joined(peer)) => println!("{first} heard {} join", describe(&peer)),
            Some(PeerEvent::Left(peer)) => println!("{first} heard {} leave", describe(&peer)),
            Some(_) | None => break,
        }
    }

    for (_, discovery) in &nodes {
        discovery.close().await?;
    }
    server.stop().await;
    Ok(())
}

fn describe(peer: &Peer) -> String {
    format!("{} ({peer})", peer.node_id().unwrap_or("?"))
}

//! Three nodes of one cluster, and one of another, find their own over multicast DNS.
//!
//! mDNS multicasts on every interface of the machine, so run this inside a network namespace
//! to keep it on one host (as root):
//!
//! ```sh
//! ip netns add rakt-demo && ip -n rakt-demo link set lo up
//! ip netns exec rakt-demo cargo run -p rakt-discovery-mdns --example mdns_peers
//! ip netns del rakt-demo
//! ```

#![allow(clippy::print_stdout)]

use std::time::Duration;

use rakt_discovery::{Peer, Provider};
use rakt_discovery_mdns::{MdnsConfig, MdnsDiscovery};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut nodes = Vec::new();
    for (n, cluster) in [
        (1u16, "orders"),
        (2, "orders"),
        (3, "orders"),
        (4, "billing"),
    ] {
        let local = Peer::new("127.0.0.1", 3300 + n)?
            .with_remoting_port(3400 + n)?
            .with_node_id(format!("node-{n}"))?;
        let discovery = MdnsDiscovery::new(MdnsConfig::new(cluster))?;
        discovery.initialize().await?;
        discovery.register(&local).await?;
        nodes.push((local, cluster, discovery));
    }
    // Announcements are resolved in about a second on a quiet network.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (local, cluster, discovery) in &nodes {
        let peers: Vec<String> = discovery
            .discover_peers()
            .await?
            .iter()
            .map(|peer| format!("{} ({peer})", peer.node_id().unwrap_or("?")))
            .collect();
        println!("{local} of {cluster} sees [{}]", peers.join(", "));
    }
    for (_, _, discovery) in &nodes {
        discovery.close().await?;
    }
    Ok(())
}

//! Three nodes of one cluster find each other from a fixed list.
//!
//! Run with `cargo run -p rakt-discovery-static --example static_peers`.

#![allow(clippy::print_stdout)]

use rakt_discovery::{Peer, Provider};
use rakt_discovery_static::{StaticConfig, StaticDiscovery};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // What each node's configuration file would say: every node, and the remoting port they
    // share.
    let config: StaticConfig = serde_json::from_str(
        r#"{
            "peers": ["127.0.0.1:3322", "127.0.0.2:3322", "127.0.0.3:3322"],
            "remoting_port": 3321
        }"#,
    )?;

    for local in &config.peers {
        let local: Peer = local.parse()?;
        let discovery = StaticDiscovery::new(config.clone())?;
        discovery.initialize().await?;
        discovery.register(&local).await?;
        let peers = discovery.discover_peers().await?;
        let names: Vec<String> = peers
            .iter()
            .map(|peer| {
                format!(
                    "{peer} (remoting {})",
                    peer.remoting_port().unwrap_or_default()
                )
            })
            .collect();
        println!("{local} sees {}", names.join(", "));
        discovery.close().await?;
    }
    Ok(())
}

//! A cluster published in DNS: a name server (hickory-server, in this process, on a free port
//! of 127.0.0.1) holds A records of `peers.rakt.test` and SRV records of
//! `_rakt._tcp.rakt.test`; a node finds its peers through both, before and after a node joins.
//!
//! Run with `cargo run -p rakt-discovery-dns --example dns_peers`. Against a real deployment,
//! leave `name_servers` empty to ask the system's name servers.

#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr};

use rakt_discovery::{Peer, Provider};
use rakt_discovery_dns::{DnsConfig, DnsDiscovery};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = support::DnsServer::start().await;
    let node = |last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
    server
        .set_addresses("peers.rakt.test", &[node(11), node(12)])
        .await;
    server.set_addresses("node1.rakt.test", &[node(11)]).await;
    server.set_addresses("node2.rakt.test", &[node(12)]).await;
    server
        .set_srv(
            "_rakt._tcp.rakt.test",
            &[("node1.rakt.test", 3322), ("node2.rakt.test", 3422)],
        )
        .await;

    let mut by_address = DnsConfig::address("peers.rakt.test", 3322);
    by_address.name_servers = vec![server.address];
    let mut by_srv = DnsConfig::srv("_rakt._tcp.rakt.test");
    by_srv.name_servers = vec![server.address];

    let local = Peer::new("127.0.0.11", 3322)?;
    for (kind, config) in [("A records", by_address), ("SRV records", by_srv)] {
        let discovery = DnsDiscovery::new(config)?;
        discovery.initialize().await?;
        discovery.register(&local).await?;
        println!(
            "{local} sees through {kind}: {}",
            listed(&discovery.discover_peers().await?)
        );

        // A third node appears in DNS; the next lookup shows it.
        server
            .set_addresses("peers.rakt.test", &[node(11), node(12), node(13)])
            .await;
        server.set_addresses("node3.rakt.test", &[node(13)]).await;
        server
            .set_srv(
                "_rakt._tcp.rakt.test",
                &[
                    ("node1.rakt.test", 3322),
                    ("node2.rakt.test", 3422),
                    ("node3.rakt.test", 3522),
                ],
            )
            .await;
        println!(
            "after node 3 joined: {}",
            listed(&discovery.discover_peers().await?)
        );
        discovery.close().await?;
        server
            .set_addresses("peers.rakt.test", &[node(11), node(12)])
            .await;
        server
            .set_srv(
                "_rakt._tcp.rakt.test",
                &[("node1.rakt.test", 3322), ("node2.rakt.test", 3422)],
            )
            .await;
    }
    Ok(())
}

fn listed(peers: &[Peer]) -> String {
    peers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

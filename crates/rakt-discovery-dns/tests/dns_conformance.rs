//! The DNS backend against a real DNS server on 127.0.0.1: the conformance suite for address
//! and SRV lookups, record changes between two lookups, NXDOMAIN, IPv6, and a server that does
//! not answer.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use rakt_discovery::conformance::{self, Harness, Membership};
use rakt_discovery::{DiscoveryError, Peer, Provider, async_trait};
use rakt_discovery_dns::{DnsConfig, DnsDiscovery, LookupKind};
use support::DnsServer;

const PEERS: &str = "peers.rakt.test";
const SERVICE: &str = "_rakt._tcp.rakt.test";

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

fn config(server: &DnsServer, mut config: DnsConfig) -> DnsConfig {
    config.name_servers = vec![server.address];
    config.timeout = Duration::from_secs(1);
    config
}

/// Three nodes published in DNS: told apart by address, each an A record of one name; or on
/// one address told apart by port, each the target of an SRV record.
struct Records {
    server: DnsServer,
    lookup: LookupKind,
    nodes: Vec<Peer>,
}

impl Records {
    async fn start(lookup: LookupKind) -> Records {
        let server = DnsServer::start().await;
        let nodes: Result<Vec<Peer>, _> = match lookup {
            LookupKind::Address => (11..=13)
                .map(|last| Peer::new(v4(last).to_string(), 7101))
                .collect(),
            LookupKind::Srv => (7101..=7103)
                .map(|port| Peer::new("127.0.0.1", port))
                .collect(),
        };
        let nodes = nodes.expect("valid nodes");
        for (host, _) in srv_targets(&nodes) {
            server.set_addresses(&host, &[v4(1)]).await;
        }
        let records = Records {
            server,
            lookup,
            nodes,
        };
        records.publish(&records.nodes).await;
        records
    }

    fn settings(&self) -> DnsConfig {
        match self.lookup {
            LookupKind::Address => DnsConfig::address(PEERS, 7101),
            LookupKind::Srv => DnsConfig::srv(SERVICE),
        }
    }

    async fn publish(&self, nodes: &[Peer]) {
        match self.lookup {
            LookupKind::Address => {
                let addresses: Vec<IpAddr> = nodes
                    .iter()
                    .map(|node| node.host().parse().expect("an ip host"))
                    .collect();
                self.server.set_addresses(PEERS, &addresses).await;
            }
            LookupKind::Srv => {
                let targets = srv_targets(nodes);
                let targets: Vec<(&str, u16)> = targets
                    .iter()
                    .map(|(host, port)| (host.as_str(), *port))
                    .collect();
                self.server.set_srv(SERVICE, &targets).await;
            }
        }
    }
}

fn srv_targets(nodes: &[Peer]) -> Vec<(String, u16)> {
    nodes
        .iter()
        .map(|node| {
            (
                format!("node{}.rakt.test.", node.discovery_port() - 7100),
                node.discovery_port(),
            )
        })
        .collect()
}

#[async_trait]
impl Harness for Records {
    type Provider = DnsDiscovery;

    fn nodes(&self) -> Vec<Peer> {
        self.nodes.clone()
    }

    fn membership(&self) -> Membership {
        Membership::External
    }

    async fn provider(&mut self, _local: &Peer) -> Result<DnsDiscovery, DiscoveryError> {
        DnsDiscovery::new(config(&self.server, self.settings()))
    }

    async fn remove(&mut self, peer: &Peer) {
        let remaining: Vec<Peer> = self
            .nodes
            .iter()
            .filter(|node| !node.same_node(peer))
            .cloned()
            .collect();
        self.publish(&remaining).await;
    }

    async fn unreachable(&mut self, _local: &Peer) -> Option<DnsDiscovery> {
        let mut config = self.settings();
        config.name_servers = vec![support::silent_address().await];
        config.timeout = Duration::from_secs(1);
        DnsDiscovery::new(config).ok()
    }

    fn outage_bound(&self) -> Duration {
        Duration::from_secs(3)
    }

    fn settle(&self) -> Duration {
        Duration::from_secs(2)
    }
}

#[tokio::test]
async fn address_and_srv_lookups_pass_the_conformance_suite() {
    for lookup in [LookupKind::Address, LookupKind::Srv] {
        let mut harness = Records::start(lookup).await;
        let report = conformance::run(&mut harness).await.expect("conformance");
        assert_eq!(
            report.passed,
            [
                "order",
                "register",
                "discover",
                "deregister",
                "close",
                "outage"
            ],
            "{lookup:?}"
        );
    }
}

async fn started(config: DnsConfig) -> DnsDiscovery {
    let discovery = DnsDiscovery::new(config).expect("valid config");
    discovery.initialize().await.expect("initialize");
    discovery
}

fn addresses(peers: &[Peer]) -> Vec<String> {
    peers.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn a_record_added_between_two_lookups_shows_at_the_second() {
    let server = DnsServer::start().await;
    server.set_addresses(PEERS, &[v4(11)]).await;
    let mut settings = config(&server, DnsConfig::address(PEERS, 7101));
    settings.remoting_port = Some(7201);
    let discovery = started(settings).await;

    let first = discovery.discover_peers().await.expect("first lookup");
    assert_eq!(addresses(&first), ["127.0.0.11:7101"]);
    assert_eq!(first[0].remoting_port(), Some(7201));

    server.set_addresses(PEERS, &[v4(11), v4(12)]).await;
    let second = discovery.discover_peers().await.expect("second lookup");
    assert_eq!(addresses(&second), ["127.0.0.11:7101", "127.0.0.12:7101"]);

    server.set_srv(SERVICE, &[("node1.rakt.test.", 7101)]).await;
    server.set_addresses("node1.rakt.test.", &[v4(21)]).await;
    let srv = started(config(&server, DnsConfig::srv(SERVICE))).await;
    assert_eq!(
        addresses(&srv.discover_peers().await.expect("srv lookup")),
        ["127.0.0.21:7101"]
    );
    server
        .set_srv(
            SERVICE,
            &[("node1.rakt.test.", 7101), ("node1.rakt.test.", 7102)],
        )
        .await;
    assert_eq!(
        addresses(&srv.discover_peers().await.expect("srv lookup")),
        ["127.0.0.21:7101", "127.0.0.21:7102"]
    );
}

#[tokio::test]
async fn a_name_that_does_not_exist_is_a_cluster_without_nodes() {
    let server = DnsServer::start().await;
    let missing = started(config(
        &server,
        DnsConfig::address("nobody.rakt.test", 7101),
    ))
    .await;
    assert_eq!(
        missing
            .discover_peers()
            .await
            .expect("nxdomain is no peers"),
        []
    );
    let no_srv = started(config(&server, DnsConfig::srv("_none._tcp.rakt.test"))).await;
    assert_eq!(
        no_srv.discover_peers().await.expect("nxdomain is no peers"),
        []
    );

    // A target without an address is skipped, the others kept.
    server
        .set_srv(
            SERVICE,
            &[("ghost.rakt.test.", 7101), ("node2.rakt.test.", 7102)],
        )
        .await;
    server.set_addresses("node2.rakt.test.", &[v4(22)]).await;
    let srv = started(config(&server, DnsConfig::srv(SERVICE))).await;
    assert_eq!(
        addresses(&srv.discover_peers().await.expect("srv lookup")),
        ["127.0.0.22:7102"]
    );
}

#[tokio::test]
async fn ipv6_addresses_come_on_request() {
    let server = DnsServer::start().await;
    server
        .set_addresses(PEERS, &[v4(11), IpAddr::V6(Ipv6Addr::LOCALHOST)])
        .await;
    let v4_only = started(config(&server, DnsConfig::address(PEERS, 7101))).await;
    assert_eq!(
        addresses(&v4_only.discover_peers().await.expect("lookup")),
        ["127.0.0.11:7101"]
    );

    let mut settings = config(&server, DnsConfig::address(PEERS, 7101));
    settings.ipv6 = true;
    let both = started(settings).await;
    assert_eq!(
        addresses(&both.discover_peers().await.expect("lookup")),
        ["127.0.0.11:7101", "[::1]:7101"]
    );
}

#[tokio::test]
async fn a_silent_name_server_is_a_timeout_within_the_configured_bound() {
    let mut settings = DnsConfig::address(PEERS, 7101);
    settings.name_servers = vec![support::silent_address().await];
    settings.timeout = Duration::from_millis(500);
    let discovery = started(settings).await;
    let started_at = Instant::now();
    let error = discovery
        .discover_peers()
        .await
        .expect_err("nobody answers");
    assert!(
        matches!(
            error,
            DiscoveryError::Timeout { .. } | DiscoveryError::Unavailable { .. }
        ),
        "{error}"
    );
    assert!(
        started_at.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started_at.elapsed()
    );
}

#[test]
fn configurations_are_read_and_checked() {
    let config: DnsConfig = serde_json::from_str(
        r#"{ "domain_name": "peers.rakt.test", "discovery_port": 7101, "ipv6": true, "timeout": "750ms" }"#,
    )
    .expect("valid json");
    assert_eq!(config.timeout, Duration::from_millis(750));
    assert!(DnsDiscovery::new(config).is_ok());

    let cases = [
        (r#"{ "domain_name": "peers.rakt.test" }"#, "discovery_port"),
        (
            r#"{ "domain_name": "peers.rakt.test", "discovery_port": 0 }"#,
            "discovery_port",
        ),
        (
            r#"{ "domain_name": "_s._tcp.rakt.test", "lookup": "srv", "discovery_port": 1 }"#,
            "discovery_port",
        ),
        (
            r#"{ "domain_name": "a..b", "discovery_port": 1 }"#,
            "domain_name",
        ),
        (
            r#"{ "domain_name": "peers.rakt.test", "discovery_port": 1, "timeout": "0s" }"#,
            "timeout",
        ),
        (
            r#"{ "domain_name": "peers.rakt.test", "discovery_port": 1, "remoting_port": 0 }"#,
            "remoting_port",
        ),
        (
            r#"{ "domain_name": "peers.rakt.test", "discovery_port": 1, "name_servers": ["127.0.0.1:0"] }"#,
            "name_servers",
        ),
    ];
    for (json, field) in cases {
        let config: DnsConfig = serde_json::from_str(json).expect(json);
        match DnsDiscovery::new(config) {
            Err(DiscoveryError::InvalidConfig { field: named, .. }) => {
                assert_eq!(named, field, "{json}")
            }
            other => panic!("{json} gave {other:?}"),
        }
    }
    assert!(serde_json::from_str::<DnsConfig>(r#"{ "domain_name": "a", "port": 1 }"#).is_err());
}

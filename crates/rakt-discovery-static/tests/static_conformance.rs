//! The static backend against the discovery conformance suite, and its configuration checks.

use rakt_discovery::conformance::{self, Harness, Membership};
use rakt_discovery::{DiscoveryError, Peer, Provider, async_trait};
use rakt_discovery_static::{StaticConfig, StaticDiscovery};

struct Fixed {
    nodes: Vec<Peer>,
}

#[async_trait]
impl Harness for Fixed {
    type Provider = StaticDiscovery;

    fn nodes(&self) -> Vec<Peer> {
        self.nodes.clone()
    }

    fn membership(&self) -> Membership {
        Membership::Fixed
    }

    async fn provider(&mut self, _local: &Peer) -> Result<StaticDiscovery, DiscoveryError> {
        StaticDiscovery::from_peers(self.nodes.clone())
    }
}

#[tokio::test]
async fn the_static_backend_passes_the_conformance_suite() {
    let mut harness = Fixed {
        nodes: conformance::loopback_nodes(),
    };
    let report = conformance::run(&mut harness).await.expect("conformance");
    assert_eq!(report.passed, ["order", "register", "discover", "close"]);
    let skipped: Vec<&str> = report.skipped.iter().map(|(check, _)| *check).collect();
    assert_eq!(skipped, ["deregister", "register again", "watch", "outage"]);
}

#[tokio::test]
async fn a_configuration_file_is_read_and_checked() {
    let config: StaticConfig = serde_json::from_str(
        r#"{ "peers": ["127.0.0.1:7001", "localhost:7002", "[::1]:7003"], "remoting_port": 7100 }"#,
    )
    .expect("valid json");
    let discovery = StaticDiscovery::new(config).expect("valid list");
    discovery.initialize().await.expect("initialize");
    let local: Peer = "LOCALHOST:7002".parse().expect("valid");
    discovery.register(&local).await.expect("register");
    let found: Vec<String> = discovery
        .discover_peers()
        .await
        .expect("discover")
        .iter()
        .map(|peer| format!("{peer} remoting {:?}", peer.remoting_port()))
        .collect();
    assert_eq!(
        found,
        [
            "127.0.0.1:7001 remoting Some(7100)",
            "[::1]:7003 remoting Some(7100)"
        ]
    );

    let unknown = serde_json::from_str::<StaticConfig>(r#"{ "peers": [], "hosts": [] }"#);
    assert!(unknown.is_err_and(|error| error.to_string().contains("unknown field `hosts`")));
}

#[test]
fn bad_lists_name_the_field_and_the_entry() {
    let cases: [(StaticConfig, &str); 5] = [
        (
            StaticConfig::new(Vec::<String>::new()),
            "invalid discovery setting peers: the list is empty",
        ),
        (
            StaticConfig::new(["127.0.0.1:7001", "127.0.0.1:7001"]),
            "invalid discovery setting peers: 127.0.0.1:7001 is listed twice",
        ),
        (
            StaticConfig::new(["127.0.0.1:7001", "bad host:7002"]),
            "invalid discovery setting peers: entry 2: peer host \"bad host\" is neither an ip address nor a dns name",
        ),
        (
            StaticConfig::new(["127.0.0.1:0"]),
            "invalid discovery setting peers: entry 1: peer discovery port is zero",
        ),
        (
            StaticConfig {
                remoting_port: Some(0),
                ..StaticConfig::new(["127.0.0.1:7001"])
            },
            "invalid discovery setting remoting_port: peer remoting port is zero",
        ),
    ];
    for (config, message) in cases {
        let error = StaticDiscovery::new(config).expect_err(message);
        assert_eq!(error.to_string(), message);
    }
}

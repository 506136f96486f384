//! The NATS backend against a real `nats-server` on 127.0.0.1: the conformance suite, a
//! server restart in the middle of a run, and credentials.

mod support;

use std::time::{Duration, Instant};

use rakt_discovery::conformance::{self, Harness, Membership};
use rakt_discovery::{DiscoveryError, Peer, PeerEvent, Provider, async_trait};
use rakt_discovery_nats::{NatsConfig, NatsDiscovery};
use support::NatsServer;

const SUBJECT: &str = "rakt.discovery.test";

/// Short timeouts, so that the suite and the outages run in seconds.
fn config(url: String) -> NatsConfig {
    let mut config = NatsConfig::new([url], SUBJECT);
    config.timeout = Duration::from_millis(300);
    config.max_join_attempts = 2;
    config.reconnect_wait = Duration::from_millis(200);
    config
}

struct Nats {
    server: NatsServer,
}

#[async_trait]
impl Harness for Nats {
    type Provider = NatsDiscovery;

    fn nodes(&self) -> Vec<Peer> {
        conformance::loopback_nodes()
    }

    fn membership(&self) -> Membership {
        Membership::Announced
    }

    async fn provider(&mut self, _local: &Peer) -> Result<NatsDiscovery, DiscoveryError> {
        NatsDiscovery::new(config(self.server.url()))
    }

    async fn unreachable(&mut self, _local: &Peer) -> Option<NatsDiscovery> {
        NatsDiscovery::new(config(format!("nats://127.0.0.1:{}", support::free_port()))).ok()
    }

    fn outage_bound(&self) -> Duration {
        Duration::from_secs(5)
    }

    fn settle(&self) -> Duration {
        Duration::from_secs(5)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_backend_passes_the_conformance_suite() {
    let mut harness = Nats {
        server: NatsServer::start(&[]).await,
    };
    let report = conformance::run(&mut harness).await.expect("conformance");
    assert_eq!(
        report.passed,
        [
            "order",
            "register",
            "discover",
            "deregister",
            "register again",
            "close",
            "watch",
            "outage"
        ]
    );
}

async fn joined(server: &NatsServer, node: &Peer) -> NatsDiscovery {
    let discovery = NatsDiscovery::new(config(server.url())).expect("valid config");
    discovery.initialize().await.expect("initialize");
    discovery.register(node).await.expect("register");
    discovery
}

/// Polls `discover_peers` until `done` holds of its result, for at most 10 s.
async fn until(
    discovery: &NatsDiscovery,
    what: &str,
    done: impl Fn(&Result<Vec<Peer>, DiscoveryError>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = discovery.discover_peers().await;
        if done(&found) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {found:?} after 10s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_fails_calls_while_down_and_recovers_after() {
    let mut server = NatsServer::start(&[]).await;
    let nodes = conformance::loopback_nodes();
    let a = joined(&server, &nodes[0]).await;
    let b = joined(&server, &nodes[1]).await;
    let mut changes = a.watch().await.expect("watch");
    until(&a, "before the restart", |found| {
        found.as_ref().is_ok_and(|peers| peers == &nodes[1..2])
    })
    .await;

    server.stop().await;
    until(&a, "while the server is down", |found| {
        matches!(found, Err(DiscoveryError::Unavailable { .. }))
    })
    .await;

    server.restart().await;
    // The client reconnects by itself and b's responder subscribes again.
    until(&a, "after the restart", |found| {
        found.as_ref().is_ok_and(|peers| peers == &nodes[1..2])
    })
    .await;

    // The watch outlived the restart too.
    let c = joined(&server, &nodes[2]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let change = tokio::time::timeout_at(deadline.into(), changes.recv())
            .await
            .expect("a join within 10s");
        if change == Some(PeerEvent::Joined(nodes[2].clone())) {
            break;
        }
    }
    for provider in [&a, &b, &c] {
        provider.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_sent_and_checked() {
    let server = NatsServer::start(&["--user", "rakt", "--pass", "s3cret"]).await;

    let mut wrong = config(server.url());
    wrong.user = Some("rakt".into());
    wrong.password = Some("guess".into());
    wrong.max_join_attempts = 1;
    let refused = NatsDiscovery::new(wrong).expect("valid config");
    let error = refused
        .initialize()
        .await
        .expect_err("a wrong password is refused");
    assert!(
        matches!(
            error,
            DiscoveryError::Unavailable {
                backend: "nats",
                ..
            }
        ),
        "{error}"
    );

    let mut right = config(server.url());
    right.user = Some("rakt".into());
    right.password = Some("s3cret".into());
    assert!(
        !format!("{right:?}").contains("s3cret"),
        "the password stays out of logs"
    );
    let nodes = conformance::loopback_nodes();
    let a = NatsDiscovery::new(right.clone()).expect("valid config");
    a.initialize()
        .await
        .expect("the right password is accepted");
    a.register(&nodes[0]).await.expect("register");
    let b = NatsDiscovery::new(right).expect("valid config");
    b.initialize().await.expect("initialize");
    b.register(&nodes[1]).await.expect("register");
    until(&a, "with credentials", |found| {
        found.as_ref().is_ok_and(|peers| peers == &nodes[1..2])
    })
    .await;
    a.close().await.expect("close");
    b.close().await.expect("close");
}

#[test]
fn configurations_are_read_and_checked() {
    let config: NatsConfig = serde_json::from_str(
        r#"{ "servers": ["nats://127.0.0.1:4222"], "subject": "rakt.orders", "reconnect_wait": "250ms" }"#,
    )
    .expect("valid json");
    assert_eq!(config.timeout, NatsConfig::DEFAULT_TIMEOUT);
    assert_eq!(config.reconnect_wait, Duration::from_millis(250));
    assert!(NatsDiscovery::new(config).is_ok());

    let cases = [
        (r#"{ "servers": [], "subject": "a" }"#, "servers"),
        (r#"{ "servers": [" "], "subject": "a" }"#, "servers"),
        (r#"{ "servers": ["nats://x:1"], "subject": "" }"#, "subject"),
        (
            r#"{ "servers": ["nats://x:1"], "subject": "a.>" }"#,
            "subject",
        ),
        (
            r#"{ "servers": ["nats://x:1"], "subject": "a..b" }"#,
            "subject",
        ),
        (
            r#"{ "servers": ["nats://x:1"], "subject": "a", "timeout": "0s" }"#,
            "timeout",
        ),
        (
            r#"{ "servers": ["nats://x:1"], "subject": "a", "max_join_attempts": 0 }"#,
            "max_join_attempts",
        ),
        (
            r#"{ "servers": ["nats://x:1"], "subject": "a", "password": "p" }"#,
            "password",
        ),
        (
            r#"{ "servers": ["nats://x:1"], "subject": "a", "user": "u", "token": "t" }"#,
            "token",
        ),
    ];
    for (json, field) in cases {
        let config: NatsConfig = serde_json::from_str(json).expect(json);
        match NatsDiscovery::new(config) {
            Err(DiscoveryError::InvalidConfig { field: named, .. }) => {
                assert_eq!(named, field, "{json}")
            }
            other => panic!("{json} gave {other:?}"),
        }
    }
}

//! The mDNS backend inside a network namespace this test makes (only `lo`, up), never on the
//! machine's interfaces, whose multicast would leave the machine: the conformance suite, and
//! two clusters on one network kept apart.
//!
//! The test in the root namespace makes the namespace, runs this same test binary in it for
//! the ignored test `in_a_namespace`, and deletes the namespace, even when the child fails.
//! It needs root (as CI runs) and fails, saying so, without it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rakt_discovery::conformance::{self, Harness, Membership};
use rakt_discovery::{DiscoveryError, Peer, Provider, async_trait};
use rakt_discovery_mdns::{MdnsConfig, MdnsDiscovery};

/// Set to the namespace's name for the child; the child refuses to run without it.
const NAMESPACE_ENV: &str = "RAKT_MDNS_NAMESPACE";

/// How long the child may take.
const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// A network namespace with only `lo`, deleted on drop.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create() -> Namespace {
        let uid = Command::new("id").arg("-u").output().expect("run id");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "this test makes a network namespace, so that mDNS multicast stays on this machine, \
             and that needs root: run it as root (CI does)"
        );
        let name = format!("rakt-mdns-{}", std::process::id());
        ip(&["netns", "add", &name]);
        let namespace = Namespace { name };
        ip(&["-n", &namespace.name, "link", "set", "lo", "up"]);
        namespace
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(arguments: &[&str]) {
    let output = Command::new("ip").args(arguments).output().expect("run ip");
    assert!(
        output.status.success(),
        "ip {}: {}",
        arguments.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn mdns_discovery_works_inside_a_network_namespace() {
    let namespace = Namespace::create();
    let exe: PathBuf = std::env::current_exe().expect("this test binary");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &namespace.name])
        .arg(&exe)
        .args([
            "--exact",
            "in_a_namespace",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(NAMESPACE_ENV, &namespace.name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the test binary in the namespace");
    let deadline = Instant::now() + CHILD_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().expect("the child's output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match status {
        Some(status) if status.success() && said.contains("1 passed") => {}
        Some(status) => panic!("the test in the namespace failed ({status}):\n{said}"),
        None => panic!("the test in the namespace ran over {CHILD_LIMIT:?}:\n{said}"),
    }
}

/// Refuses to run anywhere but in the namespace the parent made, with `lo` its only interface.
fn in_the_namespace() {
    assert!(
        std::env::var_os(NAMESPACE_ENV).is_some(),
        "run by mdns_discovery_works_inside_a_network_namespace only"
    );
    let interfaces: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("list interfaces")
        .filter_map(|entry| {
            entry
                .ok()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
        })
        .collect();
    assert_eq!(
        interfaces,
        ["lo"],
        "mDNS must not reach any interface but lo"
    );
}

struct Lan;

#[async_trait]
impl Harness for Lan {
    type Provider = MdnsDiscovery;

    fn nodes(&self) -> Vec<Peer> {
        conformance::loopback_nodes()
    }

    fn membership(&self) -> Membership {
        Membership::Announced
    }

    async fn provider(&mut self, _local: &Peer) -> Result<MdnsDiscovery, DiscoveryError> {
        MdnsDiscovery::new(MdnsConfig::new("conformance"))
    }

    fn settle(&self) -> Duration {
        Duration::from_secs(15)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs inside a network namespace, started by mdns_discovery_works_inside_a_network_namespace"]
async fn in_a_namespace() {
    in_the_namespace();
    let report = conformance::run(&mut Lan).await.expect("conformance");
    assert_eq!(
        report.passed,
        [
            "order",
            "register",
            "discover",
            "deregister",
            "register again",
            "close",
            "watch"
        ]
    );

    // Two clusters on one network: each sees only its own nodes.
    let nodes = conformance::loopback_nodes();
    let mut providers = Vec::new();
    for (node, cluster) in nodes.iter().zip(["blue", "blue", "green"]) {
        let provider = MdnsDiscovery::new(MdnsConfig::new(cluster)).expect("valid config");
        provider.initialize().await.expect("initialize");
        provider.register(node).await.expect("register");
        providers.push(provider);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let blue = providers[0].discover_peers().await.expect("discover");
        let green = providers[2].discover_peers().await.expect("discover");
        if blue == nodes[1..2] && green.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 15s blue sees {blue:?}, green sees {green:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give the green node time to have been seen, had it mixed in.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        providers[0].discover_peers().await.expect("discover"),
        nodes[1..2]
    );
    for provider in &providers {
        provider.close().await.expect("close");
    }
}

#[test]
fn configurations_are_read_and_checked() {
    let config: MdnsConfig = serde_json::from_str(
        r#"{ "cluster_name": "orders", "service": "_orders._tcp", "port": 5454 }"#,
    )
    .expect("valid json");
    assert_eq!(config.service_type(), "_orders._tcp.local.");
    assert!(MdnsDiscovery::new(config).is_ok());
    let cases = [
        (r#"{ "cluster_name": "" }"#, "cluster_name"),
        (r#"{ "cluster_name": "two words" }"#, "cluster_name"),
        (r#"{ "cluster_name": "a", "service": "rakt" }"#, "service"),
        (
            r#"{ "cluster_name": "a", "service": "_rakt._sctp" }"#,
            "service",
        ),
        (r#"{ "cluster_name": "a", "domain": "." }"#, "domain"),
        (r#"{ "cluster_name": "a", "port": 0 }"#, "port"),
    ];
    for (json, field) in cases {
        let config: MdnsConfig = serde_json::from_str(json).expect(json);
        match MdnsDiscovery::new(config) {
            Err(DiscoveryError::InvalidConfig { field: named, .. }) => {
                assert_eq!(named, field, "{json}")
            }
            other => panic!("{json} gave {other:?}"),
        }
    }
}

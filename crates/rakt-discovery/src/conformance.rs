//! The behaviour every discovery backend must show, as one suite each backend runs from its
//! tests against its real service.
//!
//! A backend's test implements [`Harness`] (how to make a provider for a node, how nodes leave,
//! how to make a provider whose backend is down) and calls [`run`]. The suite checks:
//!
//! - calls out of order get typed errors, and `close` is idempotent;
//! - three registered nodes each see the other two and never themselves, with the details they
//!   announced when the backend carries them;
//! - a node that leaves disappears from the others' view, and an announcing node that registers
//!   again reappears;
//! - a watching provider reports joins and leaves, and its watch ends when it closes;
//! - a backend that is down gives an error, not a hang, within the configured timeout.
//!
//! ```
//! use std::time::Duration;
//! use rakt_discovery::conformance::{self, Harness, Membership};
//! use rakt_discovery::{async_trait, DiscoveryError, Lifecycle, Operation, Peer, Provider};
//!
//! /// A provider over a fixed list (the `rakt-discovery-static` crate is the real one).
//! #[derive(Debug)]
//! struct Fixed {
//!     nodes: Vec<Peer>,
//!     lifecycle: Lifecycle,
//! }
//!
//! #[async_trait]
//! impl Provider for Fixed {
//!     fn id(&self) -> &'static str {
//!         "fixed"
//!     }
//!     async fn initialize(&self) -> Result<(), DiscoveryError> {
//!         self.lifecycle.initialize().await
//!     }
//!     async fn register(&self, local: &Peer) -> Result<(), DiscoveryError> {
//!         self.lifecycle.register(local).await
//!     }
//!     async fn deregister(&self) -> Result<(), DiscoveryError> {
//!         self.lifecycle.deregister().await
//!     }
//!     async fn discover_peers(&self) -> Result<Vec<Peer>, DiscoveryError> {
//!         let stage = self.lifecycle.lock().await;
//!         stage.permit(Operation::Discover)?;
//!         Ok(stage.others(self.nodes.iter().cloned()))
//!     }
//!     async fn close(&self) -> Result<(), DiscoveryError> {
//!         self.lifecycle.close().await;
//!         Ok(())
//!     }
//! }
//!
//! struct FixedHarness(Vec<Peer>);
//!
//! #[async_trait]
//! impl Harness for FixedHarness {
//!     type Provider = Fixed;
//!     fn nodes(&self) -> Vec<Peer> {
//!         self.0.clone()
//!     }
//!     fn membership(&self) -> Membership {
//!         Membership::Fixed
//!     }
//!     async fn provider(&mut self, _local: &Peer) -> Result<Fixed, DiscoveryError> {
//!         Ok(Fixed { nodes: self.0.clone(), lifecycle: Lifecycle::new() })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let nodes = conformance::loopback_nodes();
//! let report = conformance::run(&mut FixedHarness(nodes)).await?;
//! assert!(report.passed.contains(&"discover"));
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use crate::{DiscoveryError, Peer, PeerEvent, PeerWatch, Provider};

/// How a node's registration reaches the other nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Membership {
    /// `register` and `deregister` are what the others see (NATS, mDNS).
    Announced,
    /// The backend's own records say who is there (DNS records, Kubernetes pods): the harness
    /// lists every node before the suite starts and removes one when asked
    /// ([`Harness::remove`]).
    External,
    /// A fixed list: nodes never leave the others' view.
    Fixed,
}

/// What the suite needs from a backend's test.
#[async_trait::async_trait]
pub trait Harness: Send {
    /// The backend's provider.
    type Provider: Provider;

    /// The three nodes of the test cluster, told apart by host or by discovery port as the
    /// backend can. For an announcing backend, give them remoting ports, ids and metadata: the
    /// suite checks they arrive.
    fn nodes(&self) -> Vec<Peer>;

    /// How registrations reach the other nodes.
    fn membership(&self) -> Membership;

    /// A fresh, uninitialized provider for `local`.
    async fn provider(&mut self, local: &Peer) -> Result<Self::Provider, DiscoveryError>;

    /// For [`Membership::External`]: removes `peer` from the backend's records.
    async fn remove(&mut self, peer: &Peer) {
        let _ = peer;
    }

    /// A provider whose backend is down (a server stopped, a port nobody listens on), or `None`
    /// for a backend without a service.
    async fn unreachable(&mut self, local: &Peer) -> Option<Self::Provider> {
        let _ = local;
        None
    }

    /// How long `initialize`, `register` and `discover_peers` together may take against the
    /// backend that is down: its configured timeouts (and attempts), with a little slack.
    fn outage_bound(&self) -> Duration {
        Duration::from_secs(10)
    }

    /// How long a change may take to show on the other nodes.
    fn settle(&self) -> Duration {
        Duration::from_secs(10)
    }
}

/// The checks that ran and the ones that did not apply to the backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The checks that passed.
    pub passed: Vec<&'static str>,
    /// The checks that did not apply, with the reason.
    pub skipped: Vec<(&'static str, &'static str)>,
}

/// A check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("discovery conformance check {check} failed: {detail}")]
pub struct Failure {
    /// The check.
    pub check: &'static str,
    /// What went wrong.
    pub detail: String,
}

/// Three nodes on 127.0.0.1, told apart by discovery port, with remoting ports, ids and
/// metadata.
pub fn loopback_nodes() -> Vec<Peer> {
    (1..=3u16)
        .map(|n| {
            Peer::new("127.0.0.1", 7100 + n)
                .and_then(|peer| peer.with_remoting_port(7200 + n))
                .and_then(|peer| peer.with_node_id(format!("node-{n}")))
                .map(|peer| peer.with_metadata("role", "conformance"))
                .expect("the loopback nodes are valid")
        })
        .collect()
}

/// Runs every check against the backend of `harness`.
///
/// # Errors
///
/// The first [`Failure`].
pub async fn run<H: Harness>(harness: &mut H) -> Result<Report, Failure> {
    let mut report = Report::default();
    let nodes = harness.nodes();
    if nodes.len() != 3 {
        return Err(fail(
            "setup",
            format!("the harness gave {} nodes, not 3", nodes.len()),
        ));
    }

    order(harness, &nodes[0]).await?;
    report.passed.push("order");

    let membership = harness.membership();
    let mut providers = Vec::new();
    for node in &nodes {
        let provider = made(harness.provider(node).await, "register")?;
        call("register", "initialize", provider.initialize()).await?;
        providers.push(provider);
    }
    // The first node watches, when its backend can, before the others announce themselves.
    call("register", "register", providers[0].register(&nodes[0])).await?;
    let mut watch = match providers[0].watch().await {
        Ok(watch) => Some(watch),
        Err(DiscoveryError::WatchNotSupported { .. }) => None,
        Err(error) => return Err(fail("watch", format!("watch failed: {error}"))),
    };
    for (provider, node) in providers.iter().zip(&nodes).skip(1) {
        call("register", "register", provider.register(node)).await?;
    }
    report.passed.push("register");

    let settle = harness.settle();
    for (index, provider) in providers.iter().enumerate() {
        let expected: Vec<&Peer> = nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, p)| p)
            .collect();
        sees(provider, &expected, membership, settle, "discover").await?;
    }
    report.passed.push("discover");

    if let Some(watch) = watch.as_mut() {
        expect_events(watch, &nodes[1..], Joined, settle, "watch").await?;
    }

    let leaving = &nodes[2];
    match membership {
        Membership::Fixed => {
            call("deregister", "deregister", providers[2].deregister()).await?;
            report
                .skipped
                .push(("deregister", "a fixed list never changes"));
        }
        Membership::Announced | Membership::External => {
            if membership == Membership::External {
                harness.remove(leaving).await;
            }
            call("deregister", "deregister", providers[2].deregister()).await?;
            for (index, provider) in providers[..2].iter().enumerate() {
                let other = &nodes[1 - index];
                sees(provider, &[other], membership, settle, "deregister").await?;
            }
            report.passed.push("deregister");
            if let Some(watch) = watch.as_mut() {
                expect_events(watch, std::slice::from_ref(leaving), Left, settle, "watch").await?;
            }
        }
    }

    if membership == Membership::Announced {
        call("register again", "register", providers[2].register(leaving)).await?;
        sees(
            &providers[0],
            &[&nodes[1], leaving],
            membership,
            settle,
            "register again",
        )
        .await?;
        report.passed.push("register again");
    } else {
        report.skipped.push((
            "register again",
            "the backend's records decide who is there",
        ));
    }

    for provider in &providers {
        call("close", "close", provider.close()).await?;
        call("close", "close a second time", provider.close()).await?;
        match provider.discover_peers().await {
            Err(DiscoveryError::Closed) => {}
            other => {
                return Err(fail(
                    "close",
                    format!("discover_peers after close gave {other:?}"),
                ));
            }
        }
    }
    report.passed.push("close");

    match watch.as_mut() {
        Some(watch) => {
            ends(watch, settle).await?;
            report.passed.push("watch");
        }
        None => report.skipped.push(("watch", "the backend cannot watch")),
    }

    match harness.unreachable(&nodes[0]).await {
        Some(provider) => {
            outage(&provider, &nodes[0], harness.outage_bound()).await?;
            report.passed.push("outage");
        }
        None => report
            .skipped
            .push(("outage", "the backend has no service to lose")),
    }
    Ok(report)
}

fn fail(check: &'static str, detail: impl Into<String>) -> Failure {
    Failure {
        check,
        detail: detail.into(),
    }
}

fn made<P>(provider: Result<P, DiscoveryError>, check: &'static str) -> Result<P, Failure> {
    provider.map_err(|error| {
        fail(
            check,
            format!("the harness could not make a provider: {error}"),
        )
    })
}

async fn call<T>(
    check: &'static str,
    what: &str,
    result: impl std::future::Future<Output = Result<T, DiscoveryError>>,
) -> Result<T, Failure> {
    result
        .await
        .map_err(|error| fail(check, format!("{what} failed: {error}")))
}

/// Calls out of order get typed errors; `close` may be repeated.
async fn order<H: Harness>(harness: &mut H, local: &Peer) -> Result<(), Failure> {
    let provider = made(harness.provider(local).await, "order")?;
    let expect = |what: &str,
                  result: Result<_, DiscoveryError>,
                  wanted: fn(&DiscoveryError) -> bool| match result {
        Err(error) if wanted(&error) => Ok(()),
        other => Err(fail("order", format!("{what} gave {other:?}"))),
    };
    expect(
        "register before initialize",
        provider.register(local).await,
        |e| matches!(e, DiscoveryError::NotInitialized),
    )?;
    expect(
        "deregister before initialize",
        provider.deregister().await,
        |e| matches!(e, DiscoveryError::NotInitialized),
    )?;
    expect(
        "discover_peers before initialize",
        provider.discover_peers().await.map(drop),
        |e| matches!(e, DiscoveryError::NotInitialized),
    )?;
    call("order", "initialize", provider.initialize()).await?;
    expect("a second initialize", provider.initialize().await, |e| {
        matches!(e, DiscoveryError::AlreadyInitialized)
    })?;
    expect(
        "deregister before register",
        provider.deregister().await,
        |e| matches!(e, DiscoveryError::NotRegistered),
    )?;
    call("order", "register", provider.register(local)).await?;
    expect("a second register", provider.register(local).await, |e| {
        matches!(e, DiscoveryError::AlreadyRegistered)
    })?;
    call("order", "deregister", provider.deregister()).await?;
    call("order", "close", provider.close()).await?;
    call("order", "close a second time", provider.close()).await?;
    expect(
        "register after close",
        provider.register(local).await,
        |e| matches!(e, DiscoveryError::Closed),
    )?;
    Ok(())
}

/// Waits, up to `settle`, until `provider` sees exactly `expected`.
async fn sees<P: Provider>(
    provider: &P,
    expected: &[&Peer],
    membership: Membership,
    settle: Duration,
    check: &'static str,
) -> Result<(), Failure> {
    let deadline = Instant::now() + settle;
    let wanted: BTreeSet<(String, u16)> = expected.iter().map(|p| key(p)).collect();
    loop {
        let found = call(check, "discover_peers", provider.discover_peers()).await?;
        let keys: BTreeSet<(String, u16)> = found.iter().map(key).collect();
        if keys.len() != found.len() {
            return Err(fail(
                check,
                format!("discover_peers repeated a peer: {found:?}"),
            ));
        }
        if keys == wanted {
            if membership == Membership::Announced {
                for peer in &found {
                    let announced = expected.iter().find(|e| e.same_node(peer));
                    if announced.is_some_and(|announced| *announced != peer) {
                        return Err(fail(
                            check,
                            format!("{peer:?} arrived other than announced: {announced:?}"),
                        ));
                    }
                }
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(fail(
                check,
                format!("after {settle:?} the provider sees {keys:?}, not {wanted:?}"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn key(peer: &Peer) -> (String, u16) {
    (peer.host().to_ascii_lowercase(), peer.discovery_port())
}

#[derive(Clone, Copy)]
enum Change {
    Joined,
    Left,
}
use Change::{Joined, Left};

/// Waits, up to `settle`, until `watch` reported `change` for every one of `peers`.
async fn expect_events(
    watch: &mut PeerWatch,
    peers: &[Peer],
    change: Change,
    settle: Duration,
    check: &'static str,
) -> Result<(), Failure> {
    let deadline = Instant::now() + settle;
    let mut missing: Vec<&Peer> = peers.iter().collect();
    while !missing.is_empty() {
        let event = tokio::time::timeout_at(deadline, watch.recv()).await;
        let peer = match (event, change) {
            (Ok(Some(PeerEvent::Joined(peer))), Joined)
            | (Ok(Some(PeerEvent::Left(peer))), Left) => peer,
            (Ok(Some(_)), _) => continue,
            (Ok(None), _) => return Err(fail(check, "the watch ended early")),
            (Err(_), _) => {
                return Err(fail(
                    check,
                    format!("after {settle:?} no event for {missing:?}"),
                ));
            }
        };
        missing.retain(|wanted| !wanted.same_node(&peer));
    }
    Ok(())
}

/// Waits, up to `settle`, until `watch` ends.
async fn ends(watch: &mut PeerWatch, settle: Duration) -> Result<(), Failure> {
    let deadline = Instant::now() + settle;
    loop {
        match tokio::time::timeout_at(deadline, watch.recv()).await {
            Ok(Some(_)) => continue,
            Ok(None) => return Ok(()),
            Err(_) => {
                return Err(fail(
                    "watch",
                    format!("the watch did not end within {settle:?} of close"),
                ));
            }
        }
    }
}

/// A backend that is down gives an error within the bound, never a hang or a success.
async fn outage<P: Provider>(provider: &P, local: &Peer, bound: Duration) -> Result<(), Failure> {
    let started = Instant::now();
    let attempt = async {
        provider.initialize().await?;
        provider.register(local).await?;
        provider.discover_peers().await
    };
    let result = tokio::time::timeout(bound, attempt).await;
    let _ = provider.close().await;
    match result {
        Err(_) => Err(fail("outage", format!("no answer within {bound:?}"))),
        Ok(Ok(peers)) => Err(fail(
            "outage",
            format!("a backend that is down answered {peers:?}"),
        )),
        Ok(Err(DiscoveryError::Unavailable { .. } | DiscoveryError::Timeout { .. })) => Ok(()),
        Ok(Err(other)) => Err(fail(
            "outage",
            format!(
                "after {:?} the error was {other}, not unavailable or timeout",
                started.elapsed()
            ),
        )),
    }
}

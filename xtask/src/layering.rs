//! `cargo xtask layering`: the dependency rules between Rakt's crates.
//!
//! Every crate under `crates/` has a layer in [`LAYERS`], which mirrors the table in
//! `docs/ARCHITECTURE.md`; a crate may depend (normal, build or dev) only on crates of lower
//! layers.
//! Backend crates are additionally independent of each other and of `rakt-cluster`, which never
//! names a backend.
//! Finally the core runtime must not pull in network stacks or backend clients, however
//! indirectly.
//!
//! The rules are pure functions over [`Workspace`], which [`Workspace::from_metadata`] reads from
//! `cargo metadata`, so the tests can feed them small synthetic graphs.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::shell::{self, Result};

/// The layer of every internal crate, including the ones not written yet.
///
/// A new crate or a new kind of edge is a design change: update this table and
/// `docs/ARCHITECTURE.md` in the same commit.
const LAYERS: &[(&str, u8)] = &[
    ("rakt-mailbox", 0),
    ("rakt-proto", 0),
    ("rakt-actor", 1),
    ("rakt-remote", 2),
    ("rakt-discovery", 2),
    ("rakt-datacenter", 2),
    ("rakt-discovery-static", 3),
    ("rakt-discovery-dns", 3),
    ("rakt-discovery-mdns", 3),
    ("rakt-discovery-nats", 3),
    ("rakt-discovery-k8s", 3),
    ("rakt-controlplane-nats", 3),
    ("rakt-controlplane-etcd", 3),
    ("rakt-cluster", 3),
    ("rakt-client", 4),
    ("rakt-testkit", 4),
    ("rakt", 4),
];

/// The core runtime, whose dependency closure must stay free of [`FORBIDDEN_IN_CORE`].
const CORE: &str = "rakt-actor";

/// Crates the core must never reach: network stacks and backend clients.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "tonic",
    "hyper",
    "kube",
    "async-nats",
    "etcd-client",
    "mdns-sd",
];

/// Crate-name prefixes the core must never reach.
const FORBIDDEN_PREFIXES_IN_CORE: &[&str] = &["hickory"];

/// The crate that composes the backends without naming any of them.
const CLUSTER: &str = "rakt-cluster";

pub(crate) fn layer_of(name: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, layer)| *layer)
}

pub(crate) fn is_internal(name: &str) -> bool {
    name == "rakt" || name.starts_with("rakt-")
}

/// A pluggable backend: a discovery or control-plane implementation.
fn is_backend(name: &str) -> bool {
    name.starts_with("rakt-discovery-") || name.starts_with("rakt-controlplane-")
}

fn is_forbidden_in_core(name: &str) -> bool {
    FORBIDDEN_IN_CORE.contains(&name)
        || FORBIDDEN_PREFIXES_IN_CORE
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

/// What the rules look at.
#[derive(Debug, Default)]
struct Workspace {
    /// The crates under `crates/`, with their direct dependencies of every kind.
    crates: Vec<Crate>,
    /// The resolved graph: each package's name and its normal and build dependencies.
    resolved: BTreeMap<String, Node>,
}

#[derive(Debug)]
struct Crate {
    name: String,
    /// Package names of direct dependencies, normal, build and dev alike.
    dependencies: Vec<String>,
}

#[derive(Debug)]
struct Node {
    name: String,
    /// Package ids.
    dependencies: Vec<String>,
}

/// Runs `cargo metadata` and checks every rule; fails listing every violation.
pub(crate) fn run(root: &Path) -> Result<()> {
    let report = check(root)?;
    println!("{report}");
    Ok(())
}

/// Checks every rule on the real workspace; the report on success, every violation on failure.
pub(crate) fn check(root: &Path) -> Result<String> {
    // All features, so that an optional dependency cannot hide an edge.
    let command = shell::cargo(
        root,
        ["metadata", "--format-version", "1", "--all-features"],
    );
    let metadata: Value = serde_json::from_str(&shell::stdout_of(command)?)?;
    let workspace = Workspace::from_metadata(&metadata, root)?;
    let violations = workspace.violations();
    if violations.is_empty() {
        Ok(format!(
            "layering: {} crates follow the layer table; {CORE} reaches none of the forbidden crates",
            workspace.crates.len()
        ))
    } else {
        let mut message = format!("{} layering violation(s):", violations.len());
        for violation in &violations {
            write!(message, "\n  {violation}")?;
        }
        Err(message.into())
    }
}

impl Workspace {
    /// Reads the `cargo metadata --format-version 1` output of the workspace at `root`.
    fn from_metadata(metadata: &Value, root: &Path) -> Result<Self> {
        let crates_dir = root.join("crates");
        let packages = array(metadata, "packages")?;
        let members = array(metadata, "workspace_members")?;
        let mut workspace = Workspace::default();
        let mut names = BTreeMap::new();
        for package in packages {
            let id = string(package, "id")?;
            let name = string(package, "name")?;
            names.insert(id, name);
            let is_member = members.iter().any(|member| member.as_str() == Some(id));
            // Examples, benches and xtask are members too, but not layered.
            let manifest = Path::new(string(package, "manifest_path")?);
            if !is_member || !manifest.starts_with(&crates_dir) {
                continue;
            }
            let dependencies = array(package, "dependencies")?
                .iter()
                .map(|dependency| string(dependency, "name").map(str::to_owned))
                .collect::<Result<_>>()?;
            workspace.crates.push(Crate {
                name: name.to_owned(),
                dependencies,
            });
        }
        let nodes = metadata
            .get("resolve")
            .and_then(|resolve| resolve.get("nodes"))
            .and_then(Value::as_array)
            .ok_or("cargo metadata has no resolve graph")?;
        for node in nodes {
            let id = string(node, "id")?;
            let mut dependencies = Vec::new();
            for dependency in array(node, "deps")? {
                // Dev-dependencies never reach users, so they do not count as pulled in.
                let ships = array(dependency, "dep_kinds")?.iter().any(|kind| {
                    matches!(kind.get("kind"), None | Some(Value::Null))
                        || kind.get("kind").and_then(Value::as_str) == Some("build")
                });
                if ships {
                    dependencies.push(string(dependency, "pkg")?.to_owned());
                }
            }
            let name = names
                .get(id)
                .ok_or_else(|| format!("resolve names unknown package {id}"))?;
            workspace.resolved.insert(
                id.to_owned(),
                Node {
                    name: (*name).to_owned(),
                    dependencies,
                },
            );
        }
        Ok(workspace)
    }

    /// Every broken rule, one line each, in a stable order.
    fn violations(&self) -> Vec<String> {
        let mut violations = self.layer_violations();
        violations.extend(self.core_violations());
        violations
    }

    fn layer_violations(&self) -> Vec<String> {
        let mut violations = Vec::new();
        for krate in &self.crates {
            let from = krate.name.as_str();
            let Some(from_layer) = layer_of(from) else {
                violations.push(format!(
                    "{from} is not in the layer table: give it a layer in xtask/src/layering.rs \
                     and docs/ARCHITECTURE.md"
                ));
                continue;
            };
            let mut seen = Vec::new();
            for to in krate.dependencies.iter().map(String::as_str) {
                // A crate may list the same dependency as normal and dev; report it once.
                if !is_internal(to) || seen.contains(&to) {
                    continue;
                }
                seen.push(to);
                let Some(to_layer) = layer_of(to) else {
                    violations.push(format!(
                        "{from} -> {to}: {to} is not in the layer table: give it a layer in \
                         xtask/src/layering.rs and docs/ARCHITECTURE.md"
                    ));
                    continue;
                };
                if from == CLUSTER && is_backend(to) {
                    violations.push(format!("{from} -> {to}: {CLUSTER} never names a backend"));
                } else if is_backend(from) && (is_backend(to) || to == CLUSTER) {
                    violations.push(format!(
                        "{from} -> {to}: backend crates must not depend on each other nor on \
                         {CLUSTER}"
                    ));
                } else if to_layer >= from_layer {
                    violations.push(format!(
                        "{from} (layer {from_layer}) -> {to} (layer {to_layer}): a crate may \
                         depend only on lower layers"
                    ));
                }
            }
        }
        violations
    }

    /// Walks the resolved graph from the core and names every forbidden crate it reaches.
    fn core_violations(&self) -> Vec<String> {
        let Some(start) = self
            .resolved
            .iter()
            .find(|(_, node)| node.name == CORE)
            .map(|(id, _)| id.as_str())
        else {
            return vec![format!(
                "{CORE} is missing from the resolved dependency graph"
            )];
        };
        // Breadth-first, remembering how each package was reached so the report shows a path.
        let mut reached_from: BTreeMap<&str, Option<&str>> = BTreeMap::from([(start, None)]);
        let mut queue = VecDeque::from([start]);
        let mut violations = Vec::new();
        while let Some(id) = queue.pop_front() {
            let Some(node) = self.resolved.get(id) else {
                continue;
            };
            if is_forbidden_in_core(&node.name) {
                violations.push(format!(
                    "{CORE} reaches {} ({}): the core runtime must stay free of network stacks \
                     and backend clients",
                    node.name,
                    self.path_to(id, &reached_from).join(" -> ")
                ));
                // The forbidden crate is reported; what lies behind it adds only noise.
                continue;
            }
            for next in &node.dependencies {
                if !reached_from.contains_key(next.as_str()) {
                    reached_from.insert(next, Some(id));
                    queue.push_back(next);
                }
            }
        }
        violations
    }

    fn path_to(&self, id: &str, reached_from: &BTreeMap<&str, Option<&str>>) -> Vec<String> {
        let mut path = Vec::new();
        let mut current = Some(id);
        while let Some(id) = current {
            path.push(
                self.resolved
                    .get(id)
                    .map_or(id, |node| &node.name)
                    .to_owned(),
            );
            current = reached_from.get(id).copied().flatten();
        }
        path.reverse();
        path
    }
}

fn array<'a>(value: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    value
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("cargo metadata: `{key}` is not an array").into())
}

fn string<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("cargo metadata: `{key}` is not a string").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace of crates with direct dependencies only; the resolved graph is built from the
    /// same edges plus `extra` ones to external crates.
    fn workspace(crates: &[(&str, &[&str])], extra: &[(&str, &[&str])]) -> Workspace {
        let mut workspace = Workspace::default();
        for (name, dependencies) in crates.iter().chain(extra) {
            workspace
                .resolved
                .entry(format!("id:{name}"))
                .or_insert_with(|| Node {
                    name: (*name).to_owned(),
                    dependencies: Vec::new(),
                })
                .dependencies
                .extend(dependencies.iter().map(|dep| format!("id:{dep}")));
            for dependency in *dependencies {
                workspace
                    .resolved
                    .entry(format!("id:{dependency}"))
                    .or_insert_with(|| Node {
                        name: (*dependency).to_owned(),
                        dependencies: Vec::new(),
                    });
            }
        }
        workspace.crates = crates
            .iter()
            .map(|(name, dependencies)| Crate {
                name: (*name).to_owned(),
                dependencies: dependencies.iter().map(|dep| (*dep).to_owned()).collect(),
            })
            .collect();
        workspace
    }

    const HEALTHY: &[(&str, &[&str])] = &[
        ("rakt-mailbox", &["crossbeam-queue"]),
        ("rakt-proto", &["prost"]),
        ("rakt-actor", &["rakt-mailbox", "rakt-proto", "tokio"]),
        ("rakt-remote", &["rakt-actor", "rakt-proto", "tonic"]),
        ("rakt-discovery", &["rakt-actor"]),
        ("rakt-discovery-nats", &["rakt-discovery", "async-nats"]),
        ("rakt-cluster", &["rakt-remote", "rakt-discovery"]),
        (
            "rakt",
            &["rakt-actor", "rakt-cluster", "rakt-discovery-nats"],
        ),
    ];

    fn with_edge(from: &str, to: &str) -> Workspace {
        let mut crates: Vec<(&str, Vec<&str>)> = HEALTHY
            .iter()
            .map(|(name, deps)| (*name, deps.to_vec()))
            .collect();
        crates
            .iter_mut()
            .find(|(name, _)| *name == from)
            .expect("edge starts at a known crate")
            .1
            .push(to);
        let crates: Vec<(&str, &[&str])> = crates
            .iter()
            .map(|(name, deps)| (*name, deps.as_slice()))
            .collect();
        workspace(&crates, &[])
    }

    #[test]
    fn the_healthy_graph_passes() {
        assert_eq!(workspace(HEALTHY, &[]).violations(), Vec::<String>::new());
    }

    #[test]
    fn an_edge_to_a_higher_layer_is_named() {
        assert_eq!(
            with_edge("rakt-actor", "rakt-remote").violations(),
            [
                "rakt-actor (layer 1) -> rakt-remote (layer 2): a crate may depend only on lower \
                 layers",
                "rakt-actor reaches tonic (rakt-actor -> rakt-remote -> tonic): the core runtime \
                 must stay free of network stacks and backend clients",
            ]
        );
    }

    #[test]
    fn an_edge_within_a_layer_is_named() {
        assert_eq!(
            with_edge("rakt-proto", "rakt-mailbox").violations(),
            [
                "rakt-proto (layer 0) -> rakt-mailbox (layer 0): a crate may depend only on lower \
              layers"
            ]
        );
    }

    #[test]
    fn a_dev_dependency_counts_for_layers() {
        // `Crate::dependencies` holds every kind, so a test-only edge upwards is caught too.
        let violations = with_edge("rakt-mailbox", "rakt-testkit").layer_violations();
        assert_eq!(
            violations,
            [
                "rakt-mailbox (layer 0) -> rakt-testkit (layer 4): a crate may depend only on lower \
              layers"
            ]
        );
    }

    #[test]
    fn backends_stay_independent() {
        let mut crates = HEALTHY.to_vec();
        crates.push((
            "rakt-discovery-dns",
            &["rakt-discovery", "rakt-discovery-nats"],
        ));
        crates.push(("rakt-controlplane-etcd", &["rakt-cluster"]));
        assert_eq!(
            workspace(&crates, &[]).violations(),
            [
                "rakt-discovery-dns -> rakt-discovery-nats: backend crates must not depend on \
                 each other nor on rakt-cluster",
                "rakt-controlplane-etcd -> rakt-cluster: backend crates must not depend on each \
                 other nor on rakt-cluster",
            ]
        );
    }

    #[test]
    fn the_cluster_never_names_a_backend() {
        assert_eq!(
            with_edge("rakt-cluster", "rakt-discovery-nats").violations(),
            ["rakt-cluster -> rakt-discovery-nats: rakt-cluster never names a backend"]
        );
    }

    #[test]
    fn unknown_internal_crates_ask_for_a_table_update() {
        let mut crates = HEALTHY.to_vec();
        crates.push(("rakt-gossip", &["rakt-actor"]));
        let mut violations = workspace(&crates, &[]).violations();
        violations.extend(with_edge("rakt", "rakt-metrics").violations());
        assert_eq!(
            violations,
            [
                "rakt-gossip is not in the layer table: give it a layer in xtask/src/layering.rs \
                 and docs/ARCHITECTURE.md",
                "rakt -> rakt-metrics: rakt-metrics is not in the layer table: give it a layer in \
                 xtask/src/layering.rs and docs/ARCHITECTURE.md",
            ]
        );
    }

    #[test]
    fn the_core_must_not_reach_a_forbidden_crate_through_an_external_one() {
        let mut crates = HEALTHY.to_vec();
        crates[2] = (
            "rakt-actor",
            &["rakt-mailbox", "rakt-proto", "resolver-shim"],
        );
        let extra: &[(&str, &[&str])] = &[("resolver-shim", &["hickory-proto"])];
        assert_eq!(
            workspace(&crates, extra).violations(),
            [
                "rakt-actor reaches hickory-proto (rakt-actor -> resolver-shim -> hickory-proto): \
              the core runtime must stay free of network stacks and backend clients"
            ]
        );
    }

    #[test]
    fn a_missing_core_is_reported() {
        let workspace = workspace(&[("rakt-mailbox", &[]), ("rakt-proto", &["prost"])], &[]);
        assert_eq!(
            workspace.core_violations(),
            ["rakt-actor is missing from the resolved dependency graph"]
        );
    }

    #[test]
    fn reads_cargo_metadata() {
        let metadata = serde_json::json!({
            "packages": [
                {
                    "id": "actor", "name": "rakt-actor",
                    "manifest_path": "/ws/crates/rakt-actor/Cargo.toml",
                    "dependencies": [
                        { "name": "rakt-mailbox", "kind": null },
                        { "name": "rakt-testkit", "kind": "dev" }
                    ]
                },
                {
                    "id": "mailbox", "name": "rakt-mailbox",
                    "manifest_path": "/ws/crates/rakt-mailbox/Cargo.toml",
                    "dependencies": []
                },
                {
                    "id": "benches", "name": "rakt-benches",
                    "manifest_path": "/ws/benches/Cargo.toml",
                    "dependencies": [{ "name": "rakt", "kind": null }]
                },
                {
                    "id": "hyper", "name": "hyper",
                    "manifest_path": "/registry/hyper/Cargo.toml",
                    "dependencies": []
                }
            ],
            "workspace_members": ["actor", "mailbox", "benches"],
            "resolve": { "nodes": [
                { "id": "actor", "deps": [
                    { "pkg": "mailbox", "dep_kinds": [{ "kind": null, "target": null }] },
                    { "pkg": "hyper", "dep_kinds": [{ "kind": "dev", "target": null }] }
                ] },
                { "id": "mailbox", "deps": [] },
                { "id": "benches", "deps": [] },
                { "id": "hyper", "deps": [] }
            ] }
        });
        let workspace = Workspace::from_metadata(&metadata, Path::new("/ws")).unwrap();
        let crates: Vec<_> = workspace
            .crates
            .iter()
            .map(|krate| (krate.name.as_str(), krate.dependencies.clone()))
            .collect();
        assert_eq!(
            crates,
            [
                (
                    "rakt-actor",
                    vec!["rakt-mailbox".to_owned(), "rakt-testkit".to_owned()]
                ),
                ("rakt-mailbox", vec![]),
            ]
        );
        assert_eq!(workspace.resolved["actor"].dependencies, ["mailbox"]);
        // The dev-only edge to hyper does not ship, so the core stays clean.
        assert_eq!(
            workspace.violations(),
            [
                "rakt-actor (layer 1) -> rakt-testkit (layer 4): a crate may depend only on lower \
              layers"
            ]
        );
    }
}

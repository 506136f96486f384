//! What every part of a node's remoting shares: its system, types, settings and links.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rakt_actor::{ActorSystem, Address, Pid};
use tokio::sync::watch;

use crate::config::RemoteConfig;
use crate::error::RemoteError;
use crate::kinds::Kinds;
use crate::link::Link;
use crate::registry::TypeRegistry;

pub(crate) struct Node {
    system: ActorSystem,
    registry: TypeRegistry,
    kinds: Kinds,
    config: RemoteConfig,
    runtime: tokio::runtime::Handle,
    /// Links to peers, by `host:port`.
    links: Mutex<HashMap<(String, u16), Arc<Link>>>,
    shutdown: watch::Receiver<bool>,
}

impl Node {
    pub(crate) fn new(
        system: ActorSystem,
        registry: TypeRegistry,
        kinds: Kinds,
        config: RemoteConfig,
        runtime: tokio::runtime::Handle,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            system,
            registry,
            kinds,
            config,
            runtime,
            links: Mutex::new(HashMap::new()),
            shutdown,
        }
    }

    pub(crate) fn system(&self) -> &ActorSystem {
        &self.system
    }

    pub(crate) fn registry(&self) -> &TypeRegistry {
        &self.registry
    }

    pub(crate) fn kinds(&self) -> &Kinds {
        &self.kinds
    }

    pub(crate) fn config(&self) -> &RemoteConfig {
        &self.config
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// Changes to `true` when remoting shuts down.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// The link to `host:port`, made on first use.
    pub(crate) fn link(self: &Arc<Self>, host: &str, port: u16) -> Result<Arc<Link>, RemoteError> {
        let key = (host.to_owned(), port);
        if let Some(link) = self.links.lock().get(&key) {
            return Ok(link.clone());
        }
        if *self.shutdown.borrow() {
            return Err(RemoteError::Unreachable {
                node: format!("{host}:{port}"),
                reason: "remoting has stopped".into(),
            });
        }
        let mut links = self.links.lock();
        if let Some(link) = links.get(&key) {
            return Ok(link.clone());
        }
        if links.len() >= self.config.max_peers {
            return Err(RemoteError::Unreachable {
                node: format!("{host}:{port}"),
                reason: format!(
                    "this node keeps links to at most {} peers",
                    self.config.max_peers
                ),
            });
        }
        let link = Link::start(self, host, port, self.shutdown.clone()).map_err(|reason| {
            RemoteError::Unreachable {
                node: format!("{host}:{port}"),
                reason,
            }
        })?;
        links.insert(key, link.clone());
        Ok(link)
    }

    /// The link to the node of `address`, when one was made.
    pub(crate) fn existing_link(&self, address: &Address) -> Option<Arc<Link>> {
        let key = (address.host()?.to_owned(), address.port()?);
        self.links.lock().get(&key).cloned()
    }

    /// A `Pid` for the actor at `address`, on another node.
    pub(crate) fn remote_pid(
        self: &Arc<Self>,
        address: Address,
        id: u64,
    ) -> Result<Pid, RemoteError> {
        let (Some(host), Some(port)) = (address.host(), address.port()) else {
            return Err(RemoteError::Address(
                rakt_actor::AddressError::MissingLocation {
                    address: address.to_string(),
                },
            ));
        };
        let link = self.link(host, port)?;
        Ok(Pid::remote(&self.system, address, id, link)?)
    }

    /// Drops every link; their tasks end on the shutdown signal.
    pub(crate) fn forget_links(&self) {
        self.links.lock().clear();
    }
}

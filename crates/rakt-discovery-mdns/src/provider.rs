//! The provider: one mDNS daemon, a browse kept up to date in the background, and this node's
//! announcement while registered.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use mdns_sd::{IfKind, ResolvedService, ServiceDaemon, ServiceEvent, ServiceInfo};
use parking_lot::Mutex;
use rakt_discovery::{
    DiscoveryError, Lifecycle, Operation, Peer, PeerEvent, PeerWatch, Provider, Stage, async_trait,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::MdnsConfig;

const BACKEND: &str = "mdns";

/// TXT keys of the announcement.
const CLUSTER_KEY: &str = "cluster";
const NODE_ID_KEY: &str = "node_id";
const REMOTING_PORT_KEY: &str = "remoting_port";
/// Metadata entries travel as `meta.<key>`.
const METADATA_PREFIX: &str = "meta.";

/// How long `deregister` and `close` wait for the daemon to confirm a withdrawal.
const UNREGISTER_WAIT: Duration = Duration::from_secs(2);

/// Unread events a watch holds before the browse waits for its reader.
const WATCH_CAPACITY: usize = 256;

/// A [`Provider`] over multicast DNS.
///
/// See the [crate documentation](crate) for what it announces and an example.
#[derive(Debug)]
pub struct MdnsDiscovery {
    config: MdnsConfig,
    lifecycle: Lifecycle,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

/// What the browse task keeps up to date.
#[derive(Debug, Default)]
struct Shared {
    /// The nodes of this cluster seen now, by DNS-SD instance name.
    found: Mutex<BTreeMap<String, Peer>>,
    /// This node while registered, left out of watches.
    local: Mutex<Option<Peer>>,
    watchers: Mutex<Vec<mpsc::Sender<PeerEvent>>>,
}

struct Running {
    daemon: ServiceDaemon,
    browser: JoinHandle<()>,
    /// The full name of this node's announcement while registered.
    announced: Option<String>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("browser", &self.browser)
            .field("announced", &self.announced)
            .finish_non_exhaustive()
    }
}

impl MdnsDiscovery {
    /// A provider with `config`, checked.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::InvalidConfig`] naming the field: `cluster_name` when empty, longer
    /// than 63 characters or with spaces, `service` when not like `_rakt._tcp`, `domain` when
    /// empty, `port` when zero.
    ///
    /// ```
    /// use rakt_discovery::DiscoveryError;
    /// use rakt_discovery_mdns::{MdnsConfig, MdnsDiscovery};
    ///
    /// let mut config = MdnsConfig::new("orders");
    /// config.service = "rakt".into();
    /// assert!(matches!(MdnsDiscovery::new(config), Err(DiscoveryError::InvalidConfig { field: "service", .. })));
    /// ```
    pub fn new(config: MdnsConfig) -> Result<Self, DiscoveryError> {
        config.validate()?;
        Ok(Self {
            config,
            lifecycle: Lifecycle::new(),
            shared: Arc::default(),
            running: Mutex::new(None),
        })
    }

    /// The configuration the provider runs with.
    pub fn config(&self) -> &MdnsConfig {
        &self.config
    }

    /// The announcement of `local`: its address (or the interfaces' when its host is a name),
    /// its discovery port, and the cluster, id, remoting port and metadata in TXT.
    fn announcement(&self, local: &Peer) -> Result<ServiceInfo, DiscoveryError> {
        let instance = instance_name(local);
        let host_name = format!("{instance}.local.");
        let mut properties = vec![(CLUSTER_KEY.to_owned(), self.config.cluster_name.clone())];
        if let Some(id) = local.node_id() {
            properties.push((NODE_ID_KEY.to_owned(), id.to_owned()));
        }
        if let Some(port) = local.remoting_port() {
            properties.push((REMOTING_PORT_KEY.to_owned(), port.to_string()));
        }
        for (key, value) in local.metadata() {
            properties.push((format!("{METADATA_PREFIX}{key}"), value.clone()));
        }
        let properties: std::collections::HashMap<String, String> =
            properties.into_iter().collect();
        let service_type = self.config.service_type();
        let info = match local.host().parse::<IpAddr>() {
            Ok(ip) => ServiceInfo::new(
                &service_type,
                &instance,
                &host_name,
                ip,
                local.discovery_port(),
                properties,
            ),
            Err(_) => ServiceInfo::new(
                &service_type,
                &instance,
                &host_name,
                "",
                local.discovery_port(),
                properties,
            )
            .map(ServiceInfo::enable_addr_auto),
        };
        info.map_err(|error| DiscoveryError::invalid_config("peer", error.to_string()))
    }

    /// Withdraws this node's announcement, waiting (boundedly) for the daemon to send the
    /// goodbye, so the others drop it at once rather than when its records expire.
    async fn withdraw(&self) -> Result<(), DiscoveryError> {
        *self.shared.local.lock() = None;
        let pending = {
            let mut running = self.running.lock();
            let Some(running) = running.as_mut() else {
                return Ok(());
            };
            match running.announced.take() {
                Some(fullname) => running.daemon.unregister(&fullname).map_err(unavailable)?,
                None => return Ok(()),
            }
        };
        match tokio::time::timeout(UNREGISTER_WAIT, pending.recv_async()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(unavailable(error)),
            Err(_) => Err(DiscoveryError::Timeout {
                backend: BACKEND,
                operation: "deregister",
                after: UNREGISTER_WAIT,
            }),
        }
    }
}

fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> DiscoveryError {
    DiscoveryError::unavailable(BACKEND, error)
}

/// A DNS-SD instance name for `local`: its node id, else its host and port, in letters,
/// digits and hyphens.
fn instance_name(local: &Peer) -> String {
    let raw = match local.node_id() {
        Some(id) => id.to_owned(),
        None => format!("{}-{}", local.host(), local.discovery_port()),
    };
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    name.trim_matches('-').to_owned()
}

/// The peer a resolved announcement names, if it belongs to `cluster`.
fn peer_of(service: &ResolvedService, cluster: &str, ipv6: bool) -> Option<Peer> {
    if service.get_property_val_str(CLUSTER_KEY) != Some(cluster) {
        return None;
    }
    let mut addresses: Vec<IpAddr> = service
        .get_addresses()
        .iter()
        .map(|scoped| scoped.to_ip_addr())
        .filter(|ip| ipv6 || ip.is_ipv4())
        .collect();
    // One address per node, the same on every node that sees it: IPv4 first, then the lowest.
    addresses.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    let address = addresses.first()?;
    let mut peer = Peer::new(address.to_string(), service.get_port()).ok()?;
    if let Some(port) = service
        .get_property_val_str(REMOTING_PORT_KEY)
        .and_then(|p| p.parse().ok())
    {
        peer = peer.with_remoting_port(port).ok()?;
    }
    if let Some(id) = service.get_property_val_str(NODE_ID_KEY) {
        peer = peer.with_node_id(id).ok()?;
    }
    for property in service.get_properties().iter() {
        if let Some(key) = property.key().strip_prefix(METADATA_PREFIX) {
            peer = peer.with_metadata(key, property.val_str());
        }
    }
    Some(peer)
}

/// Keeps `shared.found` equal to what the browse sees, and tells the watchers.
async fn browse(
    events: mdns_sd::Receiver<ServiceEvent>,
    shared: Arc<Shared>,
    cluster: String,
    ipv6: bool,
) {
    while let Ok(event) = events.recv_async().await {
        let change = match event {
            ServiceEvent::ServiceResolved(service) => {
                let Some(peer) = peer_of(&service, &cluster, ipv6) else {
                    continue;
                };
                let previous = shared
                    .found
                    .lock()
                    .insert(service.fullname.clone(), peer.clone());
                if previous.as_ref() == Some(&peer) {
                    continue;
                }
                PeerEvent::Joined(peer)
            }
            ServiceEvent::ServiceRemoved(_, fullname) => {
                match shared.found.lock().remove(&fullname) {
                    Some(peer) => PeerEvent::Left(peer),
                    None => continue,
                }
            }
            _ => continue,
        };
        let (PeerEvent::Joined(peer) | PeerEvent::Left(peer)) = &change else {
            continue;
        };
        if shared
            .local
            .lock()
            .as_ref()
            .is_some_and(|local| local.same_node(peer))
        {
            continue;
        }
        let watchers: Vec<_> = shared.watchers.lock().clone();
        for watcher in watchers {
            // A watch whose reader is gone is forgotten below.
            let _ = watcher.send(change.clone()).await;
        }
        shared
            .watchers
            .lock()
            .retain(|watcher| !watcher.is_closed());
    }
}

#[async_trait]
impl Provider for MdnsDiscovery {
    fn id(&self) -> &'static str {
        BACKEND
    }

    async fn initialize(&self) -> Result<(), DiscoveryError> {
        let mut stage = self.lifecycle.lock().await;
        stage.permit(Operation::Initialize)?;
        let daemon = ServiceDaemon::new_with_port(self.config.port).map_err(unavailable)?;
        if !self.config.ipv6 {
            daemon
                .disable_interface(IfKind::IPv6)
                .map_err(unavailable)?;
        }
        let events = daemon
            .browse(&self.config.service_type())
            .map_err(unavailable)?;
        let browser = tokio::spawn(browse(
            events,
            self.shared.clone(),
            self.config.cluster_name.clone(),
            self.config.ipv6,
        ));
        *self.running.lock() = Some(Running {
            daemon,
            browser,
            announced: None,
        });
        *stage = Stage::Initialized;
        Ok(())
    }

    async fn register(&self, local: &Peer) -> Result<(), DiscoveryError> {
        let mut stage = self.lifecycle.lock().await;
        stage.permit(Operation::Register)?;
        let info = self.announcement(local)?;
        let fullname = info.get_fullname().to_owned();
        {
            let mut running = self.running.lock();
            let running = running.as_mut().ok_or(DiscoveryError::NotInitialized)?;
            running.daemon.register(info).map_err(unavailable)?;
            running.announced = Some(fullname);
        }
        *self.shared.local.lock() = Some(local.clone());
        *stage = Stage::Registered(local.clone());
        Ok(())
    }

    async fn deregister(&self) -> Result<(), DiscoveryError> {
        let mut stage = self.lifecycle.lock().await;
        stage.permit(Operation::Deregister)?;
        *stage = Stage::Initialized;
        self.withdraw().await
    }

    async fn discover_peers(&self) -> Result<Vec<Peer>, DiscoveryError> {
        let stage = self.lifecycle.lock().await;
        stage.permit(Operation::Discover)?;
        let found: Vec<Peer> = self.shared.found.lock().values().cloned().collect();
        Ok(stage.others(found))
    }

    async fn watch(&self) -> Result<PeerWatch, DiscoveryError> {
        let stage = self.lifecycle.lock().await;
        stage.permit(Operation::Watch)?;
        let (sender, watch) = PeerWatch::channel(WATCH_CAPACITY);
        self.shared.watchers.lock().push(sender);
        Ok(watch)
    }

    async fn close(&self) -> Result<(), DiscoveryError> {
        let mut stage = self.lifecycle.lock().await;
        let previous = std::mem::replace(&mut *stage, Stage::Closed);
        if matches!(previous, Stage::Closed) {
            return Ok(());
        }
        if let Err(error) = self.withdraw().await {
            tracing::debug!(%error, "could not withdraw this node's announcement");
        }
        // Dropping the senders ends every watch.
        self.shared.watchers.lock().clear();
        if let Some(running) = self.running.lock().take() {
            running.browser.abort();
            if let Err(error) = running.daemon.shutdown() {
                tracing::debug!(%error, "the mdns daemon did not shut down cleanly");
            }
        }
        Ok(())
    }
}

impl Drop for MdnsDiscovery {
    fn drop(&mut self) {
        if let Some(running) = self.running.lock().take() {
            running.browser.abort();
            let _ = running.daemon.shutdown();
        }
    }
}

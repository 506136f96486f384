//! Remoting for Rakt: actors on different nodes talk over gRPC as if they were local.
//!
//! [`Remoting::builder`] makes an [`ActorSystem`] listen for remote messages. From then on a
//! [`Pid`] may name an actor on another node ([`Remoting::lookup`], [`Remoting::actor`], or
//! the sender of a message that came from there), and `tell`, `ask`, `batch_tell`,
//! `batch_ask`, `forward`, `watch` and `stop` work on it as on a local one.
//!
//! Between two nodes, messages travel on one persistent gRPC stream per direction, many per
//! frame under load, in order between any sender and receiver. Each node decodes only the
//! message types it registered ([`TypeRegistry`]); anything else is refused with an error that
//! names the type and counted as a dead letter. A connection that breaks fails the asks in
//! flight, turns unconfirmed tells into dead letters, and tells the watchers of the peer's
//! actors that they are gone.
//!
//! ```
//! use rakt_actor::{ActorSystem, Context};
//! use rakt_proto::v1::StatusFailure as Text;
//! use rakt_remote::Remoting;
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Node b runs an echo actor.
//! let b = ActorSystem::builder("b").build()?;
//! let b_remoting = Remoting::builder(&b).start().await?;
//! b.spawn_fn("echo", |ctx: &mut Context<'_, _>| {
//!     if let Some(text) = ctx.take_message::<Text>() {
//!         ctx.respond(text);
//!     }
//!     Ok(())
//! })
//! .await?;
//!
//! // Node a finds it and asks it.
//! let a = ActorSystem::builder("a").build()?;
//! let a_remoting = Remoting::builder(&a).start().await?;
//! let echo_address = b_remoting.address_of("echo");
//! let echo = a_remoting.lookup(&echo_address).await?.expect("echo runs on b");
//! let reply: Text = echo.ask(Text { error: "over the wire".into() }).await?;
//! assert_eq!(reply.error, "over the wire");
//!
//! a_remoting.shutdown().await;
//! b_remoting.shutdown().await;
//! a.stop().await?;
//! b.stop().await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
mod kinds;
mod link;
mod node;
mod registry;
mod server;
mod tls;
#[cfg(feature = "opentelemetry")]
mod trace;
mod wire;

#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic
)]
mod proto {
    include!("generated/rakt.v1.rs");
}

use std::net::SocketAddr;
use std::sync::Arc;

use rakt_actor::{Actor, ActorSystem, Address, Dependency, Message, Pid, SpawnOptions};
use rakt_proto::v1::LookupRequest;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;

pub use config::{Compression, RemoteConfig};
pub use error::{DecodeError, RemoteError};
pub use kinds::RemoteSpawnOptions;
pub use registry::TypeRegistry;
pub use tls::TlsConfig;

use kinds::Kinds;
use node::Node;

/// How long [`Remoting::shutdown`] waits for open streams to close.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Sets a node up for remoting; made by [`Remoting::builder`].
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::ActorSystem;
/// use rakt_remote::Remoting;
/// use rakt_proto::v1::StatusFailure;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("node").build()?;
/// let remoting = Remoting::builder(&system)
///     .bind("127.0.0.1:0".parse()?)
///     .register::<StatusFailure>()
///     .connect_timeout(Duration::from_secs(2))
///     .start()
///     .await?;
/// assert_ne!(remoting.local_addr().port(), 0);
/// remoting.shutdown().await;
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RemotingBuilder {
    system: ActorSystem,
    config: RemoteConfig,
    registry: TypeRegistry,
    kinds: Kinds,
}

impl RemotingBuilder {
    /// Where to listen; port 0 picks a free port.
    pub fn bind(mut self, address: SocketAddr) -> Self {
        self.config.bind = address;
        self
    }

    /// The host peers use to reach this node, when it differs from the bound IP.
    pub fn advertise_host(mut self, host: impl Into<String>) -> Self {
        self.config.advertise_host = Some(host.into());
        self
    }

    /// Registers a message type this node can receive, as a message or as a reply.
    pub fn register<M: Message>(mut self) -> Self {
        self.registry.register::<M>();
        self
    }

    /// Replaces every setting at once.
    pub fn config(mut self, config: RemoteConfig) -> Self {
        self.config = config;
        self
    }

    /// The largest message, encoded, that the node sends or accepts.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self
    }

    /// How long opening a connection to a peer may take.
    pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Secures every connection in and out with TLS, or mutual TLS; see [`TlsConfig`].
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// Compresses what the node sends; see [`Compression`].
    pub fn compression(mut self, compression: Compression) -> Self {
        self.config.compression = compression;
        self
    }

    /// How long a request-response call to a peer (lookup, spawn, stop, restart, reinstate)
    /// may wait for its answer before it fails with [`RemoteError::Timeout`] (or
    /// [`StopError::Timeout`](rakt_actor::StopError::Timeout)).
    pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Registers an actor kind under `name`, so that peers can spawn actors of it on this
    /// node with [`Remoting::spawn`]. Each actor, and each of its restarts, gets a fresh
    /// state from `factory`. A later kind of the same name replaces this one.
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, FnActor};
    /// use rakt_remote::{RemoteSpawnOptions, Remoting};
    ///
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let worker_node = ActorSystem::builder("workers").build()?;
    /// let workers = Remoting::builder(&worker_node)
    ///     .kind("sink", || FnActor::new(|_ctx| Ok(())))
    ///     .start()
    ///     .await?;
    ///
    /// let client_node = ActorSystem::builder("client").build()?;
    /// let client = Remoting::builder(&client_node).start().await?;
    /// let port = workers.local_addr().port();
    /// let sink = client
    ///     .spawn("127.0.0.1", port, "sink-1", "sink", RemoteSpawnOptions::new())
    ///     .await?;
    /// assert!(sink.is_remote());
    /// assert!(worker_node.local_actor("sink-1").is_some());
    ///
    /// client.shutdown().await;
    /// workers.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn kind<A: Actor>(
        self,
        name: impl Into<String>,
        factory: impl Fn() -> A + Send + Sync + 'static,
    ) -> Self {
        self.kind_with(name, factory, SpawnOptions::new())
    }

    /// Registers an actor kind with the options its actors start from: what a spawn request
    /// cannot carry, such as a priority mailbox, a supervisor or reentrancy, goes here; what
    /// the request sets replaces what is here.
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, Directive, FnActor, SpawnOptions, Supervisor};
    /// use rakt_remote::Remoting;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("node").build()?;
    /// let options = SpawnOptions::new().supervisor(Supervisor::new().on_panic(Directive::Resume));
    /// let remoting = Remoting::builder(&system)
    ///     .kind_with("sturdy", || FnActor::new(|_ctx| Ok(())), options)
    ///     .start()
    ///     .await?;
    /// remoting.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn kind_with<A: Actor>(
        mut self,
        name: impl Into<String>,
        factory: impl Fn() -> A + Send + Sync + 'static,
        options: SpawnOptions,
    ) -> Self {
        self.kinds.add_kind(name.into(), factory, options);
        self
    }

    /// Registers how this node makes the dependency of stable id `id`, for actors that peers
    /// spawn here with [`RemoteSpawnOptions::dependency`]: each such actor gets a fresh one.
    /// A spawn fails with [`RemoteError::SpawnFailed`] when `factory` makes a dependency of
    /// another id.
    ///
    /// ```
    /// use rakt_actor::{ActorSystem, Dependency};
    /// use rakt_remote::Remoting;
    ///
    /// struct Prices;
    ///
    /// impl Dependency for Prices {
    ///     fn id(&self) -> &str {
    ///         "prices"
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder("node").build()?;
    /// let remoting = Remoting::builder(&system).dependency("prices", || Prices).start().await?;
    /// remoting.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn dependency<D: Dependency>(
        mut self,
        id: impl Into<String>,
        factory: impl Fn() -> D + Send + Sync + 'static,
    ) -> Self {
        self.kinds.add_dependency(id.into(), factory);
        self
    }

    /// Starts listening, and gives the system its network location.
    ///
    /// # Errors
    ///
    /// [`RemoteError::InvalidConfig`] for a bad setting, [`RemoteError::Bind`] when the
    /// address cannot be bound, and [`RemoteError::System`] when the system already listens.
    pub async fn start(self) -> Result<Remoting, RemoteError> {
        let Self {
            system,
            config,
            registry,
            kinds,
        } = self;
        config.validate()?;
        kinds.validate()?;
        let bind = config.bind;
        let incoming = TcpIncoming::bind(bind)
            .map_err(|source| RemoteError::Bind {
                address: bind,
                source,
            })?
            .with_nodelay(Some(true));
        let local_addr = incoming.local_addr().map_err(|source| RemoteError::Bind {
            address: bind,
            source,
        })?;
        let host = match &config.advertise_host {
            Some(host) => host.clone(),
            None => local_addr.ip().to_string(),
        };
        system.set_location(&host, local_addr.port())?;
        let (stop, stopped) = watch::channel(false);
        let limit = link::frame_limit(config.max_message_size);
        let runtime = tokio::runtime::Handle::current();
        let node = Arc::new(Node::new(
            system.clone(),
            registry,
            kinds,
            config,
            runtime.clone(),
            stopped.clone(),
        ));
        let mut service = proto::remote_service_server::RemoteServiceServer::new(
            server::Server::new(node.clone()),
        )
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Zstd);
        let config = node.config();
        if let Some(encoding) = config.compression.encoding() {
            service = service.send_compressed(encoding);
        }
        let mut server = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(config.keepalive_interval))
            .http2_keepalive_timeout(Some(config.keepalive_timeout));
        if let Some(tls) = &config.tls {
            server =
                server
                    .tls_config(tls.server())
                    .map_err(|error| RemoteError::InvalidConfig {
                        field: "tls",
                        reason: error.to_string(),
                    })?;
        }
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<proto::remote_service_server::RemoteServiceServer<server::Server>>()
            .await;
        let (reflection, reflection_alpha) = reflection_services()?;
        let mut until_stopped = stopped;
        let serving = runtime.spawn(async move {
            let shutdown = async move {
                // Ends on the signal, or when the sender is gone.
                let _ = until_stopped.wait_for(|stop| *stop).await;
            };
            let served = server
                .add_service(service)
                .add_service(health_service)
                .add_service(reflection)
                .add_service(reflection_alpha)
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "the remoting server stopped");
            }
        });
        Ok(Remoting {
            node,
            local_addr,
            host,
            stop,
            serving: parking_lot::Mutex::new(Some(serving)),
            health,
        })
    }
}

/// The encoded descriptors of Rakt's protos, written by `cargo xtask codegen`.
const DESCRIPTOR_SET: &[u8] = include_bytes!("generated/descriptor.bin");

/// Server reflection, both versions in use by tools, describing Rakt's services and health.
fn reflection_services() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    RemoteError,
> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let invalid = |error: tonic_reflection::server::Error| RemoteError::InvalidConfig {
        field: "reflection",
        reason: error.to_string(),
    };
    Ok((
        builder().build_v1().map_err(invalid)?,
        builder().build_v1alpha().map_err(invalid)?,
    ))
}

/// A node's remoting: its listener, and the links to its peers.
///
/// Dropping it without [`shutdown`](Self::shutdown) ends the server, its streams and its links
/// as `shutdown` does, without waiting for them.
#[derive(Debug)]
pub struct Remoting {
    node: Arc<Node>,
    local_addr: SocketAddr,
    host: String,
    stop: watch::Sender<bool>,
    serving: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
    health: tonic_health::server::HealthReporter,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("system", &self.system().name())
            .finish()
    }
}

impl Remoting {
    /// Starts setting up remoting for `system`.
    pub fn builder(system: &ActorSystem) -> RemotingBuilder {
        RemotingBuilder {
            system: system.clone(),
            config: RemoteConfig::default(),
            registry: TypeRegistry::new(),
            kinds: Kinds::default(),
        }
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the actor `name` on this node, as peers reach it.
    pub fn address_of(&self, name: &str) -> Address {
        Address::remote(
            self.node.system().name(),
            self.host.as_str(),
            self.local_addr.port(),
            name,
        )
    }

    /// A `Pid` for the actor at `address` without asking its node whether it exists: sends to
    /// a missing actor become dead letters on its node. An address of this node gives the
    /// local actor, when one has the name.
    ///
    /// # Errors
    ///
    /// [`RemoteError::Address`] when `address` names no node, and
    /// [`RemoteError::Unreachable`] once remoting has stopped.
    pub fn actor(&self, address: &Address) -> Result<Pid, RemoteError> {
        if self.is_local(address) {
            if let Some(pid) = self.node.system().local_actor(address.name()) {
                return Ok(pid);
            }
        }
        self.node.remote_pid(address.clone(), 0)
    }

    /// Asks the node of `address` for its actor of that name: `None` when it has none.
    ///
    /// # Errors
    ///
    /// [`RemoteError::Address`] when `address` names no node, [`RemoteError::Unreachable`]
    /// when the node cannot be reached, and [`RemoteError::Refused`] when it fails the call.
    pub async fn lookup(&self, address: &Address) -> Result<Option<Pid>, RemoteError> {
        if self.is_local(address) {
            return Ok(self.node.system().local_actor(address.name()));
        }
        let (Some(host), Some(port)) = (address.host(), address.port()) else {
            return Err(RemoteError::Address(
                rakt_actor::AddressError::MissingLocation {
                    address: address.to_string(),
                },
            ));
        };
        let link = self.node.link(host, port)?;
        let found = link
            .lookup(LookupRequest {
                name: address.name().to_owned(),
            })
            .await?;
        match found {
            None => Ok(None),
            Some(actor) => {
                let found: Address = actor.address.parse()?;
                Ok(Some(self.node.remote_pid(found, actor.id)?))
            }
        }
    }

    /// Spawns `name`, an actor of `kind`, on the node at `host:port`: this node when it is
    /// its own address, else a peer where the kind is registered (see
    /// [`RemotingBuilder::kind`]). Names are unique per node: the spawn fails when a live
    /// actor there has the name.
    ///
    /// # Errors
    ///
    /// [`RemoteError::UnknownKind`], [`RemoteError::NameTaken`],
    /// [`RemoteError::UnknownDependency`] and [`RemoteError::SpawnFailed`] (an invalid name or
    /// option, a failed `pre_start`) from the node; [`RemoteError::Unreachable`],
    /// [`RemoteError::Timeout`] or [`RemoteError::Refused`] when the call itself fails.
    pub async fn spawn(
        &self,
        host: &str,
        port: u16,
        name: &str,
        kind: &str,
        options: RemoteSpawnOptions,
    ) -> Result<Pid, RemoteError> {
        let node = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let request = options
            .request(name, kind)
            .map_err(|reason| RemoteError::SpawnFailed {
                node: node.clone(),
                name: name.to_owned(),
                reason,
            })?;
        if port == self.local_addr.port() && host == self.host {
            let system = self.node.system();
            return match self.node.kinds().spawn(system, request.clone()).await {
                Ok(pid) => Ok(pid),
                Err(failure) => Err(kinds::failure_to_error(&node, &request, failure)),
            };
        }
        let link = self.node.link(host, port)?;
        let actor = link.spawn(request).await?;
        let address: Address = actor.address.parse()?;
        self.node.remote_pid(address, actor.id)
    }

    fn is_local(&self, address: &Address) -> bool {
        address.port() == Some(self.local_addr.port()) && address.host() == Some(self.host.as_str())
    }

    /// Stops listening and closes every link: asks in flight fail, queued tells become dead
    /// letters, and watchers of remote actors learn that they are gone.
    pub async fn shutdown(&self) {
        // Health probes see the node go before its streams do.
        for service in ["", <proto::remote_service_server::RemoteServiceServer<server::Server> as tonic::server::NamedService>::NAME] {
            self.health
                .set_service_status(service, tonic_health::ServingStatus::NotServing)
                .await;
        }
        let _ = self.stop.send(true);
        let serving = self.serving.lock().take();
        if let Some(mut serving) = serving {
            // The server ends on the signal once its streams close, which they do on the same
            // signal; a peer that does not let go is cut off after the grace period.
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut serving)
                .await
                .is_err()
            {
                serving.abort();
            }
        }
        self.node.forget_links();
    }
}

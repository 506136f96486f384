//! The provider: a connection, a responder while registered, and watches.

use std::sync::Arc;

use async_nats::connection::State;
use async_nats::{Client, ConnectOptions, Subscriber};
use futures_util::StreamExt;
use parking_lot::Mutex;
use rakt_discovery::{
    DiscoveryError, Lifecycle, Operation, Peer, PeerEvent, PeerWatch, Provider, Stage, async_trait,
    within,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::NatsConfig;
use crate::wire::{Message, WirePeer};

const BACKEND: &str = "nats";

/// Unread events a watch holds before its reader waits.
const WATCH_CAPACITY: usize = 256;

/// A [`Provider`] over NATS.
///
/// See the [crate documentation](crate) for how nodes find each other and an example.
#[derive(Debug)]
pub struct NatsDiscovery {
    config: NatsConfig,
    lifecycle: Lifecycle,
    session: Mutex<Session>,
}

/// What the provider holds between calls; only touched briefly, never across an await.
#[derive(Debug, Default)]
struct Session {
    client: Option<Client>,
    /// Answers `Discover` while this node is registered.
    responder: Option<JoinHandle<()>>,
    /// This node while registered, for the watches to leave out.
    local: Arc<Mutex<Option<Peer>>>,
    /// One task per watch; aborting it ends the watch.
    watches: Vec<JoinHandle<()>>,
}

impl NatsDiscovery {
    /// A provider with `config`, checked.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::InvalidConfig`] naming the field: `servers` when empty or holding a
    /// blank entry, `subject` when empty or with wildcards, `timeout` when zero,
    /// `max_join_attempts` when zero, `password` without a `user`, `token` with a `user`.
    ///
    /// ```
    /// use rakt_discovery::DiscoveryError;
    /// use rakt_discovery_nats::{NatsConfig, NatsDiscovery};
    ///
    /// let error = NatsDiscovery::new(NatsConfig::new(["nats://127.0.0.1:4222"], "rakt.*")).unwrap_err();
    /// assert!(matches!(error, DiscoveryError::InvalidConfig { field: "subject", .. }));
    /// ```
    pub fn new(config: NatsConfig) -> Result<Self, DiscoveryError> {
        config.validate()?;
        Ok(Self {
            config,
            lifecycle: Lifecycle::new(),
            session: Mutex::new(Session::default()),
        })
    }

    /// The configuration the provider runs with.
    pub fn config(&self) -> &NatsConfig {
        &self.config
    }

    /// Connects, in up to `max_join_attempts` attempts of at most `timeout` each, `reconnect_wait`
    /// apart.
    async fn connect(&self) -> Result<Client, DiscoveryError> {
        let mut last_error = None;
        for attempt in 1..=self.config.max_join_attempts {
            if attempt > 1 {
                tokio::time::sleep(self.config.reconnect_wait).await;
            }
            match self.options().connect(self.config.servers.clone()).await {
                Ok(client) => return Ok(client),
                Err(error) => {
                    tracing::debug!(attempt, %error, "cannot connect to nats");
                    last_error = Some(error);
                }
            }
        }
        Err(match last_error {
            Some(error) => DiscoveryError::unavailable(BACKEND, error),
            None => DiscoveryError::unavailable(BACKEND, "no connection attempt was made"),
        })
    }

    fn options(&self) -> ConnectOptions {
        let wait = self.config.reconnect_wait;
        let mut options = ConnectOptions::new()
            .name("rakt-discovery")
            .connection_timeout(self.config.timeout)
            .request_timeout(Some(self.config.timeout))
            .max_reconnects(None)
            .reconnect_delay_callback(move |_| wait)
            .event_callback(|event| async move {
                tracing::debug!(%event, "nats connection");
            });
        if let Some(user) = &self.config.user {
            options = options.user_and_password(
                user.clone(),
                self.config.password.clone().unwrap_or_default(),
            );
        }
        if let Some(token) = &self.config.token {
            options = options.token(token.clone());
        }
        options
    }

    /// The client, while it is connected to a server.
    fn connected(&self) -> Result<Client, DiscoveryError> {
        let client = self
            .session
            .lock()
            .client
            .clone()
            .ok_or(DiscoveryError::NotInitialized)?;
        match client.connection_state() {
            State::Connected => Ok(client),
            state => Err(DiscoveryError::unavailable(
                BACKEND,
                format!("not connected to a nats server ({state:?})"),
            )),
        }
    }

    /// Publishes `message` on `subject` and waits until the server has it.
    async fn announce(
        &self,
        client: &Client,
        subject: String,
        message: Message,
    ) -> Result<(), DiscoveryError> {
        within(BACKEND, "announce", self.config.timeout, async {
            client
                .publish(subject, message.encode())
                .await
                .map_err(unavailable)?;
            client.flush().await.map_err(unavailable)
        })
        .await
    }

    /// Stops answering and tells the watchers this node left; what the server does not take in
    /// time is an error, the responder being gone either way.
    async fn withdraw(&self, local: &Peer) -> Result<(), DiscoveryError> {
        let (responder, client) = {
            let mut session = self.session.lock();
            *session.local.lock() = None;
            (session.responder.take(), session.client.clone())
        };
        if let Some(responder) = responder {
            responder.abort();
        }
        match client {
            Some(client) => {
                let left = Message::Left {
                    peer: WirePeer::from(local),
                };
                self.announce(&client, self.config.events_subject(), left)
                    .await
            }
            None => Ok(()),
        }
    }
}

/// A client error as [`DiscoveryError::Unavailable`].
fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> DiscoveryError {
    DiscoveryError::unavailable(BACKEND, error)
}

/// Subscribes to `subject` and waits until the server has the subscription, so that nothing
/// published after this returns is missed.
async fn subscribed(client: &Client, subject: String) -> Result<Subscriber, DiscoveryError> {
    let subscriber = client.subscribe(subject).await.map_err(unavailable)?;
    client.flush().await.map_err(unavailable)?;
    Ok(subscriber)
}

/// Answers every `Discover` on the subject with this node.
async fn respond(client: Client, mut requests: Subscriber, local: Peer) {
    let here = Message::Here {
        peer: WirePeer::from(&local),
    }
    .encode();
    while let Some(request) = requests.next().await {
        let (Some(reply), Some(Message::Discover)) =
            (request.reply, Message::decode(&request.payload))
        else {
            continue;
        };
        if let Err(error) = client.publish(reply, here.clone()).await {
            tracing::debug!(%error, "cannot answer a discovery request");
        }
    }
}

/// Turns the events subject into a watch, leaving this node out.
async fn forward_events(
    mut events: Subscriber,
    local: Arc<Mutex<Option<Peer>>>,
    watch: tokio::sync::mpsc::Sender<PeerEvent>,
) {
    while let Some(message) = events.next().await {
        let event = match Message::decode(&message.payload) {
            Some(Message::Joined { peer }) => Peer::try_from(peer).map(PeerEvent::Joined),
            Some(Message::Left { peer }) => Peer::try_from(peer).map(PeerEvent::Left),
            _ => continue,
        };
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                tracing::debug!(%error, "an announced peer is invalid; ignored");
                continue;
            }
        };
        let (PeerEvent::Joined(peer) | PeerEvent::Left(peer)) = &event else {
            continue;
        };
        if local
            .lock()
            .as_ref()
            .is_some_and(|local| local.same_node(peer))
        {
            continue;
        }
        if watch.send(event).await.is_err() {
            return;
        }
    }
}

#[async_trait]
impl Provider for NatsDiscovery {
    fn id(&self) -> &'static str {
        BACKEND
    }

    async fn initialize(&self) -> Result<(), DiscoveryError> {
        let mut stage = self.lifecycle.lock().await;
        stage.permit(Operation::Initialize)?;
        let client = self.connect().await?;
        self.session.lock().client = Some(client);
        *stage = Stage::Initialized;
        Ok(())
    }

    async fn register(&self, local: &Peer) -> Result<(), DiscoveryError> {
        let mut stage = self.lifecycle.lock().await;
        stage.permit(Operation::Register)?;
        let client = self.connected()?;
        let requests = within(
            BACKEND,
            "register",
            self.config.timeout,
            subscribed(&client, self.config.subject.clone()),
        )
        .await?;
        let responder = tokio::spawn(respond(client.clone(), requests, local.clone()));
        let joined = Message::Joined {
            peer: WirePeer::from(local),
        };
        if let Err(error) = self
            .announce(&client, self.config.events_subject(), joined)
            .await
        {
            responder.abort();
            return Err(error);
        }
        {
            let mut session = self.session.lock();
            *session.local.lock() = Some(local.clone());
            session.responder = Some(responder);
        }
        *stage = Stage::Registered(local.clone());
        Ok(())
    }

    async fn deregister(&self) -> Result<(), DiscoveryError> {
        let mut stage = self.lifecycle.lock().await;
        stage.permit(Operation::Deregister)?;
        let Stage::Registered(local) = std::mem::replace(&mut *stage, Stage::Initialized) else {
            return Err(DiscoveryError::NotRegistered);
        };
        self.withdraw(&local).await
    }

    async fn discover_peers(&self) -> Result<Vec<Peer>, DiscoveryError> {
        let stage = self.lifecycle.lock().await;
        stage.permit(Operation::Discover)?;
        let client = self.connected()?;
        let window = self.config.timeout;
        let mut answers = within(BACKEND, "discover_peers", window, async {
            let inbox = client.new_inbox();
            let answers = client.subscribe(inbox.clone()).await.map_err(unavailable)?;
            client
                .publish_with_reply(
                    self.config.subject.clone(),
                    inbox,
                    Message::Discover.encode(),
                )
                .await
                .map_err(unavailable)?;
            client.flush().await.map_err(unavailable)?;
            Ok(answers)
        })
        .await?;
        // Every registered node answers; collect for the whole window, since nothing says how
        // many there are.
        let deadline = Instant::now() + window;
        let mut peers = Vec::new();
        while let Ok(Some(answer)) = tokio::time::timeout_at(deadline, answers.next()).await {
            let Some(Message::Here { peer }) = Message::decode(&answer.payload) else {
                continue;
            };
            match Peer::try_from(peer) {
                Ok(peer) => peers.push(peer),
                Err(error) => {
                    tracing::debug!(%error, "a peer answered with an invalid address; ignored")
                }
            }
        }
        // A connection lost while collecting would pass off a partial answer as the cluster.
        self.connected()?;
        Ok(stage.others(peers))
    }

    async fn watch(&self) -> Result<PeerWatch, DiscoveryError> {
        let stage = self.lifecycle.lock().await;
        stage.permit(Operation::Watch)?;
        let client = self.connected()?;
        // The subscription is in place on the server before the watch is handed out.
        let events = within(
            BACKEND,
            "watch",
            self.config.timeout,
            subscribed(&client, self.config.events_subject()),
        )
        .await?;
        let (sender, watch) = PeerWatch::channel(WATCH_CAPACITY);
        let mut session = self.session.lock();
        let local = session.local.clone();
        session.watches.retain(|task| !task.is_finished());
        session
            .watches
            .push(tokio::spawn(forward_events(events, local, sender)));
        Ok(watch)
    }

    async fn close(&self) -> Result<(), DiscoveryError> {
        let mut stage = self.lifecycle.lock().await;
        let previous = std::mem::replace(&mut *stage, Stage::Closed);
        for watch in std::mem::take(&mut self.session.lock().watches) {
            watch.abort();
        }
        let withdrawn = match &previous {
            Stage::Registered(local) => self.withdraw(local).await,
            _ => Ok(()),
        };
        let client = self.session.lock().client.take();
        if let Some(client) = client {
            // Drain delivers what is in flight and closes; bounded, since the server may be gone.
            let _ = tokio::time::timeout(self.config.timeout, client.drain()).await;
        }
        if let Err(error) = withdrawn {
            tracing::debug!(%error, "could not tell the cluster this node left");
        }
        Ok(())
    }
}

impl Drop for NatsDiscovery {
    fn drop(&mut self) {
        let mut session = self.session.lock();
        if let Some(responder) = session.responder.take() {
            responder.abort();
        }
        for watch in session.watches.drain(..) {
            watch.abort();
        }
    }
}

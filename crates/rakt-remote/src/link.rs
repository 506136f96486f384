//! A link: this node's side of the connection to one peer, and the transport of every remote
//! `Pid` on that peer.
//!
//! Sends queue commands without waiting. One task per link drains the queue into frames of
//! many envelopes on one `Exchange` stream, so order between any sender and receiver holds,
//! and a busy link sends fewer, larger frames. Every frame stays in `unacked` until the peer
//! acknowledges it, so that a connection lost mid-flight turns what it carried into dead
//! letters instead of losing it silently.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use parking_lot::Mutex;
use prost::bytes::BytesMut;
use rakt_actor::remote::{Control, ControlFuture, Outbound, RemoteReply, Transport};
use rakt_actor::{AskError, DeadLetterReason, Pid, SendError, StopError};
use rakt_proto::v1::{
    ActorRef, ExchangeFrame, ExchangeReply, ReinstateRequest, RemoteEnvelope, RestartRequest,
    StopRequest, Termination, WatchChange, remote_reply, spawn_response,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint};

use crate::node::Node;
use crate::proto::remote_service_client::RemoteServiceClient;
use crate::wire;

/// What a link's task sends.
enum Command {
    Send(Pid, Outbound),
    Watch { target: Pid, watcher: Pid, on: bool },
    Terminated { watcher: String, target: ActorRef },
}

/// What one frame carried, kept until the frame is acknowledged: each message with its
/// receiver, and the notices that actors of this node stopped.
#[derive(Default)]
struct Carried {
    messages: Vec<(Pid, Outbound)>,
    terminations: Vec<(String, ActorRef)>,
}

/// The buffer a link encodes messages into, many to one allocation; each envelope's payload
/// is a slice of it.
const ENCODE_CHUNK: usize = 64 * 1024;

/// Below this much room left, a link starts a fresh buffer rather than grow the shared one.
const ENCODE_SLACK: usize = 1024;

/// The names a frame's envelopes refer to by index, each named once.
#[derive(Default)]
struct FrameNames {
    names: Vec<String>,
    /// The index of each name given so far.
    indexes: HashMap<String, u32>,
    /// The index of each message type's name, by type: most frames carry one or two types,
    /// so a short list beats hashing.
    types: Vec<(std::any::TypeId, u32)>,
}

impl FrameNames {
    /// The reference (index plus one) of `name`, added on first use.
    fn name(&mut self, name: &str) -> u32 {
        if let Some(index) = self.indexes.get(name) {
            return *index;
        }
        self.names.push(name.to_owned());
        let index = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.indexes.insert(name.to_owned(), index);
        index
    }

    /// The reference of the full protobuf name of `message`'s type.
    fn type_of(&mut self, message: &dyn rakt_actor::AnyMessage) -> u32 {
        let type_id = message.as_any().type_id();
        if let Some((_, index)) = self.types.iter().find(|(id, _)| *id == type_id) {
            return *index;
        }
        let index = self.name(&message.full_name());
        self.types.push((type_id, index));
        index
    }
}

/// The most notices of stopped actors a link holds for a peer it cannot reach; beyond it, the
/// oldest are dropped with a warning.
const MAX_HELD_TERMINATIONS: usize = 65_536;

/// How often a link forgets asks whose askers gave up without a reply.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// An ask sent on the link, waiting for its reply.
struct Pending {
    reply: RemoteReply,
    timeout: Duration,
    /// The actor asked, named in errors.
    name: String,
}

/// The state a link shares with its task.
struct State {
    /// Asks waiting for replies, by correlation id.
    pending: Mutex<HashMap<u64, Pending>>,
    /// Frames sent and not yet acknowledged, oldest first, with what they carried.
    unacked: Mutex<VecDeque<(u64, Carried)>>,
    /// Notices that actors of this node stopped, for watchers on the peer, which could not be
    /// sent: sent again once the link is up, so a watcher learns of the stop even after a
    /// broken connection. `(watcher name, stopped actor)`.
    held: Mutex<VecDeque<(String, ActorRef)>>,
    /// Local watchers of the peer's actors, by the watched actor's name.
    watched: Mutex<HashMap<String, Vec<(Pid, Pid)>>>,
    /// Until when sends fail at once, after a failed connection; and why.
    down: Mutex<Option<(Instant, String)>>,
    /// Whether `down` is set: lets every send skip its lock while the peer is up.
    is_down: AtomicBool,
    next_correlation: AtomicU64,
    /// Commands pushed and not yet taken by the link's task.
    queued: AtomicUsize,
}

/// The transport to one peer.
pub(crate) struct Link {
    /// The peer as `host:port`.
    peer: String,
    node: Arc<Node>,
    channel: Channel,
    commands: mpsc::UnboundedSender<Command>,
    state: Arc<State>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("peer", &self.peer).finish()
    }
}

impl Link {
    /// A link to `host:port`; its task starts now and ends with the node.
    pub(crate) fn start(
        node: &Arc<Node>,
        host: &str,
        port: u16,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Self>, String> {
        let peer = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let config = node.config();
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{peer}"))
            .map_err(|error| error.to_string())?
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(config.keepalive_interval)
            .keep_alive_timeout(config.keepalive_timeout)
            .keep_alive_while_idle(true);
        if let Some(tls) = &config.tls {
            endpoint = endpoint
                .tls_config(tls.client())
                .map_err(|error| error.to_string())?;
        }
        let channel = endpoint.connect_lazy();
        let (commands, queue) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            pending: Mutex::new(HashMap::new()),
            unacked: Mutex::new(VecDeque::new()),
            held: Mutex::new(VecDeque::new()),
            watched: Mutex::new(HashMap::new()),
            down: Mutex::new(None),
            is_down: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            next_correlation: AtomicU64::new(1),
        });
        let link = Arc::new(Self {
            peer,
            node: node.clone(),
            channel,
            commands,
            state,
        });
        let task = Writer {
            link: link.clone(),
            queue,
            shutdown,
        };
        node.runtime().spawn(task.run());
        Ok(link)
    }

    fn client(&self) -> RemoteServiceClient<Channel> {
        let config = self.node.config();
        let limit = frame_limit(config.max_message_size);
        let client = RemoteServiceClient::new(self.channel.clone())
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        match config.compression.encoding() {
            Some(encoding) => client.send_compressed(encoding),
            None => client,
        }
    }

    fn unreachable(&self, reason: impl Into<String>) -> SendError {
        SendError::Unreachable {
            node: self.peer.clone(),
            reason: reason.into(),
        }
    }

    /// Asks the peer for its actor of that name.
    pub(crate) async fn lookup(
        &self,
        request: rakt_proto::v1::LookupRequest,
    ) -> Result<Option<ActorRef>, crate::RemoteError> {
        let mut client = self.client();
        let response = self.unary(client.lookup(request)).await?;
        Ok(response.actor)
    }

    /// Asks the peer to spawn an actor.
    pub(crate) async fn spawn(
        &self,
        request: rakt_proto::v1::SpawnRequest,
    ) -> Result<ActorRef, crate::RemoteError> {
        let mut client = self.client();
        let response = self.unary(client.spawn(request.clone())).await?;
        match response.outcome {
            Some(spawn_response::Outcome::Actor(actor)) => Ok(actor),
            Some(spawn_response::Outcome::Failure(failure)) => Err(crate::kinds::failure_to_error(
                &self.peer, &request, failure,
            )),
            None => Err(crate::RemoteError::SpawnFailed {
                node: self.peer.clone(),
                name: request.name,
                reason: "the node answered with neither an actor nor a failure".into(),
            }),
        }
    }

    /// Waits for a unary call's answer, at most the request timeout.
    async fn unary<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, crate::RemoteError> {
        let timeout = self.node.config().request_timeout;
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(status_error(&self.peer, &status)),
            Err(_) => Err(crate::RemoteError::Timeout {
                node: self.peer.clone(),
                timeout,
            }),
        }
    }

    /// Tells the peer's actor `watcher` that `target`, an actor of this node, stopped.
    pub(crate) fn notify_terminated(&self, watcher: &Pid, target: ActorRef) {
        // A stopped link has no peer left to tell.
        let _ = self.push(Command::Terminated {
            watcher: watcher.name().to_owned(),
            target,
        });
    }

    /// A peer's actor stopped: tells its local watchers.
    pub(crate) fn terminated(&self, target: &str) {
        let watchers = self.state.watched.lock().remove(target).unwrap_or_default();
        for (watcher, target) in watchers {
            watcher.notify_terminated(&target, None);
        }
    }

    /// The connection broke or could not be made: everything in flight fails with `reason`,
    /// and watchers of the peer's actors learn that they are gone.
    fn fail_all(&self, reason: &str) {
        let unacked: Vec<_> = self.state.unacked.lock().drain(..).collect();
        for (_, carried) in unacked {
            for (target, outbound) in carried.messages {
                let _ = outbound.undeliverable(
                    &target,
                    DeadLetterReason::Unreachable,
                    self.unreachable(reason),
                );
            }
            for (watcher, target) in carried.terminations {
                self.hold(watcher, target);
            }
        }
        let pending: Vec<_> = self.state.pending.lock().drain().collect();
        for (_, pending) in pending {
            pending.reply.fail(AskError::Send(self.unreachable(reason)));
        }
        let watched: Vec<_> = self.state.watched.lock().drain().collect();
        let why = format!("node {} unreachable: {reason}", self.peer);
        for (_, watchers) in watched {
            for (watcher, target) in watchers {
                watcher.notify_terminated(&target, Some(why.clone()));
            }
        }
    }

    /// Handles one frame from the peer: acknowledgements and ask replies.
    fn received(&self, reply: ExchangeReply) {
        if reply.acknowledged > 0 {
            let mut unacked = self.state.unacked.lock();
            while unacked
                .front()
                .is_some_and(|(sequence, _)| *sequence <= reply.acknowledged)
            {
                unacked.pop_front();
            }
        }
        for answer in reply.replies {
            let Some(pending) = self.state.pending.lock().remove(&answer.correlation_id) else {
                // The asker gave up and the reply came anyway; its deadline already answered.
                continue;
            };
            match answer.outcome {
                Some(remote_reply::Outcome::Message(message)) => {
                    match self
                        .node
                        .registry()
                        .decode(&message.type_name, &message.payload)
                    {
                        Ok(decoded) => pending.reply.respond(decoded),
                        Err(error) => pending.reply.fail(AskError::Send(SendError::Refused {
                            node: self.peer.clone(),
                            name: pending.name.clone(),
                            reason: format!("cannot decode the reply: {error}"),
                        })),
                    }
                }
                Some(remote_reply::Outcome::Error(error)) => pending
                    .reply
                    .fail(wire::wire_to_ask_error(error, &self.peer, pending.timeout)),
                None => pending.reply.fail(AskError::Send(SendError::Refused {
                    node: self.peer.clone(),
                    name: pending.name.clone(),
                    reason: "a reply without outcome".into(),
                })),
            }
        }
    }

    /// Turns queued commands into one frame; what cannot go on the wire is reported now.
    ///
    /// A frame carries at most `max_message_size` bytes of payloads, so that it stays within
    /// the frame limit the peer accepts: what does not fit stays in `batch`, in order, for the
    /// next frame.
    fn frame(&self, sequence: u64, batch: &mut Vec<Command>) -> (ExchangeFrame, Carried) {
        let limit = self.node.config().max_message_size;
        let mut frame = ExchangeFrame {
            sequence,
            ..ExchangeFrame::default()
        };
        let mut carried = Carried::default();
        let mut names = FrameNames::default();
        let mut buffer = BytesMut::new();
        let mut bytes = 0_usize;
        let mut rest = Vec::new();
        for command in batch.drain(..) {
            if !rest.is_empty() {
                rest.push(command);
                continue;
            }
            match command {
                Command::Send(target, mut outbound) => {
                    if outbound.is_abandoned() {
                        // The asker gave up before the question left: as for a local ask,
                        // an abandoned question is not handled.
                        continue;
                    }
                    if buffer.capacity() - buffer.len() < ENCODE_SLACK {
                        buffer = BytesMut::with_capacity(ENCODE_CHUNK);
                    }
                    outbound.message().encode_into(&mut buffer);
                    let payload = buffer.split().freeze();
                    if payload.len() > limit {
                        let reason = format!(
                            "a {} of {} bytes is over the limit of {limit} bytes",
                            outbound.message().full_name(),
                            payload.len()
                        );
                        let error = SendError::Refused {
                            node: self.peer.clone(),
                            name: target.name().to_owned(),
                            reason,
                        };
                        let _ = outbound.undeliverable(&target, DeadLetterReason::Refused, error);
                        continue;
                    }
                    if bytes > 0 && bytes + payload.len() > limit {
                        // Encoded again with the next frame; rare, as it takes messages of
                        // several megabytes.
                        rest.push(Command::Send(target, outbound));
                        continue;
                    }
                    bytes += payload.len();
                    let mut correlation_id = 0;
                    let mut timeout_ms = 0;
                    let timeout = outbound.timeout().unwrap_or_default();
                    if let Some(reply) = outbound.take_reply() {
                        correlation_id =
                            self.state.next_correlation.fetch_add(1, Ordering::Relaxed);
                        timeout_ms = u64::try_from(timeout.as_millis())
                            .unwrap_or(u64::MAX)
                            .max(1);
                        self.state.pending.lock().insert(
                            correlation_id,
                            Pending {
                                reply,
                                timeout,
                                name: target.name().to_owned(),
                            },
                        );
                    }
                    frame.envelopes.push(RemoteEnvelope {
                        receiver_ref: names.name(target.name()),
                        type_ref: names.type_of(outbound.message()),
                        sender: outbound.sender().map(wire::actor_ref),
                        payload,
                        correlation_id,
                        timeout_ms,
                        receiver: String::new(),
                        type_name: String::new(),
                        #[cfg(feature = "opentelemetry")]
                        trace_context: crate::trace::inject(outbound.span()),
                        #[cfg(not(feature = "opentelemetry"))]
                        trace_context: std::collections::HashMap::new(),
                    });
                    carried.messages.push((target, outbound));
                }
                Command::Watch {
                    target,
                    watcher,
                    on,
                } => frame.watches.push(WatchChange {
                    watcher: Some(wire::actor_ref(&watcher)),
                    target: target.name().to_owned(),
                    watch: on,
                }),
                Command::Terminated { watcher, target } => {
                    carried.terminations.push((watcher.clone(), target.clone()));
                    frame.terminations.push(Termination {
                        target: Some(target),
                        watcher,
                    });
                }
            }
        }
        *batch = rest;
        frame.names = names.names;
        (frame, carried)
    }

    /// Fails queued commands while the peer is down.
    fn refuse(&self, batch: &mut Vec<Command>, reason: &str) {
        for command in batch.drain(..) {
            match command {
                Command::Send(target, outbound) => {
                    let _ = outbound.undeliverable(
                        &target,
                        DeadLetterReason::Unreachable,
                        self.unreachable(reason),
                    );
                }
                Command::Watch {
                    target,
                    watcher,
                    on: true,
                } => {
                    let why = format!("node {} unreachable: {reason}", self.peer);
                    self.forget_watch(&target, &watcher);
                    watcher.notify_terminated(&target, Some(why));
                }
                // Kept for when the peer can hear again.
                Command::Terminated { watcher, target } => self.hold(watcher, target),
                // Nothing to tell a peer that cannot hear.
                Command::Watch { .. } => {}
            }
        }
    }

    fn forget_watch(&self, target: &Pid, watcher: &Pid) {
        let mut watched = self.state.watched.lock();
        if let Some(watchers) = watched.get_mut(target.name()) {
            watchers.retain(|(w, t)| !(w == watcher && t == target));
            if watchers.is_empty() {
                watched.remove(target.name());
            }
        }
    }

    /// Queues `command` for the link's task; hands it back once the task has ended. Boxed,
    /// as that happens only when remoting has stopped.
    fn push(&self, command: Command) -> Result<(), Box<Command>> {
        // Counted before it can be taken, so the task's `taken` never runs ahead of it.
        self.state.queued.fetch_add(1, Ordering::Relaxed);
        self.commands.send(command).map_err(|error| {
            self.state.queued.fetch_sub(1, Ordering::Relaxed);
            Box::new(error.0)
        })
    }

    /// The link's task took `count` commands.
    fn taken(&self, count: usize) {
        self.state.queued.fetch_sub(count, Ordering::Relaxed);
    }

    /// Keeps a notice that an actor stopped, to send once the peer is reachable again.
    fn hold(&self, watcher: String, target: ActorRef) {
        let mut held = self.state.held.lock();
        if held.len() >= MAX_HELD_TERMINATIONS {
            held.pop_front();
            tracing::warn!(peer = %self.peer, "too many stop notices held for an unreachable peer; dropped the oldest");
        }
        held.push_back((watcher, target));
    }

    /// When the link should try the peer again by itself: once its backoff ends, while it
    /// holds notices to send; `None` while it holds none.
    fn retry_at(&self) -> Option<Instant> {
        if self.state.held.lock().is_empty() {
            return None;
        }
        let down = self.state.down.lock();
        Some(down.as_ref().map_or_else(Instant::now, |(until, _)| *until))
    }

    /// Moves the held notices to the front of `batch`, to go out first.
    fn release_held(&self, batch: &mut Vec<Command>) {
        let held: Vec<Command> = self
            .state
            .held
            .lock()
            .drain(..)
            .map(|(watcher, target)| Command::Terminated { watcher, target })
            .collect();
        if !held.is_empty() {
            batch.splice(0..0, held);
        }
    }

    /// Forgets asks whose askers gave up: their replies, if any come, have no one to go to.
    fn sweep(&self) {
        self.state
            .pending
            .lock()
            .retain(|_, pending| !pending.reply.is_closed());
    }

    fn set_down(&self, down: Option<(Instant, String)>) {
        let mut slot = self.state.down.lock();
        self.state.is_down.store(down.is_some(), Ordering::Release);
        *slot = down;
    }

    /// Why sends fail now, while a failed connection's backoff lasts.
    fn down_reason(&self) -> Option<String> {
        if !self.state.is_down.load(Ordering::Acquire) {
            return None;
        }
        let mut down = self.state.down.lock();
        match &*down {
            Some((until, reason)) if Instant::now() < *until => Some(reason.clone()),
            _ => {
                // The backoff is over: sends skip this lock again until the next failure.
                *down = None;
                self.state.is_down.store(false, Ordering::Release);
                None
            }
        }
    }
}

/// Runs a control operation as a unary call to the peer.
async fn control_call(
    mut client: RemoteServiceClient<Channel>,
    peer: String,
    name: String,
    control: Control,
    timeout: Duration,
) -> Result<(), StopError> {
    let call = async {
        match control {
            Control::Stop | Control::Kill => client
                .stop(StopRequest {
                    name: name.clone(),
                    kill: control == Control::Kill,
                })
                .await
                .map(drop),
            Control::Restart => client
                .restart(RestartRequest { name: name.clone() })
                .await
                .map(drop),
            Control::Reinstate => client
                .reinstate(ReinstateRequest { name: name.clone() })
                .await
                .map(drop),
            other => Err(tonic::Status::unimplemented(format!(
                "{other:?} is not supported by this transport"
            ))),
        }
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(outcome) => {
            outcome.map_err(|status| crate::server::status_to_stop_error(status, &name, &peer))
        }
        Err(_) => Err(StopError::Timeout { name, timeout }),
    }
}

/// The error for a unary call that peer `peer` failed.
fn status_error(peer: &str, status: &tonic::Status) -> crate::RemoteError {
    if status.code() == tonic::Code::Unavailable {
        crate::RemoteError::Unreachable {
            node: peer.to_owned(),
            reason: status.message().to_owned(),
        }
    } else {
        crate::RemoteError::Refused {
            node: peer.to_owned(),
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

/// The largest frame a link sends or accepts: a full message, with room for its envelope.
pub(crate) fn frame_limit(max_message_size: usize) -> usize {
    max_message_size.saturating_mul(2).saturating_add(64 * 1024)
}

impl Transport for Link {
    fn send(&self, to: &Pid, outbound: Outbound) -> Result<(), SendError> {
        if let Some(reason) = self.down_reason() {
            let error = self.unreachable(reason);
            return Err(outbound.undeliverable(to, DeadLetterReason::Unreachable, error));
        }
        let queued = self.state.queued.load(Ordering::Relaxed);
        if queued >= self.node.config().max_queued {
            let error = SendError::Overloaded {
                node: self.peer.clone(),
                queued,
            };
            return Err(outbound.undeliverable(to, DeadLetterReason::Overloaded, error));
        }
        match self
            .push(Command::Send(to.clone(), outbound))
            .map_err(|command| *command)
        {
            Ok(()) => Ok(()),
            Err(Command::Send(to, outbound)) => {
                let error = self.unreachable("remoting has stopped");
                Err(outbound.undeliverable(&to, DeadLetterReason::Unreachable, error))
            }
            Err(_) => Ok(()),
        }
    }

    fn control(&self, to: &Pid, control: Control) -> ControlFuture {
        Box::pin(control_call(
            self.client(),
            self.peer.clone(),
            to.name().to_owned(),
            control,
            self.node.config().request_timeout,
        ))
    }

    fn watch(&self, target: &Pid, watcher: &Pid) {
        self.state
            .watched
            .lock()
            .entry(target.name().to_owned())
            .or_default()
            .push((watcher.clone(), target.clone()));
        let command = Command::Watch {
            target: target.clone(),
            watcher: watcher.clone(),
            on: true,
        };
        if self.push(command).is_err() {
            self.forget_watch(target, watcher);
            watcher.notify_terminated(target, Some("remoting has stopped".into()));
        }
    }

    fn unwatch(&self, target: &Pid, watcher: &Pid) {
        self.forget_watch(target, watcher);
        // A stopped link has no peer left to tell.
        let _ = self.push(Command::Watch {
            target: target.clone(),
            watcher: watcher.clone(),
            on: false,
        });
    }

    fn terminated(&self, watcher: &Pid, target: &Pid) {
        self.notify_terminated(watcher, wire::actor_ref(target));
    }
}

/// The task of one link: connects when there is something to send, and keeps one `Exchange`
/// stream open for as long as the peer answers.
struct Writer {
    link: Arc<Link>,
    queue: mpsc::UnboundedReceiver<Command>,
    shutdown: watch::Receiver<bool>,
}

/// Why a session ended.
enum End {
    /// The node stops.
    Shutdown,
    /// The connection failed or broke.
    Broken(String),
}

impl Writer {
    async fn run(mut self) {
        let config = self.link.node.config().clone();
        let mut batch = Vec::with_capacity(config.max_batch);
        let mut backoff = config.reconnect_backoff_min;
        loop {
            let retry_at = self.link.retry_at();
            let retry = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let woken = tokio::select! {
                received = self.queue.recv_many(&mut batch, config.max_batch) => {
                    self.link.taken(received);
                    received > 0
                }
                // Held notices of stopped actors: try the peer again without waiting for a send.
                () = retry => true,
                _ = self.shutdown.changed() => false,
            };
            if !woken || *self.shutdown.borrow() {
                break;
            }
            if let Some(reason) = self.link.down_reason() {
                self.link.refuse(&mut batch, &reason);
                continue;
            }
            let opened_at = Instant::now();
            let (end, opened) = self.session(&mut batch).await;
            if opened && opened_at.elapsed() >= config.reconnect_backoff_max {
                // The peer held up a while: the next failure starts the backoff afresh. A
                // peer that answers and drops at once keeps backing off.
                backoff = config.reconnect_backoff_min;
            }
            match end {
                End::Shutdown => break,
                End::Broken(reason) => {
                    tracing::warn!(peer = %self.link.peer, %reason, "remote link lost");
                    self.link.refuse(&mut batch, &reason);
                    self.link.fail_all(&reason);
                    let until = Instant::now()
                        .checked_add(backoff)
                        .unwrap_or_else(|| Instant::now() + config.reconnect_backoff_min);
                    self.link.set_down(Some((until, reason)));
                    backoff = backoff.saturating_mul(2).min(config.reconnect_backoff_max);
                }
            }
        }
        let mut rest = batch;
        self.queue.close();
        while let Ok(command) = self.queue.try_recv() {
            rest.push(command);
        }
        self.link.refuse(&mut rest, "remoting has stopped");
        self.link.fail_all("remoting has stopped");
    }

    /// Opens the stream and sends frames until it breaks or the node stops; says whether the
    /// stream opened.
    async fn session(&mut self, batch: &mut Vec<Command>) -> (End, bool) {
        let mut opened = false;
        let end = self.exchange(batch, &mut opened).await;
        (end, opened)
    }

    async fn exchange(&mut self, batch: &mut Vec<Command>, opened: &mut bool) -> End {
        let config = self.link.node.config().clone();
        let (frames, outgoing) = mpsc::channel::<ExchangeFrame>(config.frames_in_flight);
        let outgoing = futures_util::stream::unfold(outgoing, |mut outgoing| async move {
            outgoing.recv().await.map(|frame| (frame, outgoing))
        });
        let mut client = self.link.client();
        let answer = tokio::time::timeout(config.connect_timeout, client.exchange(outgoing)).await;
        let mut replies = match answer {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => return End::Broken(status.message().to_owned()),
            Err(_) => return End::Broken(format!("no answer within {:?}", config.connect_timeout)),
        };
        *opened = true;
        self.link.set_down(None);
        self.link.release_held(batch);
        let mut sequence = 0_u64;
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Waiting for room to send never stops the replies being read: a peer that waits
            // for this node to read before it reads would otherwise wait forever.
            tokio::select! {
                permit = frames.reserve(), if !batch.is_empty() => {
                    let Ok(permit) = permit else {
                        return End::Broken("the stream closed".into());
                    };
                    sequence += 1;
                    let (frame, carried) = self.link.frame(sequence, batch);
                    // Recorded before it leaves, so that its acknowledgement finds it.
                    self.link
                        .state
                        .unacked
                        .lock()
                        .push_back((sequence, carried));
                    permit.send(frame);
                }
                received = self.queue.recv_many(batch, config.max_batch), if batch.is_empty() => {
                    self.link.taken(received);
                    if received == 0 {
                        return End::Shutdown;
                    }
                }
                reply = replies.next() => match reply {
                    Some(Ok(reply)) => self.link.received(reply),
                    Some(Err(status)) => return End::Broken(status.message().to_owned()),
                    None => return End::Broken("the peer closed the stream".into()),
                },
                _ = sweep.tick() => self.link.sweep(),
                _ = self.shutdown.changed() => return End::Shutdown,
            }
        }
    }
}

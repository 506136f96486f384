//! The gRPC service: what a node does with what its peers send.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, Stream, StreamExt};
use rakt_actor::{AnyMessage, DeadLetterReason, Pid, StopError};
use rakt_proto::v1::{
    ActorRef, AskRequest, AskResponse, ExchangeFrame, ExchangeReply, IndexedError, LookupRequest,
    LookupResponse, ReinstateRequest, ReinstateResponse, RemoteEnvelope, RemoteReply,
    RestartRequest, RestartResponse, SpawnRequest, SpawnResponse, StopRequest, StopResponse,
    TellRequest, TellResponse, TypedPayload, WatchNotice, WatchRequest, remote_error::Code,
    remote_reply, spawn_response,
};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use crate::error::{DecodeError, RemoteError};
use crate::node::Node;
use crate::proto::remote_service_server::RemoteService;
use crate::wire;

/// Senders remembered per stream, so a busy stream parses each sender's address once.
const SENDER_CACHE: usize = 1024;

pub(crate) struct Server {
    node: Arc<Node>,
}

impl Server {
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

/// A gRPC status for a failed stop, restart or reinstate, and back.
fn stop_error_to_status(error: &StopError) -> Status {
    match error {
        StopError::NotRunning { .. } | StopError::NotFound { .. } => {
            Status::not_found(error.to_string())
        }
        StopError::Timeout { .. } => Status::deadline_exceeded(error.to_string()),
        StopError::NotSuspended { .. } => Status::failed_precondition(error.to_string()),
        StopError::RestartFailed { .. } => Status::aborted(error.to_string()),
        _ => Status::internal(error.to_string()),
    }
}

pub(crate) fn status_to_stop_error(status: Status, name: &str, peer: &str) -> StopError {
    let name = name.to_owned();
    match status.code() {
        tonic::Code::NotFound => StopError::NotRunning { name },
        tonic::Code::FailedPrecondition => StopError::NotSuspended { name },
        tonic::Code::Aborted => StopError::RestartFailed {
            name,
            error: status.message().to_owned(),
        },
        tonic::Code::Unavailable => StopError::Unreachable {
            node: peer.to_owned(),
            reason: status.message().to_owned(),
        },
        // The node answered, and failed the request: a timeout of the stop there, or
        // anything else.
        _ => StopError::Refused {
            node: peer.to_owned(),
            name,
            reason: status.message().to_owned(),
        },
    }
}

/// An envelope turned into what the local actor gets: the receiver, the message and its
/// sender; or the refusal to send back.
struct Inbound {
    receiver: Pid,
    message: Box<dyn AnyMessage>,
    sender: Option<Pid>,
    /// The span that sent it, on the sending node.
    #[cfg(feature = "opentelemetry")]
    parent: Option<rakt_actor::remote::TraceParent>,
}

impl Inbound {
    /// Delivers it as a tell; an undeliverable message is already a dead letter.
    async fn tell(self) -> Result<(), rakt_actor::SendError> {
        #[cfg(feature = "opentelemetry")]
        if let Some(parent) = self.parent {
            return self
                .receiver
                .tell_any_traced(self.message, self.sender.as_ref(), parent)
                .await;
        }
        self.receiver
            .tell_any(self.message, self.sender.as_ref())
            .await
    }
}

/// One ask in progress on this node: its correlation id and its outcome.
type AskInFlight = Pin<Box<dyn Future<Output = RemoteReply> + Send>>;

impl Server {
    /// Resolves an envelope's receiver, message and sender. A refusal is already counted as a
    /// dead letter.
    ///
    /// The checks run in this order: a sender that names no node, a payload over
    /// `max_message_size` (both `INVALID_ARGUMENT`), a type this node does not know or a
    /// payload that does not decode, and a receiver that does not exist.
    fn open(
        &self,
        envelope: RemoteEnvelope,
        names: &[String],
        senders: &mut HashMap<String, Pid>,
    ) -> Result<Inbound, rakt_proto::v1::RemoteError> {
        let system = self.node.system();
        let sender = match &envelope.sender {
            None => None,
            Some(sender) => match self.sender(sender, senders) {
                Ok(sender) => sender,
                Err(reason) => {
                    let detail = format!("the sender {:?} names no node: {reason}", sender.address);
                    return Err(self.refuse(&envelope, names, None, Code::InvalidArgument, detail));
                }
            },
        };
        let (Some(receiver), Some(type_name)) = (
            named(&envelope.receiver, envelope.receiver_ref, names),
            named(&envelope.type_name, envelope.type_ref, names),
        ) else {
            let detail = format!(
                "the envelope refers to names {} and {} of a frame of {} names",
                envelope.receiver_ref,
                envelope.type_ref,
                names.len()
            );
            return Err(self.refuse(&envelope, names, sender.as_ref(), Code::Malformed, detail));
        };
        let limit = self.node.config().max_message_size;
        if envelope.payload.len() > limit {
            let detail = format!(
                "a {type_name} of {} bytes is over the limit of {limit} bytes",
                envelope.payload.len()
            );
            return Err(self.refuse(
                &envelope,
                names,
                sender.as_ref(),
                Code::InvalidArgument,
                detail,
            ));
        }
        let message = match self.node.registry().decode(type_name, &envelope.payload) {
            Ok(message) => message,
            Err(error) => {
                let (code, reason) = match &error {
                    DecodeError::UnknownType { type_name } => {
                        (Code::UnknownType, type_name.clone())
                    }
                    other => (Code::Malformed, other.to_string()),
                };
                return Err(self.refuse(&envelope, names, sender.as_ref(), code, reason));
            }
        };
        match system.local_actor(receiver) {
            Some(receiver) => Ok(Inbound {
                receiver,
                message,
                sender,
                #[cfg(feature = "opentelemetry")]
                parent: crate::trace::extract(&envelope.trace_context),
            }),
            None => {
                system.report_dead_letter(
                    receiver,
                    message,
                    sender.as_ref(),
                    DeadLetterReason::UnknownActor,
                );
                Err(wire::refusal(Code::NotFound, receiver, ""))
            }
        }
    }

    /// Refuses an envelope before decoding it: a dead letter that keeps the payload as it
    /// came (as `google.protobuf.Any`), and the refusal for the wire.
    fn refuse(
        &self,
        envelope: &RemoteEnvelope,
        names: &[String],
        sender: Option<&Pid>,
        code: Code,
        detail: String,
    ) -> rakt_proto::v1::RemoteError {
        let receiver = named(&envelope.receiver, envelope.receiver_ref, names).unwrap_or_default();
        let type_name = named(&envelope.type_name, envelope.type_ref, names).unwrap_or_default();
        let raw = prost_types_any(type_name, &envelope.payload);
        self.node
            .system()
            .report_dead_letter(receiver, raw, sender, DeadLetterReason::Refused);
        wire::refusal(code, receiver, detail)
    }

    /// The sender of an envelope as a remote `Pid`, or why its address names no node.
    ///
    /// An empty address stands for no sender, as an absent one does. A node this one cannot
    /// keep a link to (beyond `max_peers`, or while remoting stops) gives no sender either:
    /// the message is still delivered, without one.
    fn sender(
        &self,
        sender: &ActorRef,
        senders: &mut HashMap<String, Pid>,
    ) -> Result<Option<Pid>, String> {
        if sender.address.is_empty() {
            return Ok(None);
        }
        if let Some(pid) = senders.get(&sender.address) {
            if pid.id() == sender.id {
                return Ok(Some(pid.clone()));
            }
        }
        let address = sender
            .address
            .parse::<rakt_actor::Address>()
            .map_err(|error| error.to_string())?;
        let pid = match self.node.remote_pid(address, sender.id) {
            Ok(pid) => pid,
            Err(RemoteError::Address(error)) => return Err(error.to_string()),
            Err(_) => return Ok(None),
        };
        if senders.len() >= SENDER_CACHE {
            senders.clear();
        }
        senders.insert(sender.address.clone(), pid.clone());
        Ok(Some(pid))
    }

    /// Delivers one envelope of a stream: a tell (correlation id zero) is queued now; an ask
    /// returns its reply to come.
    async fn deliver(
        &self,
        envelope: RemoteEnvelope,
        names: &[String],
        senders: &mut HashMap<String, Pid>,
    ) -> Option<AskInFlight> {
        if envelope.correlation_id != 0 {
            let correlation_id = envelope.correlation_id;
            return Some(self.start_ask(envelope, correlation_id, names, senders));
        }
        if let Ok(inbound) = self.open(envelope, names, senders) {
            // An undeliverable tell is already a dead letter on this node.
            let _ = inbound.tell().await;
        }
        None
    }

    /// Queues the question of an ask now, and returns its reply to come under
    /// `correlation_id`, which the unary `Ask` numbers from zero.
    fn start_ask(
        &self,
        envelope: RemoteEnvelope,
        correlation_id: u64,
        names: &[String],
        senders: &mut HashMap<String, Pid>,
    ) -> AskInFlight {
        let timeout_ms = envelope.timeout_ms;
        let inbound = match self.open(envelope, names, senders) {
            Ok(inbound) => inbound,
            Err(error) => {
                return Box::pin(std::future::ready(RemoteReply {
                    correlation_id,
                    outcome: Some(remote_reply::Outcome::Error(error)),
                }));
            }
        };
        let limit = self.node.config().max_message_size;
        let mut reply: AskInFlight = Box::pin(ask(inbound, correlation_id, timeout_ms, limit));
        // Polled once now, so the question is queued before any message after it in the frame:
        // an ask and a tell to one actor arrive in the order they were sent.
        match (&mut reply).now_or_never() {
            Some(done) => Box::pin(std::future::ready(done)),
            None => reply,
        }
    }

    /// Starts and ends the watches carried by a frame, before its envelopes.
    fn watches(&self, frame: &mut ExchangeFrame, senders: &mut HashMap<String, Pid>) {
        for change in frame.watches.drain(..) {
            // A watch changes nothing for a watcher that names no node; no reply carries it.
            let Some(watcher) = change
                .watcher
                .as_ref()
                .and_then(|watcher| self.sender(watcher, senders).ok().flatten())
            else {
                continue;
            };
            match self.node.system().local_actor(&change.target) {
                Some(target) if change.watch => watcher.watch(&target),
                Some(target) => watcher.unwatch(&target),
                // Watching an actor that does not exist: it is as good as stopped.
                None if change.watch => {
                    let system = self.node.system();
                    if let (Some((host, port)), Some(link)) = (
                        system.location(),
                        self.node.existing_link(&watcher.address()),
                    ) {
                        let address =
                            rakt_actor::Address::remote(system.name(), host, port, change.target);
                        let target = ActorRef {
                            address: address.to_string(),
                            id: 0,
                        };
                        link.notify_terminated(&watcher, target);
                    }
                }
                None => {}
            }
        }
    }

    /// Tells local watchers that the peer's actors named by a frame's terminations stopped.
    /// Applied after the frame's envelopes: a message an actor sent just before it stopped
    /// reaches its watcher before the notice, as between local actors.
    fn terminations(&self, frame: &mut ExchangeFrame) {
        for termination in frame.terminations.drain(..) {
            let Some(target) = termination.target else {
                continue;
            };
            let Ok(address) = target.address.parse::<rakt_actor::Address>() else {
                continue;
            };
            if let Some(link) = self.node.existing_link(&address) {
                link.terminated(address.name());
            }
        }
    }
}

/// An ask on behalf of a remote asker, as the reply to send back.
/// A reply over `limit` bytes is replaced by an error for its asker alone.
async fn ask(inbound: Inbound, correlation_id: u64, timeout_ms: u64, limit: usize) -> RemoteReply {
    let timeout = Duration::from_millis(timeout_ms.max(1));
    let name = inbound.receiver.name().to_owned();
    let mut question = inbound.receiver.ask_boxed(inbound.message).timeout(timeout);
    if let Some(sender) = &inbound.sender {
        question = question.sender(sender);
    }
    #[cfg(feature = "opentelemetry")]
    if let Some(parent) = inbound.parent {
        question = question.trace_parent(parent);
    }
    let outcome = match question.await {
        Ok(reply) => {
            let payload = reply.encode_to_vec();
            if payload.len() > limit {
                let detail = format!(
                    "the reply, a {} of {} bytes, is over the limit of {limit} bytes",
                    reply.full_name(),
                    payload.len()
                );
                remote_reply::Outcome::Error(wire::refusal(Code::Internal, &name, detail))
            } else {
                remote_reply::Outcome::Message(TypedPayload {
                    type_name: reply.full_name(),
                    payload: payload.into(),
                })
            }
        }
        Err(error) => remote_reply::Outcome::Error(wire::ask_error_to_wire(&error, &name)),
    };
    RemoteReply {
        correlation_id,
        outcome: Some(outcome),
    }
}

/// The name an envelope gives in `field`, or refers to by `reference` (index plus one) among
/// its frame's `names`; `None` for a reference past them.
fn named<'a>(field: &'a str, reference: u32, names: &'a [String]) -> Option<&'a str> {
    if reference == 0 {
        return Some(field);
    }
    let index = usize::try_from(reference - 1).ok()?;
    names.get(index).map(String::as_str)
}

/// An undecodable message, kept as `google.protobuf.Any` for its dead letter.
fn prost_types_any(type_name: &str, payload: &[u8]) -> Box<dyn AnyMessage> {
    Box::new(prost_types::Any {
        type_url: format!("type.googleapis.com/{type_name}"),
        value: payload.to_vec(),
    })
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<ExchangeReply, Status>> + Send>>;

type NoticeStream = Pin<Box<dyn Stream<Item = Result<WatchNotice, Status>> + Send>>;

/// The most actors one `Watch` call may name.
const MAX_WATCHED: usize = 4096;

#[tonic::async_trait]
impl RemoteService for Server {
    type ExchangeStream = ReplyStream;
    type WatchStream = NoticeStream;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let names = request.into_inner().names;
        if names.len() > MAX_WATCHED {
            return Err(Status::invalid_argument(format!(
                "a watch names at most {MAX_WATCHED} actors, not {}",
                names.len()
            )));
        }
        let system = self.node.system();
        let (notices, outgoing) = mpsc::channel(names.len().max(1));
        let mut stops = FuturesUnordered::new();
        for name in names {
            match system.local_actor(&name) {
                Some(pid) => stops.push(
                    async move {
                        // A local actor: waiting fails only for one that is already gone.
                        let _ = pid.wait_stopped().await;
                        WatchNotice {
                            actor: Some(wire::actor_ref(&pid)),
                            reason: String::new(),
                        }
                    }
                    .boxed(),
                ),
                None => {
                    let address = match system.location() {
                        Some((host, port)) => {
                            rakt_actor::Address::remote(system.name(), host, port, name.as_str())
                                .to_string()
                        }
                        None => name.clone(),
                    };
                    let notice = WatchNotice {
                        actor: Some(ActorRef { address, id: 0 }),
                        reason: format!("no actor named {name:?}"),
                    };
                    // The channel has room for one notice per name.
                    let _ = notices.try_send(Ok(notice));
                }
            }
        }
        let mut shutdown = self.node.shutdown_signal();
        self.node.runtime().spawn(async move {
            // Ends, and so ends the stream, once every watched actor has stopped.
            while !stops.is_empty() {
                tokio::select! {
                    Some(notice) = stops.next() => {
                        if notices.send(Ok(notice)).await.is_err() {
                            break;
                        }
                    }
                    // The client went away, or the node stops: the watch ends.
                    () = notices.closed() => break,
                    _ = async { shutdown.wait_for(|stop| *stop).await.map(|_| ()) } => break,
                }
            }
        });
        let outgoing = futures_util::stream::unfold(outgoing, |mut outgoing| async move {
            outgoing.recv().await.map(|notice| (notice, outgoing))
        });
        Ok(Response::new(Box::pin(outgoing)))
    }

    async fn exchange(
        &self,
        request: Request<tonic::Streaming<ExchangeFrame>>,
    ) -> Result<Response<Self::ExchangeStream>, Status> {
        let inbound = request.into_inner();
        let (replies, outgoing) = mpsc::channel(self.node.config().frames_in_flight);
        let server = Server::new(self.node.clone());
        self.node
            .runtime()
            .spawn(server.serve_exchange(inbound, replies));
        let outgoing = futures_util::stream::unfold(outgoing, |mut outgoing| async move {
            outgoing.recv().await.map(|reply| (reply, outgoing))
        });
        Ok(Response::new(Box::pin(outgoing)))
    }

    async fn tell(&self, request: Request<TellRequest>) -> Result<Response<TellResponse>, Status> {
        let mut senders = HashMap::new();
        let mut refused = Vec::new();
        for (index, envelope) in request.into_inner().envelopes.into_iter().enumerate() {
            match self.open(envelope, &[], &mut senders) {
                Ok(inbound) => {
                    let receiver = inbound.receiver.clone();
                    if let Err(error) = inbound.tell().await {
                        let error = wire::ask_error_to_wire(&error.into(), receiver.name());
                        refused.push(IndexedError {
                            index: index_of(index),
                            error: Some(error),
                        });
                    }
                }
                Err(error) => refused.push(IndexedError {
                    index: index_of(index),
                    error: Some(error),
                }),
            }
        }
        Ok(Response::new(TellResponse { refused }))
    }

    async fn ask(&self, request: Request<AskRequest>) -> Result<Response<AskResponse>, Status> {
        let mut senders = HashMap::new();
        let mut pending = Vec::new();
        for (index, envelope) in request.into_inner().envelopes.into_iter().enumerate() {
            let correlation_id = u64::from(index_of(index));
            if envelope.timeout_ms == 0 {
                let error = wire::refusal(
                    Code::InvalidArgument,
                    &envelope.receiver,
                    "an ask needs a timeout_ms",
                );
                pending.push(Box::pin(std::future::ready(RemoteReply {
                    correlation_id,
                    outcome: Some(remote_reply::Outcome::Error(error)),
                })) as AskInFlight);
                continue;
            }
            // Numbered from zero, so not through `deliver`, for which zero means a tell.
            pending.push(self.start_ask(envelope, correlation_id, &[], &mut senders));
        }
        let replies = futures_util::future::join_all(pending).await;
        Ok(Response::new(AskResponse { replies }))
    }

    async fn lookup(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupResponse>, Status> {
        let name = request.into_inner().name;
        let actor = self
            .node
            .system()
            .local_actor(&name)
            .map(|pid| wire::actor_ref(&pid));
        Ok(Response::new(LookupResponse { actor }))
    }

    async fn stop(&self, request: Request<StopRequest>) -> Result<Response<StopResponse>, Status> {
        let request = request.into_inner();
        let pid = self.local(&request.name)?;
        let outcome = if request.kill {
            pid.kill().await
        } else {
            pid.stop().await
        };
        outcome.map_err(|error| stop_error_to_status(&error))?;
        Ok(Response::new(StopResponse {}))
    }

    async fn restart(
        &self,
        request: Request<RestartRequest>,
    ) -> Result<Response<RestartResponse>, Status> {
        let pid = self.local(&request.into_inner().name)?;
        pid.restart()
            .await
            .map_err(|error| stop_error_to_status(&error))?;
        Ok(Response::new(RestartResponse {}))
    }

    async fn reinstate(
        &self,
        request: Request<ReinstateRequest>,
    ) -> Result<Response<ReinstateResponse>, Status> {
        let pid = self.local(&request.into_inner().name)?;
        pid.reinstate()
            .map_err(|error| stop_error_to_status(&error))?;
        Ok(Response::new(ReinstateResponse {}))
    }

    async fn spawn(
        &self,
        request: Request<SpawnRequest>,
    ) -> Result<Response<SpawnResponse>, Status> {
        let outcome = match self
            .node
            .kinds()
            .spawn(self.node.system(), request.into_inner())
            .await
        {
            Ok(pid) => spawn_response::Outcome::Actor(wire::actor_ref(&pid)),
            Err(failure) => spawn_response::Outcome::Failure(failure),
        };
        Ok(Response::new(SpawnResponse {
            outcome: Some(outcome),
        }))
    }
}

fn index_of(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

impl Server {
    fn local(&self, name: &str) -> Result<Pid, Status> {
        self.node
            .system()
            .local_actor(name)
            .ok_or_else(|| Status::not_found(format!("no actor named {name:?}")))
    }

    /// Serves one `Exchange` stream until the peer closes it or the reply side goes away.
    async fn serve_exchange(
        self,
        mut inbound: tonic::Streaming<ExchangeFrame>,
        replies: mpsc::Sender<Result<ExchangeReply, Status>>,
    ) {
        let mut senders = HashMap::new();
        let mut asks: FuturesUnordered<AskInFlight> = FuturesUnordered::new();
        let mut shutdown = self.node.shutdown_signal();
        let limit = self.node.config().max_message_size;
        // Replies waiting for room on the stream. While it is full, no frame is read and no
        // reply taken, so the peer's pace bounds it; sending never stops the reading otherwise,
        // so two nodes waiting on each other's reads cannot stall.
        let mut outbox = VecDeque::new();
        // Why the peer's frames stopped decoding (too large, truncated, garbage): no frame is
        // read after it, and it ends the stream as its status once the replies queued before
        // it have gone, so the peer learns why instead of seeing a clean end.
        let mut failed: Option<Status> = None;
        loop {
            let reading = failed.is_none();
            let room = reading && outbox.len() < OUTBOX;
            tokio::select! {
                // Ending the reply stream ends the peer's session, which closes the stream:
                // a graceful server shutdown then has nothing left to wait for.
                _ = async { shutdown.wait_for(|stop| *stop).await.map(|_| ()) } => break,
                permit = replies.reserve(), if !outbox.is_empty() || !reading => {
                    let Ok(permit) = permit else {
                        break;
                    };
                    if let Some(reply) = outbox.pop_front() {
                        permit.send(Ok(reply));
                    } else {
                        if let Some(status) = failed.take() {
                            permit.send(Err(status));
                        }
                        break;
                    }
                }
                frame = inbound.message(), if room => {
                    let mut frame = match frame {
                        Ok(Some(frame)) => frame,
                        // The peer closed the stream: it ends, and the node serves on.
                        Ok(None) => break,
                        Err(status) => {
                            tracing::debug!(%status, "remote stream ended with an error");
                            failed = Some(status);
                            continue;
                        }
                    };
                    self.watches(&mut frame, &mut senders);
                    let names = std::mem::take(&mut frame.names);
                    for envelope in frame.envelopes.drain(..) {
                        if let Some(reply) = self.deliver(envelope, &names, &mut senders).await {
                            asks.push(reply);
                        }
                    }
                    self.terminations(&mut frame);
                    let mut done = Vec::new();
                    while let Some(Some(reply)) = asks.next().now_or_never() {
                        done.push(reply);
                    }
                    pack(&mut outbox, frame.sequence, done, limit);
                }
                Some(first) = asks.next(), if room && !asks.is_empty() => {
                    let mut done = vec![first];
                    while let Some(Some(reply)) = asks.next().now_or_never() {
                        done.push(reply);
                    }
                    pack(&mut outbox, 0, done, limit);
                }
            }
        }
    }
}

/// Replies held for a stream before the server stops reading it.
const OUTBOX: usize = 64;

/// Queues `done` as frames of at most `limit` bytes of replies (a single reply may reach the
/// limit); the first frame acknowledges `acknowledged`, and is sent even with no reply.
fn pack(
    outbox: &mut VecDeque<ExchangeReply>,
    acknowledged: u64,
    done: Vec<RemoteReply>,
    limit: usize,
) {
    let mut current = ExchangeReply {
        acknowledged,
        replies: Vec::new(),
    };
    let mut bytes = 0;
    for reply in done {
        let size = prost::Message::encoded_len(&reply);
        if !current.replies.is_empty() && bytes + size > limit {
            outbox.push_back(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.replies.push(reply);
    }
    outbox.push_back(current);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(bytes: usize) -> RemoteReply {
        RemoteReply {
            correlation_id: 1,
            outcome: Some(remote_reply::Outcome::Message(TypedPayload {
                type_name: "t".into(),
                payload: vec![0; bytes].into(),
            })),
        }
    }

    #[test]
    fn names_come_from_the_field_or_the_frame_and_bad_references_are_none() {
        let names = vec!["echo".to_owned(), "rakt.v1.StatusFailure".to_owned()];
        assert_eq!(named("inline", 0, &names), Some("inline"));
        assert_eq!(named("", 1, &names), Some("echo"));
        assert_eq!(named("ignored", 2, &names), Some("rakt.v1.StatusFailure"));
        assert_eq!(named("", 3, &names), None);
        assert_eq!(named("", u32::MAX, &names), None);
        assert_eq!(named("", 1, &[]), None);
    }

    #[test]
    fn replies_are_packed_within_the_limit_and_acknowledge_once() {
        let mut outbox = VecDeque::new();
        pack(
            &mut outbox,
            7,
            vec![reply(600), reply(600), reply(100)],
            1000,
        );
        let frames: Vec<_> = outbox.into_iter().collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].acknowledged, 7);
        assert_eq!(frames[0].replies.len(), 1);
        assert_eq!(frames[1].acknowledged, 0);
        assert_eq!(frames[1].replies.len(), 2);

        let mut outbox = VecDeque::new();
        pack(&mut outbox, 3, Vec::new(), 1000);
        assert_eq!(
            outbox.len(),
            1,
            "an acknowledgement goes out without replies"
        );
        assert_eq!(outbox[0].acknowledged, 3);
    }
}

//! Bad input, from the decoders up to a live node: random, mutated, truncated, flagged and
//! oversized frames, malformed senders and unknown types get typed refusals, and the node goes
//! on answering the next valid request and serving its other peers.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes};
use http_body_util::BodyExt;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use prost::{Message as _, Name as _};
use rakt_actor::{Address, AskError, Pid, SendError};
use rakt_proto::v1::{
    ActorRef, AskRequest, AskResponse, DeadLetter, ExchangeFrame, ExchangeReply, RemoteEnvelope,
    RemoteReply, StatusFailure as Text, TellRequest, TellResponse, Terminated, Termination,
    WatchChange, remote_error::Code, remote_reply::Outcome,
};
use rakt_remote::{DecodeError, TypeRegistry};
use tokio::sync::mpsc;
use tonic::client::Grpc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::Service as _;
use tonic::codegen::http::{self, uri::PathAndQuery};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use support::{Node, WAIT, text};

/// The `max_message_size` of the node under test.
const LIMIT: usize = 64 * 1024;

/// Cases per property of the decoders, which are cheap.
const DECODER_CASES: u32 = 512;

/// Cases per property of the live node, each a round trip or two over loopback.
const LIVE_CASES: u32 = 48;

// ---------------------------------------------------------------------------------------------
// Inputs: well-formed messages of every kind a node receives, and ways to damage their bytes.

/// A message type only the tests' registry knows, with the field kinds a decoder can trip on:
/// text, varints, bytes, a nested message and a packed repeated field.
#[derive(Clone, PartialEq, prost::Message)]
struct Order {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(uint64, tag = "2")]
    quantity: u64,
    #[prost(bytes = "vec", tag = "3")]
    note: Vec<u8>,
    #[prost(message, optional, tag = "4")]
    buyer: Option<ActorRef>,
    #[prost(sint32, repeated, tag = "5")]
    lines: Vec<i32>,
}

impl prost::Name for Order {
    const NAME: &'static str = "Order";
    const PACKAGE: &'static str = "shop.v1";
}

/// A message type the node under test never registered.
#[derive(Clone, PartialEq, prost::Message)]
struct Secret {
    #[prost(string, tag = "1")]
    code: String,
}

impl prost::Name for Secret {
    const NAME: &'static str = "Secret";
    const PACKAGE: &'static str = "spy.v1";
}

/// One change to an encoding.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flips one bit; `at` wraps around the length.
    Flip { at: usize, bit: u8 },
    /// Keeps only the first `at` bytes, modulo the length plus one.
    Truncate { at: usize },
    /// Replaces one byte.
    Overwrite { at: usize, byte: u8 },
    /// Adds junk at the end.
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0..8_u8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Overwrite { at, byte }),
        vec(any::<u8>(), 1..16).prop_map(Mutation::Append),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        match mutation {
            Mutation::Flip { at, bit } if !bytes.is_empty() => {
                let at = at % bytes.len();
                bytes[at] ^= 1 << (bit % 8);
            }
            Mutation::Overwrite { at, byte } if !bytes.is_empty() => {
                let at = at % bytes.len();
                bytes[at] = *byte;
            }
            Mutation::Truncate { at } => bytes.truncate(at % (bytes.len() + 1)),
            Mutation::Append(junk) => bytes.extend_from_slice(junk),
            Mutation::Flip { .. } | Mutation::Overwrite { .. } => {}
        }
    }
    bytes
}

/// Sender addresses a peer might put in an envelope: absent, empty, valid, or anything at all.
fn sender(known: Vec<Option<String>>) -> BoxedStrategy<Option<ActorRef>> {
    prop_oneof![
        3 => prop::sample::select(known),
        1 => "[ -~]{0,24}".prop_map(Some),
    ]
    .prop_map(|address| address.map(|address| ActorRef { address, id: 7 }))
    .boxed()
}

/// Envelopes as a peer might send them, right or wrong: receivers, types, payloads and senders
/// drawn from what the node knows and what it does not.
fn envelope(senders: Vec<Option<String>>) -> BoxedStrategy<RemoteEnvelope> {
    let receiver = prop_oneof![
        3 => Just("echo".to_owned()),
        1 => Just("nobody".to_owned()),
        1 => Just(String::new()),
        1 => "[a-z]{1,6}",
    ];
    let type_name = prop_oneof![
        4 => Just(Text::full_name()),
        1 => Just(DeadLetter::full_name()),
        1 => Just(Secret::full_name()),
        1 => "[a-z.]{0,16}",
    ];
    let payload = prop_oneof![
        3 => "[ -~]{0,32}".prop_map(|s| text(&s).encode_to_vec()),
        1 => vec(any::<u8>(), 0..48),
    ];
    let correlation_id = prop_oneof![Just(0_u64), 1..1000_u64];
    let timeout_ms = prop_oneof![Just(0_u64), 1..5000_u64, any::<u64>()];
    // A reference to a name of the frame, or none (the name is in the envelope); past the
    // frame's names sometimes.
    let reference = || prop_oneof![3 => Just(0_u32), 1 => 1..5_u32];
    (
        (receiver, reference()),
        sender(senders),
        (type_name, reference()),
        payload,
        correlation_id,
        timeout_ms,
    )
        .prop_map(
            |(
                (receiver, receiver_ref),
                sender,
                (type_name, type_ref),
                payload,
                correlation_id,
                timeout_ms,
            )| RemoteEnvelope {
                receiver,
                sender,
                type_name,
                payload: payload.into(),
                correlation_id,
                timeout_ms,
                receiver_ref,
                type_ref,
                ..RemoteEnvelope::default()
            },
        )
        .boxed()
}

/// Frames of envelopes, watches and terminations.
fn frame(senders: Vec<Option<String>>) -> BoxedStrategy<ExchangeFrame> {
    let target = prop_oneof![Just("echo".to_owned()), "[a-z]{0,6}"];
    let watch =
        (sender(senders.clone()), target, any::<bool>()).prop_map(|(watcher, target, watch)| {
            WatchChange {
                watcher,
                target,
                watch,
            }
        });
    let termination = (sender(senders.clone()), "[a-z]{0,6}")
        .prop_map(|(target, watcher)| Termination { target, watcher });
    let name = prop_oneof![
        Just("echo".to_owned()),
        Just(Text::full_name()),
        "[a-z.]{0,8}"
    ];
    (
        any::<u64>(),
        vec(envelope(senders), 0..4),
        vec(watch, 0..2),
        vec(termination, 0..2),
        vec(name, 0..4),
    )
        .prop_map(
            |(sequence, envelopes, watches, terminations, names)| ExchangeFrame {
                sequence,
                envelopes,
                watches,
                terminations,
                names,
            },
        )
        .boxed()
}

/// Sender addresses for the decoder properties, where no node is involved.
fn any_senders() -> Vec<Option<String>> {
    vec![
        None,
        Some(String::new()),
        Some("rakt://a@127.0.0.1:4000/b".into()),
    ]
}

// ---------------------------------------------------------------------------------------------
// The decoders.

fn test_registry() -> TypeRegistry {
    let mut registry = TypeRegistry::new();
    registry.register::<Order>();
    registry
}

/// What the registry makes of `bytes` as `M` agrees with prost: the same value, or
/// `Malformed` naming the type.
fn registry_agrees<M>(registry: &TypeRegistry, bytes: &[u8]) -> Result<(), TestCaseError>
where
    M: rakt_actor::Message + PartialEq,
{
    let name = M::full_name();
    match (registry.decode(&name, bytes), M::decode(bytes)) {
        (Ok(decoded), Ok(direct)) => prop_assert_eq!(decoded.downcast_ref::<M>(), Some(&direct)),
        (Err(DecodeError::Malformed { type_name, .. }), Err(_)) => {
            prop_assert_eq!(type_name, name);
        }
        (by_registry, by_prost) => {
            prop_assert!(false, "registry {by_registry:?}, prost {by_prost:?}");
        }
    }
    Ok(())
}

/// A value that decodes encodes back to bytes that decode to the same value.
fn decoding_settles<M>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    M: prost::Message + Default + PartialEq + std::fmt::Debug,
{
    if let Ok(decoded) = M::decode(bytes) {
        let again = M::decode(decoded.encode_to_vec().as_slice());
        prop_assert_eq!(again.ok(), Some(decoded));
    }
    Ok(())
}

/// Every decoder a node runs on what arrives: none panics, and each gives a typed answer.
fn decode_everything(bytes: &[u8]) -> Result<(), TestCaseError> {
    decoding_settles::<ExchangeFrame>(bytes)?;
    decoding_settles::<ExchangeReply>(bytes)?;
    decoding_settles::<RemoteEnvelope>(bytes)?;
    decoding_settles::<TellRequest>(bytes)?;
    decoding_settles::<TellResponse>(bytes)?;
    decoding_settles::<AskRequest>(bytes)?;
    decoding_settles::<AskResponse>(bytes)?;
    let registry = test_registry();
    registry_agrees::<Text>(&registry, bytes)?;
    registry_agrees::<DeadLetter>(&registry, bytes)?;
    registry_agrees::<Terminated>(&registry, bytes)?;
    registry_agrees::<Order>(&registry, bytes)?;
    for name in [Secret::full_name().as_str(), "", "rakt.v1.statusfailure"] {
        let decoded = registry.decode(name, bytes);
        prop_assert!(
            matches!(&decoded, Err(DecodeError::UnknownType { type_name }) if type_name == name),
            "{name:?} gave {decoded:?}"
        );
    }
    Ok(())
}

fn order() -> impl Strategy<Value = Order> {
    (
        "\\PC{0,16}",
        any::<u64>(),
        vec(any::<u8>(), 0..32),
        prop::option::of(("[ -~]{0,16}", any::<u64>())),
        vec(any::<i32>(), 0..8),
    )
        .prop_map(|(id, quantity, note, buyer, lines)| Order {
            id,
            quantity,
            note,
            buyer: buyer.map(|(address, id)| ActorRef { address, id }),
            lines,
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: DECODER_CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_get_typed_answers_from_every_decoder(bytes in vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes)?;
    }

    #[test]
    fn mutated_frames_get_typed_answers_from_every_decoder(
        frame in frame(any_senders()),
        mutations in vec(mutation(), 1..4),
    ) {
        decode_everything(&mutate(frame.encode_to_vec(), &mutations))?;
    }

    #[test]
    fn mutated_messages_get_typed_answers_from_the_registry(
        order in order(),
        mutations in vec(mutation(), 1..4),
    ) {
        decode_everything(&mutate(order.encode_to_vec(), &mutations))?;
        let envelope = RemoteEnvelope {
            receiver: "shop".into(),
            type_name: Order::full_name(),
            payload: order.encode_to_vec().into(),
            ..RemoteEnvelope::default()
        };
        decode_everything(&mutate(envelope.encode_to_vec(), &mutations))?;
    }

    #[test]
    fn valid_frames_and_messages_round_trip(frame in frame(any_senders()), order in order()) {
        let bytes = frame.encode_to_vec();
        prop_assert_eq!(ExchangeFrame::decode(bytes.as_slice()).ok(), Some(frame.clone()));
        let registry = test_registry();
        let decoded = registry.decode(&Order::full_name(), &order.encode_to_vec());
        let decoded = decoded.map_err(|error| TestCaseError::fail(error.to_string()))?;
        prop_assert_eq!(decoded.downcast_ref::<Order>(), Some(&order));
        // Every payload of a registered type comes back as the value that was encoded.
        for envelope in &frame.envelopes {
            if let Ok(sent) = Text::decode(envelope.payload.as_ref()) {
                let decoded = registry.decode(&Text::full_name(), &sent.encode_to_vec());
                let decoded = decoded.map_err(|error| TestCaseError::fail(error.to_string()))?;
                prop_assert_eq!(decoded.downcast_ref::<Text>(), Some(&sent));
            }
        }
    }

    #[test]
    fn unregistered_names_are_unknown_types(name in "[a-zA-Z0-9._]{0,32}", bytes in vec(any::<u8>(), 0..64)) {
        let registry = test_registry();
        prop_assume!(!registry.contains(&name));
        let decoded = registry.decode(&name, &bytes);
        prop_assert!(
            matches!(&decoded, Err(DecodeError::UnknownType { type_name }) if *type_name == name),
            "{decoded:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A live node, reached below the link: raw gRPC messages and raw HTTP/2 bodies.

/// The calls of `RemoteService` that take what a peer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Tell,
    Ask,
    Exchange,
}

impl Method {
    const ALL: [Method; 3] = [Method::Tell, Method::Ask, Method::Exchange];

    fn path(self) -> &'static str {
        match self {
            Method::Tell => "/rakt.v1.RemoteService/Tell",
            Method::Ask => "/rakt.v1.RemoteService/Ask",
            Method::Exchange => "/rakt.v1.RemoteService/Exchange",
        }
    }
}

/// A codec that sends and receives gRPC messages as raw bytes, so that a test can put
/// anything inside a correctly framed message.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// A gRPC message as it goes on the wire: the compressed flag, the length it declares, and
/// the bytes that actually follow.
fn grpc_message(flag: u8, declared: u32, bytes: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(5 + bytes.len());
    message.push(flag);
    message.extend_from_slice(&declared.to_be_bytes());
    message.extend_from_slice(bytes);
    message
}

fn whole_message(bytes: &[u8]) -> Vec<u8> {
    let length = u32::try_from(bytes.len()).expect("a small message");
    grpc_message(0, length, bytes)
}

/// The gRPC messages in a response body.
fn split_messages(mut data: Bytes) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    while data.remaining() >= 5 {
        let _flag = data.get_u8();
        let length = usize::try_from(data.get_u32()).expect("fits");
        assert!(
            data.remaining() >= length,
            "a whole message in the response"
        );
        messages.push(data.split_to(length).to_vec());
    }
    messages
}

/// An ask or tell for `receiver`, carrying `message`, with no sender.
fn envelope_to<M: rakt_actor::Message>(receiver: &str, message: &M) -> RemoteEnvelope {
    RemoteEnvelope {
        receiver: receiver.into(),
        type_name: M::full_name(),
        payload: message.encode_to_vec().into(),
        timeout_ms: 2000,
        ..RemoteEnvelope::default()
    }
}

/// What the node should do with one envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// Refused, with this code.
    Refused(Code),
    /// Handed to the receiver.
    Delivered,
}

fn names_a_node(address: &str) -> bool {
    address
        .parse::<Address>()
        .is_ok_and(|address| address.host().is_some() && address.port().is_some())
}

/// How one Exchange stream ended, and what came back on it.
#[derive(Debug)]
struct Exchanged {
    replies: Vec<ExchangeReply>,
    end: Result<(), Status>,
}

/// The node under test, with its echo actor; a second, real node whose link reaches the echo;
/// and a raw gRPC channel to the node under test.
struct Fixture {
    target: Node,
    peer: Node,
    echo_via_peer: Pid,
    channel: Channel,
    registry: TypeRegistry,
}

impl Fixture {
    async fn start() -> Self {
        let target = Node::start("target", |builder| builder.max_message_size(LIMIT)).await;
        target.echo("echo").await;
        let peer = Node::start("peer", |builder| builder).await;
        let echo_address = target.remoting.address_of("echo");
        let echo_via_peer = tokio::time::timeout(WAIT, peer.remoting.lookup(&echo_address))
            .await
            .expect("a lookup in time")
            .expect("reachable")
            .expect("the echo runs");
        let channel = Endpoint::from_shared(format!("http://{}", target.remoting.local_addr()))
            .expect("an endpoint")
            .connect_timeout(WAIT)
            .connect()
            .await
            .expect("connects");
        Self {
            target,
            peer,
            echo_via_peer,
            channel,
            registry: TypeRegistry::new(),
        }
    }

    async fn stop(self) {
        self.peer.stop().await;
        self.target.stop().await;
    }

    /// Senders for generated envelopes: absent, empty (taken as absent), an actor of the peer,
    /// and addresses that name no node.
    fn senders(&self) -> Vec<Option<String>> {
        vec![
            None,
            Some(String::new()),
            Some(self.peer.remoting.address_of("listener").to_string()),
            Some("not an address".into()),
            Some("rakt://peer/listener".into()),
        ]
    }

    /// The node's answer to `envelope`, of a frame that names `names` (none for a unary
    /// call): the same checks as the server, in the same order.
    fn expected(&self, envelope: &RemoteEnvelope, names: &[String]) -> Expected {
        let sender_names_a_node = envelope
            .sender
            .as_ref()
            .is_none_or(|sender| sender.address.is_empty() || names_a_node(&sender.address));
        if !sender_names_a_node {
            return Expected::Refused(Code::InvalidArgument);
        }
        let (Some(receiver), Some(type_name)) = (
            resolve(&envelope.receiver, envelope.receiver_ref, names),
            resolve(&envelope.type_name, envelope.type_ref, names),
        ) else {
            return Expected::Refused(Code::Malformed);
        };
        if envelope.payload.len() > LIMIT {
            return Expected::Refused(Code::InvalidArgument);
        }
        match self.registry.decode(type_name, &envelope.payload) {
            Err(DecodeError::UnknownType { .. }) => Expected::Refused(Code::UnknownType),
            Err(_) => Expected::Refused(Code::Malformed),
            Ok(_) if receiver == "echo" => Expected::Delivered,
            Ok(_) => Expected::Refused(Code::NotFound),
        }
    }

    /// Whether `outcome` is a right answer to the ask in `envelope`, of a frame that names
    /// `names`.
    fn answers(
        &self,
        envelope: &RemoteEnvelope,
        names: &[String],
        outcome: Option<&Outcome>,
    ) -> bool {
        let is_text = resolve(&envelope.type_name, envelope.type_ref, names)
            == Some(Text::full_name().as_str());
        match (self.expected(envelope, names), outcome) {
            (Expected::Refused(code), Some(Outcome::Error(error))) => error.code == code as i32,
            (Expected::Delivered, Some(Outcome::Message(reply))) if is_text => {
                reply.type_name == Text::full_name()
                    && Text::decode(reply.payload.as_ref()).ok()
                        == Text::decode(envelope.payload.as_ref()).ok()
            }
            // The echo answers only `Text`; a short enough timeout may pass first.
            (Expected::Delivered, Some(Outcome::Error(error))) => {
                error.code == Code::Timeout as i32
                    || (!is_text
                        && [Code::NoReply as i32, Code::Unhandled as i32].contains(&error.code))
            }
            _ => false,
        }
    }

    /// A unary call with a raw body; it must end within `WAIT`.
    async fn unary(&self, method: Method, body: Vec<u8>) -> Result<Vec<u8>, Status> {
        let mut grpc = Grpc::new(self.channel.clone());
        let call = async move {
            grpc.ready().await.expect("the channel is ready");
            grpc.unary(
                Request::new(body),
                PathAndQuery::from_static(method.path()),
                Raw,
            )
            .await
        };
        tokio::time::timeout(WAIT, call)
            .await
            .expect("an answer in time")
            .map(tonic::Response::into_inner)
    }

    /// Sends `frames` on one Exchange stream, each as one raw gRPC message, and reads the
    /// replies. With `asks`, the stream is closed once the first frame is acknowledged and
    /// that many ask replies came; without, it stays open until the node ends it, which it
    /// must do within `WAIT`.
    /// Sends `frame`, which carries one ask, on a stream of its own: the frame must be
    /// acknowledged first and the stream end cleanly; returns the ask's answer.
    async fn only_answer(&self, frame: &ExchangeFrame) -> RemoteReply {
        let exchanged = self.exchange(vec![frame.encode_to_vec()], Some(1)).await;
        assert!(exchanged.end.is_ok(), "{:?}", exchanged.end);
        assert_eq!(exchanged.replies[0].acknowledged, frame.sequence);
        let mut answers: Vec<_> = exchanged
            .replies
            .into_iter()
            .flat_map(|reply| reply.replies)
            .collect();
        assert_eq!(answers.len(), 1, "{answers:?}");
        answers.remove(0)
    }

    async fn exchange(&self, frames: Vec<Vec<u8>>, asks: Option<usize>) -> Exchanged {
        tokio::time::timeout(WAIT, self.exchange_unbounded(frames, asks))
            .await
            .expect("the stream ends in time")
    }

    async fn exchange_unbounded(&self, frames: Vec<Vec<u8>>, asks: Option<usize>) -> Exchanged {
        let (requests, queue) = mpsc::unbounded_channel();
        for frame in frames {
            requests.send(frame).expect("queued");
        }
        let mut requests = Some(requests);
        let outgoing = futures_util::stream::unfold(queue, |mut queue| async move {
            queue.recv().await.map(|frame| (frame, queue))
        });
        let mut grpc = Grpc::new(self.channel.clone());
        grpc.ready().await.expect("the channel is ready");
        let response = grpc
            .streaming(
                Request::new(outgoing),
                PathAndQuery::from_static(Method::Exchange.path()),
                Raw,
            )
            .await;
        let mut stream = match response {
            Ok(response) => response.into_inner(),
            Err(status) => {
                return Exchanged {
                    replies: Vec::new(),
                    end: Err(status),
                };
            }
        };
        let mut replies = Vec::new();
        loop {
            let end = match stream.message().await {
                Ok(Some(bytes)) => {
                    let reply = ExchangeReply::decode(bytes.as_slice()).expect("a valid reply");
                    replies.push(reply);
                    let answered: usize = replies.iter().map(|r| r.replies.len()).sum();
                    if asks.is_some_and(|asks| answered >= asks) {
                        // Ending the request ends the stream.
                        requests = None;
                    }
                    continue;
                }
                Ok(None) => Ok(()),
                Err(status) => Err(status),
            };
            drop(requests);
            return Exchanged { replies, end };
        }
    }

    /// Sends `body` as the whole request body of a call, bypassing tonic's framing; returns
    /// the gRPC messages of the response and its status, which must come within `WAIT`.
    async fn raw_call(&self, method: Method, body: Vec<u8>) -> (Vec<Vec<u8>>, Status) {
        tokio::time::timeout(WAIT, self.raw_call_unbounded(method, body))
            .await
            .expect("an answer in time")
    }

    async fn raw_call_unbounded(&self, method: Method, body: Vec<u8>) -> (Vec<Vec<u8>>, Status) {
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(format!(
                "http://{}{}",
                self.target.remoting.local_addr(),
                method.path()
            ))
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .body(tonic::body::Body::new(http_body_util::Full::new(
                Bytes::from(body),
            )))
            .expect("a request");
        let mut channel = self.channel.clone();
        std::future::poll_fn(|cx| channel.poll_ready(cx))
            .await
            .expect("the channel is ready");
        let response = channel.call(request).await.expect("an HTTP response");
        // A status alone comes in the headers.
        if let Some(status) = Status::from_header_map(response.headers()) {
            return (Vec::new(), status);
        }
        match response.into_body().collect().await {
            Ok(collected) => {
                let status = collected
                    .trailers()
                    .and_then(Status::from_header_map)
                    .expect("trailers with a status");
                (split_messages(collected.to_bytes()), status)
            }
            Err(status) => (Vec::new(), status),
        }
    }

    /// The node answers a valid unary ask, and the peer's own stream to it still carries asks.
    async fn assert_serving(&self) {
        let question = text("still serving");
        let request = AskRequest {
            envelopes: vec![envelope_to("echo", &question)],
        };
        let answer = self
            .unary(Method::Ask, request.encode_to_vec())
            .await
            .expect("a valid ask succeeds");
        let response = AskResponse::decode(answer.as_slice()).expect("an AskResponse");
        let [reply] = response.replies.as_slice() else {
            panic!("one reply per envelope: {response:?}");
        };
        assert_eq!(reply.correlation_id, 0, "the envelope's index");
        let Some(Outcome::Message(message)) = &reply.outcome else {
            panic!("a message: {reply:?}");
        };
        assert_eq!(
            Text::decode(message.payload.as_ref()).expect("a Text"),
            question
        );

        let reply: Text = self
            .echo_via_peer
            .ask(text("from the peer"))
            .timeout(WAIT)
            .await
            .expect("the peer's link still reaches the node");
        assert_eq!(reply.error, "from the peer");
    }

    /// Sends `body` on `method` and checks the node's answer against what the body decodes to.
    async fn check(&self, method: Method, body: Vec<u8>) -> Result<(), TestCaseError> {
        match method {
            Method::Tell => {
                let answer = self.unary(method, body.clone()).await;
                let Ok(request) = TellRequest::decode(body.as_slice()) else {
                    let code = answer.err().map(|status| status.code());
                    prop_assert_eq!(code, Some(tonic::Code::Internal));
                    return Ok(());
                };
                let answer = answer.map_err(|status| TestCaseError::fail(status.to_string()))?;
                let response = TellResponse::decode(answer.as_slice())
                    .map_err(|error| TestCaseError::fail(error.to_string()))?;
                let refused: HashMap<u32, i32> = response
                    .refused
                    .iter()
                    .map(|refusal| (refusal.index, refusal.error.as_ref().map_or(0, |e| e.code)))
                    .collect();
                prop_assert_eq!(refused.len(), response.refused.len(), "one refusal each");
                for (index, envelope) in request.envelopes.iter().enumerate() {
                    let index = u32::try_from(index).expect("few");
                    let expected = match self.expected(envelope, &[]) {
                        Expected::Refused(code) => Some(code as i32),
                        Expected::Delivered => None,
                    };
                    prop_assert_eq!(refused.get(&index).copied(), expected, "{:?}", envelope);
                }
                prop_assert!(
                    refused
                        .keys()
                        .all(|&i| (i as usize) < request.envelopes.len())
                );
            }
            Method::Ask => {
                let answer = self.unary(method, body.clone()).await;
                let Ok(request) = AskRequest::decode(body.as_slice()) else {
                    let code = answer.err().map(|status| status.code());
                    prop_assert_eq!(code, Some(tonic::Code::Internal));
                    return Ok(());
                };
                let answer = answer.map_err(|status| TestCaseError::fail(status.to_string()))?;
                let response = AskResponse::decode(answer.as_slice())
                    .map_err(|error| TestCaseError::fail(error.to_string()))?;
                prop_assert_eq!(response.replies.len(), request.envelopes.len());
                for (index, (envelope, reply)) in
                    request.envelopes.iter().zip(&response.replies).enumerate()
                {
                    prop_assert_eq!(reply.correlation_id, index as u64);
                    let right = if envelope.timeout_ms == 0 {
                        matches!(&reply.outcome,
                            Some(Outcome::Error(e)) if e.code == Code::InvalidArgument as i32)
                    } else {
                        self.answers(envelope, &[], reply.outcome.as_ref())
                    };
                    prop_assert!(right, "{:?} got {:?}", envelope, reply);
                }
            }
            Method::Exchange => {
                let frame = ExchangeFrame::decode(body.as_slice()).ok();
                let asks = frame.as_ref().map(|frame| {
                    frame
                        .envelopes
                        .iter()
                        .filter(|envelope| envelope.correlation_id != 0)
                        .count()
                });
                let exchanged = self.exchange(vec![body], asks).await;
                let Some(frame) = frame else {
                    // Not a frame: the stream ends with the decoder's error.
                    let code = exchanged.end.err().map(|status| status.code());
                    prop_assert_eq!(code, Some(tonic::Code::Internal));
                    return Ok(());
                };
                prop_assert!(exchanged.end.is_ok(), "{:?}", exchanged.end);
                let first = exchanged.replies.first().map(|reply| reply.acknowledged);
                prop_assert_eq!(
                    first,
                    Some(frame.sequence),
                    "the frame is acknowledged first"
                );
                let answers: Vec<&RemoteReply> = exchanged
                    .replies
                    .iter()
                    .flat_map(|reply| &reply.replies)
                    .collect();
                prop_assert_eq!(answers.len(), asks.unwrap_or(0));
                for answer in answers {
                    // Any ask of that correlation id may be the one answered.
                    let right = frame
                        .envelopes
                        .iter()
                        .filter(|envelope| envelope.correlation_id == answer.correlation_id)
                        .any(|envelope| {
                            self.answers(envelope, &frame.names, answer.outcome.as_ref())
                        });
                    prop_assert!(right, "{:?} in {:?}", answer, frame);
                }
            }
        }
        Ok(())
    }
}

/// The name an envelope gives inline, or by reference (index plus one) to its frame's names.
fn resolve<'a>(inline: &'a str, reference: u32, names: &'a [String]) -> Option<&'a str> {
    match reference {
        0 => Some(inline),
        _ => names
            .get(usize::try_from(reference - 1).ok()?)
            .map(String::as_str),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Starts a fixture, makes the strategy from it, and runs `check` on each of `LIVE_CASES`
/// cases; after each, the node must still serve. A case that takes longer than a few waits
/// fails, and a failure names the smallest case found.
fn run_live<S, F, Fut>(strategy: impl FnOnce(&Fixture) -> S, check: F)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(Arc<Fixture>, S::Value) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    let runtime = runtime();
    let fixture = Arc::new(runtime.block_on(Fixture::start()));
    let strategy = strategy(&fixture);
    let mut runner = TestRunner::new(Config {
        cases: LIVE_CASES,
        failure_persistence: None,
        max_shrink_iters: 64,
        max_shrink_time: 60_000,
        ..Config::default()
    });
    let outcome = runner.run(&strategy, |value| {
        runtime.block_on(async {
            tokio::time::timeout(WAIT * 3, check(fixture.clone(), value))
                .await
                .map_err(|_| TestCaseError::fail("no answer within 15 s"))??;
            fixture.assert_serving().await;
            Ok(())
        })
    });
    let fixture = Arc::into_inner(fixture).expect("no case holds the fixture any more");
    runtime.block_on(fixture.stop());
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, value)) => panic!("{reason}; smallest case: {value:?}"),
        Err(TestError::Abort(reason)) => panic!("aborted: {reason}"),
    }
}

/// A request for `method`, built from generated parts, with up to two changes to its bytes;
/// or random bytes.
fn request(method: Method, senders: Vec<Option<String>>) -> BoxedStrategy<(Method, Vec<u8>)> {
    let structured = match method {
        Method::Tell => vec(envelope(senders), 0..4)
            .prop_map(|envelopes| TellRequest { envelopes }.encode_to_vec())
            .boxed(),
        Method::Ask => vec(envelope(senders), 0..4)
            .prop_map(|envelopes| AskRequest { envelopes }.encode_to_vec())
            .boxed(),
        Method::Exchange => frame(senders)
            .prop_map(|frame| frame.encode_to_vec())
            .boxed(),
    };
    prop_oneof![
        1 => vec(any::<u8>(), 0..256),
        3 => (structured, vec(mutation(), 0..3))
            .prop_map(|(bytes, mutations)| mutate(bytes, &mutations)),
    ]
    .prop_map(move |body| (method, body))
    .boxed()
}

#[test]
fn random_and_mutated_requests_get_typed_answers_and_the_node_serves_on() {
    run_live(
        |fixture| {
            let senders = fixture.senders();
            prop_oneof![
                request(Method::Tell, senders.clone()),
                request(Method::Ask, senders.clone()),
                request(Method::Exchange, senders),
            ]
        },
        |fixture, (method, body)| async move { fixture.check(method, body).await },
    );
}

/// A way to break the gRPC framing of a request.
#[derive(Debug, Clone)]
enum Damage {
    /// The compressed flag, on a call that named no compression.
    Compressed,
    /// A flag that means nothing (2 to 255).
    Flag(u8),
    /// Only this many bytes (1 to 4) of the five-byte header, then the end of the stream.
    HeaderCut(usize),
    /// The whole header, then fewer bytes than it promised (`keep` wraps around).
    BodyCut { keep: usize },
    /// A length over the node's frame limit, with a few bytes after it.
    Oversized(u32),
}

/// The largest gRPC message the node under test accepts: room for a whole message of
/// `LIMIT` bytes and its envelope.
const FRAME_LIMIT: usize = 2 * LIMIT + 64 * 1024;

fn damage() -> impl Strategy<Value = Damage> {
    let over = u32::try_from(FRAME_LIMIT).expect("fits") + 1;
    prop_oneof![
        Just(Damage::Compressed),
        (2..=u8::MAX).prop_map(Damage::Flag),
        (1..5_usize).prop_map(Damage::HeaderCut),
        any::<usize>().prop_map(|keep| Damage::BodyCut { keep }),
        (over..=u32::MAX).prop_map(Damage::Oversized),
    ]
}

impl Damage {
    /// `message` as one gRPC message, broken this way.
    fn apply(&self, message: &[u8]) -> Vec<u8> {
        let length = u32::try_from(message.len()).expect("a small message");
        match *self {
            Damage::Compressed => grpc_message(1, length, message),
            Damage::Flag(flag) => grpc_message(flag, length, message),
            Damage::HeaderCut(keep) => grpc_message(0, length, message)[..keep].to_vec(),
            // At least one byte of the body: a header followed by nothing at all reads, to
            // tonic, as a clean end of the stream.
            Damage::BodyCut { keep } => {
                grpc_message(0, length, &message[..1 + keep % (message.len() - 1)])
            }
            Damage::Oversized(declared) => grpc_message(0, declared, &message[..2]),
        }
    }

    /// The status the node answers with, and words its message must contain.
    fn refusal(&self) -> (tonic::Code, &'static str) {
        match self {
            Damage::Compressed => (tonic::Code::Internal, "compressed-flag"),
            Damage::Flag(_) => (tonic::Code::Internal, "compression flag"),
            Damage::HeaderCut(_) | Damage::BodyCut { .. } => (tonic::Code::Internal, "EOF"),
            Damage::Oversized(_) => (tonic::Code::OutOfRange, "too large"),
        }
    }
}

/// A valid request for `method`: a tell or an ask of the echo, or a frame with a tell.
fn valid_request(method: Method, sequence: u64) -> Vec<u8> {
    let envelopes = vec![envelope_to("echo", &text("whole"))];
    match method {
        Method::Tell => TellRequest { envelopes }.encode_to_vec(),
        Method::Ask => AskRequest { envelopes }.encode_to_vec(),
        Method::Exchange => ExchangeFrame {
            sequence,
            envelopes,
            ..ExchangeFrame::default()
        }
        .encode_to_vec(),
    }
}

#[test]
fn truncated_and_flagged_frames_end_only_their_call() {
    run_live(
        |_| (prop::sample::select(Method::ALL.to_vec()), damage()),
        |fixture, (method, damage)| async move {
            let mut body = Vec::new();
            if method == Method::Exchange {
                // A whole frame first: the stream acknowledges it before it ends.
                body = whole_message(&valid_request(method, 1));
            }
            body.extend(damage.apply(&valid_request(method, 2)));
            let (messages, status) = fixture.raw_call(method, body).await;
            let (code, words) = damage.refusal();
            prop_assert_eq!(status.code(), code, "{}", status.message());
            prop_assert!(status.message().contains(words), "{}", status.message());
            if method == Method::Exchange {
                let acknowledged = messages
                    .first()
                    .and_then(|reply| ExchangeReply::decode(reply.as_slice()).ok())
                    .map(|reply| reply.acknowledged);
                prop_assert_eq!(acknowledged, Some(1), "the whole frame is acknowledged");
            }
            Ok(())
        },
    );
}

/// The refusals of a `TellResponse`, as (index, code, detail).
fn refusals(answer: &[u8]) -> Vec<(u32, Code, String)> {
    let response = TellResponse::decode(answer).expect("a TellResponse");
    response
        .refused
        .into_iter()
        .map(|refusal| {
            let error = refusal.error.expect("an error");
            let code = Code::try_from(error.code).expect("a known code");
            (refusal.index, code, error.detail)
        })
        .collect()
}

/// The outcome of each reply of an `AskResponse`, as an error code or the replied text.
fn ask_outcomes(answer: &[u8]) -> Vec<Result<Text, (Code, String)>> {
    let response = AskResponse::decode(answer).expect("an AskResponse");
    response.replies.into_iter().map(reply_outcome).collect()
}

fn reply_outcome(reply: RemoteReply) -> Result<Text, (Code, String)> {
    match reply.outcome.expect("an outcome") {
        Outcome::Message(message) => Ok(Text::decode(message.payload.as_ref()).expect("a Text")),
        Outcome::Error(error) => Err((
            Code::try_from(error.code).expect("a known code"),
            error.detail,
        )),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_and_malformed_senders_are_refused() {
    let fixture = Fixture::start().await;
    let dead_letters = fixture.target.system.dead_letter_count();

    // A message over the node's limit in a request that still fits in a gRPC message: only
    // that envelope is refused, typed, and counted.
    let big = envelope_to("echo", &text(&"x".repeat(LIMIT + 1)));
    let small = envelope_to("echo", &text("small"));
    let tell = TellRequest {
        envelopes: vec![big.clone()],
    };
    let answer = fixture
        .unary(Method::Tell, tell.encode_to_vec())
        .await
        .expect("answered");
    let refused = refusals(&answer);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!((refused[0].0, refused[0].1), (0, Code::InvalidArgument));
    assert!(refused[0].2.contains("limit"), "{}", refused[0].2);
    let ask = AskRequest {
        envelopes: vec![big.clone(), small.clone()],
    };
    let answer = fixture
        .unary(Method::Ask, ask.encode_to_vec())
        .await
        .expect("answered");
    let outcomes = ask_outcomes(&answer);
    assert!(
        matches!(&outcomes[..], [Err((Code::InvalidArgument, _)), Ok(reply)] if reply.error == "small"),
        "{outcomes:?}"
    );
    assert_eq!(fixture.target.system.dead_letter_count(), dead_letters + 2);
    fixture.assert_serving().await;

    // A gRPC message over the frame limit: the call fails with OUT_OF_RANGE, on every path.
    let huge = envelope_to("echo", &text(&"x".repeat(FRAME_LIMIT)));
    let tell = TellRequest {
        envelopes: vec![huge.clone()],
    };
    let status = fixture
        .unary(Method::Tell, tell.encode_to_vec())
        .await
        .expect_err("too large");
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status}");
    let frame = ExchangeFrame {
        sequence: 1,
        envelopes: vec![huge],
        ..ExchangeFrame::default()
    };
    let exchanged = fixture.exchange(vec![frame.encode_to_vec()], None).await;
    let status = exchanged.end.expect_err("the stream ends with an error");
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status}");
    assert!(exchanged.replies.is_empty(), "{:?}", exchanged.replies);
    fixture.assert_serving().await;

    // Senders that name no node: each envelope is refused and counted, on every path.
    let dead_letters = fixture.target.system.dead_letter_count();
    let malformed = [
        "not an address",
        "rakt://peer/listener",
        "rakt://peer@127.0.0.1:99999/listener",
        "rakt://peer@[::1/listener",
        "rakt://pe er@127.0.0.1:4000/listener",
    ];
    for address in malformed {
        assert!(!names_a_node(address), "{address} must name no node");
        let mut envelope = small.clone();
        envelope.sender = Some(ActorRef {
            address: address.into(),
            id: 1,
        });
        let tell = TellRequest {
            envelopes: vec![envelope.clone()],
        };
        let answer = fixture
            .unary(Method::Tell, tell.encode_to_vec())
            .await
            .expect("answered");
        let refused = refusals(&answer);
        assert!(
            matches!(&refused[..], [(0, Code::InvalidArgument, detail)] if detail.contains("sender")),
            "{address}: {refused:?}"
        );
        let ask = AskRequest {
            envelopes: vec![envelope.clone()],
        };
        let answer = fixture
            .unary(Method::Ask, ask.encode_to_vec())
            .await
            .expect("answered");
        let outcomes = ask_outcomes(&answer);
        assert!(
            matches!(&outcomes[..], [Err((Code::InvalidArgument, detail))] if detail.contains("sender")),
            "{address}: {outcomes:?}"
        );
        envelope.correlation_id = 9;
        let frame = ExchangeFrame {
            sequence: 1,
            envelopes: vec![envelope],
            ..ExchangeFrame::default()
        };
        let answer = fixture.only_answer(&frame).await;
        assert_eq!(answer.correlation_id, 9);
        let outcome = reply_outcome(answer);
        assert!(
            matches!(&outcome, Err((Code::InvalidArgument, _))),
            "{address}: {outcome:?}"
        );
    }
    assert_eq!(
        fixture.target.system.dead_letter_count(),
        dead_letters + 3 * malformed.len() as u64
    );

    // An empty address is no sender at all, and the peer's actor is a sender: both delivered.
    for address in [
        String::new(),
        fixture.peer.remoting.address_of("x").to_string(),
    ] {
        let mut envelope = small.clone();
        envelope.sender = Some(ActorRef { address, id: 0 });
        let ask = AskRequest {
            envelopes: vec![envelope],
        };
        let answer = fixture
            .unary(Method::Ask, ask.encode_to_vec())
            .await
            .expect("answered");
        let outcomes = ask_outcomes(&answer);
        assert!(matches!(&outcomes[..], [Ok(_)]), "{outcomes:?}");
    }
    fixture.assert_serving().await;
    fixture.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_types_and_missing_actors_are_refused_and_counted() {
    let fixture = Fixture::start().await;
    let before = fixture.target.system.dead_letter_count();
    let secret = envelope_to("nobody", &Secret { code: "x".into() });

    // Unknown type and missing receiver: the type is what the node cannot get past.
    let tell = TellRequest {
        envelopes: vec![secret.clone(), secret.clone(), secret.clone()],
    };
    let answer = fixture
        .unary(Method::Tell, tell.encode_to_vec())
        .await
        .expect("answered");
    let refused = refusals(&answer);
    assert_eq!(refused.len(), 3, "{refused:?}");
    for (index, (at, code, detail)) in refused.into_iter().enumerate() {
        assert_eq!(at as usize, index);
        assert_eq!(code, Code::UnknownType);
        assert_eq!(detail, "spy.v1.Secret");
    }
    let ask = AskRequest {
        envelopes: vec![
            secret.clone(),
            envelope_to("echo", &Secret { code: "y".into() }),
            envelope_to("nobody", &text("known type")),
        ],
    };
    let answer = fixture
        .unary(Method::Ask, ask.encode_to_vec())
        .await
        .expect("answered");
    let outcomes = ask_outcomes(&answer);
    assert!(
        matches!(
            &outcomes[..],
            [
                Err((Code::UnknownType, _)),
                Err((Code::UnknownType, _)),
                Err((Code::NotFound, _))
            ]
        ),
        "{outcomes:?}"
    );
    assert_eq!(fixture.target.system.dead_letter_count(), before + 6);

    // The same on a stream: a tell and an ask, acknowledged and answered.
    let mut ask = secret.clone();
    ask.correlation_id = 7;
    let frame = ExchangeFrame {
        sequence: 1,
        envelopes: vec![secret.clone(), ask],
        ..ExchangeFrame::default()
    };
    let answer = fixture.only_answer(&frame).await;
    assert_eq!(answer.correlation_id, 7);
    assert!(matches!(reply_outcome(answer), Err((Code::UnknownType, _))));
    assert_eq!(fixture.target.system.dead_letter_count(), before + 8);

    // Through the peer's link, the asker gets a typed refusal that names the type.
    let nobody = fixture
        .peer
        .remoting
        .actor(&fixture.target.remoting.address_of("nobody"))
        .expect("a pid");
    nobody
        .tell(Secret { code: "z".into() })
        .await
        .expect("queued");
    let error = nobody
        .ask::<Text, _>(Secret { code: "z".into() })
        .timeout(WAIT)
        .await
        .expect_err("an unknown type");
    assert!(
        matches!(&error, AskError::Send(SendError::Refused { reason, .. }) if reason.contains("spy.v1.Secret")),
        "{error}"
    );
    // The tell went first on the same stream, so it is counted by now.
    assert_eq!(fixture.target.system.dead_letter_count(), before + 10);
    fixture.assert_serving().await;
    fixture.stop().await;
}

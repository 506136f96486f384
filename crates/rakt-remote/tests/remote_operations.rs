//! What operators' tools see of a node: the gRPC health service and server reflection.

use std::time::Duration;

use prost::Message as _;
use prost_types::FileDescriptorProto;
use rakt_actor::ActorSystem;
use rakt_proto::v1::WatchRequest;
use rakt_remote::Remoting;
use rakt_remote::service::RemoteServiceClient;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

/// How long any call waits.
const WAIT: Duration = Duration::from_secs(5);

async fn node() -> (ActorSystem, Remoting, Channel) {
    let system = ActorSystem::builder("observed").build().expect("system");
    let remoting = Remoting::builder(&system).start().await.expect("remoting");
    let url = format!("http://{}", remoting.local_addr());
    let channel = Channel::from_shared(url)
        .expect("valid url")
        .timeout(WAIT)
        .connect()
        .await
        .expect("connects");
    (system, remoting, channel)
}

async fn status(client: &mut HealthClient<Channel>, service: &str) -> Result<i32, tonic::Status> {
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    Ok(client.check(request).await?.into_inner().status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_service_reports_the_node_and_its_remote_service() {
    let (system, remoting, channel) = node().await;
    let mut health = HealthClient::new(channel);
    assert_eq!(
        status(&mut health, "").await.expect("the node"),
        ServingStatus::Serving as i32
    );
    assert_eq!(
        status(&mut health, "rakt.v1.RemoteService")
            .await
            .expect("the remote service"),
        ServingStatus::Serving as i32
    );
    let unknown = status(&mut health, "shop.v1.Orders").await;
    assert_eq!(
        unknown.map_err(|status| status.code()),
        Err(tonic::Code::NotFound)
    );
    remoting.shutdown().await;
    let after = tokio::time::timeout(WAIT, status(&mut health, "")).await;
    assert!(
        matches!(after, Ok(Err(_))),
        "a stopped node no longer answers: {after:?}"
    );
    system.stop().await.expect("stops");
}

async fn reflect(
    client: &mut ServerReflectionClient<Channel>,
    request: MessageRequest,
) -> Result<MessageResponse, tonic::Status> {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut responses = client
        .server_reflection_info(futures_util::stream::iter([request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let response: ServerReflectionResponse = responses
        .message()
        .await?
        .expect("not the end of the stream");
    Ok(response.message_response.expect("a message response"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_reflection_lists_and_describes_the_services() {
    let (system, remoting, channel) = node().await;
    let mut reflection = ServerReflectionClient::new(channel);

    let MessageResponse::ListServicesResponse(listed) =
        reflect(&mut reflection, MessageRequest::ListServices(String::new()))
            .await
            .expect("listed")
    else {
        panic!("expected the list of services");
    };
    let names: Vec<&str> = listed.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "rakt.v1.RemoteService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }

    let symbol = MessageRequest::FileContainingSymbol("rakt.v1.RemoteService".into());
    let MessageResponse::FileDescriptorResponse(files) =
        reflect(&mut reflection, symbol).await.expect("described")
    else {
        panic!("expected file descriptors");
    };
    let files: Vec<FileDescriptorProto> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).expect("a file descriptor"))
        .collect();
    let remote = files
        .iter()
        .find(|file| file.name() == "rakt/v1/remote.proto")
        .expect("remote.proto is described");
    let service = &remote.service[0];
    assert_eq!(service.name(), "RemoteService");
    let methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    for expected in ["Exchange", "Tell", "Ask", "Lookup", "Spawn", "Stop"] {
        assert!(methods.contains(&expected), "{expected} in {methods:?}");
    }

    // A message, to build requests from: grpcurl needs it to encode a call.
    let symbol = MessageRequest::FileContainingSymbol("rakt.v1.SpawnRequest".into());
    assert!(matches!(
        reflect(&mut reflection, symbol).await,
        Ok(MessageResponse::FileDescriptorResponse(_))
    ));
    let missing = MessageRequest::FileContainingSymbol("shop.v1.Nothing".into());
    let missing = reflect(&mut reflection, missing).await;
    assert!(
        matches!(&missing, Err(status) if status.code() == tonic::Code::NotFound),
        "{missing:?}"
    );

    remoting.shutdown().await;
    system.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_node_watches_actors_stop() {
    let (system, remoting, channel) = node().await;
    let doomed = system
        .spawn_fn("doomed", |_ctx| Ok(()))
        .await
        .expect("spawns");
    let mut client = RemoteServiceClient::new(channel);
    let request = WatchRequest {
        names: vec!["doomed".into(), "ghost".into()],
    };
    let mut notices = client.watch(request).await.expect("watching").into_inner();

    // A name no actor has is reported at once.
    let ghost = tokio::time::timeout(WAIT, notices.message())
        .await
        .expect("in time")
        .expect("a notice")
        .expect("not the end");
    let actor = ghost.actor.expect("names the actor");
    assert_eq!(actor.address, remoting.address_of("ghost").to_string());
    assert_eq!(actor.id, 0);
    assert!(ghost.reason.contains("ghost"), "{}", ghost.reason);

    doomed.stop().await.expect("stops");
    let stopped = tokio::time::timeout(WAIT, notices.message())
        .await
        .expect("in time")
        .expect("a notice")
        .expect("not the end");
    let actor = stopped.actor.expect("names the actor");
    assert_eq!(actor.address, remoting.address_of("doomed").to_string());
    assert_eq!(actor.id, doomed.id());
    assert_eq!(stopped.reason, "", "an ordinary stop");

    // Every named actor has stopped: the stream ends.
    let end = tokio::time::timeout(WAIT, notices.message())
        .await
        .expect("in time");
    assert!(matches!(end, Ok(None)), "{end:?}");

    let too_many = WatchRequest {
        names: vec![String::new(); 5000],
    };
    let refused = client.watch(too_many).await.map(|_| ());
    assert_eq!(
        refused.map_err(|status| status.code()),
        Err(tonic::Code::InvalidArgument)
    );
    remoting.shutdown().await;
    system.stop().await.expect("stops");
}

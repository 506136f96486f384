//! W3C trace context across nodes: a span on node a is the parent of the span a message is
//! handled in on node b, as recorded by an in-memory OpenTelemetry exporter.
//!
//! Needs the `opentelemetry` feature: `cargo test -p rakt-remote --features opentelemetry
//! --test remote_trace`.

use std::time::Duration;

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use rakt_actor::{ActorSystem, Context};
use rakt_proto::v1::StatusFailure as Text;
use rakt_remote::Remoting;
use tokio::sync::mpsc;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// How long any expectation waits.
const WAIT: Duration = Duration::from_secs(5);

fn attribute(span: &SpanData, key: &str) -> String {
    span.attributes
        .iter()
        .find(|attribute| attribute.key.as_str() == key)
        .map(|attribute| attribute.value.to_string())
        .unwrap_or_default()
}

/// The spans named `rakt.receive` in which `actor` handled a `Text`.
fn handled_by(spans: &[SpanData], actor: &str) -> Vec<SpanData> {
    spans
        .iter()
        .filter(|span| {
            span.name == "rakt.receive"
                && attribute(span, "rakt.actor").ends_with(&format!("/{actor}"))
                && attribute(span, "rakt.message") == "rakt.v1.StatusFailure"
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_span_on_one_node_is_the_parent_of_the_handling_span_on_the_other() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("rakt-remote-test")));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let a = ActorSystem::builder("a").build().expect("system a");
    let a_remoting = Remoting::builder(&a).start().await.expect("remoting a");
    let b = ActorSystem::builder("b").build().expect("system b");
    let b_remoting = Remoting::builder(&b).start().await.expect("remoting b");
    let (heard, mut told) = mpsc::unbounded_channel();
    b.spawn_fn("sink", move |ctx: &mut Context<'_, _>| {
        if let Some(text) = ctx.take_message::<Text>() {
            let _ = heard.send(text.error);
        }
        Ok(())
    })
    .await
    .expect("sink");
    b.spawn_fn("echo", |ctx: &mut Context<'_, _>| {
        if let Some(text) = ctx.take_message::<Text>() {
            ctx.respond(text);
        }
        Ok(())
    })
    .await
    .expect("echo");
    let sink = a_remoting
        .actor(&b_remoting.address_of("sink"))
        .expect("remote sink");
    let echo = a_remoting
        .actor(&b_remoting.address_of("echo"))
        .expect("remote echo");

    // A tell and an ask, both inside one span on node a.
    let request = tracing::info_span!("client.request");
    async {
        sink.tell(Text {
            error: "traced".into(),
        })
        .await
        .expect("tells");
        let reply: Text = echo
            .ask(Text {
                error: "traced".into(),
            })
            .await
            .expect("answers");
        assert_eq!(reply.error, "traced");
    }
    .instrument(request.clone())
    .await;
    drop(request);
    let heard = tokio::time::timeout(WAIT, told.recv()).await;
    assert_eq!(heard.ok().flatten().as_deref(), Some("traced"));

    // Outside any span: the handling starts a trace of its own.
    sink.tell(Text {
        error: "untraced".into(),
    })
    .await
    .expect("tells");
    let heard = tokio::time::timeout(WAIT, told.recv()).await;
    assert_eq!(heard.ok().flatten().as_deref(), Some("untraced"));

    // The handling spans end once their handlers return; the exporter has them after that.
    let mut spans = Vec::new();
    for _ in 0..100 {
        provider.force_flush().expect("flushes");
        spans = exporter.get_finished_spans().expect("spans");
        if handled_by(&spans, "sink").len() == 2 && !handled_by(&spans, "echo").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = spans
        .iter()
        .find(|span| span.name == "client.request")
        .expect("the client span was exported");
    let client_context = &client.span_context;

    let sink_spans = handled_by(&spans, "sink");
    assert_eq!(sink_spans.len(), 2, "two tells handled: {sink_spans:#?}");
    let traced = sink_spans
        .iter()
        .find(|span| span.parent_span_id == client_context.span_id())
        .expect("the tell's handling span is a child of the client span");
    assert_eq!(traced.span_context.trace_id(), client_context.trace_id());
    assert!(
        traced.parent_span_is_remote,
        "its parent is on another node"
    );
    let untraced = sink_spans
        .iter()
        .find(|span| span.span_context.span_id() != traced.span_context.span_id())
        .expect("the other tell");
    assert_eq!(untraced.parent_span_id, SpanId::INVALID, "a root span");
    assert_ne!(untraced.span_context.trace_id(), client_context.trace_id());

    let echo_spans = handled_by(&spans, "echo");
    assert_eq!(echo_spans.len(), 1, "{echo_spans:#?}");
    assert_eq!(echo_spans[0].parent_span_id, client_context.span_id());
    assert_eq!(
        echo_spans[0].span_context.trace_id(),
        client_context.trace_id()
    );

    a_remoting.shutdown().await;
    b_remoting.shutdown().await;
    a.stop().await.expect("a stops");
    b.stop().await.expect("b stops");
    provider.shutdown().expect("the provider stops");
}

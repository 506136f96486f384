//! OpenTelemetry metrics and `tracing` spans (features `opentelemetry` and `spans`), read back
//! through the OpenTelemetry SDK's in-memory exporter and a `tracing` layer that records every
//! span with its parent.

mod support;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use parking_lot::Mutex;
use rakt_actor::{
    ActorError, ActorSystem, Context, Directive, FnActor, Router, Routing, SpawnOptions, Supervisor,
};
use support::{Fail, Ping, Pong, Sleep, eventually};
use tracing::Instrument;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The last exported value of a sum or gauge named `name`, summed over its data points whose
/// attributes include `with`.
fn value(metrics: &[ResourceMetrics], name: &str, with: Option<(&str, &str)>) -> Option<f64> {
    let metric = metrics
        .iter()
        .rev()
        .flat_map(|resource| resource.scope_metrics())
        .flat_map(|scope| scope.metrics())
        .find(|metric| metric.name() == name)?;
    let matches = |attributes: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
        with.is_none_or(|(key, wanted)| {
            let mut found = false;
            for kv in attributes {
                found |= kv.key.as_str() == key && kv.value.as_str() == wanted;
            }
            found
        })
    };
    let total = match metric.data() {
        AggregatedMetrics::U64(MetricData::Sum(sum)) => sum
            .data_points()
            .filter(|p| matches(&mut p.attributes()))
            .map(|p| p.value() as f64)
            .sum(),
        AggregatedMetrics::I64(MetricData::Sum(sum)) => sum
            .data_points()
            .filter(|p| matches(&mut p.attributes()))
            .map(|p| p.value() as f64)
            .sum(),
        AggregatedMetrics::U64(MetricData::Gauge(gauge)) => gauge
            .data_points()
            .filter(|p| matches(&mut p.attributes()))
            .map(|p| p.value() as f64)
            .sum(),
        AggregatedMetrics::F64(MetricData::Histogram(histogram)) => histogram
            .data_points()
            .filter(|p| matches(&mut p.attributes()))
            .map(|p| p.count() as f64)
            .sum(),
        other => panic!("unexpected data for {name}: {other:?}"),
    };
    Some(total)
}

fn collect(provider: &SdkMeterProvider, exporter: &InMemoryMetricExporter) -> Vec<ResourceMetrics> {
    exporter.reset();
    provider.force_flush().expect("flush");
    exporter.get_finished_metrics().expect("metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_actors_messages_restarts_dead_letters_and_queues() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let system = ActorSystem::builder("metered")
        .meter(provider.meter("rakt"))
        .build()
        .expect("system");
    let restart =
        SpawnOptions::new().supervisor(Supervisor::new().default_directive(Directive::Restart));
    let echo = system
        .spawn_with(
            "echo",
            FnActor::new(|ctx: &mut Context<'_, _>| {
                if let Some(ping) = ctx.take_message::<Ping>() {
                    ctx.respond(Pong { n: ping.n });
                } else if ctx.is::<Fail>() {
                    return Err(ActorError::msg("told to fail"));
                }
                Ok(())
            }),
            restart,
        )
        .await
        .expect("spawn");
    for n in 0..10 {
        let _: Pong = echo.ask(Ping { n }).await.expect("reply");
    }
    echo.tell(Fail { panic: false }).await.expect("tell");
    assert!(eventually(|| echo.metrics().restarts == 1).await);
    let processed = echo.metrics().processed;

    // A sleeper with five messages queued behind the one it handles.
    let sleeper = system
        .spawn_fn("sleeper", |ctx: &mut Context<'_, _>| {
            if let Some(sleep) = ctx.message::<Sleep>() {
                std::thread::sleep(Duration::from_millis(sleep.millis));
            }
            Ok(())
        })
        .await
        .expect("spawn");
    sleeper.tell(Sleep { millis: 500 }).await.expect("tell");
    assert!(eventually(|| sleeper.metrics().mailbox_len == 0).await);
    for _ in 0..5 {
        sleeper.tell(Ping { n: 0 }).await.expect("tell");
    }
    let metrics = collect(&provider, &exporter);
    let system_tag = Some(("rakt.system.name", "metered"));
    assert_eq!(value(&metrics, "rakt.actor.count", system_tag), Some(2.0));
    assert_eq!(
        value(&metrics, "rakt.actor.mailbox.size", system_tag),
        Some(5.0)
    );
    assert_eq!(
        value(&metrics, "rakt.actor.restarts", system_tag),
        Some(1.0)
    );
    let counted = value(&metrics, "rakt.actor.messages.processed", system_tag).expect("processed");
    // The echo's own count, the sleeper's `PostStart`, and maybe its `Sleep` already.
    assert!(
        counted >= (processed + 1) as f64 && counted <= (processed + 2) as f64,
        "{counted} messages processed, the echo alone {processed}"
    );
    assert_eq!(
        value(&metrics, "rakt.actor.process.duration", system_tag),
        Some(counted),
        "one latency per processed message"
    );

    echo.stop().await.expect("stop");
    assert!(echo.tell(Ping { n: 0 }).await.is_err());
    let metrics = collect(&provider, &exporter);
    let stopped = Some(("rakt.dead_letter.reason", "actor stopped"));
    assert_eq!(value(&metrics, "rakt.dead_letters", stopped), Some(1.0));
    assert_eq!(value(&metrics, "rakt.actor.count", system_tag), Some(1.0));
    system.stop().await.expect("stop");
    provider.shutdown().expect("shutdown");
}

/// One span as the layer saw it: its name, its parent's name, and its `rakt.actor` field.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    name: String,
    parent: Option<String>,
    actor: Option<String>,
}

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<Seen>>>);

impl<S> tracing_subscriber::Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: LayerContext<'_, S>,
    ) {
        struct Actor(Option<String>);
        impl tracing::field::Visit for Actor {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "rakt.actor" {
                    self.0 = Some(format!("{value:?}"));
                }
            }
        }
        let mut actor = Actor(None);
        attrs.record(&mut actor);
        let span = ctx.span(id).expect("the span being created");
        self.0.lock().push(Seen {
            name: span.name().to_owned(),
            parent: span.parent().map(|parent| parent.name().to_owned()),
            actor: actor.0,
        });
    }
}

impl Spans {
    fn receive_of(&self, actor: &str) -> Vec<Seen> {
        self.0
            .lock()
            .iter()
            .filter(|seen| seen.name == "rakt.receive")
            .filter(|seen| {
                seen.actor
                    .as_deref()
                    .is_some_and(|a| a.ends_with(&format!("/{actor}")))
            })
            .cloned()
            .collect()
    }
}

// One thread runs the test and every actor, so that the subscriber set for this thread sees
// all spans.
#[tokio::test(flavor = "current_thread")]
async fn handling_spans_have_the_senders_span_as_parent() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let system = ActorSystem::builder("traced").build().expect("system");
    let last = system
        .spawn_fn("last", |ctx: &mut Context<'_, _>| {
            if let Some(ping) = ctx.take_message::<Ping>() {
                ctx.respond(Pong { n: ping.n });
            }
            Ok(())
        })
        .await
        .expect("spawn");
    let first = {
        let last = last.clone();
        system
            .spawn(
                "first",
                FnActor::new(move |ctx: &mut Context<'_, _>| {
                    if let Some(ping) = ctx.take_message::<Ping>() {
                        ctx.try_tell(&last, ping)?;
                    }
                    Ok(())
                }),
            )
            .await
            .expect("spawn")
    };

    // A tell from inside a span: the first actor's handling is its child, and the tell that
    // handler makes gives the last actor's handling the first one's as parent.
    async { first.tell(Ping { n: 1 }).await.expect("tell") }
        .instrument(tracing::info_span!("caller"))
        .await;
    // The last actor answers its sender, the first, whose handling of the answer is a child
    // of the last actor's handling in turn.
    assert!(eventually(|| spans.receive_of("first").len() == 3).await);
    let first_seen = spans.receive_of("first");
    assert_eq!(first_seen[0].parent, None, "PostStart has no sender");
    assert_eq!(first_seen[1].parent.as_deref(), Some("caller"));
    assert_eq!(first_seen[2].parent.as_deref(), Some("rakt.receive"));
    let last_seen = spans.receive_of("last");
    assert_eq!(last_seen[1].parent.as_deref(), Some("rakt.receive"));

    // An ask from inside a span.
    async {
        let _: Pong = last.ask(Ping { n: 2 }).await.expect("reply");
    }
    .instrument(tracing::info_span!("asker"))
    .await;
    let last_seen = spans.receive_of("last");
    assert_eq!(last_seen.len(), 3);
    assert_eq!(last_seen[2].parent.as_deref(), Some("asker"));

    // Without a span at the sender, the handling span is a root.
    last.tell(Ping { n: 3 }).await.expect("tell");
    assert!(eventually(|| spans.receive_of("last").len() == 4).await);
    assert_eq!(spans.receive_of("last")[3].parent, None);
    system.stop().await.expect("stop");
}

// A scatter-gather router asks its routees from a task of its own; their handling must still
// be part of the asker's trace, through the router's handling.
#[tokio::test(flavor = "current_thread")]
async fn a_scatter_gather_router_keeps_the_trace() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let system = ActorSystem::builder("traced").build().expect("system");
    let echo = || {
        FnActor::new(|ctx: &mut Context<'_, _>| {
            if let Some(ping) = ctx.take_message::<Ping>() {
                ctx.respond(Pong { n: ping.n });
            }
            Ok(())
        })
    };
    let routing = Routing::ScatterGatherFirst {
        within: Duration::from_secs(2),
    };
    let router = system
        .spawn_router("pool", Router::pool(2, echo).routing(routing))
        .await
        .expect("spawn");
    async {
        let _: Pong = router.ask(Ping { n: 1 }).await.expect("reply");
    }
    .instrument(tracing::info_span!("caller"))
    .await;
    let asked = || {
        ["pool-0", "pool-1"]
            .iter()
            .flat_map(|name| spans.receive_of(name).into_iter().skip(1))
            .collect::<Vec<_>>()
    };
    assert!(eventually(|| !asked().is_empty()).await);
    for seen in asked() {
        assert_eq!(seen.parent.as_deref(), Some("rakt.receive"), "{seen:?}");
    }
    assert_eq!(
        spans.receive_of("pool")[1].parent.as_deref(),
        Some("caller")
    );
    system.stop().await.expect("stop");
}

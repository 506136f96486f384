//! Observability: a chain of two actors whose handling shows up as nested `tracing` spans
//! under the caller's span, and the OpenTelemetry metrics the system records meanwhile,
//! printed from an in-memory exporter.
//!
//! The telemetry is behind features, so run it with
//! `cargo run --example observability --features telemetry`; it needs nothing installed.

#![allow(clippy::print_stdout)]

use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use rakt_actor::messages::StatusFailure as Order;
use rakt_actor::{ActorSystem, Context, FnActor};
use tracing::Instrument;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Prints each new span with its parent, as a trace viewer would nest them.
struct PrintSpans;

impl<S> tracing_subscriber::Layer<S> for PrintSpans
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: LayerContext<'_, S>,
    ) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={value:?}", field.name()));
            }
        }
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        let Some(span) = ctx.span(id) else {
            return;
        };
        let depth = span.scope().skip(1).count();
        println!("{}span {}{}", "  ".repeat(depth), span.name(), fields.0);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _spans = tracing::subscriber::set_default(tracing_subscriber::registry().with(PrintSpans));
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let system = ActorSystem::builder("shop")
        .meter(provider.meter("rakt"))
        .build()?;

    let billing = system
        .spawn_fn("billing", |ctx: &mut Context<'_, _>| {
            if let Some(order) = ctx.message::<Order>() {
                println!("  billing {}", order.error);
            }
            Ok(())
        })
        .await?;
    let orders = system
        .spawn(
            "orders",
            FnActor::new(move |ctx: &mut Context<'_, _>| {
                if let Some(order) = ctx.take_message::<Order>() {
                    // Sent from the handler, so billing's span is a child of this one.
                    ctx.try_tell(&billing, order)?;
                }
                Ok(())
            }),
        )
        .await?;

    println!("traces:");
    async {
        for n in 0..3 {
            orders
                .tell(Order {
                    error: format!("order {n}"),
                })
                .await?;
        }
        Ok::<_, rakt_actor::SendError>(())
    }
    .instrument(tracing::info_span!("checkout"))
    .await?;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

    // A tell to an unknown name is a dead letter, counted by reason.
    let _ = system.tell("nobody", Order::default()).await;

    provider.force_flush()?;
    println!("metrics:");
    for resource in exporter.get_finished_metrics()? {
        for metric in resource.scope_metrics().flat_map(|scope| scope.metrics()) {
            let value = match metric.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    sum.data_points().map(|p| p.value() as f64).sum::<f64>()
                }
                AggregatedMetrics::I64(MetricData::Sum(sum)) => {
                    sum.data_points().map(|p| p.value() as f64).sum::<f64>()
                }
                AggregatedMetrics::U64(MetricData::Gauge(gauge)) => {
                    gauge.data_points().map(|p| p.value() as f64).sum::<f64>()
                }
                AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
                    let (count, seconds) = histogram
                        .data_points()
                        .fold((0, 0.0), |(n, s), p| (n + p.count(), s + p.sum()));
                    println!(
                        "  {}: {count} measurements, {seconds:.6} s in all",
                        metric.name()
                    );
                    continue;
                }
                _ => continue,
            };
            println!("  {} = {value} {}", metric.name(), metric.unit());
        }
    }
    system.stop().await?;
    provider.shutdown()?;
    Ok(())
}

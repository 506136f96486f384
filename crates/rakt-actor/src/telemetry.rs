//! What the runtime reports about itself beyond the event stream: OpenTelemetry metrics
//! (feature `opentelemetry`) and a `tracing` span per handled message (feature `spans`).
//!
//! Both compile to nothing when their feature is off: [`Trace`] is then a zero-sized value
//! and [`Handling`] returns the handler's future untouched, so an envelope is no larger and a
//! send does no more work than without them.

use std::future::Future;

use crate::cell::Envelope;
use crate::pid::Pid;

/// The trace context an envelope carries from its sender to its handler: the span current at
/// the send, with the `spans` feature, or the parent a transport received from another node;
/// nothing without the feature.
pub(crate) struct Trace {
    #[cfg(feature = "spans")]
    parent: tracing::Span,
    /// Sets the handling span's parent when it is not a span of this process.
    #[cfg(feature = "spans")]
    adopt: Option<crate::remote::TraceParent>,
}

impl Trace {
    /// The trace context of a message sent now.
    #[inline(always)]
    pub(crate) fn current() -> Self {
        Self {
            #[cfg(feature = "spans")]
            parent: tracing::Span::current(),
            #[cfg(feature = "spans")]
            adopt: None,
        }
    }

    /// The trace context of a message whose parent span lives elsewhere: `adopt` sets it on
    /// the handling span before that span starts.
    #[cfg(feature = "spans")]
    pub(crate) fn adopted(adopt: crate::remote::TraceParent) -> Self {
        Self {
            parent: tracing::Span::none(),
            adopt: Some(adopt),
        }
    }

    /// The span current when the message was sent.
    #[cfg(feature = "spans")]
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.parent
    }
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut trace = f.debug_struct("Trace");
        #[cfg(feature = "spans")]
        trace
            .field("parent", &self.parent)
            .field("adopted", &self.adopt.is_some());
        trace.finish()
    }
}

/// `task`, to run in a task of its own, inside the span current now (with the `spans`
/// feature), so that what it sends carries the trace of the code that spawned it. Without the
/// feature, `task` itself.
#[inline(always)]
pub(crate) fn in_current_span<F: Future>(task: F) -> impl Future<Output = F::Output> {
    #[cfg(feature = "spans")]
    {
        tracing::Instrument::in_current_span(task)
    }
    #[cfg(not(feature = "spans"))]
    {
        task
    }
}

/// The span a message is handled in, with the `spans` feature: named `rakt.receive`, with
/// the actor and the message's protobuf name, and the sender's span as its parent (none when
/// the sender had no span). Without the feature, nothing.
#[derive(Debug)]
pub(crate) struct Handling {
    #[cfg(feature = "spans")]
    span: tracing::Span,
}

impl Handling {
    /// The span to handle `envelope` in, made before the envelope is taken apart.
    #[inline(always)]
    pub(crate) fn of(envelope: &mut Envelope, pid: &Pid) -> Self {
        #[cfg(feature = "spans")]
        {
            let span = tracing::info_span!(
                parent: &envelope.trace.parent,
                "rakt.receive",
                rakt.actor = %pid,
                rakt.message = %envelope.message.as_dyn().full_name(),
            );
            if let Some(adopt) = envelope.trace.adopt.take() {
                adopt(&span);
            }
            Self { span }
        }
        #[cfg(not(feature = "spans"))]
        {
            let _ = (envelope, pid);
            Self {}
        }
    }

    /// The handler's future, inside the span.
    #[inline(always)]
    pub(crate) fn instrument<F: Future>(self, handler: F) -> impl Future<Output = F::Output> {
        #[cfg(feature = "spans")]
        {
            tracing::Instrument::instrument(handler, self.span)
        }
        #[cfg(not(feature = "spans"))]
        {
            handler
        }
    }
}

#[cfg(feature = "opentelemetry")]
pub(crate) use metrics::Instruments;

#[cfg(feature = "opentelemetry")]
mod metrics {
    use std::sync::{Arc, Weak};

    use opentelemetry::KeyValue;
    use opentelemetry::metrics::{Counter, Histogram, Meter};

    use crate::event::DeadLetterReason;
    use crate::system::SystemShared;

    /// The instruments one system records on, every measurement tagged with the system's
    /// name. Names follow OpenTelemetry's conventions: a namespace (`rakt.`), dots between
    /// components, units in UCUM (`s`, `{message}`), and a `.duration` histogram in seconds
    /// like `messaging.process.duration`.
    #[derive(Debug)]
    pub(crate) struct Instruments {
        processed: Counter<u64>,
        duration: Histogram<f64>,
        restarts: Counter<u64>,
        dead_letters: Counter<u64>,
        system: [KeyValue; 1],
    }

    /// The attribute naming the system.
    const SYSTEM: &str = "rakt.system.name";

    impl Instruments {
        /// Creates the instruments on `meter`. The two observed ones (live actors and queued
        /// messages) read the system when the meter's reader collects, through `system`,
        /// which does not keep the system alive.
        pub(crate) fn new(meter: &Meter, name: &Arc<str>, system: Weak<SystemShared>) -> Self {
            // Shared, not copied: cloning the attribute for a dead letter allocates nothing.
            let attributes = [KeyValue::new(SYSTEM, name.clone())];
            let actors = system.clone();
            let tags = attributes.clone();
            // The observed instruments live as long as the meter's provider keeps them.
            let _count = meter
                .i64_observable_up_down_counter("rakt.actor.count")
                .with_description("Actors alive in the system")
                .with_unit("{actor}")
                .with_callback(move |observer| {
                    if let Some(system) = actors.upgrade() {
                        let count = i64::try_from(system.registry.len()).unwrap_or(i64::MAX);
                        observer.observe(count, &tags);
                    }
                })
                .build();
            let tags = attributes.clone();
            let _mailboxes = meter
                .u64_observable_gauge("rakt.actor.mailbox.size")
                .with_description("Messages waiting in the mailboxes of the system's actors")
                .with_unit("{message}")
                .with_callback(move |observer| {
                    if let Some(system) = system.upgrade() {
                        let queued = queued_messages(&system);
                        observer.observe(queued, &tags);
                    }
                })
                .build();
            Self {
                processed: meter
                    .u64_counter("rakt.actor.messages.processed")
                    .with_description("Messages handled by actors, system messages included")
                    .with_unit("{message}")
                    .build(),
                duration: meter
                    .f64_histogram("rakt.actor.process.duration")
                    .with_description("Time an actor took to handle a message")
                    .with_unit("s")
                    .build(),
                restarts: meter
                    .u64_counter("rakt.actor.restarts")
                    .with_description("Actor restarts, by supervisors or by request")
                    .with_unit("{restart}")
                    .build(),
                dead_letters: meter
                    .u64_counter("rakt.dead_letters")
                    .with_description("Messages that could not be delivered")
                    .with_unit("{message}")
                    .build(),
                system: attributes,
            }
        }

        /// One message handled, in `nanos` nanoseconds.
        #[inline]
        pub(crate) fn handled(&self, nanos: u64) {
            self.processed.add(1, &self.system);
            // Exact below 2^53 ns (about 104 days).
            self.duration.record(nanos as f64 / 1e9, &self.system);
        }

        /// One restart.
        pub(crate) fn restarted(&self) {
            self.restarts.add(1, &self.system);
        }

        /// One dead letter, tagged with why.
        pub(crate) fn dead_letter(&self, reason: DeadLetterReason) {
            let attributes = [
                self.system[0].clone(),
                KeyValue::new("rakt.dead_letter.reason", reason.as_str()),
            ];
            self.dead_letters.add(1, &attributes);
        }
    }

    fn queued_messages(system: &Arc<SystemShared>) -> u64 {
        system
            .registry
            .all()
            .iter()
            .filter_map(|pid| pid.local().map(|cell| cell.lanes.user_len() as u64))
            .sum()
    }
}

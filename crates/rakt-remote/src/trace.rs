//! W3C trace context between nodes (feature `opentelemetry`): the span current at a send on
//! one node becomes, through `tracing-opentelemetry`, the parent of the span the message is
//! handled in on the other.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use rakt_actor::remote::TraceParent;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The W3C headers of `span`: empty when it belongs to no OpenTelemetry trace.
pub(crate) fn inject(span: &tracing::Span) -> HashMap<String, String> {
    if span.is_none() {
        return HashMap::new();
    }
    let context = span.context();
    let span = context.span();
    let sent_from = span.span_context();
    if !sent_from.is_valid() {
        return HashMap::new();
    }
    let mut headers = HashMap::with_capacity(2);
    headers.insert(
        TRACEPARENT.to_owned(),
        format!(
            "00-{}-{}-{:02x}",
            sent_from.trace_id(),
            sent_from.span_id(),
            sent_from.trace_flags().to_u8()
        ),
    );
    let state = sent_from.trace_state().header();
    if !state.is_empty() {
        headers.insert(TRACESTATE.to_owned(), state);
    }
    headers
}

/// What makes the handling span a child of the span the headers name; `None` when they name
/// none, or not in a form this node reads (a malformed context starts no trace, as the W3C
/// recommendation says).
pub(crate) fn extract(headers: &HashMap<String, String>) -> Option<TraceParent> {
    let parent = parse(headers)?;
    Some(Box::new(move |span: &tracing::Span| {
        // Fails only when no OpenTelemetry layer records the span: nothing to link then.
        let _ = span.set_parent(Context::new().with_remote_span_context(parent));
    }))
}

fn parse(headers: &HashMap<String, String>) -> Option<SpanContext> {
    let value = headers.get(TRACEPARENT)?.trim();
    let mut fields = value.split('-');
    let (version, trace_id, span_id, flags) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let version = u8::from_str_radix(hex(version, 2)?, 16).ok()?;
    // Version 255 is invalid; version 0 has exactly four fields, later ones may add more.
    if version == 0xff || (version == 0 && fields.next().is_some()) {
        return None;
    }
    let trace_id = TraceId::from_hex(hex(trace_id, 32)?).ok()?;
    let span_id = SpanId::from_hex(hex(span_id, 16)?).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(hex(flags, 2)?, 16).ok()?;
    let flags = TraceFlags::new(flags & TraceFlags::SAMPLED.to_u8());
    let state = headers
        .get(TRACESTATE)
        .and_then(|state| state.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(trace_id, span_id, flags, true, state))
}

/// `field` when it is exactly `len` lowercase hexadecimal digits.
fn hex(field: &str, len: usize) -> Option<&str> {
    let valid = field.len() == len
        && field
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    valid.then_some(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(traceparent: &str) -> HashMap<String, String> {
        HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())])
    }

    #[test]
    fn a_valid_traceparent_names_a_remote_sampled_parent() {
        let mut carried = headers("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        carried.insert(TRACESTATE.to_owned(), "vendor=value".to_owned());
        let parent = parse(&carried).expect("valid");
        assert_eq!(
            parent.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(parent.span_id().to_string(), "00f067aa0ba902b7");
        assert!(parent.is_sampled() && parent.is_remote());
        assert_eq!(parent.trace_state().header(), "vendor=value");
    }

    #[test]
    fn malformed_traceparents_start_no_trace() {
        for malformed in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        ] {
            assert!(parse(&headers(malformed)).is_none(), "{malformed:?}");
        }
        assert!(parse(&HashMap::new()).is_none());
        // A later version may carry more fields.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more";
        assert!(parse(&headers(later)).is_some());
    }

    #[test]
    fn a_span_outside_any_trace_carries_no_headers() {
        assert!(inject(&tracing::Span::none()).is_empty());
    }
}

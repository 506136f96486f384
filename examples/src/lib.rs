//! Runnable examples of Rakt, one topic per file: run one with `cargo run --example <name>`.
//!
//! **Position**: not published; depends on the crates it shows. This library is empty: the
//! examples live beside it, in `examples/*.rs`.
//!
//! ```text
//! cargo run --example quickstart   # tell, ask, watch and a graceful stop
//! cargo run --example behaviors    # behaviors and the stash
//! cargo run --example supervision  # directives, backoff, budgets and escalation
//! cargo run --example scheduling   # one-off, interval and cron schedules
//! cargo run --example passivation  # idle and message-count passivation, eviction
//! cargo run --example reentrancy   # requests answered in continuations, both modes
//! cargo run --example lifecycle    # extensions, dependencies, shutdown hooks
//! cargo run --example routers      # routings, resizing, dead routees, broadcast
//! cargo run --example observability --features telemetry   # spans and OpenTelemetry metrics
//! ```

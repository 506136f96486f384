//! Benchmarks of the Rakt runtime, each beside a bare tokio baseline measured in the same run.
//!
//! **Position**: not published; depends on `rakt-actor`. The library is empty: the
//! benchmarks are in `benches/benches/`, run by `cargo xtask bench`, which writes
//! `docs/benchmarks.md`.
//!
//! ```text
//! cargo xtask bench
//! ```

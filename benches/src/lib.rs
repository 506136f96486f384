//! Benchmarks of the Rakt runtime, each beside a bare tokio baseline and, for tell, ask and idle
//! memory, beside actix, ractor and kameo, all measured in the same run.
//!
//! **Position**: not published; depends on `rakt-actor` and, for the comparison, on the peer
//! frameworks. The library is empty: the benchmarks are in `benches/benches/`, run by
//! `cargo xtask bench`, which writes `docs/benchmarks.md`.
//!
//! ```text
//! cargo xtask bench
//! ```

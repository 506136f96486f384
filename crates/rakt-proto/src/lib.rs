//! Protobuf wire types of the Rakt actor framework, generated from `proto/`.
//!
//! **Position**: layer 0. It depends on no Rakt crate, only on `prost` and `prost-types`.
//! Every other Rakt crate that puts something on the wire or hands a runtime message to an
//! actor depends on it. It holds wire types only: conversions to domain types live in the crate
//! that owns the domain type.
//!
//! The code under `src/generated/` is produced by `cargo xtask codegen` and committed;
//! `cargo xtask codegen --check` fails when it no longer matches the `.proto` files.
//! Every message implements [`prost::Name`], so its stable wire name is known at compile time.
//!
//! ```
//! use prost::Name;
//! use rakt_proto::v1::Terminated;
//!
//! assert_eq!(Terminated::full_name(), "rakt.v1.Terminated");
//! ```

/// Version 1 of the Rakt wire protocol (`package rakt.v1`).
pub mod v1 {
    #![allow(missing_docs, unreachable_pub, missing_debug_implementations)]
    include!("generated/rakt.v1.rs");
}

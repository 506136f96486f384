//! Helpers shared by the integration tests.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::time::{Duration, Instant};

/// The longest any test may wait for anything before it fails instead of hanging.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// A point in time after which a test gives up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Instant);

impl Deadline {
    /// A deadline [`DEADLINE`] from now.
    pub(crate) fn start() -> Self {
        Self(Instant::now() + DEADLINE)
    }

    /// Panics, failing the test, once the deadline has passed.
    #[track_caller]
    pub(crate) fn check(&self, what: &str) {
        assert!(Instant::now() < self.0, "deadline passed while {what}");
    }
}

/// Packs a producer index and its per-producer sequence number into one item.
pub(crate) fn item(producer: usize, seq: usize) -> u64 {
    ((producer as u64) << 32) | seq as u64
}

/// Splits an item made by [`item`].
pub(crate) fn split(item: u64) -> (usize, usize) {
    ((item >> 32) as usize, (item & 0xffff_ffff) as usize)
}

//! The test kit's errors. A broken expectation is a panic (see [`ExpectError`]); these are
//! the failures of operations a test may want to check.
//!
//! [`ExpectError`]: crate::ExpectError

use rakt_actor::SendError;

/// Why a [`Probe`](crate::Probe) operation failed.
///
/// ```
/// use rakt_testkit::{ProbeError, TestKit};
/// use rakt_proto::v1::PostStart;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let kit = TestKit::new();
/// let mut probe = kit.probe().await?;
/// // Nothing was received yet, so there is nothing to reply to.
/// let error = probe.reply(PostStart {}).unwrap_err();
/// assert!(matches!(error, ProbeError::NoMessage { operation: "reply", .. }));
/// kit.shutdown().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The probe has no last message to act on: none was expected yet, or it was forwarded.
    #[error("probe `{probe}` has no received message to {operation}")]
    NoMessage {
        /// The probe's name.
        probe: String,
        /// What the test tried to do with it.
        operation: &'static str,
    },
    /// The message could not be delivered; it went to dead letters.
    #[error(transparent)]
    Send(#[from] SendError),
}

//! The test kit's errors: [`ExpectError`], what a broken expectation panics with, and
//! [`TestKitError`], the failures of probe operations a test may want to check.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use rakt_actor::SendError;

/// Why a [`Probe`](crate::Probe) operation failed.
///
/// ```
/// use rakt_testkit::{TestKit, TestKitError};
/// use rakt_proto::v1::PostStart;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let kit = TestKit::new();
/// let mut probe = kit.probe().await?;
/// // Nothing was received yet, so there is nothing to respond to.
/// let error = probe.respond(PostStart {}).unwrap_err();
/// assert!(matches!(error, TestKitError::NoMessage { operation: "respond", .. }));
/// kit.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestKitError {
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

/// An expectation that was not met: the text of the panic an awaited [`Expect`](crate::Expect) raises, and
/// the error [`Expect::outcome`](crate::Expect::outcome) returns.
///
/// ```
/// use std::time::Duration;
/// use rakt_testkit::TestKit;
/// use rakt_proto::v1::PostStart;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let kit = TestKit::new();
/// let mut probe = kit.probe().await?;
/// let error = probe
///     .expect_message(PostStart {})
///     .within(Duration::from_millis(10))
///     .outcome()
///     .await
///     .unwrap_err();
/// assert_eq!(error.expectation(), "expect_message");
/// assert_eq!(error.received(), None);
/// assert_eq!(error.caller().file(), file!());
/// assert!(error.to_string().contains("nothing arrived within 10ms"));
/// kit.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{expectation} failed at {caller} ({subject})\n  expected: {expected}\n  {}",
    ReceivedText::new(.received, .after, .timeout)
)]
pub struct ExpectError {
    pub(crate) expectation: &'static str,
    pub(crate) subject: String,
    pub(crate) expected: String,
    pub(crate) received: Option<String>,
    pub(crate) after: Duration,
    pub(crate) timeout: Duration,
    pub(crate) caller: &'static Location<'static>,
}

impl ExpectError {
    /// The expectation's name, such as `expect_message`.
    pub fn expectation(&self) -> &'static str {
        self.expectation
    }

    /// Who was expected to receive or see it: a probe or a test kit, by name.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// What was expected, in words.
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// What arrived instead, in words; `None` when nothing did.
    pub fn received(&self) -> Option<&str> {
        self.received.as_deref()
    }

    /// How long the expectation waited before it failed.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// The timeout it had.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The test's line that made the expectation.
    pub fn caller(&self) -> &'static Location<'static> {
        self.caller
    }
}

/// The last line of an [`ExpectError`]'s text.
struct ReceivedText<'e> {
    received: Option<&'e str>,
    after: Duration,
    timeout: Duration,
}

impl<'e> ReceivedText<'e> {
    fn new(received: &'e Option<String>, after: &Duration, timeout: &Duration) -> Self {
        Self {
            received: received.as_deref(),
            after: *after,
            timeout: *timeout,
        }
    }
}

impl fmt::Display for ReceivedText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.received {
            Some(received) => write!(f, "received: {received} after {:.1?}", self.after),
            None => write!(f, "received: nothing arrived within {:?}", self.timeout),
        }
    }
}

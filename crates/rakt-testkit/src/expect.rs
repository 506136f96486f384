//! Expectations: what a test waits for, how long, and what it says when it does not come.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::panic::Location;
use std::pin::Pin;
use std::time::Duration;

use rakt_actor::{AnyMessage, DeadLetter};

use crate::error::ExpectError;
use tokio::time::Instant;

/// Why an expectation was not met, before the caller's line and the time are added.
pub(crate) struct Failure {
    pub(crate) expected: String,
    /// What arrived instead; `None` when nothing did.
    pub(crate) received: Option<String>,
}

impl Failure {
    pub(crate) fn new(expected: impl Into<String>, received: Option<String>) -> Self {
        Self {
            expected: expected.into(),
            received,
        }
    }
}

type Check<'a, T> = Box<
    dyn FnOnce(Instant) -> Pin<Box<dyn Future<Output = Result<T, Failure>> + Send + 'a>>
        + Send
        + 'a,
>;

/// An expectation of a [`Probe`](crate::Probe) or a [`TestKit`](crate::TestKit), waiting
/// for its answer within a timeout.
///
/// Awaiting it returns what was expected, or panics with an [`ExpectError`] that says what
/// was expected, what arrived instead (or that nothing did), after how long, and on which line
/// of the test the expectation was made. [`within`](Self::within) replaces the default
/// timeout (3 s unless the kit says otherwise); [`outcome`](Self::outcome) returns the error
/// instead of panicking.
///
/// ```
/// use std::time::Duration;
/// use rakt_testkit::TestKit;
/// use rakt_proto::v1::StatusFailure as Text;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let kit = TestKit::new();
/// let mut probe = kit.probe().await?;
/// probe.pid().tell(Text { error: "hi".into() }).await?;
/// let text: Text = probe.expect_message_of_type().within(Duration::from_secs(1)).await;
/// assert_eq!(text.error, "hi");
///
/// // Nothing else comes: the outcome is an error instead of a panic.
/// let error = probe.expect_any_message().within(Duration::from_millis(20)).outcome().await;
/// assert!(error.unwrap_err().received().is_none());
/// kit.stop().await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "an expectation checks nothing until awaited"]
pub struct Expect<'a, T> {
    expectation: &'static str,
    subject: String,
    timeout: Duration,
    caller: &'static Location<'static>,
    check: Check<'a, T>,
}

impl<'a, T: Send + 'a> Expect<'a, T> {
    /// An expectation made on the caller's line, which the constructors pass on with
    /// `#[track_caller]`.
    #[track_caller]
    pub(crate) fn new<F, Fut>(
        expectation: &'static str,
        subject: String,
        timeout: Duration,
        check: F,
    ) -> Self
    where
        F: FnOnce(Instant) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, Failure>> + Send + 'a,
    {
        Self {
            expectation,
            subject,
            timeout,
            caller: Location::caller(),
            check: Box::new(move |deadline| Box::pin(check(deadline))),
        }
    }

    /// Waits at most `timeout` instead of the default.
    pub fn within(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the expectation and returns its failure as an error instead of panicking.
    pub async fn outcome(self) -> Result<T, ExpectError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        (self.check)(deadline).await.map_err(|failure| ExpectError {
            expectation: self.expectation,
            subject: self.subject,
            expected: failure.expected,
            received: failure.received,
            after: started.elapsed(),
            timeout: self.timeout,
            caller: self.caller,
        })
    }
}

impl<'a, T: Send + 'a> IntoFuture for Expect<'a, T> {
    type Output = T;
    type IntoFuture = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.outcome().await {
                Ok(value) => value,
                Err(error) => panic!("{error}"),
            }
        })
    }
}

impl<T> fmt::Debug for Expect<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expect")
            .field("expectation", &self.expectation)
            .field("subject", &self.subject)
            .field("timeout", &self.timeout)
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

/// A message in words: its value and its protobuf name.
pub(crate) fn describe(message: &dyn AnyMessage) -> String {
    format!("{message:?} ({})", message.full_name())
}

/// A dead letter in words.
pub(crate) fn describe_dead_letter(letter: &DeadLetter) -> String {
    format!(
        "dead letter {} to `{}` ({})",
        describe(letter.message()),
        letter.receiver(),
        letter.reason()
    )
}

/// At most a few things in words, and how many more there were.
pub(crate) fn list(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}

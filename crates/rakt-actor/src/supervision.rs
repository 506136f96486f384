//! Supervision: what the runtime does with an actor that fails.
//!
//! Every actor has a [`Supervisor`]: its own, given at spawn with
//! [`SpawnOptions::supervisor`](crate::SpawnOptions::supervisor), or the system's default.
//! When the actor fails (its handler returns an error, signals one or panics), the supervisor
//! maps the failure to a [`Directive`], and its [`Strategy`] says whether the directive
//! applies to the failing actor alone or to its siblings too. The decision is taken in the
//! failing actor's own task, so supervising costs nothing until something fails.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::ActorError;
use crate::pid::Pid;

/// What happens to an actor that failed.
///
/// ```
/// use rakt_actor::Directive;
///
/// assert_eq!(Directive::Restart.to_string(), "restart");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Directive {
    /// Stop the actor: its queued messages become dead letters, its children stop.
    Stop,
    /// Keep the actor and its state, and go on with the next message.
    Resume,
    /// Replace the actor: its children stop, `post_stop` runs, then `pre_start` on a fresh
    /// state (for actors spawned from a factory), then `PostStart`. The mailbox, the name and
    /// the watchers stay.
    Restart,
    /// Suspend the actor and hand the failure to its parent, which fails in turn and is
    /// decided on by its own supervisor; a top-level actor's failure goes to the system's
    /// guardian.
    Escalate,
}

impl fmt::Display for Directive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stop => "stop",
            Self::Resume => "resume",
            Self::Restart => "restart",
            Self::Escalate => "escalate",
        })
    }
}

/// Whom a directive applies to.
///
/// ```
/// use rakt_actor::{Strategy, Supervisor};
///
/// // When one worker fails, restart every worker of the same parent.
/// let workers = Supervisor::new().strategy(Strategy::OneForAll);
/// # let _ = workers;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// Only the failing actor.
    #[default]
    OneForOne,
    /// The failing actor and its siblings, the other children of its parent (for a top-level
    /// actor, the other top-level actors): a restart or a stop applies to all of them.
    OneForAll,
}

/// Exponential backoff between restarts: the `n`th restart in a row waits
/// `min(initial × 2ⁿ⁻¹, max)`. The count starts again once the actor has gone `reset_after`
/// without failing. While it waits, the actor is suspended and its mailbox fills.
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::Backoff;
///
/// let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(backoff.delay(1), Duration::from_millis(100));
/// assert_eq!(backoff.delay(3), Duration::from_millis(400));
/// assert_eq!(backoff.delay(10), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    reset_after: Duration,
}

impl Backoff {
    /// Backoff from `initial` doubling up to `max`; the count resets after `max` without a
    /// failure unless [`reset_after`](Self::reset_after) says otherwise.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            reset_after: max,
        }
    }

    /// How long the actor must go without failing for the next restart to wait `initial`
    /// again.
    pub fn reset_after(mut self, reset_after: Duration) -> Self {
        self.reset_after = reset_after;
        self
    }

    /// The wait before the `attempt`th restart in a row (the first is 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1 << doublings)
            .map_or(self.max, |delay| delay.min(self.max))
    }

    fn validate(&self) -> Result<(), String> {
        if self.initial.is_zero() {
            return Err("the initial backoff must be greater than zero".to_owned());
        }
        if self.max < self.initial {
            return Err(format!(
                "the maximum backoff {:?} is shorter than the initial backoff {:?}",
                self.max, self.initial
            ));
        }
        if self.reset_after.is_zero() {
            return Err("the backoff reset time must be greater than zero".to_owned());
        }
        Ok(())
    }
}

type Matcher = Arc<dyn Fn(&ActorError) -> bool + Send + Sync>;

#[derive(Clone)]
struct Rule {
    matches: Matcher,
    directive: Directive,
    /// What the rule matches, for `Debug`.
    describe: &'static str,
}

/// How an actor's failures are handled: rules that map failures to directives, a strategy,
/// a restart budget and an optional backoff.
///
/// The default supervisor restarts the failing actor alone, every time, at once. A panic is
/// matched by [`on_panic`](Self::on_panic) first, then the rules in the order they were
/// added, by [`on_error`](Self::on_error) and [`on_failure`](Self::on_failure); the first that
/// matches decides, and [`default_directive`](Self::default_directive) decides the rest.
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::{ActorError, Backoff, Directive, Strategy, Supervisor};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("bad input")]
/// struct BadInput;
///
/// let supervisor = Supervisor::new()
///     .strategy(Strategy::OneForOne)
///     .on_error::<BadInput>(Directive::Resume)
///     .on_panic(Directive::Stop)
///     .default_directive(Directive::Restart)
///     .retry(3, Duration::from_secs(10))
///     .backoff(Backoff::exponential(Duration::from_millis(10), Duration::from_secs(1)));
///
/// assert_eq!(supervisor.directive_for(&BadInput.into()), Directive::Resume);
/// assert_eq!(supervisor.directive_for(&ActorError::msg("disk full")), Directive::Restart);
/// ```
#[derive(Clone)]
pub struct Supervisor {
    strategy: Strategy,
    rules: Vec<Rule>,
    on_panic: Option<Directive>,
    default: Directive,
    retry: Option<(u32, Duration)>,
    backoff: Option<Backoff>,
}

impl Supervisor {
    /// One-for-one, restart on every failure, no budget, no backoff.
    pub fn new() -> Self {
        Self {
            strategy: Strategy::OneForOne,
            rules: Vec::new(),
            on_panic: None,
            default: Directive::Restart,
            retry: None,
            backoff: None,
        }
    }

    /// Whom a directive applies to.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Applies `directive` to failures caused by an `E`: the error itself or any error in its
    /// [`source`](StdError::source) chain. A child's escalated failure is an [`Escalated`]
    /// whose source is the child's error, so a parent's rule matches it too.
    ///
    /// ```
    /// use rakt_actor::{ActorError, Directive, Supervisor};
    ///
    /// let supervisor = Supervisor::new().on_error::<std::num::ParseIntError>(Directive::Resume);
    /// let failure: ActorError = "x".parse::<u32>().unwrap_err().into();
    /// assert_eq!(supervisor.directive_for(&failure), Directive::Resume);
    /// ```
    pub fn on_error<E: StdError + 'static>(mut self, directive: Directive) -> Self {
        self.rules.push(Rule {
            matches: Arc::new(|failure: &ActorError| caused_by::<E>(failure)),
            directive,
            describe: std::any::type_name::<E>(),
        });
        self
    }

    /// Applies `directive` to failures for which `predicate` holds.
    ///
    /// ```
    /// use rakt_actor::{ActorError, Directive, Supervisor};
    ///
    /// let supervisor = Supervisor::new()
    ///     .on_failure(|failure| failure.to_string().contains("timeout"), Directive::Resume);
    /// assert_eq!(supervisor.directive_for(&ActorError::msg("db timeout")), Directive::Resume);
    /// ```
    pub fn on_failure(
        mut self,
        predicate: impl Fn(&ActorError) -> bool + Send + Sync + 'static,
        directive: Directive,
    ) -> Self {
        self.rules.push(Rule {
            matches: Arc::new(predicate),
            directive,
            describe: "predicate",
        });
        self
    }

    /// Applies `directive` to panics, before any other rule.
    pub fn on_panic(mut self, directive: Directive) -> Self {
        self.on_panic = Some(directive);
        self
    }

    /// The directive for failures no rule matches; [`Directive::Restart`] unless set.
    pub fn default_directive(mut self, directive: Directive) -> Self {
        self.default = directive;
        self
    }

    /// A restart budget: at most `max_restarts` restarts within any `within` window. A failure
    /// that would restart the actor beyond it stops the actor instead.
    pub fn retry(mut self, max_restarts: u32, within: Duration) -> Self {
        self.retry = Some((max_restarts, within));
        self
    }

    /// Waits between restarts, growing exponentially; see [`Backoff`].
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    pub(crate) fn applies_to(&self) -> Strategy {
        self.strategy
    }

    /// The directive for `failure` by the rules alone, before the restart budget.
    pub fn directive_for(&self, failure: &ActorError) -> Directive {
        if failure.is_panic() {
            if let Some(directive) = self.on_panic {
                return directive;
            }
        }
        self.rules
            .iter()
            .find(|rule| (rule.matches)(failure))
            .map_or(self.default, |rule| rule.directive)
    }

    pub(crate) fn backoff_settings(&self) -> Option<&Backoff> {
        self.backoff.as_ref()
    }

    pub(crate) fn retry_budget(&self) -> Option<(u32, Duration)> {
        self.retry
    }

    /// Checks the settings; the error says what is wrong.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some((_, within)) = self.retry {
            if within.is_zero() {
                return Err("the retry window must be greater than zero".to_owned());
            }
        }
        match &self.backoff {
            Some(backoff) => backoff.validate(),
            None => Ok(()),
        }
    }
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<(&str, Directive)> = self
            .rules
            .iter()
            .map(|rule| (rule.describe, rule.directive))
            .collect();
        f.debug_struct("Supervisor")
            .field("strategy", &self.strategy)
            .field("rules", &rules)
            .field("on_panic", &self.on_panic)
            .field("default", &self.default)
            .field("retry", &self.retry)
            .field("backoff", &self.backoff)
            .finish()
    }
}

/// Whether `failure` is an `E` or was caused by one.
fn caused_by<E: StdError + 'static>(failure: &ActorError) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(failure.as_error());
    while let Some(error) = current {
        if error.is::<E>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// The failure a parent sees when a child escalates: the child, and its error as the source.
///
/// ```
/// use rakt_actor::{ActorError, Directive, Escalated, Supervisor};
///
/// // A parent that resumes (and so reinstates) children that escalated.
/// let parent = Supervisor::new().on_error::<Escalated>(Directive::Resume);
/// # let _ = parent;
/// ```
#[derive(Debug, thiserror::Error)]
#[error("child {child} failed: {error}")]
pub struct Escalated {
    child: Pid,
    #[source]
    error: Box<dyn StdError + Send + Sync + 'static>,
}

impl Escalated {
    pub(crate) fn new(child: Pid, error: ActorError) -> Self {
        Self {
            child,
            error: error.into_inner(),
        }
    }

    /// The child that failed.
    pub fn child(&self) -> &Pid {
        &self.child
    }

    /// The child's own failure.
    pub fn error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self.error.as_ref()
    }
}

/// What an actor remembers of its failures, for the restart budget and the backoff.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// When the restarts inside the current budget window happened, oldest first.
    restarts: VecDeque<Instant>,
    /// Restarts in a row, for the backoff.
    consecutive: u32,
    last_failure: Option<Instant>,
}

impl History {
    /// Records a restart about to happen at `now`; false when the budget is spent, and then
    /// nothing is recorded.
    pub(crate) fn admit_restart(&mut self, now: Instant, budget: Option<(u32, Duration)>) -> bool {
        let Some((max, within)) = budget else {
            return true;
        };
        while self
            .restarts
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= within)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= max as usize {
            return false;
        }
        self.restarts.push_back(now);
        true
    }

    /// How long to wait before the restart of a failure at `now`.
    pub(crate) fn backoff(&mut self, now: Instant, backoff: Option<&Backoff>) -> Duration {
        let Some(backoff) = backoff else {
            return Duration::ZERO;
        };
        let rested = self
            .last_failure
            .is_none_or(|last| now.saturating_duration_since(last) >= backoff.reset_after);
        if rested {
            self.consecutive = 0;
        }
        self.consecutive = self.consecutive.saturating_add(1);
        self.last_failure = Some(now);
        backoff.delay(self.consecutive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_admits_max_restarts_per_window() {
        let mut history = History::default();
        let start = Instant::now();
        let budget = Some((2, Duration::from_secs(10)));
        assert!(history.admit_restart(start, budget));
        assert!(history.admit_restart(start + Duration::from_secs(1), budget));
        assert!(!history.admit_restart(start + Duration::from_secs(2), budget));
        // The first restart leaves the window.
        assert!(history.admit_restart(start + Duration::from_secs(10), budget));
        assert!(!history.admit_restart(start + Duration::from_secs(10), budget));
    }

    #[test]
    fn a_zero_budget_admits_nothing() {
        let mut history = History::default();
        assert!(!history.admit_restart(Instant::now(), Some((0, Duration::from_secs(1)))));
    }

    #[test]
    fn backoff_doubles_then_resets_after_a_quiet_spell() {
        let backoff = Backoff::exponential(Duration::from_millis(10), Duration::from_millis(35))
            .reset_after(Duration::from_secs(1));
        let mut history = History::default();
        let start = Instant::now();
        let delays: Vec<_> = (0..4)
            .map(|i| history.backoff(start + Duration::from_millis(i), Some(&backoff)))
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(delays, vec![ms(10), ms(20), ms(35), ms(35)]);
        let later = start + Duration::from_secs(5);
        assert_eq!(history.backoff(later, Some(&backoff)), ms(10));
    }

    #[test]
    fn a_huge_attempt_saturates_at_the_maximum() {
        let backoff = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn panics_are_matched_before_rules() {
        let supervisor = Supervisor::new()
            .on_failure(|_| true, Directive::Resume)
            .on_panic(Directive::Stop);
        let panic = ActorError::from_panic(Box::new("boom"));
        assert_eq!(supervisor.directive_for(&panic), Directive::Stop);
        assert_eq!(
            supervisor.directive_for(&ActorError::msg("x")),
            Directive::Resume
        );
    }

    #[test]
    fn invalid_settings_are_named() {
        let zero_window = Supervisor::new().retry(1, Duration::ZERO);
        assert!(zero_window.validate().is_err());
        let inverted = Supervisor::new().backoff(Backoff::exponential(
            Duration::from_secs(2),
            Duration::from_secs(1),
        ));
        let reason = inverted.validate().expect_err("max below initial");
        assert!(reason.contains("shorter than the initial"), "{reason}");
    }
}

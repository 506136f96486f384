//! The loop that runs one actor: one tokio task per actor, monomorphized for its type.

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use futures_util::FutureExt;
use rakt_mailbox::Next;
use rakt_proto::v1::{PoisonPill, PostStart, Terminated};

use crate::actor::Actor;
use crate::cell::{ActorCell, Envelope, SystemMessage};
use crate::context::{Context, LifecycleContext};
use crate::error::ActorError;
use crate::event::{DeadLetterReason, Event};
use crate::passivation::PassivationReason;
use crate::payload::Payload;
use crate::pid::Pid;
use crate::supervision::{Directive, Escalated, History, Strategy, Supervisor};
use crate::system::run_pre_start;
use crate::telemetry::Handling;

/// Makes fresh actor states: the first at spawn, another at every restart.
pub(crate) type Factory<A> = Arc<dyn Fn() -> A + Send + Sync>;

/// What an actor keeps beyond its state and its cell: how it is supervised, restarted and
/// passivated, and its failure history. Boxed, and only allocated for an actor spawned with
/// any of these settings, or once it first fails, so that the others pay one word for it.
pub(crate) struct Spec<A> {
    /// Fresh states for restarts; without one, a restart keeps the state it has.
    pub(crate) factory: Option<Factory<A>>,
    /// The actor's own supervisor; without one, the system's default decides.
    pub(crate) supervisor: Option<Supervisor>,
    /// How long `pre_start` may take at a restart; without it, the system's setting.
    pub(crate) init_timeout: Option<std::time::Duration>,
    /// The processed count at which the actor passivates; `u64::MAX` for none.
    pub(crate) message_limit: u64,
    /// The actor's reentrancy, when it makes requests.
    pub(crate) reentrancy: Option<crate::Reentrancy>,
    pub(crate) history: History,
}

impl<A> Default for Spec<A> {
    fn default() -> Self {
        Self {
            factory: None,
            supervisor: None,
            init_timeout: None,
            message_limit: u64::MAX,
            reentrancy: None,
            history: History::default(),
        }
    }
}

/// The spec of an actor, lazily boxed.
pub(crate) type Specced<A> = Option<Box<Spec<A>>>;

/// How the actor leaves its loop, which decides the fate of queued messages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Exit {
    /// `stop`: queued messages are handled.
    Graceful,
    /// `kill`, or a new incarnation failing at once: queued messages become dead letters.
    Kill,
    /// A `PoisonPill` was reached: messages behind it become dead letters.
    Poison,
    /// A restart's `pre_start` failed: as `Kill`, but `post_stop` has already run and does
    /// not run again.
    Broken,
    /// The supervisor stopped a failed actor, or a suspended actor was stopped: queued
    /// messages become dead letters (the actor is in no state to handle them) and the
    /// children stop gracefully.
    Discard,
}

tokio::task_local! {
    /// The cell of the actor whose task is running, so that an actor awaiting its own stop
    /// gets an error instead of waiting forever.
    static CURRENT_ACTOR: usize;
}

/// Whether the calling task is the one running `cell`'s actor.
pub(crate) fn is_current(cell: &Arc<ActorCell>) -> bool {
    let me = Arc::as_ptr(cell) as usize;
    CURRENT_ACTOR
        .try_with(|current| *current == me)
        .unwrap_or(false)
}

/// Runs the actor's loop, marked as its own task.
pub(crate) async fn run<A: Actor>(cell: Arc<ActorCell>, actor: A, spec: Specced<A>) {
    let me = Arc::as_ptr(&cell) as usize;
    CURRENT_ACTOR.scope(me, run_loop(cell, actor, spec)).await;
}

/// The hot path (waiting, handling a user message) stays inline in the task; rarer paths
/// (restart, failure recovery, `Terminated`, stopping) are boxed, so that they do not make
/// every idle actor's task as large as the largest of them.
///
/// One [`Context`] lives as long as the loop and each message is loaded into it, and the
/// handler's future is awaited right here rather than inside a helper's future: building and
/// moving a context and a helper future per message cost more than handling a small message.
async fn run_loop<A: Actor>(cell: Arc<ActorCell>, mut actor: A, mut sv: Specced<A>) {
    let pid = Pid::from_cell(cell.clone());
    let mut ctx = Context::new(&cell, &pid);
    if let Some(reentrancy) = sv.as_ref().and_then(|s| s.reentrancy) {
        ctx.enable_requests(reentrancy);
    }
    if let Some(failure) = handle(&mut ctx, &mut actor, post_start()).await {
        if let Err(exit) = Box::pin(supervise(&mut ctx, &mut actor, &mut sv, failure, None)).await {
            Box::pin(terminate(&mut ctx, &mut actor, exit)).await;
            return;
        }
    }
    if limit_due(&cell, &sv) && message_limit_reached(&ctx, &mut sv) {
        Box::pin(terminate(&mut ctx, &mut actor, Exit::Graceful)).await;
        return;
    }
    // When the last handler ended, in raw clock ticks: a message's latency runs from there to
    // the end of its own handler, so a busy actor reads the clock once per message. Reset
    // after every wait, so that time spent idle or waiting for the worker is not counted.
    let mut stamp = ticks();
    // Whether the last pop found nothing although the lanes said a message was there.
    let mut came_up_empty = false;
    let exit = loop {
        let Some(next) = next_message(&mut ctx) else {
            if ctx.is_holding() {
                // User messages may be queued: wait for the continuation, on the system lane.
                cell.lanes.system_ready().await;
                stamp = ticks();
                continue;
            }
            if came_up_empty {
                // A sender has claimed the next slot and not written it yet, and is perhaps
                // descheduled: the lanes stay ready without a message to pop. Yield rather
                // than spin on this worker until it is written.
                tokio::task::yield_now().await;
            }
            cell.lanes.ready().await;
            came_up_empty = true;
            stamp = ticks();
            continue;
        };
        came_up_empty = false;
        match next {
            Next::User(mut envelope) => {
                if envelope.message.is::<PoisonPill>() {
                    break Exit::Poison;
                }
                let span = Handling::of(&mut envelope, &pid);
                if ctx.load(envelope) {
                    let outcome = match ctx.behavior() {
                        None => {
                            guarded(span.instrument(async { actor.receive(&mut ctx).await })).await
                        }
                        Some(behavior) => {
                            let handler = async { behavior(&mut actor, &mut ctx).await };
                            guarded(span.instrument(handler)).await
                        }
                    };
                    let now = ticks();
                    cell.record_handled(elapsed(stamp, now), now);
                    stamp = now;
                    if let Some(failure) = ctx.conclude(outcome) {
                        let supervised = supervise(&mut ctx, &mut actor, &mut sv, failure, None);
                        if let Err(exit) = Box::pin(supervised).await {
                            break exit;
                        }
                        stamp = ticks();
                    }
                }
                if limit_due(&cell, &sv) && message_limit_reached(&ctx, &mut sv) {
                    break Exit::Graceful;
                }
                // Each message spends tokio's cooperative budget, as a channel receive does,
                // so one busy actor yields its worker thread now and then.
                let mut budget = pin!(tokio::task::coop::consume_budget());
                let mut yielded = false;
                poll_fn(|cx| {
                    let poll = budget.as_mut().poll(cx);
                    yielded |= poll.is_pending();
                    poll
                })
                .await;
                if yielded {
                    stamp = ticks();
                }
            }
            Next::System(SystemMessage::Stop) => break Exit::Graceful,
            Next::System(SystemMessage::Kill) => break Exit::Kill,
            Next::System(SystemMessage::Restart(ack)) => {
                let restarted = restart_and_ack(&mut ctx, &mut actor, &mut sv, ack);
                if let Err(exit) = Box::pin(restarted).await {
                    break exit;
                }
                stamp = ticks();
            }
            Next::System(SystemMessage::Terminated(gone, reason)) => {
                if cell.remove_watching(&gone) {
                    if let Some(failure) =
                        Box::pin(handle(&mut ctx, &mut actor, terminated(&gone, reason))).await
                    {
                        let supervised = supervise(&mut ctx, &mut actor, &mut sv, failure, None);
                        if let Err(exit) = Box::pin(supervised).await {
                            break exit;
                        }
                    }
                    if limit_due(&cell, &sv) && message_limit_reached(&ctx, &mut sv) {
                        break Exit::Graceful;
                    }
                }
                stamp = ticks();
            }
            // Only a suspended actor has anything to reinstate.
            Next::System(SystemMessage::Reinstate) => {}
            Next::System(SystemMessage::Passivate(reason)) => {
                if passivate(&ctx, reason) {
                    break Exit::Graceful;
                }
            }
            Next::System(SystemMessage::Reply(id, reply)) => {
                if let Some(failure) = continue_request(&mut ctx, &mut actor, id, reply) {
                    let supervised = supervise(&mut ctx, &mut actor, &mut sv, failure, None);
                    if let Err(exit) = Box::pin(supervised).await {
                        break exit;
                    }
                }
                if limit_due(&cell, &sv) && message_limit_reached(&ctx, &mut sv) {
                    break Exit::Graceful;
                }
                stamp = ticks();
            }
            Next::System(SystemMessage::Escalated(child, error)) => {
                // A child reinstated or stopped meanwhile needs no decision any more.
                if child.is_suspended() {
                    let failure = ActorError::from(Escalated::new(child.clone(), error));
                    let supervised = supervise(&mut ctx, &mut actor, &mut sv, failure, Some(child));
                    if let Err(exit) = Box::pin(supervised).await {
                        break exit;
                    }
                }
                stamp = ticks();
            }
        }
    };
    Box::pin(terminate(&mut ctx, &mut actor, exit)).await;
}

/// Whether the actor, asked to passivate for `reason`, does; if so, it says so on the event
/// stream and stops gracefully.
#[cold]
#[inline(never)]
fn passivate<A: Actor>(ctx: &Context<'_, A>, reason: PassivationReason) -> bool {
    let cell = ctx.cell();
    if !crate::passivation::confirm(cell, reason, ctx.is_busy()) {
        return false;
    }
    tracing::debug!(actor = %ctx.pid(), %reason, "actor passivated");
    cell.system.events.publish(Event::ActorPassivated {
        pid: ctx.pid().clone(),
        reason,
    });
    true
}

/// Whether the actor has handled its passivation's message count.
#[inline]
fn limit_due<A>(cell: &ActorCell, sv: &Specced<A>) -> bool {
    sv.as_ref()
        .is_some_and(|spec| cell.stats.processed.load(Ordering::Relaxed) >= spec.message_limit)
}

/// The actor handled its passivation's message count: it passivates, unless its passivation
/// is paused (then the resume asks again) or it waits on requests (then it looks again after
/// the next message).
#[cold]
#[inline(never)]
fn message_limit_reached<A: Actor>(ctx: &Context<'_, A>, sv: &mut Specced<A>) -> bool {
    if passivate(ctx, PassivationReason::MessageLimit) {
        return true;
    }
    let cell = ctx.cell();
    let paused = cell
        .system
        .passivator
        .lookup(cell.id)
        .is_none_or(|watched| watched.paused);
    if let Some(spec) = sv {
        spec.message_limit = if paused {
            u64::MAX
        } else {
            cell.stats.processed.load(Ordering::Relaxed) + 1
        };
    }
    false
}

/// Runs the continuation of request `id`; returns its failure, if it failed. A reply to a
/// request that was cancelled meanwhile (by a restart) is a dead letter.
#[cold]
#[inline(never)]
fn continue_request<A: Actor>(
    ctx: &mut Context<'_, A>,
    actor: &mut A,
    id: u64,
    reply: Result<Payload, crate::error::AskError>,
) -> Option<ActorError> {
    let cell = ctx.cell();
    let Some(continuation) = ctx.complete_request(id) else {
        if let Ok(reply) = reply {
            cell.system
                .dead_letter(None, &cell.name, reply, DeadLetterReason::AskerGone);
        }
        return None;
    };
    let started = ticks();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| continuation(actor, ctx, reply)))
        .unwrap_or_else(|panic| Err(ActorError::from_panic(panic)));
    let now = ticks();
    cell.record_handled(elapsed(started, now), now);
    ctx.conclude(outcome)
}

/// A handler's future, with a panic caught as a failure.
///
/// Callers pass an `async` block that calls the handler, never the handler's future itself:
/// calling `receive` runs user code before the first poll (a behavior's body before its
/// `Box::pin`, a `spawn_fn` closure entirely), and only code run inside the poll is guarded.
/// The panic becomes an [`ActorError`] inside the poll, so that what comes out is the
/// handler's own one-word result.
#[inline]
fn guarded<F>(handler: F) -> impl Future<Output = Result<(), ActorError>>
where
    F: Future<Output = Result<(), ActorError>>,
{
    AssertUnwindSafe(handler)
        .catch_unwind()
        .map(|outcome| outcome.unwrap_or_else(|panic| Err(ActorError::from_panic(panic))))
}

/// The next message, in the order the runtime promises: system messages first, then messages
/// given back from the stash, then the mailbox's user messages.
#[inline]
fn next_message<A: Actor>(ctx: &mut Context<'_, A>) -> Option<Next<SystemMessage, Envelope>> {
    let lanes = &ctx.cell().lanes;
    if !ctx.has_extras() {
        // The common case: no stash given back, no request holding messages back.
        return lanes.pop();
    }
    if ctx.is_holding() {
        // User messages wait in the mailbox, in order, for a `StashNonReentrant` request.
        return lanes.pop_system().map(Next::System);
    }
    if ctx.has_unstashed() {
        match lanes.pop_system() {
            Some(system) => Some(Next::System(system)),
            None => ctx.pop_unstashed().map(Next::User),
        }
    } else {
        lanes.pop()
    }
}

/// The latency clock's raw reading, or 0 until the clock is calibrated.
#[inline]
pub(crate) fn ticks() -> u64 {
    crate::cell::clock().map_or(0, quanta::Clock::raw)
}

/// Ticks from `start` to `now`; 0 when `start` was read before the clock was calibrated.
#[inline]
fn elapsed(start: u64, now: u64) -> u64 {
    if start == 0 {
        0
    } else {
        now.wrapping_sub(start)
    }
}

fn post_start() -> Envelope {
    Envelope {
        message: Payload::new(PostStart {}),
        sender: None,
        reply: None,
        trace: crate::telemetry::Trace::current(),
    }
}

fn terminated(gone: &Pid, reason: Option<String>) -> Envelope {
    let message = Terminated {
        address: gone.address().to_string(),
        terminated_at: Some(prost_types::Timestamp::from(SystemTime::now())),
        reason: reason.unwrap_or_default(),
    };
    Envelope {
        message: Payload::new(message),
        sender: Some(gone.clone()),
        reply: None,
        trace: crate::telemetry::Trace::current(),
    }
}

/// Handles one message outside the loop's hot path; returns the failure, if the handler
/// failed.
async fn handle<A: Actor>(
    ctx: &mut Context<'_, A>,
    actor: &mut A,
    mut envelope: Envelope,
) -> Option<ActorError> {
    let span = Handling::of(&mut envelope, ctx.pid());
    if !ctx.load(envelope) {
        return None;
    }
    let started = ticks();
    let outcome = match ctx.behavior() {
        None => guarded(span.instrument(async { actor.receive(ctx).await })).await,
        Some(behavior) => guarded(span.instrument(async { behavior(actor, ctx).await })).await,
    };
    let now = ticks();
    ctx.cell().record_handled(elapsed(started, now), now);
    ctx.conclude(outcome)
}

/// Applies the actor's supervisor to a failure: resumes (`Ok`), restarts (`Ok`, unless the
/// restart fails), suspends and escalates, or says how the actor must stop (`Err`).
///
/// `cause` is the child whose escalated failure this is: resuming reinstates it, and a
/// restart or a stop stops it with the other children.
async fn supervise<A: Actor>(
    ctx: &mut Context<'_, A>,
    actor: &mut A,
    sv: &mut Specced<A>,
    mut failure: ActorError,
    mut cause: Option<Pid>,
) -> Result<(), Exit> {
    let cell = ctx.cell();
    let pid = ctx.pid().clone();
    loop {
        cell.stats.failures.fetch_add(1, Ordering::Relaxed);
        cell.system.events.publish(Event::ActorFailed {
            pid: pid.clone(),
            error: failure.to_string(),
        });
        let config = &cell.system.config;
        let own = sv
            .as_ref()
            .and_then(|s| s.supervisor.as_ref())
            .unwrap_or(&config.default_supervisor);
        let mut supervisor = own;
        let mut directive = own.directive_for(&failure);
        if directive == Directive::Escalate && cell.parent.is_none() {
            // A top-level actor's parent is the guardian, and nothing is above it.
            supervisor = &config.guardian_supervisor;
            directive = match supervisor.directive_for(&failure) {
                Directive::Escalate => Directive::Stop,
                other => other,
            };
        }
        let strategy = supervisor.applies_to();
        let budget = supervisor.retry_budget();
        let backoff = supervisor.backoff_settings().copied();
        let now = Instant::now();
        let history = &mut sv.get_or_insert_with(Box::default).history;
        if directive == Directive::Restart && !history.admit_restart(now, budget) {
            tracing::warn!(actor = %pid, "restart budget spent, stopping");
            directive = Directive::Stop;
        }
        tracing::warn!(
            actor = %pid,
            error = %failure,
            panic = failure.is_panic(),
            %directive,
            "actor failed"
        );
        let ack = match directive {
            Directive::Resume => {
                reinstate(cause.as_ref());
                return Ok(());
            }
            Directive::Stop => {
                if strategy == Strategy::OneForAll {
                    signal_siblings(cell, &pid, || SystemMessage::Stop);
                }
                return Err(Exit::Discard);
            }
            Directive::Escalate => {
                // Suspended before the parent hears of it: the parent only decides for a
                // child it finds suspended.
                suspend(cell, &pid, format!("escalated to its parent: {failure}"));
                if let Some(parent) = &cell.parent {
                    // A parent that is stopping stops this actor too, which ends the wait.
                    let _ = parent.push_system(SystemMessage::Escalated(pid.clone(), failure));
                }
                match wait_suspended(ctx, None).await {
                    Wake::Reinstated | Wake::Elapsed => {
                        reinstate(cause.as_ref());
                        return Ok(());
                    }
                    Wake::Restart(ack) => ack,
                    Wake::Exit(exit) => return Err(exit),
                }
            }
            Directive::Restart => {
                if strategy == Strategy::OneForAll {
                    signal_siblings(cell, &pid, || SystemMessage::Restart(None));
                }
                let delay = history.backoff(now, backoff.as_ref());
                if delay.is_zero() {
                    None
                } else {
                    suspend(cell, &pid, format!("restarting in {delay:?}: {failure}"));
                    let until = crate::ask::later(tokio::time::Instant::now(), delay);
                    match wait_suspended(ctx, Some(until)).await {
                        Wake::Elapsed => None,
                        Wake::Reinstated => {
                            reinstate(cause.as_ref());
                            return Ok(());
                        }
                        Wake::Restart(ack) => ack,
                        Wake::Exit(exit) => return Err(exit),
                    }
                }
            }
        };
        // The restart stops the children, the cause among them.
        cause = None;
        let outcome = restart(ctx, actor, sv).await;
        match settle_restart(&pid, outcome, ack)? {
            None => return Ok(()),
            Some(next) => failure = next,
        }
    }
}

/// Restarts on request, telling the requester how it went; a failure of the new incarnation
/// goes to the supervisor.
async fn restart_and_ack<A: Actor>(
    ctx: &mut Context<'_, A>,
    actor: &mut A,
    sv: &mut Specced<A>,
    ack: Option<Ack>,
) -> Result<(), Exit> {
    let outcome = restart(ctx, actor, sv).await;
    match settle_restart(ctx.pid(), outcome, ack)? {
        None => Ok(()),
        Some(failure) => supervise(ctx, actor, sv, failure, None).await,
    }
}

type Ack = tokio::sync::oneshot::Sender<Result<(), String>>;

/// Tells the requester, if any, how a restart went, and says what follows: nothing
/// (`Ok(None)`), a failure of the new incarnation for the supervisor (`Ok(Some)`), or a stop
/// because the actor cannot run (`Err`).
fn settle_restart(
    pid: &Pid,
    outcome: Result<(), RestartFailure>,
    ack: Option<Ack>,
) -> Result<Option<ActorError>, Exit> {
    let reply = match &outcome {
        Ok(()) => Ok(()),
        Err(Broken(error) | Failed(error)) => Err(error.to_string()),
    };
    if let Some(ack) = ack {
        // The requester may have stopped waiting.
        let _ = ack.send(reply);
    }
    match outcome {
        Ok(()) => Ok(None),
        Err(Broken(error)) => {
            tracing::error!(actor = %pid, %error, "restart failed, stopping");
            Err(Exit::Broken)
        }
        Err(Failed(failure)) => Ok(Some(failure)),
    }
}

/// How a restart failed.
enum RestartFailure {
    /// The factory or `pre_start` failed: the actor cannot run and must stop; its
    /// `post_stop` has run.
    Broken(ActorError),
    /// The new incarnation failed on its `PostStart`: a failure like any other.
    Failed(ActorError),
}
use RestartFailure::{Broken, Failed};

/// Brings a child that escalated back, once its parent resumed.
fn reinstate(child: Option<&Pid>) {
    if let Some(child) = child {
        // A child that stopped meanwhile has nothing to come back to.
        let _ = child.push_system(SystemMessage::Reinstate);
    }
}

/// Sends `signal` to the other children of this actor's parent; for a top-level actor, to
/// the other top-level actors.
fn signal_siblings(cell: &ActorCell, me: &Pid, signal: impl Fn() -> SystemMessage) {
    let siblings = match &cell.parent {
        Some(parent) => parent.children(),
        None => cell.system.registry.all(),
    };
    for sibling in siblings {
        if sibling != *me && sibling.parent() == cell.parent.as_ref() {
            // A sibling that is stopping needs no signal.
            let _ = sibling.push_system(signal());
        }
    }
}

fn suspend(cell: &ActorCell, pid: &Pid, reason: String) {
    cell.set_suspended(true);
    tracing::info!(actor = %pid, %reason, "actor suspended");
    cell.system.events.publish(Event::ActorSuspended {
        pid: pid.clone(),
        reason,
    });
}

/// Why a suspension ended.
enum Wake {
    /// `reinstate`: back to handling messages with the state it has.
    Reinstated,
    /// The deadline passed.
    Elapsed,
    /// A restart was requested.
    Restart(Option<Ack>),
    /// A stop or a kill.
    Exit(Exit),
}

/// Waits, handling only system messages, until the actor is reinstated, restarted or stopped,
/// or `until` passes. User messages stay queued; `Terminated` and escalations from children
/// are put back for after the suspension.
async fn wait_suspended<A: Actor>(
    ctx: &mut Context<'_, A>,
    until: Option<tokio::time::Instant>,
) -> Wake {
    let cell = ctx.cell();
    let mut deferred = Vec::new();
    let wake = 'wait: loop {
        while let Some(message) = cell.lanes.pop_system() {
            match message {
                SystemMessage::Stop => break 'wait Wake::Exit(Exit::Discard),
                SystemMessage::Kill => break 'wait Wake::Exit(Exit::Kill),
                SystemMessage::Restart(ack) => break 'wait Wake::Restart(ack),
                SystemMessage::Reinstate => break 'wait Wake::Reinstated,
                // A suspended actor is not passivated; it is asked again later.
                SystemMessage::Passivate(_) => crate::passivation::refuse(cell),
                later @ (SystemMessage::Terminated(..)
                | SystemMessage::Escalated(..)
                | SystemMessage::Reply(..)) => {
                    deferred.push(later);
                }
            }
        }
        match until {
            None => cell.lanes.system_ready().await,
            Some(until) => {
                if tokio::time::timeout_at(until, cell.lanes.system_ready())
                    .await
                    .is_err()
                {
                    break Wake::Elapsed;
                }
            }
        }
    };
    for message in deferred {
        // Failing only when the actor is stopping, whose drain has no use for them.
        let _ = cell.lanes.push_system(message);
    }
    cell.set_suspended(false);
    if matches!(wake, Wake::Reinstated) {
        cell.stats.reinstates.fetch_add(1, Ordering::Relaxed);
        tracing::info!(actor = %ctx.pid(), "actor reinstated");
        cell.system.events.publish(Event::ActorReinstated {
            pid: ctx.pid().clone(),
        });
    }
    wake
}

/// Stops the children, runs `post_stop`, takes a fresh state from the factory if there is
/// one, runs `pre_start`, then handles a new `PostStart`; the mailbox is untouched.
async fn restart<A: Actor>(
    ctx: &mut Context<'_, A>,
    actor: &mut A,
    sv: &Specced<A>,
) -> Result<(), RestartFailure> {
    let cell = ctx.cell();
    let pid = ctx.pid().clone();
    // The new incarnation starts with `receive`, and gets back what was stashed.
    ctx.restart_extras();
    // Children belong to the incarnation that spawned them; the new one spawns its own.
    let children = cell.children();
    for child in &children {
        // A child that is already stopping needs no signal.
        let _ = child.push_system(SystemMessage::Stop);
    }
    for child in &children {
        child.wait_terminated().await;
    }
    run_post_stop(&pid, actor).await;
    if let Some(factory) = sv.as_ref().and_then(|s| s.factory.as_ref()) {
        match std::panic::catch_unwind(AssertUnwindSafe(|| factory())) {
            Ok(fresh) => *actor = fresh,
            Err(panic) => return Err(Broken(ActorError::from_panic(panic))),
        }
    }
    let config = &cell.system.config;
    let timeout = sv
        .as_ref()
        .and_then(|s| s.init_timeout)
        .unwrap_or(config.init_timeout);
    run_pre_start(actor, &pid, timeout, config.init_retries)
        .await
        .map_err(|error| Broken(ActorError::msg(error)))?;
    let restarts = cell.stats.restarts.fetch_add(1, Ordering::Relaxed) + 1;
    #[cfg(feature = "opentelemetry")]
    if let Some(instruments) = cell.system.instruments.get() {
        instruments.restarted();
    }
    cell.system.events.publish(Event::ActorRestarted {
        pid: pid.clone(),
        restarts,
    });
    match handle(ctx, actor, post_start()).await {
        None => Ok(()),
        Some(failure) => Err(Failed(failure)),
    }
}

async fn run_post_stop<A: Actor>(pid: &Pid, actor: &mut A) {
    let mut ctx = LifecycleContext::new(pid);
    match AssertUnwindSafe(actor.post_stop(&mut ctx))
        .catch_unwind()
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(actor = %pid, %error, "post_stop failed"),
        Err(panic) => {
            let error = ActorError::from_panic(panic);
            tracing::warn!(actor = %pid, %error, "post_stop panicked");
        }
    }
}

/// Stops the actor: closes and empties the mailbox as `exit` says, stops the children, runs
/// `post_stop`, unregisters the name and tells the watchers.
async fn terminate<A: Actor>(ctx: &mut Context<'_, A>, actor: &mut A, mut exit: Exit) {
    let cell = ctx.cell();
    let pid = ctx.pid().clone();
    let children = cell.begin_stopping();
    cell.lanes.close_user();
    // Requests in flight are cancelled, and a handler run by the drain makes no new ones.
    ctx.end_requests();
    // Messages given back from the stash come before the mailbox's, as while running; those
    // still stashed when the drain ends are dead letters.
    loop {
        // Handlers run during a graceful drain may stash and unstash too.
        while let Some(next) = next_message(ctx) {
            match next {
                Next::System(SystemMessage::Kill) if exit != Exit::Broken => exit = Exit::Kill,
                Next::System(SystemMessage::Restart(Some(ack))) => {
                    // The caller may have stopped waiting.
                    let _ = ack.send(Err("the actor is stopping".to_owned()));
                }
                Next::System(SystemMessage::Terminated(gone, _)) => {
                    cell.remove_watching(&gone);
                }
                Next::System(SystemMessage::Reply(_, Ok(reply))) => {
                    cell.system.dead_letter(
                        None,
                        &cell.name,
                        reply,
                        DeadLetterReason::ActorStopped,
                    );
                }
                Next::System(_) => {}
                Next::User(envelope) => match exit {
                    Exit::Graceful if envelope.message.is::<PoisonPill>() => {
                        // A stop already under way meets a poison pill: what is behind it
                        // is not handled, as with a pill met while running.
                        exit = Exit::Poison;
                    }
                    Exit::Graceful => {
                        if let Some(error) = handle(ctx, actor, envelope).await {
                            cell.stats.failures.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(actor = %pid, %error, "actor failed while stopping");
                        }
                    }
                    Exit::Kill | Exit::Broken => {
                        cell.dead_letter(envelope, DeadLetterReason::ActorKilled)
                    }
                    Exit::Discard => cell.dead_letter(envelope, DeadLetterReason::ActorStopped),
                    Exit::Poison => cell.dead_letter(envelope, DeadLetterReason::BehindPoisonPill),
                },
            }
        }
        if cell.lanes.is_quiescent() && cell.lanes.user_len() == 0 {
            break;
        }
        // A sender is between its closed-check and its enqueue; let it finish.
        tokio::task::yield_now().await;
    }
    let reason = match exit {
        Exit::Kill | Exit::Broken => DeadLetterReason::ActorKilled,
        Exit::Poison => DeadLetterReason::BehindPoisonPill,
        Exit::Graceful | Exit::Discard => DeadLetterReason::ActorStopped,
    };
    for envelope in ctx.take_stash() {
        cell.dead_letter(envelope, reason);
    }

    // Children first, as a tree: each child does the same before it reports stopped.
    for child in &children {
        let signal = if matches!(exit, Exit::Kill | Exit::Broken) {
            SystemMessage::Kill
        } else {
            SystemMessage::Stop
        };
        // A child that is already stopping needs no signal.
        let _ = child.push_system(signal);
    }
    for child in &children {
        child.wait_terminated().await;
    }

    if exit != Exit::Broken {
        run_post_stop(&pid, actor).await;
    }
    finish(cell, &pid);
}

/// The part of stopping that needs no actor value: also used when an actor is aborted.
pub(crate) fn finish(cell: &Arc<ActorCell>, pid: &Pid) {
    let started = cell.state() != crate::cell::state::STARTING;
    let Some(relations) = cell.finish_stopping() else {
        return;
    };
    cell.system.registry.remove(&cell.name, cell.id);
    if cell.passivates {
        cell.system.passivator.remove(cell.id);
    }
    if let Some(parent) = &cell.parent {
        if let Some(parent) = parent.local() {
            parent.remove_child(pid);
        }
    }
    for watcher in relations.watchers {
        pid.tell_terminated_to(&watcher);
    }
    for target in relations.watching {
        target.drop_watcher(pid);
    }
    cell.lanes.close_system();
    cell.lanes.close_user();
    // Pushes are short and never wait while counted as in flight; after this, nothing more
    // can enter either lane.
    for _ in 0..10_000 {
        if cell.lanes.is_quiescent() {
            break;
        }
        std::thread::yield_now();
    }
    while let Some(next) = cell.lanes.pop() {
        match next {
            Next::User(envelope) => cell.dead_letter(envelope, DeadLetterReason::ActorStopped),
            Next::System(SystemMessage::Restart(Some(ack))) => {
                let _ = ack.send(Err("the actor has stopped".to_owned()));
            }
            Next::System(SystemMessage::Reply(_, Ok(reply))) => {
                cell.system
                    .dead_letter(None, &cell.name, reply, DeadLetterReason::ActorStopped);
            }
            Next::System(_) => {}
        }
    }
    if started {
        cell.system
            .events
            .publish(Event::ActorStopped { pid: pid.clone() });
    }
    cell.notify_terminated();
}

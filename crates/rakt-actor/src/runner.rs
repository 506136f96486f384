//! The loop that runs one actor: one tokio task per actor, monomorphized for its type.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use futures_util::FutureExt;
use rakt_mailbox::Next;
use rakt_proto::v1::{PoisonPill, PostStart, Terminated};

use crate::actor::Actor;
use crate::cell::{ActorCell, Envelope, SystemMessage};
use crate::context::{Context, LifecycleContext};
use crate::error::ActorError;
use crate::event::{DeadLetterReason, Event};
use crate::payload::Payload;
use crate::pid::Pid;
use crate::system::run_pre_start;

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
pub(crate) async fn run<A: Actor>(cell: Arc<ActorCell>, actor: A) {
    let me = Arc::as_ptr(&cell) as usize;
    CURRENT_ACTOR.scope(me, run_loop(cell, actor)).await;
}

/// The hot path (waiting, handling a user message) stays inline in the task; rarer paths
/// (restart, failure recovery, `Terminated`, stopping) are boxed, so that they do not make
/// every idle actor's task as large as the largest of them.
async fn run_loop<A: Actor>(cell: Arc<ActorCell>, mut actor: A) {
    let pid = Pid::from_cell(cell.clone());
    if let Some(failure) = handle(&cell, &pid, &mut actor, post_start()).await {
        if let Err(exit) = Box::pin(recover(&cell, &pid, &mut actor, failure)).await {
            Box::pin(terminate(&cell, &pid, &mut actor, exit)).await;
            return;
        }
    }
    let exit = loop {
        let Some(next) = cell.lanes.pop() else {
            cell.lanes.ready().await;
            continue;
        };
        match next {
            Next::System(SystemMessage::Stop) => break Exit::Graceful,
            Next::System(SystemMessage::Kill) => break Exit::Kill,
            Next::System(SystemMessage::Restart(ack)) => {
                let outcome = Box::pin(restart(&cell, &pid, &mut actor)).await;
                if let Some(ack) = ack {
                    let reply = match &outcome {
                        Ok(()) => Ok(()),
                        Err((error, _)) => Err(error.to_string()),
                    };
                    // The caller may have stopped waiting.
                    let _ = ack.send(reply);
                }
                if let Err((_, exit)) = outcome {
                    break exit;
                }
            }
            Next::System(SystemMessage::Terminated(gone)) => {
                if cell.remove_watching(&gone) {
                    if let Some(failure) =
                        Box::pin(handle(&cell, &pid, &mut actor, terminated(&gone))).await
                    {
                        if let Err(exit) = Box::pin(recover(&cell, &pid, &mut actor, failure)).await
                        {
                            break exit;
                        }
                    }
                }
            }
            Next::User(envelope) => {
                if envelope.message.is::<PoisonPill>() {
                    break Exit::Poison;
                }
                if let Some(failure) = handle(&cell, &pid, &mut actor, envelope).await {
                    if let Err(exit) = Box::pin(recover(&cell, &pid, &mut actor, failure)).await {
                        break exit;
                    }
                }
                // Each message spends tokio's cooperative budget, as a channel receive does,
                // so one busy actor yields its worker thread now and then.
                tokio::task::coop::consume_budget().await;
            }
        }
    };
    Box::pin(terminate(&cell, &pid, &mut actor, exit)).await;
}

fn post_start() -> Envelope {
    Envelope {
        message: Payload::new(PostStart {}),
        sender: None,
        reply: None,
    }
}

fn terminated(gone: &Pid) -> Envelope {
    let message = Terminated {
        address: gone.address().to_string(),
        terminated_at: Some(prost_types::Timestamp::from(SystemTime::now())),
    };
    Envelope {
        message: Payload::new(message),
        sender: Some(gone.clone()),
        reply: None,
    }
}

/// Handles one message; returns the failure, if the handler failed.
async fn handle<A: Actor>(
    cell: &Arc<ActorCell>,
    pid: &Pid,
    actor: &mut A,
    envelope: Envelope,
) -> Option<ActorError> {
    let Envelope {
        message,
        sender,
        reply,
    } = envelope;
    if let Some(reply) = &reply {
        if reply.is_closed() {
            // The asker stopped waiting: handling it now would answer nobody.
            cell.dead_letter(
                Envelope {
                    message,
                    sender,
                    reply: None,
                },
                DeadLetterReason::AskerGone,
            );
            return None;
        }
    }
    let mut ctx = Context::new(cell, pid, message, sender, reply);
    let clock = crate::cell::clock();
    let started = clock.map(quanta::Clock::raw);
    let outcome = AssertUnwindSafe(actor.receive(&mut ctx))
        .catch_unwind()
        .await;
    let ticks = match (clock, started) {
        (Some(clock), Some(started)) => clock.raw().wrapping_sub(started),
        _ => 0,
    };
    cell.record_handled(ticks);
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error),
        Err(panic) => Some(ActorError::from_panic(panic)),
    };
    let signalled = ctx.finish(failure.as_ref());
    failure.or(signalled)
}

/// Reacts to a failure by restarting the actor; when the restart fails too, says how the
/// actor must stop.
async fn recover<A: Actor>(
    cell: &Arc<ActorCell>,
    pid: &Pid,
    actor: &mut A,
    failure: ActorError,
) -> Result<(), Exit> {
    cell.stats.failures.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(actor = %pid, error = %failure, panic = failure.is_panic(), "actor failed, restarting");
    cell.system.events.publish(Event::ActorFailed {
        pid: pid.clone(),
        error: failure.to_string(),
    });
    restart(cell, pid, actor).await.map_err(|(error, exit)| {
        tracing::error!(actor = %pid, %error, "restart failed, stopping");
        exit
    })
}

/// `post_stop`, `pre_start`, then a fresh `PostStart`; the mailbox is untouched. On failure,
/// says how the actor must stop.
async fn restart<A: Actor>(
    cell: &Arc<ActorCell>,
    pid: &Pid,
    actor: &mut A,
) -> Result<(), (ActorError, Exit)> {
    run_post_stop(pid, actor).await;
    let retries = cell.system.config.init_retries;
    run_pre_start(actor, pid, cell.init_timeout, retries)
        .await
        .map_err(|error| (ActorError::msg(error), Exit::Broken))?;
    let restarts = cell.stats.restarts.fetch_add(1, Ordering::Relaxed) + 1;
    cell.system.events.publish(Event::ActorRestarted {
        pid: pid.clone(),
        restarts,
    });
    // The new incarnation hears `PostStart` first; its own failure ends the actor.
    match handle(cell, pid, actor, post_start()).await {
        None => Ok(()),
        Some(failure) => Err((failure, Exit::Kill)),
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
async fn terminate<A: Actor>(cell: &Arc<ActorCell>, pid: &Pid, actor: &mut A, mut exit: Exit) {
    let children = cell.begin_stopping();
    cell.lanes.close_user();
    loop {
        while let Some(next) = cell.lanes.pop() {
            match next {
                Next::System(SystemMessage::Kill) if exit != Exit::Broken => exit = Exit::Kill,
                Next::System(SystemMessage::Restart(Some(ack))) => {
                    // The caller may have stopped waiting.
                    let _ = ack.send(Err("the actor is stopping".to_owned()));
                }
                Next::System(SystemMessage::Terminated(gone)) => {
                    cell.remove_watching(&gone);
                }
                Next::System(_) => {}
                Next::User(envelope) => match exit {
                    Exit::Graceful if envelope.message.is::<PoisonPill>() => {
                        // A stop already under way meets a poison pill: what is behind it
                        // is not handled, as with a pill met while running.
                        exit = Exit::Poison;
                    }
                    Exit::Graceful => {
                        if let Some(error) = handle(cell, pid, actor, envelope).await {
                            cell.stats.failures.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(actor = %pid, %error, "actor failed while stopping");
                        }
                    }
                    Exit::Kill | Exit::Broken => {
                        cell.dead_letter(envelope, DeadLetterReason::ActorKilled)
                    }
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

    // Children first, as a tree: each child does the same before it reports stopped.
    for child in &children {
        let signal = if matches!(exit, Exit::Kill | Exit::Broken) {
            SystemMessage::Kill
        } else {
            SystemMessage::Stop
        };
        // A child that is already stopping needs no signal.
        let _ = child.cell().lanes.push_system(signal);
    }
    for child in &children {
        child.cell().wait_terminated().await;
    }

    if exit != Exit::Broken {
        run_post_stop(pid, actor).await;
    }
    finish(cell, pid);
}

/// The part of stopping that needs no actor value: also used when an actor is aborted.
pub(crate) fn finish(cell: &Arc<ActorCell>, pid: &Pid) {
    let started = cell.state() != crate::cell::state::STARTING;
    let Some(relations) = cell.finish_stopping() else {
        return;
    };
    cell.system.registry.remove(&cell.name, cell.id);
    if let Some(parent) = &cell.parent {
        parent.cell().remove_child(pid);
    }
    for watcher in relations.watchers {
        // A watcher that has stopped has nobody left to tell.
        let _ = watcher
            .cell()
            .lanes
            .push_system(SystemMessage::Terminated(pid.clone()));
    }
    for target in relations.watching {
        target.cell().remove_watcher(pid);
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

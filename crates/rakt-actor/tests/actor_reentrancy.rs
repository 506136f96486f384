//! Reentrancy: requests whose continuations run in the requester's own task, the modes
//! (off, allow-all, stash-non-reentrant), timeouts, cancellation, the in-flight limit, call
//! cycles, and a stress test that catches two handlers running at once.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rakt_actor::messages::PostStart;
use rakt_actor::{
    Actor, ActorError, ActorSystem, AskError, Context, FnActor, Pid, Reentrancy, ReentrancyMode,
    RequestError, RequestRef, SpawnError, SpawnOptions,
};
use support::{Fail, Ping, Pong, Sleep, eventually, log, wait_for};

fn reentrant(mode: ReentrancyMode) -> SpawnOptions {
    SpawnOptions::new().reentrancy(Reentrancy::new(mode))
}

/// Answers `Ping` with `Pong`, after `Sleep`-many milliseconds if it gets a `Sleep` first.
async fn worker(system: &ActorSystem, name: &str, delay: Duration) -> Pid {
    system
        .spawn(
            name,
            FnActor::new(move |ctx: &mut Context<'_, FnActor>| {
                if let Some(ping) = ctx.take_message::<Ping>() {
                    match ctx.defer_reply() {
                        Some(responder) if !delay.is_zero() => {
                            tokio::spawn(async move {
                                tokio::time::sleep(delay).await;
                                responder.respond(Pong { n: ping.n });
                            });
                        }
                        Some(responder) => responder.respond(Pong { n: ping.n }),
                        None => {}
                    }
                }
                Ok(())
            }),
        )
        .await
        .expect("spawn worker")
}

/// On `Ping { n }` from outside, requests `Ping { n }` from its worker and logs the
/// continuation; on `Pong`, a direct message, logs it; keeps the last request's handle, and
/// cancels it on `Fail`.
struct Requester {
    worker: Pid,
    log: support::Log,
    timeout: Duration,
    last: Option<RequestRef>,
}

impl Actor for Requester {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if let Some(ping) = ctx.take_message::<Ping>() {
            let n = ping.n;
            self.log.lock().push(format!("request{n}"));
            let worker = self.worker.clone();
            let request = ctx
                .request::<Pong, _>(&worker, ping)
                .timeout(self.timeout)
                .then(move |me: &mut Self, _ctx, reply| {
                    let line = match reply {
                        Ok(pong) => format!("reply{}", pong.n),
                        Err(AskError::Timeout { .. }) => format!("timeout{n}"),
                        Err(AskError::Cancelled { .. }) => format!("cancelled{n}"),
                        Err(other) => format!("error{n}:{other}"),
                    };
                    me.log.lock().push(line);
                    Ok(())
                })?;
            self.last = Some(request);
        } else if let Some(pong) = ctx.message::<Pong>() {
            let n = pong.n;
            self.log.lock().push(format!("direct{n}"));
            if let Some(asker) = ctx.defer_reply() {
                asker.respond(Pong { n });
            }
        } else if ctx.is::<Fail>() {
            if let Some(last) = &self.last {
                self.log.lock().push(format!("cancel:{}", last.cancel()));
            }
        }
        Ok(())
    }
}

async fn requester(
    system: &ActorSystem,
    worker: &Pid,
    mode: ReentrancyMode,
    timeout: Duration,
) -> (Pid, support::Log) {
    let log = log();
    let actor = Requester {
        worker: worker.clone(),
        log: log.clone(),
        timeout,
        last: None,
    };
    let pid = system
        .spawn_with("requester", actor, reentrant(mode))
        .await
        .expect("spawn requester");
    (pid, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_all_handles_other_messages_while_a_request_is_in_flight() {
    let system = ActorSystem::builder("allow").build().expect("build");
    let slow = worker(&system, "slow", Duration::from_millis(300)).await;
    let (pid, log) = requester(
        &system,
        &slow,
        ReentrancyMode::AllowAll,
        Duration::from_secs(5),
    )
    .await;
    pid.tell(Ping { n: 1 }).await.expect("tell");
    // Answered at once, while the request waits for the slow worker.
    let pong: Pong = pid
        .ask(Pong { n: 7 })
        .await
        .expect("not blocked by the request");
    assert_eq!(pong.n, 7);
    let seen = wait_for(&log, |l| l.iter().any(|e| e == "reply1")).await;
    assert_eq!(seen, ["request1", "direct7", "reply1"]);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stash_non_reentrant_holds_user_messages_until_the_reply() {
    let system = ActorSystem::builder("hold").build().expect("build");
    let slow = worker(&system, "slow", Duration::from_millis(200)).await;
    let mode = ReentrancyMode::StashNonReentrant;
    let (pid, log) = requester(&system, &slow, mode, Duration::from_secs(5)).await;
    pid.tell(Ping { n: 1 }).await.expect("tell");
    for n in 10..13 {
        pid.tell(Pong { n }).await.expect("tell");
    }
    let seen = wait_for(&log, |l| l.len() == 5).await;
    assert_eq!(
        seen,
        ["request1", "reply1", "direct10", "direct11", "direct12"]
    );
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_times_out_or_is_cancelled_into_its_continuation() {
    let system = ActorSystem::builder("late").build().expect("build");
    let silent = system.spawn_fn("silent", |ctx| {
        // Keeps the question, so the asker waits for the timeout.
        std::mem::forget(ctx.defer_reply());
        Ok(())
    });
    let silent = silent.await.expect("spawn");
    let mode = ReentrancyMode::AllowAll;
    let (pid, log) = requester(&system, &silent, mode, Duration::from_millis(50)).await;
    pid.tell(Ping { n: 1 }).await.expect("tell");
    wait_for(&log, |l| l.iter().any(|e| e == "timeout1")).await;
    system.stop().await.expect("stop");

    let system = ActorSystem::builder("cancel").build().expect("build");
    let slow = worker(&system, "slow", Duration::from_millis(500)).await;
    let (pid, log) = requester(&system, &slow, mode, Duration::from_secs(5)).await;
    pid.tell(Ping { n: 2 }).await.expect("tell");
    pid.tell(Fail { panic: false }).await.expect("tell");
    let seen = wait_for(&log, |l| l.iter().any(|e| e == "cancelled2")).await;
    assert_eq!(seen, ["request2", "cancel:true", "cancelled2"]);
    // The cancelled question, or the worker's reply if it was already handling it, is a dead
    // letter: nobody waits for either.
    eventually(|| system.dead_letter_count() > 0).await;
    assert_eq!(system.dead_letter_count(), 1);
    assert!(!log.lock().iter().any(|e| e.starts_with("reply")));
    system.stop().await.expect("stop");
}

/// Makes one request on `PostStart` with the given setup, and reports what `then` returned.
struct Probe {
    target: Option<Pid>,
    mode: Option<ReentrancyMode>,
    outcome: Arc<Mutex<Vec<Result<(), RequestError>>>>,
    attempts: usize,
}

impl Actor for Probe {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            let target = self.target.clone().unwrap_or_else(|| ctx.pid().clone());
            for n in 0..self.attempts {
                let mut request = ctx
                    .request::<Pong, _>(&target, Ping { n: n as u64 })
                    .timeout(Duration::from_secs(5));
                if let Some(mode) = self.mode {
                    request = request.mode(mode);
                }
                let made = request.then(|_me, _ctx, _reply| Ok(())).map(|_| ());
                self.outcome.lock().push(made);
            }
        }
        Ok(())
    }
}

async fn probe(
    system: &ActorSystem,
    name: &str,
    target: Option<&Pid>,
    options: SpawnOptions,
    mode: Option<ReentrancyMode>,
    attempts: usize,
) -> Vec<Result<(), RequestError>> {
    let outcome = Arc::new(Mutex::new(Vec::new()));
    let actor = Probe {
        target: target.cloned(),
        mode,
        outcome: outcome.clone(),
        attempts,
    };
    system
        .spawn_with(name, actor, options)
        .await
        .expect("spawn probe");
    eventually(|| outcome.lock().len() == attempts).await;
    let made: Vec<_> = outcome.lock().drain(..).collect();
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_refused_when_off_over_the_limit_or_to_oneself() {
    let system = ActorSystem::builder("refused").build().expect("build");
    let slow = worker(&system, "slow", Duration::from_millis(500)).await;
    let off = probe(&system, "off", Some(&slow), SpawnOptions::new(), None, 1).await;
    assert_eq!(off, [Err(RequestError::Disabled)]);
    let allow = reentrant(ReentrancyMode::AllowAll);
    let per_call_off = Some(ReentrancyMode::Off);
    let made = probe(
        &system,
        "per-call",
        Some(&slow),
        allow.clone(),
        per_call_off,
        1,
    )
    .await;
    assert_eq!(made, [Err(RequestError::Disabled)]);
    let own = probe(&system, "self", None, allow, None, 1).await;
    assert!(
        matches!(own[..], [Err(RequestError::SelfRequest { .. })]),
        "{own:?}"
    );
    let limited =
        SpawnOptions::new().reentrancy(Reentrancy::new(ReentrancyMode::AllowAll).max_in_flight(2));
    let made = probe(&system, "limited", Some(&slow), limited, None, 3).await;
    assert_eq!(
        made,
        [
            Ok(()),
            Ok(()),
            Err(RequestError::InFlightLimit { limit: 2 })
        ]
    );

    let zero =
        SpawnOptions::new().reentrancy(Reentrancy::new(ReentrancyMode::AllowAll).max_in_flight(0));
    let refused = system
        .spawn_with("zero", FnActor::new(|_ctx| Ok(())), zero)
        .await;
    assert!(
        matches!(refused, Err(SpawnError::InvalidReentrancy { .. })),
        "{refused:?}"
    );
    system.stop().await.expect("stop");
}

/// On `Ping` from outside, requests `Pong` from its peer and answers with the reply; on
/// `Pong`, requests `Sleep` from its peer and answers the `Pong` once that reply is in; on
/// `Sleep`, answers at once. Two of them, each the other's peer, make a call cycle.
struct Cyclic {
    peer: Arc<std::sync::OnceLock<Pid>>,
}

impl Actor for Cyclic {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        let Some(peer) = self.peer.get().cloned() else {
            return Ok(());
        };
        if let Some(ping) = ctx.take_message::<Ping>() {
            let asker = ctx.defer_reply();
            ctx.request::<Pong, _>(&peer, Pong { n: ping.n }).then(
                move |_me: &mut Self, _ctx, reply| {
                    if let (Some(asker), Ok(pong)) = (asker, reply) {
                        asker.respond(pong);
                    }
                    Ok(())
                },
            )?;
        } else if let Some(pong) = ctx.take_message::<Pong>() {
            // The peer's request waits for this answer, which needs the peer again.
            let asker = ctx.defer_reply();
            ctx.request::<Sleep, _>(&peer, Sleep { millis: 0 })
                .then(move |_me, _ctx, reply| {
                    if let (Some(asker), Ok(_)) = (asker, reply) {
                        asker.respond(Pong { n: pong.n + 1 });
                    }
                    Ok(())
                })?;
        } else if ctx.is::<Sleep>() {
            ctx.respond(Sleep { millis: 0 });
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_actors_requesting_from_each_other_do_not_deadlock() {
    let system = ActorSystem::builder("cycle").build().expect("build");
    let (peer_of_a, peer_of_b) = (Arc::default(), Arc::default());
    let options = reentrant(ReentrancyMode::AllowAll);
    let a = Cyclic {
        peer: Arc::clone(&peer_of_a),
    };
    let a = system
        .spawn_with("a", a, options.clone())
        .await
        .expect("spawn a");
    let b = Cyclic {
        peer: Arc::clone(&peer_of_b),
    };
    let b = system.spawn_with("b", b, options).await.expect("spawn b");
    peer_of_a.set(b).expect("set once");
    peer_of_b.set(a.clone()).expect("set once");
    // a requests from b, which requests from a while a's request waits: with blocking asks
    // this would wait for the timeout.
    let pong: Pong = tokio::time::timeout(Duration::from_secs(5), a.ask(Ping { n: 1 }))
        .await
        .expect("no deadlock")
        .expect("answered");
    assert_eq!(pong.n, 2);
    system.stop().await.expect("stop");
}

/// Marks itself busy for the whole of every handler and continuation, yielding inside
/// handlers: a second one starting meanwhile is counted as an overlap.
struct Guarded {
    workers: Vec<Pid>,
    busy: Arc<AtomicBool>,
    overlaps: Arc<AtomicU64>,
    continued: Arc<AtomicU64>,
    handled: Arc<AtomicU64>,
}

fn enter(busy: &AtomicBool, overlaps: &AtomicU64) {
    if busy.swap(true, Ordering::SeqCst) {
        overlaps.fetch_add(1, Ordering::SeqCst);
    }
}

impl Actor for Guarded {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        enter(&self.busy, &self.overlaps);
        if let Some(ping) = ctx.take_message::<Ping>() {
            let worker = self.workers[(ping.n as usize) % self.workers.len()].clone();
            ctx.request::<Pong, _>(&worker, ping)
                .then(|me: &mut Self, _ctx, reply| {
                    enter(&me.busy, &me.overlaps);
                    assert!(reply.is_ok(), "{reply:?}");
                    me.continued.fetch_add(1, Ordering::SeqCst);
                    me.busy.store(false, Ordering::SeqCst);
                    Ok(())
                })?;
        } else if ctx.is::<Pong>() {
            self.handled.fetch_add(1, Ordering::SeqCst);
        }
        // Replies arrive from other threads meanwhile.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.busy.store(false, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reentrant_requests_never_run_two_handlers_at_once() {
    let system = ActorSystem::builder("stress").build().expect("build");
    let mut workers = Vec::new();
    for i in 0..4 {
        workers.push(worker(&system, &format!("worker-{i}"), Duration::ZERO).await);
    }
    let (busy, overlaps) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let (continued, handled) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let guarded = Guarded {
        workers,
        busy,
        overlaps: overlaps.clone(),
        continued: continued.clone(),
        handled: handled.clone(),
    };
    let pid = system
        .spawn_with("guarded", guarded, reentrant(ReentrancyMode::AllowAll))
        .await
        .expect("spawn");
    let rounds = 2_000;
    let (a, b) = (pid.clone(), pid.clone());
    let requests = tokio::spawn(async move {
        for n in 0..rounds {
            a.tell(Ping { n }).await.expect("tell");
        }
    });
    let directs = tokio::spawn(async move {
        for n in 0..rounds {
            b.tell(Pong { n }).await.expect("tell");
        }
    });
    requests.await.expect("requests sent");
    directs.await.expect("directs sent");
    eventually(|| {
        continued.load(Ordering::SeqCst) == rounds && handled.load(Ordering::SeqCst) == rounds
    })
    .await;
    assert_eq!(continued.load(Ordering::SeqCst), rounds);
    assert_eq!(handled.load(Ordering::SeqCst), rounds);
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_cancels_requests_in_flight_and_frees_what_they_held() {
    let system = ActorSystem::builder("restart").build().expect("build");
    let slow = worker(&system, "slow", Duration::from_millis(200)).await;
    let mode = ReentrancyMode::StashNonReentrant;
    let (pid, log) = requester(&system, &slow, mode, Duration::from_secs(5)).await;
    pid.tell(Ping { n: 1 }).await.expect("tell");
    pid.tell(Pong { n: 5 }).await.expect("held by the request");
    wait_for(&log, |l| l.iter().any(|e| e == "request1")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        *log.lock(),
        ["request1"],
        "held while the request is in flight"
    );
    pid.restart().await.expect("restart");
    let seen = wait_for(&log, |l| l.iter().any(|e| e == "direct5")).await;
    assert_eq!(seen, ["request1", "direct5"]);
    // The reply to the cancelled request is a dead letter, and its continuation never runs.
    eventually(|| system.dead_letter_count() > 0).await;
    assert_eq!(system.dead_letter_count(), 1);
    assert!(!log.lock().iter().any(|e| e.starts_with("reply")));
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_pill_behind_held_messages_waits_its_turn() {
    let system = ActorSystem::builder("pill").build().expect("build");
    let slow = worker(&system, "slow", Duration::from_millis(100)).await;
    let mode = ReentrancyMode::StashNonReentrant;
    let (pid, log) = requester(&system, &slow, mode, Duration::from_secs(5)).await;
    pid.tell(Ping { n: 1 }).await.expect("tell");
    pid.tell(Pong { n: 5 }).await.expect("tell");
    pid.tell(rakt_actor::messages::PoisonPill {})
        .await
        .expect("tell");
    pid.tell(Pong { n: 6 }).await.expect("tell");
    tokio::time::timeout(Duration::from_secs(5), pid.wait_stopped())
        .await
        .expect("stops at the pill")
        .expect("not its own");
    assert_eq!(*log.lock(), ["request1", "reply1", "direct5"]);
    assert_eq!(system.dead_letter_count(), 1, "the message behind the pill");
    system.stop().await.expect("stop");
}

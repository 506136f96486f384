//! The test kit testing the actor features: supervision, the stash and routers, as a user's
//! tests would.

mod support;

use std::time::Duration;

use rakt_actor::messages::Terminated;
use rakt_actor::{
    Actor, ActorError, Broadcast, Context, DeadLetterReason, DeadRoutee, Directive, Event, Pid,
    Router, Routing, SpawnOptions, Supervisor,
};
use rakt_proto::v1::PostStart;
use rakt_testkit::TestKit;
use support::{Echo, Fail, Open, Ping, Pong};

const SHORT: Duration = Duration::from_millis(80);

/// Counts its `Ping`s and answers each with the count so far; fails on `Fail`.
#[derive(Default)]
struct Counter {
    count: u64,
}

impl Actor for Counter {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<Ping>() {
            self.count += 1;
            ctx.respond(Pong { n: self.count });
        } else if let Some(fail) = ctx.take_message::<Fail>() {
            return Err(ActorError::msg(fail.reason));
        }
        Ok(())
    }
}

#[tokio::test]
async fn supervision_restart_gives_a_fresh_state() {
    let kit = TestKit::new();
    let counter = kit
        .system()
        .spawn_factory("counter", Counter::default, SpawnOptions::new())
        .await
        .unwrap();
    let mut probe = kit.probe().await.unwrap();
    probe.tell(&counter, Ping { n: 0 }).await.unwrap();
    probe.tell(&counter, Ping { n: 0 }).await.unwrap();
    probe.expect_message(Pong { n: 1 }).await;
    probe.expect_message(Pong { n: 2 }).await;

    probe
        .tell(
            &counter,
            Fail {
                reason: "boom".into(),
            },
        )
        .await
        .unwrap();
    let failed = kit
        .expect_event(|e| matches!(e, Event::ActorFailed { pid, .. } if pid.name() == "counter"))
        .await;
    assert!(matches!(failed, Event::ActorFailed { error, .. } if error.contains("boom")));
    kit.expect_event(
        |e| matches!(e, Event::ActorRestarted { pid, restarts: 1 } if pid.name() == "counter"),
    )
    .await;

    // Same Pid and mailbox, fresh count.
    probe.tell(&counter, Ping { n: 0 }).await.unwrap();
    probe.expect_message(Pong { n: 1 }).await;
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn supervision_resume_keeps_the_state() {
    let kit = TestKit::new();
    let resume =
        SpawnOptions::new().supervisor(Supervisor::new().default_directive(Directive::Resume));
    let counter = kit
        .spawn_with("counter", Counter::default(), resume)
        .await
        .unwrap();
    let mut probe = kit.probe().await.unwrap();
    probe.tell(&counter, Ping { n: 0 }).await.unwrap();
    probe
        .tell(
            &counter,
            Fail {
                reason: "hiccup".into(),
            },
        )
        .await
        .unwrap();
    probe.tell(&counter, Ping { n: 0 }).await.unwrap();
    probe.expect_message(Pong { n: 1 }).await;
    probe.expect_message(Pong { n: 2 }).await;
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn supervision_stop_ends_the_actor_and_later_messages_are_dead_letters() {
    let kit = TestKit::new();
    let stop = SpawnOptions::new().supervisor(Supervisor::new().default_directive(Directive::Stop));
    let counter = kit
        .spawn_with("counter", Counter::default(), stop)
        .await
        .unwrap();
    let mut probe = kit.probe().await.unwrap();
    probe.watch(&counter);
    probe
        .tell(
            &counter,
            Fail {
                reason: "fatal".into(),
            },
        )
        .await
        .unwrap();
    probe.expect_terminated(&counter).await;

    let _ = probe.tell(&counter, Ping { n: 9 }).await;
    let letter = kit.expect_dead_letter(Ping { n: 9 }).await;
    assert_eq!(letter.reason(), DeadLetterReason::ActorStopped);
    assert_eq!(letter.sender(), Some(probe.pid()));
    kit.stop().await.unwrap();
}

/// Spawns a `counter` child on start, which escalates its failures to this actor.
struct Parent;

impl Actor for Parent {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            let escalate = SpawnOptions::new()
                .supervisor(Supervisor::new().default_directive(Directive::Escalate));
            ctx.spawn_child_with("counter", Counter::default(), escalate)
                .await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn supervision_escalation_restarts_the_parent_and_its_child() {
    let kit = TestKit::new();
    let parent = kit.spawn("parent", Parent).await.unwrap();
    let mut probe = kit.probe().await.unwrap();
    let first = probe.expect_child_spawned(&parent, "counter").await;
    probe.watch(&first);

    probe
        .tell(
            &first,
            Fail {
                reason: "escalate me".into(),
            },
        )
        .await
        .unwrap();
    kit.expect_event(|e| matches!(e, Event::ActorRestarted { pid, .. } if pid.name() == "parent"))
        .await;
    // The old child stopped with the parent's restart, and a new one took its name.
    probe.expect_terminated(&first).await;
    let second = probe.expect_child_spawned(&parent, "counter").await;
    assert_ne!(second, first);
    probe.tell(&second, Ping { n: 0 }).await.unwrap();
    probe.expect_message(Pong { n: 1 }).await;
    kit.stop().await.unwrap();
}

/// Stashes `Ping`s until an `Open` arrives, then answers them all, in order.
#[derive(Default)]
struct Gate {
    open: bool,
}

impl Actor for Gate {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<Open>() {
            self.open = true;
            ctx.unstash_all();
        } else if let Some(ping) = ctx.message::<Ping>() {
            if self.open {
                let n = ping.n;
                ctx.respond(Pong { n });
            } else {
                ctx.stash()?;
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn stash_holds_messages_until_the_gate_opens() {
    let kit = TestKit::new();
    let gate = kit
        .spawn_with(
            "gate",
            Gate::default(),
            SpawnOptions::new().stash_capacity(8),
        )
        .await
        .unwrap();
    let mut probe = kit.probe().await.unwrap();
    for n in 1..=3 {
        probe.tell(&gate, Ping { n }).await.unwrap();
    }
    probe.expect_no_message(SHORT).await;
    assert_eq!(gate.metrics().stash_len, 3);

    gate.tell(Open { n: 0 }).await.unwrap();
    // The stashed messages keep their sender, the probe, and their order.
    let replies = probe.receive_n(3).await;
    let numbers: Vec<u64> = replies
        .iter()
        .filter_map(|m| m.downcast_ref::<Pong>())
        .map(|p| p.n)
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    probe.tell(&gate, Ping { n: 4 }).await.unwrap();
    probe.expect_message(Pong { n: 4 }).await;
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn a_full_stash_turns_the_message_into_a_dead_letter() {
    let kit = TestKit::new();
    let resume = Supervisor::new().default_directive(Directive::Resume);
    let options = SpawnOptions::new().stash_capacity(2).supervisor(resume);
    let gate = kit
        .spawn_with("gate", Gate::default(), options)
        .await
        .unwrap();
    let probe = kit.probe().await.unwrap();
    for n in 1..=3 {
        probe.tell(&gate, Ping { n }).await.unwrap();
    }
    let letter = kit.expect_dead_letter(Ping { n: 3 }).await;
    assert_eq!(letter.reason(), DeadLetterReason::StashFull);
    assert_eq!(kit.dead_letters().len(), 1, "only the third ping was lost");
    kit.stop().await.unwrap();
}

/// A pool of three echoes; behind a router named `pool`, they are `pool-0` to `pool-2`.
fn echoes(routing: Routing) -> Router {
    Router::pool(3, || Echo).routing(routing)
}

#[tokio::test]
async fn a_round_robin_router_spreads_messages_over_its_routees() {
    let kit = TestKit::new();
    let router = kit
        .spawn_router("pool", echoes(Routing::RoundRobin))
        .await
        .unwrap();
    let mut probe = kit.probe().await.unwrap();
    for n in 0..3 {
        probe
            .expect_child_spawned(&router, &format!("pool-{n}"))
            .await;
    }
    let mut answered_by = Vec::new();
    for n in 0..6 {
        probe.tell(&router, Ping { n }).await.unwrap();
        probe.expect_message(Pong { n }).await;
        // The routees answer the original sender, the probe, directly.
        answered_by.push(
            probe
                .sender()
                .map(|s| s.name().to_owned())
                .unwrap_or_default(),
        );
    }
    let first = answered_by[..3].to_vec();
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(sorted, ["pool-0", "pool-1", "pool-2"]);
    assert_eq!(answered_by[3..], first[..], "round robin repeats its order");
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn a_broadcast_reaches_every_routee() {
    let kit = TestKit::new();
    let router = kit
        .spawn_router("pool", echoes(Routing::Random))
        .await
        .unwrap();
    let mut probe = kit.probe().await.unwrap();
    probe
        .tell(&router, Broadcast::new(Ping { n: 7 }))
        .await
        .unwrap();
    let mut senders: Vec<Pid> = Vec::new();
    for _ in 0..3 {
        probe.expect_message(Pong { n: 7 }).await;
        senders.extend(probe.sender().cloned());
    }
    senders.sort_by_key(|p| p.name().to_owned());
    senders.dedup();
    assert_eq!(senders.len(), 3);
    probe.expect_no_message(SHORT).await;
    kit.stop().await.unwrap();
}

#[tokio::test]
async fn a_router_replaces_a_dead_routee() {
    let kit = TestKit::new();
    let router = kit
        .spawn_router(
            "pool",
            echoes(Routing::RoundRobin).on_dead_routee(DeadRoutee::Replace),
        )
        .await
        .unwrap();
    let mut probe = kit.probe().await.unwrap();
    let routees = router.children();
    assert_eq!(routees.len(), 3);
    for routee in &routees {
        probe.watch(routee);
    }
    // Routees stop on failure by default: the routee that gets `Fail` stops.
    let fail = Fail {
        reason: "routee down".into(),
    };
    probe.tell(&router, fail).await.unwrap();
    let gone = probe.expect_message_of_type::<Terminated>().await;
    let dead = probe.sender().cloned().unwrap();
    assert!(routees.contains(&dead));
    assert_eq!(gone.address, dead.address().to_string());

    // The router spawns the next routee in its place.
    let replacement = probe.expect_child_spawned(&router, "pool-3").await;
    let now = router.children();
    assert_eq!(now.len(), 3);
    assert!(now.contains(&replacement) && !now.contains(&dead));
    kit.stop().await.unwrap();
}

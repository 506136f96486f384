//! Supervision: directives, strategies, rules, the restart budget, backoff, suspension,
//! reinstatement and escalation.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rakt_actor::{
    Actor, ActorError, ActorSystem, Backoff, Context, DeadLetterReason, Directive, Escalated,
    Event, LifecycleContext, Pid, SpawnError, SpawnOptions, StopError, Strategy, Supervisor,
    SystemError,
};
use rakt_proto::v1::PostStart;
use support::{Log, Ping, Pong, log, next_event, wait_for};

/// Makes the receiver fail: `kind` picks the error.
#[derive(Clone, PartialEq, prost::Message)]
struct Crash {
    #[prost(string, tag = "1")]
    kind: String,
}

impl prost::Name for Crash {
    const NAME: &'static str = "Crash";
    const PACKAGE: &'static str = "test.v1";
}

fn crash(kind: &str) -> Crash {
    Crash { kind: kind.into() }
}

#[derive(Debug, thiserror::Error)]
#[error("transient trouble")]
struct Transient;

#[derive(Debug, thiserror::Error)]
#[error("fatal trouble")]
struct Fatal;

/// Counts pings in its state, answers each with the count so far, and fails on `Crash`.
struct Counter {
    count: u64,
    label: String,
    log: Log,
}

impl Counter {
    fn factory(log: &Log, label: &str) -> impl Fn() -> Counter + Send + Sync + 'static {
        let log = log.clone();
        let label = label.to_owned();
        move || Counter {
            count: 0,
            label: label.clone(),
            log: log.clone(),
        }
    }
}

fn fail(kind: &str) -> Result<(), ActorError> {
    match kind {
        "transient" => Err(Transient.into()),
        "fatal" => Err(Fatal.into()),
        "panic" => panic!("asked to panic"),
        other => Err(ActorError::msg(format!("asked to fail: {other}"))),
    }
}

impl Actor for Counter {
    async fn pre_start(&mut self, _ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        self.log.lock().push(format!("{}:pre_start", self.label));
        Ok(())
    }

    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<Ping>() {
            self.count += 1;
            self.log
                .lock()
                .push(format!("{}:ping{}", self.label, self.count));
            ctx.respond(Pong { n: self.count });
        } else if let Some(crash) = ctx.message::<Crash>() {
            let kind = crash.kind.clone();
            self.log.lock().push(format!("{}:crash:{kind}", self.label));
            return fail(&kind);
        }
        Ok(())
    }

    async fn post_stop(&mut self, _ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        self.log.lock().push(format!("{}:post_stop", self.label));
        Ok(())
    }
}

/// Spawns counters as children on every `PostStart`, each with `child_options`.
struct Parent {
    children: Vec<&'static str>,
    child_options: SpawnOptions,
    log: Log,
}

impl Actor for Parent {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            for name in &self.children {
                let factory = Counter::factory(&self.log, name);
                ctx.spawn_child_factory(name, factory, self.child_options.clone())
                    .await?;
            }
            self.log.lock().push("parent:post_start".to_owned());
        } else if let Some(crash) = ctx.message::<Crash>() {
            let kind = crash.kind.clone();
            return fail(&kind);
        }
        Ok(())
    }
}

async fn spawn_counter(system: &ActorSystem, log: &Log, name: &str, supervisor: Supervisor) -> Pid {
    let options = SpawnOptions::new().supervisor(supervisor);
    system
        .spawn_factory(name, Counter::factory(log, name), options)
        .await
        .expect("spawn")
}

async fn ping(pid: &Pid) -> u64 {
    let pong: Pong = pid.ask(Ping { n: 0 }).await.expect("ping");
    pong.n
}

/// Waits, bounded, until `pred` holds for `pid`.
async fn until(pid: &Pid, what: &str, pred: impl Fn(&Pid) -> bool) {
    for _ in 0..1000 {
        if pred(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{} never became {what}", pid.name());
}

async fn stopped(pid: &Pid) {
    tokio::time::timeout(Duration::from_secs(5), pid.wait_stopped())
        .await
        .expect("stopped within 5 s")
        .expect("wait");
}

#[tokio::test]
async fn a_restart_starts_a_factory_actor_afresh_and_keeps_its_name_and_mailbox() {
    let system = ActorSystem::builder("fresh").build().expect("system");
    let log = log();
    let pid = spawn_counter(&system, &log, "c", Supervisor::new()).await;
    for expected in 1..=3 {
        assert_eq!(ping(&pid).await, expected);
    }
    // The crash and the five pings behind it are queued together: the pings wait out the
    // restart and are handled by the new incarnation.
    pid.tell(crash("boom")).await.expect("tell");
    for _ in 0..5 {
        pid.tell(Ping { n: 0 }).await.expect("tell");
    }
    assert_eq!(ping(&pid).await, 6, "fresh state, no message lost");
    assert_eq!(pid.metrics().restarts, 1);
    assert_eq!(pid.metrics().failures, 1);
    assert_eq!(
        system.local_actor("c"),
        Some(pid.clone()),
        "same name, same pid"
    );
    let entries = log.lock().clone();
    let crash_at = entries
        .iter()
        .position(|e| e == "c:crash:boom")
        .expect("crash");
    assert_eq!(
        &entries[crash_at + 1..crash_at + 3],
        ["c:post_stop", "c:pre_start"],
        "post_stop then pre_start: {entries:?}"
    );
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn a_restart_of_a_value_keeps_the_value() {
    let system = ActorSystem::builder("kept").build().expect("system");
    let log = log();
    let counter = Counter::factory(&log, "v")();
    let pid = system.spawn("v", counter).await.expect("spawn");
    assert_eq!(ping(&pid).await, 1);
    pid.tell(crash("boom")).await.expect("tell");
    assert_eq!(ping(&pid).await, 2, "a value-spawned actor keeps its state");
    assert_eq!(pid.metrics().restarts, 1);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn resume_keeps_the_state_and_does_not_restart() {
    let system = ActorSystem::builder("resume").build().expect("system");
    let log = log();
    let supervisor = Supervisor::new().on_error::<Transient>(Directive::Resume);
    let pid = spawn_counter(&system, &log, "c", supervisor).await;
    assert_eq!(ping(&pid).await, 1);
    pid.tell(crash("transient")).await.expect("tell");
    assert_eq!(ping(&pid).await, 2);
    let metrics = pid.metrics();
    assert_eq!((metrics.failures, metrics.restarts), (1, 0));
    assert!(!log.lock().iter().any(|e| e == "c:post_stop"));
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn stop_ends_the_actor_and_dead_letters_what_was_queued() {
    let system = ActorSystem::builder("stop").build().expect("system");
    let log = log();
    let supervisor = Supervisor::new().on_error::<Fatal>(Directive::Stop);
    let pid = spawn_counter(&system, &log, "c", supervisor).await;
    let mut events = system.subscribe();
    // The crash is first in line; the pings behind it are never handled.
    pid.tell(crash("fatal")).await.expect("tell");
    for _ in 0..3 {
        // Pings that arrive after the stop are refused: either way they are dead letters.
        let _ = pid.tell(Ping { n: 0 }).await;
    }
    stopped(&pid).await;
    assert!(!log.lock().iter().any(|e| e.starts_with("c:ping")));
    let mut dead = 0;
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(200), events.recv()).await
    {
        if let Event::DeadLetter(letter) = event {
            assert_eq!(letter.reason(), DeadLetterReason::ActorStopped);
            dead += 1;
        }
    }
    assert_eq!(
        dead, 3,
        "every ping behind the fatal failure is a dead letter"
    );
    assert_eq!(pid.metrics().restarts, 0);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn rules_pick_the_directive_by_error_type_and_panic() {
    let system = ActorSystem::builder("rules").build().expect("system");
    let log = log();
    let supervisor = Supervisor::new()
        .on_error::<Transient>(Directive::Resume)
        .on_panic(Directive::Stop)
        .default_directive(Directive::Restart);
    let pid = spawn_counter(&system, &log, "c", supervisor).await;
    assert_eq!(ping(&pid).await, 1);
    pid.tell(crash("transient")).await.expect("tell");
    assert_eq!(ping(&pid).await, 2, "resumed");
    pid.tell(crash("other")).await.expect("tell");
    assert_eq!(ping(&pid).await, 1, "restarted by the default");
    pid.tell(crash("panic")).await.expect("tell");
    stopped(&pid).await;
    let metrics = pid.metrics();
    assert_eq!((metrics.failures, metrics.restarts), (3, 1));
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn the_retry_budget_stops_the_actor_once_spent() {
    let system = ActorSystem::builder("budget").build().expect("system");
    let log = log();
    let supervisor = Supervisor::new().retry(2, Duration::from_secs(60));
    let pid = spawn_counter(&system, &log, "c", supervisor).await;
    for round in 1..=2 {
        pid.tell(crash("boom")).await.expect("tell");
        assert_eq!(ping(&pid).await, 1, "restarted in round {round}");
    }
    assert_eq!(pid.metrics().restarts, 2);
    pid.tell(crash("boom")).await.expect("tell");
    stopped(&pid).await;
    assert_eq!(pid.metrics().restarts, 2, "the third failure stopped it");
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn backoff_delays_each_restart_as_configured() {
    let system = ActorSystem::builder("backoff").build().expect("system");
    let log = log();
    let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_millis(400))
        .reset_after(Duration::from_secs(60));
    let pid = spawn_counter(&system, &log, "c", Supervisor::new().backoff(backoff)).await;
    let mut events = system.subscribe();
    let expected = [100, 200, 400, 400].map(Duration::from_millis);
    for (round, delay) in expected.into_iter().enumerate() {
        let starts_before = log.lock().iter().filter(|e| *e == "c:pre_start").count();
        let sent = Instant::now();
        pid.tell(crash("boom")).await.expect("tell");
        let suspended =
            next_event(&mut events, |e| matches!(e, Event::ActorSuspended { .. })).await;
        assert!(
            matches!(suspended, Event::ActorSuspended { ref reason, .. } if reason.contains("restarting in"))
        );
        assert!(pid.is_suspended() || pid.metrics().restarts as usize > round);
        wait_for(&log, |entries| {
            entries.iter().filter(|e| *e == "c:pre_start").count() > starts_before
        })
        .await;
        let waited = sent.elapsed();
        assert!(
            waited >= delay - Duration::from_millis(2),
            "round {round}: restarted after {waited:?}, before the {delay:?} backoff"
        );
        assert!(
            waited < delay + Duration::from_secs(1),
            "round {round}: restarted after {waited:?}, long after the {delay:?} backoff"
        );
        next_event(&mut events, |e| matches!(e, Event::ActorRestarted { .. })).await;
    }
    assert_eq!(ping(&pid).await, 1);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn a_suspended_actor_keeps_its_messages_until_reinstated() {
    let system = ActorSystem::builder("suspended").build().expect("system");
    let log = log();
    let hour = Duration::from_secs(3600);
    let supervisor = Supervisor::new().backoff(Backoff::exponential(hour, hour));
    let pid = spawn_counter(&system, &log, "c", supervisor).await;
    let mut events = system.subscribe();
    assert_eq!(ping(&pid).await, 1);
    assert!(matches!(
        pid.reinstate(),
        Err(StopError::NotSuspended { .. })
    ));
    pid.tell(crash("boom")).await.expect("tell");
    until(&pid, "suspended", Pid::is_suspended).await;
    assert!(!pid.is_running());
    for _ in 0..3 {
        pid.tell(Ping { n: 0 })
            .await
            .expect("queued while suspended");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        pid.metrics().mailbox_len,
        3,
        "nothing handled while suspended"
    );
    pid.reinstate().expect("reinstate");
    next_event(&mut events, |e| matches!(e, Event::ActorReinstated { .. })).await;
    assert_eq!(
        ping(&pid).await,
        5,
        "the queued pings ran on the kept state"
    );
    let metrics = pid.metrics();
    assert_eq!((metrics.restarts, metrics.reinstates), (0, 1));
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn a_suspended_actor_can_be_restarted_or_stopped() {
    let system = ActorSystem::builder("suspended-ops")
        .build()
        .expect("system");
    let log = log();
    let hour = Duration::from_secs(3600);
    let supervisor = Supervisor::new().backoff(Backoff::exponential(hour, hour));
    let pid = spawn_counter(&system, &log, "c", supervisor).await;
    assert_eq!(ping(&pid).await, 1);
    pid.tell(crash("boom")).await.expect("tell");
    until(&pid, "suspended", Pid::is_suspended).await;
    pid.restart().await.expect("restart cuts the backoff short");
    assert_eq!(ping(&pid).await, 1, "fresh state");

    pid.tell(crash("boom")).await.expect("tell");
    until(&pid, "suspended", Pid::is_suspended).await;
    pid.tell(Ping { n: 0 }).await.expect("queued");
    let before = system.dead_letter_count();
    pid.stop().await.expect("stop a suspended actor");
    assert_eq!(
        system.dead_letter_count(),
        before + 1,
        "its queue is dead-lettered"
    );
    assert!(matches!(pid.reinstate(), Err(StopError::NotRunning { .. })));
    system.stop().await.expect("stop");
}

async fn spawn_family(
    system: &ActorSystem,
    log: &Log,
    parent_supervisor: Supervisor,
    child_supervisor: Supervisor,
) -> (Pid, Vec<Pid>) {
    let parent = Parent {
        children: vec!["c1", "c2", "c3"],
        child_options: SpawnOptions::new().supervisor(child_supervisor),
        log: log.clone(),
    };
    let parent = system
        .spawn_with(
            "parent",
            parent,
            SpawnOptions::new().supervisor(parent_supervisor),
        )
        .await
        .expect("spawn parent");
    wait_for(log, |entries| {
        entries.iter().any(|e| e == "parent:post_start")
    })
    .await;
    let children = parent.children();
    assert_eq!(children.len(), 3);
    (parent, children)
}

fn child<'a>(children: &'a [Pid], name: &str) -> &'a Pid {
    children.iter().find(|c| c.name() == name).expect("child")
}

#[tokio::test]
async fn one_for_all_restarts_every_sibling() {
    let system = ActorSystem::builder("one-for-all").build().expect("system");
    let log = log();
    let all = Supervisor::new().strategy(Strategy::OneForAll);
    let (parent, children) = spawn_family(&system, &log, Supervisor::new(), all).await;
    for c in &children {
        assert_eq!(ping(c).await, 1);
    }
    child(&children, "c2")
        .tell(crash("boom"))
        .await
        .expect("tell");
    for c in &children {
        until(c, "restarted", |p| p.metrics().restarts == 1).await;
        assert_eq!(ping(c).await, 1, "{} started afresh", c.name());
    }
    assert_eq!(parent.metrics().restarts, 0);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn one_for_one_leaves_the_siblings_alone() {
    let system = ActorSystem::builder("one-for-one").build().expect("system");
    let log = log();
    let (_parent, children) =
        spawn_family(&system, &log, Supervisor::new(), Supervisor::new()).await;
    for c in &children {
        assert_eq!(ping(c).await, 1);
    }
    child(&children, "c1")
        .tell(crash("boom"))
        .await
        .expect("tell");
    assert_eq!(ping(child(&children, "c1")).await, 1);
    assert_eq!(ping(child(&children, "c2")).await, 2);
    assert_eq!(ping(child(&children, "c3")).await, 2);
    assert_eq!(child(&children, "c3").metrics().restarts, 0);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn one_for_all_stop_stops_every_sibling() {
    let system = ActorSystem::builder("all-stop").build().expect("system");
    let log = log();
    let all = Supervisor::new()
        .strategy(Strategy::OneForAll)
        .default_directive(Directive::Stop);
    let (parent, children) = spawn_family(&system, &log, Supervisor::new(), all).await;
    child(&children, "c3")
        .tell(crash("boom"))
        .await
        .expect("tell");
    for c in &children {
        stopped(c).await;
    }
    assert!(parent.is_running());
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn escalation_makes_the_parent_decide_and_a_restart_replaces_the_children() {
    let system = ActorSystem::builder("escalate").build().expect("system");
    let log = log();
    let escalate = Supervisor::new().default_directive(Directive::Escalate);
    let (parent, children) = spawn_family(&system, &log, Supervisor::new(), escalate).await;
    let mut events = system.subscribe();
    let failing = child(&children, "c1").clone();
    failing.tell(crash("boom")).await.expect("tell");
    let suspended = next_event(&mut events, |e| matches!(e, Event::ActorSuspended { .. })).await;
    assert!(matches!(suspended, Event::ActorSuspended { ref pid, .. } if *pid == failing));
    next_event(
        &mut events,
        |e| matches!(e, Event::ActorRestarted { pid, .. } if *pid == parent),
    )
    .await;
    for old in &children {
        stopped(old).await;
    }
    assert_eq!(parent.metrics().restarts, 1);
    assert_eq!(parent.metrics().failures, 1);
    // The new parent spawned new children under the same names.
    let renewed = parent.children();
    assert_eq!(renewed.len(), 3);
    assert!(renewed.iter().all(|c| !children.contains(c)));
    assert_eq!(ping(child(&renewed, "c1")).await, 1);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn a_parent_that_resumes_reinstates_the_child_that_escalated() {
    let system = ActorSystem::builder("escalate-resume")
        .build()
        .expect("system");
    let log = log();
    let escalate = Supervisor::new().default_directive(Directive::Escalate);
    let resume = Supervisor::new().on_error::<Escalated>(Directive::Resume);
    let (parent, children) = spawn_family(&system, &log, resume, escalate).await;
    let mut events = system.subscribe();
    let failing = child(&children, "c2");
    assert_eq!(ping(failing).await, 1);
    failing.tell(crash("boom")).await.expect("tell");
    next_event(
        &mut events,
        |e| matches!(e, Event::ActorReinstated { pid } if pid == failing),
    )
    .await;
    assert_eq!(ping(failing).await, 2, "the child kept its state");
    assert_eq!(failing.metrics().reinstates, 1);
    assert_eq!(parent.metrics().restarts, 0);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn rules_of_a_parent_see_the_childs_error_through_the_escalation() {
    let system = ActorSystem::builder("escalate-typed")
        .build()
        .expect("system");
    let log = log();
    let escalate = Supervisor::new().default_directive(Directive::Escalate);
    let parent_rules = Supervisor::new()
        .on_error::<Fatal>(Directive::Stop)
        .default_directive(Directive::Resume);
    let (parent, children) = spawn_family(&system, &log, parent_rules, escalate).await;
    child(&children, "c1")
        .tell(crash("transient"))
        .await
        .expect("tell");
    until(child(&children, "c1"), "reinstated", |p| {
        p.metrics().reinstates == 1
    })
    .await;
    child(&children, "c1")
        .tell(crash("fatal"))
        .await
        .expect("tell");
    stopped(&parent).await;
    for c in &children {
        stopped(c).await;
    }
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn a_top_level_escalation_goes_to_the_guardian() {
    let system = ActorSystem::builder("guardian")
        .guardian_supervisor(Supervisor::new().default_directive(Directive::Stop))
        .build()
        .expect("system");
    let log = log();
    let escalate = Supervisor::new().default_directive(Directive::Escalate);
    let pid = spawn_counter(&system, &log, "top", escalate.clone()).await;
    pid.tell(crash("boom")).await.expect("tell");
    stopped(&pid).await;
    system.stop().await.expect("stop");

    // The default guardian restarts.
    let system = ActorSystem::builder("guardian-default")
        .build()
        .expect("system");
    let pid = spawn_counter(&system, &log, "top", escalate).await;
    assert_eq!(ping(&pid).await, 1);
    pid.tell(crash("boom")).await.expect("tell");
    assert_eq!(ping(&pid).await, 1);
    assert_eq!(pid.metrics().restarts, 1);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn a_restart_stops_the_children_of_the_old_incarnation() {
    let system = ActorSystem::builder("restart-children")
        .build()
        .expect("system");
    let log = log();
    let (parent, children) =
        spawn_family(&system, &log, Supervisor::new(), Supervisor::new()).await;
    parent.restart().await.expect("restart");
    for old in &children {
        assert!(!old.is_running());
    }
    let entries = log.lock().clone();
    let stops = entries.iter().filter(|e| e.ends_with(":post_stop")).count();
    assert_eq!(stops, 3, "{entries:?}");
    assert_eq!(
        parent.children().len(),
        3,
        "the new incarnation spawned its own"
    );
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn invalid_supervisors_and_panicking_factories_are_typed_errors() {
    let system = ActorSystem::builder("invalid").build().expect("system");
    let log = log();
    let zero_window = SpawnOptions::new().supervisor(Supervisor::new().retry(1, Duration::ZERO));
    let err = system
        .spawn_factory("c", Counter::factory(&log, "c"), zero_window)
        .await
        .expect_err("invalid");
    assert!(matches!(err, SpawnError::InvalidSupervisor { .. }), "{err}");
    let err = system
        .spawn_factory(
            "p",
            || -> Counter { panic!("no state today") },
            SpawnOptions::new(),
        )
        .await
        .expect_err("factory panics");
    assert!(
        matches!(err, SpawnError::FactoryPanicked { ref name, .. } if name == "p"),
        "{err}"
    );
    assert!(err.to_string().contains("no state today"), "{err}");
    assert_eq!(system.actor_count(), 0);
    system.stop().await.expect("stop");

    let inverted = Backoff::exponential(Duration::from_secs(2), Duration::from_secs(1));
    let err = ActorSystem::builder("bad")
        .default_supervisor(Supervisor::new().backoff(inverted))
        .build()
        .expect_err("invalid default");
    assert!(
        matches!(
            err,
            SystemError::InvalidSupervisor {
                field: "default_supervisor",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_factory_that_panics_at_a_restart_stops_the_actor() {
    let system = ActorSystem::builder("factory-restart")
        .build()
        .expect("system");
    let log = log();
    let made = Arc::new(Mutex::new(0_u32));
    let counter = Counter::factory(&log, "c");
    let factory = {
        let made = made.clone();
        move || {
            let mut made = made.lock();
            *made += 1;
            assert!(*made == 1, "only one state to give");
            counter()
        }
    };
    let pid = system
        .spawn_factory("c", factory, SpawnOptions::new())
        .await
        .expect("spawn");
    pid.tell(crash("boom")).await.expect("tell");
    stopped(&pid).await;
    assert_eq!(*made.lock(), 2);
    system.stop().await.expect("stop");
}

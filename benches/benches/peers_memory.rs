//! Heap memory held by idle actors of Rakt and of its peers actix, ractor and kameo, in one run
//! on one machine.
//!
//! A counting global allocator, `rakt_benches::memory::Counting`, tracks the bytes live on the
//! heap, as in the `idle_actor` bench. For each framework the bench starts 10,000 actors that do
//! nothing, waits until each has run its start (Rakt's `PostStart`, actix's `started`, ractor's
//! `pre_start`, kameo's `on_start`) and has parked on its empty mailbox, and divides the growth of
//! live bytes by the number of actors, with the handles still held in a `Vec`, as a user holds
//! them: Rakt's `Pid`, actix's `Addr`, ractor's `ActorRef` and kameo's `ActorRef`. ractor's
//! `JoinHandle`s are dropped, which detaches the tasks and frees nothing. Every mailbox is the
//! framework's unbounded one where it has a choice (Rakt's default, ractor's only kind,
//! `mailbox::unbounded()` for kameo); actix's is its own bounded one. Rakt, ractor and kameo run on
//! a two-worker multi-thread tokio runtime; actix runs on its own single-threaded
//! `actix_rt::System`, as its users run it.
//!
//! The result goes to `<target dir>/rakt-bench/peers_memory.json` as
//! `{"rakt": f64, "actix": f64, "ractor": f64, "kameo": f64}`, in bytes per actor with its
//! handle, and one line to stderr.
//!
//! `cargo xtask bench` runs it after the `peers` bench and updates `docs/benchmarks.md`;
//! `cargo bench -p rakt-benches --bench peers_memory` runs it alone. Like the `idle_actor`
//! bench, it runs a quick check with 200 actors and writes nothing when it is not started by
//! `cargo bench` (no `--bench` argument, as under `cargo test --benches`), when given `--test`,
//! or when `RAKT_BENCH_QUICK` is set.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rakt_actor::SpawnOptions;
use rakt_benches::memory::{self, Counting, Footprint, SETTLE, live_bytes, within};
use rakt_benches::support;

const ACTORS: usize = 10_000;
const QUICK_ACTORS: usize = 200;

#[global_allocator]
static ALLOC: Counting = Counting;

/// How many peer actors have run their start hook; reset before each framework.
static STARTED: AtomicUsize = AtomicUsize::new(0);

fn report_start() {
    STARTED.fetch_add(1, Ordering::Relaxed);
}

/// Waits until `count` peer actors have run their start hook, then lets them park.
async fn peers_started(count: usize) {
    within("every actor running its start hook", async {
        while STARTED.load(Ordering::Relaxed) < count {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    tokio::time::sleep(SETTLE).await;
}

/// Runs inside an `actix_rt::System`, whose thread runs every actor started here.
mod on_actix {
    use super::*;
    use actix::{Actor, Addr, Context};

    struct Idle;

    impl Actor for Idle {
        type Context = Context<Self>;

        fn started(&mut self, _ctx: &mut Context<Self>) {
            report_start();
        }
    }

    pub(super) async fn footprint(count: usize) -> Footprint {
        STARTED.store(0, Ordering::Relaxed);
        let before = live_bytes();
        let mut addrs: Vec<Addr<Idle>> = Vec::with_capacity(count);
        for _ in 0..count {
            addrs.push(Idle.start());
        }
        peers_started(count).await;
        let footprint = Footprint::measure(before, &addrs);
        // Each actor stops once its last address is gone; the rest goes with the `System`.
        drop(addrs);
        footprint
    }
}

mod on_ractor {
    use super::*;
    use ractor::{Actor, ActorProcessingErr, ActorRef};

    struct Idle;

    impl Actor for Idle {
        type Msg = ();
        type State = ();
        type Arguments = ();

        async fn pre_start(&self, _myself: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
            report_start();
            Ok(())
        }
    }

    pub(super) async fn footprint(count: usize) -> Footprint {
        STARTED.store(0, Ordering::Relaxed);
        let before = live_bytes();
        let mut actors: Vec<ActorRef<()>> = Vec::with_capacity(count);
        for _ in 0..count {
            // `spawn` returns once `pre_start` has run. Dropping the `JoinHandle` detaches the
            // task, which a user who keeps only the `ActorRef` does too.
            let (actor, _task) = Actor::spawn(None, Idle, ())
                .await
                .expect("spawning an idle actor");
            actors.push(actor);
        }
        peers_started(count).await;
        let footprint = Footprint::measure(before, &actors);

        within("the idle actors stopping", async {
            for actor in &actors {
                actor
                    .stop_and_wait(None, None)
                    .await
                    .expect("an idle actor stops");
            }
        })
        .await;
        footprint
    }
}

mod on_kameo {
    use super::*;
    use kameo::actor::{ActorRef, Spawn};
    use kameo::mailbox;

    struct Idle;

    impl kameo::Actor for Idle {
        type Args = Self;
        type Error = Infallible;

        async fn on_start(idle: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
            report_start();
            Ok(idle)
        }
    }

    pub(super) async fn footprint(count: usize) -> Footprint {
        STARTED.store(0, Ordering::Relaxed);
        let before = live_bytes();
        let mut actors: Vec<ActorRef<Idle>> = Vec::with_capacity(count);
        for _ in 0..count {
            actors.push(Idle::spawn_with_mailbox(Idle, mailbox::unbounded()));
        }
        peers_started(count).await;
        let footprint = Footprint::measure(before, &actors);

        within("the idle actors stopping", async {
            for actor in &actors {
                actor.kill();
                actor.wait_for_shutdown().await;
            }
        })
        .await;
        footprint
    }
}

fn main() {
    let quick = memory::quick();
    let count = if quick { QUICK_ACTORS } else { ACTORS };
    let rt = support::runtime();
    let rakt = rt.block_on(memory::rakt_footprint(count, SpawnOptions::new()));
    let ractor = rt.block_on(on_ractor::footprint(count));
    let kameo = rt.block_on(on_kameo::footprint(count));
    drop(rt);
    let actix = actix_rt::System::new().block_on(on_actix::footprint(count));

    let results = [
        ("rakt", rakt),
        ("actix", actix),
        ("ractor", ractor),
        ("kameo", kameo),
    ];
    let each: Vec<String> = results
        .iter()
        .map(|(name, footprint)| {
            format!(
                "{name} {:.1} B ({:.1} B without)",
                footprint.held, footprint.without_handle
            )
        })
        .collect();
    let summary = format!(
        "peers_memory: {count} idle actors each hold, with their handles: {}",
        each.join(", ")
    );
    let fields: Vec<(&str, f64)> = results
        .iter()
        .map(|(name, footprint)| (*name, footprint.held))
        .collect();
    memory::report(summary, quick, "peers_memory.json", &fields);
}

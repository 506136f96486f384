//! Heap memory held by idle actors, beside idle tokio tasks.
//!
//! A counting global allocator, `rakt_benches::memory::Counting`, tracks the bytes live on the
//! heap. The bench spawns 100,000 actors that do nothing on a two-worker multi-thread tokio
//! runtime, waits until each has handled its `PostStart`, and divides the growth of live bytes by
//! the number of actors, with the `Pid`s still held, as a user holds them (the part shared with
//! `peers_memory`, `rakt_benches::memory::rakt_footprint`). The baseline does the same with 100,000
//! tokio tasks, each awaiting `recv` on its own unbounded `mpsc` channel, with the senders held.
//! The result goes to `<target dir>/rakt-bench/idle_actor.json` as
//! `{"rakt_bytes_per_actor": f64, "rakt_passivating_bytes_per_actor": f64,
//! "baseline_bytes_per_task": f64}`, and one line to stderr. The second Rakt figure is the same
//! measure for actors that passivate after an hour idle: what the passivation task keeps per
//! actor (a table entry and a heap entry, no timer or task of its own) comes on top.
//!
//! `cargo xtask bench` runs it with the `runtime` bench and updates `docs/benchmarks.md`;
//! `cargo bench -p rakt-benches --bench idle_actor` runs it alone. Like a criterion bench, it
//! runs a quick check with 1,000 actors and writes nothing when it is not started by
//! `cargo bench` (no `--bench` argument, as under `cargo test --benches`), when given `--test`,
//! or when `RAKT_BENCH_QUICK` is set.

use std::hint::black_box;
use std::time::Duration;

use rakt_actor::{Passivation, SpawnOptions};
use rakt_benches::memory::{self, Counting, Footprint, SETTLE, live_bytes};
use rakt_benches::messages::Ping;
use rakt_benches::support;
use tokio::sync::mpsc;

const ACTORS: usize = 100_000;
const QUICK_ACTORS: usize = 1_000;

#[global_allocator]
static ALLOC: Counting = Counting;

async fn baseline_footprint(count: usize) -> Footprint {
    let before = live_bytes();
    let mut senders = Vec::with_capacity(count);
    for _ in 0..count {
        let (tx, mut rx) = mpsc::unbounded_channel::<Ping>();
        // Detached: a user of bare tasks keeps the sender, not the join handle.
        tokio::spawn(async move {
            while let Some(ping) = rx.recv().await {
                black_box(ping);
            }
        });
        senders.push(tx);
    }
    // A task's future lives in the allocation made by `spawn`; the pause only lets every
    // task reach `recv` first, as the actors reached their empty mailboxes.
    tokio::time::sleep(SETTLE).await;
    let footprint = Footprint::measure(before, &senders);
    // The tasks end once their senders are gone.
    drop(senders);
    footprint
}

fn main() {
    let quick = memory::quick();
    let count = if quick { QUICK_ACTORS } else { ACTORS };
    let rt = support::runtime();
    let rakt = rt.block_on(memory::rakt_footprint(count, SpawnOptions::new()));
    let hour = Passivation::AfterIdle(Duration::from_secs(3_600));
    let passivating = rt.block_on(memory::rakt_footprint(
        count,
        SpawnOptions::new().passivation(hour),
    ));
    let baseline = rt.block_on(baseline_footprint(count));

    let summary = format!(
        "idle_actor: {count} idle actors hold {:.1} B each with their Pids ({:.1} B without), \
         {:.1} B when they passivate; {count} idle tokio tasks hold {:.1} B each with their \
         senders ({:.1} B without)",
        rakt.held, rakt.without_handle, passivating.held, baseline.held, baseline.without_handle,
    );
    memory::report(
        summary,
        quick,
        "idle_actor.json",
        &[
            ("rakt_bytes_per_actor", rakt.held),
            ("rakt_passivating_bytes_per_actor", passivating.held),
            ("baseline_bytes_per_task", baseline.held),
        ],
    );
}

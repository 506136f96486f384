//! Heap memory held by idle actors, beside idle tokio tasks.
//!
//! A counting global allocator tracks the bytes live on the heap. The bench spawns 100,000
//! actors that do nothing on a two-worker multi-thread tokio runtime, waits until each has
//! handled its `PostStart`, and divides the growth of live bytes by the number of actors,
//! with the `Pid`s still held, as a user holds them. The baseline does the same with 100,000
//! tokio tasks, each awaiting `recv` on its own unbounded `mpsc` channel, with the senders
//! held. The result goes to `<target dir>/rakt-bench/idle_actor.json` as
//! `{"rakt_bytes_per_actor": f64, "baseline_bytes_per_task": f64}`, and one line to stderr.
//!
//! `cargo xtask bench` runs it with the `runtime` bench and updates `docs/benchmarks.md`;
//! `cargo bench -p rakt-benches --bench idle_actor` runs it alone. Like a criterion bench, it
//! runs a quick check with 1,000 actors and writes nothing when it is not started by
//! `cargo bench` (no `--bench` argument, as under `cargo test --benches`), when given `--test`,
//! or when `RAKT_BENCH_QUICK` is set.

// The counting allocator must implement `GlobalAlloc`, an unsafe trait; every unsafe block
// below only forwards to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use rakt_actor::{Actor, ActorError, ActorSystem, Context, Pid};
use tokio::sync::mpsc;

const ACTORS: usize = 100_000;
const QUICK_ACTORS: usize = 1_000;

/// How long the spawned actors may take to handle their `PostStart`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A pause after the last start, so that every actor or task has parked on its empty queue.
const SETTLE: Duration = Duration::from_millis(200);

/// Bytes currently allocated through [`Counting`] and not yet freed.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting live bytes in [`LIVE`].
struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A size as a signed difference; a single allocation never exceeds `isize::MAX` bytes.
fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwards to `System` with the caller's layout, under the caller's guarantees.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(signed(layout.size()), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwards to `System` with the caller's layout, under the caller's guarantees.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(signed(layout.size()), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwards to `System`; the caller guarantees `ptr` came from this allocator,
        // which got it from `System`, with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(signed(layout.size()), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwards to `System`; the caller guarantees `ptr` came from this allocator,
        // which got it from `System`, with this layout, and that `new_size` is valid.
        let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
        if !new_ptr.is_null() {
            LIVE.fetch_add(signed(new_size) - signed(layout.size()), Ordering::Relaxed);
        }
        new_ptr
    }
}

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// The message type of the baseline's channels; never sent.
#[derive(Clone, PartialEq, prost::Message)]
struct Ping {
    #[prost(uint64, tag = "1")]
    n: u64,
}

impl prost::Name for Ping {
    const NAME: &'static str = "Ping";
    const PACKAGE: &'static str = "bench.v1";
}

/// An actor that does nothing.
struct Idle;

impl Actor for Idle {
    async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        Ok(())
    }
}

/// Bytes per idle actor or task, with its handle held and without the handle.
#[derive(Debug, Clone, Copy)]
struct Footprint {
    held: f64,
    without_handle: f64,
}

impl Footprint {
    /// The growth of live bytes since `before`, per handle in `handles`, which were
    /// allocated after `before` was read.
    ///
    /// A handle is one pointer to shared state that the runtime keeps anyway, so what it
    /// costs by itself is its slot in the user's `Vec`. That slot is subtracted rather than
    /// measured by dropping the handles: dropping the senders would end the baseline's tasks
    /// while they are being counted.
    fn measure<H>(before: isize, handles: &Vec<H>) -> Self {
        let count = handles.len() as f64;
        let grown = (live_bytes() - before) as f64;
        let slots = (handles.capacity() * std::mem::size_of::<H>()) as f64;
        Self {
            held: grown / count,
            without_handle: (grown - slots) / count,
        }
    }
}

async fn rakt_footprint(count: usize) -> Footprint {
    let system = ActorSystem::builder("idle")
        .build()
        .expect("the actor system can be built");
    // Names are the user's strings, made before counting; the runtime's copies count.
    let names: Vec<String> = (0..count).map(|i| format!("idle-{i}")).collect();

    let before = live_bytes();
    let mut pids: Vec<Pid> = Vec::with_capacity(count);
    for name in &names {
        pids.push(
            system
                .spawn(name, Idle)
                .await
                .expect("spawning an idle actor"),
        );
    }
    tokio::time::timeout(START_TIMEOUT, async {
        for pid in &pids {
            while pid.metrics().processed == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    })
    .await
    .expect("every idle actor handles PostStart in time");
    tokio::time::sleep(SETTLE).await;
    let footprint = Footprint::measure(before, &pids);
    drop(pids);

    system.stop().await.expect("the idle actors stop");
    footprint
}

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

/// Whether this is a quick check rather than a measurement, by criterion's rule: `cargo bench`
/// passes `--bench`, `cargo test --benches` does not, and `--test` asks for a check.
fn quick() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|arg| arg == "--bench");
    let test = args.iter().any(|arg| arg == "--test");
    !bench || test || std::env::var_os("RAKT_BENCH_QUICK").is_some()
}

/// `$CARGO_TARGET_DIR` when absolute; otherwise the directory holding the `release` folder
/// this executable was built in (`<target>/release/deps/idle_actor-…`).
fn target_dir() -> PathBuf {
    let from_env = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from);
    if let Some(dir) = from_env.as_ref().filter(|dir| dir.is_absolute()) {
        return dir.clone();
    }
    let exe = std::env::current_exe().expect("the bench can find its own executable");
    exe.ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "release"))
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .or(from_env)
        .expect("the bench executable lives under <target>/release, or CARGO_TARGET_DIR is set")
}

fn main() {
    let quick = quick();
    let count = if quick { QUICK_ACTORS } else { ACTORS };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a two-worker tokio runtime can be built");
    let rakt = rt.block_on(rakt_footprint(count));
    let baseline = rt.block_on(baseline_footprint(count));

    let mut line = format!(
        "idle_actor: {count} idle actors hold {:.1} B each with their Pids ({:.1} B without); \
         {count} idle tokio tasks hold {:.1} B each with their senders ({:.1} B without)",
        rakt.held, rakt.without_handle, baseline.held, baseline.without_handle,
    );
    if !quick {
        let dir = target_dir().join("rakt-bench");
        std::fs::create_dir_all(&dir).expect("the results folder can be created");
        let path = dir.join("idle_actor.json");
        let json = format!(
            "{{\"rakt_bytes_per_actor\": {:.2}, \"baseline_bytes_per_task\": {:.2}}}\n",
            rakt.held, baseline.held,
        );
        std::fs::write(&path, json).expect("the results file can be written");
        line.push_str(&format!("; wrote {}", path.display()));
    }
    eprintln!("{line}");
}

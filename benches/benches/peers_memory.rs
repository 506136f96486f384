//! Heap memory held by idle actors of Rakt and of its peers actix, ractor and kameo, in one run
//! on one machine.
//!
//! A counting global allocator tracks the bytes live on the heap, as in the `idle_actor` bench.
//! For each framework the bench starts 10,000 actors that do nothing, waits until each has run
//! its start (Rakt's `PostStart`, actix's `started`, ractor's `pre_start`, kameo's `on_start`)
//! and has parked on its empty mailbox, and divides the growth of live bytes by the number of
//! actors, with the handles still held in a `Vec`, as a user holds them: Rakt's `Pid`, actix's
//! `Addr`, ractor's `ActorRef` and kameo's `ActorRef`. ractor's `JoinHandle`s are dropped, which
//! detaches the tasks and frees nothing. Every mailbox is the framework's unbounded one where
//! it has a choice (Rakt's default, ractor's only kind, `mailbox::unbounded()` for kameo);
//! actix's is its own bounded one. Rakt, ractor and kameo run on a two-worker multi-thread
//! tokio runtime; actix runs on its own single-threaded `actix_rt::System`, as its users run it.
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

// The counting allocator must implement `GlobalAlloc`, an unsafe trait; every unsafe block
// below only forwards to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::time::Duration;

const ACTORS: usize = 10_000;
const QUICK_ACTORS: usize = 200;

/// How long the spawned actors of one framework may take to start, or to stop afterwards.
const PATIENCE: Duration = Duration::from_secs(60);

/// A pause after the last start, so that every actor has parked on its empty mailbox.
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

/// How many peer actors have run their start hook; reset before each framework.
static STARTED: AtomicUsize = AtomicUsize::new(0);

fn report_start() {
    STARTED.fetch_add(1, Ordering::Relaxed);
}

/// Awaits `future`, panicking with `what` if it takes longer than [`PATIENCE`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not happen within {PATIENCE:?}"),
    }
}

/// Waits until `done` holds, checking every millisecond.
async fn until(what: &str, done: impl Fn() -> bool) {
    within(what, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

/// Waits until `count` peer actors have run their start hook, then lets them park.
async fn peers_started(count: usize) {
    until("every actor running its start hook", || {
        STARTED.load(Ordering::Relaxed) >= count
    })
    .await;
    tokio::time::sleep(SETTLE).await;
}

/// Bytes per idle actor, with its handle held and without the handle.
#[derive(Debug, Clone, Copy)]
struct Footprint {
    held: f64,
    without_handle: f64,
}

impl Footprint {
    /// The growth of live bytes since `before`, per handle in `handles`, which were
    /// allocated after `before` was read.
    ///
    /// What a handle costs by itself is its slot in the user's `Vec`, subtracted for the
    /// second number; the shared state it points to is the actor's.
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

mod on_rakt {
    use super::*;
    use rakt_actor::{Actor, ActorError, ActorSystem, Context, Pid};

    struct Idle;

    impl Actor for Idle {
        async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
            Ok(())
        }
    }

    pub(super) async fn footprint(count: usize) -> Footprint {
        let system = ActorSystem::builder("idle")
            .build()
            .expect("the actor system can be built");
        // Rakt actors have names; they are the user's strings, made before counting, while
        // the runtime's copies count.
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
        until("every idle actor handling PostStart", || {
            pids.iter().all(|pid| pid.metrics().processed > 0)
        })
        .await;
        tokio::time::sleep(SETTLE).await;
        let footprint = Footprint::measure(before, &pids);
        drop(pids);

        within("the idle actors stopping", system.stop())
            .await
            .expect("the idle actors stop");
        footprint
    }
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

/// Whether this is a quick check rather than a measurement, by criterion's rule: `cargo bench`
/// passes `--bench`, `cargo test --benches` does not, and `--test` asks for a check.
fn quick() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|arg| arg == "--bench");
    let test = args.iter().any(|arg| arg == "--test");
    !bench || test || std::env::var_os("RAKT_BENCH_QUICK").is_some()
}

/// `$CARGO_TARGET_DIR` when absolute; otherwise the directory holding the `release` folder
/// this executable was built in (`<target>/release/deps/peers_memory-…`).
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
    let rakt = rt.block_on(on_rakt::footprint(count));
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
    let mut line = format!(
        "peers_memory: {count} idle actors each hold, with their handles: {}",
        each.join(", ")
    );
    if !quick {
        let dir = target_dir().join("rakt-bench");
        std::fs::create_dir_all(&dir).expect("the results folder can be created");
        let path = dir.join("peers_memory.json");
        let fields: Vec<String> = results
            .iter()
            .map(|(name, footprint)| format!("\"{name}\": {:.2}", footprint.held))
            .collect();
        std::fs::write(&path, format!("{{{}}}\n", fields.join(", ")))
            .expect("the results file can be written");
        line.push_str(&format!("; wrote {}", path.display()));
    }
    eprintln!("{line}");
}

//! Benchmarks of the Rakt runtime, each beside a bare tokio baseline and, for tell, ask and idle
//! memory, beside actix, ractor and kameo, all measured in the same run.
//!
//! **Position**: not published; depends on `rakt-actor`, `prost`, tokio and criterion, and
//! nothing depends on it. The benchmarks are in `benches/benches/`, run by `cargo xtask bench`,
//! which writes `docs/benchmarks.md`. This library holds what several of them share, so that
//! each piece exists once: the message ([`messages`]), the harness of the timed benches
//! ([`support`]), the actors and workloads that both the `runtime` and the `peers` bench run
//! ([`workloads`]), and the counting allocator and result writing of the memory benches
//! ([`memory`]). The peer frameworks are dev-dependencies, used by the bench files only.
//!
//! ```text
//! cargo xtask bench
//! ```

pub mod messages {
    //! The protobuf messages of the benches, in the package `bench.v1`.

    /// The message of every workload and every framework: 8 bytes (one `u64`), so that it is
    /// not a zero-sized value that costs nothing to box. Rakt needs a protobuf message; the
    /// peers take any type.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Ping {
        /// A number that changes from message to message, so that no work can be skipped.
        #[prost(uint64, tag = "1")]
        pub n: u64,
    }

    impl prost::Name for Ping {
        const NAME: &'static str = "Ping";
        const PACKAGE: &'static str = "bench.v1";
    }

    impl Ping {
        /// What every echo answers, whichever framework runs it: the next number.
        pub fn answer(&self) -> u64 {
            self.n + 1
        }
    }

    /// Starts a ping-pong match of `rounds` round trips, in the `runtime` bench.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Serve {
        /// How many round trips the match has.
        #[prost(uint64, tag = "1")]
        pub rounds: u64,
    }

    impl prost::Name for Serve {
        const NAME: &'static str = "Serve";
        const PACKAGE: &'static str = "bench.v1";
    }
}

pub mod support {
    //! The harness of the timed benches: the tokio runtime and actor system a workload runs
    //! on, bounded waits, and the criterion setup.
    //!
    //! A workload is an `async fn() -> Duration` that sets itself up, times only its measured
    //! part and cleans up after itself; [`bench_on`] runs it once per criterion iteration.

    use std::future::Future;
    use std::time::Duration;

    use criterion::measurement::WallTime;
    use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
    use rakt_actor::{ActorSystem, Pid};
    use tokio::runtime::Runtime;
    use tokio::sync::mpsc;
    use tokio::task::JoinHandle;

    /// The longest any single wait of a timed workload may take before the bench gives up, so
    /// that a framework that loses a message fails the run instead of hanging it.
    pub const PATIENCE: Duration = Duration::from_secs(120);

    /// The runtime of one criterion group: multi-thread tokio with two workers, the runtime
    /// Rakt, ractor and kameo are all built for.
    pub fn runtime() -> Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a two-worker tokio runtime can be built")
    }

    /// A fresh actor system; must be called inside the runtime.
    pub fn actor_system() -> ActorSystem {
        ActorSystem::builder("bench")
            .build()
            .expect("the bench actor system can be built")
    }

    /// Stops `system` and every actor in it, waiting at most [`PATIENCE`].
    pub async fn stop(system: ActorSystem) {
        within("the actor system stopping", system.stop())
            .await
            .expect("every bench actor stops within the shutdown timeout");
    }

    /// Awaits `future`, panicking with `what` if it takes longer than [`PATIENCE`].
    pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
        within_for(PATIENCE, what, future).await
    }

    /// Awaits `future`, panicking with `what` if it takes longer than `limit`.
    pub async fn within_for<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
        match tokio::time::timeout(limit, future).await {
            Ok(output) => output,
            Err(_) => panic!("{what} did not happen within {limit:?}"),
        }
    }

    /// Resolves once every actor in `pids` has handled its `PostStart`, checking every
    /// millisecond. It does not give up by itself: await it through [`within`] or
    /// [`within_for`].
    pub async fn all_started(pids: &[Pid]) {
        for pid in pids {
            while pid.metrics().processed == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    /// Waits at most [`PATIENCE`] until every actor in `pids` has handled its `PostStart`, so
    /// that a measurement starts with idle actors and does not time the tail of their start.
    pub async fn started(pids: &[Pid]) {
        within("every actor handling PostStart", all_started(pids)).await;
    }

    /// A baseline "actor": a task that reads `rx` until every sender is gone, handing each
    /// message to `handle`.
    pub fn consumer<T: Send + 'static>(
        mut rx: mpsc::UnboundedReceiver<T>,
        mut handle: impl FnMut(T) + Send + 'static,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                handle(message);
            }
        })
    }

    /// The criterion configuration of every timed bench: ten samples of a few seconds each
    /// keep a whole run to a few minutes on two cores.
    pub fn config() -> Criterion {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4))
    }

    /// A criterion group named `name` for a workload that handles `elements` messages (or
    /// actors) per run.
    ///
    /// Sampling is flat, criterion's mode for long iterations: one run takes milliseconds, so
    /// every sample runs the same few iterations.
    pub fn group<'c>(
        c: &'c mut Criterion,
        name: &str,
        elements: u64,
    ) -> BenchmarkGroup<'c, WallTime> {
        let mut group = c.benchmark_group(name);
        group
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(elements));
        group
    }

    /// Adds the function `id` to `group`: each iteration is one run of the workload `run` on
    /// `rt`, and the time is what the runs report for their timed parts, added up.
    pub fn bench_on<F, Fut>(
        group: &mut BenchmarkGroup<'_, WallTime>,
        id: &str,
        rt: &Runtime,
        mut run: F,
    ) where
        F: FnMut() -> Fut,
        Fut: Future<Output = Duration>,
    {
        group.bench_function(id, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(run())).sum::<Duration>());
        });
    }
}

pub mod workloads {
    //! The actors and the tell and ask workloads that the `runtime` bench measures and the
    //! `peers` bench measures again beside the peer frameworks, on Rakt ([`rakt`]) and on bare
    //! tokio ([`baseline`]).
    //!
    //! - tell: one producer task tells [`TELLS`] messages to one actor, a [`Countdown`], until
    //!   the actor has handled them all; the actor itself signals when its count is reached.
    //! - ask: one task asks one actor, an [`Echo`], [`ASKS`] times, one ask after the other.
    //!
    //! Spawning the actor and stopping it afterwards are not timed.

    use std::future::Future;
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use rakt_actor::{Actor, ActorError, Context};
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use crate::messages::Ping;
    use crate::support::within;

    /// How many messages the tell workload sends.
    pub const TELLS: u64 = 1_000_000;

    /// How many requests the ask workload makes.
    pub const ASKS: u64 = 100_000;

    /// Times one run of the tell workload: the clock starts before `spawn` starts `producer`,
    /// which sends every message, and stops once `finished` hears that the countdown reached
    /// zero and the producer has ended.
    ///
    /// `spawn` is the framework's own way to start a task (`tokio::spawn`, or
    /// `actix_rt::spawn` on actix's `System`), so that every framework is timed the same way.
    pub async fn time_tells<F: Future<Output = ()>>(
        finished: oneshot::Receiver<()>,
        spawn: impl FnOnce(F) -> JoinHandle<()>,
        producer: F,
    ) -> Duration {
        let start = Instant::now();
        let producer = spawn(producer);
        within("the countdown reaching zero", finished)
            .await
            .expect("the countdown reports before it stops");
        producer.await.expect("the producer does not panic");
        start.elapsed()
    }

    /// Times one run of the ask workload: the clock starts before `spawn` starts `asker`,
    /// which makes every request, one after the other, and stops once it has its last answer.
    ///
    /// `spawn` is as in [`time_tells`].
    pub async fn time_asks<F: Future<Output = ()>>(
        spawn: impl FnOnce(F) -> JoinHandle<()>,
        asker: F,
    ) -> Duration {
        let start = Instant::now();
        let asker = spawn(asker);
        within("the asks being answered", asker)
            .await
            .expect("the asker does not panic");
        start.elapsed()
    }

    /// Counts handled messages and reports once `expected` were handled: the actor of the
    /// tell workload on Rakt, and its state on every other framework and on the baseline.
    #[derive(Debug)]
    pub struct Countdown {
        seen: u64,
        expected: u64,
        done: Option<oneshot::Sender<()>>,
    }

    impl Countdown {
        /// A countdown from `expected`, and the receiver that hears when it reaches zero.
        pub fn new(expected: u64) -> (Self, oneshot::Receiver<()>) {
            let (done, finished) = oneshot::channel();
            (
                Self {
                    seen: 0,
                    expected,
                    done: Some(done),
                },
                finished,
            )
        }

        /// Counts `ping` as handled.
        pub fn count(&mut self, ping: &Ping) {
            black_box(ping.n);
            self.seen += 1;
            if self.seen == self.expected
                && let Some(done) = self.done.take()
            {
                // The bench only drops the receiver after it has heard from us.
                let _ = done.send(());
            }
        }
    }

    impl Actor for Countdown {
        async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
            if let Some(ping) = ctx.message::<Ping>() {
                self.count(ping);
            }
            Ok(())
        }
    }

    /// A Rakt actor that answers a `Ping` with the next number.
    #[derive(Debug)]
    pub struct Echo;

    impl Actor for Echo {
        async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
            if let Some(ping) = ctx.take_message::<Ping>() {
                ctx.respond(Ping { n: ping.answer() });
            }
            Ok(())
        }
    }

    /// A Rakt actor that does nothing.
    #[derive(Debug)]
    pub struct Idle;

    impl Actor for Idle {
        async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
            Ok(())
        }
    }

    pub mod rakt {
        //! The workloads on Rakt, each in a fresh actor system.

        use std::hint::black_box;
        use std::time::Duration;

        use super::{ASKS, Countdown, Echo, TELLS, time_asks, time_tells};
        use crate::messages::Ping;
        use crate::support::{actor_system, started, stop};

        /// Tells [`TELLS`] messages to a [`Countdown`] and returns the time until it has
        /// handled them all.
        pub async fn tell() -> Duration {
            let system = actor_system();
            let (countdown, finished) = Countdown::new(TELLS);
            let pid = system
                .spawn("countdown", countdown)
                .await
                .expect("spawning the countdown");
            started(std::slice::from_ref(&pid)).await;

            let elapsed = time_tells(finished, tokio::spawn, async move {
                for n in 0..TELLS {
                    pid.tell(Ping { n })
                        .await
                        .expect("the countdown is running");
                }
            })
            .await;

            stop(system).await;
            elapsed
        }

        /// Asks an [`Echo`] [`ASKS`] times, one ask after the other, and returns the time
        /// until the last answer.
        ///
        /// Every Rakt ask carries a timeout, the system's `ask_timeout`, so each one also pays
        /// for a deadline; the peers' plain requests in the `peers` bench have none.
        pub async fn ask() -> Duration {
            let system = actor_system();
            let pid = system.spawn("echo", Echo).await.expect("spawning the echo");
            started(std::slice::from_ref(&pid)).await;

            let elapsed = time_asks(tokio::spawn, async move {
                for n in 0..ASKS {
                    let reply: Ping = pid.ask(Ping { n }).await.expect("the echo answers");
                    black_box(reply);
                }
            })
            .await;

            stop(system).await;
            elapsed
        }
    }

    pub mod baseline {
        //! The workloads on bare tokio: plain tasks, each reading its own unbounded
        //! `tokio::sync::mpsc` channel, with `tokio::sync::oneshot` for replies.

        use std::hint::black_box;
        use std::time::Duration;

        use tokio::sync::{mpsc, oneshot};

        use super::{ASKS, Countdown, TELLS, time_asks, time_tells};
        use crate::messages::Ping;
        use crate::support::{consumer, within};

        /// Sends [`TELLS`] messages to a task that counts them with a [`Countdown`], and
        /// returns the time until it has counted them all.
        pub async fn tell() -> Duration {
            let (tx, rx) = mpsc::unbounded_channel::<Ping>();
            let (mut countdown, finished) = Countdown::new(TELLS);
            let reader = consumer(rx, move |ping| countdown.count(&ping));

            let elapsed = time_tells(finished, tokio::spawn, async move {
                for n in 0..TELLS {
                    tx.send(Ping { n }).expect("the reader is running");
                }
            })
            .await;

            within("the reader ending", reader)
                .await
                .expect("the reader does not panic");
            elapsed
        }

        /// Asks a task for the next number [`ASKS`] times, one request after the other, and
        /// returns the time until the last answer.
        pub async fn ask() -> Duration {
            let (tx, rx) = mpsc::unbounded_channel::<(Ping, oneshot::Sender<Ping>)>();
            let echo = consumer(rx, |(ping, reply): (Ping, oneshot::Sender<Ping>)| {
                // An asker that gave up needs no answer.
                let _ = reply.send(Ping { n: ping.answer() });
            });

            let elapsed = time_asks(tokio::spawn, async move {
                for n in 0..ASKS {
                    let (reply_tx, reply_rx) = oneshot::channel();
                    tx.send((Ping { n }, reply_tx))
                        .expect("the echo is running");
                    let reply = reply_rx.await.expect("the echo answers");
                    black_box(reply);
                }
            })
            .await;

            within("the echo ending", echo)
                .await
                .expect("the echo does not panic");
            elapsed
        }
    }
}

pub mod memory {
    //! What the memory benches `idle_actor` and `peers_memory` share: a counting allocator,
    //! the footprint of idle Rakt actors, the quick-mode rule and the result file.
    //!
    //! The counter only moves in a binary that makes [`Counting`] its global allocator:
    //!
    //! ```text
    //! #[global_allocator]
    //! static ALLOC: rakt_benches::memory::Counting = rakt_benches::memory::Counting;
    //! ```

    // The counting allocator must implement `GlobalAlloc`, an unsafe trait; every unsafe block
    // in this module only forwards to the system allocator.
    #![allow(unsafe_code)]

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::future::Future;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicIsize, Ordering};
    use std::time::Duration;

    use rakt_actor::{ActorSystem, Pid, SpawnOptions};

    use crate::support::{all_started, within_for};
    use crate::workloads::Idle;

    /// How long the idle actors of one framework may take to start, or to stop afterwards.
    pub const PATIENCE: Duration = Duration::from_secs(60);

    /// A pause after the last start, so that every actor or task has parked on its empty
    /// queue before live bytes are read.
    pub const SETTLE: Duration = Duration::from_millis(200);

    /// Bytes currently allocated through [`Counting`] and not yet freed.
    static LIVE: AtomicIsize = AtomicIsize::new(0);

    /// The system allocator, counting live bytes for [`live_bytes`].
    #[derive(Debug)]
    pub struct Counting;

    /// A size as a signed difference; a single allocation never exceeds `isize::MAX` bytes.
    fn signed(size: usize) -> isize {
        isize::try_from(size).unwrap_or(isize::MAX)
    }

    // SAFETY: every method hands the caller's request to `System`, which keeps the
    // `GlobalAlloc` contract, and returns what `System` returned; the counting beside it
    // neither allocates nor panics.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwards to `System` with the caller's layout, under the caller's
            // guarantees.
            let ptr = unsafe { System.alloc(layout) };
            if !ptr.is_null() {
                LIVE.fetch_add(signed(layout.size()), Ordering::Relaxed);
            }
            ptr
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwards to `System` with the caller's layout, under the caller's
            // guarantees.
            let ptr = unsafe { System.alloc_zeroed(layout) };
            if !ptr.is_null() {
                LIVE.fetch_add(signed(layout.size()), Ordering::Relaxed);
            }
            ptr
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwards to `System`; the caller guarantees `ptr` came from this
            // allocator, which got it from `System`, with this layout.
            unsafe { System.dealloc(ptr, layout) };
            LIVE.fetch_sub(signed(layout.size()), Ordering::Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: forwards to `System`; the caller guarantees `ptr` came from this
            // allocator, which got it from `System`, with this layout, and that `new_size` is
            // valid.
            let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
            if !new_ptr.is_null() {
                LIVE.fetch_add(signed(new_size) - signed(layout.size()), Ordering::Relaxed);
            }
            new_ptr
        }
    }

    /// Bytes allocated through [`Counting`] and not yet freed.
    pub fn live_bytes() -> isize {
        LIVE.load(Ordering::Relaxed)
    }

    /// Awaits `future`, panicking with `what` if it takes longer than [`PATIENCE`].
    pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
        within_for(PATIENCE, what, future).await
    }

    /// Bytes per idle actor or task, with its handle held and without the handle.
    #[derive(Debug, Clone, Copy)]
    pub struct Footprint {
        /// Bytes per actor with its handle held, as a user holds it.
        pub held: f64,
        /// Bytes per actor without the handle's slot in the user's `Vec`.
        pub without_handle: f64,
    }

    impl Footprint {
        /// The growth of live bytes since `before`, per handle in `handles`, which were
        /// allocated after `before` was read.
        ///
        /// A handle points to shared state that belongs to the actor, so what it costs by
        /// itself is its slot in the user's `Vec`. That slot is subtracted rather than
        /// measured by dropping the handles: dropping the senders would end the baseline's
        /// tasks while they are being counted.
        pub fn measure<H>(before: isize, handles: &Vec<H>) -> Self {
            let live = live_bytes();
            assert!(
                live > 0,
                "no allocation was counted: the bench must make `Counting` its global allocator"
            );
            let count = handles.len() as f64;
            let grown = (live - before) as f64;
            let slots = (handles.capacity() * std::mem::size_of::<H>()) as f64;
            Self {
                held: grown / count,
                without_handle: (grown - slots) / count,
            }
        }
    }

    /// Spawns `count` [`Idle`] Rakt actors with `options`, waits until each has handled its
    /// `PostStart` and parked, and measures them with their `Pid`s held.
    pub async fn rakt_footprint(count: usize, options: SpawnOptions) -> Footprint {
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
                    .spawn_with(name, Idle, options.clone())
                    .await
                    .expect("spawning an idle actor"),
            );
        }
        within("every idle actor handling PostStart", all_started(&pids)).await;
        tokio::time::sleep(SETTLE).await;
        let footprint = Footprint::measure(before, &pids);
        drop(pids);

        within("the idle actors stopping", system.stop())
            .await
            .expect("the idle actors stop");
        footprint
    }

    /// Whether this is a quick check rather than a measurement, by criterion's rule: `cargo
    /// bench` passes `--bench`, `cargo test --benches` does not, and `--test` asks for a
    /// check. `RAKT_BENCH_QUICK` in the environment asks for one too.
    pub fn quick() -> bool {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let bench = args.iter().any(|arg| arg == "--bench");
        let test = args.iter().any(|arg| arg == "--test");
        !bench || test || std::env::var_os("RAKT_BENCH_QUICK").is_some()
    }

    /// `$CARGO_TARGET_DIR` when absolute; otherwise the directory holding the `release`
    /// folder the running bench was built in (`<target>/release/deps/<bench>-…`).
    pub fn target_dir() -> PathBuf {
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

    /// Prints `summary` as one line to stderr. Unless `quick`, it first writes `fields` to
    /// `<target dir>/rakt-bench/<file>` as one JSON object of numbers with two decimals, which
    /// `cargo xtask bench` reads, and names the file at the end of the line.
    pub fn report(mut summary: String, quick: bool, file: &str, fields: &[(&str, f64)]) {
        if !quick {
            let dir = target_dir().join("rakt-bench");
            std::fs::create_dir_all(&dir).expect("the results folder can be created");
            let path = dir.join(file);
            let fields: Vec<String> = fields
                .iter()
                .map(|(name, value)| format!("\"{name}\": {value:.2}"))
                .collect();
            std::fs::write(&path, format!("{{{}}}\n", fields.join(", ")))
                .expect("the results file can be written");
            summary.push_str(&format!("; wrote {}", path.display()));
        }
        eprintln!("{summary}");
    }
}

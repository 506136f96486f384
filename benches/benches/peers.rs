//! Time taken by two workloads on Rakt and on its peers actix, ractor and kameo, in one run on
//! one machine, each beside the bare tokio baseline of the `runtime` bench.
//!
//! Every workload is a criterion group with five functions: `rakt`, `actix`, `ractor`, `kameo`
//! and `baseline`. Each framework is used as its documentation shows, with its idiomatic calls
//! and hand-written trait impls in place of its derive macros, which are not built here. The
//! message is the same 8-byte `Ping` (one `u64`) for all of them, and so is the actor's work.
//! A measurement times the workload only: spawning the actor and stopping it afterwards are
//! left out, as in the `runtime` bench.
//!
//! - `peers_tell_1m`: one producer task tells 1,000,000 messages to one actor that counts them,
//!   until the actor has handled them all; the actor itself signals when its count is reached.
//!   The sends are Rakt's `tell`, actix's `do_send`, ractor's `cast` and kameo's `tell`.
//! - `peers_ask_100k`: one task asks one actor 100,000 times, one ask after the other. The
//!   requests are Rakt's `ask`, actix's `send`, ractor's `call` and kameo's `ask`.
//!
//! Rakt, ractor, kameo and the baseline run on one multi-thread tokio runtime with two workers
//! per group, the runtime all three frameworks are built for. No producer ever waits for room:
//! Rakt's default mailbox and ractor's only one are unbounded, kameo is given an unbounded one
//! with `mailbox::unbounded()` instead of its default bounded one, and actix's `do_send` queues
//! past its mailbox's capacity. actix runs as its users run it: on its own `actix_rt::System`,
//! a single-threaded tokio runtime where the producer and the actor share one thread.
//!
//! `cargo xtask bench` runs this after the `runtime` bench and renders a second table in
//! `docs/benchmarks.md`; `cargo bench -p rakt-benches --bench peers` runs it alone.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rakt_benches::messages::Ping;
use rakt_benches::support::{self, within};
use rakt_benches::workloads::{ASKS, Countdown, TELLS, time_asks, time_tells};
// Rakt and the baseline run the very workloads of the `runtime` bench.
use rakt_benches::workloads::{baseline as on_tokio, rakt as on_rakt};
use tokio::sync::oneshot;

/// Runs `iters` measurements, each in a fresh `actix_rt::System`, and adds up the time each
/// reports for its timed part.
///
/// A fresh system per measurement matches the fresh `ActorSystem` of the Rakt side, and
/// dropping it cleans up whatever the measurement left on its thread.
fn measure_actix<F, Fut>(iters: u64, mut run: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Duration>,
{
    (0..iters)
        .map(|_| actix_rt::System::new().block_on(run()))
        .sum()
}

/// actix 0.13 on `actix_rt`. Both functions run inside an `actix_rt::System`
/// (see [`measure_actix`]): `Actor::start` spawns the actor on the system's thread.
mod on_actix {
    use super::*;
    use actix::{Actor, Context, Handler, Message};

    /// A `Ping` to count. `Ping` is the library's type and actix's `Message` trait is foreign
    /// too, so the orphan rule wants a type of this crate around the same 8 bytes.
    struct Tell(Ping);

    impl Message for Tell {
        type Result = ();
    }

    /// A request for the next number. actix ties the reply type to the message type, so the
    /// ask carries the same 8 bytes in a type of its own.
    struct Ask(Ping);

    impl Message for Ask {
        type Result = u64;
    }

    /// Reports once actix has started the actor on its thread, so that the measurement does
    /// not time the tail of its start.
    struct Ready(Option<oneshot::Sender<()>>);

    impl Ready {
        fn new() -> (Self, oneshot::Receiver<()>) {
            let (ready, started) = oneshot::channel();
            (Self(Some(ready)), started)
        }

        fn report(&mut self) {
            if let Some(ready) = self.0.take() {
                // The bench only drops the receiver after it has heard from us.
                let _ = ready.send(());
            }
        }
    }

    async fn started(started: oneshot::Receiver<()>) {
        within("the actor starting", started)
            .await
            .expect("the actor reports its start");
    }

    struct Counter {
        countdown: Countdown,
        ready: Ready,
    }

    impl Actor for Counter {
        type Context = Context<Self>;

        fn started(&mut self, _ctx: &mut Context<Self>) {
            self.ready.report();
        }
    }

    impl Handler<Tell> for Counter {
        type Result = ();

        fn handle(&mut self, Tell(ping): Tell, _ctx: &mut Context<Self>) {
            self.countdown.count(&ping);
        }
    }

    struct Echo {
        ready: Ready,
    }

    impl Actor for Echo {
        type Context = Context<Self>;

        fn started(&mut self, _ctx: &mut Context<Self>) {
            self.ready.report();
        }
    }

    impl Handler<Ask> for Echo {
        type Result = u64;

        fn handle(&mut self, Ask(ping): Ask, _ctx: &mut Context<Self>) -> u64 {
            ping.answer()
        }
    }

    pub(super) async fn tell() -> Duration {
        let (countdown, finished) = Countdown::new(TELLS);
        let (ready, start_signal) = Ready::new();
        let addr = Counter { countdown, ready }.start();
        started(start_signal).await;

        // `do_send` queues the message whether or not the mailbox is full, like the other
        // frameworks' tells into their unbounded mailboxes; `try_send` would fail once 16
        // messages wait. The actor stops when this, its only address, is dropped, and whatever
        // is left of it goes with its `System`.
        time_tells(finished, actix_rt::spawn, async move {
            for n in 0..TELLS {
                addr.do_send(Tell(Ping { n }));
            }
        })
        .await
    }

    pub(super) async fn ask() -> Duration {
        let (ready, start_signal) = Ready::new();
        let addr = Echo { ready }.start();
        started(start_signal).await;

        time_asks(actix_rt::spawn, async move {
            for n in 0..ASKS {
                let reply = addr.send(Ask(Ping { n })).await.expect("the echo answers");
                black_box(reply);
            }
        })
        .await
    }
}

/// ractor 0.16, on the shared tokio runtime.
mod on_ractor {
    use super::*;
    use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

    struct Counter;

    impl Actor for Counter {
        type Msg = Ping;
        type State = Countdown;
        type Arguments = Countdown;

        async fn pre_start(
            &self,
            _myself: ActorRef<Ping>,
            countdown: Countdown,
        ) -> Result<Countdown, ActorProcessingErr> {
            Ok(countdown)
        }

        async fn handle(
            &self,
            _myself: ActorRef<Ping>,
            ping: Ping,
            countdown: &mut Countdown,
        ) -> Result<(), ActorProcessingErr> {
            countdown.count(&ping);
            Ok(())
        }
    }

    /// ractor passes the reply port inside the message, so a request is its own type.
    enum EchoMessage {
        Ask(Ping, RpcReplyPort<u64>),
    }

    struct Echo;

    impl Actor for Echo {
        type Msg = EchoMessage;
        type State = ();
        type Arguments = ();

        async fn pre_start(
            &self,
            _myself: ActorRef<EchoMessage>,
            _: (),
        ) -> Result<(), ActorProcessingErr> {
            Ok(())
        }

        async fn handle(
            &self,
            _myself: ActorRef<EchoMessage>,
            EchoMessage::Ask(ping, reply): EchoMessage,
            _state: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            // An asker that gave up needs no answer.
            let _ = reply.send(ping.answer());
            Ok(())
        }
    }

    /// Stops the actor and waits for its task to end.
    async fn stop<M: ractor::Message>(actor: ActorRef<M>, task: tokio::task::JoinHandle<()>) {
        actor.stop(None);
        within("the actor stopping", task)
            .await
            .expect("the actor task does not panic");
    }

    /// `Actor::spawn` returns once `pre_start` has run, so the actor is started.
    pub(super) async fn tell() -> Duration {
        let (countdown, finished) = Countdown::new(TELLS);
        let (actor, task) = Actor::spawn(None, Counter, countdown)
            .await
            .expect("spawning the countdown");

        let sender = actor.clone();
        let elapsed = time_tells(finished, tokio::spawn, async move {
            for n in 0..TELLS {
                sender.cast(Ping { n }).expect("the countdown is running");
            }
        })
        .await;

        stop(actor, task).await;
        elapsed
    }

    /// `call` with no timeout, as `call!` makes it.
    pub(super) async fn ask() -> Duration {
        let (actor, task) = Actor::spawn(None, Echo, ())
            .await
            .expect("spawning the echo");

        let asker_ref = actor.clone();
        let elapsed = time_asks(tokio::spawn, async move {
            for n in 0..ASKS {
                let reply: u64 = ractor::call!(asker_ref, EchoMessage::Ask, Ping { n })
                    .expect("the echo answers");
                black_box(reply);
            }
        })
        .await;

        stop(actor, task).await;
        elapsed
    }
}

/// kameo 0.22, on the shared tokio runtime.
mod on_kameo {
    use super::*;
    use kameo::actor::{ActorRef, Spawn};
    use kameo::mailbox;
    use kameo::message::{Context, Message};
    use std::convert::Infallible;

    struct Counter(Countdown);

    impl kameo::Actor for Counter {
        type Args = Self;
        type Error = Infallible;

        async fn on_start(counter: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
            Ok(counter)
        }
    }

    impl Message<Ping> for Counter {
        type Reply = ();

        async fn handle(&mut self, ping: Ping, _ctx: &mut Context<Self, ()>) {
            self.0.count(&ping);
        }
    }

    struct Echo;

    impl kameo::Actor for Echo {
        type Args = Self;
        type Error = Infallible;

        async fn on_start(echo: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
            Ok(echo)
        }
    }

    impl Message<Ping> for Echo {
        type Reply = u64;

        async fn handle(&mut self, ping: Ping, _ctx: &mut Context<Self, u64>) -> u64 {
            ping.answer()
        }
    }

    async fn spawn<A: kameo::Actor<Args = A>>(actor: A) -> ActorRef<A> {
        let actor_ref = A::spawn_with_mailbox(actor, mailbox::unbounded());
        within("the actor starting", actor_ref.wait_for_startup()).await;
        actor_ref
    }

    async fn stop<A: kameo::Actor>(actor_ref: ActorRef<A>) {
        within("the actor stopping", async {
            actor_ref
                .stop_gracefully()
                .await
                .expect("the actor is running");
            actor_ref.wait_for_shutdown().await;
        })
        .await;
    }

    pub(super) async fn tell() -> Duration {
        let (countdown, finished) = Countdown::new(TELLS);
        let actor_ref = spawn(Counter(countdown)).await;

        let sender = actor_ref.clone();
        let elapsed = time_tells(finished, tokio::spawn, async move {
            for n in 0..TELLS {
                sender
                    .tell(Ping { n })
                    .await
                    .expect("the countdown is running");
            }
        })
        .await;

        stop(actor_ref).await;
        elapsed
    }

    /// `ask` with no reply timeout, as kameo makes it by default.
    pub(super) async fn ask() -> Duration {
        let actor_ref = spawn(Echo).await;

        let asker_ref = actor_ref.clone();
        let elapsed = time_asks(tokio::spawn, async move {
            for n in 0..ASKS {
                let reply = asker_ref.ask(Ping { n }).await.expect("the echo answers");
                black_box(reply);
            }
        })
        .await;

        stop(actor_ref).await;
        elapsed
    }
}

/// Defines the bench function `$group`, named for the criterion group it makes: the workload
/// `$workload` of `$elements` messages, run by the function of that name in each framework's
/// module, under the ids xtask reads. actix runs on its own `System`, the others on one tokio
/// runtime of the group's own.
macro_rules! peers_group {
    ($group:ident, $elements:expr, $workload:ident) => {
        fn $group(c: &mut Criterion) {
            let rt = support::runtime();
            let mut group = support::group(c, stringify!($group), $elements);
            support::bench_on(&mut group, "rakt", &rt, on_rakt::$workload);
            group.bench_function("actix", |b| {
                b.iter_custom(|iters| measure_actix(iters, on_actix::$workload));
            });
            support::bench_on(&mut group, "ractor", &rt, on_ractor::$workload);
            support::bench_on(&mut group, "kameo", &rt, on_kameo::$workload);
            support::bench_on(&mut group, "baseline", &rt, on_tokio::$workload);
            group.finish();
        }
    };
}

peers_group!(peers_tell_1m, TELLS, tell);
peers_group!(peers_ask_100k, ASKS, ask);

criterion_group! {
    name = benches;
    config = support::config();
    targets = peers_tell_1m, peers_ask_100k
}
criterion_main!(benches);

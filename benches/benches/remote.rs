//! Remoting between two nodes on loopback, beside a bare tonic baseline, in one run.
//!
//! Both nodes live in this process, on one two-worker tokio runtime, and talk over TCP on
//! 127.0.0.1. The baseline is a bare tonic server of the same `RemoteService`, with no actor
//! runtime behind it, on the same runtime:
//!
//! - **tell throughput**: `TELLS` `Ping`s from node a to counting actors on node b, with 1 and
//!   with 8 sender–receiver pairs, until all have been handled; the baseline sends the same
//!   bytes (each message encoded, 256 to a frame with its names listed once, as the link
//!   batches them) on one
//!   `Exchange` stream per pair of a bare client, to a server that decodes and counts them and
//!   acknowledges each frame. Reported as messages per second, the median of `ROUNDS` rounds.
//! - **ask latency**: `ASKS` sequential asks per pair, with 1 and 8 pairs at once, of echo
//!   actors on node b; the baseline makes the same number of bare unary `Ask` calls, one
//!   envelope each, answered by the bare server. Reported as the 50th and 99th percentiles.
//!
//! The results go to `<target dir>/rakt-bench/remote.json` (`tell_<pairs>_<rakt|baseline>` in
//! messages per second, `ask_<pairs>_<p50|p99>_<rakt|baseline>` in microseconds), which
//! `cargo xtask bench` renders in `docs/benchmarks.md`, and to stderr. Like the memory benches, a run not started by
//! `cargo bench` (or given `--test`, or with `RAKT_BENCH_QUICK` set) is a quick check with a
//! few messages that writes nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use prost::Message as _;
use rakt_actor::{ActorSystem, Context, Pid};
use rakt_benches::memory;
use rakt_benches::messages::Ping;
use rakt_proto::v1::{
    AskRequest, AskResponse, ExchangeFrame, ExchangeReply, LookupRequest, LookupResponse,
    ReinstateRequest, ReinstateResponse, RemoteEnvelope, RemoteReply, RestartRequest,
    RestartResponse, SpawnRequest, SpawnResponse, StopRequest, StopResponse, TellRequest,
    TellResponse, TypedPayload, WatchNotice, WatchRequest, remote_reply,
};
use rakt_remote::Remoting;
use rakt_remote::service::{RemoteService, RemoteServiceClient, RemoteServiceServer};
use tokio::sync::{Notify, mpsc};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status, Streaming};

const TELLS: u64 = 200_000;
const ROUNDS: usize = 5;
const ASKS: usize = 5_000;
const QUICK_TELLS: u64 = 2_000;
const QUICK_ROUNDS: usize = 1;
const QUICK_ASKS: usize = 50;
/// Envelopes per frame of the baseline, as the link's default `max_batch`.
const BATCH: usize = 256;
/// How long any round may take before the bench gives up.
const LIMIT: Duration = Duration::from_secs(120);

/// Counts handled messages towards a target, and wakes the waiter when it is reached.
#[derive(Default)]
struct Tally {
    count: AtomicU64,
    target: AtomicU64,
    done: Notify,
}

impl Tally {
    fn expect(&self, target: u64) {
        self.count.store(0, Ordering::SeqCst);
        self.target.store(target, Ordering::SeqCst);
    }

    fn add(&self, handled: u64) {
        let now = self.count.fetch_add(handled, Ordering::AcqRel) + handled;
        if now == self.target.load(Ordering::Acquire) {
            self.done.notify_one();
        }
    }

    async fn wait(&self) {
        let reached = || self.count.load(Ordering::Acquire) >= self.target.load(Ordering::Acquire);
        let wait = async {
            while !reached() {
                let notified = self.done.notified();
                if reached() {
                    break;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(LIMIT, wait).await.is_err() {
            panic!(
                "only {} of {} messages arrived within {LIMIT:?}",
                self.count.load(Ordering::Acquire),
                self.target.load(Ordering::Acquire)
            );
        }
    }
}

/// The bare server: decodes what arrives, counts tells and echoes asks, with nothing behind.
struct Bare {
    tally: Arc<Tally>,
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<ExchangeReply, Status>> + Send>>;

type NoticeStream = Pin<Box<dyn Stream<Item = Result<WatchNotice, Status>> + Send>>;

#[tonic::async_trait]
impl RemoteService for Bare {
    type ExchangeStream = ReplyStream;
    type WatchStream = NoticeStream;

    async fn watch(&self, _: Request<WatchRequest>) -> Result<Response<NoticeStream>, Status> {
        Err(Status::unimplemented("not measured"))
    }

    async fn exchange(
        &self,
        request: Request<Streaming<ExchangeFrame>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let tally = self.tally.clone();
        let frames = request.into_inner();
        let replies = frames.map(move |frame| {
            let frame = frame?;
            std::hint::black_box(&frame.names);
            let mut handled = 0;
            for envelope in &frame.envelopes {
                let ping = Ping::decode(envelope.payload.as_ref())
                    .map_err(|error| Status::invalid_argument(error.to_string()))?;
                std::hint::black_box(ping);
                handled += 1;
            }
            tally.add(handled);
            Ok(ExchangeReply {
                acknowledged: frame.sequence,
                replies: Vec::new(),
            })
        });
        Ok(Response::new(Box::pin(replies)))
    }

    async fn ask(&self, request: Request<AskRequest>) -> Result<Response<AskResponse>, Status> {
        let mut replies = Vec::new();
        for (index, envelope) in request.into_inner().envelopes.into_iter().enumerate() {
            let ping = Ping::decode(envelope.payload.as_ref())
                .map_err(|error| Status::invalid_argument(error.to_string()))?;
            let answer = Ping { n: ping.answer() };
            replies.push(RemoteReply {
                correlation_id: index as u64,
                outcome: Some(remote_reply::Outcome::Message(TypedPayload {
                    type_name: envelope.type_name,
                    payload: answer.encode_to_vec().into(),
                })),
            });
        }
        Ok(Response::new(AskResponse { replies }))
    }

    async fn tell(&self, _: Request<TellRequest>) -> Result<Response<TellResponse>, Status> {
        Err(Status::unimplemented("not measured"))
    }

    async fn lookup(&self, _: Request<LookupRequest>) -> Result<Response<LookupResponse>, Status> {
        Err(Status::unimplemented("not measured"))
    }

    async fn stop(&self, _: Request<StopRequest>) -> Result<Response<StopResponse>, Status> {
        Err(Status::unimplemented("not measured"))
    }

    async fn restart(
        &self,
        _: Request<RestartRequest>,
    ) -> Result<Response<RestartResponse>, Status> {
        Err(Status::unimplemented("not measured"))
    }

    async fn reinstate(
        &self,
        _: Request<ReinstateRequest>,
    ) -> Result<Response<ReinstateResponse>, Status> {
        Err(Status::unimplemented("not measured"))
    }

    async fn spawn(&self, _: Request<SpawnRequest>) -> Result<Response<SpawnResponse>, Status> {
        Err(Status::unimplemented("not measured"))
    }
}

/// Starts the bare server; returns its address.
async fn bare_server(tally: Arc<Tally>) -> SocketAddr {
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().expect("address"))
            .expect("binds")
            .with_nodelay(Some(true));
    let address = incoming.local_addr().expect("address");
    tokio::spawn(async move {
        let served = Server::builder()
            .add_service(RemoteServiceServer::new(Bare { tally }))
            .serve_with_incoming(incoming)
            .await;
        if let Err(error) = served {
            eprintln!("the bare server stopped: {error}");
        }
    });
    address
}

async fn bare_client(address: SocketAddr) -> RemoteServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{address}"))
        .expect("url")
        .tcp_nodelay(true)
        .connect()
        .await
        .expect("connects");
    RemoteServiceClient::new(channel)
}

/// An envelope for `receiver`, named in full; an empty `receiver` names neither it nor the
/// type, for a frame that refers to its names.
fn envelope(receiver: &str, n: u64) -> RemoteEnvelope {
    RemoteEnvelope {
        receiver: receiver.to_owned(),
        sender: None,
        type_name: if receiver.is_empty() {
            String::new()
        } else {
            "bench.v1.Ping".to_owned()
        },
        payload: Ping { n }.encode_to_vec().into(),
        correlation_id: 0,
        timeout_ms: 0,
        trace_context: HashMap::new(),
        receiver_ref: 0,
        type_ref: 0,
    }
}

/// The bare baseline of one round: `pairs` streams of `per_pair` envelopes each.
async fn bare_tells(
    client: &RemoteServiceClient<Channel>,
    tally: &Tally,
    pairs: u64,
    per_pair: u64,
) -> Duration {
    tally.expect(pairs * per_pair);
    let started = Instant::now();
    for pair in 0..pairs {
        let mut client = client.clone();
        tokio::spawn(async move {
            let (frames, queued) = mpsc::channel(16);
            let outgoing = futures_util::stream::unfold(queued, |mut queued| async move {
                queued.recv().await.map(|frame| (frame, queued))
            });
            let mut acks = client
                .exchange(outgoing)
                .await
                .expect("opens a stream")
                .into_inner();
            let draining =
                tokio::spawn(async move { while let Some(Ok(_)) = acks.next().await {} });
            let receiver = format!("sink-{pair}");
            let mut sequence = 0;
            let mut sent = 0;
            while sent < per_pair {
                let take = (per_pair - sent).min(BATCH as u64);
                sequence += 1;
                // The same bytes as the link sends: each name once per frame, referred to.
                let frame = ExchangeFrame {
                    sequence,
                    envelopes: (sent..sent + take)
                        .map(|n| RemoteEnvelope {
                            receiver_ref: 1,
                            type_ref: 2,
                            ..envelope("", n)
                        })
                        .collect(),
                    watches: Vec::new(),
                    terminations: Vec::new(),
                    names: vec![receiver.clone(), "bench.v1.Ping".to_owned()],
                };
                sent += take;
                if frames.send(frame).await.is_err() {
                    break;
                }
            }
            drop(frames);
            let _ = draining.await;
        });
    }
    tally.wait().await;
    started.elapsed()
}

/// One round on Rakt: `pairs` tasks on node a tell `per_pair` pings each to their sink on b.
async fn rakt_tells(sinks: &[Pid], tally: &Tally, per_pair: u64) -> Duration {
    tally.expect(sinks.len() as u64 * per_pair);
    let started = Instant::now();
    for sink in sinks {
        let sink = sink.clone();
        tokio::spawn(async move {
            for n in 0..per_pair {
                sink.tell(Ping { n }).await.expect("queued");
            }
        });
    }
    tally.wait().await;
    started.elapsed()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// Latencies of `asks` sequential asks on each of `pairs` concurrent askers, sorted.
async fn latencies<F, Fut>(pairs: usize, asks: usize, ask: F) -> Vec<Duration>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let mut askers = Vec::new();
    for pair in 0..pairs {
        let ask = ask.clone();
        askers.push(tokio::spawn(async move {
            let mut measured = Vec::with_capacity(asks);
            for n in 0..asks as u64 {
                let started = Instant::now();
                let answer = ask(pair, n).await;
                measured.push(started.elapsed());
                assert_eq!(answer, n + 1, "the echo answers the next number");
            }
            measured
        }));
    }
    let mut all = Vec::with_capacity(pairs * asks);
    for asker in askers {
        all.extend(
            tokio::time::timeout(LIMIT, asker)
                .await
                .expect("in time")
                .expect("asks"),
        );
    }
    all.sort();
    all
}

/// Measures every workload; returns the results as named numbers, in the order of the table.
async fn measure(quick: bool) -> Vec<(String, f64)> {
    let (tells, rounds, asks) = if quick {
        (QUICK_TELLS, QUICK_ROUNDS, QUICK_ASKS)
    } else {
        (TELLS, ROUNDS, ASKS)
    };
    let tally = Arc::new(Tally::default());

    // Node b: a counting sink and an echo per pair.
    let b = ActorSystem::builder("b").build().expect("system b");
    let b_remoting = Remoting::builder(&b)
        .register::<Ping>()
        .start()
        .await
        .expect("remoting b");
    for pair in 0..8 {
        let counted = tally.clone();
        b.spawn_fn(&format!("sink-{pair}"), move |ctx: &mut Context<'_, _>| {
            if ctx.is::<Ping>() {
                counted.add(1);
            }
            Ok(())
        })
        .await
        .expect("sink");
        b.spawn_fn(&format!("echo-{pair}"), |ctx: &mut Context<'_, _>| {
            if let Some(ping) = ctx.message::<Ping>() {
                let answer = Ping { n: ping.answer() };
                ctx.respond(answer);
            }
            Ok(())
        })
        .await
        .expect("echo");
    }
    let a = ActorSystem::builder("a")
        .ask_timeout(Duration::from_secs(10))
        .build()
        .expect("system a");
    let a_remoting = Remoting::builder(&a)
        .register::<Ping>()
        .start()
        .await
        .expect("remoting a");
    let remote = |name: String| {
        a_remoting
            .actor(&b_remoting.address_of(&name))
            .expect("a remote Pid")
    };
    let sinks: Vec<Pid> = (0..8).map(|pair| remote(format!("sink-{pair}"))).collect();
    let echoes: Vec<Pid> = (0..8).map(|pair| remote(format!("echo-{pair}"))).collect();

    let bare_tally = Arc::new(Tally::default());
    let bare = bare_client(bare_server(bare_tally.clone()).await).await;

    let mut results = Vec::new();
    for pairs in [1_u64, 8] {
        let per_pair = tells / pairs;
        let total = (per_pair * pairs) as f64;
        // One round of each first, untimed: connections, streams and buffers warm up.
        rakt_tells(&sinks[..pairs as usize], &tally, per_pair.min(1_000)).await;
        bare_tells(&bare, &bare_tally, pairs, per_pair.min(1_000)).await;
        let mut rakt = Vec::new();
        let mut baseline = Vec::new();
        for _ in 0..rounds {
            let took = rakt_tells(&sinks[..pairs as usize], &tally, per_pair).await;
            rakt.push(total / took.as_secs_f64());
            let took = bare_tells(&bare, &bare_tally, pairs, per_pair).await;
            baseline.push(total / took.as_secs_f64());
        }
        results.push((format!("tell_{pairs}_rakt"), median(rakt)));
        results.push((format!("tell_{pairs}_baseline"), median(baseline)));
    }

    for pairs in [1_usize, 8] {
        let askers = echoes.clone();
        let rakt = latencies(pairs, asks, move |pair, n| {
            let echo = askers[pair].clone();
            async move {
                let answer: Ping = echo.ask(Ping { n }).await.expect("answers");
                answer.n
            }
        })
        .await;
        let client = bare.clone();
        let baseline = latencies(pairs, asks, move |pair, n| {
            let mut client = client.clone();
            async move {
                let mut question = envelope(&format!("echo-{pair}"), n);
                question.timeout_ms = 10_000;
                let response = client
                    .ask(AskRequest {
                        envelopes: vec![question],
                    })
                    .await
                    .expect("answers")
                    .into_inner();
                match response
                    .replies
                    .into_iter()
                    .next()
                    .and_then(|reply| reply.outcome)
                {
                    Some(remote_reply::Outcome::Message(typed)) => {
                        Ping::decode(typed.payload.as_ref()).expect("a ping").n
                    }
                    other => panic!("no answer: {other:?}"),
                }
            }
        })
        .await;
        for (name, fraction) in [("p50", 0.5), ("p99", 0.99)] {
            let micros = |sorted: &[Duration]| percentile(sorted, fraction).as_secs_f64() * 1e6;
            results.push((format!("ask_{pairs}_{name}_rakt"), micros(&rakt)));
            results.push((format!("ask_{pairs}_{name}_baseline"), micros(&baseline)));
        }
    }

    a_remoting.shutdown().await;
    b_remoting.shutdown().await;
    a.stop().await.expect("a stops");
    b.stop().await.expect("b stops");
    results
}

fn main() {
    let quick = memory::quick();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let results = runtime.block_on(measure(quick));
    let summary: Vec<String> = results
        .iter()
        .map(|(name, value)| format!("{name} {value:.1}"))
        .collect();
    let fields: Vec<(&str, f64)> = results
        .iter()
        .map(|(name, value)| (name.as_str(), *value))
        .collect();
    memory::report(
        format!("remote (msg/s, µs): {}", summary.join(", ")),
        quick,
        "remote.json",
        &fields,
    );
}

//! Spawning actors on another node by kind name, and the request timeout of unary calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rakt_actor::{
    Actor, ActorError, ActorSystem, Context, Dependency, LifecycleContext, MailboxConfig,
    MessageOrder, Passivation, SendError, StopError,
};
use rakt_proto::v1::StatusFailure as Text;
use rakt_remote::{RemoteError, RemoteSpawnOptions, Remoting};
use tokio::sync::Semaphore;

/// How long any expectation waits.
const WAIT: Duration = Duration::from_secs(5);

/// A dependency the worker node makes fresh for each actor that names it.
struct Greeting {
    text: String,
}

impl Dependency for Greeting {
    fn id(&self) -> &str {
        "greeting"
    }
}

/// Counts the `Text` messages it got, replying with the count and its greeting, if any.
#[derive(Default)]
struct Counter {
    count: u32,
}

impl Actor for Counter {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<Text>() {
            self.count += 1;
            let greeting = ctx
                .dependency::<Greeting>()
                .map(|greeting| greeting.text.clone())
                .unwrap_or_default();
            ctx.respond(Text {
                error: format!("{greeting}{}", self.count),
            });
        }
        Ok(())
    }
}

/// Fails to start.
struct Broken;

impl Actor for Broken {
    async fn pre_start(&mut self, _ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        Err(ActorError::msg("no disk"))
    }

    async fn receive(&mut self, _ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        Ok(())
    }
}

/// Holds each message until the gate lets one through.
struct Gated {
    gate: Arc<Semaphore>,
}

impl Actor for Gated {
    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<Text>() {
            let permit = self.gate.acquire().await.map_err(ActorError::msg)?;
            permit.forget();
        }
        Ok(())
    }
}

struct Nodes {
    worker: ActorSystem,
    workers: Remoting,
    client_system: ActorSystem,
    client: Remoting,
    gate: Arc<Semaphore>,
    greetings_made: Arc<AtomicU32>,
}

impl Nodes {
    async fn start() -> Self {
        let worker = system("worker");
        let gate = Arc::new(Semaphore::new(0));
        let greetings_made = Arc::new(AtomicU32::new(0));
        let made = greetings_made.clone();
        let gated = gate.clone();
        let workers = Remoting::builder(&worker)
            .kind("counter", Counter::default)
            .kind("broken", || Broken)
            .kind("gated", move || Gated {
                gate: gated.clone(),
            })
            .dependency("greeting", move || {
                made.fetch_add(1, Ordering::SeqCst);
                Greeting {
                    text: "hello ".into(),
                }
            })
            .start()
            .await
            .expect("worker remoting");
        let client_system = system("client");
        let client = Remoting::builder(&client_system)
            .kind("counter", Counter::default)
            .start()
            .await
            .expect("client remoting");
        Self {
            worker,
            workers,
            client_system,
            client,
            gate,
            greetings_made,
        }
    }

    fn port(&self) -> u16 {
        self.workers.local_addr().port()
    }

    async fn spawn(
        &self,
        name: &str,
        kind: &str,
        options: RemoteSpawnOptions,
    ) -> Result<rakt_actor::Pid, RemoteError> {
        self.client
            .spawn("127.0.0.1", self.port(), name, kind, options)
            .await
    }

    async fn stop(self) {
        self.client.shutdown().await;
        self.workers.shutdown().await;
        self.client_system.stop().await.expect("client stops");
        self.worker.stop().await.expect("worker stops");
    }
}

fn system(name: &str) -> ActorSystem {
    ActorSystem::builder(name)
        .ask_timeout(Duration::from_secs(2))
        .log_dead_letters(false)
        .build()
        .expect("system")
}

async fn ask_text(pid: &rakt_actor::Pid) -> String {
    let reply: Text = pid
        .ask(Text::default())
        .await
        .expect("the spawned actor answers");
    reply.error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_spawns_an_actor_of_a_registered_kind_with_its_dependencies() {
    let nodes = Nodes::start().await;
    let options = RemoteSpawnOptions::new().dependency("greeting");
    let counter = nodes
        .spawn("counter-1", "counter", options)
        .await
        .expect("spawns");
    assert!(counter.is_remote());
    assert_eq!(counter.address(), nodes.workers.address_of("counter-1"));
    assert_eq!(ask_text(&counter).await, "hello 1");
    assert_eq!(ask_text(&counter).await, "hello 2");

    let local = nodes
        .worker
        .local_actor("counter-1")
        .expect("lives on the worker");
    assert_eq!(local.id(), counter.id(), "the Pid names this incarnation");
    let ids: Vec<String> = local
        .dependencies()
        .iter()
        .map(|d| d.id().to_owned())
        .collect();
    assert_eq!(ids, ["greeting"]);
    assert_eq!(nodes.greetings_made.load(Ordering::SeqCst), 1);

    // A restart makes fresh state from the kind's factory and keeps the dependency.
    counter.restart().await.expect("restarts remotely");
    assert_eq!(ask_text(&counter).await, "hello 1");

    // Without the dependency, another actor of the same kind has no greeting.
    let bare = nodes
        .spawn("counter-2", "counter", RemoteSpawnOptions::new())
        .await
        .expect("spawns");
    assert_eq!(ask_text(&bare).await, "1");

    counter.stop().await.expect("stops remotely");
    assert!(nodes.worker.local_actor("counter-1").is_none());
    nodes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_unique_per_node_and_refusals_are_typed() {
    let nodes = Nodes::start().await;
    nodes
        .spawn("only", "counter", RemoteSpawnOptions::new())
        .await
        .expect("spawns");
    let taken = nodes
        .spawn("only", "counter", RemoteSpawnOptions::new())
        .await;
    assert!(
        matches!(&taken, Err(RemoteError::NameTaken { name, .. }) if name == "only"),
        "{taken:?}"
    );

    let unknown = nodes.spawn("x", "sorter", RemoteSpawnOptions::new()).await;
    assert!(
        matches!(&unknown, Err(RemoteError::UnknownKind { kind, .. }) if kind == "sorter"),
        "{unknown:?}"
    );

    let options = RemoteSpawnOptions::new()
        .dependency("greeting")
        .dependency("clock");
    let missing = nodes.spawn("y", "counter", options).await;
    assert!(
        matches!(&missing, Err(RemoteError::UnknownDependency { id, .. }) if id == "clock"),
        "{missing:?}"
    );

    let invalid = nodes
        .spawn("no/slashes", "counter", RemoteSpawnOptions::new())
        .await;
    assert!(
        matches!(invalid, Err(RemoteError::SpawnFailed { .. })),
        "{invalid:?}"
    );

    let zero = RemoteSpawnOptions::new().mailbox(MailboxConfig::NonBlockingBounded { capacity: 0 });
    let zero = nodes.spawn("z", "counter", zero).await;
    assert!(
        matches!(zero, Err(RemoteError::SpawnFailed { .. })),
        "{zero:?}"
    );

    let broken = nodes
        .spawn("broken", "broken", RemoteSpawnOptions::new())
        .await;
    match broken {
        Err(RemoteError::SpawnFailed { reason, .. }) => {
            assert!(reason.contains("no disk"), "{reason}")
        }
        other => panic!("expected a failed pre_start, got {other:?}"),
    }
    assert!(nodes.worker.local_actor("broken").is_none());

    // A priority mailbox orders by a function: it is refused before anything is sent.
    let order = MessageOrder::new(|_, _| std::cmp::Ordering::Equal);
    let priority = RemoteSpawnOptions::new().mailbox(MailboxConfig::Priority(order));
    let priority = nodes.spawn("p", "counter", priority).await;
    assert!(
        matches!(priority, Err(RemoteError::SpawnFailed { .. })),
        "{priority:?}"
    );
    assert_eq!(
        nodes.worker.actor_count(),
        1,
        "only the first spawn left an actor"
    );
    nodes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_options_reach_the_actor() {
    let nodes = Nodes::start().await;
    // The mailbox: one message in hand, one queued, the third is refused on the worker.
    let bounded = RemoteSpawnOptions::new()
        .mailbox(MailboxConfig::NonBlockingBounded { capacity: 1 })
        .stash_capacity(4);
    nodes
        .spawn("gated", "gated", bounded)
        .await
        .expect("spawns");
    let gated = nodes
        .worker
        .local_actor("gated")
        .expect("lives on the worker");
    gated.tell(Text::default()).await.expect("first");
    let taken = tokio::time::timeout(WAIT, async {
        while gated.metrics().mailbox_len > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(taken.is_ok(), "the first message is taken from the mailbox");
    gated
        .tell(Text::default())
        .await
        .expect("second waits in the mailbox");
    let full = gated.tell(Text::default()).await;
    assert!(
        matches!(full, Err(SendError::MailboxFull { .. })),
        "{full:?}"
    );
    nodes.gate.add_permits(2);

    // Passivation: the actor stops itself on the worker once idle.
    let idle =
        RemoteSpawnOptions::new().passivation(Passivation::AfterIdle(Duration::from_millis(100)));
    let sleepy = nodes
        .spawn("sleepy", "counter", idle)
        .await
        .expect("spawns");
    assert_eq!(
        nodes
            .worker
            .local_actor("sleepy")
            .map(|pid| pid.passivation()),
        Some(Passivation::AfterIdle(Duration::from_millis(100)))
    );
    let passivated = tokio::time::timeout(WAIT, async {
        while nodes.worker.local_actor("sleepy").is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(passivated.is_ok(), "the idle actor passivates");
    let gone = sleepy.ask::<Text, _>(Text::default()).await;
    assert!(
        gone.is_err(),
        "a passivated actor no longer answers: {gone:?}"
    );
    nodes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawning_on_the_own_address_spawns_locally() {
    let nodes = Nodes::start().await;
    let port = nodes.client.local_addr().port();
    let local = nodes
        .client
        .spawn(
            "127.0.0.1",
            port,
            "mine",
            "counter",
            RemoteSpawnOptions::new(),
        )
        .await
        .expect("spawns here");
    assert!(local.is_local());
    assert_eq!(ask_text(&local).await, "1");
    let again = nodes
        .client
        .spawn(
            "127.0.0.1",
            port,
            "mine",
            "counter",
            RemoteSpawnOptions::new(),
        )
        .await;
    assert!(
        matches!(again, Err(RemoteError::NameTaken { .. })),
        "{again:?}"
    );
    nodes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_fails_requests_within_the_request_timeout() {
    // Accepts connections and never speaks HTTP/2.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = silent.local_addr().expect("address").port();
    let accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..8 {
            match silent.accept().await {
                Ok((socket, _)) => held.push(socket),
                Err(_) => break,
            }
        }
        held
    });

    let system = system("impatient");
    let remoting = Remoting::builder(&system)
        .request_timeout(Duration::from_millis(300))
        .start()
        .await
        .expect("remoting");
    let started = tokio::time::Instant::now();
    let spawned = remoting
        .spawn("127.0.0.1", port, "x", "counter", RemoteSpawnOptions::new())
        .await;
    assert!(
        matches!(spawned, Err(RemoteError::Timeout { .. })),
        "{spawned:?}"
    );
    assert!(started.elapsed() < WAIT);

    let address = rakt_actor::Address::remote("silent", "127.0.0.1", port, "x");
    let pid = remoting.actor(&address).expect("a remote Pid");
    let stopped = pid.stop().await;
    assert!(
        matches!(stopped, Err(StopError::Timeout { .. })),
        "{stopped:?}"
    );
    let found = remoting.lookup(&address).await;
    assert!(
        matches!(found, Err(RemoteError::Timeout { .. })),
        "{found:?}"
    );

    remoting.shutdown().await;
    system.stop().await.expect("stops");
    accepting.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_holds_at_most_max_queued_messages_for_a_slow_peer() {
    // Accepts connections and never speaks HTTP/2: once the link's task has connected, it
    // waits there for the connect timeout, and messages pile up behind.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = silent.local_addr().expect("address").port();
    let (connected, mut connection) = tokio::sync::mpsc::unbounded_channel();
    let accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
            let _ = connected.send(());
        }
    });
    let system = system("hasty");
    let mut events = system.subscribe();
    let remoting = Remoting::builder(&system)
        .max_queued(4)
        .connect_timeout(Duration::from_secs(10))
        .start()
        .await
        .expect("remoting");
    let address = rakt_actor::Address::remote("silent", "127.0.0.1", port, "sink");
    let sink = remoting.actor(&address).expect("a remote Pid");
    // The first message wakes the link's task, which takes it and connects.
    sink.tell(Text::default()).await.expect("queued");
    tokio::time::timeout(WAIT, connection.recv())
        .await
        .expect("the link connects in time");
    let mut overloaded = 0;
    for n in 0..20 {
        match sink
            .tell(Text {
                error: n.to_string(),
            })
            .await
        {
            Ok(()) => {}
            Err(SendError::Overloaded { queued, .. }) => {
                assert!(queued >= 4, "{queued}");
                overloaded += 1;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        overloaded >= 15,
        "at most 4 queued and 1 taken: {overloaded} refused"
    );
    // Each refusal is a dead letter that says why.
    let mut seen = 0;
    while seen < overloaded {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("an event in time");
        if let Some(rakt_actor::Event::DeadLetter(letter)) = event {
            assert_eq!(letter.reason(), rakt_actor::DeadLetterReason::Overloaded);
            seen += 1;
        }
    }
    remoting.shutdown().await;
    system.stop().await.expect("stops");
    accepting.abort();
}

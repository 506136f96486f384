//! Two nodes in two processes on loopback: the test binary starts itself again as the second
//! node, reaches it, watches it, and notices when the process is killed.

mod support;

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use futures_util::FutureExt as _;
use rakt_actor::{Address, AskError, Context, Pid, SendError};
use rakt_proto::v1::{StatusFailure as Text, Terminated};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use support::{Node, WAIT, text};

/// Set in the child's environment: the child test runs a node only when it is there.
const CHILD_ENV: &str = "RAKT_REMOTE_TWO_PROCESSES_CHILD";

/// What the child prints before its port, on a line of its own.
const PORT_PREFIX: &str = "rakt-child-port=";

/// The longest a child node lives, whatever becomes of its parent.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);

/// The name of the child's node.
const CHILD_SYSTEM: &str = "child";

/// The second node, in its own process: this test binary, running only [`child_node`].
/// Dropping it kills the process.
struct ChildNode {
    process: Child,
    port: u16,
}

impl ChildNode {
    async fn start() -> Self {
        let test_binary = std::env::current_exe().expect("the test binary");
        let mut process = Command::new(test_binary)
            .args(["child_node", "--exact", "--nocapture", "--include-ignored"])
            .args(["--test-threads", "1"])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the child starts");
        let stdout = process.stdout.take().expect("a piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        // The test harness prints lines of its own; the port comes within a few of them.
        let port = tokio::time::timeout(WAIT, async {
            for _ in 0..100 {
                let line = lines.next_line().await.expect("readable")?;
                if let Some((_, port)) = line.split_once(PORT_PREFIX) {
                    return port.trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .expect("the child reports its port in time")
        .expect("the child reports its port");
        // The rest of its output is not needed; reading it on keeps the child from blocking
        // on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { process, port }
    }

    fn address_of(&self, name: &str) -> Address {
        Address::remote(CHILD_SYSTEM, "127.0.0.1", self.port, name)
    }

    /// Kills the process, and waits for it to be gone.
    async fn kill(&mut self) {
        tokio::time::timeout(WAIT, self.process.kill())
            .await
            .expect("the child dies in time")
            .expect("the child is killed");
    }
}

/// The child's node: an echo actor and a silent one that holds every question unanswered.
/// It ends when its stdin closes or after [`CHILD_LIFETIME`], whichever comes first.
#[test]
#[ignore = "the second node of the two-process test, started by it in a child process"]
fn child_node() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let node = Node::start(CHILD_SYSTEM, |builder| builder).await;
        node.echo("echo").await;
        let mut held = Vec::new();
        node.system
            .spawn_fn("silent", move |ctx: &mut Context<'_, _>| {
                held.extend(ctx.defer_reply());
                Ok(())
            })
            .await
            .expect("spawns");
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "\n{PORT_PREFIX}{}",
            node.remoting.local_addr().port()
        )
        .expect("stdout");
        stdout.flush().expect("stdout");
        drop(stdout);
        // A plain thread, not a blocking task: the runtime would wait for the read on its way
        // down, and the process ends with the test anyway.
        let (closed, stdin_closed) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = closed.send(());
        });
        tokio::select! {
            _ = stdin_closed => {}
            () = tokio::time::sleep(CHILD_LIFETIME) => {}
        }
        node.stop().await;
    });
}

/// An actor of the parent that reports every `Text` it gets, and every `Terminated`.
async fn reporter(
    node: &Node,
    name: &str,
) -> (
    Pid,
    mpsc::UnboundedReceiver<String>,
    mpsc::UnboundedReceiver<Terminated>,
) {
    let (heard, texts) = mpsc::unbounded_channel();
    let (gone, terminations) = mpsc::unbounded_channel();
    let pid = node
        .system
        .spawn_fn(name, move |ctx: &mut Context<'_, _>| {
            if let Some(text) = ctx.take_message::<Text>() {
                let _ = heard.send(text.error);
            } else if let Some(terminated) = ctx.take_message::<Terminated>() {
                let _ = gone.send(terminated);
            }
            Ok(())
        })
        .await
        .expect("spawns");
    (pid, texts, terminations)
}

async fn next<T>(receiver: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, receiver.recv())
        .await
        .expect("in time")
        .expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_in_another_process_is_reached_watched_and_lost() {
    let mut child = ChildNode::start().await;
    let node = Node::start("parent", |builder| builder).await;
    let lookup = |name: &'static str| {
        let address = child.address_of(name);
        let remoting = &node.remoting;
        async move {
            tokio::time::timeout(WAIT, remoting.lookup(&address))
                .await
                .expect("a lookup in time")
                .expect("the child is reachable")
                .expect("the actor runs")
        }
    };
    let echo = lookup("echo").await;
    let silent = lookup("silent").await;
    assert!(echo.is_remote());
    assert_eq!(echo.address(), child.address_of("echo"));

    // Tells and asks cross the process boundary both ways, in order.
    let (me, mut heard, mut gone) = reporter(&node, "me").await;
    for i in 0..20 {
        echo.tell_from(&me, text(&format!("tell {i}")))
            .await
            .expect("sent");
    }
    for i in 0..20 {
        assert_eq!(next(&mut heard).await, format!("tell {i}"));
    }
    let replies = echo
        .batch_ask::<Text, _>((0..20).map(|i| text(&format!("ask {i}"))), WAIT)
        .await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.expect("a reply").error, format!("ask {i}"));
    }

    // Watches, then questions the child holds unanswered; an ask of the echo after them on
    // the same stream returns only once the child has them all.
    me.watch(&echo);
    me.watch(&silent);
    let mut asking: Vec<_> = (0..3)
        .map(|i| {
            let ask = silent
                .ask::<Text, _>(text(&format!("held {i}")))
                .timeout(Duration::from_secs(30));
            Box::pin(std::future::IntoFuture::into_future(ask))
        })
        .collect();
    for ask in &mut asking {
        // Polled once: the question is on the link, ahead of the next ask.
        assert!(ask.now_or_never().is_none(), "the child holds it");
    }
    let reply: Text = echo.ask(text("sync")).timeout(WAIT).await.expect("a reply");
    assert_eq!(reply.error, "sync");

    child.kill().await;

    // Both watched actors are reported gone, with the reason.
    let mut addresses = Vec::new();
    for _ in 0..2 {
        let terminated = next(&mut gone).await;
        assert!(
            terminated.reason.contains("unreachable"),
            "a reason: {terminated:?}"
        );
        addresses.push(terminated.address);
    }
    addresses.sort();
    assert_eq!(
        addresses,
        [
            child.address_of("echo").to_string(),
            child.address_of("silent").to_string()
        ]
    );
    // The questions in flight fail with a typed error, long before their timeout.
    for asked in asking {
        let outcome = tokio::time::timeout(WAIT, asked)
            .await
            .expect("fails well before its 30 s timeout");
        assert!(
            matches!(outcome, Err(AskError::Send(SendError::Unreachable { .. }))),
            "{outcome:?}"
        );
    }
    // Later sends fail at once, and count as dead letters.
    let dead_letters = node.system.dead_letter_count();
    let error = tokio::time::timeout(WAIT, echo.ask::<Text, _>(text("anyone?")))
        .await
        .expect("fails in time")
        .expect_err("the child is gone");
    assert!(
        matches!(error, AskError::Send(SendError::Unreachable { .. })),
        "{error}"
    );
    assert!(node.system.dead_letter_count() > dead_letters);
    node.stop().await;
}

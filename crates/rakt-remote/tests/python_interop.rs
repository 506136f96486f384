//! A node driven from Python with grpcio: a client in another language, built from the same
//! `.proto` files as the node, tells and asks its actors through `RemoteService`'s unary calls.
//!
//! The client is `tests/python/interop.py`, which checks every answer it gets; this side checks
//! that its tells reached the actor in order. It runs with the interpreter `RAKT_PYTHON` names,
//! which needs grpcio and grpcio-tools: `cargo xtask ci` provisions one and sets the variable.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rakt_actor::{ActorError, ActorSystem, Context};
use rakt_proto::v1::StatusFailure as Text;
use rakt_remote::Remoting;
use tokio::sync::mpsc;

/// The environment variable that names the Python interpreter to run the client with.
const PYTHON_ENV: &str = "RAKT_PYTHON";

/// How long the client may run before it is killed.
const CLIENT_LIMIT: Duration = Duration::from_secs(60);

/// How long the recorder may take to report each text.
const WAIT: Duration = Duration::from_secs(5);

/// How many texts the client tells the recorder.
const TELLS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_tells_and_asks_actors_with_the_same_protos() {
    let python = python();
    let system = ActorSystem::builder("interop")
        .log_dead_letters(false)
        .build()
        .expect("system");
    let remoting = Remoting::builder(&system).start().await.expect("remoting");
    let echo = system
        .spawn_fn("echo", |ctx: &mut Context<'_, _>| {
            if let Some(text) = ctx.take_message::<Text>() {
                if text.error == "fail" {
                    return Err(ActorError::msg("asked to fail"));
                }
                ctx.respond(Text {
                    error: format!("echo: {}", text.error),
                });
            }
            Ok(())
        })
        .await
        .expect("spawns");
    let (heard, mut texts) = mpsc::unbounded_channel();
    system
        .spawn_fn("recorder", move |ctx: &mut Context<'_, _>| {
            if let Some(text) = ctx.take_message::<Text>() {
                let _ = heard.send(text.error);
            }
            Ok(())
        })
        .await
        .expect("spawns");

    let crate_dir = crate_dir();
    let mut client = Command::new(&python);
    client
        .arg(crate_dir.join("tests/python/interop.py"))
        .arg("--port")
        .arg(remoting.local_addr().port().to_string())
        .arg("--proto-dir")
        .arg(crate_dir.join("../../proto"))
        .arg("--echo")
        .arg(remoting.address_of("echo").to_string())
        .arg("--echo-id")
        .arg(echo.id().to_string())
        .arg("--recorder")
        .arg(remoting.address_of("recorder").to_string())
        .arg("--tells")
        .arg(TELLS.to_string());
    // Waited for on a blocking thread, so that the runtime's workers keep serving the client.
    let finished = tokio::task::spawn_blocking(move || run_bounded(client, CLIENT_LIMIT))
        .await
        .expect("the client's runner");
    assert!(
        finished.status.is_some_and(|status| status.success()),
        "the Python client ({}) failed:\n{finished}",
        python.display()
    );

    // The client's last call, an ask of the recorder, returned only after the recorder had
    // handled it, and so every tell before it: all are in the channel by now.
    let mut expected: Vec<String> = (0..TELLS).map(|i| format!("tell {i}")).collect();
    expected.push("unanswered".to_owned());
    let mut recorded = Vec::new();
    while recorded.len() < expected.len() {
        match tokio::time::timeout(WAIT, texts.recv()).await {
            Ok(Some(text)) => recorded.push(text),
            Ok(None) | Err(_) => break,
        }
    }
    while let Ok(extra) = texts.try_recv() {
        recorded.push(extra);
    }
    assert_eq!(
        recorded, expected,
        "the recorder got the client's texts, and only those, in order"
    );

    remoting.shutdown().await;
    system.stop().await.expect("stops");
}

/// The interpreter `RAKT_PYTHON` names; a clear failure when it is unset, since skipping would
/// pass without proving anything.
fn python() -> PathBuf {
    match std::env::var_os(PYTHON_ENV).filter(|path| !path.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "{PYTHON_ENV} is not set: this test drives a node from Python and needs an \
             interpreter with grpcio and grpcio-tools. Run `cargo xtask ci`, which provisions \
             one and sets {PYTHON_ENV} for the tests, or set {PYTHON_ENV} to such an \
             interpreter, such as the one `cargo xtask ci` leaves in \
             <target dir>/rakt-tools/python-venv/bin/python"
        ),
    }
}

/// This crate's folder: where cargo says at run time, else where it was at build time.
fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// What a helper process did.
struct Finished {
    /// Its exit status; `None` when it ran over its time and was killed.
    status: Option<ExitStatus>,
    limit: Duration,
    stdout: String,
    stderr: String,
}

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => writeln!(f, "it exited with {status}")?,
            None => writeln!(f, "it ran over {:?} and was killed", self.limit)?,
        }
        write!(f, "--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// A child process that is killed and reaped when dropped, so that no failure leaves it
/// running.
struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        // Both fail harmlessly when the child has already been reaped.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `command` with its output captured, and kills it once it has run for `limit`.
fn run_bounded(mut command: Command, limit: Duration) -> Finished {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let mut helper = Helper(child);
    let stdout = drain(helper.0.stdout.take());
    let stderr = drain(helper.0.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        match helper.0.try_wait().expect("the helper's status") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    // A killed child's pipes close, so the readers end.
    drop(helper);
    Finished {
        status,
        limit,
        stdout: stdout.join().expect("the stdout reader"),
        stderr: stderr.join().expect("the stderr reader"),
    }
}

/// Reads all of `pipe` on a thread of its own, so a child that fills one pipe never stalls.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // What was read before an error is still worth showing.
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

//! What the remoting tests share: a node with an echo actor, and how long any wait may last.

use std::time::Duration;

use rakt_actor::{ActorSystem, Context, Pid};
use rakt_proto::v1::StatusFailure as Text;
use rakt_remote::{Remoting, RemotingBuilder};

/// How long any expectation waits.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// One node: an actor system that listens on a free port of 127.0.0.1.
pub(crate) struct Node {
    pub(crate) system: ActorSystem,
    pub(crate) remoting: Remoting,
}

impl Node {
    /// Starts a node; `configure` adds settings to the remoting builder.
    pub(crate) async fn start(
        name: &str,
        configure: impl FnOnce(RemotingBuilder) -> RemotingBuilder,
    ) -> Self {
        let system = ActorSystem::builder(name)
            .ask_timeout(Duration::from_secs(2))
            .log_dead_letters(false)
            .build()
            .expect("system");
        let builder = Remoting::builder(&system).connect_timeout(Duration::from_secs(1));
        let remoting = configure(builder).start().await.expect("remoting");
        Self { system, remoting }
    }

    /// Spawns the echo actor: it answers every `Text` with itself.
    pub(crate) async fn echo(&self, name: &str) -> Pid {
        self.system
            .spawn_fn(name, |ctx: &mut Context<'_, _>| {
                if let Some(text) = ctx.take_message::<Text>() {
                    ctx.respond(text);
                }
                Ok(())
            })
            .await
            .expect("spawns")
    }

    /// Stops remoting, then the system.
    pub(crate) async fn stop(self) {
        self.remoting.shutdown().await;
        self.system.stop().await.expect("stops");
    }
}

pub(crate) fn text(s: &str) -> Text {
    Text { error: s.into() }
}

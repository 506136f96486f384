//! Per-actor dependencies: injected at spawn, reachable from handlers and `pre_start`, kept
//! across restarts.

mod support;

use std::sync::Arc;

use parking_lot::Mutex;
use rakt_actor::{
    Actor, ActorError, ActorSystem, Context, Dependency, FnActor, LifecycleContext, Pid,
    SpawnError, SpawnOptions,
};
use support::{Fail, Ping, Pong};

struct Database {
    url: String,
}

impl Dependency for Database {
    fn id(&self) -> &str {
        "database"
    }
}

struct Named(&'static str);

impl Dependency for Named {
    fn id(&self) -> &str {
        self.0
    }
}

/// Takes its database in `pre_start`, answers pings with the length of its url.
struct Repository {
    database: Option<Arc<Database>>,
    /// The address of the `Database` each incarnation saw, to tell them apart.
    seen: Arc<Mutex<Vec<usize>>>,
}

impl Actor for Repository {
    async fn pre_start(&mut self, ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        let database = ctx
            .dependency::<Database>()
            .ok_or_else(|| ActorError::msg("no database"))?;
        self.seen.lock().push(Arc::as_ptr(&database) as usize);
        self.database = Some(database);
        Ok(())
    }

    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<Ping>() {
            let from_ctx = ctx.dependency::<Database>().map_or(0, |db| db.url.len());
            let from_state = self.database.as_ref().map_or(0, |db| db.url.len());
            assert_eq!(from_ctx, from_state);
            ctx.respond(Pong {
                n: from_state as u64,
            });
        } else if ctx.is::<Fail>() {
            return Err(ActorError::msg("asked to fail"));
        }
        Ok(())
    }
}

#[tokio::test]
async fn dependencies_reach_handlers_and_survive_a_restart_on_a_fresh_state() {
    let system = ActorSystem::builder("deps").build().expect("system");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let options = SpawnOptions::new()
        .dependency(Database {
            url: "postgres://db".into(),
        })
        .dependency(Named("audit"));
    let factory = {
        let seen = seen.clone();
        move || Repository {
            database: None,
            seen: seen.clone(),
        }
    };
    let pid = system
        .spawn_factory("repo", factory, options)
        .await
        .expect("spawn");
    let pong: Pong = pid.ask(Ping { n: 0 }).await.expect("ask");
    assert_eq!(pong.n, "postgres://db".len() as u64);

    pid.tell(Fail { panic: false }).await.expect("tell");
    let pong: Pong = pid.ask(Ping { n: 0 }).await.expect("ask after the restart");
    assert_eq!(pong.n, "postgres://db".len() as u64);
    assert_eq!(pid.metrics().restarts, 1);
    let seen = seen.lock().clone();
    assert_eq!(seen.len(), 2, "pre_start ran for both incarnations");
    assert_eq!(seen[0], seen[1], "the same dependency, restored");

    let ids: Vec<String> = pid
        .dependencies()
        .iter()
        .map(|d| d.id().to_owned())
        .collect();
    assert_eq!(ids, ["database", "audit"]);
    pid.stop().await.expect("stop");
    assert!(pid.dependencies().is_empty(), "released with the actor");
    system.stop().await.expect("stop");
}

async fn spawn_sink(system: &ActorSystem, options: SpawnOptions) -> Result<Pid, SpawnError> {
    let sink = FnActor::new(|_ctx| Ok(()));
    system.spawn_with("sink", sink, options).await
}

#[tokio::test]
async fn dependency_ids_must_be_present_and_distinct() {
    let system = ActorSystem::builder("bad-deps").build().expect("system");
    let twice = SpawnOptions::new()
        .dependency(Named("x"))
        .dependency(Named("x"));
    let err = spawn_sink(&system, twice).await.expect_err("duplicate");
    assert!(
        matches!(err, SpawnError::InvalidDependency { ref reason } if reason.contains("\"x\"")),
        "{err}"
    );
    let empty = SpawnOptions::new().dependency(Named(""));
    let err = spawn_sink(&system, empty).await.expect_err("empty");
    assert!(matches!(err, SpawnError::InvalidDependency { .. }), "{err}");
    assert_eq!(system.actor_count(), 0);
    system.stop().await.expect("stop");
}

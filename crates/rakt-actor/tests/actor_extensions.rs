//! System extensions, seen from actors.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};

use rakt_actor::{Actor, ActorError, ActorSystem, Context, LifecycleContext, SystemError};
use rakt_proto::v1::PostStart;
use support::{Ping, Pong};

/// Counts what the actors of one system do: an extension shared by all of them.
#[derive(Debug, Default)]
struct Audit {
    starts: AtomicU32,
    pings: AtomicU32,
}

struct Audited;

impl Actor for Audited {
    async fn pre_start(&mut self, ctx: &mut LifecycleContext<'_>) -> Result<(), ActorError> {
        let audit = ctx
            .extension::<Audit>()
            .ok_or_else(|| ActorError::msg("no audit"))?;
        audit.starts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            return Ok(());
        }
        let audit = ctx
            .extension::<Audit>()
            .ok_or_else(|| ActorError::msg("no audit"))?;
        if let Some(ping) = ctx.message::<Ping>() {
            let n = ping.n;
            let pings = audit.pings.fetch_add(1, Ordering::SeqCst) + 1;
            ctx.respond(Pong {
                n: n * 100 + u64::from(pings),
            });
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_actor_reaches_the_same_extension() {
    let system = ActorSystem::builder("audited")
        .extension(Audit::default())
        .build()
        .expect("system");
    let first = system.spawn("first", Audited).await.expect("spawn");
    let second = system.spawn("second", Audited).await.expect("spawn");
    let a: Pong = first.ask(Ping { n: 1 }).await.expect("reply");
    let b: Pong = second.ask(Ping { n: 2 }).await.expect("reply");
    // One counter behind both actors: the second ping is the second one counted.
    assert_eq!((a.n, b.n), (101, 202));
    let audit = system.extension::<Audit>().expect("registered");
    assert_eq!(audit.starts.load(Ordering::SeqCst), 2);
    assert_eq!(audit.pings.load(Ordering::SeqCst), 2);
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn an_actor_without_the_extension_fails_to_start() {
    let system = ActorSystem::builder("unaudited").build().expect("system");
    let error = system
        .spawn("first", Audited)
        .await
        .expect_err("pre_start finds no audit");
    assert!(error.to_string().contains("no audit"), "{error}");
    system.stop().await.expect("stop");
}

#[tokio::test]
async fn two_extensions_of_one_type_are_refused() {
    let error = ActorSystem::builder("twice")
        .extension(Audit::default())
        .extension(7_u8)
        .extension(Audit::default())
        .build()
        .expect_err("duplicate");
    let SystemError::DuplicateExtension { type_name } = error else {
        panic!("unexpected error: {error}");
    };
    assert!(type_name.ends_with("Audit"), "{type_name}");
}

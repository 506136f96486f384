//! Many senders race a stop or a kill: every message is either handled or a dead letter, and
//! every failed send is one of those dead letters. Bounded in count and time.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rakt_actor::{ActorSystem, Context, FnActor, MailboxConfig, Pid, SpawnOptions};
use support::Ping;

const SENDERS: u64 = 4;
const PER_SENDER: u64 = 5_000;

async fn race(mailbox: MailboxConfig, kill: bool) {
    let system = ActorSystem::builder("no-loss").build().expect("system");
    let handled = Arc::new(AtomicU64::new(0));
    let counter = handled.clone();
    let pid = system
        .spawn_with(
            "sink",
            FnActor::new(move |ctx: &mut Context<'_, FnActor>| {
                if ctx.is::<Ping>() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }),
            SpawnOptions::new().mailbox(mailbox),
        )
        .await
        .expect("spawn");

    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let pid: Pid = pid.clone();
            tokio::spawn(async move {
                let mut failed = 0u64;
                for n in 0..PER_SENDER {
                    if pid
                        .tell(Ping {
                            n: s * PER_SENDER + n,
                        })
                        .await
                        .is_err()
                    {
                        failed += 1;
                    }
                    if n % 256 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                failed
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2)).await;
    let stopped = if kill {
        pid.kill().await
    } else {
        pid.stop().await
    };
    stopped.expect("stops");

    let mut failed = 0;
    for sender in senders {
        failed += tokio::time::timeout(Duration::from_secs(20), sender)
            .await
            .expect("senders finish")
            .expect("sender task");
    }
    let total = SENDERS * PER_SENDER;
    let handled = handled.load(Ordering::Relaxed);
    let dead = system.dead_letter_count();
    assert_eq!(
        handled + dead,
        total,
        "handled {handled} + dead letters {dead} != sent {total}"
    );
    if kill {
        // Killing dead-letters accepted messages too.
        assert!(
            failed <= dead,
            "{failed} failed sends but only {dead} dead letters"
        );
    } else {
        // A graceful stop handles every message it accepted.
        assert_eq!(failed, dead, "an accepted message was not handled");
    }
    assert_eq!(pid.metrics().dead_letters, dead);
    system.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_a_graceful_stop_loses_nothing() {
    for _ in 0..5 {
        race(MailboxConfig::Unbounded, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_a_kill_loses_nothing() {
    for _ in 0..5 {
        race(MailboxConfig::Unbounded, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_a_kill_with_a_bounded_mailbox_loses_nothing() {
    for _ in 0..3 {
        race(
            MailboxConfig::Bounded {
                capacity: 64,
                push_timeout: Duration::from_millis(200),
            },
            true,
        )
        .await;
        race(MailboxConfig::NonBlockingBounded { capacity: 64 }, false).await;
        race(MailboxConfig::Fair, true).await;
    }
}

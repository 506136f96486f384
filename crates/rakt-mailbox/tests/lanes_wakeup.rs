//! A consumer task waiting in `ready` is woken by producers on other threads, on both lanes,
//! and sees every message.

mod support;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rakt_mailbox::{BoundedMailbox, Lanes, Next};
use support::{DEADLINE, item, split};

const PRODUCERS: usize = 4;
const PER_PRODUCER: usize = 5_000;

/// Waits in `ready` and pops until `total` messages arrived, checking per-producer order per
/// lane; returns how many came from each lane.
async fn consume(lanes: Arc<Lanes<u64, u64>>, total: usize) -> (usize, usize) {
    let mut next_system = [0; PRODUCERS];
    let mut next_user = [0; PRODUCERS];
    let (mut system, mut user) = (0, 0);
    while system + user < total {
        lanes.ready().await;
        let before = system + user;
        while let Some(next) = lanes.pop() {
            let (next_seq, msg) = match next {
                Next::System(msg) => {
                    system += 1;
                    (&mut next_system, msg)
                }
                Next::User(msg) => {
                    user += 1;
                    (&mut next_user, msg)
                }
            };
            let (producer, seq) = split(msg);
            assert_eq!(seq, next_seq[producer], "producer {producer} reordered");
            next_seq[producer] += 1;
        }
        if system + user == before {
            // `ready` saw a push that has claimed its slot and not written it yet.
            tokio::task::yield_now().await;
        }
    }
    (system, user)
}

/// Runs `PRODUCERS` threads that each call `push(lanes, item)` for `PER_PRODUCER` items,
/// pausing every `pause_every` items so that the consumer runs dry and parks in `ready`, while
/// a consumer task expects `total` messages; returns how many came from each lane.
async fn race_producers(
    lanes: &Arc<Lanes<u64, u64>>,
    total: usize,
    pause_every: usize,
    push: fn(&Lanes<u64, u64>, u64),
) -> (usize, usize) {
    let consumer = tokio::spawn(consume(Arc::clone(lanes), total));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let lanes = Arc::clone(lanes);
            thread::spawn(move || {
                for seq in 0..PER_PRODUCER {
                    push(&lanes, item(producer, seq));
                    if seq % pause_every == 0 {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    let counts = tokio::time::timeout(DEADLINE, consumer)
        .await
        .expect("the consumer saw every message in time")
        .unwrap();
    for producer in producers {
        producer.join().unwrap();
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_is_woken_by_producer_threads() {
    let lanes: Arc<Lanes<u64, u64>> = Arc::new(Lanes::unbounded());
    let counts = race_producers(&lanes, 2 * PRODUCERS * PER_PRODUCER, 500, |lanes, msg| {
        lanes.try_push_user(msg).unwrap();
        lanes.push_system(msg).unwrap();
    })
    .await;
    assert_eq!(counts, (PRODUCERS * PER_PRODUCER, PRODUCERS * PER_PRODUCER));
}

/// Only system pushes, so every producer contends on the system lane's lock while the
/// consumer keeps draining it empty and parking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_is_woken_by_system_only_producer_threads() {
    let lanes: Arc<Lanes<u64, u64>> = Arc::new(Lanes::unbounded());
    let counts = race_producers(&lanes, PRODUCERS * PER_PRODUCER, 250, |lanes, msg| {
        lanes.push_system(msg).unwrap();
    })
    .await;
    assert_eq!(counts, (PRODUCERS * PER_PRODUCER, 0));
    assert!(lanes.is_quiescent());
    assert_eq!(lanes.system_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_consumer_wakes_for_a_single_late_message() {
    let lanes: Arc<Lanes<u64, u64>> = Arc::new(Lanes::unbounded());
    for lane in ["user", "system"] {
        let consumer = tokio::spawn({
            let lanes = Arc::clone(&lanes);
            async move {
                loop {
                    lanes.ready().await;
                    if let Some(next) = lanes.pop() {
                        break Some(next);
                    }
                    // A push seen while claiming its slot, not yet written: wait again.
                    tokio::task::yield_now().await;
                }
            }
        });
        let producer = thread::spawn({
            let lanes = Arc::clone(&lanes);
            move || {
                // Give the consumer time to park first.
                thread::sleep(Duration::from_millis(30));
                if lane == "user" {
                    lanes.try_push_user(1).unwrap();
                } else {
                    lanes.push_system(2).unwrap();
                }
            }
        });
        let popped = tokio::time::timeout(DEADLINE, consumer)
            .await
            .expect("the parked consumer was woken")
            .unwrap();
        let expected = if lane == "user" {
            Next::User(1)
        } else {
            Next::System(2)
        };
        assert_eq!(popped, Some(expected));
        producer.join().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_senders_and_consumer_make_progress_together() {
    let user = BoundedMailbox::new(8, DEADLINE).unwrap();
    let lanes: Arc<Lanes<u64, u64>> = Arc::new(Lanes::new(Box::new(user)));
    let per_producer = 2_000;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let lanes = Arc::clone(&lanes);
            tokio::spawn(async move {
                for seq in 0..per_producer {
                    lanes.push_user(item(producer, seq)).await.unwrap();
                }
            })
        })
        .collect();
    let mut next = [0; PRODUCERS];
    let mut received = 0;
    let consume = async {
        while received < PRODUCERS * per_producer {
            lanes.ready().await;
            let before = received;
            while let Some(msg) = lanes.pop_user() {
                let (producer, seq) = split(msg);
                assert_eq!(seq, next[producer], "producer {producer} reordered");
                next[producer] += 1;
                received += 1;
            }
            if received == before {
                // `ready` saw a push that has claimed its slot and not written it yet.
                tokio::task::yield_now().await;
            }
        }
    };
    tokio::time::timeout(DEADLINE, consume)
        .await
        .expect("every message arrived in time");
    for producer in producers {
        producer.await.unwrap();
    }
    assert!(lanes.is_quiescent());
    assert_eq!(lanes.user_len(), 0);
}

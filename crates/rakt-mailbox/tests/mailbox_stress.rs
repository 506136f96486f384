//! Many producer threads against one consumer thread, for every mailbox kind: no item is lost
//! or duplicated, and FIFO kinds keep each producer's order.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use rakt_mailbox::{
    BoundedMailbox, FairMailbox, Mailbox, NonBlockingBoundedMailbox, PriorityMailbox, PushError,
    StablePriorityMailbox, UnboundedMailbox,
};
use support::{Deadline, item, split};

const PRODUCERS: usize = 8;
/// Items per producer for the lock-free mailboxes.
const LOCK_FREE_ITEMS: usize = 20_000;
/// Items per producer for the mailboxes behind a lock, which are slower in debug builds.
const LOCKED_ITEMS: usize = 5_000;

/// What the consumer checks about the order of one producer's items.
#[derive(Clone, Copy)]
enum Order {
    /// Each producer's items come out exactly in the order it pushed them.
    Fifo,
    /// Within each class `seq % classes` a producer's items come out in push order.
    FifoPerClass { classes: usize },
    /// No order; only exactly-once delivery is checked.
    Any,
}

/// Runs `PRODUCERS` threads pushing `per_producer` items each, retrying on `Full`, while one
/// thread pops; then checks every item arrived exactly once, in the given order.
fn stress(mailbox: Arc<dyn Mailbox<u64>>, per_producer: usize, order: Order) {
    let deadline = Deadline::start();
    let start = Arc::new(Barrier::new(PRODUCERS + 1));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let mailbox = Arc::clone(&mailbox);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for seq in 0..per_producer {
                    let mut pending = item(producer, seq);
                    loop {
                        match mailbox.try_push(pending) {
                            Ok(()) => break,
                            Err(PushError::Full(back)) => {
                                assert_eq!(back, pending, "Full must hand the same item back");
                                pending = back;
                                deadline.check("waiting for space");
                                thread::yield_now();
                            }
                            Err(other) => panic!("unexpected {other:?}"),
                        }
                    }
                }
            })
        })
        .collect();

    let consumer = thread::spawn({
        let mailbox = Arc::clone(&mailbox);
        let start = Arc::clone(&start);
        move || {
            start.wait();
            let total = PRODUCERS * per_producer;
            let mut seen = vec![false; total];
            // The next expected sequence number per producer (and class).
            let classes = match order {
                Order::FifoPerClass { classes } => classes,
                _ => 1,
            };
            let mut next = vec![vec![None::<usize>; classes]; PRODUCERS];
            let mut received = 0;
            while received < total {
                let Some(popped) = mailbox.pop() else {
                    deadline.check("popping");
                    thread::yield_now();
                    continue;
                };
                let (producer, seq) = split(popped);
                assert!(
                    producer < PRODUCERS && seq < per_producer,
                    "corrupt item {popped:#x}"
                );
                let index = producer * per_producer + seq;
                assert!(!seen[index], "duplicate item {producer}/{seq}");
                seen[index] = true;
                match order {
                    Order::Fifo => {
                        let expected = next[producer][0].map_or(0, |last| last + 1);
                        assert_eq!(seq, expected, "producer {producer} reordered");
                        next[producer][0] = Some(seq);
                    }
                    Order::FifoPerClass { classes } => {
                        let last = &mut next[producer][seq % classes];
                        if let Some(last) = *last {
                            assert!(seq > last, "producer {producer} reordered {last}, {seq}");
                        }
                        *last = Some(seq);
                    }
                    Order::Any => {}
                }
                received += 1;
            }
            assert!(seen.iter().all(|&seen| seen), "an item was lost");
        }
    });

    for producer in producers {
        producer.join().unwrap();
    }
    consumer.join().unwrap();
    assert!(mailbox.is_empty());
    assert_eq!(mailbox.pop(), None);
}

#[test]
fn unbounded_many_producers() {
    stress(
        Arc::new(UnboundedMailbox::new()),
        LOCK_FREE_ITEMS,
        Order::Fifo,
    );
}

#[test]
fn non_blocking_bounded_many_producers() {
    let mailbox = NonBlockingBoundedMailbox::new(64).unwrap();
    stress(Arc::new(mailbox), LOCK_FREE_ITEMS, Order::Fifo);
}

#[test]
fn bounded_many_producers() {
    let mailbox = BoundedMailbox::new(64, Duration::from_secs(1)).unwrap();
    stress(Arc::new(mailbox), LOCK_FREE_ITEMS, Order::Fifo);
}

#[test]
fn fair_many_producers() {
    // Keyed by producer, so per-producer order is per-key order.
    let mailbox = FairMailbox::new(|item: &u64| split(*item).0 as u64);
    stress(Arc::new(mailbox), LOCKED_ITEMS, Order::Fifo);
}

#[test]
fn priority_many_producers() {
    let mailbox = PriorityMailbox::new(|a: &u64, b: &u64| (a % 5).cmp(&(b % 5)));
    stress(Arc::new(mailbox), LOCKED_ITEMS, Order::Any);
}

#[test]
fn stable_priority_many_producers() {
    // Priority is `seq % 4`: equal items from one producer must keep their order.
    let mailbox =
        StablePriorityMailbox::new(|a: &u64, b: &u64| (split(*a).1 % 4).cmp(&(split(*b).1 % 4)));
    stress(
        Arc::new(mailbox),
        LOCKED_ITEMS,
        Order::FifoPerClass { classes: 4 },
    );
}

//! Single-threaded push-then-pop of 1,000 items through every mailbox kind, with Tokio's
//! unbounded channel as the baseline the default mailbox is held to, and the per-actor cost of
//! creating default lanes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rakt_mailbox::{
    BoundedMailbox, FairMailbox, Lanes, Mailbox, NonBlockingBoundedMailbox, PriorityMailbox,
    StablePriorityMailbox, UnboundedMailbox,
};

const ITEMS: u64 = 1_000;

/// Pushes `ITEMS` items, then pops them all.
fn push_pop<M: Mailbox<u64>>(mailbox: &M) {
    for n in 0..ITEMS {
        if mailbox.try_push(black_box(n)).is_err() {
            panic!("the benchmark mailbox must have room for {ITEMS} items");
        }
    }
    for _ in 0..ITEMS {
        black_box(mailbox.pop());
    }
}

fn mailbox_push_pop(c: &mut Criterion) {
    let mut group = c.benchmark_group("mailbox_push_pop_1000");
    group.throughput(Throughput::Elements(ITEMS));

    let unbounded = UnboundedMailbox::new();
    group.bench_function("unbounded", |b| b.iter(|| push_pop(&unbounded)));

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    group.bench_function("tokio_mpsc_baseline", |b| {
        b.iter(|| {
            for n in 0..ITEMS {
                if tx.send(black_box(n)).is_err() {
                    panic!("the receiver is alive");
                }
            }
            for _ in 0..ITEMS {
                black_box(rx.try_recv().ok());
            }
        });
    });

    let bounded = BoundedMailbox::new(ITEMS as usize, Duration::from_secs(1))
        .unwrap_or_else(|err| panic!("valid capacity: {err}"));
    group.bench_function("bounded", |b| b.iter(|| push_pop(&bounded)));

    let non_blocking = NonBlockingBoundedMailbox::new(ITEMS as usize)
        .unwrap_or_else(|err| panic!("valid capacity: {err}"));
    group.bench_function("non_blocking_bounded", |b| {
        b.iter(|| push_pop(&non_blocking));
    });

    // Scrambled priorities, so the heap does real work.
    let priority = PriorityMailbox::new(|a: &u64, b: &u64| (a % 7).cmp(&(b % 7)));
    group.bench_function("priority", |b| b.iter(|| push_pop(&priority)));

    let stable = StablePriorityMailbox::new(|a: &u64, b: &u64| (a % 7).cmp(&(b % 7)));
    group.bench_function("stable_priority", |b| b.iter(|| push_pop(&stable)));

    // Sixteen senders interleaved.
    let fair = FairMailbox::new(|item: &u64| item % 16);
    group.bench_function("fair", |b| b.iter(|| push_pop(&fair)));

    let lanes: Lanes<u64, u64> = Lanes::unbounded();
    group.bench_function("lanes_unbounded", |b| {
        b.iter(|| {
            for n in 0..ITEMS {
                if lanes.try_push_user(black_box(n)).is_err() {
                    panic!("the user lane is open and unbounded");
                }
            }
            for _ in 0..ITEMS {
                black_box(lanes.pop());
            }
        });
    });

    group.finish();
}

/// What every spawned actor pays for its lanes: creating and dropping them, never messaged and
/// with one message through them.
fn lanes_lifecycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("lanes_lifecycle");

    group.bench_function("lanes_create", |b| {
        b.iter(|| black_box(Lanes::<(), u64>::unbounded()));
    });

    group.bench_function("lanes_create_push_pop", |b| {
        b.iter(|| {
            let lanes = Lanes::<(), u64>::unbounded();
            if lanes.try_push_user(black_box(1)).is_err() {
                panic!("the user lane is open and unbounded");
            }
            black_box(lanes.pop());
            lanes
        });
    });

    group.finish();
}

criterion_group!(benches, mailbox_push_pop, lanes_lifecycle);
criterion_main!(benches);

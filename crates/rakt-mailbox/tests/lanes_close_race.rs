//! Closing lanes while many producers push: every message is either popped by the consumer's
//! drain or handed back to its producer as closed, never lost and never duplicated.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use rakt_mailbox::{BoundedMailbox, Lanes, Next, NonBlockingBoundedMailbox, PushError};
use support::{DEADLINE, Deadline, item, split};

const PRODUCERS: usize = 8;
/// The most messages one producer sends before it gives up waiting for the close, so that a
/// failed round cannot push without end.
const MAX_SEQ: usize = 10_000_000;

/// What one producer did: it got `accepted` messages in (sequence numbers `0..accepted`) and
/// then its message `accepted` was handed back as closed.
#[derive(Debug, Clone, Copy)]
struct Produced {
    producer: usize,
    accepted: usize,
}

/// Notes a popped message under its producer.
fn record(popped: &mut [Vec<usize>], msg: u64) {
    let (producer, seq) = split(msg);
    popped[producer].push(seq);
}

/// The consumer before the close: pops whatever arrives until `until`.
fn pop_until(lanes: &Lanes<u64, u64>, popped: &mut [Vec<usize>], until: Instant) {
    while Instant::now() < until {
        match lanes.pop() {
            Some(Next::System(msg) | Next::User(msg)) => record(popped, msg),
            None => thread::yield_now(),
        }
    }
}

/// The consumer's drain, as the runtime performs it: pop until both lanes are closed and
/// quiescent and empty, recording what was popped per producer.
fn drain_into(lanes: &Lanes<u64, u64>, popped: &mut [Vec<usize>], deadline: Deadline) {
    loop {
        while let Some(Next::System(msg) | Next::User(msg)) = lanes.pop() {
            record(popped, msg);
        }
        if lanes.is_user_closed()
            && lanes.is_system_closed()
            && lanes.is_quiescent()
            && lanes.user_len() == 0
            && lanes.system_len() == 0
        {
            return;
        }
        deadline.check("draining");
        thread::yield_now();
    }
}

/// Every producer's accepted messages were popped exactly once, in order, and nothing else.
fn check(produced: &[Produced], popped: &[Vec<usize>]) {
    let mut total_produced = 0;
    let mut total_popped = 0;
    let mut total_returned = 0;
    for done in produced {
        let seqs = &popped[done.producer];
        assert_eq!(
            seqs,
            &(0..done.accepted).collect::<Vec<_>>(),
            "producer {} accepted {} but the consumer saw a different sequence",
            done.producer,
            done.accepted
        );
        // Sequence numbers 0..=accepted were produced: the last was handed back.
        total_produced += done.accepted + 1;
        total_popped += seqs.len();
        total_returned += 1;
    }
    assert_eq!(total_produced, total_popped + total_returned);
}

/// Which lane each producer pushes to: `true` for the system lane.
type ToSystem = fn(usize) -> bool;

/// Even producers push to the system lane, odd ones to the user lane.
fn even_to_system(producer: usize) -> bool {
    producer.is_multiple_of(2)
}

/// Pushes `msg` to the lane `to_system` picks for `producer`, retrying while the lane is full;
/// `false` when the message came back closed.
fn push_retrying(
    lanes: &Lanes<u64, u64>,
    to_system: ToSystem,
    producer: usize,
    msg: u64,
    deadline: Deadline,
) -> bool {
    let mut pending = msg;
    loop {
        let result = if to_system(producer) {
            lanes.push_system(pending).map_err(PushError::Closed)
        } else {
            lanes.try_push_user(pending)
        };
        match result {
            Ok(()) => return true,
            Err(PushError::Full(back)) => {
                assert_eq!(back, msg, "a full lane must hand the message back intact");
                pending = back;
                deadline.check("waiting for space");
                thread::yield_now();
            }
            Err(PushError::Closed(back)) => {
                assert_eq!(back, msg, "a closed lane must hand the message back intact");
                return false;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

/// Producers push until handed back a closed message; the consumer pops concurrently, closes
/// both lanes after `close_after`, then drains.
fn race_close(lanes: Lanes<u64, u64>, to_system: ToSystem, close_after: Duration) {
    let deadline = Deadline::start();
    let lanes = Arc::new(lanes);
    let start = Arc::new(Barrier::new(PRODUCERS + 1));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let lanes = Arc::clone(&lanes);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for seq in 0..MAX_SEQ {
                    let msg = item(producer, seq);
                    if !push_retrying(&lanes, to_system, producer, msg, deadline) {
                        return Produced {
                            producer,
                            accepted: seq,
                        };
                    }
                    // Producers that pause let the consumer keep the lanes nearly empty, so a
                    // drain is short and often overlaps a push in flight: the case under test.
                    thread::yield_now();
                }
                panic!("producer {producer} sent {MAX_SEQ} messages without seeing the lane close")
            })
        })
        .collect();

    let mut popped = vec![Vec::new(); PRODUCERS];
    start.wait();
    pop_until(&lanes, &mut popped, Instant::now() + close_after);
    lanes.close_user();
    lanes.close_system();
    drain_into(&lanes, &mut popped, deadline);

    let produced: Vec<_> = producers.into_iter().map(|p| p.join().unwrap()).collect();
    // Nothing may have slipped in after the drain finished.
    assert_eq!(lanes.pop(), None);
    check(&produced, &popped);
}

#[test]
fn unbounded_close_race_loses_nothing() {
    for round in 0..100 {
        // Vary the moment of the close, including before the producers got going.
        race_close(
            Lanes::unbounded(),
            even_to_system,
            Duration::from_micros(round * 100),
        );
    }
}

/// Every producer on the system lane: its lock, its queued bit and the buffer it frees when
/// drained are all contended while the close lands.
#[test]
fn system_only_close_race_loses_nothing() {
    for round in 0..100 {
        race_close(
            Lanes::unbounded(),
            |_| true,
            Duration::from_micros(round * 100),
        );
    }
}

#[test]
fn non_blocking_bounded_close_race_loses_nothing() {
    for round in 0..40 {
        let user = NonBlockingBoundedMailbox::new(16).unwrap();
        race_close(
            Lanes::new(Box::new(user)),
            even_to_system,
            Duration::from_micros(round * 200),
        );
    }
}

/// Senders waiting for space in a bounded lane race the close: each either gets its
/// message in (and the drain pops it) or gets it back as closed.
#[test]
fn bounded_waiting_senders_close_race_loses_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    for round in 0..40 {
        bounded_round(&runtime, Duration::from_micros(round * 250));
    }
}

fn bounded_round(runtime: &tokio::runtime::Runtime, close_after: Duration) {
    let deadline = Deadline::start();
    let user = BoundedMailbox::new(4, DEADLINE).unwrap();
    let lanes: Arc<Lanes<u64, u64>> = Arc::new(Lanes::new(Box::new(user)));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let lanes = Arc::clone(&lanes);
            runtime.spawn(async move {
                for seq in 0..MAX_SEQ {
                    let msg = item(producer, seq);
                    match lanes.push_user(msg).await {
                        Ok(()) => {}
                        Err(PushError::Closed(back)) => {
                            assert_eq!(back, msg, "the closed message must come back intact");
                            return Produced {
                                producer,
                                accepted: seq,
                            };
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                panic!("producer {producer} sent {MAX_SEQ} messages without seeing the lane close")
            })
        })
        .collect();

    // The consumer is this plain thread, not a task: the permit its pop frees wakes a sender
    // on a runtime worker, which then enqueues in parallel with the close and the drain.
    // With capacity 4 and eight producers, most senders are waiting when the close lands.
    let mut popped = vec![Vec::new(); PRODUCERS];
    pop_until(&lanes, &mut popped, Instant::now() + close_after);
    // Closing right after a pop is the sharpest case: that pop just handed a permit to a
    // waiting sender.
    if let Some(msg) = lanes.pop_user() {
        record(&mut popped, msg);
    }
    lanes.close_user();
    lanes.close_system();
    drain_into(&lanes, &mut popped, deadline);

    let produced: Vec<_> = runtime.block_on(async {
        let mut produced = Vec::new();
        for producer in producers {
            let done = tokio::time::timeout(DEADLINE, producer)
                .await
                .expect("a waiting sender was woken by the close")
                .unwrap();
            produced.push(done);
        }
        produced
    });
    assert_eq!(lanes.pop(), None);
    check(&produced, &popped);
}

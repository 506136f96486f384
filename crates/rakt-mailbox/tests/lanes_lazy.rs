//! The default user queue is allocated lazily: never-messaged lanes allocate nothing for it,
//! a closed lane refuses pushes without allocating it, and threads racing the first push
//! install exactly one queue and lose or duplicate no message.
//!
//! Allocations are observed through a counting global allocator. It counts per thread, so the
//! test harness and tests running in parallel do not disturb each other's counts.

// A global allocator can only be written with `unsafe`: `GlobalAlloc` is an unsafe trait.
#![allow(unsafe_code)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::thread;

use rakt_mailbox::{Lanes, PushError, UnboundedMailbox};
use support::{Deadline, item, split};

/// The layout of the default user queue of the lanes under test.
const QUEUE: Layout = Layout::new::<UnboundedMailbox<u64>>();

thread_local! {
    /// Allocations made by this thread; `const` and free of destructors, so reading it never
    /// allocates and works even while the thread is being torn down.
    static ALLOCATIONS: Cell<Allocations> = const { Cell::new(Allocations::NONE) };
}

/// What one thread allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Allocations {
    /// Every allocation.
    count: usize,
    /// Their bytes.
    bytes: usize,
    /// The ones with the default user queue's layout.
    queues: usize,
}

impl Allocations {
    const NONE: Self = Self {
        count: 0,
        bytes: 0,
        queues: 0,
    };

    /// This thread's allocations so far.
    fn now() -> Self {
        ALLOCATIONS.with(Cell::get)
    }

    /// What this thread allocated since `self` was taken.
    fn since(self) -> Self {
        let now = Self::now();
        Self {
            count: now.count - self.count,
            bytes: now.bytes - self.bytes,
            queues: now.queues - self.queues,
        }
    }
}

/// The system allocator, noting every allocation in the allocating thread's [`ALLOCATIONS`].
struct Counting;

impl Counting {
    fn note(layout: Layout) {
        // `try_with` because the allocator may run after this thread's locals are gone.
        let _ = ALLOCATIONS.try_with(|allocations| {
            let mut now = allocations.get();
            now.count += 1;
            now.bytes += layout.size();
            now.queues += usize::from(layout == QUEUE);
            allocations.set(now);
        });
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `Counting` upholds `GlobalAlloc`'s contract exactly as `System` does; the bookkeeping only
// touches a thread-local `Cell`, which never allocates and never unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::note(layout);
        // SAFETY: the caller upholds `alloc`'s contract, which is `System`'s too.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::note(layout);
        // SAFETY: the caller upholds `alloc_zeroed`'s contract, which is `System`'s too.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (every allocation goes through it) with
        // `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::note(Layout::from_size_align(new_size, layout.align()).unwrap_or(layout));
        // SAFETY: `ptr` was allocated by `System` with `layout`, and the caller upholds
        // `realloc`'s contract for `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` on this thread and returns what it allocated meanwhile.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (R, Allocations) {
    let before = Allocations::now();
    let result = f();
    (result, before.since())
}

#[test]
fn never_messaged_lanes_allocate_nothing() {
    let (lanes, created) = allocations_in(Lanes::<u8, u64>::unbounded);
    assert_eq!(created, Allocations::NONE);

    let mut text = String::with_capacity(1024);
    let mut cx = Context::from_waker(Waker::noop());
    let ((), consumed) = allocations_in(|| {
        assert_eq!(lanes.pop(), None);
        assert_eq!(lanes.pop_user(), None);
        assert_eq!(lanes.user_len(), 0);
        assert_eq!(lanes.system_len(), 0);
        assert_eq!(lanes.user_capacity(), None);
        assert!(lanes.is_quiescent());
        assert_eq!(lanes.poll_ready(&mut cx), Poll::Pending);
        write!(text, "{lanes:?}").unwrap();
    });
    assert_eq!(consumed, Allocations::NONE, "{text}");

    // Boxed, as an actor's cell holds them, the lanes are one allocation of their own size.
    let (boxed, boxed_allocations) = allocations_in(|| Box::new(Lanes::<u8, u64>::unbounded()));
    assert_eq!(
        boxed_allocations,
        Allocations {
            count: 1,
            bytes: size_of::<Lanes<u8, u64>>(),
            queues: 0,
        }
    );
    drop(boxed);
}

#[test]
fn first_user_push_allocates_one_queue() {
    let lanes = Lanes::<u8, u64>::unbounded();
    let ((), first) = allocations_in(|| lanes.try_push_user(0).unwrap());
    assert_eq!(first.queues, 1, "{first:?}");
    // Later pushes reuse that queue, and pushes within its first block allocate nothing.
    let ((), later) = allocations_in(|| {
        for n in 1..8 {
            lanes.try_push_user(n).unwrap();
        }
    });
    assert_eq!(later, Allocations::NONE);
    let ((), popped) = allocations_in(|| {
        let drained: Vec<_> = std::iter::from_fn(|| lanes.pop_user()).collect();
        assert_eq!(drained, (0..8).collect::<Vec<_>>());
    });
    assert_eq!(popped.queues, 0);
}

#[test]
fn close_before_the_first_push_refuses_without_allocating() {
    let lanes = Lanes::<u8, u64>::unbounded();
    let mut cx = Context::from_waker(Waker::noop());
    let ((), refused) = allocations_in(|| {
        lanes.close_user();
        assert_eq!(lanes.try_push_user(1), Err(PushError::Closed(1)));
        let mut push = pin!(lanes.push_user(2));
        assert_eq!(
            push.as_mut().poll(&mut cx),
            Poll::Ready(Err(PushError::Closed(2)))
        );
        assert!(lanes.is_quiescent());
        assert_eq!(lanes.user_len(), 0);
        assert_eq!(lanes.pop(), None);
    });
    assert_eq!(refused, Allocations::NONE);
}

const PRODUCERS: usize = 8;
const PER_PRODUCER: usize = 1_000;
const ROUNDS: usize = 200;

/// Producers start together on fresh lanes, so several of them race to allocate the queue,
/// while this thread pops concurrently from lanes that may not have a queue yet.
#[test]
fn racing_first_pushes_install_one_queue_and_lose_nothing() {
    let deadline = Deadline::start();
    for round in 0..ROUNDS {
        let lanes = Lanes::<u8, u64>::unbounded();
        let start = Barrier::new(PRODUCERS + 1);
        let mut next = [0; PRODUCERS];
        let (queues, consumer) = thread::scope(|scope| {
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|producer| {
                    let (lanes, start) = (&lanes, &start);
                    scope.spawn(move || {
                        start.wait();
                        let ((), pushed) = allocations_in(|| {
                            for seq in 0..PER_PRODUCER {
                                lanes.try_push_user(item(producer, seq)).unwrap();
                            }
                        });
                        pushed.queues
                    })
                })
                .collect();
            start.wait();
            let ((), consumer) = allocations_in(|| {
                let mut received = 0;
                while received < PRODUCERS * PER_PRODUCER {
                    match lanes.pop_user() {
                        Some(msg) => {
                            let (producer, seq) = split(msg);
                            assert_eq!(seq, next[producer], "round {round}: producer {producer}");
                            next[producer] += 1;
                            received += 1;
                        }
                        None => {
                            deadline.check("waiting for the producers' messages");
                            thread::yield_now();
                        }
                    }
                }
            });
            let queues: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
            (queues, consumer)
        });
        assert_eq!(
            queues, 1,
            "round {round}: queues allocated by the producers"
        );
        assert_eq!(
            consumer.queues, 0,
            "round {round}: the consumer allocated a queue"
        );
        assert_eq!(next, [PER_PRODUCER; PRODUCERS], "round {round}");
        assert_eq!(
            lanes.pop_user(),
            None,
            "round {round}: a message was duplicated"
        );
        assert!(lanes.is_quiescent());
    }
}

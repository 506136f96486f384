//! [`Queue`]: the unbounded multi-producer, single-consumer FIFO behind
//! [`UnboundedMailbox`](crate::UnboundedMailbox).
//!
//! # Layout
//!
//! Items live in a linked list of blocks of [`BLOCK_CAP`] slots.
//! Every item has an index, handed out by one ever-growing counter (wrapping on overflow); the
//! item with index `i` lives in slot `i % BLOCK_CAP` of the block whose `start` is
//! `i - i % BLOCK_CAP`.
//! Blocks follow each other in index order: a block is always linked after the last one, with
//! `start` set to the last one's `start + BLOCK_CAP` and `prev` pointing back at it, so walking
//! along `next` (or back along `prev`) meets every range of indices in order.
//! Each block also has one ready flag per slot, set once the slot's item is written; slots
//! themselves are bare `T`s. Separate flags cost one byte per slot but are set with a plain
//! store, where a bitmap would need a read-modify-write: in the single-thread benchmark the
//! bitmap was 20% slower.
//!
//! The queue keeps two cache-padded ends, so that producers and the consumer do not write the
//! same cache line:
//!
//! * the **tail**: the next index to hand out, and the *tail block*, the newest block a
//!   producer has needed, where producers start looking for their block;
//! * the **head**: the next index to pop, the block that holds it, the oldest block not yet
//!   reclaimed, a flag taken by whoever pops, and the first block ever installed.
//!
//! # Push
//!
//! A producer claims an index with one `fetch_add` on the tail index: no retry loop, however
//! many producers race.
//! It then loads the tail block and, in the common case, finds it holds the index.
//! Otherwise, if the tail block is older, the producer walks along `next` until it reaches the
//! block that does, linking a new block (allocated, or left over from a lost race) with a
//! compare-and-swap on `next` wherever the list ends, and moving the tail block along behind
//! it; each block the tail block moves past is *released* (see [Reclaiming](self#reclaiming)).
//! The loser of a link race walks on into the winner's block and keeps its own as a spare for
//! the next link it needs, freeing it at the end if it needed none, so nothing leaks.
//! If instead the tail block is newer (other producers claimed later indices and moved it on
//! between this producer's claim and its load), the producer walks back along `prev`.
//! Finally it writes the item into its slot and sets the slot's ready flag with a release
//! store. The very first push installs the first block.
//!
//! # Pop
//!
//! Only one thread pops at a time (see [The consumer flag](self#the-consumer-flag)), so the
//! head index and blocks are plain loads and stores, with no read-modify-write.
//! The consumer reads the ready flag of the head slot; if it is set it moves the item out and
//! advances the head.
//! If it is not set but the slot was already claimed, a producer is between its `fetch_add`
//! and its ready store: the consumer spins briefly ([`PUBLISH_SPINS`] times) and otherwise
//! returns `None`, like an empty queue; callers check again after their next wake-up.
//! Items are therefore popped in index order: a producer's items in the order it pushed them,
//! and items of different producers in the order their indices were claimed.
//!
//! # Length
//!
//! [`len`](Queue::len) is the tail index minus the head index: it counts every claimed slot
//! not yet popped, including slots whose producer has claimed them but not yet written the
//! item.
//! So [`is_empty`](Queue::is_empty) may say `false` while `pop` still returns `None` for an
//! instant, but never says `true` while a written item waits: an item is written only after
//! its index was claimed.
//! That is what [`Lanes`](crate::Lanes) needs: its wake-up protocol orders a finished push
//! before the consumer's last check, so that check sees the push's claim.
//!
//! # The consumer flag
//!
//! [`Mailbox::pop`](crate::Mailbox::pop) is a safe method on a shared reference, so nothing
//! but a contract stops two threads from popping at once, and two consumers moving the same
//! item out would drop it twice.
//! Each pop therefore takes a flag with one atomic swap and clears it with a release store
//! when it returns.
//! Uncontended, which is always the case when the contract is kept, that is one atomic
//! operation on a cache line only the consumer uses (about 1.5 ns per pop on x86-64).
//! A pop that finds the flag taken returns `None` at once instead of waiting: another thread
//! is popping, which the contract forbids, and waiting could spin behind a descheduled thread.
//! No item is lost or duplicated either way.
//!
//! # Reclaiming
//!
//! A block the consumer has moved past is fully popped, but producers may still be reading it:
//! one that loaded the tail block while it pointed there may still be walking through it.
//! So the consumer reuses or frees a block only once it is both:
//!
//! * **released**: the tail block was moved past it, by a producer that then read the tail
//!   index and stored that value in the block as its *observed tail*;
//! * and **drained up to its observed tail**: the head index has reached the observed tail.
//!
//! Producers touch blocks other than their own only while walking, before they write their
//! item, and a producer whose item is not written yet holds the head back at its index.
//!
//! * A producer walking forward loaded the tail block before it moved past the block, and
//!   claimed its index before that load. The claim, that load, the move and the read of the
//!   observed tail are all sequentially consistent, so the claim is ordered before the read:
//!   its index is below the observed tail, and the head cannot reach the observed tail before
//!   its item is written. The consumer saw that item's ready flag with an acquire load, so
//!   everything the producer did to the block happens before the consumer reuses it.
//!   Producers that load the tail block after the move never reach the block going forward.
//! * A producer walking back only visits blocks from the tail block it loaded down to its own
//!   block: all of them hold indices at or after its own, which the head has not passed, so
//!   none is popped, let alone reclaimed.
//!
//! # Recycling
//!
//! The consumer tries to reclaim after each pop that leaves it in a newer block than the
//! oldest one kept, and when it finds the queue empty.
//! A reclaimed block is reset and linked after the last block, ready for the producers, but
//! only if that last block already holds a claimed slot: there is at most one unused block
//! beyond the tail.
//! The consumer walks from the tail block to the end and tries to link the block with a
//! compare-and-swap, giving up after [`RECYCLE_STEPS`] steps or failed attempts (producers
//! racing it are then linking blocks of their own), in which case it frees the block.
//! So a steady stream of items, even one that keeps the queue long, reuses the same blocks and
//! allocates nothing, while an emptied queue keeps at most two blocks: the one holding the
//! head, and one spare.
//!
//! # Memory orderings
//!
//! * Claiming (`fetch_add` on the tail index), loading the tail block to start a walk, moving
//!   the tail block and reading the observed tail are `SeqCst`: the reclaiming argument above
//!   needs the claim and the load of one producer, and the move and the read of another, in
//!   one total order. (This is the store-buffering pattern, which acquire and release do not
//!   rule out.) On x86-64 these cost no more than acquire and release would.
//! * Linking a block is a release compare-and-swap on `next`, and every load of `next` and
//!   `prev` an acquire, so whoever reaches a block sees its `start`, `prev` and cleared ready
//!   flags; a failed link acquires the winner's block for the same reason. The tail block and
//!   the first block are published the same way.
//! * Setting a ready flag is a release store after the item is written, and the consumer's
//!   load of it an acquire, so a popped item is fully written.
//! * Releasing a block stores the observed tail, then sets the block's released flag with a
//!   release store, which the consumer's acquire load pairs with.
//! * The consumer publishes the head index with release stores, and [`Queue::len`] reads it
//!   with an acquire load before reading the tail index, so it never sees the head past the
//!   tail. Its own reads of the head index are relaxed: only it writes it.
//! * The consumer flag is taken with an acquire swap and cleared with a release store, so the
//!   next consumer sees everything the previous one did to the head.
//! * Everything else (a block's `start` and `prev`, resets of blocks nobody else can reach
//!   yet, the tail index read when deciding whether to keep a spare or to spin) is relaxed: it
//!   is either ordered by one of the edges above, or a heuristic whose staleness only costs an
//!   allocation or a `None`.

#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::fmt;
use std::hint;
use std::marker::PhantomData;
use std::mem::{self, MaybeUninit};
use std::ops::{Deref, DerefMut};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

/// Slots per block. A power of two, so that an index splits into a block start and a slot
/// with a mask.
pub(crate) const BLOCK_CAP: usize = 32;

/// The slot of an index within its block.
const SLOT_MASK: usize = BLOCK_CAP - 1;

/// How many walk steps and link attempts the consumer spends on recycling one block before it
/// frees it instead.
const RECYCLE_STEPS: usize = 4;

/// How many times `pop` checks a claimed but not yet written head slot again before it gives
/// up and returns `None`.
const PUBLISH_SPINS: usize = 32;

/// Whether index `index` is at or past `target`, counting with wrapping indices.
#[inline]
fn reached(index: usize, target: usize) -> bool {
    index.wrapping_sub(target) <= usize::MAX / 2
}

/// Aligns its contents to 128 bytes, so that two of them never share a cache line (nor, on
/// x86-64, a pair of adjacent lines, which the spatial prefetcher fetches together).
#[repr(align(128))]
struct CachePadded<T>(T);

impl<T> Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// One ready flag per slot of a block.
struct Ready([AtomicBool; BLOCK_CAP]);

impl Ready {
    /// Marks slot `slot` written.
    #[inline]
    fn publish(&self, slot: usize) {
        self.0[slot].store(true, Ordering::Release);
    }

    /// Whether slot `slot` was written; an acquire load, so the item is visible when it was.
    #[inline]
    fn is_published(&self, slot: usize) -> bool {
        self.0[slot].load(Ordering::Acquire)
    }

    /// Marks every slot unwritten, for a block that nobody else can reach.
    fn reset(&self) {
        for ready in &self.0 {
            ready.store(false, Ordering::Relaxed);
        }
    }
}

/// A block of [`BLOCK_CAP`] slots.
struct Block<T> {
    /// The index of slot 0. Set before the block is linked, and only changed when the consumer
    /// recycles it, when nobody else can reach it.
    start: AtomicUsize,
    /// The next block, null until one is linked.
    next: AtomicPtr<Block<T>>,
    /// The block this one was linked after, null for the first block. Set before linking.
    prev: AtomicPtr<Block<T>>,
    /// Which slots hold a written item.
    ready: Ready,
    /// Set when the tail block moved past this block; see [Reclaiming](self#reclaiming).
    released: AtomicBool,
    /// The tail index read just after the tail block moved past this block: once the head
    /// reaches it, no producer can touch this block any more.
    observed_tail: AtomicUsize,
    /// The items. A slot is initialized from when its ready flag is set until the consumer
    /// moves its item out (or the queue is dropped).
    slots: [UnsafeCell<MaybeUninit<T>>; BLOCK_CAP],
}

impl<T> Block<T> {
    /// Allocates an empty, unlinked block whose slot 0 has index `start`.
    ///
    /// The slots are left uninitialized: only the header is written, so a large `T` is never
    /// built on the stack nor zeroed.
    fn allocate(start: usize) -> *mut Self {
        let mut block = Box::<Self>::new_uninit();
        let raw = block.as_mut_ptr();
        // SAFETY: `raw` points to memory allocated for a `Self`, writable and aligned. Each
        // header field is written once through a raw place, creating no reference to
        // uninitialized memory.
        unsafe {
            (&raw mut (*raw).start).write(AtomicUsize::new(start));
            (&raw mut (*raw).next).write(AtomicPtr::new(ptr::null_mut()));
            (&raw mut (*raw).prev).write(AtomicPtr::new(ptr::null_mut()));
            (&raw mut (*raw).ready).write(Ready([const { AtomicBool::new(false) }; BLOCK_CAP]));
            (&raw mut (*raw).released).write(AtomicBool::new(false));
            (&raw mut (*raw).observed_tail).write(AtomicUsize::new(0));
        }
        // SAFETY: every field but `slots` was initialized above, and `slots` is an array of
        // `UnsafeCell<MaybeUninit<T>>`, for which uninitialized memory is a valid value.
        let block = unsafe { block.assume_init() };
        Box::into_raw(block)
    }

    /// Frees a block made by [`allocate`](Self::allocate) without dropping any item in it.
    ///
    /// # Safety
    ///
    /// `block` came from `allocate`, is not freed yet, and nobody else can reach it any more.
    unsafe fn free(block: *mut Self) {
        // SAFETY: as the caller guarantees, `block` is a live allocation from `Box::into_raw`
        // that no one else will touch. Dropping the box drops no item: slots are `MaybeUninit`.
        drop(unsafe { Box::from_raw(block) });
    }

    /// Marks this block released, the tail index being `observed` just after the tail block
    /// moved past it.
    fn release(&self, observed: usize) {
        self.observed_tail.store(observed, Ordering::Relaxed);
        // Release: the consumer that sees the flag sees `observed_tail` too.
        self.released.store(true, Ordering::Release);
    }
}

/// The producers' end of a [`Queue`].
struct Tail<T> {
    /// The index the next push claims.
    index: AtomicUsize,
    /// The tail block: null until the first push, then a block at or before the block holding
    /// any claimed but unwritten index. Producers start their walk here.
    block: AtomicPtr<Block<T>>,
    /// How many blocks this queue ever allocated (tests only).
    #[cfg(test)]
    allocated: AtomicUsize,
    /// How many blocks this queue freed before being dropped (tests only).
    #[cfg(test)]
    freed: AtomicUsize,
}

/// The consumer's end of a [`Queue`].
struct Head<T> {
    /// Taken by whoever pops; see [The consumer flag](self#the-consumer-flag).
    busy: AtomicBool,
    /// The index the next pop takes. Only written by the holder of `busy`.
    index: AtomicUsize,
    /// The first block ever installed, null until the first push. The consumer starts there.
    first: AtomicPtr<Block<T>>,
    /// The consumer's blocks; only touched by the holder of `busy`.
    cursor: UnsafeCell<Cursor<T>>,
}

/// The blocks the consumer holds on to.
struct Cursor<T> {
    /// The block holding the head index, or whose end the head index has just reached;
    /// null until the first pop finds a block.
    block: *mut Block<T>,
    /// The oldest block not yet reclaimed: this one and those after it, up to `block`, are
    /// fully popped but maybe still read by producers.
    oldest: *mut Block<T>,
}

/// An unbounded multi-producer, single-consumer FIFO; see the [module documentation](self).
///
/// Popping from several threads at once is safe but pointless: only one of them gets an item,
/// the others `None`.
pub(crate) struct Queue<T> {
    tail: CachePadded<Tail<T>>,
    head: CachePadded<Head<T>>,
    /// The queue owns `T`s: dropping it drops them.
    _items: PhantomData<T>,
}

// SAFETY: the queue only moves `T`s between threads (a push on one, the pop on another) and
// never shares a `&T`, so `T: Send` is enough. Its raw pointers are to blocks it owns, and the
// consumer's cursor is only touched by the holder of the consumer flag.
unsafe impl<T: Send> Send for Queue<T> {}
// SAFETY: as above; every shared mutation goes through atomics, and the `UnsafeCell`s (the
// cursor and the slots) are only accessed under the consumer flag or by the producer that
// claimed the slot, as the module documentation explains.
unsafe impl<T: Send> Sync for Queue<T> {}

/// The consumer flag, held for the duration of one pop.
struct ConsumerGuard<'a>(&'a AtomicBool);

impl<'a> ConsumerGuard<'a> {
    /// Takes the flag, or returns `None` if another thread holds it.
    #[inline]
    fn take(busy: &'a AtomicBool) -> Option<Self> {
        // Acquire: this pop sees everything the previous holder did to the head.
        if busy.swap(true, Ordering::Acquire) {
            None
        } else {
            Some(Self(busy))
        }
    }
}

impl Drop for ConsumerGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: the next holder sees everything this pop did to the head.
        self.0.store(false, Ordering::Release);
    }
}

impl<T> Queue<T> {
    /// Creates an empty queue; it allocates nothing until the first push.
    pub(crate) const fn new() -> Self {
        Self {
            tail: CachePadded(Tail {
                index: AtomicUsize::new(0),
                block: AtomicPtr::new(ptr::null_mut()),
                #[cfg(test)]
                allocated: AtomicUsize::new(0),
                #[cfg(test)]
                freed: AtomicUsize::new(0),
            }),
            head: CachePadded(Head {
                busy: AtomicBool::new(false),
                index: AtomicUsize::new(0),
                first: AtomicPtr::new(ptr::null_mut()),
                cursor: UnsafeCell::new(Cursor {
                    block: ptr::null_mut(),
                    oldest: ptr::null_mut(),
                }),
            }),
            _items: PhantomData,
        }
    }

    /// Appends `value`. Never fails; allocates a block when the last one is full and there is
    /// no spare.
    #[inline]
    pub(crate) fn push(&self, value: T) {
        let index = self.claim();
        self.write(index, value);
    }

    /// Claims the next index for a push.
    #[inline]
    fn claim(&self) -> usize {
        // SeqCst: see Reclaiming in the module documentation.
        self.tail.index.fetch_add(1, Ordering::SeqCst)
    }

    /// Writes the item of `index`, which this thread claimed, and marks it ready.
    #[inline]
    fn write(&self, index: usize, value: T) {
        let block = self.block_for(index);
        // SAFETY: `block_for` returns the block holding `index`, which we claimed.
        unsafe { Self::write_to(block, index, value) };
    }

    /// Writes the item of `index` into its slot of `block` and marks it ready.
    ///
    /// # Safety
    ///
    /// This thread claimed `index` and has not written it, and `block` is the block holding
    /// it, found as [`block_for`](Self::block_for) does.
    #[inline]
    unsafe fn write_to(block: *mut Block<T>, index: usize, value: T) {
        let slot = index & SLOT_MASK;
        // SAFETY: `block` holds `index`, and our unwritten slot keeps it from being reclaimed
        // until the ready store below (see Reclaiming). The `fetch_add` gave `index` to this
        // push alone, and the consumer does not read the slot before its ready flag is set, so
        // nothing else accesses the slot while we write it.
        unsafe {
            (*block).slots[slot].get().write(MaybeUninit::new(value));
            // Release: the consumer that sees the flag sees the item.
            (*block).ready.publish(slot);
        }
        // Nothing touches the queue past this point: the block may be reclaimed from now on.
    }

    /// The block holding `index`, which this thread has claimed and not yet written.
    #[inline]
    fn block_for(&self, index: usize) -> *mut Block<T> {
        let start = index & !SLOT_MASK;
        // SeqCst: see Reclaiming in the module documentation.
        let hint = self.tail.block.load(Ordering::SeqCst);
        if !hint.is_null() {
            // SAFETY: we loaded it as the tail block, after claiming our index. If it is at or
            // before our block, the load came before the tail block moved past it; if it is
            // after, it holds only indices past our unwritten one. Either way it is not
            // reclaimed before our slot is written (see Reclaiming).
            if unsafe { (*hint).start.load(Ordering::Relaxed) } == start {
                return hint;
            }
        }
        self.walk_to(hint, start)
    }

    /// The slow path of [`block_for`](Self::block_for): installs the first block if `hint` is
    /// null, then walks from it to the block starting at `start`, linking blocks as needed and
    /// moving the tail block along.
    #[cold]
    #[inline(never)]
    fn walk_to(&self, hint: *mut Block<T>, start: usize) -> *mut Block<T> {
        // A block allocated for a link another thread won, kept for the next link.
        let mut spare: *mut Block<T> = ptr::null_mut();
        let mut block = if hint.is_null() {
            self.install_first(&mut spare)
        } else {
            hint
        };
        // SAFETY: `block` is the tail block we loaded, alive until our slot is written (see
        // `block_for`), or the first block, found after loading no tail block at all: before
        // the tail block ever moved, so alive until then too (see Reclaiming).
        if !reached(start, unsafe { (*block).start.load(Ordering::Relaxed) }) {
            return Self::walk_back(block, start);
        }
        loop {
            // SAFETY: `block` is the block we started from, at or before ours, or was reached
            // from it along `next`. We loaded it before the tail block moved past it, so
            // neither it nor the blocks after it are reclaimed before our slot is written
            // (see Reclaiming).
            let current = unsafe { &*block };
            let current_start = current.start.load(Ordering::Relaxed);
            if current_start == start {
                break;
            }
            debug_assert!(reached(start, current_start), "walked past our block");
            // Acquire: see the linked block's header.
            let mut next = current.next.load(Ordering::Acquire);
            if next.is_null() {
                let new = if spare.is_null() {
                    self.allocate(0)
                } else {
                    mem::replace(&mut spare, ptr::null_mut())
                };
                // SAFETY: `new` is not linked anywhere yet: only this thread can reach it.
                unsafe {
                    (*new)
                        .start
                        .store(current_start.wrapping_add(BLOCK_CAP), Ordering::Relaxed);
                    (*new).prev.store(block, Ordering::Relaxed);
                }
                // Release publishes the new block's header; Acquire on failure sees the
                // winner's.
                match current.next.compare_exchange(
                    ptr::null_mut(),
                    new,
                    Ordering::Release,
                    Ordering::Acquire,
                ) {
                    Ok(_) => next = new,
                    Err(linked) => {
                        spare = new;
                        next = linked;
                    }
                }
            }
            // Move the tail block along with us, unless someone else already did.
            if self.tail.block.load(Ordering::Relaxed) == block
                && self
                    .tail
                    .block
                    .compare_exchange(block, next, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                // SeqCst: see Reclaiming in the module documentation.
                let observed = self.tail.index.load(Ordering::SeqCst);
                current.release(observed);
            }
            block = next;
        }
        if !spare.is_null() {
            // SAFETY: `spare` lost its link race and was never published: only we can reach it.
            unsafe { self.free(spare) };
        }
        block
    }

    /// Walks back from `block`, which starts past `start`, to the block starting at `start`.
    ///
    /// This happens when other producers moved the tail block past our block between our
    /// claim and our load of the tail block.
    #[cold]
    fn walk_back(mut block: *mut Block<T>, start: usize) -> *mut Block<T> {
        loop {
            debug_assert!(!block.is_null(), "walked back past the first block");
            // SAFETY: every block from ours up to the tail block we loaded holds only
            // indices at or past ours, which is not written yet, so the head has not reached
            // them and none of them is reclaimed.
            let current = unsafe { &*block };
            if current.start.load(Ordering::Relaxed) == start {
                return block;
            }
            // Acquire: see the previous block's header (it was linked before this one).
            block = current.prev.load(Ordering::Acquire);
        }
    }

    /// Installs the first block, or finds the one another producer installed; a block
    /// allocated in vain is left in `spare`.
    #[cold]
    fn install_first(&self, spare: &mut *mut Block<T>) -> *mut Block<T> {
        let new = self.allocate(0);
        // The first block is published in `first` before it becomes the tail block, so a
        // consumer that can see any item finds it.
        let first = match self.head.first.compare_exchange(
            ptr::null_mut(),
            new,
            Ordering::SeqCst,
            Ordering::Acquire,
        ) {
            Ok(_) => new,
            Err(installed) => {
                *spare = new;
                installed
            }
        };
        // Whoever gets here first makes it the tail block. Starting from `first` is safe even
        // if the tail block has moved on since: we loaded it as null, before any move, so our
        // index is below the observed tail of every block the tail block ever moves past
        // (see Reclaiming).
        let _ = self.tail.block.compare_exchange(
            ptr::null_mut(),
            first,
            Ordering::SeqCst,
            Ordering::Relaxed,
        );
        first
    }

    /// Allocates an unlinked block starting at `start`.
    fn allocate(&self, start: usize) -> *mut Block<T> {
        #[cfg(test)]
        self.tail.allocated.fetch_add(1, Ordering::Relaxed);
        Block::allocate(start)
    }

    /// Frees a block of this queue without dropping any item in it.
    ///
    /// # Safety
    ///
    /// As for [`Block::free`].
    unsafe fn free(&self, block: *mut Block<T>) {
        #[cfg(test)]
        self.tail.freed.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `Block::free`'s contract.
        unsafe { Block::free(block) };
    }

    /// Takes the oldest item, or returns `None` when there is none yet: the queue is empty, its
    /// oldest claimed slot is not written yet, or another thread is popping at this moment.
    #[inline]
    pub(crate) fn pop(&self) -> Option<T> {
        let _guard = ConsumerGuard::take(&self.head.busy)?;
        // SAFETY: holding the consumer flag makes this the only thread touching the cursor.
        let cursor = unsafe { &mut *self.head.cursor.get() };
        // Relaxed: only the holder of the flag writes it, and the flag ordered the last write.
        let head = self.head.index.load(Ordering::Relaxed);
        if cursor.block.is_null() && !self.start_consuming(cursor) {
            return None;
        }
        let slot = head & SLOT_MASK;
        // SAFETY: the cursor's block is never reclaimed (reclaiming stops before it), and only
        // the consumer reclaims.
        let mut block = unsafe { &*cursor.block };
        if slot == 0 && block.start.load(Ordering::Relaxed) != head {
            // The head reached the end of its block: move to the next one. Producers link a
            // block before writing into it, so without one there is nothing to pop.
            let next = block.next.load(Ordering::Acquire);
            if next.is_null() {
                self.reclaim(cursor, head);
                return None;
            }
            cursor.block = next;
            // SAFETY: as above, `next` is now the cursor's block.
            block = unsafe { &*next };
        }
        if !block.ready.is_published(slot) && !self.wait_for_publish(block, slot, head) {
            self.reclaim(cursor, head);
            return None;
        }
        // SAFETY: the acquire load of the ready flag saw it set, so the producer's write of
        // the item is visible, and the slot is initialized. The head index has not moved past
        // it yet, so no pop read it before, and the flag keeps other pops out: the item is
        // moved out exactly once. The slot is never read again in this block's life.
        let value = unsafe { block.slots[slot].get().read().assume_init() };
        let head = head.wrapping_add(1);
        // Release: `len` on another thread then sees the tail at least this far.
        self.head.index.store(head, Ordering::Release);
        if cursor.oldest != cursor.block {
            self.reclaim(cursor, head);
        }
        Some(value)
    }

    /// Points the cursor at the first block, if installed yet; returns whether it was.
    #[cold]
    fn start_consuming(&self, cursor: &mut Cursor<T>) -> bool {
        // Acquire: see the first block's header.
        let first = self.head.first.load(Ordering::Acquire);
        if first.is_null() {
            return false;
        }
        cursor.block = first;
        cursor.oldest = first;
        true
    }

    /// Spins briefly on a head slot found unwritten, if it was claimed: its producer is
    /// between claiming and writing, usually for a few nanoseconds. Returns whether the item
    /// was written meanwhile.
    #[cold]
    fn wait_for_publish(&self, block: &Block<T>, slot: usize, head: usize) -> bool {
        // Relaxed: a stale tail only makes us give up early or spin for nothing.
        if self.tail.index.load(Ordering::Relaxed) == head {
            return false;
        }
        for _ in 0..PUBLISH_SPINS {
            hint::spin_loop();
            if block.ready.is_published(slot) {
                return true;
            }
        }
        false
    }

    /// Reclaims the blocks the consumer has moved past that no producer can touch any more
    /// (see Reclaiming), oldest first; `head` is the head index.
    fn reclaim(&self, cursor: &mut Cursor<T>, head: usize) {
        while cursor.oldest != cursor.block {
            let oldest = cursor.oldest;
            // SAFETY: blocks from `oldest` on are not reclaimed yet, and only the consumer,
            // which we are, reclaims.
            let block = unsafe { &*oldest };
            // Acquire: see the observed tail stored before the flag.
            if !block.released.load(Ordering::Acquire)
                || !reached(head, block.observed_tail.load(Ordering::Relaxed))
            {
                return;
            }
            // Not null: the cursor's block comes after this one.
            cursor.oldest = block.next.load(Ordering::Acquire);
            // SAFETY: the block is released and the head reached its observed tail, so no
            // producer can reach it any more (see Reclaiming); it is out of the cursor, so the
            // consumer no longer can either.
            unsafe { self.recycle(oldest) };
        }
    }

    /// Links a reclaimed block after the last one, as a spare for the producers, or frees it.
    ///
    /// # Safety
    ///
    /// Nobody else can reach `block`, and it holds no item.
    unsafe fn recycle(&self, block: *mut Block<T>) {
        {
            // SAFETY: the caller guarantees `block` is ours alone.
            let spare = unsafe { &*block };
            spare.next.store(ptr::null_mut(), Ordering::Relaxed);
            spare.released.store(false, Ordering::Relaxed);
            spare.ready.reset();
            // Acquire: see the header of the tail block.
            let mut last = self.tail.block.load(Ordering::Acquire);
            for _ in 0..RECYCLE_STEPS {
                if last.is_null() {
                    break;
                }
                // SAFETY: `last` is the tail block or after it, so it is not released, and only
                // the consumer, which we are, reclaims (and only released blocks).
                let current = unsafe { &*last };
                let next = current.next.load(Ordering::Acquire);
                if !next.is_null() {
                    last = next;
                    continue;
                }
                let last_start = current.start.load(Ordering::Relaxed);
                // Relaxed: a stale tail only costs one spare too many or too few.
                if !reached(
                    self.tail.index.load(Ordering::Relaxed),
                    last_start.wrapping_add(1),
                ) {
                    // Nothing claimed in the last block yet: it is a spare already.
                    break;
                }
                spare
                    .start
                    .store(last_start.wrapping_add(BLOCK_CAP), Ordering::Relaxed);
                spare.prev.store(last, Ordering::Relaxed);
                // Release publishes the reset header; Acquire on failure sees the winner's.
                match current.next.compare_exchange(
                    ptr::null_mut(),
                    block,
                    Ordering::Release,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return,
                    Err(linked) => last = linked,
                }
            }
        }
        // SAFETY: the caller guarantees `block` is ours alone, and we did not link it.
        unsafe { self.free(block) };
    }

    /// The number of claimed slots not yet popped: pushed items, plus pushes that have claimed
    /// a slot and not yet written it. A snapshot under concurrent pushes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        // Acquire, then the tail: the head seen never passes the tail seen.
        let head = self.head.index.load(Ordering::Acquire);
        let tail = self.tail.index.load(Ordering::Relaxed);
        tail.wrapping_sub(head)
    }

    /// Whether no slot is claimed and unpopped; see [Length](self#length).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many blocks this queue has allocated so far.
    #[cfg(test)]
    fn blocks_allocated(&self) -> usize {
        self.tail.allocated.load(Ordering::Relaxed)
    }

    /// Checks that every block allocated and not freed is in the list: none leaked.
    #[cfg(test)]
    fn assert_no_leaked_block(&mut self) {
        let live = self.blocks_allocated() - self.tail.freed.load(Ordering::Relaxed);
        assert_eq!(
            live,
            self.blocks_held(),
            "blocks allocated and not freed vs held"
        );
    }

    /// How many blocks the queue holds right now, linked or waiting to be reclaimed.
    #[cfg(test)]
    fn blocks_held(&mut self) -> usize {
        let cursor = self.head.cursor.get_mut();
        let mut block = if cursor.oldest.is_null() {
            *self.head.first.get_mut()
        } else {
            cursor.oldest
        };
        let mut count = 0;
        while !block.is_null() {
            count += 1;
            // SAFETY: `&mut self`: no push or pop runs, and every linked block is alive.
            block = unsafe { (*block).next.load(Ordering::Relaxed) };
        }
        count
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        let head = *self.head.index.get_mut();
        let unpopped = self.tail.index.get_mut().wrapping_sub(head);
        let cursor = self.head.cursor.get_mut();
        // Every block still held is linked after `oldest`, or after `first` if nothing was
        // ever popped; reclaimed ones were freed or linked again at the end.
        let mut block = if cursor.oldest.is_null() {
            *self.head.first.get_mut()
        } else {
            cursor.oldest
        };
        while !block.is_null() {
            // SAFETY: `&mut self`: no push or pop runs, and each block is reached once along
            // the list, so we own it and free it exactly once.
            let mut owned = unsafe { Box::from_raw(block) };
            if mem::needs_drop::<T>() {
                let start = *owned.start.get_mut();
                for (slot, ready) in owned.ready.0.iter_mut().enumerate() {
                    let index = start.wrapping_add(slot);
                    // Unpopped and written: a claimed slot is always written by the time the
                    // queue can be dropped, unless its producer died, so check anyway.
                    if index.wrapping_sub(head) < unpopped && *ready.get_mut() {
                        // SAFETY: the slot's ready flag is set and its index was not popped,
                        // so it holds an item nobody moved out; we drop it once, and never
                        // read the slot again.
                        unsafe { owned.slots[slot].get_mut().assume_init_drop() };
                    }
                }
            }
            block = *owned.next.get_mut();
            drop(owned);
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::AtomicU64;
    use std::sync::{Arc, Barrier};
    use std::thread;
    use std::time::{Duration, Instant};

    use super::*;

    /// The longest any test waits before it fails instead of hanging.
    const DEADLINE: Duration = Duration::from_secs(30);

    /// Panics once `deadline` has passed.
    #[track_caller]
    fn check(deadline: Instant, what: &str) {
        assert!(Instant::now() < deadline, "deadline passed while {what}");
    }

    /// Counts its drops in a shared counter.
    #[derive(Debug)]
    struct Counted {
        value: usize,
        drops: Arc<AtomicUsize>,
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counted(value: usize, drops: &Arc<AtomicUsize>) -> Counted {
        Counted {
            value,
            drops: Arc::clone(drops),
        }
    }

    #[test]
    fn empty_queue_allocates_nothing() {
        let mut queue = Queue::<u64>::new();
        assert_eq!(queue.pop(), None);
        assert!(queue.is_empty());
        assert_eq!(queue.len(), 0);
        assert_eq!(queue.blocks_allocated(), 0);
        assert_eq!(queue.blocks_held(), 0);
    }

    #[test]
    fn fifo_across_many_blocks() {
        let queue = Queue::new();
        let total = BLOCK_CAP * 40 + 7;
        for n in 0..total {
            queue.push(n);
            assert_eq!(queue.len(), n + 1);
        }
        for n in 0..total {
            assert_eq!(queue.pop(), Some(n));
        }
        assert_eq!(queue.pop(), None);
        assert!(queue.is_empty());
        // Pops and pushes interleaved in uneven runs cross block ends at every offset.
        let mut next_in = 0;
        let mut next_out = 0;
        for round in 0..500 {
            for _ in 0..(round % 45) {
                queue.push(next_in);
                next_in += 1;
            }
            for _ in 0..(round % 38) {
                match queue.pop() {
                    Some(n) => {
                        assert_eq!(n, next_out);
                        next_out += 1;
                    }
                    None => assert_eq!(next_out, next_in),
                }
            }
            assert_eq!(queue.len(), next_in - next_out);
        }
        while let Some(n) = queue.pop() {
            assert_eq!(n, next_out);
            next_out += 1;
        }
        assert_eq!(next_out, next_in);
    }

    #[test]
    fn zero_sized_items() {
        let queue = Queue::new();
        for _ in 0..BLOCK_CAP * 3 + 1 {
            queue.push(());
        }
        assert_eq!(queue.len(), BLOCK_CAP * 3 + 1);
        assert_eq!(
            std::iter::from_fn(|| queue.pop()).count(),
            BLOCK_CAP * 3 + 1
        );
    }

    #[test]
    fn drop_drops_every_unpopped_item_once() {
        // Unpopped counts that end mid-block, at a block end, and span several blocks, after
        // pops that end mid-block and at a block end.
        for pushed in [
            0,
            1,
            BLOCK_CAP - 1,
            BLOCK_CAP,
            BLOCK_CAP + 1,
            BLOCK_CAP * 5 + 3,
        ] {
            for popped in [0, 1, BLOCK_CAP, BLOCK_CAP + 2] {
                let popped = popped.min(pushed);
                let drops = Arc::new(AtomicUsize::new(0));
                let queue = Queue::new();
                for n in 0..pushed {
                    queue.push(counted(n, &drops));
                }
                for n in 0..popped {
                    assert_eq!(queue.pop().map(|item| item.value), Some(n));
                }
                assert_eq!(drops.load(Ordering::SeqCst), popped, "{pushed}/{popped}");
                drop(queue);
                assert_eq!(drops.load(Ordering::SeqCst), pushed, "{pushed}/{popped}");
            }
        }
    }

    #[test]
    fn drop_skips_a_claimed_but_unwritten_slot() {
        let drops = Arc::new(AtomicUsize::new(0));
        let queue = Queue::new();
        queue.push(counted(0, &drops));
        // A producer that claimed index 1 and never wrote it.
        queue.tail.index.fetch_add(1, Ordering::SeqCst);
        queue.push(counted(2, &drops));
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.pop().map(|item| item.value), Some(0));
        // The unwritten slot blocks the head: not empty, yet nothing to pop.
        assert!(!queue.is_empty());
        assert!(queue.pop().is_none());
        drop(queue);
        // Item 2 dropped with the queue; the unwritten slot was not dropped.
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    /// A producer that stalls between claiming its index and looking for its block, while
    /// others push several blocks' worth, finds its block behind the tail block.
    #[test]
    fn stalled_producer_walks_back_to_its_block() {
        for stall_at in [0, 1, BLOCK_CAP - 1, BLOCK_CAP, BLOCK_CAP + 5] {
            let mut queue = Queue::new();
            for n in 0..stall_at {
                queue.push(n);
            }
            let stalled = queue.claim();
            for n in stall_at + 1..stall_at + 1 + BLOCK_CAP * 5 {
                queue.push(n);
            }
            // The head is held back at the stalled index.
            for n in 0..stall_at {
                assert_eq!(queue.pop(), Some(n));
            }
            assert_eq!(queue.pop(), None);
            queue.write(stalled, stall_at);
            let rest: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
            assert_eq!(
                rest,
                (stall_at..stall_at + 1 + BLOCK_CAP * 5).collect::<Vec<_>>()
            );
            queue.assert_no_leaked_block();
        }
    }

    /// A producer that claims its index before any block exists, and stalls before it loads
    /// the tail block, starts from the first block and walks forward to its own, however far
    /// the others got meanwhile.
    #[test]
    fn stalled_first_producer_walks_forward_from_the_first_block() {
        let mut queue = Queue::new();
        // Producers that claim before any block exists, the last of which stalls.
        let early: Vec<_> = (0..BLOCK_CAP * 2 + 3).map(|_| queue.claim()).collect();
        let stalled = queue.claim();
        let hint = queue.tail.block.load(Ordering::SeqCst);
        assert!(hint.is_null());
        // The others install the first block, write, and carry on for several blocks.
        for &index in &early {
            queue.write(index, index);
        }
        for n in stalled + 1..stalled + 1 + BLOCK_CAP * 4 {
            queue.push(n);
        }
        for n in 0..stalled {
            assert_eq!(queue.pop(), Some(n));
        }
        assert_eq!(queue.pop(), None);
        // The stalled producer resumes with the hint it loaded.
        let block = queue.walk_to(hint, stalled & !SLOT_MASK);
        // SAFETY: `block` was found as `block_for` finds it, for an index claimed above and
        // not written yet.
        unsafe { Queue::write_to(block, stalled, stalled) };
        let rest: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            rest,
            (stalled..stalled + 1 + BLOCK_CAP * 4).collect::<Vec<_>>()
        );
        queue.assert_no_leaked_block();
    }

    #[test]
    fn steady_stream_reuses_blocks_and_emptied_queue_keeps_two() {
        let mut queue = Queue::new();
        let mut next_in = 0_u64;
        let mut next_out = 0_u64;
        let mut run = |queue: &Queue<u64>, rounds: usize, backlog: u64| {
            for _ in 0..rounds {
                queue.push(next_in);
                next_in += 1;
                while next_in - next_out > backlog {
                    assert_eq!(queue.pop(), Some(next_out));
                    next_out += 1;
                }
            }
        };
        // Short queue: after a warm-up, no block is allocated, however many items pass.
        run(&queue, BLOCK_CAP * 4, 2);
        let warm = queue.blocks_allocated();
        assert!(warm <= 2, "{warm} blocks for a queue of 3");
        run(&queue, BLOCK_CAP * 1000, 2);
        assert_eq!(queue.blocks_allocated(), warm);
        // A long queue in steady state too: the consumer hands each block it leaves back to
        // the producers.
        run(&queue, BLOCK_CAP * 20, BLOCK_CAP as u64 * 10);
        let warm = queue.blocks_allocated();
        run(&queue, BLOCK_CAP * 1000, BLOCK_CAP as u64 * 10);
        assert_eq!(queue.blocks_allocated(), warm);
        // Emptied, the queue keeps at most the head's block and one spare.
        while let Some(n) = queue.pop() {
            assert_eq!(n, next_out);
            next_out += 1;
        }
        assert_eq!(next_out, next_in);
        assert!(
            queue.blocks_held() <= 2,
            "{} blocks held",
            queue.blocks_held()
        );
        // So does one emptied after a burst.
        for n in 0..BLOCK_CAP as u64 * 50 {
            queue.push(n);
        }
        assert!(queue.blocks_held() >= 50);
        for n in 0..BLOCK_CAP as u64 * 50 {
            assert_eq!(queue.pop(), Some(n));
        }
        assert_eq!(queue.pop(), None);
        assert!(
            queue.blocks_held() <= 2,
            "{} blocks held",
            queue.blocks_held()
        );
        queue.assert_no_leaked_block();
    }

    /// Values pushed by producer `producer`: its index in the top bits, a sequence below.
    fn item(producer: usize, seq: usize) -> u64 {
        ((producer as u64) << 32) | seq as u64
    }

    #[test]
    fn many_producers_one_consumer() {
        const PRODUCERS: usize = 4;
        const PER_PRODUCER: usize = 200_000;
        let deadline = Instant::now() + DEADLINE;
        let queue = Queue::new();
        let start = Barrier::new(PRODUCERS + 1);
        let mut next = [0; PRODUCERS];
        thread::scope(|scope| {
            for producer in 0..PRODUCERS {
                let (queue, start) = (&queue, &start);
                scope.spawn(move || {
                    start.wait();
                    for seq in 0..PER_PRODUCER {
                        queue.push(item(producer, seq));
                        // Now and then, let the consumer catch up so the queue is short and
                        // blocks are recycled while producers race over block ends.
                        if seq % 4096 == 0 {
                            thread::yield_now();
                        }
                    }
                });
            }
            start.wait();
            let mut received = 0;
            while received < PRODUCERS * PER_PRODUCER {
                match queue.pop() {
                    Some(value) => {
                        let (producer, seq) = ((value >> 32) as usize, value as u32 as usize);
                        assert!(producer < PRODUCERS, "corrupt value {value:#x}");
                        assert_eq!(seq, next[producer], "producer {producer} out of order");
                        next[producer] += 1;
                        received += 1;
                    }
                    None => {
                        check(deadline, "popping");
                        thread::yield_now();
                    }
                }
            }
        });
        assert_eq!(next, [PER_PRODUCER; PRODUCERS]);
        assert_eq!(queue.pop(), None);
        assert!(queue.is_empty());
        let mut queue = queue;
        queue.assert_no_leaked_block();
        assert!(
            queue.blocks_held() <= 2,
            "{} blocks held",
            queue.blocks_held()
        );
    }

    #[test]
    fn racing_first_pushes_share_one_first_block() {
        const PRODUCERS: usize = 4;
        let deadline = Instant::now() + DEADLINE;
        for _ in 0..200 {
            check(deadline, "racing first pushes");
            let mut queue = Queue::new();
            let start = Barrier::new(PRODUCERS);
            thread::scope(|scope| {
                for producer in 0..PRODUCERS {
                    let (queue, start) = (&queue, &start);
                    scope.spawn(move || {
                        start.wait();
                        for seq in 0..BLOCK_CAP {
                            queue.push(item(producer, seq));
                        }
                    });
                }
            });
            // Exactly the blocks needed, all linked from the one first block: blocks of
            // producers that lost a race were reused or freed.
            assert_eq!(queue.blocks_held(), PRODUCERS);
            queue.assert_no_leaked_block();
            let mut next = [0; PRODUCERS];
            for _ in 0..PRODUCERS * BLOCK_CAP {
                let value = queue.pop().expect("every push is written once joined");
                let (producer, seq) = ((value >> 32) as usize, value as u32 as usize);
                assert_eq!(seq, next[producer]);
                next[producer] += 1;
            }
            assert_eq!(queue.pop(), None);
        }
    }

    /// Two threads race to drain a full queue, against the single-consumer contract: no value
    /// may come out twice or be lost.
    #[test]
    fn concurrent_pops_of_a_full_queue_lose_and_duplicate_nothing() {
        const TOTAL: usize = 200_000;
        let deadline = Instant::now() + DEADLINE;
        for _ in 0..5 {
            let queue = Queue::new();
            for n in 0..TOTAL {
                queue.push(n);
            }
            let start = Barrier::new(2);
            let seen: Vec<Vec<usize>> = thread::scope(|scope| {
                let consumers: Vec<_> = (0..2)
                    .map(|_| {
                        let (queue, start) = (&queue, &start);
                        scope.spawn(move || {
                            start.wait();
                            let mut mine = Vec::new();
                            // Both threads keep trying until the queue is empty: a pop that
                            // finds the other one popping returns `None`.
                            while !queue.is_empty() {
                                check(deadline, "draining from two threads");
                                mine.extend(queue.pop());
                            }
                            mine
                        })
                    })
                    .collect();
                consumers.into_iter().map(|c| c.join().unwrap()).collect()
            });
            // Each thread sees its own values in order.
            for mine in &seen {
                assert!(mine.windows(2).all(|pair| pair[0] < pair[1]));
            }
            let mut all: Vec<usize> = seen.concat();
            all.sort_unstable();
            assert_eq!(all.len(), TOTAL, "values lost or duplicated");
            assert!(all.iter().copied().eq(0..TOTAL), "a value was duplicated");
        }
    }

    /// Two threads pop at once, against the contract, while producers push: neither may get
    /// an item twice nor lose one, and values popped by both sum to what was pushed.
    #[test]
    fn concurrent_pops_lose_and_duplicate_nothing() {
        const PRODUCERS: usize = 2;
        const PER_PRODUCER: u64 = 100_000;
        const TOTAL: u64 = PRODUCERS as u64 * PER_PRODUCER;
        let deadline = Instant::now() + DEADLINE;
        let drops = Arc::new(AtomicUsize::new(0));
        let queue = Queue::new();
        let popped = AtomicU64::new(0);
        let sum = AtomicU64::new(0);
        let start = Barrier::new(PRODUCERS + 2);
        let seen: Vec<Vec<usize>> = thread::scope(|scope| {
            for producer in 0..PRODUCERS as u64 {
                let (queue, start, drops) = (&queue, &start, &drops);
                scope.spawn(move || {
                    start.wait();
                    for n in 0..PER_PRODUCER {
                        queue.push(counted((producer * PER_PRODUCER + n) as usize, drops));
                    }
                });
            }
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let (queue, start, popped, sum) = (&queue, &start, &popped, &sum);
                    scope.spawn(move || {
                        start.wait();
                        let mut mine = Vec::new();
                        while popped.load(Ordering::SeqCst) < TOTAL {
                            match queue.pop() {
                                Some(item) => {
                                    sum.fetch_add(item.value as u64, Ordering::SeqCst);
                                    popped.fetch_add(1, Ordering::SeqCst);
                                    mine.push(item.value);
                                }
                                None => {
                                    check(deadline, "popping from two threads");
                                    hint::spin_loop();
                                }
                            }
                        }
                        mine
                    })
                })
                .collect();
            consumers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        assert_eq!(popped.load(Ordering::SeqCst), TOTAL);
        assert_eq!(sum.load(Ordering::SeqCst), TOTAL * (TOTAL - 1) / 2);
        let distinct: HashSet<usize> = seen.iter().flatten().copied().collect();
        assert_eq!(distinct.len() as u64, TOTAL, "a value was popped twice");
        assert!(queue.pop().is_none());
        assert_eq!(drops.load(Ordering::SeqCst), TOTAL as usize);
        let mut queue = queue;
        queue.assert_no_leaked_block();
        drop(queue);
        assert_eq!(drops.load(Ordering::SeqCst), TOTAL as usize);
    }

    /// Producers race the consumer over a queue kept short, so the consumer keeps linking
    /// recycled blocks while producers link new ones; then everything is dropped with items
    /// left in it.
    #[test]
    fn recycling_races_producers_and_drop_frees_the_rest() {
        const PRODUCERS: usize = 3;
        const PER_PRODUCER: usize = 50_000;
        const LEFT: usize = 1_000;
        let deadline = Instant::now() + DEADLINE;
        let drops = Arc::new(AtomicUsize::new(0));
        let queue = Queue::new();
        let start = Barrier::new(PRODUCERS + 1);
        thread::scope(|scope| {
            for producer in 0..PRODUCERS {
                let (queue, start, drops) = (&queue, &start, &drops);
                scope.spawn(move || {
                    start.wait();
                    for seq in 0..PER_PRODUCER {
                        queue.push(counted(item(producer, seq) as usize, drops));
                    }
                });
            }
            start.wait();
            let mut received = 0;
            while received < PRODUCERS * PER_PRODUCER - LEFT {
                match queue.pop() {
                    Some(_) => received += 1,
                    None => check(deadline, "popping"),
                }
            }
        });
        assert_eq!(queue.len(), LEFT);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            PRODUCERS * PER_PRODUCER - LEFT
        );
        let mut queue = queue;
        queue.assert_no_leaked_block();
        drop(queue);
        assert_eq!(drops.load(Ordering::SeqCst), PRODUCERS * PER_PRODUCER);
    }

    #[test]
    fn is_send_and_sync_for_send_items() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Queue<std::cell::Cell<u8>>>();
    }

    #[test]
    fn ends_are_on_separate_cache_lines() {
        assert_eq!(align_of::<Queue<u8>>(), 128);
        assert_eq!(size_of::<Queue<u8>>(), 256);
    }

    /// The sizes the crate documentation quotes: a 72-byte header, then bare items.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn blocks_are_a_header_and_bare_items() {
        assert_eq!(size_of::<Block<[u64; 6]>>(), 72 + 48 * BLOCK_CAP);
        assert_eq!(size_of::<Block<u64>>(), 72 + 8 * BLOCK_CAP);
    }
}

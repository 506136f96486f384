//! `Payload`: a message owned by an envelope, stored without a heap allocation when it is small.
//!
//! A local send moves the message value into the receiver's mailbox. Boxing every message as
//! `Box<dyn AnyMessage>` would cost an allocation on the sender's thread and a free on the
//! receiver's, which glibc's allocator serialises on a lock when the two threads differ. Most
//! messages are a few words, so a `Payload` keeps values of up to three words inline, next to
//! a table of functions for their type, and boxes only larger ones.
//!
//! This is the one place in the runtime that needs `unsafe`: type-erased inline storage cannot
//! be written in safe Rust. Every unsafe block states the invariant it relies on; the invariant
//! is always the same pair: `data` holds exactly the kind of value `vtable` was made for, and
//! it is read out at most once.
#![allow(unsafe_code)]

use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};

use crate::message::{AnyMessage, Message};

/// Three words: enough for a message holding one `String`, `Vec` or `bytes` field, or a few
/// numbers.
type Storage = MaybeUninit<[usize; 3]>;

/// What the runtime can do with the value in a `Payload` without knowing its type.
struct VTable {
    /// The type of the message stored at `data`: one call answers `is` and `downcast_ref`,
    /// where going through `as_dyn` and [`Any`](std::any::Any) takes three.
    type_id: unsafe fn(*const Storage) -> TypeId,
    /// Where the message itself lives, for a payload whose type is known.
    place: Place,
    /// A fat pointer to the message stored at `data`.
    as_dyn: unsafe fn(*const Storage) -> *const dyn AnyMessage,
    /// Moves the message out, boxed. `data` holds no value afterwards.
    into_box: unsafe fn(*mut Storage) -> Box<dyn AnyMessage>,
    /// Moves the message out into `out`, which must point to a value of the stored message
    /// type. `None` for a payload made from a `Box<dyn AnyMessage>`, whose type is not known.
    read_into: Option<unsafe fn(*mut Storage, *mut u8)>,
    /// A copy of the message, stored as a new payload would store it.
    clone: unsafe fn(*const Storage) -> Payload,
    /// Drops the message in place.
    drop: unsafe fn(*mut Storage),
}

/// Where a payload keeps its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In `data` itself.
    Inline,
    /// In a `Box<T>` stored in `data`.
    Boxed,
    /// In a `Box<dyn AnyMessage>` stored in `data`.
    Dyn,
}

/// A message value of type `T`, stored inline.
struct Inline<T>(PhantomData<T>);

impl<T: Message> Inline<T> {
    const FITS: bool =
        size_of::<T>() <= size_of::<Storage>() && align_of::<T>() <= align_of::<Storage>();

    const VTABLE: &'static VTable = &VTable {
        type_id: type_id_of::<T>,
        place: Place::Inline,
        as_dyn: Self::as_dyn,
        into_box: Self::into_box,
        read_into: Some(Self::read_into),
        clone: Self::clone,
        drop: Self::drop,
    };

    /// # Safety
    /// `data` holds a live `T`.
    unsafe fn as_dyn(data: *const Storage) -> *const dyn AnyMessage {
        data.cast::<T>() as *const dyn AnyMessage
    }

    /// # Safety
    /// `data` holds a live `T`.
    unsafe fn clone(data: *const Storage) -> Payload {
        // SAFETY: the caller guarantees a live `T`, borrowed only for the copy.
        Payload::new(unsafe { &*data.cast::<T>() }.clone())
    }

    /// # Safety
    /// `data` holds a live `T`, which the caller will not use again.
    unsafe fn into_box(data: *mut Storage) -> Box<dyn AnyMessage> {
        // SAFETY: the caller guarantees a live `T` that is read only this once.
        Box::new(unsafe { data.cast::<T>().read() })
    }

    /// # Safety
    /// `data` holds a live `T`, which the caller will not use again; `out` is valid for a
    /// write of a `T`.
    unsafe fn read_into(data: *mut Storage, out: *mut u8) {
        // SAFETY: both pointers are valid for `T`, as the caller guarantees.
        unsafe { out.cast::<T>().write(data.cast::<T>().read()) }
    }

    /// # Safety
    /// `data` holds a live `T`, which the caller will not use again.
    unsafe fn drop(data: *mut Storage) {
        // SAFETY: the caller guarantees a live `T` that is dropped only this once.
        unsafe { data.cast::<T>().drop_in_place() }
    }
}

/// The type id of `T`, whatever `data` holds: the `type_id` entry of a payload whose type is
/// known when it is made.
fn type_id_of<T: 'static>(_data: *const Storage) -> TypeId {
    TypeId::of::<T>()
}

/// A message value of type `T`, too large to be inline, stored as a `Box<T>`.
struct Boxed<T>(PhantomData<T>);

impl<T: Message> Boxed<T> {
    const VTABLE: &'static VTable = &VTable {
        type_id: type_id_of::<T>,
        place: Place::Boxed,
        as_dyn: Self::as_dyn,
        into_box: Self::into_box,
        read_into: Some(Self::read_into),
        clone: Self::clone,
        drop: Self::drop,
    };

    /// # Safety
    /// `data` holds a live `Box<T>`.
    unsafe fn clone(data: *const Storage) -> Payload {
        // SAFETY: the caller guarantees a live `Box<T>`, borrowed only for the copy.
        let message: &T = unsafe { &*data.cast::<Box<T>>() };
        Payload::new(message.clone())
    }

    /// # Safety
    /// `data` holds a live `Box<T>`.
    unsafe fn as_dyn(data: *const Storage) -> *const dyn AnyMessage {
        // SAFETY: the caller guarantees a live `Box<T>`.
        let message: &T = unsafe { &*data.cast::<Box<T>>() };
        message as *const T as *const dyn AnyMessage
    }

    /// # Safety
    /// `data` holds a live `Box<T>`, which the caller will not use again.
    unsafe fn into_box(data: *mut Storage) -> Box<dyn AnyMessage> {
        // SAFETY: the caller guarantees a live `Box<T>` that is read only this once.
        unsafe { data.cast::<Box<T>>().read() }
    }

    /// # Safety
    /// `data` holds a live `Box<T>`, which the caller will not use again; `out` is valid for
    /// a write of a `T`.
    unsafe fn read_into(data: *mut Storage, out: *mut u8) {
        // SAFETY: the caller guarantees a live `Box<T>` read once and a `T`-sized `out`.
        unsafe {
            let boxed = data.cast::<Box<T>>().read();
            out.cast::<T>().write(*boxed);
        }
    }

    /// # Safety
    /// `data` holds a live `Box<T>`, which the caller will not use again.
    unsafe fn drop(data: *mut Storage) {
        // SAFETY: the caller guarantees a live `Box<T>` that is dropped only this once.
        unsafe { data.cast::<Box<T>>().drop_in_place() }
    }
}

/// A message that arrived already boxed, stored as its `Box<dyn AnyMessage>`.
struct Dyn;

impl Dyn {
    const VTABLE: &'static VTable = &VTable {
        type_id: Self::type_id,
        place: Place::Dyn,
        as_dyn: Self::as_dyn,
        into_box: Self::into_box,
        read_into: None,
        clone: Self::clone,
        drop: Self::drop,
    };

    /// # Safety
    /// `data` holds a live `Box<dyn AnyMessage>`.
    unsafe fn clone(data: *const Storage) -> Payload {
        // SAFETY: the caller guarantees a live box, borrowed only for the copy.
        let message: &dyn AnyMessage = unsafe { &**data.cast::<Box<dyn AnyMessage>>() };
        Payload::from_box(message.clone_box())
    }

    /// # Safety
    /// `data` holds a live `Box<dyn AnyMessage>`.
    unsafe fn type_id(data: *const Storage) -> TypeId {
        // SAFETY: the caller guarantees a live box.
        let message: &dyn AnyMessage = unsafe { &**data.cast::<Box<dyn AnyMessage>>() };
        message.as_any().type_id()
    }

    /// # Safety
    /// `data` holds a live `Box<dyn AnyMessage>`.
    unsafe fn as_dyn(data: *const Storage) -> *const dyn AnyMessage {
        // SAFETY: the caller guarantees a live box.
        let message: &dyn AnyMessage = unsafe { &**data.cast::<Box<dyn AnyMessage>>() };
        message as *const dyn AnyMessage
    }

    /// # Safety
    /// `data` holds a live `Box<dyn AnyMessage>`, which the caller will not use again.
    unsafe fn into_box(data: *mut Storage) -> Box<dyn AnyMessage> {
        // SAFETY: the caller guarantees a live box that is read only this once.
        unsafe { data.cast::<Box<dyn AnyMessage>>().read() }
    }

    /// # Safety
    /// `data` holds a live `Box<dyn AnyMessage>`, which the caller will not use again.
    unsafe fn drop(data: *mut Storage) {
        // SAFETY: the caller guarantees a live box that is dropped only this once.
        unsafe { data.cast::<Box<dyn AnyMessage>>().drop_in_place() }
    }
}

const _: () = assert!(size_of::<Box<dyn AnyMessage>>() <= size_of::<Storage>());
const _: () = assert!(align_of::<Box<dyn AnyMessage>>() <= align_of::<Storage>());

/// A message owned by an envelope.
pub(crate) struct Payload {
    /// Holds exactly the value `vtable` was made for, until it is moved out or dropped.
    data: Storage,
    vtable: &'static VTable,
}

impl Payload {
    /// Takes ownership of `message`, inline when it fits.
    #[inline]
    pub(crate) fn new<T: Message>(message: T) -> Self {
        let mut data = Storage::uninit();
        if Inline::<T>::FITS {
            // SAFETY: `FITS` checked that a `T` fits the storage in size and alignment.
            unsafe { data.as_mut_ptr().cast::<T>().write(message) };
            Self {
                data,
                vtable: Inline::<T>::VTABLE,
            }
        } else {
            // SAFETY: a box is one pointer, which the storage holds (see the assertions above).
            unsafe { data.as_mut_ptr().cast::<Box<T>>().write(Box::new(message)) };
            Self {
                data,
                vtable: Boxed::<T>::VTABLE,
            }
        }
    }

    /// Takes ownership of an already boxed message, without allocating again.
    pub(crate) fn from_box(message: Box<dyn AnyMessage>) -> Self {
        let mut data = Storage::uninit();
        // SAFETY: the storage holds a fat box (see the assertions above).
        unsafe {
            data.as_mut_ptr()
                .cast::<Box<dyn AnyMessage>>()
                .write(message)
        };
        Self {
            data,
            vtable: Dyn::VTABLE,
        }
    }

    /// The message.
    #[inline]
    pub(crate) fn as_dyn(&self) -> &dyn AnyMessage {
        // SAFETY: `data` holds the value `vtable` was made for, alive while `self` is.
        unsafe { &*(self.vtable.as_dyn)(&self.data) }
    }

    /// Whether the message is a `T`.
    #[inline]
    pub(crate) fn is<T: Message>(&self) -> bool {
        // SAFETY: `data` holds the value `vtable` was made for, alive while `self` is.
        unsafe { (self.vtable.type_id)(&self.data) == TypeId::of::<T>() }
    }

    /// The message as a `T`, when it is one.
    #[inline]
    pub(crate) fn downcast_ref<T: Message>(&self) -> Option<&T> {
        if !self.is::<T>() {
            return None;
        }
        match self.vtable.place {
            // SAFETY: `is` checked that the stored message is a `T`, kept in `data` itself,
            // alive while `self` is.
            Place::Inline => Some(unsafe { &*self.data.as_ptr().cast::<T>() }),
            // SAFETY: as above, with the `T` behind the `Box<T>` that `data` holds.
            Place::Boxed => Some(unsafe { &**self.data.as_ptr().cast::<Box<T>>() }),
            Place::Dyn => self.as_dyn().downcast_ref::<T>(),
        }
    }

    /// A copy of the message, inline again when it fits: a router fanning one message out
    /// allocates no more than the sender did.
    #[inline]
    pub(crate) fn duplicate(&self) -> Payload {
        // SAFETY: `data` holds the value `vtable` was made for, alive while `self` is.
        unsafe { (self.vtable.clone)(&self.data) }
    }

    /// The message, boxed.
    pub(crate) fn into_box(self) -> Box<dyn AnyMessage> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the value is read out once, and `ManuallyDrop` keeps `Drop` from touching
        // it again.
        unsafe { (this.vtable.into_box)(&mut this.data) }
    }

    /// The message by value when it is a `T`; else the payload, untouched.
    #[inline]
    pub(crate) fn take<T: Message>(self) -> Result<T, Payload> {
        if !self.is::<T>() {
            return Err(self);
        }
        match self.vtable.read_into {
            Some(read_into) => {
                let mut this = ManuallyDrop::new(self);
                let mut out = MaybeUninit::<T>::uninit();
                // SAFETY: `is` checked that the stored message is a `T`, so `out` is the
                // right type; the value is read out once and `ManuallyDrop` keeps `Drop` from
                // touching it again.
                unsafe {
                    read_into(&mut this.data, out.as_mut_ptr().cast::<u8>());
                    Ok(out.assume_init())
                }
            }
            None => self.into_box().downcast::<T>().map_err(Payload::from_box),
        }
    }
}

// `Payload` is `Send + Sync` because its fields are plain words and a static table; that is
// sound only because every constructor takes a `Message`, which is `Send + Sync`. This keeps
// the property from changing unnoticed.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Payload>();
};

impl Drop for Payload {
    fn drop(&mut self) {
        // SAFETY: every path that moves the value out first wraps `self` in `ManuallyDrop`,
        // so here the value is still alive and is dropped once.
        unsafe { (self.vtable.drop)(&mut self.data) }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_dyn(), f)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rakt_proto::v1::{DeadLetter, PoisonPill, StatusFailure, Terminated};

    use super::*;

    /// Counts its drops; a hand-written prost message, since derived ones cannot hold an `Arc`.
    #[derive(Debug, Default, Clone)]
    struct Counted {
        drops: Option<Arc<AtomicUsize>>,
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            if let Some(drops) = &self.drops {
                drops.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Makes a test type a message with no fields on the wire: derived prost messages cannot
    /// hold what these tests need (a drop counter).
    macro_rules! fieldless_message {
        ($name:ident) => {
            impl prost::Message for $name {
                fn encode_raw(&self, _buf: &mut impl prost::bytes::BufMut) {}
                fn merge_field(
                    &mut self,
                    tag: u32,
                    wire_type: prost::encoding::WireType,
                    buf: &mut impl prost::bytes::Buf,
                    ctx: prost::encoding::DecodeContext,
                ) -> Result<(), prost::DecodeError> {
                    prost::encoding::skip_field(wire_type, tag, buf, ctx)
                }
                fn encoded_len(&self) -> usize {
                    0
                }
                fn clear(&mut self) {}
            }

            impl prost::Name for $name {
                const NAME: &'static str = stringify!($name);
                const PACKAGE: &'static str = "test.v1";
            }
        };
    }

    fieldless_message!(Counted);
    fieldless_message!(BigCounted);

    /// A message too large to be inline.
    #[derive(Debug, Default, Clone)]
    struct BigCounted {
        #[expect(dead_code, reason = "held only so that its drop is counted")]
        inner: Counted,
        words: [u64; 8],
    }

    fn counted(drops: &Arc<AtomicUsize>) -> Counted {
        Counted {
            drops: Some(drops.clone()),
        }
    }

    #[test]
    fn small_messages_are_inline_and_large_ones_boxed() {
        const {
            assert!(Inline::<PoisonPill>::FITS);
            assert!(Inline::<StatusFailure>::FITS, "one String field fits");
            assert!(Inline::<Counted>::FITS);
            assert!(!Inline::<BigCounted>::FITS);
            assert!(!Inline::<DeadLetter>::FITS);
        }
        assert_eq!(size_of::<Payload>(), 4 * size_of::<usize>());
    }

    #[test]
    fn every_kind_reads_back_by_reference_and_by_value() {
        let inline = Payload::new(StatusFailure {
            error: "small".into(),
        });
        assert_eq!(
            inline
                .downcast_ref::<StatusFailure>()
                .map(|m| m.error.as_str()),
            Some("small")
        );
        assert!(inline.downcast_ref::<Terminated>().is_none());
        let inline = inline
            .take::<Terminated>()
            .expect_err("wrong type keeps the payload");
        assert_eq!(
            inline.take::<StatusFailure>().expect("right type").error,
            "small"
        );

        let big = Terminated {
            address: "rakt://s/a".into(),
            terminated_at: None,
            reason: String::new(),
        };
        let boxed = Payload::new(DeadLetter {
            receiver: "r".into(),
            ..Default::default()
        });
        assert_eq!(boxed.as_dyn().full_name(), "rakt.v1.DeadLetter");
        assert_eq!(
            boxed.take::<DeadLetter>().expect("right type").receiver,
            "r"
        );

        let from_box = Payload::from_box(Box::new(big.clone()));
        assert!(from_box.is::<Terminated>());
        let from_box = from_box.take::<StatusFailure>().expect_err("wrong type");
        assert_eq!(from_box.take::<Terminated>().expect("right type"), big);

        let again = Payload::new(big.clone()).into_box();
        assert_eq!(again.downcast_ref::<Terminated>(), Some(&big));
        assert_eq!(format!("{:?}", Payload::new(PoisonPill {})), "PoisonPill");
    }

    #[test]
    fn each_message_is_dropped_exactly_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        drop(Payload::new(counted(&drops)));
        assert_eq!(drops.load(Ordering::SeqCst), 1, "inline drop");

        let taken = Payload::new(counted(&drops))
            .take::<Counted>()
            .expect("type");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "moved out, not dropped");
        drop(taken);
        assert_eq!(drops.load(Ordering::SeqCst), 2);

        let big = BigCounted {
            inner: counted(&drops),
            words: [7; 8],
        };
        drop(Payload::new(big));
        assert_eq!(drops.load(Ordering::SeqCst), 3, "boxed drop");

        let big = BigCounted {
            inner: counted(&drops),
            words: [7; 8],
        };
        let taken = Payload::new(big).take::<BigCounted>().expect("type");
        assert_eq!(taken.words, [7; 8]);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        drop(taken);
        assert_eq!(drops.load(Ordering::SeqCst), 4);

        let boxed = Payload::new(counted(&drops)).into_box();
        assert_eq!(drops.load(Ordering::SeqCst), 4);
        drop(Payload::from_box(boxed));
        assert_eq!(drops.load(Ordering::SeqCst), 5, "dyn drop");

        let wrong = Payload::new(counted(&drops))
            .take::<PoisonPill>()
            .expect_err("type");
        assert_eq!(drops.load(Ordering::SeqCst), 5);
        drop(wrong);
        assert_eq!(drops.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn duplicates_are_independent_copies_of_every_kind() {
        let drops = Arc::new(AtomicUsize::new(0));
        let inline = Payload::new(StatusFailure {
            error: "small".into(),
        });
        let copy = inline.duplicate();
        assert_eq!(
            copy.vtable.place,
            Place::Inline,
            "a small copy stays inline"
        );
        assert_eq!(
            copy.take::<StatusFailure>().expect("type").error,
            inline.take::<StatusFailure>().expect("type").error
        );

        let boxed = Payload::new(DeadLetter {
            receiver: "r".into(),
            ..Default::default()
        });
        let copy = boxed.duplicate();
        assert_eq!(copy.vtable.place, Place::Boxed);
        assert_eq!(copy.take::<DeadLetter>().expect("type").receiver, "r");
        assert_eq!(boxed.take::<DeadLetter>().expect("type").receiver, "r");

        let from_box = Payload::from_box(Box::new(counted(&drops)));
        let copy = from_box.duplicate();
        assert!(copy.is::<Counted>());
        drop(from_box);
        drop(copy);
        assert_eq!(drops.load(Ordering::SeqCst), 2, "each copy dropped once");
    }
}

//! A binary max-heap ordered by a comparator passed to each call.
//!
//! `std::collections::BinaryHeap` needs `Ord` items; the priority mailboxes order by a
//! user-supplied closure instead, and wrapping every item with a handle to that closure would
//! cost a pointer per message.

use std::cmp::Ordering;

/// A max-heap: `pop` returns an item that no other item compares greater than.
#[derive(Debug)]
pub(crate) struct Heap<T> {
    items: Vec<T>,
}

impl<T> Heap<T> {
    pub(crate) const fn new() -> Self {
        Self { items: Vec::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Adds `item`.
    ///
    /// The heap only ever swaps whole items, so a panicking comparator leaves every item in
    /// place (if out of order) and `len` exact.
    pub(crate) fn push(&mut self, item: T, cmp: impl Fn(&T, &T) -> Ordering) {
        self.items.push(item);
        let mut child = self.items.len() - 1;
        while child > 0 {
            let parent = (child - 1) / 2;
            if cmp(&self.items[child], &self.items[parent]) != Ordering::Greater {
                break;
            }
            self.items.swap(child, parent);
            child = parent;
        }
    }

    /// Removes the greatest item.
    pub(crate) fn pop(&mut self, cmp: impl Fn(&T, &T) -> Ordering) -> Option<T> {
        if self.items.is_empty() {
            return None;
        }
        let top = self.items.swap_remove(0);
        let len = self.items.len();
        let mut parent = 0;
        loop {
            let left = 2 * parent + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child =
                if right < len && cmp(&self.items[right], &self.items[left]) == Ordering::Greater {
                    right
                } else {
                    left
                };
            if cmp(&self.items[child], &self.items[parent]) != Ordering::Greater {
                break;
            }
            self.items.swap(child, parent);
            parent = child;
        }
        Some(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_descending_order() {
        let mut heap = Heap::new();
        // A fixed pseudo-random sequence, with duplicates.
        let mut x: u32 = 12345;
        let mut expected = Vec::new();
        for _ in 0..500 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let item = (x >> 16) % 97;
            expected.push(item);
            heap.push(item, u32::cmp);
        }
        assert_eq!(heap.len(), 500);
        expected.sort_unstable_by(|a, b| b.cmp(a));
        let popped: Vec<_> = std::iter::from_fn(|| heap.pop(u32::cmp)).collect();
        assert_eq!(popped, expected);
        assert_eq!(heap.len(), 0);
    }

    #[test]
    fn interleaved_push_and_pop() {
        let mut heap = Heap::new();
        for n in [5, 1, 9] {
            heap.push(n, i32::cmp);
        }
        assert_eq!(heap.pop(i32::cmp), Some(9));
        heap.push(7, i32::cmp);
        heap.push(0, i32::cmp);
        let rest: Vec<_> = std::iter::from_fn(|| heap.pop(i32::cmp)).collect();
        assert_eq!(rest, [7, 5, 1, 0]);
    }
}

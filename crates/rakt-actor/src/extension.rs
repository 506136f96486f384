//! System extensions: user values registered once with the system, one per type, and
//! reachable from every actor.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;

/// The extensions of one system, keyed by type.
#[derive(Default)]
pub(crate) struct Extensions {
    /// foldhash: an actor may look an extension up for every message, and SipHash would be
    /// the larger part of that lookup.
    values: HashMap<TypeId, Entry, foldhash::fast::RandomState>,
}

struct Entry {
    name: &'static str,
    value: Box<dyn Any + Send + Sync>,
}

impl Extensions {
    /// Registers `value`; hands back the name of its type when one of that type is already
    /// registered.
    pub(crate) fn insert<T: Send + Sync + 'static>(
        &mut self,
        value: T,
    ) -> Result<(), &'static str> {
        let name = type_name::<T>();
        match self.values.entry(TypeId::of::<T>()) {
            MapEntry::Occupied(_) => Err(name),
            MapEntry::Vacant(vacant) => {
                vacant.insert(Entry {
                    name,
                    value: Box::new(value),
                });
                Ok(())
            }
        }
    }

    /// The extension of type `T`, if one was registered.
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|entry| entry.value.downcast_ref::<T>())
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.values.values().map(|entry| entry.name))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Pool(u32);

    #[test]
    fn one_value_per_type() {
        let mut extensions = Extensions::default();
        extensions.insert(Pool(3)).expect("first");
        extensions.insert("a &str is another type").expect("second");
        assert_eq!(extensions.get::<Pool>(), Some(&Pool(3)));
        assert_eq!(extensions.get::<u8>(), None);
        let duplicate = extensions.insert(Pool(4)).expect_err("duplicate");
        assert!(duplicate.ends_with("Pool"), "{duplicate}");
        assert_eq!(extensions.get::<Pool>(), Some(&Pool(3)));
        assert_eq!(format!("{extensions:?}").matches("Pool").count(), 1);
    }
}

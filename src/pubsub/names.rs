//! A connection's own set of subscribed names (channels, patterns or shard
//! channels): the reverse index that lets a disconnect or a bare
//! UNSUBSCRIBE remove exactly the client's own registry entries.
//!
//! Most connections hold a handful of subscriptions, and every idle
//! subscribed connection carries three of these sets, so a few names live
//! in a small vector sized exactly (one name costs one 32-byte allocation,
//! where a hash set's smallest table is 148 bytes); past
//! [`FEW_NAMES_MAX`] the set moves to a hash set so large ones stay O(1).

use std::collections::HashSet;

use bytes::Bytes;

/// Up to this many names are kept in a vector and searched linearly.
pub const FEW_NAMES_MAX: usize = 8;

/// A set of subscribed names.
#[derive(Debug)]
pub enum NameSet {
    /// At most [`FEW_NAMES_MAX`] names, in subscription order.
    Few(Vec<Bytes>),
    /// More (boxed, so the common case keeps the set one vector wide).
    Many(Box<HashSet<Bytes>>),
}

impl Default for NameSet {
    fn default() -> NameSet {
        NameSet::Few(Vec::new())
    }
}

impl NameSet {
    /// Adds `name`; returns false if it was already there.
    pub fn insert(&mut self, name: Bytes) -> bool {
        match self {
            NameSet::Few(v) => {
                if v.contains(&name) {
                    return false;
                }
                if v.len() < FEW_NAMES_MAX {
                    // Grow one slot at a time: these vectors stay tiny.
                    v.reserve_exact(1);
                    v.push(name);
                } else {
                    let mut set: HashSet<Bytes> = v.drain(..).collect();
                    set.insert(name);
                    *self = NameSet::Many(Box::new(set));
                }
                true
            }
            NameSet::Many(set) => set.insert(name),
        }
    }

    /// Removes `name`; returns false if it was not there.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        match self {
            NameSet::Few(v) => match v.iter().position(|n| n.as_ref() == name) {
                Some(i) => {
                    v.remove(i);
                    if v.is_empty() {
                        *v = Vec::new();
                    }
                    true
                }
                None => false,
            },
            NameSet::Many(set) => {
                let removed = set.remove(name);
                if set.is_empty() {
                    *self = NameSet::default();
                }
                removed
            }
        }
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        match self {
            NameSet::Few(v) => v.len(),
            NameSet::Many(set) => set.len(),
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every name, cloned (cheap: shared bytes).
    pub fn to_vec(&self) -> Vec<Bytes> {
        match self {
            NameSet::Few(v) => v.clone(),
            NameSet::Many(set) => set.iter().cloned().collect(),
        }
    }

    /// Empties the set, returning its names.
    pub fn take_all(&mut self) -> Vec<Bytes> {
        match std::mem::take(self) {
            NameSet::Few(v) => v,
            NameSet::Many(set) => set.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(i: usize) -> Bytes {
        Bytes::from(format!("ch{i}"))
    }

    #[test]
    fn behaves_as_a_set_across_the_switch_to_a_hash_set() {
        let mut s = NameSet::default();
        for round in 0..2 {
            for i in 0..20 {
                assert!(s.insert(name(i)), "round {round} insert {i}");
                assert!(!s.insert(name(i)), "round {round} duplicate {i}");
                assert_eq!(s.len(), i + 1);
            }
            assert!(matches!(s, NameSet::Many(_)));
            let mut all = s.to_vec();
            all.sort();
            let mut want: Vec<Bytes> = (0..20).map(name).collect();
            want.sort();
            assert_eq!(all, want);
            for i in 0..20 {
                assert!(s.remove(&name(i)), "round {round} remove {i}");
                assert!(!s.remove(&name(i)));
            }
            assert!(s.is_empty());
            assert!(matches!(s, NameSet::Few(ref v) if v.capacity() == 0));
        }
        assert!(s.insert(name(1)));
        assert!(s.insert(name(2)));
        assert_eq!(s.take_all(), vec![name(1), name(2)]);
        assert!(s.is_empty());
    }
}

//! Channel names as registry keys.
//!
//! A publish looks its channel up among every subscribed channel, at random
//! when there are many (S2: 10,000 channels). A key that points at its name
//! on the heap costs the lookup a second cache miss to compare the name, so
//! short names (most backplane channel names: socket.io rooms, per-server
//! channels, benchmarks' names) are kept inside the key itself. The key is
//! the same size as a [`Bytes`] either way.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

/// Longest name kept inside the key (the most that keeps the key at 32
/// bytes, the size of a `Bytes`).
pub const INLINE_NAME_MAX: usize = 22;

/// A channel name owned by the registry. Hashes, compares and borrows as
/// the name's bytes, so lookups take a `&[u8]`.
#[derive(Clone)]
pub enum ChannelKey {
    /// A name of at most [`INLINE_NAME_MAX`] bytes, stored here.
    Inline {
        len: u8,
        bytes: [u8; INLINE_NAME_MAX],
    },
    /// A longer name, shared with the subscribing session.
    Heap(Bytes),
}

impl ChannelKey {
    /// The key for `name`: a copy if it is short, else a shared reference.
    pub fn new(name: &Bytes) -> ChannelKey {
        if name.len() <= INLINE_NAME_MAX {
            let mut bytes = [0u8; INLINE_NAME_MAX];
            bytes[..name.len()].copy_from_slice(name);
            ChannelKey::Inline {
                len: name.len() as u8,
                bytes,
            }
        } else {
            ChannelKey::Heap(name.clone())
        }
    }

    /// The name.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            ChannelKey::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or(&[]),
            ChannelKey::Heap(b) => b,
        }
    }

    /// The name as a buffer of its own.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            ChannelKey::Inline { .. } => Bytes::copy_from_slice(self.as_slice()),
            ChannelKey::Heap(b) => b.clone(),
        }
    }
}

impl Borrow<[u8]> for ChannelKey {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

// Hash and Eq must agree with `[u8]`'s for `Borrow<[u8]>` lookups.
impl Hash for ChannelKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialEq for ChannelKey {
    fn eq(&self, other: &ChannelKey) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for ChannelKey {}

impl std::fmt::Debug for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn same_size_as_bytes() {
        assert_eq!(
            std::mem::size_of::<ChannelKey>(),
            std::mem::size_of::<Bytes>()
        );
    }

    #[test]
    fn short_and_long_names_look_up_by_their_bytes() {
        let short = Bytes::from_static(b"room:1");
        let edge = Bytes::from(vec![b'e'; INLINE_NAME_MAX]);
        let long = Bytes::from(vec![b'l'; INLINE_NAME_MAX + 1]);
        let empty = Bytes::new();
        let mut map = HashMap::new();
        for (i, name) in [&short, &edge, &long, &empty].into_iter().enumerate() {
            map.insert(ChannelKey::new(name), i);
        }
        assert!(matches!(ChannelKey::new(&edge), ChannelKey::Inline { .. }));
        assert!(matches!(ChannelKey::new(&long), ChannelKey::Heap(_)));
        assert_eq!(map.get(&b"room:1"[..]), Some(&0));
        assert_eq!(map.get(&edge[..]), Some(&1));
        assert_eq!(map.get(&long[..]), Some(&2));
        assert_eq!(map.get(&b""[..]), Some(&3));
        assert_eq!(map.get(&b"room:2"[..]), None);
        assert_eq!(map.get(&b"room:1\0"[..]), None);
        for name in [&short, &edge, &long, &empty] {
            assert_eq!(ChannelKey::new(name).to_bytes(), *name);
        }
    }
}

//! The set of clients subscribed to one channel or pattern.
//!
//! In a backplane most channels have exactly one subscriber (a connection's
//! own channel, a SignalR connection id), so that case is stored inline in
//! the registry entry; a second subscriber moves the set to a map by client
//! id. This saves a map allocation per single-subscriber channel.

use std::collections::HashMap;
use std::sync::Arc;

use crate::client::Client;

/// Clients subscribed to one channel or pattern.
#[derive(Default)]
pub enum Subscribers {
    /// Nobody (a registry entry about to be removed).
    #[default]
    Empty,
    /// The common case: one subscriber, inline.
    One(Arc<Client>),
    /// Two or more, by client id; boxed so that the registry entry of every
    /// channel stays small (16 bytes here instead of 48), which keeps more
    /// of a large registry in cache when publishes hit channels at random.
    Many(Box<HashMap<u64, Arc<Client>>>),
}

impl Subscribers {
    /// Adds `client`; returns false if it was already there.
    pub fn insert(&mut self, client: &Arc<Client>) -> bool {
        match self {
            Subscribers::Empty => {
                *self = Subscribers::One(Arc::clone(client));
                true
            }
            Subscribers::One(one) if one.id == client.id => false,
            Subscribers::One(_) => {
                let Subscribers::One(one) = std::mem::take(self) else {
                    return false;
                };
                let mut map = HashMap::with_capacity(2);
                map.insert(one.id, one);
                map.insert(client.id, Arc::clone(client));
                *self = Subscribers::Many(Box::new(map));
                true
            }
            Subscribers::Many(map) => map.insert(client.id, Arc::clone(client)).is_none(),
        }
    }

    /// Removes client `id`; returns false if it was not there. A map left
    /// with one subscriber goes back inline.
    pub fn remove(&mut self, id: u64) -> bool {
        match self {
            Subscribers::Empty => false,
            Subscribers::One(one) => {
                if one.id != id {
                    return false;
                }
                *self = Subscribers::Empty;
                true
            }
            Subscribers::Many(map) => {
                if map.remove(&id).is_none() {
                    return false;
                }
                if map.len() == 1 {
                    let last = map.drain().next().map(|(_, c)| c);
                    if let Some(last) = last {
                        *self = Subscribers::One(last);
                    }
                }
                true
            }
        }
    }

    /// Number of subscribers.
    pub fn len(&self) -> usize {
        match self {
            Subscribers::Empty => 0,
            Subscribers::One(_) => 1,
            Subscribers::Many(map) => map.len(),
        }
    }

    /// Whether client `id` is one of them.
    pub fn contains(&self, id: u64) -> bool {
        match self {
            Subscribers::Empty => false,
            Subscribers::One(one) => one.id == id,
            Subscribers::Many(map) => map.contains_key(&id),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` for every subscriber.
    pub fn for_each<'s>(&'s self, mut f: impl FnMut(&'s Arc<Client>)) {
        match self {
            Subscribers::Empty => {}
            Subscribers::One(one) => f(one),
            Subscribers::Many(map) => map.values().for_each(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Peer;

    fn client(id: u64) -> Arc<Client> {
        let addr = "127.0.0.1:1".parse().expect("address");
        Arc::new(Client::new(id, Peer::tcp(addr, addr, -1)))
    }

    #[test]
    fn a_registry_value_is_two_words() {
        assert_eq!(std::mem::size_of::<Subscribers>(), 16);
    }

    fn ids(s: &Subscribers) -> Vec<u64> {
        let mut v = Vec::new();
        s.for_each(|c| v.push(c.id));
        v.sort_unstable();
        v
    }

    #[test]
    fn grows_to_a_map_and_shrinks_back_inline() {
        let (a, b, c) = (client(1), client(2), client(3));
        let mut s = Subscribers::default();
        assert!(s.is_empty());
        assert!(s.insert(&a));
        assert!(!s.insert(&a), "duplicate insert");
        assert!(matches!(s, Subscribers::One(_)));
        assert!(s.insert(&b));
        assert!(s.insert(&c));
        assert!(!s.insert(&b), "duplicate insert into the map");
        assert_eq!((s.len(), ids(&s)), (3, vec![1, 2, 3]));
        assert!(!s.remove(9));
        assert!(s.remove(2));
        assert!(s.remove(1));
        assert!(matches!(s, Subscribers::One(_)), "one left goes inline");
        assert_eq!(ids(&s), vec![3]);
        assert!(!s.remove(1));
        assert!(s.remove(3));
        assert!(s.is_empty());
        assert!(!s.remove(3));
    }
}

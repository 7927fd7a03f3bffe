//! The in-memory databases selected with SELECT.
//!
//! pubsubd keeps data in memory only, like a Redis with persistence off.
//! This holds the databases DBSIZE, FLUSHDB, FLUSHALL and INFO keyspace
//! report on.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

/// One database: key → value.
#[derive(Default)]
pub struct Db {
    entries: HashMap<Bytes, Bytes>,
}

impl Db {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the database holds no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.entries = HashMap::new();
    }
}

/// All databases (`databases` of them).
pub struct Keyspace {
    dbs: Vec<Mutex<Db>>,
}

impl Keyspace {
    /// `n` empty databases.
    pub fn new(n: usize) -> Keyspace {
        Keyspace {
            dbs: (0..n.max(1)).map(|_| Mutex::new(Db::default())).collect(),
        }
    }

    /// Number of databases.
    pub fn count(&self) -> usize {
        self.dbs.len()
    }

    /// Runs `f` on database `index` (which SELECT has validated).
    pub fn with_db<T>(&self, index: usize, f: impl FnOnce(&mut Db) -> T) -> Option<T> {
        let db = self.dbs.get(index)?;
        Some(match db.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        })
    }

    /// Key counts of the non-empty databases, for INFO keyspace.
    pub fn sizes(&self) -> Vec<(usize, usize)> {
        (0..self.dbs.len())
            .filter_map(|i| self.with_db(i, |d| d.len()).map(|n| (i, n)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// FLUSHALL.
    pub fn flush_all(&self) {
        for i in 0..self.dbs.len() {
            self.with_db(i, Db::clear);
        }
    }
}

//! The in-memory databases: string keys with optional expiry, per database
//! (SELECT), kept in memory only like a Redis with persistence off.
//!
//! One lock guards all databases ([`KeyspaceLock`]); a command holds it for
//! the whole command, so EXEC holds it for a whole transaction and EVAL for a
//! whole script, which is what makes those atomic with respect to every
//! other client.
//!
//! The lock has no blocking acquire: [`KeyspaceLock::try_hold`] either takes
//! it at once or fails, and [`KeyspaceLock::hold`] is a future. So no thread
//! ever sleeps on it — a runtime worker cannot be parked behind a script or a
//! long transaction, and a path that already holds it cannot deadlock by
//! taking it again (it can only fail to get it). Who takes it, and when, is
//! described in `commands/mod.rs` (`dispatch`) and `session.rs`.
//!
//! Each database keeps its keys ordered by a fixed hash of the key, so SCAN
//! can resume from a cursor (the hash to continue from) and return every key
//! that exists for the whole iteration even while others come and go; and a
//! deadline index, so active expiry pops exactly the keys that are due.
//! Every change records keyspace events (published by the caller when
//! `notify-keyspace-events` enables them) and invalidates WATCHers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

use bytes::Bytes;

/// Rough bytes of bookkeeping per key beyond its name and value, counted
/// towards `used_memory` and `maxmemory`.
pub const ENTRY_OVERHEAD: usize = 96;
/// Most keys active expiry removes per database per sweep tick, so the
/// keyspace lock is never held long.
pub const ACTIVE_EXPIRE_BATCH: usize = 2000;

/// Keyspace event classes (`notify-keyspace-events` letters).
pub mod class {
    /// `K`: publish to `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish to `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: expired events.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: evicted events.
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: key-miss events.
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module events.
    pub const MODULE: u32 = 1 << 12;
    /// `n`: new-key events.
    pub const NEW: u32 = 1 << 13;
    /// `A`: alias for `g$lshzxetd`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// The keyspace behind the one lock that serializes every command that
/// reaches it. It can be taken at once ([`KeyspaceLock::try_hold`]) or
/// awaited ([`KeyspaceLock::hold`]), never waited for on a thread. A command
/// that finds it free takes it even while connections wait for it (as a
/// plain mutex allows), so short commands on two workers do not fall into
/// step behind a queue; a release wakes one waiter, which tries again.
pub struct KeyspaceLock(Arc<LockState>);

/// The lock's shared parts.
struct LockState {
    keyspace: Arc<parking_lot::Mutex<Keyspace>>,
    /// Futures from [`KeyspaceLock::hold`] not yet done.
    waiting: AtomicUsize,
    /// Notified (one waiter at a time) when the keyspace is released while
    /// someone waits.
    released: tokio::sync::Notify,
}

/// Exclusive access to the keyspace; dropping it releases the lock.
pub struct KeyspaceGuard {
    // Fields drop in order: the keyspace is unlocked before a waiter is
    // woken to take it.
    guard: parking_lot::ArcMutexGuard<parking_lot::RawMutex, Keyspace>,
    _wake: WakeOnRelease,
}

impl std::ops::Deref for KeyspaceGuard {
    type Target = Keyspace;
    fn deref(&self) -> &Keyspace {
        &self.guard
    }
}

impl std::ops::DerefMut for KeyspaceGuard {
    fn deref_mut(&mut self) -> &mut Keyspace {
        &mut self.guard
    }
}

/// Wakes a waiter when a guard is dropped, if any waits.
struct WakeOnRelease(Arc<LockState>);

impl Drop for WakeOnRelease {
    fn drop(&mut self) {
        // Pairs with the fence in `hold`: either this sees the waiter's
        // count, or the waiter's next try sees the keyspace unlocked.
        fence(Ordering::SeqCst);
        if self.0.waiting.load(Ordering::SeqCst) > 0 {
            self.0.released.notify_one();
        }
    }
}

/// Counts a [`KeyspaceLock::hold`] future as waiting while it lives.
struct Waiting(Arc<LockState>);

impl Waiting {
    fn new(state: &Arc<LockState>) -> Waiting {
        state.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(Arc::clone(state))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl LockState {
    fn try_hold(self: &Arc<Self>) -> Option<KeyspaceGuard> {
        let guard = self.keyspace.try_lock_arc()?;
        Some(KeyspaceGuard {
            guard,
            _wake: WakeOnRelease(Arc::clone(self)),
        })
    }
}

impl KeyspaceLock {
    /// `n` empty databases behind a fresh lock.
    pub fn new(n: usize) -> KeyspaceLock {
        KeyspaceLock(Arc::new(LockState {
            keyspace: Arc::new(parking_lot::Mutex::new(Keyspace::new(n))),
            waiting: AtomicUsize::new(0),
            released: tokio::sync::Notify::new(),
        }))
    }

    /// The keyspace, if no one holds it now.
    pub fn try_hold(&self) -> Option<KeyspaceGuard> {
        self.0.try_hold()
    }

    /// The keyspace once it is free. Only a task that holds no guard may
    /// await this (a connection between commands): the lock is not
    /// reentrant.
    pub fn hold(&self) -> impl Future<Output = KeyspaceGuard> + Send + 'static {
        let state = Arc::clone(&self.0);
        async move {
            let _waiting = Waiting::new(&state);
            fence(Ordering::SeqCst);
            loop {
                let released = state.released.notified();
                tokio::pin!(released);
                released.as_mut().enable();
                if let Some(guard) = state.try_hold() {
                    return guard;
                }
                released.await;
            }
        }
    }
}

/// A change to the stored keys, for the cluster link to copy to the other
/// nodes (`crate::cluster::keys`). Seen while the keyspace lock is held,
/// after the change, so the order of changes is the order they happened.
pub enum Change<'a> {
    /// `key` now holds `entry`, or is gone (None).
    Key {
        /// Database number.
        db: usize,
        /// The key.
        key: &'a [u8],
        /// Its entry now.
        entry: Option<&'a Entry>,
    },
    /// Database emptied.
    Flush(usize),
    /// Two databases swapped.
    Swap(usize, usize),
}

/// Called for every [`Change`] once set (cluster mode only).
pub type ChangeHook = Arc<dyn Fn(Change<'_>) + Send + Sync>;

/// A keyspace event to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The class bit (`class::*`).
    pub class: u32,
    /// The event name (`set`, `del`, `expired`, ...).
    pub name: &'static str,
    /// Database number.
    pub db: usize,
    /// The key.
    pub key: Bytes,
}

/// A stored value and its expiry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The string value.
    pub value: Bytes,
    /// Unix time in milliseconds when the key expires, if it does.
    pub expires_at: Option<u64>,
    /// How the command that wrote the value leaves it, which decides the
    /// encoding OBJECT ENCODING reports.
    pub form: Form,
    /// Unix time in ms of the last command that read or wrote the key
    /// (OBJECT IDLETIME).
    pub accessed_ms: u64,
}

/// How a value was written, which decides the encoding Redis would give it
/// (OBJECT ENCODING and REFCOUNT report it as Redis does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Stored whole from an argument or a counter (SET, MSET, INCR, ...):
    /// `int` when it is a canonical 64-bit integer, else `embstr` up to
    /// [`EMBSTR_MAX`] bytes, else `raw`.
    Encoded,
    /// A new string not reencoded (INCRBYFLOAT): `embstr` up to
    /// [`EMBSTR_MAX`] bytes, else `raw`.
    Plain,
    /// Changed in place (APPEND, SETRANGE, SETBIT): always `raw`.
    Raw,
}

/// Longest string Redis keeps in one allocation with its object header
/// (`embstr`); longer ones are `raw`.
pub const EMBSTR_MAX: usize = 44;
/// Integers Redis stores once and shares (0 up to this, exclusive): OBJECT
/// REFCOUNT reports them as shared.
pub const SHARED_INTEGERS: i64 = 10_000;

impl Entry {
    /// The value as a canonical 64-bit integer (what Redis encodes `int`).
    fn as_int(&self) -> Option<i64> {
        let n = crate::protocol::request::parse_int(&self.value)?;
        // parse_int rejects signs, spaces and leading zeros, so the value is
        // in the one form that prints back the same.
        Some(n)
    }

    /// OBJECT ENCODING: `int`, `embstr` or `raw`.
    pub fn encoding(&self) -> &'static str {
        match self.form {
            Form::Encoded if self.as_int().is_some() => "int",
            Form::Encoded | Form::Plain if self.value.len() <= EMBSTR_MAX => "embstr",
            _ => "raw",
        }
    }

    /// OBJECT REFCOUNT: Redis's shared integers report `INT_MAX`, every
    /// other value one reference.
    pub fn refcount(&self) -> i64 {
        match (self.form, self.as_int()) {
            (Form::Encoded, Some(n)) if (0..SHARED_INTEGERS).contains(&n) => i64::from(i32::MAX),
            _ => 1,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The fixed hash that orders keys for SCAN (SipHash with zero keys:
/// deterministic across calls, so cursors stay valid).
pub fn key_hash(key: &[u8]) -> u64 {
    let mut h =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .build_hasher();
    h.write(key);
    h.finish()
}

/// One database.
#[derive(Default)]
pub struct Db {
    /// (hash, key) → entry, in SCAN order.
    entries: BTreeMap<(u64, Bytes), Entry>,
    /// (deadline, key) for keys with a TTL.
    deadlines: BTreeSet<(u64, Bytes)>,
}

impl Db {
    /// Number of keys (including logically expired ones not yet removed).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the database holds no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of keys with a TTL.
    pub fn expires(&self) -> usize {
        self.deadlines.len()
    }

    fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.entries
            .get(&(key_hash(key), Bytes::copy_from_slice(key)))
    }

    fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.entries
            .get_mut(&(key_hash(key), Bytes::copy_from_slice(key)))
    }
}

/// One client's WATCH of one key.
struct Watcher {
    /// The client's dirty flag: EXEC fails once it is set.
    dirty: Arc<AtomicBool>,
    /// The key was logically expired (but not yet removed) when watched,
    /// or has since been replaced by an expired key: as in Redis, removing
    /// it changes nothing the client saw.
    stale: bool,
}

/// Every database, the WATCH registry, and accounting.
pub struct Keyspace {
    dbs: Vec<Db>,
    /// (db, key) → the clients watching it.
    watchers: HashMap<(usize, Bytes), Vec<Watcher>>,
    /// Events recorded since the caller last drained them.
    events: Vec<Event>,
    /// Classes enabled by `notify-keyspace-events` (events of other classes
    /// are not even recorded).
    pub notify_flags: u32,
    /// Bytes of keys and values plus [`ENTRY_OVERHEAD`] each.
    used_bytes: usize,
    /// Keys removed by expiry (INFO `expired_keys`).
    pub expired_keys: u64,
    /// Reads that found their key (INFO `keyspace_hits`).
    pub hits: u64,
    /// Reads that did not (INFO `keyspace_misses`).
    pub misses: u64,
    /// Whether the periodic sweep removes due keys (`DEBUG
    /// SET-ACTIVE-EXPIRE`). When off, expired keys stay stored, invisible,
    /// until something looks them up, which is what tests of lazy expiry
    /// need.
    pub active_expire: bool,
    /// Sees every change (cluster mode; None otherwise).
    pub on_change: Option<ChangeHook>,
}

impl Keyspace {
    /// `n` empty databases.
    pub fn new(n: usize) -> Keyspace {
        Keyspace {
            dbs: (0..n.max(1)).map(|_| Db::default()).collect(),
            watchers: HashMap::new(),
            events: Vec::new(),
            notify_flags: 0,
            used_bytes: 0,
            expired_keys: 0,
            hits: 0,
            misses: 0,
            active_expire: true,
            on_change: None,
        }
    }

    /// Number of databases.
    pub fn count(&self) -> usize {
        self.dbs.len()
    }

    /// Database `db` (validated by SELECT).
    pub fn db(&self, db: usize) -> &Db {
        &self.dbs[db.min(self.dbs.len() - 1)]
    }

    fn db_mut(&mut self, db: usize) -> &mut Db {
        let last = self.dbs.len() - 1;
        &mut self.dbs[db.min(last)]
    }

    /// Bytes the keyspace accounts for.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// Records an event if its class is enabled.
    pub fn notify(&mut self, class: u32, name: &'static str, db: usize, key: &Bytes) {
        if self.notify_flags & class != 0
            && self.notify_flags & (class::KEYSPACE | class::KEYEVENT) != 0
        {
            self.events.push(Event {
                class,
                name,
                db,
                key: key.clone(),
            });
        }
    }

    /// Takes the events recorded so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Marks every client watching (db, key) dirty, except one that watched
    /// it stale while the key is now gone (Redis 7.0's `touchWatchedKey`).
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        if let Some(hook) = &self.on_change {
            hook(Change::Key {
                db,
                key,
                entry: self.db(db).get(key),
            });
        }
        if self.watchers.is_empty() {
            return;
        }
        let gone = self.db(db).get(key).is_none();
        if let Some(list) = self.watchers.get_mut(&(db, Bytes::copy_from_slice(key))) {
            for w in list {
                if w.stale && gone {
                    w.stale = false;
                } else {
                    w.dirty.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// Touches the watchers of `db` whose keys change when its contents are
    /// emptied (FLUSHDB, FLUSHALL) or replaced by `replaced_with`'s (SWAPDB),
    /// as Redis 7.0's `touchAllWatchedKeysInDb`: a stale key that goes, or
    /// stays expired, changes nothing; a missing key replaced by an expired
    /// one becomes stale.
    fn touch_all_in(&mut self, db: usize, replaced_with: Option<usize>, now: u64) {
        let keys: Vec<Bytes> = self
            .watchers
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect();
        for k in keys {
            let in_emptied = self.db(db).get(&k).is_some();
            let replacement = replaced_with.and_then(|r| self.db(r).get(&k));
            let in_replacement = replacement.is_some();
            let replacement_expired =
                replacement.is_some_and(|e| e.expires_at.is_some_and(|at| at <= now));
            if !in_emptied && !in_replacement {
                continue;
            }
            let Some(list) = self.watchers.get_mut(&(db, k)) else {
                continue;
            };
            for w in list {
                if w.stale {
                    if !in_replacement {
                        w.stale = false;
                        continue;
                    }
                    if replacement_expired {
                        continue;
                    }
                } else if !in_emptied && replacement_expired {
                    w.stale = true;
                    continue;
                }
                w.dirty.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Registers `flag` as watching (db, key), which is `stale` if the key
    /// is logically expired but not yet removed.
    pub fn watch(&mut self, db: usize, key: Bytes, flag: &Arc<AtomicBool>, stale: bool) {
        let list = self.watchers.entry((db, key)).or_default();
        if !list.iter().any(|w| Arc::ptr_eq(&w.dirty, flag)) {
            list.push(Watcher {
                dirty: Arc::clone(flag),
                stale,
            });
        }
    }

    /// Whether `flag`'s watch of (db, key) is stale (see [`Watcher`]).
    pub fn watch_is_stale(&self, db: usize, key: &Bytes, flag: &Arc<AtomicBool>) -> bool {
        self.watchers
            .get(&(db, key.clone()))
            .and_then(|list| list.iter().find(|w| Arc::ptr_eq(&w.dirty, flag)))
            .is_some_and(|w| w.stale)
    }

    /// Removes `flag` from (db, key)'s watchers.
    pub fn unwatch(&mut self, db: usize, key: &Bytes, flag: &Arc<AtomicBool>) {
        let k = (db, key.clone());
        if let Some(list) = self.watchers.get_mut(&k) {
            list.retain(|w| !Arc::ptr_eq(&w.dirty, flag));
            if list.is_empty() {
                self.watchers.remove(&k);
            }
        }
    }

    /// Removes an expired key: notifies `expired`, counts it, touches
    /// watchers.
    fn expire_now(&mut self, db: usize, key: &Bytes) {
        if self.remove_entry(db, key).is_some() {
            self.expired_keys += 1;
            self.touch(db, key);
            self.notify(class::EXPIRED, "expired", db, key);
        }
    }

    /// Removes `key` (no events); returns its entry.
    fn remove_entry(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        let h = key_hash(key);
        let k = Bytes::copy_from_slice(key);
        let d = self.db_mut(db);
        let e = d.entries.remove(&(h, k.clone()))?;
        if let Some(at) = e.expires_at {
            d.deadlines.remove(&(at, k.clone()));
        }
        self.used_bytes = self
            .used_bytes
            .saturating_sub(key.len() + e.value.len() + ENTRY_OVERHEAD);
        Some(e)
    }

    /// The live entry for `key` at `now`, expiring it first if it is due
    /// (lazy expiry). Counts a hit or a miss.
    pub fn lookup(&mut self, db: usize, key: &[u8], now: u64) -> Option<Entry> {
        let found = self.peek(db, key, now);
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    /// [`Keyspace::lookup`] without touching the key's access time (TTL
    /// and its kin, as Redis's `LOOKUP_NOTOUCH`).
    pub fn lookup_untouched(&mut self, db: usize, key: &[u8], now: u64) -> Option<Entry> {
        let found = self.inspect(db, key, now);
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    /// Like [`Keyspace::lookup`] but without counting (for writes and
    /// existence checks).
    /// Either one sets the key's access time to `now`, as Redis's lookups do.
    pub fn peek(&mut self, db: usize, key: &[u8], now: u64) -> Option<Entry> {
        let e = self.db_mut(db).get_mut(key)?;
        if e.expires_at.is_some_and(|at| at <= now) {
            self.expire_now(db, &Bytes::copy_from_slice(key));
            return None;
        }
        e.accessed_ms = now;
        Some(e.clone())
    }

    /// The live entry for `key` at `now` without touching its access time
    /// (OBJECT, which inspects a key without using it).
    pub fn inspect(&mut self, db: usize, key: &[u8], now: u64) -> Option<Entry> {
        let e = self.db(db).get(key)?.clone();
        if e.expires_at.is_some_and(|at| at <= now) {
            self.expire_now(db, &Bytes::copy_from_slice(key));
            return None;
        }
        Some(e)
    }

    /// Whether `key` is logically expired at `now` without removing it
    /// (EXEC checks watched keys this way).
    pub fn is_expired(&self, db: usize, key: &[u8], now: u64) -> bool {
        self.db(db)
            .get(key)
            .is_some_and(|e| e.expires_at.is_some_and(|at| at <= now))
    }

    /// Stores `value` under `key` with `expires_at`, notifying `new` when
    /// the key did not exist, and touching watchers. The caller notifies the
    /// command's own event.
    pub fn store(&mut self, db: usize, key: &Bytes, value: Bytes, expires_at: Option<u64>) {
        self.store_as(db, key, value, expires_at, Form::Encoded);
    }

    /// [`Keyspace::store`] for a value written in `form` (see [`Form`]).
    pub fn store_as(
        &mut self,
        db: usize,
        key: &Bytes,
        value: Bytes,
        expires_at: Option<u64>,
        form: Form,
    ) {
        let old = self.remove_entry(db, key);
        if old.is_none() {
            self.notify(class::NEW, "new", db, key);
        }
        let k = Bytes::copy_from_slice(key);
        let v = Bytes::copy_from_slice(&value);
        self.used_bytes += k.len() + v.len() + ENTRY_OVERHEAD;
        let d = self.db_mut(db);
        if let Some(at) = expires_at {
            d.deadlines.insert((at, k.clone()));
        }
        d.entries.insert(
            (key_hash(&k), k),
            Entry {
                value: v,
                expires_at,
                form,
                accessed_ms: now_ms(),
            },
        );
        self.touch(db, key);
    }

    /// Records that `key`'s value was unshared for a change in place that
    /// left its bytes as they were (SETBIT of a bit to its own value): it is
    /// `raw` now, and nothing else changes (no event, no watcher touched).
    pub fn mark_raw(&mut self, db: usize, key: &[u8]) {
        if let Some(e) = self.db_mut(db).get_mut(key) {
            e.form = Form::Raw;
        }
    }

    /// Changes the expiry of an existing key; returns false if it does not
    /// exist.
    pub fn set_expiry(&mut self, db: usize, key: &Bytes, expires_at: Option<u64>) -> bool {
        let h = key_hash(key);
        let k = Bytes::copy_from_slice(key);
        let d = self.db_mut(db);
        let Some(e) = d.entries.get_mut(&(h, k.clone())) else {
            return false;
        };
        if let Some(old) = e.expires_at {
            d.deadlines.remove(&(old, k.clone()));
        }
        e.expires_at = expires_at;
        if let Some(at) = expires_at {
            d.deadlines.insert((at, k));
        }
        self.touch(db, key);
        true
    }

    /// Deletes `key`; returns whether it existed (live).
    pub fn delete(&mut self, db: usize, key: &Bytes, now: u64) -> bool {
        if self.peek(db, key, now).is_none() {
            return false;
        }
        self.remove_entry(db, key);
        self.touch(db, key);
        true
    }

    /// Every live key of `db` matching `pattern` (KEYS).
    pub fn keys(&self, db: usize, pattern: &[u8], now: u64) -> Vec<Bytes> {
        let all = pattern == b"*";
        self.db(db)
            .entries
            .iter()
            .filter(|(_, e)| e.expires_at.is_none_or(|at| at > now))
            .filter(|((_, k), _)| all || crate::glob::glob_match(pattern, k, false))
            .map(|((_, k), _)| k.clone())
            .collect()
    }

    /// One SCAN step from `cursor`: up to `count` keys visited (live ones
    /// returned) and the next cursor (0 when done).
    pub fn scan(&self, db: usize, cursor: u64, count: usize, now: u64) -> (u64, Vec<Bytes>) {
        let mut out = Vec::new();
        let mut iter = self
            .db(db)
            .entries
            .range((cursor, Bytes::new())..)
            .peekable();
        let mut visited = 0;
        while visited < count.max(1) {
            let Some(((_, k), e)) = iter.next() else {
                return (0, out);
            };
            visited += 1;
            if e.expires_at.is_none_or(|at| at > now) {
                out.push(k.clone());
            }
        }
        match iter.peek() {
            Some(((h, _), _)) => (*h, out),
            None => (0, out),
        }
    }

    /// A random live key (RANDOMKEY), or None when the database is empty.
    pub fn random_key(&mut self, db: usize, now: u64) -> Option<Bytes> {
        for _ in 0..100 {
            let start = random_u64();
            let d = self.db(db);
            let pick = d
                .entries
                .range((start, Bytes::new())..)
                .next()
                .or_else(|| d.entries.iter().next())
                .map(|((_, k), e)| (k.clone(), e.expires_at));
            match pick {
                None => return None,
                Some((k, Some(at))) if at <= now => self.expire_now(db, &k),
                Some((k, _)) => return Some(k),
            }
        }
        None
    }

    /// Every stored entry of `db`, expired or not (a cluster snapshot).
    pub fn entries(&self, db: usize) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.db(db).entries.iter().map(|((_, k), e)| (k, e))
    }

    /// Empties `db`, touching its watchers.
    pub fn flush_db(&mut self, db: usize) {
        if let Some(hook) = &self.on_change {
            hook(Change::Flush(db));
        }
        self.touch_all_in(db, None, now_ms());
        let d = self.db_mut(db);
        let freed: usize = d
            .entries
            .iter()
            .map(|((_, k), e)| k.len() + e.value.len() + ENTRY_OVERHEAD)
            .sum();
        *d = Db::default();
        self.used_bytes = self.used_bytes.saturating_sub(freed);
    }

    /// Empties every database.
    pub fn flush_all(&mut self) {
        for db in 0..self.dbs.len() {
            self.flush_db(db);
        }
    }

    /// Swaps two databases, touching watchers of both.
    pub fn swap(&mut self, a: usize, b: usize) {
        if let Some(hook) = &self.on_change {
            hook(Change::Swap(a, b));
        }
        let now = now_ms();
        self.touch_all_in(a, Some(b), now);
        self.touch_all_in(b, Some(a), now);
        self.dbs.swap(a, b);
    }

    /// Removes up to [`ACTIVE_EXPIRE_BATCH`] due keys per database (active
    /// expiry, unless [`Keyspace::active_expire`] is off); returns how many
    /// were removed.
    pub fn expire_due(&mut self, now: u64) -> usize {
        let mut removed = 0;
        if !self.active_expire {
            return removed;
        }
        for db in 0..self.dbs.len() {
            let due: Vec<Bytes> = self.dbs[db]
                .deadlines
                .iter()
                .take_while(|(at, _)| *at <= now)
                .take(ACTIVE_EXPIRE_BATCH)
                .map(|(_, k)| k.clone())
                .collect();
            for k in due {
                self.expire_now(db, &k);
                removed += 1;
            }
        }
        removed
    }

    /// (db, keys, keys with TTL, average TTL ms) of non-empty databases,
    /// for INFO keyspace.
    pub fn sizes(&self, now: u64) -> Vec<(usize, usize, usize, u64)> {
        self.dbs
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_empty())
            .map(|(i, d)| {
                let n = d.deadlines.len() as u64;
                let total: u64 = d
                    .deadlines
                    .iter()
                    .map(|(at, _)| at.saturating_sub(now))
                    .sum();
                (i, d.len(), d.expires(), total.checked_div(n).unwrap_or(0))
            })
            .collect()
    }
}

/// A random 64-bit number from the standard library's randomly seeded
/// hasher (enough for RANDOMKEY; no extra crate needed).
fn random_u64() -> u64 {
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn store_lookup_expire() {
        let mut ks = Keyspace::new(2);
        ks.store(0, &b("a"), b("1"), None);
        ks.store(0, &b("b"), b("2"), Some(100));
        assert_eq!(ks.lookup(0, b"a", 50).map(|e| e.value), Some(b("1")));
        assert!(ks.lookup(0, b"b", 100).is_none());
        assert_eq!(ks.expired_keys, 1);
        assert_eq!(ks.db(0).len(), 1);
        assert_eq!(ks.db(1).len(), 0);
    }

    #[test]
    fn scan_visits_every_key_once() {
        let mut ks = Keyspace::new(1);
        for i in 0..1000 {
            ks.store(0, &b(&format!("k{i}")), b("v"), None);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            let (next, keys) = ks.scan(0, cursor, 7, 0);
            for k in keys {
                assert!(seen.insert(k));
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn active_expiry_pops_due_keys() {
        let mut ks = Keyspace::new(1);
        for i in 0..10 {
            ks.store(0, &b(&format!("k{i}")), b("v"), Some(10 + i));
        }
        assert_eq!(ks.expire_due(14), 5);
        assert_eq!(ks.db(0).len(), 5);
        assert_eq!(ks.used_bytes(), 5 * (2 + 1 + ENTRY_OVERHEAD));
    }

    #[test]
    fn active_expiry_can_be_turned_off() {
        let mut ks = Keyspace::new(1);
        ks.store(0, &b("k"), b("v"), Some(10));
        ks.active_expire = false;
        assert_eq!(ks.expire_due(20), 0);
        assert_eq!(ks.db(0).len(), 1);
        assert!(ks.peek(0, b"k", 20).is_none());
        assert_eq!(ks.db(0).len(), 0);
    }
}

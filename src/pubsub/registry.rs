//! The channel and pattern registries, and fan-out.
//!
//! Channels live in one map behind a reader-sharded lock (`ChannelMap`):
//! a publish takes a read lock that no other core writes, so publishers on
//! different cores never pass a lock word between them; patterns live in
//! one [`PatternIndex`] behind a read-write lock (reads on publish, writes
//! only on (un)subscribe). A
//! publish takes that lock only while some pattern is subscribed: taking a
//! read lock writes the lock word, and with every core publishing that one
//! word would pass between the cores on every message.
//! An entry disappears with its last subscriber. The reverse index (which
//! channels a client is in) lives in the client's session, so a disconnect
//! removes exactly its own entries.
//!
//! Fan-out never waits on a subscriber: it appends the shared encoded frame
//! to each receiver's outbox and moves on. A receiver that goes over its
//! output limit is disconnected there and then (see [`Client::deliver`]).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};

use crate::client::Client;
use crate::protocol::Protocol;
use crate::protocol::reply::{encode_push, encode_push_extend};
use crate::pubsub::key::ChannelKey;
use crate::pubsub::outbox::{COPY_MAX_BYTES, SharedFrame, copy_max};
use crate::pubsub::patterns::{PatternIndex, Subscribers};
use crate::shared::Shared;

/// Which namespace a channel lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE / PUBLISH channels.
    Channel,
    /// SSUBSCRIBE / SPUBLISH shard channels (a separate namespace in Redis).
    Shard,
}

/// Channel name → subscribers. Channel names come from clients, so the map
/// keeps a keyed (DoS-resistant) hash, but aHash rather than SipHash: it is
/// several times faster on the short names a publish looks up.
type Channels = HashMap<ChannelKey, Subscribers, ahash::RandomState>;

/// The channel map behind crossbeam's `ShardedLock`: a reader locks one of
/// eight cache-line-sized locks, picked by its thread, and a writer
/// (SUBSCRIBE, UNSUBSCRIBE) locks all eight. With dashmap's per-shard locks,
/// both cores took the same lock words on every publish and each lookup
/// paid for moving a lock's cache line from the other core: reading
/// without any lock (an unsafe experiment) delivered 1.05x as much in S2
/// at 0.92x the CPU per delivery (BENCHMARKS.md).
///
/// Each shard is a std `RwLock`, whose readers wait for a waiting writer:
/// a thread must never take the read lock again while it holds it. A
/// publish holds it while it delivers, and delivery never re-enters the
/// registry (a receiver over its limit only has its outbox closed; its own
/// task unsubscribes it later).
type ChannelMap = ShardedLock<Channels>;

/// All subscriptions on this server.
#[derive(Default)]
pub struct Registry {
    channels: ChannelMap,
    shard_channels: ChannelMap,
    patterns: RwLock<PatternIndex>,
    /// Number of subscribed patterns, written under the `patterns` write
    /// lock and read without it, so that a publish can skip the lock when
    /// there are none.
    pattern_count: AtomicUsize,
    /// Bumped by every subscribe and unsubscribe that changed something,
    /// so cluster mode can tell when its subscriber counts are stale.
    changes: AtomicU64,
    /// Set by cluster mode, which then is woken by [`Registry::changed_wait`]
    /// on every change, so other nodes see it at once.
    watched: AtomicBool,
    change: tokio::sync::Notify,
}

thread_local! {
    /// Encoding space for small push frames, reused by every publish on
    /// this thread: no allocation, no zeroing. A [`LazyFrame`] takes it and
    /// gives it back; it holds at most one frame per protocol, so at most
    /// 2 × [`COPY_MAX_BYTES`] bytes (and, with `Vec`'s growth, twice that
    /// in capacity) per worker thread.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A push frame encoded lazily, at most once per protocol version, and then
/// shared by every receiver speaking that version. A frame that receivers
/// copy (up to [`copy_max`] of the fan-out's size) is encoded into the
/// thread's reused scratch space, so a small message costs no allocation; a
/// larger one into a reference-counted buffer the receivers queue.
pub struct LazyFrame<'a> {
    parts: [&'a [u8]; 4],
    n: usize,
    /// The largest encoding kept inline for copying.
    copy_max: usize,
    /// Small encodings, back to back (taken from [`SCRATCH`]).
    scratch: Vec<u8>,
    resp2: Option<Encoded>,
    resp3: Option<Encoded>,
}

/// One protocol's encoding of a [`LazyFrame`].
enum Encoded {
    /// This range of the frame's scratch space.
    Inline(Range<usize>),
    Shared(Bytes),
}

impl<'a> LazyFrame<'a> {
    /// A frame of the given bulk parts (at most four) for `receivers`
    /// clients.
    pub fn new(parts: &[&'a [u8]], receivers: usize) -> LazyFrame<'a> {
        let mut all: [&[u8]; 4] = [&[]; 4];
        for (i, p) in parts.iter().take(4).enumerate() {
            all[i] = p;
        }
        LazyFrame {
            parts: all,
            n: parts.len().min(4),
            copy_max: copy_max(receivers),
            scratch: SCRATCH.take(),
            resp2: None,
            resp3: None,
        }
    }

    /// The encoded frame for `proto`, encoding it on first use.
    pub fn get(&mut self, proto: Protocol) -> SharedFrame<'_> {
        let slot = match proto {
            Protocol::Resp2 => &mut self.resp2,
            Protocol::Resp3 => &mut self.resp3,
        };
        let parts = &self.parts[..self.n];
        let scratch = &mut self.scratch;
        let limit = self.copy_max;
        let encoded = slot.get_or_insert_with(|| {
            let start = scratch.len();
            if encode_push_extend(proto, parts, scratch, limit) {
                Encoded::Inline(start..scratch.len())
            } else {
                Encoded::Shared(encode_push(proto, parts))
            }
        });
        match encoded {
            Encoded::Inline(range) => {
                SharedFrame::Slice(self.scratch.get(range.clone()).unwrap_or(&[]))
            }
            Encoded::Shared(b) => SharedFrame::Referenced(b),
        }
    }
}

impl Drop for LazyFrame<'_> {
    fn drop(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        SCRATCH.set(scratch);
    }
}

/// Bytes a push frame adds to its parts' lengths, at most: the aggregate
/// header (at most 4 parts: one digit) ...
const FRAME_HEADER_MAX: usize = 4;
/// ... and per part a bulk header and trailer, with a length of up to 20
/// digits.
const PART_OVERHEAD_MAX: usize = 1 + 20 + 2 + 2;

/// The push frames of a run of messages, back to back in one buffer, each
/// the same leading parts (`message` and the channel, or `pmessage`, the
/// pattern and the channel) followed by one payload; encoded lazily once
/// per protocol and shared by every receiver of that protocol.
struct LazyRun<'a> {
    lead: &'a [&'a [u8]],
    payloads: &'a [Bytes],
    /// The largest run receivers copy (see [`copy_max`]).
    copy_max: usize,
    resp2: Option<Bytes>,
    resp3: Option<Bytes>,
}

/// Appends the push frame of `lead` followed by `payload` to `out`.
fn push_frame_to(out: &mut Vec<u8>, proto: Protocol, lead: &[&[u8]], payload: &[u8]) {
    let mut parts = [payload; 4];
    let n = lead.len().min(3);
    parts[..n].copy_from_slice(&lead[..n]);
    let parts = &parts[..=n];
    if !encode_push_extend(proto, parts, out, COPY_MAX_BYTES) {
        out.extend_from_slice(&encode_push(proto, parts));
    }
}

/// Most bytes of frames gathered for one client that gets several frames
/// per message (see [`Registry::publish_run`]) before they are handed to
/// it: a client on many matching patterns cannot make a run build one huge
/// buffer before its output limit is checked.
pub const SEVERAL_FRAMES_CHUNK: usize = 64 * 1024;

/// Appends a frame to `out`, the frames gathered for `client`, handing
/// `out` to the client first once it holds [`SEVERAL_FRAMES_CHUNK`] bytes.
fn append_bounded(
    shared: &Shared,
    client: &Arc<Client>,
    out: &mut Vec<u8>,
    proto: Protocol,
    lead: &[&[u8]],
    payload: &[u8],
) {
    if out.len() >= SEVERAL_FRAMES_CHUNK {
        deliver_owned(shared, client, std::mem::take(out));
    }
    push_frame_to(out, proto, lead, payload);
}

/// Queues frames encoded for `client` alone, trimmed to their length (its
/// output limit counts the length, as for the shared runs).
fn deliver_owned(shared: &Shared, client: &Arc<Client>, frames: Vec<u8>) {
    if !frames.is_empty() {
        client.deliver(
            shared,
            SharedFrame::Bytes(&Bytes::from(frames.into_boxed_slice())),
        );
    }
}

impl<'a> LazyRun<'a> {
    fn new(lead: &'a [&'a [u8]], payloads: &'a [Bytes], receivers: usize) -> LazyRun<'a> {
        LazyRun {
            lead,
            payloads,
            copy_max: copy_max(receivers),
            resp2: None,
            resp3: None,
        }
    }

    fn get(&mut self, proto: Protocol) -> SharedFrame<'_> {
        let slot = match proto {
            Protocol::Resp2 => &mut self.resp2,
            Protocol::Resp3 => &mut self.resp3,
        };
        let (lead, payloads) = (self.lead, self.payloads);
        let run = slot.get_or_insert_with(|| {
            // Sized from an upper bound and then trimmed to the exact length:
            // a slow receiver may hold the run for long, and its output
            // limit counts the length, so the buffer must be no larger.
            let overhead = FRAME_HEADER_MAX
                + (lead.len() + 1) * PART_OVERHEAD_MAX
                + lead.iter().map(|p| p.len()).sum::<usize>();
            let bound = payloads.iter().map(|p| p.len() + overhead).sum();
            let mut out = Vec::with_capacity(bound);
            for payload in payloads {
                push_frame_to(&mut out, proto, lead, payload);
            }
            Bytes::from(out.into_boxed_slice())
        });
        if run.len() > self.copy_max {
            SharedFrame::Referenced(run)
        } else {
            SharedFrame::Bytes(run)
        }
    }
}

const MESSAGE: &[u8] = b"message";
const PMESSAGE: &[u8] = b"pmessage";
const SMESSAGE: &[u8] = b"smessage";

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    fn map(&self, kind: Kind) -> &ChannelMap {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Shard => &self.shard_channels,
        }
    }

    /// The channels of `kind`, read-locked. (A panic under the lock leaves
    /// the map consistent: every change is a single insert or remove.)
    fn read(&self, kind: Kind) -> ShardedLockReadGuard<'_, Channels> {
        match self.map(kind).read() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The channels of `kind`, write-locked.
    fn write(&self, kind: Kind) -> ShardedLockWriteGuard<'_, Channels> {
        match self.map(kind).write() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Adds `client` to `channel` and runs `confirm` while the entry is still
    /// locked, so the confirmation is queued before any message published on
    /// the channel afterwards. Returns false if it was already there.
    pub fn subscribe(
        &self,
        kind: Kind,
        channel: Bytes,
        client: &Arc<Client>,
        confirm: impl FnOnce(),
    ) -> bool {
        self.subscribe_if(kind, channel, client, || true, confirm)
            .unwrap_or(false)
    }

    /// As [`Registry::subscribe`], but only if `still_allowed` holds when
    /// asked under the lock the insert takes (else None, nothing changed).
    /// ACL SETUSER scans the registry under the same lock after changing
    /// the user, so a check made here either sees the change or comes
    /// before the scan, which then finds the subscription.
    pub fn subscribe_if(
        &self,
        kind: Kind,
        channel: Bytes,
        client: &Arc<Client>,
        still_allowed: impl FnOnce() -> bool,
        confirm: impl FnOnce(),
    ) -> Option<bool> {
        let mut map = self.write(kind);
        if !still_allowed() {
            return None;
        }
        let new = map
            .entry(ChannelKey::new(&channel))
            .or_default()
            .insert(client);
        confirm();
        drop(map);
        self.changed(new);
        Some(new)
    }

    /// Removes client `id` from `channel`, dropping the channel entry when it
    /// was the last subscriber; returns false if it was not subscribed.
    pub fn unsubscribe(&self, kind: Kind, channel: &[u8], id: u64) -> bool {
        let mut map = self.write(kind);
        let Some(subs) = map.get_mut(channel) else {
            return false;
        };
        let removed = subs.remove(id);
        if subs.is_empty() {
            map.remove(channel);
        }
        self.changed(removed);
        removed
    }

    /// Adds `client` to `pattern`, running `confirm` under the index lock
    /// (see [`Registry::subscribe`]); returns false if it was already there.
    pub fn psubscribe(&self, pattern: Bytes, client: &Arc<Client>, confirm: impl FnOnce()) -> bool {
        self.psubscribe_if(pattern, client, || true, confirm)
            .unwrap_or(false)
    }

    /// As [`Registry::psubscribe`], only if `still_allowed` holds under the
    /// index lock (see [`Registry::subscribe_if`]).
    pub fn psubscribe_if(
        &self,
        pattern: Bytes,
        client: &Arc<Client>,
        still_allowed: impl FnOnce() -> bool,
        confirm: impl FnOnce(),
    ) -> Option<bool> {
        let mut idx = match self.patterns.write() {
            Ok(idx) => idx,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !still_allowed() {
            return None;
        }
        let new = idx.insert(pattern, client);
        // Before the confirmation: a message published after the client saw
        // it must find the pattern.
        self.pattern_count.store(idx.len(), Ordering::Release);
        confirm();
        self.changed(new);
        Some(new)
    }

    /// Removes client `id` from `pattern`; returns false if it was not there.
    pub fn punsubscribe(&self, pattern: &[u8], id: u64) -> bool {
        let mut idx = match self.patterns.write() {
            Ok(idx) => idx,
            Err(poisoned) => poisoned.into_inner(),
        };
        let removed = idx.remove(pattern, id);
        self.pattern_count.store(idx.len(), Ordering::Release);
        self.changed(removed);
        removed
    }

    /// The pattern index, read-locked, or None when no pattern is
    /// subscribed (without touching the lock).
    fn patterns_if_any(&self) -> Option<std::sync::RwLockReadGuard<'_, PatternIndex>> {
        if self.pattern_count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let idx = match self.patterns.read() {
            Ok(idx) => idx,
            Err(poisoned) => poisoned.into_inner(),
        };
        (!idx.is_empty()).then_some(idx)
    }

    /// Delivers `payload` on `channel` to every receiver and returns how many
    /// received it: each exact subscriber once, plus one per matching
    /// (pattern, subscriber) pair, as PUBLISH reports.
    pub fn publish(&self, shared: &Shared, kind: Kind, channel: &[u8], payload: &[u8]) -> usize {
        let receivers = self.publish_one(shared, kind, channel, payload);
        crate::pubsub::flow::note_fanout(receivers);
        receivers
    }

    /// [`Registry::publish`] before flow control's tally.
    fn publish_one(&self, shared: &Shared, kind: Kind, channel: &[u8], payload: &[u8]) -> usize {
        let mut receivers = 0;
        let kind_name = match kind {
            Kind::Channel => MESSAGE,
            Kind::Shard => SMESSAGE,
        };
        if let Some(subs) = self.read(kind).get(channel) {
            let mut frame = LazyFrame::new(&[kind_name, channel, payload], subs.len());
            subs.for_each(|client| client.deliver(shared, frame.get(client.protocol())));
            receivers += subs.len();
        }
        if kind == Kind::Shard {
            return receivers;
        }
        let Some(idx) = self.patterns_if_any() else {
            return receivers;
        };
        idx.for_each_match(channel, |pattern, subs| {
            let mut frame = LazyFrame::new(&[PMESSAGE, pattern, channel, payload], subs.len());
            subs.for_each(|client| client.deliver(shared, frame.get(client.protocol())));
            receivers += subs.len();
        });
        receivers
    }

    /// Delivers a run of messages on `channel`, in order, as
    /// [`Registry::publish`] would one by one, and returns how many received
    /// each (the receivers are found once, so every message reaches the same
    /// ones). A receiver that gets one frame per message (an exact
    /// subscriber, or the subscriber of one matching pattern) gets the whole
    /// run as one frame shared with the others: one queue operation per
    /// receiver instead of one per message. A client that gets several
    /// frames per message (subscribed to the channel and to a matching
    /// pattern, or to two matching patterns) must get each message's frames
    /// together, as Redis sends them: it gets a buffer of its own with the
    /// frames in that order.
    pub fn publish_run(
        &self,
        shared: &Shared,
        kind: Kind,
        channel: &[u8],
        payloads: &[Bytes],
    ) -> usize {
        let kind_name = match kind {
            Kind::Channel => MESSAGE,
            Kind::Shard => SMESSAGE,
        };
        let map = self.read(kind);
        let exact = map.get(channel);
        let idx = match kind {
            Kind::Channel => self.patterns_if_any(),
            Kind::Shard => None,
        };
        let mut matches: Vec<(&Bytes, &Subscribers)> = Vec::new();
        if let Some(idx) = &idx {
            idx.for_each_match(channel, |pattern, subs| matches.push((pattern, subs)));
        }
        let in_exact = |id: u64| exact.as_ref().is_some_and(|e| e.contains(id));
        let mut receivers = exact.as_ref().map_or(0, |e| e.len());
        // Clients with several frames per message, found only when a
        // pattern matches; a second pattern's subscribers are checked against
        // the first's only when there is one (the common case, one pattern
        // per subscriber connection as socket.io's adapter has, allocates
        // nothing here).
        let mut several: HashMap<u64, &Arc<Client>> = HashMap::new();
        if !matches.is_empty() {
            let mut seen = HashSet::new();
            let several_patterns = matches.len() > 1;
            for (_, subs) in &matches {
                receivers += subs.len();
                subs.for_each(|c| {
                    if in_exact(c.id) || several_patterns && !seen.insert(c.id) {
                        several.insert(c.id, c);
                    }
                });
            }
        }
        let once = |c: &Arc<Client>| several.is_empty() || !several.contains_key(&c.id);
        if let Some(subs) = &exact {
            let lead = [kind_name, channel];
            let mut run = LazyRun::new(&lead, payloads, subs.len());
            subs.for_each(|c| {
                if once(c) {
                    c.deliver(shared, run.get(c.protocol()));
                }
            });
        }
        for (pattern, subs) in &matches {
            let lead = [PMESSAGE, pattern, channel];
            let mut run = LazyRun::new(&lead, payloads, subs.len());
            subs.for_each(|c| {
                if once(c) {
                    c.deliver(shared, run.get(c.protocol()));
                }
            });
        }
        for c in several.values() {
            let proto = c.protocol();
            let exact = in_exact(c.id);
            let mut out = Vec::new();
            for payload in payloads {
                if exact {
                    append_bounded(shared, c, &mut out, proto, &[kind_name, channel], payload);
                }
                for (pattern, subs) in &matches {
                    if subs.contains(c.id) {
                        let lead = [PMESSAGE, pattern, channel];
                        append_bounded(shared, c, &mut out, proto, &lead, payload);
                    }
                }
            }
            deliver_owned(shared, c, out);
        }
        crate::pubsub::flow::note_fanout(receivers);
        receivers
    }

    /// Channel names (of `kind`) that match `pattern`, or all when None.
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.read(kind)
            .keys()
            .filter(|k| pattern.is_none_or(|p| crate::glob::glob_match(p, k.as_slice(), false)))
            .map(ChannelKey::to_bytes)
            .collect()
    }

    /// Number of subscribers of `channel` (patterns not counted, as Redis).
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.read(kind).get(channel).map_or(0, |s| s.len())
    }

    /// Number of channels of `kind` with at least one subscriber.
    pub fn channel_count(&self, kind: Kind) -> usize {
        self.read(kind).len()
    }

    /// Ids among `ids` subscribed to a channel (either kind) or pattern for
    /// which `denied(name, is_pattern)` holds. For ACL SETUSER, which must
    /// close a user's connections subscribed where it may no longer be.
    pub fn subscribers_where(
        &self,
        ids: &std::collections::HashSet<u64>,
        mut denied: impl FnMut(&[u8], bool) -> bool,
    ) -> std::collections::HashSet<u64> {
        let mut out = std::collections::HashSet::new();
        let mut take = |subs: &crate::pubsub::subscribers::Subscribers| {
            subs.for_each(|c| {
                if ids.contains(&c.id) {
                    out.insert(c.id);
                }
            });
        };
        for kind in [Kind::Channel, Kind::Shard] {
            let map = self.read(kind);
            for (name, subs) in map.iter() {
                if denied(name.as_slice(), false) {
                    take(subs);
                }
            }
        }
        let idx = match self.patterns.read() {
            Ok(idx) => idx,
            Err(poisoned) => poisoned.into_inner(),
        };
        idx.for_each(|pattern, subs| {
            if denied(pattern, true) {
                take(subs);
            }
        });
        out
    }

    /// Number of distinct subscribed patterns.
    pub fn pattern_count(&self) -> usize {
        self.pattern_count.load(Ordering::Acquire)
    }

    fn changed(&self, did: bool) {
        if did {
            self.changes.fetch_add(1, Ordering::Relaxed);
            if self.watched.load(Ordering::Relaxed) {
                self.change.notify_one();
            }
        }
    }

    /// Resolves after the next subscription change (or at once if one
    /// happened since the last call); one waiter at a time, cluster mode's
    /// report loop.
    pub async fn changed_wait(&self) {
        self.watched.store(true, Ordering::Relaxed);
        self.change.notified().await;
    }

    /// A number that changes whenever a subscription is added or removed.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    /// Every channel of `kind` with its number of subscribers.
    pub fn counts(&self, kind: Kind) -> Vec<(Bytes, usize)> {
        self.read(kind)
            .iter()
            .map(|(k, subs)| (k.to_bytes(), subs.len()))
            .collect()
    }

    /// Every subscribed pattern with its number of subscribers.
    pub fn pattern_counts(&self) -> Vec<(Bytes, usize)> {
        match self.patterns.read() {
            Ok(idx) => idx.counts(),
            Err(poisoned) => poisoned.into_inner().counts(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Peer;
    use crate::config::Config;
    use crate::pubsub::outbox::{WIDE_COPY_MAX_BYTES, WIDE_FANOUT};

    /// Server state and one client (no socket) with id `id`.
    fn setup(id: u64) -> (Shared, Arc<Client>) {
        let shared = Shared::new(Config::default(), None);
        let addr = "127.0.0.1:1".parse().expect("address");
        (shared, Arc::new(Client::new(id, Peer::tcp(addr, addr, -1))))
    }

    #[test]
    fn publish_finds_patterns_exactly_while_some_are_subscribed() {
        let (shared, client) = setup(7);
        let reg = &shared.registry;
        let (ch, payload) = (Bytes::from_static(b"news.1"), Bytes::from_static(b"x"));
        let run = [payload.clone()];
        assert_eq!(reg.publish(&shared, Kind::Channel, &ch, &payload), 0);
        for round in 0..2 {
            assert!(reg.psubscribe(Bytes::from_static(b"news.*"), &client, || {}));
            assert!(reg.psubscribe(Bytes::from_static(b"other.*"), &client, || {}));
            assert_eq!(reg.pattern_count(), 2, "round {round}");
            assert_eq!(reg.publish(&shared, Kind::Channel, &ch, &payload), 1);
            assert_eq!(reg.publish_run(&shared, Kind::Channel, &ch, &run), 1);
            assert!(reg.punsubscribe(b"news.*", 7));
            assert_eq!(reg.pattern_count(), 1);
            assert_eq!(reg.publish(&shared, Kind::Channel, &ch, &payload), 0);
            assert!(reg.punsubscribe(b"other.*", 7));
            assert_eq!(reg.pattern_count(), 0);
            assert_eq!(reg.publish(&shared, Kind::Channel, &ch, &payload), 0);
            assert_eq!(reg.publish_run(&shared, Kind::Channel, &ch, &run), 0);
        }
        assert_eq!(client.outbox.queued_frames(), 1, "one coalesced buffer");
        assert!(client.outbox.pending() > 0);
    }

    /// Publishers on two threads while a third subscribes and unsubscribes
    /// in a loop: each publish finds the channel with or without the
    /// churning client, never anything else, and nothing deadlocks (a
    /// writer takes every reader shard of the map while the publishers
    /// hold theirs).
    #[test]
    fn publishers_and_subscribers_on_several_threads_share_the_map() {
        let (shared, stable) = setup(1);
        let churner = setup(2).1;
        let reg = &shared.registry;
        let (ch, payload) = (Bytes::from_static(b"room"), Bytes::from_static(b"x"));
        assert!(reg.subscribe(Kind::Channel, ch.clone(), &stable, || {}));
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        let n = reg.publish(&shared, Kind::Channel, &ch, &payload);
                        assert!(n == 1 || n == 2, "{n} receivers");
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..2_000 {
                    assert!(reg.subscribe(Kind::Channel, ch.clone(), &churner, || {}));
                    assert_eq!(reg.numsub(Kind::Channel, b"room"), 2);
                    assert!(reg.unsubscribe(Kind::Channel, b"room", 2));
                    assert!(!reg.unsubscribe(Kind::Channel, b"room", 2));
                }
            });
        });
        assert_eq!(reg.numsub(Kind::Channel, b"room"), 1);
        // Every publish reached the stable subscriber once.
        let frame = b"*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n$1\r\nx\r\n";
        assert_eq!(stable.outbox.pending(), 2 * 20_000 * frame.len());
        assert_eq!(reg.channels(Kind::Channel, None), vec![ch.clone()]);
        assert_eq!(reg.channel_count(Kind::Shard), 0);
        assert!(reg.unsubscribe(Kind::Channel, b"room", 1));
        assert_eq!(
            reg.channel_count(Kind::Channel),
            0,
            "the last one out drops the entry"
        );
        assert!(reg.channels(Kind::Channel, Some(b"r*")).is_empty());
    }

    /// A client on two matching patterns gets its frames of a long run in
    /// pieces of at most [`SEVERAL_FRAMES_CHUNK`] plus one frame, every byte
    /// queued once (the frames' order is checked end to end, against Redis
    /// too, in tests/publish_runs.rs).
    #[test]
    fn several_frames_clients_get_long_runs_in_bounded_pieces() {
        let (shared, client) = setup(9);
        let reg = &shared.registry;
        assert!(reg.psubscribe(Bytes::from_static(b"a.*"), &client, || {}));
        assert!(reg.psubscribe(Bytes::from_static(b"*.b"), &client, || {}));
        let ch = Bytes::from_static(b"a.b");
        let run: Vec<Bytes> = (0..30u8).map(|i| Bytes::from(vec![i; 2000])).collect();
        assert_eq!(reg.publish_run(&shared, Kind::Channel, &ch, &run), 2);
        // `*4\r\n$8\r\npmessage\r\n$3\r\n<pattern>\r\n$3\r\na.b\r\n$2000\r\n<payload>\r\n`
        let frame = 4 + 14 + 9 + 9 + 7 + 2000 + 2;
        let total = run.len() * 2 * frame;
        assert_eq!(client.outbox.pending(), total, "every frame queued once");
        let pieces = client.outbox.queued_frames();
        assert_eq!(
            pieces,
            total.div_ceil(SEVERAL_FRAMES_CHUNK + frame),
            "{total} bytes"
        );
    }

    #[test]
    fn lazy_frames_match_the_codec_inline_up_to_the_copy_limit() {
        let channel = Bytes::from_static(b"chan");
        // `*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$<n>\r\n<payload>\r\n` is 32
        // bytes plus the payload and its length's digits: 477 + 3 = 512.
        for (size, inline) in [
            (0, true),
            (100, true),
            (200, true),
            (477, true),
            (478, false),
            (5000, false),
        ] {
            let payload = Bytes::from(vec![b'p'; size]);
            for proto in [Protocol::Resp2, Protocol::Resp3] {
                let expected = encode_push(proto, &[MESSAGE, &channel, &payload]);
                let mut frame = LazyFrame::new(&[MESSAGE, &channel, &payload], 1);
                let got = frame.get(proto);
                assert_eq!(got.as_slice(), &expected[..], "{size} bytes, {proto:?}");
                let resp2_inline = matches!(got, SharedFrame::Slice(_));
                if proto == Protocol::Resp2 {
                    assert_eq!(resp2_inline, inline, "{size} bytes");
                    assert_eq!(expected.len() <= COPY_MAX_BYTES, inline, "{size} bytes");
                }
                if !resp2_inline {
                    assert!(matches!(got, SharedFrame::Referenced(_)));
                }
                // A wide fan-out copies only frames up to its own limit.
                let mut wide = LazyFrame::new(&[MESSAGE, &channel, &payload], WIDE_FANOUT);
                let got = wide.get(proto);
                assert_eq!(got.as_slice(), &expected[..], "{size} bytes, {proto:?}");
                assert_eq!(
                    matches!(got, SharedFrame::Slice(_)),
                    expected.len() <= WIDE_COPY_MAX_BYTES,
                    "{size} bytes, wide"
                );
            }
        }
    }
}

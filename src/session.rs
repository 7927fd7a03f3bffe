//! A connection's private state: authentication, protocol, selected
//! database, subscriptions, reply mode, and the reply buffer that collects
//! one pipelined batch of replies before it is handed to the outbox.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};

use crate::client::Client;
use crate::commands::publish::{PublishGroup, flush_group};
use crate::keyspace::Keyspace;
use crate::protocol::{Args, Protocol, Reply};
use crate::pubsub::Kind;
use crate::pubsub::names::NameSet;
use crate::shared::Shared;

/// Replies are handed to the outbox once this many bytes have collected,
/// even mid-batch, so one pipelined batch cannot build an unbounded buffer.
pub const REPLY_FLUSH_BYTES: usize = 64 * 1024;

/// Per-connection state, owned by the connection task.
pub struct Session {
    /// Server-wide state.
    pub shared: Arc<Shared>,
    /// This client's shared half (outbox, CLIENT LIST fields).
    pub client: Arc<Client>,
    /// RESP2 until HELLO 3.
    pub protocol: Protocol,
    /// False while a password is required and not yet given.
    pub authenticated: bool,
    /// SELECTed database.
    pub db: usize,
    /// Subscribed channels (the reverse index of the registry).
    pub channels: NameSet,
    /// Subscribed patterns.
    pub patterns: NameSet,
    /// Subscribed shard channels.
    pub shard_channels: NameSet,
    /// CLIENT REPLY OFF.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: skip the next command's reply.
    pub skip_next: bool,
    /// The reply of the command now running is skipped.
    pub skip_current: bool,
    /// Close once what is queued has been written (QUIT, SHUTDOWN, errors).
    pub closing: bool,
    /// Commands queued since MULTI.
    pub multi: Option<Vec<Args>>,
    /// A command queued since MULTI was rejected: EXEC aborts.
    pub multi_error: bool,
    /// Bytes the queued commands hold (bounded by
    /// `client-query-buffer-limit`).
    pub multi_bytes: usize,
    /// WATCHed keys: (db, key, already expired when watched).
    pub watched: Vec<(usize, Bytes, bool)>,
    /// Set by the keyspace when a watched key changes.
    /// Created by the first WATCH (most connections never WATCH).
    pub watch_dirty: Option<Arc<AtomicBool>>,
    /// Running inside a script (`redis.call`): no gating, no queueing.
    pub in_script: bool,
    /// Pushes this client caused for itself are held back until the current
    /// EXEC/EVAL reply has been sent (Redis 7.2 order).
    pub release_pushes_after_reply: bool,
    /// Commands run since the last flush, added to the server-wide counter
    /// once per batch rather than once per command (one shared cache line
    /// less per command).
    commands_run: u64,
    /// Receivers reached by this session's publishes since the last flush.
    deliveries: u64,
    /// The keyspace lock, held for the duration of EXEC or a script.
    keyspace_guard: Option<parking_lot::ArcMutexGuard<parking_lot::RawMutex, Keyspace>>,
    /// PUBLISHes to one channel waiting to be delivered together (see
    /// `commands/publish.rs`); delivered before any other output.
    pub publish_group: Option<PublishGroup>,
    /// Kind of this batch's last PUBLISH delivered at once, if its channel
    /// is in `last_channel`: a second PUBLISH in a row to it starts a run.
    pub last_published: Option<Kind>,
    /// The channel of that PUBLISH (a copy; capacity kept while active).
    pub last_channel: Vec<u8>,
    /// The payload vector of the last delivered group, reused.
    pub spare_payloads: Vec<Bytes>,
    /// The running command was dispatched on its own (not from EXEC or a
    /// script), so its reply goes straight to the output buffer.
    pub direct: bool,
    out: BytesMut,
}

impl Session {
    /// A fresh session: RESP2, db 0, authenticated unless a password is set.
    pub fn new(shared: Arc<Shared>, client: Arc<Client>) -> Session {
        let authenticated = !shared.settings.password_required();
        Session {
            shared,
            client,
            protocol: Protocol::Resp2,
            authenticated,
            db: 0,
            channels: NameSet::default(),
            patterns: NameSet::default(),
            shard_channels: NameSet::default(),
            reply_off: false,
            skip_next: false,
            skip_current: false,
            closing: false,
            multi: None,
            multi_error: false,
            multi_bytes: 0,
            watched: Vec::new(),
            watch_dirty: None,
            in_script: false,
            release_pushes_after_reply: false,
            keyspace_guard: None,
            commands_run: 0,
            deliveries: 0,
            publish_group: None,
            last_published: None,
            last_channel: Vec::new(),
            spare_payloads: Vec::new(),
            direct: false,
            out: BytesMut::new(),
        }
    }

    /// Runs `f` on the keyspace — under the lock this session already holds
    /// (EXEC, scripts) or under a fresh one — then publishes the keyspace
    /// events it recorded.
    pub fn keyspace<T>(&mut self, f: impl FnOnce(&mut Keyspace) -> T) -> T {
        let shared = Arc::clone(&self.shared);
        let flags = shared.settings.notify_flags.load(Ordering::Relaxed);
        match self.keyspace_guard.as_mut() {
            Some(g) => {
                g.notify_flags = flags;
                let out = f(g);
                crate::notify::publish_events(&shared, g);
                out
            }
            None => {
                let mut g = shared.keyspace.lock();
                g.notify_flags = flags;
                let out = f(&mut g);
                crate::notify::publish_events(&shared, &mut g);
                out
            }
        }
    }

    /// Takes the keyspace lock for a transaction or script; returns false if
    /// this session already held it.
    pub fn hold_keyspace(&mut self) -> bool {
        if self.keyspace_guard.is_some() {
            return false;
        }
        self.keyspace_guard = Some(self.shared.keyspace.lock_arc());
        true
    }

    /// Releases the keyspace lock taken by [`Session::hold_keyspace`].
    pub fn release_keyspace(&mut self) {
        self.keyspace_guard = None;
    }

    /// Forgets every WATCHed key.
    pub fn unwatch_all(&mut self) {
        let Some(flag) = self.watch_dirty.take() else {
            return;
        };
        let watched = std::mem::take(&mut self.watched);
        if !watched.is_empty() {
            self.keyspace(|ks| {
                for (db, key, _) in &watched {
                    ks.unwatch(*db, key, &flag);
                }
            });
        }
    }

    /// Leaves MULTI state and forgets WATCHed keys (EXEC, DISCARD, RESET).
    pub fn end_transaction(&mut self) {
        self.multi = None;
        self.multi_error = false;
        self.multi_bytes = 0;
        self.unwatch_all();
    }

    /// Sends a command reply, unless CLIENT REPLY suppresses it.
    pub fn reply(&mut self, reply: Reply) {
        if self.publish_group.is_some() && !matches!(reply, Reply::Sent) {
            flush_group(self);
        }
        if reply.is_error() {
            crate::stats::Stats::incr(&self.shared.stats.error_replies);
        }
        if self.reply_off || self.skip_current {
            return;
        }
        reply.encode(self.protocol, &mut self.out);
    }

    /// Sends a pub/sub push (subscribe confirmations): never suppressed by
    /// CLIENT REPLY, and always a push frame in RESP3.
    pub fn push(&mut self, parts: Vec<Reply>) {
        flush_group(self);
        Reply::Push(parts).encode(self.protocol, &mut self.out);
    }

    /// Sends `count` replies of the integer `n` (a delivered PUBLISH run's),
    /// unless CLIENT REPLY OFF.
    pub fn reply_ints(&mut self, n: i64, count: usize) {
        if self.reply_off {
            return;
        }
        for _ in 0..count {
            Reply::Int(n).encode(self.protocol, &mut self.out);
        }
    }

    /// Counts one executed command (INFO `total_commands_processed`).
    pub fn count_command(&mut self) {
        self.commands_run += 1;
    }

    /// Counts receivers reached by a publish (INFO `pubsub_deliveries`).
    pub fn count_deliveries(&mut self, n: u64) {
        self.deliveries += n;
    }

    /// Hands the collected replies to the outbox (after delivering an open
    /// PUBLISH run, whose replies come first).
    pub fn flush(&mut self) {
        flush_group(self);
        self.last_published = None;
        if self.deliveries > 0 {
            self.shared
                .stats
                .pubsub_deliveries
                .fetch_add(std::mem::take(&mut self.deliveries), Ordering::Relaxed);
        }
        if self.commands_run > 0 {
            self.shared
                .stats
                .commands_processed
                .fetch_add(std::mem::take(&mut self.commands_run), Ordering::Relaxed);
        }
        if !self.out.is_empty() {
            let bytes = self.out.split().freeze();
            self.client.send(&self.shared, bytes);
        }
        if self.out.capacity() > REPLY_FLUSH_BYTES {
            self.out = BytesMut::new();
        }
    }

    /// Releases the reply buffer of a connection going idle.
    pub fn release_idle_memory(&mut self) {
        self.spare_payloads = Vec::new();
        self.last_channel = Vec::new();
        if self.out.is_empty() && self.out.capacity() > 0 {
            self.out = BytesMut::new();
        }
    }

    /// Bytes collected and not yet flushed.
    pub fn buffered(&self) -> usize {
        self.out.len()
    }

    /// Channels plus patterns: the count SUBSCRIBE and PSUBSCRIBE report.
    pub fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Whether the RESP2 subscribed-mode command restrictions apply.
    pub fn in_pubsub_context(&self) -> bool {
        self.protocol == Protocol::Resp2
            && (self.channels.len() + self.patterns.len() + self.shard_channels.len()) > 0
    }

    /// Publishes the subscription counts to the shared client (CLIENT LIST,
    /// output-buffer class).
    pub fn sync_counts(&self) {
        self.client.set_subscription_counts(
            self.channels.len(),
            self.patterns.len(),
            self.shard_channels.len(),
        );
    }

    /// Drops every subscription without sending confirmations (RESET,
    /// disconnect).
    pub fn drop_subscriptions(&mut self) {
        let id = self.client.id;
        for ch in self.channels.take_all() {
            self.shared.registry.unsubscribe(Kind::Channel, &ch, id);
        }
        for ch in self.shard_channels.take_all() {
            self.shared.registry.unsubscribe(Kind::Shard, &ch, id);
        }
        for p in self.patterns.take_all() {
            self.shared.registry.punsubscribe(&p, id);
        }
        self.sync_counts();
    }

    /// Switches protocol for replies and for pushes to this client.
    pub fn set_protocol(&mut self, p: Protocol) {
        self.protocol = p;
        self.client.set_protocol(p);
    }
}

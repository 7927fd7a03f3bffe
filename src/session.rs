//! A connection's private state: authentication, protocol, selected
//! database, subscriptions, reply mode, the keyspace while it holds it, and
//! the reply buffer that collects one pipelined batch of replies before it is
//! handed to the outbox.
//!
//! # The keyspace lock
//!
//! Commands reach the keyspace only through [`Session::keyspace`], which
//! uses the guard the session holds. `commands::dispatch` takes that guard
//! (without waiting) before a command that reaches the keyspace and keeps it
//! for the whole command — so for a whole EXEC or script, and everything
//! they run (INFO, the `maxmemory` check, `redis.call`) finds it already held
//! and never takes the lock a second time. If another client holds it,
//! dispatch answers `Outcome::Wait` and the connection waits for it
//! asynchronously (never on a blocked thread), then runs the command again
//! with the guard it got. Dispatch releases the guard when the command ends;
//! a session never holds it between commands.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};

use crate::client::Client;
use crate::commands::multi::{Multi, Watch, Watched};
use crate::commands::publish::{PublishGroup, flush_group};
use crate::keyspace::{Keyspace, KeyspaceGuard};
use crate::protocol::{Args, Protocol, Reply};
use crate::pubsub::Kind;
use crate::pubsub::names::NameSet;
use crate::shared::Shared;

/// Replies are handed to the outbox once this many bytes have collected,
/// even mid-batch, so one pipelined batch cannot build an unbounded buffer.
pub const REPLY_FLUSH_BYTES: usize = 64 * 1024;

/// WATCHes forgotten while another client held the keyspace: each one's
/// flag and keys.
type UnwatchPending = Vec<(Arc<AtomicBool>, Watched)>;

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
    /// The ACL user, as of `acl_epoch` (see `crate::acl`).
    pub user: Arc<crate::acl::User>,
    /// The ACL epoch `user` was read at.
    acl_epoch: u64,
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
    /// Inside MULTI: what is queued.
    pub multi: Option<Box<Multi>>,
    /// WATCHed keys, from the first WATCH until the transaction ends.
    pub watch: Option<Box<Watch>>,
    /// Running inside a script (`redis.call`): no gating, no queueing.
    pub in_script: bool,
    /// The running script declared `allow-oom`: its writes pass maxmemory.
    pub script_allow_oom: bool,
    /// The error reply a script just returned was counted in the error
    /// statistics when the command that raised it ran (as Redis, which
    /// counts each error once): sending or collecting it does not count it
    /// again. Cleared by whichever does.
    pub error_counted: bool,
    /// Pushes this client caused for itself are held back until the current
    /// EXEC/EVAL reply has been sent (Redis 7.2 order).
    pub release_pushes_after_reply: bool,
    /// Commands run since the last flush, added to the server-wide counter
    /// once per batch rather than once per command (one shared cache line
    /// less per command).
    commands_run: u64,
    /// Receivers reached by the session's publishes since the last flush.
    deliveries: u64,
    /// The keyspace, while the running command holds it (see the module
    /// docs).
    keyspace_guard: Option<KeyspaceGuard>,
    /// WATCHes forgotten while another client held the keyspace (UNWATCH,
    /// DISCARD or EXEC while a script is busy, or a disconnect): taken out
    /// of the keyspace's registry the next time the session reaches it, or
    /// when the connection ends. Their flags are no longer read, so a late
    /// removal changes no transaction's outcome. Boxed: rarely any.
    unwatch_pending: Option<Box<UnwatchPending>>,
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
    /// Set by a command that must wait before it replies (WAIT): dispatch
    /// postpones it instead of replying. Boxed: only WAIT sets it.
    pub postpone: Option<Box<crate::commands::operator::Postpone>>,
    /// The postponed WAIT's timeout has passed: it replies now.
    pub wait_done: bool,
    /// MONITOR lines about this monitor's own commands, sent after the
    /// reply (`commands::monitor`); boxed, as only a monitor has any.
    pub monitor_echo: Option<Box<Vec<Bytes>>>,
    /// A key command sent to the keyspace's owner node, awaiting its reply
    /// (cluster mode, `crate::cluster::keys`).
    pub forward: Option<Arc<crate::cluster::keys::ForwardSlot>>,
    /// Runs forwarded commands on the owner: never forwards them again.
    pub no_forward: bool,
    out: BytesMut,
}

impl Session {
    /// A fresh session: RESP2, db 0, authenticated unless a password is set.
    pub fn new(shared: Arc<Shared>, client: Arc<Client>) -> Session {
        let acl_epoch = shared.acl.epoch();
        let user = shared.acl.default_user();
        let authenticated = !shared.acl.auth_required();
        Session {
            shared,
            client,
            protocol: Protocol::Resp2,
            authenticated,
            user,
            acl_epoch,
            db: 0,
            channels: NameSet::default(),
            patterns: NameSet::default(),
            shard_channels: NameSet::default(),
            reply_off: false,
            skip_next: false,
            skip_current: false,
            closing: false,
            multi: None,
            watch: None,
            in_script: false,
            script_allow_oom: false,
            error_counted: false,
            release_pushes_after_reply: false,
            keyspace_guard: None,
            unwatch_pending: None,
            commands_run: 0,
            deliveries: 0,
            publish_group: None,
            last_published: None,
            last_channel: Vec::new(),
            spare_payloads: Vec::new(),
            direct: false,
            postpone: None,
            wait_done: false,
            monitor_echo: None,
            forward: None,
            no_forward: false,
            out: BytesMut::new(),
        }
    }

    /// Runs `f` on the keyspace under the guard the session holds, then
    /// publishes the keyspace events it recorded; the command's reply.
    /// Dispatch holds the guard for every command that comes here; a caller
    /// it did not hold it for gets the keyspace only if it is free now, else
    /// an error reply (never a wait, never a second lock).
    pub fn keyspace(&mut self, f: impl FnOnce(&mut Keyspace) -> Reply) -> Reply {
        self.keyspace_value(f).unwrap_or_else(|e| e)
    }

    /// [`Session::keyspace`] for a value other than a reply: `Err` is the
    /// reply to give instead.
    pub fn keyspace_value<T>(&mut self, f: impl FnOnce(&mut Keyspace) -> T) -> Result<T, Reply> {
        self.with_guard(f).ok_or_else(|| {
            tracing::error!("a command reached the keyspace without holding it");
            Reply::error("ERR the keyspace is not held for this command")
        })
    }

    /// Runs `f` under the held guard, or under one taken now if the keyspace
    /// is free (released again after `f`); None if another client holds it.
    /// WATCHes forgotten earlier leave the registry first.
    fn with_guard<T>(&mut self, f: impl FnOnce(&mut Keyspace) -> T) -> Option<T> {
        let mut taken = None;
        let shared = Arc::clone(&self.shared);
        let g = match self.keyspace_guard.as_mut() {
            Some(g) => g,
            None => taken.insert(shared.try_hold_keyspace()?),
        };
        for (flag, keys) in self.unwatch_pending.take().into_iter().flat_map(|p| *p) {
            for (db, key) in &keys {
                g.unwatch(*db, key, &flag);
            }
        }
        g.notify_flags = shared.settings.notify_flags.load(Ordering::Relaxed);
        let out = f(g);
        crate::notify::publish_events(&shared, g);
        Some(out)
    }

    /// Whether the session holds the keyspace now.
    pub fn holds_keyspace(&self) -> bool {
        self.keyspace_guard.is_some()
    }

    /// Takes the keyspace for the running command if no one holds it;
    /// false if another client does. (Held already: true.)
    pub fn try_take_keyspace(&mut self) -> bool {
        if self.keyspace_guard.is_none() {
            self.keyspace_guard = self.shared.try_hold_keyspace();
        }
        self.keyspace_guard.is_some()
    }

    /// Keeps the guard a connection waited for, for the command it runs
    /// next.
    pub fn adopt_keyspace(&mut self, guard: KeyspaceGuard) {
        self.keyspace_guard = Some(guard);
    }

    /// Releases the keyspace at the end of a command.
    pub fn release_keyspace(&mut self) {
        self.keyspace_guard = None;
    }

    /// Whether forgotten WATCHes still wait to leave the keyspace's registry
    /// (the connection then waits for the keyspace once more before it ends).
    pub fn unwatch_is_pending(&self) -> bool {
        self.unwatch_pending.is_some()
    }

    /// Takes forgotten WATCHes out of the keyspace's registry, if this
    /// session holds the keyspace or it is free now.
    pub fn finish_unwatch(&mut self) {
        let _ = self.with_guard(|_| ());
    }

    /// Forgets every WATCHed key. Never waits: if another client holds the
    /// keyspace (a busy script), the keys leave its registry later (see
    /// `unwatch_pending`); this client stops watching them now either way.
    pub fn unwatch_all(&mut self) {
        let Some(watch) = self.watch.take() else {
            return;
        };
        let Watch { dirty, keys } = *watch;
        if !keys.is_empty() {
            self.unwatch_pending
                .get_or_insert_default()
                .push((dirty, keys));
            self.finish_unwatch();
        }
    }

    /// Leaves MULTI state and forgets WATCHed keys (EXEC, DISCARD, RESET).
    pub fn end_transaction(&mut self) {
        self.multi = None;
        self.unwatch_all();
    }

    /// Marks an open MULTI to abort at EXEC (a command was refused while
    /// queueing); nothing outside MULTI.
    pub fn fail_multi(&mut self) {
        if let Some(m) = self.multi.as_mut() {
            m.error = true;
        }
    }

    /// The commands queued since MULTI, if inside one.
    pub fn queued(&self) -> Option<&[Args]> {
        self.multi.as_deref().map(|m| m.queued.as_slice())
    }

    /// Sends a command reply, unless CLIENT REPLY suppresses it.
    pub fn reply(&mut self, reply: Reply) {
        if self.publish_group.is_some() && !matches!(reply, Reply::Sent) {
            flush_group(self);
        }
        let counted = std::mem::take(&mut self.error_counted);
        if let Reply::Error(text) = &reply
            && !counted
        {
            crate::stats::Stats::incr(&self.shared.stats.error_replies);
            self.shared.stats.count_error(text);
        }
        if self.reply_off || self.skip_current {
            return;
        }
        reply.encode(self.protocol, &mut self.out);
    }

    /// Writes EXEC's replies as EXEC chose them under CLIENT REPLY: the
    /// array header for `header` replies (if it was allowed), then `items`,
    /// which may be fewer than announced, as with Redis.
    pub fn reply_exec(&mut self, header: Option<usize>, items: &[Reply]) {
        if self.publish_group.is_some() {
            flush_group(self);
        }
        if let Some(n) = header {
            self.out.extend_from_slice(format!("*{n}\r\n").as_bytes());
        }
        for item in items {
            item.encode(self.protocol, &mut self.out);
        }
    }

    /// Sends a protocol error, whose text is bytes as the client sent them
    /// (it may quote the offending byte), unless CLIENT REPLY suppresses it:
    /// a pending SKIP applies, since the broken request is the next one.
    /// CR and LF become spaces, as in every error reply.
    pub fn reply_raw_error(&mut self, text: &[u8]) {
        if self.publish_group.is_some() {
            flush_group(self);
        }
        crate::stats::Stats::incr(&self.shared.stats.error_replies);
        if self.reply_off || self.skip_current || self.skip_next {
            return;
        }
        self.out.reserve(text.len() + 3);
        self.out.extend_from_slice(b"-");
        self.out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.out.extend_from_slice(b"\r\n");
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

    /// Takes everything the client of this connection was sent, replies and pushes,
    /// in order, instead of sending it (a forwarded command's reply goes
    /// back over NATS; a command that may push hands its reply to the
    /// outbox).
    pub fn take_output(&mut self) -> Bytes {
        use crate::pubsub::outbox::{Drained, WriteBatch};
        self.flush();
        let mut out = BytesMut::new();
        let mut batch = WriteBatch::default();
        let mut written = 0;
        let mut take_all = |slices: &[std::io::IoSlice<'_>]| {
            let mut n = 0;
            for s in slices {
                out.extend_from_slice(s);
                n += s.len();
            }
            Ok(n)
        };
        while let Ok(Drained::More) =
            self.client
                .outbox
                .write_queued(&mut batch, &mut written, &mut take_all)
        {}
        out.freeze()
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

    /// Logs the connection in as `user` (AUTH, HELLO AUTH, RESET).
    pub fn set_user(&mut self, user: Arc<crate::acl::User>, authenticated: bool) {
        let name =
            (user.name.as_ref() != crate::acl::DEFAULT_USER).then(|| Box::new(user.name.clone()));
        self.client.with_info(|i| i.user = name);
        self.user = user;
        self.authenticated = authenticated;
        self.client.note_authenticated(authenticated);
    }

    /// Fetches the user again if any ACL changed since it was read (one
    /// atomic load when nothing did). A user deleted meanwhile closes the
    /// connection, as ACL DELUSER does in Redis.
    pub fn refresh_user(&mut self) {
        let epoch = self.shared.acl.epoch();
        if epoch == self.acl_epoch {
            return;
        }
        self.acl_epoch = epoch;
        match self.shared.acl.get(&self.user.name) {
            Some(u) => self.user = u,
            None => {
                self.closing = true;
                self.user = Arc::new(crate::acl::User::new(self.user.name.clone(), false));
            }
        }
    }

    /// The ACL epoch `user` was read at: a permission checked with `user`
    /// still holds while the ACL's epoch is this one.
    pub fn acl_epoch(&self) -> u64 {
        self.acl_epoch
    }

    /// Reads the user again from `users`, which the caller holds still, as
    /// [`Session::refresh_user`] does.
    pub fn refresh_user_from(&mut self, users: &crate::acl::Snapshot<'_>) {
        self.acl_epoch = users.epoch();
        match users.get(&self.user.name) {
            Some(u) => self.user = u,
            None => {
                self.closing = true;
                self.user = Arc::new(crate::acl::User::new(self.user.name.clone(), false));
            }
        }
    }

    /// Switches protocol for replies and for pushes to this client.
    pub fn set_protocol(&mut self, p: Protocol) {
        self.protocol = p;
        self.client.set_protocol(p);
    }
}

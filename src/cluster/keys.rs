//! Keys in cluster mode: one node owns the keyspace, the others forward key
//! commands to it and keep a copy, so that a counter (SignalR 2.x's
//! `INCR` + `PUBLISH` script) increases strictly for every client on every
//! node, also after the owner dies.
//!
//! - **Owner.** Every node has a rank: [`UNSYNCED`] until it holds a full
//!   copy of the keys, then a number. The owner is the synced live node with
//!   the highest epoch (below), then the lowest (rank, node id); every node
//!   computes it from what peers report with their counts, so all agree once
//!   their views agree. Ranks
//!   are handed out in joining order, so a node that joins never takes the
//!   keyspace over; it moves only when the owner leaves (says goodbye or
//!   falls silent for [`super::PEER_TTL`]).
//! - **Forwarding.** A key command (`write` or `readonly` in the command
//!   table, EVAL/EVALSHA/FCALL, and EXEC of a transaction holding them) on a
//!   node that is not the owner goes to the owner by NATS request/reply
//!   ([`wire::node_subject`]) and the owner's reply goes back to the client
//!   as it is. EVALSHA travels as EVAL when the sender has the script. A
//!   node that is asked but is not the owner says so, and the sender asks
//!   the owner of its view again every [`FORWARD_RETRY`]; so does a sender
//!   whose owner has no NATS subscription any more (it died), until the
//!   view moves on or [`FORWARD_TIMEOUT`] passes. A request that times out, or
//!   whose owner leaves while it waits, is never sent twice (it may have
//!   run): the client gets an error.
//! - **Copies.** The owner sends every change of a key (its whole new
//!   value and expiry, or its removal) on the message subject, ahead of any
//!   message published after it, so a node that saw a message carrying a
//!   counter value also holds that value. The reply to a forwarded command
//!   goes through the same queue, behind them, so a value a client got in a
//!   reply has left the owner too. A node that joins gets the whole
//!   keyspace ([`wire::Snapshot`]) from the owner, then the changes after it,
//!   in order; only then does it report a rank and become a candidate.
//! - **Epochs and returning nodes.** Every node that takes the keys over
//!   raises the epoch (past any it has seen); the owner stamps its changes
//!   and snapshots with it, and a copy is only kept up to date by changes
//!   of its own epoch. The owner is the synced node with the highest epoch,
//!   then the lowest rank. A node that may have missed changes or been
//!   replaced gives its copy up (unsynced, so no candidate) and waits for a
//!   snapshot, which ranks it behind every synced node: a follower whose
//!   link dropped at all, an owner without a link for [`STALE_AFTER`] (it
//!   holds key commands meanwhile, so it never answers from a copy the
//!   others may have moved past; after a shorter outage it raises its epoch,
//!   since changes in the lost connection's buffers never left), a follower whose owner has another epoch
//!   (a failover), and an owner that finds a better one (a healed split).
//!   When no live node is synced (all lost the link at once, say to a NATS
//!   restart), the one with the best claim (highest epoch, then the lowest
//!   rank it held) takes the keys back as it holds them after [`JOIN_WAIT`]
//!   linked, and the others copy from it.
//!
//! What it does not cover: a partition (each side elects its own owner;
//! once it heals the higher epoch's keys win and the changes made on the
//! other side meanwhile are lost),
//! a change or snapshot dropped because the outbound queue was full (counted
//! as `cluster_key_updates_dropped`), and values larger than NATS's payload
//! limit (they are not copied).

use std::cmp::Reverse;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_nats::Subject;
use async_nats::client::RequestErrorKind;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, Semaphore, mpsc};

use super::Link;
use super::view::Standing;
use super::wire::{self, DbChange, Frame, SnapEntry};
use crate::client::{Client, Peer};
use crate::commands::table::{Command, flags};
use crate::keyspace::{Change, Keyspace, now_ms};
use crate::protocol::{Args, Protocol, Reply};
use crate::session::Session;
use crate::shared::Shared;

/// The rank of a node that does not hold a full copy of the keys yet.
pub const UNSYNCED: u64 = u64::MAX;

/// How long a node that just linked waits for a synced peer before it
/// takes the keyspace as it is (two heartbeats: every live peer has
/// reported by then).
pub const JOIN_WAIT: Duration = Duration::from_secs(2);

/// Longest a forwarded command waits for an owner and its reply; past it
/// the client gets an error. Longer than [`super::PEER_TTL`], so a request
/// made as the owner dies reaches the next owner.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// A node that owns the keys and has had no NATS link for this long gives
/// them up. The others elect a new owner [`super::PEER_TTL`] after its last
/// report, sent at most a [`super::HEARTBEAT`] before the link went down, so
/// this leaves them a second of margin.
pub const STALE_AFTER: Duration = Duration::from_secs(1);

/// Pause before asking again when there is no owner, or the one asked was
/// not (or no longer) the owner.
pub const FORWARD_RETRY: Duration = Duration::from_millis(20);

/// Least time between two snapshots offered to one joining node.
pub const SNAPSHOT_RETRY: Duration = Duration::from_secs(2);

/// Target size of one snapshot chunk (a larger value goes alone).
pub const SNAPSHOT_CHUNK_BYTES: usize = 256 * 1024;

/// Key changes received and not yet applied, at most. Past it a change is
/// dropped, and the node goes back to unsynced and asks for a snapshot.
pub const REPLICA_QUEUE: usize = 65_536;

/// Changes applied under one hold of the keyspace lock.
pub const REPLICA_BATCH: usize = 1024;

/// Forwarded commands the owner runs at once; more are refused with an
/// error (each client has at most one in flight, so this is reached only
/// with that many clients forwarding together).
pub const SERVE_MAX: usize = 4096;

/// Counters for INFO.
#[derive(Default)]
pub struct KeyCounters {
    /// Commands this node forwarded, and those that failed (no owner,
    /// timeout).
    pub forwarded_out: AtomicU64,
    pub forward_failed: AtomicU64,
    /// Forwarded commands this node ran as the owner.
    pub forwarded_in: AtomicU64,
    /// Key changes sent, dropped (queue full or too large), and applied.
    pub updates_out: AtomicU64,
    pub updates_dropped: AtomicU64,
    pub updates_in: AtomicU64,
    /// Snapshots sent to joining nodes, and received.
    pub snapshots_out: AtomicU64,
    pub snapshots_in: AtomicU64,
}

/// A node's key-ownership state.
pub struct Keys {
    rank: AtomicU64,
    /// The epoch of the copy held, or last held (0: none).
    epoch: AtomicU64,
    /// The rank held before the copy was given up ([`UNSYNCED`] if none).
    claim: AtomicU64,
    owner: RwLock<Option<String>>,
    owner_self: AtomicBool,
    /// When the link last came up (the start of [`JOIN_WAIT`]); None while
    /// it is down.
    linked_at: Mutex<Option<Instant>>,
    /// When the link went down, while it is down.
    down_since: Mutex<Option<Instant>>,
    /// Disconnects counted at the last look, to catch a short one.
    disconnects_seen: AtomicU64,
    /// The node the copy came from (empty: none, or taken as it was).
    synced_from: Mutex<String>,
    /// Joining nodes last offered a snapshot, and when.
    offered: Mutex<HashMap<String, Instant>>,
    replica_tx: mpsc::Sender<Bytes>,
    replica_rx: Mutex<Option<mpsc::Receiver<Bytes>>>,
    serving: Arc<Semaphore>,
    /// Counters for INFO.
    pub counters: KeyCounters,
}

impl Keys {
    /// A node that holds no copy yet.
    pub fn new() -> Keys {
        let (tx, rx) = mpsc::channel(REPLICA_QUEUE);
        Keys {
            rank: AtomicU64::new(UNSYNCED),
            epoch: AtomicU64::new(0),
            claim: AtomicU64::new(UNSYNCED),
            owner: RwLock::new(None),
            owner_self: AtomicBool::new(false),
            linked_at: Mutex::new(None),
            down_since: Mutex::new(None),
            disconnects_seen: AtomicU64::new(0),
            synced_from: Mutex::new(String::new()),
            offered: Mutex::new(HashMap::new()),
            replica_tx: tx,
            replica_rx: Mutex::new(Some(rx)),
            serving: Arc::new(Semaphore::new(SERVE_MAX)),
            counters: KeyCounters::default(),
        }
    }

    /// This node's rank ([`UNSYNCED`] until it holds a full copy).
    pub fn rank(&self) -> u64 {
        self.rank.load(Ordering::Relaxed)
    }

    /// The epoch of the copy held, or last held.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// The node the copy came from, if it came in a snapshot.
    pub fn synced_from(&self) -> String {
        self.synced_from.lock().clone()
    }

    /// This node's standing, as it reports it.
    pub fn standing(&self) -> Standing {
        let rank = self.rank();
        Standing {
            rank,
            epoch: self.epoch(),
            claim: if rank == UNSYNCED {
                self.claim.load(Ordering::Relaxed)
            } else {
                rank
            },
        }
    }

    /// Takes a key change received from NATS, for the applying task;
    /// false if its queue is full.
    pub fn offer_change(&self, frame: Bytes) -> bool {
        self.replica_tx.try_send(frame).is_ok()
    }
}

impl Default for Keys {
    fn default() -> Self {
        Keys::new()
    }
}

/// The reply to a forwarded command, once it has come.
#[derive(Default)]
pub struct ForwardSlot {
    reply: Mutex<Option<Bytes>>,
    ready: Notify,
}

impl ForwardSlot {
    fn set(&self, reply: Bytes) {
        *self.reply.lock() = Some(reply);
        self.ready.notify_one();
    }

    /// The reply, if it has come.
    pub fn take(&self) -> Option<Bytes> {
        self.reply.lock().take()
    }

    /// Whether the reply has come.
    pub fn is_ready(&self) -> bool {
        self.reply.lock().is_some()
    }

    /// Waits for the reply (returns at once if it is there).
    pub async fn wait(&self) {
        while !self.is_ready() {
            self.ready.notified().await;
        }
    }
}

/// What dispatch does with a command in cluster mode.
pub enum Routed {
    /// Sent to the owner: postpone the request until the reply comes.
    Pending,
    /// The reply (the owner's, or an error).
    Done(Reply),
}

/// Whether `cmd` (a top-level command) is one the owner runs.
fn is_key_command(cmd: &Command) -> bool {
    cmd.flags & (flags::WRITE | flags::READONLY) != 0
        || matches!(cmd.name, "eval" | "evalsha" | "fcall")
}

/// Dispatch's question for each resolved command: None to run it here as
/// usual, else what became of it. A postponed request comes back here with
/// its reply.
pub fn route(
    s: &mut Session,
    cmd: &'static Command,
    subcommand: bool,
    args: &Args,
    queueing: bool,
) -> Option<Routed> {
    if let Some(slot) = s.forward.take() {
        return Some(match slot.take() {
            Some(reply) => Routed::Done(Reply::Frames(reply)),
            None => {
                s.forward = Some(slot);
                Routed::Pending
            }
        });
    }
    let link = Arc::clone(s.shared.cluster.get()?);
    if s.in_script || s.no_forward || queueing || subcommand || (link.is_owner() && link.linked()) {
        return None;
    }
    let commands: Vec<Vec<Bytes>> = if cmd.name == "exec" {
        let queued = s.queued()?;
        if !queued.iter().any(|q| queued_is_key_command(s, q)) {
            return None;
        }
        if queued.iter().any(|q| queued_subscribes(s, q)) {
            // The owner runs it for a client that ends with the command: a
            // subscription there would outlive it.
            s.end_transaction();
            s.client.with_info(|i| i.multi = None);
            return Some(Routed::Done(Reply::error(
                "ERR cluster mode: a transaction cannot mix key commands and subscriptions",
            )));
        }
        if s.multi.as_ref().is_some_and(|m| m.error)
            || s.watch
                .as_ref()
                .is_some_and(|w| w.dirty.load(Ordering::Relaxed))
        {
            // EXEC aborts here as it would on the owner.
            return None;
        }
        let mut all = vec![vec![Bytes::from_static(b"MULTI")]];
        all.extend(queued.iter().map(|q| with_script_text(s, q)));
        all.push(vec![Bytes::from_static(b"EXEC")]);
        s.end_transaction();
        s.client.with_info(|i| i.multi = None);
        all
    } else if is_key_command(cmd) {
        vec![with_script_text(s, args)]
    } else {
        return None;
    };
    let resp3 = s.protocol == Protocol::Resp3;
    let refs: Vec<&[Bytes]> = commands.iter().map(Vec::as_slice).collect();
    let user = s.user.name.clone();
    let request = wire::encode_forward(s.db as u32, resp3, &user, &refs);
    if request.len() > link.max_payload() {
        return Some(Routed::Done(Reply::error(format!(
            "ERR command too large for cluster mode: {} bytes, NATS max_payload is {}",
            request.len(),
            link.max_payload()
        ))));
    }
    let slot = Arc::new(ForwardSlot::default());
    s.forward = Some(Arc::clone(&slot));
    let shared = Arc::clone(&s.shared);
    let db = s.db;
    tokio::spawn(async move {
        let reply = forward(&link, &shared, request, db, resp3, user, commands).await;
        slot.set(reply);
    });
    Some(Routed::Pending)
}

/// Whether a queued command is one the owner must run.
fn queued_is_key_command(s: &Session, q: &Args) -> bool {
    s.shared
        .command_names
        .lookup(q.arg(0))
        .is_some_and(is_key_command)
}

/// Whether a queued command subscribes.
fn queued_subscribes(s: &Session, q: &Args) -> bool {
    s.shared
        .command_names
        .lookup(q.arg(0))
        .is_some_and(|c| matches!(c.name, "subscribe" | "psubscribe" | "ssubscribe"))
}

/// The command as it is sent on: EVALSHA (and EVALSHA_RO) of a script this
/// node has becomes EVAL with its text, since the owner may not have it.
fn with_script_text(s: &Session, args: &Args) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = args.to_vec();
    if out.len() >= 2 {
        let name = out[0].to_ascii_lowercase();
        let eval: &'static [u8] = match name.as_slice() {
            b"evalsha" => b"EVAL",
            b"evalsha_ro" => b"EVAL_RO",
            _ => return out,
        };
        let sha = String::from_utf8_lossy(&out[1]).to_ascii_lowercase();
        if let Some(body) = s.shared.scripts.body(&sha) {
            out[0] = Bytes::from_static(eval);
            out[1] = body;
        }
    }
    out
}

/// An error reply as RESP bytes (the same in RESP2 and RESP3).
fn error_bytes(text: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(text.len() + 3);
    out.put_u8(b'-');
    out.put_slice(text.as_bytes());
    out.put_slice(b"\r\n");
    out.freeze()
}

/// Sends `request` to the owner until one answers or [`FORWARD_TIMEOUT`]
/// passes; runs the commands here if this node is (or becomes) the owner
/// and is linked to NATS.
async fn forward(
    link: &Arc<Link>,
    shared: &Arc<Shared>,
    request: Bytes,
    db: usize,
    resp3: bool,
    user: Bytes,
    commands: Vec<Vec<Bytes>>,
) -> Bytes {
    let c = &link.keys.counters;
    let mut counted = false;
    let mut unlinked = false;
    let deadline = Instant::now() + FORWARD_TIMEOUT;
    loop {
        match link.owner() {
            Some(owner) if owner == link.node_id => {
                if link.linked() {
                    return execute(shared, db, resp3, &user, commands).await;
                }
                // Held: the others may be electing another owner.
                unlinked = true;
            }
            Some(owner) => {
                if !counted {
                    counted = true;
                    c.forwarded_out.fetch_add(1, Ordering::Relaxed);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                let req = async_nats::Request::new()
                    .payload(request.clone())
                    .timeout(Some(left));
                let subject = Subject::from(wire::node_subject(&link.name, &owner));
                // Counted as handed, like a publish, since the client's
                // connection counts a request as one frame taken. Only a
                // request given up while waiting for room in the client
                // (its owner left) is counted without being handed.
                let handed = &link.counters.client_handed;
                handed.fetch_add(1, Ordering::Relaxed);
                let asked = link.client.send_request(subject, req);
                let result = tokio::select! {
                    r = asked => r,
                    () = owner_left(link, &owner) => {
                        // It may have run before it died: never run it twice.
                        c.forward_failed.fetch_add(1, Ordering::Relaxed);
                        return error_bytes(
                            "ERR cluster: the node that owns the keys left during the command",
                        );
                    }
                };
                match result.as_ref().map_err(|e| e.kind()) {
                    Ok(_) | Err(RequestErrorKind::NoResponders) => {
                        link.counters.other_in.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(
                        RequestErrorKind::MaxPayloadExceeded | RequestErrorKind::InvalidSubject,
                    ) => {
                        handed.fetch_sub(1, Ordering::Relaxed);
                    }
                    Err(_) => {}
                }
                match result {
                    Ok(msg) if msg.payload.first() == Some(&b'R') => {
                        return msg.payload.slice(1..);
                    }
                    // Not the owner (any more): ask again.
                    Ok(_) => {}
                    // The owner has no subscription: it died or lost NATS.
                    Err(e) if e.kind() == RequestErrorKind::NoResponders => {}
                    Err(e) => {
                        // It may have run: never run it twice.
                        c.forward_failed.fetch_add(1, Ordering::Relaxed);
                        return error_bytes(&format!(
                            "ERR cluster: the node that owns the keys did not answer ({e})"
                        ));
                    }
                }
            }
            None => {}
        }
        if Instant::now() + FORWARD_RETRY >= deadline {
            c.forward_failed.fetch_add(1, Ordering::Relaxed);
            return error_bytes(if unlinked {
                "ERR cluster: this node lost its NATS link, try again"
            } else {
                "ERR cluster: no node owns the keys now, try again"
            });
        }
        tokio::time::sleep(FORWARD_RETRY).await;
    }
}

/// Returns once `owner` no longer owns the keys in this node's view (it
/// died or left), checking every [`FORWARD_RETRY`].
async fn owner_left(link: &Link, owner: &str) {
    loop {
        tokio::time::sleep(FORWARD_RETRY).await;
        if link.keys.owner.read().as_deref() != Some(owner) {
            return;
        }
    }
}

/// Runs forwarded commands here as a client logged in as `user` (the
/// sending node authenticated it; the nodes share their ACL configuration,
/// so what a script may reach is checked with the same rules), and returns
/// the last one's reply.
async fn execute(
    shared: &Arc<Shared>,
    db: usize,
    resp3: bool,
    user: &[u8],
    commands: Vec<Vec<Bytes>>,
) -> Bytes {
    if db >= shared.databases {
        return error_bytes("ERR DB index is out of range");
    }
    let nowhere = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let client = Arc::new(Client::new(
        shared.next_client_id(),
        Peer::tcp(nowhere, nowhere, -1),
    ));
    let mut s = Session::new(Arc::clone(shared), client);
    let Some(user) = shared.acl.get(user) else {
        return error_bytes(&format!(
            "NOPERM cluster: user '{}' does not exist on the node that owns the keys",
            String::from_utf8_lossy(user)
        ));
    };
    s.authenticated = true;
    s.user = user;
    s.no_forward = true;
    s.db = db;
    if resp3 {
        s.protocol = Protocol::Resp3;
    }
    let deadline = Instant::now() + FORWARD_TIMEOUT;
    let mut last = Bytes::new();
    for command in commands {
        let args = Args::from(command);
        loop {
            match crate::commands::dispatch(&mut s, &args) {
                crate::commands::Outcome::Done => break,
                crate::commands::Outcome::Wait { or_busy } => {
                    tokio::select! {
                        g = shared.hold_keyspace() => s.adopt_keyspace(g),
                        _ = shared.scripts.wait_busy(), if or_busy => {}
                    }
                }
                crate::commands::Outcome::Postponed(_) => {
                    if Instant::now() >= deadline {
                        return error_bytes("ERR cluster: the command was held too long");
                    }
                    tokio::time::sleep(FORWARD_RETRY).await;
                }
            }
        }
        last = s.take_output();
    }
    last
}

impl Link {
    /// Whether this node owns the keyspace now.
    pub fn is_owner(&self) -> bool {
        self.keys.owner_self.load(Ordering::Relaxed)
    }

    /// The owner's node id, if there is one.
    pub fn owner(&self) -> Option<String> {
        self.keys.owner.read().clone()
    }

    /// Whether the NATS link is up now.
    pub fn linked(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Chooses the owner from this node's standing and the peers' (see the
    /// module docs): raises the epoch when this node takes the keys over,
    /// and gives the copy up when it no longer follows the owner's epoch.
    pub(super) fn choose_owner(&self) {
        // Held throughout, so two callers cannot both take the keys over.
        let mut current = self.keys.owner.write();
        let mine = self.keys.standing();
        let (owner, owner_epoch, top) =
            {
                let view = self.view.read();
                let mut best: Option<(Reverse<u64>, u64, &str)> = (mine.rank != UNSYNCED)
                    .then_some((Reverse(mine.epoch), mine.rank, self.node_id.as_str()));
                let mut top = mine.epoch;
                for (id, s) in view.standings() {
                    top = top.max(s.epoch);
                    let k = (Reverse(s.epoch), s.rank, id);
                    if s.rank != UNSYNCED && best.is_none_or(|b| k < b) {
                        best = Some(k);
                    }
                }
                let owner = best.map(|(e, _, id)| (id.to_string(), e.0));
                (owner.as_ref().map(|o| o.0.clone()), owner.map(|o| o.1), top)
            };
        let is_self = owner.as_deref() == Some(self.node_id.as_str());
        let was_self = self.keys.owner_self.swap(is_self, Ordering::Relaxed);
        if is_self && !was_self {
            self.keys.epoch.store(top + 1, Ordering::Relaxed);
            self.report_now.store(true, Ordering::Relaxed);
            tracing::info!("cluster: this node owns the keys (epoch {})", top + 1);
        } else if !is_self && mine.rank != UNSYNCED && (was_self || owner_epoch != Some(mine.epoch))
        {
            // Another node took the keys over since this copy was made: it
            // may lack changes the new owner has, or hold some it lacks.
            self.give_up("another node owns the keys now");
        }
        if *current != owner {
            tracing::info!(
                "cluster: the keys' owner is now {}",
                owner.as_deref().unwrap_or("(none)")
            );
            *current = owner;
        }
    }

    /// Gives this node's copy up (it may be stale): no longer a candidate,
    /// it waits for a snapshot, keeping its rank as its claim.
    fn give_up(&self, why: &str) {
        let rank = self.keys.rank.swap(UNSYNCED, Ordering::Relaxed);
        if rank != UNSYNCED {
            self.keys.claim.store(rank, Ordering::Relaxed);
            self.keys.owner_self.store(false, Ordering::Relaxed);
            self.report_now.store(true, Ordering::Relaxed);
            tracing::warn!("cluster: {why}; asking for a new copy of the keys");
        }
    }

    /// A change from the owner could not be queued: this copy is no longer
    /// whole, so the node stops being a candidate and asks for a snapshot.
    pub(super) fn lost_change(&self) {
        self.keys
            .counters
            .updates_dropped
            .fetch_add(1, Ordering::Relaxed);
        if !self.is_owner() && self.keys.rank() != UNSYNCED {
            self.give_up("fell behind the keys' owner");
            self.choose_owner();
        }
    }

    /// Sends a change of the keyspace to the other nodes if this node owns
    /// it (the keyspace's change hook).
    fn on_change(&self, change: Change<'_>) {
        if !self.is_owner() {
            return;
        }
        let epoch = self.keys.epoch();
        let frame = match change {
            Change::Key { db, key, entry } => wire::encode_key(
                epoch,
                db as u32,
                key,
                entry.map(|e| (&e.value[..], e.expires_at)),
            ),
            Change::Flush(db) => wire::encode_db(epoch, DbChange::Flush(db as u32)),
            Change::Swap(a, b) => wire::encode_db(epoch, DbChange::Swap(a as u32, b as u32)),
        };
        let c = &self.keys.counters;
        if frame.len() <= self.max_payload() && self.queue_frame(frame) {
            c.updates_out.fetch_add(1, Ordering::Relaxed);
        } else {
            c.updates_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Starts the key tasks: serving forwarded commands, applying the
    /// owner's changes, and the keyspace's change hook.
    pub(super) async fn start_keys(self: &Arc<Self>, shared: &Arc<Shared>) -> Result<(), String> {
        let inbox = self
            .client
            .subscribe(Subject::from(wire::node_subject(&self.name, &self.node_id)))
            .await
            .map_err(|e| format!("cannot subscribe on NATS: {e}"))?;
        let weak: Weak<Link> = Arc::downgrade(self);
        shared.hold_keyspace().await.on_change = Some(Arc::new(move |change| {
            if let Some(link) = weak.upgrade() {
                link.on_change(change);
            }
        }));
        if let Some(rx) = self.keys.replica_rx.lock().take() {
            tokio::spawn(apply_loop(Arc::clone(self), Arc::clone(shared), rx));
        }
        tokio::spawn(serve_loop(Arc::clone(self), Arc::clone(shared), inbox));
        Ok(())
    }

    /// The report loop's turn for keys: give the copy up after an outage,
    /// take the keys back when no live node holds them, choose the owner,
    /// and offer snapshots to unsynced nodes when owning.
    pub(super) fn keys_tick(self: &Arc<Self>, shared: &Arc<Shared>, connected: bool) {
        let now = Instant::now();
        let disconnects = self.counters.disconnects.load(Ordering::Relaxed);
        let blipped = self
            .keys
            .disconnects_seen
            .swap(disconnects, Ordering::Relaxed)
            != disconnects;
        if connected {
            *self.keys.down_since.lock() = None;
            let mut linked_at = self.keys.linked_at.lock();
            if blipped {
                *linked_at = Some(now);
            }
            linked_at.get_or_insert(now);
        } else {
            *self.keys.linked_at.lock() = None;
            self.keys.down_since.lock().get_or_insert(now);
        }
        let down_for = self.keys.down_since.lock().map(|t| now.duration_since(t));
        if !self.is_owner() && (blipped || down_for.is_some()) {
            // The owner's changes sent meanwhile never reached this node.
            self.give_up("lost the NATS link");
        } else if self.is_owner() && down_for.is_some_and(|d| d >= STALE_AFTER) {
            self.give_up("no NATS link for too long: the others may elect another owner");
            self.choose_owner();
        } else if self.is_owner() && blipped && connected {
            // Changes in the lost connection's buffers never left: a new
            // epoch makes every copy start afresh from this one.
            let top = self
                .view
                .read()
                .standings()
                .map(|(_, s)| s.epoch)
                .fold(self.keys.epoch(), u64::max);
            self.keys.epoch.store(top + 1, Ordering::Relaxed);
            self.report_now.store(true, Ordering::Relaxed);
            tracing::info!("cluster: relinked as the keys' owner (epoch {})", top + 1);
        }
        let linked_for = self.keys.linked_at.lock().map(|t| now.duration_since(t));
        if self.keys.rank() == UNSYNCED && linked_for.is_some_and(|d| d >= JOIN_WAIT) {
            self.take_back();
        }
        self.choose_owner();
        if !self.is_owner() || !connected {
            return;
        }
        let (joining, next_rank) = {
            let view = self.view.read();
            let joining: Vec<String> = view
                .standings()
                .filter(|(_, s)| s.rank == UNSYNCED)
                .map(|(id, _)| id.to_string())
                .collect();
            let top = view
                .standings()
                .map(|(_, s)| s.rank)
                .filter(|r| *r != UNSYNCED)
                .chain([self.keys.rank()])
                .max()
                .unwrap_or(0);
            (joining, top + 1)
        };
        let mut offered = self.keys.offered.lock();
        offered.retain(|id, _| joining.contains(id));
        for id in joining {
            let due = offered
                .get(&id)
                .is_none_or(|t| now.duration_since(*t) >= SNAPSHOT_RETRY);
            if due {
                offered.insert(id.clone(), now);
                tokio::spawn(send_snapshot(
                    Arc::clone(self),
                    Arc::clone(shared),
                    id,
                    next_rank,
                ));
            }
        }
    }
}

impl Link {
    /// When no live node holds the keys, the node with the best claim
    /// (highest epoch, then lowest rank held; a node that never held them
    /// comes last, then node ids) takes them back as it holds them.
    fn take_back(&self) {
        let claim_key = |s: Standing| (s.claim == UNSYNCED, Reverse(s.epoch), s.claim);
        let mine = self.keys.standing();
        let best = {
            let view = self.view.read();
            if view.standings().any(|(_, s)| s.rank != UNSYNCED) {
                return;
            }
            !view
                .standings()
                .any(|(id, s)| (claim_key(s), id) < (claim_key(mine), self.node_id.as_str()))
        };
        if !best {
            return;
        }
        let rank = if mine.claim == UNSYNCED {
            0
        } else {
            mine.claim
        };
        self.keys.synced_from.lock().clear();
        self.keys.rank.store(rank, Ordering::Relaxed);
        self.report_now.store(true, Ordering::Relaxed);
        tracing::info!(
            "cluster: no live node holds the keys; this node holds them as they are (rank {rank})"
        );
    }
}

/// Sends the whole keyspace to a joining node, in chunks queued together
/// under the keyspace lock, so no change falls between them.
async fn send_snapshot(link: Arc<Link>, shared: Arc<Shared>, target: String, rank: u64) {
    let g = shared.hold_keyspace().await;
    if !link.is_owner() {
        return;
    }
    let max = link.max_payload();
    let standing = (rank, link.keys.epoch(), link.keys.rank());
    let mut frames = Vec::new();
    let mut chunk: Vec<SnapEntry> = Vec::new();
    let mut size = 0;
    for db in 0..g.count() {
        for (key, e) in g.entries(db) {
            let n = wire::SNAP_ENTRY_OVERHEAD + key.len() + e.value.len();
            if wire::SNAPSHOT_HEADER_MAX + n > max {
                tracing::warn!(
                    "cluster: key of {n} bytes is over NATS max_payload; cannot copy the keys to {target}"
                );
                link.keys
                    .counters
                    .updates_dropped
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
            if !chunk.is_empty() && size + n > SNAPSHOT_CHUNK_BYTES {
                let index = frames.len() as u32;
                frames.push(wire::encode_snapshot(
                    &target,
                    &link.node_id,
                    standing,
                    index,
                    false,
                    &chunk,
                ));
                chunk.clear();
                size = 0;
            }
            size += n;
            chunk.push((db as u32, key.clone(), e.value.clone(), e.expires_at));
        }
    }
    let index = frames.len() as u32;
    frames.push(wire::encode_snapshot(
        &target,
        &link.node_id,
        standing,
        index,
        true,
        &chunk,
    ));
    for f in frames {
        if !link.queue_frame(f) {
            // The rest would be useless: the target waits for a new one.
            link.keys
                .counters
                .updates_dropped
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    link.keys
        .counters
        .snapshots_out
        .fetch_add(1, Ordering::Relaxed);
    drop(g);
    tracing::info!("cluster: sent the keys to joining node {target} (rank {rank})");
}

/// Applies the owner's changes and snapshots in the order they came, in
/// batches under the keyspace lock, until shutdown.
async fn apply_loop(link: Arc<Link>, shared: Arc<Shared>, mut rx: mpsc::Receiver<Bytes>) {
    // The snapshot being received: its rank and the next chunk expected.
    let mut receiving: Option<(u64, u32)> = None;
    let mut batch = Vec::with_capacity(REPLICA_BATCH);
    loop {
        let first = tokio::select! {
            f = rx.recv() => f,
            _ = shared.shutdown.cancelled() => None,
        };
        let Some(first) = first else {
            return;
        };
        batch.push(first);
        while batch.len() < REPLICA_BATCH {
            match rx.try_recv() {
                Ok(f) => batch.push(f),
                Err(_) => break,
            }
        }
        let mut g = shared.hold_keyspace().await;
        // Changes applied here are not this node's to send on.
        let hook = g.on_change.take();
        for frame in batch.drain(..) {
            match wire::decode(frame) {
                // Only the owner's changes of this copy's epoch: not a
                // replaced owner's, sent late after it relinked.
                Some(Frame::Key(k)) if follows(&link, k.epoch) => apply_key(&link, &mut g, k),
                Some(Frame::Db(epoch, change)) if follows(&link, epoch) => apply_db(&mut g, change),
                Some(Frame::Snapshot(snap)) if snap.target == link.node_id => {
                    if link.keys.rank() != UNSYNCED {
                        continue;
                    }
                    let expected = match receiving {
                        _ if snap.index == 0 => {
                            g.flush_all();
                            0
                        }
                        Some((rank, next)) if rank == snap.rank => next,
                        _ => continue,
                    };
                    if snap.index != expected {
                        receiving = None;
                        continue;
                    }
                    for (db, key, value, at) in snap.entries {
                        if (db as usize) < g.count() {
                            g.store(db as usize, &key, value, at);
                        }
                    }
                    receiving = Some((snap.rank, expected + 1));
                    if snap.last {
                        receiving = None;
                        link.keys.epoch.store(snap.epoch, Ordering::Relaxed);
                        *link.keys.synced_from.lock() = snap.from.clone();
                        link.keys.rank.store(snap.rank, Ordering::Relaxed);
                        // Its report may come later: without it this node
                        // would see no better candidate than itself.
                        let owner = Standing {
                            rank: snap.from_rank,
                            epoch: snap.epoch,
                            claim: snap.from_rank,
                        };
                        link.view.write().note(&snap.from, owner, Instant::now());
                        link.report_now.store(true, Ordering::Relaxed);
                        link.keys
                            .counters
                            .snapshots_in
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            "cluster: holds a copy of the keys from {} (rank {}, epoch {})",
                            snap.from,
                            snap.rank,
                            snap.epoch
                        );
                    }
                }
                _ => {}
            }
        }
        // Stores record `new` events; nobody is to publish them here.
        let _ = g.take_events();
        g.on_change = hook;
        drop(g);
        link.choose_owner();
    }
}

/// Whether a change of `epoch` belongs to this node's copy.
fn follows(link: &Link, epoch: u64) -> bool {
    !link.is_owner() && link.keys.rank() != UNSYNCED && link.keys.epoch() == epoch
}

fn apply_key(link: &Link, ks: &mut Keyspace, k: wire::KeyUpdate) {
    let db = k.db as usize;
    if db >= ks.count() {
        return;
    }
    match k.value {
        Some((value, at)) => ks.store(db, &k.key, value, at),
        None => {
            ks.delete(db, &k.key, now_ms());
        }
    }
    link.keys
        .counters
        .updates_in
        .fetch_add(1, Ordering::Relaxed);
}

fn apply_db(ks: &mut Keyspace, change: DbChange) {
    match change {
        DbChange::Flush(db) if (db as usize) < ks.count() => ks.flush_db(db as usize),
        DbChange::Swap(a, b) if (a as usize) < ks.count() && (b as usize) < ks.count() => {
            ks.swap(a as usize, b as usize)
        }
        _ => {}
    }
}

/// Answers forwarded commands until shutdown: runs them if this node owns
/// the keyspace, else says it does not.
async fn serve_loop(link: Arc<Link>, shared: Arc<Shared>, mut sub: async_nats::Subscriber) {
    loop {
        let msg = tokio::select! {
            m = sub.next() => m,
            _ = shared.shutdown.cancelled() => None,
        };
        let Some(msg) = msg else {
            return;
        };
        let Some(reply_to) = msg.reply else {
            link.counters.malformed_in.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let Ok(permit) = Arc::clone(&link.keys.serving).try_acquire_owned() else {
            let busy = [
                b"R".as_slice(),
                &error_bytes("ERR cluster: too many forwarded commands"),
            ]
            .concat();
            link.counters.other_in.fetch_add(1, Ordering::Relaxed);
            link.queue_to(Some(reply_to), busy.into());
            continue;
        };
        let (link, shared) = (Arc::clone(&link), Arc::clone(&shared));
        tokio::spawn(async move {
            let answer = if !link.is_owner() {
                link.counters.other_in.fetch_add(1, Ordering::Relaxed);
                Bytes::from_static(b"N")
            } else {
                let reply = match wire::decode(msg.payload) {
                    Some(Frame::Forward(f)) => {
                        link.counters.other_in.fetch_add(1, Ordering::Relaxed);
                        link.keys
                            .counters
                            .forwarded_in
                            .fetch_add(1, Ordering::Relaxed);
                        execute(&shared, f.db as usize, f.resp3, &f.user, f.commands).await
                    }
                    _ => {
                        link.counters.malformed_in.fetch_add(1, Ordering::Relaxed);
                        error_bytes("ERR cluster: malformed forwarded command")
                    }
                };
                let reply = if reply.len() < link.max_payload() {
                    reply
                } else {
                    error_bytes("ERR cluster: reply too large for NATS max_payload")
                };
                [b"R".as_slice(), &reply].concat().into()
            };
            // Behind the changes and messages the command made, so a
            // client that has its reply knows they left this node first.
            link.queue_to(Some(reply_to), answer);
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_commands_are_the_ones_that_reach_keys() {
        let names = crate::commands::table::lookup;
        for name in [
            "incr", "get", "set", "del", "eval", "evalsha", "fcall", "keys", "flushall",
        ] {
            let cmd = names(name.as_bytes()).expect(name);
            assert!(is_key_command(cmd), "{name}");
        }
        for name in [
            "publish",
            "subscribe",
            "ping",
            "info",
            "script",
            "watch",
            "multi",
        ] {
            let cmd = names(name.as_bytes()).expect(name);
            assert!(!is_key_command(cmd), "{name}");
        }
    }

    #[test]
    fn a_slot_hands_over_its_reply_once() {
        let slot = ForwardSlot::default();
        assert!(!slot.is_ready());
        slot.set(Bytes::from_static(b":1\r\n"));
        assert!(slot.is_ready());
        assert_eq!(slot.take(), Some(Bytes::from_static(b":1\r\n")));
        assert_eq!(slot.take(), None);
    }
}

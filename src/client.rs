//! A connected client as the rest of the server sees it.
//!
//! The connection task owns the client's private session state; this shared
//! part is what publishers (to deliver), `CLIENT LIST`/`KILL` (to show and
//! close) and the periodic sweep (limits, idle timeout) need.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use crate::config::ClassLimit;
use crate::protocol::Protocol;
use crate::pubsub::{Outbox, PushOutcome, SharedFrame};
use crate::shared::Shared;
use crate::stats::Stats;

/// Output an unauthenticated client may have waiting before it is
/// disconnected. Redis 7 closes a client that must still authenticate as
/// soon as its output spills past its 16 KiB reply buffer (its
/// `PROTO_REPLY_CHUNK_BYTES`; the fix for CVE-2025-21605 allows 1 KiB beyond
/// it, less than any spill block), so pipelining `AUTH x` without reading
/// costs the server little per connection. Not configurable, as in Redis.
pub const UNAUTH_OUTPUT_LIMIT: u64 = 16 * 1024;

/// Process start, the origin of [`coarse_now_ms`].
static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);
/// A clock for bookkeeping that needs no precision (idle times): read
/// once per command, so it is a relaxed atomic load instead of a
/// `clock_gettime`; [`tick_coarse_clock`] advances it from the sweep.
static COARSE_MS: AtomicU64 = AtomicU64::new(0);

/// Milliseconds since start, as of the last [`tick_coarse_clock`].
pub fn coarse_now_ms() -> u64 {
    COARSE_MS.load(Ordering::Relaxed)
}

/// Microseconds since start, read from the clock now.
pub fn now_us() -> u64 {
    EPOCH.elapsed().as_micros() as u64
}

/// Advances the coarse clock (called by the sweep every 100 ms).
pub fn tick_coarse_clock() {
    COARSE_MS.store(EPOCH.elapsed().as_millis() as u64, Ordering::Relaxed);
}

/// Why the server closed a client, for logs and INFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Output over the pubsub (or normal) hard limit, or over the soft limit
    /// for too long.
    SlowConsumer,
    /// CLIENT KILL.
    Killed,
    /// Idle longer than `timeout`.
    IdleTimeout,
    /// Query buffer over `client-query-buffer-limit`.
    QueryBufferLimit,
}

impl CloseReason {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::SlowConsumer => "slow consumer: output buffer limit reached",
            CloseReason::Killed => "killed by CLIENT KILL",
            CloseReason::IdleTimeout => "idle timeout",
            CloseReason::QueryBufferLimit => "query buffer limit reached",
        }
    }
}

/// One end of a client's connection, shown as `ip:port` (TCP) or `path:0`
/// (Unix socket). Kept as the address itself, formatted when shown, so a
/// connection holds no strings.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path (shared by every client of that listener).
    Unix(std::sync::Arc<str>),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(a) => a.fmt(f),
            Endpoint::Unix(path) => write!(f, "{path}:0"),
        }
    }
}

/// Where a client is connected from.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The remote end.
    pub addr: Endpoint,
    /// The local end.
    pub laddr: Endpoint,
    /// True for loopback TCP and Unix socket clients (protected mode).
    pub local: bool,
    /// True for Unix socket clients.
    pub unix: bool,
    /// The socket's descriptor number, shown as `fd=` (-1 when unknown);
    /// a descriptor's own type, which packs with the flags above.
    pub fd: i32,
}

impl Peer {
    /// A TCP peer.
    pub fn tcp(remote: SocketAddr, local: SocketAddr, fd: i32) -> Peer {
        Peer {
            addr: Endpoint::Tcp(remote),
            laddr: Endpoint::Tcp(local),
            local: is_loopback(&remote),
            unix: false,
            fd,
        }
    }
}

/// Loopback as protected mode understands it: 127.0.0.0/8 and ::1
/// (including IPv4-mapped loopback).
fn is_loopback(addr: &SocketAddr) -> bool {
    match addr {
        SocketAddr::V4(a) => a.ip().is_loopback(),
        SocketAddr::V6(a) => {
            a.ip().is_loopback() || a.ip().to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The client-settable, CLIENT LIST-visible fields.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// CLIENT SETNAME.
    pub name: Bytes,
    /// CLIENT SETINFO lib-name and lib-ver (boxed: most clients set
    /// neither, and every connection carries this struct).
    pub lib: Option<Box<[Bytes; 2]>>,
    /// SELECTed database.
    pub db: usize,
    /// CLIENT NO-EVICT on.
    pub no_evict: bool,
    /// CLIENT NO-TOUCH on.
    pub no_touch: bool,
    /// Inside MULTI: number of queued commands, else None.
    pub multi: Option<usize>,
    /// Bytes waiting in the query buffer (`qbuf=`).
    pub qbuf: usize,
    /// Capacity of the query buffer (`qbuf-free=` is capacity - qbuf).
    pub qbuf_cap: usize,
    /// The ACL user, when not `default` (`user=`); boxed, as `lib`.
    pub user: Option<Box<Bytes>>,
}

/// Pushes held back during a client's EXEC or script, and their bytes.
type Deferred = (Vec<Bytes>, usize);

/// A connected client.
pub struct Client {
    /// CLIENT ID: unique, increasing, never reused.
    pub id: u64,
    /// Where it connected from.
    pub peer: Peer,
    /// When it connected.
    pub created: Instant,
    /// Everything it will be sent, in order.
    pub outbox: Outbox,
    /// CLIENT SETNAME and friends.
    pub info: Mutex<ClientInfo>,
    resp3: AtomicBool,
    /// Subscription counts (CLIENT LIST, the output-buffer class), 32 bits
    /// each to keep every connection's client small; saturated, never
    /// wrapped.
    channels: AtomicU32,
    patterns: AtomicU32,
    shard_channels: AtomicU32,
    /// [`coarse_now_ms`] at the last command.
    last_active_ms: AtomicU64,
    /// The client must still authenticate: its output is bounded by
    /// [`UNAUTH_OUTPUT_LIMIT`] whatever its class.
    unauthenticated: AtomicBool,
    /// The last command run, as its table identity (0 before the first):
    /// an atomic word, not a field under the `info` lock, since it changes
    /// with every command.
    last_cmd: AtomicUsize,
    close_reason: Mutex<Option<CloseReason>>,
    /// While set, pushes wait in `deferred` (during this client's EXEC or
    /// script, so they follow its reply as in Redis 7.2).
    defer: AtomicBool,
    /// The held pushes and their bytes; boxed while any are held, as few
    /// clients ever hold some.
    deferred: Mutex<Option<Box<Deferred>>>,
    /// [`now_us`] + 1 when flow control paused this client's reading (see
    /// [`crate::pubsub::flow`]); 0 while it is not paused.
    paused_since_us: AtomicU64,
}

impl Client {
    /// A new client with id `id`.
    pub fn new(id: u64, peer: Peer) -> Client {
        let now = Instant::now();
        Client {
            id,
            peer,
            created: now,
            outbox: Outbox::new(),
            info: Mutex::new(ClientInfo::default()),
            resp3: AtomicBool::new(false),
            channels: AtomicU32::new(0),
            patterns: AtomicU32::new(0),
            shard_channels: AtomicU32::new(0),
            last_active_ms: AtomicU64::new(coarse_now_ms()),
            unauthenticated: AtomicBool::new(false),
            last_cmd: AtomicUsize::new(0),
            close_reason: Mutex::new(None),
            defer: AtomicBool::new(false),
            deferred: Mutex::new(None),
            paused_since_us: AtomicU64::new(0),
        }
    }

    /// A snapshot of the settable fields.
    pub fn info(&self) -> ClientInfo {
        match self.info.lock() {
            Ok(i) => i.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Runs `f` on the settable fields.
    pub fn with_info<T>(&self, f: impl FnOnce(&mut ClientInfo) -> T) -> T {
        match self.info.lock() {
            Ok(mut i) => f(&mut i),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// The protocol pushes to this client must be encoded in.
    pub fn protocol(&self) -> Protocol {
        if self.resp3.load(Ordering::Relaxed) {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        }
    }

    /// Switches the protocol (HELLO, RESET).
    pub fn set_protocol(&self, p: Protocol) {
        self.resp3.store(p == Protocol::Resp3, Ordering::Relaxed);
    }

    /// Updates the subscription counts shown by CLIENT LIST and used to pick
    /// the output-buffer class.
    pub fn set_subscription_counts(&self, channels: usize, patterns: usize, shard: usize) {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.channels.store(count(channels), Ordering::Relaxed);
        self.patterns.store(count(patterns), Ordering::Relaxed);
        self.shard_channels.store(count(shard), Ordering::Relaxed);
    }

    /// (channels, patterns, shard channels) subscribed.
    pub fn subscription_counts(&self) -> (usize, usize, usize) {
        (
            self.channels.load(Ordering::Relaxed) as usize,
            self.patterns.load(Ordering::Relaxed) as usize,
            self.shard_channels.load(Ordering::Relaxed) as usize,
        )
    }

    /// Whether the client is in pub/sub (has any subscription): it then falls
    /// in the `pubsub` output-buffer class and is exempt from `timeout`.
    pub fn is_pubsub(&self) -> bool {
        let (c, p, s) = self.subscription_counts();
        c + p + s > 0
    }

    /// Records `cmd` as the last command run (CLIENT LIST `cmd=`).
    pub fn set_last_command(&self, cmd: &'static crate::commands::table::Command) {
        self.last_cmd
            .store(crate::commands::table::identity(cmd), Ordering::Relaxed);
    }

    /// The last command's names (command, subcommand) for CLIENT LIST's
    /// `cmd=`; None before the first.
    pub fn last_command(&self) -> Option<(&'static str, Option<&'static str>)> {
        crate::commands::table::names_by_identity(self.last_cmd.load(Ordering::Relaxed))
    }

    /// Records activity now (for `idle=` and `timeout`).
    pub fn touch(&self) {
        self.last_active_ms
            .store(coarse_now_ms(), Ordering::Relaxed);
    }

    /// Milliseconds since this client last sent a command.
    pub fn idle_ms(&self) -> u64 {
        coarse_now_ms().saturating_sub(self.last_active_ms.load(Ordering::Relaxed))
    }

    /// Records whether the client has authenticated (or needs not), which
    /// decides its output limit. Called before each request is parsed, so
    /// the replies to a request count against the limit that applies after
    /// it ran; writes only when the state changes.
    pub fn note_authenticated(&self, authenticated: bool) {
        if self.unauthenticated.load(Ordering::Relaxed) == authenticated {
            self.unauthenticated
                .store(!authenticated, Ordering::Relaxed);
        }
    }

    /// The output limits of this client's class; before authentication,
    /// [`UNAUTH_OUTPUT_LIMIT`] as a hard limit.
    pub fn limit(&self, shared: &Shared) -> ClassLimit {
        if self.unauthenticated.load(Ordering::Relaxed) {
            ClassLimit {
                hard: UNAUTH_OUTPUT_LIMIT,
                soft: 0,
                soft_seconds: 0,
            }
        } else if self.is_pubsub() {
            shared.settings.pubsub_limit()
        } else {
            shared.settings.normal_limit()
        }
    }

    /// Queues a push for this client without waiting. A client that goes
    /// over its output limit is disconnected here (and the disconnection
    /// logged and counted), never left connected with a message missing.
    pub fn deliver(self: &Arc<Self>, shared: &Shared, frame: SharedFrame<'_>) {
        if self.defer.load(Ordering::Acquire) {
            let mut held = match self.deferred.lock() {
                Ok(h) => h,
                Err(p) => p.into_inner(),
            };
            // Re-check under the lock: release may have just run.
            if self.defer.load(Ordering::Acquire) {
                let frames = held.get_or_insert_default();
                frames.1 += frame.as_slice().len();
                frames.0.push(frame.to_bytes());
                let over = self.limit(shared).hard;
                let total = frames.1 + self.outbox.pending();
                drop(held);
                if over > 0 && total as u64 > over {
                    self.kill_slow_consumer(shared);
                }
                return;
            }
        }
        let limit = self.limit(shared);
        let (outcome, was_empty) = self.outbox.push_shared_quiet(frame, limit);
        if outcome == PushOutcome::OverLimit {
            self.kill_slow_consumer(shared);
            return;
        }
        if was_empty {
            crate::pubsub::wakeups::wake(self);
        }
        if self
            .outbox
            .flow
            .after_delivery(self.outbox.pending(), limit)
        {
            crate::pubsub::flow::note_behind(self);
        }
    }

    /// Queues output this client's own connection task produced (replies,
    /// subscribe confirmations, its deferred pushes); that task writes it
    /// before it next waits. Other clients' messages go through
    /// [`Client::deliver`].
    pub fn send(&self, shared: &Shared, bytes: Bytes) {
        if self.outbox.push_own(bytes, self.limit(shared)) == PushOutcome::OverLimit {
            self.kill_slow_consumer(shared);
        }
    }

    /// Holds back pushes until [`Client::release_pushes`].
    pub fn defer_pushes(&self) {
        self.defer.store(true, Ordering::Release);
    }

    /// Queues the held-back pushes after the reply that caused them.
    pub fn release_pushes(&self, shared: &Shared) {
        let frames = {
            let mut held = match self.deferred.lock() {
                Ok(h) => h,
                Err(p) => p.into_inner(),
            };
            self.defer.store(false, Ordering::Release);
            held.take().map(|h| h.0).unwrap_or_default()
        };
        for f in frames {
            self.send(shared, f);
        }
    }

    /// Records that flow control paused (`true`) or resumed this client's
    /// reading; a resume adds the pause to INFO's counters.
    pub fn set_paused(&self, shared: &Shared, paused: bool, timed_out: bool) {
        if paused {
            self.paused_since_us.store(now_us() + 1, Ordering::Relaxed);
            Stats::incr(&shared.stats.publish_pauses);
            return;
        }
        let since = self.paused_since_us.swap(0, Ordering::Relaxed);
        if since > 0 {
            shared
                .stats
                .publish_paused_us
                .fetch_add(now_us().saturating_sub(since - 1), Ordering::Relaxed);
        }
        if timed_out {
            Stats::incr(&shared.stats.publish_pause_timeouts);
        }
    }

    /// Milliseconds this client's reading has been paused by flow control
    /// (CLIENT LIST `pause-ms=`); None while it is not paused.
    pub fn paused_ms(&self) -> Option<u64> {
        match self.paused_since_us.load(Ordering::Relaxed) {
            0 => None,
            since => Some(now_us().saturating_sub(since - 1) / 1000),
        }
    }

    /// Disconnects this client for exceeding its output limits.
    pub fn kill_slow_consumer(&self, shared: &Shared) {
        let omem = self.outbox.pending();
        if self.close(CloseReason::SlowConsumer) {
            shared
                .stats
                .output_limit_disconnections
                .fetch_add(1, Ordering::Relaxed);
            let info = self.info();
            tracing::warn!(
                id = self.id,
                addr = %self.peer.addr,
                name = %String::from_utf8_lossy(&info.name),
                omem,
                "slow consumer disconnected: client id={} addr={} name={} over its {} output buffer limit",
                self.id,
                self.peer.addr,
                String::from_utf8_lossy(&info.name),
                self.limit_class(),
            );
        }
    }

    /// The name of the output limit that applies to this client, for logs.
    fn limit_class(&self) -> &'static str {
        if self.unauthenticated.load(Ordering::Relaxed) {
            "unauthenticated"
        } else if self.is_pubsub() {
            "pubsub"
        } else {
            "normal"
        }
    }

    /// Closes the client at once for `reason`, discarding queued output.
    /// Returns false if it was already closing.
    pub fn close(&self, reason: CloseReason) -> bool {
        let first = match self.close_reason.lock() {
            Ok(mut r) => {
                let first = r.is_none();
                if first {
                    *r = Some(reason);
                }
                first
            }
            Err(_) => false,
        };
        if first {
            // Discarding closes the outbox, which ends the connection task.
            self.outbox.discard();
        }
        first
    }

    /// Why the server closed this client, if it did.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self.close_reason.lock() {
            Ok(r) => *r,
            Err(p) => *p.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection holds its client in an `Arc`: 16 bytes of counts,
    /// then the client. Up to this many bytes that is jemalloc's 512-byte
    /// class, which S4's figure (BENCHMARKS.md) counts on; one byte more
    /// and it is the 640-byte class.
    const CLIENT_MAX: usize = 496;

    #[test]
    fn a_client_fits_its_allocation_class() {
        let size = std::mem::size_of::<Client>();
        assert!(
            size <= CLIENT_MAX,
            "Client is {size} bytes, over {CLIENT_MAX}: box what most clients do not use"
        );
    }
}

//! One client connection, served by one task.
//!
//! The task waits for whichever comes first: the socket is readable, the
//! socket is writable again after a write would have blocked, or the
//! client's outbox has something new (a reply, a published message, a
//! close). It reads into a capped query buffer, runs every complete request,
//! and writes what the outbox holds with non-blocking vectored writes, all
//! in the same turn: a reply leaves in the poll that computed it, with no
//! hand-off to another task. One task (not a reader and a writer) keeps an
//! idle subscribed connection to one small allocation.
//!
//! Reading pauses (backpressure) while the client has more than
//! [`REPLY_BACKPRESSURE_BYTES`] of unwritten replies, so a client that
//! pipelines without reading cannot grow server memory without bound.
//!
//! A request that needs the keyspace while another client holds it (a
//! command on another worker, a transaction, a script) is not run then: the
//! connection keeps it aside and awaits the keyspace lock — still writing
//! its output, no longer reading — and runs it with the guard it gets. It
//! never blocks its worker thread on the lock, so clients waiting behind a
//! script cannot take the runtime's workers from everyone else.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::client::{Client, CloseReason};
use crate::commands;
use crate::commands::operator::Postpone;
use crate::keyspace::KeyspaceGuard;
use crate::logging::RateLimiter;
use crate::protocol::request::Limits;
use crate::protocol::{Args, Parsed, RequestParser};
use crate::pubsub::outbox::{Drained, WriteBatch};
use crate::pubsub::{flow, wakeups};
use crate::session::{REPLY_FLUSH_BYTES, Session};
use crate::shared::Shared;
use crate::stats::Stats;

/// Read the socket in chunks of this size (the query buffer grows past it
/// only while a large request is arriving).
pub const READ_CHUNK: usize = 16 * 1024;
/// Largest single growth of the query buffer for a large argument: it grows
/// with the data that arrives, never on a client's say-so alone.
pub const MAX_READ_RESERVE: usize = 1024 * 1024;
/// Stop reading a client's requests while this many bytes of its replies
/// are unwritten; resume once below.
pub const REPLY_BACKPRESSURE_BYTES: usize = 1024 * 1024;

/// A connected stream socket (TCP or Unix), used without blocking.
pub trait Socket: AsyncWrite + Unpin + Send + Sync + 'static {
    /// Ready when the socket may be readable.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Ready when the socket may be writable.
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Reads what is available into `buf` without waiting.
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize>;
    /// Writes what the socket takes now, without waiting.
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Sets the kernel send buffer's size (`SO_SNDBUF`).
    fn set_send_buffer(&self, bytes: usize) -> io::Result<()>;
    /// Writes output the socket itself still holds (TLS records encrypted
    /// but not yet taken by the kernel) without waiting. Returns false when
    /// some is left (wait for writability, then call again). A plain socket
    /// holds nothing.
    fn flush_pending(&self) -> io::Result<bool> {
        Ok(true)
    }
}

/// Implements [`Socket`] for a tokio stream type with the same-named
/// inherent methods.
macro_rules! socket_impl {
    ($t:ty) => {
        impl Socket for $t {
            fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                <$t>::poll_read_ready(self, cx)
            }
            fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                <$t>::poll_write_ready(self, cx)
            }
            fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
                // A read that leaves room in the buffer emptied the socket:
                // its readiness is cleared now (tokio's `try_io` does so on
                // WouldBlock, guarded against an event that came since), not
                // by one more read returning EAGAIN, which would cost a
                // syscall per message at a light load.
                let room = buf.capacity() - buf.len();
                let mut got = None;
                let r = self.try_io(tokio::io::Interest::READABLE, || {
                    let n = <$t>::try_read_buf(self, buf)?;
                    got = Some(n);
                    if n > 0 && n < room {
                        Err(io::ErrorKind::WouldBlock.into())
                    } else {
                        Ok(n)
                    }
                });
                match (r, got) {
                    (Err(e), Some(n)) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
                    (r, _) => r,
                }
            }
            fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                <$t>::try_write_vectored(self, bufs)
            }
            fn set_send_buffer(&self, bytes: usize) -> io::Result<()> {
                socket2::SockRef::from(self).set_send_buffer_size(bytes)
            }
        }
    };
}
socket_impl!(tokio::net::TcpStream);
socket_impl!(tokio::net::UnixStream);

/// Sleeps until `end`; forever for None (a WAIT with timeout 0).
async fn sleep_until(end: Option<std::time::Instant>) {
    match end {
        Some(end) => tokio::time::sleep_until(end.into()).await,
        None => std::future::pending().await,
    }
}

/// Warnings for protocol errors are rate-limited server-wide.
static PROTOCOL_WARNINGS: std::sync::LazyLock<RateLimiter> =
    std::sync::LazyLock::new(RateLimiter::default);

/// What woke the connection task.
enum Event {
    /// The socket may have data (or EOF).
    Readable,
    /// The socket may take more output.
    Writable,
    /// New output, a close, or shutdown: look again.
    Work,
    /// The receivers this client's publishes paused it for have drained
    /// (false), or the pause reached its bound (true).
    Unpause(bool),
    /// The request kept aside may run: with the keyspace it waited for, or
    /// without (a script turned busy and refuses it).
    Resume(Option<KeyspaceGuard>),
}

/// A request waiting for the keyspace.
struct Stalled {
    args: Args,
    /// Stop waiting when a script turns busy (the request is one a busy
    /// script refuses).
    or_busy: bool,
    /// Not waiting for the keyspace but for a CLIENT PAUSE to end or a
    /// WAIT's timeout.
    postponed: Option<Postpone>,
}

/// How the connection ended.
#[derive(PartialEq, Eq)]
enum End {
    /// Everything queued was written (QUIT, EOF, shutdown).
    Drained,
    /// The socket failed.
    IoError,
    /// The client was killed; its output was discarded.
    Killed,
}

/// A connection's state between turns.
struct Conn {
    session: Session,
    /// Bytes read and not yet parsed.
    buf: BytesMut,
    parser: RequestParser,
    /// Output taken from the outbox, partly written.
    batch: WriteBatch,
    /// False once requests are no longer read (EOF, QUIT, protocol error,
    /// shutdown): the connection then only drains its output.
    reading: bool,
    /// The last write would have blocked.
    write_blocked: bool,
    /// A request waiting for the keyspace (boxed: rare, and the
    /// connection's state is kept small).
    stalled: Option<Box<Stalled>>,
    /// Flow control holds this client's reading until its receivers catch
    /// up (see [`crate::pubsub::flow`]); boxed, as `stalled`.
    pause: Option<Box<flow::Pause>>,
    /// The socket's send buffer was set to [`flow::SUBSCRIBER_SNDBUF`].
    sndbuf_limited: bool,
}

/// Serves one client (already in the client table) until it disconnects,
/// is killed, or the server shuts down; then removes every trace of it
/// (subscriptions, client table).
pub async fn serve<S: Socket>(shared: Arc<Shared>, client: Arc<Client>, mut sock: S) {
    let mut conn = Conn {
        session: Session::new(shared, client),
        buf: BytesMut::new(),
        parser: RequestParser::new(),
        batch: WriteBatch::default(),
        reading: true,
        write_blocked: false,
        stalled: None,
        pause: None,
        sndbuf_limited: false,
    };
    let end = conn.run(&sock).await;
    if conn.reading {
        conn.stop_reading();
    }
    if end == End::Drained {
        let _ = sock.shutdown().await;
    }
    // WATCHes forgotten while the keyspace was held elsewhere leave its
    // registry now; the connection holds no guard here, so it may wait.
    let s = &mut conn.session;
    if s.unwatch_is_pending() {
        let guard = s.shared.hold_keyspace().await;
        s.adopt_keyspace(guard);
        s.finish_unwatch();
        s.release_keyspace();
    }
}

impl Conn {
    /// The connection's loop: write, wait, read and run, until it ends.
    async fn run<S: Socket>(&mut self, sock: &S) -> End {
        let shared = Arc::clone(&self.session.shared);
        let client = Arc::clone(&self.session.client);
        let mut written = 0u64;
        loop {
            if client.outbox.is_discarded() {
                return End::Killed;
            }
            if self.reading && shared.shutdown.is_cancelled() {
                self.stop_reading();
            }
            if !self.write_blocked {
                let step = client
                    .outbox
                    .write_queued(&mut self.batch, &mut written, |s| {
                        sock.try_write_vectored(s)
                    });
                if written > 0 {
                    shared
                        .stats
                        .net_output_bytes
                        .fetch_add(std::mem::take(&mut written), Ordering::Relaxed);
                }
                match step {
                    Ok(Drained::Empty) => match sock.flush_pending() {
                        Ok(true) => {}
                        Ok(false) => self.write_blocked = true,
                        Err(_) => return End::IoError,
                    },
                    Ok(Drained::Blocked) => self.write_blocked = true,
                    // More is queued: let the producers add to it (the
                    // next write then carries more), look at the socket,
                    // then come back to it.
                    Ok(Drained::More) => tokio::task::yield_now().await,
                    Ok(Drained::Closed) => return End::Drained,
                    Err(_) => return End::IoError,
                }
            }
            let event = if let Some(pause) = &self.pause {
                // Paused by flow control: writing this client's output
                // still, not reading its requests. (Each wait here is
                // boxed: held inline, the largest would size every
                // connection's task, idle or not.)
                tokio::select! {
                    timed_out = Box::pin(pause.wait()) => Ok(Event::Unpause(timed_out)),
                    e = self.next_event(sock, false) => e,
                }
            } else if let Some(why) = self.stalled.as_ref().and_then(|st| st.postponed) {
                // Rare: held by CLIENT PAUSE or in a WAIT, still writing
                // this client's output (a fresh wait each turn loses
                // nothing: the pause is checked again, the deadline is
                // kept). Requests are still read, into the query buffer
                // and its limit, so a client that hangs up is seen.
                let read = self.reading && client.outbox.pending() <= REPLY_BACKPRESSURE_BYTES;
                match why {
                    Postpone::Pause => tokio::select! {
                        _ = Box::pin(shared.pause.changed()) => Ok(Event::Resume(None)),
                        e = self.next_event(sock, read) => e,
                    },
                    Postpone::Until(end) => tokio::select! {
                        _ = Box::pin(sleep_until(end)) => Ok(Event::Resume(None)),
                        e = self.next_event(sock, read) => e,
                    },
                    Postpone::Forward => match self.session.forward.clone() {
                        Some(slot) => tokio::select! {
                            _ = Box::pin(slot.wait()) => Ok(Event::Resume(None)),
                            e = self.next_event(sock, read) => e,
                        },
                        None => Ok(Event::Resume(None)),
                    },
                }
            } else if let Some(stall) = &self.stalled {
                // Rare: waiting for the keyspace, while still writing this
                // client's output. (A fresh wait each turn loses nothing: it
                // tries the lock before it sleeps.)
                let or_busy = stall.or_busy;
                tokio::select! {
                    g = Box::pin(shared.hold_keyspace()) => Ok(Event::Resume(Some(g))),
                    _ = Box::pin(shared.scripts.wait_busy()), if or_busy => Ok(Event::Resume(None)),
                    e = self.next_event(sock, false) => e,
                }
            } else {
                let read = self.reading && client.outbox.pending() <= REPLY_BACKPRESSURE_BYTES;
                self.next_event(sock, read).await
            };
            match event {
                Ok(Event::Readable) => {
                    if !self.read(sock) {
                        return End::IoError;
                    }
                    if self.reading && self.over_query_limit() {
                        continue;
                    }
                    self.run_buffered();
                    if !self.sndbuf_limited && client.is_pubsub() {
                        // Best effort: a socket that refuses keeps the
                        // kernel's sizing.
                        let _ = sock.set_send_buffer(flow::SUBSCRIBER_SNDBUF);
                        self.sndbuf_limited = true;
                    }
                }
                Ok(Event::Unpause(timed_out)) => self.resume(timed_out),
                Ok(Event::Resume(guard)) => {
                    if let Some(g) = guard {
                        self.session.adopt_keyspace(g);
                    }
                    if let Some(Postpone::Until(_)) =
                        self.stalled.as_ref().and_then(|st| st.postponed)
                    {
                        self.session.wait_done = true;
                    }
                    self.run_buffered();
                }
                Ok(Event::Writable) => self.write_blocked = false,
                Ok(Event::Work) => {}
                Err(_) => return End::IoError,
            }
        }
    }

    /// Waits for the next thing to do. Polls the socket's readiness
    /// directly and registers with the outbox's waker, so waiting holds no
    /// future state beyond the connection's own.
    fn next_event<'a, S: Socket>(
        &'a self,
        sock: &'a S,
        read: bool,
    ) -> impl Future<Output = io::Result<Event>> + 'a {
        let shared = &self.session.shared;
        let outbox = &self.session.client.outbox;
        poll_fn(move |cx| {
            outbox.register(cx.waker());
            if outbox.is_discarded() || self.reading && shared.shutdown.is_cancelled() {
                return Poll::Ready(Ok(Event::Work));
            }
            // Each event spends tokio's cooperative budget, so a client with
            // endless input or output still lets other tasks run.
            let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
            // Requests first: a client flooded with messages must still have
            // its own commands (UNSUBSCRIBE, PING) read.
            if read && let Poll::Ready(r) = sock.poll_read_ready(cx) {
                coop.made_progress();
                return Poll::Ready(r.map(|()| Event::Readable));
            }
            if self.write_blocked {
                if let Poll::Ready(r) = sock.poll_write_ready(cx) {
                    coop.made_progress();
                    return Poll::Ready(r.map(|()| Event::Writable));
                }
            } else if outbox.has_queued(&self.batch) || outbox.is_closed() {
                coop.made_progress();
                return Poll::Ready(Ok(Event::Work));
            }
            Poll::Pending
        })
    }

    /// Reads what the socket has. Returns false if the socket failed.
    fn read<S: Socket>(&mut self, sock: &S) -> bool {
        let shared = &self.session.shared;
        let want = self.parser.wanted().clamp(READ_CHUNK, MAX_READ_RESERVE);
        self.buf.reserve(want);
        match sock.try_read_buf(&mut self.buf) {
            // EOF: what was complete has run; close once it is answered.
            Ok(0) => self.stop_reading(),
            Ok(n) => {
                shared
                    .stats
                    .net_input_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
        true
    }

    /// Runs every complete request buffered (after a stalled one, if any),
    /// hands the replies to the outbox, and applies the query-buffer limit.
    fn run_buffered(&mut self) {
        if !self.reading {
            self.session.release_keyspace();
            return;
        }
        // Receivers of this batch's publishes are woken once, at its end.
        let _wakes = wakeups::Batch::begin();
        let tally = flow::Batch::begin();
        // As in Redis, the query buffer keeps the batch's requests until they
        // have all run, so CLIENT LIST shows them in `qbuf=`.
        let batch_len = self.buf.len();
        self.session.client.with_info(|i| i.qbuf = batch_len);
        if self.run_requests() {
            self.stop_reading();
            return;
        }
        let s = &mut self.session;
        s.flush();
        if let Some(pause) = tally.end() {
            s.client.set_paused(&s.shared, true, false);
            self.pause = Some(Box::new(pause));
        }
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            // An idle connection keeps no read or reply buffer.
            self.buf = BytesMut::new();
            self.parser.release_idle_memory();
            s.release_idle_memory();
        }
        s.client.with_info(|i| {
            i.qbuf = self.buf.len();
            i.qbuf_cap = self.buf.capacity();
        });
    }

    /// Applies `client-query-buffer-limit` right after a read, before the
    /// requests run, as Redis does: to the bytes Redis would hold in its
    /// query buffer (what was read and not yet taken apart, framing bytes
    /// included), and also to the complete arguments of the request still
    /// arriving, which Redis keeps apart and pubsubd keeps in the buffer.
    /// Closes the connection without a reply and returns true if either is
    /// over the limit.
    fn over_query_limit(&mut self) -> bool {
        let shared = Arc::clone(&self.session.shared);
        let client = Arc::clone(&self.session.client);
        let limit = shared.settings.query_buffer_limit.load(Ordering::Relaxed);
        let taken = self.parser.consumed().min(self.buf.len());
        let held = self.buf.len() - taken;
        if held as u64 <= limit && taken as u64 <= limit {
            return false;
        }
        Stats::incr(&shared.stats.query_limit_disconnections);
        tracing::warn!(
            "closing client id={} addr={} that reached the max query buffer length ({} bytes)",
            client.id,
            client.peer.addr,
            self.buf.len()
        );
        client.close(CloseReason::QueryBufferLimit);
        self.stop_reading();
        true
    }

    /// Parses and runs requests until the buffer holds no complete one or a
    /// command must wait for the keyspace. Returns true if the connection
    /// must close (QUIT, a protocol error).
    fn run_requests(&mut self) -> bool {
        let s = &mut self.session;
        if let Some(mut stall) = self.stalled.take() {
            match commands::dispatch(s, &stall.args) {
                commands::Outcome::Wait { or_busy } => {
                    stall.or_busy = or_busy;
                    stall.postponed = None;
                    self.stalled = Some(stall);
                    return false;
                }
                commands::Outcome::Postponed(why) => {
                    stall.or_busy = false;
                    // A WAIT tried again before its deadline keeps it.
                    stall.postponed = Some(match (stall.postponed, why) {
                        (Some(old @ Postpone::Until(_)), Postpone::Until(_)) => old,
                        _ => why,
                    });
                    self.stalled = Some(stall);
                    return false;
                }
                commands::Outcome::Done => {}
            }
            if s.closing {
                return true;
            }
        }
        loop {
            s.client.note_authenticated(s.authenticated);
            let limits = Limits {
                max_bulk_len: s.shared.settings.proto_max_bulk_len.load(Ordering::Relaxed),
                authenticated: s.authenticated,
            };
            match self.parser.parse(&mut self.buf, &limits) {
                Ok(Some(Parsed::Command(args))) => {
                    let stall = match commands::dispatch(s, &args) {
                        commands::Outcome::Done => None,
                        commands::Outcome::Wait { or_busy } => Some((or_busy, None)),
                        commands::Outcome::Postponed(why) => Some((false, Some(why))),
                    };
                    if let Some((or_busy, postponed)) = stall {
                        // Another client holds the keyspace (or a pause or
                        // WAIT holds the command): send what is answered so
                        // far and wait.
                        s.flush();
                        self.stalled = Some(Box::new(Stalled {
                            args,
                            or_busy,
                            postponed,
                        }));
                        return false;
                    }
                    self.parser.recycle(args);
                    if s.closing {
                        return true;
                    }
                    if s.buffered() >= REPLY_FLUSH_BYTES {
                        s.flush();
                    }
                }
                // An empty request still ends the turn of a CLIENT REPLY
                // SKIP (Redis resets the client after it).
                Ok(Some(Parsed::Empty)) => s.skip_next = false,
                Ok(None) => return false,
                Err(e) => {
                    s.reply_raw_error(&e.reply_text());
                    if let Some(suppressed) = PROTOCOL_WARNINGS.allow() {
                        tracing::warn!(
                            "protocol error from client id={} addr={}: {} ({} similar warnings suppressed)",
                            s.client.id,
                            s.client.peer.addr,
                            String::from_utf8_lossy(&e.0),
                            suppressed
                        );
                    }
                    return true;
                }
            }
        }
    }

    /// Ends a flow-control pause: reading resumes.
    fn resume(&mut self, timed_out: bool) {
        let s = &self.session;
        if let Some(pause) = self.pause.take() {
            s.shared
                .latency
                .note("publish-pause", pause.elapsed().as_millis() as u64);
        }
        s.client.set_paused(&s.shared, false, timed_out);
    }

    /// Stops reading requests: sends what is answered, drops the client's
    /// subscriptions and transaction, takes it out of the client table, and
    /// closes its outbox so the connection ends once the output is written.
    fn stop_reading(&mut self) {
        self.reading = false;
        self.stalled = None;
        if self.pause.is_some() {
            self.resume(false);
        }
        self.session.release_keyspace();
        self.buf = BytesMut::new();
        let s = &mut self.session;
        s.flush();
        s.drop_subscriptions();
        s.end_transaction();
        s.shared.monitors.remove(s.client.id);
        s.shared.clients.remove(&s.client.id);
        s.client.outbox.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Peer;
    use crate::config::Config;

    /// tokio allocates a task as one cell: 104 bytes of its own (header,
    /// scheduler handle, id, stage tag, trailer) around the future, aligned
    /// to 128 bytes; the task tracker `start` spawns through adds 8 to the
    /// future. A `serve` future of at most this many bytes keeps every
    /// connection's task in jemalloc's 896-byte class, which S4's figure
    /// (BENCHMARKS.md) counts on: 9 bytes more and each idle connection
    /// costs 128 more. Checked in both builds: a release build's future is
    /// 768 bytes, a debug build's 784.
    const SERVE_FUTURE_MAX: usize = 784;

    #[tokio::test]
    async fn a_connection_task_fits_its_allocation_class() {
        let shared = Arc::new(Shared::new(Config::default(), None));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let sock = tokio::net::TcpStream::connect(listener.local_addr().expect("address"))
            .await
            .expect("connect");
        let addr = "127.0.0.1:1".parse().expect("address");
        let client = Arc::new(Client::new(1, Peer::tcp(addr, addr, -1)));
        let future = serve(Arc::clone(&shared), client, sock);
        let size = std::mem::size_of_val(&future);
        assert!(
            size <= SERVE_FUTURE_MAX,
            "serve's future is {size} bytes, over {SERVE_FUTURE_MAX}: box what an idle connection does not use"
        );
        let tracked = shared.tasks.track_future(future);
        assert_eq!(std::mem::size_of_val(&tracked), size + 8);
    }
}

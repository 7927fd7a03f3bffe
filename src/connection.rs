//! One client connection: the read loop and its writer task.
//!
//! The read loop takes bytes from the socket into a capped query buffer,
//! parses every complete request, runs it, and hands the batch's replies to
//! the client's outbox; a separate writer task drains the outbox to the
//! socket. The read loop stops reading (backpressure) while the client has
//! more than [`REPLY_BACKPRESSURE_BYTES`] of unread replies, so a client that
//! pipelines without reading cannot grow server memory without bound.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::client::{Client, CloseReason};
use crate::commands;
use crate::logging::RateLimiter;
use crate::protocol::request::Limits;
use crate::protocol::{Parsed, Reply, RequestParser};
use crate::pubsub::outbox::{WriterEnd, run_writer};
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

/// The read half of a socket, readable without holding a buffer while idle.
pub trait ReadSide: Send + 'static {
    /// Waits until the socket is readable.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads what is available into `buf` without waiting.
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize>;
}

impl ReadSide for tokio::net::tcp::OwnedReadHalf {
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        tokio::net::tcp::OwnedReadHalf::readable(self)
    }
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        tokio::net::tcp::OwnedReadHalf::try_read_buf(self, buf)
    }
}

impl ReadSide for tokio::net::unix::OwnedReadHalf {
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        tokio::net::unix::OwnedReadHalf::readable(self)
    }
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        tokio::net::unix::OwnedReadHalf::try_read_buf(self, buf)
    }
}

/// Warnings for protocol errors are rate-limited server-wide.
static PROTOCOL_WARNINGS: std::sync::LazyLock<RateLimiter> =
    std::sync::LazyLock::new(RateLimiter::default);

/// Serves one client until it disconnects, is killed, or the server shuts
/// down; then removes every trace of it (subscriptions, client table).
pub async fn serve<R, W>(shared: Arc<Shared>, client: Arc<Client>, reader: R, writer: W)
where
    R: ReadSide,
    W: AsyncWrite + Unpin + Send + 'static,
{
    shared.clients.insert(client.id, Arc::clone(&client));
    let writer_task = {
        let client = Arc::clone(&client);
        let shared = Arc::clone(&shared);
        let mut writer = writer;
        shared.clone().tasks.spawn(async move {
            let (end, written) = run_writer(&client.outbox, &mut writer, &client.cancel).await;
            shared
                .stats
                .net_output_bytes
                .fetch_add(written, Ordering::Relaxed);
            match end {
                WriterEnd::Drained => {
                    let _ = writer.shutdown().await;
                }
                // The peer is gone: stop the reader too.
                WriterEnd::IoError => client.cancel.cancel(),
                WriterEnd::Cancelled => {}
            }
        })
    };
    let mut session = Session::new(Arc::clone(&shared), Arc::clone(&client));
    read_loop(&mut session, &reader).await;
    session.flush();
    session.drop_subscriptions();
    session.end_transaction();
    shared.clients.remove(&client.id);
    client.outbox.close();
    drop(reader);
    let _ = writer_task.await;
}

/// Reads, parses and executes requests until the connection should close.
async fn read_loop<R: ReadSide>(s: &mut Session, reader: &R) {
    let shared = Arc::clone(&s.shared);
    let client = Arc::clone(&s.client);
    let mut buf = BytesMut::new();
    let mut parser = RequestParser::new();
    loop {
        // Run every complete request already buffered.
        loop {
            let limits = Limits {
                max_bulk_len: shared.settings.proto_max_bulk_len.load(Ordering::Relaxed),
                authenticated: s.authenticated,
            };
            match parser.parse(&mut buf, &limits) {
                Ok(Some(Parsed::Command(args))) => {
                    while commands::dispatch(s, &args) == commands::Outcome::WaitForScript {
                        // Another client's script holds the keyspace: wait
                        // for it without blocking this thread.
                        s.flush();
                        tokio::select! {
                            _ = shared.scripts.wait_idle_or_busy() => {}
                            _ = client.cancel.cancelled() => return,
                        }
                    }
                    if s.closing {
                        return;
                    }
                    if s.buffered() >= REPLY_FLUSH_BYTES {
                        s.flush();
                    }
                }
                Ok(Some(Parsed::Empty)) => {}
                Ok(None) => break,
                Err(e) => {
                    s.reply(Reply::error(e.reply_text()));
                    if let Some(suppressed) = PROTOCOL_WARNINGS.allow() {
                        tracing::warn!(
                            "protocol error from client id={} addr={}: {} ({} similar warnings suppressed)",
                            client.id,
                            client.peer.addr,
                            e.0,
                            suppressed
                        );
                    }
                    return;
                }
            }
        }
        s.flush();
        if buf.is_empty() && buf.capacity() > 0 {
            // An idle connection keeps no read or reply buffer.
            buf = BytesMut::new();
            s.release_idle_memory();
        }
        client.with_info(|i| {
            i.qbuf = buf.len();
            i.qbuf_cap = buf.capacity();
        });
        let query_limit = shared.settings.query_buffer_limit.load(Ordering::Relaxed);
        if buf.len() as u64 > query_limit {
            Stats::incr(&shared.stats.query_limit_disconnections);
            tracing::warn!(
                "closing client id={} addr={} that reached the max query buffer length ({} bytes)",
                client.id,
                client.peer.addr,
                buf.len()
            );
            client.close(CloseReason::QueryBufferLimit);
            return;
        }
        if client.outbox.pending() > REPLY_BACKPRESSURE_BYTES {
            tokio::select! {
                _ = client.outbox.wait_below(REPLY_BACKPRESSURE_BYTES, &client.cancel) => {}
                _ = shared.shutdown.cancelled() => return,
            }
        }
        tokio::select! {
            biased;
            _ = client.cancel.cancelled() => return,
            _ = shared.shutdown.cancelled() => return,
            r = reader.readable() => {
                if r.is_err() {
                    return;
                }
            }
        }
        let want = parser.wanted().clamp(READ_CHUNK, MAX_READ_RESERVE);
        buf.reserve(want);
        match reader.try_read_buf(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                shared
                    .stats
                    .net_input_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

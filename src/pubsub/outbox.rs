//! A client's outbound queue and the task that drains it to the socket.
//!
//! Everything a client is sent (command replies and pub/sub pushes alike)
//! goes through its [`Outbox`] in order. Producers never wait: they append a
//! shared, already-encoded frame and, if the queue was empty, wake the writer.
//! The writer takes everything queued and writes it with vectored writes, so
//! a burst of small messages costs one syscall, not one each.
//!
//! The queue is bounded by the client's output-buffer class limits
//! (`client-output-buffer-limit`): [`Outbox::push`] reports when the pending
//! bytes pass the hard limit, or have stayed above the soft limit for the soft
//! seconds, and the caller disconnects the client. Pending bytes are what
//! `CLIENT LIST` shows as `omem`.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::ClassLimit;

/// Most frames handed to one vectored write (Linux accepts up to 1024
/// iovecs; 64 already amortises the syscall over many small messages).
pub const MAX_IOVECS: usize = 64;

/// Frames up to this size are copied into the client's coalescing buffer
/// instead of being queued as a shared reference: for small messages a
/// memcpy is cheaper than a reference count touched from two cores, and
/// consecutive small messages then leave in one contiguous iovec.
pub const COPY_MAX_BYTES: usize = 512;
/// The coalescing buffer grows in steps of at least this much.
pub const COALESCE_CHUNK: usize = 4096;
/// A coalescing buffer this full is sealed into the queue and a new one
/// started, so a backlog of small messages grows in bounded steps (never by
/// doubling one huge buffer).
pub const COALESCE_MAX: usize = 64 * 1024;

/// What happened to a pushed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// Queued for the writer.
    Queued,
    /// Queued, but the client is now over its output limit and must be
    /// disconnected.
    OverLimit,
    /// The client is closing; the frame was not queued.
    Closed,
}

/// The queue proper, behind the outbox's mutex.
#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Bytes>,
    /// Small frames copied in after the last queued frame (see
    /// [`COPY_MAX_BYTES`]); it follows `frames` in order.
    tail: BytesMut,
    /// Set once no more frames are accepted; the writer exits when drained.
    closed: bool,
    /// When the pending bytes first went above the soft limit.
    soft_since: Option<Instant>,
}

/// A client's bounded outbound queue.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: Mutex<Queue>,
    /// Bytes queued or being written: Redis's `omem`.
    pending: AtomicUsize,
    /// Set while a reader waits in [`Outbox::wait_below`], so the writer
    /// signals drains only when someone listens.
    reader_waiting: std::sync::atomic::AtomicBool,
    /// Wakes the writer when the queue goes from empty to non-empty.
    wake_writer: Notify,
    /// Wakes a reader waiting for the queue to drain (backpressure).
    drained: Notify,
}

impl Outbox {
    /// An empty, open outbox.
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Frames queued and not yet written.
    pub fn queued_frames(&self) -> usize {
        let q = match self.queue.lock() {
            Ok(q) => q,
            Err(p) => p.into_inner(),
        };
        q.frames.len() + usize::from(!q.tail.is_empty())
    }

    /// Appends `frame`, checking `limit` (all zeros means unlimited).
    /// Never blocks beyond a short mutex hold.
    pub fn push(&self, frame: Bytes, limit: ClassLimit) -> PushOutcome {
        self.enqueue(Frame::Owned(frame), limit)
    }

    /// Appends a frame shared with other clients (a published message):
    /// small ones are copied, larger ones referenced.
    pub fn push_shared(&self, frame: &Bytes, limit: ClassLimit) -> PushOutcome {
        self.enqueue(Frame::Shared(frame), limit)
    }

    fn enqueue(&self, frame: Frame<'_>, limit: ClassLimit) -> PushOutcome {
        let len = frame.len();
        let mut q = match self.queue.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        };
        if q.closed {
            return PushOutcome::Closed;
        }
        let was_empty = q.frames.is_empty() && q.tail.is_empty();
        if len <= COPY_MAX_BYTES {
            if q.tail.len() + len > COALESCE_MAX {
                let full = q.tail.split().freeze();
                q.frames.push_back(full);
                q.tail = BytesMut::new();
            }
            if q.tail.capacity() - q.tail.len() < len {
                q.tail.reserve(len.max(COALESCE_CHUNK));
            }
            q.tail.extend_from_slice(frame.bytes());
        } else {
            if !q.tail.is_empty() {
                let small = q.tail.split().freeze();
                q.frames.push_back(small);
            }
            q.frames.push_back(frame.into_bytes());
        }
        let pending = self.pending.fetch_add(len, Ordering::Relaxed) + len;
        // Reading the clock only matters above the soft limit.
        let over = if limit.soft > 0 && pending as u64 > limit.soft {
            over_limit(&mut q, pending, limit, Instant::now())
        } else {
            limit.hard > 0 && pending as u64 > limit.hard || {
                q.soft_since = None;
                false
            }
        };
        drop(q);
        if was_empty {
            self.wake_writer.notify_one();
        }
        if over {
            PushOutcome::OverLimit
        } else {
            PushOutcome::Queued
        }
    }

    /// The periodic check for a client that sits above its soft limit without
    /// receiving anything more: true if it must be disconnected now.
    pub fn check_limits(&self, limit: ClassLimit, now: Instant) -> bool {
        let mut q = match self.queue.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        };
        if q.closed {
            return false;
        }
        over_limit(&mut q, self.pending(), limit, now)
    }

    /// Stops accepting frames; the writer exits once it has written what is
    /// already queued (QUIT, protocol errors, graceful shutdown).
    pub fn close(&self) {
        let mut q = match self.queue.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        };
        q.closed = true;
        drop(q);
        self.wake_writer.notify_one();
    }

    /// Stops accepting frames and discards what is queued (the client is
    /// being killed), releasing the memory at once.
    pub fn discard(&self) {
        let mut q = match self.queue.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        };
        q.closed = true;
        let dropped: usize = q.frames.iter().map(Bytes::len).sum::<usize>() + q.tail.len();
        q.frames = VecDeque::new();
        q.tail = BytesMut::new();
        drop(q);
        self.pending.fetch_sub(dropped, Ordering::Relaxed);
        self.wake_writer.notify_one();
        self.drained.notify_waiters();
    }

    /// Waits until no more than `threshold` bytes are pending, or `cancel`
    /// fires. Used to stop reading requests from a client that does not read
    /// its replies, which bounds its reply memory without disconnecting it.
    pub async fn wait_below(&self, threshold: usize, cancel: &CancellationToken) {
        self.reader_waiting.store(true, Ordering::SeqCst);
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pending() <= threshold || cancel.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = notified => {}
                _ = cancel.cancelled() => break,
            }
        }
        self.reader_waiting.store(false, Ordering::SeqCst);
    }

    /// Moves up to [`MAX_IOVECS`] queued frames into `batch`. Returns false
    /// when the outbox is closed and empty (the writer should stop).
    fn take_batch(&self, batch: &mut Vec<Bytes>) -> Option<bool> {
        let mut q = match self.queue.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        };
        if q.frames.is_empty() && q.tail.is_empty() {
            if q.frames.capacity() > 0 || q.tail.capacity() > 0 {
                // Going idle: an idle client keeps no queue memory.
                q.frames = VecDeque::new();
                q.tail = BytesMut::new();
            }
            return if q.closed { None } else { Some(false) };
        }
        let n = q.frames.len().min(MAX_IOVECS);
        batch.extend(q.frames.drain(..n));
        if q.frames.is_empty() && !q.tail.is_empty() && batch.len() < MAX_IOVECS {
            let small = q.tail.split().freeze();
            batch.push(small);
        }
        Some(true)
    }

    /// Wakes a reader waiting for the queue to drain after a write (the
    /// pending count was already lowered by the writer).
    fn notify_drained(&self) {
        if self.reader_waiting.load(Ordering::SeqCst) {
            self.drained.notify_waiters();
        }
    }
}

/// A frame to enqueue: owned (a reply), or shared with other clients.
enum Frame<'a> {
    Owned(Bytes),
    Shared(&'a Bytes),
}

impl Frame<'_> {
    fn len(&self) -> usize {
        self.bytes().len()
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Frame::Owned(b) => b,
            Frame::Shared(b) => b,
        }
    }

    /// The frame as a queue entry (a reference-count increment if shared).
    fn into_bytes(self) -> Bytes {
        match self {
            Frame::Owned(b) => b,
            Frame::Shared(b) => b.clone(),
        }
    }
}

/// Applies Redis's output-buffer policy to a queue holding `pending` bytes:
/// over the hard limit at once, or over the soft limit continuously for the
/// soft seconds. Tracks when the soft limit was first passed.
fn over_limit(q: &mut Queue, pending: usize, limit: ClassLimit, now: Instant) -> bool {
    let pending = pending as u64;
    if limit.hard > 0 && pending > limit.hard {
        return true;
    }
    if limit.soft > 0 && pending > limit.soft {
        let since = *q.soft_since.get_or_insert(now);
        return now.duration_since(since) >= Duration::from_secs(limit.soft_seconds);
    }
    q.soft_since = None;
    false
}

/// Why a writer stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum WriterEnd {
    /// Everything queued was written and the outbox was closed.
    Drained,
    /// The client was killed; queued data was abandoned.
    Cancelled,
    /// The socket failed (peer gone).
    IoError,
}

/// Drains `outbox` into `sink` until the outbox is closed and empty, the
/// client is killed (`cancel`), or the socket fails. Returns why it stopped
/// and the number of bytes written.
pub async fn run_writer<W: AsyncWrite + Unpin>(
    outbox: &Outbox,
    sink: &mut W,
    cancel: &CancellationToken,
) -> (WriterEnd, u64) {
    let mut batch: Vec<Bytes> = Vec::new();
    let mut total: u64 = 0;
    loop {
        let notified = outbox.wake_writer.notified();
        match outbox.take_batch(&mut batch) {
            None => {
                let _ = sink.flush().await;
                return (WriterEnd::Drained, total);
            }
            Some(false) => {
                // Idle: keep no batch memory while waiting.
                batch = Vec::new();
                tokio::select! {
                    _ = notified => continue,
                    _ = cancel.cancelled() => return (WriterEnd::Cancelled, total),
                }
            }
            Some(true) => {}
        }
        let result = tokio::select! {
            r = write_all_vectored(outbox, sink, &mut batch, &mut total) => r,
            _ = cancel.cancelled() => return (WriterEnd::Cancelled, total),
        };
        if result.is_err() {
            return (WriterEnd::IoError, total);
        }
        batch.clear();
    }
}

/// Writes every byte of `batch` with as few vectored writes as the socket
/// allows, consuming the frames as they are written and adding the bytes
/// written to `total`.
///
/// The pending count drops by exactly what each write syscall takes, and it
/// drops *before* the syscall (the unwritten rest is added back right after
/// it, within the same poll): once the peer can see a reply, `omem` no longer
/// counts it, so a client that reads a reply and then asks `CLIENT LIST`
/// sees its own output as drained, as with Redis.
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    outbox: &Outbox,
    sink: &mut W,
    batch: &mut [Bytes],
    total: &mut u64,
) -> std::io::Result<()> {
    let mut first = 0;
    while first < batch.len() {
        let slices: Vec<IoSlice<'_>> = batch[first..].iter().map(|b| IoSlice::new(b)).collect();
        let offered: usize = slices.iter().map(|s| s.len()).sum();
        let written = std::future::poll_fn(|cx| {
            outbox.pending.fetch_sub(offered, Ordering::SeqCst);
            let poll = std::pin::Pin::new(&mut *sink).poll_write_vectored(cx, &slices);
            let taken = match &poll {
                std::task::Poll::Ready(Ok(n)) => *n,
                _ => 0,
            };
            outbox.pending.fetch_add(offered - taken, Ordering::SeqCst);
            poll
        })
        .await?;
        drop(slices);
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        outbox.notify_drained();
        *total += written as u64;
        let mut n = written;
        while n > 0 && first < batch.len() {
            let len = batch[first].len();
            if n >= len {
                n -= len;
                first += 1;
            } else {
                bytes::Buf::advance(&mut batch[first], n);
                n = 0;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(hard: u64, soft: u64, secs: u64) -> ClassLimit {
        ClassLimit {
            hard,
            soft,
            soft_seconds: secs,
        }
    }

    #[test]
    fn hard_limit_trips_on_push() {
        let o = Outbox::new();
        let l = limit(10, 0, 0);
        assert_eq!(o.push(Bytes::from_static(b"12345"), l), PushOutcome::Queued);
        assert_eq!(
            o.push(Bytes::from_static(b"123456"), l),
            PushOutcome::OverLimit
        );
        assert_eq!(o.pending(), 11);
        o.discard();
        assert_eq!(o.pending(), 0);
        assert_eq!(o.push(Bytes::from_static(b"x"), l), PushOutcome::Closed);
    }

    #[test]
    fn soft_limit_needs_time() {
        let o = Outbox::new();
        let l = limit(0, 4, 2);
        assert_eq!(o.push(Bytes::from_static(b"12345"), l), PushOutcome::Queued);
        let t0 = Instant::now();
        assert!(!o.check_limits(l, t0 + Duration::from_secs(1)));
        assert!(o.check_limits(l, t0 + Duration::from_secs(3)));
    }

    #[tokio::test]
    async fn small_and_large_frames_keep_their_order() {
        let o = Outbox::new();
        let none = limit(0, 0, 0);
        let mut expect = Vec::new();
        for i in 0..3000usize {
            // Mostly small frames (coalesced), every 7th one large (queued
            // by reference), so the two paths interleave.
            let len = if i % 7 == 0 {
                COPY_MAX_BYTES + 1 + i
            } else {
                1 + i % 50
            };
            let frame = Bytes::from(vec![(i % 251) as u8; len]);
            expect.extend_from_slice(&frame);
            if i % 2 == 0 {
                o.push_shared(&frame, none);
            } else {
                o.push(frame, none);
            }
        }
        assert_eq!(o.pending(), expect.len());
        o.close();
        let mut sink: Vec<u8> = Vec::new();
        let (end, n) = run_writer(&o, &mut sink, &CancellationToken::new()).await;
        assert_eq!(end, WriterEnd::Drained);
        assert_eq!(n as usize, expect.len());
        assert!(sink == expect, "bytes reordered or lost");
        assert_eq!(o.pending(), 0);
    }

    #[tokio::test]
    async fn writer_drains_in_order_then_stops() {
        let o = Outbox::new();
        let none = limit(0, 0, 0);
        for i in 0..200u32 {
            o.push(Bytes::from(format!("{i},")), none);
        }
        o.close();
        let mut sink: Vec<u8> = Vec::new();
        let (end, n) = run_writer(&o, &mut sink, &CancellationToken::new()).await;
        assert_eq!(end, WriterEnd::Drained);
        let expect: String = (0..200u32).map(|i| format!("{i},")).collect();
        assert_eq!(String::from_utf8(sink).unwrap(), expect);
        assert_eq!(n as usize, expect.len());
        assert_eq!(o.pending(), 0);
    }
}

//! A client's outbound queue, and the non-blocking writes that drain it.
//!
//! Everything a client is sent (command replies and pub/sub pushes alike)
//! goes through its [`Outbox`] in order. Producers never wait: they append a
//! shared, already-encoded frame and, if the queue was empty, wake the
//! client's connection task. That task drains the queue with
//! [`Outbox::write_queued`]: everything queued goes out in vectored writes,
//! so a burst of small messages costs one syscall, not one each.
//!
//! The queue is bounded by the client's output-buffer class limits
//! (`client-output-buffer-limit`): [`Outbox::push`] reports when the pending
//! bytes pass the hard limit, or have stayed above the soft limit for the soft
//! seconds, and the caller disconnects the client. Pending bytes are what
//! `CLIENT LIST` shows as `omem`; the limits also count each queued entry
//! ([`QUEUE_ENTRY_BYTES`]), so a queue of many small referenced frames is
//! bounded by the memory it holds, not only by its frames' bytes.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;

use crate::config::ClassLimit;
use crate::pubsub::flow::FlowState;

/// Most frames handed to one vectored write (Linux accepts up to 1024
/// iovecs; 64 already amortises the syscall over many small messages).
pub const MAX_IOVECS: usize = 64;
/// Most vectored writes one [`Outbox::write_queued`] call makes before it
/// returns [`Drained::More`], so a client with a constant stream of
/// messages still has its requests read in between.
pub const MAX_WRITES_PER_TURN: usize = 16;

/// Frames up to this size are copied into the client's coalescing buffer
/// instead of being queued as a shared reference, when few clients get them
/// (see [`WIDE_FANOUT`]): for small messages a memcpy is cheaper than a
/// reference count touched from two cores, and consecutive small messages
/// then leave in one contiguous iovec.
pub const COPY_MAX_BYTES: usize = 512;
/// A message that at least this many receivers get at once is a wide
/// fan-out: its frame is copied only up to [`WIDE_COPY_MAX_BYTES`] and
/// queued by reference above that (see [`copy_max`]). Measured at the
/// ends only: copying was the cheaper for one receiver per message (S2,
/// when copying was introduced), a reference for 256-byte frames to 1,000
/// (S1); to 100 the two measured alike (p99 1.02-1.03x, CPU 0.98-1.00x
/// with copying, BENCHMARKS.md); 8 is a choice between them.
pub const WIDE_FANOUT: usize = 8;
/// The copy limit of a wide fan-out. Copying a frame into a thousand
/// receivers' buffers makes the publishing core fetch every destination's
/// cache lines (one per 64 bytes), lines the receivers' writers on the
/// other core read last; a reference is one queue entry and one count
/// increment on a line the publishing core already holds, and every writer
/// reads the same frame. S1 at a fixed rate, 256-byte payloads to 1,000
/// subscribers, two rotations against copying: p99 12.7-14.3 -> 11.5-13.0
/// ms, CPU per delivery 0.87-0.90 -> 0.85-0.88 us. At 16-byte payloads
/// (50-byte frames) references bought nothing (CPU 1.00-1.04x), so frames
/// of up to two cache lines are still copied.
pub const WIDE_COPY_MAX_BYTES: usize = 128;

/// The largest frame that is copied, not referenced, when `receivers`
/// clients get it at once.
pub fn copy_max(receivers: usize) -> usize {
    if receivers >= WIDE_FANOUT {
        WIDE_COPY_MAX_BYTES
    } else {
        COPY_MAX_BYTES
    }
}
/// A coalescing buffer started when none holds unwritten frames (the
/// client's first small message after its queue drained) holds this much.
pub const COALESCE_CHUNK: usize = 4096;
/// When small frames keep arriving while earlier ones are still queued (a
/// backlog), a full coalescing buffer is sealed into the queue as it is
/// and a new one of this size started. A buffer is never grown: growing
/// one by reallocation copied what it held (up to 64 KiB) under the
/// queue's lock; S2 delivered 5-6 % more without that (two alternated
/// runs, BENCHMARKS.md).
pub const COALESCE_BACKLOG_CHUNK: usize = 16 * 1024;

/// A receiver with more than this queued is far behind: flow control
/// pauses a group's publishers once its receivers hold
/// [`crate::pubsub::flow::FLOW_HIGH_WATER`], so only a laggard or a frozen
/// receiver gets here. From here on its frames of up to
/// [`DEEP_BACKLOG_CHUNK`] are copied, packed into buffers of that size,
/// instead of referenced: a referenced frame occupies its allocator size
/// class (a 2 KB message's frame, 2,070 bytes, takes 2,560), so a queue of
/// them at the hard limit held 1.22 times the limit in memory (S5), where
/// packed buffers waste at most one frame's room each.
pub const DEEP_BACKLOG_BYTES: usize = 1024 * 1024;
/// The size of the buffers a far-behind receiver's frames are packed into.
pub const DEEP_BACKLOG_CHUNK: usize = 64 * 1024;

/// What one queued frame costs beyond its bytes (the queue's reference to
/// it), counted against the output limits. For a frame queued by reference
/// it is the queue's own memory; frames themselves may be shared with other
/// receivers.
pub const QUEUE_ENTRY_BYTES: usize = std::mem::size_of::<Bytes>();

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
    /// Mirrors `Queue::closed`, readable without the lock.
    closed: AtomicBool,
    /// Set by [`Outbox::discard`]: the client is being killed.
    discarded: AtomicBool,
    /// The connection task, woken when the queue goes from empty to
    /// non-empty or is closed.
    waker: AtomicWaker,
    /// Whether publishers must wait for this client (see
    /// [`crate::pubsub::flow`]).
    pub flow: FlowState,
}

/// The frames taken from the queue for writing, and how far the socket has
/// taken them. Owned by the connection task; counted in `omem` until
/// written.
#[derive(Debug, Default)]
pub struct WriteBatch {
    frames: Vec<Bytes>,
    first: usize,
    unwritten: usize,
}

/// Where [`Outbox::write_queued`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Everything queued was written; the queue is empty.
    Empty,
    /// The socket would block; wait for it to become writable.
    Blocked,
    /// [`MAX_WRITES_PER_TURN`] writes made and more is queued: see to other
    /// work (the client's requests), then call again.
    More,
    /// The outbox is closed and everything in it was written.
    Closed,
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
        self.enqueue(Frame::Owned(frame), limit, true).0
    }

    /// Appends the connection task's own output (its replies): like
    /// [`Outbox::push`] but wakes nobody, since the calling task writes its
    /// outbox before it next waits.
    pub fn push_own(&self, frame: Bytes, limit: ClassLimit) -> PushOutcome {
        self.enqueue(Frame::Owned(frame), limit, false).0
    }

    /// Appends a frame shared with other clients (a published message):
    /// small ones are copied, larger ones referenced.
    pub fn push_shared(&self, frame: &Bytes, limit: ClassLimit) -> PushOutcome {
        self.enqueue(Frame::Shared(SharedFrame::Bytes(frame)), limit, true)
            .0
    }

    /// Like [`Outbox::push_shared`] but wakes nobody; also returns whether
    /// the queue was empty before, i.e. whether the caller must arrange a
    /// wake-up (see [`crate::pubsub::wakeups`]).
    pub fn push_shared_quiet(
        &self,
        frame: SharedFrame<'_>,
        limit: ClassLimit,
    ) -> (PushOutcome, bool) {
        self.enqueue(Frame::Shared(frame), limit, false)
    }

    /// Queues `frame`; wakes the connection task if `wake` and the queue was
    /// empty. Returns the outcome and whether the queue was empty.
    fn enqueue(&self, frame: Frame<'_>, limit: ClassLimit, wake: bool) -> (PushOutcome, bool) {
        let len = frame.len();
        let mut q = match self.queue.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        };
        if q.closed {
            return (PushOutcome::Closed, false);
        }
        let was_empty = q.frames.is_empty() && q.tail.is_empty();
        let deep = matches!(frame, Frame::Shared(_))
            && len <= DEEP_BACKLOG_CHUNK
            && self.pending.load(Ordering::Relaxed) > DEEP_BACKLOG_BYTES;
        if deep || frame.copied() {
            if q.tail.capacity() - q.tail.len() < len {
                // No room: start a new buffer, sealing a non-empty one.
                if !q.tail.is_empty() {
                    let full = q.tail.split().freeze();
                    q.frames.push_back(full);
                }
                let next = if deep {
                    DEEP_BACKLOG_CHUNK
                } else if was_empty {
                    COALESCE_CHUNK
                } else {
                    COALESCE_BACKLOG_CHUNK
                };
                q.tail = BytesMut::with_capacity(next);
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
        let pending = pending + q.frames.len() * QUEUE_ENTRY_BYTES;
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
        if was_empty && wake {
            self.waker.wake();
        }
        let outcome = if over {
            PushOutcome::OverLimit
        } else {
            PushOutcome::Queued
        };
        (outcome, was_empty)
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
        let pending = self.pending() + q.frames.len() * QUEUE_ENTRY_BYTES;
        over_limit(&mut q, pending, limit, now)
    }

    /// Stops accepting frames; the writer exits once it has written what is
    /// already queued (QUIT, protocol errors, graceful shutdown).
    pub fn close(&self) {
        let mut q = match self.queue.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        };
        q.closed = true;
        self.closed.store(true, Ordering::SeqCst);
        drop(q);
        self.flow.release_waiters();
        self.waker.wake();
    }

    /// Stops accepting frames and discards what is queued (the client is
    /// being killed), releasing the memory at once.
    pub fn discard(&self) {
        let mut q = match self.queue.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        };
        q.closed = true;
        self.closed.store(true, Ordering::SeqCst);
        self.discarded.store(true, Ordering::SeqCst);
        let dropped: usize = q.frames.iter().map(Bytes::len).sum::<usize>() + q.tail.len();
        q.frames = VecDeque::new();
        q.tail = BytesMut::new();
        drop(q);
        self.pending.fetch_sub(dropped, Ordering::Relaxed);
        self.flow.release_waiters();
        self.waker.wake();
    }

    /// Whether the outbox was closed (by [`Outbox::close`] or
    /// [`Outbox::discard`]).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Whether the outbox was discarded (the client is being killed).
    pub fn is_discarded(&self) -> bool {
        self.discarded.load(Ordering::SeqCst)
    }

    /// Registers the task to wake when frames arrive or the outbox closes.
    pub fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    /// Wakes the registered task (shutdown, kill).
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// Whether frames are queued beyond those already taken into `batch`.
    pub fn has_queued(&self, batch: &WriteBatch) -> bool {
        self.pending() > batch.unwritten
    }

    /// Writes queued frames with `write`, one non-blocking vectored write
    /// per call of it, until the queue is empty, the socket would block, or
    /// [`MAX_WRITES_PER_TURN`] writes were made. Adds the bytes written to
    /// `written`.
    ///
    /// The pending count drops by exactly what each write takes, and it
    /// drops *before* the write (the unwritten rest is added back right
    /// after): once the peer can see a reply, `omem` no longer counts it, so
    /// a client that reads a reply and then asks `CLIENT LIST` sees its own
    /// output as drained, as with Redis.
    pub fn write_queued(
        &self,
        batch: &mut WriteBatch,
        written: &mut u64,
        mut write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<Drained> {
        for _ in 0..MAX_WRITES_PER_TURN {
            if batch.first == batch.frames.len() {
                batch.frames.clear();
                batch.first = 0;
                match self.take_batch(&mut batch.frames) {
                    None => return Ok(Drained::Closed),
                    Some(false) => {
                        // Going idle: keep no batch memory.
                        batch.frames = Vec::new();
                        return Ok(Drained::Empty);
                    }
                    Some(true) => batch.unwritten = batch.frames.iter().map(Bytes::len).sum(),
                }
            }
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let live = &batch.frames[batch.first..];
            for (slot, frame) in slices.iter_mut().zip(live) {
                *slot = IoSlice::new(frame);
            }
            let slices = &slices[..live.len().min(MAX_IOVECS)];
            let offered: usize = slices.iter().map(|s| s.len()).sum();
            self.pending.fetch_sub(offered, Ordering::SeqCst);
            let result = write(slices);
            let taken = *result.as_ref().unwrap_or(&0);
            self.pending.fetch_add(offered - taken, Ordering::SeqCst);
            let mut n = match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flow.socket_full();
                    return Ok(Drained::Blocked);
                }
                Err(e) => return Err(e),
            };
            *written += n as u64;
            batch.unwritten -= n;
            self.flow.after_write(self.pending(), n);
            while n > 0 {
                let frame = &mut batch.frames[batch.first];
                if n >= frame.len() {
                    n -= frame.len();
                    batch.first += 1;
                } else {
                    bytes::Buf::advance(frame, n);
                    n = 0;
                }
            }
        }
        Ok(Drained::More)
    }

    /// Drains the outbox into nothing until it is closed and empty: a
    /// stand-in for a connection whose socket takes everything
    /// (benchmarks). Returns the bytes "written".
    pub async fn sink_until_closed(&self) -> u64 {
        let mut batch = WriteBatch::default();
        let mut written = 0;
        std::future::poll_fn(|cx| {
            self.register(cx.waker());
            let all = |s: &[IoSlice<'_>]| Ok(s.iter().map(|b| b.len()).sum());
            match self.write_queued(&mut batch, &mut written, all) {
                Ok(Drained::Empty) => std::task::Poll::Pending,
                Ok(Drained::More) => {
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
                Ok(Drained::Blocked | Drained::Closed) | Err(_) => std::task::Poll::Ready(()),
            }
        })
        .await;
        written
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
}

/// A published frame as the fan-out hands it to each receiver: encoded in
/// the publisher's own memory (a small frame, copied by every receiver), or
/// a reference-counted buffer that receivers queue by reference.
#[derive(Clone, Copy, Debug)]
pub enum SharedFrame<'a> {
    /// Borrowed bytes; copied into the queue (or into a new buffer).
    Slice(&'a [u8]),
    /// A shared buffer; frames over [`COPY_MAX_BYTES`] are queued by
    /// reference.
    Bytes(&'a Bytes),
    /// A shared buffer queued by reference whatever its size: the frame of
    /// a wide fan-out (see [`WIDE_FANOUT`]).
    Referenced(&'a Bytes),
}

impl SharedFrame<'_> {
    /// The encoded bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SharedFrame::Slice(s) => s,
            SharedFrame::Bytes(b) | SharedFrame::Referenced(b) => b,
        }
    }

    /// The frame as a buffer of its own (a reference-count increment when
    /// it already is one, a copy otherwise).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            SharedFrame::Slice(s) => Bytes::copy_from_slice(s),
            SharedFrame::Bytes(b) | SharedFrame::Referenced(b) => Bytes::clone(b),
        }
    }
}

/// A frame to enqueue: owned (a reply), or shared with other clients.
enum Frame<'a> {
    Owned(Bytes),
    Shared(SharedFrame<'a>),
}

impl Frame<'_> {
    fn len(&self) -> usize {
        self.bytes().len()
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Frame::Owned(b) => b,
            Frame::Shared(f) => f.as_slice(),
        }
    }

    /// Whether the frame is copied into the coalescing buffer (a small
    /// one), not queued as a reference.
    fn copied(&self) -> bool {
        !matches!(self, Frame::Shared(SharedFrame::Referenced(_))) && self.len() <= COPY_MAX_BYTES
    }

    /// The frame as a queue entry (a reference-count increment if shared).
    fn into_bytes(self) -> Bytes {
        match self {
            Frame::Owned(b) => b,
            Frame::Shared(f) => f.to_bytes(),
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
    fn a_receiver_far_behind_gets_its_frames_packed_not_referenced() {
        let o = Outbox::new();
        let frame_of = |i: usize| Bytes::from(vec![(i % 251) as u8; 2070]);
        let frame = frame_of(0);
        let n = 2 * DEEP_BACKLOG_BYTES / frame.len();
        for i in 0..n {
            assert_eq!(
                o.push_shared(&frame_of(i), limit(0, 0, 0)),
                PushOutcome::Queued
            );
        }
        let q = o.queue.lock().expect("queue");
        // Referenced up to the threshold, one entry each; packed after it,
        // about 31 frames to a 64 KiB buffer.
        let referenced = DEEP_BACKLOG_BYTES / frame.len() + 1;
        let packed = (n - referenced).div_ceil(DEEP_BACKLOG_CHUNK / frame.len());
        assert!(
            q.frames.len() <= referenced + packed + 1,
            "{} entries for {n} frames",
            q.frames.len()
        );
        assert!(q.frames.len() < n * 6 / 10, "{} entries", q.frames.len());
        drop(q);
        // And it all comes out whole, in order.
        o.close();
        let (out, _) = drain_closed(&o, 10_000);
        let want: Vec<u8> = (0..n).flat_map(|i| frame_of(i).to_vec()).collect();
        assert!(out == want, "frames lost, cut or reordered");
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

    /// Drains a closed `o` through [`Outbox::write_queued`] into a Vec, the
    /// "socket" taking at most `chunk` bytes a write and refusing every
    /// third write, and checks `omem` after every step.
    fn drain_closed(o: &Outbox, chunk: usize) -> (Vec<u8>, u64) {
        let total = o.pending() as u64;
        let mut sink = Vec::new();
        let mut batch = WriteBatch::default();
        let mut written = 0;
        let mut calls = 0;
        loop {
            let step = o.write_queued(&mut batch, &mut written, |slices| {
                calls += 1;
                if calls % 3 == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let mut n = 0;
                for s in slices {
                    let take = (chunk - n).min(s.len());
                    sink.extend_from_slice(&s[..take]);
                    n += take;
                    if n == chunk {
                        break;
                    }
                }
                Ok(n)
            });
            assert_eq!(o.pending() as u64, total - written, "omem after a write");
            match step.expect("no I/O error") {
                Drained::Closed => return (sink, written),
                Drained::Empty => panic!("a closed outbox reported Empty"),
                Drained::Blocked | Drained::More => {}
            }
        }
    }

    #[test]
    fn small_and_large_frames_keep_their_order() {
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
        let (sink, n) = drain_closed(&o, 7000);
        assert_eq!(n as usize, expect.len());
        assert!(sink == expect, "bytes reordered or lost");
        assert_eq!(o.pending(), 0);
    }

    /// A wide fan-out's frame is queued by reference however small, between
    /// copied frames, and leaves in order.
    #[test]
    fn referenced_frames_are_queued_by_reference_in_order() {
        let o = Outbox::new();
        let none = limit(0, 0, 0);
        let wide = Bytes::from(vec![b'w'; WIDE_COPY_MAX_BYTES + 1]);
        assert!(wide.len() <= COPY_MAX_BYTES && wide.len() > copy_max(WIDE_FANOUT));
        assert_eq!(copy_max(WIDE_FANOUT - 1), COPY_MAX_BYTES);
        o.push_shared_quiet(SharedFrame::Slice(b"a"), none);
        o.push_shared_quiet(SharedFrame::Referenced(&wide), none);
        o.push_shared_quiet(SharedFrame::Bytes(&wide), none);
        {
            let q = o.queue.lock().unwrap();
            // "a" sealed before the reference; the second copy is in the tail.
            let ptrs: Vec<*const u8> = q.frames.iter().map(|f| f.as_ptr()).collect();
            assert_eq!(ptrs.len(), 2);
            assert_eq!(ptrs[1], wide.as_ptr(), "queued by reference");
            assert_eq!(&q.tail[..], &wide[..], "copied");
        }
        o.close();
        let (out, _) = drain_closed(&o, usize::MAX);
        assert_eq!(out, [&b"a"[..], &wide, &wide].concat());
    }

    /// The hard limit counts each queued reference's entry: seven 129-byte
    /// frames are 903 bytes, but with their entries over a 1,000-byte limit.
    #[test]
    fn limits_count_queue_entries() {
        let o = Outbox::new();
        let hard = limit(1000, 0, 0);
        let frame = Bytes::from(vec![b'f'; 129]);
        for i in 1..=7 {
            let outcome = o.push_shared_quiet(SharedFrame::Referenced(&frame), hard).0;
            let charged = i * (129 + QUEUE_ENTRY_BYTES);
            let expected = if charged > 1000 {
                PushOutcome::OverLimit
            } else {
                PushOutcome::Queued
            };
            assert_eq!(outcome, expected, "frame {i}, {charged} bytes charged");
        }
        assert_eq!(o.pending(), 7 * 129, "omem counts the frames' bytes only");
    }

    #[test]
    fn partial_writes_resume_mid_frame() {
        let o = Outbox::new();
        let none = limit(0, 0, 0);
        for i in 0..200u32 {
            o.push(Bytes::from(format!("{i},")), none);
        }
        o.close();
        let (sink, n) = drain_closed(&o, 5);
        let expect: String = (0..200u32).map(|i| format!("{i},")).collect();
        assert_eq!(String::from_utf8(sink).unwrap(), expect);
        assert_eq!(n as usize, expect.len());
        assert_eq!(o.pending(), 0);
    }

    #[test]
    fn a_backlog_of_small_frames_is_sealed_in_fixed_chunks_never_grown() {
        let o = Outbox::new();
        let none = limit(0, 0, 0);
        let frames: Vec<Vec<u8>> = (0..1000u32)
            .map(|i| format!("+message {i:04} {}\r\n", "x".repeat(80)).into_bytes())
            .collect();
        for f in &frames {
            o.push_shared_quiet(SharedFrame::Slice(f), none);
        }
        let (lens, caps) = {
            let q = o.queue.lock().unwrap();
            let lens: Vec<usize> = q.frames.iter().map(Bytes::len).collect();
            (lens, q.tail.capacity())
        };
        let total: usize = frames.iter().map(Vec::len).sum();
        assert!(total > 5 * COALESCE_BACKLOG_CHUNK);
        // The first buffer, then full backlog chunks; none was grown.
        assert!(lens[0] <= COALESCE_CHUNK, "first buffer {}", lens[0]);
        for &n in &lens[1..] {
            assert!(n <= COALESCE_BACKLOG_CHUNK && n > COALESCE_BACKLOG_CHUNK - 200);
        }
        assert_eq!(caps, COALESCE_BACKLOG_CHUNK);
        o.close();
        let (out, _) = drain_closed(&o, usize::MAX);
        assert_eq!(out, frames.concat());
    }

    #[test]
    fn open_outbox_drains_to_empty_and_wakes_on_push() {
        let o = Outbox::new();
        let none = limit(0, 0, 0);
        let mut batch = WriteBatch::default();
        let mut written = 0;
        let mut sink = Vec::new();
        let mut write = |slices: &[IoSlice<'_>]| {
            let n: usize = slices.iter().map(|s| s.len()).sum();
            for s in slices {
                sink.extend_from_slice(s);
            }
            Ok(n)
        };
        assert_eq!(
            o.write_queued(&mut batch, &mut written, &mut write)
                .unwrap(),
            Drained::Empty
        );
        o.push(Bytes::from_static(b"+OK\r\n"), none);
        assert!(o.has_queued(&batch));
        assert_eq!(
            o.write_queued(&mut batch, &mut written, &mut write)
                .unwrap(),
            Drained::Empty
        );
        assert!(!o.has_queued(&batch));
        assert_eq!(written, 5);
        assert_eq!(sink, b"+OK\r\n");
    }
}

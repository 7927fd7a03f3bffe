//! Subscriber connections: connect and subscribe (with a deadline), then
//! count every message, check each (publisher, channel) sequence for gaps
//! and reordering, and record publish→deliver latency.
//!
//! A case's subscribers run either as tasks of the generator's
//! multi-threaded runtime or all on one thread of their own
//! ([`Readers::OneThread`]): the second is a reader no faster than a
//! single-threaded epoll loop, the client that shows whether a server
//! holds back publishers it outruns.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::payload::now_ns;
use crate::resp::{Push, PushReader, READ_BUF, encode_command};
use crate::tls::{Detached, Stream};

/// Names per SUBSCRIBE/PSUBSCRIBE command during setup.
const SUBSCRIBE_BATCH: usize = 1000;

/// Latencies a subscriber collects before taking a histogram lock.
const LATENCY_BATCH: usize = 256;

/// Largest latency the histograms hold (60 s, in ns); larger ones saturate.
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// An empty latency histogram: ns, 3 significant figures, up to
/// [`MAX_LATENCY_NS`]. Every latency histogram (per subscriber shard,
/// merged, pooled by the report) has these bounds, so they add exactly.
pub fn latency_histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
        .map_err(|e| format!("cannot create a histogram: {e}"))
}

/// The channel name for channel index `i`.
pub fn channel_name(i: u32) -> Vec<u8> {
    format!("bench.{i}").into_bytes()
}

/// A multiply-rotate hasher for the small integer keys of the sequence map.
#[derive(Default)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// Next expected sequence number by [`stream_key`].
pub type SeqMap = HashMap<u64, u32, BuildHasherDefault<FastHasher>>;

/// The key of one publisher's sequence on one channel.
pub fn stream_key(channel: u32, publisher: u16) -> u64 {
    (u64::from(channel) << 16) | u64::from(publisher)
}

/// Which threads read a case's subscriber connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readers {
    /// Each connection is a task of the generator's multi-threaded runtime.
    Runtime,
    /// Every connection is read by one thread (a current-thread runtime of
    /// its own): at most one core of reading, as a single epoll loop has.
    OneThread,
}

/// Counters every subscriber and publisher of a case adds to as it goes,
/// for the timeline.
#[derive(Debug, Default)]
pub struct Tally {
    /// Messages received by all subscribers together.
    pub delivered: AtomicU64,
    /// Subscribers not (yet) disconnected by the server.
    pub connected: AtomicI64,
    /// PUBLISHes written by all publishers together.
    pub published: AtomicU64,
}

/// Latency histograms shared by many subscribers (sharded to keep lock
/// contention low).
pub struct Latencies {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Latencies {
    /// Empty histograms (ns, 3 significant figures, up to 60 s).
    pub fn new() -> Result<Latencies, String> {
        let mut shards = Vec::new();
        for _ in 0..8 {
            shards.push(Mutex::new(latency_histogram()?));
        }
        Ok(Latencies { shards })
    }

    /// Adds a batch of latencies (ns) to shard `shard`.
    fn record(&self, shard: usize, values: &mut Vec<u64>) {
        let m = &self.shards[shard % self.shards.len()];
        let mut h = match m.lock() {
            Ok(h) => h,
            Err(p) => p.into_inner(),
        };
        for &v in values.iter() {
            h.saturating_record(v.max(1));
        }
        values.clear();
    }

    /// All shards merged.
    pub fn merged(&self) -> Result<Histogram<u64>, String> {
        let mut out = latency_histogram()?;
        for m in &self.shards {
            let h = match m.lock() {
                Ok(h) => h,
                Err(p) => p.into_inner(),
            };
            out.add(&*h)
                .map_err(|e| format!("cannot merge histograms: {e}"))?;
        }
        Ok(out)
    }
}

/// The window whose messages count for rate and latency (by send time).
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// First send time counted, [`now_ns`] units.
    pub start_ns: u64,
    /// First send time no longer counted.
    pub end_ns: u64,
}

/// Saturating publishers' brake: no subscriber may fall more than `cap`
/// messages behind, so publishers cannot outrun the readers into the
/// servers' output-buffer limits (PUBLISH replies alone do not bound that).
pub struct Flow {
    /// Messages published so far, all publishers together.
    pub published: AtomicU64,
    /// Each tracked subscriber's received count and the share of all
    /// published messages it should receive.
    subs: Mutex<Vec<(Arc<AtomicU64>, f64)>>,
    /// Most messages a subscriber may be behind.
    cap: f64,
    /// Set while a publisher waits, so subscribers know to wake it.
    waiting: AtomicBool,
    notify: Notify,
}

impl Flow {
    /// A brake allowing `cap` messages in flight per subscriber.
    pub fn new(cap: u64) -> Flow {
        Flow {
            published: AtomicU64::new(0),
            subs: Mutex::new(Vec::new()),
            cap: cap as f64,
            waiting: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// Tracks a subscriber that should get `share` of all messages.
    pub fn track(&self, progress: Arc<AtomicU64>, share: f64) {
        if share > 0.0
            && let Ok(mut s) = self.subs.lock()
        {
            s.push((progress, share));
        }
    }

    /// Whether some subscriber is more than `cap` messages behind.
    fn lagging(&self) -> bool {
        let published = self.published.load(Ordering::Relaxed) as f64;
        let Ok(subs) = self.subs.lock() else {
            return false;
        };
        subs.iter().any(|(progress, share)| {
            let got = progress.load(Ordering::Relaxed);
            got != u64::MAX && published * share - got as f64 > self.cap
        })
    }

    /// Waits until no subscriber lags or `deadline` passes (then false).
    pub async fn wait(&self, deadline: Instant) -> bool {
        loop {
            if !self.lagging() {
                return true;
            }
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.waiting.store(true, Ordering::SeqCst);
            if !self.lagging() {
                self.waiting.store(false, Ordering::SeqCst);
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                self.waiting.store(false, Ordering::SeqCst);
                return false;
            }
            let nap = (deadline - now).min(Duration::from_millis(2));
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    /// Wakes a waiting publisher (cheap when none waits).
    fn progressed(&self) {
        if self.waiting.swap(false, Ordering::SeqCst) {
            self.notify.notify_waiters();
        }
    }
}

/// Connects to `addr` with TCP_NODELAY, optionally with a small receive
/// buffer (the slow subscriber), over TLS when it is on, failing at
/// `deadline`.
pub async fn connect(
    addr: SocketAddr,
    recv_buffer: Option<u32>,
    deadline: Instant,
) -> Result<Stream, String> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| format!("cannot create a socket: {e}"))?;
    if let Some(size) = recv_buffer {
        sock.set_recv_buffer_size(size)
            .map_err(|e| format!("cannot set SO_RCVBUF: {e}"))?;
    }
    let stream = tokio::time::timeout_at(deadline.into(), sock.connect(addr))
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
    Stream::start(stream, addr, deadline).await
}

/// Sends `verb` with `names` in batches and reads until every name is
/// confirmed (or `want_unsub` confirmations for unsubscribes), by `deadline`.
/// Messages arriving meanwhile are ignored.
pub async fn confirm(
    stream: &mut Stream,
    reader: &mut PushReader,
    verb: &[u8],
    names: &[Vec<u8>],
    deadline: Instant,
) -> Result<(), String> {
    if names.is_empty() {
        return Ok(());
    }
    let unsubscribe = verb.starts_with(b"UN") || verb.starts_with(b"PUN");
    let mut out = Vec::new();
    for chunk in names.chunks(SUBSCRIBE_BATCH) {
        let mut args: Vec<&[u8]> = Vec::with_capacity(chunk.len() + 1);
        args.push(verb);
        args.extend(chunk.iter().map(Vec::as_slice));
        encode_command(&mut out, &args);
    }
    let send = async {
        stream.write_all(&out).await?;
        // Over TLS, the last records may still be in the session.
        stream.flush().await
    };
    tokio::time::timeout_at(deadline.into(), send)
        .await
        .map_err(|_| "sending subscriptions timed out".to_string())?
        .map_err(|e| format!("cannot send subscriptions: {e}"))?;
    let mut confirmed = 0;
    while confirmed < names.len() {
        while let Some(p) = reader.next_push().map_err(|e| e.to_string())? {
            match p {
                Push::Subscribed if !unsubscribe => confirmed += 1,
                Push::Unsubscribed if unsubscribe => confirmed += 1,
                Push::Error(e) => {
                    return Err(format!(
                        "server refused {}: {e}",
                        String::from_utf8_lossy(verb)
                    ));
                }
                _ => {}
            }
        }
        if confirmed >= names.len() {
            break;
        }
        let n = tokio::time::timeout_at(deadline.into(), stream.read(reader.spare()))
            .await
            .map_err(|_| {
                format!(
                    "waiting for {} confirmations timed out ({confirmed} of {})",
                    String::from_utf8_lossy(verb),
                    names.len()
                )
            })?
            .map_err(|e| format!("reading confirmations: {e}"))?;
        if n == 0 {
            return Err("server closed the connection while subscribing".into());
        }
        reader.filled(n);
    }
    Ok(())
}

/// A connected, subscribed connection ready to run.
pub struct SubConn {
    stream: Stream,
    reader: PushReader,
}

/// Connects, subscribes to `channels` and `patterns`, and waits for every
/// confirmation, all by `deadline`.
pub async fn subscribe(
    addr: SocketAddr,
    channels: &[Vec<u8>],
    patterns: &[Vec<u8>],
    recv_buffer: Option<u32>,
    read_buf: usize,
    deadline: Instant,
) -> Result<SubConn, String> {
    let mut stream = connect(addr, recv_buffer, deadline).await?;
    let mut reader = PushReader::new(read_buf);
    confirm(&mut stream, &mut reader, b"SUBSCRIBE", channels, deadline).await?;
    confirm(&mut stream, &mut reader, b"PSUBSCRIBE", patterns, deadline).await?;
    Ok(SubConn { stream, reader })
}

impl SubConn {
    /// The socket, for connections that are held but never read.
    pub fn into_stream(self) -> Stream {
        self.stream
    }
}

/// What one subscriber saw.
#[derive(Default)]
pub struct SubStats {
    /// Messages received.
    pub received: u64,
    /// Messages sent inside the measuring window.
    pub in_window: u64,
    /// Sequence numbers skipped (a later one arrived first).
    pub gaps: u64,
    /// Messages older than one already received on the same sequence.
    pub reordered: u64,
    /// Messages without this generator's header.
    pub foreign: u64,
    /// Set when the server closed the connection.
    pub closed_by_server: bool,
    /// When it did, in [`now_ns`] units.
    pub closed_at_ns: Option<u64>,
    /// The first error, if any.
    pub error: Option<String>,
    /// Next expected sequence number of every stream seen, by
    /// [`stream_key`]: what was not delivered is counted from it.
    pub streams: SeqMap,
}

/// Everything a running subscriber shares with the coordinator.
pub struct SubCtx {
    /// Where latencies go.
    pub latencies: Arc<Latencies>,
    /// Which histogram shard this subscriber uses.
    pub shard: usize,
    /// The measuring window.
    pub window: Window,
    /// Received count, updated after every read (u64::MAX once finished).
    pub progress: Arc<AtomicU64>,
    /// Publishers' brake, when saturating with one.
    pub flow: Option<Arc<Flow>>,
    /// The case's running totals.
    pub tally: Arc<Tally>,
    /// Fired to stop.
    pub stop: CancellationToken,
}

/// Reads until `ctx.stop` fires or the server closes the connection,
/// counting and checking every message.
pub async fn run(conn: SubConn, ctx: SubCtx) -> SubStats {
    let SubConn {
        mut stream,
        mut reader,
    } = conn;
    let mut st = SubStats::default();
    let mut seqs = SeqMap::default();
    let mut counted = 0u64;
    let mut lat: Vec<u64> = Vec::with_capacity(LATENCY_BATCH);
    // One wait for the stop, kept across reads: a new one per read took
    // the token's lock twice per read (5 % of the generator's CPU in S1 at
    // a fixed rate with 1,000 subscribers).
    let stop = ctx.stop.cancelled();
    tokio::pin!(stop);
    // Once stopped, what is already in the socket is still taken (without
    // waiting): the server delivered it, even if this thread had no turn
    // to read it before the stop. Read from the socket itself, not through
    // the runtime's readiness, which may not have seen the data yet.
    let mut stopped = false;
    let mut final_reads = FINAL_READS;
    loop {
        let read = if stopped {
            if final_reads == 0 {
                break;
            }
            final_reads -= 1;
            match stream.read_now(reader.spare()) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                r => r,
            }
        } else {
            tokio::select! {
                biased;
                _ = &mut stop => {
                    stopped = true;
                    continue;
                }
                r = stream.read(reader.spare()) => r,
            }
        };
        match read {
            Ok(0) => {
                st.closed_by_server = true;
                break;
            }
            Ok(n) => reader.filled(n),
            Err(e) => {
                // A reset is the server cutting the connection too (it
                // closed with unread input or unsent output), and so is a
                // TLS session ended without close_notify: counted as a
                // cut, not as an error of the generator.
                st.closed_by_server = true;
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::UnexpectedEof
                ) {
                    st.error = Some(format!("read error: {e}"));
                }
                break;
            }
        }
        take_pushes(&mut reader, &mut st, &mut seqs, &mut lat, &ctx);
        if st.error.is_some() && !st.closed_by_server {
            break;
        }
        ctx.progress.store(st.received, Ordering::Relaxed);
        ctx.tally
            .delivered
            .fetch_add(st.received - counted, Ordering::Relaxed);
        counted = st.received;
        if let Some(f) = &ctx.flow {
            f.progressed();
        }
    }
    if st.closed_by_server {
        st.closed_at_ns = Some(now_ns());
        ctx.tally.connected.fetch_sub(1, Ordering::Relaxed);
    }
    ctx.tally
        .delivered
        .fetch_add(st.received - counted, Ordering::Relaxed);
    st.streams = seqs;
    if !lat.is_empty() {
        ctx.latencies.record(ctx.shard, &mut lat);
    }
    ctx.progress.store(u64::MAX, Ordering::Relaxed);
    if let Some(f) = &ctx.flow {
        f.progressed();
    }
    st
}

/// Default read buffer for subscribers.
pub const SUB_READ_BUF: usize = READ_BUF;

/// Most reads a stopped subscriber makes of what its socket already holds
/// (at most 256 MiB with [`READ_BUF`]; a socket holds far less).
const FINAL_READS: u32 = 4096;

/// Takes every complete push out of `reader`: counts it, checks its
/// sequence, and records its latency when it was sent in the window.
fn take_pushes(
    reader: &mut PushReader,
    st: &mut SubStats,
    seqs: &mut SeqMap,
    lat: &mut Vec<u64>,
    ctx: &SubCtx,
) {
    let now = now_ns();
    loop {
        let push = match reader.next_push() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                st.error = Some(e.to_string());
                break;
            }
        };
        match push {
            Push::Message(Some(h)) => {
                st.received += 1;
                let key = stream_key(h.channel, h.publisher);
                let next = seqs.entry(key).or_insert(0);
                if h.seq == *next {
                    *next += 1;
                } else if h.seq > *next {
                    st.gaps += u64::from(h.seq - *next);
                    *next = h.seq + 1;
                } else {
                    st.reordered += 1;
                }
                if h.sent_ns >= ctx.window.start_ns && h.sent_ns < ctx.window.end_ns {
                    st.in_window += 1;
                    lat.push(now.saturating_sub(h.sent_ns));
                    if lat.len() >= LATENCY_BATCH {
                        ctx.latencies.record(ctx.shard, lat);
                    }
                }
            }
            Push::Message(None) => {
                st.received += 1;
                st.foreign += 1;
            }
            Push::Error(e) => {
                if st.error.is_none() {
                    st.error = Some(format!("error reply: {e}"));
                }
            }
            Push::Subscribed | Push::Unsubscribed | Push::Other => {}
        }
    }
}

/// A case's running subscribers, wherever they run.
pub enum Group {
    /// Tasks of the generator's runtime.
    Tasks(Vec<tokio::task::JoinHandle<SubStats>>),
    /// One thread reading them all; its statistics arrive on the channel.
    Thread(tokio::sync::oneshot::Receiver<Result<Vec<SubStats>, String>>),
}

impl Group {
    /// Starts reading `conns`, the `j`th with `ctxs[j]`, on `readers`.
    pub fn start(
        conns: Vec<SubConn>,
        ctxs: Vec<SubCtx>,
        readers: Readers,
    ) -> Result<Group, String> {
        match readers {
            Readers::Runtime => Ok(Group::Tasks(
                conns
                    .into_iter()
                    .zip(ctxs)
                    .map(|(c, x)| tokio::spawn(run(c, x)))
                    .collect(),
            )),
            Readers::OneThread => {
                // The sockets leave this runtime's reactor and join the
                // reading thread's own.
                let mut moved = Vec::with_capacity(conns.len());
                for c in conns {
                    let stream = c
                        .stream
                        .detach()
                        .map_err(|e| format!("cannot move a subscriber socket: {e}"))?;
                    moved.push((stream, c.reader));
                }
                let (tx, rx) = tokio::sync::oneshot::channel();
                std::thread::Builder::new()
                    .name("loadgen-subscribers".into())
                    .spawn(move || {
                        let _ = tx.send(read_on_this_thread(moved, ctxs));
                    })
                    .map_err(|e| format!("cannot start the subscribers' thread: {e}"))?;
                Ok(Group::Thread(rx))
            }
        }
    }

    /// Waits (at most `timeout`) for every subscriber to stop (after the
    /// case fired their stop token) and returns what each saw, in order.
    pub async fn finish(self, timeout: Duration) -> Result<Vec<SubStats>, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        match self {
            Group::Tasks(tasks) => {
                let mut stats = Vec::with_capacity(tasks.len());
                for t in tasks {
                    match tokio::time::timeout_at(deadline, t).await {
                        Ok(Ok(s)) => stats.push(s),
                        Ok(Err(e)) => return Err(format!("subscriber task failed: {e}")),
                        Err(_) => {
                            return Err(format!("a subscriber did not stop within {timeout:?}"));
                        }
                    }
                }
                Ok(stats)
            }
            Group::Thread(rx) => match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err("the subscribers' thread ended without a result".into()),
                Err(_) => Err(format!(
                    "the subscribers' thread did not stop within {timeout:?}"
                )),
            },
        }
    }
}

/// Runs every subscriber as a task of a current-thread runtime on the
/// calling thread until all have stopped.
fn read_on_this_thread(
    conns: Vec<(Detached, PushReader)>,
    ctxs: Vec<SubCtx>,
) -> Result<Vec<SubStats>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the subscribers' runtime: {e}"))?;
    rt.block_on(async move {
        let mut tasks = Vec::with_capacity(conns.len());
        for ((stream, reader), ctx) in conns.into_iter().zip(ctxs) {
            let stream = stream
                .attach()
                .map_err(|e| format!("cannot register a subscriber socket: {e}"))?;
            tasks.push(tokio::spawn(run(SubConn { stream, reader }, ctx)));
        }
        let mut stats = Vec::with_capacity(tasks.len());
        for t in tasks {
            stats.push(
                t.await
                    .map_err(|e| format!("subscriber task failed: {e}"))?,
            );
        }
        Ok(stats)
    })
}

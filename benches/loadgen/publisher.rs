//! Publishers: saturating (pipelined, a bounded window of unanswered
//! PUBLISHes, on the tokio runtime) and fixed-rate (open loop on a thread of
//! its own: messages go out on schedule whatever the replies do, stamped
//! with their scheduled time so a slow server cannot hide latency).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::payload::{HEADER_LEN, Header, instant_ns};
use crate::resp::{IntReply, ReplyReader};
use crate::subscriber::{Flow, Tally, channel_name, connect};
use crate::tls::Stream;

/// Most PUBLISHes in one write.
const MAX_BATCH: usize = 64;

/// Most bytes in one write (at least one message is always sent).
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// A write that makes no progress for this long is an error.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a waiting reply reader checks whether it is done.
const REPLY_POLL: Duration = Duration::from_millis(50);

/// What one publisher does.
#[derive(Clone, Debug)]
pub struct PubSpec {
    /// This publisher's id (in every payload header).
    pub id: u16,
    /// Number of publishers (they interleave over the channels).
    pub publishers: u16,
    /// Channels `bench.0 .. bench.<channels-1>`, published round-robin.
    pub channels: u32,
    /// Payload size in bytes (at least the 16-byte header).
    pub payload: usize,
    /// When to send the first message.
    pub start: Instant,
    /// When to stop sending.
    pub end: Instant,
    /// Stop after this many messages, if set.
    pub max_messages: Option<u64>,
    /// When to give up waiting for replies.
    pub drain_deadline: Instant,
    /// The measuring window, as send times in `now_ns` units.
    pub window: (u64, u64),
    /// The case's running totals (PUBLISHes written).
    pub tally: Arc<Tally>,
}

/// What one publisher did.
#[derive(Debug, Default)]
pub struct PubResult {
    /// PUBLISHes written.
    pub sent: u64,
    /// Replies received.
    pub acked: u64,
    /// Sum of the receiver counts the server replied.
    pub receivers: u64,
    /// Messages sent per channel index.
    pub per_channel: Vec<u32>,
    /// Messages sent (or scheduled) inside the measuring window.
    pub in_window: u64,
    /// Error replies.
    pub error_replies: u64,
    /// The first error (reply or I/O).
    pub error: Option<String>,
    /// How late messages left against their schedule, µs (fixed rate only).
    pub send_lag_us: Option<Histogram<u64>>,
    /// Time spent sending (saturating: from the first send to the last).
    pub busy: Duration,
    /// Of that, time blocked on a full window of unanswered PUBLISHes.
    pub wait_replies: Duration,
    /// Of that, time blocked because a subscriber was too far behind.
    pub wait_flow: Duration,
}

/// Builds PUBLISH commands for one publisher.
struct Encoder {
    spec: PubSpec,
    /// Per channel, everything of its PUBLISH before the payload (built
    /// once, so a publish costs no formatting or allocation).
    prefixes: Vec<Vec<u8>>,
    filler: Vec<u8>,
    next: u64,
    seqs: Vec<u32>,
    in_window: u64,
}

impl Encoder {
    fn new(spec: &PubSpec) -> Encoder {
        let filler = vec![b'x'; spec.payload.saturating_sub(HEADER_LEN)];
        let plen = HEADER_LEN + filler.len();
        let prefixes = (0..spec.channels)
            .map(|i| {
                let name = channel_name(i);
                let mut p = format!("*3\r\n$7\r\nPUBLISH\r\n${}\r\n", name.len()).into_bytes();
                p.extend_from_slice(&name);
                p.extend_from_slice(format!("\r\n${plen}\r\n").as_bytes());
                p
            })
            .collect();
        Encoder {
            prefixes,
            filler,
            next: 0,
            seqs: vec![0; spec.channels as usize],
            in_window: 0,
            spec: spec.clone(),
        }
    }

    /// Appends the next PUBLISH, stamped `sent_ns`, to `out`.
    fn push(&mut self, out: &mut Vec<u8>, sent_ns: u64) {
        let k = self.next;
        self.next += 1;
        let p = u64::from(self.spec.publishers.max(1));
        let ch =
            ((k * p + u64::from(self.spec.id)) % u64::from(self.spec.channels.max(1))) as usize;
        let seq = self.seqs[ch];
        self.seqs[ch] += 1;
        if sent_ns >= self.spec.window.0 && sent_ns < self.spec.window.1 {
            self.in_window += 1;
        }
        let header = Header {
            publisher: self.spec.id,
            channel: ch as u32,
            seq,
            sent_ns,
        }
        .encode();
        out.extend_from_slice(&self.prefixes[ch]);
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.filler);
        out.extend_from_slice(b"\r\n");
    }

    /// Messages per write for this payload size.
    fn batch_limit(&self) -> usize {
        (MAX_BATCH_BYTES / (self.spec.payload + 64)).clamp(1, MAX_BATCH)
    }

    fn remaining(&self) -> u64 {
        self.spec
            .max_messages
            .map_or(u64::MAX, |m| m.saturating_sub(self.next))
    }
}

/// Reply bookkeeping shared by the writer and its reply reader.
#[derive(Default)]
struct Replies {
    acked: u64,
    receivers: u64,
    error_replies: u64,
    error: Option<String>,
}

impl Replies {
    /// Whether the reply reader should stop: every sent PUBLISH is
    /// answered after the publisher finished, or the drain deadline passed
    /// (recorded as an error).
    fn finished(&mut self, done: &AtomicBool, sent: &AtomicU64, drain_deadline: Instant) -> bool {
        // `done` before `sent`: the publisher counts a send before it says
        // it is done, so this order never sees done with a stale count.
        let done = done.load(Ordering::Acquire);
        let sent = sent.load(Ordering::Acquire);
        if done && self.acked >= sent {
            return true;
        }
        if Instant::now() >= drain_deadline {
            self.error.get_or_insert_with(|| {
                format!(
                    "{} PUBLISH replies missing at the deadline",
                    sent - self.acked
                )
            });
            return true;
        }
        false
    }

    /// Takes every complete reply out of `r`; returns how many.
    fn take(&mut self, r: &mut ReplyReader) -> Result<u64, String> {
        let mut n = 0;
        while let Some(reply) = r.next_reply().map_err(|e| e.to_string())? {
            n += 1;
            self.acked += 1;
            match reply {
                IntReply::Int(k) => self.receivers += k.max(0) as u64,
                IntReply::Error(e) => {
                    self.error_replies += 1;
                    if self.error.is_none() {
                        self.error = Some(format!("PUBLISH failed: {e}"));
                    }
                }
            }
        }
        Ok(n)
    }
}

/// Publishes as fast as the window of `window` unanswered PUBLISHes (and
/// `flow`, the subscribers' brake) allows, from `spec.start` to `spec.end`.
pub async fn saturate(
    addr: SocketAddr,
    spec: PubSpec,
    window: usize,
    flow: Option<Arc<Flow>>,
) -> PubResult {
    let enc = Encoder::new(&spec);
    let mut result = PubResult::default();
    let stream = match connect(addr, None, Instant::now() + Duration::from_secs(10)).await {
        Ok(s) => s,
        Err(e) => {
            result.error = Some(format!("publisher {}: {e}", spec.id));
            return result;
        }
    };
    // In clear, the socket's own halves (no lock between them).
    match stream {
        Stream::Plain(tcp) => {
            let (rd, wr) = tcp.into_split();
            saturate_on(rd, wr, spec, window, flow, enc, result).await
        }
        tls => {
            let (rd, wr) = tokio::io::split(tls);
            saturate_on(rd, wr, spec, window, flow, enc, result).await
        }
    }
}

/// [`saturate`] on a connection's read and write halves.
async fn saturate_on<R, W>(
    mut rd: R,
    mut wr: W,
    spec: PubSpec,
    window: usize,
    flow: Option<Arc<Flow>>,
    mut enc: Encoder,
    mut result: PubResult,
) -> PubResult
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let sem = Arc::new(Semaphore::new(window.max(1)));
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (sem, sent, done) = (Arc::clone(&sem), Arc::clone(&sent), Arc::clone(&done));
        let drain_deadline = spec.drain_deadline;
        tokio::spawn(async move {
            let mut replies = Replies::default();
            let mut r = ReplyReader::new(64 * 1024);
            loop {
                if replies.finished(&done, &sent, drain_deadline) {
                    break;
                }
                let n = match tokio::time::timeout(REPLY_POLL, rd.read(r.spare())).await {
                    Err(_) => continue,
                    Ok(Ok(0)) => {
                        replies
                            .error
                            .get_or_insert_with(|| "server closed the publisher".into());
                        break;
                    }
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) => {
                        replies
                            .error
                            .get_or_insert_with(|| format!("publisher read: {e}"));
                        break;
                    }
                };
                r.filled(n);
                match replies.take(&mut r) {
                    Ok(k) => sem.add_permits(k as usize),
                    Err(e) => {
                        replies.error.get_or_insert(e);
                        break;
                    }
                }
            }
            // Let a writer blocked on the window see the end.
            sem.close();
            replies
        })
    };
    tokio::time::sleep_until(spec.start.into()).await;
    let mut buf = Vec::with_capacity(MAX_BATCH_BYTES + spec.payload + 64);
    let limit = enc.batch_limit();
    let mut write_error = None;
    let began = Instant::now();
    while Instant::now() < spec.end && enc.remaining() > 0 {
        match sem.try_acquire() {
            Ok(p) => p.forget(),
            Err(_) => {
                let t = Instant::now();
                let got = tokio::time::timeout_at(spec.end.into(), sem.acquire()).await;
                result.wait_replies += t.elapsed();
                match got {
                    Ok(Ok(p)) => p.forget(),
                    _ => break,
                }
            }
        }
        // The rest of the batch in one step (one atomic operation, not one
        // per message). Only this task takes permits, so what is available
        // now can be taken.
        let want = (limit - 1)
            .min(usize::try_from(enc.remaining() - 1).unwrap_or(usize::MAX))
            .min(sem.available_permits());
        let mut n = 1;
        if let Ok(p) = sem.try_acquire_many(u32::try_from(want).unwrap_or(0)) {
            n += p.num_permits();
            p.forget();
        }
        if let Some(f) = &flow {
            let t = Instant::now();
            let clear = f.wait(spec.end).await;
            result.wait_flow += t.elapsed();
            if !clear {
                break;
            }
        }
        buf.clear();
        let ts = instant_ns(Instant::now());
        for _ in 0..n {
            enc.push(&mut buf, ts);
        }
        let send = async {
            wr.write_all(&buf).await?;
            // Over TLS, the last records may still be in the session.
            wr.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, send).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                write_error = Some(format!("publisher write: {e}"));
                break;
            }
            Err(_) => {
                write_error = Some("publisher write stalled for 5 s".into());
                break;
            }
        }
        sent.fetch_add(n as u64, Ordering::Release);
        spec.tally.published.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(f) = &flow {
            f.published.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    result.busy = began.elapsed();
    done.store(true, Ordering::Release);
    let replies = match reader.await {
        Ok(r) => r,
        Err(e) => Replies {
            error: Some(format!("reply reader failed: {e}")),
            ..Replies::default()
        },
    };
    result.sent = sent.load(Ordering::Acquire);
    result.acked = replies.acked;
    result.receivers = replies.receivers;
    result.error_replies = replies.error_replies;
    result.error = write_error.or(replies.error);
    result.in_window = enc.in_window;
    result.per_channel = enc.seqs;
    result
}

/// Publishes `per_sec` messages a second on schedule, open loop, on the
/// calling thread (blocking); replies are read on a second thread.
pub fn fixed_rate(addr: SocketAddr, spec: PubSpec, per_sec: f64) -> PubResult {
    let mut enc = Encoder::new(&spec);
    let mut result = PubResult::default();
    let fail = |mut r: PubResult, e: String| {
        r.error = Some(format!("publisher {}: {e}", spec.id));
        r
    };
    let tcp = match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
        Ok(s) => s,
        Err(e) => return fail(result, format!("cannot connect to {addr}: {e}")),
    };
    let setup = tcp
        .set_nodelay(true)
        .and_then(|_| tcp.set_write_timeout(Some(WRITE_TIMEOUT)))
        .and_then(|_| crate::tls::blocking(tcp, addr, WRITE_TIMEOUT, REPLY_POLL));
    let (mut stream, mut rd) = match setup {
        Ok(halves) => halves,
        Err(e) => return fail(result, format!("socket setup: {e}")),
    };
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (sent, done) = (Arc::clone(&sent), Arc::clone(&done));
        let drain_deadline = spec.drain_deadline;
        std::thread::spawn(move || {
            let mut replies = Replies::default();
            let mut r = ReplyReader::new(64 * 1024);
            loop {
                if replies.finished(&done, &sent, drain_deadline) {
                    break;
                }
                match rd.read(r.spare()) {
                    Ok(0) => {
                        replies
                            .error
                            .get_or_insert_with(|| "server closed the publisher".into());
                        break;
                    }
                    Ok(n) => r.filled(n),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue;
                    }
                    Err(e) => {
                        replies
                            .error
                            .get_or_insert_with(|| format!("publisher read: {e}"));
                        break;
                    }
                }
                if let Err(e) = replies.take(&mut r) {
                    replies.error.get_or_insert(e);
                    break;
                }
            }
            replies
        })
    };
    let mut lag = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).ok();
    let interval_ns = 1e9 / per_sec.max(0.001);
    let start_ns = instant_ns(spec.start);
    let now = Instant::now();
    if spec.start > now {
        std::thread::sleep(spec.start - now);
    }
    let limit = enc.batch_limit() as u64;
    let mut buf = Vec::with_capacity(MAX_BATCH_BYTES + spec.payload + 64);
    let mut write_error = None;
    loop {
        let now = Instant::now();
        if now >= spec.end || enc.remaining() == 0 {
            break;
        }
        let elapsed = now.saturating_duration_since(spec.start).as_nanos() as f64;
        let due = ((elapsed / interval_ns) as u64 + 1)
            .min(enc.next + limit)
            .min(enc.next.saturating_add(enc.remaining()));
        if due <= enc.next {
            let next_at = spec.start + Duration::from_nanos((enc.next as f64 * interval_ns) as u64);
            std::thread::sleep(next_at.saturating_duration_since(now));
            continue;
        }
        buf.clear();
        let now_ns = instant_ns(now);
        let n = due - enc.next;
        for _ in 0..n {
            let sched = start_ns + (enc.next as f64 * interval_ns) as u64;
            if let Some(h) = lag.as_mut() {
                h.saturating_record(now_ns.saturating_sub(sched) / 1000);
            }
            enc.push(&mut buf, sched);
        }
        if let Err(e) = stream.write_all(&buf) {
            write_error = Some(format!("publisher write: {e}"));
            break;
        }
        sent.fetch_add(n, Ordering::Release);
        spec.tally.published.fetch_add(n, Ordering::Relaxed);
    }
    done.store(true, Ordering::Release);
    let replies = match reader.join() {
        Ok(r) => r,
        Err(_) => Replies {
            error: Some("reply reader thread panicked".into()),
            ..Replies::default()
        },
    };
    result.sent = sent.load(Ordering::Acquire);
    result.acked = replies.acked;
    result.receivers = replies.receivers;
    result.error_replies = replies.error_replies;
    result.error = write_error.or(replies.error);
    result.in_window = enc.in_window;
    result.per_channel = enc.seqs;
    result.send_lag_us = lag;
    result
}

/// How many of publisher `id`'s first `n` PUBLISHes went to each of
/// `channels` channels (the [`Encoder`]'s round-robin): with `n` the
/// acknowledged count, what each channel's subscribers must have received.
pub fn per_channel_of_first(n: u64, id: u16, publishers: u16, channels: u32) -> Vec<u64> {
    let c = u64::from(channels.max(1));
    let p = u64::from(publishers.max(1));
    let channel = |k: u64| ((k * p + u64::from(id)) % c) as usize;
    // The channel sequence repeats every c / gcd(p, c) messages.
    let (mut a, mut b) = (p % c, c);
    while a != 0 {
        (a, b) = (b % a, a);
    }
    let period = c / b;
    let mut out = vec![0u64; c as usize];
    let full = n / period;
    if full > 0 {
        for k in 0..period {
            out[channel(k)] += full;
        }
    }
    for k in 0..n % period {
        out[channel(k)] += 1;
    }
    out
}

/// A publisher's spec for the selftest: no window, no time limits.
fn selftest_spec(id: u16, publishers: u16, channels: u32, payload: usize, now: Instant) -> PubSpec {
    PubSpec {
        id,
        publishers,
        channels,
        payload,
        start: now,
        end: now,
        max_messages: None,
        drain_deadline: now,
        window: (0, u64::MAX),
        tally: Arc::new(Tally::default()),
    }
}

/// Checks that the encoder's PUBLISHes are exactly what the generic RESP
/// encoder makes of the same arguments, and that
/// [`per_channel_of_first`] agrees with the encoder (`loadgen selftest`).
pub fn self_test() -> Result<(), String> {
    let now = Instant::now();
    for (channels, payload) in [(3u32, 16usize), (12, 100), (1, 5000)] {
        let spec = selftest_spec(1, 2, channels, payload, now);
        let mut enc = Encoder::new(&spec);
        let mut seqs = vec![0u32; channels as usize];
        for k in 0..2 * channels as u64 {
            let mut got = Vec::new();
            enc.push(&mut got, 1_000 + k);
            let ch = ((k * 2 + 1) % u64::from(channels)) as u32;
            let seq = seqs[ch as usize];
            seqs[ch as usize] += 1;
            let mut body = Header {
                publisher: 1,
                channel: ch,
                seq,
                sent_ns: 1_000 + k,
            }
            .encode()
            .to_vec();
            body.resize(payload.max(HEADER_LEN), b'x');
            let mut want = Vec::new();
            crate::resp::encode_command(&mut want, &[b"PUBLISH", &channel_name(ch), &body]);
            if got != want {
                return Err(format!(
                    "publish encoder, {channels} channels, {payload} B, message {k}: got {:?}, want {:?}",
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want)
                ));
            }
        }
    }
    let now = Instant::now();
    for (id, publishers, channels) in [(0u16, 2u16, 1u32), (1, 2, 10), (2, 3, 7), (1, 4, 6)] {
        let spec = selftest_spec(id, publishers, channels, 16, now);
        let mut enc = Encoder::new(&spec);
        let mut out = Vec::new();
        for n in 0..40u64 {
            let want: Vec<u64> = enc.seqs.iter().map(|&s| u64::from(s)).collect();
            let got = per_channel_of_first(n, id, publishers, channels);
            if got != want {
                return Err(format!(
                    "per_channel_of_first({n}, {id}, {publishers}, {channels}) = {got:?}, the encoder sent {want:?}"
                ));
            }
            out.clear();
            enc.push(&mut out, 0);
        }
    }
    Ok(())
}

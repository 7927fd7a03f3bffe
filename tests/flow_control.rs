//! Flow control on the publish path: a pipelining publisher faster than its
//! subscribers is slowed, and no subscriber that keeps reading is cut or
//! misses a message; a frozen or much slower subscriber is still cut by
//! `client-output-buffer-limit` without holding the publisher back for
//! longer than the documented bound (`pubsub::flow`).
//!
//! The subscribers here read as fast as a deliberately slow reader can: one
//! thread reads every subscriber socket in turn, at most a fixed number of
//! bytes from each per round and one round a millisecond, so the group
//! always reads slower than the server can write and every test exercises
//! the saturated case.

mod common;

use common::{Raw, TestServer, cmd, info_field, show};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Output limits of every test: hard 1 MB, soft 512 KB for 60 s. Without
/// flow control a publisher faster than its readers passes 1 MB in well
/// under a second.
const LIMITS: &[&str] = &[
    "--client-output-buffer-limit",
    "pubsub",
    "1mb",
    "512kb",
    "60",
];
/// PUBLISHes the publisher keeps in flight (sent before reading replies).
const WINDOW: usize = 32;
/// Every wait of these tests ends by this deadline.
const DEADLINE: Duration = Duration::from_secs(90);

/// A payload of `len` bytes that starts with its sequence number.
fn payload(seq: usize, len: usize) -> Vec<u8> {
    let mut p = format!("{seq:08}:").into_bytes();
    p.resize(len.max(9), b'x');
    p
}

/// `seq` as the eight digits that start its payload.
fn digits(seq: usize) -> [u8; 8] {
    let mut d = [b'0'; 8];
    let mut n = seq;
    for slot in d.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    d
}

/// The message frame a RESP2 subscriber of `channel` gets for `seq`.
fn frame(channel: &str, seq: usize, len: usize) -> Vec<u8> {
    let p = payload(seq, len);
    let mut f = format!(
        "*3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${}\r\n",
        channel.len(),
        p.len()
    )
    .into_bytes();
    f.extend_from_slice(&p);
    f.extend_from_slice(b"\r\n");
    f
}

/// How fast one subscriber reads.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pace {
    /// This many bytes a round on average (one round a millisecond): the
    /// subscribers of one pace share a budget of that many each, and one
    /// may take up to twice its share when it has more to read, as a
    /// reading thread short of time serves whichever sockets have data.
    Bytes(usize),
    /// Never reads after subscribing.
    Frozen,
}

/// One subscriber's connection and what it has read.
struct Sub {
    stream: TcpStream,
    pace: Pace,
    buf: Vec<u8>,
    next: usize,
    closed: bool,
    /// When it had read every message.
    done_at: Option<Instant>,
}

/// Connects `paces.len()` subscribers to `channel`.
fn subscribe(srv: &TestServer, channel: &str, paces: &[Pace]) -> Vec<Sub> {
    paces
        .iter()
        .map(|&pace| {
            let mut c = srv.raw();
            c.send(&cmd(&[b"SUBSCRIBE", channel.as_bytes()]));
            let r = c.reply();
            assert!(r.starts_with(b"*3\r\n$9\r\nsubscribe\r\n"), "{}", show(&r));
            c.stream.set_nonblocking(true).expect("nonblocking");
            Sub {
                stream: c.stream,
                pace,
                buf: Vec::new(),
                next: 0,
                closed: false,
                done_at: None,
            }
        })
        .collect()
}

/// Reads every subscriber in turn until each has read `count` messages of
/// `len` bytes or was closed by the server, checking that each message is
/// the next in sequence. Frozen subscribers are only checked for a close.
fn read_all(subs: &mut [Sub], channel: &str, count: usize, len: usize) {
    let flen = frame(channel, 0, len).len();
    let head = &frame(channel, 0, len)[..flen - len.max(9) - 2];
    let mut chunk = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + DEADLINE;
    let mut budgets: std::collections::HashMap<usize, usize> = Default::default();
    let mut first = 0;
    loop {
        let mut busy = false;
        budgets.clear();
        for s in subs.iter() {
            if let Pace::Bytes(n) = s.pace {
                *budgets.entry(n).or_default() += n;
            }
        }
        // Each round starts about half the ring further on, so none is left
        // last (and, with the budget spent, unread) for many rounds in a row:
        // starting one further each round left a subscriber unread for about
        // as many rounds as there are subscribers, a reader that stops for
        // 50 ms, which is what a frozen client looks like.
        first = (first + ring_stride(subs.len())) % subs.len().max(1);
        let (before, after) = subs.split_at_mut(first);
        for s in after.iter_mut().chain(before.iter_mut()) {
            if s.closed || s.next == count {
                continue;
            }
            let Pace::Bytes(pace) = s.pace else {
                // A frozen subscriber: only see whether it was closed.
                let mut peek = [0u8; 1];
                match s.stream.peek(&mut peek) {
                    Ok(0) => s.closed = true,
                    Err(e) if e.kind() != ErrorKind::WouldBlock => s.closed = true,
                    _ => {}
                }
                continue;
            };
            busy = true;
            let left = budgets.get_mut(&pace).expect("budget");
            let want = (2 * pace).min(*left).min(chunk.len());
            if want == 0 {
                continue;
            }
            match s.stream.read(&mut chunk[..want]) {
                Ok(0) => s.closed = true,
                Ok(n) => {
                    *left -= n;
                    s.buf.extend_from_slice(&chunk[..n]);
                    let whole = s.buf.len() / flen * flen;
                    for f in s.buf[..whole].chunks(flen) {
                        assert!(
                            f.starts_with(head) && f[head.len()..head.len() + 8] == digits(s.next),
                            "subscriber got {} where message {} was due",
                            show(&f[..f.len().min(80)]),
                            s.next
                        );
                        s.next += 1;
                    }
                    s.buf.drain(..whole);
                    if s.next == count {
                        s.done_at = Some(Instant::now());
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => s.closed = true,
            }
        }
        if !busy {
            return;
        }
        assert!(Instant::now() < deadline, "subscribers did not finish");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The smallest step past half of a ring of `n` that visits every place.
fn ring_stride(n: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    (n / 2 + 1..n.max(2)).find(|&s| gcd(s, n) == 1).unwrap_or(1)
}

/// Publishes `count` messages of `len` bytes to `channel`, keeping
/// [`WINDOW`] in flight; returns the receiver count of every PUBLISH.
fn publish(p: &mut Raw, channel: &str, count: usize, len: usize) -> Vec<i64> {
    let mut counts = Vec::with_capacity(count);
    let mut seq = 0;
    while seq < count {
        let n = WINDOW.min(count - seq);
        let mut out = Vec::new();
        for s in seq..seq + n {
            out.extend(cmd(&[b"PUBLISH", channel.as_bytes(), &payload(s, len)]));
        }
        p.stream.write_all(&out).expect("publish");
        for _ in 0..n {
            let r = p.reply();
            counts.push(show(&r[1..r.len() - 2]).parse().expect("integer reply"));
        }
        seq += n;
    }
    counts
}

/// An integer INFO field.
fn info_int(q: &mut Raw, field: &str) -> u64 {
    let info = q.call("INFO stats");
    info_field(&info, field)
        .unwrap_or_else(|| panic!("INFO has no {field}"))
        .parse()
        .expect("integer")
}

/// Publishes `count` messages of `len` bytes to `subs` subscribers that
/// all read at `pace`, and checks that none was cut and each got every
/// message in order. The hard limit is 256 KB: the kernel's socket buffers
/// take about 3.5 MB of a subscriber's messages before its queue grows, so
/// `count` is chosen to pass 4 MB for every subscriber, and without flow
/// control every one of them is cut.
/// `io_threads` is the server's `io-threads`.
fn saturate(len: usize, count: usize, subs: usize, pace: usize, io_threads: &str) {
    let srv = TestServer::start_with(&[
        "--client-output-buffer-limit",
        "pubsub",
        "256kb",
        "0",
        "0",
        "--io-threads",
        io_threads,
    ]);
    let channel = "fc";
    srv.raw()
        .expect_call("CONFIG SET latency-monitor-threshold 1", b"+OK\r\n");
    let mut readers = subscribe(&srv, channel, &vec![Pace::Bytes(pace); subs]);
    let publisher = {
        let addr = srv.addr();
        let channel = channel.to_string();
        std::thread::spawn(move || publish(&mut Raw::connect(&addr), &channel, count, len))
    };
    read_all(&mut readers, channel, count, len);
    let counts = publisher.join().expect("publisher");
    let cut = readers.iter().filter(|s| s.closed).count();
    let short: Vec<usize> = readers
        .iter()
        .map(|s| s.next)
        .filter(|&n| n < count)
        .collect();
    assert_eq!(cut, 0, "{len} B: {cut} of {subs} subscribers were cut");
    assert!(
        short.is_empty(),
        "{len} B: subscribers short of messages: {short:?}"
    );
    assert!(
        counts.iter().all(|&c| c == subs as i64),
        "{len} B: a PUBLISH reached fewer than {subs}"
    );
    let mut q = srv.raw();
    assert_eq!(
        info_int(&mut q, "client_output_buffer_limit_disconnections"),
        0
    );
    assert!(
        info_int(&mut q, "publish_pauses") > 0,
        "{len} B: the publisher was never paused, so the readers kept up: the test proves nothing"
    );
    // The pauses are latency events (LATENCY LATEST lists the event).
    let latest = q.call("LATENCY LATEST");
    assert!(
        latest.windows(13).any(|w| w == b"publish-pause"),
        "{len} B: no publish-pause latency event: {}",
        show(&latest)
    );
}

#[test]
fn healthy_subscribers_are_never_cut_16_bytes() {
    // 48-byte frames: 90,000 of them are 4.3 MB for every subscriber.
    saturate(16, 90_000, 100, 512, "1");
}

#[test]
fn healthy_subscribers_are_never_cut_256_bytes() {
    // 290-byte frames: 15,000 are 4.4 MB for every subscriber.
    saturate(256, 15_000, 100, 512, "1");
}

#[test]
fn healthy_subscribers_are_never_cut_with_two_io_threads() {
    // As above, with the publisher and the subscribers' writes on two
    // threads: pauses and their ends cross threads.
    saturate(256, 15_000, 100, 512, "2");
}

#[test]
fn healthy_subscribers_are_never_cut_4_kilobytes() {
    // 4 KB frames: 1,100 are 4.5 MB for every subscriber.
    saturate(4096, 1_100, 100, 2048, "1");
}

/// What [`odd_one_out`] saw.
struct OddRun {
    /// How long the publisher took to have every PUBLISH answered.
    publisher: Duration,
    /// How long the slowest healthy subscriber took to read everything.
    healthy: Duration,
    /// INFO `publish_paused_usec` at the end.
    paused: Duration,
}

/// One subscriber at `odd` among `healthy` reading 16 KB a round:
/// publishes 8 MB (past the 3.5 MB the kernel's socket buffers take and
/// the 1 MB hard limit), checks that the odd one is cut
/// and the healthy ones get every message, and returns the timings.
fn odd_one_out(odd: Pace, healthy: usize) -> OddRun {
    const LEN: usize = 1024;
    const COUNT: usize = 8_000;
    let srv = TestServer::start_with(LIMITS);
    let channel = "odd";
    let mut paces = vec![Pace::Bytes(16 * 1024); healthy];
    paces.push(odd);
    let mut readers = subscribe(&srv, channel, &paces);
    let started = Instant::now();
    let publisher = {
        let addr = srv.addr();
        std::thread::spawn(move || {
            let counts = publish(&mut Raw::connect(&addr), "odd", COUNT, LEN);
            (counts, started.elapsed())
        })
    };
    read_all(&mut readers, channel, COUNT, LEN);
    let (counts, publisher_took) = publisher.join().expect("publisher");
    let (odd_sub, healthy_subs) = readers.split_last().expect("subscribers");
    let mut healthy_took = Duration::ZERO;
    for (i, s) in healthy_subs.iter().enumerate() {
        assert!(!s.closed, "healthy subscriber {i} was cut");
        assert_eq!(s.next, COUNT, "healthy subscriber {i} missed messages");
        healthy_took = healthy_took.max(s.done_at.expect("done") - started);
    }
    // The odd one's connection may be closed before its reader noticed.
    let mut q = srv.raw();
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_int(&mut q, "client_output_buffer_limit_disconnections") == 0 {
        assert!(
            Instant::now() < deadline,
            "the {odd:?} subscriber was not cut"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        odd_sub.next < COUNT,
        "the {odd:?} subscriber read everything"
    );
    // Every PUBLISH counted every subscriber until the odd one was cut,
    // and the healthy ones always.
    assert!(
        counts.contains(&(healthy as i64)),
        "PUBLISH always counted the cut one"
    );
    assert!(counts.iter().all(|&c| c >= healthy as i64));
    OddRun {
        publisher: publisher_took,
        healthy: healthy_took,
        paused: Duration::from_micros(info_int(&mut q, "publish_paused_usec")),
    }
}

/// The longest a stalled or minority receiver may hold its publishers,
/// with the coarse clock's 100 ms step and a busy machine's scheduling on
/// top: `STALL_GRACE_MS` + one `PAUSE_MAX`, plus margin.
const STALL_BOUND: Duration = Duration::from_millis(1000 + 50 + 450);

#[test]
fn a_frozen_subscriber_alone_is_cut_and_holds_the_publisher_a_bounded_time() {
    let run = odd_one_out(Pace::Frozen, 0);
    assert!(
        run.paused <= STALL_BOUND,
        "the publisher was paused {:?} for a frozen subscriber",
        run.paused
    );
}

#[test]
fn a_frozen_subscriber_among_healthy_ones_is_cut_and_they_get_everything() {
    let run = odd_one_out(Pace::Frozen, 9);
    // The publisher keeps the healthy subscribers' pace, give or take the
    // bound; waiting for the frozen one would stall it for good.
    assert!(
        run.publisher <= run.healthy + STALL_BOUND,
        "publisher {:?}, healthy subscribers {:?}",
        run.publisher,
        run.healthy
    );
}

#[test]
fn a_subscriber_at_a_tenth_of_its_peers_speed_is_cut() {
    let run = odd_one_out(Pace::Bytes(1600), 9);
    // Paced by the slow one, the publisher would take ten times as long as
    // the healthy subscribers.
    assert!(
        run.publisher <= run.healthy + STALL_BOUND,
        "publisher {:?}, healthy subscribers {:?}",
        run.publisher,
        run.healthy
    );
}

#[test]
fn a_paused_publisher_shows_in_client_list() {
    // No output limits: the subscriber is not cut while it reads nothing.
    let srv = TestServer::start_with(&["--client-output-buffer-limit", "pubsub", "0", "0", "0"]);
    // One subscriber that reads nothing yet: its queue passes the high
    // watermark and the publisher pauses, for at most the stall grace.
    let mut sub = subscribe(&srv, "cl", &[Pace::Frozen]);
    let mut p = srv.raw();
    p.expect_call("CLIENT SETNAME pub", b"+OK\r\n");
    let big = vec![b'x'; 64 * 1024];
    let mut out = Vec::new();
    for _ in 0..64 {
        out.extend(cmd(&[b"PUBLISH", b"cl", &big]));
    }
    p.stream.write_all(&out).expect("publish");
    let mut q = srv.raw();
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let list = show(&q.call("CLIENT LIST"));
        if let Some(l) = list.lines().find(|l| l.contains(" name=pub "))
            && l.contains(" pause-ms=")
        {
            break l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "never saw the publisher paused: {list}"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(
        line.contains(" events=w ") || line.contains(" events= "),
        "{line}"
    );
    // Reading resumes: every PUBLISH is answered once the subscriber reads.
    sub[0].stream.set_nonblocking(false).expect("blocking");
    let drain = std::thread::spawn(move || {
        let mut s = sub.remove(0).stream;
        let mut chunk = vec![0u8; 1 << 16];
        let mut total = 0;
        while total < 64 * big.len() {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        total
    });
    for _ in 0..64 {
        assert_eq!(p.reply(), b":1\r\n");
    }
    assert!(drain.join().expect("drain") >= 64 * 64 * 1024);
    assert!(info_int(&mut q, "publish_pauses") >= 1);
}

/// The largest `omem=` of a pubsub client in `CLIENT LIST TYPE pubsub`.
fn pubsub_omem(q: &mut Raw) -> usize {
    show(&q.call("CLIENT LIST TYPE pubsub"))
        .split_whitespace()
        .filter_map(|f| f.strip_prefix("omem="))
        .filter_map(|v| v.parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_slow_steady_subscribers_queue_stays_a_few_milliseconds_of_its_pace() {
    // One subscriber reading about 1 MB/s: once the kernel's buffers are
    // full its queue grows, and the publisher pauses when that queue holds
    // more than about 2 ms of the subscriber's pace (at least 16 KiB, plus
    // the publisher's batch of 32 messages), not when it reaches 256 KiB,
    // the most any receiver's high watermark is.
    let srv = TestServer::start_with(&[
        "--client-output-buffer-limit",
        "pubsub",
        "32mb",
        "8mb",
        "60",
    ]);
    let (count, len) = (10_000, 256);
    let mut readers = subscribe(&srv, "steady", &[Pace::Bytes(1000)]);
    let publisher = {
        let addr = srv.addr();
        std::thread::spawn(move || publish(&mut Raw::connect(&addr), "steady", count, len))
    };
    let sampler = {
        let addr = srv.addr();
        std::thread::spawn(move || {
            let mut q = Raw::connect(&addr);
            let mut most = 0;
            let start = Instant::now();
            while !publisher.is_finished() && start.elapsed() < DEADLINE {
                // From 1 s on: the pace first measured is the kernel
                // buffers' filling, much faster than the reader.
                let omem = pubsub_omem(&mut q);
                if start.elapsed() > Duration::from_secs(1) {
                    most = most.max(omem);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (publisher.join().expect("publisher"), most)
        })
    };
    read_all(&mut readers, "steady", count, len);
    let (counts, most) = sampler.join().expect("sampler");
    assert!(!readers[0].closed, "the steady subscriber was cut");
    assert_eq!(readers[0].next, count, "the subscriber missed messages");
    assert!(counts.iter().all(|&c| c == 1));
    let mut q = srv.raw();
    eprintln!(
        "most omem {most}, pauses {}",
        info_int(&mut q, "publish_pauses")
    );
    assert!(
        info_int(&mut q, "publish_pauses") > 0,
        "never paused: the reader kept up, the test proves nothing"
    );
    assert!(
        most > 0 && most < 64 * 1024,
        "the subscriber's queue reached {most} bytes"
    );
}

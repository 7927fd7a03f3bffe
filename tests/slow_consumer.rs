//! Slow-consumer policy: `client-output-buffer-limit pubsub <hard> <soft>
//! <seconds>` closes a subscriber that cannot keep up, without slowing or
//! losing messages for the subscribers that can.
//!
//! Everything here also runs against redis-server 7.0.15; assertions about
//! pubsubd's own extras (its log wording, an INFO counter Redis 7.0 lacks,
//! a bounded RSS) are skipped there.

mod common;

use common::show;

use common::{Raw, TestServer, cmd, cmds, info_field, rss_bytes, wait_until};
use std::io::{BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The limits every test here runs with: hard 1 MB, soft 256 KB for 2 s.
const LIMITS: &[&str] = &[
    "--client-output-buffer-limit",
    "pubsub",
    "1mb",
    "256kb",
    "2",
];

/// Size of every published payload.
const PAYLOAD_LEN: usize = 1024;

/// A payload of `len` bytes that starts with its sequence number.
fn payload_sized(seq: usize, len: usize) -> Vec<u8> {
    let mut p = format!("{seq:08}:").into_bytes();
    p.resize(len, b'x');
    p
}

/// The text of a bulk-string reply (CLIENT LIST, INFO).
fn bulk_text(reply: &[u8]) -> String {
    assert_eq!(reply[0], b'$', "not a bulk: {}", show(reply));
    let e = reply.windows(2).position(|w| w == b"\r\n").unwrap();
    show(&reply[e + 2..reply.len() - 2])
}

/// The CLIENT LIST line of the client named `name`, if it is connected.
fn client_line(q: &mut Raw, name: &str) -> Option<String> {
    let list = bulk_text(&q.call("CLIENT LIST"));
    let needle = format!(" name={name} ");
    list.lines()
        .find(|l| l.contains(&needle))
        .map(str::to_string)
}

/// The `omem=` value of a CLIENT LIST line.
fn omem(line: &str) -> u64 {
    line.split(' ')
        .find_map(|f| f.strip_prefix("omem="))
        .unwrap_or_else(|| panic!("no omem= in {line}"))
        .parse()
        .expect("omem number")
}

/// The `addr=` value of a CLIENT LIST line.
fn addr_of(line: &str) -> String {
    line.split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap_or_else(|| panic!("no addr= in {line}"))
        .to_string()
}

/// The integer of `PUBSUB NUMSUB <channel>`.
fn numsub(q: &mut Raw, channel: &str) -> i64 {
    let r = q.call(&format!("PUBSUB NUMSUB {channel}"));
    let text = show(&r);
    let last = text.trim_end().rsplit("\r\n").next().unwrap();
    last.strip_prefix(':')
        .unwrap_or_else(|| panic!("{text}"))
        .parse()
        .unwrap()
}

/// Connects, names the connection and subscribes it to `channel`.
fn subscriber(srv: &TestServer, name: &str, channel: &str) -> Raw {
    let mut c = srv.raw();
    c.expect_call(&format!("CLIENT SETNAME {name}"), b"+OK\r\n");
    c.send(&cmds(&format!("SUBSCRIBE {channel}")));
    let r = c.reply();
    assert!(r.starts_with(b"*3\r\n$9\r\nsubscribe\r\n"), "{}", show(&r));
    c
}

/// A fast subscriber's reading thread, and how many messages it has read.
struct FastReader {
    handle: std::thread::JoinHandle<Raw>,
    read: Arc<AtomicUsize>,
}

/// Starts a thread that reads `n` messages from `c` and checks they carry
/// sequence numbers 0..n in order. Joining it gives the connection back,
/// still open.
fn spawn_fast_reader(c: Raw, channel: &'static str, n: usize) -> FastReader {
    spawn_reader(c, vec![channel], n, PAYLOAD_LEN)
}

/// Waits until every fast reader has read `upto` messages, so a publisher
/// keeps a fast subscriber at most a bounded number of messages behind: on
/// a busy machine a reading thread can be descheduled long enough for the
/// server to cut a *fast* subscriber at the 1 MB limit otherwise.
fn pace(readers: &[FastReader], upto: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while readers
        .iter()
        .any(|r| r.read.load(Ordering::Relaxed) < upto)
    {
        assert!(
            Instant::now() < deadline,
            "a fast subscriber stalled before {upto} messages"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Like [`spawn_fast_reader`] for messages of `len` bytes published to
/// `channels` in turn (message `seq` on `channels[seq % channels.len()]`,
/// all names of one length).
fn spawn_reader(c: Raw, channels: Vec<&'static str>, n: usize, len: usize) -> FastReader {
    let read = Arc::new(AtomicUsize::new(0));
    let progress = Arc::clone(&read);
    let handle = std::thread::spawn(move || {
        let stream = c.stream.try_clone().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut r = BufReader::with_capacity(1 << 16, stream);
        let heads: Vec<String> = channels
            .iter()
            .map(|ch| format!("*3\r\n$7\r\nmessage\r\n${}\r\n{ch}\r\n${len}\r\n", ch.len()))
            .collect();
        let mut got_head = vec![0u8; heads[0].len()];
        let mut body = vec![0u8; len + 2];
        for seq in 0..n {
            r.read_exact(&mut got_head).expect("read message frame");
            assert_eq!(show(&got_head), heads[seq % heads.len()]);
            r.read_exact(&mut body).expect("read payload");
            assert_eq!(
                body,
                [payload_sized(seq, len), b"\r\n".to_vec()].concat(),
                "fast subscriber: gap or reorder at {seq}"
            );
            progress.store(seq + 1, Ordering::Relaxed);
        }
        c
    });
    FastReader { handle, read }
}

/// Reads whatever the server had sent `c` until it closes the connection;
/// returns the byte count, or None if it is still open after `within`.
fn drain_until_closed(c: &mut Raw, within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    let mut total = 0;
    let mut chunk = vec![0u8; 1 << 16];
    while Instant::now() < deadline {
        c.stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match c.stream.read(&mut chunk) {
            Ok(0) => return Some(total),
            Ok(n) => total += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(total), // reset also means closed
        }
    }
    None
}

/// Publishes `count` 1 KB messages numbered from `first` to `channel`, in
/// pipelined batches, and returns the receiver counts PUBLISH reported.
fn publish_batch(p: &mut Raw, channel: &str, first: usize, count: usize) -> Vec<i64> {
    publish_sized(p, &[channel], first, count, PAYLOAD_LEN)
}

/// Like [`publish_batch`] for messages of `len` bytes, message `seq` to
/// `channels[seq % channels.len()]`.
fn publish_sized(
    p: &mut Raw,
    channels: &[&str],
    first: usize,
    count: usize,
    len: usize,
) -> Vec<i64> {
    let mut out = Vec::with_capacity(count * (len + 64));
    for seq in first..first + count {
        let channel = channels[seq % channels.len()];
        out.extend(cmd(&[
            b"PUBLISH",
            channel.as_bytes(),
            &payload_sized(seq, len),
        ]));
    }
    p.send(&out);
    (0..count)
        .map(|_| {
            let r = p.reply();
            show(&r[1..r.len() - 2]).parse().expect("integer reply")
        })
        .collect()
}

/// Checks PUBLISH's receiver counts: every one of the `fast` subscribers
/// always counts, the slow one until it is cut (and not again).
fn check_counts(counts: Vec<i64>, last_count: &mut i64, fast: usize) {
    for count in counts {
        assert!(
            count == *last_count || count == fast as i64,
            "PUBLISH counted {count}"
        );
        *last_count = count;
    }
}

/// Waits for the fast readers (each checks it got every message in order),
/// then checks the slow subscriber was cut: PUBLISH last counted the fast
/// ones only, and the slow socket held at most what the kernel buffered
/// (less than all `total` bytes published), then EOF. Returns the fast
/// connections, still open.
fn expect_slow_cut(
    readers: Vec<FastReader>,
    last_count: i64,
    slow: &mut Raw,
    total: usize,
) -> Vec<Raw> {
    let fast: Vec<Raw> = readers
        .into_iter()
        .map(|r| r.handle.join().expect("fast subscriber"))
        .collect();
    assert_eq!(
        last_count,
        fast.len() as i64,
        "the slow subscriber was never cut"
    );
    let got =
        drain_until_closed(slow, Duration::from_secs(10)).expect("slow client still connected");
    assert!(got < total, "slow client received everything ({got} bytes)");
    fast
}

#[test]
fn hard_limit_closes_the_slow_subscriber_and_spares_the_fast_ones() {
    const N: usize = 20_000;
    const FAST: usize = 3;
    let srv = TestServer::start_with(LIMITS);
    let mut q = srv.raw();
    let mut slow = subscriber(&srv, "slowpoke", "feed");
    let slow_line = client_line(&mut q, "slowpoke").expect("slow client listed");
    let slow_addr = addr_of(&slow_line);
    assert_eq!(slow_addr, slow.stream.local_addr().unwrap().to_string());
    let readers: Vec<_> = (0..FAST)
        .map(|i| spawn_fast_reader(subscriber(&srv, &format!("fast{i}"), "feed"), "feed", N))
        .collect();
    assert_eq!(numsub(&mut q, "feed"), 1 + FAST as i64);

    let started = Instant::now();
    let mut p = srv.raw();
    let mut max_rss = 0;
    let mut last_count = 1 + FAST as i64;
    for first in (0..N).step_by(200) {
        // At most 600 messages (about 640 KB) ahead of any fast subscriber.
        pace(&readers, first.saturating_sub(400));
        check_counts(
            publish_batch(&mut p, "feed", first, 200),
            &mut last_count,
            FAST,
        );
        max_rss = max_rss.max(rss_bytes(srv.pid()));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "publishing too slow"
        );
    }
    let fast = expect_slow_cut(readers, last_count, &mut slow, N * PAYLOAD_LEN);

    // No trace of it afterwards.
    assert_eq!(numsub(&mut q, "feed"), FAST as i64);
    assert!(
        client_line(&mut q, "slowpoke").is_none(),
        "slow client still in CLIENT LIST"
    );
    drop(fast);

    // Both servers log the closed client's address and name.
    let log = srv.log();
    assert!(
        log.lines()
            .any(|l| l.contains(&slow_addr) && l.contains("slowpoke")),
        "no log line names {slow_addr} / slowpoke:\n{log}"
    );
    if common::is_reference() {
        // Redis 7.0 words its line differently, has no
        // client_output_buffer_limit_disconnections field, and its RSS is
        // not ours to bound.
        return;
    }
    assert!(
        log.lines()
            .any(|l| l.to_lowercase().contains("slow consumer")
                && l.contains(&slow_addr)
                && l.contains("slowpoke")),
        "no 'slow consumer' warning for {slow_addr} / slowpoke:\n{log}"
    );
    let info = q.call("INFO stats");
    assert_eq!(
        info_field(&info, "client_output_buffer_limit_disconnections").as_deref(),
        Some("1"),
        "INFO stats:\n{}",
        show(&info)
    );
    assert!(
        max_rss < 100 << 20,
        "server RSS reached {} MB",
        max_rss >> 20
    );
}

/// A message that many subscribers get at once (a wide fan-out, whose
/// 256-byte frame is queued by reference rather than copied) is bounded the
/// same way. The messages alternate between two channels, so each is
/// delivered on its own, not in a run of PUBLISHes to one channel.
#[test]
fn a_wide_fan_out_closes_the_slow_subscriber_too() {
    const N: usize = 40_000;
    const FAST: usize = 9;
    const LEN: usize = 256;
    let channels = ["wa", "wb"];
    let srv = TestServer::start_with(LIMITS);
    let mut q = srv.raw();
    let sub = |name: &str| {
        let mut c = subscriber(&srv, name, "wa");
        c.send(&cmds("SUBSCRIBE wb"));
        c.reply();
        c
    };
    let mut slow = sub("slowpoke");
    let readers: Vec<_> = (0..FAST)
        .map(|i| spawn_reader(sub(&format!("fast{i}")), channels.to_vec(), N, LEN))
        .collect();
    let mut p = srv.raw();
    let mut last_count = 1 + FAST as i64;
    for first in (0..N).step_by(500) {
        // At most 1,500 messages (about 420 KB) ahead of any fast subscriber.
        pace(&readers, first.saturating_sub(1000));
        let counts = publish_sized(&mut p, &channels, first, 500, LEN);
        check_counts(counts, &mut last_count, FAST);
    }
    let fast = expect_slow_cut(readers, last_count, &mut slow, N * LEN);
    assert_eq!(numsub(&mut q, "wa"), FAST as i64);
    drop(fast);
}

#[test]
fn client_list_omem_shows_pending_bytes() {
    let srv = TestServer::start();
    let mut q = srv.raw();
    let mut slow = subscriber(&srv, "lagging", "backlog");
    let mut p = srv.raw();
    // Publish until the kernel buffers are full and the server holds at
    // least 100 KB for this client (bounded: 16 MB at most).
    let mut sent = 0;
    let mut pending = 0;
    while sent < 16_384 {
        publish_batch(&mut p, "backlog", sent, 64);
        sent += 64;
        pending = omem(&client_line(&mut q, "lagging").expect("listed"));
        if pending > 100 << 10 {
            break;
        }
    }
    assert!(
        pending > 100 << 10,
        "omem never grew past 100 KB (last {pending})"
    );
    assert!(
        pending < (sent * (PAYLOAD_LEN + 64)) as u64,
        "omem {pending} exceeds what was sent"
    );
    // Once the client reads everything, nothing is pending any more.
    slow.stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut chunk = vec![0u8; 1 << 16];
    let drained = wait_until(Duration::from_secs(10), || {
        while let Ok(n) = slow.stream.read(&mut chunk) {
            if n == 0 {
                break;
            }
        }
        omem(&client_line(&mut q, "lagging").expect("listed")) == 0
    });
    assert!(
        drained,
        "omem did not return to 0 after the client read everything"
    );
}

#[test]
fn soft_limit_closes_a_client_after_its_seconds_without_more_messages() {
    // Both servers: the check runs periodically (Redis from clientsCron),
    // not only when more output is queued for the client.
    let srv = TestServer::start_with(LIMITS);
    let mut q = srv.raw();
    let mut slow = subscriber(&srv, "sitter", "trickle");
    let mut p = srv.raw();
    // Small steps so the backlog lands between soft (256 KB) and hard (1 MB).
    let mut sent = 0;
    let mut pending = 0;
    while sent < 16_384 {
        publish_batch(&mut p, "trickle", sent, 16);
        sent += 16;
        match client_line(&mut q, "sitter") {
            Some(line) => pending = omem(&line),
            None => panic!("closed before reaching the soft limit window (omem was {pending})"),
        }
        if pending > 300 << 10 {
            break;
        }
    }
    assert!(
        pending > 300 << 10 && pending < 1 << 20,
        "omem {pending} not between soft and hard"
    );
    let stopped = Instant::now();
    // Not yet: the 2 s have not passed.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        client_line(&mut q, "sitter").is_some(),
        "closed before the soft-limit seconds"
    );
    let cut = wait_until(Duration::from_millis(4000), || {
        client_line(&mut q, "sitter").is_none()
    });
    assert!(
        cut,
        "still connected {:?} after publishing stopped",
        stopped.elapsed()
    );
    assert!(
        stopped.elapsed() >= Duration::from_millis(1000),
        "cut too early: {:?}",
        stopped.elapsed()
    );
    assert_eq!(numsub(&mut q, "trickle"), 0);
    assert!(drain_until_closed(&mut slow, Duration::from_secs(10)).is_some());
}

#[test]
fn soft_limit_with_continuing_traffic_closes_the_client() {
    // Both servers: a subscriber that stays above the soft limit while
    // messages keep coming is closed once the soft seconds pass.
    let srv = TestServer::start_with(LIMITS);
    let mut q = srv.raw();
    let mut slow = subscriber(&srv, "dawdler", "steady");
    let mut p = srv.raw();
    let mut sent = 0;
    let mut crossed: Option<Instant> = None;
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(10), "never closed");
        let Some(line) = client_line(&mut q, "dawdler") else {
            break;
        };
        let pending = omem(&line);
        assert!(
            pending <= (1 << 20) + (64 << 10),
            "omem {pending} above the hard limit"
        );
        if pending > 300 << 10 {
            crossed.get_or_insert_with(Instant::now);
            // Keep it above soft but far below hard: a trickle.
            publish_batch(&mut p, "steady", sent, 1);
            sent += 1;
            std::thread::sleep(Duration::from_millis(50));
        } else {
            publish_batch(&mut p, "steady", sent, 16);
            sent += 16;
        }
    }
    let crossed = crossed.expect("omem never went above the soft limit");
    let after = crossed.elapsed();
    assert!(
        after >= Duration::from_millis(1500),
        "closed {after:?} after crossing soft: too early"
    );
    assert!(
        after <= Duration::from_millis(4500),
        "closed {after:?} after crossing soft: too late"
    );
    assert_eq!(numsub(&mut q, "steady"), 0);
    assert!(drain_until_closed(&mut slow, Duration::from_secs(10)).is_some());
}

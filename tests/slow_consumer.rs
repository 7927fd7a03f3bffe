//! Slow-consumer policy: `client-output-buffer-limit pubsub <hard> <soft>
//! <seconds>` closes a subscriber that cannot keep up, without slowing or
//! losing messages for the subscribers that can.
//!
//! Everything here also runs against redis-server 7.0.15; assertions about
//! pubsubd's own extras (its log wording, an INFO counter Redis 7.0 lacks,
//! a bounded RSS) are skipped there.

mod common;

use common::show;

use common::{Raw, TestServer, cmd, cmds, info_field, rss_bytes};
use std::io::{BufReader, Read};
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

/// A 1 KB payload that starts with its sequence number.
fn payload(seq: usize) -> Vec<u8> {
    let mut p = format!("{seq:08}:").into_bytes();
    p.resize(PAYLOAD_LEN, b'x');
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

/// Polls `f` every 20 ms until it returns true or `within` passes.
fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// Starts a thread that reads `n` messages from `c` and checks they carry
/// sequence numbers 0..n in order. Returns the connection, still open.
fn spawn_fast_reader(c: Raw, channel: &'static str, n: usize) -> std::thread::JoinHandle<Raw> {
    std::thread::spawn(move || {
        let stream = c.stream.try_clone().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut r = BufReader::with_capacity(1 << 16, stream);
        let head = format!(
            "*3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${PAYLOAD_LEN}\r\n",
            channel.len()
        );
        let mut got_head = vec![0u8; head.len()];
        let mut body = vec![0u8; PAYLOAD_LEN + 2];
        for seq in 0..n {
            r.read_exact(&mut got_head).expect("read message frame");
            assert_eq!(show(&got_head), head);
            r.read_exact(&mut body).expect("read payload");
            assert_eq!(
                body,
                [payload(seq), b"\r\n".to_vec()].concat(),
                "fast subscriber: gap or reorder at {seq}"
            );
        }
        c
    })
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
    let mut out = Vec::with_capacity(count * (PAYLOAD_LEN + 64));
    for seq in first..first + count {
        out.extend(cmd(&[b"PUBLISH", channel.as_bytes(), &payload(seq)]));
    }
    p.send(&out);
    (0..count)
        .map(|_| {
            let r = p.reply();
            show(&r[1..r.len() - 2]).parse().expect("integer reply")
        })
        .collect()
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
        for count in publish_batch(&mut p, "feed", first, 200) {
            // Every fast subscriber always counts; the slow one until it is cut.
            assert!(
                count == last_count || count == FAST as i64,
                "PUBLISH counted {count}"
            );
            last_count = count;
        }
        max_rss = max_rss.max(rss_bytes(srv.pid()));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "publishing too slow"
        );
    }
    let fast: Vec<Raw> = readers
        .into_iter()
        .map(|r| r.join().expect("fast subscriber"))
        .collect();
    assert_eq!(last_count, FAST as i64, "the slow subscriber was never cut");

    // The slow socket holds at most what the kernel buffered, then EOF.
    let got = drain_until_closed(&mut slow, Duration::from_secs(10))
        .expect("slow client still connected");
    assert!(
        got < N * PAYLOAD_LEN,
        "slow client received everything ({got} bytes)"
    );

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

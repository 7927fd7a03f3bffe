//! Pub/sub semantics, checked byte for byte in RESP2 and RESP3.
//!
//! Every expected byte string here was first confirmed against redis-server
//! 7.0.15 (`PUBSUBD_TEST_BIN=$(which redis-server)`), which is the reference.

mod common;

use common::{bulk, show, wait_until};

use common::{Raw, TestServer, cmd, cmds};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The error Redis gives for a disallowed command on a RESP2 subscribed
/// connection; `name` is the command's lower-case name.
fn not_allowed(name: &str) -> Vec<u8> {
    format!(
        "-ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    )
    .into_bytes()
}

/// A (un)subscribe confirmation: `*3` in RESP2 or `>3` in RESP3, with the
/// channel (None gives the null a bare UNSUBSCRIBE returns) and the count.
fn confirm(resp3: bool, kind: &str, channel: Option<&[u8]>, count: i64) -> Vec<u8> {
    let mut out = if resp3 {
        b">3\r\n".to_vec()
    } else {
        b"*3\r\n".to_vec()
    };
    out.extend(bulk(kind.as_bytes()));
    match channel {
        Some(c) => out.extend(bulk(c)),
        None if resp3 => out.extend_from_slice(b"_\r\n"),
        None => out.extend_from_slice(b"$-1\r\n"),
    }
    out.extend(format!(":{count}\r\n").into_bytes());
    out
}

/// A delivered `message` (or `smessage`) frame.
fn message(resp3: bool, kind: &str, channel: &[u8], payload: &[u8]) -> Vec<u8> {
    common::push_frame(resp3, &[kind.as_bytes(), channel, payload])
}

/// A delivered `pmessage` frame.
fn pmessage(resp3: bool, pattern: &[u8], channel: &[u8], payload: &[u8]) -> Vec<u8> {
    common::push_frame(resp3, &[b"pmessage", pattern, channel, payload])
}

/// Asserts the next reply on `conn` is exactly `expected`.
fn expect_bytes(conn: &mut Raw, expected: &[u8]) {
    let got = conn.reply();
    assert_eq!(show(&got), show(expected), "raw: {got:?}");
}

/// Switches a connection to RESP3 and checks HELLO answered with a map.
fn hello3(conn: &mut Raw) {
    let r = conn.call("HELLO 3");
    assert_eq!(r[0], b'%', "HELLO 3 reply: {}", show(&r));
}

/// Splits a flat array reply of bulk strings (RESP2 `*` or RESP3 `*`/`~`)
/// into its elements.
fn bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let head_end = find_crlf(reply, 0);
    assert!(
        matches!(reply[0], b'*' | b'~'),
        "not an array: {}",
        show(reply)
    );
    let n: usize = std::str::from_utf8(&reply[1..head_end])
        .unwrap()
        .parse()
        .unwrap();
    let mut pos = head_end + 2;
    for _ in 0..n {
        assert_eq!(reply[pos], b'$', "not a bulk at {pos}: {}", show(reply));
        let e = find_crlf(reply, pos);
        let len: usize = std::str::from_utf8(&reply[pos + 1..e])
            .unwrap()
            .parse()
            .unwrap();
        out.push(reply[e + 2..e + 2 + len].to_vec());
        pos = e + 2 + len + 2;
    }
    assert_eq!(pos, reply.len(), "trailing bytes in {}", show(reply));
    out
}

/// Index of the next CRLF at or after `from`.
fn find_crlf(b: &[u8], from: usize) -> usize {
    from + b[from..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("CRLF")
}

/// Sorted element list of an array reply, for replies whose order Redis
/// leaves to its hash table.
fn sorted_bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    let mut v = bulks(reply);
    v.sort();
    v
}

/// Reads pub/sub frames from a socket through a buffer, cheaply enough for
/// tens of thousands of messages (Raw re-slices its buffer per reply).
struct FrameReader {
    r: BufReader<TcpStream>,
}

impl FrameReader {
    fn new(stream: TcpStream) -> FrameReader {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        FrameReader {
            r: BufReader::with_capacity(1 << 16, stream),
        }
    }

    /// One header line without its CRLF.
    fn line(&mut self) -> Vec<u8> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l).expect("read line");
        assert!(l.ends_with(b"\r\n"), "truncated line {:?}", show(&l));
        l.truncate(l.len() - 2);
        l
    }

    /// The next frame: an array (`*` or `>`) whose elements are bulk
    /// strings or integers, each returned as bytes.
    fn frame(&mut self) -> Vec<Vec<u8>> {
        let head = self.line();
        assert!(
            matches!(head[0], b'*' | b'>'),
            "not an array: {:?}",
            show(&head)
        );
        let n: usize = std::str::from_utf8(&head[1..]).unwrap().parse().unwrap();
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let h = self.line();
            match h[0] {
                b'$' => {
                    let len: usize = std::str::from_utf8(&h[1..]).unwrap().parse().unwrap();
                    let mut body = vec![0u8; len + 2];
                    self.r.read_exact(&mut body).expect("read bulk");
                    body.truncate(len);
                    items.push(body);
                }
                b':' => items.push(h[1..].to_vec()),
                _ => panic!("unexpected element {:?}", show(&h)),
            }
        }
        items
    }
}

/// The parts of a RESP2 three-element confirmation frame.
struct FrameItems {
    kind: Vec<u8>,
    channel: Vec<u8>,
    count: i64,
}

impl FrameItems {
    fn parse(r: &[u8]) -> FrameItems {
        let mut f = FrameReaderSlice { b: r, pos: 0 };
        assert_eq!(f.line(), b"*3", "{}", show(r));
        let kind = f.bulk();
        let channel = f.bulk();
        let c = f.line();
        assert_eq!(c[0], b':');
        let count = std::str::from_utf8(&c[1..]).unwrap().parse().unwrap();
        FrameItems {
            kind,
            channel,
            count,
        }
    }
}

/// A tiny cursor over one complete reply.
struct FrameReaderSlice<'a> {
    b: &'a [u8],
    pos: usize,
}

impl FrameReaderSlice<'_> {
    fn line(&mut self) -> Vec<u8> {
        let e = find_crlf(self.b, self.pos);
        let l = self.b[self.pos..e].to_vec();
        self.pos = e + 2;
        l
    }
    fn bulk(&mut self) -> Vec<u8> {
        let h = self.line();
        assert_eq!(h[0], b'$');
        let len: usize = std::str::from_utf8(&h[1..]).unwrap().parse().unwrap();
        let v = self.b[self.pos..self.pos + len].to_vec();
        self.pos += len + 2;
        v
    }
}

#[test]
fn subscribe_three_channels_counts_up() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(&cmds("SUBSCRIBE a b c"));
    expect_bytes(&mut c, b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    expect_bytes(&mut c, b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    expect_bytes(&mut c, b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:3\r\n");
    // A repeated channel is confirmed again but not counted twice.
    c.send(&cmds("SUBSCRIBE a"));
    expect_bytes(&mut c, b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:3\r\n");
}

#[test]
fn unsubscribe_with_args_counts_down() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(&cmds("SUBSCRIBE a b c"));
    for _ in 0..3 {
        c.reply();
    }
    c.send(&cmds("UNSUBSCRIBE b zz a"));
    expect_bytes(&mut c, b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:2\r\n");
    // A channel the client never subscribed to is confirmed with the same count.
    expect_bytes(&mut c, b"*3\r\n$11\r\nunsubscribe\r\n$2\r\nzz\r\n:2\r\n");
    expect_bytes(&mut c, b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n");
    c.send(&cmds("UNSUBSCRIBE c"));
    expect_bytes(&mut c, b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n");
    // Back in normal mode: PING is a plain +PONG again.
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn unsubscribe_without_args_confirms_every_channel() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(&cmds("SUBSCRIBE a b c"));
    for _ in 0..3 {
        c.reply();
    }
    // Redis walks its hash table here, so the channel order is not fixed;
    // the counts always go down by one per reply.
    c.send(&cmds("UNSUBSCRIBE"));
    let mut seen = Vec::new();
    for count in [2, 1, 0] {
        let r = c.reply();
        let items = FrameItems::parse(&r);
        assert_eq!(items.kind, b"unsubscribe");
        assert_eq!(items.count, count, "{}", show(&r));
        assert_eq!(
            r,
            confirm(false, "unsubscribe", Some(&items.channel), count)
        );
        seen.push(items.channel);
    }
    seen.sort();
    assert_eq!(seen, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn unsubscribe_with_nothing_subscribed_replies_null_channel() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("UNSUBSCRIBE", b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    c.expect_call(
        "PUNSUBSCRIBE",
        b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n",
    );
    c.expect_call(
        "SUNSUBSCRIBE",
        b"*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n",
    );
    // The connection never entered subscribed mode.
    c.expect_call("PING", b"+PONG\r\n");

    let mut r3 = srv.raw();
    hello3(&mut r3);
    r3.expect_call("UNSUBSCRIBE", b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n");
    r3.expect_call("PUNSUBSCRIBE", b">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n");
    r3.expect_call("SUNSUBSCRIBE", b">3\r\n$12\r\nsunsubscribe\r\n_\r\n:0\r\n");
}

#[test]
fn psubscribe_and_punsubscribe_count_patterns() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(&cmds("PSUBSCRIBE n* x? x?"));
    expect_bytes(&mut c, b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:1\r\n");
    expect_bytes(&mut c, b"*3\r\n$10\r\npsubscribe\r\n$2\r\nx?\r\n:2\r\n");
    expect_bytes(&mut c, b"*3\r\n$10\r\npsubscribe\r\n$2\r\nx?\r\n:2\r\n");
    c.send(&cmds("PUNSUBSCRIBE x? qq"));
    expect_bytes(&mut c, b"*3\r\n$12\r\npunsubscribe\r\n$2\r\nx?\r\n:1\r\n");
    expect_bytes(&mut c, b"*3\r\n$12\r\npunsubscribe\r\n$2\r\nqq\r\n:1\r\n");
    let mut other = srv.raw();
    other.expect_call("PUBSUB NUMPAT", b":1\r\n");
    c.send(&cmds("PUNSUBSCRIBE"));
    expect_bytes(&mut c, b"*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n");
    other.expect_call("PUBSUB NUMPAT", b":0\r\n");
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn shard_channels_are_counted_apart_and_get_smessage() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(&cmds("SUBSCRIBE a"));
    expect_bytes(&mut c, b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    c.send(&cmds("PSUBSCRIBE a*"));
    expect_bytes(&mut c, b"*3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:2\r\n");
    // SSUBSCRIBE counts only shard channels, not the two above.
    c.send(&cmds("SSUBSCRIBE s1 s2 a"));
    expect_bytes(&mut c, b"*3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n");
    expect_bytes(&mut c, b"*3\r\n$10\r\nssubscribe\r\n$2\r\ns2\r\n:2\r\n");
    expect_bytes(&mut c, b"*3\r\n$10\r\nssubscribe\r\n$1\r\na\r\n:3\r\n");

    // Shard channels and ordinary channels are separate namespaces.
    let mut p = srv.raw();
    p.expect_call("SPUBLISH s1 hi", b":1\r\n");
    expect_bytes(&mut c, b"*3\r\n$8\r\nsmessage\r\n$2\r\ns1\r\n$2\r\nhi\r\n");
    p.expect_call("SPUBLISH a sh", b":1\r\n");
    expect_bytes(&mut c, b"*3\r\n$8\r\nsmessage\r\n$1\r\na\r\n$2\r\nsh\r\n");
    p.expect_call("PUBLISH a ch", b":2\r\n");
    expect_bytes(&mut c, b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nch\r\n");
    expect_bytes(
        &mut c,
        b"*4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$2\r\nch\r\n",
    );
    // Patterns never see shard messages.
    p.expect_call("SPUBLISH s2 x", b":1\r\n");
    expect_bytes(&mut c, b"*3\r\n$8\r\nsmessage\r\n$2\r\ns2\r\n$1\r\nx\r\n");
    p.expect_call("SPUBLISH nobody x", b":0\r\n");

    p.expect_call(
        "PUBSUB SHARDNUMSUB s1 a zz",
        b"*6\r\n$2\r\ns1\r\n:1\r\n$1\r\na\r\n:1\r\n$2\r\nzz\r\n:0\r\n",
    );
    p.expect_call(
        "PUBSUB NUMSUB a s1",
        b"*4\r\n$1\r\na\r\n:1\r\n$2\r\ns1\r\n:0\r\n",
    );
    let shards = p.call("PUBSUB SHARDCHANNELS");
    assert_eq!(
        sorted_bulks(&shards),
        vec![b"a".to_vec(), b"s1".to_vec(), b"s2".to_vec()]
    );
    let some = p.call("PUBSUB SHARDCHANNELS s?");
    assert_eq!(sorted_bulks(&some), vec![b"s1".to_vec(), b"s2".to_vec()]);

    // UNSUBSCRIBE counts only channels + patterns, although the connection
    // stays in subscribed mode because of its shard channels.
    c.send(&cmds("UNSUBSCRIBE a"));
    expect_bytes(&mut c, b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n");
    c.send(&cmds("PUNSUBSCRIBE a*"));
    expect_bytes(&mut c, b"*3\r\n$12\r\npunsubscribe\r\n$2\r\na*\r\n:0\r\n");
    c.expect_call("ECHO k", &not_allowed("echo"));
    c.send(&cmds("SUNSUBSCRIBE s2 a"));
    expect_bytes(&mut c, b"*3\r\n$12\r\nsunsubscribe\r\n$2\r\ns2\r\n:2\r\n");
    expect_bytes(&mut c, b"*3\r\n$12\r\nsunsubscribe\r\n$1\r\na\r\n:1\r\n");
    c.send(&cmds("SUNSUBSCRIBE"));
    expect_bytes(&mut c, b"*3\r\n$12\r\nsunsubscribe\r\n$2\r\ns1\r\n:0\r\n");
    c.expect_call("PING", b"+PONG\r\n");
    p.expect_call("PUBSUB SHARDCHANNELS", b"*0\r\n");
}

#[test]
fn message_and_pmessage_frames_and_publish_counts() {
    let srv = TestServer::start();
    let mut both = srv.raw();
    both.send(&cmds("SUBSCRIBE news"));
    both.reply();
    both.send(&cmds("PSUBSCRIBE n*"));
    expect_bytes(&mut both, b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n");
    let mut plain = srv.raw();
    plain.send(&cmds("SUBSCRIBE news"));
    expect_bytes(&mut plain, b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    let mut pat = srv.raw();
    pat.send(&cmds("PSUBSCRIBE *ews ?ews"));
    pat.reply();
    pat.reply();

    let mut p = srv.raw();
    // news: 2 exact subscribers + n* + *ews + ?ews = 5 receivers.
    p.expect_call("PUBLISH news hello", b":5\r\n");
    expect_bytes(
        &mut both,
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
    );
    expect_bytes(
        &mut both,
        b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
    );
    expect_bytes(
        &mut plain,
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
    );
    // One client with two matching patterns gets one pmessage per pattern.
    let mut got = vec![pat.reply(), pat.reply()];
    got.sort();
    let mut want = vec![
        pmessage(false, b"*ews", b"news", b"hello"),
        pmessage(false, b"?ews", b"news", b"hello"),
    ];
    want.sort();
    assert_eq!(got, want);

    p.expect_call("PUBLISH nope x", b":1\r\n"); // n* only
    expect_bytes(
        &mut both,
        b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnope\r\n$1\r\nx\r\n",
    );
    p.expect_call("PUBLISH zzz x", b":0\r\n");
    // Nothing else was delivered to anyone.
    both.expect_nothing(Duration::from_millis(200));
    plain.expect_nothing(Duration::from_millis(50));
    pat.expect_nothing(Duration::from_millis(50));
}

#[test]
fn resp2_subscribed_mode_allows_only_pubsub_commands() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(&cmds("SUBSCRIBE a"));
    c.reply();
    c.expect_call("PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    c.expect_call("PING x", b"*2\r\n$4\r\npong\r\n$1\r\nx\r\n");
    // The name in the error is the command's lower-case name, whatever the
    // client sent.
    c.expect_call("ECHO a", &not_allowed("echo"));
    c.expect_call("Publish a b", &not_allowed("publish"));
    c.expect_call("ECHO x", &not_allowed("echo"));
    c.expect_call("HELLO 3", &not_allowed("hello"));
    c.expect_call("PUBSUB NUMSUB a", &not_allowed("pubsub|numsub"));
    // The connection is still subscribed and still receives.
    let mut p = srv.raw();
    p.expect_call("PUBLISH a m", b":1\r\n");
    expect_bytes(&mut c, b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n");
    c.send(&cmds("PSUBSCRIBE b*"));
    expect_bytes(&mut c, b"*3\r\n$10\r\npsubscribe\r\n$2\r\nb*\r\n:2\r\n");
    // RESET leaves subscribed mode and drops every subscription.
    c.expect_call("RESET", b"+RESET\r\n");
    c.expect_call("PING", b"+PONG\r\n");
    p.expect_call("PUBSUB NUMSUB a", b"*2\r\n$1\r\na\r\n:0\r\n");
    p.expect_call("PUBSUB NUMPAT", b":0\r\n");
    // QUIT is allowed while subscribed and closes the connection.
    let mut q = srv.raw();
    q.send(&cmds("SUBSCRIBE a"));
    q.reply();
    q.expect_call("QUIT", b"+OK\r\n");
    q.expect_closed(Duration::from_secs(5));
}

#[test]
fn resp3_subscribed_connection_runs_any_command_and_gets_pushes() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    hello3(&mut c);
    c.expect_call("SUBSCRIBE a", b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    c.expect_call(
        "PSUBSCRIBE a*",
        b">3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:2\r\n",
    );
    c.expect_call(
        "SSUBSCRIBE s",
        b">3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n",
    );
    // Normal replies, not the RESP2 subscribed-mode shapes.
    c.expect_call("PING", b"+PONG\r\n");
    c.expect_call("PING x", b"$1\r\nx\r\n");
    c.expect_call("ECHO e", b"$1\r\ne\r\n");
    c.expect_call("PUBSUB NUMSUB a", b"*2\r\n$1\r\na\r\n:1\r\n");

    let mut p = srv.raw();
    p.expect_call("PUBLISH a hello", b":2\r\n");
    expect_bytes(&mut c, b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n");
    expect_bytes(
        &mut c,
        b">4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$5\r\nhello\r\n",
    );
    p.expect_call("SPUBLISH s sh", b":1\r\n");
    expect_bytes(&mut c, b">3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$2\r\nsh\r\n");

    // Publishing to itself: the pushes are written before the reply.
    c.send(&cmds("PUBLISH a self"));
    expect_bytes(&mut c, b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$4\r\nself\r\n");
    expect_bytes(
        &mut c,
        b">4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$4\r\nself\r\n",
    );
    expect_bytes(&mut c, b":2\r\n");

    c.expect_call(
        "UNSUBSCRIBE a",
        b">3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n",
    );
    c.expect_call(
        "PUNSUBSCRIBE",
        b">3\r\n$12\r\npunsubscribe\r\n$2\r\na*\r\n:0\r\n",
    );
    c.expect_call(
        "SUNSUBSCRIBE",
        b">3\r\n$12\r\nsunsubscribe\r\n$1\r\ns\r\n:0\r\n",
    );
    c.expect_call("UNSUBSCRIBE", b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n");
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn hello_cannot_switch_protocol_while_subscribed_in_resp2() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(&cmds("SUBSCRIBE a"));
    c.reply();
    c.expect_call("HELLO 3", &not_allowed("hello"));
    // Still RESP2 framing.
    c.expect_call("PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

/// Checks the shape of a `PUBSUB HELP` reply: an array of status lines that
/// opens with the usage line and names every subcommand. (The explanatory
/// lines are the server's own prose and are not compared.)
fn check_pubsub_help(reply: &[u8], resp3: bool) {
    let text = String::from_utf8_lossy(reply);
    assert!(text.starts_with('*'), "help is an array: {text:?}");
    let _ = resp3;
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[1],
        "+PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    );
    for sub in [
        "+CHANNELS [<pattern>]",
        "+NUMPAT",
        "+NUMSUB [<channel> ...]",
        "+SHARDCHANNELS [<pattern>]",
        "+SHARDNUMSUB [<shardchannel> ...]",
        "+HELP",
    ] {
        assert!(lines.contains(&sub), "help lacks {sub}: {text:?}");
    }
    let n: usize = lines[0][1..].parse().unwrap();
    assert_eq!(n, lines.len() - 2, "array length matches the lines");
}

#[test]
fn pubsub_introspection_reply_shapes() {
    let srv = TestServer::start();
    let mut q = srv.raw();
    q.expect_call("PUBSUB CHANNELS", b"*0\r\n");
    q.expect_call("PUBSUB NUMSUB", b"*0\r\n");
    q.expect_call("PUBSUB NUMPAT", b":0\r\n");
    q.expect_call("PUBSUB SHARDCHANNELS", b"*0\r\n");
    q.expect_call("PUBSUB SHARDNUMSUB", b"*0\r\n");
    check_pubsub_help(&q.call("PUBSUB HELP"), false);
    check_pubsub_help(&q.call("pubsub help"), false);

    let mut s1 = srv.raw();
    s1.send(&cmds("SUBSCRIBE news.tech news.art misc"));
    for _ in 0..3 {
        s1.reply();
    }
    let mut s2 = srv.raw();
    s2.send(&cmds("SUBSCRIBE news.tech"));
    s2.reply();
    s2.send(&cmds("PSUBSCRIBE news.* *"));
    s2.reply();
    s2.reply();
    let mut s3 = srv.raw();
    s3.send(&cmds("PSUBSCRIBE news.*"));
    s3.reply();

    let all = q.call("PUBSUB CHANNELS");
    assert_eq!(
        sorted_bulks(&all),
        vec![
            b"misc".to_vec(),
            b"news.art".to_vec(),
            b"news.tech".to_vec()
        ]
    );
    let news = q.call("PUBSUB CHANNELS news.*");
    assert_eq!(
        sorted_bulks(&news),
        vec![b"news.art".to_vec(), b"news.tech".to_vec()]
    );
    q.expect_call("PUBSUB CHANNELS mi?c", b"*1\r\n$4\r\nmisc\r\n");
    q.expect_call("PUBSUB CHANNELS nothing*", b"*0\r\n");
    // NUMSUB keeps the request order, repeats, and ignores patterns.
    q.expect_call(
        "PUBSUB NUMSUB news.tech misc nope news.tech news.*",
        b"*10\r\n$9\r\nnews.tech\r\n:2\r\n$4\r\nmisc\r\n:1\r\n$4\r\nnope\r\n:0\r\n$9\r\nnews.tech\r\n:2\r\n$6\r\nnews.*\r\n:0\r\n",
    );
    // NUMPAT counts distinct patterns, not subscriptions: news.* is held by
    // two clients and * by one, which makes 2.
    q.expect_call("PUBSUB NUMPAT", b":2\r\n");

    // RESP3 uses the same flat arrays (NUMSUB is not a map in Redis 7.0).
    let mut r3 = srv.raw();
    hello3(&mut r3);
    r3.expect_call("PUBSUB NUMSUB misc", b"*2\r\n$4\r\nmisc\r\n:1\r\n");
    r3.expect_call("PUBSUB NUMPAT", b":2\r\n");
    r3.expect_call("PUBSUB CHANNELS mi*", b"*1\r\n$4\r\nmisc\r\n");
    r3.expect_call("PUBSUB SHARDNUMSUB x", b"*2\r\n$1\r\nx\r\n:0\r\n");
    check_pubsub_help(&r3.call("PUBSUB HELP"), true);
}

#[test]
fn pubsub_argument_errors_match_redis() {
    let srv = TestServer::start();
    let mut q = srv.raw();
    q.expect_call(
        "PUBSUB",
        b"-ERR wrong number of arguments for 'pubsub' command\r\n",
    );
    q.expect_call(
        "PUBSUB foo",
        b"-ERR unknown subcommand 'foo'. Try PUBSUB HELP.\r\n",
    );
    // The subcommand is echoed as the client spelled it.
    q.expect_call(
        "PUBSUB CHANNELS a b",
        b"-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\r\n",
    );
    q.expect_call(
        "PUBSUB NUMPAT x",
        b"-ERR wrong number of arguments for 'pubsub|numpat' command\r\n",
    );
    q.expect_call(
        "PUBSUB HELP x",
        b"-ERR wrong number of arguments for 'pubsub|help' command\r\n",
    );
    q.expect_call(
        "PUBLISH a",
        b"-ERR wrong number of arguments for 'publish' command\r\n",
    );
    q.expect_call(
        "SPUBLISH a",
        b"-ERR wrong number of arguments for 'spublish' command\r\n",
    );
    q.expect_call(
        "SUBSCRIBE",
        b"-ERR wrong number of arguments for 'subscribe' command\r\n",
    );
    q.expect_call(
        "PSUBSCRIBE",
        b"-ERR wrong number of arguments for 'psubscribe' command\r\n",
    );
    q.expect_call(
        "SSUBSCRIBE",
        b"-ERR wrong number of arguments for 'ssubscribe' command\r\n",
    );
    // The connection is still usable after each error.
    q.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn binary_channels_and_payloads_are_byte_exact() {
    let srv = TestServer::start();
    let chan: &[u8] = b"bin\x00\r\n\xff ch";
    let pattern: &[u8] = b"bin\x00\r\n\xff*";
    let payload: &[u8] = b"\x00\r\n\xff\xfe$3\r\n*1\r\n\x00end";
    let mut s = srv.raw();
    s.send(&cmd(&[b"SUBSCRIBE", chan]));
    expect_bytes(&mut s, &confirm(false, "subscribe", Some(chan), 1));
    s.send(&cmd(&[b"PSUBSCRIBE", pattern]));
    expect_bytes(&mut s, &confirm(false, "psubscribe", Some(pattern), 2));
    let mut s3 = srv.raw();
    hello3(&mut s3);
    s3.send(&cmd(&[b"SSUBSCRIBE", chan]));
    expect_bytes(&mut s3, &confirm(true, "ssubscribe", Some(chan), 1));

    let mut p = srv.raw();
    assert_eq!(p.call_args(&[b"PUBLISH", chan, payload]), b":2\r\n");
    expect_bytes(&mut s, &message(false, "message", chan, payload));
    expect_bytes(&mut s, &pmessage(false, pattern, chan, payload));
    assert_eq!(p.call_args(&[b"SPUBLISH", chan, payload]), b":1\r\n");
    expect_bytes(&mut s3, &message(true, "smessage", chan, payload));
    // An empty payload and an empty channel name are both legal.
    assert_eq!(p.call_args(&[b"PUBLISH", chan, b""]), b":2\r\n");
    expect_bytes(&mut s, &message(false, "message", chan, b""));
    expect_bytes(&mut s, &pmessage(false, pattern, chan, b""));

    let mut e = srv.raw();
    e.send(&cmd(&[b"SUBSCRIBE", b""]));
    expect_bytes(&mut e, b"*3\r\n$9\r\nsubscribe\r\n$0\r\n\r\n:1\r\n");
    assert_eq!(p.call_args(&[b"PUBLISH", b"", b"x"]), b":1\r\n");
    expect_bytes(&mut e, b"*3\r\n$7\r\nmessage\r\n$0\r\n\r\n$1\r\nx\r\n");

    // Introspection returns the same bytes.
    let mut want = vec![Vec::new(), chan.to_vec()];
    want.sort();
    assert_eq!(sorted_bulks(&p.call("PUBSUB CHANNELS")), want);
    assert_eq!(
        p.call_args(&[b"PUBSUB", b"NUMSUB", chan]),
        [b"*2\r\n".to_vec(), bulk(chan), b":1\r\n".to_vec()].concat()
    );
    assert_eq!(
        p.call_args(&[b"PUBSUB", b"SHARDCHANNELS"]),
        [b"*1\r\n".to_vec(), bulk(chan)].concat()
    );
}

#[test]
fn one_publisher_order_is_kept_for_every_subscriber() {
    const N: usize = 50_000;
    let srv = TestServer::start();
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut s = srv.raw();
        s.send(&cmds("SUBSCRIBE seq"));
        s.reply();
        let stream = s.stream.try_clone().unwrap();
        readers.push(std::thread::spawn(move || {
            let _keep = s;
            let mut fr = FrameReader::new(stream);
            for i in 0..N {
                let f = fr.frame();
                assert_eq!(f[0], b"message");
                assert_eq!(f[1], b"seq");
                let want = format!("{i:08}-payload");
                assert_eq!(show(&f[2]), want, "subscriber saw a gap or reorder");
            }
        }));
    }
    let started = Instant::now();
    let mut p = srv.raw();
    let batch = 500;
    for start in (0..N).step_by(batch) {
        let mut out = Vec::new();
        for i in start..start + batch {
            out.extend(cmd(&[
                b"PUBLISH",
                b"seq",
                format!("{i:08}-payload").as_bytes(),
            ]));
        }
        p.send(&out);
        for _ in 0..batch {
            assert_eq!(p.reply(), b":3\r\n");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "publishing too slow"
        );
    }
    for r in readers {
        r.join().expect("subscriber thread");
    }
}

#[test]
fn disconnect_cleans_up_channels_and_patterns() {
    let srv = TestServer::start();
    let mut q = srv.raw();
    {
        let mut s = srv.raw();
        s.send(&cmds("SUBSCRIBE ch other"));
        s.reply();
        s.reply();
        s.send(&cmds("PSUBSCRIBE c*"));
        s.reply();
        s.send(&cmds("SSUBSCRIBE sh"));
        s.reply();
        q.expect_call("PUBSUB NUMSUB ch", b"*2\r\n$2\r\nch\r\n:1\r\n");
        q.expect_call("PUBSUB NUMPAT", b":1\r\n");
    }
    // The subscriber's socket is closed; the server notices asynchronously.
    let clean = wait_until(Duration::from_secs(5), || {
        q.call("PUBSUB NUMPAT") == b":0\r\n"
            && q.call("PUBSUB CHANNELS") == b"*0\r\n"
            && q.call("PUBSUB SHARDCHANNELS") == b"*0\r\n"
    });
    assert!(
        clean,
        "subscriptions of a closed connection were not removed"
    );
    q.expect_call(
        "PUBSUB NUMSUB ch other",
        b"*4\r\n$2\r\nch\r\n:0\r\n$5\r\nother\r\n:0\r\n",
    );
    q.expect_call("PUBSUB SHARDNUMSUB sh", b"*2\r\n$2\r\nsh\r\n:0\r\n");
    q.expect_call("PUBLISH ch x", b":0\r\n");
}

#[test]
fn thousand_channels_vanish_on_disconnect() {
    let srv = TestServer::start();
    let mut q = srv.raw();
    {
        let mut s = srv.raw();
        let names: Vec<String> = (0..1000).map(|i| format!("room:{i}")).collect();
        let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
        args.extend(names.iter().map(|n| n.as_bytes()));
        s.send(&cmd(&args));
        for i in 0..1000 {
            let r = s.reply();
            assert!(
                r.ends_with(format!(":{}\r\n", i + 1).as_bytes()),
                "{}",
                show(&r)
            );
        }
        let listed = q.call("PUBSUB CHANNELS *");
        assert_eq!(bulks(&listed).len(), 1000);
        q.expect_call("PUBSUB NUMSUB room:999", b"*2\r\n$8\r\nroom:999\r\n:1\r\n");
    }
    let clean = wait_until(Duration::from_secs(5), || {
        q.call("PUBSUB CHANNELS *") == b"*0\r\n"
    });
    assert!(
        clean,
        "channels left behind: {}",
        show(&q.call("PUBSUB CHANNELS *"))
    );
    q.expect_call(
        "PUBSUB NUMSUB room:0 room:500",
        b"*4\r\n$6\r\nroom:0\r\n:0\r\n$8\r\nroom:500\r\n:0\r\n",
    );
}

#[test]
fn pipelined_subscribe_between_pings_keeps_reply_order() {
    let srv = TestServer::start();
    let mut s = srv.raw();
    // A client may pipeline SUBSCRIBE behind a normal command.
    let mut out = cmds("PING");
    out.extend(cmds("SUBSCRIBE p1"));
    out.extend(cmds("PING"));
    out.extend(cmds("UNSUBSCRIBE p1"));
    out.extend(cmds("PING"));
    s.send(&out);
    expect_bytes(&mut s, b"+PONG\r\n");
    expect_bytes(&mut s, b"*3\r\n$9\r\nsubscribe\r\n$2\r\np1\r\n:1\r\n");
    expect_bytes(&mut s, b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    expect_bytes(&mut s, b"*3\r\n$11\r\nunsubscribe\r\n$2\r\np1\r\n:0\r\n");
    expect_bytes(&mut s, b"+PONG\r\n");
}

/// A subscriber receiving a continuous flood must still have its own
/// commands read and answered: its connection's writes cannot starve its
/// reads.
#[test]
fn flooded_subscriber_still_gets_its_commands_answered() {
    use std::io::Write;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let srv = TestServer::start();
    let mut sub = TcpStream::connect(srv.addr()).expect("connect");
    sub.write_all(&cmd(&[b"SUBSCRIBE", b"flood"])).unwrap();
    let confirm = b"*3\r\n$9\r\nsubscribe\r\n$5\r\nflood\r\n:1\r\n";
    let mut got = vec![0u8; confirm.len()];
    sub.read_exact(&mut got).unwrap();
    assert_eq!(got, confirm);

    // Three publishers keep the subscriber's queue refilled: batches of 500
    // pipelined PUBLISHes of 200 bytes, each batch's replies read back.
    let stop = Arc::new(AtomicBool::new(false));
    let publishers: Vec<_> = (0..3)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let addr = srv.addr();
            std::thread::spawn(move || {
                let mut p = Raw::connect(&addr);
                let batch: Vec<u8> = (0..500)
                    .flat_map(|_| cmd(&[b"PUBLISH", b"flood", &[b'x'; 200]]))
                    .collect();
                let deadline = Instant::now() + Duration::from_secs(15);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    p.send(&batch);
                    for _ in 0..500 {
                        p.reply();
                    }
                }
            })
        })
        .collect();

    // Read everything the subscriber is sent, watching for the PING reply.
    let pong = b"*2\r\n$4\r\npong\r\n$4\r\nmark\r\n";
    let found = Arc::new(AtomicBool::new(false));
    let reader = {
        let found = Arc::clone(&found);
        let stop = Arc::clone(&stop);
        let mut rd = sub.try_clone().expect("clone");
        rd.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        std::thread::spawn(move || {
            let mut window: Vec<u8> = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) {
                let n = match rd.read(&mut chunk) {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(_) => continue,
                };
                window.extend_from_slice(&chunk[..n]);
                if window.windows(pong.len()).any(|w| w == pong) {
                    found.store(true, Ordering::Relaxed);
                    return;
                }
                let keep = window.len().saturating_sub(pong.len());
                window.drain(..keep);
            }
        })
    };

    std::thread::sleep(Duration::from_millis(300));
    sub.write_all(&cmd(&[b"PING", b"mark"])).unwrap();
    let answered = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        found.load(Ordering::Relaxed)
    });
    stop.store(true, Ordering::Relaxed);
    for p in publishers {
        p.join().expect("publisher");
    }
    reader.join().expect("reader");
    assert!(answered, "PING not answered within 5 s while flooded");
}

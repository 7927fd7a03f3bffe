//! Cluster mode: pubsubd nodes linked through real `nats-server` processes
//! (Debian's nats-server; test.sh installs it), all on free 127.0.0.1
//! ports, all stopped at the end of each test.

mod common;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The NATS server binary: `NATS_SERVER_BIN`, else `nats-server` from PATH or
/// Debian's /usr/sbin.
fn nats_bin() -> PathBuf {
    if let Ok(p) = std::env::var("NATS_SERVER_BIN") {
        return PathBuf::from(p);
    }
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/usr/bin"])
    {
        let p = PathBuf::from(dir).join("nats-server");
        if p.exists() {
            return p;
        }
    }
    panic!("nats-server not found: apt-get install nats-server (test.sh does)");
}

/// One nats-server process, killed when dropped.
struct Nats {
    port: u16,
    child: Child,
    _dir: TempDir,
}

impl Nats {
    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, no goodbye to anyone.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again, same port and config file (one of [`start_nats`]),
    /// after [`Nats::kill9`].
    fn restart(&mut self) {
        self.child = Command::new(nats_bin())
            .arg("-c")
            .arg(self._dir.path().join("nats.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server");
        let port = self.port;
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "nats-server on {port} did not restart"
        );
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `n` NATS servers; with more than one, they form a cluster with
/// routes to each other. `extra` is added to each one's config file.
fn start_nats(n: usize, extra: &str) -> Vec<Nats> {
    start_nats_cluster(n, extra, "")
}

/// [`start_nats`] with `cluster_extra` in each one's `cluster` block
/// (`no_advertise: true`: clients learn no other server to fail over to).
fn start_nats_cluster(n: usize, extra: &str, cluster_extra: &str) -> Vec<Nats> {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let mut out = Vec::new();
    for (i, (port, cport)) in ports.iter().enumerate() {
        let dir = TempDir::new("nats");
        let mut conf = format!("listen: 127.0.0.1:{port}\n{extra}\n");
        if n > 1 {
            let routes: Vec<String> = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, c))| format!("\"nats-route://127.0.0.1:{c}\""))
                .collect();
            conf.push_str(&format!(
                "server_name: n{i}\ncluster {{\n name: test\n listen: 127.0.0.1:{cport}\n routes: [{}]\n {cluster_extra}\n}}\n",
                routes.join(", ")
            ));
        }
        let path = dir.write("nats.conf", &conf);
        let child = Command::new(nats_bin())
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server");
        out.push(Nats {
            port: *port,
            child,
            _dir: dir,
        });
    }
    for s in &out {
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                s.port
            ))
            .is_ok()),
            "nats-server on {} did not start",
            s.port
        );
    }
    out
}

/// One nats-server configured by command-line flags only, as an operator
/// starts it by hand (`--user`/`--pass`, `--auth`).
fn start_nats_with_flags(flags: &[&str]) -> Nats {
    let port = free_port();
    let child = Command::new(nats_bin())
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(flags)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nats-server");
    let nats = Nats {
        port,
        child,
        _dir: TempDir::new("nats"),
    };
    assert!(
        wait_until(Duration::from_secs(10), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "nats-server on {port} did not start"
    );
    nats
}

/// A pubsubd node whose NATS list starts with `first` and holds all of
/// `nats`, so it can fail over to the others.
fn start_node(nats: &[&Nats], name: &str) -> TestServer {
    start_node_args(nats, name, &[])
}

/// [`start_node`] with extra arguments (`--io-threads 1`, say).
fn start_node_args(nats: &[&Nats], name: &str, extra: &[&str]) -> TestServer {
    let urls: Vec<String> = nats.iter().map(|n| n.url()).collect();
    let urls = urls.join(",");
    let mut args = vec!["--cluster-nats", urls.as_str(), "--cluster-name", name];
    args.extend_from_slice(extra);
    TestServer::start_with(&args)
}

fn info_cluster(node: &TestServer) -> Vec<u8> {
    node.raw().call("INFO cluster")
}

/// Waits until every node is connected to NATS and has heard from all the
/// others, then until a message from each node reaches every other one (NATS
/// routes spread subscription interest a moment after a connect).
fn wait_linked(nodes: &[&TestServer]) {
    for n in nodes {
        let ok = wait_until(Duration::from_secs(15), || {
            let info = info_cluster(n);
            info_field(&info, "cluster_link").as_deref() == Some("connected")
                && info_field(&info, "cluster_peers") == Some((nodes.len() - 1).to_string())
        });
        assert!(ok, "node {} not linked: {}", n.port, show(&info_cluster(n)));
    }
    for (i, a) in nodes.iter().enumerate() {
        for (j, b) in nodes.iter().enumerate() {
            if i == j {
                continue;
            }
            let chan = format!("probe-{i}-{j}");
            let mut sub = b.raw();
            sub.call(&format!("SUBSCRIBE {chan}"));
            let mut publisher = a.raw();
            let ok = wait_until(Duration::from_secs(10), || {
                publisher.call(&format!("PUBLISH {chan} x"));
                sub.try_reply(Duration::from_millis(100)).is_some()
            });
            assert!(ok, "no delivery from node {i} to node {j}");
        }
    }
}

/// Reads from `c` until `expected.len()` bytes arrived (or `within` passed)
/// and asserts they are exactly `expected`.
fn expect_bytes(c: &mut Raw, expected: &[u8], within: Duration) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < expected.len() && Instant::now() < deadline {
        match c.try_reply(Duration::from_millis(200)) {
            Some(r) => got.extend(r),
            None => continue,
        }
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "got {}",
        show(&got[..got.len().min(300)])
    );
    assert!(got == expected, "bytes differ");
}

/// Reads and drops whatever `c` receives until it is quiet for 200 ms
/// (the probes of a wait loop).
fn drain(c: &mut Raw) {
    while c.try_reply(Duration::from_millis(200)).is_some() {}
}

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

#[test]
fn messages_reach_every_matching_subscriber_on_every_node_exactly_once() {
    let nats = start_nats(3, "");
    let nodes: Vec<TestServer> = (0..3)
        .map(|i| {
            let mut order: Vec<&Nats> = nats.iter().collect();
            order.rotate_left(i);
            start_node(&order, "once")
        })
        .collect();
    let refs: Vec<&TestServer> = nodes.iter().collect();
    wait_linked(&refs);
    // On every node: one channel subscriber, one pattern subscriber and one
    // shard subscriber, each on its own connection.
    let mut subs = Vec::new();
    for n in &nodes {
        let mut ch = n.raw();
        ch.call("SUBSCRIBE ev");
        let mut pat = n.raw();
        pat.call("PSUBSCRIBE e*");
        let mut shard = n.raw();
        shard.call("SSUBSCRIBE ev");
        subs.push((ch, pat, shard));
    }
    // Counts converge on every node: 3 channel subscribers, 3 shard
    // subscribers, 1 distinct pattern.
    for n in &nodes {
        let mut c = n.raw();
        let ok = wait_until(Duration::from_secs(5), || {
            c.call("PUBSUB NUMSUB ev") == b"*2\r\n$2\r\nev\r\n:3\r\n"
                && c.call("PUBSUB SHARDNUMSUB ev") == b"*2\r\n$2\r\nev\r\n:3\r\n"
                && c.call("PUBSUB NUMPAT") == b":1\r\n"
                && c.call("PUBSUB CHANNELS") == b"*1\r\n$2\r\nev\r\n"
                && c.call("PUBSUB SHARDCHANNELS e*") == b"*1\r\n$2\r\nev\r\n"
        });
        assert!(ok, "counts on node {} did not converge", n.port);
        // Still a standalone server to clients.
        c.expect_call(
            "CLUSTER INFO",
            b"-ERR This instance has cluster support disabled\r\n",
        );
    }
    for (i, n) in nodes.iter().enumerate() {
        let mut p = n.raw();
        let msg = format!("from-{i}");
        // 3 channel subscribers plus 3 pattern subscribers, cluster-wide.
        p.expect_call(&format!("PUBLISH ev {msg}"), &int(6));
        p.expect_call(&format!("SPUBLISH ev {msg}"), &int(3));
    }
    // Each publisher's message once; publishers on different nodes have no
    // order between them, so each subscriber's frames are compared sorted.
    fn sorted(c: &mut Raw) -> Vec<Vec<u8>> {
        let mut got: Vec<Vec<u8>> = (0..3).map(|_| c.reply()).collect();
        got.sort();
        got
    }
    let want = |f: &dyn Fn(&[u8]) -> Vec<u8>| -> Vec<Vec<u8>> {
        (0..3).map(|i| f(format!("from-{i}").as_bytes())).collect()
    };
    for (ch, pat, shard) in &mut subs {
        assert_eq!(sorted(ch), want(&|m| message(false, b"ev", m)));
        assert_eq!(
            sorted(pat),
            want(&|m| push_frame(false, &[b"pmessage", b"e*", b"ev", m]))
        );
        assert_eq!(
            sorted(shard),
            want(&|m| push_frame(false, &[b"smessage", b"ev", m]))
        );
    }
    // Exactly once: nothing more arrives anywhere.
    for (ch, pat, shard) in &mut subs {
        ch.expect_nothing(Duration::from_millis(300));
        pat.expect_nothing(Duration::from_millis(50));
        shard.expect_nothing(Duration::from_millis(50));
    }
    for n in &nodes {
        let info = info_cluster(n);
        assert_eq!(
            info_field(&info, "cluster_dropped_out").as_deref(),
            Some("0")
        );
        assert_eq!(info_field(&info, "cluster_enabled").as_deref(), Some("0"));
        // The NATS server in use, by address and by name (n0..n2 here).
        let addr = info_field(&info, "cluster_nats_server").unwrap_or_default();
        assert!(
            !addr.is_empty() && nats.iter().any(|s| s.url().ends_with(&format!("/{addr}"))),
            "{addr}"
        );
        let name = info_field(&info, "cluster_nats_server_name").unwrap_or_default();
        assert!(["n0", "n1", "n2"].contains(&name.as_str()), "{name:?}");
        // Remote-delivery latency: this node received the probes and the
        // other nodes' publishes; on loopback well under a second.
        let field = |f: &str| -> u64 {
            info_field(&info, f)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{f}: {}", show(&info)))
        };
        let samples = field("cluster_remote_latency_samples");
        let (p50, p99, max) = (
            field("cluster_remote_latency_us_p50"),
            field("cluster_remote_latency_us_p99"),
            field("cluster_remote_latency_us_max"),
        );
        eprintln!(
            "node {}: remote latency p50 {p50} us, p99 {p99} us, max {max} us over {samples}",
            n.port
        );
        assert!(samples >= 4, "samples {samples}");
        assert!(p50 <= p99 && p99 <= max, "{p50} {p99} {max}");
        assert!(p99 < 1_000_000, "p99 {p99} us on loopback");
    }
}

#[test]
fn odd_channel_names_and_payloads_cross_nodes_unchanged() {
    let nats = start_nats(1, "");
    let a = start_node(&[&nats[0]], "odd");
    let b = start_node(&[&nats[0]], "odd");
    wait_linked(&[&a, &b]);
    let long = vec![b'L'; 3 * 1024];
    let names: Vec<&[u8]> = vec![
        b"",
        b"a.b.c",
        b"*",
        b">",
        b"a b",
        b"\r\n",
        b"\x00",
        b"\xff",
        b"pubsubd.odd.msg",
        &long,
    ];
    let mut sub = b.raw();
    let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    args.extend(&names);
    sub.send(&cmd(&args));
    for _ in &names {
        sub.reply();
    }
    let mut psub = b.raw();
    psub.call("PSUBSCRIBE *");
    let mut p = a.raw();
    let ok = wait_until(Duration::from_secs(5), || {
        p.call("PUBSUB NUMPAT") == int(1)
            && names
                .iter()
                .all(|n| p.call_args(&[b"PUBSUB", b"NUMSUB", n]).ends_with(b":1\r\n"))
    });
    assert!(ok, "subscriptions not reported");
    for (i, name) in names.iter().enumerate() {
        let payload = [b"\x00\r\n\xff".as_slice(), name, format!("#{i}").as_bytes()].concat();
        // One channel subscriber and one pattern subscriber on the other
        // node; as in Redis, `*` does not match the empty name.
        let by_pattern = !name.is_empty();
        expect_args(
            &mut p,
            &[b"PUBLISH", name, &payload],
            &int(1 + by_pattern as i64),
        );
        sub.expect(&message(false, name, &payload));
        if by_pattern {
            psub.expect(&push_frame(false, &[b"pmessage", b"*", name, &payload]));
        }
    }
    // The empty message too.
    expect_args(&mut p, &[b"PUBLISH", b"a.b.c", b""], &int(2));
    sub.expect(&message(false, b"a.b.c", b""));
    psub.expect(&push_frame(false, &[b"pmessage", b"*", b"a.b.c", b""]));
    sub.expect_nothing(Duration::from_millis(200));
    psub.expect_nothing(Duration::from_millis(50));
}

#[test]
fn messages_over_the_nats_payload_limit_are_refused_whole() {
    let nats = start_nats(1, "max_payload: 4096");
    let a = start_node(&[&nats[0]], "big");
    let b = start_node(&[&nats[0]], "big");
    wait_linked(&[&a, &b]);
    let mut remote = b.raw();
    remote.call("SUBSCRIBE big");
    let mut local = a.raw();
    local.call("SUBSCRIBE big");
    let mut p = a.raw();
    assert!(wait_until(Duration::from_secs(5), || p
        .call("PUBLISH big x")
        == int(2)));
    drain(&mut local);
    drain(&mut remote);
    assert_eq!(
        info_field(&info_cluster(&a), "cluster_nats_max_payload").as_deref(),
        Some("4096")
    );
    // Frame = 14 bytes + channel (3) + payload: 4079 fits exactly, 4080 not.
    let fits = vec![b'f'; 4079];
    expect_args(&mut p, &[b"PUBLISH", b"big", &fits], &int(2));
    local.expect(&message(false, b"big", &fits));
    remote.expect(&message(false, b"big", &fits));
    let over = vec![b'o'; 4080];
    let got = p.call_args(&[b"PUBLISH", b"big", &over]);
    assert_eq!(
        show(&got),
        "-ERR message too large for cluster mode: channel and message take 4097 bytes, NATS max_payload is 4096\r\n"
    );
    let got = p.call_args(&[b"SPUBLISH", b"big", &over]);
    assert!(got.starts_with(b"-ERR message too large"), "{}", show(&got));
    local.expect_nothing(Duration::from_millis(300));
    remote.expect_nothing(Duration::from_millis(50));
    assert_eq!(
        info_field(&info_cluster(&a), "cluster_refused_too_large").as_deref(),
        Some("2")
    );
    p.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn counts_follow_subscribers_and_dead_nodes_leave_them() {
    let nats = start_nats(1, "");
    let a = start_node(&[&nats[0]], "counts");
    let mut b = start_node(&[&nats[0]], "counts");
    let mut c = start_node(&[&nats[0]], "counts");
    wait_linked(&[&a, &b, &c]);
    let mut p = a.raw();
    p.expect_call("PUBLISH only-remote x", &int(0));
    let mut sb = b.raw();
    sb.call("SUBSCRIBE only-remote");
    let mut pb = b.raw();
    pb.call("PSUBSCRIBE only-*");
    let mut sc = c.raw();
    sc.call("SUBSCRIBE only-remote");
    // Within a report or two: 2 subscribers + 1 pattern subscriber elsewhere.
    let t = Instant::now();
    assert!(wait_until(Duration::from_secs(3), || p
        .call("PUBLISH only-remote y")
        == int(3)));
    eprintln!("counts visible after {:?}", t.elapsed());
    p.expect_call("PUBSUB NUMPAT", b":1\r\n");
    // A node killed without a word: its counts expire within PEER_TTL (3 s)
    // plus a poll.
    b.child.kill().expect("kill -9 node b");
    let _ = b.child.wait();
    let t = Instant::now();
    assert!(wait_until(Duration::from_secs(6), || p
        .call("PUBLISH only-remote z")
        == int(1)));
    let gone = t.elapsed();
    eprintln!("dead node's counts gone after {gone:?}");
    assert!(
        gone >= Duration::from_secs(1),
        "expired before any heartbeat was missed"
    );
    p.expect_call("PUBSUB NUMPAT", b":0\r\n");
    // A node shut down cleanly says goodbye: gone at once.
    c.signal("TERM");
    assert!(c.wait_exit(Duration::from_secs(5)).is_some());
    let t = Instant::now();
    assert!(wait_until(Duration::from_secs(2), || p
        .call("PUBSUB NUMSUB only-remote")
        == b"*2\r\n$11\r\nonly-remote\r\n:0\r\n"));
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "no goodbye: {:?}",
        t.elapsed()
    );
    assert_eq!(
        info_field(&info_cluster(&a), "cluster_peers").as_deref(),
        Some("0")
    );
}

/// The numbered messages `from..to` as `message` frames on `chan`.
fn numbered(chan: &[u8], range: std::ops::Range<u32>) -> Vec<u8> {
    range
        .flat_map(|i| message(false, chan, format!("{i:05}").as_bytes()))
        .collect()
}

#[test]
fn one_publishers_order_is_kept_over_20000_messages() {
    let nats = start_nats(3, "");
    let a = start_node(&[&nats[0], &nats[1], &nats[2]], "order");
    let b = start_node(&[&nats[2], &nats[1], &nats[0]], "order");
    wait_linked(&[&a, &b]);
    let mut remote = b.raw();
    remote.call("SUBSCRIBE seq");
    let mut p = a.raw();
    assert!(wait_until(Duration::from_secs(5), || p
        .call("PUBSUB NUMSUB seq")
        == b"*2\r\n$3\r\nseq\r\n:1\r\n"));
    const N: u32 = 20_000;
    // Pipelined in batches, as a busy publisher sends.
    let mut replies = 0;
    for start in (0..N).step_by(500) {
        let mut batch = Vec::new();
        for i in start..start + 500 {
            batch.extend(cmd(&[b"PUBLISH", b"seq", format!("{i:05}").as_bytes()]));
        }
        p.send(&batch);
        for _ in 0..500 {
            assert_eq!(p.reply(), int(1));
            replies += 1;
        }
    }
    assert_eq!(replies, N);
    expect_bytes(
        &mut remote,
        &numbered(b"seq", 0..N),
        Duration::from_secs(30),
    );
    remote.expect_nothing(Duration::from_millis(200));
    let info = info_cluster(&a);
    assert_eq!(
        info_field(&info, "cluster_dropped_out").as_deref(),
        Some("0")
    );
    assert!(
        info_field(&info, "cluster_msgs_out").is_some_and(|v| v.parse::<u32>().unwrap_or(0) >= N)
    );
    let info = info_cluster(&b);
    assert_eq!(
        info_field(&info, "cluster_inbound_dropped").as_deref(),
        Some("0")
    );
    // The latency window holds the stream's last 1,024 messages.
    let field = |f: &str| info_field(&info, f).unwrap_or_default();
    assert_eq!(field("cluster_remote_latency_samples"), "1024");
    eprintln!(
        "20,000 pipelined across nodes: remote latency p50 {} us, p99 {} us, max {} us (last 1,024)",
        field("cluster_remote_latency_us_p50"),
        field("cluster_remote_latency_us_p99"),
        field("cluster_remote_latency_us_max")
    );
}

/// Reads `c`'s `message` frames as they arrive, as a live subscriber does,
/// until `stop` is set and then `quiet` passes without one (60 s at most);
/// returns the numbers they carry. A subscriber left unread for seconds
/// fills its socket's receive window; over loopback Linux may then send
/// the rest only at zero-window probes, which back off to seconds apart,
/// so a drain afterwards would time the kernel's probes, not pubsubd.
fn read_numbers_until(
    mut c: Raw,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    quiet: Duration,
) -> Vec<u32> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stopping = stop.load(std::sync::atomic::Ordering::Relaxed);
        let wait = if stopping {
            quiet
        } else {
            Duration::from_millis(100)
        };
        match c.try_reply(wait) {
            Some(r) => out.push(frame_number(&r)),
            None if stopping || Instant::now() >= deadline => return out,
            None => {}
        }
    }
}

/// With one runtime worker per node: the whole cluster path (clients, the
/// NATS client, sending, receiving) shares one thread.
#[test]
fn a_nats_server_killed_mid_stream_loses_a_bounded_window_and_duplicates_nothing() {
    nats_server_killed_mid_stream(&["--io-threads", "1"]);
}

#[test]
fn a_nats_server_killed_mid_stream_with_two_workers_per_node() {
    nats_server_killed_mid_stream(&["--io-threads", "2"]);
}

/// Kills the NATS server one node uses while a client of it publishes at a
/// steady pace; `extra` goes to both nodes' command lines.
fn nats_server_killed_mid_stream(extra: &[&str]) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut nats = start_nats(3, "");
    // Node a talks to n0 first; node b to n1. n0 is killed.
    let a = start_node_args(&[&nats[0], &nats[1], &nats[2]], "failover", extra);
    let b = start_node_args(&[&nats[1], &nats[2]], "failover", extra);
    wait_linked(&[&a, &b]);
    let mut remote = b.raw();
    remote.call("SUBSCRIBE stream");
    let mut local = a.raw();
    local.call("SUBSCRIBE stream");
    let mut p = a.raw();
    assert!(wait_until(Duration::from_secs(5), || p
        .call("PUBSUB NUMSUB stream")
        == b"*2\r\n$6\r\nstream\r\n:2\r\n"));
    let mut sent = 0u32;
    fn publish_some(p: &mut Raw, sent: &mut u32, n: u32) {
        for _ in 0..n {
            p.send(&cmd(&[
                b"PUBLISH",
                b"stream",
                format!("{sent:05}").as_bytes(),
            ]));
            let r = p.reply();
            assert!(r.starts_with(b":"), "{}", show(&r));
            *sent += 1;
        }
    }
    publish_some(&mut p, &mut sent, 1000);
    // Everything before the kill has crossed.
    expect_bytes(
        &mut remote,
        &numbered(b"stream", 0..1000),
        Duration::from_secs(10),
    );
    // From here on the remote subscriber is read as messages come (see
    // [`read_numbers_until`]).
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || read_numbers_until(remote, stop, Duration::from_millis(1000)))
    };
    nats[0].kill9();
    // Keep publishing through the outage at a steady pace.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        publish_some(&mut p, &mut sent, 100);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(wait_until(Duration::from_secs(10), || info_field(
        &info_cluster(&a),
        "cluster_link"
    )
    .as_deref()
        == Some("connected")));
    let resumed_from = sent;
    publish_some(&mut p, &mut sent, 1000);
    let total = sent;
    // Local delivery never stopped: everything, in order.
    expect_bytes(
        &mut local,
        &numbered(b"stream", 0..total),
        Duration::from_secs(20),
    );
    // Remote: strictly increasing (no duplicate, no reordering), every
    // message before the kill and after the reconnect.
    stop.store(true, Ordering::Relaxed);
    let got = reader.join().expect("remote reader");
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "order or duplicates broken"
    );
    assert!(
        got.first().is_none_or(|&f| f >= 1000),
        "a message crossed twice"
    );
    assert!(
        (resumed_from..total).all(|i| got.binary_search(&i).is_ok()),
        "traffic did not resume"
    );
    let lost = (total - 1000) as usize - got.len();
    eprintln!(
        "kill -9 of a NATS server: {lost} of {} messages sent during the outage did not cross",
        resumed_from - 1000
    );
    let info = info_cluster(&a);
    let dropped: usize = info_field(&info, "cluster_dropped_out")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        lost <= (resumed_from - 1000) as usize,
        "lost more than the outage"
    );
    assert!(info_field(&info, "cluster_disconnects").is_some_and(|v| v != "0"));
    eprintln!("dropped to NATS (counted): {dropped}");
}

#[test]
fn cluster_directives_are_real_and_bad_urls_stop_start_up() {
    // Off by default: nothing of NATS, INFO as Redis's.
    let plain = TestServer::start();
    let mut c = plain.raw();
    c.expect_call(
        "CONFIG GET cluster-nats",
        b"*2\r\n$12\r\ncluster-nats\r\n$0\r\n\r\n",
    );
    c.expect_call(
        "CONFIG GET cluster-name",
        b"*2\r\n$12\r\ncluster-name\r\n$7\r\npubsubd\r\n",
    );
    let info = c.call("INFO cluster");
    assert_eq!(show(&info), "$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n");
    // Shown as configured.
    let nats = start_nats(1, "");
    let node = start_node(&[&nats[0]], "shown");
    let mut c = node.raw();
    let url = nats[0].url();
    c.expect_call(
        "CONFIG GET cluster-nats",
        &[
            b"*2\r\n$12\r\ncluster-nats\r\n".to_vec(),
            bulk(url.as_bytes()),
        ]
        .concat(),
    );
    c.expect_call(
        "CONFIG GET cluster-name",
        b"*2\r\n$12\r\ncluster-name\r\n$5\r\nshown\r\n",
    );
    // A bad URL in a config file stops start-up naming file and line.
    let dir = TempDir::new("conf");
    let conf = dir.write(
        "bad.conf",
        "port 0\ncluster-nats nats://127.0.0.1:4222,http://x:1\n",
    );
    let out = run_server_to_exit(&[conf.to_str().unwrap_or("")], Duration::from_secs(5));
    assert!(!out.status.success());
    let err = show(&out.stderr);
    assert!(
        err.contains("bad.conf") && err.contains(":2") && err.contains("http://x:1"),
        "{err}"
    );
    // And on the command line; a bad cluster-name too.
    let out = run_server_to_exit(
        &["--cluster-nats", "nats://h:notaport"],
        Duration::from_secs(5),
    );
    assert!(!out.status.success(), "{}", show(&out.stderr));
    let out = run_server_to_exit(&["--cluster-name", "a.b"], Duration::from_secs(5));
    assert!(!out.status.success());
    assert!(
        show(&out.stderr).contains("cluster-name"),
        "{}",
        show(&out.stderr)
    );
    // Other cluster-* directives of Redis are still accepted and ignored.
    let ok = TestServer::start_with_config("cluster-node-timeout 15000\n", &[]);
    ok.raw().expect_call("PING", b"+PONG\r\n");
}

#[test]
fn a_node_serves_locally_while_nats_is_unreachable_and_links_once_it_is_up() {
    // No NATS on this port yet.
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let node = TestServer::start_with(&["--cluster-nats", &url, "--cluster-name", "late"]);
    let mut sub = node.raw();
    sub.call("SUBSCRIBE here");
    let mut p = node.raw();
    let t = Instant::now();
    p.expect_call("PUBLISH here one", &int(1));
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "PUBLISH waited for NATS"
    );
    sub.expect(&message(false, b"here", b"one"));
    let info = info_cluster(&node);
    assert_ne!(
        info_field(&info, "cluster_link").as_deref(),
        Some("connected")
    );
    // More than the outbound queue holds: every message reaches the local
    // subscriber at once, the excess is dropped to NATS and counted.
    const FLOOD: usize = 80_000;
    let mut flood_sub = node.raw();
    flood_sub.call("SUBSCRIBE flood");
    let mut flooder = node.raw();
    let mut batch = Vec::new();
    for i in 0..FLOOD {
        batch.extend(cmd(&[b"PUBLISH", b"flood", i.to_string().as_bytes()]));
    }
    flooder.send(&batch);
    for _ in 0..FLOOD {
        assert_eq!(flooder.reply(), int(1));
    }
    let mut got = 0;
    while got < FLOOD && flood_sub.try_reply(Duration::from_secs(5)).is_some() {
        got += 1;
    }
    assert_eq!(got, FLOOD, "local delivery stalled");
    let dropped: usize = info_field(&info_cluster(&node), "cluster_dropped_out")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // The queue (65,536) and the NATS client's own buffer hold the rest
    // until NATS is reachable.
    assert!(
        dropped > 0 && dropped <= FLOOD - 65_536,
        "dropped_out {dropped}"
    );
    // NATS comes up on that port: the node links by itself.
    let dir = TempDir::new("nats");
    let conf = dir.write("nats.conf", &format!("listen: 127.0.0.1:{port}\n"));
    let child = Command::new(nats_bin())
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nats-server");
    let nats = Nats {
        port,
        child,
        _dir: dir,
    };
    let other = start_node(&[&nats], "late");
    wait_linked(&[&node, &other]);
    let mut remote = other.raw();
    remote.call("SUBSCRIBE here");
    assert!(wait_until(Duration::from_secs(5), || p
        .call("PUBSUB NUMSUB here")
        == b"*2\r\n$4\r\nhere\r\n:2\r\n"));
    p.expect_call("PUBLISH here two", &int(2));
    drain_until(&mut sub, &message(false, b"here", b"two"));
    remote.expect(&message(false, b"here", b"two"));
}

/// A node of cluster `name` on `nats` with extra arguments (credentials,
/// TLS files).
fn start_node_with(nats: &Nats, name: &str, extra: &[&str]) -> TestServer {
    let url = nats.url();
    let mut args = vec!["--cluster-nats", url.as_str(), "--cluster-name", name];
    args.extend_from_slice(extra);
    TestServer::start_with(&args)
}

/// Asserts that `node` has not got onto NATS after `within` (its
/// credentials or TLS settings are refused), while it still serves its own
/// clients.
fn assert_never_linked(node: &TestServer, within: Duration) {
    let linked = wait_until(within, || {
        info_field(&info_cluster(node), "cluster_link").as_deref() == Some("connected")
    });
    let info = info_cluster(node);
    assert!(!linked, "node {} linked: {}", node.port, show(&info));
    assert_eq!(
        info_field(&info, "cluster_connects").as_deref(),
        Some("0"),
        "{}",
        show(&info)
    );
    let mut sub = node.raw();
    sub.call("SUBSCRIBE alone");
    node.raw().expect_call("PUBLISH alone x", &int(1));
    sub.expect(&message(false, b"alone", b"x"));
}

/// One message crosses from `a` to `b`.
fn assert_crosses(a: &TestServer, b: &TestServer, chan: &str) {
    let mut sub = b.raw();
    sub.call(&format!("SUBSCRIBE {chan}"));
    let mut p = a.raw();
    assert!(wait_until(Duration::from_secs(5), || p
        .call(&format!("PUBSUB NUMSUB {chan}"))
        .ends_with(b":1\r\n")));
    p.expect_call(&format!("PUBLISH {chan} over"), &int(1));
    sub.expect(&message(false, chan.as_bytes(), b"over"));
}

#[test]
fn nats_user_password_and_token_are_sent_and_required() {
    let nats = [start_nats_with_flags(&[
        "--user",
        "pubsub",
        "--pass",
        "s3cret pw",
    ])];
    let creds = [
        "--cluster-nats-user",
        "pubsub",
        "--cluster-nats-password",
        "s3cret pw",
    ];
    let a = start_node_with(&nats[0], "auth", &creds);
    let b = start_node_with(&nats[0], "auth", &creds);
    wait_linked(&[&a, &b]);
    assert_crosses(&a, &b, "authed");
    let mut c = a.raw();
    c.expect_call(
        "CONFIG GET cluster-nats-user",
        b"*2\r\n$17\r\ncluster-nats-user\r\n$6\r\npubsub\r\n",
    );
    c.expect_call(
        "CONFIG SET cluster-nats-user other",
        b"-ERR CONFIG SET failed (possibly related to argument 'cluster-nats-user') - can't set immutable config\r\n",
    );
    // Without credentials, or with a wrong password, NATS refuses the node.
    let none = start_node_with(&nats[0], "auth", &[]);
    let wrong = start_node_with(
        &nats[0],
        "auth",
        &[
            "--cluster-nats-user",
            "pubsub",
            "--cluster-nats-password",
            "wrong",
        ],
    );
    assert_never_linked(&none, Duration::from_secs(2));
    assert_never_linked(&wrong, Duration::from_millis(200));
    assert_eq!(
        info_field(&info_cluster(&a), "cluster_peers").as_deref(),
        Some("1")
    );
    // Token authentication likewise, from a config file.
    let tnats = start_nats(1, "authorization {\n token: \"t0ken\"\n}");
    let t1 = start_node_with(&tnats[0], "tok", &["--cluster-nats-token", "t0ken"]);
    let t2 = start_node_with(&tnats[0], "tok", &["--cluster-nats-token", "t0ken"]);
    wait_linked(&[&t1, &t2]);
    assert_crosses(&t2, &t1, "tokened");
    let bad = start_node_with(&tnats[0], "tok", &["--cluster-nats-token", "other"]);
    assert_never_linked(&bad, Duration::from_secs(2));
}

/// Runs openssl with `args` in `dir`, failing the test on error.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        show(&out.stderr)
    );
}

/// Makes in `dir` a CA (`ca.crt`, `ca.key`) and, signed by it, the leaf
/// certificates `name.crt`/`name.key` of `leaves`: (name, is a server).
fn make_pki(dir: &std::path::Path, leaves: &[(&str, bool)]) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(dir, &args);
    for (name, server) in leaves {
        let ext = if *server {
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        } else {
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
        };
        std::fs::write(dir.join(format!("{name}.ext")), ext).expect("write ext");
        let (key, csr, crt, extf, subj) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
            format!("/CN={name}"),
        );
        let mut args = vec!["req", "-new"];
        args.extend(ec);
        args.extend(["-nodes", "-subj", &subj, "-keyout", &key, "-out", &csr]);
        openssl(dir, &args);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &extf,
                "-out",
                &crt,
            ],
        );
    }
}

#[test]
fn tls_to_nats_with_a_private_ca_and_client_certificates() {
    let pki = TempDir::new("natspki");
    make_pki(pki.path(), &[("nats", true), ("node", false)]);
    let file = |n: &str| pki.path().join(n).to_string_lossy().into_owned();
    let nats = start_nats(
        1,
        &format!(
            "tls {{\n cert_file: \"{}\"\n key_file: \"{}\"\n ca_file: \"{}\"\n verify: true\n}}",
            file("nats.crt"),
            file("nats.key"),
            file("ca.crt")
        ),
    );
    let (ca, crt, key) = (file("ca.crt"), file("node.crt"), file("node.key"));
    let full = [
        "--cluster-nats-tls-ca-cert-file",
        ca.as_str(),
        "--cluster-nats-tls-cert-file",
        crt.as_str(),
        "--cluster-nats-tls-key-file",
        key.as_str(),
    ];
    let a = start_node_with(&nats[0], "tls", &full);
    let b = start_node_with(&nats[0], "tls", &full);
    wait_linked(&[&a, &b]);
    assert_crosses(&a, &b, "secret");
    // Without a client certificate the server refuses the node; without the
    // CA the node refuses the server's certificate.
    let no_cert = start_node_with(
        &nats[0],
        "tls",
        &["--cluster-nats-tls-ca-cert-file", ca.as_str()],
    );
    let no_ca = start_node_with(&nats[0], "tls", &[]);
    assert_never_linked(&no_cert, Duration::from_secs(2));
    assert_never_linked(&no_ca, Duration::from_millis(200));
    // A TLS directive makes TLS required: a plain-text NATS is refused.
    let plain = start_nats(1, "");
    let downgrade = start_node_with(&plain[0], "tls", &full);
    assert_never_linked(&downgrade, Duration::from_secs(2));
}

#[test]
fn bad_nats_credentials_and_tls_settings_stop_start_up_naming_the_directive() {
    let dir = TempDir::new("natsbad");
    let empty = dir.write("empty.pem", "not a certificate\n");
    let empty = empty.to_string_lossy().into_owned();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--cluster-nats-user", "u"], "cluster-nats-password"),
        (vec!["--cluster-nats-password", "p"], "cluster-nats-user"),
        (
            vec![
                "--cluster-nats-token",
                "t",
                "--cluster-nats-user",
                "u",
                "--cluster-nats-password",
                "p",
            ],
            "cluster-nats-token",
        ),
        (
            vec!["--cluster-nats-tls-ca-cert-file", "/nonexistent/ca.pem"],
            "cluster-nats-tls-ca-cert-file",
        ),
        (
            vec!["--cluster-nats-tls-ca-cert-file", empty.as_str()],
            "cluster-nats-tls-ca-cert-file",
        ),
        (
            vec!["--cluster-nats-tls-cert-file", empty.as_str()],
            "cluster-nats-tls-key-file",
        ),
        (
            vec!["--cluster-nats", "nats://u:p@127.0.0.1:4222"],
            "cluster-nats-user",
        ),
    ];
    let port = free_port().to_string();
    for (mut args, named) in cases {
        // Never the default port, should a case start after all.
        args.extend(["--port", port.as_str()]);
        let out = run_server_to_exit(&args, Duration::from_secs(5));
        let err = show(&out.stderr);
        assert!(!out.status.success(), "{args:?} started: {err}");
        assert!(err.contains(named), "{args:?}: {err}");
    }
    // The same from a config file.
    let conf = dir.write(
        "bad.conf",
        "port 0\ncluster-nats-tls-ca-cert-file /nonexistent/ca.pem\n",
    );
    let out = run_server_to_exit(&[conf.to_str().unwrap_or("")], Duration::from_secs(5));
    assert!(!out.status.success());
    assert!(
        show(&out.stderr).contains("cluster-nats-tls-ca-cert-file"),
        "{}",
        show(&out.stderr)
    );
}

/// The number a `message` frame of the numbered streams carries.
fn frame_number(frame: &[u8]) -> u32 {
    let text = show(frame);
    text.trim_end()
        .rsplit("\r\n")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a numbered message: {text:?}"))
}

/// Whether the server closed `c` (EOF with nothing left to read).
fn peer_closed(c: &Raw) -> bool {
    let _ = c.stream.set_nonblocking(true);
    let closed = matches!(c.stream.peek(&mut [0u8; 1]), Ok(0));
    let _ = c.stream.set_nonblocking(false);
    closed
}

/// How long the moved subscriber waits before connecting to another node.
const CLIENT_RECONNECT_DELAY: Duration = Duration::from_millis(200);

/// What one subscriber of a numbered stream received.
#[derive(Default)]
struct Received {
    /// (number, arrival) on the first connection.
    before: Vec<(u32, Instant)>,
    /// (number, arrival) on the connection made after the first one closed.
    after: Vec<(u32, Instant)>,
    /// When the first connection was found closed, and when the new one
    /// had its SUBSCRIBE confirmed.
    closed_at: Option<Instant>,
    resubscribed_at: Option<Instant>,
}

/// Reads numbered messages of `chan` from `c` until `stop` is set and the
/// stream has been quiet for 500 ms. With `failover`, when the node closes
/// the connection the subscriber connects to that address and subscribes
/// again, as a client given several endpoints does.
fn collect(
    mut c: Raw,
    chan: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut failover: Option<String>,
) -> Received {
    use std::sync::atomic::Ordering;
    let mut out = Received::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let stopping = stop.load(Ordering::Relaxed);
        let wait = Duration::from_millis(if stopping { 500 } else { 50 });
        if let Some(frame) = c.try_reply(wait) {
            let entry = (frame_number(&frame), Instant::now());
            if out.closed_at.is_none() {
                out.before.push(entry);
            } else {
                out.after.push(entry);
            }
            continue;
        }
        if peer_closed(&c) {
            let Some(addr) = failover.take() else {
                break;
            };
            out.closed_at = Some(Instant::now());
            // A real client notices and retries after a moment; messages
            // published meanwhile are lost to it (at most once, as Redis).
            std::thread::sleep(CLIENT_RECONNECT_DELAY);
            c = Raw::connect(&addr);
            c.expect_call(
                &format!("SUBSCRIBE {chan}"),
                &[
                    b"*3\r\n".to_vec(),
                    bulk(b"subscribe"),
                    bulk(chan.as_bytes()),
                    int(1),
                ]
                .concat(),
            );
            out.resubscribed_at = Some(Instant::now());
            continue;
        }
        if stopping {
            break;
        }
    }
    out
}

/// Publishes `<n>` (5 digits) on `chan` from `c` in pipelined batches of
/// 5, about every 20 ms (a steady stream that leaves the machine to the
/// tests beside it), until `stop`; returns when each message's reply
/// arrived, by number.
fn publish_stream(
    mut c: Raw,
    chan: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<Instant> {
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
        let first = acked.len();
        let batch: Vec<u8> = (first..first + 5)
            .flat_map(|i| cmd(&[b"PUBLISH", chan.as_bytes(), format!("{i:05}").as_bytes()]))
            .collect();
        c.send(&batch);
        for _ in 0..5 {
            let r = c.reply();
            assert!(r.starts_with(b":"), "{}", show(&r));
        }
        acked.extend([Instant::now(); 5]);
        std::thread::sleep(Duration::from_millis(20));
    }
    acked
}

/// Asserts `got` holds exactly the numbers `range`, in order, and returns
/// the longest gap between two arrivals.
fn assert_whole(got: &[(u32, Instant)], range: std::ops::Range<u32>, who: &str) -> Duration {
    let nums: Vec<u32> = got.iter().map(|(n, _)| *n).collect();
    let want: Vec<u32> = range.collect();
    assert!(
        nums == want,
        "{who}: {} messages, first {:?}, last {:?}, want {}",
        nums.len(),
        nums.first(),
        nums.last(),
        want.len()
    );
    got.windows(2)
        .map(|w| w[1].1.duration_since(w[0].1))
        .max()
        .unwrap_or_default()
}

#[test]
fn a_pubsubd_node_killed_mid_stream_others_lose_nothing_its_clients_move_over() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let nats = start_nats(1, "");
    let a = start_node(&[&nats[0]], "nodekill");
    let mut b = start_node(&[&nats[0]], "nodekill");
    let c = start_node(&[&nats[0]], "nodekill");
    wait_linked(&[&a, &b, &c]);
    const CHAN: &str = "stream";
    let subscribe = |n: &TestServer| {
        let mut s = n.raw();
        s.call(&format!("SUBSCRIBE {CHAN}"));
        s
    };
    let (sa, sb_moves, mut sb_stays, sc) =
        (subscribe(&a), subscribe(&b), subscribe(&b), subscribe(&c));
    let mut counts = a.raw();
    let numsub = |c: &mut Raw| c.call(&format!("PUBSUB NUMSUB {CHAN}"));
    let want = |n: i64| [b"*2\r\n".to_vec(), bulk(CHAN.as_bytes()), int(n)].concat();
    assert!(wait_until(Duration::from_secs(5), || numsub(&mut counts) == want(4)));

    let stop_subs = Arc::new(AtomicBool::new(false));
    let stop_pub = Arc::new(AtomicBool::new(false));
    let spawn_collect = |r: Raw, failover: Option<String>| {
        let stop = Arc::clone(&stop_subs);
        std::thread::spawn(move || collect(r, CHAN, stop, failover))
    };
    let ta = spawn_collect(sa, None);
    let tc = spawn_collect(sc, None);
    let tb = spawn_collect(sb_moves, Some(c.addr()));
    let publisher = {
        let (p, stop) = (a.raw(), Arc::clone(&stop_pub));
        std::thread::spawn(move || publish_stream(p, CHAN, stop))
    };
    std::thread::sleep(Duration::from_millis(1500));
    let killed_at = Instant::now();
    b.child.kill().expect("kill -9 node b");
    let _ = b.child.wait();
    // The dead node's two subscribers leave the counts within PEER_TTL (3 s)
    // of its last heartbeat (at most 1 s before the kill); the one that
    // moved to node c counts there.
    assert!(
        wait_until(Duration::from_secs(6), || numsub(&mut counts) == want(3)),
        "{}",
        show(&numsub(&mut counts))
    );
    let gone = killed_at.elapsed();
    eprintln!("kill -9 of a pubsubd node: its subscribers left the counts after {gone:?}");
    assert!(
        gone >= Duration::from_millis(1900) && gone <= Duration::from_millis(4000),
        "counts left after {gone:?}, want PEER_TTL minus at most one heartbeat"
    );
    // The client that stays behind finds its connection closed.
    while sb_stays.try_reply(Duration::from_millis(50)).is_some() {}
    assert!(peer_closed(&sb_stays), "the dead node's connection is open");
    std::thread::sleep(Duration::from_millis(500));
    stop_pub.store(true, Ordering::Relaxed);
    let acked = publisher.join().expect("publisher");
    let total = acked.len() as u32;
    stop_subs.store(true, Ordering::Relaxed);
    let (ra, rc, rb) = (
        ta.join().expect("a"),
        tc.join().expect("c"),
        tb.join().expect("b"),
    );
    // The other nodes' subscribers: every message once, in order, and the
    // stream never stalled.
    let stall_a = assert_whole(&ra.before, 0..total, "subscriber on a");
    let stall_c = assert_whole(&rc.before, 0..total, "subscriber on c");
    assert!(ra.closed_at.is_none() && rc.closed_at.is_none());
    eprintln!("longest gap on a {stall_a:?}, on c {stall_c:?} ({total} messages)");
    assert!(
        stall_a < Duration::from_secs(1) && stall_c < Duration::from_secs(1),
        "delivery stalled: {stall_a:?} / {stall_c:?}"
    );
    // The moved subscriber: a whole prefix on b, a whole suffix on c, no
    // message twice; the gap is its loss window.
    let (closed, resubscribed) = (
        rb.closed_at.expect("b's client never saw the close"),
        rb.resubscribed_at.expect("never resubscribed"),
    );
    let last_before = rb.before.last().map_or(0, |(n, _)| *n);
    let first_after = rb.after.first().map_or(total, |(n, _)| *n);
    assert_whole(&rb.before, 0..last_before + 1, "moved subscriber, on b");
    assert_whole(&rb.after, first_after..total, "moved subscriber, on c");
    assert!(first_after > last_before, "a message arrived twice");
    let lost = first_after - last_before - 1;
    // Bounds: everything acknowledged a second before the kill reached b's
    // subscriber; everything acknowledged after it resubscribed reached it
    // on c.
    let acked_before_kill = acked
        .iter()
        .take_while(|t| **t + Duration::from_secs(1) < killed_at)
        .count() as u32;
    let acked_before_resub = acked.iter().take_while(|t| **t <= resubscribed).count() as u32;
    assert!(
        last_before + 1 >= acked_before_kill,
        "lost messages published well before the kill: last {last_before}, {acked_before_kill} acked a second before"
    );
    assert!(
        first_after <= acked_before_resub,
        "lost messages published after resubscribing: first {first_after}, {acked_before_resub} acked before"
    );
    let window = acked[first_after.min(total - 1) as usize]
        .saturating_duration_since(acked[(last_before + 1) as usize]);
    eprintln!(
        "moved subscriber: close seen {:?} after the kill, resubscribed {:?} later; lost {lost} messages (#{}..#{}), published over {window:?}",
        closed.saturating_duration_since(killed_at),
        resubscribed.duration_since(closed),
        last_before + 1,
        first_after
    );
    assert!(
        closed.saturating_duration_since(killed_at) < Duration::from_secs(1),
        "the close of b's connections took long"
    );
    // The window is the client's own reconnect delay plus what was in
    // flight to the dead node: far below a second on loopback.
    assert!(
        window < CLIENT_RECONNECT_DELAY + Duration::from_millis(800),
        "loss window {window:?} for the dead node's client"
    );
}

/// What one request of a replayed StackExchange.Redis pipeline must get.
enum SeWant {
    Exact(Vec<u8>),
    /// A positive integer (`CLIENT ID`).
    Id,
    /// A bulk of INFO text holding these lines.
    Info(&'static [&'static str]),
}

/// Sends `steps` in one write, as StackExchange.Redis does, and checks
/// every reply in order (tests/stackexchange.rs replays the same sequences
/// against one server, byte for byte).
fn se_replay(c: &mut Raw, steps: &[(Vec<u8>, SeWant)]) {
    let wire: Vec<u8> = steps.iter().flat_map(|(req, _)| req.clone()).collect();
    c.send(&wire);
    for (req, want) in steps {
        let got = c.reply();
        let what = show(req);
        match want {
            SeWant::Exact(w) => assert_eq!(show(&got), show(w), "reply to {what:?}"),
            SeWant::Id => assert!(
                got.starts_with(b":") && !got.starts_with(b":0") && !got.starts_with(b":-"),
                "{what:?}: {}",
                show(&got)
            ),
            SeWant::Info(lines) => {
                let text = show(&got);
                assert!(text.starts_with('$'), "{what:?}: {text}");
                for l in *lines {
                    assert!(
                        text.contains(&format!("{l}\r\n")),
                        "{what:?} lacks {l}: {text}"
                    );
                }
            }
        }
    }
}

/// StackExchange.Redis 2.9's connection identity: name, library, id.
fn se_identity() -> Vec<(Vec<u8>, SeWant)> {
    let ok = || SeWant::Exact(b"+OK\r\n".to_vec());
    vec![
        (
            cmd(&[b"CLIENT", b"SETNAME", b"WEB01(SE.Redis-v2.9.32.54708)"]),
            ok(),
        ),
        (
            cmd(&[b"CLIENT", b"SETINFO", b"lib-name", b"SE.Redis"]),
            ok(),
        ),
        (
            cmd(&[b"CLIENT", b"SETINFO", b"lib-ver", b"2.9.32.54708"]),
            ok(),
        ),
        (cmd(&[b"CLIENT", b"ID"]), SeWant::Id),
    ]
}

/// The tracer StackExchange.Redis echoes on every connection: 16 Guid
/// bytes, not UTF-8.
const SE_TRACER: &[u8] = b"\x00\r\n\xff$*\r\n\xc0\x80-+\xfe\x00\n\r";

/// The interactive connection's handshake on one endpoint: every node must
/// answer as a standalone master, with no tie-break key.
fn se_interactive(node: &TestServer) -> Raw {
    let mut c = node.raw();
    let config = |name: &str, value: &str| {
        SeWant::Exact(
            [
                b"*2\r\n".to_vec(),
                bulk(name.as_bytes()),
                bulk(value.as_bytes()),
            ]
            .concat(),
        )
    };
    let mut steps = se_identity();
    steps.extend([
        (
            cmd(&[b"CONFIG", b"GET", b"replica-read-only"]),
            config("replica-read-only", "yes"),
        ),
        (
            cmd(&[b"CONFIG", b"GET", b"databases"]),
            config("databases", "16"),
        ),
        (
            cmd(&[b"SENTINEL", b"MASTERS"]),
            SeWant::Exact(
                b"-ERR unknown command 'SENTINEL', with args beginning with: 'MASTERS' \r\n"
                    .to_vec(),
            ),
        ),
        (
            cmd(&[b"INFO", b"replication"]),
            SeWant::Info(&["# Replication", "role:master"]),
        ),
        (
            cmd(&[b"INFO", b"server"]),
            SeWant::Info(&["redis_mode:standalone"]),
        ),
        (
            cmd(&[b"CLUSTER", b"NODES"]),
            SeWant::Exact(b"-ERR This instance has cluster support disabled\r\n".to_vec()),
        ),
        (
            cmd(&[b"GET", b"__Booksleeve_TieBreak"]),
            SeWant::Exact(b"$-1\r\n".to_vec()),
        ),
        (cmd(&[b"ECHO", SE_TRACER]), SeWant::Exact(bulk(SE_TRACER))),
    ]);
    se_replay(&mut c, &steps);
    c
}

/// A subscribe confirmation in RESP2.
fn subscribed(chan: &[u8], n: i64) -> Vec<u8> {
    [b"*3\r\n".to_vec(), bulk(b"subscribe"), bulk(chan), int(n)].concat()
}

/// The subscription connection's handshake on one endpoint.
fn se_subscription(node: &TestServer) -> Raw {
    let mut c = node.raw();
    let mut steps = se_identity();
    steps.extend([
        (cmd(&[b"ECHO", SE_TRACER]), SeWant::Exact(bulk(SE_TRACER))),
        (
            cmd(&[b"SUBSCRIBE", b"__Booksleeve_MasterChanged"]),
            SeWant::Exact(subscribed(b"__Booksleeve_MasterChanged", 1)),
        ),
    ]);
    se_replay(&mut c, &steps);
    c
}

/// The application's channels (ASP.NET Core SignalR's, one binary).
const SE_CHANNELS: [&[u8]; 3] = [
    b"Chat.Hub:all",
    b"Chat.Hub:internal:groups",
    b"Chat.Hub:user:\x00\xff",
];

#[test]
fn stackexchange_with_several_endpoints_moves_to_another_node_when_its_node_dies() {
    let nats = start_nats(1, "");
    let mut nodes: Vec<TestServer> = (0..3).map(|_| start_node(&[&nats[0]], "se")).collect();
    {
        let refs: Vec<&TestServer> = nodes.iter().collect();
        wait_linked(&refs);
    }
    // The library connects to every endpoint: each is a master without a
    // tie-break, so it picks the first (node 0) and keeps the others as
    // standby connections.
    let mut interactive: Vec<Raw> = nodes.iter().map(se_interactive).collect();
    let mut subs: Vec<Raw> = nodes.iter().map(se_subscription).collect();
    let resubscribe = |c: &mut Raw| {
        let steps: Vec<(Vec<u8>, SeWant)> = SE_CHANNELS
            .iter()
            .enumerate()
            .map(|(i, ch)| {
                (
                    cmd(&[b"SUBSCRIBE", ch]),
                    SeWant::Exact(subscribed(ch, i as i64 + 2)),
                )
            })
            .collect();
        se_replay(c, &steps);
    };
    resubscribe(&mut subs[0]);
    // Publishes through the chosen node and, from another web server,
    // through node 2 reach the subscription on node 0 once each.
    let payload: &[u8] = b"\x93\xa5hello\x00\r\n\xff";
    let mut other_web = nodes[2].raw();
    for ch in SE_CHANNELS {
        assert!(wait_until(Duration::from_secs(5), || other_web
            .call_args(&[b"PUBSUB", b"NUMSUB", ch])
            .ends_with(b":1\r\n")));
    }
    for (i, ch) in SE_CHANNELS.iter().enumerate() {
        let via = if i % 2 == 0 {
            &mut interactive[0]
        } else {
            &mut other_web
        };
        expect_args(via, &[b"PUBLISH", ch, payload], &int(1));
        subs[0].expect(&message(false, ch, payload));
    }
    subs[0].expect_nothing(Duration::from_millis(200));
    // Node 0 dies. The library sees both its connections close, elects the
    // next master (node 1) and re-sends every SUBSCRIBE there.
    nodes[0].child.kill().expect("kill -9 node 0");
    let _ = nodes[0].child.wait();
    for c in [&mut interactive[0], &mut subs[0]] {
        while c.try_reply(Duration::from_millis(50)).is_some() {}
        assert!(
            wait_until(Duration::from_secs(2), || peer_closed(c)),
            "connection to the dead node still open"
        );
    }
    resubscribe(&mut subs[1]);
    // Nodes 1 and 2 count the moved subscriptions within a report and drop
    // node 0's within PEER_TTL, each on its own clock; then publishes from
    // both nodes reach the moved subscriptions once.
    let settled = wait_until(Duration::from_secs(6), || {
        [&nodes[1], &nodes[2]]
            .iter()
            .all(|n| info_field(&info_cluster(n), "cluster_peers").as_deref() == Some("1"))
            && SE_CHANNELS.iter().all(|ch| {
                [&mut interactive[1], &mut other_web].into_iter().all(|c| {
                    c.call_args(&[b"PUBSUB", b"NUMSUB", ch])
                        .ends_with(b":1\r\n")
                })
            })
    });
    assert!(settled, "{}", show(&info_cluster(&nodes[2])));
    for (i, ch) in SE_CHANNELS.iter().enumerate() {
        let via = if i % 2 == 0 {
            &mut interactive[1]
        } else {
            &mut other_web
        };
        expect_args(via, &[b"PUBLISH", ch, payload], &int(1));
        subs[1].expect(&message(false, ch, payload));
    }
    subs[1].expect_nothing(Duration::from_millis(300));
    // The standby subscription connection on node 2 only ever had
    // __Booksleeve_MasterChanged: nothing arrived there.
    subs[2].expect_nothing(Duration::from_millis(50));
    // The library's steady state on the new node: keep-alive on both
    // connections.
    interactive[1].expect_call("PING", b"+PONG\r\n");
    subs[1].expect_call("PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

/// Reads frames from `c` until `frame` arrives (the probes of a wait loop
/// may come first).
fn drain_until(c: &mut Raw, frame: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if c.try_reply(Duration::from_millis(200)).as_deref() == Some(frame) {
            return;
        }
    }
    panic!("{} never arrived", show(frame));
}

/// Milliseconds until `a` answers `PUBSUB NUMSUB chan` with `want`, asked
/// every millisecond for at most 2 s.
fn numsub_lag_ms(a: &mut Raw, chan: &str, want: i64) -> f64 {
    let expected = [
        format!("*2\r\n${}\r\n{chan}\r\n", chan.len()).into_bytes(),
        int(want),
    ]
    .concat();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        if a.call(&format!("PUBSUB NUMSUB {chan}")) == expected {
            return t.elapsed().as_secs_f64() * 1e3;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("NUMSUB {chan} never reached {want}");
}

#[test]
fn other_nodes_count_a_subscribe_and_a_disconnect_within_milliseconds() {
    // The socket.io adapter counts its servers with NUMSUB and waits for
    // that many answers: a server another node does not count yet misses
    // requests, one it still counts makes fetchSockets time out. Each node
    // reports a change REPORT_SETTLE (2 ms) after it, not at its next poll.
    let nats = start_nats(1, "");
    let a = start_node(&[&nats[0]], "fresh");
    let b = start_node(&[&nats[0]], "fresh");
    wait_linked(&[&a, &b]);
    let mut asker = a.raw();
    let (mut joins, mut leaves) = (Vec::new(), Vec::new());
    for i in 0..9 {
        // Past REPORT_MIN_GAP since the last report, as after a quiet spell.
        std::thread::sleep(Duration::from_millis(150));
        let chan = format!("fresh-{i}");
        let mut sub = b.raw();
        sub.call(&format!("SUBSCRIBE {chan}"));
        joins.push(numsub_lag_ms(&mut asker, &chan, 1));
        std::thread::sleep(Duration::from_millis(150));
        // The connection closes without a word, as a stopped server's does.
        drop(sub);
        leaves.push(numsub_lag_ms(&mut asker, &chan, 0));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (join, leave) = (median(&mut joins), median(&mut leaves));
    eprintln!(
        "subscribe seen on the other node after {joins:?} ms, disconnect after {leaves:?} ms"
    );
    // Polling every REPORT_POLL (50 ms), the median was about 25 ms.
    assert!(
        join < 12.0,
        "median {join} ms until a subscribe was counted"
    );
    assert!(
        leave < 12.0,
        "median {leave} ms until a disconnect was counted"
    );
}
// ---------------------------------------------------------------------------
// Keys: one owner, forwarded commands, copies that survive the owner
// ---------------------------------------------------------------------------

/// ASP.NET SignalR 2.x's send script (`RedisMessageBus.Send`), verbatim.
const SIGNALR_SEND: &str = "local newId = redis.call('INCR', KEYS[1])
                  local payload = newId .. ' ' .. ARGV[1]
                  redis.call('PUBLISH', KEYS[1], payload)
                  return {newId, ARGV[1], payload}";

/// SHA1 of [`SIGNALR_SEND`] (as Redis 7.0.15's SCRIPT LOAD answers).
const SIGNALR_SEND_SHA: &str = "edeb7a3b4fb872b8a76ae281cc47bd2c4d2da9b0";

/// The scale-out key, counter and channel at once.
const SCALEOUT: &[u8] = b"SignalR.Redis.Cluster";

/// Three NATS servers in a cluster and three nodes, node i talking to NATS
/// server i first; waits until they agree on the keys' owner.
fn three_linked(nats: &[Nats], name: &str) -> Vec<TestServer> {
    let nodes: Vec<TestServer> = (0..3)
        .map(|i| start_node(&[&nats[i], &nats[(i + 1) % 3], &nats[(i + 2) % 3]], name))
        .collect();
    let refs: Vec<&TestServer> = nodes.iter().collect();
    wait_linked(&refs);
    wait_agreed_owner(&refs);
    nodes
}

/// Waits until every node holds a copy and all name the same owner, one of
/// them; returns the owner's index.
fn wait_agreed_owner(nodes: &[&TestServer]) -> usize {
    let mut owner = None;
    let ok = wait_until(Duration::from_secs(15), || {
        let infos: Vec<Vec<u8>> = nodes.iter().map(|n| info_cluster(n)).collect();
        let owners: Vec<Option<String>> = infos
            .iter()
            .map(|i| info_field(i, "cluster_keys_owner"))
            .collect();
        let synced = infos
            .iter()
            .all(|i| info_field(i, "cluster_keys_rank").is_some_and(|r| r != "unsynced"));
        owner = infos
            .iter()
            .position(|i| info_field(i, "cluster_node_id") == owners[0]);
        synced && owner.is_some() && owners.iter().all(|o| *o == owners[0])
    });
    let infos: Vec<String> = nodes.iter().map(|n| show(&info_cluster(n))).collect();
    assert!(ok, "no agreed owner: {infos:?}");
    owner.unwrap_or_default()
}

/// The id in a send-script reply `*3 :id ...`, or None for an error.
fn sent_id(reply: &[u8]) -> Option<u64> {
    let rest = reply.strip_prefix(b"*3\r\n:")?;
    let end = rest.iter().position(|&b| b == b'\r')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// The `(id, payload)` of a scale-out `message` frame (`"<id> <payload>"`).
fn scaleout_message(frame: &[u8]) -> (u64, String) {
    let mut head = format!("*3\r\n$7\r\nmessage\r\n${}\r\n", SCALEOUT.len()).into_bytes();
    head.extend_from_slice(SCALEOUT);
    head.extend_from_slice(b"\r\n$");
    let rest = frame
        .strip_prefix(head.as_slice())
        .unwrap_or_else(|| panic!("not a scale-out message: {}", show(frame)));
    let text = String::from_utf8_lossy(rest);
    let body = text.split("\r\n").nth(1).unwrap_or_default();
    let (id, payload) = body.split_once(' ').expect("id and payload");
    (id.parse().expect("numeric id"), payload.to_string())
}

/// Everything a scale-out subscriber receives until it is quiet for `quiet`.
fn scaleout_drain(sub: &mut Raw, quiet: Duration) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while let Some(f) = sub.try_reply(quiet) {
        out.push(scaleout_message(&f));
    }
    out
}

/// A web server's bus connection: loads the script and sends with EVALSHA,
/// as StackExchange.Redis does.
fn scaleout_sender(node: &TestServer) -> Raw {
    let mut c = node.raw();
    let sha = c.call_args(&[b"SCRIPT", b"LOAD", SIGNALR_SEND.as_bytes()]);
    assert_eq!(show(&sha), show(&bulk(SIGNALR_SEND_SHA.as_bytes())));
    c
}

/// One send: the reply's id, or None (an error reply, which is allowed
/// only across a failure).
fn scaleout_send(c: &mut Raw, payload: &str) -> Option<u64> {
    let reply = c.call_args(&[
        b"EVALSHA",
        SIGNALR_SEND_SHA.as_bytes(),
        b"1",
        SCALEOUT,
        payload.as_bytes(),
    ]);
    let id = sent_id(&reply);
    assert!(
        id.is_some() || reply.starts_with(b"-ERR cluster"),
        "{}",
        show(&reply)
    );
    id
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

#[test]
fn signalr_ids_increase_strictly_on_every_node_from_three_sending_nodes() {
    let nats = start_nats(3, "");
    let nodes = three_linked(&nats, "signalr");
    let refs: Vec<&TestServer> = nodes.iter().collect();
    let owner = wait_agreed_owner(&refs);
    let mut subs: Vec<Raw> = nodes
        .iter()
        .map(|n| {
            let mut s = n.raw();
            s.call_args(&[b"SUBSCRIBE", SCALEOUT]);
            s
        })
        .collect();
    // Every node sees the other nodes' subscribers before sending.
    let mut probe = nodes[owner].raw();
    assert!(wait_until(Duration::from_secs(5), || probe
        .call_args(&[b"PUBSUB", b"NUMSUB", SCALEOUT])
        .ends_with(b":3\r\n")));
    const PER_NODE: usize = 300;
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr()).collect();
    let senders: Vec<_> = (0..3)
        .map(|i| {
            let mut c = scaleout_sender(&nodes[i]);
            let addr = addrs[i].clone();
            std::thread::spawn(move || {
                (0..PER_NODE)
                    .map(|j| {
                        let id = scaleout_send(&mut c, &format!("n{i}-{j}"));
                        id.unwrap_or_else(|| panic!("send n{i}-{j} to {addr} failed"))
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut replied: Vec<u64> = Vec::new();
    for (i, t) in senders.into_iter().enumerate() {
        let ids = t.join().expect("sender");
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "node {i}'s sender saw an id regression"
        );
        replied.extend(ids);
    }
    replied.sort_unstable();
    let all: Vec<u64> = (1..=3 * PER_NODE as u64).collect();
    assert!(replied == all, "ids handed out are not exactly 1..=900");
    let mut sent: Vec<String> = (0..3)
        .flat_map(|i| (0..PER_NODE).map(move |j| format!("n{i}-{j}")))
        .collect();
    sent.sort();
    for (i, sub) in subs.iter_mut().enumerate() {
        let got = scaleout_drain(sub, Duration::from_millis(1500));
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "node {i}'s subscriber saw an id regression"
        );
        let ids: Vec<u64> = got.iter().map(|m| m.0).collect();
        assert!(
            ids == all,
            "node {i}: not every message exactly once: {} messages, missing {:?}",
            ids.len(),
            all.iter()
                .filter(|x| !ids.contains(x))
                .take(10)
                .collect::<Vec<_>>()
        );
        let mut payloads: Vec<String> = got.into_iter().map(|m| m.1).collect();
        payloads.sort();
        assert_eq!(payloads, sent, "node {i}: payloads differ");
    }
    // Latency of one send on the owner and forwarded from another node.
    let other = (owner + 1) % 3;
    for (what, node) in [("same node (owner)", owner), ("cross node", other)] {
        let mut c = scaleout_sender(&nodes[node]);
        let mut took: Vec<Duration> = (0..2000)
            .map(|j| {
                let t = Instant::now();
                assert!(scaleout_send(&mut c, &format!("lat-{j}")).is_some());
                t.elapsed()
            })
            .collect();
        took.sort_unstable();
        eprintln!(
            "SignalR send script, {what}: p50 {:?} p99 {:?} max {:?} over {}",
            percentile(&took, 0.50),
            percentile(&took, 0.99),
            took[took.len() - 1],
            took.len()
        );
    }
    let info = info_cluster(&nodes[other]);
    assert!(info_field(&info, "cluster_keys_forwarded_out").is_some_and(|v| v != "0"));
    assert_eq!(
        info_field(&info, "cluster_keys_forward_failed").as_deref(),
        Some("0")
    );
    assert_eq!(
        info_field(&info, "cluster_key_updates_dropped").as_deref(),
        Some("0")
    );
}

#[test]
fn signalr_ids_stay_strictly_increasing_when_the_owner_is_killed_mid_stream() {
    let nats = start_nats(3, "");
    let mut nodes = three_linked(&nats, "failover-keys");
    let refs: Vec<&TestServer> = nodes.iter().collect();
    let owner = wait_agreed_owner(&refs);
    let survivors: Vec<usize> = (0..3).filter(|&i| i != owner).collect();
    let mut subs: Vec<Raw> = survivors
        .iter()
        .map(|&i| {
            let mut s = nodes[i].raw();
            s.call_args(&[b"SUBSCRIBE", SCALEOUT]);
            s
        })
        .collect();
    let mut probe = nodes[survivors[0]].raw();
    assert!(wait_until(Duration::from_secs(5), || probe
        .call_args(&[b"PUBSUB", b"NUMSUB", SCALEOUT])
        .ends_with(b":2\r\n")));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Each sender: (payload, id or None, when it was sent).
    let senders: Vec<_> = survivors
        .iter()
        .map(|&i| {
            let mut c = scaleout_sender(&nodes[i]);
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let mut j = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && j < 100_000 {
                    let payload = format!("n{i}-{j}");
                    let at = Instant::now();
                    let id = scaleout_send(&mut c, &payload);
                    out.push((payload, id, at));
                    j += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                out
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    nodes[owner].child.kill().expect("kill -9 the owner");
    let _ = nodes[owner].child.wait();
    let killed_at = Instant::now();
    std::thread::sleep(Duration::from_secs(8));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: Vec<Vec<(String, Option<u64>, Instant)>> = senders
        .into_iter()
        .map(|t| t.join().expect("sender"))
        .collect();
    let live: Vec<&TestServer> = survivors.iter().map(|&i| &nodes[i]).collect();
    wait_agreed_owner(&live);
    let mut failed = 0;
    let mut gap = Duration::ZERO;
    for (n, s) in sent.iter().enumerate() {
        let ids: Vec<u64> = s.iter().filter_map(|m| m.1).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "sender {n} saw an id regression"
        );
        failed += s.iter().filter(|m| m.1.is_none()).count();
        let ok_times: Vec<Instant> = s.iter().filter(|m| m.1.is_some()).map(|m| m.2).collect();
        for w in ok_times.windows(2) {
            gap = gap.max(w[1] - w[0]);
        }
        assert!(
            s.iter()
                .any(|m| m.1.is_some() && m.2 > killed_at + Duration::from_secs(6)),
            "sender {n}: no successful send after the failover"
        );
    }
    eprintln!("owner killed: {failed} sends failed; longest gap between successes {gap:?}");
    assert!(gap < Duration::from_secs(6), "failover took {gap:?}");
    let ok: std::collections::HashMap<&str, u64> = sent
        .iter()
        .flatten()
        .filter_map(|m| m.1.map(|id| (m.0.as_str(), id)))
        .collect();
    // Sends issued once any node could have noticed the death.
    let after: Vec<&str> = sent
        .iter()
        .flatten()
        .filter(|m| m.1.is_some() && m.2 > killed_at + Duration::from_secs(4))
        .map(|m| m.0.as_str())
        .collect();
    assert!(!after.is_empty());
    for (k, sub) in subs.iter_mut().enumerate() {
        let got = scaleout_drain(sub, Duration::from_millis(1500));
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "subscriber {k} saw an id regression or a duplicate"
        );
        let mut seen = std::collections::HashSet::new();
        for (id, payload) in &got {
            assert!(seen.insert(payload.clone()), "{payload} delivered twice");
            if let Some(replied) = ok.get(payload.as_str()) {
                assert_eq!(replied, id, "{payload}: reply and message ids differ");
            }
        }
        for p in &after {
            assert!(
                seen.contains(*p),
                "subscriber {k}: {p} lost after the failover"
            );
        }
    }
}

#[test]
fn a_node_that_joins_late_gets_the_keys_and_continues_them_as_owner() {
    let nats = start_nats(1, "");
    let mut a = start_node(&[&nats[0]], "join");
    let mut b = start_node(&[&nats[0]], "join");
    wait_linked(&[&a, &b]);
    wait_agreed_owner(&[&a, &b]);
    let mut c = a.raw();
    for _ in 0..100 {
        c.call("INCR counter");
    }
    c.expect_call("SET other value PX 600000", b"+OK\r\n");
    // A third node joins after the writes: it must get them whole.
    let late = start_node(&[&nats[0]], "join");
    wait_linked(&[&a, &b, &late]);
    let owner = wait_agreed_owner(&[&a, &b, &late]);
    assert_ne!(owner, 2, "a joining node took the keys over");
    let info = info_cluster(&late);
    assert!(info_field(&info, "cluster_key_snapshots_in").is_some_and(|v| v != "0"));
    // Both older nodes die without a word: the late one must own the keys
    // and continue the counter.
    a.child.kill().expect("kill a");
    let _ = a.child.wait();
    b.child.kill().expect("kill b");
    let _ = b.child.wait();
    let mine = info_field(&info_cluster(&late), "cluster_node_id");
    assert!(wait_until(Duration::from_secs(10), || info_field(
        &info_cluster(&late),
        "cluster_keys_owner"
    ) == mine));
    let mut l = late.raw();
    l.expect_call("INCR counter", &int(101));
    l.expect_call("GET other", &bulk(b"value"));
    let ttl = int_reply(&l.call("PTTL other"));
    assert!((1..=600_000).contains(&ttl), "expiry not copied: {ttl}");
}

/// One SignalR send as the test saw it: payload, id (None: an error
/// reply), when it was sent and when its reply came.
type Send = (String, Option<u64>, Instant, Instant);

/// Sends from `node` (payloads `<label>-<n>`) until `stop` is set or `most`
/// sends were made, 2 ms apart.
fn scaleout_sends(
    node: &TestServer,
    label: &str,
    most: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<Send>> {
    let mut c = scaleout_sender(node);
    let (label, stop) = (label.to_string(), std::sync::Arc::clone(stop));
    std::thread::spawn(move || {
        let mut out = Vec::new();
        while out.len() < most && !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let payload = format!("{label}-{}", out.len());
            let at = Instant::now();
            let id = scaleout_send(&mut c, &payload);
            out.push((payload, id, at, Instant::now()));
            std::thread::sleep(Duration::from_millis(2));
        }
        out
    })
}

#[test]
fn a_node_cut_off_from_nats_comes_back_behind_the_owner_the_others_elected() {
    // No server advertises the others, so x cannot fail over.
    let mut nats = start_nats_cluster(3, "", "no_advertise: true");
    // x talks to n0 only, and starts first: it owns the keys.
    let x = start_node(&[&nats[0]], "cutoff");
    let x_id = info_field(&info_cluster(&x), "cluster_node_id");
    assert!(wait_until(Duration::from_secs(15), || info_field(
        &info_cluster(&x),
        "cluster_keys_owner"
    ) == x_id));
    let y = start_node(&[&nats[1], &nats[2]], "cutoff");
    let z = start_node(&[&nats[2], &nats[1]], "cutoff");
    let all = [&x, &y, &z];
    wait_linked(&all);
    let first = wait_agreed_owner(&all);
    assert!(
        first == 0,
        "a joining node took the keys: {}\n{}\n{}",
        x.log(),
        y.log(),
        z.log()
    );
    let mut subs: Vec<Raw> = all
        .iter()
        .map(|n| {
            let mut s = n.raw();
            s.call_args(&[b"SUBSCRIBE", SCALEOUT]);
            s
        })
        .collect();
    let mut probe = y.raw();
    assert!(wait_until(Duration::from_secs(5), || probe
        .call_args(&[b"PUBSUB", b"NUMSUB", SCALEOUT])
        .ends_with(b":3\r\n")));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut sends: Vec<Vec<Send>> = Vec::new();
    // Before: y and z count through the owner x.
    let before = [
        scaleout_sends(&y, "y0", 100, &stop),
        scaleout_sends(&z, "z0", 100, &stop),
    ];
    sends.extend(before.into_iter().map(|t| t.join().expect("sender")));
    assert!(
        sends.iter().flatten().all(|s| s.1.is_some()),
        "a send failed with every node linked"
    );
    // Everything sent has crossed before the cut.
    std::thread::sleep(Duration::from_millis(300));
    nats[0].kill9();
    let cut = Instant::now();
    // Cut off, x gives the keys up: it must not answer from its copy.
    assert!(
        wait_until(Duration::from_secs(5), || info_field(
            &info_cluster(&x),
            "cluster_keys_rank"
        )
        .as_deref()
            == Some("unsynced")),
        "x kept the keys while cut off: {}",
        show(&info_cluster(&x))
    );
    // y and z go on counting; a send on x meanwhile fails or reaches the
    // real owner.
    let during = [
        scaleout_sends(&y, "y1", 100_000, &stop),
        scaleout_sends(&z, "z1", 100_000, &stop),
        scaleout_sends(&x, "x1", 1, &stop),
    ];
    let yz_owner = wait_agreed_owner(&[&y, &z]);
    // Longer than PEER_TTL (3 s): the others have moved on.
    std::thread::sleep(Duration::from_secs(6).saturating_sub(cut.elapsed()));
    nats[0].restart();
    let relinked = Instant::now();
    let synced = wait_until(Duration::from_secs(15), || {
        let info = info_cluster(&x);
        info_field(&info, "cluster_link").as_deref() == Some("connected")
            && info_field(&info, "cluster_keys_rank").is_some_and(|r| r != "unsynced")
    });
    assert!(synced, "x did not get a copy: {}", show(&info_cluster(&x)));
    let resync = relinked.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sends.extend(during.into_iter().map(|t| t.join().expect("sender")));
    let owner = wait_agreed_owner(&all);
    assert_eq!(owner, 1 + yz_owner, "the returning node took the keys back");
    let owner_id = info_field(&info_cluster(all[owner]), "cluster_node_id");
    let info = info_cluster(&x);
    assert_eq!(info_field(&info, "cluster_keys_synced_from"), owner_id);
    assert!(info_field(&info, "cluster_key_snapshots_in").is_some_and(|v| v != "0"));
    let counted_on = sends[2..4]
        .iter()
        .flatten()
        .filter(|s| s.1.is_some() && s.2 > cut + Duration::from_secs(4))
        .count();
    assert!(
        counted_on > 0,
        "y and z did not count on while x was cut off"
    );
    let failed = sends[2..4]
        .iter()
        .flatten()
        .filter(|s| s.1.is_none())
        .count();
    eprintln!(
        "cut off 6 s: {counted_on} sends on y and z counted on, {failed} failed over the failover; \
         x's send meanwhile: {:?}; x synced {resync:?} after n0 restarted",
        sends[4].first().map(|m| m.1)
    );
    // After: every node hands out ids above every id handed out before.
    let high = sends
        .iter()
        .flatten()
        .filter_map(|s| s.1)
        .max()
        .unwrap_or(0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let after = [
        scaleout_sends(&x, "x2", 100, &stop),
        scaleout_sends(&y, "y2", 100, &stop),
        scaleout_sends(&z, "z2", 100, &stop),
    ];
    for t in after {
        let s = t.join().expect("sender");
        assert!(
            s.iter().all(|m| m.1.is_some_and(|id| id > high)),
            "an id at or below {high} after x came back"
        );
        sends.push(s);
    }
    let mut ids: Vec<u64> = Vec::new();
    for s in &sends {
        let mine: Vec<u64> = s.iter().filter_map(|m| m.1).collect();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "a sender saw an id regression"
        );
        ids.extend(mine);
    }
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "an id was handed out twice");
    let replied: std::collections::HashMap<&str, u64> = sends
        .iter()
        .flatten()
        .filter_map(|m| m.1.map(|id| (m.0.as_str(), id)))
        .collect();
    for (k, sub) in subs.iter_mut().enumerate() {
        let got = scaleout_drain(sub, Duration::from_millis(1500));
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "subscriber {k} saw an id regression or a duplicate"
        );
        for (id, payload) in &got {
            if let Some(r) = replied.get(payload.as_str()) {
                assert_eq!(r, id, "{payload}: reply and message ids differ");
            }
        }
        assert!(
            got.iter().any(|m| m.1.starts_with("x2-")),
            "subscriber {k} missed x's sends"
        );
    }
}

#[test]
fn keys_survive_every_node_losing_nats_at_once() {
    let mut nats = start_nats(1, "");
    let nodes: Vec<TestServer> = (0..3).map(|_| start_node(&[&nats[0]], "restart")).collect();
    let all: Vec<&TestServer> = nodes.iter().collect();
    wait_linked(&all);
    let owner = wait_agreed_owner(&all);
    let owner_id = info_field(&info_cluster(all[owner]), "cluster_node_id");
    let epoch = |n: &TestServer| -> u64 {
        info_field(&info_cluster(n), "cluster_keys_epoch")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0)
    };
    let before = epoch(all[owner]);
    let mut c = nodes[(owner + 1) % 3].raw();
    for i in 1..=50 {
        c.expect_call("INCR counter", &int(i));
    }
    c.expect_call("SET other value PX 600000", b"+OK\r\n");
    // The one NATS server every node uses is down longer than PEER_TTL:
    // every node loses its peers and gives its copy up.
    std::thread::sleep(Duration::from_millis(300));
    nats[0].kill9();
    for n in &all {
        assert!(
            wait_until(Duration::from_secs(5), || info_field(
                &info_cluster(n),
                "cluster_keys_rank"
            )
            .as_deref()
                == Some("unsynced")),
            "a node kept its copy without NATS: {}",
            show(&info_cluster(n))
        );
    }
    // No node answers key commands meanwhile.
    let mut cut = nodes[owner].raw();
    let r = cut.call("INCR counter");
    assert!(r.starts_with(b"-ERR cluster"), "{}", show(&r));
    std::thread::sleep(Duration::from_secs(4));
    nats[0].restart();
    // The last owner takes the keys back, the others copy from it.
    let again = wait_agreed_owner(&all);
    assert_eq!(again, owner, "another node took the keys back");
    assert!(epoch(all[owner]) > before, "the epoch did not move on");
    for (i, n) in all.iter().enumerate() {
        if i != owner {
            let info = info_cluster(n);
            assert_eq!(info_field(&info, "cluster_keys_synced_from"), owner_id);
        }
    }
    for (i, n) in all.iter().enumerate() {
        let mut c = n.raw();
        c.expect_call("INCR counter", &int(51 + i as i64));
        c.expect_call("GET other", &bulk(b"value"));
    }
}

#[test]
fn key_commands_and_transactions_from_any_node_run_on_the_owner() {
    let nats = start_nats(1, "");
    let a = start_node(&[&nats[0]], "keys");
    let b = start_node(&[&nats[0]], "keys");
    wait_linked(&[&a, &b]);
    let owner = wait_agreed_owner(&[&a, &b]);
    let (owner, other) = if owner == 0 { (&a, &b) } else { (&b, &a) };
    let mut o = owner.raw();
    let mut c = other.raw();
    c.expect_call("SET greeting hello", b"+OK\r\n");
    o.expect_call("GET greeting", &bulk(b"hello"));
    c.expect_call("INCRBY n 5", &int(5));
    // A transaction runs whole on the owner; its reply is EXEC's.
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("INCR n", b"+QUEUED\r\n");
    c.expect_call("GET n", b"+QUEUED\r\n");
    c.expect_call("EXEC", b"*2\r\n:6\r\n$1\r\n6\r\n");
    o.expect_call("GET n", &bulk(b"6"));
    // Databases follow the client's SELECT.
    c.expect_call("SELECT 3", b"+OK\r\n");
    c.expect_call("SET in3 x", b"+OK\r\n");
    o.expect_call("EXISTS in3", &int(0));
    o.expect_call("SELECT 3", b"+OK\r\n");
    o.expect_call("EXISTS in3", &int(1));
    // Errors come back as the owner gave them; an unknown script is
    // NOSCRIPT; the connection lives.
    c.expect_call(
        "INCR in3",
        b"-ERR value is not an integer or out of range\r\n",
    );
    c.expect_call(
        "EVALSHA 0000000000000000000000000000000000000000 0",
        b"-NOSCRIPT No matching script. Please use EVAL.\r\n",
    );
    // RESP3 replies are encoded for the client's protocol.
    let mut r3 = other.raw();
    r3.call("HELLO 3");
    r3.expect_call("GET missing", b"_\r\n");
    // A transaction cannot hold a subscription there.
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("INCR n2", b"+QUEUED\r\n");
    c.expect_call("SUBSCRIBE ch", b"+QUEUED\r\n");
    let refused = c.call("EXEC");
    assert!(
        refused.starts_with(b"-ERR cluster mode"),
        "{}",
        show(&refused)
    );
    c.expect_call("PING", b"+PONG\r\n");
    o.expect_call("EXISTS n2", &int(0));
    // A script runs with the client's ACL rules on the owner too (the
    // nodes share their ACL configuration).
    for n in [owner, other] {
        n.raw()
            .expect_call("ACL SETUSER limited on >pw ~allowed:* +@all", b"+OK\r\n");
    }
    let mut l = other.raw();
    l.expect_call("AUTH limited pw", b"+OK\r\n");
    l.expect_call("SET allowed:1 x", b"+OK\r\n");
    let denied = l.call_args(&[b"EVAL", b"return redis.call('GET', 'n')", b"0"]);
    assert!(
        show(&denied).contains("can't access at least one of the keys"),
        "{}",
        show(&denied)
    );
    let allowed = l.call_args(&[b"EVAL", b"return redis.call('GET', 'allowed:1')", b"0"]);
    assert_eq!(show(&allowed), show(&bulk(b"x")));
    // The other node's copy follows the owner.
    assert!(wait_until(Duration::from_secs(2), || {
        let info = other.raw().call("INFO keyspace");
        show(&info).contains("db0:keys=3")
    }));
    let info = info_cluster(other);
    assert!(info_field(&info, "cluster_keys_forwarded_out").is_some_and(|v| v != "0"));
    assert!(info_field(&info, "cluster_key_updates_in").is_some_and(|v| v != "0"));
}

/// How long a proxy thread waits on a socket before it looks at the
/// proxy's state again (cut, stop): bounds how long they outlive a stop.
const PROXY_POLL: Duration = Duration::from_millis(20);

/// A throttled proxy forwards at most its rate in bytes per tick.
const PROXY_TICK: Duration = Duration::from_millis(10);

/// What a [`Proxy`]'s threads share.
#[derive(Default)]
struct ProxyState {
    /// While set, new connections are closed at once.
    cut: std::sync::atomic::AtomicBool,
    stop: std::sync::atomic::AtomicBool,
    /// Bytes forwarded per [`PROXY_TICK`] in each direction; 0: no limit.
    rate: std::sync::atomic::AtomicUsize,
    /// Both ends of every connection forwarded, so a cut closes them at
    /// once rather than a poll later.
    open: std::sync::Mutex<Vec<TcpStream>>,
    threads: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// A TCP proxy on 127.0.0.1 that the test controls: it forwards each
/// connection to `target` on two threads, and can be cut (every connection
/// closed, new ones refused until healed) or throttled. Stopped on drop.
struct Proxy {
    port: u16,
    state: std::sync::Arc<ProxyState>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let state = std::sync::Arc::new(ProxyState::default());
        let st = std::sync::Arc::clone(&state);
        let accept = std::thread::spawn(move || {
            while !st.stop.load(Ordering::Relaxed) {
                let Ok((inbound, _)) = listener.accept() else {
                    std::thread::sleep(PROXY_POLL);
                    continue;
                };
                if st.cut.load(Ordering::Relaxed) {
                    continue;
                }
                let _ = inbound.set_nonblocking(false);
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (Ok(i2), Ok(o2)) = (inbound.try_clone(), outbound.try_clone()) else {
                    continue;
                };
                {
                    let mut open = st.open.lock().expect("proxy lock");
                    open.extend(inbound.try_clone());
                    open.extend(outbound.try_clone());
                }
                let mut threads = st.threads.lock().expect("proxy lock");
                for (from, to) in [(inbound, outbound), (o2, i2)] {
                    let st = std::sync::Arc::clone(&st);
                    threads.push(std::thread::spawn(move || pump(from, to, &st)));
                }
            }
        });
        Proxy {
            port,
            state,
            accept: Some(accept),
        }
    }

    /// Closes every connection now and refuses new ones until [`Proxy::heal`].
    fn cut(&self) {
        self.state
            .cut
            .store(true, std::sync::atomic::Ordering::Relaxed);
        for s in self.state.open.lock().expect("proxy lock").drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.state
            .cut
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Forwards at most `bytes` per [`PROXY_TICK`] each way from now on
    /// (0: no limit).
    fn throttle(&self, bytes: usize) {
        self.state
            .rate
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Copies `from` to `to` until either closes or the proxy stops; closes
/// both when it ends.
fn pump(mut from: TcpStream, mut to: TcpStream, st: &ProxyState) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let _ = from.set_read_timeout(Some(PROXY_POLL));
    // A receiver that stops reading for this long ends the connection.
    let _ = to.set_write_timeout(Some(Duration::from_secs(5)));
    let mut buf = vec![0u8; 64 * 1024];
    while !st.stop.load(Ordering::Relaxed) {
        let rate = st.rate.load(Ordering::Relaxed);
        let most = if rate == 0 {
            buf.len()
        } else {
            rate.min(buf.len())
        };
        match from.read(&mut buf[..most]) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                if rate != 0 {
                    std::thread::sleep(PROXY_TICK);
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.cut();
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let threads = std::mem::take(&mut *self.state.threads.lock().expect("proxy lock"));
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Starts a nats-server on `port` with config `conf` and waits until it
/// listens.
fn spawn_nats(port: u16, conf: &str) -> Nats {
    let dir = TempDir::new("nats");
    let path = dir.write("nats.conf", conf);
    let child = Command::new(nats_bin())
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nats-server");
    let nats = Nats {
        port,
        child,
        _dir: dir,
    };
    assert!(
        wait_until(Duration::from_secs(10), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "nats-server on {port} did not start"
    );
    nats
}

/// Two NATS servers clustered only through two proxies: each one's single
/// route goes to a proxy in front of the other's cluster port, and neither
/// advertises itself to clients, so cutting the proxies splits them.
fn start_nats_pair_through_proxies() -> (Vec<Nats>, Vec<Proxy>) {
    let cports = [free_port(), free_port()];
    let proxies = vec![Proxy::start(cports[1]), Proxy::start(cports[0])];
    let nats = (0..2)
        .map(|i| {
            let port = free_port();
            let conf = format!(
                "listen: 127.0.0.1:{port}\nserver_name: s{i}\ncluster {{\n name: split\n \
                 listen: 127.0.0.1:{}\n routes: [\"nats-route://127.0.0.1:{}\"]\n \
                 no_advertise: true\n}}\n",
                cports[i], proxies[i].port
            );
            spawn_nats(port, &conf)
        })
        .collect();
    (nats, proxies)
}

/// What one side of a split saw: its own messages (number, sent at,
/// publish→deliver latency, PUBLISH reply), the other side's messages
/// received (payload, arrival), and the slowest INFO.
#[derive(Default)]
struct SideLog {
    own: Vec<(u32, Instant, Duration, i64)>,
    other: Vec<(String, Instant)>,
    slowest_info: Duration,
}

/// Longest a side waits for one of its own messages before it gives up on
/// it (the test then fails: local delivery stalled).
const LOCAL_WAIT: Duration = Duration::from_secs(2);

/// Publishes `<label>-<n>` on `split` from `node` about every 5 ms until
/// `stop`, each time timing how long its own subscriber on the same node
/// takes to get it, and asks INFO every tenth message.
fn split_side(
    node: &TestServer,
    label: &'static str,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<SideLog> {
    let mut sub = node.raw();
    sub.call("SUBSCRIBE split");
    let (mut p, mut info) = (node.raw(), node.raw());
    let stop = std::sync::Arc::clone(stop);
    std::thread::spawn(move || {
        let mut log = SideLog::default();
        let mut n = 0u32;
        let deadline = Instant::now() + Duration::from_secs(60);
        let take = |frame: Vec<u8>, log: &mut SideLog| -> Option<u32> {
            let text = show(&frame);
            let payload = text.trim_end().rsplit("\r\n").next().unwrap_or_default();
            match payload
                .strip_prefix(label)
                .and_then(|r| r.strip_prefix('-'))
            {
                Some(num) => num.parse().ok(),
                None => {
                    log.other.push((payload.to_string(), Instant::now()));
                    None
                }
            }
        };
        while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
            n += 1;
            let sent = Instant::now();
            let reply = p.call(&format!("PUBLISH split {label}-{n}"));
            let count = int_reply(&reply);
            let latency = loop {
                let Some(frame) = sub.try_reply(LOCAL_WAIT.saturating_sub(sent.elapsed())) else {
                    break LOCAL_WAIT;
                };
                if let Some(got) = take(frame, &mut log) {
                    assert_eq!(got, n, "{label}: own message out of order or twice");
                    break sent.elapsed();
                }
            };
            log.own.push((n, sent, latency, count));
            if latency >= LOCAL_WAIT {
                break;
            }
            if n.is_multiple_of(10) {
                let t = Instant::now();
                let i = info.call("INFO cluster");
                assert!(i.starts_with(b"$"), "{}", show(&i));
                log.slowest_info = log.slowest_info.max(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        while let Some(frame) = sub.try_reply(Duration::from_millis(500)) {
            assert!(take(frame, &mut log).is_none(), "{label}: own message late");
        }
        log
    })
}

/// Reads `split` messages on a passive subscriber until `stop` and quiet.
fn split_listener(
    node: &TestServer,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<(String, Instant)>> {
    let mut sub = node.raw();
    sub.call("SUBSCRIBE split");
    let stop = std::sync::Arc::clone(stop);
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let stopping = stop.load(std::sync::atomic::Ordering::Relaxed);
            let wait = Duration::from_millis(if stopping { 500 } else { 50 });
            match sub.try_reply(wait) {
                Some(frame) => {
                    let text = show(&frame);
                    let payload = text.trim_end().rsplit("\r\n").next().unwrap_or_default();
                    out.push((payload.to_string(), Instant::now()));
                }
                None if stopping => break,
                None => {}
            }
        }
        out
    })
}

/// Publish→deliver on one node may take at most this long for any message,
/// split or not. A stall behind NATS would last seconds (a route retry,
/// `PEER_TTL`); a debug build on a loaded 2-core machine has been seen to
/// take 108 ms now and then, so the bound leaves room for that.
const LOCAL_BOUND: Duration = Duration::from_millis(250);

/// ... and 99% of messages at most this long.
const LOCAL_P99_BOUND: Duration = Duration::from_millis(50);

/// After a split heals, messages cross again within this (NATS retries a
/// route every second, then spreads interest).
const HEAL_BOUND: Duration = Duration::from_secs(5);

/// Asserts what `from`'s messages (`sent`: number and send time) look like
/// at a receiver on the other side: none twice, none sent during the split
/// `[cut, heal)`, all from the first one that crossed after the heal on,
/// and that one within [`HEAL_BOUND`]; returns when crossing resumed after
/// the heal.
fn assert_split_crossing(
    who: &str,
    from: &str,
    sent: &[(u32, Instant)],
    got: &[(String, Instant)],
    cut: Instant,
    heal: Instant,
) -> Duration {
    let nums: Vec<u32> = got
        .iter()
        .filter_map(|(p, _)| p.strip_prefix(from)?.strip_prefix('-')?.parse().ok())
        .collect();
    let mut unique = nums.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), nums.len(), "{who}: a message of {from} twice");
    assert!(
        nums.windows(2).all(|w| w[0] < w[1]),
        "{who}: {from} out of order"
    );
    let sent_at = |n: u32| sent[n as usize - 1].1;
    let before = nums.iter().filter(|&&n| sent_at(n) < cut).count();
    assert!(
        before > 0,
        "{who}: nothing of {from} crossed before the split"
    );
    let during: Vec<u32> = nums
        .iter()
        .copied()
        .filter(|&n| (cut..heal).contains(&sent_at(n)))
        .collect();
    assert!(
        during.is_empty(),
        "{who}: {from}'s {during:?} crossed the split"
    );
    let first = nums
        .iter()
        .position(|&n| sent_at(n) >= heal)
        .unwrap_or_else(|| panic!("{who}: nothing of {from} crossed after the heal"));
    let resumed = got
        .iter()
        .filter(|(p, _)| p.starts_with(&format!("{from}-")))
        .nth(first)
        .map(|(_, at)| at.duration_since(heal))
        .unwrap_or_default();
    assert!(
        resumed <= HEAL_BOUND,
        "{who}: {from} crossed again only {resumed:?} after the heal"
    );
    let last = sent.len() as u32;
    let want: Vec<u32> = (nums[first]..=last).collect();
    assert!(
        nums[first..] == want[..],
        "{who}: {from} lost messages after crossing resumed ({} of {})",
        nums.len() - first,
        want.len()
    );
    resumed
}

#[test]
fn a_split_nats_cluster_serves_each_side_and_converges_when_healed() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (nats, proxies) = start_nats_pair_through_proxies();
    // a starts first, alone on s0: it owns the keys; b and c are on s1.
    let a = start_node(&[&nats[0]], "split");
    let a_id = info_field(&info_cluster(&a), "cluster_node_id");
    assert!(wait_until(Duration::from_secs(15), || info_field(
        &info_cluster(&a),
        "cluster_keys_owner"
    ) == a_id));
    let b = start_node(&[&nats[1]], "split");
    let c = start_node(&[&nats[1]], "split");
    let all = [&a, &b, &c];
    wait_linked(&all);
    assert_eq!(wait_agreed_owner(&all), 0);
    let (mut ka, mut kb) = (a.raw(), b.raw());
    for i in 1..=10 {
        let k = if i % 2 == 0 { &mut ka } else { &mut kb };
        k.expect_call("INCR ids", &int(i));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let listen_c = split_listener(&c, &stop);
    let side_a = split_side(&a, "a", &stop);
    let side_b = split_side(&b, "b", &stop);
    let mut probe_a = a.raw();
    let mut probe_b = b.raw();
    assert!(wait_until(Duration::from_secs(5), || {
        probe_a.call("PUBSUB NUMSUB split").ends_with(b":3\r\n")
            && probe_b.call("PUBSUB NUMSUB split").ends_with(b":3\r\n")
    }));
    let settled = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));

    for p in &proxies {
        p.cut();
    }
    let cut = Instant::now();
    // Each side stops counting the other once it has been silent for
    // PEER_TTL; the s1 side elects its own owner of the keys.
    let forgot = wait_until(Duration::from_secs(6), || {
        info_field(&info_cluster(&a), "cluster_peers").as_deref() == Some("0")
            && info_field(&info_cluster(&b), "cluster_peers").as_deref() == Some("1")
    });
    assert!(forgot, "peers kept: {}", show(&info_cluster(&a)));
    let forgot_after = cut.elapsed();
    let split_owner = 1 + wait_agreed_owner(&[&b, &c]);
    for n in all {
        assert_eq!(
            info_field(&info_cluster(n), "cluster_link").as_deref(),
            Some("connected")
        );
    }
    let numsub = |n: i64| [b"*2\r\n".to_vec(), bulk(b"split"), int(n)].concat();
    probe_a.expect_call("PUBSUB NUMSUB split", &numsub(1));
    probe_b.expect_call("PUBSUB NUMSUB split", &numsub(2));
    // Each side counts on from the value it had: the ids repeat across
    // the sides (the README says so).
    for i in 11..=13 {
        ka.expect_call("INCR ids", &int(i));
    }
    for i in 11..=15 {
        kb.expect_call("INCR ids", &int(i));
    }
    std::thread::sleep(Duration::from_millis(500));

    for p in &proxies {
        p.heal();
    }
    let heal = Instant::now();
    let owner = wait_agreed_owner(&all);
    let agreed = heal.elapsed();
    assert_eq!(
        owner, split_owner,
        "the owner of the older epoch kept the keys"
    );
    // The keys are the s1 side's: a's increments during the split are gone.
    ka.expect_call("INCR ids", &int(16));
    kb.expect_call("INCR ids", &int(17));
    assert!(wait_until(HEAL_BOUND, || {
        probe_a.call("PUBSUB NUMSUB split").ends_with(b":3\r\n")
    }));
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let (la, lb) = (
        side_a.join().expect("side a"),
        side_b.join().expect("side b"),
    );
    let lc = listen_c.join().expect("listener c");

    for (name, log) in [("a", &la), ("b", &lb)] {
        let mut lat: Vec<Duration> = log.own.iter().map(|m| m.2).collect();
        lat.sort_unstable();
        let (p99, max) = (percentile(&lat, 0.99), lat[lat.len() - 1]);
        eprintln!(
            "split, side {name}: {} messages, local publish→deliver p99 {p99:?} max {max:?}, slowest INFO {:?}",
            lat.len(),
            log.slowest_info
        );
        assert!(
            max < LOCAL_BOUND && p99 < LOCAL_P99_BOUND,
            "side {name}: local delivery took {max:?} (p99 {p99:?})"
        );
        assert!(
            log.slowest_info < LOCAL_BOUND,
            "{name}: INFO took {:?}",
            log.slowest_info
        );
        // PUBLISH counts the other side until it is forgotten, then only
        // its own side; all three again after the heal.
        let local = if name == "a" { 1 } else { 2 };
        let forgotten = cut + forgot_after;
        for &(n, at, _, count) in &log.own {
            if (settled..cut).contains(&at) {
                assert_eq!(count, 3, "{name}-{n} before the split");
            } else if at > forgotten && at < heal {
                assert_eq!(count, local, "{name}-{n} during the split");
            }
        }
        assert_eq!(
            log.own.last().map(|m| m.3),
            Some(3),
            "{name}: count after the heal"
        );
    }
    let sent =
        |log: &SideLog| -> Vec<(u32, Instant)> { log.own.iter().map(|m| (m.0, m.1)).collect() };
    let (sa, sb) = (sent(&la), sent(&lb));
    let r1 = assert_split_crossing("a", "b", &sb, &la.other, cut, heal);
    let r2 = assert_split_crossing("b", "a", &sa, &lb.other, cut, heal);
    let r3 = assert_split_crossing("c", "a", &sa, &lc, cut, heal);
    // b and c share s1: b's messages reach c throughout, once each.
    let from_b: Vec<u32> = lc
        .iter()
        .filter_map(|(p, _)| p.strip_prefix("b-")?.parse().ok())
        .collect();
    let want: Vec<u32> = (1..=sb.len() as u32).collect();
    assert!(
        from_b == want,
        "c: {} of b's {} messages",
        from_b.len(),
        want.len()
    );
    eprintln!(
        "split: peers forgotten {forgot_after:?} after the cut; one owner {agreed:?} after the heal; \
         crossing resumed after {r1:?} / {r2:?} / {r3:?}"
    );
    for n in all {
        n.raw().expect_call("PING", b"+PONG\r\n");
    }
}

/// Payload size of the flood in the slow-link tests: large enough that a
/// queue without a byte bound would grow by hundreds of MB in seconds.
const FLOOD_PAYLOAD: usize = 1024;

/// The p99 of publish→deliver on a node while a flood runs on it: the
/// flood's batches share the node and the machine's two cores with the
/// probe (a stall behind NATS would take seconds).
const FLOOD_P99_BOUND: Duration = Duration::from_millis(100);

/// PUBLISHes the flood pipelines in one write.
const FLOOD_BATCH: u32 = 200;

/// The number carried by a flood or probe message (`<8 digits>.....`).
fn flood_number(frame: &[u8]) -> u32 {
    let text = show(frame);
    let payload = text.trim_end().rsplit("\r\n").next().unwrap_or_default();
    payload
        .get(..8)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a flood message: {:?}", &text[..text.len().min(80)]))
}

/// Pipelines numbered [`FLOOD_PAYLOAD`]-byte PUBLISHes on `chan` from
/// `node` as fast as it answers, for `how_long`; returns when each batch
/// was written, by its first number (numbers start at 1).
fn flood(node: &TestServer, chan: &str, how_long: Duration) -> Vec<(u32, Instant)> {
    flood_until(node, chan, how_long, how_long, || true)
}

/// [`flood`] for at least `least`, then until `done` (asked every 250 ms)
/// or `most` has passed, so a slow machine still floods long enough.
fn flood_until(
    node: &TestServer,
    chan: &str,
    least: Duration,
    most: Duration,
    mut done: impl FnMut() -> bool,
) -> Vec<(u32, Instant)> {
    let mut c = node.raw();
    let pad = ".".repeat(FLOOD_PAYLOAD - 8);
    let mut batches = Vec::new();
    let mut next = 1u32;
    let start = Instant::now();
    let mut asked = start;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= most {
            break;
        }
        if elapsed >= least && asked.elapsed() >= Duration::from_millis(250) {
            if done() {
                break;
            }
            asked = Instant::now();
        }
        let batch: Vec<u8> = (next..next + FLOOD_BATCH)
            .flat_map(|n| {
                cmd(&[
                    b"PUBLISH",
                    chan.as_bytes(),
                    format!("{n:08}{pad}").as_bytes(),
                ])
            })
            .collect();
        batches.push((next, Instant::now()));
        c.send(&batch);
        for _ in 0..FLOOD_BATCH {
            let r = c.reply();
            assert!(r.starts_with(b":"), "{}", show(&r));
        }
        next += FLOOD_BATCH;
    }
    batches
}

/// Reads numbered messages from `sub` (already subscribed) until `stop`
/// and quiet for 500 ms: (number, arrival).
fn read_numbers(
    mut sub: Raw,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<(u32, Instant)>> {
    let stop = std::sync::Arc::clone(stop);
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let stopping = stop.load(std::sync::atomic::Ordering::Relaxed);
            let wait = Duration::from_millis(if stopping { 500 } else { 50 });
            match sub.try_reply(wait) {
                Some(frame) => out.push((flood_number(&frame), Instant::now())),
                None if stopping => break,
                None => {}
            }
        }
        out
    })
}

/// Every 10 ms until `stop`, publishes one message on `chan` on `node` and
/// times its delivery to a subscriber on the same node; returns the
/// latencies (a message not delivered in [`LOCAL_WAIT`] counts as that).
fn probe_local(
    node: &TestServer,
    chan: &'static str,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<Duration>> {
    let mut sub = node.raw();
    sub.call(&format!("SUBSCRIBE {chan}"));
    let mut p = node.raw();
    let stop = std::sync::Arc::clone(stop);
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut n = 0u32;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
            n += 1;
            let at = Instant::now();
            p.send(&cmd(&[
                b"PUBLISH",
                chan.as_bytes(),
                format!("{n:08}").as_bytes(),
            ]));
            if p.try_reply(LOCAL_WAIT).is_none() {
                // No reply at all: the node stalled (the test fails on it).
                out.push(LOCAL_WAIT);
                break;
            }
            let got = sub.try_reply(LOCAL_WAIT).map(|f| flood_number(&f));
            out.push(if got == Some(n) {
                at.elapsed()
            } else {
                LOCAL_WAIT
            });
            std::thread::sleep(Duration::from_millis(10));
        }
        out
    })
}

/// A numeric INFO cluster field.
fn cluster_num(node: &TestServer, field: &str) -> u64 {
    info_field(&info_cluster(node), field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field}: {}", show(&info_cluster(node))))
}

/// Asserts the local subscriber got the whole flood in order with no gap
/// longer than [`LOCAL_BOUND`] while it ran, and the probes' p99 and
/// maximum are within bounds; returns (p99, max) of the probes.
fn assert_local_flowed(
    who: &str,
    got: &[(u32, Instant)],
    sent: u32,
    probes: &[Duration],
) -> (Duration, Duration) {
    assert_whole(got, 1..sent + 1, who);
    let gap = got
        .windows(2)
        .map(|w| w[1].1.duration_since(w[0].1))
        .max()
        .unwrap_or_default();
    assert!(gap < LOCAL_BOUND, "{who}: local delivery paused {gap:?}");
    let mut lat = probes.to_vec();
    lat.sort_unstable();
    assert!(lat.len() > 50, "{who}: {} probes", lat.len());
    let (p99, max) = (percentile(&lat, 0.99), lat[lat.len() - 1]);
    assert!(
        p99 < FLOOD_P99_BOUND && max < LOCAL_BOUND,
        "{who}: local publish→deliver p99 {p99:?}, max {max:?}"
    );
    (p99, max)
}

/// Bytes the throttled proxy forwards per [`PROXY_TICK`] each way: 200 KB/s,
/// a small fraction of what one pipelining publisher sends.
const SLOW_LINK_RATE: usize = 2048;

#[test]
fn a_slow_nats_link_never_stalls_local_publishers_and_counts_what_it_drops() {
    use pubsubd::cluster::{NATS_CLIENT_CAPACITY, OUTBOUND_QUEUE_BYTES, OUTBOUND_QUEUE_MESSAGES};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let nats = start_nats(1, "");
    let proxy = Proxy::start(nats[0].port);
    let via = format!("nats://127.0.0.1:{}", proxy.port);
    let a = TestServer::start_with(&["--cluster-nats", &via, "--cluster-name", "slow"]);
    let b = start_node(&[&nats[0]], "slow");
    wait_linked(&[&a, &b]);
    // The keys settled, so nothing but the flood and probes moves below.
    wait_agreed_owner(&[&a, &b]);
    let mut sub_a = a.raw();
    sub_a.call("SUBSCRIBE flood");
    let mut sub_b = b.raw();
    sub_b.call("SUBSCRIBE flood");
    let mut probe_b = b.raw();
    probe_b.call("SUBSCRIBE probe");
    let mut numsub = a.raw();
    assert!(wait_until(Duration::from_secs(5), || numsub
        .call("PUBSUB NUMSUB flood probe")
        .ends_with(b":2\r\n$5\r\nprobe\r\n:1\r\n")));
    let out0 = cluster_num(&a, "cluster_msgs_out");
    let in0 = cluster_num(&b, "cluster_msgs_in");
    let dropped0 = cluster_num(&a, "cluster_dropped_out");
    let rss0 = rss_bytes(a.pid());

    proxy.throttle(SLOW_LINK_RATE);
    let stop = Arc::new(AtomicBool::new(false));
    let local = read_numbers(sub_a, &stop);
    let remote = read_numbers(sub_b, &stop);
    let remote_probes = read_numbers(probe_b, &stop);
    let probes = probe_local(&a, "probe", &stop);
    // Watches A's memory and queues, and that neither node drops the
    // other for silence while the link crawls.
    let watch = {
        let (stop, a_port, b_port, pid) = (Arc::clone(&stop), a.port, b.port, a.pid());
        std::thread::spawn(move || {
            let (mut rss, mut client_queued, mut lost_peer) = (0u64, 0u64, None);
            let (mut ia, mut ib) = (
                Raw::connect(&format!("127.0.0.1:{a_port}")),
                Raw::connect(&format!("127.0.0.1:{b_port}")),
            );
            while !stop.load(Ordering::Relaxed) {
                rss = rss.max(rss_bytes(pid));
                let (x, y) = (ia.call("INFO cluster"), ib.call("INFO cluster"));
                let num = |i: &[u8], f: &str| -> u64 {
                    info_field(i, f).and_then(|v| v.parse().ok()).unwrap_or(0)
                };
                client_queued = client_queued.max(num(&x, "cluster_client_queued_out"));
                if lost_peer.is_none()
                    && (num(&x, "cluster_peers") != 1 || num(&y, "cluster_peers") != 1)
                {
                    lost_peer = Some(format!("A: {}\nB: {}", show(&x), show(&y)));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (rss, client_queued, lost_peer)
        })
    };
    // Until the queue has overflowed (within the first second here).
    let batches = flood_until(
        &a,
        "flood",
        Duration::from_secs(5),
        Duration::from_secs(15),
        || cluster_num(&a, "cluster_dropped_out") > dropped0,
    );
    let flooded = batches.last().map_or(0, |b| b.0 + FLOOD_BATCH - 1);
    stop.store(true, Ordering::Relaxed);
    let probes = probes.join().expect("probes");
    let (rss, client_queued, lost_peer) = watch.join().expect("watch");
    // The link recovers: A's queue drains.
    proxy.throttle(0);
    assert!(
        wait_until(Duration::from_secs(20), || {
            let i = info_cluster(&a);
            info_field(&i, "cluster_queued_out").as_deref() == Some("0")
                && info_field(&i, "cluster_client_queued_out").as_deref() == Some("0")
        }),
        "A's queues did not drain: {}",
        show(&info_cluster(&a))
    );
    let local = local.join().expect("local");
    let remote = remote.join().expect("remote");
    let remote_probes = remote_probes.join().expect("remote probes");
    let info = info_cluster(&a);
    let num = |f: &str| -> u64 {
        info_field(&info, f)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    };
    let sent = num("cluster_msgs_out") - out0;
    let dropped = num("cluster_dropped_out") - dropped0;
    let (peak, peak_bytes) = (
        num("cluster_queued_out_peak"),
        num("cluster_queued_out_bytes_peak"),
    );

    let mut lat = probes.clone();
    lat.sort_unstable();
    let (p99, max) = (percentile(&lat, 0.99), lat[lat.len() - 1]);
    let grew = rss.saturating_sub(rss0);
    eprintln!(
        "slow link ({} KB/s): {flooded} flooded in {:?}, {sent} sent, {dropped} dropped; \
         queue peak {peak} messages / {} MB, client peak {client_queued}; RSS +{} MB; \
         local probe p99 {p99:?} max {max:?}",
        SLOW_LINK_RATE * 100 / 1024,
        batches[batches.len() - 1].1.duration_since(batches[0].1),
        peak_bytes >> 20,
        grew >> 20
    );
    assert_local_flowed("A", &local, flooded, &probes);
    // Every message was either sent to NATS or counted as dropped.
    assert_eq!(
        sent + dropped,
        u64::from(flooded) + probes.len() as u64,
        "{}",
        show(&info)
    );
    assert!(
        dropped > 0,
        "the slow link dropped nothing: {}",
        show(&info)
    );
    // What was sent reached B, once and in order; nothing else did.
    assert_eq!(cluster_num(&b, "cluster_msgs_in") - in0, sent);
    assert_eq!((remote.len() + remote_probes.len()) as u64, sent);
    assert!(
        remote.windows(2).all(|w| w[0].0 < w[1].0),
        "B: out of order or twice"
    );
    assert!(
        lost_peer.is_none(),
        "a node dropped the other while the link was slow: {lost_peer:?}"
    );
    assert!(peak <= OUTBOUND_QUEUE_MESSAGES as u64 && peak_bytes <= OUTBOUND_QUEUE_BYTES as u64);
    assert!(
        client_queued <= NATS_CLIENT_CAPACITY as u64,
        "{client_queued}"
    );
    // Memory: the queue's byte bound, the client's frames and write
    // buffer, and room for the allocator and the subscribers' outboxes.
    let bound = OUTBOUND_QUEUE_BYTES + NATS_CLIENT_CAPACITY * (FLOOD_PAYLOAD + 64) + (64 << 20);
    assert!(grew < bound as u64, "A's RSS grew by {} MB", grew >> 20);
    for (n, who) in [(&a, "A"), (&b, "B")] {
        // Everything read from NATS was handled, window confirmations too.
        assert!(
            wait_until(Duration::from_secs(5), || cluster_num(
                n,
                "cluster_inbound_buffered"
            ) == 0),
            "{who}: {}",
            show(&info_cluster(n))
        );
        assert_eq!(
            cluster_num(n, "cluster_disconnects"),
            0,
            "{who} was cut off"
        );
        assert_eq!(cluster_num(n, "cluster_inbound_dropped"), 0, "{who}");
    }
}

/// Sends SIGCONT to a process when dropped, so that a failing test never
/// leaves a node it stopped behind.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

#[test]
fn a_slow_remote_node_never_stalls_the_publishing_node_nor_gets_cut_off() {
    use pubsubd::cluster::INBOUND_CAPACITY;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let nats = start_nats(1, "");
    let a = start_node(&[&nats[0]], "remote");
    let b = start_node(&[&nats[0]], "remote");
    wait_linked(&[&a, &b]);
    wait_agreed_owner(&[&a, &b]);
    // On B, a subscriber that never reads beside one that does.
    let mut stuck = b.raw();
    stuck.call("SUBSCRIBE flood");
    let mut sub_b = b.raw();
    sub_b.call("SUBSCRIBE flood");
    let mut sub_a = a.raw();
    sub_a.call("SUBSCRIBE flood");
    let mut numsub = a.raw();
    assert!(wait_until(Duration::from_secs(5), || numsub
        .call("PUBSUB NUMSUB flood")
        .ends_with(b":3\r\n")));
    let (out0, in0) = (
        cluster_num(&a, "cluster_msgs_out"),
        cluster_num(&b, "cluster_msgs_in"),
    );
    let rss0 = rss_bytes(b.pid());

    // 1: B's client does not read; B itself keeps up.
    let stop = Arc::new(AtomicBool::new(false));
    let local = read_numbers(sub_a, &stop);
    let remote = read_numbers(sub_b, &stop);
    let probes = probe_local(&a, "probe", &stop);
    let rss_watch = {
        let (stop, pid) = (Arc::clone(&stop), b.pid());
        std::thread::spawn(move || {
            let mut rss = 0;
            while !stop.load(Ordering::Relaxed) {
                rss = rss_bytes(pid).max(rss);
                std::thread::sleep(Duration::from_millis(20));
            }
            rss
        })
    };
    let batches = flood(&a, "flood", Duration::from_secs(4));
    let flooded = batches.last().map_or(0, |b| b.0 + FLOOD_BATCH - 1);
    stop.store(true, Ordering::Relaxed);
    let probes = probes.join().expect("probes");
    assert!(wait_until(Duration::from_secs(20), || {
        let i = info_cluster(&a);
        info_field(&i, "cluster_queued_out").as_deref() == Some("0")
            && info_field(&i, "cluster_client_queued_out").as_deref() == Some("0")
    }));
    let sent = cluster_num(&a, "cluster_msgs_out") - out0;
    assert!(
        wait_until(Duration::from_secs(20), || cluster_num(
            &b,
            "cluster_msgs_in"
        ) - in0
            == sent),
        "B did not receive all {sent} A sent: {}\nA: {}",
        show(&info_cluster(&b)),
        show(&info_cluster(&a))
    );
    let (local, remote) = (local.join().expect("local"), remote.join().expect("remote"));
    let rss = rss_watch.join().expect("rss");
    let info_b = info_cluster(&b);
    let num = |f: &str| -> u64 {
        info_field(&info_b, f)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    };
    let mut lat = probes.clone();
    lat.sort_unstable();
    eprintln!(
        "remote reader stuck: {flooded} flooded in 4 s, {} dropped on A; B: inbound peak {}, \
         RSS +{} MB; A's local probe p99 {:?} max {:?}",
        cluster_num(&a, "cluster_dropped_out"),
        num("cluster_inbound_buffered_peak"),
        rss.saturating_sub(rss0) >> 20,
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
    assert_local_flowed("A", &local, flooded, &probes);
    assert_eq!(cluster_num(&a, "cluster_dropped_out"), 0, "A dropped");
    // B's own NATS subscriber was never cut, dropped nothing, and its
    // reading client got every message, once, in order.
    assert_eq!(num("cluster_disconnects"), 0, "{}", show(&info_b));
    assert_eq!(num("cluster_inbound_dropped"), 0, "{}", show(&info_b));
    assert_whole(&remote, 1..flooded + 1, "B's reader");
    // B holds at most its inbound buffer, and the stuck client at most
    // its output buffer limit (32 MB), plus room for the allocator.
    let bound = INBOUND_CAPACITY * (FLOOD_PAYLOAD + 64) + (32 << 20) + (64 << 20);
    assert!(
        rss.saturating_sub(rss0) < bound as u64,
        "B's RSS grew by {} MB",
        rss.saturating_sub(rss0) >> 20
    );
    drop(stuck);

    // 2: B stops altogether for 1.5 s while A floods on.
    let stop = Arc::new(AtomicBool::new(false));
    let mut sub_a = a.raw();
    sub_a.call("SUBSCRIBE flood2");
    let local = read_numbers(sub_a, &stop);
    let probes = probe_local(&a, "probe2", &stop);
    let pid = b.pid();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        let resume = Resume(pid);
        let _ = Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status();
        std::thread::sleep(Duration::from_millis(1500));
        drop(resume);
    });
    let batches = flood(&a, "flood2", Duration::from_secs(4));
    stopper.join().expect("stopper");
    let flooded = batches.last().map_or(0, |b| b.0 + FLOOD_BATCH - 1);
    stop.store(true, Ordering::Relaxed);
    let (local, probes) = (local.join().expect("local"), probes.join().expect("probes"));
    let mut lat = probes.clone();
    lat.sort_unstable();
    assert_local_flowed("A while B was stopped", &local, flooded, &probes);
    assert_eq!(cluster_num(&a, "cluster_disconnects"), 0);
    // B comes back: linked, and messages cross both ways again.
    wait_linked(&[&a, &b]);
    assert_crosses(&a, &b, "after-stop");
    assert_crosses(&b, &a, "after-stop-back");
    let info_b = info_cluster(&b);
    eprintln!(
        "remote node stopped 1.5 s: {flooded} flooded in 4 s; A: out {} dropped {}; B: in {}; A's local probe p99 {:?} max {:?}; \
         B: disconnects {:?}, inbound peak {:?}, inbound dropped {:?}",
        cluster_num(&a, "cluster_msgs_out") - out0,
        cluster_num(&a, "cluster_dropped_out"),
        cluster_num(&b, "cluster_msgs_in") - in0,
        percentile(&lat, 0.99),
        lat[lat.len() - 1],
        info_field(&info_b, "cluster_disconnects"),
        info_field(&info_b, "cluster_inbound_buffered_peak"),
        info_field(&info_b, "cluster_inbound_dropped"),
    );
}

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
                "server_name: n{i}\ncluster {{\n name: test\n listen: 127.0.0.1:{cport}\n routes: [{}]\n}}\n",
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

/// A pubsubd node whose NATS list starts with `first` and holds all of
/// `nats`, so it can fail over to the others.
fn start_node(nats: &[&Nats], name: &str) -> TestServer {
    let urls: Vec<String> = nats.iter().map(|n| n.url()).collect();
    let urls = urls.join(",");
    TestServer::start_with(&["--cluster-nats", &urls, "--cluster-name", name])
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
    // Frame = 6 bytes + channel (3) + payload: 4087 fits exactly, 4088 not.
    let fits = vec![b'f'; 4087];
    expect_args(&mut p, &[b"PUBLISH", b"big", &fits], &int(2));
    local.expect(&message(false, b"big", &fits));
    remote.expect(&message(false, b"big", &fits));
    let over = vec![b'o'; 4088];
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
}

/// Reads every `message` frame `c` has within `within` of quiet and returns
/// the numbers they carry.
fn drain_numbers(c: &mut Raw, quiet: Duration) -> Vec<u32> {
    let mut out = Vec::new();
    while let Some(r) = c.try_reply(quiet) {
        // *3\r\n$7\r\nmessage\r\n$<n>\r\n<chan>\r\n$5\r\nNNNNN\r\n
        let text = show(&r);
        let last = text
            .trim_end()
            .rsplit("\r\n")
            .next()
            .unwrap_or("")
            .to_string();
        out.push(
            last.parse()
                .unwrap_or_else(|_| panic!("not a number frame: {text:?}")),
        );
    }
    out
}

#[test]
fn a_nats_server_killed_mid_stream_loses_a_bounded_window_and_duplicates_nothing() {
    let mut nats = start_nats(3, "");
    // Node a talks to n0 first; node b to n1. n0 is killed.
    let a = start_node(&[&nats[0], &nats[1], &nats[2]], "failover");
    let b = start_node(&[&nats[1], &nats[2]], "failover");
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
    let got = drain_numbers(&mut remote, Duration::from_millis(1000));
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

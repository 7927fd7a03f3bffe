//! Real clients against the server: the `redis` crate (sync and async
//! pub/sub, RESP2 and RESP3) and Debian's `redis-cli`.
//!
//! Needs `redis-cli` on PATH (Debian package redis-tools) and, as
//! dev-dependencies, `redis` (tokio-comp, aio) and `futures-util`.

mod common;

use common::TestServer;
use common::wait_until;
use futures_util::StreamExt;
use redis::Commands;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Channel and payload bytes that are not UTF-8 and contain CR, LF and NUL.
const BIN_CHANNEL: &[u8] = b"bin\x00\xff\r\nch";
const BIN_PAYLOAD: &[u8] = b"\x00\x01\r\n\xfe\xff payload \x80";

/// The `PUBSUB NUMSUB` count of one channel, via the crate.
fn numsub(con: &mut redis::Connection, channel: &[u8]) -> i64 {
    let (_, n): (Vec<u8>, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query(con)
        .expect("PUBSUB NUMSUB");
    n
}

#[test]
fn redis_crate_sync_pubsub_receives_exact_bytes() {
    let srv = TestServer::start();
    let client = redis::Client::open(srv.url()).unwrap();
    let mut sub_con = client.get_connection().expect("connect");
    let mut pub_con = client.get_connection().expect("connect");
    let mut ps = sub_con.as_pubsub();
    ps.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    ps.subscribe("news").unwrap();
    ps.subscribe(BIN_CHANNEL).unwrap();
    ps.psubscribe("n*").unwrap();

    // news: one exact subscription + one pattern on the same client.
    let n: i64 = pub_con.publish("news", "hello").unwrap();
    assert_eq!(n, 2);
    let m = ps.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "news");
    assert_eq!(m.get_payload_bytes(), b"hello");
    assert!(m.get_pattern::<Option<String>>().unwrap().is_none());
    let m = ps.get_message().unwrap();
    assert_eq!(m.get_pattern::<String>().unwrap(), "n*");
    assert_eq!(m.get_channel_name(), "news");
    assert_eq!(m.get_payload_bytes(), b"hello");

    let n: i64 = pub_con.publish(BIN_CHANNEL, BIN_PAYLOAD).unwrap();
    assert_eq!(n, 1);
    let m = ps.get_message().unwrap();
    assert_eq!(m.get_channel::<Vec<u8>>().unwrap(), BIN_CHANNEL);
    assert_eq!(m.get_payload_bytes(), BIN_PAYLOAD);

    let n: i64 = pub_con.publish("elsewhere", "x").unwrap();
    assert_eq!(n, 0);
    assert_eq!(numsub(&mut pub_con, b"news"), 1);
    ps.unsubscribe("news").unwrap();
    ps.punsubscribe("n*").unwrap();
    assert!(wait_until(Duration::from_secs(5), || numsub(
        &mut pub_con,
        b"news"
    ) == 0));
    let n: i64 = pub_con.publish("news", "gone").unwrap();
    assert_eq!(n, 0);
}

#[test]
fn redis_crate_sync_connection_works_after_leaving_pubsub() {
    let srv = TestServer::start();
    let client = redis::Client::open(srv.url()).unwrap();
    let mut con = client.get_connection().expect("connect");
    {
        let mut ps = con.as_pubsub();
        ps.subscribe("tmp").unwrap();
        ps.psubscribe("tm*").unwrap();
    } // dropping the PubSub unsubscribes from everything
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let echoed: Vec<u8> = redis::cmd("ECHO").arg(BIN_PAYLOAD).query(&mut con).unwrap();
    assert_eq!(echoed, BIN_PAYLOAD);
    assert_eq!(numsub(&mut con, b"tmp"), 0);
    let numpat: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query(&mut con).unwrap();
    assert_eq!(numpat, 0);
}

/// Subscribes through the async API and checks delivery, for the given
/// client URL (RESP2 or RESP3).
async fn async_pubsub_roundtrip(url: String) {
    let client = redis::Client::open(url).unwrap();
    let mut ps = client.get_async_pubsub().await.expect("async pubsub");
    ps.subscribe("chat").await.unwrap();
    ps.subscribe(BIN_CHANNEL).await.unwrap();
    ps.psubscribe("ch*").await.unwrap();
    let mut publisher = client
        .get_multiplexed_async_connection()
        .await
        .expect("async connection");

    let n: i64 = redis::AsyncCommands::publish(&mut publisher, "chat", BIN_PAYLOAD)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let n: i64 = redis::AsyncCommands::publish(&mut publisher, BIN_CHANNEL, "second")
        .await
        .unwrap();
    assert_eq!(n, 1);
    let n: i64 = redis::AsyncCommands::publish(&mut publisher, "check", "third")
        .await
        .unwrap();
    assert_eq!(n, 1);

    let mut stream = ps.on_message();
    let mut got = Vec::new();
    for _ in 0..4 {
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("message within 10 s")
            .expect("stream open");
        got.push((
            msg.get_pattern::<Option<Vec<u8>>>().unwrap(),
            msg.get_channel::<Vec<u8>>().unwrap(),
            msg.get_payload_bytes().to_vec(),
        ));
    }
    let want = vec![
        (None, b"chat".to_vec(), BIN_PAYLOAD.to_vec()),
        (
            Some(b"ch*".to_vec()),
            b"chat".to_vec(),
            BIN_PAYLOAD.to_vec(),
        ),
        (None, BIN_CHANNEL.to_vec(), b"second".to_vec()),
        (Some(b"ch*".to_vec()), b"check".to_vec(), b"third".to_vec()),
    ];
    assert_eq!(got, want);
    // Nothing else arrives.
    let extra = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
    assert!(extra.is_err(), "unexpected extra message");
}

#[tokio::test]
async fn redis_crate_async_pubsub_resp2() {
    let srv = TestServer::start();
    async_pubsub_roundtrip(srv.url()).await;
}

#[tokio::test]
async fn redis_crate_async_pubsub_resp3() {
    let srv = TestServer::start();
    async_pubsub_roundtrip(format!("{}?protocol=resp3", srv.url())).await;
}

#[tokio::test]
async fn redis_crate_async_pubsub_many_messages_in_order() {
    const N: usize = 5_000;
    let srv = TestServer::start();
    let client = redis::Client::open(srv.url()).unwrap();
    let mut ps = client.get_async_pubsub().await.unwrap();
    ps.subscribe("bulk").await.unwrap();
    let mut publisher = client.get_multiplexed_async_connection().await.unwrap();
    let send = tokio::spawn(async move {
        for i in 0..N {
            let n: i64 = redis::AsyncCommands::publish(&mut publisher, "bulk", i.to_string())
                .await
                .unwrap();
            assert_eq!(n, 1);
        }
    });
    let mut stream = ps.into_on_message();
    for i in 0..N {
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(msg.get_payload_bytes(), i.to_string().as_bytes());
    }
    send.await.unwrap();
}

/// Runs `redis-cli` with `args`, killing it after 10 s.
fn redis_cli(args: &[&str]) -> Output {
    let child = Command::new("redis-cli")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("redis-cli not runnable ({e}); install it with `apt-get install -y redis-tools`")
        });
    wait_output(child, Duration::from_secs(10))
}

/// Waits for `child` (killing it after `within`) and returns its output.
fn wait_output(mut child: Child, within: Duration) -> Output {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().expect("wait redis-cli")
}

/// Stdout as text.
fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn redis_cli_ping() {
    let srv = TestServer::start();
    let port = srv.port.to_string();
    let out = redis_cli(&["-p", &port, "PING"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "PONG\n");
    let out = redis_cli(&["-p", &port, "PUBLISH", "ch", "x"]);
    assert_eq!(stdout(&out), "0\n");
}

#[test]
fn redis_cli_with_password() {
    let srv = TestServer::start_with(&["--requirepass", "pw"]);
    let port = srv.port.to_string();
    // redis-cli warns about -a/--pass on stderr; only stdout matters.
    let out = redis_cli(&["-p", &port, "--pass", "pw", "PING"]);
    assert_eq!(stdout(&out), "PONG\n");
    let out = redis_cli(&["-p", &port, "PING"]);
    assert_eq!(stdout(&out), "NOAUTH Authentication required.\n\n");
    let out = redis_cli(&["-p", &port, "--pass", "wrong", "PING"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("AUTH failed: WRONGPASS invalid username-password pair or user is disabled."),
        "stderr: {err}"
    );
    assert_eq!(stdout(&out), "NOAUTH Authentication required.\n\n");
}

#[test]
fn redis_cli_resp3_hello_shape() {
    let srv = TestServer::start();
    let out = redis_cli(&["-3", "-p", &srv.port.to_string(), "HELLO"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let lines: Vec<(&str, &str)> = text
        .lines()
        .map(|l| l.split_once(' ').unwrap_or((l, "")))
        .collect();
    let keys: Vec<&str> = lines.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        [
            "server", "version", "proto", "id", "mode", "role", "modules"
        ],
        "{text}"
    );
    let value = |k: &str| {
        lines
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| *v)
            .unwrap()
    };
    assert_eq!(value("server"), "redis");
    assert!(value("version").starts_with("7."), "{text}");
    assert_eq!(value("proto"), "3");
    assert!(value("id").parse::<u64>().is_ok(), "{text}");
    assert_eq!(value("mode"), "standalone");
    assert_eq!(value("role"), "master");
    assert_eq!(value("modules"), "");
}

#[test]
fn redis_cli_subscribe_prints_published_messages() {
    let srv = TestServer::start();
    let mut child = Command::new("redis-cli")
        .args(["-p", &srv.port.to_string(), "SUBSCRIBE", "ch"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("redis-cli not runnable ({e}); install it with `apt-get install -y redis-tools`")
        });
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let next_line = |lines: &mut Vec<String>| -> String {
        let l = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("redis-cli printed only {lines:?}"));
        lines.push(l.clone());
        l
    };
    // The subscribe confirmation: kind, channel, count on separate lines.
    for want in ["subscribe", "ch", "1"] {
        assert_eq!(next_line(&mut lines), want);
    }
    let mut p = srv.raw();
    p.expect_call("PUBLISH ch hello-cli", b":1\r\n");
    for want in ["message", "ch", "hello-cli"] {
        assert_eq!(next_line(&mut lines), want, "after {lines:?}");
    }
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap();
    // Its connection is gone once the process is.
    let gone = wait_until(Duration::from_secs(5), || {
        p.call("PUBSUB NUMSUB ch") == b"*2\r\n$2\r\nch\r\n:0\r\n"
    });
    assert!(gone, "redis-cli's subscription outlived the process");
}

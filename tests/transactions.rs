//! MULTI / EXEC / DISCARD / WATCH / UNWATCH, checked byte for byte in RESP2
//! and RESP3.
//!
//! Every expected byte string here was first checked against redis-server
//! 7.0.15 (`PUBSUBD_TEST_BIN=$(which redis-server)`), which is the reference.
//! Where Redis 7.2 (which pubsubd follows) orders replies differently, the
//! test says so and checks each server against its own version.

mod common;

use common::{expect_args, show};

use common::{Raw, TestServer, message};
use std::time::Duration;

/// The reply to EXEC after a command failed to queue.
const EXECABORT: &[u8] = b"-EXECABORT Transaction discarded because of previous errors.\r\n";

/// Reads whole frames until exactly `expected.len()` bytes have arrived and
/// compares them. Used where Redis 7.0 interleaves pushes inside an array
/// reply, so frame boundaries do not line up with the logical replies.
fn expect_stream(c: &mut Raw, expected: &[u8]) {
    let mut got = Vec::new();
    while got.len() < expected.len() {
        got.extend(c.reply());
    }
    assert_eq!(show(&got), show(expected));
}

/// Switches `c` to RESP3 (the HELLO reply itself is not checked here).
fn resp3(c: &mut Raw) {
    let r = c.call("HELLO 3");
    assert!(r.starts_with(b"%"), "HELLO 3 gave {:?}", show(&r));
}

/// Runs `MULTI; GET k; EXEC` on `c` and returns the EXEC reply.
fn exec_get(c: &mut Raw, key: &str) -> Vec<u8> {
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call(&format!("GET {key}"), b"+QUEUED\r\n");
    c.call("EXEC")
}

// ---------------------------------------------------------------- MULTI / EXEC

#[test]
fn exec_and_discard_without_multi() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("EXEC", b"-ERR EXEC without MULTI\r\n");
    c.expect_call("DISCARD", b"-ERR DISCARD without MULTI\r\n");
    c.expect_call(
        "MULTI x",
        b"-ERR wrong number of arguments for 'multi' command\r\n",
    );
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn multi_queues_and_exec_runs_in_order() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut other = srv.raw();
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("SET a 1", b"+QUEUED\r\n");
    c.expect_call("INCR a", b"+QUEUED\r\n");
    c.expect_call("GET a", b"+QUEUED\r\n");
    c.expect_call("GET missing", b"+QUEUED\r\n");
    c.expect_call("PING", b"+QUEUED\r\n");
    // Nothing has run yet.
    other.expect_call("EXISTS a", b":0\r\n");
    c.expect_call("EXEC", b"*5\r\n+OK\r\n:2\r\n$1\r\n2\r\n$-1\r\n+PONG\r\n");
    other.expect_call("GET a", b"$1\r\n2\r\n");
    // An empty transaction is an empty array.
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("EXEC", b"*0\r\n");
    // After EXEC the connection is out of MULTI again.
    c.expect_call("GET a", b"$1\r\n2\r\n");
    c.expect_call("EXEC", b"-ERR EXEC without MULTI\r\n");
}

#[test]
fn exec_in_resp3() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    resp3(&mut c);
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("GET nope", b"+QUEUED\r\n");
    c.expect_call("SET a 1", b"+QUEUED\r\n");
    c.expect_call("INCR a", b"+QUEUED\r\n");
    c.expect_call("EXEC", b"*3\r\n_\r\n+OK\r\n:2\r\n");
}

#[test]
fn nested_multi_is_rejected_but_keeps_the_transaction() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("SET a 1", b"+QUEUED\r\n");
    c.expect_call("MULTI", b"-ERR MULTI calls can not be nested\r\n");
    c.expect_call("GET a", b"+QUEUED\r\n");
    c.expect_call("EXEC", b"*2\r\n+OK\r\n$1\r\n1\r\n");
}

#[test]
fn queue_time_errors_abort_exec() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    // An unknown command.
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("SET a 1", b"+QUEUED\r\n");
    c.expect_call(
        "FOO bar",
        b"-ERR unknown command 'FOO', with args beginning with: 'bar' \r\n",
    );
    c.expect_call("SET b 1", b"+QUEUED\r\n");
    c.expect_call("EXEC", EXECABORT);
    c.expect_call("EXISTS a b", b":0\r\n");
    // An arity error.
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("SET a 1", b"+QUEUED\r\n");
    c.expect_call(
        "GET",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    c.expect_call("EXEC", EXECABORT);
    c.expect_call("EXISTS a", b":0\r\n");
    // DISCARD after a queue error is a plain +OK.
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call(
        "SET a",
        b"-ERR wrong number of arguments for 'set' command\r\n",
    );
    c.expect_call("DISCARD", b"+OK\r\n");
    // The abort does not stick to the next transaction.
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("SET a 1", b"+QUEUED\r\n");
    c.expect_call("EXEC", b"*1\r\n+OK\r\n");
}

#[test]
fn runtime_errors_do_not_abort_the_rest() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("SET a x", b"+QUEUED\r\n");
    c.expect_call("INCR a", b"+QUEUED\r\n");
    // Option errors are found only when the command runs.
    c.expect_call("SET b 1 EX 0", b"+QUEUED\r\n");
    c.expect_call("RENAME nope c", b"+QUEUED\r\n");
    c.expect_call("APPEND a y", b"+QUEUED\r\n");
    c.expect_call("GET a", b"+QUEUED\r\n");
    c.expect_call(
        "EXEC",
        b"*6\r\n+OK\r\n-ERR value is not an integer or out of range\r\n-ERR invalid expire time in 'set' command\r\n-ERR no such key\r\n:2\r\n$2\r\nxy\r\n",
    );
}

#[test]
fn discard_drops_the_queue() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("SET a 1", b"+QUEUED\r\n");
    c.expect_call("DISCARD", b"+OK\r\n");
    c.expect_call("EXISTS a", b":0\r\n");
    c.expect_call("EXEC", b"-ERR EXEC without MULTI\r\n");
    c.expect_call("DISCARD", b"-ERR DISCARD without MULTI\r\n");
}

// ---------------------------------------------------------------- WATCH

#[test]
fn watch_inside_multi_is_an_error() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("WATCH a", b"-ERR WATCH inside MULTI is not allowed\r\n");
    // Not a queue error: the transaction still runs.
    c.expect_call("SET a 1", b"+QUEUED\r\n");
    c.expect_call("EXEC", b"*1\r\n+OK\r\n");
    c.expect_call(
        "WATCH",
        b"-ERR wrong number of arguments for 'watch' command\r\n",
    );
    c.expect_call("WATCH a b c", b"+OK\r\n");
    c.expect_call("UNWATCH", b"+OK\r\n");
    c.expect_call("UNWATCH", b"+OK\r\n");
}

#[test]
fn watch_aborts_after_another_clients_write() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut other = srv.raw();
    c.expect_call("SET k 1", b"+OK\r\n");
    c.expect_call("WATCH k", b"+OK\r\n");
    other.expect_call("SET k 2", b"+OK\r\n");
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("SET k mine", b"+QUEUED\r\n");
    c.expect_call("EXEC", b"*-1\r\n");
    // The aborted transaction wrote nothing.
    c.expect_call("GET k", b"$1\r\n2\r\n");
    // Writing the same value still counts as a write.
    c.expect_call("WATCH k", b"+OK\r\n");
    other.expect_call("SET k 2", b"+OK\r\n");
    assert_eq!(show(&exec_get(&mut c, "k")), "*-1\r\n");
    // Creating a watched key that did not exist counts too.
    c.expect_call("WATCH fresh", b"+OK\r\n");
    other.expect_call("SET fresh v", b"+OK\r\n");
    assert_eq!(show(&exec_get(&mut c, "fresh")), "*-1\r\n");
    // Any write: INCR, DEL, EXPIRE, APPEND, RENAME onto it.
    for write in ["INCR k", "DEL k", "SET k 5", "EXPIRE k 100", "APPEND k x"] {
        c.expect_call("SET k 1", b"+OK\r\n");
        c.expect_call("WATCH k", b"+OK\r\n");
        other.call(write);
        assert_eq!(show(&exec_get(&mut c, "k")), "*-1\r\n", "after {write}");
    }
    c.expect_call("SET src v", b"+OK\r\n");
    c.expect_call("WATCH k", b"+OK\r\n");
    other.expect_call("RENAME src k", b"+OK\r\n");
    assert_eq!(show(&exec_get(&mut c, "k")), "*-1\r\n");
    // The connection's own write before MULTI invalidates as well.
    c.expect_call("WATCH k", b"+OK\r\n");
    c.expect_call("SET k own", b"+OK\r\n");
    assert_eq!(show(&exec_get(&mut c, "k")), "*-1\r\n");
}

#[test]
fn watch_abort_is_null_in_resp3() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut other = srv.raw();
    resp3(&mut c);
    c.expect_call("WATCH k", b"+OK\r\n");
    other.expect_call("SET k 1", b"+OK\r\n");
    assert_eq!(show(&exec_get(&mut c, "k")), "_\r\n");
    // EXEC cleared the watch: the next transaction runs.
    assert_eq!(show(&exec_get(&mut c, "k")), "*1\r\n$1\r\n1\r\n");
}

#[test]
fn watch_ignores_no_op_writes_other_keys_and_other_databases() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut other = srv.raw();
    c.expect_call("SET k 1", b"+OK\r\n");
    c.expect_call("WATCH k", b"+OK\r\n");
    other.expect_call("SET j 2", b"+OK\r\n");
    other.expect_call("GET k", b"$1\r\n1\r\n");
    // Commands that change nothing do not touch the key.
    other.expect_call("SET k x NX", b"$-1\r\n");
    other.expect_call("DEL nope", b":0\r\n");
    other.expect_call("SELECT 3", b"+OK\r\n");
    other.expect_call("SET k other-db", b"+OK\r\n");
    assert_eq!(show(&exec_get(&mut c, "k")), "*1\r\n$1\r\n1\r\n");
    // A watched key that stays missing is fine too.
    c.expect_call("WATCH absent", b"+OK\r\n");
    other.expect_call("DEL absent", b":0\r\n");
    assert_eq!(show(&exec_get(&mut c, "absent")), "*1\r\n$-1\r\n");
}

#[test]
fn unwatch_and_discard_clear_watches() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut other = srv.raw();
    c.expect_call("WATCH k", b"+OK\r\n");
    other.expect_call("SET k 1", b"+OK\r\n");
    c.expect_call("UNWATCH", b"+OK\r\n");
    assert_eq!(show(&exec_get(&mut c, "k")), "*1\r\n$1\r\n1\r\n");

    c.expect_call("WATCH k", b"+OK\r\n");
    other.expect_call("SET k 2", b"+OK\r\n");
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("DISCARD", b"+OK\r\n");
    assert_eq!(show(&exec_get(&mut c, "k")), "*1\r\n$1\r\n2\r\n");

    // Several WATCH calls add up; a write to any watched key aborts.
    c.expect_call("WATCH a", b"+OK\r\n");
    c.expect_call("WATCH b c", b"+OK\r\n");
    other.expect_call("SET c 1", b"+OK\r\n");
    assert_eq!(show(&exec_get(&mut c, "a")), "*-1\r\n");
}

#[test]
fn watch_aborts_when_the_watched_key_expires() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET k v PX 200", b"+OK\r\n");
    c.expect_call("WATCH k", b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(show(&exec_get(&mut c, "k")), "*-1\r\n");

    // A key already expired when WATCH ran counts as missing, so its
    // removal afterwards changes nothing.
    c.expect_call("SET gone v PX 50", b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(150));
    c.expect_call("WATCH gone", b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(show(&exec_get(&mut c, "gone")), "*1\r\n$-1\r\n");
}

#[test]
fn watch_aborts_on_flushdb_flushall_and_swapdb() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut other = srv.raw();
    for flush in ["FLUSHDB", "FLUSHALL", "SWAPDB 0 1"] {
        c.expect_call("FLUSHALL", b"+OK\r\n");
        c.expect_call("SET k 1", b"+OK\r\n");
        c.expect_call("WATCH k", b"+OK\r\n");
        other.expect_call(flush, b"+OK\r\n");
        assert_eq!(show(&exec_get(&mut c, "k")), "*-1\r\n", "after {flush}");
    }
    // SWAPDB bringing the watched key into existence counts too.
    c.expect_call("FLUSHALL", b"+OK\r\n");
    c.expect_call("SELECT 1", b"+OK\r\n");
    c.expect_call("SET k one", b"+OK\r\n");
    c.expect_call("SELECT 0", b"+OK\r\n");
    c.expect_call("WATCH k", b"+OK\r\n");
    other.expect_call("SWAPDB 0 1", b"+OK\r\n");
    assert_eq!(show(&exec_get(&mut c, "k")), "*-1\r\n");
    // Emptying a database that never held the watched key changes nothing.
    c.expect_call("FLUSHALL", b"+OK\r\n");
    c.expect_call("WATCH k", b"+OK\r\n");
    other.expect_call("FLUSHDB", b"+OK\r\n");
    other.expect_call("SWAPDB 0 1", b"+OK\r\n");
    assert_eq!(show(&exec_get(&mut c, "k")), "*1\r\n$-1\r\n");
}

// ---------------------------------------------------------------- PUBLISH

#[test]
fn publish_inside_multi() {
    let srv = TestServer::start();
    let mut sub = srv.raw();
    let mut c = srv.raw();
    sub.expect_call(
        "SUBSCRIBE ch",
        b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    );
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("PUBLISH ch one", b"+QUEUED\r\n");
    c.expect_call("PUBLISH nobody x", b"+QUEUED\r\n");
    c.expect_call("PUBLISH ch two", b"+QUEUED\r\n");
    // Nothing is delivered before EXEC.
    sub.expect_nothing(Duration::from_millis(100));
    c.expect_call("EXEC", b"*3\r\n:1\r\n:0\r\n:1\r\n");
    sub.expect(&message(false, b"ch", b"one"));
    sub.expect(&message(false, b"ch", b"two"));
    sub.expect_nothing(Duration::from_millis(100));
    // A discarded PUBLISH is never sent.
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("PUBLISH ch three", b"+QUEUED\r\n");
    c.expect_call("DISCARD", b"+OK\r\n");
    sub.expect_nothing(Duration::from_millis(100));
}

#[test]
fn resp3_publish_to_own_channel_inside_multi() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    resp3(&mut c);
    c.expect_call(
        "SUBSCRIBE ch",
        b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    );
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("PUBLISH ch hi", b"+QUEUED\r\n");
    c.expect_call("SET k v", b"+QUEUED\r\n");
    c.expect_call("PUBLISH ch yo", b"+QUEUED\r\n");
    c.send(&common::cmds("EXEC"));
    let hi = message(true, b"ch", b"hi");
    let yo = message(true, b"ch", b"yo");
    let mut want = Vec::new();
    if common::is_reference() {
        // Redis 7.0 writes each push at once, inside the EXEC array, just
        // before the element of the PUBLISH that caused it.
        want.extend_from_slice(b"*3\r\n");
        want.extend(&hi);
        want.extend_from_slice(b":1\r\n+OK\r\n");
        want.extend(&yo);
        want.extend_from_slice(b":1\r\n");
    } else {
        // Redis 7.2 (which pubsubd follows) holds the pushes until the EXEC
        // reply is complete.
        want.extend_from_slice(b"*3\r\n:1\r\n+OK\r\n:1\r\n");
        want.extend(&hi);
        want.extend(&yo);
    }
    expect_stream(&mut c, &want);
    c.expect_nothing(Duration::from_millis(100));
    c.expect_call("GET k", b"$1\r\nv\r\n");
}

#[test]
fn client_list_shows_the_open_transaction() {
    let srv = TestServer::start();
    let mut tx = srv.raw();
    let mut admin = srv.raw();
    tx.expect_call("CLIENT SETNAME txer", b"+OK\r\n");
    tx.expect_call("MULTI", b"+OK\r\n");
    tx.expect_call("SET a 1", b"+QUEUED\r\n");
    tx.expect_call("GET a", b"+QUEUED\r\n");
    let list = admin.call("CLIENT LIST");
    let text = show(&list);
    let line = text
        .lines()
        .find(|l| l.contains(" name=txer "))
        .expect("the transaction's client is listed");
    let field = |name: &str| {
        line.split(' ')
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(field("flags"), "x", "{line}");
    assert_eq!(field("multi"), "2", "{line}");
    assert_eq!(field("cmd"), "get", "{line}");
    tx.expect_call("DISCARD", b"+OK\r\n");
}

#[test]
fn the_transaction_queue_is_bounded_by_the_query_buffer_limit() {
    // pubsubd bounds what MULTI may queue by client-query-buffer-limit
    // (Redis counts it toward client memory instead).
    if common::is_reference() {
        return;
    }
    let srv = TestServer::start_with(&["--client-query-buffer-limit", "1mb"]);
    let mut c = srv.raw();
    c.expect_call("MULTI", b"+OK\r\n");
    let big = vec![b'x'; 400 * 1024];
    expect_args(&mut c, &[b"SET", b"a", &big], b"+QUEUED\r\n");
    expect_args(&mut c, &[b"SET", b"b", &big], b"+QUEUED\r\n");
    expect_args(
        &mut c,
        &[b"SET", b"c", &big],
        b"-ERR transaction queue exceeds client-query-buffer-limit; EXEC will abort\r\n",
    );
    c.expect_call("EXEC", EXECABORT);
    c.expect_call("EXISTS a b c", b":0\r\n");
    // The connection lives on and a new transaction starts from zero.
    c.expect_call("MULTI", b"+OK\r\n");
    expect_args(&mut c, &[b"SET", b"a", &big], b"+QUEUED\r\n");
    c.expect_call("EXEC", b"*1\r\n+OK\r\n");
}

// ---------------------------------------------------------------- busy scripts

/// Redis's reply while a script is busy.
const BUSY: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
/// EXEC's reply while a script is busy: the transaction ends, giving why.
const EXEC_BUSY: &[u8] = b"-EXECABORT Transaction discarded because of: BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

/// Starts a read-only script that never ends on `runner` and waits (bounded)
/// until `probe` gets `-BUSY`.
fn start_busy_script(runner: &mut Raw, probe: &mut Raw) {
    runner.send(&common::cmd(&[
        b"EVAL",
        b"local t = redis.call('time') while true do end",
        b"0",
    ]));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while probe.call("PING") != BUSY {
        assert!(std::time::Instant::now() < deadline, "no busy script");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_busy_script_aborts_transactions() {
    let srv = TestServer::start_with(&["--busy-reply-threshold", "100"]);
    let mut runner = srv.raw();
    let mut flagged = srv.raw();
    let mut ended = srv.raw();
    let mut other = srv.raw();
    flagged.expect_call("MULTI", b"+OK\r\n");
    flagged.expect_call("SET k 1", b"+QUEUED\r\n");
    ended.expect_call("MULTI", b"+OK\r\n");
    ended.expect_call("SET k 1", b"+QUEUED\r\n");
    start_busy_script(&mut runner, &mut other);
    // A command refused with BUSY inside MULTI dooms the transaction...
    flagged.expect_call("SET k 2", BUSY);
    // ...and EXEC while the script is busy ends it at once, as does EXEC
    // after a MULTI opened while busy, or with no MULTI at all.
    ended.expect_call("EXEC", EXEC_BUSY);
    other.expect_call("MULTI", b"+OK\r\n");
    other.expect_call("GET k", BUSY);
    other.expect_call("EXEC", EXEC_BUSY);
    other.expect_call("EXEC", EXEC_BUSY);
    other.expect_call("SCRIPT KILL", b"+OK\r\n");
    let killed = runner.reply();
    assert!(
        killed.starts_with(b"-ERR Script killed by user with SCRIPT KILL..."),
        "{}",
        show(&killed)
    );
    flagged.expect_call("EXEC", EXECABORT);
    ended.expect_call("EXEC", b"-ERR EXEC without MULTI\r\n");
    other.expect_call("EXEC", b"-ERR EXEC without MULTI\r\n");
    other.expect_call("EXISTS k", b":0\r\n");
}

// ------------------------------------------------- subscribe commands in MULTI

/// A subscribe confirmation `[kind, name, count]` (`name` None: null).
fn confirm_frame(resp3: bool, kind: &str, name: Option<&str>, count: i64) -> Vec<u8> {
    let mut out = if resp3 {
        b">3\r\n".to_vec()
    } else {
        b"*3\r\n".to_vec()
    };
    out.extend(common::bulk(kind.as_bytes()));
    match name {
        Some(n) => out.extend(common::bulk(n.as_bytes())),
        None if resp3 => out.extend(b"_\r\n"),
        None => out.extend(b"$-1\r\n"),
    }
    out.extend(format!(":{count}\r\n").into_bytes());
    out
}

/// As in Redis 7.0, the subscribe family is queued inside MULTI and EXEC
/// writes each command's confirmations (one per channel) in the place of its
/// one counted reply; SSUBSCRIBE is queued but refused by EXEC. A message
/// published meanwhile follows the EXEC reply.
#[test]
fn subscribe_commands_inside_multi() {
    let srv = TestServer::start();
    for resp3_mode in [false, true] {
        let mut c = srv.raw();
        if resp3_mode {
            resp3(&mut c);
        }
        c.expect_call("MULTI", b"+OK\r\n");
        for cmd in [
            "SUBSCRIBE a b",
            "PSUBSCRIBE p*",
            "SSUBSCRIBE s",
            "PING",
            "UNSUBSCRIBE a",
            "PUNSUBSCRIBE",
            "SUNSUBSCRIBE",
        ] {
            c.expect_call(cmd, b"+QUEUED\r\n");
        }
        c.send(b"EXEC\r\n");
        let mut want = b"*7\r\n".to_vec();
        want.extend(confirm_frame(resp3_mode, "subscribe", Some("a"), 1));
        want.extend(confirm_frame(resp3_mode, "subscribe", Some("b"), 2));
        want.extend(confirm_frame(resp3_mode, "psubscribe", Some("p*"), 3));
        want.extend(b"-ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client\r\n");
        if resp3_mode {
            want.extend(b"+PONG\r\n");
        } else {
            want.extend(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        }
        want.extend(confirm_frame(resp3_mode, "unsubscribe", Some("a"), 2));
        want.extend(confirm_frame(resp3_mode, "punsubscribe", Some("p*"), 1));
        want.extend(confirm_frame(resp3_mode, "sunsubscribe", None, 0));
        expect_stream(&mut c, &want);
        // The subscription is live after EXEC.
        let mut p = srv.raw();
        p.expect_call("PUBLISH b hi", b":1\r\n");
        c.expect(&message(resp3_mode, b"b", b"hi"));
    }
}

/// A command queued before a SUBSCRIBE in the same transaction was checked
/// when it was queued: EXEC runs it although the client is subscribed by
/// then (RESP2), as Redis does.
#[test]
fn commands_queued_with_subscribe_still_run() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("SUBSCRIBE a", b"+QUEUED\r\n");
    c.expect_call("GET k", b"+QUEUED\r\n");
    c.send(b"EXEC\r\n");
    let mut want = b"*2\r\n".to_vec();
    want.extend(confirm_frame(false, "subscribe", Some("a"), 1));
    want.extend(b"$1\r\nv\r\n");
    expect_stream(&mut c, &want);
    // Outside a transaction the subscribed context applies again.
    c.expect_call(
        "GET k",
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
}

#[test]
fn a_refused_exec_is_an_execabort() {
    // Redis refuses EXEC before running it with EXECABORT and the reason,
    // ending the transaction: wrong arity, the RESP2 subscribed context, OOM.
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(b"EXEC x\r\nMULTI\r\nEXEC x\r\nEXEC\r\n");
    expect_stream(
        &mut c,
        b"-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n\
          +OK\r\n\
          -EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n\
          -ERR EXEC without MULTI\r\n",
    );
    c.send(b"SUBSCRIBE a\r\nEXEC\r\nPING\r\n");
    expect_stream(
        &mut c,
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n\
          -EXECABORT Transaction discarded because of: Can't execute 'exec': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n\
          *2\r\n$4\r\npong\r\n$0\r\n\r\n",
    );
    let mut c = srv.raw();
    let mut admin = srv.raw();
    c.send(b"MULTI\r\nSET k v\r\nGET k\r\n");
    expect_stream(&mut c, b"+OK\r\n+QUEUED\r\n+QUEUED\r\n");
    admin.expect_call("CONFIG SET maxmemory 1", b"+OK\r\n");
    c.send(b"EXEC\r\n");
    expect_stream(
        &mut c,
        b"-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n",
    );
    admin.expect_call("CONFIG SET maxmemory 0", b"+OK\r\n");
    c.expect_call("EXEC", b"-ERR EXEC without MULTI\r\n");
    c.expect_call("EXISTS k", b":0\r\n");
}

/// Sends `input` on a fresh connection, half-closes it and returns every
/// byte the server writes before it closes (the replies here may announce
/// more array members than follow, so they are not read frame by frame).
fn replies_until_close(srv: &TestServer, input: &[u8]) -> String {
    let mut c = srv.raw();
    c.send(input);
    c.stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    show(&c.expect_closed(Duration::from_secs(5)))
}

#[test]
fn client_reply_applies_to_each_reply_of_exec() {
    // The array header obeys CLIENT REPLY as EXEC starts, each reply as its
    // command ends; subscribe confirmations (pushes) always go out.
    let srv = TestServer::start();
    assert_eq!(
        replies_until_close(
            &srv,
            b"CLIENT REPLY OFF\r\nMULTI\r\nSUBSCRIBE a b\r\nPING\r\nEXEC\r\nPING\r\n"
        ),
        show(
            b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
        )
    );
    assert_eq!(
        replies_until_close(
            &srv,
            b"MULTI\r\nCLIENT REPLY OFF\r\nSUBSCRIBE a\r\nEXEC\r\nCLIENT REPLY ON\r\nPING\r\n"
        ),
        show(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n")
    );
    assert_eq!(
        replies_until_close(
            &srv,
            b"MULTI\r\nPING\r\nCLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY ON\r\nPING\r\nEXEC\r\nPING\r\n"
        ),
        show(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*5\r\n+PONG\r\n+OK\r\n+PONG\r\n+PONG\r\n")
    );
    // SKIP inside EXEC skips the command after EXEC; it has no reply of its
    // own, so the array holds one reply fewer than it announces.
    assert_eq!(
        replies_until_close(
            &srv,
            b"MULTI\r\nCLIENT REPLY SKIP\r\nPING\r\nEXEC\r\nPING\r\n"
        ),
        show(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+PONG\r\n")
    );
}

/// A key already expired (but not yet removed) when WATCHed changes nothing
/// when it is removed, lazily or by FLUSHDB, and SWAPDB bringing in an
/// expired key for a missing one changes nothing either: EXEC runs, as in
/// Redis 7.0. A live watched key that is deleted still fails EXEC.
#[test]
fn removing_a_stale_watched_key_does_not_fail_exec() {
    let srv = TestServer::start_with(&["--enable-debug-command", "yes"]);
    let mut c = srv.raw();
    c.expect_call("DEBUG SET-ACTIVE-EXPIRE 0", b"+OK\r\n");
    let stale = |c: &mut common::Raw| {
        c.expect_call("SET x foo PX 1", b"+OK\r\n");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let exec_runs = |c: &mut common::Raw| {
        c.expect_call("MULTI", b"+OK\r\n");
        c.expect_call("PING", b"+QUEUED\r\n");
        c.expect_call("EXEC", b"*1\r\n+PONG\r\n");
    };
    stale(&mut c);
    c.expect_call("WATCH x", b"+OK\r\n");
    c.expect_call("EXISTS x", b":0\r\n");
    exec_runs(&mut c);
    stale(&mut c);
    c.expect_call("WATCH x", b"+OK\r\n");
    c.expect_call("FLUSHDB", b"+OK\r\n");
    exec_runs(&mut c);
    c.expect_call("SELECT 1", b"+OK\r\n");
    stale(&mut c);
    c.expect_call("SELECT 2", b"+OK\r\n");
    c.expect_call("WATCH x", b"+OK\r\n");
    c.expect_call("SWAPDB 1 2", b"+OK\r\n");
    exec_runs(&mut c);
    c.expect_call("FLUSHALL", b"+OK\r\n");
    c.expect_call("SET y live", b"+OK\r\n");
    c.expect_call("WATCH y", b"+OK\r\n");
    c.expect_call("DEL y", b":1\r\n");
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("PING", b"+QUEUED\r\n");
    c.expect_call("EXEC", b"*-1\r\n");
}

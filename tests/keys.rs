//! Key commands across databases and expiry times: RENAMENX, COPY, MOVE,
//! TOUCH, EXPIRETIME, PEXPIRETIME, and DEBUG SET-ACTIVE-EXPIRE behind
//! `enable-debug-command`.
//!
//! Every expected byte string here was first checked against redis-server
//! 7.0.15 (`PUBSUBD_TEST_BIN=$(which redis-server)`), which is the reference.

mod common;

use common::{TestServer, expect_int_between, info_field, message, show};
use std::time::Duration;

const NOT_INT: &[u8] = b"-ERR value is not an integer or out of range\r\n";
const INT_RANGE: &[u8] =
    b"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n";
const DB_RANGE: &[u8] = b"-ERR DB index is out of range\r\n";
const SAME: &[u8] = b"-ERR source and destination objects are the same\r\n";
const SYNTAX: &[u8] = b"-ERR syntax error\r\n";
const NO_KEY: &[u8] = b"-ERR no such key\r\n";
const DEBUG_REFUSED: &[u8] = b"-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n";

#[test]
fn renamenx_replies() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("RENAMENX nokey b", NO_KEY);
    c.expect_call("RENAMENX nokey nokey", NO_KEY);
    c.expect_call("SET a 1", b"+OK\r\n");
    c.expect_call("SET b 2", b"+OK\r\n");
    c.expect_call("RENAMENX a a", b":0\r\n");
    c.expect_call("RENAMENX a b", b":0\r\n");
    c.expect_call("MGET a b", b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    c.expect_call("PEXPIRE a 100000", b":1\r\n");
    c.expect_call("RENAMENX a c", b":1\r\n");
    c.expect_call("EXISTS a", b":0\r\n");
    c.expect_call("GET c", b"$1\r\n1\r\n");
    expect_int_between(&mut c, "PTTL c", 90_000, 100_000);
    c.expect_call(
        "RENAMENX",
        b"-ERR wrong number of arguments for 'renamenx' command\r\n",
    );
}

#[test]
fn copy_within_and_across_databases() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET src v1", b"+OK\r\n");
    c.expect_call("COPY src dst", b":1\r\n");
    c.expect_call("GET dst", b"$2\r\nv1\r\n");
    c.expect_call("TTL dst", b":-1\r\n");
    // An existing destination is kept unless REPLACE is given.
    c.expect_call("SET src v2 EX 100", b"+OK\r\n");
    c.expect_call("COPY src dst", b":0\r\n");
    c.expect_call("GET dst", b"$2\r\nv1\r\n");
    c.expect_call("COPY src dst REPLACE", b":1\r\n");
    c.expect_call("GET dst", b"$2\r\nv2\r\n");
    expect_int_between(&mut c, "TTL dst", 95, 100);
    // The copy is independent of its source.
    c.expect_call("SET dst changed", b"+OK\r\n");
    c.expect_call("GET src", b"$2\r\nv2\r\n");
    // Another database, the same name included; the last DB given wins.
    c.expect_call("COPY src src DB 3", b":1\r\n");
    c.expect_call("COPY src x DB 1 replace DB 2", b":1\r\n");
    c.expect_call("COPY nokey y DB 2", b":0\r\n");
    c.expect_call("SELECT 3", b"+OK\r\n");
    c.expect_call("GET src", b"$2\r\nv2\r\n");
    expect_int_between(&mut c, "TTL src", 95, 100);
    c.expect_call("SELECT 2", b"+OK\r\n");
    c.expect_call("KEYS *", b"*1\r\n$1\r\nx\r\n");
    c.expect_call("SELECT 1", b"+OK\r\n");
    c.expect_call("DBSIZE", b":0\r\n");
}

#[test]
fn copy_errors() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET a 1", b"+OK\r\n");
    // The same key in the same database, even when missing.
    c.expect_call("COPY a a", SAME);
    c.expect_call("COPY a a DB 0", SAME);
    c.expect_call("COPY nokey nokey", SAME);
    c.expect_call("COPY a b DB 16", DB_RANGE);
    c.expect_call("COPY a b DB -1", DB_RANGE);
    c.expect_call("COPY a b DB x", NOT_INT);
    c.expect_call("COPY a b DB 2147483648", INT_RANGE);
    c.expect_call("COPY a b DB 99999999999999999999", NOT_INT);
    // Options are checked in order: a bad DB before a later bad word.
    c.expect_call("COPY a b DB 99 foo", DB_RANGE);
    c.expect_call("COPY a b foo DB 99", SYNTAX);
    c.expect_call("COPY a b DB", SYNTAX);
    c.expect_call(
        "COPY a",
        b"-ERR wrong number of arguments for 'copy' command\r\n",
    );
    c.expect_call("EXISTS b", b":0\r\n");
}

#[test]
fn move_replies() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("MOVE k 0", SAME);
    c.expect_call("MOVE nokey 0", SAME);
    c.expect_call("MOVE k 16", DB_RANGE);
    c.expect_call("MOVE k -1", DB_RANGE);
    c.expect_call("MOVE k x", NOT_INT);
    c.expect_call("MOVE k 4294967296", INT_RANGE);
    c.expect_call("MOVE nokey 1", b":0\r\n");
    c.expect_call("PEXPIRE k 100000", b":1\r\n");
    c.expect_call("MOVE k 1", b":1\r\n");
    c.expect_call("DBSIZE", b":0\r\n");
    c.expect_call("TTL k", b":-2\r\n");
    c.expect_call("SELECT 1", b"+OK\r\n");
    c.expect_call("GET k", b"$1\r\nv\r\n");
    expect_int_between(&mut c, "PTTL k", 90_000, 100_000);
    // A key of that name in the target database stops the move; neither
    // changes.
    c.expect_call("SET k here", b"+OK\r\n");
    c.expect_call("SELECT 0", b"+OK\r\n");
    c.expect_call("SET k there", b"+OK\r\n");
    c.expect_call("SELECT 1", b"+OK\r\n");
    c.expect_call("MOVE k 0", b":0\r\n");
    c.expect_call("GET k", b"$4\r\nhere\r\n");
    c.expect_call("TTL k", b":-1\r\n");
    c.expect_call("SELECT 0", b"+OK\r\n");
    c.expect_call("GET k", b"$5\r\nthere\r\n");
}

#[test]
fn database_count_bounds_copy_and_move() {
    let srv = TestServer::start_with(&["--databases", "2"]);
    let mut c = srv.raw();
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("COPY k k DB 2", DB_RANGE);
    c.expect_call("MOVE k 2", DB_RANGE);
    c.expect_call("COPY k k DB 1", b":1\r\n");
    c.expect_call("DEL k", b":1\r\n");
    c.expect_call("SELECT 1", b"+OK\r\n");
    c.expect_call("MOVE k 0", b":1\r\n");
    c.expect_call("SELECT 0", b"+OK\r\n");
    c.expect_call("GET k", b"$1\r\nv\r\n");
}

#[test]
fn copy_move_and_renamenx_notify_and_touch_watchers() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut sub = srv.raw();
    c.expect_call("CONFIG SET notify-keyspace-events Eg", b"+OK\r\n");
    let events = [
        "__keyevent@0__:copy_to",
        "__keyevent@1__:move_to",
        "__keyevent@0__:rename_to",
    ];
    sub.send(&common::cmds(&format!("SUBSCRIBE {}", events.join(" "))));
    for (i, ev) in events.iter().enumerate() {
        sub.expect(
            format!(
                "*3\r\n$9\r\nsubscribe\r\n${}\r\n{ev}\r\n:{}\r\n",
                ev.len(),
                i + 1
            )
            .as_bytes(),
        );
    }
    let mut w = srv.raw();
    // (setup, key watched, command, event, key the event names)
    for (setup, watched, change, event, key) in [
        ("SET a 1", "b", "COPY a b", "__keyevent@0__:copy_to", "b"),
        ("SET m 1", "m", "MOVE m 1", "__keyevent@1__:move_to", "m"),
        (
            "SET r 1",
            "s",
            "RENAMENX r s",
            "__keyevent@0__:rename_to",
            "s",
        ),
    ] {
        c.expect_call(setup, b"+OK\r\n");
        w.expect_call(&format!("WATCH {watched}"), b"+OK\r\n");
        w.expect_call("MULTI", b"+OK\r\n");
        w.expect_call("PING", b"+QUEUED\r\n");
        c.expect_call(change, b":1\r\n");
        // The changed key was watched, so the transaction is aborted.
        w.expect_call("EXEC", b"*-1\r\n");
        sub.expect(&message(false, event.as_bytes(), key.as_bytes()));
    }
}

#[test]
fn touch_counts_existing_keys() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET a 1", b"+OK\r\n");
    c.expect_call("SET gone 1 PX 1", b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(10));
    c.expect_call("TOUCH a nokey a gone", b":2\r\n");
    c.expect_call(
        "TOUCH",
        b"-ERR wrong number of arguments for 'touch' command\r\n",
    );
    let info = c.call("INFO stats");
    assert_eq!(info_field(&info, "keyspace_hits").as_deref(), Some("2"));
    assert_eq!(info_field(&info, "keyspace_misses").as_deref(), Some("2"));
}

#[test]
fn expiretime_and_pexpiretime() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("EXPIRETIME nokey", b":-2\r\n");
    c.expect_call("PEXPIRETIME nokey", b":-2\r\n");
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("EXPIRETIME k", b":-1\r\n");
    c.expect_call("PEXPIRETIME k", b":-1\r\n");
    // Seconds are rounded to the nearest.
    c.expect_call("SET k v PXAT 1999999999499", b"+OK\r\n");
    c.expect_call("EXPIRETIME k", b":1999999999\r\n");
    c.expect_call("PEXPIRETIME k", b":1999999999499\r\n");
    c.expect_call("PEXPIREAT k 1999999999500", b":1\r\n");
    c.expect_call("EXPIRETIME k", b":2000000000\r\n");
    // Times that overflow are refused and leave the key as it was.
    c.expect_call(
        "EXPIRE k 9223372036854775807",
        b"-ERR invalid expire time in 'expire' command\r\n",
    );
    c.expect_call(
        "EXPIRE k 9223372036854775",
        b"-ERR invalid expire time in 'expire' command\r\n",
    );
    c.expect_call(
        "EXPIRE k -9223372036854775808",
        b"-ERR invalid expire time in 'expire' command\r\n",
    );
    c.expect_call(
        "PEXPIRE k 9223372036854775807",
        b"-ERR invalid expire time in 'pexpire' command\r\n",
    );
    c.expect_call(
        "EXPIREAT k 9223372036854775807",
        b"-ERR invalid expire time in 'expireat' command\r\n",
    );
    c.expect_call("PEXPIRETIME k", b":1999999999500\r\n");
    // The largest absolute time is kept, and still rounds in seconds.
    c.expect_call("PEXPIREAT k 9223372036854775807", b":1\r\n");
    c.expect_call("PEXPIRETIME k", b":9223372036854775807\r\n");
    c.expect_call("EXPIRETIME k", b":9223372036854776\r\n");
    c.expect_call("PERSIST k", b":1\r\n");
    c.expect_call("EXPIRETIME k", b":-1\r\n");
}

#[test]
fn debug_is_refused_unless_enabled() {
    let srv = TestServer::start_with(&["--requirepass", "pw"]);
    let mut c = srv.raw();
    // Refused before authentication is even asked for, as in Redis.
    c.expect_call("DEBUG SET-ACTIVE-EXPIRE 0", DEBUG_REFUSED);
    c.expect_call(
        "DEBUG",
        b"-ERR wrong number of arguments for 'debug' command\r\n",
    );
    c.expect_call("AUTH pw", b"+OK\r\n");
    c.expect_call("DEBUG HELP", DEBUG_REFUSED);
    // Refused when queued, which aborts the transaction.
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("DEBUG SET-ACTIVE-EXPIRE 0", DEBUG_REFUSED);
    c.expect_call(
        "EXEC",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    c.expect_call(
        "CONFIG GET enable-debug-command",
        b"*2\r\n$20\r\nenable-debug-command\r\n$2\r\nno\r\n",
    );
    c.expect_call(
        "CONFIG SET enable-debug-command yes",
        b"-ERR CONFIG SET failed (possibly related to argument 'enable-debug-command') - can't set immutable config\r\n",
    );
    // `local` admits a client connected from 127.0.0.1.
    let local = TestServer::start_with(&["--enable-debug-command", "local"]);
    local
        .raw()
        .expect_call("DEBUG SET-ACTIVE-EXPIRE 1", b"+OK\r\n");
}

#[test]
fn debug_set_active_expire() {
    let srv = TestServer::start_with(&["--enable-debug-command", "yes"]);
    let mut c = srv.raw();
    c.expect_call("DEBUG SET-ACTIVE-EXPIRE 0", b"+OK\r\n");
    c.expect_call("SET k v PX 1", b"+OK\r\n");
    c.expect_call("SET keep v", b"+OK\r\n");
    // Long enough for several sweeps: the expired key is still stored.
    std::thread::sleep(Duration::from_millis(400));
    c.expect_call("DBSIZE", b":2\r\n");
    // A lookup removes it.
    c.expect_call("GET k", b"$-1\r\n");
    c.expect_call("DBSIZE", b":1\r\n");
    // Back on, the sweep removes expired keys nobody reads.
    c.expect_call("SET k v PX 1", b"+OK\r\n");
    c.expect_call("DEBUG SET-ACTIVE-EXPIRE 1", b"+OK\r\n");
    assert!(
        common::wait_until(Duration::from_secs(5), || c.call("DBSIZE") == b":1\r\n"),
        "the expired key was not removed"
    );
    // The flag is read as C's atoi does: anything but a non-zero number is 0.
    c.expect_call("DEBUG SET-ACTIVE-EXPIRE yes", b"+OK\r\n");
    c.expect_call("SET k v PX 1", b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(400));
    c.expect_call("DBSIZE", b":2\r\n");
    c.expect_call("DEBUG SET-ACTIVE-EXPIRE 1", b"+OK\r\n");
    c.expect_call(
        "DEBUG SET-ACTIVE-EXPIRE",
        b"-ERR unknown subcommand or wrong number of arguments for 'SET-ACTIVE-EXPIRE'. Try DEBUG HELP.\r\n",
    );
    c.expect_call(
        "DEBUG SET-ACTIVE-EXPIRE 0 1",
        b"-ERR unknown subcommand or wrong number of arguments for 'SET-ACTIVE-EXPIRE'. Try DEBUG HELP.\r\n",
    );
    c.expect_call(
        "debug nosuch",
        b"-ERR unknown subcommand or wrong number of arguments for 'nosuch'. Try DEBUG HELP.\r\n",
    );
    let reply = c.call_args(&[
        b"EVAL",
        b"return redis.call('debug','set-active-expire','0')",
        b"0",
    ]);
    assert_eq!(
        show(&reply),
        "-ERR This Redis command is not allowed from script script: \
         42a3ddbf5c515d67cd10be5cf2cb483284e4071c, on @user_script:1.\r\n"
    );
}

/// RENAME, COPY and MOVE keep a value's encoding, as Redis keeps (or
/// duplicates) the object: a string grown by APPEND stays `raw`.
#[test]
fn rename_copy_and_move_keep_the_encoding() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET k abc", b"+OK\r\n");
    c.expect_call("APPEND k d", b":4\r\n");
    c.expect_call("OBJECT ENCODING k", b"$3\r\nraw\r\n");
    c.expect_call("RENAME k k2", b"+OK\r\n");
    c.expect_call("OBJECT ENCODING k2", b"$3\r\nraw\r\n");
    c.expect_call("COPY k2 k3", b":1\r\n");
    c.expect_call("OBJECT ENCODING k3", b"$3\r\nraw\r\n");
    c.expect_call("MOVE k3 1", b":1\r\n");
    c.expect_call("SELECT 1", b"+OK\r\n");
    c.expect_call("OBJECT ENCODING k3", b"$3\r\nraw\r\n");
}

//! The string keyspace: GET/SET and friends, counters, expiry (lazy and
//! active), key-space commands (DEL, EXISTS, KEYS, SCAN, RENAME, ...), the
//! sixteen databases (SELECT, SWAPDB, FLUSHDB/FLUSHALL), INFO keyspace and
//! the maxmemory write guard.
//!
//! Every expected byte string here was first checked against redis-server
//! 7.0.15 (`PUBSUBD_TEST_BIN=$(which redis-server)`), which is the reference.

mod common;

use common::{bulk, expect_args, show};

use common::{Raw, TestServer, expect_int_between, info_field, int_reply};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The error for a value that is not a 64-bit integer.
const NOT_INT: &[u8] = b"-ERR value is not an integer or out of range\r\n";
/// The error for INCR/DECR family results outside i64.
const OVERFLOW: &[u8] = b"-ERR increment or decrement would overflow\r\n";
/// The generic option-parsing error.
const SYNTAX: &[u8] = b"-ERR syntax error\r\n";

/// A RESP2 array of bulk strings.
fn bulks(items: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        out.extend(bulk(i));
    }
    out
}

/// A parsed RESP value (just what these tests need).
#[derive(Debug, PartialEq)]
enum Val {
    Bulk(Vec<u8>),
    Nil,
    Int(i64),
    Arr(Vec<Val>),
    Other(Vec<u8>),
}

/// Parses one RESP value at the start of `b`; returns it and its length.
fn parse(b: &[u8]) -> (Val, usize) {
    let eol = b.windows(2).position(|w| w == b"\r\n").expect("line end");
    let head = std::str::from_utf8(&b[1..eol]).expect("ascii header");
    let after = eol + 2;
    match b[0] {
        b'$' => {
            let n: i64 = head.parse().expect("bulk length");
            if n < 0 {
                return (Val::Nil, after);
            }
            let n = n as usize;
            (Val::Bulk(b[after..after + n].to_vec()), after + n + 2)
        }
        b'_' => (Val::Nil, after),
        b':' => (Val::Int(head.parse().expect("int")), after),
        b'*' => {
            let n: i64 = head.parse().expect("array length");
            let mut pos = after;
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                let (v, len) = parse(&b[pos..]);
                items.push(v);
                pos += len;
            }
            (Val::Arr(items), pos)
        }
        _ => (Val::Other(b[..after].to_vec()), after),
    }
}

/// The members of an array-of-bulks reply, sorted (for order-free sets).
fn sorted_bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    let (v, len) = parse(reply);
    assert_eq!(len, reply.len(), "trailing bytes in {:?}", show(reply));
    let Val::Arr(items) = v else {
        panic!("not an array: {:?}", show(reply))
    };
    let mut out: Vec<Vec<u8>> = items
        .into_iter()
        .map(|i| match i {
            Val::Bulk(b) => b,
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    out.sort();
    out
}

/// One SCAN step: the next cursor and the keys of this batch.
fn scan_step(c: &mut Raw, args: &[&[u8]]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let reply = c.call_args(args);
    let (v, _) = parse(&reply);
    let Val::Arr(mut parts) = v else {
        panic!("SCAN reply not an array: {:?}", show(&reply))
    };
    assert_eq!(parts.len(), 2, "SCAN reply {:?}", show(&reply));
    let keys = match parts.pop().unwrap() {
        Val::Arr(k) => k
            .into_iter()
            .map(|x| match x {
                Val::Bulk(b) => b,
                other => panic!("SCAN key not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("SCAN keys not an array: {other:?}"),
    };
    let Val::Bulk(cursor) = parts.pop().unwrap() else {
        panic!("SCAN cursor not a bulk: {:?}", show(&reply))
    };
    (cursor, keys)
}

/// Runs a full SCAN with `extra` options; returns how often each key came back.
fn scan_all(c: &mut Raw, extra: &[&[u8]]) -> BTreeMap<Vec<u8>, usize> {
    let mut seen = BTreeMap::new();
    let mut cursor = b"0".to_vec();
    for _round in 0..10_000 {
        let mut args: Vec<&[u8]> = vec![b"SCAN", &cursor];
        args.extend_from_slice(extra);
        let (next, keys) = scan_step(c, &args);
        for k in keys {
            *seen.entry(k).or_insert(0) += 1;
        }
        if next == b"0" {
            return seen;
        }
        cursor = next;
    }
    panic!("SCAN did not finish");
}

/// Switches `c` to RESP3 (the HELLO reply itself is not checked here).
fn resp3(c: &mut Raw) {
    let r = c.call("HELLO 3");
    assert!(r.starts_with(b"%"), "HELLO 3 gave {:?}", show(&r));
}

// ---------------------------------------------------------------- GET / SET

#[test]
fn set_and_get() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("GET k", b"$-1\r\n");
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("GET k", b"$1\r\nv\r\n");
    c.expect_call("SET k other", b"+OK\r\n");
    c.expect_call("GET k", b"$5\r\nother\r\n");
    // Keys and values are bytes: NUL, 0xff and CRLF survive.
    let key: &[u8] = b"k\x00\xff\r\n";
    let val: &[u8] = b"\x00\xfe\r\nv";
    expect_args(&mut c, &[b"SET", key, val], b"+OK\r\n");
    expect_args(&mut c, &[b"GET", key], &bulk(val));
    // The empty value is a value, not a missing key.
    expect_args(&mut c, &[b"SET", b"empty", b""], b"+OK\r\n");
    c.expect_call("GET empty", b"$0\r\n\r\n");
    c.expect_call("EXISTS empty", b":1\r\n");
    // The empty key is a key too.
    expect_args(&mut c, &[b"SET", b"", b"x"], b"+OK\r\n");
    expect_args(&mut c, &[b"GET", b""], b"$1\r\nx\r\n");
    c.expect_call("DBSIZE", b":4\r\n");
    c.expect_call(
        "GET",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    c.expect_call(
        "GET a b",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    c.expect_call(
        "SET k",
        b"-ERR wrong number of arguments for 'set' command\r\n",
    );
}

#[test]
fn set_nx_xx_and_get_options() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    // NX only sets a missing key; a refused SET replies null.
    c.expect_call("SET k v1 NX", b"+OK\r\n");
    c.expect_call("SET k v2 NX", b"$-1\r\n");
    c.expect_call("GET k", b"$2\r\nv1\r\n");
    // XX only sets an existing key.
    c.expect_call("SET k v3 XX", b"+OK\r\n");
    c.expect_call("SET missing v XX", b"$-1\r\n");
    c.expect_call("EXISTS missing", b":0\r\n");
    // Options are case-insensitive and may repeat.
    c.expect_call("SET k v4 xx", b"+OK\r\n");
    c.expect_call("SET k v5 NX NX", b"$-1\r\n");
    // GET returns the old value (null if none), whether or not it sets.
    c.expect_call("SET g a GET", b"$-1\r\n");
    c.expect_call("SET g b GET", b"$1\r\na\r\n");
    c.expect_call("SET g c NX GET", b"$1\r\nb\r\n");
    c.expect_call("GET g", b"$1\r\nb\r\n");
    c.expect_call("SET g d XX GET", b"$1\r\nb\r\n");
    c.expect_call("GET g", b"$1\r\nd\r\n");
    c.expect_call("SET nope x XX GET", b"$-1\r\n");
    c.expect_call("EXISTS nope", b":0\r\n");
    c.expect_call("SET g e px 100000 xx get", b"$1\r\nd\r\n");
}

#[test]
fn set_option_errors() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET k v NX XX", SYNTAX);
    c.expect_call("SET k v XX NX", SYNTAX);
    c.expect_call("SET k v EX 10 PX 10", SYNTAX);
    c.expect_call("SET k v PX 10 EXAT 5", SYNTAX);
    c.expect_call("SET k v KEEPTTL EX 10", SYNTAX);
    c.expect_call("SET k v EX 10 KEEPTTL", SYNTAX);
    c.expect_call("SET k v EX", SYNTAX);
    c.expect_call("SET k v FOO", SYNTAX);
    c.expect_call("SET k v EX abc", NOT_INT);
    c.expect_call("SET k v EX 1.5", NOT_INT);
    let bad_time = b"-ERR invalid expire time in 'set' command\r\n";
    c.expect_call("SET k v EX 0", bad_time);
    c.expect_call("SET k v EX -1", bad_time);
    c.expect_call("SET k v PX 0", bad_time);
    c.expect_call("SET k v EXAT 0", bad_time);
    c.expect_call("SET k v EXAT -1", bad_time);
    c.expect_call("SET k v PXAT 0", bad_time);
    // Seconds that overflow when turned into absolute milliseconds.
    c.expect_call("SET k v EX 9223372036854775807", bad_time);
    c.expect_call("SET k v PX 9223372036854775807", bad_time);
    // None of the failed SETs wrote anything.
    c.expect_call("EXISTS k", b":0\r\n");
}

#[test]
fn set_expiry_options() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET k v EX 100", b"+OK\r\n");
    expect_int_between(&mut c, "TTL k", 99, 100);
    expect_int_between(&mut c, "PTTL k", 98_000, 100_000);
    c.expect_call("SET k v PX 50000", b"+OK\r\n");
    expect_int_between(&mut c, "PTTL k", 48_000, 50_000);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    c.expect_call(&format!("SET k v EXAT {}", now.as_secs() + 100), b"+OK\r\n");
    expect_int_between(&mut c, "TTL k", 97, 100);
    c.expect_call(
        &format!("SET k v PXAT {}", now.as_millis() + 100_000),
        b"+OK\r\n",
    );
    expect_int_between(&mut c, "PTTL k", 97_000, 100_000);
    // KEEPTTL keeps the old deadline; a plain SET clears it.
    c.expect_call("SET k v2 KEEPTTL", b"+OK\r\n");
    expect_int_between(&mut c, "TTL k", 97, 100);
    c.expect_call("SET k v3 KEEPTTL GET", b"$2\r\nv2\r\n");
    expect_int_between(&mut c, "TTL k", 97, 100);
    c.expect_call("SET k v4", b"+OK\r\n");
    c.expect_call("TTL k", b":-1\r\n");
    // A deadline already in the past stores nothing that can be read.
    c.expect_call("SET old v EXAT 1", b"+OK\r\n");
    c.expect_call("EXISTS old", b":0\r\n");
    c.expect_call("SET old v PXAT 1", b"+OK\r\n");
    c.expect_call("GET old", b"$-1\r\n");
}

#[test]
fn setex_psetex_setnx() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SETEX k 100 v", b"+OK\r\n");
    c.expect_call("GET k", b"$1\r\nv\r\n");
    expect_int_between(&mut c, "TTL k", 99, 100);
    c.expect_call("PSETEX p 100000 v", b"+OK\r\n");
    expect_int_between(&mut c, "PTTL p", 98_000, 100_000);
    c.expect_call(
        "SETEX k 0 v",
        b"-ERR invalid expire time in 'setex' command\r\n",
    );
    c.expect_call(
        "SETEX k -1 v",
        b"-ERR invalid expire time in 'setex' command\r\n",
    );
    c.expect_call(
        "PSETEX k 0 v",
        b"-ERR invalid expire time in 'psetex' command\r\n",
    );
    c.expect_call(
        "PSETEX k -5 v",
        b"-ERR invalid expire time in 'psetex' command\r\n",
    );
    c.expect_call("SETEX k x v", NOT_INT);
    c.expect_call("SETEX k 1.5 v", NOT_INT);
    c.expect_call(
        "SETEX k 10",
        b"-ERR wrong number of arguments for 'setex' command\r\n",
    );
    // The failures left the key and its TTL alone.
    expect_int_between(&mut c, "TTL k", 98, 100);

    c.expect_call("SETNX n 1", b":1\r\n");
    c.expect_call("SETNX n 2", b":0\r\n");
    c.expect_call("GET n", b"$1\r\n1\r\n");
    c.expect_call(
        "SETNX a",
        b"-ERR wrong number of arguments for 'setnx' command\r\n",
    );
}

#[test]
fn getdel_returns_and_removes() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET k v EX 100", b"+OK\r\n");
    c.expect_call("GETDEL k", b"$1\r\nv\r\n");
    c.expect_call("GETDEL k", b"$-1\r\n");
    c.expect_call("EXISTS k", b":0\r\n");
    c.expect_call("TTL k", b":-2\r\n");
    c.expect_call(
        "GETDEL",
        b"-ERR wrong number of arguments for 'getdel' command\r\n",
    );
    c.expect_call(
        "GETDEL a b",
        b"-ERR wrong number of arguments for 'getdel' command\r\n",
    );
}

#[test]
fn mset_and_mget() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("MSET a 1 b 2 c 3", b"+OK\r\n");
    c.expect_call(
        "MGET a b missing c",
        b"*4\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n$1\r\n3\r\n",
    );
    // A repeated key: the last value wins.
    c.expect_call("MSET a x a y", b"+OK\r\n");
    c.expect_call("MGET a a", &bulks(&[b"y", b"y"]));
    // An odd number of arguments is an arity error and writes nothing.
    c.expect_call(
        "MSET a",
        b"-ERR wrong number of arguments for 'mset' command\r\n",
    );
    c.expect_call(
        "MSET d 1 e",
        b"-ERR wrong number of arguments for 'mset' command\r\n",
    );
    c.expect_call("EXISTS d e", b":0\r\n");
    c.expect_call(
        "MGET",
        b"-ERR wrong number of arguments for 'mget' command\r\n",
    );
}

#[test]
fn incr_decr_family() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("INCR n", b":1\r\n");
    c.expect_call("INCR n", b":2\r\n");
    c.expect_call("INCRBY n 10", b":12\r\n");
    c.expect_call("INCRBY n -20", b":-8\r\n");
    c.expect_call("DECR n", b":-9\r\n");
    c.expect_call("DECRBY n 1", b":-10\r\n");
    c.expect_call("DECRBY n -15", b":5\r\n");
    c.expect_call("GET n", b"$1\r\n5\r\n");
    c.expect_call("DECR fresh", b":-1\r\n");
    c.expect_call("INCRBY other 7", b":7\r\n");
    // A counter keeps its TTL.
    c.expect_call("SET t 1 EX 100", b"+OK\r\n");
    c.expect_call("INCR t", b":2\r\n");
    expect_int_between(&mut c, "TTL t", 99, 100);

    // Values that are not canonical 64-bit integers.
    for v in ["abc", "1.5", " 1", "01", "", "9223372036854775808"] {
        expect_args(&mut c, &[b"SET", b"s", v.as_bytes()], b"+OK\r\n");
        let got = c.call("INCR s");
        assert_eq!(show(&got), show(NOT_INT), "INCR on {v:?}");
    }
    c.expect_call("INCRBY n x", NOT_INT);
    c.expect_call("INCRBY n 1.5", NOT_INT);
    c.expect_call("DECRBY n 9223372036854775808", NOT_INT);
    c.expect_call("GET n", b"$1\r\n5\r\n");

    // The i64 edges are reachable; one step past them is an error.
    c.expect_call("SET big 9223372036854775806", b"+OK\r\n");
    c.expect_call("INCR big", b":9223372036854775807\r\n");
    c.expect_call("INCR big", OVERFLOW);
    c.expect_call("DECRBY big -1", OVERFLOW);
    c.expect_call("INCRBY big 9223372036854775807", OVERFLOW);
    c.expect_call("GET big", b"$19\r\n9223372036854775807\r\n");
    c.expect_call("SET small -9223372036854775807", b"+OK\r\n");
    c.expect_call("DECR small", b":-9223372036854775808\r\n");
    c.expect_call("DECR small", OVERFLOW);
    c.expect_call("INCRBY small -1", OVERFLOW);
    c.expect_call("DECRBY small 9223372036854775807", OVERFLOW);
    // DECRBY of i64::MIN cannot be negated: its own text.
    c.expect_call(
        "DECRBY n -9223372036854775808",
        b"-ERR decrement would overflow\r\n",
    );
    c.expect_call(
        "INCR",
        b"-ERR wrong number of arguments for 'incr' command\r\n",
    );
    c.expect_call(
        "INCRBY a",
        b"-ERR wrong number of arguments for 'incrby' command\r\n",
    );
}

#[test]
fn append_and_strlen() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("STRLEN s", b":0\r\n");
    c.expect_call("APPEND s hello", b":5\r\n");
    expect_args(&mut c, &[b"APPEND", b"s", b" world"], b":11\r\n");
    c.expect_call("GET s", b"$11\r\nhello world\r\n");
    c.expect_call("STRLEN s", b":11\r\n");
    expect_args(&mut c, &[b"APPEND", b"s", b""], b":11\r\n");
    expect_args(&mut c, &[b"APPEND", b"bin", b"\x00\xff"], b":2\r\n");
    c.expect_call("STRLEN bin", b":2\r\n");
    // APPEND keeps the TTL; appending to a counter makes it text.
    c.expect_call("SET t 1 EX 100", b"+OK\r\n");
    c.expect_call("APPEND t 0", b":2\r\n");
    expect_int_between(&mut c, "TTL t", 99, 100);
    c.expect_call("INCR t", b":11\r\n");
    c.expect_call("APPEND t x", b":3\r\n");
    c.expect_call("INCR t", NOT_INT);
    c.expect_call(
        "APPEND a",
        b"-ERR wrong number of arguments for 'append' command\r\n",
    );
    c.expect_call(
        "STRLEN",
        b"-ERR wrong number of arguments for 'strlen' command\r\n",
    );
}

#[test]
fn del_unlink_exists_type() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("MSET a 1 b 2 c 3", b"+OK\r\n");
    // EXISTS counts every argument, duplicates included.
    c.expect_call("EXISTS a a missing b a", b":4\r\n");
    c.expect_call("TYPE a", b"+string\r\n");
    c.expect_call("TYPE missing", b"+none\r\n");
    // DEL counts keys actually removed, each once.
    c.expect_call("DEL a missing a", b":1\r\n");
    c.expect_call("EXISTS a", b":0\r\n");
    c.expect_call("TYPE a", b"+none\r\n");
    c.expect_call("UNLINK b c x", b":2\r\n");
    c.expect_call("DBSIZE", b":0\r\n");
    c.expect_call("DEL a", b":0\r\n");
    for name in ["del", "unlink", "exists", "type"] {
        c.expect_call(
            &name.to_uppercase(),
            format!("-ERR wrong number of arguments for '{name}' command\r\n").as_bytes(),
        );
    }
}

// ---------------------------------------------------------------- expiry

#[test]
fn expire_ttl_persist() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("TTL missing", b":-2\r\n");
    c.expect_call("PTTL missing", b":-2\r\n");
    c.expect_call("EXPIRE missing 10", b":0\r\n");
    c.expect_call("PERSIST missing", b":0\r\n");
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("TTL k", b":-1\r\n");
    c.expect_call("PTTL k", b":-1\r\n");
    c.expect_call("PERSIST k", b":0\r\n");
    c.expect_call("EXPIRE k 100", b":1\r\n");
    expect_int_between(&mut c, "TTL k", 99, 100);
    c.expect_call("PEXPIRE k 50000", b":1\r\n");
    expect_int_between(&mut c, "PTTL k", 48_000, 50_000);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    c.expect_call(&format!("EXPIREAT k {}", now.as_secs() + 200), b":1\r\n");
    expect_int_between(&mut c, "TTL k", 197, 200);
    c.expect_call(
        &format!("PEXPIREAT k {}", now.as_millis() + 300_000),
        b":1\r\n",
    );
    expect_int_between(&mut c, "PTTL k", 297_000, 300_000);
    c.expect_call("PERSIST k", b":1\r\n");
    c.expect_call("TTL k", b":-1\r\n");
    // A deadline at or before now deletes the key at once.
    for line in [
        "EXPIRE k 0",
        "EXPIRE k -5",
        "PEXPIRE k -1",
        "EXPIREAT k 1",
        "PEXPIREAT k 1",
    ] {
        c.expect_call("SET k v", b"+OK\r\n");
        c.expect_call(line, b":1\r\n");
        c.expect_call("EXISTS k", b":0\r\n");
    }
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("EXPIRE k abc", NOT_INT);
    c.expect_call("EXPIRE k 1.5", NOT_INT);
    c.expect_call(
        "EXPIRE k 9223372036854775807",
        b"-ERR invalid expire time in 'expire' command\r\n",
    );
    c.expect_call(
        "EXPIRE k 92233720368547758",
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
    c.expect_call("TTL k", b":-1\r\n");
    c.expect_call(
        "EXPIRE k",
        b"-ERR wrong number of arguments for 'expire' command\r\n",
    );
    c.expect_call(
        "TTL",
        b"-ERR wrong number of arguments for 'ttl' command\r\n",
    );
}

#[test]
fn expire_nx_xx_gt_lt() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET k v", b"+OK\r\n");
    // XX needs an existing TTL; GT treats "no TTL" as infinite.
    c.expect_call("EXPIRE k 100 XX", b":0\r\n");
    c.expect_call("EXPIRE k 100 GT", b":0\r\n");
    c.expect_call("TTL k", b":-1\r\n");
    c.expect_call("EXPIRE k 100 NX", b":1\r\n");
    c.expect_call("EXPIRE k 200 NX", b":0\r\n");
    c.expect_call("EXPIRE k 50 GT", b":0\r\n");
    c.expect_call("EXPIRE k 300 GT", b":1\r\n");
    expect_int_between(&mut c, "TTL k", 299, 300);
    c.expect_call("EXPIRE k 400 LT", b":0\r\n");
    c.expect_call("EXPIRE k 250 lt", b":1\r\n");
    c.expect_call("EXPIRE k 260 XX", b":1\r\n");
    expect_int_between(&mut c, "TTL k", 259, 260);
    c.expect_call("PEXPIRE k 1000000 XX GT", b":1\r\n");
    expect_int_between(&mut c, "TTL k", 999, 1000);
    // LT on a key without TTL always applies (anything beats infinite).
    c.expect_call("PERSIST k", b":1\r\n");
    c.expect_call("EXPIRE k 500 LT", b":1\r\n");
    expect_int_between(&mut c, "TTL k", 499, 500);
    c.expect_call("EXPIRE missing 10 NX", b":0\r\n");

    let incompatible = b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n";
    c.expect_call("EXPIRE k 10 NX XX", incompatible);
    c.expect_call("EXPIRE k 10 NX GT", incompatible);
    c.expect_call("EXPIRE k 10 LT NX", incompatible);
    c.expect_call(
        "EXPIRE k 10 GT LT",
        b"-ERR GT and LT options at the same time are not compatible\r\n",
    );
    c.expect_call("EXPIRE k 10 FOO", b"-ERR Unsupported option FOO\r\n");
    c.expect_call("PEXPIRE k 10 bar", b"-ERR Unsupported option bar\r\n");
    expect_int_between(&mut c, "TTL k", 498, 500);
}

/// A key read after its deadline is gone, whichever of the read or the
/// active cycle got to it first.
#[test]
fn lazy_expiry_hides_the_key() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET k v PX 100", b"+OK\r\n");
    c.expect_call("PSETEX p 100 v", b"+OK\r\n");
    c.expect_call("SET keep v", b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(250));
    c.expect_call("GET k", b"$-1\r\n");
    c.expect_call("EXISTS k p", b":0\r\n");
    c.expect_call("TTL k", b":-2\r\n");
    c.expect_call("PTTL p", b":-2\r\n");
    c.expect_call("TYPE p", b"+none\r\n");
    c.expect_call("STRLEN p", b":0\r\n");
    c.expect_call("SET k v XX", b"$-1\r\n");
    c.expect_call("SET k v NX", b"+OK\r\n");
    c.expect_call("TTL k", b":-1\r\n");
    c.expect_call("INCR p", b":1\r\n");
    let keys = sorted_bulks(&c.call("KEYS *"));
    assert_eq!(keys, vec![b"k".to_vec(), b"keep".to_vec(), b"p".to_vec()]);
}

#[test]
fn active_expiry_removes_untouched_keys() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let before = info_field(&c.call("INFO stats"), "expired_keys");
    assert_eq!(before.as_deref(), Some("0"));
    // Pipeline 200 SETs, then read the 200 replies.
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.extend(common::cmd(&[
            b"SET",
            format!("key:{i}").as_bytes(),
            b"v",
            b"PX",
            b"100",
        ]));
    }
    c.send(&batch);
    for _ in 0..200 {
        c.expect(b"+OK\r\n");
    }
    c.expect_call("SET forever v", b"+OK\r\n");
    c.expect_call("DBSIZE", b":201\r\n");
    // DBSIZE does not touch keys, so only the active cycle can shrink it.
    let deadline = Instant::now() + Duration::from_millis(2500);
    loop {
        let n = int_reply(&c.call("DBSIZE"));
        if n == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "DBSIZE still {n} after 2.5 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let info = c.call("INFO stats");
    assert_eq!(
        info_field(&info, "expired_keys").as_deref(),
        Some("200"),
        "INFO stats:\n{}",
        show(&info)
    );
    c.expect_call("KEYS *", b"*1\r\n$7\r\nforever\r\n");
}

#[test]
fn info_keyspace_counts_keys_and_expires() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("INFO keyspace", b"$12\r\n# Keyspace\r\n\r\n");
    c.expect_call("MSET a 1 b 2 c 3", b"+OK\r\n");
    c.expect_call("EXPIRE a 100", b":1\r\n");
    c.expect_call("SELECT 2", b"+OK\r\n");
    c.expect_call("SET x 1 PX 100000", b"+OK\r\n");
    let info = c.call("INFO keyspace");
    let text = show(&info);
    assert!(text.contains("# Keyspace\r\n"), "{text:?}");
    let db0 = info_field(&info, "db0").expect("db0 line");
    assert!(db0.starts_with("keys=3,expires=1,avg_ttl="), "{db0:?}");
    let db2 = info_field(&info, "db2").expect("db2 line");
    assert!(db2.starts_with("keys=1,expires=1,avg_ttl="), "{db2:?}");
    assert_eq!(info_field(&info, "db1"), None, "{text:?}");
    // Only databases with keys are listed, in order, and nothing else.
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("db")).collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    assert!(lines[0].starts_with("db0:") && lines[1].starts_with("db2:"));
    c.expect_call("FLUSHALL", b"+OK\r\n");
    c.expect_call("INFO keyspace", b"$12\r\n# Keyspace\r\n\r\n");
}

// ---------------------------------------------------------------- key space

#[test]
fn keys_glob_patterns() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("KEYS *", b"*0\r\n");
    c.expect_call(
        "MSET hello 1 hallo 2 hxllo 3 hllo 4 heeeello 5 other 6",
        b"+OK\r\n",
    );
    let k = |c: &mut Raw, p: &str| sorted_bulks(&c.call(&format!("KEYS {p}")));
    let v = |names: &[&str]| -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = names.iter().map(|n| n.as_bytes().to_vec()).collect();
        v.sort();
        v
    };
    assert_eq!(k(&mut c, "h?llo"), v(&["hello", "hallo", "hxllo"]));
    assert_eq!(
        k(&mut c, "h*llo"),
        v(&["hello", "hallo", "hxllo", "hllo", "heeeello"])
    );
    assert_eq!(k(&mut c, "h[ae]llo"), v(&["hello", "hallo"]));
    assert_eq!(k(&mut c, "h[^e]llo"), v(&["hallo", "hxllo"]));
    assert_eq!(k(&mut c, "h[a-b]llo"), v(&["hallo"]));
    assert_eq!(k(&mut c, "*").len(), 6);
    c.expect_call("KEYS other", b"*1\r\n$5\r\nother\r\n");
    c.expect_call("KEYS nomatch*", b"*0\r\n");
    c.expect_call(
        "KEYS",
        b"-ERR wrong number of arguments for 'keys' command\r\n",
    );
}

#[test]
fn scan_returns_every_key_exactly_once() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SCAN 0", b"*2\r\n$1\r\n0\r\n*0\r\n");
    let mut batch = Vec::new();
    for i in 0..300 {
        batch.extend(common::cmds(&format!("SET key:{i} v")));
    }
    for i in 0..20 {
        batch.extend(common::cmds(&format!("SET other:{i} v")));
    }
    c.send(&batch);
    for _ in 0..320 {
        c.expect(b"+OK\r\n");
    }
    // Give an incremental rehash time to settle, so the table is stable.
    std::thread::sleep(Duration::from_millis(200));

    let all = scan_all(&mut c, &[b"COUNT", b"7"]);
    assert_eq!(all.len(), 320);
    assert!(all.values().all(|&n| n == 1), "duplicates: {all:?}");

    let matched = scan_all(&mut c, &[b"MATCH", b"other:*", b"COUNT", b"50"]);
    let want: BTreeMap<Vec<u8>, usize> = (0..20)
        .map(|i| (format!("other:{i}").into_bytes(), 1))
        .collect();
    assert_eq!(matched, want);

    let strings = scan_all(&mut c, &[b"TYPE", b"string"]);
    assert_eq!(strings.len(), 320);
    // No other types exist, so TYPE list finds nothing.
    let lists = scan_all(&mut c, &[b"TYPE", b"list", b"COUNT", b"1000"]);
    assert!(lists.is_empty(), "{lists:?}");

    c.expect_call("SCAN x", b"-ERR invalid cursor\r\n");
    c.expect_call("SCAN 0 COUNT 0", SYNTAX);
    c.expect_call("SCAN 0 COUNT x", NOT_INT);
    c.expect_call("SCAN 0 MATCH", SYNTAX);
    c.expect_call("SCAN 0 TYPE", SYNTAX);
    c.expect_call("SCAN 0 FOO bar", SYNTAX);
}

#[test]
fn randomkey_and_dbsize() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("RANDOMKEY", b"$-1\r\n");
    c.expect_call("DBSIZE", b":0\r\n");
    c.expect_call("SET only v", b"+OK\r\n");
    c.expect_call("RANDOMKEY", b"$4\r\nonly\r\n");
    c.expect_call("MSET a 1 b 2", b"+OK\r\n");
    c.expect_call("DBSIZE", b":3\r\n");
    for _ in 0..20 {
        let r = c.call("RANDOMKEY");
        assert!(
            [bulk(b"only"), bulk(b"a"), bulk(b"b")].contains(&r),
            "RANDOMKEY gave {:?}",
            show(&r)
        );
    }
    c.expect_call(
        "RANDOMKEY x",
        b"-ERR wrong number of arguments for 'randomkey' command\r\n",
    );
}

#[test]
fn rename_moves_value_and_ttl() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("RENAME nope x", b"-ERR no such key\r\n");
    c.expect_call("SET a 1 EX 100", b"+OK\r\n");
    c.expect_call("RENAME a b", b"+OK\r\n");
    c.expect_call("EXISTS a", b":0\r\n");
    c.expect_call("GET b", b"$1\r\n1\r\n");
    expect_int_between(&mut c, "TTL b", 99, 100);
    // The destination is overwritten, TTL included.
    c.expect_call("SET c 2", b"+OK\r\n");
    c.expect_call("SET d 3 EX 100", b"+OK\r\n");
    c.expect_call("RENAME c d", b"+OK\r\n");
    c.expect_call("GET d", b"$1\r\n2\r\n");
    c.expect_call("TTL d", b":-1\r\n");
    // Renaming onto itself is fine.
    c.expect_call("RENAME d d", b"+OK\r\n");
    c.expect_call("GET d", b"$1\r\n2\r\n");
    c.expect_call("DBSIZE", b":2\r\n");
    c.expect_call(
        "RENAME a",
        b"-ERR wrong number of arguments for 'rename' command\r\n",
    );
}

// ---------------------------------------------------------------- databases

#[test]
fn databases_are_separate() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut other = srv.raw();
    c.expect_call("SET k zero", b"+OK\r\n");
    c.expect_call("SELECT 1", b"+OK\r\n");
    c.expect_call("GET k", b"$-1\r\n");
    c.expect_call("SET k one", b"+OK\r\n");
    c.expect_call("DBSIZE", b":1\r\n");
    // A new connection starts in database 0.
    other.expect_call("GET k", b"$4\r\nzero\r\n");
    other.expect_call("SELECT 1", b"+OK\r\n");
    other.expect_call("GET k", b"$3\r\none\r\n");
    c.expect_call("SELECT 15", b"+OK\r\n");
    c.expect_call("SET k fifteen", b"+OK\r\n");
    // FLUSHDB empties only the selected database.
    other.expect_call("FLUSHDB", b"+OK\r\n");
    other.expect_call("DBSIZE", b":0\r\n");
    c.expect_call("GET k", b"$7\r\nfifteen\r\n");
    c.expect_call("SELECT 0", b"+OK\r\n");
    c.expect_call("GET k", b"$4\r\nzero\r\n");
    // FLUSHALL empties all of them.
    other.expect_call("FLUSHALL", b"+OK\r\n");
    c.expect_call("DBSIZE", b":0\r\n");
    c.expect_call("SELECT 15", b"+OK\r\n");
    c.expect_call("DBSIZE", b":0\r\n");
}

#[test]
fn swapdb_swaps_for_every_client() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut watcher = srv.raw();
    c.expect_call("SET k zero", b"+OK\r\n");
    c.expect_call("SET t v EX 100", b"+OK\r\n");
    c.expect_call("SELECT 1", b"+OK\r\n");
    c.expect_call("SET k one", b"+OK\r\n");
    watcher.expect_call("GET k", b"$4\r\nzero\r\n");
    c.expect_call("SWAPDB 0 1", b"+OK\r\n");
    // Both connections keep their index but see the other data set.
    watcher.expect_call("GET k", b"$3\r\none\r\n");
    watcher.expect_call("DBSIZE", b":1\r\n");
    c.expect_call("GET k", b"$4\r\nzero\r\n");
    expect_int_between(&mut c, "TTL t", 99, 100);
    c.expect_call("SWAPDB 1 1", b"+OK\r\n");
    c.expect_call("GET k", b"$4\r\nzero\r\n");
    c.expect_call("SWAPDB 0 16", b"-ERR DB index is out of range\r\n");
    c.expect_call("SWAPDB 0 -1", b"-ERR DB index is out of range\r\n");
    c.expect_call("SWAPDB x 1", b"-ERR invalid first DB index\r\n");
    c.expect_call("SWAPDB 0 x", b"-ERR invalid second DB index\r\n");
    c.expect_call(
        "SWAPDB 0",
        b"-ERR wrong number of arguments for 'swapdb' command\r\n",
    );
}

// ---------------------------------------------------------------- limits, RESP3

#[test]
fn maxmemory_refuses_writes_but_allows_reads_and_del() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("MSET a 1 b 2", b"+OK\r\n");
    c.expect_call("CONFIG SET maxmemory 1", b"+OK\r\n");
    let oom = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    c.expect_call("SET c 3", oom);
    c.expect_call("INCR a", oom);
    c.expect_call("APPEND a x", oom);
    c.expect_call("MSET x 1", oom);
    c.expect_call("SETEX x 10 v", oom);
    c.expect_call("SETNX x v", oom);
    c.expect_call("GET a", b"$1\r\n1\r\n");
    c.expect_call("MGET a b", b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    c.expect_call("EXISTS c x", b":0\r\n");
    c.expect_call("DBSIZE", b":2\r\n");
    c.expect_call("DEL a", b":1\r\n");
    c.expect_call("UNLINK b", b":1\r\n");
    c.expect_call("PING", b"+PONG\r\n");
    c.expect_call("CONFIG SET maxmemory 0", b"+OK\r\n");
    c.expect_call("SET c 3", b"+OK\r\n");
    c.expect_call("GET c", b"$1\r\n3\r\n");
}

#[test]
fn resp3_nulls() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    resp3(&mut c);
    c.expect_call("GET k", b"_\r\n");
    c.expect_call("MGET k k", b"*2\r\n_\r\n_\r\n");
    c.expect_call("RANDOMKEY", b"_\r\n");
    c.expect_call("GETDEL k", b"_\r\n");
    c.expect_call("SET k v GET", b"_\r\n");
    c.expect_call("SET k v NX", b"_\r\n");
    c.expect_call("SET k v2 GET", b"$1\r\nv\r\n");
    c.expect_call("MGET k nope", b"*2\r\n$2\r\nv2\r\n_\r\n");
    c.expect_call("SCAN 0", b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n");
    c.expect_call("TTL k", b":-1\r\n");
    c.expect_call("TYPE k", b"+string\r\n");
    // INFO is a verbatim string in RESP3.
    let info = c.call("INFO keyspace");
    assert!(info.starts_with(b"="), "{:?}", show(&info));
    assert!(
        show(&info).contains("txt:# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"),
        "{:?}",
        show(&info)
    );
}

#[test]
fn other_data_types_are_unknown_commands() {
    // Redis has these types; pubsubd stores strings only and rejects the
    // commands with the ordinary unknown-command text.
    if common::is_reference() {
        return;
    }
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "LPUSH l a",
        b"-ERR unknown command 'LPUSH', with args beginning with: 'l' 'a' \r\n",
    );
    c.expect_call(
        "HSET h f v",
        b"-ERR unknown command 'HSET', with args beginning with: 'h' 'f' 'v' \r\n",
    );
    c.expect_call(
        "SADD s m",
        b"-ERR unknown command 'SADD', with args beginning with: 's' 'm' \r\n",
    );
    c.expect_call(
        "ZADD z 1 m",
        b"-ERR unknown command 'ZADD', with args beginning with: 'z' '1' 'm' \r\n",
    );
    c.expect_call(
        "XADD x * f v",
        b"-ERR unknown command 'XADD', with args beginning with: 'x' '*' 'f' 'v' \r\n",
    );
    c.expect_call("DBSIZE", b":0\r\n");
}

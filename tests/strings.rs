//! The string family beside GET/SET (GETEX, GETSET, MSETNX, SETRANGE,
//! GETRANGE/SUBSTR, INCRBYFLOAT, LCS), the bit commands (SETBIT, GETBIT,
//! BITCOUNT, BITPOS), and OBJECT / MEMORY USAGE on string values.
//!
//! Every expected byte string here was first observed from redis-server
//! 7.0.15 (`PUBSUBD_TEST_BIN=$(which redis-server)` runs these tests against
//! it); the few places pubsubd deliberately differs are marked.

mod common;

use common::{Raw, TestServer, expect_args, is_reference};
use std::time::Duration;

const NOT_INT: &[u8] = b"-ERR value is not an integer or out of range\r\n";
const SYNTAX: &[u8] = b"-ERR syntax error\r\n";
const NOT_FLOAT: &[u8] = b"-ERR value is not a valid float\r\n";
const TOO_BIG: &[u8] = b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
const BAD_OFFSET: &[u8] = b"-ERR bit offset is not an integer or out of range\r\n";
const OOM: &[u8] = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";

/// The value of an integer reply.
fn int_reply(reply: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(reply);
    assert!(text.starts_with(':'), "not an integer: {text:?}");
    text[1..text.len() - 2].parse().expect("integer")
}

/// Runs `(command, expected reply)` pairs in order; a command is split on
/// spaces, and the word `""` is an empty argument. Reports every mismatch.
fn script(c: &mut Raw, steps: &[(&str, &[u8])]) {
    let mut wrong = Vec::new();
    for (line, want) in steps {
        let args: Vec<&[u8]> = line
            .split(' ')
            .map(|w| if w == "\"\"" { &b""[..] } else { w.as_bytes() })
            .collect();
        let got = c.call_args(&args);
        if got != *want {
            wrong.push(format!(
                "{line}: got {:?}, want {:?}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn getex_sets_and_removes_expiry() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    script(
        &mut c,
        &[
            ("SET foo bar", b"+OK\r\n"),
            ("GETEX foo", b"$3\r\nbar\r\n"),
            ("TTL foo", b":-1\r\n"),
            ("GETEX foo EX 100", b"$3\r\nbar\r\n"),
            ("TTL foo", b":100\r\n"),
            ("GETEX foo PERSIST", b"$3\r\nbar\r\n"),
            ("TTL foo", b":-1\r\n"),
            // Two different expiry options conflict; the same one twice
            // does not (the last value wins).
            ("GETEX foo EX 10 PX 100", SYNTAX),
            ("GETEX foo EX 10 EX 20", b"$3\r\nbar\r\n"),
            ("TTL foo", b":20\r\n"),
            ("GETEX foo PERSIST PERSIST", b"$3\r\nbar\r\n"),
            ("GETEX foo bogus", SYNTAX),
            ("GETEX foo EX", SYNTAX),
            ("GETEX foo EX abc", NOT_INT),
            (
                "GETEX foo EX 0",
                b"-ERR invalid expire time in 'getex' command\r\n",
            ),
            (
                "GETEX foo EX -1",
                b"-ERR invalid expire time in 'getex' command\r\n",
            ),
            (
                "GETEX foo EX 9223372036854775807",
                b"-ERR invalid expire time in 'getex' command\r\n",
            ),
            (
                "GETEX foo PX 9223372036854775807",
                b"-ERR invalid expire time in 'getex' command\r\n",
            ),
            // A missing key answers nil before its expiry is checked.
            ("GETEX missing EX 0", b"$-1\r\n"),
            // An absolute time in the past deletes the key after answering.
            ("GETEX foo EXAT 1", b"$3\r\nbar\r\n"),
            ("EXISTS foo", b":0\r\n"),
            (
                "GETEX",
                b"-ERR wrong number of arguments for 'getex' command\r\n",
            ),
        ],
    );
}

#[test]
fn getset_and_msetnx() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    script(
        &mut c,
        &[
            ("GETSET g 1", b"$-1\r\n"),
            ("SET g 2 EX 100", b"+OK\r\n"),
            ("GETSET g 3", b"$1\r\n2\r\n"),
            // GETSET is a plain SET: the TTL goes.
            ("TTL g", b":-1\r\n"),
            ("MSETNX a 1 b 2", b":1\r\n"),
            ("MSETNX a 9 c 9", b":0\r\n"),
            ("MGET a b c", b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"),
            (
                "MSETNX a 1 c",
                b"-ERR wrong number of arguments for 'msetnx' command\r\n",
            ),
            // The same key twice: the last value wins.
            ("MSETNX d 1 d 2", b":1\r\n"),
            ("GET d", b"$1\r\n2\r\n"),
        ],
    );
}

#[test]
fn setrange_and_getrange() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    script(
        &mut c,
        &[
            // Setting nothing on a missing key creates nothing.
            ("SETRANGE r 0 \"\"", b":0\r\n"),
            ("EXISTS r", b":0\r\n"),
            ("SETRANGE r -1 x", b"-ERR offset is out of range\r\n"),
            ("SETRANGE r abc x", NOT_INT),
            ("SETRANGE r 2 ab", b":4\r\n"),
            ("GET r", b"$4\r\n\x00\x00ab\r\n"),
            ("SETRANGE r 1 Z", b":4\r\n"),
            ("GET r", b"$4\r\n\x00Zab\r\n"),
            // The result may not outgrow proto-max-bulk-len (512 MB).
            ("SETRANGE r 536870912 x", TOO_BIG),
            ("SETRANGE r 536870911 xy", TOO_BIG),
            ("SETRANGE r 9223372036854775807 x", TOO_BIG),
            ("SET s Hello_World", b"+OK\r\n"),
            ("GETRANGE s 0 3", b"$4\r\nHell\r\n"),
            ("GETRANGE s -4 -1", b"$4\r\norld\r\n"),
            ("GETRANGE s 5 3", b"$0\r\n\r\n"),
            ("GETRANGE s -1 -5", b"$0\r\n\r\n"),
            ("GETRANGE s -100 100", b"$11\r\nHello_World\r\n"),
            ("GETRANGE s 0 4294967297", b"$11\r\nHello_World\r\n"),
            ("GETRANGE s x 1", NOT_INT),
            ("GETRANGE nokey 0 -1", b"$0\r\n\r\n"),
            // Arguments are checked before the key is looked up.
            ("GETRANGE nokey a b", NOT_INT),
            ("SUBSTR s 1 2", b"$2\r\nel\r\n"),
        ],
    );
    // A smaller proto-max-bulk-len is the limit as soon as it is set.
    c.expect_call("CONFIG SET proto-max-bulk-len 1mb", b"+OK\r\n");
    c.expect_call("SETRANGE k 1048575 x", b":1048576\r\n");
    c.expect_call("SETRANGE k 1048576 x", TOO_BIG);
}

#[test]
fn large_offsets_are_refused_before_allocating_past_maxmemory() {
    // Redis grows the string first and refuses only the next write; pubsubd
    // refuses the write that would take it past maxmemory, so a single
    // SETRANGE or SETBIT cannot allocate hundreds of megabytes.
    if is_reference() {
        return;
    }
    let srv = TestServer::start_with(&["--maxmemory", "50mb"]);
    let mut c = srv.raw();
    let rss_before = common::rss_bytes(srv.pid());
    c.expect_call("SETRANGE big 400000000 x", OOM);
    c.expect_call("SETBIT big 3200000000 1", OOM);
    c.expect_call("EXISTS big", b":0\r\n");
    // Small growth is still fine.
    c.expect_call("SETRANGE big 1000 x", b":1001\r\n");
    c.expect_call("SETBIT big 16007 1", b":0\r\n");
    c.expect_call("STRLEN big", b":2001\r\n");
    let grown = common::rss_bytes(srv.pid()).saturating_sub(rss_before);
    assert!(grown < 100 << 20, "RSS grew by {grown} bytes");
}

#[test]
fn incrbyfloat_matches_redis_long_double() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    script(
        &mut c,
        &[
            ("INCRBYFLOAT nf 3", b"$1\r\n3\r\n"),
            ("INCRBYFLOAT nf 0.1", b"$3\r\n3.1\r\n"),
            ("INCRBYFLOAT nf 0.2", b"$3\r\n3.3\r\n"),
            ("SET f 0.1", b"+OK\r\n"),
            ("INCRBYFLOAT f 0.2", b"$3\r\n0.3\r\n"),
            ("INCRBYFLOAT f -0.3", b"$1\r\n0\r\n"),
            ("SET f 10.50", b"+OK\r\n"),
            ("INCRBYFLOAT f 0.1", b"$4\r\n10.6\r\n"),
            // 17 decimals of the 80-bit sum, as %.17Lf prints it.
            ("INCRBYFLOAT f 5.0e3", b"$22\r\n5010.60000000000000009\r\n"),
            ("SET t 0", b"+OK\r\n"),
            ("INCRBYFLOAT t 1e-20", b"$1\r\n0\r\n"),
            ("SET big 1e300", b"+OK\r\n"),
            (
                "INCRBYFLOAT big 1",
                b"$301\r\n1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497190350372508614274835903592556184672983913096260520748646287327135641843653294084255107606016789726652932370030551382947620994540294772781889620606179267611627097410650567187386105690089424915104006144\r\n",
            ),
            // Finite in long double although past a double's range.
            ("SET e 0", b"+OK\r\n"),
            (
                "INCRBYFLOAT e 1e400",
                b"$401\r\n10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880\r\n",
            ),
            ("INCRBYFLOAT f abc", NOT_FLOAT),
            ("INCRBYFLOAT f 1e5000", NOT_FLOAT),
            ("INCRBYFLOAT f 1e-5000", NOT_FLOAT),
            ("INCRBYFLOAT f nan", NOT_FLOAT),
            (
                "INCRBYFLOAT f inf",
                b"-ERR increment would produce NaN or Infinity\r\n",
            ),
            // The expiry stays.
            ("SET ttl 1 EX 100", b"+OK\r\n"),
            ("INCRBYFLOAT ttl 1.5", b"$3\r\n2.5\r\n"),
            ("TTL ttl", b":100\r\n"),
        ],
    );
    expect_args(&mut c, &[b"SET", b"sp", b" 1"], b"+OK\r\n");
    c.expect_call("INCRBYFLOAT sp 1", NOT_FLOAT);
    // An operand of 5120 bytes or more is not a float, however it reads.
    let long = format!("{}1", "0".repeat(5119));
    expect_args(&mut c, &[b"INCRBYFLOAT", b"l", long.as_bytes()], NOT_FLOAT);
    expect_args(
        &mut c,
        &[b"INCRBYFLOAT", b"l", &long.as_bytes()[1..]],
        b"$1\r\n1\r\n",
    );
}

#[test]
fn lcs_answers_and_bounds_its_table() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    script(
        &mut c,
        &[
            ("SET x1 ohmytext", b"+OK\r\n"),
            ("SET x2 mynewtext", b"+OK\r\n"),
            ("LCS x1 x2", b"$6\r\nmytext\r\n"),
            ("LCS x1 x2 LEN", b":6\r\n"),
            (
                "LCS x1 x2 IDX",
                b"*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n",
            ),
            (
                "LCS x1 x2 IDX MINMATCHLEN 4 WITHMATCHLEN",
                b"*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n",
            ),
            (
                "LCS x1 x2 IDX LEN",
                b"-ERR If you want both the length and indexes, please just use IDX.\r\n",
            ),
            ("LCS x1 x2 bogus", SYNTAX),
            ("LCS x1 x2 MINMATCHLEN", SYNTAX),
            ("LCS x1 x2 MINMATCHLEN a", NOT_INT),
            ("LCS x1 nokey", b"$0\r\n\r\n"),
            (
                "LCS x1 nokey IDX",
                b"*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n",
            ),
        ],
    );
    // The table takes 4 bytes per pair of positions; past
    // proto-max-bulk-len it is refused before it is allocated.
    c.expect_call("CONFIG SET proto-max-bulk-len 1mb", b"+OK\r\n");
    let a = "a".repeat(600);
    expect_args(&mut c, &[b"SET", b"a", a.as_bytes()], b"+OK\r\n");
    c.expect_call(
        "LCS a a LEN",
        b"-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n",
    );
    let a = "a".repeat(500);
    expect_args(&mut c, &[b"SET", b"a", a.as_bytes()], b"+OK\r\n");
    c.expect_call("LCS a a LEN", b":500\r\n");
}

#[test]
fn setbit_getbit_bitcount_bitpos() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    script(
        &mut c,
        &[
            ("SETBIT b 7 1", b":0\r\n"),
            ("SETBIT b 7 1", b":1\r\n"),
            ("GET b", b"$1\r\n\x01\r\n"),
            ("SETBIT b 9 1", b":0\r\n"),
            ("GET b", b"$2\r\n\x01@\r\n"),
            ("SETBIT b -1 1", BAD_OFFSET),
            ("SETBIT b x 1", BAD_OFFSET),
            // The byte of the offset must lie within proto-max-bulk-len.
            ("SETBIT b 4294967296 1", BAD_OFFSET),
            (
                "SETBIT b 0 2",
                b"-ERR bit is not an integer or out of range\r\n",
            ),
            (
                "SETBIT b 0 x",
                b"-ERR bit is not an integer or out of range\r\n",
            ),
            ("GETBIT b 7", b":1\r\n"),
            ("GETBIT b 100000", b":0\r\n"),
            ("GETBIT b 4294967296", BAD_OFFSET),
            ("GETBIT nokey 100", b":0\r\n"),
            ("SET s foobar", b"+OK\r\n"),
            ("BITCOUNT s", b":26\r\n"),
            ("BITCOUNT s 1 1", b":6\r\n"),
            ("BITCOUNT s 5 30 BIT", b":17\r\n"),
            ("BITCOUNT s -5 -1 BIT", b":2\r\n"),
            ("BITCOUNT s -1 -5", b":0\r\n"),
            ("BITCOUNT s 0", SYNTAX),
            ("BITCOUNT s 0 1 bogus", SYNTAX),
            ("BITCOUNT s a 1", NOT_INT),
            // A missing key answers 0 before its arguments are read.
            ("BITCOUNT nokey a b c", b":0\r\n"),
            ("BITPOS s 1", b":1\r\n"),
            ("BITPOS s 0", b":0\r\n"),
            ("BITPOS s 1 2", b":17\r\n"),
            ("BITPOS s 0 8 8 BIT", b":8\r\n"),
            ("BITPOS s 1 7 15 BIT", b":9\r\n"),
            ("BITPOS s 1 1 0", b":-1\r\n"),
            ("BITPOS s 2", b"-ERR The bit argument must be 1 or 0.\r\n"),
            ("BITPOS s a", NOT_INT),
            ("BITPOS s 1 0 -1 bogus", SYNTAX),
            ("BITPOS s 1 0 -1 BIT extra", SYNTAX),
            ("BITPOS nokey 0", b":0\r\n"),
            ("BITPOS nokey 1", b":-1\r\n"),
            ("SET e \"\"", b"+OK\r\n"),
            ("BITPOS e 0", b":-1\r\n"),
        ],
    );
    // All ones: a 0 is found just past the end unless the range is explicit.
    expect_args(&mut c, &[b"SET", b"ones", b"\xff\xff"], b"+OK\r\n");
    script(
        &mut c,
        &[
            ("BITPOS ones 0", b":16\r\n"),
            ("BITPOS ones 0 0", b":16\r\n"),
            ("BITPOS ones 0 0 -1", b":-1\r\n"),
            ("BITPOS ones 0 0 15 BIT", b":-1\r\n"),
            ("BITPOS ones 1 0 -1 BIT", b":0\r\n"),
        ],
    );
}

#[test]
fn object_reports_encodings_as_redis_does() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let embstr = b"$6\r\nembstr\r\n";
    let raw = b"$3\r\nraw\r\n";
    let int = b"$3\r\nint\r\n";
    let shared = b":2147483647\r\n";
    script(
        &mut c,
        &[
            ("SET i 123", b"+OK\r\n"),
            ("OBJECT ENCODING i", int),
            // Small non-negative integers are shared objects in Redis.
            ("OBJECT REFCOUNT i", shared),
            ("SET i -123", b"+OK\r\n"),
            ("OBJECT REFCOUNT i", b":1\r\n"),
            ("SET i 12345", b"+OK\r\n"),
            ("OBJECT ENCODING i", int),
            ("OBJECT REFCOUNT i", b":1\r\n"),
            ("SET i 00123", b"+OK\r\n"),
            ("OBJECT ENCODING i", embstr),
            (
                "SET e 01234567890123456789012345678901234567890123",
                b"+OK\r\n",
            ),
            ("OBJECT ENCODING e", embstr),
            (
                "SET e 012345678901234567890123456789012345678901234",
                b"+OK\r\n",
            ),
            ("OBJECT ENCODING e", raw),
            // Changed in place: raw, whatever the bytes.
            ("SET i 12", b"+OK\r\n"),
            ("APPEND i 3", b":3\r\n"),
            ("OBJECT ENCODING i", raw),
            ("APPEND new 4", b":1\r\n"),
            ("OBJECT ENCODING new", int),
            ("SET n 1234", b"+OK\r\n"),
            ("SETRANGE n 0 \"\"", b":4\r\n"),
            ("OBJECT ENCODING n", int),
            ("SETRANGE n 0 5", b":4\r\n"),
            ("OBJECT ENCODING n", raw),
            ("SET n 5", b"+OK\r\n"),
            // Even a SETBIT that changes nothing unshares the value.
            ("SETBIT n 2 1", b":1\r\n"),
            ("OBJECT ENCODING n", raw),
            ("INCR cnt", b":1\r\n"),
            ("OBJECT ENCODING cnt", int),
            ("OBJECT REFCOUNT cnt", shared),
            ("INCRBYFLOAT fl 3", b"$1\r\n3\r\n"),
            ("OBJECT ENCODING fl", embstr),
            ("OBJECT ENCODING nokey", b"$-1\r\n"),
            ("OBJECT FREQ nokey", b"$-1\r\n"),
            (
                "OBJECT FREQ fl",
                b"-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n",
            ),
            (
                "OBJECT ENCODING",
                b"-ERR wrong number of arguments for 'object|encoding' command\r\n",
            ),
            (
                "OBJECT bogus x",
                b"-ERR unknown subcommand 'bogus'. Try OBJECT HELP.\r\n",
            ),
        ],
    );
    let help = c.call("OBJECT HELP");
    assert!(help.starts_with(b"*"), "{help:?}");
    for word in [
        "ENCODING <key>",
        "FREQ <key>",
        "IDLETIME <key>",
        "REFCOUNT <key>",
    ] {
        let needle = format!("+{word}\r\n");
        assert!(
            help.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "OBJECT HELP lacks {word}"
        );
    }
}

#[test]
fn object_idletime_counts_from_the_last_access() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("OBJECT IDLETIME k", b":0\r\n");
    std::thread::sleep(Duration::from_millis(2100));
    // OBJECT itself does not count as an access.
    let idle = int_reply(&c.call("OBJECT IDLETIME k"));
    assert!((2..=3).contains(&idle), "idle {idle}");
    assert!(int_reply(&c.call("OBJECT IDLETIME k")) >= 2);
    c.expect_call("GET k", b"$1\r\nv\r\n");
    c.expect_call("OBJECT IDLETIME k", b":0\r\n");
    c.expect_call("OBJECT IDLETIME nokey", b"$-1\r\n");
}

#[test]
fn memory_usage_of_strings() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    script(
        &mut c,
        &[
            ("SET i 123", b"+OK\r\n"),
            ("MEMORY USAGE i", b":48\r\n"),
            ("MEMORY USAGE i SAMPLES 5", b":48\r\n"),
            (
                "SET e44 01234567890123456789012345678901234567890123",
                b"+OK\r\n",
            ),
            ("MEMORY USAGE e44", b":96\r\n"),
            (
                "SET e45 012345678901234567890123456789012345678901234",
                b"+OK\r\n",
            ),
            ("MEMORY USAGE e45", b":112\r\n"),
            ("SETRANGE sr 5 x", b":6\r\n"),
            ("MEMORY USAGE sr", b":56\r\n"),
            ("MEMORY USAGE nokey", b"$-1\r\n"),
            ("MEMORY USAGE i SAMPLES -1", SYNTAX),
            ("MEMORY USAGE i SAMPLES", SYNTAX),
            ("MEMORY USAGE i SAMPLES x", NOT_INT),
            ("MEMORY USAGE i bogus", SYNTAX),
        ],
    );
}

/// The `__keyevent@0__:<event>` frame for `key`, as a `*4` pmessage.
fn keyevent(event: &str, key: &str) -> Vec<u8> {
    let channel = format!("__keyevent@0__:{event}");
    common::push_frame(
        false,
        &[
            b"pmessage",
            b"__keyevent@0__:*",
            channel.as_bytes(),
            key.as_bytes(),
        ],
    )
}

/// A command, its reply, and the (event, key) notifications it causes.
type Step<'a> = (&'a str, &'a [u8], &'a [(&'a str, &'a str)]);

#[test]
fn keyspace_events_match_redis() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CONFIG SET notify-keyspace-events E$g", b"+OK\r\n");
    let mut sub = srv.raw();
    sub.call("PSUBSCRIBE __keyevent@0__:*");
    let steps: &[Step] = &[
        ("SET a 1", b"+OK\r\n", &[("set", "a")]),
        ("GETEX a EX 100", b"$1\r\n1\r\n", &[("expire", "a")]),
        ("GETEX a PERSIST", b"$1\r\n1\r\n", &[("persist", "a")]),
        // No TTL to remove: nothing happens.
        ("GETEX a PERSIST", b"$1\r\n1\r\n", &[]),
        ("GETEX a", b"$1\r\n1\r\n", &[]),
        ("GETEX a PXAT 1", b"$1\r\n1\r\n", &[("del", "a")]),
        ("GETSET g 1", b"$-1\r\n", &[("set", "g")]),
        // One event per pair, even for the same key twice.
        (
            "MSETNX m1 1 m1 2",
            b":1\r\n",
            &[("set", "m1"), ("set", "m1")],
        ),
        ("MSETNX m1 1 m2 2", b":0\r\n", &[]),
        ("SETRANGE r 0 x", b":1\r\n", &[("setrange", "r")]),
        ("SETRANGE r 0 \"\"", b":1\r\n", &[]),
        ("SETBIT b 1 1", b":0\r\n", &[("setbit", "b")]),
        // The bit already has that value.
        ("SETBIT b 1 1", b":1\r\n", &[]),
        (
            "INCRBYFLOAT f 1.5",
            b"$3\r\n1.5\r\n",
            &[("incrbyfloat", "f")],
        ),
        ("LCS f r", b"$0\r\n\r\n", &[]),
    ];
    for (line, reply, events) in steps {
        script(&mut c, &[(line, reply)]);
        for (ev, key) in *events {
            sub.expect(&keyevent(ev, key));
        }
        sub.expect_nothing(Duration::from_millis(50));
    }
}

#[test]
fn bitop_combines_strings() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    script(
        &mut c,
        &[
            ("SET a foobar", b"+OK\r\n"),
            ("SET b abcdef", b"+OK\r\n"),
            ("SET c x", b"+OK\r\n"),
            ("BITOP AND d a b", b":6\r\n"),
            ("GET d", b"$6\r\n`bc`ab\r\n"),
            // Shorter sources read as zero bytes.
            ("BITOP OR d a b c", b":6\r\n"),
            ("GET d", b"$6\r\n\x7foofev\r\n"),
            ("BITOP XOR d a b c", b":6\r\n"),
            ("GET d", b"$6\r\n\x7f\r\x0c\x06\x04\x14\r\n"),
            ("BITOP NOT d a", b":6\r\n"),
            ("GET d", b"$6\r\n\x99\x90\x90\x9d\x9e\x8d\r\n"),
            ("OBJECT ENCODING d", b"$3\r\nraw\r\n"),
            (
                "BITOP NOT d a b",
                b"-ERR BITOP NOT must be called with a single source key.\r\n",
            ),
            ("BITOP bogus d a", SYNTAX),
            (
                "BITOP AND d",
                b"-ERR wrong number of arguments for 'bitop' command\r\n",
            ),
            // An empty result deletes the destination.
            ("BITOP AND d nokey nokey2", b":0\r\n"),
            ("EXISTS d", b":0\r\n"),
            // The result replaces the destination, TTL included.
            ("SET d x EX 100", b"+OK\r\n"),
            ("BITOP OR d c", b":1\r\n"),
            ("TTL d", b":-1\r\n"),
            ("BITOP AND d c nokey", b":1\r\n"),
            ("GET d", b"$1\r\n\x00\r\n"),
        ],
    );
}

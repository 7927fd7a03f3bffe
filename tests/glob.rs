//! Redis's glob rules, table-driven, through both places a server applies
//! them: `PUBSUB CHANNELS <pattern>` and PSUBSCRIBE + PUBLISH.
//!
//! Every row was confirmed against redis-server 7.0.15. Several rows pin down
//! edge cases where Redis differs from shell globbing or from glob crates
//! (`*` never matches the empty channel, `[z-a]` is a range, `[]` matches
//! nothing, `[^]` matches anything, an unterminated `[` ends the class, an
//! escaped character cannot start a range, a range end may be `]`).

mod common;

use common::bulk;

use common::{Raw, TestServer, cmd};
use std::collections::{BTreeSet, HashSet};

/// (pattern, channel, does the pattern match the channel?)
type Row = (&'static [u8], &'static [u8], bool);

const ROWS: &[Row] = &[
    // `*` matches any run of bytes, but never an empty channel.
    (b"*", b"", false),
    (b"*", b"a", true),
    (b"*", b"any thing at all", true),
    (b"**", b"ab", true),
    (b"a*", b"a", true),
    (b"a*", b"abc", true),
    (b"a*", b"ba", false),
    (b"*a", b"ba", true),
    (b"*a", b"ab", false),
    (b"a*a", b"a", false),
    (b"a*a", b"aa", true),
    (b"a*b*c", b"axxbyyc", true),
    (b"a*b*c", b"axxbyy", false),
    (b"*.*", b"news.tech", true),
    (b"*.*", b"news", false),
    // The empty pattern matches only the empty channel.
    (b"", b"", true),
    (b"", b"a", false),
    // `?` is exactly one byte.
    (b"?", b"", false),
    (b"?", b"a", true),
    (b"?", b"ab", false),
    (b"??", b"ab", true),
    (b"a?c", b"abc", true),
    (b"a?c", b"ac", false),
    (b"?*", b"x", true),
    // Classes.
    (b"[abc]", b"a", true),
    (b"[abc]", b"c", true),
    (b"[abc]", b"d", false),
    (b"[abc]", b"", false),
    (b"[abc]", b"ab", false),
    (b"[^abc]", b"d", true),
    (b"[^abc]", b"a", false),
    (b"[^abc]", b"", false),
    (b"[a-z]", b"m", true),
    (b"[a-z]", b"A", false),
    (b"[a-z]", b"-", false),
    (b"[^a-z]", b"m", false),
    (b"[^a-z]", b"5", true),
    (b"[a-cx]", b"x", true),
    (b"[a-cx]", b"d", false),
    (b"x[0-9][0-9]", b"x42", true),
    (b"x[0-9][0-9]", b"x4a", false),
    (b"h[^e]llo", b"hallo", true),
    (b"h[^e]llo", b"hello", false),
    (b"*[0-9]", b"abc7", true),
    (b"*[0-9]", b"abc", false),
    // A reversed range is the same range.
    (b"[z-a]", b"m", true),
    (b"[z-a]", b"z", true),
    (b"[z-a]", b"A", false),
    // `[]` is an empty class and matches nothing; `[^]` matches any byte.
    (b"[]", b"]", false),
    (b"[]", b"a", false),
    (b"[]a]", b"a]", false),
    (b"[^]", b"x", true),
    (b"[^]", b"]", true),
    (b"[^]", b"", false),
    (b"[^]", b"xy", false),
    (b"[^]a]", b"ba]", true),
    // `-` right before `]` makes a range that ends at `]` (0x5d..0x61).
    (b"[a-]", b"-", false),
    (b"[a-]", b"_", true),
    (b"[a-]", b"a", true),
    (b"[a-]", b"]", true),
    (b"[a-]", b"b", false),
    // `\` outside a class escapes the next byte; a trailing `\` is literal.
    (b"a\\*b", b"a*b", true),
    (b"a\\*b", b"axb", false),
    (b"\\?", b"?", true),
    (b"\\?", b"x", false),
    (b"\\[a]", b"[a]", true),
    (b"\\[a]", b"a", false),
    (b"\\\\", b"\\", true),
    (b"\\a", b"a", true),
    (b"a\\", b"a\\", true),
    (b"a\\", b"a", false),
    // `\` inside a class escapes the next byte.
    (b"[\\]]", b"]", true),
    (b"[\\]]", b"\\", false),
    (b"[\\^a]", b"^", true),
    (b"[\\^a]", b"b", false),
    (b"[a\\-z]", b"-", true),
    (b"[a\\-z]", b"z", true),
    (b"[a\\-z]", b"b", false),
    // An escaped byte cannot start a range: `[\a-z]` is {a, -, z}.
    (b"[\\a-z]", b"a", true),
    (b"[\\a-z]", b"-", true),
    (b"[\\a-z]", b"b", false),
    // A range may end at `\`; the byte after it is then a plain member:
    // `[a-\z]` is 0x5c..0x61 plus `z`.
    (b"[a-\\z]", b"z", true),
    (b"[a-\\z]", b"^", true),
    (b"[a-\\z]", b"\\", true),
    (b"[a-\\z]", b"b", false),
    // An unterminated class ends at the end of the pattern.
    (b"[abc", b"a", true),
    (b"[abc", b"d", false),
    (b"[abc", b"ab", false),
    (b"[a-z", b"m", true),
    (b"[a-", b"-", true),
    (b"[a-", b"b", false),
    (b"[\\", b"\\", true),
    (b"[\\", b"a", false),
    (b"[", b"[", false),
    (b"[", b"a", false),
    (b"a[", b"a[", false),
    (b"[^", b"x", true),
    (b"[^", b"", false),
    (b"[^", b"xy", false),
    // Binary bytes are ordinary bytes.
    (b"\x00*", b"\x00abc", true),
    (b"\x00*", b"abc", false),
    (b"*\xff", b"a\xff", true),
    (b"?", b"\xff", true),
    (b"?", b"\x00", true),
    (b"a?b", b"a\nb", true),
    (b"a?b", b"a\r\nb", false),
    (b"[\x80-\xff]", b"\xc0", true),
    (b"[\x80-\xff]", b"a", false),
    (b"[^\x00]", b"\x00", false),
    (b"[^\x00]", b"\x01", true),
    (b"\\\xff", b"\xff", true),
    (b"*\r\n*", b"x\r\ny", true),
];

/// Rows whose ranges mix bytes below and above 0x80. Redis compares class
/// bytes as C `char`, which is signed on x86-64, so `[a-\xff]` is the range
/// -1..97 after swapping the ends: it holds `A` and 0xff but not `b` or 0xc0.
/// Likewise `[\x7f-\x80]` holds every byte. This is the x86-64 reference
/// behaviour (on a platform with unsigned `char`, Redis itself would answer
/// differently).
const SIGNED_CHAR_ROWS: &[Row] = &[
    (b"[a-\xff]", b"A", true),
    (b"[a-\xff]", b"\xff", true),
    (b"[a-\xff]", b"b", false),
    (b"[a-\xff]", b"\xc0", false),
    // 0x7f..0x80 becomes -128..127 after the swap: every byte.
    (b"[\x7f-\x80]", b"\x7f", true),
    (b"[\x7f-\x80]", b"\x00", true),
    (b"[\x7f-\x80]", b"\x90", true),
];

/// Shows bytes with escapes, for failure reports.
fn esc(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// Splits an array-of-bulk-strings reply into its elements.
fn bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    let crlf = |from: usize| from + reply[from..].windows(2).position(|w| w == b"\r\n").unwrap();
    assert_eq!(reply[0], b'*', "not an array: {}", esc(reply));
    let e = crlf(0);
    let n: usize = std::str::from_utf8(&reply[1..e]).unwrap().parse().unwrap();
    let mut pos = e + 2;
    let mut out = Vec::new();
    for _ in 0..n {
        assert_eq!(reply[pos], b'$', "not a bulk: {}", esc(reply));
        let e = crlf(pos);
        let len: usize = std::str::from_utf8(&reply[pos + 1..e])
            .unwrap()
            .parse()
            .unwrap();
        out.push(reply[e + 2..e + 2 + len].to_vec());
        pos = e + 2 + len + 2;
    }
    assert_eq!(pos, reply.len(), "trailing bytes: {}", esc(reply));
    out
}

/// Checks every row through `PUBSUB CHANNELS <pattern>`: one connection
/// holds every channel of the table, and each pattern must list exactly the
/// channels its rows say it matches. Returns one line per disagreement.
fn check_with_pubsub_channels(rows: &[Row]) -> Vec<String> {
    let srv = TestServer::start();
    let mut holder = srv.raw();
    let channels: BTreeSet<&[u8]> = rows.iter().map(|r| r.1).collect();
    let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    args.extend(channels.iter().copied());
    holder.send(&cmd(&args));
    for _ in 0..channels.len() {
        holder.reply();
    }
    let mut q = srv.raw();
    let mut listed_all: HashSet<Vec<u8>> = bulks(&q.call("PUBSUB CHANNELS")).into_iter().collect();
    let all: HashSet<Vec<u8>> = channels.iter().map(|c| c.to_vec()).collect();
    assert_eq!(listed_all.len(), all.len());
    listed_all.retain(|c| !all.contains(c));
    assert!(
        listed_all.is_empty(),
        "PUBSUB CHANNELS lists extra channels"
    );

    let mut failures = Vec::new();
    for (pattern, channel, want) in rows {
        let reply = q.call_args(&[b"PUBSUB", b"CHANNELS", pattern]);
        let listed: HashSet<Vec<u8>> = bulks(&reply).into_iter().collect();
        let got = listed.contains(*channel);
        if got != *want {
            failures.push(format!(
                "PUBSUB CHANNELS {:?} vs channel {:?}: expected {want}, got {got}",
                esc(pattern),
                esc(channel)
            ));
        }
    }
    failures
}

/// Checks every row through PSUBSCRIBE + PUBLISH: the publish count and the
/// delivered `pmessage` frame must agree with the row. Returns one line per
/// disagreement.
fn check_with_psubscribe(rows: &[Row]) -> Vec<String> {
    let srv = TestServer::start();
    let mut sub = srv.raw();
    let mut publisher = srv.raw();
    let mut failures = Vec::new();
    for (i, (pattern, channel, want)) in rows.iter().enumerate() {
        let mut confirm = b"*3\r\n$10\r\npsubscribe\r\n".to_vec();
        confirm.extend(bulk(pattern));
        confirm.extend_from_slice(b":1\r\n");
        assert_eq!(
            sub.call_args(&[b"PSUBSCRIBE", pattern]),
            confirm,
            "PSUBSCRIBE {}",
            esc(pattern)
        );
        let payload = format!("row {i}");
        let count = publisher.call_args(&[b"PUBLISH", channel, payload.as_bytes()]);
        let want_count: &[u8] = if *want { b":1\r\n" } else { b":0\r\n" };
        if count != want_count {
            failures.push(format!(
                "PSUBSCRIBE {:?} + PUBLISH {:?}: expected {}, got {}",
                esc(pattern),
                esc(channel),
                esc(want_count),
                esc(&count)
            ));
        }
        if count == b":1\r\n" {
            let mut frame = b"*4\r\n$8\r\npmessage\r\n".to_vec();
            frame.extend(bulk(pattern));
            frame.extend(bulk(channel));
            frame.extend(bulk(payload.as_bytes()));
            let got = sub.reply();
            assert_eq!(esc(&got), esc(&frame), "pmessage for row {i}");
        }
        let mut unconfirm = b"*3\r\n$12\r\npunsubscribe\r\n".to_vec();
        unconfirm.extend(bulk(pattern));
        unconfirm.extend_from_slice(b":0\r\n");
        assert_eq!(
            esc(&sub.call_args(&[b"PUNSUBSCRIBE", pattern])),
            esc(&unconfirm)
        );
    }
    failures
}

/// Fails the test with every disagreement listed at once.
fn report(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} glob rows disagree with Redis:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn pubsub_channels_pattern_follows_redis_glob_rules() {
    report(check_with_pubsub_channels(ROWS));
}

#[test]
fn psubscribe_follows_redis_glob_rules() {
    report(check_with_psubscribe(ROWS));
}

#[test]
fn class_ranges_mixing_high_and_low_bytes_compare_as_signed_char() {
    let mut failures = check_with_pubsub_channels(SIGNED_CHAR_ROWS);
    failures.extend(check_with_psubscribe(SIGNED_CHAR_ROWS));
    report(failures);
}

#[test]
fn pubsub_channels_without_pattern_lists_the_empty_channel_but_star_does_not() {
    let srv = TestServer::start();
    let mut holder = srv.raw();
    holder.send(&cmd(&[b"SUBSCRIBE", b"", b"x"]));
    holder.reply();
    holder.reply();
    let mut q: Raw = srv.raw();
    let mut all = bulks(&q.call("PUBSUB CHANNELS"));
    all.sort();
    assert_eq!(all, vec![b"".to_vec(), b"x".to_vec()]);
    assert_eq!(q.call("PUBSUB CHANNELS *"), b"*1\r\n$1\r\nx\r\n");
    // An explicitly empty pattern lists only the empty channel.
    assert_eq!(
        q.call_args(&[b"PUBSUB", b"CHANNELS", b""]),
        b"*1\r\n$0\r\n\r\n"
    );
}

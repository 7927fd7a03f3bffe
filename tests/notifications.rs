//! Keyspace notifications: the `notify-keyspace-events` setting and the
//! exact `__keyspace@<db>__:<key>` / `__keyevent@<db>__:<event>` messages
//! that string commands and expiry publish.
//!
//! Every expected byte string here was first checked against redis-server
//! 7.0.15 (`PUBSUBD_TEST_BIN=$(which redis-server)`), which is the reference.
//! The subscriber is always a separate connection from the client that
//! writes, so reply/push ordering on one connection never matters here.

mod common;

use common::show;

use common::{Raw, TestServer, message};
use std::time::Duration;

/// The pattern the catch-all subscriber listens on.
const ALL: &[u8] = b"__key*__:*";

/// How long "nothing else arrives" is watched for.
const QUIET: Duration = Duration::from_millis(100);

/// A `pmessage` frame for the catch-all pattern.
fn pmessage(resp3: bool, channel: &[u8], payload: &[u8]) -> Vec<u8> {
    common::push_frame(resp3, &[b"pmessage", ALL, channel, payload])
}

/// One notification: `Space(db, key, event)` goes to `__keyspace@db__:key`
/// with the event as payload; `Event(db, event, key)` goes to
/// `__keyevent@db__:event` with the key as payload.
enum N<'a> {
    Space(u32, &'a str, &'a str),
    Event(u32, &'a str, &'a str),
}

impl N<'_> {
    /// The (channel, payload) this notification is published as.
    fn parts(&self) -> (Vec<u8>, Vec<u8>) {
        match self {
            N::Space(db, key, ev) => (
                format!("__keyspace@{db}__:{key}").into_bytes(),
                ev.as_bytes().to_vec(),
            ),
            N::Event(db, ev, key) => (
                format!("__keyevent@{db}__:{ev}").into_bytes(),
                key.as_bytes().to_vec(),
            ),
        }
    }
}

/// Both notifications (keyspace first, then keyevent) for `event` on `key`.
fn both<'a>(db: u32, key: &'a str, event: &'a str) -> [N<'a>; 2] {
    [N::Space(db, key, event), N::Event(db, event, key)]
}

/// Sets `notify-keyspace-events` through `c`.
fn set_flags(c: &mut Raw, flags: &str) {
    let got = c.call_args(&[
        b"CONFIG",
        b"SET",
        b"notify-keyspace-events",
        flags.as_bytes(),
    ]);
    assert_eq!(
        show(&got),
        "+OK\r\n",
        "CONFIG SET notify-keyspace-events {flags:?}"
    );
}

/// A new connection subscribed to every keyspace and keyevent channel.
fn catch_all(srv: &TestServer) -> Raw {
    let mut sub = srv.raw();
    sub.expect_call(
        "PSUBSCRIBE __key*__:*",
        b"*3\r\n$10\r\npsubscribe\r\n$10\r\n__key*__:*\r\n:1\r\n",
    );
    sub
}

/// Asserts the catch-all subscriber receives exactly `events`, in order.
fn expect_events(sub: &mut Raw, events: &[N]) {
    for n in events {
        let (ch, payload) = n.parts();
        let want = pmessage(false, &ch, &payload);
        let got = sub.reply();
        assert_eq!(show(&got), show(&want));
    }
}

/// The value `CONFIG GET notify-keyspace-events` reports.
fn flags_read_back(c: &mut Raw) -> String {
    let got = c.call("CONFIG GET notify-keyspace-events");
    let text = show(&got);
    let prefix = "*2\r\n$22\r\nnotify-keyspace-events\r\n$";
    assert!(text.starts_with(prefix), "{text:?}");
    let rest = &text[prefix.len()..];
    let (len, value) = rest.split_once("\r\n").expect("bulk header");
    let len: usize = len.parse().expect("bulk length");
    assert_eq!(value.len(), len + 2, "{text:?}");
    value[..len].to_string()
}

// ---------------------------------------------------------------- the setting

#[test]
fn flags_are_normalised_on_read_back() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(flags_read_back(&mut c), "");
    // Type classes come first in the order g$lshzxetdn, then K, E, m; a
    // full set of type classes reads back as A.
    for (set, get) in [
        ("KEA", "AKE"),
        ("AKE", "AKE"),
        ("Kx$", "$xK"),
        ("E", "E"),
        ("Eg", "gE"),
        ("gK$E", "g$KE"),
        ("xe", "xe"),
        ("KEt", "tKE"),
        ("KEd", "dKE"),
        ("KEz", "zKE"),
        ("KEm", "KEm"),
        ("KEn", "nKE"),
        ("n", "n"),
        ("KK", "K"),
        ("A", "A"),
        ("AK", "AK"),
        ("KEg$lshzxetdmn", "AKEm"),
        // A does not include n, and Redis 7 drops n from the text once A
        // is shown.
        ("KEAn", "AKE"),
        ("", ""),
    ] {
        set_flags(&mut c, set);
        assert_eq!(flags_read_back(&mut c), get, "after setting {set:?}");
    }
}

#[test]
fn invalid_class_letters_are_rejected() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_flags(&mut c, "KEx");
    let err = b"-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n";
    for bad in ["Q", "kea", "KE x", "KE1"] {
        let got = c.call_args(&[b"CONFIG", b"SET", b"notify-keyspace-events", bad.as_bytes()]);
        assert_eq!(show(&got), show(err), "setting {bad:?}");
    }
    // The old value stays.
    assert_eq!(flags_read_back(&mut c), "xKE");
}

#[test]
fn nothing_is_published_when_off() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut sub = catch_all(&srv);
    // Off by default.
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("SET e v PX 50", b"+OK\r\n");
    c.expect_call("DEL k", b":1\r\n");
    sub.expect_nothing(Duration::from_millis(250));
    // Switched on, then off again.
    set_flags(&mut c, "KEA");
    c.expect_call("SET k v", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "k", "set"));
    set_flags(&mut c, "");
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("INCR n", b":1\r\n");
    sub.expect_nothing(QUIET);
    // Classes without K or E select nothing to publish.
    set_flags(&mut c, "A");
    c.expect_call("SET k v", b"+OK\r\n");
    sub.expect_nothing(QUIET);
    // K or E without a class selects nothing either.
    set_flags(&mut c, "KE");
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("DEL k", b":1\r\n");
    sub.expect_nothing(QUIET);
}

// ---------------------------------------------------------------- events

#[test]
fn set_and_del_on_exact_channels() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_flags(&mut c, "KEA");
    let mut sub = srv.raw();
    sub.send(&common::cmds(
        "SUBSCRIBE __keyspace@0__:k __keyevent@0__:set __keyevent@0__:del",
    ));
    sub.expect(b"*3\r\n$9\r\nsubscribe\r\n$16\r\n__keyspace@0__:k\r\n:1\r\n");
    sub.expect(b"*3\r\n$9\r\nsubscribe\r\n$18\r\n__keyevent@0__:set\r\n:2\r\n");
    sub.expect(b"*3\r\n$9\r\nsubscribe\r\n$18\r\n__keyevent@0__:del\r\n:3\r\n");
    c.expect_call("SET k v", b"+OK\r\n");
    sub.expect(&message(false, b"__keyspace@0__:k", b"set"));
    sub.expect(&message(false, b"__keyevent@0__:set", b"k"));
    c.expect_call("SET other v", b"+OK\r\n");
    sub.expect(&message(false, b"__keyevent@0__:set", b"other"));
    c.expect_call("DEL k other", b":2\r\n");
    sub.expect(&message(false, b"__keyspace@0__:k", b"del"));
    sub.expect(&message(false, b"__keyevent@0__:del", b"k"));
    sub.expect(&message(false, b"__keyevent@0__:del", b"other"));
    sub.expect_nothing(QUIET);
}

#[test]
fn writes_that_change_nothing_publish_nothing() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_flags(&mut c, "KEA");
    c.expect_call("SET k v", b"+OK\r\n");
    let mut sub = catch_all(&srv);
    c.expect_call("SET k v2 NX", b"$-1\r\n");
    c.expect_call("SET nope v XX", b"$-1\r\n");
    c.expect_call("SETNX k v", b":0\r\n");
    c.expect_call("DEL nope", b":0\r\n");
    c.expect_call("GETDEL nope", b"$-1\r\n");
    c.expect_call("PERSIST k", b":0\r\n");
    c.expect_call("EXPIRE nope 10", b":0\r\n");
    c.expect_call("EXPIRE k 10 XX", b":0\r\n");
    c.expect_call("RENAME nope x", b"-ERR no such key\r\n");
    c.expect_call("RENAME k k", b"+OK\r\n");
    c.expect_call("GET k", b"$1\r\nv\r\n");
    c.expect_call(
        "INCR k",
        b"-ERR value is not an integer or out of range\r\n",
    );
    c.expect_call(
        "SET k v EX 0",
        b"-ERR invalid expire time in 'set' command\r\n",
    );
    sub.expect_nothing(QUIET);
}

#[test]
fn set_variants_publish_set_and_expire() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_flags(&mut c, "KEA");
    let mut sub = catch_all(&srv);
    c.expect_call("SET k v EX 100", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "k", "set"));
    expect_events(&mut sub, &both(0, "k", "expire"));
    c.expect_call("SET k v2 KEEPTTL", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "k", "set"));
    c.expect_call("SET k v3 XX GET", b"$2\r\nv2\r\n");
    expect_events(&mut sub, &both(0, "k", "set"));
    c.expect_call("SETEX a 10 v", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "a", "set"));
    expect_events(&mut sub, &both(0, "a", "expire"));
    c.expect_call("PSETEX b 10000 v", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "b", "set"));
    expect_events(&mut sub, &both(0, "b", "expire"));
    c.expect_call("SETNX n v", b":1\r\n");
    expect_events(&mut sub, &both(0, "n", "set"));
    c.expect_call("MSET x 1 y 2", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "x", "set"));
    expect_events(&mut sub, &both(0, "y", "set"));
    sub.expect_nothing(QUIET);
}

#[test]
fn expire_and_persist_events() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_flags(&mut c, "KEA");
    c.expect_call("SET k v", b"+OK\r\n");
    let mut sub = catch_all(&srv);
    c.expect_call("EXPIRE k 100", b":1\r\n");
    expect_events(&mut sub, &both(0, "k", "expire"));
    c.expect_call("PEXPIRE k 50000 LT", b":1\r\n");
    expect_events(&mut sub, &both(0, "k", "expire"));
    c.expect_call("PERSIST k", b":1\r\n");
    expect_events(&mut sub, &both(0, "k", "persist"));
    // A deadline already passed deletes the key: a del, not an expire.
    c.expect_call("EXPIRE k 0", b":1\r\n");
    expect_events(&mut sub, &both(0, "k", "del"));
    c.expect_call("SET k v", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "k", "set"));
    c.expect_call("EXPIREAT k 1", b":1\r\n");
    expect_events(&mut sub, &both(0, "k", "del"));
    sub.expect_nothing(QUIET);
}

#[test]
fn counters_and_append() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_flags(&mut c, "KEA");
    let mut sub = catch_all(&srv);
    // Every INCR/DECR variant publishes "incrby".
    for line in ["INCR n", "INCRBY n 5", "DECR n", "DECRBY n 2"] {
        c.call(line);
        expect_events(&mut sub, &both(0, "n", "incrby"));
    }
    c.expect_call("GET n", b"$1\r\n3\r\n");
    c.expect_call("APPEND n x", b":2\r\n");
    expect_events(&mut sub, &both(0, "n", "append"));
    c.expect_call("APPEND fresh x", b":1\r\n");
    expect_events(&mut sub, &both(0, "fresh", "append"));
    sub.expect_nothing(QUIET);
}

#[test]
fn rename_getdel_unlink() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_flags(&mut c, "KEA");
    c.expect_call("MSET n 1 m 2 a 3 b 4", b"+OK\r\n");
    let mut sub = catch_all(&srv);
    c.expect_call("RENAME n m", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "n", "rename_from"));
    expect_events(&mut sub, &both(0, "m", "rename_to"));
    c.expect_call("GETDEL m", b"$1\r\n1\r\n");
    expect_events(&mut sub, &both(0, "m", "del"));
    c.expect_call("UNLINK a nope b", b":2\r\n");
    expect_events(&mut sub, &both(0, "a", "del"));
    expect_events(&mut sub, &both(0, "b", "del"));
    sub.expect_nothing(QUIET);
}

#[test]
fn lazy_expiry_publishes_expired() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_flags(&mut c, "KEA");
    let mut sub = catch_all(&srv);
    c.expect_call("SET k v PX 100", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "k", "set"));
    expect_events(&mut sub, &both(0, "k", "expire"));
    std::thread::sleep(Duration::from_millis(150));
    // The read (or the active cycle, if it came first) removes the key,
    // and "expired" is published exactly once.
    c.expect_call("GET k", b"$-1\r\n");
    expect_events(&mut sub, &both(0, "k", "expired"));
    c.expect_call("GET k", b"$-1\r\n");
    sub.expect_nothing(QUIET);
}

#[test]
fn active_expiry_publishes_expired() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_flags(&mut c, "Ex");
    let mut sub = catch_all(&srv);
    c.expect_call("SET k v PX 100", b"+OK\r\n");
    c.expect_call("PSETEX j 150 v", b"+OK\r\n");
    // Nobody touches the keys; the server expires them on its own, in
    // whatever order one sweep finds them.
    let mut got = [sub.reply(), sub.reply()];
    got.sort();
    let mut want = [
        pmessage(false, b"__keyevent@0__:expired", b"j"),
        pmessage(false, b"__keyevent@0__:expired", b"k"),
    ];
    want.sort();
    assert_eq!(
        got.iter().map(|g| show(g)).collect::<Vec<_>>(),
        want.iter().map(|w| show(w)).collect::<Vec<_>>()
    );
    sub.expect_nothing(QUIET);
    c.expect_call("DBSIZE", b":0\r\n");
}

#[test]
fn channel_names_carry_the_database_number() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_flags(&mut c, "KEA");
    let mut sub = catch_all(&srv);
    c.expect_call("SELECT 2", b"+OK\r\n");
    c.expect_call("SET k v", b"+OK\r\n");
    expect_events(&mut sub, &both(2, "k", "set"));
    c.expect_call("SELECT 15", b"+OK\r\n");
    c.expect_call("INCR k", b":1\r\n");
    expect_events(&mut sub, &both(15, "k", "incrby"));
    c.expect_call("SET e v PX 50", b"+OK\r\n");
    expect_events(&mut sub, &both(15, "e", "set"));
    expect_events(&mut sub, &both(15, "e", "expire"));
    expect_events(&mut sub, &both(15, "e", "expired"));
    // A subscriber to one database's channel hears only that database.
    let mut db2 = srv.raw();
    db2.expect_call(
        "SUBSCRIBE __keyevent@2__:del",
        b"*3\r\n$9\r\nsubscribe\r\n$18\r\n__keyevent@2__:del\r\n:1\r\n",
    );
    c.expect_call("DEL k", b":1\r\n");
    expect_events(&mut sub, &both(15, "k", "del"));
    db2.expect_nothing(QUIET);
    c.expect_call("SELECT 2", b"+OK\r\n");
    c.expect_call("DEL k", b":1\r\n");
    db2.expect(&message(false, b"__keyevent@2__:del", b"k"));
    expect_events(&mut sub, &both(2, "k", "del"));
    sub.expect_nothing(QUIET);
}

#[test]
fn class_letters_select_what_is_published() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut sub = catch_all(&srv);

    // Keyspace channel only, string commands only.
    set_flags(&mut c, "K$");
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("EXPIRE k 100", b":1\r\n");
    c.expect_call("DEL k", b":1\r\n");
    c.expect_call("INCR n", b":1\r\n");
    expect_events(
        &mut sub,
        &[N::Space(0, "k", "set"), N::Space(0, "n", "incrby")],
    );
    sub.expect_nothing(QUIET);

    // Keyevent channel only, generic commands only.
    set_flags(&mut c, "Eg");
    c.expect_call("SET k v", b"+OK\r\n");
    c.expect_call("EXPIRE k 100", b":1\r\n");
    c.expect_call("PERSIST k", b":1\r\n");
    c.expect_call("RENAME k r", b"+OK\r\n");
    c.expect_call("DEL r", b":1\r\n");
    c.expect_call("APPEND a x", b":1\r\n");
    expect_events(
        &mut sub,
        &[
            N::Event(0, "expire", "k"),
            N::Event(0, "persist", "k"),
            N::Event(0, "rename_from", "k"),
            N::Event(0, "rename_to", "r"),
            N::Event(0, "del", "r"),
        ],
    );
    sub.expect_nothing(QUIET);

    // Only expiry: "expired" but not "expire" (that one is generic).
    set_flags(&mut c, "Kx");
    c.expect_call("SET e v PX 50", b"+OK\r\n");
    expect_events(&mut sub, &[N::Space(0, "e", "expired")]);
    sub.expect_nothing(QUIET);

    // Evictions only: nothing here evicts.
    set_flags(&mut c, "KEe");
    c.expect_call("SET e v PX 50", b"+OK\r\n");
    c.expect_call("DEL a", b":1\r\n");
    sub.expect_nothing(Duration::from_millis(250));
}

#[test]
fn new_key_class() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut sub = catch_all(&srv);
    set_flags(&mut c, "En");
    c.expect_call("SET k v", b"+OK\r\n");
    expect_events(&mut sub, &[N::Event(0, "new", "k")]);
    // Overwriting is not new.
    c.expect_call("SET k v2", b"+OK\r\n");
    c.expect_call("DEL k", b":1\r\n");
    c.expect_call("INCR n", b":1\r\n");
    expect_events(&mut sub, &[N::Event(0, "new", "n")]);
    c.expect_call("MSET a 1 b 2 n 3", b"+OK\r\n");
    expect_events(
        &mut sub,
        &[N::Event(0, "new", "a"), N::Event(0, "new", "b")],
    );
    sub.expect_nothing(QUIET);

    // With everything on, "new" comes before the command's own event, and
    // a rename creates its destination before renaming.
    set_flags(&mut c, "KEAn");
    c.expect_call("SET x 1", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "x", "new"));
    expect_events(&mut sub, &both(0, "x", "set"));
    c.expect_call("RENAME x y", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "y", "new"));
    expect_events(&mut sub, &both(0, "x", "rename_from"));
    expect_events(&mut sub, &both(0, "y", "rename_to"));
    c.expect_call("APPEND z a", b":1\r\n");
    expect_events(&mut sub, &both(0, "z", "new"));
    expect_events(&mut sub, &both(0, "z", "append"));
    c.expect_call("SETEX w 10 v", b"+OK\r\n");
    expect_events(&mut sub, &both(0, "w", "new"));
    expect_events(&mut sub, &both(0, "w", "set"));
    expect_events(&mut sub, &both(0, "w", "expire"));
    sub.expect_nothing(QUIET);
}

#[test]
fn resp3_subscribers_get_pushes() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_flags(&mut c, "KEA");
    let mut sub = srv.raw();
    let hello = sub.call("HELLO 3");
    assert!(hello.starts_with(b"%"), "{:?}", show(&hello));
    sub.expect_call(
        "PSUBSCRIBE __key*__:*",
        b">3\r\n$10\r\npsubscribe\r\n$10\r\n__key*__:*\r\n:1\r\n",
    );
    sub.expect_call(
        "SUBSCRIBE __keyevent@0__:del",
        b">3\r\n$9\r\nsubscribe\r\n$18\r\n__keyevent@0__:del\r\n:2\r\n",
    );
    c.expect_call("SET k v", b"+OK\r\n");
    sub.expect(&pmessage(true, b"__keyspace@0__:k", b"set"));
    sub.expect(&pmessage(true, b"__keyevent@0__:set", b"k"));
    c.expect_call("DEL k", b":1\r\n");
    sub.expect(&pmessage(true, b"__keyspace@0__:k", b"del"));
    // The exact subscription and the pattern both match the keyevent channel.
    sub.expect(&message(true, b"__keyevent@0__:del", b"k"));
    sub.expect(&pmessage(true, b"__keyevent@0__:del", b"k"));
    sub.expect_nothing(QUIET);
}

//! Connection and admin commands (CLIENT, SELECT, TIME, INFO, COMMAND, RESET,
//! SHUTDOWN, ...) and the errors the command table produces.
//!
//! Every expected byte string here was first checked against redis-server 7.0.15.

mod common;

use common::expect_args;

use common::{Raw, TestServer, cmd, info_field};
use std::time::{Duration, Instant};

/// CLIENT LIST / CLIENT INFO fields, in order, as Redis 7.0 prints them.
const CLIENT_FIELDS_70: &[&str] = &[
    "id",
    "addr",
    "laddr",
    "fd",
    "name",
    "age",
    "idle",
    "flags",
    "db",
    "sub",
    "psub",
    "ssub",
    "multi",
    "qbuf",
    "qbuf-free",
    "argv-mem",
    "multi-mem",
    "rbs",
    "rbp",
    "obl",
    "oll",
    "omem",
    "tot-mem",
    "events",
    "cmd",
    "user",
    "redir",
    "resp",
];

/// The payload of a RESP2 bulk string reply, as text.
fn bulk_text(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    assert!(text.starts_with('$'), "not a bulk: {text:?}");
    let eol = text.find("\r\n").expect("eol");
    let len: usize = text[1..eol].parse().expect("bulk length");
    let body = &text[eol + 2..];
    assert_eq!(body.len(), len + 2, "bulk length mismatch in {text:?}");
    body[..len].to_string()
}

/// The value of a RESP2 integer reply.
fn int_reply(reply: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(reply);
    assert!(
        text.starts_with(':') && text.ends_with("\r\n"),
        "not an integer: {text:?}"
    );
    text[1..text.len() - 2].parse().expect("integer")
}

/// This connection's id.
fn client_id(c: &mut Raw) -> i64 {
    int_reply(&c.call("CLIENT ID"))
}

/// Splits one CLIENT LIST line into (field, value) pairs.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split(' ')
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("bad field {kv:?} in {line:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The value of `field` in a CLIENT LIST line.
fn field(line: &str, name: &str) -> String {
    fields(line)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
}

/// CLIENT LIST as lines.
fn client_list(c: &mut Raw) -> Vec<String> {
    let text = bulk_text(&c.call("CLIENT LIST"));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "CLIENT LIST must end with \\n: {text:?}"
    );
    text.lines().map(str::to_string).collect()
}

/// The CLIENT LIST line of the client with `id`.
fn line_of(c: &mut Raw, id: i64) -> String {
    client_list(c)
        .into_iter()
        .find(|l| field(l, "id") == id.to_string())
        .unwrap_or_else(|| panic!("client {id} not listed"))
}

/// Waits (bounded) until CLIENT LIST shows exactly `n` clients, so that the
/// harness's readiness probe or a just-killed client has gone.
fn wait_for_clients(c: &mut Raw, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let list = client_list(c);
        if list.len() == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} clients, have {list:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The field names expected in a CLIENT LIST line from the server under test.
fn expected_client_fields() -> Vec<&'static str> {
    let mut f = CLIENT_FIELDS_70.to_vec();
    if !common::is_reference() {
        // pubsubd uses the 7.2 layout, which appends these two.
        f.extend(["lib-name", "lib-ver"]);
    }
    f
}

// ---------------------------------------------------------------- command table

#[test]
fn unknown_command_exact_text() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "FOO a b",
        b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
    );
    c.expect_call(
        "FOO",
        b"-ERR unknown command 'FOO', with args beginning with: \r\n",
    );
    // The name keeps the case it was sent in.
    c.expect_call(
        "fOo x",
        b"-ERR unknown command 'fOo', with args beginning with: 'x' \r\n",
    );
    c.send(b"NOPE 1 2 3\r\n");
    c.expect(b"-ERR unknown command 'NOPE', with args beginning with: '1' '2' '3' \r\n");
    // Not a protocol error: the connection stays.
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn unknown_command_truncates_long_names_and_arguments() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    // The argument list is cut at 128 bytes of quoted text.
    let x200 = "x".repeat(200);
    let got = c.call_args(&[b"FOO", x200.as_bytes(), b"yyyy"]);
    let want = format!(
        "-ERR unknown command 'FOO', with args beginning with: '{}' \r\n",
        "x".repeat(128)
    );
    assert_eq!(String::from_utf8_lossy(&got), want);

    let (a, b, d) = ("a".repeat(50), "b".repeat(50), "c".repeat(50));
    let got = c.call_args(&[b"FOO", a.as_bytes(), b.as_bytes(), d.as_bytes(), b"more"]);
    let want = format!(
        "-ERR unknown command 'FOO', with args beginning with: '{a}' '{b}' '{}' \r\n",
        "c".repeat(22)
    );
    assert_eq!(String::from_utf8_lossy(&got), want);

    // Short arguments are all shown while under the cap.
    c.expect_call(
        "FOO a b c d e f g h i j k l m n o p",
        b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' 'c' 'd' 'e' 'f' 'g' 'h' 'i' 'j' 'k' 'l' 'm' 'n' 'o' 'p' \r\n",
    );

    // The command name is cut at 128 bytes.
    let z300 = "Z".repeat(300);
    let got = c.call_args(&[z300.as_bytes()]);
    let want = format!(
        "-ERR unknown command '{}', with args beginning with: \r\n",
        "Z".repeat(128)
    );
    assert_eq!(String::from_utf8_lossy(&got), want);
}

#[test]
fn unknown_command_error_has_no_line_breaks() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    expect_args(
        &mut c,
        &[b"FOO", b"a\r\nb"],
        b"-ERR unknown command 'FOO', with args beginning with: 'a  b' \r\n",
    );
    expect_args(
        &mut c,
        &[b"F\r\nO", b"x"],
        b"-ERR unknown command 'F  O', with args beginning with: 'x' \r\n",
    );
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn wrong_number_of_arguments() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "ECHO",
        b"-ERR wrong number of arguments for 'echo' command\r\n",
    );
    c.expect_call(
        "echo a b",
        b"-ERR wrong number of arguments for 'echo' command\r\n",
    );
    c.expect_call(
        "ECHO a b c",
        b"-ERR wrong number of arguments for 'echo' command\r\n",
    );
    c.expect_call(
        "SELECT",
        b"-ERR wrong number of arguments for 'select' command\r\n",
    );
    c.expect_call(
        "CLIENT",
        b"-ERR wrong number of arguments for 'client' command\r\n",
    );
    c.expect_call(
        "CLIENT SETNAME x y",
        b"-ERR wrong number of arguments for 'client|setname' command\r\n",
    );
    c.expect_call(
        "CLIENT NO-EVICT",
        b"-ERR wrong number of arguments for 'client|no-evict' command\r\n",
    );
    c.expect_call(
        "CONFIG GET",
        b"-ERR wrong number of arguments for 'config|get' command\r\n",
    );
    c.expect_call(
        "CONFIG RESETSTAT x",
        b"-ERR wrong number of arguments for 'config|resetstat' command\r\n",
    );
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn unknown_subcommand_exact_text() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "CLIENT FOO",
        b"-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n",
    );
    c.expect_call(
        "client foo",
        b"-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n",
    );
    c.expect_call(
        "CONFIG FOO",
        b"-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n",
    );
    c.expect_call(
        "COMMAND FOO",
        b"-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n",
    );
}

// ---------------------------------------------------------------- simple commands

#[test]
fn select_accepts_0_to_15_only() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    for db in 0..16 {
        c.expect_call(&format!("SELECT {db}"), b"+OK\r\n");
    }
    c.expect_call("SELECT 16", b"-ERR DB index is out of range\r\n");
    c.expect_call("SELECT -1", b"-ERR DB index is out of range\r\n");
    c.expect_call(
        "SELECT x",
        b"-ERR value is not an integer or out of range\r\n",
    );
    c.expect_call(
        "SELECT 1.5",
        b"-ERR value is not an integer or out of range\r\n",
    );
    // The selected database shows in CLIENT INFO.
    c.expect_call("SELECT 7", b"+OK\r\n");
    assert_eq!(
        field(bulk_text(&c.call("CLIENT INFO")).trim_end(), "db"),
        "7"
    );
}

#[test]
fn time_is_seconds_and_microseconds() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let r = String::from_utf8(c.call("TIME")).unwrap();
    let parts: Vec<&str> = r.split("\r\n").collect();
    // *2, $len, secs, $len, usecs, ""
    assert_eq!(parts.len(), 6, "{r:?}");
    assert_eq!(parts[0], "*2");
    assert_eq!(parts[1], format!("${}", parts[2].len()));
    assert_eq!(parts[3], format!("${}", parts[4].len()));
    let secs: u64 = parts[2].parse().unwrap();
    let usecs: u64 = parts[4].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 5, "server time {secs} vs {now}");
    assert!(usecs < 1_000_000);
}

#[test]
fn dbsize_and_flush() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("DBSIZE", b":0\r\n");
    c.expect_call("FLUSHDB", b"+OK\r\n");
    c.expect_call("FLUSHALL", b"+OK\r\n");
    c.expect_call("FLUSHALL ASYNC", b"+OK\r\n");
    c.expect_call("FLUSHDB SYNC", b"+OK\r\n");
    c.expect_call("FLUSHDB x", b"-ERR syntax error\r\n");
    c.expect_call("DBSIZE", b":0\r\n");
}

#[test]
fn cluster_and_sentinel_are_errors() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "CLUSTER NODES",
        b"-ERR This instance has cluster support disabled\r\n",
    );
    c.expect_call(
        "CLUSTER INFO",
        b"-ERR This instance has cluster support disabled\r\n",
    );
    let r = c.call("SENTINEL MASTERS");
    assert!(
        r.starts_with(b"-ERR "),
        "SENTINEL MASTERS must be an error: {:?}",
        String::from_utf8_lossy(&r)
    );
    c.expect_call("PING", b"+PONG\r\n");
}

// ---------------------------------------------------------------- CLIENT

#[test]
fn client_ids_are_unique_and_increasing() {
    let srv = TestServer::start();
    let mut a = srv.raw();
    let mut b = srv.raw();
    let ia = client_id(&mut a);
    let ib = client_id(&mut b);
    assert!(ia > 0 && ib > ia, "ids {ia} {ib}");
    assert_eq!(client_id(&mut a), ia, "id is stable");
}

#[test]
fn client_setname_and_getname() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CLIENT GETNAME", b"$-1\r\n");
    c.expect_call("CLIENT SETNAME my-conn.1", b"+OK\r\n");
    c.expect_call("CLIENT GETNAME", b"$9\r\nmy-conn.1\r\n");
    let bad = b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n";
    expect_args(&mut c, &[b"CLIENT", b"SETNAME", b"a b"], bad);
    expect_args(&mut c, &[b"CLIENT", b"SETNAME", b"a\nb"], bad);
    expect_args(&mut c, &[b"CLIENT", b"SETNAME", b"\x01"], bad);
    // The failed attempts left the old name.
    c.expect_call("CLIENT GETNAME", b"$9\r\nmy-conn.1\r\n");
    // An empty name clears it.
    expect_args(&mut c, &[b"CLIENT", b"SETNAME", b""], b"+OK\r\n");
    c.expect_call("CLIENT GETNAME", b"$-1\r\n");
}

#[test]
fn client_reply_off_on_skip() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(&cmd(&[b"CLIENT", b"REPLY", b"OFF"]));
    c.send(&cmd(&[b"PING"]));
    c.send(&cmd(&[b"ECHO", b"hidden"]));
    c.expect_nothing(Duration::from_millis(300));
    c.expect_call("CLIENT REPLY ON", b"+OK\r\n");
    c.expect_call("PING", b"+PONG\r\n");
    // SKIP silences itself and the next command only.
    c.send(&cmd(&[b"CLIENT", b"REPLY", b"SKIP"]));
    c.send(&cmd(&[b"PING"]));
    c.send(&cmd(&[b"ECHO", b"shown"]));
    c.expect(b"$5\r\nshown\r\n");
    c.expect_call("CLIENT REPLY maybe", b"-ERR syntax error\r\n");
    // ON always answers, even right after SKIP.
    c.send(&cmd(&[b"CLIENT", b"REPLY", b"SKIP"]));
    c.expect_call("CLIENT REPLY ON", b"+OK\r\n");
    // Errors are silenced too while OFF.
    c.send(&cmd(&[b"CLIENT", b"REPLY", b"OFF"]));
    c.send(&cmd(&[b"NOSUCHCOMMAND"]));
    c.expect_nothing(Duration::from_millis(200));
    c.expect_call("CLIENT REPLY ON", b"+OK\r\n");
}

#[test]
fn client_list_fields_in_order() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CLIENT SETNAME lister", b"+OK\r\n");
    let id = client_id(&mut c);
    let line = line_of(&mut c, id);
    let names: Vec<String> = fields(&line).into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, expected_client_fields(), "line {line:?}");
    assert_eq!(field(&line, "name"), "lister");
    assert_eq!(
        field(&line, "addr"),
        c.stream.local_addr().unwrap().to_string()
    );
    assert_eq!(field(&line, "laddr"), srv.addr());
    assert_eq!(field(&line, "flags"), "N");
    assert_eq!(field(&line, "db"), "0");
    assert_eq!(field(&line, "sub"), "0");
    assert_eq!(field(&line, "psub"), "0");
    assert_eq!(field(&line, "ssub"), "0");
    assert_eq!(field(&line, "multi"), "-1");
    assert_eq!(field(&line, "omem"), "0");
    assert_eq!(field(&line, "cmd"), "client|list");
    assert_eq!(field(&line, "user"), "default");
    assert_eq!(field(&line, "resp"), "2");
    if !common::is_reference() {
        assert_eq!(field(&line, "lib-name"), "");
        assert_eq!(field(&line, "lib-ver"), "");
    }
    // An unnamed client shows `name=`.
    let mut other = srv.raw();
    let oid = client_id(&mut other);
    assert_eq!(field(&line_of(&mut c, oid), "name"), "");
    // resp=3 after HELLO 3.
    other.call("HELLO 3");
    let line = line_of(&mut c, oid);
    assert_eq!(field(&line, "resp"), "3");
    // `cmd=` follows each client's own last command, subcommands as
    // `container|sub`.
    assert_eq!(field(&line, "cmd"), "hello");
    other.call("PUBLISH ch x");
    assert_eq!(field(&line_of(&mut c, oid), "cmd"), "publish");
    other.call("CONFIG GET maxclients");
    assert_eq!(field(&line_of(&mut c, oid), "cmd"), "config|get");
}

/// Once a client has read a reply, that reply no longer counts in its own
/// `omem` (the writer lowers the count before the bytes can reach the peer).
/// A race here failed CI once, in about 1 of 2,500 round trips; 3,000 round
/// trips make a regression show.
#[test]
fn own_reply_read_is_not_in_omem() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    for i in 0..3000 {
        client_id(&mut c);
        let info = bulk_text(&c.call("CLIENT INFO"));
        assert_eq!(field(info.trim_end(), "omem"), "0", "round trip {i}");
    }
}

#[test]
fn client_list_counts_subscriptions() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let mut sub = srv.raw();
    let sid = client_id(&mut sub);
    sub.send(&cmds_all(&[
        "SUBSCRIBE a b",
        "PSUBSCRIBE p*",
        "SSUBSCRIBE s",
    ]));
    for _ in 0..4 {
        sub.reply();
    }
    // The replies were read, but the server may account for the write a
    // moment after the bytes reached us: allow it that moment.
    let mut line = line_of(&mut admin, sid);
    for _ in 0..100 {
        if field(&line, "omem") == "0" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        line = line_of(&mut admin, sid);
    }
    assert_eq!(field(&line, "sub"), "2", "{line}");
    assert_eq!(field(&line, "psub"), "1", "{line}");
    assert_eq!(field(&line, "ssub"), "1", "{line}");
    assert_eq!(field(&line, "flags"), "P", "{line}");
    assert_eq!(field(&line, "omem"), "0", "{line}");
    assert_eq!(field(&line, "cmd"), "ssubscribe", "{line}");
    sub.send(&cmds_all(&["UNSUBSCRIBE a"]));
    sub.reply();
    assert_eq!(field(&line_of(&mut admin, sid), "sub"), "1");
}

/// Several space-separated commands encoded back to back.
fn cmds_all(lines: &[&str]) -> Vec<u8> {
    lines.iter().flat_map(|l| common::cmds(l)).collect()
}

#[test]
fn client_list_filters() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let aid = client_id(&mut admin);
    let mut sub = srv.raw();
    let sid = client_id(&mut sub);
    sub.call("SUBSCRIBE ch");
    wait_for_clients(&mut admin, 2);

    let pubsub = bulk_text(&admin.call("CLIENT LIST TYPE pubsub"));
    let lines: Vec<&str> = pubsub.lines().collect();
    assert_eq!(lines.len(), 1, "{pubsub:?}");
    assert_eq!(field(lines[0], "id"), sid.to_string());

    let normal = bulk_text(&admin.call("CLIENT LIST TYPE normal"));
    let lines: Vec<&str> = normal.lines().collect();
    assert_eq!(lines.len(), 1, "{normal:?}");
    assert_eq!(field(lines[0], "id"), aid.to_string());

    admin.expect_call("CLIENT LIST TYPE replica", b"$0\r\n\r\n");
    admin.expect_call(
        "CLIENT LIST TYPE bogus",
        b"-ERR Unknown client type 'bogus'\r\n",
    );

    let both = bulk_text(&admin.call(&format!("CLIENT LIST ID {sid} {aid} 99999")));
    let ids: Vec<String> = both.lines().map(|l| field(l, "id")).collect();
    // Listed in argument order; unknown ids are skipped.
    assert_eq!(ids, vec![sid.to_string(), aid.to_string()]);
    admin.expect_call("CLIENT LIST ID 99999", b"$0\r\n\r\n");
}

#[test]
fn client_info_is_own_line() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CLIENT SETNAME me", b"+OK\r\n");
    let id = client_id(&mut c);
    let info = bulk_text(&c.call("CLIENT INFO"));
    assert!(
        info.ends_with('\n') && info.matches('\n').count() == 1,
        "{info:?}"
    );
    let line = info.trim_end();
    let names: Vec<String> = fields(line).into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, expected_client_fields());
    assert_eq!(field(line, "id"), id.to_string());
    assert_eq!(field(line, "name"), "me");
    assert_eq!(field(line, "cmd"), "client|info");
}

#[test]
fn client_kill_by_id() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let mut victim = srv.raw();
    let vid = client_id(&mut victim);
    admin.expect_call(&format!("CLIENT KILL ID {vid}"), b":1\r\n");
    // Listed no more once KILL has answered (Redis frees it at once).
    let list = String::from_utf8_lossy(&admin.call("CLIENT LIST")).into_owned();
    assert!(!list.contains(&format!("id={vid} ")), "{list}");
    assert!(victim.expect_closed(Duration::from_secs(5)).is_empty());
    admin.expect_call(&format!("CLIENT KILL ID {vid}"), b":0\r\n");
    admin.expect_call("CLIENT KILL ID 99999", b":0\r\n");
    admin.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn client_kill_by_addr_new_and_old_form() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let mut v1 = srv.raw();
    let mut v2 = srv.raw();
    v1.expect_call("PING", b"+PONG\r\n");
    v2.expect_call("PING", b"+PONG\r\n");
    let a1 = v1.stream.local_addr().unwrap().to_string();
    let a2 = v2.stream.local_addr().unwrap().to_string();
    admin.expect_call(&format!("CLIENT KILL ADDR {a1}"), b":1\r\n");
    v1.expect_closed(Duration::from_secs(5));
    admin.expect_call(&format!("CLIENT KILL ADDR {a1}"), b":0\r\n");
    // The old two-argument form answers +OK or an error.
    admin.expect_call(&format!("CLIENT KILL {a2}"), b"+OK\r\n");
    v2.expect_closed(Duration::from_secs(5));
    admin.expect_call(&format!("CLIENT KILL {a2}"), b"-ERR No such client\r\n");
    admin.expect_call("CLIENT KILL 1.2.3.4:5", b"-ERR No such client\r\n");
    // `CLIENT KILL ID` with no value is the old form with address "ID".
    admin.expect_call("CLIENT KILL ID", b"-ERR No such client\r\n");
}

#[test]
fn client_kill_old_form_can_kill_self() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let me = c.stream.local_addr().unwrap().to_string();
    c.send(&cmd(&[b"CLIENT", b"KILL", me.as_bytes()]));
    let got = c.expect_closed(Duration::from_secs(5));
    assert_eq!(String::from_utf8_lossy(&got), "+OK\r\n");
}

#[test]
fn client_kill_by_laddr() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let mut v1 = srv.raw();
    let mut v2 = srv.raw();
    v1.expect_call("PING", b"+PONG\r\n");
    v2.expect_call("PING", b"+PONG\r\n");
    wait_for_clients(&mut admin, 3);
    admin.expect_call("CLIENT KILL LADDR 127.0.0.1:1", b":0\r\n");
    // Everyone on the listening address except the caller (SKIPME yes).
    admin.expect_call(&format!("CLIENT KILL LADDR {}", srv.addr()), b":2\r\n");
    v1.expect_closed(Duration::from_secs(5));
    v2.expect_closed(Duration::from_secs(5));
    admin.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn client_kill_by_type() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let mut sub = srv.raw();
    let mut plain = srv.raw();
    sub.call("SUBSCRIBE ch");
    plain.expect_call("PING", b"+PONG\r\n");
    wait_for_clients(&mut admin, 3);
    admin.expect_call("CLIENT KILL TYPE master", b":0\r\n");
    admin.expect_call("CLIENT KILL TYPE replica", b":0\r\n");
    admin.expect_call("CLIENT KILL TYPE pubsub", b":1\r\n");
    sub.expect_closed(Duration::from_secs(5));
    // `normal` spares the caller.
    admin.expect_call("CLIENT KILL TYPE normal", b":1\r\n");
    plain.expect_closed(Duration::from_secs(5));
    admin.expect_call("CLIENT KILL TYPE pubsub", b":0\r\n");
    admin.expect_call(
        "CLIENT KILL TYPE bogus",
        b"-ERR Unknown client type 'bogus'\r\n",
    );
}

#[test]
fn client_kill_by_user() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let mut v1 = srv.raw();
    let mut v2 = srv.raw();
    v1.expect_call("PING", b"+PONG\r\n");
    v2.call("SUBSCRIBE x");
    wait_for_clients(&mut admin, 3);
    admin.expect_call("CLIENT KILL USER default", b":2\r\n");
    v1.expect_closed(Duration::from_secs(5));
    v2.expect_closed(Duration::from_secs(5));
    admin.expect_call("CLIENT KILL USER nobody", b"-ERR No such user 'nobody'\r\n");
}

#[test]
fn client_kill_skipme() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let id = client_id(&mut c);
    c.expect_call(&format!("CLIENT KILL ID {id}"), b":0\r\n");
    c.expect_call(&format!("CLIENT KILL ID {id} SKIPME yes"), b":0\r\n");
    c.expect_call(
        &format!("CLIENT KILL ID {id} SKIPME maybe"),
        b"-ERR syntax error\r\n",
    );
    c.send(&common::cmds(&format!("CLIENT KILL ID {id} SKIPME no")));
    let got = c.expect_closed(Duration::from_secs(5));
    assert_eq!(String::from_utf8_lossy(&got), ":1\r\n");
}

#[test]
fn client_kill_filter_errors() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "CLIENT KILL ID x",
        b"-ERR client-id should be greater than 0\r\n",
    );
    c.expect_call(
        "CLIENT KILL ID 0",
        b"-ERR client-id should be greater than 0\r\n",
    );
    c.expect_call("CLIENT KILL FOO bar", b"-ERR syntax error\r\n");
    c.expect_call("CLIENT KILL ADDR 1.2.3.4:5 ID", b"-ERR syntax error\r\n");
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn client_no_evict() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CLIENT NO-EVICT on", b"+OK\r\n");
    c.expect_call("CLIENT NO-EVICT OFF", b"+OK\r\n");
    c.expect_call("CLIENT NO-EVICT maybe", b"-ERR syntax error\r\n");
}

#[test]
fn client_setinfo_shows_in_client_info() {
    // CLIENT SETINFO is new in Redis 7.2; 7.0.15 answers "unknown subcommand".
    if common::is_reference() {
        return;
    }
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CLIENT SETINFO lib-name SE.Redis", b"+OK\r\n");
    c.expect_call("CLIENT SETINFO LIB-VER 2.9.1", b"+OK\r\n");
    let info = bulk_text(&c.call("CLIENT INFO"));
    assert!(
        info.ends_with(" resp=2 lib-name=SE.Redis lib-ver=2.9.1\n"),
        "{info:?}"
    );
    let id = client_id(&mut c);
    assert!(line_of(&mut c, id).ends_with(" lib-name=SE.Redis lib-ver=2.9.1"));
    let r = c.call_args(&[b"CLIENT", b"SETINFO", b"lib-name", b"a b"]);
    assert!(r.starts_with(b"-ERR "), "{:?}", String::from_utf8_lossy(&r));
    let r = c.call("CLIENT SETINFO lib-colour red");
    assert!(r.starts_with(b"-ERR "), "{:?}", String::from_utf8_lossy(&r));
    // Unchanged by the failures.
    let info = bulk_text(&c.call("CLIENT INFO"));
    assert!(
        info.ends_with(" lib-name=SE.Redis lib-ver=2.9.1\n"),
        "{info:?}"
    );
}

#[test]
fn client_no_touch() {
    // CLIENT NO-TOUCH is new in Redis 7.2.
    if common::is_reference() {
        return;
    }
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CLIENT NO-TOUCH on", b"+OK\r\n");
    c.expect_call("CLIENT NO-TOUCH off", b"+OK\r\n");
    c.expect_call("CLIENT NO-TOUCH maybe", b"-ERR syntax error\r\n");
}

// ---------------------------------------------------------------- RESET

#[test]
fn reset_drops_subscriptions() {
    let srv = TestServer::start();
    let mut publisher = srv.raw();
    let mut sub = srv.raw();
    sub.expect_call(
        "SUBSCRIBE news",
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
    );
    sub.expect_call(
        "PSUBSCRIBE n*",
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n",
    );
    publisher.expect_call("PUBLISH news hi", b":2\r\n");
    sub.expect(b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
    sub.expect(b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
    sub.expect_call("RESET", b"+RESET\r\n");
    publisher.expect_call("PUBLISH news again", b":0\r\n");
    sub.expect_nothing(Duration::from_millis(300));
    // Out of subscribed mode: ordinary commands work again.
    sub.expect_call("ECHO back", b"$4\r\nback\r\n");
    sub.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn reset_restores_connection_defaults() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let id = client_id(&mut c);
    c.expect_call("CLIENT SETNAME temp", b"+OK\r\n");
    c.expect_call("SELECT 3", b"+OK\r\n");
    let r = c.call("HELLO 3");
    assert!(r.starts_with(b"%7\r\n"));
    c.expect_call("RESET", b"+RESET\r\n");
    // Back on RESP2, unnamed, database 0, same id.
    c.expect_call("CLIENT GETNAME", b"$-1\r\n");
    let info = bulk_text(&c.call("CLIENT INFO"));
    assert_eq!(field(info.trim_end(), "db"), "0");
    assert_eq!(field(info.trim_end(), "resp"), "2");
    assert_eq!(field(info.trim_end(), "id"), id.to_string());
    // RESET answers even with replies switched off, and switches them back on.
    c.send(&cmd(&[b"CLIENT", b"REPLY", b"OFF"]));
    c.expect_call("RESET", b"+RESET\r\n");
    c.expect_call("PING", b"+PONG\r\n");
}

// ---------------------------------------------------------------- INFO

#[test]
fn info_default_sections_and_fields() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let info = c.call("INFO");
    let text = bulk_text(&info);
    assert!(text.starts_with("# Server\r\n"), "{text:?}");
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "INFO lines end with CRLF"
    );
    for section in [
        "# Server\r\n",
        "# Clients\r\n",
        "# Stats\r\n",
        "# Replication\r\n",
        "# Keyspace\r\n",
    ] {
        assert!(text.contains(section), "missing {section:?}");
    }
    let version = info_field(&info, "redis_version").expect("redis_version");
    assert!(version.starts_with("7."), "{version}");
    assert_eq!(
        info_field(&info, "redis_mode").as_deref(),
        Some("standalone")
    );
    assert_eq!(info_field(&info, "role").as_deref(), Some("master"));
    assert_eq!(info_field(&info, "tcp_port"), Some(srv.port.to_string()));
    assert_eq!(info_field(&info, "loading").as_deref(), Some("0"));
    let run_id = info_field(&info, "run_id").expect("run_id");
    assert_eq!(run_id.len(), 40, "{run_id}");
    assert!(
        run_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{run_id}"
    );
    let clients: u64 = info_field(&info, "connected_clients")
        .unwrap()
        .parse()
        .unwrap();
    assert!(clients >= 1);
}

#[test]
fn info_connected_clients_counts_connections() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut others: Vec<Raw> = (0..3).map(|_| srv.raw()).collect();
    for o in &mut others {
        o.expect_call("PING", b"+PONG\r\n");
    }
    wait_for_clients(&mut c, 4);
    let info = c.call("INFO clients");
    assert_eq!(info_field(&info, "connected_clients").as_deref(), Some("4"));
    drop(others);
    wait_for_clients(&mut c, 1);
    let info = c.call("INFO clients");
    assert_eq!(info_field(&info, "connected_clients").as_deref(), Some("1"));
}

#[test]
fn info_single_sections() {
    let srv = TestServer::start();
    let mut c = srv.raw();

    let server = bulk_text(&c.call("INFO server"));
    assert!(server.starts_with("# Server\r\n"), "{server:?}");
    assert!(
        !server.contains("# Clients") && !server.contains("role:"),
        "{server:?}"
    );
    assert!(server.contains("\r\nredis_version:7.") && server.contains("\r\nrun_id:"));
    assert!(server.contains(&format!("\r\ntcp_port:{}\r\n", srv.port)));

    let repl = bulk_text(&c.call("INFO replication"));
    assert!(
        repl.starts_with("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"),
        "{repl:?}"
    );
    assert!(!repl.contains("# Server"));

    // Section names are case-insensitive.
    let repl2 = bulk_text(&c.call("INFO REPLICATION"));
    assert!(
        repl2.starts_with("# Replication\r\nrole:master\r\n"),
        "{repl2:?}"
    );

    let every = bulk_text(&c.call("INFO everything"));
    for section in [
        "# Server\r\n",
        "# Clients\r\n",
        "# Stats\r\n",
        "# Replication\r\n",
        "# Keyspace\r\n",
    ] {
        assert!(every.contains(section), "INFO everything lacks {section:?}");
    }

    c.expect_call("INFO keyspace", b"$12\r\n# Keyspace\r\n\r\n");
    c.expect_call("INFO nosuchsection", b"$0\r\n\r\n");
}

#[test]
fn info_run_id_is_new_per_process() {
    let a = TestServer::start();
    let b = TestServer::start();
    let ra = info_field(&a.raw().call("INFO server"), "run_id").unwrap();
    let rb = info_field(&b.raw().call("INFO server"), "run_id").unwrap();
    assert_ne!(ra, rb);
    // And stable within one process.
    assert_eq!(info_field(&a.raw().call("INFO"), "run_id").unwrap(), ra);
}

// ---------------------------------------------------------------- COMMAND

#[test]
fn command_count_matches_command_table() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let n = int_reply(&c.call("COMMAND COUNT"));
    assert!(n > 0);
    let all = c.call("COMMAND");
    assert!(
        all.starts_with(format!("*{n}\r\n").as_bytes()),
        "COMMAND has {n} entries"
    );
}

#[test]
fn command_info_shape() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    for (name, arity) in [("echo", 2), ("publish", 3), ("ping", -1), ("subscribe", -2)] {
        let r = c.call(&format!("COMMAND INFO {name}"));
        let head = format!("*1\r\n*10\r\n${}\r\n{name}\r\n:{arity}\r\n*", name.len());
        assert!(
            r.starts_with(head.as_bytes()),
            "{name}: {:?}",
            String::from_utf8_lossy(&r)
        );
    }
    // Names are matched case-insensitively and reported in lower case.
    let r = c.call("COMMAND INFO PUBLISH");
    assert!(r.starts_with(b"*1\r\n*10\r\n$7\r\npublish\r\n:3\r\n"));
    c.expect_call("COMMAND INFO nosuchcmd", b"*1\r\n$-1\r\n");
    let two = c.call("COMMAND INFO nosuchcmd echo");
    assert!(
        two.starts_with(b"*2\r\n$-1\r\n*10\r\n$4\r\necho\r\n:2\r\n"),
        "{:?}",
        String::from_utf8_lossy(&two)
    );
}

#[test]
fn command_docs_answers_or_errors_cleanly() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let r = c.call("COMMAND DOCS");
    assert!(
        r.starts_with(b"*") || r.starts_with(b"%") || r.starts_with(b"-ERR"),
        "{:?}",
        String::from_utf8_lossy(&r[..r.len().min(200)])
    );
    let r = c.call("COMMAND DOCS ping");
    assert!(
        r.starts_with(b"*") || r.starts_with(b"-ERR"),
        "{:?}",
        String::from_utf8_lossy(&r[..r.len().min(200)])
    );
    // Either way the connection is still in step.
    c.expect_call("ECHO after", b"$5\r\nafter\r\n");
}

// ---------------------------------------------------------------- SHUTDOWN

#[test]
fn shutdown_nosave_stops_the_server() {
    let mut srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SHUTDOWN FOO", b"-ERR syntax error\r\n");
    c.send(&cmd(&[b"SHUTDOWN", b"NOSAVE"]));
    let got = c.expect_closed(Duration::from_secs(5));
    assert!(
        got.is_empty(),
        "no reply on successful shutdown: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(srv.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(
        std::net::TcpStream::connect(srv.addr()).is_err(),
        "port still open"
    );
}

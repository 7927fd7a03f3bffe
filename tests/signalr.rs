//! Replays of the two ASP.NET SignalR Redis backplanes, byte for byte.
//!
//! ASP.NET Core SignalR (`Microsoft.AspNetCore.SignalR.StackExchangeRedis`):
//! every application server subscribes, one SUBSCRIBE per channel, to
//! `{p}:all`, `{p}:internal:groups`, `{p}:internal:ack:{server}` and
//! `{p}:internal:return:{server}`, and per client to `{p}:connection:{id}`,
//! `{p}:user:{id}` and `{p}:group:{name}` while a local connection is in the
//! group; it UNSUBSCRIBEs each on leave and sends everything else with
//! PUBLISH and MessagePack payloads. Group changes wait for an ack published
//! back on the asking server's ack channel, and client results travel on the
//! return channel; PUBLISH must report the true receiver count (the
//! client-results path throws on 0).
//!
//! ASP.NET SignalR 2.x (`Microsoft.AspNet.SignalR.Redis` 2.4.x over
//! StackExchange.Redis 2.0.x): one key is both counter and channel; every
//! send runs a Lua script that INCRs the key and PUBLISHes `"<id> " ..
//! payload`; on reconnect a second script restores the counter. The scripts
//! below are the verbatim texts the library sends (from its
//! `RedisMessageBus.Send` and `RedisConnection.RestoreLatestValueForKey`),
//! with LF or, when built from a Windows checkout, CRLF line endings. The
//! first `ScriptEvaluate` of a text pipelines `SCRIPT LOAD` with `EVAL`
//! (StackExchange.Redis's script cache); later ones send `EVALSHA`.
//!
//! Every expected byte was confirmed against redis-server 7.0.15
//! (`PUBSUBD_TEST_BIN=$(which redis-server)`).

mod common;

use common::bulk;

use common::{Raw, TestServer, cmd};
use std::time::Duration;

/// A RESP2 pub/sub frame: kind, channel, then a count or a payload.
fn frame(kind: &[u8], channel: &[u8], last: Result<i64, &[u8]>) -> Vec<u8> {
    let mut out = b"*3\r\n".to_vec();
    out.extend(bulk(kind));
    out.extend(bulk(channel));
    match last {
        Ok(n) => out.extend(format!(":{n}\r\n").into_bytes()),
        Err(p) => out.extend(bulk(p)),
    }
    out
}

/// Asserts the next reply on `raw` is exactly `want`.
fn expect(raw: &mut Raw, want: &[u8], what: &str) {
    let got = raw.reply();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(want),
        "{what}"
    );
}

// ---------------------------------------------------------------------------
// ASP.NET Core SignalR
// ---------------------------------------------------------------------------

/// The hub's full type name, the channel prefix.
const HUB: &str = "Contoso.Chat.Hubs.ChatHub";

/// `{p}:all`.
fn all() -> Vec<u8> {
    format!("{HUB}:all").into_bytes()
}

/// `{p}:internal:groups`.
fn groups() -> Vec<u8> {
    format!("{HUB}:internal:groups").into_bytes()
}

/// `{p}:internal:ack:{server}`.
fn ack(server: &str) -> Vec<u8> {
    format!("{HUB}:internal:ack:{server}").into_bytes()
}

/// `{p}:internal:return:{server}`.
fn ret(server: &str) -> Vec<u8> {
    format!("{HUB}:internal:return:{server}").into_bytes()
}

/// `{p}:connection:{id}`.
fn connection(id: &str) -> Vec<u8> {
    format!("{HUB}:connection:{id}").into_bytes()
}

/// `{p}:group:{name}`.
fn group(name: &str) -> Vec<u8> {
    format!("{HUB}:group:{name}").into_bytes()
}

/// `{p}:user:{id}`.
fn user(id: &str) -> Vec<u8> {
    format!("{HUB}:user:{id}").into_bytes()
}

/// Server names as the library makes them: machine name, `_`, a Guid.
const SERVER_A: &str = "WEB01_1f0c6a3e9b6d4e0f8a6b2c1d0e9f8a7b";
const SERVER_B: &str = "WEB02_7a8b9c0d1e2f40318293a4b5c6d7e8f9";

/// SignalR connection ids (22 URL-safe base64 characters).
const CONN_1: &str = "Vj3fCjGhN0CiIHnmoPqIxw";
const CONN_2: &str = "q0-x_mT4kEeZb9Ha7cWd1g";

// MessagePack building blocks (format facts: fixarray 0x9N, fixstr 0xaN,
// str8 0xd9, bin8 0xc4, bin32 0xc6, uint32 0xce, fixmap 0x8N, nil 0xc0).

/// A MessagePack string.
fn mp_str(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = if b.len() < 32 {
        vec![0xa0 | b.len() as u8]
    } else {
        vec![0xd9, b.len() as u8]
    };
    out.extend_from_slice(b);
    out
}

/// A MessagePack binary.
fn mp_bin(b: &[u8]) -> Vec<u8> {
    let mut out = if b.len() < 256 {
        vec![0xc4, b.len() as u8]
    } else {
        let mut h = vec![0xc6];
        h.extend_from_slice(&(b.len() as u32).to_be_bytes());
        h
    };
    out.extend_from_slice(b);
    out
}

/// A MessagePack uint32.
fn mp_u32(n: u32) -> Vec<u8> {
    let mut out = vec![0xce];
    out.extend_from_slice(&n.to_be_bytes());
    out
}

/// A backplane invocation: [excluded connection ids, {protocol: serialized
/// hub message}], the hub message itself being binary MessagePack with NUL,
/// CR/LF and 0xFF bytes in its arguments.
fn invocation(target: &str, arg: &[u8]) -> Vec<u8> {
    let mut hub_msg = vec![0x96, 0x01, 0x80, 0xc0];
    hub_msg.extend(mp_str(target));
    hub_msg.push(0x91);
    hub_msg.extend(mp_bin(arg));
    hub_msg.push(0x90);
    let mut framed = vec![hub_msg.len() as u8]; // varint length prefix
    framed.extend(hub_msg);
    let mut out = vec![0x92, 0x90, 0x81];
    out.extend(mp_str("messagepack"));
    out.extend(mp_bin(&framed));
    out
}

/// A group command: [id, server name, action (0 add, 1 remove), group,
/// connection id].
fn group_command(id: u32, server: &str, action: u8, group: &str, conn: &str) -> Vec<u8> {
    let mut out = vec![0x95];
    out.extend(mp_u32(id));
    out.extend(mp_str(server));
    out.push(action);
    out.extend(mp_str(group));
    out.extend(mp_str(conn));
    out
}

/// A group ack: [id].
fn group_ack(id: u32) -> Vec<u8> {
    let mut out = vec![0x91];
    out.extend(mp_u32(id));
    out
}

/// An id whose big-endian bytes are CR, LF, NUL and 0xFF.
const NASTY_ID: u32 = 0x0D0A_00FF;

/// One application server on the backplane: a subscription connection and an
/// interactive connection it PUBLISHes on, as StackExchange.Redis keeps them.
struct AppServer {
    name: &'static str,
    sub: Raw,
    publisher: Raw,
    count: i64,
}

impl AppServer {
    /// Connects and subscribes to the four per-server channels, one
    /// SUBSCRIBE each, in the order the hub lifetime manager does.
    fn start(srv: &TestServer, name: &'static str) -> AppServer {
        let mut s = AppServer {
            name,
            sub: srv.raw(),
            publisher: srv.raw(),
            count: 0,
        };
        for ch in [all(), groups(), ack(name), ret(name)] {
            s.subscribe(&ch);
        }
        s
    }

    /// SUBSCRIBE one channel; the confirmation carries the new count.
    fn subscribe(&mut self, ch: &[u8]) {
        self.sub.send(&cmd(&[b"SUBSCRIBE", ch]));
        self.count += 1;
        let want = frame(b"subscribe", ch, Ok(self.count));
        expect(&mut self.sub, &want, "SUBSCRIBE confirmation");
    }

    /// UNSUBSCRIBE one channel; the confirmation carries the new count.
    fn unsubscribe(&mut self, ch: &[u8]) {
        self.sub.send(&cmd(&[b"UNSUBSCRIBE", ch]));
        self.count -= 1;
        let want = frame(b"unsubscribe", ch, Ok(self.count));
        expect(&mut self.sub, &want, "UNSUBSCRIBE confirmation");
    }

    /// PUBLISH, asserting the exact receiver count.
    fn publish(&mut self, ch: &[u8], payload: &[u8], receivers: i64) {
        self.publisher.send(&cmd(&[b"PUBLISH", ch, payload]));
        let want = format!(":{receivers}\r\n").into_bytes();
        let what = format!("PUBLISH {} count", String::from_utf8_lossy(ch));
        expect(&mut self.publisher, &want, &what);
    }

    /// Asserts the next frame on the subscription connection is this message.
    fn received(&mut self, ch: &[u8], payload: &[u8]) {
        let what = format!("{} receives on {}", self.name, String::from_utf8_lossy(ch));
        expect(&mut self.sub, &frame(b"message", ch, Err(payload)), &what);
    }

    /// Asserts nothing more arrives on the subscription connection.
    fn quiet(&mut self) {
        self.sub.expect_nothing(Duration::from_millis(100));
    }
}

/// `PUBSUB NUMSUB <ch>` → the channel's subscriber count.
fn numsub(raw: &mut Raw, ch: &[u8]) -> i64 {
    raw.send(&cmd(&[b"PUBSUB", b"NUMSUB", ch]));
    let got = raw.reply();
    let mut head = b"*2\r\n".to_vec();
    head.extend(bulk(ch));
    assert!(got.starts_with(&head), "NUMSUB reply {got:?}");
    let rest = String::from_utf8_lossy(&got[head.len()..]).to_string();
    rest.trim_start_matches(':')
        .trim_end()
        .parse()
        .expect("count")
}

/// Payloads that break anything treating them as text or lines.
fn payloads() -> Vec<Vec<u8>> {
    let mut big: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    big.extend_from_slice(b"\r\n\x00\xff");
    vec![
        invocation("ReceiveMessage", b"\x00\r\n\xff\xfe\r\n\r\n$5\r\n*1\r\n"),
        b"\r\n".to_vec(),
        vec![0u8; 3],
        vec![0xff; 7],
        invocation("ReceiveFile", &big),
    ]
}

#[test]
fn aspnetcore_two_servers_receive_all() {
    let srv = TestServer::start();
    let mut a = AppServer::start(&srv, SERVER_A);
    let mut b = AppServer::start(&srv, SERVER_B);
    assert_eq!(numsub(&mut a.publisher, &all()), 2);
    assert_eq!(numsub(&mut a.publisher, &groups()), 2);
    assert_eq!(numsub(&mut a.publisher, &ack(SERVER_A)), 1);
    assert_eq!(numsub(&mut a.publisher, &ret(SERVER_B)), 1);
    for p in payloads() {
        a.publish(&all(), &p, 2);
        a.received(&all(), &p);
        b.received(&all(), &p);
        b.publish(&all(), &p, 2);
        a.received(&all(), &p);
        b.received(&all(), &p);
    }
    a.quiet();
    b.quiet();
}

#[test]
fn aspnetcore_connection_user_and_group_routing() {
    let srv = TestServer::start();
    let mut a = AppServer::start(&srv, SERVER_A);
    let mut b = AppServer::start(&srv, SERVER_B);
    // client 1 connects to B, client 2 to A; both are user alice
    b.subscribe(&connection(CONN_1));
    b.subscribe(&user("alice@contoso.com"));
    a.subscribe(&connection(CONN_2));
    a.subscribe(&user("alice@contoso.com"));

    let msg = invocation("ReceiveMessage", b"hi\x00\r\n\xff");
    a.publish(&connection(CONN_1), &msg, 1);
    b.received(&connection(CONN_1), &msg);
    b.publish(&connection(CONN_2), &msg, 1);
    a.received(&connection(CONN_2), &msg);
    a.publish(&user("alice@contoso.com"), &msg, 2);
    a.received(&user("alice@contoso.com"), &msg);
    b.received(&user("alice@contoso.com"), &msg);
    a.publish(&user("bob@contoso.com"), &msg, 0);

    // client 1 joins room:42 on its own server: B subscribes the group channel
    b.subscribe(&group("room:42"));
    a.publish(&group("room:42"), &msg, 1);
    b.received(&group("room:42"), &msg);
    a.subscribe(&group("room:42"));
    b.publish(&group("room:42"), &msg, 2);
    a.received(&group("room:42"), &msg);
    b.received(&group("room:42"), &msg);
    a.quiet();
    b.quiet();
}

#[test]
fn aspnetcore_group_ack_and_client_result_round_trip() {
    let srv = TestServer::start();
    let mut a = AppServer::start(&srv, SERVER_A);
    let mut b = AppServer::start(&srv, SERVER_B);
    b.subscribe(&connection(CONN_1));

    // A adds client 1 (on B) to a group: every server hears the command
    let add = group_command(NASTY_ID, SERVER_A, 0, "room:7", CONN_1);
    a.publish(&groups(), &add, 2);
    a.received(&groups(), &add);
    b.received(&groups(), &add);
    // B owns the connection: it subscribes the group, then acks to A only
    b.subscribe(&group("room:7"));
    b.publish(&ack(SERVER_A), &group_ack(NASTY_ID), 1);
    a.received(&ack(SERVER_A), &group_ack(NASTY_ID));

    // and the removal, acked the same way
    let remove = group_command(NASTY_ID + 1, SERVER_A, 1, "room:7", CONN_1);
    a.publish(&groups(), &remove, 2);
    a.received(&groups(), &remove);
    b.received(&groups(), &remove);
    b.unsubscribe(&group("room:7"));
    b.publish(&ack(SERVER_A), &group_ack(NASTY_ID + 1), 1);
    a.received(&ack(SERVER_A), &group_ack(NASTY_ID + 1));

    // a client result: A invokes client 1, B returns the completion to A
    let invoke = invocation("GetLocation", b"inv-\x00\x01\r\n");
    a.publish(&connection(CONN_1), &invoke, 1);
    b.received(&connection(CONN_1), &invoke);
    let mut completion = vec![0x93, 0x03, 0x80];
    completion.extend(mp_str("inv-1"));
    completion.extend(mp_bin(b"\xff\x00\r\n"));
    b.publish(&ret(SERVER_A), &completion, 1);
    a.received(&ret(SERVER_A), &completion);
    a.quiet();
    b.quiet();
}

#[test]
fn aspnetcore_leave_unsubscribes_each_channel() {
    let srv = TestServer::start();
    let mut a = AppServer::start(&srv, SERVER_A);
    let mut b = AppServer::start(&srv, SERVER_B);
    for ch in [
        connection(CONN_1),
        user("alice@contoso.com"),
        group("room:42"),
    ] {
        b.subscribe(&ch);
    }
    a.subscribe(&user("alice@contoso.com"));

    // client 1 disconnects: one UNSUBSCRIBE per channel it held
    for ch in [
        connection(CONN_1),
        user("alice@contoso.com"),
        group("room:42"),
    ] {
        b.unsubscribe(&ch);
    }
    let msg = invocation("ReceiveMessage", b"\x00\xff");
    a.publish(&connection(CONN_1), &msg, 0);
    a.publish(&group("room:42"), &msg, 0);
    a.publish(&user("alice@contoso.com"), &msg, 1);
    a.received(&user("alice@contoso.com"), &msg);
    assert_eq!(numsub(&mut a.publisher, &connection(CONN_1)), 0);

    // server B shuts down: it drops its per-server channels one by one
    for ch in [all(), groups(), ack(SERVER_B), ret(SERVER_B)] {
        b.unsubscribe(&ch);
    }
    assert_eq!(b.count, 0);
    a.publish(&all(), &msg, 1);
    a.received(&all(), &msg);
    b.quiet();
    a.quiet();
}

// ---------------------------------------------------------------------------
// ASP.NET SignalR 2.x
// ---------------------------------------------------------------------------

/// The send script of `RedisMessageBus.Send` (Microsoft.AspNet.SignalR.Redis
/// 2.4.x), verbatim, LF line endings.
const SEND_LF: &str = "local newId = redis.call('INCR', KEYS[1])
                  local payload = newId .. ' ' .. ARGV[1]
                  redis.call('PUBLISH', KEYS[1], payload)
                  return {newId, ARGV[1], payload}";

/// SHA1 of `SEND_LF` (Python's hashlib; Redis 7.0.15's SCRIPT LOAD agrees).
const SEND_LF_SHA: &str = "edeb7a3b4fb872b8a76ae281cc47bd2c4d2da9b0";

/// SHA1 of `SEND_LF` with CRLF line endings.
const SEND_CRLF_SHA: &str = "5b8e3b60e050400311bc8b6ef2cbba37bc0b9cb3";

/// The restore script of `RedisConnection.RestoreLatestValueForKey`
/// (Microsoft.AspNet.SignalR.Redis 2.4.x), verbatim, LF line endings.
const RESTORE_LF: &str = "local newvalue = tonumber(redis.call('GET', KEYS[1]))
                     if not newvalue or tonumber(newvalue) < tonumber(ARGV[1]) then
                         return redis.call('SET', KEYS[1], ARGV[1])
                     else
                         return nil
                     end";

/// A script text with CRLF line endings, as a Windows build embeds it.
fn crlf(script: &str) -> Vec<u8> {
    script.replace('\n', "\r\n").into_bytes()
}

/// The scale-out key: counter and channel at once.
const KEY: &[u8] = b"SignalR.Redis.Contoso";

/// A scale-out payload as `RedisMessage.ToBytes` frames it: a little-endian
/// int32 length, then the binary ScaleoutMessage.
fn scaleout_payload(tag: u8) -> Vec<u8> {
    let body = [
        0x01, 0x00, 0x00, 0x00, tag, 0x0D, 0x0A, 0x00, 0xFF, b' ', b'1', b' ', 0xFE, 0x0A,
    ];
    let mut out = (body.len() as i32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// The send script's reply `{newId, ARGV[1], payload}`.
fn send_reply(id: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("*3\r\n:{id}\r\n").into_bytes();
    out.extend(bulk(payload));
    out.extend(bulk(&published(id, payload)));
    out
}

/// What subscribers receive: `"<id> " .. ARGV[1]`.
fn published(id: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{id} ").into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A subscriber to the scale-out key.
fn scaleout_subscriber(srv: &TestServer) -> Raw {
    let mut sub = srv.raw();
    sub.send(&cmd(&[b"SUBSCRIBE", KEY]));
    expect(&mut sub, &frame(b"subscribe", KEY, Ok(1)), "SUBSCRIBE");
    sub
}

/// Asserts the subscriber receives message `id` with `payload`.
fn scaleout_received(sub: &mut Raw, id: u64, payload: &[u8]) {
    let want = frame(b"message", KEY, Err(&published(id, payload)));
    expect(sub, &want, &format!("message {id}"));
}

#[test]
fn aspnet_send_script_lf_cached_then_evalsha() {
    let srv = TestServer::start();
    let mut sub = scaleout_subscriber(&srv);
    let mut bus = srv.raw();
    let p1 = scaleout_payload(1);
    // first send: SCRIPT LOAD and EVAL in one write
    bus.send(
        &[
            cmd(&[b"SCRIPT", b"LOAD", SEND_LF.as_bytes()]),
            cmd(&[b"EVAL", SEND_LF.as_bytes(), b"1", KEY, &p1]),
        ]
        .concat(),
    );
    expect(&mut bus, &bulk(SEND_LF_SHA.as_bytes()), "SCRIPT LOAD");
    expect(&mut bus, &send_reply(1, &p1), "EVAL reply");
    scaleout_received(&mut sub, 1, &p1);
    // later sends: EVALSHA
    for id in 2..=3u64 {
        let p = scaleout_payload(id as u8);
        bus.send(&cmd(&[b"EVALSHA", SEND_LF_SHA.as_bytes(), b"1", KEY, &p]));
        expect(&mut bus, &send_reply(id, &p), "EVALSHA reply");
        scaleout_received(&mut sub, id, &p);
    }
    sub.expect_nothing(Duration::from_millis(100));
}

#[test]
fn aspnet_send_script_crlf_eval() {
    let srv = TestServer::start();
    let mut sub = scaleout_subscriber(&srv);
    let mut bus = srv.raw();
    let script = crlf(SEND_LF);
    for id in 1..=3u64 {
        let p = scaleout_payload(0xF0 + id as u8);
        bus.send(&cmd(&[b"EVAL", &script, b"1", KEY, &p]));
        expect(&mut bus, &send_reply(id, &p), "EVAL reply (CRLF)");
        scaleout_received(&mut sub, id, &p);
    }
    bus.send(&cmd(&[b"SCRIPT", b"LOAD", &script]));
    expect(
        &mut bus,
        &bulk(SEND_CRLF_SHA.as_bytes()),
        "SCRIPT LOAD (CRLF)",
    );
    let p = scaleout_payload(4);
    bus.send(&cmd(&[b"EVALSHA", SEND_CRLF_SHA.as_bytes(), b"1", KEY, &p]));
    expect(&mut bus, &send_reply(4, &p), "EVALSHA reply (CRLF)");
    scaleout_received(&mut sub, 4, &p);
}

#[test]
fn aspnet_send_script_on_database_5() {
    let srv = TestServer::start();
    let mut sub = scaleout_subscriber(&srv);
    let mut bus = srv.raw();
    let p = scaleout_payload(9);
    // SCRIPT LOAD is database-less; the library selects before the EVAL
    bus.send(
        &[
            cmd(&[b"SCRIPT", b"LOAD", SEND_LF.as_bytes()]),
            cmd(&[b"SELECT", b"5"]),
            cmd(&[b"EVAL", SEND_LF.as_bytes(), b"1", KEY, &p]),
            cmd(&[b"EVALSHA", SEND_LF_SHA.as_bytes(), b"1", KEY, &p]),
        ]
        .concat(),
    );
    expect(&mut bus, &bulk(SEND_LF_SHA.as_bytes()), "SCRIPT LOAD");
    expect(&mut bus, b"+OK\r\n", "SELECT 5");
    expect(&mut bus, &send_reply(1, &p), "EVAL on db 5");
    expect(&mut bus, &send_reply(2, &p), "EVALSHA on db 5");
    scaleout_received(&mut sub, 1, &p);
    scaleout_received(&mut sub, 2, &p);
    // the counter lives in database 5 only
    bus.send(
        &[
            cmd(&[b"GET", KEY]),
            cmd(&[b"SELECT", b"0"]),
            cmd(&[b"GET", KEY]),
        ]
        .concat(),
    );
    expect(&mut bus, b"$1\r\n2\r\n", "GET on db 5");
    expect(&mut bus, b"+OK\r\n", "SELECT 0");
    expect(&mut bus, b"$-1\r\n", "GET on db 0");
    // and database 0 counts on its own
    bus.send(&cmd(&[b"EVALSHA", SEND_LF_SHA.as_bytes(), b"1", KEY, &p]));
    expect(&mut bus, &send_reply(1, &p), "EVALSHA on db 0");
    scaleout_received(&mut sub, 1, &p);
}

#[test]
fn aspnet_restore_script_both_line_endings() {
    let srv = TestServer::start();
    let mut bus = srv.raw();
    for script in [RESTORE_LF.as_bytes().to_vec(), crlf(RESTORE_LF)] {
        let key: &[u8] = b"SignalR.Redis.Restore";
        let mut run = |arg: &[u8]| -> String {
            bus.send(&cmd(&[b"EVAL", &script, b"1", key, arg]));
            String::from_utf8_lossy(&bus.reply()).to_string()
        };
        // missing key: SET, status reply
        assert_eq!(run(b"5"), "+OK\r\n");
        // lower than the last id seen: SET
        assert_eq!(run(b"9"), "+OK\r\n");
        // numeric, not string, comparison: 10 > 9
        assert_eq!(run(b"10"), "+OK\r\n");
        // equal or higher than the last id seen: nil
        assert_eq!(run(b"10"), "$-1\r\n");
        assert_eq!(run(b"9"), "$-1\r\n");
        bus.send(&cmd(&[b"GET", key]));
        expect(&mut bus, b"$2\r\n10\r\n", "restored value");
        bus.send(&cmd(&[b"DEL", key]));
        expect(&mut bus, b":1\r\n", "DEL");
    }
}

#[test]
fn aspnet_restore_then_send_continues_ids() {
    let srv = TestServer::start();
    let mut sub = scaleout_subscriber(&srv);
    let mut bus = srv.raw();
    // the server restarted and lost the key; the bus last saw id 41
    bus.send(&cmd(&[b"EVAL", &crlf(RESTORE_LF), b"1", KEY, b"41"]));
    expect(&mut bus, b"+OK\r\n", "restore");
    let p = scaleout_payload(42);
    bus.send(&cmd(&[b"EVAL", SEND_LF.as_bytes(), b"1", KEY, &p]));
    expect(&mut bus, &send_reply(42, &p), "send after restore");
    scaleout_received(&mut sub, 42, &p);
}

/// Lua 5.1 turns the INCR result into a double and `..` formats it with
/// `%.14g`: from 10^14 on, the published id is in exponent form while the
/// integer reply stays exact. Redis does this; a compatible server must too.
#[test]
fn aspnet_send_script_lua_number_formatting() {
    let srv = TestServer::start();
    let mut sub = scaleout_subscriber(&srv);
    let mut bus = srv.raw();
    bus.send(&cmd(&[
        b"EVAL",
        RESTORE_LF.as_bytes(),
        b"1",
        KEY,
        b"99999999999999",
    ]));
    expect(&mut bus, b"+OK\r\n", "restore");
    let p = scaleout_payload(1);
    bus.send(&cmd(&[b"EVAL", SEND_LF.as_bytes(), b"1", KEY, &p]));
    let mut want = b"*3\r\n:100000000000000\r\n".to_vec();
    want.extend(bulk(&p));
    let mut text = b"1e+14 ".to_vec();
    text.extend_from_slice(&p);
    want.extend(bulk(&text));
    expect(&mut bus, &want, "EVAL reply at 10^14");
    expect(&mut sub, &frame(b"message", KEY, Err(&text)), "message");
}

/// Two application servers send concurrently: ids are unique and gapless,
/// each publish carries the id its own EVALSHA returned, and every
/// subscriber sees them in id order.
#[test]
fn aspnet_send_script_ids_atomic_across_servers() {
    let srv = TestServer::start();
    let mut subs = [scaleout_subscriber(&srv), scaleout_subscriber(&srv)];
    let mut buses = [srv.raw(), srv.raw()];
    for bus in buses.iter_mut() {
        bus.send(&cmd(&[b"SCRIPT", b"LOAD", SEND_LF.as_bytes()]));
        expect(bus, &bulk(SEND_LF_SHA.as_bytes()), "SCRIPT LOAD");
    }
    const PER_SERVER: usize = 25;
    let mut batches = Vec::new();
    for (n, _) in buses.iter().enumerate() {
        let mut wire = Vec::new();
        for i in 0..PER_SERVER {
            let mut p = scaleout_payload((n * 100 + i) as u8);
            p.push(n as u8);
            wire.extend(cmd(&[b"EVALSHA", SEND_LF_SHA.as_bytes(), b"1", KEY, &p]));
        }
        batches.push(wire);
    }
    // both pipelines in flight at once
    for (bus, wire) in buses.iter_mut().zip(&batches) {
        bus.send(wire);
    }
    let mut by_id = std::collections::BTreeMap::new();
    for (n, bus) in buses.iter_mut().enumerate() {
        let mut last = 0;
        for i in 0..PER_SERVER {
            let mut p = scaleout_payload((n * 100 + i) as u8);
            p.push(n as u8);
            let got = bus.reply();
            let text = String::from_utf8_lossy(&got).to_string();
            let id: u64 = text
                .strip_prefix("*3\r\n:")
                .and_then(|t| t.split("\r\n").next())
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("EVALSHA reply {text:?}"));
            assert!(id > last, "ids grow per connection");
            last = id;
            assert_eq!(got, send_reply(id, &p), "reply {id}");
            assert!(by_id.insert(id, p).is_none(), "id {id} used twice");
        }
    }
    let total = (2 * PER_SERVER) as u64;
    assert_eq!(
        by_id.keys().copied().collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    for sub in subs.iter_mut() {
        for (id, p) in &by_id {
            scaleout_received(sub, *id, p);
        }
        sub.expect_nothing(Duration::from_millis(100));
    }
}

/// A configured key containing `*` makes StackExchange.Redis subscribe with
/// PSUBSCRIBE; the script still publishes to the literal key.
#[test]
fn aspnet_pattern_key_uses_psubscribe() {
    let srv = TestServer::start();
    let key: &[u8] = b"SignalR.*";
    let mut sub = srv.raw();
    sub.send(&cmd(&[b"PSUBSCRIBE", key]));
    expect(&mut sub, &frame(b"psubscribe", key, Ok(1)), "PSUBSCRIBE");
    let mut bus = srv.raw();
    let p = scaleout_payload(7);
    bus.send(&cmd(&[b"EVAL", SEND_LF.as_bytes(), b"1", key, &p]));
    let mut want = b"*3\r\n:1\r\n".to_vec();
    want.extend(bulk(&p));
    want.extend(bulk(&published(1, &p)));
    expect(&mut bus, &want, "EVAL reply");
    let mut msg = b"*4\r\n".to_vec();
    msg.extend(bulk(b"pmessage"));
    msg.extend(bulk(key));
    msg.extend(bulk(key));
    msg.extend(bulk(&published(1, &p)));
    expect(&mut sub, &msg, "pmessage");
}

//! Byte-level replays of what StackExchange.Redis, the .NET client under both
//! ASP.NET SignalR backplanes, sends when it connects, keeps a connection
//! alive and runs scripts.
//!
//! The library pipelines a whole handshake in one write and pairs replies with
//! requests strictly in order: a missing reply, an extra one, or an array where
//! it expects an error (`CLUSTER NODES`, `SENTINEL MASTERS`) breaks or
//! misconfigures the connection. So every test here sends the library's exact
//! command sequence in one write and checks every reply.
//!
//! Every expected byte was confirmed against redis-server 7.0.15
//! (`PUBSUBD_TEST_BIN=$(which redis-server)`). Only two kinds of reply are
//! compared by shape instead of bytes: INFO text (its values differ between
//! servers) and the `version`/`id` values of HELLO. `CLIENT SETINFO` is the one
//! place where the expectation depends on the server: Redis 7.0 does not know
//! it, pubsubd follows Redis 7.2 and answers `+OK`; the library ignores either.
//!
//! Where the sequences come from (the public source of StackExchange.Redis):
//! - 2.0.x (2.0.513 is the version ASP.NET SignalR 2.4 pins):
//!   `ServerEndPoint.HandshakeAsync` sends `AUTH` (if a password is set),
//!   `CLIENT SETNAME <machine name>`, then on the interactive connection
//!   `AutoConfigure`: `CONFIG GET timeout` (its default `KeepAlive` is -1),
//!   `CONFIG GET slave-read-only`, `CONFIG GET databases`, plain `INFO` (its
//!   default server version 2.0.0 predates INFO sections), `CLUSTER NODES`
//!   (no `SENTINEL MASTERS` yet: that joined `AutoConfigure` in 2.1); then
//!   the tracer `ECHO <16 bytes>`; on the subscription connection
//!   `SUBSCRIBE __Booksleeve_MasterChanged` last. After the tracer's reply,
//!   `ReconfigureAsync` writes `GET __Booksleeve_TieBreak` and a `PING` (a
//!   2.0.x connect log shows the same order), and the subscription
//!   connection re-sends one `SUBSCRIBE` per subscription.
//! - 2.9.x: `AUTH`, `CLIENT SETNAME <machine>(SE.Redis-v<version>)`,
//!   `CLIENT SETINFO lib-name SE.Redis`, `CLIENT SETINFO lib-ver <version>`,
//!   `CLIENT ID` on both connections; `AutoConfigureAsync` adds
//!   `CONFIG GET slave-read-only` (`replica-read-only` once the assumed server
//!   version is 5 or later), `CONFIG GET databases`, `SENTINEL MASTERS`,
//!   `INFO replication`, `INFO server`, `CLUSTER NODES` and
//!   `GET __Booksleeve_TieBreak` before the tracer. With `protocol=resp3` the
//!   handshake starts with `HELLO 3 [AUTH default <pw>] SETNAME <name>`, still
//!   sends `AUTH` and `CLIENT SETNAME` after it, and one connection carries
//!   commands and pub/sub alike.
//! - The 16 tracer bytes are `Guid.NewGuid().ToByteArray()`: random, usually
//!   not UTF-8; the library fails the connection unless ECHO returns them
//!   unchanged.

mod common;

use common::bulk;

use common::{Raw, TestServer, cmd, is_reference};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The machine name StackExchange.Redis 2.0.x sends as the client name.
const MACHINE: &str = "WEB01";

/// The client name 2.9.x sends by default: machine name plus library version
/// (the version string is illustrative; the library sends its file version).
const NAME_29: &str = "WEB01(SE.Redis-v2.9.32.54708)";

/// The library version 2.9.x reports with `CLIENT SETINFO lib-ver`.
const LIB_VER_29: &str = "2.9.32.54708";

/// The channel every StackExchange.Redis subscription connection joins.
const MASTER_CHANGED: &[u8] = b"__Booksleeve_MasterChanged";

/// The key the library reads to break ties between primaries.
const TIE_BREAK: &[u8] = b"__Booksleeve_TieBreak";

/// The password of the authenticated variants.
const PASSWORD: &str = "s3cret-pw";

/// A subscribe confirmation or delivered message: `*3` (RESP2) or `>3`
/// (RESP3) of two bulks and, for confirmations, the subscription count.
fn push3(resp3: bool, kind: &[u8], channel: &[u8], last: Last) -> Vec<u8> {
    let mut out = if resp3 {
        b">3\r\n".to_vec()
    } else {
        b"*3\r\n".to_vec()
    };
    out.extend(bulk(kind));
    out.extend(bulk(channel));
    match last {
        Last::Count(n) => out.extend(format!(":{n}\r\n").into_bytes()),
        Last::Payload(p) => out.extend(bulk(p)),
    }
    out
}

/// The third element of a `push3` frame.
enum Last<'a> {
    Count(i64),
    Payload(&'a [u8]),
}

/// The reply to `CONFIG GET <name>` for one parameter: a two-element array in
/// RESP2, a one-entry map in RESP3.
fn config_pair(resp3: bool, name: &str, value: &str) -> Vec<u8> {
    let mut out = if resp3 {
        b"%1\r\n".to_vec()
    } else {
        b"*2\r\n".to_vec()
    };
    out.extend(bulk(name.as_bytes()));
    out.extend(bulk(value.as_bytes()));
    out
}

/// The null bulk reply of `GET` on a missing key.
fn null(resp3: bool) -> Vec<u8> {
    if resp3 {
        b"_\r\n".to_vec()
    } else {
        b"$-1\r\n".to_vec()
    }
}

/// Redis's error for `CLUSTER <anything>` on a non-cluster server.
const CLUSTER_DISABLED: &[u8] = b"-ERR This instance has cluster support disabled\r\n";

/// Redis 7's error for `SENTINEL MASTERS` on a non-sentinel server.
const SENTINEL_UNKNOWN: &[u8] =
    b"-ERR unknown command 'SENTINEL', with args beginning with: 'MASTERS' \r\n";

/// Sixteen random bytes that are not valid UTF-8, like the Guid bytes the
/// library sends with ECHO.
fn tracer_bytes() -> Vec<u8> {
    let state = RandomState::new();
    let mut out = Vec::with_capacity(16);
    for i in 0u64..2 {
        let mut h = state.build_hasher();
        h.write_u64(i);
        out.extend_from_slice(&h.finish().to_le_bytes());
    }
    if std::str::from_utf8(&out).is_ok() {
        out[5] = 0xFF; // never valid in UTF-8
    }
    out
}

/// Fixed tracer bytes holding everything that breaks naive framing: NUL,
/// CR/LF, RESP type bytes and bytes that are never valid UTF-8.
const NASTY_TRACER: [u8; 16] = [
    0x00, 0x0D, 0x0A, 0xFF, b'$', b'*', b'\r', b'\n', 0xC0, 0x80, b'-', b'+', 0xFE, 0x00, 0x0A,
    0x0D,
];

/// What one pipelined request must get back.
enum Want {
    /// Exactly these bytes.
    Exact(Vec<u8>),
    /// `CLIENT SETINFO`: Redis 7.0 does not know the subcommand, pubsubd
    /// follows 7.2 and says `+OK`. StackExchange.Redis ignores either.
    SetInfo,
    /// A positive integer (`CLIENT ID`).
    PositiveInt,
    /// INFO text: a bulk (RESP2) or verbatim `txt` string (RESP3) that holds
    /// these section headers; see `check_info` for the fields checked.
    Info(&'static [&'static str]),
    /// The HELLO 3 map (see `check_hello3`).
    Hello3,
}

/// One request of a replayed pipeline and its expected reply.
struct Step {
    req: Vec<u8>,
    want: Want,
}

/// A step expecting exact bytes.
fn exact(req: Vec<u8>, reply: &[u8]) -> Step {
    Step {
        req,
        want: Want::Exact(reply.to_vec()),
    }
}

/// A step with a looser expectation.
fn step(req: Vec<u8>, want: Want) -> Step {
    Step { req, want }
}

/// Sends all requests of `steps` in ONE write, as the library does, then reads
/// and checks the replies in order. Returns the replies.
fn replay(raw: &mut Raw, resp3: bool, steps: &[Step]) -> Vec<Vec<u8>> {
    let wire: Vec<u8> = steps.iter().flat_map(|s| s.req.clone()).collect();
    raw.send(&wire);
    let mut replies = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let got = raw.reply();
        let what = format!("reply {i} to {:?}", String::from_utf8_lossy(&s.req));
        match &s.want {
            Want::Exact(want) => assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want),
                "{what}"
            ),
            Want::SetInfo => {
                let want: &[u8] = if is_reference() {
                    b"-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n"
                } else {
                    b"+OK\r\n"
                };
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(want),
                    "{what}"
                );
            }
            Want::PositiveInt => {
                assert!(int_reply(&got) > 0, "{what}: {got:?}");
            }
            Want::Info(sections) => {
                check_info(&got, resp3, sections);
            }
            Want::Hello3 => {
                check_hello3(&got);
            }
        }
        replies.push(got);
    }
    replies
}

/// The index of the step that sends `args`.
fn position(steps: &[Step], args: &[&[u8]]) -> usize {
    let req = cmd(args);
    steps.iter().position(|s| s.req == req).expect("step")
}

/// The value of an integer reply (`:<n>\r\n`); panics on anything else.
fn int_reply(reply: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(reply);
    text.strip_prefix(':')
        .and_then(|t| t.strip_suffix("\r\n"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: {text:?}"))
}

/// Checks an INFO reply's framing and the fields StackExchange.Redis and
/// other clients read from it; returns its text. The `sections` are header
/// names (`"Replication"`, `"Server"`, ...); plain INFO passes all it needs.
fn check_info(reply: &[u8], resp3: bool, sections: &[&str]) -> String {
    let (marker, prefix): (u8, &[u8]) = if resp3 { (b'=', b"txt:") } else { (b'$', b"") };
    assert_eq!(
        reply[0],
        marker,
        "INFO framing: {:?}",
        String::from_utf8_lossy(reply)
    );
    let eol = reply.windows(2).position(|w| w == b"\r\n").expect("header");
    let len: usize = std::str::from_utf8(&reply[1..eol])
        .unwrap()
        .parse()
        .expect("length");
    let body = &reply[eol + 2..reply.len() - 2];
    assert_eq!(body.len(), len, "declared INFO length");
    assert!(body.starts_with(prefix), "verbatim INFO must be txt");
    let text = String::from_utf8(body[prefix.len()..].to_vec()).expect("INFO is text");
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "INFO lines end with CRLF"
    );
    for line in text.split("\r\n") {
        assert!(
            line.is_empty() || line.starts_with("# ") || line.contains(':'),
            "INFO line {line:?}"
        );
    }
    let has = |field: &str| text.split("\r\n").any(|l| l.starts_with(field));
    for s in sections {
        assert!(
            text.contains(&format!("# {s}\r\n")),
            "INFO lacks # {s}: {text}"
        );
        match *s {
            "Replication" => assert!(has("role:master"), "role: {text}"),
            "Server" => {
                assert!(has("redis_version:7."), "version: {text}");
                assert!(has("redis_mode:standalone"), "mode: {text}");
                let run_id = text
                    .split("\r\n")
                    .find_map(|l| l.strip_prefix("run_id:"))
                    .expect("run_id");
                assert!(
                    run_id.len() == 40 && run_id.bytes().all(|b| b.is_ascii_hexdigit()),
                    "run_id {run_id:?}"
                );
            }
            "Clients" => assert!(has("connected_clients:"), "clients: {text}"),
            // ioredis's ready check waits for loading:0
            "Persistence" => assert!(has("loading:0"), "loading: {text}"),
            _ => {}
        }
    }
    text
}

/// Checks the HELLO 3 reply: byte for byte what Redis 7 sends, except the
/// `version` (a 7.x string) and `id` (a positive integer) values. Returns the
/// connection id.
fn check_hello3(reply: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(reply).to_string();
    let after = |key: &str| -> String {
        let tag = format!("${}\r\n{key}\r\n", key.len());
        let at = text
            .find(&tag)
            .unwrap_or_else(|| panic!("HELLO lacks {key}: {text:?}"));
        let rest = &text[at + tag.len()..];
        let first = rest.find("\r\n").unwrap();
        if rest.starts_with('$') {
            let n = first + 2;
            let end = rest[n..].find("\r\n").unwrap();
            rest[n..n + end].to_string()
        } else {
            rest[..first].to_string()
        }
    };
    let version = after("version");
    assert!(version.starts_with("7."), "HELLO version {version:?}");
    let id: i64 = after("id").trim_start_matches(':').parse().expect("id");
    assert!(id > 0);
    let mut want = b"%7\r\n".to_vec();
    for (k, v) in [
        ("server", bulk(b"redis")),
        ("version", bulk(version.as_bytes())),
    ] {
        want.extend(bulk(k.as_bytes()));
        want.extend(v);
    }
    want.extend(bulk(b"proto"));
    want.extend(b":3\r\n");
    want.extend(bulk(b"id"));
    want.extend(format!(":{id}\r\n").into_bytes());
    want.extend(bulk(b"mode"));
    want.extend(bulk(b"standalone"));
    want.extend(bulk(b"role"));
    want.extend(bulk(b"master"));
    want.extend(bulk(b"modules"));
    want.extend(b"*0\r\n");
    assert_eq!(
        text,
        String::from_utf8_lossy(&want).to_string(),
        "HELLO 3 reply"
    );
    id
}

/// Starts a server, with `requirepass` when `password` is set.
fn server(password: Option<&str>) -> TestServer {
    match password {
        Some(pw) => TestServer::start_with(&["--requirepass", pw]),
        None => TestServer::start(),
    }
}

/// `AUTH <pw>` expecting `+OK`, when a password is set.
fn auth_steps(password: Option<&str>) -> Vec<Step> {
    password
        .map(|pw| exact(cmd(&[b"AUTH", pw.as_bytes()]), b"+OK\r\n"))
        .into_iter()
        .collect()
}

/// The 2.0.x interactive connection: handshake in one write, then the
/// tie-break read and tracer PING that follow the ECHO reply.
fn se20_interactive(password: Option<&str>, tracer: &[u8]) {
    let srv = server(password);
    let mut raw = srv.raw();
    let mut steps = auth_steps(password);
    steps.extend([
        exact(
            cmd(&[b"CLIENT", b"SETNAME", MACHINE.as_bytes()]),
            b"+OK\r\n",
        ),
        exact(
            cmd(&[b"CONFIG", b"GET", b"timeout"]),
            &config_pair(false, "timeout", "0"),
        ),
        exact(
            cmd(&[b"CONFIG", b"GET", b"slave-read-only"]),
            &config_pair(false, "slave-read-only", "yes"),
        ),
        exact(
            cmd(&[b"CONFIG", b"GET", b"databases"]),
            &config_pair(false, "databases", "16"),
        ),
        step(
            cmd(&[b"INFO"]),
            Want::Info(&["Server", "Clients", "Persistence", "Replication"]),
        ),
        exact(cmd(&[b"CLUSTER", b"NODES"]), CLUSTER_DISABLED),
        exact(cmd(&[b"ECHO", tracer]), &bulk(tracer)),
    ]);
    replay(&mut raw, false, &steps);
    replay(
        &mut raw,
        false,
        &[
            exact(cmd(&[b"GET", TIE_BREAK]), &null(false)),
            exact(cmd(&[b"PING"]), b"+PONG\r\n"),
        ],
    );
}

/// Application channels the subscription connection re-subscribes after
/// connecting; one is binary, as `RedisChannel` allows.
const RESUBSCRIBE: [&[u8]; 3] = [b"orders", b"prices:EUR/USD", b"bin\x00\r\n\xff"];

/// The subscription connection of either version: `head` (AUTH, names, ids)
/// and the tracer, `SUBSCRIBE __Booksleeve_MasterChanged` last in the same
/// write; then, after the tracer's reply, one SUBSCRIBE per subscription;
/// then a message published by another connection arrives byte for byte.
fn subscription(srv: &TestServer, mut head: Vec<Step>, tracer: &[u8], password: Option<&str>) {
    let mut sub = srv.raw();
    head.push(exact(cmd(&[b"ECHO", tracer]), &bulk(tracer)));
    head.push(exact(
        cmd(&[b"SUBSCRIBE", MASTER_CHANGED]),
        &push3(false, b"subscribe", MASTER_CHANGED, Last::Count(1)),
    ));
    replay(&mut sub, false, &head);
    let again: Vec<Step> = RESUBSCRIBE
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            exact(
                cmd(&[b"SUBSCRIBE", ch]),
                &push3(false, b"subscribe", ch, Last::Count(i as i64 + 2)),
            )
        })
        .collect();
    replay(&mut sub, false, &again);

    let mut publisher = srv.raw();
    replay(&mut publisher, false, &auth_steps(password));
    let payload: &[u8] = b"\x93\xa5order\x00\r\n\xff\xc4\x02\r\n";
    for ch in RESUBSCRIBE {
        let n = publisher.call_args(&[b"PUBLISH", ch, payload]);
        assert_eq!(n, b":1\r\n", "PUBLISH count");
        sub.expect(&push3(false, b"message", ch, Last::Payload(payload)));
    }
    sub.expect_nothing(Duration::from_millis(100));
}

#[test]
fn se20_interactive_handshake() {
    se20_interactive(None, &NASTY_TRACER);
}

#[test]
fn se20_interactive_handshake_with_password() {
    se20_interactive(Some(PASSWORD), &tracer_bytes());
}

#[test]
fn se20_subscription_handshake() {
    let srv = server(None);
    let head = vec![exact(
        cmd(&[b"CLIENT", b"SETNAME", MACHINE.as_bytes()]),
        b"+OK\r\n",
    )];
    subscription(&srv, head, &tracer_bytes(), None);
}

#[test]
fn se20_subscription_handshake_with_password() {
    let srv = server(Some(PASSWORD));
    let mut head = auth_steps(Some(PASSWORD));
    head.push(exact(
        cmd(&[b"CLIENT", b"SETNAME", MACHINE.as_bytes()]),
        b"+OK\r\n",
    ));
    subscription(&srv, head, &NASTY_TRACER, Some(PASSWORD));
}

/// 2.9.x: AUTH, CLIENT SETNAME, CLIENT SETINFO lib-name/lib-ver, CLIENT ID —
/// the start of both connections' handshakes.
fn se29_identity(password: Option<&str>) -> Vec<Step> {
    let mut steps = auth_steps(password);
    steps.extend([
        exact(
            cmd(&[b"CLIENT", b"SETNAME", NAME_29.as_bytes()]),
            b"+OK\r\n",
        ),
        step(
            cmd(&[b"CLIENT", b"SETINFO", b"lib-name", b"SE.Redis"]),
            Want::SetInfo,
        ),
        step(
            cmd(&[b"CLIENT", b"SETINFO", b"lib-ver", LIB_VER_29.as_bytes()]),
            Want::SetInfo,
        ),
        step(cmd(&[b"CLIENT", b"ID"]), Want::PositiveInt),
    ]);
    steps
}

/// 2.9.x `AutoConfigureAsync` followed by the tracer, for RESP2 or RESP3.
/// `read_only` is the CONFIG parameter name the assumed version selects.
fn se29_autoconfigure(resp3: bool, read_only: &str, tracer: &[u8]) -> Vec<Step> {
    vec![
        exact(
            cmd(&[b"CONFIG", b"GET", read_only.as_bytes()]),
            &config_pair(resp3, read_only, "yes"),
        ),
        exact(
            cmd(&[b"CONFIG", b"GET", b"databases"]),
            &config_pair(resp3, "databases", "16"),
        ),
        exact(cmd(&[b"SENTINEL", b"MASTERS"]), SENTINEL_UNKNOWN),
        step(
            cmd(&[b"INFO", b"replication"]),
            Want::Info(&["Replication"]),
        ),
        step(cmd(&[b"INFO", b"server"]), Want::Info(&["Server"])),
        exact(cmd(&[b"CLUSTER", b"NODES"]), CLUSTER_DISABLED),
        exact(cmd(&[b"GET", TIE_BREAK]), &null(resp3)),
        exact(cmd(&[b"ECHO", tracer]), &bulk(tracer)),
    ]
}

/// The 2.9.x interactive connection in RESP2.
fn se29_interactive(password: Option<&str>) {
    let srv = server(password);
    let mut raw = srv.raw();
    let mut steps = se29_identity(password);
    steps.extend(se29_autoconfigure(
        false,
        "slave-read-only",
        &tracer_bytes(),
    ));
    let replies = replay(&mut raw, false, &steps);
    // CLIENT ID is this connection's id, the same one CLIENT INFO reports
    let id = int_reply(&replies[position(&steps, &[b"CLIENT", b"ID"])]);
    let info = raw.call("CLIENT INFO");
    assert!(
        String::from_utf8_lossy(&info).contains(&format!("id={id} ")),
        "CLIENT ID {id} vs {:?}",
        String::from_utf8_lossy(&info)
    );
}

#[test]
fn se29_interactive_handshake() {
    se29_interactive(None);
}

#[test]
fn se29_interactive_handshake_with_password() {
    se29_interactive(Some(PASSWORD));
}

#[test]
fn se29_subscription_handshake() {
    let srv = server(None);
    subscription(&srv, se29_identity(None), &NASTY_TRACER, None);
}

#[test]
fn se29_subscription_handshake_with_password() {
    let srv = server(Some(PASSWORD));
    subscription(
        &srv,
        se29_identity(Some(PASSWORD)),
        &tracer_bytes(),
        Some(PASSWORD),
    );
}

/// 2.9.x with `protocol=resp3`: HELLO first, one connection for commands and
/// pub/sub, messages as push frames interleaved with ordinary replies.
fn se29_resp3(password: Option<&str>) {
    let srv = server(password);
    let mut conn = srv.raw();
    let mut hello: Vec<&[u8]> = vec![b"HELLO", b"3"];
    if let Some(pw) = password {
        hello.extend([b"AUTH".as_slice(), b"default", pw.as_bytes()]);
    }
    hello.extend([b"SETNAME".as_slice(), NAME_29.as_bytes()]);
    let mut steps = vec![step(cmd(&hello), Want::Hello3)];
    steps.extend(se29_identity(password));
    steps.extend(se29_autoconfigure(
        true,
        "replica-read-only",
        &tracer_bytes(),
    ));
    let replies = replay(&mut conn, true, &steps);
    let hello_id = check_hello3(&replies[0]);
    let client_id = int_reply(&replies[position(&steps, &[b"CLIENT", b"ID"])]);
    assert_eq!(hello_id, client_id, "HELLO id and CLIENT ID");

    // subscriptions go over the same connection, one SUBSCRIBE each
    let channels: [&[u8]; 3] = [MASTER_CHANGED, b"orders", b"bin\x00\r\n\xff"];
    let subs: Vec<Step> = channels
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            exact(
                cmd(&[b"SUBSCRIBE", ch]),
                &push3(true, b"subscribe", ch, Last::Count(i as i64 + 1)),
            )
        })
        .collect();
    replay(&mut conn, true, &subs);

    // another application server publishes; the message arrives as a push
    let mut other = srv.raw();
    replay(&mut other, false, &auth_steps(password));
    let payload: &[u8] = b"\x00\xff\r\n\x92\xa3abc";
    assert_eq!(
        other.call_args(&[b"PUBLISH", b"orders", payload]),
        b":1\r\n"
    );
    conn.expect(&push3(true, b"message", b"orders", Last::Payload(payload)));

    // ordinary commands keep working while subscribed in RESP3
    conn.send(&[cmd(&[b"GET", TIE_BREAK]), cmd(&[b"PING"])].concat());
    conn.expect(b"_\r\n");
    conn.expect(b"+PONG\r\n");
    conn.send(&cmd(&[b"INFO", b"replication"]));
    check_info(&conn.reply(), true, &["Replication"]);

    // publishing to a channel this connection is subscribed to: the push
    // comes before the PUBLISH reply, as Redis writes it
    conn.send(&cmd(&[b"PUBLISH", b"bin\x00\r\n\xff", payload]));
    conn.expect(&push3(
        true,
        b"message",
        b"bin\x00\r\n\xff",
        Last::Payload(payload),
    ));
    conn.expect(b":1\r\n");

    conn.send(&cmd(&[b"QUIT"]));
    conn.expect(b"+OK\r\n");
    conn.expect_closed(Duration::from_secs(5));
}

#[test]
fn se29_resp3_handshake() {
    se29_resp3(None);
}

#[test]
fn se29_resp3_handshake_with_password() {
    se29_resp3(Some(PASSWORD));
}

/// Steady state: the interactive connection's periodic `INFO replication`
/// and tracer `PING`; the subscription connection's keep-alive `PING` (and
/// the `UNSUBSCRIBE <random>` it falls back to on servers older than 3.0);
/// `QUIT` on close.
#[test]
fn se_keepalive_and_quit() {
    let srv = server(None);
    let mut interactive = srv.raw();
    let mut sub = srv.raw();
    replay(
        &mut sub,
        false,
        &[exact(
            cmd(&[b"SUBSCRIBE", MASTER_CHANGED]),
            &push3(false, b"subscribe", MASTER_CHANGED, Last::Count(1)),
        )],
    );
    for _ in 0..2 {
        let steps = [
            step(
                cmd(&[b"INFO", b"replication"]),
                Want::Info(&["Replication"]),
            ),
            exact(cmd(&[b"PING"]), b"+PONG\r\n"),
        ];
        replay(&mut interactive, false, &steps);
        replay(
            &mut sub,
            false,
            &[exact(cmd(&[b"PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")],
        );
    }
    let unique = tracer_bytes();
    replay(
        &mut sub,
        false,
        &[exact(
            cmd(&[b"UNSUBSCRIBE", &unique]),
            &push3(false, b"unsubscribe", &unique, Last::Count(1)),
        )],
    );
    for conn in [&mut interactive, &mut sub] {
        conn.send(&cmd(&[b"QUIT"]));
        conn.expect(b"+OK\r\n");
        conn.expect_closed(Duration::from_secs(5));
    }
}

/// A script as an application passes it to `ScriptEvaluate`.
const SCRIPT: &[u8] = b"return {KEYS[1], ARGV[1]}";

/// SHA1 of `SCRIPT` (Python's hashlib; Redis 7.0.15's SCRIPT LOAD agrees).
const SCRIPT_SHA: &[u8] = b"d006f1a90249474274c76f5be725b8f5804a346b";

/// The script cache flow: the first `ScriptEvaluate` pipelines `SCRIPT LOAD`
/// and `EVAL`; later calls send `EVALSHA`; a `NOSCRIPT` reply (e.g. after a
/// server restart) makes the library drop its cache and send `EVAL` again.
#[test]
fn se_script_load_evalsha_noscript() {
    let srv = server(None);
    let mut raw = srv.raw();
    let arg: &[u8] = b"\x00\xff\r\nvalue";
    let mut result = b"*2\r\n".to_vec();
    result.extend(bulk(b"orders:1"));
    result.extend(bulk(arg));
    replay(
        &mut raw,
        false,
        &[
            exact(cmd(&[b"SCRIPT", b"LOAD", SCRIPT]), &bulk(SCRIPT_SHA)),
            exact(cmd(&[b"EVAL", SCRIPT, b"1", b"orders:1", arg]), &result),
        ],
    );
    replay(
        &mut raw,
        false,
        &[
            exact(
                cmd(&[b"EVALSHA", SCRIPT_SHA, b"1", b"orders:1", arg]),
                &result,
            ),
            exact(
                cmd(&[b"EVALSHA", SCRIPT_SHA, b"1", b"orders:1", arg]),
                &result,
            ),
        ],
    );
    let unknown: &[u8] = b"ffffffffffffffffffffffffffffffffffffffff";
    replay(
        &mut raw,
        false,
        &[
            exact(
                cmd(&[b"EVALSHA", unknown, b"1", b"orders:1", arg]),
                b"-NOSCRIPT No matching script. Please use EVAL.\r\n",
            ),
            exact(cmd(&[b"EVAL", SCRIPT, b"1", b"orders:1", arg]), &result),
        ],
    );
}

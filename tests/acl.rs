//! ACL users: `user` lines and `aclfile`, AUTH and HELLO with user names,
//! command, key and channel permissions with Redis's NOPERM errors, the ACL
//! subcommands, ACL LOG, and the disconnection of clients whose channels or
//! user were taken away.
//!
//! Every expected byte string here was checked against redis-server 7.0.15
//! (PUBSUBD_TEST_BIN=/usr/bin/redis-server runs this file against it).

mod common;

use common::{Raw, TempDir, TestServer, is_reference, run_server_to_exit};
use std::time::Duration;

const OK: &[u8] = b"+OK\r\n";
const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const NOPERM_CHANNEL: &[u8] =
    b"-NOPERM this user has no permissions to access one of the channels used as arguments\r\n";
const NOPERM_KEY: &[u8] =
    b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";

/// The rules of a user limited to the `app1:*` channels and pub/sub.
const APP1: &str =
    "on >s3cret resetchannels &app1:* -@all +@pubsub +ping +acl|whoami +multi +exec +client|info";

/// A connection logged in as `user`/`pass`.
fn login(srv: &TestServer, user: &str, pass: &str) -> Raw {
    let mut c = srv.raw();
    c.expect_call(&format!("AUTH {user} {pass}"), OK);
    c
}

/// A server with user `app1` created by ACL SETUSER.
fn with_app1() -> TestServer {
    let srv = TestServer::start();
    srv.raw()
        .expect_call(&format!("ACL SETUSER app1 {APP1}"), OK);
    srv
}

fn bulk(s: &str) -> Vec<u8> {
    format!("${}\r\n{s}\r\n", s.len()).into_bytes()
}

#[test]
fn channel_limited_user_publishes_and_subscribes_only_inside_its_patterns() {
    let srv = with_app1();
    let mut c = login(&srv, "app1", "s3cret");
    c.expect_call("PUBLISH app1:news hi", b":0\r\n");
    c.expect_call("PUBLISH app2:news hi", NOPERM_CHANNEL);
    c.expect_call("PUBLISH app1 hi", NOPERM_CHANNEL);
    c.expect_call("SPUBLISH app2:x hi", NOPERM_CHANNEL);
    // One channel outside the patterns refuses the whole SUBSCRIBE.
    c.expect_call("SUBSCRIBE app1:a app2:b", NOPERM_CHANNEL);
    c.expect_call("PUBSUB NUMSUB app1:a", b"*2\r\n$6\r\napp1:a\r\n:0\r\n");
    // PSUBSCRIBE needs its pattern literally among the user's.
    c.expect_call("PSUBSCRIBE app1:x*", NOPERM_CHANNEL);
    c.expect_call("PSUBSCRIBE *", NOPERM_CHANNEL);
    c.expect_call(
        "PSUBSCRIBE app1:*",
        b"*3\r\n$10\r\npsubscribe\r\n$6\r\napp1:*\r\n:1\r\n",
    );
    c.expect_call(
        "SUBSCRIBE app1:a",
        b"*3\r\n$9\r\nsubscribe\r\n$6\r\napp1:a\r\n:2\r\n",
    );
    // Commands outside +@pubsub are refused by name.
    let mut d = login(&srv, "app1", "s3cret");
    d.expect_call(
        "GET k",
        b"-NOPERM this user has no permissions to run the 'get' command\r\n",
    );
    d.expect_call(
        "CLIENT LIST",
        b"-NOPERM this user has no permissions to run the 'client|list' command\r\n",
    );
    d.expect_call("PING", b"+PONG\r\n");
    // Messages on allowed channels still arrive.
    d.expect_call("PUBLISH app1:a m", b":2\r\n");
    c.expect(b"*3\r\n$7\r\nmessage\r\n$6\r\napp1:a\r\n$1\r\nm\r\n");
    c.expect(b"*4\r\n$8\r\npmessage\r\n$6\r\napp1:*\r\n$6\r\napp1:a\r\n$1\r\nm\r\n");
}

#[test]
fn auth_and_hello_take_a_user_name() {
    let srv = with_app1();
    let mut c = srv.raw();
    c.expect_call("AUTH app1 wrong", WRONGPASS);
    c.expect_call("AUTH nosuch s3cret", WRONGPASS);
    c.expect_call("ACL WHOAMI", &bulk("default"));
    c.expect_call("HELLO 3 AUTH app1 wrong", WRONGPASS);
    let hello = c.call("HELLO 3 AUTH app1 s3cret");
    assert!(
        hello.starts_with(b"%7\r\n"),
        "{}",
        String::from_utf8_lossy(&hello)
    );
    c.expect_call("ACL WHOAMI", &bulk("app1"));
    // A failed AUTH leaves the login as it was.
    c.expect_call("AUTH nosuch nope", WRONGPASS);
    c.expect_call("ACL WHOAMI", &bulk("app1"));
    let info = c.call("CLIENT INFO");
    if !is_reference() {
        assert!(
            String::from_utf8_lossy(&info).contains(" user=app1 "),
            "{}",
            String::from_utf8_lossy(&info)
        );
    }
    // RESET returns to the default user.
    c.expect_call("RESET", b"+RESET\r\n");
    c.expect_call("ACL WHOAMI", &bulk("default"));
    // A disabled user cannot log in, even with its password.
    let mut admin = srv.raw();
    admin.expect_call("ACL SETUSER app1 off", OK);
    c.expect_call("AUTH app1 s3cret", WRONGPASS);
}

#[test]
fn requirepass_is_the_default_users_password() {
    let srv = TestServer::start_with(&["--requirepass", "pw"]);
    let mut c = srv.raw();
    c.expect_call("ACL WHOAMI", b"-NOAUTH Authentication required.\r\n");
    c.expect_call("AUTH default pw", OK);
    c.expect_call(
        "ACL GETUSER default",
        &[
            &b"*12\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$9\r\npasswords\r\n*1\r\n$64\r\n"[..],
            // SHA-256 of "pw".
            b"30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4\r\n",
            b"$8\r\ncommands\r\n$5\r\n+@all\r\n$4\r\nkeys\r\n$2\r\n~*\r\n",
            b"$8\r\nchannels\r\n$2\r\n&*\r\n$9\r\nselectors\r\n*0\r\n",
        ]
        .concat(),
    );
    c.expect_call("CONFIG SET requirepass other", OK);
    let mut d = srv.raw();
    d.expect_call("AUTH pw", WRONGPASS);
    d.expect_call("AUTH other", OK);
    // With the password removed, new connections need no AUTH.
    assert_eq!(c.call_args(&[b"CONFIG", b"SET", b"requirepass", b""]), OK);
    srv.raw().expect_call("ACL WHOAMI", &bulk("default"));
}

#[test]
fn setuser_validates_every_rule_before_changing_anything() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let cases: &[(&str, &str)] = &[
        ("+@nonexist", "Unknown command or category name in ACL"),
        ("+nosuchcmd", "Unknown command or category name in ACL"),
        ("foo", "Syntax error"),
        (
            "#abc",
            "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
        ),
        (
            "<nopw",
            "The password you are trying to remove from the user does not exist",
        ),
        (
            "+client|list|x",
            "Allowing first-arg of a subcommand is not supported",
        ),
    ];
    for (rule, message) in cases {
        c.expect_call(
            &format!("ACL SETUSER u1 on {rule}"),
            format!("-ERR Error in ACL SETUSER modifier '{rule}': {message}\r\n").as_bytes(),
        );
    }
    // Nothing was created by the failed attempts.
    c.expect_call("ACL GETUSER u1", b"$-1\r\n");
    c.expect_call(
        "ACL SETUSER u1 allchannels &x",
        b"-ERR Error in ACL SETUSER modifier '&x': Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels\r\n",
    );
    c.expect_call(
        "ACL SETUSER u1 (~x +get",
        b"-ERR Unmatched parenthesis in acl selector starting at '(~x'.\r\n",
    );
    c.expect_call(
        "ACL SETUSER u1 on >pw ~k* %R~r* &app1:* -@all +@pubsub -subscribe",
        OK,
    );
    c.expect_call(
        "ACL LIST",
        &[
            &b"*2\r\n"[..],
            &bulk("user default on nopass ~* &* +@all"),
            &bulk("user u1 on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~k* %R~r* resetchannels &app1:* -@all +@pubsub -subscribe"),
        ]
        .concat(),
    );
    c.expect_call("ACL SETUSER u2 reset +get (~x +set)", OK);
    c.expect_call(
        "ACL GETUSER u2",
        &[
            &b"*12\r\n$5\r\nflags\r\n*2\r\n$3\r\noff\r\n$16\r\nsanitize-payload\r\n"[..],
            b"$9\r\npasswords\r\n*0\r\n$8\r\ncommands\r\n$10\r\n-@all +get\r\n",
            b"$4\r\nkeys\r\n$0\r\n\r\n$8\r\nchannels\r\n$0\r\n\r\n",
            b"$9\r\nselectors\r\n*1\r\n*6\r\n$8\r\ncommands\r\n$10\r\n-@all +set\r\n",
            b"$4\r\nkeys\r\n$2\r\n~x\r\n$8\r\nchannels\r\n$0\r\n\r\n",
        ]
        .concat(),
    );
    c.expect_call(
        "ACL USERS",
        b"*3\r\n$7\r\ndefault\r\n$2\r\nu1\r\n$2\r\nu2\r\n",
    );
    c.expect_call("ACL DELUSER u2 nosuch", b":1\r\n");
    c.expect_call(
        "ACL DELUSER default",
        b"-ERR The 'default' user cannot be removed\r\n",
    );
}

#[test]
fn selectors_and_key_patterns_allow_what_any_selector_allows() {
    let srv = TestServer::start();
    srv.raw().expect_call(
        "ACL SETUSER sel on nopass ~k* %R~ro* +get +set (~x* +get)",
        OK,
    );
    let mut c = login(&srv, "sel", "any");
    c.expect_call("SET k1 v", OK);
    c.expect_call("GET k1", b"$1\r\nv\r\n");
    c.expect_call("GET ro1", b"$-1\r\n");
    c.expect_call("SET ro1 v", NOPERM_KEY);
    // The selector allows GET on x*, not SET.
    c.expect_call("GET x1", b"$-1\r\n");
    c.expect_call("SET x1 v", NOPERM_KEY);
    c.expect_call("GET other", NOPERM_KEY);
}

#[test]
fn dryrun_reports_without_running() {
    let srv = with_app1();
    let mut c = srv.raw();
    c.expect_call("ACL DRYRUN app1 publish app1:x m", OK);
    c.expect_call(
        "ACL DRYRUN app1 publish other m",
        &bulk("This user has no permissions to access the 'other' channel"),
    );
    c.expect_call(
        "ACL DRYRUN app1 get k",
        &bulk("This user has no permissions to run the 'get' command"),
    );
    c.expect_call(
        "ACL DRYRUN nouser get k",
        b"-ERR User 'nouser' not found\r\n",
    );
    c.expect_call(
        "ACL DRYRUN app1 nocmd",
        b"-ERR Command 'nocmd' not found\r\n",
    );
    c.expect_call(
        "ACL DRYRUN app1 get",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
}

#[test]
fn acl_log_records_denials_and_failed_logins_bounded_by_acllog_max_len() {
    let srv = with_app1();
    let mut admin = srv.raw();
    let mut c = login(&srv, "app1", "s3cret");
    c.expect_call("PUBLISH elsewhere m", NOPERM_CHANNEL);
    c.expect_call("PUBLISH elsewhere m", NOPERM_CHANNEL);
    c.expect_call(
        "GET k",
        b"-NOPERM this user has no permissions to run the 'get' command\r\n",
    );
    c.expect_call("AUTH app1 wrong", WRONGPASS);
    c.expect_call("MULTI", OK);
    c.expect_call(
        "GET k",
        b"-NOPERM this user has no permissions to run the 'get' command\r\n",
    );
    c.expect_call(
        "EXEC",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    let log = String::from_utf8_lossy(&admin.call("ACL LOG")).into_owned();
    let fields: Vec<&str> = log.split("\r\n").collect();
    // Newest first: the GET in MULTI, the failed AUTH, the GET, and the two
    // PUBLISHes counted in one entry.
    assert!(log.starts_with("*4\r\n"), "{log}");
    let entry = |i: usize| -> Vec<&str> {
        let start = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| **f == "count")
            .nth(i)
            .map(|(n, _)| n)
            .unwrap_or(0);
        fields[start..start + 12].to_vec()
    };
    assert_eq!(
        entry(0)[..10],
        [
            "count", ":1", "$6", "reason", "$7", "command", "$7", "context", "$5", "multi"
        ]
    );
    assert_eq!(entry(0)[11], "object");
    assert_eq!(entry(1)[5], "auth");
    assert_eq!(entry(2)[5], "command");
    assert_eq!(entry(3)[1], ":2");
    assert_eq!(entry(3)[5], "channel");
    assert!(log.contains("$6\r\nobject\r\n$9\r\nelsewhere\r\n$8\r\nusername\r\n$4\r\napp1\r\n"));
    assert!(log.contains("$6\r\nobject\r\n$4\r\nAUTH\r\n$8\r\nusername\r\n$4\r\napp1\r\n"));
    assert!(log.contains("age-seconds"));
    assert!(log.contains("client-info"));
    // A smaller bound applies at the next entry.
    admin.expect_call("CONFIG SET acllog-max-len 2", OK);
    assert!(admin.call("ACL LOG").starts_with(b"*4\r\n"));
    c.expect_call("PUBLISH other m", NOPERM_CHANNEL);
    let log = admin.call("ACL LOG");
    assert!(
        log.starts_with(b"*2\r\n"),
        "{}",
        String::from_utf8_lossy(&log)
    );
    admin.expect_call("ACL LOG RESET", OK);
    admin.expect_call("ACL LOG", b"*0\r\n");
}

#[test]
fn revoking_a_channel_disconnects_that_users_subscribers_only() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    admin.expect_call(
        "ACL SETUSER app1 on >s3cret resetchannels &app1:* &app1b:* -@all +@pubsub +ping +client|setname",
        OK,
    );
    admin.expect_call(
        "ACL SETUSER app2 on >s3cret resetchannels &app1b:* -@all +@pubsub +ping",
        OK,
    );
    let mut on_b = login(&srv, "app1", "s3cret");
    on_b.expect_call("CLIENT SETNAME doomed", OK);
    on_b.call("SUBSCRIBE app1b:x");
    let mut on_a = login(&srv, "app1", "s3cret");
    on_a.call("PSUBSCRIBE app1:*");
    let mut other_user = login(&srv, "app2", "s3cret");
    other_user.call("SUBSCRIBE app1b:x");
    let mut idle = login(&srv, "app1", "s3cret");
    // Adding a channel disconnects no one.
    admin.expect_call("ACL SETUSER app1 &extra", OK);
    on_b.expect_call("PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    // Taking app1b:* away closes app1's subscriber to it, and nobody else.
    admin.expect_call("ACL SETUSER app1 resetchannels &app1:*", OK);
    // Gone from CLIENT LIST as soon as SETUSER has answered, as in Redis.
    let list = String::from_utf8_lossy(&admin.call("CLIENT LIST")).into_owned();
    assert!(!list.contains("name=doomed"), "{list}");
    on_b.expect_closed(Duration::from_secs(5));
    on_a.expect_call("PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    other_user.expect_call("PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    idle.expect_call("PING", b"+PONG\r\n");
    // A pattern is checked literally: app1:* stays allowed only as written.
    admin.expect_call("ACL SETUSER app1 resetchannels &app1:x", OK);
    on_a.expect_closed(Duration::from_secs(5));
    idle.expect_call("PING", b"+PONG\r\n");
}

/// A SUBSCRIBE (or SSUBSCRIBE) running on one connection while ACL SETUSER
/// takes one of its channels away (from another) ends as if one came
/// first: refused with NOPERM, nothing subscribed and the connection open,
/// or the connection closed. Never subscribed to the revoked channel and
/// still connected.
/// Each SUBSCRIBE names many channels that stay allowed before the one
/// that goes, so its permission check and its last subscription are far
/// apart; the delay before the revoke sweeps across that gap.
#[test]
fn a_subscribe_racing_a_revoke_is_refused_or_disconnected_never_kept() {
    const ROUNDS: usize = 60;
    const SUBSCRIBERS: usize = 4;
    const KEEP: usize = 300;
    // Two workers, so the SUBSCRIBE and the revoke can run at the same
    // time on two threads, not only interleave on one.
    let srv = TestServer::start_with(&["--io-threads", "2"]);
    let mut admin = srv.raw();
    let (mut refused, mut closed, mut closed_midway) = (0, 0, 0);
    for round in 0..ROUNDS {
        admin.expect_call(
            "ACL SETUSER racer on nopass resetchannels &keep:* &gone:* -@all +@pubsub +ping",
            OK,
        );
        let gone = format!("gone:{round}");
        // Shard channels on odd rounds: the same checks, another map.
        let verb: &[u8] = if round % 2 == 0 {
            b"subscribe"
        } else {
            b"ssubscribe"
        };
        let mut args: Vec<Vec<u8>> = vec![verb.to_vec()];
        args.extend((0..KEEP).map(|i| format!("keep:{i}").into_bytes()));
        args.push(gone.clone().into_bytes());
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let command = common::cmd(&refs);
        let mut subs: Vec<Raw> = (0..SUBSCRIBERS)
            .map(|_| login(&srv, "racer", "x"))
            .collect();
        for c in &mut subs {
            c.send(&command);
        }
        let delay = Duration::from_micros((round % 12) as u64 * 50);
        let t0 = std::time::Instant::now();
        while t0.elapsed() < delay {
            std::hint::spin_loop();
        }
        admin.expect_call("ACL SETUSER racer resetchannels &keep:*", OK);
        for c in &mut subs {
            let mut confirmed = 0;
            loop {
                let Some(r) = c.try_reply(Duration::from_secs(5)) else {
                    c.expect_closed(Duration::from_secs(1));
                    closed += 1;
                    if confirmed > 0 && confirmed <= KEEP {
                        closed_midway += 1;
                    }
                    break;
                };
                if r.starts_with(b"-") {
                    assert_eq!(
                        (confirmed, common::show(&r)),
                        (0, common::show(NOPERM_CHANNEL)),
                        "round {round}"
                    );
                    c.expect_call("PING", b"+PONG\r\n");
                    refused += 1;
                    break;
                }
                assert!(
                    r.starts_with(b"*3\r\n") && r[4..].starts_with(&common::bulk(verb)),
                    "round {round}: {}",
                    common::show(&r)
                );
                confirmed += 1;
                if confirmed == KEEP + 1 {
                    // Subscribed to the revoked channel: the revoke that
                    // followed must have closed the connection.
                    use std::io::Write;
                    let _ = c.stream.write_all(&common::cmds("PING"));
                    if let Some(r) = c.try_reply(Duration::from_secs(5)) {
                        panic!(
                            "round {round}: subscribed to {gone} after the revoke and still connected (PING: {})",
                            common::show(&r)
                        );
                    }
                    c.expect_closed(Duration::from_secs(1));
                    closed += 1;
                    break;
                }
            }
        }
    }
    assert_eq!(refused + closed, ROUNDS * SUBSCRIBERS);
    // Both orders happened, or the rounds did not race at all.
    assert!(
        refused > 0 && closed > 0,
        "{refused} refused, {closed} closed"
    );
    eprintln!("{refused} refused, {closed} closed ({closed_midway} midway)");
}

#[test]
fn deleting_a_user_disconnects_its_clients() {
    let srv = with_app1();
    let mut c = login(&srv, "app1", "s3cret");
    let mut other = srv.raw();
    other.expect_call("ACL DELUSER app1", b":1\r\n");
    c.expect_closed(Duration::from_secs(5));
    other.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn rules_changed_after_queueing_fail_at_exec() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    admin.expect_call("ACL SETUSER u on nopass ~* &* +@all", OK);
    let mut c = login(&srv, "u", "x");
    c.expect_call("MULTI", OK);
    c.expect_call("SET k 1", b"+QUEUED\r\n");
    c.expect_call("PUBLISH ch m", b"+QUEUED\r\n");
    admin.expect_call("ACL SETUSER u -set resetchannels", OK);
    c.expect_call(
        "EXEC",
        b"*2\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to access one of the channels used as arguments\r\n",
    );
    // Each refusal is logged once.
    let log = String::from_utf8_lossy(&admin.call("ACL LOG")).into_owned();
    assert!(log.starts_with("*2\r\n"), "{log}");
    assert_eq!(log.matches("count\r\n:1\r\n").count(), 2, "{log}");
    assert!(log.contains("$7\r\ncontext\r\n$5\r\nmulti\r\n"), "{log}");
    // Scripts are checked too.
    let got = c.call_args(&[b"EVAL", b"return redis.pcall('set','k','1')", b"0"]);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR The user executing the script can't run this command or subcommand\r\n"
    );
}

#[test]
fn acl_cat_genpass_and_help() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "ACL CAT",
        &[
            &b"*21\r\n"[..],
            &[
                "keyspace",
                "read",
                "write",
                "set",
                "sortedset",
                "list",
                "hash",
                "string",
                "bitmap",
                "hyperloglog",
                "geo",
                "stream",
                "pubsub",
                "admin",
                "fast",
                "slow",
                "blocking",
                "dangerous",
                "connection",
                "transaction",
                "scripting",
            ]
            .iter()
            .flat_map(|c| bulk(c))
            .collect::<Vec<u8>>(),
        ]
        .concat(),
    );
    let pubsub = String::from_utf8_lossy(&c.call("ACL CAT pubsub")).into_owned();
    for name in ["publish", "subscribe", "psubscribe", "pubsub|numsub"] {
        assert!(pubsub.contains(&format!("\r\n{name}\r\n")), "{pubsub}");
    }
    c.expect_call("ACL CAT nope", b"-ERR Unknown category 'nope'\r\n");
    let pass = c.call("ACL GENPASS");
    assert_eq!(&pass[..5], b"$64\r\n");
    assert!(pass[5..69].iter().all(u8::is_ascii_hexdigit));
    assert_eq!(&c.call("ACL GENPASS 5")[..4], b"$2\r\n");
    c.expect_call(
        "ACL GENPASS 0",
        b"-ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096\r\n",
    );
    c.expect_call(
        "ACL foo",
        b"-ERR unknown subcommand 'foo'. Try ACL HELP.\r\n",
    );
    c.expect_call(
        "ACL LOAD",
        b"-ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.\r\n",
    );
}

#[test]
fn user_lines_in_the_config_file_create_users() {
    let srv = TestServer::start_with_config(
        &format!("user app1 {APP1}\nuser default on >adminpw ~* &* +@all\n"),
        &[],
    );
    let mut c = srv.raw();
    c.expect_call("PING", b"-NOAUTH Authentication required.\r\n");
    c.expect_call("AUTH app1 s3cret", OK);
    c.expect_call("PUBLISH app2:x m", NOPERM_CHANNEL);
    c.expect_call("PUBLISH app1:x m", b":0\r\n");
    c.expect_call("AUTH adminpw", OK);
    c.expect_call("ACL WHOAMI", &bulk("default"));
}

#[test]
fn aclfile_loads_saves_and_reloads() {
    let dir = TempDir::new("acl");
    let file = dir.write("users.acl", &format!("user app1 {APP1}\n"));
    let file = file.to_string_lossy().into_owned();
    let srv = TestServer::start_with(&["--aclfile", &file]);
    let mut c = srv.raw();
    c.expect_call("ACL USERS", b"*2\r\n$4\r\napp1\r\n$7\r\ndefault\r\n");
    c.expect_call("ACL SETUSER app2 on nopass +ping", OK);
    c.expect_call("ACL SAVE", OK);
    let saved = std::fs::read_to_string(&file).expect("read saved file");
    assert!(
        saved.contains("user app2 on nopass resetchannels -@all +ping\n"),
        "{saved}"
    );
    assert!(saved.starts_with("user app1 on #"), "{saved}");
    c.expect_call("ACL DELUSER app2", b":1\r\n");
    let mut app1 = login(&srv, "app1", "s3cret");
    c.expect_call("ACL LOAD", OK);
    c.expect_call(
        "ACL USERS",
        b"*3\r\n$4\r\napp1\r\n$4\r\napp2\r\n$7\r\ndefault\r\n",
    );
    // ACL LOAD replaces every user, closing their connections, as Redis 7.0.
    app1.expect_closed(Duration::from_secs(5));
    // A bad file changes nothing and says what is wrong.
    std::fs::write(&file, "user app3 on foo\n# comment\n").expect("write");
    let got = String::from_utf8_lossy(&c.call("ACL LOAD")).into_owned();
    assert_eq!(
        got,
        format!(
            "-ERR {file}:1: Syntax error. {file}:2 should start with user keyword followed by the username. WARNING: ACL errors detected, no change to the previously active ACL rules was performed\r\n"
        )
    );
    c.expect_call(
        "ACL USERS",
        b"*3\r\n$4\r\napp1\r\n$4\r\napp2\r\n$7\r\ndefault\r\n",
    );
}

#[test]
fn bad_user_lines_and_mixing_them_with_aclfile_stop_start_up() {
    if is_reference() {
        return;
    }
    let dir = TempDir::new("aclbad");
    let conf = dir.write("bad.conf", "user app1 on +nosuch\n");
    let out = run_server_to_exit(&[&conf.to_string_lossy()], Duration::from_secs(10));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "Error in user declaration '+nosuch': Unknown command or category name in ACL"
        ),
        "{err}"
    );
    let file = dir.write("users.acl", "user app1 on\n");
    let port = common::free_port().to_string();
    let out = run_server_to_exit(
        &[
            "--port",
            &port,
            "--user",
            "x",
            "on",
            "--aclfile",
            &file.to_string_lossy(),
        ],
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("define either an ACL file or declare users"),
        "{all}"
    );
}

/// Passwords are binary-safe (NUL and spaces included).
#[test]
fn binary_passwords_work() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        c.call_args(&[b"ACL", b"SETUSER", b"bin", b"on", b">p\x00w d"]),
        OK
    );
    let mut d = srv.raw();
    assert_eq!(d.call_args(&[b"AUTH", b"bin", b"p\x00w d"]), OK);
    assert_eq!(d.call_args(&[b"AUTH", b"bin", b"p"]), WRONGPASS);
}

/// Every command with key arguments checks them, as Redis's key specs say.
#[test]
fn key_patterns_cover_every_command_with_keys() {
    let srv = TestServer::start();
    srv.raw()
        .expect_call("ACL SETUSER k on nopass ~app:* %R~pub:* &* +@all", OK);
    let mut c = login(&srv, "k", "x");
    c.expect_call("SET app:1 v", OK);
    for refused in [
        "GETEX secret",
        "GETSET secret v",
        "COPY secret app:2",
        "COPY app:1 secret",
        "SETRANGE secret 0 x",
        "MSETNX app:3 v secret v",
        "TOUCH secret",
        "RENAME app:1 secret",
        "SET pub:1 v",
        "EVAL return 1 1 secret",
        "BITOP AND app:5 app:1 secret",
        "BITOP AND secret app:1",
        "LCS app:1 secret",
        "OBJECT ENCODING secret",
        "INCRBYFLOAT secret 1",
        "SETBIT secret 0 1",
        "GETRANGE secret 0 1",
    ] {
        c.expect_call(refused, NOPERM_KEY);
    }
    c.expect_call("GET pub:1", b"$-1\r\n");
    c.expect_call("MSETNX app:3 v app:4 v", b":1\r\n");
    c.expect_call("KEYS nomatch*", b"*0\r\n");
}

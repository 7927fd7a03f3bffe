//! Authentication: `requirepass`, AUTH in both forms, HELLO AUTH, the NOAUTH
//! gate, the stricter framing limits before authentication, RESET, and
//! changing the password at run time.
//!
//! Every expected byte string here was first checked against redis-server 7.0.15.

mod common;

use common::expect_args;

use common::{Raw, TestServer, cmd};
use std::io::Write;
use std::time::Duration;

const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const HELLO_NOAUTH: &[u8] = b"-NOAUTH HELLO must be called with the client already authenticated, \
otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
the RESP protocol version at the same time\r\n";

/// A server with `requirepass pw`.
fn locked() -> TestServer {
    TestServer::start_with(&["--requirepass", "pw"])
}

/// Sends `payload` (ignoring write errors) and asserts the exact bytes
/// received before the server closes the connection.
fn expect_close_after(c: &mut Raw, payload: &[u8], expected: &[u8]) {
    let _ = c.stream.write_all(payload);
    let got = c.expect_closed(Duration::from_secs(5));
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
}

#[test]
fn commands_before_auth_get_noauth() {
    let srv = locked();
    let mut c = srv.raw();
    c.expect_call("PING", NOAUTH);
    c.expect_call("ECHO x", NOAUTH);
    c.expect_call("SELECT 1", NOAUTH);
    c.expect_call("CLIENT ID", NOAUTH);
    c.expect_call("SUBSCRIBE ch", NOAUTH);
    c.expect_call("PUBLISH ch m", NOAUTH);
    c.expect_call("CONFIG GET port", NOAUTH);
    // Inline commands are gated too.
    c.send(b"PING\r\n");
    c.expect(NOAUTH);
    // The connection stays open and can still authenticate.
    c.expect_call("AUTH pw", b"+OK\r\n");
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn unknown_command_and_arity_are_checked_before_auth() {
    // Redis looks the command up and checks its arity before the NOAUTH gate.
    let srv = locked();
    let mut c = srv.raw();
    c.expect_call(
        "FOO a",
        b"-ERR unknown command 'FOO', with args beginning with: 'a' \r\n",
    );
    c.expect_call(
        "ECHO",
        b"-ERR wrong number of arguments for 'echo' command\r\n",
    );
    c.expect_call(
        "AUTH",
        b"-ERR wrong number of arguments for 'auth' command\r\n",
    );
    c.expect_call("PING", NOAUTH);
}

#[test]
fn auth_password_only_form() {
    let srv = locked();
    let mut c = srv.raw();
    c.expect_call("AUTH wrong", WRONGPASS);
    c.expect_call("PING", NOAUTH);
    c.expect_call("AUTH pw", b"+OK\r\n");
    c.expect_call("PING", b"+PONG\r\n");
    // A later failed AUTH does not undo the earlier success.
    c.expect_call("AUTH wrong", WRONGPASS);
    c.expect_call("PING", b"+PONG\r\n");
    c.expect_call("AUTH a b c", b"-ERR syntax error\r\n");
}

#[test]
fn auth_user_and_password_form() {
    let srv = locked();
    let mut c = srv.raw();
    c.expect_call("AUTH nope pw", WRONGPASS);
    c.expect_call("AUTH default wrong", WRONGPASS);
    c.expect_call("PING", NOAUTH);
    c.expect_call("AUTH default pw", b"+OK\r\n");
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn password_is_compared_as_exact_bytes() {
    let srv = TestServer::start_with(&["--requirepass", "p w\u{e9}"]);
    let mut c = srv.raw();
    expect_args(&mut c, &[b"AUTH", b"p w"], WRONGPASS);
    expect_args(&mut c, &[b"AUTH", "p w\u{e9}x".as_bytes()], WRONGPASS);
    expect_args(&mut c, &[b"AUTH", "P W\u{e9}".as_bytes()], WRONGPASS);
    expect_args(&mut c, &[b"AUTH", "p w\u{e9}".as_bytes()], b"+OK\r\n");
}

#[test]
fn hello_before_auth_needs_auth_option() {
    let srv = locked();
    let mut c = srv.raw();
    c.expect_call("HELLO", HELLO_NOAUTH);
    c.expect_call("HELLO 3", HELLO_NOAUTH);
    c.expect_call("HELLO 2", HELLO_NOAUTH);
    c.expect_call("HELLO 3 AUTH default wrong", WRONGPASS);
    c.expect_call("HELLO 3 AUTH nope pw", WRONGPASS);
    // Still RESP2 and still unauthenticated.
    c.expect_call("PING", NOAUTH);
}

#[test]
fn hello_3_with_auth_authenticates_and_switches() {
    let srv = locked();
    let mut c = srv.raw();
    let r = c.call("HELLO 3 AUTH default pw");
    assert!(
        r.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{:?}",
        String::from_utf8_lossy(&r)
    );
    assert!(
        r.windows(b"$5\r\nproto\r\n:3\r\n".len())
            .any(|w| w == b"$5\r\nproto\r\n:3\r\n"),
        "{:?}",
        String::from_utf8_lossy(&r)
    );
    c.expect_call("CLIENT GETNAME", b"_\r\n");
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn hello_2_with_auth_and_setname() {
    let srv = locked();
    let mut c = srv.raw();
    let r = c.call("HELLO 2 AUTH default pw SETNAME worker");
    assert!(
        r.starts_with(b"*14\r\n$6\r\nserver\r\n"),
        "{:?}",
        String::from_utf8_lossy(&r)
    );
    c.expect_call("CLIENT GETNAME", b"$6\r\nworker\r\n");
}

#[test]
fn quit_works_unauthenticated() {
    let srv = locked();
    let mut c = srv.raw();
    c.send(&cmd(&[b"QUIT"]));
    let got = c.expect_closed(Duration::from_secs(5));
    assert_eq!(got, b"+OK\r\n");
}

#[test]
fn auth_without_a_configured_password() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "AUTH x",
        b"-ERR AUTH <password> called without any password configured for the default user. \
Are you sure your configuration is correct?\r\n",
    );
    // The default user has no password, so the two-argument form accepts anything.
    c.expect_call("AUTH default anything", b"+OK\r\n");
    c.expect_call("AUTH someone x", WRONGPASS);
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn unauthenticated_multibulk_length_limit() {
    let srv = locked();
    // More than 10 arguments before auth: refused and closed.
    let mut c = srv.raw();
    expect_close_after(
        &mut c,
        b"*11\r\n",
        b"-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
    // Exactly 10 is allowed (AUTH with 9 arguments is merely a syntax error).
    let mut c = srv.raw();
    c.expect_call("AUTH 1 2 3 4 5 6 7 8 9", b"-ERR syntax error\r\n");
    c.expect_call("PING", NOAUTH);
    // After auth the limit does not apply.
    c.expect_call("AUTH pw", b"+OK\r\n");
    c.expect_call(
        "PING 1 2 3 4 5 6 7 8 9 10 11",
        b"-ERR wrong number of arguments for 'ping' command\r\n",
    );
}

#[test]
fn unauthenticated_bulk_length_limit() {
    let srv = locked();
    let mut c = srv.raw();
    expect_close_after(
        &mut c,
        b"*2\r\n$4\r\nAUTH\r\n$16385\r\n",
        b"-ERR Protocol error: unauthenticated bulk length\r\n",
    );
    // 16384 bytes is allowed.
    let mut c = srv.raw();
    let big = vec![b'p'; 16384];
    expect_args(&mut c, &[b"AUTH", &big], WRONGPASS);
    c.expect_call("AUTH pw", b"+OK\r\n");
    // After auth, large arguments are fine.
    let huge = vec![b'q'; 100_000];
    let got = c.call_args(&[b"ECHO", &huge]);
    assert_eq!(got.len(), huge.len() + "$100000\r\n\r\n".len());
}

#[test]
fn reset_deauthenticates() {
    let srv = locked();
    let mut c = srv.raw();
    c.expect_call("AUTH pw", b"+OK\r\n");
    c.expect_call("PING", b"+PONG\r\n");
    c.expect_call("RESET", b"+RESET\r\n");
    c.expect_call("PING", NOAUTH);
    // RESET itself is allowed before auth.
    c.expect_call("RESET", b"+RESET\r\n");
    c.expect_call("AUTH default pw", b"+OK\r\n");
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn reset_without_password_keeps_access() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("RESET", b"+RESET\r\n");
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn config_set_requirepass_applies_to_new_connections() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    admin.expect_call("CONFIG SET requirepass newpw", b"+OK\r\n");
    // The connection that set it stays authenticated.
    admin.expect_call("PING", b"+PONG\r\n");
    admin.expect_call(
        "CONFIG GET requirepass",
        b"*2\r\n$11\r\nrequirepass\r\n$5\r\nnewpw\r\n",
    );

    let mut other = srv.raw();
    other.expect_call("PING", NOAUTH);
    other.expect_call("AUTH pw", WRONGPASS);
    other.expect_call("AUTH newpw", b"+OK\r\n");
    other.expect_call("PING", b"+PONG\r\n");

    // Clearing the password opens the server again.
    expect_args(
        &mut admin,
        &[b"CONFIG", b"SET", b"requirepass", b""],
        b"+OK\r\n",
    );
    let mut third = srv.raw();
    third.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn config_set_requirepass_changes_the_password() {
    let srv = locked();
    let mut admin = srv.raw();
    admin.expect_call("AUTH pw", b"+OK\r\n");
    admin.expect_call("CONFIG SET requirepass second", b"+OK\r\n");
    let mut c = srv.raw();
    c.expect_call("AUTH pw", WRONGPASS);
    c.expect_call("AUTH second", b"+OK\r\n");
}

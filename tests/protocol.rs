//! RESP framing: RESP2 multibulk and inline requests, RESP3 after HELLO 3,
//! pipelining, and the protocol errors that close a connection.
//!
//! Every expected byte string here was first checked against redis-server 7.0.15.

mod common;

use common::{bulk, show};

use common::{Raw, TestServer, cmd};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// How long to wait for the server to close a connection after a protocol error.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Reads the connection's id with `CLIENT ID`.
fn client_id(raw: &mut Raw) -> i64 {
    let r = raw.call("CLIENT ID");
    let text = String::from_utf8(r).expect("utf8");
    assert!(
        text.starts_with(':') && text.ends_with("\r\n"),
        "CLIENT ID reply {text:?}"
    );
    text[1..text.len() - 2].parse().expect("integer id")
}

/// Takes the `version` value out of a HELLO reply (RESP2 array or RESP3 map).
fn hello_version(reply: &[u8]) -> String {
    let key = b"$7\r\nversion\r\n$";
    let at = reply
        .windows(key.len())
        .position(|w| w == key)
        .unwrap_or_else(|| panic!("no version in {:?}", String::from_utf8_lossy(reply)));
    let rest = &reply[at + key.len()..];
    let eol = rest.windows(2).position(|w| w == b"\r\n").expect("eol");
    let len: usize = std::str::from_utf8(&rest[..eol]).unwrap().parse().unwrap();
    String::from_utf8(rest[eol + 2..eol + 2 + len].to_vec()).unwrap()
}

/// The exact HELLO reply Redis sends for protocol `proto`.
fn hello_expected(proto: u8, version: &str, id: i64) -> Vec<u8> {
    let head = if proto == 3 { "%7" } else { "*14" };
    format!(
        "{head}\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n${}\r\n{version}\r\n\
         $5\r\nproto\r\n:{proto}\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
         $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
        version.len()
    )
    .into_bytes()
}

/// Sends `payload` on a fresh connection (ignoring write errors, since the
/// server may close first) and asserts the server answers exactly `expected`
/// and then closes the connection; then checks the server still serves others.
fn assert_closes_with(srv: &TestServer, case: &str, payload: &[u8], expected: &[u8]) {
    let mut raw = srv.raw();
    let _ = raw.stream.write_all(payload);
    let got = raw.expect_closed(CLOSE_WAIT);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected),
        "case {case}"
    );
    srv.raw().expect_call("PING", b"+PONG\r\n");
}

#[test]
fn ping_with_and_without_message() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("PING", b"+PONG\r\n");
    c.expect_call("ping", b"+PONG\r\n");
    c.expect_call("PING hello", b"$5\r\nhello\r\n");
    c.expect_call(
        "PING a b",
        b"-ERR wrong number of arguments for 'ping' command\r\n",
    );
}

#[test]
fn echo_returns_every_byte_value_exactly() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let all: Vec<u8> = (0..=255u8).collect();
    assert_eq!(c.call_args(&[b"ECHO", &all]), bulk(&all));
    for payload in [
        &b"\0"[..],
        b"\r\n",
        b"\r",
        b"\n",
        b"a\0b\r\nc",
        b"",
        b"$3\r\nfoo\r\n",
    ] {
        assert_eq!(
            c.call_args(&[b"ECHO", payload]),
            bulk(payload),
            "payload {payload:?}"
        );
    }
    // 16 non-UTF-8 bytes, as StackExchange.Redis sends on every connection.
    let se = [
        0xffu8, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x0d, 0x0a, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x90,
        0x28,
    ];
    assert_eq!(c.call_args(&[b"echo", &se]), bulk(&se));
    // A 1 MB argument comes back whole.
    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(c.call_args(&[b"ECHO", &big]), bulk(&big));
    c.expect_call(
        "ECHO",
        b"-ERR wrong number of arguments for 'echo' command\r\n",
    );
}

#[test]
fn hello_2_and_3_exact_replies() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let id = client_id(&mut c);

    let r2 = c.call("HELLO 2");
    let version = hello_version(&r2);
    assert!(version.starts_with("7."), "version {version:?}");
    assert_eq!(
        String::from_utf8_lossy(&r2),
        String::from_utf8_lossy(&hello_expected(2, &version, id))
    );

    let r3 = c.call("HELLO 3");
    assert_eq!(
        String::from_utf8_lossy(&r3),
        String::from_utf8_lossy(&hello_expected(3, &version, id))
    );

    // HELLO without a version reports the current protocol without changing it.
    let again = c.call("HELLO");
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&hello_expected(3, &version, id))
    );

    // Back to RESP2.
    let back = c.call("HELLO 2");
    assert_eq!(
        String::from_utf8_lossy(&back),
        String::from_utf8_lossy(&hello_expected(2, &version, id))
    );
    c.expect_call("CLIENT GETNAME", b"$-1\r\n");
}

#[test]
fn hello_rejects_unsupported_versions() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("HELLO 4", b"-NOPROTO unsupported protocol version\r\n");
    c.expect_call("HELLO 1", b"-NOPROTO unsupported protocol version\r\n");
    c.expect_call("HELLO 0", b"-NOPROTO unsupported protocol version\r\n");
    c.expect_call(
        "HELLO x",
        b"-ERR Protocol version is not an integer or out of range\r\n",
    );
    c.expect_call(
        "HELLO 2 FOO",
        b"-ERR Syntax error in HELLO option 'FOO'\r\n",
    );
    c.expect_call(
        "HELLO 2 AUTH",
        b"-ERR Syntax error in HELLO option 'AUTH'\r\n",
    );
    // A failed HELLO leaves the connection on RESP2.
    c.expect_call("CLIENT GETNAME", b"$-1\r\n");
}

#[test]
fn hello_setname_sets_the_name() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let r = c.call("HELLO 3 SETNAME conn1");
    assert!(
        r.starts_with(b"%7\r\n"),
        "{:?}",
        String::from_utf8_lossy(&r)
    );
    c.expect_call("CLIENT GETNAME", b"$5\r\nconn1\r\n");
    assert_eq!(
        String::from_utf8_lossy(&c.call_args(&[b"HELLO", b"3", b"SETNAME", b"a\nb"])),
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&c.call_args(&[b"HELLO", b"3", b"SETNAME", b"a b"])),
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    // The failed HELLO changed nothing.
    c.expect_call("CLIENT GETNAME", b"$5\r\nconn1\r\n");
}

#[test]
fn resp3_replies_after_hello_3() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.call("HELLO 3");
    // Null is `_` in RESP3.
    c.expect_call("CLIENT GETNAME", b"_\r\n");
    // CONFIG GET is a map.
    let port = srv.port.to_string();
    c.expect_call(
        "CONFIG GET port",
        format!("%1\r\n$4\r\nport\r\n${}\r\n{port}\r\n", port.len()).as_bytes(),
    );
    c.expect_call("CONFIG GET no-such-parameter", b"%0\r\n");
    // INFO is a verbatim string.
    c.expect_call("INFO keyspace", b"=16\r\ntxt:# Keyspace\r\n\r\n");
    // Simple replies are unchanged.
    c.expect_call("PING", b"+PONG\r\n");
    c.expect_call("DBSIZE", b":0\r\n");
    c.expect_call("ECHO x", b"$1\r\nx\r\n");
    c.expect_call(
        "FOO",
        b"-ERR unknown command 'FOO', with args beginning with: \r\n",
    );
}

#[test]
fn inline_commands() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(b"PING\r\n");
    c.expect(b"+PONG\r\n");
    // `\n` alone ends a line too.
    c.send(b"PING\n");
    c.expect(b"+PONG\r\n");
    c.send(b"ECHO \"a b\"\r\n");
    c.expect(b"$3\r\na b\r\n");
    c.send(b"ECHO 'c d'\r\n");
    c.expect(b"$3\r\nc d\r\n");
    // Escapes inside double quotes.
    c.send(b"ECHO \"\\x41\\n\\t\\\"\"\r\n");
    c.expect(b"$4\r\nA\n\t\"\r\n");
    // Runs of spaces separate arguments; no empty arguments appear.
    c.send(b"ECHO    x   \r\n");
    c.expect(b"$1\r\nx\r\n");
    c.send(b"PING hello\r\n");
    c.expect(b"$5\r\nhello\r\n");
    // Empty and blank lines get no reply at all.
    c.send(b"\r\n\n   \r\n");
    c.expect_nothing(Duration::from_millis(300));
    c.send(b"PING\r\n");
    c.expect(b"+PONG\r\n");
    // Several inline commands in one write, answered in order.
    c.send(b"ECHO 1\r\nECHO 2\nPING\r\n");
    c.expect(b"$1\r\n1\r\n");
    c.expect(b"$1\r\n2\r\n");
    c.expect(b"+PONG\r\n");
}

#[test]
fn inline_line_of_exactly_64k_is_a_command() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut line = vec![b'x'; 65536];
    line.extend_from_slice(b"\r\n");
    c.send(&line);
    // The command name in the error is cut to 128 bytes.
    let name = "x".repeat(128);
    c.expect(format!("-ERR unknown command '{name}', with args beginning with: \r\n").as_bytes());
    c.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn frames_split_byte_by_byte() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let req = cmd(&[b"ECHO", b"hello\r\nworld"]);
    for b in &req {
        c.send(std::slice::from_ref(b));
        std::thread::sleep(Duration::from_millis(1));
    }
    c.expect(&bulk(b"hello\r\nworld"));
    for b in b"PING\r\n" {
        c.send(std::slice::from_ref(b));
        std::thread::sleep(Duration::from_millis(1));
    }
    c.expect(b"+PONG\r\n");
}

/// A request whose last bytes arrive just as the server finishes reading
/// the first ones must still be read: the server treats a short read as
/// "socket drained" and waits for the next readiness event, so an event lost
/// in between would leave the request unanswered until the timeout.
#[test]
fn a_request_finished_while_the_server_reads_is_still_answered() {
    // Two workers: one may take the readiness event while the other reads.
    let srv = TestServer::start_with(&["--io-threads", "2"]);
    let workers: Vec<_> = (0..8u64)
        .map(|seed| {
            let mut c = srv.raw();
            std::thread::spawn(move || {
                let mut rng = common::Rng(seed + 1);
                for round in 0..300 {
                    let req = cmd(&[b"ECHO", format!("r{round}").as_bytes()]);
                    let cut = 1 + rng.below(req.len() - 1);
                    c.send(&req[..cut]);
                    // Anything from no pause to a few microseconds, so the
                    // rest lands before, during or after the server's read.
                    for _ in 0..rng.below(2000) {
                        std::hint::spin_loop();
                    }
                    c.send(&req[cut..]);
                    let reply = c.try_reply(Duration::from_secs(2));
                    assert_eq!(
                        reply.as_deref(),
                        Some(&bulk(format!("r{round}").as_bytes())[..]),
                        "connection {seed}, round {round}, cut at {cut}"
                    );
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a request went unanswered");
    }
}

#[test]
fn pipelined_10000_commands_answered_in_order() {
    let srv = TestServer::start();
    let c = srv.raw();
    let mut request = Vec::new();
    let mut expected = Vec::new();
    for i in 0..10_000u32 {
        match i % 3 {
            0 => {
                request.extend_from_slice(&cmd(&[b"ECHO", i.to_string().as_bytes()]));
                expected.extend_from_slice(&bulk(i.to_string().as_bytes()));
            }
            1 => {
                request.extend_from_slice(&cmd(&[b"PING"]));
                expected.extend_from_slice(b"+PONG\r\n");
            }
            _ => {
                request.extend_from_slice(format!("ECHO m{i}\r\n").as_bytes());
                expected.extend_from_slice(&bulk(format!("m{i}").as_bytes()));
            }
        }
    }
    let mut writer = c.stream.try_clone().expect("clone");
    let t = std::thread::spawn(move || writer.write_all(&request).expect("write pipeline"));
    let mut reader = c.stream.try_clone().expect("clone");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::with_capacity(expected.len());
    let mut chunk = vec![0u8; 65536];
    while got.len() < expected.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} bytes",
            got.len(),
            expected.len()
        );
        reader
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        match reader.read(&mut chunk) {
            Ok(0) => panic!("closed after {} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
    t.join().unwrap();
    assert!(
        got == expected,
        "pipelined replies differ from the expected sequence"
    );
    drop(c);
}

#[test]
fn empty_and_negative_multibulk_get_no_reply() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(b"*0\r\n*-1\r\n");
    c.expect_nothing(Duration::from_millis(300));
    c.send(b"*0\r\n*1\r\n$4\r\nPING\r\n*-1\r\n");
    c.expect(b"+PONG\r\n");
    c.expect_nothing(Duration::from_millis(200));
    c.expect_call("ECHO alive", b"$5\r\nalive\r\n");
}

#[test]
fn multibulk_framing_errors_close_the_connection() {
    let srv = TestServer::start();
    let cases: &[(&str, &[u8], &[u8])] = &[
        (
            "non-numeric count",
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            "count over INT_MAX",
            b"*2147483648\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            "simple string element",
            b"*1\r\n+foo\r\n",
            b"-ERR Protocol error: expected '$', got '+'\r\n",
        ),
        (
            "array element",
            b"*2\r\n$4\r\nPING\r\n*1\r\n",
            b"-ERR Protocol error: expected '$', got '*'\r\n",
        ),
        (
            "non-numeric bulk length",
            b"*1\r\n$abc\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            "null bulk element",
            b"*1\r\n$-1\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            "bulk over 512mb",
            b"*1\r\n$536870913\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            "error after a good command",
            b"*1\r\n$4\r\nPING\r\n*1\r\n$-3\r\n",
            b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n",
        ),
    ];
    for (case, payload, expected) in cases {
        assert_closes_with(&srv, case, payload, expected);
    }
}

#[test]
fn header_lines_end_at_the_first_cr_as_in_redis() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    // Redis ends a header line at its first CR and skips the byte after it
    // unread: these frames are commands.
    c.send(b"*2\rX$4\r\0ECHO\r\n$2\r\rhi\r\n");
    c.expect(b"$2\r\nhi\r\n");
    // A header's type byte is looked at only once its line is complete.
    c.send(b"*1\r\nfoo");
    c.expect_nothing(Duration::from_millis(200));
    c.send(b"\r\n");
    assert_eq!(
        c.expect_closed(CLOSE_WAIT),
        b"-ERR Protocol error: expected '$', got 'f'\r\n"
    );
    // A NUL before the CR hides the line, as from Redis's strchr: no reply.
    let mut c = srv.raw();
    c.send(b"*1\0\r\n$4\r\nPING\r\n");
    c.expect_nothing(Duration::from_millis(300));
}

#[test]
fn offending_byte_is_quoted_raw_in_the_error() {
    let srv = TestServer::start();
    // The byte goes back as it came, not UTF-8 encoded; CR becomes a space.
    assert_closes_with(
        &srv,
        "byte 0xff",
        b"*1\r\n\xff\r\n",
        b"-ERR Protocol error: expected '$', got '\xff'\r\n",
    );
    assert_closes_with(
        &srv,
        "byte 0x80 after a command",
        b"*1\r\n$4\r\nPING\r\n*1\r\n\x80abc\r\n",
        b"+PONG\r\n-ERR Protocol error: expected '$', got '\x80'\r\n",
    );
    assert_closes_with(
        &srv,
        "empty header line",
        b"*1\r\n\r\n",
        b"-ERR Protocol error: expected '$', got ' '\r\n",
    );
}

/// Sends `input` on a fresh connection, half-closes it and returns every
/// byte the server writes before closing.
fn replies_until_close(srv: &TestServer, input: &[u8]) -> Vec<u8> {
    let mut c = srv.raw();
    c.send(input);
    c.stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    c.expect_closed(CLOSE_WAIT)
}

#[test]
fn error_replies_quote_arguments_as_sent() {
    // Redis echoes the bytes of an unknown command and its arguments as
    // they came (up to a NUL), never re-encoded. Compared as bytes: a lossy
    // comparison would hide the re-encoding.
    let srv = TestServer::start();
    let mut input = cmd(&[b"F\xffO", b"a\x80b", b"c\0d"]);
    input.extend(cmd(&[b"CLIENT", b"x\xe9y"]));
    let got = replies_until_close(&srv, &input);
    let expected: &[u8] =
        b"-ERR unknown command 'F\xffO', with args beginning with: 'a\x80b' 'c' \r\n\
        -ERR unknown subcommand 'x\xe9y'. Try CLIENT HELP.\r\n";
    assert!(got == expected, "got {got:?}");
}

#[test]
fn client_reply_skip_meets_empty_and_broken_requests_as_in_redis() {
    let srv = TestServer::start();
    // An empty request uses up the SKIP (Redis resets the client after it).
    assert_eq!(
        show(&replies_until_close(
            &srv,
            b"CLIENT REPLY SKIP\r\n*-1\r\nPING\r\n"
        )),
        show(b"+PONG\r\n")
    );
    // A broken request is the skipped one: its protocol error is not sent.
    assert_eq!(
        show(&replies_until_close(
            &srv,
            b"CLIENT REPLY SKIP\r\n*1\r\nfoo\r\n"
        )),
        ""
    );
    // RESET clears a pending SKIP but not the one applying to itself.
    assert_eq!(
        show(&replies_until_close(
            &srv,
            b"CLIENT REPLY SKIP\r\nRESET\r\nPING\r\n"
        )),
        show(b"+PONG\r\n")
    );
}

#[test]
fn multibulk_count_over_one_million_closes() {
    // Redis 7.0 accepts any count up to INT_MAX; pubsubd caps a request at
    // 1048576 arguments (the pre-6.0 Redis limit) so a hostile header cannot
    // make it reserve memory for billions of arguments.
    if common::is_reference() {
        return;
    }
    let srv = TestServer::start();
    assert_closes_with(
        &srv,
        "1048577",
        b"*1048577\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    );
}

#[test]
fn inline_errors_close_the_connection() {
    let srv = TestServer::start();
    assert_closes_with(
        &srv,
        "unbalanced double quote",
        b"\"unbalanced\r\n",
        b"-ERR Protocol error: unbalanced quotes in request\r\n",
    );
    assert_closes_with(
        &srv,
        "unbalanced single quote",
        b"ECHO 'abc\r\n",
        b"-ERR Protocol error: unbalanced quotes in request\r\n",
    );
    assert_closes_with(
        &srv,
        "closing quote not followed by a space",
        b"ECHO \"a\"b\r\n",
        b"-ERR Protocol error: unbalanced quotes in request\r\n",
    );
    assert_closes_with(
        &srv,
        "good inline command first",
        b"PING\r\nECHO \"x\r\n",
        b"+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n",
    );
}

#[test]
fn inline_request_over_64k_without_newline_closes() {
    let srv = TestServer::start();
    // One byte over the 64 KB inline limit, so the server has read everything
    // we sent when it decides, and the close is orderly.
    let payload = vec![b'x'; 65537];
    assert_closes_with(
        &srv,
        "65537 bytes",
        &payload,
        b"-ERR Protocol error: too big inline request\r\n",
    );
}

#[test]
fn bulk_over_proto_max_bulk_len_closes() {
    let srv = TestServer::start_with(&["--proto-max-bulk-len", "1mb"]);
    assert_closes_with(
        &srv,
        "1048577",
        b"*1\r\n$1048577\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    // Exactly the limit is fine.
    let mut c = srv.raw();
    let payload = vec![b'z'; 1_048_576];
    assert_eq!(c.call_args(&[b"ECHO", &payload]), bulk(&payload));
}

#[test]
fn query_buffer_over_limit_closes_silently() {
    let srv = TestServer::start_with(&["--client-query-buffer-limit", "1mb"]);
    let mut c = srv.raw();
    // A 4 MB bulk announced, then 2 MB of it sent: the unparsed request
    // outgrows the 1 MB query buffer limit.
    let _ = c.stream.write_all(b"*2\r\n$4\r\nECHO\r\n$4000000\r\n");
    let chunk = vec![b'a'; 65536];
    for _ in 0..32 {
        if c.stream.write_all(&chunk).is_err() {
            break;
        }
    }
    let got = c.expect_closed(CLOSE_WAIT);
    assert!(
        got.is_empty() || got.starts_with(b"-ERR"),
        "unexpected reply before close: {:?}",
        String::from_utf8_lossy(&got)
    );
    // The server and other clients are unaffected.
    srv.raw().expect_call("PING", b"+PONG\r\n");
}

#[test]
fn query_buffer_limit_counts_the_argument_with_its_crlf() {
    // Redis holds an arriving argument in its query buffer with the CRLF
    // after it (its header already taken out) and checks the limit after
    // every read: with 1 MB, 1,048,574 bytes fit and 1,048,575 do not.
    let srv = TestServer::start_with(&["--client-query-buffer-limit", "1mb"]);
    let mut c = srv.raw();
    let fits = vec![b'f'; 1_048_574];
    assert_eq!(c.call_args(&[b"ECHO", &fits]), bulk(&fits));
    let mut c = srv.raw();
    let _ = c.stream.write_all(&cmd(&[b"ECHO", &[b'o'; 1_048_575]]));
    assert_eq!(show(&c.expect_closed(CLOSE_WAIT)), "");
    srv.raw().expect_call("PING", b"+PONG\r\n");
}

#[test]
fn large_pipelined_arguments_under_query_limit_are_fine() {
    // Each argument is consumed as it completes, so many 512 KB arguments in a
    // row never exceed a 1 MB query buffer limit.
    let srv = TestServer::start_with(&["--client-query-buffer-limit", "1mb"]);
    let mut c = srv.raw();
    let a = vec![b'a'; 512 * 1024];
    let b = vec![b'b'; 512 * 1024];
    c.send(&cmd(&[b"ECHO", &a]));
    c.send(&cmd(&[b"ECHO", &b]));
    assert_eq!(c.reply(), bulk(&a));
    assert_eq!(c.reply(), bulk(&b));
}

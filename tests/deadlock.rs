//! The keyspace lock is never taken twice on one path, and no client parks
//! a runtime worker while another client holds the keyspace: INFO and the
//! `maxmemory` check inside EXEC and scripts, clients that wait behind a busy
//! script, and SHUTDOWN NOSAVE / SIGTERM while a script is busy.
//!
//! Every wait is bounded: a server that deadlocks fails the test (a reply
//! that does not arrive within [`ANSWER_WITHIN`]) instead of hanging it.
//! Replies were checked against redis-server 7.0.15
//! (`PUBSUBD_TEST_BIN=$(which redis-server)`) except where a test says it
//! exercises pubsubd only.

mod common;

use std::time::{Duration, Instant};

use common::{Raw, TestServer, cmd, show};

/// How long a reply may take before the server counts as stuck.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// How long the server may take to exit after SHUTDOWN or SIGTERM.
const EXIT_WITHIN: Duration = Duration::from_secs(10);
/// Redis's reply while a script is busy.
const BUSY: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
/// A read-only script that never ends (SCRIPT KILL can stop it).
const ENDLESS: &str = "local t = redis.call('time') while true do end";

/// Sends `line` and returns its reply, failing (not hanging) if none comes.
fn answer(c: &mut Raw, line: &str) -> Vec<u8> {
    c.send(&common::cmds(line));
    next(c, line)
}

/// The next reply on `c`, failing if none comes within [`ANSWER_WITHIN`].
fn next(c: &mut Raw, what: &str) -> Vec<u8> {
    match c.try_reply(ANSWER_WITHIN) {
        Some(r) => r,
        None => panic!("no reply to {what:?} within {ANSWER_WITHIN:?}: the server is stuck"),
    }
}

/// Sends `EVAL script 0` without reading the reply.
fn send_eval(c: &mut Raw, script: &str) {
    c.send(&cmd(&[b"EVAL", script.as_bytes(), b"0"]));
}

/// Starts a server whose scripts count as busy after 100 ms.
fn start_busy_fast() -> TestServer {
    TestServer::start_with(&["--busy-reply-threshold", "100"])
}

/// Starts [`ENDLESS`] on `runner` and waits until `probe` gets `-BUSY`.
fn start_busy_script(runner: &mut Raw, probe: &mut Raw) {
    send_eval(runner, ENDLESS);
    let deadline = Instant::now() + ANSWER_WITHIN;
    loop {
        let r = answer(probe, "PING");
        if r == BUSY {
            return;
        }
        assert_eq!(show(&r), "+PONG\r\n");
        assert!(Instant::now() < deadline, "the script never became busy");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops the busy script with SCRIPT KILL and checks its caller's error.
fn kill_script(killer: &mut Raw, runner: &mut Raw) {
    assert_eq!(show(&answer(killer, "SCRIPT KILL")), "+OK\r\n");
    let r = next(runner, "the killed EVAL");
    assert!(
        r.starts_with(b"-ERR Script killed by user with SCRIPT KILL..."),
        "{}",
        show(&r)
    );
}

/// More clients than the server could have runtime workers (`io-threads`,
/// 1 by default; at most one per core is sensible), so that clients parked
/// on a lock would take every worker.
fn more_than_workers() -> usize {
    std::thread::available_parallelism().map_or(8, |n| n.get()) + 2
}

/// Connects `n` clients that each have WATCHed a key while nothing runs.
fn watchers(srv: &TestServer, n: usize) -> Vec<Raw> {
    (0..n)
        .map(|i| {
            let mut c = srv.raw();
            assert_eq!(show(&answer(&mut c, &format!("WATCH w{i}"))), "+OK\r\n");
            c
        })
        .collect()
}

// ------------------------------------------------------- one lock, one taker

#[test]
fn info_inside_a_transaction() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(show(&answer(&mut c, "SET k v")), "+OK\r\n");
    assert_eq!(show(&answer(&mut c, "MULTI")), "+OK\r\n");
    assert_eq!(show(&answer(&mut c, "INFO keyspace")), "+QUEUED\r\n");
    assert_eq!(show(&answer(&mut c, "INFO memory")), "+QUEUED\r\n");
    assert_eq!(show(&answer(&mut c, "INFO stats")), "+QUEUED\r\n");
    let r = answer(&mut c, "EXEC");
    let text = show(&r);
    assert!(text.starts_with("*3\r\n$"), "{text}");
    assert!(
        text.contains("# Keyspace\r\ndb0:keys=1,expires=0"),
        "{text}"
    );
    assert!(text.contains("# Memory\r\nused_memory:"), "{text}");
    assert!(text.contains("# Stats\r\n"), "{text}");
    // The server still serves everyone.
    assert_eq!(show(&answer(&mut srv.raw(), "GET k")), "$1\r\nv\r\n");
}

#[test]
fn info_from_a_script() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(show(&answer(&mut c, "SET k v")), "+OK\r\n");
    send_eval(&mut c, "return redis.call('info', 'keyspace')");
    let r = next(&mut c, "EVAL return redis.call('info')");
    assert!(r.starts_with(b"$"), "{}", show(&r));
    assert!(show(&r).contains("# Keyspace\r\ndb0:keys=1,expires=0"));
    send_eval(&mut c, "return redis.call('info')");
    let r = next(&mut c, "EVAL return redis.call('info')");
    assert!(
        show(&r).contains("# Memory\r\nused_memory:"),
        "{}",
        show(&r)
    );
    assert_eq!(show(&answer(&mut srv.raw(), "PING")), "+PONG\r\n");
}

#[test]
fn writes_under_maxmemory_inside_transactions_and_scripts() {
    let srv = TestServer::start_with(&["--maxmemory", "1gb"]);
    let mut c = srv.raw();
    assert_eq!(show(&answer(&mut c, "MULTI")), "+OK\r\n");
    assert_eq!(show(&answer(&mut c, "SET a 1")), "+QUEUED\r\n");
    assert_eq!(show(&answer(&mut c, "INCR a")), "+QUEUED\r\n");
    assert_eq!(show(&answer(&mut c, "EXEC")), "*2\r\n+OK\r\n:2\r\n");
    send_eval(&mut c, "return redis.call('set', 'b', 'c')");
    assert_eq!(show(&next(&mut c, "EVAL set")), "+OK\r\n");
    // A script inside a transaction, writing: both hold the keyspace.
    assert_eq!(show(&answer(&mut c, "MULTI")), "+OK\r\n");
    c.send(&cmd(&[b"EVAL", b"return redis.call('incr', 'a')", b"0"]));
    assert_eq!(show(&next(&mut c, "queued EVAL")), "+QUEUED\r\n");
    assert_eq!(show(&answer(&mut c, "EXEC")), "*1\r\n:3\r\n");
    assert_eq!(show(&answer(&mut srv.raw(), "GET b")), "$1\r\nc\r\n");
}

#[test]
fn script_cache_commands_inside_transactions_and_refused_from_scripts() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"; // sha1("return 1")
    assert_eq!(show(&answer(&mut c, "MULTI")), "+OK\r\n");
    c.send(&cmd(&[b"SCRIPT", b"LOAD", b"return 1"]));
    assert_eq!(show(&next(&mut c, "SCRIPT LOAD")), "+QUEUED\r\n");
    assert_eq!(
        show(&answer(&mut c, &format!("SCRIPT EXISTS {sha}"))),
        "+QUEUED\r\n"
    );
    assert_eq!(
        show(&answer(&mut c, &format!("EVALSHA {sha} 0"))),
        "+QUEUED\r\n"
    );
    assert_eq!(show(&answer(&mut c, "SCRIPT FLUSH")), "+QUEUED\r\n");
    assert_eq!(
        show(&answer(&mut c, "CONFIG SET busy-reply-threshold 4000")),
        "+QUEUED\r\n"
    );
    assert_eq!(
        show(&answer(&mut c, "EXEC")),
        format!("*5\r\n$40\r\n{sha}\r\n*1\r\n:1\r\n:1\r\n+OK\r\n+OK\r\n")
    );
    // From a script every SCRIPT subcommand but HELP is refused (Redis's
    // text), so a script never reaches the script engine it runs in.
    for sub in ["'load', 'return 1'", "'exists', 'x'", "'flush'", "'kill'"] {
        send_eval(&mut c, &format!("return redis.pcall('script', {sub})"));
        assert_eq!(
            show(&next(&mut c, sub)),
            "-ERR This Redis command is not allowed from script\r\n"
        );
    }
    send_eval(&mut c, "return redis.pcall('eval', 'return 1', 0)");
    assert_eq!(
        show(&next(&mut c, "eval from a script")),
        "-ERR This Redis command is not allowed from script\r\n"
    );
}

// ------------------------------------------- no worker parked behind a script

/// Sends each of `waiting` a WATCH, which needs the keyspace a busy script
/// holds, and gives them time to reach the server and wait.
fn send_watches(waiting: &mut [Raw]) {
    for (i, c) in waiting.iter_mut().enumerate() {
        c.send(&common::cmds(&format!("WATCH x{i}")));
    }
    std::thread::sleep(Duration::from_millis(200));
}

#[test]
fn clients_waiting_for_a_busy_script_leave_the_server_running() {
    let srv = start_busy_fast();
    let mut runner = srv.raw();
    let mut probe = srv.raw();
    let mut subscriber = srv.raw();
    assert_eq!(
        show(&answer(&mut subscriber, "SUBSCRIBE ch")),
        "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
    );
    let mut waiting = watchers(&srv, more_than_workers());
    start_busy_script(&mut runner, &mut probe);
    // WATCH may run while a script is busy; these need the keyspace the
    // script holds.
    send_watches(&mut waiting);
    // Every other client is still served: BUSY for most commands, SCRIPT
    // KILL stops the script.
    assert_eq!(show(&answer(&mut probe, "PING")), show(BUSY));
    assert_eq!(show(&answer(&mut srv.raw(), "GET k")), show(BUSY));
    kill_script(&mut probe, &mut runner);
    for c in &mut waiting {
        assert_eq!(show(&next(c, "WATCH")), "+OK\r\n");
    }
    // Pub/sub delivery goes on.
    assert_eq!(show(&answer(&mut probe, "PUBLISH ch hi")), ":1\r\n");
    assert_eq!(
        show(&next(&mut subscriber, "message")),
        "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
    );
}

#[test]
fn unwatch_discard_and_quit_during_a_busy_script() {
    let srv = start_busy_fast();
    let mut runner = srv.raw();
    let mut probe = srv.raw();
    let n = more_than_workers();
    let mut waiting = watchers(&srv, 3 * n);
    start_busy_script(&mut runner, &mut probe);
    // Forgetting WATCHed keys, answered at once as Redis does.
    for (i, c) in waiting.iter_mut().enumerate() {
        let line = ["UNWATCH", "MULTI", "QUIT"][i % 3];
        assert_eq!(show(&answer(c, line)), "+OK\r\n", "{line}");
        if line == "MULTI" {
            assert_eq!(show(&answer(c, "DISCARD")), "+OK\r\n");
        }
    }
    assert_eq!(show(&answer(&mut probe, "PING")), show(BUSY));
    kill_script(&mut probe, &mut runner);
    assert_eq!(show(&answer(&mut probe, "SET w0 changed")), "+OK\r\n");
    // None of them watches any more: a transaction goes through.
    for (i, c) in waiting.iter_mut().enumerate() {
        if i % 3 == 2 {
            continue;
        }
        assert_eq!(show(&answer(c, "MULTI")), "+OK\r\n");
        assert_eq!(show(&answer(c, "PING")), "+QUEUED\r\n");
        assert_eq!(show(&answer(c, "EXEC")), "*1\r\n+PONG\r\n");
    }
}

#[test]
fn shutdown_nosave_stops_a_busy_script_and_the_server() {
    let mut srv = start_busy_fast();
    let mut runner = srv.raw();
    let mut probe = srv.raw();
    let mut waiting = watchers(&srv, more_than_workers());
    start_busy_script(&mut runner, &mut probe);
    send_watches(&mut waiting);
    // Only SHUTDOWN NOSAVE may stop a server whose script is busy.
    assert_eq!(show(&answer(&mut probe, "SHUTDOWN")), show(BUSY));
    assert_eq!(show(&answer(&mut probe, "SHUTDOWN NOW")), show(BUSY));
    assert_eq!(
        show(&answer(&mut probe, "SHUTDOWN ABORT")),
        "-ERR No shutdown in progress.\r\n"
    );
    probe.send(&common::cmds("SHUTDOWN NOSAVE"));
    probe.expect_closed(EXIT_WITHIN);
    assert!(
        srv.wait_exit(EXIT_WITHIN).is_some(),
        "the server did not exit after SHUTDOWN NOSAVE"
    );
}

#[test]
fn sigterm_stops_a_busy_script_and_the_server() {
    // pubsubd only: Redis 7.0 acts on SIGTERM once the script has ended.
    if common::is_reference() {
        return;
    }
    let mut srv = start_busy_fast();
    let mut runner = srv.raw();
    let mut probe = srv.raw();
    let mut waiting = watchers(&srv, more_than_workers());
    start_busy_script(&mut runner, &mut probe);
    send_watches(&mut waiting);
    srv.signal("TERM");
    assert_eq!(
        srv.wait_exit(EXIT_WITHIN),
        Some(0),
        "the server did not exit after SIGTERM"
    );
}

#[test]
fn sigterm_ends_a_server_whose_script_spins_where_no_hook_runs() {
    // pubsubd only: Redis 7.0 acts on SIGTERM once the script has ended.
    if common::is_reference() {
        return;
    }
    let mut srv = TestServer::start();
    let mut runner = srv.raw();
    // Backtracking inside Lua's pattern matcher (C code, no hook): SCRIPT
    // KILL cannot stop it, and it would run for years.
    send_eval(
        &mut runner,
        "return string.find(string.rep('a', 40), string.rep('.-', 20) .. 'b')",
    );
    std::thread::sleep(Duration::from_millis(300));
    srv.signal("TERM");
    // The shutdown flush waits up to 10 s for connections, then the
    // runtime at most EXIT_GRACE for the spinning thread.
    assert!(
        srv.wait_exit(Duration::from_secs(20)).is_some(),
        "the server did not exit after SIGTERM"
    );
}

#[test]
fn sigterm_after_info_inside_a_transaction() {
    let mut srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(show(&answer(&mut c, "MULTI")), "+OK\r\n");
    assert_eq!(show(&answer(&mut c, "INFO")), "+QUEUED\r\n");
    c.send(&common::cmds("EXEC"));
    let _ = c.try_reply(ANSWER_WITHIN);
    srv.signal("TERM");
    assert_eq!(
        srv.wait_exit(EXIT_WITHIN),
        Some(0),
        "the server did not exit after SIGTERM"
    );
}

// ------------------------------------------------- waiting loses nothing

#[test]
fn requests_that_wait_for_the_keyspace_run_once_and_in_order() {
    // Several clients pipeline keyspace commands while others run scripts
    // and transactions, so requests keep finding the keyspace held and wait
    // for it: every reply must still come, in order, with the right value.
    let srv = TestServer::start();
    const CLIENTS: usize = 4;
    const ROUNDS: usize = 200;
    const BATCH: usize = 10;
    let addr = srv.addr();
    let mut workers = Vec::new();
    for i in 0..CLIENTS {
        let addr = addr.clone();
        workers.push(std::thread::spawn(move || {
            let mut c = Raw::connect(&addr);
            for round in 0..ROUNDS / BATCH {
                let mut out = Vec::new();
                for j in 0..BATCH {
                    let n = (round * BATCH + j).to_string();
                    let key = format!("k{i}");
                    out.extend(cmd(&[b"SET", key.as_bytes(), n.as_bytes()]));
                    out.extend(cmd(&[b"INCR", b"total"]));
                    out.extend(cmd(&[b"GET", key.as_bytes()]));
                    out.extend(cmd(&[b"PING"]));
                }
                c.send(&out);
                for j in 0..BATCH {
                    let n = (round * BATCH + j).to_string();
                    assert_eq!(show(&next(&mut c, "SET")), "+OK\r\n");
                    let incr = next(&mut c, "INCR");
                    assert!(incr.starts_with(b":"), "{}", show(&incr));
                    assert_eq!(
                        show(&next(&mut c, "GET")),
                        format!("${}\r\n{n}\r\n", n.len())
                    );
                    assert_eq!(show(&next(&mut c, "PING")), "+PONG\r\n");
                }
            }
        }));
    }
    let mut scripted = srv.raw();
    let mut transactions = srv.raw();
    let mut extra = 0;
    for _ in 0..20 {
        scripted.send(&cmd(&[
            b"EVAL",
            b"for i = 1, 50 do redis.call('incr', 'total') end return 1",
            b"0",
        ]));
        assert_eq!(show(&next(&mut scripted, "EVAL")), ":1\r\n");
        let tx: Vec<u8> = ["MULTI", "INCR total", "INCR total", "EXEC"]
            .iter()
            .flat_map(|line| common::cmds(line))
            .collect();
        transactions.send(&tx);
        let mut got = Vec::new();
        for _ in 0..4 {
            got.extend(next(&mut transactions, "MULTI/EXEC"));
        }
        assert!(show(&got).starts_with("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:"));
        extra += 52;
    }
    for w in workers {
        w.join().expect("a client thread failed");
    }
    assert_eq!(show(&answer(&mut srv.raw(), "GET total")), {
        let n = (CLIENTS * ROUNDS + extra).to_string();
        format!("${}\r\n{n}\r\n", n.len())
    });
}

//! Directives that restrict access either work or stop start-up: the server
//! never starts open on a configuration that says otherwise.
//!
//! `rename-command` works as in Redis 7 (the renaming cases also run against
//! redis-server 7.0.15 with `PUBSUBD_TEST_BIN`); a bad ACL user line or a
//! missing ACL file stops start-up, and modules and a socket group are refused,
//! with the file and line.

mod common;

use std::time::Duration;

use common::{Raw, TempDir, TestServer, cmd, cmds, free_port, run_server_to_exit, show};

/// Runs the server with `args` (a config file first, if any) and expects it
/// to refuse to start; returns its stderr.
fn refused(args: &[&str]) -> String {
    let port = free_port().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--port", &port, "--bind", "127.0.0.1"]);
    let out = run_server_to_exit(&all, Duration::from_secs(5));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?} did not stop start-up: {:?}, stderr {stderr:?}",
        out.status
    );
    stderr
}

#[test]
fn access_directives_pubsubd_cannot_honour_stop_start_up() {
    if common::is_reference() {
        return; // Redis honours these.
    }
    let cases = [
        (
            "user app on >s3cret ~* &* +@all +nosuch",
            "Error in user declaration '+nosuch': Unknown command or category name in ACL",
        ),
        (
            "user default on nopass ~* &* +@all x",
            "Error in user declaration 'x': Syntax error",
        ),
        ("loadmodule /x/auth.so", "cannot load Redis modules"),
        (
            "unixsocketgroup wheel",
            "cannot set the Unix socket's group",
        ),
    ];
    for (line, reason) in cases {
        let dir = TempDir::new("secconf");
        // The directive on line 3, after a comment and a real directive.
        let path = dir.write("redis.conf", &format!("# hardened\ntimeout 0\n{line}\n"));
        let stderr = refused(&[path.to_str().unwrap()]);
        let directive = line.split(' ').next().unwrap();
        assert!(
            stderr.contains(&format!("{}:3: '{directive}': ", path.display())),
            "{line}: {stderr:?}"
        );
        assert!(stderr.contains(reason), "{line}: {stderr:?}");
    }
    // The same from the command line.
    let stderr = refused(&["--user", "default", "bad"]);
    assert!(
        stderr.contains("command line: 'user': Error in user declaration 'bad': Syntax error"),
        "{stderr:?}"
    );
    // An ACL file that cannot be read stops start-up too.
    let stderr = refused(&["--aclfile", "/x/users.acl"]);
    assert!(
        stderr.contains(
            "Aborting Redis startup because of ACL errors: Error loading ACLs, opening file '/x/users.acl': No such file or directory"
        ),
        "{stderr:?}"
    );
    // "No file" and "no group" restrict nothing and are accepted.
    let dir = TempDir::new("secconf");
    let path = dir.write("ok.conf", "aclfile \"\"\nunixsocketgroup \"\"\n");
    let srv = TestServer::start_with_config(
        &std::fs::read_to_string(&path).unwrap(),
        &["--requirepass", "pw"],
    );
    srv.raw()
        .expect_call("PING", b"-NOAUTH Authentication required.\r\n");
}

#[test]
fn bad_rename_command_stops_start_up_with_redis_text() {
    if common::is_reference() {
        return; // redis-server's fatal-error format does not name the file.
    }
    let cases = [
        (
            "rename-command NOSUCH x",
            "No such command in rename-command",
        ),
        (
            "rename-command CONFIG PING",
            "Target command name already exists",
        ),
        (
            "rename-command CONFIG \"\"\nrename-command CONFIG x",
            "No such command in rename-command",
        ),
        (
            "rename-command CONFIG",
            "Bad directive or wrong number of arguments",
        ),
    ];
    for (lines, reason) in cases {
        let dir = TempDir::new("secconf");
        let path = dir.write("redis.conf", &format!("\n{lines}\n"));
        let line = lines.lines().count() + 1;
        let stderr = refused(&[path.to_str().unwrap()]);
        assert!(
            stderr.contains(&format!(
                "{}:{line}: 'rename-command': {reason}",
                path.display()
            )),
            "{lines}: {stderr:?}"
        );
    }
    let stderr = refused(&["--rename-command", "nosuch", ""]);
    assert!(
        stderr.contains("command line: 'rename-command': No such command in rename-command"),
        "{stderr:?}"
    );
}

/// `-ERR unknown command 'NAME', with args beginning with: 'a' 'b' `.
fn unknown(name: &str, args: &[&str]) -> Vec<u8> {
    let listed: String = args.iter().map(|a| format!("'{a}' ")).collect();
    format!("-ERR unknown command '{name}', with args beginning with: {listed}\r\n").into_bytes()
}

/// The integer in a `:n` reply.
fn int(reply: &[u8]) -> i64 {
    let text = show(reply);
    text.trim_start_matches(':')
        .trim_end()
        .parse()
        .unwrap_or_else(|_| panic!("not an integer: {text:?}"))
}

#[test]
fn renamed_and_disabled_commands_answer_only_to_their_new_names() {
    let srv = TestServer::start_with_config(
        "rename-command CONFIG \"\"\nrename-command publish Pub2\nrename-command ECHO PUBLISH\n",
        &["--rename-command", "FLUSHALL", ""],
    );
    let mut c = srv.raw();
    // Old names are unknown, with Redis's text; new names work.
    c.expect_call("CONFIG GET port", &unknown("CONFIG", &["GET", "port"]));
    c.expect_call("FLUSHALL", &unknown("FLUSHALL", &[]));
    c.expect_call("echo hi", &unknown("echo", &["hi"]));
    c.expect_call("PUB2 ch hello", b":0\r\n");
    c.expect_call("publish hi", b"$2\r\nhi\r\n");
    // Errors about a renamed command use its original name.
    c.expect_call(
        "pub2 ch",
        b"-ERR wrong number of arguments for 'publish' command\r\n",
    );

    // COMMAND reports the original names of the commands still available.
    let count = int(&c.call("COMMAND COUNT"));
    let plain = TestServer::start();
    let full = int(&plain.raw().call("COMMAND COUNT"));
    assert_eq!(count, full - 2, "CONFIG and FLUSHALL are gone");
    c.expect_call("COMMAND INFO config", b"*1\r\n$-1\r\n");
    let info = c.call("COMMAND INFO pub2");
    assert!(
        show(&info).starts_with("*1\r\n*10\r\n$7\r\npublish\r\n"),
        "{}",
        show(&info)
    );
    let info = c.call("COMMAND INFO publish");
    assert!(
        show(&info).starts_with("*1\r\n*10\r\n$4\r\necho\r\n"),
        "{}",
        show(&info)
    );
    let list = show(&c.call("COMMAND LIST"));
    assert!(list.contains("\r\npublish\r\n") && list.contains("\r\necho\r\n"));
    assert!(!list.contains("\r\nconfig\r\n") && !list.contains("\r\nflushall\r\n"));
    assert!(!list.contains("pub2"), "{list}");

    // Scripts call commands by the names clients use.
    let reply = show(&c.call_args(&[b"EVAL", b"return redis.call('config','get','port')", b"0"]));
    assert!(
        reply.starts_with("-ERR Unknown Redis command called from script"),
        "{reply}"
    );
    let reply = show(&c.call_args(&[b"EVAL", b"return redis.call('echo','x')", b"0"]));
    assert!(
        reply.starts_with("-ERR Unknown Redis command called from script"),
        "{reply}"
    );
    common::expect_args(
        &mut c,
        &[b"EVAL", b"return redis.call('pub2','ch','m')", b"0"],
        b":0\r\n",
    );

    // Inside MULTI an old name is refused like any unknown command.
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("CONFIG GET port", &unknown("CONFIG", &["GET", "port"]));
    c.expect_call(
        "EXEC",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
}

/// Pipelined PUBLISHes to one channel are delivered as a run, which is
/// recognised by the command's name: a renamed PUBLISH still runs, and the
/// old name in the middle of a run is refused without publishing.
#[test]
fn publish_runs_under_a_new_name_refuse_the_old_one() {
    let srv = TestServer::start_with(&["--rename-command", "PUBLISH", "p2"]);
    let mut sub = srv.raw();
    sub.expect_call(
        "SUBSCRIBE ch",
        b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    );
    let mut c = srv.raw();
    // One pipelined batch: two renamed PUBLISHes to one channel (a run),
    // then the old name to the same channel.
    let mut batch = cmds("p2 ch a");
    batch.extend(cmds("p2 ch b"));
    batch.extend(cmd(&[b"PUBLISH", b"ch", b"c"]));
    batch.extend(cmds("p2 ch d"));
    c.send(&batch);
    c.expect(b":1\r\n");
    c.expect(b":1\r\n");
    c.expect(&unknown("PUBLISH", &["ch", "c"]));
    c.expect(b":1\r\n");
    for payload in ["a", "b", "d"] {
        sub.expect(&common::message(false, b"ch", payload.as_bytes()));
    }
    sub.expect_nothing(Duration::from_millis(200));
}

#[test]
fn unrenamed_commands_are_untouched() {
    // A rename of one command leaves the others and their case-insensitive
    // names alone.
    let srv = TestServer::start_with(&["--rename-command", "config", "CFG"]);
    let mut c: Raw = srv.raw();
    c.expect_call("cfg GET timeout", b"*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n");
    c.expect_call("Ping", b"+PONG\r\n");
    c.expect_call(
        "CFG NOSUCH",
        b"-ERR unknown subcommand 'NOSUCH'. Try CFG HELP.\r\n",
    );
}

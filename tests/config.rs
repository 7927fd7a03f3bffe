//! CONFIG GET / SET / RESETSTAT, the settings taking effect, and reading the
//! configuration file at start-up (values, `include`, command-line overrides,
//! and the errors that stop the server).
//!
//! Every expected byte string here was first checked against redis-server 7.0.15.

mod common;

use common::expect_args;

use common::{Raw, TempDir, TestServer, free_port, info_field, run_server_to_exit, server_bin};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The exact RESP2 reply to `CONFIG GET name` for one parameter.
fn pair(name: &str, value: &str) -> Vec<u8> {
    format!(
        "*2\r\n${}\r\n{name}\r\n${}\r\n{value}\r\n",
        name.len(),
        value.len()
    )
    .into_bytes()
}

/// Parses a flat RESP2 array of bulk strings into (name, value) pairs.
fn pairs(reply: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(reply).into_owned();
    let mut parts = text.split("\r\n");
    let head = parts.next().unwrap();
    assert!(head.starts_with('*'), "not an array: {text:?}");
    let n: usize = head[1..].parse().unwrap();
    assert_eq!(n % 2, 0, "odd CONFIG GET reply {text:?}");
    let mut items = Vec::new();
    for _ in 0..n {
        let len = parts.next().unwrap();
        assert!(len.starts_with('$'), "{text:?}");
        items.push(parts.next().unwrap().to_string());
    }
    items
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

/// Asserts `CONFIG SET name value` succeeds and `CONFIG GET name` reads back `normalised`.
fn set_and_read_back(c: &mut Raw, name: &str, value: &str, normalised: &str) {
    expect_args(
        c,
        &[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()],
        b"+OK\r\n",
    );
    expect_args(
        c,
        &[b"CONFIG", b"GET", name.as_bytes()],
        &pair(name, normalised),
    );
}

/// `-ERR CONFIG SET failed ...` for `name` with `reason`.
fn set_failed(name: &str, reason: &str) -> Vec<u8> {
    format!("-ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}\r\n")
        .into_bytes()
}

/// Waits (bounded) until INFO reports exactly `n` connected clients.
fn wait_for_clients(c: &mut Raw, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let got = info_field(&c.call("INFO clients"), "connected_clients").unwrap_or_default();
        if got == n.to_string() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} clients, have {got}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------- CONFIG GET

#[test]
fn config_get_defaults() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let port = srv.port.to_string();
    let logfile = srv.log_path.to_string_lossy().into_owned();
    // The harness passes --logfile and --pidfile; everything else is default.
    let pidfile = srv
        .dir
        .path()
        .join("server.pid")
        .to_string_lossy()
        .into_owned();
    let expected: &[(&str, &str)] = &[
        ("port", &port),
        ("bind", "127.0.0.1"),
        ("protected-mode", "yes"),
        ("requirepass", ""),
        ("timeout", "0"),
        ("tcp-keepalive", "300"),
        ("tcp-backlog", "511"),
        ("databases", "16"),
        (
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        ),
        ("proto-max-bulk-len", "536870912"),
        ("client-query-buffer-limit", "1073741824"),
        ("loglevel", "notice"),
        ("logfile", &logfile),
        ("pidfile", &pidfile),
        ("unixsocket", ""),
        ("unixsocketperm", "0"),
    ];
    for (name, value) in expected {
        c.expect_call(&format!("CONFIG GET {name}"), &pair(name, value));
    }
    // maxclients is 10000 unless the open-file limit forces it lower.
    let got = pairs(&c.call("CONFIG GET maxclients"));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "maxclients");
    let n: u64 = got[0].1.parse().expect("maxclients is a number");
    assert!((1..=10000).contains(&n), "maxclients {n}");
}

#[test]
fn config_get_unknown_and_name_case() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CONFIG GET no-such-parameter", b"*0\r\n");
    c.expect_call("CONFIG GET nosuch*", b"*0\r\n");
    // Lookup ignores case; the name comes back as it was asked for.
    c.expect_call("CONFIG GET TIMEOUT", &pair("TIMEOUT", "0"));
}

#[test]
fn config_get_several_parameters() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut got = pairs(&c.call("CONFIG GET port timeout"));
    got.sort();
    assert_eq!(
        got,
        vec![
            ("port".into(), srv.port.to_string()),
            ("timeout".into(), "0".into())
        ]
    );
    // A parameter matched twice is reported once.
    let got = pairs(&c.call("CONFIG GET timeout timeout time*"));
    assert_eq!(got, vec![("timeout".into(), "0".into())]);
}

#[test]
fn config_get_glob_patterns() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let got = pairs(&c.call("CONFIG GET *max*"));
    assert!(got.iter().all(|(k, _)| k.contains("max")), "{got:?}");
    for must in ["maxclients", "proto-max-bulk-len"] {
        assert!(
            got.iter().any(|(k, _)| k == must),
            "*max* lacks {must}: {got:?}"
        );
    }
    let mut names: Vec<String> = got.iter().map(|(k, _)| k.clone()).collect();
    let total = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), total, "duplicates in {got:?}");

    let got = pairs(&c.call("CONFIG GET max?lients"));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "maxclients");

    let mut got = pairs(&c.call("CONFIG GET client-*-limit"));
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "client-output-buffer-limit".into(),
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60".into()
            ),
            ("client-query-buffer-limit".into(), "1073741824".into()),
        ]
    );
    let got = pairs(&c.call("CONFIG GET [p]or[st]"));
    assert_eq!(got, vec![("port".into(), srv.port.to_string())]);
}

// ---------------------------------------------------------------- CONFIG SET

#[test]
fn config_set_reads_back_normalised() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_and_read_back(&mut c, "timeout", "30", "30");
    set_and_read_back(&mut c, "maxclients", "50", "50");
    set_and_read_back(&mut c, "loglevel", "verbose", "verbose");
    set_and_read_back(&mut c, "loglevel", "WARNING", "warning");
    set_and_read_back(&mut c, "tcp-keepalive", "60", "60");
    set_and_read_back(&mut c, "client-query-buffer-limit", "2mb", "2097152");
    set_and_read_back(&mut c, "proto-max-bulk-len", "1gb", "1073741824");
    set_and_read_back(&mut c, "protected-mode", "no", "no");
    // Parameter names are case-insensitive for SET too.
    expect_args(&mut c, &[b"CONFIG", b"SET", b"TIMEOUT", b"31"], b"+OK\r\n");
    c.expect_call("CONFIG GET timeout", &pair("timeout", "31"));
}

#[test]
fn config_set_client_output_buffer_limit() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_and_read_back(
        &mut c,
        "client-output-buffer-limit",
        "pubsub 64mb 16mb 30",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 30",
    );
    // `replica` is an alias of `slave`; several classes may be set at once.
    set_and_read_back(
        &mut c,
        "client-output-buffer-limit",
        "replica 1mb 512kb 10 normal 0 0 0",
        "normal 0 0 0 slave 1048576 524288 10 pubsub 67108864 16777216 30",
    );
}

#[test]
fn config_set_requirepass() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    set_and_read_back(&mut c, "requirepass", "s3cret", "s3cret");
    let mut other = srv.raw();
    other.expect_call("PING", b"-NOAUTH Authentication required.\r\n");
    other.expect_call("AUTH s3cret", b"+OK\r\n");
    set_and_read_back(&mut c, "requirepass", "", "");
    srv.raw().expect_call("PING", b"+PONG\r\n");
}

#[test]
fn config_set_bad_values_exact_errors() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let cases: &[(&str, &str, &str)] = &[
        (
            "timeout",
            "-1",
            "argument must be between 0 and 2147483647 inclusive",
        ),
        (
            "timeout",
            "abc",
            "argument couldn't be parsed into an integer",
        ),
        (
            "maxclients",
            "0",
            "argument must be between 1 and 4294967295 inclusive",
        ),
        (
            "maxclients",
            "x",
            "argument couldn't be parsed into an integer",
        ),
        (
            "maxclients",
            "1mb",
            "argument couldn't be parsed into an integer",
        ),
        (
            "loglevel",
            "loud",
            // Redis 7.2 (which pubsubd follows) added the level "nothing".
            if common::is_reference() {
                "argument(s) must be one of the following: debug, verbose, notice, warning"
            } else {
                "argument(s) must be one of the following: debug, verbose, notice, warning, nothing"
            },
        ),
        ("protected-mode", "maybe", "argument must be 'yes' or 'no'"),
        (
            "proto-max-bulk-len",
            "1",
            "argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        (
            "client-output-buffer-limit",
            "pubsub 64mb 16mb",
            "Wrong number of arguments in buffer limit configuration.",
        ),
        (
            "client-output-buffer-limit",
            "bogus 1 1 1",
            "Invalid client class specified in buffer limit configuration.",
        ),
        (
            "client-output-buffer-limit",
            "pubsub x 1 1",
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
        ),
    ];
    for (name, value, reason) in cases {
        expect_args(
            &mut c,
            &[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()],
            &set_failed(name, reason),
        );
    }
    // Nothing changed.
    c.expect_call("CONFIG GET timeout", &pair("timeout", "0"));
    c.expect_call("CONFIG GET loglevel", &pair("loglevel", "notice"));
    c.expect_call(
        "CONFIG GET client-output-buffer-limit",
        &pair(
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        ),
    );
}

#[test]
fn config_set_unknown_parameter_and_arity() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "CONFIG SET nosuch 1",
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n",
    );
    c.expect_call(
        "CONFIG SET",
        b"-ERR wrong number of arguments for 'config|set' command\r\n",
    );
    c.expect_call(
        "CONFIG SET timeout",
        b"-ERR wrong number of arguments for 'config|set' command\r\n",
    );
    // An odd number of name/value arguments is a plain syntax error.
    c.expect_call("CONFIG SET timeout 1 maxclients", b"-ERR syntax error\r\n");
    c.expect_call("CONFIG GET timeout", &pair("timeout", "0"));
}

#[test]
fn config_set_several_parameters_is_all_or_nothing() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CONFIG SET timeout 5 maxclients 100", b"+OK\r\n");
    c.expect_call("CONFIG GET timeout", &pair("timeout", "5"));
    c.expect_call("CONFIG GET maxclients", &pair("maxclients", "100"));
    c.expect_call(
        "CONFIG SET timeout 7 maxclients -5",
        &set_failed(
            "maxclients",
            "argument must be between 1 and 4294967295 inclusive",
        ),
    );
    c.expect_call("CONFIG GET timeout", &pair("timeout", "5"));
    c.expect_call(
        "CONFIG SET timeout 0 timeout 1",
        &set_failed("timeout", "duplicate parameter"),
    );
    c.expect_call("CONFIG GET timeout", &pair("timeout", "5"));
}

#[test]
fn config_set_immutable_parameter() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "CONFIG SET databases 4",
        &set_failed("databases", "can't set immutable config"),
    );
    c.expect_call("CONFIG GET databases", &pair("databases", "16"));
}

#[test]
fn config_set_bind_is_immutable() {
    // Redis 7.0 rebinds the listeners on CONFIG SET bind; pubsubd refuses it
    // as immutable (a new address list needs a restart). `port` moves at
    // run time (tests/tls.rs).
    if common::is_reference() {
        return;
    }
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "CONFIG SET bind 0.0.0.0",
        &set_failed("bind", "can't set immutable config"),
    );
    c.expect_call("CONFIG GET bind", &pair("bind", "127.0.0.1"));
    srv.raw().expect_call("PING", b"+PONG\r\n");
}

#[test]
fn config_set_of_every_parameter_to_its_own_value_succeeds() {
    // Redis's "CONFIG sanity": CONFIG SET of each parameter CONFIG GET *
    // lists, to the value it lists, succeeds and changes nothing; for an
    // immutable parameter too (its value is not changing). `dir` is
    // protected: Redis refuses it whatever the value, and its test skips it.
    let srv = TestServer::start();
    let mut c = srv.raw();
    let before = pairs(&c.call("CONFIG GET *"));
    assert!(before.iter().any(|(k, _)| k == "port"), "{before:?}");
    for (name, value) in &before {
        if name == "dir" {
            let reply = c.call_args(&[b"CONFIG", b"SET", b"dir", value.as_bytes()]);
            assert_eq!(reply, set_failed("dir", "can't set protected config"));
            continue;
        }
        let reply = c.call_args(&[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()]);
        assert_eq!(
            common::show(&reply),
            "+OK\r\n",
            "CONFIG SET {name} {value:?}"
        );
    }
    assert_eq!(pairs(&c.call("CONFIG GET *")), before);
    // Another value for an immutable parameter is still refused.
    c.expect_call(
        "CONFIG SET databases 4",
        &set_failed("databases", "can't set immutable config"),
    );
}

// ---------------------------------------------------------------- settings take effect

#[test]
fn maxclients_refuses_extra_connections() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    admin.expect_call("CONFIG SET maxclients 2", b"+OK\r\n");
    let mut second = srv.raw();
    second.expect_call("PING", b"+PONG\r\n");
    wait_for_clients(&mut admin, 2);
    let mut third = srv.raw();
    let got = third.expect_closed(Duration::from_secs(5));
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR max number of clients reached\r\n"
    );
    second.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn timeout_closes_idle_clients_but_not_subscribers() {
    let srv = TestServer::start_with(&["--timeout", "1"]);
    let mut idle = srv.raw();
    idle.expect_call("PING", b"+PONG\r\n");
    let mut sub = srv.raw();
    sub.expect_call(
        "SUBSCRIBE ch",
        b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    );
    let got = idle.expect_closed(Duration::from_secs(6));
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    sub.expect_call("PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

// ---------------------------------------------------------------- CONFIG RESETSTAT

#[test]
fn config_resetstat_clears_counters() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    for _ in 0..50 {
        c.expect_call("PING", b"+PONG\r\n");
    }
    let before: u64 = info_field(&c.call("INFO stats"), "total_commands_processed")
        .unwrap()
        .parse()
        .unwrap();
    assert!(before >= 50, "{before}");
    c.expect_call("CONFIG RESETSTAT", b"+OK\r\n");
    let after: u64 = info_field(&c.call("INFO stats"), "total_commands_processed")
        .unwrap()
        .parse()
        .unwrap();
    assert!(after <= 2, "after RESETSTAT: {after}");
}

// ---------------------------------------------------------------- config file

#[test]
fn config_file_values_are_applied() {
    let conf = "# a comment\n\
                \n\
                timeout 17\n\
                tcp-keepalive 42\n\
                requirepass \"p w\"\n\
                client-output-buffer-limit pubsub 1mb 512kb 10\n\
                maxclients 77\n\
                loglevel warning\n";
    let srv = TestServer::start_with_config(conf, &[]);
    let mut c = srv.raw();
    c.expect_call("PING", b"-NOAUTH Authentication required.\r\n");
    expect_args(&mut c, &[b"AUTH", b"p w"], b"+OK\r\n");
    c.expect_call("CONFIG GET timeout", &pair("timeout", "17"));
    c.expect_call("CONFIG GET tcp-keepalive", &pair("tcp-keepalive", "42"));
    c.expect_call("CONFIG GET maxclients", &pair("maxclients", "77"));
    c.expect_call("CONFIG GET loglevel", &pair("loglevel", "warning"));
    c.expect_call(
        "CONFIG GET client-output-buffer-limit",
        &pair(
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 10",
        ),
    );
}

#[test]
fn config_file_include() {
    let extra = TempDir::new("include");
    let other = extra.write("other.conf", "timeout 42\ntcp-keepalive 7\n");
    let conf = format!("include {}\nmaxclients 99\n", other.display());
    let srv = TestServer::start_with_config(&conf, &[]);
    let mut c = srv.raw();
    c.expect_call("CONFIG GET timeout", &pair("timeout", "42"));
    c.expect_call("CONFIG GET tcp-keepalive", &pair("tcp-keepalive", "7"));
    c.expect_call("CONFIG GET maxclients", &pair("maxclients", "99"));
}

#[test]
fn command_line_overrides_config_file() {
    let dir = TempDir::new("cli");
    let file_port = free_port();
    let cli_port = free_port();
    let conf = dir.write(
        "p.conf",
        &format!("port {file_port}\nbind 127.0.0.1\ntimeout 5\n"),
    );
    let mut cmd = Command::new(server_bin());
    cmd.arg(&conf).arg("--port").arg(cli_port.to_string());
    cmd.arg("--logfile").arg(dir.path().join("log"));
    if common::is_reference() {
        cmd.args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path());
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = format!("127.0.0.1:{cli_port}");
    while std::net::TcpStream::connect(&addr).is_err() {
        if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server did not listen on the command-line port");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let result = std::panic::catch_unwind(|| {
        let mut c = Raw::connect(&addr);
        c.expect_call("PING", b"+PONG\r\n");
        c.expect_call("CONFIG GET port", &pair("port", &cli_port.to_string()));
        // Settings the command line does not mention still come from the file.
        c.expect_call("CONFIG GET timeout", &pair("timeout", "5"));
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", file_port)).is_err(),
            "also listening on the file's port"
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn missing_config_file_fails_to_start() {
    let path = std::env::temp_dir().join(format!("pubsubd-no-such-{}.conf", std::process::id()));
    let port = free_port().to_string();
    let out = run_server_to_exit(
        &[
            path.to_str().unwrap(),
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
        ],
        Duration::from_secs(5),
    );
    assert_ne!(out.status.code(), Some(0), "exit status {:?}", out.status);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains(path.to_str().unwrap()),
        "output does not name the file: {all:?}"
    );
}

/// Runs the server on `conf` and returns (exit code, stderr); the server must exit.
fn start_expecting_failure(conf: &str) -> (Option<i32>, String, String) {
    let dir = TempDir::new("badconf");
    let path = dir.write("bad.conf", conf);
    let port = free_port().to_string();
    let out = run_server_to_exit(
        &[
            path.to_str().unwrap(),
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
        ],
        Duration::from_secs(5),
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path.to_string_lossy().into_owned(),
    )
}

#[test]
fn config_file_unknown_directive_names_file_line_and_directive() {
    // redis-server's fatal-error text does not name the file, so this checks
    // pubsubd's own format: one stderr line with path, line number, directive.
    if common::is_reference() {
        return;
    }
    let (code, stderr, path) = start_expecting_failure("# header\ntimeout 5\nbogus-directive 1\n");
    assert!(
        code.is_some() && code != Some(0),
        "exit {code:?}; stderr {stderr:?}"
    );
    let line = stderr
        .lines()
        .find(|l| l.contains(&path))
        .unwrap_or_else(|| panic!("no stderr line names {path}: {stderr:?}"));
    assert!(
        line.contains('3') && line.contains("bogus-directive"),
        "{line:?}"
    );
}

#[test]
fn config_file_bad_value_names_file_line_and_directive() {
    // As above: pubsubd's own error format (redis-server's differs).
    if common::is_reference() {
        return;
    }
    let (code, stderr, path) = start_expecting_failure("timeout 5\n\nmaxclients lots\n");
    assert!(
        code.is_some() && code != Some(0),
        "exit {code:?}; stderr {stderr:?}"
    );
    let line = stderr
        .lines()
        .find(|l| l.contains(&path))
        .unwrap_or_else(|| panic!("no stderr line names {path}: {stderr:?}"));
    assert!(
        line.contains('3') && line.contains("maxclients"),
        "{line:?}"
    );
}

#[test]
fn config_file_inapplicable_redis_directives_are_accepted_with_warnings() {
    // pubsubd accepts Redis persistence directives so a stock redis.conf
    // works, and logs a warning for each; redis-server applies them instead.
    if common::is_reference() {
        return;
    }
    let srv = TestServer::start_with_config("save 900 1\nappendonly no\ntimeout 3\n", &[]);
    let mut c = srv.raw();
    c.expect_call("PING", b"+PONG\r\n");
    c.expect_call("CONFIG GET timeout", &pair("timeout", "3"));
    let log = srv.log();
    assert!(log.contains("save"), "log does not mention save: {log:?}");
    assert!(
        log.contains("appendonly"),
        "log does not mention appendonly: {log:?}"
    );
}

//! Introspection: INFO's per-command sections (`commandstats`,
//! `errorstats`, `latencystats`), COMMAND INFO / LIST / GETKEYS, and
//! CLIENT LIST's `qbuf=`.
//!
//! Every exact byte string here was first checked against redis-server 7.0.15.

mod common;

use common::{Raw, TestServer, info_field};

/// The text of an INFO reply (a bulk string).
fn info(c: &mut Raw, section: &str) -> String {
    String::from_utf8_lossy(&c.call(&format!("INFO {section}"))).into_owned()
}

/// The `cmdstat_<name>` line's value, if the command has one.
fn cmdstat(c: &mut Raw, name: &str) -> Option<String> {
    info_field(
        info(c, "commandstats").as_bytes(),
        &format!("cmdstat_{name}"),
    )
}

#[test]
fn commandstats_count_calls_rejections_and_failures_until_resetstat() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CONFIG RESETSTAT", b"+OK\r\n");
    c.expect_call("SET n abc", b"+OK\r\n");
    c.expect_call("GET n", b"$3\r\nabc\r\n");
    // Refused before running (arity) and run but failed (not an integer).
    c.expect_call(
        "GET",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    c.expect_call(
        "INCR n",
        b"-ERR value is not an integer or out of range\r\n",
    );
    let get = cmdstat(&mut c, "get").expect("cmdstat_get");
    assert!(get.starts_with("calls=1,usec="), "{get}");
    assert!(get.ends_with(",rejected_calls=1,failed_calls=0"), "{get}");
    let incr = cmdstat(&mut c, "incr").expect("cmdstat_incr");
    assert!(incr.starts_with("calls=1,"), "{incr}");
    assert!(incr.ends_with(",rejected_calls=0,failed_calls=1"), "{incr}");
    // Subcommands are counted under their full name.
    c.call("CLIENT LIST");
    let list = cmdstat(&mut c, "client|list").expect("cmdstat_client|list");
    assert!(list.starts_with("calls=1,"), "{list}");
    // Commands a script runs are counted too.
    c.call_args(&[b"EVAL", b"redis.call('set', 'n', '1') return 1", b"0"]);
    let set = cmdstat(&mut c, "set").expect("cmdstat_set");
    assert!(set.starts_with("calls=2,"), "{set}");

    c.expect_call("CONFIG RESETSTAT", b"+OK\r\n");
    assert_eq!(cmdstat(&mut c, "get"), None);
    assert_eq!(cmdstat(&mut c, "incr"), None);
}

#[test]
fn errorstats_count_error_replies_by_prefix() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CONFIG RESETSTAT", b"+OK\r\n");
    c.call("NOSUCHCOMMAND");
    c.call("GET");
    c.call_args(&[b"EVAL", b"return redis.error_reply('MYERR boom')", b"0"]);
    // Errorstats is one of INFO's default sections; commandstats is not.
    let text = info(&mut c, "");
    assert!(text.contains("# Errorstats\r\n"), "{text}");
    assert!(!text.contains("cmdstat_"), "{text}");
    assert_eq!(
        info_field(text.as_bytes(), "errorstat_ERR").as_deref(),
        Some("count=2")
    );
    assert_eq!(
        info_field(text.as_bytes(), "errorstat_MYERR").as_deref(),
        Some("count=1")
    );
    assert_eq!(
        info_field(text.as_bytes(), "total_error_replies").as_deref(),
        Some("3")
    );
    c.expect_call("CONFIG RESETSTAT", b"+OK\r\n");
    let text = info(&mut c, "errorstats");
    assert_eq!(text.matches("errorstat_").count(), 0, "{text}");
}

#[test]
fn latencystats_report_percentiles_per_command() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CONFIG RESETSTAT", b"+OK\r\n");
    for _ in 0..10 {
        c.expect_call("SET k v", b"+OK\r\n");
    }
    let text = info(&mut c, "latencystats");
    assert!(text.starts_with("$"), "{text}");
    assert!(text.contains("# Latencystats\r\n"), "{text}");
    let set = info_field(text.as_bytes(), "latency_percentiles_usec_set").expect("set latency");
    let fields: Vec<(&str, f64)> = set
        .split(',')
        .map(|f| {
            let (name, value) = f.split_once('=').expect("name=value");
            (name, value.parse::<f64>().expect("a number"))
        })
        .collect();
    let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["p50", "p99", "p99.9"], "{set}");
    assert!(fields[0].1 > 0.0 && fields[0].1 <= fields[2].1, "{set}");
    // INFO ALL has every section, INFO default leaves the per-command ones out.
    let all = info(&mut c, "all");
    for section in [
        "# Commandstats",
        "# Errorstats",
        "# Latencystats",
        "# Modules",
    ] {
        assert!(all.contains(section), "{section}");
    }
    let default = info(&mut c, "default");
    assert!(!default.contains("# Latencystats"), "{default}");
    assert!(!default.contains("rejected_calls"), "{default}");
}

#[test]
fn info_counts_cached_scripts() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let cached = |c: &mut Raw| info_field(&c.call("INFO memory"), "number_of_cached_scripts");
    assert_eq!(cached(&mut c).as_deref(), Some("0"));
    c.call_args(&[b"SCRIPT", b"LOAD", b"return 1"]);
    c.call_args(&[b"SCRIPT", b"LOAD", b"return 2"]);
    c.call_args(&[b"SCRIPT", b"LOAD", b"return 2"]);
    assert_eq!(cached(&mut c).as_deref(), Some("2"));
    c.expect_call("SCRIPT FLUSH", b"+OK\r\n");
    assert_eq!(cached(&mut c).as_deref(), Some("0"));
}

#[test]
fn command_info_reports_key_specs_and_categories_as_redis() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "COMMAND INFO get",
        b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    );
    let mset = String::from_utf8_lossy(&c.call("COMMAND INFO mset")).into_owned();
    assert!(mset.contains(":1\r\n:-1\r\n:2\r\n"), "{mset}");
    let eval = String::from_utf8_lossy(&c.call("COMMAND INFO eval")).into_owned();
    assert!(eval.contains("+movablekeys\r\n"), "{eval}");
    assert!(eval.contains("$6\r\nkeynum\r\n"), "{eval}");
    // Invalid subcommands are unknown commands.
    c.expect_call(
        "COMMAND INFO get|key config|get|key",
        b"*2\r\n$-1\r\n$-1\r\n",
    );
}

#[test]
fn command_list_names_subcommands_and_filters() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let list = |c: &mut Raw, line: &str| -> Vec<String> {
        String::from_utf8_lossy(&c.call(line))
            .split("\r\n")
            .filter(|l| !l.starts_with(['*', '$']) && !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let all = list(&mut c, "COMMAND LIST");
    for name in ["set", "client|list", "config|get", "command|getkeys"] {
        assert!(all.iter().any(|n| n == name), "{name} in {all:?}");
    }
    let scripting = list(&mut c, "COMMAND LIST FILTERBY ACLCAT scripting");
    assert!(scripting.iter().any(|n| n == "eval"), "{scripting:?}");
    assert!(
        scripting.iter().any(|n| n == "script|kill"),
        "{scripting:?}"
    );
    assert!(!scripting.iter().any(|n| n == "set"), "{scripting:?}");
    let config = list(&mut c, "COMMAND LIST FILTERBY PATTERN config|*re*");
    assert!(config.iter().any(|n| n == "config|resetstat"), "{config:?}");
    c.expect_call("COMMAND LIST FILTERBY ACLCAT nosuchcategory", b"*0\r\n");
    c.expect_call("COMMAND LIST bad_arg", b"-ERR syntax error\r\n");
}

#[test]
fn command_getkeys_finds_keys_by_the_key_specs() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("COMMAND GETKEYS get key", b"*1\r\n$3\r\nkey\r\n");
    c.expect_call(
        "COMMAND GETKEYS mset a 1 b 2",
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.expect_call(
        "COMMAND GETKEYS eval x 2 a b c",
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.expect_call("COMMAND GETKEYS eval x 0", b"*0\r\n");
    c.expect_call("COMMAND GETKEYS eval x 2 a", b"*0\r\n");
    c.expect_call(
        "COMMAND GETKEYSANDFLAGS set k1 v1",
        b"*1\r\n*2\r\n$2\r\nk1\r\n*2\r\n+OW\r\n+update\r\n",
    );
    c.expect_call(
        "COMMAND GETKEYSANDFLAGS rename a b",
        b"*2\r\n*2\r\n$1\r\na\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n*2\r\n$1\r\nb\r\n*2\r\n+OW\r\n+update\r\n",
    );
    c.expect_call(
        "COMMAND GETKEYS ping x",
        b"-ERR The command has no key arguments\r\n",
    );
    c.expect_call(
        "COMMAND GETKEYS nosuch x",
        b"-ERR Invalid command specified\r\n",
    );
    c.expect_call(
        "COMMAND GETKEYS get k x",
        b"-ERR Invalid number of arguments specified for command\r\n",
    );
    c.expect_call(
        "COMMAND GETKEYS get",
        b"-ERR wrong number of arguments for 'command|getkeys' command\r\n",
    );
}

#[test]
fn client_list_counts_the_running_request_in_qbuf() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    // `*2\r\n$6\r\nclient\r\n$4\r\nlist\r\n` is 26 bytes.
    let line = String::from_utf8_lossy(&c.call("CLIENT LIST")).into_owned();
    assert!(line.contains(" qbuf=26 "), "{line}");
    let line = String::from_utf8_lossy(&c.call("CLIENT INFO")).into_owned();
    assert!(line.contains(" qbuf=26 "), "{line}");
}

#[test]
fn latency_tracking_and_its_percentiles_are_configurable() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let line = |c: &mut Raw| {
        info_field(
            info(c, "latencystats").as_bytes(),
            "latency_percentiles_usec_set",
        )
    };
    c.expect_call("CONFIG RESETSTAT", b"+OK\r\n");
    c.expect_call("CONFIG SET latency-tracking no", b"+OK\r\n");
    c.expect_call("SET a b", b"+OK\r\n");
    assert_eq!(line(&mut c), None);
    c.expect_call("CONFIG SET latency-tracking yes", b"+OK\r\n");
    c.expect_call("SET a b", b"+OK\r\n");
    let set = line(&mut c).expect("latency of set");
    assert!(set.starts_with("p50=") && set.contains(",p99.9="), "{set}");
    c.call_args(&[
        b"CONFIG",
        b"SET",
        b"latency-tracking-info-percentiles",
        b"0.0 50.0 100.0",
    ]);
    c.expect_call(
        "CONFIG GET latency-tracking-info-percentiles",
        b"*2\r\n$33\r\nlatency-tracking-info-percentiles\r\n$8\r\n0 50 100\r\n",
    );
    let set = line(&mut c).expect("latency of set");
    assert!(
        set.starts_with("p0=") && set.contains(",p50=") && set.contains(",p100="),
        "{set}"
    );
    let bad = c.call_args(&[
        b"CONFIG",
        b"SET",
        b"latency-tracking-info-percentiles",
        b"10 50 101",
    ]);
    assert_eq!(
        common::show(&bad),
        "-ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - latency-tracking-info-percentiles parameters should sit between [0.0,100.0]\r\n"
    );
    let bad = c.call_args(&[
        b"CONFIG",
        b"SET",
        b"latency-tracking-info-percentiles",
        b"10 a",
    ]);
    assert_eq!(
        common::show(&bad),
        "-ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters\r\n"
    );
    c.expect_call("CONFIG RESETSTAT", b"+OK\r\n");
    assert_eq!(line(&mut c), None);
}

#[test]
fn errors_inside_exec_and_scripts_are_counted() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("CONFIG RESETSTAT", b"+OK\r\n");
    c.expect_call("SET s text", b"+OK\r\n");
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("INCR s", b"+QUEUED\r\n");
    c.expect_call(
        "EXEC",
        b"*1\r\n-ERR value is not an integer or out of range\r\n",
    );
    c.call_args(&[b"EVAL", b"redis.pcall('incr', 's') return 1", b"0"]);
    let text = info(&mut c, "all");
    assert_eq!(
        info_field(text.as_bytes(), "errorstat_ERR").as_deref(),
        Some("count=2"),
        "{text}"
    );
    let incr = info_field(text.as_bytes(), "cmdstat_incr").expect("incr");
    assert!(
        incr.starts_with("calls=2,") && incr.ends_with("failed_calls=2"),
        "{incr}"
    );
    let exec = info_field(text.as_bytes(), "cmdstat_exec").expect("exec");
    assert!(exec.ends_with("rejected_calls=0,failed_calls=0"), "{exec}");
}

#[test]
fn command_info_reports_tips_and_resp3_sets_as_redis() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.call("HELLO 3");
    c.expect_call(
        "COMMAND INFO ping",
        b"*1\r\n*10\r\n$4\r\nping\r\n:-1\r\n~1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n~2\r\n+@fast\r\n+@connection\r\n~2\r\n$25\r\nrequest_policy:all_shards\r\n$29\r\nresponse_policy:all_succeeded\r\n~0\r\n~0\r\n",
    );
}

/// The `errorstat_*` lines of INFO errorstats, and `total_error_replies`.
fn error_counts(c: &mut Raw) -> (Vec<String>, Option<String>) {
    let text = info(c, "errorstats");
    let lines = text
        .lines()
        .filter(|l| l.starts_with("errorstat_"))
        .map(str::to_string)
        .collect();
    let total = info_field(info(c, "stats").as_bytes(), "total_error_replies");
    (lines, total)
}

/// Asserts `cmdstat_<name>` counts `calls`, `rejected` and `failed`.
fn assert_cmdstat(c: &mut Raw, name: &str, calls: u32, rejected: u32, failed: u32) {
    let stat = cmdstat(c, name).unwrap_or_default();
    assert!(
        stat.starts_with(&format!("calls={calls},")),
        "{name}: {stat}"
    );
    assert!(
        stat.ends_with(&format!(",rejected_calls={rejected},failed_calls={failed}")),
        "{name}: {stat}"
    );
}

#[test]
fn errors_in_scripts_and_exec_are_counted_once() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let oom = b"-OOM command not allowed when used memory > 'maxmemory'.";
    // Each case: the requests (the last one's reply is checked), the start
    // of that reply, the errorstats expected, and the commandstats of the
    // inner and outer command as (name, calls, rejected, failed).
    type Stat = (&'static str, u32, u32, u32);
    type Case = (
        Vec<Vec<&'static [u8]>>,
        &'static [u8],
        &'static [&'static str],
        [Stat; 2],
    );
    let cases: Vec<Case> = vec![
        // A refusal raised by redis.call is counted when the command is
        // refused, not again when the script's reply passes it on.
        (
            vec![vec![
                b"EVAL",
                b"return redis.call('set','x','y')",
                b"1",
                b"x",
            ]],
            oom,
            &["errorstat_OOM:count=1"],
            [("set", 0, 1, 0), ("eval", 1, 0, 1)],
        ),
        // Caught by redis.pcall, it is still counted.
        (
            vec![vec![
                b"EVAL",
                b"local t = redis.pcall('set','x','y') return t['err']",
                b"1",
                b"x",
            ]],
            b"$55\r\nOOM command",
            &["errorstat_OOM:count=1"],
            [("set", 0, 1, 0), ("eval", 1, 0, 0)],
        ),
        // Returned as the script's reply, it is counted once.
        (
            vec![vec![
                b"EVAL",
                b"return redis.pcall('set','x','y')",
                b"1",
                b"x",
            ]],
            oom,
            &["errorstat_OOM:count=1"],
            [("set", 0, 1, 0), ("eval", 1, 0, 1)],
        ),
        (
            vec![vec![
                b"EVAL_RO",
                b"return redis.pcall('set','x','y')",
                b"1",
                b"x",
            ]],
            b"-ERR Write commands are not allowed from read-only scripts.",
            &["errorstat_ERR:count=1"],
            [("set", 0, 1, 0), ("eval_ro", 1, 0, 1)],
        ),
        (
            vec![vec![b"EVAL", b"redis.pcall('get') return 1", b"0"]],
            b":1",
            &["errorstat_ERR:count=1"],
            [("get", 0, 1, 0), ("eval", 1, 0, 0)],
        ),
        // A command that ran and failed.
        (
            vec![vec![b"EVAL", b"return redis.call('select',99)", b"0"]],
            b"-ERR DB index is out of range",
            &["errorstat_ERR:count=1"],
            [("select", 1, 0, 1), ("eval", 1, 0, 1)],
        ),
        (
            vec![vec![b"EVAL", b"redis.pcall('select',99) return 1", b"0"]],
            b":1",
            &["errorstat_ERR:count=1"],
            [("select", 1, 0, 1), ("eval", 1, 0, 0)],
        ),
        // A script's error raised inside EXEC.
        (
            vec![
                vec![b"MULTI"],
                vec![b"EVAL", b"return redis.call('select',99)", b"0"],
                vec![b"EXEC"],
            ],
            b"*1\r\n-ERR DB index is out of range",
            &["errorstat_ERR:count=1"],
            [("select", 1, 0, 1), ("exec", 1, 0, 0)],
        ),
    ];
    for (requests, reply, errors, stats) in cases {
        c.expect_call("CONFIG RESETSTAT", b"+OK\r\n");
        let maxmemory = if errors[0].contains("OOM") { "1" } else { "0" };
        c.expect_call(&format!("CONFIG SET maxmemory {maxmemory}"), b"+OK\r\n");
        let mut got = Vec::new();
        for args in &requests {
            got = c.call_args(args);
        }
        assert!(got.starts_with(reply), "{}", String::from_utf8_lossy(&got));
        c.expect_call("CONFIG SET maxmemory 0", b"+OK\r\n");
        let (lines, total) = error_counts(&mut c);
        assert_eq!(lines, errors, "{requests:?}");
        assert_eq!(total.as_deref(), Some("1"), "{requests:?}");
        for (name, calls, rejected, failed) in stats {
            assert_cmdstat(&mut c, name, calls, rejected, failed);
        }
    }
}

#[test]
fn a_command_refused_inside_exec_is_counted_as_an_error() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let mut c = srv.raw();
    admin.expect_call("ACL SETUSER v on nopass +@all ~*", b"+OK\r\n");
    c.expect_call("AUTH v x", b"+OK\r\n");
    admin.expect_call("CONFIG RESETSTAT", b"+OK\r\n");
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("GET k", b"+QUEUED\r\n");
    // The rules change between queueing and EXEC: GET is refused then.
    admin.expect_call("ACL SETUSER v -get", b"+OK\r\n");
    let reply = c.call("EXEC");
    assert!(
        reply.starts_with(b"*1\r\n-NOPERM ACLs rules changed"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let (lines, total) = error_counts(&mut admin);
    assert_eq!(lines, ["errorstat_NOPERM:count=1"]);
    assert_eq!(total.as_deref(), Some("1"));
}

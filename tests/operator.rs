//! The operator's tools: MONITOR, SLOWLOG, LATENCY, CLIENT PAUSE/UNPAUSE,
//! WAIT, ROLE and LASTSAVE, byte for byte as Redis 7.0 answers them.
//!
//! Everything here also runs against redis-server 7.0.15
//! (`PUBSUBD_TEST_BIN=/usr/bin/redis-server`); only pubsubd's own LATENCY
//! DOCTOR wording is not compared.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Raw, TestServer, bulk, cmd, show, wait_until};

/// A MONITOR line with its `<seconds>.<micros> ` timestamp checked and
/// taken out: `+[0 127.0.0.1:5000] "set" "k" "v"\r\n`.
fn untimed(line: &[u8]) -> String {
    let text = show(line);
    let rest = text
        .strip_prefix('+')
        .unwrap_or_else(|| panic!("not a status line: {text:?}"));
    let (stamp, rest) = rest
        .split_once(' ')
        .unwrap_or_else(|| panic!("no timestamp: {text:?}"));
    let (secs, micros) = stamp
        .split_once('.')
        .unwrap_or_else(|| panic!("bad timestamp: {text:?}"));
    assert!(
        secs.len() >= 10 && secs.bytes().all(|b| b.is_ascii_digit()),
        "{text:?}"
    );
    assert!(
        micros.len() == 6 && micros.bytes().all(|b| b.is_ascii_digit()),
        "{text:?}"
    );
    format!("+{rest}")
}

/// The `ip:port` a connection is seen from by the server.
fn addr_of(c: &Raw) -> String {
    c.stream.local_addr().expect("local addr").to_string()
}

/// A Lua loop that runs for tens of milliseconds even in a release build.
const BUSY_SCRIPT: &str = "local i = 0 while i < 3000000 do i = i + 1 end return 1";

#[test]
fn monitor_shows_commands_as_redis_does() {
    let srv = TestServer::start();
    let mut m = Raw::connect(&srv.addr());
    m.expect_call("MONITOR", b"+OK\r\n");
    let mut c = Raw::connect(&srv.addr());
    let me = addr_of(&c);
    // Passwords are redacted, failed or not.
    c.call("AUTH secret");
    c.call("AUTH user secret");
    c.call("HELLO 2 AUTH default secret SETNAME app");
    // Administrative commands and commands that never ran are not shown.
    c.call("CONFIG GET port");
    c.call("CLIENT LIST");
    c.call("GET");
    c.call("NOSUCH");
    c.call("SLOWLOG LEN");
    c.call_args(&[b"set", b"k", b"a\"b\\c\n\r\t\x07\x08\x01\xc3\xa9 ~"]);
    c.call("SELECT 3");
    c.call("MULTI");
    c.call("SET x 1");
    c.call("EXEC");
    // A script shows itself first, then its commands from `lua`.
    c.call_args(&[b"EVAL", b"redis.call('set', 'y', '2') return 1", b"0"]);
    c.call("PUBLISH ch hello");
    c.call("CLIENT SETNAME n");
    let expected = [
        format!("+[0 {me}] \"AUTH\" \"(redacted)\"\r\n"),
        format!("+[0 {me}] \"AUTH\" \"(redacted)\" \"(redacted)\"\r\n"),
        format!(
            "+[0 {me}] \"HELLO\" \"2\" \"AUTH\" \"(redacted)\" \"(redacted)\" \"SETNAME\" \"app\"\r\n"
        ),
        format!("+[0 {me}] \"set\" \"k\" \"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x01\\xc3\\xa9 ~\"\r\n"),
        format!("+[3 {me}] \"SELECT\" \"3\"\r\n"),
        format!("+[3 {me}] \"MULTI\"\r\n"),
        format!("+[3 {me}] \"SET\" \"x\" \"1\"\r\n"),
        format!("+[3 {me}] \"EXEC\"\r\n"),
        format!("+[3 {me}] \"EVAL\" \"redis.call('set', 'y', '2') return 1\" \"0\"\r\n"),
        "+[3 lua] \"set\" \"y\" \"2\"\r\n".to_string(),
        format!("+[3 {me}] \"PUBLISH\" \"ch\" \"hello\"\r\n"),
        format!("+[3 {me}] \"CLIENT\" \"SETNAME\" \"n\"\r\n"),
    ];
    for want in expected {
        assert_eq!(untimed(&m.reply()), want);
    }
    m.expect_nothing(Duration::from_millis(200));
}

#[test]
fn a_monitor_sees_its_own_commands_after_their_replies_until_reset() {
    let srv = TestServer::start();
    let mut m = Raw::connect(&srv.addr());
    let me = addr_of(&m);
    m.expect_call("MONITOR", b"+OK\r\n");
    m.expect_call("PING", b"+PONG\r\n");
    assert_eq!(untimed(&m.reply()), format!("+[0 {me}] \"PING\"\r\n"));
    // CLIENT LIST shows the monitor with flag O.
    let list = m.call("CLIENT LIST");
    assert!(show(&list).contains(" flags=O "), "{}", show(&list));
    m.expect_call("RESET", b"+RESET\r\n");
    let mut c = Raw::connect(&srv.addr());
    c.call("SET k v");
    m.expect_nothing(Duration::from_millis(200));
    // MONITOR inside a transaction is refused when EXEC runs it.
    m.call("MULTI");
    m.call("MONITOR");
    m.expect_call(
        "EXEC",
        b"*1\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n",
    );
}

#[test]
fn a_frozen_monitor_is_cut_by_the_normal_output_limit_and_slows_no_one() {
    let srv = TestServer::start_with(&["--client-output-buffer-limit", "normal", "1mb", "0", "0"]);
    let mut m = Raw::connect(&srv.addr());
    m.expect_call("CLIENT SETNAME frozen", b"+OK\r\n");
    m.expect_call("MONITOR", b"+OK\r\n");
    // The monitor stops reading; a writer sends 32 MB of commands through it.
    let mut c = Raw::connect(&srv.addr());
    let value = vec![b'v'; 64 * 1024];
    let started = Instant::now();
    for _ in 0..512 {
        c.send(&cmd(&[b"SET", b"k", &value]));
    }
    for _ in 0..512 {
        assert_eq!(c.reply(), b"+OK\r\n");
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the writer waited for the monitor"
    );
    let mut q = Raw::connect(&srv.addr());
    assert!(
        wait_until(Duration::from_secs(5), || !show(&q.call("CLIENT LIST"))
            .contains("name=frozen")),
        "the frozen monitor is still connected"
    );
    // The connection was closed: what it had been sent ends there.
    m.expect_closed(Duration::from_secs(5));
}

#[test]
fn redis_cli_monitor_prints_the_commands() {
    let srv = TestServer::start();
    let mut child = Command::new("redis-cli")
        .args(["-p", &srv.port.to_string(), "monitor"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("redis-cli not runnable ({e}); install it with `apt-get install -y redis-tools`")
        });
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).as_deref(),
        Ok("OK")
    );
    let mut c = Raw::connect(&srv.addr());
    let me = addr_of(&c);
    c.expect_call("SET greeting hello", b"+OK\r\n");
    let line = rx.recv_timeout(Duration::from_secs(10)).expect("a line");
    let _ = child.kill();
    let _ = child.wait();
    let (stamp, rest) = line.split_once(' ').expect("timestamp");
    assert!(stamp.parse::<f64>().is_ok(), "{line}");
    assert_eq!(rest, format!("[0 {me}] \"SET\" \"greeting\" \"hello\""));
}

/// The entries of SLOWLOG GET -1 as (duration, arguments, addr, name), in
/// the reply's order (newest first), each reply field checked for shape.
fn slowlog(c: &mut Raw) -> Vec<(u64, Vec<Vec<u8>>, String, String)> {
    let r = c.call("SLOWLOG GET -1");
    let mut p = Parser { b: &r, at: 0 };
    let n = p.header(b'*');
    (0..n)
        .map(|_| {
            assert_eq!(p.header(b'*'), 6);
            let _id = p.int();
            let time = p.int();
            assert!(time > 1_600_000_000, "unix time {time}");
            let micros = p.int();
            let argc = p.header(b'*');
            let args = (0..argc).map(|_| p.bulk()).collect();
            let addr = show(&p.bulk());
            let name = show(&p.bulk());
            (micros, args, addr, name)
        })
        .collect()
}

/// Reads a RESP2 reply piece by piece.
struct Parser<'a> {
    b: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn line(&mut self) -> &[u8] {
        let end = self.at
            + self.b[self.at..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("line end");
        let line = &self.b[self.at..end];
        self.at = end + 2;
        line
    }
    fn header(&mut self, kind: u8) -> usize {
        let line = self.line().to_vec();
        assert_eq!(line[0], kind, "{}", show(&line));
        show(&line[1..]).parse().expect("length")
    }
    fn int(&mut self) -> u64 {
        let line = self.line().to_vec();
        assert_eq!(line[0], b':', "{}", show(&line));
        show(&line[1..]).parse().expect("integer")
    }
    fn bulk(&mut self) -> Vec<u8> {
        let n = self.header(b'$');
        let out = self.b[self.at..self.at + n].to_vec();
        self.at += n + 2;
        out
    }
}

fn words(args: &[Vec<u8>]) -> Vec<String> {
    args.iter().map(|a| show(a)).collect()
}

#[test]
fn slowlog_logs_slow_commands_as_redis_does() {
    let srv = TestServer::start();
    let mut c = Raw::connect(&srv.addr());
    let me = addr_of(&c);
    // The default threshold (10 ms) catches a busy script, not a PING.
    c.expect_call("SLOWLOG LEN", b":0\r\n");
    c.call("PING");
    c.call_args(&[b"EVAL", BUSY_SCRIPT.as_bytes(), b"0"]);
    let entries = slowlog(&mut c);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let (micros, args, addr, name) = &entries[0];
    assert!(*micros >= 10_000, "{micros}");
    assert_eq!(words(args), ["EVAL", BUSY_SCRIPT, "0"]);
    assert_eq!((addr.as_str(), name.as_str()), (me.as_str(), ""));

    c.expect_call("CONFIG SET slowlog-log-slower-than 0", b"+OK\r\n");
    c.expect_call("SLOWLOG RESET", b"+OK\r\n");
    c.expect_call("CLIENT SETNAME tool", b"+OK\r\n");
    c.call("AUTH user secret");
    c.call_args(&[b"CONFIG", b"SET", b"requirepass", b"", b"maxmemory", b"0"]);
    let keys: Vec<String> = (0..41).map(|i| format!("k{i}")).collect();
    let mut long = vec![&b"DEL"[..]];
    long.extend(keys.iter().map(|s| s.as_bytes()));
    c.call_args(&long);
    let big = vec![b'A'; 130];
    c.call_args(&[b"SET", b"k", &big]);
    c.call("MULTI");
    c.call("SET q 1");
    c.call("EXEC");
    c.call_args(&[b"EVAL", b"return redis.call('set', 'r', '1')", b"0"]);
    let entries = slowlog(&mut c);
    let logged: Vec<Vec<String>> = entries.iter().map(|e| words(&e.1)).collect();
    let mut cut_long = vec!["DEL".to_string()];
    cut_long.extend((0..30).map(|i| format!("k{i}")));
    cut_long.push("... (11 more arguments)".into());
    let cut_big = format!("{}... (2 more bytes)", "A".repeat(128));
    // Newest first; EXEC is not logged, the commands it ran are; a script's
    // commands are logged (before the script, which ends after them) as run
    // by Redis's Lua client.
    assert_eq!(
        logged,
        vec![
            vec![
                "EVAL".to_string(),
                "return redis.call('set', 'r', '1')".into(),
                "0".into()
            ],
            vec!["set".into(), "r".into(), "1".into()],
            vec!["SET".into(), "q".into(), "1".into()],
            vec!["MULTI".into()],
            vec!["SET".into(), "k".into(), cut_big],
            cut_long,
            [
                "CONFIG",
                "SET",
                "requirepass",
                "(redacted)",
                "maxmemory",
                "0"
            ]
            .map(String::from)
            .to_vec(),
            ["AUTH", "(redacted)", "(redacted)"]
                .map(String::from)
                .to_vec(),
            ["CLIENT", "SETNAME", "tool"].map(String::from).to_vec(),
            ["SLOWLOG", "RESET"].map(String::from).to_vec(),
        ]
    );
    assert_eq!(
        (entries[0].2.as_str(), entries[0].3.as_str()),
        (me.as_str(), "tool")
    );
    assert_eq!((entries[1].2.as_str(), entries[1].3.as_str()), ("?:0", ""));

    // GET's count, LEN, the length bound, errors.
    let r = c.call("SLOWLOG GET 2");
    assert!(r.starts_with(b"*2\r\n"), "{}", show(&r));
    c.expect_call("SLOWLOG GET 0", b"*0\r\n");
    c.expect_call(
        "SLOWLOG GET -2",
        b"-ERR count should be greater than or equal to -1\r\n",
    );
    c.expect_call(
        "SLOWLOG GET x",
        b"-ERR count should be greater than or equal to -1\r\n",
    );
    c.expect_call(
        "SLOWLOG GET 1 2",
        b"-ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP.\r\n",
    );
    c.expect_call("CONFIG SET slowlog-max-len 3", b"+OK\r\n");
    c.expect_call("SLOWLOG LEN", b":3\r\n");
    c.expect_call(
        "CONFIG GET slowlog-max-len",
        b"*2\r\n$15\r\nslowlog-max-len\r\n$1\r\n3\r\n",
    );
    c.expect_call(
        "CONFIG SET slowlog-log-slower-than -2",
        b"-ERR CONFIG SET failed (possibly related to argument 'slowlog-log-slower-than') - argument must be between -1 and 9223372036854775807 inclusive\r\n",
    );
    // Disabled: nothing more is logged.
    c.expect_call("CONFIG SET slowlog-log-slower-than -1", b"+OK\r\n");
    c.expect_call("SLOWLOG RESET", b"+OK\r\n");
    c.call_args(&[b"EVAL", BUSY_SCRIPT.as_bytes(), b"0"]);
    c.expect_call("SLOWLOG LEN", b":0\r\n");
}

#[test]
fn latency_records_slow_commands_over_the_threshold() {
    let srv = TestServer::start();
    let mut c = Raw::connect(&srv.addr());
    // Off by default: nothing is recorded.
    c.call_args(&[b"EVAL", BUSY_SCRIPT.as_bytes(), b"0"]);
    c.expect_call("LATENCY LATEST", b"*0\r\n");
    c.expect_call("CONFIG SET latency-monitor-threshold 1", b"+OK\r\n");
    c.call("PING");
    c.expect_call("LATENCY LATEST", b"*0\r\n");
    c.call_args(&[b"EVAL", BUSY_SCRIPT.as_bytes(), b"0"]);
    let latest = show(&c.call("LATENCY LATEST"));
    let parts: Vec<&str> = latest.split("\r\n").collect();
    assert_eq!(&parts[..3], ["*1", "*4", "$7"], "{latest}");
    assert_eq!(parts[3], "command");
    let time: u64 = parts[4][1..].parse().expect("time");
    let last: u64 = parts[5][1..].parse().expect("latency");
    let max: u64 = parts[6][1..].parse().expect("max");
    assert!(time > 1_600_000_000 && last >= 1 && max >= last, "{latest}");
    let history = show(&c.call("LATENCY HISTORY command"));
    assert_eq!(
        history,
        format!("*1\r\n*2\r\n:{time}\r\n:{last}\r\n"),
        "{history}"
    );
    c.expect_call("LATENCY HISTORY nosuch", b"*0\r\n");
    let doctor = c.call("LATENCY DOCTOR");
    assert!(
        doctor.starts_with(b"$") && doctor.len() > 20,
        "{}",
        show(&doctor)
    );
    c.expect_call("LATENCY RESET nosuch", b":0\r\n");
    c.expect_call("LATENCY RESET", b":1\r\n");
    c.expect_call("LATENCY LATEST", b"*0\r\n");
    c.expect_call(
        "LATENCY HELP x",
        b"-ERR wrong number of arguments for 'latency|help' command\r\n",
    );
}

#[test]
fn client_pause_holds_writes_or_everything_until_it_ends() {
    let srv = TestServer::start();
    let mut admin = Raw::connect(&srv.addr());
    let mut w = Raw::connect(&srv.addr());
    let mut r = Raw::connect(&srv.addr());
    admin.expect_call("CLIENT PAUSE 100000 WRITE", b"+OK\r\n");
    // Reads go on; writes and publishes wait, and so does what the writer
    // sends after them.
    r.expect_call("GET k", b"$-1\r\n");
    w.send(&cmds_of(&["SET k v", "PUBLISH ch m", "GET k"]));
    w.expect_nothing(Duration::from_millis(300));
    r.expect_call("PING", b"+PONG\r\n");
    r.expect_call("GET k", b"$-1\r\n");
    admin.expect_call("CLIENT UNPAUSE", b"+OK\r\n");
    w.expect(b"+OK\r\n");
    w.expect(b":0\r\n");
    w.expect(&bulk(b"v"));

    // ALL holds every command, until the timeout passes.
    admin.expect_call("CLIENT PAUSE 400 ALL", b"+OK\r\n");
    let started = Instant::now();
    r.expect_call("PING", b"+PONG\r\n");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Errors as Redis gives them.
    admin.expect_call(
        "CLIENT PAUSE abc",
        b"-ERR timeout is not an integer or out of range\r\n",
    );
    admin.expect_call("CLIENT PAUSE -1", b"-ERR timeout is negative\r\n");
    admin.expect_call(
        "CLIENT PAUSE 10 foo",
        b"-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n",
    );
    admin.expect_call(
        "CLIENT PAUSE 10 write x",
        b"-ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP.\r\n",
    );
}

#[test]
fn a_client_paused_for_writing_can_still_hang_up() {
    let srv = TestServer::start();
    let mut admin = Raw::connect(&srv.addr());
    admin.expect_call("CLIENT PAUSE 100000 WRITE", b"+OK\r\n");
    let mut w = Raw::connect(&srv.addr());
    w.expect_call("CLIENT SETNAME waiting", b"+OK\r\n");
    w.send(b"SET k v\r\n");
    w.expect_nothing(Duration::from_millis(200));
    drop(w);
    assert!(
        wait_until(Duration::from_secs(5), || !show(&admin.call("CLIENT LIST"))
            .contains("name=waiting")),
        "the paused client's connection was kept after it hung up"
    );
    admin.expect_call("CLIENT UNPAUSE", b"+OK\r\n");
    admin.expect_call("GET k", b"$-1\r\n");
}

/// Several inline commands as one write.
fn cmds_of(lines: &[&str]) -> Vec<u8> {
    lines.iter().flat_map(|l| common::cmds(l)).collect()
}

#[test]
fn role_lastsave_and_wait_answer_as_a_standalone_redis() {
    let srv = TestServer::start();
    let mut c = Raw::connect(&srv.addr());
    c.expect_call("ROLE", b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let lastsave = show(&c.call("LASTSAVE"));
    let saved: u64 = lastsave[1..lastsave.len() - 2].parse().expect("integer");
    assert!(saved <= now && saved + 60 > now, "{lastsave}");
    c.expect_call("WAIT 0 0", b":0\r\n");
    c.expect_call("WAIT 0 -1", b"-ERR timeout is negative\r\n");
    c.expect_call(
        "WAIT x 0",
        b"-ERR value is not an integer or out of range\r\n",
    );
    // With no replica to acknowledge, WAIT for one waits out its timeout.
    let started = Instant::now();
    c.expect_call("WAIT 1 300", b":0\r\n");
    assert!(started.elapsed() >= Duration::from_millis(280));
    // Inside a transaction it never waits.
    c.call("MULTI");
    c.call("WAIT 1 0");
    c.expect_call("EXEC", b"*1\r\n:0\r\n");
    c.expect_call("CLIENT NO-EVICT on", b"+OK\r\n");
    c.expect_call("CLIENT NO-EVICT maybe", b"-ERR syntax error\r\n");
}

#[test]
fn latency_records_slow_fan_outs_of_publish_runs() {
    if common::is_reference() {
        // `fan-out` is pubsubd's own event.
        return;
    }
    let srv = TestServer::start();
    let mut c = Raw::connect(&srv.addr());
    c.expect_call("CONFIG SET latency-monitor-threshold 1", b"+OK\r\n");
    let mut subscribers: Vec<Raw> = (0..300)
        .map(|_| {
            let mut s = Raw::connect(&srv.addr());
            s.call("SUBSCRIBE ch");
            s
        })
        .collect();
    // Pipelined PUBLISHes to one channel are delivered as runs after their
    // replies; a run to 300 subscribers takes milliseconds.
    let batch: Vec<u8> = (0..512)
        .flat_map(|_| common::cmds("PUBLISH ch m"))
        .collect();
    let recorded = wait_until(Duration::from_secs(20), || {
        c.send(&batch);
        for _ in 0..512 {
            assert_eq!(c.reply(), b":300\r\n");
        }
        show(&c.call("LATENCY LATEST")).contains("$7\r\nfan-out\r\n")
    });
    assert!(recorded, "{}", show(&c.call("LATENCY LATEST")));
    let history = show(&c.call("LATENCY HISTORY fan-out"));
    assert!(
        history.starts_with("*") && !history.starts_with("*0"),
        "{history}"
    );
    let doctor = show(&c.call("LATENCY DOCTOR"));
    assert!(doctor.contains("fan-out"), "{doctor}");
    subscribers.clear();
}

#[test]
fn a_monitor_running_a_long_script_gets_its_lines_without_holding_them_all() {
    if common::is_reference() {
        // Redis writes these lines into the middle of the script's reply.
        return;
    }
    let srv = TestServer::start();
    let mut m = Raw::connect(&srv.addr());
    m.expect_call("MONITOR", b"+OK\r\n");
    // 5,000 commands make about 150 KB of lines about the monitor's own
    // script: more than it holds back for the reply (64 KiB).
    m.send(&cmd(&[
        b"EVAL",
        b"for i = 1, 5000 do redis.call('set', 'k', 'v') end return 7",
        b"0",
    ]));
    let mut before = 0;
    loop {
        let frame = m.reply();
        if frame == b":7\r\n" {
            break;
        }
        assert!(frame.starts_with(b"+"), "{}", show(&frame));
        before += 1;
    }
    let mut after = 0;
    while m.try_reply(Duration::from_millis(300)).is_some() {
        after += 1;
    }
    assert!(before > 0, "every line was held back for the reply");
    assert_eq!(before + after, 5001);
}

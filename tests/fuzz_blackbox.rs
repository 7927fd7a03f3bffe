//! A black-box fuzzer against a live server.
//!
//! Several fuzzing connections send random and mutated requests from
//! generator families (valid commands with mutated arguments, random bytes,
//! truncated and oversized frames, huge counts, deep nesting, inline
//! commands, MULTI/EXEC, EVAL, CONFIG, SUBSCRIBE mixes, CLIENT
//! subcommands, SCRIPT KILL, ...) and reconnect whenever the server closes
//! them. Meanwhile three checking connections of their own watch the
//! server: a publisher sends sequence-numbered messages to a channel no
//! fuzzer uses, a subscriber checks that every one arrives, once and in
//! order, and a health checker sends PING and DBSIZE (which takes the
//! keyspace lock) every [`HEALTH_INTERVAL`]; any answer slower than
//! [`ANSWER_BOUND`] fails the run. At the end the server must still answer,
//! its client count must fall back to the checkers' own, and no message may
//! be missing.
//!
//! Environment:
//! * `PUBSUBD_FUZZ_SECS`: seconds of fuzzing (default [`DEFAULT_SECS`]).
//! * `PUBSUBD_FUZZ_SEED`: the seed (decimal); printed at the start of every
//!   run, so a failing run can be repeated (thread timing still varies).
//! * `PUBSUBD_FUZZ_EXCLUDE`: comma-separated generator families to skip,
//!   e.g. `multi_info,eval_info` (see [`FAMILIES`]); the default runs all.
//! * `PUBSUBD_FUZZ_ONLY`: comma-separated families to run alone, to narrow a
//!   failure down.
//! * `PUBSUBD_FUZZ_GDB`: when set, a failed run prints every server thread's
//!   stack (with gdb) before the server is killed, to see where a hang is.
//!
//! On failure the test prints what every fuzzing connection sent in the
//! seconds before, the start of a reproducer.

mod common;

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Rng, TestServer, info_field};

/// Seconds of fuzzing in a plain `cargo test`.
const DEFAULT_SECS: u64 = 20;
/// Fuzzing connections open at once (each on its own thread).
const FUZZ_CONNECTIONS: usize = 4;
/// How often the health checker asks the server something.
const HEALTH_INTERVAL: Duration = Duration::from_millis(100);
/// The slowest answer the checkers accept, from the health checker and the
/// publisher alike.
const ANSWER_BOUND: Duration = Duration::from_secs(2);
/// How long the end-of-run checks wait for the last messages to arrive and
/// for the fuzzing clients to be gone.
const SETTLE: Duration = Duration::from_secs(5);
/// The sequence-numbered channel; no generator uses it.
const SEQ_CHANNEL: &[u8] = b"fuzz-checker:seq";
/// Lines of the op log kept for the failure report.
const OP_LOG_LINES: usize = 4096;

/// Every generator family, with its weight. Names are what
/// `PUBSUBD_FUZZ_EXCLUDE` and `PUBSUBD_FUZZ_ONLY` take. Requests that reach
/// one class of defect (INFO inside EXEC or a script, deeply nested Lua
/// tables, writes under a `maxmemory` limit) come only from a family of
/// their own, so that class can be left out while the rest is fuzzed.
const FAMILIES: &[(&str, u32)] = &[
    ("valid", 20),     // known commands with mutated arguments, as RESP
    ("inline", 8),     // the same as inline commands, quotes and all
    ("random", 6),     // random bytes biased towards RESP punctuation
    ("truncated", 6),  // frames cut short, split across writes, or misframed
    ("oversized", 2),  // big arguments and lines, over-limit lengths
    ("counts", 4),     // huge, negative and malformed counts and lengths
    ("nesting", 3),    // deeply nested arrays and RESP3 aggregates
    ("multi", 8),      // MULTI ... EXEC/DISCARD, WATCH (no INFO inside)
    ("multi_info", 3), // MULTI, INFO, EXEC
    ("eval", 10),      // bounded Lua scripts, EVALSHA, EVAL_RO (no INFO)
    ("eval_info", 3),  // scripts calling INFO
    ("lua_deep", 2),   // scripts returning deeply nested tables
    ("config", 5),     // CONFIG GET, harmless CONFIG SET, RESETSTAT
    ("maxmemory", 2),  // CONFIG SET maxmemory to a limit (or back to 0)
    ("subscribe", 8),  // SUBSCRIBE/PSUBSCRIBE/UNSUBSCRIBE mixes, RESP3
    ("stall", 2),      // subscribe to everything, then stop reading a while
    ("client", 5),     // CLIENT subcommands; KILL only of fuzzing clients
    ("info", 4),       // INFO sections
    ("script", 4),     // SCRIPT LOAD/EXISTS/FLUSH/KILL, a script killed
    ("admin", 4),      // COMMAND, PUBSUB, DEBUG, HELLO, RESET, QUIT, ...
];

// ---------------------------------------------------------------------------
// Randomness

// ---------------------------------------------------------------------------
// Wire helpers

/// A RESP multibulk request.
fn frame(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Owned arguments from string slices.
fn words(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// An inline request: bare words where possible, double quotes with
/// `\xHH` escapes otherwise.
fn inline(args: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(if rng.chance(80) { b" " } else { b" \t " });
        }
        let bare = !a.is_empty()
            && a.iter()
                .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'');
        if bare && rng.chance(80) {
            out.extend_from_slice(a);
        } else if !a.contains(&b'\'') && !a.contains(&b'\\') && rng.chance(30) {
            out.push(b'\'');
            out.extend_from_slice(a);
            out.push(b'\'');
        } else {
            out.push(b'"');
            for &b in a {
                match b {
                    b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
                    b' '..=b'~' => out.push(b),
                    _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                }
            }
            out.push(b'"');
        }
    }
    out.extend_from_slice(if rng.chance(80) { b"\r\n" } else { b"\n" });
    out
}

/// Bytes shown readably in the op log, cut to a line.
fn show(b: &[u8]) -> String {
    const MAX: usize = 240;
    let mut s = String::new();
    for &c in b.iter().take(MAX) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            b' '..=b'~' => s.push(char::from(c)),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if b.len() > MAX {
        s.push_str(&format!("...({} bytes)", b.len()));
    }
    s
}

/// A decoded RESP2 reply (the checkers stay in RESP2).
#[derive(Debug, PartialEq)]
enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
}

/// Decodes one RESP2 reply at the front of `b`: the value and its length,
/// or `None` if it is incomplete.
fn decode(b: &[u8]) -> Option<(Value, usize)> {
    let eol = b.windows(2).position(|w| w == b"\r\n")?;
    let head = b.get(1..eol)?;
    let num = || -> Option<i64> { std::str::from_utf8(head).ok()?.parse().ok() };
    let after = eol + 2;
    match *b.first()? {
        b'+' => Some((Value::Simple(head.to_vec()), after)),
        b'-' => Some((Value::Error(head.to_vec()), after)),
        b':' => Some((Value::Int(num()?), after)),
        b'$' => {
            let n = num()?;
            if n < 0 {
                return Some((Value::Bulk(None), after));
            }
            let end = after + n as usize;
            let data = b.get(after..end)?.to_vec();
            b.get(end + 1)?;
            Some((Value::Bulk(Some(data)), end + 2))
        }
        b'*' => {
            let n = num()?;
            if n < 0 {
                return Some((Value::Array(None), after));
            }
            let mut at = after;
            let mut items = Vec::new();
            for _ in 0..n {
                let (v, used) = decode(&b[at..])?;
                items.push(v);
                at += used;
            }
            Some((Value::Array(Some(items)), at))
        }
        // Not RESP2: a checker's connection never sees this.
        _ => Some((Value::Error(b"unexpected reply type".to_vec()), b.len())),
    }
}

/// Why a checker's read ended without a reply.
#[derive(Debug)]
enum ReadError {
    Timeout,
    Closed,
}

/// A checker's connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn connect(port: u16) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(ANSWER_BOUND))?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    fn send(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        let owned: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
        self.stream.write_all(&frame(&owned))
    }

    /// The next reply, waiting at most `within`.
    fn read(&mut self, within: Duration) -> Result<Value, ReadError> {
        let deadline = Instant::now() + within;
        loop {
            if let Some((v, used)) = decode(&self.buf) {
                self.buf.drain(..used);
                return Ok(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadError::Timeout);
            }
            let _ = self.stream.set_read_timeout(Some(left));
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ReadError::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return Err(ReadError::Closed),
            }
        }
    }

    /// Sends a command and returns its reply, timed.
    fn call(&mut self, args: &[&[u8]]) -> Result<(Value, Duration), String> {
        let start = Instant::now();
        self.send(args)
            .map_err(|e| format!("{} failed to send: {e}", show(args[0])))?;
        match self.read(ANSWER_BOUND) {
            Ok(v) => Ok((v, start.elapsed())),
            Err(e) => Err(format!(
                "{} got no answer within {ANSWER_BOUND:?} ({e:?})",
                show(args[0])
            )),
        }
    }

    /// This connection's CLIENT ID.
    fn client_id(&mut self) -> Result<u64, String> {
        match self.call(&[b"CLIENT", b"ID"])? {
            (Value::Int(id), _) => Ok(id as u64),
            (other, _) => Err(format!("CLIENT ID answered {other:?}")),
        }
    }
}

// ---------------------------------------------------------------------------
// Shared state of a run

/// What every thread of the run shares.
struct Run {
    start: Instant,
    port: u16,
    stop: AtomicBool,
    failures: Mutex<Vec<(Duration, String)>>,
    /// What the fuzzing connections sent: (time since start, line).
    ops: Mutex<VecDeque<(Duration, String)>>,
    /// CLIENT IDs of the fuzzing connections, the only ones CLIENT KILL
    /// may name.
    fuzz_ids: Mutex<Vec<u64>>,
    /// CLIENT IDs of the checkers' connections, never killed.
    checker_ids: Mutex<Vec<u64>>,
    /// Set once the publisher has stopped: from then on nothing more is
    /// published and the subscriber may finish.
    publisher_done: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    /// The slowest checker answer: how long, to what, and when.
    slowest: Mutex<(Duration, String, Duration)>,
    family_counts: Mutex<Vec<(&'static str, u64)>>,
    reconnects: AtomicU64,
}

impl Run {
    fn fail(&self, what: String) {
        let at = self.start.elapsed();
        eprintln!("fuzz_blackbox: FAILURE at {:.3}s: {what}", at.as_secs_f64());
        if let Ok(mut f) = self.failures.lock() {
            f.push((at, what));
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn log(&self, line: String) {
        if let Ok(mut ops) = self.ops.lock() {
            if ops.len() == OP_LOG_LINES {
                ops.pop_front();
            }
            ops.push_back((self.start.elapsed(), line));
        }
    }

    fn note_answer(&self, what: &[u8], took: Duration) {
        if let Ok(mut slowest) = self.slowest.lock()
            && took > slowest.0
        {
            *slowest = (took, show(what), self.start.elapsed());
        }
    }
}

// ---------------------------------------------------------------------------
// Checkers

/// Publishes `0, 1, 2, ...` to [`SEQ_CHANNEL`] until the run stops; a
/// `-BUSY` answer (a script past busy-reply-threshold) is retried, anything
/// else but a receiver count is a failure.
fn publisher(run: Arc<Run>, mut conn: Conn) -> Conn {
    let mut seq: u64 = 0;
    while !run.stopped() {
        let payload = seq.to_string();
        match conn.call(&[b"PUBLISH", SEQ_CHANNEL, payload.as_bytes()]) {
            Ok((Value::Int(n), took)) if n >= 1 => {
                run.note_answer(b"PUBLISH", took);
                seq += 1;
                run.published.store(seq, Ordering::SeqCst);
            }
            Ok((Value::Int(0), _)) => {
                run.fail(format!("PUBLISH of {seq} reached no subscriber"));
                break;
            }
            Ok((Value::Error(e), took)) if e.starts_with(b"BUSY") => {
                run.note_answer(b"PUBLISH", took);
                thread::sleep(Duration::from_millis(10));
            }
            Ok((other, _)) => {
                run.fail(format!("PUBLISH of {seq} answered {other:?}"));
                break;
            }
            Err(e) => {
                run.fail(format!("publisher: {e}"));
                break;
            }
        }
        thread::sleep(Duration::from_millis(2));
    }
    conn
}

/// Checks that message `n` on [`SEQ_CHANNEL`] is followed by `n + 1`, until
/// the publisher has stopped and everything it published has arrived.
fn subscriber(run: Arc<Run>, mut conn: Conn, ready: Arc<AtomicBool>) -> Conn {
    let confirmed = conn
        .send(&[b"SUBSCRIBE", SEQ_CHANNEL])
        .ok()
        .and_then(|()| conn.read(ANSWER_BOUND).ok());
    match confirmed {
        Some(Value::Array(Some(items))) if items.len() == 3 => {}
        other => {
            run.fail(format!("SUBSCRIBE answered {other:?}"));
            return conn;
        }
    }
    ready.store(true, Ordering::SeqCst);
    let mut next: u64 = 0;
    let mut settle_deadline: Option<Instant> = None;
    loop {
        if run.publisher_done.load(Ordering::SeqCst) {
            let deadline = *settle_deadline.get_or_insert_with(|| Instant::now() + SETTLE);
            if next >= run.published.load(Ordering::SeqCst) || Instant::now() > deadline {
                return conn;
            }
        }
        match conn.read(Duration::from_millis(200)) {
            Ok(Value::Array(Some(items))) => {
                let expected = [
                    Value::Bulk(Some(b"message".to_vec())),
                    Value::Bulk(Some(SEQ_CHANNEL.to_vec())),
                ];
                let seq = match items.as_slice() {
                    [kind, channel, Value::Bulk(Some(payload))]
                        if *kind == expected[0] && *channel == expected[1] =>
                    {
                        std::str::from_utf8(payload)
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                    }
                    _ => None,
                };
                match seq {
                    Some(n) if n == next => {
                        next += 1;
                        run.received.store(next, Ordering::SeqCst);
                    }
                    Some(n) => {
                        run.fail(format!(
                            "subscriber expected message {next}, got {n} (lost or reordered)"
                        ));
                        return conn;
                    }
                    None => {
                        run.fail(format!("subscriber got {items:?}"));
                        return conn;
                    }
                }
            }
            Ok(other) => {
                run.fail(format!("subscriber got {other:?}"));
                return conn;
            }
            Err(ReadError::Timeout) => {}
            Err(ReadError::Closed) => {
                run.fail(format!(
                    "the subscriber's connection closed after message {next}"
                ));
                return conn;
            }
        }
    }
}

/// Every [`HEALTH_INTERVAL`], PING and DBSIZE must be answered within
/// [`ANSWER_BOUND`]: PING shows the connection's task runs, DBSIZE that the
/// keyspace lock is not stuck.
fn health(run: Arc<Run>, mut conn: Conn) {
    while !run.stopped() {
        for command in [&b"PING"[..], b"DBSIZE"] {
            match conn.call(&[command]) {
                Ok((Value::Error(e), took)) if e.starts_with(b"BUSY") => {
                    run.note_answer(command, took)
                }
                Ok((Value::Error(e), _)) => {
                    return run.fail(format!("{} answered -{}", show(command), show(&e)));
                }
                Ok((_, took)) => run.note_answer(command, took),
                Err(e) => return run.fail(format!("health check: {e}")),
            }
        }
        thread::sleep(HEALTH_INTERVAL);
    }
}

// ---------------------------------------------------------------------------
// Generators

/// What a generator asks its connection to do.
enum Action {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Wait, reading replies meanwhile.
    Pause(Duration),
    /// Wait without reading, as a slow consumer does.
    Stall(Duration),
    /// Close the connection (the next op reconnects).
    Close,
    /// Open a second fuzzing connection after the given delay, send these
    /// bytes on it, read for a moment and close it (SCRIPT KILL from
    /// another client while a script runs).
    SideSend(Duration, Vec<u8>),
}

const CHANNELS: &[&str] = &[
    "news",
    "a",
    "ch:1",
    "ch:2",
    "",
    "x*",
    "h?llo",
    "__keyspace@0__:k",
    "chat",
];
const PATTERNS: &[&str] = &[
    "*", "ch:*", "n?ws", "[a-z]*", "\\*", "h[^e]llo", "**", "[", "", "*:*", "[!-~]",
];
const KEYS: &[&str] = &["k", "k2", "counter", "", "key with space", "{tag}k"];
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "10",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "99999999999999999999",
    "1.5",
    "-0",
    "+1",
    " 1",
    "1e3",
    "nan",
    "0x10",
    "",
];
const INFO_SECTIONS: &[&str] = &[
    "",
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
    "keysizes",
    "all",
    "default",
    "everything",
    "nosuch",
    "STATS",
];

/// Lua bodies that always finish quickly (bounded loops, bounded sizes) and
/// never call INFO; `{n}` is replaced with a small number.
const SCRIPTS: &[&str] = &[
    "return 1",
    "return 'x'",
    "return {1,2,{3,'x',{4}}}",
    "return {1,nil,3}",
    "return 3.99",
    "return true",
    "return false",
    "return nil",
    "return {err='E custom'}",
    "return {ok='FINE'}",
    "return redis.call('ping')",
    "return redis.call('echo', ARGV[1] or 'x')",
    "return redis.pcall('nosuchcommand')",
    "return redis.call('nosuchcommand')",
    "return redis.error_reply('E made')",
    "return redis.status_reply('OK')",
    "return redis.call('publish', KEYS[1] or 'news', ARGV[1] or 'm')",
    "for i=1,{n} do redis.call('publish', 'news', i) end return {n}",
    "local n=0 for i=1,{n} do n=n+i end return n",
    "for i=1,{n} do redis.call('set', 'k'..(i % 7), i) end return redis.call('get','k1')",
    "return redis.call('get', KEYS[1] or 'k')",
    "return redis.call('incr', KEYS[1] or 'counter')",
    "error('boom')",
    "return (",
    "x = 1",
    "return redis.sha1hex(ARGV[1] or '')",
    "redis.log(redis.LOG_WARNING, 'fuzz')",
    "return string.rep('x', {n})",
    "local t={} for i=1,{n} do t[i]=i end return t",
    "return redis.call('subscribe', 'x')",
    "return redis.call('eval', 'return 1', 0)",
    "return redis.call('multi')",
    "return redis.call('config', 'get', 'maxmemory')",
    "return redis.call('client', 'id')",
    "return redis.call('pubsub', 'channels')",
    "return redis.call('time')",
    "return redis.setresp(3)",
    "redis.setresp(3) return redis.call('hello')",
    "return redis.call('script', 'kill')",
    "return tostring(KEYS[1]) .. tostring(ARGV[2])",
    "return #KEYS + #ARGV",
    "return redis.call('set', 'k', ARGV[1] or 'v', 'EX', '100')",
    "return pcall(function() return redis.call('get') end)",
    "local r = redis.pcall('incr', 'counter') return type(r)",
    "return math.huge",
    "return -0.5",
    "return {1, {2, {3, {4, {5, {6}}}}}}",
    "return redis.call('select', '1')",
    "return redis.call('keys', '*')",
    "return redis.call('flushdb')",
    "return loadstring('return 1')()",
    "return getmetatable('').__index",
    "local t = setmetatable({}, {__index = function() return 1 end}) return t.x",
    "return cjson.encode({1, 2, 'x'})",
    "return cmsgpack.pack({1})",
    "return bit.band(7, 3)",
    "return struct.pack('>I', 1)",
];

/// INFO from a script (the `eval_info` family).
const INFO_SCRIPTS: &[&str] = &[
    "return redis.call('info')",
    "return redis.call('info', 'stats')",
    "return redis.call('info', 'keyspace')",
    "return redis.pcall('info', 'everything')",
    "return redis.call('info', 'server')",
];

/// CONFIG SET pairs that cannot hurt the checkers: no bind, port, dir,
/// requirepass, timeout, maxclients below the fuzzers' need, or pub/sub
/// output limits that could cut the checkers' subscriber.
const HARMLESS_CONFIG: &[(&str, &[&str])] = &[
    (
        "loglevel",
        &["notice", "warning", "verbose", "NOTICE", "nope"],
    ),
    // A non-zero maxmemory is the `maxmemory` family's.
    ("maxmemory", &["0", "abc", "-1", "1xb"]),
    (
        "notify-keyspace-events",
        &["", "KEA", "Ex", "Kg$", "AKE", "n", "Q"],
    ),
    ("busy-reply-threshold", &["5000", "1000", "10000", "x"]),
    ("lua-time-limit", &["5000", "2000", "-5"]),
    ("protected-mode", &["yes", "no", "maybe"]),
    ("client-query-buffer-limit", &["1gb", "512mb", "1mb", "1"]),
    ("proto-max-bulk-len", &["512mb", "1mb", "100mb", "0"]),
    ("maxclients", &["10000", "5000", "0"]),
    ("tcp-keepalive", &["300", "0", "60"]),
    (
        "client-output-buffer-limit",
        &[
            "normal 0 0 0",
            "replica 256mb 64mb 60",
            "slave 1mb 1mb 1",
            "pubsub 32mb 8mb 60",
            "normal 0 0",
            "bogus 1 2 3",
        ],
    ),
    ("save", &[""]),
    ("appendonly", &["no"]),
];

/// Whether a structured request is one the fuzzer must never send: it would
/// stop the server, change where it listens or who may connect, or hit the
/// checkers' connections.
fn forbidden(args: &[Vec<u8>], run: &Run) -> bool {
    let Some(name) = args.first() else {
        return false;
    };
    let is = |i: usize, w: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    match name.as_str() {
        "shutdown" | "replicaof" | "slaveof" | "failover" | "monitor" | "sync" | "psync"
        | "module" | "acl" | "save" | "bgsave" | "bgrewriteaof" => true,
        "debug" => !(is(1, "help") || is(1, "object") || (is(1, "sleep") && is(2, "0"))),
        "config" if is(1, "set") => args[2..].chunks(2).any(|pair| {
            let param = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            !HARMLESS_CONFIG.iter().any(|(p, _)| *p == param)
        }),
        "config" => is(1, "rewrite"),
        "client" if is(1, "pause") || is(1, "unpause") || is(1, "unblock") => true,
        "client" if is(1, "kill") => {
            // Only `CLIENT KILL ID <fuzzing client or none>`, optionally SKIPME.
            let target = args
                .get(3)
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|s| s.parse::<u64>().ok());
            let ok_form = is(2, "id") && (args.len() == 4 || (args.len() == 6 && is(4, "skipme")));
            let checker = target.is_some_and(|id| {
                run.checker_ids
                    .lock()
                    .map(|ids| ids.contains(&id))
                    .unwrap_or(true)
            });
            !ok_form || checker
        }
        _ => false,
    }
}

/// One fuzzing connection's generators.
struct Fuzzer {
    rng: Rng,
    run: Arc<Run>,
}

impl Fuzzer {
    fn word(&mut self, items: &[&str]) -> Vec<u8> {
        self.rng.pick(items).as_bytes().to_vec()
    }

    /// A value: mostly short text, sometimes binary or long.
    fn value(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0 => Vec::new(),
            1 => {
                let n = self.rng.below(40);
                self.rng.bytes(n)
            }
            2 => vec![b'v'; self.rng.below(20_000)],
            3 => self.word(NUMBERS),
            4 => b"\r\n*1\r\n$4\r\nPING\r\n".to_vec(),
            _ => format!("v{}", self.rng.below(1000)).into_bytes(),
        }
    }

    fn channel(&mut self) -> Vec<u8> {
        if self.rng.chance(10) {
            let n = self.rng.below(20);
            return self.rng.bytes(n);
        }
        self.word(CHANNELS)
    }

    /// A pattern, sometimes one built to make matching slow.
    fn pattern(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0 => {
                let mut p = Vec::new();
                for _ in 0..self.rng.below(400) {
                    p.extend_from_slice(self.rng.pick(&[&b"*a"[..], b"*", b"?", b"[a-z]", b"\\"]));
                }
                p.extend_from_slice(b"b");
                p
            }
            1 => {
                let n = self.rng.below(30);
                self.rng.bytes(n)
            }
            _ => self.word(PATTERNS),
        }
    }

    fn key(&mut self) -> Vec<u8> {
        self.word(KEYS)
    }

    fn number(&mut self) -> Vec<u8> {
        if self.rng.chance(60) {
            self.rng.below(100).to_string().into_bytes()
        } else {
            self.word(NUMBERS)
        }
    }

    /// A script body from [`SCRIPTS`] with its `{n}` filled in, sometimes
    /// with one byte changed.
    fn script(&mut self) -> Vec<u8> {
        let n = [1, 10, 100, 1000, 5000][self.rng.below(5)].to_string();
        let mut body = self.rng.pick(SCRIPTS).replace("{n}", &n).into_bytes();
        if self.rng.chance(10) && !body.is_empty() {
            let at = self.rng.below(body.len());
            body[at] = self
                .rng
                .pick(&[&b"("[..], b")", b"'", b" ", b"1", b"{", b"."])[0];
        }
        body
    }

    /// EVAL-family arguments for `body`: numkeys, keys and args, sometimes
    /// malformed.
    fn eval_args(&mut self, command: &str, body: Vec<u8>) -> Vec<Vec<u8>> {
        let mut args = vec![command.as_bytes().to_vec(), body];
        let keys = self.rng.below(3);
        if self.rng.chance(10) {
            args.push(self.word(&["-1", "abc", "99", ""]));
        } else {
            args.push(keys.to_string().into_bytes());
            for _ in 0..keys {
                let k = if self.rng.chance(50) {
                    self.channel()
                } else {
                    self.key()
                };
                args.push(k);
            }
        }
        for _ in 0..self.rng.below(3) {
            let v = self.value();
            args.push(v);
        }
        args
    }

    /// A well-formed request for a known command (the `valid` family before
    /// mutation). Never MULTI/EXEC, EVAL, SCRIPT, CONFIG SET or CLIENT KILL:
    /// those have families of their own.
    fn command(&mut self) -> Vec<Vec<u8>> {
        let r = &mut self.rng;
        match r.below(26) {
            0 => {
                if self.rng.chance(50) {
                    words(&["PING"])
                } else {
                    vec![b"PING".to_vec(), self.value()]
                }
            }
            1 => vec![b"ECHO".to_vec(), self.value()],
            2 => vec![b"PUBLISH".to_vec(), self.channel(), self.value()],
            3 => vec![b"SPUBLISH".to_vec(), self.channel(), self.value()],
            4 => {
                let mut a = vec![b"SET".to_vec(), self.key(), self.value()];
                for _ in 0..self.rng.below(3) {
                    match self.rng.below(6) {
                        0 => a.extend([b"EX".to_vec(), self.number()]),
                        1 => a.extend([b"PX".to_vec(), self.number()]),
                        2 => a.push(b"NX".to_vec()),
                        3 => a.push(b"XX".to_vec()),
                        4 => a.push(b"GET".to_vec()),
                        _ => a.push(b"KEEPTTL".to_vec()),
                    }
                }
                a
            }
            5 => vec![b"GET".to_vec(), self.key()],
            6 => {
                let name = self.word(&["INCR", "DECR", "INCRBY", "DECRBY"]);
                let mut a = vec![name.clone(), self.key()];
                if name.len() > 4 {
                    a.push(self.number());
                }
                a
            }
            7 => {
                let name = self.word(&["APPEND", "SETNX", "SETEX", "PSETEX"]);
                match name.as_slice() {
                    b"SETEX" | b"PSETEX" => vec![name, self.key(), self.number(), self.value()],
                    _ => vec![name, self.key(), self.value()],
                }
            }
            8 => {
                let name = self.word(&["STRLEN", "GETDEL", "TYPE", "TTL", "PTTL", "PERSIST"]);
                vec![name, self.key()]
            }
            9 => {
                let name = self.word(&["MGET", "DEL", "UNLINK", "EXISTS"]);
                let mut a = vec![name];
                for _ in 0..1 + self.rng.below(4) {
                    a.push(self.key());
                }
                a
            }
            10 => {
                let mut a = words(&["MSET"]);
                for _ in 0..1 + self.rng.below(3) {
                    a.extend([self.key(), self.value()]);
                }
                a
            }
            11 => {
                let name = self.word(&["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]);
                let mut a = vec![name, self.key(), self.number()];
                if self.rng.chance(30) {
                    a.push(self.word(&["NX", "XX", "GT", "LT", "ZZ"]));
                }
                a
            }
            12 => match self.rng.below(4) {
                0 => vec![b"KEYS".to_vec(), self.pattern()],
                1 => {
                    let mut a = vec![b"SCAN".to_vec(), self.number()];
                    if self.rng.chance(50) {
                        a.extend([b"MATCH".to_vec(), self.pattern()]);
                    }
                    if self.rng.chance(50) {
                        a.extend([b"COUNT".to_vec(), self.number()]);
                    }
                    if self.rng.chance(20) {
                        a.extend([b"TYPE".to_vec(), self.word(&["string", "list", "x"])]);
                    }
                    a
                }
                2 => words(&["RANDOMKEY"]),
                _ => vec![b"RENAME".to_vec(), self.key(), self.key()],
            },
            13 => match self.rng.below(5) {
                0 => vec![b"SELECT".to_vec(), self.number()],
                1 => vec![b"SWAPDB".to_vec(), self.number(), self.number()],
                2 => words(&["DBSIZE"]),
                3 => {
                    let mut a = words(&["FLUSHDB"]);
                    if self.rng.chance(50) {
                        a.push(self.word(&["ASYNC", "SYNC", "LATER"]));
                    }
                    a
                }
                _ => words(&["FLUSHALL"]),
            },
            14 => words(&["TIME"]),
            15 => match self.rng.below(5) {
                0 => words(&["COMMAND", "COUNT"]),
                1 => vec![
                    b"COMMAND".to_vec(),
                    b"INFO".to_vec(),
                    self.word(&["get", "client|kill", "nosuch", "config|get"]),
                ],
                2 => vec![
                    b"COMMAND".to_vec(),
                    b"DOCS".to_vec(),
                    self.word(&["publish", "client", "x"]),
                ],
                3 => words(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "p*"]),
                _ => words(&["COMMAND"]),
            },
            16 => match self.rng.below(6) {
                0 => vec![b"PUBSUB".to_vec(), b"CHANNELS".to_vec(), self.pattern()],
                1 => vec![
                    b"PUBSUB".to_vec(),
                    b"NUMSUB".to_vec(),
                    self.channel(),
                    self.channel(),
                ],
                2 => words(&["PUBSUB", "NUMPAT"]),
                3 => words(&["PUBSUB", "SHARDCHANNELS"]),
                4 => vec![b"PUBSUB".to_vec(), b"SHARDNUMSUB".to_vec(), self.channel()],
                _ => words(&["PUBSUB", "HELP"]),
            },
            17 => vec![b"CONFIG".to_vec(), b"GET".to_vec(), self.pattern()],
            18 => vec![b"WATCH".to_vec(), self.key()],
            19 => words(&["UNWATCH"]),
            20 => match self.rng.below(4) {
                0 => words(&["CLIENT", "ID"]),
                1 => words(&["CLIENT", "INFO"]),
                2 => vec![b"CLIENT".to_vec(), b"SETNAME".to_vec(), self.value()],
                _ => words(&["CLIENT", "GETNAME"]),
            },
            21 => vec![b"AUTH".to_vec(), self.value()],
            22 => vec![b"INFO".to_vec(), self.word(INFO_SECTIONS)],
            23 => {
                // Unknown commands and wrong arities.
                let name = self.word(&["NOSUCH", "GET", "SET", "PUBLISH", "SUBSCRIBE", "", "\0"]);
                vec![name]
            }
            24 => vec![b"SUBSCRIBE".to_vec(), self.channel()],
            _ => vec![b"PSUBSCRIBE".to_vec(), self.pattern()],
        }
    }

    /// Mutates a request's arguments: replaces, drops, duplicates or swaps
    /// them, or changes the case of the name.
    fn mutate(&mut self, args: &mut Vec<Vec<u8>>) {
        for _ in 0..1 + self.rng.below(3) {
            let n = args.len();
            match self.rng.below(7) {
                0 if n > 1 => {
                    let i = 1 + self.rng.below(n - 1);
                    args[i] = self.value();
                }
                1 if n > 1 => {
                    let i = 1 + self.rng.below(n - 1);
                    args[i] = self.word(NUMBERS);
                }
                2 if n > 1 => {
                    let i = 1 + self.rng.below(n - 1);
                    args.remove(i);
                }
                3 => {
                    let v = self.value();
                    args.push(v);
                }
                4 if n > 2 => {
                    let (i, j) = (1 + self.rng.below(n - 1), 1 + self.rng.below(n - 1));
                    args.swap(i, j);
                }
                5 => {
                    let flips: Vec<bool> =
                        (0..args[0].len()).map(|_| self.rng.chance(50)).collect();
                    for (b, flip) in args[0].iter_mut().zip(flips) {
                        if flip {
                            *b = if b.is_ascii_uppercase() {
                                b.to_ascii_lowercase()
                            } else {
                                b.to_ascii_uppercase()
                            };
                        }
                    }
                }
                _ => {
                    let v = vec![b'x'; self.rng.below(70_000)];
                    args.push(v);
                }
            }
        }
    }

    /// A harmless CONFIG SET (or a malformed one).
    fn config_set(&mut self) -> Vec<Vec<u8>> {
        let mut a = words(&["CONFIG", "SET"]);
        for _ in 0..1 + self.rng.below(2) {
            let (name, values) = HARMLESS_CONFIG[self.rng.below(HARMLESS_CONFIG.len())];
            a.push(name.as_bytes().to_vec());
            a.push(self.word(values));
        }
        if self.rng.chance(10) {
            a.pop();
        }
        a
    }

    /// A CLIENT subcommand; KILL names only fuzzing clients.
    fn client(&mut self) -> Vec<Vec<u8>> {
        match self.rng.below(12) {
            0 => words(&["CLIENT", "ID"]),
            1 => words(&["CLIENT", "INFO"]),
            2 => match self.rng.below(4) {
                0 => words(&["CLIENT", "LIST"]),
                1 => vec![
                    b"CLIENT".to_vec(),
                    b"LIST".to_vec(),
                    b"TYPE".to_vec(),
                    self.word(&["normal", "pubsub", "master", "replica", "x"]),
                ],
                2 => vec![
                    b"CLIENT".to_vec(),
                    b"LIST".to_vec(),
                    b"ID".to_vec(),
                    self.number(),
                    self.number(),
                ],
                _ => words(&["CLIENT", "LIST", "BOGUS"]),
            },
            3 => vec![
                b"CLIENT".to_vec(),
                b"SETNAME".to_vec(),
                self.word(&["fuzz", "with space", "", "x\ny", "ok-name"]),
            ],
            4 => words(&["CLIENT", "GETNAME"]),
            5 => vec![
                b"CLIENT".to_vec(),
                b"SETINFO".to_vec(),
                self.word(&["LIB-NAME", "LIB-VER", "lib-name", "other"]),
                self.word(&["fuzz", "1.0", "a b", ""]),
            ],
            6 => vec![
                b"CLIENT".to_vec(),
                b"REPLY".to_vec(),
                self.word(&["ON", "OFF", "SKIP", "maybe"]),
            ],
            7 => vec![
                b"CLIENT".to_vec(),
                self.word(&["NO-EVICT", "NO-TOUCH"]),
                self.word(&["on", "off", "x"]),
            ],
            8 => words(&["CLIENT", "HELP"]),
            9 => words(&["CLIENT", "NOSUCH"]),
            _ => {
                let ids = self
                    .run
                    .fuzz_ids
                    .lock()
                    .map(|v| v.clone())
                    .unwrap_or_default();
                let target = if !ids.is_empty() && self.rng.chance(80) {
                    ids[self.rng.below(ids.len())].to_string()
                } else {
                    self.rng
                        .pick(&["abc", "0", "-1", "999999999999"])
                        .to_string()
                };
                let mut a = vec![
                    b"CLIENT".to_vec(),
                    b"KILL".to_vec(),
                    b"ID".to_vec(),
                    target.into_bytes(),
                ];
                if self.rng.chance(30) {
                    a.extend([b"SKIPME".to_vec(), self.word(&["yes", "no"])]);
                }
                a
            }
        }
    }

    /// Random bytes, mostly RESP punctuation and small numbers.
    fn random_bytes(&mut self) -> Vec<u8> {
        const PIECES: &[&[u8]] = &[
            b"*",
            b"$",
            b"\r\n",
            b"\r",
            b"\n",
            b"-1",
            b"0",
            b"1",
            b"3",
            b"12",
            b"PING",
            b"\"",
            b"'",
            b" ",
            b"\\x",
            b"\0",
            b"+",
            b":",
            b"%",
            b"~",
            b">",
            b"SUBSCRIBE",
            b"a",
        ];
        let mut out = Vec::new();
        for _ in 0..self.rng.below(64) {
            if self.rng.chance(70) {
                out.extend_from_slice(self.rng.pick(PIECES));
            } else {
                out.push(self.rng.next() as u8);
            }
        }
        out
    }

    /// Builds one op of `family`.
    fn generate(&mut self, family: &str) -> Vec<Action> {
        let send = Action::Send;
        match family {
            "valid" => {
                let mut a = self.command();
                if self.rng.chance(60) {
                    self.mutate(&mut a);
                }
                self.guarded(vec![a], false)
            }
            "inline" => {
                let mut a = self.command();
                if self.rng.chance(40) {
                    self.mutate(&mut a);
                }
                if forbidden(&a, &self.run) {
                    return Vec::new();
                }
                let mut line = inline(&a, &mut self.rng);
                match self.rng.below(8) {
                    0 => line = b"ECHO \"unbalanced\r\n".to_vec(),
                    1 => line = b"ECHO 'a'b\r\n".to_vec(),
                    2 => line = b"\r\n\n \t \r\n".to_vec(),
                    3 => line.insert(self.rng.below(line.len()), 0),
                    _ => {}
                }
                vec![send(line)]
            }
            "random" => {
                let mut ops = vec![send(self.random_bytes())];
                if self.rng.chance(70) {
                    ops.push(Action::Close);
                }
                ops
            }
            "truncated" => {
                let a = self.command();
                if forbidden(&a, &self.run) {
                    return Vec::new();
                }
                let bytes = frame(&a);
                let cut = self.rng.below(bytes.len());
                let (head, tail) = bytes.split_at(cut);
                match self.rng.below(3) {
                    0 => vec![send(head.to_vec()), Action::Close],
                    1 => {
                        // The same frame in small pieces with pauses (at
                        // most about 40 of them).
                        let mut ops = Vec::new();
                        let mut rest = bytes.as_slice();
                        let piece = (bytes.len() / 40).max(8);
                        while !rest.is_empty() {
                            let n = (1 + self.rng.below(piece)).min(rest.len());
                            ops.push(send(rest[..n].to_vec()));
                            ops.push(Action::Pause(Duration::from_millis(
                                self.rng.below(3) as u64
                            )));
                            rest = &rest[n..];
                        }
                        ops
                    }
                    _ => {
                        // Misframed: the cut frame swallows the next one.
                        let mut next = self.command();
                        if forbidden(&next, &self.run) {
                            next = words(&["PING"]);
                        }
                        let mut b = head.to_vec();
                        b.extend_from_slice(&frame(&next));
                        b.extend_from_slice(&tail[..tail.len().min(3)]);
                        vec![send(b), Action::Close]
                    }
                }
            }
            "oversized" => match self.rng.below(6) {
                0 => {
                    let big = vec![b'p'; 64 * 1024 + self.rng.below(2 * 1024 * 1024)];
                    vec![send(frame(&[b"PUBLISH".to_vec(), self.channel(), big]))]
                }
                1 => {
                    let len = self.word(&[
                        "536870913",
                        "1048577",
                        "9223372036854775807",
                        "536870912",
                        "104857600",
                    ]);
                    let mut b = b"*3\r\n$7\r\nPUBLISH\r\n$4\r\nnews\r\n$".to_vec();
                    b.extend_from_slice(&len);
                    b.extend_from_slice(b"\r\nsome bytes");
                    vec![
                        send(b),
                        Action::Pause(Duration::from_millis(20)),
                        Action::Close,
                    ]
                }
                2 => vec![
                    send(vec![b'a'; 64 * 1024 + 1 + self.rng.below(4096)]),
                    Action::Close,
                ],
                3 => {
                    let mut b = b"*1\r\n$".to_vec();
                    b.extend(vec![b'1'; 64 * 1024 + 10]);
                    vec![send(b), Action::Close]
                }
                4 => {
                    let mut b = b"*".to_vec();
                    b.extend(vec![b'9'; 64 * 1024 + 10]);
                    vec![send(b), Action::Close]
                }
                _ => {
                    let mut line = b"ECHO ".to_vec();
                    line.extend(vec![b'y'; 60 * 1024]);
                    line.extend_from_slice(b"\r\n");
                    vec![send(line)]
                }
            },
            "counts" => {
                let count = self.word(&[
                    "1048576",
                    "1048577",
                    "2147483647",
                    "2147483648",
                    "-1",
                    "0",
                    "-2147483649",
                    "99999999999999999999",
                    "01",
                    "+1",
                    " 1",
                    "1 ",
                    "",
                    "-",
                    "0x10",
                ]);
                let mut b = b"*".to_vec();
                b.extend_from_slice(&count);
                b.extend_from_slice(b"\r\n");
                if self.rng.chance(50) {
                    let len =
                        self.word(&["-1", "-2", "0", "4", "00", "9223372036854775808", "", "1e3"]);
                    b.push(b'$');
                    b.extend_from_slice(&len);
                    b.extend_from_slice(b"\r\nPING\r\n");
                } else {
                    b.extend_from_slice(b"$4\r\nPING\r\n");
                }
                vec![
                    send(b),
                    Action::Pause(Duration::from_millis(5)),
                    Action::Close,
                ]
            }
            "nesting" => {
                let depth = [10, 1000, 100_000][self.rng.below(3)];
                let opener: &[u8] = self.rng.pick(&[
                    &b"*1\r\n"[..],
                    b"%1\r\n",
                    b"~1\r\n",
                    b">1\r\n",
                    b"*2\r\n$1\r\na\r\n",
                ]);
                let mut b = Vec::with_capacity(depth * opener.len() + 16);
                for _ in 0..depth {
                    b.extend_from_slice(opener);
                }
                b.extend_from_slice(b"$4\r\nPING\r\n");
                vec![send(b), Action::Close]
            }
            "multi" => {
                let mut reqs = Vec::new();
                if self.rng.chance(20) {
                    reqs.push(vec![b"WATCH".to_vec(), self.key()]);
                }
                reqs.push(words(&["MULTI"]));
                for _ in 0..self.rng.below(8) {
                    let mut a = match self.rng.below(8) {
                        0 => words(&["MULTI"]),
                        1 => {
                            let body = self.script();
                            self.eval_args("EVAL", body)
                        }
                        2 => words(&["NOSUCH"]),
                        3 => vec![b"SUBSCRIBE".to_vec(), self.channel()],
                        4 => words(&["WATCH", "k"]),
                        _ => self.command(),
                    };
                    if a[0].eq_ignore_ascii_case(b"INFO") {
                        a = words(&["PING"]);
                    }
                    reqs.push(a);
                }
                reqs.push(words(if self.rng.chance(80) {
                    &["EXEC"]
                } else {
                    &["DISCARD"]
                }));
                self.guarded(reqs, true)
            }
            "multi_info" => {
                let section = self.word(&["", "stats", "keyspace", "everything", "all"]);
                let mut info = words(&["INFO"]);
                if !section.is_empty() {
                    info.push(section);
                }
                self.guarded(vec![words(&["MULTI"]), info, words(&["EXEC"])], true)
            }
            "eval" => {
                let command = self
                    .rng
                    .pick(&["EVAL", "EVAL_RO", "EVALSHA", "EVALSHA_RO"])
                    .to_string();
                let body = self.script();
                if command.starts_with("EVALSHA") {
                    // Load the body, then call it by its hash (or by one
                    // that names nothing).
                    let sha = if self.rng.chance(80) {
                        sha1_smol::Sha1::from(&body)
                            .digest()
                            .to_string()
                            .into_bytes()
                    } else {
                        sha1_hex_of_unknown(&mut self.rng)
                    };
                    let load = vec![b"SCRIPT".to_vec(), b"LOAD".to_vec(), body];
                    let call = self.eval_args(&command, sha);
                    return self.guarded(vec![load, call], true);
                }
                let a = self.eval_args(&command, body);
                self.guarded(vec![a], true)
            }
            "eval_info" => {
                let body = self.rng.pick(INFO_SCRIPTS).as_bytes().to_vec();
                let a = self.eval_args("EVAL", body);
                self.guarded(vec![a], true)
            }
            "lua_deep" => {
                let depth = [100, 1000, 10_000, 100_000, 300_000][self.rng.below(5)];
                let body = match self.rng.below(3) {
                    0 => format!("local t = {{}} for i = 1, {depth} do t = {{t}} end return t"),
                    1 => format!(
                        "local t = {{}} for i = 1, {depth} do t = {{t, 1}} end return redis.call('echo', 'x'), t"
                    ),
                    _ => {
                        format!("local t = {{}} for i = 1, {depth} do t = {{err = t}} end return t")
                    }
                };
                let a = self.eval_args("EVAL", body.into_bytes());
                self.guarded(vec![a], true)
            }
            "config" => {
                // CONFIG SET is never mutated: a mutation could turn a
                // harmless value into a limit (see the `maxmemory` family).
                let (a, mutate) = match self.rng.below(5) {
                    0 | 1 => (self.config_set(), false),
                    2 => {
                        let a = vec![
                            b"CONFIG".to_vec(),
                            b"GET".to_vec(),
                            self.pattern(),
                            self.word(&["max*", "*", "port"]),
                        ];
                        (a, true)
                    }
                    3 => (words(&["CONFIG", "RESETSTAT"]), true),
                    _ => (words(&["CONFIG", "HELP"]), true),
                };
                self.guarded(vec![a], mutate)
            }
            "subscribe" => {
                let mut reqs = Vec::new();
                if self.rng.chance(20) {
                    reqs.push(words(&["HELLO", "3"]));
                }
                for _ in 0..1 + self.rng.below(6) {
                    let a = match self.rng.below(10) {
                        0 => vec![b"SUBSCRIBE".to_vec(), self.channel(), self.channel()],
                        1 => vec![b"PSUBSCRIBE".to_vec(), self.pattern()],
                        2 => vec![b"UNSUBSCRIBE".to_vec(), self.channel()],
                        3 => words(&["UNSUBSCRIBE"]),
                        4 => vec![b"PUNSUBSCRIBE".to_vec(), self.pattern()],
                        5 => vec![b"SSUBSCRIBE".to_vec(), self.channel()],
                        6 => words(&["SUNSUBSCRIBE"]),
                        7 => words(&["PING", "in-subscribed-mode"]),
                        8 => vec![b"PUBLISH".to_vec(), self.channel(), self.value()],
                        _ => words(&["GET", "k"]),
                    };
                    reqs.push(a);
                }
                if self.rng.chance(10) {
                    reqs.push(words(&["RESET"]));
                }
                self.guarded(reqs, true)
            }
            "maxmemory" => {
                let limit = self.word(&["100mb", "1gb", "1", "0"]);
                self.guarded(
                    vec![vec![
                        b"CONFIG".to_vec(),
                        b"SET".to_vec(),
                        b"maxmemory".to_vec(),
                        limit,
                    ]],
                    false,
                )
            }
            "stall" => {
                let mut ops = self.guarded(vec![words(&["PSUBSCRIBE", "*"])], false);
                let big = vec![b's'; 1 << (10 + self.rng.below(11))];
                for _ in 0..self.rng.below(4) {
                    ops.push(Action::Send(frame(&[
                        b"PUBLISH".to_vec(),
                        b"news".to_vec(),
                        big.clone(),
                    ])));
                }
                ops.push(Action::Stall(Duration::from_millis(
                    200 + self.rng.below(1300) as u64,
                )));
                ops
            }
            "client" => {
                let a = self.client();
                self.guarded(vec![a], true)
            }
            "info" => {
                let mut a = words(&["INFO"]);
                for _ in 0..self.rng.below(3) {
                    a.push(self.word(INFO_SECTIONS));
                }
                self.guarded(vec![a], true)
            }
            "script" => match self.rng.below(6) {
                0 => {
                    // A script that runs a while, killed from another client.
                    let n = [100_000, 1_000_000, 3_000_000][self.rng.below(3)];
                    let body = format!("local i = 0 while i < {n} do i = i + 1 end return i");
                    let kill = frame(&words(&["SCRIPT", "KILL"]));
                    let delay = Duration::from_millis(self.rng.below(50) as u64);
                    let a = self.eval_args("EVAL", body.into_bytes());
                    vec![send(frame(&a)), Action::SideSend(delay, kill)]
                }
                1 => self.guarded(vec![words(&["SCRIPT", "KILL"])], true),
                2 => {
                    let mut a = words(&["SCRIPT", "FLUSH"]);
                    if self.rng.chance(50) {
                        a.push(self.word(&["ASYNC", "SYNC", "BOTH"]));
                    }
                    self.guarded(vec![a], true)
                }
                3 => {
                    let a = vec![
                        b"SCRIPT".to_vec(),
                        b"EXISTS".to_vec(),
                        sha1_hex_of_unknown(&mut self.rng),
                        self.value(),
                    ];
                    self.guarded(vec![a], true)
                }
                4 => {
                    let body = self.script();
                    self.guarded(vec![vec![b"SCRIPT".to_vec(), b"LOAD".to_vec(), body]], true)
                }
                _ => {
                    let sub = self.rng.pick(&["HELP", "NOSUCH", "DEBUG"]);
                    self.guarded(vec![words(&["SCRIPT", sub])], true)
                }
            },
            _ => {
                // "admin"
                let a = match self.rng.below(10) {
                    0 => words(&["DEBUG", self.rng.pick(&["HELP", "OBJECT", "SLEEP"]), "0"]),
                    1 => {
                        let mut a = words(&["HELLO"]);
                        if self.rng.chance(80) {
                            a.push(self.word(&["2", "3", "4", "x", "-1"]));
                        }
                        if self.rng.chance(30) {
                            a.extend(words(&["SETNAME", "fuzz"]));
                        }
                        if self.rng.chance(20) {
                            a.extend(words(&["AUTH", "default", "wrong"]));
                        }
                        a
                    }
                    2 => words(&["RESET"]),
                    3 => words(&["QUIT"]),
                    4 => words(&["READONLY"]),
                    5 => words(&[
                        "CLUSTER",
                        self.rng
                            .pick(&["INFO", "SLOTS", "SHARDS", "NODES", "MYID", "NOSUCH"]),
                    ]),
                    6 => words(&["COMMAND", "DOCS"]),
                    7 => words(&["AUTH", "default", "nopass"]),
                    8 => words(&["LATENCY", "LATEST"]),
                    _ => words(&["MEMORY", "USAGE", "k"]),
                };
                self.guarded(vec![a], true)
            }
        }
    }

    /// Encodes requests as RESP (pipelined in one write or written one by
    /// one), leaving out the whole op if any request is [`forbidden`].
    /// `mutate` lets a generator ask for the `valid` family's mutations.
    fn guarded(&mut self, mut reqs: Vec<Vec<Vec<u8>>>, mutate: bool) -> Vec<Action> {
        if mutate && self.rng.chance(15) {
            let i = self.rng.below(reqs.len());
            let mut a = std::mem::take(&mut reqs[i]);
            self.mutate(&mut a);
            reqs[i] = a;
        }
        if reqs.iter().any(|a| forbidden(a, &self.run)) {
            return Vec::new();
        }
        if self.rng.chance(50) {
            vec![Action::Send(reqs.iter().flat_map(|a| frame(a)).collect())]
        } else {
            reqs.iter().map(|a| Action::Send(frame(a))).collect()
        }
    }
}

/// A 40-hex-digit string that names no script.
fn sha1_hex_of_unknown(rng: &mut Rng) -> Vec<u8> {
    (0..40)
        .map(|_| b"0123456789abcdef"[rng.below(16)])
        .collect()
}

/// One fuzzing connection: a thread that picks a family, sends its op,
/// drains the replies, and reconnects when the server closed it.
fn fuzz_worker(run: Arc<Run>, index: usize, seed: u64, families: Vec<(&'static str, u32)>) {
    let mut fuzzer = Fuzzer {
        rng: Rng(seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        run: Arc::clone(&run),
    };
    let total: u32 = families.iter().map(|(_, w)| w).sum();
    let mut conn: Option<(TcpStream, u64)> = None;
    while !run.stopped() {
        if conn.is_none() {
            conn = fuzz_connect(&run);
            if conn.is_none() {
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        }
        let mut roll = fuzzer.rng.below(total as usize) as u32;
        let family = families
            .iter()
            .find(|(_, w)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map(|(f, _)| *f)
            .unwrap_or("valid");
        let actions = fuzzer.generate(family);
        if actions.is_empty() {
            continue;
        }
        if let Ok(mut counts) = run.family_counts.lock()
            && let Some(c) = counts.iter_mut().find(|(f, _)| *f == family)
        {
            c.1 += 1;
        }
        let Some((stream, id)) = conn.as_mut() else {
            continue;
        };
        let mut alive = true;
        for action in actions {
            match action {
                Action::Send(bytes) => {
                    run.log(format!("conn {index} id={id} [{family}] {}", show(&bytes)));
                    if stream.write_all(&bytes).is_err() {
                        alive = false;
                        break;
                    }
                }
                Action::Pause(d) => alive = drain(stream, d),
                Action::Stall(d) => {
                    run.log(format!("conn {index} id={id} [{family}] <stall {d:?}>"));
                    thread::sleep(d);
                }
                Action::Close => {
                    run.log(format!("conn {index} id={id} [{family}] <close>"));
                    alive = false;
                }
                Action::SideSend(delay, bytes) => {
                    drain(stream, delay);
                    if let Some((mut side, side_id)) = fuzz_connect(&run) {
                        run.log(format!(
                            "side conn id={side_id} [{family}] {}",
                            show(&bytes)
                        ));
                        let _ = side.write_all(&bytes);
                        drain(&mut side, Duration::from_millis(100));
                        forget_id(&run, side_id);
                    }
                }
            }
            if !alive {
                break;
            }
        }
        if alive {
            alive = drain(stream, Duration::from_millis(5));
        }
        if !alive {
            forget_id(&run, *id);
            conn = None;
            run.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Some((_, id)) = conn {
        forget_id(&run, id);
    }
}

/// Opens a fuzzing connection and registers its CLIENT ID.
fn fuzz_connect(run: &Run) -> Option<(TcpStream, u64)> {
    let mut c = Conn::connect(run.port).ok()?;
    let id = c.client_id().ok()?;
    run.fuzz_ids.lock().ok()?.push(id);
    let stream = c.stream;
    stream.set_write_timeout(Some(ANSWER_BOUND)).ok()?;
    Some((stream, id))
}

fn forget_id(run: &Run, id: u64) {
    if let Ok(mut ids) = run.fuzz_ids.lock() {
        ids.retain(|&i| i != id);
    }
}

/// Reads and discards replies for `within`; false once the server closed
/// the connection.
fn drain(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut chunk = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return false,
        }
        if left.is_zero() {
            return true;
        }
    }
}

// ---------------------------------------------------------------------------
// The test

fn env_list(name: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn fuzz_live_server() {
    let secs: u64 = std::env::var("PUBSUBD_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SECS);
    let seed: u64 = std::env::var("PUBSUBD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let exclude = env_list("PUBSUBD_FUZZ_EXCLUDE");
    let only = env_list("PUBSUBD_FUZZ_ONLY");
    for name in exclude.iter().chain(&only) {
        assert!(
            FAMILIES.iter().any(|(f, _)| f == name),
            "unknown fuzz family {name:?}; families: {:?}",
            FAMILIES.iter().map(|(f, _)| *f).collect::<Vec<_>>()
        );
    }
    let families: Vec<(&'static str, u32)> = FAMILIES
        .iter()
        .copied()
        .filter(|(f, _)| !exclude.iter().any(|e| e == f))
        .filter(|(f, _)| only.is_empty() || only.iter().any(|o| o == f))
        .collect();
    assert!(!families.is_empty(), "every fuzz family is excluded");
    eprintln!(
        "fuzz_blackbox: seed={seed} secs={secs} families={:?} (repeat with PUBSUBD_FUZZ_SEED={seed})",
        families.iter().map(|(f, _)| *f).collect::<Vec<_>>()
    );

    let mut srv = TestServer::start();
    let run = Arc::new(Run {
        start: Instant::now(),
        port: srv.port,
        stop: AtomicBool::new(false),
        failures: Mutex::new(Vec::new()),
        ops: Mutex::new(VecDeque::new()),
        fuzz_ids: Mutex::new(Vec::new()),
        checker_ids: Mutex::new(Vec::new()),
        publisher_done: AtomicBool::new(false),
        published: AtomicU64::new(0),
        received: AtomicU64::new(0),
        slowest: Mutex::new((Duration::ZERO, String::new(), Duration::ZERO)),
        family_counts: Mutex::new(families.iter().map(|(f, _)| (*f, 0)).collect()),
        reconnects: AtomicU64::new(0),
    });

    // The checkers connect before any fuzzer does, and keep their
    // connections to the end so the final client count includes them.
    let checker = || {
        let mut c = Conn::connect(srv.port).expect("checker connection");
        let id = c.client_id().expect("checker CLIENT ID");
        run.checker_ids.lock().expect("ids").push(id);
        c
    };
    let (mut health_conn, pub_conn, sub_conn) = (checker(), checker(), checker());
    let ready = Arc::new(AtomicBool::new(false));
    let sub = {
        let (run, ready) = (Arc::clone(&run), Arc::clone(&ready));
        thread::spawn(move || subscriber(run, sub_conn, ready))
    };
    let wait_start = Instant::now();
    while !ready.load(Ordering::SeqCst) && !run.stopped() {
        assert!(
            wait_start.elapsed() < ANSWER_BOUND * 5,
            "subscriber never ready"
        );
        thread::sleep(Duration::from_millis(5));
    }
    let publ = {
        let run = Arc::clone(&run);
        thread::spawn(move || publisher(run, pub_conn))
    };
    // The health checker works on a clone of the connection the end-of-run
    // checks use.
    let health_thread = {
        let run = Arc::clone(&run);
        let conn = Conn {
            stream: health_conn.stream.try_clone().expect("clone health stream"),
            buf: Vec::new(),
        };
        thread::spawn(move || health(run, conn))
    };
    let workers: Vec<_> = (0..FUZZ_CONNECTIONS)
        .map(|i| {
            let run = Arc::clone(&run);
            let families = families.clone();
            thread::spawn(move || fuzz_worker(run, i, seed, families))
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline && !run.stopped() {
        if let Ok(Some(status)) = srv.child.try_wait() {
            run.fail(format!("the server exited: {status}"));
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let failed_early = run.stopped();
    run.stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.join();
    }
    // Held until the client count is checked.
    let joined = |name: &str, r: thread::Result<Conn>| match r {
        Ok(conn) => Some(conn),
        Err(_) => {
            run.fail(format!("the {name} thread panicked"));
            None
        }
    };
    let _pub_conn = joined("publisher", publ.join());
    run.publisher_done.store(true, Ordering::SeqCst);
    let _sub_conn = joined("subscriber", sub.join());
    if health_thread.join().is_err() {
        run.fail("the health thread panicked".into());
    }

    if let Ok(Some(status)) = srv.child.try_wait() {
        run.fail(format!("the server exited: {status}"));
    }
    // End of run: the server answers, every message arrived, and only the
    // checkers' own connections remain.
    if !failed_early {
        let published = run.published.load(Ordering::SeqCst);
        let received = run.received.load(Ordering::SeqCst);
        if received != published {
            run.fail(format!(
                "{published} messages published, {received} received in order"
            ));
        }
        match health_conn.call(&[b"PING"]) {
            Ok((Value::Simple(s), _)) if s == b"PONG" => {}
            other => run.fail(format!("PING at the end answered {other:?}")),
        }
        let checkers = run.checker_ids.lock().map(|v| v.len()).unwrap_or(0);
        let settle = Instant::now() + SETTLE;
        loop {
            let clients = match health_conn.call(&[b"INFO", b"clients"]) {
                Ok((Value::Bulk(Some(text)), _)) => {
                    info_field(&text, "connected_clients").and_then(|n| n.parse::<usize>().ok())
                }
                _ => None,
            };
            if clients == Some(checkers) {
                break;
            }
            if Instant::now() > settle {
                let list = match health_conn.call(&[b"CLIENT", b"LIST"]) {
                    Ok((Value::Bulk(Some(text)), _)) => String::from_utf8_lossy(&text).into_owned(),
                    other => format!("{other:?}"),
                };
                run.fail(format!(
                    "{clients:?} clients connected after the fuzzers left, expected the {checkers} checkers; CLIENT LIST:\n{list}"
                ));
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    let counts = run
        .family_counts
        .lock()
        .map(|c| c.clone())
        .unwrap_or_default();
    let (took, what, at) = run.slowest.lock().map(|s| s.clone()).unwrap_or_default();
    eprintln!(
        "fuzz_blackbox: {} messages published, {} received in order; slowest checker answer {} ms ({what} at {:.3}s); {} fuzz reconnects; ops per family {:?}",
        run.published.load(Ordering::SeqCst),
        run.received.load(Ordering::SeqCst),
        took.as_millis(),
        at.as_secs_f64(),
        run.reconnects.load(Ordering::Relaxed),
        counts
    );
    let failures = run.failures.lock().map(|f| f.clone()).unwrap_or_default();
    if let Some((first_at, _)) = failures.first() {
        eprintln!(
            "fuzz_blackbox: what the fuzzing connections sent in the 3 s before the first failure:"
        );
        let ops = run.ops.lock().map(|o| o.clone()).unwrap_or_default();
        let window: Vec<_> = ops
            .iter()
            .filter(|(t, _)| *t + Duration::from_secs(3) >= *first_at && t <= first_at)
            .collect();
        for (t, line) in window.iter().skip(window.len().saturating_sub(300)) {
            eprintln!("  {:>9.3}s {line}", t.as_secs_f64());
        }
        if std::env::var_os("PUBSUBD_FUZZ_GDB").is_some() {
            // Where every server thread is stuck, for a hang.
            let out = std::process::Command::new("timeout")
                .args(["60", "gdb", "-p", &srv.pid().to_string(), "-batch"])
                .args(["-ex", "thread apply all bt 30"])
                .output();
            if let Ok(out) = out {
                eprintln!("{}", String::from_utf8_lossy(&out.stdout));
            }
        }
        let log = srv.log();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        eprintln!("fuzz_blackbox: server log tail:");
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
        panic!(
            "fuzz_blackbox failed (seed {seed}): {:?}",
            failures.iter().map(|(_, w)| w).collect::<Vec<_>>()
        );
    }
}

//! Shared helpers for the integration tests: start a real server on an
//! ephemeral loopback port, and talk to it with raw bytes.
//!
//! The binary under test is `PUBSUBD_TEST_BIN` when set (so the same tests can
//! be pointed at Debian's `redis-server` to confirm the expected bytes), else
//! the `pubsubd` binary cargo built for this test run.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for a reply before failing instead of hanging.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Polls `f` every 20 ms until it returns true or `within` passes; returns
/// whether it did.
pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The server binary the tests run.
pub fn server_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("PUBSUBD_TEST_BIN") {
        return PathBuf::from(bin);
    }
    match option_env!("CARGO_BIN_EXE_pubsubd") {
        Some(p) => PathBuf::from(p),
        None => panic!("set PUBSUBD_TEST_BIN to the server binary"),
    }
}

/// True when the tests run against the reference Redis rather than pubsubd.
pub fn is_reference() -> bool {
    server_bin()
        .file_name()
        .map(|n| n.to_string_lossy().contains("redis"))
        .unwrap_or(false)
}

/// A port that was free a moment ago (the kernel picks it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind ephemeral");
    l.local_addr().expect("local addr").port()
}

/// A fresh scratch directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("pubsubd-test-{}-{}-{}", tag, std::process::id(), n));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir temp");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// Writes `text` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server process, killed when dropped.
pub struct TestServer {
    pub port: u16,
    pub child: Child,
    /// Where the server's log goes (`--logfile`), readable with `log()`.
    pub log_path: PathBuf,
    pub dir: TempDir,
}

impl TestServer {
    /// Starts a server with default settings on a free port.
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// Starts a server with extra redis-server-style arguments
    /// (e.g. `["--requirepass", "pw"]`). A config file path, if wanted, must
    /// come first, as with redis-server.
    pub fn start_with(args: &[&str]) -> TestServer {
        TestServer::start_full(None, args)
    }

    /// Starts a server that reads `conf` as its config file, plus `args`.
    pub fn start_with_config(conf: &str, args: &[&str]) -> TestServer {
        TestServer::start_full(Some(conf), args)
    }

    fn start_full(conf: Option<&str>, args: &[&str]) -> TestServer {
        for _attempt in 0..5 {
            let dir = TempDir::new("srv");
            let port = free_port();
            let log_path = dir.path().join("server.log");
            let mut cmd = Command::new(server_bin());
            if let Some(text) = conf {
                let p = dir.write("test.conf", text);
                cmd.arg(p);
            }
            cmd.arg("--port").arg(port.to_string());
            cmd.arg("--bind").arg("127.0.0.1");
            cmd.arg("--logfile").arg(&log_path);
            cmd.arg("--pidfile").arg(dir.path().join("server.pid"));
            if is_reference() {
                cmd.args(["--save", "", "--appendonly", "no"]);
                cmd.arg("--dir").arg(dir.path());
            }
            cmd.args(args);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = cmd.spawn().expect("spawn server");
            let mut srv = TestServer {
                port,
                child,
                log_path,
                dir,
            };
            if srv.wait_ready(Duration::from_secs(10)) {
                return srv;
            }
            let _ = srv.child.kill();
            let _ = srv.child.wait();
        }
        panic!("server did not start after 5 attempts");
    }

    /// Waits until this server's own pid file or log says it is ready and its port
    /// accepts connections. Checking the log (not only the port) guards
    /// against a port another test's server grabbed between `free_port` and
    /// our bind: our server then fails to start instead of us talking to the
    /// wrong one.
    fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let pidfile =
                std::fs::read_to_string(self.dir.path().join("server.pid")).unwrap_or_default();
            let log = self.log().to_lowercase();
            let ready = pidfile.trim() == self.child.id().to_string()
                || log.contains("pubsubd ready")
                || log.contains("ready to accept");
            if ready && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            // A quiet log level hides the ready line: ask the server its pid.
            if !ready && self.answers_with_own_pid() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Whether the server on our port reports our child's pid in INFO.
    fn answers_with_own_pid(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"INFO server\r\n").is_err() {
            return false;
        }
        let mut got = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n) = s.read(&mut chunk) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
            if got.windows(2).filter(|w| w == b"\r\n").count() > 3
                && info_field(&got, "process_id").is_some()
            {
                break;
            }
        }
        info_field(&got, "process_id") == Some(self.child.id().to_string())
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:<port>/` for client crates.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A new raw connection.
    pub fn raw(&self) -> Raw {
        Raw::connect(&self.addr())
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for the process to exit; returns its status code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends a signal (e.g. "TERM", "INT") to the server.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the server binary to completion with `args` (for start-up errors) and
/// returns its output. Kills it after `within` if it keeps running.
pub fn run_server_to_exit(args: &[&str], within: Duration) -> Output {
    let mut child = Command::new(server_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("wait server")
}

/// Encodes a command as a RESP multibulk request.
pub fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Encodes a command given as space-separated words (no binary data).
pub fn cmds(line: &str) -> Vec<u8> {
    let words: Vec<&[u8]> = line.split_whitespace().map(|w| w.as_bytes()).collect();
    cmd(&words)
}

/// A raw TCP connection that reads whole RESP replies as bytes.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: &str) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a command given as space-separated words and returns its reply.
    pub fn call(&mut self, line: &str) -> Vec<u8> {
        self.send(&cmds(line));
        self.reply()
    }

    /// Sends a command given as byte arguments and returns its reply.
    pub fn call_args(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&cmd(args));
        self.reply()
    }

    /// Sends a command and asserts the exact reply bytes.
    pub fn expect_call(&mut self, line: &str, expected: &[u8]) {
        let got = self.call(line);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "reply to {line:?}"
        );
    }

    /// Reads the next complete reply (RESP2 or RESP3) and returns its bytes.
    pub fn reply(&mut self) -> Vec<u8> {
        self.try_reply(READ_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "no complete reply; have {:?}",
                String::from_utf8_lossy(&self.buf)
            )
        })
    }

    /// Reads the next complete reply, or None if none arrives within `within`
    /// or the connection closes first.
    pub fn try_reply(&mut self, within: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(n) = frame_len(&self.buf, 0) {
                let rest = self.buf.split_off(n);
                return Some(std::mem::replace(&mut self.buf, rest));
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(wait)).expect("timeout");
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// Asserts the next reply is exactly `expected`.
    pub fn expect(&mut self, expected: &[u8]) {
        let got = self.reply();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected)
        );
    }

    /// Asserts no reply arrives within `within`.
    pub fn expect_nothing(&mut self, within: Duration) {
        if let Some(r) = self.try_reply(within) {
            panic!("unexpected reply {:?}", String::from_utf8_lossy(&r));
        }
    }

    /// Asserts the server closes the connection within `within` (after any
    /// replies already read). Returns the bytes received before the close.
    pub fn expect_closed(&mut self, within: Duration) -> Vec<u8> {
        let deadline = Instant::now() + within;
        let mut got = std::mem::take(&mut self.buf);
        loop {
            let now = Instant::now();
            assert!(
                now < deadline,
                "connection still open; got {:?}",
                String::from_utf8_lossy(&got)
            );
            self.stream
                .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
                .expect("timeout");
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    continue;
                }
                Err(_) => return got, // reset counts as closed
            }
        }
    }
}

/// Length of the complete RESP2/RESP3 frame at `at`, or None if incomplete.
fn frame_len(b: &[u8], at: usize) -> Option<usize> {
    let line_end = |from: usize| -> Option<usize> {
        b.get(from..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| from + i)
    };
    let t = *b.get(at)?;
    let eol = line_end(at + 1)?;
    let head = std::str::from_utf8(&b[at + 1..eol]).ok()?;
    let after = eol + 2;
    match t {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(after - at),
        b'$' | b'!' | b'=' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(after - at);
            }
            let end = after + n as usize + 2;
            if b.len() >= end { Some(end - at) } else { None }
        }
        b'*' | b'>' | b'~' | b'%' | b'|' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(after - at);
            }
            let items = if t == b'%' || t == b'|' { n * 2 } else { n };
            let mut pos = after;
            for _ in 0..items {
                pos += frame_len(b, pos)?;
            }
            if t == b'|' {
                // an attribute precedes the real reply
                pos += frame_len(b, pos)?;
            }
            Some(pos - at)
        }
        _ => Some(after - at), // inline error text etc.; one line
    }
}

/// Reads `/proc/<pid>/status` VmRSS in bytes (Linux).
pub fn rss_bytes(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let kb: u64 = rest
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0);
            return kb * 1024;
        }
    }
    0
}

/// Extracts `field:value` from an INFO reply's text.
pub fn info_field(info: &[u8], field: &str) -> Option<String> {
    let text = String::from_utf8_lossy(info);
    for line in text.lines() {
        if let Some(v) = line.strip_prefix(&format!("{field}:")) {
            return Some(v.trim_end().to_string());
        }
    }
    None
}

/// A RESP bulk string: `$<len>\r\n<bytes>\r\n`.
pub fn bulk(b: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", b.len()).into_bytes();
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
    out
}

/// A pub/sub frame of bulk strings, as the server sends it: an array
/// (`*n`) in RESP2, a push (`>n`) in RESP3.
pub fn push_frame(resp3: bool, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("{}{}\r\n", if resp3 { '>' } else { '*' }, parts.len()).into_bytes();
    for p in parts {
        out.extend(bulk(p));
    }
    out
}

/// A delivered `message` frame.
pub fn message(resp3: bool, channel: &[u8], payload: &[u8]) -> Vec<u8> {
    push_frame(resp3, &[b"message", channel, payload])
}

/// Shows bytes readably in assertion messages.
pub fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Sends a command given as byte arguments and asserts the exact reply.
pub fn expect_args(c: &mut Raw, args: &[&[u8]], expected: &[u8]) {
    let got = c.call_args(args);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected),
        "reply to {args:?}"
    );
}

/// SplitMix64: small, seedable, good enough for choosing inputs.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `items`.
    pub fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// The value of an integer reply.
pub fn int_reply(reply: &[u8]) -> i64 {
    let text = show(reply);
    assert!(
        text.starts_with(':') && text.ends_with("\r\n"),
        "not an integer: {text:?}"
    );
    text[1..text.len() - 2].parse().expect("integer")
}

/// Asserts an integer reply to `line` lies in `lo..=hi` (for TTLs).
pub fn expect_int_between(c: &mut Raw, line: &str, lo: i64, hi: i64) {
    let v = int_reply(&c.call(line));
    assert!(lo <= v && v <= hi, "{line}: {v} not in {lo}..={hi}");
}

/// The Redis release the tests that compare bytes with Redis were written
/// against.
pub const REFERENCE_REDIS_VERSION: &str = "v=7.0.15";

/// Debian's redis-server, the reference for every reply, as a child on a
/// free loopback port (never 6379), with persistence off; killed when
/// dropped.
pub struct ReferenceRedis {
    child: Child,
    pub port: u16,
    _dir: TempDir,
}

impl ReferenceRedis {
    /// Starts it and waits until it accepts connections; panics if the
    /// installed redis-server is not [`REFERENCE_REDIS_VERSION`].
    pub fn start() -> ReferenceRedis {
        let bin = Path::new("/usr/bin/redis-server");
        let version = Command::new(bin)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| {
                panic!("redis-server is needed (apt-get install redis-server; test.sh does): {e}")
            });
        let version = String::from_utf8_lossy(&version.stdout).into_owned();
        assert!(
            version.contains(REFERENCE_REDIS_VERSION),
            "the expected replies are redis-server {REFERENCE_REDIS_VERSION}'s, found {version}"
        );
        for _ in 0..5 {
            let dir = TempDir::new("ref");
            let port = free_port();
            assert_ne!(port, 6379, "never the default port");
            let child = Command::new(bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(dir.path())
                .arg("--logfile")
                .arg(dir.path().join("redis.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut r = ReferenceRedis {
                child,
                port,
                _dir: dir,
            };
            let ready = wait_until(Duration::from_secs(10), || {
                TcpStream::connect(("127.0.0.1", r.port)).is_ok()
            });
            if ready && r.child.try_wait().ok().flatten().is_none() {
                return r;
            }
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
        panic!("redis-server did not start");
    }
}

impl Drop for ReferenceRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

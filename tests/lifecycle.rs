//! Limits and lifecycle: maxclients, idle timeout, unix socket, pidfile,
//! logfile, graceful shutdown (signals and SHUTDOWN) and protected mode.
//!
//! Everything runs against redis-server 7.0.15 too, except the assertions
//! about pubsubd's graceful drain, which Redis does not do (it drops what is
//! still queued in its output buffers when it exits).

mod common;

use common::show;

use common::{
    Raw, TempDir, TestServer, cmd, cmds, free_port, run_server_to_exit, server_bin, wait_until,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Redis's exact reply to a non-loopback client in protected mode.
const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Reads from `s` until EOF or reset; returns the bytes, or None if the
/// connection is still open after `within`.
fn read_to_close(
    s: &mut impl Read,
    set_timeout: impl Fn(Duration),
    within: Duration,
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    while Instant::now() < deadline {
        set_timeout(Duration::from_millis(100));
        match s.read(&mut chunk) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(got),
        }
    }
    None
}

/// `read_to_close` for a raw TCP connection.
fn tcp_read_to_close(c: &mut Raw, within: Duration) -> Option<Vec<u8>> {
    let s2 = c.stream.try_clone().unwrap();
    read_to_close(
        &mut c.stream,
        |d| s2.set_read_timeout(Some(d)).unwrap(),
        within,
    )
}

/// A connection that has answered PING with +PONG, retrying while the
/// server may still be counting a just-closed connection.
fn connected(srv: &TestServer) -> Raw {
    for _ in 0..50 {
        let mut c = srv.raw();
        c.send(&cmds("PING"));
        if c.try_reply(Duration::from_secs(2)).as_deref() == Some(b"+PONG\r\n") {
            return c;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("could not get a working connection");
}

#[test]
fn maxclients_rejects_the_next_connection_with_redis_error() {
    let srv = TestServer::start_with(&["--maxclients", "2"]);
    let first = connected(&srv);
    let _second = connected(&srv);
    let mut third = srv.raw();
    let got =
        tcp_read_to_close(&mut third, Duration::from_secs(5)).expect("third connection left open");
    assert_eq!(show(&got), "-ERR max number of clients reached\r\n");
    // Closing one frees its slot.
    drop(first);
    let mut again = connected(&srv);
    again.expect_call("PING", b"+PONG\r\n");
}

#[test]
fn timeout_closes_idle_normal_clients_but_not_subscribers() {
    let srv = TestServer::start_with(&["--timeout", "1"]);
    let mut idle = srv.raw();
    idle.expect_call("PING", b"+PONG\r\n");
    let mut sub = srv.raw();
    sub.expect_call(
        "SUBSCRIBE ch",
        b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    );
    let mut sub3 = srv.raw();
    let hello = sub3.call("HELLO 3");
    assert_eq!(hello[0], b'%');
    sub3.expect_call(
        "PSUBSCRIBE p*",
        b">3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:1\r\n",
    );
    let since = Instant::now();
    let got = tcp_read_to_close(&mut idle, Duration::from_secs(4)).expect("idle client not closed");
    assert!(got.is_empty(), "idle client got {:?}", show(&got));
    let took = since.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "closed after {took:?}, before the timeout"
    );
    assert!(took <= Duration::from_millis(3500), "closed after {took:?}");
    // The subscribers were just as idle and are still served.
    std::thread::sleep(Duration::from_millis(1000));
    sub.expect_call("PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    sub3.expect_call("PING", b"+PONG\r\n");
    let mut p = srv.raw();
    p.expect_call("PUBLISH ch still-here", b":1\r\n");
    sub.expect(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$10\r\nstill-here\r\n");
}

#[test]
fn unix_socket_serves_commands_with_the_configured_mode() {
    let tmp = TempDir::new("unix");
    let sock = tmp.path().join("s.sock");
    let sock_arg = sock.to_string_lossy().into_owned();
    let mut srv = TestServer::start_with(&["--unixsocket", &sock_arg, "--unixsocketperm", "700"]);
    assert!(
        wait_until(Duration::from_secs(5), || sock.exists()),
        "no socket file"
    );
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "socket mode {mode:o}");

    let mut u = UnixStream::connect(&sock).expect("connect unix socket");
    u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    u.write_all(&cmds("PING")).unwrap();
    let mut buf = [0u8; 7];
    u.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
    // A unix-socket subscriber receives what a TCP client publishes.
    u.write_all(&cmds("SUBSCRIBE over-unix")).unwrap();
    let confirm = b"*3\r\n$9\r\nsubscribe\r\n$9\r\nover-unix\r\n:1\r\n";
    let mut got = vec![0u8; confirm.len()];
    u.read_exact(&mut got).unwrap();
    assert_eq!(show(&got), show(confirm));
    srv.raw().expect_call("PUBLISH over-unix hi", b":1\r\n");
    let msg = b"*3\r\n$7\r\nmessage\r\n$9\r\nover-unix\r\n$2\r\nhi\r\n";
    let mut got = vec![0u8; msg.len()];
    u.read_exact(&mut got).unwrap();
    assert_eq!(show(&got), show(msg));
    // A clean shutdown removes the socket file, as Redis does.
    srv.signal("TERM");
    assert_eq!(srv.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(!sock.exists(), "socket file left behind");
}

#[test]
fn pidfile_holds_the_pid_and_goes_away_on_shutdown() {
    let tmp = TempDir::new("pid");
    let pidfile = tmp.path().join("p.pid");
    let arg = pidfile.to_string_lossy().into_owned();
    let mut srv = TestServer::start_with(&["--pidfile", &arg]);
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&pidfile)
            .map(|s| s.ends_with('\n'))
            .unwrap_or(false)
    }));
    let text = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(text.trim(), srv.pid().to_string(), "pidfile {text:?}");
    srv.signal("TERM");
    assert_eq!(srv.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(!pidfile.exists(), "pidfile left behind");
}

#[test]
fn logfile_records_version_and_port_at_startup() {
    let srv = TestServer::start();
    let port = srv.port.to_string();
    let ok = wait_until(Duration::from_secs(5), || {
        let log = srv.log();
        log.to_lowercase().contains("version") && log.contains(&port)
    });
    assert!(ok, "log lacks version or port {port}:\n{}", srv.log());
}

#[test]
fn log_has_the_lines_tools_watching_redis_wait_for() {
    // Redis's own test harness waits for ` PID: N` (Redis writes it in its
    // logo) and then `Ready to accept connections`; container tools wait
    // for the latter.
    let srv = TestServer::start_with(&["--always-show-logo", "yes"]);
    let pid_line = format!(" PID: {}", srv.pid());
    let ok = wait_until(Duration::from_secs(5), || {
        srv.log().contains("Ready to accept connections")
    });
    let log = srv.log();
    assert!(ok, "no ready line:\n{log}");
    let pid_at = log.find(&pid_line);
    let ready_at = log.find("Ready to accept connections");
    assert!(pid_at.is_some(), "no '{pid_line}':\n{log}");
    assert!(
        pid_at < ready_at,
        "the pid comes after the ready line:\n{log}"
    );
    assert_eq!(
        log.matches("Ready to accept connections").count(),
        1,
        "{log}"
    );
}

#[test]
fn dir_is_entered_at_startup_and_relative_paths_resolve_from_it() {
    let tmp = TempDir::new("dir");
    let sub = tmp.path().join("work");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("users.acl"), "user alice on nopass ~* +@all\n").unwrap();
    let dir = sub.to_string_lossy().into_owned();
    // The server starts in the test's directory; the relative aclfile is
    // found only under `dir`.
    let srv = TestServer::start_with(&["--dir", &dir, "--aclfile", "users.acl"]);
    let mut c = srv.raw();
    let users = show(&c.call("ACL USERS"));
    assert!(users.contains("alice"), "{users}");
    let canonical = std::fs::canonicalize(&sub).unwrap();
    let canonical = canonical.to_string_lossy();
    c.expect_call(
        "CONFIG GET dir",
        format!("*2\r\n$3\r\ndir\r\n${}\r\n{canonical}\r\n", canonical.len()).as_bytes(),
    );
    // ACL SAVE writes where ACL LOAD read, under `dir`.
    c.expect_call("ACL SETUSER bob on nopass", b"+OK\r\n");
    c.expect_call("ACL SAVE", b"+OK\r\n");
    let saved = std::fs::read_to_string(sub.join("users.acl")).unwrap();
    assert!(saved.contains("user bob "), "{saved}");
    assert!(!Path::new("users.acl").exists(), "written outside dir");

    // A missing directory stops start-up with the system's error text.
    let out = run_server_to_exit(
        &["--port", "0", "--dir", "/nonexistent-pubsubd-dir"],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains("No such file or directory")
            || stdout.contains("No such file or directory"),
        "{stderr}{stdout}"
    );
}

/// Publishes `n` numbered 1 KB messages to `channel` and checks each count.
fn publish_numbered(p: &mut Raw, channel: &str, n: usize, receivers: i64) {
    for start in (0..n).step_by(250) {
        let end = (start + 250).min(n);
        let mut out = Vec::new();
        for i in start..end {
            out.extend(cmd(&[b"PUBLISH", channel.as_bytes(), &numbered(i)]));
        }
        p.send(&out);
        for _ in start..end {
            assert_eq!(show(&p.reply()), format!(":{receivers}\r\n"));
        }
    }
}

/// Message `i`'s 1 KB payload.
fn numbered(i: usize) -> Vec<u8> {
    let mut v = format!("{i:06}|").into_bytes();
    v.resize(1024, b'.');
    v
}

/// The bytes `n` numbered messages on `channel` arrive as, in order.
fn expected_stream(channel: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend(
            format!(
                "*3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n$1024\r\n",
                channel.len()
            )
            .into_bytes(),
        );
        out.extend(numbered(i));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// True if a new TCP connection to `addr` is refused, reset or closed
/// without answering PING.
fn refuses_service(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return true;
    };
    if s.write_all(&cmds("PING")).is_err() {
        return true;
    }
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) | Err(_) => true,
        Ok(n) => !buf[..n].starts_with(b"+PONG"),
    }
}

/// After a graceful shutdown began: the subscriber `sub` (which has not read
/// yet) is closed, the server exits 0, and — for pubsubd, which flushes on
/// shutdown — `sub` received all `n` numbered messages on `channel`, intact
/// and in order.
fn assert_drained_and_exited(srv: &mut TestServer, sub: &mut Raw, channel: &str, n: usize) {
    let got = tcp_read_to_close(sub, Duration::from_secs(10)).expect("subscriber never closed");
    assert_eq!(
        srv.wait_exit(Duration::from_secs(10)),
        Some(0),
        "exit status"
    );
    if common::is_reference() {
        // Redis exits without flushing what its output buffers still hold.
        return;
    }
    let want = expected_stream(channel, n);
    assert_eq!(
        got.len(),
        want.len(),
        "subscriber got {} of {} bytes",
        got.len(),
        want.len()
    );
    assert!(
        got == want,
        "queued messages arrived altered or out of order"
    );
}

#[test]
fn sigterm_stops_accepting_drains_queued_messages_and_exits_zero() {
    const N: usize = 6000;
    let mut srv = TestServer::start();
    let addr = srv.addr();
    let mut sub = srv.raw();
    sub.expect_call(
        "SUBSCRIBE drain",
        b"*3\r\n$9\r\nsubscribe\r\n$5\r\ndrain\r\n:1\r\n",
    );
    // The subscriber does not read yet, so ~6 MB queue up in the kernel
    // and in the server's output buffer for it.
    let mut p = srv.raw();
    publish_numbered(&mut p, "drain", N, 1);
    srv.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        refuses_service(&addr),
        "a new client was served during shutdown"
    );
    assert_drained_and_exited(&mut srv, &mut sub, "drain", N);
}

#[test]
fn shutdown_nosave_needs_auth_then_drains_and_exits_zero() {
    const N: usize = 6000;
    let mut srv = TestServer::start_with(&["--requirepass", "pw"]);
    let mut anon = srv.raw();
    anon.expect_call("SHUTDOWN NOSAVE", b"-NOAUTH Authentication required.\r\n");
    let mut sub = srv.raw();
    sub.expect_call("AUTH pw", b"+OK\r\n");
    sub.expect_call(
        "SUBSCRIBE bye",
        b"*3\r\n$9\r\nsubscribe\r\n$3\r\nbye\r\n:1\r\n",
    );
    let mut admin = srv.raw();
    admin.expect_call("AUTH pw", b"+OK\r\n");
    publish_numbered(&mut admin, "bye", N, 1);
    admin.send(&cmds("SHUTDOWN NOSAVE"));
    // A successful SHUTDOWN has no reply: the connection just closes.
    let reply =
        tcp_read_to_close(&mut admin, Duration::from_secs(10)).expect("admin connection left open");
    assert_eq!(show(&reply), "");
    assert_drained_and_exited(&mut srv, &mut sub, "bye", N);
}

#[test]
fn second_signal_during_shutdown_exits_at_once() {
    // Redis 7.0 has no drain phase: it exits within ~100 ms of the first
    // SIGTERM, so there is no shutdown in progress for a second signal to cut.
    if common::is_reference() {
        return;
    }
    for second in ["TERM", "INT"] {
        let mut srv = TestServer::start();
        // A subscriber that never reads keeps a graceful drain waiting.
        let mut stuck = srv.raw();
        stuck.expect_call(
            "SUBSCRIBE stuck",
            b"*3\r\n$9\r\nsubscribe\r\n$5\r\nstuck\r\n:1\r\n",
        );
        let mut p = srv.raw();
        publish_numbered(&mut p, "stuck", 12_000, 1);
        srv.signal("TERM");
        std::thread::sleep(Duration::from_millis(300));
        // ~12 MB wait for a client that never reads, below its 32 MB hard
        // limit: the graceful drain waits for it (up to 10 s), so the
        // server must still be running here.
        assert!(
            srv.wait_exit(Duration::from_millis(1)).is_none(),
            "shutdown did not wait for queued output"
        );
        let sent = Instant::now();
        srv.signal(second);
        assert!(
            srv.wait_exit(Duration::from_millis(1500)).is_some(),
            "still running 1.5 s after a second SIG{second}"
        );
        assert!(sent.elapsed() < Duration::from_millis(1500));
        drop(stuck);
    }
}

/// A pair of network namespaces joined by a veth link, removed on drop:
/// the server side holds 10.200.X.1, the client side 10.200.X.2 (/30).
/// These addresses exist only inside the two namespaces.
struct NetnsPair {
    server_ns: String,
    client_ns: String,
    server_ip: String,
}

impl NetnsPair {
    /// Creates the namespaces, or returns Err with the reason `ip netns add`
    /// was refused.
    fn create() -> Result<NetnsPair, String> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let pid = std::process::id();
        let tag = format!("{}{}", pid % 100_000, n);
        let subnet = format!("10.200.{}", (pid as usize + n) % 250);
        let pair = NetnsPair {
            server_ns: format!("pssrv{pid}-{n}"),
            client_ns: format!("pscli{pid}-{n}"),
            server_ip: format!("{subnet}.1"),
        };
        let client_ip = format!("{subnet}.2");
        let out = Command::new("ip")
            .args(["netns", "add", &pair.server_ns])
            .output()
            .unwrap_or_else(|e| panic!("cannot run `ip` ({e}); install iproute2"));
        if !out.status.success() {
            return Err(show(&out.stderr));
        }
        let (vs, vc) = (format!("pvs{tag}"), format!("pvc{tag}"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &pair.client_ns],
            vec!["link", "add", &vs, "type", "veth", "peer", "name", &vc],
            vec!["link", "set", &vs, "netns", &pair.server_ns],
            vec!["link", "set", &vc, "netns", &pair.client_ns],
        ];
        for s in &steps {
            run_ip(s);
        }
        let srv_cidr = format!("{}/30", pair.server_ip);
        let cli_cidr = format!("{client_ip}/30");
        run_ip(&["-n", &pair.server_ns, "addr", "add", &srv_cidr, "dev", &vs]);
        run_ip(&["-n", &pair.client_ns, "addr", "add", &cli_cidr, "dev", &vc]);
        for (ns, dev) in [(&pair.server_ns, &vs), (&pair.client_ns, &vc)] {
            run_ip(&["-n", ns, "link", "set", dev, "up"]);
            run_ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        Ok(pair)
    }

    /// Runs bash inside the client namespace: connects to the server's veth
    /// address, sends `request`, and returns everything read until the server
    /// closes or 3 s pass.
    fn client_exchange(&self, port: u16, request: &[u8]) -> Vec<u8> {
        let script = format!(
            "exec 3<>/dev/tcp/{}/{port} || exit 7; cat >&3; timeout 3 cat <&3; exit 0",
            self.server_ip
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.client_ns, "bash", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ip netns exec");
        child.stdin.take().unwrap().write_all(request).unwrap();
        let out = wait_output(child, Duration::from_secs(8));
        assert!(
            out.status.success(),
            "client in {} could not connect",
            self.client_ns
        );
        out.stdout
    }

    /// True once the server accepts TCP connections on its veth address.
    fn port_open(&self, port: u16) -> bool {
        let script = format!("exec 3<>/dev/tcp/{}/{port}", self.server_ip);
        Command::new("ip")
            .args(["netns", "exec", &self.client_ns, "bash", "-c", &script])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace also deletes the veth end inside it.
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `ip <args>` and panics if it fails.
fn run_ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        show(&out.stderr)
    );
}

/// Waits for `child` to exit within `within` (killing it otherwise) and
/// returns its output.
fn wait_output(mut child: Child, within: Duration) -> std::process::Output {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().expect("wait child")
}

/// A server running inside a namespace, killed on drop (before the
/// namespaces go away: fields drop in order).
struct NsServer {
    child: Child,
    _dir: TempDir,
}

impl Drop for NsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server inside `pair`'s server namespace, bound to the veth
/// address only, with protected mode on and `extra` arguments.
fn start_in_netns(pair: &NetnsPair, port: u16, extra: &[&str]) -> NsServer {
    let dir = TempDir::new("netns");
    let log = dir.path().join("server.log");
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &pair.server_ns]).arg(server_bin());
    c.args([
        "--port",
        &port.to_string(),
        "--bind",
        &pair.server_ip,
        "--protected-mode",
        "yes",
    ]);
    c.arg("--logfile").arg(&log);
    if common::is_reference() {
        c.args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path());
    }
    c.args(extra);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut srv = NsServer {
        child: c.spawn().expect("spawn server in netns"),
        _dir: dir,
    };
    let up = wait_until(Duration::from_secs(10), || {
        assert!(
            srv.child.try_wait().unwrap().is_none(),
            "server in netns exited"
        );
        pair.port_open(port)
    });
    assert!(up, "server in netns never listened");
    srv
}

#[test]
fn protected_mode_denies_non_loopback_clients_without_a_password() {
    let pair = match NetnsPair::create() {
        Ok(p) => p,
        Err(why) => {
            println!("SKIPPED: `ip netns add` was refused: {why}");
            return;
        }
    };
    let port = free_port();
    {
        let _srv = start_in_netns(&pair, port, &[]);
        let got = pair.client_exchange(port, &cmds("PING"));
        assert_eq!(show(&got), DENIED);
    }
    // With a password the same client is let in and asked to authenticate.
    let _srv = start_in_netns(&pair, port, &["--requirepass", "pw"]);
    let mut req = cmds("PING");
    req.extend(cmds("AUTH pw"));
    req.extend(cmds("PING"));
    req.extend(cmds("QUIT"));
    let got = pair.client_exchange(port, &req);
    assert_eq!(
        show(&got),
        "-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n+OK\r\n"
    );
}

#[test]
fn protected_mode_never_denies_loopback_clients() {
    let srv = TestServer::start_with(&["--protected-mode", "yes"]);
    let mut c = srv.raw();
    c.expect_call("PING", b"+PONG\r\n");
    c.expect_call("PUBLISH x y", b":0\r\n");
}

//! TLS: the `tls-*` directives against real clients (rustls in-process and
//! Debian's redis-cli). Certificates are made by each test with the openssl
//! command line; no key is committed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Runs openssl with `args` in `dir`, failing the test on error.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority made for one test.
struct Ca {
    dir: PathBuf,
    name: String,
}

impl Ca {
    /// A new self-signed CA `name` (files `<name>.crt`, `<name>.key`).
    fn new(dir: &Path, name: &str) -> Ca {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
        Ca {
            dir: dir.to_path_buf(),
            name: name.to_string(),
        }
    }

    fn cert(&self) -> PathBuf {
        self.dir.join(format!("{}.crt", self.name))
    }

    /// A leaf certificate `name` signed by this CA, for a server
    /// (127.0.0.1 / localhost) or a client; returns (cert, key).
    fn issue(&self, name: &str, server: bool) -> (PathBuf, PathBuf) {
        let ext = if server {
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        } else {
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
        };
        std::fs::write(self.dir.join(format!("{name}.ext")), ext).expect("write ext");
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{}.crt", self.name),
                "-CAkey",
                &format!("{}.key", self.name),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
        (
            self.dir.join(format!("{name}.crt")),
            self.dir.join(format!("{name}.key")),
        )
    }
}

/// A client configuration trusting `ca`, presenting `identity` if given.
fn client_config(ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("ca") {
        roots.add(cert.expect("ca cert")).expect("add ca");
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let certs: Vec<_> = CertificateDer::pem_file_iter(cert)
                .expect("cert")
                .map(|c| c.expect("cert"))
                .collect();
            let key = PrivateKeyDer::from_pem_file(key).expect("key");
            builder
                .with_client_auth_cert(certs, key)
                .expect("client cert")
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// Connects to `port` over TLS (handshake on first use).
fn connect(port: u16, config: &Arc<ClientConfig>) -> Tls {
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let conn = ClientConnection::new(Arc::clone(config), name).expect("client connection");
    StreamOwned::new(conn, tcp)
}

/// Reads exactly `n` bytes, or returns what went wrong.
fn read_n(s: &mut Tls, n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Sends PING over a new TLS connection; Ok(reply) or the error.
fn ping(port: u16, config: &Arc<ClientConfig>) -> Result<Vec<u8>, String> {
    let mut s = connect(port, config);
    s.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
    s.flush().map_err(|e| e.to_string())?;
    read_n(&mut s, 7)
}

/// Arguments for a server with TLS on `tls_port`.
fn tls_args(tls_port: u16, cert: &(PathBuf, PathBuf), ca: &Path, auth: &str) -> Vec<String> {
    vec![
        "--tls-port".into(),
        tls_port.to_string(),
        "--tls-cert-file".into(),
        cert.0.display().to_string(),
        "--tls-key-file".into(),
        cert.1.display().to_string(),
        "--tls-ca-cert-file".into(),
        ca.display().to_string(),
        "--tls-auth-clients".into(),
        auth.into(),
    ]
}

/// Asserts INFO field `field` reaches `value` soon (the server counts a
/// failed handshake just after the client sees it fail).
fn assert_counter(srv: &TestServer, field: &str, value: &str) {
    let mut last = None;
    let reached = wait_until(Duration::from_secs(5), || {
        last = info_field(&srv.raw().call("INFO stats"), field);
        last.as_deref() == Some(value)
    });
    assert!(reached, "{field} is {last:?}, expected {value}");
}

fn start(args: &[String]) -> TestServer {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::start_with(&args)
}

#[test]
fn tls_client_runs_commands_and_receives_messages_in_order() {
    let dir = TempDir::new("tls-basic");
    let ca = Ca::new(dir.path(), "ca");
    let cert = ca.issue("server", true);
    let tls_port = free_port();
    let socket = dir.path().join("pubsubd.sock");
    let mut args = tls_args(tls_port, &cert, &ca.cert(), "no");
    args.extend(["--unixsocket".to_string(), socket.display().to_string()]);
    let srv = start(&args);
    let config = client_config(&ca.cert(), None);
    assert_eq!(ping(tls_port, &config).unwrap(), b"+PONG\r\n");

    // A subscriber over TLS gets every message a plain publisher sends, in
    // order, including a burst larger than one TLS record.
    let mut sub = connect(tls_port, &config);
    sub.write_all(&cmds("SUBSCRIBE ch")).unwrap();
    let confirm = b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n";
    assert_eq!(read_n(&mut sub, confirm.len()).unwrap(), confirm);
    let mut publisher = srv.raw();
    let count = 2000;
    let mut pipeline = Vec::new();
    let mut expected = Vec::new();
    for i in 0..count {
        let payload = format!("message-{i:05}-{}", "x".repeat(40));
        pipeline.extend_from_slice(&cmd(&[b"PUBLISH", b"ch", payload.as_bytes()]));
        expected.extend_from_slice(&message(false, b"ch", payload.as_bytes()));
    }
    publisher.send(&pipeline);
    for _ in 0..count {
        publisher.expect(b":1\r\n");
    }
    let got = read_n(&mut sub, expected.len()).unwrap();
    assert!(got == expected, "messages over TLS differ");

    // The plain port and the Unix socket keep working beside TLS.
    srv.raw().expect_call("PING", b"+PONG\r\n");
    let mut unix = std::os::unix::net::UnixStream::connect(&socket).expect("unix socket");
    unix.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    unix.write_all(b"PING\r\n").unwrap();
    let mut pong = [0u8; 7];
    unix.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
    let info = srv.raw().call("INFO stats");
    assert_eq!(
        info_field(&info, "tls_handshake_failures").as_deref(),
        Some("0")
    );
}

#[test]
fn plain_text_on_the_tls_port_is_closed_counted_and_disturbs_nobody() {
    let dir = TempDir::new("tls-plain");
    let ca = Ca::new(dir.path(), "ca");
    let cert = ca.issue("server", true);
    let tls_port = free_port();
    let srv = start(&tls_args(tls_port, &cert, &ca.cert(), "no"));
    let config = client_config(&ca.cert(), None);
    let mut good = connect(tls_port, &config);
    good.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_n(&mut good, 7).unwrap(), b"+PONG\r\n");

    let mut plain = Raw::connect(&format!("127.0.0.1:{tls_port}"));
    plain.send(b"*1\r\n$4\r\nPING\r\n");
    let got = plain.expect_closed(Duration::from_secs(5));
    assert!(!got.windows(4).any(|w| w == b"PONG"), "{}", show(&got));

    good.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_n(&mut good, 7).unwrap(), b"+PONG\r\n");
    assert_counter(&srv, "tls_handshake_failures", "1");
    assert!(
        wait_until(Duration::from_secs(5), || srv
            .log()
            .contains("TLS handshake with 127.0.0.1")),
        "{}",
        srv.log()
    );
}

#[test]
fn client_certificates_required_optional_and_from_the_wrong_ca() {
    let dir = TempDir::new("tls-auth");
    let ca = Ca::new(dir.path(), "ca");
    let other = Ca::new(dir.path(), "other");
    let cert = ca.issue("server", true);
    let good_id = ca.issue("client", false);
    let bad_id = other.issue("intruder", false);
    let with_good = client_config(&ca.cert(), Some(&good_id));
    let with_bad = client_config(&ca.cert(), Some(&bad_id));
    let without = client_config(&ca.cert(), None);

    let tls_port = free_port();
    let srv = start(&tls_args(tls_port, &cert, &ca.cert(), "yes"));
    assert_eq!(ping(tls_port, &with_good).unwrap(), b"+PONG\r\n");
    assert!(ping(tls_port, &with_bad).is_err());
    assert!(ping(tls_port, &without).is_err());
    assert_counter(&srv, "tls_handshake_failures", "2");
    drop(srv);

    let tls_port = free_port();
    let _srv = start(&tls_args(tls_port, &cert, &ca.cert(), "optional"));
    assert_eq!(ping(tls_port, &with_good).unwrap(), b"+PONG\r\n");
    assert_eq!(ping(tls_port, &without).unwrap(), b"+PONG\r\n");
    assert!(ping(tls_port, &with_bad).is_err());
}

#[test]
fn config_set_tls_cert_file_reloads_for_new_connections() {
    let dir = TempDir::new("tls-reload");
    let ca1 = Ca::new(dir.path(), "ca1");
    let ca2 = Ca::new(dir.path(), "ca2");
    let first = ca1.issue("server1", true);
    let second = ca2.issue("server2", true);
    let tls_port = free_port();
    let srv = start(&tls_args(tls_port, &first, &ca1.cert(), "no"));
    let trusts1 = client_config(&ca1.cert(), None);
    let trusts2 = client_config(&ca2.cert(), None);
    assert_eq!(ping(tls_port, &trusts1).unwrap(), b"+PONG\r\n");
    assert!(ping(tls_port, &trusts2).is_err());
    let mut old = connect(tls_port, &trusts1);
    old.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_n(&mut old, 7).unwrap(), b"+PONG\r\n");

    let mut admin = srv.raw();
    admin.expect_call(
        "CONFIG SET tls-cert-file /nonexistent/cert.pem",
        b"-ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs.\r\n",
    );
    assert_eq!(
        admin.call("CONFIG GET tls-cert-file"),
        [
            b"*2\r\n$13\r\ntls-cert-file\r\n".as_slice(),
            &bulk(first.0.display().to_string().as_bytes())
        ]
        .concat()
    );
    admin.expect_call(
        &format!(
            "CONFIG SET tls-cert-file {} tls-key-file {}",
            second.0.display(),
            second.1.display()
        ),
        b"+OK\r\n",
    );
    assert_eq!(ping(tls_port, &trusts2).unwrap(), b"+PONG\r\n");
    assert!(ping(tls_port, &trusts1).is_err());
    // An established connection keeps its session.
    old.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_n(&mut old, 7).unwrap(), b"+PONG\r\n");
}

/// CONFIG SET `tls-port` and `port` open, move and close the listeners
/// while the server runs, as in Redis 7.0: connected clients stay, and a
/// port that cannot be bound or a TLS configuration that does not load
/// changes nothing, with Redis's errors.
#[test]
fn config_set_tls_port_and_port_open_move_and_close_listeners() {
    let dir = TempDir::new("tls-ports");
    let ca = Ca::new(dir.path(), "ca");
    let cert = ca.issue("server", true);
    let config = client_config(&ca.cert(), None);
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let failed = |name: &str, why: &str| {
        format!("-ERR CONFIG SET failed (possibly related to argument '{name}') - {why}\r\n")
            .into_bytes()
    };
    let cannot_listen = "Unable to listen on this port. Check server logs.";
    let get = |name: &str, value: u16| {
        [
            b"*2\r\n".as_slice(),
            &bulk(name.as_bytes()),
            &bulk(value.to_string().as_bytes()),
        ]
        .concat()
    };
    let closed = |port: u16| {
        wait_until(Duration::from_secs(5), || {
            TcpStream::connect(("127.0.0.1", port)).is_err()
        })
    };

    // No certificate yet: the TLS port stays closed.
    let first = free_port();
    admin.expect_call(
        &format!("CONFIG SET tls-port {first}"),
        &failed(
            "tls-port",
            "Unable to update TLS configuration. Check server logs.",
        ),
    );
    admin.expect_call("CONFIG GET tls-port", &get("tls-port", 0));
    assert!(TcpStream::connect(("127.0.0.1", first)).is_err());
    admin.expect_call(
        &format!(
            "CONFIG SET tls-cert-file {} tls-key-file {} tls-ca-cert-file {} tls-auth-clients no",
            cert.0.display(),
            cert.1.display(),
            ca.cert().display()
        ),
        b"+OK\r\n",
    );
    admin.expect_call(&format!("CONFIG SET tls-port {first}"), b"+OK\r\n");
    admin.expect_call("CONFIG GET tls-port", &get("tls-port", first));
    assert_eq!(ping(first, &config).unwrap(), b"+PONG\r\n");

    // A port in use (the plain port) changes nothing.
    admin.expect_call(
        &format!("CONFIG SET tls-port {}", srv.port),
        &failed("tls-port", cannot_listen),
    );
    admin.expect_call("CONFIG GET tls-port", &get("tls-port", first));
    assert_eq!(ping(first, &config).unwrap(), b"+PONG\r\n");

    // Moved: the old port closes, an established TLS client stays.
    let mut established = connect(first, &config);
    established.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_n(&mut established, 7).unwrap(), b"+PONG\r\n");
    let second = free_port();
    admin.expect_call(&format!("CONFIG SET tls-port {second}"), b"+OK\r\n");
    assert_eq!(ping(second, &config).unwrap(), b"+PONG\r\n");
    assert!(closed(first), "the old TLS port still accepts");
    established.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_n(&mut established, 7).unwrap(), b"+PONG\r\n");

    // 0 closes it; opened again, it serves the configuration it had.
    admin.expect_call("CONFIG SET tls-port 0", b"+OK\r\n");
    assert!(closed(second), "tls-port 0 left the TLS port open");
    admin.expect_call(&format!("CONFIG SET tls-port {second}"), b"+OK\r\n");
    assert_eq!(ping(second, &config).unwrap(), b"+PONG\r\n");

    // The plain port the same way; the admin connection stays throughout.
    let plain = free_port();
    admin.expect_call(&format!("CONFIG SET port {plain}"), b"+OK\r\n");
    Raw::connect(&format!("127.0.0.1:{plain}")).expect_call("PING", b"+PONG\r\n");
    assert!(closed(srv.port), "the old port still accepts");
    let info = admin.call("INFO server");
    assert_eq!(info_field(&info, "tcp_port"), Some(plain.to_string()));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("addr").port();
    admin.expect_call(
        &format!("CONFIG SET port {taken_port}"),
        &failed("port", cannot_listen),
    );
    admin.expect_call("CONFIG GET port", &get("port", plain));
    Raw::connect(&format!("127.0.0.1:{plain}")).expect_call("PING", b"+PONG\r\n");
    // Both at once, one failing: neither changes.
    admin.expect_call(
        &format!("CONFIG SET port {} tls-port {taken_port}", free_port()),
        &failed("tls-port", cannot_listen),
    );
    admin.expect_call("CONFIG GET port", &get("port", plain));
    Raw::connect(&format!("127.0.0.1:{plain}")).expect_call("PING", b"+PONG\r\n");
    assert_eq!(ping(second, &config).unwrap(), b"+PONG\r\n");
    admin.expect_call("CONFIG SET port 0", b"+OK\r\n");
    assert!(closed(plain), "port 0 left the TCP port open");
    admin.expect_call("PING", b"+PONG\r\n");
    assert_eq!(ping(second, &config).unwrap(), b"+PONG\r\n");
}

#[test]
fn a_stalled_handshake_blocks_nobody_and_times_out() {
    let dir = TempDir::new("tls-stall");
    let ca = Ca::new(dir.path(), "ca");
    let cert = ca.issue("server", true);
    let tls_port = free_port();
    let srv = start(&tls_args(tls_port, &cert, &ca.cert(), "no"));
    let config = client_config(&ca.cert(), None);

    // Half a TLS record header: the server waits for the rest.
    let mut stalled = Raw::connect(&format!("127.0.0.1:{tls_port}"));
    stalled.send(&[0x16, 0x03, 0x01]);
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(ping(tls_port, &config).unwrap(), b"+PONG\r\n");
        srv.raw().expect_call("PING", b"+PONG\r\n");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // TLS_HANDSHAKE_TIMEOUT is 10 s.
    stalled.expect_closed(Duration::from_secs(15));
    assert_counter(&srv, "tls_handshake_timeouts", "1");
}

#[test]
fn redis_cli_over_tls_on_a_tls_only_server() {
    let dir = TempDir::new("tls-cli");
    let ca = Ca::new(dir.path(), "ca");
    let cert = ca.issue("server", true);
    let tls_port = free_port();
    let log = dir.path().join("server.log");
    let mut args = tls_args(tls_port, &cert, &ca.cert(), "no");
    args.extend(["--port", "0", "--bind", "127.0.0.1", "--logfile"].map(String::from));
    args.push(log.display().to_string());
    let mut child = Command::new(server_bin())
        .args(&args)
        .spawn()
        .expect("spawn server");
    let cli = |extra: &[&str]| {
        let mut c = Command::new("redis-cli");
        c.args(["--tls", "--cacert"])
            .arg(ca.cert())
            .args(["-h", "127.0.0.1", "-p", &tls_port.to_string()])
            .args(extra);
        c.output().expect("run redis-cli")
    };
    let up = wait_until(Duration::from_secs(10), || {
        String::from_utf8_lossy(&cli(&["PING"]).stdout).trim() == "PONG"
    });
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "{log_text}");
    assert!(log_text.contains("tls:127.0.0.1:"), "{log_text}");
    // No plain listener at all.
    assert!(!log_text.contains("listening on 127.0.0.1"), "{log_text}");
}

#[test]
fn what_rustls_cannot_do_stops_start_up_naming_the_directive() {
    let dir = TempDir::new("tls-refuse");
    let ca = Ca::new(dir.path(), "ca");
    let cert = ca.issue("server", true);
    let cases: &[(&[&str], &str)] = &[
        (&["--tls-key-file-pass", "secret"], "tls-key-file-pass"),
        (
            &["--tls-protocols", "TLSv1.1 TLSv1.2"],
            "tls-protocols: TLSv1.1",
        ),
        (
            &["--tls-protocols", "SSLv3"],
            "Invalid tls-protocols specified",
        ),
        (&["--tls-ciphers", "HIGH:!aNULL"], "tls-ciphers: 'HIGH'"),
        (
            &["--tls-ciphersuites", "TLS_AES_128_CCM_SHA256"],
            "tls-ciphersuites",
        ),
        (
            &["--tls-auth-clients", "yes", "--tls-ca-cert-file", ""],
            "tls-auth-clients",
        ),
    ];
    for (extra, wanted) in cases {
        let mut args = tls_args(free_port(), &cert, &ca.cert(), "no");
        args.extend(["--port", "0", "--bind", "127.0.0.1"].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_server_to_exit(&args, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stderr.contains(wanted), "{extra:?}: {stderr}");
    }
    // Accepted as Redis accepts them.
    let tls_port = free_port();
    let mut args = tls_args(tls_port, &cert, &ca.cert(), "no");
    args.extend(
        [
            "--tls-protocols",
            "TLSv1.2",
            "--tls-ciphers",
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305",
            "--tls-prefer-server-ciphers",
            "yes",
        ]
        .map(String::from),
    );
    let _srv = start(&args);
    let config = client_config(&ca.cert(), None);
    assert_eq!(ping(tls_port, &config).unwrap(), b"+PONG\r\n");
}

#[test]
fn a_tls_client_over_maxclients_gets_the_error_over_tls() {
    let dir = TempDir::new("tls-max");
    let ca = Ca::new(dir.path(), "ca");
    let cert = ca.issue("server", true);
    let tls_port = free_port();
    let mut args = tls_args(tls_port, &cert, &ca.cert(), "no");
    args.extend(["--maxclients", "1"].map(String::from));
    let srv = start(&args);
    // The start-up check's own connection may still count for a moment.
    let mut only = None;
    assert!(wait_until(Duration::from_secs(5), || {
        let mut c = srv.raw();
        let ok = c.call("PING") == b"+PONG\r\n";
        only = ok.then_some(c);
        ok
    }));
    let mut only = only.expect("a client");
    let config = client_config(&ca.cert(), None);
    let mut s = connect(tls_port, &config);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert_eq!(show(&got), "-ERR max number of clients reached\r\n");
    only.expect_call("PING", b"+PONG\r\n");
}

/// Forwards one connection from a local port to `target`, counting the TLS
/// records the server sends. Returns the port and the record counter.
fn record_counting_proxy(target: u16) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let port = listener.local_addr().expect("addr").port();
    let records = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&records);
    std::thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else {
            return;
        };
        let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
            return;
        };
        let (mut c_in, mut s_out) = (
            client.try_clone().expect("clone"),
            server.try_clone().expect("clone"),
        );
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut c_in, &mut s_out);
        });
        let (mut s_in, mut c_out) = (server, client);
        // Walks the record headers (type, version, 2-byte length) in the
        // server's byte stream.
        let mut to_skip = 0usize;
        let mut header = Vec::new();
        let mut chunk = [0u8; 65536];
        while let Ok(n) = s_in.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let mut rest = &chunk[..n];
            while !rest.is_empty() {
                if to_skip > 0 {
                    let k = to_skip.min(rest.len());
                    to_skip -= k;
                    rest = &rest[k..];
                    continue;
                }
                let k = (5 - header.len()).min(rest.len());
                header.extend_from_slice(&rest[..k]);
                rest = &rest[k..];
                if header.len() == 5 {
                    to_skip = usize::from(u16::from_be_bytes([header[3], header[4]]));
                    header.clear();
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }
            if c_out.write_all(&chunk[..n]).is_err() {
                break;
            }
        }
    });
    (port, records)
}

#[test]
fn a_burst_of_messages_leaves_in_a_few_tls_records_not_one_each() {
    use std::sync::atomic::Ordering;
    let dir = TempDir::new("tls-batch");
    let ca = Ca::new(dir.path(), "ca");
    let cert = ca.issue("server", true);
    let tls_port = free_port();
    let srv = start(&tls_args(tls_port, &cert, &ca.cert(), "no"));
    let (proxy_port, records) = record_counting_proxy(tls_port);
    let mut sub = connect(proxy_port, &client_config(&ca.cert(), None));
    sub.write_all(&cmds("SUBSCRIBE a b")).unwrap();
    let confirm =
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n";
    assert_eq!(read_n(&mut sub, confirm.len()).unwrap(), confirm);
    let before = records.load(Ordering::SeqCst);

    let count = 200;
    let mut pipeline = Vec::new();
    let mut expected = Vec::new();
    for i in 0..count {
        // Larger than the frames copied into one buffer (COPY_MAX_BYTES),
        // and alternating channels (no run of one channel's messages), so
        // each message is a frame of its own in the outbox.
        let payload = format!("m{i:04}-{}", "z".repeat(600));
        let channel: &[u8] = if i % 2 == 0 { b"a" } else { b"b" };
        pipeline.extend_from_slice(&cmd(&[b"PUBLISH", channel, payload.as_bytes()]));
        expected.extend_from_slice(&message(false, channel, payload.as_bytes()));
    }
    let mut publisher = srv.raw();
    publisher.send(&pipeline);
    assert_eq!(read_n(&mut sub, expected.len()).unwrap(), expected);
    let used = records.load(Ordering::SeqCst) - before;
    // One record per message would be 200; batches of frames fill records
    // of 16 KiB (about 26 of these messages each), so 8 at best.
    assert!(used <= 40, "{count} messages took {used} TLS records");
}

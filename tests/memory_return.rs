//! Memory the server takes for clients and data goes back: an
//! unauthenticated client that floods the server without reading is cut
//! off at a small bound (as Redis 7), and memory freed by FLUSHALL or by
//! departed clients is returned to the kernel.
//!
//! Resident sizes are read from /proc (Linux), with wide margins: each
//! check sits far from both the fixed server and the unfixed one.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{TestServer, cmd, info_field, rss_bytes, show, wait_until};

const MB: u64 = 1024 * 1024;

/// Unauthenticated clients in the flood.
const FLOODERS: usize = 200;
/// Threads that drive them.
const FLOOD_THREADS: usize = 8;
/// Most bytes of `AUTH x` each flooder sends (about 90,000 commands): far
/// more replies than socket buffers hold.
const FLOOD_BYTES: usize = 2 * 1024 * 1024;

/// A connection whose receive buffer is small, so replies it does not read
/// pile up in the server rather than in the kernel.
fn connect_small_window(addr: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    stream
}

/// Sends `AUTH x` over and over without reading, until `FLOOD_BYTES` are
/// sent or the server stops taking them (closed, or not reading).
fn flood(stream: &mut TcpStream, chunk: &[u8]) {
    let mut sent = 0;
    while sent < FLOOD_BYTES {
        match stream.write(chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => sent += n,
        }
    }
}

fn info(srv: &TestServer, section: &str) -> Vec<u8> {
    srv.raw().call(&format!("INFO {section}"))
}

#[test]
fn unauthenticated_floods_are_cut_and_their_memory_returned() {
    let srv = TestServer::start_with(&["--requirepass", "pw"]);
    let baseline = rss_bytes(srv.pid());
    let addr: SocketAddr = srv.addr().parse().unwrap();
    let chunk: Vec<u8> = cmd(&[b"AUTH", b"x"]).repeat(2048);

    // An authenticated client pipelining the same without reading is not
    // cut: its output is the normal class's (unlimited by default).
    let mut authed = connect_small_window(addr);
    authed.write_all(&cmd(&[b"AUTH", b"pw"])).unwrap();
    let authed_commands = 20_000;
    let sent: Vec<u8> = cmd(&[b"AUTH", b"x"]).repeat(authed_commands);

    let started = Instant::now();
    let threads: Vec<_> = (0..FLOOD_THREADS)
        .map(|_| {
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                (0..FLOODERS / FLOOD_THREADS)
                    .map(|_| {
                        let mut s = connect_small_window(addr);
                        flood(&mut s, &chunk);
                        s
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let writer = {
        let mut w = authed.try_clone().unwrap();
        w.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        std::thread::spawn(move || w.write_all(&sent).is_ok())
    };
    let flooders: Vec<TcpStream> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    // The kernel takes the floods at once; the server works through them
    // after. Until every flooder is cut (only the authenticated client and
    // this one left) or 10 s pass, track the peak. The flooders read
    // nothing all along.
    let mut admin = srv.raw();
    admin.expect_call("AUTH pw", b"+OK\r\n");
    // A server swamped by floods may answer late: no answer counts as
    // "not yet".
    let connected = |admin: &mut common::Raw| {
        admin.send(&cmd(&[b"INFO", b"clients"]));
        admin
            .try_reply(Duration::from_secs(2))
            .and_then(|info| info_field(&info, "connected_clients"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    };
    let mut peak = 0;
    let all_cut = wait_until(Duration::from_secs(10), || {
        peak = peak.max(rss_bytes(srv.pid()).saturating_sub(baseline));
        connected(&mut admin) == 2
    });
    eprintln!(
        "{FLOODERS} unauthenticated flooders: RSS peak +{} MB, {} clients connected after {:?}",
        peak / MB,
        connected(&mut admin),
        started.elapsed()
    );
    // Unbounded, each flooder held about 1.3 MB (260 MB for 200); cut at
    // 16 KiB they cost a few MB in all.
    assert!(
        peak < 64 * MB,
        "RSS grew {} MB for {FLOODERS} unauthenticated clients",
        peak / MB
    );
    assert!(all_cut, "flooders left connected");

    // The authenticated client gets every reply.
    let mut got = Vec::new();
    authed
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let wrongpass = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    let expected = 5 + wrongpass.len() * authed_commands;
    let mut buf = vec![0u8; 1 << 16];
    while got.len() < expected {
        match authed.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        writer.join().unwrap(),
        "authenticated client's writes failed"
    );
    assert_eq!(got.len(), expected, "authenticated client lost replies");
    assert!(got.starts_with(b"+OK\r\n") && got.ends_with(wrongpass));

    // Each cut is counted and logged like other output-limit cuts.
    let stats = admin.call("INFO stats");
    assert_eq!(
        info_field(&stats, "client_output_buffer_limit_disconnections").as_deref(),
        Some(FLOODERS.to_string().as_str()),
        "{}",
        show(&stats)
    );
    assert!(
        srv.log()
            .contains("over its unauthenticated output buffer limit"),
        "no disconnection logged"
    );

    // What the flooders took goes back once they are gone.
    drop(flooders);
    let returned = wait_until(Duration::from_secs(10), || {
        rss_bytes(srv.pid()).saturating_sub(baseline) < 16 * MB
    });
    assert!(
        returned,
        "RSS still +{} MB after the flooders left",
        rss_bytes(srv.pid()).saturating_sub(baseline) / MB
    );
}

#[test]
fn flushall_returns_memory_to_the_kernel() {
    let srv = TestServer::start();
    if !common::is_reference() {
        // The allocator options from .cargo/config.toml reached the build.
        assert!(
            srv.log()
                .contains("malloc_conf \"background_thread:true,dirty_decay_ms:1000\""),
            "{}",
            srv.log()
        );
        let memory = info(&srv, "memory");
        assert_eq!(
            info_field(&memory, "mem_allocator").as_deref(),
            Some("jemalloc-5.3.1")
        );
    }
    let mut c = srv.raw();
    c.expect_call("PING", b"+PONG\r\n");
    let baseline = rss_bytes(srv.pid());

    // 150 MB in 1,500 values of 100 KB, pipelined.
    let keys = 1500;
    let value = vec![b'v'; 100 * 1024];
    let mut batch = Vec::with_capacity(keys * (value.len() + 40));
    for i in 0..keys {
        batch.extend(cmd(&[b"SET", format!("key:{i}").as_bytes(), &value]));
    }
    c.send(&batch);
    drop(batch);
    for _ in 0..keys {
        c.expect(b"+OK\r\n");
    }
    let loaded = rss_bytes(srv.pid()).saturating_sub(baseline);
    assert!(loaded > 120 * MB, "only +{} MB resident", loaded / MB);

    c.expect_call("FLUSHALL", b"+OK\r\n");
    let started = Instant::now();
    let returned = wait_until(Duration::from_secs(10), || {
        rss_bytes(srv.pid()).saturating_sub(baseline) < 16 * MB
    });
    let left = rss_bytes(srv.pid()).saturating_sub(baseline);
    eprintln!(
        "loaded +{} MB; {:?} after FLUSHALL +{} MB",
        loaded / MB,
        started.elapsed(),
        left / MB
    );
    assert!(returned, "RSS still +{} MB 10 s after FLUSHALL", left / MB);
}

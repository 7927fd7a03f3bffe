//! Criterion microbenchmarks of pubsubd's hot paths, through the crate's
//! public API:
//!
//! - `parse`: `RequestParser::parse` over a pipelined buffer of PUBLISHes;
//! - `encode_push`: the outbound `message` frame, RESP2 and RESP3, through
//!   the codec and (`into_*`) assembled from shared pieces on the stack;
//! - `patterns`: `PatternIndex::for_each_match` with 10,000 patterns, next
//!   to a plain loop of `glob_match` over the same patterns (what a server
//!   without an index does), and `glob_match` alone;
//! - `registry`: `Registry::publish` fan-out to 1, 100 and 1,000 subscribers
//!   whose outboxes are drained by tasks running `Outbox::sink_until_closed`;
//! - `dispatch`: `commands::dispatch` of PUBLISH and PING on a session;
//! - `publish_path`: S2's server-side work without the sockets: 64
//!   pipelined PUBLISHes parsed off a read buffer and dispatched as one
//!   batch, each to another of 10,000 channels with one subscriber each
//!   (100 subscribed clients, drained by sink tasks).
//!
//! Run: `cargo bench --bench micro` (add a name filter after `--`, e.g.
//! `cargo bench --bench micro -- patterns`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use pubsubd::client::{Client, Peer};
use pubsubd::config::Config;
use pubsubd::glob::glob_match;
use pubsubd::protocol::reply::{encode_push, encode_push_extend};
use pubsubd::protocol::request::{Limits, Parsed};
use pubsubd::protocol::{Protocol, RequestParser};
use pubsubd::pubsub::Kind;
use pubsubd::pubsub::patterns::PatternIndex;
use pubsubd::session::Session;
use pubsubd::shared::Shared;

/// Requests in the pipelined parse buffer.
const PIPELINE: usize = 1000;

/// A client as the server would create it for a loopback connection.
fn client(id: u64) -> Arc<Client> {
    let remote = std::net::SocketAddr::from(([127, 0, 0, 1], (10_000 + id % 50_000) as u16));
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 6379));
    Arc::new(Client::new(id, Peer::tcp(remote, local, -1)))
}

/// `n` RESP-encoded `PUBLISH bench.0 <payload>` requests back to back.
fn publish_pipeline(n: usize, payload: usize) -> Vec<u8> {
    let body = vec![b'x'; payload];
    let mut out = Vec::new();
    for _ in 0..n {
        out.extend_from_slice(b"*3\r\n$7\r\nPUBLISH\r\n$7\r\nbench.0\r\n$");
        out.extend_from_slice(payload.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn parse(c: &mut Criterion) {
    let limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(PIPELINE as u64));
    for payload in [16usize, 256, 4096] {
        let src = publish_pipeline(PIPELINE, payload);
        g.bench_with_input(
            BenchmarkId::new("publish_pipeline_1000", format!("{payload}B")),
            &src,
            |b, src| {
                b.iter_batched(
                    || BytesMut::from(&src[..]),
                    |mut buf| {
                        let mut parser = RequestParser::new();
                        let mut n = 0usize;
                        while let Ok(Some(req)) = parser.parse(&mut buf, &limits) {
                            black_box(&req);
                            n += 1;
                        }
                        assert_eq!(n, PIPELINE, "parser stopped early");
                        n
                    },
                    BatchSize::SmallInput,
                );
            },
        );
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let kind: &[u8] = b"message";
    let channel: &[u8] = b"bench.0";
    let mut g = c.benchmark_group("encode_push");
    g.throughput(Throughput::Elements(1));
    for payload in [16usize, 256, 4096] {
        let body = Bytes::from(vec![b'x'; payload]);
        for (name, proto) in [("resp2", Protocol::Resp2), ("resp3", Protocol::Resp3)] {
            g.bench_function(BenchmarkId::new(name, format!("{payload}B")), |b| {
                b.iter(|| encode_push(proto, &[kind, channel, black_box(&body)]));
            });
        }
    }
    // What the fan-out uses for a frame of at most COPY_MAX_BYTES: shared
    // codec-made headers appended to a reused buffer.
    for payload in [16usize, 256] {
        let body = Bytes::from(vec![b'x'; payload]);
        for (name, proto) in [
            ("into_resp2", Protocol::Resp2),
            ("into_resp3", Protocol::Resp3),
        ] {
            g.bench_function(BenchmarkId::new(name, format!("{payload}B")), |b| {
                let mut buf = Vec::with_capacity(512);
                b.iter(|| {
                    buf.clear();
                    encode_push_extend(proto, &[kind, channel, black_box(&body)], &mut buf, 512)
                });
            });
        }
    }
    g.finish();
}

fn patterns(c: &mut Criterion) {
    const N: usize = 10_000;
    let owner = client(1);
    let mut index = PatternIndex::new();
    let list: Vec<Bytes> = (0..N)
        .map(|i| Bytes::from(format!("other.{i}.*")))
        .collect();
    for p in &list {
        index.insert(p.clone(), &owner);
    }
    let mut g = c.benchmark_group("patterns");
    g.throughput(Throughput::Elements(1));
    for (name, channel) in [
        ("no_match", &b"bench.0"[..]),
        ("one_match", &b"other.5000.x"[..]),
    ] {
        g.bench_function(BenchmarkId::new("index_10000", name), |b| {
            b.iter(|| {
                let mut hits = 0usize;
                index.for_each_match(black_box(channel), |_, subs| hits += subs.len());
                hits
            });
        });
        g.bench_function(BenchmarkId::new("naive_loop_10000", name), |b| {
            b.iter(|| {
                list.iter()
                    .filter(|p| glob_match(p, black_box(channel), false))
                    .count()
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("glob_match");
    g.throughput(Throughput::Elements(1));
    let cases: [(&str, &[u8], &[u8]); 5] = [
        ("literal", b"bench.0", b"bench.0"),
        ("star_suffix", b"other.123.*", b"other.123.message"),
        ("star_miss", b"other.123.*", b"bench.0"),
        (
            "class_and_question",
            b"user.[a-f]?.*.events",
            b"user.c7.42.events",
        ),
        (
            "many_stars",
            b"*a*b*c*d*e*",
            b"xxaxxbxxcxxdxxfxxxxxxxxxxxxxxx",
        ),
    ];
    for (name, pattern, string) in cases {
        g.bench_function(name, |b| {
            b.iter(|| glob_match(black_box(pattern), black_box(string), false));
        });
    }
    g.finish();
}

/// Shared state plus `n` subscribers of `bench.0`, each with a task
/// draining its outbox into a sink, on `rt`.
fn fanout(rt: &tokio::runtime::Runtime, n: usize) -> (Arc<Shared>, Vec<Arc<Client>>) {
    let shared = Arc::new(Shared::new(Config::default(), None));
    let channel = Bytes::from_static(b"bench.0");
    let clients: Vec<Arc<Client>> = (0..n as u64).map(|i| client(i + 1)).collect();
    for c in &clients {
        shared
            .registry
            .subscribe(Kind::Channel, channel.clone(), c, || {});
        let c = Arc::clone(c);
        rt.spawn(async move { c.outbox.sink_until_closed().await });
    }
    (shared, clients)
}

/// A tokio runtime with one worker thread for the sink tasks (the
/// benchmark itself runs on the main thread, as a publisher's task would on
/// the other core).
fn one_worker_runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot start a tokio runtime: {e}"),
    }
}

/// Checks that no subscriber was disconnected during a benchmark (which
/// would have measured less work), then closes their outboxes so the sink
/// tasks end.
fn close_all(clients: &[Arc<Client>]) {
    let closed = clients
        .iter()
        .filter(|c| c.close_reason().is_some())
        .count();
    assert_eq!(closed, 0, "subscribers were disconnected during the bench");
    for c in clients {
        c.outbox.close();
    }
}

fn registry(c: &mut Criterion) {
    let rt = one_worker_runtime();
    let channel = Bytes::from_static(b"bench.0");
    let payload = Bytes::from(vec![b'x'; 64]);
    let mut g = c.benchmark_group("registry_publish");
    for n in [0usize, 1, 100, 1000] {
        let (shared, clients) = fanout(&rt, n);
        g.throughput(Throughput::Elements(n.max(1) as u64));
        g.bench_function(BenchmarkId::new("fanout_64B", n), |b| {
            b.iter(|| {
                shared
                    .registry
                    .publish(&shared, Kind::Channel, &channel, black_box(&payload))
            });
        });
        close_all(&clients);
    }
    // Publish cost with 10,000 unrelated patterns present.
    let (shared, clients) = fanout(&rt, 1);
    let holder = client(1_000_000);
    for i in 0..10_000 {
        shared
            .registry
            .psubscribe(Bytes::from(format!("other.{i}.*")), &holder, || {});
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("fanout_64B_1_with_10000_patterns", |b| {
        b.iter(|| {
            shared
                .registry
                .publish(&shared, Kind::Channel, &channel, black_box(&payload))
        });
    });
    for c in &clients {
        c.outbox.close();
    }
    g.finish();
}

fn dispatch(c: &mut Criterion) {
    let rt = one_worker_runtime();
    let shared = Arc::new(Shared::new(Config::default(), None));
    let me = client(1);
    {
        let me = Arc::clone(&me);
        rt.spawn(async move { me.outbox.sink_until_closed().await });
    }
    let mut session = Session::new(Arc::clone(&shared), Arc::clone(&me));
    // Requests as the parser hands them over: arguments in their frame.
    let parsed = |request: &[u8]| {
        let limits = Limits {
            max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
        };
        match RequestParser::new().parse(&mut BytesMut::from(request), &limits) {
            Ok(Some(Parsed::Command(args))) => args,
            other => panic!("not a command: {other:?}"),
        }
    };
    let publish = parsed(
        format!(
            "*3\r\n$7\r\nPUBLISH\r\n$7\r\nbench.0\r\n$64\r\n{}\r\n",
            "x".repeat(64)
        )
        .as_bytes(),
    );
    let ping = parsed(b"*1\r\n$4\r\nPING\r\n");
    const BATCH: u64 = 64;
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(BATCH));
    for (name, args) in [("publish_no_subscribers", &publish), ("ping", &ping)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    pubsubd::commands::dispatch(&mut session, black_box(args));
                }
                session.flush();
            });
        });
    }
    g.finish();
    me.outbox.close();
}

/// Channels in `publish_path`, spread over [`PATH_CLIENTS`] subscribers.
const PATH_CHANNELS: usize = 10_000;
const PATH_CLIENTS: usize = 100;

fn publish_path(c: &mut Criterion) {
    let rt = one_worker_runtime();
    let shared = Arc::new(Shared::new(Config::default(), None));
    let subscribers: Vec<Arc<Client>> = (0..PATH_CLIENTS as u64).map(|i| client(i + 2)).collect();
    for (i, sub) in (0..PATH_CHANNELS).zip(subscribers.iter().cycle()) {
        let name = Bytes::from(format!("bench.s2.{i}"));
        shared.registry.subscribe(Kind::Channel, name, sub, || {});
    }
    for sub in &subscribers {
        let sub = Arc::clone(sub);
        rt.spawn(async move { sub.outbox.sink_until_closed().await });
    }
    let me = client(1);
    {
        let me = Arc::clone(&me);
        rt.spawn(async move { me.outbox.sink_until_closed().await });
    }
    let mut session = Session::new(Arc::clone(&shared), Arc::clone(&me));
    // Every channel once per pass, 64 frames per batch as one read.
    const BATCH: usize = 64;
    let body = vec![b'x'; 64];
    let batches: Vec<Vec<u8>> = (0..PATH_CHANNELS / BATCH)
        .map(|b| {
            let mut out = Vec::new();
            for i in 0..BATCH {
                let name = format!("bench.s2.{}", (b * BATCH + i) * 7919 % PATH_CHANNELS);
                out.extend_from_slice(b"*3\r\n$7\r\nPUBLISH\r\n$");
                out.extend_from_slice(format!("{}\r\n{name}\r\n$64\r\n", name.len()).as_bytes());
                out.extend_from_slice(&body);
                out.extend_from_slice(b"\r\n");
            }
            out
        })
        .collect();
    let limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };
    let mut parser = RequestParser::new();
    let mut next = 0;
    let mut g = c.benchmark_group("publish_path");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("s2_10000_channels_64_per_batch", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&batches[next][..]);
            next = (next + 1) % batches.len();
            let _wakes = pubsubd::pubsub::wakeups::Batch::begin();
            while let Ok(Some(parsed)) = parser.parse(&mut buf, &limits) {
                if let Parsed::Command(args) = parsed {
                    pubsubd::commands::dispatch(&mut session, &args);
                }
            }
            session.flush();
        });
    });
    g.finish();
    close_all(&subscribers);
    me.outbox.close();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse, encode, patterns, registry, dispatch, publish_path
}
criterion_main!(benches);

//! Running one load case: set up subscribers, run publishers for a
//! warm-up plus a measured window, drain, check, and compute the figures.
//! Every phase has a deadline, so a case ends even if the server stalls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::control::{self, Control};
use crate::payload::instant_ns;
use crate::procstat::{CpuMark, RssSampler, rss_bytes};
use crate::publisher::{self, PubResult, PubSpec, per_channel_of_first};
use crate::report::CaseResult;
use crate::resp::PushReader;
use crate::resp::Value;
use crate::subscriber::{
    self, Flow, Group, Latencies, Readers, SUB_READ_BUF, SubConn, SubCtx, SubStats, Tally, Window,
    channel_name, confirm, stream_key,
};
use crate::timeline::Timeline;

/// Time allowed to connect and subscribe everything.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Connections opened at once during setup (below the servers' backlog).
const CONNECT_PARALLELISM: usize = 200;

/// Patterns per pattern-subscriber connection.
const PATTERNS_PER_CONN: usize = 1000;

/// Bytes a braked saturating publisher may have in flight to each
/// subscriber (converted to messages), well under the 32 MB pub/sub hard
/// limit.
const FLOW_BYTES_PER_SUB: usize = 1024 * 1024;

/// After sending stopped, a drain in which no subscriber received anything
/// for this long ends: the server has nothing more to send, and what a
/// connected subscriber still lacks is lost.
const DRAIN_STALL: Duration = Duration::from_secs(2);

/// Time allowed for the subscribers to stop once told to.
const SUB_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the server is and what the generator knows about it.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its address.
    pub addr: SocketAddr,
    /// Its pid, for CPU and RSS figures.
    pub pid: Option<u32>,
    /// Another node of the same pubsubd cluster (`--peer-addr`), where the
    /// subscribers of cross-node cases connect.
    pub peer: Option<SocketAddr>,
}

/// How publishers send.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Pipelined, at most `window` unanswered PUBLISHes per publisher.
    Saturate {
        /// Unanswered PUBLISHes allowed per publisher.
        window: usize,
    },
    /// Open loop at `per_sec` messages a second, all publishers together.
    Rate {
        /// Messages per second in total.
        per_sec: f64,
    },
}

/// One load case.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Scenario name (`s1` …).
    pub scenario: &'static str,
    /// Case name, unique across scenarios.
    pub name: String,
    /// Subscriber connections whose every message is checked.
    pub subs: usize,
    /// Channels published to.
    pub channels: u32,
    /// Channels each subscriber connection subscribes (consecutive).
    pub chans_per_sub: u32,
    /// Non-matching pattern subscriptions (`other.<i>.*`).
    pub patterns: usize,
    /// Publisher connections.
    pub publishers: u16,
    /// How they send.
    pub mode: Mode,
    /// Payload bytes.
    pub payload: usize,
    /// Sending before the measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Messages per publisher, if limited.
    pub max_messages: Option<u64>,
    /// Add one subscriber on `bench.0` that never reads.
    pub slow_subscriber: bool,
    /// Saturating publishers also wait while a subscriber is more than
    /// [`FLOW_BYTES_PER_SUB`] behind. Without the brake they send as a
    /// real publisher does, whatever the receivers manage, and a server
    /// that does not hold them back fills its output buffers.
    pub brake: bool,
    /// Which threads read the subscribers.
    pub readers: Readers,
    /// `CONFIG SET client-output-buffer-limit` to this at the case's start
    /// (e.g. `pubsub 32mb 8mb 60`), so the case runs under the same limit
    /// whatever the server was started with.
    pub output_limit: Option<&'static str>,
    /// Connections subscribing and unsubscribing during the run.
    pub churners: usize,
    /// Subscribers connect to the peer node ([`Target::peer`]) while
    /// publishers stay on the first: every message crosses the cluster link.
    pub subs_on_peer: bool,
    /// Time allowed after sending stops for deliveries to finish (ends
    /// early after [`DRAIN_STALL`] without a delivery).
    pub drain: Duration,
    /// The metrics the comparison table shows.
    pub headline: &'static [&'static str],
}

/// Opens `count` subscriber connections, the `j`th subscribing to what
/// `names(j)` returns, at most [`CONNECT_PARALLELISM`] at a time.
async fn open_subscribers(
    addr: SocketAddr,
    count: usize,
    names: impl Fn(usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>),
    recv_buffer: Option<u32>,
    read_buf: usize,
    deadline: Instant,
) -> Result<Vec<SubConn>, String> {
    let gate = Arc::new(Semaphore::new(CONNECT_PARALLELISM));
    let mut tasks = Vec::with_capacity(count);
    for j in 0..count {
        let (channels, patterns) = names(j);
        let gate = Arc::clone(&gate);
        tasks.push(tokio::spawn(async move {
            let _permit = gate
                .acquire_owned()
                .await
                .map_err(|_| "setup gate closed".to_string())?;
            subscriber::subscribe(addr, &channels, &patterns, recv_buffer, read_buf, deadline).await
        }));
    }
    let mut conns = Vec::with_capacity(count);
    for (j, t) in tasks.into_iter().enumerate() {
        match t.await {
            Ok(Ok(c)) => conns.push(c),
            Ok(Err(e)) => return Err(format!("subscriber {j}: {e}")),
            Err(e) => return Err(format!("subscriber {j} task failed: {e}")),
        }
    }
    Ok(conns)
}

/// Channels of subscriber `j`.
fn sub_channels(spec: &LoadSpec, j: usize) -> Vec<u32> {
    (0..spec.chans_per_sub)
        .map(|c| {
            ((j as u64 * u64::from(spec.chans_per_sub) + u64::from(c)) % u64::from(spec.channels))
                as u32
        })
        .collect()
}

/// One churner: subscribes and unsubscribes in a loop until `stop`;
/// returns the subscription changes it made.
async fn churn(addr: SocketAddr, idx: usize, stop: CancellationToken) -> Result<u64, String> {
    let step = Duration::from_secs(5);
    let mut stream = subscriber::connect(addr, None, Instant::now() + step).await?;
    let mut reader = PushReader::new(SUB_READ_BUF);
    // Even churners join and leave the fan-out channel itself (changing the
    // very subscriber set being published to); odd ones use channels of
    // their own.
    let (channels, patterns): (Vec<Vec<u8>>, Vec<Vec<u8>>) = if idx.is_multiple_of(2) {
        (vec![channel_name(0)], vec![b"bench.*".to_vec()])
    } else {
        (
            (0..50)
                .map(|i| format!("churn.{idx}.{i}").into_bytes())
                .collect(),
            vec![format!("churn.{idx}.*").into_bytes()],
        )
    };
    let mut ops = 0u64;
    while !stop.is_cancelled() {
        let d = Instant::now() + step;
        confirm(&mut stream, &mut reader, b"SUBSCRIBE", &channels, d).await?;
        confirm(&mut stream, &mut reader, b"PSUBSCRIBE", &patterns, d).await?;
        confirm(&mut stream, &mut reader, b"UNSUBSCRIBE", &channels, d).await?;
        confirm(&mut stream, &mut reader, b"PUNSUBSCRIBE", &patterns, d).await?;
        ops += 2 * (channels.len() + patterns.len()) as u64;
    }
    Ok(ops)
}

/// Watches `PUBSUB NUMSUB bench.0` every 50 ms from `from` until `until`;
/// returns when it first dropped below `initial` (the slow subscriber cut).
async fn watch_cut(
    addr: SocketAddr,
    initial: i64,
    from: Instant,
    until: Instant,
) -> Result<Option<Duration>, String> {
    let mut c = Control::connect(addr, Instant::now() + Duration::from_secs(5)).await?;
    tokio::time::sleep_until(from.into()).await;
    while Instant::now() < until {
        let n = c
            .numsub(&channel_name(0), Instant::now() + Duration::from_secs(5))
            .await?;
        if n < initial {
            return Ok(Some(from.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(None)
}

/// Sets the server's `client-output-buffer-limit` to `limit`; a refusal
/// comes back as a note for the case.
async fn set_output_limit(addr: SocketAddr, limit: &str) -> Result<Option<String>, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut c = Control::connect(addr, deadline).await?;
    let reply = c
        .call(
            &[
                b"CONFIG",
                b"SET",
                b"client-output-buffer-limit",
                limit.as_bytes(),
            ],
            deadline,
        )
        .await?;
    Ok(match reply {
        Value::Simple(s) if s == "OK" => None,
        other => Some(format!(
            "CONFIG SET client-output-buffer-limit {limit:?} answered {other:?}: the server's own limit applies"
        )),
    })
}

/// Runs `spec` against `target`; with `timeline`, the result keeps the
/// case's course in steps of [`crate::timeline::STEP`].
pub async fn run_load(
    spec: &LoadSpec,
    target: &Target,
    timeline: bool,
) -> Result<CaseResult, String> {
    let addr = target.addr;
    let mut notes = Vec::new();
    if let Some(limit) = spec.output_limit
        && let Some(n) = set_output_limit(addr, limit).await?
    {
        notes.push(n);
    }
    let setup_deadline = Instant::now() + SETUP_TIMEOUT;
    let rss_before = rss_bytes(target.pid);
    let sub_addr = if spec.subs_on_peer {
        let peer = target
            .peer
            .ok_or_else(|| format!("{} needs --peer-addr", spec.name))?;
        // Nothing is measured until a message has crossed from the
        // publishers' node to the subscribers' one.
        control::wait_crossing(addr, peer, setup_deadline).await?;
        peer
    } else {
        addr
    };

    // Subscribers.
    let subs = {
        let s = spec.clone();
        open_subscribers(
            sub_addr,
            spec.subs,
            move |j| {
                (
                    sub_channels(&s, j).into_iter().map(channel_name).collect(),
                    Vec::new(),
                )
            },
            None,
            SUB_READ_BUF,
            setup_deadline,
        )
        .await?
    };
    let pattern_conns = spec.patterns.div_ceil(PATTERNS_PER_CONN);
    let pattern_holders = {
        let total = spec.patterns;
        open_subscribers(
            sub_addr,
            pattern_conns,
            move |j| {
                let from = j * PATTERNS_PER_CONN;
                let to = (from + PATTERNS_PER_CONN).min(total);
                (
                    Vec::new(),
                    (from..to)
                        .map(|i| format!("other.{i}.*").into_bytes())
                        .collect(),
                )
            },
            None,
            4096,
            setup_deadline,
        )
        .await?
    };
    let slow = if spec.slow_subscriber {
        let mut v = open_subscribers(
            sub_addr,
            1,
            |_| (vec![channel_name(0)], Vec::new()),
            Some(4096),
            4096,
            setup_deadline,
        )
        .await?;
        v.pop().map(SubConn::into_stream)
    } else {
        None
    };
    let rss_setup = rss_bytes(target.pid);
    let connections = spec.subs + pattern_conns + usize::from(spec.slow_subscriber);
    let sampler = RssSampler::start(target.pid);

    // Timeline.
    let t_start = Instant::now() + Duration::from_millis(100);
    let warm_end = t_start + spec.warmup;
    let end = warm_end + spec.duration;
    let drain_deadline = end + spec.drain;
    let window = Window {
        start_ns: instant_ns(warm_end),
        end_ns: instant_ns(end),
    };

    // Start the subscribers' read loops.
    let latencies = Arc::new(Latencies::new()?);
    let flow = match spec.mode {
        Mode::Saturate { .. } if spec.brake => {
            let cap = (FLOW_BYTES_PER_SUB / (spec.payload + 64)).clamp(2, 1024);
            Some(Arc::new(Flow::new(cap as u64)))
        }
        Mode::Saturate { .. } | Mode::Rate { .. } => None,
    };
    let tally = Arc::new(Tally::default());
    tally.connected.store(subs.len() as i64, Ordering::Relaxed);
    let timeline = if timeline {
        Some(Timeline::start(target.pid, Arc::clone(&tally), t_start)?)
    } else {
        None
    };
    let stop = CancellationToken::new();
    let share = f64::from(spec.chans_per_sub) / f64::from(spec.channels.max(1));
    let mut progress = Vec::with_capacity(subs.len());
    let mut ctxs = Vec::with_capacity(subs.len());
    for j in 0..subs.len() {
        let p = Arc::new(AtomicU64::new(0));
        if let Some(f) = &flow {
            f.track(Arc::clone(&p), share);
        }
        progress.push(Arc::clone(&p));
        let ctx = SubCtx {
            latencies: Arc::clone(&latencies),
            shard: j,
            window,
            progress: p,
            flow: flow.clone(),
            tally: Arc::clone(&tally),
            stop: stop.clone(),
        };
        ctxs.push(ctx);
    }
    let group = Group::start(subs, ctxs, spec.readers)?;
    let churn_stop = CancellationToken::new();
    let churners: Vec<_> = (0..spec.churners)
        .map(|i| tokio::spawn(churn(sub_addr, i, churn_stop.clone())))
        .collect();
    let watcher = spec.slow_subscriber.then(|| {
        tokio::spawn(watch_cut(
            sub_addr,
            spec.subs as i64 + 1,
            t_start,
            drain_deadline,
        ))
    });

    // Publishers.
    let mut pub_tasks = Vec::new();
    for id in 0..spec.publishers {
        let ps = PubSpec {
            id,
            publishers: spec.publishers,
            channels: spec.channels,
            payload: spec.payload,
            start: t_start,
            end,
            max_messages: spec.max_messages,
            drain_deadline,
            window: (window.start_ns, window.end_ns),
            tally: Arc::clone(&tally),
        };
        let task = match spec.mode {
            Mode::Saturate { window } => {
                tokio::spawn(publisher::saturate(addr, ps, window, flow.clone()))
            }
            Mode::Rate { per_sec } => {
                let each = per_sec / f64::from(spec.publishers.max(1));
                tokio::task::spawn_blocking(move || publisher::fixed_rate(addr, ps, each))
            }
        };
        pub_tasks.push(task);
    }

    // CPU over the measured window; a case limited by message count is
    // measured from the first send until the last delivery instead.
    let bounded = spec.max_messages.is_some();
    tokio::time::sleep_until(warm_end.into()).await;
    let cpu0 = CpuMark::now(target.pid);
    let mut cpu1 = None;
    if !bounded {
        tokio::time::sleep_until(end.into()).await;
        cpu1 = Some(CpuMark::now(target.pid));
    }

    let mut pubs: Vec<PubResult> = Vec::new();
    for t in pub_tasks {
        match t.await {
            Ok(r) => pubs.push(r),
            Err(e) => return Err(format!("publisher task failed: {e}")),
        }
    }
    let sending_done = Instant::now();

    // Drain: wait until every subscriber has what was published to it, the
    // drain's time is up, or nothing arrived for DRAIN_STALL (what has not
    // come by then is lost, not late).
    let channels = spec.channels as usize;
    let mut published_on = vec![0u64; channels];
    for p in &pubs {
        for (c, n) in p.per_channel.iter().enumerate() {
            published_on[c] += u64::from(*n);
        }
    }
    let expected: Vec<u64> = (0..progress.len())
        .map(|j| {
            sub_channels(spec, j)
                .iter()
                .map(|&c| published_on[c as usize])
                .sum()
        })
        .collect();
    let mut seen = tally.delivered.load(Ordering::Relaxed);
    let mut moved = Instant::now();
    loop {
        let behind = progress
            .iter()
            .zip(&expected)
            .any(|(p, e)| p.load(Ordering::Relaxed) < *e);
        let now = Instant::now();
        if !behind {
            break;
        }
        if now >= drain_deadline || now - moved >= DRAIN_STALL {
            notes.push(if now >= drain_deadline {
                format!("the drain ended at its limit ({:?}) with deliveries outstanding", spec.drain)
            } else {
                format!(
                    "the drain ended after {DRAIN_STALL:?} without a delivery, with deliveries outstanding"
                )
            });
            break;
        }
        let delivered = tally.delivered.load(Ordering::Relaxed);
        if delivered != seen {
            (seen, moved) = (delivered, now);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain_time = sending_done.elapsed();
    let cpu1 = cpu1.unwrap_or_else(|| CpuMark::now(target.pid));
    let (server_cpu, client_cpu) = cpu1.since(&cpu0);
    let secs = if bounded {
        warm_end.elapsed().as_secs_f64()
    } else {
        spec.duration.as_secs_f64()
    };
    stop.cancel();
    churn_stop.cancel();
    let stats: Vec<SubStats> = group.finish(SUB_STOP_TIMEOUT).await?;
    let timeline = timeline.map(Timeline::finish);
    let mut churn_ops = 0u64;
    let mut problems = Vec::new();
    for t in churners {
        match tokio::time::timeout(Duration::from_secs(15), t).await {
            Ok(Ok(Ok(n))) => churn_ops += n,
            Ok(Ok(Err(e))) => problems.push(format!("churner: {e}")),
            Ok(Err(e)) => problems.push(format!("churner task failed: {e}")),
            Err(_) => problems.push("a churner did not stop within 15 s".into()),
        }
    }
    let cut_after = match watcher {
        Some(w) => match tokio::time::timeout(Duration::from_secs(15), w).await {
            Ok(Ok(Ok(cut))) => Some(cut),
            Ok(Ok(Err(e))) => {
                problems.push(format!("cut watcher: {e}"));
                None
            }
            _ => {
                problems.push("cut watcher failed".into());
                None
            }
        },
        None => None,
    };
    let rss_end = rss_bytes(target.pid);
    let rss_peak = sampler.peak();
    drop(sampler);
    drop(slow);
    drop(pattern_holders);

    // Figures.
    let hist = latencies.merged()?;
    let mut r = CaseResult::new(spec.scenario, &spec.name, spec.headline);
    let received: u64 = stats.iter().map(|s| s.received).sum();
    let in_window: u64 = stats.iter().map(|s| s.in_window).sum();
    let expected_total: u64 = expected.iter().sum();
    let sent: u64 = pubs.iter().map(|p| p.sent).sum();
    let sent_window: u64 = pubs.iter().map(|p| p.in_window).sum();
    r.notes.extend(notes);
    if let Some(rows) = timeline {
        r.timeline = rows;
    }
    r.set("subscribers", spec.subs as f64);
    r.set("payload_bytes", spec.payload as f64);
    if let Mode::Saturate { window } = spec.mode {
        r.set("window", window as f64);
    }
    r.set("published", sent as f64);
    if let Mode::Rate { per_sec } = spec.mode {
        r.set("target_publishes_per_s", per_sec);
    }
    r.set("publishes_per_s", sent_window as f64 / secs);
    r.set("deliveries", received as f64);
    r.set("deliveries_per_s", in_window as f64 / secs);
    r.set(
        "delivered_mb_per_s",
        in_window as f64 * spec.payload as f64 / secs / 1e6,
    );
    if !hist.is_empty() {
        let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        r.set("lat_p50_us", us(0.5));
        r.set("lat_p99_us", us(0.99));
        r.set("lat_p999_us", us(0.999));
        r.set("lat_max_us", hist.max() as f64 / 1000.0);
        r.set_latency(&hist);
    }
    if let Some(cpu) = server_cpu {
        r.set("server_cpu_cores", cpu / secs);
        if in_window > 0 {
            r.set(
                "server_cpu_s_per_m_deliveries",
                cpu / (in_window as f64 / 1e6),
            );
        }
    }
    r.set("client_cpu_cores", client_cpu / secs);
    if let Some((idle, steal)) = cpu1.machine_pct_since(&cpu0) {
        r.set("machine_idle_pct", idle);
        r.set("machine_steal_pct", steal);
    }
    if let Some(b) = rss_before {
        r.set("server_rss_before_mb", b as f64 / 1e6);
    }
    if let Some(s) = rss_setup {
        r.set("server_rss_setup_mb", s as f64 / 1e6);
    }
    r.set("connections", connections as f64);
    if let Some(p) = rss_peak {
        r.set("server_rss_peak_mb", p as f64 / 1e6);
    }
    if let Some(e) = rss_end {
        r.set("server_rss_end_mb", e as f64 / 1e6);
    }
    r.set("drain_s", drain_time.as_secs_f64());
    let lag: Vec<_> = pubs.iter().filter_map(|p| p.send_lag_us.as_ref()).collect();
    if !lag.is_empty() {
        let p99 = lag
            .iter()
            .map(|h| h.value_at_quantile(0.99))
            .max()
            .unwrap_or(0);
        let max = lag.iter().map(|h| h.max()).max().unwrap_or(0);
        r.set("send_lag_p99_us", p99 as f64);
        r.set("send_lag_max_us", max as f64);
    }
    let busy: f64 = pubs.iter().map(|p| p.busy.as_secs_f64()).sum();
    if busy > 0.0 {
        // What held saturating publishers back: unanswered PUBLISHes (the
        // server's reply path) or a subscriber falling behind (delivery).
        let replies: f64 = pubs.iter().map(|p| p.wait_replies.as_secs_f64()).sum();
        let flow: f64 = pubs.iter().map(|p| p.wait_flow.as_secs_f64()).sum();
        r.set("pub_wait_replies_pct", 100.0 * replies / busy);
        r.set("pub_wait_delivery_pct", 100.0 * flow / busy);
    }
    if spec.churners > 0 {
        r.set(
            "churn_ops_per_s",
            churn_ops as f64 / (secs + spec.warmup.as_secs_f64()),
        );
    }
    if spec.slow_subscriber {
        match cut_after {
            Some(Some(d)) => r.set("slow_cut_after_s", d.as_secs_f64()),
            _ => r.note("the slow subscriber was not disconnected during the run".into()),
        }
    }

    // Checks. A subscriber the server disconnected is cut; a message is
    // lost when a sequence skipped it, or when its PUBLISH was acknowledged
    // and a subscriber still connected never got it (by the drain's end).
    // What a cut subscriber missed after its cut is counted apart.
    let mut acked_on = Vec::with_capacity(pubs.len());
    for (id, p) in pubs.iter().enumerate() {
        acked_on.push(per_channel_of_first(
            p.acked,
            id as u16,
            spec.publishers,
            spec.channels,
        ));
    }
    let mut undelivered = 0u64;
    let mut missed_by_cut = 0u64;
    let mut duplicated = 0u64;
    for (j, st) in stats.iter().enumerate() {
        duplicated += st.received.saturating_sub(expected[j]);
        if st.closed_by_server {
            missed_by_cut += expected[j].saturating_sub(st.received);
            continue;
        }
        for c in sub_channels(spec, j) {
            for (id, acked) in acked_on.iter().enumerate() {
                let next = st
                    .streams
                    .get(&stream_key(c, id as u16))
                    .copied()
                    .unwrap_or(0);
                undelivered += acked[c as usize].saturating_sub(u64::from(next));
            }
        }
    }
    let gaps: u64 = stats.iter().map(|s| s.gaps).sum();
    let lost = gaps + undelivered;
    let reordered: u64 = stats.iter().map(|s| s.reordered).sum();
    let foreign: u64 = stats.iter().map(|s| s.foreign).sum();
    let cut = stats.iter().filter(|s| s.closed_by_server).count();
    let missing = expected_total.saturating_sub(received);
    r.set("subs_cut", cut as f64);
    r.set("lost", lost as f64);
    r.set("lost_gaps", gaps as f64);
    r.set("lost_undelivered", undelivered as f64);
    r.set("missed_after_cut", missed_by_cut as f64);
    if let Some(first) = stats.iter().filter_map(|s| s.closed_at_ns).min() {
        r.set(
            "first_cut_s",
            first.saturating_sub(instant_ns(t_start)) as f64 / 1e9,
        );
    }
    r.set("expected", expected_total as f64);
    r.set("missing", missing as f64);
    r.set("gaps", gaps as f64);
    r.set("reordered", reordered as f64);
    r.set("duplicated", duplicated as f64);
    if cut > 0 {
        problems.push(format!(
            "the server cut {cut} of {} subscribers",
            stats.len()
        ));
    }
    if lost > 0 {
        problems.push(format!(
            "{lost} messages lost: {gaps} skipped in sequences, {undelivered} acknowledged but not delivered to connected subscribers after a {:.1} s drain",
            drain_time.as_secs_f64()
        ));
    }
    if reordered > 0 {
        problems.push(format!("{reordered} messages out of order"));
    }
    if foreign > 0 {
        problems.push(format!("{foreign} messages without a valid header"));
    }
    if duplicated > 0 {
        problems.push(format!("{duplicated} more deliveries than published"));
    }
    if let Some(e) = stats.iter().find_map(|s| s.error.clone()) {
        problems.push(format!("subscriber: {e}"));
    }
    for p in &pubs {
        if let Some(e) = &p.error {
            problems.push(e.clone());
        }
    }
    r.problems.extend(problems);
    Ok(r)
}

/// The idle-connection case (S4).
#[derive(Clone, Debug)]
pub struct IdleSpec {
    /// Case name.
    pub name: String,
    /// Connections, each subscribed to a channel of its own.
    pub conns: usize,
    /// When to read the server's RSS after the last subscription.
    pub checkpoints: Vec<Duration>,
    /// The metrics the comparison table shows.
    pub headline: &'static [&'static str],
}

/// Opens `spec.conns` subscribed connections, then reads the server's RSS
/// at each checkpoint.
pub async fn run_idle(spec: &IdleSpec, target: &Target) -> Result<CaseResult, String> {
    let rss_before = rss_bytes(target.pid);
    let cpu0 = CpuMark::now(target.pid);
    let t0 = Instant::now();
    let conns = open_subscribers(
        target.addr,
        spec.conns,
        |j| (vec![format!("idle.{j}").into_bytes()], Vec::new()),
        None,
        256,
        Instant::now() + SETUP_TIMEOUT,
    )
    .await?;
    let mut streams: Vec<_> = conns.into_iter().map(SubConn::into_stream).collect();
    let ready = Instant::now();
    let cpu_setup = CpuMark::now(target.pid);
    let mut r = CaseResult::new("s4", &spec.name, spec.headline);
    r.set("connections", spec.conns as f64);
    r.set("connect_s", (ready - t0).as_secs_f64());
    if let (Some(a), Some(b)) = (cpu_setup.server, cpu0.server) {
        r.set("server_cpu_s_setup", a - b);
    }
    if let Some(b) = rss_before {
        r.set("server_rss_before_mb", b as f64 / 1e6);
    }
    for cp in &spec.checkpoints {
        tokio::time::sleep_until((ready + *cp).into()).await;
        let secs = cp.as_secs();
        if let (Some(now), Some(b)) = (rss_bytes(target.pid), rss_before) {
            r.set_owned(format!("server_rss_{secs}s_mb"), now as f64 / 1e6);
            r.set_owned(
                format!("bytes_per_conn_{secs}s"),
                (now as f64 - b as f64) / spec.conns as f64,
            );
        }
    }
    let cpu_end = CpuMark::now(target.pid);
    if let (Some(a), Some(b)) = (cpu_end.server, cpu_setup.server) {
        r.set("server_cpu_s_idle", a - b);
    }
    // Every connection should still be open: a server that dropped idle
    // subscribers would show as a read of 0 bytes here.
    let mut dropped = 0u32;
    for s in &mut streams {
        let mut probe = [0u8; 1];
        if let Ok(0) = s.read_now(&mut probe) {
            dropped += 1;
        }
    }
    r.set("subs_cut", f64::from(dropped));
    if dropped > 0 {
        r.problems
            .push(format!("the server closed {dropped} idle subscribers"));
    }
    drop(streams);
    Ok(r)
}

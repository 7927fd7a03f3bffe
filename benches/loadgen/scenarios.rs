//! The scenarios S1–S7 as data, full size and `--quick`.

use std::collections::HashMap;
use std::time::Duration;

use crate::case::{IdleSpec, LoadSpec, Mode};
use crate::subscriber::Readers;

/// Every scenario, in the order `all` runs them.
pub const ALL: &[&str] = &["s1", "s2", "s3", "s4", "s5", "s6", "s7"];

/// Scenarios for a pubsubd cluster (`benches/cluster.sh`), run only when
/// named: `all` compares single servers.
pub const CLUSTER: &[&str] = &["c1"];

/// C1's subscribers (one channel, each checked) and its fixed rate in
/// messages a second, full size and `--quick`: small enough that the two
/// nodes, NATS and the generator share two cores without saturating them,
/// so the fixed-rate cases measure the path, not a queue.
const C1_SUBS: usize = 10;
const C1_RATE: f64 = 5_000.0;
const C1_RATE_QUICK: f64 = 2_000.0;

/// A case of either kind.
pub enum Case {
    /// Publishers and subscribers.
    Load(LoadSpec),
    /// Idle subscribed connections (S4).
    Idle(IdleSpec),
}

impl Case {
    /// The case's name.
    pub fn name(&self) -> &str {
        match self {
            Case::Load(s) => &s.name,
            Case::Idle(s) => &s.name,
        }
    }
}

/// Headline metrics of saturating cases.
const SAT: &[&str] = &[
    "deliveries_per_s",
    "server_cpu_s_per_m_deliveries",
    "lat_p99_us",
];
/// Headline metrics of fixed-rate cases.
const RATE: &[&str] = &[
    "lat_p50_us",
    "lat_p99_us",
    "lat_p999_us",
    "lat_max_us",
    "server_cpu_s_per_m_deliveries",
];

/// Saturating publishers' default window of unanswered PUBLISHes
/// (`--window`). Large enough that the server, not the round trip, limits
/// the rate: with a window of 128 neither server used its
/// CPU in S2 or S3 (Redis 0.88-0.93 of its one core, pubsubd 1.0 of the
/// 1.45 cores the generator leaves) and Redis's own S3 rate was 40% of what
/// it delivers with 1,024. StackExchange.Redis, the SignalR client, sets no
/// such limit at all. BENCHMARKS.md has the sweep.
pub const DEFAULT_WINDOW: usize = 1024;

/// S1's saturating publishers' window (unless `--window` is given): 32
/// unanswered PUBLISHes each, as the independent generator of issue 16
/// kept. With no brake and one reading thread, a server that takes
/// PUBLISHes faster than its subscribers read them must hold the
/// publishers back, or its output buffers grow until the limit cuts the
/// subscribers.
pub const S1_SAT_WINDOW: usize = 32;

/// The output-buffer limit every S1 case sets at its start (the issue's,
/// and what compare.sh starts both servers with).
pub const S1_OUTPUT_LIMIT: &str = "pubsub 32mb 8mb 60";

/// Most time S1's saturated cases wait after sending for a backlog to
/// arrive: without a brake a server may hold seconds of messages, and a
/// message that arrives late is not lost (the drain also ends once nothing
/// arrives for a while).
const S1_SAT_DRAIN: Duration = Duration::from_secs(30);

/// S1's saturated cases: (subscribers, payload bytes). The issue's: 100
/// subscribers at 16 B, 256 B and 4 KB, and 1,000 at 16 B, each with 3 s of
/// publishing, also with `--quick` (shorter or smaller, a server's output
/// buffers do not reach the limit, and the case cannot show the failure).
const S1_SAT: &[(usize, usize)] = &[(100, 16), (100, 256), (100, 4096), (1000, 16)];

/// S1's saturated cases' warm-up and measured window: 3 s of publishing.
const S1_SAT_WARMUP: Duration = Duration::from_millis(500);
const S1_SAT_DURATION: Duration = Duration::from_millis(2500);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Measuring window of S1's fixed-rate cases at half of the reference's
/// maximum (full size): longer than the others, since their p99 is what
/// the target compares and a few stalls of a busy machine decide it in 2 s.
const HALF_RATE_WINDOW: Duration = Duration::from_secs(6);

/// A load case with the common defaults.
fn load(
    scenario: &'static str,
    name: String,
    headline: &'static [&'static str],
    window: usize,
) -> LoadSpec {
    LoadSpec {
        scenario,
        name,
        subs: 1,
        channels: 1,
        chans_per_sub: 1,
        patterns: 0,
        publishers: 1,
        mode: Mode::Saturate { window },
        payload: 64,
        warmup: ms(500),
        duration: ms(2000),
        max_messages: None,
        slow_subscriber: false,
        brake: true,
        readers: Readers::Runtime,
        output_limit: None,
        churners: 0,
        subs_on_peer: false,
        drain: ms(5000),
        headline,
    }
}

/// How a run's cases are sized.
pub struct Params {
    /// Smaller sizes and shorter runs.
    pub quick: bool,
    /// Saturating publishers keep at most this many PUBLISHes unanswered
    /// (`--window`; else [`S1_SAT_WINDOW`] in S1, [`DEFAULT_WINDOW`]
    /// elsewhere).
    pub window: Option<usize>,
    /// Saturated S1 deliveries/s of a reference server by case name
    /// (`--half-of`): S1's fixed-rate cases then run at half of them, as the
    /// issue's "fixed rate at half of Redis's maximum" asks.
    pub s1_reference: Option<HashMap<String, f64>>,
    /// A second node of the same cluster is given (`--peer-addr`): the
    /// cluster scenarios add their cross-node cases.
    pub peer: bool,
}

/// The cases of `scenario` sized by `params`.
pub fn cases(scenario: &str, params: &Params) -> Result<Vec<Case>, String> {
    let quick = params.quick;
    let window = params.window.unwrap_or(DEFAULT_WINDOW);
    let (warmup, duration) = if quick {
        (ms(200), ms(800))
    } else {
        (ms(500), ms(2000))
    };
    let mut out = Vec::new();
    match scenario {
        // 1 channel, many subscribers, three payload sizes: saturated by
        // two unbraked publishers, and at a fixed rate. One thread reads
        // every subscriber of a case.
        "s1" => {
            let sat = S1_SAT;
            let s1 = |name: String, subs: usize, payload: usize| {
                let mut s = load("s1", name, SAT, window);
                s.subs = subs;
                s.payload = payload;
                s.publishers = 2;
                s.readers = Readers::OneThread;
                s.output_limit = Some(S1_OUTPUT_LIMIT);
                s
            };
            for &(subs, payload) in sat {
                let mut s = s1(format!("s1/sub{subs}/{payload}B/sat"), subs, payload);
                s.mode = Mode::Saturate {
                    window: params.window.unwrap_or(S1_SAT_WINDOW),
                };
                s.brake = false;
                s.warmup = S1_SAT_WARMUP;
                s.duration = S1_SAT_DURATION;
                // Room for a server's whole backlog to arrive late rather
                // than count as lost.
                s.drain = S1_SAT_DRAIN;
                out.push(Case::Load(s));
            }
            let sizes: &[usize] = if quick { &[50, 200] } else { &[100, 1000] };
            for &subs in sizes {
                for &payload in &[16usize, 256, 4096] {
                    let mut s = s1(String::new(), subs, payload);
                    s.warmup = warmup;
                    s.duration = duration;
                    s.headline = RATE;
                    // Fixed rate: half of the reference server's saturated
                    // deliveries/s at this payload when one is given (from
                    // the saturated case of this fan-out, else of the
                    // smallest: one reading thread's limit is in messages,
                    // whatever the fan-out); else about 200k deliveries/s,
                    // or 400 MB/s for large payloads, whichever is less.
                    let reference = params.s1_reference.as_ref().map(|r| {
                        let own = format!("s1/sub{subs}/{payload}B/sat");
                        let name = if sat.contains(&(subs, payload)) {
                            own
                        } else {
                            let smallest = sat
                                .iter()
                                .filter(|(_, p)| *p == payload)
                                .map(|(n, _)| *n)
                                .min()
                                .unwrap_or(subs);
                            format!("s1/sub{smallest}/{payload}B/sat")
                        };
                        r.get(&name)
                            .copied()
                            .ok_or_else(|| format!("--half-of has no deliveries_per_s for {name}"))
                    });
                    match reference.transpose()? {
                        Some(max) => {
                            let rate = (max / 2.0 / subs as f64).round().max(1.0);
                            s.name = format!("s1/sub{subs}/{payload}B/half");
                            s.mode = Mode::Rate { per_sec: rate };
                            s.duration = HALF_RATE_WINDOW;
                        }
                        None => {
                            let deliveries = (400e6 / payload as f64).min(200_000.0);
                            let rate = (deliveries / subs as f64).round();
                            s.name = format!("s1/sub{subs}/{payload}B/rate{rate}");
                            s.mode = Mode::Rate { per_sec: rate };
                        }
                    }
                    out.push(Case::Load(s));
                }
            }
        }
        // Many channels with one subscriber each.
        "s2" => {
            let (channels, conns) = if quick { (2000, 20) } else { (10_000, 100) };
            let mut s = load("s2", format!("s2/{channels}ch/sat"), SAT, window);
            s.channels = channels;
            s.subs = conns;
            s.chans_per_sub = channels / conns as u32;
            s.publishers = 2;
            s.warmup = warmup;
            s.duration = duration;
            out.push(Case::Load(s.clone()));
            s.name = format!("s2/{channels}ch/rate20000");
            s.mode = Mode::Rate { per_sec: 20_000.0 };
            s.headline = RATE;
            out.push(Case::Load(s));
        }
        // One exact subscriber amid K non-matching patterns.
        "s3" => {
            let ks: &[usize] = if quick {
                &[0, 1000, 10_000]
            } else {
                &[0, 100, 1000, 10_000]
            };
            for &k in ks {
                let mut s = load(
                    "s3",
                    format!("s3/patterns{k}/sat"),
                    &[
                        "publishes_per_s",
                        "server_cpu_s_per_m_deliveries",
                        "lat_p99_us",
                    ],
                    window,
                );
                s.patterns = k;
                s.warmup = warmup;
                s.duration = duration;
                out.push(Case::Load(s));
            }
        }
        // Idle subscribed connections.
        "s4" => {
            let (conns, checkpoints, headline): (usize, Vec<Duration>, &'static [&'static str]) =
                if quick {
                    (
                        2000,
                        vec![ms(1000), ms(2000)],
                        &["bytes_per_conn_1s", "bytes_per_conn_2s"],
                    )
                } else {
                    (
                        10_000,
                        vec![ms(1000), ms(10_000)],
                        &["bytes_per_conn_1s", "bytes_per_conn_10s"],
                    )
                };
            out.push(Case::Idle(IdleSpec {
                name: format!("s4/idle{conns}"),
                conns,
                checkpoints,
                headline,
            }));
        }
        // Fast subscribers with and without one that never reads.
        "s5" => {
            let (fast, payload, duration) = if quick {
                (20, 4096, ms(4000))
            } else {
                (50, 2048, ms(8000))
            };
            let headline: &'static [&'static str] = &[
                "deliveries_per_s",
                "lat_p99_us",
                "lat_p999_us",
                "server_rss_peak_mb",
                "slow_cut_after_s",
            ];
            let mut s = load("s5", format!("s5/fast{fast}/baseline"), headline, window);
            s.subs = fast;
            s.payload = payload;
            s.mode = Mode::Rate { per_sec: 5000.0 };
            s.warmup = ms(500);
            s.duration = duration;
            out.push(Case::Load(s.clone()));
            s.name = format!("s5/fast{fast}/with-slow");
            s.slow_subscriber = true;
            out.push(Case::Load(s));
        }
        // Subscription churn during a fan-out.
        "s6" => {
            let (subs, churners) = if quick { (30, 10) } else { (100, 20) };
            let mut s = load(
                "s6",
                format!("s6/sub{subs}/churn{churners}"),
                &["deliveries_per_s", "churn_ops_per_s", "lat_p99_us"],
                window,
            );
            s.subs = subs;
            s.churners = churners;
            s.warmup = warmup;
            s.duration = if quick { ms(1000) } else { ms(3000) };
            out.push(Case::Load(s));
        }
        // 1 MB messages to many subscribers.
        "s7" => {
            let (subs, count) = if quick { (100, 5) } else { (1000, 10) };
            let mut s = load(
                "s7",
                format!("s7/sub{subs}/1MB"),
                &["delivered_mb_per_s", "server_rss_peak_mb", "lat_p99_us"],
                window,
            );
            s.subs = subs;
            s.payload = 1024 * 1024;
            s.mode = Mode::Saturate { window: 1 };
            s.max_messages = Some(count);
            s.warmup = Duration::ZERO;
            s.duration = Duration::from_secs(60);
            s.drain = Duration::from_secs(30);
            out.push(Case::Load(s));
        }
        // Publish -> deliver across a cluster: one publisher and
        // subscribers on the same node ("same"), then the subscribers on the
        // peer node ("cross", with --peer-addr), at a fixed rate and
        // saturated. Against a server without a peer only "same" runs: the
        // single-node baseline.
        "c1" => {
            let rate = if quick { C1_RATE_QUICK } else { C1_RATE };
            let places: &[(&str, bool)] = if params.peer {
                &[("same", false), ("cross", true)]
            } else {
                &[("same", false)]
            };
            for &(place, on_peer) in places {
                let mut s = load(
                    "c1",
                    format!("c1/{place}/sub{C1_SUBS}/rate{rate}"),
                    RATE,
                    window,
                );
                s.subs = C1_SUBS;
                s.subs_on_peer = on_peer;
                s.warmup = warmup;
                s.duration = duration;
                s.mode = Mode::Rate { per_sec: rate };
                out.push(Case::Load(s.clone()));
                s.name = format!("c1/{place}/sub{C1_SUBS}/sat");
                s.mode = Mode::Saturate { window };
                s.headline = SAT;
                out.push(Case::Load(s));
            }
        }
        other => {
            return Err(format!(
                "unknown scenario {other:?} (known: {}, {}, all)",
                ALL.join(", "),
                CLUSTER.join(", ")
            ));
        }
    }
    Ok(out)
}

/// Checks the sizing that the comparison depends on: S1's saturated cases
/// are the (fan-outs and payloads, 2 unbraked publishers with 32
/// in flight, one reading thread, the output limit set), `--window`
/// reaches every saturating case, `--half-of` rates are half of the
/// reference's deliveries per subscriber with the longer window, and a
/// reference that lacks a case is refused.
pub fn self_test() -> Result<(), String> {
    let default = Params {
        quick: false,
        window: None,
        s1_reference: None,
        peer: false,
    };
    let quick = Params {
        quick: true,
        window: None,
        s1_reference: None,
        peer: false,
    };
    let mut sat = Vec::new();
    for case in cases("s1", &default)?
        .into_iter()
        .chain(cases("s1", &quick)?)
    {
        let Case::Load(spec) = case else { continue };
        if spec.readers != Readers::OneThread || spec.output_limit != Some(S1_OUTPUT_LIMIT) {
            return Err(format!(
                "{}: not one reading thread under the output limit",
                spec.name
            ));
        }
        if let Mode::Saturate { window } = spec.mode {
            if window != S1_SAT_WINDOW || spec.brake || spec.publishers != 2 {
                return Err(format!(
                    "{}: window {window}, brake {}, {} publishers",
                    spec.name, spec.brake, spec.publishers
                ));
            }
            if spec.warmup + spec.duration != Duration::from_secs(3) {
                return Err(format!("{}: not 3 s of publishing", spec.name));
            }
            sat.push((spec.subs, spec.payload));
        }
    }
    if sat != [(100, 16), (100, 256), (100, 4096), (1000, 16)].repeat(2) {
        return Err(format!("S1's saturated cases are {sat:?}"));
    }
    let plain = Params {
        quick: false,
        window: Some(77),
        s1_reference: None,
        peer: false,
    };
    for scenario in ALL {
        for (params, want) in [(&plain, 77), (&default, DEFAULT_WINDOW)] {
            for case in cases(scenario, params)? {
                if let Case::Load(spec) = case
                    && let Mode::Saturate { window } = spec.mode
                    && spec.scenario != "s7"
                    && !(spec.scenario == "s1" && params.window.is_none())
                    && window != want
                {
                    return Err(format!("{}: window {window}, not {want}", spec.name));
                }
            }
        }
    }
    let mut reference: HashMap<String, f64> = HashMap::new();
    for &(subs, payload) in S1_SAT {
        let name = format!("s1/sub{subs}/{payload}B/sat");
        reference.insert(name, (subs * 2000 + payload) as f64);
    }
    let mut half = Params {
        quick: false,
        window: Some(77),
        s1_reference: Some(reference.clone()),
        peer: false,
    };
    let mut seen = 0;
    for case in cases("s1", &half)? {
        let Case::Load(spec) = case else { continue };
        let Mode::Rate { per_sec } = spec.mode else {
            continue;
        };
        // The 1,000-subscriber cases without a saturated case of their own
        // take the 100-subscriber one's deliveries/s.
        let ref_subs = if S1_SAT.contains(&(spec.subs, spec.payload)) {
            spec.subs
        } else {
            100
        };
        let expected = ((ref_subs * 2000 + spec.payload) as f64 / 2.0 / spec.subs as f64).round();
        if !spec.name.ends_with("/half") || per_sec != expected || spec.duration != HALF_RATE_WINDOW
        {
            return Err(format!(
                "{}: {per_sec}/s for {:?}, expected {expected}/s for {HALF_RATE_WINDOW:?}",
                spec.name, spec.duration
            ));
        }
        seen += 1;
    }
    if seen != 6 {
        return Err(format!("{seen} fixed-rate S1 cases at half, expected 6"));
    }
    reference.remove("s1/sub100/256B/sat");
    half.s1_reference = Some(reference);
    if cases("s1", &half).is_ok() {
        return Err("a reference without s1/sub100/256B/sat was accepted".into());
    }
    // C1: without a peer only same-node cases; with one, each same-node
    // case has a cross-node twin of the same size and mode.
    let c1 = |peer: bool| -> Result<Vec<LoadSpec>, String> {
        let p = Params {
            quick: false,
            window: None,
            s1_reference: None,
            peer,
        };
        Ok(cases("c1", &p)?
            .into_iter()
            .filter_map(|c| match c {
                Case::Load(s) => Some(s),
                Case::Idle(_) => None,
            })
            .collect())
    };
    let alone = c1(false)?;
    if alone.is_empty() || alone.iter().any(|s| s.subs_on_peer) {
        return Err("c1 without a peer has cross-node cases".into());
    }
    let both = c1(true)?;
    let (cross, same): (Vec<_>, Vec<_>) = both.iter().partition(|s| s.subs_on_peer);
    if same.len() != alone.len() || cross.len() != same.len() {
        return Err(format!(
            "c1 with a peer: {} same-node and {} cross-node cases",
            same.len(),
            cross.len()
        ));
    }
    for (a, b) in same.iter().zip(&cross) {
        let (ma, mb) = (format!("{:?}", a.mode), format!("{:?}", b.mode));
        if a.name.replace("/same/", "/cross/") != b.name || ma != mb || a.subs != b.subs {
            return Err(format!("{} and {} differ", a.name, b.name));
        }
    }
    Ok(())
}

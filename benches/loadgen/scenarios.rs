//! The scenarios S1–S7 as data, full size and `--quick`.

use std::collections::HashMap;
use std::time::Duration;

use crate::case::{IdleSpec, LoadSpec, Mode};

/// Every scenario, in the order `all` runs them.
pub const ALL: &[&str] = &["s1", "s2", "s3", "s4", "s5", "s6", "s7"];

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
/// the rate: with 128 (the window up to session 5) neither server used its
/// CPU in S2 or S3 (Redis 0.88-0.93 of its one core, pubsubd 1.0 of the
/// 1.45 cores the generator leaves) and Redis's own S3 rate was 40% of what
/// it delivers with 1,024. StackExchange.Redis, the SignalR client, sets no
/// such limit at all. BENCHMARKS.md has the sweep.
pub const DEFAULT_WINDOW: usize = 1024;

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
        churners: 0,
        drain: ms(5000),
        headline,
    }
}

/// How a run's cases are sized.
pub struct Params {
    /// Smaller sizes and shorter runs.
    pub quick: bool,
    /// Saturating publishers keep at most this many PUBLISHes unanswered.
    pub window: usize,
    /// Saturated S1 deliveries/s of a reference server by case name
    /// (`--half-of`): S1's fixed-rate cases then run at half of them, as the
    /// issue's "fixed rate at half of Redis's maximum" asks.
    pub s1_reference: Option<HashMap<String, f64>>,
}

/// The cases of `scenario` sized by `params`.
pub fn cases(scenario: &str, params: &Params) -> Result<Vec<Case>, String> {
    let (quick, window) = (params.quick, params.window);
    let (warmup, duration) = if quick {
        (ms(200), ms(800))
    } else {
        (ms(500), ms(2000))
    };
    let mut out = Vec::new();
    match scenario {
        // 1 channel, many subscribers, three payload sizes, both modes.
        "s1" => {
            let sizes: &[usize] = if quick { &[50, 200] } else { &[100, 1000] };
            for &subs in sizes {
                for &payload in &[16usize, 256, 4096] {
                    let mut s = load("s1", format!("s1/sub{subs}/{payload}B/sat"), SAT, window);
                    s.subs = subs;
                    s.payload = payload;
                    s.publishers = 2;
                    s.warmup = warmup;
                    s.duration = duration;
                    out.push(Case::Load(s.clone()));
                    // Fixed rate: half of the reference server's saturated
                    // deliveries/s when one is given; else about 200k
                    // deliveries/s, or 400 MB/s for large payloads,
                    // whichever is less.
                    let reference = params.s1_reference.as_ref().map(|r| {
                        r.get(&s.name).copied().ok_or_else(|| {
                            format!("--half-of has no deliveries_per_s for {}", s.name)
                        })
                    });
                    match reference.transpose()? {
                        Some(max) => {
                            let rate = (max / 2.0 / subs as f64).round().max(1.0);
                            s.name = format!("s1/sub{subs}/{payload}B/half");
                            s.mode = Mode::Rate { per_sec: rate };
                            // At these rates the machine is nearly full and
                            // a 2 s window's p99 moves 2-5x between repeats.
                            if !quick {
                                s.duration = HALF_RATE_WINDOW;
                            }
                        }
                        None => {
                            let deliveries = (400e6 / payload as f64).min(200_000.0);
                            let rate = (deliveries / subs as f64).round();
                            s.name = format!("s1/sub{subs}/{payload}B/rate{rate}");
                            s.mode = Mode::Rate { per_sec: rate };
                        }
                    }
                    s.headline = RATE;
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
        other => {
            return Err(format!(
                "unknown scenario {other:?} (known: {}, all)",
                ALL.join(", ")
            ));
        }
    }
    Ok(out)
}

/// Checks the sizing that the comparison depends on: the window reaches
/// every saturating case, `--half-of` rates are half of the reference's
/// deliveries per subscriber with the longer window, and a reference that
/// lacks a case is refused.
pub fn self_test() -> Result<(), String> {
    let plain = Params {
        quick: false,
        window: 77,
        s1_reference: None,
    };
    for scenario in ALL {
        for case in cases(scenario, &plain)? {
            if let Case::Load(spec) = case
                && let Mode::Saturate { window } = spec.mode
                && window != 77
                && spec.scenario != "s7"
            {
                return Err(format!("{}: window {window}, not the run's 77", spec.name));
            }
        }
    }
    let mut reference: HashMap<String, f64> = HashMap::new();
    for subs in [100usize, 1000] {
        for payload in [16usize, 256, 4096] {
            let name = format!("s1/sub{subs}/{payload}B/sat");
            reference.insert(name, (subs * 2000 + payload) as f64);
        }
    }
    let mut half = Params {
        quick: false,
        window: 77,
        s1_reference: Some(reference.clone()),
    };
    let mut seen = 0;
    for case in cases("s1", &half)? {
        let Case::Load(spec) = case else { continue };
        let Mode::Rate { per_sec } = spec.mode else {
            continue;
        };
        let expected = ((spec.subs * 2000 + spec.payload) as f64 / 2.0 / spec.subs as f64).round();
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
    reference.remove("s1/sub1000/256B/sat");
    half.s1_reference = Some(reference);
    if cases("s1", &half).is_ok() {
        return Err("a reference without s1/sub1000/256B/sat was accepted".into());
    }
    Ok(())
}

//! Counters behind INFO, and the instantaneous ops/sec sampler.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::commands::table::{COMMANDS, Command};

/// Number of samples averaged for `instantaneous_*` fields (as Redis).
const SAMPLES: usize = 16;

/// Server-wide counters. All reset by CONFIG RESETSTAT.
#[derive(Default)]
pub struct Stats {
    /// Connections accepted (including those then refused).
    pub connections_received: AtomicU64,
    /// Commands executed.
    pub commands_processed: AtomicU64,
    /// Connections refused for `maxclients`.
    pub rejected_connections: AtomicU64,
    /// Clients closed for exceeding their output buffer limits.
    pub output_limit_disconnections: AtomicU64,
    /// Clients closed for exceeding the query buffer limit.
    pub query_limit_disconnections: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Error replies sent.
    pub error_replies: AtomicU64,
    /// Messages delivered by PUBLISH/SPUBLISH (receivers summed).
    pub pubsub_deliveries: AtomicU64,
    /// Times flow control paused a publisher (INFO `publish_pauses`).
    pub publish_pauses: AtomicU64,
    /// Microseconds publishers spent paused (INFO `publish_paused_usec`).
    pub publish_paused_us: AtomicU64,
    /// Pauses that ended at their bound, not because the receivers drained
    /// (INFO `publish_pause_timeouts`).
    pub publish_pause_timeouts: AtomicU64,
    /// Per-command calls, time, rejections, failures and latencies (INFO
    /// `commandstats`, `latencystats`).
    pub commands: CommandStats,
    /// Error replies by their first word (INFO `errorstats`).
    errors: Mutex<BTreeMap<String, u64>>,
    sampler: Mutex<Sampler>,
}

#[derive(Default)]
struct Sampler {
    last: Option<(Instant, u64, u64, u64)>,
    ops: [f64; SAMPLES],
    input: [f64; SAMPLES],
    output: [f64; SAMPLES],
    idx: usize,
}

impl Stats {
    /// Adds one to `counter`.
    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads `counter`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for c in [
            &self.connections_received,
            &self.commands_processed,
            &self.rejected_connections,
            &self.output_limit_disconnections,
            &self.query_limit_disconnections,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.error_replies,
            &self.pubsub_deliveries,
            &self.publish_pauses,
            &self.publish_paused_us,
            &self.publish_pause_timeouts,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        if let Ok(mut s) = self.sampler.lock() {
            *s = Sampler::default();
        }
        if let Ok(mut e) = self.errors.lock() {
            e.clear();
        }
        self.commands.reset();
    }

    /// Counts one error reply under its prefix (the text up to the first
    /// space, as Redis's `errorstat_*`; "ERR" when there is none in the first
    /// [`ERROR_PREFIX_MAX`] bytes). At most [`ERRORSTATS_LIMIT`] prefixes are
    /// kept; errors with a new prefix beyond that count only in
    /// `total_error_replies`.
    pub fn count_error(&self, text: &[u8]) {
        let head = &text[..text.len().min(ERROR_PREFIX_MAX)];
        let prefix = match head.iter().position(|&b| b == b' ') {
            Some(end) if end > 0 => String::from_utf8_lossy(&head[..end]).into_owned(),
            _ => "ERR".to_string(),
        };
        let Ok(mut errors) = self.errors.lock() else {
            return;
        };
        if let Some(n) = errors.get_mut(&prefix) {
            *n += 1;
        } else if errors.len() < ERRORSTATS_LIMIT {
            errors.insert(prefix, 1);
        }
    }

    /// The error prefixes and their counts, in byte order (as Redis lists
    /// them).
    pub fn error_counts(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .map(|e| e.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// Takes one sample of the rates (called by the sweep ~10 times a second).
    pub fn sample(&self, now: Instant) {
        let cur = (
            Stats::get(&self.commands_processed),
            Stats::get(&self.net_input_bytes),
            Stats::get(&self.net_output_bytes),
        );
        let Ok(mut s) = self.sampler.lock() else {
            return;
        };
        if let Some((t, c, i, o)) = s.last {
            let dt = now.duration_since(t).as_secs_f64();
            if dt > 0.0 {
                let idx = s.idx;
                s.ops[idx] = cur.0.saturating_sub(c) as f64 / dt;
                s.input[idx] = cur.1.saturating_sub(i) as f64 / dt;
                s.output[idx] = cur.2.saturating_sub(o) as f64 / dt;
                s.idx = (idx + 1) % SAMPLES;
            }
        }
        s.last = Some((now, cur.0, cur.1, cur.2));
    }

    /// (ops/sec, input KB/s, output KB/s) averaged over recent samples.
    pub fn instantaneous(&self) -> (u64, f64, f64) {
        let Ok(s) = self.sampler.lock() else {
            return (0, 0.0, 0.0);
        };
        let avg = |a: &[f64; SAMPLES]| a.iter().sum::<f64>() / SAMPLES as f64;
        (
            avg(&s.ops).round() as u64,
            avg(&s.input) / 1024.0,
            avg(&s.output) / 1024.0,
        )
    }
}

/// Bytes of an error reply searched for the space ending its prefix
/// (Redis searches 32 bytes, the leading `-` included).
pub const ERROR_PREFIX_MAX: usize = 31;

/// Most distinct error prefixes INFO `errorstats` keeps, so clients cannot
/// grow the table without bound with made-up error codes (from scripts'
/// `redis.error_reply`). Not configurable.
pub const ERRORSTATS_LIMIT: usize = 128;

/// Shards of the per-command counters: a connection updates the shard its
/// client id picks, so workers running the same command (PUBLISH at
/// millions a second) mostly touch different cache lines. INFO sums them.
pub const COMMAND_STAT_SHARDS: usize = 4;

/// Sub-buckets per power of two in a latency histogram: a recorded
/// latency is known to within a quarter of its power of two.
const LATENCY_SUB_BUCKETS: u64 = 4;

/// Powers of two of nanoseconds a latency histogram covers: 2^30 ns is
/// just over Redis's 1 s histogram maximum; longer calls count in the last
/// bucket.
const LATENCY_OCTAVES: u64 = 31;

/// Buckets of one latency histogram: values below [`LATENCY_SUB_BUCKETS`]
/// ns get one each, every further power of two [`LATENCY_SUB_BUCKETS`]. The
/// memory of the per-command statistics is this many counters (plus four)
/// per command and subcommand per shard.
pub const LATENCY_BUCKETS: usize = (LATENCY_SUB_BUCKETS * (LATENCY_OCTAVES - 1)) as usize;

/// The latency percentiles INFO `latencystats` reports by default (Redis's
/// default `latency-tracking-info-percentiles`).
pub const LATENCY_PERCENTILES: &[f64] = &[50.0, 99.0, 99.9];

/// The histogram bucket of a latency of `ns` nanoseconds.
fn latency_bucket(ns: u64) -> usize {
    let top = (LATENCY_OCTAVES - 1) as u32;
    let octave = (63 - (ns | 1).leading_zeros()).min(top);
    let idx = if octave < 2 {
        ns
    } else if octave == top && ns >> top > 1 {
        // Past the last power of two: the last bucket.
        LATENCY_BUCKETS as u64 - 1
    } else {
        LATENCY_SUB_BUCKETS * u64::from(octave - 1) + ((ns >> (octave - 2)) - LATENCY_SUB_BUCKETS)
    };
    (idx as usize).min(LATENCY_BUCKETS - 1)
}

/// The highest latency (ns) that falls in bucket `idx`, which INFO reports
/// for a percentile landing there (as HdrHistogram reports the highest
/// equivalent value).
fn bucket_high(idx: usize) -> u64 {
    let idx = idx as u64;
    if idx < LATENCY_SUB_BUCKETS {
        return idx;
    }
    let octave = idx / LATENCY_SUB_BUCKETS + 1;
    let sub = idx % LATENCY_SUB_BUCKETS;
    let width = 1u64 << (octave - 2);
    ((LATENCY_SUB_BUCKETS + sub) << (octave - 2)) + width - 1
}

/// One command's counters in one shard.
struct Counters {
    calls: AtomicU64,
    usec: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    latency: Box<[AtomicU64]>,
}

impl Counters {
    fn new() -> Self {
        Counters {
            calls: AtomicU64::new(0),
            usec: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency: (0..LATENCY_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// One command's statistics, summed over the shards.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CommandStat {
    /// Redis's full name: `get`, `client|list`.
    pub name: String,
    /// Times it ran.
    pub calls: u64,
    /// Microseconds it ran, in total.
    pub usec: u64,
    /// Times it was refused before running (arity, authentication, OOM...).
    pub rejected_calls: u64,
    /// Times it ran and replied with an error.
    pub failed_calls: u64,
    /// The latency histogram's counts, by bucket.
    latency: Vec<u64>,
}

impl CommandStat {
    /// The latency (µs) at `percentile` (0-100), or None when nothing was
    /// recorded.
    pub fn latency_usec(&self, percentile: f64) -> Option<f64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let wanted = ((percentile / 100.0) * total as f64).round().max(1.0) as u64;
        let mut seen = 0;
        for (idx, n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                return Some(bucket_high(idx) as f64 / 1000.0);
            }
        }
        Some(bucket_high(LATENCY_BUCKETS - 1) as f64 / 1000.0)
    }
}

/// LATENCY HISTOGRAM's first step: Redis reports its histograms from
/// 1,024 ns on, doubling (HdrHistogram's logarithmic iteration).
const HISTOGRAM_FIRST_STEP_NS: u64 = 1024;
/// Redis's histograms keep two significant figures, so a step's label is
/// the highest value equivalent to its bound: the bound plus 1/128 of it,
/// less one.
const HISTOGRAM_STEP_RESOLUTION_SHIFT: u32 = 7;

impl CommandStat {
    /// LATENCY HISTOGRAM's `histogram_usec`: (step label in µs, calls at
    /// most that slow), for each doubling step from 1,024 ns on where the
    /// count grew, until every call is counted. A call is counted at the
    /// first step whose bound is not below its bucket of this histogram
    /// (a quarter of a power of two wide), so one slower than a step's
    /// bound by less than Redis's resolution there counts one step later.
    pub fn histogram_usec(&self) -> Vec<(u64, u64)> {
        let total: u64 = self.latency.iter().sum();
        let mut out = Vec::new();
        let (mut counted, mut idx) = (0u64, 0usize);
        let mut bound = HISTOGRAM_FIRST_STEP_NS;
        while counted < total {
            let before = counted;
            while idx < self.latency.len() && bucket_high(idx) < bound {
                counted += self.latency[idx];
                idx += 1;
            }
            if idx == self.latency.len() {
                // The last bucket holds everything slower still.
                counted = total;
            }
            if counted > before {
                let label = bound + (bound >> HISTOGRAM_STEP_RESOLUTION_SHIFT) - 1;
                out.push((label / 1000, counted));
            }
            bound = bound.saturating_mul(2);
        }
        out
    }
}

/// The statistics slot of every command and subcommand: the table's
/// commands first, then each container's subcommands.
pub struct CommandStats {
    /// Slot of each top-level command's first subcommand.
    sub_base: Vec<usize>,
    /// `[shard][slot]`.
    shards: Vec<Vec<Counters>>,
}

impl Default for CommandStats {
    fn default() -> Self {
        let mut sub_base = Vec::with_capacity(COMMANDS.len());
        let mut next = COMMANDS.len();
        for c in COMMANDS {
            sub_base.push(next);
            next += c.subcommands.len();
        }
        let shards = (0..COMMAND_STAT_SHARDS)
            .map(|_| (0..next).map(|_| Counters::new()).collect())
            .collect();
        CommandStats { sub_base, shards }
    }
}

/// Position of `item` in `slice`, by address.
fn position(slice: &'static [Command], item: &'static Command) -> Option<usize> {
    let size = std::mem::size_of::<Command>();
    let offset = (std::ptr::from_ref(item) as usize).checked_sub(slice.as_ptr() as usize)?;
    (offset % size == 0 && offset / size < slice.len()).then_some(offset / size)
}

/// The slot of the table entry `cmd` (subcommand of `parent`, if given).
fn slot(
    sub_base: &[usize],
    cmd: &'static Command,
    parent: Option<&'static Command>,
) -> Option<usize> {
    match parent {
        None => position(COMMANDS, cmd),
        Some(p) => {
            let base = sub_base.get(position(COMMANDS, p)?)?;
            Some(base + position(p.subcommands, cmd)?)
        }
    }
}

impl CommandStats {
    fn counters(
        &self,
        shard: u64,
        cmd: &'static Command,
        parent: Option<&'static Command>,
    ) -> Option<&Counters> {
        let shard = self.shards.get(shard as usize % COMMAND_STAT_SHARDS)?;
        shard.get(slot(&self.sub_base, cmd, parent)?)
    }

    /// Counts one run of `cmd` that took `ns` nanoseconds and replied with
    /// an error if `failed`, in its latency histogram too if `latency`
    /// (`latency-tracking`); `shard` is any number stable per connection
    /// (its client id).
    pub fn record(
        &self,
        shard: u64,
        cmd: &'static Command,
        parent: Option<&'static Command>,
        ns: u64,
        failed: bool,
        latency: bool,
    ) {
        let Some(c) = self.counters(shard, cmd, parent) else {
            return;
        };
        c.calls.fetch_add(1, Ordering::Relaxed);
        c.usec.fetch_add(ns / 1000, Ordering::Relaxed);
        if latency && let Some(b) = c.latency.get(latency_bucket(ns)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        if failed {
            c.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one refusal of `cmd` before it ran.
    pub fn reject(&self, shard: u64, cmd: &'static Command, parent: Option<&'static Command>) {
        if let Some(c) = self.counters(shard, cmd, parent) {
            c.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Zeroes every counter (CONFIG RESETSTAT).
    fn reset(&self) {
        for shard in &self.shards {
            for c in shard {
                for a in [&c.calls, &c.usec, &c.rejected, &c.failed] {
                    a.store(0, Ordering::Relaxed);
                }
                for b in c.latency.iter() {
                    b.store(0, Ordering::Relaxed);
                }
            }
        }
    }

    /// The summed statistics of `cmd`.
    fn sum(&self, cmd: &'static Command, parent: Option<&'static Command>) -> CommandStat {
        let mut out = CommandStat {
            name: match parent {
                Some(p) => format!("{}|{}", p.name, cmd.name),
                None => cmd.name.to_string(),
            },
            latency: vec![0; LATENCY_BUCKETS],
            ..CommandStat::default()
        };
        for shard in 0..COMMAND_STAT_SHARDS as u64 {
            let Some(c) = self.counters(shard, cmd, parent) else {
                continue;
            };
            out.calls += c.calls.load(Ordering::Relaxed);
            out.usec += c.usec.load(Ordering::Relaxed);
            out.rejected_calls += c.rejected.load(Ordering::Relaxed);
            out.failed_calls += c.failed.load(Ordering::Relaxed);
            for (sum, b) in out.latency.iter_mut().zip(c.latency.iter()) {
                *sum += b.load(Ordering::Relaxed);
            }
        }
        out
    }

    /// Every command and subcommand that ran, was refused or failed since
    /// the start or the last CONFIG RESETSTAT, in table order (a container
    /// before its subcommands).
    pub fn used(&self) -> Vec<CommandStat> {
        let mut out = Vec::new();
        for c in COMMANDS {
            let mut add = |cmd: &'static Command, parent: Option<&'static Command>| {
                let st = self.sum(cmd, parent);
                if st.calls > 0 || st.rejected_calls > 0 || st.failed_calls > 0 {
                    out.push(st);
                }
            };
            add(c, None);
            for sub in c.subcommands {
                add(sub, Some(c));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's labels (1, 2, 4, ..., 33, 66, 132 µs) with cumulative
    /// counts, only where they grow, ending with every call.
    #[test]
    fn histogram_steps_are_redis_labels_with_cumulative_counts() {
        let mut st = CommandStat {
            latency: vec![0; LATENCY_BUCKETS],
            ..CommandStat::default()
        };
        assert!(st.histogram_usec().is_empty());
        for ns in [300, 900, 1500, 1500, 30_000, 120_000, 5_000_000_000] {
            st.latency[latency_bucket(ns)] += 1;
        }
        let steps = st.histogram_usec();
        assert_eq!(&steps[..4], &[(1, 2), (2, 4), (33, 5), (132, 6)]);
        assert_eq!(
            steps.last().map(|s| s.1),
            Some(7),
            "the slowest is counted last"
        );
        assert!(steps.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    }

    #[test]
    fn latency_buckets_cover_their_values_in_order() {
        let mut last = 0;
        for ns in [
            0u64,
            1,
            3,
            4,
            7,
            8,
            9,
            15,
            16,
            1000,
            1023,
            1024,
            999_999,
            1 << 29,
        ] {
            let b = latency_bucket(ns);
            assert!(b >= last, "{ns}");
            assert!(bucket_high(b) >= ns, "{ns} above its bucket's top");
            if b > 0 {
                assert!(bucket_high(b - 1) < ns, "{ns} belongs lower");
            }
            last = b;
        }
        assert_eq!(latency_bucket(u64::MAX), LATENCY_BUCKETS - 1);
        assert_eq!(latency_bucket(1 << 31), LATENCY_BUCKETS - 1);
    }

    #[test]
    fn every_command_and_subcommand_has_its_own_slot() {
        let stats = CommandStats::default();
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            assert!(seen.insert(slot(&stats.sub_base, c, None)));
            for sub in c.subcommands {
                let s = slot(&stats.sub_base, sub, Some(c));
                assert!(s.is_some() && seen.insert(s), "{}|{}", c.name, sub.name);
            }
        }
    }

    #[test]
    fn percentiles_come_from_the_recorded_latencies() {
        let stats = CommandStats::default();
        let get = &COMMANDS[0];
        for i in 0..100u64 {
            let ns = if i < 99 { 1000 } else { 1_000_000 };
            stats.record(i, get, None, ns, i == 0, true);
        }
        let st = stats.used().into_iter().next().unwrap_or_default();
        assert_eq!((st.calls, st.failed_calls), (100, 1));
        let p50 = st.latency_usec(50.0).unwrap_or(0.0);
        assert!((1.0..1.2).contains(&p50), "{p50}");
        let p999 = st.latency_usec(99.9).unwrap_or(0.0);
        assert!((1000.0..1200.0).contains(&p999), "{p999}");
        stats.reset();
        assert!(stats.used().is_empty());
    }
}

//! Counters behind INFO, and the instantaneous ops/sec sampler.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

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

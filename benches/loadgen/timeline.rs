//! A case's course in steps of [`STEP`]: deliveries, publishes, the
//! subscribers still connected and the server's RSS (`run --timeline`), to
//! see when and how a server under saturation falls behind or cuts its
//! subscribers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::procstat::rss_bytes;
use crate::subscriber::Tally;

/// Sampling step of the timeline.
pub const STEP: Duration = Duration::from_millis(100);

/// Most rows kept (10 minutes at [`STEP`]); a case lasts far less.
const MAX_ROWS: usize = 6000;

/// One step of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Seconds since the publishers started (the end of the step).
    pub t_s: f64,
    /// Messages received by all subscribers during the step.
    pub delivered: u64,
    /// PUBLISHes written during the step.
    pub published: u64,
    /// Subscribers still connected at the end of the step.
    pub connected: i64,
    /// The server's RSS at the end of the step, MB (None without a pid).
    pub rss_mb: Option<f64>,
}

/// Samples a case's [`Tally`] and the server's RSS on a thread of its own
/// (the generator's runtime may be busy), from `origin` until stopped.
pub struct Timeline {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Row>>>,
}

impl Timeline {
    /// Starts sampling; rows are timed from `origin`.
    pub fn start(pid: Option<u32>, tally: Arc<Tally>, origin: Instant) -> Result<Timeline, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("loadgen-timeline".into())
            .spawn(move || {
                let mut rows = Vec::new();
                let (mut delivered, mut published) = (0u64, 0u64);
                let mut next = origin;
                while !flag.load(Ordering::Relaxed) && rows.len() < MAX_ROWS {
                    next += STEP;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    let d = tally.delivered.load(Ordering::Relaxed);
                    let p = tally.published.load(Ordering::Relaxed);
                    rows.push(Row {
                        t_s: origin.elapsed().as_secs_f64(),
                        delivered: d - delivered,
                        published: p - published,
                        connected: tally.connected.load(Ordering::Relaxed),
                        rss_mb: rss_bytes(pid).map(|b| b as f64 / 1e6),
                    });
                    (delivered, published) = (d, p);
                }
                rows
            })
            .map_err(|e| format!("cannot start the timeline thread: {e}"))?;
        Ok(Timeline {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops sampling and returns the rows.
    pub fn finish(mut self) -> Vec<Row> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Timeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! Logging: tracing with the level from `loglevel` (changeable at run time
//! with CONFIG SET) unless `RUST_LOG` is set, written to `logfile` or
//! standard output; and a rate limiter for warnings a client can trigger at
//! will, so a flood of bad requests cannot fill the disk.

use std::fs::OpenOptions;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, LogLevel};

/// Changes the log level of a running server.
pub struct LogControl {
    handle: reload::Handle<EnvFilter, tracing_subscriber::Registry>,
    /// RUST_LOG was set: it wins over `loglevel`.
    env_override: bool,
}

impl LogControl {
    /// Applies `level`, unless RUST_LOG decides.
    pub fn set_level(&self, level: LogLevel) {
        if !self.env_override {
            let _ = self
                .handle
                .reload(EnvFilter::new(level.tracing_directive()));
        }
    }
}

/// Installs the global subscriber for `config`. Returns an error naming the
/// log file if it cannot be opened.
pub fn init(config: &Config) -> Result<LogControl, String> {
    let env = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty());
    let filter = match &env {
        Some(v) => EnvFilter::new(v),
        None => EnvFilter::new(config.loglevel.tracing_directive()),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match &config.logfile {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("can't open the log file {}: {e}", path.display()))?;
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_target(false)
                        .with_writer(Mutex::new(file)),
                )
                .try_init()
                .map_err(|e| e.to_string())?;
        }
        None => {
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_target(false)
                        .with_writer(std::io::stdout),
                )
                .try_init()
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(LogControl {
        handle,
        env_override: env.is_some(),
    })
}

/// Allows at most [`RateLimiter::PER_WINDOW`] events per window and counts
/// the rest.
pub struct RateLimiter {
    state: Mutex<(Instant, u32, u64)>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            state: Mutex::new((Instant::now(), 0, 0)),
        }
    }
}

impl RateLimiter {
    /// Events logged per window.
    pub const PER_WINDOW: u32 = 10;
    /// Window length.
    pub const WINDOW: Duration = Duration::from_secs(10);

    /// Some(n) when this event may be logged, with n events suppressed since
    /// the last one logged; None when it must be dropped.
    pub fn allow(&self) -> Option<u64> {
        let Ok(mut s) = self.state.lock() else {
            return None;
        };
        let now = Instant::now();
        if now.duration_since(s.0) >= Self::WINDOW {
            s.0 = now;
            s.1 = 0;
        }
        if s.1 < Self::PER_WINDOW {
            s.1 += 1;
            let suppressed = s.2;
            s.2 = 0;
            Some(suppressed)
        } else {
            s.2 += 1;
            None
        }
    }
}

//! The `pubsubd` binary: parse the configuration, start logging, run the
//! server until shutdown.

use std::process::ExitCode;
use std::sync::Arc;

use pubsubd::config::{Config, Startup};
use pubsubd::shared::Shared;

/// The longest the process waits, once the server has shut down, for work
/// still running on the runtime's threads (a script that cannot be killed).
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Every this many scheduler ticks a runtime worker takes its next task
/// from the shared queue before its own. A publish to a channel with many
/// subscribers wakes them all at once; a worker's own queue holds 256 and
/// the rest go to the shared queue, which tokio's default (about every 31
/// ticks, self-tuned) then serves last, so a few subscribers of every
/// message wait a whole round longer. At 2 the two queues take turns: S1's
/// fixed-rate case with 1,000 subscribers went from a p99 of 19.2-23.3 ms
/// to 14.3-19.1 ms (four alternating runs each), S2 2.50 -> 2.57-2.64 M
/// deliveries/s, S1's saturated cases, S3 and S6 unchanged. (1 starves a
/// worker's own queue: p99 236 ms; 4 and 7 bought little.)
const GLOBAL_QUEUE_INTERVAL: u32 = 2;

/// jemalloc gives freed memory back to the kernel (glibc's malloc kept most
/// of a flushed keyspace resident). Its options are compiled in from
/// `JEMALLOC_SYS_WITH_MALLOC_CONF` in `.cargo/config.toml`: background
/// threads purge while the server is idle, and pages unused for about a
/// second (`dirty_decay_ms:1000`) are returned.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Makes sure jemalloc's background purging threads run, even in a build
/// made without the repository's `.cargo/config.toml` (freed memory is then
/// returned after jemalloc's default 10 s), and logs the allocator's
/// settings as read back from it, so the log shows what is in force.
fn start_allocator_purging() {
    use tikv_jemalloc_ctl::{background_thread, config, version};
    // The strings come back with their C terminator.
    let compiled = config::malloc_conf::read()
        .unwrap_or("")
        .trim_end_matches('\0');
    let mut running = background_thread::read().unwrap_or(false);
    if !running {
        running = background_thread::write(true).is_ok() && background_thread::read() == Ok(true);
    }
    let release = version::read().unwrap_or("unknown").trim_end_matches('\0');
    if running {
        tracing::info!(
            "allocator: jemalloc {release}, background purging on, malloc_conf \"{compiled}\""
        );
    } else {
        tracing::warn!(
            "allocator: jemalloc {release} could not start its background purging threads; freed memory is returned only while the server is busy (malloc_conf \"{compiled}\")"
        );
    }
}

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args_os().skip(1)) {
        Ok(Startup::Run(config)) => config,
        Ok(Startup::Exit { text, code }) => {
            if code == 0 {
                println!("{text}");
            } else {
                eprintln!("{text}");
            }
            return ExitCode::from(code.clamp(0, 255) as u8);
        }
        Err(e) => {
            eprintln!("pubsubd: fatal config error: {e}");
            return ExitCode::from(1);
        }
    };
    // Redis moves to `dir` while reading its configuration, before it opens
    // any file, so every relative path in the configuration is under `dir`.
    if let Some(dir) = &config.dir
        && let Err(e) = std::env::set_current_dir(dir)
    {
        eprintln!(
            "pubsubd: fatal config error: Can't chdir to '{}': {e}",
            dir.display()
        );
        return ExitCode::from(1);
    }
    let log_control = match pubsubd::logging::init(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pubsubd: {e}");
            return ExitCode::from(1);
        }
    };
    start_allocator_purging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .global_queue_interval(GLOBAL_QUEUE_INTERVAL)
        .worker_threads(config.io_threads() as usize)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pubsubd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut shared = Shared::new(config.clone(), Some(log_control));
    shared.config_file = config.config_file.clone();
    let shared = Arc::new(shared);
    let outcome = runtime.block_on(pubsubd::server::run(config, shared));
    // A script spinning inside Lua's C code (a backtracking pattern), where
    // no hook runs, cannot be stopped; it must not hold the exit.
    runtime.shutdown_timeout(EXIT_GRACE);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("pubsubd: {e}");
            ExitCode::from(1)
        }
    }
}

//! # loadgen: a pub/sub load generator for any Redis-compatible server
//!
//! ```sh
//! cargo bench --bench loadgen -- run --addr 127.0.0.1:6379 --pid <server pid> \
//!     --json out.json [--quick] [--window N] [--half-of redis-s1.json] \
//!     [--filter TEXT] [--timeline] [--peer-addr HOST:PORT] [--tls-ca ca.crt] \
//!     [s1 s2 ... | all | c1]
//! cargo bench --bench loadgen -- report --dir <dir with run JSON files>
//! ```
//!
//! `benches/compare.sh` runs it against pubsubd and Redis and prints the
//! comparison; BENCHMARKS.md explains the scenarios and the figures.
//!
//! ## Components
//! - `payload`: the 16-byte header every payload starts with (publisher,
//!   channel, sequence, send time) and the clock.
//! - `resp`: the generator's own RESP2 encoder and readers, built so the
//!   generator is not the bottleneck (one buffer, no allocation per message,
//!   oversized payloads skipped after their header).
//! - `subscriber`: connect and subscribe; count, check order, record
//!   latency; read on the runtime or all on one thread.
//! - `publisher`: saturating (pipelined window) and fixed-rate (open loop).
//! - `case`: one case end to end, every phase under a deadline.
//! - `scenarios`: S1–S7, and C1 for a cluster (`benches/cluster.sh`), as
//!   data.
//! - `procstat`: the server's and the generator's CPU and RSS from /proc.
//! - `tls`: every connection over TLS (`--tls-ca`), async and blocking.
//! - `timeline`: a case's deliveries, publishes, connected subscribers and
//!   server RSS every 100 ms (`--timeline`).
//! - `report`: verdicts (a cut subscriber or a lost message FAILS a case),
//!   JSON, the stdout table, and the cross-run comparison.

mod case;
mod control;
mod payload;
mod procstat;
mod publisher;
mod report;
mod resp;
mod scenarios;
mod subscriber;
mod timeline;
mod tls;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use case::Target;
use report::CaseResult;
use scenarios::Case;

/// Exit status when some case FAILED (cut subscribers, lost, reordered or
/// unexpected results).
const EXIT_PROBLEMS: u8 = 3;

/// Load generator for Redis-compatible pub/sub servers.
#[derive(Parser)]
#[command(name = "loadgen")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against a server.
    Run {
        /// Server address (host:port).
        #[arg(long, default_value = "127.0.0.1:6379")]
        addr: String,
        /// Another node of the same pubsubd cluster (host:port): C1's
        /// cross-node cases subscribe there and publish on --addr.
        #[arg(long)]
        peer_addr: Option<String>,
        /// Server pid, for its CPU time and RSS.
        #[arg(long)]
        pid: Option<u32>,
        /// Write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Name of the server in the JSON (e.g. pubsubd, redis).
        #[arg(long, default_value = "server")]
        label: String,
        /// Smaller sizes and shorter runs.
        #[arg(long)]
        quick: bool,
        /// Only cases whose name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Saturating publishers keep at most this many PUBLISHes unanswered
        /// (default: 32 in S1, as the issue's generator; 1024 elsewhere).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        window: Option<u32>,
        /// Print (and keep in the JSON) each load case's deliveries,
        /// publishes, connected subscribers and server RSS every 100 ms;
        /// pick one case with --filter.
        #[arg(long)]
        timeline: bool,
        /// A run JSON of the reference server's saturated S1 cases: S1's
        /// fixed-rate cases then publish at half of its deliveries/s
        /// (cases named `.../half`).
        #[arg(long)]
        half_of: Option<PathBuf>,
        /// Connect over TLS, trusting the CA certificate(s) in this PEM
        /// file (the server's certificate must name the address's IP).
        #[arg(long)]
        tls_ca: Option<PathBuf>,
        /// Scenarios (s1 … s7, c1) or `all` (s1 … s7).
        #[arg(default_value = "all")]
        scenarios: Vec<String>,
    },
    /// Wait until the server answers PING.
    Wait {
        /// Server address (host:port).
        #[arg(long, default_value = "127.0.0.1:6379")]
        addr: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
        /// Connect over TLS, trusting the CA certificate(s) in this file.
        #[arg(long)]
        tls_ca: Option<PathBuf>,
    },
    /// Compare run JSON files: medians per label and their ratio.
    Report {
        /// Directory of run JSON files.
        #[arg(long)]
        dir: PathBuf,
        /// The two labels to compare, numerator first.
        #[arg(long, value_delimiter = ',')]
        labels: Vec<String>,
        /// Also write the table here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check the generator's RESP readers.
    Selftest,
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("bad address {addr:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("address {addr:?} resolves to nothing"))
}

/// Raises the open-file soft limit as far as the hard limit allows (S4
/// holds 10,000 connections).
fn raise_nofile() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if n < 12_000 => eprintln!(
            "loadgen: open-file limit is {n}; S4 needs about 10,100 (raise the hard limit: ulimit -Hn)"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("loadgen: cannot raise the open-file limit: {e}"),
    }
}

async fn run(
    addr: SocketAddr,
    peer: Option<SocketAddr>,
    pid: Option<u32>,
    params: &scenarios::Params,
    filter: Option<&str>,
    timeline: bool,
    scenarios: &[String],
) -> Result<Vec<CaseResult>, String> {
    let names: Vec<String> = if scenarios.iter().any(|s| s == "all") {
        scenarios::ALL.iter().map(|s| s.to_string()).collect()
    } else {
        scenarios.iter().map(|s| s.to_lowercase()).collect()
    };
    let mut cases = Vec::new();
    for n in &names {
        cases.extend(scenarios::cases(n, params)?);
    }
    if let Some(f) = filter {
        cases.retain(|c| c.name().contains(f));
    }
    control::wait_ready(addr, Duration::from_secs(10)).await?;
    if let Some(p) = peer {
        control::wait_ready(p, Duration::from_secs(10)).await?;
    }
    let target = Target { addr, pid, peer };
    let mut results = Vec::new();
    for c in &cases {
        let r = match c {
            Case::Load(spec) => case::run_load(spec, &target, timeline)
                .await
                .unwrap_or_else(|e| CaseResult::failed(spec.scenario, &spec.name, e)),
            Case::Idle(spec) => case::run_idle(spec, &target)
                .await
                .unwrap_or_else(|e| CaseResult::failed("s4", &spec.name, e)),
        };
        r.print();
        results.push(r);
        // Let the server finish closing the case's connections.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(results)
}

fn main() -> ExitCode {
    // `cargo bench` appends `--bench` to every bench binary's arguments.
    let args = std::env::args_os().filter(|a| a != "--bench");
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let Some(command) = cli.command else {
        println!(
            "loadgen: nothing to do (plain `cargo bench` runs no load). Try\n  cargo bench --bench loadgen -- --help"
        );
        return ExitCode::SUCCESS;
    };
    match command {
        Command::Selftest => {
            let checks = [
                resp::self_test(),
                publisher::self_test(),
                scenarios::self_test(),
                procstat::self_test(),
                report::self_test(),
            ];
            let failed: Vec<&String> = checks.iter().filter_map(|c| c.as_ref().err()).collect();
            for e in &failed {
                println!("selftest: {e}");
            }
            println!(
                "selftest: {} passed, {} failed",
                checks.len() - failed.len(),
                failed.len()
            );
            if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Report { dir, labels, out } => match report::compare(&dir, &labels) {
            Ok(table) => {
                print!("{table}");
                if let Some(path) = out
                    && let Err(e) = std::fs::write(&path, &table)
                {
                    eprintln!("loadgen: writing {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("loadgen: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Wait {
            addr,
            timeout,
            tls_ca,
        } => {
            if let Some(ca) = &tls_ca
                && let Err(e) = tls::enable(ca)
            {
                eprintln!("loadgen: {e}");
                return ExitCode::FAILURE;
            }
            let result = resolve(&addr).and_then(|a| {
                runtime(1)?.block_on(control::wait_ready(a, Duration::from_secs_f64(timeout)))
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("loadgen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run {
            addr,
            peer_addr,
            pid,
            json,
            label,
            quick,
            filter,
            window,
            timeline,
            half_of,
            tls_ca,
            scenarios,
        } => {
            if let Some(ca) = &tls_ca
                && let Err(e) = tls::enable(ca)
            {
                eprintln!("loadgen: {e}");
                return ExitCode::FAILURE;
            }
            raise_nofile();
            payload::epoch();
            let addr_s = addr.clone();
            let params = match half_of.as_deref().map(report::saturated_rates).transpose() {
                Ok(s1_reference) => scenarios::Params {
                    quick,
                    window: window.map(|w| w as usize),
                    s1_reference,
                    peer: peer_addr.is_some(),
                },
                Err(e) => {
                    eprintln!("loadgen: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let peer = match peer_addr.as_deref().map(resolve).transpose() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("loadgen: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let results = resolve(&addr).and_then(|a| {
                runtime(2)?.block_on(run(
                    a,
                    peer,
                    pid,
                    &params,
                    filter.as_deref(),
                    timeline,
                    &scenarios,
                ))
            });
            let results = match results {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("loadgen: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Some(path) = json
                && let Err(e) = report::write_run_json(
                    &path,
                    &label,
                    &addr_s,
                    pid,
                    quick,
                    window.map(|w| w as usize),
                    &results,
                )
            {
                eprintln!("loadgen: {e}");
                return ExitCode::FAILURE;
            }
            let failed: Vec<String> = results
                .iter()
                .filter_map(|r| r.failure().map(|why| format!("{}: {why}", r.case)))
                .collect();
            if !failed.is_empty() {
                eprintln!("loadgen: FAILED cases (see their PROBLEM lines):");
                for f in &failed {
                    eprintln!("  {f}");
                }
                return ExitCode::from(EXIT_PROBLEMS);
            }
            ExitCode::SUCCESS
        }
    }
}

/// A tokio runtime with `workers` threads.
fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

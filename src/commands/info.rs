//! INFO [section ...]
//!
//! A text of `# Section` headers and `field:value` lines, as Redis writes
//! it; tools parse the field names, so those follow Redis's.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::keyspace::Keyspace;
use crate::protocol::{Args, Reply};
use crate::session::Session;
use crate::shared::Shared;
use crate::stats::Stats;

/// Every section, in Redis's order.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// The sections plain `INFO` (and `INFO default`) shows: Redis's defaults,
/// every section but the per-command ones.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// The INFO text for the requested sections.
pub fn info(s: &mut Session, args: &Args) -> Reply {
    let mut wanted: Vec<&str> = Vec::new();
    if args.len() == 1 {
        wanted.extend(DEFAULT);
    }
    for a in &args[1..] {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "all" | "everything" => wanted.extend(SECTIONS),
            "default" => wanted.extend(DEFAULT),
            "module_list" => wanted.push("modules"),
            name => {
                if let Some(sec) = SECTIONS.iter().find(|s| **s == name) {
                    wanted.push(sec);
                }
            }
        }
    }
    // Written under the keyspace the command holds (dispatch took it), so
    // INFO inside EXEC or a script reads the same guard.
    let shared = std::sync::Arc::clone(&s.shared);
    s.keyspace(|ks| {
        let mut text = String::new();
        for sec in SECTIONS {
            if wanted.contains(sec) {
                if !text.is_empty() {
                    text.push_str("\r\n");
                }
                section(&shared, ks, sec, &mut text);
            }
        }
        Reply::Verbatim(Bytes::from(text))
    })
}

/// Seconds and microseconds of CPU time used by this process (user, system),
/// from /proc/self/stat (clock ticks, USER_HZ = 100 on Linux).
fn cpu_times() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    // utime is field 14 and stime 15 overall; here index 11 and 12.
    (ticks(11), ticks(12))
}

/// Resident set size in bytes, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Human-readable byte count, as Redis's `bytesToHuman`.
fn human(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{n}B")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    }
}

/// `text` with the characters that would break INFO's `field:value` lines
/// (`#`, `:`, CR, LF) replaced by `_`, as Redis writes names taken from
/// clients.
fn safe(text: &str) -> String {
    text.replace(['#', ':', '\r', '\n'], "_")
}

/// Appends one section.
fn section(shared: &Shared, ks: &Keyspace, name: &str, out: &mut String) {
    let st = &shared.stats;
    let g = Stats::get;
    match name {
        "server" => {
            let uptime = shared.started.elapsed().as_secs();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let _ = write!(
                out,
                "# Server\r\nredis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:{}\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\nexecutable:{}\r\nconfig_file:{}\r\npubsubd_version:{}\r\n",
                crate::REDIS_VERSION,
                std::env::consts::OS,
                std::env::consts::ARCH,
                usize::BITS,
                std::process::id(),
                shared.run_id,
                shared.tcp_port.load(Ordering::Relaxed),
                now.as_micros(),
                uptime,
                uptime / 86400,
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                shared
                    .config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                env!("CARGO_PKG_VERSION"),
            );
        }
        "clients" => {
            let cfg = shared.config();
            let _ = write!(
                out,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:0\r\ntracking_clients:0\r\npubsub_clients:{}\r\nclients_in_timeout_table:0\r\n",
                shared.connected_clients(),
                cfg.maxclients,
                shared
                    .clients
                    .iter()
                    .map(|c| c.outbox.pending())
                    .max()
                    .unwrap_or(0),
                shared.pubsub_clients(),
            );
        }
        "memory" => {
            let rss = rss_bytes();
            let used = shared.used_memory(ks);
            let maxmemory = shared.config().maxmemory;
            let _ = write!(
                out,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{rss}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:noeviction\r\nmem_clients_normal:{}\r\nnumber_of_cached_scripts:{}\r\nmem_allocator:jemalloc-{}\r\n",
                human(used),
                human(rss),
                human(maxmemory),
                shared
                    .clients
                    .iter()
                    .map(|c| c.outbox.pending())
                    .sum::<usize>(),
                shared.scripts.cached_count(),
                // The release, as Redis shows it (jemalloc-5.3.0).
                tikv_jemalloc_ctl::version::read()
                    .unwrap_or("unknown")
                    .split('-')
                    .next()
                    .unwrap_or("unknown"),
            );
        }
        "persistence" => {
            let _ = write!(
                out,
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_last_bgrewrite_status:ok\r\n",
            );
        }
        "stats" => {
            let (ops, kin, kout) = st.instantaneous();
            let _ = write!(
                out,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ninstantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nevicted_clients:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nclient_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\ntotal_error_replies:{}\r\npubsub_deliveries:{}\r\npublish_pauses:{}\r\npublish_paused_usec:{}\r\npublish_pause_timeouts:{}\r\ntls_handshake_failures:{}\r\ntls_handshake_timeouts:{}\r\n",
                g(&st.connections_received),
                g(&st.commands_processed),
                ops,
                g(&st.net_input_bytes),
                g(&st.net_output_bytes),
                kin,
                kout,
                g(&st.rejected_connections),
                ks.expired_keys,
                ks.hits,
                ks.misses,
                shared.registry.channel_count(crate::pubsub::Kind::Channel),
                shared.registry.pattern_count(),
                shared.registry.channel_count(crate::pubsub::Kind::Shard),
                g(&st.query_limit_disconnections),
                g(&st.output_limit_disconnections),
                g(&st.error_replies),
                g(&st.pubsub_deliveries),
                g(&st.publish_pauses),
                g(&st.publish_paused_us),
                g(&st.publish_pause_timeouts),
                g(&shared.tls.handshake_failures),
                g(&shared.tls.handshake_timeouts),
            );
        }
        "replication" => {
            let _ = write!(
                out,
                "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:0\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
                shared.run_id,
            );
        }
        "cpu" => {
            let (user, sys) = cpu_times();
            let _ = write!(
                out,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n",
            );
        }
        "modules" => out.push_str("# Modules\r\n"),
        "commandstats" => {
            out.push_str("# Commandstats\r\n");
            for c in st.commands.used() {
                let per_call = if c.calls == 0 {
                    0.0
                } else {
                    c.usec as f64 / c.calls as f64
                };
                let _ = write!(
                    out,
                    "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                    c.name, c.calls, c.usec, c.rejected_calls, c.failed_calls
                );
            }
        }
        "errorstats" => {
            out.push_str("# Errorstats\r\n");
            for (prefix, count) in st.error_counts() {
                let _ = write!(out, "errorstat_{}:count={count}\r\n", safe(&prefix));
            }
        }
        "latencystats" => {
            out.push_str("# Latencystats\r\n");
            let cfg = shared.config();
            if !cfg.latency_tracking {
                return;
            }
            for c in st.commands.used() {
                // Only commands with a recorded latency have a histogram.
                if c.latency_usec(0.0).is_none() {
                    continue;
                }
                let fields: Vec<String> = cfg
                    .latency_tracking_info_percentiles
                    .iter()
                    .filter_map(|&p| Some(format!("p{p}={:.3}", c.latency_usec(p)?)))
                    .collect();
                let _ = write!(
                    out,
                    "latency_percentiles_usec_{}:{}\r\n",
                    c.name,
                    fields.join(",")
                );
            }
        }
        "cluster" => out.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            let now = crate::keyspace::now_ms();
            for (db, keys, expires, avg_ttl) in ks.sizes(now) {
                let _ = write!(
                    out,
                    "db{db}:keys={keys},expires={expires},avg_ttl={avg_ttl}\r\n"
                );
            }
        }
        _ => {}
    }
}

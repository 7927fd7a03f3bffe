//! State shared by every connection: configuration, the pub/sub registry,
//! the client table, counters and the keyspace.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use dashmap::DashMap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::client::Client;
use crate::config::{ClassLimit, Config};
use crate::keyspace::{Keyspace, KeyspaceGuard, KeyspaceLock};
use crate::pubsub::Registry;
use crate::scripting::ScriptState;
use crate::stats::Stats;

/// The run-time-changeable settings the hot paths read, as atomics so that
/// a publish or a request never takes the config lock.
#[derive(Default)]
pub struct Settings {
    pubsub: [AtomicU64; 3],
    normal: [AtomicU64; 3],
    /// `timeout`, seconds; 0 = never.
    pub timeout: AtomicU64,
    /// `maxclients`.
    pub maxclients: AtomicU64,
    /// `proto-max-bulk-len`.
    pub proto_max_bulk_len: AtomicU64,
    /// `client-query-buffer-limit`.
    pub query_buffer_limit: AtomicU64,
    /// `tcp-keepalive`, seconds; 0 = off.
    pub tcp_keepalive: AtomicU64,
    /// `protected-mode`.
    pub protected_mode: AtomicBool,
    /// `maxmemory`, bytes; 0 = no limit.
    pub maxmemory: AtomicU64,
    /// `notify-keyspace-events` class bits.
    pub notify_flags: AtomicU32,
    /// `busy-reply-threshold`, milliseconds.
    pub busy_threshold_ms: AtomicU64,
    /// `latency-tracking`.
    pub latency_tracking: AtomicBool,
}

fn load(limit: &[AtomicU64; 3]) -> ClassLimit {
    ClassLimit {
        hard: limit[0].load(Ordering::Relaxed),
        soft: limit[1].load(Ordering::Relaxed),
        soft_seconds: limit[2].load(Ordering::Relaxed),
    }
}

fn store(limit: &[AtomicU64; 3], v: ClassLimit) {
    limit[0].store(v.hard, Ordering::Relaxed);
    limit[1].store(v.soft, Ordering::Relaxed);
    limit[2].store(v.soft_seconds, Ordering::Relaxed);
}

impl Settings {
    /// Copies the run-time-changeable values out of `config`.
    pub fn apply(&self, config: &Config) {
        store(&self.pubsub, config.client_output_buffer_limit.pubsub);
        store(&self.normal, config.client_output_buffer_limit.normal);
        self.timeout.store(config.timeout, Ordering::Relaxed);
        self.maxclients.store(config.maxclients, Ordering::Relaxed);
        self.proto_max_bulk_len
            .store(config.proto_max_bulk_len, Ordering::Relaxed);
        self.query_buffer_limit
            .store(config.client_query_buffer_limit, Ordering::Relaxed);
        self.tcp_keepalive
            .store(config.tcp_keepalive, Ordering::Relaxed);
        self.protected_mode
            .store(config.protected_mode, Ordering::Relaxed);
        self.maxmemory.store(config.maxmemory, Ordering::Relaxed);
        self.notify_flags
            .store(config.notify_keyspace_events, Ordering::Relaxed);
        self.busy_threshold_ms
            .store(config.busy_reply_threshold, Ordering::Relaxed);
        self.latency_tracking
            .store(config.latency_tracking, Ordering::Relaxed);
    }

    /// The `pubsub` class output limits.
    pub fn pubsub_limit(&self) -> ClassLimit {
        load(&self.pubsub)
    }

    /// The `normal` class output limits.
    pub fn normal_limit(&self) -> ClassLimit {
        load(&self.normal)
    }
}

/// Everything the connections share.
pub struct Shared {
    /// The full configuration (CONFIG GET/SET); hot values are mirrored in
    /// `settings`.
    pub config: RwLock<Config>,
    /// Hot, run-time-changeable settings.
    pub settings: Settings,
    /// Channel and pattern subscriptions.
    pub registry: Registry,
    /// Connected clients by id.
    pub clients: DashMap<u64, Arc<Client>>,
    /// Counters behind INFO.
    pub stats: Stats,
    /// The in-memory databases, behind the one lock that makes commands,
    /// transactions and scripts atomic. Private: commands reach it only
    /// through the guard their session holds (`Session::keyspace`), so no
    /// path can take it a second time.
    keyspace: KeyspaceLock,
    /// Number of databases (`databases`, fixed at start).
    pub databases: usize,
    /// The Lua engine and the state of the running script, if any.
    pub scripts: ScriptState,
    /// Resident memory when the server started: the base of `used_memory`.
    pub baseline_memory: u64,
    /// 40 hex characters, new per process (INFO `run_id`).
    pub run_id: String,
    /// When the server started.
    pub started: Instant,
    /// The TCP port actually listened on (INFO `tcp_port`).
    pub tcp_port: AtomicU64,
    /// Fired to begin graceful shutdown.
    pub shutdown: CancellationToken,
    /// Every connection's tasks, so shutdown can wait for them to flush.
    pub tasks: TaskTracker,
    next_client_id: AtomicU64,
    /// Applies a new log level at run time (CONFIG SET loglevel).
    pub log_control: Option<crate::logging::LogControl>,
    /// The config file the server was started with (INFO `config_file`).
    pub config_file: Option<std::path::PathBuf>,
    /// The names commands answer to (`rename-command`; fixed at start-up).
    pub command_names: crate::commands::CommandNames,
    /// ACL users and the ACL log.
    pub acl: crate::acl::Acl,
    /// The TLS configuration new handshakes use, and TLS counters.
    pub tls: crate::tls::TlsRuntime,
    /// The TCP and TLS ports' accept loops (CONFIG SET `port`, `tls-port`).
    pub listeners: crate::server::Listeners,
    /// Clients in MONITOR mode.
    pub monitors: crate::commands::monitor::Monitors,
    /// SLOWLOG's entries and settings.
    pub slowlog: crate::commands::slowlog::SlowLog,
    /// LATENCY's events and threshold.
    pub latency: crate::commands::latency::Latency,
    /// CLIENT PAUSE.
    pub pause: crate::commands::operator::ClientPause,
    /// The NATS link in cluster mode (`cluster-nats`); unset otherwise.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Link>>,
}

impl Shared {
    /// Shared state for a server running with `config`.
    pub fn new(config: Config, log_control: Option<crate::logging::LogControl>) -> Shared {
        let settings = Settings::default();
        settings.apply(&config);
        let databases = config.databases as usize;
        let command_names = config.command_names.clone();
        let scripts = ScriptState::new();
        scripts.set_memory_limit(config.lua_memory_limit);
        let acl = crate::acl::Acl::new(&config);
        let shared = Shared {
            config: RwLock::new(config),
            settings,
            registry: Registry::new(),
            clients: DashMap::new(),
            stats: Stats::default(),
            keyspace: KeyspaceLock::new(databases),
            databases: databases.max(1),
            scripts,
            baseline_memory: crate::commands::info::rss_bytes(),
            run_id: new_run_id(),
            started: Instant::now(),
            tcp_port: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            next_client_id: AtomicU64::new(1),
            log_control,
            config_file: None,
            command_names,
            acl,
            tls: crate::tls::TlsRuntime::default(),
            listeners: Default::default(),
            monitors: Default::default(),
            slowlog: Default::default(),
            latency: Default::default(),
            pause: Default::default(),
            cluster: std::sync::OnceLock::new(),
        };
        shared.apply_operator_settings(&shared.config());
        shared
    }

    /// Mirrors the SLOWLOG and LATENCY settings of `config`.
    fn apply_operator_settings(&self, config: &Config) {
        use std::sync::atomic::Ordering::Relaxed;
        self.slowlog
            .slower_than_us
            .store(config.slowlog_log_slower_than, Relaxed);
        self.slowlog.max_len.store(config.slowlog_max_len, Relaxed);
        self.latency
            .threshold_ms
            .store(config.latency_monitor_threshold, Relaxed);
    }

    /// The next CLIENT ID.
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A snapshot of the configuration.
    pub fn config(&self) -> Config {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Runs `f` on the configuration under its write lock, then mirrors the
    /// hot settings and the log level.
    pub fn update_config<T>(&self, f: impl FnOnce(&mut Config) -> T) -> T {
        let mut guard = match self.config.write() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        let requirepass = guard.requirepass.clone();
        let out = f(&mut guard);
        self.settings.apply(&guard);
        self.acl
            .apply_config(&guard, guard.requirepass != requirepass);
        self.apply_operator_settings(&guard);
        self.scripts.set_memory_limit(guard.lua_memory_limit);
        if let Some(ctl) = &self.log_control {
            ctl.set_level(guard.loglevel);
        }
        out
    }

    /// Memory in use as INFO `used_memory` reports it and `maxmemory`
    /// checks it: the resident size at start plus what the keyspace holds.
    /// Takes the keyspace the caller already holds.
    pub fn used_memory(&self, ks: &Keyspace) -> u64 {
        self.baseline_memory + ks.used_bytes() as u64
    }

    /// The keyspace if it is free now (never waits). Sessions hold it
    /// through `Session`; the sweep skips a turn when it is busy.
    pub fn try_hold_keyspace(&self) -> Option<KeyspaceGuard> {
        self.keyspace.try_hold()
    }

    /// The keyspace once it is free, for a connection that holds no guard
    /// (waiting for it never blocks a thread).
    pub fn hold_keyspace(&self) -> impl Future<Output = KeyspaceGuard> + Send + 'static {
        self.keyspace.hold()
    }

    /// Number of clients connected now.
    pub fn connected_clients(&self) -> usize {
        self.clients.len()
    }

    /// Number of clients with at least one subscription.
    pub fn pubsub_clients(&self) -> usize {
        self.clients.iter().filter(|c| c.is_pubsub()).count()
    }
}

/// A fresh random 40-hex-character run id. Uses the standard library's
/// randomly seeded hasher as the entropy source, so no extra crate is needed
/// for a value that only has to differ between runs.
fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(40);
    let mut i = 0u64;
    while out.len() < 40 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", h.finish()));
        i += 1;
    }
    out.truncate(40);
    out
}

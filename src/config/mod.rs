//! The configuration layer: one [`Config`] built from a redis.conf-style file
//! and a redis-server-style command line, then read and changed at run time
//! through CONFIG GET / CONFIG SET.
//!
//! Every parameter is described once, in [`PARAMS`]: its name, whether CONFIG
//! SET may change it, how to parse it and how to read it back. The file
//! parser, the command line, CONFIG GET, CONFIG SET and `--help` all work
//! from that table, so a parameter cannot be parsed one way from the file and
//! another way at run time.
//!
//! Values, ranges, read-back forms and error texts follow Redis 7: a client
//! or an operator that knows Redis sees the same answers here. Redis
//! directives that make no sense for a pub/sub-only server (persistence,
//! replication, data-structure encodings, ...) are accepted and recorded in
//! [`Config::warnings`], so an existing redis.conf loads unchanged.
//!
//! The parts: `params` (the parameter table and the ignored and refused
//! directives), `file` (the redis.conf reader and `include`), `cli` (the
//! command line and `--help`), `runtime` (CONFIG GET / SET) and `values`
//! (value parsers and their Redis error texts). This file holds the
//! [`Config`] they fill and the error texts they share.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::commands::CommandNames;
use crate::glob::glob_match;
use crate::splitargs::split_args;

mod cli;
mod file;
mod params;
mod runtime;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
mod values;

use self::file::*;
use self::params::*;
use self::values::*;

/// Redis's cap on the number of `bind` addresses (`CONFIG_BINDADDR_MAX`).
const MAX_BIND_ADDRESSES: usize = 16;

/// How deep `include` may nest. Redis has no cap and recurses until it
/// crashes when a file includes itself; ten levels is far more than any real
/// layout needs.
const MAX_INCLUDE_DEPTH: usize = 10;

/// C's `INT_MAX`: the upper bound Redis gives most integer parameters.
const INT_MAX: i64 = i32::MAX as i64;

/// Redis's lower bound for `proto-max-bulk-len` and
/// `client-query-buffer-limit`.
const ONE_MB: i64 = 1024 * 1024;

// Redis's error texts, reproduced exactly because operators search for them.
const MSG_NOT_INTEGER: &str = "argument couldn't be parsed into an integer";
const MSG_NOT_MEMORY: &str = "argument must be a memory value";
const MSG_NOT_OCTAL: &str = "argument couldn't be parsed as an octal number";
const MSG_NOT_BOOL: &str = "argument must be 'yes' or 'no'";
const MSG_WRONG_ARG_COUNT: &str = "wrong number of arguments";
const MSG_BAD_DIRECTIVE: &str = "Bad directive or wrong number of arguments";
const MSG_UNBALANCED_QUOTES: &str = "Unbalanced quotes in configuration line";
const MSG_IMMUTABLE: &str = "can't set immutable config";
/// Redis's refusal for its protected parameters (`dir`) while
/// `enable-protected-configs` is `no`, which pubsubd always enforces.
const MSG_PROTECTED: &str = "can't set protected config";
/// The parameters Redis protects that pubsubd has.
const PROTECTED: &[&str] = &["dir"];
const MSG_DUPLICATE: &str = "duplicate parameter";
const MSG_TOO_MANY_BIND: &str = "Too many bind addresses specified.";
const MSG_OBUF_ARG_COUNT: &str = "Wrong number of arguments in buffer limit configuration.";
const MSG_OBUF_CLASS: &str = "Invalid client class specified in buffer limit configuration.";
const MSG_MODULES: &str = "pubsubd cannot load Redis modules: their commands, and any access rules they enforce, would be missing";
const MSG_SOCKET_GROUP: &str = "pubsubd cannot set the Unix socket's group, so unixsocketperm would admit the server's group instead; leave unixsocketgroup empty";
const MSG_OBUF_VALUE: &str =
    "Error in hard, soft or soft_seconds setting in buffer limit configuration.";

/// How much the server logs; `loglevel` in redis.conf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Everything, including per-command detail.
    Debug,
    /// Ordinary operation; logged like `Notice` here.
    Verbose,
    /// Ordinary operation: start-up, shutdown, clients refused.
    Notice,
    /// Only problems.
    Warning,
    /// No logging at all.
    Nothing,
}

impl LogLevel {
    /// Every level, in Redis's order (also the order of the error text).
    const ALL: [LogLevel; 5] = [
        LogLevel::Debug,
        LogLevel::Verbose,
        LogLevel::Notice,
        LogLevel::Warning,
        LogLevel::Nothing,
    ];

    /// Returns the level's redis.conf name, which is also its CONFIG GET value.
    pub fn as_str(&self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Verbose => "verbose",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Nothing => "nothing",
        }
    }

    /// Returns the `tracing` filter directive that logs what this level
    /// promises, so the server can build its subscriber from the config.
    pub fn tracing_directive(&self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Verbose | LogLevel::Notice => "info",
            LogLevel::Warning => "warn",
            LogLevel::Nothing => "off",
        }
    }

    /// Returns the level named by `arg` (ASCII case-insensitive), or Redis's
    /// error text listing the accepted names.
    fn parse(arg: &[u8]) -> Result<LogLevel, String> {
        LogLevel::ALL
            .into_iter()
            .find(|level| arg.eq_ignore_ascii_case(level.as_str().as_bytes()))
            .ok_or_else(|| {
                let names: Vec<&str> = LogLevel::ALL.iter().map(LogLevel::as_str).collect();
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            })
    }
}

/// One client class's output-buffer limits; 0 in any field means no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassLimit {
    /// Disconnect as soon as the pending output reaches this many bytes.
    pub hard: u64,
    /// Disconnect when the pending output stays at or above this many bytes…
    pub soft: u64,
    /// …for this many seconds.
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit`: the limits for each client class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputBufferLimits {
    /// Ordinary clients.
    pub normal: ClassLimit,
    /// Redis's replica class, read back under its old name `slave`; kept so a
    /// Redis config round-trips, though pubsubd has no replicas.
    pub replica: ClassLimit,
    /// Clients subscribed to at least one channel or pattern.
    pub pubsub: ClassLimit,
}

impl Default for OutputBufferLimits {
    /// Returns Redis's defaults: normal unlimited, replica 256mb 64mb 60,
    /// pubsub 32mb 8mb 60.
    fn default() -> Self {
        const MB: u64 = 1024 * 1024;
        OutputBufferLimits {
            normal: ClassLimit {
                hard: 0,
                soft: 0,
                soft_seconds: 0,
            },
            replica: ClassLimit {
                hard: 256 * MB,
                soft: 64 * MB,
                soft_seconds: 60,
            },
            pubsub: ClassLimit {
                hard: 32 * MB,
                soft: 8 * MB,
                soft_seconds: 60,
            },
        }
    }
}

/// The most `io-threads` accepted (Redis's limit).
pub const IO_THREADS_MAX: i64 = 128;

/// The server's whole configuration. Field comments give the redis.conf
/// directive and the default; redis.conf.example documents each in full.
#[derive(Clone, Debug)]
pub struct Config {
    /// `port`: TCP port; 0 means no TCP listener. Default 6379.
    pub port: u16,
    /// `bind`: addresses to listen on. Default `127.0.0.1` (Redis binds every
    /// interface). An empty list (`bind` with no argument) means no TCP
    /// listener, as in Redis.
    pub bind: Vec<String>,
    /// `protected-mode`: refuse non-loopback clients while no password is set.
    pub protected_mode: bool,
    /// `requirepass`: the password AUTH must present; `None` when unset or "".
    pub requirepass: Option<Vec<u8>>,
    /// `user` lines: the user name and its rules, in file order (loaded at
    /// start-up; see `acl::Acl::load_at_startup`).
    pub acl_users: Vec<Vec<Vec<u8>>>,
    /// `aclfile`: where ACL LOAD and ACL SAVE read and write users. None by
    /// default.
    pub aclfile: Option<PathBuf>,
    /// `acl-pubsub-default`: `allchannels` (true) or `resetchannels` (false,
    /// the Redis 7 default) for new users.
    pub acl_pubsub_default_all: bool,
    /// `acllog-max-len`: entries ACL LOG keeps. Default 128.
    pub acllog_max_len: usize,
    /// `maxclients`: most simultaneous clients. Default 10000.
    pub maxclients: u64,
    /// `timeout`: seconds a client may idle before it is closed; 0 = never.
    pub timeout: u64,
    /// `tcp-keepalive`: TCP keepalive interval in seconds; 0 = off.
    pub tcp_keepalive: u64,
    /// `tcp-backlog`: listen(2) backlog. Default 511.
    pub tcp_backlog: u32,
    /// `databases`: how many databases SELECT accepts. Default 16.
    pub databases: u32,
    /// `io-threads`: threads that serve connections (the runtime's
    /// workers), 1 to [`IO_THREADS_MAX`]; None when not given (see
    /// [`Config::io_threads`]).
    pub io_threads: Option<u32>,
    /// `client-output-buffer-limit`: per-class output-buffer limits.
    pub client_output_buffer_limit: OutputBufferLimits,
    /// `proto-max-bulk-len`: largest bulk string accepted, bytes. Default 512mb.
    pub proto_max_bulk_len: u64,
    /// `client-query-buffer-limit`: largest unparsed input per client, bytes.
    pub client_query_buffer_limit: u64,
    /// `loglevel`. Default notice.
    pub loglevel: LogLevel,
    /// `logfile`: `None` logs to standard output.
    pub logfile: Option<PathBuf>,
    /// `pidfile`: where to write the process id; `None` writes none.
    pub pidfile: Option<PathBuf>,
    /// `dir`: the working directory the server moves to at start-up (as
    /// Redis does), so relative `aclfile`, `logfile`, `pidfile` and
    /// `unixsocket` paths resolve from it; `None` stays where started.
    pub dir: Option<PathBuf>,
    /// `unixsocket`: path of a Unix-domain listener; `None` for none.
    pub unixsocket: Option<PathBuf>,
    /// `unixsocketperm`: mode bits for the socket (octal in the file); `None`
    /// leaves the umask's choice.
    pub unixsocketperm: Option<u32>,
    /// `latency-tracking`: keep per-command latency histograms for INFO
    /// `latencystats`. Default yes.
    pub latency_tracking: bool,
    /// `latency-tracking-info-percentiles`: the percentiles INFO
    /// `latencystats` reports, each 0-100. Default 50 99 99.9.
    pub latency_tracking_info_percentiles: Vec<f64>,
    /// `maxmemory`: refuse writes once the keyspace uses more than this many
    /// bytes; 0 = no limit. Default 0.
    pub maxmemory: u64,
    /// `notify-keyspace-events`: enabled keyspace event classes, as
    /// `crate::keyspace::class` bits. Default none.
    pub notify_keyspace_events: u32,
    /// `slowlog-log-slower-than`: microseconds a command runs before SLOWLOG
    /// logs it; -1 = never. Default 10000.
    pub slowlog_log_slower_than: i64,
    /// `slowlog-max-len`: most entries SLOWLOG keeps. Default 128.
    pub slowlog_max_len: u64,
    /// `latency-monitor-threshold`: milliseconds an event takes before
    /// LATENCY records it; 0 = off. Default 0.
    pub latency_monitor_threshold: u64,
    /// `busy-reply-threshold` (alias `lua-time-limit`): milliseconds a script
    /// may run before other clients get `-BUSY`. Default 5000.
    pub busy_reply_threshold: u64,
    /// `rename-command`: the names commands answer to. Default: their own.
    pub command_names: CommandNames,
    /// `lua-memory-limit` (pubsubd's own; Redis 7 has no such limit): bytes
    /// the Lua state may hold. Default
    /// [`crate::scripting::LUA_MEMORY_LIMIT_DEFAULT`].
    pub lua_memory_limit: u64,
    /// `enable-debug-command`: who may run DEBUG. Default no (nobody), as in
    /// Redis.
    pub enable_debug_command: ProtectedAction,
    /// The config file given on the command line, made absolute (INFO
    /// `config_file`).
    pub config_file: Option<PathBuf>,
    /// One line per Redis directive that was accepted but has no effect here,
    /// for the server to log once logging is up.
    pub warnings: Vec<String>,
    /// The `tls-*` directives (see [`crate::tls`]).
    pub tls: crate::tls::TlsOptions,
    /// `cluster-nats` (pubsubd's own): NATS server URLs linking this node
    /// to the others of its cluster; empty (the default) = cluster mode off.
    pub cluster_nats: Vec<String>,
    /// `cluster-name` (pubsubd's own): the cluster's NATS subject namespace.
    /// Default [`crate::cluster::DEFAULT_NAME`].
    pub cluster_name: String,
    /// `cluster-nats-user`, `-password`, `-token`, `-tls-*` (pubsubd's own):
    /// how the node authenticates to NATS and secures the link.
    pub cluster_nats_auth: crate::cluster::NatsAuth,
}

impl Config {
    /// The threads that serve connections: `io-threads` if given, else 1,
    /// as in Redis (on a machine whose cores the clients share, a second
    /// thread takes CPU from them and writes to each receiver sooner, in
    /// smaller writes: BENCHMARKS.md, "Design choices"), or 2 in cluster
    /// mode, where the NATS link's tasks share the thread with every
    /// client's: with one, a client flooding a node with PUBLISHes left
    /// the task sending to NATS behind until its queue overflowed
    /// (tests/cluster.rs, a slow remote node: 2 of 8 runs dropped
    /// messages to NATS, 0 of 4 with two).
    pub fn io_threads(&self) -> u32 {
        self.io_threads
            .unwrap_or(if self.cluster_nats.is_empty() { 1 } else { 2 })
    }
}

impl Default for Config {
    /// Returns the configuration used when nothing is configured: Redis's
    /// defaults, except that only loopback is bound.
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["127.0.0.1".to_string()],
            protected_mode: true,
            requirepass: None,
            acl_users: Vec::new(),
            aclfile: None,
            acl_pubsub_default_all: false,
            acllog_max_len: 128,
            maxclients: 10000,
            timeout: 0,
            tcp_keepalive: 300,
            tcp_backlog: 511,
            databases: 16,
            io_threads: None,
            client_output_buffer_limit: OutputBufferLimits::default(),
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            loglevel: LogLevel::Notice,
            logfile: None,
            pidfile: None,
            dir: None,
            unixsocket: None,
            unixsocketperm: None,
            latency_tracking: true,
            latency_tracking_info_percentiles: crate::stats::LATENCY_PERCENTILES.to_vec(),
            maxmemory: 0,
            notify_keyspace_events: 0,
            slowlog_log_slower_than: crate::commands::slowlog::DEFAULT_SLOWER_THAN_US,
            slowlog_max_len: crate::commands::slowlog::DEFAULT_MAX_LEN,
            latency_monitor_threshold: 0,
            busy_reply_threshold: 5000,
            command_names: CommandNames::default(),
            lua_memory_limit: crate::scripting::LUA_MEMORY_LIMIT_DEFAULT,
            enable_debug_command: ProtectedAction::No,
            config_file: None,
            warnings: Vec::new(),
            tls: crate::tls::TlsOptions::default(),
            cluster_nats: Vec::new(),
            cluster_name: crate::cluster::DEFAULT_NAME.to_string(),
            cluster_nats_auth: crate::cluster::NatsAuth::default(),
        }
    }
}

/// Who may run a protected command (`enable-debug-command`), as Redis's
/// `no`, `yes` or `local` say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtectedAction {
    /// Nobody (Redis's default).
    No,
    /// Every client.
    Yes,
    /// Clients on a Unix socket or connected from 127.0.0.1 or ::1.
    Local,
}

impl ProtectedAction {
    /// Every value, in the order Redis lists them.
    const ALL: [ProtectedAction; 3] = [
        ProtectedAction::No,
        ProtectedAction::Yes,
        ProtectedAction::Local,
    ];

    /// Returns the value's redis.conf name, which is also its CONFIG GET value.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProtectedAction::No => "no",
            ProtectedAction::Yes => "yes",
            ProtectedAction::Local => "local",
        }
    }

    /// Returns whether a client may run the command; `local` tells whether
    /// it is on a Unix socket or connected from 127.0.0.1 or ::1.
    pub fn allows(&self, local: bool) -> bool {
        match self {
            ProtectedAction::No => false,
            ProtectedAction::Yes => true,
            ProtectedAction::Local => local,
        }
    }

    /// Returns the value named by `arg` (ASCII case-insensitive), or Redis's
    /// error text listing the accepted names.
    fn parse(arg: &[u8]) -> Result<ProtectedAction, String> {
        ProtectedAction::ALL
            .into_iter()
            .find(|a| arg.eq_ignore_ascii_case(a.as_str().as_bytes()))
            .ok_or_else(|| "argument(s) must be one of the following: no, yes, local".to_string())
    }
}

/// A configuration that could not be loaded, with where it went wrong.
#[derive(Debug)]
pub struct ConfigError {
    /// The file holding the bad line; `None` for the command line.
    pub file: Option<PathBuf>,
    /// 1-based line number in `file`, when the error is about one line.
    pub line: Option<usize>,
    /// The directive being applied, lower-cased, when one was recognised.
    pub directive: Option<String>,
    /// What is wrong, in Redis's words where Redis has them.
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// Writes `file:line: 'directive': message`, with `command line` in place
    /// of the file for command-line directives and absent parts left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, _) => write!(f, "command line: ")?,
        }
        if let Some(directive) = &self.directive {
            write!(f, "'{directive}': ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// What `Config::from_args` decided: run with a config, or print something and exit.
// Built once at start-up, so the size gap between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Startup {
    /// Start the server with this configuration.
    Run(Config),
    /// Print `text` (to stdout when `code` is 0, else stderr) and exit.
    Exit {
        /// What to print: help, version, or a usage error.
        text: String,
        /// The process exit code: 0 for help and version, 1 for usage errors.
        code: i32,
    },
}

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

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::commands::CommandNames;
use crate::glob::glob_match;
use crate::splitargs::split_args;

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
const MSG_DUPLICATE: &str = "duplicate parameter";
const MSG_TOO_MANY_BIND: &str = "Too many bind addresses specified.";
const MSG_OBUF_ARG_COUNT: &str = "Wrong number of arguments in buffer limit configuration.";
const MSG_OBUF_CLASS: &str = "Invalid client class specified in buffer limit configuration.";
const MSG_ACL_USERS: &str = "ACL users are not supported by pubsubd; set the default user's password with requirepass instead";
const MSG_ACL_FILE: &str = "ACL files are not supported by pubsubd (it has no ACL users); set the default user's password with requirepass instead";
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
    /// `unixsocket`: path of a Unix-domain listener; `None` for none.
    pub unixsocket: Option<PathBuf>,
    /// `unixsocketperm`: mode bits for the socket (octal in the file); `None`
    /// leaves the umask's choice.
    pub unixsocketperm: Option<u32>,
    /// `maxmemory`: refuse writes once the keyspace uses more than this many
    /// bytes; 0 = no limit. Default 0.
    pub maxmemory: u64,
    /// `notify-keyspace-events`: enabled keyspace event classes, as
    /// `crate::keyspace::class` bits. Default none.
    pub notify_keyspace_events: u32,
    /// `busy-reply-threshold` (alias `lua-time-limit`): milliseconds a script
    /// may run before other clients get `-BUSY`. Default 5000.
    pub busy_reply_threshold: u64,
    /// `rename-command`: the names commands answer to. Default: their own.
    pub command_names: CommandNames,
    /// `lua-memory-limit` (pubsubd's own; Redis 7 has no such limit): bytes
    /// the Lua state may hold. Default
    /// [`crate::scripting::LUA_MEMORY_LIMIT_DEFAULT`].
    pub lua_memory_limit: u64,
    /// The config file given on the command line, made absolute (INFO
    /// `config_file`).
    pub config_file: Option<PathBuf>,
    /// One line per Redis directive that was accepted but has no effect here,
    /// for the server to log once logging is up.
    pub warnings: Vec<String>,
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
            maxclients: 10000,
            timeout: 0,
            tcp_keepalive: 300,
            tcp_backlog: 511,
            databases: 16,
            client_output_buffer_limit: OutputBufferLimits::default(),
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            loglevel: LogLevel::Notice,
            logfile: None,
            pidfile: None,
            unixsocket: None,
            unixsocketperm: None,
            maxmemory: 0,
            notify_keyspace_events: 0,
            busy_reply_threshold: 5000,
            command_names: CommandNames::default(),
            lua_memory_limit: crate::scripting::LUA_MEMORY_LIMIT_DEFAULT,
            config_file: None,
            warnings: Vec::new(),
        }
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

/// Parses one argument into a field; returns Redis's error text on failure.
type SetOne = fn(&mut Config, &[u8]) -> Result<(), String>;
/// Parses a list of arguments (`bind`, `client-output-buffer-limit`).
type SetMany = fn(&mut Config, &[Vec<u8>]) -> Result<(), String>;
/// Returns a parameter's CONFIG GET value.
type Get = fn(&Config) -> Vec<u8>;

/// How a parameter takes its value.
enum Kind {
    /// Exactly one argument.
    One { set: SetOne, get: Get },
    /// Any number of arguments; a single argument holding spaces is split.
    Many { set: SetMany, get: Get },
    /// A Redis parameter that clients read (CONFIG GET) but that has one
    /// fixed value here; as a directive it is accepted and ignored.
    Constant(&'static str),
}

/// One configuration parameter: everything the file, the command line,
/// CONFIG GET, CONFIG SET and `--help` need to know about it.
struct Param {
    /// The redis.conf / CONFIG name.
    name: &'static str,
    /// Whether CONFIG SET may change it.
    mutable: bool,
    kind: Kind,
    /// Placeholder for `--help`, e.g. `PORT`.
    value_name: &'static str,
    /// One line for `--help`.
    help: &'static str,
}

impl Param {
    /// Returns the parameter's value in Redis's normalised CONFIG GET form.
    fn read(&self, config: &Config) -> Vec<u8> {
        match &self.kind {
            Kind::One { get, .. } | Kind::Many { get, .. } => get(config),
            Kind::Constant(value) => value.as_bytes().to_vec(),
        }
    }
}

/// `busy-reply-threshold` and its old name `lua-time-limit`: one setting.
const BUSY_REPLY_THRESHOLD: Kind = Kind::One {
    set: |c, v| int_arg(v, 0, i64::MAX).map(|n| c.busy_reply_threshold = n),
    get: |c| c.busy_reply_threshold.to_string().into_bytes(),
};

/// Every parameter pubsubd knows, in the order CONFIG GET `*` lists them.
static PARAMS: &[Param] = &[
    Param {
        name: "port",
        mutable: false,
        kind: Kind::One {
            set: |c, v| int_arg(v, 0, 65535).map(|n| c.port = n),
            get: |c| c.port.to_string().into_bytes(),
        },
        value_name: "PORT",
        help: "TCP port to listen on; 0 disables TCP [default: 6379]",
    },
    Param {
        name: "bind",
        mutable: false,
        kind: Kind::Many {
            set: set_bind,
            get: |c| c.bind.join(" ").into_bytes(),
        },
        value_name: "ADDR...",
        help: "Addresses to listen on [default: 127.0.0.1]",
    },
    Param {
        name: "protected-mode",
        mutable: true,
        kind: Kind::One {
            set: |c, v| bool_arg(v).map(|b| c.protected_mode = b),
            get: |c| yes_no(c.protected_mode),
        },
        value_name: "yes|no",
        help: "Refuse non-loopback clients while no password is set [default: yes]",
    },
    Param {
        name: "requirepass",
        mutable: true,
        kind: Kind::One {
            set: |c, v| {
                c.requirepass = (!v.is_empty()).then(|| v.to_vec());
                Ok(())
            },
            get: |c| c.requirepass.clone().unwrap_or_default(),
        },
        value_name: "PASSWORD",
        help: "Password clients must AUTH with; \"\" for none",
    },
    Param {
        name: "maxclients",
        mutable: true,
        kind: Kind::One {
            set: |c, v| int_arg(v, 1, i64::from(u32::MAX)).map(|n| c.maxclients = n),
            get: |c| c.maxclients.to_string().into_bytes(),
        },
        value_name: "N",
        help: "Most simultaneous clients [default: 10000]",
    },
    Param {
        name: "timeout",
        mutable: true,
        kind: Kind::One {
            set: |c, v| int_arg(v, 0, INT_MAX).map(|n| c.timeout = n),
            get: |c| c.timeout.to_string().into_bytes(),
        },
        value_name: "SECONDS",
        help: "Close clients idle this long; 0 = never [default: 0]",
    },
    Param {
        name: "tcp-keepalive",
        mutable: true,
        kind: Kind::One {
            set: |c, v| int_arg(v, 0, INT_MAX).map(|n| c.tcp_keepalive = n),
            get: |c| c.tcp_keepalive.to_string().into_bytes(),
        },
        value_name: "SECONDS",
        help: "TCP keepalive interval; 0 = off [default: 300]",
    },
    Param {
        name: "tcp-backlog",
        mutable: false,
        kind: Kind::One {
            set: |c, v| int_arg(v, 0, INT_MAX).map(|n| c.tcp_backlog = n),
            get: |c| c.tcp_backlog.to_string().into_bytes(),
        },
        value_name: "N",
        help: "listen(2) backlog [default: 511]",
    },
    Param {
        name: "databases",
        mutable: false,
        kind: Kind::One {
            set: |c, v| int_arg(v, 1, INT_MAX).map(|n| c.databases = n),
            get: |c| c.databases.to_string().into_bytes(),
        },
        value_name: "N",
        help: "Number of databases SELECT accepts [default: 16]",
    },
    Param {
        name: "client-output-buffer-limit",
        mutable: true,
        kind: Kind::Many {
            set: set_output_buffer_limits,
            get: get_output_buffer_limits,
        },
        value_name: "CLASS HARD SOFT SECONDS",
        help: "Output-buffer limits per class (normal, replica, pubsub)",
    },
    Param {
        name: "proto-max-bulk-len",
        mutable: true,
        kind: Kind::One {
            set: |c, v| memory_arg(v, ONE_MB, i64::MAX).map(|n| c.proto_max_bulk_len = n),
            get: |c| c.proto_max_bulk_len.to_string().into_bytes(),
        },
        value_name: "BYTES",
        help: "Largest bulk string a client may send [default: 512mb]",
    },
    Param {
        name: "client-query-buffer-limit",
        mutable: true,
        kind: Kind::One {
            set: |c, v| memory_arg(v, ONE_MB, i64::MAX).map(|n| c.client_query_buffer_limit = n),
            get: |c| c.client_query_buffer_limit.to_string().into_bytes(),
        },
        value_name: "BYTES",
        help: "Largest unparsed input held per client [default: 1gb]",
    },
    Param {
        name: "loglevel",
        mutable: true,
        kind: Kind::One {
            set: |c, v| LogLevel::parse(v).map(|l| c.loglevel = l),
            get: |c| c.loglevel.as_str().as_bytes().to_vec(),
        },
        value_name: "LEVEL",
        help: "debug, verbose, notice, warning or nothing [default: notice]",
    },
    Param {
        name: "logfile",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                c.logfile = path_arg(v);
                Ok(())
            },
            get: |c| optional_path_bytes(c.logfile.as_deref()),
        },
        value_name: "PATH",
        help: "Log file; \"\" logs to standard output [default: \"\"]",
    },
    Param {
        name: "pidfile",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                c.pidfile = path_arg(v);
                Ok(())
            },
            get: |c| optional_path_bytes(c.pidfile.as_deref()),
        },
        value_name: "PATH",
        help: "Write the process id to this file [default: none]",
    },
    Param {
        name: "unixsocket",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                c.unixsocket = path_arg(v);
                Ok(())
            },
            get: |c| optional_path_bytes(c.unixsocket.as_deref()),
        },
        value_name: "PATH",
        help: "Also listen on this Unix-domain socket [default: none]",
    },
    Param {
        name: "unixsocketperm",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                let mode = octal_arg(v, 0o777)?;
                c.unixsocketperm = (mode != 0).then_some(mode);
                Ok(())
            },
            get: |c| format!("{:o}", c.unixsocketperm.unwrap_or(0)).into_bytes(),
        },
        value_name: "OCTAL",
        help: "Permissions of the Unix socket, e.g. 700",
    },
    // Redis parameters that clients read to learn what kind of server this
    // is. They have one true answer here.
    Param {
        name: "maxmemory",
        mutable: true,
        kind: Kind::One {
            set: |c, v| memory_arg(v, 0, i64::MAX).map(|n| c.maxmemory = n),
            get: |c| c.maxmemory.to_string().into_bytes(),
        },
        value_name: "BYTES",
        help: "Refuse writes once the keyspace uses this much memory; 0 = no limit [default: 0]",
    },
    Param {
        name: "notify-keyspace-events",
        mutable: true,
        kind: Kind::One {
            set: |c, v| keyspace_events_arg(v).map(|f| c.notify_keyspace_events = f),
            get: |c| keyspace_events_string(c.notify_keyspace_events).into_bytes(),
        },
        value_name: "CLASSES",
        help: "Keyspace event classes to publish, e.g. KEA [default: \"\"]",
    },
    Param {
        name: "busy-reply-threshold",
        mutable: true,
        kind: BUSY_REPLY_THRESHOLD,
        value_name: "MS",
        help: "Milliseconds a script runs before other clients get -BUSY [default: 5000]",
    },
    Param {
        name: "lua-time-limit",
        mutable: true,
        kind: BUSY_REPLY_THRESHOLD,
        value_name: "MS",
        help: "Old name of busy-reply-threshold",
    },
    Param {
        name: "lua-memory-limit",
        mutable: true,
        kind: Kind::One {
            set: |c, v| {
                memory_arg(v, crate::scripting::LUA_MEMORY_LIMIT_MIN as i64, i64::MAX)
                    .map(|n| c.lua_memory_limit = n)
            },
            get: |c| c.lua_memory_limit.to_string().into_bytes(),
        },
        value_name: "BYTES",
        help: "Most memory the Lua scripting engine may use [default: 128mb]",
    },
    Param {
        name: "replica-read-only",
        mutable: false,
        kind: Kind::Constant("yes"),
        value_name: "",
        help: "",
    },
    Param {
        name: "slave-read-only",
        mutable: false,
        kind: Kind::Constant("yes"),
        value_name: "",
        help: "",
    },
    Param {
        name: "save",
        mutable: false,
        kind: Kind::Constant(""),
        value_name: "",
        help: "",
    },
    Param {
        name: "appendonly",
        mutable: false,
        kind: Kind::Constant("no"),
        value_name: "",
        help: "",
    },
    Param {
        name: "daemonize",
        mutable: false,
        kind: Kind::Constant("no"),
        value_name: "",
        help: "",
    },
    Param {
        name: "cluster-enabled",
        mutable: false,
        kind: Kind::Constant("no"),
        value_name: "",
        help: "",
    },
];

/// Redis 7 directives that are accepted with a warning and otherwise ignored
/// (besides the constants in [`PARAMS`], which are treated the same way).
///
/// Nothing that restricts access or changes who may do what is ignored: each
/// such directive either works (`requirepass`, `protected-mode`, `bind`,
/// `unixsocketperm`, `rename-command`) or stops start-up ([`refusal`]).
/// Each entry here says why ignoring it leaves no one more access than the
/// operator configured.
static IGNORED_DIRECTIVES: &[&str] = &[
    // Only shapes ACL users created later, and `user` lines are refused, so
    // there are none; the default user is not affected, in Redis either.
    "acl-pubsub-default",
    // The ACL log's size; pubsubd keeps no ACL log.
    "acllog-max-len",
    // `aclfile ""` (no file) only; a file name is refused.
    "aclfile",
    // Memory, persistence, process and tuning knobs: they decide nothing
    // about who may connect or run what.
    "activedefrag",
    "activerehashing",
    "active-expire-effort",
    "always-show-logo",
    "appenddirname",
    "appendfilename",
    "appendfsync",
    // The source address of outgoing (replication) connections.
    "bind-source-addr",
    "dbfilename",
    "dir",
    "disable-thp",
    "dynamic-hz",
    // Redis 7 removed the Gopher protocol; no access path either way.
    "gopher-enabled",
    // What reaches the log, not who may do what.
    "hide-user-data-from-log",
    "hll-sparse-max-bytes",
    "hz",
    "ignore-warnings",
    "io-threads",
    "io-threads-do-reads",
    // The allocator's background purging is always on (see main.rs).
    "jemalloc-bg-thread",
    "locale-collate",
    "lua-replicate-commands",
    // Credentials this server would send to a master; no replication here.
    "masterauth",
    "masteruser",
    "max-new-connections-per-cycle",
    "max-new-tls-connections-per-cycle",
    "no-appendfsync-on-rewrite",
    "oom-score-adj",
    "oom-score-adj-values",
    "proc-title-template",
    "propagation-error-behavior",
    "rdbchecksum",
    "rdbcompression",
    // Replication is not supported; a replica is read-only for clients, not
    // closed to them, and pubsubd stays a writable primary.
    "replicaof",
    "sanitize-dump-payload",
    "set-proc-title",
    "slaveof",
    "socket-mark-id",
    "stop-writes-on-bgsave-error",
    "supervised",
    "tracking-table-max-keys",
    // `unixsocketgroup ""` (no group) only; a group is refused.
    "unixsocketgroup",
];

/// Prefixes of Redis directive families that are accepted with a warning;
/// none of them decides who may connect or run what.
static IGNORED_PREFIXES: &[&str] = &[
    "active-defrag-",
    "aof-",
    "auto-aof-rewrite-",
    "cluster-",
    "crash-",
    // enable-protected-configs, enable-debug-command and
    // enable-module-command: "no" (Redis's default) is what pubsubd already
    // enforces, and a permissive value unlocks nothing, since pubsubd has
    // no DEBUG or MODULE command and none of its parameters is a protected
    // config (Redis protects only `dir` and `dbfilename`).
    "enable-",
    "hash-max-",
    "latency-",
    "lazyfree-",
    "lfu-",
    "list-",
    "maxmemory-",
    // Refuse writes while too few replicas are connected: a durability
    // guard for replication, which pubsubd does not have.
    "min-replicas-",
    "min-slaves-",
    "rdb-",
    "repl-",
    "replica-",
    "set-max-",
    "shutdown-",
    "slave-",
    "slowlog-",
    "stream-node-",
    "syslog-",
    // TLS settings have no effect while `tls-port` must be 0 (see
    // `apply_directive`), so no TLS client authentication is skipped.
    "tls-",
    "zset-max-",
];

/// Redis's directives that restrict access or change who may do what and
/// that pubsubd cannot honour: the error that stops start-up for `name`
/// with `args`, or None. Ignoring any of them would leave the server more
/// open than its configuration says.
fn refusal(name: &str, args: &[Vec<u8>]) -> Option<&'static str> {
    let set = args.iter().any(|a| !a.is_empty());
    match name {
        // ACL users and their rules (`user default off`, `user app on
        // >pw ~* +@all`): every client would be the unrestricted default
        // user instead.
        "user" => Some(MSG_ACL_USERS),
        "aclfile" if set => Some(MSG_ACL_FILE),
        // A module may add commands and enforce access rules of its own.
        "loadmodule" => Some(MSG_MODULES),
        // With `unixsocketperm 770`, the socket would admit the server's
        // group instead of the one named.
        "unixsocketgroup" if set => Some(MSG_SOCKET_GROUP),
        _ => None,
    }
}

/// The `notify-keyspace-events` letters and their class bits, in the order
/// Redis writes them back.
const KEYSPACE_EVENT_LETTERS: &[(u8, u32)] = &[
    (b'g', crate::keyspace::class::GENERIC),
    (b'$', crate::keyspace::class::STRING),
    (b'l', crate::keyspace::class::LIST),
    (b's', crate::keyspace::class::SET),
    (b'h', crate::keyspace::class::HASH),
    (b'z', crate::keyspace::class::ZSET),
    (b'x', crate::keyspace::class::EXPIRED),
    (b'e', crate::keyspace::class::EVICTED),
    (b't', crate::keyspace::class::STREAM),
    (b'd', crate::keyspace::class::MODULE),
    (b'n', crate::keyspace::class::NEW),
];

/// Parses `notify-keyspace-events` letters into class bits (Redis's
/// `keyspaceEventsStringToFlags`).
fn keyspace_events_arg(arg: &[u8]) -> Result<u32, String> {
    use crate::keyspace::class;
    let mut flags = 0;
    for &c in arg {
        flags |= match c {
            b'A' => class::ALL,
            b'K' => class::KEYSPACE,
            b'E' => class::KEYEVENT,
            b'm' => class::KEY_MISS,
            _ => match KEYSPACE_EVENT_LETTERS.iter().find(|(l, _)| *l == c) {
                Some((_, bit)) => *bit,
                None => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
            },
        };
    }
    Ok(flags)
}

/// Writes class bits back as Redis's normalised letters.
fn keyspace_events_string(flags: u32) -> String {
    use crate::keyspace::class;
    let mut out = String::new();
    // As Redis writes it back, `n` is not shown once `A` is (7.0 and 7.2).
    if flags & class::ALL == class::ALL {
        out.push('A');
    } else {
        for (letter, bit) in KEYSPACE_EVENT_LETTERS {
            if flags & bit != 0 {
                out.push(char::from(*letter));
            }
        }
    }
    if flags & class::KEYSPACE != 0 {
        out.push('K');
    }
    if flags & class::KEYEVENT != 0 {
        out.push('E');
    }
    if flags & class::KEY_MISS != 0 {
        out.push('m');
    }
    out
}

/// Returns the parameter called `name` (ASCII case-insensitive), if any.
fn find_param(name: &[u8]) -> Option<&'static Param> {
    PARAMS
        .iter()
        .find(|p| name.eq_ignore_ascii_case(p.name.as_bytes()))
}

/// Returns whether `name` (lower-cased) is a Redis directive that pubsubd
/// accepts and ignores.
fn is_ignored_directive(name: &str) -> bool {
    IGNORED_DIRECTIVES.contains(&name) || IGNORED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Where a directive came from, for warnings and errors.
#[derive(Clone, Copy)]
enum Origin<'a> {
    File { path: &'a Path, line: usize },
    CommandLine,
}

impl Origin<'_> {
    /// Returns the `file:line` or `command line` prefix for a warning.
    fn describe(&self) -> String {
        match self {
            Origin::File { path, line } => format!("{}:{line}", path.display()),
            Origin::CommandLine => "command line".to_string(),
        }
    }

    /// Returns an error located here.
    fn error(&self, directive: Option<&str>, message: String) -> ConfigError {
        let (file, line) = match self {
            Origin::File { path, line } => (Some(path.to_path_buf()), Some(*line)),
            Origin::CommandLine => (None, None),
        };
        ConfigError {
            file,
            line,
            directive: directive.map(str::to_string),
            message,
        }
    }
}

/// Why a directive failed: a message about the directive itself, or an error
/// already located inside a file it included.
enum Failure {
    Message(String),
    Included(ConfigError),
}

impl From<String> for Failure {
    /// Wraps a plain message, so parsers can use `?`.
    fn from(message: String) -> Self {
        Failure::Message(message)
    }
}

impl Config {
    /// Returns what to do for a redis-server-style command line
    /// `pubsubd [/path/to/redis.conf] [--directive value ...]...` (`args`
    /// excludes argv[0]).
    ///
    /// The first argument, unless it starts with `-`, names the config file,
    /// which is read first; each `--name` then starts a directive whose
    /// arguments are the following words up to the next `--name`, applied
    /// after the file so they override it. As in Redis, the first word after
    /// a bare `--name` is always an argument even if it starts with `--`
    /// (`--requirepass --secret`), `--save` directly followed by another
    /// `--name` gets an empty argument, and `"--port 7000"` as one word works.
    ///
    /// clap renders `--help`, `--version` and usage errors from the parameter
    /// table, but the words are parsed here by hand: clap cannot accept the
    /// open-ended set of Redis directive names that are ignored with a
    /// warning, cannot take a value that starts with `--`, and does not keep
    /// the relative order of different flags, which matters when a directive
    /// such as `include` or `client-output-buffer-limit` is given twice.
    pub fn from_args<I, S>(args: I) -> Result<Startup, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let words: Vec<OsString> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        let mut config = Config::default();
        let mut rest: &[OsString] = &words;
        if let Some(first) = words.first() {
            match os_bytes(first).as_slice() {
                b"-h" | b"--help" => return Ok(help_exit()),
                b"-v" | b"--version" => return Ok(version_exit()),
                bytes if !bytes.starts_with(b"-") => {
                    config.load_file(Path::new(first))?;
                    config.config_file =
                        Some(std::fs::canonicalize(first).unwrap_or_else(|_| PathBuf::from(first)));
                    rest = &words[1..];
                }
                _ => {}
            }
        }
        let directives = match group_cli_directives(rest)? {
            Ok(directives) => directives,
            Err(exit) => return Ok(exit),
        };
        for (name, args) in directives {
            config
                .apply_directive(&name, &args, Origin::CommandLine, 0)
                .map_err(|failure| locate(failure, Origin::CommandLine, &name))?;
        }
        Ok(Startup::Run(config))
    }

    /// Reads the redis.conf-style file at `path` into `self`; returns the
    /// first bad line as an error naming file, line and directive.
    ///
    /// One directive per line, split with Redis's quoting rules; blank lines
    /// and lines starting with `#` are skipped; names are case-insensitive;
    /// `include <path>` reads another file in place (relative paths are
    /// relative to the working directory, as in Redis).
    pub fn load_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let contents = std::fs::read(path).map_err(|e| ConfigError {
            file: Some(path.to_path_buf()),
            line: None,
            directive: None,
            message: format!("can't open config file: {}", io_error_text(&e)),
        })?;
        self.load_contents(path, &contents, 0)
    }

    /// Applies the redis.conf-style text `contents` as [`Config::load_file`]
    /// applies a file's, with `path` naming the text in errors only (an
    /// `include` line still reads the file it names). Lets the config fuzz
    /// target parse whole texts without writing them to disk.
    pub fn load_text(&mut self, path: &Path, contents: &[u8]) -> Result<(), ConfigError> {
        self.load_contents(path, contents, 0)
    }

    /// Applies one directive, `name` followed by its `args`, as a file line
    /// or command-line option would; returns the error message alone. An
    /// ignored Redis directive adds a warning attributed to the command line.
    pub fn apply(&mut self, name: &str, args: &[Vec<u8>]) -> Result<(), String> {
        self.apply_directive(name, args, Origin::CommandLine, 0)
            .map_err(|failure| match failure {
                Failure::Message(message) => message,
                Failure::Included(error) => error.to_string(),
            })
    }

    /// Returns CONFIG GET's answer for `patterns`: each parameter whose name
    /// matches one of the globs (case-insensitively), once, with its value in
    /// Redis's normalised form.
    ///
    /// As in Redis, a pattern without `*`, `?` or `[` is an exact lookup and
    /// the reply uses the name as the client spelled it.
    pub fn get(&self, patterns: &[&[u8]]) -> Vec<(String, Vec<u8>)> {
        let mut found: Vec<(String, Vec<u8>)> = Vec::new();
        let seen = |found: &[(String, Vec<u8>)], name: &str| {
            found.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        for &pattern in patterns {
            if !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
                if let Some(param) = find_param(pattern) {
                    let name = String::from_utf8_lossy(pattern).into_owned();
                    if !seen(&found, &name) {
                        found.push((name, param.read(self)));
                    }
                }
                continue;
            }
            for param in PARAMS {
                if !seen(&found, param.name) && glob_match(pattern, param.name.as_bytes(), true) {
                    found.push((param.name.to_string(), param.read(self)));
                }
            }
        }
        found
    }

    /// Applies CONFIG SET `name value [name value ...]` all-or-nothing;
    /// returns Redis's full error text (without the leading `-`) when any
    /// name is unknown, immutable or repeated, or any value is invalid, in
    /// which case nothing changes. The caller checks the argument count.
    ///
    /// As in Redis, a list-valued parameter's value is split on single
    /// spaces, and `client-output-buffer-limit` changes only the classes it
    /// names.
    pub fn set(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), String> {
        let mut chosen: Vec<(&'static Param, &[u8], &[u8])> = Vec::new();
        for &(name, value) in pairs {
            let Some(param) = find_param(name) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    String::from_utf8_lossy(name)
                ));
            };
            if !param.mutable {
                return Err(set_failed(name, MSG_IMMUTABLE));
            }
            if chosen.iter().any(|(p, _, _)| p.name == param.name) {
                return Err(set_failed(name, MSG_DUPLICATE));
            }
            chosen.push((param, name, value));
        }
        let mut next = self.clone();
        for (param, name, value) in chosen {
            let result = match &param.kind {
                Kind::One { set, .. } => set(&mut next, value),
                Kind::Many { set, .. } => set(&mut next, &split_on_spaces(value)),
                Kind::Constant(_) => Err(MSG_IMMUTABLE.to_string()),
            };
            result.map_err(|message| set_failed(name, &message))?;
        }
        *self = next;
        Ok(())
    }

    /// Applies every directive in `contents`, read from `path`, nested
    /// `depth` includes deep; returns the first error, located.
    fn load_contents(
        &mut self,
        path: &Path,
        contents: &[u8],
        depth: usize,
    ) -> Result<(), ConfigError> {
        for (index, raw) in contents.split(|&b| b == b'\n').enumerate() {
            let origin = Origin::File {
                path,
                line: index + 1,
            };
            let line = trim_config_line(raw);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let Some(words) = split_args(line) else {
                return Err(origin.error(None, MSG_UNBALANCED_QUOTES.to_string()));
            };
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            self.apply_directive(&name, args, origin, depth)
                .map_err(|failure| locate(failure, origin, &name))?;
        }
        Ok(())
    }

    /// Applies directive `name` with `args` from `origin`; returns why it
    /// failed. The one dispatcher behind the file, the command line and
    /// [`Config::apply`].
    fn apply_directive(
        &mut self,
        name: &str,
        args: &[Vec<u8>],
        origin: Origin<'_>,
        depth: usize,
    ) -> Result<(), Failure> {
        let name = name.to_ascii_lowercase();
        if name == "include" {
            return match args {
                [path] => self.include(&bytes_to_path(path), depth),
                _ => Err(Failure::Message(MSG_BAD_DIRECTIVE.to_string())),
            };
        }
        match find_param(name.as_bytes()).map(|p| &p.kind) {
            Some(Kind::One { set, .. }) => match args {
                [value] => Ok(set(self, value)?),
                _ => Err(Failure::Message(MSG_WRONG_ARG_COUNT.to_string())),
            },
            Some(Kind::Many { set, .. }) => match args {
                // Like Redis, `bind "a b"` means `bind a b`.
                [one] if !one.is_empty() => {
                    let words = split_args(one).ok_or(MSG_UNBALANCED_QUOTES.to_string())?;
                    Ok(set(self, &words)?)
                }
                _ => Ok(set(self, args)?),
            },
            Some(Kind::Constant(_)) => {
                self.warn_ignored(&name, origin);
                Ok(())
            }
            None if name == "tls-port" => {
                // No TLS yet: ignoring a TLS port would leave clients that expect
                // encryption with no listener, or worse, a plain-text one.
                let [port] = args else {
                    return Err(Failure::Message(MSG_WRONG_ARG_COUNT.to_string()));
                };
                let port: u16 = int_arg(port, 0, 65535)?;
                if port != 0 {
                    return Err(Failure::Message(
                        "pubsubd does not support TLS yet; tls-port must be 0".to_string(),
                    ));
                }
                self.warn_ignored(&name, origin);
                Ok(())
            }
            None if name == "rename-command" => match args {
                [old, new] => Ok(self
                    .command_names
                    .rename(old, new)
                    .map_err(str::to_string)?),
                _ => Err(Failure::Message(MSG_BAD_DIRECTIVE.to_string())),
            },
            None => match refusal(&name, args) {
                Some(message) => Err(Failure::Message(message.to_string())),
                None if is_ignored_directive(&name) => {
                    self.warn_ignored(&name, origin);
                    Ok(())
                }
                None => Err(Failure::Message(MSG_BAD_DIRECTIVE.to_string())),
            },
        }
    }

    /// Reads the file an `include` directive names; returns an error located
    /// in the included file, or one about the include itself when the file
    /// cannot be read or includes nest too deep.
    fn include(&mut self, path: &Path, depth: usize) -> Result<(), Failure> {
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(Failure::Message(format!(
                "includes nested more than {MAX_INCLUDE_DEPTH} deep (does a file include itself?)"
            )));
        }
        let contents = std::fs::read(path).map_err(|e| {
            Failure::Message(format!(
                "can't open config file '{}': {}",
                path.display(),
                io_error_text(&e)
            ))
        })?;
        self.load_contents(path, &contents, depth + 1)
            .map_err(Failure::Included)
    }

    /// Records that directive `name` from `origin` was accepted and ignored.
    fn warn_ignored(&mut self, name: &str, origin: Origin<'_>) {
        self.warnings.push(format!(
            "{}: '{name}' is a Redis directive that pubsubd does not use; ignored",
            origin.describe()
        ));
    }
}

/// Returns the located error for `failure` of directive `name` at `origin`;
/// an error from an included file is already located and passes through.
fn locate(failure: Failure, origin: Origin<'_>, name: &str) -> ConfigError {
    match failure {
        Failure::Message(message) => origin.error(Some(name), message),
        Failure::Included(error) => error,
    }
}

/// Returns CONFIG SET's error text for a bad `name`.
fn set_failed(name: &[u8], message: &str) -> String {
    format!(
        "ERR CONFIG SET failed (possibly related to argument '{}') - {message}",
        String::from_utf8_lossy(name)
    )
}

/// Returns `value` split on single spaces, as Redis's CONFIG SET splits a
/// list-valued parameter (empty input gives no words; doubled spaces give an
/// empty word).
fn split_on_spaces(value: &[u8]) -> Vec<Vec<u8>> {
    if value.is_empty() {
        return Vec::new();
    }
    value.split(|&b| b == b' ').map(<[u8]>::to_vec).collect()
}

/// Returns `line` without the spaces, tabs, CRs and LFs Redis trims from
/// both ends of a config line.
fn trim_config_line(line: &[u8]) -> &[u8] {
    let is_trimmed = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = line
        .iter()
        .position(|b| !is_trimmed(b))
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !is_trimmed(b))
        .map_or(start, |i| i + 1);
    line.get(start..end).unwrap_or_default()
}

/// Returns the `bind` setter's result: up to 16 UTF-8 addresses, kept as
/// given (`-` prefixes and all) for the listener to interpret. As in Redis,
/// one empty argument (`bind ""`) means no address at all.
fn set_bind(config: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    let args = match args {
        [only] if only.is_empty() => &[],
        _ => args,
    };
    if args.len() > MAX_BIND_ADDRESSES {
        return Err(MSG_TOO_MANY_BIND.to_string());
    }
    let addresses = args
        .iter()
        .map(|a| {
            String::from_utf8(a.clone()).map_err(|_| "Invalid bind address (not UTF-8)".to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    config.bind = addresses;
    Ok(())
}

/// Which client class a `client-output-buffer-limit` group names.
#[derive(Clone, Copy)]
enum ClientClass {
    Normal,
    Replica,
    Pubsub,
}

/// Returns the class named `name` (case-insensitive; `slave` = `replica`).
fn client_class(name: &[u8]) -> Option<ClientClass> {
    [
        ("normal", ClientClass::Normal),
        ("replica", ClientClass::Replica),
        ("slave", ClientClass::Replica),
        ("pubsub", ClientClass::Pubsub),
    ]
    .into_iter()
    .find(|(n, _)| name.eq_ignore_ascii_case(n.as_bytes()))
    .map(|(_, class)| class)
}

/// Returns the `client-output-buffer-limit` setter's result: groups of
/// `<class> <hard> <soft> <soft-seconds>`, all validated before any is
/// applied; classes not named keep their limits.
fn set_output_buffer_limits(config: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    if !args.len().is_multiple_of(4) {
        return Err(MSG_OBUF_ARG_COUNT.to_string());
    }
    let mut parsed = Vec::with_capacity(args.len() / 4);
    for group in args.chunks_exact(4) {
        let [class, hard, soft, seconds] = group else {
            return Err(MSG_OBUF_ARG_COUNT.to_string());
        };
        let class = client_class(class).ok_or(MSG_OBUF_CLASS.to_string())?;
        let bytes = |arg: &[u8]| parse_memory(arg).map_err(|_| MSG_OBUF_VALUE.to_string());
        let hard = bytes(hard)?;
        let soft = bytes(soft)?;
        let soft_seconds = parse_soft_seconds(seconds).ok_or(MSG_OBUF_VALUE.to_string())?;
        parsed.push((
            class,
            ClassLimit {
                hard,
                soft,
                soft_seconds,
            },
        ));
    }
    let limits = &mut config.client_output_buffer_limit;
    for (class, limit) in parsed {
        match class {
            ClientClass::Normal => limits.normal = limit,
            ClientClass::Replica => limits.replica = limit,
            ClientClass::Pubsub => limits.pubsub = limit,
        }
    }
    Ok(())
}

/// Returns `client-output-buffer-limit` as Redis reads it back:
/// `normal H S SEC slave H S SEC pubsub H S SEC`.
fn get_output_buffer_limits(config: &Config) -> Vec<u8> {
    let l = &config.client_output_buffer_limit;
    [
        ("normal", l.normal),
        ("slave", l.replica),
        ("pubsub", l.pubsub),
    ]
    .iter()
    .map(|(name, c)| format!("{name} {} {} {}", c.hard, c.soft, c.soft_seconds))
    .collect::<Vec<_>>()
    .join(" ")
    .into_bytes()
}

/// Returns the soft-limit seconds in `arg`: decimal digits with an optional
/// `+`, empty meaning 0, at most `INT_MAX` (Redis silently wraps larger
/// values; here they are an error).
fn parse_soft_seconds(arg: &[u8]) -> Option<u64> {
    let digits = arg.strip_prefix(b"+").unwrap_or(arg);
    if arg.starts_with(b"+") && digits.is_empty() {
        return None;
    }
    let value = parse_digits(digits)?;
    (value <= INT_MAX as u64).then_some(value)
}

/// Returns the value of a run of ASCII digits (empty = 0), or `None` on a
/// non-digit or overflow.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Returns the integer in `arg` with Redis's strict `string2ll` rules: an
/// optional `-`, no `+`, no leading zeros, no spaces, within `i64`.
fn parse_i64(arg: &[u8]) -> Option<i64> {
    let (negative, digits) = match arg.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let magnitude = parse_digits(digits)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Why a memory value was refused.
enum MemoryError {
    /// Not digits plus an optional unit.
    Invalid,
    /// Does not fit in 64 bits (Redis wraps around; this is an error here).
    Overflow,
}

/// Returns the byte count in `arg` with Redis's `memtoull` rules: decimal
/// digits then an optional case-insensitive unit `b`, `k` (1000), `kb`
/// (1024), `m`, `mb`, `g`, `gb`; no sign. As in Redis, empty digits count as
/// 0.
fn parse_memory(arg: &[u8]) -> Result<u64, MemoryError> {
    let split = arg
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(arg.len());
    let (digits, unit) = arg.split_at(split);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return Err(MemoryError::Invalid),
    };
    parse_digits(digits)
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or(MemoryError::Overflow)
}

/// Returns Redis's out-of-range text for the range `min..=max`.
fn range_error(min: i64, max: i64) -> String {
    format!("argument must be between {min} and {max} inclusive")
}

/// Returns the integer in `arg` if it lies in `min..=max`, converted to the
/// field's type; otherwise Redis's error text.
fn int_arg<T: TryFrom<i64>>(arg: &[u8], min: i64, max: i64) -> Result<T, String> {
    let value = parse_i64(arg).ok_or(MSG_NOT_INTEGER.to_string())?;
    if !(min..=max).contains(&value) {
        return Err(range_error(min, max));
    }
    T::try_from(value).map_err(|_| range_error(min, max))
}

/// Returns the memory value in `arg` if it lies in `min..=max` bytes;
/// otherwise Redis's error text (a value too large for 64 bits reports the
/// range, as Redis's wrapped value mostly does).
fn memory_arg(arg: &[u8], min: i64, max: i64) -> Result<u64, String> {
    let value = match parse_memory(arg) {
        Ok(value) => value,
        Err(MemoryError::Invalid) => return Err(MSG_NOT_MEMORY.to_string()),
        Err(MemoryError::Overflow) => return Err(range_error(min, max)),
    };
    match i64::try_from(value) {
        Ok(v) if (min..=max).contains(&v) => Ok(value),
        _ => Err(range_error(min, max)),
    }
}

/// Returns the octal number in `arg` (an optional sign, then octal digits;
/// empty means 0, as Redis's `strtoll` reading does) if it is at most `max`;
/// otherwise Redis's error text, whose bounds are printed in octal.
fn octal_arg(arg: &[u8], max: u32) -> Result<u32, String> {
    let out_of_range = || format!("argument must be between 0 and {max:o} inclusive");
    let (negative, digits) = match arg.first() {
        Some(b'-') => (true, arg.get(1..).unwrap_or_default()),
        Some(b'+') => (false, arg.get(1..).unwrap_or_default()),
        _ => (false, arg),
    };
    if digits.is_empty() && !arg.is_empty() {
        return Err(MSG_NOT_OCTAL.to_string());
    }
    let value = digits
        .iter()
        .try_fold(0u64, |acc, &d| {
            if !(b'0'..=b'7').contains(&d) {
                return None;
            }
            acc.checked_mul(8)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(MSG_NOT_OCTAL.to_string())?;
    if negative && value != 0 {
        return Err(out_of_range());
    }
    u32::try_from(value)
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(out_of_range)
}

/// Returns the boolean in `arg`: `yes` or `no`, case-insensitive.
fn bool_arg(arg: &[u8]) -> Result<bool, String> {
    if arg.eq_ignore_ascii_case(b"yes") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"no") {
        Ok(false)
    } else {
        Err(MSG_NOT_BOOL.to_string())
    }
}

/// Returns a boolean's CONFIG GET form.
fn yes_no(value: bool) -> Vec<u8> {
    if value {
        b"yes".to_vec()
    } else {
        b"no".to_vec()
    }
}

/// Returns the path named by `arg`, or `None` for "" (which Redis reads as
/// "not set").
fn path_arg(arg: &[u8]) -> Option<PathBuf> {
    (!arg.is_empty()).then(|| bytes_to_path(arg))
}

/// Returns a path's CONFIG GET form: its bytes, or "" when unset.
fn optional_path_bytes(path: Option<&Path>) -> Vec<u8> {
    path.map(|p| os_bytes(p.as_os_str())).unwrap_or_default()
}

/// Returns the path spelled by `bytes`; file names are bytes on Unix.
fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// Returns the bytes of an OS string (lossy only off Unix).
fn os_bytes(s: &OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        s.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        s.to_string_lossy().into_owned().into_bytes()
    }
}

/// Returns an I/O error as `strerror` words, without Rust's "(os error N)".
fn io_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(cut) => text.get(..cut).unwrap_or(&text).to_string(),
        None => text,
    }
}

/// A command-line directive: lower-cased name and its arguments.
type CliDirective = (String, Vec<Vec<u8>>);

/// Returns the command-line words after the config file grouped into
/// directives (`Ok(Ok(..))`), a help/version/usage exit (`Ok(Err(..))`), or
/// an error about a malformed `--name` word.
fn group_cli_directives(
    words: &[OsString],
) -> Result<Result<Vec<CliDirective>, Startup>, ConfigError> {
    let mut directives: Vec<CliDirective> = Vec::new();
    // Set right after a bare `--name`: the next word is its argument even
    // if it starts with `--`, as in Redis 7.
    let mut expecting_value = false;
    for (index, word) in words.iter().enumerate() {
        let bytes = os_bytes(word);
        let spec = match bytes.strip_prefix(b"--") {
            Some(spec) if !expecting_value => spec,
            _ => {
                let Some((_, args)) = directives.last_mut() else {
                    return Ok(Err(usage_exit(&format!(
                        "unexpected argument '{}' found",
                        word.to_string_lossy()
                    ))));
                };
                args.push(bytes);
                expecting_value = false;
                continue;
            }
        };
        // `"--port 7000"` as a single word is split like a config line.
        let Some(mut parts) = split_args(spec) else {
            return Err(Origin::CommandLine.error(None, MSG_UNBALANCED_QUOTES.to_string()));
        };
        if parts.is_empty() {
            return Ok(Err(usage_exit("unexpected argument '--' found")));
        }
        let name = String::from_utf8_lossy(&parts.remove(0)).to_ascii_lowercase();
        match name.as_str() {
            "help" => return Ok(Err(help_exit())),
            "version" => return Ok(Err(version_exit())),
            _ => {}
        }
        expecting_value = parts.is_empty();
        let next_is_name = words
            .get(index + 1)
            .is_none_or(|w| os_bytes(w).starts_with(b"--"));
        if expecting_value && name == "save" && next_is_name {
            // Redis turns `--save --port 1` and a trailing `--save` into `save ""`.
            parts.push(Vec::new());
            expecting_value = false;
        }
        directives.push((name, parts));
    }
    Ok(Ok(directives))
}

/// Returns the clap command that renders `--help`, `--version` and usage
/// errors; its options come from [`PARAMS`], so help cannot drift from the
/// parser.
fn cli_command() -> clap::Command {
    let mut command = clap::Command::new("pubsubd")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A Redis-compatible pub/sub server")
        .override_usage("pubsubd [CONFIG_FILE] [--<directive> <args>...]...")
        .disable_version_flag(true)
        .arg(
            clap::Arg::new("config-file")
                .value_name("CONFIG_FILE")
                .help("redis.conf-style file, read before the command-line directives"),
        )
        .after_help(
            "Every redis.conf directive may also be given as --<directive> <args>...:\n\
             it takes the words up to the next --<directive> and overrides the file.\n\
             Redis directives that pubsubd does not use are accepted with a warning.\n\
             redis.conf.example documents every directive.\n\n\
             Example: pubsubd /etc/pubsubd.conf --port 7000 --bind 127.0.0.1 ::1",
        );
    for param in PARAMS {
        if matches!(param.kind, Kind::Constant(_)) {
            continue;
        }
        command = command.arg(
            clap::Arg::new(param.name)
                .long(param.name)
                .value_name(param.value_name)
                .help(param.help),
        );
    }
    command
        .arg(
            clap::Arg::new("include")
                .long("include")
                .value_name("PATH")
                .help("Read another config file at this point"),
        )
        .arg(
            clap::Arg::new("version")
                .short('v')
                .long("version")
                .action(clap::ArgAction::Version)
                .help("Print version"),
        )
}

/// Returns the `--help` exit.
fn help_exit() -> Startup {
    Startup::Exit {
        text: cli_command().render_help().to_string(),
        code: 0,
    }
}

/// Returns the `--version` exit.
fn version_exit() -> Startup {
    Startup::Exit {
        text: cli_command().render_version(),
        code: 0,
    }
}

/// Returns a usage-error exit (code 1) with clap's wording around `message`.
fn usage_exit(message: &str) -> Startup {
    let mut command = cli_command();
    let error = command.error(clap::error::ErrorKind::UnknownArgument, message);
    Startup::Exit {
        text: error.render().to_string(),
        code: 1,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// CONFIG GET of one exact name, as a string.
    fn get1(config: &Config, name: &str) -> String {
        let found = config.get(&[name.as_bytes()]);
        assert_eq!(found.len(), 1, "CONFIG GET {name}: {found:?}");
        String::from_utf8_lossy(&found[0].1).into_owned()
    }

    /// CONFIG SET of one pair.
    fn set1(config: &mut Config, name: &str, value: &str) -> Result<(), String> {
        config.set(&[(name.as_bytes(), value.as_bytes())])
    }

    /// Redis's CONFIG SET failure text for `name`.
    fn failed(name: &str, message: &str) -> String {
        format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {message}")
    }

    /// A fresh directory for file tests, removed when dropped.
    struct ScratchDir(PathBuf);

    impl std::ops::Deref for ScratchDir {
        type Target = Path;

        /// The directory's path.
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for ScratchDir {
        /// Removes the directory and everything in it.
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Returns a new, empty scratch directory.
    fn scratch_dir() -> ScratchDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pubsubd-config-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }

    /// Writes `contents` to `dir/name` and returns the path.
    fn write(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Loads `contents` as a config file into a default config.
    fn load(contents: &[u8]) -> (Result<Config, ConfigError>, PathBuf) {
        let dir = scratch_dir();
        let path = write(&dir, "test.conf", contents);
        let mut config = Config::default();
        let result = config.load_file(&path).map(|()| config);
        (result, path)
    }

    /// Runs `from_args` and expects a config to run with.
    fn run(args: &[&str]) -> Config {
        match Config::from_args(args) {
            Ok(Startup::Run(config)) => config,
            Ok(Startup::Exit { text, code }) => panic!("exit {code}: {text}"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn defaults_read_back_as_redis() {
        let config = Config::default();
        let expected = [
            ("port", "6379"),
            ("bind", "127.0.0.1"),
            ("protected-mode", "yes"),
            ("requirepass", ""),
            ("maxclients", "10000"),
            ("timeout", "0"),
            ("tcp-keepalive", "300"),
            ("tcp-backlog", "511"),
            ("databases", "16"),
            (
                "client-output-buffer-limit",
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
            ),
            ("proto-max-bulk-len", "536870912"),
            ("client-query-buffer-limit", "1073741824"),
            ("loglevel", "notice"),
            ("logfile", ""),
            ("pidfile", ""),
            ("unixsocket", ""),
            ("unixsocketperm", "0"),
            ("maxmemory", "0"),
            ("notify-keyspace-events", ""),
            ("busy-reply-threshold", "5000"),
            ("lua-time-limit", "5000"),
            ("lua-memory-limit", "134217728"),
            ("replica-read-only", "yes"),
            ("slave-read-only", "yes"),
            ("save", ""),
            ("appendonly", "no"),
            ("daemonize", "no"),
            ("cluster-enabled", "no"),
        ];
        for (name, value) in expected {
            assert_eq!(get1(&config, name), value, "{name}");
        }
        assert_eq!(config.get(&[b"*"]).len(), expected.len());
    }

    #[test]
    fn get_matches_like_redis() {
        let config = Config::default();
        let names = |patterns: &[&[u8]]| -> Vec<String> {
            config.get(patterns).into_iter().map(|(n, _)| n).collect()
        };
        // An exact name replies with the client's spelling, once.
        assert_eq!(names(&[b"PORT"]), ["PORT"]);
        assert_eq!(names(&[b"port", b"PORT"]), ["port"]);
        assert_eq!(names(&[b"po*", b"PORT"]), ["port"]);
        assert_eq!(names(&[b"port", b"*ort"]), ["port"]);
        // Globs are case-insensitive and list every match.
        assert_eq!(
            names(&[b"*READ-only*"]),
            ["replica-read-only", "slave-read-only"]
        );
        assert_eq!(names(&[b"p[o]rt"]), ["port"]);
        assert_eq!(names(&[b"requirepas?"]), ["requirepass"]);
        assert_eq!(
            names(&[b"tcp*", b"tcp-backlog"]),
            ["tcp-keepalive", "tcp-backlog"]
        );
        assert_eq!(names(&[b"unixsocket*"]), ["unixsocket", "unixsocketperm"]);
        // Unknown names and the empty pattern match nothing.
        assert!(names(&[b"nosuch"]).is_empty());
        assert!(names(&[b""]).is_empty());
        assert!(names(&[b"maxmemory-policy"]).is_empty());
        assert!(names(&[]).is_empty());
    }

    #[test]
    fn set_changes_and_reads_back_normalised() {
        let mut c = Config::default();
        let cases = [
            ("timeout", "5", "5"),
            ("maxclients", "4294967295", "4294967295"),
            ("tcp-keepalive", "0", "0"),
            ("protected-mode", "NO", "no"),
            ("protected-mode", "YES", "yes"),
            ("loglevel", "WARNING", "warning"),
            ("loglevel", "nothing", "nothing"),
            ("proto-max-bulk-len", "2mb", "2097152"),
            ("proto-max-bulk-len", "2Mb", "2097152"),
            ("proto-max-bulk-len", "1048576B", "1048576"),
            ("proto-max-bulk-len", "01048576", "1048576"),
            ("proto-max-bulk-len", "2gb", "2147483648"),
            (
                "proto-max-bulk-len",
                "9223372036854775807",
                "9223372036854775807",
            ),
            ("client-query-buffer-limit", "1g", "1000000000"),
            ("client-query-buffer-limit", "2000k", "2000000"),
            ("client-query-buffer-limit", "1024KB", "1048576"),
            ("requirepass", "a b", "a b"),
            ("requirepass", "", ""),
        ];
        for (name, value, read_back) in cases {
            assert_eq!(set1(&mut c, name, value), Ok(()), "{name} {value}");
            assert_eq!(get1(&c, name), read_back, "{name} {value}");
        }
        assert_eq!(c.requirepass, None);
        set1(&mut c, "requirepass", "secret").unwrap();
        assert_eq!(c.requirepass.as_deref(), Some(&b"secret"[..]));
        assert_eq!(c.loglevel, LogLevel::Nothing);
    }

    #[test]
    fn set_value_errors_have_redis_wording() {
        let between =
            |lo: &str, hi: &str| format!("argument must be between {lo} and {hi} inclusive");
        let cases: Vec<(&str, &str, String)> = vec![
            ("timeout", "abc", MSG_NOT_INTEGER.into()),
            ("timeout", "", MSG_NOT_INTEGER.into()),
            ("timeout", "+5", MSG_NOT_INTEGER.into()),
            ("timeout", "05", MSG_NOT_INTEGER.into()),
            ("timeout", " 5", MSG_NOT_INTEGER.into()),
            ("timeout", "5.0", MSG_NOT_INTEGER.into()),
            ("timeout", "0x5", MSG_NOT_INTEGER.into()),
            ("timeout", "1k", MSG_NOT_INTEGER.into()),
            ("timeout", "-0", MSG_NOT_INTEGER.into()),
            ("timeout", "99999999999999999999", MSG_NOT_INTEGER.into()),
            ("timeout", "-1", between("0", "2147483647")),
            ("timeout", "99999999999", between("0", "2147483647")),
            ("tcp-keepalive", "-1", between("0", "2147483647")),
            ("maxclients", "0", between("1", "4294967295")),
            ("maxclients", "-1", between("1", "4294967295")),
            ("maxclients", "4294967296", between("1", "4294967295")),
            ("protected-mode", "maybe", MSG_NOT_BOOL.into()),
            ("protected-mode", "", MSG_NOT_BOOL.into()),
            (
                "loglevel",
                "loud",
                "argument(s) must be one of the following: debug, verbose, notice, warning, nothing"
                    .into(),
            ),
            ("proto-max-bulk-len", "1000", between("1048576", "9223372036854775807")),
            ("proto-max-bulk-len", "", between("1048576", "9223372036854775807")),
            ("proto-max-bulk-len", "k", between("1048576", "9223372036854775807")),
            (
                "proto-max-bulk-len",
                "9223372036854775808",
                between("1048576", "9223372036854775807"),
            ),
            (
                "proto-max-bulk-len",
                "18446744073709551616",
                between("1048576", "9223372036854775807"),
            ),
            (
                "proto-max-bulk-len",
                "17179869184gb",
                between("1048576", "9223372036854775807"),
            ),
            ("proto-max-bulk-len", "1.5mb", MSG_NOT_MEMORY.into()),
            ("proto-max-bulk-len", "-5", MSG_NOT_MEMORY.into()),
            ("proto-max-bulk-len", "+2mb", MSG_NOT_MEMORY.into()),
            ("proto-max-bulk-len", "1tb", MSG_NOT_MEMORY.into()),
            ("proto-max-bulk-len", "2 mb", MSG_NOT_MEMORY.into()),
            ("client-query-buffer-limit", "1k", between("1048576", "9223372036854775807")),
        ];
        for (name, value, message) in cases {
            let mut c = Config::default();
            let before = c.get(&[b"*"]);
            assert_eq!(
                set1(&mut c, name, value),
                Err(failed(name, &message)),
                "{name} {value:?}"
            );
            assert_eq!(c.get(&[b"*"]), before, "{name} {value:?} changed something");
        }
    }

    #[test]
    fn set_name_errors_have_redis_wording() {
        let mut c = Config::default();
        assert_eq!(
            set1(&mut c, "foo", "bar"),
            Err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'".into())
        );
        for name in [
            "port",
            "bind",
            "tcp-backlog",
            "databases",
            "logfile",
            "pidfile",
            "unixsocket",
            "unixsocketperm",
            "save",
            "appendonly",
            "daemonize",
            "cluster-enabled",
            "replica-read-only",
            "slave-read-only",
        ] {
            assert_eq!(
                set1(&mut c, name, "1"),
                Err(failed(name, "can't set immutable config")),
                "{name}"
            );
        }
        // Duplicates are found case-insensitively; the later spelling is named.
        assert_eq!(
            c.set(&[(b"timeout", b"5"), (b"TIMEOUT", b"6")]),
            Err(failed("TIMEOUT", "duplicate parameter"))
        );
        // The first problem wins, and nothing is applied.
        assert_eq!(
            c.set(&[(b"timeout", b"5"), (b"foo", b"1"), (b"port", b"1")]),
            Err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'".into())
        );
        assert_eq!(
            c.set(&[(b"timeout", b"5"), (b"port", b"1"), (b"foo", b"1")]),
            Err(failed("port", "can't set immutable config"))
        );
        assert_eq!(
            c.set(&[(b"Timeout", b"5"), (b"maxclients", b"0")]),
            Err(failed(
                "maxclients",
                "argument must be between 1 and 4294967295 inclusive"
            ))
        );
        assert_eq!(get1(&c, "timeout"), "0");
        // Several good pairs apply together.
        assert_eq!(c.set(&[(b"Timeout", b"5"), (b"maxclients", b"7")]), Ok(()));
        assert_eq!((c.timeout, c.maxclients), (5, 7));
        assert_eq!(c.set(&[]), Ok(()));
    }

    #[test]
    fn output_buffer_limits_set_like_redis() {
        let mut c = Config::default();
        let cobl = "client-output-buffer-limit";
        let read = |c: &Config| get1(c, cobl);
        set1(&mut c, cobl, "pubsub 64mb 16mb 30").unwrap();
        assert_eq!(
            read(&c),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 30"
        );
        assert_eq!(
            c.client_output_buffer_limit.pubsub,
            ClassLimit {
                hard: 64 << 20,
                soft: 16 << 20,
                soft_seconds: 30
            }
        );
        set1(&mut c, cobl, "REPLICA 1k 2KB 3").unwrap();
        assert_eq!(
            read(&c),
            "normal 0 0 0 slave 1000 2048 3 pubsub 67108864 16777216 30"
        );
        set1(
            &mut c,
            cobl,
            "slave 1 2 3 normal 4 5 6 pubsub 7 8 9 pubsub 10 11 12",
        )
        .unwrap();
        assert_eq!(read(&c), "normal 4 5 6 slave 1 2 3 pubsub 10 11 12");
        // Redis quirks kept: empty is a no-op, empty or unit-only sizes are 0,
        // '+' and leading zeros are fine in the seconds.
        set1(&mut c, cobl, "").unwrap();
        set1(&mut c, cobl, "pubsub k 0k +07").unwrap();
        assert_eq!(read(&c), "normal 4 5 6 slave 1 2 3 pubsub 0 0 7");
        set1(&mut c, cobl, "pubsub 18446744073709551615 1b 2147483647").unwrap();
        assert_eq!(
            read(&c),
            "normal 4 5 6 slave 1 2 3 pubsub 18446744073709551615 1 2147483647"
        );

        let before = read(&c);
        let cases = [
            ("foo 1 2 3", MSG_OBUF_CLASS),
            ("master 1 2 3", MSG_OBUF_CLASS),
            ("'pubsub' 1 2 3", MSG_OBUF_CLASS),
            ("pubsub 1 2 3 foo 1 2 3", MSG_OBUF_CLASS),
            ("pubsub 1 2", MSG_OBUF_ARG_COUNT),
            ("pubsub 1 2  5", MSG_OBUF_ARG_COUNT),
            ("pubsub 1 2 5 ", MSG_OBUF_ARG_COUNT),
            ("pubsub x 2 3", MSG_OBUF_VALUE),
            ("pubsub 1 x 3", MSG_OBUF_VALUE),
            ("pubsub 1 2 x", MSG_OBUF_VALUE),
            ("pubsub 1 2 -3", MSG_OBUF_VALUE),
            ("pubsub -1 2 3", MSG_OBUF_VALUE),
            ("pubsub 1.5k 2 3", MSG_OBUF_VALUE),
            ("pubsub 1tb 2 3", MSG_OBUF_VALUE),
            ("pubsub 1 2 1k", MSG_OBUF_VALUE),
            ("pubsub 1 2 2147483648", MSG_OBUF_VALUE),
            ("pubsub 1 2 +", MSG_OBUF_VALUE),
            ("pubsub 18446744073709551616 2 3", MSG_OBUF_VALUE),
            ("pubsub 17179869184gb 2 3", MSG_OBUF_VALUE),
            ("pubsub 1 2 3 normal x 1 1", MSG_OBUF_VALUE),
        ];
        for (value, message) in cases {
            assert_eq!(
                set1(&mut c, cobl, value),
                Err(failed(cobl, message)),
                "{value}"
            );
            assert_eq!(read(&c), before, "{value} changed the limits");
        }
    }

    #[test]
    fn strict_integers_follow_string2ll() {
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"0", Some(0)),
            (b"7", Some(7)),
            (b"-7", Some(-7)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"", None),
            (b"-", None),
            (b"-0", None),
            (b"00", None),
            (b"01", None),
            (b"+1", None),
            (b" 1", None),
            (b"1 ", None),
            (b"1x", None),
            (b"\xff", None),
        ];
        for &(input, expected) in cases {
            assert_eq!(
                parse_i64(input),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn memory_values_follow_memtoull() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"0", Some(0)),
            (b"", Some(0)),
            (b"k", Some(0)),
            (b"12", Some(12)),
            (b"12b", Some(12)),
            (b"12B", Some(12)),
            (b"1k", Some(1000)),
            (b"1K", Some(1000)),
            (b"1kb", Some(1024)),
            (b"1kB", Some(1024)),
            (b"3m", Some(3_000_000)),
            (b"3mb", Some(3 << 20)),
            (b"2g", Some(2_000_000_000)),
            (b"2GB", Some(2 << 30)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
            (b"17179869184gb", None),
            (b"-1", None),
            (b"+1", None),
            (b"1.5k", None),
            (b"1kk", None),
            (b"1t", None),
            (b"1 k", None),
        ];
        for &(input, expected) in cases {
            assert_eq!(
                parse_memory(input).ok(),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn octal_socket_permissions() {
        let range = "argument must be between 0 and 777 inclusive";
        let cases: &[(&[u8], Result<u32, &str>)] = &[
            (b"700", Ok(0o700)),
            (b"0700", Ok(0o700)),
            (b"+755", Ok(0o755)),
            (b"777", Ok(0o777)),
            (b"0", Ok(0)),
            (b"", Ok(0)),
            (b"-0", Ok(0)),
            (b"1777", Err(range)),
            (b"-1", Err(range)),
            (b"99999999999999999999999", Err(MSG_NOT_OCTAL)),
            (b"800", Err(MSG_NOT_OCTAL)),
            (b"7a", Err(MSG_NOT_OCTAL)),
            (b"+", Err(MSG_NOT_OCTAL)),
            (b"0x1", Err(MSG_NOT_OCTAL)),
        ];
        for &(input, expected) in cases {
            assert_eq!(
                octal_arg(input, 0o777),
                expected.map_err(str::to_string),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let mut c = Config::default();
        c.apply("unixsocketperm", &[b"700".to_vec()]).unwrap();
        assert_eq!(
            (c.unixsocketperm, get1(&c, "unixsocketperm")),
            (Some(0o700), "700".into())
        );
        c.apply("unixsocketperm", &[b"0".to_vec()]).unwrap();
        assert_eq!(
            (c.unixsocketperm, get1(&c, "unixsocketperm")),
            (None, "0".into())
        );
    }

    #[test]
    fn file_directives_apply_and_read_back() {
        let (config, _) = load(
            b"# a comment\n\
              \n\
              \x20  # indented comment\n\
              PORT 7000\r\n\
              \tbind 127.0.0.1 ::1   \n\
              protected-mode No\n\
              requirepass \"p a\\x73s\"\n\
              maxclients 20\n\
              timeout 30\n\
              tcp-keepalive 60\n\
              tcp-backlog 128\n\
              databases 1\n\
              client-output-buffer-limit normal 1mb 512kb 10 pubsub 64mb 16mb 30\n\
              proto-max-bulk-len 1mb\n\
              client-query-buffer-limit 2mb\n\
              loglevel debug\n\
              logfile /var/log/pubsubd.log\n\
              pidfile '/run/pubsubd.pid'\n\
              unixsocket /tmp/pubsubd.sock\n\
              unixsocketperm 770\n",
        );
        let c = config.unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.bind, ["127.0.0.1", "::1"]);
        assert!(!c.protected_mode);
        assert_eq!(c.requirepass.as_deref(), Some(&b"p ass"[..]));
        assert_eq!((c.maxclients, c.timeout, c.tcp_keepalive), (20, 30, 60));
        assert_eq!((c.tcp_backlog, c.databases), (128, 1));
        assert_eq!(c.loglevel, LogLevel::Debug);
        assert_eq!(
            c.logfile.as_deref(),
            Some(Path::new("/var/log/pubsubd.log"))
        );
        assert_eq!(c.pidfile.as_deref(), Some(Path::new("/run/pubsubd.pid")));
        assert_eq!(
            c.unixsocket.as_deref(),
            Some(Path::new("/tmp/pubsubd.sock"))
        );
        assert_eq!(c.unixsocketperm, Some(0o770));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let expected = [
            ("port", "7000"),
            ("bind", "127.0.0.1 ::1"),
            ("protected-mode", "no"),
            ("requirepass", "p ass"),
            (
                "client-output-buffer-limit",
                "normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 67108864 16777216 30",
            ),
            ("proto-max-bulk-len", "1048576"),
            ("client-query-buffer-limit", "2097152"),
            ("loglevel", "debug"),
            ("logfile", "/var/log/pubsubd.log"),
            ("pidfile", "/run/pubsubd.pid"),
            ("unixsocket", "/tmp/pubsubd.sock"),
            ("unixsocketperm", "770"),
        ];
        for (name, value) in expected {
            assert_eq!(get1(&c, name), value, "{name}");
        }
    }

    #[test]
    fn file_special_values() {
        // "" means unset; one quoted argument of a list directive is split;
        // a list directive with no arguments is allowed, as in Redis.
        let (config, _) = load(
            b"requirepass \"\"\nlogfile \"\"\npidfile ''\nunixsocket \"\"\n\
              bind \"10.0.0.1 10.0.0.2\"\n\
              client-output-buffer-limit \"pubsub 1 2 3\"\n\
              client-output-buffer-limit\n",
        );
        let c = config.unwrap();
        assert_eq!(c.requirepass, None);
        assert_eq!((c.logfile, c.pidfile, c.unixsocket), (None, None, None));
        assert_eq!(c.bind, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(
            c.client_output_buffer_limit.pubsub,
            ClassLimit {
                hard: 1,
                soft: 2,
                soft_seconds: 3
            }
        );
        let (config, _) = load(b"bind\n");
        assert!(config.unwrap().bind.is_empty());
    }

    #[test]
    fn bind_with_one_empty_argument_binds_nothing() {
        // Redis reads `bind ""` as no address ("Configured to not listen
        // anywhere"), not as an address that cannot be parsed.
        let (config, _) = load(b"bind \"\"\n");
        assert!(config.unwrap().bind.is_empty());
        assert!(run(&["--bind", ""]).bind.is_empty());
        // More than one argument keeps every one, empty or not, as in Redis.
        let (config, _) = load(b"bind 127.0.0.1 \"\"\n");
        assert_eq!(config.unwrap().bind, ["127.0.0.1", ""]);
    }

    #[test]
    fn file_errors_name_file_line_and_directive() {
        let between =
            |lo: &str, hi: &str| format!("argument must be between {lo} and {hi} inclusive");
        let cases: Vec<(&[u8], usize, Option<&str>, String)> = vec![
            (b"port abc", 1, Some("port"), MSG_NOT_INTEGER.into()),
            (b"port 1 2", 1, Some("port"), MSG_WRONG_ARG_COUNT.into()),
            (b"PORT", 1, Some("port"), MSG_WRONG_ARG_COUNT.into()),
            (b"port 65536", 1, Some("port"), between("0", "65535")),
            (b"port -1", 1, Some("port"), between("0", "65535")),
            (b"foo bar", 1, Some("foo"), MSG_BAD_DIRECTIVE.into()),
            (b"'' 5", 1, Some(""), MSG_BAD_DIRECTIVE.into()),
            (b"timeout \"x", 1, None, MSG_UNBALANCED_QUOTES.into()),
            (b"timeout \"5\"x", 1, None, MSG_UNBALANCED_QUOTES.into()),
            (b"protected-mode maybe", 1, Some("protected-mode"), MSG_NOT_BOOL.into()),
            (b"databases 0", 1, Some("databases"), between("1", "2147483647")),
            (b"maxclients 0", 1, Some("maxclients"), between("1", "4294967295")),
            (b"tcp-backlog -1", 1, Some("tcp-backlog"), between("0", "2147483647")),
            (
                b"proto-max-bulk-len 1k",
                1,
                Some("proto-max-bulk-len"),
                between("1048576", "9223372036854775807"),
            ),
            (b"proto-max-bulk-len x", 1, Some("proto-max-bulk-len"), MSG_NOT_MEMORY.into()),
            (b"unixsocketperm 800", 1, Some("unixsocketperm"), MSG_NOT_OCTAL.into()),
            (
                b"unixsocketperm 1777",
                1,
                Some("unixsocketperm"),
                "argument must be between 0 and 777 inclusive".into(),
            ),
            (b"logfile", 1, Some("logfile"), MSG_WRONG_ARG_COUNT.into()),
            (b"logfile a b", 1, Some("logfile"), MSG_WRONG_ARG_COUNT.into()),
            (b"requirepass", 1, Some("requirepass"), MSG_WRONG_ARG_COUNT.into()),
            (b"include", 1, Some("include"), MSG_BAD_DIRECTIVE.into()),
            (b"include a b", 1, Some("include"), MSG_BAD_DIRECTIVE.into()),
            (
                b"bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
                1,
                Some("bind"),
                MSG_TOO_MANY_BIND.into(),
            ),
            (b"bind \"a \\\"b\"", 1, Some("bind"), MSG_UNBALANCED_QUOTES.into()),
            (
                b"client-output-buffer-limit pubsub 1 2",
                1,
                Some("client-output-buffer-limit"),
                MSG_OBUF_ARG_COUNT.into(),
            ),
            (
                b"client-output-buffer-limit 'pubsub 1 2 3' normal 1 2 3",
                1,
                Some("client-output-buffer-limit"),
                MSG_OBUF_ARG_COUNT.into(),
            ),
            (
                b"loglevel x",
                1,
                Some("loglevel"),
                "argument(s) must be one of the following: debug, verbose, notice, warning, nothing"
                    .into(),
            ),
            (
                b"tls-port 6380",
                1,
                Some("tls-port"),
                "pubsubd does not support TLS yet; tls-port must be 0".into(),
            ),
            (b"tls-port x", 1, Some("tls-port"), MSG_NOT_INTEGER.into()),
            (b"timeout 5\n  # comment\n\tport 1 2", 3, Some("port"), MSG_WRONG_ARG_COUNT.into()),
        ];
        for (contents, line, directive, message) in cases {
            let (result, path) = load(contents);
            let error = result
                .err()
                .unwrap_or_else(|| panic!("{:?} loaded", String::from_utf8_lossy(contents)));
            assert_eq!(error.file.as_deref(), Some(path.as_path()));
            assert_eq!(error.line, Some(line));
            assert_eq!(error.directive.as_deref(), directive);
            assert_eq!(
                error.message,
                message,
                "{:?}",
                String::from_utf8_lossy(contents)
            );
        }
    }

    #[test]
    fn error_display() {
        let (result, path) = load(b"\n\nport abc\n");
        assert_eq!(
            result.unwrap_err().to_string(),
            format!(
                "{}:3: 'port': argument couldn't be parsed into an integer",
                path.display()
            )
        );
        let (result, path) = load(b"x \"y");
        assert_eq!(
            result.unwrap_err().to_string(),
            format!(
                "{}:1: Unbalanced quotes in configuration line",
                path.display()
            )
        );
        let dir = scratch_dir();
        let missing = dir.join("missing.conf");
        let error = Config::default().load_file(&missing).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}: can't open config file: No such file or directory",
                missing.display()
            )
        );
        let error = Config::from_args(["--port", "abc"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "command line: 'port': argument couldn't be parsed into an integer"
        );
        assert_eq!((error.file, error.line), (None, None));
    }

    #[test]
    fn ignored_directives_warn_once_each() {
        let (config, path) = load(
            b"save 900 1\nsave \"\"\nappendonly yes\nDIR /var/lib/redis\ndaemonize yes\n\
              maxmemory 1gb\nmaxmemory-policy allkeys-lru\nslave-serve-stale-data yes\n\
              replica-read-only yes\nlazyfree-lazy-eviction no\nhz 10\n\
              list-max-ziplist-entries 512\nhash-max-listpack-value 64\n\
              cluster-enabled yes\ntls-port 0\ntls-cert-file x.crt\nsyslog-enabled no\n\
              acl-pubsub-default resetchannels\naclfile \"\"\nnotify-keyspace-events \"\"\n",
        );
        let c = config.unwrap();
        // maxmemory and notify-keyspace-events are real directives: no warning.
        assert_eq!(c.warnings.len(), 18, "{:#?}", c.warnings);
        assert_eq!(
            c.warnings[0],
            format!(
                "{}:1: 'save' is a Redis directive that pubsubd does not use; ignored",
                path.display()
            )
        );
        assert!(c.warnings[3].contains(":4: 'dir' is a Redis directive"));
        let c = run(&["--appendonly", "no"]);
        assert_eq!(
            c.warnings,
            ["command line: 'appendonly' is a Redis directive that pubsubd does not use; ignored"]
        );
        // Ignored directives do not appear in CONFIG GET (except the constants).
        assert!(c.get(&[b"maxmemory-policy", b"hz", b"dir"]).is_empty());
        assert_eq!(get1(&c, "appendonly"), "no");
    }

    #[test]
    fn access_directives_work_or_stop_start_up() {
        let refused: &[(&[u8], &str)] = &[
            (b"user default off", MSG_ACL_USERS),
            (b"user default on nopass ~* &* +@all", MSG_ACL_USERS),
            (b"USER app on >s3cret ~* &* +@all", MSG_ACL_USERS),
            (b"aclfile /x/users.acl", MSG_ACL_FILE),
            (b"loadmodule /x/auth.so", MSG_MODULES),
            (b"unixsocketgroup wheel", MSG_SOCKET_GROUP),
            (
                b"rename-command nosuch x",
                "No such command in rename-command",
            ),
            (
                b"rename-command config|get x",
                "No such command in rename-command",
            ),
            (
                b"rename-command CONFIG ping",
                "Target command name already exists",
            ),
            (b"rename-command CONFIG", MSG_BAD_DIRECTIVE),
            (
                b"rename-command config \"\"\nrename-command config x",
                "No such command in rename-command",
            ),
        ];
        for (contents, message) in refused {
            let (result, path) = load(contents);
            let error = result.expect_err(&String::from_utf8_lossy(contents));
            assert_eq!(error.message, *message);
            assert_eq!(error.file.as_deref(), Some(path.as_path()));
            assert_eq!(error.line, Some(contents.split(|&b| b == b'\n').count()));
        }
        let error = Config::from_args(["--user", "default", "off"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("command line: 'user': {MSG_ACL_USERS}")
        );

        let c = run(&[
            "--rename-command",
            "CONFIG",
            "",
            "--rename-command",
            "publish",
            "P2",
            "--rename-command",
            "echo",
            "publish",
        ]);
        let names = &c.command_names;
        assert!(!names.unchanged());
        assert!(names.lookup(b"config").is_none());
        assert_eq!(names.lookup(b"p2").map(|c| c.name), Some("publish"));
        assert_eq!(names.lookup(b"PUBLISH").map(|c| c.name), Some("echo"));
        assert!(names.lookup(b"echo").is_none());
        assert_eq!(names.lookup(b"Ping").map(|c| c.name), Some("ping"));
        assert!(names.commands().all(|c| c.name != "config"));
        // A command may be renamed again, under the name it has now.
        let c = run(&[
            "--rename-command",
            "ping",
            "p1",
            "--rename-command",
            "p1",
            "p2",
        ]);
        assert_eq!(c.command_names.lookup(b"P2").map(|c| c.name), Some("ping"));
        assert!(c.command_names.lookup(b"p1").is_none());
        assert!(run(&[]).command_names.unchanged());
    }

    #[test]
    fn include_reads_files_in_place() {
        let dir = scratch_dir();
        let inner = write(&dir, "inner.conf", b"port 7001\ntimeout 9\n");
        let outer = write(
            &dir,
            "outer.conf",
            format!("port 7000\ninclude {}\nport 7002\n", inner.display()).as_bytes(),
        );
        let mut c = Config::default();
        c.load_file(&outer).unwrap();
        assert_eq!((c.port, c.timeout), (7002, 9));

        // An error inside an included file names that file and line.
        let bad = write(&dir, "bad.conf", b"\ntimeout x\n");
        let outer = write(
            &dir,
            "outer2.conf",
            format!("include {}\n", bad.display()).as_bytes(),
        );
        let error = Config::default().load_file(&outer).unwrap_err();
        assert_eq!(error.file.as_deref(), Some(bad.as_path()));
        assert_eq!(error.line, Some(2));

        // A missing include is reported at the include line.
        let missing = dir.join("missing.conf");
        let outer = write(
            &dir,
            "outer3.conf",
            format!("port 1\ninclude {}\n", missing.display()).as_bytes(),
        );
        let error = Config::default().load_file(&outer).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}:2: 'include': can't open config file '{}': No such file or directory",
                outer.display(),
                missing.display()
            )
        );

        // A file including itself stops at the depth cap instead of recursing.
        let looping = dir.join("loop.conf");
        write(
            &dir,
            "loop.conf",
            format!("include {}\n", looping.display()).as_bytes(),
        );
        let error = Config::default().load_file(&looping).unwrap_err();
        assert!(error.message.contains("nested more than"), "{error}");
        assert_eq!(error.line, Some(1));

        // Includes work from the command line too.
        let c = run(&["--include", inner.to_str().unwrap(), "--timeout", "3"]);
        assert_eq!((c.port, c.timeout), (7001, 3));
    }

    #[test]
    fn command_line_overrides_file() {
        let dir = scratch_dir();
        let file = write(
            &dir,
            "base.conf",
            b"port 7000\ntimeout 10\nloglevel debug\n",
        );
        let c = run(&[
            file.to_str().unwrap(),
            "--port",
            "7100",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--client-output-buffer-limit",
            "pubsub",
            "1mb",
            "2mb",
            "3",
            "--requirepass",
            "--not-a-flag",
            "--save",
            "--LogLevel",
            "warning",
            "--save",
        ]);
        assert_eq!(
            (c.port, c.timeout, c.loglevel),
            (7100, 10, LogLevel::Warning)
        );
        assert_eq!(c.bind, ["127.0.0.1", "-::1"]);
        assert_eq!(c.client_output_buffer_limit.pubsub.soft_seconds, 3);
        assert_eq!(c.requirepass.as_deref(), Some(&b"--not-a-flag"[..]));
        assert_eq!(c.warnings.len(), 2);

        // A whole directive in one word, and a quoted list in one argument.
        let c = run(&["--port 7200", "--bind", "10.0.0.1 10.0.0.2", "--save", ""]);
        assert_eq!(c.port, 7200);
        assert_eq!(c.bind, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(run(&[]).port, 6379);

        // Bad directives are errors from the command line.
        let error = Config::from_args(["--port"]).unwrap_err();
        assert_eq!(error.message, MSG_WRONG_ARG_COUNT);
        let error = Config::from_args(["--nosuch", "1"]).unwrap_err();
        assert_eq!(error.message, MSG_BAD_DIRECTIVE);
        assert_eq!(error.directive.as_deref(), Some("nosuch"));
        let error = Config::from_args(["/nonexistent/pubsubd.conf"]).unwrap_err();
        assert!(error.message.starts_with("can't open config file"));
    }

    #[test]
    fn help_version_and_usage_errors() {
        for args in [&["--help"][..], &["-h"], &["--port", "1", "--help"]] {
            match Config::from_args(args) {
                Ok(Startup::Exit { text, code: 0 }) => {
                    assert!(text.contains("Usage: pubsubd"), "{text}");
                    assert!(text.contains("--client-output-buffer-limit"), "{text}");
                    assert!(!text.contains("--appendonly"), "{text}");
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
        for args in [&["--version"][..], &["-v"]] {
            match Config::from_args(args) {
                Ok(Startup::Exit { text, code: 0 }) => {
                    assert_eq!(text, format!("pubsubd {}\n", env!("CARGO_PKG_VERSION")));
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
        for args in [&["a.conf", "stray"][..], &["-x"], &["-"], &["--"]] {
            match Config::from_args(args) {
                Ok(Startup::Exit { text, code: 1 }) => {
                    assert!(text.contains("unexpected argument"), "{text}");
                }
                // "a.conf" does not exist: the file is read first.
                Err(e) if args[0] == "a.conf" => assert!(e.message.contains("can't open")),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        let dir = scratch_dir();
        let file = write(&dir, "ok.conf", b"");
        match Config::from_args([file.to_str().unwrap(), "stray"]) {
            Ok(Startup::Exit { text, code: 1 }) => assert!(text.contains("'stray'"), "{text}"),
            other => panic!("{other:?}"),
        }
        cli_command().debug_assert();
    }

    #[test]
    fn apply_is_the_shared_path() {
        let mut c = Config::default();
        assert_eq!(c.apply("Timeout", &[b"7".to_vec()]), Ok(()));
        assert_eq!(c.timeout, 7);
        assert_eq!(c.apply("timeout", &[]), Err(MSG_WRONG_ARG_COUNT.into()));
        assert_eq!(c.apply("nosuch", &[]), Err(MSG_BAD_DIRECTIVE.into()));
        assert_eq!(c.apply("hz", &[b"10".to_vec()]), Ok(()));
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn log_levels() {
        let table = [
            (LogLevel::Debug, "debug", "debug"),
            (LogLevel::Verbose, "verbose", "info"),
            (LogLevel::Notice, "notice", "info"),
            (LogLevel::Warning, "warning", "warn"),
            (LogLevel::Nothing, "nothing", "off"),
        ];
        for (level, name, directive) in table {
            assert_eq!(level.as_str(), name);
            assert_eq!(level.tracing_directive(), directive);
            assert_eq!(LogLevel::parse(name.to_uppercase().as_bytes()), Ok(level));
        }
    }

    #[test]
    fn example_config_is_the_defaults_and_documents_everything() {
        let example = include_str!("../redis.conf.example");
        let (config, _) = load(example.as_bytes());
        let config = config.unwrap();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        assert_eq!(config.get(&[b"*"]), Config::default().get(&[b"*"]));
        for param in PARAMS {
            assert!(
                example.contains(&format!("\n# {}", param.name))
                    || example.contains(&format!("#   {}", param.name)),
                "{} is not documented",
                param.name
            );
        }
        for name in IGNORED_DIRECTIVES {
            assert!(example.contains(name), "{name} is not listed");
        }
        for prefix in IGNORED_PREFIXES {
            assert!(
                example.contains(&format!("{prefix}*")),
                "{prefix}* is not listed"
            );
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        let values: &[&[u8]] = &[
            b"",
            b"\xff\xfe",
            b"-",
            b"+",
            b"99999999999999999999999999999",
            b"-99999999999999999999999999999",
            b"1gbgb",
            b"\0",
            b" ",
        ];
        for param in PARAMS {
            for value in values {
                let mut c = Config::default();
                let _ = c.set(&[(param.name.as_bytes(), value)]);
                let _ = c.apply(param.name, &[value.to_vec()]);
                let _ = c.apply(param.name, &[value.to_vec(), value.to_vec()]);
            }
        }
        let (_, _) = load(b"\xff\xfe 1\n\0\n\"\\\n'\n");
    }
}

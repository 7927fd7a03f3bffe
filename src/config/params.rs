//! The parameter table: every directive pubsubd knows, how each is parsed
//! and read back, and the Redis directives it accepts and ignores or refuses.

use super::*;

/// Parses one argument into a field; returns Redis's error text on failure.
pub(super) type SetOne = fn(&mut Config, &[u8]) -> Result<(), String>;
/// Parses a list of arguments (`bind`, `client-output-buffer-limit`).
pub(super) type SetMany = fn(&mut Config, &[Vec<u8>]) -> Result<(), String>;
/// Returns a parameter's CONFIG GET value.
pub(super) type Get = fn(&Config) -> Vec<u8>;

/// How a parameter takes its value.
pub(super) enum Kind {
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
pub(super) struct Param {
    /// The redis.conf / CONFIG name.
    pub(super) name: &'static str,
    /// Whether CONFIG SET may change it.
    pub(super) mutable: bool,
    pub(super) kind: Kind,
    /// Placeholder for `--help`, e.g. `PORT`.
    pub(super) value_name: &'static str,
    /// One line for `--help`.
    pub(super) help: &'static str,
}

impl Param {
    /// Returns the parameter's value in Redis's normalised CONFIG GET form.
    pub(super) fn read(&self, config: &Config) -> Vec<u8> {
        match &self.kind {
            Kind::One { get, .. } | Kind::Many { get, .. } => get(config),
            Kind::Constant(value) => value.as_bytes().to_vec(),
        }
    }
}

/// `busy-reply-threshold` and its old name `lua-time-limit`: one setting.
pub(super) const BUSY_REPLY_THRESHOLD: Kind = Kind::One {
    set: |c, v| int_arg(v, 0, i64::MAX).map(|n| c.busy_reply_threshold = n),
    get: |c| c.busy_reply_threshold.to_string().into_bytes(),
};

/// Every parameter pubsubd knows, in the order CONFIG GET `*` lists them.
pub(super) static PARAMS: &[Param] = &[
    Param {
        name: "port",
        mutable: true,
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
        name: "io-threads",
        mutable: false,
        kind: Kind::One {
            set: |c, v| int_arg(v, 1, super::IO_THREADS_MAX).map(|n| c.io_threads = Some(n)),
            get: |c| c.io_threads().to_string().into_bytes(),
        },
        value_name: "N",
        help: "Threads serving connections [default: 1; 2 in cluster mode]",
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
        name: "dir",
        mutable: false,
        kind: Kind::One {
            // Checked here so a missing directory is reported with its line
            // (Redis fails the same way, with the system's error text);
            // entered by main at start-up.
            set: |c, v| {
                let path = bytes_to_path(v);
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_dir() => {
                        c.dir = Some(path);
                        Ok(())
                    }
                    Ok(_) => Err("Not a directory".to_string()),
                    Err(e) => Err(io_error_text(&e)),
                }
            },
            // As in Redis: the working directory itself, absolute.
            get: |_| {
                std::env::current_dir()
                    .map(|p| os_bytes(p.as_os_str()))
                    .unwrap_or_default()
            },
        },
        value_name: "DIR",
        help: "Working directory; relative file paths resolve from it [default: where started]",
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
        name: "slowlog-log-slower-than",
        mutable: true,
        kind: Kind::One {
            set: |c, v| int_arg(v, -1, i64::MAX).map(|n| c.slowlog_log_slower_than = n),
            get: |c| c.slowlog_log_slower_than.to_string().into_bytes(),
        },
        value_name: "MICROSECONDS",
        help: "SLOWLOG logs commands that run at least this long; -1 = never [default: 10000]",
    },
    Param {
        name: "slowlog-max-len",
        mutable: true,
        kind: Kind::One {
            set: |c, v| int_arg(v, 0, i64::MAX).map(|n| c.slowlog_max_len = n),
            get: |c| c.slowlog_max_len.to_string().into_bytes(),
        },
        value_name: "N",
        help: "Most entries SLOWLOG keeps [default: 128]",
    },
    Param {
        name: "latency-monitor-threshold",
        mutable: true,
        kind: Kind::One {
            set: |c, v| int_arg(v, 0, i64::MAX).map(|n| c.latency_monitor_threshold = n),
            get: |c| c.latency_monitor_threshold.to_string().into_bytes(),
        },
        value_name: "MILLISECONDS",
        help: "LATENCY records events that take at least this long; 0 = off [default: 0]",
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
        name: "enable-debug-command",
        mutable: false,
        kind: Kind::One {
            set: |c, v| ProtectedAction::parse(v).map(|a| c.enable_debug_command = a),
            get: |c| c.enable_debug_command.as_str().as_bytes().to_vec(),
        },
        value_name: "no|yes|local",
        help: "Who may run DEBUG: nobody, everyone, or local clients [default: no]",
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
    Param {
        name: "cluster-nats",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                let text =
                    std::str::from_utf8(v).map_err(|_| "invalid NATS URL list".to_string())?;
                c.cluster_nats = crate::cluster::parse_urls(text)?;
                Ok(())
            },
            get: |c| c.cluster_nats.join(",").into_bytes(),
        },
        value_name: "URLS",
        help: "Cluster mode: comma-separated NATS server URLs (nats://host:port), tried in order [default: none, cluster mode off]",
    },
    Param {
        name: "cluster-name",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                let name = String::from_utf8_lossy(v).into_owned();
                crate::cluster::check_name(&name)?;
                c.cluster_name = name;
                Ok(())
            },
            get: |c| c.cluster_name.clone().into_bytes(),
        },
        value_name: "NAME",
        help: "Cluster mode: keeps this cluster apart from others on the same NATS [default: pubsubd]",
    },
    Param {
        name: "cluster-nats-user",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                c.cluster_nats_auth.user = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.cluster_nats_auth.user.clone().into_bytes(),
        },
        value_name: "USER",
        help: "Cluster mode: NATS user name, with cluster-nats-password [default: none]",
    },
    Param {
        name: "cluster-nats-password",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                c.cluster_nats_auth.password = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.cluster_nats_auth.password.clone().into_bytes(),
        },
        value_name: "PASSWORD",
        help: "Cluster mode: NATS password, with cluster-nats-user [default: none]",
    },
    Param {
        name: "cluster-nats-token",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                c.cluster_nats_auth.token = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.cluster_nats_auth.token.clone().into_bytes(),
        },
        value_name: "TOKEN",
        help: "Cluster mode: NATS authentication token [default: none]",
    },
    Param {
        name: "cluster-nats-tls-ca-cert-file",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                c.cluster_nats_auth.tls_ca_cert_file = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.cluster_nats_auth.tls_ca_cert_file.clone().into_bytes(),
        },
        value_name: "FILE",
        help: "Cluster mode: PEM CA certificates NATS servers must chain to; TLS to NATS required [default: the system's, TLS only if the server asks]",
    },
    Param {
        name: "cluster-nats-tls-cert-file",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                c.cluster_nats_auth.tls_cert_file = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.cluster_nats_auth.tls_cert_file.clone().into_bytes(),
        },
        value_name: "FILE",
        help: "Cluster mode: PEM client certificate for NATS, with cluster-nats-tls-key-file [default: none]",
    },
    Param {
        name: "cluster-nats-tls-key-file",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                c.cluster_nats_auth.tls_key_file = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.cluster_nats_auth.tls_key_file.clone().into_bytes(),
        },
        value_name: "FILE",
        help: "Cluster mode: PEM private key of cluster-nats-tls-cert-file [default: none]",
    },
    Param {
        name: "tls-port",
        mutable: true,
        kind: Kind::One {
            set: |c, v| int_arg(v, 0, 65535).map(|n| c.tls.port = n),
            get: |c| c.tls.port.to_string().into_bytes(),
        },
        value_name: "PORT",
        help: "TLS port to listen on (same bind addresses); 0 disables TLS [default: 0]",
    },
    Param {
        name: "tls-cert-file",
        mutable: true,
        kind: Kind::One {
            set: |c, v| {
                c.tls.cert_file = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.tls.cert_file.clone().into_bytes(),
        },
        value_name: "FILE",
        help: "Server certificate chain (PEM); CONFIG SET reloads it",
    },
    Param {
        name: "tls-key-file",
        mutable: true,
        kind: Kind::One {
            set: |c, v| {
                c.tls.key_file = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.tls.key_file.clone().into_bytes(),
        },
        value_name: "FILE",
        help: "Server private key (PEM, unencrypted)",
    },
    Param {
        name: "tls-key-file-pass",
        mutable: true,
        kind: Kind::One {
            set: |c, v| {
                c.tls.key_file_pass = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.tls.key_file_pass.clone().into_bytes(),
        },
        value_name: "PASS",
        help: "Refused when set: decrypt the key file instead",
    },
    Param {
        name: "tls-ca-cert-file",
        mutable: true,
        kind: Kind::One {
            set: |c, v| {
                c.tls.ca_cert_file = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.tls.ca_cert_file.clone().into_bytes(),
        },
        value_name: "FILE",
        help: "CA certificates that client certificates must chain to",
    },
    Param {
        name: "tls-ca-cert-dir",
        mutable: true,
        kind: Kind::One {
            set: |c, v| {
                c.tls.ca_cert_dir = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.tls.ca_cert_dir.clone().into_bytes(),
        },
        value_name: "DIR",
        help: "Directory of CA certificate files",
    },
    Param {
        name: "tls-auth-clients",
        mutable: true,
        kind: Kind::One {
            set: |c, v| crate::tls::AuthClients::parse(v).map(|a| c.tls.auth_clients = a),
            get: |c| c.tls.auth_clients.as_str().as_bytes().to_vec(),
        },
        value_name: "yes|no|optional",
        help: "Require client certificates [default: yes]",
    },
    Param {
        name: "tls-protocols",
        mutable: true,
        kind: Kind::One {
            set: |c, v| {
                c.tls.protocols = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.tls.protocols.clone().into_bytes(),
        },
        value_name: "LIST",
        help: "TLSv1.2 and/or TLSv1.3 [default: both]",
    },
    Param {
        name: "tls-ciphers",
        mutable: true,
        kind: Kind::One {
            set: |c, v| {
                c.tls.ciphers = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.tls.ciphers.clone().into_bytes(),
        },
        value_name: "LIST",
        help: "TLS 1.2 cipher suites, OpenSSL names joined by ':'",
    },
    Param {
        name: "tls-ciphersuites",
        mutable: true,
        kind: Kind::One {
            set: |c, v| {
                c.tls.ciphersuites = String::from_utf8_lossy(v).into_owned();
                Ok(())
            },
            get: |c| c.tls.ciphersuites.clone().into_bytes(),
        },
        value_name: "LIST",
        help: "TLS 1.3 cipher suites, OpenSSL names joined by ':'",
    },
    Param {
        name: "tls-prefer-server-ciphers",
        mutable: true,
        kind: Kind::One {
            set: |c, v| bool_arg(v).map(|b| c.tls.prefer_server_ciphers = b),
            get: |c| yes_no(c.tls.prefer_server_ciphers),
        },
        value_name: "yes|no",
        help: "Choose the cipher suite in the server's order [default: no]",
    },
    Param {
        name: "tls-session-caching",
        mutable: true,
        kind: Kind::One {
            set: |c, v| bool_arg(v).map(|b| c.tls.session_caching = b),
            get: |c| yes_no(c.tls.session_caching),
        },
        value_name: "yes|no",
        help: "Let clients resume TLS sessions [default: yes]",
    },
    Param {
        name: "tls-session-cache-size",
        mutable: true,
        kind: Kind::One {
            set: |c, v| int_arg(v, 0, INT_MAX).map(|n| c.tls.session_cache_size = n),
            get: |c| c.tls.session_cache_size.to_string().into_bytes(),
        },
        value_name: "N",
        help: "Most TLS sessions kept for resumption [default: 20480]",
    },
    Param {
        name: "tls-session-cache-timeout",
        mutable: true,
        kind: Kind::One {
            set: |c, v| int_arg(v, 0, INT_MAX).map(|n| c.tls.session_cache_timeout = n),
            get: |c| c.tls.session_cache_timeout.to_string().into_bytes(),
        },
        value_name: "N",
        help: "Seconds a TLS session may be resumed [default: 300]",
    },
    Param {
        name: "latency-tracking",
        mutable: true,
        kind: Kind::One {
            set: |c, v| bool_arg(v).map(|b| c.latency_tracking = b),
            get: |c| yes_no(c.latency_tracking),
        },
        value_name: "yes|no",
        help: "Keep per-command latency histograms for INFO latencystats [default: yes]",
    },
    Param {
        name: "latency-tracking-info-percentiles",
        mutable: true,
        kind: Kind::Many {
            set: set_latency_percentiles,
            get: |c| {
                let words: Vec<String> = c
                    .latency_tracking_info_percentiles
                    .iter()
                    .map(f64::to_string)
                    .collect();
                words.join(" ").into_bytes()
            },
        },
        value_name: "P...",
        help: "Percentiles INFO latencystats reports [default: 50 99 99.9]",
    },
    Param {
        name: "aclfile",
        mutable: false,
        kind: Kind::One {
            set: |c, v| {
                c.aclfile = (!v.is_empty()).then(|| bytes_to_path(v));
                Ok(())
            },
            get: |c| {
                c.aclfile
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned().into_bytes())
                    .unwrap_or_default()
            },
        },
        value_name: "PATH",
        help: "File of ACL users for ACL LOAD / ACL SAVE (not with user lines)",
    },
    Param {
        name: "acl-pubsub-default",
        mutable: true,
        kind: Kind::One {
            set: |c, v| {
                c.acl_pubsub_default_all = if v.eq_ignore_ascii_case(b"allchannels") {
                    true
                } else if v.eq_ignore_ascii_case(b"resetchannels") {
                    false
                } else {
                    return Err(
                        "argument(s) must be one of the following: allchannels, resetchannels"
                            .to_string(),
                    );
                };
                Ok(())
            },
            get: |c| {
                if c.acl_pubsub_default_all {
                    b"allchannels".to_vec()
                } else {
                    b"resetchannels".to_vec()
                }
            },
        },
        value_name: "allchannels|resetchannels",
        help: "Channels of a new ACL user [default: resetchannels]",
    },
    Param {
        name: "acllog-max-len",
        mutable: true,
        kind: Kind::One {
            set: |c, v| int_arg(v, 0, i64::from(i32::MAX)).map(|n| c.acllog_max_len = n),
            get: |c| c.acllog_max_len.to_string().into_bytes(),
        },
        value_name: "N",
        help: "Entries ACL LOG keeps [default: 128]",
    },
];

/// Most percentiles `latency-tracking-info-percentiles` may list, so INFO
/// lines stay bounded (Redis sets no limit; nobody needs more).
pub const LATENCY_PERCENTILES_MAX: usize = 32;

/// Parses `latency-tracking-info-percentiles`: numbers from 0 to 100, as
/// Redis checks them; one empty argument means none.
fn set_latency_percentiles(config: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
    let args = match args {
        [only] if only.is_empty() => &[],
        _ => args,
    };
    if args.len() > LATENCY_PERCENTILES_MAX {
        return Err(format!(
            "latency-tracking-info-percentiles takes at most {LATENCY_PERCENTILES_MAX} values"
        ));
    }
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        let p = std::str::from_utf8(a)
            .ok()
            .filter(|t| !t.is_empty() && !t.starts_with(char::is_whitespace))
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|p| p.is_finite())
            .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
        if !(0.0..=100.0).contains(&p) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .to_string(),
            );
        }
        out.push(p);
    }
    config.latency_tracking_info_percentiles = out;
    Ok(())
}

/// Redis 7 directives that are accepted with a warning and otherwise ignored
/// (besides the constants in [`PARAMS`], which are treated the same way).
///
/// Nothing that restricts access or changes who may do what is ignored: each
/// such directive either works (`requirepass`, `user`, `aclfile`, `protected-mode`, `bind`,
/// `unixsocketperm`, `rename-command`) or stops start-up ([`refusal`]).
/// Each entry here says why ignoring it leaves no one more access than the
/// operator configured.
pub(super) static IGNORED_DIRECTIVES: &[&str] = &[
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
    "disable-thp",
    "dynamic-hz",
    // Redis 7 removed the Gopher protocol; no access path either way.
    "gopher-enabled",
    // What reaches the log, not who may do what.
    "hide-user-data-from-log",
    "hll-sparse-max-bytes",
    "hz",
    "ignore-warnings",
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
pub(super) static IGNORED_PREFIXES: &[&str] = &[
    "active-defrag-",
    "aof-",
    "auto-aof-rewrite-",
    "cluster-",
    "crash-",
    // enable-protected-configs and enable-module-command: "no" (Redis's
    // default) is what pubsubd already enforces, and a permissive value
    // unlocks nothing, since pubsubd has no MODULE command and none of its
    // parameters is a protected config (Redis protects only `dir` and
    // `dbfilename`; pubsubd's `dir` cannot change at run time at all). enable-debug-command is a parameter of its own (see
    // PARAMS), found before these prefixes are.
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
    "stream-node-",
    "syslog-",
    // The TLS directives pubsubd implements are in PARAMS. The rest of the
    // family configure outgoing connections (tls-replication, tls-cluster,
    // tls-client-*) or DH parameters (tls-dh-params-file: rustls offers
    // only ECDHE key exchange, which needs none); none admits a client.
    "tls-",
    "zset-max-",
];

/// Redis's directives that restrict access or change who may do what and
/// that pubsubd cannot honour: the error that stops start-up for `name`
/// with `args`, or None. Ignoring any of them would leave the server more
/// open than its configuration says.
pub(super) fn refusal(name: &str, args: &[Vec<u8>]) -> Option<&'static str> {
    let set = args.iter().any(|a| !a.is_empty());
    match name {
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
pub(super) const KEYSPACE_EVENT_LETTERS: &[(u8, u32)] = &[
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
pub(super) fn keyspace_events_arg(arg: &[u8]) -> Result<u32, String> {
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
pub(super) fn keyspace_events_string(flags: u32) -> String {
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
pub(super) fn find_param(name: &[u8]) -> Option<&'static Param> {
    PARAMS
        .iter()
        .find(|p| name.eq_ignore_ascii_case(p.name.as_bytes()))
}

/// Returns whether `name` (lower-cased) is a Redis directive that pubsubd
/// accepts and ignores.
pub(super) fn is_ignored_directive(name: &str) -> bool {
    IGNORED_DIRECTIVES.contains(&name) || IGNORED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Returns the `bind` setter's result: up to 16 UTF-8 addresses, kept as
/// given (`-` prefixes and all) for the listener to interpret. As in Redis,
/// one empty argument (`bind ""`) means no address at all.
pub(super) fn set_bind(config: &mut Config, args: &[Vec<u8>]) -> Result<(), String> {
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
pub(super) enum ClientClass {
    Normal,
    Replica,
    Pubsub,
}

/// Returns the class named `name` (case-insensitive; `slave` = `replica`).
pub(super) fn client_class(name: &[u8]) -> Option<ClientClass> {
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
pub(super) fn set_output_buffer_limits(
    config: &mut Config,
    args: &[Vec<u8>],
) -> Result<(), String> {
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
pub(super) fn get_output_buffer_limits(config: &Config) -> Vec<u8> {
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

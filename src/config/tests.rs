use super::cli::cli_command;
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
        ("io-threads", "1"),
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
        ("slowlog-log-slower-than", "10000"),
        ("slowlog-max-len", "128"),
        ("latency-monitor-threshold", "0"),
        ("busy-reply-threshold", "5000"),
        ("lua-time-limit", "5000"),
        ("lua-memory-limit", "134217728"),
        ("enable-debug-command", "no"),
        ("replica-read-only", "yes"),
        ("slave-read-only", "yes"),
        ("save", ""),
        ("appendonly", "no"),
        ("daemonize", "no"),
        ("cluster-enabled", "no"),
        ("cluster-nats", ""),
        ("cluster-name", "pubsubd"),
        ("cluster-nats-user", ""),
        ("cluster-nats-password", ""),
        ("cluster-nats-token", ""),
        ("cluster-nats-tls-ca-cert-file", ""),
        ("cluster-nats-tls-cert-file", ""),
        ("cluster-nats-tls-key-file", ""),
        ("tls-port", "0"),
        ("tls-cert-file", ""),
        ("tls-key-file", ""),
        ("tls-key-file-pass", ""),
        ("tls-ca-cert-file", ""),
        ("tls-ca-cert-dir", ""),
        ("tls-auth-clients", "yes"),
        ("tls-protocols", ""),
        ("tls-ciphers", ""),
        ("tls-ciphersuites", ""),
        ("tls-prefer-server-ciphers", "no"),
        ("tls-session-caching", "yes"),
        ("tls-session-cache-size", "20480"),
        ("tls-session-cache-timeout", "300"),
        ("latency-tracking", "yes"),
        ("latency-tracking-info-percentiles", "50 99 99.9"),
        ("aclfile", ""),
        ("acl-pubsub-default", "resetchannels"),
        ("acllog-max-len", "128"),
    ];
    for (name, value) in expected {
        assert_eq!(get1(&config, name), value, "{name}");
    }
    // `dir` is where the process runs (see ignored_directives_warn_once_each).
    assert_eq!(config.get(&[b"*"]).len(), expected.len() + 1);
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
    assert_eq!(names(&[b"port", b"*ort"]), ["port", "tls-port"]);
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
    let between = |lo: &str, hi: &str| format!("argument must be between {lo} and {hi} inclusive");
    let cases: Vec<(&str, &str, String)> =
        vec![
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
        "cluster-nats",
        "cluster-name",
        "cluster-nats-user",
        "cluster-nats-password",
        "cluster-nats-token",
        "cluster-nats-tls-ca-cert-file",
        "cluster-nats-tls-cert-file",
        "cluster-nats-tls-key-file",
        "replica-read-only",
        "slave-read-only",
        "enable-debug-command",
    ] {
        assert_eq!(
            set1(&mut c, name, "1"),
            Err(failed(name, "can't set immutable config")),
            "{name}"
        );
    }
    // io-threads is 1 by default, and an immutable parameter set to the
    // value it has is a no-op: another value must be refused.
    assert_eq!(
        set1(&mut c, "io-threads", "2"),
        Err(failed("io-threads", "can't set immutable config"))
    );
    assert_eq!(set1(&mut c, "io-threads", "1"), Ok(()));
    assert_eq!(
        set1(&mut c, "dir", "/"),
        Err(failed("dir", "can't set protected config")),
        "dir is protected, as in Redis"
    );
    // Duplicates are found case-insensitively; the later spelling is named.
    assert_eq!(
        c.set(&[(b"timeout", b"5"), (b"TIMEOUT", b"6")]),
        Err(failed("TIMEOUT", "duplicate parameter"))
    );
    // The first problem wins, and nothing is applied.
    assert_eq!(
        c.set(&[(b"timeout", b"5"), (b"foo", b"1"), (b"bind", b"1")]),
        Err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'".into())
    );
    assert_eq!(
        c.set(&[(b"timeout", b"5"), (b"bind", b"1"), (b"foo", b"1")]),
        Err(failed("bind", "can't set immutable config"))
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
          io-threads 4\n\
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
    assert_eq!((c.tcp_backlog, c.databases, c.io_threads()), (128, 1, 4));
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
    let between = |lo: &str, hi: &str| format!("argument must be between {lo} and {hi} inclusive");
    let cases: Vec<(&[u8], usize, Option<&str>, String)> =
        vec![
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
        (b"io-threads 0", 1, Some("io-threads"), between("1", "128")),
        (b"io-threads 129", 1, Some("io-threads"), between("1", "128")),
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
            b"enable-debug-command maybe",
            1,
            Some("enable-debug-command"),
            "argument(s) must be one of the following: no, yes, local".into(),
        ),
        (
            b"loglevel x",
            1,
            Some("loglevel"),
            "argument(s) must be one of the following: debug, verbose, notice, warning, nothing"
                .into(),
        ),
        (
            b"tls-auth-clients maybe",
            1,
            Some("tls-auth-clients"),
            "argument(s) must be one of the following: no, yes, optional".into(),
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
        b"save 900 1\nsave \"\"\nappendonly yes\nDIR /\ndaemonize yes\n\
          maxmemory 1gb\nmaxmemory-policy allkeys-lru\nslave-serve-stale-data yes\n\
          replica-read-only yes\nlazyfree-lazy-eviction no\nhz 10\n\
          list-max-ziplist-entries 512\nhash-max-listpack-value 64\n\
          cluster-enabled yes\ntls-replication no\ntls-cluster no\nsyslog-enabled no\n\
          acl-pubsub-default resetchannels\naclfile \"\"\nnotify-keyspace-events \"\"\n",
    );
    let c = config.unwrap();
    // maxmemory and notify-keyspace-events are real directives: no warning.
    // acl-pubsub-default, aclfile and dir are real directives too.
    assert_eq!(c.warnings.len(), 15, "{:#?}", c.warnings);
    assert_eq!(
        c.warnings[0],
        format!(
            "{}:1: 'save' is a Redis directive that pubsubd does not use; ignored",
            path.display()
        )
    );
    assert!(c.warnings[3].contains(":5: 'daemonize' is a Redis directive"));
    assert_eq!(c.dir.as_deref(), Some(Path::new("/")));
    let c = run(&["--appendonly", "no"]);
    assert_eq!(
        c.warnings,
        ["command line: 'appendonly' is a Redis directive that pubsubd does not use; ignored"]
    );
    // Ignored directives do not appear in CONFIG GET (except the constants).
    assert!(c.get(&[b"maxmemory-policy", b"hz"]).is_empty());
    // `dir` reads back as the working directory, absolute, as in Redis.
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(get1(&c, "dir"), cwd.to_string_lossy());
    // A directory that is not there, or a file, stops start-up at its line.
    let (result, _) = load(b"port 1\ndir /nonexistent-pubsubd-dir\n");
    let error = result.unwrap_err();
    assert_eq!(
        (error.message.as_str(), error.line),
        ("No such file or directory", Some(2))
    );
    let (result, path) = load(b"dir /dev/null\n");
    assert_eq!(result.unwrap_err().message, "Not a directory", "{path:?}");
    assert_eq!(get1(&c, "appendonly"), "no");
}

#[test]
fn access_directives_work_or_stop_start_up() {
    let refused: &[(&[u8], &str)] = &[
        (
            b"user default on foo",
            "Error in user declaration 'foo': Syntax error",
        ),
        (
            b"USER app on >s3cret ~* &* +nosuch",
            "Error in user declaration '+nosuch': Unknown command or category name in ACL",
        ),
        (
            b"user app on (~x",
            "Unmatched parenthesis in acl selector starting at '(~x'.",
        ),
        (b"user", MSG_BAD_DIRECTIVE),
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
    let c = run(&[
        "--user",
        "default",
        "off",
        "--user",
        "app",
        "on",
        ">pw",
        "&app:*",
        "--aclfile",
        "",
    ]);
    assert_eq!(
        c.acl_users,
        [
            vec![b"default".to_vec(), b"off".to_vec()],
            vec![
                b"app".to_vec(),
                b"on".to_vec(),
                b">pw".to_vec(),
                b"&app:*".to_vec()
            ]
        ]
    );
    assert_eq!(c.aclfile, None);
    // A user defined twice stops start-up, as in Redis (names compare
    // case-sensitively); the first definition is not silently replaced.
    for args in [
        ["--user", "foo", "on", "--user", "foo", "off"],
        ["--user", "default", "on", "--user", "default", "off"],
    ] {
        let error = Config::from_args(args).unwrap_err().to_string();
        assert!(
            error.contains(&format!(
                "Error in user declaration '{}': Duplicate user found. A user can only be defined once in config files",
                args[1]
            )),
            "{error}"
        );
    }
    let c = run(&["--user", "foo", "on", "--user", "Foo", "off"]);
    assert_eq!(c.acl_users.len(), 2);

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
    let example = include_str!("../../redis.conf.example");
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

#[test]
fn io_threads_default_to_one_and_to_two_in_cluster_mode() {
    let mut c = Config::default();
    assert_eq!(c.io_threads(), 1);
    c.cluster_nats = vec!["nats://127.0.0.1:4222".into()];
    assert_eq!(c.io_threads(), 2);
    c.io_threads = Some(1);
    assert_eq!(c.io_threads(), 1, "given, it wins in cluster mode too");
}

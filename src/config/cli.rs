//! The redis-server-style command line: `pubsubd [redis.conf] [--name value ...]`,
//! `--help` and `--version`.

use super::*;

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
}

/// A command-line directive: lower-cased name and its arguments.
pub(super) type CliDirective = (String, Vec<Vec<u8>>);

/// Returns the command-line words after the config file grouped into
/// directives (`Ok(Ok(..))`), a help/version/usage exit (`Ok(Err(..))`), or
/// an error about a malformed `--name` word.
pub(super) fn group_cli_directives(
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
pub(super) fn cli_command() -> clap::Command {
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
pub(super) fn help_exit() -> Startup {
    Startup::Exit {
        text: cli_command().render_help().to_string(),
        code: 0,
    }
}

/// Returns the `--version` exit.
pub(super) fn version_exit() -> Startup {
    Startup::Exit {
        text: cli_command().render_version(),
        code: 0,
    }
}

/// Returns a usage-error exit (code 1) with clap's wording around `message`.
pub(super) fn usage_exit(message: &str) -> Startup {
    let mut command = cli_command();
    let error = command.error(clap::error::ErrorKind::UnknownArgument, message);
    Startup::Exit {
        text: error.render().to_string(),
        code: 1,
    }
}

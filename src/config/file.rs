//! The redis.conf reader: one directive a line with Redis's quoting rules,
//! `include`, and errors that name the file and line.

use super::*;

/// Where a directive came from, for warnings and errors.
#[derive(Clone, Copy)]
pub(super) enum Origin<'a> {
    File { path: &'a Path, line: usize },
    CommandLine,
}

impl Origin<'_> {
    /// Returns the `file:line` or `command line` prefix for a warning.
    pub(super) fn describe(&self) -> String {
        match self {
            Origin::File { path, line } => format!("{}:{line}", path.display()),
            Origin::CommandLine => "command line".to_string(),
        }
    }

    /// Returns an error located here.
    pub(super) fn error(&self, directive: Option<&str>, message: String) -> ConfigError {
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
pub(super) enum Failure {
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

    /// Applies every directive in `contents`, read from `path`, nested
    /// `depth` includes deep; returns the first error, located.
    pub(super) fn load_contents(
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
    pub(super) fn apply_directive(
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
            None if name == "user" => {
                // As in Redis, a user is defined once: a second definition
                // would silently replace the first one's rules.
                if let Some(user) = args.first()
                    && self.acl_users.iter().any(|l| l.first() == Some(user))
                {
                    return Err(Failure::Message(format!(
                        "Error in user declaration '{}': Duplicate user found. A user can only be defined once in config files",
                        String::from_utf8_lossy(user)
                    )));
                }
                // Checked now, so a bad rule stops start-up with its line;
                // applied at start-up by `acl::Acl::load_at_startup`.
                crate::acl::check_user_line(args).map_err(Failure::Message)?;
                self.acl_users.push(args.to_vec());
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
    pub(super) fn include(&mut self, path: &Path, depth: usize) -> Result<(), Failure> {
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
    pub(super) fn warn_ignored(&mut self, name: &str, origin: Origin<'_>) {
        self.warnings.push(format!(
            "{}: '{name}' is a Redis directive that pubsubd does not use; ignored",
            origin.describe()
        ));
    }
}

/// Returns the located error for `failure` of directive `name` at `origin`;
/// an error from an included file is already located and passes through.
pub(super) fn locate(failure: Failure, origin: Origin<'_>, name: &str) -> ConfigError {
    match failure {
        Failure::Message(message) => origin.error(Some(name), message),
        Failure::Included(error) => error,
    }
}

/// Returns `line` without the spaces, tabs, CRs and LFs Redis trims from
/// both ends of a config line.
pub(super) fn trim_config_line(line: &[u8]) -> &[u8] {
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

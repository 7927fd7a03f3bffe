//! COMMAND [COUNT | INFO | DOCS | LIST | HELP]
//!
//! Describes the command table, so redis-cli can show argument hints and
//! client libraries can learn command flags.

use std::collections::HashMap;

use bytes::Bytes;

use super::table::{COMMANDS, Command, flags};
use super::{help_reply, is};
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// Redis's error for `rename-command` naming no command.
pub const MSG_NO_SUCH_COMMAND: &str = "No such command in rename-command";
/// Redis's error for `rename-command` to a name another command answers to.
pub const MSG_TARGET_EXISTS: &str = "Target command name already exists";

/// Command names up to this long are lowercased on the stack when looked
/// up among renamed commands; longer ones (a renamed command may have any
/// name) are lowercased into a temporary allocation.
const RENAMED_LOOKUP_INLINE: usize = 64;

/// The names the commands answer to: the table's own, or the table as
/// `rename-command` changed it. As in Redis 7, a renamed command answers
/// only to its new name, a command renamed to "" answers to none, and
/// everything the server reports about a command (COMMAND, CLIENT LIST
/// `cmd=`, arity errors) keeps its original name.
#[derive(Clone, Default)]
pub struct CommandNames {
    /// None while nothing is renamed, so lookups take the table's fast
    /// path. Otherwise every name (lower-case) and the command it runs.
    renamed: Option<HashMap<Vec<u8>, &'static Command, rustc_hash::FxBuildHasher>>,
}

impl std::fmt::Debug for CommandNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(map) = &self.renamed else {
            return f.write_str("CommandNames(unchanged)");
        };
        let mut changed: Vec<(String, &str)> = map
            .iter()
            .filter(|(name, cmd)| name.as_slice() != cmd.name.as_bytes())
            .map(|(name, cmd)| (String::from_utf8_lossy(name).into_owned(), cmd.name))
            .collect();
        changed.sort();
        let removed: Vec<&str> = COMMANDS
            .iter()
            .filter(|c| !map.values().any(|v| std::ptr::eq(*v, *c)))
            .map(|c| c.name)
            .collect();
        f.debug_struct("CommandNames")
            .field("renamed", &changed)
            .field("disabled", &removed)
            .finish()
    }
}

impl CommandNames {
    /// Applies `rename-command old new`: the command `old` names now (any
    /// case) answers to `new` instead, or to nothing when `new` is empty.
    /// Returns Redis's error text when `old` names no command (a
    /// subcommand such as `config|get` cannot be renamed) or another
    /// command already answers to `new`; nothing changes then.
    pub fn rename(&mut self, old: &[u8], new: &[u8]) -> Result<(), &'static str> {
        let map = self.renamed.get_or_insert_with(|| {
            COMMANDS
                .iter()
                .map(|c| (c.name.as_bytes().to_vec(), c))
                .collect()
        });
        let old = old.to_ascii_lowercase();
        let new = new.to_ascii_lowercase();
        let Some(&cmd) = map.get(&old) else {
            return Err(MSG_NO_SUCH_COMMAND);
        };
        if !new.is_empty() && new != old && map.contains_key(&new) {
            return Err(MSG_TARGET_EXISTS);
        }
        map.remove(&old);
        if !new.is_empty() {
            map.insert(new, cmd);
        }
        Ok(())
    }

    /// Whether every command answers to its own name.
    pub fn unchanged(&self) -> bool {
        self.renamed.is_none()
    }

    /// The command that answers to `name` (any case).
    pub fn lookup(&self, name: &[u8]) -> Option<&'static Command> {
        let Some(map) = &self.renamed else {
            return super::table::lookup(name);
        };
        let mut inline = [0u8; RENAMED_LOOKUP_INLINE];
        match inline.get_mut(..name.len()) {
            Some(lower) => {
                lower.copy_from_slice(name);
                lower.make_ascii_lowercase();
                map.get(&*lower).copied()
            }
            None => map.get(&name.to_ascii_lowercase()).copied(),
        }
    }

    /// Whether `cmd` answers to some name.
    fn available(&self, cmd: &Command) -> bool {
        self.renamed
            .as_ref()
            .is_none_or(|map| map.values().any(|c| std::ptr::eq(*c, cmd)))
    }

    /// The commands that answer to some name, in table order.
    pub fn commands(&self) -> impl Iterator<Item = &'static Command> + '_ {
        COMMANDS.iter().filter(|c| self.available(c))
    }
}

/// ACL categories implied by a command's group and flags.
pub(super) fn categories(cmd: &Command) -> Vec<Reply> {
    let mut cats = Vec::new();
    let mut add = |c: &str| cats.push(Reply::Status(Bytes::from(c.to_string())));
    if cmd.flags & flags::WRITE != 0 {
        add("@write");
    }
    if cmd.flags & flags::READONLY != 0 {
        add("@read");
    }
    if cmd.flags & flags::ADMIN != 0 {
        add("@admin");
        add("@dangerous");
    }
    if cmd.flags & flags::PUBSUB != 0 || cmd.group == "pubsub" {
        add("@pubsub");
    }
    if cmd.group == "connection" {
        add("@connection");
    }
    add(if cmd.flags & flags::FAST != 0 {
        "@fast"
    } else {
        "@slow"
    });
    cats
}

/// The reported flag names of `cmd`.
fn flag_names(cmd: &Command) -> Vec<Reply> {
    flags::NAMES
        .iter()
        .filter(|(bit, _)| cmd.flags & bit != 0)
        .map(|(_, name)| Reply::Status(Bytes::from_static(name.as_bytes())))
        .collect()
}

/// One COMMAND INFO entry: name, arity, flags, first key, last key, step,
/// ACL categories, tips, key specs, subcommands.
fn describe(cmd: &Command, parent: Option<&str>) -> Reply {
    let name = match parent {
        Some(p) => format!("{p}|{}", cmd.name),
        None => cmd.name.to_string(),
    };
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(name.clone())),
        Reply::Int(i64::from(cmd.arity)),
        Reply::Set(flag_names(cmd)),
        Reply::Int(0),
        Reply::Int(0),
        Reply::Int(0),
        Reply::Set(categories(cmd)),
        Reply::Set(vec![]),
        Reply::Array(vec![]),
        Reply::Array(
            cmd.subcommands
                .iter()
                .map(|sub| describe(sub, Some(&name)))
                .collect(),
        ),
    ])
}

/// COMMAND DOCS `arguments`, derived from the synopsis: `[x]` optional,
/// `x ...` repeatable, upper-case words are tokens.
fn arguments(synopsis: &str) -> Vec<Reply> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    for word in synopsis.split_whitespace() {
        let opens = word.matches('[').count();
        let closes = word.matches(']').count();
        let bare = word.trim_matches(|c| c == '[' || c == ']');
        if bare == "..." || bare.is_empty() {
            if let Some(Reply::Map(last)) = out.last_mut() {
                last.push((
                    Reply::bulk_static("flags"),
                    Reply::Set(vec![Reply::Status(Bytes::from_static(b"multiple"))]),
                ));
            }
            depth = (depth + opens).saturating_sub(closes);
            continue;
        }
        // `x [x ...]`: the repeat of the previous name only marks it as
        // repeatable (the `...` that follows does that).
        let repeats_previous = out.last().is_some_and(|prev| {
            matches!(prev, Reply::Map(f) if f.first().is_some_and(|(_, v)| *v == Reply::Bulk(Bytes::from(bare.to_lowercase()))))
        });
        if repeats_previous {
            depth = (depth + opens).saturating_sub(closes);
            continue;
        }
        let optional = depth > 0 || opens > 0;
        let token = bare.chars().any(|c| c.is_ascii_uppercase())
            && !bare.chars().any(|c| c.is_ascii_lowercase());
        let mut fields = vec![
            (
                Reply::bulk_static("name"),
                Reply::Bulk(Bytes::from(bare.to_lowercase())),
            ),
            (
                Reply::bulk_static("type"),
                Reply::bulk_static(if token { "pure-token" } else { "string" }),
            ),
        ];
        if token {
            fields.push((
                Reply::bulk_static("token"),
                Reply::Bulk(Bytes::from(bare.to_string())),
            ));
        }
        if optional {
            fields.push((
                Reply::bulk_static("flags"),
                Reply::Set(vec![Reply::Status(Bytes::from_static(b"optional"))]),
            ));
        }
        out.push(Reply::Map(fields));
        depth = (depth + opens).saturating_sub(closes);
    }
    out
}

/// One COMMAND DOCS entry (the value; the key is the name).
fn docs(cmd: &Command, parent: Option<&str>) -> Reply {
    let mut fields = vec![
        (
            Reply::bulk_static("summary"),
            Reply::bulk_static(cmd.summary),
        ),
        (Reply::bulk_static("since"), Reply::bulk_static(cmd.since)),
        (Reply::bulk_static("group"), Reply::bulk_static(cmd.group)),
    ];
    let args = arguments(cmd.args);
    if !args.is_empty() {
        fields.push((Reply::bulk_static("arguments"), Reply::Array(args)));
    }
    if !cmd.subcommands.is_empty() {
        let name = cmd.name;
        fields.push((
            Reply::bulk_static("subcommands"),
            Reply::Map(
                cmd.subcommands
                    .iter()
                    .map(|sub| {
                        (
                            Reply::Bulk(Bytes::from(format!("{name}|{}", sub.name))),
                            docs(sub, Some(name)),
                        )
                    })
                    .collect(),
            ),
        ));
    }
    let _ = parent;
    Reply::Map(fields)
}

/// COMMAND: every command's INFO entry.
pub fn all(s: &mut Session, _args: &Args) -> Reply {
    let names = &s.shared.command_names;
    Reply::Array(names.commands().map(|c| describe(c, None)).collect())
}

/// COMMAND COUNT.
pub fn count(s: &mut Session, _args: &Args) -> Reply {
    Reply::Int(s.shared.command_names.commands().count() as i64)
}

/// Resolves `name` or `container|sub`, the container by the name it
/// answers to (renamed or not), as Redis does.
fn find(names: &CommandNames, name: &[u8]) -> Option<(&'static Command, Option<&'static str>)> {
    let text = std::str::from_utf8(name).ok()?;
    match text.split_once('|') {
        Some((parent, sub)) => {
            let p = names.lookup(parent.as_bytes())?;
            Some((p.subcommand(sub.as_bytes())?, Some(p.name)))
        }
        None => names.lookup(name).map(|c| (c, None)),
    }
}

/// COMMAND INFO [name ...]: entries, null for unknown names.
pub fn info(s: &mut Session, args: &Args) -> Reply {
    let names = &s.shared.command_names;
    if args.len() == 2 {
        return Reply::Array(names.commands().map(|c| describe(c, None)).collect());
    }
    Reply::Array(
        args[2..]
            .iter()
            .map(|n| find(names, n).map_or(Reply::NilArray, |(c, p)| describe(c, p)))
            .collect(),
    )
}

/// COMMAND DOCS [name ...]: a map of name to documentation.
pub fn docs_all(s: &mut Session, args: &Args) -> Reply {
    let names = &s.shared.command_names;
    let mut out = Vec::new();
    if args.len() == 2 {
        for c in names.commands() {
            out.push((Reply::bulk_static(c.name), docs(c, None)));
        }
    } else {
        for n in &args[2..] {
            if let Some((c, p)) = find(names, n) {
                let name = match p {
                    Some(p) => format!("{p}|{}", c.name),
                    None => c.name.to_string(),
                };
                out.push((Reply::Bulk(Bytes::from(name)), docs(c, p)));
            }
        }
    }
    Reply::Map(out)
}

/// COMMAND LIST [FILTERBY PATTERN glob | ACLCAT cat | MODULE name].
pub fn list(s: &mut Session, args: &Args) -> Reply {
    let available = &s.shared.command_names;
    let names = available.commands().map(|c| c.name);
    match args.len() {
        2 => Reply::bulks(names.map(|n| Bytes::from_static(n.as_bytes()))),
        5 if is(&args[2], "filterby") => {
            let value = &args[4][..];
            if is(&args[3], "pattern") {
                Reply::bulks(
                    names
                        .filter(|n| crate::glob::glob_match(value, n.as_bytes(), true))
                        .map(|n| Bytes::from_static(n.as_bytes())),
                )
            } else if is(&args[3], "aclcat") {
                let cat = format!("@{}", String::from_utf8_lossy(value).to_lowercase());
                Reply::bulks(
                    available
                        .commands()
                        .filter(|c| {
                            categories(c).contains(&Reply::Status(Bytes::from(cat.clone())))
                        })
                        .map(|c| Bytes::from_static(c.name.as_bytes())),
                )
            } else if is(&args[3], "module") {
                Reply::Array(vec![])
            } else {
                super::syntax_error()
            }
        }
        _ => super::syntax_error(),
    }
}

/// The subcommand list.
pub fn help(_s: &mut Session, _args: &Args) -> Reply {
    help_reply(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation for the commands named, or all.",
            "INFO [<command-name> ...]",
            "    Return details about the commands named, or all.",
            "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <pattern>)]",
            "    Return the names of the commands, optionally filtered.",
        ],
    )
}

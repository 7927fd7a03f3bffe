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

/// A command's ACL categories: Redis's own list for the commands Redis 7.0
/// has, otherwise the ones its group and flags imply.
pub(super) fn categories(cmd: &Command, parent: Option<&str>) -> Vec<Reply> {
    if let Some(m) = meta(cmd, parent) {
        return m
            .categories
            .iter()
            .map(|c| Reply::Status(Bytes::from_static(c.as_bytes())))
            .collect();
    }
    implied_categories(cmd)
}

/// ACL categories implied by a command's group and flags.
fn implied_categories(cmd: &Command) -> Vec<Reply> {
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

/// The reported flag names of `cmd`: its table flags, then the ones Redis
/// derives from its key specs (`movablekeys`...).
fn flag_names(cmd: &Command, meta: Option<&Meta>) -> Vec<Reply> {
    let extra = meta.map_or(&[][..], |m| m.extra_flags);
    flags::NAMES
        .iter()
        .filter(|(bit, _)| cmd.flags & bit != 0)
        .map(|(_, name)| *name)
        .chain(extra.iter().copied())
        .map(|name| Reply::Status(Bytes::from_static(name.as_bytes())))
        .collect()
}

/// A key spec's reply: notes (if any), flags, begin_search, find_keys.
fn key_spec_reply(k: &KeySpec) -> Reply {
    let int = |name: &'static str, v: i64| (Reply::bulk_static(name), Reply::Int(v));
    let mut fields = Vec::new();
    if !k.notes.is_empty() {
        fields.push((Reply::bulk_static("notes"), Reply::bulk_static(k.notes)));
    }
    fields.push((
        Reply::bulk_static("flags"),
        Reply::Set(
            k.flags
                .iter()
                .map(|f| Reply::Status(Bytes::from_static(f.as_bytes())))
                .collect(),
        ),
    ));
    fields.push((
        Reply::bulk_static("begin_search"),
        Reply::Map(vec![
            (Reply::bulk_static("type"), Reply::bulk_static("index")),
            (
                Reply::bulk_static("spec"),
                Reply::Map(vec![int("index", k.begin_index)]),
            ),
        ]),
    ));
    let (kind, spec) = match k.find {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => (
            "range",
            vec![
                int("lastkey", lastkey),
                int("keystep", keystep),
                int("limit", limit),
            ],
        ),
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => (
            "keynum",
            vec![
                int("keynumidx", keynumidx),
                int("firstkey", firstkey),
                int("keystep", keystep),
            ],
        ),
    };
    fields.push((
        Reply::bulk_static("find_keys"),
        Reply::Map(vec![
            (Reply::bulk_static("type"), Reply::bulk_static(kind)),
            (Reply::bulk_static("spec"), Reply::Map(spec)),
        ]),
    ));
    Reply::Map(fields)
}

/// One COMMAND INFO entry: name, arity, flags, first key, last key, step,
/// ACL categories, tips, key specs, subcommands.
fn describe(cmd: &Command, parent: Option<&str>) -> Reply {
    let name = match parent {
        Some(p) => format!("{p}|{}", cmd.name),
        None => cmd.name.to_string(),
    };
    let m = meta(cmd, parent);
    let (first, last, step) = m.map_or((0, 0, 0), |m| m.keys);
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(name.clone())),
        Reply::Int(i64::from(cmd.arity)),
        Reply::Set(flag_names(cmd, m)),
        Reply::Int(first),
        Reply::Int(last),
        Reply::Int(step),
        Reply::Set(categories(cmd, parent)),
        // Sets as in Redis's RESP3 reply, except a non-empty subcommand list.
        Reply::Set(
            tips(cmd, parent)
                .iter()
                .map(|t| Reply::bulk_static(t))
                .collect(),
        ),
        Reply::Set(
            m.map_or(&[][..], |m| m.specs)
                .iter()
                .map(key_spec_reply)
                .collect(),
        ),
        if cmd.subcommands.is_empty() {
            Reply::Set(vec![])
        } else {
            Reply::Array(
                cmd.subcommands
                    .iter()
                    .map(|sub| describe(sub, Some(&name)))
                    .collect(),
            )
        },
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
pub fn find(names: &CommandNames, name: &[u8]) -> Option<(&'static Command, Option<&'static str>)> {
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

/// Every available command and its subcommands by full name
/// (`client|list`), with the entry and its container.
fn full_names(names: &CommandNames) -> Vec<(String, &'static Command, Option<&'static str>)> {
    let mut out = Vec::new();
    for c in names.commands() {
        out.push((c.name.to_string(), c, None));
        for sub in c.subcommands {
            out.push((format!("{}|{}", c.name, sub.name), sub, Some(c.name)));
        }
    }
    out
}

/// A COMMAND LIST filter: full name, entry, container name.
type Filter = dyn Fn(&str, &Command, Option<&str>) -> bool;

/// COMMAND LIST [FILTERBY PATTERN glob | ACLCAT cat | MODULE name]: the
/// names of the commands and their subcommands, as Redis lists them.
pub fn list(s: &mut Session, args: &Args) -> Reply {
    let all = full_names(&s.shared.command_names);
    let keep: Box<Filter> = match args.len() {
        2 => Box::new(|_, _, _| true),
        5 if is(&args[2], "filterby") => {
            let value = args[4].clone();
            if is(&args[3], "pattern") {
                Box::new(move |n, _, _| crate::glob::glob_match(&value, n.as_bytes(), true))
            } else if is(&args[3], "aclcat") {
                let cat = format!("@{}", String::from_utf8_lossy(&value).to_lowercase());
                let cat = Reply::Status(Bytes::from(cat));
                Box::new(move |_, c, p| categories(c, p).contains(&cat))
            } else if is(&args[3], "module") {
                Box::new(|_, _, _| false)
            } else {
                return super::syntax_error();
            }
        }
        _ => return super::syntax_error(),
    };
    Reply::bulks(
        all.into_iter()
            .filter(|(n, c, p)| keep(n, c, *p))
            .map(|(n, _, _)| Bytes::from(n)),
    )
}

/// The positions of the keys among `words` (a command and its arguments)
/// by `m`'s key specs, with each key's flags; Err when the arguments do
/// not fit the specs (a key count past the end, or not a number).
fn key_positions(m: &Meta, words: &[Bytes]) -> Result<Vec<(usize, &'static [&'static str])>, ()> {
    let argc = words.len() as i64;
    let mut out = Vec::new();
    for k in m.specs {
        let begin = k.begin_index;
        if begin >= argc {
            continue;
        }
        let (first, last, step) = match k.find {
            FindKeys::Range {
                lastkey, keystep, ..
            } => {
                let last = if lastkey >= 0 {
                    begin + lastkey
                } else {
                    argc + lastkey
                };
                (begin, last, keystep)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let count = usize::try_from(begin + keynumidx)
                    .ok()
                    .and_then(|i| words.get(i))
                    .and_then(|w| crate::protocol::request::parse_int(w))
                    .filter(|n| *n >= 0)
                    .ok_or(())?;
                let first = begin + firstkey;
                let last = count
                    .checked_sub(1)
                    .and_then(|n| n.checked_mul(keystep))
                    .map_or(first - 1, |span| first.saturating_add(span));
                (first, last, keystep)
            }
        };
        if last >= argc {
            return Err(());
        }
        let mut pos = first;
        while pos <= last {
            out.push((pos as usize, k.flags));
            pos += step.max(1);
        }
    }
    Ok(out)
}

/// The key flags of SET, which depend on its arguments as in Redis: with
/// GET it reads the old value too.
fn set_key_flags(words: &[Bytes]) -> &'static [&'static str] {
    if words.iter().skip(3).any(|w| is(w, "get")) {
        &["RW", "access", "update"]
    } else {
        &["OW", "update"]
    }
}

/// Whether `cmd` (a subcommand of `parent`) may have key arguments: Redis's
/// key specs give it some, or there is no description of it here. The ACL
/// check looks for keys only in those commands.
pub(super) fn may_have_keys(cmd: &Command, parent: Option<&str>) -> bool {
    meta(cmd, parent).is_none_or(|m| !m.specs.is_empty())
}

/// The keys request `words` (from the command name) names, with the access
/// its key specs give each, as the ACL check reads them: (position, reads
/// the value (`access`), writes it (`insert`, `delete`, `update`)). None
/// when the command is not described here.
pub(super) fn acl_keys(
    cmd: &Command,
    parent: Option<&str>,
    words: &[Bytes],
) -> Option<Vec<(usize, bool, bool)>> {
    let m = meta(cmd, parent)?;
    let keys = key_positions(m, words).unwrap_or_default();
    Some(
        keys.into_iter()
            // Sharded channels are `not_key` specs: channels, not keys.
            .filter(|(_, flags)| !flags.contains(&"not_key"))
            .map(|(pos, flags)| {
                let flags = if m.name == "set" {
                    set_key_flags(words)
                } else {
                    flags
                };
                let has = |f: &str| flags.iter().any(|x| x.eq_ignore_ascii_case(f));
                (
                    pos,
                    has("access"),
                    has("insert") || has("delete") || has("update"),
                )
            })
            .collect(),
    )
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS: the keys the command in `args[2..]`
/// would act on, found with its key specs, with Redis's errors.
fn keys_of(s: &Session, args: &Args, with_flags: bool) -> Reply {
    let words = &args[2..];
    let names = &s.shared.command_names;
    let found = names.lookup(&words[0]).and_then(|c| {
        if c.subcommands.is_empty() || words.len() < 2 {
            Some((c, None))
        } else {
            c.subcommand(&words[1]).map(|sub| (sub, Some(c.name)))
        }
    });
    let Some((cmd, parent)) = found else {
        return Reply::error("ERR Invalid command specified");
    };
    let Some(m) = meta(cmd, parent).filter(|m| !m.specs.is_empty()) else {
        return Reply::error("ERR The command has no key arguments");
    };
    if !super::table::arity_ok(cmd.arity, words.len()) {
        return Reply::error("ERR Invalid number of arguments specified for command");
    }
    let keys = match key_positions(m, words) {
        Ok(keys) if !keys.is_empty() => keys,
        _ if m.extra_flags.contains(&"no_mandatory_keys") => return Reply::Array(vec![]),
        _ => return Reply::error("ERR Invalid arguments specified for command"),
    };
    Reply::Array(
        keys.into_iter()
            .filter_map(|(pos, flags)| {
                let key = Reply::Bulk(words.get(pos)?.clone());
                if !with_flags {
                    return Some(key);
                }
                let flags = if m.name == "set" {
                    set_key_flags(words)
                } else {
                    flags
                };
                let flags = flags
                    .iter()
                    .map(|f| Reply::Status(Bytes::from_static(f.as_bytes())))
                    .collect();
                Some(Reply::Array(vec![key, Reply::Set(flags)]))
            })
            .collect(),
    )
}

/// COMMAND GETKEYS command [arg ...].
pub fn getkeys(s: &mut Session, args: &Args) -> Reply {
    keys_of(s, args, false)
}

/// COMMAND GETKEYSANDFLAGS command [arg ...].
pub fn getkeys_and_flags(s: &mut Session, args: &Args) -> Reply {
    keys_of(s, args, true)
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
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
            "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <pattern>)]",
            "    Return the names of the commands, optionally filtered.",
        ],
    )
}

/// Where a key spec's keys are found, after its first argument.
#[derive(Clone, Copy)]
enum FindKeys {
    /// Keys from the first to `lastkey` (relative to the first; negative:
    /// from the end), every `keystep`; `limit` is Redis's divisor of the
    /// remaining arguments (0 = none).
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    /// The key count is the argument at `keynumidx` (relative to the begin
    /// index), the keys start at `firstkey` from there, every `keystep`.
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
}

/// One key specification, as Redis 7 COMMAND INFO describes it.
struct KeySpec {
    /// Redis's note on the flags, or "".
    notes: &'static str,
    /// Redis's key flags (`RO`, `RW`, `OW`, `RM`, `access`...).
    flags: &'static [&'static str],
    /// Index of the argument the search begins at.
    begin_index: i64,
    find: FindKeys,
}

/// What COMMAND INFO reports of a command besides the table's own fields:
/// Redis 7.0's ACL categories, legacy key range, derived flags and key
/// specs. Data taken from Redis 7.0.15's COMMAND INFO.
struct Meta {
    /// Full name (`client|list`).
    name: &'static str,
    categories: &'static [&'static str],
    /// First key, last key, step (the legacy triple).
    keys: (i64, i64, i64),
    /// Flags Redis reports that the table does not keep (`movablekeys`...).
    extra_flags: &'static [&'static str],
    specs: &'static [KeySpec],
}

/// The [`Meta`] of `cmd` (a subcommand of `parent`, if given).
fn meta(cmd: &Command, parent: Option<&str>) -> Option<&'static Meta> {
    META.iter().find(|m| match parent {
        None => m.name == cmd.name,
        Some(p) => m
            .name
            .split_once('|')
            .is_some_and(|(a, b)| a == p && b == cmd.name),
    })
}

/// Every command's [`Meta`], in table order.
static META: &[Meta] = &[
    Meta {
        name: "ping",
        categories: &["@fast", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "echo",
        categories: &["@fast", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "quit",
        categories: &["@fast", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "reset",
        categories: &["@fast", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "auth",
        categories: &["@fast", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "hello",
        categories: &["@fast", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "select",
        categories: &["@fast", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "time",
        categories: &["@fast"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "dbsize",
        categories: &["@keyspace", "@read", "@fast"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "flushdb",
        categories: &["@keyspace", "@write", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "flushall",
        categories: &["@keyspace", "@write", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "info",
        categories: &["@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "shutdown",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "cluster",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "readonly",
        categories: &["@fast", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "readwrite",
        categories: &["@fast", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "subscribe",
        categories: &["@pubsub", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "unsubscribe",
        categories: &["@pubsub", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "psubscribe",
        categories: &["@pubsub", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "punsubscribe",
        categories: &["@pubsub", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "ssubscribe",
        categories: &["@pubsub", "@slow"],
        keys: (1, -1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["not_key"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "sunsubscribe",
        categories: &["@pubsub", "@slow"],
        keys: (1, -1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["not_key"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "publish",
        categories: &["@pubsub", "@fast"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "spublish",
        categories: &["@pubsub", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["not_key"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "get",
        categories: &["@read", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "set",
        categories: &["@write", "@string", "@slow"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "RW and ACCESS due to the optional `GET` argument",
            flags: &["RW", "access", "update", "variable_flags"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "setex",
        categories: &["@write", "@string", "@slow"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["OW", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "psetex",
        categories: &["@write", "@string", "@slow"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["OW", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "setnx",
        categories: &["@write", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["OW", "insert"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "getdel",
        categories: &["@write", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "access", "delete"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "mget",
        categories: &["@read", "@string", "@fast"],
        keys: (1, -1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "mset",
        categories: &["@write", "@string", "@slow"],
        keys: (1, -1, 2),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["OW", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: -1,
                keystep: 2,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "incr",
        categories: &["@write", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "access", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "incrby",
        categories: &["@write", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "access", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "decr",
        categories: &["@write", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "access", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "decrby",
        categories: &["@write", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "access", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "append",
        categories: &["@write", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "insert"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "strlen",
        categories: &["@read", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "del",
        categories: &["@keyspace", "@write", "@slow"],
        keys: (1, -1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RM", "delete"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "unlink",
        categories: &["@keyspace", "@write", "@fast"],
        keys: (1, -1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RM", "delete"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "exists",
        categories: &["@keyspace", "@read", "@fast"],
        keys: (1, -1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "type",
        categories: &["@keyspace", "@read", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "keys",
        categories: &["@keyspace", "@read", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "scan",
        categories: &["@keyspace", "@read", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "randomkey",
        categories: &["@keyspace", "@read", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "rename",
        categories: &["@keyspace", "@write", "@slow"],
        keys: (1, 2, 1),
        extra_flags: &[],
        specs: &[
            KeySpec {
                notes: "",
                flags: &["RW", "access", "delete"],
                begin_index: 1,
                find: FindKeys::Range {
                    lastkey: 0,
                    keystep: 1,
                    limit: 0,
                },
            },
            KeySpec {
                notes: "",
                flags: &["OW", "update"],
                begin_index: 2,
                find: FindKeys::Range {
                    lastkey: 0,
                    keystep: 1,
                    limit: 0,
                },
            },
        ],
    },
    Meta {
        name: "swapdb",
        categories: &["@keyspace", "@write", "@fast", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "expire",
        categories: &["@keyspace", "@write", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "pexpire",
        categories: &["@keyspace", "@write", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "expireat",
        categories: &["@keyspace", "@write", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "pexpireat",
        categories: &["@keyspace", "@write", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "ttl",
        categories: &["@keyspace", "@read", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "pttl",
        categories: &["@keyspace", "@read", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "persist",
        categories: &["@keyspace", "@write", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "multi",
        categories: &["@fast", "@transaction"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "exec",
        categories: &["@slow", "@transaction"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "discard",
        categories: &["@fast", "@transaction"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "watch",
        categories: &["@fast", "@transaction"],
        keys: (1, -1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "unwatch",
        categories: &["@fast", "@transaction"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "eval",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &["no_mandatory_keys", "movablekeys"],
        specs: &[KeySpec {
            notes: "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE",
            flags: &["RW", "access", "update"],
            begin_index: 2,
            find: FindKeys::Keynum {
                keynumidx: 0,
                firstkey: 1,
                keystep: 1,
            },
        }],
    },
    Meta {
        name: "evalsha",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &["no_mandatory_keys", "movablekeys"],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "access", "update"],
            begin_index: 2,
            find: FindKeys::Keynum {
                keynumidx: 0,
                firstkey: 1,
                keystep: 1,
            },
        }],
    },
    Meta {
        name: "eval_ro",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &["no_mandatory_keys", "movablekeys"],
        specs: &[KeySpec {
            notes: "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS",
            flags: &["RO", "access"],
            begin_index: 2,
            find: FindKeys::Keynum {
                keynumidx: 0,
                firstkey: 1,
                keystep: 1,
            },
        }],
    },
    Meta {
        name: "evalsha_ro",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &["no_mandatory_keys", "movablekeys"],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 2,
            find: FindKeys::Keynum {
                keynumidx: 0,
                firstkey: 1,
                keystep: 1,
            },
        }],
    },
    Meta {
        name: "script",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "script|load",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "script|exists",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "script|flush",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "script|kill",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "script|help",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "function",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "function|flush",
        categories: &["@write", "@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "function|help",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "client",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "client|id",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "client|setname",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "client|getname",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "client|reply",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "client|info",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "client|list",
        categories: &["@admin", "@slow", "@dangerous", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "client|kill",
        categories: &["@admin", "@slow", "@dangerous", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "client|no-evict",
        categories: &["@admin", "@slow", "@dangerous", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "client|help",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "config",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "config|get",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "config|set",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "config|resetstat",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "config|help",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "command",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "command|count",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "command|info",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "command|docs",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "command|list",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "command|help",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "command|getkeys",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "command|getkeysandflags",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "pubsub",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "pubsub|channels",
        categories: &["@pubsub", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "pubsub|numsub",
        categories: &["@pubsub", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "pubsub|numpat",
        categories: &["@pubsub", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "pubsub|shardchannels",
        categories: &["@pubsub", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "pubsub|shardnumsub",
        categories: &["@pubsub", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "pubsub|help",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "bitcount",
        categories: &["@read", "@bitmap", "@slow"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "bitop",
        categories: &["@write", "@bitmap", "@slow"],
        keys: (2, -1, 1),
        extra_flags: &[],
        specs: &[
            KeySpec {
                notes: "",
                flags: &["OW", "update"],
                begin_index: 2,
                find: FindKeys::Range {
                    lastkey: 0,
                    keystep: 1,
                    limit: 0,
                },
            },
            KeySpec {
                notes: "",
                flags: &["RO", "access"],
                begin_index: 3,
                find: FindKeys::Range {
                    lastkey: -1,
                    keystep: 1,
                    limit: 0,
                },
            },
        ],
    },
    Meta {
        name: "bitpos",
        categories: &["@read", "@bitmap", "@slow"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "client|pause",
        categories: &["@admin", "@slow", "@dangerous", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "client|unpause",
        categories: &["@admin", "@slow", "@dangerous", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "copy",
        categories: &["@keyspace", "@write", "@slow"],
        keys: (1, 2, 1),
        extra_flags: &[],
        specs: &[
            KeySpec {
                notes: "",
                flags: &["RO", "access"],
                begin_index: 1,
                find: FindKeys::Range {
                    lastkey: 0,
                    keystep: 1,
                    limit: 0,
                },
            },
            KeySpec {
                notes: "",
                flags: &["OW", "update"],
                begin_index: 2,
                find: FindKeys::Range {
                    lastkey: 0,
                    keystep: 1,
                    limit: 0,
                },
            },
        ],
    },
    Meta {
        name: "debug",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "expiretime",
        categories: &["@keyspace", "@read", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "fcall",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &["no_mandatory_keys", "movablekeys"],
        specs: &[KeySpec {
            notes: "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE",
            flags: &["RW", "access", "update"],
            begin_index: 2,
            find: FindKeys::Keynum {
                keynumidx: 0,
                firstkey: 1,
                keystep: 1,
            },
        }],
    },
    Meta {
        name: "fcall_ro",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &["no_mandatory_keys", "movablekeys"],
        specs: &[KeySpec {
            notes: "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS",
            flags: &["RO", "access"],
            begin_index: 2,
            find: FindKeys::Keynum {
                keynumidx: 0,
                firstkey: 1,
                keystep: 1,
            },
        }],
    },
    Meta {
        name: "function|kill",
        categories: &["@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "function|load",
        categories: &["@write", "@slow", "@scripting"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "getbit",
        categories: &["@read", "@bitmap", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "getex",
        categories: &["@write", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "RW and UPDATE because it changes the TTL",
            flags: &["RW", "access", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "getrange",
        categories: &["@read", "@string", "@slow"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "getset",
        categories: &["@write", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "access", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "incrbyfloat",
        categories: &["@write", "@string", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "access", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "lastsave",
        categories: &["@admin", "@fast", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "latency",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "latency|doctor",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "latency|help",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "latency|histogram",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "latency|history",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "latency|latest",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "latency|reset",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "lcs",
        categories: &["@read", "@string", "@slow"],
        keys: (1, 2, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 1,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "memory",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "memory|help",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "memory|usage",
        categories: &["@read", "@slow"],
        keys: (2, 2, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO"],
            begin_index: 2,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "monitor",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "move",
        categories: &["@keyspace", "@write", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "access", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "msetnx",
        categories: &["@write", "@string", "@slow"],
        keys: (1, -1, 2),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["OW", "insert"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: -1,
                keystep: 2,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "object",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "object|encoding",
        categories: &["@keyspace", "@read", "@slow"],
        keys: (2, 2, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO"],
            begin_index: 2,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "object|freq",
        categories: &["@keyspace", "@read", "@slow"],
        keys: (2, 2, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO"],
            begin_index: 2,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "object|help",
        categories: &["@keyspace", "@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "object|idletime",
        categories: &["@keyspace", "@read", "@slow"],
        keys: (2, 2, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO"],
            begin_index: 2,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "object|refcount",
        categories: &["@keyspace", "@read", "@slow"],
        keys: (2, 2, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO"],
            begin_index: 2,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "pexpiretime",
        categories: &["@keyspace", "@read", "@fast"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "renamenx",
        categories: &["@keyspace", "@write", "@fast"],
        keys: (1, 2, 1),
        extra_flags: &[],
        specs: &[
            KeySpec {
                notes: "",
                flags: &["RW", "access", "delete"],
                begin_index: 1,
                find: FindKeys::Range {
                    lastkey: 0,
                    keystep: 1,
                    limit: 0,
                },
            },
            KeySpec {
                notes: "",
                flags: &["OW", "insert"],
                begin_index: 2,
                find: FindKeys::Range {
                    lastkey: 0,
                    keystep: 1,
                    limit: 0,
                },
            },
        ],
    },
    Meta {
        name: "role",
        categories: &["@admin", "@fast", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "setbit",
        categories: &["@write", "@bitmap", "@slow"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "access", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "setrange",
        categories: &["@write", "@string", "@slow"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RW", "update"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "slowlog",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "slowlog|get",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "slowlog|help",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "slowlog|len",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "slowlog|reset",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "substr",
        categories: &["@read", "@string", "@slow"],
        keys: (1, 1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO", "access"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "touch",
        categories: &["@keyspace", "@read", "@fast"],
        keys: (1, -1, 1),
        extra_flags: &[],
        specs: &[KeySpec {
            notes: "",
            flags: &["RO"],
            begin_index: 1,
            find: FindKeys::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        }],
    },
    Meta {
        name: "wait",
        categories: &["@slow", "@connection"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|cat",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|deluser",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|dryrun",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|genpass",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|getuser",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|help",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|list",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|load",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|log",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|save",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|setuser",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|users",
        categories: &["@admin", "@slow", "@dangerous"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
    Meta {
        name: "acl|whoami",
        categories: &["@slow"],
        keys: (0, 0, 0),
        extra_flags: &[],
        specs: &[],
    },
];

/// Redis 7.0's command tips (for cluster clients: where to send a command
/// and how to merge the replies), by full name; commands not listed have
/// none.
static TIPS: &[(&str, &[&str])] = &[
    (
        "ping",
        &["request_policy:all_shards", "response_policy:all_succeeded"],
    ),
    ("time", &["nondeterministic_output"]),
    (
        "dbsize",
        &["request_policy:all_shards", "response_policy:agg_sum"],
    ),
    (
        "flushdb",
        &["request_policy:all_shards", "response_policy:all_succeeded"],
    ),
    (
        "flushall",
        &["request_policy:all_shards", "response_policy:all_succeeded"],
    ),
    (
        "info",
        &[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ],
    ),
    ("mget", &["request_policy:multi_shard"]),
    (
        "mset",
        &[
            "request_policy:multi_shard",
            "response_policy:all_succeeded",
        ],
    ),
    (
        "del",
        &["request_policy:multi_shard", "response_policy:agg_sum"],
    ),
    (
        "unlink",
        &["request_policy:multi_shard", "response_policy:agg_sum"],
    ),
    (
        "exists",
        &["request_policy:multi_shard", "response_policy:agg_sum"],
    ),
    (
        "keys",
        &["request_policy:all_shards", "nondeterministic_output_order"],
    ),
    (
        "scan",
        &["nondeterministic_output", "request_policy:special"],
    ),
    (
        "randomkey",
        &["request_policy:all_shards", "nondeterministic_output"],
    ),
    ("ttl", &["nondeterministic_output"]),
    ("pttl", &["nondeterministic_output"]),
    (
        "script|load",
        &["request_policy:all_nodes", "response_policy:all_succeeded"],
    ),
    (
        "script|exists",
        &[
            "request_policy:all_shards",
            "response_policy:agg_logical_and",
        ],
    ),
    (
        "script|flush",
        &["request_policy:all_nodes", "response_policy:all_succeeded"],
    ),
    (
        "script|kill",
        &["request_policy:all_shards", "response_policy:one_succeeded"],
    ),
    (
        "function|flush",
        &["request_policy:all_shards", "response_policy:all_succeeded"],
    ),
    ("client|info", &["nondeterministic_output"]),
    ("client|list", &["nondeterministic_output"]),
    (
        "config|set",
        &["request_policy:all_nodes", "response_policy:all_succeeded"],
    ),
    ("command", &["nondeterministic_output_order"]),
    ("command|info", &["nondeterministic_output_order"]),
    ("command|docs", &["nondeterministic_output_order"]),
    ("command|list", &["nondeterministic_output_order"]),
    (
        "function|kill",
        &["request_policy:all_shards", "response_policy:one_succeeded"],
    ),
    (
        "function|load",
        &["request_policy:all_shards", "response_policy:all_succeeded"],
    ),
    ("lastsave", &["nondeterministic_output"]),
    (
        "latency|doctor",
        &[
            "nondeterministic_output",
            "request_policy:all_nodes",
            "response_policy:special",
        ],
    ),
    (
        "latency|histogram",
        &[
            "nondeterministic_output",
            "request_policy:all_nodes",
            "response_policy:special",
        ],
    ),
    (
        "latency|history",
        &[
            "nondeterministic_output",
            "request_policy:all_nodes",
            "response_policy:special",
        ],
    ),
    (
        "latency|latest",
        &[
            "nondeterministic_output",
            "request_policy:all_nodes",
            "response_policy:special",
        ],
    ),
    (
        "latency|reset",
        &["request_policy:all_nodes", "response_policy:all_succeeded"],
    ),
    (
        "msetnx",
        &["request_policy:multi_shard", "response_policy:agg_min"],
    ),
    ("object|encoding", &["nondeterministic_output"]),
    ("object|freq", &["nondeterministic_output"]),
    ("object|idletime", &["nondeterministic_output"]),
    ("object|refcount", &["nondeterministic_output"]),
    (
        "slowlog|get",
        &["request_policy:all_nodes", "nondeterministic_output"],
    ),
    (
        "slowlog|len",
        &[
            "request_policy:all_nodes",
            "response_policy:agg_sum",
            "nondeterministic_output",
        ],
    ),
    (
        "slowlog|reset",
        &["request_policy:all_nodes", "response_policy:all_succeeded"],
    ),
    (
        "touch",
        &["request_policy:multi_shard", "response_policy:agg_sum"],
    ),
    (
        "wait",
        &["request_policy:all_shards", "response_policy:agg_min"],
    ),
];

/// The tips of `cmd` (a subcommand of `parent`, if given).
fn tips(cmd: &Command, parent: Option<&str>) -> &'static [&'static str] {
    TIPS.iter()
        .find(|(name, _)| match parent {
            None => *name == cmd.name,
            Some(p) => name
                .split_once('|')
                .is_some_and(|(a, b)| a == p && b == cmd.name),
        })
        .map_or(&[], |(_, t)| t)
}

//! The commands as ACL rules see them: a dense number for every command and
//! subcommand (the bit it owns in a user's command bitset), its full name
//! (`client|list`) and its categories.

use std::sync::OnceLock;

use crate::commands::table::{COMMANDS, Command};
use crate::protocol::Reply;

/// Redis 7's ACL categories, in the order ACL CAT lists them (and in which
/// a user's description tries them).
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// One command or subcommand.
pub struct Entry {
    /// The command (for a subcommand, its own row).
    pub cmd: &'static Command,
    /// The container, for a subcommand.
    pub parent: Option<&'static Command>,
    /// `publish`, `client|list`.
    pub fullname: String,
    /// Bit `i` set when the command is in `CATEGORIES[i]`.
    pub categories: u32,
    /// Dense numbers of its subcommands (empty for a plain command).
    pub subs: std::ops::Range<usize>,
    /// May have key arguments: the key check runs only for these.
    pub has_keys: bool,
}

/// Every command and subcommand, numbered: top-level commands first in
/// table order, then each container's subcommands.
pub struct Catalog {
    /// Indexed by dense number.
    pub entries: Vec<Entry>,
    /// For top-level command `i`, the dense number of its first subcommand.
    sub_base: Vec<usize>,
}

/// The category bit of `name` (without `@`), if Redis has that category.
pub fn category_bit(name: &[u8]) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

fn category_bits(cmd: &'static Command, parent: Option<&'static Command>) -> u32 {
    crate::commands::acl_categories(cmd, parent)
        .iter()
        .filter_map(|r| match r {
            Reply::Status(s) => s.strip_prefix(b"@").and_then(category_bit),
            _ => None,
        })
        .fold(0, |acc, b| acc | b)
}

/// The catalog, built on first use.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut entries = Vec::new();
        let mut sub_base = Vec::with_capacity(COMMANDS.len());
        let mut next = COMMANDS.len();
        for cmd in COMMANDS {
            sub_base.push(next);
            let subs = next..next + cmd.subcommands.len();
            next = subs.end;
            entries.push(Entry {
                cmd,
                parent: None,
                fullname: cmd.name.to_string(),
                categories: category_bits(cmd, None),
                subs,
                has_keys: crate::commands::may_have_keys(cmd, None),
            });
        }
        for cmd in COMMANDS {
            for sub in cmd.subcommands {
                entries.push(Entry {
                    cmd: sub,
                    parent: Some(cmd),
                    fullname: format!("{}|{}", cmd.name, sub.name),
                    categories: category_bits(sub, Some(cmd)),
                    subs: 0..0,
                    has_keys: crate::commands::may_have_keys(sub, Some(cmd)),
                });
            }
        }
        Catalog { entries, sub_base }
    })
}

/// Position of `item` in `slice`, by address (the table is static, so a
/// row's address is its identity).
fn position(slice: &'static [Command], item: &'static Command) -> Option<usize> {
    let size = std::mem::size_of::<Command>();
    let base = slice.as_ptr() as usize;
    let addr = std::ptr::from_ref(item) as usize;
    let offset = addr.checked_sub(base)?;
    let index = offset / size;
    (offset % size == 0 && index < slice.len()).then_some(index)
}

impl Catalog {
    /// Number of commands and subcommands.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none (never, with a table).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bits of the categories no command here belongs to: those of the
    /// data types pubsubd does not provide (`@set`, `@list`, ...).
    pub fn empty_categories(&self) -> u32 {
        let used = self.entries.iter().fold(0, |m, e| m | e.categories);
        let all = (1u32 << CATEGORIES.len()) - 1;
        all & !used
    }

    /// The dense number of a resolved command: address arithmetic on the
    /// static table, no hashing, so the per-command check stays cheap.
    pub fn id_of(&self, cmd: &'static Command, parent: Option<&'static Command>) -> Option<usize> {
        match parent {
            None => position(COMMANDS, cmd),
            Some(p) => {
                let top = position(COMMANDS, p)?;
                let pos = position(p.subcommands, cmd)?;
                Some(self.sub_base.get(top)? + pos)
            }
        }
    }

    /// The command named in a rule: `publish` or `client|list` (any case),
    /// by its original name (ACLs ignore `rename-command`, as in Redis).
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let (top, sub) = match name.iter().position(|&b| b == b'|') {
            Some(i) => (&name[..i], Some(&name[i + 1..])),
            None => (name, None),
        };
        let cmd = crate::commands::table::lookup(top)?;
        match sub {
            None => self.id_of(cmd, None),
            Some(sub) => self.id_of(cmd.subcommand(sub)?, Some(cmd)),
        }
    }
}

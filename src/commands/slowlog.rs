//! SLOWLOG GET | LEN | RESET | HELP, and the log they read: the commands
//! that ran for at least `slowlog-log-slower-than` microseconds, newest
//! first, at most `slowlog-max-len` of them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use super::help_reply;
use super::monitor::Redacted;
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// Arguments an entry keeps; a longer command keeps the first 31 and, last,
/// `... (N more arguments)` (Redis's `SLOWLOG_ENTRY_MAX_ARGC`).
pub const MAX_ARGS: usize = 32;
/// Bytes an argument keeps; a longer one is cut and ends with
/// `... (N more bytes)` (Redis's `SLOWLOG_ENTRY_MAX_STRING`).
pub const MAX_ARG_BYTES: usize = 128;
/// Most entries kept whatever `slowlog-max-len` says (Redis allows up to
/// LONG_MAX; each entry here is at most about 5 KiB, so this bounds the log
/// to about 5 GiB in the worst case and is far above any useful setting).
pub const MAX_LEN_CAP: u64 = 1_000_000;
/// `slowlog-log-slower-than`'s default, in microseconds.
pub const DEFAULT_SLOWER_THAN_US: i64 = 10_000;
/// `slowlog-max-len`'s default.
pub const DEFAULT_MAX_LEN: u64 = 128;

/// One logged command.
struct Entry {
    id: u64,
    unix_secs: u64,
    micros: u64,
    args: Vec<Bytes>,
    addr: String,
    name: Bytes,
}

/// The slow log and its two settings.
pub struct SlowLog {
    /// `slowlog-log-slower-than` in microseconds; negative disables the log.
    pub slower_than_us: AtomicI64,
    /// `slowlog-max-len`.
    pub max_len: AtomicU64,
    next_id: AtomicU64,
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            slower_than_us: AtomicI64::new(DEFAULT_SLOWER_THAN_US),
            max_len: AtomicU64::new(DEFAULT_MAX_LEN),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }
}

impl SlowLog {
    /// Whether a command that ran `micros` is logged.
    pub fn wants(&self, micros: u64) -> bool {
        let threshold = self.slower_than_us.load(Ordering::Relaxed);
        threshold >= 0 && micros >= threshold as u64
    }

    /// The most entries kept now.
    fn cap(&self) -> usize {
        self.max_len.load(Ordering::Relaxed).min(MAX_LEN_CAP) as usize
    }

    /// Logs a command `s` ran for `micros`: its arguments (secrets
    /// redacted, long ones cut), client address and name.
    pub fn push(&self, s: &Session, args: &Args, micros: u64) {
        let redacted = super::monitor::redacted_positions(args);
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_secs: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            micros,
            args: entry_args(args, &redacted),
            // A script's commands are run by Redis's fake Lua client, which
            // has no address and no name.
            addr: if s.in_script {
                "?:0".to_string()
            } else {
                s.client.peer.addr.to_string()
            },
            name: if s.in_script {
                Bytes::new()
            } else {
                s.client.with_info(|i| i.name.clone())
            },
        };
        let cap = self.cap();
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(cap);
    }
}

/// The arguments an entry keeps (see [`MAX_ARGS`], [`MAX_ARG_BYTES`]).
fn entry_args(args: &Args, redacted: &Redacted) -> Vec<Bytes> {
    let kept = args.len().min(MAX_ARGS);
    let mut out = Vec::with_capacity(kept);
    for (i, arg) in args.iter().enumerate().take(kept) {
        if kept < args.len() && i == kept - 1 {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - kept + 1
            )));
            break;
        }
        let arg = redacted.apply(i, arg);
        if arg.len() > MAX_ARG_BYTES {
            let mut cut = arg[..MAX_ARG_BYTES].to_vec();
            cut.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes(),
            );
            out.push(Bytes::from(cut));
        } else {
            out.push(arg);
        }
    }
    out
}

/// SLOWLOG GET [count]: the newest `count` entries (10 by default, -1 for
/// all).
pub fn get(s: &mut Session, args: &Args) -> Reply {
    if args.len() > 3 {
        return subcommand_syntax_error(args);
    }
    let count = match args.get_arg(2) {
        None => 10,
        Some(arg) => match super::parse_i64(arg) {
            Ok(n) if n >= -1 => n,
            _ => return Reply::error("ERR count should be greater than or equal to -1"),
        },
    };
    let log = &s.shared.slowlog;
    let cap = log.cap();
    let mut entries = log.entries.lock();
    entries.truncate(cap);
    let take = if count < 0 {
        entries.len()
    } else {
        (count as usize).min(entries.len())
    };
    Reply::Array(
        entries
            .iter()
            .take(take)
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.unix_secs as i64),
                    Reply::Int(e.micros as i64),
                    Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                    Reply::Bulk(Bytes::from(e.addr.clone())),
                    Reply::Bulk(e.name.clone()),
                ])
            })
            .collect(),
    )
}

/// SLOWLOG LEN.
pub fn len(s: &mut Session, _args: &Args) -> Reply {
    let log = &s.shared.slowlog;
    let cap = log.cap();
    let mut entries = log.entries.lock();
    entries.truncate(cap);
    Reply::Int(entries.len() as i64)
}

/// SLOWLOG RESET.
pub fn reset(s: &mut Session, _args: &Args) -> Reply {
    s.shared.slowlog.entries.lock().clear();
    Reply::ok()
}

/// SLOWLOG HELP.
pub fn help(_s: &mut Session, _args: &Args) -> Reply {
    help_reply(
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}

/// Redis's error for a subcommand given the wrong number of arguments by
/// its own rules.
pub fn subcommand_syntax_error(args: &Args) -> Reply {
    let name = args.arg(0);
    let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
    super::error_quoting(
        "ERR unknown subcommand or wrong number of arguments for '",
        args.arg(1),
        128,
        &format!(
            "'. Try {} HELP.",
            String::from_utf8_lossy(&name.to_ascii_uppercase())
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_cut_as_redis_cuts_them() {
        let mut words: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        words[1] = Bytes::from(vec![b'x'; 130]);
        let kept = entry_args(&Args::from(words), &Redacted::default());
        assert_eq!(kept.len(), 32);
        assert_eq!(&kept[31][..], b"... (9 more arguments)");
        assert_eq!(kept[1].len(), 128 + b"... (2 more bytes)".len());
        assert!(kept[1].ends_with(b"x... (2 more bytes)"));
        assert_eq!(&kept[30][..], b"30");
    }
}

//! ACL LOG: recent denied commands, keys, channels and failed logins.

use std::collections::VecDeque;

use bytes::Bytes;

/// Entries denied for the same reason, object and user within this many
/// milliseconds are counted in one entry (Redis's grouping window).
const GROUPING_WINDOW_MS: u64 = 60_000;

/// How many of the newest entries a new one is compared with for grouping
/// (Redis's bound on that work).
const GROUPING_SCAN: usize = 10;

/// Why an entry was logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A command the user may not run.
    Command,
    /// A key the user may not touch.
    Key,
    /// A channel the user may not use.
    Channel,
    /// A failed AUTH or HELLO AUTH.
    Auth,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

/// Where the denied command came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Sent by the client.
    Toplevel,
    /// Queued in MULTI, or run by EXEC.
    Multi,
    /// Called from a script.
    Lua,
}

impl Context {
    fn as_str(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// One log entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// How many times it happened in the grouping window.
    pub count: u64,
    /// Why.
    pub reason: Reason,
    /// From where.
    pub context: Context,
    /// The command, key, channel or (for auth) user name.
    pub object: Bytes,
    /// The user the client was using (for auth, the one it tried).
    pub username: Bytes,
    /// When it last happened, milliseconds since the epoch.
    pub time_ms: u64,
    /// CLIENT LIST line of the client.
    pub client_info: String,
}

/// The log, newest first, bounded by `acllog-max-len`.
#[derive(Default)]
pub struct AclLog {
    entries: VecDeque<Entry>,
}

impl AclLog {
    /// Adds an entry (or counts it in a recent matching one), then trims the
    /// log to `max_len` entries.
    pub fn add(&mut self, entry: Entry, max_len: usize) {
        let found = self.entries.iter().take(GROUPING_SCAN).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.time_ms.abs_diff(entry.time_ms) <= GROUPING_WINDOW_MS
                && e.object == entry.object
                && e.username == entry.username
        });
        match found.and_then(|i| self.entries.remove(i)) {
            Some(mut e) => {
                e.count += 1;
                e.time_ms = entry.time_ms;
                e.client_info = entry.client_info;
                self.entries.push_front(e);
            }
            None => self.entries.push_front(entry),
        }
        self.entries.truncate(max_len);
    }

    /// Forgets everything (ACL LOG RESET).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The newest `count` entries.
    pub fn take(&self, count: usize) -> Vec<Entry> {
        self.entries.iter().take(count).cloned().collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Entry {
    /// The reason's name in ACL LOG.
    pub fn reason_str(&self) -> &'static str {
        self.reason.as_str()
    }

    /// The context's name in ACL LOG.
    pub fn context_str(&self) -> &'static str {
        self.context.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(object: &'static str, time_ms: u64) -> Entry {
        Entry {
            count: 1,
            reason: Reason::Channel,
            context: Context::Toplevel,
            object: Bytes::from_static(object.as_bytes()),
            username: Bytes::from_static(b"u"),
            time_ms,
            client_info: String::new(),
        }
    }

    #[test]
    fn groups_repeats_and_stays_bounded() {
        let mut log = AclLog::default();
        log.add(entry("a", 0), 3);
        log.add(entry("a", 1000), 3);
        assert_eq!(log.len(), 1);
        assert_eq!(log.take(1)[0].count, 2);
        // Outside the grouping window: a new entry.
        log.add(entry("a", 1000 + GROUPING_WINDOW_MS + 1), 3);
        log.add(entry("b", 0), 3);
        log.add(entry("c", 0), 3);
        assert_eq!(log.len(), 3);
        let objects: Vec<Bytes> = log.take(10).into_iter().map(|e| e.object).collect();
        assert_eq!(objects, ["c", "b", "a"]);
    }
}

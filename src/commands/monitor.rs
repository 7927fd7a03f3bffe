//! MONITOR: every command run, as one status line per command, sent to the
//! clients that asked for it.
//!
//! A line is `+<unix seconds>.<micros> [<db> <addr>] "arg" "arg"...`, the
//! arguments quoted and escaped as Redis's `sdscatrepr` does; commands run
//! by a script show `lua` as their address. Passwords given to AUTH and
//! HELLO ... AUTH are shown as `(redacted)`. As in Redis, administrative
//! commands are never shown, EVAL-family commands are shown before the
//! commands their script runs, and the other commands after they ran.
//!
//! The feed goes through each monitor's own bounded outbox like a published
//! message: a monitor that stops reading is cut by the `normal` class of
//! `client-output-buffer-limit` (Redis counts monitors as normal clients) and
//! never holds up the client whose command it watches. With no monitor
//! connected the feed costs one atomic load per command.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::client::Client;
use crate::protocol::{Args, Reply};
use crate::pubsub::{PushOutcome, SharedFrame};
use crate::session::Session;
use crate::shared::Shared;

/// Most bytes of lines about a monitor's own commands held back until the
/// command's reply (a script it runs may run many commands); past this they
/// are queued at once, ahead of the reply, and count against its output
/// limit like any other output.
pub const MONITOR_ECHO_MAX: usize = 64 * 1024;

/// What a redacted argument is shown as.
const REDACTED: &[u8] = b"(redacted)";

/// The clients in MONITOR mode.
#[derive(Default)]
pub struct Monitors {
    /// How many clients are in `list`: the one load a command pays when it
    /// is zero.
    count: AtomicUsize,
    list: Mutex<Vec<Arc<Client>>>,
}

impl Monitors {
    /// Whether any client is monitoring.
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Whether the client `id` is monitoring (CLIENT LIST flag `O`).
    pub fn contains(&self, id: u64) -> bool {
        self.active() && self.list.lock().iter().any(|c| c.id == id)
    }

    /// Adds `client` (once).
    fn add(&self, client: &Arc<Client>) {
        let mut list = self.list.lock();
        if !list.iter().any(|c| c.id == client.id) {
            list.push(Arc::clone(client));
            self.count.store(list.len(), Ordering::Relaxed);
        }
    }

    /// Takes the client `id` out of MONITOR mode (RESET, disconnect).
    pub fn remove(&self, id: u64) {
        if !self.active() {
            return;
        }
        let mut list = self.list.lock();
        list.retain(|c| c.id != id);
        self.count.store(list.len(), Ordering::Relaxed);
    }

    /// Queues `line` for every monitor but the client `me` without waiting
    /// (a monitor over its output limit is disconnected); returns whether
    /// `me` is a monitor.
    fn send(&self, shared: &Shared, line: &Bytes, me: u64) -> bool {
        let list = self.list.lock().clone();
        let mut found = false;
        for c in &list {
            if c.id == me {
                found = true;
                continue;
            }
            let limit = c.limit(shared);
            let (outcome, was_empty) = c.outbox.push_shared_quiet(SharedFrame::Bytes(line), limit);
            match outcome {
                PushOutcome::OverLimit => c.kill_slow_consumer(shared),
                PushOutcome::Queued if was_empty => crate::pubsub::wakeups::wake(c),
                _ => {}
            }
        }
        found
    }
}

/// MONITOR: this client is sent every command run from now on.
pub fn monitor(s: &mut Session, _args: &Args) -> Reply {
    if !s.direct {
        return Reply::error("ERR MONITOR isn't allowed for DENY BLOCKING client");
    }
    s.shared.monitors.add(&s.client);
    Reply::ok()
}

/// Feeds the command `args` that `s` ran (or is about to run) to the
/// monitors; one atomic load when there are none.
pub fn feed(s: &mut Session, args: &Args) {
    if !s.shared.monitors.active() {
        return;
    }
    let line = format_line(s, args);
    if s.shared.monitors.send(&s.shared, &line, s.client.id) {
        // A monitor is told of its own command after the command's reply.
        let echo = s.monitor_echo.get_or_insert_default();
        echo.push(line);
        let held: usize = echo.iter().map(Bytes::len).sum();
        if held > MONITOR_ECHO_MAX {
            for line in s.monitor_echo.take().into_iter().flat_map(|e| *e) {
                s.client.send(&s.shared, line);
            }
        }
    }
}

/// Sends a monitor the lines about its own commands, after their replies.
pub fn echo_own(s: &mut Session) {
    s.flush();
    for line in s.monitor_echo.take().into_iter().flat_map(|e| *e) {
        s.client.send(&s.shared, line);
    }
}

/// The MONITOR line for `args` run by `s` now.
fn format_line(s: &Session, args: &Args) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut out: Vec<u8> = Vec::with_capacity(64 + args.iter().map(|a| a.len() + 3).sum::<usize>());
    let _ = write!(
        out,
        "+{}.{:06} [{} ",
        now.as_secs(),
        now.subsec_micros(),
        s.db
    );
    let peer = &s.client.peer;
    if s.in_script {
        out.extend_from_slice(b"lua");
    } else {
        match &peer.addr {
            crate::client::Endpoint::Unix(path) => {
                let _ = write!(out, "unix:{path}");
            }
            addr => {
                let _ = write!(out, "{addr}");
            }
        }
    }
    out.extend_from_slice(b"] ");
    let redacted = redacted_positions(args);
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if redacted.contains(i) {
            repr(&mut out, REDACTED);
        } else {
            repr(&mut out, arg);
        }
    }
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}

/// Parameters whose CONFIG SET values are secrets (Redis's
/// `SENSITIVE_CONFIG` parameters).
const SENSITIVE_PARAMS: &[&str] = &["requirepass", "masterauth", "masteruser"];

/// Which arguments of `args` hold secrets, shown as `(redacted)` by MONITOR
/// and SLOWLOG: every argument of AUTH, the two after AUTH in HELLO, the
/// value of a sensitive parameter in CONFIG SET. (Redis skips the redaction
/// for a few malformed AUTH and HELLO requests; pubsubd always redacts.)
pub fn redacted_positions(args: &Args) -> Redacted {
    let name = args.arg(0);
    let mut out = Redacted::default();
    if super::is(name, "auth") {
        out.0.extend(1..args.len());
    } else if super::is(name, "hello") {
        let mut i = 2;
        while i < args.len() {
            if super::is(&args[i], "auth") && i + 2 < args.len() {
                out.0.extend([i + 1, i + 2]);
                i += 3;
            } else {
                // SETNAME takes one value.
                i += if super::is(&args[i], "setname") { 2 } else { 1 };
            }
        }
    } else if super::is(name, "config") && args.len() > 1 && super::is(&args[1], "set") {
        for i in (2..args.len()).step_by(2) {
            if SENSITIVE_PARAMS.iter().any(|p| super::is(&args[i], p)) && i + 1 < args.len() {
                out.0.push(i + 1);
            }
        }
    }
    out
}

/// The positions of a command's arguments that are shown as `(redacted)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redacted(pub Vec<usize>);

impl Redacted {
    /// Whether argument `i` is redacted.
    pub fn contains(&self, i: usize) -> bool {
        self.0.contains(&i)
    }

    /// `arg` (argument `i`), or the text shown in its place.
    pub fn apply(&self, i: usize, arg: &Bytes) -> Bytes {
        if self.contains(i) {
            Bytes::from_static(REDACTED)
        } else {
            arg.clone()
        }
    }
}

/// Appends `arg` quoted, with `\\`, `"`, `\n`, `\r`, `\t`, `\a`, `\b`
/// escaped and other bytes outside printable ASCII as `\xhh`.
fn repr(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'"');
    for &b in arg {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_escapes_as_redis() {
        let mut out = Vec::new();
        repr(&mut out, b"a\"b\\\n\r\t\x07\x08\x01\xc3 ~");
        assert_eq!(out, b"\"a\\\"b\\\\\\n\\r\\t\\a\\b\\x01\\xc3 ~\"");
    }

    fn args(words: &[&str]) -> Args {
        Args::from(
            words
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn secrets_are_found() {
        let at = |words: &[&str]| redacted_positions(&args(words)).0;
        assert_eq!(at(&["AUTH", "pw"]), [1]);
        assert_eq!(at(&["auth", "u", "pw"]), [1, 2]);
        assert_eq!(at(&["hello", "3", "auth", "u", "p"]), [3, 4]);
        assert_eq!(
            at(&["hello", "3", "setname", "auth", "AUTH", "u", "p"]),
            [5, 6]
        );
        assert!(at(&["hello", "3"]).is_empty());
        assert!(at(&["set", "auth", "x"]).is_empty());
        assert_eq!(
            at(&["config", "SET", "maxmemory", "1", "REQUIREPASS", "s"]),
            [5]
        );
        assert!(at(&["config", "get", "requirepass"]).is_empty());
    }
}

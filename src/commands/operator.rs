//! ROLE, LASTSAVE, WAIT, CLIENT PAUSE | UNPAUSE: answered as a standalone
//! Redis with persistence off answers them, so tools and client libraries
//! that probe them work.
//!
//! CLIENT PAUSE holds back clients' commands until a deadline or CLIENT
//! UNPAUSE: `ALL` every command, `WRITE` those that write or may publish
//! (Redis's `write` and `may-replicate`: SET, PUBLISH, EVAL, an EXEC
//! holding one...). A held-back command waits in its connection task
//! ([`super::Outcome::Postponed`]), never on a runtime thread, and the
//! client's later requests wait behind it, as in Redis.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;

use super::table::{Command, flags};
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// Longest pause or WAIT timeout honoured, in milliseconds: a deadline
/// further away (Redis accepts up to LLONG_MAX ms) is clamped to this,
/// about 31 years, so the deadline arithmetic cannot overflow.
pub const MAX_TIMEOUT_MS: u64 = 1_000_000_000_000;

/// No pause.
const OFF: u8 = 0;
/// Commands that write or may publish wait.
const WRITE: u8 = 1;
/// Every command waits.
const ALL: u8 = 2;

/// Why a command was put off: its connection waits, then dispatches it
/// again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Postpone {
    /// CLIENT PAUSE holds it: wait for the pause to end or change.
    Pause,
    /// WAIT with no replica to wait for: reply once the deadline passes
    /// (None: never, as Redis's `WAIT n 0`).
    Until(Option<Instant>),
    /// Sent to the node that owns the keys (cluster mode): reply once its
    /// answer is in the session's forward slot.
    Forward,
}

/// The CLIENT PAUSE state.
#[derive(Default)]
pub struct ClientPause {
    /// [`OFF`], [`WRITE`] or [`ALL`]: the one load a command pays while no
    /// pause is set.
    kind: AtomicU8,
    /// The kind and when the pause ends.
    state: Mutex<(u8, Option<Instant>)>,
    /// Woken when the pause ends or changes.
    changed: tokio::sync::Notify,
}

impl ClientPause {
    /// Whether `cmd` (queued in a transaction or run now) must wait for the
    /// pause; `queued` is the transaction EXEC would run.
    pub fn holds(&self, cmd: &Command, queued: Option<&[Args]>, s: &Session) -> bool {
        let kind = self.kind.load(Ordering::Relaxed);
        if kind == OFF {
            return false;
        }
        let (kind, end) = *self.state.lock();
        if kind == OFF {
            return false;
        }
        if end.is_some_and(|end| end <= Instant::now()) {
            self.set(OFF, None);
            return false;
        }
        kind == ALL
            || may_replicate(cmd)
            || cmd.name == "exec"
                && queued.is_some_and(|q| {
                    q.iter().any(|args| {
                        s.shared
                            .command_names
                            .lookup(args.arg(0))
                            .is_some_and(may_replicate)
                    })
                })
    }

    /// Sets the pause and wakes the clients waiting for it.
    fn set(&self, kind: u8, end: Option<Instant>) {
        *self.state.lock() = (kind, end);
        self.kind.store(kind, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    /// Waits until the pause ends or changes (the command is then tried
    /// again).
    pub async fn changed(&self) {
        let notified = self.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (kind, end) = *self.state.lock();
        if kind == OFF {
            return;
        }
        match end {
            Some(end) => {
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep_until(end.into()) => {}
                }
            }
            None => notified.await,
        }
    }
}

/// Redis's `write` or `may-replicate` commands: what CLIENT PAUSE WRITE
/// holds back. (`may-replicate` is not shown by COMMAND INFO for the
/// script commands, so the table does not carry it for them.)
fn may_replicate(cmd: &Command) -> bool {
    cmd.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0
        || matches!(cmd.name, "eval" | "evalsha" | "fcall")
}

/// Parses a timeout in milliseconds as Redis's
/// `getTimeoutFromObjectOrReply` does; the deadline (None for 0 = none).
fn timeout_arg(arg: &[u8]) -> Result<Option<Instant>, Reply> {
    let ms = crate::protocol::request::parse_int(arg)
        .ok_or_else(|| Reply::error("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    if ms == 0 {
        return Ok(None);
    }
    let ms = (ms as u64).min(MAX_TIMEOUT_MS);
    Ok(Some(Instant::now() + Duration::from_millis(ms)))
}

/// CLIENT PAUSE timeout [WRITE|ALL].
pub fn client_pause(s: &mut Session, args: &Args) -> Reply {
    if args.len() > 4 {
        return super::slowlog::subcommand_syntax_error(args);
    }
    let kind = match args.get_arg(3) {
        None => ALL,
        Some(a) if super::is(a, "write") => WRITE,
        Some(a) if super::is(a, "all") => ALL,
        Some(_) => return Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    // A timeout of 0 ends at once, as in Redis (its deadline is now).
    let end = match timeout_arg(args.arg(2)) {
        Ok(end) => end.unwrap_or_else(Instant::now),
        Err(e) => return e,
    };
    let pause = &s.shared.pause;
    let (old_kind, old_end) = *pause.state.lock();
    // As in Redis, a second pause extends the first: the stronger kind and
    // the later end.
    let end = old_end.map_or(end, |old| old.max(end));
    pause.set(kind.max(old_kind), Some(end));
    Reply::ok()
}

/// CLIENT UNPAUSE.
pub fn client_unpause(s: &mut Session, _args: &Args) -> Reply {
    s.shared.pause.set(OFF, None);
    Reply::ok()
}

/// ROLE: a primary with no replicas and replication offset 0.
pub fn role(_s: &mut Session, _args: &Args) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from_static(b"master")),
        Reply::Int(0),
        Reply::Array(Vec::new()),
    ])
}

/// LASTSAVE: with persistence off nothing is ever saved, and Redis counts
/// the data as saved when it started: the start time, in unix seconds.
pub fn lastsave(s: &mut Session, _args: &Args) -> Reply {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Reply::Int(now.saturating_sub(s.shared.started.elapsed().as_secs()) as i64)
}

/// WAIT numreplicas timeout: no replica ever acknowledges, so 0 — at once
/// when no replica is asked for (or inside a transaction), else once the
/// timeout has passed (never, for timeout 0), as Redis does.
pub fn wait(s: &mut Session, args: &Args) -> Reply {
    let replicas = match super::parse_i64(args.arg(1)) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let end = match timeout_arg(args.arg(2)) {
        Ok(end) => end,
        Err(e) => return e,
    };
    if replicas <= 0 || !s.direct || std::mem::take(&mut s.wait_done) {
        return Reply::Int(0);
    }
    s.postpone = Some(Box::new(Postpone::Until(end)));
    Reply::Sent
}

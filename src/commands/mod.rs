//! Commands: the table that describes them, the one place that checks a
//! request against it, and one file per command (or command family).
//!
//! [`dispatch`] looks the command up, checks arity, subcommand,
//! authentication and the RESP2 subscribed-mode restriction — producing
//! Redis's exact error text for each — and only then runs the handler.
//!
//! Dispatch is also where a command gets the keyspace: before a command that
//! reaches it runs (or is queued, when queueing checks `maxmemory`), dispatch
//! takes the keyspace lock without waiting and holds it until the command
//! ends, so EXEC and scripts hold it for everything they run. If another
//! client holds it, or a script is running, the command is not run: dispatch
//! answers [`Outcome::Wait`] and the connection waits asynchronously, then
//! dispatches the same request again. A runtime worker never blocks on the
//! keyspace, and no path takes it twice (see `session.rs`). The script
//! engine's lock is only taken by commands that hold the keyspace (EVAL and
//! the SCRIPT subcommands; a script cannot call them), so it is never
//! contended either.

pub mod table;

mod acl;
mod auth;
mod bits;
mod client;
mod cluster;
mod command;
mod config;
mod dbsize;
mod debug;
mod echo;
mod expire;
mod float80;
mod flush;
mod hello;
pub mod info;
mod keys;
pub mod latency;
pub mod monitor;
pub mod multi;
mod object;
pub mod operator;
mod ping;
pub mod publish;
mod pubsub;
mod quit;
mod reset;
mod scripting;
mod select;
mod shutdown;
pub mod slowlog;
mod strings;
mod subscribe;
mod time;

use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::protocol::{Args, Reply};
use crate::session::Session;
use table::{Command, flags};

pub use command::CommandNames;

/// A command handler: runs with the session and the full request
/// (`args[0]` is the command name) and returns the reply.
pub type Handler = fn(&mut Session, &Args) -> Reply;

/// Longest part of a client-supplied name or argument echoed in an error.
const ERR_ECHO_MAX: usize = 128;

/// A command found in the table, with its container for a subcommand.
#[derive(Clone, Copy)]
struct Resolved {
    cmd: &'static Command,
    parent: Option<&'static Command>,
}

impl Resolved {
    /// Redis's full name: `publish`, `client|list`.
    fn fullname(&self) -> String {
        match self.parent {
            Some(p) => format!("{}|{}", p.name, self.cmd.name),
            None => self.cmd.name.to_string(),
        }
    }
}

/// What became of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Executed (or refused) and replied to.
    Done,
    /// Not run: another client holds the keyspace (a command, a transaction
    /// or a script). Wait for it — the connection may keep the guard it gets
    /// for this command (`Session::adopt_keyspace`) — and dispatch the same
    /// request again. With `or_busy`, also stop waiting when a script turns
    /// busy: the command is then refused with `-BUSY`.
    Wait {
        /// The command is one a busy script refuses.
        or_busy: bool,
    },
    /// Not run yet: CLIENT PAUSE holds it, or WAIT waits out its timeout.
    /// Wait as the reason says, then dispatch the same request again.
    Postponed(operator::Postpone),
}

/// Bytes of bookkeeping counted per queued argument on top of its length,
/// when bounding a transaction's queue.
const MULTI_ARG_OVERHEAD: usize = 32;

/// Redis's error for writes over `maxmemory`.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Commands that act on a transaction rather than being queued in one.
fn controls_transaction(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Runs one request (`args[0]` is the command name) and writes its reply.
/// Called only for a request of its own (not inside EXEC or a script), and
/// returns holding no keyspace guard.
pub fn dispatch(s: &mut Session, args: &Args) -> Outcome {
    if args.is_empty() {
        return Outcome::Done;
    }
    s.refresh_user();
    // A PUBLISH run is delivered before anything else this client does.
    if s.publish_group.is_some() && !publish::continues_group(s, args) {
        publish::flush_group(s);
    }
    s.skip_current = std::mem::take(&mut s.skip_next);
    let reply = match resolve(s, args, false, true) {
        // A forwarded request refused when tried again (its user changed
        // meanwhile): its answer is nobody's now.
        Err(reply) if names_exec(s, args) => {
            s.forward = None;
            exec_abort(s, &reply)
        }
        Err(reply) => {
            s.forward = None;
            count_rejection(s, args);
            s.fail_multi();
            reply
        }
        Ok(resolved) => {
            let cmd = resolved.cmd;
            let queueing = s.multi.is_some() && !controls_transaction(cmd.name);
            let routed =
                crate::cluster::keys::route(s, cmd, resolved.parent.is_some(), args, queueing);
            let scripts = &s.shared.scripts;
            let may_wait = !s.in_script && cmd.flags & flags::ALLOW_BUSY == 0;
            if let Some(crate::cluster::keys::Routed::Pending) = routed {
                return postpone(s, operator::Postpone::Forward);
            }
            if let Some(crate::cluster::keys::Routed::Done(reply)) = routed {
                reply
            } else if may_wait && scripts.is_running() && !s.holds_keyspace() {
                if !scripts.is_busy() {
                    return wait(s, true);
                }
                refuse_busy(s, resolved)
            } else if s.shared.pause.holds(cmd, s.queued(), s) {
                return postpone(s, operator::Postpone::Pause);
            } else if needs_keyspace(s, cmd, queueing) && !s.try_take_keyspace() {
                return wait(s, may_wait);
            } else if queueing {
                s.client.set_last_command(cmd);
                queue(s, cmd, args)
            } else {
                s.direct = true;
                let reply = run(s, resolved, args);
                s.direct = false;
                if let Some(why) = s.postpone.take().map(|why| *why) {
                    return postpone(s, why);
                }
                reply
            }
        }
    };
    s.release_keyspace();
    s.reply(reply);
    if s.monitor_echo.is_some() {
        monitor::echo_own(s);
    }
    s.skip_current = false;
    if std::mem::take(&mut s.release_pushes_after_reply) {
        s.flush();
        s.client.release_pushes(&s.shared);
    }
    Outcome::Done
}

/// Leaves the request for later (see [`Outcome::Wait`]); its CLIENT REPLY
/// SKIP still applies to it then.
fn wait(s: &mut Session, or_busy: bool) -> Outcome {
    s.release_keyspace();
    s.skip_next = s.skip_current;
    s.skip_current = false;
    Outcome::Wait { or_busy }
}

/// Whether the request's command is EXEC (under the name clients use).
fn names_exec(s: &Session, args: &Args) -> bool {
    s.shared
        .command_names
        .lookup(args.arg(0))
        .is_some_and(|c| c.name == "exec")
}

/// As Redis's `execCommandAbort`: EXEC refused before it runs (wrong arity,
/// NOAUTH, the RESP2 subscribed context, OOM) ends the transaction, if any,
/// forgets the WATCHed keys, and gives the reason after `EXECABORT`. The
/// reason keeps its error code, except the generic `ERR`, which Redis's
/// refusal texts do not carry.
pub(crate) fn exec_abort(s: &mut Session, refusal: &Reply) -> Reply {
    s.end_transaction();
    s.client.with_info(|i| i.multi = None);
    let reason: &[u8] = match refusal {
        Reply::Error(e) => e.strip_prefix(b"ERR ").unwrap_or(e),
        _ => b"",
    };
    let mut text = b"EXECABORT Transaction discarded because of: ".to_vec();
    text.extend_from_slice(reason);
    Reply::error_bytes(text)
}

/// `-OOM` if EXEC would run a queued command that `maxmemory` refuses now
/// (Redis treats EXEC as `denyoom` when any queued command is).
pub(crate) fn exec_oom_refusal(s: &mut Session, queued: &[Args]) -> Option<Reply> {
    let denyoom = queued
        .iter()
        .any(|args| resolve(s, args, true, false).is_ok_and(|r| r.cmd.flags & flags::DENYOOM != 0));
    if denyoom { oom_refusal(s) } else { None }
}

/// Leaves the request for later (see [`Outcome::Postponed`]), as [`wait`].
fn postpone(s: &mut Session, why: operator::Postpone) -> Outcome {
    let _ = wait(s, false);
    Outcome::Postponed(why)
}

/// The reply to a command refused because a script is busy. As in Redis, the
/// refusal aborts an open transaction, and EXEC itself ends it with
/// `-EXECABORT`, giving the reason.
fn refuse_busy(s: &mut Session, resolved: Resolved) -> Reply {
    let stats = &s.shared.stats.commands;
    stats.reject(s.client.id, resolved.cmd, resolved.parent);
    let busy = s.shared.scripts.busy_text();
    if resolved.parent.is_none() && resolved.cmd.name == "exec" {
        return exec_abort(s, &Reply::error(busy));
    }
    s.fail_multi();
    Reply::error(busy)
}

/// Whether `cmd`, run (or queued) by `s` now, reaches the keyspace: data
/// commands, the commands flagged [`flags::KEYSPACE`], and queueing a
/// `denyoom` command while `maxmemory` is set (it checks the keyspace's
/// size). Dispatch holds the keyspace for these.
fn needs_keyspace(s: &Session, cmd: &Command, queueing: bool) -> bool {
    if queueing {
        return cmd.flags & flags::DENYOOM != 0 && maxmemory(s) > 0;
    }
    cmd.flags & (flags::READONLY | flags::WRITE | flags::KEYSPACE) != 0
}

/// Queues a command inside MULTI (`+QUEUED`), or rejects it and marks the
/// transaction to abort.
fn queue(s: &mut Session, cmd: &Command, args: &Args) -> Reply {
    if cmd.flags & flags::NO_MULTI != 0 {
        s.fail_multi();
        return Reply::error("ERR Command not allowed inside a transaction");
    }
    if cmd.flags & flags::DENYOOM != 0
        && let Some(refusal) = oom_refusal(s)
    {
        s.fail_multi();
        return refusal;
    }
    // The queue is bounded like the query buffer it came from: by
    // `client-query-buffer-limit`, in bytes of arguments plus overhead.
    let size: usize = args.iter().map(|a| a.len() + MULTI_ARG_OVERHEAD).sum();
    let limit = s
        .shared
        .settings
        .query_buffer_limit
        .load(std::sync::atomic::Ordering::Relaxed);
    if let Some(m) = s.multi.as_mut() {
        if (m.bytes + size) as u64 > limit {
            m.error = true;
            return Reply::error(
                "ERR transaction queue exceeds client-query-buffer-limit; EXEC will abort",
            );
        }
        m.bytes += size;
        m.queued.push(Args::from(args.to_vec()));
        let queued = m.queued.len();
        s.client.with_info(|i| i.multi = Some(queued));
    }
    Reply::status("QUEUED")
}

/// `maxmemory` in bytes; 0 = no limit.
fn maxmemory(s: &Session) -> u64 {
    s.shared
        .settings
        .maxmemory
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// `-OOM` if writes are refused for `maxmemory` (measured on the keyspace
/// the command holds).
pub(super) fn oom_refusal(s: &mut Session) -> Option<Reply> {
    let max = maxmemory(s);
    if max == 0 {
        return None;
    }
    let shared = std::sync::Arc::clone(&s.shared);
    match s.keyspace_value(|ks| shared.used_memory(ks)) {
        Ok(used) if used > max => Some(Reply::error(OOM)),
        Ok(_) => None,
        Err(e) => Some(e),
    }
}

/// Runs a resolved command: memory check, statistics, handler.
fn run(s: &mut Session, resolved: Resolved, args: &Args) -> Reply {
    let cmd = resolved.cmd;
    if cmd.flags & flags::DENYOOM != 0
        && !(s.in_script && s.script_allow_oom)
        && let Some(refusal) = oom_refusal(s)
    {
        let stats = &s.shared.stats.commands;
        stats.reject(s.client.id, cmd, resolved.parent);
        if !s.direct {
            count_error_reply(s, &refusal);
        }
        return refusal;
    }
    if cmd.flags & flags::MAY_PUSH != 0 && !s.in_script && s.client.is_pubsub() {
        // Replies to earlier pipelined commands go out before any push this
        // command causes for the client itself (only a subscribed client can
        // receive one).
        s.flush();
    }
    s.count_command();
    if !s.in_script {
        s.client.touch();
        s.client.set_last_command(cmd);
    }
    if cmd.flags & flags::SKIP_MONITOR != 0 {
        // Scripts' commands are shown after the script's own line.
        monitor::feed(s, args);
    }
    let started = std::time::Instant::now();
    let reply = match cmd.handler {
        Some(h) => h(s, args),
        None => unknown_subcommand(args.arg(0), args.get_arg(1)),
    };
    if s.postpone.is_none() {
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        record_stats(s, cmd, resolved.parent, ns, &reply);
        after_run(s, cmd, args, ns / 1000);
    }
    reply
}

/// Counts a command that ran for `ns` in INFO's commandstats,
/// latencystats and errorstats.
fn record_stats(
    s: &mut Session,
    cmd: &'static Command,
    parent: Option<&'static Command>,
    ns: u64,
    reply: &Reply,
) {
    let stats = &s.shared.stats;
    let latency = s.shared.settings.latency_tracking.load(Ordering::Relaxed);
    let failed = reply.is_error();
    stats
        .commands
        .record(s.client.id, cmd, parent, ns, failed, latency);
    // An error EXEC or a script collects is an error reply too, as in
    // Redis (the caller's own reply is counted when it is sent), unless it
    // is a script's error counted when its command ran.
    if !s.direct && !std::mem::take(&mut s.error_counted) {
        count_error_reply(s, reply);
    }
}

/// Counts `reply`, if it is an error, in `total_error_replies` and
/// errorstats: for errors that reach a script or EXEC rather than the
/// client, which Redis counts when they happen.
fn count_error_reply(s: &Session, reply: &Reply) {
    if let Reply::Error(text) = reply {
        crate::stats::Stats::incr(&s.shared.stats.error_replies);
        s.shared.stats.count_error(text);
    }
}

/// A command `redis.call` refuses before it runs: counted at once as an
/// error reply, and in the command's `rejected_calls` when the name
/// resolved, as Redis counts it (the script may catch it with
/// `redis.pcall`).
fn script_refusal(s: &Session, resolved: Option<&Resolved>, text: &str) -> Reply {
    if let Some(r) = resolved {
        s.shared.stats.commands.reject(s.client.id, r.cmd, r.parent);
    }
    let reply = Reply::error(text);
    count_error_reply(s, &reply);
    reply
}

/// Counts a request refused before it ran (arity, authentication,
/// subscribed context) in its command's `rejected_calls`, as Redis does
/// when the name (and subcommand) resolve to a command.
fn count_rejection(s: &Session, args: &Args) {
    let Some(cmd) = s.shared.command_names.lookup(args.arg(0)) else {
        return;
    };
    let stats = &s.shared.stats.commands;
    match args.get_arg(1).filter(|_| !cmd.subcommands.is_empty()) {
        None => stats.reject(s.client.id, cmd, None),
        Some(name) => match cmd.subcommand(name) {
            Some(sub) => stats.reject(s.client.id, sub, Some(cmd)),
            None if cmd.flags & flags::ANY_SUBCOMMAND != 0 => stats.reject(s.client.id, cmd, None),
            None => {}
        },
    }
}

/// What the operator's tools record about a command that ran for `micros`:
/// latency events, the slow log, the MONITOR feed.
fn after_run(s: &mut Session, cmd: &Command, args: &Args, micros: u64) {
    let event = if cmd.flags & flags::FAST != 0 {
        "fast-command"
    } else {
        "command"
    };
    s.shared.latency.note(event, micros / 1000);
    if cmd.flags & flags::SKIP_SLOWLOG == 0 && s.shared.slowlog.wants(micros) {
        s.shared.slowlog.push(s, args, micros);
    }
    if cmd.flags & (flags::SKIP_MONITOR | flags::ADMIN) == 0 {
        monitor::feed(s, args);
    }
}

/// Runs a command inside EXEC: resolved again (the table is static, so it
/// resolves as it did when queued) and executed.
pub fn run_queued(s: &mut Session, args: &Args) -> Reply {
    match resolve(s, args, true, true) {
        Ok(resolved) => run_nested(s, resolved, args),
        Err(reply) => {
            // Refused as EXEC runs it (the ACL rules changed since it was
            // queued): an error reply in EXEC's array, counted as Redis does.
            count_error_reply(s, &reply);
            reply
        }
    }
}

/// Runs a command whose reply the caller collects (EXEC, scripts), not one
/// dispatched on its own.
fn run_nested(s: &mut Session, resolved: Resolved, args: &Args) -> Reply {
    let direct = std::mem::replace(&mut s.direct, false);
    let reply = run(s, resolved, args);
    s.direct = direct;
    reply
}

/// Runs a command for `redis.call` from a script, with the script errors
/// Redis gives.
pub fn run_from_script(s: &mut Session, args: &Args, read_only: bool) -> Reply {
    // Scripts reach commands by the names clients use (`rename-command`).
    const UNKNOWN: &str = "ERR Unknown Redis command called from script";
    const ARITY: &str = "ERR Wrong number of args calling Redis command from script";
    let Some(cmd) = s.shared.command_names.lookup(args.arg(0)) else {
        return script_refusal(s, None, UNKNOWN);
    };
    let top = Resolved { cmd, parent: None };
    if !table::arity_ok(cmd.arity, args.len()) {
        return script_refusal(s, Some(&top), ARITY);
    }
    let resolved = if cmd.subcommands.is_empty() || args.len() < 2 {
        top
    } else {
        match cmd.subcommand(args.arg(1)) {
            Some(sub) => {
                let r = Resolved {
                    cmd: sub,
                    parent: Some(cmd),
                };
                if !table::arity_ok(sub.arity, args.len()) {
                    return script_refusal(s, Some(&r), ARITY);
                }
                r
            }
            None => return script_refusal(s, None, UNKNOWN),
        }
    };
    let cmd = resolved.cmd;
    if cmd.flags & flags::NOSCRIPT != 0 {
        return script_refusal(
            s,
            Some(&resolved),
            "ERR This Redis command is not allowed from script",
        );
    }
    if let Err(e) = acl::check(
        s,
        cmd,
        resolved.parent,
        args,
        crate::acl::Context::Lua,
        false,
    ) {
        s.shared
            .stats
            .commands
            .reject(s.client.id, cmd, resolved.parent);
        count_error_reply(s, &e);
        return e;
    }
    if cmd.flags & flags::WRITE != 0 {
        if read_only {
            return script_refusal(
                s,
                Some(&resolved),
                "ERR Write commands are not allowed from read-only scripts.",
            );
        }
        s.shared.scripts.note_write();
    }
    run_nested(s, resolved, args)
}

/// Finds the command (or subcommand) for `args` and checks every
/// precondition; returns it with its full name (`client|list`), or the error
/// reply the client gets instead. `acl`: check (and log) the user's
/// permissions too; false only for a look at a command that is not run now.
fn resolve(s: &Session, args: &Args, queued: bool, acl: bool) -> Result<Resolved, Reply> {
    let name = args.arg(0);
    let Some(cmd) = s.shared.command_names.lookup(name) else {
        return Err(unknown_command(name, &args[1..]));
    };
    if !table::arity_ok(cmd.arity, args.len()) {
        return Err(wrong_arity(cmd.name));
    }
    let resolved = if cmd.subcommands.is_empty() || args.len() < 2 {
        Resolved { cmd, parent: None }
    } else {
        let sub_name = args.arg(1);
        match cmd.subcommand(sub_name) {
            Some(sub) => {
                let r = Resolved {
                    cmd: sub,
                    parent: Some(cmd),
                };
                if !table::arity_ok(sub.arity, args.len()) {
                    return Err(wrong_arity(&r.fullname()));
                }
                r
            }
            None if cmd.flags & flags::ANY_SUBCOMMAND != 0 => Resolved { cmd, parent: None },
            None => return Err(unknown_subcommand(name, Some(sub_name))),
        }
    };
    let cmd = resolved.cmd;
    if let Some(refusal) = debug::refusal(s, cmd) {
        return Err(refusal);
    }
    if !s.authenticated && cmd.flags & flags::NO_AUTH == 0 {
        return Err(Reply::error("NOAUTH Authentication required."));
    }
    let context = if queued || s.multi.is_some() {
        crate::acl::Context::Multi
    } else {
        crate::acl::Context::Toplevel
    };
    if acl {
        acl::check(s, resolved.cmd, resolved.parent, args, context, queued)?;
    }
    // As in Redis, a queued command was checked against the subscribed
    // context when it was queued: one that EXEC runs after a SUBSCRIBE in
    // the same transaction still runs.
    if !queued && s.in_pubsub_context() && cmd.flags & flags::SUBSCRIBED_OK == 0 {
        return Err(Reply::error(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            resolved.fullname()
        )));
    }
    Ok(resolved)
}

/// Whether a command may have key arguments (see `command::may_have_keys`).
pub fn may_have_keys(cmd: &'static Command, parent: Option<&'static Command>) -> bool {
    command::may_have_keys(cmd, parent.map(|p| p.name))
}

/// A command's ACL categories (`@pubsub`...), as COMMAND INFO gives them.
pub fn acl_categories(cmd: &'static Command, parent: Option<&'static Command>) -> Vec<Reply> {
    command::categories(cmd, parent.map(|p| p.name))
}

/// A client-supplied argument as Redis echoes it in errors: its bytes as
/// sent, cut at the first NUL (C string) and at `max` bytes.
fn echo_arg(arg: &[u8], max: usize) -> &[u8] {
    let end = arg
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(arg.len())
        .min(max);
    &arg[..end]
}

/// `-ERR unknown command 'name', with args beginning with: 'a' 'b' `.
pub fn unknown_command(name: &[u8], rest: &[Bytes]) -> Reply {
    let mut listed = Vec::new();
    for arg in rest {
        if listed.len() >= ERR_ECHO_MAX {
            break;
        }
        let room = ERR_ECHO_MAX - listed.len();
        listed.push(b'\'');
        listed.extend_from_slice(echo_arg(arg, room));
        listed.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(echo_arg(name, ERR_ECHO_MAX));
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend_from_slice(&listed);
    Reply::error_bytes(text)
}

/// `-ERR wrong number of arguments for 'name' command`.
pub fn wrong_arity(fullname: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{fullname}' command"
    ))
}

/// `-ERR unknown subcommand 'x'. Try CONTAINER HELP.`
pub fn unknown_subcommand(container: &[u8], sub: Option<&[u8]>) -> Reply {
    let mut text = b"ERR unknown subcommand '".to_vec();
    text.extend_from_slice(sub.map(|s| echo_arg(s, ERR_ECHO_MAX)).unwrap_or_default());
    text.extend_from_slice(b"'. Try ");
    // Redis upper-cases the C string byte by byte (ASCII only).
    text.extend(echo_arg(container, usize::MAX).to_ascii_uppercase());
    text.extend_from_slice(b" HELP.");
    Reply::error_bytes(text)
}

/// `-ERR syntax error`.
pub fn syntax_error() -> Reply {
    Reply::error("ERR syntax error")
}

/// Parses an integer argument with Redis's rules (`string2ll`: no sign but
/// `-`, no spaces, no leading zeros), or gives its error reply.
pub fn parse_i64(arg: &[u8]) -> Result<i64, Reply> {
    crate::protocol::request::parse_int(arg)
        .ok_or_else(|| Reply::error("ERR value is not an integer or out of range"))
}

/// Whether `arg` equals `word`, ignoring ASCII case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// An error reply quoting a client's argument as Redis's `%s` does: its
/// bytes raw (not re-encoded as UTF-8), up to its first NUL byte and at
/// most `max` bytes (`%.128s`). CR and LF become spaces when it is sent.
pub fn error_quoting(before: &str, arg: &[u8], max: usize, after: &str) -> Reply {
    let end = arg
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(arg.len())
        .min(max);
    Reply::error_bytes([before.as_bytes(), &arg[..end], after.as_bytes()].concat())
}

/// A HELP reply: the lines as status strings, as Redis sends them.
pub fn help_reply(container: &str, lines: &[&str]) -> Reply {
    let mut out = vec![Reply::Status(Bytes::from(format!(
        "{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    )))];
    out.extend(
        lines
            .iter()
            .map(|l| Reply::Status(Bytes::from(l.to_string()))),
    );
    out.push(Reply::status("HELP"));
    out.push(Reply::status("    Print this help."));
    Reply::Array(out)
}

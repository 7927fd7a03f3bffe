//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT LOAD |
//! EXISTS | FLUSH | KILL | HELP, FCALL, FCALL_RO, FUNCTION LOAD | KILL |
//! FLUSH | HELP. The engine is in `src/scripting.rs`.
//!
//! Every command here that reaches the engine (all but KILL and HELP) is
//! flagged so that dispatch holds the keyspace for it, and none can be
//! called from a script: the engine's lock is only ever taken under the
//! keyspace, so it is never contended and never taken twice. SCRIPT KILL
//! only sets a flag, so it works while a script holds both.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{help_reply, is, parse_i64};
use crate::protocol::{Args, Reply};
use crate::scripting::script_flags;
use crate::session::Session;

/// Which code a run executes.
enum Target<'a> {
    /// A cached EVAL script, by sha.
    Script(&'a str),
    /// A function, by name.
    Function(&'a [u8]),
}

/// Splits `numkeys key... arg...` (args[2..]) into keys and arguments.
fn keys_and_args(args: &[Bytes]) -> Result<(Vec<Bytes>, Vec<Bytes>), Reply> {
    let n = parse_i64(&args[2])?;
    if n < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    let n = n as usize;
    if n > args.len() - 3 {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok((args[3..3 + n].to_vec(), args[3 + n..].to_vec()))
}

/// Runs a cached script or a function (with its `flags`) for the
/// session, atomically: dispatch holds the keyspace for the whole EVAL (or
/// the EXEC around it), and every `redis.call` runs under that same guard.
/// `ro` is the command's (`*_RO`); a script that declared flags runs by
/// Redis's rules for them.
fn run(s: &mut Session, target: Target, flags: u8, args: &[Bytes], ro: bool) -> Reply {
    let (keys, argv) = match keys_and_args(args) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let compat = flags & script_flags::EVAL_COMPAT != 0;
    let no_writes = flags & script_flags::NO_WRITES != 0;
    if !compat && !no_writes {
        if ro {
            return Reply::error(
                "ERR Can not execute a script with write flag using *_ro command.",
            );
        }
        // Over maxmemory a script that may write is refused before it runs,
        // unless it declared allow-oom (Redis then treats the call as a
        // denyoom command).
        if flags & script_flags::ALLOW_OOM == 0
            && let Some(refusal) = super::oom_refusal(s)
        {
            return refusal;
        }
    }
    let read_only = ro || (!compat && no_writes);
    let nested = std::mem::replace(&mut s.in_script, true);
    let saved_oom = std::mem::replace(
        &mut s.script_allow_oom,
        !compat && flags & script_flags::ALLOW_OOM != 0,
    );
    let saved_db = s.db;
    s.client.defer_pushes();
    s.release_pushes_after_reply = true;
    let threshold = s.shared.settings.busy_threshold_ms.load(Ordering::Relaxed);
    let shared = std::sync::Arc::clone(&s.shared);
    let (reply, counted) = tokio::task::block_in_place(|| {
        let mut call = |words: Vec<Bytes>| super::run_from_script(s, &Args::from(words), read_only);
        match target {
            Target::Script(sha) => shared.scripts.run(sha, &keys, &argv, threshold, &mut call),
            Target::Function(name) => shared
                .scripts
                .fcall(name, &keys, &argv, threshold, &mut call),
        }
    });
    s.db = saved_db;
    s.in_script = nested;
    s.script_allow_oom = saved_oom;
    s.error_counted = counted;
    reply
}

/// EVAL / EVAL_RO script numkeys key... arg...
fn eval_generic(s: &mut Session, args: &[Bytes], read_only: bool) -> Reply {
    if let Err(e) = keys_and_args(args) {
        return e;
    }
    let sha = match s.shared.scripts.load(&args[1]) {
        Ok(sha) => sha,
        Err(e) => return e,
    };
    let flags = s
        .shared
        .scripts
        .script_flags(&sha)
        .unwrap_or(script_flags::EVAL_COMPAT);
    run(s, Target::Script(&sha), flags, args, read_only)
}

/// EVALSHA / EVALSHA_RO sha numkeys key... arg...
fn evalsha_generic(s: &mut Session, args: &[Bytes], read_only: bool) -> Reply {
    if let Err(e) = keys_and_args(args) {
        return e;
    }
    let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let Some(flags) = s.shared.scripts.script_flags(&sha) else {
        return Reply::error("NOSCRIPT No matching script. Please use EVAL.");
    };
    run(s, Target::Script(&sha), flags, args, read_only)
}

/// FCALL / FCALL_RO function numkeys key... arg...
fn fcall_generic(s: &mut Session, args: &[Bytes], read_only: bool) -> Reply {
    let Some(flags) = s.shared.scripts.function_flags(&args[1]) else {
        return Reply::error("ERR Function not found");
    };
    if parse_i64(&args[2]).is_err() {
        return Reply::error("ERR Bad number of keys provided");
    }
    if let Err(e) = keys_and_args(args) {
        return e;
    }
    run(s, Target::Function(&args[1]), flags, args, read_only)
}

/// FCALL function numkeys key... arg...
pub fn fcall(s: &mut Session, args: &Args) -> Reply {
    fcall_generic(s, args, false)
}

/// FCALL_RO function numkeys key... arg...
pub fn fcall_ro(s: &mut Session, args: &Args) -> Reply {
    fcall_generic(s, args, true)
}

/// FUNCTION LOAD [REPLACE] code: the library's name.
pub fn function_load(s: &mut Session, args: &Args) -> Reply {
    let mut replace = false;
    let mut at = 2;
    while at < args.len() - 1 {
        if is(&args[at], "replace") {
            replace = true;
        } else {
            return super::error_quoting("ERR Unknown option given: ", &args[at], usize::MAX, "");
        }
        at += 1;
    }
    if at >= args.len() {
        return Reply::error("ERR Function code is missing");
    }
    match s.shared.scripts.function_load(&args[at], replace) {
        Ok(name) => Reply::Bulk(Bytes::from(name)),
        Err(e) => e,
    }
}

/// FUNCTION KILL: stops the running function if it has not written.
pub fn function_kill(s: &mut Session, _args: &Args) -> Reply {
    match s.shared.scripts.request_kill(false) {
        Ok(()) => Reply::ok(),
        Err(e) => e,
    }
}

/// EVAL script numkeys key... arg...
pub fn eval(s: &mut Session, args: &Args) -> Reply {
    eval_generic(s, args, false)
}

/// EVAL_RO script numkeys key... arg...
pub fn eval_ro(s: &mut Session, args: &Args) -> Reply {
    eval_generic(s, args, true)
}

/// EVALSHA sha numkeys key... arg...
pub fn evalsha(s: &mut Session, args: &Args) -> Reply {
    evalsha_generic(s, args, false)
}

/// EVALSHA_RO sha numkeys key... arg...
pub fn evalsha_ro(s: &mut Session, args: &Args) -> Reply {
    evalsha_generic(s, args, true)
}

/// SCRIPT LOAD script: its SHA1.
pub fn load(s: &mut Session, args: &Args) -> Reply {
    match s.shared.scripts.load(&args[2]) {
        Ok(sha) => Reply::Bulk(Bytes::from(sha)),
        Err(e) => e,
    }
}

/// SCRIPT EXISTS sha [sha ...]: 1/0 each.
pub fn exists(s: &mut Session, args: &Args) -> Reply {
    Reply::Array(
        args[2..]
            .iter()
            .map(|sha| {
                let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                Reply::Int(i64::from(s.shared.scripts.exists(&sha)))
            })
            .collect(),
    )
}

/// SCRIPT FLUSH [ASYNC|SYNC]
pub fn flush(s: &mut Session, args: &Args) -> Reply {
    match args.get(2) {
        None => {}
        Some(a) if is(a, "async") || is(a, "sync") => {}
        Some(_) => return flush_option_error(),
    }
    if args.len() > 3 {
        return flush_option_error();
    }
    s.shared.scripts.flush();
    Reply::ok()
}

/// Redis's error for a bad SCRIPT FLUSH option.
fn flush_option_error() -> Reply {
    Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
}

/// FUNCTION FLUSH [ASYNC|SYNC]: deletes every library.
pub fn function_flush(s: &mut Session, args: &Args) -> Reply {
    if args.len() > 3 {
        return super::error_quoting(
            "ERR unknown subcommand or wrong number of arguments for '",
            &args[1],
            usize::MAX,
            "'. Try FUNCTION HELP.",
        );
    }
    match args.get(2) {
        Some(a) if !is(a, "async") && !is(a, "sync") => {
            Reply::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
        }
        _ => {
            s.shared.scripts.function_flush();
            Reply::ok()
        }
    }
}

/// FUNCTION HELP
pub fn function_help(_s: &mut Session, _args: &Args) -> Reply {
    help_reply(
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "KILL",
            "    Kill a function that is currently executing.",
        ],
    )
}

/// SCRIPT KILL: stops the running script if it has not written.
pub fn kill(s: &mut Session, _args: &Args) -> Reply {
    match s.shared.scripts.request_kill(true) {
        Ok(()) => Reply::ok(),
        Err(e) => e,
    }
}

/// The subcommand list.
pub fn help(_s: &mut Session, _args: &Args) -> Reply {
    help_reply(
        "SCRIPT",
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    Tell, for each SHA1, whether that script is cached.",
            "FLUSH [ASYNC|SYNC]",
            "    Empty the script cache.",
            "KILL",
            "    Stop the running script, if it has not written yet.",
            "LOAD <script>",
            "    Cache the script and return its SHA1.",
        ],
    )
}

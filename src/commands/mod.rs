//! Commands: the table that describes them, the one place that checks a
//! request against it, and one file per command (or command family).
//!
//! [`dispatch`] looks the command up, checks arity, subcommand,
//! authentication and the RESP2 subscribed-mode restriction — producing
//! Redis's exact error text for each — and only then runs the handler.

pub mod table;

mod auth;
mod client;
mod cluster;
mod command;
mod config;
mod dbsize;
mod echo;
mod flush;
mod hello;
mod info;
mod ping;
mod publish;
mod pubsub;
mod quit;
mod reset;
mod select;
mod shutdown;
mod subscribe;
mod time;

use bytes::Bytes;

use crate::protocol::Reply;
use crate::session::Session;
use crate::stats::Stats;
use table::{Command, flags};

/// A command handler: runs with the session and the full request
/// (`args[0]` is the command name) and returns the reply.
pub type Handler = fn(&mut Session, &[Bytes]) -> Reply;

/// Longest part of a client-supplied name or argument echoed in an error.
const ERR_ECHO_MAX: usize = 128;

/// Runs one request (`args[0]` is the command name) and writes its reply.
pub fn dispatch(s: &mut Session, args: &[Bytes]) {
    let Some(first) = args.first() else {
        return;
    };
    s.skip_current = std::mem::take(&mut s.skip_next);
    let reply = match resolve(s, args) {
        Ok((cmd, fullname)) => {
            if cmd.flags & flags::MAY_PUSH != 0 {
                // Replies to earlier pipelined commands go out before any
                // push this command causes for the client itself.
                s.flush();
            }
            Stats::incr(&s.shared.stats.commands_processed);
            s.client.touch();
            s.client.with_info(|i| {
                i.last_cmd.clear();
                i.last_cmd.push_str(&fullname);
            });
            match cmd.handler {
                Some(h) => h(s, args),
                None => unknown_subcommand(first, args.get(1)),
            }
        }
        Err(reply) => reply,
    };
    s.reply(reply);
    s.skip_current = false;
}

/// Finds the command (or subcommand) for `args` and checks every
/// precondition; returns it with its full name (`client|list`), or the error
/// reply the client gets instead.
fn resolve(s: &Session, args: &[Bytes]) -> Result<(&'static Command, String), Reply> {
    let name = &args[0];
    let Some(cmd) = table::lookup(name) else {
        return Err(unknown_command(name, &args[1..]));
    };
    if !table::arity_ok(cmd.arity, args.len()) {
        return Err(wrong_arity(cmd.name));
    }
    let (cmd, fullname) = if cmd.subcommands.is_empty() || args.len() < 2 {
        (cmd, cmd.name.to_string())
    } else {
        let sub_name = &args[1];
        match cmd.subcommand(sub_name) {
            Some(sub) => {
                let fullname = format!("{}|{}", cmd.name, sub.name);
                if !table::arity_ok(sub.arity, args.len()) {
                    return Err(wrong_arity(&fullname));
                }
                (sub, fullname)
            }
            None if cmd.flags & flags::ANY_SUBCOMMAND != 0 => (cmd, cmd.name.to_string()),
            None => return Err(unknown_subcommand(name, Some(sub_name))),
        }
    };
    if !s.authenticated && cmd.flags & flags::NO_AUTH == 0 {
        return Err(Reply::error("NOAUTH Authentication required."));
    }
    if s.in_pubsub_context() && cmd.flags & flags::SUBSCRIBED_OK == 0 {
        return Err(Reply::error(format!(
            "ERR Can't execute '{fullname}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        )));
    }
    Ok((cmd, fullname))
}

/// Text of a client-supplied argument as Redis echoes it in errors: cut at
/// the first NUL (C string) and at `max` bytes.
fn echo_arg(arg: &[u8], max: usize) -> String {
    let end = arg
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(arg.len())
        .min(max);
    String::from_utf8_lossy(&arg[..end]).into_owned()
}

/// `-ERR unknown command 'name', with args beginning with: 'a' 'b' `.
pub fn unknown_command(name: &[u8], rest: &[Bytes]) -> Reply {
    let mut listed = String::new();
    for arg in rest {
        if listed.len() >= ERR_ECHO_MAX {
            break;
        }
        let room = ERR_ECHO_MAX - listed.len();
        listed.push_str(&format!("'{}' ", echo_arg(arg, room)));
    }
    Reply::error(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        echo_arg(name, ERR_ECHO_MAX),
        listed
    ))
}

/// `-ERR wrong number of arguments for 'name' command`.
pub fn wrong_arity(fullname: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{fullname}' command"
    ))
}

/// `-ERR unknown subcommand 'x'. Try CONTAINER HELP.`
pub fn unknown_subcommand(container: &[u8], sub: Option<&Bytes>) -> Reply {
    let sub = sub.map(|s| echo_arg(s, ERR_ECHO_MAX)).unwrap_or_default();
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        sub,
        String::from_utf8_lossy(container).to_uppercase()
    ))
}

/// `-ERR syntax error`.
pub fn syntax_error() -> Reply {
    Reply::error("ERR syntax error")
}

/// Parses an integer argument with Redis's rules, or gives its error reply.
pub fn parse_i64(arg: &[u8]) -> Result<i64, Reply> {
    std::str::from_utf8(arg)
        .ok()
        .filter(|s| !s.is_empty() && !s.starts_with('+') && s.trim() == *s)
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| Reply::error("ERR value is not an integer or out of range"))
}

/// Whether `arg` equals `word`, ignoring ASCII case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
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

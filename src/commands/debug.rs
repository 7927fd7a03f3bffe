//! DEBUG: the harmless subcommands Redis's own tests rely on. Only
//! SET-ACTIVE-EXPIRE (and HELP) is provided: it changes when expired keys
//! are reclaimed, never what a client can read. As in Redis, DEBUG is
//! refused unless `enable-debug-command` lets the client run it.

use super::table::Command;
use super::{help_reply, is};
use crate::client::{Endpoint, Peer};
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// Redis's refusal of DEBUG for a client `enable-debug-command` leaves out.
const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// The error for `cmd` if it is DEBUG and this client may not run it. As in
/// Redis this is checked right after the arity, before authentication, and
/// refusing it inside MULTI aborts the transaction.
pub(super) fn refusal(s: &Session, cmd: &Command) -> Option<Reply> {
    if cmd.name != "debug" {
        return None;
    }
    let allowed = match s.shared.config.read() {
        Ok(c) => c.enable_debug_command,
        Err(p) => p.into_inner().enable_debug_command,
    };
    (!allowed.allows(is_local(&s.client.peer))).then(|| Reply::error(NOT_ALLOWED))
}

/// Whether `enable-debug-command local` admits the client: a Unix socket,
/// or TCP from exactly 127.0.0.1 or ::1 (Redis compares the address text).
fn is_local(peer: &Peer) -> bool {
    match &peer.addr {
        Endpoint::Unix(_) => true,
        Endpoint::Tcp(a) => match a.ip() {
            std::net::IpAddr::V4(ip) => ip == std::net::Ipv4Addr::LOCALHOST,
            std::net::IpAddr::V6(ip) => ip == std::net::Ipv6Addr::LOCALHOST,
        },
    }
}

/// Longest part of a subcommand name echoed in the error for an unknown one
/// (Redis prints at most 128 bytes of it).
const SUBCOMMAND_ECHO_MAX: usize = 128;

/// DEBUG subcommand [arg ...]
pub fn debug(s: &mut Session, args: &Args) -> Reply {
    let sub = &args[1];
    if args.len() == 2 && is(sub, "help") {
        return help_reply(
            "DEBUG",
            &[
                "SET-ACTIVE-EXPIRE <0|1>",
                "    0 stops the periodic removal of expired keys: they are then removed only",
                "    when a command looks them up. 1 turns the periodic removal back on.",
            ],
        );
    }
    if args.len() == 3 && is(sub, "set-active-expire") {
        let on = c_atoi_nonzero(&args[2]);
        return s.keyspace(|ks| {
            ks.active_expire = on;
            Reply::ok()
        });
    }
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        echo(sub)
    ))
}

/// Whether C's `atoi` reads a non-zero number from `arg` (Redis parses the
/// flag this way, so `yes` or `x` mean 0 and `2` or `-1` mean on): leading
/// spaces, an optional sign, then the digits up to the first non-digit.
fn c_atoi_nonzero(arg: &[u8]) -> bool {
    let rest = arg
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .copied()
        .collect::<Vec<u8>>();
    let digits = match rest.first() {
        Some(b'+' | b'-') => &rest[1..],
        _ => &rest[..],
    };
    digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .any(|&b| b != b'0')
}

/// The subcommand as Redis echoes it: up to the first NUL, at most
/// [`SUBCOMMAND_ECHO_MAX`] bytes, line breaks as spaces.
fn echo(sub: &[u8]) -> String {
    let end = sub
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(sub.len())
        .min(SUBCOMMAND_ECHO_MAX);
    String::from_utf8_lossy(&sub[..end]).replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_flag() {
        for (arg, on) in [
            ("1", true),
            ("0", false),
            ("2", true),
            ("-1", true),
            (" 1", true),
            ("+0", false),
            ("yes", false),
            ("x", false),
            ("00", false),
            ("01x", true),
            ("", false),
        ] {
            assert_eq!(c_atoi_nonzero(arg.as_bytes()), on, "{arg:?}");
        }
    }
}

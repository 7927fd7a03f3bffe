//! ACL <subcommand>, and the permission check dispatch runs before every
//! command.

use std::sync::Arc;

use bytes::Bytes;

use super::table::{Command, flags};
use super::{help_reply, is, parse_i64};
use crate::acl::catalog::{CATEGORIES, catalog, category_bit};
use crate::acl::{Access, Context, Denial, Entry, Reason, User, access};
use crate::client::CloseReason;
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// Longest password ACL GENPASS makes, in bits (Redis's limit).
const GENPASS_MAX_BITS: i64 = 4096;

/// Checks that the session's user may run `cmd` with `args`; on refusal
/// logs it and returns the error Redis gives in `context` (`queued`: run by
/// EXEC, checked again since the rules may have changed).
pub(super) fn check(
    s: &Session,
    cmd: &'static Command,
    parent: Option<&'static Command>,
    args: &Args,
    context: Context,
    queued: bool,
) -> Result<(), Reply> {
    let user = &s.user;
    if user.unrestricted() {
        return Ok(());
    }
    let Err(denial) = check_user(user, cmd, parent, args) else {
        return Ok(());
    };
    let fullname = match parent {
        Some(p) => format!("{}|{}", p.name, cmd.name),
        None => cmd.name.to_string(),
    };
    log_denial(s, denial, context, &fullname, args, &user.name);
    Err(Reply::error(match (context, queued) {
        (Context::Lua, _) => format!(
            "ERR The user executing the script {}",
            match denial {
                Denial::Command => "can't run this command or subcommand",
                Denial::Key(_) => "can't access at least one of the keys mentioned in the command arguments",
                Denial::Channel(_) => "can't publish to the channel mentioned in the command",
            }
        ),
        (_, true) => format!(
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}",
            match denial {
                Denial::Command => "no permission to execute the command or subcommand",
                Denial::Key(_) => "no permission to touch the specified keys",
                Denial::Channel(_) => "no permission to access one of the channels used as arguments",
            }
        ),
        _ => match denial {
            Denial::Command => {
                format!("NOPERM this user has no permissions to run the '{fullname}' command")
            }
            Denial::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .to_string()
            }
            Denial::Channel(_) => {
                "NOPERM this user has no permissions to access one of the channels used as arguments"
                    .to_string()
            }
        },
    }))
}

/// Whether `user` may run `cmd` with `args` (the request, from its name).
fn check_user(
    user: &User,
    cmd: &'static Command,
    parent: Option<&'static Command>,
    args: &[Bytes],
) -> Result<(), Denial> {
    let cat = catalog();
    let Some(id) = cat.id_of(cmd, parent) else {
        return Err(Denial::Command);
    };
    let top = parent.unwrap_or(cmd).name;
    // Keys as Redis's key specs find them; for a command not described by
    // them, pubsubd's own table. Commands without keys (PUBLISH) skip this.
    let keys = if cat.entries.get(id).is_some_and(|e| e.has_keys) {
        let data = (
            cmd.flags & flags::READONLY != 0,
            cmd.flags & flags::WRITE != 0,
        );
        super::command::acl_keys(cmd, parent.map(|p| p.name), args)
            .map_or_else(|| access::keys(top, args, data), std::borrow::Cow::Owned)
    } else {
        std::borrow::Cow::Borrowed(&[][..])
    };
    let channels = access::channels(top, args);
    user.check(
        id,
        cmd.flags & flags::NO_AUTH != 0,
        parent.is_some(),
        &Access {
            args,
            keys: &keys,
            channels: &channels,
        },
    )
}

/// Records a refused command in the ACL log.
fn log_denial(
    s: &Session,
    denial: Denial,
    context: Context,
    fullname: &str,
    args: &[Bytes],
    user: &Bytes,
) {
    let (reason, object) = match denial {
        Denial::Command => (Reason::Command, Bytes::from(fullname.to_string())),
        Denial::Key(p) => (Reason::Key, args.get(p).cloned().unwrap_or_default()),
        Denial::Channel(p) => (Reason::Channel, args.get(p).cloned().unwrap_or_default()),
    };
    s.shared.acl.log(Entry {
        count: 1,
        reason,
        context,
        object,
        username: user.clone(),
        time_ms: crate::acl::now_ms(),
        client_info: super::client::describe(&s.client, s.shared.monitors.contains(s.client.id)),
    });
}

/// Records a failed login (AUTH, HELLO AUTH) in the ACL log.
pub fn log_auth_failure(s: &Session, command: &[u8], user: &[u8]) {
    s.shared.acl.log(Entry {
        count: 1,
        reason: Reason::Auth,
        context: if s.multi.is_some() {
            Context::Multi
        } else {
            Context::Toplevel
        },
        object: Bytes::copy_from_slice(command),
        username: Bytes::copy_from_slice(user),
        time_ms: crate::acl::now_ms(),
        client_info: super::client::describe(&s.client, s.shared.monitors.contains(s.client.id)),
    });
}

/// Clients logged in as `name`, other than the caller's own.
fn clients_of(s: &Session, name: &[u8]) -> Vec<Arc<crate::client::Client>> {
    let default = name == crate::acl::DEFAULT_USER;
    s.shared
        .clients
        .iter()
        .filter(|c| {
            c.with_info(|i| match &i.user {
                Some(u) => u[..] == *name,
                None => default,
            })
        })
        .map(|c| Arc::clone(c.value()))
        .collect()
}

/// Closes the connections of user `name`: the caller's after its reply.
fn kill_clients_of(s: &mut Session, name: &[u8]) {
    for c in clients_of(s, name) {
        if c.id == s.client.id {
            s.closing = true;
        } else {
            c.close(CloseReason::Killed);
        }
    }
}

/// After ACL SETUSER narrowed a user's channels: closes its connections
/// subscribed to a channel or pattern the user no longer has (Redis 7).
fn kill_revoked_subscribers(s: &mut Session, old: &User, new: &User) {
    if new.all_channels() {
        return;
    }
    let upcoming = new.channel_patterns();
    let old_patterns = old.channel_patterns();
    if !old.all_channels() && old_patterns.iter().all(|p| upcoming.contains(p)) {
        return;
    }
    let mine = clients_of(s, &old.name);
    if mine.is_empty() {
        return;
    }
    let ids: std::collections::HashSet<u64> = mine.iter().map(|c| c.id).collect();
    let doomed = s
        .shared
        .registry
        .subscribers_where(&ids, |name, is_pattern| {
            !new.channel_allowed(name, is_pattern)
        });
    for c in mine.iter().filter(|c| doomed.contains(&c.id)) {
        if c.id == s.client.id {
            s.closing = true;
        } else {
            c.close(CloseReason::Killed);
        }
    }
}

/// Redis's reply to a known subcommand given the wrong arguments.
fn syntax_error_for(args: &Args) -> Reply {
    super::error_quoting(
        "ERR unknown subcommand or wrong number of arguments for '",
        &args[1],
        usize::MAX,
        "'. Try ACL HELP.",
    )
}

fn bulk_string(text: String) -> Reply {
    Reply::Bulk(Bytes::from(text))
}

/// ACL SETUSER username [rule ...]
pub fn setuser(s: &mut Session, args: &Args) -> Reply {
    let name = &args[2];
    if crate::acl::user::has_spaces(name) {
        return Reply::error("ERR Usernames can't contain spaces or null characters");
    }
    let words: Vec<Vec<u8>> = args[3..].iter().map(|a| a.to_vec()).collect();
    let rules = match crate::acl::user::merge_selector_args(&words) {
        Ok(r) => r,
        Err(i) => {
            return super::error_quoting(
                "ERR Unmatched parenthesis in acl selector starting at '",
                &words[i],
                usize::MAX,
                "'.",
            );
        }
    };
    match s.shared.acl.set_user(name, &rules) {
        Ok((old, new)) => {
            if let Some(old) = old {
                kill_revoked_subscribers(s, &old, &new);
            }
            Reply::ok()
        }
        Err(e) => Reply::error(e),
    }
}

/// ACL DELUSER username [username ...]
pub fn deluser(s: &mut Session, args: &Args) -> Reply {
    if args[2..]
        .iter()
        .any(|a| a.as_ref() == crate::acl::DEFAULT_USER)
    {
        return Reply::error("ERR The 'default' user cannot be removed");
    }
    let names: Vec<&[u8]> = args[2..].iter().map(|a| a.as_ref()).collect();
    let removed = s.shared.acl.delete(&names);
    for name in &removed {
        kill_clients_of(s, name);
    }
    Reply::Int(removed.len() as i64)
}

/// The commands / keys / channels fields of a selector.
fn selector_fields(sel: &crate::acl::user::Selector) -> Vec<(Reply, Reply)> {
    sel.fields()
        .into_iter()
        .map(|(k, v)| (Reply::bulk_static(k), bulk_string(v)))
        .collect()
}

/// ACL GETUSER username
pub fn getuser(s: &mut Session, args: &Args) -> Reply {
    let Some(u) = s.shared.acl.get(&args[2]) else {
        return Reply::Nil;
    };
    let mut fields = vec![
        (
            Reply::bulk_static("flags"),
            Reply::Set(u.flags().into_iter().map(Reply::bulk_static).collect()),
        ),
        (
            Reply::bulk_static("passwords"),
            Reply::Array(u.password_hashes().into_iter().map(bulk_string).collect()),
        ),
    ];
    fields.extend(selector_fields(u.root()));
    fields.push((
        Reply::bulk_static("selectors"),
        Reply::Array(
            u.selectors()
                .iter()
                .map(|sel| Reply::Map(selector_fields(sel)))
                .collect(),
        ),
    ));
    Reply::Map(fields)
}

/// ACL LIST
pub fn list(s: &mut Session, _args: &Args) -> Reply {
    Reply::Array(
        s.shared
            .acl
            .users()
            .iter()
            .map(|u| {
                bulk_string(format!(
                    "user {} {}",
                    String::from_utf8_lossy(&u.name),
                    u.describe()
                ))
            })
            .collect(),
    )
}

/// ACL USERS
pub fn users(s: &mut Session, _args: &Args) -> Reply {
    Reply::Array(
        s.shared
            .acl
            .users()
            .iter()
            .map(|u| Reply::Bulk(u.name.clone()))
            .collect(),
    )
}

/// ACL WHOAMI
pub fn whoami(s: &mut Session, _args: &Args) -> Reply {
    Reply::Bulk(s.user.name.clone())
}

/// ACL CAT [category]
pub fn cat(_s: &mut Session, args: &Args) -> Reply {
    match args.get(2) {
        None => Reply::Array(CATEGORIES.iter().map(|c| Reply::bulk_static(c)).collect()),
        Some(name) if args.len() == 3 => {
            let Some(bit) = category_bit(name) else {
                return Reply::error(format!(
                    "ERR Unknown category '{}'",
                    String::from_utf8_lossy(&name[..name.len().min(128)])
                ));
            };
            Reply::Array(
                catalog()
                    .entries
                    .iter()
                    .filter(|e| e.categories & bit != 0)
                    .map(|e| bulk_string(e.fullname.clone()))
                    .collect(),
            )
        }
        Some(_) => syntax_error_for(args),
    }
}

/// ACL GENPASS [bits]
pub fn genpass(_s: &mut Session, args: &Args) -> Reply {
    let bits = match args.get(2) {
        None => 256,
        Some(a) if args.len() == 3 => match parse_i64(a) {
            Ok(n) => n,
            Err(e) => return e,
        },
        Some(_) => return syntax_error_for(args),
    };
    if bits <= 0 || bits > GENPASS_MAX_BITS {
        return Reply::error(format!(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to {GENPASS_MAX_BITS}"
        ));
    }
    let chars = ((bits + 3) / 4) as usize;
    let mut raw = vec![0u8; chars.div_ceil(2)];
    if getrandom::fill(&mut raw).is_err() {
        return Reply::error("ERR the system random source failed");
    }
    let mut hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    bulk_string(hex)
}

/// ACL LOG [count | RESET]
pub fn log(s: &mut Session, args: &Args) -> Reply {
    let count = match args.get(2) {
        None => 10,
        Some(a) if args.len() == 3 => {
            if is(a, "reset") {
                s.shared.acl.log_reset();
                return Reply::ok();
            }
            match parse_i64(a) {
                Ok(n) => n.max(0) as usize,
                Err(e) => return e,
            }
        }
        Some(_) => return syntax_error_for(args),
    };
    let now = crate::acl::now_ms();
    Reply::Array(
        s.shared
            .acl
            .log_entries(count)
            .into_iter()
            .map(|e| {
                Reply::Map(vec![
                    (Reply::bulk_static("count"), Reply::Int(e.count as i64)),
                    (
                        Reply::bulk_static("reason"),
                        Reply::bulk_static(e.reason_str()),
                    ),
                    (
                        Reply::bulk_static("context"),
                        Reply::bulk_static(e.context_str()),
                    ),
                    (Reply::bulk_static("object"), Reply::Bulk(e.object)),
                    (Reply::bulk_static("username"), Reply::Bulk(e.username)),
                    (
                        Reply::bulk_static("age-seconds"),
                        Reply::Double(now.saturating_sub(e.time_ms) as f64 / 1000.0),
                    ),
                    (
                        Reply::bulk_static("client-info"),
                        bulk_string(e.client_info),
                    ),
                ])
            })
            .collect(),
    )
}

/// ACL DRYRUN username command [arg ...]
pub fn dryrun(s: &mut Session, args: &Args) -> Reply {
    let Some(user) = s.shared.acl.get(&args[2]) else {
        return super::error_quoting("ERR User '", &args[2], usize::MAX, "' not found");
    };
    let req = &args[3..];
    let Some(cmd) = s.shared.command_names.lookup(&req[0]) else {
        return super::error_quoting("ERR Command '", &req[0], usize::MAX, "' not found");
    };
    let (cmd, parent) = match req.get(1).and_then(|sub| cmd.subcommand(sub)) {
        Some(sub) if !cmd.subcommands.is_empty() => (sub, Some(cmd)),
        _ => (cmd, None),
    };
    let fullname = match parent {
        Some(p) => format!("{}|{}", p.name, cmd.name),
        None => cmd.name.to_string(),
    };
    if !super::table::arity_ok(cmd.arity, req.len()) {
        return Reply::error(format!(
            "ERR wrong number of arguments for '{fullname}' command"
        ));
    }
    match check_user(&user, cmd, parent, req) {
        Ok(()) => Reply::ok(),
        Err(Denial::Command) => bulk_string(format!(
            "This user has no permissions to run the '{fullname}' command"
        )),
        Err(Denial::Key(p)) => bulk_string(format!(
            "This user has no permissions to access the '{}' key",
            String::from_utf8_lossy(&req[p])
        )),
        Err(Denial::Channel(p)) => bulk_string(format!(
            "This user has no permissions to access the '{}' channel",
            String::from_utf8_lossy(&req[p])
        )),
    }
}

/// ACL LOAD
pub fn load(s: &mut Session, _args: &Args) -> Reply {
    match s.shared.acl.load_file() {
        Ok(replaced) => {
            for name in &replaced {
                kill_clients_of(s, name);
            }
            Reply::ok()
        }
        Err(e) if e.starts_with("ERR ") => Reply::error(e),
        Err(e) => Reply::error(format!("ERR {e}")),
    }
}

/// ACL SAVE
pub fn save(s: &mut Session, _args: &Args) -> Reply {
    match s.shared.acl.save_file() {
        Ok(()) => Reply::ok(),
        Err(e) => Reply::error(e),
    }
}

/// ACL HELP
pub fn help(_s: &mut Session, _args: &Args) -> Reply {
    help_reply(
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    )
}

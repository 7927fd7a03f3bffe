//! CLIENT ID | SETNAME | GETNAME | SETINFO | REPLY | INFO | LIST | KILL |
//! NO-EVICT | NO-TOUCH | HELP

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;

use super::{help_reply, is, syntax_error};
use crate::client::{Client, CloseReason};
use crate::protocol::{Args, Reply};
use crate::session::Session;
use crate::shared::Shared;

/// Redis's rule for names: printable ASCII without spaces.
fn printable(value: &[u8]) -> bool {
    value.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// Checks a connection name (CLIENT SETNAME, HELLO SETNAME).
pub fn validate_name(name: &[u8]) -> Result<(), Reply> {
    if printable(name) {
        Ok(())
    } else {
        Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

/// The connection's id.
pub fn id(s: &mut Session, _args: &Args) -> Reply {
    Reply::Int(s.client.id as i64)
}

/// Names the connection (an empty name clears it).
pub fn setname(s: &mut Session, args: &Args) -> Reply {
    if let Err(e) = validate_name(&args[2]) {
        return e;
    }
    let name = Bytes::copy_from_slice(&args[2]);
    s.client.with_info(|i| i.name = name);
    Reply::ok()
}

/// The connection's name, or null.
pub fn getname(s: &mut Session, _args: &Args) -> Reply {
    let name = s.client.info().name;
    if name.is_empty() {
        Reply::Nil
    } else {
        Reply::Bulk(name)
    }
}

/// Records the client library's name or version (shown by CLIENT LIST).
pub fn setinfo(s: &mut Session, args: &Args) -> Reply {
    let attr = &args[2];
    let value = &args[3];
    let which = if is(attr, "lib-name") {
        "lib-name"
    } else if is(attr, "lib-ver") {
        "lib-ver"
    } else {
        return super::error_quoting("ERR Unrecognized option '", attr, usize::MAX, "'");
    };
    if !printable(value) {
        return Reply::error(format!(
            "ERR {which} cannot contain spaces, newlines or special characters."
        ));
    }
    let value = Bytes::copy_from_slice(value);
    s.client.with_info(|i| {
        let lib = i.lib.get_or_insert_with(Default::default);
        if which == "lib-name" {
            lib[0] = value;
        } else {
            lib[1] = value;
        }
    });
    Reply::ok()
}

/// CLIENT REPLY ON|OFF|SKIP. Only ON replies.
pub fn reply(s: &mut Session, args: &Args) -> Reply {
    let mode = &args[2];
    if is(mode, "on") {
        s.reply_off = false;
        s.skip_next = false;
        s.skip_current = false;
        Reply::ok()
    } else if is(mode, "off") {
        s.reply_off = true;
        Reply::Sent
    } else if is(mode, "skip") {
        if !s.reply_off {
            s.skip_next = true;
        }
        Reply::Sent
    } else {
        syntax_error()
    }
}

/// One CLIENT LIST line for `c` (without the trailing newline), in Redis
/// 7.2's field order; `monitoring`: it is in MONITOR mode.
pub fn describe(c: &Client, monitoring: bool) -> String {
    let info = c.info();
    let (sub, psub, ssub) = c.subscription_counts();
    let mut flags = String::new();
    if monitoring {
        flags.push('O');
    }
    if sub + psub + ssub > 0 {
        flags.push('P');
    }
    if info.multi.is_some() {
        flags.push('x');
    }
    if info.no_evict {
        flags.push('e');
    }
    if info.no_touch {
        flags.push('T');
    }
    if c.close_reason().is_some() {
        flags.push('A');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let now = std::time::Instant::now();
    let omem = c.outbox.pending();
    let paused = c.paused_ms();
    // A client paused by flow control is not being read.
    let events = match (paused.is_some(), omem > 0) {
        (false, true) => "rw",
        (false, false) => "r",
        (true, true) => "w",
        (true, false) => "",
    };
    let qbuf_free = info.qbuf_cap.saturating_sub(info.qbuf);
    let tot_mem = info.qbuf_cap + omem + std::mem::size_of::<Client>();
    let mut line = String::with_capacity(320);
    let _ = write!(
        line,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp={} obl=0 oll={} omem={} tot-mem={} events={} cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
        c.id,
        c.peer.addr,
        c.peer.laddr,
        c.peer.fd,
        String::from_utf8_lossy(&info.name),
        now.duration_since(c.created).as_secs(),
        c.idle_ms() / 1000,
        flags,
        info.db,
        sub,
        psub,
        ssub,
        info.multi.map_or(-1, |n| n as i64),
        info.qbuf,
        qbuf_free,
        info.qbuf_cap,
        info.qbuf_cap,
        c.outbox.queued_frames(),
        omem,
        tot_mem,
        events,
        match c.last_command() {
            None => "NULL".to_string(),
            Some((name, None)) => name.to_string(),
            Some((name, Some(sub))) => format!("{name}|{sub}"),
        },
        info.user
            .as_ref()
            .map_or(std::borrow::Cow::Borrowed("default"), |u| {
                String::from_utf8_lossy(&u[..])
            }),
        c.protocol().number(),
        info.lib
            .as_ref()
            .map_or(std::borrow::Cow::Borrowed(""), |l| String::from_utf8_lossy(
                &l[0]
            )),
        info.lib
            .as_ref()
            .map_or(std::borrow::Cow::Borrowed(""), |l| String::from_utf8_lossy(
                &l[1]
            )),
    );
    // pubsubd's own field, present only while flow control holds the
    // client's reading (see `pubsub::flow`).
    if let Some(ms) = paused {
        let _ = write!(line, " pause-ms={ms}");
    }
    line
}

/// This connection's CLIENT LIST line.
pub fn info(s: &mut Session, _args: &Args) -> Reply {
    let mut line = describe(&s.client, s.shared.monitors.contains(s.client.id));
    line.push('\n');
    Reply::Verbatim(Bytes::from(line))
}

/// Which clients a TYPE filter selects.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Pubsub,
    /// master / replica / slave: pubsubd has none.
    Replication,
}

fn parse_type(arg: &[u8]) -> Result<ClientType, Reply> {
    if is(arg, "normal") {
        Ok(ClientType::Normal)
    } else if is(arg, "pubsub") {
        Ok(ClientType::Pubsub)
    } else if is(arg, "master") || is(arg, "replica") || is(arg, "slave") {
        Ok(ClientType::Replication)
    } else {
        Err(super::error_quoting(
            "ERR Unknown client type '",
            arg,
            usize::MAX,
            "'",
        ))
    }
}

fn type_matches(c: &Client, t: ClientType) -> bool {
    match t {
        ClientType::Normal => !c.is_pubsub(),
        ClientType::Pubsub => c.is_pubsub(),
        ClientType::Replication => false,
    }
}

/// Every client, in id order.
fn all_clients(shared: &Shared) -> Vec<Arc<Client>> {
    let mut v: Vec<Arc<Client>> = shared
        .clients
        .iter()
        .map(|e| Arc::clone(e.value()))
        .collect();
    v.sort_by_key(|c| c.id);
    v
}

/// CLIENT LIST [TYPE type] [ID id ...]
pub fn list(s: &mut Session, args: &Args) -> Reply {
    let mut kind = None;
    let mut ids: Option<Vec<u64>> = None;
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "type") && i + 1 < args.len() {
            match parse_type(&args[i + 1]) {
                Ok(t) => kind = Some(t),
                Err(e) => return e,
            }
            i += 2;
        } else if is(&args[i], "id") && i + 1 < args.len() {
            let mut v = Vec::new();
            for a in &args[i + 1..] {
                match std::str::from_utf8(a)
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok())
                {
                    Some(n) if n > 0 => v.push(n as u64),
                    _ => return Reply::error("ERR Invalid client ID"),
                }
            }
            ids = Some(v);
            i = args.len();
        } else {
            return syntax_error();
        }
    }
    // With ID, clients are listed in the order the ids were given.
    let clients: Vec<Arc<Client>> = match &ids {
        Some(v) => v
            .iter()
            .filter_map(|id| s.shared.clients.get(id).map(|e| Arc::clone(e.value())))
            .collect(),
        None => all_clients(&s.shared),
    };
    let mut text = String::new();
    for c in clients {
        if kind.is_some_and(|t| !type_matches(&c, t)) {
            continue;
        }
        // Redis frees a client killed by CLIENT KILL or ACL SETUSER/DELUSER
        // at once; here its task ends a moment later, so it is left out
        // now (a slow consumer stays listed, flagged A, as in Redis).
        if c.close_reason() == Some(CloseReason::Killed) {
            continue;
        }
        text.push_str(&describe(&c, s.shared.monitors.contains(c.id)));
        text.push('\n');
    }
    Reply::Verbatim(Bytes::from(text))
}

/// CLIENT KILL ip:port, or CLIENT KILL <filter value> ... with filters ID,
/// TYPE, USER, ADDR, LADDR, SKIPME.
pub fn kill(s: &mut Session, args: &Args) -> Reply {
    if args.len() == 3 {
        let addr = &args[2][..];
        let target = all_clients(&s.shared)
            .into_iter()
            .find(|c| c.peer.addr.to_string().as_bytes() == addr);
        return match target {
            Some(c) => {
                kill_one(s, &c);
                Reply::ok()
            }
            None => Reply::error("ERR No such client"),
        };
    }
    if !args.len().is_multiple_of(2) {
        return syntax_error();
    }
    let mut id = None;
    let mut kind = None;
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut skipme = true;
    for pair in args[2..].chunks(2) {
        let (key, val) = (&pair[0], &pair[1]);
        if is(key, "id") {
            match std::str::from_utf8(val)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
            {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Reply::error("ERR client-id should be greater than 0"),
            }
        } else if is(key, "type") {
            match parse_type(val) {
                Ok(t) => kind = Some(t),
                Err(e) => return e,
            }
        } else if is(key, "user") {
            if &val[..] != b"default" {
                return super::error_quoting("ERR No such user '", val, usize::MAX, "'");
            }
        } else if is(key, "addr") {
            addr = Some(val);
        } else if is(key, "laddr") {
            laddr = Some(val);
        } else if is(key, "skipme") {
            if is(val, "yes") {
                skipme = true;
            } else if is(val, "no") {
                skipme = false;
            } else {
                return syntax_error();
            }
        } else {
            return syntax_error();
        }
    }
    let mut killed = 0;
    for c in all_clients(&s.shared) {
        if id.is_some_and(|i| i != c.id)
            || kind.is_some_and(|t| !type_matches(&c, t))
            || addr.is_some_and(|a| a != c.peer.addr.to_string().as_bytes())
            || laddr.is_some_and(|a| a != c.peer.laddr.to_string().as_bytes())
            || (skipme && c.id == s.client.id)
        {
            continue;
        }
        kill_one(s, &c);
        killed += 1;
    }
    Reply::Int(killed)
}

/// Closes `c`; the calling client itself is closed after this reply.
fn kill_one(s: &mut Session, c: &Arc<Client>) {
    if c.id == s.client.id {
        s.closing = true;
    } else {
        c.close(CloseReason::Killed);
    }
}

/// Parses ON|OFF.
fn on_off(arg: &[u8]) -> Option<bool> {
    if is(arg, "on") {
        Some(true)
    } else if is(arg, "off") {
        Some(false)
    } else {
        None
    }
}

/// CLIENT NO-EVICT ON|OFF (recorded and shown as flag `e`; pubsubd evicts
/// no client for memory, only for its output limits).
pub fn no_evict(s: &mut Session, args: &Args) -> Reply {
    match on_off(&args[2]) {
        Some(v) => {
            s.client.with_info(|i| i.no_evict = v);
            Reply::ok()
        }
        None => syntax_error(),
    }
}

/// CLIENT NO-TOUCH ON|OFF (recorded and shown as flag `T`).
pub fn no_touch(s: &mut Session, args: &Args) -> Reply {
    match on_off(&args[2]) {
        Some(v) => {
            s.client.with_info(|i| i.no_touch = v);
            Reply::ok()
        }
        None => syntax_error(),
    }
}

/// The subcommand list.
pub fn help(_s: &mut Session, _args: &Args) -> Reply {
    help_reply(
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of this connection.",
            "ID",
            "    Return the id of this connection.",
            "INFO",
            "    Return information about this connection.",
            "KILL <ip:port>",
            "    Close the connection from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Close the connections matching every filter: ID <id>, TYPE (NORMAL|PUBSUB|MASTER|REPLICA),",
            "    USER <username>, ADDR <ip:port>, LADDR <ip:port>, SKIPME (YES|NO).",
            "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [<id> ...]]",
            "    List the open connections.",
            "NO-EVICT (ON|OFF)",
            "    Protect this connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Do not let this connection's commands touch keys.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Hold all clients' commands, or only writes, for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Turn replies to this connection's commands on or off, or skip the next one.",
            "SETINFO <LIB-NAME|LIB-VER> <value>",
            "    Record the client library's name or version.",
            "SETNAME <name>",
            "    Name this connection.",
            "UNPAUSE",
            "    End a CLIENT PAUSE.",
        ],
    )
}

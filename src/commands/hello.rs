//! HELLO [protover [AUTH username password] [SETNAME clientname]]

use bytes::Bytes;

use super::auth::{WRONGPASS, log_in};
use super::client::validate_name;
use super::is;
use crate::protocol::{Args, Protocol, Reply};
use crate::session::Session;

/// Switches protocol (and optionally authenticates and names the
/// connection), replying with the server description map clients read:
/// server, version, proto, id, mode, role, modules.
pub fn hello(s: &mut Session, args: &Args) -> Reply {
    let mut proto = None;
    if let Some(v) = args.get(1) {
        let v = match std::str::from_utf8(v)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
        {
            Some(v) => v,
            None => {
                return Reply::error("ERR Protocol version is not an integer or out of range");
            }
        };
        proto = match v {
            2 => Some(Protocol::Resp2),
            3 => Some(Protocol::Resp3),
            _ => return Reply::error("NOPROTO unsupported protocol version"),
        };
    }
    let mut creds = None;
    let mut name = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i - 1;
        if is(&args[i], "auth") && more >= 2 {
            creds = Some((&args[i + 1], &args[i + 2]));
            i += 3;
        } else if is(&args[i], "setname") && more >= 1 {
            if let Err(e) = validate_name(&args[i + 1]) {
                return e;
            }
            name = Some(Bytes::copy_from_slice(&args[i + 1]));
            i += 2;
        } else {
            return super::error_quoting(
                "ERR Syntax error in HELLO option '",
                &args[i],
                usize::MAX,
                "'",
            );
        }
    }
    if let Some((user, pass)) = creds
        && !log_in(s, &args[0], user, pass)
    {
        return Reply::error(WRONGPASS);
    }
    if !s.authenticated {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    if let Some(p) = proto {
        s.set_protocol(p);
    }
    if let Some(n) = name {
        s.client.with_info(|i| i.name = n);
    }
    Reply::Map(vec![
        (Reply::bulk_static("server"), Reply::bulk_static("redis")),
        (
            Reply::bulk_static("version"),
            Reply::bulk_static(crate::REDIS_VERSION),
        ),
        (Reply::bulk_static("proto"), Reply::Int(s.protocol.number())),
        (Reply::bulk_static("id"), Reply::Int(s.client.id as i64)),
        (Reply::bulk_static("mode"), Reply::bulk_static("standalone")),
        (Reply::bulk_static("role"), Reply::bulk_static("master")),
        (Reply::bulk_static("modules"), Reply::Array(vec![])),
    ])
}

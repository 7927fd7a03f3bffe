//! CLUSTER <anything>, READONLY, READWRITE

use crate::protocol::{Args, Reply};
use crate::session::Session;

/// pubsubd is a standalone server. Clients probe `CLUSTER NODES` and switch
/// to cluster mode on anything but an error, so every cluster command gets
/// Redis's standalone error; from a script, CLUSTER RESET (Redis's only
/// `noscript` cluster subcommand) gets the script refusal first, as in Redis.
pub fn cluster(s: &mut Session, args: &Args) -> Reply {
    if s.in_script
        && args.len() > 1
        && args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case(b"cluster"))
        && args[1].eq_ignore_ascii_case(b"reset")
    {
        return Reply::error("ERR This Redis command is not allowed from script");
    }
    Reply::error("ERR This instance has cluster support disabled")
}

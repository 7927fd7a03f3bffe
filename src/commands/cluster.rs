//! CLUSTER <anything>, READONLY, READWRITE

use crate::protocol::{Args, Reply};
use crate::session::Session;

/// pubsubd is a standalone server. Clients probe `CLUSTER NODES` and switch
/// to cluster mode on anything but an error, so every cluster command gets
/// Redis's standalone error.
pub fn cluster(_s: &mut Session, _args: &Args) -> Reply {
    Reply::error("ERR This instance has cluster support disabled")
}

//! ECHO message

use crate::protocol::{Args, Reply};
use crate::session::Session;

/// The message, byte for byte, as a bulk string.
pub fn echo(_s: &mut Session, args: &Args) -> Reply {
    Reply::Bulk(args[1].clone())
}

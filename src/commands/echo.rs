//! ECHO message

use bytes::Bytes;

use crate::protocol::Reply;
use crate::session::Session;

/// The message, byte for byte, as a bulk string.
pub fn echo(_s: &mut Session, args: &[Bytes]) -> Reply {
    Reply::Bulk(args[1].clone())
}

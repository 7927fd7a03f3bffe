//! QUIT

use bytes::Bytes;

use crate::protocol::Reply;
use crate::session::Session;

/// `+OK`, then the connection closes once the reply is written.
pub fn quit(s: &mut Session, _args: &[Bytes]) -> Reply {
    s.closing = true;
    Reply::ok()
}

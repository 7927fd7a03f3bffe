//! QUIT

use crate::protocol::{Args, Reply};
use crate::session::Session;

/// `+OK`, then the connection closes once the reply is written.
pub fn quit(s: &mut Session, _args: &Args) -> Reply {
    s.closing = true;
    Reply::ok()
}

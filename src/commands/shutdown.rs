//! SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]

use super::{is, syntax_error};
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// Starts a graceful shutdown: listeners close, a running script is killed,
/// every connection's queued output is flushed (bounded wait), and the
/// process exits 0. There is no data to save, so SAVE/NOW/FORCE are accepted
/// and change nothing, and NOSAVE matters only while a script is busy (then
/// it is required). On success no reply is sent; the connection closes.
pub fn shutdown(s: &mut Session, args: &Args) -> Reply {
    let (mut save, mut nosave, mut abort) = (false, false, false);
    for a in &args[1..] {
        if is(a, "nosave") {
            nosave = true;
        } else if is(a, "save") {
            save = true;
        } else if is(a, "now") || is(a, "force") {
        } else if is(a, "abort") {
            abort = true;
        } else {
            return syntax_error();
        }
    }
    if (save && nosave) || (abort && args.len() > 2) {
        return syntax_error();
    }
    if abort {
        return Reply::error("ERR No shutdown in progress.");
    }
    // As in Redis, only SHUTDOWN NOSAVE may stop a server whose script is
    // busy (shutdown then kills the script).
    if !nosave && s.shared.scripts.is_busy() {
        return Reply::error(crate::scripting::BUSY);
    }
    tracing::warn!(
        "user requested shutdown (client id={} addr={})",
        s.client.id,
        s.client.peer.addr
    );
    s.closing = true;
    s.shared.shutdown.cancel();
    Reply::Sent
}

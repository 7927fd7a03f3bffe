//! RESET

use crate::protocol::{Args, Protocol, Reply};
use crate::session::Session;

/// Returns the connection to its initial state: every subscription dropped
/// without notifications, RESP2, database 0, no name, replies on, and
/// de-authenticated when a password is set. Replies `+RESET`.
pub fn reset(s: &mut Session, _args: &Args) -> Reply {
    s.drop_subscriptions();
    s.end_transaction();
    s.shared.monitors.remove(s.client.id);
    s.set_protocol(Protocol::Resp2);
    s.db = 0;
    // A SKIP already applying to RESET itself stays: Redis clears only
    // OFF and a SKIP still pending.
    s.reply_off = false;
    s.skip_next = false;
    // Back to the default user, logged in only if it needs no password.
    let default = s.shared.acl.default_user();
    let open = default.nopass() && default.enabled();
    s.set_user(default, open);
    s.client.with_info(|i| {
        i.name.clear();
        i.db = 0;
        i.no_evict = false;
        i.no_touch = false;
        i.multi = None;
    });
    Reply::status("RESET")
}

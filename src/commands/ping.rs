//! PING [message]

use super::wrong_arity;
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// `+PONG` (or the message as a bulk string); in RESP2 subscribed mode the
/// array `["pong", message-or-empty]`, which clients' keep-alives expect.
pub fn ping(s: &mut Session, args: &Args) -> Reply {
    if args.len() > 2 {
        return wrong_arity("ping");
    }
    if s.in_pubsub_context() {
        let msg = args.get(1).cloned().unwrap_or_default();
        return Reply::Array(vec![Reply::bulk_static("pong"), Reply::Bulk(msg)]);
    }
    match args.get(1) {
        Some(msg) => Reply::Bulk(msg.clone()),
        None => Reply::status("PONG"),
    }
}

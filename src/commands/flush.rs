//! FLUSHDB [ASYNC|SYNC], FLUSHALL [ASYNC|SYNC]

use bytes::Bytes;

use super::{is, syntax_error};
use crate::keyspace::Db;
use crate::protocol::Reply;
use crate::session::Session;

/// Checks the optional ASYNC/SYNC argument (both mean the same here: the
/// flush is immediate).
fn mode_ok(args: &[Bytes]) -> bool {
    match args.len() {
        1 => true,
        2 => is(&args[1], "async") || is(&args[1], "sync"),
        _ => false,
    }
}

/// Empties the selected database.
pub fn flushdb(s: &mut Session, args: &[Bytes]) -> Reply {
    if !mode_ok(args) {
        return syntax_error();
    }
    s.shared.keyspace.with_db(s.db, Db::clear);
    Reply::ok()
}

/// Empties every database.
pub fn flushall(s: &mut Session, args: &[Bytes]) -> Reply {
    if !mode_ok(args) {
        return syntax_error();
    }
    s.shared.keyspace.flush_all();
    Reply::ok()
}

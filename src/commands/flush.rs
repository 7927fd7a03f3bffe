//! FLUSHDB [ASYNC|SYNC], FLUSHALL [ASYNC|SYNC]

use bytes::Bytes;

use super::{is, syntax_error};
use crate::protocol::{Args, Reply};
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
pub fn flushdb(s: &mut Session, args: &Args) -> Reply {
    if !mode_ok(args) {
        return syntax_error();
    }
    let db = s.db;
    s.keyspace(|ks| {
        ks.flush_db(db);
        Reply::ok()
    })
}

/// Empties every database.
pub fn flushall(s: &mut Session, args: &Args) -> Reply {
    if !mode_ok(args) {
        return syntax_error();
    }
    s.keyspace(|ks| {
        ks.flush_all();
        Reply::ok()
    })
}

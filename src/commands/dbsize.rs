//! DBSIZE

use bytes::Bytes;

use crate::protocol::Reply;
use crate::session::Session;

/// The number of keys in the selected database.
pub fn dbsize(s: &mut Session, _args: &[Bytes]) -> Reply {
    let n = s.shared.keyspace.with_db(s.db, |d| d.len()).unwrap_or(0);
    Reply::Int(n as i64)
}

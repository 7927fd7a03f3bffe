//! DBSIZE

use crate::protocol::{Args, Reply};
use crate::session::Session;

/// The number of keys in the selected database.
pub fn dbsize(s: &mut Session, _args: &Args) -> Reply {
    let db = s.db;
    s.keyspace(|ks| Reply::Int(ks.db(db).len() as i64))
}

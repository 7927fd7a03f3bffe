//! SELECT index

use super::parse_i64;
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// `+OK` and switches to database `index` (0 to `databases`-1).
pub fn select(s: &mut Session, args: &Args) -> Reply {
    let index = match parse_i64(&args[1]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    if index < 0 || index as usize >= s.shared.databases {
        return Reply::error("ERR DB index is out of range");
    }
    s.db = index as usize;
    s.client.with_info(|i| i.db = index as usize);
    Reply::ok()
}

//! TIME

use bytes::Bytes;

use crate::protocol::{Args, Reply};
use crate::session::Session;

/// `[unix seconds, microseconds]` as bulk strings.
pub fn time(_s: &mut Session, _args: &Args) -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Reply::bulks([
        Bytes::from(now.as_secs().to_string()),
        Bytes::from(now.subsec_micros().to_string()),
    ])
}

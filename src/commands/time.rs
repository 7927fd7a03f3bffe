//! TIME

use bytes::Bytes;

use crate::protocol::Reply;
use crate::session::Session;

/// `[unix seconds, microseconds]` as bulk strings.
pub fn time(_s: &mut Session, _args: &[Bytes]) -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Reply::bulks([
        Bytes::from(now.as_secs().to_string()),
        Bytes::from(now.subsec_micros().to_string()),
    ])
}

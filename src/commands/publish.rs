//! PUBLISH channel message, SPUBLISH shardchannel message
//!
//! Step one of the publish path; the fan-out is in `pubsub/registry.rs` and
//! the per-client queue in `pubsub/outbox.rs`.

use bytes::Bytes;

use crate::protocol::Reply;
use crate::pubsub::Kind;
use crate::session::Session;

/// Delivers the message and returns the number of receivers.
fn publish_to(s: &mut Session, kind: Kind, args: &[Bytes]) -> Reply {
    let n = s
        .shared
        .registry
        .publish(&s.shared, kind, &args[1], &args[2]);
    s.count_deliveries(n as u64);
    Reply::Int(n as i64)
}

/// PUBLISH: exact subscribers plus matching patterns.
pub fn publish(s: &mut Session, args: &[Bytes]) -> Reply {
    publish_to(s, Kind::Channel, args)
}

/// SPUBLISH: shard-channel subscribers (patterns do not apply).
pub fn spublish(s: &mut Session, args: &[Bytes]) -> Reply {
    publish_to(s, Kind::Shard, args)
}

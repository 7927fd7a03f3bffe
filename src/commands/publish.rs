//! PUBLISH channel message, SPUBLISH shardchannel message
//!
//! Step one of the publish path; the fan-out is in `pubsub/registry.rs` and
//! the per-client queue in `pubsub/outbox.rs`.
//!
//! Consecutive PUBLISHes from one connection's batch to the same channel are
//! delivered together ([`PublishGroup`]): a pipelining publisher sends runs
//! of them (a SignalR hub's "all" channel, socket.io broadcasts), and
//! delivering a run at once costs each receiver one queue operation instead
//! of one per message (see `Registry::publish_run`). The run is delivered,
//! and its replies written, before anything else this connection does: when
//! any other command is dispatched, when any other reply is sent, and when
//! the batch's replies are flushed. So every receiver sees the messages in
//! order and at the same point relative to this connection's other
//! commands, and each PUBLISH still gets its own reply with the number of
//! receivers, computed when the run is delivered.

use bytes::Bytes;

use crate::protocol::{Args, Reply};
use crate::pubsub::Kind;
use crate::session::Session;

/// Most messages one [`PublishGroup`] collects before it is delivered.
pub const PUBLISH_GROUP_MAX: usize = 256;
/// Most payload bytes one [`PublishGroup`] collects before it is delivered
/// (bounds the encoded run every receiver shares).
pub const PUBLISH_GROUP_MAX_BYTES: usize = 64 * 1024;

/// Longest channel name a PUBLISH run can start on: the name of the last
/// PUBLISH is copied to recognise the next one to the same channel, and
/// copying a longer one every time would cost more than a run saves.
pub const RUN_CHANNEL_MAX: usize = 256;

/// A run of PUBLISHes to one channel, not yet delivered.
#[derive(Debug)]
pub struct PublishGroup {
    kind: Kind,
    channel: Bytes,
    payloads: Vec<Bytes>,
    bytes: usize,
}

impl PublishGroup {
    /// Whether a PUBLISH of `len` bytes to `channel` may join this run.
    fn accepts(&self, kind: Kind, channel: &[u8], len: usize) -> bool {
        self.kind == kind
            && self.channel == channel
            && self.payloads.len() < PUBLISH_GROUP_MAX
            && self.bytes + len <= PUBLISH_GROUP_MAX_BYTES
    }
}

/// Whether `args` would join the session's open run (so dispatching it must
/// not deliver the run first).
pub fn continues_group(s: &Session, args: &Args) -> bool {
    let Some(g) = &s.publish_group else {
        return false;
    };
    let name: &[u8] = match g.kind {
        Kind::Channel => b"publish",
        Kind::Shard => b"spublish",
    };
    args.len() == 3 && args.arg(0).eq_ignore_ascii_case(name) && args.arg(1) == g.channel
}

/// Delivers the session's open run, if any, and writes its replies.
pub fn flush_group(s: &mut Session) {
    let Some(mut g) = s.publish_group.take() else {
        return;
    };
    let shared = std::sync::Arc::clone(&s.shared);
    let registry = &shared.registry;
    // A run is delivered outside any command's timing: LATENCY sees it as
    // its own event.
    let started = shared.latency.enabled().then(std::time::Instant::now);
    let n = registry.publish_run(&shared, g.kind, &g.channel, &g.payloads);
    if let Some(started) = started {
        shared
            .latency
            .note("fan-out", started.elapsed().as_millis() as u64);
    }
    s.count_deliveries((n * g.payloads.len()) as u64);
    s.reply_ints(n as i64, g.payloads.len());
    g.payloads.clear();
    s.spare_payloads = g.payloads;
}

/// Delivers the message and returns the number of receivers, or joins the
/// message to a run (the reply then follows when the run is delivered).
fn publish_to(s: &mut Session, kind: Kind, args: &Args) -> Reply {
    let (channel, payload) = (args.arg(1), args.arg(2));
    // Only a command dispatched on its own (not in EXEC or a script, whose
    // replies are collected), not skipped by CLIENT REPLY, from a client that
    // is not itself subscribed (its own messages must keep their place
    // among its replies).
    // A run starts at the second consecutive PUBLISH to a channel; the
    // first is delivered at once, so a publisher that spreads its messages
    // over many channels pays nothing for runs.
    if s.direct && !s.skip_current && s.subscription_count() == 0 {
        if let Some(g) = &mut s.publish_group
            && g.accepts(kind, channel, payload.len())
        {
            g.bytes += payload.len();
            g.payloads.push(args.bytes(2));
            return Reply::Sent;
        }
        flush_group(s);
        if s.last_published == Some(kind) && s.last_channel == channel {
            let mut payloads = std::mem::take(&mut s.spare_payloads);
            payloads.push(args.bytes(2));
            s.publish_group = Some(PublishGroup {
                kind,
                channel: args.bytes(1),
                payloads,
                bytes: payload.len(),
            });
            return Reply::Sent;
        }
        // A copy, not a reference to the request buffer: a reference would
        // cost two locked instructions per PUBLISH; a long name is not kept.
        s.last_channel.clear();
        if channel.len() <= RUN_CHANNEL_MAX {
            s.last_channel.extend_from_slice(channel);
            s.last_published = Some(kind);
        } else {
            s.last_published = None;
        }
    }
    let n = s.shared.registry.publish(&s.shared, kind, channel, payload);
    s.count_deliveries(n as u64);
    Reply::Int(n as i64)
}

/// PUBLISH: exact subscribers plus matching patterns.
pub fn publish(s: &mut Session, args: &Args) -> Reply {
    publish_to(s, Kind::Channel, args)
}

/// SPUBLISH: shard-channel subscribers (patterns do not apply).
pub fn spublish(s: &mut Session, args: &Args) -> Reply {
    publish_to(s, Kind::Shard, args)
}

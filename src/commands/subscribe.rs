//! SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE, SUNSUBSCRIBE
//!
//! Each channel gets its own confirmation `[kind, channel, count]` (a push
//! frame in RESP3). A subscribe confirmation is queued while the registry
//! entry is locked, so it reaches the client before any message on that
//! channel and no message published after it can be missed.
//!
//! Inside EXEC the confirmations are part of the EXEC reply, in the place
//! of the command's one counted reply, as in Redis 7.0 (so the array holds
//! more frames than it counts when a command names several channels). The
//! ordering still holds there: EXEC holds back this client's messages until
//! its reply is out.

use bytes::{Bytes, BytesMut};

use crate::protocol::{Args, Reply};
use crate::pubsub::Kind;
use crate::pubsub::names::NameSet;
use crate::session::Session;

/// Which family a command belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Channel,
    Pattern,
    Shard,
}

impl Family {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Family::Channel => ("subscribe", "unsubscribe"),
            Family::Pattern => ("psubscribe", "punsubscribe"),
            Family::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }

    fn set(self, s: &mut Session) -> &mut NameSet {
        match self {
            Family::Channel => &mut s.channels,
            Family::Pattern => &mut s.patterns,
            Family::Shard => &mut s.shard_channels,
        }
    }

    /// The count a confirmation reports: channels + patterns, or shard
    /// channels alone (as Redis).
    fn count(self, s: &Session) -> i64 {
        match self {
            Family::Shard => s.shard_channels.len() as i64,
            _ => s.subscription_count() as i64,
        }
    }
}

/// A confirmation frame.
fn confirmation(kind: &'static str, name: Option<Bytes>, count: i64) -> Vec<Reply> {
    vec![
        Reply::bulk_static(kind),
        name.map_or(Reply::Nil, Reply::Bulk),
        Reply::Int(count),
    ]
}

fn subscribe_all(s: &mut Session, args: &[Bytes], fam: Family) -> Reply {
    // Inside EXEC (never from a script: these commands are `noscript`).
    let in_exec = !s.direct;
    if in_exec && fam == Family::Shard {
        // Redis 7.0 queues SSUBSCRIBE but refuses it when EXEC runs it.
        return Reply::error("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
    }
    s.flush();
    // The epoch of the user this command's permissions were checked with.
    let checked = s.acl_epoch();
    let (kind_name, _) = fam.names();
    let mut inline = BytesMut::new();
    for arg in &args[1..] {
        // Copy: the argument is a slice of the read buffer, which must not be
        // kept alive by a long-lived subscription.
        let name = Bytes::copy_from_slice(arg);
        let new = fam.set(s).insert(name.clone());
        s.sync_counts();
        let frame = Reply::Push(confirmation(kind_name, Some(name.clone()), fam.count(s)))
            .to_bytes(s.protocol);
        if !new {
            if in_exec {
                inline.extend_from_slice(&frame);
            } else {
                s.client.send(&s.shared, frame);
            }
            continue;
        }
        let shared = std::sync::Arc::clone(&s.shared);
        let client = std::sync::Arc::clone(&s.client);
        let subscribed = if in_exec {
            subscribe_registry(s, fam, name.clone(), &client, checked, || {})
        } else {
            subscribe_registry(s, fam, name.clone(), &client, checked, || {
                client.send(&shared, frame.clone())
            })
        };
        if !subscribed {
            // The name was taken from the user since the check: as if this
            // command ran before ACL SETUSER, which then closed the
            // connection (Redis 7).
            fam.set(s).remove(&name);
            s.sync_counts();
            s.closing = true;
            break;
        }
        if in_exec {
            inline.extend_from_slice(&frame);
        }
    }
    if in_exec {
        Reply::Frames(inline.freeze())
    } else {
        Reply::Sent
    }
}

/// Adds `client` to the registry under `name`, `confirm` running while the
/// entry is locked, unless an ACL change since the command's permission
/// check (made with the user of ACL epoch `checked`) took the name away
/// from the user: then nothing is added and it returns false.
///
/// The ACL epoch is compared under the registry lock: ACL SETUSER changes
/// the epoch before it scans the registry (under the same lock) for
/// subscriptions to close, so a subscription either sees the change here
/// or is in place for the scan. When the epoch moved, the user is read
/// again with the ACL held still and the name checked against it (and so
/// is every later name of the command: `checked` stays the old epoch).
fn subscribe_registry(
    s: &mut Session,
    fam: Family,
    name: Bytes,
    client: &std::sync::Arc<crate::client::Client>,
    checked: u64,
    confirm: impl Fn(),
) -> bool {
    let shared = std::sync::Arc::clone(&s.shared);
    let unchanged = || shared.acl.epoch() == checked;
    if insert(&shared, fam, &name, client, unchanged, &confirm).is_some() {
        return true;
    }
    let users = shared.acl.hold();
    s.refresh_user_from(&users);
    if s.closing || !s.user.channel_allowed(&name, fam == Family::Pattern) {
        return false;
    }
    insert(&shared, fam, &name, client, || true, &confirm).is_some()
}

/// One registry insert for [`subscribe_registry`].
fn insert(
    shared: &crate::shared::Shared,
    fam: Family,
    name: &Bytes,
    client: &std::sync::Arc<crate::client::Client>,
    still_allowed: impl FnOnce() -> bool,
    confirm: impl FnOnce(),
) -> Option<bool> {
    let registry = &shared.registry;
    let name = name.clone();
    match fam {
        Family::Channel => {
            registry.subscribe_if(Kind::Channel, name, client, still_allowed, confirm)
        }
        Family::Shard => registry.subscribe_if(Kind::Shard, name, client, still_allowed, confirm),
        Family::Pattern => registry.psubscribe_if(name, client, still_allowed, confirm),
    }
}

fn unsubscribe_all(s: &mut Session, args: &[Bytes], fam: Family) -> Reply {
    let (_, kind_name) = fam.names();
    // Inside EXEC the confirmations become the command's reply (see the
    // module documentation).
    let mut inline = (!s.direct).then(BytesMut::new);
    let targets: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        fam.set(s).to_vec()
    };
    if targets.is_empty() {
        let count = fam.count(s);
        confirm(s, &mut inline, confirmation(kind_name, None, count));
    }
    let id = s.client.id;
    for name in targets {
        if fam.set(s).remove(&name) {
            match fam {
                Family::Channel => s.shared.registry.unsubscribe(Kind::Channel, &name, id),
                Family::Shard => s.shared.registry.unsubscribe(Kind::Shard, &name, id),
                Family::Pattern => s.shared.registry.punsubscribe(&name, id),
            };
        }
        s.sync_counts();
        let count = fam.count(s);
        confirm(s, &mut inline, confirmation(kind_name, Some(name), count));
    }
    match inline {
        Some(frames) => Reply::Frames(frames.freeze()),
        None => Reply::Sent,
    }
}

/// Writes one unsubscribe confirmation: into `inline` inside EXEC, else to
/// the client's output.
fn confirm(s: &mut Session, inline: &mut Option<BytesMut>, parts: Vec<Reply>) {
    match inline {
        Some(buf) => Reply::Push(parts).encode(s.protocol, buf),
        None => s.push(parts),
    }
}

/// SUBSCRIBE channel [channel ...]
pub fn subscribe(s: &mut Session, args: &Args) -> Reply {
    subscribe_all(s, args, Family::Channel)
}

/// UNSUBSCRIBE [channel ...]
pub fn unsubscribe(s: &mut Session, args: &Args) -> Reply {
    unsubscribe_all(s, args, Family::Channel)
}

/// PSUBSCRIBE pattern [pattern ...]
pub fn psubscribe(s: &mut Session, args: &Args) -> Reply {
    subscribe_all(s, args, Family::Pattern)
}

/// PUNSUBSCRIBE [pattern ...]
pub fn punsubscribe(s: &mut Session, args: &Args) -> Reply {
    unsubscribe_all(s, args, Family::Pattern)
}

/// SSUBSCRIBE shardchannel [shardchannel ...]
pub fn ssubscribe(s: &mut Session, args: &Args) -> Reply {
    subscribe_all(s, args, Family::Shard)
}

/// SUNSUBSCRIBE [shardchannel ...]
pub fn sunsubscribe(s: &mut Session, args: &Args) -> Reply {
    unsubscribe_all(s, args, Family::Shard)
}

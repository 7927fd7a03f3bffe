//! Keyspace notifications: the events the keyspace recorded, published to
//! `__keyspace@<db>__:<key>` (message: the event) and
//! `__keyevent@<db>__:<event>` (message: the key), as
//! `notify-keyspace-events` enables them.

use bytes::{BufMut, Bytes, BytesMut};

use crate::keyspace::{Keyspace, class};
use crate::pubsub::Kind;
use crate::shared::Shared;

/// Publishes and clears the events `ks` recorded.
pub fn publish_events(shared: &Shared, ks: &mut Keyspace) {
    let flags = ks.notify_flags;
    if flags == 0 {
        return;
    }
    for ev in ks.take_events() {
        if flags & class::KEYSPACE != 0 {
            let mut ch = BytesMut::with_capacity(20 + ev.key.len());
            ch.put_slice(format!("__keyspace@{}__:", ev.db).as_bytes());
            ch.put_slice(&ev.key);
            let payload = Bytes::from_static(ev.name.as_bytes());
            shared
                .registry
                .publish(shared, Kind::Channel, &ch.freeze(), &payload);
        }
        if flags & class::KEYEVENT != 0 {
            let ch = Bytes::from(format!("__keyevent@{}__:{}", ev.db, ev.name));
            shared.registry.publish(shared, Kind::Channel, &ch, &ev.key);
        }
    }
}

//! What nodes send each other over NATS, byte for byte.
//!
//! Subjects (`<cluster-name>` is a single NATS token, see
//! [`super::check_name`]):
//! - `pubsubd.<cluster-name>.msg`: every PUBLISH and SPUBLISH, one NATS
//!   message each, as a [`Message`] frame.
//! - `pubsubd.<cluster-name>.counts`: each node's subscriber counts, as
//!   [`Report`] chunks, and a [`Frame::Bye`] when a node shuts down.
//!
//! The channel name travels in the payload, not in the subject: NATS subjects
//! cannot hold an empty token, spaces, CR LF or arbitrary bytes, and a
//! subject must fit NATS's 4 KB control line, while a Redis channel name is
//! any bytes of any length. Carrying it in the payload keeps it exact (no
//! escaping to undo) and keeps every message of a node on one subject, so
//! NATS's per-connection order holds for everything one node publishes.
//!
//! Message frame: `b'T'`, kind (0 = channel, 1 = shard channel), the
//! sender's wall-clock time of the PUBLISH (u64, microseconds since the Unix
//! epoch, big-endian: the receiver's remote-delivery latency), channel
//! length (u32, big-endian), channel bytes, then the message bytes to the end.
//! The tag is not `b'M'`, the untimed layout of earlier builds, so nodes of
//! the two kinds refuse (and count) each other's frames instead of reading
//! the time as a channel length.
//!
//! Report chunk: `b'R'`, node id length (u8) and bytes, report sequence (u64),
//! chunk index (u32), chunk count (u32), rank (u64), epoch (u64), claim
//! (u64), then entries to the end, each:
//! kind (0 channel, 1 shard channel, 2 pattern), name length (u32), name,
//! subscriber count (u32).
//!
//! Bye: `b'B'`, node id length (u8) and bytes.
//!
//! Keys (see [`super::keys`]) travel on the message subject too, so that
//! NATS's per-connection order puts a key's new value before any message
//! the owner published after writing it:
//! - Key update: `b'K'`, epoch (u64), db (u32), key length (u32), key,
//!   present (u8),
//!   expiry in Unix ms (u64, 0 for none), then the value to the end.
//! - Database change: `b'D'`, epoch (u64), op (u8: 0 flush one, 1 swap
//!   two), db a
//!   (u32), db b (u32).
//! - Snapshot chunk: `b'S'`, target node id length (u8) and bytes, sender
//!   node id length (u8) and bytes, rank (u64), epoch (u64), the sender's
//!   rank (u64), chunk index
//!   (u32), last (u8), entry count (u32), then the
//!   entries, each: db (u32), key length (u32), key, expiry (u64), value
//!   length (u32), value.
//!
//! A key command forwarded to the owner (on `pubsubd.<cluster-name>.node.<id>`
//! with a NATS reply subject): `b'F'`, db (u32), RESP3 (u8), ACL user name
//! length (u32) and bytes, command count
//! (u32), then each command as its argument count (u32) and each argument as
//! length (u32) and bytes (a transaction is MULTI, its commands, EXEC). The
//! answer is `b'R'` and the RESP bytes of the last command's reply, or `b'N'`
//! when the node does not own the keyspace (the sender asks again).

use bytes::{BufMut, Bytes, BytesMut};

use crate::pubsub::Kind;

/// The first token of every subject pubsubd uses.
pub const SUBJECT_PREFIX: &str = "pubsubd";

/// Bytes a message frame adds to the channel name and payload.
pub const MESSAGE_OVERHEAD: usize = 14;

/// Bytes a report chunk spends before its entries, at most (255-byte node
/// id).
pub const REPORT_HEADER_MAX: usize = 1 + 1 + 255 + 8 + 4 + 4 + 8 + 8 + 8;

/// Bytes a snapshot chunk spends before its entries, at most.
pub const SNAPSHOT_HEADER_MAX: usize = 1 + 1 + 255 + 1 + 255 + 8 + 8 + 8 + 4 + 1 + 4;

/// Bytes one snapshot entry adds to its key and value.
pub const SNAP_ENTRY_OVERHEAD: usize = 4 + 4 + 8 + 4;

/// Bytes one report entry adds to its name.
pub const ENTRY_OVERHEAD: usize = 9;

/// The subject messages travel on.
pub fn message_subject(cluster: &str) -> String {
    format!("{SUBJECT_PREFIX}.{cluster}.msg")
}

/// The subject a node takes forwarded key commands on.
pub fn node_subject(cluster: &str, node: &str) -> String {
    format!("{SUBJECT_PREFIX}.{cluster}.node.{node}")
}

/// A subject no node subscribes to: a request on it comes back from the
/// NATS server as "no responders", which tells a node that the server has
/// read everything it sent before.
pub fn ack_subject(cluster: &str, node: &str) -> String {
    format!("{SUBJECT_PREFIX}.{cluster}.ack.{node}")
}

/// The subject counts travel on.
pub fn counts_subject(cluster: &str) -> String {
    format!("{SUBJECT_PREFIX}.{cluster}.counts")
}

/// Which table a report entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// SUBSCRIBE channels.
    Channel,
    /// SSUBSCRIBE shard channels.
    Shard,
    /// PSUBSCRIBE patterns.
    Pattern,
}

impl Table {
    fn byte(self) -> u8 {
        match self {
            Table::Channel => 0,
            Table::Shard => 1,
            Table::Pattern => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Table> {
        match b {
            0 => Some(Table::Channel),
            1 => Some(Table::Shard),
            2 => Some(Table::Pattern),
            _ => None,
        }
    }

    /// The table of a channel kind.
    pub fn of(kind: Kind) -> Table {
        match kind {
            Kind::Channel => Table::Channel,
            Kind::Shard => Table::Shard,
        }
    }
}

/// A published message as received.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    /// Channel or shard channel.
    pub kind: Kind,
    /// The channel name, exact.
    pub channel: Bytes,
    /// The message, exact.
    pub payload: Bytes,
    /// When the sending node took the PUBLISH, by its clock (microseconds
    /// since the Unix epoch).
    pub sent_us: u64,
}

/// One report entry: table, name, subscribers.
pub type Entry = (Table, Bytes, u32);

/// One chunk of a node's counts.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    /// The reporting node.
    pub node: String,
    /// Increases with every report the node sends.
    pub seq: u64,
    /// This chunk's place, from 0.
    pub index: u32,
    /// How many chunks the report has.
    pub count: u32,
    /// The node's rank as a keyspace owner ([`super::keys::UNSYNCED`] until
    /// it holds a full copy of the keys).
    pub rank: u64,
    /// The epoch of the keys it holds, or last held.
    pub epoch: u64,
    /// The rank it held before it lost its copy ([`super::keys::UNSYNCED`]
    /// if it never had one); its rank while it holds one.
    pub claim: u64,
    /// `(table, name, subscribers)`.
    pub entries: Vec<(Table, Bytes, u32)>,
}

/// A key's new state, as the owner sends it.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyUpdate {
    /// The owner's epoch when it wrote the key.
    pub epoch: u64,
    /// Database number.
    pub db: u32,
    /// The key.
    pub key: Bytes,
    /// The value and expiry (Unix ms), or None when the key is gone.
    pub value: Option<(Bytes, Option<u64>)>,
}

/// A database-wide change.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum DbChange {
    /// FLUSHDB (FLUSHALL is one per database).
    Flush(u32),
    /// SWAPDB of two.
    Swap(u32, u32),
}

/// One stored key in a snapshot: db, key, value, expiry.
pub type SnapEntry = (u32, Bytes, Bytes, Option<u64>);

/// One chunk of the owner's keys, for a node that joins.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The node it is for.
    pub target: String,
    /// The owner that sent it.
    pub from: String,
    /// The rank the target takes once it has every chunk.
    pub rank: u64,
    /// The owner's epoch, which the target takes with it.
    pub epoch: u64,
    /// The owner's own rank.
    pub from_rank: u64,
    /// This chunk's place, from 0.
    pub index: u32,
    /// Whether it is the last chunk.
    pub last: bool,
    /// The keys.
    pub entries: Vec<SnapEntry>,
}

/// Forwarded key commands.
#[derive(Debug, PartialEq, Eq)]
pub struct Forwarded {
    /// The client's SELECTed database.
    pub db: u32,
    /// Whether the client speaks RESP3.
    pub resp3: bool,
    /// The client's ACL user, whose rules the owner applies.
    pub user: Bytes,
    /// The commands, each with its arguments, run in order.
    pub commands: Vec<Vec<Bytes>>,
}

/// Anything received on a pubsubd subject.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A PUBLISH or SPUBLISH from another node.
    Message(Message),
    /// Part of another node's counts.
    Report(Report),
    /// A node that is shutting down.
    Bye(String),
    /// A key written on the owner.
    Key(KeyUpdate),
    /// A database flushed or swapped on the owner, in the owner's epoch.
    Db(u64, DbChange),
    /// Part of the owner's keys for a joining node.
    Snapshot(Snapshot),
    /// Key commands for the owner.
    Forward(Forwarded),
}

/// Encodes a message frame published at `sent_us` (see [`now_us`]).
pub fn encode_message(kind: Kind, channel: &[u8], payload: &[u8], sent_us: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(MESSAGE_OVERHEAD + channel.len() + payload.len());
    out.put_u8(b'T');
    out.put_u8(match kind {
        Kind::Channel => 0,
        Kind::Shard => 1,
    });
    out.put_u64(sent_us);
    out.put_u32(channel.len() as u32);
    out.put_slice(channel);
    out.put_slice(payload);
    out.freeze()
}

fn put_node(out: &mut BytesMut, node: &str) {
    let id = &node.as_bytes()[..node.len().min(255)];
    out.put_u8(id.len() as u8);
    out.put_slice(id);
}

/// This machine's wall clock in microseconds since the Unix epoch (0 for a
/// clock set before 1970), the time base of [`Message::sent_us`].
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Encodes a bye frame.
pub fn encode_bye(node: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(2 + node.len());
    out.put_u8(b'B');
    put_node(&mut out, node);
    out.freeze()
}

/// Encodes a key update.
pub fn encode_key(epoch: u64, db: u32, key: &[u8], value: Option<(&[u8], Option<u64>)>) -> Bytes {
    let vlen = value.map_or(0, |v| v.0.len());
    let mut out = BytesMut::with_capacity(26 + key.len() + vlen);
    out.put_u8(b'K');
    out.put_u64(epoch);
    out.put_u32(db);
    out.put_u32(key.len() as u32);
    out.put_slice(key);
    match value {
        Some((v, at)) => {
            out.put_u8(1);
            out.put_u64(at.unwrap_or(0));
            out.put_slice(v);
        }
        None => {
            out.put_u8(0);
            out.put_u64(0);
        }
    }
    out.freeze()
}

/// Encodes a database change.
pub fn encode_db(epoch: u64, change: DbChange) -> Bytes {
    let (op, a, b) = match change {
        DbChange::Flush(a) => (0, a, 0),
        DbChange::Swap(a, b) => (1, a, b),
    };
    let mut out = BytesMut::with_capacity(18);
    out.put_u8(b'D');
    out.put_u64(epoch);
    out.put_u8(op);
    out.put_u32(a);
    out.put_u32(b);
    out.freeze()
}

/// Encodes one snapshot chunk.
pub fn encode_snapshot(
    target: &str,
    from: &str,
    (rank, epoch, from_rank): (u64, u64, u64),
    index: u32,
    last: bool,
    entries: &[SnapEntry],
) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(b'S');
    put_node(&mut out, target);
    put_node(&mut out, from);
    out.put_u64(rank);
    out.put_u64(epoch);
    out.put_u64(from_rank);
    out.put_u32(index);
    out.put_u8(u8::from(last));
    out.put_u32(entries.len() as u32);
    for (db, key, value, at) in entries {
        out.put_u32(*db);
        out.put_u32(key.len() as u32);
        out.put_slice(key);
        out.put_u64(at.unwrap_or(0));
        out.put_u32(value.len() as u32);
        out.put_slice(value);
    }
    out.freeze()
}

/// Encodes forwarded commands.
pub fn encode_forward(db: u32, resp3: bool, user: &[u8], commands: &[&[Bytes]]) -> Bytes {
    let size: usize = commands
        .iter()
        .map(|c| 4 + c.iter().map(|a| 4 + a.len()).sum::<usize>())
        .sum();
    let mut out = BytesMut::with_capacity(14 + user.len() + size);
    out.put_u8(b'F');
    out.put_u32(db);
    out.put_u8(u8::from(resp3));
    out.put_u32(user.len() as u32);
    out.put_slice(user);
    out.put_u32(commands.len() as u32);
    for c in commands {
        out.put_u32(c.len() as u32);
        for a in c.iter() {
            out.put_u32(a.len() as u32);
            out.put_slice(a);
        }
    }
    out.freeze()
}

/// Splits `entries` into report chunks of at most `max_bytes` each. An entry
/// that cannot fit a chunk on its own (a name nearly as long as NATS's
/// payload limit) is left out: no message to it could cross NATS either.
pub fn encode_report(
    node: &str,
    seq: u64,
    (rank, epoch, claim): (u64, u64, u64),
    entries: &[(Table, Bytes, u32)],
    max_bytes: usize,
) -> Vec<Bytes> {
    let budget = max_bytes.saturating_sub(REPORT_HEADER_MAX).max(1);
    let mut groups: Vec<Vec<&(Table, Bytes, u32)>> = vec![Vec::new()];
    let mut used = 0;
    for e in entries {
        let size = ENTRY_OVERHEAD + e.1.len();
        if size > budget {
            continue;
        }
        if used + size > budget {
            groups.push(Vec::new());
            used = 0;
        }
        used += size;
        if let Some(g) = groups.last_mut() {
            g.push(e);
        }
    }
    let count = groups.len() as u32;
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut out = BytesMut::new();
            out.put_u8(b'R');
            put_node(&mut out, node);
            out.put_u64(seq);
            out.put_u32(i as u32);
            out.put_u32(count);
            out.put_u64(rank);
            out.put_u64(epoch);
            out.put_u64(claim);
            for (table, name, n) in g {
                out.put_u8(table.byte());
                out.put_u32(name.len() as u32);
                out.put_slice(name);
                out.put_u32(*n);
            }
            out.freeze()
        })
        .collect()
}

/// A cursor over a received frame; every read is bounds-checked.
struct Reader {
    buf: Bytes,
    at: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Option<Bytes> {
        let end = self.at.checked_add(n)?;
        if end > self.buf.len() {
            return None;
        }
        let out = self.buf.slice(self.at..end);
        self.at = end;
        Some(out)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Some(u64::from_be_bytes(a))
    }

    fn node(&mut self) -> Option<String> {
        let n = self.u8()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn done(&self) -> bool {
        self.at == self.buf.len()
    }

    fn rest(&mut self) -> Bytes {
        let out = self.buf.slice(self.at..);
        self.at = self.buf.len();
        out
    }
}

/// Decodes a received frame; None for anything malformed (it is dropped and
/// counted by the caller).
pub fn decode(buf: Bytes) -> Option<Frame> {
    let mut r = Reader { buf, at: 0 };
    match r.u8()? {
        b'T' => {
            let kind = match r.u8()? {
                0 => Kind::Channel,
                1 => Kind::Shard,
                _ => return None,
            };
            let sent_us = r.u64()?;
            let len = r.u32()? as usize;
            let channel = r.take(len)?;
            let payload = r.rest();
            Some(Frame::Message(Message {
                kind,
                channel,
                payload,
                sent_us,
            }))
        }
        b'R' => {
            let node = r.node()?;
            let seq = r.u64()?;
            let index = r.u32()?;
            let count = r.u32()?;
            let rank = r.u64()?;
            let epoch = r.u64()?;
            let claim = r.u64()?;
            if index >= count {
                return None;
            }
            let mut entries = Vec::new();
            while !r.done() {
                let table = Table::from_byte(r.u8()?)?;
                let len = r.u32()? as usize;
                let name = r.take(len)?;
                let n = r.u32()?;
                entries.push((table, name, n));
            }
            Some(Frame::Report(Report {
                node,
                seq,
                index,
                count,
                rank,
                epoch,
                claim,
                entries,
            }))
        }
        b'K' => {
            let epoch = r.u64()?;
            let db = r.u32()?;
            let len = r.u32()? as usize;
            let key = r.take(len)?;
            let present = r.u8()?;
            let at = r.u64()?;
            let value = match present {
                0 if r.done() => None,
                1 => Some((r.rest(), (at != 0).then_some(at))),
                _ => return None,
            };
            Some(Frame::Key(KeyUpdate {
                epoch,
                db,
                key,
                value,
            }))
        }
        b'D' => {
            let epoch = r.u64()?;
            let op = r.u8()?;
            let (a, b) = (r.u32()?, r.u32()?);
            let change = match op {
                0 => DbChange::Flush(a),
                1 => DbChange::Swap(a, b),
                _ => return None,
            };
            r.done().then_some(Frame::Db(epoch, change))
        }
        b'S' => {
            let target = r.node()?;
            let from = r.node()?;
            let rank = r.u64()?;
            let epoch = r.u64()?;
            let from_rank = r.u64()?;
            let index = r.u32()?;
            let last = match r.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let n = r.u32()? as usize;
            if n > r.buf.len() / SNAP_ENTRY_OVERHEAD {
                return None;
            }
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let db = r.u32()?;
                let klen = r.u32()? as usize;
                let key = r.take(klen)?;
                let at = r.u64()?;
                let vlen = r.u32()? as usize;
                let value = r.take(vlen)?;
                entries.push((db, key, value, (at != 0).then_some(at)));
            }
            if !r.done() {
                return None;
            }
            Some(Frame::Snapshot(Snapshot {
                target,
                from,
                rank,
                epoch,
                from_rank,
                index,
                last,
                entries,
            }))
        }
        b'F' => {
            let db = r.u32()?;
            let resp3 = match r.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let ulen = r.u32()? as usize;
            let user = r.take(ulen)?;
            // Each count or length takes 4 bytes, so a count larger than
            // the frame allows is malformed, not a huge allocation.
            let most = r.buf.len() / 4;
            let n = r.u32()? as usize;
            if n > most {
                return None;
            }
            let mut commands = Vec::with_capacity(n);
            for _ in 0..n {
                let argc = r.u32()? as usize;
                if argc > most {
                    return None;
                }
                let mut args = Vec::with_capacity(argc);
                for _ in 0..argc {
                    let len = r.u32()? as usize;
                    args.push(r.take(len)?);
                }
                commands.push(args);
            }
            r.done().then_some(Frame::Forward(Forwarded {
                db,
                resp3,
                user,
                commands,
            }))
        }
        b'B' => {
            let node = r.node()?;
            r.done().then_some(Frame::Bye(node))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_any_bytes() {
        let long = vec![b'x'; 3000];
        let names: [&[u8]; 8] = [
            b"",
            b"a.b.c",
            b"*",
            b">",
            b"with space",
            b"cr\r\nlf",
            b"\x00\xff",
            &long,
        ];
        for name in names {
            for payload in [&b""[..], b"\x00\r\n\xff", b"hello"] {
                for kind in [Kind::Channel, Kind::Shard] {
                    let f = encode_message(kind, name, payload, 0x0102_0304_0506_0708);
                    assert_eq!(f.len(), MESSAGE_OVERHEAD + name.len() + payload.len());
                    assert_eq!(
                        decode(f),
                        Some(Frame::Message(Message {
                            kind,
                            channel: Bytes::copy_from_slice(name),
                            payload: Bytes::copy_from_slice(payload),
                            sent_us: 0x0102_0304_0506_0708,
                        }))
                    );
                }
            }
        }
    }

    #[test]
    fn reports_split_into_chunks_and_round_trip() {
        let entries: Vec<(Table, Bytes, u32)> = (0..100u32)
            .map(|i| {
                let t = [Table::Channel, Table::Shard, Table::Pattern][i as usize % 3];
                (t, Bytes::from(format!("name-{i}")), i + 1)
            })
            .collect();
        let chunks = encode_report("node1", 7, (3, 9, 3), &entries, REPORT_HEADER_MAX + 200);
        assert!(chunks.len() > 1);
        let mut back = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            assert!(c.len() <= REPORT_HEADER_MAX + 200);
            let Some(Frame::Report(r)) = decode(c.clone()) else {
                panic!("chunk {i} did not decode");
            };
            assert_eq!(
                (r.node.as_str(), r.seq, r.index, r.rank, r.epoch, r.claim),
                ("node1", 7, i as u32, 3, 9, 3)
            );
            assert_eq!(r.count as usize, chunks.len());
            back.extend(r.entries);
        }
        assert_eq!(back, entries);
    }

    #[test]
    fn an_empty_report_is_one_chunk_and_oversized_names_are_left_out() {
        let chunks = encode_report("n", 1, (0, 1, 0), &[], 1024);
        assert_eq!(chunks.len(), 1);
        let huge = (Table::Channel, Bytes::from(vec![b'x'; 2000]), 1);
        let small = (Table::Pattern, Bytes::from_static(b"p*"), 2);
        let chunks = encode_report("n", 2, (0, 1, 0), &[huge, small.clone()], 1024);
        let Some(Frame::Report(r)) = decode(chunks[0].clone()) else {
            panic!("no report");
        };
        assert_eq!(r.entries, vec![small]);
    }

    #[test]
    fn malformed_frames_are_refused() {
        let good = encode_message(Kind::Channel, b"chan", b"x", now_us());
        for cut in 0..MESSAGE_OVERHEAD + 4 {
            assert_eq!(decode(good.slice(..cut)), None, "cut at {cut}");
        }
        assert_eq!(
            decode(Bytes::from_static(b"T\x07\0\0\0\0\0\0\0\0\0\0\0\0")),
            None
        );
        assert_eq!(decode(Bytes::from_static(b"Z")), None);
        // The untimed frame of older nodes.
        assert_eq!(decode(Bytes::from_static(b"M\0\0\0\0\x01cx")), None);
        let r = encode_report(
            "n",
            1,
            (0, 1, 0),
            &[(Table::Channel, Bytes::from_static(b"c"), 1)],
            512,
        );
        assert_eq!(decode(r[0].slice(..r[0].len() - 1)), None);
        assert_eq!(decode(encode_bye("n1")), Some(Frame::Bye("n1".into())));
    }
    #[test]
    fn key_frames_round_trip_and_refuse_truncation() {
        let frames = [
            encode_key(5, 3, b"k\x00", Some((b"v\r\n", Some(123)))),
            encode_key(5, 0, b"", Some((b"", None))),
            encode_key(6, 1, b"gone", None),
            encode_db(7, DbChange::Swap(1, 2)),
            encode_db(8, DbChange::Flush(7)),
            encode_snapshot(
                "n2",
                "n1",
                (4, 9, 0),
                1,
                true,
                &[(0, Bytes::from_static(b"a"), Bytes::from_static(b"1"), None)],
            ),
            encode_forward(
                2,
                true,
                b"alice",
                &[&[Bytes::from_static(b"INCR"), Bytes::new()], &[]],
            ),
        ];
        let expected = [
            Frame::Key(KeyUpdate {
                epoch: 5,
                db: 3,
                key: Bytes::from_static(b"k\x00"),
                value: Some((Bytes::from_static(b"v\r\n"), Some(123))),
            }),
            Frame::Key(KeyUpdate {
                epoch: 5,
                db: 0,
                key: Bytes::new(),
                value: Some((Bytes::new(), None)),
            }),
            Frame::Key(KeyUpdate {
                epoch: 6,
                db: 1,
                key: Bytes::from_static(b"gone"),
                value: None,
            }),
            Frame::Db(7, DbChange::Swap(1, 2)),
            Frame::Db(8, DbChange::Flush(7)),
            Frame::Snapshot(Snapshot {
                target: "n2".into(),
                from: "n1".into(),
                rank: 4,
                epoch: 9,
                from_rank: 0,
                index: 1,
                last: true,
                entries: vec![(0, Bytes::from_static(b"a"), Bytes::from_static(b"1"), None)],
            }),
            Frame::Forward(Forwarded {
                db: 2,
                resp3: true,
                user: Bytes::from_static(b"alice"),
                commands: vec![vec![Bytes::from_static(b"INCR"), Bytes::new()], vec![]],
            }),
        ];
        for (f, e) in frames.iter().zip(expected) {
            assert_eq!(decode(f.clone()), Some(e));
        }
        // Cut anywhere inside its fixed part or a counted field, a frame is
        // refused (a key update's value runs to the end, so it is checked
        // up to its header only).
        for (f, fixed) in [(&frames[2], frames[2].len()), (&frames[0], 28)] {
            for cut in 0..fixed {
                assert_eq!(decode(f.slice(..cut)), None, "cut at {cut}");
            }
        }
        for f in &frames[3..] {
            for cut in 0..f.len() {
                assert_eq!(decode(f.slice(..cut)), None, "cut at {cut}");
            }
        }
        assert_eq!(
            decode(Bytes::from_static(
                b"F\0\0\0\0\0\0\0\0\0\0\0\0\x01\xff\xff\xff\xff"
            )),
            None
        );
    }
}

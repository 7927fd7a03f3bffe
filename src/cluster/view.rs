//! What the other nodes last reported: their subscriber counts, summed
//! over the live peers, for PUBLISH's reply and PUBSUB's answers.
//!
//! A peer's table is replaced whole when all chunks of one of its reports
//! have arrived (in order: NATS keeps one connection's order); a report
//! missing a chunk (a reconnect in between) is discarded and the next one
//! replaces the table. A peer not heard from for [`super::PEER_TTL`] is
//! dropped with its counts.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;

use super::wire::{Entry, Report, Table};
use crate::glob::glob_match;

/// Most peers remembered at once; reports from more are ignored (and
/// counted), so a misconfigured NATS account cannot grow this without bound.
pub const PEERS_MAX: usize = 256;

/// Most entries one peer's report may have; a larger report is discarded
/// (and counted). A node with more distinct channels plus patterns than
/// this is not counted on the others.
pub const PEER_ENTRIES_MAX: usize = 1_000_000;

/// A node's part in key ownership, as it last reported (see
/// [`super::keys`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// Its rank, or [`super::keys::UNSYNCED`].
    pub rank: u64,
    /// The epoch of the copy it holds, or last held.
    pub epoch: u64,
    /// The rank it last held ([`super::keys::UNSYNCED`] if none).
    pub claim: u64,
}

/// One peer's state.
struct Peer {
    last_seen: Instant,
    /// Its part in key ownership, as it last reported.
    standing: Standing,
    table: Vec<Entry>,
    /// A report being assembled: its sequence, the next chunk expected, and
    /// the entries so far.
    partial: Option<(u64, u32, Vec<Entry>)>,
}

/// The other nodes' counts.
#[derive(Default)]
pub struct RemoteView {
    peers: HashMap<String, Peer>,
    totals: HashMap<(Table, Bytes), u64>,
    /// Distinct remote patterns with their summed counts, for PUBLISH.
    patterns: Vec<(Bytes, u64)>,
    /// Reports dropped: too many peers, too many entries, or a chunk out of
    /// order.
    pub discarded: u64,
}

/// `node`'s entry, made if new, stamped as heard from at `now` with
/// `standing`.
fn heard(
    peers: &mut HashMap<String, Peer>,
    node: String,
    standing: Standing,
    now: Instant,
) -> &mut Peer {
    let peer = peers.entry(node).or_insert_with(|| Peer {
        last_seen: now,
        standing,
        table: Vec::new(),
        partial: None,
    });
    peer.last_seen = now;
    peer.standing = standing;
    peer
}

impl RemoteView {
    /// An empty view.
    pub fn new() -> RemoteView {
        RemoteView::default()
    }

    fn apply(&mut self, table: &[Entry], add: bool) {
        for (t, name, n) in table {
            let key = (*t, name.clone());
            let n = u64::from(*n);
            if add {
                *self.totals.entry(key).or_insert(0) += n;
            } else if let Some(v) = self.totals.get_mut(&key) {
                *v = v.saturating_sub(n);
                if *v == 0 {
                    self.totals.remove(&key);
                }
            }
        }
    }

    fn rebuild_patterns(&mut self) {
        self.patterns = self
            .totals
            .iter()
            .filter(|((t, _), _)| *t == Table::Pattern)
            .map(|((_, name), n)| (name.clone(), *n))
            .collect();
    }

    /// Takes one report chunk received at `now`.
    pub fn receive(&mut self, report: Report, now: Instant) {
        if !self.peers.contains_key(&report.node) && self.peers.len() >= PEERS_MAX {
            self.discarded += 1;
            return;
        }
        let standing = Standing {
            rank: report.rank,
            epoch: report.epoch,
            claim: report.claim,
        };
        let peer = heard(&mut self.peers, report.node, standing, now);
        let mut partial = match peer.partial.take() {
            _ if report.index == 0 => (report.seq, 0, Vec::new()),
            Some(p) if p.0 == report.seq && p.1 == report.index => p,
            _ => {
                self.discarded += 1;
                return;
            }
        };
        if partial.2.len() + report.entries.len() > PEER_ENTRIES_MAX {
            self.discarded += 1;
            return;
        }
        partial.2.extend(report.entries);
        partial.1 += 1;
        if partial.1 < report.count {
            peer.partial = Some(partial);
            return;
        }
        let old = std::mem::replace(&mut peer.table, partial.2);
        let new = peer.table.clone();
        self.apply(&old, false);
        self.apply(&new, true);
        self.rebuild_patterns();
    }

    /// Takes `node`'s standing from something other than a report (the
    /// snapshot it sent), so the owner a node copied from counts as live
    /// before its next report comes.
    pub fn note(&mut self, node: &str, standing: Standing, now: Instant) {
        if !self.peers.contains_key(node) && self.peers.len() >= PEERS_MAX {
            return;
        }
        heard(&mut self.peers, node.to_string(), standing, now);
    }

    /// Forgets `node` and its counts (it said goodbye).
    pub fn remove(&mut self, node: &str) {
        if let Some(p) = self.peers.remove(node) {
            self.apply(&p.table, false);
            self.rebuild_patterns();
        }
    }

    /// Forgets every peer last heard from before `cutoff`.
    pub fn expire(&mut self, cutoff: Instant) {
        let dead: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| p.last_seen < cutoff)
            .map(|(k, _)| k.clone())
            .collect();
        for node in dead {
            self.remove(&node);
        }
    }

    /// Number of live peers.
    pub fn peers(&self) -> usize {
        self.peers.len()
    }

    /// Every live peer with its standing as it last reported.
    pub fn standings(&self) -> impl Iterator<Item = (&str, Standing)> {
        self.peers.iter().map(|(id, p)| (id.as_str(), p.standing))
    }

    /// Remote subscribers of `name` in `table` (patterns not included).
    pub fn count(&self, table: Table, name: &[u8]) -> u64 {
        self.totals
            .get(&(table, Bytes::copy_from_slice(name)))
            .copied()
            .unwrap_or(0)
    }

    /// Remote receivers of a PUBLISH to `channel`: its subscribers plus one
    /// per (matching pattern, subscriber), as PUBLISH counts locally.
    pub fn receivers(&self, table: Table, channel: &[u8]) -> u64 {
        let mut n = self.count(table, channel);
        if table == Table::Channel {
            for (p, c) in &self.patterns {
                if glob_match(p, channel, false) {
                    n += c;
                }
            }
        }
        n
    }

    /// Names in `table` with at least one remote subscriber.
    pub fn names(&self, table: Table) -> impl Iterator<Item = &Bytes> {
        self.totals
            .keys()
            .filter(move |(t, _)| *t == table)
            .map(|(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(node: &str, seq: u64, index: u32, count: u32, e: &[(Table, &str, u32)]) -> Report {
        Report {
            node: node.into(),
            seq,
            index,
            count,
            rank: 0,
            epoch: 1,
            claim: 0,
            entries: e
                .iter()
                .map(|(t, n, c)| (*t, Bytes::copy_from_slice(n.as_bytes()), *c))
                .collect(),
        }
    }

    #[test]
    fn counts_sum_over_peers_and_follow_the_latest_report() {
        let now = Instant::now();
        let mut v = RemoteView::new();
        v.receive(report("a", 1, 0, 1, &[(Table::Channel, "ch", 2)]), now);
        v.receive(
            report(
                "b",
                1,
                0,
                1,
                &[(Table::Channel, "ch", 1), (Table::Pattern, "c*", 3)],
            ),
            now,
        );
        assert_eq!(v.count(Table::Channel, b"ch"), 3);
        assert_eq!(v.receivers(Table::Channel, b"ch"), 6);
        assert_eq!(v.receivers(Table::Shard, b"ch"), 0);
        assert_eq!(v.peers(), 2);
        v.receive(report("a", 2, 0, 1, &[]), now);
        assert_eq!(v.count(Table::Channel, b"ch"), 1);
        v.remove("b");
        assert_eq!(v.receivers(Table::Channel, b"ch"), 0);
        assert_eq!(v.names(Table::Channel).count(), 0);
    }

    #[test]
    fn a_report_counts_only_once_all_its_chunks_arrived_in_order() {
        let now = Instant::now();
        let mut v = RemoteView::new();
        v.receive(report("a", 5, 0, 2, &[(Table::Shard, "s", 1)]), now);
        assert_eq!(v.count(Table::Shard, b"s"), 0, "half a report");
        v.receive(report("a", 5, 1, 2, &[(Table::Shard, "t", 1)]), now);
        assert_eq!(v.count(Table::Shard, b"s") + v.count(Table::Shard, b"t"), 2);
        // A chunk of another report in the middle: discarded, old table kept.
        v.receive(report("a", 6, 0, 2, &[]), now);
        v.receive(report("a", 7, 1, 2, &[]), now);
        assert_eq!(v.discarded, 1);
        assert_eq!(v.count(Table::Shard, b"s"), 1);
    }

    #[test]
    fn silent_peers_expire_with_their_counts() {
        let start = Instant::now();
        let mut v = RemoteView::new();
        v.receive(report("a", 1, 0, 1, &[(Table::Channel, "x", 4)]), start);
        let later = start + Duration::from_secs(2);
        v.receive(report("b", 1, 0, 1, &[(Table::Channel, "x", 1)]), later);
        v.expire(start + Duration::from_secs(1));
        assert_eq!(v.peers(), 1);
        assert_eq!(v.count(Table::Channel, b"x"), 1);
    }
}

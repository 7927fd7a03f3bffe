//! The pattern subscription index.
//!
//! A naive server tests every subscribed pattern against every published
//! channel, so publish cost grows with the number of unrelated patterns.
//! Here patterns are bucketed by their literal prefix (the bytes before the
//! first `*`, `?`, `[` or `\`): a pattern can only match channels that start
//! with its prefix, so a publish looks up just the prefixes of its channel,
//! one hash lookup per distinct prefix length in use, and runs the full glob
//! only on patterns in those buckets.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use crate::client::Client;
use crate::glob::glob_match;

pub use crate::pubsub::subscribers::Subscribers;

/// Pattern subscriptions, bucketed by literal prefix.
#[derive(Default)]
pub struct PatternIndex {
    /// prefix → pattern → subscribers.
    buckets: HashMap<Bytes, HashMap<Bytes, Subscribers>>,
    /// Distinct prefix lengths in use, with how many patterns have each.
    prefix_lens: BTreeMap<usize, usize>,
    /// Number of distinct patterns (PUBSUB NUMPAT).
    count: usize,
}

/// The literal bytes a pattern's matches must start with.
pub fn literal_prefix(pattern: &[u8]) -> &[u8] {
    let end = pattern
        .iter()
        .position(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
        .unwrap_or(pattern.len());
    &pattern[..end]
}

impl PatternIndex {
    /// An empty index.
    pub fn new() -> PatternIndex {
        PatternIndex::default()
    }

    /// Number of distinct subscribed patterns.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no pattern is subscribed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds `client` to `pattern`; returns false if it was already there.
    pub fn insert(&mut self, pattern: Bytes, client: &Arc<Client>) -> bool {
        let prefix = Bytes::copy_from_slice(literal_prefix(&pattern));
        let plen = prefix.len();
        let bucket = self.buckets.entry(prefix).or_default();
        let subs = match bucket.get_mut(&pattern) {
            Some(subs) => subs,
            None => {
                self.count += 1;
                *self.prefix_lens.entry(plen).or_insert(0) += 1;
                bucket.entry(pattern).or_default()
            }
        };
        subs.insert(client)
    }

    /// Removes client `id` from `pattern`; returns false if it was not there.
    /// A pattern with no subscribers left disappears.
    pub fn remove(&mut self, pattern: &[u8], id: u64) -> bool {
        let prefix = literal_prefix(pattern);
        let Some(bucket) = self.buckets.get_mut(prefix) else {
            return false;
        };
        let Some(subs) = bucket.get_mut(pattern) else {
            return false;
        };
        if !subs.remove(id) {
            return false;
        }
        if subs.is_empty() {
            bucket.remove(pattern);
            self.count -= 1;
            if let Some(n) = self.prefix_lens.get_mut(&prefix.len()) {
                *n -= 1;
                if *n == 0 {
                    self.prefix_lens.remove(&prefix.len());
                }
            }
            if bucket.is_empty() {
                self.buckets.remove(prefix);
            }
        }
        true
    }

    /// Every pattern with its number of subscribers.
    pub fn counts(&self) -> Vec<(Bytes, usize)> {
        self.buckets
            .values()
            .flat_map(|b| b.iter().map(|(p, subs)| (p.clone(), subs.len())))
            .collect()
    }

    /// Calls `f(pattern, subscribers)` for every subscribed pattern.
    pub fn for_each<'s>(&'s self, mut f: impl FnMut(&'s Bytes, &'s Subscribers)) {
        for bucket in self.buckets.values() {
            for (pattern, subs) in bucket {
                f(pattern, subs);
            }
        }
    }

    /// Calls `f(pattern, subscribers)` for every pattern matching `channel`.
    pub fn for_each_match<'s>(
        &'s self,
        channel: &[u8],
        mut f: impl FnMut(&'s Bytes, &'s Subscribers),
    ) {
        for &plen in self.prefix_lens.keys() {
            if plen > channel.len() {
                break;
            }
            if let Some(bucket) = self.buckets.get(&channel[..plen]) {
                for (pattern, subs) in bucket {
                    if glob_match(pattern, channel, false) {
                        f(pattern, subs);
                    }
                }
            }
        }
    }
}

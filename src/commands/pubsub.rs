//! PUBSUB CHANNELS | NUMSUB | NUMPAT | SHARDCHANNELS | SHARDNUMSUB | HELP
//!
//! In cluster mode the answers cover every node: local subscriptions plus
//! what the other nodes last reported (see `src/cluster/`).

use bytes::Bytes;

use super::help_reply;
use crate::cluster::wire::Table;
use crate::protocol::{Args, Reply};
use crate::pubsub::Kind;
use crate::session::Session;

fn list(s: &Session, kind: Kind, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return super::error_quoting(
            "ERR unknown subcommand or wrong number of arguments for '",
            &args[1],
            usize::MAX,
            "'. Try PUBSUB HELP.",
        );
    }
    let pattern = args.get(2).map(|p| &p[..]);
    let mut names = s.shared.registry.channels(kind, pattern);
    if let Some(link) = s.shared.cluster.get() {
        let local: std::collections::HashSet<Bytes> = names.iter().cloned().collect();
        names.extend(
            link.remote_names(Table::of(kind))
                .into_iter()
                .filter(|n| !local.contains(n))
                .filter(|n| pattern.is_none_or(|p| crate::glob::glob_match(p, n, false))),
        );
    }
    Reply::bulks(names)
}

fn counts(s: &Session, kind: Kind, args: &[Bytes]) -> Reply {
    let mut out = Vec::with_capacity((args.len() - 2) * 2);
    for ch in &args[2..] {
        out.push(Reply::Bulk(ch.clone()));
        let remote = s
            .shared
            .cluster
            .get()
            .map_or(0, |link| link.remote_numsub(kind, ch));
        out.push(Reply::Int(
            (s.shared.registry.numsub(kind, ch) + remote) as i64,
        ));
    }
    Reply::Array(out)
}

/// Active channels, optionally only those matching a pattern.
pub fn channels(s: &mut Session, args: &Args) -> Reply {
    list(s, Kind::Channel, args)
}

/// `channel, count` pairs for the named channels.
pub fn numsub(s: &mut Session, args: &Args) -> Reply {
    counts(s, Kind::Channel, args)
}

/// Number of distinct subscribed patterns.
pub fn numpat(s: &mut Session, _args: &Args) -> Reply {
    let Some(link) = s.shared.cluster.get() else {
        return Reply::Int(s.shared.registry.pattern_count() as i64);
    };
    // Distinct patterns over the whole cluster.
    let mut all: std::collections::HashSet<Bytes> = s
        .shared
        .registry
        .pattern_counts()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    all.extend(link.remote_names(Table::Pattern));
    Reply::Int(all.len() as i64)
}

/// Active shard channels, optionally only those matching a pattern.
pub fn shardchannels(s: &mut Session, args: &Args) -> Reply {
    list(s, Kind::Shard, args)
}

/// `shardchannel, count` pairs.
pub fn shardnumsub(s: &mut Session, args: &Args) -> Reply {
    counts(s, Kind::Shard, args)
}

/// The subcommand list.
pub fn help(_s: &mut Session, _args: &Args) -> Reply {
    help_reply(
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    List the channels that have at least one subscriber, optionally only those matching <pattern>.",
            "NUMPAT",
            "    Count the distinct patterns clients are subscribed to.",
            "NUMSUB [<channel> ...]",
            "    Give the number of subscribers of each channel named (patterns not included).",
            "SHARDCHANNELS [<pattern>]",
            "    List the shard channels that have at least one subscriber, optionally only those matching <pattern>.",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Give the number of subscribers of each shard channel named.",
        ],
    )
}

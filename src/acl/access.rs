//! Which arguments of a command are keys and channels, for the ACL check
//! (Redis reads this from its key specs; pubsubd's commands are few enough
//! to list).

use std::borrow::Cow;

use bytes::Bytes;

/// Keys as (argument position, read access, write access).
pub type Keys = Cow<'static, [(usize, bool, bool)]>;
/// Channels as (argument position, PSUBSCRIBE pattern).
pub type Channels = Cow<'static, [(usize, bool)]>;

const READ1: &[(usize, bool, bool)] = &[(1, true, false)];
const WRITE1: &[(usize, bool, bool)] = &[(1, false, true)];
const READ_WRITE1: &[(usize, bool, bool)] = &[(1, true, true)];
/// Key commands that only look at a key's metadata (Redis's key specs give
/// them neither read nor write access: any matching pattern allows them).
const META1: &[(usize, bool, bool)] = &[(1, false, false)];

/// The keys command `name` (a top-level name) names in `args`, for the
/// commands the key-spec table does not describe. A command flagged as
/// reading or writing data that is not listed here is taken to name one key,
/// its first argument (`data_flags`: reads, writes), so no data command goes
/// unchecked.
pub fn keys(name: &str, args: &[Bytes], data_flags: (bool, bool)) -> Keys {
    let all_from = |first: usize, step: usize, read: bool, write: bool| -> Keys {
        Cow::Owned(
            (first..args.len())
                .step_by(step)
                .map(|p| (p, read, write))
                .collect(),
        )
    };
    match name {
        "get" => Cow::Borrowed(READ1),
        "set" => {
            // SET ... GET reads the old value too.
            let get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            Cow::Borrowed(if get { READ_WRITE1 } else { WRITE1 })
        }
        "setex" | "psetex" | "setnx" | "append" | "expire" | "pexpire" | "expireat"
        | "pexpireat" | "persist" => Cow::Borrowed(WRITE1),
        "getdel" | "incr" | "incrby" | "decr" | "decrby" | "getex" | "getset" | "incrbyfloat"
        | "move" => Cow::Borrowed(READ_WRITE1),
        "getrange" | "substr" | "getbit" | "bitcount" | "bitpos" => Cow::Borrowed(READ1),
        "setrange" | "setbit" => Cow::Borrowed(WRITE1),
        "strlen" | "type" | "ttl" | "pttl" | "expiretime" | "pexpiretime" => Cow::Borrowed(META1),
        // OBJECT ENCODING key, MEMORY USAGE key: metadata of the key after
        // the subcommand.
        "object" | "memory" if args.len() > 2 => Cow::Owned(vec![(2, false, false)]),
        "mget" => all_from(1, 1, true, false),
        "lcs" => Cow::Owned(vec![(1, true, false), (2, true, false)]),
        "exists" | "watch" | "touch" => all_from(1, 1, false, false),
        "del" | "unlink" => all_from(1, 1, false, true),
        "mset" | "msetnx" => all_from(1, 2, false, true),
        "rename" | "renamenx" => Cow::Owned(vec![(1, true, true), (2, false, true)]),
        "copy" => Cow::Owned(vec![(1, true, false), (2, false, true)]),
        "bitop" => {
            let mut keys = vec![(2, false, true)];
            keys.extend((3..args.len()).map(|p| (p, true, false)));
            Cow::Owned(keys)
        }
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" => {
            let n = args
                .get(2)
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(0);
            let end = 3usize.saturating_add(n).min(args.len());
            let ro = name.ends_with("_ro");
            Cow::Owned((3..end).map(|p| (p, true, !ro)).collect())
        }
        _ => match data_flags {
            (false, false) => Cow::Borrowed(&[]),
            (read, write) => Cow::Owned(vec![(1, read, write)]),
        },
    }
}

/// The channels command `name` (a top-level name) names in `args`: those
/// PUBLISH and SUBSCRIBE use (UNSUBSCRIBE and PUBSUB are not checked, as in
/// Redis).
pub fn channels(name: &str, args: &[Bytes]) -> Channels {
    match name {
        "publish" | "spublish" => Cow::Borrowed(&[(1, false)]),
        "subscribe" | "ssubscribe" => Cow::Owned((1..args.len()).map(|p| (p, false)).collect()),
        "psubscribe" => Cow::Owned((1..args.len()).map(|p| (p, true)).collect()),
        _ => Cow::Borrowed(&[]),
    }
}

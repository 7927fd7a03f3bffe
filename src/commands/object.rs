//! OBJECT (ENCODING, REFCOUNT, IDLETIME, FREQ, HELP) and MEMORY (USAGE,
//! HELP): how a key's value is held, reported in Redis's terms. They
//! inspect a key without counting as an access to it.

use bytes::Bytes;

use super::{help_reply, is, parse_i64, syntax_error};
use crate::keyspace::{Entry, now_ms};
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// The live entry OBJECT and MEMORY report on, without touching its access
/// time.
fn inspect(s: &mut Session, key: &[u8]) -> Result<Option<Entry>, Reply> {
    let db = s.db;
    let now = now_ms();
    s.keyspace_value(|ks| ks.inspect(db, key, now))
}

/// Runs `f` on the entry at `args[2]`, or answers nil when there is none.
fn with_entry(s: &mut Session, args: &Args, f: impl FnOnce(&Entry) -> Reply) -> Reply {
    match inspect(s, &args[2]) {
        Ok(Some(e)) => f(&e),
        Ok(None) => Reply::Nil,
        Err(e) => e,
    }
}

/// OBJECT ENCODING key: `int`, `embstr` or `raw`.
pub fn encoding(s: &mut Session, args: &Args) -> Reply {
    with_entry(s, args, |e| {
        Reply::Bulk(Bytes::from_static(e.encoding().as_bytes()))
    })
}

/// OBJECT REFCOUNT key
pub fn refcount(s: &mut Session, args: &Args) -> Reply {
    with_entry(s, args, |e| Reply::Int(e.refcount()))
}

/// OBJECT IDLETIME key: whole seconds since a command last used the key.
pub fn idletime(s: &mut Session, args: &Args) -> Reply {
    let now = now_ms();
    with_entry(s, args, |e| {
        Reply::Int((now.saturating_sub(e.accessed_ms) / 1000) as i64)
    })
}

/// OBJECT FREQ key: Redis tracks access frequency only under an LFU
/// `maxmemory-policy`; pubsubd never evicts, so it answers as Redis does
/// without one.
pub fn freq(s: &mut Session, args: &Args) -> Reply {
    with_entry(s, args, |_| {
        Reply::error(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
             Please note that when switching between policies at runtime LRU and LFU data \
             will take some time to adjust.",
        )
    })
}

/// OBJECT HELP
pub fn object_help(_s: &mut Session, _args: &Args) -> Reply {
    help_reply(
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Name the internal representation of the value at <key>.",
            "FREQ <key>",
            "    The logarithmic access frequency counter of <key> (LFU policies only).",
            "IDLETIME <key>",
            "    Seconds since <key> was last read or written.",
            "REFCOUNT <key>",
            "    How many references the value at <key> has.",
        ],
    )
}

/// Bytes jemalloc hands out for a request of `n` bytes: 8, then multiples
/// of 16 up to 128, then four size classes per doubling. MEMORY USAGE
/// counts allocations this way, as Redis (built with jemalloc) does.
fn alloc_size(n: u64) -> u64 {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.div_ceil(16) * 16;
    }
    let k = 63 - (n - 1).leading_zeros();
    let spacing = 1u64 << (k - 2);
    n.div_ceil(spacing) * spacing
}

/// Header bytes of Redis's sds string type for a string of `len` bytes
/// (keys use the smallest type that fits).
fn sds_header(len: u64) -> u64 {
    match len {
        0..32 => 1,
        32..256 => 3,
        256..65_536 => 5,
        65_536..4_294_967_296 => 9,
        _ => 17,
    }
}

/// Bytes of Redis's object header (`robj`).
const ROBJ: u64 = 16;
/// Bytes of Redis's hash table entry for a key.
const DICT_ENTRY: u64 = 24;

/// MEMORY USAGE's estimate for one string key: its name, its hash table
/// entry and its value, sized as Redis would allocate them. A value grown
/// in place (APPEND, SETRANGE, SETBIT) is counted at its length: the spare
/// room Redis reserves when it grows a string is not.
fn usage(key: &[u8], e: &Entry) -> u64 {
    let klen = key.len() as u64;
    let vlen = e.value.len() as u64;
    let key_bytes = alloc_size(sds_header(klen) + klen + 1);
    let value_bytes = match e.encoding() {
        "int" => ROBJ,
        // The header, a one-byte-length sds header and the bytes, in one
        // allocation.
        "embstr" => alloc_size(ROBJ + 3 + vlen + 1),
        _ => ROBJ + alloc_size(sds_header(vlen) + vlen + 1),
    };
    key_bytes + DICT_ENTRY + value_bytes
}

/// MEMORY USAGE key [SAMPLES count]: bytes the key and its value take
/// (a string has no nested values, so SAMPLES is checked but has no
/// effect); nil for a missing key.
pub fn memory_usage(s: &mut Session, args: &Args) -> Reply {
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "samples") && i + 1 < args.len() {
            match parse_i64(&args[i + 1]) {
                Ok(n) if n < 0 => return syntax_error(),
                Ok(_) => {}
                Err(e) => return e,
            }
            i += 2;
        } else {
            return syntax_error();
        }
    }
    let key = args[2].clone();
    with_entry(s, args, |e| Reply::Int(usage(&key, e) as i64))
}

/// MEMORY HELP
pub fn memory_help(_s: &mut Session, _args: &Args) -> Reply {
    help_reply(
        "MEMORY",
        &[
            "USAGE <key> [SAMPLES <count>]",
            "    Bytes taken by <key> and its value.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_follow_jemalloc() {
        let cases = [
            (1, 8),
            (9, 16),
            (100, 112),
            (129, 160),
            (257, 320),
            (4097, 5120),
        ];
        for (n, want) in cases {
            assert_eq!(alloc_size(n), want, "{n}");
        }
    }
}

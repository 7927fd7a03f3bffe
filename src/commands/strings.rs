//! String commands: GET, SET, SETEX, PSETEX, SETNX, GETDEL, GETEX, GETSET,
//! MGET, MSET, MSETNX, INCR, INCRBY, DECR, DECRBY, INCRBYFLOAT, APPEND,
//! STRLEN, SETRANGE, GETRANGE (SUBSTR) and LCS.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};

use super::float80::{self, LongDouble};
use super::{OOM, is, parse_i64, syntax_error, wrong_arity};
use crate::keyspace::{Form, Keyspace, class, now_ms};
use crate::protocol::{Args, Reply};
use crate::session::Session;
use crate::shared::Shared;

/// GET key
pub fn get(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| match ks.lookup(db, &args[1], now) {
        Some(e) => Reply::Bulk(e.value),
        None => Reply::Nil,
    })
}

/// What SET's options asked for.
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    /// Absolute expiry in ms, if any.
    expires_at: Option<u64>,
}

/// Parses an expiry argument into an absolute Unix time in ms.
fn expiry(arg: &[u8], unit_ms: i64, absolute: bool, now: u64, cmd: &str) -> Result<u64, Reply> {
    let n = parse_i64(arg)?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let ms = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(now as i64).ok_or_else(invalid)?
    };
    u64::try_from(at).map_err(|_| invalid())
}

/// Parses `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT n|KEEPTTL]`.
fn set_options(args: &[Bytes], now: u64) -> Result<SetOptions, Reply> {
    let mut o = SetOptions {
        nx: false,
        xx: false,
        get: false,
        keep_ttl: false,
        expires_at: None,
    };
    let mut expiry_given = false;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        let next = args.get(i + 1);
        if is(a, "nx") && !o.xx {
            o.nx = true;
        } else if is(a, "xx") && !o.nx {
            o.xx = true;
        } else if is(a, "get") {
            o.get = true;
        } else if is(a, "keepttl") && !expiry_given {
            o.keep_ttl = true;
            expiry_given = true;
        } else if !expiry_given && !o.keep_ttl && next.is_some() {
            let (unit, absolute) = if is(a, "ex") {
                (1000, false)
            } else if is(a, "px") {
                (1, false)
            } else if is(a, "exat") {
                (1000, true)
            } else if is(a, "pxat") {
                (1, true)
            } else {
                return Err(syntax_error());
            };
            let arg = next.map(|b| &b[..]).unwrap_or_default();
            o.expires_at = Some(expiry(arg, unit, absolute, now, "set")?);
            expiry_given = true;
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    Ok(o)
}

/// SET key value [NX|XX] [GET] [EX seconds|PX ms|EXAT ts|PXAT ms|KEEPTTL]
pub fn set(s: &mut Session, args: &Args) -> Reply {
    let now = now_ms();
    let o = match set_options(args, now) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let db = s.db;
    let (key, value) = (&args[1], &args[2]);
    s.keyspace(|ks| {
        let old = ks.peek(db, key, now);
        if (o.nx && old.is_some()) || (o.xx && old.is_none()) {
            return if o.get {
                old.map_or(Reply::Nil, |e| Reply::Bulk(e.value))
            } else {
                Reply::Nil
            };
        }
        let expires_at = if o.keep_ttl {
            old.as_ref().and_then(|e| e.expires_at)
        } else {
            o.expires_at
        };
        ks.store(db, key, value.clone(), expires_at);
        ks.notify(class::STRING, "set", db, key);
        if o.expires_at.is_some() {
            ks.notify(class::GENERIC, "expire", db, key);
        }
        if o.get {
            old.map_or(Reply::Nil, |e| Reply::Bulk(e.value))
        } else {
            Reply::ok()
        }
    })
}

/// SETEX / PSETEX: set with a relative expiry in `unit_ms`.
fn set_with_expiry(s: &mut Session, args: &[Bytes], unit_ms: i64, cmd: &str) -> Reply {
    let now = now_ms();
    let at = match expiry(&args[2], unit_ms, false, now, cmd) {
        Ok(at) => at,
        Err(e) => return e,
    };
    let db = s.db;
    s.keyspace(|ks| {
        ks.store(db, &args[1], args[3].clone(), Some(at));
        ks.notify(class::STRING, "set", db, &args[1]);
        ks.notify(class::GENERIC, "expire", db, &args[1]);
        Reply::ok()
    })
}

/// SETEX key seconds value
pub fn setex(s: &mut Session, args: &Args) -> Reply {
    set_with_expiry(s, args, 1000, "setex")
}

/// PSETEX key milliseconds value
pub fn psetex(s: &mut Session, args: &Args) -> Reply {
    set_with_expiry(s, args, 1, "psetex")
}

/// SETNX key value: 1 if set, 0 if the key existed.
pub fn setnx(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        if ks.peek(db, &args[1], now).is_some() {
            return Reply::Int(0);
        }
        ks.store(db, &args[1], args[2].clone(), None);
        ks.notify(class::STRING, "set", db, &args[1]);
        Reply::Int(1)
    })
}

/// GETDEL key
pub fn getdel(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| match ks.lookup(db, &args[1], now) {
        Some(e) => {
            ks.delete(db, &args[1], now);
            ks.notify(class::GENERIC, "del", db, &args[1]);
            Reply::Bulk(e.value)
        }
        None => Reply::Nil,
    })
}

/// MGET key [key ...]
pub fn mget(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        Reply::Array(
            args[1..]
                .iter()
                .map(|k| {
                    ks.lookup(db, k, now)
                        .map_or(Reply::Nil, |e| Reply::Bulk(e.value))
                })
                .collect(),
        )
    })
}

/// MSET key value [key value ...]
pub fn mset(s: &mut Session, args: &Args) -> Reply {
    if args.len().is_multiple_of(2) {
        return wrong_arity("mset");
    }
    let db = s.db;
    s.keyspace(|ks| {
        for pair in args[1..].chunks(2) {
            ks.store(db, &pair[0], pair[1].clone(), None);
            ks.notify(class::STRING, "set", db, &pair[0]);
        }
        Reply::ok()
    })
}

/// Adds `by` to the integer at `key` (missing = 0), keeping its TTL.
fn incr_by(s: &mut Session, key: &Bytes, by: i64, event: &'static str) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        let old = ks.peek(db, key, now);
        let current = match &old {
            None => 0,
            Some(e) => match parse_i64(&e.value) {
                Ok(n) => n,
                Err(err) => return err,
            },
        };
        let Some(new) = current.checked_add(by) else {
            return Reply::error("ERR increment or decrement would overflow");
        };
        let ttl = old.and_then(|e| e.expires_at);
        ks.store(db, key, Bytes::from(new.to_string()), ttl);
        ks.notify(class::STRING, event, db, key);
        Reply::Int(new)
    })
}

/// INCR key
pub fn incr(s: &mut Session, args: &Args) -> Reply {
    incr_by(s, &args[1], 1, "incrby")
}

/// DECR key
pub fn decr(s: &mut Session, args: &Args) -> Reply {
    incr_by(s, &args[1], -1, "incrby")
}

/// INCRBY key increment
pub fn incrby(s: &mut Session, args: &Args) -> Reply {
    match parse_i64(&args[2]) {
        Ok(by) => incr_by(s, &args[1], by, "incrby"),
        Err(e) => e,
    }
}

/// DECRBY key decrement
pub fn decrby(s: &mut Session, args: &Args) -> Reply {
    match parse_i64(&args[2]) {
        Ok(by) if by != i64::MIN => incr_by(s, &args[1], -by, "incrby"),
        Ok(_) => Reply::error("ERR decrement would overflow"),
        Err(e) => e,
    }
}

/// APPEND key value: the new length.
pub fn append(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    let max = s
        .shared
        .settings
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    s.keyspace(|ks| {
        let old = ks.peek(db, &args[1], now);
        let mut value = BytesMut::new();
        if let Some(e) = &old {
            value.extend_from_slice(&e.value);
        }
        if (value.len() + args[2].len()) as u64 > max {
            return Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        }
        value.extend_from_slice(&args[2]);
        let len = value.len();
        // A new key holds the argument as given (encoded as SET would); an
        // existing one is extended in place, which Redis leaves `raw`.
        let (ttl, form) = match &old {
            Some(e) => (e.expires_at, Form::Raw),
            None => (None, Form::Encoded),
        };
        ks.store_as(db, &args[1], value.freeze(), ttl, form);
        ks.notify(class::STRING, "append", db, &args[1]);
        Reply::Int(len as i64)
    })
}

/// STRLEN key
pub fn strlen(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        Reply::Int(
            ks.lookup(db, &args[1], now)
                .map_or(0, |e| e.value.len() as i64),
        )
    })
}

/// `proto-max-bulk-len`: the longest string a command may build.
fn max_string_len(s: &Session) -> u64 {
    s.shared.settings.proto_max_bulk_len.load(Ordering::Relaxed)
}

/// Refuses, with Redis's `-OOM`, growing a value from `old_len` to
/// `new_len` bytes when that would take the server past `maxmemory`.
/// Checked before the bytes are allocated, so one SETRANGE or SETBIT at a
/// large offset cannot allocate far beyond the limit (dispatch only checks
/// the memory in use before a command).
pub(super) fn check_growth(
    shared: &Shared,
    ks: &Keyspace,
    old_len: usize,
    new_len: u64,
) -> Result<(), Reply> {
    let max = shared.settings.maxmemory.load(Ordering::Relaxed);
    let growth = new_len.saturating_sub(old_len as u64);
    if max > 0 && growth > 0 && shared.used_memory(ks).saturating_add(growth) > max {
        return Err(Reply::error(OOM));
    }
    Ok(())
}

/// What GETEX was asked to do with the key's expiry.
enum GetexExpiry {
    /// Leave it.
    Keep,
    /// PERSIST: remove it.
    Persist,
    /// EX/PX/EXAT/PXAT: the argument, its unit in ms, and whether it is an
    /// absolute time.
    Set(Bytes, i64, bool),
}

/// Parses GETEX's options as Redis does: one of PERSIST, EX, PX, EXAT,
/// PXAT (repeating the same one is accepted, the last value winning).
fn getex_options(args: &[Bytes]) -> Result<GetexExpiry, Reply> {
    let mut out = GetexExpiry::Keep;
    let mut chosen: Option<&'static str> = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        let next = args.get(i + 1);
        let word = ["persist", "ex", "px", "exat", "pxat"]
            .into_iter()
            .find(|w| is(a, w));
        match word {
            Some(w) if chosen.is_none_or(|c| c == w) => {
                chosen = Some(w);
                if w == "persist" {
                    out = GetexExpiry::Persist;
                } else {
                    let Some(arg) = next else {
                        return Err(syntax_error());
                    };
                    let unit = if w.starts_with('e') { 1000 } else { 1 };
                    out = GetexExpiry::Set(arg.clone(), unit, w.ends_with("at"));
                    i += 1;
                }
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    Ok(out)
}

/// GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]: GET that also sets or
/// removes the expiry.
pub fn getex(s: &mut Session, args: &Args) -> Reply {
    let what = match getex_options(args) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let db = s.db;
    let now = now_ms();
    let key = &args[1];
    s.keyspace(|ks| {
        let Some(e) = ks.lookup(db, key, now) else {
            return Reply::Nil;
        };
        match what {
            GetexExpiry::Keep => {}
            GetexExpiry::Persist => {
                if e.expires_at.is_some() {
                    ks.set_expiry(db, key, None);
                    ks.notify(class::GENERIC, "persist", db, key);
                }
            }
            GetexExpiry::Set(arg, unit, absolute) => {
                let at = match expiry(&arg, unit, absolute, now, "getex") {
                    Ok(at) => at,
                    Err(err) => return err,
                };
                if absolute && at <= now {
                    ks.delete(db, key, now);
                    ks.notify(class::GENERIC, "del", db, key);
                } else {
                    ks.set_expiry(db, key, Some(at));
                    ks.notify(class::GENERIC, "expire", db, key);
                }
            }
        }
        Reply::Bulk(e.value)
    })
}

/// GETSET key value: SET that answers the old value (the TTL is dropped).
pub fn getset(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        let old = ks.lookup(db, &args[1], now);
        ks.store(db, &args[1], args[2].clone(), None);
        ks.notify(class::STRING, "set", db, &args[1]);
        old.map_or(Reply::Nil, |e| Reply::Bulk(e.value))
    })
}

/// MSETNX key value [key value ...]: sets them all only if none exists.
pub fn msetnx(s: &mut Session, args: &Args) -> Reply {
    if args.len().is_multiple_of(2) {
        return wrong_arity("msetnx");
    }
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        let mut any = false;
        for pair in args[1..].chunks(2) {
            any |= ks.peek(db, &pair[0], now).is_some();
        }
        if any {
            return Reply::Int(0);
        }
        for pair in args[1..].chunks(2) {
            ks.store(db, &pair[0], pair[1].clone(), None);
            ks.notify(class::STRING, "set", db, &pair[0]);
        }
        Reply::Int(1)
    })
}

/// Redis's error for a string that would outgrow `proto-max-bulk-len`.
pub(super) fn too_long() -> Reply {
    Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

/// SETRANGE key offset value: overwrites from `offset`, zero-padding, and
/// answers the new length.
pub fn setrange(s: &mut Session, args: &Args) -> Reply {
    let offset = match parse_i64(&args[2]) {
        Ok(n) if n < 0 => return Reply::error("ERR offset is out of range"),
        Ok(n) => n as u64,
        Err(e) => return e,
    };
    let patch = &args[3];
    let max = max_string_len(s);
    let shared = Arc::clone(&s.shared);
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        let old = ks.peek(db, &args[1], now);
        let old_len = old.as_ref().map_or(0, |e| e.value.len());
        if patch.is_empty() {
            return Reply::Int(old_len as i64);
        }
        let end = offset.saturating_add(patch.len() as u64);
        if end > max {
            return too_long();
        }
        if let Err(e) = check_growth(&shared, ks, old_len, end) {
            return e;
        }
        // `end` is at most proto-max-bulk-len, and the growth is within
        // maxmemory: the buffer is bounded by configuration.
        let new_len = old_len.max(end as usize);
        let mut value = BytesMut::zeroed(new_len);
        if let Some(e) = &old {
            value[..old_len].copy_from_slice(&e.value);
        }
        let at = offset as usize;
        value[at..at + patch.len()].copy_from_slice(patch);
        let ttl = old.and_then(|e| e.expires_at);
        ks.store_as(db, &args[1], value.freeze(), ttl, Form::Raw);
        ks.notify(class::STRING, "setrange", db, &args[1]);
        Reply::Int(new_len as i64)
    })
}

/// Clamps a Redis range (`start`/`end` inclusive, negative from the end)
/// to `len` items: the half-open range to use, or None when it is empty.
pub(super) fn clamp_range(start: i64, end: i64, len: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize + 1))
}

/// GETRANGE key start end (and SUBSTR, its old name).
pub fn getrange(s: &mut Session, args: &Args) -> Reply {
    let (start, end) = match (parse_i64(&args[2]), parse_i64(&args[3])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        let Some(e) = ks.lookup(db, &args[1], now) else {
            return Reply::Bulk(Bytes::new());
        };
        match clamp_range(start, end, e.value.len() as i64) {
            Some((a, b)) => Reply::Bulk(e.value.slice(a..b)),
            None => Reply::Bulk(Bytes::new()),
        }
    })
}

/// Bytes from which an INCRBYFLOAT operand is too long to be a valid float
/// (Redis's MAX_LONG_DOUBLE_CHARS buffer, which also holds the NUL); it
/// also bounds the big-number work of parsing one.
const FLOAT_ARG_MAX: usize = 5 * 1024;

/// A value as INCRBYFLOAT reads it (see [`float80::parse`]), shorter than
/// [`FLOAT_ARG_MAX`] bytes.
fn parse_float(b: &[u8]) -> Option<LongDouble> {
    if b.len() >= FLOAT_ARG_MAX {
        return None;
    }
    float80::parse(b)
}

/// INCRBYFLOAT key increment
pub fn incrbyfloat(s: &mut Session, args: &Args) -> Reply {
    let invalid = || Reply::error("ERR value is not a valid float");
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        let old = ks.peek(db, &args[1], now);
        let current = match &old {
            None => LongDouble::Finite {
                neg: false,
                mant: 0,
                exp: 0,
            },
            Some(e) => match parse_float(&e.value) {
                Some(v) => v,
                None => return invalid(),
            },
        };
        let Some(by) = parse_float(&args[2]) else {
            return invalid();
        };
        // Computed in the 80-bit long double arithmetic Redis uses on x86-64,
        // so the stored text is the same.
        let sum = float80::add(current, by);
        if sum == LongDouble::Inf {
            return Reply::error("ERR increment would produce NaN or Infinity");
        }
        let value = Bytes::from(float80::format(sum));
        let ttl = old.and_then(|e| e.expires_at);
        ks.store_as(db, &args[1], value.clone(), ttl, Form::Plain);
        ks.notify(class::STRING, "incrbyfloat", db, &args[1]);
        Reply::Bulk(value)
    })
}

/// What LCS was asked to answer.
struct LcsOptions {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: u64,
}

/// Parses LCS's options (after the two keys).
fn lcs_options(args: &[Bytes]) -> Result<LcsOptions, Reply> {
    let mut o = LcsOptions {
        len: false,
        idx: false,
        with_match_len: false,
        min_match_len: 0,
    };
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        if is(a, "idx") {
            o.idx = true;
        } else if is(a, "len") {
            o.len = true;
        } else if is(a, "withmatchlen") {
            o.with_match_len = true;
        } else if is(a, "minmatchlen") && i + 1 < args.len() {
            o.min_match_len = parse_i64(&args[i + 1])?.max(0) as u64;
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if o.len && o.idx {
        return Err(Reply::error(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    Ok(o)
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: the longest
/// common subsequence of two strings, by the quadratic dynamic program
/// Redis uses. Its table takes 4 bytes per pair of positions; as in Redis
/// it is refused when that exceeds `proto-max-bulk-len`, which bounds both
/// the memory and the time the keyspace is held.
pub fn lcs(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    let max = max_string_len(s);
    let values = s.keyspace_value(|ks| {
        let a = ks.lookup(db, &args[1], now).map(|e| e.value);
        let b = ks.lookup(db, &args[2], now).map(|e| e.value);
        (a.unwrap_or_default(), b.unwrap_or_default())
    });
    let (a, b) = match values {
        Ok(v) => v,
        Err(e) => return e,
    };
    let o = match lcs_options(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    if a.len() as u64 >= u64::from(u32::MAX) - 1 || b.len() as u64 >= u64::from(u32::MAX) - 1 {
        return Reply::error("ERR String too long for LCS");
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    if cells.saturating_mul(4) > max {
        return Reply::error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        );
    }
    if cells > LCS_INLINE_CELLS {
        // Seconds of work at the largest sizes: let the runtime move this
        // worker's other connections elsewhere meanwhile.
        tokio::task::block_in_place(|| lcs_reply(&a, &b, &o))
    } else {
        lcs_reply(&a, &b, &o)
    }
}

/// LCS tables up to this many cells (about a millisecond of work) are
/// computed in place; larger ones under `block_in_place`, so a long LCS
/// does not hold up the other connections of its runtime worker.
const LCS_INLINE_CELLS: u64 = 1 << 20;

/// Computes the LCS table and walks it back from the end, as Redis does,
/// so the ranges come out in the same order (last match first).
fn lcs_reply(a: &[u8], b: &[u8], o: &LcsOptions) -> Reply {
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[a.len() * width + b.len()];
    if o.len && !o.idx {
        return Reply::Int(i64::from(total));
    }
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut matches = Vec::new();
    // The current range as (a_start, a_end, b_start, b_end), if one is open.
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            range = match range {
                None => Some((i - 1, i - 1, j - 1, j - 1)),
                Some((sa, ea, sb, eb)) if sa == i && sb == j => Some((sa - 1, ea, sb - 1, eb)),
                Some(r) => {
                    emit = true;
                    Some(r)
                }
            };
            if range.is_some_and(|(sa, _, sb, _)| sa == 0 || sb == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit |= range.is_some();
        }
        if emit && let Some((sa, ea, sb, eb)) = range.take() {
            let len = (ea - sa + 1) as u64;
            if o.min_match_len == 0 || len >= o.min_match_len {
                let mut m = vec![
                    Reply::Array(vec![Reply::Int(sa as i64), Reply::Int(ea as i64)]),
                    Reply::Array(vec![Reply::Int(sb as i64), Reply::Int(eb as i64)]),
                ];
                if o.with_match_len {
                    m.push(Reply::Int(len as i64));
                }
                matches.push(Reply::Array(m));
            }
        }
    }
    if o.idx {
        Reply::Map(vec![
            (
                Reply::Bulk(Bytes::from_static(b"matches")),
                Reply::Array(matches),
            ),
            (
                Reply::Bulk(Bytes::from_static(b"len")),
                Reply::Int(i64::from(total)),
            ),
        ])
    } else {
        Reply::Bulk(Bytes::from(result))
    }
}

//! String commands: GET, SET, SETEX, PSETEX, SETNX, GETDEL, MGET, MSET,
//! INCR, INCRBY, DECR, DECRBY, APPEND, STRLEN.

use bytes::{Bytes, BytesMut};

use super::{is, parse_i64, syntax_error, wrong_arity};
use crate::keyspace::{class, now_ms};
use crate::protocol::{Args, Reply};
use crate::session::Session;

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
        ks.store(db, &args[1], value.freeze(), old.and_then(|e| e.expires_at));
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

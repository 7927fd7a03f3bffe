//! Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME, PERSIST.

use bytes::Bytes;

use super::{is, parse_i64};
use crate::keyspace::{class, now_ms};
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// EXPIRE-family core: `unit_ms` per unit, relative or absolute time.
fn expire_generic(
    s: &mut Session,
    args: &[Bytes],
    unit_ms: i64,
    absolute: bool,
    cmd: &str,
) -> Reply {
    let n = match parse_i64(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for a in &args[3..] {
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if is(a, "gt") {
            gt = true;
        } else if is(a, "lt") {
            lt = true;
        } else {
            return super::error_quoting("ERR Unsupported option ", a, usize::MAX, "");
        }
    }
    if nx && (xx || gt || lt) {
        return Reply::error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return Reply::error("ERR GT and LT options at the same time are not compatible");
    }
    let now = now_ms();
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    let Some(ms) = n.checked_mul(unit_ms) else {
        return invalid();
    };
    let at = if absolute {
        Some(ms)
    } else {
        ms.checked_add(now as i64)
    };
    let Some(at) = at else {
        return invalid();
    };
    let db = s.db;
    let key = &args[1];
    s.keyspace(|ks| {
        let Some(entry) = ks.peek(db, key, now) else {
            return Reply::Int(0);
        };
        let current = entry.expires_at;
        let allowed = if nx {
            current.is_none()
        } else if xx {
            current.is_some()
                && (!gt || current.is_some_and(|c| at > c as i64))
                && (!lt || current.is_some_and(|c| at < c as i64))
        } else if gt {
            current.is_some_and(|c| at > c as i64)
        } else if lt {
            current.is_none_or(|c| at < c as i64)
        } else {
            true
        };
        if !allowed {
            return Reply::Int(0);
        }
        if at <= now as i64 {
            ks.delete(db, key, now);
            ks.notify(class::GENERIC, "del", db, key);
        } else {
            ks.set_expiry(db, key, Some(at as u64));
            ks.notify(class::GENERIC, "expire", db, key);
        }
        Reply::Int(1)
    })
}

/// EXPIRE key seconds [NX|XX|GT|LT]
pub fn expire(s: &mut Session, args: &Args) -> Reply {
    expire_generic(s, args, 1000, false, "expire")
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT]
pub fn pexpire(s: &mut Session, args: &Args) -> Reply {
    expire_generic(s, args, 1, false, "pexpire")
}

/// EXPIREAT key unix-seconds [NX|XX|GT|LT]
pub fn expireat(s: &mut Session, args: &Args) -> Reply {
    expire_generic(s, args, 1000, true, "expireat")
}

/// PEXPIREAT key unix-ms [NX|XX|GT|LT]
pub fn pexpireat(s: &mut Session, args: &Args) -> Reply {
    expire_generic(s, args, 1, true, "pexpireat")
}

/// Time to live in `unit_ms` units, rounded to the nearest: remaining
/// (`absolute` false) or the Unix time it ends (`absolute` true); -2 when
/// the key is missing, -1 when it has no expiry.
fn ttl_generic(s: &mut Session, args: &[Bytes], unit_ms: u64, absolute: bool) -> Reply {
    let db = s.db;
    let now = now_ms();
    // As in Redis, asking for a TTL does not count as using the key.
    s.keyspace(|ks| match ks.lookup_untouched(db, &args[1], now) {
        None => Reply::Int(-2),
        Some(e) => match e.expires_at {
            None => Reply::Int(-1),
            Some(at) => {
                let ms = if absolute { at } else { at.saturating_sub(now) };
                let rounded = ms.saturating_add(unit_ms / 2) / unit_ms;
                Reply::Int(i64::try_from(rounded).unwrap_or(i64::MAX))
            }
        },
    })
}

/// TTL key
pub fn ttl(s: &mut Session, args: &Args) -> Reply {
    ttl_generic(s, args, 1000, false)
}

/// PTTL key
pub fn pttl(s: &mut Session, args: &Args) -> Reply {
    ttl_generic(s, args, 1, false)
}

/// EXPIRETIME key: the Unix time in seconds at which the key expires.
pub fn expiretime(s: &mut Session, args: &Args) -> Reply {
    ttl_generic(s, args, 1000, true)
}

/// PEXPIRETIME key: the Unix time in milliseconds at which the key expires.
pub fn pexpiretime(s: &mut Session, args: &Args) -> Reply {
    ttl_generic(s, args, 1, true)
}

/// PERSIST key: 1 if a TTL was removed.
pub fn persist(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| match ks.peek(db, &args[1], now) {
        Some(e) if e.expires_at.is_some() => {
            ks.set_expiry(db, &args[1], None);
            ks.notify(class::GENERIC, "persist", db, &args[1]);
            Reply::Int(1)
        }
        _ => Reply::Int(0),
    })
}

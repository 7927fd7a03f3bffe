//! Generic key commands: DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, RANDOMKEY,
//! RENAME, SWAPDB.

use bytes::Bytes;

use super::{is, parse_i64, syntax_error};
use crate::keyspace::{class, now_ms};
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// DEL / UNLINK: the number of keys removed.
pub fn del(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        let mut n = 0;
        for k in &args[1..] {
            if ks.delete(db, k, now) {
                ks.notify(class::GENERIC, "del", db, k);
                n += 1;
            }
        }
        Reply::Int(n)
    })
}

/// EXISTS key [key ...]: how many of the keys exist (repeats count).
pub fn exists(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        Reply::Int(
            args[1..]
                .iter()
                .filter(|k| ks.peek(db, k, now).is_some())
                .count() as i64,
        )
    })
}

/// TYPE key: `string` or `none`.
pub fn type_of(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        let found = ks.peek(db, &args[1], now).is_some();
        Reply::status(if found { "string" } else { "none" })
    })
}

/// KEYS pattern
pub fn keys(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| Reply::bulks(ks.keys(db, &args[1], now)))
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
pub fn scan(s: &mut Session, args: &Args) -> Reply {
    let cursor = match std::str::from_utf8(&args[1])
        .ok()
        .and_then(|c| c.parse::<u64>().ok())
    {
        Some(c) => c,
        None => return Reply::error("ERR invalid cursor"),
    };
    let mut pattern: Option<Bytes> = None;
    let mut count = 10usize;
    let mut type_ok = true;
    let mut i = 2;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return syntax_error();
        };
        if is(&args[i], "match") {
            pattern = Some(value.clone());
        } else if is(&args[i], "count") {
            match parse_i64(value) {
                Ok(n) if n >= 1 => count = n as usize,
                Ok(_) => return syntax_error(),
                Err(e) => return e,
            }
        } else if is(&args[i], "type") {
            type_ok = is(value, "string");
        } else {
            return syntax_error();
        }
        i += 2;
    }
    let db = s.db;
    let now = now_ms();
    let (next, mut found) = match s.keyspace_value(|ks| ks.scan(db, cursor, count, now)) {
        Ok(page) => page,
        Err(e) => return e,
    };
    if let Some(p) = pattern.filter(|p| &p[..] != b"*") {
        found.retain(|k| crate::glob::glob_match(&p, k, false));
    }
    if !type_ok {
        found.clear();
    }
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::bulks(found),
    ])
}

/// RANDOMKEY: a random key, or null when the database is empty.
pub fn randomkey(s: &mut Session, _args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| ks.random_key(db, now).map_or(Reply::Nil, Reply::Bulk))
}

/// RENAME key newkey (the TTL moves with the value).
pub fn rename(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    let (from, to) = (&args[1], &args[2]);
    s.keyspace(|ks| {
        let Some(e) = ks.peek(db, from, now) else {
            return Reply::error("ERR no such key");
        };
        if from == to {
            return Reply::ok();
        }
        ks.delete(db, from, now);
        ks.delete(db, to, now);
        ks.store(db, to, e.value, e.expires_at);
        ks.notify(class::GENERIC, "rename_from", db, from);
        ks.notify(class::GENERIC, "rename_to", db, to);
        Reply::ok()
    })
}

/// SWAPDB index1 index2
pub fn swapdb(s: &mut Session, args: &Args) -> Reply {
    let parse = |a: &Bytes, which: &str| -> Result<usize, Reply> {
        let n = std::str::from_utf8(a)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or_else(|| Reply::error(format!("ERR invalid {which} DB index")))?;
        usize::try_from(n).map_err(|_| Reply::error("ERR DB index is out of range"))
    };
    let (a, b) = match (parse(&args[1], "first"), parse(&args[2], "second")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    s.keyspace(|ks| {
        if a >= ks.count() || b >= ks.count() {
            return Reply::error("ERR DB index is out of range");
        }
        ks.swap(a, b);
        Reply::ok()
    })
}

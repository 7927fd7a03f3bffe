//! Generic key commands: DEL, UNLINK, EXISTS, TOUCH, TYPE, KEYS, SCAN,
//! RANDOMKEY, RENAME, RENAMENX, COPY, MOVE, SWAPDB.

use bytes::Bytes;

use super::{is, parse_i64, syntax_error};
use crate::keyspace::{Entry, Keyspace, class, now_ms};
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
    count_found(s, args, Keyspace::inspect)
}

/// How many of the keys in `args[1..]` `find` finds (repeats count).
fn count_found(
    s: &mut Session,
    args: &Args,
    find: fn(&mut Keyspace, usize, &[u8], u64) -> Option<Entry>,
) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        Reply::Int(
            args[1..]
                .iter()
                .filter(|k| find(ks, db, k, now).is_some())
                .count() as i64,
        )
    })
}

/// TYPE key: `string` or `none`.
pub fn type_of(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        // Neither TYPE nor EXISTS counts as using the key (OBJECT IDLETIME).
        let found = ks.inspect(db, &args[1], now).is_some();
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
    rename_generic(s, args, false)
}

/// RENAMENX key newkey: 1 if renamed, 0 if `newkey` exists.
pub fn renamenx(s: &mut Session, args: &Args) -> Reply {
    rename_generic(s, args, true)
}

/// RENAME / RENAMENX. As in Redis, a missing source is an error even when
/// both names are the same, and renaming a key to itself changes nothing.
fn rename_generic(s: &mut Session, args: &Args, nx: bool) -> Reply {
    let db = s.db;
    let now = now_ms();
    let (from, to) = (&args[1], &args[2]);
    let done = move |renamed: bool| {
        if !nx {
            Reply::ok()
        } else {
            Reply::Int(i64::from(renamed))
        }
    };
    s.keyspace(|ks| {
        let Some(e) = ks.peek(db, from, now) else {
            return Reply::error("ERR no such key");
        };
        if from == to {
            return done(false);
        }
        if nx && ks.peek(db, to, now).is_some() {
            return done(false);
        }
        ks.delete(db, from, now);
        ks.delete(db, to, now);
        ks.store_as(db, to, e.value, e.expires_at, e.form);
        ks.notify(class::GENERIC, "rename_from", db, from);
        ks.notify(class::GENERIC, "rename_to", db, to);
        done(true)
    })
}

/// A database number argument (COPY's DB, MOVE's db) as Redis reads it: an
/// integer, within a C `int`, naming one of the databases.
fn db_index(arg: &[u8], databases: usize) -> Result<usize, Reply> {
    let n = parse_i64(arg)?;
    let n = i32::try_from(n).map_err(|_| {
        Reply::error("ERR value is out of range, value must between -2147483648 and 2147483647")
    })?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n < databases)
        .ok_or_else(|| Reply::error("ERR DB index is out of range"))
}

/// Redis's error when a COPY or MOVE would land on its own source.
const SAME_OBJECT: &str = "ERR source and destination objects are the same";

/// COPY source destination [DB destination-db] [REPLACE]: 1 if copied, 0 if
/// the source is missing or the destination exists (without REPLACE). The
/// TTL is copied with the value.
pub fn copy(s: &mut Session, args: &Args) -> Reply {
    let src_db = s.db;
    let databases = s.shared.databases;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "replace") {
            replace = true;
        } else if is(&args[i], "db") && i + 1 < args.len() {
            match db_index(&args[i + 1], databases) {
                Ok(n) => dst_db = n,
                Err(e) => return e,
            }
            i += 1;
        } else {
            return syntax_error();
        }
        i += 1;
    }
    let (from, to) = (&args[1], &args[2]);
    if src_db == dst_db && from == to {
        return Reply::error(SAME_OBJECT);
    }
    let now = now_ms();
    s.keyspace(|ks| {
        let Some(e) = ks.lookup(src_db, from, now) else {
            return Reply::Int(0);
        };
        if ks.peek(dst_db, to, now).is_some() {
            if !replace {
                return Reply::Int(0);
            }
            ks.delete(dst_db, to, now);
        }
        ks.store_as(dst_db, to, e.value, e.expires_at, e.form);
        ks.notify(class::GENERIC, "copy_to", dst_db, to);
        Reply::Int(1)
    })
}

/// MOVE key db: 1 if the key moved (with its TTL), 0 if it is missing here
/// or already exists there.
pub fn move_key(s: &mut Session, args: &Args) -> Reply {
    let src_db = s.db;
    let dst_db = match db_index(&args[2], s.shared.databases) {
        Ok(n) => n,
        Err(e) => return e,
    };
    if src_db == dst_db {
        return Reply::error(SAME_OBJECT);
    }
    let key = &args[1];
    let now = now_ms();
    s.keyspace(|ks| {
        let Some(e) = ks.peek(src_db, key, now) else {
            return Reply::Int(0);
        };
        if ks.peek(dst_db, key, now).is_some() {
            return Reply::Int(0);
        }
        ks.store_as(dst_db, key, e.value, e.expires_at, e.form);
        ks.delete(src_db, key, now);
        ks.notify(class::GENERIC, "move_from", src_db, key);
        ks.notify(class::GENERIC, "move_to", dst_db, key);
        Reply::Int(1)
    })
}

/// TOUCH key [key ...]: how many of the keys exist (repeats count). Each key
/// is looked up as a read would (expiring a due key, counting a hit or a
/// miss).
pub fn touch(s: &mut Session, args: &Args) -> Reply {
    count_found(s, args, Keyspace::lookup)
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

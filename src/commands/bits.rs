//! Bit commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP. Bits
//! are numbered from the most significant bit of the first byte, as in
//! Redis.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};

use super::strings::check_growth;
use super::{is, parse_i64, syntax_error};
use crate::keyspace::{Form, class, now_ms};
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// Parses a bit offset: a non-negative integer whose byte lies within
/// `proto-max-bulk-len` (so SETBIT never builds a longer string).
fn bit_offset(arg: &[u8], max_len: u64) -> Result<u64, Reply> {
    let err = || Reply::error("ERR bit offset is not an integer or out of range");
    let n = parse_i64(arg).map_err(|_| err())?;
    if n < 0 || (n as u64 >> 3) >= max_len {
        return Err(err());
    }
    Ok(n as u64)
}

/// SETBIT key offset 0|1: the bit's old value. Grows the string with zero
/// bytes when the offset lies past its end.
pub fn setbit(s: &mut Session, args: &Args) -> Reply {
    let max = s.shared.settings.proto_max_bulk_len.load(Ordering::Relaxed);
    let offset = match bit_offset(&args[2], max) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let on = match parse_i64(&args[3]) {
        Ok(b @ (0 | 1)) => b == 1,
        _ => return Reply::error("ERR bit is not an integer or out of range"),
    };
    let byte = (offset >> 3) as usize;
    let mask = 0x80u8 >> (offset & 7);
    let shared = Arc::clone(&s.shared);
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        let old = ks.peek(db, &args[1], now);
        let old_len = old.as_ref().map_or(0, |e| e.value.len());
        let was = old
            .as_ref()
            .and_then(|e| e.value.get(byte))
            .is_some_and(|b| b & mask != 0);
        let grows = byte >= old_len;
        if old.is_some() && !grows && was == on {
            // Nothing changes, but Redis still unshares the value, which
            // leaves it `raw`.
            ks.mark_raw(db, &args[1]);
            return Reply::Int(i64::from(was));
        }
        if grows && let Err(e) = check_growth(&shared, ks, old_len, byte as u64 + 1) {
            return e;
        }
        // `byte` is below proto-max-bulk-len (checked when parsing) and the
        // growth fits maxmemory.
        let mut value = BytesMut::zeroed(old_len.max(byte + 1));
        if let Some(e) = &old {
            value[..old_len].copy_from_slice(&e.value);
        }
        if on {
            value[byte] |= mask;
        } else {
            value[byte] &= !mask;
        }
        let ttl = old.and_then(|e| e.expires_at);
        ks.store_as(db, &args[1], value.freeze(), ttl, Form::Raw);
        ks.notify(class::STRING, "setbit", db, &args[1]);
        Reply::Int(i64::from(was))
    })
}

/// GETBIT key offset: 0 past the end of the string or for a missing key.
pub fn getbit(s: &mut Session, args: &Args) -> Reply {
    let max = s.shared.settings.proto_max_bulk_len.load(Ordering::Relaxed);
    let offset = match bit_offset(&args[2], max) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let db = s.db;
    let now = now_ms();
    s.keyspace(|ks| {
        let bit = ks.lookup(db, &args[1], now).is_some_and(|e| {
            e.value
                .get((offset >> 3) as usize)
                .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
        });
        Reply::Int(i64::from(bit))
    })
}

/// A BITCOUNT/BITPOS range in bits, both ends inclusive, already clamped
/// to the string; None when it is empty.
fn bit_range(start: i64, end: i64, len: usize, in_bits: bool) -> Option<(u64, u64)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let total = if in_bits {
        (len as i64) << 3
    } else {
        len as i64
    };
    let mut start = if start < 0 { total + start } else { start };
    let mut end = if end < 0 { total + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    if in_bits {
        Some((start as u64, end as u64))
    } else {
        Some(((start as u64) << 3, ((end as u64) << 3) + 7))
    }
}

/// Whether the unit word at `arg` is BIT (true) or BYTE (false).
fn unit(arg: &[u8]) -> Result<bool, Reply> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(syntax_error())
    }
}

/// The mask of the bits of byte `byte` that lie in `first..=last` (bit
/// numbers, the most significant bit first).
fn range_mask(byte: u64, first: u64, last: u64) -> u8 {
    let lo = byte << 3;
    let mut mask = 0xFFu8;
    if first > lo {
        mask &= 0xFF >> (first - lo);
    }
    if last < lo + 7 {
        mask &= 0xFF << (lo + 7 - last);
    }
    mask
}

/// BITCOUNT key [start end [BYTE|BIT]]: the number of set bits.
pub fn bitcount(s: &mut Session, args: &Args) -> Reply {
    let db = s.db;
    let now = now_ms();
    let value = match s.keyspace_value(|ks| ks.lookup(db, &args[1], now)) {
        Ok(Some(e)) => e.value,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let range = match args.len() {
        2 => bit_range(0, -1, value.len(), false),
        4 | 5 => {
            let (start, end) = match (parse_i64(&args[2]), parse_i64(&args[3])) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            if start < 0 && end < 0 && start > end {
                return Reply::Int(0);
            }
            let in_bits = match args.get(4).map(|a| unit(a)).transpose() {
                Ok(b) => b.unwrap_or(false),
                Err(e) => return e,
            };
            bit_range(start, end, value.len(), in_bits)
        }
        _ => return syntax_error(),
    };
    let Some((first, last)) = range else {
        return Reply::Int(0);
    };
    let count: u64 = ((first >> 3)..=(last >> 3))
        .map(|byte| u64::from((value[byte as usize] & range_mask(byte, first, last)).count_ones()))
        .sum();
    Reply::Int(count as i64)
}

/// BITPOS key 0|1 [start [end [BYTE|BIT]]]: the first bit with that value,
/// or -1. Looking for a 0 without an end treats the string as followed by
/// zero bits, so it answers the bit just past the end when all are set.
pub fn bitpos(s: &mut Session, args: &Args) -> Reply {
    let want_one = match parse_i64(&args[2]) {
        Ok(b @ (0 | 1)) => b == 1,
        Ok(_) => return Reply::error("ERR The bit argument must be 1 or 0."),
        Err(e) => return e,
    };
    let db = s.db;
    let now = now_ms();
    let value: Bytes = match s.keyspace_value(|ks| ks.lookup(db, &args[1], now)) {
        Ok(Some(e)) => e.value,
        Ok(None) => return Reply::Int(if want_one { -1 } else { 0 }),
        Err(e) => return e,
    };
    if args.len() > 6 {
        return syntax_error();
    }
    let start = match args.get(3).map(|a| parse_i64(a)).transpose() {
        Ok(v) => v.unwrap_or(0),
        Err(e) => return e,
    };
    let in_bits = match args.get(5).map(|a| unit(a)).transpose() {
        Ok(b) => b.unwrap_or(false),
        Err(e) => return e,
    };
    let end = match args.get(4).map(|a| parse_i64(a)).transpose() {
        Ok(v) => v,
        Err(e) => return e,
    };
    let end_given = end.is_some();
    let Some((first, last)) = bit_range(start, end.unwrap_or(-1), value.len(), in_bits) else {
        return Reply::Int(-1);
    };
    for byte in (first >> 3)..=(last >> 3) {
        let byte_value = value[byte as usize];
        // Looking for a 0 means looking for a 1 in the complement.
        let candidates = if want_one { byte_value } else { !byte_value };
        let bits = candidates & range_mask(byte, first, last);
        if bits != 0 {
            return Reply::Int(((byte << 3) + u64::from(bits.leading_zeros())) as i64);
        }
    }
    if !want_one && !end_given {
        return Reply::Int((last + 1) as i64);
    }
    Reply::Int(-1)
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]: combines the strings byte by
/// byte (shorter ones, and missing keys, read as zero bytes) into destkey;
/// answers the result's length. An empty result deletes destkey.
pub fn bitop(s: &mut Session, args: &Args) -> Reply {
    let op = &args[1];
    let combine: fn(u8, u8) -> u8 = if is(op, "and") {
        |a, b| a & b
    } else if is(op, "or") {
        |a, b| a | b
    } else if is(op, "xor") {
        |a, b| a ^ b
    } else if is(op, "not") {
        |a, _| !a
    } else {
        return syntax_error();
    };
    let not = is(op, "not");
    if not && args.len() != 4 {
        return Reply::error("ERR BITOP NOT must be called with a single source key.");
    }
    let shared = Arc::clone(&s.shared);
    let db = s.db;
    let now = now_ms();
    let dest = &args[2];
    s.keyspace(|ks| {
        let sources: Vec<Bytes> = args[3..]
            .iter()
            .map(|k| ks.lookup(db, k, now).map(|e| e.value).unwrap_or_default())
            .collect();
        let len = sources.iter().map(Bytes::len).max().unwrap_or(0);
        if len == 0 {
            if ks.delete(db, dest, now) {
                ks.notify(class::GENERIC, "del", db, dest);
            }
            return Reply::Int(0);
        }
        let old_len = ks.peek(db, dest, now).map_or(0, |e| e.value.len());
        if let Err(e) = check_growth(&shared, ks, old_len, len as u64) {
            return e;
        }
        // At most as long as the longest source, which exists already.
        let mut out = BytesMut::zeroed(len);
        for (i, byte) in out.iter_mut().enumerate() {
            let at = |v: &Bytes| v.get(i).copied().unwrap_or(0);
            let mut acc = at(&sources[0]);
            if not {
                acc = combine(acc, 0);
            }
            for src in &sources[1..] {
                acc = combine(acc, at(src));
            }
            *byte = acc;
        }
        ks.store_as(db, dest, out.freeze(), None, Form::Raw);
        ks.notify(class::STRING, "set", db, dest);
        Reply::Int(len as i64)
    })
}

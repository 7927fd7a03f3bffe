//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use crate::keyspace::now_ms;
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// MULTI: start queueing.
pub fn multi(s: &mut Session, _args: &Args) -> Reply {
    if s.multi.is_some() {
        return Reply::error("ERR MULTI calls can not be nested");
    }
    s.multi = Some(Vec::new());
    s.multi_error = false;
    s.client.with_info(|i| i.multi = Some(0));
    Reply::ok()
}

/// DISCARD: drop the queue.
pub fn discard(s: &mut Session, _args: &Args) -> Reply {
    if s.multi.is_none() {
        return Reply::error("ERR DISCARD without MULTI");
    }
    s.end_transaction();
    s.client.with_info(|i| i.multi = None);
    Reply::ok()
}

/// Whether a WATCHed key changed (or expired) since it was watched; `Err`
/// is the reply to give instead.
fn watch_failed(s: &mut Session) -> Result<bool, Reply> {
    if s.watch_dirty
        .as_ref()
        .is_some_and(|f| f.load(Ordering::Relaxed))
    {
        return Ok(true);
    }
    let now = now_ms();
    let watched = s.watched.clone();
    let Some(flag) = s.watch_dirty.clone() else {
        return Ok(false);
    };
    // The registry knows which watches are stale now (the key expired
    // before WATCH, or a SWAPDB brought in an expired one): those do not
    // fail EXEC for being expired.
    s.keyspace_value(|ks| {
        watched
            .iter()
            .any(|(db, key)| !ks.watch_is_stale(*db, key, &flag) && ks.is_expired(*db, key, now))
    })
}

/// EXEC: run the queue atomically and reply with every result; a null array
/// if a WATCHed key changed; EXECABORT if queueing failed. Dispatch holds
/// the keyspace for the whole of it: the WATCH check and every queued
/// command.
pub fn exec(s: &mut Session, _args: &Args) -> Reply {
    let Some(queued) = s.multi.take() else {
        return Reply::error("ERR EXEC without MULTI");
    };
    s.client.with_info(|i| i.multi = None);
    if let Some(refusal) = super::exec_oom_refusal(s, &queued) {
        return super::exec_abort(s, &refusal);
    }
    if s.multi_error {
        s.end_transaction();
        return Reply::error("EXECABORT Transaction discarded because of previous errors.");
    }
    match watch_failed(s) {
        Ok(false) => {}
        Ok(true) => {
            s.end_transaction();
            return Reply::NilArray;
        }
        Err(e) => {
            s.end_transaction();
            return e;
        }
    }
    s.client.defer_pushes();
    s.release_pushes_after_reply = true;
    // As in Redis, the array header is written if CLIENT REPLY allows it as
    // EXEC begins, and each command's reply if it allows it as that command
    // ends (a queued CLIENT REPLY OFF silences the rest); subscribe
    // confirmations are pushes, which CLIENT REPLY never silences.
    let header = (!s.reply_off && !s.skip_current).then_some(queued.len());
    let mut replies = Vec::with_capacity(queued.len());
    for args in &queued {
        let reply = super::run_queued(s, args);
        if matches!(reply, Reply::Frames(_)) || !s.reply_off && !s.skip_current {
            replies.push(reply);
        }
    }
    s.end_transaction();
    s.reply_exec(header, &replies);
    Reply::Sent
}

/// WATCH key [key ...]
pub fn watch(s: &mut Session, args: &Args) -> Reply {
    if s.multi.is_some() {
        return Reply::error("ERR WATCH inside MULTI is not allowed");
    }
    let db = s.db;
    let now = now_ms();
    let flag = std::sync::Arc::clone(
        s.watch_dirty
            .get_or_insert_with(|| std::sync::Arc::new(AtomicBool::new(false))),
    );
    let mut added = Vec::new();
    for key in &args[1..] {
        if s.watched.iter().any(|(d, k)| *d == db && k == key) {
            continue;
        }
        added.push(Bytes::copy_from_slice(key));
    }
    let entries = s.keyspace_value(|ks| {
        added
            .into_iter()
            .map(|key| {
                let stale = ks.is_expired(db, &key, now);
                ks.watch(db, key.clone(), &flag, stale);
                (db, key)
            })
            .collect::<Vec<_>>()
    });
    match entries {
        Ok(entries) => {
            s.watched.extend(entries);
            Reply::ok()
        }
        Err(e) => e,
    }
}

/// UNWATCH
pub fn unwatch(s: &mut Session, _args: &Args) -> Reply {
    s.unwatch_all();
    Reply::ok()
}

//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use crate::keyspace::now_ms;
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// WATCHed keys: (db, key). Whether a watch is stale lives in the
/// keyspace's registry.
pub type Watched = Vec<(usize, Bytes)>;

/// An open MULTI. Boxed in the connection's state, which every idle
/// connection's task carries, while few connections ever open one.
#[derive(Default)]
pub struct Multi {
    /// Commands queued since MULTI.
    pub queued: Vec<Args>,
    /// A command queued since MULTI was rejected: EXEC aborts.
    pub error: bool,
    /// Bytes the queued commands hold (bounded by
    /// `client-query-buffer-limit`).
    pub bytes: usize,
}

/// The keys a connection WATCHes, boxed as [`Multi`] is: created by the
/// first WATCH, dropped when the transaction ends.
pub struct Watch {
    /// Set by the keyspace when a watched key changes.
    pub dirty: std::sync::Arc<AtomicBool>,
    /// WATCHed keys: (db, key).
    pub keys: Watched,
}

/// MULTI: start queueing.
pub fn multi(s: &mut Session, _args: &Args) -> Reply {
    if s.multi.is_some() {
        return Reply::error("ERR MULTI calls can not be nested");
    }
    s.multi = Some(Box::default());
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
    let Some(watch) = s.watch.as_deref() else {
        return Ok(false);
    };
    if watch.dirty.load(Ordering::Relaxed) {
        return Ok(true);
    }
    let now = now_ms();
    let watched = watch.keys.clone();
    let flag = std::sync::Arc::clone(&watch.dirty);
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
    let Some(multi) = s.multi.take() else {
        return Reply::error("ERR EXEC without MULTI");
    };
    let Multi { queued, error, .. } = *multi;
    s.client.with_info(|i| i.multi = None);
    if let Some(refusal) = super::exec_oom_refusal(s, &queued) {
        return super::exec_abort(s, &refusal);
    }
    if error {
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
    let watch = s.watch.get_or_insert_with(|| {
        Box::new(Watch {
            dirty: std::sync::Arc::new(AtomicBool::new(false)),
            keys: Vec::new(),
        })
    });
    let flag = std::sync::Arc::clone(&watch.dirty);
    let mut added = Vec::new();
    for key in &args[1..] {
        if watch.keys.iter().any(|(d, k)| *d == db && k == key) {
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
            if let Some(w) = s.watch.as_mut() {
                w.keys.extend(entries);
            }
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

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

/// Whether a WATCHed key changed (or expired) since it was watched.
fn watch_failed(s: &mut Session) -> bool {
    if s.watch_dirty
        .as_ref()
        .is_some_and(|f| f.load(Ordering::Relaxed))
    {
        return true;
    }
    let now = now_ms();
    let watched = s.watched.clone();
    s.keyspace(|ks| {
        watched
            .iter()
            .any(|(db, key, was_expired)| !was_expired && ks.is_expired(*db, key, now))
    })
}

/// EXEC: run the queue atomically and reply with every result; a null array
/// if a WATCHed key changed; EXECABORT if queueing failed.
pub fn exec(s: &mut Session, _args: &Args) -> Reply {
    let Some(queued) = s.multi.take() else {
        return Reply::error("ERR EXEC without MULTI");
    };
    s.client.with_info(|i| i.multi = None);
    if s.multi_error {
        s.end_transaction();
        return Reply::error("EXECABORT Transaction discarded because of previous errors.");
    }
    if watch_failed(s) {
        s.end_transaction();
        return Reply::NilArray;
    }
    let acquired = s.hold_keyspace();
    s.client.defer_pushes();
    s.release_pushes_after_reply = true;
    let mut replies = Vec::with_capacity(queued.len());
    for args in &queued {
        replies.push(super::run_queued(s, args));
    }
    if acquired {
        s.release_keyspace();
    }
    s.end_transaction();
    Reply::Array(replies)
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
        if s.watched.iter().any(|(d, k, _)| *d == db && k == key) {
            continue;
        }
        added.push(Bytes::copy_from_slice(key));
    }
    let entries = s.keyspace(|ks| {
        added
            .into_iter()
            .map(|key| {
                let expired = ks.is_expired(db, &key, now);
                ks.watch(db, key.clone(), &flag);
                (db, key, expired)
            })
            .collect::<Vec<_>>()
    });
    s.watched.extend(entries);
    Reply::ok()
}

/// UNWATCH
pub fn unwatch(s: &mut Session, _args: &Args) -> Reply {
    s.unwatch_all();
    Reply::ok()
}

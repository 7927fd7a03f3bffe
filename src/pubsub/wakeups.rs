//! Receiver wake-ups deferred to the end of the publisher's batch.
//!
//! A pipelined publisher runs many PUBLISH commands per read. Waking each
//! receiver's connection task at its first queued message lets that task,
//! on the other core, write one message per syscall while the publisher is
//! still producing. Redis instead writes to subscribers once per event-loop
//! turn. Here, while a connection runs one batch of requests (everything
//! complete in its query buffer), a receiver whose queue goes from empty to
//! non-empty is recorded instead of woken; the end of the batch wakes each
//! recorded receiver once, and it finds the whole batch's messages queued
//! for one vectored write. Outside a batch (the sweep's expiry events) the
//! wake is immediate.
//!
//! The list is per thread: a batch runs synchronously on one thread (no
//! await inside), and holds each receiver at most once (its queue stays
//! non-empty until it is woken), so it is bounded by `maxclients`.

use std::cell::RefCell;
use std::sync::Arc;

use crate::client::Client;

thread_local! {
    /// Receivers to wake at the end of the batch running on this thread;
    /// None when no batch runs.
    static PENDING: RefCell<Option<Vec<Arc<Client>>>> = const { RefCell::new(None) };
}

/// A batch in progress on this thread; dropping it wakes the receivers it
/// recorded.
pub struct Batch {
    outer: bool,
}

impl Batch {
    /// Starts deferring wake-ups on this thread (a batch inside a batch
    /// joins the outer one).
    pub fn begin() -> Batch {
        let outer = PENDING.with(|p| {
            let mut p = p.borrow_mut();
            if p.is_some() {
                false
            } else {
                *p = Some(Vec::new());
                true
            }
        });
        Batch { outer }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if !self.outer {
            return;
        }
        let pending = PENDING.with(|p| p.borrow_mut().take());
        for client in pending.into_iter().flatten() {
            client.outbox.wake();
        }
    }
}

/// Wakes `client`'s connection task now, or at the end of the batch
/// running on this thread.
pub fn wake(client: &Arc<Client>) {
    let deferred = PENDING.with(|p| match p.borrow_mut().as_mut() {
        Some(list) => {
            list.push(Arc::clone(client));
            true
        }
        None => false,
    });
    if !deferred {
        client.outbox.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Peer;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakes_wait_for_the_end_of_the_outermost_batch() {
        let addr = "127.0.0.1:1".parse().expect("address");
        let client = Arc::new(Client::new(1, Peer::tcp(addr, addr, -1)));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let woken = || count.0.load(Ordering::SeqCst);

        client.outbox.register(&waker);
        wake(&client);
        assert_eq!(woken(), 1, "outside a batch the wake is immediate");

        client.outbox.register(&waker);
        let outer = Batch::begin();
        wake(&client);
        {
            let _inner = Batch::begin();
            wake(&client);
        }
        assert_eq!(woken(), 1, "deferred until the outer batch ends");
        drop(outer);
        assert_eq!(woken(), 2, "woken once at the end");
    }
}

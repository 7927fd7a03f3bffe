//! Flow control on the publish path: a publisher whose receivers cannot
//! keep up is slowed, instead of those receivers being cut.
//!
//! Queueing a published message costs the publisher one queue operation per
//! receiver; writing it costs each receiver's connection a share of a
//! syscall, and the receivers' readers may be slower still. Without
//! pushback a pipelining publisher is answered faster than its messages
//! leave, every receiver's queue grows at the same pace, and all of them
//! pass `client-output-buffer-limit` together. So:
//!
//! - A receiver is *behind* while its queue holds more than its high
//!   watermark: [`high_water`]; or, once its socket has refused a write
//!   (its reader sets the pace) and until its queue is next empty, what its
//!   writer has lately written in [`FLOW_TARGET_DELAY_US`], at least
//!   [`FLOW_HIGH_WATER_MIN`]. It stops being behind once its writer has
//!   brought the queue down to a quarter of that.
//! - While a publisher runs one batch of requests, every delivery to a
//!   receiver that is behind is noted (each receiver once) on this thread.
//!   At the end of the batch, if any of them is to be waited for, the
//!   publisher *pauses*: its socket is not read until they have drained.
//!   Then it reads its next batch, which may pause it again.
//! - A pause ends when every receiver it waits for has drained; or, once
//!   more than half of them have, after as long again as they took
//!   ([`LAG_FACTOR`], at least [`LAG_MIN`] unless none of the rest has
//!   written anything since [`MINORITY_STALL_GRACE_US`] before the pause
//!   began), since the rest are then
//!   slower than their peers; or
//!   after [`PAUSE_MAX`] in any case.
//! - Which receivers are waited for: not a *stalled* one, whose writer has
//!   written nothing for [`STALL_GRACE_MS`], or for
//!   [`MINORITY_STALL_GRACE_US`] while a minority is behind (a frozen
//!   client); and, when at
//!   most half of the batch's widest fan-out is behind
//!   ([`MINORITY_SHARE`]), not a *laggard*,
//!   one that such pauses have already waited for more than
//!   [`LAG_BUDGET_MS`] (less [`LAG_DECAY_MS_PER_S`] a second): one reading
//!   at a tenth of its peers' speed. Their queues grow until the output-buffer
//!   limits cut them, as without flow control; a receiver that drains
//!   counts again. A group that is behind together is always waited for.
//!   So a frozen client among receivers that keep up holds its publishers
//!   for about [`MINORITY_STALL_GRACE_US`], alone for at most
//!   [`STALL_GRACE_MS`] plus one [`PAUSE_MAX`], and a laggard about
//!   [`LAG_BUDGET_MS`] plus one pause.
//! - A client's kernel send buffer is set to [`SUBSCRIBER_SNDBUF`] when it
//!   first subscribes, so that most of what a subscriber has not read yet
//!   sits in its queue, where flow control and the output limits see it.
//!
//! Every pause is counted in INFO (`publish_pauses`,
//! `publish_paused_usec`, `publish_pause_timeouts`) and shown by CLIENT
//! LIST while it lasts (`events=` without `r`, and `pause-ms=`).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::client::Client;
use crate::config::ClassLimit;

/// The queue size over which a receiver is behind, unless its output
/// limits are small (see [`high_water`]). Far below the default pubsub
/// limits (32 MB hard, 8 MB soft), so a receiver that keeps reading never
/// comes near them; small enough that a receiver's queue stays a few
/// milliseconds of its writes at the message rates of a saturated backplane.
pub const FLOW_HIGH_WATER: usize = 256 * 1024;
/// A receiver is behind once its queue holds more than its writer has
/// lately written in this long (but at least [`FLOW_HIGH_WATER_MIN`], at
/// most [`high_water`]): the queue's delay, not its size, is what its
/// reader feels, and at a fast receiver's pace [`FLOW_HIGH_WATER`] alone
/// would be tens of milliseconds of small messages.
pub const FLOW_TARGET_DELAY_US: u64 = 5_000;
/// The least high watermark: a few frames, and room for one turn of
/// scheduling between a receiver's writes.
pub const FLOW_HIGH_WATER_MIN: usize = 16 * 1024;
/// A writer's pace (bytes a second) is measured over spans of at least this
/// long, each averaged with the estimate before it (see
/// [`RATE_HORIZON_US`]); a span in which its queue ran empty can only raise
/// the estimate, since it also timed the wait for messages.
pub const RATE_SPAN_US: u64 = 5_000;
/// A span of this long or longer sets the pace alone; a shorter one counts
/// in proportion to its length.
pub const RATE_HORIZON_US: u64 = 20_000;
/// A receiver's high watermark is at most its smallest output limit divided
/// by this: room for the queue of a receiver that falls behind its peers
/// for a while, or that flow control no longer waits for, to come back.
pub const LIMIT_HEADROOM: u64 = 16;
/// A receiver stops being behind once its queue is down to its high
/// watermark divided by this.
pub const FLOW_LOW_DIVISOR: usize = 4;
/// The longest one publisher pause lasts, whatever its receivers do.
pub const PAUSE_MAX: Duration = Duration::from_millis(250);
/// Once more than half of the receivers a pause waits for have drained,
/// the pause lasts at most this many times as long as they took: the rest
/// are slower than their peers.
pub const LAG_FACTOR: u32 = 2;
/// The least a pause waits for the rest once more than half have drained
/// (scheduling noise between receivers that read alike).
pub const LAG_MIN: Duration = Duration::from_millis(10);
/// Receivers behind are a minority of their publisher's fan-out when they
/// are at most one in this many of it.
pub const MINORITY_SHARE: usize = 2;
/// A receiver charged more than this (see [`LAG_DECAY_MS_PER_S`]) is a
/// laggard: a pause waiting for a minority of its publisher's fan-out does
/// not wait for it.
pub const LAG_BUDGET_MS: u64 = 500;
/// A receiver is charged the length of every pause that waited for it
/// while a minority ([`MINORITY_SHARE`]) of the publisher's widest fan-out
/// was behind; the
/// charge wears off by this many milliseconds a second, so a receiver may
/// hold back its faster peers for a tenth of the time without end, and
/// one that holds them longer is soon a laggard.
pub const LAG_DECAY_MS_PER_S: u64 = 100;
/// A behind receiver whose writer has written nothing for this long is
/// stalled (a frozen or vanished client): publishers stop waiting for it,
/// and the output-buffer limits decide its fate. A socket that is read
/// slowly becomes writable each time a third of its send buffer has been
/// taken: with [`SUBSCRIBER_SNDBUF`] (which Linux doubles) every 340 ms
/// for a reader taking 0.5 MB/s, so a reader that slow is still seen to
/// progress.
pub const STALL_GRACE_MS: u64 = 1000;
/// The same for a receiver among a minority of its publisher's fan-out
/// behind ([`MINORITY_SHARE`]): its peers keep up, so a socket that takes
/// nothing for this long belongs to a client that has stopped reading (a
/// frozen one), and the publisher must not keep its healthy receivers
/// waiting for it. A reader taking 3.4 MB/s frees a third of a subscriber's
/// send buffer ([`SUBSCRIBER_SNDBUF`], doubled by Linux) this often.
pub const MINORITY_STALL_GRACE_US: u64 = 50_000;
/// The kernel send buffer (`SO_SNDBUF`) of a client with subscriptions.
/// Left to itself, Linux grows a socket's send buffer up to 4 MB
/// (`net.ipv4.tcp_wmem`), and a subscriber that cannot keep up fills it
/// all before its queue grows: seconds of messages that no flow control
/// sees, and writes (the writer's sign of progress) only after each
/// megabyte. At this size a subscriber still takes 500 MB/s over a link
/// with a 1 ms round trip.
pub const SUBSCRIBER_SNDBUF: usize = 256 * 1024;
/// The most receivers one pause waits for: a batch's receivers behind are
/// listed up to this many (all are counted, to tell a group behind from a
/// minority). Bounds the publisher's list; fan-outs this wide are rare.
pub const PAUSE_RECEIVERS_MAX: usize = 4096;

/// The queue size over which a receiver with output limits `limit` is
/// behind: [`FLOW_HIGH_WATER`], or its smallest non-zero limit divided by
/// [`LIMIT_HEADROOM`] if that is smaller, so that a receiver with small
/// limits is waited for well before it would be cut.
pub fn high_water(limit: ClassLimit) -> usize {
    let mut high = FLOW_HIGH_WATER as u64;
    for l in [limit.hard, limit.soft] {
        if l > 0 {
            high = high.min(l / LIMIT_HEADROOM);
        }
    }
    high.max(1) as usize
}

/// A paused publisher's wait: how many of its receivers have drained, and
/// the wake-up for when half of them and when all of them have.
#[derive(Debug, Default)]
pub struct PauseWait {
    total: usize,
    drained: AtomicUsize,
    wake: Notify,
}

impl PauseWait {
    /// One more receiver drained (or went away).
    pub fn receiver_drained(&self) {
        let now = self.drained.fetch_add(1, Ordering::AcqRel) + 1;
        if now == self.total || now == self.total / 2 + 1 {
            self.wake.notify_one();
        }
    }

    /// How many have drained.
    fn drained(&self) -> usize {
        self.drained.load(Ordering::Acquire)
    }
}

/// What one batch noted: the largest fan-out of its publishes and its
/// receivers that were behind.
#[derive(Default)]
struct Tally {
    max_fanout: usize,
    /// The receivers behind, up to [`PAUSE_RECEIVERS_MAX`].
    behind: Vec<Arc<Client>>,
    /// All receivers behind, also those past that bound.
    behind_count: usize,
    id: u64,
}

thread_local! {
    /// The batch running on this thread, if any.
    static BATCH: RefCell<Option<Tally>> = const { RefCell::new(None) };
}

/// Batch ids: a receiver noted by batch `id` records it, so it is noted
/// once per batch however many messages it gets.
static NEXT_BATCH: AtomicU64 = AtomicU64::new(1);

/// A batch of one connection's requests whose publishes are tallied; a
/// batch inside a batch joins the outer one.
pub struct Batch {
    outer: bool,
}

impl Batch {
    /// Starts tallying on this thread.
    pub fn begin() -> Batch {
        let outer = BATCH.with(|b| {
            let mut b = b.borrow_mut();
            if b.is_some() {
                false
            } else {
                *b = Some(Tally {
                    id: NEXT_BATCH.fetch_add(1, Ordering::Relaxed),
                    ..Tally::default()
                });
                true
            }
        });
        Batch { outer }
    }

    /// Ends the batch: the pause its publisher must take, if any.
    pub fn end(mut self) -> Option<Pause> {
        if !std::mem::take(&mut self.outer) {
            return None;
        }
        let tally = BATCH.with(|b| b.borrow_mut().take())?;
        Pause::start(tally)
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if self.outer {
            BATCH.with(|b| b.borrow_mut().take());
        }
    }
}

/// Notes a publish that reached `receivers` (in a batch; elsewhere, as for
/// the sweep's expiry events, there is nobody to pause).
pub fn note_fanout(receivers: usize) {
    BATCH.with(|b| {
        if let Some(t) = b.borrow_mut().as_mut() {
            t.max_fanout = t.max_fanout.max(receivers);
        }
    });
}

/// Notes that `client`, just given a message, is behind.
pub fn note_behind(client: &Arc<Client>) {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let Some(t) = b.as_mut() else {
            return;
        };
        if client.outbox.flow.mark(t.id) {
            t.behind_count += 1;
            if t.behind.len() < PAUSE_RECEIVERS_MAX {
                t.behind.push(Arc::clone(client));
            }
        }
    });
}

/// A publisher's pause: the receivers it waits for.
pub struct Pause {
    wait: Arc<PauseWait>,
    receivers: Vec<Arc<Client>>,
    /// A minority of the fan-out was behind ([`MINORITY_SHARE`]): the
    /// receivers waited for are charged the pause.
    minority: bool,
    started: std::time::Instant,
    /// When it started ([`crate::client::now_us`] + 1).
    started_us: u64,
}

impl Pause {
    /// The pause a batch calls for: none unless a receiver it reached is
    /// behind and neither stalled nor a laggard.
    fn start(tally: Tally) -> Option<Pause> {
        let now = crate::client::coarse_now_ms() + 1;
        let now_us = crate::client::now_us() + 1;
        let minority = tally.behind_count * MINORITY_SHARE <= tally.max_fanout;
        let receivers: Vec<Arc<Client>> = tally
            .behind
            .into_iter()
            .filter(|c| c.outbox.flow.waited_for(now, now_us, minority))
            .collect();
        if receivers.is_empty() {
            return None;
        }
        let wait = Arc::new(PauseWait {
            total: receivers.len(),
            drained: AtomicUsize::new(0),
            wake: Notify::new(),
        });
        for c in &receivers {
            if !c.outbox.flow.add_waiter(&wait, c.outbox.pending()) {
                wait.receiver_drained();
            }
        }
        Some(Pause {
            wait,
            receivers,
            minority,
            started: std::time::Instant::now(),
            started_us: crate::client::now_us() + 1,
        })
    }

    /// Whether every receiver the pause still waits for has written
    /// nothing since it began, nor for [`MINORITY_STALL_GRACE_US`] before
    /// (a reader serving many sockets in turn may not have reached a
    /// healthy one yet).
    fn rest_stuck(&self) -> bool {
        let before = self.started_us.saturating_sub(MINORITY_STALL_GRACE_US);
        self.receivers.iter().all(|c| {
            let f = &c.outbox.flow;
            f.behind_since.load(Ordering::Relaxed) == 0
                || f.progress.load(Ordering::Relaxed) < before
        })
    }

    /// How long the pause has lasted.
    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Waits until the pause is over (see the module's documentation);
    /// returns true if [`PAUSE_MAX`] ended it.
    pub async fn wait(&self) -> bool {
        let started = tokio::time::Instant::now();
        let limit = started + PAUSE_MAX;
        let total = self.wait.total;
        let mut majority_at = None;
        loop {
            let woken = self.wait.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let drained = self.wait.drained();
            if drained >= total {
                return false;
            }
            let now = tokio::time::Instant::now();
            if drained * 2 > total && majority_at.is_none() {
                majority_at = Some(now);
            }
            let until = match majority_at {
                // The rest have not written a byte for a while before the
                // pause began: not slower readers but stopped ones (that the
                // stall grace still covers), so no allowance for scheduling
                // noise.
                Some(at) if self.rest_stuck() => limit.min(started + (at - started) * LAG_FACTOR),
                Some(at) => limit.min(started + ((at - started) * LAG_FACTOR).max(LAG_MIN)),
                None => limit,
            };
            if now >= until {
                return until == limit;
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        let charge = self
            .minority
            .then(|| self.started.elapsed().as_millis() as u64);
        let now = crate::client::coarse_now_ms() + 1;
        for c in &self.receivers {
            c.outbox.flow.remove_waiter(&self.wait);
            if let Some(ms) = charge {
                c.outbox.flow.charge_lag(ms, now);
            }
        }
    }
}

/// A receiver's flow-control state, kept in its outbox.
#[derive(Debug, Default)]
pub struct FlowState {
    /// Batch id that last noted this receiver.
    marked: AtomicU64,
    /// [`crate::client::now_us`] + 1 when it went behind; 0 while
    /// it is not.
    behind_since: AtomicU64,
    /// Its writer's last progress ([`crate::client::now_us`] + 1).
    progress: AtomicU64,
    /// Pause time charged to it (see [`LAG_DECAY_MS_PER_S`]), as of
    /// `lag_at` (coarse milliseconds).
    lag_ms: AtomicU64,
    lag_at: AtomicU64,
    /// The low watermark it drains to (set when it goes behind).
    low_water: AtomicUsize,
    /// Its writer's recent pace in bytes a second (see [`RATE_SPAN_US`]),
    /// and the span being measured: its start ([`crate::client::now_us`]
    /// + 1, 0 before the first write) and the bytes written in it.
    rate: AtomicU64,
    span_start: AtomicU64,
    span_bytes: AtomicU64,
    /// Whether the queue ran empty during the span.
    span_idle: std::sync::atomic::AtomicBool,
    /// Its socket refused a write since its queue was last empty: its
    /// reader, not the server, sets the pace.
    full: std::sync::atomic::AtomicBool,
    /// Publishers waiting for it to drain; none for nearly every client,
    /// so the list is boxed only while it has some (8 bytes in every
    /// client, not a `Vec`'s 24: `Client` stays in its allocation class).
    #[allow(clippy::box_collection)]
    waiters: std::sync::Mutex<Option<Box<Vec<Arc<PauseWait>>>>>,
    /// Whether `waiters` may be non-empty (read without the lock).
    has_waiters: std::sync::atomic::AtomicBool,
}

impl FlowState {
    /// Records that the receiver has `pending` bytes queued after a
    /// delivery under `limit`. Returns true if it is behind.
    pub fn after_delivery(&self, pending: usize, limit: ClassLimit) -> bool {
        let cap = high_water(limit);
        if pending <= cap.min(FLOW_HIGH_WATER_MIN) {
            return false;
        }
        let high = if self.full.load(Ordering::Relaxed) {
            let paced = self
                .rate
                .load(Ordering::Relaxed)
                .saturating_mul(FLOW_TARGET_DELAY_US)
                / 1_000_000;
            usize::try_from(paced)
                .unwrap_or(usize::MAX)
                .max(FLOW_HIGH_WATER_MIN)
                .min(cap)
        } else {
            // Its socket has taken everything: what waits is the server's
            // own delay (a busy thread), which pausing publishers would
            // only add to.
            cap
        };
        if pending <= high {
            return false;
        }
        if self.behind_since.load(Ordering::Relaxed) == 0 {
            self.low_water
                .store(high / FLOW_LOW_DIVISOR, Ordering::Relaxed);
            self.behind_since
                .store(crate::client::now_us() + 1, Ordering::SeqCst);
        }
        true
    }

    /// Whether a publisher should wait for this receiver, behind at `now`
    /// ([`crate::client::coarse_now_ms`] + 1; `now_us` likewise): not if it
    /// is stalled, nor if it is a laggard, while a minority of its
    /// publisher's widest fan-out is behind (`minority`).
    fn waited_for(&self, now: u64, now_us: u64, minority: bool) -> bool {
        let since = self.behind_since.load(Ordering::Relaxed);
        if since == 0 {
            return false;
        }
        let active = since.max(self.progress.load(Ordering::Relaxed));
        let grace = if minority {
            MINORITY_STALL_GRACE_US
        } else {
            STALL_GRACE_MS * 1000
        };
        let stalled = now_us.saturating_sub(active) > grace;
        let laggard = minority && self.lag(now) > LAG_BUDGET_MS;
        !stalled && !laggard
    }

    /// Its charge as of `now` (see [`LAG_DECAY_MS_PER_S`]).
    fn lag(&self, now: u64) -> u64 {
        let at = self.lag_at.load(Ordering::Relaxed);
        let worn = now.saturating_sub(at) * LAG_DECAY_MS_PER_S / 1000;
        self.lag_ms.load(Ordering::Relaxed).saturating_sub(worn)
    }

    /// Charges it `ms` of a publisher's pause at `now`. Only the paused
    /// publisher's own thread charges a receiver at a time in practice; a
    /// lost update between two publishers costs one charge.
    fn charge_lag(&self, ms: u64, now: u64) {
        let lag = self.lag(now) + ms;
        self.lag_ms.store(lag, Ordering::Relaxed);
        self.lag_at.store(now, Ordering::Relaxed);
    }

    /// Records the writer's progress down to `pending` queued bytes:
    /// releases the publishers waiting for it once it has drained.
    pub fn after_write(&self, pending: usize, written: usize) {
        if pending == 0 {
            self.full.store(false, Ordering::Relaxed);
        }
        let now = crate::client::now_us() + 1;
        self.progress.store(now, Ordering::Relaxed);
        // Only the receiver's own writer updates its pace.
        let start = self.span_start.load(Ordering::Relaxed);
        let bytes = self.span_bytes.load(Ordering::Relaxed) + written as u64;
        if start == 0 || now - start >= RATE_SPAN_US {
            if start != 0 {
                let len = now - start;
                let span = bytes.saturating_mul(1_000_000) / len;
                let old = self.rate.load(Ordering::Relaxed);
                let rate = if self.span_idle.load(Ordering::Relaxed) || pending == 0 {
                    // The queue ran empty: the span also timed the wait for
                    // messages, so it only shows the least it can take.
                    old.max(span)
                } else {
                    // A span's weight grows with its length: after a long
                    // gap (a socket that takes a third of its buffer at a
                    // time) the new pace replaces the old one outright.
                    let w = len.min(RATE_HORIZON_US);
                    let r = (u128::from(old) * u128::from(RATE_HORIZON_US - w)
                        + u128::from(span) * u128::from(w))
                        / u128::from(RATE_HORIZON_US);
                    u64::try_from(r).unwrap_or(u64::MAX)
                };
                self.rate.store(rate, Ordering::Relaxed);
            }
            self.span_start.store(now, Ordering::Relaxed);
            self.span_bytes.store(0, Ordering::Relaxed);
            self.span_idle.store(pending == 0, Ordering::Relaxed);
        } else {
            self.span_bytes.store(bytes, Ordering::Relaxed);
            if pending == 0 {
                self.span_idle.store(true, Ordering::Relaxed);
            }
        }
        if self.behind_since.load(Ordering::Relaxed) == 0
            || pending > self.low_water.load(Ordering::Relaxed)
        {
            return;
        }
        self.behind_since.store(0, Ordering::SeqCst);
        self.release_waiters();
    }

    /// Records that the receiver's socket refused a write.
    pub fn socket_full(&self) {
        self.full.store(true, Ordering::Relaxed);
    }

    /// Releases every waiting publisher (drained, or the client is gone).
    pub fn release_waiters(&self) {
        if !self.has_waiters.load(Ordering::SeqCst) {
            return;
        }
        let waiters = {
            let mut w = match self.waiters.lock() {
                Ok(w) => w,
                Err(p) => p.into_inner(),
            };
            self.has_waiters.store(false, Ordering::SeqCst);
            w.take()
        };
        for w in waiters.into_iter().flat_map(|b| *b) {
            w.receiver_drained();
        }
    }

    /// Marks the receiver as noted by batch `id`; false if it already was.
    fn mark(&self, id: u64) -> bool {
        self.marked.swap(id, Ordering::Relaxed) != id
    }

    /// Adds a waiting publisher; false if the receiver has already drained
    /// (`pending` at or below its low watermark), so there is nothing to
    /// wait for.
    fn add_waiter(&self, wait: &Arc<PauseWait>, pending: usize) -> bool {
        if self.behind_since.load(Ordering::Relaxed) == 0
            || pending <= self.low_water.load(Ordering::Relaxed)
        {
            return false;
        }
        let mut w = match self.waiters.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        w.get_or_insert_with(Box::default).push(Arc::clone(wait));
        self.has_waiters.store(true, Ordering::SeqCst);
        // The writer clears `behind_since` and then looks for waiters; if
        // it drained between the check above and the push, it may have
        // looked too early: look again (under the lock it needs to release).
        if self.behind_since.load(Ordering::SeqCst) == 0 {
            if let Some(list) = w.as_mut() {
                list.pop();
                if list.is_empty() {
                    *w = None;
                    self.has_waiters.store(false, Ordering::SeqCst);
                }
            }
            return false;
        }
        true
    }

    /// Forgets a publisher whose pause has ended.
    fn remove_waiter(&self, wait: &Arc<PauseWait>) {
        if !self.has_waiters.load(Ordering::SeqCst) {
            return;
        }
        let mut w = match self.waiters.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        if let Some(list) = w.as_mut() {
            list.retain(|x| !Arc::ptr_eq(x, wait));
            if list.is_empty() {
                *w = None;
                self.has_waiters.store(false, Ordering::SeqCst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Peer;

    fn client(id: u64) -> Arc<Client> {
        let addr = "127.0.0.1:1".parse().expect("address");
        Arc::new(Client::new(id, Peer::tcp(addr, addr, -1)))
    }

    fn limit(hard: u64, soft: u64) -> ClassLimit {
        ClassLimit {
            hard,
            soft,
            soft_seconds: 60,
        }
    }

    /// Marks `c` behind (as a delivery over its high watermark would) and
    /// notes it in the running batch.
    fn behind(c: &Arc<Client>) {
        assert!(c.outbox.flow.after_delivery(1 << 20, limit(0, 0)));
        note_behind(c);
    }

    #[test]
    fn the_high_watermark_leaves_headroom_below_small_limits() {
        assert_eq!(high_water(limit(0, 0)), FLOW_HIGH_WATER);
        assert_eq!(high_water(limit(32 << 20, 8 << 20)), FLOW_HIGH_WATER);
        assert_eq!(high_water(limit(256 << 10, 0)), 16 << 10);
        assert_eq!(high_water(limit(0, 64 << 10)), 4 << 10);
    }

    #[test]
    fn the_high_watermark_is_the_recent_pace_times_the_target_delay() {
        let c = client(1);
        let flow = &c.outbox.flow;
        let behind_at = |pending: usize| {
            let b = flow.after_delivery(pending, limit(32 << 20, 8 << 20));
            flow.behind_since.store(0, Ordering::Relaxed);
            b
        };
        // A socket that takes everything: the cap, whatever the pace.
        assert!(!behind_at(FLOW_HIGH_WATER));
        assert!(behind_at(FLOW_HIGH_WATER + 1));
        // Once it refuses a write, with no pace measured yet: the floor.
        flow.socket_full();
        assert!(!behind_at(FLOW_HIGH_WATER_MIN));
        assert!(behind_at(FLOW_HIGH_WATER_MIN + 1));
        // 20 MB/s: FLOW_TARGET_DELAY_US of writes.
        flow.rate.store(20_000_000, Ordering::Relaxed);
        let paced = (20 * FLOW_TARGET_DELAY_US) as usize;
        assert!(paced > FLOW_HIGH_WATER_MIN && paced < FLOW_HIGH_WATER);
        assert!(!behind_at(paced));
        assert!(behind_at(paced + 1));
        // A pace beyond FLOW_HIGH_WATER's, or small output limits, cap it.
        flow.rate.store(10_000_000_000, Ordering::Relaxed);
        assert!(!behind_at(FLOW_HIGH_WATER));
        assert!(behind_at(FLOW_HIGH_WATER + 1));
        assert!(flow.after_delivery(4 << 10, limit(0, 32 << 10)));
    }

    #[test]
    fn the_writer_measures_its_pace_over_spans() {
        let c = client(1);
        let flow = &c.outbox.flow;
        // Backlogged writes (something still queued after each).
        flow.after_write(1, 1_000);
        assert_eq!(flow.rate.load(Ordering::Relaxed), 0, "a span has begun");
        std::thread::sleep(Duration::from_micros(RATE_SPAN_US + 1_000));
        flow.after_write(1, 60_000);
        // 60,000 bytes over at least 6 ms: at most 10 MB/s.
        let rate = flow.rate.load(Ordering::Relaxed);
        let most = 60_000 * 1_000_000 / (RATE_SPAN_US + 1_000);
        assert!(rate > 0 && rate <= most, "{rate} of at most {most}");
        // A long backlogged span sets the pace alone, lower too.
        std::thread::sleep(Duration::from_micros(RATE_HORIZON_US + 1_000));
        flow.after_write(1, 1_000);
        let slow = flow.rate.load(Ordering::Relaxed);
        assert!(slow < rate, "{slow} after {rate}");
        // A span in which the queue ran empty does not lower it: the
        // receiver was waiting for messages, not slow.
        std::thread::sleep(Duration::from_micros(RATE_HORIZON_US + 1_000));
        flow.after_write(0, 10);
        assert_eq!(flow.rate.load(Ordering::Relaxed), slow);
    }

    #[test]
    fn a_group_behind_pauses_its_publisher_until_it_drains() {
        let subs: Vec<_> = (1..=4).map(client).collect();
        let batch = Batch::begin();
        note_fanout(4);
        for c in &subs[..3] {
            behind(c);
        }
        let pause = batch.end().expect("three of four behind: a pause");
        assert_eq!(pause.wait.total, 3);
        for c in &subs[..3] {
            c.outbox.flow.after_write(0, 0);
        }
        assert_eq!(pause.wait.drained(), 3, "each drained receiver counts once");
    }

    #[test]
    fn a_minority_that_takes_nothing_is_not_waited_for() {
        let subs: Vec<_> = (1..=10).map(client).collect();
        // One of ten behind, its writer active just now: waited for.
        let batch = Batch::begin();
        note_fanout(10);
        subs[0].outbox.flow.after_write(1 << 20, 0);
        behind(&subs[0]);
        assert!(batch.end().is_some());
        // The same receiver with no write for longer than the minority
        // grace: a frozen client, not waited for.
        std::thread::sleep(Duration::from_micros(2 * MINORITY_STALL_GRACE_US));
        let stale = crate::client::now_us().saturating_sub(MINORITY_STALL_GRACE_US + 1_000);
        subs[0].outbox.flow.progress.store(stale, Ordering::Relaxed);
        subs[0]
            .outbox
            .flow
            .behind_since
            .store(stale, Ordering::Relaxed);
        let batch = Batch::begin();
        note_fanout(10);
        behind(&subs[0]);
        assert!(batch.end().is_none());
    }

    #[test]
    fn a_batch_that_reached_nobody_behind_does_not_pause() {
        let batch = Batch::begin();
        note_fanout(100);
        assert!(batch.end().is_none());
    }
}

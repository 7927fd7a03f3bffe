//! Pub/sub: who is subscribed to what, and how a message reaches them.
//!
//! The publish path, in three files:
//! 1. `commands/publish.rs` takes `PUBLISH channel message`, or collects a
//!    pipelined run of them to one channel to be delivered together;
//! 2. [`registry`] finds the receivers (exact channel subscribers, then
//!    matching patterns via [`patterns`]) and encodes the message (or the
//!    run) once per protocol, shared by every receiver;
//! 3. [`outbox`] appends it to each receiver's bounded queue without ever
//!    waiting, and each receiver's connection task drains its queue with
//!    non-blocking vectored writes. A receiver over its output limits is disconnected,
//!    never silently skipped.
//!
//! [`flow`] closes the loop: a publisher whose receivers fall behind as a
//! group stops being read until they catch up.

pub mod flow;
pub mod key;
pub mod names;
pub mod outbox;
pub mod patterns;
pub mod registry;
pub mod subscribers;
pub mod wakeups;

pub use outbox::{Outbox, PushOutcome, SharedFrame};
pub use registry::{Kind, Registry};

//! # pubsubd
//!
//! A Redis-compatible pub/sub server: a fast, bounded backplane for
//! SignalR, socket.io and any Redis pub/sub client.
//!
//! ## Components
//! - [`config`]: redis.conf parsing, command-line flags, CONFIG GET/SET.
//! - [`server`]: listeners, accept loops (maxclients, protected mode), the
//!   periodic sweep (soft output limits, idle timeout) and graceful shutdown.
//! - [`connection`]: one task per client that reads and runs its requests
//!   and drains its outbox with non-blocking vectored writes.
//! - [`protocol`]: request framing with Redis's limits and error texts on top
//!   of the `redis-protocol` codec; replies encoded in RESP2 or RESP3.
//! - [`session`]: a connection's private state (auth, protocol, database,
//!   subscriptions, reply mode).
//! - [`commands`]: the command table and one file per command; `dispatch`
//!   checks arity, auth and subscribed mode in one place.
//! - [`pubsub`]: the channel registry (behind a reader-sharded lock), the
//!   pattern index, and the bounded per-client outbox with the
//!   slow-consumer policy.
//! - [`keyspace`] (string keys with expiry, WATCH, events), [`notify`]
//!   (keyspace notifications) and [`scripting`] (Lua): the data side.
//! - [`cluster`]: cluster mode, several nodes linked through NATS
//!   (`cluster-nats`); off unless configured.
//! - [`client`], [`shared`], [`stats`], [`logging`],
//!   [`auth`], [`glob`], [`splitargs`]: supporting pieces.
//!
//! ## Data flow of a publish
//! `PUBLISH ch msg` is parsed by [`protocol::request`], dispatched to
//! `commands/publish.rs` (which delivers a pipelined run of PUBLISHes to one
//! channel together), fanned out by [`pubsub::registry`] (message or run
//! encoded once per protocol version, shared by every receiver), and queued
//! on each receiver's [`pubsub::outbox`] without waiting; each receiver's
//! connection task writes its queue to its socket. A receiver over its output
//! limits is disconnected, logged and counted — never silently skipped.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod acl;
pub mod auth;
pub mod client;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod connection;
pub mod glob;
pub mod keyspace;
pub mod logging;
pub mod lualibs;
pub mod luastruct;
pub mod notify;
pub mod protocol;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod session;
pub mod shared;
pub mod splitargs;
pub mod stats;
pub mod tls;

/// The Redis version pubsubd reports (INFO `redis_version`, HELLO
/// `version`): the Redis release whose behaviour it follows.
pub const REDIS_VERSION: &str = "7.2.4";

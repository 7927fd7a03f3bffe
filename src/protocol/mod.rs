//! The wire: requests in, replies out.
//!
//! `request` turns the bytes a client sends into argument vectors, enforcing
//! Redis's limits and error wording before handing complete frames to the
//! `redis-protocol` codec; `reply` turns a [`Reply`] into RESP2 or RESP3 bytes
//! through the same codec.

pub mod args;
pub mod pieces;
pub mod reply;
pub mod request;

pub use args::Args;
pub use reply::{Protocol, Reply};
pub use request::{ParseError, Parsed, RequestParser};

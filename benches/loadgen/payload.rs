//! What every published payload starts with, and the clock its timestamp
//! comes from.
//!
//! The 16-byte header (little-endian): publisher id (u16), channel index
//! (u32), sequence number per (publisher, channel) (u32), send time in
//! nanoseconds since the generator started (u48, good for 78 hours). The
//! rest of the payload is filler up to the requested size. Publishers and
//! subscribers live in the same process, so one monotonic clock serves both.

use std::sync::OnceLock;
use std::time::Instant;

/// Bytes of header at the start of every payload; also the smallest payload.
pub const HEADER_LEN: usize = 16;

/// The generator's time origin.
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The time origin, fixed on first use.
pub fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since the time origin.
pub fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// `t` as nanoseconds since the time origin (0 for instants before it).
pub fn instant_ns(t: Instant) -> u64 {
    t.saturating_duration_since(epoch()).as_nanos() as u64
}

/// The decoded payload header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Which publisher sent it.
    pub publisher: u16,
    /// Index of the channel it was published on.
    pub channel: u32,
    /// Position in that publisher's sequence on that channel, from 0.
    pub seq: u32,
    /// When it was sent (or, at a fixed rate, scheduled), in [`now_ns`] units.
    pub sent_ns: u64,
}

impl Header {
    /// The 16 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..2].copy_from_slice(&self.publisher.to_le_bytes());
        b[2..6].copy_from_slice(&self.channel.to_le_bytes());
        b[6..10].copy_from_slice(&self.seq.to_le_bytes());
        b[10..16].copy_from_slice(&self.sent_ns.to_le_bytes()[0..6]);
        b
    }

    /// Decodes the first 16 bytes of `payload`; `None` if it is shorter.
    pub fn decode(payload: &[u8]) -> Option<Header> {
        let b: &[u8; HEADER_LEN] = payload.get(..HEADER_LEN)?.try_into().ok()?;
        let mut ts = [0u8; 8];
        ts[0..6].copy_from_slice(&b[10..16]);
        Some(Header {
            publisher: u16::from_le_bytes([b[0], b[1]]),
            channel: u32::from_le_bytes([b[2], b[3], b[4], b[5]]),
            seq: u32::from_le_bytes([b[6], b[7], b[8], b[9]]),
            sent_ns: u64::from_le_bytes(ts),
        })
    }
}

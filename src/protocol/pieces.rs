//! Shared pieces of pub/sub push frames, produced by the codec once.
//!
//! Every published message is a push of three or four bulk strings
//! (`message`, channel, payload). Encoding it through redis-protocol's frame
//! encoder costs about 1,900 instructions (callgrind on
//! `micro publish_path`): it sizes every length prefix with an `f64` `log10`
//! twice and writes through parser-combinator closures, a third of
//! the publish path's CPU. Redis keeps preformatted shared headers
//! (`shared.mbulkhdr`, `shared.bulkhdr`) for the same reason.
//!
//! Here the codec encodes, once, the aggregate headers for 0 to 4 elements
//! and the bulk headers for lengths below [`SHARED_BULK_HEADERS`], in both
//! protocols; a push whose parts are all that short is then assembled from
//! those pieces and the parts' bytes. Every piece is cut out of a complete
//! codec encoding and checked to put that encoding back together; if a check
//! failed the table is not used and every push goes through the codec.

use std::sync::LazyLock;

use bytes::BytesMut;
use redis_protocol::resp2::types::BorrowedFrame as B2;
use redis_protocol::resp3::types::BorrowedFrame as B3;

use crate::protocol::Protocol;

/// Bulk strings shorter than this take their header from the table (the
/// copy limit of a receiver's queue: longer frames are shared, not copied,
/// and their encoding cost is small next to their size).
pub const SHARED_BULK_HEADERS: usize = 512;
/// Most parts a push has (`pmessage`, pattern, channel, payload).
pub const MAX_PUSH_PARTS: usize = 4;

/// One protocol's pieces.
struct Pieces {
    /// Header of a push with `n` elements, for n in 0..=MAX_PUSH_PARTS.
    aggregate: Vec<Vec<u8>>,
    /// Headers of bulk strings of length 0..SHARED_BULK_HEADERS, back to
    /// back; `ends[len]` is where the header for `len` ends.
    headers: Vec<u8>,
    ends: Vec<usize>,
    /// What follows a bulk string's bytes.
    trailer: Vec<u8>,
}

static RESP2: LazyLock<Option<Pieces>> = LazyLock::new(|| Pieces::build(Protocol::Resp2));
static RESP3: LazyLock<Option<Pieces>> = LazyLock::new(|| Pieces::build(Protocol::Resp3));

/// The codec's encoding of a push of `parts` in `proto`.
pub fn codec_push(proto: Protocol, parts: &[&[u8]]) -> Option<Vec<u8>> {
    let n = parts.len();
    if n > MAX_PUSH_PARTS {
        return None;
    }
    let mut out = BytesMut::new();
    let ok = match proto {
        Protocol::Resp2 => {
            let items: [B2<'_>; MAX_PUSH_PARTS] =
                std::array::from_fn(|i| B2::BulkString(parts.get(i).copied().unwrap_or(&[])));
            let frame = B2::Array(&items[..n]);
            redis_protocol::resp2::encode::extend_encode_borrowed(&mut out, &frame, false).is_ok()
        }
        Protocol::Resp3 => {
            let items: [B3<'_>; MAX_PUSH_PARTS] = std::array::from_fn(|i| B3::BlobString {
                data: parts.get(i).copied().unwrap_or(&[]),
                attributes: None,
            });
            let frame = B3::Push {
                data: &items[..n],
                attributes: None,
            };
            redis_protocol::resp3::encode::complete::extend_encode_borrowed(&mut out, &frame, false)
                .is_ok()
        }
    };
    ok.then(|| out.to_vec())
}

impl Pieces {
    /// Cuts the pieces out of the codec's encodings, checking each cut.
    fn build(proto: Protocol) -> Option<Pieces> {
        // One bulk of one byte: header, the byte, trailer. The header has no
        // 'x' in it (a type marker, digits, CRLF).
        let one = codec_push(proto, &[b"x"])?;
        let empty_push = codec_push(proto, &[])?;
        let with_one = &one[empty_push.len()..];
        let at = with_one.iter().position(|&b| b == b'x')?;
        let trailer = with_one.get(at + 1..)?.to_vec();
        let mut headers = Vec::new();
        let mut ends = Vec::with_capacity(SHARED_BULK_HEADERS);
        for len in 0..SHARED_BULK_HEADERS {
            let data = vec![b'x'; len];
            let whole = codec_push(proto, &[&data])?;
            let bulk = whole.get(empty_push.len()..)?;
            let header_len = bulk.len().checked_sub(len + trailer.len())?;
            let (header, rest) = bulk.split_at(header_len);
            if rest.get(..len)? != &data[..] || rest.get(len..)? != &trailer[..] {
                return None;
            }
            headers.extend_from_slice(header);
            ends.push(headers.len());
        }
        // A push of n empty bulks is its header and n empty-bulk encodings.
        let empty_bulk_len = ends.first()? + trailer.len();
        let mut aggregate = Vec::with_capacity(MAX_PUSH_PARTS + 1);
        for n in 0..=MAX_PUSH_PARTS {
            let parts = [&b""[..]; MAX_PUSH_PARTS];
            let whole = codec_push(proto, &parts[..n])?;
            let header_len = whole.len().checked_sub(n * empty_bulk_len)?;
            aggregate.push(whole.get(..header_len)?.to_vec());
        }
        let pieces = Pieces {
            aggregate,
            headers,
            ends,
            trailer,
        };
        // The assembly must reproduce the codec for every shape it takes.
        let sample = [&b"message"[..], b"a.channel", b"", b"payload"];
        for n in 0..=MAX_PUSH_PARTS {
            let mut buf = Vec::new();
            if !pieces.assemble(&sample[..n], &mut buf, usize::MAX)
                || buf != codec_push(proto, &sample[..n])?
            {
                return None;
            }
        }
        Some(pieces)
    }

    fn header(&self, len: usize) -> Option<&[u8]> {
        let start = if len == 0 {
            0
        } else {
            *self.ends.get(len - 1)?
        };
        self.headers.get(start..*self.ends.get(len)?)
    }

    /// Appends the push of `parts` to `out` if it is at most `max` bytes
    /// long; false, appending nothing, if it is longer or a part is too long
    /// for the table.
    fn assemble(&self, parts: &[&[u8]], out: &mut Vec<u8>, max: usize) -> bool {
        let Some(aggregate) = self.aggregate.get(parts.len()) else {
            return false;
        };
        let mut headers: [&[u8]; MAX_PUSH_PARTS] = [&[]; MAX_PUSH_PARTS];
        let mut len = aggregate.len();
        for (slot, part) in headers.iter_mut().zip(parts) {
            let Some(header) = self.header(part.len()) else {
                return false;
            };
            *slot = header;
            len += header.len() + part.len() + self.trailer.len();
        }
        if len > max {
            return false;
        }
        out.reserve(len);
        out.extend_from_slice(aggregate);
        for (header, part) in headers.iter().zip(parts) {
            out.extend_from_slice(header);
            out.extend_from_slice(part);
            out.extend_from_slice(&self.trailer);
        }
        true
    }
}

/// Appends the push of `parts` in `proto` to `out` from the shared pieces
/// when it is at most `max` bytes long. False, appending nothing, when it is
/// longer, a part is [`SHARED_BULK_HEADERS`] bytes or longer, or there are
/// more than [`MAX_PUSH_PARTS`] parts (the caller then uses the codec).
pub fn assemble_push(proto: Protocol, parts: &[&[u8]], out: &mut Vec<u8>, max: usize) -> bool {
    let pieces = match proto {
        Protocol::Resp2 => RESP2.as_ref(),
        Protocol::Resp3 => RESP3.as_ref(),
    };
    let mut slices: [&[u8]; MAX_PUSH_PARTS] = [&[]; MAX_PUSH_PARTS];
    for (slot, part) in slices.iter_mut().zip(parts) {
        *slot = part;
    }
    match (pieces, slices.get(..parts.len())) {
        (Some(pieces), Some(parts)) => pieces.assemble(parts, out, max),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tables_build() {
        assert!(RESP2.is_some());
        assert!(RESP3.is_some());
    }

    #[test]
    fn assembled_pushes_equal_the_codec_for_every_shared_length() {
        let kind: &[u8] = b"message";
        let channel: &[u8] = b"bench.s2.42";
        for proto in [Protocol::Resp2, Protocol::Resp3] {
            for len in 0..SHARED_BULK_HEADERS + 3 {
                let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let parts = [kind, channel, &payload[..]];
                let expected = codec_push(proto, &parts).expect("codec");
                let mut buf = b"before".to_vec();
                if assemble_push(proto, &parts, &mut buf, usize::MAX) {
                    assert!(len < SHARED_BULK_HEADERS, "{len}");
                    assert_eq!(&buf[..6], b"before");
                    assert_eq!(&buf[6..], &expected[..], "{proto:?} {len}");
                } else {
                    assert!(len >= SHARED_BULK_HEADERS, "{proto:?} {len}");
                    assert_eq!(buf, b"before", "nothing appended");
                }
            }
        }
    }

    #[test]
    fn four_parts_and_a_length_limit() {
        let refs: [&[u8]; 4] = [b"pmessage", b"news.*", b"news.art", b"hello"];
        for proto in [Protocol::Resp2, Protocol::Resp3] {
            let expected = codec_push(proto, &refs).expect("codec");
            let mut buf = Vec::new();
            assert!(assemble_push(proto, &refs, &mut buf, expected.len()));
            assert_eq!(buf, expected);
            let mut short = Vec::new();
            assert!(!assemble_push(proto, &refs, &mut short, expected.len() - 1));
            assert!(short.is_empty());
        }
        let five: Vec<&[u8]> = refs.iter().chain(&refs[..1]).copied().collect();
        assert!(!assemble_push(Protocol::Resp2, &five, &mut Vec::new(), 256));
    }
}

//! Replies and their encoding in RESP2 and RESP3.
//!
//! Commands build a [`Reply`]; the session encodes it for the protocol the
//! client negotiated (RESP2 unless it sent `HELLO 3`). Encoding goes through
//! `redis-protocol`'s frame types and encoders; the only bytes written by hand
//! are RESP2's null array (`*-1`), which that codec has no frame for, and the
//! headers of RESP3 aggregates (see [`Reply::encode`]).

use bytes::{BufMut, Bytes, BytesMut};
use redis_protocol::resp2::types::BytesFrame as F2;
use redis_protocol::resp3::types::{BytesFrame as F3, FrameMap, FrameSet, VerbatimStringFormat};

/// The protocol version a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2, the default for every new connection.
    Resp2,
    /// RESP3, chosen with `HELLO 3`.
    Resp3,
}

impl Protocol {
    /// The number HELLO and CLIENT LIST show for this protocol.
    pub fn number(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// A reply to a command, independent of the protocol it will be sent in.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+text`.
    Status(Bytes),
    /// `-text`; the text includes the error code (`ERR ...`, `NOAUTH ...`).
    /// Bytes, not text: an error quotes client arguments as they were sent.
    Error(Bytes),
    /// `:n`.
    Int(i64),
    /// `$len bytes`.
    Bulk(Bytes),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    NilArray,
    /// `*n ...`.
    Array(Vec<Reply>),
    /// `%n ...` in RESP3, a flat array of keys and values in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// `~n ...` in RESP3, an array in RESP2.
    Set(Vec<Reply>),
    /// `>n ...` in RESP3, an array in RESP2: out-of-band data such as
    /// pub/sub messages.
    Push(Vec<Reply>),
    /// `=len txt:...` in RESP3 (INFO, CLIENT LIST), a bulk string in RESP2.
    Verbatim(Bytes),
    /// `,x` in RESP3, a bulk string in RESP2.
    Double(f64),
    /// `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    Bool(bool),
    /// The command already wrote its replies itself (the subscribe family
    /// writes one per channel); nothing more is sent.
    Sent,
    /// Replies the command encoded itself, written as they are: inside EXEC
    /// the subscribe family's confirmations, one per channel, take the place
    /// of the one reply the EXEC array counts for the command (as in Redis).
    Frames(Bytes),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Status(Bytes::from_static(b"OK"))
    }

    /// A status reply from static text.
    pub fn status(text: &'static str) -> Reply {
        Reply::Status(Bytes::from_static(text.as_bytes()))
    }

    /// An error reply; `text` starts with the error code.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(Bytes::from(text.into()))
    }

    /// An error reply whose text may hold any bytes (client arguments).
    pub fn error_bytes(text: impl Into<Bytes>) -> Reply {
        Reply::Error(text.into())
    }

    /// A bulk string reply.
    pub fn bulk(data: impl Into<Bytes>) -> Reply {
        Reply::Bulk(data.into())
    }

    /// A bulk string from static text.
    pub fn bulk_static(text: &'static str) -> Reply {
        Reply::Bulk(Bytes::from_static(text.as_bytes()))
    }

    /// An array of bulk strings.
    pub fn bulks<I: IntoIterator<Item = Bytes>>(items: I) -> Reply {
        Reply::Array(items.into_iter().map(Reply::Bulk).collect())
    }

    /// Whether this reply is an error (for error counters).
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the encoding of this reply in `proto` to `out`.
    pub fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        match (self, proto) {
            (Reply::Sent, _) => {}
            (Reply::Frames(bytes), _) => out.put_slice(bytes),
            // Written here, not by the codec, whose error frames must be
            // UTF-8: the same `-text` line in RESP2 and RESP3.
            (Reply::Error(e), _) => {
                out.put_u8(b'-');
                out.put_slice(&sanitize_error(e));
                out.put_slice(b"\r\n");
            }
            // An array holding pre-encoded frames or errors is written
            // member by member so that they stay verbatim.
            (Reply::Array(items), Protocol::Resp2)
                if items
                    .iter()
                    .any(|i| matches!(i, Reply::Frames(_) | Reply::Error(_))) =>
            {
                encode_all(b'*', items, proto, out)
            }
            (Reply::Int(i), _) if let Some(bytes) = shared_integer(*i) => out.put_slice(bytes),
            (Reply::NilArray, Protocol::Resp2) => out.put_slice(b"*-1\r\n"),
            // RESP3 aggregates are written member by member: the codec's set
            // and map frames hash their members, which panics for an
            // aggregate member and merges equal ones that Redis sends each
            // (a script's reply can hold both). The recursion is as deep as
            // the reply: a script's is bounded by LUA_REPLY_MAX_DEPTH.
            (Reply::Array(items), Protocol::Resp3) => encode_all(b'*', items, proto, out),
            (Reply::Set(items), Protocol::Resp3) => encode_all(b'~', items, proto, out),
            (Reply::Push(items), Protocol::Resp3) => encode_all(b'>', items, proto, out),
            (Reply::Map(pairs), Protocol::Resp3) => {
                out.put_slice(format!("%{}\r\n", pairs.len()).as_bytes());
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            (_, Protocol::Resp2) => {
                let frame = self.to_resp2();
                if redis_protocol::resp2::encode::extend_encode(out, &frame, false).is_err() {
                    out.put_slice(b"-ERR reply encoding failed\r\n");
                }
            }
            (_, Protocol::Resp3) => {
                let frame = self.to_resp3();
                if redis_protocol::resp3::encode::complete::extend_encode(out, &frame, false)
                    .is_err()
                {
                    out.put_slice(b"-ERR reply encoding failed\r\n");
                }
            }
        }
    }

    /// Encodes this reply on its own into a fresh buffer.
    pub fn to_bytes(&self, proto: Protocol) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(proto, &mut out);
        out.freeze()
    }

    /// The RESP2 frame for this reply (RESP3-only types folded the way Redis
    /// folds them).
    fn to_resp2(&self) -> F2 {
        match self {
            Reply::Status(s) => F2::SimpleString(s.clone()),
            Reply::Error(e) => F2::Error(String::from_utf8_lossy(&sanitize_error(e)).into()),
            Reply::Int(i) => F2::Integer(*i),
            Reply::Bulk(b) | Reply::Verbatim(b) => F2::BulkString(b.clone()),
            Reply::Nil | Reply::NilArray | Reply::Sent | Reply::Frames(_) => F2::Null,
            Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
                F2::Array(items.iter().map(Reply::to_resp2).collect())
            }
            Reply::Map(pairs) => F2::Array(
                pairs
                    .iter()
                    .flat_map(|(k, v)| [k.to_resp2(), v.to_resp2()])
                    .collect(),
            ),
            Reply::Double(d) => F2::BulkString(Bytes::from(format_double(*d))),
            Reply::Bool(b) => F2::Integer(i64::from(*b)),
        }
    }

    /// The RESP3 frame for this reply.
    fn to_resp3(&self) -> F3 {
        match self {
            Reply::Status(s) => F3::SimpleString {
                data: s.clone(),
                attributes: None,
            },
            Reply::Error(e) => F3::SimpleError {
                data: String::from_utf8_lossy(&sanitize_error(e)).into(),
                attributes: None,
            },
            Reply::Int(i) => F3::Number {
                data: *i,
                attributes: None,
            },
            Reply::Bulk(b) => F3::BlobString {
                data: b.clone(),
                attributes: None,
            },
            Reply::Verbatim(b) => F3::VerbatimString {
                data: b.clone(),
                format: VerbatimStringFormat::Text,
                attributes: None,
            },
            Reply::Nil | Reply::NilArray | Reply::Sent | Reply::Frames(_) => F3::Null,
            Reply::Array(items) => F3::Array {
                data: items.iter().map(Reply::to_resp3).collect(),
                attributes: None,
            },
            Reply::Push(items) => F3::Push {
                data: items.iter().map(Reply::to_resp3).collect(),
                attributes: None,
            },
            Reply::Set(items) => {
                let mut set = FrameSet::default();
                for item in items {
                    set.insert(item.to_resp3());
                }
                F3::Set {
                    data: set,
                    attributes: None,
                }
            }
            Reply::Map(pairs) => {
                let mut map = FrameMap::default();
                for (k, v) in pairs {
                    map.insert(k.to_resp3(), v.to_resp3());
                }
                F3::Map {
                    data: map,
                    attributes: None,
                }
            }
            Reply::Double(d) => F3::Double {
                data: *d,
                attributes: None,
            },
            Reply::Bool(b) => F3::Boolean {
                data: *b,
                attributes: None,
            },
        }
    }
}

/// Writes an aggregate's header (`kind` and length) and then its members.
fn encode_all(kind: u8, items: &[Reply], proto: Protocol, out: &mut BytesMut) {
    out.put_u8(kind);
    out.put_slice(format!("{}\r\n", items.len()).as_bytes());
    for item in items {
        item.encode(proto, out);
    }
}

/// Error texts travel on one line: Redis replaces CR and LF with spaces so a
/// client-supplied argument echoed in an error cannot break the framing.
fn sanitize_error(text: &[u8]) -> Vec<u8> {
    text.iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect()
}

/// Formats a double the way Redis's RESP2 bulk form does (`%.17g`-like, with
/// `inf`/`-inf`).
fn format_double(d: f64) -> String {
    if d.is_infinite() {
        if d > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{d}")
    }
}

/// Integer replies from 0 up to this bound are encoded once, by the codec,
/// and copied from a table afterwards (as Redis keeps shared integer
/// objects): PUBLISH answers with a small count on every call. `:n\r\n` is
/// the same in RESP2 and RESP3.
pub const SHARED_INTEGERS: i64 = 1024;

/// The codec's encodings of `:0` .. `:SHARED_INTEGERS-1`, back to back, and
/// where each one ends.
static INTEGERS: std::sync::LazyLock<(Vec<u8>, Vec<usize>)> = std::sync::LazyLock::new(|| {
    let mut all = BytesMut::new();
    let mut ends = Vec::with_capacity(SHARED_INTEGERS as usize);
    for i in 0..SHARED_INTEGERS {
        if redis_protocol::resp2::encode::extend_encode(&mut all, &F2::Integer(i), false).is_err() {
            all.put_slice(format!(":{i}\r\n").as_bytes());
        }
        ends.push(all.len());
    }
    (all.to_vec(), ends)
});

/// The table's encoding of integer reply `i`, if it has one
/// (0 <= i < [`SHARED_INTEGERS`]).
fn shared_integer(i: i64) -> Option<&'static [u8]> {
    let i = usize::try_from(i).ok()?;
    let (all, ends) = &*INTEGERS;
    let start = if i == 0 { 0 } else { *ends.get(i - 1)? };
    all.get(start..*ends.get(i)?)
}

/// Encodes a pub/sub push (`message`, `pmessage`, `smessage`, subscribe
/// confirmations) in `proto`: an array in RESP2, a push frame in RESP3.
///
/// This is on the publish path (once per message and protocol), so it uses
/// the codec's borrowed frames: no intermediate vectors, one exact
/// allocation.
pub fn encode_push(proto: Protocol, parts: &[&[u8]]) -> Bytes {
    with_push_frame(proto, parts, |frame| {
        let mut out = BytesMut::new();
        let ok = match frame {
            PushFrame::Resp2(f) => {
                redis_protocol::resp2::encode::extend_encode_borrowed(&mut out, f, false).is_ok()
            }
            PushFrame::Resp3(f) => {
                redis_protocol::resp3::encode::complete::extend_encode_borrowed(&mut out, f, false)
                    .is_ok()
            }
        };
        if !ok {
            out.clear();
            out.put_slice(b"-ERR reply encoding failed\r\n");
        }
        out.freeze()
    })
}

/// Like [`encode_push`], but appended to `out` when the frame is at most
/// `max` bytes long: returns false, appending nothing, when it is longer
/// (the caller then uses [`encode_push`]). Lets the fan-out encode a small
/// message into reused memory instead of allocating for it. Parts shorter
/// than [`crate::protocol::pieces::SHARED_BULK_HEADERS`] are assembled from
/// the codec's shared pieces, the rest encoded by the codec.
pub fn encode_push_extend(proto: Protocol, parts: &[&[u8]], out: &mut Vec<u8>, max: usize) -> bool {
    if crate::protocol::pieces::assemble_push(proto, parts, out, max) {
        return true;
    }
    // The pieces cover every part shorter than their table; past it the
    // frame is longer than any `max` the fan-out uses. The codec is only the
    // fallback for a table that did not build.
    let bytes: usize = parts.iter().map(|p| p.len()).sum();
    if bytes > max {
        return false;
    }
    let encoded = encode_push(proto, parts);
    if encoded.len() > max {
        return false;
    }
    out.extend_from_slice(&encoded);
    true
}

/// A push of up to four bulk parts as the codec's borrowed frame.
enum PushFrame<'f, 'a> {
    Resp2(&'f redis_protocol::resp2::types::BorrowedFrame<'a>),
    Resp3(&'f redis_protocol::resp3::types::BorrowedFrame<'a>),
}

/// Builds the borrowed frame for `parts` (at most four are used) and hands
/// it to `f`.
fn with_push_frame<T>(
    proto: Protocol,
    parts: &[&[u8]],
    f: impl FnOnce(PushFrame<'_, '_>) -> T,
) -> T {
    use redis_protocol::resp2::types::BorrowedFrame as B2;
    use redis_protocol::resp3::types::BorrowedFrame as B3;
    let n = parts.len().min(4);
    match proto {
        Protocol::Resp2 => {
            let items: [B2<'_>; 4] =
                std::array::from_fn(|i| B2::BulkString(parts.get(i).copied().unwrap_or_default()));
            f(PushFrame::Resp2(&B2::Array(&items[..n])))
        }
        Protocol::Resp3 => {
            let items: [B3<'_>; 4] = std::array::from_fn(|i| B3::BlobString {
                data: parts.get(i).copied().unwrap_or_default(),
                attributes: None,
            });
            f(PushFrame::Resp3(&B3::Push {
                data: &items[..n],
                attributes: None,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: Reply, p: Protocol) -> Vec<u8> {
        r.to_bytes(p).to_vec()
    }

    #[test]
    fn shared_integers_match_the_codec_and_the_edges_fall_back() {
        for i in [0, 1, 9, 10, 99, 100, 999, 1000, SHARED_INTEGERS - 1] {
            for p in [Protocol::Resp2, Protocol::Resp3] {
                assert_eq!(
                    enc(Reply::Int(i), p),
                    format!(":{i}\r\n").into_bytes(),
                    "{i}"
                );
            }
        }
        for i in [SHARED_INTEGERS, -1, i64::MIN, i64::MAX] {
            assert_eq!(
                enc(Reply::Int(i), Protocol::Resp2),
                format!(":{i}\r\n").into_bytes()
            );
        }
    }

    #[test]
    fn resp2_shapes() {
        assert_eq!(enc(Reply::ok(), Protocol::Resp2), b"+OK\r\n");
        assert_eq!(enc(Reply::Nil, Protocol::Resp2), b"$-1\r\n");
        assert_eq!(enc(Reply::NilArray, Protocol::Resp2), b"*-1\r\n");
        assert_eq!(enc(Reply::Int(-3), Protocol::Resp2), b":-3\r\n");
        assert_eq!(
            enc(Reply::error("ERR x\r\ny"), Protocol::Resp2),
            b"-ERR x  y\r\n"
        );
        assert_eq!(
            enc(
                Reply::Map(vec![(Reply::bulk_static("a"), Reply::Int(1))]),
                Protocol::Resp2
            ),
            b"*2\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(enc(Reply::Bool(true), Protocol::Resp2), b":1\r\n");
    }

    #[test]
    fn resp3_shapes() {
        assert_eq!(enc(Reply::Nil, Protocol::Resp3), b"_\r\n");
        assert_eq!(
            enc(
                Reply::Map(vec![
                    (Reply::bulk_static("b"), Reply::Int(1)),
                    (Reply::bulk_static("a"), Reply::Int(2))
                ]),
                Protocol::Resp3
            ),
            b"%2\r\n$1\r\nb\r\n:1\r\n$1\r\na\r\n:2\r\n"
        );
        assert_eq!(
            enc(Reply::Verbatim(Bytes::from_static(b"hi")), Protocol::Resp3),
            b"=6\r\ntxt:hi\r\n"
        );
        // Aggregate and repeated members are sent as they are.
        assert_eq!(
            enc(
                Reply::Set(vec![Reply::Array(vec![]), Reply::Array(vec![])]),
                Protocol::Resp3
            ),
            b"~2\r\n*0\r\n*0\r\n"
        );
        assert_eq!(
            enc(
                Reply::Map(vec![
                    (Reply::Set(vec![Reply::Int(1)]), Reply::Int(2)),
                    (Reply::Int(1), Reply::Int(1)),
                    (Reply::Int(1), Reply::Int(2))
                ]),
                Protocol::Resp3
            ),
            b"%3\r\n~1\r\n:1\r\n:2\r\n:1\r\n:1\r\n:1\r\n:2\r\n"
        );
        let push = encode_push(Protocol::Resp3, &[b"message", b"c"]);
        assert_eq!(&push[..], b">2\r\n$7\r\nmessage\r\n$1\r\nc\r\n");
    }
}

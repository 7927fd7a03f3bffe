//! The generator's own RESP2: command encoding, a streaming reader for what
//! a subscriber receives, a reader for PUBLISH replies, and a one-reply
//! reader for control commands.
//!
//! The subscriber reader is built for throughput: one large buffer, frames
//! parsed in place with no allocation, and payloads larger than the buffer
//! skipped after their 16-byte header was seen, so a 1 MB message costs a
//! few reads and no copy.

use std::fmt;

use crate::payload::{HEADER_LEN, Header};

/// Capacity of a subscriber's read buffer.
pub const READ_BUF: usize = 64 * 1024;

/// Longest line (a `*`, `$`, `:`, `+` or `-` header) the readers accept.
const MAX_LINE: usize = 4096;

/// A frame the server sent that the generator cannot make sense of.
#[derive(Debug)]
pub struct ProtoError(pub String);

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "protocol error from server: {}", self.0)
    }
}

/// Appends `*<n>\r\n$<len>\r\n<arg>\r\n...` for `args` to `out`.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    push_header(out, b'*', args.len());
    for a in args {
        push_header(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `<kind><n>\r\n`.
fn push_header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// One thing a subscriber connection received.
#[derive(Debug, PartialEq, Eq)]
pub enum Push {
    /// A `message` or `pmessage`; `header` is `None` when the payload was not
    /// written by this generator.
    Message(Option<Header>),
    /// A `subscribe`, `psubscribe` or `ssubscribe` confirmation.
    Subscribed,
    /// An `unsubscribe`, `punsubscribe` or `sunsubscribe` confirmation.
    Unsubscribed,
    /// An error reply.
    Error(String),
    /// Anything else (`pong`, `+OK`, integers).
    Other,
}

/// Finds `\r\n` at or after `from`; returns the index of the `\r`.
fn find_crlf(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < b.len() {
        if b[i] == b'\r' && b[i + 1] == b'\n' {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Parses a signed decimal.
fn parse_int(digits: &[u8]) -> Option<i64> {
    let (neg, digits) = match digits.first() {
        Some(b'-') => (true, &digits[1..]),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
    }
    Some(if neg { -v } else { v })
}

/// Reads the line starting at `at` (after its type byte); returns the line
/// body and the offset just past its CRLF, or `Ok(None)` if incomplete.
fn line(b: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, ProtoError> {
    match find_crlf(b, at) {
        Some(cr) => Ok(Some((&b[at..cr], cr + 2))),
        None if b.len() - at > MAX_LINE => Err(ProtoError("header line too long".into())),
        None => Ok(None),
    }
}

/// Outcome of parsing one frame at the front of a buffer.
enum Frame {
    /// Not all of it has arrived.
    Incomplete,
    /// A whole frame of `usize` bytes.
    Done(usize, Push),
    /// A message whose payload does not fit the buffer: the header was read,
    /// `consumed` bytes up to the payload's start can go, and `skip` more
    /// (the payload and its CRLF) must be discarded as they arrive.
    Oversized {
        consumed: usize,
        header: Option<Header>,
        skip: usize,
    },
}

/// One element of a top-level array, as far as the classifier needs it.
#[derive(Clone, Copy)]
struct Elem {
    start: usize,
    end: usize,
}

/// Parses one frame at the front of `b`. `room` is the most bytes a frame
/// may need to be held whole in the reader's buffer.
fn parse_frame(b: &[u8], room: usize) -> Result<Frame, ProtoError> {
    let Some(&kind) = b.first() else {
        return Ok(Frame::Incomplete);
    };
    match kind {
        b'*' | b'>' => {}
        b'-' => {
            return Ok(match line(b, 1)? {
                Some((text, next)) => Frame::Done(
                    next,
                    Push::Error(String::from_utf8_lossy(text).into_owned()),
                ),
                None => Frame::Incomplete,
            });
        }
        b'+' | b':' => {
            return Ok(match line(b, 1)? {
                Some((_, next)) => Frame::Done(next, Push::Other),
                None => Frame::Incomplete,
            });
        }
        b'$' => {
            let Some((len, next)) = line(b, 1)? else {
                return Ok(Frame::Incomplete);
            };
            let len = parse_int(len).ok_or_else(|| ProtoError("bad bulk length".into()))?;
            if len < 0 {
                return Ok(Frame::Done(next, Push::Other));
            }
            let end = next + len as usize + 2;
            return Ok(if b.len() >= end {
                Frame::Done(end, Push::Other)
            } else {
                Frame::Incomplete
            });
        }
        other => {
            return Err(ProtoError(format!(
                "unexpected frame type byte 0x{other:02x}"
            )));
        }
    }
    let Some((count, mut pos)) = line(b, 1)? else {
        return Ok(Frame::Incomplete);
    };
    let count = parse_int(count).ok_or_else(|| ProtoError("bad array length".into()))?;
    if !(0..=8).contains(&count) {
        return Err(ProtoError(format!("unexpected push of {count} elements")));
    }
    let count = count as usize;
    let mut elems = [Elem { start: 0, end: 0 }; 8];
    for (i, elem) in elems.iter_mut().enumerate().take(count) {
        let Some(&t) = b.get(pos) else {
            return Ok(Frame::Incomplete);
        };
        let Some((body, next)) = line(b, pos + 1)? else {
            return Ok(Frame::Incomplete);
        };
        match t {
            b'$' => {
                let len = parse_int(body).ok_or_else(|| ProtoError("bad bulk length".into()))?;
                if len < 0 {
                    *elem = Elem {
                        start: next,
                        end: next,
                    };
                    pos = next;
                    continue;
                }
                let len = len as usize;
                let end = next + len + 2;
                if b.len() < end {
                    let is_last = i + 1 == count;
                    if is_last && end > room && i >= 2 {
                        // A message too big for the buffer: classify it now
                        // from the header bytes, skip the payload later.
                        if b.len() < next + HEADER_LEN.min(len) {
                            return Ok(Frame::Incomplete);
                        }
                        let kind = &b[elems[0].start..elems[0].end];
                        if kind != b"message" && kind != b"pmessage" && kind != b"smessage" {
                            return Err(ProtoError("oversized non-message frame".into()));
                        }
                        return Ok(Frame::Oversized {
                            consumed: next,
                            header: Header::decode(&b[next..(next + HEADER_LEN).min(b.len())]),
                            skip: len + 2,
                        });
                    }
                    if end > room {
                        return Err(ProtoError(format!(
                            "frame element of {len} bytes larger than the read buffer"
                        )));
                    }
                    return Ok(Frame::Incomplete);
                }
                *elem = Elem {
                    start: next,
                    end: next + len,
                };
                pos = end;
            }
            b':' | b'+' | b'-' => {
                *elem = Elem {
                    start: pos + 1,
                    end: next - 2,
                };
                pos = next;
            }
            other => {
                return Err(ProtoError(format!(
                    "unexpected element type byte 0x{other:02x} in a push"
                )));
            }
        }
    }
    let text = |e: Elem| &b[e.start..e.end];
    let push = if count == 0 {
        Push::Other
    } else {
        match text(elems[0]) {
            b"message" | b"smessage" if count == 3 => Push::Message(Header::decode(text(elems[2]))),
            b"pmessage" if count == 4 => Push::Message(Header::decode(text(elems[3]))),
            b"subscribe" | b"psubscribe" | b"ssubscribe" => Push::Subscribed,
            b"unsubscribe" | b"punsubscribe" | b"sunsubscribe" => Push::Unsubscribed,
            _ => Push::Other,
        }
    };
    Ok(Frame::Done(pos, push))
}

/// A subscriber connection's reader: a fixed buffer plus the state of a
/// payload being skipped.
pub struct PushReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of an oversized payload (and its CRLF) still to discard.
    skip: usize,
    /// The message whose payload is being skipped; reported once it is whole.
    pending: Option<Option<Header>>,
}

impl PushReader {
    /// A reader with a buffer of `cap` bytes.
    pub fn new(cap: usize) -> PushReader {
        PushReader {
            buf: vec![0; cap],
            start: 0,
            end: 0,
            skip: 0,
            pending: None,
        }
    }

    /// The free tail of the buffer to read into, compacting first when the
    /// tail is short.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < self.buf.len() / 4 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into [`PushReader::spare`].
    pub fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// The next complete push in the buffer, if any.
    pub fn next_push(&mut self) -> Result<Option<Push>, ProtoError> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.end - self.start);
                self.start += n;
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(None);
                }
                if let Some(h) = self.pending.take() {
                    return Ok(Some(Push::Message(h)));
                }
                continue;
            }
            if self.start == self.end {
                return Ok(None);
            }
            let room = self.buf.len();
            match parse_frame(&self.buf[self.start..self.end], room)? {
                Frame::Incomplete => {
                    if self.end == self.buf.len() && self.start == 0 {
                        return Err(ProtoError("frame larger than the read buffer".into()));
                    }
                    return Ok(None);
                }
                Frame::Done(n, push) => {
                    self.start += n;
                    return Ok(Some(push));
                }
                Frame::Oversized {
                    consumed,
                    header,
                    skip,
                } => {
                    self.start += consumed;
                    self.skip = skip;
                    self.pending = Some(header);
                }
            }
        }
    }
}

/// One reply to a PUBLISH.
#[derive(Debug, PartialEq, Eq)]
pub enum IntReply {
    /// `:<n>`: the number of receivers.
    Int(i64),
    /// `-<text>`.
    Error(String),
}

/// Reader for a stream of integer or error replies (a publisher's replies).
pub struct ReplyReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReplyReader {
    /// A reader with a buffer of `cap` bytes.
    pub fn new(cap: usize) -> ReplyReader {
        ReplyReader {
            buf: vec![0; cap],
            start: 0,
            end: 0,
        }
    }

    /// See [`PushReader::spare`].
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < self.buf.len() / 4 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// See [`PushReader::filled`].
    pub fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// The next complete reply, if any.
    pub fn next_reply(&mut self) -> Result<Option<IntReply>, ProtoError> {
        let b = &self.buf[self.start..self.end];
        let Some(&kind) = b.first() else {
            return Ok(None);
        };
        let Some((body, next)) = line(b, 1)? else {
            return Ok(None);
        };
        let reply = match kind {
            b':' => IntReply::Int(
                parse_int(body).ok_or_else(|| ProtoError("bad integer reply".into()))?,
            ),
            b'-' => IntReply::Error(String::from_utf8_lossy(body).into_owned()),
            other => {
                return Err(ProtoError(format!(
                    "expected an integer reply to PUBLISH, got type byte 0x{other:02x}"
                )));
            }
        };
        self.start += next;
        Ok(Some(reply))
    }
}

/// A whole reply, for the control connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Value {
    /// `+text`.
    Simple(String),
    /// `-text`.
    Error(String),
    /// `:n`.
    Int(i64),
    /// `$n` (None for `$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*n` (None for `*-1`).
    Array(Option<Vec<Value>>),
}

/// Parses one whole reply at the front of `b`; returns it and its length,
/// or `Ok(None)` when more bytes are needed.
pub fn parse_value(b: &[u8]) -> Result<Option<(Value, usize)>, ProtoError> {
    let Some(&kind) = b.first() else {
        return Ok(None);
    };
    let Some((body, next)) = line(b, 1)? else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(body).into_owned();
    let num = || parse_int(body).ok_or_else(|| ProtoError("bad number".into()));
    Ok(Some(match kind {
        b'+' => (Value::Simple(text()), next),
        b'-' => (Value::Error(text()), next),
        b':' => (Value::Int(num()?), next),
        b'$' => {
            let n = num()?;
            if n < 0 {
                (Value::Bulk(None), next)
            } else {
                let end = next + n as usize + 2;
                if b.len() < end {
                    return Ok(None);
                }
                (Value::Bulk(Some(b[next..end - 2].to_vec())), end)
            }
        }
        b'*' | b'>' => {
            let n = num()?;
            if n < 0 {
                (Value::Array(None), next)
            } else {
                let mut items = Vec::with_capacity(n.min(1024) as usize);
                let mut pos = next;
                for _ in 0..n {
                    match parse_value(&b[pos..])? {
                        Some((v, len)) => {
                            items.push(v);
                            pos += len;
                        }
                        None => return Ok(None),
                    }
                }
                (Value::Array(Some(items)), pos)
            }
        }
        other => {
            return Err(ProtoError(format!(
                "unexpected reply type byte 0x{other:02x}"
            )));
        }
    }))
}

/// Checks the readers against hand-made streams fed in small pieces
/// (`loadgen selftest`; bench targets run no `#[test]`s).
pub fn self_test() -> Result<(), String> {
    let message = |payload: &[u8]| {
        let mut v = Vec::new();
        encode_command(&mut v, &[b"message", b"ch", payload]);
        v
    };
    let h = Header {
        publisher: 3,
        channel: 7,
        seq: 9,
        sent_ns: 123_456,
    };
    let mut small = h.encode().to_vec();
    small.extend_from_slice(b"abc");
    let mut big = h.encode().to_vec();
    big.resize(200, b'x');
    let mut stream = message(&small);
    stream.extend_from_slice(b":1\r\n");
    stream.extend_from_slice(&message(&big));
    stream.extend_from_slice(b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    stream.extend_from_slice(b"-ERR nope\r\n");
    let mut r = PushReader::new(64);
    let mut got = Vec::new();
    let mut rest: &[u8] = &stream;
    while !rest.is_empty() {
        let spare = r.spare();
        let n = spare.len().min(7).min(rest.len());
        if n == 0 {
            return Err("reader buffer stuck full".into());
        }
        spare[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        r.filled(n);
        while let Some(p) = r.next_push().map_err(|e| e.to_string())? {
            got.push(p);
        }
    }
    let want = vec![
        Push::Message(Some(h)),
        Push::Other,
        Push::Message(Some(h)),
        Push::Subscribed,
        Push::Error("ERR nope".into()),
    ];
    if got != want {
        return Err(format!("push reader: got {got:?}, want {want:?}"));
    }
    let mut rr = ReplyReader::new(16);
    let replies = b":12\r\n-ERR x\r\n:0\r\n";
    let mut got = Vec::new();
    for chunk in replies.chunks(3) {
        rr.spare()[..chunk.len()].copy_from_slice(chunk);
        rr.filled(chunk.len());
        while let Some(v) = rr.next_reply().map_err(|e| e.to_string())? {
            got.push(v);
        }
    }
    let want = vec![
        IntReply::Int(12),
        IntReply::Error("ERR x".into()),
        IntReply::Int(0),
    ];
    if got != want {
        return Err(format!("reply reader: got {got:?}, want {want:?}"));
    }
    let v = parse_value(b"*2\r\n$2\r\nch\r\n:51\r\n").map_err(|e| e.to_string())?;
    let want = Value::Array(Some(vec![
        Value::Bulk(Some(b"ch".to_vec())),
        Value::Int(51),
    ]));
    if v != Some((want, 17)) {
        return Err(format!("value parser: got {v:?}"));
    }
    Ok(())
}

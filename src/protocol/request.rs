//! Request framing: from the bytes a client sent to argument vectors.
//!
//! Clients send either RESP multibulk frames (`*<n>\r\n$<len>\r\n...`) or
//! inline commands (`PING\r\n`, as typed in telnet). Multibulk frames are
//! decoded by `redis-protocol`; this module first walks their headers
//! incrementally to apply Redis's limits, and its exact error texts, before a
//! single byte of a hostile length is buffered:
//!
//! * a multibulk count over [`MAX_MULTIBULK_LEN`], or over
//!   [`UNAUTH_MAX_MULTIBULK_LEN`] before authentication;
//! * a bulk length over `proto-max-bulk-len`, or over
//!   [`UNAUTH_MAX_BULK_LEN`] before authentication;
//! * an inline line or a header line over [`MAX_INLINE_LEN`].
//!
//! Lines are found as Redis finds them: a header line (`*<n>`, `$<len>`)
//! ends at its first CR, whatever byte follows it (that byte is skipped); an
//! inline line ends at its first LF. Redis searches with `strchr`, so a NUL
//! byte before the terminator hides it: such a line never completes and only
//! ends in the too-big error. In a complete frame where a skipped byte is
//! not LF, it is rewritten to LF, so the codec, which wants CRLF, reads the
//! frame as Redis did.
//!
//! The walk keeps its place between reads, so a large pipelined frame that
//! arrives in many small reads is scanned once, not once per read.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};
use redis_protocol::resp2::types::RangeFrame;

use crate::protocol::Args;

/// Longest inline command, or multibulk/bulk header line, Redis accepts
/// (`PROTO_INLINE_MAX_SIZE`, 64 KiB).
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// Most arguments one multibulk request may carry.
pub const MAX_MULTIBULK_LEN: i64 = 1024 * 1024;
/// Before authentication a request may have at most this many arguments, so
/// an unauthenticated client cannot make the server allocate (as Redis).
pub const UNAUTH_MAX_MULTIBULK_LEN: i64 = 10;
/// Before authentication an argument may be at most this long (as Redis).
pub const UNAUTH_MAX_BULK_LEN: i64 = 16 * 1024;

/// What the parser may accept from this client right now.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: u64,
    /// False while a password is required and not yet given.
    pub authenticated: bool,
}

/// One request taken off the buffer.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// A command with its arguments (never empty).
    Command(Args),
    /// A frame that carries no command (`*0`, `*-1`, a blank inline line);
    /// Redis ignores these without replying.
    Empty,
}

/// A framing error: the client gets `-ERR Protocol error: <text>` and the
/// connection is closed after that reply. The text is bytes: it may carry
/// the offending byte as the client sent it, as Redis's does.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub Vec<u8>);

impl ParseError {
    fn new(text: &str) -> ParseError {
        ParseError(text.as_bytes().to_vec())
    }

    /// The full error reply text (without the leading `-`).
    pub fn reply_text(&self) -> Vec<u8> {
        let mut text = b"ERR Protocol error: ".to_vec();
        text.extend_from_slice(&self.0);
        text
    }
}

/// Where a line ends, as Redis's `strchr` search sees it.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// The terminator's index; a byte follows a header line's CR.
    At(usize),
    /// A header line's CR is the last byte buffered: wait for one more.
    Pending,
    /// No terminator before the end of the buffer or a NUL byte.
    Missing,
}

/// Where the incremental multibulk walk stopped.
#[derive(Clone, Copy, Debug)]
struct Progress {
    /// Number of arguments announced by the `*<n>` header.
    count: usize,
    /// Arguments whose header and body are fully buffered.
    done: usize,
    /// Offset of the next argument's `$` header.
    offset: usize,
    /// A header line seen so far ends in CR and a byte other than LF.
    odd_ends: bool,
}

/// Incremental request parser; one per connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    progress: Option<Progress>,
    /// Bytes the frame in progress still needs, when known (lets the reader
    /// size one allocation for a large argument instead of growing by doubling).
    wanted: usize,
    /// Bytes at the front of the buffer that Redis would already have taken
    /// out of its query buffer: the frame's header, its complete arguments
    /// and the current argument's header line (see [`RequestParser::consumed`]).
    consumed: usize,
    /// A range vector handed back with [`RequestParser::recycle`], reused
    /// for the next request (at most [`SPARE_ARGS_MAX`] slots kept).
    spare: Vec<Range<usize>>,
}

/// Largest range vector [`RequestParser::recycle`] keeps for reuse.
pub const SPARE_ARGS_MAX: usize = 16;

impl RequestParser {
    /// A parser with no frame in progress.
    pub fn new() -> RequestParser {
        RequestParser::default()
    }

    /// How many more bytes the frame in progress needs, if known.
    pub fn wanted(&self) -> usize {
        self.wanted
    }

    /// How much of the buffered, incomplete frame Redis would no longer
    /// count in its query buffer: it moves each complete argument, and each
    /// complete header line, out of it as they arrive. The rest of the
    /// buffer is what `client-query-buffer-limit` applies to, as in Redis.
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// Takes back a request's arguments once the command ran, so the next
    /// request reuses their range vector.
    pub fn recycle(&mut self, args: Args) {
        let ranges = args.into_ranges();
        if ranges.capacity() <= SPARE_ARGS_MAX && ranges.capacity() > self.spare.capacity() {
            self.spare = ranges;
        }
    }

    /// Frees the spare range vector (the connection went idle).
    pub fn release_idle_memory(&mut self) {
        self.spare = Vec::new();
    }

    /// Takes the next complete request off the front of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed, and an error when the
    /// bytes can never form a valid request.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Parsed>, ParseError> {
        self.wanted = 0;
        self.consumed = 0;
        if buf.is_empty() {
            return Ok(None);
        }
        if buf[0] != b'*' {
            return parse_inline(buf);
        }
        let mut p = match self.progress {
            Some(p) => p,
            None => {
                let eol = match header_line(buf, 0) {
                    Line::At(eol) => eol,
                    Line::Pending => return Ok(None),
                    Line::Missing if buf.len() > MAX_INLINE_LEN => {
                        return Err(ParseError::new("too big mbulk count string"));
                    }
                    Line::Missing => return Ok(None),
                };
                let n = match parse_int(&buf[1..eol]) {
                    Some(n) if n <= MAX_MULTIBULK_LEN => n,
                    _ => return Err(ParseError::new("invalid multibulk length")),
                };
                if n > UNAUTH_MAX_MULTIBULK_LEN && !limits.authenticated {
                    return Err(ParseError::new("unauthenticated multibulk length"));
                }
                if n <= 0 {
                    buf.advance(eol + 2);
                    return Ok(Some(Parsed::Empty));
                }
                Progress {
                    count: n as usize,
                    done: 0,
                    offset: eol + 2,
                    odd_ends: buf[eol + 1] != b'\n',
                }
            }
        };
        while p.done < p.count {
            self.consumed = p.offset;
            if p.offset >= buf.len() {
                self.progress = Some(p);
                return Ok(None);
            }
            let eol = match header_line(buf, p.offset) {
                Line::At(eol) => eol,
                Line::Missing if buf.len() - p.offset > MAX_INLINE_LEN => {
                    return Err(ParseError::new("too big bulk count string"));
                }
                Line::Pending | Line::Missing => {
                    self.progress = Some(p);
                    return Ok(None);
                }
            };
            // Redis looks at the type byte only once the whole line is in.
            if buf[p.offset] != b'$' {
                let mut text = b"expected '$', got '".to_vec();
                text.push(buf[p.offset]);
                text.push(b'\'');
                return Err(ParseError(text));
            }
            let len = match parse_int(&buf[p.offset + 1..eol]) {
                Some(n) if n >= 0 && (n as u64) <= limits.max_bulk_len => n,
                _ => return Err(ParseError::new("invalid bulk length")),
            };
            if len > UNAUTH_MAX_BULK_LEN && !limits.authenticated {
                return Err(ParseError::new("unauthenticated bulk length"));
            }
            p.odd_ends |= buf[eol + 1] != b'\n';
            let end = eol + 2 + len as usize + 2;
            if buf.len() < end {
                self.consumed = eol + 2;
                self.wanted = end - buf.len();
                self.progress = Some(p);
                return Ok(None);
            }
            p.offset = end;
            p.done += 1;
        }
        self.progress = None;
        self.consumed = 0;
        let frame_len = p.offset;
        if p.odd_ends {
            end_headers_with_lf(&mut buf[..frame_len], p.count)?;
        }
        decode_frame(buf, frame_len, std::mem::take(&mut self.spare))
    }
}

/// Rewrites the byte after each header line's CR to LF in a complete frame
/// the walk accepted, so the codec (which wants CRLF) reads it as Redis did:
/// Redis skips that byte unread. Only frames with such a byte come here.
fn end_headers_with_lf(frame: &mut [u8], count: usize) -> Result<(), ParseError> {
    let broken = || ParseError::new("invalid bulk length");
    // `at` is where a header line starts: the `*<n>` one, then each `$<len>`.
    let mut at = 0;
    for i in 0..=count {
        let line = frame.get(at..).ok_or_else(broken)?;
        let cr = at + line.iter().position(|&b| b == b'\r').ok_or_else(broken)?;
        *frame.get_mut(cr + 1).ok_or_else(broken)? = b'\n';
        let body = if i == 0 {
            0
        } else {
            let len = frame
                .get(at + 1..cr)
                .and_then(parse_int)
                .ok_or_else(broken)?;
            // The argument, then the two bytes after it.
            usize::try_from(len).map_err(|_| broken())? + 2
        };
        at = cr + 2 + body;
    }
    Ok(())
}

/// Hands a frame whose limits were checked to the codec and keeps the
/// frame, frozen once, with each argument's range in it (see [`Args`]). The
/// codec's range decoder is used (not its `Bytes` decoder) so that a request
/// costs no allocation of its own beyond the range vector, which is reused.
fn decode_frame(
    buf: &mut BytesMut,
    frame_len: usize,
    mut ranges: Vec<Range<usize>>,
) -> Result<Option<Parsed>, ParseError> {
    let frame = buf.split_to(frame_len).freeze();
    match redis_protocol::resp2::decode::decode_range(&frame) {
        Ok(Some((RangeFrame::Array(items), _))) => {
            ranges.reserve(items.len());
            for item in &items {
                let &RangeFrame::BulkString((start, end)) = item else {
                    return Err(ParseError::new("invalid bulk length"));
                };
                if start > end || end > frame.len() {
                    return Err(ParseError::new("invalid bulk length"));
                }
                ranges.push(start..end);
            }
            if ranges.is_empty() {
                return Ok(Some(Parsed::Empty));
            }
            Ok(Some(Parsed::Command(Args::from_frame(frame, ranges))))
        }
        // The walk above saw a complete, well-formed frame; the codec
        // disagreeing is a frame it reads differently.
        _ => Err(ParseError::new("invalid bulk length")),
    }
}

/// Parses one inline command line (`PING`, `SET "a b" c`), splitting it with
/// Redis's quoting rules.
fn parse_inline(buf: &mut BytesMut) -> Result<Option<Parsed>, ParseError> {
    let Some(nl) = buf
        .iter()
        .position(|&b| b == b'\n' || b == 0)
        .filter(|&i| buf[i] == b'\n')
    else {
        // A line of the maximum length may have its CR buffered before its LF.
        let cr_pending = buf.len() == MAX_INLINE_LEN + 1 && buf.last() == Some(&b'\r');
        if buf.len() > MAX_INLINE_LEN && !cr_pending {
            return Err(ParseError::new("too big inline request"));
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1);
    let mut text = &line[..nl];
    if text.last() == Some(&b'\r') {
        text = &text[..text.len() - 1];
    }
    match crate::splitargs::split_args(text) {
        None => Err(ParseError::new("unbalanced quotes in request")),
        Some(words) if words.is_empty() => Ok(Some(Parsed::Empty)),
        Some(words) => Ok(Some(Parsed::Command(Args::from(
            words.into_iter().map(Bytes::from).collect::<Vec<_>>(),
        )))),
    }
}

/// Finds the end of the header line starting at `from`: its first CR, as
/// long as no NUL comes before it (Redis's `strchr`) and a byte follows it.
fn header_line(buf: &[u8], from: usize) -> Line {
    match buf[from..].iter().position(|&b| b == b'\r' || b == 0) {
        Some(i) if buf[from + i] == b'\r' => {
            if from + i + 1 < buf.len() {
                Line::At(from + i)
            } else {
                Line::Pending
            }
        }
        _ => Line::Missing,
    }
}

/// Parses a decimal integer the way Redis's `string2ll` does: optional `-`,
/// no `+`, no spaces, no leading zeros, within i64.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(i64::from(d - b'0'))?
        } else {
            v.checked_add(i64::from(d - b'0'))?
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn parse_all(input: &[u8], limits: Limits) -> Result<Vec<Parsed>, ParseError> {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(r) = p.parse(&mut buf, &limits)? {
            out.push(r);
        }
        Ok(out)
    }

    fn cmd(words: &[&str]) -> Parsed {
        Parsed::Command(Args::from(
            words
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn multibulk_and_inline() {
        assert_eq!(
            parse_all(b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n\r\n*0\r\n", OPEN).unwrap(),
            vec![
                cmd(&["ECHO", "hi"]),
                cmd(&["PING"]),
                Parsed::Empty,
                Parsed::Empty
            ]
        );
        assert_eq!(
            parse_all(b"ECHO \"a b\" 'c'\n", OPEN).unwrap(),
            vec![cmd(&["ECHO", "a b", "c"])]
        );
    }

    #[test]
    fn byte_at_a_time() {
        let input = b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$5\r\nhello\r\n";
        let mut p = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            if let Some(r) = p.parse(&mut buf, &OPEN).unwrap() {
                got.push(r);
            }
        }
        assert_eq!(got, vec![cmd(&["PUBLISH", "c", "hello"])]);
        assert!(buf.is_empty());
    }

    #[test]
    fn errors_use_redis_wording() {
        let e = |input: &[u8], l: Limits| {
            String::from_utf8(parse_all(input, l).unwrap_err().0).unwrap()
        };
        assert_eq!(e(b"*abc\r\n", OPEN), "invalid multibulk length");
        assert_eq!(e(b"*1048577\r\n", OPEN), "invalid multibulk length");
        assert_eq!(e(b"*1\r\n+foo\r\n", OPEN), "expected '$', got '+'");
        assert_eq!(e(b"*1\r\n$abc\r\n", OPEN), "invalid bulk length");
        assert_eq!(e(b"*1\r\n$-1\r\n", OPEN), "invalid bulk length");
        let small = Limits {
            max_bulk_len: 10,
            authenticated: true,
        };
        assert_eq!(e(b"*1\r\n$11\r\n", small), "invalid bulk length");
        let unauth = Limits {
            max_bulk_len: 1 << 29,
            authenticated: false,
        };
        assert_eq!(e(b"*11\r\n", unauth), "unauthenticated multibulk length");
        assert_eq!(
            e(b"*1\r\n$16385\r\n", unauth),
            "unauthenticated bulk length"
        );
        assert_eq!(e(b"ECHO \"a\n", OPEN), "unbalanced quotes in request");
        assert_eq!(
            e(&vec![b'a'; MAX_INLINE_LEN + 1], OPEN),
            "too big inline request"
        );
    }

    /// Feeds `input` one byte at a time (so the header walk sees every
    /// request) and returns what it parsed, up to the first error.
    fn parse_trickled(input: &[u8], limits: Limits) -> Result<Vec<Parsed>, ParseError> {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in input {
            buf.extend_from_slice(&[b]);
            while let Some(r) = p.parse(&mut buf, &limits)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    #[test]
    fn whole_frames_and_trickled_frames_agree() {
        // Whole buffers are walked in one call; a byte at a time, the walk
        // resumes from where it stopped on every call. Both must accept and
        // reject the same requests.
        let small = Limits {
            max_bulk_len: 5,
            authenticated: true,
        };
        let unauth = Limits {
            max_bulk_len: 1 << 29,
            authenticated: false,
        };
        let cases: &[(&[u8], Limits)] = &[
            (b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$5\r\nhello\r\n", OPEN),
            (
                b"*1\r\n$0\r\n\r\n*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n",
                OPEN,
            ),
            (b"*1\r\n$03\r\nabc\r\n", OPEN),
            (b"*1\r\n$+3\r\nabc\r\n", OPEN),
            (b"*01\r\n$3\r\nabc\r\n", OPEN),
            (b"*1\r\n$3\r\nabcXY", OPEN),
            (b"*1\r\n$3\r\nab\r\n\r\n", OPEN),
            (b"*2\r\n$1\r\na\r\n:1\r\n", OPEN),
            (b"*1\r\n$-1\r\n", OPEN),
            (b"*1\r\n*1\r\n$1\r\na\r\n", OPEN),
            (b"*1\r\n$6\r\nabcdef\r\n", small),
            (b"*1\r\n$5\r\nabcde\r\n", small),
            (b"*11\r\n", unauth),
            (b"*1\r\n$16385\r\n", unauth),
            (b"*1\r\n$4\r\nPING\r\n", unauth),
        ];
        for (input, limits) in cases {
            let mut whole = RequestParser::new();
            let mut buf = BytesMut::from(*input);
            let mut got = Vec::new();
            let whole_result = loop {
                match whole.parse(&mut buf, limits) {
                    Ok(Some(r)) => got.push(r),
                    Ok(None) => break Ok(got),
                    Err(e) => break Err(e),
                }
            };
            assert_eq!(
                whole_result,
                parse_trickled(input, *limits),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
        let e = |input: &[u8]| String::from_utf8(parse_all(input, OPEN).unwrap_err().0).unwrap();
        assert_eq!(e(b"*1\r\n$03\r\nabc\r\n"), "invalid bulk length");
        // Redis skips the two bytes after a bulk without looking at them.
        assert_eq!(
            parse_all(b"*1\r\n$3\r\nabcXY", OPEN).unwrap(),
            vec![cmd(&["abc"])]
        );
    }

    #[test]
    fn header_lines_end_at_the_first_cr() {
        // Redis skips the byte after a header's CR without looking at it.
        assert_eq!(
            parse_all(b"*2\rX$4\r\0ECHO\r\n$2\r\rhi\r\n", OPEN).unwrap(),
            vec![cmd(&["ECHO", "hi"])]
        );
        assert_eq!(
            parse_all(b"*1\r\n$4\rxPING\r\n", OPEN).unwrap(),
            vec![cmd(&["PING"])]
        );
        // A CR with nothing after it yet: wait for the byte it skips.
        assert_eq!(parse_all(b"*1\r", OPEN).unwrap(), vec![]);
        assert_eq!(parse_all(b"*1\r\n$4\r", OPEN).unwrap(), vec![]);
        // The type byte is checked once the line is complete, not before.
        assert_eq!(parse_all(b"*1\r\nfoo", OPEN).unwrap(), vec![]);
        // A NUL before the CR hides the line (Redis's strchr stops there)
        // until the line is too long.
        assert_eq!(parse_all(b"*1\0\r\n$4\r\nPING\r\n", OPEN).unwrap(), vec![]);
        assert_eq!(parse_all(b"*1\r\n$4\0\r\nPING\r\n", OPEN).unwrap(), vec![]);
        assert_eq!(parse_all(b"PI\0NG\r\n", OPEN).unwrap(), vec![]);
        let mut long = b"*1\0".to_vec();
        long.resize(MAX_INLINE_LEN + 1, b'\r');
        assert_eq!(
            parse_all(&long, OPEN).unwrap_err().0,
            b"too big mbulk count string"
        );
    }

    #[test]
    fn offending_bytes_are_quoted_raw() {
        let e = |input: &[u8]| parse_all(input, OPEN).unwrap_err().0;
        assert_eq!(e(b"*1\r\n\xff\r\n"), b"expected '$', got '\xff'");
        assert_eq!(e(b"*1\r\n\r\n"), b"expected '$', got '\r'");
        assert_eq!(
            ParseError(b"got '\xe9'".to_vec()).reply_text(),
            b"ERR Protocol error: got '\xe9'"
        );
    }

    #[test]
    fn recycled_range_vectors_start_empty() {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(&b"*2\r\n$1\r\na\r\n$1\r\nb\r\n*1\r\n$1\r\nc\r\n"[..]);
        let Some(Parsed::Command(first)) = p.parse(&mut buf, &OPEN).unwrap() else {
            panic!("no first command");
        };
        assert_eq!(
            first.to_vec(),
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
        );
        p.recycle(first);
        assert_eq!(p.parse(&mut buf, &OPEN).unwrap(), Some(cmd(&["c"])));
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"-5"), Some(-5));
        assert_eq!(parse_int(b"007"), None);
        assert_eq!(parse_int(b"+7"), None);
        assert_eq!(parse_int(b"-0"), None);
        assert_eq!(parse_int(b"99999999999999999999"), None);
    }
}

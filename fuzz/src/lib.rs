//! The checks behind pubsubd's cargo-fuzz targets, one per parser.
//!
//! Each function takes the fuzzer's bytes, drives one parser with them and
//! panics when the parser breaks a property it must keep: never panic, agree
//! with itself however the input is chunked, agree with a small reference
//! where one is cheap, and read back what it wrote. They are plain functions
//! with no libFuzzer types, so `tests/fuzz_targets.rs` also compiles them on
//! stable Rust and replays the seed corpora (`fuzz/seeds/<target>/`) through
//! them in every `cargo test`.

use std::path::Path;

use bytes::BytesMut;
use pubsubd::config::Config;
use pubsubd::glob::glob_match;
use pubsubd::protocol::request::{
    Limits, MAX_INLINE_LEN, ParseError, Parsed, RequestParser, UNAUTH_MAX_BULK_LEN,
    UNAUTH_MAX_MULTIBULK_LEN,
};
use pubsubd::splitargs::split_args;

/// Reads bytes off the front of the fuzzer's input to make decisions; an
/// exhausted input reads as zeros, so every input is usable.
struct Choices<'a> {
    data: &'a [u8],
}

impl<'a> Choices<'a> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A number below `n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        let v = usize::from(self.byte()) | usize::from(self.byte()) << 8;
        if n == 0 { 0 } else { v % n }
    }

    /// Up to `n` bytes.
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

// ---------------------------------------------------------------------------
// Request framing

/// What a parser made of a whole input: the requests it returned (`None`
/// for an empty frame), then either the error that ended the input or the
/// bytes it left buffered for a later read.
#[derive(Debug, PartialEq, Eq)]
struct Framing {
    requests: Vec<Option<Vec<Vec<u8>>>>,
    end: Result<Vec<u8>, Vec<u8>>,
}

/// Feeds `input` to a fresh [`RequestParser`] in pieces of the given sizes
/// (the rest in one piece), parsing after each piece and recycling each
/// request's arguments, as a connection does.
fn run_parser(input: &[u8], limits: &Limits, pieces: &[usize]) -> Framing {
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut fed = 0;
    let mut sizes = pieces.iter().copied();
    while fed < input.len() {
        let n = sizes
            .next()
            .unwrap_or(input.len() - fed)
            .clamp(1, input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            match parser.parse(&mut buf, limits) {
                Ok(Some(Parsed::Command(args))) => {
                    assert!(!args.is_empty(), "a command with no arguments");
                    requests.push(Some(args.iter().map(|a| a.to_vec()).collect()));
                    parser.recycle(args);
                }
                Ok(Some(Parsed::Empty)) => requests.push(None),
                Ok(None) => break,
                Err(ParseError(text)) => {
                    return Framing {
                        requests,
                        end: Err(text),
                    };
                }
            }
        }
    }
    Framing {
        requests,
        end: Ok(buf.to_vec()),
    }
}

/// Redis's `string2ll` accepts exactly the canonical decimal spelling of an
/// i64 (no `+`, no leading zero, no `-0`, no spaces): parse, then check that
/// printing the value gives the same bytes back.
fn reference_int(s: &[u8]) -> Option<i64> {
    let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (v.to_string().as_bytes() == s).then_some(v)
}

/// Index of the CR ending the header line at `from`, as Redis's
/// `strchr(p, '\r')` finds it: the first CR, if no NUL comes before it and
/// a byte follows it (that byte is skipped unread).
fn reference_line(b: &[u8], from: usize) -> Option<usize> {
    let i = from + b.get(from..)?.iter().position(|&c| c == b'\r' || c == 0)?;
    (b[i] == b'\r' && i + 1 < b.len()).then_some(i)
}

/// A direct, whole-buffer reading of the framing rules in
/// `src/protocol/request.rs` (Redis's `processInlineBuffer` and
/// `processMultibulkBuffer`), written without the incremental walk or the
/// codec, for inputs shorter than `MAX_INLINE_LEN`.
fn reference_framing(input: &[u8], limits: &Limits) -> Framing {
    let mut requests = Vec::new();
    let mut pos = 0;
    let fail = |requests, text: &[u8]| Framing {
        requests,
        end: Err(text.to_vec()),
    };
    while pos < input.len() {
        let rest = &input[pos..];
        if rest[0] != b'*' {
            // `strchr(p, '\n')`: a NUL before the LF hides it.
            let Some(nl) = rest.iter().position(|&b| b == b'\n' || b == 0) else {
                break;
            };
            if rest[nl] == 0 {
                break;
            }
            let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
            match split_args(line) {
                None => return fail(requests, b"unbalanced quotes in request"),
                Some(words) if words.is_empty() => requests.push(None),
                Some(words) => requests.push(Some(words)),
            }
            pos += nl + 1;
            continue;
        }
        let Some(eol) = reference_line(rest, 0) else {
            break;
        };
        let count = match reference_int(&rest[1..eol]) {
            Some(n) if n <= 1024 * 1024 => n,
            _ => return fail(requests, b"invalid multibulk length"),
        };
        if count > UNAUTH_MAX_MULTIBULK_LEN && !limits.authenticated {
            return fail(requests, b"unauthenticated multibulk length");
        }
        if count <= 0 {
            requests.push(None);
            pos += eol + 2;
            continue;
        }
        let mut at = eol + 2;
        let mut args = Vec::new();
        let mut complete = true;
        for _ in 0..count {
            // The type byte is looked at once the whole line is in.
            let Some(eol) = reference_line(rest, at) else {
                complete = false;
                break;
            };
            if rest[at] != b'$' {
                let mut text = b"expected '$', got '".to_vec();
                text.extend([rest[at], b'\'']);
                return fail(requests, &text);
            }
            let len = match reference_int(&rest[at + 1..eol]) {
                Some(n) if n >= 0 && n as u64 <= limits.max_bulk_len => n as usize,
                _ => return fail(requests, b"invalid bulk length"),
            };
            if len as i64 > UNAUTH_MAX_BULK_LEN && !limits.authenticated {
                return fail(requests, b"unauthenticated bulk length");
            }
            // The two bytes after the argument are skipped unread, as Redis does.
            if rest.len() < eol + 2 + len + 2 {
                complete = false;
                break;
            }
            args.push(rest[eol + 2..eol + 2 + len].to_vec());
            at = eol + 2 + len + 2;
        }
        if !complete {
            break;
        }
        requests.push(Some(args));
        pos += at;
    }
    Framing {
        requests,
        end: Ok(input[pos..].to_vec()),
    }
}

/// Request framing: the first byte picks the limits (authenticated or not,
/// and a `proto-max-bulk-len` the server can be configured with), the next
/// bytes how the rest is cut into reads. Checks that the parser never
/// panics, returns the same requests, error and leftover bytes however the
/// input is chunked (one read, one byte per read, and the fuzzer's cuts),
/// and agrees with [`reference_framing`].
pub fn request(data: &[u8]) {
    let mut choices = Choices { data };
    let control = choices.byte();
    let limits = Limits {
        max_bulk_len: [1 << 20, 512 << 20, i64::MAX as u64][usize::from(control & 3) % 3],
        authenticated: control & 4 == 0,
    };
    let cuts: Vec<usize> = (0..usize::from(control >> 3))
        .map(|_| usize::from(choices.byte()) % 17)
        .collect();
    let input = choices.data;
    let whole = run_parser(input, &limits, &[]);
    let trickled = run_parser(input, &limits, &vec![1; input.len()]);
    assert_eq!(whole, trickled, "one read and one byte per read disagree");
    let cut = run_parser(input, &limits, &cuts);
    assert_eq!(whole, cut, "one read and reads cut at {cuts:?} disagree");
    // The length limits depend on how much arrived before the line ended,
    // so the whole-buffer reference holds below them.
    if input.len() <= MAX_INLINE_LEN {
        assert_eq!(
            whole,
            reference_framing(input, &limits),
            "reference disagrees"
        );
    }
}

// ---------------------------------------------------------------------------
// Glob matching

/// One element of a glob pattern, as Redis's `stringmatchlen` reads it.
#[derive(Debug)]
enum Token {
    /// A run of `*`.
    Star,
    /// `?`.
    Any,
    /// A literal byte, escaped or not (both fold case under nocase, as in
    /// Redis).
    Byte(u8),
    /// `[...]`: members, with whether the class was negated.
    Class { negate: bool, members: Vec<Member> },
}

/// One member of a `[...]` class.
#[derive(Debug)]
enum Member {
    /// A byte after `\` inside a class: compared exactly, even with nocase.
    Escaped(u8),
    /// A plain byte: compared with case folding when asked.
    Plain(u8),
    /// `a-z`, bounds compared as signed C chars, in either order.
    Range(u8, u8),
}

/// Splits a pattern into tokens. Where a class ends does not depend on the
/// subject, so the pattern can be read once up front, unlike the streaming
/// matcher under test.
fn glob_tokens(p: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'*' => {
                while p.get(i + 1) == Some(&b'*') {
                    i += 1;
                }
                out.push(Token::Star);
            }
            b'?' => out.push(Token::Any),
            b'\\' if i + 1 < p.len() => {
                i += 1;
                out.push(Token::Byte(p[i]));
            }
            b'[' => {
                i += 1;
                let negate = p.get(i) == Some(&b'^');
                if negate {
                    i += 1;
                }
                let mut members = Vec::new();
                // Runs to the closing `]`, or to the end of the pattern.
                while i < p.len() && p[i] != b']' {
                    if p[i] == b'\\' && i + 1 < p.len() {
                        members.push(Member::Escaped(p[i + 1]));
                        i += 2;
                    } else if i + 2 < p.len() && p[i + 1] == b'-' {
                        members.push(Member::Range(p[i], p[i + 2]));
                        i += 3;
                    } else {
                        members.push(Member::Plain(p[i]));
                        i += 1;
                    }
                }
                out.push(Token::Class { negate, members });
            }
            b => out.push(Token::Byte(b)),
        }
        i += 1;
    }
    out
}

/// Whether token `t` (not a star) accepts byte `c`.
fn token_accepts(t: &Token, c: u8, nocase: bool) -> bool {
    let same = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    match t {
        Token::Star => true,
        Token::Any => true,
        Token::Byte(b) => same(*b, c),
        Token::Class { negate, members } => {
            let hit = members.iter().any(|m| match *m {
                Member::Escaped(b) => b == c,
                Member::Plain(b) => same(b, c),
                Member::Range(a, b) => {
                    // Ordered as signed chars first, folded after, as in
                    // Redis: folding can leave the bounds reversed (empty).
                    let (lo, hi) = if (a as i8) > (b as i8) {
                        (b, a)
                    } else {
                        (a, b)
                    };
                    let fold = |x: u8| (if nocase { x.to_ascii_lowercase() } else { x }) as i8;
                    (fold(lo)..=fold(hi)).contains(&fold(c))
                }
            });
            hit != *negate
        }
    }
}

/// Redis's glob semantics by dynamic programming over (token, position):
/// no backtracking, so no shortcut to get wrong. Besides the usual rules it
/// keeps Redis's quirk that a pattern meets an empty subject only when the
/// pattern is empty, while trailing stars after the last byte is consumed
/// are fine (`*` does not match "", `a*` matches "a").
fn reference_glob(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let tokens = glob_tokens(pattern);
    let (t, n) = (tokens.len(), s.len());
    if n == 0 {
        return pattern.is_empty();
    }
    // rest_stars[i]: tokens i.. are all stars.
    let mut rest_stars = vec![true; t + 1];
    for i in (0..t).rev() {
        rest_stars[i] = rest_stars[i + 1] && matches!(tokens[i], Token::Star);
    }
    // next[j] = m(i + 1, j) for j < n; computed for i from the end.
    let mut next = vec![false; n];
    for i in (0..t).rev() {
        let mut cur = vec![false; n];
        if matches!(tokens[i], Token::Star) {
            if i + 1 == t {
                cur.fill(true);
            } else {
                // Some suffix s[k..], k >= j, non-empty, matches the rest.
                let mut any = false;
                for j in (0..n).rev() {
                    any |= next[j];
                    cur[j] = any;
                }
            }
        } else {
            for j in 0..n {
                cur[j] = token_accepts(&tokens[i], s[j], nocase)
                    && if j + 1 == n {
                        rest_stars[i + 1]
                    } else {
                        next[j + 1]
                    };
            }
        }
        next = cur;
    }
    // m(0, 0); with no tokens a non-empty subject does not match.
    t > 0 && next[0]
}

/// Glob matching: the first byte sets nocase (bit 0); the pattern runs to
/// the first `\n` and the subject is everything after it (so seeds are
/// readable text). Checks that the matcher never panics or overflows the
/// stack, and agrees with [`reference_glob`] whenever the pattern has too
/// few stars to reach the matcher's nesting cap (past it Redis, and the
/// matcher, give up).
pub fn glob(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let nocase = flags & 1 == 1;
    let (pattern, subject) = match rest.iter().position(|&b| b == b'\n') {
        Some(nl) => (&rest[..nl], &rest[nl + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let got = glob_match(pattern, subject, nocase);
    let stars = glob_tokens(pattern)
        .iter()
        .filter(|t| matches!(t, Token::Star))
        .count();
    if stars < 900 && pattern.len().saturating_mul(subject.len()) <= 1 << 24 {
        assert_eq!(
            got,
            reference_glob(pattern, subject, nocase),
            "pattern {:?} subject {:?} nocase {nocase}",
            String::from_utf8_lossy(pattern),
            String::from_utf8_lossy(subject)
        );
    }
}

// ---------------------------------------------------------------------------
// splitargs

/// Bytes `split_args` skips between tokens.
const BLANKS: &[u8] = b" \t\n\x0b\x0c\r\0";

/// Bytes that end a bare token; `\v` and `\f` are blanks between tokens but
/// are kept inside a bare one, as in Redis.
const BARE_ENDS: &[u8] = b" \t\n\r\0";

/// Writes `token` so that `split_args` reads it back as one token, and says
/// whether it was written bare; `style` picks bare, single-quoted or
/// double-quoted (falling back to double quotes, which can spell anything),
/// `raw` which bytes inside double quotes are written as `\xHH` rather than
/// as themselves.
fn quote(token: &[u8], style: u8, raw: &mut Choices<'_>) -> (Vec<u8>, bool) {
    let bare_ok = !token.is_empty()
        && !token
            .iter()
            .any(|b| BARE_ENDS.contains(b) || b"\"'".contains(b))
        && !BLANKS.contains(&token[0]);
    let kind = style % 3;
    if kind == 0 && bare_ok {
        return (token.to_vec(), true);
    }
    if kind == 1 && !token.contains(&b'\\') {
        let mut out = vec![b'\''];
        for &b in token {
            if b == b'\'' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'\'');
        return (out, false);
    }
    let mut out = vec![b'"'];
    for &b in token {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            _ if raw.byte() & 1 == 0 => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
    (out, false)
}

/// Joins `tokens`, each written by [`quote`], with runs of blanks (a run
/// after a bare token starts with a byte that ends it).
fn join_quoted(tokens: &[Vec<u8>], choices: &mut Choices<'_>) -> Vec<u8> {
    let mut line = Vec::new();
    let blanks =
        |choices: &mut Choices<'_>, at_least: usize, after_bare: bool, line: &mut Vec<u8>| {
            for i in 0..at_least + choices.below(3) {
                let set = if after_bare && i == 0 {
                    BARE_ENDS
                } else {
                    BLANKS
                };
                line.push(set[choices.below(set.len())]);
            }
        };
    blanks(choices, 0, false, &mut line);
    let mut bare = false;
    for (i, token) in tokens.iter().enumerate() {
        if i > 0 {
            blanks(choices, 1, bare, &mut line);
        }
        let style = choices.byte();
        let (written, was_bare) = quote(token, style, choices);
        line.extend(written);
        bare = was_bare;
    }
    blanks(choices, 0, bare, &mut line);
    line
}

/// splitargs: the first byte picks a mode. Mode 0 splits the input as a
/// line; whatever it returns, written back with [`join_quoted`], must split
/// to the same tokens. Mode 1 reads the input as tokens (separated by 0xff),
/// writes them with random quoting and blanks, and checks that the split
/// gives them back.
pub fn splitargs(data: &[u8]) {
    let mut choices = Choices { data };
    if choices.byte() & 1 == 0 {
        let line = choices.data;
        let Some(tokens) = split_args(line) else {
            return;
        };
        assert!(tokens.iter().map(Vec::len).sum::<usize>() <= line.len());
        let mut again = Choices { data: line };
        let written = join_quoted(&tokens, &mut again);
        assert_eq!(
            split_args(&written).as_ref(),
            Some(&tokens),
            "{:?} re-split as {:?}",
            String::from_utf8_lossy(line),
            String::from_utf8_lossy(&written)
        );
    } else {
        let count = choices.below(8);
        let mut tokens = Vec::new();
        for _ in 0..count {
            let len = choices.below(12);
            tokens.push(choices.take(len).to_vec());
        }
        let written = join_quoted(&tokens, &mut choices);
        assert_eq!(
            split_args(&written),
            Some(tokens),
            "written as {:?}",
            String::from_utf8_lossy(&written)
        );
    }
}

// ---------------------------------------------------------------------------
// Config files

/// Writes `value` as one double-quoted config-line argument.
fn config_quoted(value: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in value {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b' '..=b'~' => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
    out
}

/// What a configuration says, for comparing two: CONFIG GET of every
/// parameter, and the parsed fields (without the warnings, which name
/// lines, and the keyspace-event bits, which Redis reads back lossily and
/// CONFIG GET already covers).
fn config_state(config: &Config) -> (Vec<(String, Vec<u8>)>, String) {
    let mut fields = config.clone();
    fields.warnings.clear();
    fields.notify_keyspace_events = 0;
    // CONFIG GET dir answers the working directory (the server enters
    // `dir` at start-up), so the read-back text names it even where the
    // input named none: the same directory either way.
    fields.dir = None;
    // CONFIG GET io-threads answers the count in force (1, or 2 in cluster
    // mode), so the read-back text names it where the input named none.
    fields.io_threads = Some(config.io_threads());
    (config.get(&[b"*"]), format!("{fields:?}"))
}

/// Config files: parses the input as a whole redis.conf text on top of the
/// defaults. Checks that it never panics, and that a text that loads is
/// read back faithfully: writing every parameter's CONFIG GET value as a
/// directive line and loading that gives the same configuration (what
/// CONFIG REWRITE would rely on). Inputs that mention `include` are skipped:
/// an include reads whatever file the fuzzer names (`/dev/zero`...).
pub fn config(data: &[u8]) {
    if data.windows(7).any(|w| w.eq_ignore_ascii_case(b"include")) {
        return;
    }
    let mut config = Config::default();
    if config.load_text(Path::new("fuzz.conf"), data).is_err() {
        return;
    }
    // CONFIG GET joins the bind list with spaces, so an entry that is empty
    // or holds a blank or a quote does not read back as itself. No such
    // entry is an address the server can listen on: it refuses to start.
    if config.bind.iter().any(|a| {
        a.is_empty()
            || a.bytes()
                .any(|b| BLANKS.contains(&b) || b == b'"' || b == b'\'')
    }) {
        return;
    }
    let before = config_state(&config);
    let mut text = Vec::new();
    for (name, value) in &before.0 {
        text.extend_from_slice(name.as_bytes());
        text.push(b' ');
        text.extend(config_quoted(value));
        text.push(b'\n');
    }
    let mut reread = Config::default();
    if let Err(e) = reread.load_text(Path::new("rewritten.conf"), &text) {
        panic!(
            "the read-back form does not load: {e}\n{}",
            String::from_utf8_lossy(&text)
        );
    }
    assert_eq!(
        before,
        config_state(&reread),
        "read back as\n{}",
        String::from_utf8_lossy(&text)
    );
}

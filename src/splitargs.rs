//! Redis's argument splitter (`sdssplitargs`), byte for byte.
//!
//! One routine splits both a redis.conf line and an inline command such as
//! `SUBSCRIBE "news feed" 'it''s'`, so both accept exactly what Redis accepts:
//!
//! * tokens are separated by runs of blanks (`' '`, `\t`, `\n`, `\v`, `\f`,
//!   `\r`, and NUL);
//! * an unquoted token ends at `' '`, `\n`, `\r`, `\t` or NUL — so `\v` and
//!   `\f` *inside* a token are kept, as in Redis;
//! * a quote may open anywhere in a token (`a"b c"` is the token `ab c`);
//! * inside double quotes, `\n \r \t \b \a` are control characters, `\xHH`
//!   (exactly two hex digits) is that byte, and a backslash before any other
//!   byte yields that byte (`\"` is `"`, `\\` is `\`, `\q` is `q`, and `\x4`
//!   not followed by a second hex digit is `x4`);
//! * inside single quotes only `\'` is an escape; every other byte is literal;
//! * a closing quote must be followed by a blank or the end of the input, and
//!   a quote left open is an error; both make the whole line invalid.
//!
//! Redis works on C strings, so a raw NUL byte ends its input. Here the input
//! is a byte slice: an unquoted NUL separates tokens and a NUL inside quotes
//! is kept, so a line is never silently cut short.

/// Returns whether `c` separates tokens: C's `isspace` set plus NUL.
fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0)
}

/// Returns whether `c` ends an unquoted token; unlike [`is_blank`] this
/// excludes `\v` and `\f`, which Redis keeps inside a token.
fn ends_plain_token(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0)
}

/// Returns the value of the hex digit `c`, or `None` if it is not one; used
/// for the `\xHH` escape.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Where the scanner is inside the current token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Plain,
    Double,
    Single,
}

/// Splits `line` into arguments with Redis's `sdssplitargs` rules.
///
/// Returns `None` when quoting is malformed (a quote left open, or a closing
/// quote followed by something other than a blank); an empty or all-blank
/// line yields `Some(vec![])`.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while line.get(i).is_some_and(|&c| is_blank(c)) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut token = Vec::new();
        let mut state = State::Plain;
        loop {
            let Some(&c) = line.get(i) else {
                // End of input: fine for a bare token, fatal inside quotes.
                if state != State::Plain {
                    return None;
                }
                break;
            };
            let next = line.get(i + 1).copied();
            match state {
                State::Plain => match c {
                    _ if ends_plain_token(c) => break,
                    b'"' => state = State::Double,
                    b'\'' => state = State::Single,
                    _ => token.push(c),
                },
                State::Double => match (c, next) {
                    (b'\\', Some(b'x')) => {
                        let hi = line.get(i + 2).and_then(|&h| hex_value(h));
                        let lo = line.get(i + 3).and_then(|&h| hex_value(h));
                        if let (Some(hi), Some(lo)) = (hi, lo) {
                            token.push(hi * 16 + lo);
                            i += 3;
                        } else {
                            token.push(b'x');
                            i += 1;
                        }
                    }
                    (b'\\', Some(escaped)) => {
                        token.push(match escaped {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        i += 1;
                    }
                    (b'"', _) => {
                        if next.is_some_and(|n| !is_blank(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    _ => token.push(c),
                },
                State::Single => match (c, next) {
                    (b'\\', Some(b'\'')) => {
                        token.push(b'\'');
                        i += 1;
                    }
                    (b'\'', _) => {
                        if next.is_some_and(|n| !is_blank(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    _ => token.push(c),
                },
            }
            i += 1;
        }
        args.push(token);
    }
}

#[cfg(test)]
mod tests {
    use super::split_args;

    /// What a split returns.
    type Split = Option<Vec<Vec<u8>>>;

    /// Shorthand for an expected successful split.
    fn ok(tokens: &[&[u8]]) -> Split {
        Some(tokens.iter().map(|t| t.to_vec()).collect())
    }

    #[test]
    fn table() {
        let cases: &[(&[u8], Split)] = &[
            // Empty and blank input.
            (b"", ok(&[])),
            (b"   ", ok(&[])),
            (b" \t\r\n\x0b\x0c\0 ", ok(&[])),
            // Plain tokens and every separator.
            (b"set foo bar", ok(&[b"set", b"foo", b"bar"])),
            (b"  a   b  ", ok(&[b"a", b"b"])),
            (b"a\tb\nc\rd", ok(&[b"a", b"b", b"c", b"d"])),
            (b"a\0b", ok(&[b"a", b"b"])),
            // \v and \f separate only between tokens, not inside one.
            (b"\x0ba\x0cb\x0b c", ok(&[b"a\x0cb\x0b", b"c"])),
            // Double quotes and their escapes.
            (b"\"hello world\"", ok(&[b"hello world"])),
            (b"\"\"", ok(&[b""])),
            (b"a \"\" b", ok(&[b"a", b"", b"b"])),
            (b"\"\\n\\r\\t\\b\\a\\\\\\\"\"", ok(&[b"\n\r\t\x08\x07\\\""])),
            (b"\"\\x41\\x7a\\x00\\xff\"", ok(&[b"Az\0\xff"])),
            (b"\"\\xAb\"", ok(&[b"\xab"])),
            // Not a full \xHH: the backslash is dropped, the rest kept.
            (b"\"\\x4\"", ok(&[b"x4"])),
            (b"\"\\xg1\"", ok(&[b"xg1"])),
            (b"\"\\x\"", ok(&[b"x"])),
            (b"\"\\q\\'\"", ok(&[b"q'"])),
            // Single quotes: only \' is an escape.
            (b"'it\\'s'", ok(&[b"it's"])),
            (b"'a\\nb\\\\x'", ok(&[b"a\\nb\\\\x"])),
            // ...so a backslash right before the closing quote escapes it.
            (b"'a\\\\'", None),
            (b"'\"'", ok(&[b"\""])),
            (b"\"'\"", ok(&[b"'"])),
            (b"''", ok(&[b""])),
            // A quote may open mid-token; the token goes on to the close.
            (b"a\"b c\"", ok(&[b"ab c"])),
            (b"a'b c' d", ok(&[b"ab c", b"d"])),
            // Closing quote followed by any blank (or NUL) is fine.
            (b"\"a\"\x0bb", ok(&[b"a", b"b"])),
            (b"\"a\"\0b", ok(&[b"a", b"b"])),
            (b"'a'\tb", ok(&[b"a", b"b"])),
            // Closing quote glued to more text is an error.
            (b"\"a\"b", None),
            (b"'a'b", None),
            (b"\"a\"\"b\"", None),
            // Unterminated quotes are errors.
            (b"\"abc", None),
            (b"'abc", None),
            (b"a \"b", None),
            (b"\"abc\\\"", None),
            (b"\"abc\\", None),
            (b"'abc\\'", None),
            // Binary safety: raw NUL and high bytes inside quotes are kept.
            (b"\"a\0b\"", ok(&[b"a\0b"])),
            (b"'\xff\xfe' \x80", ok(&[b"\xff\xfe", b"\x80"])),
        ];
        for (input, expected) in cases {
            assert_eq!(
                &split_args(input),
                expected,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn never_panics_on_short_fragments() {
        let alphabet: &[u8] = b"\"'\\x a0\0\n";
        // Every string of up to four bytes over an alphabet of the tricky bytes.
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..4 {
            let mut longer = Vec::new();
            for prefix in &inputs {
                for &c in alphabet {
                    let mut s = prefix.clone();
                    s.push(c);
                    longer.push(s);
                }
            }
            inputs.extend(longer);
        }
        for input in &inputs {
            let _ = split_args(input);
        }
    }
}

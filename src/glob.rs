//! Redis's glob matching, byte for byte.
//!
//! PSUBSCRIBE, PUBSUB CHANNELS, KEYS, SCAN MATCH and CONFIG GET all share one
//! matcher in Redis (`stringmatchlen` in `util.c`); clients rely on its exact
//! rules, including the odd ones, so this is a faithful re-implementation of
//! those rules rather than a general glob crate:
//!
//! * `*` matches any run of bytes, `?` any single byte;
//! * `[abc]`, `[^abc]`, `[a-z]` (a reversed range `[z-a]` is accepted; range
//!   bounds compare as signed bytes, as Redis's C `char` on x86-64), with
//!   `\` escaping inside a class, and an unterminated class running to the end
//!   of the pattern;
//! * `\x` matches `x` literally;
//! * a pattern can only match a non-empty remainder with `*`: `*` against the
//!   empty string does not match, exactly as in Redis.

/// Recursion depth after which a pattern is declared not to match, as Redis
/// does, so a hostile pattern of many stars cannot exhaust the stack.
const MAX_NESTING: usize = 1000;

/// Returns whether `string` matches the Redis glob `pattern`.
///
/// `nocase` folds ASCII case, as CONFIG GET does; pub/sub matching is
/// case-sensitive.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_from(pattern, string, nocase, &mut skip_longer, 0)
}

/// Returns whether `a` and `b` are equal, folding ASCII case when asked.
fn same(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// The recursive matcher. `skip_longer` is set once a `*` has failed against
/// every suffix: no longer match can succeed after that, which keeps patterns
/// such as `*a*a*a*b` linear instead of exponential.
fn match_from(
    mut p: &[u8],
    mut s: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    nesting: usize,
) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_from(&p[1..], s, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                p = &p[1..];
                let negate = p.first() == Some(&b'^');
                if negate {
                    p = &p[1..];
                }
                let c = s[0];
                let mut matched = false;
                loop {
                    if p.is_empty() {
                        // Unterminated class: it runs to the end of the
                        // pattern. Step back so the shared advance below
                        // leaves the pattern empty.
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if p[0] == c {
                            matched = true;
                        }
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        // Redis compares range bounds as C `char`, which is
                        // signed on x86-64: bytes >= 0x80 sort below ASCII.
                        let (mut lo, mut hi) = (p[0] as i8, p[2] as i8);
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        let mut x = c as i8;
                        if nocase {
                            lo = (lo as u8).to_ascii_lowercase() as i8;
                            hi = (hi as u8).to_ascii_lowercase() as i8;
                            x = (x as u8).to_ascii_lowercase() as i8;
                        }
                        p = &p[2..];
                        if x >= lo && x <= hi {
                            matched = true;
                        }
                    } else if same(p[0], c, nocase) {
                        matched = true;
                    }
                    p = &p[1..];
                }
                if matched == negate {
                    return false;
                }
                s = &s[1..];
                // `p` now starts at the closing `]` (or is empty); the
                // advance below steps past it.
                if p.is_empty() {
                    continue;
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if !same(p[0], s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
            lit => {
                if !same(lit, s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

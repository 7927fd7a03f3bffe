//! Password checks.

/// Compares two byte strings in time that depends only on their lengths,
/// never on where they first differ, so a client cannot find the password
/// byte by byte by timing AUTH replies.
pub fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    let n = expected.len().max(given.len());
    let mut diff = (expected.len() ^ given.len()) as u64;
    for i in 0..n {
        let a = expected.get(i).copied().unwrap_or(0);
        let b = given.get(i).copied().unwrap_or(0);
        diff |= u64::from(a ^ b);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}

//! Value parsers and read-back forms with Redis 7's rules and error texts:
//! integers, memory sizes, octal modes, booleans and paths.

use super::*;

/// Returns the soft-limit seconds in `arg`: decimal digits with an optional
/// `+`, empty meaning 0, at most `INT_MAX` (Redis silently wraps larger
/// values; here they are an error).
pub(super) fn parse_soft_seconds(arg: &[u8]) -> Option<u64> {
    let digits = arg.strip_prefix(b"+").unwrap_or(arg);
    if arg.starts_with(b"+") && digits.is_empty() {
        return None;
    }
    let value = parse_digits(digits)?;
    (value <= INT_MAX as u64).then_some(value)
}

/// Returns the value of a run of ASCII digits (empty = 0), or `None` on a
/// non-digit or overflow.
pub(super) fn parse_digits(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Returns the integer in `arg` with Redis's strict `string2ll` rules: an
/// optional `-`, no `+`, no leading zeros, no spaces, within `i64`.
pub(super) fn parse_i64(arg: &[u8]) -> Option<i64> {
    let (negative, digits) = match arg.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let magnitude = parse_digits(digits)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Why a memory value was refused.
pub(super) enum MemoryError {
    /// Not digits plus an optional unit.
    Invalid,
    /// Does not fit in 64 bits (Redis wraps around; this is an error here).
    Overflow,
}

/// Returns the byte count in `arg` with Redis's `memtoull` rules: decimal
/// digits then an optional case-insensitive unit `b`, `k` (1000), `kb`
/// (1024), `m`, `mb`, `g`, `gb`; no sign. As in Redis, empty digits count as
/// 0.
pub(super) fn parse_memory(arg: &[u8]) -> Result<u64, MemoryError> {
    let split = arg
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(arg.len());
    let (digits, unit) = arg.split_at(split);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return Err(MemoryError::Invalid),
    };
    parse_digits(digits)
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or(MemoryError::Overflow)
}

/// Returns Redis's out-of-range text for the range `min..=max`.
pub(super) fn range_error(min: i64, max: i64) -> String {
    format!("argument must be between {min} and {max} inclusive")
}

/// Returns the integer in `arg` if it lies in `min..=max`, converted to the
/// field's type; otherwise Redis's error text.
pub(super) fn int_arg<T: TryFrom<i64>>(arg: &[u8], min: i64, max: i64) -> Result<T, String> {
    let value = parse_i64(arg).ok_or(MSG_NOT_INTEGER.to_string())?;
    if !(min..=max).contains(&value) {
        return Err(range_error(min, max));
    }
    T::try_from(value).map_err(|_| range_error(min, max))
}

/// Returns the memory value in `arg` if it lies in `min..=max` bytes;
/// otherwise Redis's error text (a value too large for 64 bits reports the
/// range, as Redis's wrapped value mostly does).
pub(super) fn memory_arg(arg: &[u8], min: i64, max: i64) -> Result<u64, String> {
    let value = match parse_memory(arg) {
        Ok(value) => value,
        Err(MemoryError::Invalid) => return Err(MSG_NOT_MEMORY.to_string()),
        Err(MemoryError::Overflow) => return Err(range_error(min, max)),
    };
    match i64::try_from(value) {
        Ok(v) if (min..=max).contains(&v) => Ok(value),
        _ => Err(range_error(min, max)),
    }
}

/// Returns the octal number in `arg` (an optional sign, then octal digits;
/// empty means 0, as Redis's `strtoll` reading does) if it is at most `max`;
/// otherwise Redis's error text, whose bounds are printed in octal.
pub(super) fn octal_arg(arg: &[u8], max: u32) -> Result<u32, String> {
    let out_of_range = || format!("argument must be between 0 and {max:o} inclusive");
    let (negative, digits) = match arg.first() {
        Some(b'-') => (true, arg.get(1..).unwrap_or_default()),
        Some(b'+') => (false, arg.get(1..).unwrap_or_default()),
        _ => (false, arg),
    };
    if digits.is_empty() && !arg.is_empty() {
        return Err(MSG_NOT_OCTAL.to_string());
    }
    let value = digits
        .iter()
        .try_fold(0u64, |acc, &d| {
            if !(b'0'..=b'7').contains(&d) {
                return None;
            }
            acc.checked_mul(8)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(MSG_NOT_OCTAL.to_string())?;
    if negative && value != 0 {
        return Err(out_of_range());
    }
    u32::try_from(value)
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(out_of_range)
}

/// Returns the boolean in `arg`: `yes` or `no`, case-insensitive.
pub(super) fn bool_arg(arg: &[u8]) -> Result<bool, String> {
    if arg.eq_ignore_ascii_case(b"yes") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"no") {
        Ok(false)
    } else {
        Err(MSG_NOT_BOOL.to_string())
    }
}

/// Returns a boolean's CONFIG GET form.
pub(super) fn yes_no(value: bool) -> Vec<u8> {
    if value {
        b"yes".to_vec()
    } else {
        b"no".to_vec()
    }
}

/// Returns the path named by `arg`, or `None` for "" (which Redis reads as
/// "not set").
pub(super) fn path_arg(arg: &[u8]) -> Option<PathBuf> {
    (!arg.is_empty()).then(|| bytes_to_path(arg))
}

/// Returns a path's CONFIG GET form: its bytes, or "" when unset.
pub(super) fn optional_path_bytes(path: Option<&Path>) -> Vec<u8> {
    path.map(|p| os_bytes(p.as_os_str())).unwrap_or_default()
}

/// Returns the path spelled by `bytes`; file names are bytes on Unix.
pub(super) fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// Returns an I/O error as `strerror` words, without Rust's "(os error N)".
pub(super) fn io_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(cut) => text.get(..cut).unwrap_or(&text).to_string(),
        None => text,
    }
}

/// Returns the bytes of an OS string (lossy only off Unix).
pub(super) fn os_bytes(s: &OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        s.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        s.to_string_lossy().into_owned().into_bytes()
    }
}

//! The x87 80-bit `long double` arithmetic INCRBYFLOAT needs to answer
//! exactly as Redis does on x86-64: parse a decimal as `strtold` does
//! (rounded to a 64-bit significand), add with round-to-nearest-even, and
//! print as `%.17Lf`. All three are computed exactly with a small unsigned
//! big integer, so results do not depend on the host's floating point.

use std::cmp::Ordering;

/// Largest binary exponent of a finite long double's leading bit (values
/// reach 2^16384 only as infinity).
const MAX_EXP: i64 = 16383;
/// Smallest binary exponent of a nonzero long double's leading bit (the
/// least subnormal, 2^-16445); below it `strtold` underflows to zero.
const MIN_EXP: i64 = -16445;
/// Decimal exponents beyond this are infinite or zero for any digit count
/// allowed in an argument, so they are clamped before big numbers are built.
const DEC_EXP_CLAMP: i64 = 20_000;

/// An unsigned integer as little-endian 32-bit limbs, without leading
/// zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut v: u128) -> Big {
        let mut limbs = Vec::new();
        while v > 0 {
            limbs.push(v as u32);
            v >>= 32;
        }
        Big(limbs)
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    /// Number of significant bits.
    fn bits(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => self.0.len() as u64 * 32 - u64::from(top.leading_zeros()),
        }
    }

    fn bit(&self, i: u64) -> bool {
        self.0
            .get((i / 32) as usize)
            .is_some_and(|l| l >> (i % 32) & 1 == 1)
    }

    /// Whether any bit below bit `i` is set.
    fn any_below(&self, i: u64) -> bool {
        let limb = (i / 32) as usize;
        if self.0.iter().take(limb).any(|&l| l != 0) {
            return true;
        }
        let part = i % 32;
        part > 0
            && self
                .0
                .get(limb)
                .is_some_and(|l| l & ((1u32 << part) - 1) != 0)
    }

    fn mul_add_small(&mut self, m: u32, add: u32) {
        let mut carry = u64::from(add);
        for l in &mut self.0 {
            let v = u64::from(*l) * u64::from(m) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    /// Divides in place by `d`; returns the remainder.
    fn div_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for l in self.0.iter_mut().rev() {
            let v = (rem << 32) | u64::from(*l);
            *l = (v / u64::from(d)) as u32;
            rem = v % u64::from(d);
        }
        self.trim();
        rem as u32
    }

    fn shl(&self, n: u64) -> Big {
        if self.is_zero() {
            return Big(Vec::new());
        }
        let (limbs, bits) = ((n / 32) as usize, (n % 32) as u32);
        let mut out = vec![0u32; limbs];
        let mut carry = 0u32;
        for &l in &self.0 {
            if bits == 0 {
                out.push(l);
            } else {
                out.push((l << bits) | carry);
                carry = l >> (32 - bits);
            }
        }
        if carry > 0 {
            out.push(carry);
        }
        Big(out)
    }

    fn shr(&self, n: u64) -> Big {
        let (limbs, bits) = ((n / 32) as usize, (n % 32) as u32);
        if limbs >= self.0.len() {
            return Big(Vec::new());
        }
        let src = &self.0[limbs..];
        let mut out = Vec::with_capacity(src.len());
        for (i, &l) in src.iter().enumerate() {
            let hi = src.get(i + 1).copied().unwrap_or(0);
            out.push(if bits == 0 {
                l
            } else {
                (l >> bits) | (hi << (32 - bits))
            });
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    fn add(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len().max(other.0.len()) + 1);
        let mut carry = 0u64;
        for i in 0..self.0.len().max(other.0.len()) {
            let v = u64::from(self.0.get(i).copied().unwrap_or(0))
                + u64::from(other.0.get(i).copied().unwrap_or(0))
                + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry > 0 {
            out.push(carry as u32);
        }
        Big(out)
    }

    /// `self - other`, for `self >= other`.
    fn sub(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let mut v =
                i64::from(self.0[i]) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = 0;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            }
            out.push(v as u32);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    /// The low 128 bits.
    fn low_u128(&self) -> u128 {
        self.0
            .iter()
            .take(4)
            .enumerate()
            .fold(0, |acc, (i, &l)| acc | (u128::from(l) << (32 * i)))
    }

    fn pow10(n: u64) -> Big {
        let mut b = Big::from_u128(1);
        for _ in 0..n / 9 {
            b.mul_add_small(1_000_000_000, 0);
        }
        for _ in 0..n % 9 {
            b.mul_add_small(10, 0);
        }
        b
    }

    fn to_decimal(&self) -> String {
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.div_small(1_000_000_000));
        }
        let mut out = chunks.pop().map_or("0".to_string(), |c| c.to_string());
        for c in chunks.iter().rev() {
            out.push_str(&format!("{c:09}"));
        }
        out
    }
}

/// A long double value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LongDouble {
    /// `mant * 2^exp`, negated when `neg`; `mant` is 0 for zero.
    Finite { neg: bool, mant: u64, exp: i64 },
    /// Plus or minus infinity.
    Inf,
}

/// Rounds `m * 2^e` (negated when `neg`) to a 64-bit significand, nearest
/// even; infinity past the largest finite value.
fn round(neg: bool, m: &Big, e: i64) -> LongDouble {
    let n = m.bits();
    if n == 0 {
        return LongDouble::Finite {
            neg: false,
            mant: 0,
            exp: 0,
        };
    }
    // Keep 64 bits, or fewer where the value is subnormal: no bit below
    // 2^MIN_EXP exists.
    let shift = (n as i64 - 64).max(MIN_EXP - e);
    let (mant, mut exp) = if shift <= 0 {
        (m.low_u128() as u64, e)
    } else {
        let shift = shift as u64;
        let mut q = m.shr(shift).low_u128();
        if m.bit(shift - 1) && (m.any_below(shift - 1) || q & 1 == 1) {
            q += 1;
        }
        // Rounding up can carry into a 65th bit: 2^64 is 2^63 * 2.
        if q >> 64 != 0 {
            ((q >> 1) as u64, e + shift as i64 + 1)
        } else {
            (q as u64, e + shift as i64)
        }
    };
    if mant == 0 {
        exp = 0;
    }
    let top = exp + 63 - i64::from(mant.leading_zeros());
    if top > MAX_EXP {
        return LongDouble::Inf;
    }
    LongDouble::Finite { neg, mant, exp }
}

/// Parses a number as Redis's `string2ld` does with `strtold`: optional
/// sign, then decimal digits with an optional point and exponent, or
/// `inf`/`infinity` (any case). No surrounding space, no NaN, and values
/// that overflow to infinity or underflow to zero are refused (None).
/// Hexadecimal floats are not accepted.
pub fn parse(text: &[u8]) -> Option<LongDouble> {
    let (neg, rest) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(LongDouble::Inf);
    }
    let mut digits = Big(Vec::new());
    let mut dec_exp: i64 = 0;
    let mut seen_digit = false;
    let mut nonzero = false;
    let mut i = 0;
    let mut after_point = false;
    while i < rest.len() {
        let c = rest[i];
        if c.is_ascii_digit() {
            seen_digit = true;
            nonzero |= c != b'0';
            // Leading zeros add nothing; every other digit is kept exactly.
            if !digits.is_zero() || c != b'0' {
                digits.mul_add_small(10, u32::from(c - b'0'));
                if after_point {
                    dec_exp -= 1;
                }
            } else if after_point {
                dec_exp -= 1;
            }
        } else if c == b'.' && !after_point {
            after_point = true;
        } else {
            break;
        }
        i += 1;
    }
    if !seen_digit {
        return None;
    }
    if i < rest.len() {
        // Only an exponent may follow: e or E, an optional sign, digits.
        if rest[i] != b'e' && rest[i] != b'E' {
            return None;
        }
        let exp_text = &rest[i + 1..];
        let (exp_neg, exp_digits) = match exp_text.first() {
            Some(b'-') => (true, &exp_text[1..]),
            Some(b'+') => (false, &exp_text[1..]),
            _ => (false, exp_text),
        };
        if exp_digits.is_empty() || !exp_digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut e: i64 = 0;
        for &d in exp_digits {
            e = (e * 10 + i64::from(d - b'0')).min(DEC_EXP_CLAMP);
        }
        dec_exp += if exp_neg { -e } else { e };
    }
    if !nonzero {
        return Some(LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        });
    }
    let dec_exp = dec_exp.clamp(-2 * DEC_EXP_CLAMP, DEC_EXP_CLAMP);
    let value = if dec_exp >= 0 {
        let m = digits_times(&digits, &Big::pow10(dec_exp as u64));
        round(neg, &m, 0)
    } else {
        let p = Big::pow10(dec_exp.unsigned_abs());
        // Scale so the quotient has at least 66 bits, then fold the
        // remainder into a sticky bit below them for correct rounding.
        let s = (p.bits() + 66).saturating_sub(digits.bits());
        let n = digits.shl(s);
        let (q, rem_zero) = divide(&n, &p);
        let m = q.shl(1).add(&Big::from_u128(u128::from(!rem_zero)));
        round(neg, &m, -(s as i64) - 1)
    };
    match value {
        LongDouble::Inf => None,
        LongDouble::Finite { mant: 0, .. } => None,
        v => Some(v),
    }
}

/// `a * b`.
fn digits_times(a: &Big, b: &Big) -> Big {
    let mut out = vec![0u64; a.0.len() + b.0.len() + 1];
    for (i, &x) in a.0.iter().enumerate() {
        let mut carry = 0u64;
        for (j, &y) in b.0.iter().enumerate() {
            let v = out[i + j] + u64::from(x) * u64::from(y) + carry;
            out[i + j] = v & 0xFFFF_FFFF;
            carry = v >> 32;
        }
        let mut k = i + b.0.len();
        while carry > 0 {
            let v = out[k] + carry;
            out[k] = v & 0xFFFF_FFFF;
            carry = v >> 32;
            k += 1;
        }
    }
    let mut big = Big(out.into_iter().map(|l| l as u32).collect());
    big.trim();
    big
}

/// `n / d` by binary long division (the quotient is at most a few hundred
/// bits here) and whether the remainder is zero.
fn divide(n: &Big, d: &Big) -> (Big, bool) {
    let mut rem = n.clone();
    let mut q = Big(Vec::new());
    if n.bits() < d.bits() {
        return (q, rem.is_zero());
    }
    let top = n.bits() - d.bits();
    for b in (0..=top).rev() {
        let t = d.shl(b);
        if t.cmp(&rem) != Ordering::Greater {
            rem = rem.sub(&t);
            q = q.add(&Big::from_u128(1).shl(b));
        }
    }
    (q, rem.is_zero())
}

/// `a + b`, rounded; infinity when either is infinite or the sum overflows.
pub fn add(a: LongDouble, b: LongDouble) -> LongDouble {
    let (
        LongDouble::Finite {
            neg: na,
            mant: ma,
            exp: ea,
        },
        LongDouble::Finite {
            neg: nb,
            mant: mb,
            exp: eb,
        },
    ) = (a, b)
    else {
        return LongDouble::Inf;
    };
    let e = ea.min(eb);
    let x = Big::from_u128(u128::from(ma)).shl((ea - e) as u64);
    let y = Big::from_u128(u128::from(mb)).shl((eb - e) as u64);
    if na == nb {
        return round(na, &x.add(&y), e);
    }
    match x.cmp(&y) {
        Ordering::Less => round(nb, &y.sub(&x), e),
        _ => round(na, &x.sub(&y), e),
    }
}

/// Formats as Redis's INCRBYFLOAT reply: `%.17Lf` (exact value rounded to
/// 17 decimals, nearest even), trailing zeros and point removed, `-0`
/// written `0`.
pub fn format(v: LongDouble) -> String {
    let LongDouble::Finite { neg, mant, exp } = v else {
        return "inf".to_string();
    };
    let m = Big::from_u128(u128::from(mant));
    let scaled = digits_times(&m, &Big::pow10(17));
    let q = if exp >= 0 {
        scaled.shl(exp as u64)
    } else {
        let shift = exp.unsigned_abs();
        let mut q = scaled.shr(shift);
        if scaled.bit(shift - 1) && (scaled.any_below(shift - 1) || q.bit(0)) {
            q = q.add(&Big::from_u128(1));
        }
        q
    };
    let mut digits = q.to_decimal();
    if digits.len() < 18 {
        digits = format!("{digits:0>18}");
    }
    let (int_part, frac) = digits.split_at(digits.len() - 17);
    let frac = frac.trim_end_matches('0');
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(int_part);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if out == "-0" {
        out = "0".to_string();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> String {
        let a = parse(a.as_bytes()).expect("a");
        let b = parse(b.as_bytes()).expect("b");
        format(add(a, b))
    }

    /// Expectations are redis-server 7.0.15's INCRBYFLOAT replies on x86-64.
    #[test]
    fn matches_redis_long_double() {
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("3", "0.2"), "3.2");
        assert_eq!(sum("3.2", "0.1"), "3.3");
        assert_eq!(sum("10.6", "5.0e3"), "5010.60000000000000009");
        assert_eq!(sum("17179869184", "1.5"), "17179869185.5");
        assert_eq!(sum("0", "1e-20"), "0");
        assert_eq!(sum("0.1", "-0.1"), "0");
        assert_eq!(sum("-5", "2"), "-3");
    }

    #[test]
    fn refuses_what_strtold_refuses() {
        for bad in [
            "", "abc", "1e", "1e+", "--1", "1.2.3", "nan", " 1", "1 ", "0x10",
        ] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad}");
        }
        assert!(parse(b"1e5000").is_none());
        assert!(parse(b"1e-5000").is_none());
        assert_eq!(parse(b"-inf"), Some(LongDouble::Inf));
        assert!(parse(b"0e99999999999").is_some());
        assert!(parse(b".5").is_some());
        assert!(parse(b"5.").is_some());
    }
}

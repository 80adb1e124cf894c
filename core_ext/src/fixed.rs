//! Fixed-point numbers: decimal text <-> i64 in a market's integer units (10^-decimals), no floats.
//!
//! Venues print prices and sizes as decimal strings, often padded to the tick ("86700.0", "1.94230").
//! `parse_fixed` accepts any number of trailing zeros beyond `decimals` but rejects a nonzero digit
//! there: silently rounding a price is how a bot ends up quoting the wrong level.

use std::fmt;

/// Largest supported scale: 10^18 still fits in i64.
pub const MAX_DECIMALS: u32 = 18;

const POW10: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// 10^n for n <= 18.
#[inline]
pub fn pow10(n: u32) -> i64 {
    POW10[n as usize]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixedError {
    Empty,
    /// Not a plain decimal number (junk, exponent, misplaced sign or dot).
    Invalid,
    /// A nonzero digit beyond the market's decimals.
    TooPrecise,
    /// Does not fit in i64 at this scale.
    Overflow,
    /// `decimals` above `MAX_DECIMALS`.
    BadScale,
}

impl fmt::Display for FixedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FixedError::Empty => "empty number",
            FixedError::Invalid => "not a decimal number",
            FixedError::TooPrecise => "more decimals than the market allows",
            FixedError::Overflow => "number out of range",
            FixedError::BadScale => "decimals must be between 0 and 18",
        })
    }
}

impl std::error::Error for FixedError {}

/// Parse decimal text into integer units of 10^-decimals.
///
/// Grammar: `-?[0-9]+(\.[0-9]+)?`. Extra fractional digits must be zeros.
#[inline]
pub fn parse_fixed(text: &[u8], decimals: u32) -> Result<i64, FixedError> {
    if decimals > MAX_DECIMALS {
        return Err(FixedError::BadScale);
    }
    let (neg, digits) = match text.split_first() {
        None => return Err(FixedError::Empty),
        Some((b'-', rest)) => (true, rest),
        Some(_) => (false, text),
    };
    // Accumulate in u64 without per-digit overflow checks: at most 19 significant digits are kept
    // (< 10^19 < 2^64); leading zeros do not count.
    let mut acc: u64 = 0;
    let mut significant = 0u32;
    let mut i = 0;
    while i < digits.len() {
        let d = digits[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        acc = acc.wrapping_mul(10).wrapping_add(d as u64);
        significant += (significant > 0 || d != 0) as u32;
        i += 1;
    }
    if i == 0 {
        return Err(FixedError::Invalid);
    }
    let mut frac_used: u32 = 0;
    if i < digits.len() {
        if digits[i] != b'.' {
            return Err(FixedError::Invalid);
        }
        let frac = &digits[i + 1..];
        if frac.is_empty() {
            return Err(FixedError::Invalid);
        }
        for &c in frac {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return Err(FixedError::Invalid);
            }
            if frac_used < decimals {
                acc = acc.wrapping_mul(10).wrapping_add(d as u64);
                significant += (significant > 0 || d != 0) as u32;
                frac_used += 1;
            } else if d != 0 {
                return Err(FixedError::TooPrecise);
            }
        }
    }
    if significant > 19 {
        return Err(FixedError::Overflow);
    }
    if frac_used < decimals {
        acc = acc.checked_mul(pow10(decimals - frac_used) as u64).ok_or(FixedError::Overflow)?;
    }
    if neg {
        if acc <= i64::MAX as u64 {
            Ok(-(acc as i64))
        } else if acc == i64::MIN.unsigned_abs() {
            Ok(i64::MIN)
        } else {
            Err(FixedError::Overflow)
        }
    } else {
        i64::try_from(acc).map_err(|_| FixedError::Overflow)
    }
}

/// A decimal as an exact (mantissa, scale) pair: value = mantissa / 10^scale. Used for derived
/// quantities (average prices, fees) where the wire's scale differs from the market's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    pub mantissa: i128,
    pub scale: u32,
}

impl Decimal {
    pub fn parse(text: &[u8]) -> Result<Decimal, FixedError> {
        let (neg, digits) = match text.split_first() {
            None => return Err(FixedError::Empty),
            Some((b'-', rest)) => (true, rest),
            Some(_) => (false, text),
        };
        let mut mantissa: i128 = 0;
        let mut scale = 0u32;
        let mut seen_dot = false;
        let mut int_digits = 0usize;
        for (k, &c) in digits.iter().enumerate() {
            if c == b'.' {
                if seen_dot || int_digits == 0 || k + 1 == digits.len() {
                    return Err(FixedError::Invalid);
                }
                seen_dot = true;
                continue;
            }
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return Err(FixedError::Invalid);
            }
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(d as i128))
                .ok_or(FixedError::Overflow)?;
            if seen_dot {
                scale += 1;
                if scale > 36 {
                    return Err(FixedError::Overflow);
                }
            } else {
                int_digits += 1;
            }
        }
        if int_digits == 0 {
            return Err(if digits.is_empty() && !neg { FixedError::Empty } else { FixedError::Invalid });
        }
        Ok(Decimal { mantissa: if neg { -mantissa } else { mantissa }, scale })
    }

    /// Value in units of 10^-decimals, rounded half away from zero.
    pub fn to_units_rounded(self, decimals: u32) -> Result<i64, FixedError> {
        let v = if decimals >= self.scale {
            self.mantissa.checked_mul(10i128.pow(decimals - self.scale)).ok_or(FixedError::Overflow)?
        } else {
            div_round(self.mantissa, 10i128.pow(self.scale - decimals))
        };
        i64::try_from(v).map_err(|_| FixedError::Overflow)
    }
}

/// Integer division rounding half away from zero (den > 0).
pub fn div_round(num: i128, den: i128) -> i128 {
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    }
}

/// Format integer units as decimal text with exactly `decimals` fractional digits.
pub fn format_fixed(value: i64, decimals: u32) -> Result<String, FixedError> {
    if decimals > MAX_DECIMALS {
        return Err(FixedError::BadScale);
    }
    let mag = value.unsigned_abs();
    let mut out = String::with_capacity(24);
    if value < 0 {
        out.push('-');
    }
    if decimals == 0 {
        out.push_str(&mag.to_string());
        return Ok(out);
    }
    let p = 10u64.pow(decimals);
    out.push_str(&(mag / p).to_string());
    out.push('.');
    let frac = (mag % p).to_string();
    for _ in frac.len()..decimals as usize {
        out.push('0');
    }
    out.push_str(&frac);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str, d: u32) -> Result<i64, FixedError> {
        parse_fixed(s.as_bytes(), d)
    }

    #[test]
    fn parses_plain_and_padded() {
        assert_eq!(p("141", 2), Ok(14100));
        assert_eq!(p("141.25", 2), Ok(14125));
        assert_eq!(p("-0.5", 1), Ok(-5));
        assert_eq!(p("86700.0", 0), Ok(86700));
        assert_eq!(p("1.94230", 4), Ok(19423));
        assert_eq!(p("0.00000", 5), Ok(0));
        assert_eq!(p("-0", 3), Ok(0));
        assert_eq!(p("007.10", 2), Ok(710));
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(p("", 2), Err(FixedError::Empty));
        assert_eq!(p("1.945", 2), Err(FixedError::TooPrecise));
        for bad in ["-", "abc", "1e5", "1.2.3", ".5", "5.", "+1", " 1", "1 ", "1,5", "--1", "0x10", "NaN"] {
            assert_eq!(p(bad, 2), Err(FixedError::Invalid), "{bad}");
        }
        assert_eq!(p("9223372036854775808", 0), Err(FixedError::Overflow));
        assert_eq!(p("-9223372036854775808", 0), Ok(i64::MIN));
        assert_eq!(p("9223372036854775807", 0), Ok(i64::MAX));
        assert_eq!(p("92233720368547758.08", 2), Err(FixedError::Overflow));
        assert_eq!(p("1", 19), Err(FixedError::BadScale));
        assert_eq!(p("18446744073709551616", 0), Err(FixedError::Overflow));
        assert_eq!(p("99999999999999999999", 0), Err(FixedError::Overflow));
        assert_eq!(p("0000000000000000000000001", 0), Ok(1));
        assert_eq!(p("1.000000000000000000000", 18), Ok(1_000_000_000_000_000_000));
    }

    #[test]
    fn formats() {
        assert_eq!(format_fixed(14125, 2).unwrap(), "141.25");
        assert_eq!(format_fixed(-5, 3).unwrap(), "-0.005");
        assert_eq!(format_fixed(86700, 0).unwrap(), "86700");
        assert_eq!(format_fixed(i64::MIN, 0).unwrap(), "-9223372036854775808");
        assert_eq!(format_fixed(i64::MIN, 18).unwrap(), "-9.223372036854775808");
    }

    #[test]
    fn decimal_rounding() {
        let d = Decimal::parse(b"4299.165").unwrap();
        assert_eq!(d.to_units_rounded(2), Ok(429917));
        assert_eq!(Decimal::parse(b"-0.125").unwrap().to_units_rounded(2), Ok(-13));
        assert_eq!(Decimal::parse(b"12").unwrap().to_units_rounded(3), Ok(12000));
        assert!(Decimal::parse(b"1e3").is_err());
        assert!(Decimal::parse(b"").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(v in any::<i64>(), d in 0u32..=18) {
            let s = format_fixed(v, d).unwrap();
            prop_assert_eq!(parse_fixed(s.as_bytes(), d), Ok(v));
            let padded = format!("{s}{}", if d == 0 { ".000" } else { "000" });
            prop_assert_eq!(parse_fixed(padded.as_bytes(), d), Ok(v));
        }
    }
}

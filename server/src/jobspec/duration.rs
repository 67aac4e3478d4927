//! Go's `time.ParseDuration`, because Nomad job specs (and Nomad's `?wait=`
//! query parameter) write durations the way Go prints them: `"30s"`,
//! `"1h30m"`, `"1.5h"`, `"250ms"`.
//!
//! Written by hand rather than pulled from a crate: the grammar is tiny, and
//! the edge cases users hit (a bare `"0"`, a missing unit, `µs`, overflow)
//! must behave exactly like Nomad's, which is easier to promise when the
//! table of tests below is the whole story.

use drover_api::Nanos;

/// Why a duration string was rejected. The message describes the problem
/// only; callers add the offending string and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("missing unit (use one of ns, us, µs, ms, s, m, h)")]
    MissingUnit,
    #[error("unknown unit {0:?} (use one of ns, us, µs, ms, s, m, h)")]
    UnknownUnit(String),
    #[error("expected a number before the unit")]
    MissingNumber,
    #[error("duration does not fit in 64-bit nanoseconds")]
    Overflow,
}

/// Nanoseconds per unit. A unit is read as the whole run of characters up
/// to the next digit or dot, as Go does, so `"1hh"` is an unknown unit.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 MICRO SIGN
    ("μs", 1_000), // U+03BC GREEK SMALL LETTER MU
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// 2^63: the magnitude of `i64::MIN`, the largest sum Go lets through.
const LIMIT: u64 = 1 << 63;

/// Parses a Go duration string into nanoseconds.
///
/// Grammar, as in Go: an optional sign, then one or more `number unit`
/// pairs (`"2h45m10.5s"`); a number may have a fraction (`"1.5h"`, `".5s"`).
/// A lone `"0"` needs no unit. The arithmetic follows Go's
/// `time.ParseDuration` step for step, including its use of a float for the
/// fraction, so results agree to the nanosecond.
pub fn parse_go_duration(input: &str) -> Result<Nanos, DurationError> {
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        Some(_) => (false, input),
        None => return Err(DurationError::Empty),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(DurationError::MissingNumber);
    }

    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (whole, after_whole) = split_digits(rest);
        let (fraction, after_number) = match after_whole.strip_prefix('.') {
            Some(after_dot) => split_digits(after_dot),
            None => ("", after_whole),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(DurationError::MissingNumber);
        }

        let unit_len = after_number
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit);
        }
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| DurationError::UnknownUnit(unit.to_owned()))?;

        total = total
            .checked_add(component(whole, fraction, scale)?)
            .filter(|t| *t <= LIMIT)
            .ok_or(DurationError::Overflow)?;
        rest = after_unit;
    }

    if negative {
        // `total as i64` wraps 2^63 to i64::MIN, whose negation is itself:
        // exactly the one value Go accepts only with a minus sign.
        Ok((total as i64).wrapping_neg())
    } else {
        i64::try_from(total).map_err(|_| DurationError::Overflow)
    }
}

/// One `number unit` pair in nanoseconds, at most 2^63.
fn component(whole: &str, fraction: &str, scale: u64) -> Result<u64, DurationError> {
    let mut value: u64 = 0;
    for digit in whole.bytes() {
        if value > LIMIT / 10 {
            return Err(DurationError::Overflow);
        }
        value = value * 10 + u64::from(digit - b'0');
        if value > LIMIT {
            return Err(DurationError::Overflow);
        }
    }
    if value > LIMIT / scale {
        return Err(DurationError::Overflow);
    }
    value *= scale;

    // Go reads fraction digits until one more would overflow, then ignores
    // the rest; they are far below a nanosecond by then.
    let mut numerator: u64 = 0;
    let mut denominator: f64 = 1.0;
    for digit in fraction.bytes() {
        if numerator > (LIMIT - 1) / 10 {
            break;
        }
        let next = numerator * 10 + u64::from(digit - b'0');
        if next > LIMIT {
            break;
        }
        numerator = next;
        denominator *= 10.0;
    }
    if numerator > 0 {
        // Truncating float-to-int cast, as Go's uint64(float64) conversion.
        value = value
            .checked_add((numerator as f64 * (scale as f64 / denominator)) as u64)
            .filter(|v| *v <= LIMIT)
            .ok_or(DurationError::Overflow)?;
    }
    Ok(value)
}

/// Splits off the leading ASCII digits. Splitting at an ASCII position is
/// always a char boundary, so the slices are valid for any UTF-8 input.
fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i64 = 1;
    const US: i64 = 1_000;
    const MS: i64 = 1_000_000;
    const S: i64 = 1_000_000_000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;

    #[track_caller]
    fn check(input: &str, want: Result<i64, DurationError>) {
        assert_eq!(parse_go_duration(input), want, "input {input:?}");
    }

    #[test]
    fn durations_go_accepts() {
        check("0", Ok(0));
        check("-0", Ok(0));
        check("+0", Ok(0));
        check("0s", Ok(0));
        check("5s", Ok(5 * S));
        check("30s", Ok(30 * S));
        check("1478s", Ok(1478 * S));
        check("-5s", Ok(-5 * S));
        check("+5s", Ok(5 * S));
        check("-0s", Ok(0));
        check("1h30m", Ok(H + 30 * M));
        check("2h45m10s", Ok(2 * H + 45 * M + 10 * S));
        check("250ms", Ok(250 * MS));
        check("1.5h", Ok(H + 30 * M));
        check("5.0s", Ok(5 * S));
        check("5.6s", Ok(5 * S + 600 * MS));
        check("5.s", Ok(5 * S));
        check(".5s", Ok(500 * MS));
        check("1.004s", Ok(S + 4 * MS));
        check("1.0040s", Ok(S + 4 * MS));
        check("100.00100s", Ok(100 * S + MS));
        check("10ns", Ok(10 * NS));
        check("11us", Ok(11 * US));
        check("12µs", Ok(12 * US));
        check("12μs", Ok(12 * US));
        check("13ms", Ok(13 * MS));
        check("14s", Ok(14 * S));
        check("15m", Ok(15 * M));
        check("16h", Ok(16 * H));
        check("3h30m", Ok(3 * H + 30 * M));
        check("10.5s4m", Ok(4 * M + 10 * S + 500 * MS));
        check("-2m3.4s", Ok(-(2 * M + 3 * S + 400 * MS)));
        check(
            "1h2m3s4ms5us6ns",
            Ok(H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS),
        );
        check("39h9m14.425s", Ok(39 * H + 9 * M + 14 * S + 425 * MS));
        check("52763797000ns", Ok(52763797000 * NS));
        check("0.3333333333333333333h", Ok(20 * M));
        check("9007199254740993ns", Ok(9007199254740993));
        check("9223372036854775807ns", Ok(i64::MAX));
        check("9223372036854775.807us", Ok(i64::MAX));
        check("-9223372036854775808ns", Ok(i64::MIN));
        check("0.100000000000000000000h", Ok(6 * M));
    }

    #[test]
    fn durations_go_rejects() {
        check("", Err(DurationError::Empty));
        check("3", Err(DurationError::MissingUnit));
        check("-", Err(DurationError::MissingNumber));
        check("s", Err(DurationError::MissingNumber));
        check(".", Err(DurationError::MissingNumber));
        check("-.", Err(DurationError::MissingNumber));
        check(".s", Err(DurationError::MissingNumber));
        check("+.s", Err(DurationError::MissingNumber));
        check("1d", Err(DurationError::UnknownUnit("d".into())));
        check("3x", Err(DurationError::UnknownUnit("x".into())));
        check("1 s", Err(DurationError::UnknownUnit(" s".into())));
        check("1hh", Err(DurationError::UnknownUnit("hh".into())));
        check("5s3", Err(DurationError::MissingUnit));
        check("9223372036854775808ns", Err(DurationError::Overflow));
        check("9223372036854775.808us", Err(DurationError::Overflow));
        check("-9223372036854775809ns", Err(DurationError::Overflow));
        check("9999999999999999999999h", Err(DurationError::Overflow));
        check("3000000h", Err(DurationError::Overflow));
        check("1e3s", Err(DurationError::UnknownUnit("e".into())));
    }
}

//! Times on the wire.
//!
//! Nomad is not uniform: most times are integer unix nanoseconds
//! (`SubmitTime`, `CreateTime`, `TaskEvent.Time`), but fields that are Go
//! `time.Time` values (`TaskState.StartedAt`, `NodeEvent.Timestamp`,
//! `DriverInfo.UpdateTime`) are RFC 3339 strings, and an unset one is Go's zero
//! time `0001-01-01T00:00:00Z`. Drover keeps every time as unix nanoseconds in
//! memory and converts only at the serde boundary, so `state` never parses
//! strings and equality stays exact.

use serde::{Deserialize, Deserializer, Serializer};

/// Go's zero `time.Time`, which Nomad emits for "never".
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Unix nanoseconds → RFC 3339 in UTC with nanosecond precision trimmed of
/// trailing zeros (Go's `time.RFC3339Nano`).
pub fn format_rfc3339(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parse an RFC 3339 timestamp (any offset, optional fraction) to unix
/// nanoseconds. Returns `None` for text that is not RFC 3339 or out of range.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let kept = &frac[..digits.min(9)];
        nanos = kept.parse::<i64>().ok()? * 10i64.pow(9 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || ob[3] != b':' || !matches!(ob[0], b'+' | b'-') {
                return None;
            }
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if ob[0] == b'-' { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

// Howard Hinnant's civil-calendar algorithms (public domain arithmetic).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Serde adapter for `Option<i64>` unix nanoseconds carried as an RFC 3339
/// string; `None` is Go's zero time. Accepts `null` and the zero time as `None`.
pub mod rfc3339_opt {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.serialize_str(&format_rfc3339(*n)),
            None => s.serialize_str(GO_ZERO_TIME),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        match raw.as_deref() {
            None | Some("") => Ok(None),
            Some(t) if t.starts_with("0001-01-01T00:00:00") => Ok(None),
            Some(t) => parse_rfc3339(t)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid RFC 3339 time {t:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_matches_go_formatting() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456789Z"),
            (1_700_000_000_500_000_000, "2023-11-14T22:13:20.5Z"),
            (951_782_400_000_000_000, "2000-02-29T00:00:00Z"),
            (-1_000_000_000, "1969-12-31T23:59:59Z"),
        ];
        for (nanos, text) in cases {
            assert_eq!(format_rfc3339(nanos), text);
            assert_eq!(parse_rfc3339(text), Some(nanos), "{text}");
        }
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.5+01:00"),
            Some(1_700_000_000_500_000_000)
        );
    }

    #[test]
    fn rfc3339_rejects_garbage_without_panicking() {
        for bad in [
            "",
            "2023",
            "2023-13-01T00:00:00Z",
            "2023-01-01T00:00:00",
            "2023-01-01T00:00:00.Z",
            "2023-01-01T00:00:00+1:00",
            "ÿÿÿÿ-ÿÿ-ÿÿTÿÿ:ÿÿ:ÿÿZ",
            "9999999999-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}

//! Durations printed the way Go prints a `time.Duration`.
//!
//! Validation messages quote durations (`Interval can not be less than 5s
//! (got 1s)`), and users compare them with what Nomad prints for the same
//! job, so Drover uses Go's format (`30m0s`, not `1800s`).

/// Formats integer nanoseconds like Go's `time.Duration.String`: `0s`,
/// `250ms`, `1.5s`, `30m0s`, `24h0m0s`, `-5s`.
pub fn go_duration(nanos: i64) -> String {
    const SECOND: u64 = 1_000_000_000;
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    // unsigned_abs: i64::MIN has no positive i64 counterpart.
    let n = nanos.unsigned_abs();
    if n < SECOND {
        let (divisor, unit) = match n {
            0..1_000 => (1, "ns"),
            1_000..1_000_000 => (1_000, "µs"),
            _ => (1_000_000, "ms"),
        };
        return format!("{sign}{}{unit}", decimal(n, divisor));
    }
    let hours = n / (3600 * SECOND);
    let minutes = n % (3600 * SECOND) / (60 * SECOND);
    let seconds = decimal(n % (60 * SECOND), SECOND);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}

/// `value / divisor` with the fraction written out and trailing zeros
/// dropped (`1500, 1000` is `1.5`). `divisor` is a power of ten.
fn decimal(value: u64, divisor: u64) -> String {
    let whole = value / divisor;
    let frac = value % divisor;
    if frac == 0 {
        return whole.to_string();
    }
    let width = divisor.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

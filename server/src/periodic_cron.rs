//! Cron expressions as Nomad's periodic jobs read them: the syntax of
//! hashicorp/cronexpr (its README and `cronexpr_parse.go`), which Nomad's
//! `PeriodicConfig.Next` uses.
//!
//! - 7 fields: second, minute, hour, day of month, month, day of week, year;
//! - 6 fields: the same without the second (taken as `0`): the sixth field
//!   is the year, not a leading second;
//! - 5 fields: minute to day of week (second `0`, any year);
//! - `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`,
//!   `@hourly`.
//!
//! Each field takes `*` (and `?` for the two day fields), numbers, `a-b`
//! ranges, `/step` on either, and comma lists; months and days of week take
//! English names (`JAN`, `mon`); day of week is 0-7 with both 0 and 7 for
//! Sunday. The day fields also take cronexpr's special items, alone or in
//! a list: in day of month `L` (the month's last day), `LW` (its last
//! weekday) and `15W` (the weekday nearest the 15th, never in another
//! month); in day of week `5L` (the month's last Friday) and `5#3` (its
//! third Friday). When both day fields are restricted, a day matching
//! either is taken, as in cron (cronexpr_next.go
//! `calculateActualDaysOfMonth`).
//!
//! Written here rather than taken from crates.io: the crates found read 6
//! fields as seconds-first, which would launch jobs at other times than
//! Nomad for the same spec. [`CronExpr::next_after`] works on the wall
//! clock of the job's time zone (chrono-tz), so `0 0 2 * * * *` in
//! `America/New_York` launches at 02:00 local time whatever the offset; a
//! wall time skipped by a daylight-saving change is skipped, and one that
//! happens twice launches once, at its first occurrence.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;

const YEAR_MIN: i32 = 1970;
const YEAR_MAX: i32 = 2099;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    seconds: Vec<bool>,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    /// Index 1-31.
    days_of_month: Vec<bool>,
    last_day_of_month: bool,
    /// `LW`.
    last_workday_of_month: bool,
    /// `nW`, index 1-31.
    workdays_of_month: Vec<bool>,
    /// Index 1-12.
    months: Vec<bool>,
    /// Index 0-6, Sunday 0.
    days_of_week: Vec<bool>,
    /// `nL`: the month's last such day, index 0-6.
    last_days_of_week: Vec<bool>,
    /// `n#k`: the month's k-th such day, index `7 * (k - 1) + n`.
    nth_days_of_week: Vec<bool>,
    /// Index `year - 1970`.
    years: Vec<bool>,
    dom_restricted: bool,
    dow_restricted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: FieldSpec = FieldSpec {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DOM: FieldSpec = FieldSpec {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: FieldSpec = FieldSpec {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};
const YEAR: FieldSpec = FieldSpec {
    name: "year",
    min: YEAR_MIN as u32,
    max: YEAR_MAX as u32,
    names: &[],
};

impl CronExpr {
    pub fn parse(spec: &str) -> Result<CronExpr, CronError> {
        let spec = spec.trim();
        let expanded = match spec.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 0 1 1 * *",
            "@monthly" => "0 0 0 1 * * *",
            "@weekly" => "0 0 0 * * 0 *",
            "@daily" | "@midnight" => "0 0 0 * * * *",
            "@hourly" => "0 0 * * * * *",
            s if s.starts_with('@') => {
                return Err(CronError(format!("unknown cron macro {spec:?}")));
            }
            _ => spec,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (sec, rest, year) = match fields.len() {
            5 => ("0", &fields[..], "*"),
            6 => ("0", &fields[..5], fields[5]),
            7 => (fields[0], &fields[1..6], fields[6]),
            n => {
                return Err(CronError(format!(
                    "expected 5 to 7 fields, found {n}: {spec:?}"
                )))
            }
        };
        let (min, hour, dom, month, dow) = (rest[0], rest[1], rest[2], rest[3], rest[4]);
        let any = |f: &str| f == "*" || f == "?";
        let dom_special = dom_specials(dom)?;
        let dow_special = dow_specials(dow)?;
        let days_of_month = match dom_special.rest.is_empty() {
            true => vec![false; 32],
            false => parse_field(&dom_special.rest.join(","), &DOM, true)?,
        };
        let mut days_of_week = match dow_special.rest.is_empty() {
            true => vec![false; 8],
            false => parse_field(&dow_special.rest.join(","), &DOW, true)?,
        };
        // 7 is Sunday too.
        if days_of_week[7] {
            days_of_week[0] = true;
        }
        days_of_week.truncate(7);
        let years = parse_field(year, &YEAR, false)?;
        Ok(CronExpr {
            seconds: parse_field(sec, &SECOND, false)?,
            minutes: parse_field(min, &MINUTE, false)?,
            hours: parse_field(hour, &HOUR, false)?,
            days_of_month,
            last_day_of_month: dom_special.last,
            last_workday_of_month: dom_special.last_workday,
            workdays_of_month: dom_special.workdays,
            months: parse_field(month, &MONTH, false)?,
            days_of_week,
            last_days_of_week: dow_special.last,
            nth_days_of_week: dow_special.nth,
            years: years[YEAR_MIN as usize..].to_vec(),
            dom_restricted: !any(dom),
            dow_restricted: !any(dow),
        })
    }

    /// The first time strictly after `after` (whole seconds) that matches,
    /// read on the wall clock of `after`'s zone; `None` past 2099.
    pub fn next_after(&self, after: DateTime<Tz>) -> Option<DateTime<Tz>> {
        let tz = after.timezone();
        let mut t = after.naive_local().with_nanosecond(0)? + chrono::Duration::seconds(1);
        // Each step moves to the next candidate of one field; a few
        // thousand steps cover any expression that matches at all (a
        // daylight-saving gap costs one step per second of the gap).
        for _ in 0..200_000 {
            let year = t.year();
            if year > YEAR_MAX {
                return None;
            }
            if year < YEAR_MIN {
                t = midnight(NaiveDate::from_ymd_opt(YEAR_MIN, 1, 1)?);
                continue;
            }
            if !self.years[(year - YEAR_MIN) as usize] {
                t = midnight(NaiveDate::from_ymd_opt(year + 1, 1, 1)?);
                continue;
            }
            if !self.months[t.month() as usize] {
                t = midnight(first_of_next_month(t.date())?);
                continue;
            }
            if !self.day_matches(t.date()) {
                t = midnight(t.date().succ_opt()?);
                continue;
            }
            if !self.hours[t.hour() as usize] {
                t = t.with_minute(0)?.with_second(0)? + chrono::Duration::hours(1);
                continue;
            }
            if !self.minutes[t.minute() as usize] {
                t = t.with_second(0)? + chrono::Duration::minutes(1);
                continue;
            }
            if !self.seconds[t.second() as usize] {
                t += chrono::Duration::seconds(1);
                continue;
            }
            let found = match tz.from_local_datetime(&t) {
                chrono::LocalResult::Single(x) => Some(x),
                chrono::LocalResult::Ambiguous(a, b) => [a, b].into_iter().find(|x| *x > after),
                chrono::LocalResult::None => None,
            };
            match found {
                Some(x) if x > after => return Some(x),
                _ => t += chrono::Duration::seconds(1),
            }
        }
        None
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        let (day, last) = (d.day(), last_day(d));
        let dom = self.days_of_month[day as usize]
            || (self.last_day_of_month && day == last)
            || (self.last_workday_of_month && day == workday(d, last, last))
            || (1..=last).any(|n| self.workdays_of_month[n as usize] && day == workday(d, n, last));
        let wd = d.weekday().num_days_from_sunday() as usize;
        let dow = self.days_of_week[wd]
            || (self.last_days_of_week[wd] && day + 7 > last)
            || self.nth_days_of_week[7 * ((day as usize - 1) / 7) + wd];
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }
}

/// The day of month of the last day of `d`'s month.
fn last_day(d: NaiveDate) -> u32 {
    first_of_next_month(d)
        .and_then(|n| n.pred_opt())
        .map_or(31, |l| l.day())
}

/// cronexpr's `workdayOfMonth`: the weekday nearest day `n` of `d`'s
/// month (`last` days long), staying inside the month: a Saturday moves
/// to the Friday before (the 3rd when it is the 1st), a Sunday to the
/// Monday after (the Friday before when it is the last day).
fn workday(d: NaiveDate, n: u32, last: u32) -> u32 {
    let Some(target) = d.with_day(n) else {
        return 0;
    };
    match target.weekday() {
        chrono::Weekday::Sat if n > 1 => n - 1,
        chrono::Weekday::Sat => n + 2,
        chrono::Weekday::Sun if n < last => n + 1,
        chrono::Weekday::Sun => n - 2,
        _ => n,
    }
}

/// A day-of-month field's special items and the plain rest.
struct DomSpecials<'a> {
    last: bool,
    last_workday: bool,
    workdays: Vec<bool>,
    rest: Vec<&'a str>,
}

fn dom_specials(field: &str) -> Result<DomSpecials<'_>, CronError> {
    let mut out = DomSpecials {
        last: false,
        last_workday: false,
        workdays: vec![false; 32],
        rest: Vec::new(),
    };
    for item in field.split(',') {
        let lower = item.to_ascii_lowercase();
        if lower == "l" {
            out.last = true;
        } else if lower == "lw" {
            out.last_workday = true;
        } else if let Some(n) = lower.strip_suffix('w') {
            let n = value(n, &DOM)
                .map_err(|why| CronError(format!("invalid day of month field {field:?}: {why}")))?;
            out.workdays[n as usize] = true;
        } else {
            out.rest.push(item);
        }
    }
    Ok(out)
}

/// A day-of-week field's special items and the plain rest.
struct DowSpecials<'a> {
    last: Vec<bool>,
    nth: Vec<bool>,
    rest: Vec<&'a str>,
}

fn dow_specials(field: &str) -> Result<DowSpecials<'_>, CronError> {
    let mut out = DowSpecials {
        last: vec![false; 7],
        nth: vec![false; 35],
        rest: Vec::new(),
    };
    let err = |why: String| CronError(format!("invalid day of week field {field:?}: {why}"));
    for item in field.split(',') {
        let lower = item.to_ascii_lowercase();
        if let Some((d, k)) = lower.split_once('#') {
            let d = value(d, &DOW).map_err(err)? % 7;
            let k: u32 = match k.parse() {
                Ok(k @ 1..=5) => k,
                _ => {
                    return Err(err(format!(
                        "{k:?} after # is not a week of the month (1-5)"
                    )))
                }
            };
            out.nth[(7 * (k - 1) + d) as usize] = true;
        } else if let Some(d) = lower.strip_suffix('l').filter(|d| !d.is_empty()) {
            out.last[(value(d, &DOW).map_err(err)? % 7) as usize] = true;
        } else {
            out.rest.push(item);
        }
    }
    Ok(out)
}

fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_time(NaiveTime::MIN)
}

fn first_of_next_month(d: NaiveDate) -> Option<NaiveDate> {
    if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    }
}

/// One field as a table indexed by value (`max + 1` entries).
fn parse_field(field: &str, spec: &FieldSpec, day: bool) -> Result<Vec<bool>, CronError> {
    let mut set = vec![false; spec.max as usize + 1];
    let err = |why: String| CronError(format!("invalid {} field {field:?}: {why}", spec.name));
    if field.is_empty() {
        return Err(err("empty".into()));
    }
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| err(format!("step {s:?} is not a number")))?;
                if step == 0 {
                    return Err(err("step must be at least 1".into()));
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" || (day && range == "?") {
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, spec).map_err(err)?, value(b, spec).map_err(err)?)
        } else {
            let v = value(range, spec).map_err(err)?;
            // `5/15` is `5-max/15`, as in cronexpr.
            (v, if item.contains('/') { spec.max } else { v })
        };
        if lo > hi {
            return Err(err(format!("range {lo}-{hi} is backwards")));
        }
        let mut v = lo;
        while v <= hi {
            set[v as usize] = true;
            // A step past the range ends it (and may not overflow).
            let Some(next) = v.checked_add(step) else {
                break;
            };
            v = next;
        }
    }
    Ok(set)
}

fn value(s: &str, spec: &FieldSpec) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = spec.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + u32::from(spec.name == "month"));
    }
    if lower.contains(['l', 'w', '#']) {
        return Err(format!("{s:?} (L, W and # are not supported here)"));
    }
    let v: u32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number or a name"))?;
    if !(spec.min..=spec.max).contains(&v) {
        return Err(format!("{v} is outside {}-{}", spec.min, spec.max));
    }
    Ok(v)
}

/// The time zone named by a periodic block (`""` is UTC, as in Nomad).
pub fn time_zone(name: &str) -> Result<Tz, CronError> {
    if name.is_empty() {
        return Ok(Tz::UTC);
    }
    name.parse::<Tz>()
        .map_err(|_| CronError(format!("unknown time zone {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next `n` launches after `from` (RFC 3339, UTC) in zone `tz`.
    #[track_caller]
    fn check(spec: &str, tz: &str, from: &str, want: &[&str]) {
        let expr = CronExpr::parse(spec).unwrap();
        let tz = time_zone(tz).unwrap();
        let mut t = DateTime::parse_from_rfc3339(from)
            .unwrap()
            .with_timezone(&tz);
        for w in want {
            t = expr.next_after(t).unwrap();
            assert_eq!(t.to_rfc3339(), *w, "{spec}");
        }
    }

    #[track_caller]
    fn bad(spec: &str, part: &str) {
        let e = CronExpr::parse(spec).unwrap_err().to_string();
        assert!(e.contains(part), "{spec}: {e}");
    }

    #[test]
    fn five_fields_are_minutes_first() {
        check(
            "*/15 * * * *",
            "UTC",
            "2026-01-01T00:07:30Z",
            &["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00"],
        );
        check(
            "30 2 * * mon-fri",
            "UTC",
            "2026-01-02T03:00:00Z", // a Friday
            &["2026-01-05T02:30:00+00:00", "2026-01-06T02:30:00+00:00"],
        );
    }

    #[test]
    fn seven_fields_have_seconds_and_year() {
        check(
            "*/2 * * * * * *",
            "UTC",
            "2026-01-01T00:00:01Z",
            &["2026-01-01T00:00:02+00:00", "2026-01-01T00:00:04+00:00"],
        );
        check(
            "5 0 0 1 1 * 2030",
            "UTC",
            "2026-06-01T00:00:00Z",
            &["2030-01-01T00:00:05+00:00"],
        );
        assert_eq!(
            CronExpr::parse("* * * * * * 2020")
                .unwrap()
                .next_after(Utc("2026-01-01T00:00:00Z")),
            None
        );
    }

    #[allow(non_snake_case)]
    fn Utc(s: &str) -> DateTime<Tz> {
        DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&Tz::UTC)
    }

    #[test]
    fn six_fields_end_with_the_year() {
        // cronexpr prepends a 0 second to six fields: the last is the year.
        check(
            "0 12 * * * 2027",
            "UTC",
            "2026-03-01T00:00:00Z",
            &["2027-01-01T12:00:00+00:00"],
        );
    }

    #[test]
    fn macros_lists_ranges_names() {
        check(
            "@hourly",
            "UTC",
            "2026-01-01T10:00:00Z",
            &["2026-01-01T11:00:00+00:00"],
        );
        check(
            "@weekly",
            "UTC",
            "2026-01-01T00:00:00Z",
            &["2026-01-04T00:00:00+00:00"],
        );
        check(
            "0 0 1,15 FEB *",
            "UTC",
            "2026-01-20T00:00:00Z",
            &["2026-02-01T00:00:00+00:00", "2026-02-15T00:00:00+00:00"],
        );
        check(
            "0 0 L * *",
            "UTC",
            "2028-02-03T00:00:00Z",
            &["2028-02-29T00:00:00+00:00", "2028-03-31T00:00:00+00:00"],
        );
        // Sunday is 0 and 7; both day fields restricted: either matches.
        check(
            "0 0 13 * 7",
            "UTC",
            "2026-02-01T01:00:00Z", // a Sunday
            &["2026-02-08T00:00:00+00:00", "2026-02-13T00:00:00+00:00"],
        );
        check(
            "10/20 * * * *",
            "UTC",
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-01T00:10:00+00:00",
                "2026-01-01T00:30:00+00:00",
                "2026-01-01T00:50:00+00:00",
            ],
        );
    }

    /// cronexpr's special day items (its README's table and
    /// cronexpr_next.go `calculateActualDaysOfMonth`).
    #[test]
    fn last_weekday_and_nth_days() {
        // The weekday nearest the 15th: 2026-08-15 is a Saturday, so the
        // Friday before; 2026-11-15 a Sunday, so the Monday after.
        check(
            "0 0 15W * *",
            "UTC",
            "2026-07-20T00:00:00Z",
            &["2026-08-14T00:00:00+00:00", "2026-09-15T00:00:00+00:00"],
        );
        check(
            "0 0 15W * *",
            "UTC",
            "2026-11-01T00:00:00Z",
            &["2026-11-16T00:00:00+00:00"],
        );
        // 1W on a Saturday is Monday the 3rd; the month is never left.
        check(
            "0 0 1W * *",
            "UTC",
            "2026-07-31T00:00:00Z",
            &["2026-08-03T00:00:00+00:00"],
        );
        // The last weekday: 2026-05-31 is a Sunday, so Friday the 29th.
        check(
            "0 0 LW * *",
            "UTC",
            "2026-05-01T00:00:00Z",
            &["2026-05-29T00:00:00+00:00"],
        );
        // The last Friday, and the third Friday, in both spellings.
        check(
            "0 0 * * 5L",
            "UTC",
            "2026-01-01T00:00:00Z",
            &["2026-01-30T00:00:00+00:00", "2026-02-27T00:00:00+00:00"],
        );
        check(
            "0 0 * * FRI#3",
            "UTC",
            "2026-01-01T00:00:00Z",
            &["2026-01-16T00:00:00+00:00", "2026-02-20T00:00:00+00:00"],
        );
        // Sunday as 7, the fifth one only in months that have it.
        check(
            "0 0 * * 7#5",
            "UTC",
            "2026-01-01T00:00:00Z",
            &["2026-03-29T00:00:00+00:00"],
        );
        // Special items mix with plain ones in a list.
        check(
            "0 0 1,L * *",
            "UTC",
            "2026-02-02T00:00:00Z",
            &["2026-02-28T00:00:00+00:00", "2026-03-01T00:00:00+00:00"],
        );
    }

    #[test]
    fn time_zone_is_the_wall_clock() {
        check(
            "0 30 2 * * * *",
            "Europe/Paris",
            "2026-01-10T00:00:00Z",
            &["2026-01-10T02:30:00+01:00"],
        );
        // 02:30 does not happen on 2026-03-29 in Paris: skipped.
        check(
            "0 30 2 * * * *",
            "Europe/Paris",
            "2026-03-28T12:00:00Z",
            &["2026-03-30T02:30:00+02:00"],
        );
        // 02:30 happens twice on 2026-10-25: launched once.
        check(
            "0 30 2 * * * *",
            "Europe/Paris",
            "2026-10-24T12:00:00Z",
            &["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        );
    }

    #[test]
    fn bad_specs_say_which_field() {
        bad("* * * *", "expected 5 to 7 fields");
        bad("61 * * * *", "invalid minute field");
        bad("* 24 * * *", "invalid hour field");
        bad("* * 0 * *", "invalid day of month field");
        bad("* * * foo *", "invalid month field");
        bad("* * * * 8", "invalid day of week field");
        bad("*/0 * * * *", "step must be at least 1");
        bad("*/99999999999 * * * *", "is not a number");
        // A step as large as a u32 takes the first value only.
        check(
            "0 0 1 1 * */4294967295",
            "UTC",
            "1969-06-01T00:00:00Z",
            &["1970-01-01T00:00:00+00:00"],
        );
        bad("5-2 * * * *", "backwards");
        bad("* * * * 5#6", "not a week of the month");
        bad("* * 32W * *", "invalid day of month field");
        bad("* * * * 9L", "invalid day of week field");
        bad("* * 1-L * *", "invalid day of month field");
        bad("@reboot", "unknown cron macro");
        bad("* * * * * * 1960", "invalid year field");
        assert!(time_zone("Mars/Olympus").is_err());
        assert!(time_zone("America/New_York").is_ok());
    }
}

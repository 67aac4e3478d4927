//! How every CLI command prints: Nomad's look, in one place.
//!
//! Nomad's commands build `|`-separated lines and hand them to
//! `columnize` (`command/helpers.go`: `formatList`, `formatKV`); they print
//! `-json` and `-t` through `command/data_format.go`, shorten IDs to eight
//! characters unless `-verbose`, and mark section titles `[bold]`. This
//! module is that, for Drover:
//!
//! - [`list`]: a table from `|`-separated lines, header first; columns two
//!   spaces apart, the last one unpadded, empty cells shown as `<none>`.
//! - [`kv`]: a key/value block from `Key|Value` lines: `ID   = abc`.
//! - [`Format`]: the `-json`, `-t` and `-verbose` flags ([`FORMAT_FLAGS`]
//!   to add them to a command's flag spec, [`Format::from_flags`] to read
//!   them). [`Format::data`] returns `Some(text)` when the user asked for
//!   JSON or a template (print it instead of the tables), `None` otherwise.
//! - [`Format::id`]: an ID as the user asked for it (short or full).
//! - [`Style`]: colour decided once per process (stdout a terminal and
//!   `NO_COLOR` unset, and no `-no-color`); [`Style::title`] makes a bold
//!   section title.
//! - Times: [`format_time`] (Nomad's ISO 8601 with the local offset),
//!   [`pretty_time_diff`] (`3m12s ago`), [`format_duration`] (Go's
//!   `time.Duration.String()`), all from Unix nanoseconds as the API sends.
//!
//! A command then reads:
//! ```ignore
//! let fmt = Format::from_flags(&parsed)?;
//! if let Some(text) = fmt.data(&eval)? { return Ok(text); }
//! let head = kv(&[format!("ID|{}", fmt.id(eval_id)), format!("Status|{status}")]);
//! let table = list(&["ID|Status".into(), format!("{}|{}", fmt.id(a), s)]);
//! Ok(format!("{head}\n\n{}\n{table}", style.title("Allocations")))
//! ```

use anyhow::bail;
use serde_json::Value;

use super::flags::{Kind, Parsed};
use super::template;

/// The flags behind [`Format`]: `-json`, `-t <template>`, `-verbose`.
pub const FORMAT_FLAGS: &[(&str, Kind)] = &[
    ("json", Kind::Bool),
    ("t", Kind::Value),
    ("verbose", Kind::Bool),
];

/// What the user asked the output to look like.
#[derive(Debug, Clone, Default)]
pub struct Format {
    pub json: bool,
    pub template: Option<String>,
    pub verbose: bool,
}

impl Format {
    /// Reads `-json`, `-t` and `-verbose`; both `-json` and `-t` is an
    /// error, in Nomad's words.
    pub fn from_flags(p: &Parsed) -> anyhow::Result<Format> {
        let template = p.given("t").then(|| p.str("t", ""));
        let json = p.bool("json", false);
        if json && template.is_some() {
            bail!("Both json and template formatting are not allowed");
        }
        Ok(Format {
            json,
            template,
            verbose: p.bool("verbose", false),
        })
    }

    /// `value` as JSON (four-space indent, as Nomad's codec writes it) or
    /// through the template; `None` when neither was asked for.
    pub fn data(&self, value: &Value) -> anyhow::Result<Option<String>> {
        if self.json {
            return Ok(Some(pretty_json(value)));
        }
        match &self.template {
            Some(t) if t.is_empty() => {
                bail!("template needs to be specified in golang's text/template format.")
            }
            Some(t) => match template::render(t, value) {
                Ok(out) => Ok(Some(out)),
                Err(e) => bail!("Error formatting the data: {e}"),
            },
            None => Ok(None),
        }
    }

    /// `id` in full with `-verbose`, else its first eight characters.
    pub fn id<'a>(&self, id: &'a str) -> &'a str {
        if self.verbose {
            id
        } else {
            short_id(id)
        }
    }
}

/// Prints `text` and a newline on stdout. A reader that went away
/// (`drover ... | head`) is not an error: the rest is dropped quietly.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|_| out.flush());
}

/// The first eight characters of an ID (Nomad's short ID).
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// JSON indented by four spaces, as Nomad's `-json` prints.
pub fn pretty_json(value: &Value) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // Serialising a Value into a Vec cannot fail: no I/O, string keys.
    let _ = value.serialize(&mut ser);
    String::from_utf8_lossy(&buf).into_owned()
}

/// A table from `|`-separated lines, the header first (Nomad's
/// `formatList`): each cell trimmed, empty cells `<none>`, columns padded
/// to the widest cell plus two spaces, the last column unpadded.
pub fn list<S: AsRef<str>>(lines: &[S]) -> String {
    columnize(lines, "  ", "<none>")
}

/// A table like [`list`] whose empty cells stay empty (Nomad's
/// `formatListWithSpaces`), for continuation rows.
pub fn list_with_spaces<S: AsRef<str>>(lines: &[S]) -> String {
    columnize(lines, "  ", "")
}

/// A key/value block from `Key|Value` lines (Nomad's `formatKV`): keys
/// padded to the longest, then ` = `, empty values `<none>`.
pub fn kv<S: AsRef<str>>(lines: &[S]) -> String {
    columnize(lines, " = ", "<none>")
}

/// A table from cells rather than `|` lines, for values that may
/// themselves hold a `|`.
pub fn table(rows: &[Vec<String>]) -> String {
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| {
                    let c = c.trim();
                    if c.is_empty() {
                        "<none>".to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    align(&lines, "  ")
}

/// ryanuber/columnize's `Format` with a `|` delimiter.
fn columnize<S: AsRef<str>>(lines: &[S], glue: &str, empty: &str) -> String {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            l.as_ref()
                .split('|')
                .map(|c| {
                    let c = c.trim();
                    if c.is_empty() {
                        empty.to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    align(&rows, glue)
}

fn align(rows: &[Vec<String>], glue: &str) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = visible_width(cell);
            match widths.get_mut(i) {
                Some(cur) => *cur = (*cur).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for (r, row) in rows.iter().enumerate() {
        if r > 0 {
            out.push('\n');
        }
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(visible_width(cell));
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(glue);
            }
        }
    }
    out
}

/// Characters a cell takes on screen: ANSI colour codes take none.
fn visible_width(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// Whether to colour, decided once from the environment.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Colour only when stdout is a terminal, `NO_COLOR` is unset (any
    /// value disables it, per no-color.org) and `-no-color` was not given.
    pub fn detect(no_color_flag: bool) -> Style {
        let color = !no_color_flag
            && std::env::var_os("NO_COLOR").is_none()
            && super::term::is_tty(libc::STDOUT_FILENO);
        Style { color }
    }

    /// A section title, bold on a terminal (Nomad's `[bold]...[reset]`).
    pub fn title(&self, s: &str) -> String {
        self.paint("1", s)
    }

    /// Red text, for failures.
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }

    /// `s` in the SGR colour `code` (`"32"` green, `"33"` yellow) on a
    /// terminal, plain otherwise.
    pub fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// A Unix-nanosecond time as Nomad prints it (`formatTime`):
/// `2006-01-02T15:04:05Z07:00` in local time; empty before 1970-01-01
/// plus a second (a zero time says "never", not 1970).
pub fn format_time(nanos: i64) -> String {
    if nanos < 1_000_000_000 {
        return String::new();
    }
    let secs = nanos.div_euclid(1_000_000_000);
    let offset = local_offset(secs);
    let Some(tz) = chrono::FixedOffset::east_opt(offset) else {
        return String::new();
    };
    let Some(utc) = chrono::DateTime::from_timestamp(secs, 0) else {
        return String::new();
    };
    let s = utc
        .with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    match s.strip_suffix("+00:00") {
        Some(base) => format!("{base}Z"),
        None => s,
    }
}

/// The local zone's offset from UTC at `secs`, in seconds (the C
/// library's reading of TZ and /etc/localtime).
fn local_offset(secs: i64) -> i32 {
    let t: libc::time_t = secs;
    // SAFETY: localtime_r writes one tm into the zeroed struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        tm.tm_gmtoff as i32
    } else {
        0
    }
}

/// Nanoseconds since the epoch, now.
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// How long ago (or ahead) `then` is from `now`, both Unix nanoseconds,
/// as Nomad's `prettyTimeDiff`: rounded to seconds, the two largest units
/// of y, mo, d, h, m, s (a month is 30 days), `ago` or `from now`; empty
/// for a zero time.
pub fn pretty_time_diff(then: i64, now: i64) -> String {
    if then == 0 {
        return String::new();
    }
    let round = |n: i64| (n + 500_000_000).div_euclid(1_000_000_000);
    let (a, b) = (round(then), round(now));
    let (secs, suffix) = if b >= a {
        (b - a, "ago")
    } else {
        (a - b, "from now")
    };
    let mut u = secs as u64;
    let mut parts: Vec<String> = Vec::new();
    let s = u % 60;
    if s > 0 {
        parts.push(format!("{s}s"));
    }
    u /= 60;
    for (modulus, unit) in [(60, "m"), (24, "h"), (30, "d"), (12, "mo")] {
        if u == 0 {
            break;
        }
        let part = u % modulus;
        if part > 0 {
            parts.push(format!("{part}{unit}"));
        }
        u /= modulus;
    }
    if u > 0 {
        parts.push(format!("{u}y"));
    }
    parts.reverse();
    parts.truncate(2);
    if parts.is_empty() {
        return format!("0s {suffix}");
    }
    format!("{} {suffix}", parts.concat())
}

/// A duration in nanoseconds as Go's `time.Duration.String()`:
/// `1h2m3s`, `1.5s`, `250ms`, `0s`.
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let n = nanos.unsigned_abs();
    let body = if n < 1_000 {
        format!("{n}ns")
    } else if n < 1_000_000 {
        format!("{}µs", trim_fraction(n, 1_000))
    } else if n < 1_000_000_000 {
        format!("{}ms", trim_fraction(n, 1_000_000))
    } else {
        let secs = n / 1_000_000_000;
        let frac = n % 1_000_000_000;
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let mut out = String::new();
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&trim_fraction(s * 1_000_000_000 + frac, 1_000_000_000));
        out.push('s');
        out
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// `n / unit` with the fraction's trailing zeros dropped (`1.5`, `2`).
fn trim_fraction(n: u64, unit: u64) -> String {
    let whole = n / unit;
    let frac = n % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = unit.to_string().len() - 1;
    let f = format!("{frac:0digits$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// A JSON field as text: strings bare, null empty, others as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_aligns_like_columnize() {
        let got = list(&["ID|Node ID|Status", "abcd1234|n1|running", "ef|  |pending"]);
        assert_eq!(
            got,
            "ID        Node ID  Status\nabcd1234  n1       running\nef        <none>   pending"
        );
        // A row shorter than the header keeps its own last column unpadded.
        assert_eq!(list(&["A|B|C", "long|x"]), "A     B  C\nlong  x");
    }

    #[test]
    fn kv_pads_keys() {
        let got = kv(&["ID|abc", "Job Version|3", "Empty|"]);
        assert_eq!(
            got,
            "ID          = abc\nJob Version = 3\nEmpty       = <none>"
        );
    }

    #[test]
    fn pretty_diff_keeps_two_units() {
        let s = 1_000_000_000i64;
        let now = 1_700_000_000 * s;
        assert_eq!(pretty_time_diff(now - 5 * s, now), "5s ago");
        assert_eq!(pretty_time_diff(now - 192 * s, now), "3m12s ago");
        assert_eq!(pretty_time_diff(now - (3600 + 61) * s, now), "1h1m ago");
        assert_eq!(pretty_time_diff(now - 400 * 86_400 * s, now), "1y1mo ago");
        assert_eq!(pretty_time_diff(now + 60 * s, now), "1m from now");
        assert_eq!(pretty_time_diff(now, now), "0s ago");
        assert_eq!(pretty_time_diff(0, now), "");
    }

    #[test]
    fn durations_print_as_go() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(3_723_000_000_000), "1h2m3s");
        assert_eq!(format_duration(300_000_000_000), "5m0s");
        assert_eq!(format_duration(250_000_000), "250ms");
    }

    #[test]
    fn json_indents_four() {
        let v = serde_json::json!({"A": [1]});
        assert_eq!(pretty_json(&v), "{\n    \"A\": [\n        1\n    ]\n}");
    }

    #[test]
    fn colour_codes_take_no_width() {
        let bold = Style { color: true }.title("ID");
        assert_eq!(
            list(&[format!("{bold}|x"), "long|y".into()]),
            format!("{bold}    x\nlong  y")
        );
    }
}

//! Go's `flag` package semantics for `drover alloc`, so Nomad users' muscle
//! memory works: `-flag`, `--flag`, `-flag=value`, `-flag value` (non-bools
//! only), bools as `-f` or `-f=false`, and parsing stops at the first word
//! that is not a flag (or after `--`). That stop rule is what lets
//! `drover alloc exec ALLOC ls -la` pass `-la` to the remote command.
//!
//! clap is not used here: it cannot express "single-dash long flags" and
//! "stop at the first positional" together without rewriting the words.

use std::collections::BTreeMap;

/// Whether a flag takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Value,
}

/// The flags given, by name, and the words after them.
#[derive(Debug, Default)]
pub struct Parsed {
    set: BTreeMap<&'static str, String>,
    /// Every value of each flag, in order, for flags that may repeat.
    every: BTreeMap<&'static str, Vec<String>>,
    pub args: Vec<String>,
}

/// Why parsing stopped without a result.
#[derive(Debug, PartialEq, Eq)]
pub enum FlagError {
    /// `-h` or `-help`: print the usage, exit 0.
    Help,
    /// A message in Go's words, e.g. `flag provided but not defined: -x`.
    Bad(String),
}

impl Parsed {
    /// The value of a bool flag, `default` when absent.
    pub fn bool(&self, name: &str, default: bool) -> bool {
        self.set.get(name).map_or(default, |v| v == "true")
    }

    /// Whether the flag was given at all.
    pub fn given(&self, name: &str) -> bool {
        self.set.contains_key(name)
    }

    /// The value of a value flag, `default` when absent.
    pub fn str(&self, name: &str, default: &str) -> String {
        self.set
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    /// Every value a repeatable value flag was given, in order
    /// (`-group a -group b`).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.every.get(name).cloned().unwrap_or_default()
    }

    /// The value of an integer flag; `None` when absent.
    pub fn int(&self, name: &str) -> Result<Option<i64>, FlagError> {
        match self.set.get(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                FlagError::Bad(format!("invalid value {v:?} for flag -{name}: parse error"))
            }),
        }
    }
}

/// Parses `words` against `spec` (name and kind of each flag).
pub fn parse(words: &[String], spec: &[(&'static str, Kind)]) -> Result<Parsed, FlagError> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        if word == "--" {
            i += 1;
            break;
        }
        if word.len() < 2 || !word.starts_with('-') {
            break;
        }
        let body = word.strip_prefix("--").unwrap_or_else(|| &word[1..]);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(FlagError::Bad(format!("bad flag syntax: {word}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some(&(name, kind)) = spec.iter().find(|(n, _)| *n == name) else {
            if name == "h" || name == "help" {
                return Err(FlagError::Help);
            }
            return Err(FlagError::Bad(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        let value = match (kind, inline) {
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Bool, Some(v)) => match v.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => "true".to_string(),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => "false".to_string(),
                _ => {
                    return Err(FlagError::Bad(format!(
                        "invalid boolean value {v:?} for -{name}: parse error"
                    )))
                }
            },
            (Kind::Value, Some(v)) => v,
            (Kind::Value, None) => {
                i += 1;
                match words.get(i) {
                    Some(v) => v.clone(),
                    None => return Err(FlagError::Bad(format!("flag needs an argument: -{name}"))),
                }
            }
        };
        out.every.entry(name).or_default().push(value.clone());
        out.set.insert(name, value);
        i += 1;
    }
    out.args = words[i..].to_vec();
    Ok(out)
}

/// A Go duration (`time.ParseDuration`): `1h30m`, `10s`, `1.5h`, `250ms`,
/// `0`; in nanoseconds.
pub fn go_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {s:?}"))?;
        let num: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            u => return Err(format!("time: unknown unit {u:?} in duration {s:?}")),
        };
        total += num * scale;
        rest = &rest[unit_end..];
    }
    let n = total.round() as i64;
    Ok(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[(&str, Kind)] = &[("i", Kind::Bool), ("task", Kind::Value), ("n", Kind::Value)];

    #[track_caller]
    fn check(words: &str, want: Result<(&str, &str), FlagError>) {
        let words: Vec<String> = words.split_whitespace().map(String::from).collect();
        let got = parse(&words, SPEC).map(|p| {
            let flags: Vec<String> = p.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (flags.join(","), p.args.join(" "))
        });
        let want = want.map(|(f, a)| (f.to_string(), a.to_string()));
        assert_eq!(got, want);
    }

    #[test]
    fn go_flag_semantics() {
        check("-i a ls -la", Ok(("i=true", "a ls -la")));
        check("--i=false -task t a", Ok(("i=false,task=t", "a")));
        check("-task=x -n 5 a", Ok(("n=5,task=x", "a")));
        check("-- -i a", Ok(("", "-i a")));
        check("- a", Ok(("", "- a")));
        check(
            "-x a",
            Err(FlagError::Bad("flag provided but not defined: -x".into())),
        );
        check(
            "-task",
            Err(FlagError::Bad("flag needs an argument: -task".into())),
        );
        check(
            "-i=maybe",
            Err(FlagError::Bad(
                "invalid boolean value \"maybe\" for -i: parse error".into(),
            )),
        );
        check("---i", Err(FlagError::Bad("bad flag syntax: ---i".into())));
        check("-help", Err(FlagError::Help));
        check("--h", Err(FlagError::Help));
    }

    #[test]
    fn repeated_flags_keep_every_value() {
        let words: Vec<String> = ["-task", "a", "-task=b", "x"].map(String::from).to_vec();
        let p = parse(&words, SPEC).unwrap();
        assert_eq!(p.all("task"), ["a", "b"]);
        assert_eq!(p.str("task", ""), "b");
        assert!(p.all("n").is_empty());
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(go_duration("250ms"), Ok(250_000_000));
        assert_eq!(go_duration("0"), Ok(0));
        assert_eq!(
            go_duration("5"),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert_eq!(
            go_duration("3d"),
            Err("time: unknown unit \"d\" in duration \"3d\"".into())
        );
    }
}

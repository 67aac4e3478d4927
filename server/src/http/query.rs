//! Query parameters, parsed once into typed options (Nomad
//! command/agent/http.go `parse`, `parseWait`, `parseConsistency`,
//! `parsePagination`). Handlers never see raw strings; every bad value is a
//! 400 that names its parameter.

use std::collections::BTreeMap;
use std::time::Duration;

use drover_state::filter::Filter;
use drover_state::pagination::PageRequest;

use super::error::{HttpError, HttpResult};

/// Nomad's cap and default for `wait` (nomad/structs/structs.go
/// `MaxBlockingRPCQueryTime`, `DefaultBlockingRPCQueryTime`).
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// The raw query string as name → values (parameters may repeat: `topic`).
#[derive(Debug, Clone, Default)]
pub struct RawQuery {
    params: BTreeMap<String, Vec<String>>,
}

impl RawQuery {
    pub fn parse(query: Option<&str>) -> Self {
        let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            params
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
        RawQuery { params }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    pub fn all(&self, name: &str) -> &[String] {
        self.params.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn has(&self, name: &str) -> bool {
        self.params.contains_key(name)
    }

    /// A Go-style boolean: a bare `?name` or `?name=` is true (Nomad's
    /// `stale` and friends), otherwise `strconv.ParseBool` spellings.
    pub fn flag(&self, name: &str) -> HttpResult<bool> {
        match self.get(name) {
            None => Ok(false),
            Some(v) => parse_bool(v).ok_or_else(|| {
                HttpError::bad_request(format!("Invalid value for {name}: {v:?} is not a boolean"))
            }),
        }
    }

    pub fn u64(&self, name: &str) -> HttpResult<Option<u64>> {
        self.get(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    HttpError::bad_request(format!(
                        "Invalid {name}: {v:?} is not a non-negative integer"
                    ))
                })
            })
            .transpose()
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "" | "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A Go duration (`"10s"`, `"5m"`, `"300000ms"`, `"1h30m"`, `"1.5s"`), parsed
/// exactly as Go's `time.ParseDuration` by the job-spec parser. Zero and
/// negative durations come back as zero: for a wait they mean "none given",
/// as in Nomad.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let nanos = crate::jobspec::parse_go_duration(s.trim()).ok()?;
    Some(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
}

/// Which namespaces a request covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespace {
    One(String),
    All,
}

impl Namespace {
    pub fn sel(&self) -> drover_state::NamespaceSel<'_> {
        match self {
            Namespace::One(n) => drover_state::NamespaceSel::One(n),
            Namespace::All => drover_state::NamespaceSel::All,
        }
    }

    /// The one namespace a single-object request names (`*` is not one).
    pub fn one(&self) -> &str {
        match self {
            Namespace::One(n) => n,
            Namespace::All => "default",
        }
    }
}

/// Everything a read request can ask for.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// Block while the result's index is at most this (0: never block).
    pub min_index: u64,
    /// How long to block at most, already capped.
    pub wait: Duration,
    pub stale: bool,
    pub prefix: String,
    pub namespace: Namespace,
    pub filter: Option<Filter>,
    pub page: PageRequest,
}

impl QueryOptions {
    pub fn from_raw(q: &RawQuery) -> HttpResult<Self> {
        let min_index = q.get("index").map_or(Ok(0), |v| {
            v.parse::<u64>()
                .map_err(|_| HttpError::bad_request(format!("Invalid index: {v:?}")))
        })?;
        let wait = match q.get("wait") {
            None => MAX_WAIT,
            Some(v) => match parse_go_duration(v) {
                Some(d) if d.is_zero() => MAX_WAIT,
                Some(d) => d.min(MAX_WAIT),
                None => return Err(HttpError::bad_request(format!("Invalid wait time: {v:?}"))),
            },
        };
        let stale = q.flag("stale")?;
        let namespace = match q.get("namespace") {
            None | Some("") => Namespace::One("default".into()),
            Some("*") => Namespace::All,
            Some(n) => Namespace::One(n.to_string()),
        };
        let filter = match q.get("filter") {
            None | Some("") => None,
            Some(f) => Some(Filter::parse(f).map_err(|e| {
                HttpError::bad_request(format!("failed to read filter expression: {e}"))
            })?),
        };
        let per_page = match q.get("per_page") {
            None | Some("") => 0,
            Some(v) => v
                .parse::<i32>()
                .ok()
                .filter(|n| *n >= 0)
                .map(|n| n as u32)
                .ok_or_else(|| {
                    HttpError::bad_request(format!("Expect a number for per_page, got {v:?}"))
                })?,
        };
        let page = PageRequest {
            per_page,
            next_token: q
                .get("next_token")
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            // Nomad turns reverse on only for the exact string "true".
            reverse: q.get("reverse") == Some("true"),
        };
        Ok(QueryOptions {
            min_index,
            wait,
            stale,
            prefix: q.get("prefix").unwrap_or("").to_string(),
            namespace,
            filter,
            page,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(q: &str) -> HttpResult<QueryOptions> {
        QueryOptions::from_raw(&RawQuery::parse(Some(q)))
    }

    #[test]
    fn go_durations() {
        let cases = [
            ("10s", 10_000),
            ("5m", 300_000),
            ("300000ms", 300_000),
            ("1h30m", 5_400_000),
            ("1.5s", 1_500),
            ("250ms", 250),
            ("0", 0),
        ];
        for (s, ms) in cases {
            assert_eq!(parse_go_duration(s), Some(Duration::from_millis(ms)), "{s}");
        }
        assert_eq!(
            parse_go_duration("-1s"),
            Some(Duration::ZERO),
            "negative waits mean the default, as in Nomad"
        );
        for bad in ["", "abc", "10", "5x", "s", "-x", "1e9h"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn wait_is_capped_and_bad_values_name_the_parameter() {
        assert_eq!(opts("wait=10m").unwrap().wait, MAX_WAIT);
        assert_eq!(opts("wait=2s").unwrap().wait, Duration::from_secs(2));
        assert_eq!(opts("").unwrap().wait, MAX_WAIT);
        assert_eq!(
            opts("wait=abc").unwrap_err().message,
            "Invalid wait time: \"abc\""
        );
        assert_eq!(
            opts("index=-1").unwrap_err().message,
            "Invalid index: \"-1\""
        );
        assert_eq!(
            opts("per_page=x").unwrap_err().message,
            "Expect a number for per_page, got \"x\""
        );
        assert!(opts("filter=Status%20%3D%3D")
            .unwrap_err()
            .message
            .starts_with("failed to read filter expression: invalid filter at position 9"));
        assert_eq!(
            opts("stale=maybe").unwrap_err().message,
            "Invalid value for stale: \"maybe\" is not a boolean"
        );
    }

    #[test]
    fn namespace_stale_reverse_and_tokens() {
        let o =
            opts("namespace=*&stale&reverse=true&next_token=12.abc&per_page=7&prefix=web").unwrap();
        assert_eq!(o.namespace, Namespace::All);
        assert!(o.stale && o.page.reverse);
        assert_eq!(
            (
                o.page.per_page,
                o.page.next_token.as_deref(),
                o.prefix.as_str()
            ),
            (7, Some("12.abc"), "web")
        );
        let o = opts("reverse=TRUE&namespace=team").unwrap();
        assert!(
            !o.page.reverse,
            "only the exact string true turns reverse on, as in Nomad"
        );
        assert_eq!(o.namespace, Namespace::One("team".into()));
    }

    #[test]
    fn repeated_parameters_are_kept() {
        let q = RawQuery::parse(Some("topic=Job&topic=Allocation%3Aweb"));
        assert_eq!(q.all("topic"), ["Job", "Allocation:web"]);
    }
}

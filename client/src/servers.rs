//! The servers a client talks to, in the order it tries them (Nomad
//! client/servers/manager.go). The first is the one in use; one that stops
//! answering goes to the back of the list (`NotifyFailedServer`), so every
//! call after it goes to the next. The list starts as the configured
//! servers and is replaced by what the servers answer on each register and
//! heartbeat (`SetServers` from the `Servers` of `NodeUpdateResponse`), by
//! their HTTP addresses: Drover clients speak HTTP to servers, where
//! Nomad's speak RPC.
//!
//! The configured servers stay a fallback behind the learned list: a
//! server that has not heard from every other one answers a partial list,
//! and a client must never be left with fewer servers than it was given.
//!
//! Clients spread over the servers as Nomad's do: the configured list
//! starts shuffled, a new list learned from the servers is shuffled behind
//! the one in use, and every few minutes [`Servers::rebalance`] shuffles
//! the whole list (`RebalanceServers`), after which the agent keeps the
//! new first server only if it answers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a connection to a server may take before the next is tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a server may leave what the client sent, data or keepalive
/// probe, unacknowledged before its connection counts as dead.
const SILENCE: Duration = Duration::from_secs(3);
/// Idle connections are probed this often.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How long a register, heartbeat or allocation update may take on one
/// server before the next is tried: a server without a leader holds a
/// call up to 5 s (Nomad's `RPCHoldTimeout`) and then says so, plus time
/// for a forward. A silent server is left sooner, after [`SILENCE`].
pub const CALL_TIMEOUT: Duration = Duration::from_secs(7);

/// The HTTP client for the servers.
///
/// A server that holds a call (waiting for a leader, or a blocking query
/// waiting for a change) and one that will never answer (its host gone,
/// its packets dropped) look alike over HTTP; TCP tells them apart, as
/// the first acknowledges what it is sent and the second does not. So
/// idle connections are probed every [`PROBE_EVERY`] (TCP keepalive), and
/// a connection whose data or probes go unacknowledged for [`SILENCE`] is
/// dropped (`TCP_USER_TIMEOUT`): the call on it fails and goes to the next
/// server, a heartbeat or the allocation watch alike, while a call that a
/// live server holds runs to its own timeout. A heartbeat goes out half
/// a TTL (10 s at least) after the last, so one that meets a silent
/// server still lands within the TTL. With the 20 s call timeout alone, a
/// client cut off from the server it used went 27 s without one, past
/// the TTL and the servers' 10 s grace.
///
/// `tls`, under `tls { http = true }`: checks the servers' certificates
/// against the CA and presents this agent's (built by the agent).
pub fn http_client(tls: Option<rustls::ClientConfig>) -> reqwest::Client {
    let builder = reqwest::Client::builder().use_preconfigured_tls(tls.unwrap_or_else(no_tls));
    let builder = builder
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_keepalive(PROBE_EVERY)
        .tcp_keepalive_interval(PROBE_EVERY)
        .tcp_keepalive_retries(3);
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    let builder = builder.tcp_user_timeout(SILENCE);
    builder.build().unwrap_or_default()
}

/// TLS settings that trust nothing, for plain HTTP: reqwest's own default
/// would load the system's CA store for every client (and fail where
/// there is none, as in a minimal container).
fn no_tls() -> rustls::ClientConfig {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // Invariant: aws-lc-rs supports TLS 1.2 and 1.3, the safe defaults.
        .expect("aws-lc-rs supports the default TLS versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// An error and its causes on one line, `: `-separated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out = format!("{out}: {s}");
        source = s.source();
    }
    out
}

/// The server list, shared by the client's loops and its agent endpoints.
#[derive(Debug)]
pub struct Servers {
    configured: Vec<String>,
    /// `https` when the servers' HTTP API is HTTPS (`tls { http = true }`).
    scheme: &'static str,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// In the order they are tried; the first is in use.
    list: Vec<String>,
    /// When a heartbeat (or register) last succeeded, and the TTL it got.
    heartbeat: Option<(Instant, Duration)>,
}

impl Servers {
    /// `configured`: `host:port` or URLs, as given to `-servers`.
    pub fn new(configured: Vec<String>) -> Servers {
        let servers = Servers::ordered(configured);
        shuffle(&mut servers.lock().list);
        servers
    }

    /// As given, unshuffled.
    fn ordered(configured: Vec<String>) -> Servers {
        let list = dedup(configured.iter().map(|s| normalize(s)).collect());
        Servers {
            configured: list.clone(),
            scheme: "http",
            inner: Mutex::new(Inner {
                list,
                heartbeat: None,
            }),
        }
    }

    /// The servers' HTTP API is HTTPS: addresses without a scheme are
    /// reached over `https://`.
    pub fn https(mut self) -> Servers {
        self.scheme = "https";
        self
    }

    /// The URL of `path` on `server`: as given when it has a scheme, else
    /// over this list's scheme.
    pub fn url(&self, server: &str, path: &str) -> String {
        url(self.scheme, server, path)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The servers as configured (`host:port` for `http://` URLs).
    pub fn configured(&self) -> Vec<String> {
        self.configured.clone()
    }

    /// The servers in the order they are tried; the first is in use.
    pub fn list(&self) -> Vec<String> {
        self.lock().list.clone()
    }

    /// What a call tries, in order: the list, then any configured server
    /// the list lacks.
    pub fn candidates(&self) -> Vec<String> {
        let mut all = self.list();
        for s in &self.configured {
            if !all.contains(s) {
                all.push(s.clone());
            }
        }
        all
    }

    /// `server` did not answer (or had no leader): when it is the one in
    /// use, the next one is from now on (Nomad's `NotifyFailedServer`
    /// moves it to the end only if it is still first, so concurrent
    /// failures of one server rotate the list once).
    pub fn failed(&self, server: &str) {
        let mut inner = self.lock();
        if inner.list.len() > 1 && inner.list.first().is_some_and(|s| s == server) {
            inner.list.rotate_left(1);
            tracing::info!(failed = %server, next = %inner.list[0], "server failed; using the next one");
        }
    }

    /// `server` answered: when it is not first (a fallback that answered
    /// while the list's servers did not), it becomes the one in use.
    pub fn answered(&self, server: &str) {
        let mut inner = self.lock();
        match inner.list.iter().position(|s| s == server) {
            Some(0) => return,
            Some(pos) => inner.list[..=pos].rotate_right(1),
            None => inner.list.insert(0, server.to_string()),
        }
        tracing::info!(server = %server, "using server");
    }

    /// The servers' own list (their HTTP addresses). `complete` is false
    /// when the answering server could not name every server's HTTP
    /// address (one it has not heard from since it started): those named
    /// are then added, nothing is dropped. A complete list that names the
    /// same servers changes nothing, so the one in use stays in use;
    /// another replaces the list, with the one in use kept first when it
    /// is still listed. An empty list is ignored.
    pub fn learned(&self, servers: Vec<String>, complete: bool) {
        let mut learned = dedup(servers.iter().map(|s| normalize(s)).collect());
        if learned.is_empty() {
            return;
        }
        let mut inner = self.lock();
        if !complete {
            learned.retain(|s| !inner.list.contains(s));
            if !learned.is_empty() {
                tracing::info!(servers = ?learned, "servers added");
                inner.list.extend(learned);
            }
            return;
        }
        let (mut old, mut new) = (inner.list.clone(), learned.clone());
        old.sort();
        new.sort();
        if old == new {
            return;
        }
        shuffle(&mut learned);
        if let Some(current) = inner.list.first() {
            if let Some(pos) = learned.iter().position(|s| s == current) {
                learned[..=pos].rotate_right(1);
            }
        }
        tracing::info!(servers = ?learned, "server list updated");
        inner.list = learned;
    }

    /// Shuffles the list to move this client to another server now and
    /// then (Nomad's `RebalanceServers`), and returns the order it was in,
    /// for [`Servers::restore`] when none of the new leading servers
    /// answers.
    pub fn rebalance(&self) -> Vec<String> {
        let mut inner = self.lock();
        let before = inner.list.clone();
        shuffle(&mut inner.list);
        before
    }

    /// Puts back the order [`Servers::rebalance`] returned, unless the
    /// list was replaced in between.
    pub fn restore(&self, before: Vec<String>) {
        let mut inner = self.lock();
        let (mut now, mut was) = (inner.list.clone(), before.clone());
        now.sort();
        was.sort();
        if now == was {
            inner.list = before;
        }
    }

    /// A heartbeat or register succeeded with this TTL.
    pub fn heartbeat_ok(&self, ttl: Duration) {
        self.lock().heartbeat = Some((Instant::now(), ttl));
    }

    /// Time since the last successful heartbeat, and its TTL; `None`
    /// before the first.
    pub fn last_heartbeat(&self) -> Option<(Duration, Duration)> {
        self.lock().heartbeat.map(|(at, ttl)| (at.elapsed(), ttl))
    }
}

/// The URL of `path` on `server`: as given when it has a scheme, else
/// over `scheme`.
fn url(scheme: &str, server: &str, path: &str) -> String {
    if server.starts_with("http://") || server.starts_with("https://") {
        format!("{}{path}", server.trim_end_matches('/'))
    } else {
        format!("{scheme}://{server}{path}")
    }
}

/// `host:port` for `http://host:port/` and for `host:port`; other URLs
/// (https, a path) stay as they are.
fn normalize(server: &str) -> String {
    let s = server.trim().trim_end_matches('/');
    s.strip_prefix("http://").unwrap_or(s).to_string()
}

/// A Fisher–Yates shuffle; the randomness comes from v4 UUIDs, which
/// the client already draws from the OS.
fn shuffle(list: &mut [String]) {
    for i in (1..list.len()).rev() {
        let r = uuid::Uuid::new_v4().as_u128();
        let j = (r % (i as u128 + 1)) as usize;
        list.swap(i, j);
    }
}

fn dedup(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for s in list {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// A server's response body, readable as text for error messages.
pub(crate) struct Body(pub Vec<u8>);

impl Body {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn servers(list: &[&str]) -> Servers {
        Servers::ordered(list.iter().map(|s| s.to_string()).collect())
    }

    fn many() -> Vec<String> {
        (0..8).map(|i| format!("s{i}:1")).collect()
    }

    #[test]
    fn clients_start_on_shuffled_lists() {
        let orders: BTreeSet<Vec<String>> = (0..20).map(|_| Servers::new(many()).list()).collect();
        // 20 draws of 8! orders: all alike only by a broken shuffle.
        assert!(orders.len() > 1, "{orders:?}");
        for o in &orders {
            let mut sorted = o.clone();
            sorted.sort();
            assert_eq!(sorted, many());
        }
    }

    #[test]
    fn rebalance_shuffles_and_can_be_undone() {
        let s = Servers::ordered(many());
        let seen: BTreeSet<Vec<String>> = (0..20)
            .map(|_| {
                let before = s.rebalance();
                let after = s.list();
                s.restore(before);
                assert_eq!(s.list(), many());
                after
            })
            .collect();
        assert!(seen.len() > 1);
        // A list replaced after the shuffle is not put back.
        let before = s.rebalance();
        s.learned(vec!["x:1".into()], true);
        s.restore(before);
        assert_eq!(s.list(), ["x:1"]);
    }

    #[test]
    fn a_failed_server_goes_to_the_back_once() {
        let s = servers(&["http://a:1/", "b:1", "c:1"]);
        assert_eq!(s.list(), ["a:1", "b:1", "c:1"]);
        s.failed("a:1");
        s.failed("a:1"); // a second report of the same failure
        assert_eq!(s.list(), ["b:1", "c:1", "a:1"]);
        s.failed("c:1"); // not in use: nothing moves
        assert_eq!(s.list(), ["b:1", "c:1", "a:1"]);
    }

    #[test]
    fn a_learned_list_keeps_the_server_in_use_first() {
        let s = servers(&["a:1"]);
        s.learned(vec!["c:1".into(), "b:1".into(), "a:1".into()], true);
        let list = s.list();
        assert_eq!(list[0], "a:1");
        assert_eq!(sorted(&list), ["a:1", "b:1", "c:1"]);
        // The same set in another order changes nothing.
        s.failed("a:1");
        let after_failure = s.list();
        assert_eq!(after_failure[2], "a:1");
        s.learned(vec!["a:1".into(), "b:1".into(), "c:1".into()], true);
        assert_eq!(s.list(), after_failure);
        // An empty answer is no answer.
        s.learned(Vec::new(), true);
        // A partial answer adds what it names and drops nothing.
        s.learned(vec!["d:1".into(), "a:1".into()], false);
        let mut with_d = after_failure.clone();
        with_d.push("d:1".into());
        assert_eq!(s.list(), with_d);
        // A complete list without d: d goes, the one in use stays first.
        s.learned(vec!["c:1".into(), "b:1".into(), "a:1".into()], true);
        assert_eq!(s.list()[0], after_failure[0]);
        assert_eq!(sorted(&s.list()), ["a:1", "b:1", "c:1"]);
    }

    fn sorted(list: &[String]) -> Vec<String> {
        let mut l = list.to_vec();
        l.sort();
        l
    }

    #[test]
    fn configured_servers_stay_a_fallback() {
        let s = servers(&["a:1", "b:1"]);
        s.learned(vec!["c:1".into()], true);
        assert_eq!(s.list(), ["c:1"]);
        assert_eq!(s.candidates(), ["c:1", "a:1", "b:1"]);
        s.answered("b:1");
        assert_eq!(s.list(), ["b:1", "c:1"]);
        s.answered("c:1");
        assert_eq!(s.list(), ["c:1", "b:1"]);
    }
}

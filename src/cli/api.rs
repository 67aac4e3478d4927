//! The agent's HTTP API as the CLI uses it: which agent, allocation lookup
//! by prefix, and which task a command means. Errors are user-facing
//! sentences (Nomad's wording), printed once by the caller.

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

/// The address used when neither `-address` nor the environment names one.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";

/// `-address`, then `DROVER_ADDR`, then `NOMAD_ADDR`, then the default.
/// Drover's own variable wins so a shell set up for both tools still talks
/// to Drover.
pub fn address(flag: Option<String>) -> String {
    let addr = flag
        .filter(|a| !a.is_empty())
        .or_else(|| std::env::var("DROVER_ADDR").ok().filter(|a| !a.is_empty()))
        .or_else(|| std::env::var("NOMAD_ADDR").ok().filter(|a| !a.is_empty()))
        .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
    let addr = addr.trim_end_matches('/').to_string();
    if addr.contains("://") {
        addr
    } else {
        format!("http://{addr}")
    }
}

/// An agent's HTTP API.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    /// TLS for `wss://` sessions (exec, attach), from the same options.
    pub ws_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The ACL token the requests carry, for WebSocket sessions.
    pub token: Option<String>,
}

impl Api {
    /// The agent `-address` (or the environment) names, over the TLS the
    /// flags and environment ask for ([`super::tls_client`]).
    pub fn connect(p: &super::flags::Parsed) -> anyhow::Result<Api> {
        let base = address(p.given("address").then(|| p.str("address", "")));
        let transport = super::tls_client::transport(p, &base)?;
        Ok(Api {
            base,
            http: transport.http,
            ws_tls: transport.ws_tls,
            token: transport.token,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GETs `path` as JSON; a non-2xx status becomes its body as the error.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .get(self.url(path))
            .send()
            .await
            .map_err(|e| anyhow!("{}", connect_error(&self.base, &e)))?;
        decode(r).await
    }

    /// GETs a page of a listing: the JSON and the token of the next page
    /// (`X-Nomad-NextToken`), if there is one.
    pub async fn get_page(&self, path: &str) -> anyhow::Result<(Value, Option<String>)> {
        let r = self
            .http
            .get(self.url(path))
            .send()
            .await
            .map_err(|e| anyhow!("{}", connect_error(&self.base, &e)))?;
        let next = r
            .headers()
            .get("X-Nomad-NextToken")
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Ok((decode(r).await?, next))
    }

    /// PUTs `body` to `path`; returns the JSON answer (`Null` when empty).
    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self
            .http
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .map_err(|e| anyhow!("{}", connect_error(&self.base, &e)))?;
        decode(r).await
    }

    /// DELETEs `path`; returns the JSON answer (`Null` when empty).
    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .delete(self.url(path))
            .send()
            .await
            .map_err(|e| anyhow!("{}", connect_error(&self.base, &e)))?;
        decode(r).await
    }

    /// The objects of the listing at `list` (e.g. `/v1/evaluations`) whose
    /// ID starts with `prefix`; only the exact match when one is exact.
    /// Nomad's CLI refuses one-character prefixes before asking.
    pub async fn prefix_list(&self, list: &str, prefix: &str) -> anyhow::Result<Vec<Value>> {
        let sep = if list.contains('?') { '&' } else { '?' };
        let all = self
            .get(&format!("{list}{sep}prefix={}", form_urlencoded(prefix)))
            .await?;
        let all = all.as_array().cloned().unwrap_or_default();
        match all.iter().find(|s| s["ID"] == prefix) {
            Some(exact) => Ok(vec![exact.clone()]),
            None => Ok(all),
        }
    }

    /// The one allocation `prefix` names, in full (with its job).
    ///
    /// Errors, as Nomad words them: no match, or several matches listed so
    /// the user can pick a longer prefix.
    pub async fn alloc_by_prefix(&self, prefix: &str) -> anyhow::Result<Value> {
        if prefix.len() == 1 {
            bail!("Alloc ID must contain at least two characters");
        }
        let query: String = form_urlencoded(prefix);
        let list = self
            .get(&format!("/v1/allocations?prefix={query}"))
            .await
            .map_err(|e| anyhow!("Error querying allocation: {e:#}"))?;
        let stubs = list.as_array().cloned().unwrap_or_default();
        let exact = stubs.iter().find(|s| s["ID"] == prefix);
        let stub = match (exact, stubs.as_slice()) {
            (Some(s), _) => s.clone(),
            (None, []) => bail!("No allocation(s) with prefix or id {prefix:?} found"),
            (None, [one]) => one.clone(),
            (None, many) => bail!(
                "Prefix matched multiple allocations\n\n{}",
                format_stubs(many)
            ),
        };
        let id = stub["ID"].as_str().context("allocation without an ID")?;
        self.get(&format!("/v1/allocation/{id}"))
            .await
            .map_err(|e| anyhow!("Error querying allocation: {e:#}"))
    }
}

/// The names of the tasks in the allocation's group, in job order.
pub fn group_tasks(alloc: &Value) -> anyhow::Result<Vec<String>> {
    let group = alloc["TaskGroup"].as_str().unwrap_or_default();
    let tg = alloc["Job"]["TaskGroups"]
        .as_array()
        .and_then(|tgs| tgs.iter().find(|tg| tg["Name"] == group))
        .ok_or_else(|| anyhow!("Could not find allocation task group: {group}"))?;
    Ok(tg["Tasks"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t["Name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

/// The task a command targets: `task` if it exists in the group, else the
/// group's only task; a group of several tasks needs the user to choose.
pub fn pick_task(alloc: &Value, task: Option<&str>) -> anyhow::Result<String> {
    let tasks = group_tasks(alloc)?;
    match task {
        Some(t) if tasks.iter().any(|n| n == t) => Ok(t.to_string()),
        Some(t) => bail!(
            "Could not find task named: {t}, found:\n{}",
            bullet_list(&tasks)
        ),
        None if tasks.len() == 1 => Ok(tasks[0].clone()),
        None => bail!(
            "Allocation {:?} is running the following tasks:\n{}\n\nPlease specify the task.",
            short(alloc["ID"].as_str().unwrap_or_default()),
            bullet_list(&tasks)
        ),
    }
}

/// The first eight characters of an ID, as Nomad shows it.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn bullet_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("  * {n}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn format_stubs(stubs: &[Value]) -> String {
    let rows: Vec<[String; 5]> = stubs
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            [
                short(&f("ID")).to_string(),
                short(&f("NodeID")).to_string(),
                f("TaskGroup"),
                f("DesiredStatus"),
                f("ClientStatus"),
            ]
        })
        .collect();
    let header = ["ID", "Node ID", "Task Group", "Desired", "Status"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            row.iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Percent-encodes a query value.
pub fn form_urlencoded(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A transport failure in one line, naming the agent.
pub fn connect_error(base: &str, e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    // A certificate the CLI could not check is the usual TLS mistake.
    let hint = if msg.contains("invalid peer certificate") {
        " (is -ca-cert or NOMAD_CACERT the cluster's CA?)"
    } else {
        ""
    };
    format!("cannot reach the agent at {base}: {msg}{hint}")
}

/// A response's JSON, or its status and body as the error.
pub async fn decode(r: reqwest::Response) -> anyhow::Result<Value> {
    let status = r.status();
    let text = r.text().await.context("reading the agent's answer")?;
    if !status.is_success() {
        let text = text.trim();
        if text.is_empty() {
            bail!("Unexpected response code: {}", status.as_u16());
        }
        bail!("Unexpected response code: {} ({text})", status.as_u16());
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).context("the agent's answer is not JSON")
}

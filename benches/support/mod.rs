//! What the agent benchmarks share: settings from the environment, HTTP
//! helpers over a running [`Agent`], and percentiles; etcd members and the
//! timed write load for the benches that compare Drover with etcd.
#![allow(dead_code)]

pub mod etcd;
pub mod writes;

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Agent;

/// A whole number from the environment, or `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Registers a job (`{"Job": ..}`); panics if the server refuses it.
pub async fn put(a: &Agent, job: Value) {
    let r = a
        .http
        .put(a.url("/v1/jobs"))
        .json(&job)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// Block on `path` until `pred` holds; returns the value.
pub async fn block_until(a: &Agent, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let mut index = 0u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = a
            .http
            .get(a.url(&format!("{path}{sep}index={index}&wait=10s")))
            .send()
            .await
            .unwrap();
        index = r
            .headers()
            .get("X-Nomad-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(index);
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if pred(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting on {path}: {v}");
    }
}

/// The Raft index the server has applied, from its metrics.
pub async fn applied_index(a: &Agent) -> u64 {
    a.metric("drover_raft_applied_index").await as u64
}

/// Runs a benchmark's body on a multi-threaded tokio runtime.
pub fn block_on<F: std::future::Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(body)
}

/// Sorts `samples` and returns their p50 and p99.
pub fn p50_p99(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (percentile(samples, 0.5), percentile(samples, 0.99))
}

/// The `p` quantile (0..=1) of sorted samples; 0 for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Deregisters job `id` and waits until group `g` runs nothing.
pub async fn stop(a: &Agent, id: &str) {
    a.http
        .delete(a.url(&format!("/v1/job/{id}")))
        .send()
        .await
        .unwrap();
    block_until(a, &format!("/v1/job/{id}/summary"), |v| {
        v["Summary"]["g"]["Running"] == 0 && v["Summary"]["g"]["Starting"] == 0
    })
    .await;
}

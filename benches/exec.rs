//! `cargo bench --bench exec`: Nomad's exec WebSocket on a dev agent with
//! a real raw_exec task. Prints, then a last line of JSON:
//!
//! * round trip: one session running `cat`, a small `stdin` frame sent and
//!   its `stdout` frame awaited, p50/p99 over `DROVER_BENCH_ROUND_TRIPS`
//!   (default 1,000; target p99 < 5 ms);
//! * relayed round trip: the same through a server agent that relays the
//!   session to a separate client agent (one more WebSocket hop);
//! * throughput: `head -c DROVER_BENCH_EXEC_BYTES /dev/zero` (default
//!   200,000,000) through one session's base64 `stdout` frames, in MB/s of
//!   command output.
//!
//! Figures, not assertions: the machine is shared and noisy.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;
#[path = "../tests/ws_client/mod.rs"]
mod ws_client;

use std::time::{Duration, Instant};

use base64::Engine;
use common::Agent;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::{block_on, env, p50_p99, put};
use tokio_tungstenite::tungstenite::Message;
use ws_client::{connect, Socket, B64};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

async fn sleeper(a: &Agent) -> String {
    put(
        a,
        json!({"Job": {"ID": "sleeper", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["1000"]}}]}]}}),
    )
    .await;
    let list = a
        .until("/v1/job/sleeper/allocations", "the sleeper running", |v| {
            v.as_array()
                .is_some_and(|l| l.len() == 1 && l[0]["TaskStates"]["t"]["State"] == "running")
        })
        .await;
    list[0]["ID"].as_str().unwrap().to_string()
}

async fn open(a: &Agent, alloc: &str, command: &[&str]) -> Socket {
    let command = serde_json::to_string(command).unwrap();
    let params = [("task", "t"), ("command", &command), ("tty", "false")];
    let url = ws_client::url(&a.base, alloc, "exec", &params);
    connect(url, Duration::from_secs(60)).await.unwrap()
}

/// The bytes of a `stdout` data frame, or `None` for any other frame;
/// `Err(code)` for the exit frame.
fn stdout_of(msg: &Message) -> Option<Result<Vec<u8>, i64>> {
    let Message::Text(t) = msg else { return None };
    let v: Value = serde_json::from_str(t.as_str()).ok()?;
    if v["exited"] == true {
        return Some(Err(v["result"]["exit_code"].as_i64().unwrap_or(-1)));
    }
    v["stdout"]["data"]
        .as_str()
        .map(|d| Ok(B64.decode(d).unwrap()))
}

/// p50 and p99 in ms of `trips` one-line echoes through `cat`.
async fn round_trips(a: &Agent, alloc: &str, trips: usize) -> (f64, f64) {
    let deadline = Duration::from_secs(60);
    let mut ws = open(a, alloc, &["cat"]).await;
    let mut ms = Vec::with_capacity(trips);
    for i in 0..trips {
        let line = format!("{i}\n");
        let frame = json!({"stdin": {"data": B64.encode(&line)}}).to_string();
        let started = Instant::now();
        ws.send(Message::Text(frame.into())).await.unwrap();
        let mut got = Vec::new();
        while got.len() < line.len() {
            let msg = tokio::time::timeout(deadline, ws.next())
                .await
                .expect("echo within the deadline")
                .expect("socket open")
                .unwrap();
            if let Some(Ok(data)) = stdout_of(&msg) {
                got.extend(data);
            }
        }
        ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(got, line.as_bytes());
    }
    p50_p99(&mut ms)
}

fn main() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let a = Agent::start(dir.path()).await;
        let alloc = sleeper(&a).await;
        let deadline = Duration::from_secs(60);

        // Round trips through cat.
        let trips = env("DROVER_BENCH_ROUND_TRIPS", 1000);
        let (p50, p99) = round_trips(&a, &alloc, trips).await;
        println!("exec echo round trip over {trips}: p50 {p50:.3} ms, p99 {p99:.3} ms");

        // Throughput of one command's stdout.
        let bytes = env("DROVER_BENCH_EXEC_BYTES", 200_000_000);
        let count = bytes.to_string();
        let mut ws = open(&a, &alloc, &["head", "-c", &count, "/dev/zero"]).await;
        let started = Instant::now();
        let mut seen = 0usize;
        let code = loop {
            let msg = tokio::time::timeout(deadline, ws.next())
                .await
                .expect("output within the deadline")
                .expect("socket open")
                .unwrap();
            match stdout_of(&msg) {
                Some(Ok(data)) => seen += data.len(),
                Some(Err(code)) => break code,
                None => {}
            }
        };
        let secs = started.elapsed().as_secs_f64();
        assert_eq!((seen, code), (bytes, 0));
        let mb_s = bytes as f64 / 1e6 / secs;
        println!("exec stdout throughput: {bytes} bytes in {secs:.2} s = {mb_s:.0} MB/s");

        // The same through a server that relays to a client agent.
        let server_dir = tempfile::tempdir().unwrap();
        let client_dir = tempfile::tempdir().unwrap();
        let (server, _client) =
            Agent::start_server_and_client(server_dir.path(), client_dir.path()).await;
        let far = sleeper(&server).await;
        let (relay_p50, relay_p99) = round_trips(&server, &far, trips).await;
        println!(
            "relayed exec echo round trip over {trips}: p50 {relay_p50:.3} ms, p99 {relay_p99:.3} ms"
        );

        println!(
            "{}",
            json!({"bench": "exec", "round_trips": trips,
                "relay_echo_p50_ms": (relay_p50 * 1000.0).round() / 1000.0,
                "relay_echo_p99_ms": (relay_p99 * 1000.0).round() / 1000.0,
                "echo_p50_ms": (p50 * 1000.0).round() / 1000.0,
                "echo_p99_ms": (p99 * 1000.0).round() / 1000.0,
                "stdout_bytes": bytes, "stdout_mb_s": mb_s.round()})
        );
    });
}

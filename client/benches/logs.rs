//! Throughput of `/v1/client/fs/logs` for a large, rotated log, read whole
//! (non-follow) over a real socket, as frames and as plain bytes.
//!
//! `cargo bench -p drover-client --bench logs` (LOG_MB sets the size, 200 by default).

use std::sync::Arc;
use std::time::Instant;

use drover_client::allocdir::AllocDir;
use drover_client::http::{router, ClientAllocs};
use drover_client::logmon::{collect, LogmonArgs};
use futures_util::StreamExt;

const ALLOC: &str = "bench-alloc";

struct Allocs(AllocDir);

impl ClientAllocs for Allocs {
    fn alloc_dir(&self, _: &str) -> Option<AllocDir> {
        Some(self.0.clone())
    }
    fn tasks(&self, _: &str) -> Option<Vec<String>> {
        Some(vec!["web".into()])
    }
    fn task_dead(&self, _: &str, _: &str) -> bool {
        true
    }
}

fn main() {
    let mb: usize = std::env::var("LOG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = AllocDir::new(tmp.path(), ALLOC);
    dir.build(&["web"]).expect("alloc dir");
    let line: Vec<u8> = (0..4096)
        .map(|i| b"0123456789abcdef ... log line\n"[i % 30])
        .collect();
    let data: Vec<u8> = line.iter().copied().cycle().take(mb << 20).collect();
    let args = LogmonArgs {
        dir: dir.logs_dir(),
        name: "web.stdout".into(),
        max_files: 1000,
        max_file_size: 10 << 20, // Nomad's default max_file_size_mb
    };
    collect(data.as_slice(), &args).expect("write logs");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router(Arc::new(Allocs(dir)))).await });
        let http = reqwest::Client::new();
        for (label, query) in [("frames", ""), ("plain", "&plain=true")] {
            for _ in 0..3 {
                let url = format!("{base}/v1/client/fs/logs/{ALLOC}?task=web&type=stdout{query}");
                let start = Instant::now();
                let resp = http.get(url).send().await.expect("request");
                let mut body = resp.bytes_stream();
                let mut wire = 0usize;
                while let Some(chunk) = body.next().await {
                    wire += chunk.expect("body").len();
                }
                let secs = start.elapsed().as_secs_f64();
                println!(
                    "logs {label}: {mb} MB of log in {secs:.3}s = {:.0} MB/s ({:.0} MB on the wire)",
                    mb as f64 / secs,
                    wire as f64 / (1 << 20) as f64
                );
            }
        }
    });
}

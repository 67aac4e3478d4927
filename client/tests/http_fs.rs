//! `/v1/client/fs/*` over a real socket: an allocation directory in a
//! tempdir, logs written by the logmon collector, the router served by axum
//! and queried with reqwest.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use drover_api::{AllocFileInfo, StreamFrame};
use drover_client::allocdir::AllocDir;
use drover_client::http::{router, ClientAllocs};
use drover_client::logmon::{collect, LogmonArgs};
use futures_util::StreamExt;

const ALLOC: &str = "5b1e0c1a-0000-4000-8000-000000000001";

struct TestAllocs {
    dir: AllocDir,
    dead: AtomicBool,
}

impl ClientAllocs for TestAllocs {
    fn alloc_dir(&self, alloc_id: &str) -> Option<AllocDir> {
        (alloc_id == ALLOC).then(|| self.dir.clone())
    }
    fn tasks(&self, alloc_id: &str) -> Option<Vec<String>> {
        (alloc_id == ALLOC).then(|| vec!["web".to_string()])
    }
    fn task_dead(&self, _alloc_id: &str, task: &str) -> bool {
        task == "web" && self.dead.load(Ordering::SeqCst)
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    allocs: Arc<TestAllocs>,
    base: String,
    http: reqwest::Client,
}

impl Fixture {
    async fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = AllocDir::new(tmp.path(), ALLOC);
        dir.build(&["web"]).unwrap();
        let allocs = Arc::new(TestAllocs {
            dir,
            dead: AtomicBool::new(false),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = router(allocs.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Fixture {
            _tmp: tmp,
            allocs,
            base,
            http: reqwest::Client::new(),
        }
    }

    fn logs_dir(&self) -> PathBuf {
        self.allocs.dir.logs_dir()
    }

    /// Writes `data` through the collector, rotating every `file_size` bytes.
    fn collect(&self, name: &str, data: &[u8], file_size: u64) {
        let args = LogmonArgs {
            dir: self.logs_dir(),
            name: name.to_string(),
            max_files: 100,
            max_file_size: file_size,
        };
        collect(data, &args).unwrap();
    }

    async fn get(&self, path_and_query: &str) -> (u16, Vec<u8>) {
        let resp = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, path_and_query: &str) -> T {
        let (status, body) = self.get(path_and_query).await;
        assert_eq!(
            status,
            200,
            "{path_and_query}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).unwrap()
    }

    async fn check_err(&self, path_and_query: &str, status: u16, message: &str) {
        let (got, body) = self.get(path_and_query).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(got, status, "{path_and_query}: {body}");
        assert!(
            body.contains(message),
            "{path_and_query}: {body:?} lacks {message:?}"
        );
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz\n"[i % 27])
        .collect()
}

/// Parses the complete frames at the front of `buf` and removes them.
fn drain_frames(buf: &mut Vec<u8>) -> Vec<StreamFrame> {
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<StreamFrame>();
    let mut out = Vec::new();
    loop {
        match it.next() {
            Some(Ok(frame)) => out.push(frame),
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(e)) => panic!("bad frame: {e}"),
            None => break,
        }
    }
    let used = it.byte_offset();
    buf.drain(..used);
    out
}

fn frames_of(mut body: Vec<u8>) -> Vec<StreamFrame> {
    let frames = drain_frames(&mut body);
    assert!(
        body.is_empty(),
        "trailing bytes: {:?}",
        String::from_utf8_lossy(&body)
    );
    frames
}

fn data_of(frames: &[StreamFrame]) -> Vec<u8> {
    frames.iter().flat_map(|f| f.data.iter().copied()).collect()
}

fn append(path: &Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(data).unwrap();
}

#[tokio::test]
async fn ls_stat_cat_readat() {
    let fx = Fixture::new().await;
    let conf = fx.allocs.dir.task_local_dir("web").join("app.conf");
    std::fs::write(&conf, "listen 8080\n").unwrap();

    let root: Vec<AllocFileInfo> = fx.json(&format!("/v1/client/fs/ls/{ALLOC}")).await;
    let names: Vec<&str> = root.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["alloc", "web"]);
    assert!(root[0].is_dir && root[0].file_mode.starts_with('d'));
    let local: Vec<AllocFileInfo> = fx
        .json(&format!("/v1/client/fs/ls/{ALLOC}?path=/web/local"))
        .await;
    assert_eq!(local.len(), 1);
    assert_eq!(
        (local[0].name.as_str(), local[0].size, local[0].is_dir),
        ("app.conf", 12, false)
    );

    let raw: serde_json::Value = fx
        .json(&format!(
            "/v1/client/fs/stat/{ALLOC}?path=web/local/app.conf"
        ))
        .await;
    let keys: Vec<&str> = raw
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 6, "{raw}");
    let info: AllocFileInfo = serde_json::from_value(raw).unwrap();
    assert_eq!(info.name, "app.conf");
    assert_eq!(info.size, 12);
    assert_eq!(info.content_type, "text/plain; charset=utf-8");

    let (status, body) = fx
        .get(&format!(
            "/v1/client/fs/cat/{ALLOC}?path=/web/local/app.conf"
        ))
        .await;
    assert_eq!((status, body.as_slice()), (200, &b"listen 8080\n"[..]));
    let q = format!("/v1/client/fs/readat/{ALLOC}?path=web/local/app.conf&offset=7&limit=4");
    assert_eq!(fx.get(&q).await, (200, b"8080".to_vec()));
    let q = format!("/v1/client/fs/readat/{ALLOC}?path=web/local/app.conf&offset=7");
    assert_eq!(fx.get(&q).await, (200, b"8080\n".to_vec()));
    let q = format!("/v1/client/fs/readat/{ALLOC}?path=web/local/app.conf&offset=99&limit=4");
    assert_eq!(fx.get(&q).await, (200, Vec::new()));
}

#[tokio::test]
async fn fs_errors() {
    let fx = Fixture::new().await;
    for op in ["ls", "stat", "cat", "readat"] {
        fx.check_err(
            &format!("/v1/client/fs/{op}/nope?path=/"),
            404,
            r#"Unknown allocation "nope""#,
        )
        .await;
        fx.check_err(
            &format!("/v1/client/fs/{op}/{ALLOC}?path=../../etc/passwd"),
            400,
            "escapes",
        )
        .await;
        fx.check_err(
            &format!("/v1/client/fs/{op}/{ALLOC}?path=/missing"),
            404,
            "not found",
        )
        .await;
    }
    for op in ["stat", "cat", "readat"] {
        fx.check_err(
            &format!("/v1/client/fs/{op}/{ALLOC}"),
            400,
            "must provide a file name",
        )
        .await;
    }
    // A symlink out of the alloc dir is an escape too.
    let link = fx.allocs.dir.task_local_dir("web").join("passwd");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    fx.check_err(
        &format!("/v1/client/fs/cat/{ALLOC}?path=web/local/passwd"),
        400,
        "escapes",
    )
    .await;
    fx.check_err(
        &format!("/v1/client/fs/cat/{ALLOC}?path=alloc"),
        400,
        "is a directory",
    )
    .await;
    fx.check_err(
        &format!("/v1/client/fs/readat/{ALLOC}?path=alloc&offset=x"),
        400,
        "offset",
    )
    .await;
}

/// A NUL byte in a path is a 400, and no error of these endpoints shows
/// where the agent keeps its data: paths are named as the user gave them.
#[tokio::test]
async fn fs_errors_never_show_the_host_path() {
    let fx = Fixture::new().await;
    let host = fx._tmp.path().to_string_lossy().into_owned();
    std::fs::write(fx.allocs.dir.shared_dir().join("file"), b"x").unwrap();
    let check = |q: String, status: u16, message: &'static str| {
        let fx = &fx;
        let host = host.clone();
        async move {
            let (got, body) = fx.get(&q).await;
            let body = String::from_utf8_lossy(&body);
            assert_eq!(got, status, "{q}: {body}");
            assert!(body.contains(message), "{q}: {body:?} lacks {message:?}");
            assert!(!body.contains(&host), "{q}: {body:?} shows the host path");
        }
    };
    for op in ["ls", "stat", "cat", "readat", "stream"] {
        for path in ["%00", "alloc%00", "/alloc/%00/x"] {
            let q = format!("/v1/client/fs/{op}/{ALLOC}?path={path}");
            check(q, 400, "contains a NUL byte").await;
        }
        let q = format!("/v1/client/fs/{op}/{ALLOC}?path=/alloc/missing");
        check(q, 404, r#""/alloc/missing" not found"#).await;
        // A file where a directory is expected.
        let q = format!("/v1/client/fs/{op}/{ALLOC}?path=/alloc/file/below");
        check(q, 400, r#""/alloc/file/below": Not a directory"#).await;
    }
    check(
        format!("/v1/client/fs/ls/{ALLOC}?path=/alloc/file"),
        400,
        r#""/alloc/file": Not a directory"#,
    )
    .await;
}

#[tokio::test]
async fn logs_errors() {
    let fx = Fixture::new().await;
    fx.collect("web.stdout", b"hi\n", 1000);
    let logs = format!("/v1/client/fs/logs/{ALLOC}");
    fx.check_err(
        &format!("{logs}?type=stdout"),
        400,
        "must provide task name",
    )
    .await;
    fx.check_err(
        &format!("{logs}?task=web"),
        400,
        "must provide log type (stdout/stderr)",
    )
    .await;
    fx.check_err(&format!("{logs}?task=web&type=stdin"), 400, "log type")
        .await;
    fx.check_err(
        &format!("{logs}?task=web&type=stdout&origin=middle"),
        400,
        "origin must be start or end",
    )
    .await;
    fx.check_err(
        &format!("{logs}?task=web&type=stdout&follow=yes"),
        400,
        "follow",
    )
    .await;
    fx.check_err(
        &format!("{logs}?task=web&type=stdout&offset=-1"),
        400,
        "offset",
    )
    .await;
    fx.check_err(
        &format!("{logs}?task=db&type=stdout"),
        400,
        r#"unknown task name "db""#,
    )
    .await;
    fx.check_err(
        "/v1/client/fs/logs/nope?task=web&type=stdout",
        404,
        r#"Unknown allocation "nope""#,
    )
    .await;
    fx.check_err(&format!("{logs}?task=web&type=stderr"), 404, "not found")
        .await;
}

#[tokio::test]
async fn logs_read_across_rotated_files() {
    let fx = Fixture::new().await;
    let data = pattern(2500);
    fx.collect("web.stdout", &data, 1000); // .0 and .1 full, .2 has 500 bytes
    fx.collect("web.stderr", b"oops\n", 1000);
    let logs = format!("/v1/client/fs/logs/{ALLOC}?task=web");

    let resp = fx
        .http
        .get(format!("{}{logs}&type=stdout", fx.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/json");
    let frames = frames_of(resp.bytes().await.unwrap().to_vec());
    assert_eq!(data_of(&frames), data);
    let files: Vec<(&str, i64)> = frames.iter().map(|f| (f.file.as_str(), f.offset)).collect();
    assert_eq!(
        files,
        [
            ("alloc/logs/web.stdout.0", 1000),
            ("alloc/logs/web.stdout.1", 1000),
            ("alloc/logs/web.stdout.2", 500)
        ]
    );

    let (_, body) = fx.get(&format!("{logs}&type=stderr")).await;
    assert_eq!(data_of(&frames_of(body)), b"oops\n");

    let resp = fx
        .http
        .get(format!("{}{logs}&type=stdout&plain=true", fx.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(resp.bytes().await.unwrap(), data);

    // Offsets count over the whole sequence, from either end, clamped.
    let cases: [(&str, &[u8]); 6] = [
        ("origin=end&offset=700", &data[1800..]),
        ("origin=end&offset=300", &data[2200..]),
        ("origin=end&offset=99999", &data[..]),
        ("origin=start&offset=1500", &data[1500..]),
        ("offset=1000", &data[1000..]),
        ("origin=start&offset=99999", b""),
    ];
    for (query, want) in cases {
        let (status, body) = fx.get(&format!("{logs}&type=stdout&plain=1&{query}")).await;
        assert_eq!(status, 200);
        assert!(
            body == want,
            "{query}: got {} bytes, want {}",
            body.len(),
            want.len()
        );
        let (_, body) = fx.get(&format!("{logs}&type=stdout&{query}")).await;
        assert!(data_of(&frames_of(body)) == want, "{query} (frames)");
    }
    let (_, body) = fx
        .get(&format!("{logs}&type=stdout&origin=end&offset=700"))
        .await;
    let frames = frames_of(body);
    assert_eq!(frames[0].file, "alloc/logs/web.stdout.1");
    assert_eq!(frames[0].offset, 1000);
}

#[tokio::test]
async fn logs_large_stream_in_big_frames() {
    let fx = Fixture::new().await;
    let data = pattern(12 << 20);
    fx.collect("web.stdout", &data, 5 << 20);
    let (status, body) = fx
        .get(&format!("/v1/client/fs/logs/{ALLOC}?task=web&type=stdout"))
        .await;
    assert_eq!(status, 200);
    let frames = frames_of(body);
    assert!(frames.len() <= 40, "{} frames", frames.len());
    assert!(data_of(&frames) == data);
}

/// Reads a streaming response, parsing frames as they arrive.
struct FrameReader {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buf: Vec<u8>,
    frames: Vec<StreamFrame>,
    ended: bool,
}

impl FrameReader {
    async fn open(fx: &Fixture, path_and_query: &str) -> FrameReader {
        let resp = fx
            .http
            .get(format!("{}{path_and_query}", fx.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        FrameReader {
            stream: resp.bytes_stream().boxed(),
            buf: Vec::new(),
            frames: Vec::new(),
            ended: false,
        }
    }

    /// Reads until `done(frames)` holds or the body ends; panics after `secs`.
    async fn until(&mut self, secs: u64, what: &str, done: impl Fn(&[StreamFrame], bool) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !done(&self.frames, self.ended) {
            assert!(!self.ended, "stream ended before: {what}");
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("timed out waiting for: {what}"),
                Ok(None) => self.ended = true,
                Ok(Some(chunk)) => {
                    self.buf.extend_from_slice(&chunk.unwrap());
                    let new = drain_frames(&mut self.buf);
                    self.frames.extend(new);
                }
            }
        }
    }
}

#[tokio::test]
async fn logs_follow_tails_rotates_heartbeats_and_ends_when_task_dead() {
    let fx = Fixture::new().await;
    let path0 = fx.logs_dir().join("web.stdout.0");
    append(&path0, b"before\n");
    let mut reader = FrameReader::open(
        &fx,
        &format!("/v1/client/fs/logs/{ALLOC}?task=web&type=stdout&follow=true"),
    )
    .await;
    reader
        .until(5, "existing bytes", |f, _| data_of(f) == b"before\n")
        .await;

    reader
        .until(5, "a heartbeat while idle", |f, _| {
            f.last().is_some_and(StreamFrame::is_heartbeat)
        })
        .await;

    append(&path0, b"after\n");
    append(&fx.logs_dir().join("web.stdout.1"), b"rotated\n");
    let want = b"before\nafter\nrotated\n";
    reader
        .until(5, "appended and rotated bytes", |f, _| data_of(f) == want)
        .await;
    let last = reader
        .frames
        .iter()
        .rfind(|f| !f.is_heartbeat())
        .unwrap()
        .clone();
    assert_eq!(
        (last.file.as_str(), last.offset),
        ("alloc/logs/web.stdout.1", 8)
    );

    // The task dies; its last words land after that and are still sent.
    fx.allocs.dead.store(true, Ordering::SeqCst);
    append(&fx.logs_dir().join("web.stdout.1"), b"bye\n");
    reader.until(5, "the stream to end", |_, ended| ended).await;
    assert_eq!(data_of(&reader.frames), b"before\nafter\nrotated\nbye\n");
}

#[tokio::test]
async fn logs_follow_plain_ends_when_task_already_dead() {
    let fx = Fixture::new().await;
    fx.collect("web.stderr", b"fatal: no config\n", 1000);
    fx.allocs.dead.store(true, Ordering::SeqCst);
    let q = format!("/v1/client/fs/logs/{ALLOC}?task=web&type=stderr&follow=true&plain=true");
    let got = tokio::time::timeout(Duration::from_secs(5), fx.get(&q))
        .await
        .expect("follow of a dead task ends");
    assert_eq!(got, (200, b"fatal: no config\n".to_vec()));
}

#[tokio::test]
async fn stream_a_file_with_truncation_and_deletion() {
    let fx = Fixture::new().await;
    let file = fx.allocs.dir.data_dir().join("out.txt");
    append(&file, b"0123456789");
    let (_, body) = fx
        .get(&format!(
            "/v1/client/fs/stream/{ALLOC}?path=alloc/data/out.txt&follow=false&origin=end&offset=4"
        ))
        .await;
    let frames = frames_of(body);
    assert_eq!(data_of(&frames), b"6789");
    assert_eq!(
        (frames[0].file.as_str(), frames[0].offset),
        ("alloc/data/out.txt", 10)
    );

    let mut reader = FrameReader::open(
        &fx,
        &format!("/v1/client/fs/stream/{ALLOC}?path=alloc/data/out.txt"),
    )
    .await;
    reader
        .until(5, "the file", |f, _| data_of(f) == b"0123456789")
        .await;
    std::fs::write(&file, b"new").unwrap();
    reader
        .until(5, "a truncate event", |f, _| {
            f.iter().any(|f| f.file_event == "file truncated")
        })
        .await;
    reader
        .until(5, "new bytes", |f, _| data_of(f) == b"0123456789new")
        .await;
    std::fs::remove_file(&file).unwrap();
    reader.until(5, "the stream to end", |_, ended| ended).await;
    assert_eq!(
        reader.frames.last().map(|f| f.file_event.as_str()),
        Some("file deleted")
    );
}

#[tokio::test]
async fn frames_match_the_api_type() {
    let fx = Fixture::new().await;
    fx.collect("web.stdout", "ünïcode \"quoted\"\n".as_bytes(), 1000);
    let (_, body) = fx
        .get(&format!("/v1/client/fs/logs/{ALLOC}?task=web&type=stdout"))
        .await;
    let frames = frames_of(body.clone());
    assert_eq!(serde_json::to_vec(&frames[0]).unwrap(), body);
}

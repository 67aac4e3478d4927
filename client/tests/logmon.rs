//! The log collector: rotation through the real `drover-logmon` process,
//! resumed rotation, the reader over rotated files, and a property test of
//! the rotation invariants through `logmon::collect`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use drover_client::logmon::{self, log_files, read_logs, LogStream, LogmonArgs, Origin};
use proptest::prelude::*;

fn args(dir: &Path, max_files: u32, max_file_size: u64) -> LogmonArgs {
    LogmonArgs {
        dir: dir.to_path_buf(),
        name: "web.stdout".to_string(),
        max_files,
        max_file_size,
    }
}

/// Runs the collector binary with `input` on stdin until it exits at EOF.
fn run_collector(a: &LogmonArgs, input: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_drover-logmon"))
        .args(a.to_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn drover-logmon");
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(input).expect("write to collector");
    }
    child.wait_with_output().expect("collector exits at EOF")
}

/// `(index, contents)` of every file of the stream, oldest first.
fn files(dir: &Path) -> Vec<(u64, String)> {
    log_files(dir, "web", LogStream::Stdout)
        .expect("list log files")
        .into_iter()
        .map(|f| {
            (
                f.index,
                std::fs::read_to_string(&f.path).expect("read log file"),
            )
        })
        .collect()
}

fn input(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

#[test]
fn rotation_keeps_at_most_max_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = args(tmp.path(), 3, 10);
    let out = run_collector(&a, &input(95));
    assert!(out.status.success(), "{out:?}");
    // 95 bytes in 10-byte files are indices 0..=9; the newest 3 are kept.
    let want = String::from_utf8(input(95)[70..].to_vec()).expect("ascii");
    assert_eq!(
        files(tmp.path()),
        vec![
            (7, want[..10].to_string()),
            (8, want[10..20].to_string()),
            (9, want[20..].to_string())
        ]
    );
}

#[test]
fn a_restarted_collector_resumes_the_highest_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = args(tmp.path(), 5, 10);
    assert!(run_collector(&a, b"abc").status.success());
    assert_eq!(files(tmp.path()), vec![(0, "abc".to_string())]);
    assert!(run_collector(&a, b"defghijkl").status.success());
    assert_eq!(
        files(tmp.path()),
        vec![(0, "abcdefghij".to_string()), (1, "kl".to_string())]
    );
    // Other files in the directory are left alone and not counted.
    std::fs::write(tmp.path().join("web.stderr.0"), "err").expect("write");
    std::fs::write(tmp.path().join("web.stdout.1.tmp"), "x").expect("write");
    assert!(run_collector(&a, b"mnopqrstuvw").status.success());
    assert_eq!(
        files(tmp.path()),
        vec![
            (0, "abcdefghij".to_string()),
            (1, "klmnopqrst".to_string()),
            (2, "uvw".to_string())
        ]
    );
}

#[test]
fn bad_arguments_are_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_drover-logmon"))
        .args([
            "--dir",
            "/tmp",
            "--name",
            "web.stdout",
            "--max-files",
            "0",
            "--max-file-size",
            "10",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run drover-logmon");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--max-files must be a positive integer"),
        "{stderr}"
    );

    let check = |argv: &[&str], want: &str| {
        let err = logmon::parse_args(argv.iter().map(|s| s.to_string())).expect_err("usage error");
        assert!(
            err.to_string().contains(want),
            "{err} does not contain {want}"
        );
    };
    check(&["--dir"], "--dir needs a value");
    check(&["--dir", "/x", "--name", "a/b"], "bad --name");
    check(&["--bogus", "1"], "unknown flag");
    check(
        &["--dir", "/x", "--name", "w", "--max-files", "2"],
        "missing --max-file-size",
    );
    check(
        &[
            "--dir",
            "/x",
            "--name",
            "w",
            "--max-files",
            "x",
            "--max-file-size",
            "1",
        ],
        "positive integer",
    );
}

#[test]
fn reader_spans_rotated_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    assert!(run_collector(&args(dir, 3, 4), b"0123456789")
        .status
        .success());
    // Files: .0 "0123", .1 "4567", .2 "89".
    let read = |origin, offset, limit| {
        read_logs(dir, "web", LogStream::Stdout, origin, offset, limit).expect("read")
    };

    let all = read(Origin::Start, 0, 100);
    assert_eq!(all.data, b"0123456789");
    assert_eq!(all.start.as_ref().map(|(f, o)| (f.index, *o)), Some((0, 0)));
    assert_eq!(all.end.as_ref().map(|(f, o)| (f.index, *o)), Some((2, 2)));

    let mid = read(Origin::Start, 3, 4);
    assert_eq!(mid.data, b"3456");
    assert_eq!(mid.start.as_ref().map(|(f, o)| (f.index, *o)), Some((0, 3)));
    assert_eq!(mid.end.as_ref().map(|(f, o)| (f.index, *o)), Some((1, 3)));

    assert_eq!(read(Origin::End, 3, 100).data, b"789");
    assert_eq!(read(Origin::End, 100, 2).data, b"01");
    let past = read(Origin::Start, 100, 10);
    assert!(past.data.is_empty());
    assert_eq!(past.end.as_ref().map(|(f, o)| (f.index, *o)), Some((2, 2)));

    let none = read_logs(
        &dir.join("missing"),
        "web",
        LogStream::Stdout,
        Origin::Start,
        0,
        10,
    )
    .expect("read");
    assert_eq!(none, logmon::LogRead::default());
    assert_eq!(LogStream::parse("stderr"), Some(LogStream::Stderr));
    assert_eq!(LogStream::parse("both"), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the chunking: files never exceed the max size, at most
    /// `max_files` are kept, and the kept files are the input's tail.
    #[test]
    fn rotation_invariants(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20),
        max_files in 1u32..5,
        max_size in 1u64..30,
    ) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let a = args(tmp.path(), max_files, max_size);
        let all: Vec<u8> = chunks.concat();
        logmon::collect(ChunkReader { chunks, next: 0 }, &a).expect("collect");

        let kept = log_files(tmp.path(), "web", LogStream::Stdout).expect("list");
        prop_assert!(!kept.is_empty() && kept.len() <= max_files as usize);
        prop_assert!(kept.iter().all(|f| f.size <= max_size));
        let mut joined = Vec::new();
        for f in &kept {
            joined.extend(std::fs::read(&f.path).expect("read"));
        }
        prop_assert!(all.ends_with(&joined));
        // Every file but the newest is full.
        prop_assert!(kept[..kept.len() - 1].iter().all(|f| f.size == max_size));
        let expect_last = ((all.len() as u64).saturating_sub(1)) / max_size;
        prop_assert_eq!(kept.last().map(|f| f.index), Some(expect_last));
    }
}

/// Hands out the chunks one `read` at a time, like a pipe would.
struct ChunkReader {
    chunks: Vec<Vec<u8>>,
    next: usize,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(chunk) = self.chunks.get_mut(self.next) else {
                return Ok(0);
            };
            if chunk.is_empty() {
                self.next += 1;
                continue;
            }
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            chunk.drain(..n);
            return Ok(n);
        }
    }
}

#[test]
fn a_bad_second_stream_name_is_a_usage_error() {
    let run = |extra: &[&str]| {
        let args: Vec<String> = ["--dir", "/tmp", "--name", "t.stdout", "--max-files", "1"]
            .iter()
            .chain(["--max-file-size", "1"].iter())
            .chain(extra.iter())
            .map(|s| s.to_string())
            .collect();
        drover_client::logmon::run(args).map_err(|e| e.to_string())
    };
    let err = run(&["--fd3-name"]).unwrap_err();
    assert!(err.contains("--fd3-name needs a value"), "{err}");
    let err = run(&["--fd3-name", "../x"]).unwrap_err();
    assert!(err.contains("bad --fd3-name \"../x\""), "{err}");
}

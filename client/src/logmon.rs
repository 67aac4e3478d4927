//! Task log collection and rotation (Nomad's logmon), plus a reader over the
//! rotated files for the `/v1/client/fs/logs` endpoint.
//!
//! Process model: for each task the driver starts one collector process
//! (`drover-logmon`, or the root binary's hidden subcommand) in its own
//! session, with the read end of the task's stdout pipe as its stdin and,
//! with [`FD3_NAME_FLAG`], the stderr pipe as its fd 3 (copied on a second
//! thread). The collector copies each into rotating files until EOF, which
//! comes when the task and every process that inherited its output have
//! exited. Because the collector is not part of the agent, the
//! agent can be killed with -9 and restarted while the task keeps running
//! and its output keeps landing in the files; the collector needs nothing
//! from the agent after it started. (Nomad's logmon is a go-plugin the
//! agent re-attaches to; ours needs no re-attaching because it holds the
//! pipe itself, not a FIFO the agent reopens.)
//!
//! Files are `<dir>/<task>.<stream>.<N>`; N grows, the highest is the file
//! being written, at most `max_files` are kept and the oldest are deleted.
//! A restarted collector appends to the highest existing index, so rotation
//! resumes instead of overwriting `.0`.
//!
//! The collector never stops reading: if a write fails (disk full, the
//! directory removed) the chunk is dropped and the file reopened on the next
//! one, so a task is never blocked on a full pipe by its log collector.
//!
//! Architecture Invariant: the collector uses only std and blocking I/O; it
//! must start fast and stay small, one per task.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Settings of one collector: which files it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogmonArgs {
    /// Directory of the log files (`<alloc_dir>/alloc/logs`).
    pub dir: PathBuf,
    /// File name before the index: `<task>.stdout` or `<task>.stderr`.
    pub name: String,
    /// Files kept, at least 1.
    pub max_files: u32,
    /// Bytes per file before rotating, at least 1.
    pub max_file_size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LogmonError {
    #[error("usage: drover-logmon --dir DIR --name TASK.STREAM --max-files N --max-file-size BYTES ({0})")]
    Usage(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl LogmonArgs {
    /// The command-line form [`parse_args`] reads; the driver appends it to
    /// the collector program's own arguments.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--dir".into(),
            self.dir.to_string_lossy().into_owned(),
            "--name".into(),
            self.name.clone(),
            "--max-files".into(),
            self.max_files.to_string(),
            "--max-file-size".into(),
            self.max_file_size.to_string(),
        ]
    }
}

/// Parses `--dir DIR --name NAME --max-files N --max-file-size BYTES`.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<LogmonArgs, LogmonError> {
    let (mut dir, mut name, mut max_files, mut max_size) = (None, None, None, None);
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| LogmonError::Usage(format!("{flag} needs a value")))?;
        let number = || {
            value.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                LogmonError::Usage(format!("{flag} must be a positive integer, got {value:?}"))
            })
        };
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(&value)),
            "--name" => name = Some(check_name("--name", value.clone())?),
            "--max-files" => {
                let n = number()?;
                max_files = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            "--max-file-size" => max_size = Some(number()?),
            other => return Err(LogmonError::Usage(format!("unknown flag {other:?}"))),
        }
    }
    let missing = |f: &str| LogmonError::Usage(format!("missing {f}"));
    Ok(LogmonArgs {
        dir: dir.ok_or_else(|| missing("--dir"))?,
        name: name.ok_or_else(|| missing("--name"))?,
        max_files: max_files.ok_or_else(|| missing("--max-files"))?,
        max_file_size: max_size.ok_or_else(|| missing("--max-file-size"))?,
    })
}

/// The flag naming a second stream the collector copies, from file
/// descriptor 3 (raw_exec hands it the task's stderr there, so one
/// collector process serves both streams of a task).
pub const FD3_NAME_FLAG: &str = "--fd3-name";

/// The collector's main: parses `args` (without the program name) and
/// copies stdin into rotating files until EOF; with [`FD3_NAME_FLAG`], also
/// fd 3 into the files of that name, on a second thread.
pub fn run<I: IntoIterator<Item = String>>(args: I) -> Result<(), LogmonError> {
    let mut rest = Vec::new();
    let mut fd3_name = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == FD3_NAME_FLAG {
            let value = it
                .next()
                .ok_or_else(|| LogmonError::Usage(format!("{FD3_NAME_FLAG} needs a value")))?;
            fd3_name = Some(check_name(FD3_NAME_FLAG, value)?);
        } else {
            rest.push(arg);
        }
    }
    let args = parse_args(rest)?;
    let second = fd3_name.map(|name| {
        let second = LogmonArgs {
            name,
            ..args.clone()
        };
        // SAFETY: fd 3 is the read end the spawner placed there for this
        // process alone; nothing else in this process uses it. If it is
        // not open, reads fail with EBADF and `collect` reports that.
        let input = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(3) };
        std::thread::spawn(move || collect(input, &second))
    });
    let first = collect(io::stdin().lock(), &args);
    if let Some(handle) = second {
        handle
            .join()
            .map_err(|_| LogmonError::Usage("the fd 3 collector stopped unexpectedly".into()))??;
    }
    first
}

/// A log file name for `flag`: not empty, no `/`.
fn check_name(flag: &str, value: String) -> Result<String, LogmonError> {
    if value.is_empty() || value.contains('/') {
        return Err(LogmonError::Usage(format!("bad {flag} {value:?}")));
    }
    Ok(value)
}

/// Copies `input` into the rotating files of `args` until EOF.
pub fn collect<R: Read>(mut input: R, args: &LogmonArgs) -> Result<(), LogmonError> {
    fs::create_dir_all(&args.dir).map_err(|source| LogmonError::Io {
        context: format!("creating {}", args.dir.display()),
        source,
    })?;
    let mut rotator = FileRotator::open(args).map_err(|source| LogmonError::Io {
        context: format!("opening log file {}", args.name),
        source,
    })?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(LogmonError::Io {
                    context: "reading task output".into(),
                    source,
                });
            }
        };
        if let Err(e) = rotator.write(&buf[..n]) {
            // Dropping the chunk keeps the pipe drained; see the module doc.
            eprintln!("drover-logmon: {}: dropped {n} bytes: {e}", args.name);
            rotator.file = None;
        }
    }
}

/// Writes into `<dir>/<name>.<index>`, moving to the next index when the
/// current file is full.
struct FileRotator {
    dir: PathBuf,
    name: String,
    max_files: u64,
    max_size: u64,
    index: u64,
    /// `None` after a write error: reopened (appending) on the next write.
    file: Option<File>,
    size: u64,
}

impl FileRotator {
    fn open(args: &LogmonArgs) -> io::Result<FileRotator> {
        let index = indices(&args.dir, &args.name)?.last().copied().unwrap_or(0);
        let mut rotator = FileRotator {
            dir: args.dir.clone(),
            name: args.name.clone(),
            max_files: u64::from(args.max_files.max(1)),
            max_size: args.max_file_size.max(1),
            index,
            file: None,
            size: 0,
        };
        rotator.reopen()?;
        rotator.purge();
        Ok(rotator)
    }

    fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("{}.{index}", self.name))
    }

    fn reopen(&mut self) -> io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(self.index))?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    fn write(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            if self.file.is_none() {
                self.reopen()?;
            }
            if self.size >= self.max_size {
                self.rotate()?;
            }
            let room = usize::try_from(self.max_size - self.size).unwrap_or(usize::MAX);
            let n = room.min(buf.len());
            let Some(file) = self.file.as_mut() else {
                continue;
            };
            file.write_all(&buf[..n])?;
            self.size += n as u64;
            buf = &buf[n..];
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.index += 1;
        self.file = None;
        let file = File::create(self.path(self.index))?;
        self.file = Some(file);
        self.size = 0;
        self.purge();
        Ok(())
    }

    /// Deletes files older than the newest `max_files`. Best effort: a file
    /// that cannot be listed or removed now is retried on the next rotation.
    fn purge(&self) {
        let Ok(all) = indices(&self.dir, &self.name) else {
            return;
        };
        let keep_from = (self.index + 1).saturating_sub(self.max_files);
        for i in all.into_iter().filter(|i| *i < keep_from) {
            let _ = fs::remove_file(self.path(i));
        }
    }
}

/// Indices of the existing `<name>.<N>` files in `dir`, ascending.
fn indices(dir: &Path, name: &str) -> io::Result<Vec<u64>> {
    let prefix = format!("{name}.");
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        // Digits only: `task.stdout.3` but not `task.stdout.3.tmp`.
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(i) = rest.parse() {
                out.push(i);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Which output of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }

    /// `stdout` or `stderr`, as in the logs endpoint's `type` parameter.
    pub fn parse(s: &str) -> Option<LogStream> {
        match s {
            "stdout" => Some(LogStream::Stdout),
            "stderr" => Some(LogStream::Stderr),
            _ => None,
        }
    }
}

/// The file name prefix of a task stream: `<task>.<stream>`.
pub fn log_name(task: &str, stream: LogStream) -> String {
    format!("{task}.{}", stream.as_str())
}

/// One rotated log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub index: u64,
    pub path: PathBuf,
    pub size: u64,
}

/// The task stream's files, oldest first (the last one is being written).
/// Empty when the task has not produced any yet (or the dir is missing).
pub fn log_files(dir: &Path, task: &str, stream: LogStream) -> io::Result<Vec<LogFile>> {
    let name = log_name(task, stream);
    let all = match indices(dir, &name) {
        Ok(all) => all,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for index in all {
        let path = dir.join(format!("{name}.{index}"));
        match fs::metadata(&path) {
            Ok(m) => out.push(LogFile {
                index,
                path,
                size: m.len(),
            }),
            // Rotated away between the listing and now.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Where a read starts, as in the logs endpoint's `origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `offset` bytes after the start of the oldest kept file.
    Start,
    /// `offset` bytes before the end of the newest file.
    End,
}

/// Bytes read by [`read_logs`] and where they came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRead {
    pub data: Vec<u8>,
    /// The file and offset within it of the first byte read, if any file
    /// existed.
    pub start: Option<(LogFile, u64)>,
    /// The file and offset within it just after the last byte read, so a
    /// follower can continue from there.
    pub end: Option<(LogFile, u64)>,
}

/// Reads up to `limit` bytes of a task stream. The kept files, oldest
/// first, are treated as one byte sequence; `origin` and `offset` pick the
/// first byte (an offset past either end is clamped). Files rotated away
/// while reading are skipped, so the result is what was readable, not an
/// error.
pub fn read_logs(
    dir: &Path,
    task: &str,
    stream: LogStream,
    origin: Origin,
    offset: u64,
    limit: usize,
) -> io::Result<LogRead> {
    let files = log_files(dir, task, stream)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    let mut skip = match origin {
        Origin::Start => offset.min(total),
        Origin::End => total.saturating_sub(offset),
    };
    let mut out = LogRead::default();
    let mut want = limit;
    for file in files {
        if skip >= file.size {
            skip -= file.size;
            // Remember the end of the last file in case nothing is read.
            out.end = Some((file.clone(), file.size));
            continue;
        }
        let mut f = match File::open(&file.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        f.seek(SeekFrom::Start(skip))?;
        let mut chunk = Vec::new();
        f.take(want as u64).read_to_end(&mut chunk)?;
        if out.start.is_none() {
            out.start = Some((file.clone(), skip));
        }
        let end = skip + chunk.len() as u64;
        want -= chunk.len();
        out.data.extend_from_slice(&chunk);
        out.end = Some((file, end));
        skip = 0;
        if want == 0 {
            break;
        }
    }
    if out.start.is_none() {
        out.start = out.end.clone();
    }
    Ok(out)
}
/// Where the last `lines` lines of a task stream start, as a byte offset
/// from the start of the kept files (the `Origin::Start` offset of the
/// logs endpoint; Drover's `lines=N` extension, like `tail -n`). Counted
/// from the start, not back from the end, so bytes the task writes
/// meanwhile do not move the position. A final newline ends the last line rather than starting an
/// empty one, and a last line without a newline counts. Reads backwards
/// through the kept files, newest first, in chunks, so a long log costs
/// only what is read of its tail; fewer lines than asked is all of it.
pub fn tail_lines_offset(dir: &Path, task: &str, stream: LogStream, lines: u64) -> io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let files = log_files(dir, task, stream)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    if lines == 0 {
        return Ok(total);
    }
    let mut back = 0u64; // bytes from the end already scanned
    let mut newlines = 0u64;
    let mut first = true; // the very last byte of the stream is next
    let mut buf = Vec::new();
    for file in files.iter().rev() {
        let mut f = match File::open(&file.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(e),
        };
        // The size listed, not the size now: bytes appended since count
        // as after the end, so offsets stay consistent with the listing.
        let mut end = file.size;
        while end > 0 {
            let start = end.saturating_sub(CHUNK);
            let len = usize::try_from(end - start).unwrap_or(0);
            buf.resize(len, 0);
            f.seek(SeekFrom::Start(start))?;
            f.read_exact(&mut buf)?;
            for (i, b) in buf.iter().enumerate().rev() {
                if std::mem::take(&mut first) && *b == b'\n' {
                    continue;
                }
                if *b == b'\n' {
                    newlines += 1;
                    if newlines == lines {
                        // The line starts just after this newline.
                        return Ok(total - back - (len - i - 1) as u64);
                    }
                }
            }
            back += len as u64;
            end = start;
        }
    }
    Ok(total - back)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` as `t.stdout.0`, `.1`, ... and returns what
    /// `lines=n` selects, as text.
    #[track_caller]
    fn check(files: &[&str], n: u64, want: &str) {
        let dir = tempfile::tempdir().unwrap();
        for (i, content) in files.iter().enumerate() {
            fs::write(dir.path().join(format!("t.stdout.{i}")), content).unwrap();
        }
        let at = tail_lines_offset(dir.path(), "t", LogStream::Stdout, n).unwrap();
        let all: String = files.concat();
        assert_eq!(
            &all[usize::try_from(at).unwrap()..],
            want,
            "files {files:?}, n {n}"
        );
    }

    #[test]
    fn tail_lines() {
        check(&["a\nb\nc\n"], 2, "b\nc\n");
        check(&["a\nb\nc"], 2, "b\nc");
        check(&["a\nb\nc\n"], 3, "a\nb\nc\n");
        check(&["a\nb\nc\n"], 9, "a\nb\nc\n");
        check(&["a\nb\nc\n"], 0, "");
        check(&["a\nb", "\nc\nd\n"], 3, "b\nc\nd\n");
        check(&["a\nb\n", "", "c\n"], 2, "b\nc\n");
        check(&["\n\n\n"], 2, "\n\n");
        check(&[], 5, "");
    }
}

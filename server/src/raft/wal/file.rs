//! The files of the log: segments (opened, created and preallocated by
//! the flusher, read by anyone), the directory lock, atomic replacement.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::WalError;

/// One segment file. The flusher creates the file; readers only read
/// records the flusher already wrote, so the file is open by then.
#[derive(Debug)]
pub(super) struct Segment {
    pub(super) first: u64,
    pub(super) path: PathBuf,
    /// Bytes to preallocate.
    pub(super) size: u64,
    pub(super) file: OnceLock<File>,
}

impl Segment {
    pub(super) fn new(dir: &Path, first: u64, size: u64) -> Arc<Segment> {
        Arc::new(Segment {
            first,
            path: dir.join(format!("{first:020}.seg")),
            size,
            file: OnceLock::new(),
        })
    }

    /// The open file, for reading a record the flusher wrote (or one found
    /// on open).
    pub(super) fn file(&self) -> io::Result<&File> {
        if let Some(f) = self.file.get() {
            return Ok(f);
        }
        let f = OpenOptions::new().read(true).write(true).open(&self.path)?;
        Ok(self.file.get_or_init(|| f))
    }

    /// Open or create the file and make sure it is preallocated. Returns
    /// whether it was opened just now (it may have been created, so the
    /// directory needs a sync; a retry after a failed preallocation lands
    /// here again and syncs it too).
    pub(super) fn open(&self) -> io::Result<(&File, bool)> {
        if let Some(f) = self.file.get() {
            return Ok((f, false));
        }
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)?;
        preallocate(&f, self.size)?;
        Ok((self.file.get_or_init(|| f), true))
    }
}

/// Reserve `size` bytes for `f` (mode 0: the file grows, new bytes read as
/// zeros). Filesystems without `fallocate` get the size set instead.
pub(super) fn preallocate(f: &File, size: u64) -> io::Result<()> {
    let len = f.metadata()?.len();
    if len >= size {
        return Ok(());
    }
    let off = libc::off_t::try_from(len).map_err(io::Error::other)?;
    let add = libc::off_t::try_from(size - len).map_err(io::Error::other)?;
    // SAFETY: fallocate on an fd we own, with in-range offsets.
    let rc = unsafe { libc::fallocate(f.as_raw_fd(), 0, off, add) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EOPNOTSUPP) {
        return f.set_len(size);
    }
    Err(err)
}

/// Take the directory's lock, waiting up to `wait` for another process
/// (typically one just killed, whose descriptors the kernel is closing).
pub(super) fn lock_dir(dir: &Path, wait: Duration) -> Result<File, WalError> {
    let path = dir.join("LOCK");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(super::io_at(&path))?;
    let started = Instant::now();
    let mut told = false;
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(f);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(WalError::Io { path, source: err });
        }
        if started.elapsed() >= wait {
            return Err(WalError::Locked {
                path,
                waited: started.elapsed(),
            });
        }
        if !told {
            tracing::warn!(path = %path.display(), "waiting for another process to release the Raft log");
            told = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Replace `path` with `bytes` durably: temporary file, fsync, rename,
/// fsync of the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

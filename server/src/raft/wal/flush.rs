//! The flusher thread: takes everything queued, writes and syncs it, then
//! acknowledges it (see the module doc of [`super`]).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::file::{preallocate, Segment};
use super::{io_at, Inner, Op, WalError};

pub(super) fn flush_loop(inner: &Inner) {
    let mut batch: Vec<Op> = Vec::new();
    let mut backoff = Duration::from_millis(50);
    loop {
        {
            let mut q = inner.queue();
            while q.ops.is_empty() && batch.is_empty() && !q.closed {
                q = inner.wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            if q.closed {
                return;
            }
            batch.append(&mut q.ops);
        }
        match execute(inner, &batch) {
            Ok(()) => {
                if inner.health.error().is_some() {
                    tracing::info!("the Raft log is writable again");
                    inner.health.set(None);
                }
                backoff = Duration::from_millis(50);
                finish(inner, std::mem::take(&mut batch));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot make the Raft log durable; retrying");
                inner.health.set(Some(e.to_string()));
                let q = inner.queue();
                if q.closed {
                    return;
                }
                let _ = inner.wake.wait_timeout(q, backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Write and sync everything in `batch`. Idempotent: a retry after a
/// failure does it all again.
fn execute(inner: &Inner, batch: &[Op]) -> Result<(), WalError> {
    let mut dirty: Vec<&Segment> = Vec::new();
    let mut dir_dirty = false;
    let mut run: Option<(&Segment, u64, Vec<u8>)> = None;
    let flush_run = |run: &mut Option<(&Segment, u64, Vec<u8>)>| -> Result<(), WalError> {
        if let Some((seg, off, buf)) = run.take() {
            let (f, _) = seg.open().map_err(io_at(&seg.path))?;
            f.write_all_at(&buf, off).map_err(io_at(&seg.path))?;
        }
        Ok(())
    };
    for op in batch {
        match op {
            Op::Write {
                seg, offset, bytes, ..
            } => {
                let (_, created) = seg.open().map_err(io_at(&seg.path))?;
                dir_dirty |= created;
                let contiguous = run.as_ref().is_some_and(|(s, off, buf)| {
                    std::ptr::eq(*s, seg.as_ref()) && off + buf.len() as u64 == *offset
                });
                if !contiguous {
                    flush_run(&mut run)?;
                    run = Some((seg.as_ref(), *offset, Vec::new()));
                }
                if let Some((_, _, buf)) = run.as_mut() {
                    buf.extend_from_slice(bytes);
                }
                mark(seg.as_ref(), &mut dirty);
            }
            Op::Cut { seg, offset, drop } => {
                flush_run(&mut run)?;
                let (f, created) = seg.open().map_err(io_at(&seg.path))?;
                dir_dirty |= created;
                f.set_len(*offset).map_err(io_at(&seg.path))?;
                preallocate(f, seg.size).map_err(io_at(&seg.path))?;
                mark(seg.as_ref(), &mut dirty);
                for d in drop {
                    remove(&d.path)?;
                    dir_dirty = true;
                }
            }
            Op::Remove(segs) => {
                flush_run(&mut run)?;
                for s in segs {
                    remove(&s.path)?;
                    dir_dirty = true;
                }
            }
            Op::Done(_) => {}
        }
    }
    flush_run(&mut run)?;
    for seg in &dirty {
        if let Some(f) = seg.file.get() {
            f.sync_data().map_err(io_at(&seg.path))?;
            inner.stats.syncs.fetch_add(1, Ordering::Relaxed);
        }
    }
    if dir_dirty {
        File::open(&inner.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(&inner.dir))?;
    }
    Ok(())
}

fn mark<'a>(seg: &'a Segment, dirty: &mut Vec<&'a Segment>) {
    if !dirty.iter().any(|d| std::ptr::eq(*d, seg)) {
        dirty.push(seg);
    }
}

fn remove(path: &Path) -> Result<(), WalError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(path)(e)),
    }
}

/// The batch is durable: drop the in-memory copies, then acknowledge.
fn finish(inner: &Inner, batch: Vec<Op>) {
    let mut written = 0u64;
    {
        let mut ix = inner.index();
        for op in &batch {
            if let Op::Write { bytes, index, .. } = op {
                written += 1;
                let Some(pos) = index.checked_sub(ix.first) else {
                    continue;
                };
                if let Some(loc) = ix.locs.get_mut(pos as usize) {
                    if loc.mem.as_ref().is_some_and(|m| Arc::ptr_eq(m, bytes)) {
                        loc.mem = None;
                    }
                }
            }
        }
    }
    inner.stats.records.fetch_add(written, Ordering::Relaxed);
    for op in batch {
        if let Op::Done(done) = op {
            done();
        }
    }
}

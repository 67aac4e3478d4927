//! The Raft log on disk: segment files of checksummed records, synced with
//! `fdatasync` by one flusher thread that commits every waiting append in
//! one sync (group commit).
//!
//! Layout of the directory:
//! - `LOCK`: held with `flock` while the log is open. A restart right after
//!   `kill -9` waits for the dead process to let go instead of failing.
//! - `<first index, 20 digits>.seg`: segments, preallocated to the segment
//!   size with `fallocate`, so a sync within a segment does not also commit
//!   a change of file size, and a full disk is met when a segment is
//!   created, not in the middle of one. Records: see [`record`].
//! - `meta`: the vote and the last purged log id, replaced atomically
//!   (temporary file, fsync, rename, fsync of the directory).
//! - `committed`: the commit pointer, overwritten in place without a sync.
//!   Losing it only means a restart applies less before the first commit.
//!
//! The write path: [`Wal::append`] encodes the records, places them (which
//! segment, which offset), makes them readable from memory and queues them;
//! it never touches the disk itself. The
//! flusher takes everything queued, writes it, syncs each touched file (and
//! the directory when a segment was made), and only then completes the
//! appends it covered and drops their in-memory copies. While one sync runs,
//! new appends queue up and share the next one.
//!
//! Failures are not fatal: when a write or sync fails (a full disk, an I/O
//! error) the flusher keeps the records it could not make durable, reports
//! the error through [`Wal::health`], and retries every write of the batch
//! before syncing again (after a failed `fdatasync` the kernel may have
//! dropped the dirty pages, so they are written again from memory). The
//! appends stay unacknowledged until then; once space is freed the retry
//! succeeds and the log is healthy again, without a restart.

mod file;
mod flush;
pub mod record;

pub use file::write_atomically;
use file::{lock_dir, preallocate, Segment};

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use record::RecordLoc;

/// etcd's segment size (`wal.SegmentSizeBytes`).
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

/// The segment size: `DROVER_RAFT_SEGMENT_SIZE` (bytes) when set, which
/// tests use to meet a full disk without writing 64 MiB first; otherwise
/// [`DEFAULT_SEGMENT_SIZE`].
pub fn segment_size_from_env() -> u64 {
    std::env::var("DROVER_RAFT_SEGMENT_SIZE")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n >= 4096)
        .unwrap_or(DEFAULT_SEGMENT_SIZE)
}
const LOCK_WAIT: Duration = Duration::from_secs(30);
const META: &str = "meta";
const COMMITTED: &str = "committed";

/// Called once the appended records are durable (or never, if the process
/// stops first).
pub type Durable = Box<dyn FnOnce() + Send>;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {corruption}")]
    Corrupt {
        path: PathBuf,
        corruption: record::Corruption,
    },
    #[error("{path}: another process holds the lock (waited {waited:?})")]
    Locked { path: PathBuf, waited: Duration },
    #[error("log entry {0} is not in the log")]
    Missing(u64),
    #[error("log entry {index} is {len} bytes, more than a record may hold")]
    TooLarge { index: u64, len: usize },
    #[error("the log was closed")]
    Closed,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where an entry is. `mem` holds the record until it is durable.
#[derive(Debug, Clone)]
struct Loc {
    seg: Arc<Segment>,
    rec: RecordLoc,
    mem: Option<Arc<Vec<u8>>>,
}

#[derive(Debug)]
struct Index {
    /// The index of `locs[0]` (one past the last purged when empty).
    first: u64,
    locs: VecDeque<Loc>,
    segments: BTreeMap<u64, Arc<Segment>>,
    /// Where the next record goes.
    active: Option<Arc<Segment>>,
    write_pos: u64,
    /// The index the active segment's next record must have; an append
    /// that does not continue it (after a snapshot was installed) starts a
    /// new segment, so every segment holds consecutive indexes.
    active_next: u64,
}

enum Op {
    Write {
        seg: Arc<Segment>,
        offset: u64,
        bytes: Arc<Vec<u8>>,
        index: u64,
    },
    Done(Durable),
    /// Cut `seg` at `offset` and delete `drop` (a truncation).
    Cut {
        seg: Arc<Segment>,
        offset: u64,
        drop: Vec<Arc<Segment>>,
    },
    /// Delete purged segments.
    Remove(Vec<Arc<Segment>>),
}

#[derive(Default)]
struct Queue {
    ops: Vec<Op>,
    closed: bool,
}

/// Whether the log can currently make writes durable.
#[derive(Debug, Default)]
pub struct Health {
    error: Mutex<Option<String>>,
}

impl Health {
    /// `None` when healthy; otherwise why appends are not becoming durable.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, e: Option<String>) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = e;
    }
}

/// Counters for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct WalStats {
    pub syncs: std::sync::atomic::AtomicU64,
    pub records: std::sync::atomic::AtomicU64,
}

struct Inner {
    dir: PathBuf,
    segment_size: u64,
    index: Mutex<Index>,
    queue: Mutex<Queue>,
    wake: Condvar,
    health: Health,
    stats: WalStats,
    _lock: File,
}

impl Inner {
    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, ops: impl IntoIterator<Item = Op>) {
        self.queue().ops.extend(ops);
        self.wake.notify_one();
    }
}

/// Stops and joins the flusher when the last [`Wal`] handle goes.
struct Closer {
    inner: Arc<Inner>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Closer {
    fn close(&self) {
        self.inner.queue().closed = true;
        self.inner.wake.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        self.close();
    }
}

/// What [`Wal::open`] found besides the records.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// MessagePack of the vote, opaque here.
    #[serde(default)]
    pub vote: Option<Vec<u8>>,
    /// The last purged index and its opaque log id.
    #[serde(default)]
    pub purged: Option<(u64, Vec<u8>)>,
}

/// A handle to the log. Clones share it.
#[derive(Clone)]
pub struct Wal {
    inner: Arc<Inner>,
    closer: Arc<Closer>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.inner.dir).finish()
    }
}

fn segment_first(name: &str) -> Option<u64> {
    name.strip_suffix(".seg")?.parse().ok()
}

impl Wal {
    /// Open (or create) the log in `dir`: take the lock, read the meta file,
    /// scan every segment, cut a torn tail, and start the flusher.
    pub fn open(dir: &Path, segment_size: u64) -> Result<(Wal, Meta), WalError> {
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        let lock = lock_dir(dir, LOCK_WAIT)?;
        let meta_path = dir.join(META);
        let meta: Meta = match fs::read(&meta_path) {
            Ok(b) => rmp_serde::from_slice(&b).map_err(|e| WalError::Io {
                path: meta_path.clone(),
                source: io::Error::other(e),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(io_at(&meta_path)(e)),
        };
        let purged: Option<u64> = meta.purged.as_ref().map(|p| p.0);
        let is_purged = |i: u64| purged.is_some_and(|p| i <= p);
        let mut firsts: Vec<u64> = Vec::new();
        for ent in fs::read_dir(dir).map_err(io_at(dir))? {
            let ent = ent.map_err(io_at(dir))?;
            if let Some(first) = ent.file_name().to_str().and_then(segment_first) {
                firsts.push(first);
            }
        }
        firsts.sort_unstable();
        let mut index = Index {
            first: purged.map_or(0, |p| p + 1),
            locs: VecDeque::new(),
            segments: BTreeMap::new(),
            active: None,
            write_pos: 0,
            active_next: 0,
        };
        let mut stale = Vec::new();
        for (i, &first) in firsts.iter().enumerate() {
            let newest = i + 1 == firsts.len();
            let path = dir.join(format!("{first:020}.seg"));
            // A segment wholly purged (a crash between the meta write and the
            // deletion) is deleted now.
            if firsts
                .get(i + 1)
                .is_some_and(|next| is_purged(next.saturating_sub(1)))
            {
                stale.push(path);
                continue;
            }
            let bytes = fs::read(&path).map_err(io_at(&path))?;
            let scanned =
                record::scan(&bytes, first, newest).map_err(|corruption| WalError::Corrupt {
                    path: path.clone(),
                    corruption,
                })?;
            if let Some(next) = firsts.get(i + 1) {
                let last = scanned.records.last().map_or(first, |r| r.index + 1);
                if last != *next {
                    return Err(WalError::Corrupt {
                        path: path.clone(),
                        corruption: record::Corruption {
                            offset: scanned.end,
                            what: format!(
                                "segment ends before index {last}, but the next begins at {next}"
                            ),
                        },
                    });
                }
            }
            if scanned.torn {
                tracing::warn!(
                    path = %path.display(),
                    offset = scanned.end,
                    "cutting a torn record at the end of the Raft log (it was never acknowledged)"
                );
            }
            let seg = Segment::new(dir, first, segment_size.max(bytes.len() as u64));
            drop(bytes);
            if newest {
                let (f, _) = seg.open().map_err(io_at(&seg.path))?;
                if scanned.torn {
                    // Zero everything from the cut on, durably.
                    f.set_len(scanned.end).map_err(io_at(&seg.path))?;
                    preallocate(f, seg.size).map_err(io_at(&seg.path))?;
                    f.sync_all().map_err(io_at(&seg.path))?;
                }
                index.active = Some(seg.clone());
                index.write_pos = scanned.end;
                index.active_next = scanned.records.last().map_or(first, |r| r.index + 1);
            }
            for rec in scanned.records {
                if !is_purged(rec.index) {
                    if index.locs.is_empty() {
                        index.first = rec.index;
                    }
                    index.locs.push_back(Loc {
                        seg: seg.clone(),
                        rec,
                        mem: None,
                    });
                }
            }
            index.segments.insert(first, seg);
        }
        for path in stale {
            fs::remove_file(&path).map_err(io_at(&path))?;
        }
        let resume = purged.map_or(0, |p| p + 1);
        if purged.is_some() && index.locs.front().is_some_and(|l| l.rec.index != resume) {
            return Err(WalError::Corrupt {
                path: dir.to_path_buf(),
                corruption: record::Corruption {
                    offset: 0,
                    what: format!(
                        "the log resumes at {} but {resume} follows the last purged index",
                        index.first
                    ),
                },
            });
        }
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            segment_size,
            index: Mutex::new(index),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            health: Health::default(),
            stats: WalStats::default(),
            _lock: lock,
        });
        let flusher = inner.clone();
        let thread = std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flush::flush_loop(&flusher))
            .map_err(io_at(dir))?;
        let closer = Arc::new(Closer {
            inner: inner.clone(),
            thread: Mutex::new(Some(thread)),
        });
        Ok((Wal { inner, closer }, meta))
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    pub fn stats(&self) -> &WalStats {
        &self.inner.stats
    }

    /// Stop the flusher. Appends not yet durable stay unacknowledged.
    pub fn close(&self) {
        self.closer.close();
    }

    /// `(first, last)` indexes held, `None` when empty.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        let ix = self.inner.index();
        let n = ix.locs.len() as u64;
        (n > 0).then(|| (ix.first, ix.first + n - 1))
    }

    /// Queue `records` (index, payload), which must continue the log
    /// without a gap, and call `done` once they are durable. Returns at
    /// once; the records are readable immediately.
    pub fn append(&self, records: Vec<(u64, Vec<u8>)>, done: Durable) -> Result<(), WalError> {
        let mut ops = Vec::with_capacity(records.len() + 1);
        {
            let mut ix = self.inner.index();
            // Check the whole batch before changing anything, so a refused
            // append leaves no half-placed records behind.
            let mut expect = (!ix.locs.is_empty()).then(|| ix.first + ix.locs.len() as u64);
            for (index, payload) in &records {
                if let Some(e) = expect.filter(|e| e != index) {
                    return Err(WalError::Missing(e));
                }
                expect = Some(index + 1);
                // What the scan on open would refuse is refused here.
                let fits = u32::try_from(payload.len()).is_ok_and(|n| n <= record::MAX_PAYLOAD);
                if !fits {
                    return Err(WalError::TooLarge {
                        index: *index,
                        len: payload.len(),
                    });
                }
            }
            for (index, payload) in records {
                if ix.locs.is_empty() {
                    ix.first = index;
                }
                let bytes = Arc::new(record::encode(index, &payload));
                let need = bytes.len() as u64;
                let roll = match &ix.active {
                    None => true,
                    Some(seg) => {
                        index != ix.active_next
                            || (ix.write_pos > 0 && ix.write_pos + need > seg.size)
                    }
                };
                if roll {
                    let seg =
                        Segment::new(&self.inner.dir, index, self.inner.segment_size.max(need));
                    ix.segments.insert(index, seg.clone());
                    ix.active = Some(seg);
                    ix.write_pos = 0;
                }
                let Some(seg) = ix.active.clone() else {
                    return Err(WalError::Closed);
                };
                let rec = RecordLoc {
                    index,
                    offset: ix.write_pos,
                    // Checked against MAX_PAYLOAD above.
                    len: payload.len() as u32,
                };
                ix.write_pos = rec.end();
                ix.active_next = index + 1;
                ix.locs.push_back(Loc {
                    seg: seg.clone(),
                    rec,
                    mem: Some(bytes.clone()),
                });
                ops.push(Op::Write {
                    seg,
                    offset: rec.offset,
                    bytes,
                    index,
                });
            }
        }
        ops.push(Op::Done(done));
        self.inner.push(ops);
        Ok(())
    }

    /// The payloads of `[from, to)` that are held (fewer when purged or past
    /// the end).
    pub fn read(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, WalError> {
        let locs: Vec<Loc> = {
            let ix = self.inner.index();
            let end = ix.first + ix.locs.len() as u64;
            let (lo, hi) = (from.max(ix.first), to.min(end));
            if lo >= hi {
                return Ok(Vec::new());
            }
            let a = (lo - ix.first) as usize;
            let b = (hi - ix.first) as usize;
            ix.locs.range(a..b).cloned().collect()
        };
        let mut out = Vec::with_capacity(locs.len());
        for loc in locs {
            let len = loc.rec.len as usize;
            let payload = match &loc.mem {
                Some(bytes) => bytes[record::HEADER..record::HEADER + len].to_vec(),
                None => read_record(&loc)?,
            };
            out.push((loc.rec.index, payload));
        }
        Ok(out)
    }

    /// Remove `[from, ∞)`, durably, before returning.
    pub async fn truncate(&self, from: u64) -> Result<(), WalError> {
        let op = {
            let mut ix = self.inner.index();
            let end = ix.first + ix.locs.len() as u64;
            if from >= end {
                return Ok(());
            }
            let keep = from.saturating_sub(ix.first) as usize;
            let Some(cut) = ix.locs.get(keep).cloned() else {
                return Ok(());
            };
            ix.locs.truncate(keep);
            let drop: Vec<Arc<Segment>> = ix
                .segments
                .split_off(&(cut.seg.first + 1))
                .into_values()
                .collect();
            ix.active = Some(cut.seg.clone());
            ix.write_pos = cut.rec.offset;
            ix.active_next = from;
            Op::Cut {
                seg: cut.seg,
                offset: cut.rec.offset,
                drop,
            }
        };
        self.barrier([op]).await
    }

    /// Forget `(-∞, upto]`; delete the segments that hold nothing newer.
    /// The caller has made the purge point durable first.
    pub fn purge(&self, upto: u64) {
        let gone = {
            let mut ix = self.inner.index();
            while ix.locs.front().is_some_and(|l| l.rec.index <= upto) {
                ix.locs.pop_front();
                ix.first += 1;
            }
            if ix.locs.is_empty() {
                ix.first = ix.first.max(upto + 1);
            }
            let active = ix.active.as_ref().map(|s| s.first);
            let keep_from = ix.locs.front().map_or(active, |l| Some(l.seg.first));
            match keep_from {
                Some(k) => {
                    let kept = ix.segments.split_off(&k);
                    std::mem::replace(&mut ix.segments, kept)
                }
                None => BTreeMap::new(),
            }
        };
        if !gone.is_empty() {
            self.inner.push([Op::Remove(gone.into_values().collect())]);
        }
    }

    /// Wait until everything queued before (and `ops`) is durable.
    async fn barrier(&self, ops: impl IntoIterator<Item = Op>) -> Result<(), WalError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let done: Durable = Box::new(move || {
            let _ = tx.send(());
        });
        self.inner.push(ops.into_iter().chain([Op::Done(done)]));
        rx.await.map_err(|_| WalError::Closed)
    }

    /// Wait until every append so far is durable.
    pub async fn sync(&self) -> Result<(), WalError> {
        self.barrier([]).await
    }

    /// Replace the meta file (vote, purge point) durably.
    pub fn save_meta(&self, meta: &Meta) -> Result<(), WalError> {
        let path = self.inner.dir.join(META);
        let bytes = rmp_serde::to_vec_named(meta).map_err(|e| WalError::Io {
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        write_atomically(&path, &bytes).map_err(io_at(&path))
    }

    /// Record the commit pointer, without a sync (see the module doc).
    pub fn save_committed(&self, bytes: &[u8]) -> Result<(), WalError> {
        let path = self.inner.dir.join(COMMITTED);
        let mut buf = Vec::with_capacity(bytes.len() + 8);
        buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        buf.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
        buf.extend_from_slice(bytes);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_at(&path))?;
        f.write_all_at(&buf, 0).map_err(io_at(&path))
    }

    /// The commit pointer last recorded, if it reads back whole.
    pub fn read_committed(&self) -> Option<Vec<u8>> {
        let b = fs::read(self.inner.dir.join(COMMITTED)).ok()?;
        let len = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
        let body = b.get(8..8 + len)?;
        (crc32fast::hash(body).to_le_bytes() == b[4..8]).then(|| body.to_vec())
    }
}

fn read_record(loc: &Loc) -> Result<Vec<u8>, WalError> {
    let f = loc.seg.file().map_err(io_at(&loc.seg.path))?;
    let mut buf = vec![0u8; record::HEADER + loc.rec.len as usize];
    f.read_exact_at(&mut buf, loc.rec.offset)
        .map_err(io_at(&loc.seg.path))?;
    let (header, payload) = buf.split_at(record::HEADER);
    if !record::verify_payload(header, payload) {
        return Err(WalError::Corrupt {
            path: loc.seg.path.clone(),
            corruption: record::Corruption {
                offset: loc.rec.offset,
                what: "payload checksum mismatch on read".into(),
            },
        });
    }
    Ok(payload.to_vec())
}

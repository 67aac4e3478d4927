//! The write-ahead log on real files: segments, reopen, truncation, purge,
//! torn tails cut at every byte offset, corruption reported with its file
//! and offset, group commit, and the directory lock.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use drover_server::raft::wal::{Wal, WalError};

const SEG: u64 = 4096;

fn payload(i: u64) -> Vec<u8> {
    // Varying lengths, some spanning several 512-byte sectors.
    let len = 1 + (i * 37 % 900) as usize;
    (0..len)
        .map(|b| (i as u8).wrapping_add(b as u8) | 1)
        .collect()
}

/// Append `range` and wait until it is durable.
fn append(wal: &Wal, range: std::ops::Range<u64>) {
    let (tx, rx) = mpsc::channel();
    let records = range.map(|i| (i, payload(i))).collect();
    wal.append(records, Box::new(move || tx.send(()).unwrap_or(())))
        .expect("append");
    rx.recv_timeout(Duration::from_secs(10)).expect("durable");
}

fn open(dir: &Path) -> Wal {
    Wal::open(dir, SEG).expect("opens").0
}

#[track_caller]
fn check_holds(wal: &Wal, range: std::ops::Range<u64>) {
    let got = wal.read(0, u64::MAX).expect("reads");
    let want: Vec<(u64, Vec<u8>)> = range.map(|i| (i, payload(i))).collect();
    assert_eq!(got.len(), want.len(), "entries held");
    assert!(got == want, "entries differ");
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn records_roll_over_segments_and_read_back_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = open(dir.path());
    append(&wal, 1..40);
    append(&wal, 40..60);
    check_holds(&wal, 1..60);
    drop(wal);
    assert!(segments(dir.path()).len() > 3, "small segments roll over");
    let wal = open(dir.path());
    check_holds(&wal, 1..60);
    append(&wal, 60..70);
    drop(wal);
    check_holds(&open(dir.path()), 1..70);
}

#[test]
fn appends_are_readable_before_they_are_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = open(dir.path());
    let (tx, rx) = mpsc::channel();
    wal.append(
        vec![(0, payload(0))],
        Box::new(move || tx.send(()).unwrap_or(())),
    )
    .expect("append");
    // Readable as soon as `append` returns, whether or not synced yet.
    assert_eq!(wal.read(0, 1).expect("reads"), vec![(0, payload(0))]);
    rx.recv_timeout(Duration::from_secs(10)).expect("durable");
}

#[test]
fn a_gap_in_appended_indexes_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = open(dir.path());
    append(&wal, 1..3);
    let err = wal
        .append(vec![(5, payload(5))], Box::new(|| {}))
        .expect_err("5 does not follow 2");
    assert!(matches!(err, WalError::Missing(3)), "{err}");
}

#[tokio::test]
async fn truncation_is_durable_and_the_log_continues_from_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = open(dir.path());
    append(&wal, 1..50);
    wal.truncate(20).await.expect("truncates");
    check_holds(&wal, 1..20);
    drop(wal);
    let wal = open(dir.path());
    check_holds(&wal, 1..20);
    // New entries at the truncated indexes (a new leader's) replace them.
    append(&wal, 20..30);
    drop(wal);
    check_holds(&open(dir.path()), 1..30);
}

#[tokio::test]
async fn purge_deletes_old_segments_and_reopen_skips_purged_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = open(dir.path());
    append(&wal, 0..80);
    let before = segments(dir.path()).len();
    let meta = drover_server::raft::wal::Meta {
        purged: Some((50, vec![1])),
        ..Default::default()
    };
    wal.save_meta(&meta).expect("meta");
    wal.purge(50);
    wal.sync().await.expect("sync");
    assert!(
        segments(dir.path()).len() < before,
        "whole segments deleted"
    );
    let got = wal.read(0, u64::MAX).expect("reads");
    assert_eq!(got.first().map(|r| r.0), Some(51));
    drop(wal);
    let (wal, meta) = Wal::open(dir.path(), SEG).expect("reopens");
    assert_eq!(meta.purged.map(|p| p.0), Some(50));
    check_holds(&wal, 51..80);
}

#[tokio::test]
async fn after_everything_is_purged_a_jump_starts_a_new_segment() {
    // An installed snapshot purges the whole log, then appends continue
    // past it: the segments must still hold consecutive indexes.
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = open(dir.path());
    append(&wal, 0..5);
    let meta = drover_server::raft::wal::Meta {
        purged: Some((100, vec![1])),
        ..Default::default()
    };
    wal.save_meta(&meta).expect("meta");
    wal.purge(100);
    append(&wal, 101..104);
    drop(wal);
    check_holds(&open(dir.path()), 101..104);
}

/// The newest segment and the byte range of its last record.
fn last_record(dir: &Path) -> (PathBuf, u64, u64) {
    let seg = segments(dir).pop().expect("a segment");
    let bytes = std::fs::read(&seg).expect("read");
    let first: u64 = seg
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("name");
    let scanned = drover_server::raft::wal::record::scan(&bytes, first, true).expect("scans");
    let last = scanned.records.last().expect("records");
    (
        seg,
        last.offset,
        last.payload_offset() + u64::from(last.len),
    )
}

#[test]
fn a_tail_cut_at_any_byte_loses_only_the_last_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    append(&open(dir.path()), 1..8);
    let (seg, start, end) = last_record(dir.path());
    let pristine = std::fs::read(&seg).expect("read");
    for cut in start..end {
        std::fs::write(&seg, &pristine[..cut as usize]).expect("cut");
        let wal = Wal::open(dir.path(), SEG)
            .unwrap_or_else(|e| panic!("cut at {cut}: does not open: {e}"))
            .0;
        check_holds(&wal, 1..7);
        // The log goes on where the torn record was.
        append(&wal, 7..9);
        drop(wal);
        check_holds(&open(dir.path()), 1..9);
        std::fs::write(&seg, &pristine).expect("restore");
    }
}

#[test]
fn a_record_torn_inside_a_preallocated_segment_is_cut() {
    // A crash mid-write in a preallocated file leaves zeroed sectors in the
    // record rather than a short file.
    let dir = tempfile::tempdir().expect("tempdir");
    append(&open(dir.path()), 1..4);
    let wal = open(dir.path());
    let (tx, rx) = mpsc::channel();
    // 2,000 bytes: at least two whole sectors, wherever it starts.
    wal.append(
        vec![(4, vec![9u8; 2000])],
        Box::new(move || tx.send(()).unwrap_or(())),
    )
    .expect("append");
    rx.recv_timeout(Duration::from_secs(10)).expect("durable");
    drop(wal);
    let (seg, start, end) = last_record(dir.path());
    let mut bytes = std::fs::read(&seg).expect("read");
    let sector = start.div_ceil(512) * 512;
    assert!(sector + 512 <= end, "the record spans a whole sector");
    bytes[sector as usize..end as usize].fill(0);
    std::fs::write(&seg, &bytes).expect("tear");
    check_holds(&open(dir.path()), 1..4);
}

#[test]
fn a_flipped_bit_is_an_error_naming_the_file_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    append(&open(dir.path()), 1..6);
    let (seg, start, end) = last_record(dir.path());
    let pristine = std::fs::read(&seg).expect("read");
    // Every byte of the header and of the payload, in the last record
    // (where a torn write could be mistaken for it) and in the first.
    let first_end = (24 + payload(1).len() as u64).div_ceil(32) * 32;
    for (lo, hi) in [(0u64, first_end), (start, end.div_ceil(32) * 32)] {
        for pos in lo..hi {
            let mut bytes = pristine.clone();
            bytes[pos as usize] ^= 0x10;
            std::fs::write(&seg, &bytes).expect("flip");
            let err = Wal::open(dir.path(), SEG)
                .err()
                .unwrap_or_else(|| panic!("a flipped bit at {pos} went unnoticed"));
            let msg = err.to_string();
            let record_at = if pos >= start { start } else { 0 };
            assert!(
                msg.contains(&seg.display().to_string())
                    && msg.contains(&format!("offset {record_at}")),
                "flip at {pos}: {msg}"
            );
        }
    }
    std::fs::write(&seg, &pristine).expect("restore");
    check_holds(&open(dir.path()), 1..6);
}

#[test]
fn garbage_after_the_last_record_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    append(&open(dir.path()), 1..3);
    let (seg, _, end) = last_record(dir.path());
    let mut bytes = std::fs::read(&seg).expect("read");
    let at = (end as usize).div_ceil(32) * 32 + 100;
    bytes[at] = 7;
    std::fs::write(&seg, &bytes).expect("write");
    let err = Wal::open(dir.path(), SEG).expect_err("refused");
    assert!(err.to_string().contains(&format!("offset {at}")), "{err}");
}

#[test]
fn concurrent_appends_share_syncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::open(dir.path(), 64 << 20).expect("opens").0;
    let (tx, rx) = mpsc::channel();
    const N: u64 = 2000;
    for i in 0..N {
        let tx = tx.clone();
        wal.append(
            vec![(i, payload(i))],
            Box::new(move || tx.send(i).unwrap_or(())),
        )
        .expect("append");
    }
    let mut order = Vec::new();
    for _ in 0..N {
        order.push(rx.recv_timeout(Duration::from_secs(20)).expect("durable"));
    }
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "acknowledged in order"
    );
    let syncs = wal.stats().syncs.load(Ordering::Relaxed);
    println!("{N} appends, {syncs} fdatasync calls");
    assert!(syncs < N / 4, "{syncs} syncs for {N} appends");
}

#[test]
fn a_second_opener_waits_for_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = open(dir.path());
    let path = dir.path().to_path_buf();
    let (tx, rx) = mpsc::channel();
    let second = std::thread::spawn(move || {
        let opened = Wal::open(&path, SEG).map(|_| ());
        tx.send(()).unwrap_or(());
        opened
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "the second opener must wait while the first holds the log"
    );
    drop(first);
    rx.recv_timeout(Duration::from_secs(10))
        .expect("opens once the first lets go");
    second.join().expect("thread").expect("opened");
}

#[test]
fn a_refused_append_places_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = open(dir.path());
    append(&wal, 1..3);
    // A gap inside the batch: the records before it are not placed either.
    let err = wal
        .append(vec![(3, payload(3)), (5, payload(5))], Box::new(|| {}))
        .expect_err("5 does not follow 3");
    assert!(matches!(err, WalError::Missing(4)), "{err}");
    // Larger than the scan on open accepts: refused, not written.
    let huge = vec![1u8; drover_server::raft::wal::record::MAX_PAYLOAD as usize + 1];
    let err = wal
        .append(vec![(3, huge)], Box::new(|| {}))
        .expect_err("too large");
    assert!(matches!(err, WalError::TooLarge { index: 3, .. }), "{err}");
    check_holds(&wal, 1..3);
    append(&wal, 3..4);
    drop(wal);
    check_holds(&open(dir.path()), 1..4);
}

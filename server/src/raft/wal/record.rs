//! The on-disk record format of the Raft log and the scan that reads a
//! segment back, telling a torn tail from corruption.
//!
//! A record starts on a 32-byte boundary:
//!
//! ```text
//! 0..4    payload length (u32, little endian, never 0)
//! 4..8    CRC-32 of the payload
//! 8..16   the entry's log index (u64)
//! 16..20  CRC-32 of bytes 0..16
//! 20..24  zero
//! 24..    payload (MessagePack of the openraft entry), then zeros to the
//!         next 32-byte boundary
//! ```
//!
//! The header has its own checksum and, starting on a 32-byte boundary,
//! never straddles a 512-byte sector, so a crash leaves a header either
//! whole or unwritten (zeros). That is what lets the scan tell the two
//! failures apart, as etcd's WAL decoder does (`wal/decoder.go`,
//! `isTornEntry`):
//! - a **torn tail**: the last record of the newest segment runs past the
//!   end of the file, or its payload fails its checksum and contains a
//!   zeroed sector, with nothing but zeros after it. The write was never
//!   acknowledged (acknowledgement follows the sync), so the record is cut
//!   off and the log opens.
//! - **corruption**: anything else that fails a check (a bad header
//!   checksum, a payload checksum failure without a zeroed sector, a record
//!   in an older segment, non-zero bytes after the end). That is an error
//!   naming the file and the offset, never a silent skip: it means a
//!   synced, acknowledged record changed on disk.

use std::fmt;

/// Records start at multiples of this.
pub const ALIGN: u64 = 32;
/// Header bytes before the payload.
pub const HEADER: usize = 24;
/// The largest payload accepted when reading (a bad length beyond it is
/// corruption, not a reason to allocate gigabytes).
pub const MAX_PAYLOAD: u32 = 256 << 20;
const SECTOR: u64 = 512;

/// A record's place in its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLoc {
    pub index: u64,
    /// Offset of the header within the segment.
    pub offset: u64,
    pub len: u32,
}

impl RecordLoc {
    /// The offset of the payload within the segment.
    pub fn payload_offset(&self) -> u64 {
        self.offset + HEADER as u64
    }

    /// Where the next record starts.
    pub fn end(&self) -> u64 {
        align(self.offset + HEADER as u64 + u64::from(self.len))
    }
}

/// Round `n` up to the record alignment.
pub fn align(n: u64) -> u64 {
    n.div_ceil(ALIGN) * ALIGN
}

/// The bytes of one record, padded to the alignment.
pub fn encode(index: u64, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(align((HEADER + payload.len()) as u64) as usize);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    let header_crc = crc32fast::hash(&out[..16]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(payload);
    out.resize(align(out.len() as u64) as usize, 0);
    out
}

/// Check a payload read back at `loc` (reads after open verify again, so a
/// record damaged while the server runs is an error, not bad data).
pub fn verify_payload(header: &[u8], payload: &[u8]) -> bool {
    header.len() >= 8 && crc32fast::hash(payload).to_le_bytes() == header[4..8]
}

/// Why a segment cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    pub offset: u64,
    pub what: String,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt record at offset {}: {}", self.offset, self.what)
    }
}

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub records: Vec<RecordLoc>,
    /// Where the next record goes (the end of the last good record).
    pub end: u64,
    /// Set when a torn tail was found at `end`: the file must be cut there.
    pub torn: bool,
}

/// Read the records of one segment. `first_index` is the index its name
/// promises for its first record; `newest` says whether this is the last
/// segment (only there can a tail be torn).
pub fn scan(bytes: &[u8], first_index: u64, newest: bool) -> Result<Scanned, Corruption> {
    let mut records = Vec::new();
    let mut pos: u64 = 0;
    let len = bytes.len() as u64;
    let mut expect = first_index;
    let torn = |records: Vec<RecordLoc>, pos: u64| {
        Ok(Scanned {
            records,
            end: pos,
            torn: true,
        })
    };
    loop {
        if pos >= len {
            return Ok(Scanned {
                records,
                end: pos,
                torn: false,
            });
        }
        let at = pos as usize;
        if len - pos < HEADER as u64 {
            let rest = &bytes[at..];
            if all_zero(rest) {
                return Ok(Scanned {
                    records,
                    end: pos,
                    torn: false,
                });
            }
            if newest {
                return torn(records, pos);
            }
            return Err(corrupt(pos, "partial record header in an older segment"));
        }
        let header = &bytes[at..at + HEADER];
        if all_zero(header) {
            // The end of the log in this segment: everything after is zero.
            if let Some(off) = bytes[at..].iter().position(|b| *b != 0) {
                return Err(corrupt(
                    pos + off as u64,
                    "non-zero bytes after the last record",
                ));
            }
            return Ok(Scanned {
                records,
                end: pos,
                torn: false,
            });
        }
        let word = |r: std::ops::Range<usize>| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&header[r]);
            u32::from_le_bytes(b)
        };
        if crc32fast::hash(&header[..16]) != word(16..20) || word(20..24) != 0 {
            return Err(corrupt(pos, "header checksum mismatch"));
        }
        let payload_len = word(0..4);
        let mut ix = [0u8; 8];
        ix.copy_from_slice(&header[8..16]);
        let index = u64::from_le_bytes(ix);
        if payload_len == 0 || payload_len > MAX_PAYLOAD {
            return Err(corrupt(pos, &format!("bad payload length {payload_len}")));
        }
        if index != expect {
            return Err(corrupt(
                pos,
                &format!("record holds index {index}, expected {expect}"),
            ));
        }
        let loc = RecordLoc {
            index,
            offset: pos,
            len: payload_len,
        };
        let payload_end = loc.payload_offset() + u64::from(payload_len);
        if payload_end > len {
            if newest {
                return torn(records, pos);
            }
            return Err(corrupt(pos, "record runs past the end of an older segment"));
        }
        let payload = &bytes[loc.payload_offset() as usize..payload_end as usize];
        if crc32fast::hash(payload) != word(4..8) {
            let next = loc.end().min(len) as usize;
            let tail_zero = all_zero(&bytes[next..]);
            if newest && tail_zero && has_zero_sector(bytes, pos, payload_end) {
                return torn(records, pos);
            }
            return Err(corrupt(pos, "payload checksum mismatch"));
        }
        let pad_end = loc.end().min(len) as usize;
        if !all_zero(&bytes[payload_end as usize..pad_end]) {
            return Err(corrupt(pos, "non-zero padding after the payload"));
        }
        records.push(loc);
        expect += 1;
        pos = loc.end();
    }
}

fn corrupt(offset: u64, what: &str) -> Corruption {
    Corruption {
        offset,
        what: what.to_string(),
    }
}

fn all_zero(b: &[u8]) -> bool {
    b.iter().all(|x| *x == 0)
}

/// Whether some whole 512-byte sector inside `[from, to)` is all zeros:
/// the mark of a write the crash cut short.
fn has_zero_sector(bytes: &[u8], from: u64, to: u64) -> bool {
    let mut s = from.div_ceil(SECTOR) * SECTOR;
    while s + SECTOR <= to {
        if all_zero(&bytes[s as usize..(s + SECTOR) as usize]) {
            return true;
        }
        s += SECTOR;
    }
    // A short record that ends in zeros: its last partial sector unwritten.
    let last = (to.saturating_sub(1) / SECTOR) * SECTOR;
    let start = last.max(from + HEADER as u64);
    start < to && all_zero(&bytes[start as usize..to as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(payloads: &[&[u8]], first: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            out.extend(encode(first + i as u64, p));
        }
        out
    }

    #[test]
    fn records_round_trip_with_alignment() {
        let bytes = log(&[b"a", &[7u8; 100], b"hello world"], 5);
        let s = scan(&bytes, 5, false).expect("scans");
        assert_eq!(s.records.len(), 3);
        assert_eq!(s.records[1].offset, 32);
        assert_eq!(s.records[2].index, 7);
        assert_eq!(s.end, bytes.len() as u64);
        assert!(!s.torn);
    }

    #[test]
    fn preallocated_zeros_end_the_log() {
        let mut bytes = log(&[b"a", b"b"], 1);
        let end = bytes.len() as u64;
        bytes.resize(4096, 0);
        let s = scan(&bytes, 1, true).expect("scans");
        assert_eq!((s.records.len(), s.end, s.torn), (2, end, false));
    }

    #[test]
    fn a_wrong_first_index_is_corruption() {
        let bytes = log(&[b"a"], 3);
        let e = scan(&bytes, 4, true).expect_err("index 3 is not 4");
        assert_eq!(e.offset, 0);
    }
}

//! How the binary files of a checkpoint (the log and the snapshots) are laid out, and how
//! every damage to them is told from the one thing a crash can leave: a record cut short at
//! the end of the file.
//!
//! A file is a header and records, all integers little-endian:
//!
//! ```text
//! header:  magic [8] | format u32 | mark u64 | CRC-32 of the 20 bytes before u32
//! record:  length u32 | CRC-32 of the payload u32 | CRC-32 of the 8 bytes before u32 | payload
//! ```
//!
//! The record header has a checksum of its own, so that a changed length is found as damage
//! rather than taken for a short write. No record header crosses a 4 KiB boundary of the file:
//! one that would is preceded by zeros up to the boundary. A write that a `kill -9`
//! interrupts stops at such a boundary (the kernel copies a write into the page cache a page at
//! a time and checks for a fatal signal between pages), so it never leaves part of a header.
//! Reading stops cleanly only at a *torn tail*: a last record whose header is intact and whose
//! payload runs past the end of the file, or the zeros before a boundary that the file ends
//! at. Anything else (a checksum that fails, a header cut short, bytes after the last record,
//! padding that is not zeros, a record that cannot be decoded, a header that is not ours) is
//! an error naming the file and the offset.

use std::path::Path;

use crate::error::Error;

/// Bytes of a file header.
pub const FILE_HEADER: usize = 24;
/// Bytes of a record header.
pub const RECORD_HEADER: usize = 12;
/// No record header crosses a multiple of this many bytes.
pub const PAGE: u64 = 4096;

/// Zeros to write at file offset `at` so that a record header there does not cross a page.
pub fn padding_before(at: u64) -> usize {
    let within = at % PAGE;
    if within + RECORD_HEADER as u64 > PAGE {
        (PAGE - within) as usize
    } else {
        0
    }
}

/// A file's header: which file it is (`magic`), the format, and one number the file keeps
/// there (the log: the last batch a snapshot covers when it was compacted).
pub fn file_header(magic: &[u8; 8], mark: u64) -> [u8; FILE_HEADER] {
    let mut header = [0; FILE_HEADER];
    header[..8].copy_from_slice(magic);
    header[8..12].copy_from_slice(&super::FORMAT.to_le_bytes());
    header[12..20].copy_from_slice(&mark.to_le_bytes());
    let crc = crc32(&header[..20]);
    header[20..].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Checks the header at the start of `bytes` (the file at `path`, which should start with
/// `magic`); returns its mark.
pub fn check_file_header(bytes: &[u8], magic: &[u8; 8], path: &Path) -> Result<u64, Error> {
    let Some(header) = bytes.get(..FILE_HEADER) else {
        return Err(corrupt(
            path,
            0,
            &format!(
                "the file has {} bytes, fewer than its {FILE_HEADER}-byte header",
                bytes.len()
            ),
        ));
    };
    if crc32(&header[..20]).to_le_bytes() != header[20..] {
        return Err(corrupt(path, 0, "the file header's checksum fails"));
    }
    if &header[..8] != magic {
        return Err(corrupt(
            path,
            0,
            "the file header names another kind of file",
        ));
    }
    let format = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if format != super::FORMAT {
        return Err(Error::runtime(format!(
            "'{}' has checkpoint format {format}, but this netwc reads format {} only: resume it with the netwc that wrote it, or choose another directory",
            path.display(),
            super::FORMAT
        )));
    }
    Ok(u64::from_le_bytes(
        header[12..20].try_into().expect("8 bytes"),
    ))
}

/// Appends a record to `out`, which starts at file offset `base`: zeros if its header would
/// cross a page, its header, then what `payload` writes.
pub fn push_record(out: &mut Vec<u8>, base: u64, payload: impl FnOnce(&mut Vec<u8>)) {
    let padding = padding_before(base + out.len() as u64);
    out.resize(out.len() + padding, 0);
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER]);
    payload(out);
    let length = (out.len() - start - RECORD_HEADER) as u32;
    let payload_crc = crc32(&out[start + RECORD_HEADER..]);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32(&out[start..start + 8]);
    out[start + 8..start + 12].copy_from_slice(&header_crc.to_le_bytes());
}

/// The records of a file: each payload with the offset of its record, and where a torn tail
/// starts, if the file has one.
pub struct Records<'a> {
    /// (offset, payload), in order.
    pub records: Vec<(u64, &'a [u8])>,
    /// Where a torn tail starts: the file is whole up to there.
    pub torn_at: Option<u64>,
    /// Where a tail of zeros starts that holds no record (what a power cut leaves of writes
    /// that were not yet on the disk: the file's length was, its data was not). The caller
    /// decides whether that is past what was synced (a power cut) or damage.
    pub zeros_at: Option<u64>,
}

/// Reads the records of `bytes` (the file at `path`) after its header.
pub fn read_records<'a>(bytes: &'a [u8], path: &Path) -> Result<Records<'a>, Error> {
    let mut records = Vec::new();
    let mut at = FILE_HEADER.min(bytes.len());
    while at < bytes.len() {
        match next_record(bytes, at) {
            Ok(Next::Record(offset, payload)) => {
                records.push((offset as u64, payload));
                at = offset + RECORD_HEADER + payload.len();
            }
            Ok(Next::Torn) => {
                return Ok(Records {
                    records,
                    torn_at: Some(at as u64),
                    zeros_at: None,
                })
            }
            Err((damaged, _)) if zeros_from_a_page(bytes, at, damaged) => {
                return Ok(Records {
                    records,
                    torn_at: None,
                    zeros_at: Some(at as u64),
                })
            }
            Err((offset, what)) => return Err(corrupt(path, offset as u64, what)),
        }
    }
    Ok(Records {
        records,
        torn_at: None,
        zeros_at: None,
    })
}

/// Whether what follows offset `at` is zeros, or the record at `damaged` (its header whole, its
/// payload's checksum failing) turns to zeros at a page boundary inside it and all is zeros from
/// there to the end: what a power cut leaves of pages written but not synced (a record may span
/// pages; its header never crosses one).
fn zeros_from_a_page(bytes: &[u8], at: usize, damaged: usize) -> bool {
    if bytes[at..].iter().all(|&b| b == 0) {
        return true;
    }
    let Some(header) = bytes.get(damaged..damaged + RECORD_HEADER) else {
        return false;
    };
    let length = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let end = damaged + RECORD_HEADER + length;
    let last_nonzero = bytes.iter().rposition(|&b| b != 0).unwrap_or(0);
    let zeros_from = (last_nonzero / PAGE as usize + 1) * PAGE as usize;
    damaged + RECORD_HEADER <= zeros_from && zeros_from < end.min(bytes.len())
}

/// What follows a record's end.
enum Next<'a> {
    /// A whole record: its offset and payload.
    Record(usize, &'a [u8]),
    /// A last record cut short: its header is whole, its payload stops at the file's end.
    Torn,
}

/// Reads the record after offset `at` (padding, header, payload), or says where and how the
/// bytes there are damaged.
fn next_record(bytes: &[u8], at: usize) -> Result<Next<'_>, (usize, &'static str)> {
    let padding = padding_before(at as u64);
    if padding > 0 {
        let Some(zeros) = bytes.get(at..at + padding) else {
            return Err((at, "bytes after the last record"));
        };
        if zeros.iter().any(|&b| b != 0) {
            return Err((at, "the padding before a page is not zeros"));
        }
        if at + padding == bytes.len() {
            // A write cut at the page boundary: the record after it never reached the file.
            return Ok(Next::Torn);
        }
    }
    let header_at = at + padding;
    let rest = &bytes[header_at..];
    let Some(header) = rest.get(..RECORD_HEADER) else {
        return Err((header_at, "bytes after the last record"));
    };
    let word = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().expect("4 bytes"));
    if crc32(&header[..8]) != word(8) {
        return Err((header_at, "a record header's checksum fails"));
    }
    let length = word(0) as usize;
    let Some(payload) = rest.get(RECORD_HEADER..RECORD_HEADER + length) else {
        return Ok(Next::Torn);
    };
    if crc32(payload) != word(4) {
        return Err((header_at, "a record's checksum fails"));
    }
    Ok(Next::Record(header_at, payload))
}

/// The error for damage found in the file at `path` at `offset`.
pub fn corrupt(path: &Path, offset: u64, what: &str) -> Error {
    Error::runtime(format!(
        "the checkpoint file '{}' is corrupt at offset {offset}: {what}; it cannot be restored safely (move the directory away to start afresh)",
        path.display()
    ))
}

/// CRC-32 (IEEE 802.3, as zlib and Ethernet): `crc32fast`, which uses the processor's CRC
/// instructions where it has them; every byte read passes through it with `--checkpoint`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: &[u8; 8] = b"NETWCTST";

    fn file(payloads: &[&[u8]]) -> Vec<u8> {
        let mut bytes = file_header(MAGIC, 7).to_vec();
        for payload in payloads {
            push_record(&mut bytes, 0, |out| out.extend_from_slice(payload));
        }
        bytes
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn records_round_trip() {
        let bytes = file(&[b"one", b"", b"three"]);
        let path = Path::new("f");
        assert_eq!(check_file_header(&bytes, MAGIC, path).unwrap(), 7);
        let read = read_records(&bytes, path).unwrap();
        let payloads: Vec<&[u8]> = read.records.iter().map(|(_, p)| *p).collect();
        assert_eq!(payloads, [&b"one"[..], b"", b"three"]);
        assert_eq!(read.torn_at, None);
    }

    #[test]
    fn only_a_payload_cut_at_the_end_is_torn() {
        let whole = file(&[b"first", b"second record"]);
        let path = Path::new("f");
        let last = (FILE_HEADER + RECORD_HEADER + 5) as u64;
        for cut in last as usize + 1..whole.len() {
            let read = read_records(&whole[..cut], path);
            if cut < last as usize + RECORD_HEADER {
                // Part of a header: no crash leaves that.
                assert!(read.is_err(), "cut at {cut}");
                continue;
            }
            let read = read.unwrap();
            assert_eq!(read.records.len(), 1, "cut at {cut}");
            assert_eq!(read.torn_at, Some(last));
        }
        // Extra zeros are a tail for the caller to judge (a power cut, or damage before the
        // last sync); any other extra byte is damage.
        for extra in [&[0u8][..], &[0; 40]] {
            let longer = [&whole[..], extra].concat();
            let read = read_records(&longer, path).unwrap();
            assert_eq!(read.zeros_at, Some(whole.len() as u64), "{extra:?}");
            assert_eq!(read.records.len(), 2);
        }
        assert!(read_records(&[&whole[..], b"x"].concat(), path).is_err());
    }

    #[test]
    fn no_header_crosses_a_page_and_a_write_cut_at_the_page_is_torn() {
        let path = Path::new("f");
        // A first payload that leaves 5 bytes before the page: the next header moves past it.
        let first = vec![7u8; PAGE as usize - FILE_HEADER - RECORD_HEADER - 5];
        let whole = file(&[&first, b"next"]);
        let next_header = PAGE as usize;
        assert_eq!(whole.len(), next_header + RECORD_HEADER + 4);
        assert!(whole[next_header - 5..next_header].iter().all(|&b| b == 0));
        let read = read_records(&whole, path).unwrap();
        assert_eq!(read.records[1].0, PAGE);
        // Cut at the page: only the padding was written.
        let read = read_records(&whole[..next_header], path).unwrap();
        assert_eq!(read.torn_at, Some(next_header as u64 - 5));
        // Cut inside the padding: zeros to judge; padding that is not zeros: damage.
        let read = read_records(&whole[..next_header - 2], path).unwrap();
        assert_eq!(read.zeros_at, Some(next_header as u64 - 5));
        let mut dirty = whole.clone();
        dirty[next_header - 3] = 1;
        assert!(read_records(&dirty, path).is_err());
    }

    #[test]
    fn a_record_whose_pages_after_its_first_are_zeros_is_a_power_cut_s_tail() {
        let path = Path::new("f");
        let long = vec![7u8; PAGE as usize * 2];
        let whole = file(&[b"first", &long]);
        let second = FILE_HEADER + RECORD_HEADER + 5;
        // The pages after the one its header is on were never written.
        let mut cut = whole.clone();
        cut[PAGE as usize..].fill(0);
        let read = read_records(&cut, path).unwrap();
        assert_eq!(read.zeros_at, Some(second as u64));
        assert_eq!(read.records.len(), 1);
        // A flipped byte in it, the rest whole: damage.
        let mut flipped = whole.clone();
        flipped[PAGE as usize + 9] ^= 1;
        assert!(read_records(&flipped, path).is_err());
        // Zeros from a page on, but something after them: damage.
        cut.push(1);
        assert!(read_records(&cut, path).is_err());
    }

    #[test]
    fn every_flipped_bit_is_an_error_or_a_shorter_file_never_a_silent_change() {
        let whole = file(&[b"first", b"second record", b"3"]);
        let path = Path::new("f");
        for bit in 0..whole.len() * 8 {
            let mut bytes = whole.clone();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let read =
                check_file_header(&bytes, MAGIC, path).and_then(|_| read_records(&bytes, path));
            if let Ok(read) = read {
                panic!(
                    "bit {bit} flipped went unnoticed: {} records, torn at {:?}",
                    read.records.len(),
                    read.torn_at
                );
            }
        }
    }
}

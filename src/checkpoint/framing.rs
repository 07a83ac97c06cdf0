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
//! rather than taken for a short write. Reading stops cleanly only at a *torn tail*: fewer
//! bytes than a record header at the end, a last record whose header is intact and whose
//! payload runs past the end of the file, or zeros to the end (a file system that extended
//! the file but lost the data of an interrupted write). Anything else (a checksum that fails,
//! a record that cannot be decoded, a header that is not ours) is an error naming the file
//! and the offset.

use std::path::Path;

use crate::error::Error;

/// Bytes of a file header.
pub const FILE_HEADER: usize = 24;
/// Bytes of a record header.
pub const RECORD_HEADER: usize = 12;

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

/// Appends a record to `out`: its header, then what `payload` writes.
pub fn push_record(out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) {
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
}

/// Reads the records of `bytes` (the file at `path`) after its header.
pub fn read_records<'a>(bytes: &'a [u8], path: &Path) -> Result<Records<'a>, Error> {
    let mut records = Vec::new();
    let mut at = FILE_HEADER.min(bytes.len());
    while at < bytes.len() {
        let rest = &bytes[at..];
        let torn = Records {
            records: Vec::new(),
            torn_at: Some(at as u64),
        };
        if rest.len() < RECORD_HEADER || rest.iter().all(|&b| b == 0) {
            return Ok(Records { records, ..torn });
        }
        let word = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().expect("4 bytes"));
        if crc32(&rest[..8]) != word(8) {
            return Err(corrupt(path, at as u64, "a record header's checksum fails"));
        }
        let length = word(0) as usize;
        let Some(payload) = rest.get(RECORD_HEADER..RECORD_HEADER + length) else {
            return Ok(Records { records, ..torn });
        };
        if crc32(payload) != word(4) {
            return Err(corrupt(path, at as u64, "a record's checksum fails"));
        }
        records.push((at as u64, payload));
        at += RECORD_HEADER + length;
    }
    Ok(Records {
        records,
        torn_at: None,
    })
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
            push_record(&mut bytes, |out| out.extend_from_slice(payload));
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
    fn only_a_record_cut_at_the_end_is_torn() {
        let whole = file(&[b"first", b"second record"]);
        let last = (FILE_HEADER + RECORD_HEADER + 5) as u64;
        for cut in last as usize + 1..whole.len() {
            let read = read_records(&whole[..cut], Path::new("f")).unwrap();
            assert_eq!(read.records.len(), 1, "cut at {cut}");
            assert_eq!(read.torn_at, Some(last));
        }
        let mut zeros = whole.clone();
        zeros.extend_from_slice(&[0; 40]);
        assert_eq!(
            read_records(&zeros, Path::new("f")).unwrap().records.len(),
            2
        );
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

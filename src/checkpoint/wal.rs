//! The write-ahead log: every chunk of lines is appended here before it enters the dataflow,
//! and every printed report is noted, so that a restart replays exactly what was read and
//! prints nothing twice.
//!
//! A record is `[u32 length][u32 CRC-32 of the payload][payload]`, little-endian. A payload is a
//! kind byte and its fields. A torn last record (a crash in the middle of a write) is detected by
//! its length or checksum and dropped with a warning; damage before the last record is an error.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::dataflow::Epoch;
use crate::error::Error;
use crate::source::Chunk;

/// A chunk as the first format logged it, without its reader (read as reader 0).
const KIND_CHUNK: u8 = 1;
const KIND_REPORTED: u8 = 2;
/// A chunk with the reader that read it.
const KIND_READER_CHUNK: u8 = 3;
const HEADER: usize = 8;

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A chunk sent into `epoch`, in which `lines` lines end.
    Chunk {
        /// The epoch it was sent in.
        epoch: Epoch,
        /// Lines that end in it.
        lines: u64,
        /// The chunk.
        chunk: Chunk,
    },
    /// The report of `epoch` was written and flushed.
    Reported(Epoch),
}

impl Record {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER]);
        match self {
            Record::Chunk {
                epoch,
                lines,
                chunk,
            } => {
                out.push(KIND_READER_CHUNK);
                out.extend_from_slice(&epoch.to_le_bytes());
                out.extend_from_slice(&lines.to_le_bytes());
                out.push(u8::from(chunk.continues_line) | (u8::from(chunk.ends_mid_line) << 1));
                out.extend_from_slice(&chunk.reader.to_le_bytes());
                out.extend_from_slice(&chunk.text);
            }
            Record::Reported(epoch) => {
                out.push(KIND_REPORTED);
                out.extend_from_slice(&epoch.to_le_bytes());
            }
        }
        let payload = &out[start + HEADER..];
        let (length, crc) = (payload.len() as u32, crc32(payload));
        out[start..start + 4].copy_from_slice(&length.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    fn decode(payload: &[u8]) -> Option<Record> {
        let epoch = |at: usize| {
            Some(u64::from_le_bytes(
                payload.get(at..at + 8)?.try_into().ok()?,
            ))
        };
        match *payload.first()? {
            kind @ (KIND_CHUNK | KIND_READER_CHUNK) => {
                let flags = *payload.get(17)?;
                let (reader, text) = match kind {
                    KIND_CHUNK => (0, 18),
                    _ => (epoch(18)?, 26),
                };
                Some(Record::Chunk {
                    epoch: epoch(1)?,
                    lines: epoch(9)?,
                    chunk: Chunk {
                        text: payload.get(text..)?.to_vec(),
                        continues_line: flags & 1 != 0,
                        ends_mid_line: flags & 2 != 0,
                        reader,
                    },
                })
            }
            KIND_REPORTED if payload.len() == 9 => Some(Record::Reported(epoch(1)?)),
            _ => None,
        }
    }
}

/// The log file, open for appending.
pub struct Wal {
    path: PathBuf,
    file: File,
    buffer: Vec<u8>,
    /// Bytes in the file.
    length: u64,
    /// Bytes known to be on the disk: a sync with nothing new to force is skipped (empty
    /// batches, and every batch missed while netwc was down, cost no `fsync`).
    synced: u64,
}

impl Wal {
    /// Opens (or creates) the log at `path` and reads its records. A torn last record is cut
    /// off, with a warning.
    pub fn open(path: &Path) -> Result<(Wal, Vec<(u64, Record)>), Error> {
        let fail = |what: &str, e: io::Error| {
            Error::runtime(format!(
                "cannot {what} the checkpoint log '{}': {e}",
                path.display()
            ))
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| fail("open", e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| fail("read", e))?;
        let mut records = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            match read_record(&bytes[at..]) {
                Ok((record, size)) => {
                    records.push((at as u64, record));
                    at += size;
                }
                Err(torn) if torn => {
                    log!(
                        "warning: dropped a torn last record ({} bytes at offset {at}) of '{}': a crash interrupted its write",
                        bytes.len() - at,
                        path.display()
                    );
                    file.set_len(at as u64).map_err(|e| fail("repair", e))?;
                    file.sync_all().map_err(|e| fail("repair", e))?;
                    break;
                }
                Err(_) => {
                    return Err(Error::runtime(format!(
                        "the checkpoint log '{}' is corrupt at offset {at} (a record's checksum or kind is wrong, and more records follow it); it cannot be replayed safely",
                        path.display()
                    )))
                }
            }
        }
        let length = at.min(bytes.len()) as u64;
        Ok((
            Wal {
                path: path.to_path_buf(),
                file,
                buffer: Vec::with_capacity(1 << 16),
                length,
                synced: length,
            },
            records,
        ))
    }

    /// Appends a record; it reaches the operating system at once (so it survives the process)
    /// and the disk at the next [`Wal::sync`].
    pub fn append(&mut self, record: &Record) -> Result<(), Error> {
        self.buffer.clear();
        record.encode(&mut self.buffer);
        self.file.write_all(&self.buffer).map_err(|e| {
            Error::runtime(format!(
                "cannot write the checkpoint log '{}': {e}",
                self.path.display()
            ))
        })?;
        self.length += self.buffer.len() as u64;
        Ok(())
    }

    /// Bytes written so far: where the next record starts.
    pub fn position(&self) -> u64 {
        self.length
    }

    /// Forces what was appended to the disk.
    pub fn sync(&mut self) -> Result<(), Error> {
        if self.synced == self.length {
            return Ok(());
        }
        self.file.sync_data().map_err(|e| {
            Error::runtime(format!(
                "cannot sync the checkpoint log '{}': {e}",
                self.path.display()
            ))
        })?;
        self.synced = self.length;
        Ok(())
    }

    /// Drops the records before byte `from` (those a snapshot covers): the rest is copied to a
    /// new file that atomically replaces the log.
    pub fn truncate_before(&mut self, from: u64) -> Result<(), Error> {
        let fail = |e: io::Error| {
            Error::runtime(format!(
                "cannot compact the checkpoint log '{}': {e}",
                self.path.display()
            ))
        };
        let mut tail = Vec::new();
        let mut reader = File::open(&self.path).map_err(fail)?;
        std::io::Seek::seek(&mut reader, io::SeekFrom::Start(from)).map_err(fail)?;
        reader.read_to_end(&mut tail).map_err(fail)?;
        let temporary = self.path.with_file_name(super::directory::LOG_TEMPORARY);
        super::write_atomically(&temporary, &self.path, &tail).map_err(fail)?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(fail)?;
        self.length = tail.len() as u64;
        // Written and synced whole by `write_atomically`.
        self.synced = self.length;
        Ok(())
    }
}

/// One record from the start of `bytes` and its size; `Err(true)` if the bytes end inside the
/// record or it is damaged and nothing follows it (torn), `Err(false)` if damage is followed by
/// more data.
fn read_record(bytes: &[u8]) -> Result<(Record, usize), bool> {
    if bytes.len() < HEADER {
        return Err(true);
    }
    let length = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    let Some(payload) = bytes.get(HEADER..HEADER + length) else {
        return Err(true);
    };
    let last = HEADER + length == bytes.len();
    if crc32(payload) != crc {
        return Err(last);
    }
    Record::decode(payload)
        .map(|r| (r, HEADER + length))
        .ok_or(last)
}

/// CRC-32 (IEEE 802.3, as zlib and Ethernet): `crc32fast`, which uses the processor's CRC
/// instructions where it has them; every byte read passes through it with `--checkpoint`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        let chunk = Record::Chunk {
            epoch: 7,
            lines: 2,
            chunk: Chunk {
                text: b"a b\nc\n".to_vec(),
                continues_line: true,
                ends_mid_line: false,
                reader: 1 << 32 | 7,
            },
        };
        {
            let (mut wal, records) = Wal::open(&path).unwrap();
            assert!(records.is_empty());
            wal.append(&chunk).unwrap();
            wal.append(&Record::Reported(7)).unwrap();
        }
        // A crash in the middle of a third record.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[20, 0, 0, 0, 1, 2]).unwrap();
        drop(file);
        let (_, records) = Wal::open(&path).unwrap();
        let records: Vec<Record> = records.into_iter().map(|(_, r)| r).collect();
        assert_eq!(records, vec![chunk, Record::Reported(7)]);
        // Damage before the last record is an error, not a silent loss.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        let error = Wal::open(&path)
            .err()
            .expect("corruption is reported")
            .to_string();
        assert!(error.contains("corrupt at offset 0"), "{error}");
    }
}

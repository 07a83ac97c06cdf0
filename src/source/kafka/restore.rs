//! A restart's chunks that `--checkpoint` logged as offsets, read again from the brokers.

use rskafka::client::error::{Error as RsError, ProtocolError};
use rskafka::record::RecordAndOffset;

use super::{append_record, Partition, FETCH_BYTES, FETCH_GIVEN_UP_AFTER, FETCH_WAIT_MS};
use crate::error::Error;
use crate::lines::count_line_ends;
use crate::vocab::{Epoch, LoggedChunk};

/// Gives each chunk of `replay` that a checkpoint logged as offsets (see
/// `Record::text_left_out`) its text again: the records of its offsets, read from its
/// partition as they were read the first time. A partition that no longer holds them (the
/// broker's retention removed them, or it lost them) is an error: the batches they were counted
/// in cannot be restored exactly.
pub(super) async fn read_again(
    partitions: &[Partition],
    replay: &mut [LoggedChunk],
) -> Result<(), Error> {
    let mut read = 0;
    for logged in replay.iter_mut() {
        let Some(range) = LoggedRange::of(logged) else {
            continue;
        };
        let partition = range.partition_in(partitions)?;
        let text = range.read(partition).await?;
        let found = count_line_ends(&text);
        if found != logged.lines {
            return Err(range.lost(
                partition,
                format!(
                    "they now hold {found} lines, not the {} counted",
                    logged.lines
                ),
            ));
        }
        logged.chunk.text = text;
        read += 1;
    }
    if read > 0 {
        log!("read the records of {read} logged chunks again from the brokers");
    }
    Ok(())
}

/// The offsets of a logged chunk whose text the log left out.
struct LoggedRange {
    /// The batch it was counted in, for messages.
    epoch: Epoch,
    /// Its partition's key.
    partition: u64,
    /// Its first offset and the one after its last.
    from: i64,
    next: i64,
}

impl LoggedRange {
    /// The range of `logged`, if it was logged as offsets (whole records, no text).
    fn of(logged: &LoggedChunk) -> Option<LoggedRange> {
        let at = logged.chunk.resume?;
        let whole_records = logged.chunk.text.is_empty() && logged.lines > 0;
        whole_records.then_some(LoggedRange {
            epoch: logged.epoch,
            partition: at.partition,
            from: at.from? as i64,
            next: at.next as i64,
        })
    }

    /// The partition it is read from, which this run must read.
    fn partition_in<'p>(&self, partitions: &'p [Partition]) -> Result<&'p Partition, Error> {
        partitions
            .iter()
            .find(|p| p.key == self.partition)
            .ok_or_else(|| {
                Error::runtime(format!(
                    "the checkpoint holds batch {} of partition {} of topic {} of --topic, which this run does not read: resume with the topics the checkpoint was written with",
                    self.epoch,
                    self.partition as u32,
                    (self.partition >> 32) + 1
                ))
            })
    }

    /// The records of the range, each ending a line, as they were read the first time.
    async fn read(&self, partition: &Partition) -> Result<Vec<u8>, Error> {
        let mut text = Vec::new();
        let mut next = self.from;
        while next < self.next {
            let (records, high_watermark) = self.fetch(partition, next).await?;
            let before = next;
            for record in records {
                if record.offset < next || record.offset >= self.next {
                    continue;
                }
                next = record.offset + 1;
                append_record(&mut text, &record.record.value.unwrap_or_default());
            }
            if next == before {
                if high_watermark >= self.next {
                    // The rest of the range holds no records (compacted away, or markers).
                    break;
                }
                return Err(self.lost(partition, format!("it now ends at offset {high_watermark}")));
            }
        }
        Ok(text)
    }

    /// One fetch from offset `next`. A broker that does not answer is not a loss: a later
    /// restart may restore.
    async fn fetch(
        &self,
        partition: &Partition,
        next: i64,
    ) -> Result<(Vec<RecordAndOffset>, i64), Error> {
        let fetch = partition
            .client
            .fetch_records(next, 1..FETCH_BYTES, FETCH_WAIT_MS);
        let asked = format!(
            "partition {} of '{}' when asked for offsets {next} to {} again",
            partition.index,
            partition.topic,
            self.next - 1
        );
        tokio::time::timeout(FETCH_GIVEN_UP_AFTER, fetch)
            .await
            .map_err(|_| {
                Error::runtime(format!(
                    "cannot restore batch {} of the checkpoint: no answer from {asked} in {} s; run again once the broker answers",
                    self.epoch,
                    FETCH_GIVEN_UP_AFTER.as_secs(),
                ))
            })?
            .map_err(|e| match e {
                RsError::ServerError {
                    protocol_error: ProtocolError::OffsetOutOfRange,
                    ..
                } => self.lost(partition, e.to_string()),
                e => Error::runtime(format!(
                    "cannot restore batch {} of the checkpoint: {asked} could not be read ({e}); run again once the broker answers",
                    self.epoch
                )),
            })
    }

    /// The error for a range the broker no longer holds, and `why`.
    fn lost(&self, partition: &Partition, why: String) -> Error {
        Error::runtime(format!(
            "cannot restore batch {} of the checkpoint: partition {} of '{}' must give offsets {} to {} again, but {why}; the broker no longer holds what the checkpoint counted (retention, or a lost topic), so it cannot be resumed exactly: start afresh with another --checkpoint directory",
            self.epoch,
            partition.index,
            partition.topic,
            self.from,
            self.next - 1
        ))
    }
}

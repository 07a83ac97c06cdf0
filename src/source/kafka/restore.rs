//! A restart's chunks that `--checkpoint` logged as offsets, read again from the brokers.

use rskafka::client::error::{Error as RsError, ProtocolError};

use super::{append_record, Partition, FETCH_BYTES, FETCH_GIVEN_UP_AFTER, FETCH_WAIT_MS};
use crate::error::Error;
use crate::lines::count_line_ends;
use crate::vocab::LoggedChunk;

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
    for LoggedChunk {
        epoch,
        lines,
        chunk,
    } in replay.iter_mut()
    {
        let Some((at, from)) = chunk
            .resume
            .and_then(|at| Some((at, at.from?)))
            .filter(|_| chunk.text.is_empty() && *lines > 0)
        else {
            continue;
        };
        read += 1;
        let Some(partition) = partitions.iter().find(|p| p.key == at.partition) else {
            return Err(Error::runtime(format!(
                "the checkpoint holds batch {epoch} of partition {} of topic {} of --topic, which this run does not read: resume with the topics the checkpoint was written with",
                at.partition as u32,
                (at.partition >> 32) + 1
            )));
        };
        let lost = |why: String| {
            Error::runtime(format!(
                "cannot restore batch {epoch} of the checkpoint: partition {} of '{}' must give offsets {} to {} again, but {why}; the broker no longer holds what the checkpoint counted (retention, or a lost topic), so it cannot be resumed exactly: start afresh with another --checkpoint directory",
                partition.index,
                partition.topic,
                from,
                at.next - 1
            ))
        };
        let mut text = Vec::new();
        let mut next = from as i64;
        while next < at.next as i64 {
            let (records, high_watermark) = tokio::time::timeout(
                FETCH_GIVEN_UP_AFTER,
                partition
                    .client
                    .fetch_records(next, 1..FETCH_BYTES, FETCH_WAIT_MS),
            )
            .await
            .map_err(|_| {
                // Not a loss: the broker is slow or gone; a later restart may restore.
                Error::runtime(format!(
                    "cannot restore batch {epoch} of the checkpoint: partition {} of '{}' gave no answer in {} s when asked for offsets {next} to {} again; run again once the broker answers",
                    partition.index,
                    partition.topic,
                    FETCH_GIVEN_UP_AFTER.as_secs(),
                    at.next - 1
                ))
            })?
            .map_err(|e| match e {
                RsError::ServerError {
                    protocol_error: ProtocolError::OffsetOutOfRange,
                    ..
                } => lost(e.to_string()),
                e => Error::runtime(format!(
                    "cannot restore batch {epoch} of the checkpoint: partition {} of '{}' could not be read ({e}); run again once the broker answers",
                    partition.index, partition.topic
                )),
            })?;
            let before = next;
            for record in records {
                if record.offset < next || record.offset >= at.next as i64 {
                    continue;
                }
                next = record.offset + 1;
                append_record(&mut text, &record.record.value.unwrap_or_default());
            }
            if next == before {
                if high_watermark >= at.next as i64 {
                    // The rest of the range holds no records (compacted away, or markers).
                    break;
                }
                return Err(lost(format!("it now ends at offset {high_watermark}")));
            }
        }
        let found = count_line_ends(&text);
        if found != *lines {
            return Err(lost(format!(
                "they now hold {found} lines, not the {lines} counted"
            )));
        }
        chunk.text = text;
    }
    if read > 0 {
        log!("read the records of {read} logged chunks again from the brokers");
    }
    Ok(())
}

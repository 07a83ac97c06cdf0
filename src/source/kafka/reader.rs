//! Reading one partition: fetch, notice a broker that is gone or lost records, frame the
//! records into chunks of lines, and hand them on.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rskafka::client::error::{Error as RsError, ProtocolError};
use rskafka::client::partition::OffsetAt;
use rskafka::record::RecordAndOffset;

use super::{
    append_record, Partition, FETCH_BYTES, FETCH_GIVEN_UP_AFTER, FETCH_WAIT_MS, MAX_BACKOFF,
};
use crate::config::SplitRule;
use crate::source::tails::Tail;
use crate::source::{lock, Event, LineFramer, Sender};
use crate::vocab::SourceOffset;

/// The first wait before a failed fetch is tried again.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// One partition's reader: each record's value goes through the partition's framer (a reader
/// of its own, as a connection is), and ends a line.
pub(super) struct PartitionReader {
    partition: Partition,
    sender: Sender,
    tail: Arc<Mutex<Tail>>,
    /// Since when fetches fail (said once in the log, and once when they work again).
    failing_since: Option<Instant>,
    backoff: Duration,
}

/// What one fetch gave.
enum Fetched {
    /// Records, and the partition's end (high watermark) as the broker sees it.
    Records(Vec<RecordAndOffset>, i64),
    /// Nothing to count this time (a failure, said and waited out).
    Retry,
}

impl PartitionReader {
    pub(super) fn new(partition: Partition, split: SplitRule, sender: Sender) -> PartitionReader {
        let tail = sender.tails.register(LineFramer::new(split));
        sender.metrics.connection(1);
        PartitionReader {
            partition,
            sender,
            tail,
            failing_since: None,
            backoff: FIRST_BACKOFF,
        }
    }

    /// Reads until the run stops.
    pub(super) async fn read(mut self) {
        while !self.sender.tails.stopping() {
            let Fetched::Records(records, high_watermark) = self.fetch().await else {
                continue;
            };
            if self.lost_records(high_watermark).await {
                continue;
            }
            let from = self.partition.next;
            let text = self.frame(records, high_watermark);
            if !text.is_empty() && !self.hand_on(&text, from) {
                break;
            }
        }
        self.sender.tails.unregister(&self.tail);
        self.sender.metrics.connection(-1);
    }

    /// One fetch from the partition's next offset. A broker that does not answer or fails is
    /// said once and retried with backoff; an offset the broker no longer holds is read on
    /// from its earliest, said in the log.
    async fn fetch(&mut self) -> Fetched {
        let partition = &self.partition;
        let fetched = tokio::time::timeout(
            FETCH_GIVEN_UP_AFTER,
            partition
                .client
                .fetch_records(partition.next, 1..FETCH_BYTES, FETCH_WAIT_MS),
        )
        .await;
        match fetched {
            Ok(Ok((records, high_watermark))) => {
                self.working_again();
                Fetched::Records(records, high_watermark)
            }
            Ok(Err(RsError::ServerError {
                protocol_error: ProtocolError::OffsetOutOfRange,
                ..
            })) => {
                self.read_from_earliest("it no longer holds that offset")
                    .await;
                tokio::time::sleep(self.backoff).await;
                Fetched::Retry
            }
            failed => {
                if self.failing_since.is_none() {
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer in {} s", FETCH_GIVEN_UP_AFTER.as_secs()),
                    };
                    log!(
                        "warning: partition {} of '{}' cannot be read ({why}); retrying until it can",
                        self.partition.index,
                        self.partition.topic
                    );
                    self.failing_since = Some(Instant::now());
                }
                tokio::time::sleep(self.backoff).await;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                Fetched::Retry
            }
        }
    }

    /// After failures: says that the partition is read again.
    fn working_again(&mut self) {
        if let Some(since) = self.failing_since.take() {
            log!(
                "partition {} of '{}' is read again, after {:.1} s",
                self.partition.index,
                self.partition.topic,
                since.elapsed().as_secs_f64()
            );
            self.backoff = FIRST_BACKOFF;
        }
    }

    /// True when the partition now ends below the offset netwc reads next: the broker lost
    /// records (restarted empty) or the topic was made anew, and an out-of-range fetch came
    /// back empty rather than failing. Said, and read on from the earliest offset, so that
    /// new records are counted, never skipped silently.
    async fn lost_records(&mut self, high_watermark: i64) -> bool {
        if high_watermark >= self.partition.next {
            return false;
        }
        let why = format!("it now ends at offset {high_watermark}");
        self.read_from_earliest(&why).await;
        true
    }

    /// Reads on from the partition's earliest offset, with a warning naming where it was.
    async fn read_from_earliest(&mut self, why: &str) {
        let partition = &mut self.partition;
        if let Ok(earliest) = partition.client.get_offset(OffsetAt::Earliest).await {
            log!(
                "warning: partition {} of '{}' does not hold offset {} any more ({why}: the broker lost or removed records, or the topic was made anew); reading on from offset {earliest}",
                partition.index,
                partition.topic,
                partition.next
            );
            partition.next = earliest;
        }
    }

    /// A fetch's records as one text, each ending a line (one chunk of lines for the workers
    /// rather than one per record); notes what was read and the partition's lag.
    fn frame(&mut self, records: Vec<RecordAndOffset>, high_watermark: i64) -> Vec<u8> {
        let partition = &mut self.partition;
        let mut text = Vec::new();
        let (mut read, mut bytes) = (0u64, 0u64);
        for record in records {
            if record.offset < partition.next {
                continue;
            }
            partition.next = record.offset + 1;
            read += 1;
            let value = record.record.value.unwrap_or_default();
            bytes += value.len() as u64;
            append_record(&mut text, &value);
        }
        // Not below zero: `lost_records` caught a partition that ends below `next`.
        let lag = (high_watermark - partition.next).max(0);
        self.sender
            .metrics
            .partition_read(&partition.topic, partition.index, read, bytes, lag);
        if !text.is_empty() {
            self.sender.metrics.read(text.len());
        }
        text
    }

    /// Frames `text` (the records from offset `from` on) and sends what ends lines. False
    /// when the run stops taking them.
    fn hand_on(&mut self, text: &[u8], from: i64) -> bool {
        let mut tail = lock(&self.tail);
        if tail.taken() {
            // The stop took this reader's partial line: what comes now is after it.
            return false;
        }
        // Sent under the lock: see `Tails`. The chunk carries where the partition resumes once
        // it is counted, for a checkpoint.
        let Some(mut framed) = tail.push(text) else {
            return true;
        };
        framed.chunk.resume = Some(SourceOffset {
            partition: self.partition.key,
            from: Some(from as u64),
            next: self.partition.next as u64,
        });
        self.sender.send(Event::Text(framed))
    }
}

//! `--kafka BROKERS --topic T`: the records of Kafka topics, as Spark's direct Kafka stream.
//! Each record's value is text whose lines are split by netwc's rules, and a record ends a
//! line; batches are by arrival time.
//!
//! The client is `rskafka` (pure Rust). [`start`] connects, retrying until `--connect-timeout`,
//! finds every partition of the topics (an unknown topic is an error naming it), and starts
//! one thread that fetches every partition concurrently, each through a framer of its own (a
//! reader, as a connection is), into the source's channel. A broker that goes away mid-run is
//! retried with backoff, said once, and read again from where it was.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::error::{Error as RsError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::BackoffConfig;

mod restore;

use super::{lock, Event, LineFramer, Resumption, Sender};
use crate::config::{KafkaSource, KafkaStart, SplitRule};
use crate::error::Error;
use crate::vocab::SourceOffset;
use restore::read_again;

/// Bytes a fetch asks for at most, per partition.
const FETCH_BYTES: i32 = 1 << 20;
/// How long a fetch waits at the broker for records to arrive.
const FETCH_WAIT_MS: i32 = 20;
/// The longest wait between attempts while a broker does not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A fetch unanswered this long is given up and made anew, and the partition is reported as
/// unreadable: the client's own retries (a broker that is down) and a broker that takes
/// requests but does not answer them would otherwise keep it waiting silently.
const FETCH_GIVEN_UP_AFTER: Duration = Duration::from_secs(4);

/// One partition to read.
struct Partition {
    topic: String,
    index: i32,
    /// The partition's key in a checkpoint: topic index << 32 | partition.
    key: u64,
    client: PartitionClient,
    /// The next offset to read.
    next: i64,
}

/// Connects to `source`'s brokers and starts reading every partition of its topics into
/// `sender`.
/// `resume` says where a checkpoint left each partition and gets where each partition it
/// does not hold is started; the chunks it replays that a checkpoint logged as offsets get
/// their text back from the brokers first.
pub(crate) fn start(
    source: &KafkaSource,
    split: SplitRule,
    resume: Resumption<'_>,
    sender: Sender,
) -> Result<(), Error> {
    let Resumption {
        offsets: resume,
        replay,
        started,
    } = resume;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::runtime(format!("cannot start the Kafka client: {e}")))?;
    // A broker that is down is retried; one that takes the connection but never answers is
    // given up on the same way, at the timeout.
    let found = runtime.block_on(async {
        tokio::time::timeout(source.connect_timeout, partitions(source, resume, started)).await
    });
    let partitions = found.map_err(|_| {
        Error::runtime(format!(
            "could not reach the Kafka brokers {} within {} s (--connect-timeout)",
            source.brokers.join(","),
            source.connect_timeout.as_secs_f64()
        ))
    })??;
    runtime.block_on(read_again(&partitions, replay))?;
    log!(
        "reading {} partitions of {} from {} (from the {} offsets)",
        partitions.len(),
        source.topics.join(", "),
        source.brokers.join(","),
        match source.from {
            KafkaStart::Earliest => "earliest",
            KafkaStart::Latest => "latest",
        }
    );
    std::thread::Builder::new()
        .name("netwc:kafka".into())
        .spawn(move || {
            runtime.block_on(read_all(partitions, split, sender.clone()));
            sender.send(Event::Ended);
        })
        .map_err(|e| Error::runtime(format!("could not start the Kafka reader: {e}")))?;
    Ok(())
}

/// Connects (retrying until the timeout) and finds where each partition starts: where a
/// checkpoint left it (`resume`); else, when resuming a checkpoint, at its earliest offset (the
/// checkpoint noted every partition there was, so this one is new since); else where `--from`
/// says. The partitions `resume` does not hold go into `started` with their start.
async fn partitions(
    source: &KafkaSource,
    resume: &BTreeMap<u64, u64>,
    started: &mut BTreeMap<u64, u64>,
) -> Result<Vec<Partition>, Error> {
    let brokers = source.brokers.join(",");
    let mut backoff = Duration::from_millis(50);
    let client: Client = loop {
        // rskafka's own retries would back off up to minutes and never give up: a request
        // fails after a few seconds instead, so that netwc says so and retries at most
        // MAX_BACKOFF apart.
        let backoff_config = BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: MAX_BACKOFF,
            base: 2.0,
            deadline: Some(Duration::from_secs(5)),
        };
        let builder = ClientBuilder::new(source.brokers.clone()).backoff_config(backoff_config);
        match builder.build().await {
            Ok(client) => break client,
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    let listed = client
        .list_topics()
        .await
        .map_err(|e| Error::runtime(format!("could not list the topics of {brokers}: {e}")))?;
    let client = Arc::new(client);
    let mut partitions = Vec::new();
    let mut all = 0usize;
    for (topic_index, topic) in source.topics.iter().enumerate() {
        let Some(found) = listed.iter().find(|t| &t.name == topic) else {
            let known: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
            return Err(Error::runtime(format!(
                "the topic '{topic}' does not exist on {brokers} (it has: {}); create it first or name another with --topic",
                if known.is_empty() { "no topics".into() } else { known.join(", ") }
            )));
        };
        let mut indexes: Vec<i32> = found.partitions.iter().copied().collect();
        indexes.sort_unstable();
        for index in indexes {
            // Of every partition in order, the i-th is read by process i mod n.
            let (process, processes) = source.share;
            all += 1;
            if (all - 1) % processes != process {
                continue;
            }
            let partition = client
                .partition_client(topic.clone(), index, UnknownTopicHandling::Error)
                .await
                .map_err(|e| {
                    Error::runtime(format!(
                        "could not open partition {index} of '{topic}': {e}"
                    ))
                })?;
            let key = (topic_index as u64) << 32 | index as u32 as u64;
            let from = match resume.is_empty() {
                true => source.from,
                false => KafkaStart::Earliest,
            };
            let next = match resume.get(&key) {
                Some(&next) => next as i64,
                None => {
                    let next = start_offset(&partition, from).await.map_err(|e| {
                        Error::runtime(format!(
                            "could not find where partition {index} of '{topic}' starts: {e}"
                        ))
                    })?;
                    started.insert(key, next as u64);
                    next
                }
            };
            partitions.push(Partition {
                topic: topic.clone(),
                index,
                key,
                client: partition,
                next,
            });
        }
    }
    Ok(partitions)
}

/// Where a partition is read from: its earliest offset, or its end (the high watermark, the
/// offset the next record will get).
async fn start_offset(
    partition: &PartitionClient,
    from: KafkaStart,
) -> Result<i64, rskafka::client::error::Error> {
    let earliest = partition.get_offset(OffsetAt::Earliest).await?;
    match from {
        KafkaStart::Earliest => Ok(earliest),
        KafkaStart::Latest => {
            let (_, high_watermark) = partition
                .fetch_records(earliest, 1..FETCH_BYTES, FETCH_WAIT_MS)
                .await?;
            Ok(high_watermark.max(earliest))
        }
    }
}

/// Appends one record's value to a chunk's text: a record ends a line.
fn append_record(text: &mut Vec<u8>, value: &[u8]) {
    text.extend_from_slice(value);
    if !value.ends_with(b"\n") {
        text.push(b'\n');
    }
}

/// Reads every partition until the run stops.
async fn read_all(partitions: Vec<Partition>, split: SplitRule, sender: Sender) {
    let mut readers = tokio::task::JoinSet::new();
    for partition in partitions {
        readers.spawn(read_partition(partition, split, sender.clone()));
    }
    while readers.join_next().await.is_some() {}
}

/// Reads one partition: each record's value goes through the partition's framer, and ends a
/// line.
async fn read_partition(mut partition: Partition, split: SplitRule, sender: Sender) {
    let tail = sender.tails.register(LineFramer::new(split));
    sender.metrics.connection(1);
    let mut failing_since: Option<Instant> = None;
    let mut backoff = Duration::from_millis(50);
    'reading: while !sender.tails.stopping() {
        let fetched = tokio::time::timeout(
            FETCH_GIVEN_UP_AFTER,
            partition
                .client
                .fetch_records(partition.next, 1..FETCH_BYTES, FETCH_WAIT_MS),
        )
        .await;
        let (records, high_watermark) = match fetched {
            Ok(Ok(fetched)) => fetched,
            Ok(Err(RsError::ServerError {
                protocol_error: ProtocolError::OffsetOutOfRange,
                ..
            })) => {
                // The broker no longer holds the offset (it lost or removed records, or the
                // topic was made anew): as Kafka's consumers do, read on from its earliest.
                if let Ok(earliest) = partition.client.get_offset(OffsetAt::Earliest).await {
                    log!(
                        "warning: partition {} of '{}' no longer holds offset {} (the broker lost or removed records); reading on from offset {earliest}",
                        partition.index,
                        partition.topic,
                        partition.next
                    );
                    partition.next = earliest;
                }
                tokio::time::sleep(backoff).await;
                continue;
            }
            failed => {
                if failing_since.is_none() {
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer in {} s", FETCH_GIVEN_UP_AFTER.as_secs()),
                    };
                    log!(
                        "warning: partition {} of '{}' cannot be read ({why}); retrying until it can",
                        partition.index,
                        partition.topic
                    );
                    failing_since = Some(Instant::now());
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if let Some(since) = failing_since.take() {
            log!(
                "partition {} of '{}' is read again, after {:.1} s",
                partition.index,
                partition.topic,
                since.elapsed().as_secs_f64()
            );
            backoff = Duration::from_millis(50);
        }
        // A fetch's records go to the framer together, each ending a line: one chunk of lines
        // for the workers rather than one per record.
        let mut text = Vec::new();
        let (mut read, mut bytes) = (0u64, 0u64);
        let from = partition.next;
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
        let lag = (high_watermark - partition.next).max(0);
        sender
            .metrics
            .partition_read(&partition.topic, partition.index, read, bytes, lag);
        if text.is_empty() {
            continue;
        }
        sender.metrics.read(text.len());
        let mut tail = lock(&tail);
        if tail.taken() {
            // The stop took this reader's partial line: what comes now is after it.
            break 'reading;
        }
        // Sent under the lock: see `Tails`. The chunk carries where the partition resumes once
        // it is counted, for a checkpoint.
        if let Some(mut framed) = tail.push(&text) {
            framed.chunk.resume = Some(SourceOffset {
                partition: partition.key,
                from: Some(from as u64),
                next: partition.next as u64,
            });
            if !sender.send(Event::Text(framed)) {
                break 'reading;
            }
        }
    }
    sender.tails.unregister(&tail);
    sender.metrics.connection(-1);
}

//! `-o kafka://BROKERS/TOPIC`: each row of each report becomes one record. Key: the word's
//! bytes. Value: the count as decimal text (with `--format jsonl`, the row as JSON). Headers:
//! `batch`, the batch's name (its end in Unix ms, as the Spark frame's `Time:`), and in window
//! mode `window_start` and `window_end`. A record's partition is Kafka's default partitioner's
//! (murmur2 of the key), so every consumer agrees on where a word lives, and a word's records
//! are in batch order (the reports ready at one moment go out together, each partition's
//! records in one request, before any later report).
//!
//! Exactly once without transactions: the sink knows where each partition ended after the last
//! report it delivered (`--checkpoint` notes it with each report, and at a first start). A
//! restart reads each partition back from the noted end and does not send again the (batch,
//! word) records it finds there, which a run killed mid-report left. A produce request that
//! fails is never sent again blindly either: the partition is read back from its known end and
//! only what is missing goes out. rskafka's own retries (which resend blindly) are off.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use rskafka::BackoffConfig;

use super::Report;
use crate::config::KafkaTarget;
use crate::error::Error;

/// The longest wait between two tries to deliver.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A produce request not answered within this long is said in the log (and waited for: it
/// may still be written, so it is never sent again blindly).
const SLOW: Duration = Duration::from_secs(5);
/// How much a read-back fetches at a time.
const FETCH_BYTES: i32 = 4 << 20;

/// The (batch, key) of records: what identifies a record this sink wrote.
type Identities = HashSet<(u64, Vec<u8>)>;

/// What a record's value holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// The count, as decimal text.
    Count,
    /// The row as JSON: `{"time":…,"word":…,"count":…}`.
    JsonRow,
}

/// A Kafka topic that takes reports.
pub struct KafkaSink {
    /// How many partitions the topic has.
    partitions: usize,
    /// Where each partition ended after the last report delivered (or at the start).
    ends: Vec<u64>,
    /// (batch, word) records found past the noted ends at the start: sent by a run that
    /// stopped before noting its report, and not sent again.
    present: Identities,
    value: Value,
    /// In window mode, the window's length in the unit of batch names.
    window: Option<u64>,
    /// The records of the reports held back so far, by partition ([`KafkaSink::hold`]).
    held: Vec<Vec<Record>>,
    /// The thread that delivers them, so that the worker that reports never waits on the
    /// broker: one delivery at a time, in order.
    courier: Courier,
}

/// The delivering thread's ends: records to deliver (by partition) and where the partitions
/// ended before them go out; where they end after come back.
struct Courier {
    requests: std::sync::mpsc::SyncSender<(Vec<Vec<Record>>, Vec<u64>)>,
    done: std::sync::mpsc::Receiver<Vec<u64>>,
    /// Whether a delivery is under way.
    busy: bool,
}

impl Courier {
    /// Starts the thread, which runs `runtime` for the partitions' clients.
    fn start(
        runtime: tokio::runtime::Runtime,
        partitions: Vec<Arc<PartitionClient>>,
        topic: String,
    ) -> Result<Courier, Error> {
        let (requests, incoming) = std::sync::mpsc::sync_channel(1);
        let (finished, done) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("netwc:kafka-out".into())
            .spawn(move || {
                for (shares, ends) in incoming {
                    let ends = runtime.block_on(deliver_all(&partitions, shares, ends, &topic));
                    if finished.send(ends).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| Error::runtime(format!("cannot start the Kafka output's thread: {e}")))?;
        Ok(Courier {
            requests,
            done,
            busy: false,
        })
    }
}

impl KafkaSink {
    /// Connects to `target` (retrying until its timeout) and finds its topic's partitions (an
    /// error names a topic that does not exist). With `noted` (the ends a checkpoint noted),
    /// reads each partition back from there (see [`place`]).
    pub fn open(
        target: &KafkaTarget,
        noted: Option<&[(u32, u64)]>,
        value: Value,
        window: Option<u64>,
    ) -> Result<KafkaSink, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::runtime(format!("cannot start the Kafka output: {e}")))?;
        let partitions = runtime.block_on(connect(target))?;
        let (ends, present) = place(&runtime, &partitions, &target.topic, noted)?;
        Ok(KafkaSink {
            partitions: partitions.len(),
            ends,
            present,
            value,
            window,
            held: Vec::new(),
            courier: Courier::start(runtime, partitions, target.topic.clone())?,
        })
    }

    /// Where each partition ended after the last report delivered.
    pub fn ends(&self) -> Vec<(u32, u64)> {
        (0..).zip(self.ends.iter().copied()).collect()
    }

    /// Holds a report's rows back as records, to go with the other reports ready now in one
    /// request per partition ([`KafkaSink::deliver_held`]): with 1 ms batches, a request per
    /// report would keep the reports waiting on the broker's round trips.
    pub fn hold(&mut self, report: &Report<'_>) {
        if self.held.is_empty() {
            self.held = vec![Vec::new(); self.partitions];
        }
        let now = chrono::Utc::now();
        for (word, count) in report.rows.iter() {
            let key = word.as_bytes();
            if !self.present.is_empty() && self.present.remove(&(report.time, key.to_vec())) {
                continue;
            }
            let partition = partition_of(key, self.partitions);
            let record = self.record(report.time, word, count, now);
            self.held[partition].push(record);
        }
    }

    /// Hands the reports held back to the delivering thread, if it is free: each partition's
    /// records go in one request, all partitions at once, retried until they are in (said
    /// once in the log). Whether a delivery started (not when nothing is held, or none
    /// holds a record).
    pub fn deliver_held(&mut self) -> io::Result<bool> {
        if self.courier.busy || self.held.iter().all(Vec::is_empty) {
            return Ok(false);
        }
        let shares = std::mem::take(&mut self.held);
        self.courier
            .requests
            .send((shares, self.ends.clone()))
            .map_err(|_| io::Error::other("the Kafka output's thread ended"))?;
        self.courier.busy = true;
        Ok(true)
    }

    /// Whether a delivery is under way.
    pub fn delivering(&self) -> bool {
        self.courier.busy
    }

    /// Whether the delivery under way has ended (every partition has its records); then
    /// [`KafkaSink::ends`] says where they end now.
    pub fn delivered(&mut self) -> io::Result<bool> {
        if !self.courier.busy {
            return Ok(false);
        }
        match self.courier.done.try_recv() {
            Ok(ends) => {
                self.ends = ends;
                self.courier.busy = false;
                Ok(true)
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => Ok(false),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                Err(io::Error::other("the Kafka output's thread ended"))
            }
        }
    }

    /// The record of one row.
    fn record(
        &self,
        time: u64,
        word: &str,
        count: isize,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Record {
        let value = match self.value {
            Value::Count => count.to_string().into_bytes(),
            Value::JsonRow => serde_json::to_vec(&serde_json::json!({
                "time": time,
                "word": word,
                "count": count,
            }))
            .expect("a row serializes"),
        };
        let mut headers = std::collections::BTreeMap::new();
        headers.insert("batch".to_string(), time.to_string().into_bytes());
        if let Some(length) = self.window {
            let start = time.saturating_sub(length);
            headers.insert("window_start".to_string(), start.to_string().into_bytes());
            headers.insert("window_end".to_string(), time.to_string().into_bytes());
        }
        Record {
            key: Some(word.as_bytes().to_vec()),
            value: Some(value),
            headers,
            timestamp: now,
        }
    }
}

/// Starts each partition at its noted end, reading back what lies past it; a partition
/// without one (a first start, or one added since) at its end now.
/// (ends by partition, and the records found past the noted ends)
fn place(
    runtime: &tokio::runtime::Runtime,
    partitions: &[Arc<PartitionClient>],
    topic: &str,
    noted: Option<&[(u32, u64)]>,
) -> Result<(Vec<u64>, Identities), Error> {
    let noted: std::collections::BTreeMap<u32, u64> =
        noted.unwrap_or_default().iter().copied().collect();
    let mut ends = vec![0; partitions.len()];
    let mut present = HashSet::new();
    for (index, client) in partitions.iter().enumerate() {
        let fail = |e: rskafka::client::error::Error| {
            Error::runtime(format!(
                "cannot read back partition {index} of --output topic '{}': {e}",
                topic
            ))
        };
        let high_watermark = runtime.block_on(high_watermark(client)).map_err(fail)?;
        ends[index] = match noted.get(&(index as u32)) {
            None => high_watermark,
            Some(&end) if end > high_watermark => {
                log!(
                    "warning: partition {index} of --output topic '{}' ends at offset {high_watermark}, below the {end} this checkpoint noted: the broker lost records (or the topic was made anew); the reports after the last one noted are sent whole",
                    topic
                );
                high_watermark
            }
            Some(&end) => {
                let (found, reached) = runtime.block_on(read_back(client, end)).map_err(fail)?;
                if !found.is_empty() {
                    log!(
                        "partition {index} of --output topic '{}' holds {} records past the checkpoint's note (a run stopped mid-report): they are not sent again",
                        topic,
                        found.len()
                    );
                    present.extend(found);
                }
                reached
            }
        };
    }
    Ok((ends, present))
}

/// Delivers each partition's share of `shares` at once; returns where each partition ends
/// after (`ends`: before).
async fn deliver_all(
    partitions: &[Arc<PartitionClient>],
    shares: Vec<Vec<Record>>,
    mut ends: Vec<u64>,
    topic: &str,
) -> Vec<u64> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, records) in shares.into_iter().enumerate() {
        if records.is_empty() {
            continue;
        }
        let client = Arc::clone(&partitions[index]);
        let (end, topic) = (ends[index], topic.to_string());
        tasks.spawn(async move {
            let end = deliver_share(&client, records, end, index, &topic).await;
            (index, end)
        });
    }
    while let Some(done) = tasks.join_next().await {
        // A share's task only ends by delivering (it retries until it does).
        if let Ok((index, end)) = done {
            ends[index] = end;
        }
    }
    ends
}

/// Sends `records` to the partition, which ended at `end` after the last report; returns
/// where it ends after them. A failed request is followed by a read-back from `end`, and
/// only the records not found there are sent again.
async fn deliver_share(
    client: &PartitionClient,
    mut records: Vec<Record>,
    end: u64,
    index: usize,
    topic: &str,
) -> u64 {
    let mut backoff = Duration::from_millis(50);
    let mut said = false;
    loop {
        let error = match produce(client, records.clone(), index, topic).await {
            Ok(end) => return end,
            Err(e) => e,
        };
        if !std::mem::replace(&mut said, true) {
            log!(
                "cannot deliver to partition {index} of --output topic '{topic}': {error}; reports wait (and so does reading) until it answers"
            );
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        // Never a blind resend: read back until the broker answers.
        let (found, reached) = loop {
            match read_back(client, end).await {
                Ok(read) => break read,
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        records.retain(|r| !found.contains(&identity(r)));
        if records.is_empty() {
            log!("partition {index} of --output topic '{topic}' answers again");
            return reached;
        }
    }
}

/// One produce request, waited for however long it takes (said once past [`SLOW`]): a
/// request given up on might still be written. Returns the partition's end after it.
async fn produce(
    client: &PartitionClient,
    records: Vec<Record>,
    index: usize,
    topic: &str,
) -> Result<u64, rskafka::client::error::Error> {
    let started = Instant::now();
    let request = client.produce(records, Compression::NoCompression);
    tokio::pin!(request);
    let offsets = tokio::select! {
        done = &mut request => done,
        () = tokio::time::sleep(SLOW) => {
            log!("partition {index} of --output topic '{topic}' has not answered for {} s; waiting", started.elapsed().as_secs());
            request.await
        }
    }?;
    Ok(offsets.last().map_or(0, |&last| last as u64 + 1))
}

/// The (batch, key) of a record this sink wrote.
fn identity(record: &Record) -> (u64, Vec<u8>) {
    let batch = record
        .headers
        .get("batch")
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|b| b.parse().ok())
        .unwrap_or(u64::MAX);
    (batch, record.key.clone().unwrap_or_default())
}

/// Where the partition ends, as a fetch answers it (the test broker's "latest offset" answers
/// the start of its last batch of records instead).
async fn high_watermark(client: &PartitionClient) -> Result<u64, rskafka::client::error::Error> {
    let latest = client.get_offset(OffsetAt::Latest).await?;
    // (A fetch that finds nothing may also answer nothing: then `latest` is all there is.)
    let fetched = client.fetch_records(latest, 1..FETCH_BYTES, 50).await;
    let high_watermark = fetched.map_or(latest, |(_, high_watermark)| high_watermark);
    Ok(high_watermark.max(latest) as u64)
}

/// The (batch, key) of each record of the partition from offset `from` on, and where the
/// partition ends. Read until a fetch finds nothing more.
async fn read_back(
    client: &PartitionClient,
    from: u64,
) -> Result<(Identities, u64), rskafka::client::error::Error> {
    let mut found = HashSet::new();
    let mut next = from;
    loop {
        let (records, _) = client
            .fetch_records(next as i64, 1..FETCH_BYTES, 50)
            .await?;
        let mut any = false;
        for record in records.iter().filter(|r| r.offset as u64 >= next) {
            found.insert(identity(&record.record));
            any = true;
        }
        match records.last() {
            Some(last) if any => next = last.offset as u64 + 1,
            _ => return Ok((found, next)),
        }
    }
}

/// Connects (retrying until the target's timeout) and opens a client per partition of the
/// topic, with rskafka's retries off.
async fn connect(target: &KafkaTarget) -> Result<Vec<Arc<PartitionClient>>, Error> {
    let deadline = Instant::now() + target.connect_timeout;
    let client = loop {
        match client(target).await {
            Ok(client) => break client,
            Err(e) if Instant::now() >= deadline => {
                return Err(Error::runtime(format!(
                    "cannot reach the --output brokers {} within {:?}: {e}",
                    target.brokers.join(","),
                    target.connect_timeout
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let topics = client.list_topics().await.map_err(|e| {
        Error::runtime(format!(
            "cannot list the topics at {}: {e}",
            target.brokers.join(",")
        ))
    })?;
    let Some(topic) = topics.into_iter().find(|t| t.name == target.topic) else {
        return Err(Error::runtime(format!(
            "the --output topic '{}' does not exist at {}: create it first (e.g. kafka-topics.sh --create --topic {} --partitions 3; with cleanup.policy=compact for a table of running totals)",
            target.topic,
            target.brokers.join(","),
            target.topic
        )));
    };
    let mut partitions = Vec::new();
    for index in 0..topic.partitions.len() as i32 {
        let partition = client
            .partition_client(target.topic.clone(), index, UnknownTopicHandling::Error)
            .await
            .map_err(|e| {
                Error::runtime(format!(
                    "cannot open partition {index} of --output topic '{}': {e}",
                    target.topic
                ))
            })?;
        partitions.push(Arc::new(partition));
    }
    Ok(partitions)
}

/// A client whose requests are tried once: a produce request that failed may still have been
/// written, so only [`deliver_share`] decides what to send again.
async fn client(target: &KafkaTarget) -> Result<Client, rskafka::client::error::Error> {
    let once = BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: MAX_BACKOFF,
        base: 2.0,
        deadline: Some(Duration::ZERO),
    };
    ClientBuilder::new(target.brokers.clone())
        .backoff_config(once)
        .build()
        .await
}

/// Kafka's default partitioner: murmur2 of the key, made positive, modulo the partitions.
pub fn partition_of(key: &[u8], partitions: usize) -> usize {
    (murmur2(key) & 0x7fff_ffff) as usize % partitions
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), seed `0x9747b28c`.
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h = 0x9747_b28c_u32 ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes(chunk.try_into().expect("four bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &byte) in rest.iter().enumerate().rev() {
            h ^= u32::from(byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_is_kafka_s() {
        // Kafka's own test vectors (UtilsTest.testMurmur2), as Java ints.
        let cases: [(&str, i32); 6] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key.as_bytes()) as i32, expected, "{key}");
        }
    }

    #[test]
    fn a_word_has_one_partition() {
        for partitions in 1..8 {
            for word in ["a", "hello", "Straße", ""] {
                let p = partition_of(word.as_bytes(), partitions);
                assert!(p < partitions);
                assert_eq!(p, partition_of(word.as_bytes(), partitions));
            }
        }
    }
}

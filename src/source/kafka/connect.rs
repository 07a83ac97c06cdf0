//! Finding the partitions to read: connect (retrying), list the topics, take this process's
//! share of their partitions, and place each at the offset it is read from.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::BackoffConfig;

use super::{Partition, FETCH_BYTES, FETCH_WAIT_MS, MAX_BACKOFF};
use crate::config::{KafkaSource, StartFrom};
use crate::error::Error;

/// Connects (retrying until the caller's timeout) and finds where each partition starts: where
/// a checkpoint left it (`resume`); else, when resuming a checkpoint, at its earliest offset
/// (the checkpoint noted every partition there was, so this one is new since); else where
/// `--from` says. The partitions `resume` does not hold go into `started` with their start.
pub(super) async fn partitions(
    source: &KafkaSource,
    resume: &BTreeMap<u64, u64>,
    started: &mut BTreeMap<u64, u64>,
) -> Result<Vec<Partition>, Error> {
    let client = connect(source).await;
    let mut partitions = Vec::new();
    for (topic_index, topic, index) in our_share(&client, source).await? {
        let partition = client
            .partition_client(topic.clone(), index, UnknownTopicHandling::Error)
            .await
            .map_err(|e| {
                Error::runtime(format!(
                    "could not open partition {index} of '{topic}': {e}"
                ))
            })?;
        partitions.push(Partition {
            topic,
            index,
            key: (topic_index as u64) << 32 | index as u32 as u64,
            client: Arc::new(partition),
            next: 0,
        });
    }
    let from = match resume.is_empty() {
        true => source.from,
        false => StartFrom::Earliest,
    };
    place(&mut partitions, resume, from, started).await?;
    Ok(partitions)
}

/// A client of `source`'s brokers, once one answers.
async fn connect(source: &KafkaSource) -> Client {
    let mut backoff = Duration::from_millis(50);
    loop {
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
            Ok(client) => return client,
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// This process's partitions of the topics, as (topic index, topic, partition): of every
/// partition in order, the i-th is read by process i mod n. An unknown topic is an error.
async fn our_share(
    client: &Client,
    source: &KafkaSource,
) -> Result<Vec<(usize, String, i32)>, Error> {
    let brokers = source.brokers.join(",");
    let listed = client
        .list_topics()
        .await
        .map_err(|e| Error::runtime(format!("could not list the topics of {brokers}: {e}")))?;
    let (process, processes) = source.share;
    let mut all = Vec::new();
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
        all.extend(indexes.into_iter().map(|i| (topic_index, topic.clone(), i)));
    }
    Ok(all
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % processes == process)
        .map(|(_, partition)| partition)
        .collect())
}

/// Sets where each partition is read from: `resume`'s offset, or else where `from` says,
/// asked of every such partition at once (so that `--from latest` takes the partitions' ends
/// at one moment, not one after another), noted in `started`.
async fn place(
    partitions: &mut [Partition],
    resume: &BTreeMap<u64, u64>,
    from: StartFrom,
    started: &mut BTreeMap<u64, u64>,
) -> Result<(), Error> {
    let mut asks = tokio::task::JoinSet::new();
    for (at, partition) in partitions.iter_mut().enumerate() {
        match resume.get(&partition.key) {
            Some(&next) => partition.next = next as i64,
            None => {
                let client = partition.client.clone();
                asks.spawn(async move { (at, start_offset(&client, from).await) });
            }
        }
    }
    while let Some(asked) = asks.join_next().await {
        let (at, found) = asked
            .map_err(|e| Error::runtime(format!("finding a partition's start failed: {e}")))?;
        let partition = &mut partitions[at];
        partition.next = found.map_err(|e| {
            Error::runtime(format!(
                "could not find where partition {} of '{}' starts: {e}",
                partition.index, partition.topic
            ))
        })?;
        started.insert(partition.key, partition.next as u64);
    }
    Ok(())
}

/// Where a partition is read from: its earliest offset, or its end (the high watermark, the
/// offset the next record will get).
async fn start_offset(
    partition: &PartitionClient,
    from: StartFrom,
) -> Result<i64, rskafka::client::error::Error> {
    let earliest = partition.get_offset(OffsetAt::Earliest).await?;
    match from {
        StartFrom::Earliest => Ok(earliest),
        StartFrom::Latest => {
            let (_, high_watermark) = partition
                .fetch_records(earliest, 1..FETCH_BYTES, FETCH_WAIT_MS)
                .await?;
            Ok(high_watermark.max(earliest))
        }
    }
}

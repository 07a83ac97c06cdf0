//! `--kafka BROKERS --topic T`: the records of Kafka topics, as Spark's direct Kafka stream.
//! Each record's value is text whose lines are split by netwc's rules, and a record ends a
//! line; batches are by arrival time.
//!
//! The client is `rskafka` (pure Rust). [`start`] connects, retrying until `--connect-timeout`,
//! finds every partition of the topics (an unknown topic is an error naming it), and starts
//! one thread that fetches every partition concurrently, each through a framer of its own (a
//! reader, as a connection is), into the source's channel. A broker that goes away mid-run is
//! retried with backoff, said once, and read again from where it was.

use std::sync::Arc;
use std::time::Duration;

use rskafka::client::partition::PartitionClient;

mod connect;
mod reader;
mod restore;

use super::{Event, Resumption, Sender};
use crate::config::{KafkaSource, SplitRule, StartFrom};
use crate::error::Error;
use connect::partitions;
use reader::PartitionReader;
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
    client: Arc<PartitionClient>,
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
        ..
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
    let starting = match (resume.is_empty(), source.from) {
        (false, _) => "where the checkpoint left them; partitions new since from the earliest",
        (true, StartFrom::Earliest) => "from the earliest offsets",
        (true, StartFrom::Latest) => "from the latest offsets",
    };
    log!(
        "reading {} partitions of {} from {} ({starting})",
        partitions.len(),
        source.topics.join(", "),
        source.brokers.join(","),
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
        let reader = PartitionReader::new(partition, split, sender.clone());
        readers.spawn(reader.read());
    }
    while readers.join_next().await.is_some() {}
}

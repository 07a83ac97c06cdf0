//! `netwc-produce BROKERS TOPIC [--partitions N] [--create]`: sends the lines of standard input
//! to a Kafka topic, one record a line, spread over its partitions in turn (line i goes to
//! partition i mod N). With `--create`, the topic is created first with N partitions. The
//! producer of README's local setup and of netwc's Kafka tests (built with `--features kafka`).
//!
//! With `--keyed`, each line is `BATCH<tab>KEY<tab>VALUE`: a record as `-o kafka://` writes it
//! (key, `batch` header, value), in the partition Kafka's default partitioner gives its key.
//!
//! `netwc-produce BROKERS TOPIC --dump` prints instead every record the topic holds now, one a
//! line: partition, offset, the `batch` header, key and value, tab-separated (what
//! `-o kafka://` wrote, for the tests to read back).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::ExitCode;

use rskafka::client::partition::{Compression, OffsetAt, UnknownTopicHandling};
use rskafka::client::ClientBuilder;
use rskafka::record::Record;

/// Records sent to a partition at once.
const BATCH: usize = 500;

fn usage() -> ExitCode {
    eprintln!("usage: netwc-produce BROKERS TOPIC [--partitions N] [--create] < lines");
    eprintln!("       netwc-produce BROKERS TOPIC [--partitions N] --keyed < BATCH<tab>KEY<tab>VALUE lines");
    eprintln!("       netwc-produce BROKERS TOPIC --dump");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(brokers), Some(topic)) = (args.first(), args.get(1)) else {
        return usage();
    };
    let mut partitions = 1i32;
    let mut create = false;
    let mut dump = false;
    let mut keyed = false;
    let mut rest = args[2..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--create" => create = true,
            "--dump" => dump = true,
            "--keyed" => keyed = true,
            "--partitions" => match rest.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => partitions = n,
                _ => return usage(),
            },
            _ => return usage(),
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("netwc-produce: error: {e}");
            return ExitCode::from(1);
        }
    };
    let brokers: Vec<String> = brokers.split(',').map(String::from).collect();
    if dump {
        return match runtime.block_on(dump_topic(brokers, topic)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("netwc-produce: error: {e}");
                ExitCode::from(1)
            }
        };
    }
    match runtime.block_on(produce(brokers, topic, partitions, create, keyed)) {
        Ok(sent) => {
            eprintln!("netwc-produce: sent {sent} records to '{topic}'");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("netwc-produce: error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn produce(
    brokers: Vec<String>,
    topic: &str,
    partitions: i32,
    create: bool,
    keyed: bool,
) -> Result<u64, Box<dyn std::error::Error>> {
    let client = ClientBuilder::new(brokers).build().await?;
    if create {
        client
            .controller_client()?
            .create_topic(topic, partitions, 1, 5_000)
            .await?;
    }
    let mut clients = Vec::new();
    for partition in 0..partitions {
        let client = client
            .partition_client(topic.to_owned(), partition, UnknownTopicHandling::Retry)
            .await?;
        clients.push(client);
    }
    let mut pending: Vec<Vec<Record>> = (0..partitions).map(|_| Vec::new()).collect();
    let mut sent = 0u64;
    let stdin = std::io::stdin();
    for (i, line) in stdin.lock().split(b'\n').enumerate() {
        let line = line?;
        let (record, partition) = if keyed {
            let text = String::from_utf8_lossy(&line);
            let mut fields = text.splitn(3, '\t');
            let (Some(batch), Some(key), Some(value)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(
                    format!("--keyed: expected BATCH<tab>KEY<tab>VALUE, got {text:?}").into(),
                );
            };
            let record = Record {
                key: Some(key.as_bytes().to_vec()),
                value: Some(value.as_bytes().to_vec()),
                headers: BTreeMap::from([("batch".to_string(), batch.as_bytes().to_vec())]),
                timestamp: chrono::Utc::now(),
            };
            let partition = netwc::parts::kafka_partition(key.as_bytes(), partitions as usize);
            (record, partition)
        } else {
            let record = Record {
                key: None,
                value: Some(line),
                headers: BTreeMap::new(),
                timestamp: chrono::Utc::now(),
            };
            (record, i % partitions as usize)
        };
        pending[partition].push(record);
        if pending[partition].len() >= BATCH {
            let records = std::mem::take(&mut pending[partition]);
            sent += records.len() as u64;
            clients[partition]
                .produce(records, Compression::NoCompression)
                .await?;
        }
    }
    for (partition, records) in pending.into_iter().enumerate() {
        if !records.is_empty() {
            sent += records.len() as u64;
            clients[partition]
                .produce(records, Compression::NoCompression)
                .await?;
        }
    }
    Ok(sent)
}

/// Prints every record of every partition of `topic`, up to each partition's end now.
async fn dump_topic(brokers: Vec<String>, topic: &str) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Write;
    let client = ClientBuilder::new(brokers).build().await?;
    let topics = client.list_topics().await?;
    let Some(found) = topics.into_iter().find(|t| t.name == topic) else {
        return Err(format!("no topic '{topic}'").into());
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for partition in found.partitions {
        let client = client
            .partition_client(topic.to_owned(), partition, UnknownTopicHandling::Error)
            .await?;
        // Until a fetch finds nothing more (a broker's latest offset may lag what it holds).
        let mut next = client.get_offset(OffsetAt::Earliest).await?;
        loop {
            let (records, _) = client.fetch_records(next, 1..4_000_000, 50).await?;
            let records: Vec<_> = records.into_iter().filter(|r| r.offset >= next).collect();
            let Some(last) = records.last().map(|r| r.offset) else {
                break;
            };
            for record in records {
                let text = |bytes: Option<&Vec<u8>>| {
                    String::from_utf8_lossy(bytes.map_or(&[][..], |b| b)).into_owned()
                };
                writeln!(
                    out,
                    "{partition}\t{}\t{}\t{}\t{}",
                    record.offset,
                    text(record.record.headers.get("batch")),
                    text(record.record.key.as_ref()),
                    text(record.record.value.as_ref()),
                )?;
            }
            next = last + 1;
        }
    }
    out.flush()?;
    Ok(())
}

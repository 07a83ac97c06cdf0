//! `netwc-produce BROKERS TOPIC [--partitions N] [--create]`: sends the lines of standard input
//! to a Kafka topic, one record a line, spread over its partitions in turn (line i goes to
//! partition i mod N). With `--create`, the topic is created first with N partitions. The
//! producer of README's local setup and of netwc's Kafka tests (built with `--features kafka`).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::ExitCode;

use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::client::ClientBuilder;
use rskafka::record::Record;

/// Records sent to a partition at once.
const BATCH: usize = 500;

fn usage() -> ExitCode {
    eprintln!("usage: netwc-produce BROKERS TOPIC [--partitions N] [--create] < lines");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(brokers), Some(topic)) = (args.first(), args.get(1)) else {
        return usage();
    };
    let mut partitions = 1i32;
    let mut create = false;
    let mut rest = args[2..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--create" => create = true,
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
    match runtime.block_on(produce(brokers, topic, partitions, create)) {
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
        let record = Record {
            key: None,
            value: Some(line?),
            headers: BTreeMap::new(),
            timestamp: chrono::Utc::now(),
        };
        let partition = i % partitions as usize;
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

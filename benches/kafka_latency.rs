//! Kafka→Kafka latency, measured the way Spark's real-time-mode benchmarks are (SPARK-58884):
//! records with timestamps go into an input topic at a steady rate; netwc reads them
//! (`--kafka … --batch 1ms`, and `10ms`) and writes its reports into an output topic
//! (`-o kafka://…`); each output record's timestamp minus its input record's timestamp is one
//! latency. Beside it, the floor: the same path without netwc, a pass-through in this process
//! that copies each record from the input topic to the output topic as soon as a fetch returns
//! it (fetching as netwc does: at most 20 ms of waiting; the test broker, Tansu, answers a fetch
//! that found nothing only when that wait ends, where Kafka answers as soon as records come). `cargo bench --features kafka --bench kafka_latency`.
//!
//! Each input record is one word of its own (`t<sequence>`), so each output record (batch mode:
//! one row per word of the batch) answers exactly one input record; every input record must
//! come out once (checked). The first 2 s are warm-up and left out. Kafka timestamps are whole
//! milliseconds, so figures are too. The output timestamp is taken when the record is made,
//! just before its produce request (for netwc and for the floor alike).
//!
//! A Tansu broker (`NETWC_TANSU`, else `tansu` on the PATH) runs on a loopback port.
//! `NETWC_KAFKA_LATENCY_SECONDS` sets how long each rate runs (default 8 s).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

#[path = "common/tansu.rs"]
mod tansu;
use tansu::broker;

const WARM_UP: Duration = Duration::from_secs(2);
const RATES: [u64; 3] = [1_000, 10_000, 100_000];

/// A one-partition topic, made now.
async fn topic(client: &Client, name: &str) -> Arc<PartitionClient> {
    client
        .controller_client()
        .unwrap()
        .create_topic(name, 1, 1, 5_000)
        .await
        .unwrap();
    Arc::new(
        client
            .partition_client(name.to_string(), 0, UnknownTopicHandling::Retry)
            .await
            .unwrap(),
    )
}

/// Sends `rate` records a second for `seconds`, a millisecond's share at a time, each its own
/// word with the time it was made; returns each word's time.
async fn produce(
    input: &PartitionClient,
    rate: u64,
    seconds: u64,
) -> HashMap<String, DateTime<Utc>> {
    let mut sent = HashMap::new();
    let per_tick = (rate / 1_000).max(1);
    let ticks = seconds * rate / per_tick;
    let mut clock = tokio::time::interval(Duration::from_micros(1_000 * per_tick * 1_000 / rate));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sequence = 0u64;
    for _ in 0..ticks {
        clock.tick().await;
        let now = Utc::now();
        let records: Vec<Record> = (0..per_tick)
            .map(|_| {
                sequence += 1;
                let word = format!("t{sequence}");
                sent.insert(word.clone(), now);
                Record {
                    key: None,
                    value: Some(word.into_bytes()),
                    headers: Default::default(),
                    timestamp: now,
                }
            })
            .collect();
        input
            .produce(records, Compression::NoCompression)
            .await
            .unwrap();
    }
    sent
}

/// Every record of the output topic: (word, its timestamp).
async fn read_all(output: &PartitionClient, by_key: bool) -> Vec<(String, DateTime<Utc>)> {
    let mut all = Vec::new();
    let mut next = 0;
    loop {
        let (records, _) = output.fetch_records(next, 1..8_000_000, 200).await.unwrap();
        let records: Vec<_> = records.into_iter().filter(|r| r.offset >= next).collect();
        let Some(last) = records.last().map(|r| r.offset) else {
            return all;
        };
        for r in records {
            let bytes = if by_key { r.record.key } else { r.record.value };
            all.push((
                String::from_utf8(bytes.unwrap_or_default()).unwrap(),
                r.record.timestamp,
            ));
        }
        next = last + 1;
    }
}

/// The pass-through: copies each record of `input` to `output` (the word as key, as netwc
/// writes it) as soon as a fetch returns it, until `stop`.
async fn pass_through(
    input: Arc<PartitionClient>,
    output: Arc<PartitionClient>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut next = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        // The same longest wait as netwc's fetches (the test broker answers a fetch that finds
        // nothing only at its end, so this wait is part of both paths' latency).
        let Ok((records, _)) = input.fetch_records(next, 1..8_000_000, 20).await else {
            continue;
        };
        let records: Vec<_> = records.into_iter().filter(|r| r.offset >= next).collect();
        let Some(last) = records.last().map(|r| r.offset) else {
            continue;
        };
        next = last + 1;
        let now = Utc::now();
        let copies = records
            .into_iter()
            .map(|r| Record {
                key: r.record.value,
                value: Some(b"1".to_vec()),
                headers: Default::default(),
                timestamp: now,
            })
            .collect();
        output
            .produce(copies, Compression::NoCompression)
            .await
            .unwrap();
    }
}

/// p50 / p90 / p99 / max of the latencies after the warm-up, in ms; checks that every input
/// record came out once.
fn summary(sent: &HashMap<String, DateTime<Utc>>, came: &[(String, DateTime<Utc>)]) -> String {
    assert_eq!(came.len(), sent.len(), "every input record comes out once");
    let start = sent.values().min().copied().unwrap();
    let mut latencies: Vec<i64> = came
        .iter()
        .filter_map(|(word, out)| {
            let into = sent
                .get(word)
                .expect("an output record answers an input record");
            let warm = (*into - start).to_std().unwrap_or_default() >= WARM_UP;
            warm.then(|| (*out - *into).num_milliseconds())
        })
        .collect();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    format!(
        "{} | {} | {} | {} | {}",
        latencies.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        latencies.last().unwrap()
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds: u64 = std::env::var("NETWC_KAFKA_LATENCY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let broker = broker();
    // One thread: the pass-through task runs while `block_on` waits on the producer.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(async {
        loop {
            if let Ok(client) = ClientBuilder::new(vec![broker.1.clone()]).build().await {
                return client;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    println!("| path | records/s | records measured | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    for (n, rate) in RATES.into_iter().enumerate() {
        // The floor: the same topics and rate, no netwc.
        let (input, output) = runtime.block_on(async {
            (
                topic(&client, &format!("floor-in-{n}")).await,
                topic(&client, &format!("floor-out-{n}")).await,
            )
        });
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let copier = runtime.spawn(pass_through(input.clone(), output.clone(), stop.clone()));
        let sent = runtime.block_on(produce(&input, rate, seconds));
        runtime.block_on(async { tokio::time::sleep(Duration::from_secs(1)).await });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        runtime.block_on(copier).unwrap();
        let came = runtime.block_on(read_all(&output, true));
        println!(
            "| pass-through (floor) | {rate} | {} |",
            summary(&sent, &came)
        );
        for batch in ["1ms", "10ms"] {
            let name = format!("{n}-{batch}");
            let (input, output) = runtime.block_on(async {
                (
                    topic(&client, &format!("in-{name}")).await,
                    topic(&client, &format!("out-{name}")).await,
                )
            });
            let _ = &output;
            let mut netwc = Command::new(env!("CARGO_BIN_EXE_netwc"))
                .args(["--kafka", &broker.1, "--topic", &format!("in-{name}")])
                .args(["--from", "earliest", "--batch", batch, "--top", "0", "-o"])
                .arg(format!("kafka://{}/out-{name}", broker.1))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // Connected and reading before the first record.
            std::thread::sleep(Duration::from_secs(2));
            let sent = runtime.block_on(produce(&input, rate, seconds));
            std::thread::sleep(Duration::from_secs(1));
            let _ = Command::new("kill")
                .args(["-TERM", &netwc.id().to_string()])
                .status();
            netwc.wait().unwrap();
            let came = runtime.block_on(read_all(&output, true));
            println!(
                "| netwc `--batch {batch}` | {rate} | {} |",
                summary(&sent, &came)
            );
        }
    }
}

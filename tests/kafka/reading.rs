//! What a run reads: every mode and worker count, records and topics, where it starts, a
//! cluster's share of the partitions, and the per-partition metrics.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::*;

#[test]
fn every_mode_and_worker_count_counts_a_topic_of_three_partitions_exactly() {
    let broker = Broker::start();
    let stream = text(5, 600);
    broker.produce("words", 3, true, &stream);
    let expected = oracle_totals(&stream);
    for workers in ["1", "2", "3"] {
        let batch = count(
            &broker,
            "words",
            &["-w", workers, "--mode", "batch"],
            100,
            6,
        );
        assert_eq!(totals(&parse_tsv(&batch)), expected, "batch, -w {workers}");
        let incremental = count(
            &broker,
            "words",
            &["-w", workers, "--mode", "incremental"],
            100,
            6,
        );
        let last = parse_tsv(&incremental).pop_last().map(|(_, c)| c);
        assert_eq!(last, Some(expected.clone()), "incremental, -w {workers}");
        // A window of all six batches: its last report is the whole stream.
        let window = ["-w", workers, "--mode", "window", "--window", "6"];
        let last = parse_tsv(&count(&broker, "words", &window, 100, 6)).pop_last();
        assert_eq!(
            last.map(|(_, c)| c),
            Some(expected.clone()),
            "window, -w {workers}"
        );
    }
}

#[test]
fn a_record_ends_a_line_and_several_topics_are_read_together() {
    let broker = Broker::start();
    // Records without a newline, one with two lines, an empty one.
    broker.produce("a", 2, true, "to be\nor not\n");
    broker.produce("b", 1, true, "to\n\n");
    let output = count(&broker, "a,b", &["--mode", "incremental", "--stats"], 4, 1);
    let last = parse_tsv(&output).pop_last().map(|(_, c)| c);
    assert_eq!(last, Some(oracle_totals("to be\nor not\nto\n\n")));
}

#[test]
fn from_latest_reads_only_what_arrives_after_the_start() {
    let broker = Broker::start();
    broker.produce("late", 2, true, "old old\n");
    let mut child = Netwc::new()
        .args(["--kafka", &broker.address, "--topic", "late"])
        .args([
            "--batch-lines",
            "1",
            "--batches",
            "2",
            "--format",
            "tsv",
            "--stats",
        ])
        .args(["--mode", "incremental", "--emit", "all"])
        .spawn();
    let lines = child.stderr_lines();
    wait_for(&lines, "reading 2 partitions", 1);
    broker.produce("late", 2, false, "new\nnew too\n");
    let output = child.output_within(Duration::from_secs(30));
    let last = parse_tsv(&stdout_of(&output)).pop_last().map(|(_, c)| c);
    assert_eq!(last, Some(oracle_totals("new\nnew too\n")));
}

#[test]
fn each_process_of_a_cluster_reads_its_share_of_the_partitions() {
    let broker = Broker::start();
    let stream = text(9, 800);
    // Line i goes to partition i mod 4: processes 0 and 1 read partitions 0, 2 and 1, 3,
    // 400 lines each.
    broker.produce("shared", 4, true, &stream);
    let dir = TempDir::new("kafka-cluster");
    let hosts = hostfile(&dir, 2);
    let children: Vec<_> = (0..2)
        .map(|i| {
            reading(&broker.address, "shared")
                .args([
                    "--every-process-reads",
                    "--batch-lines",
                    "100",
                    "--batches",
                    "4",
                ])
                .args(["--format", "tsv", "--top", "0", "-w", "2"])
                .args(["-n", "2", "-p", &i.to_string()])
                .arg("--hostfile")
                .arg(&hosts)
                .spawn()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|child| child.output_within(Duration::from_secs(60)))
        .collect();
    for (i, output) in outputs.iter().enumerate() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "process {i}: {stderr}");
        assert!(
            stderr.contains("reading 2 partitions"),
            "process {i}: {stderr}"
        );
    }
    assert_eq!(
        totals(&parse_tsv(&stdout_of(&outputs[0]))),
        oracle_totals(&stream)
    );
}

#[test]
fn records_bytes_and_lag_per_partition_are_metrics_stats_and_on_the_page() {
    let broker = Broker::start();
    broker.produce("m", 2, true, &"one two\n".repeat(100));
    let ui = free_port();
    let mut child = reading(&broker.address, "m")
        .args([
            "--batch",
            "50ms",
            "--ui",
            &ui.to_string(),
            "--format",
            "tsv",
            "--stats",
        ])
        .stdout_null()
        .spawn();
    let stats = child.stderr_lines();
    let started = Instant::now();
    let wanted = [
        "netwc_kafka_records_total{topic=\"m\",partition=\"0\"} 50",
        "netwc_kafka_records_total{topic=\"m\",partition=\"1\"} 50",
        "netwc_kafka_bytes_total{topic=\"m\",partition=\"1\"} 350",
        "netwc_kafka_lag_records{topic=\"m\",partition=\"0\"} 0",
    ];
    let mut text = String::new();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", ui)) {
            write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
            text.clear();
            let _ = std::io::Read::read_to_string(&mut stream, &mut text);
            if wanted.iter().all(|line| text.contains(line)) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The page sums the lags beside the partitions being read; --stats says it per batch.
    let dom = browser_dom(ui);
    wait_for(&stats, "kafka_lag=0 records", 1);
    child.signal("TERM");
    child.status_within(Duration::from_secs(20));
    for line in wanted {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(
        dom.contains(r#"id="c-conns-sub">Kafka lag 0<"#),
        "{dom:.3000}"
    );
}

//! Words a second from Kafka against the same stream over a socket, with topics of 1, 2 and 4
//! partitions (`cargo bench --features kafka --bench kafka`).
//!
//! A Tansu broker (`NETWC_TANSU`, else `tansu` on the PATH) is started on a loopback port; the
//! stream (`NETWC_KAFKA_LINES` lines, default 400,000, of 10 Zipf-ish words) is produced once
//! to each topic with `netwc-produce`. netwc then reads each topic from its earliest offset in
//! line batches until it has counted every line, and the same bytes from a loopback socket;
//! the table shows each run's wall time and words a second, best of three.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/tansu.rs"]
mod tansu;
use tansu::{broker, Broker};

const ROUNDS: usize = 3;
const WORDS_PER_LINE: usize = 10;
const LINES_PER_BATCH: usize = 10_000;

fn netwc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netwc"))
}

/// The stream: `lines` lines of words drawn from a skewed vocabulary of 50,000.
fn stream(lines: usize) -> String {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut text = String::with_capacity(lines * WORDS_PER_LINE * 7);
    for _ in 0..lines {
        for w in 0..WORDS_PER_LINE {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Squaring a uniform draw skews it towards small ranks.
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            let rank = (u * u * 50_000.0) as u64;
            if w > 0 {
                text.push(' ');
            }
            text.push_str(&format!("w{rank}"));
        }
        text.push('\n');
    }
    text
}

fn produce(broker: &Broker, topic: &str, partitions: usize, text: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netwc-produce"))
        .args([
            &broker.1,
            topic,
            "--partitions",
            &partitions.to_string(),
            "--create",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "netwc-produce failed");
}

/// Wall time of netwc counting `lines` lines with `source` args.
fn time(source: &[String], lines: usize) -> Duration {
    let started = Instant::now();
    let status = netwc()
        .args(source)
        .args(["--batch-lines", &LINES_PER_BATCH.to_string()])
        .args(["--batches", &(lines / LINES_PER_BATCH).to_string()])
        .args(["--format", "tsv", "--top", "1", "-o", "/dev/null"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    started.elapsed()
}

/// Serves `text` once on a loopback port.
fn serve(text: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(text.as_bytes());
        }
    });
    port
}

fn main() {
    let lines: usize = std::env::var("NETWC_KAFKA_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400_000);
    let lines = lines / LINES_PER_BATCH * LINES_PER_BATCH;
    let text = stream(lines);
    let words = (lines * WORDS_PER_LINE) as f64;
    let broker = broker();
    for partitions in [1, 2, 4] {
        produce(&broker, &format!("p{partitions}"), partitions, &text);
    }
    println!(
        "{lines} lines, {} words; best of {ROUNDS}",
        lines * WORDS_PER_LINE
    );
    println!("source              wall     words/s");
    let best =
        |args: &dyn Fn() -> Vec<String>| (0..ROUNDS).map(|_| time(&args(), lines)).min().unwrap();
    let socket = best(&|| vec!["127.0.0.1".into(), serve(text.clone()).to_string()]);
    println!(
        "socket              {:>6.2} s  {:>6.2}M",
        socket.as_secs_f64(),
        words / socket.as_secs_f64() / 1e6
    );
    for partitions in [1, 2, 4] {
        let args = || -> Vec<String> {
            [
                "--kafka",
                &broker.1,
                "--topic",
                &format!("p{partitions}"),
                "--from",
                "earliest",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        };
        let took = best(&args);
        println!(
            "kafka, {partitions} partition{} {:>6.2} s  {:>6.2}M  ({:.2}× the socket)",
            if partitions == 1 { " " } else { "s" },
            took.as_secs_f64(),
            words / took.as_secs_f64() / 1e6,
            socket.as_secs_f64() / took.as_secs_f64()
        );
    }
}

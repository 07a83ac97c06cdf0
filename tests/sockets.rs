//! netwc against real loopback servers: a feeder written here, the real `nc`, and producers
//! connecting to `--listen`. With time batches the split into batches depends on timing, so the
//! totals over all batches are compared with the oracle, exactly.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::*;

fn totals_over_batches(stdout: &str) -> Counts {
    totals(&parse_tsv(stdout))
}

#[test]
fn feeder_text_in_small_pieces_is_counted_exactly_at_1_and_2_workers() {
    let text = random_text(21, 3_000);
    for workers in ["1", "2"] {
        // Pieces of 777 bytes cut lines anywhere; pauses spread them over several batches.
        let feeder = Feeder::start(text.clone().into_bytes(), 777, Duration::from_millis(2));
        let output = Netwc::new()
            .args([
                "127.0.0.1",
                &feeder.port.to_string(),
                "--batch",
                "20ms",
                "--format",
                "tsv",
                "-w",
                workers,
            ])
            .output();
        feeder.join();
        let stdout = stdout_of(&output);
        assert!(
            parse_tsv(&stdout).len() > 1,
            "-w {workers}: the text spans several batches"
        );
        assert_eq!(
            totals_over_batches(&stdout),
            oracle_totals(&text),
            "-w {workers}"
        );
    }
}

#[test]
fn every_batch_is_reported_once_in_order_including_empty_ones() {
    // A slow feeder: batches of 10 ms, many of them empty.
    let feeder = Feeder::start(b"a\nb\nc\n".to_vec(), 2, Duration::from_millis(40));
    let output = Netwc::new()
        .args([
            "127.0.0.1",
            &feeder.port.to_string(),
            "--batch",
            "10ms",
            "--format",
            "jsonl",
        ])
        .output();
    feeder.join();
    let stdout = stdout_of(&output);
    let times: Vec<u64> = stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["time"].as_u64().unwrap()
        })
        .collect();
    assert!(
        times.len() >= 8,
        "about 12 batches of 10 ms expected: {times:?}"
    );
    for pair in times.windows(2) {
        assert_eq!(pair[1], pair[0] + 10, "consecutive batches: {times:?}");
    }
    assert!(times.iter().all(|t| t % 10 == 0), "aligned to the interval");
    let empty = stdout
        .lines()
        .filter(|l| l.ends_with("\"counts\":[]}"))
        .count();
    assert!(empty > 0, "some batches are empty and still reported");
}

#[test]
fn the_real_nc_as_the_text_server() {
    let text = zipf_text(9, 20_000, 8, 5_000);
    let dir = TempDir::new("nc");
    let file = dir.write("input.txt", text.as_bytes());
    for workers in ["1", "2"] {
        let port = free_port();
        // netcat-openbsd: listen once, send the file, shut the socket down at its end (-N).
        let mut nc = Command::new("nc")
            .args(["-N", "-l", "127.0.0.1", &port.to_string()])
            .stdin(std::fs::File::open(&file).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .expect("nc (netcat-openbsd) is installed");
        wait_listening(port);
        let output = Netwc::new()
            .args([
                "localhost",
                &port.to_string(),
                "--batch",
                "50ms",
                "--format",
                "tsv",
                "-w",
                workers,
            ])
            .output();
        wait_status(&mut nc, Duration::from_secs(10));
        assert_eq!(
            totals_over_batches(&stdout_of(&output)),
            oracle_totals(&text),
            "-w {workers}"
        );
    }
}

#[test]
fn listen_counts_every_line_of_many_producers() {
    let port = free_port();
    let mut child = Netwc::new()
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--batch",
            "50ms",
            "--format",
            "tsv",
            "-w",
            "2",
        ])
        .spawn();
    wait_listening(port);
    let producers = 20;
    let mut expected = Counts::new();
    let mut threads = Vec::new();
    for p in 0..producers {
        // Each producer's last line has no newline: it still counts when the producer leaves.
        let text = random_text(100 + p, 200);
        for (word, count) in oracle_totals(&text) {
            *expected.entry(word).or_default() += count;
        }
        threads.push(std::thread::spawn(move || {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            for piece in text.as_bytes().chunks(500) {
                stream.write_all(piece).unwrap();
            }
        }));
    }
    for thread in threads {
        thread.join().unwrap();
    }
    // Wait (bounded) until netwc has read every connection to its end, then stop it.
    let lines = child.stderr_lines();
    wait_for(&lines, " closed", producers as usize);
    child.signal("TERM");
    let output = child.output_within(Duration::from_secs(20));
    assert_eq!(totals_over_batches(&stdout_of(&output)), expected);
}

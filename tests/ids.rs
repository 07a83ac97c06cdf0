//! Words counted by id: a worker's dictionary forgets words it has not seen lately, so a word
//! that leaves and comes back must get the same id and be counted as before, on any number of
//! workers; and memory stays flat under a stream of ever-new words.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::util::*;

/// `count` distinct words with `prefix`, ten a line.
fn fresh(prefix: &str, count: usize) -> String {
    (0..count)
        .map(|i| {
            let end = if i % 10 == 9 { "\n" } else { " " };
            format!("{prefix}{i}{end}")
        })
        .collect()
}

#[test]
fn words_that_leave_and_come_back_are_counted_right() {
    // Batches of 500 lines: 5,000 distinct words each, more than a dictionary keeps before it
    // sweeps; the first batch's words come back after two batches of others.
    let text = [
        fresh("a", 5_000),
        fresh("b", 5_000),
        fresh("c", 5_000),
        fresh("a", 5_000),
        "a0 a0 b1\n".repeat(500),
    ]
    .concat();
    let dir = TempDir::new("ids-come-back");
    let file = dir.write("in.txt", text.as_bytes());
    let batches = oracle_batches(&text, 500);
    let per_batch: Vec<(u64, Vec<(String, i64)>)> = batches
        .iter()
        .enumerate()
        .map(|(k, counts)| (k as u64 + 1, sorted_rows(counts)))
        .collect();
    let mut total = Counts::new();
    let running: Vec<(u64, Vec<(String, i64)>)> = batches
        .iter()
        .enumerate()
        .map(|(k, counts)| {
            for (word, count) in counts {
                *total.entry(word.clone()).or_default() += count;
            }
            (k as u64 + 1, sorted_rows(&total))
        })
        .collect();
    for workers in ["1", "2", "3"] {
        let run_mode = |mode: &[&str]| {
            stdout_of(
                &Netwc::new()
                    .arg("--file")
                    .arg(&file)
                    .args(["--batch-lines", "500", "--format", "tsv", "-w", workers])
                    .args(mode)
                    .output(),
            )
        };
        assert_eq!(
            run_mode(&[]),
            expected_tsv(&per_batch),
            "batch -w {workers}"
        );
        assert_eq!(
            run_mode(&["--mode", "incremental", "--emit", "all"]),
            expected_tsv(&running),
            "incremental -w {workers}"
        );
    }
}

#[test]
fn memory_stays_flat_under_ever_new_words() {
    // Batch mode forgets each batch; so does every worker's dictionary. After a million fresh
    // words memory has levelled off (measured: about 94 MiB in a debug build at one, two and
    // six million); twice as many may not take much more at its peak.
    let dir = TempDir::new("ids-flat");
    let peak = |words: usize| {
        let file = dir.write(&format!("fresh-{words}.txt"), fresh("f", words).as_bytes());
        let mut child = Netwc::new()
            .arg("--file")
            .arg(&file)
            .args(["--batch-lines", "2000", "--format", "tsv", "--top", "1"])
            .stdout_null()
            .stderr_null()
            .spawn();
        child.wait_with_peak_rss()
    };
    let small = peak(1_000_000);
    let large = peak(2_000_000);
    assert!(
        large * 10 < small * 13,
        "peak RSS {large} KiB for 2,000,000 fresh words against {small} KiB for 1,000,000"
    );
}

/// The resident memory of process `pid` now (VmRSS), in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn a_burst_that_has_left_the_window_gives_its_memory_back() {
    // Two bursts of fresh words into a 1 s window, each followed by quiet. Once a burst has
    // left the window, netwc forgets it (its workers' dictionaries too, with no batch after it
    // to prompt them) and the allocator gives the pages back: resident memory falls to a
    // fraction of the burst's peak, after the second burst as after the first (measured in a
    // debug build: a peak of about 100 MiB, about 12 MiB a second after the burst has left).
    let (bursts_sent, send_burst) = std::sync::mpsc::channel::<()>();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        for burst in 0..2 {
            if send_burst.recv_timeout(Duration::from_secs(60)).is_err() {
                return;
            }
            let text = fresh(&format!("b{burst}-"), 300_000);
            stream.write_all(text.as_bytes()).unwrap();
        }
        let _ = send_burst.recv_timeout(Duration::from_secs(60));
    });
    let mut child = Netwc::new()
        .args(["127.0.0.1", &port.to_string(), "--batch", "100ms"])
        .args([
            "--mode", "window", "--window", "1s", "--format", "tsv", "--top", "1", "--stats",
        ])
        .stdout_null()
        .spawn();
    let pid = child.pid();
    // Resident memory before any burst, once netwc runs (it has reported a batch).
    let lines = child.stderr_lines();
    wait_for(&lines, "batch time=", 1);
    let before = rss_kib(pid);
    for burst in 1..=2 {
        bursts_sent.send(()).unwrap();
        // Wait (bounded) for the burst to be taken in, then for its memory to go back.
        let start = Instant::now();
        let mut peak = 0;
        let mut now = rss_kib(pid);
        while start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(100));
            now = rss_kib(pid);
            peak = peak.max(now);
            if peak > 3 * before && now * 3 < peak {
                break;
            }
        }
        assert!(
            peak > 3 * before && now * 3 < peak,
            "burst {burst}: resident memory {now} KiB after a peak of {peak} KiB ({before} KiB before any burst)"
        );
    }
    // The connection closes: end of input.
    drop(bursts_sent);
    server.join().unwrap();
    assert!(child.status_within(RUN_LIMIT).success());
}

//! Fifty `kill -9`s at random moments, each followed by a restart on the same checkpoint, in
//! each mode, with lines long enough to reach the log in pieces: every batch is printed once
//! across all the runs, and each printed batch equals the oracle's count of its lines.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::util::*;

/// Lines per batch.
const N: usize = 7;
/// Lines sent to each run: whole batches, so that all of them are reported before the kill.
const PART: usize = 6 * N;

/// Line `i` of the stream: a few words, and every 150th one of 280 KB, longer than a reader
/// holds, so that it reaches the log in pieces.
fn line(i: usize) -> String {
    if i % 150 == 149 {
        let words: Vec<String> = (0..40_000).map(|j| format!("long{}", j % 301)).collect();
        return words.join(" ") + "\n";
    }
    format!("w{} x{} y{} w{}\n", i % 13, i % 7, i % 29, i % 5)
}

/// The oracle's counts of what batch `k` (named `k + 1`) reports in `mode`.
fn expected(mode: &str, lines: &[String], k: usize) -> Counts {
    let first = match mode {
        "incremental" => 0,
        "window" => k.saturating_sub(2) * N,
        _ => k * N,
    };
    oracle_totals(&lines[first..(k + 1) * N].concat())
}

fn kill_and_restart_fifty_times(mode: &str, mode_args: &[&str], seed: u64) {
    let dir = TempDir::new(&format!("kill-restarts-{mode}"));
    let state = dir.path("state");
    let mut rng = Rng::new(seed);
    let mut lines: Vec<String> = Vec::new();
    let mut printed: BTreeMap<u64, Counts> = BTreeMap::new();
    for run_number in 0..=50 {
        let part: Vec<String> = (lines.len()..lines.len() + PART).map(line).collect();
        lines.extend(part.iter().cloned());
        let last = run_number == 50;
        let mut child = Netwc::new()
            .args([
                "127.0.0.1",
                &serve_parts(vec![part.concat()], Duration::ZERO, true).to_string(),
            ])
            .args([
                "--batch-lines",
                &N.to_string(),
                "--format",
                "tsv",
                "--stats",
            ])
            .args(["--emit", "all", "--top", "0"])
            .args(mode_args)
            .arg("--checkpoint")
            .arg(&state)
            .spawn();
        // Every batch of this part is printed (the earlier ones were, before the last kill).
        let stderr = child.stderr_lines();
        let mut waited = 0;
        while (printed.len() + waited) * N < lines.len() {
            wait_for(&stderr, "batch time=", 1);
            waited += 1;
        }
        if last {
            child.signal("TERM");
        } else {
            // A random moment: before, during or after a snapshot (about one a second). The
            // sleep is deliberate: when the kill comes is what varies.
            std::thread::sleep(Duration::from_millis(rng.below(1_300)));
            child.signal("KILL");
        }
        let output = child.output_within(Duration::from_secs(20));
        for (time, counts) in parse_tsv(&String::from_utf8_lossy(&output.stdout)) {
            assert!(
                printed.insert(time, counts).is_none(),
                "{mode}: batch {time} printed twice (run {run_number})"
            );
        }
    }
    let batches = lines.len() / N;
    let names: Vec<u64> = printed.keys().copied().collect();
    assert_eq!(names, (1..=batches as u64).collect::<Vec<_>>(), "{mode}");
    for (k, counts) in printed.values().enumerate() {
        assert_eq!(
            *counts,
            expected(mode, &lines, k),
            "{mode}: batch {}",
            k + 1
        );
    }
}

#[test]
fn fifty_kill_9_restarts_in_each_mode_print_every_batch_once_and_exactly() {
    let modes: [(&str, &[&str]); 3] = [
        ("batch", &["--mode", "batch"]),
        ("window", &["--mode", "window", "--window", "3"]),
        ("incremental", &["--mode", "incremental"]),
    ];
    let threads: Vec<_> = modes
        .into_iter()
        .enumerate()
        .map(|(i, (mode, args))| {
            std::thread::spawn(move || kill_and_restart_fifty_times(mode, args, 11 + i as u64))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

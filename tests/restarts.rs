//! Restarts on a checkpoint after a long time down: the batches missed meanwhile are passed in
//! one step (a window retracts what left it at once), so a restart after an hour of 1 ms
//! batches is live at once rather than after minutes of closing empty batches.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::*;

/// A record of the checkpoint log as README's "Durable state" lays it out, written here
/// independently of netwc's own code.
fn record(payload: &[u8]) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    header.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let header_crc = crc32fast::hash(&header);
    header.extend_from_slice(&header_crc.to_le_bytes());
    [header, payload.to_vec()].concat()
}

/// A log (never compacted) holding `text` read in `epoch`, whose report was printed.
fn log_of_one_reported_batch(epoch: u64, text: &[u8], lines: u64) -> Vec<u8> {
    let mut bytes = b"NETWCLOG".to_vec();
    bytes.extend_from_slice(&5u32.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let mut chunk = vec![3];
    chunk.extend_from_slice(&epoch.to_le_bytes());
    chunk.extend_from_slice(&lines.to_le_bytes());
    chunk.push(0);
    chunk.extend_from_slice(&0u64.to_le_bytes());
    chunk.extend_from_slice(text);
    bytes.extend(record(&chunk));
    let mut reported = vec![2];
    reported.extend_from_slice(&epoch.to_le_bytes());
    bytes.extend(record(&reported));
    bytes
}

/// Makes `state` a checkpoint whose last batch, holding `old`, is an hour old.
fn an_hour_old_checkpoint(state: &Path, input: &Path, args: &[&str], interval_ms: u64, old: &str) {
    // A first run writes the settings; its log and snapshot are then replaced.
    let first = Netwc::new()
        .arg("--file")
        .arg(input)
        .args(args)
        .arg("--checkpoint")
        .arg(state)
        .output();
    assert!(first.status.success());
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let an_hour_ago = (now_ms - 3_600_000) / interval_ms;
    let lines = old.matches('\n').count() as u64;
    std::fs::write(
        state.join("wal.log"),
        log_of_one_reported_batch(an_hour_ago, old.as_bytes(), lines),
    )
    .unwrap();
    std::fs::remove_file(state.join("snapshot.log")).unwrap();
}

fn restart_after_an_hour(name: &str, args: &[&str], interval_ms: u64) -> (Counts, Duration) {
    let dir = TempDir::new(name);
    let state = dir.path("state");
    let input = dir.write("new.txt", b"new x\n");
    an_hour_old_checkpoint(&state, &input, args, interval_ms, "old old x\n");
    let started = Instant::now();
    let output = Netwc::new()
        .arg("--file")
        .arg(&input)
        .args(args)
        .args(["--format", "tsv", "--emit", "all", "--top", "0"])
        .arg("--checkpoint")
        .arg(&state)
        .output();
    let took = started.elapsed();
    let stdout = stdout_of(&output);
    let last = parse_tsv(&stdout).pop_last().map(|(_, c)| c);
    (last.unwrap_or_default(), took)
}

#[test]
fn running_totals_are_live_at_once_after_an_hour_of_1ms_batches_down() {
    let args = ["--batch", "1ms", "--mode", "incremental"];
    let (totals, took) = restart_after_an_hour("hour-incremental", &args, 1);
    assert_eq!(totals, oracle_totals("old old x\nnew x\n"));
    // Closing 3.6 million batches one by one took minutes.
    assert!(took < Duration::from_secs(10), "the restart took {took:?}");
}

#[test]
fn a_window_retracts_at_once_what_left_it_while_down() {
    let args = ["--batch", "1ms", "--mode", "window", "--window", "2s"];
    let (window, took) = restart_after_an_hour("hour-window", &args, 1);
    assert_eq!(window, oracle_totals("new x\n"));
    assert!(took < Duration::from_secs(10), "the restart took {took:?}");
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Sleeps until just after the start of the next `interval_ms` interval (deliberately a sleep:
/// the tests need runs inside one interval of the clock).
fn sleep_to_next_interval(interval_ms: u64) {
    let left = interval_ms - now_ms() % interval_ms;
    std::thread::sleep(Duration::from_millis(left + 50));
}

/// One run of `netwc --stdin` on the checkpoint `state` that reads `text`: its reports as
/// (batch time, counts).
fn one_run(state: &Path, mode: &[&str], text: &str) -> Vec<(u64, Counts)> {
    let output = Netwc::new()
        .args([
            "--stdin", "--batch", "5s", "--format", "jsonl", "--top", "0",
        ])
        .args(mode)
        .arg("--checkpoint")
        .arg(state)
        .stdin_bytes(text)
        .output_within(Duration::from_secs(20));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout_of(&output)
        .lines()
        .map(|line| {
            let report: serde_json::Value = serde_json::from_str(line).unwrap();
            let counts = report["counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["word"].as_str().unwrap().to_string(),
                        c["count"].as_i64().unwrap(),
                    )
                })
                .collect();
            (report["time"].as_u64().unwrap(), counts)
        })
        .collect()
}

#[test]
fn quick_restarts_merge_their_lines_into_the_batch_in_every_mode() {
    let dir = TempDir::new("quick-restarts");
    let modes: [(&str, &[&str]); 3] = [
        ("batch", &["--mode", "batch"]),
        ("window", &["--mode", "window", "--window", "10s"]),
        ("incremental", &["--mode", "incremental", "--emit", "all"]),
    ];
    sleep_to_next_interval(5_000);
    let interval = now_ms() / 5_000;
    // Three runs of each mode inside one 5 s interval: each reports that interval's batch
    // again, with the lines of every run so far.
    for run_number in 1..=3 {
        for (name, mode) in modes {
            let reports = one_run(&dir.path(name), mode, &format!("a{run_number}\n"));
            let expected: Counts = (1..=run_number).map(|i| (format!("a{i}"), 1)).collect();
            assert_eq!(
                reports,
                [((interval + 1) * 5_000, expected)],
                "{name}, run {run_number}"
            );
        }
    }
    assert_eq!(
        now_ms() / 5_000,
        interval,
        "the runs took longer than the interval"
    );
    // One run in the next interval: a new batch, whose window still holds the last one.
    sleep_to_next_interval(5_000);
    for (name, mode) in modes {
        let reports = one_run(&dir.path(name), mode, "b\n");
        let mut expected: Counts = [("b".to_string(), 1)].into();
        if name != "batch" {
            expected.extend((1..=3).map(|i| (format!("a{i}"), 1)));
        }
        let time = (interval + 2) * 5_000;
        assert_eq!(reports, [(time, expected)], "{name}, the next interval");
    }
}

#[test]
fn a_quick_restart_refused_at_its_source_reopens_no_batch() {
    let dir = TempDir::new("quick-refused");
    let state = dir.path("state");
    let mode: &[&str] = &["--mode", "incremental", "--emit", "all"];
    sleep_to_next_interval(5_000);
    let interval = now_ms() / 5_000;
    let first = one_run(&state, mode, "a\n");
    assert_eq!(first.len(), 1);
    // A quick restart whose source cannot be opened (nothing listens on the port) stops
    // with exit 1, before it changes the checkpoint.
    let refused = Netwc::new()
        .args(["127.0.0.1", &free_port().to_string()])
        .args(["--batch", "5s", "--format", "jsonl", "--top", "0"])
        .args(mode)
        .arg("--checkpoint")
        .arg(&state)
        .output();
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        now_ms() / 5_000,
        interval,
        "the runs took longer than the interval"
    );
    // The next run, in the next interval, reports its own batch only: the first run's batch
    // was reported once and is not reported again.
    sleep_to_next_interval(5_000);
    let next = one_run(&state, mode, "b\n");
    let expected: Counts = [("a".to_string(), 1), ("b".to_string(), 1)].into();
    assert_eq!(next, [((interval + 2) * 5_000, expected)]);
}

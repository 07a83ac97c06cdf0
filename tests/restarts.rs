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
    bytes.extend_from_slice(&3u32.to_le_bytes());
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
    let first = run(netwc()
        .arg("--file")
        .arg(input)
        .args(args)
        .arg("--checkpoint")
        .arg(state));
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
    let output = run(netwc()
        .arg("--file")
        .arg(&input)
        .args(args)
        .args(["--format", "tsv", "--emit", "all", "--top", "0"])
        .arg("--checkpoint")
        .arg(&state));
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

//! A damaged checkpoint is never restored as if it were whole: a `kill -9` leaves a directory
//! with a snapshot and a log; one bit flipped anywhere in any of its files makes the restart
//! either fail (exit 1, naming the file) or report exactly what the undamaged copy reports.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use crate::util::*;

/// A text server that sends `first`, waits for the word to go on, sends `second`, and holds
/// the connection open.
fn two_part_server(first: String, second: String) -> (u16, std::sync::mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (go_on, gone_on) = channel::<()>();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(first.as_bytes()).unwrap();
        if gone_on.recv_timeout(Duration::from_secs(30)).is_ok() {
            stream.write_all(second.as_bytes()).unwrap();
            let _ = gone_on.recv_timeout(Duration::from_secs(30));
        }
    });
    (port, go_on)
}

fn settings(mode: &[&str]) -> Vec<String> {
    [
        "--batch-lines",
        "7",
        "--format",
        "tsv",
        "--emit",
        "all",
        "--top",
        "0",
    ]
    .iter()
    .chain(mode)
    .map(|s| s.to_string())
    .collect()
}

/// Runs netwc on a stream in two parts and kills it with a snapshot (of the first part) and
/// a log (of the second) on the disk; returns the checkpoint directory.
fn killed_with_a_snapshot_and_a_log(dir: &TempDir, mode: &[&str]) -> PathBuf {
    let state = dir.path("state");
    let line = |i: usize| format!("w{} x{} long{}\n", i % 11, i % 5, i % 3);
    let first: String = (0..70).map(line).collect();
    let second: String = (70..130).map(line).collect();
    let (port, go_on) = two_part_server(first, second);
    let mut child = Netwc::new()
        .args(["127.0.0.1", &port.to_string(), "--stats"])
        .args(settings(mode))
        .arg("--checkpoint")
        .arg(&state)
        .stdout_null()
        .spawn();
    let lines = child.stderr_lines();
    wait_for(&lines, "batch time=", 10);
    // Within about a second a snapshot is written and the log compacted: the log's header
    // then names the batch the snapshot covers (bytes 12..20).
    let started = Instant::now();
    while std::fs::read(state.join("wal.log")).map_or(true, |log| log[12..20] == [0; 8]) {
        assert!(started.elapsed() < Duration::from_secs(10), "no snapshot");
        std::thread::sleep(Duration::from_millis(20));
    }
    go_on.send(()).unwrap();
    // 130 lines: 18 batches of 7 are reported, the last 4 lines wait in the open batch.
    wait_for(&lines, "batch time=", 8);
    child.signal("KILL");
    child.status_within(Duration::from_secs(10));
    state
}

/// Restarts on `state` with no more input.
fn restart(state: &Path, mode: &[&str], empty: &Path) -> Output {
    Netwc::new()
        .arg("--file")
        .arg(empty)
        .args(settings(mode))
        .arg("--checkpoint")
        .arg(state)
        .output()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The bytes to damage in a file of `length` bytes: each of the first 48 (headers), the last
/// 16, and 24 more spread over the rest.
fn positions(length: usize, rng: &mut Rng) -> Vec<usize> {
    let mut positions: Vec<usize> = (0..length.min(48)).collect();
    positions.extend(length.saturating_sub(16)..length);
    positions.extend((0..24).map(|_| rng.below(length as u64) as usize));
    positions.sort_unstable();
    positions.dedup();
    positions
}

fn every_damage_is_found_or_harmless(name: &str, mode: &[&str]) {
    let dir = TempDir::new(name);
    let state = killed_with_a_snapshot_and_a_log(&dir, mode);
    let empty = dir.write("empty.txt", b"");
    let clean_copy = dir.path("clean");
    copy_dir(&state, &clean_copy);
    let clean = restart(&clean_copy, mode, &empty);
    let clean_out = stdout_of(&clean);
    let rows = parse_tsv(&clean_out);
    assert!(!rows.is_empty(), "the clean restart reports the open batch");
    let log_size = std::fs::metadata(state.join("wal.log")).unwrap().len();
    assert!(log_size > 100, "the log holds records: {log_size} bytes");

    let mut rng = Rng::new(7);
    let mut failures = 0;
    let mut restarts = 0;
    for file in ["netwc-checkpoint.json", "wal.log", "snapshot.log", "lock"] {
        let bytes = std::fs::read(state.join(file)).unwrap();
        for at in positions(bytes.len(), &mut rng) {
            let copy = dir.path(&format!("damaged-{file}-{at}"));
            copy_dir(&state, &copy);
            let mut damaged = bytes.clone();
            damaged[at] ^= 1 << rng.below(8);
            std::fs::write(copy.join(file), &damaged).unwrap();
            let output = restart(&copy, mode, &empty);
            let stderr = String::from_utf8_lossy(&output.stderr);
            restarts += 1;
            if output.status.success() {
                assert_eq!(
                    stdout_of(&output),
                    clean_out,
                    "byte {at} of {file} damaged, and the restart reported other counts; {stderr}"
                );
            } else {
                failures += 1;
                assert_eq!(output.status.code(), Some(1), "{file} byte {at}: {stderr}");
                assert!(
                    output.stdout.is_empty(),
                    "{file} byte {at}: nothing is printed"
                );
                assert!(stderr.contains(file), "{file} byte {at}: {stderr}");
            }
            std::fs::remove_dir_all(&copy).unwrap();
        }
    }
    assert!(
        failures * 2 > restarts,
        "{failures} of {restarts} restarts failed"
    );

    // A missing snapshot for a compacted log, and a missing log.
    for file in ["snapshot.log", "wal.log"] {
        let copy = dir.path(&format!("without-{file}"));
        copy_dir(&state, &copy);
        std::fs::remove_file(copy.join(file)).unwrap();
        let output = restart(&copy, mode, &empty);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "without {file}: {stderr}");
        assert!(stderr.contains(file), "{stderr}");
    }
}

#[test]
fn a_flipped_bit_anywhere_in_running_totals_is_found_or_harmless() {
    every_damage_is_found_or_harmless("damage-incremental", &["--mode", "incremental"]);
}

#[test]
fn a_flipped_bit_anywhere_in_a_window_is_found_or_harmless() {
    every_damage_is_found_or_harmless("damage-window", &["--mode", "window", "--window", "3"]);
}

//! `--checkpoint`: kill -9 netwc after it has reported part of a stream, restart it on the same
//! directory, send the rest: the counts equal those of everything sent, and no batch is printed
//! twice. Also torn and corrupt files, and a directory written with other settings.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::*;

/// Serves `text`, then keeps the connection open (if `hold`) or closes it.
fn serve(text: String, hold: bool) -> u16 {
    serve_parts(vec![text], Duration::ZERO, hold)
}

fn start(port: u16, dir: &Path, mode: &[&str]) -> Running {
    Netwc::new()
        .args([
            "127.0.0.1",
            &port.to_string(),
            "--batch-lines",
            "7",
            "--format",
            "tsv",
        ])
        .arg("--stats")
        .arg("--checkpoint")
        .arg(dir)
        .args(mode)
        .spawn()
}

/// Runs the crash and the restart; returns both runs' outputs.
fn crash_and_resume(name: &str, mode: &[&str], seed: u64) -> (String, String, String, String) {
    let dir = TempDir::new(name);
    let state = dir.path("state");
    let first: String = (0..50)
        .map(|i| format!("w{} x{} y\n", i % 7, i % 3))
        .collect();
    let second: String = (0..30)
        .map(|i| format!("w{} z{}\n", i % 5, i % 2))
        .collect();
    let mut child = start(serve(first, true), &state, mode);
    // Wait until 49 of the 50 lines are reported (7 batches of 7); the 50th is read but its
    // batch is still open. Then kill at a seeded moment.
    let stderr = child.stderr_lines();
    let mut reported = 0;
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while reported < 49 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = stderr.recv_timeout(left) else {
            panic!("{reported} of 49 lines reported: {log}");
        };
        log.push_str(&line);
        log.push('\n');
        if let Some(lines) = stats_lines(&line) {
            reported += lines as u64;
        }
    }
    // Deliberately a sleep: the seeded moment of the kill is what varies between runs.
    std::thread::sleep(Duration::from_millis(Rng::new(seed).below(200)));
    child.signal("KILL");
    let crashed = child.output_within(Duration::from_secs(10));
    assert!(log.contains("Creating new context"), "{log}");
    let resumed = Netwc::new()
        .args(["127.0.0.1", &serve(second, false).to_string()])
        .args([
            "--batch-lines",
            "7",
            "--format",
            "tsv",
            "--stats",
            "--checkpoint",
        ])
        .arg(&state)
        .args(mode)
        .output();
    let resumed_err = String::from_utf8_lossy(&resumed.stderr).to_string();
    assert!(resumed.status.success(), "{resumed_err}");
    assert!(
        resumed_err.contains("restored the checkpoint"),
        "{resumed_err}"
    );
    // The run ended with a snapshot: the log it covers is gone.
    let log_size = std::fs::metadata(state.join("wal.log")).unwrap().len();
    assert!(
        log_size < 100,
        "the log keeps {log_size} bytes after a final snapshot"
    );
    (
        String::from_utf8(crashed.stdout).unwrap(),
        String::from_utf8(resumed.stdout).unwrap(),
        log,
        resumed_err,
    )
}

fn everything() -> Counts {
    let first: String = (0..50)
        .map(|i| format!("w{} x{} y\n", i % 7, i % 3))
        .collect();
    let second: String = (0..30)
        .map(|i| format!("w{} z{}\n", i % 5, i % 2))
        .collect();
    oracle_totals(&(first + &second))
}

/// The rows of the last batch in TSV output.
fn last_batch(stdout: &str) -> Counts {
    parse_tsv(stdout)
        .pop_last()
        .map(|(_, counts)| counts)
        .unwrap_or_default()
}

/// Counts `file` with `args`, its state in the checkpoint directory `state`.
fn count_file(file: &Path, args: &[&str], state: &Path) -> std::process::Output {
    Netwc::new()
        .arg("--file")
        .arg(file)
        .args(args)
        .arg("--checkpoint")
        .arg(state)
        .output()
}

#[test]
fn running_totals_survive_kill_9() {
    for seed in 0..3 {
        let (_, resumed, _, _) = crash_and_resume(
            "incremental",
            &["--mode", "incremental", "--emit", "all"],
            seed,
        );
        assert_eq!(last_batch(&resumed), everything(), "seed {seed}");
    }
}

#[test]
fn a_window_survives_kill_9() {
    for seed in 3..5 {
        // A window longer than the whole stream: its last report holds every word.
        let (_, resumed, _, _) =
            crash_and_resume("window", &["--mode", "window", "--window", "100"], seed);
        assert_eq!(last_batch(&resumed), everything(), "seed {seed}");
    }
}

#[test]
fn per_batch_counts_survive_kill_9_and_no_batch_prints_twice() {
    for seed in 5..7 {
        let (crashed, resumed, _, _) = crash_and_resume("batch", &["--mode", "batch"], seed);
        let before = parse_tsv(&crashed);
        let after = parse_tsv(&resumed);
        for time in after.keys() {
            assert!(
                !before.contains_key(time),
                "batch {time} printed twice (seed {seed})"
            );
        }
        let mut all = before;
        all.extend(after);
        let names: Vec<u64> = all.keys().copied().collect();
        assert_eq!(
            names,
            (1..=names.len() as u64).collect::<Vec<_>>(),
            "every batch once"
        );
        assert_eq!(totals(&all), everything(), "seed {seed}");
    }
}

#[test]
fn a_torn_log_record_is_dropped_with_a_warning() {
    let dir = TempDir::new("torn");
    let state = dir.path("state");
    let file = dir.write("input.txt", b"a b\nc\n");
    let args = [
        "--batch-lines",
        "1",
        "--format",
        "tsv",
        "--mode",
        "incremental",
        "--emit",
        "all",
    ];
    stdout_of(&count_file(&file, &args, &state));
    // Bytes after the last record that are no record's start are damage, not a crash (a
    // tail of zeros alone is what a power cut leaves: see `trust::power_cut_*`).
    let log_path = state.join("wal.log");
    let whole = std::fs::read(&log_path).unwrap();
    for extra in [&b"x"[..], &[0, 0, 0, 0, 0, 0, 1]] {
        std::fs::write(&log_path, [&whole[..], extra].concat()).unwrap();
        let damaged = count_file(&file, &args, &state);
        let stderr = String::from_utf8_lossy(&damaged.stderr);
        assert_eq!(damaged.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("wal.log") && stderr.contains("corrupt at offset"),
            "{stderr}"
        );
        assert!(damaged.stdout.is_empty());
    }
    // A crash in the middle of appending a record: its header is whole (with its checksum),
    // its payload stops at the end of the file.
    assert!(
        whole.len() % 4096 + 12 <= 4096,
        "no padding before this header"
    );
    let payload = [3u8; 40];
    let mut header = Vec::new();
    header.extend_from_slice(&40u32.to_le_bytes());
    header.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    let header_crc = crc32fast::hash(&header);
    header.extend_from_slice(&header_crc.to_le_bytes());
    std::fs::write(&log_path, [&whole[..], &header, &payload[..9]].concat()).unwrap();
    let again = count_file(&file, &args, &state);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("dropped a torn last record"), "{stderr}");
    assert_eq!(
        last_batch(&stdout_of(&again)),
        oracle_totals("a b\nc\na b\nc\n")
    );
}

#[test]
fn corrupt_or_foreign_checkpoints_are_refused_by_name() {
    let dir = TempDir::new("corrupt");
    let state = dir.path("state");
    let file = dir.write("input.txt", b"a b\n");
    let incremental = ["--batch-lines", "1", "--mode", "incremental"];
    stdout_of(
        &Netwc::new()
            .arg("--file")
            .arg(&file)
            .args(incremental)
            .arg("--checkpoint")
            .arg(&state)
            .output(),
    );

    // Other settings.
    let window = ["--batch-lines", "1", "--mode", "window", "--window", "2"];
    let output = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args(window)
        .arg("--checkpoint")
        .arg(&state)
        .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--mode is window 2 slide 1 here but incremental in the checkpoint"),
        "plain words, no debug text: {stderr}"
    );

    // A flipped byte in the snapshot.
    let snapshot = state.join("snapshot.log");
    let mut bytes = std::fs::read(&snapshot).unwrap();
    bytes[0] ^= 0x55;
    std::fs::write(&snapshot, bytes).unwrap();
    let output = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args(incremental)
        .arg("--checkpoint")
        .arg(&state)
        .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("snapshot.log") && stderr.contains("corrupt at offset 0"),
        "{stderr}"
    );

    // A directory that is not a checkpoint.
    let other = dir.path("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"mine").unwrap();
    let output = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args(incremental)
        .arg("--checkpoint")
        .arg(&other)
        .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a netwc checkpoint"), "{stderr}");
}

#[test]
fn every_reading_process_of_a_cluster_recovers_its_own_log() {
    let dir = TempDir::new("cluster-checkpoint");
    let state = dir.path("state");
    let hosts = hostfile(&dir, 2);
    let text = |p: usize, part: usize, lines: usize| -> String {
        (0..lines)
            .map(|i| format!("p{p}w{} part{part} shared\n", i % 4))
            .collect()
    };
    let args = |port: u16, p: usize| -> Vec<String> {
        [
            "127.0.0.1",
            &port.to_string(),
            "--batch-lines",
            "7",
            "--format",
            "tsv",
            "--stats",
            "--mode",
            "incremental",
            "--emit",
            "all",
            "--every-process-reads",
            "-n",
            "2",
            "-p",
            &p.to_string(),
        ]
        .iter()
        .map(|a| a.to_string())
        .chain(["--hostfile".into(), hosts.to_str().unwrap().into()])
        .chain(["--checkpoint".into(), state.to_str().unwrap().into()])
        .collect()
    };
    // First run: each process reads 100 lines, and 1.5 s later 50 more, from a server that
    // stays connected; process 0 takes a snapshot (about once a second, at a report) and
    // announces it, and process 1 drops that part of its log: it restarts without a snapshot
    // of its own.
    let parts = |p: usize| vec![text(p, 0, 100), text(p, 2, 50)];
    let pause = Duration::from_millis(1_500);
    let source_of_one = serve_parts(parts(1), pause, true);
    let mut one = Netwc::new().args(args(source_of_one, 1)).spawn();
    let mut zero = Netwc::new()
        .args(args(serve_parts(parts(0), pause, true), 0))
        .spawn();
    let lines = zero.stderr_lines();
    let mut reported = 0;
    while reported < 147 {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("batches are reported");
        if let Some(n) = stats_lines(&line) {
            reported += n as u64;
        }
    }
    // Process 1 has read (and so logged) every line it was sent, the last three in the batch
    // still open.
    wait_read(source_of_one);
    one.signal("KILL");
    one.status_within(Duration::from_secs(10));
    let lost = zero.output_within(Duration::from_secs(20));
    assert_eq!(
        lost.status.code(),
        Some(1),
        "process 0 stops when process 1 dies"
    );
    // Second run: each process gets 20 more lines, then its server closes.
    let one = Netwc::new()
        .args(args(serve(text(1, 1, 20), false), 1))
        .spawn();
    let zero = Netwc::new()
        .args(args(serve(text(0, 1, 20), false), 0))
        .spawn();
    let resumed = zero.output_within(Duration::from_secs(30));
    let other = one.output_within(Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(
        other.status.success(),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    assert!(stderr.contains("restored the checkpoint"), "{stderr}");
    let mut expected = Counts::new();
    for (p, part, n) in [
        (0, 0, 100),
        (1, 0, 100),
        (0, 2, 50),
        (1, 2, 50),
        (0, 1, 20),
        (1, 1, 20),
    ] {
        for (word, count) in oracle_totals(&text(p, part, n)) {
            *expected.entry(word).or_default() += count;
        }
    }
    assert_eq!(
        last_batch(&String::from_utf8_lossy(&resumed.stdout)),
        expected
    );
}

#[test]
fn a_checkpoint_of_an_older_format_is_refused_by_name() {
    let dir = TempDir::new("format-2");
    let state = dir.path("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("netwc-checkpoint.json"),
        r#"{"format":2,"settings":{"batching":"lines 1","--mode":"incremental"}}"#,
    )
    .unwrap();
    let input = dir.write("in.txt", b"old new\n");
    let output = count_file(
        &input,
        &["--batch-lines", "1", "--mode", "incremental"],
        &state,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("checkpoint format 2") && stderr.contains("netwc-checkpoint.json"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn a_window_with_many_words_is_restored_whole() {
    // The snapshot's oldest batch holds few words and the later ones thousands: restoring
    // must keep every word's name until its batch's counts come back.
    let line = |k: usize, words: usize| -> String {
        let words: Vec<String> = (0..words).map(|i| format!("k{k}w{i}")).collect();
        words.join(" ") + "\n"
    };
    let sizes = [5, 5, 5, 5, 5, 5, 5, 5, 100, 6_000, 6_000, 6_000];
    let first: String = sizes.iter().enumerate().map(|(k, &n)| line(k, n)).collect();
    let second = line(99, 10);
    let dir = TempDir::new("window-many-words");
    let state = dir.path("state");
    let args = |port: u16| -> Vec<String> {
        [
            "127.0.0.1",
            &port.to_string(),
            "--batch-lines",
            "1",
            "--mode",
            "window",
            "--window",
            "3",
            "--format",
            "tsv",
            "--top",
            "0",
            "--stats",
            "--checkpoint",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([state.display().to_string()])
        .collect()
    };
    let mut child = Netwc::new()
        .args(args(serve(first.clone(), true)))
        .stdout_null()
        .spawn();
    let lines = child.stderr_lines();
    // Eleven batches reported; the twelfth line's batch is open. A snapshot follows within
    // about a second.
    wait_for(&lines, "batch time=", 11);
    let started = Instant::now();
    while !state.join("snapshot.log").exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "no snapshot");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.signal("KILL");
    child.status_within(Duration::from_secs(10));
    let output = Netwc::new()
        .args(args(serve(second.clone(), false)))
        .output();
    let stdout = stdout_of(&output);
    // The last report is the window of the last three lines.
    let batches = parse_tsv(&stdout);
    let (_, last) = batches.iter().next_back().expect("a report");
    let expected = oracle_totals(&[line(10, 6_000), line(11, 6_000), second].concat());
    assert_eq!(*last, expected);
}

#[test]
fn a_leftover_temporary_snapshot_is_harmless_and_removed() {
    let dir = TempDir::new("leftover");
    let state = dir.path("state");
    let file = dir.write("input.txt", b"a b\nc\n");
    let args = [
        "--batch-lines",
        "1",
        "--format",
        "tsv",
        "--mode",
        "incremental",
    ];
    assert!(count_file(&file, &args, &state).status.success());
    // A crash (or a full disk) between writing a snapshot and renaming it.
    std::fs::write(state.join("snapshot.tmp"), vec![b'x'; 1 << 20]).unwrap();
    let again = count_file(&file, &[&args[..], &["--emit", "all"]].concat(), &state);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("left by an interrupted write"), "{stderr}");
    assert!(!state.join("snapshot.tmp").exists());
    assert_eq!(
        last_batch(&stdout_of(&again)),
        oracle_totals("a b\nc\na b\nc\n")
    );
}

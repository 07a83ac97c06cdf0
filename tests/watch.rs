//! `--watch DIR` (Spark's `textFileStream`): files moved into a directory are counted, each
//! exactly once across `kill -9` restarts with `--checkpoint`; hidden and temporary names are
//! not; `--from` decides about the files already there; a big file is read in bounded memory;
//! a file removed before it was read is named.

use std::path::Path;
use std::time::Duration;

use crate::util::*;

/// Moves `text` into `dir` under `name` whole, as a producer should: written beside the
/// directory, then renamed into it.
fn move_in(dir: &TempDir, name: &str, text: &[u8]) {
    let staged = dir.write(&format!("staged-{name}"), text);
    std::fs::rename(staged, dir.path("in").join(name)).unwrap();
}

/// The running totals that a `--duration` run over `state` ends with (every file in the
/// directory then known to the checkpoint or read now).
fn final_totals(dir: &TempDir, state: &Path, workers: &str) -> Counts {
    let output = Netwc::new()
        .arg("--watch")
        .arg(dir.path("in"))
        .args(["--mode", "incremental", "--emit", "all", "--top", "0"])
        .args(["--format", "tsv", "--batch", "20ms", "--duration", "4s"])
        .args(["-w", workers, "--checkpoint"])
        .arg(state)
        .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let printed = parse_tsv(&stdout_of(&output));
    printed
        .last_key_value()
        .map(|(_, counts)| counts.clone())
        .unwrap_or_default()
}

#[test]
fn files_moved_in_are_counted_exactly_once_across_kill_9_restarts() {
    for (seed, workers) in [(1u64, "1"), (2, "3")] {
        let dir = TempDir::new("watch-kill");
        std::fs::create_dir(dir.path("in")).unwrap();
        let state = dir.path("state");
        let mut rng = Rng::new(seed);
        let mut all = String::new();
        // Hidden and temporary names are never read.
        move_in(&dir, ".hidden", b"ignored ignored\n");
        move_in(&dir, "_COPYING_", b"ignored\n");
        let mut file = 0;
        for _ in 0..6 {
            let mut running = Netwc::new()
                .arg("--watch")
                .arg(dir.path("in"))
                .args(["--mode", "incremental", "--format", "tsv", "--top", "0"])
                .args(["--batch", "20ms", "-w", workers, "--checkpoint"])
                .arg(&state)
                .stdout_null()
                .stderr_null()
                .spawn();
            running.wait_job_running();
            for _ in 0..2 {
                // Some files are a few chunks long, so that a kill lands inside one.
                let lines = if rng.below(3) == 0 { 20_000 } else { 300 };
                let text = random_text(seed * 100 + file, lines as usize);
                move_in(&dir, &format!("part-{file:04}.txt"), text.as_bytes());
                all.push_str(&text);
                all.push('\n');
                file += 1;
                // Deliberately a sleep: the seeded moment of the kill is what varies.
                std::thread::sleep(Duration::from_millis(rng.below(150)));
            }
            running.signal("KILL");
            running.status_within(Duration::from_secs(10));
        }
        assert_eq!(
            final_totals(&dir, &state, workers),
            oracle_totals(&all),
            "-w {workers}"
        );
    }
}

#[test]
fn from_latest_skips_the_files_already_there_and_from_earliest_reads_them() {
    let dir = TempDir::new("watch-from");
    std::fs::create_dir(dir.path("in")).unwrap();
    move_in(&dir, "before.txt", b"before before\nboth\n");
    let run = |from: &str| {
        let mut running = Netwc::new()
            .arg("--watch")
            .arg(dir.path("in"))
            .args(["--from", from, "--mode", "incremental", "--emit", "all"])
            .args(["--format", "tsv", "--batch", "100ms", "--duration", "3s"])
            .spawn();
        let stdout = running.stdout_text();
        let stderr = running.stderr_lines();
        running.wait_job_running();
        if from == "latest" {
            wait_for(&stderr, "watching", 1);
            move_in(&dir, "after.txt", b"after\nboth\n");
        }
        assert!(running.status_within(Duration::from_secs(20)).success());
        let printed = parse_tsv(&stdout.join().unwrap());
        printed
            .last_key_value()
            .map(|(_, counts)| counts.clone())
            .unwrap_or_default()
    };
    assert_eq!(run("latest"), oracle_totals("after\nboth\n"));
    assert_eq!(
        run("earliest"),
        oracle_totals("before before\nboth\nafter\nboth\n")
    );
}

#[test]
fn a_big_file_is_read_in_bounded_memory_and_a_file_removed_first_is_named() {
    let dir = TempDir::new("watch-big");
    std::fs::create_dir(dir.path("in")).unwrap();
    // 100 MB: lines of one word and a thousand spaces, some of them a megabyte long (cut
    // into pieces between words), so that reading, not counting, is what takes the time.
    let mut big = Vec::with_capacity(100 << 20);
    let mut expected = Counts::new();
    let mut line = 0u64;
    while big.len() < 100 << 20 {
        let word = format!("w{}", line % 50);
        *expected.entry(word.clone()).or_default() += 1;
        big.extend_from_slice(word.as_bytes());
        let spaces = if line.is_multiple_of(1000) {
            1 << 20
        } else {
            1000
        };
        big.resize(big.len() + spaces, b' ');
        big.push(b'\n');
        line += 1;
    }
    // Both there at the start, so that one listing holds them: the big one is read first
    // (older), and the other is gone before its turn.
    move_in(&dir, "a-big.txt", &big);
    drop(big);
    move_in(&dir, "b-gone.txt", b"gone\n");
    let mut running = Netwc::new()
        .arg("--watch")
        .arg(dir.path("in"))
        .args([
            "--from",
            "earliest",
            "--mode",
            "incremental",
            "--emit",
            "all",
        ])
        .args(["--top", "0", "--format", "tsv", "--batch", "100ms"])
        .spawn();
    let stdout = running.stdout_text();
    let stderr = running.stderr_lines();
    // Stopped once the big file is read whole: it was open, and is closed.
    let mut was_open = false;
    let mut peak = 0;
    for _ in 0..1200 {
        peak = peak.max(peak_rss_kib(running.pid()).unwrap_or(0));
        assert!(running.is_running(), "netwc ended by itself");
        let open = has_open(running.pid(), "a-big.txt");
        if was_open && !open {
            break;
        }
        if open && !was_open {
            std::fs::remove_file(dir.path("in").join("b-gone.txt")).unwrap();
        }
        was_open |= open;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(was_open, "the big file was never opened");
    let said = wait_for(&stderr, "was removed before it was read", 1);
    assert!(said.iter().any(|l| l.contains("b-gone.txt")), "{said:#?}");
    running.signal("TERM");
    assert!(running.status_within(Duration::from_secs(60)).success());
    let printed = parse_tsv(&stdout.join().unwrap());
    let last = printed
        .last_key_value()
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    assert_eq!(last, expected);
    assert!(
        peak < 96 * 1024,
        "peak resident memory {peak} KiB while reading a 100 MB file"
    );
}

/// Whether process `pid` has a file named `name` open.
fn has_open(pid: u32, name: &str) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|target| target.to_string_lossy().contains(name))
}

//! Exactly once with `--checkpoint`: `kill -9` at random moments, in a cluster, with a record
//! past the line limit, and a broker that lost what a checkpoint needs.

use std::time::{Duration, Instant};

use super::*;

/// Lets `run` read its partitions for `reading`, then kills it (SIGKILL).
fn kill_once_reading(mut run: Running, reading: Duration) {
    let lines = run.stderr_lines();
    wait_for(&lines, "reading 2 partitions", 1);
    // A sleep: what it reads goes into a batch that never completes (so `--stats` says
    // nothing) and into the log as offsets, and nothing else marks it.
    std::thread::sleep(reading);
    run.signal("KILL");
    run.output_within(Duration::from_secs(20));
}

#[test]
fn kill_9_at_random_moments_with_a_checkpoint_counts_every_record_exactly_once() {
    let broker = Broker::start();
    broker.produce("k", 3, true, "");
    let dir = TempDir::new("kafka-kill");
    let state = dir.path("state");
    let mut rng = Rng::new(21);
    let mut sent = String::new();
    let start = |stats: bool| {
        let command = checkpointed(&broker.address, "k", 50, &state);
        if stats {
            command.arg("--stats").spawn()
        } else {
            command.spawn()
        }
    };
    // Twenty runs, each killed at a random moment while records arrive.
    let mut read_again = 0;
    for run_number in 0..20 {
        let child = start(false);
        let part = text(100 + run_number, 150);
        broker.produce("k", 3, false, &part);
        sent.push_str(&part);
        // Some runs live past a snapshot, whose compaction keeps the offsets of what it drops.
        // (Deliberately a sleep: the random moment of the kill is what varies.)
        std::thread::sleep(Duration::from_millis(rng.below(1_400)));
        child.signal("KILL");
        let output = child.output_within(Duration::from_secs(20));
        // A run that restored chunks logged as offsets read their records again.
        read_again +=
            usize::from(String::from_utf8_lossy(&output.stderr).contains("again from the brokers"));
    }
    assert!(read_again > 0, "no run restored records from their offsets");
    // The log holds offsets, not the records' text (the snapshot holds words, as totals).
    let log = std::fs::read(state.join("wal.log")).unwrap();
    for line in sent.lines().filter(|l| l.len() >= 8) {
        assert!(
            !log.windows(line.len()).any(|w| w == line.as_bytes()),
            "{line:?} is in the log"
        );
    }
    // A last run reads on from where the checkpoint says, and a last part, and stops once
    // every line is in.
    let mut child = start(true);
    let lines = child.stderr_lines();
    let part = text(99, 150);
    broker.produce("k", 3, false, &part);
    sent.push_str(&part);
    let total = sent.lines().count();
    // Batches of 50 lines up to the last complete batch were printed before the restart.
    let restored = wait_for(&lines, "restored the checkpoint", 1);
    let before: usize = restored
        .last()
        .and_then(|l| l.split("last complete batch ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut counted = before * 50;
    let started = Instant::now();
    while counted < total - total % 50 {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the last run reports");
        if let Some(n) = stats_lines(&line) {
            counted += n;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    child.signal("TERM");
    let output = child.output_within(Duration::from_secs(20));
    let last = parse_tsv(&stdout_of(&output)).pop_last().map(|(_, c)| c);
    assert_eq!(last, Some(oracle_totals(&sent)));
}

#[test]
fn a_broker_that_lost_the_records_a_checkpoint_needs_is_an_error_naming_them() {
    let mut broker = Broker::start();
    broker.produce("g", 2, true, &text(61, 100));
    let dir = TempDir::new("kafka-lost");
    let state = dir.path("state");
    let address = broker.address.clone();
    let run = || {
        checkpointed(&address, "g", 1000, &state)
            .stdout_null()
            .spawn()
    };
    // The records are read and logged (as offsets) in a batch that never completes.
    kill_once_reading(run(), Duration::from_millis(1500));
    // The broker forgets its topics (memory storage); the topic is made anew, empty.
    broker.restart(Duration::ZERO);
    broker.produce("g", 2, true, "");
    let output = run().output_within(Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot restore batch") && stderr.contains("of 'g' must give offsets 0 to"),
        "{stderr}"
    );
}

#[test]
fn a_cluster_whose_processes_are_killed_in_turn_counts_every_record_once() {
    let broker = Broker::start();
    let dir = TempDir::new("kafka-cluster-kill");
    let state = dir.path("state");
    let hosts = hostfile(&dir, 2);
    let start = |process: usize| {
        checkpointed(&broker.address, "c", 40, &state)
            .args([
                "--every-process-reads",
                "-n",
                "2",
                "-p",
                &process.to_string(),
            ])
            .arg("--hostfile")
            .arg(&hosts)
            .spawn()
    };
    // Process 0's reports as they come, and whether their last totals are `expected`.
    let follow = |zero: &mut Running| {
        let mut stdout = zero.stdout();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buffer) {
                if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        receiver
    };
    let mut sent = String::new();
    let mut part = 0;
    // Line i goes to partition i mod 4: each process reads two partitions. Each run gets 200
    // more lines (50 a partition) once both processes are up, and reports what completes.
    broker.produce("c", 4, true, "");
    let mut run = |sent: &mut String| {
        let one = start(1);
        let mut zero = start(0);
        let reports = follow(&mut zero);
        part += 1;
        let more = text(70 + part, 200);
        broker.produce("c", 4, false, &more);
        sent.push_str(&more);
        let Ok(first) = reports.recv_timeout(Duration::from_secs(30)) else {
            let zero = zero.output_within(Duration::from_secs(5));
            panic!(
                "process 0 reports: {}",
                String::from_utf8_lossy(&zero.stderr)
            );
        };
        (zero, one, reports, first)
    };
    // Two runs each lose a process to kill -9 (1, then 0) while they count.
    for victim in [1, 0] {
        let (mut zero, mut one, _, _) = run(&mut sent);
        if victim == 1 {
            // Reports more than a second in: process 0 takes a snapshot and process 1 drops
            // what it covers from its log (it restores without a snapshot of its own). (A
            // sleep, deliberately: snapshots come by the clock, about once a second.)
            std::thread::sleep(Duration::from_millis(1_200));
            let more = text(79, 200);
            broker.produce("c", 4, false, &more);
            sent.push_str(&more);
        }
        // Deliberately a sleep: the kill comes while they count.
        std::thread::sleep(Duration::from_millis(600));
        let (killed, other) = if victim == 0 {
            (&mut zero, &mut one)
        } else {
            (&mut one, &mut zero)
        };
        killed.signal("KILL");
        killed.status_within(Duration::from_secs(10));
        // The other process stops, naming the lost one (exit 1), or is stopped when dropped.
        other.status_within(Duration::from_secs(20));
    }
    // A last run, stopped (SIGTERM) once it has counted a while: its last totals, with the
    // batch the stop closed, hold every record sent exactly once.
    let (mut zero, mut one, reports, mut printed) = run(&mut sent);
    // A sleep: process 0 reports only the batches complete in both processes, so nothing
    // marks every record read before the stop.
    std::thread::sleep(Duration::from_secs(3));
    one.signal("TERM");
    zero.signal("TERM");
    assert!(zero.status_within(Duration::from_secs(20)).success());
    assert!(one.status_within(Duration::from_secs(20)).success());
    printed.extend(reports.try_iter().flatten());
    let last = parse_tsv(&String::from_utf8_lossy(&printed))
        .pop_last()
        .map(|(_, c)| c);
    assert_eq!(last, Some(oracle_totals(&sent)));
}

#[test]
fn a_record_longer_than_the_line_limit_is_counted_exactly_and_restored_from_its_offsets() {
    let broker = Broker::start();
    // A 700 KB record of words (past the 256 KiB line limit) between ordinary records.
    let mut rng = Rng::new(81);
    let long: Vec<String> = (0..100_000)
        .map(|_| format!("w{}", rng.below(40)))
        .collect();
    let stream = format!("{}{}\n{}", text(82, 50), long.join(" "), text(83, 50));
    broker.produce("big", 2, true, &stream);
    let dir = TempDir::new("kafka-big");
    let state = dir.path("state");
    let start = || checkpointed(&broker.address, "big", 1000, &state).spawn();
    // Everything is read and logged (as offsets: a fetch's records are whole lines, however
    // long) in a batch that does not complete; then the run is killed.
    let first = start();
    // A sleep, as in `kill_once_reading`: nothing marks the records read.
    std::thread::sleep(Duration::from_secs(2));
    first.signal("KILL");
    first.output_within(Duration::from_secs(20));
    let log = std::fs::metadata(state.join("wal.log")).unwrap().len();
    assert!(
        log < 100_000,
        "the log holds offsets, not the 700 KB record: {log} bytes"
    );
    // The restart restores the batch from the log and the broker; a stop reports it.
    let second = start();
    // A sleep too: after the restore it reads on whatever the first run did not read.
    std::thread::sleep(Duration::from_secs(2));
    second.signal("TERM");
    let output = second.output_within(Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("restored the checkpoint"), "{stderr}");
    let last = parse_tsv(&stdout_of(&output)).pop_last().map(|(_, c)| c);
    assert_eq!(last, Some(oracle_totals(&stream)));
}

#[test]
fn records_sent_while_a_run_from_latest_is_down_are_counted_when_it_restarts() {
    let broker = Broker::start();
    broker.produce("l", 2, true, &text(91, 30));
    let dir = TempDir::new("kafka-latest");
    let state = dir.path("state");
    let start = || {
        Netwc::new()
            .args(["--kafka", &broker.address, "--topic", "l"])
            .args(["--from", "latest", "--batch", "200ms", "--stats"])
            .args(["--mode", "incremental", "--emit", "all"])
            .args(["--format", "tsv", "--top", "0", "--checkpoint"])
            .arg(&state)
            .spawn()
    };
    // The first run starts at the partitions' ends and is killed before any record arrives:
    // the checkpoint holds where it started, not a record.
    kill_once_reading(start(), Duration::from_millis(500));
    // Records sent while it is down are counted by the next run, not skipped as `--from
    // latest` would on a first start; those from before the first start are not.
    let down = text(92, 40);
    broker.produce("l", 2, false, &down);
    let mut second = start();
    let lines = second.stderr_lines();
    wait_for(&lines, "reading 2 partitions", 1);
    // Its batches count the 40 lines (--stats says how many lines each batch counted).
    let mut counted = 0;
    while counted < 40 {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{counted} of the 40 lines sent while down counted"));
        counted += stats_lines(&line).unwrap_or(0);
    }
    second.signal("TERM");
    let output = second.output_within(Duration::from_secs(20));
    let last = parse_tsv(&stdout_of(&output)).pop_last().map(|(_, c)| c);
    assert_eq!(last, Some(oracle_totals(&down)));
}

//! Faults: an unknown topic, an absent broker, a broker that stalls, one that is killed and
//! comes back.

use std::time::{Duration, Instant};

use super::*;

/// netwc reading `topic` from the earliest offsets in 200 ms batches of running totals, with
/// `--stats`, which [`Watched::count_until`] follows.
struct Watched {
    child: Running,
    reports: std::thread::JoinHandle<String>,
    stats: std::sync::mpsc::Receiver<String>,
    /// What the stats lines said: lines counted, batches reported, the other lines (logs).
    counted: usize,
    batches: usize,
    logs: Vec<String>,
    deadline: Instant,
}

impl Watched {
    fn start(broker: &Broker, topic: &str) -> Watched {
        let mut child = reading(&broker.address, topic)
            .args(["--batch", "200ms", "--mode", "incremental", "--emit", "all"])
            .args(["--format", "tsv", "--top", "0", "--stats"])
            .spawn();
        let reports = child.stdout_text();
        let stats = child.stderr_lines();
        Watched {
            child,
            reports,
            stats,
            counted: 0,
            batches: 0,
            logs: Vec::new(),
            deadline: Instant::now() + Duration::from_secs(90),
        }
    }

    /// Follows the stats until `lines` lines were counted in all and `batches` batches
    /// reported.
    fn count_until(&mut self, lines: usize, batches: usize) {
        while self.counted < lines || self.batches < batches {
            let line = self
                .stats
                .recv_timeout(Duration::from_secs(30))
                .expect("stats");
            match stats_lines(&line) {
                Some(n) => {
                    self.counted += n;
                    self.batches += 1;
                }
                None => self.logs.push(line),
            }
            assert!(
                Instant::now() < self.deadline,
                "{} of {lines} lines; logs: {:?}",
                self.counted,
                self.logs
            );
        }
    }

    /// Asserts that of `partitions` partitions, some said they could not be read, at most
    /// once each, and each of those that it was read again.
    fn assert_each_outage_logged_once(&self, partitions: usize) {
        let lines = |needle: &str| self.logs.iter().filter(|l| l.contains(needle)).count();
        let (lost, found) = (lines("cannot be read"), lines("is read again"));
        assert!(
            (1..=partitions).contains(&lost) && found == lost,
            "{:?}",
            self.logs
        );
    }

    /// Stops netwc (SIGTERM) and says its last running totals.
    fn stop(self) -> Option<Counts> {
        self.child.signal("TERM");
        let output = self.child.output_within(Duration::from_secs(20));
        assert!(output.status.success());
        parse_tsv(&self.reports.join().unwrap())
            .pop_last()
            .map(|(_, c)| c)
    }
}

#[test]
fn an_unknown_topic_and_an_absent_broker_are_named() {
    let broker = Broker::start();
    broker.produce("there", 1, true, "x\n");
    let output = Netwc::new()
        .args(["--kafka", &broker.address, "--topic", "missing"])
        .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("'missing' does not exist") && stderr.contains("there"),
        "{stderr}"
    );
    drop(broker);
    let absent = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let output = Netwc::new()
        .args([
            "--kafka",
            &absent,
            "--topic",
            "t",
            "--connect-timeout",
            "1s",
        ])
        .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&absent) && stderr.contains("--connect-timeout"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_broker_that_stalls_mid_run_holds_nothing_back_and_loses_nothing() {
    let broker = Broker::start();
    let first = text(41, 200);
    broker.produce("s", 2, true, &first);
    let mut netwc = Watched::start(&broker, "s");
    netwc.count_until(200, 0);
    let batches_before = netwc.batches;
    // The broker stops answering for 6 s (SIGSTOP): batches go on meanwhile (30 of 200 ms).
    // (Deliberately a sleep: how long the broker stalls is the case tested.)
    send_signal(broker.child.id(), "STOP");
    std::thread::sleep(Duration::from_secs(6));
    // Batches were reported while it was stopped (a blocked driver would report none).
    netwc.count_until(200, batches_before + 20);
    send_signal(broker.child.id(), "CONT");
    let second = text(42, 40);
    broker.produce("s", 2, false, &second);
    netwc.count_until(240, 0);
    netwc.assert_each_outage_logged_once(2);
    assert_eq!(netwc.stop(), Some(oracle_totals(&(first + &second))));
}

#[test]
fn a_broker_killed_and_restarted_mid_run_loses_nothing_and_is_logged_once() {
    let mut broker = Broker::start_durable();
    let first = text(51, 300);
    broker.produce("r", 3, true, &first);
    let mut netwc = Watched::start(&broker, "r");
    netwc.count_until(300, 0);
    // A crash (SIGKILL) and 8 s down, longer than the client's own retries (5 s): netwc says
    // so, keeps reporting (empty) batches and retrying.
    let batches_before = netwc.batches;
    broker.restart(Duration::from_secs(8));
    let second = text(52, 300);
    broker.produce("r", 3, false, &second);
    netwc.count_until(600, 0);
    netwc.assert_each_outage_logged_once(3);
    assert!(netwc.batches >= batches_before + 30, "batches went on");
    assert_eq!(netwc.stop(), Some(oracle_totals(&(first + &second))));
}

/// A broker restarted empty (its memory storage; a topic made anew does the same on any
/// broker): the checkpoint's offset 300 is past the partition's end. The partition is named
/// in a warning and read from its earliest offset, so the records produced since are counted,
/// none skipped.
#[test]
fn a_partition_that_lost_its_records_is_said_and_read_from_its_earliest() {
    let mut broker = Broker::start();
    let (old, new) = (text(71, 300), text(72, 100));
    broker.produce("h", 1, true, &old);
    let dir = TempDir::new("kafka-emptied");
    let state = dir.path("state");
    let address = broker.address.clone();
    let run = |batches: &str| {
        checkpointed(&address, "h", 100, &state)
            .args(["--batches", batches])
            .output_within(Duration::from_secs(60))
    };
    let first = run("3");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    broker.restart(Duration::ZERO);
    broker.produce("h", 1, true, &new);
    let second = run("1");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(
        stderr.contains("does not hold offset 300 any more"),
        "{stderr}"
    );
    let last = parse_tsv(&stdout_of(&second)).pop_last().map(|(_, c)| c);
    assert_eq!(last, Some(oracle_totals(&format!("{old}{new}"))));
}

/// A cluster whose processes all read Kafka keeps each process's partitions' offsets in its
/// own checkpoint: resumed at another size, partitions would move to processes that do not
/// know where they were (read again, or skipped). Refused at start, by name.
#[test]
fn a_kafka_cluster_that_all_read_resumes_only_at_its_own_size() {
    let broker = Broker::start();
    broker.produce("r", 4, true, &text(81, 200));
    let dir = TempDir::new("kafka-rescale");
    let state = dir.path("state");
    let cluster = |n: usize| {
        run_cluster(&dir, n, |_| {
            reading(&broker.address, "r")
                .args([
                    "--batch",
                    "200ms",
                    "--mode",
                    "incremental",
                    "--duration",
                    "2s",
                ])
                .args(["--every-process-reads", "--connect-timeout", "3s"])
                .arg("--checkpoint")
                .arg(&state)
        })
    };
    for output in cluster(2) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
    }
    assert_refused_at_another_size(&cluster(3));
}

#[test]
fn a_topic_named_twice_is_refused() {
    let output = reading("127.0.0.1:1", "t,u,t").output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("'t' is named twice"), "{stderr}");
}

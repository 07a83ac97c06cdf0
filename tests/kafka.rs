//! `--kafka` against a real Kafka-compatible broker: Tansu, started on a loopback port for each
//! test (`NETWC_TANSU` names its binary, else `tansu` on the PATH; `.ci/run` installs it).
//! Built with `--features kafka`.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// A broker on a free loopback port, stopped when dropped.
struct Broker {
    child: Child,
    address: String,
    port: u16,
    /// Where it keeps its topics when they outlive the broker (else in its memory).
    store: Option<ObjectStore>,
}

impl Broker {
    /// A broker that keeps its topics in memory: they end with it.
    fn start() -> Broker {
        let port = free_port();
        Broker {
            child: Broker::spawn(port, None),
            address: format!("127.0.0.1:{port}"),
            port,
            store: None,
        }
    }

    /// A broker that keeps its topics in an S3 bucket served on loopback, so that they
    /// outlive a restart of the broker, as a Kafka broker's log on disk does.
    fn start_durable() -> Broker {
        let store = ObjectStore::start();
        let port = free_port();
        Broker {
            child: Broker::spawn(port, Some(&store)),
            address: format!("127.0.0.1:{port}"),
            port,
            store: Some(store),
        }
    }

    /// Kills the broker (SIGKILL), waits `down`, and starts it again on the same port.
    fn restart(&mut self, down: Duration) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::thread::sleep(down);
        self.child = Broker::spawn(self.port, self.store.as_ref());
    }

    fn spawn(port: u16, store: Option<&ObjectStore>) -> Child {
        let binary = std::env::var("NETWC_TANSU").unwrap_or_else(|_| "tansu".into());
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(&binary);
        command.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ]);
        match store {
            None => command.args(["--storage-engine", "memory://tansu/"]),
            Some(store) => command
                .args([
                    "--storage-engine",
                    &format!("s3://{}/", ObjectStore::BUCKET),
                ])
                .env("AWS_ENDPOINT", format!("http://127.0.0.1:{}", store.port))
                .env("AWS_ALLOW_HTTP", "true")
                .env("AWS_ACCESS_KEY_ID", "netwc")
                .env("AWS_SECRET_ACCESS_KEY", "netwc")
                .env("AWS_DEFAULT_REGION", "us-east-1"),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("the Kafka tests need Tansu ({binary}: {e}); .ci/run installs it, or set NETWC_TANSU")
            });
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the broker does not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// Sends `text` to `topic`, line i to partition i mod `partitions` (creating the topic
    /// with that many partitions if `create`).
    fn produce(&self, topic: &str, partitions: usize, create: bool, text: &str) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_netwc-produce"));
        command
            .args([
                &self.address,
                topic,
                "--partitions",
                &partitions.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if create {
            command.arg("--create");
        }
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = wait_output(child, Duration::from_secs(30));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An S3 server on a free loopback port (moto's, from PyPI: `NETWC_MOTO_PYTHONPATH` names where
/// it is installed; `.ci/run` installs it) with one empty bucket, stopped when dropped.
struct ObjectStore {
    child: Child,
    port: u16,
}

impl ObjectStore {
    const BUCKET: &'static str = "tansu";

    fn start() -> ObjectStore {
        let port = free_port();
        let mut command = Command::new("python3");
        command.args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ]);
        if let Ok(path) = std::env::var("NETWC_MOTO_PYTHONPATH") {
            command.env("PYTHONPATH", path);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut answer = String::new();
        // Creates the bucket, as soon as the server listens (the store takes unsigned requests).
        while !answer.starts_with("HTTP/1.1 200") {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("this test needs moto's S3 server ({status}); .ci/run installs it, or set NETWC_MOTO_PYTHONPATH");
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the S3 server does not answer: {answer}"
            );
            std::thread::sleep(Duration::from_millis(50));
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let bucket = ObjectStore::BUCKET;
                let _ = write!(
                    stream,
                    "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                answer.clear();
                let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
            }
        }
        ObjectStore { child, port }
    }
}

impl Drop for ObjectStore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lines` lines of words (the lines' order across partitions is the broker's, so only what
/// does not depend on it is compared).
fn text(seed: u64, lines: usize) -> String {
    let mut rng = Rng::new(seed);
    (0..lines)
        .map(|_| {
            let words: Vec<String> = (0..1 + rng.below(6))
                .map(|_| format!("w{}", rng.below(40)))
                .collect();
            words.join(" ") + "\n"
        })
        .collect()
}

/// netwc reading every partition of `topic` at the broker `address` from its earliest offset.
fn reading(address: &str, topic: &str) -> Command {
    let mut command = netwc();
    command.args(["--kafka", address, "--topic", topic, "--from", "earliest"]);
    command
}

/// [`reading`] running totals of line batches into a checkpoint at `state`, at `-w 2`, its
/// reports and logs piped.
fn checkpointed(address: &str, topic: &str, per_batch: usize, state: &Path) -> Command {
    let mut command = reading(address, topic);
    command
        .args(["--batch-lines", &per_batch.to_string()])
        .args(["--mode", "incremental", "--emit", "all"])
        .args(["--format", "tsv", "--top", "0", "-w", "2", "--checkpoint"])
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// netwc over the whole topic, `batches` line batches of `per_batch` lines, then it stops.
fn count(broker: &Broker, topic: &str, args: &[&str], per_batch: usize, batches: usize) -> String {
    stdout_of(&run(reading(&broker.address, topic)
        .args(["--batch-lines", &per_batch.to_string()])
        .args(["--batches", &batches.to_string()])
        .args(["--format", "tsv", "--emit", "all", "--top", "0"])
        .args(args)))
}

#[test]
fn every_mode_and_worker_count_counts_a_topic_of_three_partitions_exactly() {
    let broker = Broker::start();
    let stream = text(5, 600);
    broker.produce("words", 3, true, &stream);
    let expected = oracle_totals(&stream);
    for workers in ["1", "2", "3"] {
        let batch = count(
            &broker,
            "words",
            &["-w", workers, "--mode", "batch"],
            100,
            6,
        );
        assert_eq!(totals(&parse_tsv(&batch)), expected, "batch, -w {workers}");
        let incremental = count(
            &broker,
            "words",
            &["-w", workers, "--mode", "incremental"],
            100,
            6,
        );
        let last = parse_tsv(&incremental).pop_last().map(|(_, c)| c);
        assert_eq!(last, Some(expected.clone()), "incremental, -w {workers}");
        // A window of all six batches: its last report is the whole stream.
        let window = ["-w", workers, "--mode", "window", "--window", "6"];
        let last = parse_tsv(&count(&broker, "words", &window, 100, 6)).pop_last();
        assert_eq!(
            last.map(|(_, c)| c),
            Some(expected.clone()),
            "window, -w {workers}"
        );
    }
}

#[test]
fn a_record_ends_a_line_and_several_topics_are_read_together() {
    let broker = Broker::start();
    // Records without a newline, one with two lines, an empty one.
    broker.produce("a", 2, true, "to be\nor not\n");
    broker.produce("b", 1, true, "to\n\n");
    let output = count(&broker, "a,b", &["--mode", "incremental", "--stats"], 4, 1);
    let last = parse_tsv(&output).pop_last().map(|(_, c)| c);
    assert_eq!(last, Some(oracle_totals("to be\nor not\nto\n\n")));
}

#[test]
fn from_latest_reads_only_what_arrives_after_the_start() {
    let broker = Broker::start();
    broker.produce("late", 2, true, "old old\n");
    let mut child = netwc()
        .args(["--kafka", &broker.address, "--topic", "late"])
        .args([
            "--batch-lines",
            "1",
            "--batches",
            "2",
            "--format",
            "tsv",
            "--stats",
        ])
        .args(["--mode", "incremental", "--emit", "all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(child.stderr.take().unwrap());
    wait_for(&lines, "reading 2 partitions", 1);
    broker.produce("late", 2, false, "new\nnew too\n");
    let output = wait_output(child, Duration::from_secs(30));
    let last = parse_tsv(&stdout_of(&output)).pop_last().map(|(_, c)| c);
    assert_eq!(last, Some(oracle_totals("new\nnew too\n")));
}

#[test]
fn an_unknown_topic_and_an_absent_broker_are_named() {
    let broker = Broker::start();
    broker.produce("there", 1, true, "x\n");
    let output = run(netwc().args(["--kafka", &broker.address, "--topic", "missing"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("'missing' does not exist") && stderr.contains("there"),
        "{stderr}"
    );
    drop(broker);
    let absent = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let output = run(netwc().args([
        "--kafka",
        &absent,
        "--topic",
        "t",
        "--connect-timeout",
        "1s",
    ]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&absent) && stderr.contains("--connect-timeout"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn each_process_of_a_cluster_reads_its_share_of_the_partitions() {
    let broker = Broker::start();
    let stream = text(9, 800);
    // Line i goes to partition i mod 4: processes 0 and 1 read partitions 0, 2 and 1, 3,
    // 400 lines each.
    broker.produce("shared", 4, true, &stream);
    let dir = TempDir::new("kafka-cluster");
    let hosts = hostfile(&dir, 2);
    let children: Vec<_> = (0..2)
        .map(|i| {
            reading(&broker.address, "shared")
                .args([
                    "--every-process-reads",
                    "--batch-lines",
                    "100",
                    "--batches",
                    "4",
                ])
                .args(["--format", "tsv", "--top", "0", "-w", "2"])
                .args(["-n", "2", "-p", &i.to_string()])
                .arg("--hostfile")
                .arg(&hosts)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|child| wait_output(child, Duration::from_secs(60)))
        .collect();
    for (i, output) in outputs.iter().enumerate() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "process {i}: {stderr}");
        assert!(
            stderr.contains("reading 2 partitions"),
            "process {i}: {stderr}"
        );
    }
    assert_eq!(
        totals(&parse_tsv(&stdout_of(&outputs[0]))),
        oracle_totals(&stream)
    );
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
        let mut command = checkpointed(&broker.address, "k", 50, &state);
        if stats {
            command.arg("--stats");
        }
        command.spawn().unwrap()
    };
    // Twenty runs, each killed at a random moment while records arrive.
    let mut read_again = 0;
    for run_number in 0..20 {
        let child = start(false);
        let part = text(100 + run_number, 150);
        broker.produce("k", 3, false, &part);
        sent.push_str(&part);
        // Some runs live past a snapshot, whose compaction keeps the offsets of what it drops.
        std::thread::sleep(Duration::from_millis(rng.below(1_400)));
        send_signal(child.id(), "KILL");
        let output = wait_output(child, Duration::from_secs(20));
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
    let lines = stderr_lines(child.stderr.take().unwrap());
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
        if let Some(n) = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("lines="))
        {
            counted += n.parse::<usize>().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    send_signal(child.id(), "TERM");
    let output = wait_output(child, Duration::from_secs(20));
    let last = parse_tsv(&stdout_of(&output)).pop_last().map(|(_, c)| c);
    assert_eq!(last, Some(oracle_totals(&sent)));
}

#[test]
fn records_bytes_and_lag_per_partition_are_metrics_stats_and_on_the_page() {
    let broker = Broker::start();
    broker.produce("m", 2, true, &"one two\n".repeat(100));
    let ui = free_port();
    let mut child = reading(&broker.address, "m")
        .args([
            "--batch",
            "50ms",
            "--ui",
            &ui.to_string(),
            "--format",
            "tsv",
            "--stats",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stats = stderr_lines(child.stderr.take().unwrap());
    let started = Instant::now();
    let wanted = [
        "netwc_kafka_records_total{topic=\"m\",partition=\"0\"} 50",
        "netwc_kafka_records_total{topic=\"m\",partition=\"1\"} 50",
        "netwc_kafka_bytes_total{topic=\"m\",partition=\"1\"} 350",
        "netwc_kafka_lag_records{topic=\"m\",partition=\"0\"} 0",
    ];
    let mut text = String::new();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", ui)) {
            write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
            text.clear();
            let _ = std::io::Read::read_to_string(&mut stream, &mut text);
            if wanted.iter().all(|line| text.contains(line)) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The page sums the lags beside the partitions being read; --stats says it per batch.
    let dom = browser_dom(ui);
    wait_for(&stats, "kafka_lag=0 records", 1);
    send_signal(child.id(), "TERM");
    child.wait().unwrap();
    for line in wanted {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(
        dom.contains(r#"id="c-conns-sub">Kafka lag 0<"#),
        "{dom:.3000}"
    );
}

/// netwc reading `topic` from the earliest offsets in 200 ms batches of running totals, with
/// `--stats`, which [`Watched::count_until`] follows.
struct Watched {
    child: Child,
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
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reports = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
            text
        });
        let stats = stderr_lines(child.stderr.take().unwrap());
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
            match line
                .split_whitespace()
                .find_map(|f| f.strip_prefix("lines="))
            {
                Some(n) => {
                    self.counted += n.parse::<usize>().unwrap();
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
        send_signal(self.child.id(), "TERM");
        let output = wait_output(self.child, Duration::from_secs(20));
        assert!(output.status.success());
        parse_tsv(&self.reports.join().unwrap())
            .pop_last()
            .map(|(_, c)| c)
    }
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

#[test]
fn a_broker_that_lost_the_records_a_checkpoint_needs_is_an_error_naming_them() {
    let mut broker = Broker::start();
    broker.produce("g", 2, true, &text(61, 100));
    let dir = TempDir::new("kafka-lost");
    let state = dir.path("state");
    let address = broker.address.clone();
    let run = || {
        checkpointed(&address, "g", 1000, &state)
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The records are read and logged (as offsets) in a batch that never completes.
    let mut first = run();
    let lines = stderr_lines(first.stderr.take().unwrap());
    wait_for(&lines, "reading 2 partitions", 1);
    std::thread::sleep(Duration::from_millis(1500));
    send_signal(first.id(), "KILL");
    wait_output(first, Duration::from_secs(20));
    // The broker forgets its topics (memory storage); the topic is made anew, empty.
    broker.restart(Duration::ZERO);
    broker.produce("g", 2, true, "");
    let output = wait_output(run(), Duration::from_secs(30));
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
            .unwrap()
    };
    // Process 0's reports as they come, and whether their last totals are `expected`.
    let follow = |zero: &mut Child| {
        let mut stdout = zero.stdout.take().unwrap();
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
            let zero = wait_output(zero, Duration::from_secs(5));
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
            // what it covers from its log (it restores without a snapshot of its own).
            std::thread::sleep(Duration::from_millis(1_200));
            let more = text(79, 200);
            broker.produce("c", 4, false, &more);
            sent.push_str(&more);
        }
        std::thread::sleep(Duration::from_millis(600));
        let (killed, other) = if victim == 0 {
            (&mut zero, &mut one)
        } else {
            (&mut one, &mut zero)
        };
        send_signal(killed.id(), "KILL");
        let _ = killed.wait();
        // The other process stops, naming the lost one (exit 1), or is stopped here.
        if wait_status(other, Duration::from_secs(20)).code() != Some(1) {
            let _ = other.kill();
            let _ = other.wait();
        }
    }
    // A last run, stopped (SIGTERM) once it has counted a while: its last totals, with the
    // batch the stop closed, hold every record sent exactly once.
    let (mut zero, mut one, reports, mut printed) = run(&mut sent);
    std::thread::sleep(Duration::from_secs(3));
    send_signal(one.id(), "TERM");
    send_signal(zero.id(), "TERM");
    assert!(wait_status(&mut zero, Duration::from_secs(20)).success());
    assert!(wait_status(&mut one, Duration::from_secs(20)).success());
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
    let start = || {
        checkpointed(&broker.address, "big", 1000, &state)
            .spawn()
            .unwrap()
    };
    // Everything is read and logged (as offsets: a fetch's records are whole lines, however
    // long) in a batch that does not complete; then the run is killed.
    let first = start();
    std::thread::sleep(Duration::from_secs(2));
    send_signal(first.id(), "KILL");
    wait_output(first, Duration::from_secs(20));
    let log = std::fs::metadata(state.join("wal.log")).unwrap().len();
    assert!(
        log < 100_000,
        "the log holds offsets, not the 700 KB record: {log} bytes"
    );
    // The restart restores the batch from the log and the broker; a stop reports it.
    let second = start();
    std::thread::sleep(Duration::from_secs(2));
    send_signal(second.id(), "TERM");
    let output = wait_output(second, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("restored the checkpoint"), "{stderr}");
    let last = parse_tsv(&stdout_of(&output)).pop_last().map(|(_, c)| c);
    assert_eq!(last, Some(oracle_totals(&stream)));
}

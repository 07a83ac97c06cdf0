//! Faults a hostile tester found, each of which used to end a job or change a count silently:
//! strangers holding descriptors, a stranger on a cluster port, a cluster resumed at another
//! size, a power cut's zeros, a full disk under `-o`, and wall clocks that step.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::*;

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// `ulimit -n 96`: a few hundred idle producers and half-sent requests to the live view hold
/// every descriptor they can get; the job keeps reading, printing and checkpointing, a real
/// producer's lines are all counted, and `/metrics` is answered throughout.
#[test]
fn idle_producers_and_slow_live_view_clients_leave_the_job_its_descriptors() {
    let dir = TempDir::new("descriptors");
    let (listen, ui) = (free_port(), free_port());
    let mut child = Netwc::under("ulimit -n 96")
        .args(["--listen", &format!("127.0.0.1:{listen}")])
        .args(["--ui", &format!("127.0.0.1:{ui}")])
        .args([
            "--batch", "50ms", "--format", "tsv", "--top", "0", "--stats",
        ])
        .arg("--checkpoint")
        .arg(dir.path("state"))
        .spawn();
    let reports = child.stdout_text();
    let logs = child.stderr_lines();
    wait_listening(listen);
    wait_listening(ui);
    // The real producer connects first, and sends half its lines.
    let text = zipf_text(5, 2_000, 6, 300);
    let (first, second) = text.split_at(text.len() / 2);
    let first_end = first.rfind('\n').unwrap() + 1;
    let (first, second) = (
        &text[..first_end],
        format!("{}{second}", &first[first_end..]),
    );
    let mut producer = TcpStream::connect(("127.0.0.1", listen)).unwrap();
    producer.write_all(first.as_bytes()).unwrap();
    // Strangers: idle producers, and requests to the live view that never finish.
    let mut held = Vec::new();
    for _ in 0..150 {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", listen)) {
            held.push(stream);
        }
    }
    for _ in 0..60 {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", ui)) {
            let _ = stream.write_all(b"GET /metr");
            held.push(stream);
        }
    }
    // Scrapes are answered beside them.
    for _ in 0..3 {
        let metrics = scrape(ui);
        assert!(metrics.contains("netwc_lines_total"), "{metrics}");
    }
    producer.write_all(second.as_bytes()).unwrap();
    drop(producer);
    let lines = text.lines().count();
    let mut counted = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while counted < lines {
        let line = logs.recv_timeout(Duration::from_secs(20)).expect("stats");
        assert!(!line.contains("error"), "{line}");
        counted += stats_lines(&line).unwrap_or(0);
        assert!(Instant::now() < deadline, "{counted} of {lines} lines");
    }
    drop(held);
    child.signal("TERM");
    let status = child.status_within(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let printed = parse_tsv(&reports.join().unwrap());
    assert_eq!(totals(&printed), oracle_totals(&text));
}

/// One `GET /metrics` on a connection of its own.
fn scrape(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: netwc\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// While process 0 waits for its peer, strangers connect to its cluster port: one that only
/// connects and closes, one that sends a line of garbage, one that says nothing, one that
/// sends a megabyte without a newline. None hears anything (the job's word key is in process
/// 0's hello), none ends the start, and the cluster counts exactly once its peer arrives.
#[test]
fn strangers_on_a_cluster_port_hear_nothing_and_end_nothing() {
    let dir = TempDir::new("strangers");
    let hosts = hostfile(&dir, 2);
    let port: u16 = read(&hosts)
        .lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let text = zipf_text(9, 1_500, 5, 200);
    let file = dir.write("input.txt", text.as_bytes());
    let args = strings(&["--batch-lines", "100", "--format", "tsv", "--top", "0"]);
    let start = |i: usize| {
        Netwc::new()
            .arg("--file")
            .arg(&file)
            .args(&args)
            .args(["-n", "2", "-p", &i.to_string(), "--connect-timeout", "30s"])
            .arg("--hostfile")
            .arg(&hosts)
            .spawn()
    };
    let mut zero = start(0);
    let reports = zero.stdout_text();
    let logs = zero.stderr_lines();
    wait_listening(port);
    let connect = || TcpStream::connect(("127.0.0.1", port)).unwrap();
    drop(connect());
    let mut garbage = connect();
    garbage.write_all(b"hello, is anybody there?\n").unwrap();
    let silent = connect();
    let mut flood = connect();
    let _ = flood.write_all(&vec![b'x'; 1 << 20]);
    for mut stranger in [&garbage, &silent, &flood] {
        stranger
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut heard = Vec::new();
        let _ = stranger.read_to_end(&mut heard);
        assert!(
            heard.is_empty(),
            "a stranger heard {:?}",
            String::from_utf8_lossy(&heard)
        );
    }
    wait_for(&logs, "not a netwc process", 1);
    let one = start(1);
    let status = zero.status_within(Duration::from_secs(60));
    assert!(status.success(), "process 0: {status:?}");
    assert!(one.output_within(Duration::from_secs(60)).status.success());
    assert_eq!(
        totals(&parse_tsv(&reports.join().unwrap())),
        oracle_totals(&text)
    );
    drop((garbage, silent, flood));
}

/// A cluster whose processes all read keeps one log each: resumed with fewer processes, the
/// logs of the missing ones would never be replayed (counts lost); with more, process 0 and 1
/// would disagree with a third that starts afresh. Both are refused at start, by name.
#[test]
fn a_cluster_that_all_read_resumes_only_at_its_own_size() {
    let dir = TempDir::new("rescale");
    let texts: Vec<String> = (0..3).map(|i| random_text(70 + i, 300)).collect();
    let files: Vec<_> = (0..3)
        .map(|i| dir.write(&format!("input{i}.txt"), texts[i].as_bytes()))
        .collect();
    let cluster = |n: usize, state: &Path| {
        run_cluster(&dir, n, |i| {
            Netwc::new()
                .arg("--file")
                .arg(&files[i])
                .args([
                    "--batch-lines",
                    "50",
                    "--mode",
                    "incremental",
                    "--format",
                    "tsv",
                ])
                .args(["--every-process-reads", "--connect-timeout", "3s"])
                .arg("--checkpoint")
                .arg(state)
        })
    };
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    // Three, resumed as two: process-2's log would be lost.
    let three = dir.path("three");
    assert!(cluster(3, &three).iter().all(|o| o.status.success()));
    for output in cluster(2, &three) {
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(stderr(&output).contains("process-2"), "{}", stderr(&output));
    }
    // Two, resumed as three: processes 0 and 1 refuse at once.
    let two = dir.path("two");
    assert!(cluster(2, &two).iter().all(|o| o.status.success()));
    assert_refused_at_another_size(&cluster(3, &two));
}

/// `kill -9`, then what a power cut leaves of the writes after the last sync (ext4 with
/// `data=writeback`, XFS): the file's length reached the disk, its data did not. Zeros after
/// the log or the snapshot are no damage: the restart goes on, with a warning, and counts
/// exactly; other bytes there are still damage.
#[test]
fn a_power_cut_s_zeros_are_not_damage() {
    let dir = TempDir::new("power-cut");
    let text = random_text(31, 400);
    let input = dir.write("input.txt", text.as_bytes());
    let more_text = random_text(32, 40);
    let more = dir.write("more.txt", more_text.as_bytes());
    let args = [
        "--batch-lines",
        "40",
        "--mode",
        "incremental",
        "--format",
        "tsv",
    ];
    let run = |file: &Path, state: &Path| {
        Netwc::new()
            .arg("--file")
            .arg(file)
            .args(args)
            .args(["--emit", "all", "--top", "0", "--checkpoint"])
            .arg(state)
            .output()
    };
    let whole = dir.path("whole");
    assert!(run(&input, &whole).status.success());
    for (file, zeros) in [
        ("wal.log", 100),
        ("wal.log", 4096),
        ("wal.log", 65536),
        ("snapshot.log", 100),
        ("snapshot.log", 65536),
    ] {
        let state = dir.path(&format!("{file}-{zeros}"));
        std::fs::create_dir_all(&state).unwrap();
        for entry in std::fs::read_dir(&whole).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), state.join(entry.file_name())).unwrap();
        }
        let path = state.join(file);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::iter::repeat_n(0u8, zeros));
        std::fs::write(&path, &bytes).unwrap();
        let resumed = run(&more, &state);
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        assert!(resumed.status.success(), "{file} + {zeros} zeros: {stderr}");
        assert!(stderr.contains("zeros at the end of"), "{stderr}");
        let printed = parse_tsv(&stdout_of(&resumed));
        let last = printed.last_key_value().map(|(_, c)| c.clone());
        // The first file's last line has no newline: it ended with its file.
        let both = format!("{text}\n{more_text}");
        assert_eq!(last, Some(oracle_totals(&both)), "{file} + {zeros} zeros");
        // Zeros with one other byte after them: damage, named.
        bytes.push(1);
        std::fs::write(&path, &bytes).unwrap();
        let damaged = run(&more, &state);
        let stderr = String::from_utf8_lossy(&damaged.stderr);
        assert_eq!(damaged.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(file) && stderr.contains("corrupt"),
            "{stderr}"
        );
    }
}

/// A disk that fills while a report is written (`ulimit -f`: writes past the size fail, as
/// on a full disk): the run fails with part of a row in `-o`. The restart cuts it back to its
/// last whole report, so no row is glued to a broken one and no batch is printed twice, and
/// the running totals are those of the lines the checkpoint counted.
#[test]
fn a_full_disk_under_output_leaves_no_glued_row_nor_a_batch_twice() {
    let dir = TempDir::new("full-disk");
    // Running totals of every word, printed whole each batch: the output outgrows the log.
    let text: String = (0..40)
        .map(|line| {
            let words: Vec<String> = (0..50).map(|j| format!("w{line}x{j}")).collect();
            words.join(" ") + "\n"
        })
        .collect();
    let input = dir.write("input.txt", text.as_bytes());
    let empty = dir.write("empty.txt", b"");
    let (out, state) = (dir.path("out.tsv"), dir.path("state"));
    let run = |limits: &str, file: &Path| {
        Netwc::under(limits)
            .arg("--file")
            .arg(file)
            .args([
                "--batch-lines",
                "1",
                "--mode",
                "incremental",
                "--emit",
                "all",
            ])
            .args(["--format", "tsv", "--top", "0", "-o"])
            .arg(&out)
            .arg("--checkpoint")
            .arg(&state)
            .output()
    };
    let full = run("trap '' XFSZ; ulimit -f 128", &input);
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("writing the output failed"), "{stderr}");
    let resumed = run(":", &empty);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    let printed = read(&out);
    let mut seen = std::collections::BTreeSet::new();
    let mut batches: Vec<u64> = Vec::new();
    for row in printed.lines().skip(1) {
        let fields: Vec<&str> = row.split('\t').collect();
        assert_eq!(fields.len(), 3, "a broken row: {row:?}");
        let time: u64 = fields[0].parse().unwrap_or_else(|_| panic!("{row:?}"));
        assert!(fields[2].parse::<u64>().is_ok(), "{row:?}");
        assert!(
            seen.insert((time, fields[1].to_string())),
            "printed twice: {row:?}"
        );
        if batches.last() != Some(&time) {
            assert!(!batches.contains(&time), "batch {time} printed twice");
            batches.push(time);
        }
    }
    // Batch k holds the first k lines: its running totals are theirs.
    let last = *batches.last().expect("reports");
    let counted: String = text
        .lines()
        .take(last as usize)
        .map(|l| l.to_string() + "\n")
        .collect();
    assert_eq!(parse_tsv(&printed)[&last], oracle_totals(&counted));
    assert!(last >= 10, "only {last} lines were counted");
}

/// netwc reading an idle stdin with `--stats` at `--batch batch`, under libfaketime, whose
/// clock offset follows a file ([`Clocked::step`]); the monotonic clock is left alone, as a
/// wall clock step leaves it.
struct Clocked {
    _dir: TempDir,
    offset: PathBuf,
    _child: Running,
    _input: std::process::ChildStdin,
    logs: std::sync::mpsc::Receiver<String>,
}

impl Clocked {
    fn start(batch: &str) -> Clocked {
        let library = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
        assert!(
            Path::new(library).exists(),
            "the clock tests need libfaketime (Debian's faketime; .ci/run installs it)"
        );
        let dir = TempDir::new("clock");
        let offset = dir.write("offset", b"+0");
        let mut child = Netwc::under(&format!(
            "export LD_PRELOAD={library} FAKETIME_TIMESTAMP_FILE={} FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1",
            offset.display()
        ))
        .args(["--stdin", "--batch", batch, "--stats", "--format", "tsv"])
        .stdin_piped()
        .spawn();
        let input = child.stdin();
        let logs = child.stderr_lines();
        Clocked {
            _dir: dir,
            offset,
            _child: child,
            _input: input,
            logs,
        }
    }

    /// Moves netwc's wall clock to `offset` from the real one (`-30s`, `+3600s`).
    fn step(&self, offset: &str) {
        std::fs::write(&self.offset, offset).unwrap();
    }
}

/// Batches named by the `--stats` lines of `logs` until `count` more came (within `limit`),
/// with the other lines.
fn batches_within(
    logs: &std::sync::mpsc::Receiver<String>,
    count: usize,
    limit: Duration,
) -> (Vec<u64>, Vec<String>) {
    let deadline = Instant::now() + limit;
    let (mut times, mut others) = (Vec::new(), Vec::new());
    while times.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = logs.recv_timeout(left) else {
            panic!(
                "{} of {count} batches in {limit:?}; logs: {others:?}",
                times.len()
            );
        };
        match line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("time="))
            .and_then(|t| t.parse().ok())
        {
            Some(time) => times.push(time),
            None => others.push(line),
        }
    }
    (times, others)
}

/// A wall clock set back 30 s: batches keep coming at their pace, and the log says why their
/// names no longer follow the clock.
#[test]
fn a_wall_clock_that_steps_back_stalls_no_batch() {
    let clocked = Clocked::start("100ms");
    let (before, _) = batches_within(&clocked.logs, 3, Duration::from_secs(10));
    clocked.step("-30s");
    let (after, others) = batches_within(&clocked.logs, 15, Duration::from_secs(5));
    assert!(
        others
            .iter()
            .any(|l| l.contains("the wall clock went back")),
        "{others:?}"
    );
    let all: Vec<u64> = before.into_iter().chain(after).collect();
    assert!(all.windows(2).all(|w| w[1] == w[0] + 100), "{all:?}");
}

/// A wall clock set an hour ahead at 1 ms batches: the 3.6 million empty batches between are
/// passed in one step, not walked one by one (over a minute).
#[test]
fn a_wall_clock_that_steps_forward_is_jumped_at_once() {
    let clocked = Clocked::start("1ms");
    let (before, _) = batches_within(&clocked.logs, 20, Duration::from_secs(10));
    clocked.step("+3600s");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut said = false;
    loop {
        let (times, others) = batches_within(&clocked.logs, 1, Duration::from_secs(10));
        said |= others.iter().any(|l| l.contains("batches ahead at once"));
        if times[0] > before[before.len() - 1] + 3_500_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the batches walk the hour one by one"
        );
    }
    assert!(said, "the jump is said in the log");
}

/// `kill -9` while lines are logged, then the log's last page zeroed, as a power cut leaves a
/// page that was written but not yet synced: the restart cuts the zeros with a warning and
/// goes on (it used to refuse the directory); no word is counted more often than it was sent.
#[test]
fn a_power_cut_s_zeroed_last_page_of_the_log_is_not_damage() {
    let dir = TempDir::new("power-cut-page");
    let text = zipf_text(41, 3_000, 6, 400);
    let state = dir.path("state");
    // Sent over about two seconds, so that lines are logged after any snapshot at the kill.
    let feeder = Feeder::start(text.clone().into_bytes(), 600, Duration::from_millis(20));
    let mut child = Netwc::new()
        .args(["127.0.0.1", &feeder.port.to_string(), "--stats"])
        .args([
            "--batch-lines",
            "50",
            "--mode",
            "incremental",
            "--format",
            "tsv",
        ])
        .arg("--checkpoint")
        .arg(&state)
        .stdout_null()
        .spawn();
    let logs = child.stderr_lines();
    wait_for(&logs, "batch time=", 5);
    child.signal("KILL");
    child.status_within(Duration::from_secs(10));
    let log = state.join("wal.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let page = (bytes.len() - 1) / 4096 * 4096;
    assert!(
        bytes.len() > 24 + 100,
        "the log holds records: {} bytes",
        bytes.len()
    );
    bytes[page.max(24)..].fill(0);
    std::fs::write(&log, &bytes).unwrap();
    let empty = dir.write("empty.txt", b"");
    let resumed = Netwc::new()
        .arg("--file")
        .arg(&empty)
        .args([
            "--batch-lines",
            "50",
            "--mode",
            "incremental",
            "--format",
            "tsv",
        ])
        .args(["--emit", "all", "--top", "0", "--checkpoint"])
        .arg(&state)
        .output();
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(stderr.contains("zeros at the end of"), "{stderr}");
    let sent = oracle_totals(&text);
    for (_, counts) in parse_tsv(&stdout_of(&resumed)) {
        for (word, count) in counts {
            assert!(
                count <= sent[&word],
                "{word} counted {count} times, sent {}",
                sent[&word]
            );
        }
    }
}

/// A cluster whose process 0 alone read keeps its checkpoint in `process-0`: resumed as one
/// process it is refused, saying to resume it as a cluster (it used to say "a cluster of 1
/// processes: resume it with --processes 1", which was refused again).
#[test]
fn a_process_0_checkpoint_resumed_alone_says_to_resume_it_as_a_cluster() {
    let dir = TempDir::new("process-0-alone");
    let text = random_text(91, 200);
    let file = dir.write("input.txt", text.as_bytes());
    let state = dir.path("state");
    let args = [
        "--batch-lines",
        "50",
        "--mode",
        "incremental",
        "--format",
        "tsv",
    ];
    let outputs = run_cluster(&dir, 2, |_| {
        Netwc::new()
            .arg("--file")
            .arg(&file)
            .args(args)
            .args(["--connect-timeout", "10s", "--checkpoint"])
            .arg(&state)
    });
    assert!(outputs.iter().all(|o| o.status.success()));
    let alone = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args(args)
        .arg("--checkpoint")
        .arg(&state)
        .output();
    let stderr = String::from_utf8_lossy(&alone.stderr);
    assert_eq!(alone.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("resume it as a cluster"), "{stderr}");
    assert!(!stderr.contains("a cluster of 1 processes"), "{stderr}");
}

/// A signal while a lone process restores a big checkpoint (seconds for millions of words)
/// ends it at once, saying so, instead of waiting for the restore to report; the checkpoint
/// then restores as before. (It used to wait for the restore, saying nothing.)
#[test]
fn a_signal_during_a_restore_stops_at_once_and_the_checkpoint_restores_as_before() {
    let dir = TempDir::new("restore-signal");
    let state = dir.path("state");
    let lines = 30_000;
    let mut text = String::new();
    for line in 0..lines {
        text.push_str("common");
        for j in 0..20 {
            text.push_str(&format!(" r{line}x{j}"));
        }
        text.push('\n');
    }
    let args = [
        "--stdin",
        "--mode",
        "incremental",
        "--batch",
        "200ms",
        "--format",
        "tsv",
        "--top",
        "1",
    ];
    let built = Netwc::new()
        .args(args)
        .arg("--checkpoint")
        .arg(&state)
        .stdin_bytes(text)
        .output();
    assert!(built.status.success());
    let mut restoring = Netwc::new()
        .args(args)
        .arg("--checkpoint")
        .arg(&state)
        .stdin_piped()
        .spawn();
    let _input = restoring.stdin();
    let stderr = restoring.stderr_lines();
    // Logged once the counts are handed to the workers, before they are counted again.
    wait_for(&stderr, "restored the checkpoint", 1);
    restoring.signal("TERM");
    let status = restoring.status_within(Duration::from_secs(5));
    // Until its end of file: the process is gone.
    let mut said = Vec::new();
    while let Ok(line) = stderr.recv_timeout(Duration::from_secs(5)) {
        said.push(line);
    }
    assert_eq!(status.code(), Some(143), "{said:#?}");
    assert!(
        said.iter()
            .any(|l| l.contains("SIGTERM while restoring the checkpoint: stopping at once")),
        "{said:#?}"
    );
    let resumed = Netwc::new()
        .args(args)
        .arg("--checkpoint")
        .arg(&state)
        .stdin_bytes("common\n")
        .output();
    assert!(resumed.status.success());
    let printed = parse_tsv(&stdout_of(&resumed));
    let last = printed.last_key_value().map(|(_, counts)| counts.clone());
    let expected = Counts::from([("common".to_string(), lines + 1)]);
    assert_eq!(last, Some(expected));
}

/// Batch mode under a steady stream of fresh words, for ten seconds: `snapshot.log` stays
/// within what README says (about twice the state, or 64 KiB), sampled while the job runs.
/// (It used to grow by each snapshot's changes, about 17 KB a second here, without end.)
#[test]
fn snapshot_log_stays_bounded_in_batch_mode_under_a_steady_stream() {
    let dir = TempDir::new("snapshot-bound");
    let state = dir.path("state");
    let mut running = Netwc::new()
        .args([
            "--stdin", "--batch", "50ms", "--top", "0", "--format", "tsv",
        ])
        .arg("--checkpoint")
        .arg(&state)
        .stdin_piped()
        .stdout_null()
        .stderr_null()
        .spawn();
    let mut input = running.stdin();
    let writer = std::thread::spawn(move || {
        let mut next = 0u64;
        for _ in 0..200 {
            let line: Vec<String> = (next..next + 2_000).map(|n| format!("u{n}")).collect();
            next += 2_000;
            if writeln!(input, "{}", line.join(" ")).is_err() {
                return;
            }
            // Deliberately a sleep: a steady stream is what is measured.
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut largest = 0;
    while !writer.is_finished() {
        let size = std::fs::metadata(state.join("snapshot.log")).map_or(0, |m| m.len());
        largest = largest.max(size);
        std::thread::sleep(Duration::from_millis(100));
    }
    writer.join().unwrap();
    assert!(running.status_within(Duration::from_secs(30)).success());
    // The floor (64 KiB) and one snapshot's changes (about 2 × 2,000 words) above it.
    assert!(
        largest < 100 << 10,
        "snapshot.log reached {largest} bytes in batch mode"
    );
}

//! The faults a hostile user found (issue "Reliable"), one end-to-end test each: a shared
//! checkpoint directory, batches named in the future, a partial line dropped at a stop, signals
//! in a cluster, an idle report that re-sorted the whole state, a lone CR, and a long line's
//! words spread over several batches. (Absurd numbers are in `cli.rs`.)

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::*;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// CPU seconds (user + system) that process `pid` has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

// 1. Two runs on one checkpoint directory.

#[test]
fn a_second_run_on_a_checkpoint_in_use_is_refused_and_kill_9_leaves_no_stale_lock() {
    let dir = TempDir::new("shared-checkpoint");
    let state = dir.path("state");
    let port = free_port();
    let mut first = Netwc::new()
        .args(["--listen", &format!("127.0.0.1:{port}"), "--batch", "100ms"])
        .arg("--checkpoint")
        .arg(&state)
        .stdout_null()
        .stderr_null()
        .spawn();
    wait_listening(port);
    let second = Netwc::new()
        .args(["--stdin", "--batch", "100ms"])
        .arg("--checkpoint")
        .arg(&state)
        .output();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&state.display().to_string()), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(
        stderr.contains(&format!("process {}", first.pid())),
        "names the holder: {stderr}"
    );
    first.signal("KILL");
    first.status_within(Duration::from_secs(10));
    // The lock died with its holder.
    let third = Netwc::new()
        .args(["--stdin", "--batch", "100ms"])
        .arg("--checkpoint")
        .arg(&state)
        .output();
    assert_eq!(
        third.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
}

// 2. A quick restart after a clean stop.

#[test]
fn quick_restarts_name_batches_by_the_clock_never_ahead_of_it() {
    let dir = TempDir::new("quick-restart");
    let state = dir.path("state");
    let state = state.to_str().unwrap();
    for run_number in 1..=3 {
        let before = now_ms();
        let output = Netwc::new()
            .args(["--stdin", "--checkpoint", state, "--mode", "incremental"])
            .args(["--batch", "10s", "--format", "jsonl"])
            .stdin_bytes("a\n")
            .output_within(Duration::from_secs(20));
        let after = now_ms();
        let stdout = stdout_of(&output);
        let report: serde_json::Value =
            serde_json::from_str(stdout.lines().last().expect("a report")).unwrap();
        let time = report["time"].as_u64().unwrap();
        // The aligned 10 s interval the run was in (it may have crossed one boundary).
        let named = |ms: u64| (ms / 10_000 + 1) * 10_000;
        assert!(
            time == named(before) || time == named(after),
            "run {run_number}: batch {time} is not the interval of {before}..{after}"
        );
        assert_eq!(
            report["counts"][0]["count"].as_u64(),
            Some(run_number),
            "running totals go on: {stdout}"
        );
    }
}

// 3. A partial last line already read, at a stop that is not the end of the input.

#[test]
fn a_partial_last_line_counts_when_duration_or_batches_stop_the_run() {
    let text = "full line\npartial words";
    for stop in [
        &["--duration", "1s"][..],
        &["--batch", "200ms", "--batches", "2"][..],
    ] {
        let mut args = vec!["--stdin", "--format", "tsv"];
        args.extend_from_slice(stop);
        let mut child = Netwc::new().args(&args).stdin_piped().spawn();
        let mut stdin = child.stdin();
        stdin.write_all(text.as_bytes()).unwrap();
        // The input stays open: only the stop ends the run.
        let output = child.output_within(Duration::from_secs(20));
        drop(stdin);
        let batches = parse_tsv(&stdout_of(&output));
        assert_eq!(totals(&batches), oracle_totals(text), "{stop:?}");
    }
}

#[test]
fn a_partial_last_line_counts_when_a_signal_stops_a_listening_run() {
    let port = free_port();
    let mut child = Netwc::new()
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--batch", "1h", "--format", "tsv"])
        .spawn();
    let lines = child.stderr_lines();
    wait_listening(port);
    let mut producer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    producer.write_all(b"a b\nc d").unwrap();
    wait_for(&lines, "connected", 1);
    // The job runs and has read what was sent.
    wait_read(port);
    child.wait_job_running();
    child.signal("TERM");
    let output = child.output_within(Duration::from_secs(20));
    drop(producer);
    assert_eq!(
        totals(&parse_tsv(&stdout_of(&output))),
        oracle_totals("a b\nc d")
    );
}

// 6. Signals in a cluster.

#[test]
fn a_signal_while_waiting_for_the_cluster_ends_the_process_at_once() {
    let dir = TempDir::new("waiting-signal");
    let hosts = hostfile(&dir, 2);
    let input = dir.write("in.txt", b"a b\n");
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let mut child = Netwc::new()
            .args(["-n", "2", "-p", "0", "--hostfile"])
            .arg(&hosts)
            .arg("--file")
            .arg(&input)
            .spawn();
        let lines = child.stderr_lines();
        wait_for(&lines, "waiting for the cluster", 1);
        let sent = Instant::now();
        child.signal(signal);
        // Far less than the 30 s --connect-timeout it would otherwise wait.
        let status = child.status_within(Duration::from_secs(10));
        assert_eq!(status.code(), Some(code), "SIG{signal}");
        assert!(sent.elapsed() < Duration::from_secs(5), "SIG{signal}");
        let said: Vec<String> = lines.try_iter().collect();
        assert!(
            said.iter().any(|l| l.contains(&format!("SIG{signal}"))),
            "{said:?}"
        );
    }
}

#[test]
fn a_signal_to_a_process_that_reads_nothing_stops_the_whole_cluster() {
    let dir = TempDir::new("cluster-signal");
    let hosts = hostfile(&dir, 2);
    let text = "x y\nx\n";
    let source = holding_server(text);
    let common = |process: &str| {
        Netwc::new()
            .args(["-n", "2", "-p", process, "--hostfile"])
            .arg(&hosts)
            .args(["--batch", "100ms", "--format", "tsv", "--stats"])
    };
    let mut reader = common("0")
        .args(["127.0.0.1", &source.port.to_string()])
        .spawn();
    let mut other = common("1").arg("--stdin").spawn();
    let reader_log = reader.stderr_lines();
    // The job runs once process 0 reports batches.
    wait_for(&reader_log, "batch time=", 3);
    other.signal("TERM");
    let other_status = other.status_within(Duration::from_secs(10));
    let output = reader.output_within(Duration::from_secs(10));
    source.release();
    assert_eq!(other_status.code(), Some(0));
    assert_eq!(totals(&parse_tsv(&stdout_of(&output))), oracle_totals(text));
}

// 7. An idle report over a large state.

#[test]
fn an_idle_batch_with_a_large_running_total_costs_next_to_nothing() {
    const WORDS: usize = 200_000;
    let text: String = (0..WORDS / 100)
        .map(|line| {
            let words: Vec<String> = (0..100).map(|i| format!("w{}", line * 100 + i)).collect();
            words.join(" ") + "\n"
        })
        .collect();
    let source = holding_server(text);
    let mut child = Netwc::new()
        .args([
            "127.0.0.1",
            &source.port.to_string(),
            "--mode",
            "incremental",
            "--emit",
            "all",
            "--top",
            "10",
            "--batch",
            "10ms",
            "--stats",
        ])
        .stdout_null()
        .spawn();
    let lines = child.stderr_lines();
    wait_for(&lines, &format!("distinct={WORDS} "), 1);
    // Now every batch is empty: about 200 of them in two seconds. Re-sorting 200,000 words
    // for each kept a core busy; reports that cost what changed use a few percent of one.
    // (Deliberately a sleep: the CPU time of two seconds of idle batches is what is measured.)
    let cpu_before = cpu_seconds(child.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(child.pid()) - cpu_before;
    child.signal("TERM");
    child.status_within(Duration::from_secs(10));
    source.release();
    assert!(used < 0.5, "{used:.2} CPU seconds in 2 s of idle batches");
}

// 8. A lone CR ends a line.

#[test]
fn a_lone_cr_ends_a_line_as_in_spark() {
    let text = "a\rb\nc  d\r\ne\r";
    let output = Netwc::new()
        .args(["--stdin", "--split", "spark", "--batch-lines", "1"])
        .args(["--format", "tsv"])
        .stdin_bytes(text)
        .output_within(Duration::from_secs(20));
    assert_eq!(
        stdout_of(&output),
        "time\tword\tcount\n1\ta\t1\n2\tb\t1\n3\t\t1\n3\tc\t1\n3\td\t1\n4\te\t1\n"
    );
    let java = java_lines(text.as_bytes());
    assert_eq!(java.len(), 4, "the oracle agrees: four lines");
}

// 9. A line longer than the piece limit whose end arrives batches later.

#[test]
fn a_long_line_counts_in_the_batch_its_end_arrived_in() {
    // 600 KiB of words: over the 256 KiB limit, so it is handed on in pieces.
    let head: String = (0..60_000).map(|i| format!("w{:07} ", i % 5_000)).collect();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = head.clone();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(sent.as_bytes()).unwrap();
        // Several 100 ms batches pass before the line ends (deliberately a sleep: the
        // producer's pace is the case tested).
        std::thread::sleep(Duration::from_millis(600));
        stream.write_all(b"end\nnext line\n").unwrap();
    });
    let output = Netwc::new()
        .args([
            "127.0.0.1",
            &port.to_string(),
            "--batch",
            "100ms",
            "--format",
            "tsv",
            "--stats",
        ])
        .output();
    server.join().unwrap();
    let batches = parse_tsv(&stdout_of(&output));
    let with_words: Vec<_> = batches.iter().filter(|(_, c)| !c.is_empty()).collect();
    assert_eq!(with_words.len(), 1, "one batch holds the whole line");
    let (time, counts) = with_words[0];
    assert_eq!(*counts, oracle_totals(&format!("{head}end\nnext line\n")));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stats = stderr
        .lines()
        .find(|l| l.contains(&format!("time={time} ")))
        .expect("a stats line for the batch");
    assert!(stats.contains(" lines=2 "), "{stats}");
    assert!(stats.contains(&format!(" words={} ", 60_003)), "{stats}");
}

#[test]
fn a_long_line_open_across_snapshots_survives_kill_9() {
    let dir = TempDir::new("long-line-checkpoint");
    let state = dir.path("state");
    let head: String = (0..60_000).map(|i| format!("v{:06} ", i % 997)).collect();
    let source = holding_server(head.clone());
    let mut first = Netwc::new()
        .args([
            "127.0.0.1",
            &source.port.to_string(),
            "--batch",
            "20ms",
            "--mode",
            "incremental",
            "--format",
            "tsv",
            "--stats",
        ])
        .arg("--checkpoint")
        .arg(&state)
        .stdout_null()
        .spawn();
    let lines = first.stderr_lines();
    // 75 batches (1.5 s): a snapshot was taken while the line was open.
    wait_for(&lines, "batch time=", 75);
    first.signal("KILL");
    first.status_within(Duration::from_secs(10));
    source.release();
    // The connection was lost mid-line: the restart ends that line, as an end of input would.
    let source = holding_server("tail\n");
    let second = Netwc::new()
        .args([
            "127.0.0.1",
            &source.port.to_string(),
            "--batch",
            "20ms",
            "--mode",
            "incremental",
            "--format",
            "tsv",
            "--emit",
            "all",
            "--top",
            "0",
        ])
        .arg("--checkpoint")
        .arg(&state)
        .spawn();
    // The job runs, on the restored checkpoint, and has read the last line.
    source.wait_read();
    second.wait_job_running();
    second.signal("TERM");
    let output = second.output_within(Duration::from_secs(20));
    source.release();
    let batches = parse_tsv(&stdout_of(&output));
    let last = batches.values().last().expect("a report");
    // The pieces handed on before the crash are in the log (the last bytes of the line were
    // still in the reader when it was killed): at least the first 200 KiB of the line count,
    // and nothing counts twice.
    let logged = oracle_totals(&head[..200 * 1024]);
    let sent = oracle_totals(&format!("{head}\ntail\n"));
    for (word, count) in &logged {
        assert!(last.get(word).copied().unwrap_or(0) >= *count, "{word}");
    }
    for (word, count) in last {
        assert!(sent.get(word).copied().unwrap_or(0) >= *count, "{word}");
    }
    assert_eq!(last.get("tail"), Some(&1));
}

// Found in review: a long line's pieces from one producer while another producer sends.

#[test]
fn long_lines_of_two_producers_at_once_are_each_counted_whole() {
    let line: String = (0..60_000).map(|i| format!("x{} ", i % 1_000)).collect();
    let cut = line[..line.len() / 2].rfind(' ').unwrap() + 1;
    for workers in ["1", "2", "3"] {
        let port = free_port();
        let mut child = Netwc::new()
            .args(["--listen", &format!("127.0.0.1:{port}"), "-w", workers])
            .args(["--batch", "100ms", "--format", "tsv", "--top", "0"])
            .spawn();
        let lines = child.stderr_lines();
        wait_listening(port);
        let mut long = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut short = TcpStream::connect(("127.0.0.1", port)).unwrap();
        wait_for(&lines, "connected", 2);
        // Deliberately sleeps: the producers' pace, batches apart, is the case tested.
        long.write_all(&line.as_bytes()[..cut]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        short.write_all(b"s1 s2\ns3\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        long.write_all(&line.as_bytes()[cut..]).unwrap();
        long.write_all(b"\n").unwrap();
        drop((long, short));
        wait_for(&lines, "closed", 2);
        child.signal("TERM");
        let output = child.output_within(Duration::from_secs(20));
        assert_eq!(
            totals(&parse_tsv(&stdout_of(&output))),
            oracle_totals(&format!("{line}\ns1 s2\ns3\n")),
            "-w {workers}"
        );
    }
}

// Found in review: a stop drained a producer that never pauses, and never ended.

#[test]
fn a_stop_ends_even_when_the_producer_never_pauses() {
    for stop in [
        &["--duration", "1s"][..],
        &["--batch", "100ms", "--batches", "3"][..],
    ] {
        let mut args = vec!["--stdin", "--batch-lines", "100", "--format", "tsv"];
        if stop[0] == "--batch" {
            args.truncate(1);
            args.extend_from_slice(&["--format", "tsv"]);
        }
        args.extend_from_slice(stop);
        let mut child = Netwc::new().args(&args).stdin_piped().spawn();
        let mut stdin = child.stdin();
        let reader = child.stdout_text();
        let writer = std::thread::spawn(move || {
            let block = "a b\n".repeat(16_384);
            // Until netwc has stopped and the pipe breaks.
            while stdin.write_all(block.as_bytes()).is_ok() {}
        });
        let status = child.status_within(Duration::from_secs(15));
        assert_eq!(status.code(), Some(0), "{stop:?}");
        writer.join().unwrap();
        let batches = parse_tsv(&reader.join().unwrap());
        let words: i64 = totals(&batches).values().sum();
        assert!(words > 0, "{stop:?}: counted what was read");
    }
}

//! SIGTERM and SIGINT close the current batch, report it and exit 0; a second signal exits at
//! once with 130.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::*;

fn graceful_stop_on(signal: &str) {
    let (port, stop) = holding_server(b"one two\ntwo three\nthree");
    let child = spawn([
        "127.0.0.1",
        &port.to_string(),
        "--batch",
        "1h",
        "--format",
        "tsv",
        "--stats",
    ]);
    // The hour-long batch can only end by the signal. Give netwc a moment to read the lines.
    std::thread::sleep(Duration::from_millis(500));
    send_signal(child.id(), signal);
    let output = wait_output(child, Duration::from_secs(10));
    stop.send(()).ok();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let batches = parse_tsv(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(batches.len(), 1, "the batch in flight is reported");
    // The last line has no newline yet and the connection is open: it was read, so it
    // counts, as at the end of the input.
    assert_eq!(totals(&batches), oracle_totals("one two\ntwo three\nthree"));
}

#[test]
fn sigterm_reports_the_batch_in_flight_and_exits_0() {
    graceful_stop_on("TERM");
}

#[test]
fn sigint_reports_the_batch_in_flight_and_exits_0() {
    graceful_stop_on("INT");
}

#[test]
fn a_second_signal_exits_at_once_with_130() {
    // netwc writes more than a pipe holds to a stdout that nobody reads, so it blocks there and
    // cannot stop gracefully; the second signal ends it anyway.
    let dir = TempDir::new("second-signal");
    let text: String = (0..200_000).map(|i| format!("word{i}\n")).collect();
    let file = dir.write("input.txt", text.as_bytes());
    let mut child = netwc()
        .arg("--file")
        .arg(&file)
        .args(["--batch-lines", "1", "--format", "tsv", "--stats"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it has reported a few batches (then its stdout pipe is filling up).
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let start = Instant::now();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("time=100 ") {
        assert!(start.elapsed() < Duration::from_secs(20));
        line.clear();
    }
    std::thread::sleep(Duration::from_millis(300));
    send_signal(child.id(), "TERM");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "blocked on stdout, it is still running"
    );
    send_signal(child.id(), "TERM");
    let status = wait_status(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(130));
}

#[test]
fn a_signal_while_a_fifo_waits_for_its_writer_ends_netwc_at_once() {
    let dir = TempDir::new("fifo");
    let fifo = dir.path("input.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let child = spawn(["--file", fifo.to_str().unwrap()]);
    // Opening the FIFO waits for a writer, which never comes.
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    send_signal(child.id(), "INT");
    let output = wait_output(child, Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(130));
    assert!(sent.elapsed() < Duration::from_secs(5));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SIGINT while waiting for the input to open"),
        "{stderr}"
    );
}

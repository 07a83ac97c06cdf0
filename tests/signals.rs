//! SIGTERM and SIGINT close the current batch, report it and exit 0; a second signal exits at
//! once with 130.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::util::*;

/// Waits (bounded) until a thread of process `pid` sleeps opening a FIFO that has no writer:
/// in the kernel's `wait_for_partner`, as /proc/PID/task/TID/wchan names it.
fn wait_opening_fifo(pid: u32) {
    let start = Instant::now();
    loop {
        let waits: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|task| read(&task.path().join("wchan")))
            .collect();
        if waits.iter().any(|wait| wait.trim() == "wait_for_partner") {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "netwc does not wait for the FIFO's writer; its threads wait in {waits:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn graceful_stop_on(signal: &str) {
    let source = holding_server("one two\ntwo three\nthree");
    let child = Netwc::new()
        .args(["127.0.0.1", &source.port.to_string()])
        .args(["--batch", "1h", "--format", "tsv", "--stats"])
        .spawn();
    // The hour-long batch can only end by the signal, once the job runs and has read the
    // lines.
    source.wait_read();
    child.wait_job_running();
    child.signal(signal);
    let output = child.output_within(Duration::from_secs(10));
    source.release();
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
    // netwc writes more than a pipe holds to outputs that nobody reads (its stats fill stderr
    // first), so it blocks there and cannot stop gracefully; the second signal ends it anyway.
    let dir = TempDir::new("second-signal");
    let text: String = (0..200_000).map(|i| format!("word{i}\n")).collect();
    let file = dir.write("input.txt", text.as_bytes());
    let mut child = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args(["--batch-lines", "1", "--format", "tsv", "--stats"])
        .spawn();
    // Read its stderr until it has reported a few batches, then nothing more of either.
    let stdout = child.stdout();
    let mut stderr = BufReader::new(child.stderr());
    let start = Instant::now();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("time=100 ") {
        assert!(start.elapsed() < Duration::from_secs(20));
        line.clear();
    }
    // It blocks once a pipe is full (one holds 64 KiB): wait until one holds 60 KiB and no
    // longer grows.
    let pipes = [stdout.as_fd(), stderr.get_ref().as_fd()];
    let held = || pipes.map(|pipe| rustix::io::ioctl_fionread(pipe).unwrap());
    let (mut last, mut same) = (held(), 0);
    while same < 5 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "netwc's pipes do not fill up: {last:?} bytes"
        );
        std::thread::sleep(Duration::from_millis(10));
        let now = held();
        let full = now.iter().any(|&bytes| bytes >= 60 << 10);
        same = if full && now == last { same + 1 } else { 0 };
        last = now;
    }
    child.signal("TERM");
    // Deliberately a sleep: that a graceful stop cannot end meanwhile is what is checked.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.is_running(),
        "blocked on a full pipe, it is still running"
    );
    child.signal("TERM");
    let status = child.status_within(Duration::from_secs(10));
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
    let child = Netwc::new().arg("--file").arg(&fifo).spawn();
    // Opening the FIFO waits for a writer, which never comes.
    wait_opening_fifo(child.pid());
    let sent = Instant::now();
    child.signal("INT");
    let output = child.output_within(Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(130));
    assert!(sent.elapsed() < Duration::from_secs(5));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SIGINT while starting"), "{stderr}");
}

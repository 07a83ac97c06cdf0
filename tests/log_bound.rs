//! `--checkpoint`'s log is bounded by time, not by the longest open line: a producer that
//! holds a long line open beside a steady one does not pin the log, and every word still
//! counts once.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn a_long_open_line_beside_a_steady_producer_does_not_pin_the_log() {
    let dir = TempDir::new("log-bound");
    let state = dir.path("state");
    let port = free_port();
    let mut child = Netwc::new()
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--batch",
            "100ms",
            "--mode",
            "incremental",
            "--format",
            "tsv",
            "--emit",
            "all",
            "--top",
            "0",
            "--checkpoint",
        ])
        .arg(&state)
        .spawn();
    wait_listening(port);
    let lines = child.stderr_lines();
    // Every report lists every word: read them as they come, or netwc waits on a full pipe.
    let reports = child.stdout_text();
    // Producer A: 350 KB of a line that does not end, then it idles.
    let long: String = (0..50_000).map(|i| format!("la{} ", i % 500)).collect();
    let mut a = TcpStream::connect(("127.0.0.1", port)).unwrap();
    a.write_all(long.as_bytes()).unwrap();
    // Producer B: 500 KB/s of ordinary lines for 8 s, 4 MB in all.
    let mut b = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut steady = String::new();
    let mut largest_log = 0;
    let started = Instant::now();
    for tick in 0..80 {
        let lines: String = (0..5_000)
            .map(|i| format!("b{} x{}\n", (tick * 7 + i) % 1000, i % 9))
            .collect();
        b.write_all(lines.as_bytes()).unwrap();
        steady.push_str(&lines);
        let log = std::fs::metadata(state.join("wal.log")).map_or(0, |m| m.len());
        largest_log = largest_log.max(log);
        // Deliberately a sleep: the producer's pace, 5,000 lines every 100 ms.
        let next = Duration::from_millis(100 * (tick + 1));
        std::thread::sleep(next.saturating_sub(started.elapsed()));
    }
    a.write_all(b"end\n").unwrap();
    drop(a);
    drop(b);
    wait_for(&lines, " closed", 2);
    child.signal("TERM");
    let output = child.output_within(Duration::from_secs(20));
    assert!(output.status.success());
    let totals = parse_tsv(&reports.join().unwrap())
        .pop_last()
        .map(|(_, counts)| counts)
        .unwrap_or_default();
    assert_eq!(totals, oracle_totals(&format!("{long}end\n{steady}")));
    // Snapshots come about once a second; a line open across two of them is cut, so the log
    // holds about two seconds of input (1 MB here), never the 4 MB sent since the line began.
    assert!(
        largest_log < 2 << 20,
        "the log grew to {largest_log} bytes while a line stayed open"
    );
}

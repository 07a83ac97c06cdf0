//! Memory over time per mode, under a steady stream of fresh (never repeated) words.
//!
//! Run with `cargo bench --bench memory`. Each mode runs for `NETWC_MEMORY_SECS` seconds
//! (default 20) with 100 ms batches while a loopback server sends 200,000 new words a second;
//! the table shows resident memory after the first second, half way and at the end. Batch and window modes
//! hold only the live batch or window, so their memory stays flat; incremental mode keeps every
//! word it has seen, so its memory grows with the vocabulary.

use std::io::{BufWriter, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LINES_PER_TICK: u64 = 200;
const WORDS_PER_LINE: u64 = 10;
const TICK: Duration = Duration::from_millis(10);

/// Sends fresh words at a steady rate to the first client until it goes away.
fn fresh_word_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = BufWriter::new(stream);
        let mut next_word = 0u64;
        let mut next_tick = Instant::now();
        loop {
            for _ in 0..LINES_PER_TICK {
                for _ in 0..WORDS_PER_LINE {
                    if write!(out, "f{next_word} ").is_err() {
                        return;
                    }
                    next_word += 1;
                }
                let _ = out.write_all(b"\n");
            }
            if out.flush().is_err() {
                return;
            }
            next_tick += TICK;
            if let Some(wait) = next_tick.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    });
    port
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let secs: u64 = std::env::var("NETWC_MEMORY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    eprintln!(
        "memory: {} fresh words/s, 100 ms batches, {secs} s per run",
        LINES_PER_TICK * WORDS_PER_LINE * 1000 / TICK.as_millis() as u64
    );
    println!(
        "| mode | workers | RSS after 1 s (MiB) | at {} s | at {secs} s |",
        secs / 2
    );
    println!("|---|---|---|---|---|");
    let modes: [(&str, &[&str]); 3] = [
        ("batch", &["--mode", "batch"]),
        ("window 1s", &["--mode", "window", "--window", "1s"]),
        ("incremental", &["--mode", "incremental"]),
    ];
    for (name, mode) in modes {
        for workers in ["1", "2"] {
            let port = fresh_word_server();
            let mut child = Command::new(env!("CARGO_BIN_EXE_netwc"))
                .args([
                    "127.0.0.1",
                    &port.to_string(),
                    "--batch",
                    "100ms",
                    "-w",
                    workers,
                ])
                .args([
                    "--duration",
                    &format!("{secs}s"),
                    "--format",
                    "tsv",
                    "--top",
                    "1",
                ])
                .args(mode)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("netwc runs");
            std::thread::sleep(Duration::from_secs(1));
            let early = rss_kib(child.id());
            std::thread::sleep(Duration::from_millis(secs * 500 - 1000));
            let half = rss_kib(child.id());
            std::thread::sleep(Duration::from_millis(secs * 500 - 300));
            let late = rss_kib(child.id());
            child.wait().unwrap();
            let mib = |kib: u64| kib as f64 / 1024.0;
            println!(
                "| {name} | {workers} | {:.0} | {:.0} | {:.0} |",
                mib(early),
                mib(half),
                mib(late)
            );
        }
    }
}

//! Memory over time per mode, under streams of fresh (never repeated) words.
//!
//! Run with `cargo bench --bench memory`. Two measurements:
//!
//! - steady: each mode runs for `NETWC_MEMORY_SECS` seconds (default 30) with 100 ms batches
//!   while a loopback server sends 200,000 new words a second; the table shows resident memory
//!   after 1 s, 10 s and at the end, and the end's ratio to 10 s. Batch and window modes hold
//!   only the live batch or window, so their memory stays flat (the contract: at most 1.3×);
//!   incremental mode keeps every word it has seen, so its memory grows with the vocabulary.
//! - bursts: `--mode window --window 2s`, three bursts of 400,000 fresh words, each followed by
//!   6 s of quiet so that it leaves the window: resident memory 5 s after each burst. A
//!   burst that has left gives its memory back, and bursts do not ratchet memory up (the
//!   contract: the third at most 1.15× the first).
//!
//! `NETWC_BIN` runs another netwc binary.

use std::io::{BufWriter, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
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

/// Sends `bursts` bursts of `words` fresh words, each followed by `quiet` without input, to
/// the first client; then closes. Says when each burst was sent.
fn burst_server(bursts: u32, words: u64, quiet: Duration) -> (u16, Receiver<Instant>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sent, sent_at) = channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = BufWriter::new(stream);
        let mut next_word = 0u64;
        for _ in 0..bursts {
            for i in 0..words {
                let end = if i % WORDS_PER_LINE == WORDS_PER_LINE - 1 {
                    "\n"
                } else {
                    " "
                };
                if write!(out, "b{next_word}{end}").is_err() {
                    return;
                }
                next_word += 1;
            }
            if out.write_all(b"\n").and_then(|_| out.flush()).is_err() {
                return;
            }
            let _ = sent.send(Instant::now());
            std::thread::sleep(quiet);
        }
    });
    (port, sent_at)
}

fn netwc_bin() -> String {
    std::env::var("NETWC_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netwc").to_string())
}

/// netwc reading from the server on `port` with 100 ms batches, `-w workers` and the mode's
/// flags, printing little (the output is not what is measured).
fn spawn_netwc(port: u16, workers: &str, flags: &[&str]) -> std::process::Child {
    Command::new(netwc_bin())
        .args([
            "127.0.0.1",
            &port.to_string(),
            "--batch",
            "100ms",
            "-w",
            workers,
        ])
        .args(["--format", "tsv", "--top", "1"])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("netwc runs")
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
        .unwrap_or(30);
    eprintln!(
        "memory: {} fresh words/s, 100 ms batches, {secs} s per run, {}",
        LINES_PER_TICK * WORDS_PER_LINE * 1000 / TICK.as_millis() as u64,
        netwc_bin()
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("| mode | workers | RSS after 1 s (MiB) | at 10 s | at {secs} s | {secs} s ÷ 10 s |");
    println!("|---|---|---|---|---|---|");
    let modes: [(&str, &[&str]); 3] = [
        ("batch", &["--mode", "batch"]),
        ("window 1s", &["--mode", "window", "--window", "1s"]),
        ("incremental", &["--mode", "incremental"]),
    ];
    // `NETWC_MEMORY_ONLY=bursts` skips the steady runs.
    let steady = std::env::var("NETWC_MEMORY_ONLY").map_or(true, |only| only != "bursts");
    for (name, mode) in modes.into_iter().filter(|_| steady) {
        for workers in ["1", "2"] {
            let port = fresh_word_server();
            let duration = format!("{secs}s");
            let flags: Vec<&str> = ["--duration", duration.as_str()]
                .into_iter()
                .chain(mode.iter().copied())
                .collect();
            let mut child = spawn_netwc(port, workers, &flags);
            let start = Instant::now();
            let at = |s: u64| {
                let wait = Duration::from_secs(s).saturating_sub(start.elapsed());
                std::thread::sleep(wait);
                rss_kib(child.id())
            };
            let early = at(1);
            let ten = at(10);
            let late = at(secs.saturating_sub(1).max(10));
            child.wait().unwrap();
            println!(
                "| {name} | {workers} | {:.0} | {:.0} | {:.0} | {:.2} |",
                mib(early),
                mib(ten),
                mib(late),
                late as f64 / ten as f64
            );
        }
    }

    println!("\n| window 2s, three bursts of 400,000 fresh words | workers | RSS after burst 1 left (MiB) | after burst 2 | after burst 3 | 3rd ÷ 1st |");
    println!("|---|---|---|---|---|---|");
    for workers in ["1", "2"] {
        let quiet = Duration::from_secs(6);
        let (port, sent_at) = burst_server(3, 400_000, quiet);
        let mut child = spawn_netwc(port, workers, &["--mode", "window", "--window", "2s"]);
        // 5 s after a burst was sent, it has been counted, has left the 2 s window, and
        // differential has had time to merge it away.
        let mut after = Vec::new();
        for _ in 0..3 {
            let sent = sent_at.recv().expect("the burst is sent");
            let left = sent + Duration::from_secs(5);
            std::thread::sleep(left.saturating_duration_since(Instant::now()));
            after.push(rss_kib(child.id()));
        }
        child.wait().unwrap();
        println!(
            "| | {workers} | {:.0} | {:.0} | {:.0} | {:.2} |",
            mib(after[0]),
            mib(after[1]),
            mib(after[2]),
            after[2] as f64 / after[0] as f64
        );
    }
}

//! Memory over time per mode under streams of fresh (never repeated) words, and memory per
//! distinct word held.
//!
//! Run with `cargo bench --bench memory` for the first two measurements:
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
//! `NETWC_MEMORY_ONLY=steady` or `=bursts` runs that measurement alone. The third runs only
//! when chosen, with `NETWC_MEMORY_ONLY=distinct cargo bench --bench memory`:
//!
//! - distinct: memory per distinct word held. A file of `NETWC_MEMORY_DISTINCT` distinct words
//!   (default 4,000,000; `w<line>x<j>`, ten a line, each word once) is read from standard input
//!   by netwc (`--stdin -w NETWC_MEMORY_WORKERS`, default 1, `--format tsv --top 0`, output
//!   discarded) in three runs: all lines in one batch (`--batch-lines` = the line count), running
//!   totals over ten batches (`--mode incremental --emit changes`), and ten batches with
//!   `--mode window --window 5` (a window then holds half the words). Beside them, a one-thread
//!   hash map (this benchmark's binary, run again as a child process so that its memory is
//!   measured alone: 1 MiB reads, lines split on `b' '`, `HashMap<Vec<u8>, u64>` with foldhash)
//!   counts the same file, so that it holds every word, as the first two runs must. Each
//!   process's peak RSS is its `VmHWM` in `/proc/PID/status`, the last value read (every 2 ms)
//!   before it exits; its idle RSS is its `VmHWM` half a second after a start with no input
//!   yet (standard input a pipe held open). The table gives, per run, the peak and idle RSS, the
//!   bytes per distinct word held (peak ÷ words held) and the same above idle ((peak − idle) ÷
//!   words held), each beside its ratio to the hash map's.
//!
//! `NETWC_BIN` runs another netwc binary.

#[path = "common/hash_map.rs"]
mod hash_map;

use std::io::{BufWriter, Read, Write};
use std::net::TcpListener;
use std::path::Path;
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
    status_kib(pid, "VmRSS").unwrap_or(0)
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`), if the process is there.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

/// The environment variable that makes this binary the hash-map count of the distinct-word
/// measurement.
const HASH_MAP_CHILD: &str = "NETWC_MEMORY_HASH_MAP_CHILD";

/// The hash map netwc's memory per word is compared with: one thread reads standard input
/// 1 MiB at a time, splits each line on `b' '` and counts in a `HashMap<Vec<u8>, u64>`. Prints
/// the words and distinct words it counted.
fn hash_map_count() {
    let (counts, words) = hash_map::count(std::io::stdin().lock());
    println!("{words} {}", counts.len());
}

/// Runs `command` with standard input from `input` until it exits: its peak RSS in KiB (the
/// last `VmHWM` read before it exited) and its output, if `command` pipes its standard output.
fn peak_rss_kib(command: &mut Command, input: &Path) -> (u64, String) {
    let mut child = command
        .stdin(std::fs::File::open(input).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the process starts");
    let pid = child.id();
    let stdout = child.stdout.take();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Some(kib) = status_kib(pid, "VmHWM") {
            peak = kib;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.success(),
        "{command:?} failed ({status}): {}",
        err.trim()
    );
    (peak, out)
}

/// Starts `command` with standard input a pipe held open and no input: its `VmHWM` in KiB
/// after half a second.
fn idle_rss_kib(command: &mut Command) -> u64 {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the process starts");
    std::thread::sleep(Duration::from_millis(500));
    let idle = status_kib(child.id(), "VmHWM").unwrap_or(0);
    drop(child.stdin.take());
    child.wait().unwrap();
    idle
}

/// Memory per distinct word held: netwc's peak RSS in one batch, in running totals and in a
/// window of `distinct` distinct words, against the hash map's.
fn distinct_words(distinct: u64, workers: &str) {
    let lines = (distinct / WORDS_PER_LINE).max(1);
    let distinct = lines * WORDS_PER_LINE;
    let file = tempfile::Builder::new()
        .prefix("netwc-memory-distinct-")
        .suffix(".txt")
        .tempfile()
        .unwrap();
    {
        let mut out = BufWriter::with_capacity(1 << 20, file.as_file());
        for line in 0..lines {
            for j in 0..WORDS_PER_LINE {
                let end = if j == WORDS_PER_LINE - 1 { '\n' } else { ' ' };
                write!(out, "w{line}x{j}{end}").unwrap();
            }
        }
        out.flush().unwrap();
    }
    eprintln!(
        "memory: {distinct} distinct words, ten a line, each once ({} MiB), netwc -w {workers}, {}",
        file.as_file().metadata().unwrap().len() >> 20,
        netwc_bin()
    );
    let hash_map = || {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.env(HASH_MAP_CHILD, "1").stdout(Stdio::piped());
        command
    };
    let (base_peak, counted) = peak_rss_kib(&mut hash_map(), file.path());
    assert_eq!(
        counted.trim(),
        format!("{distinct} {distinct}"),
        "the hash map counted every word"
    );
    let base_idle = idle_rss_kib(&mut hash_map());

    let all = lines.to_string();
    let tenth = (lines / 10).max(1).to_string();
    let runs: [(&str, Vec<&str>, u64); 3] = [
        (
            "netwc, one batch of them all",
            vec!["--batch-lines", &all],
            distinct,
        ),
        (
            "netwc, running totals (--mode incremental, 10 batches)",
            vec![
                "--mode",
                "incremental",
                "--emit",
                "changes",
                "--batch-lines",
                &tenth,
            ],
            distinct,
        ),
        (
            "netwc, a window (--mode window --window 5, 10 batches)",
            vec!["--mode", "window", "--window", "5", "--batch-lines", &tenth],
            distinct / 2,
        ),
    ];
    let netwc = |flags: &[&str]| {
        let mut command = Command::new(netwc_bin());
        command
            .args(["--stdin", "-w", workers, "--format", "tsv", "--top", "0"])
            .args(flags)
            .stdout(Stdio::null());
        command
    };

    let kib = 1024.0;
    let per_word = |peak: u64, held: u64| peak as f64 * kib / held as f64;
    let (base_per, base_above) = (
        per_word(base_peak, distinct),
        per_word(base_peak.saturating_sub(base_idle), distinct),
    );
    println!("\n| {distinct} distinct words, netwc -w {workers} | words held | peak RSS (MiB) | idle RSS (MiB) | B per word held | ÷ hash map's | B per word held above idle | ÷ hash map's |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| hash map, one thread | {distinct} | {:.0} | {:.1} | {base_per:.0} | 1.00 | {base_above:.0} | 1.00 |",
        base_peak as f64 / kib,
        base_idle as f64 / kib
    );
    for (name, flags, held) in runs {
        let (peak, _) = peak_rss_kib(&mut netwc(&flags), file.path());
        let idle = idle_rss_kib(&mut netwc(&flags));
        let (per, above) = (
            per_word(peak, held),
            per_word(peak.saturating_sub(idle), held),
        );
        println!(
            "| {name} | {held} | {:.0} | {:.1} | {per:.0} | {:.2} | {above:.0} | {:.2} |",
            peak as f64 / kib,
            idle as f64 / kib,
            per / base_per,
            above / base_above
        );
    }
}

fn main() {
    if std::env::var_os(HASH_MAP_CHILD).is_some() {
        hash_map_count();
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // `NETWC_MEMORY_ONLY` runs one measurement (`steady`, `bursts` or `distinct`); unset, the
    // first two.
    let only = std::env::var("NETWC_MEMORY_ONLY").ok();
    let chosen = |name: &str| {
        only.as_deref()
            .map_or(name != "distinct", |only| only == name)
    };
    if chosen("distinct") {
        let distinct: u64 = std::env::var("NETWC_MEMORY_DISTINCT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4_000_000);
        let workers = std::env::var("NETWC_MEMORY_WORKERS").unwrap_or_else(|_| "1".into());
        distinct_words(distinct, &workers);
    }
    let secs: u64 = std::env::var("NETWC_MEMORY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let modes: [(&str, &[&str]); 3] = [
        ("batch", &["--mode", "batch"]),
        ("window 1s", &["--mode", "window", "--window", "1s"]),
        ("incremental", &["--mode", "incremental"]),
    ];
    if chosen("steady") {
        eprintln!(
            "memory: {} fresh words/s, 100 ms batches, {secs} s per run, {}",
            LINES_PER_TICK * WORDS_PER_LINE * 1000 / TICK.as_millis() as u64,
            netwc_bin()
        );
        println!(
            "| mode | workers | RSS after 1 s (MiB) | at 10 s | at {secs} s | {secs} s ÷ 10 s |"
        );
        println!("|---|---|---|---|---|---|");
    }
    for (name, mode) in modes.into_iter().filter(|_| chosen("steady")) {
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

    if !chosen("bursts") {
        return;
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

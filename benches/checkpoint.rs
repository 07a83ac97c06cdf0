//! What `--checkpoint` costs a run whose state only grows: incremental mode under a steady
//! stream of fresh (never repeated) words, with and without a checkpoint, at two rates.
//!
//! Run with `cargo bench --bench checkpoint`. Each run lasts `NETWC_CHECKPOINT_SECS` seconds
//! (default 60) with 100 ms batches; a loopback server sends the words in 10 ms ticks and notes
//! how far it ever fell behind its schedule (a producer that netwc throttles falls behind). The
//! table shows, per run: words sent and counted, the producer's largest lag, the largest
//! `delay_ms` of a batch that carried words, the CPU time of netwc's snapshot thread per
//! second of run (the cost of snapshots, which should follow the rate of changed words, not
//! the state's size), and the size of the snapshot file at the end.
//!
//! `NETWC_CHECKPOINT_ONLY=restore` measures instead how long a restart takes to report its first
//! batch with 1, 2 and 4 million words in state (`NETWC_CHECKPOINT_RESTORE`, a comma-separated
//! list of millions): a checkpoint of running totals of that many fresh words is made from
//! standard input, then netwc restarts on it with no input; the table gives the time to the
//! "restored" log line and to the first `--stats` line, best of three restarts.
//!
//! `NETWC_BIN` runs another netwc binary.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(10);
const WORDS_PER_LINE: u64 = 10;

/// What the server did.
struct Sent {
    words: u64,
    /// The most the server ever fell behind its schedule.
    max_lag: Duration,
}

/// Sends `rate` fresh words a second for `seconds` to the first client, then closes.
fn paced_server(rate: u64, seconds: u64) -> (u16, Receiver<Sent>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (done, sent) = channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = BufWriter::new(stream);
        let lines_per_tick = rate / 100 / WORDS_PER_LINE;
        let (mut words, mut max_lag) = (0u64, Duration::ZERO);
        let start = Instant::now();
        let mut next_tick = start;
        while next_tick < start + Duration::from_secs(seconds) {
            for _ in 0..lines_per_tick {
                for _ in 0..WORDS_PER_LINE {
                    let _ = write!(out, "f{words} ");
                    words += 1;
                }
                let _ = out.write_all(b"\n");
            }
            if out.flush().is_err() {
                break;
            }
            next_tick += TICK;
            let now = Instant::now();
            match next_tick.checked_duration_since(now) {
                Some(wait) => std::thread::sleep(wait),
                None => max_lag = max_lag.max(now - next_tick),
            }
        }
        let _ = done.send(Sent { words, max_lag });
    });
    (port, sent)
}

fn netwc_bin() -> String {
    std::env::var("NETWC_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netwc").to_string())
}

/// CPU time so far of the thread named `name` in process `pid`.
fn thread_cpu(pid: u32, name: &str) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for task in tasks.filter_map(Result::ok) {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // Fields after the command's closing parenthesis; utime and stime are 14 and 15.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        return Some(Duration::from_millis(ticks * 10));
    }
    None
}

struct Run {
    sent: Sent,
    counted: u64,
    max_delay_ms: f64,
    snapshot_cpu: Duration,
    snapshot_bytes: u64,
}

fn run(rate: u64, seconds: u64, checkpoint: bool) -> Run {
    let dir = std::env::temp_dir().join(format!("netwc-bench-checkpoint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (port, sent) = paced_server(rate, seconds);
    let mut command = Command::new(netwc_bin());
    command
        .args(["127.0.0.1", &port.to_string(), "--batch", "100ms"])
        .args([
            "--mode",
            "incremental",
            "--format",
            "tsv",
            "--top",
            "1",
            "--stats",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if checkpoint {
        command.arg("--checkpoint").arg(&dir);
    }
    let mut child = command.spawn().expect("netwc runs");
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let (mut counted, mut max_delay_ms) = (0u64, 0f64);
    let mut snapshot_cpu = Duration::ZERO;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(name))
                .and_then(|v| v.parse::<f64>().ok())
        };
        if let (Some(words), Some(delay)) = (field("words="), field("delay_ms=")) {
            counted += words as u64;
            if words > 0.0 {
                max_delay_ms = max_delay_ms.max(delay);
            }
        }
        snapshot_cpu = thread_cpu(pid, "snapshots").unwrap_or(snapshot_cpu);
    }
    child.wait().unwrap();
    let snapshot_bytes = std::fs::metadata(dir.join("snapshot.log")).map_or(0, |m| m.len());
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        sent: sent.recv().unwrap(),
        counted,
        max_delay_ms,
        snapshot_cpu,
        snapshot_bytes,
    }
}

/// Seconds from start to the restore's log line and to the first report, for a restart on a
/// checkpoint of `words` fresh words in running totals.
fn restore(words: u64, dir: &std::path::Path) -> (f64, f64) {
    let state = dir.join(format!("restore-{words}"));
    if !state.exists() {
        let mut maker = Command::new(netwc_bin())
            .args(["--stdin", "--mode", "incremental", "--batch", "200ms"])
            .args(["--format", "tsv", "--top", "0", "--checkpoint"])
            .arg(&state)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut input = BufWriter::new(maker.stdin.take().unwrap());
        for line in 0..words / WORDS_PER_LINE {
            for j in 0..WORDS_PER_LINE {
                write!(input, "r{line}x{j} ").unwrap();
            }
            writeln!(input).unwrap();
        }
        drop(input);
        assert!(maker.wait().unwrap().success());
    }
    let started = Instant::now();
    let mut child = Command::new(netwc_bin())
        .args([
            "--stdin",
            "--mode",
            "incremental",
            "--batch",
            "200ms",
            "--stats",
        ])
        .args([
            "--format",
            "tsv",
            "--top",
            "0",
            "--batches",
            "1",
            "--checkpoint",
        ])
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut restored, mut reported) = (f64::NAN, f64::NAN);
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("restored the checkpoint") {
            restored = started.elapsed().as_secs_f64();
        }
        if line.contains("batch time=") && reported.is_nan() {
            reported = started.elapsed().as_secs_f64();
        }
    }
    assert!(child.wait().unwrap().success());
    (restored, reported)
}

fn restore_table() {
    let millions: Vec<u64> = std::env::var("NETWC_CHECKPOINT_RESTORE")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|m| m.trim().parse().expect("millions of words"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    println!("| words in state | to the restore's log line, s | to the first report, s |");
    println!("|---|---|---|");
    for million in millions {
        let runs: Vec<(f64, f64)> = (0..3)
            .map(|_| restore(million * 1_000_000, dir.path()))
            .collect();
        let best = |f: fn(&(f64, f64)) -> f64| runs.iter().map(f).fold(f64::INFINITY, f64::min);
        println!(
            "| {million} M | {:.2} | {:.2} |",
            best(|r| r.0),
            best(|r| r.1)
        );
    }
}

fn main() {
    if std::env::var("NETWC_CHECKPOINT_ONLY").as_deref() == Ok("restore") {
        restore_table();
        return;
    }
    let seconds: u64 = std::env::var("NETWC_CHECKPOINT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    println!(
        "incremental mode, 100 ms batches, fresh words for {seconds} s\n\
         rate/s   checkpoint  sent        counted     producer max lag  max delay_ms  snapshot CPU ms/s  snapshot file"
    );
    for rate in [50_000, 100_000] {
        for checkpoint in [false, true] {
            let run = run(rate, seconds, checkpoint);
            println!(
                "{rate:<8} {:<11} {:<11} {:<11} {:<17} {:<13.1} {:<18.2} {:.1} MB",
                if checkpoint { "yes" } else { "no" },
                run.sent.words,
                run.counted,
                format!("{} ms", run.sent.max_lag.as_millis()),
                run.max_delay_ms,
                run.snapshot_cpu.as_secs_f64() * 1000.0 / seconds as f64,
                run.snapshot_bytes as f64 / 1e6,
            );
        }
    }
}

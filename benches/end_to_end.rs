//! End-to-end throughput, latency and memory of netwc against a plain hash-map word count.
//!
//! Run with `cargo bench --bench end_to_end`. In one run it generates Zipf-distributed text
//! (`NETWC_BENCH_MB`, default 32 MB, 100,000-word vocabulary) and measures, for each mode at
//! `-w 1` and `-w 2`:
//!
//! - throughput: the same bytes served over loopback as fast as the reader takes them, to
//!   (a) a naive single-threaded `HashMap` count written here (`read_line`, `split_whitespace`,
//!   std's hasher), (b) a tuned one (64 KiB reads, ASCII splitting, foldhash) and (c) netwc
//!   with 1 s batches (Spark's usual interval), alternating, `NETWC_BENCH_RUNS` times (default
//!   3): median words/s and the ratios of netwc to both;
//! - latency: the same text at a steady 200,000 words/s with 100 ms batches for 5 s: p50 and
//!   p99 of `--stats` `delay_ms`, the time from a batch's end to its report;
//! - peak RSS (VmHWM) of the throughput runs;
//! - and, below the table, the delay of 1 ms batches at a steady 500,000 words/s (batch mode,
//!   `-w 1`, 3 s).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Serves `text` to the first client on a free loopback port, then closes.
fn serve(text: Arc<Vec<u8>>) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.write_all(&text);
    });
    (port, handle)
}

/// Seeded Zipf text over `vocabulary` words, about `bytes` long; returns it and its word count.
fn zipf_text(bytes: usize, vocabulary: usize) -> (Vec<u8>, u64) {
    let cumulative: Vec<f64> = (1..=vocabulary)
        .scan(0.0, |sum, rank| {
            *sum += 1.0 / rank as f64;
            Some(*sum)
        })
        .collect();
    let total = *cumulative.last().unwrap();
    let mut state = 42u64;
    let mut text = Vec::with_capacity(bytes + 100);
    let mut words = 0;
    while text.len() < bytes {
        for i in 0..10 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let target = (state >> 11) as f64 / (1u64 << 53) as f64 * total;
            let rank = cumulative
                .partition_point(|&c| c <= target)
                .min(vocabulary - 1);
            if i > 0 {
                text.push(b' ');
            }
            text.extend_from_slice(format!("w{rank}").as_bytes());
            words += 1;
        }
        text.push(b'\n');
    }
    (text, words)
}

/// The baseline: read the socket line by line and count with a `HashMap`, on one thread.
fn naive_count(port: u16) -> (Duration, u64) {
    let start = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut line = String::new();
    let mut words = 0;
    while reader.read_line(&mut line).unwrap() > 0 {
        for word in line.split_whitespace() {
            words += 1;
            match counts.get_mut(word) {
                Some(count) => *count += 1,
                None => {
                    counts.insert(word.to_owned(), 1);
                }
            }
        }
        line.clear();
    }
    std::hint::black_box(&counts);
    (start.elapsed(), words)
}

/// A tuned baseline: 64 KiB reads, whole-buffer ASCII splitting, a fast hasher. Still one
/// thread and a plain hash map, but no per-line `String` and no SipHash.
fn tuned_count(port: u16) -> (Duration, u64) {
    let start = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut counts: HashMap<String, u64, foldhash::fast::RandomState> = HashMap::default();
    let mut pending = Vec::with_capacity(1 << 17);
    let mut buf = vec![0u8; 1 << 16];
    let mut words = 0;
    let mut count = |text: &[u8], counts: &mut HashMap<String, u64, _>| {
        for word in String::from_utf8_lossy(text).split_ascii_whitespace() {
            words += 1;
            match counts.get_mut(word) {
                Some(count) => *count += 1,
                None => {
                    counts.insert(word.to_owned(), 1);
                }
            }
        }
    };
    loop {
        let read = stream.read(&mut buf).unwrap();
        if read == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..read]);
        if let Some(last) = pending.iter().rposition(|&b| b == b'\n') {
            count(&pending[..=last], &mut counts);
            pending.drain(..=last);
        }
    }
    count(&pending, &mut counts);
    std::hint::black_box(&counts);
    (start.elapsed(), words)
}

struct NetwcRun {
    elapsed: Duration,
    delays_ms: Vec<f64>,
    peak_rss_kib: u64,
    words: u64,
}

/// Serves `text` at `words_per_sec` (10 words a line) to the first client, until it leaves.
fn serve_steady(text: Arc<Vec<u8>>, words_per_sec: u64) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let lines_per_tick = (words_per_sec / 10 / 100).max(1) as usize;
        let mut lines = text.split_inclusive(|&b| b == b'\n').cycle();
        let mut next_tick = Instant::now();
        loop {
            let mut tick = Vec::new();
            for line in lines.by_ref().take(lines_per_tick) {
                tick.extend_from_slice(line);
            }
            if stream.write_all(&tick).is_err() {
                return;
            }
            next_tick += Duration::from_millis(10);
            if let Some(wait) = next_tick.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    });
    (port, handle)
}

fn netwc_run(port: u16, mode: &[&str], workers: &str, extra: &[&str]) -> NetwcRun {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_netwc"))
        .args(["127.0.0.1", &port.to_string(), "-w", workers, "--stats"])
        .args(extra)
        .args(mode)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netwc runs");
    let pid = child.id();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    // VmHWM is the peak resident set; the last value read before exit is the run's peak.
    let mut peak_rss_kib = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            {
                peak_rss_kib = kib;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    let log = log.join().unwrap();
    let field = |line: &str, key: &str| -> Option<f64> {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(key))
            .and_then(|v| v.parse().ok())
    };
    let delays_ms = log
        .lines()
        .filter(|l| l.contains("batch time="))
        .filter_map(|l| field(l, "delay_ms="))
        .collect();
    let words = log
        .lines()
        .filter(|l| l.contains("batch time="))
        .filter_map(|l| field(l, "words="))
        .sum::<f64>() as u64;
    NetwcRun {
        elapsed,
        delays_ms,
        peak_rss_kib,
        words,
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[((values.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: do nothing there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let megabytes: usize = std::env::var("NETWC_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let runs: usize = std::env::var("NETWC_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let (text, words) = zipf_text(megabytes << 20, 100_000);
    let text = Arc::new(text);
    eprintln!(
        "end_to_end: {} MB, {words} words of Zipf text (100,000-word vocabulary), {runs} runs each, {} cores",
        text.len() >> 20,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let configs: [(&str, &[&str]); 3] = [
        ("batch", &["--mode", "batch"]),
        ("incremental", &["--mode", "incremental", "--emit", "all"]),
        ("window 2s", &["--mode", "window", "--window", "2s"]),
    ];
    println!("| run | words/s (median) | ratio to naive | ratio to tuned | delay p50 / p99 ms at 200k words/s | peak RSS MiB |");
    println!("|---|---|---|---|---|---|");
    // The baseline and netwc alternate, so both see the same machine state.
    let mut naive_rates = Vec::new();
    let mut tuned_rates = Vec::new();
    let mut rows = Vec::new();
    for (name, mode) in configs {
        for workers in ["1", "2"] {
            let mut rates = Vec::new();
            let mut delays = Vec::new();
            let mut rss = Vec::new();
            for _ in 0..runs {
                let (port, server) = serve(text.clone());
                let (elapsed, counted) = naive_count(port);
                server.join().unwrap();
                assert_eq!(counted, words);
                naive_rates.push(words as f64 / elapsed.as_secs_f64());

                let (port, server) = serve(text.clone());
                let (elapsed, counted) = tuned_count(port);
                server.join().unwrap();
                assert_eq!(counted, words);
                tuned_rates.push(words as f64 / elapsed.as_secs_f64());

                let (port, server) = serve(text.clone());
                let run = netwc_run(port, mode, workers, &["--batch", "1s"]);
                server.join().unwrap();
                assert_eq!(run.words, words, "netwc counted every word");
                rates.push(words as f64 / run.elapsed.as_secs_f64());
                rss.push(run.peak_rss_kib as f64 / 1024.0);
            }
            let (port, server) = serve_steady(text.clone(), 200_000);
            let steady = netwc_run(
                port,
                mode,
                workers,
                &["--batch", "100ms", "--duration", "5s"],
            );
            server.join().unwrap();
            delays.extend(steady.delays_ms);
            rows.push((
                format!("netwc {name} -w {workers}"),
                median(&mut rates),
                percentile(&mut delays, 0.5),
                percentile(&mut delays, 0.99),
                median(&mut rss),
            ));
        }
    }
    // Millisecond batches with the input at a tenth or so of capacity: how soon is a batch out?
    let (port, server) = serve_steady(text.clone(), 500_000);
    let mut fast = netwc_run(
        port,
        &["--mode", "batch"],
        "1",
        &["--batch", "1ms", "--duration", "3s"],
    );
    server.join().unwrap();
    let naive = median(&mut naive_rates);
    let tuned = median(&mut tuned_rates);
    println!(
        "| naive HashMap, 1 thread | {:.2}M | 1.00 | {:.2} | – | – |",
        naive / 1e6,
        naive / tuned
    );
    println!(
        "| tuned HashMap, 1 thread | {:.2}M | {:.2} | 1.00 | – | – |",
        tuned / 1e6,
        tuned / naive
    );
    for (name, rate, p50, p99, rss) in rows {
        println!(
            "| {name} | {:.2}M | {:.2} | {:.2} | {p50:.1} / {p99:.1} | {rss:.0} |",
            rate / 1e6,
            rate / naive,
            rate / tuned
        );
    }
    let batches = fast.delays_ms.len();
    println!(
        "\n--batch 1ms at 500,000 words/s, -w 1: {batches} batches, delay p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&mut fast.delays_ms, 0.5),
        percentile(&mut fast.delays_ms, 0.99),
        percentile(&mut fast.delays_ms, 1.0)
    );
}

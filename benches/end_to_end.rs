//! End-to-end throughput, latency and memory of netwc against a plain hash-map word count.
//!
//! Run with `cargo bench --bench end_to_end`. In one run it generates the acceptance stream
//! (`NETWC_BENCH_WORDS` Zipf-distributed words, default 20,000,000, ten a line, over a
//! `NETWC_BENCH_VOCAB`-word vocabulary, default 50,000) and measures:
//!
//! - throughput: the same bytes served over loopback as fast as the reader takes them, to
//!   (a) a naive single-threaded `HashMap` count written here (`read_line`, `split_whitespace`,
//!   std's hasher), (b) a tuned one, as the acceptance scripts' (1 MiB reads, lines split on b' ',
//!   foldhash) and (c) netwc in
//!   batch mode and with a 1 s sliding window, at `-w 1` and `-w 2`, with `--batch` 10ms,
//!   100ms and 1s. Rounds are interleaved (every configuration once per round,
//!   `NETWC_BENCH_RUNS` rounds, default 3); the table gives the best and the median words/s
//!   and the ratios of netwc's best to the best hash-map counts;
//! - peak RSS (VmHWM) of those runs (of process 0 in a cluster);
//! - latency with `--batch 1ms`, batch mode, under a steady stream sent in 10 ms bursts, for
//!   each rate and worker count of `NETWC_BENCH_LATENCY` (`WORDSxWORKERS`, comma-separated;
//!   default `500000x1,2000000x2`: 500,000 words/s at `-w 1` and 2,000,000 words/s at `-w 2`),
//!   `NETWC_BENCH_LATENCY_SECS` seconds each (default 5): the server sends a marker line with
//!   each burst and notes when; the time each marker's row is read from netwc's stdout, minus
//!   that, is the end-to-end latency (p50, p99). The same measurement of a pass-through client
//!   (it reads the socket and notes each marker line at once) at the same rate is the floor.
//!   Beside it, `--stats` `delay_ms` (from a batch's end to its report);
//! - what `--ui` costs: batch mode `-w 1` at 100 ms with `--ui`, in the same rounds, and each
//!   latency above with `--ui`.
//!
//! `NETWC_BIN` runs another netwc binary (to compare two builds in the same conditions);
//! `NETWC_BENCH_ONLY=latency` (or `throughput`) runs that measurement alone;
//! `NETWC_BENCH_MODES` (`batch,window`), `NETWC_BENCH_WORKERS` (`1,2`; `PxW` runs a cluster of
//! P processes of W workers on loopback) and `NETWC_BENCH_BATCHES` (`10ms,100ms,1s`) choose the
//! configurations, `NETWC_BENCH_UI=0` leaves out the `--ui` runs: a scaling run on a machine
//! with many cores is `NETWC_BENCH_WORKERS=1,2,4,8,2x4 NETWC_BENCH_MODES=batch`;
//! `NETWC_BENCH_DUMP=PATH` writes the stream to a file and stops.

#[path = "common/hash_map.rs"]
mod hash_map;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
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

/// Seeded Zipf text of `words` words (ten a line) over `vocabulary` words.
fn zipf_text(words: u64, vocabulary: usize) -> Vec<u8> {
    let cumulative: Vec<f64> = (1..=vocabulary)
        .scan(0.0, |sum, rank| {
            *sum += 1.0 / rank as f64;
            Some(*sum)
        })
        .collect();
    let total = *cumulative.last().unwrap();
    let mut state = 42u64;
    let mut text = Vec::with_capacity(words as usize * 7);
    for n in 0..words {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let target = (state >> 11) as f64 / (1u64 << 53) as f64 * total;
        let rank = cumulative
            .partition_point(|&c| c <= target)
            .min(vocabulary - 1);
        text.extend_from_slice(format!("w{rank}").as_bytes());
        text.push(if n % 10 == 9 { b'\n' } else { b' ' });
    }
    text
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

/// A tuned baseline, the acceptance scripts' own ([`hash_map::count`]). Still one thread and a
/// plain hash map.
fn tuned_count(port: u16) -> (Duration, u64) {
    let start = Instant::now();
    let (counts, words) = hash_map::count(TcpStream::connect(("127.0.0.1", port)).unwrap());
    std::hint::black_box(&counts);
    (start.elapsed(), words)
}

struct NetwcRun {
    elapsed: Duration,
    peak_rss_kib: u64,
    words: u64,
}

/// Serves `text` (cycled) at `words_per_sec` in 10 ms bursts (10 words a line) to the first
/// client for `seconds`, then closes. With `markers`, each burst ends with a line `mk<i>`,
/// whose send time goes into the returned list.
fn serve_steady(
    text: Arc<Vec<u8>>,
    words_per_sec: u64,
    seconds: u64,
    markers: bool,
) -> (u16, Arc<Mutex<Vec<Instant>>>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let lines_per_tick = (words_per_sec / 10 / 100).max(1) as usize;
        let mut lines = text.split_inclusive(|&b| b == b'\n').cycle();
        let start = Instant::now();
        let mut next_tick = start;
        let mut tick = 0;
        while start.elapsed() < Duration::from_secs(seconds) {
            let mut burst = Vec::new();
            for line in lines.by_ref().take(lines_per_tick) {
                burst.extend_from_slice(line);
            }
            if markers {
                burst.extend_from_slice(format!("mk{tick}\n").as_bytes());
            }
            if stream.write_all(&burst).is_err() {
                return;
            }
            if markers {
                log.lock().unwrap().push(Instant::now());
            }
            tick += 1;
            next_tick += Duration::from_millis(10);
            if let Some(wait) = next_tick.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    });
    (port, sent, handle)
}

/// Reads `reader` line by line and notes when each marker `mk<i>` (as a TSV row's word, or a
/// line of its own) was read.
fn note_markers(reader: impl Read) -> Vec<(usize, Instant)> {
    let mut seen = Vec::new();
    for line in BufReader::with_capacity(1 << 16, reader).lines() {
        let Ok(line) = line else { break };
        let word = line.split('\t').nth(1).unwrap_or(&line);
        if let Some(i) = word.strip_prefix("mk").and_then(|i| i.parse().ok()) {
            seen.push((i, Instant::now()));
        }
    }
    seen
}

/// Latencies in ms of the markers `seen`, against their send times.
fn marker_latencies(sent: &[Instant], seen: &[(usize, Instant)]) -> Vec<f64> {
    seen.iter()
        .filter_map(|&(i, at)| {
            sent.get(i)
                .map(|s| at.duration_since(*s).as_secs_f64() * 1e3)
        })
        .collect()
}

/// netwc with `--batch 1ms` and `-w workers` behind a marked steady stream: end-to-end
/// latencies and the `--stats` report delays.
fn netwc_latency(
    text: Arc<Vec<u8>>,
    words_per_sec: u64,
    workers: &str,
    seconds: u64,
    extra: &[&str],
) -> (Vec<f64>, Vec<(f64, bool)>) {
    let (port, sent, server) = serve_steady(text, words_per_sec, seconds, true);
    let mut child = Command::new(netwc_bin())
        .args(["127.0.0.1", &port.to_string(), "--batch", "1ms", "--stats"])
        .args(["-w", workers])
        .args(["--format", "tsv", "--top", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netwc runs");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let markers = std::thread::spawn(move || note_markers(stdout));
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    child.wait().unwrap();
    server.join().unwrap();
    let seen = markers.join().unwrap();
    // Each batch's report delay, and whether it carried words (nine in ten 1 ms batches are
    // empty here: a percentile over all of them hides what the batches with words wait).
    let delays = log
        .join()
        .unwrap()
        .lines()
        .filter(|l| l.contains("batch time="))
        .filter_map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|f| f.strip_prefix(name))
                    .and_then(|v| v.parse::<f64>().ok())
            };
            Some((field("delay_ms=")?, field("words=")? > 0.0))
        })
        .collect();
    let latencies = marker_latencies(&sent.lock().unwrap(), &seen);
    (latencies, delays)
}

/// The floor: a client that reads the socket and notes each marker line at once.
fn pass_through_latency(text: Arc<Vec<u8>>, words_per_sec: u64, seconds: u64) -> Vec<f64> {
    let (port, sent, server) = serve_steady(text, words_per_sec, seconds, true);
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let seen = note_markers(stream);
    server.join().unwrap();
    let sent = sent.lock().unwrap();
    marker_latencies(&sent, &seen)
}

/// The binary under test.
fn netwc_bin() -> String {
    std::env::var("NETWC_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netwc").to_string())
}

/// How many processes and workers per process a run has: `N` (`-w N`) or `PxW` (`-n P -w W`).
fn cluster_shape(workers: &str) -> (usize, &str) {
    match workers.split_once('x') {
        Some((processes, per_process)) => (processes.parse().expect("PxW"), per_process),
        None => (1, workers),
    }
}

/// Runs netwc (as one process, or as a cluster of processes on loopback) against the server
/// on `port` until end of input: how long it took, process 0's peak RSS, the words it counted.
fn netwc_run(port: u16, mode: &[&str], workers: &str, extra: &[&str]) -> NetwcRun {
    let (processes, per_process) = cluster_shape(workers);
    let hostfile = std::env::temp_dir().join(format!("netwc-bench-hosts-{}", std::process::id()));
    if processes > 1 {
        // Free ports, all held until the hostfile is written, so that no two are the same.
        let free: Vec<TcpListener> = (0..processes)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let hosts: String = free
            .iter()
            .map(|port| format!("127.0.0.1:{}\n", port.local_addr().unwrap().port()))
            .collect();
        std::fs::write(&hostfile, hosts).unwrap();
    }
    let start = Instant::now();
    let mut children: Vec<_> = (0..processes)
        .map(|process| {
            let mut command = Command::new(netwc_bin());
            command
                .args(["127.0.0.1", &port.to_string(), "-w", per_process, "--stats"])
                .args(extra)
                .args(mode)
                .stdout(Stdio::null())
                .stderr(if process == 0 {
                    Stdio::piped()
                } else {
                    Stdio::null()
                });
            if processes > 1 {
                command
                    .args(["-n", &processes.to_string(), "-p", &process.to_string()])
                    .arg("--hostfile")
                    .arg(&hostfile);
            }
            command.spawn().expect("netwc runs")
        })
        .collect();
    let pid = children[0].id();
    let mut stderr = children[0].stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    // VmHWM is the peak resident set; the last value read before exit is the run's peak.
    let mut peak_rss_kib = 0;
    while children[0].try_wait().unwrap().is_none() {
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
    for child in &mut children {
        child.wait().unwrap();
    }
    let elapsed = start.elapsed();
    let _ = std::fs::remove_file(&hostfile);
    let log = log.join().unwrap();
    let field = |line: &str, key: &str| -> Option<f64> {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(key))
            .and_then(|v| v.parse().ok())
    };
    let words = log
        .lines()
        .filter(|l| l.contains("batch time="))
        .filter_map(|l| field(l, "words="))
        .sum::<f64>() as u64;
    NetwcRun {
        elapsed,
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

/// One netwc configuration: its name, mode flags, workers (`N` or `PxW`), batch, other flags.
type Config<'a> = (&'a str, &'a [&'a str], String, String, &'a [&'a str]);

/// A comma-separated list from the environment, or `default`.
fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect()
}

fn best(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: do nothing there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let words: u64 = env_or("NETWC_BENCH_WORDS", 20_000_000);
    let vocabulary: usize = env_or("NETWC_BENCH_VOCAB", 50_000);
    let runs: usize = env_or("NETWC_BENCH_RUNS", 3);
    let text = Arc::new(zipf_text(words, vocabulary));
    if let Ok(path) = std::env::var("NETWC_BENCH_DUMP") {
        // The stream as a file, to time or profile netwc on it by hand.
        std::fs::write(&path, text.as_slice()).unwrap();
        eprintln!("end_to_end: wrote the stream to {path}");
        return;
    }
    eprintln!(
        "end_to_end: {} MB, {words} words of Zipf text ({vocabulary}-word vocabulary), {runs} rounds, {} cores, {}",
        text.len() >> 20,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        netwc_bin()
    );
    let modes: [(&str, &[&str]); 2] = [
        ("batch", &["--mode", "batch"]),
        ("window 1s", &["--mode", "window", "--window", "1s"]),
    ];
    let only_modes = env_list("NETWC_BENCH_MODES", "batch,window");
    let mut configs: Vec<Config> = Vec::new();
    for (name, mode) in modes {
        if !only_modes
            .iter()
            .any(|only| name.starts_with(only.as_str()))
        {
            continue;
        }
        for workers in env_list("NETWC_BENCH_WORKERS", "1,2") {
            for batch in env_list("NETWC_BENCH_BATCHES", "10ms,100ms,1s") {
                configs.push((name, mode, workers.clone(), batch, &[]));
            }
        }
    }
    // What the live view costs: its metrics and recent batches are kept as the job runs.
    if std::env::var("NETWC_BENCH_UI").map_or(true, |ui| ui != "0") {
        configs.push((
            "batch --ui",
            modes[0].1,
            "1".into(),
            "100ms".into(),
            &["--ui", "0"],
        ));
    }
    // `NETWC_BENCH_ONLY=latency` runs the latency measurement alone.
    let only_latency = std::env::var("NETWC_BENCH_ONLY").is_ok_and(|only| only == "latency");
    let rounds = if only_latency { 0 } else { runs };
    let mut naive_rates = Vec::new();
    let mut tuned_rates = Vec::new();
    let mut rates = vec![Vec::new(); configs.len()];
    let mut rss = vec![Vec::new(); configs.len()];
    // Every configuration once per round, beside the baselines: all see the same machine.
    for round in 0..rounds {
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
        for (i, (name, mode, workers, batch, extra)) in configs.iter().enumerate() {
            let (port, server) = serve(text.clone());
            let args: Vec<&str> = ["--batch", batch.as_str()]
                .iter()
                .chain(extra.iter())
                .copied()
                .collect();
            let run = netwc_run(port, mode, workers, &args);
            server.join().unwrap();
            if name.starts_with("batch") {
                assert_eq!(run.words, words, "netwc counted every word");
            }
            rates[i].push(words as f64 / run.elapsed.as_secs_f64());
            rss[i].push(run.peak_rss_kib as f64 / 1024.0);
        }
        eprintln!("end_to_end: round {} of {runs} done", round + 1);
    }
    if !only_latency {
        let (naive_best, tuned_best) = (best(&naive_rates), best(&tuned_rates));
        println!("| run | --batch | words/s best (median) | best ÷ naive best | best ÷ tuned best | peak RSS MiB |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| naive HashMap, 1 thread | – | {:.2}M ({:.2}M) | 1.00 | {:.2} | – |",
            naive_best / 1e6,
            median(&mut naive_rates) / 1e6,
            naive_best / tuned_best
        );
        println!(
            "| tuned HashMap, 1 thread | – | {:.2}M ({:.2}M) | {:.2} | 1.00 | – |",
            tuned_best / 1e6,
            median(&mut tuned_rates) / 1e6,
            tuned_best / naive_best
        );
        for (i, (name, _, workers, batch, _)) in configs.iter().enumerate() {
            let top = best(&rates[i]);
            let (processes, per_process) = cluster_shape(workers);
            let shape = if processes > 1 {
                format!("-n {processes} -w {per_process}")
            } else {
                format!("-w {per_process}")
            };
            println!(
                "| netwc {name} {shape} | {batch} | {:.2}M ({:.2}M) | {:.2} | {:.2} | {:.0} |",
                top / 1e6,
                median(&mut rates[i]) / 1e6,
                top / naive_best,
                top / tuned_best,
                median(&mut rss[i])
            );
        }
    }
    if std::env::var("NETWC_BENCH_ONLY").is_ok_and(|only| only == "throughput") {
        return;
    }
    // Millisecond batches with the input well below capacity: how soon is a word out?
    let seconds: u64 = env_or("NETWC_BENCH_LATENCY_SECS", 5);
    for config in env_list("NETWC_BENCH_LATENCY", "500000x1,2000000x2") {
        let (rate, workers) = config
            .split_once('x')
            .expect("NETWC_BENCH_LATENCY is a list of WORDSxWORKERS");
        let rate: u64 = rate.parse().expect("words a second");
        latency(text.clone(), rate, workers, seconds);
    }
}

/// The latency measurement at `rate` words a second and `-w workers`, printed.
fn latency(text: Arc<Vec<u8>>, rate: u64, workers: &str, seconds: u64) {
    let (mut latencies, batches) = netwc_latency(text.clone(), rate, workers, seconds, &[]);
    let mut delays: Vec<f64> = batches.iter().map(|&(delay, _)| delay).collect();
    let mut with_words: Vec<f64> = batches
        .iter()
        .filter(|&&(_, words)| words)
        .map(|&(delay, _)| delay)
        .collect();
    let ui = std::env::var("NETWC_BENCH_UI").map_or(true, |ui| ui != "0");
    let with_ui = if ui {
        let (mut with_ui, _) = netwc_latency(text.clone(), rate, workers, seconds, &["--ui", "0"]);
        format!(
            "p50 {:.2} ms, p99 {:.2} ms",
            percentile(&mut with_ui, 0.5),
            percentile(&mut with_ui, 0.99)
        )
    } else {
        "left out (NETWC_BENCH_UI=0)".to_string()
    };
    let mut floor = pass_through_latency(text.clone(), rate, seconds);
    println!(
        "\n--batch 1ms at {} words/s in 10 ms bursts, -w {workers}, batch mode, {seconds} s:\n\
         - end to end (marker sent → its row read from stdout): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} markers\n\
         - the same with --ui: {with_ui}\n\
         - a pass-through client, measured the same way: p50 {:.2} ms, p99 {:.2} ms\n\
         - report delay (--stats delay_ms, a batch's end → its report), batches that carried words: p50 {:.2} ms, p99 {:.2} ms over {} batches\n\
         - the same over all batches, empty ones too: p50 {:.2} ms, p99 {:.2} ms over {} batches",
        thousands(rate),
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
        percentile(&mut latencies, 1.0),
        latencies.len(),
        percentile(&mut floor, 0.5),
        percentile(&mut floor, 0.99),
        percentile(&mut with_words, 0.5),
        percentile(&mut with_words, 0.99),
        with_words.len(),
        percentile(&mut delays, 0.5),
        percentile(&mut delays, 0.99),
        delays.len()
    );
}

/// `n` with a comma between thousands: 2,000,000.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

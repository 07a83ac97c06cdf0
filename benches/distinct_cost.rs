//! CPU time per distinct word per batch: the work a batch does for each distinct word in it
//! (counting it, retracting it, reporting it), apart from the work every word costs.
//!
//! Run with `cargo bench --bench distinct_cost`. It writes a corpus to a temporary file:
//! `NETWC_DISTINCT_LINES` lines (default 2,000,000), cycling a seeded pool of 1,000,000 lines of
//! 1 to 19 words each (uniform, 10 on average, about 20 M words in all) drawn from a Zipf(1)
//! distribution over a 50,000-word vocabulary of random lowercase words (the frequent ones
//! shorter: 2 to 11 letters, 6.8 a word on average). netwc counts that file (`--file`,
//! `--stats --format tsv -o /dev/null`) twice in each round: once as one batch (`--batch 1h`),
//! once cut into batches of `NETWC_DISTINCT_BATCH_LINES` lines (default 20,000: 100 batches of
//! about 29,000 distinct words each). The per-word work is the same in both runs; the second
//! adds the work each batch does per distinct word, so
//!
//! ```text
//! ns per distinct word per batch = (CPU of the many-batch run - CPU of the one-batch run)
//!                                  / (sum over the many batches of their distinct words)
//! ```
//!
//! with each batch's distinct words read from its `--stats` line (`distinct=`; in window mode
//! that is the window's distinct words). CPU time is user + system time of all of netwc's
//! threads, not wall time (the machine is shared): the growth of this process's `cutime` and
//! `cstime` in `/proc/self/stat` (what `getrusage(RUSAGE_CHILDREN)` reports) across each run,
//! which netwc is the only child of. Those are counted in clock ticks (10 ms), so the CPU time
//! of a run is known to within about 20 ms. Rounds alternate the two runs
//! (`NETWC_DISTINCT_ROUNDS`, default 3); the table shows each round and then the best (the
//! least CPU of the many-batch runs minus the least of the one-batch runs) and the median of the
//! rounds' figures.
//!
//! `NETWC_DISTINCT_WORKERS` (default 1) is netwc's `-w`; `NETWC_DISTINCT_MODE` (`batch`, the
//! default, `window` or `incremental`) its `--mode`, with `--window NETWC_DISTINCT_WINDOW`
//! (default 5) in window mode, given to both runs. `NETWC_DISTINCT_CORPUS=PATH` counts that
//! file instead of the generated corpus. `NETWC_BIN` runs another netwc binary.

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// A small seeded generator (splitmix64): the corpus is the same in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `size` distinct random lowercase words, the word of rank `r` (from 0) being
/// `2 + min(6, r^¼)` to 3 letters longer: frequent words are shorter, as in natural language.
fn vocabulary(size: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut seen = HashSet::with_capacity(size);
    let mut words = Vec::with_capacity(size);
    for rank in 0..size {
        let base = 2 + ((rank as f64).powf(0.25) as u64).min(6);
        loop {
            let length = base + rng.below(4);
            let word: Vec<u8> = (0..length).map(|_| b'a' + rng.below(26) as u8).collect();
            if seen.insert(word.clone()) {
                words.push(word);
                break;
            }
        }
    }
    words
}

/// Writes the corpus to `path`: `lines` lines cycling a pool of `pool` lines, each of 1 to
/// 19 Zipf-distributed words over a `vocabulary_size`-word vocabulary.
fn write_corpus(path: &Path, lines: u64, pool: u64, vocabulary_size: usize) {
    let mut rng = Rng(42);
    let words = vocabulary(vocabulary_size, &mut rng);
    let cumulative: Vec<f64> = (1..=vocabulary_size)
        .scan(0.0, |sum, rank| {
            *sum += 1.0 / rank as f64;
            Some(*sum)
        })
        .collect();
    let total = *cumulative.last().unwrap();
    let mut text = Vec::new();
    for _ in 0..pool.min(lines) {
        let length = 1 + rng.below(19);
        for i in 0..length {
            let target = rng.unit() * total;
            let rank = cumulative
                .partition_point(|&c| c <= target)
                .min(vocabulary_size - 1);
            if i > 0 {
                text.push(b' ');
            }
            text.extend_from_slice(&words[rank]);
        }
        text.push(b'\n');
    }
    let pool_lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for line in pool_lines.iter().cycle().take(lines as usize) {
        out.write_all(line).unwrap();
    }
    out.flush().unwrap();
}

/// This process's waited-for children's user + system time so far, in clock ticks: fields 16
/// and 17 (`cutime`, `cstime`) of `/proc/self/stat`.
fn children_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name (field 2) may hold spaces; the fields after it start with field 3.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> u64 { fields[n - 3].parse().expect("a number of ticks") };
    field(16) + field(17)
}

/// Clock ticks a second (`AT_CLKTCK` in the auxiliary vector, what `sysconf(_SC_CLK_TCK)`
/// returns); 100 if it cannot be read.
fn clock_ticks_per_second() -> u64 {
    const AT_CLKTCK: u64 = 17;
    let Ok(auxv) = std::fs::read("/proc/self/auxv") else {
        return 100;
    };
    let words: Vec<u64> = auxv
        .chunks_exact(8)
        .map(|w| u64::from_ne_bytes(w.try_into().unwrap()))
        .collect();
    words
        .chunks_exact(2)
        .find(|pair| pair[0] == AT_CLKTCK)
        .map_or(100, |pair| pair[1])
}

/// One run of netwc over the corpus.
struct Run {
    /// User + system CPU time of all its threads, in seconds.
    cpu: f64,
    /// The sum over its batches of their distinct words (from `--stats`).
    distinct: u64,
    /// The sum over its batches of their words.
    words: u64,
    batches: u64,
}

fn netwc_bin() -> String {
    std::env::var("NETWC_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netwc").to_string())
}

fn run(corpus: &Path, batching: &[&str], extra: &[String], ticks_per_second: u64) -> Run {
    let before = children_cpu_ticks();
    let output = Command::new(netwc_bin())
        .args(batching)
        .args(extra)
        .args(["--stats", "--format", "tsv", "-o", "/dev/null", "--file"])
        .arg(corpus)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("netwc runs");
    let after = children_cpu_ticks();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "netwc {batching:?} {extra:?} failed ({}): {}",
        output.status,
        log.trim()
    );
    let (mut distinct, mut words, mut batches) = (0, 0, 0);
    for line in log.lines().filter(|l| l.contains("batch time=")) {
        let field = |name: &str| -> u64 {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        distinct += field("distinct=");
        words += field("words=");
        batches += 1;
    }
    Run {
        cpu: after.saturating_sub(before) as f64 / ticks_per_second as f64,
        distinct,
        words,
        batches,
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: do nothing there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let lines: u64 = env_or("NETWC_DISTINCT_LINES", 2_000_000);
    let batch_lines: u64 = env_or("NETWC_DISTINCT_BATCH_LINES", 20_000);
    let rounds: usize = env_or("NETWC_DISTINCT_ROUNDS", 3).max(1);
    let workers: String = env_or("NETWC_DISTINCT_WORKERS", "1".to_string());
    let mode: String = env_or("NETWC_DISTINCT_MODE", "batch".to_string());
    let window: String = env_or("NETWC_DISTINCT_WINDOW", "5".to_string());
    let mut extra = vec![
        "-w".to_string(),
        workers,
        "--mode".to_string(),
        mode.clone(),
    ];
    if mode == "window" {
        extra.extend(["--window".to_string(), window]);
    }

    let generated = tempfile::Builder::new()
        .prefix("netwc-distinct-cost-")
        .suffix(".txt")
        .tempfile()
        .unwrap();
    let corpus = match std::env::var("NETWC_DISTINCT_CORPUS") {
        Ok(path) => Path::new(&path).to_path_buf(),
        Err(_) => {
            write_corpus(generated.path(), lines, 1_000_000, 50_000);
            generated.path().to_path_buf()
        }
    };
    let ticks_per_second = clock_ticks_per_second();
    eprintln!(
        "distinct_cost: {} ({} MB), one batch against batches of {batch_lines} lines, netwc {}, {rounds} rounds, {}",
        corpus.display(),
        std::fs::metadata(&corpus).map_or(0, |m| m.len() >> 20),
        extra.join(" "),
        netwc_bin()
    );

    let batch_lines = batch_lines.to_string();
    let mut one = Vec::new();
    let mut many = Vec::new();
    for round in 0..rounds {
        one.push(run(&corpus, &["--batch", "1h"], &extra, ticks_per_second));
        many.push(run(
            &corpus,
            &["--batch-lines", &batch_lines],
            &extra,
            ticks_per_second,
        ));
        assert_eq!(
            one[round].words, many[round].words,
            "both runs counted every word"
        );
        eprintln!("distinct_cost: round {} of {rounds} done", round + 1);
    }

    println!("| round | 1 batch: CPU s | ns a word | {} batches: CPU s | distinct words in all batches | ns per distinct word per batch |", many[0].batches);
    println!("|---|---|---|---|---|---|");
    let mut per_round = Vec::new();
    for (round, (one, many)) in one.iter().zip(&many).enumerate() {
        let ns = (many.cpu - one.cpu) / many.distinct as f64 * 1e9;
        per_round.push(ns);
        println!(
            "| {} | {:.2} | {:.0} | {:.2} | {} | {ns:.0} |",
            round + 1,
            one.cpu,
            one.cpu / one.words as f64 * 1e9,
            many.cpu,
            many.distinct
        );
    }
    let least = |runs: &[Run]| {
        runs.iter()
            .min_by(|a, b| a.cpu.partial_cmp(&b.cpu).unwrap())
            .map(|r| (r.cpu, r.distinct))
            .unwrap()
    };
    let (one_cpu, _) = least(&one);
    let (many_cpu, distinct) = least(&many);
    let best = (many_cpu - one_cpu) / distinct as f64 * 1e9;
    println!(
        "\nns per distinct word per batch, netwc {}: best {best:.0} (least CPU of each kind of run: {many_cpu:.2} s - {one_cpu:.2} s over {distinct} distinct words), median of the rounds {:.0}",
        extra.join(" "),
        median(&mut per_round)
    );
    let tick = 1.0 / ticks_per_second as f64;
    if many_cpu - one_cpu < 50.0 * tick {
        println!(
            "(the difference is under 50 clock ticks of {:.0} ms: too small a corpus for a figure)",
            tick * 1e3
        );
    }
}

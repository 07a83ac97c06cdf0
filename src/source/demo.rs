//! `--demo`: a text server inside netwc, on loopback, that sends Zipf-distributed words at a
//! steady rate, so the whole job (socket, batching, counting, printing) runs with no setup.

use std::io::{BufWriter, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use crate::error::Error;

/// The demo's vocabulary, most frequent first; word k is drawn with weight 1/(k+1).
pub const VOCABULARY: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "stream",
    "batch",
    "word",
    "count",
    "spark",
    "timely",
    "differential",
    "dataflow",
    "epoch",
    "frontier",
    "probe",
    "worker",
    "window",
    "socket",
    "line",
    "rust",
    "exact",
    "fast",
];

/// Lines sent per tick, and ticks per second: 2,000 lines (about 16,000 words) a second.
const LINES_PER_TICK: usize = 20;
const TICK: Duration = Duration::from_millis(10);
const WORDS_PER_LINE: usize = 8;

/// Starts the generator on a free loopback port and returns its address.
pub(crate) fn start() -> Result<SocketAddr, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::runtime(format!("cannot start the demo generator: {e}")))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::runtime(e.to_string()))?;
    std::thread::Builder::new()
        .name("netwc:demo".into())
        .spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                // The generator stops when netwc closes the connection at exit.
                let _ = generate(BufWriter::new(stream));
            }
        })
        .map_err(|e| Error::runtime(format!("cannot start the demo generator: {e}")))?;
    log!(
        "demo generator on {address}: {} lines/s of Zipf-distributed words",
        LINES_PER_TICK as u64 * 1000 / TICK.as_millis() as u64
    );
    Ok(address)
}

fn generate(mut out: impl Write) -> std::io::Result<()> {
    let mut zipf = Zipf::new(VOCABULARY.len(), 0x5EED);
    let mut next_tick = Instant::now();
    loop {
        for _ in 0..LINES_PER_TICK {
            for i in 0..WORDS_PER_LINE {
                if i > 0 {
                    out.write_all(b" ")?;
                }
                out.write_all(VOCABULARY[zipf.sample()].as_bytes())?;
            }
            out.write_all(b"\n")?;
        }
        out.flush()?;
        next_tick += TICK;
        if let Some(wait) = next_tick.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

/// Draws ranks 0..n with probability proportional to 1/(rank+1), from a seeded generator,
/// so the same seed gives the same words.
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<f64>,
    state: u64,
}

impl Zipf {
    /// A sampler over `n` ranks.
    pub fn new(n: usize, seed: u64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n.max(1))
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Zipf {
            cumulative,
            state: seed,
        }
    }

    /// The next rank.
    pub fn sample(&mut self) -> usize {
        // SplitMix64: small, fast and good enough to pick words.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let total = *self.cumulative.last().expect("at least one rank");
        let target = (z >> 11) as f64 / (1u64 << 53) as f64 * total;
        self.cumulative
            .partition_point(|&c| c <= target)
            .min(self.cumulative.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_prefers_low_ranks_and_stays_in_range() {
        let mut zipf = Zipf::new(10, 1);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[zipf.sample()] += 1;
        }
        assert!(seen[0] > seen[1] && seen[1] > seen[4] && seen[4] > seen[9]);
        assert!(seen.iter().all(|&n| n > 0));
    }
}

//! Criterion micro-benchmarks of the per-byte and per-word paths: line framing, splitting and
//! the per-batch combine, the word key, the report table, and the exchange encoding.
//!
//! Run with `cargo bench --bench hot_paths`. Throughput is reported per input byte or word.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use foldhash::fast::RandomState;

use netwc::config::{Emit, SplitRule};
use netwc::parts::{
    Chunk, LineFramer, NameChange, ResultTable, StopWords, Tokenizer, WordId, WordKey,
};

/// A fixed key: the benchmarks need repeatable ids.
const KEY: WordKey = WordKey::fixed();

/// About 1 MB of Zipf-like text over a 10,000-word vocabulary, 10 words a line.
fn text() -> Vec<u8> {
    let mut state = 7u64;
    let mut out = Vec::with_capacity(1 << 20);
    while out.len() < 1 << 20 {
        for i in 0..10 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            // Squaring a uniform number favours low ranks, roughly like Zipf.
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            let rank = (u * u * 10_000.0) as u64;
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(format!("w{rank}").as_bytes());
        }
        out.push(b'\n');
    }
    out
}

fn framing(c: &mut Criterion) {
    let text = text();
    let mut group = c.benchmark_group("framing");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("64KiB reads into whole-line chunks", |b| {
        b.iter(|| {
            let mut framer = LineFramer::new(SplitRule::Whitespace);
            let mut lines = 0;
            for read in text.chunks(64 * 1024) {
                if let Some(framed) = framer.push(read) {
                    lines += framed.lines;
                }
            }
            black_box(lines)
        })
    });
    group.finish();
}

fn splitting(c: &mut Criterion) {
    let chunk = Chunk {
        text: text(),
        ..Chunk::default()
    };
    let words = chunk
        .text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .count();
    let mut group = c.benchmark_group("split and combine");
    group.throughput(Throughput::Elements(words as u64));
    for (name, split) in [
        ("whitespace", SplitRule::Whitespace),
        ("spark", SplitRule::Spark),
    ] {
        let tokenizer = Tokenizer::new(split, false, StopWords::default());
        group.bench_function(name, |b| {
            let mut counts: HashMap<String, isize, RandomState> = HashMap::default();
            b.iter(|| {
                counts.clear();
                tokenizer.for_each_word(&chunk, |word| match counts.get_mut(word) {
                    Some(count) => *count += 1,
                    None => {
                        counts.insert(word.to_owned(), 1);
                    }
                });
                black_box(counts.len())
            })
        });
    }
    group.finish();
}

fn keys_and_reports(c: &mut Criterion) {
    let words: Vec<String> = (0..10_000).map(|i| format!("w{i}")).collect();
    let mut group = c.benchmark_group("per distinct word");
    group.throughput(Throughput::Elements(words.len() as u64));
    group.bench_function("word id (keyed 128-bit SipHash-1-3)", |b| {
        b.iter(|| words.iter().map(|w| KEY.id(w)).collect::<Vec<_>>())
    });
    group.bench_function("apply a batch and report the top 10", |b| {
        b.iter_batched(
            || {
                let names: Vec<(WordId, NameChange)> = words
                    .iter()
                    .map(|w| (KEY.id(w), NameChange::Learn(Arc::from(w.as_str()))))
                    .collect();
                let changes = names.iter().map(|(id, _)| (*id, 3)).collect::<Vec<_>>();
                (names, changes)
            },
            |(names, changes)| {
                let mut table = ResultTable::new(Emit::All, Some(10));
                table.apply(names, changes, None).unwrap();
                black_box(table.report().rows.len());
                table
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// What crosses between processes: a batch's word updates, bincode-encoded by timely.
fn exchange_encoding(c: &mut Criterion) {
    use timely::dataflow::channels::ContainerBytes;
    let updates: Vec<(WordId, u64, isize)> = (0..10_000)
        .map(|i| (KEY.id(&format!("w{i}")), 1_795_611_460, 3))
        .collect();
    let mut group = c.benchmark_group("exchange encoding");
    group.throughput(Throughput::Elements(updates.len() as u64));
    group.bench_function("encode 10,000 word updates", |b| {
        let mut buffer = Vec::with_capacity(updates.length_in_bytes());
        b.iter(|| {
            buffer.clear();
            updates.into_bytes(&mut buffer);
            black_box(buffer.len())
        })
    });
    let mut encoded = Vec::new();
    updates.into_bytes(&mut encoded);
    group.bench_function("decode 10,000 word updates", |b| {
        b.iter_batched(
            || timely::bytes::arc::BytesMut::from(encoded.clone()).freeze(),
            |bytes| black_box(Vec::<(WordId, u64, isize)>::from_bytes(bytes).len()),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    framing,
    splitting,
    keys_and_reports,
    exchange_encoding
);
criterion_main!(benches);

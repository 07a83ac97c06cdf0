//! The dataflow in process, in differential's style: chunks in at known epochs, each epoch's
//! gathered changes out, compared with a plain `HashMap` count of the same batches, for each
//! mode's retraction delay and for one and several workers.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::config::SplitRule;
use crate::tokenize::StopWords;

type Counts = HashMap<String, isize>;

/// Feeds `batches` (one epoch each) into the dataflow on `workers` workers; returns the counts
/// that are live after each epoch, as worker 0's gathered changes say.
fn live_counts(
    workers: usize,
    delay: Option<u64>,
    batches: &'static [&'static str],
) -> Vec<Counts> {
    let config = timely::Config::process(workers);
    let guards = timely::execute(config, move |worker| {
        let tokenizer = Tokenizer::new(SplitRule::Whitespace, false, StopWords::default());
        let progress = Arc::new(ChunkProgress::default());
        let mut wc = build(
            worker,
            tokenizer,
            Retraction::after(delay),
            InputEnd::Whenever,
            progress,
            WordKey::from_seed([9; 16]),
        );
        drop(wc.restore);
        drop(wc.control);
        if worker.index() != 0 {
            drop(wc.input);
            return Vec::new();
        }
        for (epoch, text) in batches.iter().enumerate() {
            wc.input.advance_to(epoch as Epoch);
            wc.input.send(Chunk {
                text: text.as_bytes().to_vec(),
                ..Chunk::default()
            });
        }
        let last = batches.len() as Epoch;
        drop(wc.input);
        while !wc.probe.done() {
            worker.step();
        }
        // Counts by id, named by the names that arrived beside them.
        let mut table: HashMap<WordId, isize> = HashMap::new();
        let mut names: HashMap<WordId, Word> = HashMap::new();
        let mut held: HashMap<WordId, usize> = HashMap::new();
        (0..last)
            .map(|epoch| {
                let result = wc.gathered.borrow_mut().take(epoch);
                for (id, change) in result.names {
                    match change {
                        NameChange::Learn(name) => {
                            assert_eq!(*names.entry(id).or_insert(name.clone()), name);
                            *held.entry(id).or_default() += 1;
                        }
                        NameChange::Forget => *held.get_mut(&id).unwrap() -= 1,
                    }
                }
                for (id, change) in result.changes {
                    *table.entry(id).or_default() += change;
                }
                table.retain(|_, count| *count != 0);
                table
                    .iter()
                    .map(|(id, &count)| (names[id].to_string(), count))
                    .collect()
            })
            .collect()
    })
    .unwrap();
    guards
        .join()
        .into_iter()
        .map(|result| result.unwrap())
        .find(|counts| !counts.is_empty())
        .unwrap_or_default()
}

/// The oracle: each epoch's words counted over the batches still live at it.
fn expected(delay: Option<u64>, batches: &[&str]) -> Vec<Counts> {
    (0..batches.len())
        .map(|epoch| {
            let first = delay.map_or(0, |d| (epoch + 1).saturating_sub(d as usize));
            let mut counts = Counts::new();
            for text in &batches[first..=epoch] {
                for word in text.split_whitespace() {
                    *counts.entry(word.to_string()).or_default() += 1;
                }
            }
            counts
        })
        .collect()
}

const BATCHES: &[&str] = &["a b a\nc\n", "b b\n", "", "a d\nd d\ne\n", "c a\n"];

#[test]
fn each_mode_is_its_retraction_delay_at_one_and_three_workers() {
    for delay in [Some(1), Some(2), Some(3), None] {
        for workers in [1, 3] {
            assert_eq!(
                live_counts(workers, delay, BATCHES),
                expected(delay, BATCHES),
                "delay {delay:?}, {workers} workers"
            );
        }
    }
}

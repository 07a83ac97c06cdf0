//! Words counted by id: a worker's dictionary forgets words it has not seen lately, so a word
//! that leaves and comes back must get the same id and be counted as before, on any number of
//! workers; and memory stays flat under a stream of ever-new words.

use std::process::Stdio;

use crate::util::*;

/// `count` distinct words with `prefix`, ten a line.
fn fresh(prefix: &str, count: usize) -> String {
    (0..count)
        .map(|i| {
            let end = if i % 10 == 9 { "\n" } else { " " };
            format!("{prefix}{i}{end}")
        })
        .collect()
}

#[test]
fn words_that_leave_and_come_back_are_counted_right() {
    // Batches of 500 lines: 5,000 distinct words each, more than a dictionary keeps before it
    // sweeps; the first batch's words come back after two batches of others.
    let text = [
        fresh("a", 5_000),
        fresh("b", 5_000),
        fresh("c", 5_000),
        fresh("a", 5_000),
        "a0 a0 b1\n".repeat(500),
    ]
    .concat();
    let dir = TempDir::new("ids-come-back");
    let file = dir.write("in.txt", text.as_bytes());
    let batches = oracle_batches(&text, 500);
    let per_batch: Vec<(u64, Vec<(String, i64)>)> = batches
        .iter()
        .enumerate()
        .map(|(k, counts)| (k as u64 + 1, sorted_rows(counts)))
        .collect();
    let mut total = Counts::new();
    let running: Vec<(u64, Vec<(String, i64)>)> = batches
        .iter()
        .enumerate()
        .map(|(k, counts)| {
            for (word, count) in counts {
                *total.entry(word.clone()).or_default() += count;
            }
            (k as u64 + 1, sorted_rows(&total))
        })
        .collect();
    for workers in ["1", "2", "3"] {
        let run_mode = |mode: &[&str]| {
            stdout_of(&run(netwc()
                .arg("--file")
                .arg(&file)
                .args(["--batch-lines", "500", "--format", "tsv", "-w", workers])
                .args(mode)))
        };
        assert_eq!(
            run_mode(&[]),
            expected_tsv(&per_batch),
            "batch -w {workers}"
        );
        assert_eq!(
            run_mode(&["--mode", "incremental", "--emit", "all"]),
            expected_tsv(&running),
            "incremental -w {workers}"
        );
    }
}

#[test]
fn memory_stays_flat_under_ever_new_words() {
    // Batch mode forgets each batch; so does every worker's dictionary. After a million fresh
    // words memory has levelled off (measured: about 94 MiB in a debug build at one, two and
    // six million); twice as many may not take much more at its peak.
    let dir = TempDir::new("ids-flat");
    let peak = |words: usize| {
        let file = dir.write(&format!("fresh-{words}.txt"), fresh("f", words).as_bytes());
        let mut child = netwc()
            .arg("--file")
            .arg(&file)
            .args(["--batch-lines", "2000", "--format", "tsv", "--top", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_with_peak_rss(&mut child)
    };
    let small = peak(1_000_000);
    let large = peak(2_000_000);
    assert!(
        large * 10 < small * 13,
        "peak RSS {large} KiB for 2,000,000 fresh words against {small} KiB for 1,000,000"
    );
}

//! The one-thread hash-map count netwc is measured against, as the acceptance scripts count:
//! lines read through a 1 MiB buffer, each split on `b' '` (as Spark's `NetworkWordCount`
//! splits it), words counted in a `HashMap<Vec<u8>, u64>` with a fast hasher (foldhash here,
//! ahash there; both far faster than std's SipHash).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

/// Each word's count.
pub type Counts = HashMap<Vec<u8>, u64, foldhash::fast::RandomState>;

/// Counts the words of `input` to its end: the counts, and how many words there were.
pub fn count(input: impl Read) -> (Counts, u64) {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut counts = Counts::default();
    let mut line = Vec::new();
    let mut words = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).unwrap() == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        for word in line.split(|&b| b == b' ') {
            words += 1;
            match counts.get_mut(word) {
                Some(count) => *count += 1,
                None => {
                    counts.insert(word.to_vec(), 1);
                }
            }
        }
    }
    (counts, words)
}

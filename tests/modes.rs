//! Running totals and sliding windows against a naive recomputation, batch by batch, with
//! `--batch-lines`, at 1, 2 and 3 workers: totals so far, sums over the last W batches, and the
//! changed-words view (words that drop out print 0).

use crate::util::*;

/// What each report must hold: the state after batch k is `state(k)`; reports are made after
/// batches where (k+1) is a multiple of `slide`, and after the last batch.
fn expected_reports(
    batches: &[Counts],
    state: impl Fn(usize) -> Counts,
    slide: usize,
    changes_only: bool,
) -> Vec<(u64, Vec<(String, i64)>)> {
    let mut reports = Vec::new();
    let mut previous = Counts::new();
    for k in 0..batches.len() {
        if (k + 1) % slide != 0 && k + 1 != batches.len() {
            continue;
        }
        let now = state(k);
        let rows = if changes_only {
            let mut changed = Counts::new();
            for word in now.keys().chain(previous.keys()) {
                let (before, after) = (
                    previous.get(word).copied().unwrap_or(0),
                    now.get(word).copied().unwrap_or(0),
                );
                if before != after {
                    changed.insert(word.clone(), after);
                }
            }
            sorted_rows(&changed)
        } else {
            sorted_rows(&now)
        };
        reports.push((k as u64 + 1, rows));
        previous = now;
    }
    reports
}

fn sum(batches: &[Counts]) -> Counts {
    let mut total = Counts::new();
    for batch in batches {
        for (word, count) in batch {
            *total.entry(word.clone()).or_default() += count;
        }
    }
    total
}

fn check(name: &str, text: &str, per_batch: usize, flags: &[&str], expected: &str) {
    let dir = TempDir::new(name);
    let file = dir.write("input.txt", text.as_bytes());
    for workers in ["1", "2", "3"] {
        let output = Netwc::new()
            .arg("--file")
            .arg(&file)
            .args([
                "--batch-lines",
                &per_batch.to_string(),
                "--format",
                "tsv",
                "-w",
                workers,
            ])
            .args(flags)
            .output();
        let actual = stdout_of(&output);
        assert!(
            actual == expected,
            "{name} {flags:?} at -w {workers} differs\n--- output:\n{}\n--- expected:\n{}",
            actual.lines().take(15).collect::<Vec<_>>().join("\n"),
            expected.lines().take(15).collect::<Vec<_>>().join("\n")
        );
    }
}

/// Text whose vocabulary drifts, so that words enter and leave windows.
fn drifting_text() -> String {
    let mut text = String::new();
    for part in 0..6u64 {
        text.push_str(&zipf_text(part, 40, 6, 30).replace('w', &format!("p{}w", part % 3)));
    }
    text
}

#[test]
fn incremental_totals_and_their_changes() {
    let text = drifting_text();
    let batches = oracle_batches(&text, 25);
    let totals = |k: usize| sum(&batches[..=k]);
    let all = expected_tsv(&expected_reports(&batches, totals, 1, false));
    check(
        "incremental-all",
        &text,
        25,
        &["--mode", "incremental", "--emit", "all"],
        &all,
    );
    let changes = expected_tsv(&expected_reports(&batches, totals, 1, true));
    check(
        "incremental-changes",
        &text,
        25,
        &["--mode", "incremental"],
        &changes,
    );
}

#[test]
fn sliding_windows_every_batch_and_every_other() {
    let text = drifting_text();
    let batches = oracle_batches(&text, 20);
    let batches = &batches;
    let window_of =
        |length: usize| move |k: usize| sum(&batches[(k + 1).saturating_sub(length)..=k]);
    let every = expected_tsv(&expected_reports(batches, window_of(3), 1, false));
    check(
        "window-1",
        &text,
        20,
        &["--mode", "window", "--window", "3"],
        &every,
    );
    // 12 batches with slide 5: reports after batches 5 and 10, and the last (12) at the end.
    let other = expected_tsv(&expected_reports(batches, window_of(6), 5, false));
    check(
        "window-5",
        &text,
        20,
        &["--mode", "window", "--window", "6", "--slide", "5"],
        &other,
    );
    let changes = expected_tsv(&expected_reports(batches, window_of(3), 2, true));
    check(
        "window-changes",
        &text,
        20,
        &[
            "--mode", "window", "--window", "3", "--slide", "2", "--emit", "changes",
        ],
        &changes,
    );
}

#[test]
fn batch_mode_changes_show_words_that_left() {
    let text = "a a b\nb c\nc\n";
    let expected = "time\tword\tcount\n1\ta\t2\n1\tb\t1\n2\tc\t1\n2\ta\t0\n3\tb\t0\n";
    check("batch-changes", text, 1, &["--emit", "changes"], expected);
}

#[test]
fn window_with_top_n_in_spark_format() {
    let text = "a\na b\na b c\n";
    let dir = TempDir::new("window-top");
    let file = dir.write("input.txt", text.as_bytes());
    let output = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args([
            "--batch-lines",
            "1",
            "--mode",
            "window",
            "--window",
            "2",
            "--top",
            "2",
        ])
        .output();
    let block = |time: u64, rows: &str, more: bool| {
        format!(
            "-------------------------------------------\nTime: {time} ms\n-------------------------------------------\n{rows}{}\n",
            if more { "...\n" } else { "" }
        )
    };
    let expected = [
        block(1, "(a,1)\n", false),
        block(2, "(a,2)\n(b,1)\n", false),
        block(3, "(a,2)\n(b,2)\n", true),
    ]
    .concat();
    assert_eq!(stdout_of(&output), expected);
}

#[test]
fn empty_batches_in_windows_and_totals() {
    // Batches 2, 3 and 5 are empty: the window still reports them, and words leave it.
    let text = "a a\n\n\nb\n\n";
    let batches = oracle_batches(text, 1);
    assert_eq!(batches.len(), 5);
    let window = |k: usize| sum(&batches[(k + 1).saturating_sub(2)..=k]);
    let all = expected_tsv(&expected_reports(&batches, window, 1, false));
    check(
        "empty-window",
        text,
        1,
        &["--mode", "window", "--window", "2"],
        &all,
    );
    let changes = expected_tsv(&expected_reports(&batches, window, 1, true));
    check(
        "empty-window-changes",
        text,
        1,
        &["--mode", "window", "--window", "2", "--emit", "changes"],
        &changes,
    );
    let totals = |k: usize| sum(&batches[..=k]);
    let running = expected_tsv(&expected_reports(&batches, totals, 1, true));
    check(
        "empty-incremental",
        text,
        1,
        &["--mode", "incremental"],
        &running,
    );
}

#[test]
fn the_last_window_is_printed_when_the_input_ends_after_its_batch_was_counted() {
    // Batches of 2 lines, a window of 3 reported every 2: batch 3's window is not due by the
    // slide, but the input ends with it. The end comes well after batch 3 was counted (stdin
    // stays open a while), and its window must still be printed.
    let mut child = Netwc::new()
        .args([
            "--stdin",
            "--batch-lines",
            "2",
            "--format",
            "tsv",
            "--stats",
        ])
        .args(["--mode", "window", "--window", "3", "--slide", "2"])
        .stdin_piped()
        .spawn();
    let lines = child.stderr_lines();
    let mut stdin = child.stdin();
    std::io::Write::write_all(&mut stdin, b"a\nb\na\nc\nd\na\n").unwrap();
    wait_for(&lines, "batch time=3 ", 1);
    drop(stdin);
    let output = child.output_within(RUN_LIMIT);
    assert!(output.status.success());
    let expected = "time\tword\tcount\n2\ta\t2\n2\tb\t1\n2\tc\t1\n\
                    3\ta\t3\n3\tb\t1\n3\tc\t1\n3\td\t1\n";
    assert_eq!(stdout_of(&output), expected);
}

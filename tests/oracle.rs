//! Per-batch counts against the oracle, batch by batch, with `--batch-lines`: the output must be
//! byte-identical to what the oracle predicts, at 1, 2 and 3 workers.

use crate::util::*;

/// (batch name, rows) for each batch of the oracle.
fn oracle_reports(text: &str, per_batch: usize) -> Vec<(u64, Vec<(String, i64)>)> {
    oracle_batches(text, per_batch)
        .iter()
        .enumerate()
        .map(|(k, counts)| (k as u64 + 1, sorted_rows(counts)))
        .collect()
}

fn check_tsv(name: &str, text: &str, per_batch: usize) {
    let dir = TempDir::new(name);
    let file = dir.write("input.txt", text.as_bytes());
    let expected = expected_tsv(&oracle_reports(text, per_batch));
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
            .output();
        let actual = stdout_of(&output);
        assert!(
            actual == expected,
            "{name} at -w {workers}: output differs from the oracle\n--- first lines of output:\n{}\n--- expected:\n{}",
            actual.lines().take(12).collect::<Vec<_>>().join("\n"),
            expected.lines().take(12).collect::<Vec<_>>().join("\n"),
        );
    }
}

#[test]
fn random_text_matches_the_oracle_batch_by_batch() {
    for seed in 1..=3 {
        check_tsv(&format!("random{seed}"), &random_text(seed, 1_500), 37);
    }
}

#[test]
fn zipf_text_matches_the_oracle_batch_by_batch() {
    check_tsv("zipf", &zipf_text(7, 4_000, 12, 2_000), 250);
}

#[test]
fn one_line_batches_and_one_huge_batch() {
    let text = random_text(11, 300);
    check_tsv("one-line", &text, 1);
    check_tsv("huge", &text, 1_000_000);
}

#[test]
fn spark_format_prints_the_top_ten_of_each_batch() {
    let text = zipf_text(3, 600, 10, 300);
    let dir = TempDir::new("spark-top");
    let file = dir.write("input.txt", text.as_bytes());
    let mut expected = String::new();
    for (time, rows) in oracle_reports(&text, 200) {
        expected.push_str(&format!(
            "-------------------------------------------\nTime: {time} ms\n-------------------------------------------\n"
        ));
        for (word, count) in rows.iter().take(10) {
            expected.push_str(&format!("({word},{count})\n"));
        }
        if rows.len() > 10 {
            expected.push_str("...\n");
        }
        expected.push('\n');
    }
    for workers in ["1", "3"] {
        let output = Netwc::new()
            .arg("--file")
            .arg(&file)
            .args(["--batch-lines", "200", "-w", workers])
            .output();
        assert_eq!(stdout_of(&output), expected, "-w {workers}");
    }
}

#[test]
fn jsonl_holds_every_batch_including_empty_ones() {
    // Batch 2 is made of blank lines only: it is reported with no counts.
    let text = "a b a\nc\n\n\n\nb\n";
    let dir = TempDir::new("jsonl");
    let file = dir.write("input.txt", text.as_bytes());
    let output = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args(["--batch-lines", "2", "--format", "jsonl", "-w", "2"])
        .output();
    let expected = concat!(
        r#"{"time":1,"counts":[{"word":"a","count":2},{"word":"b","count":1},{"word":"c","count":1}]}"#,
        "\n",
        r#"{"time":2,"counts":[]}"#,
        "\n",
        r#"{"time":3,"counts":[{"word":"b","count":1}]}"#,
        "\n"
    );
    assert_eq!(stdout_of(&output), expected);
}

#[test]
fn spark_split_counts_empty_words_like_java() {
    // Java: "a  b".split(" ") = [a, "", b]; "".split(" ") = [""]; " x ".split(" ") = ["", x].
    let text = "a  b\n\n x \n";
    let dir = TempDir::new("spark-split");
    let file = dir.write("input.txt", text.as_bytes());
    let output = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args(["--batch-lines", "10", "--format", "tsv", "--split", "spark"])
        .output();
    assert_eq!(
        stdout_of(&output),
        "time\tword\tcount\n1\t\t3\n1\ta\t1\n1\tb\t1\n1\tx\t1\n"
    );
}

#[test]
fn lowercase_and_stop_words_drop_and_count() {
    let dir = TempDir::new("stop");
    let file = dir.write("input.txt", b"The cat and THE dog\nthe end\n");
    let stop = dir.write("stop.txt", b"the\nAnd\n");
    let output = Netwc::new()
        .arg("--file")
        .arg(&file)
        .arg("--stop-words")
        .arg(&stop)
        .args(["--lowercase", "--batch-lines", "5", "--format", "tsv"])
        .output();
    assert_eq!(
        stdout_of(&output),
        "time\tword\tcount\n1\tcat\t1\n1\tdog\t1\n1\tend\t1\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("4 stop words dropped"), "summary: {stderr}");
}

#[test]
fn output_file_is_appended_without_a_second_header() {
    let dir = TempDir::new("append");
    let file = dir.write("input.txt", b"x y x\n");
    let out = dir.path("out.tsv");
    for _ in 0..2 {
        let output = Netwc::new()
            .arg("--file")
            .arg(&file)
            .arg("-o")
            .arg(&out)
            .args(["--batch-lines", "1", "--format", "tsv"])
            .output();
        assert_eq!(stdout_of(&output), "", "results go to the file only");
    }
    assert_eq!(
        read(&out),
        "time\tword\tcount\n1\tx\t2\n1\ty\t1\n1\tx\t2\n1\ty\t1\n"
    );
}

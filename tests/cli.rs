//! Exit codes and messages: usage errors (2) name the flag, the value and what is accepted;
//! runtime failures (1) say what failed and how to fix it; end of input exits 0.

use crate::util::*;

fn usage_error(args: &[&str], expected: &[&str]) {
    let output = Netwc::new().args(args).output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{args:?} exit code; stderr: {stderr}"
    );
    assert!(output.stdout.is_empty(), "{args:?} printed on stdout");
    for needle in expected {
        assert!(
            stderr.contains(needle),
            "{args:?}: stderr lacks {needle:?}:\n{stderr}"
        );
    }
}

#[test]
fn bad_flags_are_usage_errors_that_say_what_is_accepted() {
    usage_error(&[], &["no source given", "HOST PORT", "--stdin", "--demo"]);
    usage_error(
        &["--stdin", "--demo"],
        &["--stdin and --demo cannot be used together"],
    );
    usage_error(&["localhost"], &["missing PORT"]);
    usage_error(
        &["localhost", "http"],
        &["invalid PORT 'http'", "1 to 65535"],
    );
    usage_error(
        &["--stdin", "--batch", "5"],
        &["--batch", "'5' has no unit", "ms, s, m or h"],
    );
    usage_error(&["--stdin", "--batch", "0s"], &["zero"]);
    usage_error(
        &["--stdin", "--mode", "hourly"],
        &["--mode", "hourly", "batch", "incremental", "window"],
    );
    usage_error(
        &["--stdin", "--format", "csv"],
        &["csv", "spark", "jsonl", "tsv"],
    );
    usage_error(&["--stdin", "-w", "0"], &["--workers", "from 1 to 1024"]);
    usage_error(
        &["--stdin", "--top", "-1"],
        &["--top", "'-1' is negative", "at least 0"],
    );
    usage_error(
        &["--stdin", "--top", "many"],
        &["--top", "not a whole number"],
    );
    usage_error(
        &["--stdin", "--batch", "-1s"],
        &["--batch", "'-1s' is negative", "500ms"],
    );
    usage_error(&["", "9999"], &["invalid HOST ''", "[::1]"]);
    usage_error(
        &["--stdin", "--batch", "1s", "--batch-lines", "5"],
        &["--batch-lines", "--batch"],
    );
    usage_error(
        &["--stdin", "--reconnect"],
        &["--reconnect is for HOST PORT"],
    );
    usage_error(
        &["localhost", "9", "--retry-delay", "1s"],
        &["--retry-delay needs --reconnect"],
    );
    usage_error(
        &["--stdin", "--max-connections", "0"],
        &["--max-connections", "at least 1"],
    );
}

#[test]
fn window_flags_are_checked_against_the_batch() {
    usage_error(
        &["--stdin", "--mode", "window", "--window", "2500ms"],
        &["--window 2500ms is not a whole multiple of the batch interval 1s"],
    );
    usage_error(
        &[
            "--stdin", "--mode", "window", "--window", "2s", "--slide", "4s",
        ],
        &["--slide 4s is longer than --window 2s"],
    );
    usage_error(
        &["--stdin", "--window", "3s"],
        &["--window is only used with --mode window"],
    );
    usage_error(
        &["--stdin", "--mode", "window"],
        &["--mode window needs --window"],
    );
    usage_error(
        &[
            "--stdin",
            "--batch-lines",
            "10",
            "--mode",
            "window",
            "--window",
            "3s",
        ],
        &["whole number of batches"],
    );
}

#[test]
fn refused_connection_exits_1_and_says_how_to_fix_it() {
    let port = free_port();
    let output = Netwc::new().args(["127.0.0.1", &port.to_string()]).output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("could not connect to 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("nc -lk {port}")), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn missing_files_exit_1_naming_the_file() {
    let output = Netwc::new()
        .args(["--file", "/nonexistent/words.txt"])
        .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("cannot read --file '/nonexistent/words.txt'"),
        "{stderr}"
    );

    let dir = TempDir::new("missing-stop");
    let file = dir.write("input.txt", b"a\n");
    let output = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args(["--stop-words", "/nonexistent/stop.txt"])
        .output();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--stop-words '/nonexistent/stop.txt'")
    );

    // An endless file is refused after its bound, not read until memory runs out.
    let output = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args(["--stop-words", "/dev/zero"])
        .output();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--stop-words '/dev/zero' is larger than 64 MiB"),
        "{stderr}"
    );
}

#[test]
fn absurd_numbers_are_usage_errors_naming_the_accepted_range() {
    usage_error(
        &[
            "--stdin",
            "--batch-lines",
            "1",
            "--mode",
            "window",
            "--window",
            "18446744073709551615",
        ],
        &["--window", "from 1 to 1000000000"],
    );
    usage_error(
        &["--stdin", "--batch", "5124095577h"],
        &["--batch", "8760h"],
    );
    usage_error(
        &["--stdin", "-w", "18446744073709551615"],
        &["--workers", "from 1 to 1024"],
    );
    usage_error(
        &["--stdin", "-w", "4294967296"],
        &["--workers", "from 1 to 1024"],
    );
    usage_error(&["--stdin", "-w", "1025"], &["--workers", "from 1 to 1024"]);
    usage_error(
        &["--stdin", "-n", "70000", "-p", "0"],
        &["--processes", "1 to 65535"],
    );
    usage_error(
        &["--stdin", "-n", "64000", "-p", "0"],
        &["--processes", "at most 63435 processes", "--hostfile"],
    );
}

#[test]
fn options_that_would_do_nothing_are_usage_errors() {
    usage_error(
        &["--stdin", "--max-connections", "5"],
        &["--max-connections is for --listen"],
    );
    usage_error(
        &["--stdin", "--connect-timeout", "5s"],
        &["--connect-timeout is for clusters"],
    );
}

#[test]
fn files_and_directories_are_named_in_errors() {
    let dir = TempDir::new("file-is-dir");
    let output = Netwc::new().arg("--file").arg(dir.path("")).output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--file"), "{stderr}");
    assert!(stderr.contains("is a directory"), "{stderr}");
    assert!(output.stdout.is_empty(), "no batch before the error");

    // A cluster's checkpoint, resumed as a single process.
    let state = dir.path("state");
    std::fs::create_dir_all(state.join("process-0")).unwrap();
    std::fs::create_dir_all(state.join("process-1")).unwrap();
    std::fs::write(state.join("process-0/netwc-checkpoint.json"), "{}").unwrap();
    let output = Netwc::new()
        .arg("--stdin")
        .arg("--checkpoint")
        .arg(&state)
        .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("a cluster of 2 processes") && stderr.contains("--processes 2"),
        "{stderr}"
    );
}

#[test]
fn stop_words_are_trimmed() {
    let dir = TempDir::new("stop-trim");
    let stop = dir.write("stop.txt", b"  the \t\r\n\nof\r\n");
    let input = dir.write("in.txt", b"the cat of the hat\n");
    let output = Netwc::new()
        .arg("--file")
        .arg(&input)
        .arg("--stop-words")
        .arg(&stop)
        .args(["--format", "tsv"])
        .output();
    assert_eq!(
        totals(&parse_tsv(&stdout_of(&output))),
        oracle_totals("cat hat")
    );
}

#[test]
fn end_of_stdin_reports_the_batch_at_once_and_exits_0() {
    // An hour-long batch closes at end of input, not an hour later.
    let output = Netwc::new()
        .args(["--stdin", "--batch", "1h", "--format", "tsv"])
        .stdin_bytes("to be or not to be\nthat is")
        .output_within(std::time::Duration::from_secs(20));
    let text = stdout_of(&output);
    let batches = parse_tsv(&text);
    assert_eq!(batches.len(), 1);
    let (time, counts) = batches.iter().next().unwrap();
    assert_eq!(time % 3_600_000, 0, "batch named by its aligned end");
    assert_eq!(counts, &oracle_totals("to be or not to be\nthat is"));
}

#[test]
fn help_lists_every_option() {
    let output = Netwc::new().arg("--help").output();
    let help = stdout_of(&output);
    for flag in [
        "--demo",
        "--listen",
        "--stdin",
        "--file",
        "--batch",
        "--batch-lines",
        "--mode",
        "--window",
        "--slide",
        "--split",
        "--lowercase",
        "--stop-words",
        "--emit",
        "--format",
        "--top",
        "--output",
        "--stats",
        "--workers",
        "--batches",
        "--duration",
        "--reconnect",
        "--retry-delay",
        "--max-connections",
        "--processes",
        "--process",
        "--hostfile",
        "--every-process-reads",
        "--connect-timeout",
        "--checkpoint",
        "--fsync",
        "--ui",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn stdout_closed_by_the_reader_ends_quietly_with_0() {
    let dir = TempDir::new("pipe");
    let file = dir.write("input.txt", zipf_text(5, 20_000, 5, 50).as_bytes());
    // A reader that reads a little and goes away, as `head -c 100` does; netwc must not panic
    // or report an error.
    let mut child = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args(["--batch-lines", "10", "--format", "tsv"])
        .spawn();
    let mut head = [0; 100];
    std::io::Read::read_exact(&mut child.stdout(), &mut head).unwrap();
    let output = child.output_within(RUN_LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn more_workers_than_the_address_space_holds_are_refused_early() {
    let dir = TempDir::new("cli-workers");
    let file = dir.write("input.txt", b"a b a\n");
    let under_4_gib = |workers: &str| {
        Netwc::under("ulimit -v 4194304")
            .args(["-w", workers, "--file"])
            .arg(&file)
            .args(["--format", "tsv"])
            .output()
    };
    let started = std::time::Instant::now();
    let refused = under_4_gib("1024");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("-w 1024"), "{stderr}");
    assert!(stderr.contains("ulimit -v"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // The largest -w it names does start under the same limit.
    let largest = stderr.trim().rsplit("1 to ").next().unwrap().to_owned();
    let ran = under_4_gib(&largest);
    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(stdout_of(&ran).contains("a\t2"));
}

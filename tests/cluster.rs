//! Clusters of netwc processes on loopback: the output of process 0 equals a single process's,
//! byte for byte; the others print nothing on stdout; and every way a cluster can fail to form
//! or break ends every process with a clear message within seconds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::*;

/// Starts process `i` of `n` with `args`.
fn start(hosts: &Path, n: usize, i: usize, args: &[String]) -> Running {
    Netwc::new()
        .args(args)
        .args(["-n", &n.to_string(), "-p", &i.to_string()])
        .arg("--hostfile")
        .arg(hosts)
        .spawn()
}

/// Runs a whole cluster, process `i` with `args_of(i)`; returns each process's output.
fn cluster_of(
    dir: &TempDir,
    n: usize,
    args_of: impl Fn(usize) -> Vec<String>,
) -> Vec<std::process::Output> {
    run_cluster(dir, n, |i| Netwc::new().args(args_of(i)))
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

#[test]
fn process_0_prints_what_a_single_process_prints() {
    let dir = TempDir::new("cluster-same");
    let text = zipf_text(31, 3_000, 8, 500);
    let file = dir.write("input.txt", text.as_bytes());
    let file = file.to_str().unwrap();
    for mode in [
        &["--mode", "batch"][..],
        &["--mode", "window", "--window", "3", "--slide", "2"],
    ] {
        let mut args = strings(&["--file", file, "--batch-lines", "200", "--format", "tsv"]);
        args.extend(strings(mode));
        let single = stdout_of(&Netwc::new().args(&args).output());
        for (n, w) in [(2, 1), (2, 2), (3, 1), (3, 2)] {
            let mut cluster_args = args.clone();
            cluster_args.extend(strings(&["-w", &w.to_string()]));
            let outputs = cluster_of(&dir, n, |_| cluster_args.clone());
            assert_eq!(stdout_of(&outputs[0]), single, "{mode:?}: -n {n} -w {w}");
            for (i, output) in outputs.iter().enumerate().skip(1) {
                assert_eq!(
                    stdout_of(output),
                    "",
                    "process {i} prints nothing on stdout"
                );
            }
        }
    }
}

#[test]
fn every_process_reads_its_own_source() {
    let dir = TempDir::new("cluster-every");
    let texts: Vec<String> = (0..3).map(|i| random_text(40 + i, 700)).collect();
    let files: Vec<PathBuf> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| dir.write(&format!("input{i}.txt"), t.as_bytes()))
        .collect();
    let outputs = cluster_of(&dir, 3, |i| {
        let mut args = strings(&[
            "--batch-lines",
            "100",
            "--format",
            "tsv",
            "-w",
            "2",
            "--every-process-reads",
        ]);
        args.push("--file".into());
        args.push(files[i].to_str().unwrap().into());
        args
    });
    let batches = parse_tsv(&stdout_of(&outputs[0]));
    assert_eq!(batches.len(), 7, "700 lines a process, 100 a batch");
    let mut expected = Counts::new();
    for text in &texts {
        for (word, count) in oracle_totals(text) {
            *expected.entry(word).or_default() += count;
        }
    }
    assert_eq!(totals(&batches), expected);
    for output in &outputs[1..] {
        assert_eq!(stdout_of(output), "");
    }
}

#[test]
fn processes_that_disagree_stop_and_say_how() {
    let dir = TempDir::new("cluster-disagree");
    let file = dir.write("input.txt", b"a b\n");
    let file = file.to_str().unwrap().to_string();
    let outputs = cluster_of(&dir, 2, |i| {
        strings(&["--file", &file, "-w", if i == 0 { "1" } else { "2" }])
    });
    for (i, output) in outputs.iter().enumerate() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "process {i}: {stderr}");
        assert!(
            stderr.contains("different settings"),
            "process {i}: {stderr}"
        );
        assert!(stderr.contains("--workers is"), "process {i}: {stderr}");
    }
}

#[test]
fn bad_hostfiles_and_indexes_are_usage_errors() {
    let dir = TempDir::new("cluster-bad");
    let short = dir.write("short.txt", b"127.0.0.1:2101\n");
    let output = Netwc::new()
        .args(["--stdin", "-n", "2", "-p", "0", "--hostfile"])
        .arg(&short)
        .output();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("lists 1 address(es), but --processes is 2"));
    let bad = dir.write("bad.txt", b"127.0.0.1:2101\nlocalhost:http\n");
    let output = Netwc::new()
        .args(["--stdin", "-n", "2", "-p", "0", "--hostfile"])
        .arg(&bad)
        .output();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("line 2: 'localhost:http' is not host:port"));
    let output = Netwc::new()
        .args(["--stdin", "-n", "2", "-p", "2"])
        .output();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the index is 0 to 1"));
}

#[test]
fn a_missing_peer_is_named_after_the_connect_timeout() {
    let dir = TempDir::new("cluster-missing");
    let hosts = hostfile(&dir, 3);
    let start_time = Instant::now();
    let mut args = strings(&["--stdin", "--connect-timeout", "1s"]);
    args.push("-w".into());
    args.push("1".into());
    let child = start(&hosts, 3, 0, &args);
    let output = child.output_within(Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("process 1 (127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("process 2 (127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("never joined the cluster"), "{stderr}");
    assert!(start_time.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_killed_process_ends_the_others_naming_it() {
    let dir = TempDir::new("cluster-kill");
    let hosts = hostfile(&dir, 2);
    // Process 0 reads a feeder that stays connected, so the job would run on and on.
    let feeder = Feeder::start(b"x y\n".repeat(100), 4, Duration::from_millis(100));
    let args = strings(&[
        "127.0.0.1",
        &feeder.port.to_string(),
        "--batch",
        "100ms",
        "--stats",
    ]);
    let mut one = start(&hosts, 2, 1, &args);
    let mut zero = start(&hosts, 2, 0, &args);
    let lines = zero.stderr_lines();
    // Once the cluster has formed and runs (process 0 reports batches), kill process 1.
    wait_for(&lines, "batch time=", 3);
    assert!(one.is_running(), "process 1 is running");
    one.signal("KILL");
    one.status_within(Duration::from_secs(10));
    let killed_at = Instant::now();
    let output = zero.output_within(Duration::from_secs(20));
    let stderr = lines.iter().collect::<Vec<_>>().join("\n");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("lost the connection to process 1"),
        "{stderr}"
    );
    assert!(killed_at.elapsed() < Duration::from_secs(5));
}

#[test]
fn an_address_in_use_is_a_clear_error() {
    let dir = TempDir::new("cluster-in-use");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let hosts = dir.write(
        "hosts.txt",
        format!("127.0.0.1:{port}\n127.0.0.1:{}\n", free_port()).as_bytes(),
    );
    let output = Netwc::new()
        .args(["--stdin", "-n", "2", "-p", "0", "--hostfile"])
        .arg(&hosts)
        .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("in use"), "{stderr}");
}

#[test]
fn a_silent_process_is_named_and_the_job_goes_on_when_it_is_back() {
    let dir = TempDir::new("cluster-silent");
    let hosts = hostfile(&dir, 2);
    let text = zipf_text(33, 1_200, 6, 300);
    // 12 s of input: 100 lines a second.
    let feeder = Feeder::start(
        text.clone().into_bytes(),
        text.len() / 120,
        Duration::from_millis(100),
    );
    let out = dir.path("out.tsv");
    let mut args = strings(&["127.0.0.1", &feeder.port.to_string(), "--batch", "200ms"]);
    args.extend(strings(&[
        "--format",
        "tsv",
        "-o",
        out.to_str().unwrap(),
        "--stats",
    ]));
    let one = start(&hosts, 2, 1, &args);
    let mut zero = start(&hosts, 2, 0, &args);
    let lines = zero.stderr_lines();
    // The cluster runs: process 0 reports batches.
    wait_for(&lines, "batch time=", 5);
    // Process 1 stops (as under a debugger or SIGSTOP): process 0 names it, then goes on
    // once it is back, and no word is lost.
    one.signal("STOP");
    let stopped_at = Instant::now();
    let seen = wait_for(&lines, "has not been heard from", 1);
    assert!(stopped_at.elapsed() < Duration::from_secs(10), "{seen:#?}");
    let warning = seen.last().unwrap();
    assert!(
        warning.contains("process 1 of the cluster (127.0.0.1:"),
        "{warning}"
    );
    one.signal("CONT");
    wait_for(&lines, "process 1 of the cluster (127.0.0.1:", 1);
    let zero = zero.output_within(Duration::from_secs(60));
    let one = one.output_within(Duration::from_secs(60));
    assert_eq!(zero.status.code(), Some(0));
    assert_eq!(one.status.code(), Some(0));
    let printed = parse_tsv(&read(&out));
    assert_eq!(totals(&printed), oracle_totals(&text));
    feeder.join();
}

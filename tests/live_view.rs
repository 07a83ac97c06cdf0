//! `--ui`: the live page, `/api/batches` and `/metrics` of a running job, read over loopback
//! with a plain HTTP client, and the page loaded in a real browser (headless Chromium from
//! Debian's `chromium` package, which `.ci/run` installs).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{channel, Sender};

use std::time::{Duration, Instant};

use crate::util::*;

/// A text server that sends `lines_per_tick` lines of Zipf words every 10 ms to its one client
/// for `seconds`.
fn steady_server(lines_per_tick: usize, seconds: u64) -> u16 {
    let mut zipf = Zipf::new(7, 300);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(seconds) {
            let burst: String = (0..lines_per_tick).map(|_| zipf.line(8)).collect();
            if stream.write_all(burst.as_bytes()).is_err() {
                return;
            }
            // Deliberately a sleep: the producer's pace.
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    port
}

/// `GET path` over HTTP/1.0: the status code and the body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_string();
    (status, body)
}

/// The value of a metric without labels.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in\n{text}"))
}

/// A running netwc with `--ui`: the process, the UI's port, its stderr lines, and its stdout
/// (read all along, so that output never blocks it).
struct Job {
    child: Running,
    ui: u16,
    lines: std::sync::mpsc::Receiver<String>,
    stdout: std::thread::JoinHandle<String>,
}

impl Job {
    /// Stops the job with SIGTERM; returns its exit code and what it printed.
    fn stop(mut self) -> (Option<i32>, String) {
        self.child.signal("TERM");
        let status = self.child.status_within(Duration::from_secs(20));
        (status.code(), self.stdout.join().unwrap())
    }
}

/// netwc with `--ui` on a free port against a steady server for `seconds`.
fn start(seconds: u64) -> Job {
    let source = steady_server(20, seconds);
    let ui = free_port();
    let mut child = Netwc::new()
        .args([
            "127.0.0.1",
            &source.to_string(),
            "--batch",
            "100ms",
            "--format",
            "tsv",
            "--top",
            "0",
            "--stats",
            "--ui",
            &ui.to_string(),
        ])
        .spawn();
    let lines = child.stderr_lines();
    let stdout = child.stdout_text();
    wait_for(&lines, "live view on http://127.0.0.1:", 1);
    Job {
        child,
        ui,
        lines,
        stdout,
    }
}

#[test]
fn metrics_and_batches_follow_the_job() {
    let job = start(10);
    let (ui, lines) = (job.ui, &job.lines);
    wait_for(lines, "batch time=", 3);
    let (status, first) = get(ui, "/metrics");
    assert_eq!(status, 200);
    for line in [
        "# TYPE netwc_lines counter",
        "# TYPE netwc_words counter",
        "# TYPE netwc_stop_words counter",
        "# TYPE netwc_words_cut counter",
        "# TYPE netwc_batches counter",
        "# TYPE netwc_bytes counter",
        "# TYPE netwc_distinct_words gauge",
        "# TYPE netwc_connections gauge",
        "# TYPE netwc_last_batch_time_ms gauge",
        "# TYPE netwc_batch_processing_seconds histogram",
        "# TYPE netwc_batch_delay_seconds histogram",
    ] {
        assert!(first.contains(line), "{line} in\n{first}");
    }
    assert_eq!(metric(&first, "netwc_connections"), 1.0);
    wait_for(lines, "batch time=", 5);
    let (_, second) = get(ui, "/metrics");
    for counter in [
        "netwc_words_total",
        "netwc_batches_total",
        "netwc_bytes_total",
    ] {
        assert!(
            metric(&second, counter) > metric(&first, counter),
            "{counter} rises"
        );
    }

    let (status, body) = get(ui, "/api/batches");
    assert_eq!(status, 200);
    let batches: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert!(batches.len() >= 5 && batches.len() <= 1000);
    for field in [
        "time",
        "lines",
        "words",
        "distinct",
        "processing_ms",
        "delay_ms",
        "top",
    ] {
        assert!(batches[0].get(field).is_some(), "{field}");
    }
    let times: Vec<u64> = batches
        .iter()
        .map(|b| b["time"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(batches[0]["top"].as_array().unwrap().len() <= 10);

    for path in ["/nope", "/metrics/x", "/api"] {
        assert_eq!(get(ui, path).0, 404, "{path}");
    }

    let (_, last) = get(ui, "/metrics");
    let (code, printed) = job.stop();
    assert_eq!(code, Some(0));
    // Never more words than the batches printed.
    let printed: i64 = totals(&parse_tsv(&printed)).values().sum();
    assert!(metric(&last, "netwc_words_total") <= printed as f64);
}

#[test]
fn a_stuck_http_client_does_not_stall_batches() {
    let job = start(10);
    let ui = job.ui;
    wait_for(&job.lines, "batch time=", 2);
    // One client connects and says nothing; another asks and never reads the answer.
    let _silent = TcpStream::connect(("127.0.0.1", ui)).unwrap();
    let mut unread = TcpStream::connect(("127.0.0.1", ui)).unwrap();
    for _ in 0..50 {
        let _ = write!(unread, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    // Batches still come every 100 ms, and the server still answers others.
    let seen = wait_for(&job.lines, "batch time=", 10);
    assert!(seen.len() >= 10);
    assert_eq!(get(ui, "/api/batches").0, 200);
    assert_eq!(job.stop().0, Some(0));
}

#[test]
fn the_page_draws_in_a_real_browser() {
    let job = start(30);
    let ui = job.ui;
    wait_for(&job.lines, "batch time=", 5);
    let dom = browser_dom(ui);
    assert_eq!(job.stop().0, Some(0));
    assert!(
        dom.contains(r#"data-ready="1""#),
        "the script ran:\n{dom:.2000}"
    );
    assert!(
        dom.contains(r#"data-charts="3""#),
        "three charts were drawn"
    );
    let table = dom
        .split(r#"id="batches""#)
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .expect("table#batches");
    assert!(
        table.matches("<tr").count() >= 5,
        "rows, one per batch: {table:.1000}"
    );
    assert!(dom.contains("<canvas"), "a chart is drawn on a canvas");
}

/// A job that counts `text` from a server that holds the connection open until released, with
/// `--ui` (and `extra` flags), started through `sh` so that `limits` (e.g. `ulimit -n 128`)
/// apply to it; its reports go to `out.tsv` in `dir`.
fn held_job(
    text: &str,
    dir: &TempDir,
    limits: &str,
    extra: &[&str],
) -> (Running, u16, HoldingServer) {
    let source = holding_server(text);
    let ui = free_port();
    let child = Netwc::under(limits)
        .args(["127.0.0.1", &source.port.to_string(), "--batch", "100ms"])
        .args([
            "--format",
            "tsv",
            "--top",
            "0",
            "--ui",
            &ui.to_string(),
            "-o",
        ])
        .arg(dir.path("out.tsv"))
        .args(extra)
        .spawn();
    wait_listening(ui);
    (child, ui, source)
}

/// The number of threads of process `pid`.
fn threads_of(pid: u32) -> u64 {
    read(std::path::Path::new(&format!("/proc/{pid}/status")))
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Writes `bytes` to a new connection from a thread, never reading; gives up when the server
/// stops taking them for a while (bounded). Says on `under_way` once it has tried to connect
/// and to write its first piece.
fn write_never_reading(
    ui: u16,
    bytes: Vec<u8>,
    under_way: Sender<()>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", ui)) else {
            let _ = under_way.send(());
            return;
        };
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        for (i, piece) in bytes.chunks(64 << 10).enumerate() {
            let written = stream.write_all(piece);
            if i == 0 {
                let _ = under_way.send(());
            }
            if written.is_err() {
                return;
            }
        }
        // Deliberately a sleep: it holds the connection (and its unread answers) a while.
        std::thread::sleep(Duration::from_secs(3));
    })
}

#[test]
fn hostile_http_clients_cannot_end_starve_or_bloat_the_job() {
    let mut text = zipf_text(11, 20_000, 8, 500);
    // Long words reach the history of the live view.
    for i in 0..3 {
        text.push_str(&format!("{}{i}\n", "w".repeat(100 << 10)));
    }
    let dir = TempDir::new("hostile-ui");
    let (mut child, ui, source) = held_job(&text, &dir, "", &[]);
    let pid = child.pid();
    let (under_way, attacking) = channel();
    let mut attackers = Vec::new();
    // Pipelining 100,000 requests on one connection, never reading.
    attackers.push(write_never_reading(
        ui,
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            .repeat(100_000)
            .into_bytes(),
        under_way.clone(),
    ));
    // A header that never ends.
    let mut endless = b"GET / HTTP/1.1\r\nX: ".to_vec();
    endless.resize(20 << 20, b'a');
    attackers.push(write_never_reading(ui, endless, under_way.clone()));
    // 50 clients that ask for the history and never read it.
    for _ in 0..50 {
        let requests = "GET /api/batches HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200);
        attackers.push(write_never_reading(
            ui,
            requests.into_bytes(),
            under_way.clone(),
        ));
    }
    // Every attacker is connected and writing.
    for _ in &attackers {
        attacking
            .recv_timeout(Duration::from_secs(20))
            .expect("the attackers connect and write");
    }
    // An ordinary client is still answered, at once.
    for _ in 0..3 {
        let asked = Instant::now();
        assert_eq!(get(ui, "/metrics").0, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "{:?}",
            asked.elapsed()
        );
    }
    // HEAD answers as GET without a body; an absolute-form request line is understood.
    let mut head = TcpStream::connect(("127.0.0.1", ui)).unwrap();
    head.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(head, "HEAD / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    head.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "no body: {answer:.200}");
    assert_eq!(get(ui, "http://127.0.0.1/metrics").0, 200);
    // A thread per request would show here.
    let threads = threads_of(pid);
    assert!(threads <= 16, "{threads} threads");
    // Words in the history are cut.
    let (_, body) = get(ui, "/api/batches?limit=50");
    let batches: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert!(batches.len() <= 50);
    for row in batches.iter().flat_map(|b| b["top"].as_array().unwrap()) {
        assert!(row["word"].as_str().unwrap().len() <= 64 + '…'.len_utf8());
    }
    source.release();
    let peak = child.wait_with_peak_rss();
    let output = child.output_within(RUN_LIMIT);
    assert_eq!(output.status.code(), Some(0));
    assert!(peak < 200 << 10, "peak RSS {peak} KiB");
    let printed = parse_tsv(&read(&dir.path("out.tsv")));
    assert_eq!(totals(&printed), oracle_totals(&text));
    for attacker in attackers {
        attacker.join().unwrap();
    }
}

#[test]
fn idle_connections_under_a_low_descriptor_limit_cost_no_word() {
    let text = zipf_text(12, 5_000, 8, 300);
    let dir = TempDir::new("idle-ui");
    let checkpoint = dir.path("ckpt");
    let checkpoint = checkpoint.to_str().unwrap();
    let (mut child, ui, source) = held_job(
        &text,
        &dir,
        "ulimit -n 128",
        &[
            "--mode",
            "incremental",
            "--emit",
            "all",
            "--checkpoint",
            checkpoint,
        ],
    );
    // This test holds a thousand sockets itself: its own limit must allow them.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if limit.current.is_some_and(|current| current < 2048) {
        let raised = rustix::process::Rlimit {
            current: limit.maximum.map(|max| max.min(4096)),
            maximum: limit.maximum,
        };
        rustix::process::setrlimit(rustix::process::Resource::Nofile, raised).unwrap();
    }
    let idle: Vec<TcpStream> = (0..1_000)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", ui)).ok())
        .collect();
    assert!(idle.len() > 500, "{} connections", idle.len());
    // Snapshots are written and the log compacted while they wait; once the idle ones have
    // passed the deadline for a request, the live view answers again. (Deliberately a sleep:
    // waiting out that deadline is what is tested.)
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(get(ui, "/metrics").0, 200);
    source.release();
    let peak = child.wait_with_peak_rss();
    let output = child.output_within(RUN_LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(peak < 100 << 10, "peak RSS {peak} KiB");
    let printed = parse_tsv(&read(&dir.path("out.tsv")));
    let last = printed.values().next_back().cloned().unwrap_or_default();
    assert_eq!(last, oracle_totals(&text));
    drop(idle);
}

//! Helpers for the end-to-end tests: running the binary with a time limit, generating text,
//! the oracle, and loopback servers.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest any one run of the binary may take in these tests.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A command for the binary under test.
pub fn netwc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netwc"))
}

/// Runs `command` to its end (killing it after [`RUN_LIMIT`]) and returns its output.
pub fn run(command: &mut Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netwc starts");
    wait_output(child, RUN_LIMIT)
}

/// Waits for `child` with a time limit, collecting its output; kills it and fails past the limit.
pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_end(&mut buf);
        }
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_end(&mut buf);
        }
        buf
    });
    let status = wait_status(&mut child, limit);
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Waits for `child` to exit, killing it and failing the test past `limit`.
pub fn wait_status(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("netwc did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Output as text, with the exit code and stderr shown if it is not what a test wanted.
pub fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "netwc failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// A folder for one test's files, removed when dropped (also when the test panics).
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        TempDir(
            tempfile::Builder::new()
                .prefix(&format!("netwc-test-{name}-"))
                .tempdir()
                .unwrap(),
        )
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

/// A small seeded generator (SplitMix64), independent of the one in netwc.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random text: words from a small alphabet (so words repeat), with runs of spaces and tabs,
/// blank lines, CRLF endings, non-ASCII words, and no newline at the very end.
pub fn random_text(seed: u64, lines: usize) -> String {
    let mut rng = Rng::new(seed);
    let separators = [" ", " ", " ", "  ", "\t", " \t "];
    let specials = ["été", "Straße", "東京", "a\u{0}b", "x\u{FFFD}"];
    let mut text = String::new();
    for line in 0..lines {
        let words = rng.below(9);
        for i in 0..words {
            if i > 0 || rng.below(8) == 0 {
                text.push_str(separators[rng.below(separators.len() as u64) as usize]);
            }
            if rng.below(20) == 0 {
                text.push_str(specials[rng.below(specials.len() as u64) as usize]);
            } else {
                let len = 1 + rng.below(3);
                for _ in 0..len {
                    text.push((b'a' + rng.below(5) as u8) as char);
                }
            }
        }
        if line + 1 < lines {
            text.push_str(if rng.below(6) == 0 { "\r\n" } else { "\n" });
        }
    }
    text
}

/// Zipf-distributed words over a vocabulary of `vocabulary` words, `words_per_line` a line.
pub fn zipf_text(seed: u64, lines: usize, words_per_line: usize, vocabulary: usize) -> String {
    let mut rng = Rng::new(seed);
    let weights: Vec<f64> = (1..=vocabulary).map(|r| 1.0 / r as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut text = String::new();
    for _ in 0..lines {
        for i in 0..words_per_line {
            if i > 0 {
                text.push(' ');
            }
            let mut target = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
            let mut rank = 0;
            while rank + 1 < vocabulary && target >= weights[rank] {
                target -= weights[rank];
                rank += 1;
            }
            text.push_str(&format!("w{rank}"));
        }
        text.push('\n');
    }
    text
}

/// Word counts of one batch.
pub type Counts = HashMap<String, i64>;

/// Lines as Java's `BufferedReader.readLine` (Spark's receiver) reads them: each ends at `\n`,
/// `\r\n` or a lone `\r`, and a last line without an end is a line too.
pub fn java_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut line_start = 0;
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'\n' || bytes[at] == b'\r' {
            lines.push(&bytes[line_start..at]);
            let crlf = bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n');
            at += if crlf { 2 } else { 1 };
            line_start = at;
        } else {
            at += 1;
        }
    }
    if line_start < bytes.len() {
        lines.push(&bytes[line_start..]);
    }
    lines
}

/// The oracle: the lines of `text` (a final line without a newline counts), cut into batches
/// of `per_batch` lines, each counted with `str::split_whitespace` into a `HashMap`.
pub fn oracle_batches(text: &str, per_batch: usize) -> Vec<Counts> {
    java_lines(text.as_bytes())
        .chunks(per_batch)
        .map(|batch| {
            let mut counts = Counts::new();
            for line in batch {
                for word in String::from_utf8_lossy(line).split_whitespace() {
                    *counts.entry(word.to_string()).or_default() += 1;
                }
            }
            counts
        })
        .collect()
}

/// All words of `text`, counted.
pub fn oracle_totals(text: &str) -> Counts {
    let mut counts = Counts::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_string()).or_default() += 1;
    }
    counts
}

/// Rows in report order: count descending, then word ascending.
pub fn sorted_rows(counts: &Counts) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> = counts.iter().map(|(w, c)| (w.clone(), *c)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows
}

/// What `--format tsv --top 0` prints for these reports (batch name, rows).
pub fn expected_tsv(reports: &[(u64, Vec<(String, i64)>)]) -> String {
    let mut text = String::from("time\tword\tcount\n");
    for (time, rows) in reports {
        for (word, count) in rows {
            let word = word
                .replace('\\', "\\\\")
                .replace('\t', "\\t")
                .replace('\r', "\\r");
            text.push_str(&format!("{time}\t{word}\t{count}\n"));
        }
    }
    text
}

/// Parses `--format tsv` output into (batch name → counts), checking its shape.
pub fn parse_tsv(text: &str) -> BTreeMap<u64, Counts> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time\tword\tcount"), "tsv header");
    let mut batches: BTreeMap<u64, Counts> = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "tsv row {line:?}");
        let time: u64 = fields[0].parse().unwrap();
        let count: i64 = fields[2].parse().unwrap();
        let previous = batches
            .entry(time)
            .or_default()
            .insert(fields[1].to_string(), count);
        assert!(
            previous.is_none(),
            "word {:?} twice in batch {time}",
            fields[1]
        );
    }
    batches
}

/// Sums per-batch counts into totals.
pub fn totals(batches: &BTreeMap<u64, Counts>) -> Counts {
    let mut sum = Counts::new();
    for counts in batches.values() {
        for (word, count) in counts {
            *sum.entry(word.clone()).or_default() += count;
        }
    }
    sum
}

/// A port that was free a moment ago, on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether something listens on 127.0.0.1:`port`, read from /proc/net/tcp (without connecting,
/// which would take the one connection a plain `nc -l` accepts).
pub fn is_listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let wanted = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        fields.len() > 3 && fields[1] == wanted && fields[3] == "0A"
    })
}

/// Waits (bounded) until `port` listens.
pub fn wait_listening(port: u16) {
    let start = Instant::now();
    while !is_listening(port) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A one-connection text server on a free loopback port: it accepts one client, sends
/// `text` in pieces of `piece` bytes, and closes.
pub struct Feeder {
    pub port: u16,
    handle: JoinHandle<()>,
}

impl Feeder {
    pub fn start(text: Vec<u8>, piece: usize, pause: Duration) -> Feeder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(false).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("netwc connects");
            for part in text.chunks(piece.max(1)) {
                if stream.write_all(part).is_err() {
                    return;
                }
                if !pause.is_zero() {
                    std::thread::sleep(pause);
                }
            }
        });
        Feeder { port, handle }
    }

    pub fn join(self) {
        self.handle.join().unwrap();
    }
}

/// Sends `signal` (a name such as TERM) to the process `pid`, which this test started.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Reads `path` as text, or an empty string.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Starts netwc with `args`, stdout and stderr piped.
pub fn spawn<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Child {
    netwc()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netwc starts")
}

/// Forwards each stderr line of netwc to a channel (and keeps reading, so netwc never blocks).
pub fn stderr_lines(stderr: ChildStderr) -> Receiver<String> {
    let (lines, received) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    received
}

/// Waits (bounded) until `count` stderr lines contain `needle`; returns every line seen.
pub fn wait_for(lines: &Receiver<String>, needle: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut found = 0;
    while found < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                found += usize::from(line.contains(needle));
                seen.push(line);
            }
            Err(_) => panic!("waited for {count}× {needle:?}; stderr so far: {seen:#?}"),
        }
    }
    seen
}

/// The peak resident memory of process `pid` so far (VmHWM), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

/// Waits for `child` (bounded) while reading its peak resident memory; returns that peak.
pub fn wait_with_peak_rss(child: &mut Child) -> u64 {
    let mut peak = 0;
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < RUN_LIMIT, "netwc did not finish");
        peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(10));
    }
    peak
}

/// A hostfile for `n` processes on free loopback ports.
pub fn hostfile(dir: &TempDir, n: usize) -> PathBuf {
    let lines: String = (0..n)
        .map(|_| format!("127.0.0.1:{}\n", free_port()))
        .collect();
    dir.write("hosts.txt", format!("# test cluster\n{lines}").as_bytes())
}

/// A server that sends `text` to its one client and holds the connection open until the
/// returned sender is used or dropped (or 30 s pass).
pub fn holding_server(text: impl Into<Vec<u8>>) -> (u16, std::sync::mpsc::Sender<()>) {
    let text = text.into();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (release, released) = channel::<()>();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(&text).unwrap();
        let _ = released.recv_timeout(Duration::from_secs(30));
    });
    (port, release)
}

/// The live view's page on `ui` as headless Chromium (Debian's package, which `.ci/run`
/// installs) leaves it after 5 s of its scripts' (virtual) time.
pub fn browser_dom(ui: u16) -> String {
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            &format!("http://127.0.0.1:{ui}/"),
        ])
        .output()
        .expect("chromium (Debian's package) is installed: .ci/run installs it");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The lines a `--stats` batch line says its batch counted (`lines=N`); `None` for any other
/// line of the log.
pub fn stats_lines(line: &str) -> Option<usize> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("lines="))
        .and_then(|n| n.parse().ok())
}

/// Serves `parts` to one client on a loopback port, `pause` apart, then holds the connection
/// open for 30 s (or closes it).
pub fn serve_parts(parts: Vec<String>, pause: Duration, hold: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(pause);
            }
            if stream.write_all(part.as_bytes()).is_err() {
                return;
            }
        }
        if hold {
            std::thread::sleep(Duration::from_secs(30));
        }
    });
    port
}

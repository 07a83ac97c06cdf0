//! Helpers for the end-to-end tests: running the binary with a time limit, generating text,
//! the oracle, and loopback servers.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{
    Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio,
};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest any one run of the binary may take in these tests.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

/// netwc as a test runs it, built up like a [`Command`]: its stdin empty and its stdout and
/// stderr piped unless said otherwise; then run to its end within a time limit
/// ([`Netwc::output`]) or started ([`Netwc::spawn`]).
#[must_use]
pub struct Netwc {
    command: Command,
    stdin: Option<Vec<u8>>,
}

impl Netwc {
    pub fn new() -> Netwc {
        Netwc::of(Command::new(env!("CARGO_BIN_EXE_netwc")))
    }

    /// netwc started through `sh` after `limits` (such as `ulimit -n 128`), which apply to it.
    pub fn under(limits: &str) -> Netwc {
        let mut command = Command::new("sh");
        command.args(["-c", &format!("{limits}\nexec \"$0\" \"$@\"")]);
        command.arg(env!("CARGO_BIN_EXE_netwc"));
        Netwc::of(command)
    }

    fn of(mut command: Command) -> Netwc {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Netwc {
            command,
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Netwc {
        self.command.arg(arg);
        self
    }

    pub fn args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Netwc {
        self.command.args(args);
        self
    }

    /// Its stdin gets `bytes`, then its end.
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Netwc {
        self.command.stdin(Stdio::piped());
        self.stdin = Some(bytes.into());
        self
    }

    /// Its stdin is a pipe that the test writes ([`Running::stdin`]).
    pub fn stdin_piped(mut self) -> Netwc {
        self.command.stdin(Stdio::piped());
        self
    }

    pub fn stdout_null(mut self) -> Netwc {
        self.command.stdout(Stdio::null());
        self
    }

    pub fn stderr_null(mut self) -> Netwc {
        self.command.stderr(Stdio::null());
        self
    }

    /// Runs netwc to its end (killing it and failing past [`RUN_LIMIT`]); returns its output.
    pub fn output(self) -> Output {
        self.output_within(RUN_LIMIT)
    }

    /// Runs netwc to its end (killing it and failing past `limit`); returns its output.
    pub fn output_within(self, limit: Duration) -> Output {
        self.spawn().output_within(limit)
    }

    pub fn spawn(mut self) -> Running {
        let mut child = self.command.spawn().expect("netwc starts");
        if let Some(bytes) = self.stdin {
            let mut stdin = child.stdin.take().unwrap();
            // From a thread, so that netwc never waits on a test that has not yet read its
            // output; a netwc that stops early is the test's to find in that output.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            });
        }
        Running { child }
    }
}

/// A netwc that runs; killed when dropped, so that a failing test leaves none behind.
pub struct Running {
    child: Child,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends it `signal` (a name such as TERM).
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Its stdin, to write (after [`Netwc::stdin_piped`]); dropping it ends netwc's input.
    pub fn stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().expect("stdin is piped")
    }

    pub fn stdout(&mut self) -> ChildStdout {
        self.child.stdout.take().expect("stdout is piped")
    }

    pub fn stderr(&mut self) -> ChildStderr {
        self.child.stderr.take().expect("stderr is piped")
    }

    /// Reads its stdout to the end on a thread (so that netwc never waits on a full pipe);
    /// the thread returns the text.
    pub fn stdout_text(&mut self) -> JoinHandle<String> {
        let mut stdout = self.stdout();
        std::thread::spawn(move || {
            let mut text = String::new();
            stdout.read_to_string(&mut text).unwrap();
            text
        })
    }

    /// Its stderr, line by line ([`stderr_lines`]), for [`wait_for`].
    pub fn stderr_lines(&mut self) -> Receiver<String> {
        stderr_lines(self.stderr())
    }

    /// Waits (bounded) until its job runs: its workers have started (timely names their
    /// threads `timely:work-N`). From then on a signal asks for a graceful stop; before, while
    /// it waits for its input or its cluster, a signal ends it at once.
    pub fn wait_job_running(&self) {
        let start = Instant::now();
        let tasks = format!("/proc/{}/task", self.pid());
        loop {
            let names: Vec<String> = std::fs::read_dir(&tasks)
                .into_iter()
                .flatten()
                .flatten()
                .map(|task| read(&task.path().join("comm")))
                .collect();
            if names.iter().any(|name| name.starts_with("timely:work")) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "netwc's workers do not start; its threads: {names:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for it to exit, killing it and failing the test past `limit`.
    pub fn status_within(&mut self, limit: Duration) -> ExitStatus {
        wait_status(&mut self.child, limit)
    }

    /// Waits for it to exit (killing it and failing past `limit`), collecting what was not taken
    /// of its stdout and stderr.
    pub fn output_within(mut self, limit: Duration) -> Output {
        collect_output(&mut self.child, limit)
    }

    /// Waits (within [`RUN_LIMIT`]) for it to exit while reading its peak resident memory;
    /// returns that peak in KiB.
    pub fn wait_with_peak_rss(&mut self) -> u64 {
        let mut peak = 0;
        let start = Instant::now();
        while self.is_running() {
            assert!(start.elapsed() < RUN_LIMIT, "netwc did not finish");
            peak = peak.max(peak_rss_kib(self.pid()).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(10));
        }
        peak
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_all(pipe: Option<impl Read>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut buf);
    }
    buf
}

/// Waits for `child` (a program other than netwc) with a time limit, collecting its output;
/// kills it and fails past the limit.
pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    collect_output(&mut child, limit)
}

fn collect_output(child: &mut Child, limit: Duration) -> Output {
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let out = std::thread::spawn(move || read_all(stdout));
    let err = std::thread::spawn(move || read_all(stderr));
    let status = wait_status(child, limit);
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

/// Zipf-distributed words `w0`, `w1`, … (`w0` the most frequent) over a vocabulary of
/// `vocabulary` words, from a seeded [`Rng`]: an endless iterator of words.
pub struct Zipf {
    rng: Rng,
    weights: Vec<f64>,
    total: f64,
}

impl Zipf {
    pub fn new(seed: u64, vocabulary: usize) -> Zipf {
        let weights: Vec<f64> = (1..=vocabulary).map(|r| 1.0 / r as f64).collect();
        let total = weights.iter().sum();
        Zipf {
            rng: Rng::new(seed),
            weights,
            total,
        }
    }

    /// The next `words` words, a space apart, and a newline.
    pub fn line(&mut self, words: usize) -> String {
        let mut line = self.by_ref().take(words).collect::<Vec<_>>().join(" ");
        line.push('\n');
        line
    }
}

impl Iterator for Zipf {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut target = (self.rng.next() >> 11) as f64 / (1u64 << 53) as f64 * self.total;
        let mut rank = 0;
        while rank + 1 < self.weights.len() && target >= self.weights[rank] {
            target -= self.weights[rank];
            rank += 1;
        }
        Some(format!("w{rank}"))
    }
}

/// `lines` lines of [`Zipf`] words, `words_per_line` a line.
pub fn zipf_text(seed: u64, lines: usize, words_per_line: usize, vocabulary: usize) -> String {
    let mut zipf = Zipf::new(seed, vocabulary);
    (0..lines).map(|_| zipf.line(words_per_line)).collect()
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

/// A hostfile for `n` processes on free loopback ports.
pub fn hostfile(dir: &TempDir, n: usize) -> PathBuf {
    let lines: String = (0..n)
        .map(|_| format!("127.0.0.1:{}\n", free_port()))
        .collect();
    dir.write("hosts.txt", format!("# test cluster\n{lines}").as_bytes())
}

/// Runs a cluster of `n` processes on a fresh hostfile in `dir`, process `i` being
/// `process(i)` with its place in the cluster added; returns each one's output, process 0
/// first.
pub fn run_cluster(dir: &TempDir, n: usize, process: impl Fn(usize) -> Netwc) -> Vec<Output> {
    let hosts = hostfile(dir, n);
    let children: Vec<Running> = (0..n)
        .map(|i| {
            process(i)
                .args(["-n", &n.to_string(), "-p", &i.to_string()])
                .arg("--hostfile")
                .arg(&hosts)
                .spawn()
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.output_within(Duration::from_secs(60)))
        .collect()
}

/// Asserts that a cluster of 3 resumed on a checkpoint of 2 processes that all read was
/// refused by processes 0 and 1, naming the setting, and that process 2 did not start alone.
pub fn assert_refused_at_another_size(outputs: &[Output]) {
    for output in &outputs[..2] {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--processes is 3 here but 2 in the checkpoint"),
            "{stderr}"
        );
    }
    assert!(!outputs[2].status.success());
}

/// A server on a free loopback port that sends `text` to its one client and holds the
/// connection open until released or dropped (or 30 s pass).
pub struct HoldingServer {
    pub port: u16,
    release: Sender<()>,
    sent: Receiver<()>,
}

pub fn holding_server(text: impl Into<Vec<u8>>) -> HoldingServer {
    let text = text.into();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (release, released) = channel::<()>();
    let (sent, was_sent) = channel::<()>();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(&text).unwrap();
        let _ = sent.send(());
        let _ = released.recv_timeout(Duration::from_secs(30));
    });
    HoldingServer {
        port,
        release,
        sent: was_sent,
    }
}

impl HoldingServer {
    /// Waits (bounded) until the client has connected and read all of the text.
    pub fn wait_read(&self) {
        self.sent
            .recv_timeout(Duration::from_secs(20))
            .expect("netwc connects to the server");
        wait_read(self.port);
    }

    /// Closes the connection.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

/// The send and receive queues (bytes) of every TCP connection on `port` of this host, from
/// /proc/net/tcp and /proc/net/tcp6: both ends of a loopback connection.
pub fn queues_on(port: u16) -> Vec<(u64, u64)> {
    let on_port = |address: &str| address.ends_with(&format!(":{port:04X}"));
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .map(|table| std::fs::read_to_string(table).unwrap_or_default())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|row| {
                    let fields: Vec<&str> = row.split_whitespace().collect();
                    let connected = fields.len() > 4 && fields[3] != "0A";
                    if !connected || !(on_port(fields[1]) || on_port(fields[2])) {
                        return None;
                    }
                    let (send, receive) = fields[4].split_once(':')?;
                    let hex = |n| u64::from_str_radix(n, 16).ok();
                    Some((hex(send)?, hex(receive)?))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Waits (bounded) until there are connections on loopback `port` and everything written to
/// them has been read: no end has bytes left to send or to read (what a test had written
/// before the call has reached netwc, for example).
pub fn wait_read(port: u16) {
    let start = Instant::now();
    loop {
        let queues = queues_on(port);
        if !queues.is_empty() && queues.iter().all(|&q| q == (0, 0)) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "what was written on port {port} is not all read; (send, receive) queues: {queues:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
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

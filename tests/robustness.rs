//! Never lose a word: reconnects, many producers with a bound, hostile input, backpressure.
//! Every count is compared with the oracle; memory is read from /proc while netwc runs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::util::*;

#[test]
fn reconnect_survives_a_server_that_comes_and_goes() {
    let port = free_port();
    let mut child = Netwc::new()
        .args([
            "127.0.0.1",
            &port.to_string(),
            "--reconnect",
            "--retry-delay",
            "100ms",
            "--batch",
            "100ms",
            "--format",
            "tsv",
        ])
        .spawn();
    let lines = child.stderr_lines();
    // The server is absent at start: netwc keeps trying.
    wait_for(&lines, "could not connect", 2);
    let mut expected = Counts::new();
    for round in 0..3u64 {
        let text = random_text(60 + round, 300);
        for (word, count) in oracle_totals(&text) {
            *expected.entry(word).or_default() += count;
        }
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(text.as_bytes()).unwrap();
        drop(stream);
        drop(listener);
        wait_for(&lines, "closed the connection", 1);
    }
    child.signal("TERM");
    let output = child.output_within(Duration::from_secs(20));
    assert_eq!(totals(&parse_tsv(&stdout_of(&output))), expected);
}

#[test]
fn listen_refuses_producers_past_max_connections() {
    let port = free_port();
    let mut child = Netwc::new()
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--max-connections",
            "2",
            "--batch",
            "100ms",
            "--format",
            "tsv",
        ])
        .spawn();
    let lines = child.stderr_lines();
    wait_listening(port);
    let mut first = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut second = TcpStream::connect(("127.0.0.1", port)).unwrap();
    wait_for(&lines, "connected", 2);
    let mut third = TcpStream::connect(("127.0.0.1", port)).unwrap();
    wait_for(&lines, "refused", 1);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        matches!(third.read(&mut byte), Ok(0) | Err(_)),
        "the third producer is closed at once"
    );
    first.write_all(b"a b\nc").unwrap();
    second.write_all(b"b\n").unwrap();
    drop(first);
    drop(second);
    wait_for(&lines, "closed", 2);
    child.signal("TERM");
    let output = child.output_within(Duration::from_secs(20));
    assert_eq!(
        totals(&parse_tsv(&stdout_of(&output))),
        oracle_totals("a b\nc\nb\n")
    );
}

#[test]
fn binary_garbage_is_counted_like_a_lossy_decoder_would() {
    let mut rng = Rng::new(77);
    // Mostly letters and spaces, with newlines, CR, NUL, tabs and invalid UTF-8 sprinkled in.
    let alphabet: &[u8] = b"abc  \n\r\t\0\xff\xfe\xc3\xa9\xe6\x9d";
    let bytes: Vec<u8> = (0..400_000)
        .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
        .collect();
    let dir = TempDir::new("garbage");
    let file = dir.write("input.bin", &bytes);
    // The oracle: Java's lines (a lone CR ends one too), each decoded lossily, split on white
    // space.
    let mut batches: Vec<Counts> = Vec::new();
    let lines = java_lines(&bytes);
    for batch in lines.chunks(500) {
        let mut counts = Counts::new();
        for line in batch {
            for word in String::from_utf8_lossy(line).split_whitespace() {
                *counts.entry(word.to_string()).or_default() += 1;
            }
        }
        batches.push(counts);
    }
    let reports: Vec<(u64, Vec<(String, i64)>)> = batches
        .iter()
        .enumerate()
        .map(|(k, counts)| (k as u64 + 1, sorted_rows(counts)))
        .collect();
    for workers in ["1", "3"] {
        let output = Netwc::new()
            .arg("--file")
            .arg(&file)
            .args(["--batch-lines", "500", "--format", "tsv", "-w", workers])
            .output();
        assert_eq!(stdout_of(&output), expected_tsv(&reports), "-w {workers}");
    }
}

#[test]
fn a_huge_line_is_counted_in_bounded_memory() {
    // 40 MB without a newline: netwc must not hold it whole.
    let words = 7_000_000;
    let mut text = String::with_capacity(words * 6);
    for i in 0..words {
        text.push_str(&format!("w{} ", i % 1000));
    }
    let size_kib = text.len() as u64 / 1024;
    let feeder = Feeder::start(text.into_bytes(), 1 << 20, Duration::ZERO);
    let mut child = Netwc::new()
        .args(["127.0.0.1", &feeder.port.to_string(), "--format", "tsv"])
        .stderr_null()
        .spawn();
    let stdout = child.stdout_text();
    let peak_kib = child.wait_with_peak_rss();
    let status = child.status_within(RUN_LIMIT);
    feeder.join();
    assert!(status.success(), "{status}");
    let totals = totals(&parse_tsv(&stdout.join().unwrap()));
    assert_eq!(totals.len(), 1000);
    assert!(
        totals.values().all(|&c| c == 7_000),
        "every word 7,000 times"
    );
    assert!(
        peak_kib < size_kib,
        "peak RSS {peak_kib} KiB while the line is {size_kib} KiB"
    );
}

#[test]
fn a_word_longer_than_the_limit_is_cut_warned_once_and_counted() {
    let long = "x".repeat(10 << 20);
    let text = format!("a {long} b\n{long}\nc");
    let dir = TempDir::new("long-word");
    let file = dir.write("input.txt", text.as_bytes());
    let output = Netwc::new()
        .arg("--file")
        .arg(&file)
        .args(["--batch-lines", "10", "--format", "tsv", "--stats"])
        .output();
    let stdout = stdout_of(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let counts = totals(&parse_tsv(&stdout));
    let cut = "x".repeat(netwc::parts::MAX_PENDING);
    let expected: Counts = [("a", 1), ("b", 1), ("c", 1), (cut.as_str(), 2)]
        .into_iter()
        .map(|(w, c)| (w.to_string(), c))
        .collect();
    assert_eq!(counts, expected);
    assert_eq!(
        stderr.matches("warning: a word longer than").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains(" cut=2 "), "{stderr}");
}

#[test]
fn a_connection_reset_mid_line_counts_what_arrived() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"p q\nr s").unwrap();
        // netwc has read what was sent.
        wait_read(port);
        // SO_LINGER 0: closing sends a reset instead of a clean end.
        rustix::net::sockopt::set_socket_linger(&stream, Some(Duration::ZERO)).unwrap();
    });
    let output = Netwc::new()
        .args(["127.0.0.1", &port.to_string(), "--format", "tsv"])
        .output();
    server.join().unwrap();
    assert_eq!(
        totals(&parse_tsv(&stdout_of(&output))),
        oracle_totals("p q\nr s")
    );
}

#[test]
fn an_idle_producer_holds_nothing_back() {
    let port = free_port();
    let mut child = Netwc::new()
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--batch",
            "50ms",
            "--format",
            "jsonl",
        ])
        .spawn();
    let lines = child.stderr_lines();
    wait_listening(port);
    // One producer connects and says nothing; another sends and leaves.
    let idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut busy = TcpStream::connect(("127.0.0.1", port)).unwrap();
    busy.write_all(b"hello idle world\n").unwrap();
    drop(busy);
    wait_for(&lines, "closed", 1);
    // Deliberately a sleep: batches keep coming for a second while a producer idles, which is
    // what is checked.
    std::thread::sleep(Duration::from_millis(1_000));
    child.signal("TERM");
    let output = child.output_within(Duration::from_secs(20));
    drop(idle);
    let stdout = stdout_of(&output);
    assert!(
        stdout.lines().count() >= 15,
        "batches kept coming: {stdout}"
    );
    assert_eq!(stdout.matches("\"word\":\"idle\"").count(), 1);
}

#[test]
fn a_flood_into_a_slow_reader_is_counted_exactly_in_bounded_memory() {
    // Far more text than netwc prints quickly, into a stdout read slowly: netwc must read
    // slower (backpressure), not buffer without bound or drop anything.
    let text = zipf_text(99, 60_000, 10, 5_000);
    let expected = oracle_totals(&text);
    let feeder = Feeder::start(text.into_bytes(), 1 << 16, Duration::ZERO);
    let mut child = Netwc::new()
        .args([
            "127.0.0.1",
            &feeder.port.to_string(),
            "--batch",
            "20ms",
            "--format",
            "tsv",
        ])
        .stderr_null()
        .spawn();
    let mut stdout = child.stdout();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4 * 1024];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
            // Deliberately a sleep: the slow reader's pace.
            std::thread::sleep(Duration::from_millis(2));
        }
        all
    });
    let peak = child.wait_with_peak_rss();
    feeder.join();
    let out = String::from_utf8(reader.join().unwrap()).unwrap();
    assert_eq!(totals(&parse_tsv(&out)), expected);
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn many_producers_holding_open_lines_of_new_words_are_counted_exactly() {
    let port = free_port();
    let dir = TempDir::new("open-lines");
    let out = dir.path("out.tsv");
    let mut child = Netwc::new()
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--batch",
            "100ms",
            "--format",
            "tsv",
            "-o",
            out.to_str().unwrap(),
        ])
        .spawn();
    wait_listening(port);
    // 200 producers, each 0.5 MB of distinct words in one line that stays open: 100 MB of
    // waiting words in all, far more than a worker keeps (32 MiB), so some lines' counts go in
    // before their ends. (Every producer sends the same words, so that the oracle stays small.)
    let (producers, pieces, words) = (200, 50, 1_000);
    let piece: Vec<u8> = (0..words)
        .map(|j| format!("x{j:04}"))
        .collect::<Vec<_>>()
        .join(" ")
        .into_bytes();
    let senders: Vec<_> = (0..producers)
        .map(|_| {
            let piece = piece.clone();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                stream
                    .set_write_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let mut sent = 0;
                for k in 0..pieces {
                    // Word `x{j}` of piece k is `w{k}x{j}`: distinct within the line.
                    let text: Vec<u8> = piece
                        .split(|&b| b == b' ')
                        .flat_map(|word| {
                            format!("w{k}{} ", String::from_utf8_lossy(word)).into_bytes()
                        })
                        .collect();
                    stream.write_all(&text).unwrap();
                    sent += text.len() as u64;
                }
                (stream, sent)
            })
        })
        .collect();
    let (streams, sent): (Vec<TcpStream>, Vec<u64>) =
        senders.into_iter().map(|s| s.join().unwrap()).unzip();
    // netwc has read more than 32 MiB of the open lines (what was sent less what is still
    // queued on the port): their waiting counts, which take more room than their text, are past
    // a worker's budget.
    let sent: u64 = sent.iter().sum();
    let start = std::time::Instant::now();
    loop {
        let queued: u64 = queues_on(port).iter().map(|(out, into)| out + into).sum();
        if sent.saturating_sub(queued) > 32 << 20 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "netwc read {} of {sent} bytes",
            sent.saturating_sub(queued)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let peak_while_open = peak_rss_kib(child.pid()).unwrap_or(0);
    for mut stream in streams {
        stream.write_all(b"last\n").unwrap();
    }
    // Every line's end counted (the producers stay connected; a stop counts only what was read).
    let start = std::time::Instant::now();
    // The file is read while netwc writes it: only its complete rows.
    let written = || {
        let text = read(&out);
        match text.rfind('\n') {
            Some(end) => totals(&parse_tsv(&text[..end + 1])),
            None => Default::default(),
        }
    };
    while written().get("last") != Some(&(producers as i64)) {
        assert!(
            start.elapsed() < RUN_LIMIT,
            "the lines' ends were not all counted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.signal("TERM");
    let peak = peak_rss_kib(child.pid()).unwrap_or(0).max(peak_while_open);
    assert_eq!(child.status_within(RUN_LIMIT).code(), Some(0));
    let mut counted = totals(&parse_tsv(&read(&out)));
    assert_eq!(counted.remove("last"), Some(producers as i64));
    assert_eq!(counted.len(), pieces * words);
    assert!(counted.values().all(|&count| count == producers as i64));
    // README's budget for what waits: 256 KiB per reader, 32 MiB of waiting counts per worker.
    assert!(peak < 256 << 10, "peak RSS {peak} KiB");
}

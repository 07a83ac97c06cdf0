//! A small text server for trying netwc without `nc`: it listens on a loopback port and sends
//! every client lines of Zipf-distributed words at a steady rate, like `--demo` does inside
//! netwc.
//!
//! ```sh
//! cargo run --release --example feeder -- 9999 5000   # port, lines per second
//! cargo run --release -- localhost 9999               # in another terminal
//! ```

use std::io::{BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use netwc::parts::{Zipf, VOCABULARY};

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(9999);
    let lines_per_sec: u64 = args.next().and_then(|r| r.parse().ok()).unwrap_or(2_000);
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
        eprintln!("feeder: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1);
    });
    eprintln!("feeder: on 127.0.0.1:{port}, {lines_per_sec} lines/s to each client");
    for (client, stream) in listener.incoming().flatten().enumerate() {
        std::thread::spawn(move || {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            eprintln!("feeder: {peer} connected");
            let _ = feed(stream, lines_per_sec, client as u64);
            eprintln!("feeder: {peer} left");
        });
    }
}

/// Sends 8-word lines in ticks of 10 ms until the client goes away.
fn feed(stream: TcpStream, lines_per_sec: u64, seed: u64) -> std::io::Result<()> {
    let mut out = BufWriter::new(stream);
    let mut zipf = Zipf::new(VOCABULARY.len(), seed);
    let tick = Duration::from_millis(10);
    let per_tick = (lines_per_sec / 100).max(1);
    let mut next = Instant::now();
    loop {
        for _ in 0..per_tick {
            let line: Vec<&str> = (0..8).map(|_| VOCABULARY[zipf.sample()]).collect();
            writeln!(out, "{}", line.join(" "))?;
        }
        out.flush()?;
        next += tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

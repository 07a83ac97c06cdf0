//! The broker the tests read from, and the object store that keeps its topics across a restart.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// A broker on a free loopback port, stopped when dropped.
pub(super) struct Broker {
    pub(super) child: Child,
    pub(super) address: String,
    port: u16,
    /// Where it keeps its topics when they outlive the broker (else in its memory).
    store: Option<ObjectStore>,
}

impl Broker {
    /// A broker that keeps its topics in memory: they end with it.
    pub(super) fn start() -> Broker {
        let port = free_port();
        Broker {
            child: Broker::spawn(port, None),
            address: format!("127.0.0.1:{port}"),
            port,
            store: None,
        }
    }

    /// A broker that keeps its topics in an S3 bucket served on loopback, so that they
    /// outlive a restart of the broker, as a Kafka broker's log on disk does.
    pub(super) fn start_durable() -> Broker {
        let store = ObjectStore::start();
        let port = free_port();
        Broker {
            child: Broker::spawn(port, Some(&store)),
            address: format!("127.0.0.1:{port}"),
            port,
            store: Some(store),
        }
    }

    /// Kills the broker (SIGKILL), waits `down`, and starts it again on the same port.
    pub(super) fn restart(&mut self, down: Duration) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::thread::sleep(down);
        self.child = Broker::spawn(self.port, self.store.as_ref());
    }

    fn spawn(port: u16, store: Option<&ObjectStore>) -> Child {
        let binary = std::env::var("NETWC_TANSU").unwrap_or_else(|_| "tansu".into());
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(&binary);
        command.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ]);
        match store {
            None => command.args(["--storage-engine", "memory://tansu/"]),
            Some(store) => command
                .args([
                    "--storage-engine",
                    &format!("s3://{}/", ObjectStore::BUCKET),
                ])
                .env("AWS_ENDPOINT", format!("http://127.0.0.1:{}", store.port))
                .env("AWS_ALLOW_HTTP", "true")
                .env("AWS_ACCESS_KEY_ID", "netwc")
                .env("AWS_SECRET_ACCESS_KEY", "netwc")
                .env("AWS_DEFAULT_REGION", "us-east-1"),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("the Kafka tests need Tansu ({binary}: {e}); .ci/run installs it, or set NETWC_TANSU")
            });
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the broker does not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// Sends `text` to `topic`, line i to partition i mod `partitions` (creating the topic
    /// with that many partitions if `create`).
    pub(super) fn produce(&self, topic: &str, partitions: usize, create: bool, text: &str) {
        self.producer(topic, partitions, &[create.then_some("--create")], text);
    }

    /// Sends records as `-o kafka://` writes them, one a line of `text`
    /// (`BATCH<tab>KEY<tab>VALUE`), each in its key's partition of `topic`'s `partitions`.
    pub(super) fn produce_keyed(&self, topic: &str, partitions: usize, text: &str) {
        self.producer(topic, partitions, &[Some("--keyed")], text);
    }

    fn producer(&self, topic: &str, partitions: usize, flags: &[Option<&str>], text: &str) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_netwc-produce"));
        command
            .args([
                &self.address,
                topic,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(flags.iter().flatten())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = wait_output(child, Duration::from_secs(30));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An S3 server on a free loopback port (moto's, from PyPI: `NETWC_MOTO_PYTHONPATH` names where
/// it is installed; `.ci/run` installs it) with one empty bucket, stopped when dropped.
pub(super) struct ObjectStore {
    pub(super) child: Child,
    port: u16,
}

impl ObjectStore {
    const BUCKET: &'static str = "tansu";

    fn start() -> ObjectStore {
        let port = free_port();
        let mut command = Command::new("python3");
        command.args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ]);
        if let Ok(path) = std::env::var("NETWC_MOTO_PYTHONPATH") {
            command.env("PYTHONPATH", path);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut answer = String::new();
        // Creates the bucket, as soon as the server listens (the store takes unsigned requests).
        while !answer.starts_with("HTTP/1.1 200") {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("this test needs moto's S3 server ({status}); .ci/run installs it, or set NETWC_MOTO_PYTHONPATH");
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the S3 server does not answer: {answer}"
            );
            std::thread::sleep(Duration::from_millis(50));
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let bucket = ObjectStore::BUCKET;
                let _ = write!(
                    stream,
                    "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                answer.clear();
                let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
            }
        }
        ObjectStore { child, port }
    }
}

impl Drop for ObjectStore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

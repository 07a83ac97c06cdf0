//! The Kafka benchmarks' broker: Tansu (`NETWC_TANSU`, else `tansu` on the PATH) on a free
//! loopback port, its topics in memory, stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The broker's process and its `host:port`.
pub struct Broker(pub Child, pub String);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a broker and waits until it listens.
pub fn broker() -> Broker {
    let binary = std::env::var("NETWC_TANSU").unwrap_or_else(|_| "tansu".into());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(&binary)
        .args(["broker", "--listener-url", &url])
        .args(["--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("this benchmark needs Tansu ({binary}: {e}); set NETWC_TANSU"));
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    Broker(child, format!("127.0.0.1:{port}"))
}

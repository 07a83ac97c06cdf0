//! `--reconnect`: a text server that is absent, or that closes, is retried every
//! `--retry-delay`, as Spark's receiver does, while the job keeps running and reporting
//! (empty) batches. Each connection has its own framer, so its partial last line is counted
//! when it closes.

use std::net::TcpStream;
use std::time::Duration;

use super::{pump, Event, LineFramer, Sender};
use crate::config::SplitRule;
use crate::duration::format_millis;
use crate::error::Error;
use crate::log::Repeats;

/// Starts the connect-read-retry loop on a thread of its own; it runs until the process ends.
pub(crate) fn start(
    host: String,
    port: u16,
    split: SplitRule,
    retry: Duration,
    sender: Sender,
) -> Result<(), Error> {
    std::thread::Builder::new()
        .name("netwc:reconnect".into())
        .spawn(move || {
            let delay = format_millis(retry.as_millis() as u64);
            let mut log = Repeats::default();
            loop {
                match TcpStream::connect((host.as_str(), port)) {
                    Ok(stream) => {
                        log.line(format!("connected to {host}:{port}"));
                        let end = pump(stream, LineFramer::new(split), &sender);
                        log.line(match end {
                            Event::Failed(why) => {
                                format!("{host}:{port}: {why}; reconnecting in {delay} (--reconnect)")
                            }
                            _ => format!(
                                "{host}:{port} closed the connection; reconnecting in {delay} (--reconnect)"
                            ),
                        });
                    }
                    Err(e) => log.line(format!(
                        "could not connect to {host}:{port}: {e}; retrying in {delay} (--reconnect)"
                    )),
                }
                std::thread::sleep(retry);
            }
        })
        .map_err(|e| Error::runtime(format!("could not start the reader thread: {e}")))?;
    Ok(())
}

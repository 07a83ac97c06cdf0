//! `--listen ADDR`: netwc is the server, and any number of producers connect, send lines and
//! leave. Each connection has its own reader thread and framer, so lines never interleave
//! mid-line, and a connection's partial last line is counted when it closes.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{pump, Event, LineFramer, Sender};
use crate::config::SplitRule;
use crate::error::Error;
use crate::log::Repeats;

/// Binds `address` and accepts up to `max_connections` producers at once on a thread of its
/// own, until the process exits.
pub(crate) fn start(
    address: &str,
    split: SplitRule,
    max_connections: usize,
    sender: Sender,
) -> Result<(), Error> {
    let listener = TcpListener::bind(address).map_err(|e| {
        Error::runtime(format!(
            "cannot listen on {address}: {e} (expected a free local address such as 127.0.0.1:9999)"
        ))
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::runtime(e.to_string()))?;
    log!("listening on {bound}; producers may connect and send lines");
    std::thread::Builder::new()
        .name("netwc:listen".into())
        .spawn(move || accept_loop(listener, split, max_connections, sender))
        .map_err(|e| Error::runtime(format!("could not start the listener thread: {e}")))?;
    Ok(())
}

/// Accepts producers, at most `max_connections` at once: past that (or out of descriptors) a
/// connection is refused and said in the log, a few times a burst, never the job's end.
fn accept_loop(listener: TcpListener, split: SplitRule, max_connections: usize, sender: Sender) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut said = Repeats::default();
    for connection in listener.incoming() {
        match connection {
            Ok(stream) => {
                if active.load(Ordering::Acquire) >= max_connections {
                    // Closed before a byte is read: the producer sees the refusal at once.
                    drop(stream);
                    said.line(format!(
                        "refused a producer: {max_connections} producers are connected, the most this process accepts at once (--max-connections, and the descriptor limit)"
                    ));
                    continue;
                }
                active.fetch_add(1, Ordering::AcqRel);
                let sender = sender.clone();
                let slot = active.clone();
                let spawned = std::thread::Builder::new()
                    .name("netwc:producer".into())
                    .spawn(move || {
                        serve(stream, split, sender);
                        slot.fetch_sub(1, Ordering::AcqRel);
                    });
                if let Err(e) = spawned {
                    active.fetch_sub(1, Ordering::AcqRel);
                    log!("could not start a thread for a producer: {e}");
                }
            }
            Err(e) => {
                said.line(format!("accepting a producer failed: {e}"));
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

fn serve(stream: TcpStream, split: SplitRule, sender: Sender) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "a producer".into());
    log!("{peer} connected");
    match pump(stream, LineFramer::new(split), &sender) {
        Event::Failed(why) => log!("{peer}: {why}"),
        _ => log!("{peer} closed"),
    }
}

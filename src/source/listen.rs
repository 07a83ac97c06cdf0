//! `--listen ADDR`: netwc is the server, and any number of producers connect, send lines and
//! leave. Each connection has its own reader thread and framer, so lines never interleave
//! mid-line, and a connection's partial last line is counted when it closes.

use std::net::{TcpListener, TcpStream};

use super::{pump, Event, LineFramer, Sender};
use crate::config::SplitRule;
use crate::error::Error;

/// Binds `address` and accepts producers on a thread of its own, until the process exits.
pub(crate) fn start(address: &str, split: SplitRule, sender: Sender) -> Result<(), Error> {
    let listener = TcpListener::bind(address).map_err(|e| {
        Error::runtime(format!(
            "cannot listen on {address}: {e} (expected a free local address such as 127.0.0.1:9999)"
        ))
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::runtime(e.to_string()))?;
    crate::log!("listening on {bound}; producers may connect and send lines");
    std::thread::Builder::new()
        .name("netwc:listen".into())
        .spawn(move || accept_loop(listener, split, sender))
        .map_err(|e| Error::runtime(format!("could not start the listener thread: {e}")))?;
    Ok(())
}

fn accept_loop(listener: TcpListener, split: SplitRule, sender: Sender) {
    for connection in listener.incoming() {
        match connection {
            Ok(stream) => {
                let sender = sender.clone();
                let spawned = std::thread::Builder::new()
                    .name("netwc:producer".into())
                    .spawn(move || serve(stream, split, sender));
                if let Err(e) = spawned {
                    crate::log!("could not start a thread for a producer: {e}");
                }
            }
            Err(e) => {
                crate::log!("accepting a producer failed: {e}");
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
    crate::log!("{peer} connected");
    match pump(stream, LineFramer::new(split), &sender) {
        Event::Failed(why) => crate::log!("{peer}: {why}"),
        _ => crate::log!("{peer} closed"),
    }
}

//! `--ui ADDR`: a live view of the job over HTTP, in the spirit of Spark's Streaming tab.
//!
//! - `GET /`: one self-contained page (its script, styles and the vendored uPlot chart library
//!   are inlined; nothing is fetched from elsewhere) that polls the two endpoints below;
//! - `GET /api/batches`: the recent batches, newest first, as JSON;
//! - `GET /metrics`: Prometheus's text format, from [`Metrics`];
//! - anything else: 404.
//!
//! The server runs on threads of its own (`tiny_http` accepts and parses, with a thread per
//! connection; each answer is written on a short-lived thread, at most [`MAX_RESPONDERS`] full
//! answers at once), and only reads what the reporter publishes: a slow or stuck client delays
//! nobody else and never a batch. It has no limit on connections of its own: serve it where
//! its clients are trusted (loopback by default).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tiny_http::{Header, Request, Response, Server};

use crate::config::{Batching, Config, Source};
use crate::duration::format_millis;
use crate::error::Error;
use crate::metrics::Metrics;

/// Full answers written at once; more requests meanwhile get 503.
pub const MAX_RESPONDERS: usize = 32;

const PAGE: &str = include_str!("../assets/ui/index.html");
const UPLOT_JS: &str = include_str!("../assets/ui/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/ui/uPlot.min.css");
const APP_JS: &str = include_str!("../assets/ui/app.js");

/// What the page shows of the job besides its batches.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// netwc's version.
    pub version: &'static str,
    /// When the job started, in Unix ms.
    pub started_ms: u64,
    /// The batch interval, or `None` with line batches.
    pub batch_ms: Option<u64>,
    /// The settings, by flag, as the command line spelled them.
    pub settings: std::collections::BTreeMap<String, String>,
}

impl Job {
    /// The job `config` describes, starting now.
    pub fn of(config: &Config) -> Job {
        let mut settings = std::collections::BTreeMap::new();
        let mut set = |name: &str, value: String| settings.insert(name.to_string(), value);
        set(
            "source",
            match &config.source {
                Source::Connect { host, port } => format!("{host} {port}"),
                Source::Listen(address) => format!("--listen {address}"),
                Source::Stdin => "--stdin".into(),
                Source::File(path) => format!("--file {}", path.display()),
                Source::Demo => "--demo".into(),
            },
        );
        let batch_ms = match config.batching {
            Batching::Time { interval_ms } => {
                set("--batch", format_millis(interval_ms));
                Some(interval_ms)
            }
            Batching::Lines { per_batch } => {
                set("--batch-lines", per_batch.to_string());
                None
            }
        };
        set(
            "--mode",
            crate::settings::mode_words(config.mode, config.batching),
        );
        set("--workers", config.workers.to_string());
        set("--processes", config.cluster.processes.to_string());
        set(
            "--top",
            config.top.map_or("all".into(), |top| top.to_string()),
        );
        set("--split", crate::settings::split_words(config.split).into());
        set(
            "--checkpoint",
            config
                .checkpoint
                .as_ref()
                .map_or("off".into(), |d| d.display().to_string()),
        );
        Job {
            version: env!("CARGO_PKG_VERSION"),
            started_ms: crate::batching::unix_micros() / 1000,
            batch_ms,
            settings,
        }
    }
}

/// Starts serving on `address`; returns the address it listens on (a port 0 is chosen by the
/// system).
pub fn serve(address: &str, metrics: Arc<Metrics>, job: &Job) -> Result<SocketAddr, Error> {
    let server = Server::http(address).map_err(|e| {
        Error::runtime(format!(
            "cannot serve --ui on {address}: {e} (expected a free address such as 127.0.0.1:4040)"
        ))
    })?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| Error::runtime(format!("--ui {address} is not an IP address")))?;
    let page: Arc<str> = page(job).into();
    let busy = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("netwc:ui".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                // Every answer is written on a thread of its own, so that a client that does
                // not read stalls nobody else; past MAX_RESPONDERS full answers at once, the
                // others get a short 503.
                let full = busy.fetch_add(1, Ordering::AcqRel) < MAX_RESPONDERS;
                let (metrics, page, done) = (metrics.clone(), page.clone(), busy.clone());
                let spawned = std::thread::Builder::new()
                    .name("netwc:ui-response".into())
                    .spawn(move || {
                        if full {
                            respond(request, &metrics, &page);
                        } else {
                            let busy = Response::from_string("busy\n").with_status_code(503);
                            let _ = request.respond(busy);
                        }
                        done.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    // The request went with the closure; its client sees the connection close.
                    busy.fetch_sub(1, Ordering::AcqRel);
                    log!("the live view could not start a thread for a request");
                }
            }
        })
        .map_err(|e| Error::runtime(format!("could not start the --ui thread: {e}")))?;
    Ok(bound)
}

/// The page with its scripts, styles and the job inlined.
fn page(job: &Job) -> String {
    let job = serde_json::to_string(job).expect("the job serializes");
    // `</script>` inside the script element would end it early: no `<` at all, as JSON allows.
    let job = job.replace('<', "\\u003c");
    PAGE.replacen("/*{{UPLOT_CSS}}*/", UPLOT_CSS, 1)
        .replacen("/*{{UPLOT_JS}}*/", UPLOT_JS, 1)
        .replacen("/*{{APP_JS}}*/", APP_JS, 1)
        .replacen("{{JOB_JSON}}", &job, 1)
}

fn respond(request: Request, metrics: &Metrics, page: &str) {
    let get = *request.method() == tiny_http::Method::Get;
    let path = request.url().split('?').next().unwrap_or("");
    let (status, content_type, body) = match (get, path) {
        (true, "/") => (200, "text/html; charset=utf-8", page.to_string()),
        (true, "/api/batches") => (
            200,
            "application/json",
            serde_json::to_string(&metrics.recent()).expect("batches serialize"),
        ),
        (true, "/metrics") => (
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.prometheus_text(),
        ),
        _ => (404, "text/plain; charset=utf-8", "not found\n".to_string()),
    };
    let header = Header::from_bytes("Content-Type", content_type).expect("a valid header");
    let no_store = Header::from_bytes("Cache-Control", "no-store").expect("a valid header");
    let response = Response::from_string(body)
        .with_status_code(status)
        .with_header(header)
        .with_header(no_store);
    // A client that went away is no error of the job's.
    let _ = request.respond(response);
}

/// `--ui` takes `HOST:PORT` or a bare `PORT` (on loopback).
pub fn address_of(text: &str) -> Result<String, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(format!("127.0.0.1:{port}"));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(text.into()),
        _ => Err(format!(
            "'{text}' is not an address: expected HOST:PORT (e.g. 127.0.0.1:4040) or a bare PORT (4040, on 127.0.0.1)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_and_port_or_a_bare_port() {
        assert_eq!(address_of("4040").unwrap(), "127.0.0.1:4040");
        assert_eq!(address_of("0.0.0.0:80").unwrap(), "0.0.0.0:80");
        assert!(address_of("localhost").unwrap_err().contains("HOST:PORT"));
        assert!(address_of(":80").is_err());
        assert!(address_of("99999").is_err());
    }

    #[test]
    fn the_page_has_everything_inlined() {
        let job = Job {
            version: "0.0.0",
            started_ms: 1,
            batch_ms: Some(1000),
            settings: [("--mode".to_string(), "batch</script>".to_string())].into(),
        };
        let page = page(&job);
        assert!(!page.contains("{{"), "every marker is replaced");
        assert!(page.contains("uPlot"));
        assert!(page.contains(r#""--mode":"batch\u003c/script>""#));
    }
}

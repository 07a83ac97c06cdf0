//! `--ui ADDR`: a live view of the job over HTTP, in the spirit of Spark's Streaming tab.
//!
//! - `GET /`: one self-contained page (its script, styles and the vendored uPlot chart library
//!   are inlined; nothing is fetched from elsewhere) that polls the two endpoints below;
//! - `GET /api/batches[?limit=N]`: the recent batches, newest first, as JSON;
//! - `GET /metrics`: Prometheus's text format, from [`Metrics`];
//! - `HEAD` of each answers as `GET` without the body; anything else: 404.
//!
//! Anyone who can reach the port may be hostile, so the server is built to cost the job
//! nothing whatever its clients do. It is hyper's HTTP/1 server on a one-thread tokio runtime
//! of its own (one thread, however many clients: a request is a task, not a thread), with at
//! most [`MAX_CONNECTIONS`] connections (past that a new one takes the slot of a client that
//! has sent no whole request, so slow clients cannot starve a scrape),
//! request headers of at most [`MAX_REQUEST_BYTES`], a deadline for a request's headers and a
//! lifetime for each connection (so a client that never reads holds its slot for a while, not
//! for ever), and pipelined requests answered one after another on their connection. It only
//! reads what the reporter publishes; answers are cut from records serialized once per batch,
//! with words cut to 64 bytes. A panic while answering ends that connection, not the job.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::config::{Batching, Config, Source};
use crate::duration::format_millis;
use crate::error::Error;
use crate::metrics::Metrics;

/// Connections served at once, at most (fewer under a tight descriptor limit: see
/// `descriptors`). Past the bound a new connection takes the slot of the oldest one that has
/// not sent a whole request yet (a slow or silent client), else of the oldest one.
pub const MAX_CONNECTIONS: usize = 64;

/// The most bytes of a request's line and headers (hyper's read buffer).
pub const MAX_REQUEST_BYTES: usize = 16 << 10;

/// How long a request's headers may take to arrive.
const HEADER_DEADLINE: Duration = Duration::from_secs(5);

/// How long one connection is served, however busy: a client that stops reading its answers
/// holds its slot this long at most (the page opens a new connection when one closes).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

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
                Source::Watch(watch) => format!("--watch {}", watch.dir.display()),
                Source::Kafka(kafka) => {
                    format!(
                        "--kafka {} --topic {}",
                        kafka.brokers.join(","),
                        kafka.topics.join(",")
                    )
                }
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
pub fn serve(
    address: &str,
    slots: usize,
    metrics: Arc<Metrics>,
    job: &Job,
) -> Result<SocketAddr, Error> {
    let cannot = |e: std::io::Error| {
        Error::runtime(format!(
            "cannot serve --ui on {address}: {e} (expected a free address such as 127.0.0.1:4040)"
        ))
    };
    let listener = std::net::TcpListener::bind(address).map_err(cannot)?;
    listener.set_nonblocking(true).map_err(cannot)?;
    let bound = listener.local_addr().map_err(cannot)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::runtime(format!("could not start the --ui server: {e}")))?;
    let page = Bytes::from(page(job));
    std::thread::Builder::new()
        .name("netwc:ui".into())
        .spawn(move || runtime.block_on(accept_loop(listener, slots, metrics, page)))
        .map_err(|e| Error::runtime(format!("could not start the --ui thread: {e}")))?;
    Ok(bound)
}

/// Accepts connections for ever, serving at most `slots` at once.
async fn accept_loop(
    listener: std::net::TcpListener,
    slots: usize,
    metrics: Arc<Metrics>,
    page: Bytes,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            log!("the live view stopped: {e}");
            return;
        }
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_DEADLINE)
        .max_buf_size(MAX_REQUEST_BYTES);
    let mut served = Served::new(slots.max(1));
    let mut warned = false;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, say: the job's own needs come first; try again soon.
                if !std::mem::replace(&mut warned, true) {
                    log!("the live view cannot accept a connection: {e}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if served.make_room() {
            // The closed connection's task ends (and its descriptor is given back) before
            // the next is accepted: a flood of connections cannot pile up descriptors.
            tokio::task::yield_now().await;
        }
        let heard = Arc::new(AtomicBool::new(false));
        let (metrics, page, asked) = (metrics.clone(), page.clone(), heard.clone());
        let service = hyper::service::service_fn(move |request| {
            asked.store(true, Ordering::Relaxed);
            let answer = answer(&request, &metrics, &page);
            async move { Ok::<_, Infallible>(answer) }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let task = tokio::spawn(async move {
            // A client that went away, sent too much or too slowly is no error of the job's.
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
        });
        served.push(heard, task.abort_handle());
    }
}

/// The connections being served, oldest first.
struct Served {
    slots: usize,
    connections: std::collections::VecDeque<(Arc<AtomicBool>, tokio::task::AbortHandle)>,
}

impl Served {
    fn new(slots: usize) -> Served {
        Served {
            slots,
            connections: Default::default(),
        }
    }

    /// Frees a slot for a new connection: the oldest that has sent no whole request yet
    /// (slow or silent) is closed, else the oldest (a page reconnects by itself), so that a
    /// scrape is answered however many clients hold connections open.
    /// True if a connection was closed for the new one.
    fn make_room(&mut self) -> bool {
        self.connections.retain(|(_, task)| !task.is_finished());
        if self.connections.len() < self.slots {
            return false;
        }
        let silent = self
            .connections
            .iter()
            .position(|(heard, _)| !heard.load(Ordering::Relaxed))
            .unwrap_or(0);
        if let Some((_, task)) = self.connections.remove(silent) {
            task.abort();
        }
        true
    }

    fn push(&mut self, heard: Arc<AtomicBool>, task: tokio::task::AbortHandle) {
        self.connections.push_back((heard, task));
    }
}

/// The answer to one request (`HEAD` as `GET`: hyper leaves the body out).
fn answer(request: &Request<Incoming>, metrics: &Metrics, page: &Bytes) -> Response<Full<Bytes>> {
    let readable = matches!(*request.method(), Method::GET | Method::HEAD);
    let (status, content_type, body) = match (readable, request.uri().path()) {
        (true, "/") => (StatusCode::OK, "text/html; charset=utf-8", page.clone()),
        (true, "/api/batches") => {
            let limit = limit_of(request.uri().query());
            (
                StatusCode::OK,
                "application/json",
                Bytes::from(metrics.recent_json(limit)),
            )
        }
        (true, "/metrics") => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Bytes::from(metrics.prometheus_text()),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"not found\n"),
        ),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `limit=N` of a query: how many of the recent batches to answer with (all when absent or
/// not a number).
fn limit_of(query: Option<&str>) -> Option<usize> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("limit="))
        .and_then(|n| n.parse().ok())
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
    fn a_limit_is_read_from_the_query() {
        assert_eq!(limit_of(Some("limit=5")), Some(5));
        assert_eq!(limit_of(Some("a=1&limit=20")), Some(20));
        assert_eq!(limit_of(Some("limit=x")), None);
        assert_eq!(limit_of(None), None);
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

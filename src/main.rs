//! The `netwc` command: parse the command line, run the job, map the outcome to an exit code
//! (0 success, 1 runtime failure, 2 usage error, 130 interrupted by a second signal).

use clap::{CommandFactory, Parser};

use netwc::cli::Args;
use netwc::{Config, ProcessEffects};

/// The allocator: jemalloc, which gives memory that netwc frees back to the system (glibc's
/// malloc kept tens of MiB of a burst's freed pages in its arenas), so that a burst of fresh
/// words that has left the window leaves no lasting mark (SPEC 7; `cargo bench --bench memory`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read by jemalloc from this symbol at start (its documented
/// `malloc_conf`, named with the `_rjem_` prefix of the `tikv-jemalloc-sys` build; the variable
/// `_RJEM_MALLOC_CONF` overrides it at run time): a background thread gives dirty pages back to
/// the system after about a second, skipping the "muzzy" stage (jemalloc's default is 10 s, and
/// only when the program allocates again, so an idle netwc would keep a burst's pages).
#[cfg(not(target_env = "msvc"))]
// An exported symbol is `unsafe_code` to the compiler; this one is the allocator's own hook.
#[allow(unsafe_code)]
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: Option<&'static u8> =
    Some(&b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0]);

fn main() {
    // A panicking worker would leave its siblings waiting on its frontier forever: end the
    // whole process instead, as a runtime failure. In a cluster, timely's network threads
    // panic when a peer process goes away: say which one, without a backtrace.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("");
        if name == "netwc:ui" {
            // The live view's runtime ends the connection whose answer panicked; the job goes
            // on, whatever a client sent.
            netwc::log::line(format_args!("the live view dropped a connection: {info}"));
            return;
        }
        match name
            .strip_prefix("timely:recv-")
            .or_else(|| name.strip_prefix("timely:send-"))
        {
            Some(peer) => netwc::log::line(format_args!(
                "error: lost the connection to process {peer} of the cluster: it stopped or cannot be reached; stopping too"
            )),
            None => default_hook(info),
        }
        std::process::exit(1);
    }));

    let args = Args::parse();
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(e) => {
            let kind = if e.conflict {
                clap::error::ErrorKind::ArgumentConflict
            } else {
                clap::error::ErrorKind::InvalidValue
            };
            Args::command().error(kind, e.message).exit();
        }
    };
    let outcome = ProcessEffects::install(&config).and_then(|effects| netwc::run(config, effects));
    match outcome {
        Ok(Some(summary)) if !summary.output_closed => netwc::log::line(format_args!("{summary}")),
        Ok(_) => {}
        Err(error) => {
            netwc::log::line(format_args!("error: {error}"));
            std::process::exit(error.exit_code());
        }
    }
}

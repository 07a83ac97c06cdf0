//! The `netwc` command: parse the command line, run the job, map the outcome to an exit code
//! (0 success, 1 runtime failure, 2 usage error, 130 interrupted by a second signal).

use clap::{CommandFactory, Parser};

use netwc::cli::Args;
use netwc::Config;

/// The allocator: jemalloc, which gives memory that netwc frees back to the system (see
/// `.cargo/config.toml` for how promptly), so that a burst leaves no lasting mark.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    // A panicking worker would leave its siblings waiting on its frontier forever: end the
    // whole process instead, as a runtime failure. In a cluster, timely's network threads
    // panic when a peer process goes away: say which one, without a backtrace.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("");
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
    match netwc::run(config) {
        Ok(Some(summary)) if !summary.output_closed => netwc::log::line(format_args!("{summary}")),
        Ok(_) => {}
        Err(error) => {
            netwc::log::line(format_args!("error: {error}"));
            std::process::exit(error.exit_code());
        }
    }
}

//! The `netwc` command: parse the command line, run the job, map the outcome to an exit code
//! (0 success, 1 runtime failure, 2 usage error, 130 interrupted by a second signal).

use clap::{CommandFactory, Parser};

use netwc::cli::Args;
use netwc::{Config, Error};

fn main() {
    // A panicking worker would leave its siblings waiting on its frontier forever: end the
    // whole process instead, as a runtime failure.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
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
        Ok(summary) => {
            if !summary.output_closed {
                netwc::log!("{summary}");
            }
        }
        Err(error) => {
            netwc::log!("error: {error}");
            std::process::exit(match error {
                Error::Usage(_) => 2,
                Error::Runtime(_) => 1,
            });
        }
    }
}

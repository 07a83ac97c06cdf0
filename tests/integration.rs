//! End-to-end tests of the `netwc` binary: real files, real loopback sockets, the real `nc`,
//! real signals. Every count is checked against an independent oracle (a plain `HashMap` count
//! of the same input), at several worker counts.

mod util;

mod checkpoint;
mod cli;
mod cluster;
mod damage;
mod ids;
#[cfg(feature = "kafka")]
mod kafka;
mod kill_restarts;
mod live_view;
mod log_bound;
mod modes;
mod oracle;
mod reliability;
mod restarts;
mod robustness;
mod signals;
mod sockets;
mod trust;
mod watch;

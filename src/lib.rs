//! taskmaster: a job-control daemon in the line of supervisor.
//!
//! See `docs/ARCHITECTURE.md` for the threads, who owns what, and the locking rule.

pub mod config;
pub mod control;
pub mod daemon;
pub mod event_stream;
pub mod eventlog;
pub mod frontend;
pub mod headless;
pub mod http_wire;
pub mod hub;
pub mod init;
pub mod journal;
pub mod journald;
pub mod logfile;
pub mod metrics;
pub mod notices;
pub mod notify;
pub mod orphans;
pub mod output;
pub mod pty;
pub mod reload;
pub mod remote;
pub mod resources;
pub mod safe_file;
pub mod service_manager;
pub mod shell;
pub mod shutdown_progress;
pub mod skipping_sender;
pub mod stack;
pub mod stream_out;
pub mod supervisor;
pub mod sys;
pub mod syslog;
pub mod terminal;
#[cfg(test)]
mod testutil;
pub mod top;
pub mod upgrade;
pub mod watch;
pub mod web;

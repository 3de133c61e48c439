//! The integration tests: the real binaries against real processes, signals, files,
//! sockets and pseudo-terminals (harness in `common`). One test binary, so the
//! library is linked once and the tests share the test threads; each module was a
//! binary of its own before and keeps its tests' names under its module path (e.g.
//! `cargo test --test integration lifecycle::`).
//!
//! Every test here must be able to share its process with the others: nothing
//! process-wide is changed (no `set_var`, umask, signal disposition or rlimit of the
//! test process); what a child needs is set on its `Command` (`env`, `pre_exec`).
//!
//! The soaks (`chaos.rs`, `adversarial.rs`, `leaks.rs`) stay binaries of their own:
//! long and heavy, they run alone, and `cargo test --test chaos` runs one of them.
//! Cargo.toml lists every test binary (`autotests = false`): a new file under
//! `tests/` is a module declared below.

mod common;

mod attach;
mod backoff;
mod connections;
mod control;
mod crash_recovery;
mod daemon;
mod dependencies;
mod descriptors;
mod eventlog_rotation;
mod fuzz;
mod health;
mod hostile_files;
mod init;
mod lifecycle;
mod limits;
mod memory_limit;
mod metrics;
mod notify;
mod ordering;
mod output;
mod pidfile;
mod privileges;
mod quiet_output;
mod reaper;
mod reload;
mod rotation;
mod shell;
mod smoke;
mod spawner;
mod ssh;
mod supervisor_ini;
mod syslog;
mod systemd;
mod top;
mod upgrade;
mod watcher_panic;
mod web;

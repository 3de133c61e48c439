//! Shared harness for the integration tests: a real `taskmaster` daemon on a
//! temporary config, driven through its stdin command mode, observed through its
//! replies, its event log, the files its children write, and `/proc`.
//!
//! Nothing here sleeps blindly: every wait is a condition polled until a deadline.
//!
//! Everything is re-exported here (`common::Daemon`, `common::wait_for`...); the
//! parts: `daemon` (the daemon and its teardown), `waiting` (the polled waits),
//! `procfs` (what /proc says), `tempdir`, `config` (config files for daemons a test
//! starts itself), `testprog` (the child program's path), and the modules `pids`,
//! `pty` and `rng` (the soaks' seeded generator) used by name.

#![allow(dead_code)]

pub mod pids;
pub mod pty;
pub mod rng;

mod config;
mod daemon;
mod procfs;
mod tempdir;
mod testprog;
mod waiting;

// Each test binary uses only a part of the harness (hence `dead_code` allowed
// above): the same holds of these re-exports.
#[allow(unused_imports)]
pub use {
    config::{expand, write_config_file},
    daemon::{kill_with_groups, nofile_limit, Daemon},
    procfs::{
        alive, children_of, current_umask, fd_count, is_spawn_helper, live_in_groups,
        program_children_of, quiet_counts, thread_count, zombie,
    },
    tempdir::TempDir,
    testprog::testprog,
    waiting::{assert_stays, poll_until, secs, wait_file, wait_for},
};

use std::path::Path;

pub const TASKMASTER: &str = env!("CARGO_BIN_EXE_taskmaster");

/// Reads a file to a string, empty if missing.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

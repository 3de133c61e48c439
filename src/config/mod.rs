//! Configuration: the YAML schema of README: Configuration, its defaults and its validation.
//!
//! [`load`] reads a file and returns either a fully validated [`Config`] or every
//! error found, each with file, line, column, field path, what was found and what is
//! allowed.
//!
//! Layout: `model.rs` is the validated data model the rest of taskmaster uses;
//! `load.rs` reads and parses the file and walks its top, `daemon_section.rs` and
//! `program_section.rs` their sections; `fields.rs` and `resolve.rs` check single values;
//! `nesting.rs` refuses deep `[`/`{` nesting in one pass before any parsing;
//! `tree.rs` parses YAML into a tree that keeps duplicate keys visible; `locate.rs`
//! finds the line and column of a value, `locate_batch.rs` (walking with
//! `locate_walk.rs`) those of all of a file's errors in one reading; `check.rs`
//! collects the problems;
//! `suggest.rs` proposes the nearest field name; `error.rs` is what callers get.

mod check;
mod daemon_section;
mod deps;
mod diff;
mod error;
mod fields;
mod formats;
mod groups;
mod healthcheck;
mod http;
mod load;
mod locate;
mod locate_batch;
mod locate_walk;
mod metrics_setting;
mod model;
mod nesting;
mod program_section;
mod resolve;
mod selection;
mod suggest;
mod supervisor_ini;
mod tree;

pub use diff::{diff, launch_changes, policy_changes, ProgramChange, ReloadPlan};
pub use error::{ConfigError, ConfigErrors};
pub use formats::{detect, load_as, load_as_yaml, parse_as};
pub use healthcheck::{HealthCheck, HttpTarget, OnFailure, Probe};
pub use http::{HttpAuth, HttpSettings};
pub use load::{
    default_config_path, load, parse, DAEMON_KEYS, DEFAULT_DETACH_KEY, DEFAULT_TAIL_BUFFER,
    PROGRAM_KEYS,
};
pub use metrics_setting::MetricsSetting;
pub use model::*;
pub use selection::{select, Selected, SelectionError};

#[cfg(test)]
mod tests;

//! The loader's properties: a bounded parse, and what a config or an error must hold.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};

use taskmaster::config::{parse, Config, ConfigErrors, OutputTarget};

use super::setup::{seeds_dir, FUZZ_FILE, PARSE_BOUND, PARSE_STACK};

/// Parses `text` on its own thread, so a hang is reported instead of hanging the
/// suite, and a panic is reported with the input.
pub fn parse_bounded(text: &str, file: &Path) -> Result<Result<Config, ConfigErrors>, String> {
    let (tx, rx) = mpsc::channel();
    let (owned, path) = (text.to_string(), file.to_path_buf());
    std::thread::Builder::new()
        .name("fuzz-parse".into())
        .stack_size(PARSE_STACK)
        .spawn(move || {
            let _ = tx.send(parse(&owned, &path));
        })
        .expect("spawn parse thread");
    match rx.recv_timeout(PARSE_BOUND) {
        Ok(result) => Ok(result),
        Err(RecvTimeoutError::Timeout) => Err(format!(
            "parse did not return within {PARSE_BOUND:?} on {text:?}"
        )),
        Err(RecvTimeoutError::Disconnected) => Err(format!("parse panicked on {text:?}")),
    }
}

/// Every property of one parse; `Err` describes the first violation.
pub fn check_config_text(text: &str) -> Result<(), String> {
    let file = seeds_dir().join(FUZZ_FILE);
    match parse_bounded(text, &file)? {
        Ok(config) => check_config(&config, &file),
        Err(errors) => check_errors(&errors, FUZZ_FILE),
    }
    .map_err(|e| format!("{e}\ninput: {text:?}"))
}

/// The invariants a loaded config promises the rest of taskmaster.
pub fn check_config(config: &Config, file: &Path) -> Result<(), String> {
    if config.file != file {
        return Err(format!("config.file is {:?}", config.file));
    }
    if config.daemon.tail_buffer < 1 || !config.daemon.logfile.is_absolute() {
        return Err(format!("bad daemon settings: {:?}", config.daemon));
    }
    for (name, p) in &config.programs {
        let bad = |why: &str| Err(format!("program {name:?}: {why}: {p:?}"));
        if *name != p.name {
            return bad("map key differs from its name");
        }
        if name.is_empty()
            || name == "all"
            || name.contains(|c: char| c == ':' || c.is_whitespace())
        {
            return bad("invalid program name accepted");
        }
        if p.numprocs < 1 {
            return bad("numprocs < 1");
        }
        let l = &p.launch;
        if l.argv.is_empty() || l.argv.len() != l.exec.argv.len() {
            return bad("empty argv, or exec argv differs");
        }
        if l.umask.is_some_and(|m| m > 0o777) {
            return bad("umask over 0o777");
        }
        if p.policy.exitcodes.iter().any(|c| !(0..=255).contains(c)) {
            return bad("exit code outside 0..=255");
        }
        if !l.workingdir.is_absolute() {
            return bad("relative workingdir");
        }
        for out in [&l.stdout, &l.stderr] {
            if let OutputTarget::File(f) = out {
                if !f.is_absolute() {
                    return bad("relative output path");
                }
            }
        }
        if l.env
            .keys()
            .any(|k| k.is_empty() || k.contains(['=', '\0']))
        {
            return bad("invalid environment variable name accepted");
        }
        if p.policy.starttime.as_secs_f64() > 1e9 || p.policy.stoptime.as_secs_f64() > 1e9 {
            return bad("starttime/stoptime over the bound");
        }
    }
    Ok(())
}

/// yaml_serde errors that carry no position, which the loader passes on without
/// one: a known gap (see `known_gap_*` below), exempt from the "path or line" rule
/// so that the properties look for new problems.
pub const KNOWN_UNLOCATED: &[&str] = &[
    "containing more than one document",
    "repetition limit exceeded",
];

/// Every rejection is a clear error: at least one; each with a message, a place (a
/// field path or a line) and the file's name.
pub fn check_errors(errors: &ConfigErrors, file_name: &str) -> Result<(), String> {
    if errors.is_empty() {
        return Err("Err with no error in it".into());
    }
    for e in errors {
        if e.message.trim().is_empty() {
            return Err(format!("empty message: {e:?}"));
        }
        let known = KNOWN_UNLOCATED.iter().any(|k| e.message.contains(k));
        if e.path.is_empty() && e.line.is_none() && !known {
            return Err(format!("neither a field path nor a line: {e:?}"));
        }
        if e.line == Some(0) || e.column == Some(0) {
            return Err(format!("positions are 1-based: {e:?}"));
        }
        if !e.to_string().contains(file_name) {
            return Err(format!("Display does not name the file: {e}"));
        }
    }
    Ok(())
}

//! `clear NAME...`: forget an instance's recent output — its ring buffers (what
//! `tail` shows) and its output files, truncated to nothing. A running program
//! goes on writing: its files are opened appending, so its next line lands at
//! the start of the emptied file.

use std::path::Path;
use std::sync::Arc;

use super::{resolve, Reply};
use crate::config::OutputTarget;
use crate::supervisor::Supervisor;
use crate::watch::Instance;

pub fn clear(sup: &Arc<Supervisor>, args: &[String]) -> Reply {
    if args.is_empty() {
        return Reply::usage("Error: clear requires a process name (clear NAME... or clear all)");
    }
    if let Some(bad) = args.iter().find(|a| a.starts_with('-')) {
        return Reply::usage(format!("Error: unknown option {bad} (clear NAME...)"));
    }
    let mut lines = Vec::new();
    let instances = resolve(sup, args, &mut lines);
    let mut failed = !lines.is_empty();
    let config = sup.config();
    for instance in instances {
        let targets = config
            .programs
            .get(&instance.program)
            .map(|p| [p.launch.stdout.clone(), p.launch.stderr.clone()]);
        match clear_one(&instance, targets.as_ref()) {
            Ok(()) => lines.push(format!("{}: cleared", instance.name())),
            Err(why) => {
                failed = true;
                lines.push(format!("{}: ERROR (failed: {why})", instance.name()));
            }
        }
    }
    match failed {
        true => Reply::error(lines.join("\n")),
        false => Reply::ok(lines.join("\n")),
    }
}

/// Empties the rings, then truncates each output file that exists (a file not
/// written yet stays absent).
fn clear_one(instance: &Instance, targets: Option<&[OutputTarget; 2]>) -> Result<(), String> {
    instance.output.clear();
    for target in targets.into_iter().flatten() {
        if let OutputTarget::File(path) = target {
            truncate(path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

fn truncate(path: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    // Through `safe_file`, as every file the daemon writes: no FIFO, no file
    // planted by another user, no symlink in a shared directory.
    let nofollow = crate::output::in_shared_directory(path);
    crate::safe_file::open_for_writing(path, crate::safe_file::Mode::Truncate, 0o640, nofollow)
        .map(drop)
}

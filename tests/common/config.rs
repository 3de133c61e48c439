//! Config files for daemons a test starts itself: the placeholders `TESTPROG`
//! and `DIR` filled in, as [`super::Daemon::start`] does.

use std::path::{Path, PathBuf};

use super::testprog;

/// `yaml` with `TESTPROG` replaced by the test program's path and `DIR` by `dir`, as
/// [`Daemon::start`] does.
pub fn expand(yaml: &str, dir: &Path) -> String {
    yaml.replace("TESTPROG", testprog())
        .replace("DIR", dir.to_str().expect("utf-8 temp dir"))
}

/// Writes `yaml` (TESTPROG and DIR replaced, see [`expand`]) as `dir/taskmaster.yaml`;
/// returns its path.
pub fn write_config_file(dir: &Path, yaml: &str) -> PathBuf {
    let config = dir.join("taskmaster.yaml");
    std::fs::write(&config, expand(yaml, dir)).expect("write config");
    config
}

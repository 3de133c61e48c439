//! The test child program's path, built first when a narrow `cargo test --test
//! NAME` did not build it: every test that starts a program needs it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::TASKMASTER;

/// The test child program (`tests/helpers/testprog.rs`), `examples/taskmaster-testprog`
/// beside the taskmaster binary. It is a cargo example so that `cargo install` leaves
/// it out; a full `cargo test` builds examples, `cargo test --test NAME` does not. So,
/// when the tests run under cargo, the first call builds it with that cargo, into the
/// same target directory and profile (nothing to do when it is fresh): `--test NAME`
/// then works on a clean tree and never runs a stale copy.
pub fn testprog() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let bin_dir = Path::new(TASKMASTER).parent().expect("binary directory");
        let path = bin_dir.join("examples").join("taskmaster-testprog");
        if let Some(cargo) = std::env::var_os("CARGO") {
            build_testprog(&cargo, bin_dir);
        }
        assert!(
            path.exists(),
            "{} is missing: run `cargo build --examples`",
            path.display()
        );
        path.to_str().expect("utf-8 target path").to_string()
    })
}

/// `cargo build --example taskmaster-testprog` for the profile and target directory
/// the tests were built in (`bin_dir` is `TARGET_DIR/PROFILE_DIR`).
fn build_testprog(cargo: &std::ffi::OsStr, bin_dir: &Path) {
    let profile = match bin_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let target_dir = bin_dir.parent().expect("target directory");
    let out = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--example",
            "taskmaster-testprog",
            "--profile",
        ])
        .arg(profile)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .stdin(Stdio::null())
        .output()
        .expect("run cargo to build taskmaster-testprog");
    assert!(
        out.status.success(),
        "cargo build --example taskmaster-testprog failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

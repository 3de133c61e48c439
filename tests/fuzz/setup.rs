//! Case counts, the parse bounds, and the seed files with what they must say.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;

/// Cases per property: `default`, or `TASKMASTER_FUZZ_CASES`.
pub fn cases(default: u32) -> u32 {
    std::env::var("TASKMASTER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

pub fn proptest_config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default_cases),
        // No `proptest-regressions/` files: minimized failures become named tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A parse that takes longer than this is a hang (it takes milliseconds).
pub const PARSE_BOUND: Duration = Duration::from_secs(10);

/// The parse runs on a thread of this stack. The daemon's first load runs on its main
/// thread (8 MiB); reloads run on small stacks, see `deep_nesting_reload_*` below.
pub const PARSE_STACK: usize = 8 << 20;

/// The name given to every generated document: errors must mention it.
pub const FUZZ_FILE: &str = "fuzz-input.yaml";

pub fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-seeds")
}

/// `(file name, contents)` of every seed, in name order.
pub fn seeds() -> &'static [(String, String)] {
    static SEEDS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out: Vec<(String, String)> = std::fs::read_dir(seeds_dir())
            .expect("tests/fuzz-seeds exists")
            .map(|e| e.expect("seed dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&p).expect("seed is UTF-8");
                (name, text)
            })
            .collect();
        out.sort();
        assert!(!out.is_empty(), "no seed in {}", seeds_dir().display());
        out
    })
}

// ---- the seeds ---------------------------------------------------------------------------

/// What some `bad-*` seeds must say (each fragment in at least one error).
pub const SEED_EXPECTATIONS: &[(&str, &[&str])] = &[
    ("bad-syntax.yaml", &["YAML syntax error"]),
    (
        "bad-unknown-field.yaml",
        &[
            "did you mean `autorestart`",
            "did you mean `numprocs`",
            "did you mean `logfile`",
            "color",
        ],
    ),
    (
        "bad-types.yaml",
        &[
            "programs.web.numprocs",
            "programs.web.autostart",
            "programs.web.autorestart",
            "programs.web.exitcodes[1]",
            "programs.web.exitcodes[2]",
            "programs.web.startretries",
            "programs.web.starttime",
            "programs.web.stopsignal",
            "programs.web.stoptime",
            "programs.web.umask",
            "programs.web.pty",
            "programs.web.env",
        ],
    ),
    (
        "bad-duplicates.yaml",
        &[
            "duplicate program name `web`",
            "duplicate environment variable `A`",
        ],
    ),
    (
        "bad-cmd.yaml",
        &[
            "missing required field `cmd`",
            "programs.empty.cmd",
            "programs.unbalanced.cmd",
            "programs.nul.cmd",
            "programs.number.cmd",
        ],
    ),
    (
        "bad-names.yaml",
        &[
            "`all` cannot be a program name",
            "\"a:b\"",
            "\"with space\"",
            "\"A=B\"",
        ],
    ),
    (
        "bad-paths.yaml",
        &[
            "taskmaster.logfile",
            "taskmaster.socket",
            "programs.web.workingdir",
            "programs.web.stdout",
            "programs.web.stderr",
            "programs.web.user",
        ],
    ),
    ("bad-structure.yaml", &["expected a mapping"]),
    ("bad-alias.yaml", &["YAML syntax error"]),
];

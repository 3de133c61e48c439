//! Property-based fuzzing (proptest, the CI variant of `cargo fuzz`) of the two places
//! where taskmaster reads untrusted text: the configuration loader and the control
//! socket's request parser.
//!
//! * The loader, `taskmaster::config::parse`, gets arbitrary text, YAML-ish documents
//!   built from a grammar of valid, misspelt and odd field names and values, and
//!   mutations (byte flips, truncation, line duplication...) of the seed files kept in
//!   `tests/fuzz-seeds/`. It must never panic, must return within a time bound, and
//!   must either give a config that holds the model's invariants or errors that each
//!   say what is wrong, where, and in which file.
//! * The socket server of a real daemon gets random bytes, random JSON, requests of
//!   the wrong shape, huge ones, and read-only commands with random arguments. Each
//!   must get one JSON reply line (malformed: exit 2; oversized: an error, then the
//!   connection closes), and the daemon must come out of it alive, answering, with
//!   every program's pid unchanged.
//!
//! Case counts are modest so the file runs in seconds; `TASKMASTER_FUZZ_CASES=N` runs
//! N cases per property instead. Failures are not persisted to files: proptest
//! prints the minimal failing input, which belongs in a named regression test.

mod checks;
mod documents;
mod grammar;
mod ini;
mod mutate;
mod pools;
mod setup;
mod socket;

use crate::common::*;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use taskmaster::config::parse;

use checks::{check_config, check_config_text, check_errors, parse_bounded};
use documents::{arbitrary_text, document_text};
use mutate::mutated_seed;
use setup::{proptest_config, seeds, seeds_dir, FUZZ_FILE, SEED_EXPECTATIONS};
use socket::{check_request, request_line, snapshot, SOCKET_YAML};

// ---- the loader's properties ----------------------------------------------------------

proptest! {
    #![proptest_config(proptest_config(256))]

    #[test]
    fn config_arbitrary_text(text in arbitrary_text()) {
        check_config_text(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn config_grammar_documents(text in document_text()) {
        check_config_text(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn config_seed_mutations(text in mutated_seed()) {
        check_config_text(&text).map_err(TestCaseError::fail)?;
    }
}

/// The grammar is worth its keep only if it reaches both outcomes.
#[test]
fn config_grammar_reaches_valid_and_invalid_configs() {
    let mut runner = TestRunner::new(proptest_config(256));
    let (ok, err) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner
        .run(&document_text(), |text| {
            let file = seeds_dir().join(FUZZ_FILE);
            match parse_bounded(&text, &file).map_err(TestCaseError::fail)? {
                Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                Err(_) => err.fetch_add(1, Ordering::Relaxed),
            };
            Ok(())
        })
        .unwrap();
    let (ok, err) = (ok.into_inner(), err.into_inner());
    eprintln!("grammar documents: {ok} loaded, {err} rejected");
    assert!(ok > 0 && err > 0, "{ok} loaded, {err} rejected");
}

// ---- the seeds ---------------------------------------------------------------------------

// ---- the seeds ---------------------------------------------------------------------------

#[test]
fn seeds_behave_as_their_names_say() {
    let seeds = seeds();
    assert!(
        (8..=15).contains(&seeds.len()),
        "{} seeds in tests/fuzz-seeds",
        seeds.len()
    );
    let subject = std::fs::read_to_string(seeds_dir().join("ok-subject.yaml")).unwrap();
    if let Ok(original) = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples/subject.yaml"),
    ) {
        assert_eq!(
            subject, original,
            "ok-subject.yaml is the subject's example as is"
        );
    }
    for (name, text) in seeds {
        let file = seeds_dir().join(name);
        let result = parse_bounded(text, &file).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name.starts_with("ok-") {
            let config = result.unwrap_or_else(|e| panic!("{name} should load:\n{e}"));
            check_config(&config, &file).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if name.starts_with("bad-") {
            let errors = match result {
                Ok(_) => panic!("{name} should be rejected"),
                Err(errors) => errors,
            };
            check_errors(&errors, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            let text = errors.to_string();
            let expected = SEED_EXPECTATIONS
                .iter()
                .find(|(n, _)| n == name)
                .map_or(&[][..], |(_, e)| e);
            for fragment in expected {
                assert!(
                    text.contains(fragment),
                    "{name}: no error mentions {fragment:?}:\n{text}"
                );
            }
        } else {
            panic!("seed {name}: its name must start with ok- or bad-");
        }
    }
    // The subject's example loads exactly as written.
    let config = parse(&subject, &seeds_dir().join("ok-subject.yaml")).unwrap();
    assert_eq!(config.programs["ngnix"].launch.umask, Some(0o022));
    assert_eq!(config.programs["vogsphere"].numprocs, 8);
    assert_eq!(config.programs["vogsphere"].launch.umask, Some(0o077));
}

// ---- targeted loader cases ---------------------------------------------------------------

/// Alias expansion ("billion laughs") is bounded: an error, not a parse that runs
/// on (`parse_bounded` gives up on a parse that has not returned by its deadline).
fn alias_bomb() -> String {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    text.push_str("programs:\n  web:\n    cmd: sleep 1\n    env: {X: *a9}\n");
    text
}

#[test]
fn config_alias_bomb_is_bounded() {
    let text = alias_bomb();
    let result = parse_bounded(&text, &seeds_dir().join(FUZZ_FILE)).unwrap();
    let errors = result.expect_err("an alias bomb is not a config");
    for e in &errors {
        assert!(
            !e.message.is_empty() && e.to_string().contains(FUZZ_FILE),
            "{e}"
        );
    }
}

/// A file full of errors is reported whole: every error with its line and column.
/// (That locating them reads the text a bounded number of times, not once per
/// error, is checked where the readings can be counted:
/// `config::locate_batch::tests::thousands_of_errors_are_located_in_one_reading`.)
#[test]
fn config_thousands_of_errors_are_all_located() {
    let mut text = String::from("programs:\n");
    for i in 0..2000 {
        text.push_str(&format!(
            "  p{i}:\n    cmd: sleep 1\n    numprocs: zero\n    autorestrat: always\n"
        ));
    }
    let errors = parse_bounded(&text, &seeds_dir().join(FUZZ_FILE))
        .unwrap()
        .expect_err("every program is wrong");
    assert_eq!(errors.len(), 4000);
    check_errors(&errors, FUZZ_FILE).unwrap();
    for e in &errors {
        assert!(e.line.is_some() && e.column.is_some(), "no position: {e}");
    }
}

/// Nesting up to YAML's recursion limit and past it: an error, never a crash, on the
/// main thread's stack.
#[test]
fn config_deep_nesting() {
    for depth in [10, 50, 100, 126, 127, 128, 129, 200, 10_000] {
        for (open, close) in [("[", "]"), ("{a: ", "}")] {
            let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let text = format!("programs:\n  web:\n    cmd: sleep 1\n    env: {{X: {nested}}}\n");
            check_config_text(&text).unwrap_or_else(|e| panic!("depth {depth}: {e}"));
        }
    }
}

// ---- the control socket ------------------------------------------------------------------

#[test]
fn socket_requests_never_disturb_the_daemon() {
    let mut d = Daemon::start("fuzz-socket", SOCKET_YAML);
    let sock = d.socket();
    let before = wait_for("the programs RUNNING", Duration::from_secs(20), || {
        let s = snapshot(&sock)?;
        let running = ["sleeper", "pool:0", "pool:1"]
            .iter()
            .all(|n| s.get(*n).is_some_and(|(state, _)| state == "RUNNING"));
        running.then_some(s)
    });
    let fds_before = fd_count(d.pid());

    let start = Instant::now();
    let kinds = std::sync::Mutex::new(BTreeMap::<&str, usize>::new());
    let mut runner = TestRunner::new(proptest_config(200));
    let result = runner.run(&request_line(), |line| {
        let kind = check_request(&sock, &line).map_err(TestCaseError::fail)?;
        *kinds.lock().unwrap().entry(kind).or_default() += 1;
        Ok(())
    });
    eprintln!(
        "socket fuzz: {:?} requests in {:?}",
        kinds.lock().unwrap(),
        start.elapsed()
    );
    if let Err(e) = result {
        panic!("{e}");
    }

    assert!(alive(d.pid()), "the daemon died");
    let after = snapshot(&sock).expect("status --json still answers");
    assert_eq!(before, after, "states or pids changed");
    // Every connection was closed: the daemon holds no more descriptors than before.
    wait_for(
        "connection descriptors released",
        Duration::from_secs(10),
        || (fd_count(d.pid()) <= fds_before).then_some(()),
    );
    d.finish(Duration::from_secs(20));
}

// ---- regressions found by fuzzing (known bugs: ignored until fixed) ------------------

const IDLE_YAML: &str = "
programs:
  sleeper:
    cmd: TESTPROG sleep
    autostart: false
";

/// A config nested `depth` flow mappings deep (inside an `env` value), valid YAML that
/// the loader rejects with a clear error.
fn deeply_nested_config(depth: usize) -> String {
    format!(
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    autostart: false\n    env: {{X: {}1{}}}\n",
        "{a: ".repeat(depth),
        "}".repeat(depth)
    )
}

/// BUG: a reload of a deeply nested config overflows the stack of the thread that
/// reloads, and the whole daemon dies (SIGABRT, "has overflowed its stack").
///
/// The first load runs on the main thread (8 MiB) and rejects this file cleanly
/// (`config_deep_nesting`). But reloads run `config::load` on small stacks: SIGHUP on
/// the "reload" thread (`src/daemon.rs` `spawn_thread`, `stack::THREAD_STACK` = 128 KiB),
/// the stdin `reload` on the "stdin" thread (128 KiB), the socket's `reload` on a
/// connection thread (`CONNECTION_STACK` = 256 KiB, `src/control/server.rs`). The
/// loader recurses once per nesting level in `config/tree.rs` (`NodeSeed`, through
/// yaml_serde's deserializer, whose own limit is 128 levels) and again in
/// `config/locate.rs` (`Seek`). Measured: 128 KiB overflows from ~25 levels in a debug
/// build and ~105 flow mappings in a release build; yaml_serde accepts up to 128.
#[test]
fn deep_nesting_reload_on_sighup_keeps_the_daemon_alive() {
    // Nothing autostarts: a dying daemon would leave its children behind.
    let mut d = Daemon::start("fuzz-deep-reload", IDLE_YAML);
    let sock = d.socket();
    wait_for("the socket", Duration::from_secs(20), || snapshot(&sock));
    let text = deeply_nested_config(120).replace("TESTPROG", testprog());
    std::fs::write(&d.config, text).unwrap();
    d.signal(1); // SIGHUP
    let outcome = wait_for(
        "the reload to fail or the daemon to die",
        secs(20.0),
        || {
            if !alive(d.pid()) {
                Some("the daemon died")
            } else if d.log().contains("reload failed") {
                Some("reload failed cleanly")
            } else {
                None
            }
        },
    );
    assert_eq!(outcome, "reload failed cleanly");
    assert!(snapshot(&sock).is_some(), "status still answers");
    d.finish(Duration::from_secs(20));
}

/// GAP: some YAML errors reach the user with neither a line nor a field path, only
/// `FILE: YAML syntax error: ...`. yaml_serde attaches no position to
/// `MoreThanOneDocument` and `RepetitionLimitExceeded`, and `syntax_error` in
/// `src/config/load.rs` passes the missing position on. The second input shows why it
/// matters: the user wrote no second document, a stray line after a comment made one,
/// and nothing says which line. (Exempted from the properties via `KNOWN_UNLOCATED`.)
#[test]
#[ignore = "known gap: YAML errors without a position are reported without a line"]
fn known_gap_yaml_errors_without_a_position() {
    for text in [
        "programs: {}\n---\nprograms: {}\n".to_string(),
        "0 \t#\na".to_string(),
        "&c &c y\n".to_string(),
        alias_bomb(),
    ] {
        let errors = parse(&text, &seeds_dir().join(FUZZ_FILE)).expect_err("invalid");
        for e in &errors {
            assert!(
                e.line.is_some() || !e.path.is_empty(),
                "no line, no path for {text:?}: {e}"
            );
        }
    }
}

//! Who may import whom, between the command layer, the daemon's pty side and the
//! client's terminal side (docs/ARCHITECTURE.md, "Modules"): checked on the
//! sources, so that a cycle cannot come back unnoticed.

use std::path::Path;

/// The code lines (comments left out) of every `.rs` file under `src/<dir>`,
/// this one excepted.
fn code_lines(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut lines = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("boundaries_tests.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                    lines.push((path.display().to_string(), line.to_string()));
                }
            }
        }
    }
    assert!(!lines.is_empty(), "no sources under src/{dir}");
    lines
}

fn uses_of<'a>(
    lines: &'a [(String, String)],
    module: &'a str,
) -> impl Iterator<Item = &'a (String, String)> {
    lines.iter().filter(move |(_, l)| l.contains(module))
}

#[test]
fn the_command_layer_imports_no_terminal_side() {
    let lines = code_lines("control");
    for module in ["crate::terminal", "crate::shell", "crate::frontend"] {
        let found: Vec<_> = uses_of(&lines, module).collect();
        assert!(found.is_empty(), "control imports {module}: {found:?}");
    }
}

#[test]
fn the_daemons_pty_side_imports_neither_control_nor_the_terminal() {
    let lines = code_lines("pty");
    for module in ["crate::control", "crate::terminal", "crate::shell"] {
        let found: Vec<_> = uses_of(&lines, module).collect();
        assert!(found.is_empty(), "pty imports {module}: {found:?}");
    }
}

#[test]
fn the_terminal_side_reaches_control_only_through_protocol_and_client() {
    reaches_control_only_through_protocol_and_client("terminal");
    assert!(uses_of(&code_lines("terminal"), "crate::pty")
        .next()
        .is_none());
}

#[test]
fn the_remote_side_reaches_control_only_through_protocol_and_client() {
    reaches_control_only_through_protocol_and_client("remote");
    let lines = code_lines("control");
    let found: Vec<_> = uses_of(&lines, "crate::remote").collect();
    assert!(found.is_empty(), "control imports remote: {found:?}");
}

fn reaches_control_only_through_protocol_and_client(dir: &str) {
    let lines = code_lines(dir);
    let allowed = ["crate::control::protocol", "crate::control::client"];
    for (file, line) in uses_of(&lines, "crate::control") {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("crate::control") {
            rest = &rest[at..];
            assert!(
                allowed.iter().any(|a| rest.starts_with(a)),
                "{file}: src/{dir} imports more of control: {line}"
            );
            rest = &rest["crate::control".len()..];
        }
    }
}

#[test]
fn the_command_layer_uses_only_tops_pure_model() {
    let lines = code_lines("control");
    for (file, line) in uses_of(&lines, "crate::top") {
        assert!(
            line.contains("crate::top::model::"),
            "{file}: control imports more of top than its model: {line}"
        );
    }
    let model =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/top/model.rs"))
            .unwrap();
    for module in ["ratatui", "crossterm", "crate::terminal", "crate::shell"] {
        assert!(!model.contains(module), "top's model uses {module}");
    }
}

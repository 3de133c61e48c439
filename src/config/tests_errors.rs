//! Bad configs: each error reported, with file, line, column, path and message —
//! how one reads, many in one file, duplicates, unknown fields, broken or empty
//! documents, anchors, deep nesting. Bad values field by field are in
//! `tests_bad_values.rs`, which shares the helpers here.

use std::path::Path;

use super::super::load::parse_with;
use super::super::ConfigError;
use super::{system, FILE};

pub(super) fn errors(text: &str) -> Vec<ConfigError> {
    match parse_with(text, Path::new(FILE), &system()) {
        Ok(config) => panic!("no error for:\n{text}\ngot {config:?}"),
        Err(errors) => {
            assert!(!errors.is_empty());
            errors.0
        }
    }
}

/// The single error of `text`.
pub(super) fn one(text: &str) -> ConfigError {
    let mut all = errors(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

/// (line, column, path) of an error.
pub(super) fn place(e: &ConfigError) -> (usize, usize, &str) {
    (e.line.unwrap_or(0), e.column.unwrap_or(0), e.path.as_str())
}

pub(super) fn field(field_and_value: &str) -> ConfigError {
    one(&format!(
        "programs:\n  p:\n    cmd: x\n    {field_and_value}\n"
    ))
}

#[test]
fn display_names_file_line_column_path_found_and_allowed() {
    let e = one("programs:\n  web:\n    cmd: x\n    autorestart: maybe\n");
    assert_eq!(
        e.to_string(),
        "/etc/tm/taskmaster.yaml:4:18: programs.web.autorestart: found \"maybe\", \
         expected one of: always, never, unexpected (or true/false)"
    );
}

#[test]
fn many_errors_in_one_file_all_reported_in_order() {
    let text = "\
programs:
  web:
    cmd: \"x\"
    autorestrt: always
    numprocs: 0
    umask: 089
    exitcodes: [0, 300]
    stopsignal: FOO
  db:
    numprocs: 2
  web:
    cmd: y
  ok:
    cmd: z
    env: {A: {B: 1}}
";
    let all = errors(text);
    let places: Vec<_> = all.iter().map(place).collect();
    assert_eq!(
        places,
        [
            (4, 5, "programs.web.autorestrt"),
            (5, 15, "programs.web.numprocs"),
            (6, 12, "programs.web.umask"),
            (7, 20, "programs.web.exitcodes[1]"),
            (8, 17, "programs.web.stopsignal"),
            (9, 3, "programs.db"),
            (11, 3, "programs.web"),
            (15, 14, "programs.ok.env.A"),
        ],
        "{all:#?}"
    );
    let messages: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages[0],
        "unknown field `autorestrt`: did you mean `autorestart`?"
    );
    assert_eq!(messages[1], "found 0, expected an integer from 1 to 10000");
    assert!(messages[2].starts_with("found \"089\", expected an octal umask"));
    assert_eq!(
        messages[3],
        "found 300, expected an exit code, an integer from 0 to 255"
    );
    assert!(messages[4].starts_with("found \"FOO\", expected a signal name such as TERM"));
    assert_eq!(
        messages[5],
        "missing required field `cmd` (the command to run)"
    );
    assert_eq!(
        messages[6],
        "duplicate program name `web` (first defined on line 2)"
    );
    assert!(messages[7].starts_with("found a mapping, expected a string, number or boolean"));
}

#[test]
fn duplicates_of_every_kind() {
    let e = one("programs:\n  a:\n    cmd: x\n  b:\n    cmd: y\n  a:\n    cmd: z\n");
    assert_eq!(place(&e), (6, 3, "programs.a"));
    assert_eq!(
        e.message,
        "duplicate program name `a` (first defined on line 2)"
    );

    let e = one("programs:\n  a:\n    cmd: x\n    env:\n      K: 1\n      K: 2\n");
    assert_eq!(place(&e), (6, 7, "programs.a.env.K"));
    assert_eq!(
        e.message,
        "duplicate environment variable `K` (first defined on line 5)"
    );

    let e = one("programs:\n  a:\n    cmd: x\n    cmd: y\n");
    assert_eq!(place(&e), (4, 5, "programs.a.cmd"));
    assert_eq!(e.message, "duplicate key `cmd` (first defined on line 3)");

    // Keys are compared as text: 1 and "1" name the same program.
    let e = one("programs:\n  1: {cmd: x}\n  \"1\": {cmd: y}\n");
    assert_eq!(place(&e).0, 3);

    let all = errors("programs: {}\nprograms: {}\ntaskmaster: {}\ntaskmaster: {}\n");
    assert!(
        all[1].message.ends_with("(first defined on line 3)"),
        "{all:?}"
    );
    let lines: Vec<_> = all.iter().map(|e| e.line).collect();
    assert_eq!(lines, [Some(2), Some(4)]);
}

#[test]
fn unknown_fields_with_and_without_suggestions() {
    let e = one("program:\n  a: {cmd: x}\n");
    assert_eq!(place(&e), (1, 1, "program"));
    assert_eq!(
        e.message,
        "unknown top-level key `program`: did you mean `programs`?"
    );

    let e = one("taskmaster:\n  log_file: x\nprograms: {}\n");
    assert_eq!(
        e.message,
        "unknown taskmaster setting `log_file`: did you mean `logfile`?"
    );

    let e = field("command: ls");
    assert_eq!(e.message, "unknown field `command`: did you mean `cmd`?");

    let e = field("banana: 1");
    assert!(e
        .message
        .starts_with("unknown field `banana`; valid ones: cmd, numprocs"));
    assert_eq!(place(&e), (4, 5, "programs.p.banana"));
}

#[test]
fn bad_documents() {
    let e = one("- a\n- b\n");
    assert_eq!((e.line, e.path.as_str()), (Some(1), ""));
    assert!(e.message.starts_with("found a list, expected a mapping"));

    let e = one("programs:\n  a: {cmd: [x\n  b: 1\n");
    assert!(e.message.starts_with("YAML syntax error: "), "{e}");
    assert!(e.line.is_some());

    let e = one("programs:\n  a:\n    cmd: 'x\n");
    assert_eq!(e.line, Some(4), "{e}");

    let e = one("programs: {}\n---\nprograms: {}\n");
    assert!(e.message.contains("more than one document"), "{e}");

    let e = one("programs:\n  a:\n    cmd: *nope\n");
    assert!(e.message.contains("unknown anchor"), "{e}");
    assert_eq!(e.line, Some(3));

    let e = one("programs:\n  ? [a, b]\n  : {cmd: x}\n");
    assert!(e.message.contains("must be a plain scalar"), "{e}");
    assert_eq!(e.line, Some(2));
}

#[test]
fn anchors_and_aliases_are_followed() {
    let text = "programs:\n  a: &base {cmd: x, numprocs: 2}\n  b: *base\n";
    let config = super::ok(text);
    assert_eq!(config.programs["b"].numprocs, 2);
    let e = one("programs:\n  a: &base {cmd: x, numprocs: 0}\n  b: {cmd: y}\n");
    assert_eq!(place(&e), (2, 31, "programs.a.numprocs"));
}

#[test]
fn a_file_full_of_errors_reports_them_all() {
    let mut text = String::from("programs:\n");
    for i in 0..250 {
        text.push_str(&format!("  p{i}:\n    cmd: x\n    numprocs: 0\n"));
    }
    let all = errors(&text);
    assert_eq!(all.len(), 250);
    assert_eq!(all[0].line, Some(4));
    assert_eq!(all[199].line, Some(199 * 3 + 4));
    // Every error has its position, however many there are.
    assert_eq!(all[249].line, Some(249 * 3 + 4));
    assert_eq!(all[249].path, "programs.p249.numprocs");
}

#[test]
fn an_empty_or_truncated_file_is_an_error_not_zero_programs() {
    use super::super::load::NO_PROGRAMS;
    // What an editor or a tool leaves while it rewrites the file: applying any
    // of these would stop every program.
    for text in [
        "",
        "\n\n",
        "# nothing but a comment\n",
        "---\n",
        "taskmaster:\n",
        "taskmaster:\n  tail_buffer: 1024\n",
    ] {
        let e = one(text);
        assert_eq!(e.message, NO_PROGRAMS, "{text:?}");
        assert!(e.message.contains("write `programs: {}` for none"));
        assert_eq!(e.path, "", "{text:?}");
    }
    let e = one("taskmaster:\n  tail_buffer: 1024\nprograms:\n");
    assert_eq!(e.path, "programs");
    assert!(
        e.message.contains("truncated") && e.message.contains("write `programs: {}` for none"),
        "{e:?}"
    );
    // An error elsewhere is still reported beside it.
    let all = errors("taskmaster:\n  tail_bufer: 1\n");
    assert_eq!(all.len(), 2, "{all:#?}");
}

#[test]
fn deep_flow_nesting_is_refused_before_the_parser_sees_it() {
    // Once a minute or more of parsing (quadratic in the depth), blocking reload.
    // `{X: ` opens the first level at column 10; the 65th is refused.
    for (open, n, column) in [("[", 200_000, 14 + 63), ("{a: ", 100_000, 14 + 4 * 63)] {
        let text = format!(
            "programs:\n  web:\n    cmd: x\n    env: {{X: {}}}\n",
            open.repeat(n)
        );
        let e = one(&text);
        assert_eq!(
            e.message,
            "nesting too deep: more than 64 levels of `[` / `{` (a damaged or hostile file?)"
        );
        assert_eq!((e.line, e.column), (Some(4), Some(column)), "{open}");
    }
}

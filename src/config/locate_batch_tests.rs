use std::path::Path;

use super::super::load::parse_with;
use super::super::locate::{locate, text_passes};
use super::super::tests::{system, FILE};
use super::*;

/// Every shape the locator meets: duplicates, aliases, tags, empty containers,
/// keys that are not names, a non-ASCII key before it all.
const TEXT: &str = "\
é: 1
base: &base
  cmd: x
  env: {A: 1}
programs:
  web:
    cmd: x
    umask: 0o22
    empty_map: {}
    empty_list: []
    tagged: !custom value
    nested: {a: [1, {b: 2}], c: {}}
  list: [5, 6, [7, 8], *base]
  dup: 1
  dup: 2
  alias: *base
  ? [complex, key]
  : 3
  ? {m: 1}
  : 4
  ? []
  : 5
  1: one
  \"1\": quoted
  null: nothing
  true: yes
  !tagkey tk: tagged key
  last: {deep: {deeper: [x]}}
";

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// Paths into `TEXT`, some of them absent.
fn paths() -> Vec<Vec<Seg>> {
    let p = || key("programs");
    let mut paths = vec![
        vec![],
        vec![key("é")],
        vec![key("é"), key("deeper")],
        vec![key("base")],
        vec![key("base"), key("env"), key("A")],
        vec![p()],
        vec![p(), key("web")],
        vec![p(), key("nope")],
        vec![p(), key("dup")],
        vec![p(), key("alias")],
        vec![p(), key("alias"), key("cmd")],
        vec![p(), key("alias"), key("env"), key("A")],
        vec![p(), key("1")],
        vec![p(), key("")],
        vec![p(), key("true")],
        vec![p(), key("tk")],
        vec![p(), key("last"), key("deep"), key("deeper"), Seg::Index(0)],
        vec![p(), key("last"), key("deep"), key("deeper"), Seg::Index(1)],
        vec![p(), key("list"), Seg::Index(3), key("env")],
        vec![p(), key("list"), Seg::Index(9)],
    ];
    for field in [
        "cmd",
        "umask",
        "empty_map",
        "empty_list",
        "tagged",
        "nested",
        "x",
    ] {
        paths.push(vec![p(), key("web"), key(field)]);
    }
    let nested = || vec![p(), key("web"), key("nested")];
    paths.push([nested(), vec![key("a"), Seg::Index(1), key("b")]].concat());
    paths.push([nested(), vec![key("a"), Seg::Index(0)]].concat());
    paths.push([nested(), vec![key("c")]].concat());
    paths.push([nested(), vec![key("c"), key("no")]].concat());
    for raw in 0..18 {
        paths.push(vec![p(), Seg::Entry(raw)]);
    }
    for index in 0..5 {
        paths.push(vec![p(), key("list"), Seg::Index(index)]);
        paths.push(vec![p(), key("list"), Seg::Index(2), Seg::Index(index)]);
    }
    paths
}

fn one_by_one(segs: &[Seg], on_key: bool) -> Option<Position> {
    locate(TEXT, segs, on_key).map(|l| Position {
        line: l.line(),
        column: l.column(),
    })
}

fn wanted(segs: &[Seg], on_key: bool) -> Wanted {
    Wanted {
        segs: segs.to_vec(),
        on_key,
        nearest: false,
    }
}

#[test]
fn each_path_alone_is_where_the_one_by_one_locator_finds_it() {
    for segs in paths() {
        for on_key in [false, true] {
            assert_eq!(
                locate_all(TEXT, &[wanted(&segs, on_key)]),
                vec![one_by_one(&segs, on_key)],
                "{segs:?} on_key={on_key}"
            );
        }
    }
}

#[test]
fn all_paths_at_once_are_where_the_one_by_one_locator_finds_them() {
    let mut all = Vec::new();
    for segs in paths() {
        all.push(wanted(&segs, false));
        all.push(wanted(&segs, true));
    }
    let expected: Vec<_> = all.iter().map(|w| one_by_one(&w.segs, w.on_key)).collect();
    assert!(expected.iter().filter(|p| p.is_some()).count() > 80);
    assert_eq!(locate_all(TEXT, &all), expected);
}

#[test]
fn a_missing_path_falls_back_to_its_nearest_ancestors_key() {
    let web_nope = vec![key("programs"), key("web"), key("nope")];
    let found = locate_all(
        TEXT,
        &[
            Wanted {
                nearest: true,
                ..wanted(&web_nope, false)
            },
            wanted(&web_nope, false),
            Wanted {
                nearest: true,
                ..wanted(&[key("nope"), key("deeper")], true)
            },
        ],
    );
    // `web:`, nothing, and the root's value.
    assert_eq!(found[0], Some(Position { line: 6, column: 3 }));
    assert_eq!(found[1], None);
    assert_eq!(found[2], Some(Position { line: 1, column: 1 }));
}

/// The loader's worst case: thousands of errors, every one with its position,
/// for one reading of the text (it was one per error, so quadratic).
#[test]
fn thousands_of_errors_are_located_in_one_reading() {
    let mut text = String::from("programs:\n");
    for i in 0..2000 {
        text.push_str(&format!(
            "  p{i}:\n    cmd: sleep 1\n    numprocs: zero\n    autorestrat: always\n"
        ));
    }
    let before = text_passes();
    let errors = parse_with(&text, Path::new(FILE), &system()).unwrap_err();
    let passes = text_passes() - before;
    assert_eq!(errors.len(), 4000);
    assert!(passes <= 2, "{passes} readings of the text");
    let placed: Vec<_> = errors
        .iter()
        .map(|e| (e.line, e.column, e.path.as_str()))
        .collect();
    assert!(placed
        .iter()
        .all(|(line, column, _)| line.is_some() && column.is_some()));
    // Program 1999's lines are 7998 to 8001.
    assert!(placed.contains(&(Some(8000), Some(15), "programs.p1999.numprocs")));
    assert!(placed.contains(&(Some(8001), Some(5), "programs.p1999.autorestrat")));
}

#[test]
fn raw_scalars_are_the_text_the_one_by_one_reader_finds() {
    use super::super::locate::raw_scalar;
    let p = || key("programs");
    let paths = vec![
        vec![p(), key("web"), key("umask")],
        vec![p(), key("web"), key("cmd")],
        vec![p(), key("list"), Seg::Index(1)],
        vec![p(), key("list"), Seg::Index(3), key("cmd")],
        vec![p(), key("nope")],
    ];
    // Line breaks of every kind before the values: CR LF, and NEL, LS, PS inside
    // a quoted string (each a line for the parser).
    let crlf = TEXT.replace('\n', "\r\n");
    let breaks = format!("q: \"a\u{85}b\u{2028}c\u{2029}d\"\n{TEXT}");
    for text in [TEXT, crlf.as_str(), breaks.as_str()] {
        let expected: Vec<_> = paths.iter().map(|segs| raw_scalar(text, segs)).collect();
        assert_eq!(expected[0], Some("0o22"), "{text:?}");
        assert_eq!(raw_scalars(text, &paths), expected, "{text:?}");
    }
    let bom = "\u{feff}programs: {web: {umask: 0o22}}\n";
    assert_eq!(raw_scalar(bom, &paths[0]), Some("0o22"));
    assert_eq!(raw_scalars(bom, &paths[..1]), vec![Some("0o22")]);
}

/// The same worst case on a valid file: every program's integer `umask` read as
/// written, in one reading of the text (it was one per program).
#[test]
fn thousands_of_raw_umasks_are_read_in_one_reading() {
    let mut text = String::from("programs:\n");
    for i in 0..2000 {
        let umask = if i % 2 == 0 { "0o22" } else { "27" };
        text.push_str(&format!("  p{i}:\n    cmd: sleep 1\n    umask: {umask}\n"));
    }
    let before = text_passes();
    let config = parse_with(&text, Path::new(FILE), &system()).unwrap();
    assert!(
        text_passes() - before <= 1,
        "{} readings",
        text_passes() - before
    );
    assert_eq!(config.programs["p1998"].launch.umask, Some(0o22));
    assert_eq!(config.programs["p1999"].launch.umask, Some(0o27));
}

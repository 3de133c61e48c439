//! Unit tests of the INI reader, expansions, value syntaxes, include patterns,
//! the translation and its YAML.

use std::path::Path;

use super::expand::{expand, Context, ExpandError};
use super::reader::{looks_like_ini, parse};
use super::{glob, values, Findings};
use crate::config::formats::parse_ini;
use crate::config::parse as parse_yaml;
use crate::config::resolve::System;

fn context() -> Context {
    let mut c = Context::for_file(Path::new("/etc/sv"));
    c.text.insert("program_name", "web".into());
    c.text.insert("group_name", "front".into());
    c.numbers.insert("process_num", 7);
    c.numbers.insert("numprocs", 10);
    c
}

#[test]
fn expansions_with_formats() {
    let c = context();
    let e = |s: &str| expand(s, &c).expect("expands");
    assert_eq!(e("%(program_name)s_%(process_num)02d"), "web_07");
    assert_eq!(e("%(process_num)d/%(numprocs)s"), "7/10");
    assert_eq!(e("[%(process_num)3d][%(process_num)-3d]"), "[  7][7  ]");
    assert_eq!(e("%(group_name)s in %(here)s"), "front in /etc/sv");
    assert_eq!(e("100%% of %(program_name)s"), "100% of web");
    let path = std::env::var("PATH").expect("PATH");
    assert_eq!(e("%(ENV_PATH)s"), path);
}

#[test]
fn expansion_errors_say_what_is_available() {
    let c = context();
    match expand("run %(nope)s", &c) {
        Err(ExpandError::UnknownName { name, available }) => {
            assert_eq!(name, "nope");
            assert!(available.contains(&"process_num".to_string()));
        }
        other => panic!("{other:?}"),
    }
    let message = expand("%(nope)s", &c).unwrap_err().message("command");
    assert!(
        message.contains("'nope', which cannot be expanded"),
        "{message}"
    );
    assert!(expand("%(ENV_SURELY_NOT_SET_X1)s", &c).is_err());
    assert!(matches!(expand("50%", &c), Err(ExpandError::BadFormat(_))));
    assert!(matches!(
        expand("%(web", &c),
        Err(ExpandError::BadFormat(_))
    ));
    assert!(matches!(
        expand("%(program_name)d", &c),
        Err(ExpandError::BadFormat(_))
    ));
    assert!(matches!(
        expand("%(program_name)x", &c),
        Err(ExpandError::BadFormat(_))
    ));
}

#[test]
fn reader_lines_comments_and_continuations() {
    let text = "; head\n[program:a]\ncommand = /bin/x ; comment\nEnvironment: A=1,\n  B=2\nurl=http://h/#frag\n\n[group:g]\nprograms=a\n";
    let mut f = Findings::default();
    let sections = parse(text, Path::new("/x.conf"), &mut f);
    assert!(f.errors.is_empty(), "{:?}", f.errors);
    assert_eq!(sections.len(), 2);
    let a = &sections[0];
    assert_eq!((a.name.as_str(), a.line), ("program:a", 2));
    assert_eq!(
        a.get("command").map(|e| (e.value.as_str(), e.line)),
        Some(("/bin/x", 3))
    );
    assert_eq!(
        a.get("environment").map(|e| e.value.as_str()),
        Some("A=1,\nB=2")
    );
    assert_eq!(
        a.get("url").map(|e| e.value.as_str()),
        Some("http://h/#frag")
    );
}

#[test]
fn reader_errors_and_duplicates() {
    let text = "orphan=1\n[program:a]\nno separator here\ncommand=/bin/a\ncommand=/bin/b\n[bad\n";
    let mut f = Findings::default();
    let sections = parse(text, Path::new("/x.conf"), &mut f);
    let lines: Vec<_> = f.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![Some(1), Some(3), Some(6)]);
    // The later value wins, with a warning, as supervisor merges.
    assert_eq!(
        sections[0].get("command").map(|e| e.value.as_str()),
        Some("/bin/b")
    );
    assert_eq!(f.warnings.len(), 1);
}

#[test]
fn ini_is_recognised_by_its_first_line() {
    assert!(looks_like_ini("# c\n\n[supervisord]\n"));
    assert!(looks_like_ini("[program:x] ; c\ncommand=x\n"));
    assert!(!looks_like_ini("programs:\n  a: {}\n"));
    assert!(!looks_like_ini("[a, b]\n"));
    assert!(!looks_like_ini("[[[[]]]]\n"));
    assert!(!looks_like_ini("[]\n"));
    assert!(!looks_like_ini("[\"x\"]\n"));
}

#[test]
fn value_syntaxes() {
    assert_eq!(values::boolean("Yes"), Ok(true));
    assert_eq!(values::boolean("off"), Ok(false));
    assert!(values::boolean("maybe").is_err());
    assert_eq!(values::byte_size("50MB"), Ok(50 << 20));
    assert_eq!(values::byte_size("1kb"), Ok(1024));
    assert_eq!(values::byte_size("12"), Ok(12));
    assert!(values::byte_size("lots").is_err());
    assert!(
        values::byte_size("5é5").is_err(),
        "a multibyte end is no unit"
    );
    assert_eq!(values::octal("022"), Ok("022".into()));
    assert_eq!(values::octal("7"), Ok("007".into()));
    assert!(values::octal("8").is_err());
    assert_eq!(values::signal("15"), Ok("TERM".into()));
    assert_eq!(values::signal("sighup"), Ok("HUP".into()));
    assert!(values::signal("BOGUS").is_err());
    assert_eq!(values::exit_codes("0, 2"), Ok(vec![0, 2]));
    assert!(values::exit_codes("0,256").is_err());
    assert_eq!(values::autorestart("TRUE"), Ok("always"));
    assert_eq!(values::autorestart("unexpected"), Ok("unexpected"));
    let env = values::environment("A=\"x,y\",B=2, C='q=1'").expect("env");
    let pairs = [("A", "x,y"), ("B", "2"), ("C", "q=1")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
    assert_eq!(env, pairs);
    assert!(values::environment("A=\"x").is_err());
    assert!(values::environment("JUSTAKEY").is_err());
}

#[test]
fn include_patterns() {
    assert!(glob::matches(b"*.conf", b"a.conf"));
    assert!(!glob::matches(b"*.conf", b"a.conf.bak"));
    assert!(glob::matches(b"a?[0-9][!x].ini", b"ab7y.ini"));
    assert!(!glob::matches(b"a?[0-9][!x].ini", b"ab7x.ini"));
    let dir = std::env::temp_dir().join(format!("tm-glob-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    for name in ["b.conf", "a.conf", ".hidden.conf", "c.txt"] {
        std::fs::write(dir.join(name), "").expect("write");
    }
    let found = glob::expand(&dir, "*.conf").expect("glob");
    assert_eq!(found, vec![dir.join("a.conf"), dir.join("b.conf")]);
    assert!(glob::expand(&dir, "missing.conf").is_err());
    assert!(glob::expand(&dir, "*/x.conf").is_err());
    assert_eq!(glob::expand(&dir, "*.none"), Ok(vec![]));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

const SAMPLE: &str = "[supervisord]
logfile=/tmp/sv-test.log
environment=G=1

[program:web]
command=/bin/sleep %(process_num)d
process_name=%(program_name)s_%(process_num)d
numprocs=2
numprocs_start=1
autorestart=true
startsecs=0
stopsignal=INT
stdout_logfile=NONE
redirect_stderr=true
umask=002
environment=K=%(group_name)s

[program:db]
command=/bin/sleep 1
stdout_logfile=/tmp/db.out

[group:back]
programs=db
";

#[test]
fn translation_and_its_yaml_mean_the_same() {
    let system = System::current();
    let file = Path::new("/tmp/sv-unit.conf");
    let (ini, root) = parse_ini(SAMPLE, file, &system).expect("valid");
    let names: Vec<&String> = ini.programs.keys().collect();
    assert_eq!(names, ["db", "web_1", "web_2"]);
    let web2 = &ini.programs["web_2"];
    assert_eq!(web2.launch.argv, ["/bin/sleep", "2"]);
    assert_eq!(web2.launch.umask, Some(0o002));
    assert_eq!(web2.launch.env["K"], "web");
    assert_eq!(web2.launch.env["G"], "1");
    assert_eq!(web2.policy.stopsignal, nix::sys::signal::Signal::SIGINT);
    assert_eq!(ini.groups["web"], ["web_1", "web_2"]);
    assert_eq!(ini.groups["back"], ["db"]);
    assert_eq!(
        ini.programs["db"].launch.stderr,
        ini.programs["db"].launch.stderr
    );

    let yaml = super::to_yaml(&root);
    let again = parse_yaml(&yaml, Path::new("/tmp/sv-unit.yaml")).expect("the YAML loads");
    assert_eq!(again.programs, ini.programs);
    assert_eq!(again.groups, ini.groups);
    assert_eq!(again.daemon, ini.daemon);
}

#[test]
fn walk_errors_are_placed_on_ini_lines() {
    let text = "[program:a]\ncommand=/bin/true\ndirectory=/surely/not/here\n";
    let errors = parse_ini(text, Path::new("/tmp/x.conf"), &System::current()).unwrap_err();
    let error = errors.iter().next().expect("one error");
    assert_eq!(error.line, Some(3));
    assert_eq!(error.path, "[program:a] directory");
}

#[test]
fn a_group_naming_an_unknown_program_is_an_error() {
    let text = "[program:a]\ncommand=/bin/true\n[group:g]\nprograms=a,zz\n";
    let errors = parse_ini(text, Path::new("/tmp/x.conf"), &System::current()).unwrap_err();
    assert!(
        errors
            .to_string()
            .contains(":4: [group:g] programs: names unknown program zz"),
        "{errors}"
    );
}

#[test]
fn yaml_groups_are_checked() {
    let file = Path::new("/tmp/g.yaml");
    let ok = "groups: {g: [a, b]}\nprograms:\n  a: {cmd: /bin/true}\n  b: {cmd: /bin/true}\n";
    assert_eq!(parse_yaml(ok, file).expect("valid").groups["g"], ["a", "b"]);
    let bad = "groups:\n  a: [b]\n  g: [zz, b]\nprograms:\n  a: {cmd: /bin/true}\n  b: {cmd: /bin/true}\n";
    let text = parse_yaml(bad, file).unwrap_err().to_string();
    assert!(
        text.contains("group `a` has the name of a program"),
        "{text}"
    );
    assert!(text.contains("unknown program `zz`"), "{text}");
    assert!(
        text.contains("program `b` is already in group `a`"),
        "{text}"
    );
}

#[test]
fn two_processes_of_one_name_are_an_error() {
    let text = "[program:a]\ncommand=/bin/true\nprocess_name=x\n[program:b]\ncommand=/bin/true\nprocess_name=x\n";
    let errors = parse_ini(text, Path::new("/tmp/x.conf"), &System::current()).unwrap_err();
    assert!(
        errors
            .to_string()
            .contains(":4: [program:b]: a process named x is already defined"),
        "{errors}"
    );
}

#[test]
fn a_yaml_file_named_conf_is_told_apart() {
    let errors =
        crate::config::parse_as("programs: {}\n", Path::new("/tmp/t.conf"), None).unwrap_err();
    assert!(
        errors
            .to_string()
            .contains("`--format yaml` reads it as YAML"),
        "{errors}"
    );
}

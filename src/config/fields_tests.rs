//! Unit tests of the single-value checks, good and bad values of each.

use super::*;

fn s(text: &str) -> Node {
    Node::Str(text.to_string())
}

#[test]
fn booleans() {
    assert_eq!(boolean(&Node::Bool(true)), Ok(true));
    let err = boolean(&s("yes")).unwrap_err();
    assert_eq!(err, "found \"yes\", expected true or false");
}

#[test]
fn integers() {
    assert_eq!(integer::<u32>(&Node::Int(1), 1), Ok(1));
    assert_eq!(integer::<u32>(&Node::Int(0), 0), Ok(0));
    assert!(integer::<u32>(&Node::Int(0), 1)
        .unwrap_err()
        .contains("≥ 1"));
    assert!(integer::<u32>(&Node::Int(1 << 40), 1).is_err());
    assert!(integer::<u32>(&Node::Huge("1e40".into()), 1).is_err());
    assert!(integer::<u32>(&Node::Float(2.0), 1).is_err());
    assert!(integer::<u32>(&s("3"), 1).is_err());
}

#[test]
fn durations() {
    assert_eq!(seconds(&Node::Int(5)), Ok(Duration::from_secs(5)));
    assert_eq!(seconds(&Node::Int(0)), Ok(Duration::ZERO));
    assert_eq!(seconds(&Node::Float(0.25)), Ok(Duration::from_millis(250)));
    assert!(seconds(&Node::Int(-1)).is_err());
    assert!(seconds(&Node::Float(-0.5)).is_err());
    assert!(seconds(&Node::Float(f64::NAN)).is_err());
    assert!(seconds(&Node::Float(f64::INFINITY)).is_err());
    assert!(seconds(&Node::Float(1e300)).is_err());
    assert!(seconds(&s("5")).is_err());
}

#[test]
fn autorestart_values() {
    assert_eq!(autorestart(&s("always")), Ok(AutoRestart::Always));
    assert_eq!(autorestart(&s("never")), Ok(AutoRestart::Never));
    assert_eq!(autorestart(&s("Unexpected")), Ok(AutoRestart::Unexpected));
    assert_eq!(autorestart(&Node::Bool(true)), Ok(AutoRestart::Always));
    assert_eq!(autorestart(&Node::Bool(false)), Ok(AutoRestart::Never));
    assert_eq!(
        autorestart(&s("maybe")).unwrap_err(),
        "found \"maybe\", expected one of: always, never, unexpected (or true/false)"
    );
}

#[test]
fn exit_codes() {
    assert_eq!(exit_code(&Node::Int(0)), Ok(0));
    assert_eq!(exit_code(&Node::Int(255)), Ok(255));
    assert!(exit_code(&Node::Int(300))
        .unwrap_err()
        .contains("found 300"));
    assert!(exit_code(&Node::Int(-1)).is_err());
    assert!(exit_code(&s("0")).is_err());
}

#[test]
fn signals() {
    assert_eq!(signal(&s("TERM")), Ok(Signal::SIGTERM));
    assert_eq!(signal(&s("SIGUSR1")), Ok(Signal::SIGUSR1));
    assert_eq!(signal(&s("int")), Ok(Signal::SIGINT));
    assert_eq!(signal(&s("sigHup")), Ok(Signal::SIGHUP));
    assert_eq!(signal(&s("KILL")), Ok(Signal::SIGKILL));
    let err = signal(&s("FOO")).unwrap_err();
    assert!(
        err.starts_with("found \"FOO\", expected a signal name"),
        "{err}"
    );
    assert!(err.contains("TERM") && err.contains("USR1"), "{err}");
    assert!(signal(&s("SIG")).is_err());
    assert!(signal(&s("")).is_err());
    assert!(signal(&Node::Int(15)).is_err());
}

#[test]
fn umasks() {
    // A bare `022` reaches us as the string "022".
    assert_eq!(umask(&s("022"), None), Ok(0o22));
    assert_eq!(umask(&s("0o22"), None), Ok(0o22));
    assert_eq!(umask(&s("077"), None), Ok(0o77));
    assert_eq!(umask(&s("0777"), None), Ok(0o777));
    assert_eq!(umask(&s("000"), None), Ok(0));
    // `0o22` reaches us as the integer 18, written "0o22".
    assert_eq!(umask(&Node::Int(18), Some("0o22")), Ok(0o22));
    assert_eq!(umask(&Node::Int(0x12), Some("0x12")), Ok(0o22));
    // A decimal-looking integer is read as octal digits.
    assert_eq!(umask(&Node::Int(22), Some("22")), Ok(0o22));
    assert_eq!(umask(&Node::Int(22), None), Ok(0o22));
    assert_eq!(umask(&Node::Int(0), Some("0")), Ok(0));
    assert_eq!(umask(&Node::Int(777), Some("777")), Ok(0o777));
    for bad in ["089", "01000", "8", "", "0o", "-1", "22a", "0o1000"] {
        let err = umask(&s(bad), None).unwrap_err();
        assert!(err.contains("octal umask"), "{bad}: {err}");
    }
    assert!(umask(&Node::Int(18), Some("18")).is_err());
    assert!(umask(&Node::Int(1000), Some("1000")).is_err());
    assert!(umask(&Node::Int(0o1000), Some("0o1000")).is_err());
    assert!(umask(&Node::Int(-1), Some("-1")).is_err());
    assert!(umask(&Node::Float(2.2), None).is_err());
    assert!(umask(&Node::Bool(true), None).is_err());
}

#[test]
fn detach_keys() {
    assert_eq!(detach_key(&s("^\\")), Ok(0x1c));
    assert_eq!(detach_key(&s("^A")), Ok(0x01));
    assert_eq!(detach_key(&s("^a")), Ok(0x01));
    assert_eq!(detach_key(&s("^]")), Ok(0x1d));
    assert_eq!(detach_key(&s("^?")), Ok(0x7f));
    assert_eq!(detach_key(&s("q")), Ok(b'q'));
    assert_eq!(detach_key(&s("^")), Ok(b'^'));
    for bad in ["", "^AB", "ab", "^1", "é"] {
        assert!(detach_key(&s(bad)).is_err(), "{bad}");
    }
    assert!(detach_key(&Node::Int(28)).is_err());
}

#[test]
fn commands() {
    let (cmd, argv) = command(&s("/bin/sh -c 'echo \"hi there\"'")).unwrap();
    assert_eq!(cmd, "/bin/sh -c 'echo \"hi there\"'");
    assert_eq!(argv, ["/bin/sh", "-c", "echo \"hi there\""]);
    assert!(command(&s("echo 'unbalanced"))
        .unwrap_err()
        .contains("balanced quotes"));
    assert!(command(&s("")).unwrap_err().contains("non-empty"));
    assert!(command(&s("   ")).unwrap_err().contains("non-empty"));
    assert!(command(&Node::Null).is_err());
    assert!(command(&Node::Seq(vec![s("ls")])).is_err());
}

#[test]
fn env_values_and_names() {
    assert_eq!(env_value(&s("x")), Ok("x".to_string()));
    assert_eq!(env_value(&Node::Int(42)), Ok("42".to_string()));
    assert_eq!(env_value(&Node::Float(1.5)), Ok("1.5".to_string()));
    assert_eq!(env_value(&Node::Bool(false)), Ok("false".to_string()));
    assert!(env_value(&Node::Null).is_err());
    assert!(env_value(&Node::Map(vec![])).is_err());
    assert!(env_value(&Node::Seq(vec![])).is_err());
    assert!(env_value(&s("a\0b")).is_err());
    assert!(env_name("PATH").is_ok());
    assert!(env_name("").is_err());
    assert!(env_name("A=B").is_err());
    assert!(env_name("A\0").is_err());
}

#[test]
fn program_names() {
    assert!(program_name("web").is_ok());
    assert!(program_name("web-1.x_y").is_ok());
    assert!(program_name("").is_err());
    assert!(program_name("a:b").is_err());
    assert!(program_name("a b").is_err());
    assert!(program_name("a\tb").is_err());
    assert!(program_name("all").unwrap_err().contains("every program"));
    assert!(program_name("a\u{1b}[2J").unwrap_err().contains("control"));
    assert!(program_name("a\u{7f}").is_err());
    assert!(program_name(&"n".repeat(255)).is_ok());
    assert!(program_name(&"é".repeat(127)).is_ok());
    let long = program_name(&"n".repeat(256)).unwrap_err();
    assert!(long.contains("256 bytes long: at most 255"), "{long}");
    assert!(long.len() < 100, "{long}");
    assert!(program_name(&"é".repeat(128)).is_err());
}

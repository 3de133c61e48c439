//! `max_memory`: the sizes it takes, and the values it refuses.

use super::{program, with};
use crate::config::parse;

fn limit(field: &str) -> Option<u64> {
    program(&with(field)).policy.max_memory
}

#[test]
fn max_memory_sizes() {
    assert_eq!(limit("numprocs: 1"), None, "absent: no limit");
    assert_eq!(limit("max_memory: 512MB"), Some(512 << 20));
    assert_eq!(limit("max_memory: \"2gb\""), Some(2 << 30));
    assert_eq!(limit("max_memory: 64K"), Some(64 << 10));
    assert_eq!(limit("max_memory: 1048576"), Some(1 << 20));
    assert_eq!(limit("max_memory: 1"), Some(1));
}

#[test]
fn bad_max_memory() {
    for field in [
        "max_memory: lots",
        "max_memory: 0",
        "max_memory: 0MB",
        "max_memory: -1",
        "max_memory: 1.5GB",
        "max_memory: 10TB",
        "max_memory: ~",
        "max_memory: [1]",
    ] {
        let text = with(field);
        let errs = match parse(&text, std::path::Path::new(super::FILE)) {
            Ok(config) => panic!("no error for {field}: {config:?}"),
            Err(errors) => errors.0,
        };
        assert_eq!(errs.len(), 1, "{field}: {errs:?}");
        let e = &errs[0];
        assert_eq!(
            (e.path.as_str(), e.line),
            ("programs.p.max_memory", Some(4)),
            "{field}"
        );
        let text = e.to_string();
        assert!(
            text.contains("expected a memory size above 0")
                && text.contains("leave max_memory out for no limit"),
            "{field}: {text}"
        );
    }
}
